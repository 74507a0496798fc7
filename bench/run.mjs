#!/usr/bin/env node
// bench/run.mjs — `npm run bench`: replay CPython traces through every allocator, side by side.
//
// usage: npm run bench -- [TRACE.pymtrace.gz ...] [--runs N] [--budget SECONDS] [--only KEYS] [--verify] [--no-write]
// Default trace: the bundled data/compileall-head.pymtrace.gz. For each allocator: a warm-up run,
// then N timed runs of the reference loop (FORMAT.md), each on a fresh instance; median and
// spread of ns/event, events/s, ratio to pymalloc, peak footprint against peak live requested
// bytes. --verify replays once more with every block's contents checked, before timing. An
// allocator too slow to finish a run within --budget seconds is timed over the events it
// reached. Results go to bench/results/<trace>.json and the chart to bench/results/chart.svg.

import { mkdirSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readTraceFile } from "../dist/trace/file.js";
import { traceStats, OP_FREE } from "../dist/trace/trace.js";
import { allAdapters } from "./adapters.mjs";
import { freshLoop, verifyReplay } from "./loop.mjs";
import { chartSvg } from "./chart.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const RESULTS = join(HERE, "results");

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: "string", default: "5" },
    budget: { type: "string", default: "20" },
    only: { type: "string" },
    verify: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const budgetMs = Number(values.budget) * 1000;
if (!Number.isInteger(runs) || runs < 1 || !(budgetMs > 0)) {
  console.error("bench: --runs must be a positive integer and --budget a positive number of seconds");
  process.exit(2);
}
const files = positionals.length ? positionals : [join(ROOT, "data", "compileall-head.pymtrace.gz")];
const only = values.only ? new Set(values.only.split(",")) : null;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mib = (n) => (Number.isFinite(n) ? (n / 2 ** 20).toFixed(2) + " MiB" : "n/a");

function describe(t) {
  const st = traceStats(t);
  let total = 0;
  for (let i = 0; i < t.count; i++) if (t.events[2 * i] >>> 30 !== OP_FREE) total += t.events[2 * i + 1];
  return { name: t.name, events: t.count, maxSlots: t.maxSlots, peakLiveBytes: st.peakLiveBytes, totalRequestedBytes: total };
}

/**
 * Growth of the JS heap plus array buffers over an untimed replay, sampled every 65,536 events
 * (for the GC adapter: V8 keeps small typed arrays inside the JS heap, larger ones outside).
 * A sampled high-water mark, so a lower bound of the true peak.
 */
function gcFootprint(t, inst) {
  globalThis.gc?.();
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = used();
  let peak = 0;
  const loop = freshLoop();
  const chunk = 65536;
  const ptr = new Uint32Array(t.maxSlots);
  for (let start = 0; start < t.count; start += chunk) {
    const part = { events: t.events.subarray(2 * start, 2 * Math.min(t.count, start + chunk)) };
    loop(part.events, part.events.length / 2, inst.fams, inst.view, ptr, 0, inst.touch ?? null);
    peak = Math.max(peak, used() - base);
  }
  return peak;
}

const adapters = [];
for (const a of allAdapters()) {
  if (only && !only.has(a.key)) continue;
  const ok = await a.available();
  if (ok !== true) console.log(`skipped: ${a.name}: ${ok}`);
  else adapters.push(a);
}

const allResults = [];
for (const file of files) {
  const t = readTraceFile(file);
  const info = describe(t);
  console.log(`\n${info.name}: ${info.events.toLocaleString("en-US")} events, peak live ${mib(info.peakLiveBytes)}; ${runs} timed runs after a warm-up, budget ${budgetMs / 1000} s a run`);
  const rows = [];
  for (const a of adapters) {
    const loop = freshLoop();
    let verified = false;
    if (values.verify) {
      try {
        verifyReplayWithin(t, a, info);
        verified = true;
      } catch (e) {
        console.log(`  ${a.name}: VERIFY FAILED: ${e.message}`);
        rows.push({ allocator: a.name, key: a.key, error: e.message });
        continue;
      }
    }
    const times = [];
    let events = t.count;
    let footprint = NaN;
    let byteLength = NaN;
    for (let r = 0; r <= runs; r++) {
      const inst = a.create(info);
      const ptr = new Uint32Array(t.maxSlots);
      const res = loop(t.events, t.count, inst.fams, inst.view, ptr, performance.now() + budgetMs, inst.touch ?? null);
      if (r > 0) times.push(res.ns / res.events);
      events = Math.min(events, res.events);
      footprint = inst.peakFootprint();
      byteLength = inst.byteLength();
      inst.dispose();
      if (res.events < t.count && r >= 1) break; // over budget: one timed partial run is enough
    }
    if (a.key === "gc") footprint = gcFootprint(t, a.create(info));
    const ns = median(times);
    const row = {
      allocator: a.name,
      key: a.key,
      note: a.note,
      nsPerEvent: ns,
      nsMin: Math.min(...times),
      nsMax: Math.max(...times),
      runs: times.length,
      eventsPerSecond: 1e9 / ns,
      eventsTimed: events,
      complete: events === t.count,
      peakFootprint: footprint,
      footprintRatio: events === t.count ? footprint / info.peakLiveBytes : NaN,
      byteLength,
      verified,
    };
    rows.push(row);
    console.log(
      `  ${a.name.padEnd(30)} ${ns.toFixed(1).padStart(9)} ns/event (${row.nsMin.toFixed(1)}-${row.nsMax.toFixed(1)})` +
        `  ${(row.eventsPerSecond / 1e6).toFixed(2).padStart(6)} M/s  footprint ${mib(footprint).padStart(11)}` +
        `  x${Number.isFinite(row.footprintRatio) ? row.footprintRatio.toFixed(3) : "n/a  "}` +
        `${row.complete ? "" : `  (budget: ${events.toLocaleString("en-US")} events timed)`}${verified ? "  verified" : ""}`,
    );
  }
  const base = rows.find((r) => r.key === "pymalloc");
  for (const r of rows) if (base && r.nsPerEvent) r.ratioToPymalloc = r.nsPerEvent / base.nsPerEvent;
  if (base) {
    console.log("  time relative to pymalloc: " + rows.filter((r) => r.nsPerEvent).map((r) => `${r.key} ${r.ratioToPymalloc.toFixed(2)}x`).join(", "));
  }
  const result = { trace: info, date: new Date().toISOString(), node: process.version, runs, budgetSeconds: budgetMs / 1000, rows };
  allResults.push(result);
  if (!values["no-write"]) {
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, `${info.name}.json`), JSON.stringify(result, null, 2) + "\n");
  }
}

if (!values["no-write"]) {
  // The chart shows every trace with a results file, not only the ones run now.
  const names = new Set(allResults.map((r) => r.trace.name));
  for (const f of ["compileall-head", "compileall", "imports", "json", "minidom"]) {
    const p = join(RESULTS, `${f}.json`);
    if (!names.has(f) && existsSync(p)) allResults.push(JSON.parse(readFileSync(p, "utf8")));
  }
  writeFileSync(join(RESULTS, "chart.svg"), chartSvg(allResults));
  console.log(`\nwrote bench/results/{${[...new Set(allResults.map((r) => r.trace.name))].join(",")}}.json and bench/results/chart.svg`);
}

/** Verify a replay, within the time budget (an allocator too slow for it is verified as far as it gets). */
function verifyReplayWithin(t, a, info) {
  verifyReplay(t, a.create(info), performance.now() + budgetMs);
}
