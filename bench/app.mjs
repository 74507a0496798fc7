#!/usr/bin/env node
// bench/app.mjs — `npm run bench:app`: two small applications written once against the family
// API (heap.obj / heap.mem, views read as heap.u32 / heap.u8 at every access, as the README
// teaches), run on every allocator that offers that API, and once more with plain JS objects
// left to the garbage collector.
//
// usage: npm run bench:app -- [--depth 16] [--ops 1000000] [--runs 3] [--rounds 1] [--budget 20] [--only KEYS] [--workload trees,map] [--instructions]
//   --rounds R: the allocators take turns R times, a process each; each one's fastest process counts.
//   keys: pymalloc, malloc, held (pymalloc with the views in fields kept by a growth callback: the
//   reference for heap.u32's cost), dlmalloc-wasm, thing, bump (no free: the floor), js.
//   --instructions: machine instructions per node / step instead of time, counted by valgrind as
//   in bench/instructions.mjs (runs of 1 and 3 timed passes; the difference over 2 passes).
//   trees: the classic binary-trees benchmark: a stretch tree of depth+1, a long-lived tree of
//          `depth` kept to the end, then for every d = 4, 6, ... depth, 2^(depth-d+4) trees of
//          depth d built, walked and freed one by one. A node is a 12-byte block (obj family):
//          left, right, item (u32 words), written and read through heap.u32, read once per
//          function call after its last allocation (README, Use, Views). Time per node.
//   map:   a string-keyed hash map with churn: chained buckets in a mem-family array (doubled
//          when full, entries rehashed), each entry an obj-family block [next, hash, value,
//          length, key bytes]; `ops` steps each inserting key i, deleting key i - 50,000 and
//          looking up a random live key. Time per step.
// Each allocator runs in a Node process of its own (as in `npm run bench`): a warm-up run, then
// `runs` timed runs, each on a fresh heap; median. Footprint: the allocator's peak (pymalloc:
// stats().peakFootprint; dlmalloc: its sbrk's high water; @thi.ng/malloc: its top, sampled; JS
// objects: growth of the JS heap and array buffers, sampled after every 64th tree and every
// 16,384 map steps: a lower bound). An allocator over the time budget is timed over the work it reached (marked *).
// Results: bench/results/app.json (full timed runs only).

import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchArgs, onlyKeys } from "./args.mjs";
import { createHeap, fromExports, fromMemPool } from "../dist/index.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values } = benchArgs(import.meta.url, {
  options: {
    depth: { type: "string", default: "16" },
    ops: { type: "string", default: "1000000" },
    runs: { type: "string", default: "3" },
    rounds: { type: "string", default: "1" },
    budget: { type: "string", default: "20" },
    only: { type: "string" },
    workload: { type: "string", default: "trees,map" },
    child: { type: "string" },
    instructions: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});
const depth = Number(values.depth);
const ops = Number(values.ops);
const runs = Number(values.runs);
const rounds = Number(values.rounds);
const budgetMs = Number(values.budget) * 1000;
const WINDOW = 50_000;
const MIN_DEPTH = 4;

class OutOfMemory extends Error {}
/** Thrown from inside a tree's free when a run is over its budget (@thi.ng/malloc's O(live) free). */
class OverBudget extends Error {}
let deadlineAt = Infinity;
let ticks = 0;

// ---------------------------------------------------------------------------------------------
// The allocators: each gives a heap with the family API (obj, mem, u8, u32) and its peak footprint
// ---------------------------------------------------------------------------------------------

const ALLOCATORS = [
  { key: "pymalloc", name: 'pymalloc ("pymalloc")', make: () => pymallocHeap("pymalloc") },
  { key: "malloc", name: 'pymalloc ("malloc")', make: () => pymallocHeap("malloc") },
  { key: "held", name: "pymalloc, views held (reference)", make: heldViews },
  { key: "dlmalloc-wasm", name: "dlmalloc (WebAssembly, fromExports)", make: dlmallocHeap },
  { key: "thing", name: "@thi.ng/malloc (fromMemPool)", make: thingHeap },
  { key: "bump", name: "bump (JS, no free: the floor)", make: bumpHeap },
  { key: "js", name: "JS objects + GC", make: null },
];

