// wasm/obmalloc/obmalloc.ts — the object allocator's fast paths in AssemblyScript, on the heap
// that the TypeScript allocator (src/obmalloc/, src/raw/) formats and manages, in the same
// WebAssembly.Memory: C code linked to these exports allocates without leaving WebAssembly, and
// JS and wasm allocate from and free into one heap. The module's entry point (malloc, free,
// calloc, realloc, init).
//
// Owns: CPython's fast paths, exactly: malloc pops the first free block of the head pool of its
// size class in this thread's usedpools (or carves the pool's next never-used block, or hands
// out a pool's last free block and unlinks the now full pool), free pushes a block of one of
// this thread's pools back (relinking a pool that was full; keeping a pool that empties when it
// is its class's only pool, as every heap may: see check()), calloc and realloc around them.
// On a heap without threads (no lock) also the usual way to a pool: taking one from the first
// usable arena (its free-pool list or its next never-used pool), as the TypeScript allocator's
// poolFromArena does, with the same checks, and giving an emptied pool back to its arena or to
// the free sub-pool list (freeEmptiedWhole, freeEmptiedSub), as returnPool does, unless its
// arena would then be entirely free (JS gives such an arena back); and blocks of 0 or > 512
// bytes through raw.ts (the
// raw allocator's common paths), and, with the raw start on (rawFirst), a young class's blocks
// served raw and the counts of small raw chunks kept as JS keeps them. Every popped link is checked to lie in its pool, past the
// header, below the carved blocks, as JS release mode checks it (not the block boundary: that is
// hardened: true's check, and hardened heaps do not use this module); every freed pointer is
// checked to be a block start; every pool taken from an arena is checked as JS does.
// Must not: do anything else. A new arena, arenas given back, growth, the lock (everything but
// the fast paths on threads heaps), blocks other threads freed (REMOTE/DELAYED), a block of
// another thread's pool, anything
// invalid: the imported slow paths (the TypeScript allocator's family, bound to this thread's
// heap handle) do all of it, and report what is wrong. Holds no state but numbers read from the
// heap header at init().

import { Arena, CARVE_BYTES, Chunk, Flag, FreeBlock, H, Pool, RawStart, Size, Slot, Remote, SubPool } from "./layout";
import { chunkSizeFor, initRaw, rawFree, rawMalloc, rawRealloc, sizeOf } from "./raw";

/** realloc copies blocks of up to this many bytes with a loop of 8-byte stores (copySmall). */
const COPY_LOOP_MAX: u32 = 128;

@external("pymalloc", "malloc") declare function mallocSlow(n: u32): u32;
@external("pymalloc", "free") declare function freeSlow(p: u32): void;
@external("pymalloc", "calloc") declare function callocSlow(nelem: u32, elsize: u32): u32;
@external("pymalloc", "realloc") declare function reallocSlow(p: u32, n: u32): u32;

// The heap's numbers, set by init() only and read-only after it: exported, so that a linked
// module can be specialised to them (merge.ts, src/compat/wasm-specialize.ts). diverted and nFast
// change after init (divert()): never specialised; freeOwner (below) only without threads.
export let usedBase: u32 = 0; // this thread's usedpools entry 0
export let owner: u32 = 0; // this thread's slot: the OWNER of the pools it allocates from
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
let subBase: u32 = 0; // the sub-pool table (SubPool): the raw start's limits and counts (RawStart)
let rawStart: bool = false; // SubPool.RAW_FIRST != 0: the raw start is on and its counts kept
let diverted: bool = false; // divert(true): every allocation goes to JS (frees stay here)
let nFast: u32 = 0; // nClasses, or 0 while diverted: malloc's one class test also sends a diverted call out
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
  owner = slot;
  freeOwner = stopped ? 0xffffffff : slot;
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
  subBase = heapBase + load<u32>(hw + (H.SUBPOOLS << 2));
  rawStart = load<u32>(subBase + SubPool.RAW_FIRST) != 0;
  initRaw(heapBase, !threaded && mapBytes != 0);
}

/**
 * off (an offset from pool's first block, any u32) lies among the pool's carved blocks: below
 * NEXTOFFSET - OVERHEAD, compared in i64 so that a damaged NEXTOFFSET below the header carves
 * nothing (JS's compare, in doubles) instead of wrapping round to 4 GiB (everything carved).
 */
@inline function carved(off: u32, pool: u32): bool {
  return <i64>off < carvedEnd(pool);
}

/**
 * The pool's carved bytes past its header: NEXTOFFSET - OVERHEAD, NEXTOFFSET taken at most the
 * pool slot's size (JS's mallocIn masks it so): a NEXTOFFSET a stray write raised must not make
 * a wild link (a live block's data, past the memory) a carved block (test/stray-writes.test.ts).
 */
