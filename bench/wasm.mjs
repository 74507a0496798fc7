#!/usr/bin/env node
// bench/wasm.mjs — `npm run bench:wasm`: C code in WebAssembly allocating from pymalloc (the
// AssemblyScript fast path linked into the module by `pymalloc link`, or imported from its own
// instance: no call into JS on it either way) against
// the same C built with an allocator inside the module (wasi-libc's dlmalloc; emmalloc and
// mimalloc when their builds are present), side by side in one process, runs interleaved.
//
// usage: npm run bench:wasm -- [TRACE.pymtrace.gz ...] [--runs N] [--depth D] [--strings S] [--only a,b] [--warm] [--instructions [--bintrees] [--steady]] [--crossings] [--fastpath FILE.wasm]
// MIB_DIGITS=4 (environment): footprints to four decimals (MiB), not one (a change of a few KB shows).
// --fastpath: one more row, "pymalloc-alt": the same pymalloc client and heap over another build of
// the fast path (an unshared wasm/obmalloc/obmalloc.wasm, e.g. main's, saved before a change),
// instantiated as heap.wasmImports() instantiates the built-in one: before and after, side by side
// in one run (also with --instructions).
// Three pymalloc rows: "pymalloc", the clients with pymalloc's fast path linked in by the documented
// build step, `pymalloc link client.wasm -o linked.wasm` (binaryen's wasm-merge: C's calls to
// malloc and free are calls inside the module, as they are to dlmalloc and mimalloc), instantiated
// as the README teaches (heapForModule(bytes), then instantiateWithHeap(bytes, { heap }): the
// linked module's bytes, which instantiateWithHeap compiles with the heap's numbers as constants,
// once, cached, since every run's heap has the same numbers); "pymalloc-module", the same linked
// module compiled as it is (instantiateWithHeap(module, { heap }) with a WebAssembly.Module: its
// numbers read from globals); and "pymalloc-import", the same clients unlinked, importing malloc &
// co from the fast path's own instance (heapForModule(bytes), heap.wasmImports()). The same heap
// and slow paths. Linked into a temporary folder at each run (rows that --only always keeps, as
// pymalloc-alt).
// Each row also gives the page faults of a timed run (process.resourceUsage().minorPageFault
// around it): every run is on a fresh memory, so each page the allocator touches is a first
// touch, which costs ~25 us on the project's VM (docs/performance.md, "Where an in-wasm event's
// time goes"). --warm: the trace (or a binary-trees run) runs once untimed on the same instance
// first, every block freed, so the timed run reuses memory the allocator touched before.
// --crossings: not timed; how often pymalloc's fast path (wasm) calls into JS (its slow paths),
// by kind, per trace and for binary trees: the fast path instantiated as heap.wasmImports() does,
// its four imports wrapped to count (a diagnostic, outside any timed loop).
// --instructions: machine instructions an event of the replay instead of times, counted by
// valgrind (cachegrind) as bench:instructions does: (I(warm-up + 3 runs) - I(warm-up + 1 run)) / (2 events),
// with node --no-liftoff --no-wasm-tier-up (the modules compiled by TurboFan at once); with
// --bintrees also instructions a binary-trees run ((I(warm-up + 3) - I(warm-up + 1)) / 2).
// Under valgrind with --single-threaded: V8's GC threads, whose share of the work depends on how
// valgrind schedules them, made identical builds differ by +-20% (docs/performance.md, session 49).
// A major GC started from a timed task can still fall inside the counted runs or not (20-60 M
// instructions a run on a fresh heap): compare builds by --steady's figure.
// --steady (with --instructions): every run on ONE instance (the trace, or a binary-trees run,
// again after release_all), so that what a fresh heap and instance cost once (createHeap, the
// instantiation, setup(), a first replay's new pools and arenas, the GC of the last run's
// memory) is left out: the per-event figure of a program that has run a while.
// Workloads: wasm/clients/replay.c (FORMAT.md's reference loop inside wasm: ns an event, median
// of N runs, each on a fresh instance and memory) over every trace given (default: the four of
// ../shared/traces, else the bundled one), and wasm/clients/bintrees.c (binary trees to depth D
// and S strings malloc'd/realloc'd/freed: ms a run). Footprint: the allocator's top (pymalloc:
// stats().peakFootprint; the others: the memory's length, which their sbrk grows by what they
// ask) above __heap_base, less the replayer's own event and slot arrays.
// Run with node --no-liftoff (npm run bench:wasm does): every wasm function compiled by TurboFan
// at once, for every allocator alike. (Otherwise a loop called once per instance, as the replay
// is, may run its whole timed run in Liftoff, V8's baseline compiler: seen in perf profiles.)
// Instantiated the way the README teaches: heapForModule(bytes) and heap.wasmImports() for pymalloc, a plain
// WebAssembly.instantiate on a memory of the module's minimum for the others.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchArgs, onlyKeys, withEvents } from "./args.mjs";
import { heapForModule, instantiateWithHeap, wasmModuleInfo } from "../dist/index.js";
import { fastPathModule, trampolines } from "../dist/compat/wasm-imports.js";
import { readTraceFile } from "../dist/trace/file.js";
import { traceStats } from "../dist/trace/trace.js";
import { warmupRuns } from "../dist/trace/replay.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const { values, positionals } = benchArgs(import.meta.url, {
  allowPositionals: true,
  options: {
    runs: { type: "string", default: "5" },
    depth: { type: "string", default: "16" },
    strings: { type: "string", default: "1000000" },
    only: { type: "string" },
    instructions: { type: "boolean", default: false },
    crossings: { type: "boolean", default: false },
    bintrees: { type: "boolean", default: false },
    child: { type: "string" },
    warm: { type: "boolean", default: false },
    fastpath: { type: "string" },
    steady: { type: "boolean", default: false },
    merged: { type: "boolean", default: false }, // before 2026-12-03: the linked row was an extra; now always there
  },
});
const runs = Number(values.runs);
if (values.steady && !values.instructions && values.child === undefined) {
  console.error("bench:wasm: --steady counts instructions on one instance: give it with --instructions");
  process.exit(2);
}
const SHARED = join(ROOT, "..", "shared", "traces");
const traces = values.child !== undefined ? positionals : positionals.length
  ? withEvents(positionals)
  : existsSync(SHARED)
    ? ["compileall", "imports", "json", "minidom"].map((n) => join(SHARED, `${n}.pymtrace.gz`))
    : [join(ROOT, "data", "compileall-head.pymtrace.gz")];

