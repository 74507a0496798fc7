/**
 * obmalloc/obmalloc.ts — the object allocator: CPython's pymalloc, in a typed array.
 *
 * Owns: ObjectAllocator, the class that users of the layer import, and its fast paths: malloc,
 * free, realloc and the size queries, size classes, a pool's blocks (its free list, carving),
 * the usedpools lists, a pool for a class whose list is empty (poolFor), and the calls that go
 * to the raw allocator. Requests of 1..512 bytes are served here; 0 and larger ones go to the
 * raw allocator (as in CPython, where 0 bytes becomes a 1-byte libc request). This comment is
 * the design of the whole layer.
 *
 * Where each concept lives (one file each, after mimalloc's src/: page.c, segment.c, alloc.c,
 * free.c; each file a class over the one before, its header saying what it owns):
 * - obmalloc/arenas.ts, ArenaAllocator: the fields and the constructor of every layer, arenas
 *   (taking a pool slot, giving an empty pool back: returnPool), the usable_arenas order and
 *   nfp2lasta, the pool map.
 * - obmalloc/subpools.ts, SubPoolAllocator: sub-pools, the young classes' spares, a block's
 *   pool (poolOf), an empty pool leaving its class (leaveClass).
 * - obmalloc/remote.ts, RemoteAllocator: threads: the lock, frees into other threads' pools
 *   (remote and delayed), orphans, collect().
 * - obmalloc/obmalloc.ts (this file), ObjectAllocator: malloc, free, realloc, usedpools.
 * - obmalloc/variants.ts: the subclasses a heap's options pick, and the factory.
 * A lower layer calls up through abstract methods (linkPool, free...), which V8 resolves like
 * any other method. Every function kept its bytecode in the split but returnPool (see there),
 * so V8 inlines the fast paths as it did when this was one class: mind that when moving code
 * between these files (an imported helper, for one, costs its callers bytecode: brokenPool).
 *
 * Design, in CPython's terms:
 * - A request of n bytes uses size class (n - 1) >> 4: 32 classes of 16..512 bytes (with the
 *   `alignment: 8` option, CPython's layout before 3.8: (n - 1) >> 3, 64 classes of 8..512).
 * - A pool (16 KiB) holds blocks of one class after a 48-byte header. Free blocks form a list
 *   threaded through their first word; blocks never used yet are carved lazily at nextoffset.
 *   A block has no header: its pool is found by masking the address. (Ours: a free block's
 *   second word holds a tag, written by each push, checked and cleared by each pop, so malloc
 *   never hands out a block that is not free: FreeBlock in constants.ts.)
 * - usedpools[c] is a circular list of pools of class c that have a free block, with a sentinel
 *   in the heap header, so the fast path is: head pool, pop its free block, done.
 * - An arena (8 pools, 128 KiB, by default) is one raw chunk, its payload pool-aligned and its
 *   size exactly the pools' bytes, so arenas carved one after another sit back to back with no
 *   gap. Its 32-byte header takes the tail of its last pool (which holds a block or so less). Its
 *   free pools are a list; pools never used are carved lazily at pool_address. A hole in the raw
 *   heap that holds an eighth of an arena or more takes one, with the pools that fit: like CPython's
 *   arenas, each knows its own pool count, and the memory does not grow. (obmalloc/arenas.ts)
 * - usable_arenas lists the arenas with a free pool, ordered by how few free pools they have, so
 *   new pools come from the fullest arena and emptier ones get a chance to become free and be
 *   returned. nfp2lasta[k] is the last arena with k free pools: reordering is O(1). (arenas.ts)
 * - The pool map tells in O(1) whether an address lies in an arena's pools: one bit per
 *   pool-sized slot of the address space, set while an arena holds that pool. One shift, one
 *   byte load: free() asks it for every pointer. The slots below 256 MiB have their bits in the
 *   header (2 KiB with 16 KiB pools); those above, in a raw chunk taken when the first arena
 *   lands past 256 MiB (30 KiB for a 4 GiB address space) and kept: a small heap does not carry
 *   the map of a 4 GiB address space (constants.ts, POOL_MAP_LOW_SHIFT). (arenas.ts)
 * - Sub-pools (ours; subPools: false for CPython's layout): a class that has never held
 *   its young limit (youngLimit) takes 1 KiB sub-pools cut from one pool slot, each with a pool header of its
 *   own, so malloc does not tell them apart; constants.ts's SubPool has the rules.
 *   (obmalloc/subpools.ts)
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
 *   (obmalloc/remote.ts)
 *
 * The subclasses a heap's options pick (8-byte classes, threads, hardened: true) and the factory
 * that picks one are in obmalloc/variants.ts.
 *
 * Must not: touch raw chunk headers (the raw allocator owns them) or validate sizes (families do).
 */

import { CARVE_BYTES, Size, blockInverse, classSize, usedSentinel, FreeBlock, Pool, Slot, SubPool } from "../constants.js";
import { HeapCorruptionError, InvalidPointerError, detachedError, hex } from "../errors.js";
import { RemoteAllocator } from "./remote.js";

export type { ObjectAllocatorOptions } from "./arenas.js";