@inline function carvedEnd(pool: u32): i64 {
  return <i64>min<u32>(load<u32>(pool + Pool.NEXTOFFSET), poolMask + 1) - Pool.OVERHEAD;
}

/** A free block's link nb of pool is a carved block start: past the header, below NEXTOFFSET, 8-byte aligned (JS's mallocIn rule). */
@inline function linkOk(nb: u32, pool: u32): bool {
  return carved((nb - pool - Pool.OVERHEAD) | (nb << 29), pool);
}

/**
 * Where blocks of pool may be carved up to, as an offset from it (JS's carveEnd): its bytes (the
 * pool's, or its own SUB word's size for a sub-pool), or its arena's header when that lies within
 * them (an arena's last pool).
 */
@inline function carveEnd(pool: u32): u32 {
  const end: u32 = (load<u32>(pool + Pool.SUB) & SubPool.SHIFT_MASK) == 0 ? poolMask + 1 : <u32>1 << SubPool.SHIFT;
  const ao = load<u32>(pool + Pool.ARENA);
  return ao > pool && ao - pool < end ? ao - pool : end;
}

/**
 * The next block of pool, at offset no and `size` bytes, may be carved (JS's carveOk): the pool's
 * blocks handed out, with the one being popped (its count + 1), are exactly the carved ones, and
 * it ends by carveEnd.
 */
@inline function carveOk(pool: u32, no: u32, size: u32): bool {
  return <u64>no + size <= <u64>carveEnd(pool) && <i64>(<u64>load<u32>(pool) + 1) * <i64>size == <i64>no - Pool.OVERHEAD;
}

/** The pool or sub-pool header of p in our pools (obmalloc's poolOf: SubPool in src/constants.ts). */
@inline function poolOf(p: u32): u32 {
  const slot = p & poolBits;
  // A select (free's first pass takes it at every call): the one size, so a damaged word stays in the slot.
  return select<u32>(slot, p & ~((<u32>1 << SubPool.SHIFT) - 1), (load<u32>(slot + Pool.SUB) & SubPool.SHIFT_MASK) == 0);
}

@inline function isOurs(p: u32): bool {
  const q = p >> poolShift;
  const i = q >> 3;
  if (i < mapBytes) return ((load<u8>(mapBase + i) >> (q & 7)) & 1) != 0;
  return i < mapEnd && isOursHigh(q);
}

