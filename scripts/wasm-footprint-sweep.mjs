#!/usr/bin/env node
// scripts/wasm-footprint-sweep.mjs — the in-wasm replay's footprint (bench:wasm's measure) at
// several layouts: the client's event array made 8*k bytes longer for each k given, so that
// everything the allocator places after it moves up by that many bytes.
//
// usage: node scripts/wasm-footprint-sweep.mjs TRACE.pymtrace.gz [pymalloc|dlmalloc] [K,K,...] [--cold] [--events N]
//   default K: 0,2,4,...,62 (pads of 0 to 496 bytes in steps of 16); --events: the trace's first N only.
// Each run is bench:wasm's warm run, untimed: replay, free everything, replay again, free
// everything (--cold: once), on a fresh instance (pymalloc: heapForModule, the client importing
// the fast path's own instance, whose footprint is the linked row's). The footprint is bench:wasm's:
// the allocator's top (pymalloc: stats().peakFootprint; dlmalloc: the memory's length) above
// __heap_base, less the event and slot arrays (with the pad). Prints each pad's, then min,
// median, mean and max. Why: dlmalloc's decisions depend on sizes alone, so its top is the same
// at every pad and only the page its memory ends on moves; pymalloc's arenas are pool-aligned,
// so a shift of 16 bytes changes every lead-in before an arena and what fills the holes: one
// layout's footprint is one draw (docs/performance.md, "compileall's in-wasm footprint against
// dlmalloc's").

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { heapForModule, wasmModuleInfo } from "../dist/index.js";
import { readTraceFile } from "../dist/trace/file.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const cold = args.includes("--cold");
if (cold) args.splice(args.indexOf("--cold"), 1);
const limit = flag("--events");
const [file, alloc = "pymalloc", list] = args;
if (!file || (alloc !== "pymalloc" && alloc !== "dlmalloc")) {
  console.error("usage: node scripts/wasm-footprint-sweep.mjs TRACE.pymtrace.gz [pymalloc|dlmalloc] [K,K,...] [--cold] [--events N]");
  process.exit(2);
}
const pads = list ? list.split(",").map(Number) : Array.from({ length: 32 }, (_, i) => 2 * i);
const whole = await readTraceFile(file);
const t = limit ? { ...whole, count: Math.min(Number(limit), whole.count) } : whole;
const bytes = readFileSync(join(ROOT, "wasm", "clients", `replay-${alloc}.wasm`));
const mod = new WebAssembly.Module(bytes);
const wasi = new Proxy({}, { get: (_, name) => (name === "proc_exit" ? (c) => { throw new Error(`proc_exit(${c})`); } : () => 0) });
const mib = (n) => (n / 2 ** 20).toFixed(4);
const out = [];
for (const k of pads) {
  let x, top, base, buffer;
  if (alloc === "pymalloc") {
    const heap = heapForModule(bytes, { allocator: "pymalloc" });
    x = (await WebAssembly.instantiate(mod, { env: heap.wasmImports() })).exports;
    top = () => heap.stats().peakFootprint;
    base = heap.heapBase;
    buffer = () => heap.memory.source.buffer;
  } else {
    const info = wasmModuleInfo(bytes);
    const memory = new WebAssembly.Memory({ initial: Math.ceil(info.memory.minBytes / 65536), maximum: 65536 });
    x = (await WebAssembly.instantiate(mod, { env: { memory }, wasi_snapshot_preview1: wasi })).exports;
    (x._initialize ?? x.__wasm_call_ctors)?.();
    top = () => memory.buffer.byteLength;
    base = info.heapBase;
    buffer = () => memory.buffer;
  }
  const n = t.count + k;
  const ev = x.setup(n, t.maxSlots) >>> 0;
  if (ev === 0) throw new Error(`${alloc}: setup failed`);
  new Uint32Array(buffer(), ev, 2 * t.count).set(t.events.subarray(0, 2 * t.count));
  for (let r = 0; r < (cold ? 1 : 2); r++) {
    x.replay(t.count);
    x.release_all(t.maxSlots);
  }
  const fp = top() - (base + 8 * n + 4 * t.maxSlots);
  out.push(fp);
  console.log(`${alloc} pad ${8 * k} footprint ${mib(fp)} MiB`);
}
const s = [...out].sort((a, b) => a - b);
const mean = s.reduce((a, b) => a + b, 0) / s.length;
console.log(`${alloc}: ${s.length} pads, min ${mib(s[0])} median ${mib(s[s.length >> 1])} mean ${mib(mean)} max ${mib(s[s.length - 1])} MiB`);
