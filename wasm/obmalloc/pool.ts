// wasm/obmalloc/pool.ts — a pool's blocks and links, as the fast path reads and changes them: which
// offsets are carved blocks, where a block's pool (or sub-pool) is, whether an address is in our
// pools at all (the pool map), the pop of a pool's first free block (carving the next ones when
// its list runs dry, unlinking it when it fills).
//
// Owns: popBlock, carveBatch, unlinkFull (with a sub-pool's fill counted: subPoolFilled) and the
// tests they and free make (carved, linkOk, carveOk, poolOf, isOurs, and the block boundary by a pool's INVERSE word:
// onBoundary, inverseOk, sizeOfPool). Must not: take or give back pools (arenas.ts), or decide what goes to
// JS (obmalloc.ts): a function here returns 0 / false, having written nothing, when it cannot.

import { CARVE_BYTES, FreeBlock, Pool, Remote, SubPool } from "./layout";
import { alignShift, fillsBase, limitBase, mapBase, mapBytes, mapEnd, mapHighAt, nClasses, peakBase, poolBits, poolMask, poolShift, rawStart, threaded } from "./state";

/** A pool's INVERSE word for blocks of `size` bytes (size > 0): ceil(2^32 / size), JS's blockInverse (src/constants.ts). */
@inline export function inverseOf(size: u32): u32 {
  return 0xffffffff / size + 1;
}

/** inv is inverseOf(size): inv * size lies in [2^32, 2^32 + size), which holds for one inv (no division). */
@inline export function inverseOk(inv: u32, size: u32): bool {
  return <u64>inv * <u64>size - (<u64>1 << 32) < <u64>size;
}

/**
 * off (a u32 offset from pool's first block, below 2^20) is a multiple of the block size whose
 * inverse is inv (Pool.INVERSE): one multiplication, where `off % size` took a division (Lemire,
 * Kaser & Kurz; JS's onBoundary, src/constants.ts). An inv of 0 (damaged) passes nothing.
 */
@inline export function onBoundary(off: u32, inv: u32): bool {
  return off * inv < inv;
}

/**
 * The block size of pool: its class's (SZIDX), when that is one of the heap's and its INVERSE word
 * is that size's (JS's sizeOfPool); 0 else (JS reports it).
 */
@inline export function sizeOfPool(pool: u32): u32 {
  const idx = load<u32>(pool + Pool.SZIDX);
  if (idx >= nClasses) return 0;
  const size = (idx + 1) << alignShift;
  return inverseOk(load<u32>(pool + Pool.INVERSE), size) ? size : 0;
}

/**
 * off (an offset from pool's first block, any u32) lies among the pool's carved blocks: below
 * NEXTOFFSET - OVERHEAD, compared in i64 so that a damaged NEXTOFFSET below the header carves
 * nothing (JS's compare, in doubles) instead of wrapping round to 4 GiB (everything carved).
 */
@inline export function carved(off: u32, pool: u32): bool {
  return <i64>off < carvedEnd(pool);
}

/**
 * The pool's carved bytes past its header: NEXTOFFSET - OVERHEAD, NEXTOFFSET taken at most the
 * pool slot's size (JS's mallocIn masks it so): a NEXTOFFSET a stray write raised must not make
 * a wild link (a live block's data, past the memory) a carved block (test/stray-writes.test.ts).
 */
@inline export function carvedEnd(pool: u32): i64 {
  return <i64>min<u32>(load<u32>(pool + Pool.NEXTOFFSET), poolMask + 1) - Pool.OVERHEAD;
}

/**
 * linkOk's offset of link nb: its offset from pool's first block, with nb's low three bits moved
 * to the top (a misaligned link is far past any pool). linkOk(nb, pool) is exactly
 * `t < poolMask + 1 - OVERHEAD && t + OVERHEAD < NEXTOFFSET` (t = linkOff(nb, pool)): carved()'s
 * i64 compare against min(NEXTOFFSET, the slot's size) - OVERHEAD as two u32 compares (the first
 * bounds t, so the add cannot wrap), which malloc's inline pop writes out.
 */
@inline export function linkOff(nb: u32, pool: u32): u32 {
  return (nb - pool - Pool.OVERHEAD) | (nb << 29);
}

/** A free block's link nb of pool is a carved block start: past the header, below NEXTOFFSET, 8-byte aligned (JS's mallocIn rule). */
@inline export function linkOk(nb: u32, pool: u32): bool {
  return carved(linkOff(nb, pool), pool);
}

/**
 * Where blocks of pool may be carved up to, as an offset from it (JS's carveEnd): its bytes (the
 * pool's, or its own SUB word's size for a sub-pool), or its arena's header when that lies within
 * them (an arena's last pool).
 */
@inline export function carveEnd(pool: u32): u32 {
  // Off its slot's start a header is a sub-pool's, whatever its SUB word says (JS's poolBytes).
  const end: u32 = ((pool & poolMask) | (load<u32>(pool + Pool.SUB) & SubPool.SHIFT_MASK)) == 0 ? poolMask + 1 : <u32>1 << SubPool.SHIFT;
  const ao = load<u32>(pool + Pool.ARENA);
  return ao > pool && ao - pool < end ? ao - pool : end;
}

