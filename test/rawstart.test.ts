// createHeap({ rawFirst }), the raw start (issue #19, small heaps): a size class that never took
// a pool has its blocks served by the raw allocator until its chunk size's raw chunks reach the
// limits (RawStart in src/constants.ts), then pools for good. What it hands out, the counts it
// keeps in the heap (JS and the WebAssembly fast path alike), the footprint it saves.
import { describe, expect, it } from "vitest";
import { createHeap, constants, instantiateWithHeap, linkFastPath, type Heap } from "../src/index.js";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { SubPool, RawStart } from "../src/constants.js";
import { fastPathModule, type AllocatorFunctions } from "../src/compat/wasm-imports.js";
import { readTraceFile } from "../src/trace/file.js";
import { replayVerify } from "../src/trace/replay.js";
import { BUNDLED_TRACE, ROOT } from "./helpers.js";

/** The raw start's words in the heap's sub-pool table. */
function rawTable(heap: Heap) {
  const sub = heap.heapBase + heap.u32[(heap.heapBase >>> 2) + constants.H.SUBPOOLS];
  const w = (off: number) => heap.u32[(sub + off) >>> 2];
  return {
    first: w(SubPool.RAW_FIRST),
    everLimit: w(SubPool.RAW_EVER_LIMIT),
    live: (chunk: number) => w(SubPool.RAW_LIVE + (chunk >>> 4) * 4),
    ever: (chunk: number) => w(SubPool.RAW_EVER + (chunk >>> 4) * 4),
  };
}

/** Whether p is a block of a pool (walk() gives pool blocks their class; raw chunks -1). */
function inPool(heap: Heap, p: number): boolean {
  let cls: number | undefined;
  heap.walk((b) => {
    if (b.address === p) cls = b.sizeClass;
  });
  if (cls === undefined) throw new Error(`walk() does not list ${p}`);
  return cls >= 0;
}

describe("rawFirst option", () => {
  it("is off by default; true is 1024; numbers 0..65536; anything else a typed error", () => {
    expect(rawTable(createHeap()).first).toBe(0);
    const on = rawTable(createHeap({ rawFirst: true }));
    expect(on.first).toBe(RawStart.DEFAULT_FIRST);
    expect(on.everLimit).toBe(RawStart.DEFAULT_FIRST * RawStart.EVER_FACTOR);
    expect(rawTable(createHeap({ rawFirst: 7 })).first).toBe(7);
    expect(() => createHeap({ rawFirst: -1 })).toThrow(RangeError);
    expect(() => createHeap({ rawFirst: 1.5 })).toThrow(RangeError);
    expect(() => createHeap({ rawFirst: 65537 })).toThrow(RangeError);
    expect(() => createHeap({ rawFirst: "8" as unknown as number })).toThrow(TypeError);
  });
});

describe("the raw start in JS", () => {
  it("serves a young class raw up to the live limit, then takes a pool for good; the counts follow malloc, realloc and free", () => {
    const heap = createHeap({ rawFirst: 3 });
    const t = rawTable(heap);
    const chunk = 32; // malloc(24): a 32-byte raw chunk (24 + 4 rounded up to 16)
    const a = [heap.obj.malloc(24), heap.obj.malloc(24), heap.obj.malloc(24)];
    for (const p of a) expect(inPool(heap, p)).toBe(false);
    expect(t.live(chunk)).toBe(3);
    expect(t.ever(chunk)).toBe(3);
    heap.obj.free(a[2]);
    expect(t.live(chunk)).toBe(2);
    a[2] = heap.obj.malloc(24); // below the live limit again: raw
    expect(inPool(heap, a[2])).toBe(false);
    const d = heap.obj.malloc(24); // three live: the class takes a pool
    expect(inPool(heap, d)).toBe(true);
    // A raw block grown by realloc moves its count to its new size.
    const r = heap.obj.realloc(a[0], 40); // 48-byte chunk
    expect(t.live(chunk)).toBe(2);
    expect(t.live(48)).toBe(1);
    for (const p of [r, a[1], a[2], d]) heap.obj.free(p);
    expect(t.live(chunk)).toBe(0);
    expect(t.live(48)).toBe(0);
    // Once it took a pool, the class stays in pools though nothing of it is live.
    expect(inPool(heap, heap.obj.malloc(24))).toBe(true);
    heap.check();
  });

  it("a class churning through few blocks takes pools after its size's ever limit", () => {
    const heap = createHeap({ rawFirst: 2 }); // ever limit 4
    const seen: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      const p = heap.mem.malloc(100);
      seen.push(inPool(heap, p));
      heap.mem.free(p);
    }
    expect(seen).toEqual([false, false, false, false, true, true]);
    heap.check();
  });

  it("a block of another family freed here never takes a count below 0", () => {
    const heap = createHeap({ rawFirst: 4 });
    const p = heap.raw.malloc(24); // the raw family: not counted
    heap.mem.free(p); // a misuse release mode accepts
    expect(rawTable(heap).live(32)).toBe(0);
    heap.check();
  });

  it("with threads: raw blocks under the lock, the same counts", () => {
    const heap = createHeap({ rawFirst: 2, threads: true });
    const a = heap.obj.malloc(16);
    const b = heap.obj.malloc(16);
    const c = heap.obj.malloc(16);
    expect([inPool(heap, a), inPool(heap, b), inPool(heap, c)]).toEqual([false, false, true]);
    for (const p of [a, b, c]) heap.obj.free(p);
    expect(rawTable(heap).live(32)).toBe(0);
    heap.check();
  });
});

