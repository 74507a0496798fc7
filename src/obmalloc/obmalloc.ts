/**
 * obmalloc/obmalloc.ts — the object allocator: CPython's pymalloc, in a typed array.
 *
 * Owns: size classes, pools, arenas, the usedpools lists, the usable_arenas order and the
 * arena map. Requests of 1..512 bytes are served here; 0 and larger ones go to the raw allocator
 * (as in CPython, where 0 bytes becomes a 1-byte libc request).
 *
 * Design, in CPython's terms:
 * - A request of n bytes uses size class (n - 1) >> 4: 32 classes of 16..512 bytes.
 * - A pool (16 KiB) holds blocks of one class after a 32-byte header. Free blocks form a list
 *   threaded through their first word; blocks never used yet are carved lazily at nextoffset.
 *   A block has no header: its pool is found by masking the address.
 * - usedpools[c] is a circular list of pools of class c that have a free block, with a sentinel
 *   in the heap header, so the fast path is: head pool, pop its free block, done.
 * - An arena (1 MiB of pools plus a 32-byte header before them) is one aligned raw chunk. Its
 *   free pools are a list; pools never used are carved lazily at pool_address.
 * - usable_arenas lists the arenas with a free pool, ordered by how few free pools they have, so
 *   new pools come from the fullest arena and emptier ones get a chance to become free and be
 *   returned. nfp2lasta[k] is the last arena with k free pools: reordering is O(1).
 * - The arena map tells in O(1) whether an address lies in an arena's pools: one byte pair per
 *   arena-sized slot of the address space, the pool index where an arena starts in the slot
 *   (plus one) and where one ends. An arena covers at most two slots.
 *
 * Must not: touch raw chunk headers (the raw allocator owns them) or validate sizes (families do).
 */

import {
  Size,
  Arena,
  H,
  Pool,
} from "../constants.js";
import { InvalidPointerError } from "../errors.js";
import type { Memory, Views } from "../memory/memory.js";
import type { RawAllocator } from "../raw/tlsf.js";

export class ObjectAllocator {
  u8: Uint8Array;
  u32: Uint32Array;
  readonly raw: RawAllocator;
  readonly poolShift: number;
  readonly poolSize: number;
  readonly poolMask: number;
  readonly arenaShift: number;
  readonly arenaSize: number;
  readonly poolsPerArena: number;
  /** Address of usedpools entry 0; the sentinel of class c is usedBase + 16c - 8. */
  readonly usedBase: number;
  readonly wUsable: number;
  readonly wNfp: number;
  readonly wCounters: number;
  readonly mapBase: number;
  readonly mapSlots: number;

  constructor(mem: Memory, raw: RawAllocator, heapBase: number) {
    this.u8 = mem.views.u8;
    this.u32 = mem.views.u32;
    this.raw = raw;
    const hw = heapBase >>> 2;
    const u32 = this.u32;
    this.poolShift = u32[hw + H.POOL_SHIFT];
    this.arenaShift = u32[hw + H.ARENA_SHIFT];
    this.poolSize = 1 << this.poolShift;
    this.poolMask = this.poolSize - 1;
    this.arenaSize = 2 ** this.arenaShift;
    this.poolsPerArena = 1 << (this.arenaShift - this.poolShift);
    this.usedBase = heapBase + u32[hw + H.USEDPOOLS];
    this.wUsable = hw + H.USABLE_ARENAS;
    this.wNfp = (heapBase + u32[hw + H.NFP2LASTA]) >>> 2;
    this.wCounters = hw + H.NARENAS_CURRENT;
    this.mapBase = heapBase + u32[hw + H.ARENA_MAP];
    this.mapSlots = u32[hw + H.ARENA_MAP_SLOTS];
    mem.onGrow((v: Views) => {
      this.u8 = v.u8;
      this.u32 = v.u32;
    });
  }

  /** The sentinel pseudo-pool of size class idx: its Pool.NEXT/Pool.PREV are the list head. */
  sentinel(idx: number): number {
    return this.usedBase + (idx << 4) - 8;
  }

