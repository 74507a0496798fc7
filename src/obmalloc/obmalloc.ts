/**
 * obmalloc/obmalloc.ts — the object allocator: CPython's pymalloc, in a typed array.
 *
 * Owns: size classes, pools, arenas, the usedpools lists, the usable_arenas order and the
 * pool map; with threads, which thread owns each pool and the lists of blocks freed into pools
 * by threads that do not own them. Requests of 1..512 bytes are served here; 0 and larger ones
 * go to the raw allocator (as in CPython, where 0 bytes becomes a 1-byte libc request).
 *
 * Design, in CPython's terms:
 * - A request of n bytes uses size class (n - 1) >> 4: 32 classes of 16..512 bytes (with the
 *   `alignment: 8` option, CPython's layout before 3.8: (n - 1) >> 3, 64 classes of 8..512).
 * - A pool (16 KiB) holds blocks of one class after a 48-byte header. Free blocks form a list
 *   threaded through their first word; blocks never used yet are carved lazily at nextoffset.
 *   A block has no header: its pool is found by masking the address.
 * - usedpools[c] is a circular list of pools of class c that have a free block, with a sentinel
 *   in the heap header, so the fast path is: head pool, pop its free block, done.
 * - An arena (8 pools, 128 KiB, by default) is one raw chunk, its payload pool-aligned and its
 *   size exactly the pools' bytes, so arenas carved one after another sit back to back with no
 *   gap. Its 32-byte header takes the tail of its last pool (which holds a block or so less). Its
 *   free pools are a list; pools never used are carved lazily at pool_address. A hole in the raw
 *   heap that holds half an arena or more takes one, with the pools that fit: like CPython's
 *   arenas, each knows its own pool count, and the memory does not grow.
 * - usable_arenas lists the arenas with a free pool, ordered by how few free pools they have, so
 *   new pools come from the fullest arena and emptier ones get a chance to become free and be
 *   returned. nfp2lasta[k] is the last arena with k free pools: reordering is O(1).
 * - The pool map tells in O(1) whether an address lies in an arena's pools: one bit per
 *   pool-sized slot of the address space, set while an arena holds that pool. One shift, one
 *   byte load: free() asks it for every pointer. The slots below 64 MiB have their bits in the
 *   header (512 bytes with 16 KiB pools); those above, in a raw chunk taken when the first arena
 *   lands past 64 MiB (31.5 KiB for a 4 GiB address space) and kept: a small heap does not carry
 *   the map of a 4 GiB address space (constants.ts, POOL_MAP_LOW_SHIFT).
 *
 * Threads (a heap made with threads: true; what CPython's pymalloc never had, in mimalloc's way):
 * - Each thread has a slot in the header with usedpools of its own, and every pool an OWNER
 *   slot. A thread allocates only from its own pools and frees into them without any lock or
 *   atomic operation: the fast paths are the same as without threads.
 * - A block freed by another thread is pushed (compare-and-swap) onto its pool's REMOTE list.
 *   The owner takes the whole list when the pool's free list runs dry. A full pool is out of
 *   usedpools, so the owner marks it Remote.FULL; the first foreign free of a FULL pool puts its
 *   block on the owner's DELAYED list instead, which the owner frees on its slow path, and
 *   that brings the pool back into usedpools. Only a foreign free clears FULL: when the owner
 *   frees into its full pool, the pool goes back into usedpools with FULL still set, and fills
 *   again with no atomic operation (a foreign free of it meanwhile just takes the DELAYED way).
 * - The heap's lock guards what threads share: arenas (taking and returning pools), the raw
 *   allocator, and the orphan slot, which holds the pools of threads that left (detach()) or
 *   died (a detach() by another thread for them). Orphan pools are adopted one by one by threads
 *   that need a pool of their class; until then frees into them take the lock.
 *
 * The subclasses a heap's options pick (8-byte classes, threads, hardened: true) and the factory
 * that picks one are in obmalloc/variants.ts.
 *
 * Must not: touch raw chunk headers (the raw allocator owns them) or validate sizes (families do).
 */

import {
  Size,
  HOLE_ARENA_SHIFT,
  ONE_POOL_ARENAS,
  HeapFlag,
  classSize,
  sizeClasses,
  usedSentinel,
  Arena,
  H,
  Pool,
  Remote,
  Slot,
  SlotState,
  SubPool,
} from "../constants.js";
import { HeapCorruptionError, InvalidPointerError, detachedError, hex } from "../errors.js";

/** A pool header word found damaged on a list edit (out of line: callers are hot). */
function brokenPool(pool: number, off: number, field: string, why: string): never {
  throw new HeapCorruptionError(pool + off, `pool ${hex(pool)}: ${why}`, field);
}

/** The free block bp of `pool` links to nb, which is no carved block of that pool (see mallocIn). */
export function badLink(bp: number, nb: number, pool: number): HeapCorruptionError {
  return new HeapCorruptionError(bp, `free block's link ${hex(nb)} is not a block of its pool ${hex(pool)} (a write into a freed block?)`, "free block link");
}
import type { Memory, Views } from "../memory/memory.js";
import type { RawAllocator } from "../raw/tlsf.js";
import type { SharedLock } from "../threads/lock.js";

export interface ObjectAllocatorOptions {
  /** This thread's slot (threads; default 0). */
  slot?: number;
  /** The heap's lock, for an allocator that takes it itself (pymalloc mode with threads). */
  lock?: SharedLock;
  /**
   * false: serve nothing from pools, only pass every call to the raw allocator (under the lock
   * when given). The raw family, and every family in "malloc" mode, use such an allocator, so
   * that all release-mode families are one class over one class: call sites stay monomorphic.
   */
  small?: boolean;
}

export class ObjectAllocator {
  u8: Uint8Array;
  u32: Uint32Array;
  i32: Int32Array;
  /** For calloc's zeroing (heap/families.ts). */
  f64: Float64Array;
  readonly memory: Memory;
  readonly raw: RawAllocator;
  readonly poolShift: number;
  readonly poolSize: number;
  readonly poolMask: number;
  readonly arenaShift: number;
  readonly arenaSize: number;
  readonly poolsPerArena: number;
  /** This thread's slot (0 without threads); pools it allocates from carry it as OWNER. */
  readonly owner: number;
  /** Address of thread slot 0. */
  readonly slotsBase: number;
  /** Slots in the header: 1 without threads, else maxThreads + 1 (the last holds orphans). */
  readonly nSlots: number;
  /** The slot of orphan pools (-1 without threads). */
  readonly orphan: number;
  /** Whether several threads share the heap (pools have owners, frees may be remote). */
  readonly threaded: boolean;
  /** Address of this slot's usedpools entry 0; the sentinel of class c is usedBase + 8c - 8. */
  readonly usedBase: number;
  /** Word index of this slot's DELAYED list head. */
  readonly wDelayed: number;
  readonly wUsable: number;
  readonly wNfp: number;
  readonly wCounters: number;
  readonly wTop: number;
  /** Word index of the sub-pool table (SubPool): free sub-pool list heads, then HELD per class. */
  readonly wSub: number;
  /** Whether young size classes take sub-pools (createHeap's subPools, HeapFlag.WHOLE_POOLS clear). */
  readonly subPools: boolean;
  /** Address of the pool map's low part (in the header: the slots below 2^POOL_MAP_LOW_SHIFT). */
  readonly mapBase: number;
  /** Bytes of the low part (0 for an allocator without small blocks: nothing is ours). */
  readonly mapBytes: number;
  /** Bytes of both parts (0 without small blocks): slot bytes from mapBytes up are the high part's. */
  readonly mapEnd: number;
  /** Word index of H.POOL_MAP_HIGH: the high part's address, 0 until an arena reaches past the low part. */
  readonly wMapHigh: number;
  /** Bytes of the low part and of both, as the header has them (mapBytes and mapEnd are 0 without small blocks; arena work uses these). */
  private readonly mapLow: number;
  private readonly mapAll: number;
  /** Small blocks are aligned to 2^alignShift bytes (4: 16 bytes, 3: 8 bytes); class c holds (c + 1) << alignShift. */
  readonly alignShift: number;
  /** Size classes served from pools (32 or 64), or 0 for an allocator that passes all to the raw one. */
  readonly nClasses: number;
  /**
   * Bytes a sub-pool needs to be used: its header and one block of the largest class. Only a
   * slot's last sub-pool can have less (the arena header sits in the tail of an arena's last
   * pool); with this much it is used like the others, its blocks ending before that header.
   */
  readonly minSubRoom: number;
  /**
   * The heap's lock, when this allocator takes it itself for shared work (pymalloc mode with
   * threads). Undefined without threads, and in the debug modes, whose families hold the lock
   * around every call already.
   */
  readonly lock: SharedLock | undefined;
  /** Whether this thread holds the lock through enter() (JS state of this thread only). */
  private holding = false;
  /** Set by detach(): this handle's slot is gone. */
  detached = false;

