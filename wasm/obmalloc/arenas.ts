// wasm/obmalloc/arenas.ts — pools taken and given back without leaving wasm, on heaps without
// threads: a pool from the first usable arena (its free-pool list or its next never-used pool)
// or a sub-pool from the free sub-pool list, as the TypeScript allocator's poolFromArena and
// subPoolFor take them; an emptied pool kept as its class's spare, or given back to its arena
// (freeEmptiedWhole) or to the free sub-pool list (freeEmptiedSub), as returnPool does.
//
// Owns: those functions and the checks they make of every arena, list and pool word before the
// first write. Must not: make or release arenas, cut slots into sub-pools, or report anything:
// JS does (each function returns 0 / false, having written nothing, when JS must do it).

import { Arena, FreeBlock, Pool, Slot, SubPool } from "./layout";
import { alignShift, heldBase, limitBase, nClasses, nfpBase, owner, peakBase, poolMask, poolShift, poolsPerArena, subFreeBase, threaded, usableAt, usedBase } from "./state";
import { carveEnd, inverseOf, isOurs, linksBack, poolOf, popBlock, sizeOfPool } from "./pool";
import { keptAt } from "./raw";

/**
 * usedpools[idx] (sentinel sp) is empty: a pool from the first usable arena, as obmalloc's
 * poolFromArena takes it (its free-pool list first, then its next never-used pool; the arena
 * list and nfp2lasta kept in order), linked in as the class's only pool. 0 when JS must do it:
 * threads (the lock), a young class (one that never held its SubPool.LIMIT takes a sub-pool:
 * SubPool in src/constants.ts), no usable arena (a new one), or anything damaged (JS reports it).
 */