  /** Whether p lies in the pools of one of our arenas (O(1), reads only the arena map). */
  isOurs(p: number): boolean {
    const s = p >>> this.arenaShift;
    if (s >= this.mapSlots) return false;
    const k = (p >>> this.poolShift) & (this.poolsPerArena - 1);
    const mi = this.mapBase + (s << 1);
    const st = this.u8[mi];
    return (st !== 0 && k >= st - 1) || k < this.u8[mi + 1];
  }

  // -------------------------------------------------------------------------------------------
  // Allocation
  // -------------------------------------------------------------------------------------------

  /** n: a validated uint32. Returns a block address or 0. */
  malloc(n: number): number {
    const idx = (n - 1) >>> Size.ALIGNMENT_SHIFT;
    if (idx < Size.NB_SMALL_SIZE_CLASSES) {
      const u32 = this.u32;
      const sp = this.usedBase + (idx << 4) - 8;
      const pool = u32[(sp + Pool.NEXT) >>> 2];
      if (pool !== sp) {
        const bp = u32[(pool + Pool.FREEBLOCK) >>> 2];
        u32[pool >>> 2]++;
        const nb = u32[bp >>> 2];
        u32[(pool + Pool.FREEBLOCK) >>> 2] = nb;
        if (nb === 0) this.extendPool(pool);
        return bp;
      }
      const bp = this.mallocFromNewPool(idx);
      if (bp !== 0) return bp;
      // No arena could be had: the raw allocator may still have a fitting hole.
    }
    return this.raw.malloc(n);
  }

  /** The pool's free list ran dry: carve the next never-used block, or unlink the full pool. */
  private extendPool(pool: number): void {
    const u32 = this.u32;
    const no = u32[(pool + Pool.NEXTOFFSET) >>> 2];
    if (no <= u32[(pool + Pool.MAXNEXTOFFSET) >>> 2]) {
      const b = pool + no;
      u32[(pool + Pool.FREEBLOCK) >>> 2] = b;
      u32[(pool + Pool.NEXTOFFSET) >>> 2] = no + ((u32[(pool + Pool.SZIDX) >>> 2] + 1) << Size.ALIGNMENT_SHIFT);
      u32[b >>> 2] = 0;
    } else {
      const next = u32[(pool + Pool.NEXT) >>> 2];
      const prev = u32[(pool + Pool.PREV) >>> 2];
      u32[(next + Pool.PREV) >>> 2] = prev;
      u32[(prev + Pool.NEXT) >>> 2] = next;
    }
  }

  private mallocFromNewPool(idx: number): number {
    let u32 = this.u32;
    const wN = this.wNfp;
    let ao = u32[this.wUsable];
    if (ao === 0) {
      ao = this.newArena();
      if (ao === 0) return 0;
      u32 = this.u32;
      u32[this.wUsable] = ao;
      u32[wN + this.poolsPerArena] = ao;
    }
    // Take a pool from the fullest usable arena.
    let pool = u32[(ao + Arena.FREEPOOLS) >>> 2];
    if (pool !== 0) {
      u32[(ao + Arena.FREEPOOLS) >>> 2] = u32[(pool + Pool.NEXT) >>> 2];
    } else {
      pool = u32[(ao + Arena.POOL_ADDRESS) >>> 2];
      u32[(ao + Arena.POOL_ADDRESS) >>> 2] = pool + this.poolSize;
    }
    const nf = u32[(ao + Arena.NFREEPOOLS) >>> 2];
    if (u32[wN + nf] === ao) u32[wN + nf] = 0;
    if (nf > 1) u32[wN + nf - 1] = ao;
    u32[(ao + Arena.NFREEPOOLS) >>> 2] = nf - 1;
    if (nf === 1) {
      const nx = u32[(ao + Arena.NEXT) >>> 2];
      u32[this.wUsable] = nx;
      if (nx !== 0) u32[(nx + Arena.PREV) >>> 2] = 0;
      u32[(ao + Arena.NEXT) >>> 2] = 0;
    }
    // Put the pool at the front of usedpools[idx] (the list is empty: that is why we are here).
    const sp = this.sentinel(idx);
    u32[(pool + Pool.NEXT) >>> 2] = sp;
    u32[(pool + Pool.PREV) >>> 2] = sp;
    u32[(sp + Pool.NEXT) >>> 2] = pool;
    u32[(sp + Pool.PREV) >>> 2] = pool;
    u32[(pool + Pool.COUNT) >>> 2] = 1;
    if (u32[(pool + Pool.SZIDX) >>> 2] === idx) {
      // Last used for this same class: its free list is still intact.
      const bp = u32[(pool + Pool.FREEBLOCK) >>> 2];
      const nb = u32[bp >>> 2];
      u32[(pool + Pool.FREEBLOCK) >>> 2] = nb;
      if (nb === 0) this.extendPool(pool);
      return bp;
    }
    const size = (idx + 1) << Size.ALIGNMENT_SHIFT;
    u32[(pool + Pool.SZIDX) >>> 2] = idx;
    u32[(pool + Pool.NEXTOFFSET) >>> 2] = Pool.OVERHEAD + 2 * size;
    u32[(pool + Pool.MAXNEXTOFFSET) >>> 2] = this.poolSize - size;
    const bp = pool + Pool.OVERHEAD;
    const fb = bp + size;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = fb;
    u32[fb >>> 2] = 0;
    return bp;
  }