describe("the raw start on the bundled trace", () => {
  const t = readTraceFile(BUNDLED_TRACE);

  it("every block verified with check() along the way; a small heap takes what malloc mode takes, less than sub-pools", () => {
    const full = replayVerify(createHeap({ rawFirst: true }), t, { checkEvery: 50000, freeAtEnd: true });
    expect(full.events).toBe(t.count);
    // The first events: a small heap (well under 1 MiB live). Footprints are deterministic.
    const upTo = 2000;
    const cut = { ...t, count: upTo };
    const raw = replayVerify(createHeap({ rawFirst: true }), cut, {});
    const sub = replayVerify(createHeap(), cut, {});
    const malloc = replayVerify(createHeap({ allocator: "malloc" }), cut, {});
    expect(raw.peakFootprint).toBeLessThanOrEqual(malloc.peakFootprint);
    expect(raw.peakFootprint).toBeLessThan(sub.peakFootprint);
  });
});

describe("the raw start in the WebAssembly fast path", () => {
  it("serves young classes raw in wasm and keeps the counts JS keeps; either side frees the other's blocks", () => {
    const heap = createHeap({
      memory: new WebAssembly.Memory({ initial: 2, maximum: 4096 }),
      heapBase: 4096,
      rawFirst: 2,
    });
    const slow = {
      malloc: (n: number) => heap.mem.malloc(n >>> 0),
      free: (p: number) => heap.mem.free(p >>> 0),
      calloc: (a: number, b: number) => heap.mem.calloc(a >>> 0, b >>> 0),
      realloc: (p: number, n: number) => heap.mem.realloc(p >>> 0, n >>> 0),
    };
    const x = new WebAssembly.Instance(fastPathModule(false), { env: { memory: heap.memory.source as WebAssembly.Memory }, pymalloc: slow }).exports as unknown as AllocatorFunctions & {
      init(b: number, s: number): void;
    };
    x.init(heap.heapBase, heap.threadId);
    const t = rawTable(heap);
    const a = heap.mem.malloc(40); // JS: raw (48-byte chunk)
    const b = x.malloc(40) >>> 0; // wasm: raw
    expect(t.live(48)).toBe(2);
    expect(inPool(heap, a)).toBe(false);
    expect(inPool(heap, b)).toBe(false);
    const c = x.calloc(1, 40) >>> 0; // two live: a pool
    expect(inPool(heap, c)).toBe(true);
    x.free(a);
    heap.mem.free(b);
    expect(t.live(48)).toBe(0);
    const d = x.realloc(0, 200) >>> 0; // another class, young: raw (208-byte chunk)
    expect(inPool(heap, d)).toBe(false);
    const e = x.realloc(d, 300) >>> 0; // raw realloc in wasm: the count moves (a 320-byte chunk)
    expect(t.live(208)).toBe(0);
    expect(t.live(320)).toBe(1);
    heap.mem.free(e);
    x.free(c);
    expect(t.live(320)).toBe(0);
    heap.check();
  });
});

