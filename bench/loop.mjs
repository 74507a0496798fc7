// bench/loop.mjs — the replay loops of ../shared/traces/FORMAT.md for every allocator.
//
// The timed loop is the library's own (replayLoop in src/trace/replay.ts), shared with the CLI;
// each allocator is measured in a process of its own (bench/measure.mjs), so the loop's type
// feedback for one allocator never makes another's calls polymorphic. Here: the verifying replay
// (never timed), which works on any adapter, typed arrays left to the GC included.
export { replayLoop } from "../dist/trace/replay.js";

/** Untimed replay with content verification: every block filled with its own byte and checked. */
export function verifyReplay(trace, inst, deadline = 0) {
  const { fams, view } = inst;
  const bytesOf = inst.gc ? (p) => view.arrays[p] : null;
  const ptr = new Uint32Array(trace.maxSlots);
  const len = new Float64Array(trace.maxSlots);
  const val = new Uint8Array(trace.maxSlots);
  const ev = trace.events;
  const at = (p, k) => (bytesOf ? bytesOf(p)[k] : view.u8[p + k]);
  const check = (i, slot, upTo) => {
    const p = ptr[slot];
    const end = Math.min(upTo, len[slot]);
    for (let k = 0; k < end; k++) {
      if (at(p, k) !== val[slot]) throw new Error(`verify: event ${i}: slot ${slot} block ${p} changed at +${k}`);
    }
  };
  const fill = (p, n, v) => {
    if (bytesOf) bytesOf(p).fill(v, 0, n);
    else view.u8.fill(v, p, p + n);
  };
  for (let i = 0; i < trace.count; i++) {
    if ((i & 0xfff) === 0 && deadline > 0 && performance.now() > deadline) return i;
    const w = ev[2 * i];
    const size = ev[2 * i + 1];
    const op = w >>> 30;
    const f = fams[(w >>> 28) & 3];
    const slot = w & 0x0fffffff;
    if (op === 3) {
      check(i, slot, Infinity);
      f.free(ptr[slot]);
      continue;
    }
    let p;
    if (op === 2) {
      check(i, slot, Infinity);
      p = f.realloc(ptr[slot], size);
      if (p !== 0) {
        ptr[slot] = p;
        check(i, slot, size);
      }
    } else p = op === 1 ? f.calloc(1, size) : f.malloc(size);
    if (p === 0) throw new Error(`verify: event ${i}: allocation of ${size} bytes failed`);
    if (op === 1) for (let k = 0; k < size; k++) if (at(p, k) !== 0) throw new Error(`verify: event ${i}: calloc block not zeroed`);
    ptr[slot] = p;
    len[slot] = size;
    val[slot] = (i * 7 + 1) & 0xff;
    fill(p, size, val[slot]);
  }
  return trace.count;
}