  private newArena(): number {
    const a = this.raw.mallocAligned(Arena.OVERHEAD + this.arenaSize, this.poolSize, Arena.OVERHEAD);
    if (a === 0) return 0;
    const u32 = this.u32;
    const ppa = this.poolsPerArena;
    const first = a + Arena.OVERHEAD;
    u32[(a + Arena.NFREEPOOLS) >>> 2] = ppa;
    u32[(a + Arena.NTOTALPOOLS) >>> 2] = ppa;
    u32[(a + Arena.FREEPOOLS) >>> 2] = 0;
    u32[(a + Arena.NEXT) >>> 2] = 0;
    u32[(a + Arena.PREV) >>> 2] = 0;
    u32[(a + Arena.POOL_ADDRESS) >>> 2] = first;
    u32[(a + Arena.MAGIC) >>> 2] = Arena.MAGIC_VALUE ^ a;
    // Pool headers start blank, so a stray free into a never-used pool is recognised.
    for (let i = 0, pool = first; i < ppa; i++, pool += this.poolSize) {
      u32[(pool + Pool.COUNT) >>> 2] = 0;
      u32[(pool + Pool.SZIDX) >>> 2] = Pool.SZIDX_NONE;
      u32[(pool + Pool.ARENA) >>> 2] = a;
      u32[(pool + Pool.FREEBLOCK) >>> 2] = 0;
      u32[(pool + Pool.NEXTOFFSET) >>> 2] = 0;
    }
    this.markMap(first, true);
    const w = this.wCounters;
    u32[w]++; // current
    u32[w + 1]++; // allocated in total
    if (u32[w] > u32[w + 3]) u32[w + 3] = u32[w]; // high water
    return a;
  }

  /** Set or clear the arena map entries of the arena whose first pool is at `first`. */
  private markMap(first: number, on: boolean): void {
    const u8 = this.u8;
    const s = first >>> this.arenaShift;
    const k = (first >>> this.poolShift) & (this.poolsPerArena - 1);
    u8[this.mapBase + (s << 1)] = on ? k + 1 : 0;
    if (k !== 0) u8[this.mapBase + ((s + 1) << 1) + 1] = on ? k : 0;
  }

  // -------------------------------------------------------------------------------------------
  // Release
  // -------------------------------------------------------------------------------------------

