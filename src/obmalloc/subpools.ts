/**
 * obmalloc/subpools.ts — sub-pools: the 1 KiB pools that young size classes take (subPools: true).
 *
 * Owns: when a class takes a sub-pool instead of a whole pool (subShift: by what it ever held,
 * SubPool.PEAK, and holds, SubPool.HELD: held; takeShift and takeStranded: an old class's),
 * cutting a pool slot into sub-pools and the free sub-pool list (subPoolFor, linkFreeSub,
 * unlinkFreeSub, freeSubPool), the young classes' spare sub-pools (keepSpare, returnSpares),
 * finding a block's pool or sub-pool (poolOf, poolBytes, poolsOfSlot, slotOf), and an empty pool
 * or sub-pool leaving its class (leaveClass: checked first, checkEmptied; what its class holds,
 * the free sub-pool list; the first part of ArenaAllocator.returnPool). Before any of that, the
 * raw start (createHeap's rawFirst; RawStart in constants.ts): whether a class that never took a
 * pool is served raw (rawYoung), and the counts of the object allocator's small raw chunks by
 * size (rawCame, rawWent), which obmalloc.ts's raw calls keep.
 *
 * Must not: touch the arenas' lists or the pool map (obmalloc/arenas.ts), a pool's blocks
 * (obmalloc.ts), or read Pool.SUB on malloc's or free's fast path (variants.ts's subPooled
 * free() is the one place a free reads it; docs/performance.md, sub-pools and V8).
 */

import { classSize, usedSentinel, sizeOf, Arena, FreeBlock, Pool, RawStart, Size, SubPool } from "../constants.js";
import { chunkSizeFor } from "../raw/lists.js";
import { HeapCorruptionError, hex } from "../errors.js";
import { ArenaAllocator } from "./arenas.js";

/**
 * A pool header word found damaged on a list edit (out of line). Declared here and in
 * obmalloc.ts, not imported: an imported function costs each call site 3 bytes of bytecode (a
 * hole check), and obmalloc.ts's callers are in what V8 inlines into free()'s callers.
 */
function brokenPool(pool: number, off: number, field: string, why: string): never {
  throw new HeapCorruptionError(pool + off, `pool ${hex(pool)}: ${why}`, field);
}

/** The object allocator's second layer: sub-pools (over ArenaAllocator's arenas). */
export abstract class SubPoolAllocator extends ArenaAllocator {
  // -------------------------------------------------------------------------------------------
  // A block's pool or sub-pool
  // -------------------------------------------------------------------------------------------

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