  constructor(mem: Memory, raw: RawAllocator, heapBase: number, opts: ObjectAllocatorOptions = {}) {
    const slot = opts.slot ?? 0;
    const lock = opts.lock;
    this.memory = mem;
    this.u8 = mem.views.u8;
    this.u32 = mem.views.u32;
    this.i32 = mem.views.i32;
    this.f64 = mem.views.f64;
    this.raw = raw;
    raw.onFull = () => this.releaseKept();
    this.lock = lock;
    const hw = heapBase >>> 2;
    const u32 = this.u32;
    this.poolShift = u32[hw + H.POOL_SHIFT];
    this.arenaShift = u32[hw + H.ARENA_SHIFT];
    this.poolSize = 1 << this.poolShift;
    this.poolMask = this.poolSize - 1;
    this.arenaSize = 2 ** this.arenaShift;
    this.poolsPerArena = 1 << (this.arenaShift - this.poolShift);
    const maxThreads = u32[hw + H.MAX_THREADS];
    this.threaded = maxThreads !== 0;
    this.nSlots = this.threaded ? maxThreads + 1 : 1;
    this.orphan = this.threaded ? maxThreads : -1;
    this.owner = slot;
    this.slotsBase = heapBase + u32[hw + H.THREAD_SLOTS];
    this.usedBase = this.usedBaseOf(slot);
    this.wDelayed = (this.slotBase(slot) + Slot.DELAYED) >>> 2;
    this.wUsable = hw + H.USABLE_ARENAS;
    this.wNfp = (heapBase + u32[hw + H.NFP2LASTA]) >>> 2;
    this.wCounters = hw + H.NARENAS_CURRENT;
    this.wTop = hw + H.TOP;
    this.wSub = (heapBase + u32[hw + H.SUBPOOLS]) >>> 2;
    this.subPools = (u32[hw + H.FLAGS] & HeapFlag.WHOLE_POOLS) === 0;
    this.mapBase = heapBase + u32[hw + H.POOL_MAP];
    // Without small blocks, no address is ours: every call goes to the raw allocator.
    const small = opts.small ?? true;
    this.mapBytes = small ? u32[hw + H.POOL_MAP_BYTES] : 0;
    this.mapLow = u32[hw + H.POOL_MAP_BYTES];
    this.mapAll = this.mapLow + u32[hw + H.POOL_MAP_HIGH_BYTES];
    this.mapEnd = small ? this.mapAll : 0;
    this.wMapHigh = hw + H.POOL_MAP_HIGH;
    this.alignShift = u32[hw + H.ALIGN_SHIFT];
    this.nClasses = small ? sizeClasses(this.alignShift) : 0;
    this.minSubRoom = Pool.OVERHEAD + classSize(sizeClasses(this.alignShift) - 1, this.alignShift);
    const take = (v: Views): void => {
      this.u8 = v.u8;
      this.u32 = v.u32;
      this.i32 = v.i32;
      this.f64 = v.f64;
    };
    // Stored a second time now: V8 takes a field stored only once for a constant, and its first
    // later store (the memory's first growth) deoptimizes every function compiled with it.
    take(mem.views);
    mem.onGrow(take);
  }

  /** Address of thread slot k. */
  slotBase(k: number): number {
    return this.slotsBase + k * Slot.BYTES;
  }

  /** Address of slot k's usedpools entry 0. */
  usedBaseOf(k: number): number {
    return this.slotBase(k) + Slot.USEDPOOLS;
  }

  /** The sentinel pseudo-pool of size class idx in this thread's usedpools. */
  sentinel(idx: number): number {
    return usedSentinel(this.usedBase, idx);
  }

  /** The sentinel pseudo-pool of size class idx in thread slot k's usedpools. */
  sentinelOf(k: number, idx: number): number {
    return usedSentinel(this.usedBaseOf(k), idx);
  }

  /** Whether p lies in the pools of one of our arenas (O(1), reads only the pool map). */
  isOurs(p: number): boolean {
    const q = p >>> this.poolShift;
    const i = q >>> 3;
    if (i < this.mapBytes) return ((this.u8[this.mapBase + i] >>> (q & 7)) & 1) !== 0;
    return i < this.mapEnd && this.isOursHigh(q);
  }

  /**
   * isOurs() of pool slot q past the low part of the map: its bit in the high part, whose address
   * is read from the header each time (with threads, another thread may have just made it and
   * grown the memory for it: views refreshed then).
   */
  private isOursHigh(q: number): boolean {
    const hi = this.u32[this.wMapHigh];
    if (hi === 0) return false;
    const at = hi + (q >>> 3) - this.mapBytes;
    if (at >= this.u8.length) this.memory.refresh();
    return ((this.u8[at] >>> (q & 7)) & 1) !== 0;
  }

  /**
   * The header of the pool (or sub-pool) that address p of our pools lies in: p masked with the
   * pool size, then, when that header says the slot is cut into sub-pools, with their size (the
   * one size SubPool.SHIFT, not the shift the word holds: a damaged word never leads out of the
   * slot; check() reports it).
   */
  poolOf(p: number): number {
    const pool = p - (p & this.poolMask);
    return (this.u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) === 0 ? pool : p - (p & ((1 << SubPool.SHIFT) - 1));
  }

  /** Bytes of the pool or sub-pool whose header is at pool. */
  poolBytes(pool: number): number {
    return (this.u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) === 0 ? this.poolSize : 1 << SubPool.SHIFT;
  }

