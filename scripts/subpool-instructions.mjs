#!/usr/bin/env node
// scripts/subpool-instructions.mjs — instructions an event of pymalloc with subPools true and false
// (issue #19), as bench:instructions counts them (cachegrind: a warm-up and 3 timed replays minus a
// warm-up and 1, over twice the events), each replay on a fresh heap in the same memory as
// bench/measure.mjs does. The option comes from this script's command line, not from src.
//
// usage: node scripts/subpool-instructions.mjs TRACE... [--sub true,false] [--raw-first 0,1024]
//        node scripts/subpool-instructions.mjs --child --sub true --raw-first 0 --runs N TRACE   (one process, no valgrind)
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createHeap } from "../dist/index.js";
import { readTraceFile } from "../dist/trace/file.js";
import { replayLoop } from "../dist/trace/replay.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { sub: { type: "string", default: "false,true" }, child: { type: "boolean", default: false }, runs: { type: "string", default: "1" }, "raw-first": { type: "string", default: "0" } },
});

if (values.child) {
  const t = readTraceFile(positionals[0]);
  const subPools = values.sub === "true";
  const rawFirst = Number(values["raw-first"]);
  let memory;
  for (let r = 0; r <= Number(values.runs); r++) {
    const heap = createHeap({ allocator: "pymalloc", subPools, rawFirst, memory, traceAllocations: false });
    memory = heap.memory.source;
    const ptr = new Uint32Array(t.maxSlots);
    const res = replayLoop(t.events, t.count, [heap.raw, heap.mem, heap.obj], heap, ptr, 0, null);
    if (process.env.VERBOSE) console.error(`run ${r}: ${(res.ns / res.events).toFixed(1)} ns/event, peak ${heap.stats().peakFootprint}`);
  }
} else {
  const self = fileURLToPath(import.meta.url);
  const extra = (process.env.NODE_EXTRA ?? "").split(" ").filter(Boolean);
  const irefs = (file, sub, raw, runs) => {
    const args = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", process.execPath, "--no-concurrent-recompilation", ...extra, self, "--child", "--sub", sub, "--raw-first", raw, "--runs", String(runs), file];
    const r = spawnSync("valgrind", args, { encoding: "utf8", maxBuffer: 1 << 26 });
    const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
    if (r.status !== 0 || !m) throw new Error(`valgrind failed:\n${r.stderr.slice(-2000)}`);
    return Number(m[1].replace(/,/g, ""));
  };
  for (const file of positionals) {
    const events = readTraceFile(file).count;
    for (const sub of values.sub.split(","))
      for (const raw of values["raw-first"].split(",")) {
        const one = irefs(file, sub, raw, 1);
        const three = irefs(file, sub, raw, 3);
        console.log(`${file.split("/").pop().padEnd(24)} subPools ${sub.padEnd(5)} rawFirst ${raw.padEnd(5)} ${((three - one) / (2 * events)).toFixed(1).padStart(7)} instructions an event`);
      }
  }
}