const onlyPeers = onlyKeys(values.only, ["pymalloc", "dlmalloc", "emmalloc", "mimalloc"], "bench:wasm");
const PEERS = ["pymalloc", "pymalloc-module", "pymalloc-import", ...(values.fastpath ? ["pymalloc-alt"] : []), "dlmalloc", "emmalloc", "mimalloc"].filter(
  (a) => !onlyPeers || a === "pymalloc-alt" || a === "pymalloc-import" || a === "pymalloc-module" || onlyPeers.has(a),
);
/** --fastpath: the other fast-path build, compiled once (a file that is none: a one-line usage error). */
let altFastPath;
try {
  altFastPath = values.fastpath ? new WebAssembly.Module(readFileSync(values.fastpath)) : undefined;
} catch (e) {
  console.error(`bench:wasm: --fastpath ${values.fastpath}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}

/**
 * emmalloc and mimalloc 2.1.2 built into the same C clients, when their sources can be had:
 * wasm/peers/ (sources.sh: Debian's emscripten 3.1.69 source package; shim/, emmalloc.c,
 * mimalloc.c: the benchmark peers' build, issue #16) or PEERS_DIR, with PEERS_SRC naming a folder
 * that holds emscripten-3.1.69/ already. Built into a temporary folder (not committed), with the
 * flags of the peers' own build. Returns that folder, or undefined (then only dlmalloc is compared).
 */
/** wasm/clang.sh: clang as wasm/build.sh runs it (no binaryen wasm-opt pass), for the peers alike. */
const CLANG = join(ROOT, "wasm", "clang.sh");

function buildPeerClients() {
  const peersDir = process.env.PEERS_DIR ?? join(ROOT, "wasm", "peers");
  if (!existsSync(join(peersDir, "sources.sh")) || !existsSync(join(peersDir, "shim"))) return undefined;
  const wanted = PEERS.filter((a) => a === "emmalloc" || a === "mimalloc");
  if (wanted.length === 0) return undefined;
  try {
    const src = process.env.PEERS_SRC ?? execFileSync("bash", [join(peersDir, "sources.sh")], { encoding: "utf8" }).trim();
    const em = join(src, "emscripten-3.1.69", "system", "lib");
    const out = mkdtempSync(join(tmpdir(), "pymalloc-peers-"));
    const cc = ["--target=wasm32-wasi", "-isystem", "/usr/include/wasm32-wasi", "-O2", "-DNDEBUG"];
    const base = [...cc, "-L/usr/lib/wasm32-wasi", "-nostartfiles", "-Wl,--no-entry", "-Wl,--import-memory", "-Wl,--export=__heap_base", "-Wl,--export=__wasm_call_ctors", "-Wl,--strip-all"];
    for (const client of ["replay", "bintrees"]) {
      const c = join(ROOT, "wasm", "clients", `${client}.c`);
      if (wanted.includes("emmalloc"))
        execFileSync("bash", [CLANG, ...base, "-fno-strict-aliasing", "-I", join(peersDir, "shim"), "-I", join(src, "emscripten-3.1.69"), c, join(peersDir, "emmalloc.c"), "-o", join(out, `${client}-emmalloc.wasm`)]);
      if (wanted.includes("mimalloc")) {
        // mimalloc does not override malloc: the client's calls are renamed to its mi_* functions.
        const mi = ["-Wno-deprecated-pragma", "-DMI_DEBUG=0", "-I", join(em, "mimalloc", "include"), "-I", join(em, "mimalloc")];
        const obj = join(out, `${client}-mi.o`);
        execFileSync("bash", [CLANG, ...cc, ...mi, "-Dmalloc=mi_malloc", "-Dfree=mi_free", "-Dcalloc=mi_calloc", "-Drealloc=mi_realloc", "-c", c, "-o", obj]);
        execFileSync("bash", [CLANG, ...base, ...mi, obj, join(peersDir, "mimalloc.c"), "-o", join(out, `${client}-mimalloc.wasm`)]);
      }
    }
    return out;
  } catch (e) {
    console.log(`emmalloc/mimalloc not built: ${String(e.message ?? e).split("\n")[0]}`);
    return undefined;
  }
}
const peerDir = buildPeerClients();

/** The replay and bintrees clients linked by `pymalloc link` (the CLI, as a user runs it), for the pymalloc row. Returns the folder. */
function linkClients() {
  const out = mkdtempSync(join(tmpdir(), "pymalloc-linked-"));
  for (const c of ["replay", "bintrees"])
    execFileSync(process.execPath, [join(ROOT, "dist", "cli", "main.js"), "link", join(ROOT, "wasm", "clients", `${c}-pymalloc.wasm`), "-o", join(out, `${c}-pymalloc-linked.wasm`)], { stdio: ["ignore", "ignore", "inherit"] });
  return out;
}
const linkedDir = values.child === undefined || values.child === "pymalloc" || values.child === "pymalloc-module" ? linkClients() : undefined;
/** wasi imports the peers' libc code links (never called on the measured paths). */
const wasi = new Proxy({}, { get: (_, name) => (name === "proc_exit" ? (c) => { throw new Error(`proc_exit(${c})`); } : () => 0) });

const mod = (name, alloc) => {
  const file = alloc.startsWith("pymalloc") ? "pymalloc" : alloc;
  const f = (alloc === "emmalloc" || alloc === "mimalloc") && peerDir ? join(peerDir, `${name}-${alloc}.wasm`) : join(ROOT, "wasm", "clients", `${name}-${file}.wasm`);
  if (!existsSync(f)) return undefined;
  const bytes = readFileSync(f);
  // pymalloc: the linked module's own bytes (heapForModule reads them as the client's).
  const linked = alloc === "pymalloc" || alloc === "pymalloc-module" ? readFileSync(join(linkedDir, `${name}-pymalloc-linked.wasm`)) : bytes;
  return { bytes: linked, module: new WebAssembly.Module(linked), info: wasmModuleInfo(linked) };
};

/** A fresh instance of the client over its allocator; top() is the allocator's footprint top. */
async function instantiate(m, alloc) {
  if (alloc === "pymalloc-import") {
    // The module compiled once (V8 tiers it up across instances): heapForModule, then instantiate.
    const heap = heapForModule(m.bytes, { allocator: "pymalloc" });
    const instance = await WebAssembly.instantiate(m.module, { env: heap.wasmImports() });
    return { x: instance.exports, top: () => heap.stats().peakFootprint, base: heap.heapBase, memory: heap.memory.source };
  }
  if (alloc === "pymalloc") {
    // The linked module's bytes (the same object every run: its copy specialised to the heap's
    // numbers is compiled once): heapForModule, then instantiateWithHeap on that heap.
    const heap = heapForModule(m.bytes, { allocator: "pymalloc" });
    const { instance } = await instantiateWithHeap(m.bytes, { heap });
    return { x: instance.exports, top: () => heap.stats().peakFootprint, base: heap.heapBase, memory: heap.memory.source };
  }
  if (alloc === "pymalloc-module") {
    // The linked module compiled once as it is (a WebAssembly.Module: not specialised).
    const heap = heapForModule(m.bytes, { allocator: "pymalloc" });
    const { instance } = await instantiateWithHeap(m.module, { heap });
    return { x: instance.exports, top: () => heap.stats().peakFootprint, base: heap.heapBase, memory: heap.memory.source };
  }
  if (alloc === "pymalloc-alt") {
    // As heapAllocator() makes the built-in fast path's instance: slow paths into the heap's mem family.
    const heap = heapForModule(m.bytes, { allocator: "pymalloc" });
    const memory = heap.memory.source;
    const slow = trampolines(() => (heap.sync(), heap.mem), () => heap);
    const fp = new WebAssembly.Instance(altFastPath, { env: { memory }, pymalloc: slow }).exports;
    fp.init(heap.heapBase, heap.threadId);
    const env = { ...slow, memory, malloc: fp.malloc, free: fp.free, calloc: fp.calloc, realloc: fp.realloc };
    const instance = await WebAssembly.instantiate(m.module, { env });
    return { x: instance.exports, top: () => heap.stats().peakFootprint, base: heap.heapBase, memory };
  }
  const memory = new WebAssembly.Memory({ initial: Math.ceil(m.info.memory.minBytes / 65536), maximum: 65536 });
  const instance = await WebAssembly.instantiate(m.module, { env: { memory }, wasi_snapshot_preview1: wasi });
  const init = instance.exports._initialize ?? instance.exports.__wasm_call_ctors;
  if (typeof init === "function") init();
  return { x: instance.exports, top: () => memory.buffer.byteLength, base: m.info.heapBase, memory };
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const mib = (n) => (n / 2 ** 20).toFixed(Number(process.env.MIB_DIGITS ?? 1));

async function replayOnce(m, alloc, t, footprint = true) {
  const r = await instantiate(m, alloc);
  // The footprint: the allocator's top above __heap_base, less the event and slot arrays setup()
  // allocates (what an allocator takes ahead of need at its first call counts: mimalloc's
  // segments). Not under valgrind (footprint false): pymalloc's stats() walks the heap, work no
  // other peer does.
  if (!footprint) r.top = () => 0;
  // From __heap_base for every allocator (r.base): pymalloc's header counts, as do the module's
  // initial pages above __heap_base that a peer's sbrk uses before the memory grows.
  const own = (footprint ? r.base : 0) + 8 * t.count + 4 * t.maxSlots;
  const ev = r.x.setup(t.count, t.maxSlots) >>> 0;
  if (ev === 0) throw new Error(`${alloc}: setup failed`);
  new Uint32Array(r.memory.buffer, ev, 2 * t.count).set(t.events.subarray(0, 2 * t.count));
  if (values.warm) {
    // --warm: the trace replayed once untimed on this instance first, every block freed: the
    // timed replay then runs on memory the allocator has used before (as in a program that has
    // run a while), not on pages the system hands out at their first touch.
    r.x.replay(t.count);
    r.x.release_all(t.maxSlots);
  }
  const f0 = process.resourceUsage().minorPageFault;
  const t0 = process.hrtime.bigint();
  const sum = r.x.replay(t.count) >>> 0;
  const ns = Number(process.hrtime.bigint() - t0);
  const faults = process.resourceUsage().minorPageFault - f0;
  r.x.release_all(t.maxSlots);
  return { ns, sum, faults, footprint: r.top() - own };
}

async function bintreesOnce(m, alloc, footprint = true) {
  const r = await instantiate(m, alloc);
  if (!footprint) r.top = () => 0;
  const start = footprint ? r.base : 0; // from __heap_base, as replayOnce counts
  if (values.warm) r.x.run(Number(values.depth), Number(values.strings)); // --warm: a first run untimed
  const f0 = process.resourceUsage().minorPageFault;
  const t0 = process.hrtime.bigint();
  const sum = r.x.run(Number(values.depth), Number(values.strings)) >>> 0;
  const ns = Number(process.hrtime.bigint() - t0);
  const faults = process.resourceUsage().minorPageFault - f0;
  return { ns, sum, faults, footprint: r.top() - start };
}

function table(title, rows, unit) {
  console.log(`\n${title}`);
  // The ratios are to the "pymalloc" row, or to the first row when --only left it out.
  const base = rows.find((r) => r.alloc === "pymalloc") ?? rows[0];
  // "per run": the median of run i's ratio to the base's run i (the runs interleaved, so a slow
  // spell of the machine falls on both): steadier than the ratio of the medians on a loaded VM.
  const paired = (r) => median(r.all.map((v, i) => v / base.all[i]));
  console.log(`| allocator | ${unit} (median of ${runs}) | runs | / ${base.alloc} | / ${base.alloc} per run | footprint MiB | footprint / ${base.alloc} | page faults a run |`);
  console.log("|---|---:|---|---:|---:|---:|---:|---:|");
  for (const r of rows)
    console.log(
      `| ${r.alloc} | ${r.value.toFixed(unit === "ms" ? 1 : 2)} | ${r.all.map((v) => v.toFixed(unit === "ms" ? 0 : 1)).join(" ")} | ${(r.value / base.value).toFixed(2)}x | ${paired(r).toFixed(2)}x | ${mib(r.footprint)} | ${(r.footprint / base.footprint).toFixed(2)} | ${r.faults} |`,
    );
}

async function measure(workload, once, scale, unit, warmups = 1) {
  const mods = PEERS.map((a) => [a, mod(workload.module, a)]).filter(([, m]) => m !== undefined);
  const res = new Map(mods.map(([a]) => [a, { ns: [], faults: [], footprint: 0, sum: undefined }]));
  // Warm-up: V8 tiers the modules up, and compiles the JS slow paths pymalloc's fast path calls
  // (a trace: until WARMUP_EVENTS, as npm run bench and the CLI's replay do).
  for (const [a, m] of mods) for (let w = 0; w < warmups; w++) await once(m, a);
  for (let i = 0; i < runs; i++) {
    // Interleaved, the order turned each run: a slow spell falls on every allocator alike.
    const order = i % 2 ? [...mods].reverse() : mods;
    for (const [a, m] of order) {
      const r = await once(m, a);
      const s = res.get(a);
      if (s.sum !== undefined && s.sum !== r.sum) throw new Error(`${a}: checksum changed between runs`);
      s.sum = r.sum;
      s.ns.push(r.ns / scale);
      s.faults.push(r.faults);
      s.footprint = Math.max(s.footprint, r.footprint);
    }
  }
  const sums = new Set([...res.values()].map((s) => s.sum));
  if (sums.size !== 1) throw new Error(`${workload.title}: allocators disagree on the checksum: ${[...res].map(([a, s]) => `${a} ${s.sum}`).join(", ")}`);
  table(workload.title, [...res].map(([alloc, s]) => ({ alloc, value: median(s.ns), all: s.ns, footprint: s.footprint, faults: median(s.faults) })), unit);
}

if (values.child !== undefined) {
  // Under valgrind: a warm-up and `runs` replays of one trace (or binary-trees runs, when the
  // trace is "bintrees") for one allocator.
  if (values.steady) {
    // --steady: one instance, the warm-up and the runs on it (every block freed between replays).
    const bt = positionals[0] === "bintrees";
    const r = await instantiate(mod(bt ? "bintrees" : "replay", values.child), values.child);
    if (bt) for (let i = 0; i <= runs; i++) r.x.run(Number(values.depth), Number(values.strings));
    else {
      const t = readTraceFile(positionals[0]);
      const ev = r.x.setup(t.count, t.maxSlots) >>> 0;
      if (ev === 0) throw new Error(`${values.child}: setup failed`);
      new Uint32Array(r.memory.buffer, ev, 2 * t.count).set(t.events.subarray(0, 2 * t.count));
      for (let i = 0; i <= runs; i++) {
        r.x.replay(t.count);
        r.x.release_all(t.maxSlots);
      }
    }
  } else if (positionals[0] === "bintrees") {
    const m = mod("bintrees", values.child);
    for (let i = 0; i <= runs; i++) await bintreesOnce(m, values.child, false);
  } else {
    const t = readTraceFile(positionals[0]);
    const m = mod("replay", values.child);
    for (let i = 0; i <= runs; i++) await replayOnce(m, values.child, t, false);
  }
  process.exit(0);
}

if (values.crossings) {
  /** The replay or bintrees client over a fast path whose calls into JS are counted by kind. */
  const counted = async (m) => {
    const heap = heapForModule(m.bytes, { allocator: "pymalloc" });
    const memory = heap.memory.source;
    const fam = heap.mem;
    const c = { "malloc <= 512": 0, "malloc > 512": 0, "calloc <= 512": 0, "calloc > 512": 0, "free <= 512": 0, "free > 512": 0, realloc: 0 };
    const small = (p) => p !== 0 && heap.usableSize(p) <= 512;
    const slow = {
      malloc: (n) => (c[n >>> 0 <= 512 ? "malloc <= 512" : "malloc > 512"]++, fam.malloc(n >>> 0)),
      calloc: (a, b) => (c[(a >>> 0) * (b >>> 0) <= 512 ? "calloc <= 512" : "calloc > 512"]++, fam.calloc(a >>> 0, b >>> 0)),
      free: (p) => (c[small(p >>> 0) ? "free <= 512" : "free > 512"]++, fam.free(p >>> 0)),
      realloc: (p, n) => (c.realloc++, fam.realloc(p >>> 0, n >>> 0)),
    };
    const shared = typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
    const fp = new WebAssembly.Instance(fastPathModule(shared), { env: { memory }, pymalloc: slow }).exports;
    fp.init(heap.heapBase, heap.threadId);
    const env = { memory, malloc: fp.malloc, free: fp.free, calloc: fp.calloc, realloc: fp.realloc };
    const x = (await WebAssembly.instantiate(m.module, { env })).exports;
    return { x, c, memory, heap };
  };
  const show = (name, events, c) => {
    const total = Object.values(c).reduce((a, b) => a + b, 0);
    const parts = Object.entries(c).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`);
    const rate = events === undefined ? "" : ` (${((1000 * total) / events).toFixed(2)} per 1000 events)`;
    console.log(`${name.padEnd(16)} ${total} calls into JS${rate}: ${parts.join(", ")}`);
  };
  for (const path of traces) {
    const t = readTraceFile(path);
    const r = await counted(mod("replay", "pymalloc-import"));
    const ev = r.x.setup(t.count, t.maxSlots) >>> 0;
    new Uint32Array(r.memory.buffer, ev, 2 * t.count).set(t.events.subarray(0, 2 * t.count));
    for (const k of Object.keys(r.c)) r.c[k] = 0; // setup's own calls left out
    r.x.replay(t.count);
    show(t.name, t.count, r.c);
  }
  const b = await counted(mod("bintrees", "pymalloc-import"));
  b.x.run(Number(values.depth), Number(values.strings));
  show(`bintrees (depth ${values.depth}, ${values.strings} strings)`, undefined, b.c);
  process.exit(0);
}

