/**
 * introspect/walk.ts — read-only walks over the heap's structures, shared by stats and check.
 *
 * Owns: iterating raw chunks (start to top), the pools of an arena, and (threads) the blocks
 * freed into pools by other threads that their owners have not taken back yet.
 * Must not: write to memory, or trust what it reads beyond the bounds it checks.
 */

import {
  Arena,
  Chunk,
  Debug,
  H,
  Flag,
  FreeBlock,
  Pool,
  Remote,
  Slot,
  SubPool,
  blockInverse,
  classSize,
  sizeClasses,
  sizeOf,
} from "../constants.js";
import { HeapCorruptionError, hex } from "../errors.js";
import type { Heap } from "../heap/heap.js";
import type { ObjectAllocator } from "../obmalloc/obmalloc.js";
import { isLiveTableBlock } from "../compat/live-table.js";

/**
 * The library's own raw blocks among the live ones, as a test of a block's address: the debug
 * quarantine ring, the sampler's state and tables, asMemPool's and the adapters' live-block
 * tables (allocator state, not a user's: walk(), leaks(), stats() and the debug hooks' walks
 * leave them out). Read once per walk: the ring's and the tables' addresses as they are now.
 */
export function ownBlocks(heap: Heap): (address: number) => boolean {
  const u32 = heap.rawAllocator.u32;
  const ring = u32[(heap.heapBase >>> 2) + H.QUARANTINE];
  const tables = heap.sampler?.tables();
  return (p) => (ring !== 0 && p === ring) || tables?.has(p) === true || isLiveTableBlock(u32, p);
}

export interface ChunkInfo {
  /** Chunk address (payload = chunk + 8). */
  chunk: number;
  size: number;
  flags: number;
  /** Free bytes: a free chunk (on a TLSF list) or a cached one (cached). */
  free: boolean;
  /** A chunk in the raw cache (RawCache): freed, kept unmerged for the next malloc of its size. */
  cached: boolean;
  /** An arena of the object allocator (flagged Flag.ARENA, not an internal chunk). */
  arena: boolean;
  /** The pool map's high part (H.POOL_MAP_HIGH): allocator state in a chunk flagged as an arena. */
  poolMap: boolean;
  /** The thread slot whose usedpools array (Used) this chunk is (allocator state flagged as an arena), or -1. */
  usedSlot: number;
  /**
   * A fence: pages a WebAssembly module grew for itself (its own memory.grow) in the middle of the
   * heap, inside a chunk the heap never hands out (raw/top.ts fence()). Their bytes are the
   * module's: nothing reads them.
   */
  fence: boolean;
  /** No user block: allocator state (poolMap, or a slot's usedpools) or a fence. */
  internal: boolean;
}

/** Visit every raw chunk from the heap start up to the top chunk. */
export function forEachChunk(heap: Heap, fn: (c: ChunkInfo) => void): void {
  const raw = heap.rawAllocator;
  const u32 = raw.u32;
  const top = raw.top;
  let c = raw.start;
  const lock = heap.lock;
  let n = 0;
  while (c < top) {
    // Every 1024 chunks, a heartbeat for threads that wait for the lock (a large heap's walk outlasted check()'s 2 s).
    if ((++n & 1023) === 0 && lock !== undefined) lock.beat();
    const sw = u32[(c + 4) >>> 2];
    const size = sizeOf(sw);
    if (size === 0 || c + size > top) throw new HeapCorruptionError(c + Chunk.SIZE, `chunk size ${size} runs past the top ${top} (a write over the chunk's header?)`, "Chunk.SIZE");
    // Only a chunk in use flagged as an arena can be internal: the three tests for it alone (this
    // walk runs under every stats(), once a run in the benchmark's instruction counts).
    const flagged = (sw & (Flag.ARENA | Flag.FREE)) === Flag.ARENA;
    const poolMap = flagged && raw.isMapChunk(c, sw);
    // The map's chunk holds no arena: H.POOL_MAP_HIGH moved onto an arena hid its blocks.
    if (poolMap && heap.objectAllocator.isArenaHeader(heap.objectAllocator.arenaHeader(c + Chunk.HEADER)))
      throw new HeapCorruptionError(heap.heapBase + H.POOL_MAP_HIGH * 4, `the pool map's high part ${hex(c + Chunk.HEADER)} is an arena (a write over the word?)`, "H.POOL_MAP_HIGH");
    const usedSlot = !flagged || poolMap ? -1 : raw.usedChunkSlot(c, sw);
    const fence = flagged && !poolMap && usedSlot < 0 && raw.isFence(c, sw);
    const internal = poolMap || usedSlot >= 0 || fence;
    const free = (sw & Flag.FREE) !== 0;
    fn({ chunk: c, size, flags: sw & Flag.MASK, free, cached: free && (sw & Flag.ARENA) !== 0, arena: !free && (sw & Flag.ARENA) !== 0 && !internal, poolMap, usedSlot, fence, internal });
    c += size;
  }
}