export function poolFromArena(idx: u32, sp: u32): u32 {
  if (threaded) return 0;
  if (young(idx)) return subPoolFromList(idx, sp);
  const ao = load<u32>(usableAt);
  if (ao == 0) return 0;
  if (!arenaAt(ao)) return 0;
  const nf = load<u32>(ao + Arena.NFREEPOOLS);
  if (nf - 1 >= poolsPerArena) return 0; // a usable arena has 1..poolsPerArena free pools
  // Its last free pool taken, it leaves the usable list: the next arena must link back to it.
  const nx = load<u32>(ao + Arena.NEXT);
  if (nf == 1) if (nx != 0) {
    if (nx >= <u32>(memory.size() << 16) - Arena.OVERHEAD) return 0;
    if (load<u32>(nx + Arena.PREV) != ao) return 0;
  }
  const size = (idx + 1) << alignShift;
  let pool = load<u32>(ao + Arena.FREEPOOLS);
  if (pool != 0) {
    // An empty pool of this arena; if it kept a free list of this class, that list is reused.
    if ((pool & poolMask) != 0) return 0;
    if (!isOurs(pool)) return 0;
    if (load<u32>(pool + Pool.ARENA) != ao) return 0;
    if (load<u32>(pool) != 0) return 0;
    if (load<u32>(pool + Pool.SUB) != 0) return 0;
    if (load<u32>(pool + Pool.SZIDX) == idx) if (!keptListOk(pool, size, ao)) return 0;
    store<u32>(ao + Arena.FREEPOOLS, load<u32>(pool + Pool.NEXT));
  } else {
    // The next never-carved pool. With no pool on the free-pool list, every free pool of the
    // arena is never carved, so it lies exactly nf pools before the arena's end (JS's takeSlot
    // tests the same): a POOL_ADDRESS a stray write moved would start a pool over one in use, or
    // below the arena. JS reports it.
    pool = load<u32>(ao + Arena.POOL_ADDRESS);
    if ((pool & poolMask) != 0) return 0;
    if (!isOurs(pool)) return 0;
    if (pool >= ao) return 0;
    if (pool != load<u32>(ao + Arena.FIRST) + ((load<u32>(ao + Arena.NTOTALPOOLS) - nf) << poolShift)) return 0;
    store<u32>(ao + Arena.POOL_ADDRESS, pool + (1 << poolShift));
  }
  const at = nfpBase + (nf << 2);
  if (load<u32>(at) == ao) store<u32>(at, 0);
  if (nf > 1) store<u32>(at - 4, ao);
  store<u32>(ao + Arena.NFREEPOOLS, nf - 1);
  if (nf == 1) {
    store<u32>(usableAt, nx);
    if (nx != 0) store<u32>(nx + Arena.PREV, 0);
    store<u32>(ao + Arena.NEXT, 0);
  }
  store<u32>(pool + Pool.OWNER, owner);
  store<u32>(pool + Pool.REMOTE, 0);
  if (load<u32>(pool + Pool.SZIDX) != idx) {
    // Last used for another class (or never): start it afresh, one block on its free list.
    store<u32>(pool + Pool.SZIDX, idx);
    store<u32>(pool + Pool.INVERSE, inverseOf(size));
    store<u32>(pool + Pool.NEXTOFFSET, Pool.OVERHEAD + size);
    // The arena's last pool ends where the arena header starts.
    store<u32>(pool + Pool.MAXNEXTOFFSET, min<u32>(1 << poolShift, ao - pool) - size);
    store<u32>(pool + Pool.FREEBLOCK, pool + Pool.OVERHEAD);
    store<u32>(pool + Pool.OVERHEAD, 0);
    store<u32>(pool + Pool.OVERHEAD + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  }
  return tookPool(idx, sp, pool, 1 << poolShift);
}

/** Class idx (< nClasses) is young: it never held its limit (nor churned), and takes sub-pools (SubPool in src/constants.ts). */
@inline export function young(idx: u32): bool {
  return load<u32>(peakBase + (idx << 2)) < load<u32>(limitBase + (idx << 2));
}

/**
 * Class idx (sentinel sp, its usedpools empty) took the pool or sub-pool at pool, of `bytes`: what
 * the class holds and its peak (SubPool.HELD, PEAK) grow, and the pool becomes its list. Returns pool.
 */
@inline export function tookPool(idx: u32, sp: u32, pool: u32, bytes: u32): u32 {
  const heldAt = heldBase + (idx << 2);
  const held = load<u32>(heldAt) + bytes;
  store<u32>(heldAt, held);
  const peakAt = peakBase + (idx << 2);
  if (held > load<u32>(peakAt)) store<u32>(peakAt, held);
  store<u32>(pool + Pool.NEXT, sp);
  store<u32>(pool + Pool.PREV, sp);
  store<u32>(sp + Pool.NEXT, pool);
  store<u32>(sp + Pool.PREV, pool);
  return pool;
}

/**
 * usedpools[idx] (sentinel sp) of a young class is empty: a free sub-pool from the free list,
 * linked in as the class's only pool, as obmalloc's subPoolFor takes it. 0 when JS must do it:
 * no free sub-pool (JS cuts a pool slot), or anything damaged.
 */
export function subPoolFromList(idx: u32, sp: u32): u32 {
  const size = (idx + 1) << alignShift;
  const sub: u32 = SubPool.SHIFT;
  const listAt = subFreeBase;
  const pool = load<u32>(listAt);
  if (pool == 0) return 0;
  if ((pool & ((<u32>1 << sub) - 1)) != 0) return 0;
  if (!isOurs(pool)) return 0;
  if ((load<u32>(pool + Pool.SUB) & SubPool.SHIFT_MASK) != sub) return 0;
  if (load<u32>(pool) != 0) return 0;
  if (load<u32>(pool + Pool.SZIDX) != Pool.SZIDX_NONE) return 0;
  if (load<u32>(pool + Pool.PREV) != 0) return 0;
  const next = load<u32>(pool + Pool.NEXT);
  if (next != 0) {
    if (next >= <u32>(memory.size() << 16) - Pool.OVERHEAD) return 0;
    if (load<u32>(next + Pool.PREV) != pool) return 0;
  }
  const slot = pool & ~poolMask;
  const sw = load<u32>(slot + Pool.SUB);
  if ((sw & SubPool.SHIFT_MASK) != sub) return 0;
  // Its bytes: up to the arena header when that lies in it (obmalloc's subRoom).
  const ao = load<u32>(pool + Pool.ARENA);
  let room: u32 = <u32>1 << sub;
  if (ao > pool && ao - pool < room) room = ao - pool;
  if (room < Pool.OVERHEAD + size) return 0;
  store<u32>(listAt, next);
  if (next != 0) store<u32>(next + Pool.PREV, 0);
  store<u32>(slot + Pool.SUB, sw + (1 << SubPool.USED_SHIFT));
  store<u32>(pool + Pool.OWNER, owner);
  store<u32>(pool + Pool.REMOTE, 0);
  store<u32>(pool + Pool.SZIDX, idx);
  store<u32>(pool + Pool.INVERSE, inverseOf(size));
  store<u32>(pool + Pool.NEXTOFFSET, Pool.OVERHEAD + size);
  store<u32>(pool + Pool.MAXNEXTOFFSET, room - size);
  store<u32>(pool + Pool.FREEBLOCK, pool + Pool.OVERHEAD);
  store<u32>(pool + Pool.OVERHEAD, 0);
  store<u32>(pool + Pool.OVERHEAD + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  return tookPool(idx, sp, pool, 1 << sub);
}

/**
 * free(p) empties the pool (or sub-pool) at pool, listed with others of its class (fb: its free
 * list's head, non-zero). A sub-pool stays, moved to the list's tail, as the class's spare, unless
 * the tail already holds an empty pool: then it goes onto the free sub-pool list
 * (freeEmptiedSub). A whole pool goes back to its arena (freeEmptiedWhole; kept as the spare only
 * in a threads heap). What those leave (an arena that would be entirely free, anything damaged) is
 * JS's (false, nothing written). So a program whose blocks of a young class hover at a sub-pool's
 * boundary does not give one back and take one again every time; at most one empty pool of a
 * class stays listed, as check() requires, and heap.collect() gives it back.
 */
export function freeEmptied(p: u32, pool: u32, fb: u32): bool {
  const idx = load<u32>(pool + Pool.SZIDX);
  if (idx >= nClasses) return false;
  const sp = usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
  const tail = load<u32>(sp + Pool.PREV);
  const end = <u32>(memory.size() << 16) - Pool.OVERHEAD;
  if (tail >= end) return false; // a damaged tail word is never read through (it trapped): JS reports it
  if (tail != pool) if (load<u32>(tail) == 0) return freeEmptiedSub(p, pool, fb, true);
  // A whole pool is never kept as its class's spare (heaps without threads): it goes back to its
  // arena, as JS's free gives it back. Kept, it held its arena against the raw allocator's
  // requests (Duktape's second call peaked 11.5% over its first) and cost compileall-head's
  // replay in wasm ~40 instructions an event (session 54). Its class's only pool is still kept
  // (freeSmall's keptAlone): a class hovering at one block does not give a pool back each time.
  if (!threaded) if ((load<u32>(pool + Pool.SUB) & SubPool.SHIFT_MASK) == 0) return freeEmptiedWhole(p, pool, fb, true);
  const next = load<u32>(pool + Pool.NEXT);
  const prev = load<u32>(pool + Pool.PREV);
  if (!linksBack(pool, next, prev, end)) return false;
  if (load<u32>(tail + Pool.NEXT) != sp) return false;
  store<u32>(p, fb);
  store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  store<u32>(pool + Pool.FREEBLOCK, p);
  store<u32>(pool, 0);
  if (tail != pool) {
    store<u32>(next + Pool.PREV, prev);
    store<u32>(prev + Pool.NEXT, next);
    store<u32>(pool + Pool.PREV, tail);
    store<u32>(pool + Pool.NEXT, sp);
    store<u32>(tail + Pool.NEXT, pool);
    store<u32>(sp + Pool.PREV, pool);
  }
  keptAlone(pool); // the class's spare
  return true;
}

/**
 * free() keeps the emptied pool listed (its class's spare or only pool): marked (SubPool.KEPT, as
 * JS's keepSpare marks it) when it is all its slot (a sub-pool: KEPT_FRESH) or its arena (a whole
 * pool: KEPT_WHOLE) still holds, for JS to give back before the top grows (raw.ts keptFirst).
 * Heaps without threads.
 */
@inline export function keptAlone(pool: u32): void {
  if (threaded) return;
  const sw = load<u32>((pool & ~poolMask) + Pool.SUB);
  if ((sw & SubPool.SHIFT_MASK) != 0) {
    if (sw >>> SubPool.USED_SHIFT == 1) markFresh();
    return;
  }
  const ao = load<u32>(pool + Pool.ARENA);
  if (ao >= <u32>(memory.size() << 16) - Arena.OVERHEAD) return; // damaged: JS finds it
  if (load<u32>(ao + Arena.NFREEPOOLS) + 1 == load<u32>(ao + Arena.NTOTALPOOLS)) store<u32>(keptAt, load<u32>(keptAt) | SubPool.KEPT_WHOLE);
}

/** SubPool.KEPT_FRESH, the bit KEPT_WHOLE kept (JS's markKept). */
@inline function markFresh(): void {
  store<u32>(keptAt, (load<u32>(keptAt) & SubPool.KEPT_WHOLE) | SubPool.KEPT_FRESH);
}

/**
 * free(p) empties the sub-pool at pool (fb: its free list's head), listed with others of its
 * class (listed), or full and so out of usedpools (fb 0: a sub-pool of one block): the block
 * freed, the sub-pool (out of usedpools) onto the free sub-pool list, as obmalloc's returnPool
 * and freeSubPool do; false (nothing written) when JS must do it: a whole pool (back to its
 * arena), its slot's last sub-pool in use (the slot goes back), threads, or a damaged link.
 */
export function freeEmptiedSub(p: u32, pool: u32, fb: u32, listed: bool): bool {
  if (threaded) return false;
  const sub = load<u32>(pool + Pool.SUB) & SubPool.SHIFT_MASK;
  if (sub == 0) return freeEmptiedWhole(p, pool, fb, listed);
  const slot = pool & ~poolMask;
  const sw = load<u32>(slot + Pool.SUB);
  if ((sw & SubPool.SHIFT_MASK) != sub) return false;
  if (sw >> SubPool.USED_SHIFT <= 1) return false;
  const idx = load<u32>(pool + Pool.SZIDX);
  if (idx >= nClasses) return false;
  if (!emptiedOk(pool, p)) return false;
  const end = <u32>(memory.size() << 16) - Pool.OVERHEAD;
  const listAt = subFreeBase;
  const head = load<u32>(listAt);
  if (head >= end) return false;
  // Written through below: a free sub-pool at the list's head, or JS says what is wrong (linkFreeSub).
  if (head != 0 && ((head & ((<u32>1 << SubPool.SHIFT) - 1)) != 0 || load<u32>(head + Pool.PREV) != 0 || load<u32>(head) != 0 || load<u32>(head + Pool.SZIDX) != Pool.SZIDX_NONE)) return false;
  if (listed) {
    const next = load<u32>(pool + Pool.NEXT);
    const prev = load<u32>(pool + Pool.PREV);
    if (!linksBack(pool, next, prev, end)) return false;
    store<u32>(next + Pool.PREV, prev);
    store<u32>(prev + Pool.NEXT, next);
  }
  store<u32>(p, fb);
  store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  store<u32>(pool + Pool.FREEBLOCK, p);
  store<u32>(pool, 0);
  store<u32>(pool + Pool.SZIDX, Pool.SZIDX_NONE);
  const heldAt = heldBase + (idx << 2);
  const held = load<u32>(heldAt);
  store<u32>(heldAt, held > (<u32>1 << sub) ? held - (1 << sub) : 0);
  store<u32>(pool + Pool.NEXT, head);
  store<u32>(pool + Pool.PREV, 0);
  if (head != 0) store<u32>(head + Pool.PREV, pool);
  store<u32>(listAt, pool);
  store<u32>(slot + Pool.SUB, sw - (1 << SubPool.USED_SHIFT));
  if (sw >>> SubPool.USED_SHIFT == 2) markFresh(); // one left: perhaps a spare, holding the slot (JS's freeSubPool)
  return true;
}

/** Arena a's usable_arenas successor is 0 or an arena that links back to it (JS's checkedNext). */
@inline function nextLinksBack(a: u32): bool {
  const nx = load<u32>(a + Arena.NEXT);
  if (nx == 0) return true;
  if (!arenaAt(nx)) return false;
  return load<u32>(nx + Arena.PREV) == a;
}

/** Put ao into usable_arenas right after `after` (links checked first: nextLinksBack), as JS's linkArenaAfter. */
@inline function linkArenaAfter(ao: u32, after: u32): void {
  const nx = load<u32>(after + Arena.NEXT);
  store<u32>(ao + Arena.PREV, after);
  store<u32>(ao + Arena.NEXT, nx);
  store<u32>(after + Arena.NEXT, ao);
  if (nx != 0) store<u32>(nx + Arena.PREV, ao);
}

/**
 * An arena header at ao (in the memory, its magic in place): the checks poolFromArena and
 * freeEmptiedWhole make before they write through an arena link (JS's arenaOf reports the rest).
 */
@inline export function arenaAt(ao: u32): bool {
  if (ao >= <u32>(memory.size() << 16) - Arena.OVERHEAD) return false;
  return load<u32>(ao + Arena.MAGIC) == (Arena.MAGIC_VALUE ^ ao);
}

/**
 * free(p) empties the whole pool at pool (fb: its free list's head), listed with another empty
 * pool of its class (freeEmptied) or out of usedpools (listed false): the pool goes back to its
 * arena, of no class, as JS's returnPool and leaveClass give it back (its carved blocks checked
 * free first, emptiedOk; the arena moved in usable_arenas, which stays ordered by free pools,
 * nfp2lasta with it), when the arena keeps it: the arena still holds a pool in use, or is a
 * one-pool arena (JS keeps those that free() empties). An arena of several pools that would be
 * entirely free is JS's (it gives it back to the raw allocator unless it is the only usable one),
 * as is anything damaged (JS reports it): false, nothing written. Binary trees in Lua (whose heap
 * passes 64 one-pool arenas, so that its arenas hold several pools) emptied 9,228 pools a run
 * through JS before.
 */
export function freeEmptiedWhole(p: u32, pool: u32, fb: u32, listed: bool): bool {
  // A whole pool starts its slot: off it, a sub-pool whose SUB word was written to 0 (JS reports it).
  if ((pool & poolMask) != 0) return false;
  const idx = load<u32>(pool + Pool.SZIDX);
  if (idx >= nClasses) return false;
  const ao = load<u32>(pool + Pool.ARENA);
  if (!arenaAt(ao)) return false;
  if (pool < load<u32>(ao + Arena.FIRST)) return false;
  if (pool >= ao) return false;
  const total = load<u32>(ao + Arena.NTOTALPOOLS);
  const nf = load<u32>(ao + Arena.NFREEPOOLS);
  if (total - 1 >= poolsPerArena) return false; // 1..poolsPerArena pools
  if (nf + 1 >= total) if (total != 1 || nf != 0) return false; // entirely free: JS decides (or damaged)
  if (!emptiedOk(pool, p)) return false;
  const end = <u32>(memory.size() << 16) - Pool.OVERHEAD;
  let next: u32 = 0;
  let prev: u32 = 0;
  if (listed) {
    next = load<u32>(pool + Pool.NEXT);
    prev = load<u32>(pool + Pool.PREV);
    if (!linksBack(pool, next, prev, end)) return false;
  }
  // The arenas whose links are written below, checked first (JS's returnPool checks the same):
  // ao was full, so it goes to the list's head, which has no arena before it; or ao moves to just
  // after the last arena with nf free pools (lastnf), out of its place, whose neighbours must
  // link back to it, before lastnf's successor, which must link back to lastnf.
  const nfAt = nfpBase + (nf << 2);
  let lastnf: u32 = 0;
  let aprev: u32 = 0;
  let anext: u32 = 0;
  // A full arena of several pools joins those with one free pool after the last of them (JS's
  // returnPool: behind the one-pool arenas free() keeps, which lead the list).
  const after1: u32 = nf == 0 && total > 1 ? load<u32>(nfpBase + 4) : 0;
  if (nf == 0) {
    const head = load<u32>(usableAt);
    if (head != 0) {
      if (!arenaAt(head)) return false;
      if (load<u32>(head + Arena.PREV) != 0) return false;
    }
    if (after1 != 0) {
      if (!arenaAt(after1)) return false;
      if (!nextLinksBack(after1)) return false;
    }
  } else {
    lastnf = load<u32>(nfAt);
    if (lastnf != ao) {
      if (lastnf == 0) return false;
      if (!arenaAt(lastnf)) return false;
      aprev = load<u32>(ao + Arena.PREV);
      anext = load<u32>(ao + Arena.NEXT);
      if (aprev != 0) {
        if (!arenaAt(aprev)) return false;
        if (load<u32>(aprev + Arena.NEXT) != ao) return false;
      } else if (load<u32>(usableAt) != ao) return false;
      if (!nextLinksBack(ao)) return false;
      if (!nextLinksBack(lastnf)) return false;
    } else {
      aprev = load<u32>(ao + Arena.PREV);
      if (aprev != 0) if (!arenaAt(aprev)) return false;
    }
  }
  // The block freed, the pool out of its class (JS's free, then leaveClass).
  store<u32>(p, fb);
  store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  store<u32>(pool + Pool.FREEBLOCK, p);
  store<u32>(pool, 0);
  if (listed) {
    store<u32>(next + Pool.PREV, prev);
    store<u32>(prev + Pool.NEXT, next);
  }
  const heldAt = heldBase + (idx << 2);
  const held = load<u32>(heldAt);
  store<u32>(heldAt, held > poolMask + 1 ? held - (poolMask + 1) : 0);
  store<u32>(pool + Pool.SZIDX, Pool.SZIDX_NONE);
  // Onto its arena's free pools (JS's returnPool, the same writes in the same order).
  store<u32>(pool + Pool.NEXT, load<u32>(ao + Arena.FREEPOOLS));
  store<u32>(ao + Arena.FREEPOOLS, pool);
  if (after1 != 0) {
    // The arena was full: after the last arena with one free pool.
    linkArenaAfter(ao, after1);
    store<u32>(ao + Arena.NFREEPOOLS, 1);
    store<u32>(nfpBase + 4, ao);
    return true;
  }
  if (nf == 0) {
    // The arena was full, so not usable: it now has the fewest free pools and leads the list.
    const head = load<u32>(usableAt);
    store<u32>(ao + Arena.NEXT, head);
    store<u32>(ao + Arena.PREV, 0);
    if (head != 0) store<u32>(head + Arena.PREV, ao);
    store<u32>(usableAt, ao);
    store<u32>(ao + Arena.NFREEPOOLS, 1);
    if (load<u32>(nfpBase + 4) == 0) store<u32>(nfpBase + 4, ao);
    return true;
  }
  if (lastnf == ao) store<u32>(nfAt, aprev != 0 && load<u32>(aprev + Arena.NFREEPOOLS) == nf ? aprev : 0);
  store<u32>(ao + Arena.NFREEPOOLS, nf + 1);
  if (lastnf != ao) {
    // Keep the order: ao moves to just after the last arena that still has nf free pools.
    if (aprev != 0) store<u32>(aprev + Arena.NEXT, anext);
    else store<u32>(usableAt, anext);
    if (anext != 0) store<u32>(anext + Arena.PREV, aprev);
    linkArenaAfter(ao, lastnf); // reads lastnf's successor now: ao's own unlink may have changed it (ao was lastnf's successor)
  }
  const upAt = nfAt + 4;
  if (load<u32>(upAt) == 0) store<u32>(upAt, ao);
  return true;
}

/**
 * The sub-pool at pool, whose count is about to reach 0 by the free of p, holds no live block:
 * every other block carved in it holds the free tag and a link to a carved block or 0 (JS's
 * checkEmptied, obmalloc/subpools.ts). It goes onto the free sub-pool list and another class
 * carves it afresh, so a count a double free left one short (free a, free b, free a: the second
 * free of a is not its pool's last freed block, so not refused at the free) must not hand a live
 * block's bytes to another class: false, and JS, which makes the same test, reports it. One read
 * of each carved block's two words, when a sub-pool empties, as JS does.
 */
export function emptiedOk(pool: u32, p: u32): bool {
  const size = sizeOfPool(pool);
  const no = load<u32>(pool + Pool.NEXTOFFSET);
  const max = load<u32>(pool + Pool.MAXNEXTOFFSET);
  // The carve words fit the pool or sub-pool (so every block read lies in its slot, in the memory).
  if (size == 0) return false;
  // MAXNEXTOFFSET is what the pool was started with, to the byte: its end (carveEnd: the arena
  // header's place when that lies within it) less a block (JS's checkEmptied).
  if (<u64>max + size != <u64>carveEnd(pool)) return false;
  if (no > max + size) return false;
  if (no < Pool.OVERHEAD + size) return false;
  const first = pool + Pool.OVERHEAD;
  const carvedBytes = no - Pool.OVERHEAD;
  const stop = pool + no;
  // Every carved block but p (the block being freed: live until now), in two runs, before p and
  // after it, so that no block pays a test for p (the same blocks as one run that skips b == p:
  // a p off the blocks' grid skips none). ~1,600 pools emptied a compileall-head replay, ~1,300
  // instructions each (session 50).
  const mid = min<u32>(p, stop);
  let b = first;
  for (; b < mid; b += size) if (!heldFree(b, first, carvedBytes)) return false;
  if (b == p) b += size;
  for (; b < stop; b += size) if (!heldFree(b, first, carvedBytes)) return false;
  return true;
}

/**
 * emptiedOk's test of one carved block b: it holds the free tag and a link to a carved block
 * (its offset from first below carvedBytes) or 0. The link's range first: it is 0 in one block of
 * a pool only (its list's end), so the common block pays one test for it.
 */
@inline function heldFree(b: u32, first: u32, carvedBytes: u32): bool {
  const link = load<u32>(b);
  if (load<u32>(b + FreeBlock.TAG) != FreeBlock.TAG_VALUE) return false;
  if (link - first >= carvedBytes) if (link != 0) return false;
  return true;
}

/** A free pool of class size `size` about to be reused with its kept list: obmalloc's checkKeptList. */
export function keptListOk(pool: u32, size: u32, ao: u32): bool {
  const no = load<u32>(pool + Pool.NEXTOFFSET);
  const fb = load<u32>(pool + Pool.FREEBLOCK);
  const max = load<u32>(pool + Pool.MAXNEXTOFFSET);
  return (
    load<u32>(pool + Pool.INVERSE) == inverseOf(size) &&
    max == min<u32>(1 << poolShift, ao - pool) - size &&
    no >= Pool.OVERHEAD + size &&
    no <= max + size &&
    (no - Pool.OVERHEAD) % size == 0 &&
    fb >= pool + Pool.OVERHEAD &&
    fb < pool + no &&
    (fb - pool - Pool.OVERHEAD) % size == 0
  );
}