  /** Free p, which may be ours or the raw allocator's. */
  free(p: number): void {
    if (!this.isOurs(p)) {
      this.raw.free(p);
      return;
    }
    const u32 = this.u32;
    const pool = p - (p & this.poolMask);
    const cnt = u32[pool >>> 2];
    const off = p - pool - Pool.OVERHEAD;
    if (
      cnt === 0 ||
      off < 0 ||
      p >= pool + u32[(pool + Pool.NEXTOFFSET) >>> 2] ||
      off % ((u32[(pool + Pool.SZIDX) >>> 2] + 1) << Size.ALIGNMENT_SHIFT) !== 0
    ) {
      throw this.invalid("free", p, pool);
    }
    const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
    if (fb === p) throw new InvalidPointerError("free", p, "double-free", "this block is already free (double free)");
    u32[p >>> 2] = fb;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = p;
    u32[pool >>> 2] = cnt - 1;
    if (fb === 0) this.relinkFullPool(pool);
    if (cnt === 1) this.poolEmptied(pool);
  }

  /** Why p, inside our arenas, is not a live block: the error to throw. */
  private invalid(op: string, p: number, pool: number): InvalidPointerError {
    const u32 = this.u32;
    if ((p & 15) !== 0) return new InvalidPointerError(op, p, "misaligned", "not 16-byte aligned, so not a block start");
    if (u32[pool >>> 2] === 0) return new InvalidPointerError(op, p, "not-a-block", "inside a pool that holds no blocks (never allocated, or already freed)");
    if (p - pool < Pool.OVERHEAD) return new InvalidPointerError(op, p, "internal", "inside a pool header");
    if (p >= pool + u32[(pool + Pool.NEXTOFFSET) >>> 2]) return new InvalidPointerError(op, p, "not-a-block", "never allocated");
    const size = (u32[(pool + Pool.SZIDX) >>> 2] + 1) << Size.ALIGNMENT_SHIFT;
    return new InvalidPointerError(op, p, "interior", `points inside a ${size}-byte block, not at its start`);
  }

  /** A pool that was full got a free block: put it back at the front of its usedpools list. */
  private relinkFullPool(pool: number): void {
    const u32 = this.u32;
    const sp = this.sentinel(u32[(pool + Pool.SZIDX) >>> 2]);
    const next = u32[(sp + Pool.NEXT) >>> 2];
    u32[(pool + Pool.NEXT) >>> 2] = next;
    u32[(pool + Pool.PREV) >>> 2] = sp;
    u32[(next + Pool.PREV) >>> 2] = pool;
    u32[(sp + Pool.NEXT) >>> 2] = pool;
  }

  /** The pool's last block was freed: the pool goes back to its arena. */
  private poolEmptied(pool: number): void {
    const u32 = this.u32;
    const next = u32[(pool + Pool.NEXT) >>> 2];
    const prev = u32[(pool + Pool.PREV) >>> 2];
    u32[(next + Pool.PREV) >>> 2] = prev;
    u32[(prev + Pool.NEXT) >>> 2] = next;
    const ao = u32[(pool + Pool.ARENA) >>> 2];
    u32[(pool + Pool.NEXT) >>> 2] = u32[(ao + Arena.FREEPOOLS) >>> 2];
    u32[(ao + Arena.FREEPOOLS) >>> 2] = pool;
    const wN = this.wNfp;
    const nf = u32[(ao + Arena.NFREEPOOLS) >>> 2];
    if (nf === 0) {
      // The arena was full, so not usable: it now has the fewest free pools and leads the list.
      const head = u32[this.wUsable];
      u32[(ao + Arena.NEXT) >>> 2] = head;
      u32[(ao + Arena.PREV) >>> 2] = 0;
      if (head !== 0) u32[(head + Arena.PREV) >>> 2] = ao;
      u32[this.wUsable] = ao;
      u32[(ao + Arena.NFREEPOOLS) >>> 2] = 1;
      if (u32[wN + 1] === 0) u32[wN + 1] = ao;
    } else {
      const lastnf = u32[wN + nf];
      if (lastnf === ao) {
        const pv = u32[(ao + Arena.PREV) >>> 2];
        u32[wN + nf] = pv !== 0 && u32[(pv + Arena.NFREEPOOLS) >>> 2] === nf ? pv : 0;
      }
      u32[(ao + Arena.NFREEPOOLS) >>> 2] = nf + 1;
      if (lastnf !== ao) {
        // Keep the order: move ao to just after the last arena that still has nf free pools.
        this.unlinkArena(ao);
        const nx = u32[(lastnf + Arena.NEXT) >>> 2];
        u32[(ao + Arena.PREV) >>> 2] = lastnf;
        u32[(ao + Arena.NEXT) >>> 2] = nx;
        u32[(lastnf + Arena.NEXT) >>> 2] = ao;
        if (nx !== 0) u32[(nx + Arena.PREV) >>> 2] = ao;
      }
      if (u32[wN + nf + 1] === 0) u32[wN + nf + 1] = ao;
    }
    // An entirely free arena goes back to the raw allocator, unless it is the only usable one
    // (keeping one avoids thrashing when a program hovers at an arena boundary).
    const total = u32[(ao + Arena.NTOTALPOOLS) >>> 2];
    if (u32[(ao + Arena.NFREEPOOLS) >>> 2] === total && (u32[this.wUsable] !== ao || u32[(ao + Arena.NEXT) >>> 2] !== 0)) {
      if (u32[wN + total] === ao) u32[wN + total] = 0;
      this.unlinkArena(ao);
      this.markMap(ao + Arena.OVERHEAD, false);
      u32[(ao + Arena.MAGIC) >>> 2] = 0;
      const w = this.wCounters;
      u32[w]--;
      u32[w + 2]++; // reclaimed
      this.raw.freeArena(ao);
    }
  }