function pymallocHeap(allocator) {
  const heap = createHeap({ allocator });
  return { heap, peak: () => heap.stats().peakFootprint, sample() {} };
}

/**
 * pymalloc with the workload's views in plain fields replaced by a growth callback
 * (heap.memory.onGrow) instead of the getters: what heap.u32 is measured against (bench:app
 * --instructions --only pymalloc,held).
 */
function heldViews() {
  const heap = createHeap({ allocator: "pymalloc" });
  const h = { obj: heap.obj, mem: heap.mem, u8: heap.u8, u32: heap.u32 };
  heap.memory.onGrow((v) => {
    h.u8 = v.u8;
    h.u32 = v.u32;
  });
  return { heap: h, peak: () => heap.stats().peakFootprint, sample() {} };
}

function dlmallocHeap() {
  const module = new WebAssembly.Module(readFileSync(join(HERE, "..", "wasm", "dlmalloc", "dlmalloc.wasm")));
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536 });
  const x = new WebAssembly.Instance(module, { env: { memory } }).exports;
  // The peak from __heap_base, where its sbrk starts (as bench/adapters.mjs counts it).
  return { heap: fromExports(x, { memory }), peak: () => (x.bench_peak() >>> 0) - x.__heap_base.value, sample() {} };
}

/**
 * The speed floor of the family API: a bump allocator in plain JS whose free does nothing, its
 * views plain fields that never change. One 1 GiB ArrayBuffer for the whole process, its top reset
 * for each run, so that the timed runs reuse the pages the warm-up touched (a fresh buffer a run
 * put ~60 ns a node of first-touch page faults into binary-trees on this VM); calloc zeroes what
 * it hands out, as those bytes were used before. What any allocator called this way, with views
 * read this way, costs at the least; not a real allocator (nothing is ever freed): the floor row,
 * as in `npm run bench`.
 */
let bumpBuffer = null;
function bumpHeap() {
  bumpBuffer ??= new ArrayBuffer(1 << 30);
  const u8 = new Uint8Array(bumpBuffer);
  let top = 16;
  const malloc = (n) => {
    const p = top;
    const next = top + ((n + 7) & ~7);
    if (next > u8.length) return 0;
    top = next;
    return p;
  };
  const calloc = (k, n) => {
    const p = malloc(k * n);
    if (p !== 0) u8.fill(0, p, p + k * n);
    return p;
  };
  const family = { malloc, calloc, free() {} };
  const heap = { obj: family, mem: family, raw: family, u8, u32: new Uint32Array(bumpBuffer) };
  return { heap, peak: () => top, sample() {} };
}

