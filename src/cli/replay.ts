/**
 * cli/replay.ts — `pymalloc replay`: time trace replays, print speed and memory.
 *
 * Owns: the replay command's runs (warm-up, timed runs on warm memory, optional verification)
 * and its table or JSON output.
 * Must not: contain allocator logic.
 */

import { accessSync, constants } from "node:fs";
import { parseArgs } from "node:util";
import { createHeap } from "../heap/heap.js";
import type { AllocatorMode } from "../heap/options.js";
import type { MemorySource } from "../memory/memory.js";
import { readTraceFile } from "../trace/file.js";
import { WARMUP_EVENTS, freeLive, liveAtEnd, replayTimed, replayVerify, warmupRuns } from "../trace/replay.js";
import { TraceFormatError, traceStats, type Trace } from "../trace/trace.js";
import { UsageError, decimalCount, parseAllocators, parseRuns } from "./args.js";
import { Progress } from "./progress.js";

const fmtInt = (n: number): string => Math.round(n).toLocaleString("en-US");
const mib = (n: number): string => (n / 2 ** 20).toFixed(2) + " MiB";
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export interface ReplayRow {
  trace: string;
  allocator: AllocatorMode;
  events: number;
  nsPerEvent: number;
  nsPerEventMin: number;
  nsPerEventMax: number;
  /** The first replay in this process (the first warm-up run), cold: what a short-lived program pays. */
  nsPerEventFirst: number;
  /** Untimed runs before the timed ones (warmupRuns). */
  warmupRuns: number;
  eventsPerSecond: number;
  peakLiveBytes: number;
  peakFootprint: number;
  footprintRatio: number;
  byteLength: number;
  verified: boolean;
  /** The debug modes captured each block's allocation stack (--traced). */
  traced: boolean;
}

/** Warm-up events of the debug modes (a run at least): a million events is 0.1-0.5 s of debug replay. */
const DEBUG_WARMUP_EVENTS = 1_000_000;

function replayOne(t: Trace, peakLive: number, allocator: AllocatorMode, runs: number, warmup: number, verify: boolean, traceAllocations: boolean): ReplayRow {
  const live = liveAtEnd(t);
  const bar = new Progress(`${t.name} ${allocator}`, warmup + runs + (verify ? 1 : 0));
  let step = 0;
  bar.update(0);
  if (verify) {
    replayVerify(createHeap({ allocator, traceAllocations }), t, { freeAtEnd: true });
    bar.update(++step);
  }
  const times: number[] = [];
  let peakFootprint = 0;
  let byteLength = 0;
  let memory: MemorySource | undefined;
  let first = NaN;
  for (let r = 0; r < warmup + runs; r++) {
    // Runs 0..warmup-1 warm up (WARMUP_EVENTS: a short trace is replayed several times); the
    // first gets a fresh memory, and every later run formats a fresh heap into that same, already
    // touched memory, so first-touch page faults (very costly on VMs) are not timed.
    const heap = createHeap({ allocator, memory, traceAllocations });
    memory = heap.memory.source;
    const { ns, ptr } = replayTimed(heap, t);
    const s = heap.stats();
    peakFootprint = s.peakFootprint;
    if (r === 0) byteLength = s.byteLength;
    freeLive(heap, live, ptr);
    if (r === 0) first = ns / t.count;
    if (r >= warmup) times.push(ns / t.count);
    bar.update(++step);
  }
  bar.finish();
  const nsPerEvent = median(times);
  return {
    trace: t.name,
    allocator,
    events: t.count,
    nsPerEvent,
    nsPerEventMin: Math.min(...times),
    nsPerEventMax: Math.max(...times),
    nsPerEventFirst: first,
    warmupRuns: warmup,
    eventsPerSecond: 1e9 / nsPerEvent,
    peakLiveBytes: peakLive,
    peakFootprint,
    footprintRatio: peakFootprint / peakLive,
    byteLength,
    verified: verify,
    traced: traceAllocations && allocator.includes("debug"),
  };
}