/**
 * A pool header word found damaged on a list edit (out of line: callers are hot). A function of
 * this module, as in subpools.ts: an imported one costs each call site 3 bytes of bytecode (a
 * hole check), and linkPool and unlinkPool are in what V8 inlines into free()'s callers.
 */
function brokenPool(pool: number, off: number, field: string, why: string): never {
  throw new HeapCorruptionError(pool + off, `pool ${hex(pool)}: ${why}`, field);
}

/**
 * Kept out of line (mallocFresh, rawFree): V8 never inlines a function whose bytecode is longer
 * than 460 bytes (--max-inlined-bytecode-size), and both are padded past that by a branch that
 * never runs. Why: V8 decides what to inline from the first calls a process makes, and never
 * revisits it in code already optimized. With the raw start (rawFirst) a heap's first small
 * blocks are raw, so mallocFresh (which serves them) and rawFree (which frees them) were hot
 * then: V8 inlined them, and the raw allocator under them, into malloc and free, which grew too
 * large for the replay loop to inline (json: free's optimized code held 882 bytes of inlined
 * bytecode, malloc's 779). Padded, rawFirst's cost on the shared traces fell from +16-23% to
 * +1-12% more instructions an event (docs/performance.md, "The raw start kept out of line"); a
 * heap without it never calls them on its fast paths, and its counts did not move.
 */
export function outOfLine(q: number): never {
  throw new RangeError(`unreachable (${q})`);
}

/** The free block bp of `pool` links to nb, which is no carved block of that pool (see mallocIn). */
export function badLink(bp: number, nb: number, pool: number): HeapCorruptionError {
  return new HeapCorruptionError(bp, `free block's link ${hex(nb)} is not a block of its pool ${hex(pool)} (a write into a freed block?)`, "free block link");
}

/** The object allocator (the layers below: RemoteAllocator, SubPoolAllocator, ArenaAllocator). */
export class ObjectAllocator extends RemoteAllocator {
  // -------------------------------------------------------------------------------------------
  // The raw allocator's calls (under the lock with threads)
  // -------------------------------------------------------------------------------------------

  // Each raw call keeps the raw start's counts of small raw chunks when it is on (rawCame,
  // rawWent: subpools.ts), under the lock with threads. Off (the default), nothing is counted:
  // free()'s raw branch, which V8 inlines with free, stays as small as it was.

  private rawMalloc(n: number): number {
    if (this.lock === undefined) return this.rawStart ? this.rawCame(this.raw.malloc(n), 1) : this.raw.malloc(n);
    const took = this.enter();
    try {
      return this.rawStart ? this.rawCame(this.raw.malloc(n), 1) : this.raw.malloc(n);
    } finally {
      this.leave(took);
    }
  }

  protected rawFree(p: number): void {
    if (p < 0) {
      // Never runs (p is never negative): its bytecode keeps this function out of line (outOfLine, above).
      let q = p;
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      outOfLine(q);
    }
    // Detached views (memory.ts, DETACHED): an unshared WebAssembly.Memory grown by someone else,
    // and isOurs() read the pool map as empty: made current, p is looked up again.
    if (this.u32[0] === undefined && this.memory.refresh()) return this.free(p);
    if (this.rawStart) return this.rawFreeCounted(p);
    if (this.lock === undefined) return this.raw.free(p);
    const took = this.enter();
    try {
      this.raw.free(p);
    } finally {
      this.leave(took);
    }
  }

  /** rawFree with the raw start on: the chunk's size word read first (free may merge it away), counted once free has accepted p. */
  private rawFreeCounted(p: number): void {
    const took = this.enter();
    try {
      const sw = this.u32[(p - 4) >>> 2];
      this.raw.free(p);
      this.rawWent(sw);
    } finally {
      this.leave(took);
    }
  }

  /** A raw chunk for aligned_alloc's larger alignments (RawAllocator.mallocAligned). */
  mallocAligned(n: number, align: number, offset: number): number {
    const took = this.enter();
    try {
      const p = this.raw.mallocAligned(n, align, offset);
      return this.rawStart ? this.rawCame(p, 1) : p;
    } finally {
      this.leave(took);
    }
  }

  private rawRealloc(p: number, n: number): number {
    if (this.u32[0] === undefined && this.memory.refresh()) return this.realloc(p, n); // detached views (rawFree says why)
    const took = this.enter();
    try {
      if (!this.rawStart) return this.raw.realloc(p, n);
      const sw = this.u32[(p - 4) >>> 2];
      const q = this.raw.realloc(p, n);
      if (q !== 0) {
        this.rawWent(sw);
        this.rawCame(q, 0);
      }
      return q;
    } finally {
      this.leave(took);
    }
  }

