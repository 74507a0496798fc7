/**
 * cli/diff.ts — `pymalloc diff`: what the heap gained and lost between two points of a trace.
 *
 * Owns: replaying a trace to --from, taking a heap snapshot, going on to --to, taking another,
 * and printing their comparison (text or JSON), like tracemalloc's compare_to.
 * Must not: time anything, or group blocks itself (introspect/snapshot.ts does).
 */

import { parseArgs } from "node:util";
import { createHeap } from "../heap/heap.js";
import type { HeapSnapshot } from "../introspect/snapshot.js";
import { readTraceFile } from "../trace/file.js";
import { replayRange } from "../trace/replay.js";
import { traceStats } from "../trace/trace.js";
import { UsageError, decimalCount, parseAllocators, parseAt } from "./args.js";
import { Progress } from "./progress.js";

export function cmdDiff(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      from: { type: "string" },
      to: { type: "string", default: "end" },
      allocator: { type: "string", default: "debug" },
      top: { type: "string", default: "20" },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError(`diff expects one trace file, got ${positionals.length}`);
  if (values.from === undefined) throw new UsageError("diff needs --from N (an event count, peak or end)");
  const [allocator, ...more] = parseAllocators(values.allocator!);
  if (more.length > 0) throw new UsageError("--allocator takes one mode here");
  const top = decimalCount(values.top!);
  if (!Number.isSafeInteger(top) || top < 1) throw new UsageError(`--top must be a positive integer, got ${JSON.stringify(values.top)}`);
  const t = readTraceFile(positionals[0]);
  const st = traceStats(t);
  const from = parseAt(values.from, st, "--from");
  const to = parseAt(values.to!, st, "--to");
  if (to < from) throw new UsageError(`--to (event ${to}) comes before --from (event ${from}): the comparison goes from the earlier snapshot to the later`);
  // Sites of a replay would all be the replay loop: group by size class and family (known in
  // the debug modes, which are the default here for that reason).
  const heap = createHeap({ allocator, traceAllocations: false });
  const ptr = new Uint32Array(t.maxSlots);
  const snaps = new Map<number, HeapSnapshot>();
  let at = 0;
  for (const point of [...new Set([from, to])].sort((a, b) => a - b)) {
    const bar = new Progress(`replaying ${t.name} to event ${point}`, point);
    replayRange(heap, t, ptr, at, point, (d) => bar.update(d));
    bar.finish();
    at = point;
    snaps.set(point, heap.snapshot());
  }
  const cmp = snaps.get(to)!.compare(snaps.get(from)!, "size");
  if (values.json) {
    console.log(JSON.stringify({ trace: t.name, allocator, from, to, ...cmp.toJSON() }, null, 2));
    return 0;
  }
  const n = (x: number): string => x.toLocaleString("en-US");
  console.log(`# ${t.name}: event ${n(to)} compared with event ${n(from)} of ${n(t.count)} (${allocator}), by size class${heap.debug ? " and family (o obj, m mem, r raw)" : ""}`);
  console.log(cmp.toString(top));
  return 0;
}