/**
 * The next block of pool, at offset no and `size` bytes, may be carved (JS's extendPool checks the same): the pool's
 * blocks handed out, with the one being popped (its count + 1), are exactly the carved ones, and
 * it ends by carveEnd.
 */
@inline export function carveOk(pool: u32, no: u32, size: u32): bool {
  return <u64>no + size <= <u64>carveEnd(pool) && <i64>(<u64>load<u32>(pool) + 1) * <i64>size == <i64>no - Pool.OVERHEAD;
}

/** The pool or sub-pool header of p in our pools (obmalloc's poolOf: SubPool in src/constants.ts). */
@inline export function poolOf(p: u32): u32 {
  const slot = p & poolBits;
  // A select (free's first pass takes it at every call): the one size, so a damaged word stays in the slot.
  return select<u32>(slot, p & ~((<u32>1 << SubPool.SHIFT) - 1), (load<u32>(slot + Pool.SUB) & SubPool.SHIFT_MASK) == 0);
}

@inline export function isOurs(p: u32): bool {
  const q = p >> poolShift;
  const i = q >> 3;
  if (i < mapBytes) return ((load<u8>(mapBase + i) >> (q & 7)) & 1) != 0;
  return i < mapEnd && isOursHigh(q);
}

/** isOurs() of pool slot q past the map's low part (a heap over 256 MiB): its bit in the high part (src/obmalloc). */
export function isOursHigh(q: u32): bool {
  const hi = load<u32>(mapHighAt);
  const at = hi + (q >> 3) - mapBytes;
  // A damaged H.POOL_MAP_HIGH is never followed out of the memory (JS reports it).
  return hi != 0 && <u64>at < (<u64>memory.size() << 16) && ((load<u8>(at) >> (q & 7)) & 1) != 0;
}

/**
 * Pop a block of pool, the head of its class's list: its first free block, whose link must be
 * a carved block of the pool (else 0: JS reports it); when the list runs dry, carve the next
 * never-used block; when that was the pool's last block, unlink the full pool (with threads only
 * when it is marked FULL already). 0 when JS must do it.
 */
@inline export function popBlock(pool: u32): u32 {
  // pool lies in the memory: mallocMore bounded a usedpools head (as calloc's mallocFast does),
  // poolFromArena checked its pool. bp must lie in the pool's slot (else JS reports it).
  const bp = load<u32>(pool + Pool.FREEBLOCK);
  // bp must hold the free tag (FreeBlock in src/constants.ts): a link a stray write pointed at a
  // live block, or a freed block written since, goes to JS, which reports it.
  // Each test returns on its own: AssemblyScript makes a value of `a || b`, which V8 turns into a
  // boolean and tests again (setcc, movzx: ~4 instructions a term; this path runs at every fill
  // of a pool: binary trees' strings, half their mallocs).
  if (bp - pool > poolMask) return 0;
  if ((bp & 7) != 0) return 0;
  if (bp >= (<u32>memory.size() << 16) - Pool.OVERHEAD) return 0;
  if (load<u32>(bp + FreeBlock.TAG) != FreeBlock.TAG_VALUE) return 0;
  const nb = load<u32>(bp);
  if (nb != 0) {
    // The link read from the freed block: inside its pool, past the header, below the carved
    // blocks (JS release mode's rule, mallocIn's one unsigned compare). Anything else goes to JS
    // (which reports it). Whether it is on a block boundary costs a division: hardened: true
    // checks that, and a hardened heap never takes this fast path (hasFastPath); check() finds it.
    if (!linkOk(nb, pool)) return 0;
    store<u32>(pool + Pool.FREEBLOCK, nb);
  } else {
    // A link of 0 proves nothing of bp: the pool's FREEBLOCK must itself be a carved block of it
    // (an overflow of the block before the header lands there; JS's mallocIn checks the same).
    if (!carved(bp - pool - Pool.OVERHEAD, pool)) return 0;
    const no = load<u32>(pool + Pool.NEXTOFFSET);
    if (no <= load<u32>(pool + Pool.MAXNEXTOFFSET)) {
      // Carve the next never-used block, unless (threads) other threads freed blocks into the
      // pool: JS takes those first. The block must be the one after every block handed out (bp
      // with them: the count times the size is what was carved) and end by carveEnd (within the
      // pool or sub-pool, below an arena header: JS's extendPool): a NEXTOFFSET, MAXNEXTOFFSET,
      // SZIDX or COUNT a stray write changed would carve over a live block, and an INVERSE word
      // not SZIDX's would let free take blocks that are none (sizeOfPool 0). JS reports those.
      const size = sizeOfPool(pool);
      if (size == 0) return 0;
      if (!carveOk(pool, no, size)) return 0;
      if (threaded) if (load<u32>(pool + Pool.REMOTE) >> 1 != 0) return 0;
      carveBatch(pool, no, size);
    } else if (!unlinkFull(pool)) return 0;
  }
  store<u32>(pool, load<u32>(pool) + 1);
  store<u32>(bp + FreeBlock.TAG, 0); // handed out: live (FreeBlock in src/constants.ts)
  return bp;
}