export interface PoolInfo {
  pool: number;
  /** Blocks in use (0 for a free or never-used pool). */
  count: number;
  /** The pool's COUNT word: blocks in use plus those freed by other threads, not yet taken back. */
  allocated: number;
  /** Threads: blocks freed into the pool by threads that do not own it, waiting for the owner. */
  pending: Set<number>;
  /** Size class index, or -1 when the pool holds none. */
  szidx: number;
  /** Block size of that class (0 when none). */
  size: number;
  /** Whether the pool was ever carved from the arena. */
  carved: boolean;
  /** Blocks carved so far (used or free). */
  carvedBlocks: number;
  /** Blocks the pool can hold. */
  capacity: number;
  /** Offset where the pool's room for blocks ends: the pool size, less the arena header in an arena's last pool. */
  end: number;
}

const NONE: Set<number> = new Set();

/**
 * Threads: blocks freed by threads that do not own their pool and not yet taken back by the
 * owner (each pool's REMOTE list and each thread slot's DELAYED list), by pool. Read while other
 * threads run, the lists may be changing: introspect a quiet heap. Every entry must be a carved
 * block of a pool in use, on one list at most once; anything else (a link out of its pool, a
 * cycle) is a HeapCorruptionError naming the word that holds it. Linear: each block is visited once.
 */
export function pendingFrees(heap: Heap): Map<number, Set<number>> {
  const out = new Map<number, Set<number>>();
  const o = heap.objectAllocator;
  if (!o.threaded) return out;
  const u32 = o.u32;
  const nClasses = sizeClasses(o.alignShift);
  /** Add b (read from the word at `at`, named `what`); false at the list's end. */
  const add = (b: number, at: number, what: string, pool0: number): boolean => {
    if (b === 0) return false;
    const pool = o.poolOf(b);
    const bad = (why: string): never => {
      throw new HeapCorruptionError(at, `${what} holds ${b >>> 0}: ${why}`, what);
    };
    if (!o.isOurs(b)) bad("not an address in the object allocator's pools");
    if (pool0 !== 0 && pool !== pool0) bad("a block of another pool");
    const szidx = u32[(pool + Pool.SZIDX) >>> 2];
    if (u32[pool >>> 2] === 0 || szidx >= nClasses) bad("a block of a pool that holds none");
    const off = b - pool - Pool.OVERHEAD;
    const size = classSize(szidx, o.alignShift);
    if (off < 0 || off % size !== 0 || b >= pool + u32[(pool + Pool.NEXTOFFSET) >>> 2]) bad("not a carved block start");
    // Every push writes the free tag (RemoteAllocator's pushRemote, pushDelayed): a list word a
    // stray write pointed at a live block would have it counted free.
    if ((u32[(b + FreeBlock.TAG) >>> 2] ^ FreeBlock.TAG_VALUE) !== 0) bad("a block without the free tag (a live block)");
    let s = out.get(pool);
    if (s === undefined) out.set(pool, (s = new Set()));
    if (s.has(b)) bad("a block already on a list of blocks freed by other threads (a cycle, or a double free)");
    s.add(b);
    return true;
  };
  for (let k = 0; k < o.nSlots; k++) {
    let at = o.slotBase(k) + Slot.DELAYED;
    const what = `thread slot ${k} DELAYED list`;
    for (let b = u32[at >>> 2]; add(b, at, what, 0); at = b, b = u32[b >>> 2]);
  }
  for (const first of heap.rawAllocator.arenas()) {
    const a = o.arenaHeader(first);
    const end = Math.min(u32[(a + Arena.POOL_ADDRESS) >>> 2], a);
    for (let slot = first; slot < end; slot += o.poolSize) for (const pool of o.poolsOfSlot(slot, a)) {
      let at = pool + Pool.REMOTE;
      const head = u32[at >>> 2];
      if (head === 0 || head === Remote.FULL) continue;
      const what = "Pool.REMOTE list";
      for (let b = head; add(b, at, what, pool); at = b, b = u32[b >>> 2]);
    }
  }
  return out;
}

