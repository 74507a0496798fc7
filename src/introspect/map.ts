/**
 * introspect/map.ts — a picture of the heap: SVG, or an HTML page around it.
 *
 * Owns: laying out every arena as a row of pools (hue = size class, shade = how full), the raw
 * allocator's address space as a strip (raw blocks, free chunks, arenas, the untouched top), the
 * legend and the totals.
 * Must not: write to the heap. Pure function of what the walks report.
 */

import { Chunk, Size, classSize, sizeClasses } from "../constants.js";
import type { Heap } from "../heap/heap.js";
import { arenaAccountingUnlocked, requireHeap } from "./mallocstats.js";
import { heapStats } from "./stats.js";
import { forEachChunk, forEachPool, pendingFrees } from "./walk.js";

const CELL = 14;
const GAP = 2;
const LABEL_W = 110;
const STRIP_H = 28;
const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const mib = (n: number): string => (n / 2 ** 20).toFixed(2) + " MiB";

/** Colour of a pool of `size`-byte blocks at a fullness in [0, 1]: hue by block size, darker when fuller. */
export function classColour(size: number, fullness: number): string {
  // 0..300 degrees: the smallest and largest classes must not both come out red.
  const hue = Math.round((Math.max(0, size - 16) * 300) / (Size.SMALL_REQUEST_THRESHOLD - 16));
  const light = Math.round(85 - 50 * Math.max(0, Math.min(1, fullness)));
  return `hsl(${hue}, 70%, ${light}%)`;
}

const RAW_COLOURS = { used: "#4a6fa5", free: "#f2c14e", arena: "#5fa85f", "pool map": "#2e6b2e", fence: "#b0b0b0", usedpools: "#2e6b2e", top: "#e6e6e6" };

/** A picture's title: a string, or a number shown as text (an object's "[object Object]" was taken as one). */
function titleOf(title: unknown, where: string): string {
  if (typeof title !== "string" && typeof title !== "number") throw new TypeError(`${where}: the title must be a string, got ${title === null ? "null" : typeof title}`);
  return String(title);
}

export function heapSvg(heap: Heap, title = "pymalloc heap"): string {
  requireHeap(heap, "heapSvg");
  title = titleOf(title, "heapSvg");
  // Under the heap's lock (threads: other threads change chunks and grow the memory under it;
  // read without it, a chunk's header was met halfway through a change: HeapCorruptionError).
  return heap.introspect(() => svgOf(heap, title));
}

