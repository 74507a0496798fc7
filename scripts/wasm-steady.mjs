#!/usr/bin/env node
// scripts/wasm-steady.mjs — steady (warm) instructions an event of the in-wasm replay, on ONE
// instance: the linked replay client (`pymalloc link`) instantiated once on a heap, the trace
// replayed twice untimed (every block freed after each), then 1 or 3 more replays, each count
// under cachegrind; (I(3) - I(1)) / (2 events). Unlike bench:wasm --instructions, no instance,
// heap or compile per run is in the figure (those swing it by +-20% between identical builds).
//
// usage: node scripts/wasm-steady.mjs LINKED.wasm TRACE.pymtrace.gz [--root DIR] [--module]
//   LINKED.wasm: `node dist/cli/main.js link wasm/clients/replay-pymalloc.wasm -o LINKED.wasm`
//   --root DIR: the checkout whose dist/ instantiates it (a module linked by another build of the
//   fast path is refused by this one's: give that build's checkout, e.g. a copy saved before a change)
//   --module: the linked module compiled as it is (not specialised to the heap's numbers)
// Owns: nothing but its output. Must not: be used for times (valgrind), or on the JS path
// (bench/instructions.mjs).

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { root: { type: "string" }, module: { type: "boolean", default: false }, child: { type: "string" } },
});
const root = resolve(values.root ?? join(dirname(fileURLToPath(import.meta.url)), ".."));
const [file, trace] = positionals;
if (!file || !trace) {
  console.error("usage: node scripts/wasm-steady.mjs LINKED.wasm TRACE.pymtrace.gz [--root DIR] [--module]");
  process.exit(2);
}
const { readTraceFile } = await import(join(root, "dist", "trace", "file.js"));

if (values.child !== undefined) {
  const { heapForModule, instantiateWithHeap } = await import(join(root, "dist", "index.js"));
  const bytes = readFileSync(file);
  const t = readTraceFile(trace);
  const heap = heapForModule(bytes, { allocator: "pymalloc" });
  const { instance } = await instantiateWithHeap(values.module ? new WebAssembly.Module(bytes) : bytes, { heap });
  const x = instance.exports;
  const ev = x.setup(t.count, t.maxSlots) >>> 0;
  if (ev === 0) throw new Error("setup failed");
  new Uint32Array(heap.memory.source.buffer, ev, 2 * t.count).set(t.events.subarray(0, 2 * t.count));
  let sum = 0;
  for (let i = 0; i < 2 + Number(values.child); i++) {
    sum = (sum + x.replay(t.count)) >>> 0;
    x.release_all(t.maxSlots);
  }
  console.log(`checksum ${sum}`);
  process.exit(0);
}

const irefs = (k) => {
  const args = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", process.execPath, "--no-liftoff", "--no-wasm-tier-up", "--no-concurrent-recompilation", "--single-threaded"];
  args.push(fileURLToPath(import.meta.url), file, trace, "--root", root, "--child", String(k), ...(values.module ? ["--module"] : []));
  const r = spawnSync("valgrind", args, { encoding: "utf8", maxBuffer: 1 << 26 });
  const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
  if (r.status !== 0 || !m || !/checksum/.test(r.stdout)) throw new Error(`valgrind run failed (exit ${r.status}):\n${r.stderr.slice(-1500)}`);
  return Number(m[1].replace(/,/g, ""));
};
const n = readTraceFile(trace).count;
const v = (irefs(3) - irefs(1)) / (2 * n);
console.log(`${file} on ${trace}${values.module ? " (compiled as it is)" : ""}: ${v.toFixed(1)} instructions an event, warm, one instance`);
