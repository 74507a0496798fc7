#!/usr/bin/env node
// bench/run.mjs — `npm run bench`: replay CPython traces through every allocator, side by side.
//
// usage: npm run bench -- [TRACE.pymtrace.gz ...] [--runs N] [--rounds R] [--budget SECONDS] [--warmup EVENTS] [--only KEYS] [--verify] [--no-write]
// Default trace: the bundled data/compileall-head.pymtrace.gz. For each allocator, in a process of
// its own (bench/measure.mjs), one after the other: warm-up runs (the trace replayed untimed until
// 5,000,000 events, at least once: WARMUP_EVENTS in src/trace/replay.ts; --warmup EVENTS), then N
// timed runs of the reference loop (FORMAT.md), each on a fresh instance; the first run's time
// (cold, in a fresh process) printed beside; median and
// spread of ns/event, events/s, ratio to pymalloc, peak footprint against peak live requested
// bytes. With --rounds R, the allocators take turns R times (N timed runs each turn, all pooled):
// a slow spell of a shared machine then falls on every allocator alike, not on whichever ran in it;
// each allocator's fastest process (the median of its runs) and the ratios between those are
// printed too: a process of this VM can run a third slower throughout, and the fastest is the one
// such a spell left alone. --verify replays once more with every block's contents checked, before timing. An
// allocator too slow to finish a run within --budget seconds is timed over the events it
// reached. Results go to bench/results/<trace>.json and the chart to bench/results/chart.svg.

import { mkdirSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchArgs, onlyKeys, withEvents } from "./args.mjs";
import { readTraceFile } from "../dist/trace/file.js";
import { WARMUP_EVENTS, warmupRuns } from "../dist/trace/replay.js";
import { describeTrace } from "./trace-info.mjs";
import { allAdapters } from "./adapters.mjs";
import { execFileSync } from "node:child_process";
import { chartSvg } from "./chart.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const RESULTS = join(HERE, "results");

