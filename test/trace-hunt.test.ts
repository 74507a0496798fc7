// Traces the project has not seen: every feature FORMAT.md allows (each op in each domain, sizes
// 0 and huge, realloc to 0, calloc, LIFO slot reuse, blocks live at the end, gzip or not) replayed
// with every block verified in every mode, through the library and the CLI; malformed traces and
// odd options refused with a typed error / one line and exit 2; a large heap replayed linearly.
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createHeap, type HeapOptions } from "../src/index.js";
import { readTraceFile, TRACE_MAX_BYTES, TRACE_MAX_BYTES_ENV } from "../src/trace/file.js";
import { ReplayError, freeLive, liveAtEnd, replayRange, replayTimed, replayTo, replayVerify } from "../src/trace/replay.js";
import { TraceFormatError, encodeTrace, parseTrace, traceStats, type Trace } from "../src/trace/trace.js";
import { BUNDLED_TRACE, ROOT } from "./helpers.js";

const BIN = join(ROOT, "dist", "cli", "main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT });
const runAsync = (...args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT }, (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }));
  });
const DIR = mkdtempSync(join(tmpdir(), "pymalloc-hunt-"));

const MALLOC = 0, CALLOC = 1, REALLOC = 2, FREE = 3;
const RAW = 0, MEM = 1, OBJ = 2;
type Ev = [op: number, domain: number, slot: number, size: number];

/** A decompressed trace of these events (header fields overridable). */
function traceBytes(evs: Ev[], h: { maxSlots?: number; count?: number | bigint; version?: number; flags?: number; magic?: string; reserved?: number } = {}): Buffer {
  const head = Buffer.alloc(32);
  head.write(h.magic ?? "PYMTRACE", 0, "latin1");
  head.writeUInt32LE(h.version ?? 1, 8);
  head.writeUInt32LE(h.flags ?? 0, 12);
  head.writeBigUInt64LE(BigInt(h.count ?? evs.length), 16);
  head.writeUInt32LE(h.maxSlots ?? evs.reduce((m, e) => Math.max(m, e[2] + 1), 0), 24);
  head.writeUInt32LE(h.reserved ?? 0, 28);
  const body = Buffer.alloc(8 * evs.length);
  evs.forEach(([op, d, s, n], i) => {
    body.writeUInt32LE(((op << 30) | (d << 28) | s) >>> 0, 8 * i);
    body.writeUInt32LE(n >>> 0, 8 * i + 4);
  });
  return Buffer.concat([head, body]);
}
let files = 0;
function traceFile(data: Uint8Array, name = `t${files++}`, ext = ".pymtrace.gz"): string {
  const f = join(DIR, name + ext);
  writeFileSync(f, data);
  return f;
}

/** Every feature of the format in one trace: each op in each domain, sizes 0, 1, 512/513, 1 MiB, realloc to 0 and back, LIFO reuse, live blocks at the end. */
function featureTrace(): Ev[] {
  const evs: Ev[] = [];
  for (const d of [RAW, MEM, OBJ]) {
    const b = d * 10;
    evs.push(
      [MALLOC, d, b + 0, 0], // a 0-byte malloc: a valid, distinct block
      [CALLOC, d, b + 1, 0], // a 0-byte calloc
      [MALLOC, d, b + 2, 1],
      [CALLOC, d, b + 3, 512],
      [CALLOC, d, b + 4, 513],
      [MALLOC, d, b + 5, 1 << 20],
      [REALLOC, d, b + 2, 0], // realloc to 0 resizes, it does not free
      [REALLOC, d, b + 2, 700], // from 0 to a large block
      [REALLOC, d, b + 3, 8], // shrinks across 512
      [REALLOC, d, b + 4, 2 << 20], // grows a large block
      [REALLOC, d, b + 0, 24], // grows a 0-byte block
      [CALLOC, d, b + 6, 3 << 20], // a large calloc
      [FREE, d, b + 6, 0],
      [CALLOC, d, b + 6, 100], // the slot again (LIFO reuse), zeroed
      [FREE, d, b + 1, 0],
      [FREE, d, b + 5, 0],
      [MALLOC, d, b + 5, 48],
      [FREE, d, b + 0, 0],
      // b+2, b+3, b+4, b+5, b+6 stay live at the end
    );
  }
  // Many small blocks in every class of each family, freed in an interleaved order.
  for (let i = 0; i < 600; i++) evs.push([i % 3 === 0 ? CALLOC : MALLOC, i % 3, 100 + i, (i * 37) % 1200]);
  for (let i = 0; i < 600; i += 2) evs.push([FREE, i % 3, 100 + i, 0]);
  for (let i = 1; i < 600; i += 2) evs.push([REALLOC, i % 3, 100 + i, (i * 53) % 900]);
  return evs;
}

