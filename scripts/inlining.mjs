#!/usr/bin/env node
// scripts/inlining.mjs — which functions V8 inlines into the replay loop (bench/measure.mjs's
// replayEvents), compile by compile: the check that malloc's and free's chains still fit the
// loop's inlining budget after a change to them (docs/performance.md, "The inlining budget" and
// "Stray writes as a program makes them": when malloc falls out, calloc is inlined instead and
// an event costs ~20 more instructions).
//
// usage: node scripts/inlining.mjs [TRACE.pymtrace.gz ...] [--key KEY]   (default: the four
// shared traces, key pymalloc). Prints one line a compile of replayEvents; the last is the code
// the timed runs use. Needs the built package (npm run build).
// Owns: nothing but the report. Must not: time anything.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readTraceFile } from "../dist/trace/file.js";
import { describeTrace } from "../bench/trace-info.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values, positionals } = parseArgs({ allowPositionals: true, options: { key: { type: "string", default: "pymalloc" } } });
const shared = join(ROOT, "..", "shared", "traces");
const traces = positionals.length ? positionals : ["compileall", "imports", "json", "minidom"].map((t) => join(shared, `${t}.pymtrace.gz`)).filter((f) => existsSync(f));

for (const file of traces) {
  const info = describeTrace(readTraceFile(file));
  const args = ["--expose-gc", "--no-concurrent-recompilation", "--trace-turbo-inlining", join(ROOT, "bench", "measure.mjs"), "--key", values.key, "--runs", "3", "--budget", "100000", "--info", JSON.stringify(info), file];
  const r = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`measure.mjs on ${info.name} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  // Lines "Inlining 0x.. {0x.. <SharedFunctionInfo NAME>} into 0x.. {0x.. <SharedFunctionInfo replayEvents>}",
  // one compile's after another: a compile starts again when the first function (get u8) comes back.
  const compiles = [];
  for (const line of (r.stdout + r.stderr).split("\n")) {
    const m = /^Inlining .*?<SharedFunctionInfo ([^>]*)>.* into .*<SharedFunctionInfo replayEvents>/.exec(line);
    if (!m) continue;
    if (compiles.length === 0 || (m[1] === "get u8" && compiles[compiles.length - 1].includes("get u8") && compiles[compiles.length - 1].length > 2)) compiles.push([]);
    compiles[compiles.length - 1].push(m[1]);
  }
  const last = compiles[compiles.length - 1] ?? [];
  const chain = ["malloc", "mallocIn", "extendPool", "free"].filter((f) => !last.includes(f));
  console.log(`${info.name}: ${compiles.length} compile(s) of replayEvents; the last inlines ${last.join(", ") || "nothing"}${chain.length ? `  -- NOT inlined: ${chain.join(", ")}` : ""}`);
}
