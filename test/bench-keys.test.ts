// Every allocator key of the benchmarks (bench/adapters.mjs) measured once on a small recorded
// trace, each in its own process as bench/run.mjs runs it: a key whose heap fails in the
// benchmark's own pattern (a heap made anew over the same memory for each run, warm-up runs,
// --verify) fails here, not first in a benchmark run (2026-12-06: createHeap's refusal of a
// threads heap still in use broke the threads key of bench:instructions before this test).
// Runs against the built package (dist/), which `npm test` builds first.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers.js";
// @ts-expect-error: plain JavaScript modules of the benchmarks
import { allAdapters } from "../bench/adapters.mjs";
// @ts-expect-error: as above
import { describeTrace } from "../bench/trace-info.mjs";
import { readTraceFile } from "../src/trace/file.js";

const TRACE = join(ROOT, "data", "recorded", "hello.pymtrace.gz");
const keys: string[] = (allAdapters() as { key: string }[]).map((a) => a.key);

describe("every benchmark key runs in bench/measure.mjs", () => {
  const info = JSON.stringify(describeTrace(readTraceFile(TRACE)));
  it.each(keys)("%s: warm-up, two timed runs each on a fresh heap, verified", (key) => {
    const r = spawnSync(process.execPath, ["--expose-gc", join(ROOT, "bench", "measure.mjs"), "--key", key, "--runs", "2", "--budget", "5", "--warmup", "20000", "--verify", "--info", info, TRACE], { encoding: "utf8", timeout: 120_000 });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const row = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(row).toMatchObject({ key, runs: 2, verified: true });
  }, 150_000);
});