  /**
   * The pool headers of the pool slot at slot (carved from its arena): the slot's own, or, when it
   * is cut into sub-pools, theirs, those long enough to be used (room: to the arena header `ao`).
   */
  poolsOfSlot(slot: number, ao: number): number[] {
    if ((this.u32[(slot + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) === 0) return [slot];
    const out: number[] = [];
    const step = 1 << SubPool.SHIFT;
    for (let sp = slot; sp < slot + this.poolSize && ao - sp >= this.minSubRoom; sp += step) out.push(sp);
    return out;
  }

  /**
   * The bytes of the sub-pool at pool (2^sub) up to its arena's header when that header lies in
   * it (the slot's last sub-pool of an arena's last pool); a header word pointing elsewhere
   * leaves 2^sub, so a damaged one never widens a sub-pool. Less than a block of size class
   * `size` needs: the header is damaged.
   */
  private subRoom(pool: number, sub: number, size: number): number {
    const ao = this.u32[(pool + Pool.ARENA) >>> 2];
    const room = ao > pool && ao - pool < 1 << sub ? ao - pool : 1 << sub;
    if (room < Pool.OVERHEAD + size) brokenPool(pool, Pool.ARENA, "Pool.ARENA", "its arena header leaves it no room for a block");
    return room;
  }

  // -------------------------------------------------------------------------------------------
  // The lock (threads): taken for arena work and the raw allocator, never on the fast paths
  // -------------------------------------------------------------------------------------------

  /** Take the heap's lock unless this allocator does not lock or holds it; true when taken. */
  private enter(): boolean {
    if (this.lock === undefined || this.holding) return false;
    this.lock.acquire();
    this.holding = true;
    // Another thread may have grown the memory: views must cover everything up to the top.
    if (this.u32[this.wTop] + 8 > this.u8.length) this.memory.refresh();
    return true;
  }

  private leave(took: boolean): void {
    if (took) {
      this.holding = false;
      this.lock!.release();
    }
  }

  private rawMalloc(n: number): number {
    if (this.lock === undefined) return this.raw.malloc(n);
    const took = this.enter();
    try {
      return this.raw.malloc(n);
    } finally {
      this.leave(took);
    }
  }

  protected rawFree(p: number): void {
    if (this.lock === undefined) return this.raw.free(p);
    const took = this.enter();
    try {
      this.raw.free(p);
    } finally {
      this.leave(took);
    }
  }

  /** A raw chunk for aligned_alloc's larger alignments (RawAllocator.mallocAligned). */
  mallocAligned(n: number, align: number, offset: number): number {
    if (this.lock === undefined) return this.raw.mallocAligned(n, align, offset);
    const took = this.enter();
    try {
      return this.raw.mallocAligned(n, align, offset);
    } finally {
      this.leave(took);
    }
  }

  private rawRealloc(p: number, n: number): number {
    if (this.lock === undefined) return this.raw.realloc(p, n);
    const took = this.enter();
    try {
      return this.raw.realloc(p, n);
    } finally {
      this.leave(took);
    }
  }

  /** p lies past this thread's views: another thread grew the memory. True when they now cover it. */
  private reach(p: number): boolean {
    if (!this.threaded || p < this.u8.length) return false;
    this.memory.refresh();
    return p < this.u8.length;
  }

  // -------------------------------------------------------------------------------------------
  // Allocation
  // -------------------------------------------------------------------------------------------

  /**
   * n: a validated uint32. Returns a block address or 0. This is the 16-byte heap's; the 8-byte
   * heap's is FineObjectAllocator.malloc: each passes its class to mallocIn() with a constant
   * shift, which V8 inlines. (A shift read from a field cost 4-15 more instructions an event,
   * cachegrind on json and compileall.)
   */
  malloc(n: number): number {
    return this.mallocIn(n, (n - 1) >>> Size.ALIGNMENT_SHIFT);
  }

  /** malloc(n) with n's size class idx (any uint32; idx >= nClasses goes to the raw allocator). */
  protected mallocIn(n: number, idx: number): number {
    if (idx < this.nClasses) {
      const u32 = this.u32;
      // The head word of usedpools[idx] (usedSentinel(this.usedBase, idx) + Pool.NEXT, written
      // out: the call costs 4 instructions an event); the list is empty when it holds the sentinel.
      const hp = this.usedBase + (idx << Slot.HEAD_SHIFT);
      const pool = u32[hp >>> 2];
      if (pool !== hp - Pool.NEXT) {
        // Pop the pool's first free block (a call here cost 14 more instructions a malloc+free).
        // The FREEBLOCK word's index is computed once: each repeated index costs bytecode.
        const fw = (pool + Pool.FREEBLOCK) >>> 2;
        const bp = u32[fw];
        u32[pool >>> 2]++;
        const nb = u32[bp >>> 2];
        u32[fw] = nb;
        // The popped link nb, read from a free block (where a stale pointer may have written),
        // is the next block to hand out: 0 (the list's end), or a block this pool has carved.
        // The rule, exactly: bad when
        //   ((nb - pool - Pool.OVERHEAD) >>> 0) >= NEXTOFFSET - Pool.OVERHEAD
        // (one unsigned compare: outside the pool, in its header, or never carved). Whether nb
        // is on a block boundary costs a division: hardened: true checks it (HardenedMixin).
        // The AssemblyScript fast path (wasm/obmalloc) checks both and leaves any other link
        // to this code. brokenLink() undoes the two writes above and throws HeapCorruptionError
        // naming bp. (With the division too: compileall 304 -> 329 instructions an event; this:
        // 320.) Mind this function's bytecode size (178 bytes, 187 before #16's third pass;
        // extendPool's 106 inlined into it): V8 inlines malloc into its caller only while
        // malloc with what it inlines fits the caller's remaining budget (docs/performance.md,
        // heap damage checks); a third argument to brokenLink() was enough to leave malloc out
        // of the replay loop (json 239 -> 261 instructions an event).
        if (nb === 0) this.extendPool(pool);
        else if ((nb - pool - Pool.OVERHEAD) >>> 0 >= u32[(pool + Pool.NEXTOFFSET) >>> 2] - Pool.OVERHEAD) this.brokenLink(pool, bp);
        return bp;
      }
      return this.mallocFresh(idx, n);
    }
    return this.rawMalloc(n);
  }

  /**
   * mallocIn popped bp, whose link (now the pool's FREEBLOCK) is no block of its pool: undo the
   * pop, throw. Two arguments, the link read back here: each argument of the call costs mallocIn
   * bytecode, and mallocIn's size decides whether V8 inlines malloc into its caller.
   */
  protected brokenLink(pool: number, bp: number): never {
    const u32 = this.u32;
    const nb = u32[(pool + Pool.FREEBLOCK) >>> 2];
    u32[pool >>> 2]--;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = bp;
    throw badLink(bp, nb, pool);
  }

  /**
   * usedpools[idx] is empty: poolFor() links a pool with a free block at its head, and mallocIn()
   * then pops it; else (no arena could be had) the raw allocator serves n.
   */
  private mallocFresh(idx: number, n: number): number {
    const pool = this.poolFor(idx);
    if (pool === 0) return this.rawMalloc(n);
    // poolFor() linked a pool at the head of usedpools[idx]; a damaged class word links it
    // elsewhere, and mallocIn() would come back here for ever.
    const sp = this.sentinel(idx);
    if (this.u32[(sp + Pool.NEXT) >>> 2] !== pool) throw new HeapCorruptionError(pool + Pool.SZIDX, `pool taken for size class ${idx} did not land in its usedpools`, "Pool.SZIDX");
    return this.mallocIn(n, idx);
  }

  /**
   * The pool's free list ran dry: carve the next never-used block, else unlink the full pool.
   * With threads, SharedObjectAllocator's override takes back the blocks other threads freed
   * into the pool first. (The threads tests here cost 30 bytes of bytecode: V8 inlines this into
   * mallocIn, and mallocIn's size with it decides whether malloc is inlined into its caller.)
   */
  protected extendPool(pool: number): void {
    const u32 = this.u32;
    const no = u32[(pool + Pool.NEXTOFFSET) >>> 2];
    if (no <= u32[(pool + Pool.MAXNEXTOFFSET) >>> 2]) {
      const b = pool + no;
      u32[(pool + Pool.FREEBLOCK) >>> 2] = b;
      u32[(pool + Pool.NEXTOFFSET) >>> 2] = no + u32[(pool + Pool.SIZE) >>> 2];
      u32[b >>> 2] = 0;
      return;
    }
    this.unlinkPool(pool);
  }

  /**
   * With threads, a pool about to leave usedpools full: mark it FULL, so that a foreign free then
   * reaches us through DELAYED. FULL may still be set from the last time the pool filled (only a
   * foreign free clears it): then it says so already, with no atomic operation (~140
   * instructions each in V8). True when blocks freed by others arrived in between and were taken
   * instead (the pool is not full after all). Its own function: heaps without threads never call
   * it, so V8 leaves it out of their inlined fast paths.
   */
  protected markFull(pool: number): boolean {
    const w = (pool + Pool.REMOTE) >>> 2;
    if (this.u32[w] === Remote.FULL || Atomics.compareExchange(this.i32, w, 0, Remote.FULL) === 0) return false;
    this.takeRemote(pool);
    return true;
  }

  protected unlinkPool(pool: number): void {
    const u32 = this.u32;
    const next = u32[(pool + Pool.NEXT) >>> 2];
    const prev = u32[(pool + Pool.PREV) >>> 2];
    // Both neighbours must link back (a pool or a sentinel): never write through a damaged link.
    if (u32[(next + Pool.PREV) >>> 2] !== pool || u32[(prev + Pool.NEXT) >>> 2] !== pool) brokenPool(pool, Pool.NEXT, "Pool.NEXT", "its usedpools links do not come back to it");
    u32[(next + Pool.PREV) >>> 2] = prev;
    u32[(prev + Pool.NEXT) >>> 2] = next;
  }

  /** Put pool at the front of its class's list in the usedpools at usedBase. */
  protected linkPool(pool: number, usedBase: number): void {
    const u32 = this.u32;
    const idx = u32[(pool + Pool.SZIDX) >>> 2];
    if (idx >= this.nClasses) brokenPool(pool, Pool.SZIDX, "Pool.SZIDX", "its size class is none of the heap's");
    const sp = usedSentinel(usedBase, idx);
    const next = u32[(sp + Pool.NEXT) >>> 2];
    u32[(pool + Pool.NEXT) >>> 2] = next;
    u32[(pool + Pool.PREV) >>> 2] = sp;
    u32[(next + Pool.PREV) >>> 2] = pool;
    u32[(sp + Pool.NEXT) >>> 2] = pool;
  }

  /**
   * free() of a heap with sub-pools (variants.ts): pool was full until a block was just freed
   * into it, and rejoins its class's list. A whole pool at the front, as in CPython; a sub-pool
   * second, behind the head pool (unless the head is the class's empty spare), so that malloc
   * goes on with the head while the sub-pool gathers frees, instead of filling again with the
   * next malloc and leaving the list at once (json: 78,000 such round trips a replay in one
   * class whose young sub-pools hold long-lived blocks). The empty spare stays at the tail.
   */
  protected linkFreed(pool: number): void {
    const u32 = this.u32;
    const idx = u32[(pool + Pool.SZIDX) >>> 2];
    if (idx >= this.nClasses) brokenPool(pool, Pool.SZIDX, "Pool.SZIDX", "its size class is none of the heap's");
    const sp = usedSentinel(this.usedBase, idx);
    let prev = sp;
    const head = u32[(sp + Pool.NEXT) >>> 2];
    if ((u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) !== 0 && head !== sp && u32[head >>> 2] !== 0) prev = head;
    this.linkAfter(pool, prev);
  }

  /**
   * Free() of a heap with sub-pools emptied pool. A sub-pool stays listed, at the tail, as its
   * class's spare, unless an empty one is there already (then false: it goes back), so that a
   * class whose few blocks come and go (one or two 400-byte blocks at a time) does not give a
   * sub-pool back and cut one again for every block (json: 8,800 a replay in one class). At most
   * one empty pool of a class is listed, at the tail, as the WebAssembly fast path keeps one
   * (check() requires it; collect() gives it back).
   */
  private keepSpare(pool: number): boolean {
    const u32 = this.u32;
    if ((u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) === 0) return false;
    const idx = u32[(pool + Pool.SZIDX) >>> 2];
    if (idx >= this.nClasses || this.subShift(idx) === 0) return false;
    const sp = usedSentinel(this.usedBase, idx);
    const tail = u32[(sp + Pool.PREV) >>> 2];
    if (tail === pool) return true;
    if (u32[tail >>> 2] === 0) return false;
    this.unlinkPool(pool);
    this.linkAfter(pool, tail);
    return true;
  }

  /** Put pool into a usedpools list right after `after` (a pool or the sentinel), whose link is checked first. */
  private linkAfter(pool: number, after: number): void {
    const u32 = this.u32;
    const next = u32[(after + Pool.NEXT) >>> 2];
    if (u32[(next + Pool.PREV) >>> 2] !== after) brokenPool(after, Pool.NEXT, "Pool.NEXT", "its usedpools links do not come back to it");
    u32[(pool + Pool.NEXT) >>> 2] = next;
    u32[(pool + Pool.PREV) >>> 2] = after;
    u32[(next + Pool.PREV) >>> 2] = pool;
    u32[(after + Pool.NEXT) >>> 2] = pool;
  }

  /**
   * usedpools[idx] of this thread is empty: a pool for it, linked in, with a free block; 0 when
   * no arena can be had. With threads, blocks freed into our full pools come back first, then an
   * orphan pool of the class is adopted, and only then is a pool taken from an arena.
   */
  private poolFor(idx: number): number {
    if (this.threaded) {
      if (this.detached) throw detachedError();
      if (this.u32[this.wDelayed] !== 0) {
        this.takeDelayed();
        const sp = this.sentinel(idx);
        const pool = this.u32[(sp + Pool.NEXT) >>> 2];
        if (pool !== sp) return pool;
      }
    }
    const took = this.enter();
    try {
      if (this.threaded) {
        const pool = this.adoptPool(idx);
        if (pool !== 0) return pool;
      }
      const sub = this.subShift(idx);
      return sub === 0 ? this.poolFromArena(idx) : this.subPoolFor(idx, sub);
    } finally {
      this.leave(took);
    }
  }

  /** Take a pool from the fullest usable arena for class idx (shared state: under the lock). */
  private poolFromArena(idx: number): number {
    const pool = this.takeSlot(idx);
    if (pool === 0) return 0;
    const u32 = this.u32;
    u32[(pool + Pool.OWNER) >>> 2] = this.owner;
    u32[(pool + Pool.REMOTE) >>> 2] = 0;
    if (u32[(pool + Pool.SZIDX) >>> 2] !== idx) {
      // Last used for another class (or never): start it afresh, one block on the free list.
      // The arena's last pool ends where the arena header starts.
      const ao = u32[(pool + Pool.ARENA) >>> 2];
      this.startPool(pool, idx, Math.min(this.poolSize, ao - pool));
    } // else: last used for this same class, its free list is still intact.
    this.held(idx, this.poolSize);
    // usedpools[idx] is empty (that is why we are here): the pool becomes the whole list.
    this.linkPool(pool, this.usedBase);
    return pool;
  }

  /** Make pool (room bytes) a pool of class idx with one block on its free list, the rest uncarved. */
  private startPool(pool: number, idx: number, room: number): void {
    const u32 = this.u32;
    const size = classSize(idx, this.alignShift);
    u32[(pool + Pool.SZIDX) >>> 2] = idx;
    u32[(pool + Pool.SIZE) >>> 2] = size;
    u32[(pool + Pool.NEXTOFFSET) >>> 2] = Pool.OVERHEAD + size;
    u32[(pool + Pool.MAXNEXTOFFSET) >>> 2] = room - size;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = pool + Pool.OVERHEAD;
    u32[(pool + Pool.OVERHEAD) >>> 2] = 0;
  }

  /** The size shift of the next pool class idx takes: SubPool.SHIFT while the class is young, else 0 (a whole pool). */
  private subShift(idx: number): number {
    return this.subPools && this.u32[this.wSub + (SubPool.PEAK >>> 2) + idx] < this.poolSize ? SubPool.SHIFT : 0;
  }

  /**
   * A sub-pool of 2^sub bytes for class idx, linked in as its class's only pool (under the lock):
   * a free one of that size, else a pool slot cut into sub-pools. 0 when no arena can be had.
   */
  private subPoolFor(idx: number, sub: number): number {
    let u32 = this.u32;
    const wHead = this.wSub + (SubPool.FREE >>> 2);
    let pool = u32[wHead];
    if (pool === 0 && this.returnSpares(sub)) pool = u32[wHead];
    if (pool !== 0) {
      if (!this.isOurs(pool) || (pool & ((1 << sub) - 1)) !== 0 || (u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) !== sub || u32[pool >>> 2] !== 0 || u32[(pool + Pool.SZIDX) >>> 2] !== Pool.SZIDX_NONE)
        throw new HeapCorruptionError(wHead * 4, `free sub-pool list holds ${hex(pool)}, no free sub-pool of ${1 << sub} bytes`, "free sub-pool list");
      this.unlinkFreeSub(pool);
      u32[(this.slotOf(pool) + Pool.SUB) >>> 2] += 1 << SubPool.USED_SHIFT;
    } else {
      const slot = this.takeSlot(Pool.SZIDX_NONE);
      if (slot === 0) return 0;
      u32 = this.u32; // a new arena may have grown the memory
      const ao = u32[(slot + Pool.ARENA) >>> 2];
      // Cut the slot: every sub-pool blank, the first one in use, the others listed as free
      // (the last one of an arena's last pool ends at the arena header: used too when that
      // leaves room for a block of every class, minSubRoom; else it stays blank and unused).
      pool = slot;
      for (let sp = slot, step = 1 << sub; sp < slot + this.poolSize; sp += step) {
        this.blankPool(sp, ao, sub);
        if (sp !== slot && ao - sp >= this.minSubRoom) this.linkFreeSub(sp, wHead);
      }
      u32[(slot + Pool.SUB) >>> 2] = sub | (1 << SubPool.USED_SHIFT);
    }
    u32[(pool + Pool.OWNER) >>> 2] = this.owner;
    u32[(pool + Pool.REMOTE) >>> 2] = 0;
    this.startPool(pool, idx, this.subRoom(pool, sub, classSize(idx, this.alignShift)));
    this.held(idx, 1 << sub);
    this.linkPool(pool, this.usedBase);
    return pool;
  }

  /**
   * No free sub-pool: the young classes' empty spares (keepSpare) go onto the free list before a
   * slot is cut, so that the spares cost no memory when it runs short. All of them at once: the
   * WebAssembly fast path takes sub-pools from that list but never a spare, and one spare taken
   * at a time left it empty, so that every young class's next sub-pool came through JS. True
   * when the list holds a sub-pool now.
   */
  private returnSpares(sub: number): boolean {
    const u32 = this.u32;
    for (let k = 0; k < this.nClasses; k++) {
      const sp = this.sentinel(k);
      const tail = u32[(sp + Pool.PREV) >>> 2];
      if (tail !== sp && u32[tail >>> 2] === 0 && (u32[(tail + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) === sub) this.returnPool(tail, false);
    }
    return u32[this.wSub + (SubPool.FREE >>> 2)] !== 0;
  }

  /** Class idx took a pool or sub-pool of `bytes`: what it holds (SubPool.HELD), and its peak. */
  private held(idx: number, bytes: number): void {
    const u32 = this.u32;
    const w = this.wSub + (SubPool.HELD >>> 2) + idx;
    const held = (u32[w] += bytes);
    const wp = this.wSub + (SubPool.PEAK >>> 2) + idx;
    if (held > u32[wp]) u32[wp] = held;
  }

  /**
   * Write a blank header at pool (a pool, or a sub-pool of 2^sub bytes; sub 0: a whole pool) of the
   * arena whose header is ao: no class, no blocks, nothing carved (every free into it fails the
   * carved-range test), no owner. newArena's pools, a slot cut into sub-pools, a slot given back.
   */
  private blankPool(pool: number, ao: number, sub: number): void {
    const u32 = this.u32;
    u32[(pool + Pool.COUNT) >>> 2] = 0;
    u32[(pool + Pool.SZIDX) >>> 2] = Pool.SZIDX_NONE;
    u32[(pool + Pool.ARENA) >>> 2] = ao;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = 0;
    u32[(pool + Pool.NEXTOFFSET) >>> 2] = Pool.OVERHEAD;
    u32[(pool + Pool.OWNER) >>> 2] = 0;
    u32[(pool + Pool.REMOTE) >>> 2] = 0;
    u32[(pool + Pool.SUB) >>> 2] = sub;
  }

  /** The pool slot that the pool or sub-pool at pool lies in. */
  private slotOf(pool: number): number {
    return pool - (pool & this.poolMask);
  }

  /** Put the free sub-pool sp at the head of the free list whose head word is wHead. */
  private linkFreeSub(sp: number, wHead: number): void {
    const u32 = this.u32;
    const head = u32[wHead];
    u32[(sp + Pool.NEXT) >>> 2] = head;
    u32[(sp + Pool.PREV) >>> 2] = 0;
    if (head !== 0) u32[(head + Pool.PREV) >>> 2] = sp;
    u32[wHead] = sp;
  }

  /** Take the free sub-pool sp off its free list (links checked: never write through a damaged one). */
  private unlinkFreeSub(sp: number): void {
    const u32 = this.u32;
    const wHead = this.wSub + (SubPool.FREE >>> 2);
    const next = u32[(sp + Pool.NEXT) >>> 2];
    const prev = u32[(sp + Pool.PREV) >>> 2];
    if ((prev === 0 ? u32[wHead] : u32[(prev + Pool.NEXT) >>> 2]) !== sp || (next !== 0 && u32[(next + Pool.PREV) >>> 2] !== sp))
      brokenPool(sp, Pool.NEXT, "Pool.NEXT", "its free sub-pool list links do not come back to it");
    if (prev === 0) u32[wHead] = next;
    else u32[(prev + Pool.NEXT) >>> 2] = next;
    if (next !== 0) u32[(next + Pool.PREV) >>> 2] = prev;
  }

  /**
   * Take a pool slot from the fullest usable arena (a new arena when none): its address, its
   * header words as they were (a free pool keeps its class and free list: idx, the class it is
   * for, says whether that list is checked for reuse), or 0 when no arena can be had.
   */
  private takeSlot(idx: number): number {
    let u32 = this.u32;
    const wN = this.wNfp;
    let ao = u32[this.wUsable];
    if (ao === 0) {
      ao = this.newArena();
      if (ao === 0) return 0;
      u32 = this.u32;
      u32[this.wUsable] = ao;
      u32[wN + u32[(ao + Arena.NFREEPOOLS) >>> 2]] = ao;
    }
    this.arenaOf(0, ao, this.wUsable * 4, "H.USABLE_ARENAS");
    let pool = u32[(ao + Arena.FREEPOOLS) >>> 2];
    if (pool !== 0) {
      // A free pool of this arena, empty; if it keeps a free list of this class, that list's head.
      if ((pool & this.poolMask) !== 0 || !this.isOurs(pool) || u32[(pool + Pool.ARENA) >>> 2] !== ao || u32[pool >>> 2] !== 0 || u32[(pool + Pool.SUB) >>> 2] !== 0)
        throw new HeapCorruptionError(ao + Arena.FREEPOOLS, `arena's free-pool list holds ${hex(pool)}, no free pool of it`, "Arena.FREEPOOLS");
      if (idx < this.nClasses && u32[(pool + Pool.SZIDX) >>> 2] === idx) this.checkKeptList(pool, idx, ao);
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
    return pool;
  }

  /**
   * ao, read from the word at `at` (field `what`) of pool (0: none), when it is an arena header
   * (its magic says so, and it is that pool's arena); else HeapCorruptionError.
   */
  private arenaOf(pool: number, ao: number, at: number, what: string): number {
    if (this.u32[(ao + Arena.MAGIC) >>> 2] !== ((Arena.MAGIC_VALUE ^ ao) >>> 0) || (pool !== 0 && (pool < this.u32[(ao + Arena.FIRST) >>> 2] || pool >= ao)))
      throw new HeapCorruptionError(at, `${hex(ao)} is no arena header${pool !== 0 ? ` of pool ${hex(pool)}` : ""}`, what);
    return ao;
  }

  /**
   * A free pool about to be reused for class idx with the free list it kept: its header must
   * be that of such a pool (size words, next offset) and its list head a carved block (the rest
   * is checked as blocks are popped: mallocIn).
   */
  private checkKeptList(pool: number, idx: number, ao: number): void {
    const u32 = this.u32;
    const size = classSize(idx, this.alignShift);
    const no = u32[(pool + Pool.NEXTOFFSET) >>> 2];
    const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
    const off = fb - pool - Pool.OVERHEAD;
    if (
      u32[(pool + Pool.SIZE) >>> 2] !== size ||
      u32[(pool + Pool.MAXNEXTOFFSET) >>> 2] !== Math.min(this.poolSize, ao - pool) - size ||
      no < Pool.OVERHEAD + size ||
      no > u32[(pool + Pool.MAXNEXTOFFSET) >>> 2] + size ||
      (no - Pool.OVERHEAD) % size !== 0 ||
      off < 0 ||
      fb >= pool + no ||
      off % size !== 0
    )
      throw new HeapCorruptionError(pool, `free pool ${hex(pool)} of class ${idx} has a damaged header or list head`, "Pool.FREEBLOCK");
  }

  /** The header of the arena whose first pool (its raw chunk's payload) is at first. */
  arenaHeader(first: number): number {
    return first + this.raw.usable(first) - Arena.OVERHEAD;
  }

  private newArena(): number {
    // From a hole in the raw heap, if one holds half an arena's pools at least; else from the top.
    // Arenas come by demand: the first ONE_POOL_ARENAS hold one pool each, the next two, then
    // four..., up to poolsPerArena (a small heap's top stays near what it uses). By the
    // high-water mark of arenas, not the count: a heap that shrank takes whole arenas again, not
    // small ones that come and go as its pools do. (subPools: false: whole arenas from the first.)
    const ppa0 = this.poolsPerArena;
    const hw = this.u32[this.wCounters + 3];
    const top = !this.subPools ? ppa0 : hw < ONE_POOL_ARENAS ? 1 : Math.min(ppa0, 2 ** Math.min(30, hw - ONE_POOL_ARENAS + 1));
    const first = this.raw.mallocArena(Math.max(1, Math.min(top, ppa0 >>> HOLE_ARENA_SHIFT)), ppa0, top, this.poolSize);
    if (first === 0) return 0;
    const ppa = this.raw.arenaPools;
    // Past the map's low part: its high part first (taken once, never given back).
    if (((first >>> this.poolShift) + ppa - 1) >>> 3 >= this.mapLow && this.u32[this.wMapHigh] === 0 && !this.makeMapHigh()) {
      this.raw.freeArena(first);
      return 0;
    }
    const u32 = this.u32;
    const a = this.arenaHeader(first);
    u32[(a + Arena.NFREEPOOLS) >>> 2] = ppa;
    u32[(a + Arena.NTOTALPOOLS) >>> 2] = ppa;
    u32[(a + Arena.FREEPOOLS) >>> 2] = 0;
    u32[(a + Arena.NEXT) >>> 2] = 0;
    u32[(a + Arena.PREV) >>> 2] = 0;
    u32[(a + Arena.POOL_ADDRESS) >>> 2] = first;
    u32[(a + Arena.MAGIC) >>> 2] = Arena.MAGIC_VALUE ^ a;
    u32[(a + Arena.FIRST) >>> 2] = first;
    // Pool headers start blank, so a stray free into a never-used pool is recognised.
    for (let i = 0, pool = first; i < ppa; i++, pool += this.poolSize) this.blankPool(pool, a, 0);
    this.markMap(first, ppa, true);
    const w = this.wCounters;
    u32[w]++; // current
    u32[w + 1]++; // allocated in total
    if (u32[w] > u32[w + 3]) u32[w + 3] = u32[w]; // high water
    return a;
  }

  /**
   * The pool map's high part, for an arena past its low part: a raw chunk flagged as the object
   * allocator's (the raw allocator's free() refuses it), zeroed, its address in H.POOL_MAP_HIGH
   * (written last: with threads, others read it without the lock). False when memory is short.
   */
  private makeMapHigh(): boolean {
    const bytes = this.mapAll - this.mapLow;
    const hi = bytes === 0 ? 0 : this.raw.mallocInternal(bytes);
    if (hi === 0) return false;
    this.u32[this.wMapHigh] = hi;
    return true;
  }

  /** Set or clear the pool map bits of the arena of `pools` pools whose first pool is at `first`. */
  private markMap(first: number, pools: number, on: boolean): void {
    const u8 = this.u8;
    const q0 = first >>> this.poolShift;
    const high = this.u32[this.wMapHigh];
    if ((q0 + pools - 1) >>> 3 >= this.mapLow && (high === 0 || high + this.mapAll - this.mapLow > this.u8.length))
      throw new HeapCorruptionError(this.wMapHigh * 4, `an arena lies past the pool map's low part, and its high part is at ${hex(high)}`, "H.POOL_MAP_HIGH");
    const hi = high - this.mapLow;
    for (let q = q0; q < q0 + pools; q++) {
      const i = (q >>> 3 < this.mapLow ? this.mapBase : hi) + (q >>> 3);
      u8[i] = on ? u8[i] | (1 << (q & 7)) : u8[i] & ~(1 << (q & 7));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Release
  // -------------------------------------------------------------------------------------------

  /** Free p, which may be ours or the raw allocator's. */
  free(p: number): void {
    if (!this.isOurs(p)) {
      this.rawFree(p);
      return;
    }
    const u32 = this.u32;
    const pool = p - (p & this.poolMask);
    // The count, size, next offset and owner are read `| 0`: V8 then takes the word as an int32
    // as it is, where a plain read of a Uint32Array checks that it fits one (two instructions a
    // read). They are small in any valid pool; a damaged word over 2^31 reads negative and fails
    // the same tests (freeSlow reads them again). Addresses (FREEBLOCK) stay unsigned.
    const cnt = u32[pool >>> 2] | 0;
    const off = p - pool - Pool.OVERHEAD;
    // A block start: a whole number of blocks from the first. A float division: V8's integer
    // remainder with a variable divisor costs several times the instructions.
    const nth = off / (u32[(pool + Pool.SIZE) >>> 2] | 0);
    const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
    // Everything but a valid block of our own pool that is not its last freed block goes to
    // freeSlow() (one call: the rare branches' bytecode out of this function, which V8 inlines
    // into its callers within a budget; docs/performance.md).
    if (cnt === 0 || off < 0 || p >= pool + (u32[(pool + Pool.NEXTOFFSET) >>> 2] | 0) || (nth | 0) !== nth || fb === p || (u32[(pool + Pool.OWNER) >>> 2] | 0) !== this.owner)
      return this.freeSlow(p, pool);
    u32[p >>> 2] = fb;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = p;
    u32[pool >>> 2] = cnt - 1;
    if (fb === 0) this.linkPool(pool, this.usedBase); // it was full: back into usedpools (FULL stays set)
    if (cnt === 1) this.poolEmptied(pool);
  }

  /**
   * free(p) of a pointer in our arenas that is not a block of this thread's own pool, or is its
   * pool's last freed block: another thread's memory (reach), an invalid pointer, a block of a
   * pool another thread owns (freeForeign), a double free. The checks in free()'s order. (A
   * heap with sub-pools frees through variants.ts's subPooled free(), which finds a block's
   * sub-pool itself and passes that here; docs/performance.md, sub-pools and V8, has why a
   * freeSlow() that freed into sub-pools cost every event.)
   */
  protected freeSlow(p: number, pool: number): void {
    const u32 = this.u32;
    const off = p - pool - Pool.OVERHEAD;
    const nth = off / u32[(pool + Pool.SIZE) >>> 2];
    if (u32[pool >>> 2] === 0 || off < 0 || p >= pool + u32[(pool + Pool.NEXTOFFSET) >>> 2] || (nth | 0) !== nth) {
      if (this.reach(p)) return this.free(p);
      throw this.invalid("free", p, pool);
    }
    if (u32[(pool + Pool.OWNER) >>> 2] !== this.owner) return this.freeForeign(p, pool);
    throw new InvalidPointerError("free", p, "double-free", "this block is already free (double free)");
  }

  /** Why p, inside our arenas, is not a live block: the error to throw. */
  private invalid(op: string, p: number, pool: number): InvalidPointerError {
    const u32 = this.u32;
    if ((p & ((1 << this.alignShift) - 1)) !== 0)
      return new InvalidPointerError(op, p, "misaligned", `not ${1 << this.alignShift}-byte aligned, so not a block start`);
    if (u32[pool >>> 2] === 0) return new InvalidPointerError(op, p, "not-a-block", "inside a pool that holds no blocks (never allocated, or already freed)");
    if (p - pool < Pool.OVERHEAD) return new InvalidPointerError(op, p, "internal", "inside a pool header");
    if (p >= pool + u32[(pool + Pool.NEXTOFFSET) >>> 2]) return new InvalidPointerError(op, p, "not-a-block", "never allocated");
    const size = u32[(pool + Pool.SIZE) >>> 2];
    return new InvalidPointerError(op, p, "interior", `points inside a ${size}-byte block, not at its start`);
  }

  /**
   * The pool's last block was freed: the pool goes back to its arena (under the lock). Heaps
   * with threads keep a thread's only pool of a class instead: SharedObjectAllocator. (Calling
   * a helper from here, one call deeper, cost minidom 24 instructions an event: V8 inlines this
   * into free, and free into the replay loop, within a budget.)
   */
  protected poolEmptied(pool: number): void {
    // Without a lock, no enter()/leave() here: V8 inlined them (79 + 21 bytes) with this into
    // the replay loop, whose budget then had no room left for the view getter (heap.u8), called
    // at every event instead (docs/performance.md, 2026-12-02 #16 third pass).
    if (this.lock === undefined) this.returnPool(pool, true);
    else this.returnPoolLocked(pool);
  }

  /** poolEmptied() of an allocator that takes the heap's lock itself. */
  private returnPoolLocked(pool: number): void {
    const took = this.enter();
    try {
      this.returnPool(pool, true);
    } finally {
      this.leave(took);
    }
  }

  /**
   * Give the empty pool (or sub-pool) back: to its arena, or onto the free sub-pool list (its
   * slot back to the arena when it was the slot's last in use). spare: free() emptied it, and a
   * sub-pool may stay listed as its class's spare instead (keepSpare).
   */
  private returnPool(pool: number, spare: boolean): void {
    if (spare && this.subPools && this.keepSpare(pool)) return;
    const u32 = this.u32;
    this.unlinkPool(pool);
    // What its class holds (SubPool.HELD) shrinks by the pool's bytes.
    const idx = u32[(pool + Pool.SZIDX) >>> 2];
    if (idx < this.nClasses) {
      const wHeld = this.wSub + (SubPool.HELD >>> 2) + idx;
      const bytes = this.poolBytes(pool);
      u32[wHeld] = u32[wHeld] > bytes ? u32[wHeld] - bytes : 0;
    }
    const sub = u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK;
    if (sub !== 0) {
      if (!this.freeSubPool(pool, sub)) return;
      pool = this.slotOf(pool); // the slot's last sub-pool in use: the slot goes back as a pool
    }
    const ao = this.arenaOf(pool, u32[(pool + Pool.ARENA) >>> 2], pool + Pool.ARENA, "Pool.ARENA");
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
    // (keeping one avoids thrashing when a program hovers at an arena boundary), or it is a
    // one-pool arena that free() emptied: those of a small heap (ONE_POOL_ARENAS pools at most)
    // stay until collect(), or a heap hovering at a pool boundary would give back and take an
    // arena for every pool (binary trees on the WebAssembly fast path: a call into JS each).
    const total = u32[(ao + Arena.NTOTALPOOLS) >>> 2];
    if (u32[(ao + Arena.NFREEPOOLS) >>> 2] === total && (total > 1 || !spare)) this.releaseArena(ao);
  }

  /** Give the entirely free arena ao back to the raw allocator, unless it is the only usable one. */
  private releaseArena(ao: number): void {
    const u32 = this.u32;
    if (u32[this.wUsable] === ao && u32[(ao + Arena.NEXT) >>> 2] === 0) return;
    const total = u32[(ao + Arena.NTOTALPOOLS) >>> 2];
    const wN = this.wNfp;
    if (u32[wN + total] === ao) u32[wN + total] = 0;
    this.unlinkArena(ao);
    const first = u32[(ao + Arena.FIRST) >>> 2];
    this.markMap(first, total, false);
    u32[(ao + Arena.MAGIC) >>> 2] = 0;
    const w = this.wCounters;
    u32[w]--;
    u32[w + 2]++; // reclaimed
    this.raw.freeArena(first);
  }

  /**
   * The raw allocator's top cannot grow (raw.onFull, under the caller's lock): the young
   * classes' spare sub-pools of this thread and every entirely free arena but one go back, so
   * that what free() keeps against churn never makes a request fail. True when an arena went back.
   */
  private releaseKept(): boolean {
    const reclaimed = this.u32[this.wCounters + 2];
    if (this.subPools) this.returnSpares(SubPool.SHIFT);
    this.releaseFreeArenas();
    return this.u32[this.wCounters + 2] !== reclaimed;
  }

  /** Every entirely free arena back to the raw allocator (collect(): the one-pool arenas free() kept), but one. */
  private releaseFreeArenas(): void {
    const u32 = this.u32;
    // Bounded by the arena count: a damaged list that loops is reported, not followed for ever.
    let left = u32[this.wCounters] + 1;
    for (let ao = u32[this.wUsable]; ao !== 0; ) {
      if (left-- === 0) throw new HeapCorruptionError(this.wUsable * 4, "the usable arena list is longer than the heap's arena count", "H.USABLE_ARENAS");
      this.arenaOf(0, ao, this.wUsable * 4, "H.USABLE_ARENAS");
      const next = u32[(ao + Arena.NEXT) >>> 2];
      if (u32[(ao + Arena.NFREEPOOLS) >>> 2] === u32[(ao + Arena.NTOTALPOOLS) >>> 2]) this.releaseArena(ao);
      ao = next;
    }
  }

  /**
   * The empty sub-pool at pool (2^sub bytes) is free: onto its free list, unless it was the last
   * of its slot in use; then the slot's other sub-pools leave the list, the slot's header is
   * blank (a pool of no class) and true says the slot goes back to its arena.
   */
  private freeSubPool(pool: number, sub: number): boolean {
    const u32 = this.u32;
    u32[(pool + Pool.SZIDX) >>> 2] = Pool.SZIDX_NONE;
    const slot = this.slotOf(pool);
    const word = u32[(slot + Pool.SUB) >>> 2];
    const used = word >>> SubPool.USED_SHIFT;
    if ((word & SubPool.SHIFT_MASK) !== sub || used === 0) brokenPool(slot, Pool.SUB, "Pool.SUB", "its sub-pool word does not match the sub-pool freed in it");
    if (used > 1) {
      u32[(slot + Pool.SUB) >>> 2] = word - (1 << SubPool.USED_SHIFT);
      this.linkFreeSub(pool, this.wSub + (SubPool.FREE >>> 2));
      return false;
    }
    const ao = u32[(pool + Pool.ARENA) >>> 2];
    for (const sp of this.poolsOfSlot(slot, ao)) if (sp !== pool) this.unlinkFreeSub(sp);
    this.blankPool(slot, ao, 0);
    return true;
  }

  private unlinkArena(ao: number): void {
    const u32 = this.u32;
    const pv = u32[(ao + Arena.PREV) >>> 2];
    const nx = u32[(ao + Arena.NEXT) >>> 2];
    if ((pv !== 0 ? u32[(pv + Arena.NEXT) >>> 2] : u32[this.wUsable]) !== ao || (nx !== 0 && u32[(nx + Arena.PREV) >>> 2] !== ao))
      throw new HeapCorruptionError(ao + Arena.NEXT, `usable_arenas links of arena ${hex(ao)} do not come back to it`, "Arena.NEXT");
    if (pv !== 0) u32[(pv + Arena.NEXT) >>> 2] = nx;
    else u32[this.wUsable] = nx;
    if (nx !== 0) u32[(nx + Arena.PREV) >>> 2] = pv;
  }

  // -------------------------------------------------------------------------------------------
  // Threads: frees into pools of other threads, their collection, orphans
  // -------------------------------------------------------------------------------------------

  /** p is a valid-looking block of a pool this thread does not own. */
  private freeForeign(p: number, pool: number): void {
    if (this.detached) throw detachedError();
    const i32 = this.i32;
    for (;;) {
      const owner = Atomics.load(i32, (pool + Pool.OWNER) >>> 2);
      if (owner === this.owner) return this.free(p); // adopted by this thread meanwhile
      if (owner !== this.orphan) return this.pushRemote(p, pool, owner);
      if (this.freeOrphan(p, pool)) return;
      // adopted by another thread while we waited for the lock: free to it instead
    }
  }

  /** Push p onto its pool's REMOTE list (or, if the owner marked the pool FULL, its DELAYED list). */
  private pushRemote(p: number, pool: number, owner: number): void {
    const i32 = this.i32;
    const u32 = this.u32;
    const w = (pool + Pool.REMOTE) >>> 2;
    for (;;) {
      const old = Atomics.load(i32, w);
      if (old === Remote.FULL) {
        if (Atomics.compareExchange(i32, w, Remote.FULL, 0) === Remote.FULL) {
          this.pushDelayed(p, owner);
          return;
        }
        continue;
      }
      u32[p >>> 2] = old >>> 0;
      if (Atomics.compareExchange(i32, w, old, p | 0) === old) return;
    }
  }

  private pushDelayed(p: number, owner: number): void {
    const i32 = this.i32;
    const w = (this.slotBase(owner) + Slot.DELAYED) >>> 2;
    for (;;) {
      const old = Atomics.load(i32, w);
      this.u32[p >>> 2] = old >>> 0;
      if (Atomics.compareExchange(i32, w, old, p | 0) === old) break;
    }
    // The owner may have left meanwhile: orphanSlot drains the list before and after it marks
    // the slot free, so a block pushed after both finds the slot free here, and this thread
    // frees what is on the list (into orphan pools by then). Without this, a block could wait
    // on the list of a slot nobody uses (until a new thread takes the slot).
    if (Atomics.load(i32, (this.slotBase(owner) + Slot.STATE) >>> 2) !== SlotState.LIVE) this.takeDelayed(w);
  }

  /** Free p into an orphan pool, under the lock; false when the pool was adopted meanwhile. */
  private freeOrphan(p: number, pool: number): boolean {
    const took = this.enter();
    try {
      if (Atomics.load(this.i32, (pool + Pool.OWNER) >>> 2) !== this.orphan) return false;
      this.absorbRemote(pool, this.usedBaseOf(this.orphan));
      const u32 = this.u32;
      const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
      if (fb === p) throw new InvalidPointerError("free", p, "double-free", "this block is already free (double free)");
      const cnt = u32[pool >>> 2];
      u32[p >>> 2] = fb;
      u32[(pool + Pool.FREEBLOCK) >>> 2] = p;
      u32[pool >>> 2] = cnt - 1;
      if (fb === 0) this.linkPool(pool, this.usedBaseOf(this.orphan));
      if (cnt === 1) this.returnPool(pool, false);
      return true;
    } finally {
      this.leave(took);
    }
  }

  /**
   * Move the pool's REMOTE blocks onto its free list (the caller owns the pool); a list head
   * never carries FULL, so taking one leaves REMOTE 0. FULL alone is left as it is.
   * Returns how many blocks came back.
   */
  protected takeRemote(pool: number): number {
    const w = (pool + Pool.REMOTE) >>> 2;
    // A plain read first: V8's Atomics on a shared buffer cost hundreds of instructions, and this
    // runs whenever a free list runs dry. A stale 0 only defers the blocks to a later call. No
    // list (0 or FULL alone): nothing to take, and FULL stays as it is.
    if ((this.u32[w] >>> 1) === 0) return 0;
    const head = (Atomics.exchange(this.i32, w, 0) & ~Remote.FULL) >>> 0;
    if (head === 0) return 0;
    const u32 = this.u32;
    // Links written by other threads into freed blocks: each a carved block of this pool, and no
    // more of them than the pool counts in use (a cycle or a stray write ends in an error).
    const cnt = u32[pool >>> 2];
    if (!this.isBlockOf(pool, head)) throw new HeapCorruptionError(pool + Pool.REMOTE, `remote-free list head ${hex(head)} is no block of pool ${hex(pool)}`, "Pool.REMOTE");
    let n = 1;
    let last = head;
    for (let b = u32[last >>> 2]; b !== 0; b = u32[b >>> 2]) {
      if (!this.isBlockOf(pool, b) || n >= cnt) throw new HeapCorruptionError(last, `remote-free link ${hex(b)} is no block of pool ${hex(pool)}, or the list is longer than its blocks in use`, "free block link");
      last = b;
      n++;
    }
    u32[last >>> 2] = u32[(pool + Pool.FREEBLOCK) >>> 2];
    u32[(pool + Pool.FREEBLOCK) >>> 2] = head;
    u32[pool >>> 2] -= n;
    return n;
  }

  /** Whether b is a carved block start of pool (mallocIn's rule for a popped link). */
  protected isBlockOf(pool: number, b: number): boolean {
    const u32 = this.u32;
    const off = b - pool - Pool.OVERHEAD;
    const nth = off / u32[(pool + Pool.SIZE) >>> 2];
    return off >= 0 && b < pool + u32[(pool + Pool.NEXTOFFSET) >>> 2] && (nth | 0) === nth;
  }

  /** takeRemote, for a pool that may be full and out of the usedpools at usedBase: relinks it. */
  private absorbRemote(pool: number, usedBase: number): void {
    const wasFull = this.u32[(pool + Pool.FREEBLOCK) >>> 2] === 0;
    if (this.takeRemote(pool) !== 0 && wasFull) this.linkPool(pool, usedBase);
  }

  /**
   * Free the blocks other threads freed into the full pools of a thread (this one by default:
   * that relinks them; orphanSlot(): a thread that left, whose pools are orphans by then).
   */
  private takeDelayed(wDelayed = this.wDelayed): void {
    let b = Atomics.exchange(this.i32, wDelayed, 0) >>> 0;
    while (b !== 0) {
      const next = this.u32[b >>> 2];
      this.free(b);
      b = next;
    }
  }

  /** Adopt an orphan pool of class idx into this thread's usedpools (under the lock), or 0. */
  private adoptPool(idx: number): number {
    const u32 = this.u32;
    const osp = this.sentinelOf(this.orphan, idx);
    const pool = u32[(osp + Pool.NEXT) >>> 2];
    if (pool === osp) return 0;
    this.unlinkPool(pool);
    Atomics.store(this.i32, (pool + Pool.OWNER) >>> 2, this.owner);
    this.takeRemote(pool);
    this.linkPool(pool, this.usedBase);
    return pool;
  }

  /**
   * Take back every block other threads freed into this thread's pools, and return the pools
   * that are empty (those emptied by such blocks, and the last pools of their classes that this
   * thread kept: poolEmptied). The owner's own housekeeping (also done lazily on its slow paths).
   * Without threads: the empty pools the WebAssembly fast path kept (wasm/obmalloc/obmalloc.ts)
   * and the young classes' spare sub-pools (keepSpare). Then every entirely free arena but one
   * goes back to the raw allocator (the one-pool arenas free() keeps: returnPool).
   */
  collect(): void {
    if (!this.threaded) {
      this.returnEmptyPools(this.owner);
      return this.releaseFreeArenas();
    }
    if (this.detached) throw detachedError();
    this.takeDelayed();
    const took = this.enter();
    try {
      this.returnEmptyPools(this.owner);
      this.releaseFreeArenas();
    } finally {
      this.leave(took);
    }
  }

  /**
   * Every pool in thread slot k's usedpools (k: this thread, or one that left): take back the
   * blocks others freed into it, and give it back to its arena if it is empty (emptied so, or
   * kept as the last of its class: SharedObjectAllocator). Under the lock.
   */
  private returnEmptyPools(k: number): void {
    for (let idx = 0; idx < this.nClasses; idx++) {
      const sp = this.sentinelOf(k, idx);
      for (let pool = this.u32[(sp + Pool.NEXT) >>> 2]; pool !== sp; ) {
        const next = this.u32[(pool + Pool.NEXT) >>> 2];
        this.takeRemote(pool);
        if (this.u32[pool >>> 2] === 0) this.returnPool(pool, false);
        pool = next;
      }
    }
  }

  /**
   * Hand every pool of thread slot k to the orphan slot and free slot k (under the lock). k is
   * this thread's slot (detachThread) or the slot of a thread that died without detaching:
   * that thread must not run any more. Blocks freed into its pools by others are taken back,
   * pools left empty go back to their arenas, the rest wait for adoption.
   */
  orphanSlot(k: number): void {
    if (!this.threaded) return;
    if (k < 0 || k >= this.orphan || !Number.isInteger(k)) throw new RangeError(`thread id must be an integer from 0 to ${this.orphan - 1}, got ${k}`);
    const took = this.enter();
    try {
      const i32 = this.i32;
      const sw = (this.slotBase(k) + Slot.STATE) >>> 2;
      if (Atomics.load(i32, sw) !== SlotState.LIVE) throw new RangeError(`thread ${k} is not attached to this heap`);
      // The empty pools k kept as the last of their classes: back to their arenas.
      this.returnEmptyPools(k);
      const orphans = this.usedBaseOf(this.orphan);
      for (const first of this.raw.arenas()) {
        const ao = this.arenaHeader(first);
        const end = this.u32[(ao + Arena.POOL_ADDRESS) >>> 2];
        for (let slot = first; slot < end; slot += this.poolSize) for (const pool of this.poolsOfSlot(slot, ao)) {
          const u32 = this.u32;
          if (u32[pool >>> 2] === 0 || u32[(pool + Pool.OWNER) >>> 2] !== k) continue;
          Atomics.store(i32, (pool + Pool.OWNER) >>> 2, this.orphan);
          if (u32[(pool + Pool.FREEBLOCK) >>> 2] !== 0) this.unlinkPool(pool);
          this.takeRemote(pool);
          // No FULL on an orphan: a thread that read the old owner then pushes onto REMOTE
          // (taken with the pool) instead of onto the delayed list of a slot that is gone.
          Atomics.compareExchange(i32, (pool + Pool.REMOTE) >>> 2, Remote.FULL, 0);
          if (u32[(pool + Pool.FREEBLOCK) >>> 2] !== 0 || u32[pool >>> 2] === 0) this.linkPool(pool, orphans);
          if (u32[pool >>> 2] === 0) this.returnPool(pool, false);
        }
      }
      // Blocks others freed into k's full pools: their pools are orphans now, freed as such;
      // again once the slot is marked free, for a push that raced with it (pushDelayed).
      const wk = (this.slotBase(k) + Slot.DELAYED) >>> 2;
      this.takeDelayed(wk);
      Atomics.store(i32, sw, SlotState.FREE);
      this.takeDelayed(wk);
      if (k === this.owner) this.detached = true;
    } finally {
      this.leave(took);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Resize and size queries
  // -------------------------------------------------------------------------------------------

  /**
   * The size class bytes of our block p when it is a live block start (as far as the pool can
   * tell: not its first free block), else 0 (blockSize() then says why).
   */
  private liveSize(p: number): number {
    const u32 = this.u32;
    const pool = this.poolOf(p);
    const off = p - pool - Pool.OVERHEAD;
    const size = u32[(pool + Pool.SIZE) >>> 2];
    const nth = off / size; // not a remainder: see free()
    if (u32[pool >>> 2] === 0 || off < 0 || p >= pool + u32[(pool + Pool.NEXTOFFSET) >>> 2] || (nth | 0) !== nth) return 0;
    return u32[(pool + Pool.FREEBLOCK) >>> 2] === p ? 0 : size;
  }

  /** The size class bytes of our block p, after checking it is a live block start. */
  private blockSize(op: string, p: number): number {
    const size = this.liveSize(p);
    if (size !== 0) return size;
    if (this.reach(p)) return this.blockSize(op, p);
    const pool = this.poolOf(p);
    if (this.u32[(pool + Pool.FREEBLOCK) >>> 2] === p && this.u32[pool >>> 2] !== 0)
      throw new InvalidPointerError(op, p, "double-free", "this block is already free (use after free)");
    throw this.invalid(op, p, pool);
  }

  /** CPython's pymalloc_realloc: in place when the class still fits and shrinks by < 25%. */
  realloc(p: number, n: number): number {
    if (!this.isOurs(p)) return this.rawRealloc(p, n);
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
    return this.u32[(this.poolOf(p) + Pool.SIZE) >>> 2];
  }

  /** Usable bytes of p when it is a live block, else 0 (usableSize() then says why). No throw, no lock. */
  liveUsable(p: number): number {
    if (!this.isOurs(p)) return this.raw.liveUsable(p);
    return p + 4 > this.u8.length ? 0 : this.liveSize(p);
  }

  usableSize(p: number): number {
    if (!this.isOurs(p)) {
      this.raw.validate("usableSize", p);
      return this.raw.usable(p);
    }
    return this.blockSize("usableSize", p);
  }
}
