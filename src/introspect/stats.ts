/**
 * introspect/stats.ts — heap.stats(): every number read from the heap's state.
 *
 * Owns: the HeapStats shape and computing it by walking chunks, arenas and pools.
 * Must not: write to memory.
 *
 * What it checks and trusts (session 48; docs/performance.md): linear in chunks and pools, never
 * in free blocks. Checked: chunk headers, arenas (magic, pool count, next-pool address), carved
 * pools' header words (poolClass), a free list empty exactly when the count is the carved blocks,
 * its head a carved block holding the free tag, with threads each REMOTE/DELAYED block's tag.
 * Trusted: a COUNT within 1..carved-1 while the list is not empty (a walk of every free block
 * would tell), the list past its head, a REMOTE block also on the free list, a slot's SUB word
 * with its shift cleared (its other sub-pools unseen). walk(), leaks() and check() name those.
 */

import {
  Arena,
  Chunk,
  Debug,
  H,
  Pool,
  RESIDENT_PAGE_SHIFT,
  SubPool,
  classSize,
  sizeClasses,
} from "../constants.js";
import type { Heap } from "../heap/heap.js";
import { HeapCorruptionError, hex } from "../errors.js";
import { forEachChunk, forEachPool, ownBlocks, pendingFrees, quarantineRing } from "./walk.js";

export interface SizeClassStats {
  /** Size class index (0..31, or 0..63 with alignment 8). */
  sizeClass: number;
  /** Block size in bytes. */
  size: number;
  /** Pools currently holding this class. */
  pools: number;
  /** Blocks handed out. */
  blocksInUse: number;
  /** Free blocks in those pools (carved or not yet carved). */
  blocksAvailable: number;
}

export interface HeapStats {
  /** Allocator mode of the heap. */
  mode: string;
  /** Kind of backing memory. */
  memoryKind: string;
  /** Current byte length of the memory. */
  byteLength: number;
  /** Growth limit: the option's (a WebAssembly.Memory's own `maximum`, which JS cannot read, may be lower: growth then stops there). */
  maxBytes: number;
  /** Top of the used region (what an sbrk would have handed out), in bytes from address 0. */
  footprint: number;
  /**
   * Bytes below the footprint that are not the heap's: pages a WebAssembly module (or anything
   * else) grew for itself in the heap's memory, which the heap fenced off and grew past
   * (README, Views). 0 unless something else grows the memory.
   */
  fencedBytes: number;
  /** High water of footprint. */
  peakFootprint: number;
  /** Bytes of the header (allocator state tables) at heapBase. */
  headerBytes: number;
  /**
   * Bytes of the allocator's own chunks outside the header (chunk headers included): the pool
   * map's high part, the debug modes' quarantine ring, sampled sites' state and sample tables.
   * With headerBytes, raw.bytes, raw.freeBytes, arenas.bytes and fencedBytes, what lies below
   * the footprint.
   */
  internalBytes: number;
  /**
   * Bytes of the 4 KiB pages (RESIDENT_PAGE) below the top that hold, now, what the allocator
   * wrote or handed out: the header, raw blocks in use, free chunks' headers and footers, arena
   * headers, every pool and sub-pool header, and pools' carved blocks (header to the next
   * never-carved block). What the memory must hold at least (a page freed and never written
   * again may be held too: nothing records it). Pages never touched are not counted.
   */
  residentBytes: number;
  /** Bytes handed out to users: block sizes of small blocks plus usable bytes of raw blocks. */
  bytesInUse: number;
  /** Blocks handed out to users (small and raw); in the debug modes, blocks in quarantine are not counted. */
  blocksInUse: number;
  /** Debug modes: freed blocks held in quarantine (not in blocksInUse), and their usable bytes (not in bytesInUse). 0 otherwise. */
  quarantinedBlocks: number;
  quarantinedBytes: number;
  raw: {
    /** In-use raw blocks (excluding arenas). */
    blocks: number;
    /** Chunk bytes of those blocks (header included). */
    bytes: number;
    /** Free chunks in the free lists, and their bytes. */
    freeBlocks: number;
    freeBytes: number;
    /** Largest free chunk in the free lists. */
    largestFree: number;
    /** Bytes from the top chunk to the heap's own end (never used, or given back): pages past it that something else grew are not counted. */
    topFree: number;
  };
  arenas: {
    current: number;
    allocatedTotal: number;
    reclaimed: number;
    highWater: number;
    /** Bytes of the arena chunks (pools plus arena headers). */
    bytes: number;
  };
  pools: {
    /** Pools (and sub-pools) holding at least one block. */
    used: number;
    /** Pool slots cut into sub-pools (young size classes: SubPool in constants.ts). */
    subPoolSlots: number;
    /** Pools carved once and now empty. */
    empty: number;
    /** Pools never carved yet. */
    untouched: number;
    /** Bytes in pool headers of used pools. */
    headerBytes: number;
  };
  /** Per size class, index = class (pool occupancy: quarantined blocks included). */
  classes: SizeClassStats[];
}

