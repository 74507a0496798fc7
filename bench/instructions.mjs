#!/usr/bin/env node
// bench/instructions.mjs — `npm run bench:instructions`: machine instructions per trace event,
// counted by valgrind (cachegrind), for allocators of the bench. Instruction counts repeat to
// about 2% whatever else the machine is doing, where this VM's timings swing by 10-40%: they
// are how a change to a hot path is judged (the README's Numbers and docs/performance.md).
//
// usage: npm run bench:instructions -- [TRACE ...] [--only KEYS]   (default: the bundled trace, pymalloc)
// --only pymalloc,held also prints the ratio of the README's view read (heap.u8 at every event)
// to a view held in the loop and replaced by a growth callback.
// For each allocator and trace, bench/measure.mjs runs under valgrind twice: a warm-up and one
// timed run, then a warm-up and three. The difference is two steady-state replays (fresh
// allocator, timed loop), so start-up, decoding and JIT compilation cancel out:
// instructions an event = (I(3 runs) - I(1 run)) / (2 * events). Node runs with
// --no-concurrent-recompilation: valgrind runs one thread at a time, and with V8's compiler on a
// background thread the replay went on unoptimized for a varying while (754 against 338-355
// instructions an event for pymalloc on the bundled trace).
// Needs valgrind (Debian: apt-get install valgrind); about 30-60 s per allocator and trace.

import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchArgs, onlyKeys, withEvents } from "./args.mjs";
import { readTraceFile } from "../dist/trace/file.js";
import { describeTrace } from "./trace-info.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values, positionals } = benchArgs(import.meta.url, {
  allowPositionals: true,
  options: { only: { type: "string", default: "pymalloc" } },
});
const files = withEvents(positionals.length ? positionals : [join(HERE, "..", "data", "compileall-head.pymtrace.gz")]);
const { allAdapters } = await import("./adapters.mjs");
const keys = [...onlyKeys(values.only, allAdapters().map((a) => a.key), "bench:instructions")];

try {
  execFileSync("valgrind", ["--version"], { stdio: "ignore" });
} catch {
  console.error("bench:instructions needs valgrind (Debian: apt-get install valgrind)");
  process.exit(2);
}

/** Instructions executed by measure.mjs for `key` with `runs` timed runs (valgrind's "I refs"). */
function irefs(key, file, info, runs) {
  const args = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"];
  args.push(process.execPath, "--expose-gc", "--no-concurrent-recompilation", join(HERE, "measure.mjs"), "--key", key, "--runs", String(runs), "--budget", "100000", "--info", JSON.stringify(info), file);
  const r = spawnSync("valgrind", args, { encoding: "utf8", maxBuffer: 1 << 26 });
  const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`valgrind ${key} on ${info.name} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  return Number(m[1].replace(/,/g, ""));
}

for (const file of files) {
  const info = describeTrace(readTraceFile(file));
  const per = {};
  for (const key of keys) {
    const one = irefs(key, file, info, 1);
    const three = irefs(key, file, info, 3);
    const perEvent = (three - one) / (2 * info.events);
    per[key] = perEvent;
    console.log(`${info.name.padEnd(16)} ${key.padEnd(14)} ${perEvent.toFixed(0).padStart(6)} instructions an event`);
  }
  // The README's view read (heap.u8 at every event) against a view held in the loop.
  if (per.pymalloc && per.held) console.log(`${info.name.padEnd(16)} heap.u8 / held view: ${(per.pymalloc / per.held).toFixed(3)}x`);
}
