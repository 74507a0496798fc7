/**
 * cli/inspect.ts — `pymalloc stats` and `pymalloc map`: the heap at a point of a trace.
 *
 * Owns: replaying a trace up to --at and printing debugMallocStats() or writing the picture.
 * Must not: time anything (replay.ts does).
 */

import { accessSync, constants, writeFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createHeap, type Heap } from "../heap/heap.js";
import { heapHtml, heapSvg } from "../introspect/map.js";
import { readTraceFile } from "../trace/file.js";
import { replayTo } from "../trace/replay.js";
import { traceStats } from "../trace/trace.js";
import { UsageError, parseAllocators, parseAt } from "./args.js";
import { Progress } from "./progress.js";

const OPTIONS = {
  allocator: { type: "string", default: "pymalloc" },
  at: { type: "string", default: "end" },
  out: { type: "string" },
} as const;

function heapAt(args: string[], needOut: boolean): { heap: Heap; label: string; out?: string } {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS });
  if (positionals.length !== 1) throw new UsageError(`expected one trace file, got ${positionals.length}`);
  const [allocator, ...more] = parseAllocators(values.allocator);
  if (more.length > 0) throw new UsageError("--allocator takes one mode here");
  if (!needOut && values.out !== undefined) throw new UsageError("stats prints to stdout and writes no file: --out is map's");
  if (needOut) {
    if (!values.out) throw new UsageError("map needs --out FILE.html or FILE.svg");
    if (![".html", ".svg"].includes(extname(values.out))) throw new UsageError(`--out must end in .html or .svg, got ${values.out}`);
    // Before the replay, which may take minutes: a directory that is not there is known now.
    try {
      accessSync(dirname(resolve(values.out)), constants.W_OK);
    } catch (e) {
      throw outError(values.out, e);
    }
  }
  const t = readTraceFile(positionals[0]);
  const st = traceStats(t);
  const upTo = parseAt(values.at, st);
  const heap = createHeap({ allocator, traceAllocations: false });
  const bar = new Progress(`replaying ${t.name} to event ${upTo}`, upTo);
  replayTo(heap, t, upTo, (d) => bar.update(d));
  bar.finish();
  return { heap, label: `${t.name} after ${upTo.toLocaleString("en-US")} of ${t.count.toLocaleString("en-US")} events (${allocator})`, out: values.out };
}

export function cmdStats(args: string[]): number {
  const { heap, label } = heapAt(args, false);
  console.log(`# ${label}`);
  console.log(heap.debugMallocStats());
  return 0;
}

/** The usage error for an --out that cannot be written (its code: ENOENT, EACCES, ...). */
function outError(out: string, e: unknown): UsageError {
  return new UsageError(`cannot write --out ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
}

export function cmdMap(args: string[]): number {
  const { heap, label, out } = heapAt(args, true);
  const text = extname(out!) === ".svg" ? heapSvg(heap, label) : heapHtml(heap, label);
  // A directory that does not exist, or one not writable: the user's --out, said as such (it was
  // "ENOENT: no such file or directory, open ..." and exit 1, a failed replay, after the replay).
  try {
    writeFileSync(out!, text);
  } catch (e) {
    throw outError(out!, e);
  }
  console.log(`wrote ${out} (${text.length.toLocaleString("en-US")} bytes): ${label}`);
  return 0;
}