/**
 * Carve never-used blocks onto pool's empty free list from offset no (carveOk passed), as JS's
 * extendPool does: CARVE_BYTES of blocks at once (at least one), each linked to the next and
 * tagged free, while each starts at MAXNEXTOFFSET at most and ends by carveEnd (a damaged
 * MAXNEXTOFFSET never carves past the pool or its arena's header).
 * One block at a time sent every pop of a pool being filled out of malloc's inline pop (its
 * link is 0): binary trees carved a quarter of their nodes so (docs/performance.md, session 31).
 */
@inline export function carveBatch(pool: u32, no: u32, size: u32): void {
  // popBlock tested no <= MAXNEXTOFFSET and carveOk no + size <= carveEnd: k >= 1.
  let k = CARVE_BYTES / size;
  const byMax = (load<u32>(pool + Pool.MAXNEXTOFFSET) - no) / size + 1;
  const byEnd = (carveEnd(pool) - no) / size;
  if (byMax < k) k = byMax;
  if (byEnd < k) k = byEnd;
  if (k == 0) k = 1; // a size over CARVE_BYTES carves one block, as JS's max(1, ...) (sizes from SZIDX end at 512: a guard)
  const first = pool + no;
  const last = first + (k - 1) * size;
  for (let b = first; b < last; b += size) {
    store<u32>(b, b + size);
    store<u32>(b + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  }
  store<u32>(last, 0);
  store<u32>(last + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  store<u32>(pool + Pool.FREEBLOCK, first);
  store<u32>(pool + Pool.NEXTOFFSET, no + k * size);
}

/**
 * pool's list neighbours next and prev (its NEXT and PREV words) lie in the memory, below end,
 * and both link back to it: pool may be taken out of its list (JS's unlinkPool checks the same).
 * One test a return, as popBlock's.
 */
@inline export function linksBack(pool: u32, next: u32, prev: u32, end: u32): bool {
  if (next >= end) return false;
  if (prev >= end) return false;
  if (load<u32>(next + Pool.PREV) != pool) return false;
  return load<u32>(prev + Pool.NEXT) == pool;
}

/**
 * bp, the pool's last free block, is being handed out: the pool leaves usedpools (obmalloc's
 * extendPool and unlinkPool), when both neighbours link back to it. With threads, only a pool
 * marked FULL already (marking it takes an atomic operation, and blocks may arrive: JS).
 */
@inline export function unlinkFull(pool: u32): bool {
  if (threaded) if (load<u32>(pool + Pool.REMOTE) != Remote.FULL) return false;
  const next = load<u32>(pool + Pool.NEXT);
  const prev = load<u32>(pool + Pool.PREV);
  const end = <u32>(memory.size() << 16) - Pool.OVERHEAD; // a damaged link is never followed out of the memory
  // linksBack's tests, written out: through the helper V8 made a value of its result and tested
  // it again (3 instructions a fill, binary trees' strings +0.2%; this runs at every fill).
  if (next >= end) return false;
  if (prev >= end) return false;
  if (load<u32>(next + Pool.PREV) != pool) return false;
  if (load<u32>(prev + Pool.NEXT) != pool) return false;
  store<u32>(next + Pool.PREV, prev);
  store<u32>(prev + Pool.NEXT, next);
  store<u32>(pool + Pool.FREEBLOCK, 0);
  if (!threaded) if ((load<u32>(pool + Pool.SUB) & SubPool.SHIFT_MASK) != 0) subPoolFilled(pool);
  return true;
}

/**
 * A sub-pool filled (unlinkFull, heaps without threads): its class's fills counted, and a class
 * that churns young no more (its PEAK raised to its LIMIT), as JS's subPoolFilled (obmalloc/
 * subpools.ts; the rule: SubPool in src/constants.ts). Out of line: a fill of a whole pool pays
 * one load and test.
 */
export function subPoolFilled(pool: u32): void {
  if (rawStart) return; // its counts are where FILLS lies (SubPool in src/constants.ts)
  const idx = load<u32>(pool + Pool.SZIDX);
  if (idx >= nClasses) return;
  const at = fillsBase + (idx << 1); // 16-bit counts (SubPool.FILLS), at most 0xffff
  const fills = <u32>load<u16>(at) + 1;
  if (fills > 0xffff) return;
  store<u16>(at, <u16>fills);
  if (fills < SubPool.FILL_FLOOR) return;
  const pk = peakBase + (idx << 2);
  const peak = load<u32>(pk);
  if (fills >> SubPool.FILL_RATIO_SHIFT < peak >> SubPool.SHIFT) return;
  const limit = load<u32>(limitBase + (idx << 2));
  if (peak < limit) store<u32>(pk, limit);
}
