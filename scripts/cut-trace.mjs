#!/usr/bin/env node
// Cut the first N events of a trace into a new .pymtrace.gz (max_slots recomputed).
// usage: node scripts/cut-trace.mjs IN.pymtrace.gz OUT.pymtrace.gz N
import { writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { readTraceFile } from "../dist/trace/file.js";
import { encodeTrace, traceStats, parseTrace } from "../dist/trace/trace.js";
const [inp, out, n] = process.argv.slice(2);
const t = readTraceFile(inp);
const count = Math.min(Number(n), t.count);
const bytes = encodeTrace(t, count);
writeFileSync(out, gzipSync(bytes, { level: 9 }));
const s = traceStats(parseTrace(bytes, "cut"));
console.log(`${out}: ${count} events, max_slots ${parseTrace(bytes).maxSlots}, peak live ${s.peakLiveBytes} B in ${s.peakLiveBlocks} blocks, live at end ${s.liveBlocksAtEnd}`);
