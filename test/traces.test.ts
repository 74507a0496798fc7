// Replays real CPython traces with content verification, in both modes.
import { describe, expect, it } from "vitest";
import { createHeap } from "../src/index.js";
import { readTraceFile } from "../src/trace/file.js";
import { WARMUP_EVENTS, freeLive, liveAtEnd, replayTimed, replayVerify, warmupRuns } from "../src/trace/replay.js";
import { TraceFormatError, encodeTrace, parseTrace, traceStats } from "../src/trace/trace.js";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { BUNDLED_TRACE, ROOT, sharedTraces } from "./helpers.js";

const modes = ["pymalloc", "malloc"] as const;

describe("bundled trace", () => {
  const t = readTraceFile(BUNDLED_TRACE);

  it("is what data/README.md says", () => {
    const s = traceStats(t);
    expect(t.count).toBe(600000);
    expect(s.peakLiveBytes).toBe(7673351);
    expect(s.peakLiveBlocks).toBe(47941);
    expect(s.liveBlocksAtEnd).toBe(9020);
  });

  it.each(modes)("replays in %s mode with every block verified and check() every 50k events", (allocator) => {
    const heap = createHeap({ allocator });
    const r = replayVerify(heap, t, { checkEvery: 50000, freeAtEnd: true });
    expect(r.events).toBe(600000);
    expect(r.peakFootprint).toBeGreaterThan(traceStats(t).peakLiveBytes);
  });

  it.each(modes)("the timed replay in %s mode leaves a consistent heap that frees to empty", (allocator) => {
    const heap = createHeap({ allocator });
    const { ptr } = replayTimed(heap, t);
    heap.check();
    freeLive(heap, liveAtEnd(t), ptr);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });
});

describe("recorded small-heap traces (data/recorded)", () => {
  const RECORDED = ["hello", "argparse_small", "re_small", "difflib_small", "s_tiny_fmt", "s_classes_fmt"].map((n) => join(ROOT, "data", "recorded", `${n}.pymtrace.gz`));
  const kinds = [
    ["pymalloc", {}],
    ["malloc", { allocator: "malloc" }],
    ["pymalloc_debug", { allocator: "pymalloc_debug", traceAllocations: false }],
    ["hardened", { hardened: true }],
    ["whole pools", { subPools: false }],
    ["rawFirst", { rawFirst: true }],
  ] as const;
  it.each(RECORDED.flatMap((f) => kinds.map(([k, o]) => [f.split("/").pop()!, k, f, o] as const)))("%s in %s: every block verified, check() every 2,000 events, the heap empty at the end", (_n, _k, file, opts) => {
    const t = readTraceFile(file);
    const heap = createHeap(opts);
    const r = replayVerify(heap, t, { checkEvery: 2000, freeAtEnd: true });
    expect(r.events).toBe(t.count);
    expect(r.peakFootprint).toBeGreaterThan(traceStats(t).peakLiveBytes);
    expect(heap.stats().bytesInUse).toBe(0);
    heap.check();
  });
});

describe("replay warm-up (warmupRuns)", () => {
  it("replays a trace until WARMUP_EVENTS, at least once, at most 1000 times", () => {
    expect(WARMUP_EVENTS).toBe(5_000_000);
    expect(warmupRuns(8_022_157)).toBe(1); // json: once
    expect(warmupRuns(4_743_318)).toBe(2); // minidom
    expect(warmupRuns(1_875_241)).toBe(3); // imports: 5.6 million events
    expect(warmupRuns(600_000)).toBe(9); // the bundled trace
    expect(warmupRuns(2_886)).toBe(1000); // hello: at most 1000 runs
    expect(warmupRuns(75_993)).toBe(66); // re_small
    expect(warmupRuns(1)).toBe(1000);
    expect(warmupRuns(0)).toBe(1); // a trace of no events: one run, which times nothing
    expect(warmupRuns(600_000, 0)).toBe(1);
    expect(warmupRuns(600_000, 1_200_001)).toBe(3);
  });
});