  private unlinkArena(ao: number): void {
    const u32 = this.u32;
    const pv = u32[(ao + Arena.PREV) >>> 2];
    const nx = u32[(ao + Arena.NEXT) >>> 2];
    if (pv !== 0) u32[(pv + Arena.NEXT) >>> 2] = nx;
    else u32[this.wUsable] = nx;
    if (nx !== 0) u32[(nx + Arena.PREV) >>> 2] = pv;
  }

  // -------------------------------------------------------------------------------------------
  // Resize and size queries
  // -------------------------------------------------------------------------------------------

  /** The size class bytes of our block p, after checking it is a live block start. */
  private blockSize(op: string, p: number): number {
    const u32 = this.u32;
    const pool = p - (p & this.poolMask);
    const off = p - pool - Pool.OVERHEAD;
    const size = (u32[(pool + Pool.SZIDX) >>> 2] + 1) << Size.ALIGNMENT_SHIFT;
    if (u32[pool >>> 2] === 0 || off < 0 || p >= pool + u32[(pool + Pool.NEXTOFFSET) >>> 2] || off % size !== 0) {
      throw this.invalid(op, p, pool);
    }
    if (u32[(pool + Pool.FREEBLOCK) >>> 2] === p)
      throw new InvalidPointerError(op, p, "double-free", "this block is already free (use after free)");
    return size;
  }

  /** CPython's pymalloc_realloc: in place when the class still fits and shrinks by < 25%. */
  realloc(p: number, n: number): number {
    if (!this.isOurs(p)) return this.raw.realloc(p, n);
    const size = this.blockSize("realloc", p);
    let keep = size;
    if (n <= size) {
      if (4 * n > 3 * size) return p;
      keep = n;
    }
    const q = this.malloc(n);
    if (q === 0) return 0;
    this.u8.copyWithin(q, p, p + keep);
    this.free(p);
    return q;
  }

  /** Usable bytes of p, known to be a live block (no checks). */
  usableTrusted(p: number): number {
    if (!this.isOurs(p)) return this.raw.usable(p);
    return (this.u32[(p - (p & this.poolMask) + Pool.SZIDX) >>> 2] + 1) << Size.ALIGNMENT_SHIFT;
  }

  usableSize(p: number): number {
    if (!this.isOurs(p)) {
      this.raw.validate("usableSize", p);
      return this.raw.usable(p);
    }
    return this.blockSize("usableSize", p);
  }
}
