// Heap snapshots (heap.snapshot(), compare()), sampled allocation sites (sampleInterval) and
// `pymalloc diff`: groups, totals and differences asserted against what the test allocated.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { attachHeap, createHeap, HeapSnapshot, sampleWeight, type Heap } from "../src/index.js";
import { BUNDLED_TRACE, ROOT, runNode } from "./helpers.js";

const keepers: number[] = [];
function leakSmall(heap: Heap, n: number): void {
  for (let i = 0; i < n; i++) keepers.push(heap.mem.malloc(48));
}
function leakLarge(heap: Heap, n: number): void {
  for (let i = 0; i < n; i++) keepers.push(heap.obj.malloc(3000));
}

describe("heap.snapshot() and compare()", () => {
  it.each(["pymalloc", "malloc", "debug", "pymalloc_debug", "malloc_debug"] as const)("%s: groups by size class (and family where known), gains and losses", (allocator) => {
    const heap = createHeap({ allocator, traceAllocations: false });
    const before = heap.snapshot();
    const old: number[] = Array.from({ length: 30 }, () => heap.raw.malloc(100));
    const oldSize = heap.usableSize(old[0]);
    const mid = heap.snapshot();
    const small = Array.from({ length: 100 }, () => heap.mem.malloc(41)); // class 48 (alignment 8)
    const big = Array.from({ length: 5 }, () => heap.obj.malloc(3000));
    for (const p of old) heap.raw.free(p);
    heap.drainQuarantine();
    const after = heap.snapshot();
    const debug = heap.debug !== undefined;
    const key = (fam: string, group: string): string => (debug ? `${fam} ${group}` : group);
    // Requested bytes in the debug modes, usable bytes in release modes.
    const size = (p: number): number => heap.usableSize(p);
    const rawKey = key("r", debug ? "104 B" : `${Math.ceil(oldSize / 8) * 8} B`);
    const d = after.compare(mid);
    expect(d.by).toBe("size");
    expect(d.estimated).toBe(false);
    const g = (k: string) => d.groups.find((x) => x.key === k);
    // malloc mode's blocks are raw chunks, grouped by usable size (41 bytes: a 64-byte chunk, 56 usable).
    const smallKey = key("m", allocator === "malloc" ? `${Math.ceil(size(small[0]) / 8) * 8} B` : "48 B");
    expect(g(smallKey)).toEqual({ key: smallKey, blocks: 100, bytes: size(small[0]) * 100, blocksDiff: 100, bytesDiff: size(small[0]) * 100 });
    if (debug) expect(size(small[0])).toBe(41);
    expect(g(key("o", "2049-4096 B"))).toMatchObject({ blocks: 5, blocksDiff: 5 });
    expect(g(rawKey)).toMatchObject({ blocks: 0, blocksDiff: -30 });
    expect(d.blocksDiff).toBe(75);
    expect(d.totalBlocks).toBe(105);
    // Sorted by growth: the 3000-byte blocks first, the freed 100-byte ones last.
    expect(d.groups[0].key).toBe(key("o", "2049-4096 B"));
    expect(d.groups.at(-1)!.key).toBe(rawKey);
    expect(d.grown.map((x) => x.key)).toEqual([key("o", "2049-4096 B"), smallKey]);
    expect(d.shrunk.map((x) => x.key)).toEqual([rawKey]);
    expect(String(d)).toMatch(new RegExp(`grew: 2 of 2 size groups[^]*  ${smallKey}: [0-9]+ B \\(\\+[0-9]+ B\\), 100 block\\(s\\) \\(\\+100\\)[^]*shrank: 1 of 1[^]*\\(-30\\)`));
    const j = JSON.parse(JSON.stringify(d));
    expect(j).toMatchObject({ by: "size", blocksDiff: 75, totalBlocks: 105 });
    expect(j.groups).toHaveLength(3);
    expect(after.compare(before).blocksDiff).toBe(105);
    expect(after.statistics("size")[0]).toMatchObject({ key: key("o", "2049-4096 B"), blocks: 5 });
    expect(JSON.parse(JSON.stringify(after))).toMatchObject({ mode: allocator, sites: "none", totalBlocks: 105 });
    expect(() => after.statistics("site")).toThrow(RangeError);
    expect(() => after.compare({} as HeapSnapshot)).toThrow(TypeError);
    for (const p of small) heap.mem.free(p);
    for (const p of big) heap.obj.free(p);
    heap.drainQuarantine();
    expect(heap.snapshot().compare(before).groups).toEqual([]);
    heap.check();
  });

  it("debug modes with traceAllocations: grouped by allocation site", () => {
    const heap = createHeap({ allocator: "debug" });
    keepers.length = 0;
    const s0 = heap.snapshot();
    leakSmall(heap, 20);
    leakLarge(heap, 3);
    const d = heap.snapshot().compare(s0);
    expect(d.by).toBe("site");
    expect(d.groups).toHaveLength(2);
    // Sorted by growth in bytes: the 9000 bytes come first.
    expect(d.groups[0]).toMatchObject({ blocks: 3, bytes: 9000, blocksDiff: 3, bytesDiff: 9000 });
    expect(d.groups[0].key).toMatch(/leakLarge .*snapshot\.test\.ts/);
    expect(d.groups[1]).toMatchObject({ blocks: 20, bytes: 960, blocksDiff: 20, bytesDiff: 960 });
    expect(d.groups[1].key).toMatch(/leakSmall .*snapshot\.test\.ts/);
    for (const p of keepers.splice(0, 20)) heap.mem.free(p);
    const d2 = heap.snapshot().compare(s0);
    expect(d2.groups.map((g) => [g.blocksDiff, g.bytesDiff])).toEqual([[3, 9000], [0, 0]].slice(0, 1));
    expect(String(d2)).toMatch(/grew: 1 of 1 sites, largest growth first\n  at leakLarge/);
  });
});

