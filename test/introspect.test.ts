// debugMallocStats(), stats(), walk() and the heap picture, read from real heaps.
import { describe, expect, it } from "vitest";
import { createHeap, arenaAccounting, heapSvg, heapHtml, HeapCorruptionError } from "../src/index.js";
import { readTraceFile } from "../src/trace/file.js";
import { replayTo } from "../src/trace/replay.js";
import { traceStats } from "../src/trace/trace.js";
import { BUNDLED_TRACE, sharedTraces } from "./helpers.js";

describe("debugMallocStats()", () => {
  const traces = [BUNDLED_TRACE, ...sharedTraces().filter((f) => /imports|minidom/.test(f))];
  it.each(traces.map((f) => [f.split("/").pop()!, f]))("accounting adds up on %s, at its peak", (_n, file) => {
    const t = readTraceFile(file);
    const heap = createHeap();
    replayTo(heap, t, traceStats(t).peakEvent);
    const a = arenaAccounting(heap);
    const s = heap.stats();
    expect(a.arenaBytes).toBe(s.arenas.bytes);
    expect(a.allocatedBlocks + a.availableBlocks + a.unusedPoolBytes + a.poolHeaders + a.quantization + a.arenaOverhead).toBe(a.arenaBytes);
    expect(a.poolBytes + a.arenaOverhead).toBe(a.arenaBytes);
    // The arena line counts pool slots (a slot cut into sub-pools once): slots x pool size are the arenas' bytes.
    expect(a.slots * heap.objectAllocator.poolSize).toBe(a.arenaBytes);
    expect(a.pools).toBeGreaterThanOrEqual(a.slots);
    expect(a.poolBytes).toBeLessThanOrEqual(s.arenas.current * heap.objectAllocator.arenaSize);
    // Blocks per class agree with the byte figures.
    expect(s.classes.reduce((n, k) => n + k.blocksInUse * k.size, 0)).toBe(a.allocatedBlocks);
    // Every byte of the used region is a chunk, the header, or... nothing else.
    expect(s.raw.bytes + s.raw.freeBytes + s.arenas.bytes + heap.rawAllocator.start + 8).toBe(s.footprint);
    const text = heap.debugMallocStats();
    expect(text).toMatch(new RegExp(`^Small block threshold = 512, in ${512 / heap.alignment} size classes of ${heap.alignment} bytes\\.`));
    expect(text).toContain(`# bytes in allocated blocks         =${a.allocatedBlocks.toLocaleString("en-US").padStart(22)}`);
    expect(text).toContain(`Total                               =${a.arenaBytes.toLocaleString("en-US").padStart(22)}`);
    expect(text).toMatch(/# largest free chunk +=/);
    expect(text).toContain(`${s.arenas.current} arenas, ${a.slots} pools of ${heap.objectAllocator.poolSize} bytes`);
    heap.check();
  });
});

describe("walk()", () => {
  it("a free list that comes back on itself (a release-mode double free) or leads out of its pool: walk(), snapshot() and leaks() report it, never loop", () => {
    for (const damage of ["cycle", "wild"] as const) {
      const h = createHeap();
      const [a, b] = [h.obj.malloc(48), h.obj.malloc(48), h.obj.malloc(48), h.obj.malloc(48)];
      h.obj.free(a);
      h.obj.free(b);
      if (damage === "cycle") h.obj.free(a); // accepted in release mode (a not its pool's first free block): a -> b -> a
      else h.u32[b >>> 2] = b + 8; // b's link: inside a block, no block start
      expect(() => h.walk(() => {})).toThrow(HeapCorruptionError);
      expect(() => h.snapshot()).toThrow(HeapCorruptionError);
      expect(() => h.leaks()).toThrow(HeapCorruptionError);
      expect(() => h.check()).toThrow(HeapCorruptionError);
    }
  });

  it("visits every live block once, with its size and size class", () => {
    const h = createHeap();
    const want = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const n = 1 + ((i * 37) % 900);
      want.set(h.mem.malloc(n), n);
    }
    for (const p of [...want.keys()].slice(0, 1000)) {
      h.mem.free(p);
      want.delete(p);
    }
    const seen = new Map<number, number>();
    h.walk((b) => {
      expect(seen.has(b.address)).toBe(false);
      seen.set(b.address, b.size);
      expect(b.sizeClass === -1 ? b.size > 512 || want.get(b.address)! > 512 : b.size === (b.sizeClass + 1) * h.alignment).toBe(true);
    });
    expect([...seen.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [p, n] of want) expect(seen.get(p)!).toBeGreaterThanOrEqual(n);
  });

  it("in debug modes reports requested sizes, families and serials, and skips quarantined blocks", () => {
    const h = createHeap({ allocator: "debug", traceAllocations: false });
    const a = h.obj.malloc(10);
    const b = h.raw.malloc(1000);
    h.mem.free(h.mem.malloc(5));
    const seen: Array<[number, number, string | undefined]> = [];
    h.walk((x) => seen.push([x.address, x.size, x.family]));
    expect(seen.sort()).toEqual([
      [a, 10, "o"],
      [b, 1000, "r"],
    ].sort());
  });
});

describe("heap picture", () => {
  it("draws every arena as a row of pools, the raw strip, a legend and totals", () => {
    const h = createHeap();
    const keep: number[] = [];
    for (let i = 0; i < 40000; i++) keep.push(h.obj.malloc(1 + (i % 512)));
    h.raw.malloc(100000);
    const svg = heapSvg(h, "test heap");
    const arenas = h.stats().arenas.current;
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<g class="arena">/g)!.length).toBe(arenas);
    expect(svg.match(/class="pool"/g)!.length).toBe(arenaAccounting(h).pools);
    expect(svg).toContain('<g class="legend">');
    expect(svg).toContain('<g class="raw-strip">');
    expect(svg).toMatch(new RegExp(`class ${512 / h.alignment - 1} \\(512 B\\), \\d+/31 blocks`));
    const html = heapHtml(h, "test heap");
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain("debugMallocStats()");
  });
});

describe("the map helpers' arguments", () => {
  it("heapSvg, heapHtml and arenaAccounting want a pymalloc heap (a TypeError naming the helper otherwise); a title is shown as text", () => {
    for (const bad of [undefined, null, {}, 5]) {
      expect(() => heapSvg(bad as never)).toThrow(/heapSvg: expected a heap/);
      expect(() => heapHtml(bad as never)).toThrow(TypeError);
      expect(() => arenaAccounting(bad as never)).toThrow(/arenaAccounting: expected a heap/);
    }
    const h = createHeap();
    expect(heapSvg(h, 5 as never)).toContain(">5</text>");
    expect(() => heapSvg(h, {} as never)).toThrow(/title must be a string, got object/);
    expect(() => heapHtml(h, null as never)).toThrow(TypeError);
    // the legend names each colour once: raw blocks, free chunks, arenas, the allocator's own chunks, the untouched top
    const svg = heapSvg(h);
    expect(svg.match(/untouched top<\/text>/g)?.length).toBe(1);
    expect(svg).toContain("allocator's own (pool map, usedpools)</text>");
  });
});
