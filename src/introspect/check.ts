/**
 * introspect/check.ts — heap.check(): verify every allocator structure, report the first fault.
 *
 * Owns: the invariants of the raw allocator (chunk chain, flags, footers, free lists, bitmaps)
 * and of the object allocator (arenas, pools, pool free lists, every thread's usedpools, pool
 * owners and blocks freed by other threads, usable_arenas order, nfp2lasta, pool map,
 * counters). Throws HeapCorruptionError with the address at fault.
 * Must not: write to memory. Bounded loops only: a corrupt list cannot hang it.
 */

import {
  Arena,
  Chunk,
  Flag,
  Tlsf,
  H,
  HEAP_MAGIC,
  Pool,
  Slot,
  SlotState,
} from "../constants.js";
import { HeapCorruptionError } from "../errors.js";
import type { Heap } from "../heap/heap.js";
import { forEachChunk, forEachPool, pendingFrees } from "./walk.js";
import { listIndex } from "../raw/tlsf.js";

function fail(at: number, what: string): never {
  throw new HeapCorruptionError(at, what);
}

export function checkHeap(heap: Heap): void {
  heap.memory.refresh();
  const raw = heap.rawAllocator;
  const o = heap.objectAllocator;
  const u32 = raw.u32;
  const u8 = raw.u8;
  const hw = heap.heapBase >>> 2;
  if (u32[hw + H.MAGIC] !== HEAP_MAGIC) fail(heap.heapBase, "heap header magic is gone");
  const top = raw.top;
  if (top < raw.start || top + Chunk.HEADER > u8.length) fail(heap.heapBase, `top ${top} outside [start, memory end - 8]`);
  if (u32[hw + H.PEAK_TOP] < top) fail(heap.heapBase, "peak footprint below the current top");

  // --- Raw chunk chain --------------------------------------------------------------------
  const freeChunks = new Set<number>();
  const arenas: number[] = [];
  let prevFree = false;
  let prevSize = 0;
  let last = 0;
  forEachChunk(heap, (c) => {
    if ((c.flags & Flag.TAG) === 0) fail(c.chunk, "chunk header lacks its tag bit");
    if (c.size < Chunk.MIN || c.size % 16 !== 0) fail(c.chunk, `chunk size ${c.size} is not a multiple of 16 of at least 16`);
    const pf = (c.flags & Flag.PREV_FREE) !== 0;
    if (pf !== prevFree) fail(c.chunk, `PREV_FREE flag is ${pf} but the previous chunk is ${prevFree ? "free" : "in use"}`);
    if (pf && u32[c.chunk >>> 2] !== prevSize) fail(c.chunk, `footer says the previous chunk has ${u32[c.chunk >>> 2]} bytes, it has ${prevSize}`);
    if (c.free) {
      if (prevFree) fail(c.chunk, "two free chunks side by side (missed coalescing)");
      if (c.arena) fail(c.chunk, "a free chunk flagged as an arena");
      freeChunks.add(c.chunk);
    }
    if (c.arena) arenas.push(c.chunk + Chunk.HEADER);
    prevFree = c.free;
    prevSize = c.size;
    last = c.chunk + c.size;
  });
  if (prevFree) fail(top, "the chunk below the top chunk is free (it should have merged into the top)");
  if (last !== 0 && last !== top) fail(last, "chunk chain does not end at the top");

  // --- TLSF free lists and bitmaps ----------------------------------------------------------
  let listed = 0;
  const flmap = u32[raw.wFl];
  for (let fl = 0; fl < Tlsf.FL_COUNT; fl++) {
    const slmap = u32[raw.wSl + fl];
    if (((flmap >>> fl) & 1) !== (slmap !== 0 ? 1 : 0)) fail(heap.heapBase, `first-level bitmap bit ${fl} disagrees with its second-level map`);
    for (let sl = 0; sl < Tlsf.SL_COUNT; sl++) {
      let c = u32[raw.wHeads + (fl << Tlsf.SL_SHIFT) + sl];
      if (((slmap >>> sl) & 1) !== (c !== 0 ? 1 : 0)) fail(heap.heapBase, `bitmap bit (${fl},${sl}) disagrees with its list`);
      let prev = 0;
      while (c !== 0) {
        if (!freeChunks.has(c)) fail(c, `free list (${fl},${sl}) holds a chunk that is not a free chunk`);
        const size = (u32[(c + 4) >>> 2] & ~Flag.MASK) >>> 0;
        if (listIndex(size) !== ((fl << Tlsf.SL_SHIFT) | sl)) fail(c, `free chunk of ${size} bytes is in the wrong list (${fl},${sl})`);
        if (u32[(c + 12) >>> 2] !== prev) fail(c, "free list back link is wrong");
        if (++listed > freeChunks.size) fail(c, "free lists hold more entries than there are free chunks (a cycle?)");
        prev = c;
        c = u32[(c + 8) >>> 2];
      }
    }
  }
  if (listed !== freeChunks.size) fail(heap.heapBase, `${freeChunks.size - listed} free chunks are in no free list`);

  // --- Arenas and pools ---------------------------------------------------------------------
  const headers = arenas.map((first) => o.arenaHeader(first));
  const arenaSet = new Set(headers);
  const pending = pendingFrees(heap);
  const poolInUsed = new Map<number, number>(); // pool -> size class, pools that must be in usedpools
  const keptEmpty = new Set<number>(); // empty pools a thread kept (threads heaps): in usedpools too
  const slotState = (k: number): number => u32[(o.slotBase(k) + Slot.STATE) >>> 2];
  for (const first of arenas) {
    const a = o.arenaHeader(first);
    if ((first & o.poolMask) !== 0) fail(first, "arena pools are not pool-aligned");
    if (u32[(a + Arena.MAGIC) >>> 2] !== ((Arena.MAGIC_VALUE ^ a) >>> 0)) fail(a, "arena header magic is wrong");
    const total = u32[(a + Arena.NTOTALPOOLS) >>> 2];
    const nfree = u32[(a + Arena.NFREEPOOLS) >>> 2];
    if (total === 0 || total > o.poolsPerArena || nfree > total) fail(a, `arena pool counts wrong: ${nfree} free of ${total}`);
    const end = first + total * o.poolSize;
    if (!o.isOurs(first) || !o.isOurs(end - 1)) fail(a, "pool map does not cover this arena");
    if (u32[(a + Arena.FIRST) >>> 2] !== first) fail(a, "arena header does not name its first pool");
    if (raw.usable(first) + Chunk.OVERHEAD !== total * o.poolSize) fail(a, `arena chunk is not the size of its ${total} pools`);
    const poolAddress = u32[(a + Arena.POOL_ADDRESS) >>> 2];
    if (poolAddress < first || poolAddress > end || (poolAddress - first) % o.poolSize !== 0)
      fail(a, "arena's next-pool address is outside the arena");
    const freePools = new Set<number>();
    for (let p = u32[(a + Arena.FREEPOOLS) >>> 2]; p !== 0; p = u32[(p + Pool.NEXT) >>> 2]) {
      if (p < first || p >= poolAddress || (p - first) % o.poolSize !== 0 || freePools.has(p)) fail(p, "arena free-pool list holds a bad pool");
      freePools.add(p);
    }
    const untouched = (end - poolAddress) / o.poolSize;
    if (freePools.size + untouched !== nfree) fail(a, `arena says ${nfree} free pools, finds ${freePools.size} empty + ${untouched} never used`);
    forEachPool(heap, first, (p) => {
      if (!p.carved) return;
      if (u32[(p.pool + Pool.ARENA) >>> 2] !== a) fail(p.pool, "pool's arena link is wrong");
      if (freePools.has(p.pool)) {
        if (p.allocated !== 0) fail(p.pool, "pool with live blocks is on the free-pool list");
        return;
      }
      if (p.allocated === 0) {
        // Only a thread of a threads heap keeps an empty pool: its last of a class (obmalloc's
        // poolEmptied), still in its usedpools (checked there).
        if (!o.threaded) fail(p.pool, "empty pool is not on its arena's free-pool list");
        keptEmpty.add(p.pool);
      }
      if (p.szidx < 0) fail(p.pool, "pool in use has no size class");
      const owner = u32[(p.pool + Pool.OWNER) >>> 2];
      if (owner >= o.nSlots) fail(p.pool, `pool's owner ${owner} is not a thread slot`);
      if (owner !== o.orphan && slotState(owner) !== SlotState.LIVE) fail(p.pool, `pool's owner, thread ${owner}, is not attached`);
      const remote = u32[(p.pool + Pool.REMOTE) >>> 2];
      if (!o.threaded && remote !== 0) fail(p.pool, "pool of a heap without threads has a remote-free list");
      const size = p.size;
      if (u32[(p.pool + Pool.SIZE) >>> 2] !== size) fail(p.pool, `pool's block size word is ${u32[(p.pool + Pool.SIZE) >>> 2]}, its class holds ${size}`);
      const no = u32[(p.pool + Pool.NEXTOFFSET) >>> 2];
      if (u32[(p.pool + Pool.MAXNEXTOFFSET) >>> 2] !== p.end - size) fail(p.pool, "pool's last block offset is wrong");
      if (no < Pool.OVERHEAD + size || (no - Pool.OVERHEAD) % size !== 0 || no > p.end) fail(p.pool, "pool's next-block offset is wrong");
      const inPool = (b: number): boolean => b >= p.pool + Pool.OVERHEAD && b < p.pool + no && (b - p.pool - Pool.OVERHEAD) % size === 0;
      const freeBlocks = new Set<number>();
      for (let b = u32[(p.pool + Pool.FREEBLOCK) >>> 2]; b !== 0; b = u32[b >>> 2]) {
        if (!inPool(b)) fail(b, `pool ${p.pool} free list points outside its carved blocks`);
        if (freeBlocks.size >= p.carvedBlocks) fail(b, "pool free list is longer than the pool (a cycle?)");
        freeBlocks.add(b);
      }
      for (const b of p.pending) {
        if (!inPool(b)) fail(b, `a block freed into pool ${p.pool} by another thread is not one of its carved blocks`);
        if (freeBlocks.has(b)) fail(b, "a block freed by another thread is also on its pool's free list (double free)");
      }
      if (freeBlocks.size + p.allocated !== p.carvedBlocks)
        fail(p.pool, `pool count ${p.allocated} + ${freeBlocks.size} free blocks != ${p.carvedBlocks} carved blocks`);
      if (p.allocated < p.capacity) poolInUsed.set(p.pool, p.szidx);
    }, pending);
  }
  const w = hw + H.NARENAS_CURRENT;
  if (u32[w] !== arenas.length) fail(heap.heapBase, `header counts ${u32[w]} arenas, the heap holds ${arenas.length}`);

  // --- usedpools of every thread slot --------------------------------------------------------
  let seen = 0;
  for (let k = 0; k < o.nSlots; k++) {
    const live = k === o.orphan || slotState(k) === SlotState.LIVE;
    for (let i = 0; i < o.nClasses; i++) {
      const sp = o.sentinelOf(k, i);
      let prev = sp;
      let empties = 0;
      for (let p = u32[(sp + Pool.NEXT) >>> 2]; p !== sp; p = u32[(p + Pool.NEXT) >>> 2]) {
        if (keptEmpty.has(p) && (k === o.orphan || ++empties > 1)) fail(p, `usedpools[${i}] of thread slot ${k} holds an empty pool it may not keep`);
        if (poolInUsed.get(p) !== i) fail(p, `usedpools[${i}] of thread slot ${k} holds a pool that is not a partly used pool of that class`);
        if (u32[(p + Pool.OWNER) >>> 2] !== k) fail(p, `usedpools[${i}] of thread slot ${k} holds a pool of thread ${u32[(p + Pool.OWNER) >>> 2]}`);
        if (!live) fail(p, `thread slot ${k} is free but its usedpools[${i}] holds pools`);
        if (u32[(p + Pool.PREV) >>> 2] !== prev) fail(p, `usedpools[${i}] back link is wrong`);
        if (++seen > poolInUsed.size) fail(p, "usedpools lists are longer than the pools (a cycle?)");
        prev = p;
      }
      if (u32[(sp + Pool.PREV) >>> 2] !== prev) fail(sp, `usedpools[${i}] tail link is wrong`);
    }
  }
  if (seen !== poolInUsed.size) fail(heap.heapBase, `${poolInUsed.size - seen} partly used pools are in no usedpools list`);

  // --- usable_arenas order and nfp2lasta -------------------------------------------------------
  const lastWith = new Map<number, number>();
  let prevA = 0;
  let prevNf = 0;
  let usable = 0;
  for (let a = u32[o.wUsable]; a !== 0; a = u32[(a + Arena.NEXT) >>> 2]) {
    if (!arenaSet.has(a)) fail(a, "usable_arenas holds something that is not an arena");
    const nf = u32[(a + Arena.NFREEPOOLS) >>> 2];
    if (nf === 0) fail(a, "a full arena is on usable_arenas");
    if (nf < prevNf) fail(a, "usable_arenas is not ordered by free pools");
    if (u32[(a + Arena.PREV) >>> 2] !== prevA) fail(a, "usable_arenas back link is wrong");
    if (++usable > arenas.length) fail(a, "usable_arenas is longer than the arenas (a cycle?)");
    lastWith.set(nf, a);
    prevA = a;
    prevNf = nf;
  }
  let withFree = 0;
  for (const a of headers) if (u32[(a + Arena.NFREEPOOLS) >>> 2] > 0) withFree++;
  if (withFree !== usable) fail(heap.heapBase, `${withFree} arenas have free pools but usable_arenas lists ${usable}`);
  for (let k = 0; k <= o.poolsPerArena; k++) {
    if (u32[o.wNfp + k] !== (lastWith.get(k) ?? 0)) fail(heap.heapBase, `nfp2lasta[${k}] does not name the last arena with ${k} free pools`);
  }

  // --- Pool map: exactly the arenas' pools are "ours" ------------------------------------------
  const expect = new Uint8Array(o.mapBytes);
  for (const first of arenas) {
    const q0 = first >>> o.poolShift;
    const total = u32[(o.arenaHeader(first) + Arena.NTOTALPOOLS) >>> 2];
    for (let q = q0; q < q0 + total; q++) expect[q >>> 3] |= 1 << (q & 7);
  }
  for (let i = 0; i < expect.length; i++) {
    if (u8[o.mapBase + i] !== expect[i]) fail(o.mapBase + i, `pool map byte ${i} is ${u8[o.mapBase + i]}, expected ${expect[i]}`);
  }
}