export function heapStats(heap: Heap): HeapStats {
  const raw = heap.rawAllocator;
  const u32 = raw.u32;
  const hw = heap.heapBase >>> 2;
  const classes: SizeClassStats[] = [];
  const shift = heap.objectAllocator.alignShift;
  for (let i = 0; i < sizeClasses(shift); i++) classes.push({ sizeClass: i, size: classSize(i, shift), pools: 0, blocksInUse: 0, blocksAvailable: 0 });
  const s: HeapStats = {
    mode: heap.mode,
    memoryKind: heap.memory.kind,
    byteLength: heap.memory.byteLength,
    maxBytes: heap.memory.maxBytes,
    footprint: raw.top + Chunk.HEADER,
    fencedBytes: u32[hw + H.FENCED],
    peakFootprint: u32[hw + H.PEAK_TOP] + Chunk.HEADER,
    headerBytes: u32[hw + H.HEADER_BYTES],
    internalBytes: 0,
    bytesInUse: 0,
    blocksInUse: 0,
    quarantinedBlocks: 0,
    quarantinedBytes: 0,
    raw: { blocks: 0, bytes: 0, freeBlocks: 0, freeBytes: 0, largestFree: 0, topFree: 0 },
    arenas: {
      current: u32[hw + H.NARENAS_CURRENT],
      allocatedTotal: u32[hw + H.NARENAS_ALLOCATED],
      reclaimed: u32[hw + H.NARENAS_RECLAIMED],
      highWater: u32[hw + H.NARENAS_HIGHWATER],
      bytes: 0,
    },
    pools: { used: 0, subPoolSlots: 0, empty: 0, untouched: 0, headerBytes: 0 },
    residentBytes: 0,
    classes,
  };
  const ring = u32[hw + H.QUARANTINE]; // the debug quarantine ring (counted apart below)
  const own = ownBlocks(heap); // allocator state, not user blocks: the ring, sampled sites' state and tables, live-block tables
  const pending = pendingFrees(heap);
  // Resident pages: one byte a page up to the top (set: the page holds something now).
  const pages = new Uint8Array(((raw.top + Chunk.HEADER) >>> RESIDENT_PAGE_SHIFT) + 1);
  const mark = (a: number, end: number): void => {
    for (let q = a >>> RESIDENT_PAGE_SHIFT; q <= (end - 1) >>> RESIDENT_PAGE_SHIFT; q++) pages[q] = 1;
  };
  mark(heap.heapBase, raw.start + Chunk.HEADER);
  forEachChunk(heap, (c) => {
    if (c.free) mark(c.chunk, c.chunk + Chunk.HEADER + 8);
    else if (c.arena) {
      mark(c.chunk, c.chunk + Chunk.HEADER);
      const a = heap.objectAllocator.arenaHeader(c.chunk + Chunk.HEADER);
      mark(a, a + Arena.OVERHEAD);
      forEachPool(heap, c.chunk + Chunk.HEADER, (p) => {
        mark(p.pool, p.pool + (p.szidx < 0 ? Pool.OVERHEAD : Pool.OVERHEAD + p.carvedBlocks * p.size));
        if (p.pool === (p.pool & ~heap.objectAllocator.poolMask) && (u32[(p.pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK) !== 0) s.pools.subPoolSlots++;
      }, pending);
    } else mark(c.chunk, c.chunk + c.size + Chunk.OVERHEAD);
    if (c.internal || (!c.free && !c.arena && own(c.chunk + Chunk.HEADER))) {
      s.internalBytes += c.size; // allocator state, not user blocks
      return;
    }
    if (c.free) {
      s.raw.freeBlocks++;
      s.raw.freeBytes += c.size;
      if (c.size > s.raw.largestFree) s.raw.largestFree = c.size;
    } else if (c.arena) {
      s.arenas.bytes += c.size;
      forEachPool(heap, c.chunk + Chunk.HEADER, (p) => {
        if (!p.carved) s.pools.untouched++;
        else if (p.allocated === 0) s.pools.empty++;
        else {
          s.pools.used++;
          s.pools.headerBytes += Pool.OVERHEAD;
          // A pool in use names its size class (check() names the word otherwise).
          if (p.szidx < 0) noClass(p.pool, p.allocated);
          const k = classes[p.szidx];
          k.pools++;
          k.blocksInUse += p.count;
          k.blocksAvailable += p.capacity - p.count;
        }
      }, pending);
    } else {
      s.raw.blocks++;
      s.raw.bytes += c.size;
      s.bytesInUse += c.size - Chunk.OVERHEAD;
    }
  });
  for (const k of classes) {
    s.blocksInUse += k.blocksInUse;
    s.bytesInUse += k.blocksInUse * k.size;
  }
  s.blocksInUse += s.raw.blocks;
  // Fences (rare: H.FENCED) hold someone else's pages: those wholly inside one are not the heap's.
  // Apart from the walk above, whose callback's size V8 weighs (a test there for fences cost the
  // benchmark's per-run stats() 12 million instructions).
  if (s.fencedBytes !== 0) {
    forEachChunk(heap, (c) => {
      if (c.fence) pages.fill(0, (c.chunk + Chunk.HEADER + (1 << RESIDENT_PAGE_SHIFT) - 1) >>> RESIDENT_PAGE_SHIFT, (c.chunk + c.size - 8) >>> RESIDENT_PAGE_SHIFT);
    });
  }
  // Bytes from the top to the heap's own end (H.END): pages past it are not the top's.
  s.raw.topFree = Math.max(0, Math.min(s.byteLength, u32[hw + H.END]) - raw.top);
  for (const b of pages) s.residentBytes += b << RESIDENT_PAGE_SHIFT;
  // Quarantined blocks are freed as far as the user knows: counted apart.
  if (ring !== 0) {
    const { cap, head, count } = quarantineRing(heap, ring); // never read past the ring, nor for ever
    for (let i = 0; i < count; i++) {
      const e = ring + Debug.Q_ENTRIES + Debug.Q_ENTRY * ((head + i) % cap);
      s.quarantinedBlocks++;
      s.quarantinedBytes += u32[(e + Debug.Q_ENTRY_USABLE) >>> 2];
    }
    if (s.quarantinedBlocks > s.blocksInUse || s.quarantinedBytes > s.bytesInUse)
      throw new HeapCorruptionError(ring + Debug.Q_COUNT, `quarantine ring ${hex(ring)} holds ${s.quarantinedBlocks} blocks of ${s.quarantinedBytes} bytes, more than the heap's ${s.blocksInUse} blocks in use`, "Debug.Q_COUNT");
    s.blocksInUse -= s.quarantinedBlocks;
    s.bytesInUse -= s.quarantinedBytes;
  }
  return s;
}

/** A pool in use with no size class of the heap (stats() of a damaged heap). */
function noClass(pool: number, allocated: number): never {
  throw new HeapCorruptionError(pool + Pool.SZIDX, `pool ${hex(pool)} holds ${allocated} blocks but no size class of the heap`, "Pool.SZIDX");
}
