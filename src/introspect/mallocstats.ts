/**
 * introspect/mallocstats.ts — heap.debugMallocStats(): CPython's sys._debugmallocstats(), for us.
 *
 * Owns: the text report (size-class table, arena and byte accounting that adds up to the arena
 * bytes, raw allocator figures) and the accounting record it prints.
 * Must not: read anything stats() does not (every number comes from the heap's state).
 */

import { Chunk, Pool, Size, sizeClasses } from "../constants.js";
import type { Heap } from "../heap/heap.js";
import { heapStats, type HeapStats } from "./stats.js";
import { forEachChunk, forEachPool, pendingFrees } from "./walk.js";

/** Where every byte of the arenas goes; the parts add up to `arenaBytes`. */
export interface ArenaAccounting {
  arenaBytes: number;
  allocatedBlocks: number;
  availableBlocks: number;
  unusedPools: number;
  unusedPoolBytes: number;
  poolHeaders: number;
  quantization: number;
  /** Arena headers (each in the tail of its arena's last pool, with the raw chunk's overlap word). */
  arenaOverhead: number;
  /** Pools and sub-pools of the arenas (arenas that filled a hole in the raw heap have fewer). */
  pools: number;
  /** Pool slots of the arenas (a slot cut into sub-pools counts once). */
  slots: number;
  /** Bytes of those pools, less the arena headers. */
  poolBytes: number;
}

/** The heap argument of the introspection helpers: a pymalloc Heap (a ForeignHeap has no pools or arenas), else TypeError. */
export function requireHeap(heap: unknown, fn: string): asserts heap is Heap {
  if (heap === null || typeof heap !== "object" || (heap as Partial<Heap>).objectAllocator === undefined)
    throw new TypeError(`${fn}: expected a heap of createHeap() or attachHeap() (a heap over another allocator has no pools or arenas), got ${heap === null ? "null" : typeof heap === "object" ? "another object" : typeof heap}`);
}

/**
 * The arenas' byte accounting of debugMallocStats(), read under the heap's lock (threads: other
 * threads split and merge raw chunks under it, and grow the memory: read without it, a chunk's
 * header was met halfway through a change, "chunk size ... runs past the top").
 */
export function arenaAccounting(heap: Heap): ArenaAccounting {
  requireHeap(heap, "arenaAccounting");
  return heap.introspect(() => arenaAccountingUnlocked(heap));
}

/** arenaAccounting() for a caller that holds the heap's lock. */
export function arenaAccountingUnlocked(heap: Heap): ArenaAccounting {
  const a: ArenaAccounting = { arenaBytes: 0, allocatedBlocks: 0, availableBlocks: 0, unusedPools: 0, unusedPoolBytes: 0, poolHeaders: 0, quantization: 0, arenaOverhead: 0, pools: 0, slots: 0, poolBytes: 0 };
  const pending = pendingFrees(heap);
  forEachChunk(heap, (c) => {
    if (!c.arena || c.free) return;
    a.arenaBytes += c.size;
    a.slots += c.size / heap.objectAllocator.poolSize; // an arena chunk holds exactly its slots' bytes
    let room = 0;
    forEachPool(heap, c.chunk + Chunk.HEADER, (p) => {
      a.pools++;
      room += p.end;
      if (p.allocated === 0) {
        a.unusedPools++;
        a.unusedPoolBytes += p.end;
        return;
      }
      const size = p.size;
      a.allocatedBlocks += p.count * size;
      a.availableBlocks += (p.capacity - p.count) * size;
      a.poolHeaders += Pool.OVERHEAD;
      a.quantization += p.end - Pool.OVERHEAD - p.capacity * size;
    }, pending);
    a.poolBytes += room;
    a.arenaOverhead += c.size - room;
  });
  return a;
}

const num = (n: number): string => n.toLocaleString("en-US");
const line = (label: string, value: number): string => `${label.padEnd(36)}= ${num(value).padStart(21)}`;

export function debugMallocStats(heap: Heap, s: HeapStats = heapStats(heap)): string {
  const o = heap.objectAllocator;
  const out: string[] = [];
  out.push(`Small block threshold = ${Size.SMALL_REQUEST_THRESHOLD}, in ${sizeClasses(o.alignShift)} size classes of ${1 << o.alignShift} bytes.`);
  out.push("");
  out.push("class   size   num pools   blocks in use  avail blocks");
  out.push("-----   ----   ---------   -------------  ------------");
  for (const k of s.classes) {
    if (k.pools === 0) continue;
    out.push(`${String(k.sizeClass).padStart(5)}   ${String(k.size).padStart(4)}   ${String(k.pools).padStart(9)}   ${String(k.blocksInUse).padStart(13)}  ${String(k.blocksAvailable).padStart(12)}`);
  }
  out.push("");
  const a = arenaAccountingUnlocked(heap);
  out.push(line("# arenas allocated total", s.arenas.allocatedTotal));
  out.push(line("# arenas reclaimed", s.arenas.reclaimed));
  out.push(line("# arenas highwater mark", s.arenas.highWater));
  out.push(line("# arenas allocated current", s.arenas.current));
  // Slots, not pools: with sub-pools a slot holds several pools, and the bytes are the slots'.
  out.push(line(`${s.arenas.current} arenas, ${a.slots} pools of ${o.poolSize} bytes`, a.poolBytes));
  if (s.pools.subPoolSlots > 0) out.push(line("# pools cut in sub-pools", s.pools.subPoolSlots));
  out.push("");
  out.push(line("# bytes in allocated blocks", a.allocatedBlocks));
  out.push(line("# bytes in available blocks", a.availableBlocks));
  out.push(line(`${a.unusedPools} unused pools`, a.unusedPoolBytes));
  out.push(line("# bytes lost to pool headers", a.poolHeaders));
  out.push(line("# bytes lost to quantization", a.quantization));
  out.push(line("# bytes in arena headers", a.arenaOverhead));
  out.push(line("Total", a.arenaBytes));
  out.push("");
  out.push("Raw allocator (TLSF):");
  out.push(line("# raw blocks in use", s.raw.blocks));
  out.push(line("# bytes in raw blocks", s.raw.bytes));
  out.push(line("# free chunks", s.raw.freeBlocks));
  out.push(line("# bytes in free chunks", s.raw.freeBytes));
  out.push(line("# largest free chunk", s.raw.largestFree));
  if (s.internalBytes > 0) out.push(line("# bytes in allocator chunks (map, ring, samples)", s.internalBytes));
  out.push(line("# bytes above the top (never used)", s.raw.topFree));
  out.push(line("# footprint (top of used region)", s.footprint));
  out.push(line("# peak footprint", s.peakFootprint));
  if (s.fencedBytes > 0) out.push(line("# bytes fenced (pages of others)", s.fencedBytes));
  out.push(line("# resident (4 KiB pages in use)", s.residentBytes));
  out.push(line(`memory (${s.memoryKind}) byte length`, s.byteLength));
  return out.join("\n");
}
