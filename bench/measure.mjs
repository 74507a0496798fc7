#!/usr/bin/env node
// bench/measure.mjs — one allocator on one trace, in this process alone; run by bench/run.mjs.
//
// usage: node --expose-gc bench/measure.mjs --key KEY --info JSON [--runs N] [--budget S] [--warmup EVENTS] [--verify] TRACE
// (--info: the trace's description from bench/run.mjs: events, peak live and total requested bytes)
// Prints one JSON result row on its last line: warm-up runs (WARMUP_EVENTS), then N timed runs of the reference
// loop (FORMAT.md), each on a fresh instance, median and spread of ns/event, peak footprint; with
// --verify, first an untimed replay with every block's contents checked.

import { parseArgs } from "node:util";
import { readTraceFile } from "../dist/trace/file.js";
import { allAdapters } from "./adapters.mjs";
import { replayLoop, verifyReplay } from "./loop.mjs";
import { WARMUP_EVENTS, warmupRuns } from "../dist/trace/replay.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    key: { type: "string" },
    runs: { type: "string", default: "5" },
    budget: { type: "string", default: "20" },
    warmup: { type: "string", default: String(WARMUP_EVENTS) },
    info: { type: "string" },
    verify: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const warmupEvents = Number(values.warmup);
const budgetMs = Number(values.budget) * 1000;
const a = allAdapters().find((x) => x.key === values.key);
if (!a || positionals.length !== 1) {
  console.error(`measure: need --key (one of ${allAdapters().map((x) => x.key).join(", ")}) and one trace`);
  process.exit(2);
}
const ok = await a.available();
if (ok !== true) {
  console.error(`measure: ${a.name}: ${ok}`);
  process.exit(2);
}
const t = readTraceFile(positionals[0]);
const info = JSON.parse(values.info ?? "{}");
if (info.events !== t.count) {
  console.error("measure: --info does not describe this trace");
  process.exit(2);
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

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
  const loop = replayLoop;
  const chunk = 65536;
  const ptr = new Uint32Array(t.maxSlots);
  for (let start = 0; start < t.count; start += chunk) {
    const part = { events: t.events.subarray(2 * start, 2 * Math.min(t.count, start + chunk)) };
    loop(part.events, part.events.length / 2, inst.fams, inst.view, ptr, 0, inst.touch ?? null);
    peak = Math.max(peak, used() - base);
  }
  return peak;
}

function measure() {
  const loop = replayLoop;
  let verified = false;
  if (values.verify) {
    try {
      verifyReplay(t, a.create(info), performance.now() + budgetMs);
      verified = true;
    } catch (e) {
      return { allocator: a.name, key: a.key, error: e.message };
    }
  }
  const times = [];
  let events = t.count;
  let footprint = NaN;
  let byteLength = NaN;
  let first = NaN;
  // Warm-up (untimed): the trace again and again until WARMUP_EVENTS (at least once), as the
  // CLI's replay does; a run over budget ends it (the trace is long enough). The first run's
  // time is reported as nsFirst: the allocator cold, in a fresh process.
  const warmup = warmupRuns(t.count, warmupEvents);
  let warm = 0;
  for (let r = 0; ; r++) {
    const inst = a.create(info);
    const ptr = new Uint32Array(t.maxSlots);
    const res = loop(t.events, t.count, inst.fams, inst.view, ptr, performance.now() + budgetMs, inst.touch ?? null);
    if (r === 0) first = res.ns / res.events;
    if (warm >= warmup) times.push(res.ns / res.events);
    else warm = res.events < t.count ? warmup : warm + 1;
    events = Math.min(events, res.events);
    footprint = inst.peakFootprint();
    byteLength = inst.byteLength();
    inst.dispose();
    if (times.length >= runs || (res.events < t.count && times.length >= 1)) break; // over budget: one timed partial run is enough
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
    nsFirst: first,
    warmupRuns: warmup,
    runs: times.length,
    eventsPerSecond: 1e9 / ns,
    eventsTimed: events,
    complete: events === t.count,
    peakFootprint: footprint,
    footprintRatio: events === t.count ? footprint / info.peakLiveBytes : NaN,
    byteLength,
    verified,
    times, // each timed run's ns/event: bench/run.mjs pools them over rounds
  };
  return row;
}

console.log(JSON.stringify(measure()));
