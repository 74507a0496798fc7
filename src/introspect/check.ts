/**
 * introspect/check.ts — heap.check(): verify everything the allocators will ever follow, report
 * the first fault.
 *
 * Owns: the invariants of the header (heap/layout.ts validateHeader, and its fields against what
 * this handle cached), of the raw allocator (chunk chain, flags, footers against neighbours and
 * the top, free lists, bitmaps) and of the object allocator (arenas and their free-pool lists,
 * every pool's header and free list whatever its state: in use, full, kept empty, free in its
 * arena or never carved; every thread's usedpools, pool owners, the REMOTE and DELAYED lists of
 * blocks freed by other threads, usable_arenas order, nfp2lasta, pool map, counters), and of the
 * debug quarantine ring. Throws HeapCorruptionError with the address and the field at fault.
 * Must not: write to memory. Linear in the heap's size, no recursion: every list walk is bounded
 * by what it may hold, so a corrupt list cannot hang it.
 */

import {
  FreeBlock,
  Arena,
  Chunk,
  Debug,
  Flag,
  RawCache,
  Tlsf,
  H,
  Pool,
  Remote,
  Slot,
  SlotState,
  Used,
  SubPool,
  RawStart,
  Sample,
  MODE_IDS,
  MAX_RAW_FIRST,
  classSize,
  sizeOf,
  ownerSlot,
  ownerWord,
} from "../constants.js";
import { HeapCorruptionError, hex } from "../errors.js";
import type { Heap } from "../heap/heap.js";
import { validateHeader } from "../heap/layout.js";
import { forEachChunk, forEachLiveBlock, freeListOf, ownBlocks, pendingFrees, poolAddressOf, poolClass, quarantineRing } from "./walk.js";
import { samplingStateFault } from "../debug/sampling.js";
import { listIndex } from "../raw/lists.js";

function fail(at: number, what: string, field = ""): never {
  throw new HeapCorruptionError(at, what, field);
}