describe("sampled sites (sampleInterval)", () => {
  it("weights: a sample of s bytes stands for 1/(1-exp(-s/N)) blocks", () => {
    expect(sampleWeight(512 * 1024, 512 * 1024)).toBeCloseTo(1 / (1 - Math.exp(-1)), 12);
    expect(sampleWeight(64, 4096)).toBeCloseTo(64.5, 1); // about N/s for small blocks
    expect(sampleWeight(1 << 30, 4096)).toBe(1);
  });

  it("estimates blocks and bytes per site within a few percent; leaks() and snapshots work in release mode", () => {
    const heap = createHeap({ sampleInterval: 4096 });
    keepers.length = 0;
    const s0 = heap.snapshot();
    leakSmall(heap, 40000); // 1.9 MB in 48-byte blocks: ~470 samples
    leakLarge(heap, 600); // 1.8 MB in 3000-byte blocks: ~430 samples
    const s1 = heap.snapshot();
    expect(s1.sites).toBe("sampled");
    expect(s1.sampleInterval).toBe(4096);
    const d = s1.compare(s0);
    expect(d.estimated).toBe(true);
    const small = d.groups.find((g) => /leakSmall/.test(g.key))!;
    const large = d.groups.find((g) => /leakLarge/.test(g.key))!;
    // Poisson sampling: ~470 and ~430 samples, so 20% is more than 4 standard deviations.
    expect(small.bytes / (40000 * 48)).toBeGreaterThan(0.8);
    expect(small.bytes / (40000 * 48)).toBeLessThan(1.2);
    expect(large.bytes / (600 * 3000)).toBeGreaterThan(0.8);
    expect(large.bytes / (600 * 3000)).toBeLessThan(1.2);
    expect(small.blocks / 40000).toBeGreaterThan(0.8);
    expect(small.blocks / 40000).toBeLessThan(1.2);
    // Exact totals and size groups all the same.
    expect(d.blocksDiff).toBe(40600);
    expect(s1.statistics("size").find((g) => g.key === "48 B")).toEqual({ key: "48 B", blocks: 40000, bytes: 40000 * 48 });
    const leaks = heap.leaks();
    expect(leaks.totalBlocks).toBe(40600);
    expect(leaks.bySite.map((s) => s.site).join("\n")).toMatch(/leakSmall[^]*\n.*leakLarge|leakLarge[^]*\n.*leakSmall/);
    expect(String(leaks)).toMatch(/sampled \(one per 4096 bytes on average\)/);
    // Freeing takes samples out: the small site goes to about zero.
    for (const p of keepers.splice(0, 40000)) heap.mem.free(p);
    const d2 = heap.snapshot().compare(s1);
    expect(d2.groups.find((g) => /leakSmall/.test(g.key))!).toMatchObject({ blocks: 0, bytes: 0 });
    expect(d2.blocksDiff).toBe(-40000);
    // realloc keeps the table right; the table itself is no block of the user's.
    let p = heap.mem.malloc(10);
    for (let i = 0; i < 2000; i++) p = heap.mem.realloc(p, 100 + (i % 900));
    heap.mem.free(p);
    for (const q of keepers.splice(0)) heap.obj.free(q);
    const end = heap.snapshot();
    expect(end.totalBlocks).toBe(0);
    expect(end.statistics("site")).toEqual([]);
    heap.check();
  });

  it("attachHeap keeps sampling; another handle's sites are counted under its thread", () => {
    const heap = createHeap({ sampleInterval: 64 });
    for (let i = 0; i < 100; i++) heap.mem.malloc(64);
    const again = attachHeap(heap.memory.source);
    expect(again.sampler?.interval).toBe(64);
    const sites = again.snapshot().statistics("site");
    expect(sites.map((s) => s.key)).toEqual(["(sampled by another handle of this heap)"]);
    expect(sites[0].blocks).toBeGreaterThan(50);
  });

  it("site ids of samples another handle freed are swept and reused, never confused", () => {
    const a = createHeap({ sampleInterval: 1 }); // every allocation sampled
    const b = attachHeap(a.memory.source);
    function fromA(n: number): number[] {
      return Array.from({ length: n }, () => a.mem.malloc(32));
    }
    function againFromA(n: number): number[] {
      return Array.from({ length: n }, () => a.mem.malloc(32));
    }
    for (const p of fromA(5000)) b.mem.free(p); // freed by the other handle: a's ids go stale
    const kept = againFromA(5000); // a runs out of ids, sweeps, reuses them
    const sites = a.snapshot().statistics("site");
    expect(sites).toHaveLength(1);
    expect(sites[0].key).toMatch(/againFromA/);
    expect(Math.round(sites[0].blocks)).toBe(5000);
    for (const p of kept) a.mem.free(p);
    expect(a.snapshot().statistics("site")).toEqual([]);
    a.check();
  });

  it("is off by default, ignored in debug modes, and checked", () => {
    expect(createHeap().sampler).toBeUndefined();
    expect(createHeap({ sampleInterval: false }).sampler).toBeUndefined();
    expect(createHeap({ sampleInterval: true }).sampler?.interval).toBe(512 * 1024);
    expect(createHeap({ allocator: "debug", sampleInterval: 100 }).sampler).toBeUndefined();
    expect(() => createHeap({ sampleInterval: 0 })).toThrow(RangeError);
    expect(() => createHeap({ sampleInterval: -5 })).toThrow(RangeError);
    expect(() => createHeap({ sampleInterval: 2 ** 40 })).toThrow(RangeError);
    expect(() => createHeap({ sampleInterval: "1k" as unknown as number })).toThrow(TypeError);
  });

  it("the sample table is counted (stats().internalBytes) and shrinks: collect() gives a table back that freed samples left large, and a full raw allocator has it make room", () => {
    for (const sampleInterval of [true, 64] as const) {
      const h = createHeap({ sampleInterval });
      const fresh = h.stats().footprint;
      const ps: number[] = [];
      for (let i = 0; i < 20000; i++) ps.push(h.mem.malloc(100));
      const big = h.raw.malloc(1 << 20); // above the table: the footprint comes down only if the table goes
      const during = h.stats();
      // Every byte below the footprint accounted for (the top chunk's header aside).
      expect(during.headerBytes + during.internalBytes + during.raw.bytes + during.raw.freeBytes + during.arenas.bytes).toBe(during.footprint - 16);
      expect(during.internalBytes).toBeGreaterThan(sampleInterval === 64 ? 300_000 : 32_000); // the state's bitmap, and the table
      for (const p of ps) h.mem.free(p);
      h.raw.free(big);
      h.collect();
      const after = h.stats();
      expect(after.footprint).toBe(fresh); // the table was given back with the blocks
      expect(h.debugMallocStats()).toMatch(/# bytes in allocator chunks/);
      expect(h.leaks().totalBlocks).toBe(0);
      // Sampling goes on: a new table when the next sample comes.
      const again = Array.from({ length: 2000 }, () => h.obj.malloc(300));
      expect(h.leaks().totalBlocks).toBe(2000);
      for (const p of again) h.obj.free(p);
      h.check();
    }
    // A fixed 1 MiB heap whose samples came and went: a large request finds the table's room.
    const f = createHeap({ memoryKind: "fixed", initialBytes: 1 << 20, maxBytes: 1 << 20, sampleInterval: 1024 });
    const ps = Array.from({ length: 4000 }, () => f.mem.malloc(120));
    for (const p of ps) f.mem.free(p);
    const q = f.raw.malloc(900_000);
    expect(q).not.toBe(0);
    f.raw.free(q);
    f.check();
  });

  it("threads: two Workers sample into one table; frees by the other thread take samples out", async () => {
    const heap = createHeap({ threads: true, sampleInterval: 256 });
    const src = `
      import { workerData, parentPort } from "node:worker_threads";
      const { attachHeap } = await import(workerData.lib);
      const heap = attachHeap(workerData.memory);
      parentPort.on("message", (m) => {
        if (m.op === "alloc") parentPort.postMessage(Array.from({ length: m.n }, (_, i) => heap.mem.malloc(16 + (i % 200))));
        else if (m.op === "free") { for (const p of m.ptrs) heap.mem.free(p); heap.detachThread(); parentPort.postMessage("done"); }
      });`;
    const lib = new URL("../dist/index.js", import.meta.url).href;
    const ws = [0, 1].map(() => new Worker(src, { eval: true, workerData: { memory: heap.memory.source, lib } }));
    const ask = (w: Worker, m: unknown) => new Promise<never>((res, rej) => { w.once("message", res); w.once("error", rej); w.postMessage(m); });
    const [a, b] = (await Promise.all(ws.map((w) => ask(w, { op: "alloc", n: 20000 })))) as unknown as number[][];
    const mid = heap.snapshot();
    expect(mid.totalBlocks).toBe(40000);
    const est = mid.statistics("site").reduce((n, s) => n + s.blocks, 0);
    expect(est / 40000).toBeGreaterThan(0.8);
    expect(est / 40000).toBeLessThan(1.2);
    await Promise.all([ask(ws[0], { op: "free", ptrs: b }), ask(ws[1], { op: "free", ptrs: a })]);
    await Promise.all(ws.map((w) => w.terminate()));
    const end = heap.snapshot();
    expect(end.totalBlocks).toBe(0);
    expect(end.statistics("site")).toEqual([]);
    heap.check();
  });
});

describe("pymalloc diff", () => {
  const BIN = join(ROOT, "dist", "cli", "main.js");
  const run = (...args: string[]) => runNode([BIN, ...args], ROOT);

  it("prints what each size class and family gained and lost between two events", async () => {
    const r = await run("diff", BUNDLED_TRACE, "--from", "10000", "--to", "peak", "--top", "3");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^# compileall-head: event 524,843 compared with event 10,000 of 600,000 \(debug\)/);
    expect(r.stdout).toMatch(/grew: 3 of \d+ size groups, largest growth first\n  m 8193-16384 B: [\d.]+ KiB \(\+[\d.]+ KiB\), 497 block\(s\) \(\+456\)/);
  });

  it("--json: the comparison as data, consistent with the replay's own totals", async () => {
    const r = await run("diff", BUNDLED_TRACE, "--from", "peak", "--to", "end", "--allocator", "pymalloc", "--json");
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ trace: "compileall-head", allocator: "pymalloc", from: 524843, to: 600000, by: "size", estimated: false });
    const sum = j.groups.reduce((n: number, g: { blocksDiff: number }) => n + g.blocksDiff, 0);
    expect(sum).toBe(j.blocksDiff);
    expect(j.totalBlocks - j.blocksDiff).toBe(47940); // the blocks live at --from peak, as the walk counts them (also the first line of "diff --from peak" by size)
  });

  it.each([
    [["diff", BUNDLED_TRACE], /diff needs --from/],
    [["diff", BUNDLED_TRACE, "--from", "x"], /--from must be "peak", "end" or an event count/],
    [["diff", BUNDLED_TRACE, "--from", "10", "--top", "0"], /--top must be/],
    [["diff"], /expects one trace file/],
  ])("%j: exit 2 with a one-line error", async (args, msg) => {
    const r = await run(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(msg);
  });
});