if (values.instructions) {
  const { spawnSync } = await import("node:child_process");
  const irefs = (alloc, path, n) => {
    const args = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", process.execPath, "--no-liftoff", "--no-wasm-tier-up", "--no-concurrent-recompilation", "--single-threaded"];
    args.push(fileURLToPath(import.meta.url), "--child", alloc, "--runs", String(n), "--depth", values.depth, "--strings", values.strings, path);
    if (values.fastpath) args.push("--fastpath", values.fastpath);
    if (values.steady) args.push("--steady");
    const r = spawnSync("valgrind", args, { encoding: "utf8", maxBuffer: 1 << 26 });
    const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
    if (r.status !== 0 || !m) throw new Error(`valgrind ${alloc} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
    return Number(m[1].replace(/,/g, ""));
  };
  for (const path of traces) {
    const t = readTraceFile(path);
    const row = [];
    for (const a of PEERS.filter((a) => mod("replay", a))) row.push([a, (irefs(a, path, 3) - irefs(a, path, 1)) / (2 * t.count)]);
    const base = row[0][1];
    console.log(`${t.name.padEnd(16)} ` + row.map(([a, v]) => `${a} ${v.toFixed(0)} (${(v / base).toFixed(2)}x)`).join("  ") + "  instructions an event" + (values.steady ? " (one instance)" : ""));
  }
  if (values.bintrees) {
    // Binary trees: instructions of one run (depth and strings as given), the same difference.
    const row = [];
    for (const a of PEERS.filter((a) => mod("bintrees", a))) row.push([a, (irefs(a, "bintrees", 3) - irefs(a, "bintrees", 1)) / 2]);
    const base = row[0][1];
    console.log(`${"bintrees".padEnd(16)} ` + row.map(([a, v]) => `${a} ${(v / 1e6).toFixed(1)}M (${(v / base).toFixed(2)}x)`).join("  ") + `  instructions a run (depth ${values.depth}, ${values.strings} strings${values.steady ? ", one instance" : ""})`);
  }
  process.exit(0);
}

console.log(`node ${process.version}; ${runs} timed runs each, allocators interleaved; peers present: ${PEERS.filter((a) => mod("replay", a)).join(", ")}`);
for (const path of traces) {
  const t = readTraceFile(path);
  const st = traceStats(t);
  await measure(
    { module: "replay", title: `replay in wasm: ${t.name} (${t.count.toLocaleString("en-US")} events, peak live ${mib(st.peakLiveBytes)} MiB)` },
    (m, a) => replayOnce(m, a, t),
    t.count,
    "ns/event",
    warmupRuns(t.count),
  );
}
await measure(
  { module: "bintrees", title: `binary trees in C, depth ${values.depth}, ${Number(values.strings).toLocaleString("en-US")} strings` },
  bintreesOnce,
  1e6,
  "ms",
);