  /**
   * p lies past this handle's views: another thread or handle grew the memory (or, for an
   * unshared WebAssembly.Memory grown by someone else, the views were detached). True when they
   * now cover it (the caller then tries again; a pointer they still do not cover is reported as
   * invalid). Told by an element read, undefined past the views and through detached ones, not
   * by the views' length (memory.ts, DETACHED).
   */
  protected reach(p: number): boolean {
    if (this.u8[p] !== undefined) return false;
    this.memory.refresh();
    return this.u8[p] !== undefined;
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
      // The head is a pool of this class (its SZIDX says so: a stray write over the header's
      // usedpools, say through NULL, must not have the two writes below land anywhere), or the
      // sentinel, whose SZIDX word is the next class's PREV link, an address, never a class:
      // one test for both, mallocFresh tells them apart.
      const w = pool >>> 2; // the header's words at w + (Pool.X >>> 2), as in extendPool
      if (u32[w + (Pool.SZIDX >>> 2)] === idx) {
        // Pop the pool's first free block (a call here cost 14 more instructions a malloc+free).
        // The FREEBLOCK word's index is computed once: each repeated index costs bytecode.
        const fw = w + (Pool.FREEBLOCK >>> 2);
        const bp = u32[fw];
        u32[w]++;
        const bw = bp >>> 2;
        const nb = u32[bw];
        u32[fw] = nb;
        // The popped link nb, read from a free block (where a stale pointer may have written),
        // is the next block to hand out: 0 (the list's end), or a block this pool has carved.
        // Where the link is 0 (or none: bp past the memory reads undefined) it gives no
        // proof, and bp itself (the pool's FREEBLOCK, which a write past the end of the block
        // before a pool's header lands on) is checked instead. The rule, for x = nb or bp: bad when
        //   ((x - pool - Pool.OVERHEAD) | (x << 29)) >>> 0 >= NEXTOFFSET - Pool.OVERHEAD
        // (one unsigned compare: outside the pool, in its header, never carved, or not 8-byte
        // aligned: x's low three bits land in bits 29-31). Whether x is on a block boundary
        // costs a division: hardened: true checks it (HardenedMixin); the AssemblyScript fast
        // path (wasm/obmalloc) checks it too. brokenLink() undoes the two writes above and
        // throws HeapCorruptionError naming bp. Mind this function's bytecode size (194 bytes;
        // extendPool's 122 inlined into it): V8 inlines malloc into its caller only while
        // malloc with what it inlines fits the caller's remaining budget (docs/performance.md,
        // heap damage checks). The usedpools head test above cost 18 bytes and json 238 -> 260
        // instructions an event (free left the replay loop) until the two link checks became
        // this one (226 -> 219 bytes; json 241, compileall 312). extendPool's carve check (+24
        // bytes, 2026-12-04) put minidom's replay loop over it (calloc inlined there instead of
        // malloc: 250 -> 271 instructions an event) until x was taken as `nb || bp` (nb read
        // past the memory is undefined: bp) and the carve test became `x === bp` (nb is 0, or a
        // damaged link to bp itself, which the carve then overwrites or its check refuses): 210
        // -> 194 bytes (json 253 -> 258 instructions an event with the carve check).
        // And bp must hold the free tag (FreeBlock): a FREEBLOCK or link a stray write pointed at
        // a live block, or a freed block written since, is found before its tag is cleared.
        // bp's own alignment joins x's (x | bp: a FREEBLOCK a one-byte overflow raised by 1-3
        // reads its link and tag through the rounded index, and would be handed out misaligned).
        const x = nb || bp;
        if ((u32[bw + 1] ^= FreeBlock.TAG_VALUE) !== 0 || ((x - pool - Pool.OVERHEAD) | ((x | bp) << 29)) >>> 0 >= ((u32[w + (Pool.NEXTOFFSET >>> 2)] - Pool.OVERHEAD) & this.poolMask)) this.brokenLink(pool, bp);
        if (x === bp) this.extendPool(pool, bp);
        return bp;
      }
      return this.mallocFresh(idx, n);
    }
    return this.rawMalloc(n);
  }

  /**
   * mallocIn popped bp, whose link (now the pool's FREEBLOCK) is no block of its pool, or which
   * lacks the free tag (FreeBlock; mallocIn's xor left it changed: xored back here): undo the pop,
   * throw. Two arguments, the link read back here: each argument of the call costs mallocIn
   * bytecode, and mallocIn's size decides whether V8 inlines malloc into its caller.
   */
  protected brokenLink(pool: number, bp: number): never {
    const u32 = this.u32;
    const nb = u32[(pool + Pool.FREEBLOCK) >>> 2];
    u32[pool >>> 2]--;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = bp;
    // The tag word as it was: mallocIn's word index, (bp >>> 2) + 1, not (bp + 4) >>> 2, which for
    // a FREEBLOCK of 0xfffffffc..0xffffffff (a 0xff memset over the header) wraps to word 0 and
    // wrote below the heap (mallocIn's own index is past the views there: no write).
    u32[(bp >>> 2) + 1] ^= FreeBlock.TAG_VALUE;
    if (((bp - pool - Pool.OVERHEAD) | (bp << 29)) >>> 0 >= u32[(pool + Pool.NEXTOFFSET) >>> 2] - Pool.OVERHEAD)
      brokenPool(pool, Pool.FREEBLOCK, "Pool.FREEBLOCK", `its free list's head ${hex(bp)} is no block of it (a write over the pool's header?)`);
    const linkBad = nb !== 0 && ((nb - pool - Pool.OVERHEAD) | (nb << 29)) >>> 0 >= ((u32[(pool + Pool.NEXTOFFSET) >>> 2] - Pool.OVERHEAD) & this.poolMask);
    // A block with neither its tag nor a link of its pool is a live block on the list: most often
    // one freed twice, handed out once since and written by its user (its link is their data).
    // The tag says so; the link alone would blame a write into a freed block.
    if (linkBad && (u32[(bp + FreeBlock.TAG) >>> 2] ^ FreeBlock.TAG_VALUE) === 0) throw badLink(bp, nb, pool);
    throw new HeapCorruptionError(
      bp + FreeBlock.TAG,
      `free block ${hex(bp)} of pool ${hex(pool)} lost its free tag${linkBad ? ` and its link (${hex(nb)}, no block of the pool)` : ""}: freed twice (release mode finds a double free here, before the block is handed out again${linkBad ? "; it was handed out once since and written" : ""}), written after it was freed, or a live block a damaged link leads to`,
      "free block tag",
    );
  }

  /** The usedpools head word at hp holds pool, which is no pool of its class: nothing written yet. */
  private brokenHead(hp: number, pool: number): never {
    throw new HeapCorruptionError(hp, `usedpools head ${hex(pool)} is no pool of its size class (a write over the heap header?)`, "usedpools head");
  }

  /**
   * usedpools[idx] is empty: poolFor() links a pool with a free block at its head, and mallocIn()
   * then pops it; else (no arena could be had) the raw allocator serves n.
   */
  private mallocFresh(idx: number, n: number): number {
    if (idx < 0) {
      // Never runs (idx is never negative): its bytecode keeps this function out of line (outOfLine, above).
      let q = idx;
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      outOfLine(q);
    }
    // mallocIn came here for a head that is no pool of the class: the sentinel (an empty list), or damage.
    const sp = this.sentinel(idx);
    const head = this.u32[(sp + Pool.NEXT) >>> 2];
    if (head !== sp) {
      // A pool past this handle's views (another handle grew the memory; or the views were
      // detached, and the head read undefined: 0 here): views made current, again.
      if (this.reach(head >>> 0)) return this.mallocIn(n, idx);
      this.brokenHead(sp + Pool.NEXT, head);
    }
    // The raw start (RawStart): a class that never took a pool, while its size is rare.
    if (this.rawStart && this.rawYoung(idx, n)) {
      const p = this.rawMalloc(n);
      if (p !== 0) return p;
    }
    const pool = this.poolFor(idx);
    if (pool === 0) return this.rawMalloc(n);
    // poolFor() linked a pool at the head of usedpools[idx]; a damaged class word links it
    // elsewhere, and mallocIn() would come back here for ever.
    if (this.u32[(sp + Pool.NEXT) >>> 2] !== pool) throw new HeapCorruptionError(pool + Pool.SZIDX, `pool taken for size class ${idx} did not land in its usedpools`, "Pool.SZIDX");
    return this.mallocIn(n, idx);
  }

  /**
   * The pool's free list ran dry: carve never-used blocks, else unlink the full pool. A batch of
   * CARVE_BYTES (at least one block, at most to the pool's end) goes onto the free list at once,
   * so this runs once for every few blocks handed out new and V8 leaves it out of line: malloc,
   * which calls it, stays small enough to inline into its callers. With threads,
   * SharedObjectAllocator's override takes back the blocks other threads freed into the pool
   * first, and marks a full pool FULL before it leaves usedpools.
   */
  protected extendPool(pool: number, bp: number): void {
    const u32 = this.u32;
    const w = pool >>> 2;
    const no = u32[w + (Pool.NEXTOFFSET >>> 2)];
    const size = this.sizeOfPool(pool);
    const max = u32[w + (Pool.MAXNEXTOFFSET >>> 2)];
    if (no > max) {
      // Every block carved, all handed out: the pool is full. A sub-pool's fill is counted (churn: SubPool in constants.ts).
      this.unlinkFull(pool, bp);
      if ((u32[w + (Pool.SUB >>> 2)] & SubPool.SHIFT_MASK) !== 0) this.subPoolFilled(pool);
      return;
    }
    // Carve only after every block carved, all handed out (the free list is empty, the block just
    // popped counted): the count times the size is what was carved; and never past the pool's
    // end, its slot's or sub-pool's bytes or its arena's header (carveEnd): a NEXTOFFSET, SZIDX,
    // COUNT or MAXNEXTOFFSET a stray write changed would carve over a live block or a header. (An
    // INVERSE word that is not SZIDX's makes the size 0: sizeOfPool. free's test trusts that word,
    // so it is checked here, before the pool's blocks are handed out, as on every relink.)
    const end = this.carveEnd(pool);
    if (!(size > 0) || u32[w] * size !== no - Pool.OVERHEAD || no + size > end) this.brokenCarve(pool, bp);
    // The batch: blocks at no, no + size, ... while they start at max at most and end by `end`.
    let k = Math.max(1, Math.floor(CARVE_BYTES / size));
    k = Math.min(k, Math.floor((max - no) / size) + 1, Math.floor((end - no) / size));
    const last = pool + no + (k - 1) * size;
    for (let b = pool + no; b < last; b += size) {
      u32[b >>> 2] = b + size;
      u32[(b + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
    }
    u32[last >>> 2] = 0;
    u32[(last + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
    u32[w + (Pool.FREEBLOCK >>> 2)] = pool + no;
    u32[w + (Pool.NEXTOFFSET >>> 2)] = no + k * size;
  }

  /**
   * Where the pool or sub-pool at pool ends, as an offset from it: its bytes (poolBytes), or its
   * arena's header when that lies within them (the arena's last pool); a header word pointing
   * elsewhere leaves the pool's bytes, so a damaged one never widens it.
   */
  protected carveEnd(pool: number): number {
    const bytes = this.poolBytes(pool);
    const ao = this.u32[(pool + Pool.ARENA) >>> 2];
    return ao > pool && ao - pool < bytes ? ao - pool : bytes;
  }

  /**
   * Undo mallocIn's pop of bp, its pool's last listed block (extendPool found the pool's words
   * wrong before it wrote anything): bp back at the head of the free list with its free tag, the
   * count as it was. A refused malloc leaves the heap as it found it.
   */
  protected unpop(pool: number, bp: number): void {
    const u32 = this.u32;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = bp;
    u32[(bp + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
    u32[pool >>> 2]--;
  }

  /** The carve words of pool do not add up: bp, just popped (mallocIn), goes back on its free list; throw. */
  protected brokenCarve(pool: number, bp: number): never {
    const u32 = this.u32;
    this.unpop(pool, bp);
    const no = u32[(pool + Pool.NEXTOFFSET) >>> 2];
    const size = this.sizeOfPool(pool);
    if (size === 0) throw this.badSizeWords(pool);
    brokenPool(
      pool,
      Pool.NEXTOFFSET,
      "Pool.NEXTOFFSET",
      `its next block (offset ${no}, ${size} bytes) would not follow the ${u32[pool >>> 2] + 1} it handed out, or would end past its ${this.carveEnd(pool)} bytes (a write over the pool's header?)`,
    );
  }

  /**
   * extendPool: mallocIn just popped bp, the last block of pool, which is full and leaves its
   * usedpools list. unlinkPool's check, made before the pop is kept: on links that do not come
   * back, the pop is undone (fullLinksBack), so the refused malloc leaves the heap as it was (it was
   * thrown after the pop, and the pool's count then held a block nobody had). The wasm fast path's
   * mallocLast and unlinkFull (wasm/obmalloc) check the same before they write anything.
   */
  protected unlinkFull(pool: number, bp: number): void {
    const u32 = this.u32;
    const next = u32[(pool + Pool.NEXT) >>> 2];
    const prev = u32[(pool + Pool.PREV) >>> 2];
    this.fullLinksBack(pool, bp, next, prev);
    u32[(next + Pool.PREV) >>> 2] = prev;
    u32[(prev + Pool.NEXT) >>> 2] = next;
  }

  /**
   * unlinkFull's (and SharedObjectAllocator.extendPool's, before markFull) test of a pool that
   * fills with bp: its usedpools links next and prev must come back to it; else the pop of bp is
   * undone and the error thrown.
   */
  protected fullLinksBack(pool: number, bp: number, next: number, prev: number): void {
    const u32 = this.u32;
    if (u32[(next + Pool.PREV) >>> 2] === pool && u32[(prev + Pool.NEXT) >>> 2] === pool) return;
    this.unpop(pool, bp);
    brokenPool(pool, Pool.NEXT, "Pool.NEXT", "its usedpools links do not come back to it");
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
    // The class the pool joins must be the one its blocks were cut for (INVERSE, free's block
    // boundary, is its size's): else the class's malloc would hand out blocks of another size.
    // INVERSE is blockInverse(size) exactly when INVERSE * size - 2^32 is in [0, size) (exact in
    // doubles; no division here, and no call of an imported function: both cost every relink).
    const size = classSize(idx, this.alignShift);
    const e = u32[(pool + Pool.INVERSE) >>> 2] * size - 4294967296;
    if (idx >= this.nClasses || e < 0 || e >= size) brokenPool(pool, Pool.SZIDX, "Pool.SZIDX", "its size class is none of the heap's, or not its INVERSE word's");
    const sp = usedSentinel(usedBase, idx);
    const next = u32[(sp + Pool.NEXT) >>> 2];
    // The head must link back to the sentinel: a damaged head word is never written through.
    if (u32[(next + Pool.PREV) >>> 2] !== sp) brokenPool(sp, Pool.NEXT, "Pool.NEXT", "its usedpools links do not come back to it");
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
    const size = classSize(idx, this.alignShift);
    const e = u32[(pool + Pool.INVERSE) >>> 2] * size - 4294967296; // INVERSE is size's: linkPool
    if (idx >= this.nClasses || e < 0 || e >= size) brokenPool(pool, Pool.SZIDX, "Pool.SZIDX", "its size class is none of the heap's, or not its INVERSE word's");
    const sp = usedSentinel(this.usedBase, idx);
    let prev = sp;
    const head = u32[(sp + Pool.NEXT) >>> 2];
    if ((u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) !== 0 && head !== sp && u32[head >>> 2] !== 0) prev = head;
    this.linkAfter(pool, prev);
  }

  /** Put pool into a usedpools list right after `after` (a pool or the sentinel), whose link is checked first. */
  protected linkAfter(pool: number, after: number): void {
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
      const sub = this.takeShift(idx);
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
    u32[(pool + Pool.OWNER) >>> 2] = this.ownerWord;
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
  protected startPool(pool: number, idx: number, room: number): void {
    const u32 = this.u32;
    const size = classSize(idx, this.alignShift);
    // Computed before the first write: no call between the header's writes, where a Worker's
    // terminate() could land and leave SZIDX without its INVERSE (test/terminate.test.ts).
    const inv = blockInverse(size);
    u32[(pool + Pool.SZIDX) >>> 2] = idx;
    u32[(pool + Pool.INVERSE) >>> 2] = inv;
    u32[(pool + Pool.NEXTOFFSET) >>> 2] = Pool.OVERHEAD + size;
    u32[(pool + Pool.MAXNEXTOFFSET) >>> 2] = room - size;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = pool + Pool.OVERHEAD;
    u32[(pool + Pool.OVERHEAD) >>> 2] = 0;
    u32[(pool + Pool.OVERHEAD + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
  }

  // -------------------------------------------------------------------------------------------
  // Release
  // -------------------------------------------------------------------------------------------

  /** Free p, which may be ours or the raw allocator's. */
  free(p: number): void {
    if (!this.isOurs(p)) return this.rawFree(p);
    const u32 = this.u32;
    const pool = p - (p & this.poolMask);
    // The count, next offset and owner are read `| 0`: V8 then takes the word as an int32
    // as it is, where a plain read of a Uint32Array checks that it fits one (two instructions a
    // read). They are small in any valid pool; a damaged word over 2^31 reads negative and fails
    // the same tests (freeSlow reads them again). Addresses (FREEBLOCK) stay unsigned, and so
    // does INVERSE: its test compares it with a uint32 (`>>> 0`), which V8 does as a uint32
    // compare only when both sides are (int32 against uint32 is a float compare; compileall-head
    // 344 against 338 instructions an event, one run each: docs/performance.md, session 48).
    const cnt = u32[pool >>> 2] | 0;
    const off = p - pool - Pool.OVERHEAD;
    // A block start: a whole number of blocks from the first, by one multiplication (Pool.INVERSE,
    // onBoundary in constants.ts; a division until session 48). off < 0 (p in the header) is
    // tested on its own: a negative off may pass the product's test.
    const inv = u32[(pool + Pool.INVERSE) >>> 2];
    const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
    // Everything but a valid block of our own pool that is not its last freed block goes to
    // freeSlow() (one call: the rare branches' bytecode out of this function, which V8 inlines
    // into its callers within a budget; docs/performance.md).
    const pw = p >>> 2;
    if (cnt === 0 || off < 0 || p >= pool + (u32[(pool + Pool.NEXTOFFSET) >>> 2] | 0) || Math.imul(off, inv) >>> 0 >= inv || fb === p || (u32[(pool + Pool.OWNER) >>> 2] | 0) !== this.ownerWord)
      return this.freeSlow(p, pool);
    // A pool that was full goes back into usedpools (FULL stays set) before the block is pushed:
    // linkPool checks the list's links and throws with nothing written (a free refused after the
    // push had put the user's block on the free list, its first bytes overwritten: handed out
    // again while its user, told the free failed, still held it). Both edges return here, the
    // push below follows no call (after one, V8 reloads the view: +10 instructions an event on
    // compileall with linkPool called first and the push after it, session 48).
    if (fb === 0) return this.freeIntoFull(p, pool, cnt, false);
    if (cnt === 1) return this.freeLast(p, pool);
    u32[pw] = fb;
    u32[pw + 1] = FreeBlock.TAG_VALUE;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = p;
    u32[pool >>> 2] = cnt - 1;
  }

  /**
   * free(p) into its full pool (its FREEBLOCK 0): the pool back into usedpools first (linkPool,
   * or linkFreed for a heap with sub-pools: `sub`), which checks the links before it writes, then
   * the push (and the emptying of a pool of one block: freeLast).
   */
  protected freeIntoFull(p: number, pool: number, cnt: number, sub: boolean): void {
    if (sub) this.linkFreed(pool);
    else this.linkPool(pool, this.usedBase);
    if (cnt === 1) return this.freeLast(p, pool);
    const u32 = this.u32;
    const pw = p >>> 2;
    u32[pw] = 0;
    u32[pw + 1] = FreeBlock.TAG_VALUE;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = p;
    u32[pool >>> 2] = cnt - 1;
  }

  /**
   * free(p) of its pool's last block in use (linkPool done): the push,
   * then the pool's emptying (poolEmptied). The emptying reads the pool's and its arena's words
   * and may meet damage there after the push (a HeapCorruptionError from leaveClass or returnPool):
   * the push is then undone, p's first two words as its user left them, so the refused free leaves
   * p live and never on a free list (it was left pushed: handed out again by a later malloc while
   * its user, told the free failed, still held it). What the emptying wrote before its error
   * stays: at most the pool's usedpools unlink, so the pool, out of its lists, hands out nothing
   * more, and p's next free meets the same error. Damage found past leaveClass (returnPool's arena
   * words, the pool of no class by then, in no list) leaves p freed: never handed out again.
   */
  protected freeLast(p: number, pool: number): void {
    if (p < 0) {
      // Never runs: keeps this out of line (outOfLine; inlined, its try cost compileall 328 -> 359 instructions an event).
      let q = p;
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      outOfLine(q);
    }
    const u32 = this.u32;
    const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
    const pw = p >>> 2;
    const w0 = u32[pw];
    const w1 = u32[pw + 1];
    u32[pw] = fb;
    u32[pw + 1] = FreeBlock.TAG_VALUE;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = p;
    u32[pool >>> 2] = 0;
    try {
      this.poolEmptied(pool);
    } catch (e) {
      // Undone while the pool still has its class (leaveClass's checks, before it gives the class
      // up); past that (returnPool's arena words) the pool is in no list and p stays freed.
      if (u32[(pool + Pool.FREEBLOCK) >>> 2] === p && u32[pool >>> 2] === 0 && u32[(pool + Pool.SZIDX) >>> 2] < this.nClasses) {
        u32[(pool + Pool.FREEBLOCK) >>> 2] = fb;
        u32[pool >>> 2] = 1;
        u32[pw] = w0;
        u32[pw + 1] = w1;
      }
      throw e;
    }
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
    // The pool map says p's slot is an arena's, but its header names no arena above it: a stray
    // write over the map (user bytes read as a pool header) or over the header's ARENA word.
    // (Views another thread's growth left short read undefined here: 0, passed on to reach.)
    if ((u32[(pool + Pool.ARENA) >>> 2] - pool) >>> 0 > this.arenaSize) throw this.noArena(pool);
    const off = p - pool - Pool.OVERHEAD;
    // By the size SZIDX gives (a division: no INVERSE word is trusted here), so that a block start
    // free() refused for a damaged INVERSE word is reported as that, not as an invalid pointer.
    const nth = off / classSize(u32[(pool + Pool.SZIDX) >>> 2], this.alignShift);
    if (u32[pool >>> 2] === 0 || off < 0 || p >= pool + u32[(pool + Pool.NEXTOFFSET) >>> 2] || (nth | 0) !== nth || u32[(pool + Pool.SZIDX) >>> 2] >= this.nClasses) {
      if (this.reach(p)) return this.free(p);
      throw this.invalid("free", p, pool);
    }
    if (this.sizeOfPool(pool) === 0) throw this.badSizeWords(pool);
    if (u32[(pool + Pool.OWNER) >>> 2] !== this.ownerWord) return this.freeForeign(p, pool);
    // This thread's block, and its pool's first free block (free() comes here for nothing else
    // valid): freed twice. (hardened: true's free finds one deeper in the list: variants.ts.)
    throw new InvalidPointerError("free", p, "double-free", "this block is already free (double free)");
  }

  /** freeSlow's error for a pool header whose ARENA word names no arena above it. */
  private noArena(pool: number): HeapCorruptionError {
    const ao = this.u32[(pool + Pool.ARENA) >>> 2];
    return new HeapCorruptionError(
      pool + Pool.ARENA,
      `the pool map marks ${hex(pool)} as a pool, but its header names no arena above it (${hex(ao)}): a write over the pool map (raw blocks' bytes read as a pool header) or over the pool's header`,
      "Pool.ARENA",
    );
  }

  /** Why p, inside our arenas, is not a live block: the error to throw. */
  private invalid(op: string, p: number, pool: number): InvalidPointerError | HeapCorruptionError {
    const u32 = this.u32;
    if ((p & ((1 << this.alignShift) - 1)) !== 0)
      return new InvalidPointerError(op, p, "misaligned", `not ${1 << this.alignShift}-byte aligned, so not a block start`);
    if (u32[pool >>> 2] === 0)
      return new InvalidPointerError(op, p, "not-a-block", "inside a pool whose count says it holds no blocks: never allocated, or already freed; or, if this block is live, another block of its pool was freed twice before (release mode takes such a free; hardened: true and the debug modes refuse it)");
    if (p - pool < Pool.OVERHEAD) return new InvalidPointerError(op, p, "internal", "inside a pool header");
    if (p >= pool + u32[(pool + Pool.NEXTOFFSET) >>> 2]) return new InvalidPointerError(op, p, "not-a-block", "never allocated");
    const idx = u32[(pool + Pool.SZIDX) >>> 2];
    if (idx >= this.nClasses) return this.badSizeWords(pool);
    return new InvalidPointerError(op, p, "interior", `points inside a ${classSize(idx, this.alignShift)}-byte block, not at its start`);
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

  // -------------------------------------------------------------------------------------------
  // Resize and size queries
  // -------------------------------------------------------------------------------------------

  /**
   * The size class bytes of our block p when it is a live block start (not on its pool's free
   * list: a block holding the free tag is looked for there), else 0 (blockSize() then says why).
   */
  private liveSize(p: number): number {
    const u32 = this.u32;
    const pool = this.poolOf(p);
    const off = p - pool - Pool.OVERHEAD;
    const idx = u32[(pool + Pool.SZIDX) >>> 2];
    const size = classSize(idx, this.alignShift);
    const inv = u32[(pool + Pool.INVERSE) >>> 2];
    // A block start by free()'s test (Pool.INVERSE); realloc copies size bytes and frees p, so the
    // INVERSE word that found p a block start must be its class's (a word a stray write changed
    // is not trusted: blockSize reports it).
    if (u32[pool >>> 2] === 0 || off < 0 || p >= pool + u32[(pool + Pool.NEXTOFFSET) >>> 2] || Math.imul(off, inv) >>> 0 >= inv) return 0;
    const e = inv * size - 4294967296; // inverseOk (constants.ts) written out, as in linkPool
    if (idx >= this.nClasses || e < 0 || e >= size) return 0;
    // holdsFreeTag written out: liveSize is in realloc's chain, which V8 inlines into its callers.
    return (u32[(p + FreeBlock.TAG) >>> 2] ^ FreeBlock.TAG_VALUE) === 0 && this.isFreed(pool, p) ? 0 : size;
  }

  /** The size class bytes of our block p, after checking it is a live block start. */
  private blockSize(op: string, p: number): number {
    const size = this.liveSize(p);
    if (size !== 0) return size;
    if (this.reach(p)) return this.blockSize(op, p);
    const pool = this.poolOf(p);
    if (this.u32[pool >>> 2] !== 0 && this.sizeOfPool(pool) === 0) throw this.badSizeWords(pool);
    if (this.u32[pool >>> 2] !== 0 && this.isFreed(pool, p))
      throw new InvalidPointerError(op, p, "double-free", this.onFreeList(pool, p) ? "this block is already free (use after free)" : "this block is already free (use after free: another thread freed it, it waits for its owner thread)");
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
    // free(p) below can refuse after malloc(q) only where it does more than a push: p's pool full
    // (its class's usedpools links checked), p its last block (the pool's emptying), or another
    // thread's pool. Those go to reallocEdge, which gives q back when the free refuses (q leaked
    // until session 50: a block nobody held); the rest push p and cannot refuse. Tested here, not
    // with a try around every move (a call at every move; imports 326 instructions an event
    // either way with this test, one run).
    const pool = this.poolOf(p);
    const u32 = this.u32;
    if (u32[(pool + Pool.FREEBLOCK) >>> 2] === 0 || u32[pool >>> 2] === 1 || (u32[(pool + Pool.OWNER) >>> 2] | 0) !== this.ownerWord) return this.reallocEdge(p, n, keep);
    const q = this.malloc(n);
    if (q === 0) return 0;
    this.u8.copyWithin(q, p, p + keep);
    this.free(p);
    return q;
  }

  /**
   * realloc's move of p (keep bytes) whose free may refuse after malloc(q) (realloc says when):
   * p is then left live (free's rules) and q given back before the error goes on.
   */
  private reallocEdge(p: number, n: number, keep: number): number {
    const q = this.malloc(n);
    if (q === 0) return 0;
    // At least p's first 8 bytes: every block has 8, and a refused free may leave them pushed (giveBack).
    this.u8.copyWithin(q, p, p + (keep < 8 ? 8 : keep));
    try {
      this.free(p);
    } catch (e) {
      this.giveBack(q, p);
      throw e;
    }
    return q;
  }

  /**
   * reallocEdge's return of q after free(p) refused. A free refused past p's pool leaving its
   * class (freeLast: returnPool's arena words, session 51's fuzz) leaves p pushed, its first two
   * words a free-list link and the free tag, on the list of a pool that hands out nothing more:
   * realloc's refusal says p is live as it was, so the push is undone and p's words put back from
   * q's copy (a refused realloc changed its block's first 8 bytes). A free of q refused as well
   * (the same damage met again) leaves q taken: the first error is the one reported, and q stays
   * out of every free list either way.
   */
  private giveBack(q: number, p: number): void {
    const u32 = this.u32;
    const pool = this.poolOf(p);
    if (u32[(pool + Pool.FREEBLOCK) >>> 2] === p && u32[pool >>> 2] === 0 && u32[(pool + Pool.SZIDX) >>> 2] >= this.nClasses) {
      u32[(pool + Pool.FREEBLOCK) >>> 2] = u32[p >>> 2];
      u32[pool >>> 2] = 1;
      u32[p >>> 2] = u32[q >>> 2];
      u32[(p >>> 2) + 1] = u32[(q >>> 2) + 1];
    }
    try {
      this.free(q);
    } catch {
      // q stays in use (a leak), the heap as free() left it: the first error is thrown on.
    }
  }

  /** Usable bytes of p, known to be a live block (no checks). */
  usableTrusted(p: number): number {
    if (!this.isOurs(p)) return this.raw.usable(p);
    return classSize(this.u32[(this.poolOf(p) + Pool.SZIDX) >>> 2], this.alignShift);
  }

  /** Usable bytes of p when it is a live block, else 0 (usableSize() then says why). No throw, no lock. */
  liveUsable(p: number): number {
    if (!this.isOurs(p)) return this.raw.liveUsable(p);
    return p + 4 > this.u8.length ? 0 : this.liveSize(p);
  }

  usableSize(p: number): number {
    if (!this.isOurs(p)) {
      if (this.u32[0] === undefined && this.memory.refresh()) return this.usableSize(p); // detached views (rawFree says why)
      this.raw.validate("usableSize", p);
      return this.raw.usable(p);
    }
    return this.blockSize("usableSize", p);
  }
}
