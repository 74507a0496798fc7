/**
 * cli/args.ts — argument helpers shared by the commands: usage errors, modes, --at.
 *
 * Owns: turning argument strings into typed values, with one-line errors.
 * Must not: run anything.
 */

import { parseMode, type AllocatorMode } from "../heap/options.js";
import type { TraceStats } from "../trace/trace.js";

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {}

export function parseAllocators(list: string): AllocatorMode[] {
  return list.split(",").map((m) => {
    try {
      return parseMode(m.trim(), "--allocator");
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  });
}

/** --at peak | end | N (events replayed) → a number of events. */
export function parseAt(at: string, st: TraceStats, option = "--at"): number {
  if (at === "end") return st.events;
  if (at === "peak") return st.peakEvent;
  if (/^\d+$/.test(at)) {
    const n = Number(at);
    if (n > st.events) throw new UsageError(`${option} ${at}: the trace has only ${st.events} events`);
    return n;
  }
  throw new UsageError(`${option} must be "peak", "end" or an event count, got ${JSON.stringify(at)}`);
}

/**
 * A count written in decimal (5000000, or 5e6), else NaN. Number() alone read "" and " " as 0
 * (--warmup "" ran no warm-up) and "0x10" as 16.
 */
export function decimalCount(v: string): number {
  return /^\d+(\.\d+)?(e\+?\d+)?$/i.test(v) ? Number(v) : NaN;
}

export function parseRuns(v: string): number {
  const runs = decimalCount(v);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new UsageError(`--runs must be an integer from 1 to 1000, got ${JSON.stringify(v)}`);
  return runs;
}
