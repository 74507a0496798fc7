#!/usr/bin/env node
/**
 * cli/main.ts — the `pymalloc` command: replay CPython traces through the heap.
 *
 * Owns: argument parsing, running replays, printing results, exit codes (0 ok, 1 a replay
 * failed, 2 bad arguments or unreadable trace: a one-line message, never a stack trace).
 * Must not: contain allocator logic.
 */

import { parseArgs } from "node:util";
import { createHeap } from "../heap/heap.js";
import type { MemorySource } from "../memory/memory.js";
import { ALLOCATOR_MODES, parseMode, type AllocatorMode } from "../heap/options.js";
import { readTraceFile } from "../trace/file.js";
import { freeLive, liveAtEnd, replayTimed, replayVerify } from "../trace/replay.js";
import { TraceFormatError, traceStats, type Trace } from "../trace/trace.js";

const USAGE = `usage: pymalloc replay TRACE.pymtrace[.gz]... [options]

Replays CPython allocation traces through pymalloc and prints speed and memory.

options:
  --allocator LIST   comma-separated modes (${ALLOCATOR_MODES.join(", ")}); default pymalloc,malloc
  --runs N           timed runs per allocator after one warm-up run (default 5)
  --verify           also replay once with content verification and heap.check()
  --untraced         debug modes: do not capture allocation stacks (traceAllocations: false)
  --json             print results as JSON
  -h, --help         this text`;

class UsageError extends Error {}

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
  eventsPerSecond: number;
  peakLiveBytes: number;
  peakFootprint: number;
  footprintRatio: number;
  byteLength: number;
  verified: boolean;
}

function replayOne(t: Trace, peakLive: number, allocator: AllocatorMode, runs: number, verify: boolean, traceAllocations: boolean): ReplayRow {
  const live = liveAtEnd(t);
  if (verify) replayVerify(createHeap({ allocator, traceAllocations }), t, { freeAtEnd: true });
  const times: number[] = [];
  let peakFootprint = 0;
  let byteLength = 0;
  let memory: MemorySource | undefined;
  for (let r = 0; r <= runs; r++) {
    // Run 0 (the warm-up) gets a fresh memory; the timed runs format a fresh heap into that same,
    // already touched memory, so first-touch page faults (very costly on VMs) are not timed.
    const heap = createHeap({ allocator, memory, traceAllocations });
    memory = heap.memory.source;
    const { ns, ptr } = replayTimed(heap, t);
    const s = heap.stats();
    peakFootprint = s.peakFootprint;
    if (r === 0) byteLength = s.byteLength;
    freeLive(heap, live, ptr);
    if (r > 0) times.push(ns / t.count);
  }
  const nsPerEvent = median(times);
  return {
    trace: t.name,
    allocator,
    events: t.count,
    nsPerEvent,
    nsPerEventMin: Math.min(...times),
    nsPerEventMax: Math.max(...times),
    eventsPerSecond: 1e9 / nsPerEvent,
    peakLiveBytes: peakLive,
    peakFootprint,
    footprintRatio: peakFootprint / peakLive,
    byteLength,
    verified: verify,
  };
}

function cmdReplay(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      allocator: { type: "string", default: "pymalloc,malloc" },
      runs: { type: "string", default: "5" },
      verify: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      untraced: { type: "boolean", default: false },
    },
  });
  if (positionals.length === 0) throw new UsageError("replay needs at least one trace file");
  const modes = values.allocator!.split(",").map((m) => {
    try {
      return parseMode(m.trim(), "--allocator");
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new UsageError(`--runs must be an integer from 1 to 1000, got ${values.runs}`);
  const rows: ReplayRow[] = [];
  for (const file of positionals) {
    const t = readTraceFile(file);
    const st = traceStats(t);
    if (!values.json)
      console.log(`${t.name}: ${fmtInt(t.count)} events, peak live ${mib(st.peakLiveBytes)} in ${fmtInt(st.peakLiveBlocks)} blocks`);
    for (const mode of modes) {
      const row = replayOne(t, st.peakLiveBytes, mode, runs, values.verify!, !values.untraced);
      rows.push(row);
      if (!values.json) {
        console.log(
          `  ${mode.padEnd(14)} ${row.nsPerEvent.toFixed(1).padStart(7)} ns/event (min ${row.nsPerEventMin.toFixed(1)}, max ${row.nsPerEventMax.toFixed(1)})` +
            `  ${(row.eventsPerSecond / 1e6).toFixed(1)} M events/s  peak footprint ${mib(row.peakFootprint)} (x${row.footprintRatio.toFixed(3)} of live)` +
            `  memory ${mib(row.byteLength)}${row.verified ? "  verified" : ""}`,
        );
      }
    }
    if (!values.json && modes.includes("pymalloc") && modes.includes("malloc")) {
      const a = rows.find((r) => r.trace === t.name && r.allocator === "pymalloc")!;
      const b = rows.find((r) => r.trace === t.name && r.allocator === "malloc")!;
      console.log(`  pymalloc is ${(b.nsPerEvent / a.nsPerEvent).toFixed(2)}x the speed of malloc mode`);
    }
  }
  if (values.json) console.log(JSON.stringify(rows, null, 2));
  return 0;
}

export function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === "-h" || cmd === "--help" || cmd === "help") {
      console.log(USAGE);
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === "replay") return cmdReplay(rest);
    throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  } catch (e) {
    if (e instanceof UsageError || e instanceof TraceFormatError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`pymalloc: ${(e as Error).message}`);
      if (e instanceof UsageError) console.error("try: pymalloc --help");
      return 2;
    }
    console.error(`pymalloc: ${(e as Error).message}`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