const MODES: [string, HeapOptions][] = [
  ["pymalloc", { allocator: "pymalloc" }],
  ["malloc", { allocator: "malloc" }],
  ["debug", { allocator: "debug" }],
  ["debug untraced", { allocator: "debug", traceAllocations: false }],
  ["pymalloc_debug", { allocator: "pymalloc_debug" }],
  ["malloc_debug", { allocator: "malloc_debug" }],
  ["threads", { threads: true }],
  ["threads debug", { threads: true, allocator: "debug" }],
  ["hardened", { hardened: true }],
  ["alignment 16", { alignment: 16 }],
  ["whole pools", { subPools: false }],
  ["rawFirst", { rawFirst: true }],
  ["wasm memory", { memoryKind: "wasm" }],
  ["growable-shared", { memoryKind: "growable-shared" }],
];

describe("every feature of the format replays, verified, in every mode", () => {
  const bytes = traceBytes(featureTrace());
  const t = parseTrace(bytes, "features");

  it("the feature trace is valid and what it says", () => {
    const s = traceStats(t);
    expect(s.perOp.every((n) => n > 0)).toBe(true);
    expect(s.perDomain.slice(0, 3).every((n) => n > 0)).toBe(true);
    expect(s.liveBlocksAtEnd).toBe(15 + 300);
  });

  it.each(MODES)("%s: replayVerify (check() every 50 events) frees to empty; replayTimed and replayTo agree", (_n, opts) => {
    const heap = createHeap(opts);
    const r = replayVerify(heap, t, { checkEvery: 50, freeAtEnd: true });
    expect(r.events).toBe(t.count);
    expect(heap.stats().blocksInUse).toBe(0);
    const h2 = createHeap(opts);
    const { ptr } = replayTimed(h2, t);
    h2.check();
    // Every live block distinct and usable for its size (0-byte blocks included).
    const live = liveAtEnd(t);
    expect(new Set(Array.from(live, (x) => ptr[x & 0x0fffffff])).size).toBe(live.length);
    freeLive(h2, live, ptr);
    h2.debug?.drainQuarantine();
    expect(h2.stats().blocksInUse).toBe(0);
    const h3 = createHeap(opts);
    const p3 = replayTo(h3, t, 40);
    replayRange(h3, t, p3, 40, t.count);
    h3.check();
  });

  it("gzip, several gzip members and no gzip at all read the same", () => {
    const a = readTraceFile(traceFile(gzipSync(bytes), "feat-gz"));
    const b = readTraceFile(traceFile(bytes, "feat-raw", ".pymtrace"));
    const c = readTraceFile(traceFile(Buffer.concat([gzipSync(bytes.subarray(0, 100)), gzipSync(bytes.subarray(100))]), "feat-multi"));
    for (const x of [a, b, c]) expect(Buffer.from(encodeTrace(x)).equals(bytes)).toBe(true);
  });

  it("the CLI replays it verified in every allocator mode, and stats, map and diff take it (--json parses)", () => {
    const f = traceFile(gzipSync(bytes), "features");
    const r = run("replay", f, "--allocator", "pymalloc,malloc,debug,pymalloc_debug,malloc_debug", "--runs", "1", "--warmup", "0", "--verify", "--json");
    expect(r.stderr).not.toMatch(/^pymalloc: /m);
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout);
    expect(rows.map((x: { allocator: string; verified: boolean }) => [x.allocator, x.verified])).toEqual(["pymalloc", "malloc", "debug", "pymalloc_debug", "malloc_debug"].map((m) => [m, true]));
    expect(run("stats", f, "--at", "peak", "--allocator", "malloc_debug").status).toBe(0);
    expect(run("map", f, "--out", join(DIR, "features.svg")).status).toBe(0);
    const d = run("diff", f, "--from", "10", "--to", "peak", "--json");
    expect(d.status).toBe(0);
    expect(JSON.parse(d.stdout)).toMatchObject({ trace: "features", from: 10 });
  });

  it("a request no memory can serve (4 GiB - 1) is a ReplayError / exit 1 naming the event, in every mode", () => {
    const big = parseTrace(traceBytes([[MALLOC, OBJ, 0, 16], [REALLOC, OBJ, 0, 0xffffffff]]));
    for (const [, opts] of MODES.slice(0, 6)) expect(() => replayVerify(createHeap(opts), big)).toThrow(/event 1 could not get 4294967295 bytes/);
    const f = traceFile(gzipSync(traceBytes([[CALLOC, RAW, 0, 0xffffffff]])), "huge");
    const r = run("replay", f, "--runs", "1", "--warmup", "0");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/event 0 could not get 4294967295 bytes \(out of memory\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("malformed traces: a TraceFormatError from the library, one line and exit 2 from the CLI", () => {
  const bad: [string, Buffer, RegExp][] = [
    ["a free of a slot never allocated", traceBytes([[MALLOC, OBJ, 0, 16], [FREE, OBJ, 1, 0]]), /free of slot 1 that is not live/],
    ["a double free", traceBytes([[MALLOC, OBJ, 0, 16], [FREE, OBJ, 0, 0], [FREE, OBJ, 0, 0]]), /event 2: free of slot 0 that is not live/],
    ["a realloc of a dead slot", traceBytes([[REALLOC, MEM, 0, 16]]), /realloc of slot 0 that is not live/],
    ["a malloc into a live slot", traceBytes([[MALLOC, OBJ, 0, 16], [CALLOC, OBJ, 0, 16]]), /calloc into live slot 0/],
    ["a free from another domain", traceBytes([[MALLOC, OBJ, 0, 16], [FREE, MEM, 0, 0]]), /free of slot 0 that is not live in domain 1 \(mem\): it is live in domain 2 \(obj\)/],
    ["domain 3", traceBytes([[MALLOC, 3, 0, 16]]), /domain 3/],
    ["a free with a size", traceBytes([[MALLOC, RAW, 0, 16], [FREE, RAW, 0, 16]]), /a free's size is always 0/],
    ["unknown header flags", traceBytes([[MALLOC, OBJ, 0, 16]], { flags: 1 }), /header flags 0x1/],
    ["a wrong magic", traceBytes([[MALLOC, OBJ, 0, 16]], { magic: "PYMTRACX" }), /not a pymtrace file/],
    ["version 2", traceBytes([[MALLOC, OBJ, 0, 16]], { version: 2 }), /trace version 2/],
    ["a count past the data", traceBytes([[MALLOC, OBJ, 0, 16]], { count: 2 }), /header promises 2 events/],
    ["a count of 2^64 - 1", traceBytes([[MALLOC, OBJ, 0, 16]], { count: 2n ** 64n - 1n }), /header promises 18446744073709551615 events/],
    ["max_slots below the slots used", traceBytes([[MALLOC, OBJ, 5, 16]], { maxSlots: 5 }), /max_slots 5/],
    ["max_slots over 2^28", traceBytes([[MALLOC, OBJ, 5, 16]], { maxSlots: 2 ** 28 + 1 }), /max_slots 268435457/],
    ["a short header", traceBytes([]).subarray(0, 20), /shorter than the 32-byte header/],
  ];

  it.each(bad)("%s: parseTrace throws TraceFormatError", (_n, data, msg) => {
    expect(() => parseTrace(data)).toThrow(TraceFormatError);
    expect(() => parseTrace(data)).toThrow(msg);
  });

  // Each case through replay; a few through stats, map and diff too (node starts in parallel).
  it.each([
    ["replay", ["--runs", "1", "--warmup", "0"], bad],
    ["stats", [], bad.filter((_, i) => i % 4 === 0)],
    ["map", ["--out", join(DIR, "x.svg")], bad.filter((_, i) => i % 4 === 1)],
    ["diff", ["--from", "0"], bad.filter((_, i) => i % 4 === 2)],
  ] as const)("the CLI's %s says so in one line, exit 2", async (cmd, opts, cases) => {
    const results = await Promise.all(cases.map(([, data]) => runAsync(cmd, traceFile(gzipSync(data)), ...opts)));
    results.forEach((r, i) => {
      expect(r.stderr).toMatch(cases[i][2]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("pymalloc:"))).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  });

  it("a Trace made by hand that breaks the invariants is refused by every replay (it freed address 0, leaked, or read an undefined family)", () => {
    const hand = (evs: Ev[], maxSlots = 4): Trace => {
      const t = parseTrace(traceBytes([]));
      const events = new Uint32Array(evs.flatMap(([op, d, s, n]) => [((op << 30) | (d << 28) | s) >>> 0, n]));
      return { ...t, name: "hand", count: evs.length, maxSlots, events };
    };
    for (const evs of [[[MALLOC, OBJ, 0, 16], [FREE, OBJ, 1, 0]], [[MALLOC, 3, 0, 8]], [[MALLOC, OBJ, 0, 16], [MALLOC, OBJ, 0, 16]]] as Ev[][]) {
      const t = hand(evs);
      expect(() => replayVerify(createHeap(), t)).toThrow(TraceFormatError);
      expect(() => replayTimed(createHeap(), t)).toThrow(TraceFormatError);
      expect(() => replayTo(createHeap(), t, t.count)).toThrow(TraceFormatError);
      expect(() => liveAtEnd(t)).toThrow(TraceFormatError);
      expect(() => traceStats(t)).toThrow(TraceFormatError);
    }
    const ok = hand([[MALLOC, OBJ, 0, 16]]);
    expect(() => replayVerify(createHeap(), { ...ok, count: 5 })).toThrow(RangeError);
    expect(() => replayVerify(createHeap(), { ...ok, maxSlots: 0 })).toThrow(TraceFormatError);
    expect(() => replayVerify(createHeap(), { ...ok, maxSlots: NaN })).toThrow(RangeError);
    expect(() => replayVerify(createHeap(), { ...ok, events: [1, 2] as unknown as Uint32Array })).toThrow(TypeError);
    expect(() => replayVerify(createHeap(), null as unknown as Trace)).toThrow(TypeError);
    expect(() => parseTrace("PYMTRACE" as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => replayVerify(createHeap(), ok, { checkEvery: -1 })).toThrow(RangeError);
    expect(() => replayRange(createHeap(), ok, new Uint32Array(4), 0, NaN)).toThrow(RangeError);
    expect(() => replayRange(createHeap(), ok, new Uint32Array(4), 1, 0)).toThrow(RangeError);
    expect(() => replayRange(createHeap(), ok, new Uint32Array(0), 0, 1)).toThrow(RangeError);
    expect(replayVerify(createHeap(), ok, { freeAtEnd: true }).events).toBe(1);
  });

  it("a replay given no heap says so (it was 'Cannot read properties of null', or of undefined from inside the timed loop)", () => {
    const ok = parseTrace(traceBytes([[MALLOC, OBJ, 0, 16]]));
    for (const h of [null, undefined, {}, 5]) {
      for (const f of [() => replayVerify(h as never, ok), () => replayTimed(h as never, ok), () => replayTo(h as never, ok, 1)]) {
        expect(f).toThrow(TypeError);
        expect(f).toThrow(/replay: expected a heap/);
      }
    }
  });

  it("encodeTrace refuses a count that is not a prefix of the trace (past the end it wrote zero words as events)", () => {
    const t = parseTrace(traceBytes([[MALLOC, OBJ, 3, 16], [FREE, OBJ, 3, 0]]));
    for (const n of [3, -1, 1.5, NaN]) expect(() => encodeTrace(t, n)).toThrow(RangeError);
    expect(parseTrace(encodeTrace(t, 1)).maxSlots).toBe(4);
  });

  it("corrupt and truncated gzip, an empty file, a directory: one line, exit 2", () => {
    const gz = gzipSync(traceBytes(featureTrace()));
    const flipped = Buffer.from(gz);
    flipped[gz.length - 6] ^= 1; // the CRC
    const cases: [string, RegExp][] = [
      [traceFile(gz.subarray(0, gz.length >> 1)), /corrupt gzip data \(unexpected end of file\)/],
      [traceFile(flipped), /corrupt gzip data/],
      [traceFile(Buffer.alloc(0)), /0 bytes is shorter than the 32-byte header/],
      [traceFile(gzipSync(Buffer.alloc(0))), /0 bytes is shorter than the 32-byte header/],
      [DIR, /cannot read \(EISDIR\)/],
    ];
    for (const [f, msg] of cases) {
      const r = run("stats", f);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(() => readTraceFile(f)).toThrow(TraceFormatError);
    }
  });
});

describe("reading is bounded: a gzip bomb, a header promising gigabytes, /dev/zero", () => {
  const runEnv = (env: Record<string, string>, ...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 });
  const oneLine = (r: { status: number | null; stderr: string }, msg: RegExp) => {
    expect(r.stderr).toMatch(msg);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  };

  it("a small .gz inflating far past its header's length stops inflating there (it inflated all of it first: 1 GiB of zeros took 18 s and 2 GB)", () => {
    // A 0-event header, then 256 MiB of zeros: 16 gzip members of 16 MiB (~16 KB each).
    const zeros = gzipSync(Buffer.alloc(16 << 20), { level: 9 });
    const bomb = traceFile(Buffer.concat([gzipSync(traceBytes([])), ...Array<Buffer>(16).fill(zeros)]), "bomb");
    const t0 = performance.now();
    expect(() => readTraceFile(bomb)).toThrow(/inflates to more than the 32 bytes its header promises \(0 events\).*inflating stopped there/);
    expect(performance.now() - t0).toBeLessThan(500); // inflating 256 MiB takes ~0.5-1 s
    oneLine(runEnv({}, "stats", bomb), /bomb\.pymtrace\.gz: inflates to more than the 32 bytes/);
  });

  it("a header promising more than the limit is refused before anything is inflated or read, naming the limit and how to raise it", () => {
    const head = traceBytes([], { count: 2 ** 28 }); // 2 GiB promised, 32 bytes there
    for (const f of [traceFile(gzipSync(head), "promise"), traceFile(head, "promise-plain", ".pymtrace")]) {
      expect(() => readTraceFile(f)).toThrow(/header promises 268435456 events \(2147483680 bytes, 2048\.0 MiB.*past the reader's limit of 1073741824 bytes/);
      oneLine(runEnv({}, "stats", f), /past the reader's limit of 1073741824 bytes, 1024\.0 MiB \(set PYMALLOC_TRACE_MAX_BYTES=BYTES to raise it\)/);
    }
    // Raised, the reading goes on to what the data has.
    const f = traceFile(gzipSync(traceBytes([[MALLOC, OBJ, 0, 16]])), "small-limit");
    expect(readTraceFile(f).count).toBe(1);
    expect(() => readTraceFile(f, { maxBytes: 39 })).toThrow(/header promises 1 events \(40 bytes decompressed\), past the reader's limit of 39 bytes/);
    oneLine(runEnv({ PYMALLOC_TRACE_MAX_BYTES: "39" }, "stats", f), /limit of 39 bytes/);
    expect(runEnv({ PYMALLOC_TRACE_MAX_BYTES: "40" }, "stats", f).status).toBe(0);
    oneLine(runEnv({ PYMALLOC_TRACE_MAX_BYTES: "lots" }, "stats", f), /PYMALLOC_TRACE_MAX_BYTES=lots: the limit .* must be an integer from 32 to/);
    for (const bad of [NaN, -1, 1.5, 2 ** 40, "64" as unknown as number]) expect(() => readTraceFile(f, { maxBytes: bad })).toThrow(RangeError);
    expect(run("--help").stdout).toMatch(/PYMALLOC_TRACE_MAX_BYTES=N +the most bytes a trace may inflate to \(default 1073741824/);
  });

  it("a gzip header too long to find the trace's header in the first 4 KiB (a 10,000-byte file name): read, and bounded by the limit alone", () => {
    const named = (data: Buffer): Buffer => {
      // gzipSync writes no name: a header with FNAME set, the name, then the same deflate stream and trailer.
      const gz = gzipSync(data);
      return Buffer.concat([gz.subarray(0, 3), Buffer.from([gz[3] | 8]), gz.subarray(4, 10), Buffer.alloc(10_000, 0x78), Buffer.from([0]), gz.subarray(10)]);
    };
    const body = traceBytes([[MALLOC, OBJ, 0, 16]]);
    expect(readTraceFile(traceFile(named(body), "named")).count).toBe(1);
    const big = traceFile(named(Buffer.concat([body, Buffer.alloc(1 << 22)])), "named-big");
    expect(() => readTraceFile(big, { maxBytes: 1 << 20 })).toThrow(/inflates to more than the reader's limit of 1048576 bytes, 1\.0 MiB \(maxBytes raises it\); inflating stopped there/);
    expect(() => readTraceFile(big)).toThrow(/header promises 1 events \(40 bytes\) but the data has 4194344 bytes/);
  });

  it("an uncompressed file is read as far as its header promises: longer is refused with its length; /dev/zero is not a trace (it was read for ever, then read as far as a header: now refused unread, a device)", () => {
    const f = traceFile(Buffer.concat([traceBytes([[MALLOC, OBJ, 0, 16]]), Buffer.alloc(100)]), "long", ".pymtrace");
    expect(() => readTraceFile(f)).toThrow(/header promises 1 events \(40 bytes\) but the data has 140 bytes/);
    if (existsSync("/dev/zero")) oneLine(runEnv({}, "stats", "/dev/zero"), /\/dev\/zero: not a regular file \(a character device\)/);
  });
});

describe("a FIFO given as a trace (nothing writes to it): refused before it is opened, never a hang", () => {
  // open() of a FIFO waits for a writer: `pymalloc stats FIFO` hung for ever.
  const fifo = join(DIR, "fifo.pymtrace.gz");
  const made = process.platform !== "win32" && spawnSync("mkfifo", [fifo]).status === 0;

  it("readTraceFile: a TraceFormatError naming the path and what it is", () => {
    expect(made).toBe(process.platform !== "win32");
    if (!made) return;
    // Were it opened, a writer that opens and closes the FIFO 5 s from now ends the wait (the
    // read then finds 0 bytes): a test that fails, not one that hangs.
    const writer = execFile("sh", ["-c", `sleep 5; : > '${fifo}'`]);
    try {
      const t0 = performance.now();
      expect(() => readTraceFile(fifo)).toThrow(TraceFormatError);
      expect(() => readTraceFile(fifo)).toThrow(/fifo\.pymtrace\.gz: not a regular file \(a FIFO\)/);
      expect(performance.now() - t0).toBeLessThan(2000);
    } finally {
      writer.kill();
    }
  });

  it.each(["replay", "stats", "diff"])("pymalloc %s FIFO: one line, exit 2, at once", (cmd) => {
    if (!made) return;
    const args = cmd === "diff" ? [fifo, "--from", "1"] : [fifo];
    const r = spawnSync(process.execPath, [BIN, cmd, ...args], { encoding: "utf8", cwd: ROOT, timeout: 20_000 });
    expect(r.stderr).toMatch(/fifo\.pymtrace\.gz: not a regular file \(a FIFO\)/);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("CLI options with odd values: one line, exit 2", () => {
  const f = traceFile(gzipSync(traceBytes([[MALLOC, OBJ, 0, 16], [MALLOC, MEM, 1, 600], [FREE, OBJ, 0, 0]])), "small");
  it.concurrent.each([
    [["replay", f, "--warmup", ""], /--warmup must be a number of events/],
    [["replay", f, "--warmup", " "], /--warmup must be a number of events/],
    [["replay", f, "--warmup", "0x10"], /--warmup must be a number of events/],
    [["replay", f, "--runs", ""], /--runs must be an integer from 1 to 1000/],
    [["replay", f, "--runs", "0x2"], /--runs must be an integer from 1 to 1000/],
    [["replay", f, "--runs", " 2"], /--runs must be an integer from 1 to 1000/],
    [["replay", f, "--runs=-1"], /--runs must be an integer/],
    [["replay", f, "--runs", "-1"], /--runs must be an integer from 1 to 1000, got "-1"/],
    [["replay", f, "--warmup", "-5"], /--warmup must be a number of events/],
    [["stats", f, "--at", "-1"], /--at must be "peak", "end" or an event count, got "-1"/],
    [["diff", f, "--from", "1", "--top", "-2"], /--top must be a positive integer, got "-2"/],
    [["replay", f, "--allocator", "-x"], /argument is ambiguous\. Did you forget/],
    [["replay", f, "--runs", "NaN"], /--runs must be an integer/],
    [["replay", f, "--runs"], /argument missing/],
    [["replay", f, "--allocator", "pymalloc,"], /unknown allocator ""/],
    [["diff", f, "--from", "1", "--top", ""], /--top must be a positive integer/],
    [["diff", f, "--from", "1", "--top", "0x3"], /--top must be a positive integer/],
    [["diff", f, "--from", "1", "--top=-2"], /--top must be a positive integer/],
    [["diff", f, "--from=-1"], /--at|--from/],
    [["diff", f, "--from", "4"], /the trace has only 3 events/],
    [["stats", f, "--at", "1e3"], /--at must be/],
    [["map", f, "--out", join(DIR, "no", "such", "dir", "x.svg")], /cannot write .*x\.svg/],
    [["replay", f, join(DIR, "absent.pymtrace.gz"), "--runs", "1"], /absent\.pymtrace\.gz: cannot read \(ENOENT\)/],
  ])("%j", async (args, msg) => {
    const r = await runAsync(...args);
    expect(r.stderr).toMatch(msg);
    expect(r.status).toBe(2);
    // One line (and the hint): parseArgs' "ambiguous" message for `--runs -1` took three.
    expect(r.stderr.trim().split("\n").filter((l) => !l.startsWith("try: "))).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // A bad second trace is found before the first is replayed (it was, after a whole replay).
    expect(r.stderr).not.toMatch(/small pymalloc: 100%/);
  });

  it("--warmup 3e2 and --runs 3 are numbers; --json parses", () => {
    const r = run("replay", f, "--warmup", "3e2", "--runs", "3", "--allocator", "pymalloc", "--json");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ warmupRuns: 100, events: 3 });
  });

  it("two traces of the same name: each is compared with its own malloc row", () => {
    // The second trace's line was computed from the first's rows (found by name): "no events timed".
    const empty = traceFile(traceBytes([]), "same", ".pymtrace");
    const full = traceFile(gzipSync(traceBytes([[MALLOC, OBJ, 0, 16], [FREE, OBJ, 0, 0]])), "same");
    const r2 = run("replay", empty, full, "--runs", "1", "--warmup", "0");
    expect(r2.status).toBe(0);
    const lines = r2.stdout.split("\n");
    expect(lines.filter((l) => /no events timed/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /pymalloc is [\d.]+x the speed of malloc mode/.test(l))).toHaveLength(1);
  });
});

describe("scripts/cut-trace.mjs", () => {
  const cut = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "scripts", "cut-trace.mjs"), ...args], { encoding: "utf8", cwd: ROOT });
  it("cuts a prefix that reads back", () => {
    const out = join(DIR, "cut.pymtrace.gz");
    const r = cut(BUNDLED_TRACE, out, "1000");
    expect(r.status).toBe(0);
    expect(readTraceFile(out).count).toBe(1000);
    expect(readFileSync(out).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });
  it.each([
    [[], /usage: /],
    [[BUNDLED_TRACE, join(DIR, "c2.pymtrace.gz")], /N must be/],
    [[BUNDLED_TRACE, join(DIR, "c2.pymtrace.gz"), "lots"], /N must be/],
    [[BUNDLED_TRACE, join(DIR, "c2.pymtrace.gz"), "-5"], /N must be/],
    [[join(DIR, "absent.pymtrace.gz"), join(DIR, "c2.pymtrace.gz"), "5"], /cannot read \(ENOENT\)/],
    [[traceFile(gzipSync(traceBytes([[FREE, OBJ, 0, 0]]))), join(DIR, "c2.pymtrace.gz"), "1"], /free of slot 0 that is not live/],
  ])("%j: one line, exit 2", (args, msg) => {
    const r = cut(...args);
    expect(r.stderr).toMatch(msg);
    expect(r.status).toBe(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("scripts/record/sidecar.mjs (the recorder's checker)", () => {
  const sidecar = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "scripts", "record", "sidecar.mjs"), ...args, "--no-write"], { encoding: "utf8", cwd: ROOT });
  it("an unreadable file or corrupt gzip is one line and exit 2 (it was an uncaught error's stack); an uncompressed trace is read as the CLI reads it", () => {
    const gz = gzipSync(traceBytes([[MALLOC, OBJ, 0, 16], [FREE, OBJ, 0, 0]]));
    for (const [f, msg] of [
      [join(DIR, "absent.pymtrace.gz"), /cannot read \(ENOENT\)/],
      [traceFile(gz.subarray(0, 20)), /corrupt gzip data/],
    ] as const) {
      const r = sidecar(f);
      expect(r.stderr).toMatch(msg);
      expect(r.status).toBe(2);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(sidecar(traceFile(traceBytes([[MALLOC, OBJ, 0, 16], [FREE, OBJ, 0, 0]]), "plain", ".pymtrace")).status).toBe(0);
    const bad = sidecar(traceFile(gzipSync(traceBytes([[FREE, OBJ, 0, 0]]))));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/free of slot 0 not live/);
  });

  it("reading is bounded as the CLI's is (PYMALLOC_TRACE_MAX_BYTES, 1 GiB by default): it inflated up to 4 GiB, a small .gz of zeros all of it", () => {
    const env = (e: Record<string, string>, f: string) => spawnSync(process.execPath, [join(ROOT, "scripts", "record", "sidecar.mjs"), f, "--no-write"], { encoding: "utf8", cwd: ROOT, env: { ...process.env, ...e }, timeout: 60_000 });
    const oneLine = (r: { status: number | null; stderr: string }, msg: RegExp) => {
      expect(r.stderr).toMatch(msg);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    };
    // A header promising more than the limit: refused before anything is inflated, with file.ts's limit.
    const promise = traceFile(gzipSync(traceBytes([], { count: 2 ** 28 })), "sidecar-promise");
    oneLine(sidecar(promise), new RegExp(`header promises 268435456 events \\(2147483680 bytes decompressed\\), past the reader's limit of ${TRACE_MAX_BYTES} bytes \\(set ${TRACE_MAX_BYTES_ENV}=BYTES to raise it\\)`));
    // A 0-event header, then 64 MiB of zeros: inflating stops at the 32 bytes promised.
    const zeros = gzipSync(Buffer.alloc(16 << 20), { level: 9 });
    const bomb = traceFile(Buffer.concat([gzipSync(traceBytes([])), ...Array<Buffer>(4).fill(zeros)]), "sidecar-bomb");
    oneLine(sidecar(bomb), /inflates to more than the 32 bytes its header promises \(0 events\): corrupt, or not a trace; inflating stopped there/);
    // The limit set by the environment, as for the CLI; an uncompressed file too.
    const f = traceFile(gzipSync(traceBytes([[MALLOC, OBJ, 0, 16], [FREE, OBJ, 0, 0]])), "sidecar-small");
    oneLine(env({ [TRACE_MAX_BYTES_ENV]: "40" }, f), /header promises 2 events \(48 bytes decompressed\), past the reader's limit of 40 bytes/);
    expect(env({ [TRACE_MAX_BYTES_ENV]: "48" }, f).status).toBe(0);
    oneLine(env({ [TRACE_MAX_BYTES_ENV]: "lots" }, f), /PYMALLOC_TRACE_MAX_BYTES="lots": the limit .* must be an integer from 32/);
    const plain = traceFile(traceBytes([[MALLOC, OBJ, 0, 16], [FREE, OBJ, 0, 0]]), "sidecar-plain", ".pymtrace");
    oneLine(env({ [TRACE_MAX_BYTES_ENV]: "40" }, plain), /an uncompressed file of 48 bytes, past the reader's limit of 40 bytes/);
    // A FIFO (nothing writes to it): refused, not waited on for ever.
    const fifo = join(DIR, "sidecar-fifo.pymtrace.gz");
    if (process.platform !== "win32" && spawnSync("mkfifo", [fifo]).status === 0) oneLine(env({}, fifo), /sidecar-fifo\.pymtrace\.gz: not a regular file/);
  });
});

describe("large heaps", () => {
  // The bundled trace's request sizes and domains, in the order recorded, scaled by `scale`;
  // blocks are freed at random (a third as many frees as allocations while the heap grows, some
  // reallocs), slots reused LIFO as the recorder does, until `target` live bytes; then all freed.
  const src = readTraceFile(BUNDLED_TRACE);
  const sizes: number[] = [];
  const doms: number[] = [];
  for (let i = 0; i < src.count; i++) {
    const w = src.events[2 * i];
    if (w >>> 30 < 2) {
      sizes.push(src.events[2 * i + 1]);
      doms.push((w >>> 28) & 3);
    }
  }
  function synth(target: number, scale: number): Trace {
    let seed = 12345;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const ev: number[] = [];
    const free: number[] = [];
    const live: number[] = [];
    const sz: number[] = [];
    const dm: number[] = [];
    let next = 0, k = 0, bytes = 0;
    const freeOne = () => {
      const j = Math.floor(rnd() * live.length);
      const slot = live[j];
      live[j] = live[live.length - 1];
      live.pop();
      ev.push(((FREE << 30) | (dm[slot] << 28) | slot) >>> 0, 0);
      bytes -= sz[slot];
      free.push(slot);
    };
    while (bytes < target) {
      const n = Math.min(sizes[k % sizes.length] * scale, 2 ** 32 - 1) >>> 0, d = doms[k % sizes.length];
      const slot = free.length ? free.pop()! : next++;
      ev.push((((k % 7 === 0 ? CALLOC : MALLOC) << 30) | (d << 28) | slot) >>> 0, n);
      k++;
      live.push(slot);
      sz[slot] = n;
      dm[slot] = d;
      bytes += n;
      if (rnd() < 0.3) freeOne();
      if (rnd() < 0.02) {
        const s = live[Math.floor(rnd() * live.length)];
        const m = Math.floor(sz[s] * (0.5 + rnd() * 1.5));
        ev.push(((REALLOC << 30) | (dm[s] << 28) | s) >>> 0, m);
        bytes += m - sz[s];
        sz[s] = m;
      }
    }
    while (live.length) freeOne();
    return parseTrace(encodeTrace({ name: "synth", count: ev.length / 2, maxSlots: next, events: Uint32Array.from(ev) }), "synth");
  }

  it("256 MiB live of blocks 8x CPython's sizes: every block verified, footprint within 1.1x, time linear in the events", () => {
    const small = synth(32 * 2 ** 20, 8);
    const t = synth(256 * 2 ** 20, 8);
    const st = traceStats(t);
    expect(st.peakLiveBytes).toBeGreaterThanOrEqual(256 * 2 ** 20);
    // The small trace first (the JIT's warm-up is in its time, not the large one's: a lenient
    // base), then the large one, ~8x the events: under 4x the time an event (quadratic: ~8x).
    const t1 = performance.now();
    replayVerify(createHeap(), small, { freeAtEnd: true });
    const msSmall = performance.now() - t1;
    const heap = createHeap();
    const t0 = performance.now();
    const r = replayVerify(heap, t, { freeAtEnd: true });
    const ms = performance.now() - t0;
    expect(r.peakFootprint / st.peakLiveBytes).toBeLessThan(1.1);
    expect(ms / t.count).toBeLessThan((4 * msSmall) / small.count);
  });

  it("1 GiB live of blocks 256x CPython's sizes in malloc mode (the 256 MiB above is pymalloc's): every block verified, footprint within 1.1x", () => {
    const t = synth(2 ** 30, 256);
    const st = traceStats(t);
    expect(st.peakLiveBytes).toBeGreaterThanOrEqual(2 ** 30);
    const heap = createHeap({ allocator: "malloc" });
    const r = replayVerify(heap, t, { freeAtEnd: true });
    expect(r.peakFootprint / st.peakLiveBytes).toBeLessThan(1.1);
  });

  it("a trace whose only slot is 2^28 - 1 (the largest FORMAT.md allows) costs no pass over 2^28 slots", () => {
    // liveAtEnd filled and scanned 2^28 bytes, traceStats filled 256 MiB and reserved a 2 GiB
    // Float64Array, replayVerify another: 7.6 s for `pymalloc replay` of this 3-event trace.
    const top = 2 ** 28 - 1;
    const data = traceBytes([[MALLOC, OBJ, top, 40], [CALLOC, RAW, 7, 9000], [REALLOC, OBJ, top, 0]]);
    const t0 = performance.now();
    const t = parseTrace(data);
    expect(t.maxSlots).toBe(2 ** 28);
    expect(traceStats(t).liveBlocksAtEnd).toBe(2);
    expect(Array.from(liveAtEnd(t)).sort((a, b) => a - b)).toEqual([((RAW << 28) | 7) >>> 0, ((OBJ << 28) | top) >>> 0]);
    replayVerify(createHeap(), t, { freeAtEnd: true });
    expect(performance.now() - t0).toBeLessThan(2500);
    const r = run("replay", traceFile(gzipSync(data)), "--runs", "1", "--warmup", "0", "--allocator", "malloc", "--verify", "--json");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ events: 3, verified: true });
  });

  it("a ReplayError, not a crash, when the memory's maxBytes is below the trace's peak", () => {
    const t = synth(8 * 2 ** 20, 1);
    expect(() => replayVerify(createHeap({ maxBytes: 4 * 2 ** 20 }), t)).toThrow(ReplayError);
  });
});