async function thingHeap() {
  const { MemPool } = await import("@thi.ng/malloc");
  const pool = new MemPool({ buf: new ArrayBuffer(512 << 20), align: 8, compact: true, split: true });
  let top = 0;
  return {
    heap: fromMemPool(pool),
    peak: () => top,
    sample() {
      if (pool.top > top) top = pool.top;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// binary-trees, on a heap: nodes are 12-byte blocks [left, right, item]
// ---------------------------------------------------------------------------------------------

function bottomUp(h, d) {
  const p = h.obj.malloc(12);
  if (p === 0) throw new OutOfMemory();
  let l = 0;
  let r = 0;
  if (d > 0) {
    l = bottomUp(h, d - 1);
    r = bottomUp(h, d - 1);
  }
  const u32 = h.u32; // read after the allocations above, used before the next one
  const w = p >>> 2;
  u32[w] = l;
  u32[w + 1] = r;
  u32[w + 2] = d;
  return p;
}

function checkTree(h, p) {
  const u32 = h.u32;
  const w = p >>> 2;
  const l = u32[w];
  if (l === 0) return 1;
  return 1 + checkTree(h, l) + checkTree(h, u32[w + 1]);
}

function freeTree(h, p) {
  if ((++ticks & 4095) === 0 && performance.now() > deadlineAt) throw new OverBudget();
  const u32 = h.u32;
  const w = p >>> 2;
  const l = u32[w];
  if (l !== 0) {
    const r = u32[w + 1];
    freeTree(h, l);
    freeTree(h, r);
  }
  h.obj.free(p);
}

/** binary-trees through the heap: { units: nodes visited, complete: false when over the deadline }. */
function treesOnHeap(a, deadline) {
  const h = a.heap;
  let nodes = 0;
  let over = false;
  deadlineAt = deadline;
  const one = (d) => {
    const t = bottomUp(h, d);
    a.sample();
    nodes += checkTree(h, t);
    freeTree(h, t);
    over = performance.now() > deadline;
  };
  try {
    one(depth + 1);
    const long = bottomUp(h, depth);
    for (let d = MIN_DEPTH; d <= depth && !over; d += 2) {
      const iterations = 2 ** (depth - d + MIN_DEPTH);
      for (let i = 0; i < iterations && !over; i++) one(d);
    }
    nodes += checkTree(h, long);
    freeTree(h, long);
  } catch (e) {
    if (!(e instanceof OverBudget)) throw e;
    over = true; // in the middle of a free: the nodes checked so far are the work reached
  }
  return { units: Math.max(nodes, 1), complete: !over };
}

// ---------------------------------------------------------------------------------------------
// binary-trees with JS objects
// ---------------------------------------------------------------------------------------------

function bottomUpJs(d) {
  return d > 0 ? { left: bottomUpJs(d - 1), right: bottomUpJs(d - 1), item: d } : { left: null, right: null, item: 0 };
}
function checkJs(t) {
  return t.left === null ? 1 : 1 + checkJs(t.left) + checkJs(t.right);
}

function treesJs(a, deadline) {
  let nodes = 0;
  let over = false;
  const one = (d) => {
    const t = bottomUpJs(d);
    a.sample();
    nodes += checkJs(t);
    over = performance.now() > deadline;
  };
  one(depth + 1);
  const long = bottomUpJs(depth);
  for (let d = MIN_DEPTH; d <= depth && !over; d += 2) {
    const iterations = 2 ** (depth - d + MIN_DEPTH);
    for (let i = 0; i < iterations && !over; i++) one(d);
  }
  return { units: nodes + checkJs(long), complete: !over };
}

// ---------------------------------------------------------------------------------------------
// The hash map on a heap. State (a small JS object, outside the timed allocations): the bucket
// array's address, its capacity, the entry count. Entry: [next, hash, value, length, key bytes].
// ---------------------------------------------------------------------------------------------

function hashOf(key) {
  let x = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) x = Math.imul(x ^ key.charCodeAt(i), 0x01000193);
  return x >>> 0;
}

function mapNew(h, cap) {
  const tab = h.mem.calloc(cap, 4);
  if (tab === 0) throw new OutOfMemory();
  return { tab, cap, size: 0 };
}

function keyEquals(u8, u32, e, key) {
  const n = key.length;
  if (u32[(e >>> 2) + 3] !== n) return false;
  for (let i = 0; i < n; i++) if (u8[e + 16 + i] !== key.charCodeAt(i)) return false;
  return true;
}

// Each function reads heap.u8 / heap.u32 once, after its last allocation (README, Use, Views).
function mapGet(h, m, key) {
  const u8 = h.u8;
  const u32 = h.u32;
  const hash = hashOf(key);
  let e = u32[(m.tab >>> 2) + (hash & (m.cap - 1))];
  while (e !== 0) {
    if (u32[(e >>> 2) + 1] === hash && keyEquals(u8, u32, e, key)) return u32[(e >>> 2) + 2];
    e = u32[e >>> 2];
  }
  return -1;
}

function mapGrow(h, m) {
  const cap = m.cap * 2;
  const tab = h.mem.calloc(cap, 4);
  if (tab === 0) throw new OutOfMemory();
  const u32 = h.u32;
  for (let b = 0; b < m.cap; b++) {
    let e = u32[(m.tab >>> 2) + b];
    while (e !== 0) {
      const next = u32[e >>> 2];
      const slot = (tab >>> 2) + (u32[(e >>> 2) + 1] & (cap - 1));
      u32[e >>> 2] = u32[slot];
      u32[slot] = e;
      e = next;
    }
  }
  h.mem.free(m.tab);
  m.tab = tab;
  m.cap = cap;
}

function mapPut(h, m, key, value) {
  const hash = hashOf(key);
  const n = key.length;
  const e = h.obj.malloc(16 + n);
  if (e === 0) throw new OutOfMemory();
  const u8 = h.u8;
  const u32 = h.u32;
  const w = e >>> 2;
  const slot = (m.tab >>> 2) + (hash & (m.cap - 1));
  u32[w] = u32[slot];
  u32[w + 1] = hash;
  u32[w + 2] = value;
  u32[w + 3] = n;
  for (let i = 0; i < n; i++) u8[e + 16 + i] = key.charCodeAt(i);
  u32[slot] = e;
  if (++m.size > m.cap - (m.cap >>> 2)) mapGrow(h, m);
}

function mapDelete(h, m, key) {
  const u8 = h.u8;
  const u32 = h.u32;
  const hash = hashOf(key);
  let at = (m.tab >>> 2) + (hash & (m.cap - 1)); // the word that points at e
  let e = u32[at];
  while (e !== 0) {
    if (u32[(e >>> 2) + 1] === hash && keyEquals(u8, u32, e, key)) {
      u32[at] = u32[e >>> 2];
      h.obj.free(e);
      m.size--;
      return true;
    }
    at = e >>> 2;
    e = u32[at];
  }
  return false;
}

/** xorshift32: the same key sequence for every allocator. */
function rng() {
  let s = 0x2545f491;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

function mapOnHeap(a, deadline) {
  const h = a.heap;
  const m = mapNew(h, 1024);
  const rand = rng();
  let sum = 0;
  let i = 0;
  for (; i < ops; i++) {
    mapPut(h, m, "key:" + i, i);
    if (i >= WINDOW && !mapDelete(h, m, "key:" + (i - WINDOW))) throw new Error("map: a key went missing");
    const lo = i >= WINDOW ? i - WINDOW + 1 : 0;
    const k = lo + (rand() % (i - lo + 1));
    const v = mapGet(h, m, "key:" + k);
    if (v !== k) throw new Error(`map: key:${k} read ${v}`);
    sum += v;
    if ((i & 255) === 0) {
      a.sample();
      if (performance.now() > deadline) break;
    }
  }
  if (i === ops) {
    // Empty the map (untimed work is not separated: freeing is part of the application).
    for (let j = Math.max(0, ops - WINDOW); j < ops; j++) if (!mapDelete(h, m, "key:" + j)) throw new Error("map: a key went missing");
    if (m.size !== 0) throw new Error("map: entries left");
    h.mem.free(m.tab);
  }
  return { units: i, complete: i === ops };
}

// The same map, entries as JS objects.
function mapJs(a, deadline) {
  let cap = 1024;
  let tab = new Array(cap).fill(null);
  let size = 0;
  const get = (key) => {
    const hash = hashOf(key);
    for (let e = tab[hash & (cap - 1)]; e !== null; e = e.next) if (e.hash === hash && e.key === key) return e.value;
    return -1;
  };
  const put = (key, value) => {
    const hash = hashOf(key);
    const slot = hash & (cap - 1);
    tab[slot] = { next: tab[slot], hash, value, key };
    if (++size > cap - (cap >>> 2)) {
      const old = tab;
      cap *= 2;
      tab = new Array(cap).fill(null);
      for (let e of old) {
        while (e !== null) {
          const next = e.next;
          const s = e.hash & (cap - 1);
          e.next = tab[s];
          tab[s] = e;
          e = next;
        }
      }
    }
  };
  const del = (key) => {
    const hash = hashOf(key);
    const slot = hash & (cap - 1);
    let prev = null;
    for (let e = tab[slot]; e !== null; prev = e, e = e.next) {
      if (e.hash === hash && e.key === key) {
        if (prev === null) tab[slot] = e.next;
        else prev.next = e.next;
        size--;
        return true;
      }
    }
    return false;
  };
  const rand = rng();
  let i = 0;
  for (; i < ops; i++) {
    put("key:" + i, i);
    if (i >= WINDOW && !del("key:" + (i - WINDOW))) throw new Error("map: a key went missing");
    const lo = i >= WINDOW ? i - WINDOW + 1 : 0;
    const k = lo + (rand() % (i - lo + 1));
    if (get("key:" + k) !== k) throw new Error("map: wrong value");
    if ((i & 255) === 0) {
      a.sample();
      if (performance.now() > deadline) break;
    }
  }
  return { units: i, complete: i === ops };
}

// ---------------------------------------------------------------------------------------------
// One allocator, one workload, in this process (--child KEY:WORKLOAD)
// ---------------------------------------------------------------------------------------------

function jsSampler() {
  globalThis.gc?.();
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = used();
  let peak = 0;
  let calls = 0;
  return {
    peak: () => peak,
    // process.memoryUsage() costs tens of µs: every 64th call (a lower bound all the same).
    sample() {
      if ((calls++ & 63) !== 0) return;
      const u = used() - base;
      if (u > peak) peak = u;
    },
  };
}

async function child(spec) {
  const [key, workload] = spec.split(":");
  const alloc = ALLOCATORS.find((x) => x.key === key);
  const js = key === "js";
  const fn = workload === "trees" ? (js ? treesJs : treesOnHeap) : js ? mapJs : mapOnHeap;
  const times = [];
  let units = 0;
  let complete = true;
  let peak = 0;
  for (let r = 0; r <= runs; r++) {
    const a = js ? jsSampler() : await alloc.make();
    globalThis.gc?.();
    const t0 = process.hrtime.bigint();
    const res = fn(a, performance.now() + budgetMs);
    const ns = Number(process.hrtime.bigint() - t0);
    peak = Math.max(peak, a.peak());
    units = res.units;
    // Over the budget: this run, timed over the work it reached, is the only one.
    if (!res.complete) {
      complete = false;
      times.push(ns / res.units);
      break;
    }
    if (r > 0) times.push(ns / res.units);
  }
  const s = [...times].sort((x, y) => x - y);
  return { key, name: alloc.name, workload, nsPerUnit: s[s.length >> 1], units, complete, peakFootprint: peak, runs: times.length };
}

/** Nodes binary-trees visits at this depth (stretch tree, every iteration, long-lived tree). */
function treeNodes() {
  const nodes = (d) => 2 ** (d + 1) - 1;
  let n = nodes(depth + 1) + nodes(depth);
  for (let d = MIN_DEPTH; d <= depth; d += 2) n += 2 ** (depth - d + MIN_DEPTH) * nodes(d);
  return n;
}

if (values.child) {
  console.log(JSON.stringify(await child(values.child)));
} else {
  const only = onlyKeys(values.only, ALLOCATORS.map((a) => a.key), "bench:app");
  const workloads = values.workload.split(",");
  if (workloads.some((w) => w !== "trees" && w !== "map")) {
    console.error(`bench:app: --workload takes trees, map or both (trees,map), not ${JSON.stringify(values.workload)}`);
    process.exit(2);
  }
  const rows = [];
  const mib = (n) => (n / 2 ** 20).toFixed(1) + " MiB";
  for (const w of workloads) {
    const what = w === "trees" ? `binary-trees, depth ${depth}: ${treeNodes().toLocaleString("en-US")} nodes` : `hash map, ${ops.toLocaleString("en-US")} steps, ${WINDOW.toLocaleString("en-US")} live keys`;
    console.log(`\n${what}; ${rounds > 1 ? `${rounds} rounds (a process each) of ` : ""}${runs} timed runs after a warm-up, budget ${budgetMs / 1000} s a run`);
    // With --rounds R, the allocators take turns R times, a process each, and each one's fastest
    // process counts: a process of this VM can run a third slower throughout (docs/performance.md,
    // "Slow processes"), and a spell then falls on whichever ran in it.
    const turns = values.instructions ? 1 : rounds;
    const byKey = new Map();
    for (let round = 0; round < turns; round++) {
      for (const a of ALLOCATORS) {
        if (only && !only.has(a.key)) continue;
        const args = ["--expose-gc", fileURLToPath(import.meta.url), "--child", `${a.key}:${w}`, "--depth", String(depth), "--ops", String(ops), "--runs", String(runs), "--budget", String(budgetMs / 1000)];
        if (values.instructions) {
          const count = (r) => {
            // No time budget under valgrind (50x slower): every run does the whole workload.
            const vargs = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", process.execPath, "--no-concurrent-recompilation", ...args.map((x, i) => (args[i - 1] === "--runs" ? String(r) : args[i - 1] === "--budget" ? "1000000" : x))];
            const res = spawnSync("valgrind", vargs, { encoding: "utf8", maxBuffer: 1 << 26 });
            const m = /I\s+refs:\s+([\d,]+)/.exec(res.stderr);
            if (res.status !== 0 || !m) throw new Error(`valgrind ${a.key} ${w} failed:\n${res.stderr.slice(-2000)}`);
            return { irefs: Number(m[1].replace(/,/g, "")), row: JSON.parse(res.stdout.trim().split("\n").pop()) };
          };
          const one = count(1);
          const three = count(3);
          const per = (three.irefs - one.irefs) / (2 * three.row.units);
          rows.push({ ...three.row, instructionsPerUnit: per });
          console.log(`  ${a.name.padEnd(38)} ${per.toFixed(0).padStart(7)} instructions a ${w === "trees" ? "node" : "step"}`);
          continue;
        }
        let row;
        try {
          const out = execFileSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 24, stdio: ["ignore", "pipe", "inherit"] });
          row = JSON.parse(out.trim().split("\n").pop());
        } catch (e) {
          console.log(`  ${a.name}: failed: ${e.message.split("\n")[0]}`);
          continue;
        }
        const first = byKey.get(a.key);
        if (first) {
          first.processes.push(row.nsPerUnit);
          first.nsPerUnit = Math.min(first.nsPerUnit, row.nsPerUnit);
          first.complete &&= row.complete;
          first.peakFootprint = Math.max(first.peakFootprint, row.peakFootprint);
        } else {
          row.processes = [row.nsPerUnit];
          byKey.set(a.key, row);
          rows.push(row);
        }
      }
    }
    const unit = w === "trees" ? "node" : "step";
    for (const r of byKey.values()) {
      const each = rounds > 1 ? ` (fastest of ${r.processes.map((x) => x.toFixed(1)).join(", ")})` : "";
      console.log(`  ${r.name.padEnd(38)} ${r.nsPerUnit.toFixed(1).padStart(9)} ns/${unit}${r.complete ? " " : "*"}  peak footprint ${mib(r.peakFootprint).padStart(10)}${each}`);
    }
    const held = rows.find((r) => r.key === "held" && r.workload === w);
    const base = rows.find((r) => r.key === "pymalloc" && r.workload === w);
    if (values.instructions) {
      if (base && held) console.log(`  heap.u32 / held views: ${(base.instructionsPerUnit / held.instructionsPerUnit).toFixed(3)}x`);
      continue;
    }
    if (base) console.log("  time relative to pymalloc: " + rows.filter((r) => r.workload === w).map((r) => `${r.key} ${(r.nsPerUnit / base.nsPerUnit).toFixed(2)}x`).join(", "));
  }
  // Only a full timed run replaces the committed results (an --only or --instructions run
  // would overwrite the table's source with a part of it).
  if (values.only || values.instructions) console.log("\nbench/results/app.json not written (a partial run: --only or --instructions)");
  else if (!values["no-write"]) {
    mkdirSync(join(HERE, "results"), { recursive: true });
    writeFileSync(join(HERE, "results", "app.json"), JSON.stringify({ date: new Date().toISOString(), node: process.version, depth, ops, runs, rounds, rows }, null, 2) + "\n");
    console.log("\nwrote bench/results/app.json");
  }
}