export function cmdReplay(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      allocator: { type: "string", default: "pymalloc,malloc" },
      runs: { type: "string", default: "5" },
      warmup: { type: "string" },
      verify: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      // Stacks are off by default, as in stats, map and diff: a replay's every stack is the
      // replay loop's, and capturing them took the debug modes ~27x the time an event (4.46 against 0.165 us on the bundled trace, 2026-12-06).
      traced: { type: "boolean", default: false },
      untraced: { type: "boolean", default: false },
    },
  });
  if (positionals.length === 0) throw new UsageError("replay needs at least one trace file");
  if (values.traced && values.untraced) throw new UsageError("--traced and --untraced contradict each other: give one");
  const modes = parseAllocators(values.allocator!);
  const runs = parseRuns(values.runs!);
  const warmupEvents = values.warmup === undefined ? undefined : decimalCount(values.warmup);
  if (warmupEvents !== undefined && (!Number.isSafeInteger(warmupEvents) || warmupEvents < 0))
    throw new UsageError(`--warmup must be a number of events (0 or more), not ${JSON.stringify(values.warmup)}`);
  // Every file there before the first is replayed: a missing second trace ended the command
  // after the first one's whole replay, its results unprinted under --json.
  for (const file of positionals) {
    try {
      accessSync(file, constants.R_OK);
    } catch (e) {
      throw new TraceFormatError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  const rows: ReplayRow[] = [];
  for (const file of positionals) {
    let t: Trace;
    try {
      t = readTraceFile(file);
    } catch (e) {
      // A later trace that turns out corrupt: the rows already measured are printed first (under
      // --json they were lost with the error), then the error (exit 2).
      if (values.json && rows.length > 0) console.log(JSON.stringify(rows, null, 2));
      throw e;
    }
    const mine: ReplayRow[] = [];
    const st = traceStats(t);
    if (!values.json)
      console.log(`${t.name}: ${fmtInt(t.count)} events, peak live ${mib(st.peakLiveBytes)} in ${fmtInt(st.peakLiveBlocks)} blocks`);
    for (const mode of modes) {
      // The debug modes' time is their checks and stacks more than the JIT's warm-up: fewer events
      // of warm-up than the release modes' (DEBUG_WARMUP_EVENTS), unless asked. One run was too
      // few for a short trace: a 13,000-event trace's debug row read 88-1,042 ns an event by the
      // order of the modes in the command (2026-12-06).
      const warmup = warmupRuns(t.count, warmupEvents ?? (mode.includes("debug") ? DEBUG_WARMUP_EVENTS : WARMUP_EVENTS));
      const row = replayOne(t, st.peakLiveBytes, mode, runs, warmup, values.verify!, values.traced!);
      rows.push(row);
      mine.push(row);
      if (!values.json) {
        // A trace of no events has no time an event, and no live bytes to compare a footprint with.
        const speed = row.events > 0 ? `${row.nsPerEvent.toFixed(1).padStart(7)} ns/event (min ${row.nsPerEventMin.toFixed(1)}, max ${row.nsPerEventMax.toFixed(1)}; first run ${row.nsPerEventFirst.toFixed(1)})  ${(row.eventsPerSecond / 1e6).toFixed(1)} M events/s` : "no events to time";
        const ratio = row.peakLiveBytes > 0 ? ` (x${row.footprintRatio.toFixed(3)} of live)` : "";
        console.log(`  ${mode.padEnd(14)} ${speed}  peak footprint ${mib(row.peakFootprint)}${ratio}  memory ${mib(row.byteLength)}${row.verified ? "  verified" : ""}`);
      }
    }
    if (!values.json && modes.includes("pymalloc") && modes.includes("malloc")) {
      // This file's rows: two traces of one name (a.pymtrace and b/a.pymtrace.gz) were compared
      // by the first one's rows.
      const a = mine.find((r) => r.allocator === "pymalloc")!;
      const b = mine.find((r) => r.allocator === "malloc")!;
      if (Number.isFinite(b.nsPerEvent / a.nsPerEvent)) console.log(`  pymalloc is ${(b.nsPerEvent / a.nsPerEvent).toFixed(2)}x the speed of malloc mode`);
      else console.log("  no events timed: no speed to compare");
    }
  }
  if (values.json) console.log(JSON.stringify(rows, null, 2));
  return 0;
}

