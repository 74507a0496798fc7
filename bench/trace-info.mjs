// bench/trace-info.mjs — what the bench's measuring processes are told about a trace.
//
// Owns: the trace description passed to bench/measure.mjs as --info (events, slots, peak live
// requested bytes, total requested bytes: adapters size their buffers from it).
import { traceStats, Op } from "../dist/trace/trace.js";

export function describeTrace(t) {
  const st = traceStats(t);
  let total = 0;
  for (let i = 0; i < t.count; i++) if (t.events[2 * i] >>> 30 !== Op.FREE) total += t.events[2 * i + 1];
  return { name: t.name, events: t.count, maxSlots: t.maxSlots, peakLiveBytes: st.peakLiveBytes, totalRequestedBytes: total };
}