export function checkHeap(heap: Heap): void {
  heap.memory.refresh();
  const raw = heap.rawAllocator;
  const o = heap.objectAllocator;
  const u32 = raw.u32;
  const u8 = raw.u8;
  const hb = heap.heapBase;
  const hw = hb >>> 2;

  // --- Header: valid on its own, and the heap this handle was made for ----------------------
  validateHeader(u32, u8.length, hb);
  const same = (h: number, v: number, name: string): void => {
    if (u32[hw + h] !== v) fail(hb + h * 4, `${name} ${u32[hw + h]} changed under this handle (it was ${v})`, `H.${name}`);
  };
  same(H.POOL_SHIFT, o.poolShift, "POOL_SHIFT");
  same(H.ARENA_SHIFT, o.arenaShift, "ARENA_SHIFT");
  same(H.ALIGN_SHIFT, o.alignShift, "ALIGN_SHIFT");
  same(H.MAX_THREADS, o.threaded ? o.nSlots - 1 : 0, "MAX_THREADS");
  same(H.HEAP_START, raw.start, "HEAP_START");
  same(H.MODE, MODE_IDS[heap.mode], "MODE"); // one flipped to another mode's reads as a heap of that mode to the next attachHeap
  // A heap made anew over this handle's memory (createHeap instead of attachHeap): this handle's
  // blocks are gone, and its frees would free the new heap's blocks at their offsets.
  if (u32[hw + H.IDENTITY] !== heap.identity)
    fail(hb + H.IDENTITY * 4, `the heap this handle was made for is gone: its identity word is ${hex(u32[hw + H.IDENTITY])}, this handle's ${hex(heap.identity)} (createHeap() made a new heap over its memory, or attachHeap() of it with restored: true; open the new one with attachHeap), or a write over the word`, "H.IDENTITY");
  // The heap's own pages end where the memory does, or before (attachHeap brings a copy's end
  // down to a shorter memory's): an end past it would take pages someone else grows next as the
  // heap's, unfenced. (With threads another thread may grow the memory and the end meanwhile.)
  if (!o.threaded && u32[hw + H.END] > u8.length)
    fail(hb + H.END * 4, `the heap's end ${hex(u32[hw + H.END])} lies past the memory's ${u8.length} bytes: pages grown later by others would be taken as the heap's (a write over the header?)`, "H.END");
  // --- Thread slots' claims (Slot.CLAIM): a live slot holds its handle's, a free one none. Before
  // the pools: a STATE word set to FREE is named as such, not as its pools' owner not attached.
  if (o.threaded) {
    for (let k = 0; k <= o.orphan; k++) {
      const sb = o.slotBase(k);
      const claim = u32[(sb + Slot.CLAIM) >>> 2];
      if (k === o.orphan || u32[(sb + Slot.STATE) >>> 2] !== SlotState.LIVE) {
        if (claim !== 0) fail(sb + Slot.STATE, `thread slot ${k}: its STATE word says ${k === o.orphan ? "orphans" : "free"}, but the slot holds a handle's claim (${hex(claim)}): a write over the STATE word?`, "Slot.STATE");
      } else if (claim === 0) {
        fail(sb + Slot.CLAIM, `thread slot ${k} is live but holds no handle's claim: a write over the claim word, or a thread that died while it attached (adoptThread(${k}) frees the slot)`, "Slot.CLAIM");
      } else if (k === heap.threadId && claim !== heap.claim) {
        fail(sb + Slot.CLAIM, `thread slot ${k}, this handle's, holds another handle's claim (${hex(claim)}, this handle wrote ${hex(heap.claim)}): another handle took it after adoptThread(${k}) freed it while this handle ran, or createHeap() made a new heap over this memory (this handle's heap is gone), or a write over the word`, "Slot.CLAIM");
      }
    }
  }

  const top = raw.top;
  // The first chunk's footer word: no chunk lies before it, so nothing reads it (its PREV_FREE is
  // never set) and nothing writes it after createHeap zeroed it; a write there was passed.
  if (u32[raw.start >>> 2] !== 0)
    fail(raw.start, `the first chunk's footer word holds ${hex(u32[raw.start >>> 2])}, not 0: no chunk lies before it (a write over it)`, "Chunk.PREV_SIZE");

  // --- Raw chunk chain ------------------------------------------------------------------------
  const freeChunks = new Set<number>();
  const cachedChunks = new Set<number>(); // chunks in the raw cache (RawCache): to their neighbours, in use
  const arenas: number[] = [];
  let mapChunk = 0; // usable bytes of the pool map's high part, once walked
  const usedChunks = new Map<number, number>(); // slot -> its usedpools chunk's payload (Used), as walked
  let prevFree = false;
  let prevSize = 0;
  let last = 0;
  let fenced = 0;
  forEachChunk(heap, (c) => {
    if (c.fence) fenced += c.size;
    if ((c.flags & Flag.TAG) === 0) fail(c.chunk + Chunk.SIZE, "chunk header lacks its tag bit", "Chunk.SIZE");
    if (c.size < Chunk.MIN) fail(c.chunk + Chunk.SIZE, `chunk size ${c.size} is below ${Chunk.MIN}`, "Chunk.SIZE");
    const pf = (c.flags & Flag.PREV_FREE) !== 0;
    if (pf !== prevFree) fail(c.chunk + Chunk.SIZE, `PREV_FREE flag is ${pf} but the previous chunk is ${prevFree ? "free" : "in use"}`, "Chunk.SIZE");
    if (pf && u32[c.chunk >>> 2] !== prevSize) fail(c.chunk, `footer says the previous chunk has ${u32[c.chunk >>> 2]} bytes, it has ${prevSize}`, "Chunk.PREV_SIZE");
    // An in-use chunk's footer repeats its size (Chunk, HEAP_VERSION 17): not the object
    // allocator's chunks (flagged ARENA: an arena's last word is its own), but cached ones.
    if ((c.cached || (!c.free && (c.flags & Flag.ARENA) === 0)) && u32[(c.chunk + c.size) >>> 2] !== c.size)
      fail(c.chunk + c.size, `the footer of the chunk in use at ${c.chunk} says ${u32[(c.chunk + c.size) >>> 2]} bytes, its header ${c.size} (a write past the end of its block, or over its header)`, "Chunk.PREV_SIZE");
    if (c.cached) {
      if (c.size > RawCache.MAX_SIZE) fail(c.chunk + Chunk.SIZE, `a cached chunk of ${c.size} bytes, over the raw cache's ${RawCache.MAX_SIZE}`, "Chunk.SIZE");
      cachedChunks.add(c.chunk);
    } else if (c.free) {
      if (prevFree) fail(c.chunk + Chunk.SIZE, "two free chunks side by side (missed coalescing)", "Chunk.SIZE");
      freeChunks.add(c.chunk);
    }
    if (c.arena) arenas.push(c.chunk + Chunk.HEADER);
    if (c.poolMap && !c.free) mapChunk = c.size - Chunk.OVERHEAD;
    if (c.usedSlot >= 0 && !c.free) usedChunks.set(c.usedSlot, c.chunk + Chunk.HEADER);
    prevFree = c.free && !c.cached;
    prevSize = c.size;
    last = c.chunk + c.size;
  });
  if (prevFree) fail(top, "the chunk below the top chunk is free (it should have merged into the top)", "H.TOP");
  if (last !== 0 && last !== top) fail(last, "chunk chain does not end at the top", "Chunk.SIZE");
  if (u32[hw + H.FENCED] !== fenced) fail(hb + H.FENCED * 4, `${u32[hw + H.FENCED]} bytes in fences, the chunks' fences hold ${fenced}`, "H.FENCED");

  // --- TLSF free lists (validateHeader checked the bitmaps against the heads) ---------------------
  let listed = 0;
  for (let fl = 0; fl < Tlsf.FL_COUNT; fl++) {
    for (let sl = 0; sl < Tlsf.SL_COUNT; sl++) {
      let at = hb + u32[hw + H.FREE_HEADS] + ((fl << Tlsf.SL_SHIFT) + sl) * 4;
      let c = u32[at >>> 2];
      let prev = 0;
      while (c !== 0) {
        if (!freeChunks.has(c)) fail(at, `free list (${fl},${sl}) holds ${hex(c)}, which is not a free chunk`, prev === 0 ? "TLSF free list head" : "Chunk.NEXT_FREE");
        const size = sizeOf(u32[(c + 4) >>> 2]);
        if (listIndex(size) !== ((fl << Tlsf.SL_SHIFT) | sl)) fail(c + Chunk.SIZE, `free chunk of ${size} bytes is in the wrong list (${fl},${sl})`, "Chunk.SIZE");
        if (u32[(c + 12) >>> 2] !== prev) fail(c + Chunk.PREV_FREE, "free list back link is wrong", "Chunk.PREV_FREE");
        if (++listed > freeChunks.size) fail(c + Chunk.NEXT_FREE, "free lists hold more entries than there are free chunks (a cycle?)", "Chunk.NEXT_FREE");
        prev = c;
        at = c + Chunk.NEXT_FREE;
        c = u32[at >>> 2];
      }
    }
  }
  if (listed !== freeChunks.size) fail(hb, `${freeChunks.size - listed} free chunks are in no free list`, "TLSF free list head");

  // --- The raw cache: its lists hold exactly the cached chunks, each on its size's list once -----
  const cacheAt = hb + u32[hw + H.RAW_CACHE];
  let cachedListed = 0;
  for (let i = 0; i < RawCache.BINS; i++) {
    let at = cacheAt + RawCache.HEADS + i * 4;
    let c = u32[at >>> 2];
    while (c !== 0) {
      if (!cachedChunks.has(c)) fail(at, `raw cache list ${i} holds ${hex(c)}, which is no cached chunk`, at < raw.start ? "raw cache list head" : "Chunk.NEXT_FREE");
      const size = sizeOf(u32[(c + 4) >>> 2]);
      if (((size >>> 4) & (RawCache.BINS - 1)) !== i) fail(c + Chunk.SIZE, `cached chunk of ${size} bytes on raw cache list ${i}`, "Chunk.SIZE");
      if (++cachedListed > cachedChunks.size) fail(c + Chunk.NEXT_FREE, "raw cache lists hold more entries than there are cached chunks (a cycle?)", "Chunk.NEXT_FREE");
      at = c + Chunk.NEXT_FREE;
      c = u32[at >>> 2];
    }
  }
  if (cachedListed !== cachedChunks.size) fail(cacheAt, `${cachedChunks.size - cachedListed} cached chunks are on no raw cache list`, "raw cache list head");
  if (u32[(cacheAt + RawCache.COUNT) >>> 2] !== cachedListed) fail(cacheAt + RawCache.COUNT, `raw cache count says ${u32[(cacheAt + RawCache.COUNT) >>> 2]} chunks, its lists hold ${cachedListed}`, "raw cache count");

  // --- Arenas and every pool in them ------------------------------------------------------------
  const headers: number[] = [];
  const poolInUsed = new Map<number, number>(); // pool -> size class, pools that must be in usedpools
  const keptEmpty = new Set<number>(); // empty pools a thread kept (one a class at most): in usedpools too
  const subFree = new Set<number>(); // free sub-pools (of slots cut into sub-pools), each on its free list
  const heldBytes = new Array<number>(o.nClasses).fill(0); // per class, bytes of its pools not free (SubPool.HELD)
  const freeLists = new Map<number, Set<number>>(); // pool in use -> its free blocks
  const slotState = (k: number): number => u32[(o.slotBase(k) + Slot.STATE) >>> 2];
  const ps = o.poolSize;
  // The arenas usable_arenas names (its order and links are checked below; here a bounded walk).
  const onUsable = new Set<number>();
  for (let a = u32[hw + H.USABLE_ARENAS], n = 0; a !== 0 && n <= arenas.length && a + Arena.NEXT + 4 <= u8.length; a = u32[(a + Arena.NEXT) >>> 2], n++) onUsable.add(a);
  for (const first of arenas) {
    const a = o.arenaHeader(first);
    headers.push(a);
    if ((first & o.poolMask) !== 0) fail(first - Chunk.HEADER, "arena chunk's pools are not pool-aligned", "Chunk.SIZE");
    if (u32[(a + Arena.MAGIC) >>> 2] !== ((Arena.MAGIC_VALUE ^ a) >>> 0)) fail(a + Arena.MAGIC, "arena header magic is wrong", "Arena.MAGIC");
    const total = u32[(a + Arena.NTOTALPOOLS) >>> 2];
    const nfree = u32[(a + Arena.NFREEPOOLS) >>> 2];
    if (total === 0 || total > o.poolsPerArena) fail(a + Arena.NTOTALPOOLS, `arena holds ${total} pools`, "Arena.NTOTALPOOLS");
    if (nfree > total) fail(a + Arena.NFREEPOOLS, `arena has ${nfree} free pools of ${total}`, "Arena.NFREEPOOLS");
    if (raw.usable(first) + Chunk.OVERHEAD !== total * ps) fail(a + Arena.NTOTALPOOLS, `arena chunk is not the size of its ${total} pools`, "Arena.NTOTALPOOLS");
    const end = first + total * ps;
    if (u32[(a + Arena.FIRST) >>> 2] !== first) fail(a + Arena.FIRST, "arena header does not name its first pool", "Arena.FIRST");
    const poolAddress = poolAddressOf(o, a, first, total);
    // A full arena's free-pool list is empty. One that is on usable_arenas had free pools: its
    // NFREEPOOLS is the word at fault, named below; else its FREEPOOLS is (the walk blamed the
    // NEXT word of whatever pool it named, or NFREEPOOLS).
    if (nfree === 0 && u32[(a + Arena.FREEPOOLS) >>> 2] !== 0 && !onUsable.has(a))
      fail(a + Arena.FREEPOOLS, `arena has no free pools and is on no usable_arenas, yet its free-pool list holds ${hex(u32[(a + Arena.FREEPOOLS) >>> 2])} (a write over the word)`, "Arena.FREEPOOLS");
    const freePools = new Set<number>();
    let at = a + Arena.FREEPOOLS;
    for (let p = u32[at >>> 2]; p !== 0; at = p + Pool.NEXT, p = u32[at >>> 2]) {
      if (p < first || p >= poolAddress || (p - first) % ps !== 0 || freePools.has(p))
        fail(at, `arena free-pool list holds ${hex(p)}: not a carved pool of this arena, or a cycle`, at === a + Arena.FREEPOOLS ? "Arena.FREEPOOLS" : "Pool.NEXT");
      freePools.add(p);
    }
    const untouched = (end - poolAddress) / ps;
    if (freePools.size + untouched !== nfree) fail(a + Arena.NFREEPOOLS, `arena says ${nfree} free pools, finds ${freePools.size} empty + ${untouched} never used`, "Arena.NFREEPOOLS");
    for (let slot = first; slot < end; slot += ps) {
      if (u32[(slot + Pool.ARENA) >>> 2] !== a) fail(slot + Pool.ARENA, "pool's arena link is wrong", "Pool.ARENA");
      const subWord = u32[(slot + Pool.SUB) >>> 2];
      if (slot >= poolAddress || freePools.has(slot)) {
        if (subWord !== 0) fail(slot + Pool.SUB, "a free or never-used pool is cut into sub-pools", "Pool.SUB");
        checkPool(slot, a, Math.min(ps, a - slot), slot >= poolAddress, freePools.has(slot));
        continue;
      }
      const sub = subWord & SubPool.SHIFT_MASK;
      if (sub === 0) {
        if (subWord !== 0) fail(slot + Pool.SUB, `pool's sub-pool word ${subWord} counts sub-pools but gives no size`, "Pool.SUB");
        checkPool(slot, a, Math.min(ps, a - slot), false, false); // the arena's last pool ends at the arena header
        continue;
      }
      // A slot cut into sub-pools: each one a pool of 2^sub bytes, free (on its list) or in use;
      // one cut short by the arena header is used when it holds a block of every class
      // (minSubRoom), with its blocks up to that header, and otherwise never.
      if (sub !== SubPool.SHIFT) fail(slot + Pool.SUB, `sub-pool shift ${sub}, not ${SubPool.SHIFT}`, "Pool.SUB");
      let inUse = 0;
      for (let sp = slot; sp < slot + ps; sp += 1 << sub) {
        if (u32[(sp + Pool.ARENA) >>> 2] !== a) fail(sp + Pool.ARENA, "sub-pool's arena link is wrong", "Pool.ARENA");
        if ((u32[(sp + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) !== sub || (sp !== slot && u32[(sp + Pool.SUB) >>> 2] !== sub))
          fail(sp + Pool.SUB, "sub-pool's size word is not its slot's", "Pool.SUB");
        const short = a - sp < o.minSubRoom;
        const freeSub = u32[(sp + Pool.SZIDX) >>> 2] === Pool.SZIDX_NONE;
        if (freeSub && !short) subFree.add(sp);
        if (!freeSub) {
          if (short) fail(sp + Pool.SZIDX, "a sub-pool the arena header leaves too short is in use", "Pool.SZIDX");
          inUse++;
        }
        checkPool(sp, a, Math.min(1 << sub, a - sp), short, freeSub);
      }
      if (inUse === 0 || subWord >>> SubPool.USED_SHIFT !== inUse)
        fail(
          slot + Pool.SUB,
          `slot counts ${subWord >>> SubPool.USED_SHIFT} sub-pools in use, holds ${inUse}${subWord >>> 24 !== 0 ? ` (the header's last byte, just before the pool's first block ${hex(slot + Pool.OVERHEAD)}, was written: a write before a block's start?)` : ""}`,
          "Pool.SUB",
        );
    }
  }
  // Free sub-pool lists: exactly the free sub-pools found above, each on its size's list once.
  let listedSubs = 0;
  let at: number = (o.wSub + (SubPool.FREE >>> 2)) * 4;
  let prev = 0;
  for (let sp: number = u32[at >>> 2]; sp !== 0; prev = sp, at = sp + Pool.NEXT, sp = u32[at >>> 2]) {
    const field = prev === 0 ? "free sub-pool list" : "Pool.NEXT";
    if (!subFree.has(sp) || (u32[(sp + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) !== SubPool.SHIFT) fail(at, `free sub-pool list holds ${hex(sp)}, no free sub-pool`, field);
    if (u32[(sp + Pool.PREV) >>> 2] !== prev) fail(sp + Pool.PREV, "free sub-pool list back link is wrong", "Pool.PREV");
    if (++listedSubs > subFree.size) fail(at, "the free sub-pool list holds more than the free sub-pools (a cycle?)", field);
  }
  if (listedSubs !== subFree.size) fail(hb, `${subFree.size - listedSubs} free sub-pools are on no free sub-pool list`, "free sub-pool list");
  // What each class holds (its pools' bytes, kept empty ones too), and never more than its peak.
  for (let i = 0; i < o.nClasses; i++) {
    const wh = o.wSub + (SubPool.HELD >>> 2) + i;
    if (u32[wh] !== heldBytes[i]) fail(wh * 4, `size class ${i} is said to hold ${u32[wh]} bytes of pools, holds ${heldBytes[i]}`, "SubPool.HELD");
    const wp = o.wSub + (SubPool.PEAK >>> 2) + i;
    if (u32[wp] < heldBytes[i]) fail(wp * 4, `size class ${i}'s peak ${u32[wp]} is below what it holds (${heldBytes[i]})`, "SubPool.PEAK");
  }
  // The raw start's limits as createHeap wrote them, and no count past its limit (the counts
  // themselves only steer which allocator serves a young class: nothing relies on them).
  const wFirst = o.wSub + (SubPool.RAW_FIRST >>> 2);
  const wEver = o.wSub + (SubPool.RAW_EVER_LIMIT >>> 2);
  if (u32[wFirst] > MAX_RAW_FIRST || u32[wEver] !== u32[wFirst] * RawStart.EVER_FACTOR)
    fail(wFirst * 4, `raw start limits ${u32[wFirst]} live, ${u32[wEver]} ever are not createHeap's (at most ${MAX_RAW_FIRST}, ever ${RawStart.EVER_FACTOR}x live)`, "SubPool.RAW_FIRST");
  // (Off, the raw start's tables hold the sub-pool fills: SubPool.FILLS.)
  for (let b = 0; u32[wFirst] !== 0 && b < RawStart.BUCKETS; b++) {
    const we = o.wSub + (SubPool.RAW_EVER >>> 2) + b;
    if (u32[we] > u32[wEver]) fail(we * 4, `raw start: ${u32[we]} chunks of ${b * 16} bytes counted, past the limit ${u32[wEver]}`, "SubPool.RAW_EVER");
  }

  /**
   * One pool or sub-pool (room: its bytes up to the arena header a): never used (blank as
   * newArena() or a cut left it), free (an arena's free pool, or a free sub-pool), or in use.
   */
  function checkPool(pool: number, a: number, room: number, untouched: boolean, free: boolean): void {
    const w = (f: number): number => u32[(pool + f) >>> 2];
    if (untouched) {
      // Never carved: blank as newArena() left it (carving trusts a header whose class matches).
      if (w(Pool.SZIDX) !== Pool.SZIDX_NONE) fail(pool + Pool.SZIDX, "never-used pool has a size class", "Pool.SZIDX");
      if (w(Pool.COUNT) !== 0 || w(Pool.FREEBLOCK) !== 0 || w(Pool.REMOTE) !== 0) fail(pool, "never-used pool has blocks", "Pool.COUNT");
      return;
    }
    // A free pool that holds no class is rewritten whole when taken; any other needs one. Its
    // header words as every walk tests them (walk.ts, poolClass).
    if (!free && w(Pool.SZIDX) === Pool.SZIDX_NONE) fail(pool + Pool.SZIDX, `pool's size class ${w(Pool.SZIDX)} is none of the heap's ${o.nClasses}`, "Pool.SZIDX");
    const szidx = poolClass(o, pool, room);
    if (szidx < 0) return;
    const count = w(Pool.COUNT);
    const size = classSize(szidx, o.alignShift);
    const capacity = Math.floor((room - Pool.OVERHEAD) / size);
    const no = w(Pool.NEXTOFFSET);
    const carved = (no - Pool.OVERHEAD) / size;
    // The free list: carved block starts only, each once (freeListOf). Every push tags the block
    // (FreeBlock): a tag gone is a write into the block after it was freed.
    const freeBlocks = freeListOf(u32, pool, size, pool + no, (b) => {
      if ((u32[(b + FreeBlock.TAG) >>> 2] ^ FreeBlock.TAG_VALUE) !== 0) {
        // The block below it, when there is one: an overflow by that one's user lands here too.
        const below = b - size >= pool + Pool.OVERHEAD ? `, or overrun by a write past the end of the block below it (${hex(b - size)})` : "";
        fail(b + FreeBlock.TAG, `free block ${hex(b)} of pool ${hex(pool)} was written after it was freed, or freed twice and handed out once since (its free tag is gone)${below}`, "free block tag");
      }
    });
    if (free) {
      if (count !== 0) fail(pool, "pool with live blocks is on the free-pool list", "Pool.COUNT");
      if (freeBlocks.size !== carved) fail(pool + Pool.FREEBLOCK, `free pool's list holds ${freeBlocks.size} of its ${carved} carved blocks`, "Pool.FREEBLOCK");
      return;
    }
    if (count === 0) {
      // An empty pool out of its arena's free-pool list is one a thread kept: at most one of a
      // class, still in that thread's usedpools (checked there). Threads heaps keep their last
      // of a class (SharedObjectAllocator); every heap's WebAssembly fast path keeps it too
      // (wasm/obmalloc/obmalloc.ts). A heap without threads has one slot, so the same rule.
      keptEmpty.add(pool);
    }
    const owner = ownerSlot(w(Pool.OWNER));
    if (owner >= o.nSlots) fail(pool + Pool.OWNER, `pool's owner word ${hex(w(Pool.OWNER))} names no thread slot`, "Pool.OWNER");
    if (owner !== o.orphan && slotState(owner) !== SlotState.LIVE) fail(pool + Pool.OWNER, `pool's owner, thread ${owner}, is not attached`, "Pool.OWNER");
    const remote = w(Pool.REMOTE);
    if (!o.threaded && remote !== 0) fail(pool + Pool.REMOTE, "pool of a heap without threads has a remote-free list", "Pool.REMOTE");
    if ((remote & Remote.FULL) !== 0 && remote !== Remote.FULL) fail(pool + Pool.REMOTE, `remote-free word ${remote} is a list head with the FULL bit`, "Pool.REMOTE");
    freeLists.set(pool, freeBlocks);
    heldBytes[szidx] += o.poolBytes(pool);
    // malloc pops the head of a pool in usedpools: one with room always has a free block.
    if (count < capacity && freeBlocks.size === 0) fail(pool + Pool.FREEBLOCK, "pool with room has an empty free list", "Pool.FREEBLOCK");
    if (freeBlocks.size + count !== carved) fail(pool, `pool count ${count} + ${freeBlocks.size} free blocks != ${carved} carved blocks`, "Pool.COUNT");
    if (count < capacity) poolInUsed.set(pool, szidx);
  }
  const w = hw + H.NARENAS_CURRENT;
  if (u32[w] !== arenas.length) fail(hb + H.NARENAS_CURRENT * 4, `header counts ${u32[w]} arenas, the heap holds ${arenas.length}`, "H.NARENAS_CURRENT");

  // --- Blocks freed by other threads (REMOTE and DELAYED lists) ---------------------------------
  // pendingFrees() throws on a link out of its pool or a cycle; here: pools in use only, and no
  // block both pending and on its pool's free list.
  for (const [pool, blocks] of pendingFrees(heap)) {
    const fl = freeLists.get(pool);
    if (fl === undefined) fail(pool + Pool.REMOTE, "blocks freed by other threads into a pool that is not in use", "Pool.REMOTE");
    if (blocks.size > u32[pool >>> 2]) fail(pool, `${blocks.size} blocks pending for a pool counting ${u32[pool >>> 2]} in use`, "Pool.COUNT");
    for (const b of blocks) if (fl.has(b)) fail(b, "a block freed by another thread is also on its pool's free list (double free)", "Pool.REMOTE");
  }

  // --- usedpools of every thread slot ----------------------------------------------------------
  let seen = 0;
  for (let k = 0; k < o.nSlots; k++) {
    const live = k === o.orphan || slotState(k) === SlotState.LIVE;
    // USED: validateHeader checked it names the header's arrays (slot 0, orphans), or 0 (never
    // claimed: no usedpools), or a chunk of the allocator's own naming slot k; the walk must have met that chunk.
    const heads = o.usedBaseOf(k);
    if (heads === 0) continue;
    if (k !== 0 && k !== o.orphan && usedChunks.get(k) !== heads - Used.HEADS)
      fail(o.slotBase(k) + Slot.USED, `thread slot ${k}'s usedpools ${heads} are in no chunk of the allocator's own`, `thread slot ${k} USED`);
    for (let i = 0; i < o.nClasses; i++) {
      const sp = o.sentinelOf(k, i);
      let prev = sp;
      let empties = 0;
      let at = sp + Pool.NEXT;
      for (let p = u32[at >>> 2]; p !== sp; at = p + Pool.NEXT, p = u32[at >>> 2]) {
        const field = at === sp + Pool.NEXT ? `thread slot ${k} usedpools[${i}]` : "Pool.NEXT";
        if (poolInUsed.get(p) !== i) fail(at, `usedpools[${i}] of thread slot ${k} holds ${hex(p)}, not a partly used pool of that class`, field);
        if (keptEmpty.has(p) && (k === o.orphan || ++empties > 1)) fail(p, `usedpools[${i}] of thread slot ${k} holds an empty pool it may not keep`, "Pool.COUNT");
        if (u32[(p + Pool.OWNER) >>> 2] !== ownerWord(k)) fail(p + Pool.OWNER, `usedpools[${i}] of thread slot ${k} holds a pool of thread ${ownerSlot(u32[(p + Pool.OWNER) >>> 2])}`, "Pool.OWNER");
        if (!live) fail(at, `thread slot ${k} is free but its usedpools[${i}] holds pools`, field);
        if (u32[(p + Pool.PREV) >>> 2] !== prev) fail(p + Pool.PREV, `usedpools[${i}] back link is wrong`, "Pool.PREV");
        if (++seen > poolInUsed.size) fail(at, "usedpools lists are longer than the pools (a cycle?)", field);
        prev = p;
      }
      if (u32[(sp + Pool.PREV) >>> 2] !== prev) fail(sp + Pool.PREV, `usedpools[${i}] tail link is wrong`, `thread slot ${k} usedpools[${i}]`);
    }
  }
  if (seen !== poolInUsed.size) fail(hb, `${poolInUsed.size - seen} partly used pools are in no usedpools list`, "Pool.NEXT");

  // --- usable_arenas order and nfp2lasta -------------------------------------------------------
  const arenaSet = new Set(headers);
  const lastWith = new Map<number, number>();
  let prevA = 0;
  let prevNf = 0;
  let usable = 0;
  let uat = hb + H.USABLE_ARENAS * 4;
  for (let a = u32[uat >>> 2]; a !== 0; uat = a + Arena.NEXT, a = u32[uat >>> 2]) {
    const field = prevA === 0 ? "H.USABLE_ARENAS" : "Arena.NEXT";
    if (!arenaSet.has(a)) fail(uat, `usable_arenas holds ${hex(a)}, which is not an arena`, field);
    const nf = u32[(a + Arena.NFREEPOOLS) >>> 2];
    if (nf === 0) fail(uat, "a full arena is on usable_arenas", field);
    if (nf < prevNf) fail(uat, "usable_arenas is not ordered by free pools", field);
    if (u32[(a + Arena.PREV) >>> 2] !== prevA) fail(a + Arena.PREV, "usable_arenas back link is wrong", "Arena.PREV");
    if (++usable > arenas.length) fail(uat, "usable_arenas is longer than the arenas (a cycle?)", field);
    lastWith.set(nf, a);
    prevA = a;
    prevNf = nf;
  }
  let withFree = 0;
  for (const a of headers) if (u32[(a + Arena.NFREEPOOLS) >>> 2] > 0) withFree++;
  if (withFree !== usable) fail(hb + H.USABLE_ARENAS * 4, `${withFree} arenas have free pools but usable_arenas lists ${usable}`, "H.USABLE_ARENAS");
  for (let k = 0; k <= o.poolsPerArena; k++) {
    if (u32[o.wNfp + k] !== (lastWith.get(k) ?? 0)) fail((o.wNfp + k) * 4, `nfp2lasta[${k}] does not name the last arena with ${k} free pools`, `nfp2lasta[${k}]`);
  }

  // --- Pool map: exactly the arenas' pools are "ours" ------------------------------------------
  // Low part in the header; high part (bytes from mapBytes up) in the chunk at H.POOL_MAP_HIGH,
  // which exists once an arena reached past the low part (validateHeader checked its address).
  const expect = new Uint8Array(o.mapEnd);
  for (const first of arenas) {
    const q0 = first >>> o.poolShift;
    const total = u32[(o.arenaHeader(first) + Arena.NTOTALPOOLS) >>> 2];
    for (let q = q0; q < q0 + total; q++) expect[q >>> 3] |= 1 << (q & 7);
  }
  const hi = u32[o.wMapHigh];
  if (hi !== 0 && !mapChunk) fail(o.wMapHigh * 4, `pool map's high part ${hi} is no chunk flagged as the object allocator's`, "H.POOL_MAP_HIGH");
  if (hi !== 0 && mapChunk < o.mapEnd - o.mapBytes) fail(o.wMapHigh * 4, `pool map's high part has ${mapChunk} bytes, it needs ${o.mapEnd - o.mapBytes}`, "H.POOL_MAP_HIGH");
  for (let i = 0; i < expect.length; i++) {
    const at = i < o.mapBytes ? o.mapBase + i : hi + i - o.mapBytes;
    const v = i < o.mapBytes || hi !== 0 ? u8[at] : 0;
    if (v !== expect[i]) {
      if (hi === 0 && i >= o.mapBytes) fail(o.wMapHigh * 4, `an arena lies past the pool map's low part (its byte ${i}) but the map has no high part`, "H.POOL_MAP_HIGH");
      fail(at, `pool map byte ${i} is ${v}, expected ${expect[i]}`, "pool map");
    }
  }

  if (heap.debug !== undefined) checkQuarantine(heap); // a release heap's ring word is 0: validateHeader
  // Sampled sites: the sample table the state names, as every lookup and walk of it follows it
  // (debug/sampler.ts, tableAt: a live raw block of its capacity, its counts within it).
  const samples = u32[(heap.heapBase >>> 2) + H.SAMPLES];
  if (samples !== (heap.sampler?.state ?? 0)) fail(heap.heapBase + H.SAMPLES * 4, `sampling state word ${hex(samples)}: this handle's is ${hex(heap.sampler?.state ?? 0)}`, "H.SAMPLES");
  if (heap.sampler !== undefined) {
    const why = samplingStateFault(u32, samples, heap.memory.maxBytes, (p) => heap.rawAllocator.liveUsable(p));
    if (why !== null) fail(heap.heapBase + H.SAMPLES * 4, why, "H.SAMPLES");
    heap.sampler.forgetSeen();
    const t = heap.sampler.tableAt(u32);
    // Its LIVE count is the entries in it (a lowered one made the next rehash loop for ever).
    if (t !== 0 && heap.sampler.countEntries(u32, t) !== u32[(t + Sample.LIVE) >>> 2])
      fail(t + Sample.LIVE, `sample table ${hex(t)}: LIVE says ${u32[(t + Sample.LIVE) >>> 2]} entries, it holds ${heap.sampler.countEntries(u32, t)}`, "Sample.LIVE");
    // The tables it replaced, which leaks() and stats() leave out as the sampler's own.
    const prev = t === 0 ? null : heap.sampler.prevFault(u32, t);
    if (prev !== null) fail(prev[0], prev[1], "Sample.PREV");
    // As many tables held as named: a stray 0 over S_TABLE left its table to read as a user's block.
    const held = u32[(samples + Sample.S_TABLES) >>> 2];
    const named = t === 0 ? 0 : heap.sampler.tables().size - 1;
    if (held !== named) fail(samples + Sample.S_TABLES, `the sampling state holds ${held} sample tables, names ${named} (a write over S_TABLE or S_TABLES?)`, t === 0 ? "Sample.S_TABLE" : "Sample.S_TABLES");
  }
}

/**
 * The debug hooks' quarantine ring: a live raw block big enough for its capacity, its head and
 * count inside it, every entry a distinct live block below the hooks marked freed (with the
 * usable size it had, and its check word agreeing), the byte total their sum, and no freed block outside the ring.
 */
function checkQuarantine(heap: Heap): void {
  const u32 = heap.rawAllocator.u32;
  const u8 = heap.rawAllocator.u8;
  const ring = u32[(heap.heapBase >>> 2) + H.QUARANTINE];
  const usable = new Map<number, number>();
  const own = ownBlocks(heap); // no debug blocks: the ring, a pool's table
  forEachLiveBlock(heap, (b) => {
    if (!own(b.address)) usable.set(b.address, b.usable);
  });
  let freed = 0;
  for (const base of usable.keys()) if ((u8[base + Debug.FAMILY] & Debug.FREED_BIT) !== 0) freed++;
  if (ring === 0) {
    if (freed !== 0) fail(heap.heapBase + H.QUARANTINE * 4, `no quarantine ring, but ${freed} blocks are marked freed`, "H.QUARANTINE");
    return;
  }
  const { cap, head, count } = quarantineRing(heap, ring);
  if (count !== freed) fail(ring + Debug.Q_COUNT, `quarantine counts ${count} blocks, ${freed} blocks are marked freed`, "Debug.Q_COUNT");
  const inRing = new Set<number>();
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const e = ring + Debug.Q_ENTRIES + Debug.Q_ENTRY * ((head + i) % cap);
    const base = u32[e >>> 2];
    const u = usable.get(base);
    if (u === undefined || (u8[base + Debug.FAMILY] & Debug.FREED_BIT) === 0 || inRing.has(base))
      fail(e, `quarantine entry ${base} is not a freed block below the hooks (or is listed twice)`, "quarantine entry");
    if (u32[(e + Debug.Q_ENTRY_USABLE) >>> 2] !== u) fail(e + Debug.Q_ENTRY_USABLE, `quarantine entry's usable size is not its block's ${u}`, "quarantine entry usable");
    if (((u32[(e + Debug.Q_ENTRY_CHECK) >>> 2] ^ base ^ u ^ u32[(base + Debug.SERIAL) >>> 2]) >>> 0) !== Debug.Q_ENTRY_KEY)
      fail(e + Debug.Q_ENTRY_CHECK, `quarantine entry ${base}'s check word does not agree with its base, usable size and block serial`, "quarantine entry check");
    inRing.add(base);
    bytes += u32[(base + Debug.SIZE) >>> 2];
  }
  if (u32[(ring + Debug.Q_BYTES) >>> 2] !== bytes) fail(ring + Debug.Q_BYTES, `quarantine counts ${u32[(ring + Debug.Q_BYTES) >>> 2]} bytes, its blocks hold ${bytes}`, "Debug.Q_BYTES");
}
