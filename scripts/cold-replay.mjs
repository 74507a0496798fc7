#!/usr/bin/env node
// scripts/cold-replay.mjs — instructions of ONE replay in a fresh process: what a short program
// pays for pymalloc's JS being interpreted and compiled while it runs (issue #16's cold side).
// Each allocator in a process of its own under valgrind (cachegrind), with
// `node --no-concurrent-recompilation --single-threaded` (TurboFan's compiles and the GC on the
// main thread, so they are counted, and counted alike run to run): the trace decoded, one
// instance made through bench/adapters.mjs, the trace replayed once through the library's
// replay loop (bench/loop.mjs); less the same process replaying 0 events (start-up, the
// trace's decoding, the adapter's creation left out). Prints the replay's instructions and an
// event's.
//
// usage: node scripts/cold-replay.mjs [TRACE.pymtrace.gz ...] [--only KEYS] [--node-flags="--trace-deopt ..."]
//   default trace: data/recorded/re_small.pymtrace.gz; default keys: pymalloc,dlmalloc-wasm
//   --node-flags: more flags for node (e.g. --trace-opt --trace-deopt): the child then runs once
//   (all events) without valgrind, its output printed as it is.
// Owns: nothing but its output. Must not: warm anything up before the replay (the point is the
// cold process), or be used for times (valgrind).

import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = fileURLToPath(import.meta.url);
const ROOT = join(dirname(HERE), "..");
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { only: { type: "string", default: "pymalloc,dlmalloc-wasm" }, "node-flags": { type: "string" }, child: { type: "string" }, events: { type: "string" } },
});
const traces = positionals.length ? positionals : [join(ROOT, "data", "recorded", "re_small.pymtrace.gz")];

if (values.child !== undefined) {
  const { readTraceFile } = await import("../dist/trace/file.js");
  const { allAdapters } = await import("../bench/adapters.mjs");
  const { replayLoop } = await import("../bench/loop.mjs");
  const t = readTraceFile(traces[0]);
  const a = allAdapters().find((x) => x.key === values.child);
  if (a === undefined || (await a.available()) !== true) throw new Error(`cold-replay: no adapter ${values.child}`);
  const inst = a.create(t);
  const n = values.events === undefined ? t.count : Math.min(t.count, Number(values.events));
  replayLoop(t.events, n, inst.fams, inst.view, new Uint32Array(t.maxSlots));
  process.exit(0);
}

const NODE = ["--no-concurrent-recompilation", "--single-threaded"];
for (const trace of traces) {
  if (values["node-flags"] !== undefined) {
    for (const key of values.only.split(",")) {
      const r = spawnSync(process.execPath, [...NODE, ...values["node-flags"].split(/\s+/).filter(Boolean), HERE, "--child", key, trace], { encoding: "utf8", maxBuffer: 1 << 28 });
      process.stdout.write(`## ${key} ${trace}\n${r.stdout}${r.stderr}`);
    }
    continue;
  }
  const irefs = (key, events) => {
    const args = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", process.execPath, ...NODE, HERE, "--child", key, trace];
    if (events !== undefined) args.push("--events", String(events));
    const r = spawnSync("valgrind", args, { encoding: "utf8", maxBuffer: 1 << 26 });
    const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
    if (r.status !== 0 || !m) throw new Error(`valgrind ${key} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
    return Number(m[1].replace(/,/g, ""));
  };
  const { readTraceFile } = await import("../dist/trace/file.js");
  const count = readTraceFile(trace).count;
  for (const key of values.only.split(",")) {
    const d = irefs(key) - irefs(key, 0);
    console.log(`${trace.split("/").pop()} ${key}: ${(d / 1e6).toFixed(1)} M instructions a cold replay (${count} events, ${(d / count).toFixed(0)} an event)`);
  }
}
