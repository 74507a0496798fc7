// wasm/obmalloc/state.ts — the heap's numbers the fast path works with (obmalloc.ts, pool.ts,
// arenas.ts, rawstart.ts), read from the heap header by init(), and the two switches JS turns
// (divert: a fault plan; stop: a detached handle).
//
// Owns: those globals and init(), divert(), stop(). Must not: allocate or free (the other files),
// or change a number after init() but diverted, nFast and freeOwner (numbers.ts says which a
// specialised copy takes as constants).

import { H, Pool, Size, Slot, SubPool } from "./layout";
import { initRaw } from "./raw";

// The heap's numbers, set by init() only and read-only after it: exported, so that a linked
// module can be specialised to them (merge.ts, src/compat/wasm-specialize.ts). diverted and nFast
// change after init (divert()): never specialised; freeOwner (below) only without threads.
export let usedBase: u32 = 0; // this thread's usedpools entry 0
export let owner: u32 = 0; // the OWNER word of the pools this thread allocates from: Pool.OWNER_KEY + its slot
export let threaded: bool = false;
export let poolShift: u32 = 31;
export let poolMask: u32 = 0;
export let poolBits: u32 = 0; // ~poolMask: the pool slot of p is p & poolBits
export let mapBase: u32 = 0;
export let mapBytes: u32 = 0; // the low part's (0 until init(): nothing is ours, every call goes to the slow paths)
export let mapEnd: u32 = 0; // bytes of both parts: a slot byte from mapBytes up is the high part's
export let mapHighAt: u32 = 0; // the header word H.POOL_MAP_HIGH: the high part's address, 0 until JS makes it
export let alignShift: u32 = 3;
export let nClasses: u32 = 0;
export let usableAt: u32 = 0; // the header word H.USABLE_ARENAS
export let nfpBase: u32 = 0; // nfp2lasta[0]
export let poolsPerArena: u32 = 0;
export let heldBase: u32 = 0; // SubPool.HELD[0]: bytes of pools each class holds
export let peakBase: u32 = 0; // SubPool.PEAK[0]: the most each class ever held
export let subFreeBase: u32 = 0; // SubPool.FREE: the head of the free sub-pool list
export let limitBase: u32 = 0; // SubPool.LIMIT[0]: a class that never held its limit takes a sub-pool (all 0 with subPools: false)
export let fillsBase: u32 = 0; // SubPool.FILLS[0]: how many times each class's sub-pools filled (churn)
export let subBase: u32 = 0; // the sub-pool table (SubPool): the raw start's limits and counts (RawStart)
export let rawStart: bool = false; // SubPool.RAW_FIRST != 0: the raw start is on and its counts kept
export let diverted: bool = false; // divert(true): every allocation goes to JS (frees stay here)
export let nFast: u32 = 0; // nClasses, or 0 while diverted: malloc's one class test also sends a diverted call out
let stopped: bool = false; // stop(): the handle was detached, every call goes to JS (which refuses it)
// owner, for free's tests. stop() changes it (so that no pool is this thread's), and stop() is
// for threads heaps only (heap.detachThread): a specialised module takes it as a constant when
// the heap has no threads (src/compat/wasm-specialize.ts), as it takes owner.
export let freeOwner: u32 = 0;

/**
 * While a fault plan is in place on this handle (heap.failAllocations), every malloc, calloc and
 * realloc goes to JS, where the plan decides; frees are not affected by a plan.
 */
export function divert(on: bool): void {
  diverted = on || stopped;
  nFast = diverted ? 0 : nClasses;
}

/**
 * The heap handle was detached (heap.detachThread): from now on every call goes to JS, which
 * refuses it, as the handle's families do. Its thread slot may be another thread's soon: no pool
 * is this instance's any more (free's owner test fails for all), no allocation is served here.
 * For good: init() does not undo it.
 */
export function stop(): void {
  stopped = true;
  diverted = true;
  nFast = 0;
  freeOwner = 0xffffffff;
}

/** Read the heap header at heapBase; slot: this thread's (0 without threads). */
export function init(heapBase: u32, slot: u32): void {
  const hw = heapBase;
  poolShift = load<u32>(hw + (H.POOL_SHIFT << 2));
  poolMask = (1 << poolShift) - 1;
  poolBits = ~poolMask;
  alignShift = load<u32>(hw + (H.ALIGN_SHIFT << 2));
  nClasses = Size.SMALL_REQUEST_THRESHOLD >> alignShift;
  diverted = diverted || stopped;
  nFast = diverted ? 0 : nClasses;
  threaded = load<u32>(hw + (H.MAX_THREADS << 2)) != 0;
  owner = Pool.OWNER_KEY + slot;
  freeOwner = stopped ? 0xffffffff : owner;
  // The slot's usedpools: in the header (slot 0, orphans) or a raw chunk JS made when the slot was claimed.
  usedBase = load<u32>(heapBase + load<u32>(hw + (H.THREAD_SLOTS << 2)) + slot * Slot.BYTES + Slot.USED);
  mapBase = heapBase + load<u32>(hw + (H.POOL_MAP << 2));
  mapBytes = load<u32>(hw + (H.POOL_MAP_BYTES << 2));
  mapEnd = mapBytes + load<u32>(hw + (H.POOL_MAP_HIGH_BYTES << 2));
  mapHighAt = hw + (H.POOL_MAP_HIGH << 2);
  usableAt = hw + (H.USABLE_ARENAS << 2);
  nfpBase = heapBase + load<u32>(hw + (H.NFP2LASTA << 2));
  poolsPerArena = 1 << (load<u32>(hw + (H.ARENA_SHIFT << 2)) - poolShift);
  heldBase = heapBase + load<u32>(hw + (H.SUBPOOLS << 2)) + SubPool.HELD;
  peakBase = heapBase + load<u32>(hw + (H.SUBPOOLS << 2)) + SubPool.PEAK;
  subFreeBase = heapBase + load<u32>(hw + (H.SUBPOOLS << 2)) + SubPool.FREE;
  limitBase = heapBase + load<u32>(hw + (H.SUBPOOLS << 2)) + SubPool.LIMIT;
  fillsBase = heapBase + load<u32>(hw + (H.SUBPOOLS << 2)) + SubPool.FILLS;
  subBase = heapBase + load<u32>(hw + (H.SUBPOOLS << 2));
  rawStart = load<u32>(subBase + SubPool.RAW_FIRST) != 0;
  initRaw(heapBase, !threaded && mapBytes != 0);
}