describe("the raw start in check()", () => {
  it("reports its limits written over, and a count past its limit", () => {
    const heap = createHeap({ rawFirst: 4 });
    heap.obj.malloc(24);
    heap.check();
    const sub = heap.heapBase + heap.u32[(heap.heapBase >>> 2) + constants.H.SUBPOOLS];
    const at = (off: number) => (sub + off) >>> 2;
    heap.u32[at(SubPool.RAW_FIRST)] = 5; // no longer half its ever limit
    expect(() => heap.check()).toThrow(/raw start limits/);
    heap.u32[at(SubPool.RAW_FIRST)] = 4;
    heap.check();
    heap.u32[at(SubPool.RAW_EVER + 2 * 4)] = 9; // 32-byte chunks: past the ever limit 8
    expect(() => heap.check()).toThrow(/raw start: 9 chunks of 32 bytes/);
  });
});

describe("the raw start under C code linked with the fast path (pymalloc link), plain and specialised", () => {
  it("the replayer gives the same results as without it, young classes are served raw (its counts say so), and the heap checks clean", async () => {
    const linked = await linkFastPath(new Uint8Array(readFileSync(join(ROOT, "wasm/clients/replay-pymalloc.wasm"))));
    const t = readTraceFile(BUNDLED_TRACE);
    const sums: number[] = [];
    for (const [rawFirst, specialize] of [[false, false], [true, false], [true, true]] as const) {
      const r = await instantiateWithHeap(linked, { specialize, rawFirst });
      const x = r.instance.exports as unknown as Record<string, (...a: number[]) => number>;
      const ev = x.setup(t.count, t.maxSlots) >>> 0;
      new Uint32Array((r.heap.memory.source as WebAssembly.Memory).buffer, ev, 2 * t.count).set(t.events.subarray(0, 2 * t.count));
      sums.push(x.replay(t.count) >>> 0);
      r.heap.check();
      const tbl = rawTable(r.heap);
      let ever = 0;
      for (let b = 1; b < RawStart.BUCKETS; b++) ever += tbl.ever(b * 16);
      if (rawFirst) expect(ever).toBeGreaterThan(1000);
      else expect(ever).toBe(0);
      x.release_all(t.maxSlots);
      r.heap.check();
    }
    expect(sums[1]).toBe(sums[0]);
    expect(sums[2]).toBe(sums[0]);
  });
});

describe("slow paths padded out of line (src/obmalloc/obmalloc.ts, outOfLine)", () => {
  // V8 (Node 20) never inlines a function of more than 460 bytes of bytecode. mallocFresh and
  // rawFree are padded past that so that the raw start's first calls, which make them hot, do not
  // get them inlined into malloc and free (rawFirst: +15-23% instructions an event without it);
  // a threads heap's extendPool (SharedObjectAllocator's) so that mallocIn stays small enough for
  // the caller's loop to inline (imports with threads: true, +18% time an event without it).
  // An edit that shrinks one below the limit fails here, not silently in a benchmark.
  // `printed`: how many functions of that name the script runs. extendPool is two: the threads
  // heap's override and ObjectAllocator's, which it calls (410 bytes, and V8 may inline it into
  // the override); the override is the longer one.
  it.each([
    ["mallocFresh", "{ allocator: \"pymalloc\", rawFirst: true }", 1],
    ["rawFree", "{ allocator: \"pymalloc\", rawFirst: true }", 1],
    ["extendPool", "{ allocator: \"pymalloc\", threads: true }", 2],
  ])("%s has more than 460 bytes of bytecode (heap %s)", (fn, options, printed) => {
    const script = `import { createHeap } from ${JSON.stringify(pathToFileURL(join(ROOT, "dist", "index.js")).href)};
const h = createHeap(${options});
for (let i = 0; i < 200; i++) h.obj.free(h.obj.malloc(8 + i));`;
    const r = spawnSync(process.execPath, ["--print-bytecode", `--print-bytecode-filter=${fn}`, "--input-type=module", "-e", script], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const lengths = [...r.stdout.matchAll(/Bytecode length: (\d+)/g)].map((m) => Number(m[1]));
    expect(new Set(lengths).size).toBe(printed);
    expect(Math.max(...lengths)).toBeGreaterThan(460);
    // Every function of a name printed once: the one padded (as before extendPool joined the table).
    if (printed === 1) for (const n of lengths) expect(n).toBeGreaterThan(460);
  });
});