const { values, positionals } = benchArgs(import.meta.url, {
  allowPositionals: true,
  options: {
    runs: { type: "string", default: "5" },
    rounds: { type: "string", default: "1" },
    budget: { type: "string", default: "20" },
    warmup: { type: "string" },
    only: { type: "string" },
    verify: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});
// benchArgs has checked them (bench/args.mjs, NUMERIC): whole numbers of 1 or more, a positive budget.
const runs = Number(values.runs);
const rounds = Number(values.rounds);
const budgetMs = Number(values.budget) * 1000;
const files = withEvents(positionals.length ? positionals : [join(ROOT, "data", "compileall-head.pymtrace.gz")]);
const only = onlyKeys(values.only, allAdapters().map((a) => a.key), "bench");

const mib = (n) => (Number.isFinite(n) ? (n / 2 ** 20).toFixed(2) + " MiB" : "n/a");

/** One allocator on one trace, measured by bench/measure.mjs in a fresh process: its result row. */
function measureInChild(key, file, info, verify) {
  const args = ["--expose-gc", join(HERE, "measure.mjs"), "--key", key, "--runs", String(runs), "--budget", String(budgetMs / 1000), "--info", JSON.stringify(info)];
  if (values.warmup !== undefined) args.push("--warmup", values.warmup);
  if (verify) args.push("--verify");
  const out = execFileSync(process.execPath, [...args, file], { encoding: "utf8", maxBuffer: 1 << 24, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.trim().split("\n").pop());
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Fold a later round's row into the first: its timed runs join the pool the median is taken over. */
function pool(row, more) {
  row.processMedians.push(more.nsPerEvent);
  row.nsFastestProcess = Math.min(...row.processMedians);
  row.times.push(...more.times);
  row.firsts = [...(row.firsts ?? [row.nsFirst]), more.nsFirst]; // each round's process cold
  row.nsFirst = median(row.firsts);
  row.nsPerEvent = median(row.times);
  row.nsMin = Math.min(...row.times);
  row.nsMax = Math.max(...row.times);
  row.runs = row.times.length;
  row.eventsPerSecond = 1e9 / row.nsPerEvent;
  row.peakFootprint = Math.max(row.peakFootprint, more.peakFootprint);
  row.footprintRatio = Math.max(row.footprintRatio, more.footprintRatio);
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
  const info = describeTrace(t);
  const turns = rounds > 1 ? `${rounds} rounds of ${runs} timed runs` : `${runs} timed runs`;
  console.log(`\n${info.name}: ${info.events.toLocaleString("en-US")} events, peak live ${mib(info.peakLiveBytes)}; ${turns} after ${warmupRuns(info.events, values.warmup === undefined ? WARMUP_EVENTS : Number(values.warmup))} warm-up run(s), budget ${budgetMs / 1000} s a run`);
  // Each allocator in a process of its own: the engine's type feedback and compiled code for
  // one allocator (they share classes, e.g. pymalloc with and without threads) never shape
  // another's, as for a user who runs one of them. Rounds take the allocators in turn.
  const byKey = new Map();
  for (let round = 0; round < rounds; round++) {
    for (const a of adapters) {
      const first = byKey.get(a.key);
      if (first && (first.error || !first.complete)) continue; // failed, or over budget: one round says it
      const row = measureInChild(a.key, file, info, values.verify && round === 0);
      if (!first) {
        row.processMedians = [row.nsPerEvent];
        row.nsFastestProcess = row.nsPerEvent;
        byKey.set(a.key, row);
      }
      else pool(first, row);
    }
  }
  const rows = [];
  for (const a of adapters) {
    const row = byKey.get(a.key);
    if (row.error) {
      console.log(`  ${a.name}: VERIFY FAILED: ${row.error}`);
      rows.push(row);
      continue;
    }
    const { nsPerEvent: ns, verified, peakFootprint: footprint, eventsTimed: events } = row;
    rows.push(row);
    console.log(
      `  ${a.name.padEnd(30)} ${ns.toFixed(1).padStart(9)} ns/event (${row.nsMin.toFixed(1)}-${row.nsMax.toFixed(1)}; ${rounds > 1 ? `fastest process ${row.nsFastestProcess.toFixed(1)}; ` : ""}first run ${row.nsFirst.toFixed(1)})` +
        `  ${(row.eventsPerSecond / 1e6).toFixed(2).padStart(6)} M/s  footprint ${mib(footprint).padStart(11)}` +
        `  x${Number.isFinite(row.footprintRatio) ? row.footprintRatio.toFixed(3) : "n/a  "}` +
        `${row.complete ? "" : `  (budget: ${events.toLocaleString("en-US")} events timed)`}${verified ? "  verified" : ""}`,
    );
  }
  const base = rows.find((r) => r.key === "pymalloc");
  for (const r of rows) if (base && r.nsPerEvent) r.ratioToPymalloc = r.nsPerEvent / base.nsPerEvent;
  if (base) {
    console.log("  time relative to pymalloc: " + rows.filter((r) => r.nsPerEvent).map((r) => `${r.key} ${r.ratioToPymalloc.toFixed(2)}x`).join(", "));
    // A process of a shared VM can run a third slower throughout (docs/performance.md, "Slow
    // processes"): the fastest process's median of each allocator is the figure no spell inflated.
    if (rounds > 1) {
      for (const r of rows) if (r.nsFastestProcess) r.fastestRatioToPymalloc = r.nsFastestProcess / base.nsFastestProcess;
      console.log("  fastest process of each, relative to pymalloc's: " + rows.filter((r) => r.nsFastestProcess).map((r) => `${r.key} ${r.fastestRatioToPymalloc.toFixed(2)}x`).join(", "));
    }
  }
  const result = { trace: info, date: new Date().toISOString(), node: process.version, runs, rounds, budgetSeconds: budgetMs / 1000, rows };
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
