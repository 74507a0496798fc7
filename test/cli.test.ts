// Runs the real `pymalloc` binary (built into dist/ by `npm test`).
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUNDLED_TRACE, ROOT } from "./helpers.js";

const BIN = join(ROOT, "dist", "cli", "main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT });

describe("pymalloc CLI", () => {
  it("is built", () => expect(existsSync(BIN)).toBe(true));

  it("is executable after `npm run build`, so `npx pymalloc` runs in a clone (npm sets the mode only when it installs a package)", () => {
    expect(statSync(BIN).mode & 0o111).not.toBe(0);
    if (process.platform === "win32") return;
    const r = spawnSync(BIN, ["--help"], { encoding: "utf8", cwd: ROOT });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/replay/);
  });

  it("replays the bundled trace in both modes and prints speed and memory", () => {
    const r = run("replay", BUNDLED_TRACE, "--runs", "1", "--verify");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/compileall-head: 600,000 events, peak live 7\.32 MiB in 47,941 blocks/);
    expect(r.stdout).toMatch(/pymalloc +[\d.]+ ns\/event .* peak footprint [\d.]+ MiB .* verified/);
    expect(r.stdout).toMatch(/malloc +[\d.]+ ns\/event/);
    expect(r.stdout).toMatch(/pymalloc is [\d.]+x the speed of malloc mode/);
  });

  it("--json prints machine-readable rows", () => {
    const r = run("replay", BUNDLED_TRACE, "--runs", "1", "--allocator", "pymalloc", "--json");
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ trace: "compileall-head", allocator: "pymalloc", events: 600000, peakLiveBytes: 7673351 });
    expect(rows[0].peakFootprint).toBeGreaterThan(7673351);
    // Warm-up: 5,000,000 events by default, so a 600,000-event trace is replayed 9 times untimed.
    expect(rows[0].warmupRuns).toBe(9);
    expect(rows[0].nsPerEventFirst).toBeGreaterThan(0);
  });

  it("--warmup sets the untimed events before the timed runs (at least one replay); the debug modes warm up for a million events", () => {
    const t = join(ROOT, "data", "recorded", "hello.pymtrace.gz"); // 2,886 events
    const rows = (...args: string[]) => {
      const r = run("replay", t, "--runs", "1", "--json", ...args);
      expect(r.status).toBe(0);
      return JSON.parse(r.stdout) as { allocator: string; warmupRuns: number }[];
    };
    expect(rows("--allocator", "pymalloc", "--warmup", "0")[0].warmupRuns).toBe(1);
    expect(rows("--allocator", "pymalloc", "--warmup", "10000")[0].warmupRuns).toBe(4);
    expect(rows("--allocator", "pymalloc_debug")[0].warmupRuns).toBe(Math.ceil(1_000_000 / 2886)); // 347 replays of a short trace
    expect(rows("--allocator", "pymalloc_debug", "--warmup", "5773")[0].warmupRuns).toBe(3);
  });

  it("replay's debug modes capture no stacks unless --traced (a replay's stacks are all its loop's)", () => {
    const t = join(ROOT, "data", "recorded", "hello.pymtrace.gz");
    const rows = (...args: string[]) => {
      const r = run("replay", t, "--runs", "1", "--json", "--allocator", "pymalloc,pymalloc_debug", ...args);
      expect(r.status).toBe(0);
      return (JSON.parse(r.stdout) as { allocator: string; traced: boolean }[]).map((x) => [x.allocator, x.traced]);
    };
    expect(rows()).toEqual([["pymalloc", false], ["pymalloc_debug", false]]);
    expect(rows("--untraced")).toEqual([["pymalloc", false], ["pymalloc_debug", false]]);
    expect(rows("--traced")).toEqual([["pymalloc", false], ["pymalloc_debug", true]]);
    const both = run("replay", t, "--traced", "--untraced");
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--traced and --untraced contradict/);
  });

  it.each([
    [["replay"], /needs at least one trace/],
    [["replay", "nope.pymtrace.gz"], /cannot read \(ENOENT\)/],
    [["replay", BUNDLED_TRACE, "--allocator", "jemalloc"], /unknown allocator "jemalloc"/],
    [["replay", BUNDLED_TRACE, "--runs", "0"], /--runs must be/],
    [["replay", BUNDLED_TRACE, "--warmup", "lots"], /--warmup must be a number of events/],
    [["replay", BUNDLED_TRACE, "--warmup=-5"], /--warmup must be a number of events/],
    [["replay", BUNDLED_TRACE, "--frobnicate"], /Unknown option/],
    [["explode"], /unknown command/],
    [["replay", join(ROOT, "package.json")], /not a pymtrace file/],
    [["stats", BUNDLED_TRACE, "--at", "soon"], /--at must be "peak", "end" or an event count/],
    [["stats", BUNDLED_TRACE, "--at", "999999999"], /the trace has only 600000 events/],
    [["stats"], /expected one trace file/],
    [["map", BUNDLED_TRACE], /map needs --out/],
    [["map", BUNDLED_TRACE, "--out", "heap.png"], /--out must end in .html or .svg/],
  ])("bad input %j: one line naming the problem, exit 2", (args, msg) => {
    const r = run(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("stats prints debugMallocStats() at the peak of the trace", () => {
    const r = run("stats", BUNDLED_TRACE, "--at", "peak");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^# compileall-head after 524,843 of 600,000 events \(pymalloc\)/);
    expect(r.stdout).toMatch(/class   size   num pools   blocks in use  avail blocks/);
    expect(r.stdout).toMatch(/# arenas allocated current +=/);
    expect(r.stderr).toMatch(/replaying compileall-head to event 524843: 100%/); // plain progress lines off a terminal
  });

  it("stats --at N and --allocator malloc", () => {
    const r = run("stats", BUNDLED_TRACE, "--at", "1000", "--allocator", "malloc");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/after 1,000 of 600,000 events \(malloc\)/);
    expect(r.stdout).toMatch(/# arenas allocated current +=\s+0/);
  });

  it("replay --json over a good trace then a corrupt one: the good one's rows on stdout, then exit 2 (they were lost)", () => {
    const dir = mkdtempSync(join(tmpdir(), "pymalloc-"));
    const bad = join(dir, "trunc.pymtrace.gz");
    writeFileSync(bad, readFileSync(join(ROOT, "data", "recorded", "hello.pymtrace.gz")).subarray(0, 1500));
    const r = run("replay", join(ROOT, "data", "recorded", "hello.pymtrace.gz"), bad, "--json", "--runs", "1", "--warmup", "0");
    expect(r.status).toBe(2);
    const rows = JSON.parse(r.stdout) as { trace: string }[];
    expect(rows.map((x) => x.trace)).toEqual(["hello", "hello"]);
    expect(r.stderr).toMatch(/trunc\.pymtrace\.gz: corrupt gzip data/);
  });

  it("diff names the option whose event is past the end; link refuses a file with the magic that does not validate", () => {
    const r = run("diff", join(ROOT, "data", "recorded", "hello.pymtrace.gz"), "--from", "10", "--to", "1000000000");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--to 1000000000: the trace has only 2886 events/);
    // --to before --from: a usage error (it printed the comparison reversed).
    const rev = run("diff", join(ROOT, "data", "recorded", "hello.pymtrace.gz"), "--from", "100", "--to", "10");
    expect(rev.status).toBe(2);
    expect(rev.stderr).toMatch(/--to \(event 10\) comes before --from \(event 100\)/);
    const dir = mkdtempSync(join(tmpdir(), "pymalloc-"));
    const bad = join(dir, "bad.wasm");
    writeFileSync(bad, Buffer.from("\0asm\x01\0\0\0garbage"));
    const l = run("link", bad, "-o", join(dir, "out.wasm"));
    expect(l.status).toBe(2);
    expect(l.stderr).toMatch(/not a valid WebAssembly module .*does not validate/);
  });

  it("stats --out is a usage error (stats writes no file; it was taken and ignored)", () => {
    const r = run("stats", BUNDLED_TRACE, "--out", "x.svg");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--out is map's/);
  });

  it.each(["svg", "html"])("map writes a %s picture", (ext) => {
    const out = join(mkdtempSync(join(tmpdir(), "pymalloc-")), `heap.${ext}`);
    const r = run("map", BUNDLED_TRACE, "--at", "end", "--out", out);
    expect(r.status).toBe(0);
    const text = readFileSync(out, "utf8");
    expect(text).toMatch(ext === "svg" ? /^<svg / : /^<!doctype html>/);
    expect(text).toContain('class="legend"');
  });

  it("a truncated trace is a one-line error, exit 2", () => {
    const bad = join(mkdtempSync(join(tmpdir(), "pymalloc-")), "cut.pymtrace.gz");
    writeFileSync(bad, readFileSync(BUNDLED_TRACE).subarray(0, 5000));
    for (const cmd of ["replay", "stats"]) {
      const r = run(cmd, bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/corrupt gzip data|truncated/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("a header whose max_slots the events do not bear out: exit 2 naming it (0xffffffff failed allocating 32 GB); zero events: no NaN speed", () => {
    const dir = mkdtempSync(join(tmpdir(), "pymalloc-"));
    const trace = (maxSlots: number, events: number[]) => {
      const head = Buffer.alloc(32);
      head.write("PYMTRACE", 0, "ascii");
      head.writeUInt32LE(1, 8);
      head.writeBigUInt64LE(BigInt(events.length / 2), 16);
      head.writeUInt32LE(maxSlots, 24);
      const f = join(dir, `t${maxSlots}-${events.length}.pymtrace.gz`);
      writeFileSync(f, gzipSync(Buffer.concat([head, Buffer.from(new Uint32Array(events).buffer)])));
      return f;
    };
    const ok = [((2 << 28) | 0) >>> 0, 16, ((2 << 28) | 1) >>> 0, 24, (((3 << 30) | (2 << 28) | 0) >>> 0), 0]; // malloc slot 0, malloc slot 1, free slot 0
    for (const bad of [0xffffffff, 1]) {
      const r = run("stats", trace(bad, ok));
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/max_slots/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(run("stats", trace(2, ok)).status).toBe(0);
    const r = run("replay", trace(0, []), "--runs", "1");
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/NaN|Infinity/);
    expect(r.stdout).toMatch(/pymalloc +no events to time +peak footprint/);
    const j = run("replay", trace(0, []), "--runs", "1", "--allocator", "pymalloc", "--json");
    expect(JSON.parse(j.stdout)[0]).toMatchObject({ events: 0, nsPerEvent: null });
    // The benchmarks leave such a trace out, naming it, instead of failing on it.
    const b = spawnSync(process.execPath, ["--expose-gc", join(ROOT, "bench", "run.mjs"), trace(0, []), "--only", "pymalloc", "--runs", "1", "--no-write"], { encoding: "utf8", cwd: ROOT });
    expect(b.status).toBe(0);
    expect(b.stderr).toMatch(/0 events, nothing to measure: left out/);
  });

  it("output that cannot be written (stdout on /dev/full) is one line and exit 2 (it was exit 0, the report lost unsaid)", () => {
    if (!existsSync("/dev/full")) return;
    const full = openSync("/dev/full", "w");
    try {
      for (const args of [["--help"], ["stats", BUNDLED_TRACE, "--at", "1000"]]) {
        const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT, stdio: ["ignore", full, "pipe"] });
        expect(r.status).toBe(2);
        expect(r.stderr.split("\n").filter((l) => l.startsWith("pymalloc:"))).toEqual(["pymalloc: cannot write the output (stdout): ENOSPC"]);
      }
    } finally {
      closeSync(full);
    }
  });

  it("--help exits 0", () => {
    const r = run("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/pymalloc replay TRACE/);
    expect(r.stdout).toMatch(/pymalloc map TRACE/);
  });

  it.each(["link", "replay", "diff"])("%s --help (and -h) prints the usage and exits 0", (cmd) => {
    for (const flag of ["--help", "-h"]) {
      const r = run(cmd, flag);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/pymalloc link MODULE\.wasm -o OUT\.wasm/);
    }
  });
});