describe("snapshots of different heaps and modes", () => {
  it("by size, a debug mode's snapshot and a release mode's are a RangeError (their groups never matched: every block was reported lost and made again); like modes compare", () => {
    const heaps = { debug: createHeap({ allocator: "debug", traceAllocations: false }), pymalloc: createHeap(), malloc: createHeap({ allocator: "malloc" }), pymalloc_debug: createHeap({ allocator: "pymalloc_debug", traceAllocations: false }) };
    for (const h of Object.values(heaps)) for (let i = 0; i < 10; i++) h.mem.malloc(48);
    const snap = Object.fromEntries(Object.entries(heaps).map(([k, h]) => [k, h.snapshot()]));
    expect(() => snap.debug.compare(snap.pymalloc, "size")).toThrow(RangeError);
    expect(() => snap.debug.compare(snap.pymalloc, "size")).toThrow(/a debug snapshot's size groups carry the family \("o 48 B".* a pymalloc snapshot's do not/);
    expect(() => snap.malloc.compare(snap.pymalloc_debug, "size")).toThrow(/a pymalloc_debug snapshot's .* a malloc snapshot's do not/);
    // A saved one brought back is the same.
    expect(() => HeapSnapshot.fromJSON(JSON.stringify(snap.pymalloc)).compare(snap.debug, "size")).toThrow(RangeError);
    expect(snap.pymalloc.compare(snap.malloc, "size").blocksDiff).toBe(0);
    expect(snap.debug.compare(snap.pymalloc_debug, "size").groups).toEqual([{ key: "m 48 B", blocks: 10, bytes: 480, blocksDiff: 0, bytesDiff: 0 }]);
  });

  it("by size, snapshots of heaps of 8- and 16-byte alignment are a RangeError naming both (a 20-byte block is '24 B' in one and '32 B' in the other: every small block read as lost and made again); the alignment is recorded and saved", () => {
    for (const allocator of ["pymalloc", "debug"] as const) {
      const a8 = createHeap({ allocator, traceAllocations: false });
      const a16 = createHeap({ allocator, traceAllocations: false, alignment: 16 });
      for (const h of [a8, a16]) for (let i = 0; i < 10; i++) h.obj.malloc(20);
      const [s8, s16] = [a8.snapshot(), a16.snapshot()];
      expect([s8.alignment, s16.alignment]).toEqual([8, 16]);
      const f = allocator === "debug" ? "o " : "";
      expect(s8.statistics("size").map((g) => g.key)).toEqual([`${f}24 B`]);
      expect(s16.statistics("size").map((g) => g.key)).toEqual([`${f}32 B`]);
      expect(() => s16.compare(s8, "size")).toThrow(RangeError);
      expect(() => s16.compare(s8, "size")).toThrow(/this snapshot's heap aligns small blocks to 16 bytes and the older one's to 8: their size groups are other size classes/);
      expect(() => s8.compare(s16)).toThrow(/aligns small blocks to 8 bytes and the older one's to 16/); // by size: no sites recorded
      // Saved and brought back, the same; heaps of one alignment compare.
      const back = HeapSnapshot.fromJSON(JSON.stringify(s8));
      expect(back.alignment).toBe(8);
      expect(() => s16.compare(back, "size")).toThrow(RangeError);
      expect(back.compare(s8, "size").groups).toEqual([{ key: `${f}24 B`, blocks: 10, bytes: allocator === "debug" ? 200 : 240, blocksDiff: 0, bytesDiff: 0 }]);
    }
    // By site (the sites are the same code whatever the alignment), they compare.
    const t8 = createHeap({ allocator: "debug" });
    const t16 = createHeap({ allocator: "debug", alignment: 16 });
    const make = (h: Heap) => h.obj.malloc(20);
    make(t8);
    make(t16);
    expect(t16.snapshot().compare(t8.snapshot(), "site").blocksDiff).toBe(0);
  });

  it("fromJSON: an alignment no heap has, or a size group no size class of the alignment, is a RangeError; a snapshot saved without its alignment (before it was recorded) compares as it did", () => {
    const j = createHeap().snapshot().toJSON();
    expect(j.alignment).toBe(8);
    expect(() => HeapSnapshot.fromJSON({ ...j, alignment: 12 })).toThrow(/alignment 12 \(a heap aligns small blocks to 8 or 16 bytes\)/);
    expect(() => HeapSnapshot.fromJSON({ ...j, alignment: 16, totalBlocks: 1, totalBytes: 24, bySize: [{ key: "24 B", blocks: 1, bytes: 24 }] })).toThrow(/bySize holds the group "24 B", no size class of a heap of alignment 16/);
    const old = { ...j, totalBlocks: 1, totalBytes: 24, bySize: [{ key: "24 B", blocks: 1, bytes: 24 }] };
    delete (old as { alignment?: number }).alignment;
    const before = HeapSnapshot.fromJSON(old);
    expect(before.alignment).toBeUndefined();
    const h16 = createHeap({ alignment: 16 });
    h16.obj.malloc(20);
    expect(h16.snapshot().compare(before, "size").blocksDiff).toBe(0);
  });

  it("fromJSON: sites a mode never records, and a sampleInterval createHeap refuses, are RangeErrors", () => {
    const j = createHeap().snapshot().toJSON();
    expect(() => HeapSnapshot.fromJSON({ ...j, mode: "debug", sites: "sampled", sampleInterval: 64, bySite: [] })).toThrow(/sites "sampled" in a debug snapshot/);
    expect(() => HeapSnapshot.fromJSON({ ...j, sites: "traced", bySite: [] })).toThrow(/sites "traced" in a pymalloc snapshot/);
    expect(() => HeapSnapshot.fromJSON({ ...j, sites: "sampled", sampleInterval: 1e300, bySite: [] })).toThrow(/sampleInterval 1e\+300 .*expected 1 to 536870912/);
    expect(HeapSnapshot.fromJSON({ ...j, sites: "sampled", sampleInterval: 2 ** 29, bySite: [] }).sampleInterval).toBe(2 ** 29);
  });
});

describe("HeapSnapshot.fromJSON", () => {
  it("brings a saved snapshot back, to compare with a later one (text or object); anything else is a TypeError", () => {
    const heap = createHeap({ allocator: "debug" });
    const keep: number[] = [];
    function remember(n: number): void {
      for (let i = 0; i < n; i++) keep.push(heap.obj.malloc(48));
    }
    remember(10);
    const saved = JSON.stringify(heap.snapshot());
    remember(100);
    const now = heap.snapshot();
    for (const before of [HeapSnapshot.fromJSON(saved), HeapSnapshot.fromJSON(JSON.parse(saved))]) {
      expect(before).toBeInstanceOf(HeapSnapshot);
      expect(JSON.stringify(before)).toBe(saved);
      const d = now.compare(before);
      expect(d.blocksDiff).toBe(100);
      expect(d.groups[0].key).toMatch(/remember/);
      expect(now.compare(before, "size").groups[0]).toMatchObject({ blocksDiff: 100 });
    }
    expect(() => HeapSnapshot.fromJSON("{}")).toThrow(TypeError);
    expect(() => HeapSnapshot.fromJSON({ ...JSON.parse(saved), bySize: [{ key: 1 }] })).toThrow(/bySize holds/);
  });
});
