// Runs the real `pymalloc` binary (built into dist/ by `npm test`).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUNDLED_TRACE, ROOT } from "./helpers.js";

const BIN = join(ROOT, "dist", "cli", "main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT });

describe("pymalloc CLI", () => {
  it("is built", () => expect(existsSync(BIN)).toBe(true));

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
  });

  it.each([
    [["replay"], /needs at least one trace/],
    [["replay", "nope.pymtrace.gz"], /cannot read \(ENOENT\)/],
    [["replay", BUNDLED_TRACE, "--allocator", "jemalloc"], /unknown allocator "jemalloc"/],
    [["replay", BUNDLED_TRACE, "--runs", "0"], /--runs must be/],
    [["replay", BUNDLED_TRACE, "--frobnicate"], /Unknown option/],
    [["explode"], /unknown command/],
    [["replay", join(ROOT, "package.json")], /not a pymtrace file/],
  ])("bad input %j: one line naming the problem, exit 2", (args, msg) => {
    const r = run(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("--help exits 0", () => {
    const r = run("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/usage: pymalloc replay/);
  });
});