/** isOurs() of pool slot q past the map's low part (a heap over 256 MiB): its bit in the high part (src/obmalloc). */
function isOursHigh(q: u32): bool {
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
@inline function popBlock(pool: u32): u32 {
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
      // pool or sub-pool, below an arena header: JS's carveOk): a NEXTOFFSET, MAXNEXTOFFSET, SIZE
      // or COUNT a stray write changed would carve over a live block. JS reports those.
      const size = load<u32>(pool + Pool.SIZE);
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
@inline function carveBatch(pool: u32, no: u32, size: u32): void {
  // popBlock tested no <= MAXNEXTOFFSET and carveOk no + size <= carveEnd: k >= 1.
  let k = CARVE_BYTES / size;
  const byMax = (load<u32>(pool + Pool.MAXNEXTOFFSET) - no) / size + 1;
  const byEnd = (carveEnd(pool) - no) / size;
  if (byMax < k) k = byMax;
  if (byEnd < k) k = byEnd;
  if (k == 0) k = 1; // a SIZE over CARVE_BYTES (damaged: classes end at 512) carves one block, as JS's max(1, ...)
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
 * bp, the pool's last free block, is being handed out: the pool leaves usedpools (obmalloc's
 * extendPool and unlinkPool), when both neighbours link back to it. With threads, only a pool
 * marked FULL already (marking it takes an atomic operation, and blocks may arrive: JS).
 */
@inline function unlinkFull(pool: u32): bool {
  if (threaded) if (load<u32>(pool + Pool.REMOTE) != Remote.FULL) return false;
  const next = load<u32>(pool + Pool.NEXT);
  const prev = load<u32>(pool + Pool.PREV);
  const end = <u32>(memory.size() << 16) - Pool.OVERHEAD; // a damaged link is never followed out of the memory
  // One test a return, as popBlock's.
  if (next >= end) return false;
  if (prev >= end) return false;
  if (load<u32>(next + Pool.PREV) != pool) return false;
  if (load<u32>(prev + Pool.NEXT) != pool) return false;
  store<u32>(next + Pool.PREV, prev);
  store<u32>(prev + Pool.NEXT, next);
  store<u32>(pool + Pool.FREEBLOCK, 0);
  return true;
}

/**
 * usedpools[idx] (sentinel sp) is empty: a pool from the first usable arena, as obmalloc's
 * poolFromArena takes it (its free-pool list first, then its next never-used pool; the arena
 * list and nfp2lasta kept in order), linked in as the class's only pool. 0 when JS must do it:
 * threads (the lock), a young class (one that never held its SubPool.LIMIT takes a sub-pool:
 * SubPool in src/constants.ts), no usable arena (a new one), or anything damaged (JS reports it).
 */
function poolFromArena(idx: u32, sp: u32): u32 {
  if (threaded) return 0;
  const peakAt = peakBase + (idx << 2);
  if (load<u32>(peakAt) < load<u32>(limitBase + (idx << 2))) return subPoolFromList(idx, sp);
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
    store<u32>(pool + Pool.SIZE, size);
    store<u32>(pool + Pool.NEXTOFFSET, Pool.OVERHEAD + size);
    // The arena's last pool ends where the arena header starts.
    store<u32>(pool + Pool.MAXNEXTOFFSET, min<u32>(1 << poolShift, ao - pool) - size);
    store<u32>(pool + Pool.FREEBLOCK, pool + Pool.OVERHEAD);
    store<u32>(pool + Pool.OVERHEAD, 0);
    store<u32>(pool + Pool.OVERHEAD + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  }
  return tookPool(idx, sp, pool, 1 << poolShift);
}

/**
 * Class idx (sentinel sp, its usedpools empty) took the pool or sub-pool at pool, of `bytes`: what
 * the class holds and its peak (SubPool.HELD, PEAK) grow, and the pool becomes its list. Returns pool.
 */
@inline function tookPool(idx: u32, sp: u32, pool: u32, bytes: u32): u32 {
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
function subPoolFromList(idx: u32, sp: u32): u32 {
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
  store<u32>(pool + Pool.SIZE, size);
  store<u32>(pool + Pool.NEXTOFFSET, Pool.OVERHEAD + size);
  store<u32>(pool + Pool.MAXNEXTOFFSET, room - size);
  store<u32>(pool + Pool.FREEBLOCK, pool + Pool.OVERHEAD);
  store<u32>(pool + Pool.OVERHEAD, 0);
  store<u32>(pool + Pool.OVERHEAD + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  return tookPool(idx, sp, pool, 1 << sub);
}

/**
 * free(p) empties the pool (or sub-pool) at pool, listed with others of its class (fb: its free
 * list's head, non-zero). It stays, moved to the list's tail, as the class's spare, unless the
 * tail already holds an empty pool: then a sub-pool goes onto its free list (freeEmptiedSub), a
 * whole pool back to its arena (freeEmptiedWhole), and what those leave (an arena that would be
 * entirely free, anything damaged) is JS's (false, nothing written). So a program whose blocks of a
 * class hover at a pool's boundary (binary trees) does not give a pool back and take one again
 * for every tree; at most one empty pool of a class stays listed, as check() requires, and
 * heap.collect() gives it back.
 */
function freeEmptied(p: u32, pool: u32, fb: u32): bool {
  const idx = load<u32>(pool + Pool.SZIDX);
  if (idx >= nClasses) return false;
  const sp = usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
  const tail = load<u32>(sp + Pool.PREV);
  const end = <u32>(memory.size() << 16) - Pool.OVERHEAD;
  if (tail >= end) return false; // a damaged tail word is never read through (it trapped): JS reports it
  if (tail != pool) if (load<u32>(tail) == 0) return freeEmptiedSub(p, pool, fb, true);
  const next = load<u32>(pool + Pool.NEXT);
  const prev = load<u32>(pool + Pool.PREV);
  if (next >= end) return false;
  if (prev >= end) return false;
  if (load<u32>(next + Pool.PREV) != pool) return false;
  if (load<u32>(prev + Pool.NEXT) != pool) return false;
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
  return true;
}

/**
 * free(p) empties the sub-pool at pool (fb: its free list's head), listed with others of its
 * class (listed), or full and so out of usedpools (fb 0: a sub-pool of one block): the block
 * freed, the sub-pool (out of usedpools) onto the free sub-pool list, as obmalloc's returnPool
 * and freeSubPool do; false (nothing written) when JS must do it: a whole pool (back to its
 * arena), its slot's last sub-pool in use (the slot goes back), threads, or a damaged link.
 */
function freeEmptiedSub(p: u32, pool: u32, fb: u32, listed: bool): bool {
  if (threaded) return false;
  const sub = load<u32>(pool + Pool.SUB) & SubPool.SHIFT_MASK;
  if (sub == 0) return freeEmptiedWhole(p, pool, fb, listed);
  const slot = pool & ~poolMask;
  const sw = load<u32>(slot + Pool.SUB);
  if ((sw & SubPool.SHIFT_MASK) != sub) return false;
  if (sw >> SubPool.USED_SHIFT <= 1) return false;
  const idx = load<u32>(pool + Pool.SZIDX);
  if (idx >= nClasses) return false;
  if (!emptiedOk(pool, p, <u32>1 << SubPool.SHIFT)) return false;
  const end = <u32>(memory.size() << 16) - Pool.OVERHEAD;
  const listAt = subFreeBase;
  const head = load<u32>(listAt);
  if (head >= end) return false;
  if (listed) {
    const next = load<u32>(pool + Pool.NEXT);
    const prev = load<u32>(pool + Pool.PREV);
    if (next >= end) return false;
    if (prev >= end) return false;
    if (load<u32>(next + Pool.PREV) != pool) return false;
    if (load<u32>(prev + Pool.NEXT) != pool) return false;
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
  return true;
}

/**
 * An arena header at ao (in the memory, its magic in place): the checks poolFromArena and
 * freeEmptiedWhole make before they write through an arena link (JS's arenaOf reports the rest).
 */
@inline function arenaAt(ao: u32): bool {
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
function freeEmptiedWhole(p: u32, pool: u32, fb: u32, listed: bool): bool {
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
  if (!emptiedOk(pool, p, poolMask + 1)) return false;
  const end = <u32>(memory.size() << 16) - Pool.OVERHEAD;
  let next: u32 = 0;
  let prev: u32 = 0;
  if (listed) {
    next = load<u32>(pool + Pool.NEXT);
    prev = load<u32>(pool + Pool.PREV);
    if (next >= end) return false;
    if (prev >= end) return false;
    if (load<u32>(next + Pool.PREV) != pool) return false;
    if (load<u32>(prev + Pool.NEXT) != pool) return false;
  }
  // The arenas whose links are written below, checked first (JS's returnPool checks the same):
  // ao was full, so it goes to the list's head, which has no arena before it; or ao moves to just
  // after the last arena with nf free pools (lastnf), out of its place, whose neighbours must
  // link back to it, before lastnf's successor, which must link back to lastnf.
  const nfAt = nfpBase + (nf << 2);
  let lastnf: u32 = 0;
  let aprev: u32 = 0;
  let anext: u32 = 0;
  let lnext: u32 = 0;
  if (nf == 0) {
    const head = load<u32>(usableAt);
    if (head != 0) {
      if (!arenaAt(head)) return false;
      if (load<u32>(head + Arena.PREV) != 0) return false;
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
      if (anext != 0) {
        if (!arenaAt(anext)) return false;
        if (load<u32>(anext + Arena.PREV) != ao) return false;
      }
      lnext = load<u32>(lastnf + Arena.NEXT);
      if (lnext != 0) {
        if (!arenaAt(lnext)) return false;
        if (load<u32>(lnext + Arena.PREV) != lastnf) return false;
      }
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
    lnext = load<u32>(lastnf + Arena.NEXT); // ao's own unlink may have changed it (ao was lastnf's successor)
    store<u32>(ao + Arena.PREV, lastnf);
    store<u32>(ao + Arena.NEXT, lnext);
    store<u32>(lastnf + Arena.NEXT, ao);
    if (lnext != 0) store<u32>(lnext + Arena.PREV, ao);
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
function emptiedOk(pool: u32, p: u32, bytes: u32): bool {
  const size = load<u32>(pool + Pool.SIZE);
  const no = load<u32>(pool + Pool.NEXTOFFSET);
  const max = load<u32>(pool + Pool.MAXNEXTOFFSET);
  // The carve words fit the pool or sub-pool of `bytes` (so every block read lies in its slot, in the memory).
  if (size == 0) return false;
  if (<u64>max + size > <u64>bytes) return false;
  if (no > max + size) return false;
  if (no < Pool.OVERHEAD + size) return false;
  const first = pool + Pool.OVERHEAD;
  const carvedBytes = no - Pool.OVERHEAD;
  for (let b = first; b < pool + no; b += size) {
    if (b == p) continue; // the block being freed: live until now
    const link = load<u32>(b);
    if (load<u32>(b + FreeBlock.TAG) != FreeBlock.TAG_VALUE) return false;
    if (link != 0) if (link - first >= carvedBytes) return false;
  }
  return true;
}

/** A free pool of class size `size` about to be reused with its kept list: obmalloc's checkKeptList. */
function keptListOk(pool: u32, size: u32, ao: u32): bool {
  const no = load<u32>(pool + Pool.NEXTOFFSET);
  const fb = load<u32>(pool + Pool.FREEBLOCK);
  const max = load<u32>(pool + Pool.MAXNEXTOFFSET);
  return (
    load<u32>(pool + Pool.SIZE) == size &&
    max == min<u32>(1 << poolShift, ao - pool) - size &&
    no >= Pool.OVERHEAD + size &&
    no <= max + size &&
    (no - Pool.OVERHEAD) % size == 0 &&
    fb >= pool + Pool.OVERHEAD &&
    fb < pool + no &&
    (fb - pool - Pool.OVERHEAD) % size == 0
  );
}

// The raw start (RawStart in src/constants.ts; JS: obmalloc/subpools.ts rawYoung, rawCame,
// rawWent): the object allocator's raw chunks of <= RawStart.BUCKETS x 16 bytes counted by size.

/** malloc(n) of class idx, its usedpools empty, goes to the raw allocator: the class never took a pool and n's chunk size is below both limits. */
@inline function rawYoung(idx: u32, n: u32): bool {
  if (load<u32>(peakBase + (idx << 2)) != 0) return false;
  const b = chunkSizeFor(n) >> 4;
  return load<u32>(subBase + SubPool.RAW_LIVE + (b << 2)) < load<u32>(subBase + SubPool.RAW_FIRST) && load<u32>(subBase + SubPool.RAW_EVER + (b << 2)) < load<u32>(subBase + SubPool.RAW_EVER_LIMIT);
}

/** The raw chunk at payload p (not 0) was handed out: counted by its size, `ever` added to its ever count. Returns p. */
function rawCame(p: u32, ever: u32): u32 {
  const b = sizeOf(load<u32>(p - 4)) >> 4;
  if (b < RawStart.BUCKETS) {
    const at = subBase + SubPool.RAW_LIVE + (b << 2);
    store<u32>(at, load<u32>(at) + 1);
    const ea = subBase + SubPool.RAW_EVER + (b << 2);
    if (load<u32>(ea) < load<u32>(subBase + SubPool.RAW_EVER_LIMIT)) store<u32>(ea, load<u32>(ea) + ever);
  }
  return p;
}

/** A raw chunk whose size word was sw went back: its size's live count, never below 0. */
function rawWent(sw: u32): void {
  const b = sizeOf(sw) >> 4;
  if (b > 0 && b < RawStart.BUCKETS) {
    const at = subBase + SubPool.RAW_LIVE + (b << 2);
    const v = load<u32>(at);
    if (v > 0) store<u32>(at, v - 1);
  }
}

/**
 * A block of class idx (sentinel sp, head pool `pool`) when the head pool's free list cannot
 * simply be popped: no pool (the raw start's raw chunk, or a pool from an arena), a free list
 * run dry (carve, or unlink the full pool), a damaged link (JS). 0 when the fast path cannot
 * serve it. Out of line: the pop that malloc inlines stays small.
 */
function mallocMore(n: u32, idx: u32, sp: u32, pool: u32): u32 {
  if (pool == sp) {
    if (rawStart && rawYoung(idx, n)) {
      const q = rawMalloc(n);
      if (q != 0) return rawCame(q, 1);
    }
    pool = poolFromArena(idx, sp);
    if (pool == 0) return 0;
  } else {
    // A damaged usedpools head: JS reports it.
    if (pool > (<u32>memory.size() << 16) - Pool.OVERHEAD) return 0;
    if (load<u32>(pool + Pool.SZIDX) != idx) return 0;
  }
  return popBlock(pool);
}

/** A block of n bytes (1..512) from this thread's pools, or 0 when the fast path cannot serve it. */
@inline function mallocFast(n: u32): u32 {
  const idx = (n - 1) >> alignShift;
  if (idx >= nClasses) return 0;
  const sp = usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
  const pool = load<u32>(sp + Pool.NEXT);
  if (pool != sp) {
    // The head pool and its first free block lie in the memory (a damaged word past it is JS's
    // to report: 0; popBlock relies on it). Off malloc's path: calloc's.
    const end = <u32>(memory.size() << 16) - Pool.OVERHEAD;
    if (pool > end) return 0; // damaged: JS reports it
    if (load<u32>(pool + Pool.SZIDX) != idx) return 0;
    const bp = load<u32>(pool + Pool.FREEBLOCK);
    if (bp > end) return 0;
    // The common case, popBlock's first branch: a free block whose link is a carved block.
    const nb = load<u32>(bp);
    // nb == 0 (the list's end) fails the compare too: its offset wraps to 2^32 - pool - OVERHEAD.
    // A misaligned bp fails the tag test (see malloc).
    if (linkOk(nb, pool)) if (load<u32>(bp + FreeBlock.TAG) == FreeBlock.TAG_VALUE) {
      store<u32>(pool + Pool.FREEBLOCK, nb);
      store<u32>(pool, load<u32>(pool) + 1);
      store<u32>(bp + FreeBlock.TAG, 0);
      return bp;
    }
  }
  return mallocMore(n, idx, sp, pool);
}

/**
 * Free p, in our pools (isOurs), when it is a live block start of one of this thread's pools
 * (in the pool, past its header, below the carved blocks, on a block boundary, the pool in
 * use, not its first free block: a double free) and the pool does not empty unless it is its
 * class's only listed pool; false (nothing written) when JS must do it or report it.
 */
@inline function freeSmall(p: u32): bool {
  let pool = p & ~poolMask;
  let off = p - pool - Pool.OVERHEAD;
  if (!carved(off, pool)) {
    // Past the slot's first pool's carved blocks: a block of another sub-pool of the slot?
    pool = poolOf(p);
    off = p - pool - Pool.OVERHEAD;
    if (!carved(off, pool)) return false;
  }
  const cnt = load<u32>(pool);
  const fb = load<u32>(pool + Pool.FREEBLOCK);
  if (fb == p) return false;
  const size = load<u32>(pool + Pool.SIZE);
  if (size == 0) return false;
  if (off % size != 0) return false;
  if (load<u32>(pool + Pool.OWNER) != freeOwner) return false;
  // One test on the common path for two rare cases. cnt 0: no live block (JS reports it). cnt 1:
  // the pool empties: kept (still listed, empty) when it is its class's only listed pool (both
  // links the sentinel), as threads heaps keep one; else back to its arena (JS, under the lock).
  if (cnt <= 1) {
    if (cnt == 0) return false;
    if (fb == 0) return freeEmptiedSub(p, pool, 0, false);
    if (load<u32>(pool + Pool.NEXT) != load<u32>(pool + Pool.PREV)) return freeEmptied(p, pool, fb);
  }
  if (fb == 0) return relinkFull(p, pool, cnt); // it was full
  store<u32>(p, fb);
  store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  store<u32>(pool + Pool.FREEBLOCK, p);
  store<u32>(pool, cnt - 1);
  return true;
}

export function malloc(n: u32): u32 {
  // mallocFast written out: the pop of the head pool's first free block, every other small case
  // in one out-of-line call (mallocSmall); raw blocks (0 or > 512 bytes) and diverted calls
  // (nFast 0) below.
  const idx = (n - 1) >> alignShift;
  if (idx < nFast) {
    const sp = usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
    const pool = load<u32>(sp + Pool.NEXT);
    // The usedpools head lies in the memory, FREEBLOCK in its pool's slot: a damaged word past
    // the memory trapped here where JS errs (test/stray-writes.test.ts; wasm-damage's unchecked
    // mode). Both bounded: 0-8 instructions an event in bench:wasm --instructions (json 167 both
    // ways; minidom 171 -> 179, within what one build measures run to run; bounding both
    // against memory.size() was ~6 when measured on 2026-12-02). The head must be a pool of
    // this class (JS's mallocIn's test: the sentinel's SZIDX word is the next class's PREV
    // link, never a class, so one test for both); any other head goes to mallocSmall, which
    // leaves a damaged one to JS (it reports it).
    const end = (<u32>memory.size() << 16) - Pool.OVERHEAD;
    // Nested tests, not &&: AssemblyScript's && is a value, which V8 made a boolean of (setcc,
    // movzx) and tested again: 4 instructions a test (docs/performance.md, session 31).
    if (pool < end) if (load<u32>(pool + Pool.SZIDX) == idx) {
      const bp = load<u32>(pool + Pool.FREEBLOCK);
      // bp in the memory: a FREEBLOCK a stray write changed (or a user's data over the header,
      // past a carve a MAXNEXTOFFSET raised) must not trap here (mallocSmall leaves it to JS,
      // which reports it). One compare, against the memory's end, not the pool's slot: a head a
      // stray write pointed at data near the memory's end has no slot in the memory. Where bp
      // lies is then proved as JS's mallocIn proves it: its link must be a carved block of this
      // pool (linkOk; 0 fails it too) and bp must hold the free tag.
      // Its alignment needs no test of its own here: a bp off a free block by 1-7 bytes reads
      // the tag's high bytes (0xff) or what follows it as the low byte of its tag word, never
      // FreeBlock.TAG_VALUE's (0xab), so the tag test below refuses it and mallocSmall leaves
      // it to JS (JS reads words through bp >>> 2, rounded: it tests bp's alignment itself).
      if (bp < end) {
        const nb = load<u32>(bp);
        // bp must hold the free tag (FreeBlock), as JS's mallocIn checks: else mallocSmall, JS.
        if (linkOk(nb, pool)) if (load<u32>(bp + FreeBlock.TAG) == FreeBlock.TAG_VALUE) {
          store<u32>(pool + Pool.FREEBLOCK, nb);
          store<u32>(pool, load<u32>(pool) + 1);
          store<u32>(bp + FreeBlock.TAG, 0); // handed out: live (FreeBlock in src/constants.ts)
          return bp;
        }
      }
    }
    return mallocSmall(n, idx, sp, pool);
  }
  if (!diverted) {
    const q = rawMalloc(n);
    if (q != 0) return rawStart ? rawCame(q, 1) : q;
  }
  return mallocSlow(n);
}

/** malloc(n) of class idx (sentinel sp, head pool `pool`) when its first free block cannot simply be popped. */
function mallocSmall(n: u32, idx: u32, sp: u32, pool: u32): u32 {
  const p = mallocMore(n, idx, sp, pool);
  return p != 0 ? p : mallocSlow(n);
}

/**
 * p is a live block of a full pool (fb 0) of this thread, in use by two or more (free's first
 * pass or freeSmall tested it): push it and put the pool back at the front of its class's
 * usedpools (FULL, with threads, stays set), when its class is one of the heap's (JS's linkPool
 * reports the rest), checked before the first write. The list's head is followed as JS's
 * linkPool follows it (a check that it links back cost ~6 instructions an event: a free into a
 * full pool is common). The head must link back to the sentinel (JS's linkPool tests the same):
 * a damaged head word is never written through (past the memory it trapped here; inside it, the
 * pool's address landed in whatever block the word pointed at). False (nothing written) when JS
 * must do it: JS reports it.
 */
function relinkFull(p: u32, pool: u32, cnt: u32): bool {
  const idx = load<u32>(pool + Pool.SZIDX);
  if (idx >= nClasses) return false;
  const sp = usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
  const next = load<u32>(sp + Pool.NEXT);
  if (next >= <u32>(memory.size() << 16) - Pool.OVERHEAD) return false;
  if (load<u32>(next + Pool.PREV) != sp) return false;
  store<u32>(p, 0);
  store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  store<u32>(pool + Pool.FREEBLOCK, p);
  store<u32>(pool, cnt - 1);
  store<u32>(pool + Pool.NEXT, next);
  store<u32>(pool + Pool.PREV, sp);
  store<u32>(next + Pool.PREV, pool);
  store<u32>(sp + Pool.NEXT, pool);
  return true;
}

export function free(p: u32): void {
  // isOurs(p) written out as two tests, so that no boolean is made of it on the common path.
  // NULL is never ours (the pool map's first bit is the heap header's, never a pool's): tested
  // off the common path.
  const q = p >> poolShift;
  const i = q >> 3;
  if (i < mapBytes) {
    if (((load<u8>(mapBase + i) >> (q & 7)) & 1) != 0) {
      // freeSmall's common case first: a live block start of the slot's first (or only) pool,
      // this thread's, not its first free block, the pool neither full nor emptying. freeSmall
      // decides the rest (another sub-pool of the slot, a pool that fills or empties, errors)
      // and makes every test again.
      // The block's pool: its slot, or, in a slot cut into sub-pools (its SUB word), its sub-pool
      // (poolOf). Young classes' blocks are in sub-pools: with the slot alone,
      // a block of any sub-pool but the slot's first went to freeSmall's second pass (binary
      // trees' strings: 1.17 M of 1.22 M frees, ~100 instructions more each).
      const pool = poolOf(p);
      const off = p - pool - Pool.OVERHEAD;
      const fb = load<u32>(pool + Pool.FREEBLOCK);
      const cnt = load<u32>(pool);
      const lim = carvedEnd(pool); // i64: see carved()
      const other = load<u32>(pool + Pool.OWNER) ^ freeOwner;
      // Four tests as one: each term (u32 values widened to i64) is negative exactly when its
      // test fails: off past the carved blocks, fb == p (a double free), fewer than 2 blocks in
      // use (the pool empties), another thread's pool. fb == 0 (the pool was full) is relinked
      // by relinkFull, out of line, without freeSmall's second round of these tests (a sub-pool
      // of a few large blocks fills and un-fills at nearly every call: binary trees' strings,
      // 480,460 relinks in 1,000,000 strings, 4% of that part's instructions).
      // (Written as nested tests, V8 made a boolean of each pair: more instructions.) p's own
      // words are not read (its free tag: a cold block's load at every free costs more time than
      // its instructions say); a block freed twice is refused when a pop would hand it out again.
      const bad = (lim - 1 - <i64>off) | (<i64>(fb ^ p) - 1) | (<i64>cnt - 2) | (0 - <i64>other);
      if (bad >= 0) {
        // On a block boundary: the division last, once the pool is known to be in use (and
        // its block size not 0: a damaged word is freeSmall's to refuse, never a trap here).
        const size = load<u32>(pool + Pool.SIZE);
        if (size != 0) if (off % size == 0) {
          if (fb != 0) {
            store<u32>(p, fb);
            store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
            store<u32>(pool + Pool.FREEBLOCK, p);
            store<u32>(pool, cnt - 1);
            return;
          }
          if (relinkFull(p, pool, cnt)) return;
        }
      }
      if (!freeSmall(p)) freeSlow(p);
      return;
    }
  } else if (i < mapEnd && isOursHigh(q)) {
    if (!freeSmall(p)) freeSlow(p);
    return;
  }
  if (p != 0) {
    const sw = rawFree(p);
    if (sw == 0) freeSlow(p);
    else if (rawStart) rawWent(sw);
  }
}

export function calloc(nelem: u32, elsize: u32): u32 {
  if (diverted) return callocSlow(nelem, elsize);
  const n64 = <u64>nelem * <u64>elsize;
  if (n64 - 1 < <u64>Size.SMALL_REQUEST_THRESHOLD) {
    const n = <u32>n64;
    const p = mallocFast(n);
    if (p != 0) {
      memory.fill(p, 0, n);
      return p;
    }
  } else if (n64 - 1 < <u64>Chunk.MAX_REQUEST) {
    const n = <u32>n64;
    const p = rawMalloc(n);
    if (p != 0) {
      memory.fill(rawStart ? rawCame(p, 1) : p, 0, n);
      return p;
    }
  }
  return callocSlow(nelem, elsize);
}

/**
 * Copy a small block's first n bytes (n <= 512) from p to q, both blocks of our pools, 8-byte
 * aligned, each at least n rounded up to 8 bytes long (their sizes are multiples of 8): 8 bytes a
 * store up to COPY_LOOP_MAX, memory.copy above it. V8 runs memory.copy as a call out of the
 * generated code into C++ (memmove), ~100 instructions before the first byte moves; a realloc of a
 * 16-byte block to 32 (Lua's tables, 1.6 million a binary-trees run) moves two words.
 */
@inline function copySmall(q: u32, p: u32, n: u32): void {
  if (n > COPY_LOOP_MAX) {
    memory.copy(q, p, n);
    return;
  }
  for (let i: u32 = 0; i < n; i += 8) store<u64>(q + i, load<u64>(p + i));
}

/** CPython's pymalloc_realloc: in place when the class still fits and shrinks by < 25%. */
export function realloc(p: u32, n: u32): u32 {
  if (p == 0) return malloc(n);
  if (diverted) return reallocSlow(p, n);
  if (!isOurs(p)) {
    // The size word, for the counts (rawRealloc checks p itself; a p past the memory reads 0 here).
    const sw = p - 4 < (<u32>memory.size() << 16) - 4 ? load<u32>(p - 4) : 0;
    const q = rawRealloc(p, n);
    if (q == 0) return reallocSlow(p, n);
    if (!rawStart) return q;
    rawWent(sw);
    return rawCame(q, 0);
  }
  const pool = poolOf(p);
  const off = p - pool - Pool.OVERHEAD;
  const size = load<u32>(pool + Pool.SIZE);
  // The block size is its class's (JS's liveSize): realloc copies, and keeps in place, by it, so
  // a SIZE word a stray write changed must not be trusted (JS reports it).
  const idx = load<u32>(pool + Pool.SZIDX);
  // Not a live block, or one that holds the free tag: JS walks its list, reports it. One test a
  // return (popBlock's note: AssemblyScript's || is a value V8 tests twice).
  if (!carved(off, pool)) return reallocSlow(p, n);
  if (load<u32>(pool) == 0) return reallocSlow(p, n);
  if (idx >= nClasses) return reallocSlow(p, n);
  if (size != (idx + 1) << alignShift) return reallocSlow(p, n);
  if (off % size != 0) return reallocSlow(p, n);
  if (load<u32>(p + FreeBlock.TAG) == FreeBlock.TAG_VALUE) return reallocSlow(p, n);
  let keep = size;
  if (n <= size) {
    if (4 * n > 3 * size) return p;
    keep = n;
  }
  const q = malloc(n);
  if (q == 0) return 0;
  copySmall(q, p, keep);
  // p, checked above as a live block of pool (q is another class's, so pool is as it was), goes
  // back as free's common case pushes it, without free's tests again (the pool map, the block's
  // pool, its division): when the pool neither empties nor was full and is this thread's.
  const cnt = load<u32>(pool);
  const fb = load<u32>(pool + Pool.FREEBLOCK);
  if (cnt >= 2) if (fb != 0) if (load<u32>(pool + Pool.OWNER) == freeOwner) {
    store<u32>(p, fb);
    store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
    store<u32>(pool + Pool.FREEBLOCK, p);
    store<u32>(pool, cnt - 1);
    return q;
  }
  free(p);
  return q;
}
