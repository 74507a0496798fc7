#!/usr/bin/env node
// Cut the first N events of a trace into a new .pymtrace.gz (max_slots recomputed).
// usage: node scripts/cut-trace.mjs IN.pymtrace.gz OUT.pymtrace.gz N
// Errors are one line and exit 2, as the CLI's (a missing N was a DataView RangeError's stack).
import { writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { readTraceFile } from "../dist/trace/file.js";
import { TraceFormatError, encodeTrace, traceStats, parseTrace } from "../dist/trace/trace.js";
const fail = (msg) => {
  console.error(`cut-trace: ${msg}`);
  process.exit(2);
};
const [inp, out, n, ...more] = process.argv.slice(2);
if (inp === undefined || out === undefined || more.length > 0) fail("usage: node scripts/cut-trace.mjs IN.pymtrace.gz OUT.pymtrace.gz N");
const want = /^\d+$/.test(n ?? "") ? Number(n) : NaN;
if (!Number.isSafeInteger(want)) fail(`N must be a number of events (an integer, 0 or more), got ${JSON.stringify(n ?? null)}`);
try {
  const t = readTraceFile(inp);
  const count = Math.min(want, t.count);
  const bytes = encodeTrace(t, count);
  writeFileSync(out, gzipSync(bytes, { level: 9 }));
  const cut = parseTrace(bytes, "cut");
  const s = traceStats(cut);
  console.log(`${out}: ${count} events, max_slots ${cut.maxSlots}, peak live ${s.peakLiveBytes} B in ${s.peakLiveBlocks} blocks, live at end ${s.liveBlocksAtEnd}`);
} catch (e) {
  if (e instanceof TraceFormatError || e instanceof RangeError || e.code !== undefined) fail(e.message);
  throw e;
}