function svgOf(heap: Heap, title: string): string {
  const o = heap.objectAllocator;
  const s = heapStats(heap);
  const acc = arenaAccountingUnlocked(heap);
  const ppa = o.poolsPerArena;
  const rowW = ppa * (CELL + GAP);
  const width = Math.max(LABEL_W + rowW + 20, 760);
  const parts: string[] = [];
  let y = 30;
  parts.push(`<text x="10" y="20" font-size="16" font-weight="bold">${esc(title)}</text>`);

  // The raw allocator's address space, start to memory end, as one strip.
  const start = heap.rawAllocator.start;
  const end = s.byteLength;
  const span = Math.max(1, end - start);
  const stripW = width - 20;
  parts.push(`<text x="10" y="${y + 12}" font-size="12">address space ${mib(start)} .. ${mib(end)} (raw blocks, free chunks, arenas, untouched top)</text>`);
  y += 18;
  parts.push(`<g class="raw-strip">`);
  forEachChunk(heap, (c) => {
    const kind = c.free ? "free" : c.arena ? "arena" : c.poolMap ? "pool map" : c.fence ? "fence" : c.internal ? "usedpools" : "used";
    const x = 10 + ((c.chunk - start) / span) * stripW;
    const w = Math.max(0.5, (c.size / span) * stripW);
    parts.push(`<rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${STRIP_H}" fill="${RAW_COLOURS[kind]}"><title>${kind} chunk at ${c.chunk}, ${c.size} bytes</title></rect>`);
  });
  const topX = 10 + ((heap.rawAllocator.top - start) / span) * stripW;
  parts.push(`<rect x="${topX.toFixed(2)}" y="${y}" width="${Math.max(0, 10 + stripW - topX).toFixed(2)}" height="${STRIP_H}" fill="${RAW_COLOURS.top}"><title>top: ${end - heap.rawAllocator.top} bytes never used</title></rect>`);
  parts.push(`</g>`);
  y += STRIP_H + 24;

  // One row per arena, one cell per pool.
  parts.push(`<text x="10" y="${y}" font-size="12">arenas: one row each, one cell per ${o.poolSize / 1024} KiB pool (colour: size class; darker: fuller; grey: empty pool; white: never used)</text>`);
  y += 10;
  let arenas = 0;
  const pending = pendingFrees(heap);
  forEachChunk(heap, (c) => {
    if (!c.arena || c.free) return;
    arenas++;
    const a = c.chunk + Chunk.HEADER;
    parts.push(`<g class="arena"><text x="10" y="${y + CELL - 3}" font-size="11">arena @${(a / 2 ** 20).toFixed(2)}M</text>`);
    let i = 0;
    forEachPool(heap, a, (p) => {
      const x = LABEL_W + i * (CELL + GAP);
      i++;
      let fill = "#ffffff";
      let tip = `pool ${p.pool}: never used`;
      if (p.carved && p.allocated === 0) {
        fill = "#bdbdbd";
        tip = `pool ${p.pool}: empty`;
      } else if (p.count > 0) {
        fill = classColour(p.size, p.count / p.capacity);
        tip = `pool ${p.pool}: class ${p.szidx} (${p.size} B), ${p.count}/${p.capacity} blocks`;
      }
      parts.push(`<rect class="pool" x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="${fill}" stroke="#999" stroke-width="0.5"><title>${tip}</title></rect>`);
    }, pending);
    parts.push(`</g>`);
    y += CELL + GAP;
  });
  if (arenas === 0) {
    parts.push(`<text x="10" y="${y + 12}" font-size="12" fill="#777">(no arenas: the object allocator holds nothing)</text>`);
    y += 18;
  }
  y += 20;

  // Legend and totals.
  parts.push(`<g class="legend"><text x="10" y="${y}" font-size="13" font-weight="bold">Legend</text>`);
  y += 8;
  for (let k = 0; k < sizeClasses(Size.ALIGNMENT_SHIFT); k++) {
    const x = 10 + (k % 16) * 46;
    const yy = y + Math.floor(k / 16) * 20;
    const size = classSize(k, Size.ALIGNMENT_SHIFT); // every 16 bytes (8-byte classes fall between)
    parts.push(`<rect x="${x}" y="${yy}" width="12" height="12" fill="${classColour(size, 0.7)}"/><text x="${x + 15}" y="${yy + 10}" font-size="10">${size}</text>`);
  }
  y += 44;
  let lx = 10;
  // One entry a colour: the pool map's high part and thread slots' usedpools share one.
  const legend: Array<[string, string]> = [
    ["raw block", RAW_COLOURS.used],
    ["free chunk", RAW_COLOURS.free],
    ["arena", RAW_COLOURS.arena],
    ["allocator's own (pool map, usedpools)", RAW_COLOURS["pool map"]],
    ...(s.fencedBytes > 0 ? ([["pages grown by others (fence)", RAW_COLOURS.fence]] as Array<[string, string]>) : []),
    ["untouched top", RAW_COLOURS.top],
  ];
  for (const [label, colour] of legend) {
    parts.push(`<rect x="${lx}" y="${y}" width="12" height="12" fill="${colour}" stroke="#999" stroke-width="0.5"/><text x="${lx + 15}" y="${y + 10}" font-size="11">${label}</text>`);
    lx += 30 + label.length * 6;
  }
  parts.push(`</g>`);
  y += 30;
  const totals = [
    `mode ${s.mode}, memory ${s.memoryKind} ${mib(s.byteLength)}, footprint ${mib(s.footprint)} (peak ${mib(s.peakFootprint)})`,
    `${s.blocksInUse.toLocaleString("en-US")} blocks in use, ${mib(s.bytesInUse)}; ${s.arenas.current} arenas: ${mib(acc.allocatedBlocks)} in blocks, ${mib(acc.availableBlocks)} available, ${acc.unusedPools} unused pools`,
    `raw: ${s.raw.blocks.toLocaleString("en-US")} blocks (${mib(s.raw.bytes)}), ${s.raw.freeBlocks.toLocaleString("en-US")} free chunks (${mib(s.raw.freeBytes)}, largest ${mib(s.raw.largestFree)})`,
  ];
  parts.push(`<g class="totals">`);
  for (const t of totals) {
    parts.push(`<text x="10" y="${y}" font-size="12">${esc(t)}</text>`);
    y += 16;
  }
  parts.push(`</g>`);
  y += 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>${parts.join("")}</svg>`;
}

export function heapHtml(heap: Heap, title = "pymalloc heap"): string {
  requireHeap(heap, "heapHtml");
  title = titleOf(title, "heapHtml");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:16px;background:#fafafa} pre{background:#fff;border:1px solid #ddd;padding:8px;font-size:12px}</style>
</head><body>
<div id="map">${heapSvg(heap, title)}</div>
<details><summary>debugMallocStats()</summary><pre id="stats">${esc(heap.debugMallocStats())}</pre></details>
</body></html>
`;
}