/**
 * Visit every pool of the arena whose first pool (its chunk's payload) is at first (pending: from
 * pendingFrees(), threads only).
 */
export function forEachPool(heap: Heap, first: number, fn: (p: PoolInfo) => void, pending?: Map<number, Set<number>>): void {
  const o = heap.objectAllocator;
  const u32 = o.u32;
  const a = o.arenaHeader(first);
  if (pending === undefined && o.threaded) pending = pendingFrees(heap);
  const total = u32[(a + Arena.NTOTALPOOLS) >>> 2];
  // An arena's header, its magic and its pool count, are what the walk follows: a chunk whose
  // ARENA flag a stray write set, or a count changed, must not be walked for ever (check()
  // names the same words).
  o.arenaOf(0, a, first - Chunk.HEADER + Chunk.SIZE, "Chunk.SIZE");
  const poolAddress = poolAddressOf(o, a, first, total);
  for (let i = 0; i < total; i++) {
    const slot = first + i * o.poolSize;
    const carved = slot < poolAddress;
    const sub = u32[(slot + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK;
    if (sub !== 0 && !carved) neverCarved(slot);
    if (sub !== 0 && sub !== SubPool.SHIFT) throw new HeapCorruptionError(slot + Pool.SUB, `pool slot ${hex(slot)}: sub-pool shift ${sub}, not ${SubPool.SHIFT}`, "Pool.SUB");
    for (const pool of carved ? o.poolsOfSlot(slot, a) : [slot]) visitPool(pool, carved);
  }
  function neverCarved(pool: number): never {
    throw new HeapCorruptionError(a + Arena.POOL_ADDRESS, `arena ${hex(a)}: pool ${hex(pool)} lies past its next-pool address ${hex(poolAddress)} but is cut into sub-pools, or has a size class or blocks`, "Arena.POOL_ADDRESS");
  }
  function visitPool(pool: number, carved: boolean): void {
    const end = Math.min(o.poolBytes(pool), a - pool);
    if (!carved) {
      // Never carved: blank (a POOL_ADDRESS lowered over carved pools hid their blocks).
      if (u32[(pool + Pool.SZIDX) >>> 2] !== Pool.SZIDX_NONE || u32[(pool + Pool.COUNT) >>> 2] !== 0) neverCarved(pool);
      fn({ pool, count: 0, allocated: 0, pending: NONE, szidx: -1, size: 0, carved, carvedBlocks: 0, capacity: 0, end });
      return;
    }
    const szidx = poolClass(o, pool, end);
    const allocated = u32[(pool + Pool.COUNT) >>> 2];
    const size = szidx < 0 ? 0 : classSize(szidx, o.alignShift);
    const capacity = szidx < 0 ? 0 : Math.floor((end - Pool.OVERHEAD) / size);
    const carvedBlocks = szidx < 0 ? 0 : (u32[(pool + Pool.NEXTOFFSET) >>> 2] - Pool.OVERHEAD) / size;
    // A free list is empty exactly when every carved block is counted (walks that do not follow
    // the list, stats(), test that much of the count).
    const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
    if (szidx >= 0 && (fb === 0) !== (allocated === carvedBlocks))
      throw new HeapCorruptionError(pool, `pool ${hex(pool)} counts ${allocated} of ${carvedBlocks} carved blocks, and its free list is ${fb === 0 ? "empty" : "not empty"}`, "Pool.COUNT");
    // The list's head (one word, one tag: O(1) a pool; the walks that follow the list, walk() and
    // check(), name its links): one of the pool's carved blocks, holding the free tag.
    if (szidx >= 0 && fb !== 0) {
      const off = fb - pool - Pool.OVERHEAD;
      if (off < 0 || off % size !== 0 || off >= carvedBlocks * size || (u32[(fb + FreeBlock.TAG) >>> 2] ^ FreeBlock.TAG_VALUE) !== 0)
        throw new HeapCorruptionError(pool + Pool.FREEBLOCK, `pool ${hex(pool)}: its free list's head ${hex(fb)} is no free block of it`, "Pool.FREEBLOCK");
    }
    const waiting = (allocated !== 0 && pending?.get(pool)) || NONE;
    fn({ pool, count: allocated - waiting.size, allocated, pending: waiting, szidx, size, carved, carvedBlocks, capacity, end });
  }
}

/**
 * The next-pool address (Arena.POOL_ADDRESS) of the arena whose header is at `a` (its `total`
 * pools from `first`): a pool slot of the arena, or its end (every pool carved); else a
 * HeapCorruptionError naming the word. The walks and check() read it through this.
 */
export function poolAddressOf(o: ObjectAllocator, a: number, first: number, total: number): number {
  const poolAddress = o.u32[(a + Arena.POOL_ADDRESS) >>> 2];
  if (poolAddress < first || poolAddress > first + total * o.poolSize || (poolAddress - first) % o.poolSize !== 0)
    throw new HeapCorruptionError(a + Arena.POOL_ADDRESS, "arena's next-pool address is outside the arena", "Arena.POOL_ADDRESS");
  return poolAddress;
}

/**
 * The header of carved pool (or sub-pool) `pool`, as every walk reads it (room: its bytes, up to
 * the arena header in an arena's last pool): its class one of the heap's, its size words (SZIDX, INVERSE) that
 * class's, its next offset the end of a carved block within the room, its count no more than the
 * blocks carved. A free pool may hold no class (Pool.SZIDX_NONE), and then no block. Anything
 * else is a HeapCorruptionError naming the word, as check() names it (check() also knows which
 * pools are free, and follows free lists and owners). Its class, or -1 for none.
 */
export function poolClass(o: ObjectAllocator, pool: number, room: number): number {
  const u32 = o.u32;
  const szidx = u32[(pool + Pool.SZIDX) >>> 2];
  const count = u32[(pool + Pool.COUNT) >>> 2];
  if (szidx >= o.nClasses) {
    if (szidx !== Pool.SZIDX_NONE) throw new HeapCorruptionError(pool + Pool.SZIDX, `pool's size class ${szidx} is none of the heap's ${o.nClasses}`, "Pool.SZIDX");
    if (count !== 0) throw new HeapCorruptionError(pool, `pool ${hex(pool)} holds no size class but counts ${count} blocks in use`, "Pool.COUNT");
    return -1;
  }
  const size = classSize(szidx, o.alignShift);
  // free()'s block-boundary test trusts this word (Pool.INVERSE): a damaged one is reported here.
  const inv = u32[(pool + Pool.INVERSE) >>> 2];
  if (inv !== blockInverse(size)) throw new HeapCorruptionError(pool + Pool.INVERSE, `pool's INVERSE word is ${inv}, its class's ${size}-byte blocks have ${blockInverse(size)}`, "Pool.INVERSE");
  if (u32[(pool + Pool.MAXNEXTOFFSET) >>> 2] !== room - size) throw new HeapCorruptionError(pool + Pool.MAXNEXTOFFSET, "pool's last block offset is wrong", "Pool.MAXNEXTOFFSET");
  const no = u32[(pool + Pool.NEXTOFFSET) >>> 2];
  if (no < Pool.OVERHEAD + size || (no - Pool.OVERHEAD) % size !== 0 || no > room) throw new HeapCorruptionError(pool + Pool.NEXTOFFSET, "pool's next-block offset is wrong", "Pool.NEXTOFFSET");
  const carved = (no - Pool.OVERHEAD) / size;
  if (count > carved) throw new HeapCorruptionError(pool, `pool counts ${count} blocks in use of ${carved} carved`, "Pool.COUNT");
  return szidx;
}

export interface LiveBlock {
  /** Address handed out by the allocator below the families (the debug header's base in debug modes). */
  address: number;
  /** Usable bytes at address. */
  usable: number;
  /** Size class index for pool blocks, -1 for raw blocks. */
  sizeClass: number;
}

/** Visit every block in use: pool blocks (not on their pool's free list) and raw chunks. */
/**
 * The blocks on the free list of pool `pool` (blocks of `size` bytes, carved up to address
 * `end`): each link a carved block start, each once, else a HeapCorruptionError naming the word
 * that holds the bad link (a stray write, or a double free that made a cycle: never followed for
 * ever). `each` sees every block as it is read (check() tests its free tag there).
 */
export function freeListOf(u32: Uint32Array, pool: number, size: number, end: number, each?: (b: number) => void): Set<number> {
  const free = new Set<number>();
  for (let at = pool + Pool.FREEBLOCK, b = u32[at >>> 2]; b !== 0; at = b, b = u32[b >>> 2]) {
    const field = at === pool + Pool.FREEBLOCK ? "Pool.FREEBLOCK" : "free block link";
    const off = b - pool - Pool.OVERHEAD;
    if (off < 0 || off % size !== 0 || b >= end) throw new HeapCorruptionError(at, `pool ${hex(pool)} free list link ${hex(b)} is not one of its carved blocks`, field);
    if (free.has(b)) throw new HeapCorruptionError(at, `pool ${hex(pool)} free list comes back to ${hex(b)} (a cycle, or a double free)`, field);
    each?.(b);
    free.add(b);
  }
  return free;
}

export function forEachLiveBlock(heap: Heap, fn: (b: LiveBlock) => void): void {
  const u32 = heap.rawAllocator.u32;
  const pending = pendingFrees(heap);
  forEachChunk(heap, (c) => {
    if (c.free || c.internal) return;
    if (!c.arena) {
      fn({ address: c.chunk + Chunk.HEADER, usable: c.size - Chunk.OVERHEAD, sizeClass: -1 });
      return;
    }
    forEachPool(heap, c.chunk + Chunk.HEADER, (p) => {
      if (p.szidx < 0) return;
      const size = p.size;
      const free = freeListOf(u32, p.pool, size, p.pool + Pool.OVERHEAD + p.carvedBlocks * size);
      // Every carved block free or counted (an empty pool's too: a count written to 0 hid its
      // blocks; check() names the same word).
      if (free.size + p.allocated !== p.carvedBlocks) throw new HeapCorruptionError(p.pool, `pool count ${p.allocated} + ${free.size} free blocks != ${p.carvedBlocks} carved blocks`, "Pool.COUNT");
      if (p.count === 0) return;
      for (let i = 0; i < p.carvedBlocks; i++) {
        const b = p.pool + Pool.OVERHEAD + i * size;
        if (!free.has(b) && !p.pending.has(b)) fn({ address: b, usable: size, sizeClass: p.szidx });
      }
    }, pending);
  });
}

/**
 * The debug hooks' quarantine ring at ring (H.QUARANTINE, not 0): its capacity, head and count,
 * after checking the words every reader of it follows: a live raw block big enough for its
 * capacity, its head and count within it. Else HeapCorruptionError naming the word. Read by
 * check() and stats() alike.
 */
export function quarantineRing(heap: Heap, ring: number): { cap: number; head: number; count: number } {
  const u32 = heap.rawAllocator.u32;
  const rw = heap.rawAllocator.liveUsable(ring);
  const cap = u32[(ring + Debug.Q_CAPACITY) >>> 2];
  if (rw === 0) throw new HeapCorruptionError(heap.heapBase + H.QUARANTINE * 4, "the quarantine ring is not a live raw block", "H.QUARANTINE");
  if (cap === 0 || Debug.Q_ENTRIES + Debug.Q_ENTRY * cap > rw) throw new HeapCorruptionError(ring + Debug.Q_CAPACITY, `quarantine capacity ${cap} does not fit its ${rw}-byte ring`, "Debug.Q_CAPACITY");
  const head = u32[(ring + Debug.Q_HEAD) >>> 2];
  const count = u32[(ring + Debug.Q_COUNT) >>> 2];
  if (head >= cap) throw new HeapCorruptionError(ring + Debug.Q_HEAD, `quarantine head ${head} past its capacity ${cap}`, "Debug.Q_HEAD");
  if (count > cap) throw new HeapCorruptionError(ring + Debug.Q_COUNT, `quarantine holds ${count} of capacity ${cap}`, "Debug.Q_COUNT");
  return { cap, head, count };
}