  /**
   * Bytes of the pool or sub-pool whose header is at pool. A header off its slot's start is a
   * sub-pool's whatever its Pool.SUB says (whole pools start their slots): a sub-pool's word
   * written to a shift of 0 made it a 16 KiB pool, carved and checked over its neighbours.
   */
  poolBytes(pool: number): number {
    // this.poolSize read whatever the pool: read only for a whole pool, its load had no type
    // feedback in a young heap that had carved sub-pools alone, and extendPool (carveEnd inlines
    // this) deoptimized at its first whole pool, compiled again (~3 ms a cold process; session 50).
    const whole = this.poolSize;
    return (pool & this.poolMask) === 0 && (this.u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) === 0 ? whole : 1 << SubPool.SHIFT;
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
  // Taking a sub-pool
  // -------------------------------------------------------------------------------------------

  /** The size shift of the next pool class idx takes: SubPool.SHIFT while the class is young (the most it held under its SubPool.LIMIT), else 0 (a whole pool). */
  protected subShift(idx: number): number {
    return this.subPools && this.u32[this.wSub + (SubPool.PEAK >>> 2) + idx] < this.u32[this.wSub + (SubPool.LIMIT >>> 2) + idx] ? SubPool.SHIFT : 0;
  }

  /**
   * The size shift of the pool class idx takes next: a sub-pool while it is young (subShift); old,
   * a free sub-pool when no usable arena has a pool (the heap would take a new arena; the
   * WebAssembly fast path leaves that to JS) and enough are stranded (takeStranded).
   */
  protected takeShift(idx: number): number {
    const sub = this.subShift(idx);
    return sub !== 0 || this.u32[this.wUsable] !== 0 || !this.subPools ? sub : this.takeStranded(idx);
  }

  /**
   * An old class idx, before a new arena: a free sub-pool (SubPool.SHIFT) when it holds a pool's
   * bytes or more (not one that churned in a few KiB), its blocks are of 64 bytes or more (a
   * sub-pool of 15 or fewer: not one of the busy small classes, whose blocks in sub-pools cost
   * free()'s slow path; compileall's 48-byte class took 1,178 of them, +1.8% instructions an
   * event) and the free sub-pool list holds two slots' worth, stranded in slots that other
   * sub-pools hold (SubPool in constants.ts); else 0. Called before a new arena only: the walk
   * of at most 32 list entries costs nothing an event shows.
   */
  private takeStranded(idx: number): number {
    const u32 = this.u32;
    const w = this.wSub;
    if (u32[w + (SubPool.HELD >>> 2) + idx] < this.poolSize || classSize(idx, this.alignShift) < 1 << (SubPool.SHIFT - 4)) return 0;
    const stranded = this.poolSize >>> (SubPool.SHIFT - 1); // two slots' sub-pools
    let n = 0;
    for (let sp = u32[w + (SubPool.FREE >>> 2)]; sp !== 0 && n < stranded; sp = u32[(sp + Pool.NEXT) >>> 2]) n++;
    return n === stranded ? SubPool.SHIFT : 0;
  }

  // -------------------------------------------------------------------------------------------
  // The raw start (RawStart in constants.ts)
  // -------------------------------------------------------------------------------------------

  /**
   * Whether malloc(n) of class idx, whose usedpools is empty, goes to the raw allocator: the
   * class never took a pool (SubPool.PEAK 0) and the raw chunks of n's size are below both
   * limits. (Read without the lock with threads: a count a moment old only moves the switch.)
   */
  protected rawYoung(idx: number, n: number): boolean {
    const u32 = this.u32;
    const w = this.wSub;
    if (u32[w + (SubPool.PEAK >>> 2) + idx] !== 0) return false;
    const b = chunkSizeFor(n) >>> 4;
    return u32[w + (SubPool.RAW_LIVE >>> 2) + b] < u32[w + (SubPool.RAW_FIRST >>> 2)] && u32[w + (SubPool.RAW_EVER >>> 2) + b] < u32[w + (SubPool.RAW_EVER_LIMIT >>> 2)];
  }

  /** The raw chunk whose payload is p (0: none) was handed out: counted by its size, `ever` (0 or 1) added to its ever count. Returns p. */
  protected rawCame(p: number, ever: number): number {
    if (p === 0) return 0;
    const u32 = this.u32;
    const b = sizeOf(u32[(p - 4) >>> 2]) >>> 4;
    if (b < RawStart.BUCKETS) {
      u32[this.wSub + (SubPool.RAW_LIVE >>> 2) + b]++;
      const we = this.wSub + (SubPool.RAW_EVER >>> 2) + b;
      if (u32[we] < u32[this.wSub + (SubPool.RAW_EVER_LIMIT >>> 2)]) u32[we] += ever;
    }
    return p;
  }

  /** A raw chunk whose size word was sw went back: its size's live count, never below 0. */
  protected rawWent(sw: number): void {
    const b = sizeOf(sw | 0) >>> 4;
    if (b > 0 && b < RawStart.BUCKETS) {
      const w = this.wSub + (SubPool.RAW_LIVE >>> 2) + b;
      if (this.u32[w] > 0) this.u32[w]--;
    }
  }

  /**
   * A sub-pool of 2^sub bytes for class idx, linked in as its class's only pool (under the lock):
   * a free one of that size, else a pool slot cut into sub-pools. 0 when no arena can be had.
   */
  protected subPoolFor(idx: number, sub: number): number {
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
      const slot = this.takeSlot(Size.MAX_SIZE_CLASSES); // no class, as a Smi (takeSlot's idx)
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
    u32[(pool + Pool.OWNER) >>> 2] = this.ownerWord;
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
  protected returnSpares(sub: number): boolean {
    const u32 = this.u32;
    for (let k = 0; k < this.nClasses; k++) {
      const sp = this.sentinel(k);
      const tail = u32[(sp + Pool.PREV) >>> 2];
      if (tail !== sp && u32[tail >>> 2] === 0 && (u32[(tail + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) === sub) this.returnPool(tail, false);
    }
    return u32[this.wSub + (SubPool.FREE >>> 2)] !== 0;
  }

  /**
   * The sub-pool at pool filled (its last block handed out), on a heap without threads (their
   * extendPool is SharedObjectAllocator's): its class's fills counted, and a class that churns
   * (SubPool in constants.ts: FILL_FLOOR fills, FILL_RATIO_SHIFT) is young no more: its PEAK
   * raised to its LIMIT. The WebAssembly fast path's unlinkFull counts the same.
   */
  protected subPoolFilled(pool: number): void {
    if (this.rawStart) return; // its counts are where FILLS lies (SubPool in constants.ts)
    const u32 = this.u32;
    const idx = u32[(pool + Pool.SZIDX) >>> 2];
    if (idx >= this.nClasses) return; // unlinkPool has checked the links; a class word is check()'s
    // A 16-bit count a class (FILLS: two a word, the even class's in the low half), at most 0xffff.
    const wSub = this.wSub;
    const wf = wSub + (SubPool.FILLS >>> 2) + (idx >>> 1);
    const sh = (idx & 1) << 4;
    const word = u32[wf];
    const fills = ((word >>> sh) & 0xffff) + 1;
    if (fills > 0xffff) return;
    u32[wf] = ((word & ~(0xffff << sh)) | (fills << sh)) >>> 0;
    // Every load, compare and the store run at every fill, the raise being a choice of value:
    // a branch first taken at fill FILL_FLOOR, after TurboFan compiled this (inlined into
    // extendPool), had no type feedback and deoptimized it in every process that got that far
    // (difflib_small, compileall's first 400,000 events: docs/performance.md, session 50).
    const wp = wSub + (SubPool.PEAK >>> 2) + idx;
    const peak = u32[wp];
    const limit = u32[wSub + (SubPool.LIMIT >>> 2) + idx];
    const low = fills < SubPool.FILL_FLOOR;
    const slow = fills >>> SubPool.FILL_RATIO_SHIFT < peak >>> SubPool.SHIFT;
    const above = peak >= limit;
    u32[wp] = low || slow || above ? peak : limit;
  }

  /** Class idx took a pool or sub-pool of `bytes`: what it holds (SubPool.HELD), and its peak. */
  protected held(idx: number, bytes: number): void {
    const u32 = this.u32;
    const w = this.wSub + (SubPool.HELD >>> 2) + idx;
    const held = (u32[w] += bytes);
    const wp = this.wSub + (SubPool.PEAK >>> 2) + idx;
    if (held > u32[wp]) u32[wp] = held;
  }

  /** The pool slot that the pool or sub-pool at pool lies in. */
  private slotOf(pool: number): number {
    return pool - (pool & this.poolMask);
  }

  /**
   * Whether the free sub-pool list's head is one linkFreeSub may not write through (its PREV): it
   * must be a free sub-pool at the list's head, as subPoolFor checks one it takes. Unchecked, a
   * head a stray write set to a live block's address, or to 0xfffffff4, had this sub-pool's
   * address written into that block or below the heap (a helper's damage scan, 2026-12-06).
   */
  private badFreeSubHead(head: number): boolean {
    const u32 = this.u32;
    return head !== 0 && (!this.isOurs(head) || (head & ((1 << SubPool.SHIFT) - 1)) !== 0 || u32[(head + Pool.PREV) >>> 2] !== 0 || u32[head >>> 2] !== 0 || u32[(head + Pool.SZIDX) >>> 2] !== Pool.SZIDX_NONE);
  }

  private badFreeSubList(wHead: number): HeapCorruptionError {
    return new HeapCorruptionError(wHead * 4, `free sub-pool list holds ${hex(this.u32[wHead])}, no free sub-pool at the list's head (a write over the heap header?)`, "free sub-pool list");
  }

  /** Put the free sub-pool sp at the head of the free list whose head word is wHead. */
  private linkFreeSub(sp: number, wHead: number): void {
    const u32 = this.u32;
    const head = u32[wHead];
    if (this.badFreeSubHead(head)) throw this.badFreeSubList(wHead);
    u32[(sp + Pool.NEXT) >>> 2] = head;
    u32[(sp + Pool.PREV) >>> 2] = 0;
    if (head !== 0) u32[(head + Pool.PREV) >>> 2] = sp;
    u32[wHead] = sp;
  }

  /**
   * What the sub-pool table and the slots count, counted anew from the pools themselves, for a
   * heap whose lock a dead thread held (adoptThread, after check() found fault): the bytes each
   * class holds (SubPool.HELD, its PEAK raised to it), each cut slot's sub-pools in use, and the
   * free sub-pool list, made again of the free sub-pools. A thread stopped between a sub-pool's
   * taking and these counts left them off by one; one stopped between a pool's taking and its
   * start left a pool of no class off its arena's free list (started, then given back to it).
   * Called under the lock; check() judges after.
   */
  recount(): void {
    this.releaseUnmade();
    this.relinkArenas();
    const u32 = this.u32;
    const held = new Array<number>(this.nClasses).fill(0);
    const wHead = this.wSub + (SubPool.FREE >>> 2);
    let tail = 0;
    u32[wHead] = 0;
    const taken: number[] = [];
    for (const first of this.raw.arenas()) {
      const ao = this.arenaHeader(first);
      const end = u32[(ao + Arena.POOL_ADDRESS) >>> 2];
      // The arena's free pools (its list, at most its pool count long).
      const free = new Set<number>();
      for (let fp = u32[(ao + Arena.FREEPOOLS) >>> 2], n = u32[(ao + Arena.NTOTALPOOLS) >>> 2]; fp !== 0 && n > 0; fp = u32[(fp + Pool.NEXT) >>> 2], n--) free.add(fp);
      for (let slot = first; slot < end; slot += this.poolSize) {
        const sub = u32[(slot + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK;
        if (sub === 0) {
          const idx = u32[(slot + Pool.SZIDX) >>> 2];
          if (idx < this.nClasses) held[idx] += this.poolBytes(slot);
          // Of no class, yet off its arena's free list: taken by a thread that died before it
          // started the pool (poolFromArena) or cut it into sub-pools. Started below.
          else if (idx === Pool.SZIDX_NONE && u32[slot >>> 2] === 0 && !free.has(slot)) taken.push(slot);
          continue;
        }
        // A slot being cut (subPoolFor: blankPool() and linkFreeSub() for each sub-pool, a call
        // each, then the slot's count of 1 in use, then its first sub-pool started) by a thread
        // that died before the count (none counted: those not blanked yet hold stale words), or
        // before the start (none of a class); or being given back (freeSubPool: its last
        // sub-pool of no class, the others unlinked one call each, then the slot blank). A cut
        // slot never stays with none of a class (its last sub-pool's free gives it back, a spare
        // keeps its class). No sub-pool of it holds a block: it becomes a whole pool of no
        // class, off its arena's free list, as one taken and never started, given back below.
        let cutting = true;
        if (u32[(slot + Pool.SUB) >>> 2] >>> SubPool.USED_SHIFT !== 0) {
          for (let sp = slot; sp < slot + this.poolSize; sp += 1 << sub) {
            if (u32[(sp + Pool.SZIDX) >>> 2] !== Pool.SZIDX_NONE) {
              cutting = false;
              break;
            }
          }
        }
        if (cutting) {
          this.blankPool(slot, ao, 0);
          if (!free.has(slot)) taken.push(slot);
          continue;
        }
        let inUse = 0;
        for (let sp = slot; sp < slot + this.poolSize; sp += 1 << sub) {
          const idx = u32[(sp + Pool.SZIDX) >>> 2];
          if (idx < this.nClasses) {
            inUse++;
            held[idx] += this.poolBytes(sp);
          } else if (ao - sp >= this.minSubRoom) {
            // Free: onto the list's end (PREV the one before, NEXT 0).
            u32[(sp + Pool.PREV) >>> 2] = tail;
            u32[(sp + Pool.NEXT) >>> 2] = 0;
            if (tail === 0) u32[wHead] = sp;
            else u32[(tail + Pool.NEXT) >>> 2] = sp;
            tail = sp;
          }
        }
        u32[(slot + Pool.SUB) >>> 2] = sub | (inUse << SubPool.USED_SHIFT);
      }
    }
    for (let i = 0; i < this.nClasses; i++) {
      u32[this.wSub + (SubPool.HELD >>> 2) + i] = held[i];
      const wp = this.wSub + (SubPool.PEAK >>> 2) + i;
      if (u32[wp] < held[i]) u32[wp] = held[i];
    }
    // Each such pool started as an empty pool of class 0 in the orphan slot's usedpools, then
    // given back to its arena as any emptied pool is (returnPool keeps the arena order).
    for (const pool of taken) {
      const ao = u32[(pool + Pool.ARENA) >>> 2];
      u32[(pool + Pool.OWNER) >>> 2] = this.orphanWord;
      u32[(pool + Pool.REMOTE) >>> 2] = 0;
      this.startPool(pool, 0, Math.min(this.poolSize, ao - pool));
      this.linkPool(pool, this.usedBaseOf(this.orphan));
      u32[this.wSub + (SubPool.HELD >>> 2)] += this.poolBytes(pool);
      this.returnPool(pool, false);
    }
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

  // -------------------------------------------------------------------------------------------
  // Giving a pool or sub-pool back
  // -------------------------------------------------------------------------------------------

  /**
   * Free() of a heap with sub-pools emptied pool. A sub-pool stays listed, at the tail, as its
   * class's spare, unless an empty one is there already (then false: it goes back), so that a
   * class whose few blocks come and go (one or two 400-byte blocks at a time) does not give a
   * sub-pool back and cut one again for every block (json: 8,800 a replay in one class). At most
   * one empty pool of a class is listed, at the tail, as the WebAssembly fast path keeps one
   * (check() requires it; collect() gives it back, and so does the raw allocator running full,
   * or its top growing: releaseKept, SubPool.KEPT). A whole pool goes back: kept as the fast path
   * keeps it, such spares held arenas that raw requests would have reused (compileall's footprint
   * 1.067 -> 1.092x live). Keeping it and giving it back before the top grows was measured in
   * session 52 (a class hovering at one block: 127 -> 29 ns a malloc + free) and not kept: a kept
   * pool is checked (checkEmptied) when it leaves, not at the free that empties it, and seven
   * damage tests lost their report at that free.
   */
  private keepSpare(pool: number): boolean {
    const u32 = this.u32;
    if ((u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) === 0) return false;
    const idx = u32[(pool + Pool.SZIDX) >>> 2];
    if (idx >= this.nClasses || this.subShift(idx) === 0) return false;
    const sp = usedSentinel(this.usedBase, idx);
    const tail = u32[(sp + Pool.PREV) >>> 2];
    if (tail !== pool) {
      if (u32[tail >>> 2] === 0) return false;
      this.unlinkPool(pool);
      this.linkAfter(pool, tail);
    }
    // Alone in its slot, it holds the slot between raw blocks.
    if (u32[(pool - (pool & this.poolMask) + Pool.SUB) >>> 2] >>> SubPool.USED_SHIFT === 1) this.markKept();
    return true;
  }

  /**
   * A sub-pool kept may hold its slot alone (SubPool.KEPT_FRESH, the bit KEPT_WHOLE kept): the top's
   * growths give it back (obmalloc/arenas.ts releaseBeforeTop). Heaps without threads.
   */
  private markKept(): void {
    if (this.threaded) return;
    const kw = this.wSub + (SubPool.KEPT >>> 2);
    this.u32[kw] = (this.u32[kw] & SubPool.KEPT_WHOLE) | SubPool.KEPT_FRESH;
  }

  /**
   * A pool whose count came down to 0, before it is given back: its offsets agree with its
   * bytes (next offset within one block past the last, MAXNEXTOFFSET, that within the pool or
   * sub-pool), and every block it carved is free. free() trusts NEXTOFFSET as the end of a
   * pool's blocks: raised by a stray write, it takes a later sub-pool's blocks for the slot's
   * first sub-pool's; and a COUNT lowered by one (an overflow of the block before the pool's
   * header lands on it), or a block freed twice, empties the pool while a block of it is live.
   * Either way the pool's blocks would be handed out again over live ones. Checked when the pool
   * leaves its class (leaveClass), not when it stays as its class's spare: kept, it hands out
   * only blocks of its free list, and is checked when it leaves.
   *
   * Free means: the block holds the free tag (FreeBlock: every push writes it, every pop clears
   * it) and its link is 0 or inside the pool's carved blocks. The blocks are read in address
   * order, not along the free list: the pool leaves with its list discarded (carved afresh when
   * taken again), so only whether a block is live matters, and loads in address order do not
   * wait for each other, where the list's order chained a cache miss a step (the walk was 13-15%
   * of imports' and minidom's replay time: docs/performance.md). What this cannot tell from a
   * free block: a live block whose first two words hold a link of the pool and the tag (the
   * documented gap "data that holds the tag").
   */
  protected checkEmptied(pool: number): void {
    const u32 = this.u32;
    const size = this.sizeOfPool(pool);
    if (size === 0) throw this.badSizeWords(pool);
    const max = u32[(pool + Pool.MAXNEXTOFFSET) >>> 2];
    const no = u32[(pool + Pool.NEXTOFFSET) >>> 2];
    // Its last offset is what startPool set, to the byte: the pool's end (carveEnd) less a block.
    // Only <= was tested before 2026-12-06; a slot's first sub-pool whose slot word a stray write
    // set to a shift of 0 then passed as a whole pool, emptied with its slot's live sub-pools.
    const bytes = this.carveEnd(pool);
    if (size === 0 || max + size !== bytes || no > max + size || no < Pool.OVERHEAD + size)
      throw new HeapCorruptionError(pool + Pool.NEXTOFFSET, `pool ${hex(pool)}: next offset ${no}, last offset ${max} and block size ${size} do not fit its ${bytes} bytes (a write over the pool's header?)`, "Pool.NEXTOFFSET");
    const first = pool + Pool.OVERHEAD;
    const carvedBytes = no - Pool.OVERHEAD;
    for (let b = first; b < pool + no; b += size) {
      const w = b >>> 2;
      const link = u32[w];
      if ((u32[w + 1] ^ FreeBlock.TAG_VALUE) !== 0 || (link !== 0 && (link - first) >>> 0 >= carvedBytes))
        throw new HeapCorruptionError(
          pool,
          `pool ${hex(pool)}: its count says every block is free, but its block at ${hex(b)} is not (a write over COUNT, a block freed twice, or a write over a free block?)`,
          "Pool.COUNT",
        );
    }
  }

  /** Whether the block at p holds the free tag (FreeBlock: a uint32 word tested by xor). */
  protected holdsFreeTag(p: number): boolean {
    return (this.u32[(p + FreeBlock.TAG) >>> 2] ^ FreeBlock.TAG_VALUE) === 0;
  }

  /**
   * Whether p is on pool's free list: asked of a block that holds the free tag (FreeBlock in
   * constants.ts) by realloc and usableSize (liveSize), hardened: true's free and an orphan
   * pool's free. Walked at most as far as the pool's carved blocks (a wild link read past the
   * memory, undefined, ends it).
   */
  protected onFreeList(pool: number, p: number): boolean {
    const u32 = this.u32;
    let k = (u32[(pool + Pool.NEXTOFFSET) >>> 2] - Pool.OVERHEAD) / this.sizeOfPool(pool);
    for (let b = u32[(pool + Pool.FREEBLOCK) >>> 2]; b !== 0 && b !== undefined && k-- > 0; b = u32[b >>> 2]) if (b === p) return true;
    return false;
  }

  /**
   * returnPool's first part (ArenaAllocator.returnPool, obmalloc/arenas.ts): the empty pool (or
   * sub-pool) leaves its class, unless it stays listed as its class's spare (keepSpare; spare:
   * free() emptied it); a sub-pool goes onto the free sub-pool list. The pool slot that goes
   * back to its arena (the pool, or the sub-pool's slot when it was the slot's last in use), or 0.
   */
  protected leaveClass(pool: number, spare: boolean): number {
    if (spare && this.subPools && this.keepSpare(pool)) return 0;
    this.checkEmptied(pool);
    const u32 = this.u32;
    // Whole pools start their slots and sub-pools are 2^SubPool.SHIFT: any other word (a stray
    // write's) would send a sub-pool back to its arena as a whole pool, its slot's live sub-pools
    // with it, and the raw allocator would hand them out again. Checked before the unlink below
    // writes anything (ObjectAllocator.freeLast undoes a free refused here).
    const sub = u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK;
    if (sub === 0 ? (pool & this.poolMask) !== 0 : sub !== SubPool.SHIFT)
      brokenPool(pool, Pool.SUB, "Pool.SUB", `its sub-pool word ${hex(u32[(pool + Pool.SUB) >>> 2])} does not fit a ${(pool & this.poolMask) === 0 ? "pool" : "sub-pool"} at this address`);
    if (sub !== 0) this.checkSubFreeing(pool, sub);
    this.unlinkPool(pool);
    // What its class holds (SubPool.HELD) shrinks by the pool's bytes.
    const idx = u32[(pool + Pool.SZIDX) >>> 2];
    if (idx < this.nClasses) {
      const wHeld = this.wSub + (SubPool.HELD >>> 2) + idx;
      const bytes = this.poolBytes(pool);
      u32[wHeld] = u32[wHeld] > bytes ? u32[wHeld] - bytes : 0;
    }
    if (sub !== 0) {
      // The slot worked out before the call, for every sub-pool: after it, only for a slot's last
      // one, its first run had no type feedback and deoptimized leaveClass (json; session 50).
      const slot = this.slotOf(pool);
      if (!this.freeSubPool(pool, sub)) return 0;
      pool = slot; // the slot's last sub-pool in use: the slot goes back as a pool
    } else {
      // A whole pool goes back of no class, as a free sub-pool does: taken again, it is carved
      // afresh, never reused with the free list it has now. So checkEmptied reads only blocks
      // carved since the pool was last taken, each handed out by a malloc since: reused with
      // its list, a pool that empties, serves one block and empties again was checked whole
      // each time (a class hovering at one block: 243 ns a malloc and free with 510 blocks
      // carved, 152 now; docs/performance.md, "Emptied pools").
      u32[(pool + Pool.SZIDX) >>> 2] = Pool.SZIDX_NONE;
    }
    return pool;
  }

  /**
   * freeSubPool's tests, made before leaveClass writes anything (freeLast then undoes the free):
   * the slot's word holds the sub-pools' shift and counts this one in use; when it counts more,
   * the free sub-pool list's head is one linkFreeSub may write through; when it counts only this
   * one, every other sub-pool of the slot is free (of no class, no block) and linked on the free
   * sub-pool list as unlinkFreeSub will find it. The count alone was trusted: lowered by one byte
   * of an underrun before the slot's first block (2 -> 1), it gave the slot back to its arena
   * with a live sub-pool in it (unlinked from its class's list, which links back as the free
   * list's do), and the next raw block was handed out over live blocks (session 54).
   */
  private checkSubFreeing(pool: number, sub: number): void {
    const u32 = this.u32;
    const slot = this.slotOf(pool);
    const word = u32[(slot + Pool.SUB) >>> 2];
    const used = word >>> SubPool.USED_SHIFT;
    if ((word & SubPool.SHIFT_MASK) !== sub || used === 0) brokenPool(slot, Pool.SUB, "Pool.SUB", "its sub-pool word does not match the sub-pool freed in it");
    const wHead = this.wSub + (SubPool.FREE >>> 2);
    if (used > 1) {
      if (this.badFreeSubHead(u32[wHead])) throw this.badFreeSubList(wHead);
      return;
    }
    // The slot's sub-pools (its shift checked above), as freeSubPool then takes them off the list.
    for (const sp of this.poolsOfSlot(slot, u32[(pool + Pool.ARENA) >>> 2])) {
      if (sp === pool) continue;
      const next = u32[(sp + Pool.NEXT) >>> 2];
      const prev = u32[(sp + Pool.PREV) >>> 2];
      if (u32[(sp + Pool.SZIDX) >>> 2] !== Pool.SZIDX_NONE || u32[sp >>> 2] !== 0 || (prev === 0 ? u32[wHead] : u32[(prev + Pool.NEXT) >>> 2]) !== sp || (next !== 0 && u32[(next + Pool.PREV) >>> 2] !== sp))
        brokenPool(slot, Pool.SUB, "Pool.SUB", `its sub-pool word counts one sub-pool in use, the one freed, but sub-pool ${hex(sp)} of its slot is not a free one`);
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
      if (used === 2) this.markKept(); // one sub-pool left in the slot: perhaps a spare
      return false;
    }
    const ao = u32[(pool + Pool.ARENA) >>> 2];
    for (const sp of this.poolsOfSlot(slot, ao)) if (sp !== pool) this.unlinkFreeSub(sp);
    this.blankPool(slot, ao, 0);
    return true;
  }

  // Called up: the usedpools lists and pool headers (ObjectAllocator, obmalloc.ts).
  protected abstract unlinkPool(pool: number): void;
  protected abstract linkPool(pool: number, usedBase: number): void;
  protected abstract linkAfter(pool: number, after: number): void;
  protected abstract startPool(pool: number, idx: number, room: number): void;
  protected abstract carveEnd(pool: number): number;
}