describe("trace format errors", () => {
  const t = readTraceFile(BUNDLED_TRACE);
  const good = encodeTrace(t, 1000);
  it("rejects a bad magic, a wrong version and truncation with TraceFormatError", () => {
    const bad = good.slice();
    bad[0] = 0x41;
    expect(() => parseTrace(bad)).toThrow(/not a pymtrace file/);
    // A heap's saved bytes given where a trace goes: said so (a helper's probe, 2026-12-06).
    const heap = createHeap({ memoryKind: "fixed", initialBytes: 1 << 20, maxBytes: 1 << 20 });
    const heapBytes = heap.u8.slice(0, heap.stats().footprint);
    expect(() => parseTrace(heapBytes)).toThrow(/not a pymtrace file .*: these are a heap's bytes .*attachHeap\(\) opens/);
    const v2 = good.slice();
    v2[8] = 2;
    expect(() => parseTrace(v2)).toThrow(/version 2/);
    expect(() => parseTrace(good.subarray(0, good.length - 3))).toThrow(/truncated or corrupt/);
    expect(() => parseTrace(good.subarray(0, 10))).toThrow(TraceFormatError);
  });
  it("traceStats rejects events that break the trace invariants", () => {
    const bad = good.slice();
    const dv = new DataView(bad.buffer);
    // Turn the first event (a malloc) into a free of a slot that is not live.
    dv.setUint32(32, ((3 << 30) | (dv.getUint32(32, true) & 0x3fffffff)) >>> 0, true);
    expect(() => traceStats(parseTrace(bad))).toThrow(/not live/);
  });
});

describe("shared CPython traces", () => {
  const files = sharedTraces();
  if (files.length === 0) it.skip("../shared/traces is absent: nothing to replay here", () => {});
  else it.each(files.flatMap((f) => modes.map((m) => [f.split("/").pop()!, m, f] as const)))(
    "%s in %s mode, content verified",
    (_name, allocator, file) => {
      const t = readTraceFile(file);
      const r = replayVerify(createHeap({ allocator }), t, { checkEvery: 1_000_000, freeAtEnd: true });
      expect(r.events).toBe(t.count);
    },
  );
});

describe("a cold process's replay (V8's type feedback)", () => {
  // A short program pays for our functions' compiles: one that deoptimizes is compiled twice. A
  // fresh process decoding data/recorded/re_small (76,000 events) and replaying it once on a fresh
  // heap deoptimized three of ours, each a branch first taken after TurboFan had compiled it: the
  // trace check's code after its loop, the replay loop's deadline compare (taken only at its first
  // event, before V8 had allocated the function's feedback vector), and extendPool's first whole
  // pool (poolBytes' this.poolSize, read for whole pools only). 298.5 -> 225.7 M instructions for
  // the replay (scripts/cold-replay.mjs; docs/performance.md, session 50). TurboFan's compiles
  // and the GC on the main thread (the flags below), so the order of events is the same every run.
  // Longer traces took more such branches (session 50): difflib_small subPoolFilled's 1,024th fill
  // of a class (inlined into extendPool), s_classes_fmt calloc's `case 8` (its first 64-byte
  // block; now blocks of 61-63 bytes run it too), 1 deopt each before, none after.
  // Session 51: the raw allocator's test of a list's head when the head goes (listHeadOk,
  // inlined into releaseIf: an operand compared only then) took 1 deopt in malloc mode on each of
  // these three (and on compileall, imports, json and minidom, in every mode); none after.
  const cases: [string, string, number, boolean, string][] = [
    ["re_small, no deadline (the CLI's replay)", "recorded/re_small.pymtrace.gz", Infinity, false, "{}"],
    ["re_small, a deadline (npm run bench's)", "recorded/re_small.pymtrace.gz", Infinity, true, "{}"],
    ["difflib_small", "recorded/difflib_small.pymtrace.gz", Infinity, false, "{}"],
    ["s_classes_fmt", "recorded/s_classes_fmt.pymtrace.gz", Infinity, false, "{}"],
    ["re_small, malloc mode", "recorded/re_small.pymtrace.gz", Infinity, false, '{ allocator: "malloc" }'],
    ["argparse_small, malloc mode", "recorded/argparse_small.pymtrace.gz", Infinity, false, '{ allocator: "malloc" }'],
    ["s_tiny_fmt, malloc mode", "recorded/s_tiny_fmt.pymtrace.gz", Infinity, false, '{ allocator: "malloc" }'],
  ];
  it.each(cases)("deoptimizes none of the library's functions: %s", (_name, file, events, deadline, opts) => {
    const dist = (f: string) => JSON.stringify(join(ROOT, "dist", f).replaceAll("\\", "/"));
    const script = `
      const { readTraceFile } = await import(${dist("trace/file.js")});
      const { createHeap } = await import(${dist("index.js")});
      const { replayLoop } = await import(${dist("trace/replay.js")});
      const t = readTraceFile(${JSON.stringify(join(ROOT, "data", file))});
      const n = Math.min(t.count, ${events === Infinity ? "Infinity" : events});
      const heap = createHeap(${opts});
      const r = replayLoop(t.events, n, [heap.raw, heap.mem, heap.obj], heap, new Uint32Array(t.maxSlots), ${deadline ? "performance.now() + 1e9" : "0"});
      if (r.events !== n) throw new Error("replayed " + r.events + " events of " + n);`;
    const r = spawnSync(process.execPath, ["--no-concurrent-recompilation", "--single-threaded", "--trace-deopt-verbose", "--input-type=module", "-e", script], { encoding: "utf8", maxBuffer: 1 << 28 });
    expect(r.status, r.stderr).toBe(0);
    const ours = [...r.stdout.matchAll(/deoptimize at <([^>]*)>/g)].map((m) => m[1]).filter((at) => at.includes("/dist/"));
    expect(ours).toEqual([]);
  });

  it("calloc of a size not a multiple of 8, after many of 48 bytes, deoptimizes nothing", () => {
    // Its last word had a loop of its own that only such sizes ran (session 50): 1 deopt before.
    const script = `
      const { createHeap } = await import(${JSON.stringify(join(ROOT, "dist", "index.js").replaceAll("\\", "/"))});
      const heap = createHeap();
      for (let i = 0; i < 200000; i++) heap.mem.free(heap.mem.calloc(1, 48));
      const p = heap.mem.calloc(1, 44);
      if (heap.u8[p + 43] !== 0) throw new Error("not zeroed");`;
    const r = spawnSync(process.execPath, ["--no-concurrent-recompilation", "--single-threaded", "--trace-deopt-verbose", "--input-type=module", "-e", script], { encoding: "utf8", maxBuffer: 1 << 28 });
    expect(r.status, r.stderr).toBe(0);
    const ours = [...r.stdout.matchAll(/deoptimize at <([^>]*)>/g)].map((m) => m[1]).filter((at) => at.includes("/dist/"));
    expect(ours).toEqual([]);
  });
});
