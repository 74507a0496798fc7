/**
 * trace/replay.ts — replay a trace through a heap: the timed reference loop and a verifying one.
 *
 * Owns: the replay rule of FORMAT.md (decode, call the family of the event's domain, write one
 * byte at offset 0 of every block of size > 0), and a verifying replay that fills every block
 * with its own byte and checks it on realloc/free, with calloc zeroes and check() at the end.
 * Must not: time anything but the loop, or keep state outside the heap between runs.
 */

import { Buffer } from "node:buffer";
import type { Family } from "../heap/families.js";
import type { Heap } from "../heap/heap.js";
import { PymallocError, nameErrorClass, hex, typeName } from "../errors.js";
import { Op, checkTrace, type Trace } from "./trace.js";

export class ReplayError extends PymallocError {}
nameErrorClass(ReplayError, "ReplayError");

/**
 * Families of a heap indexed by trace domain (0 raw, 1 mem, 2 obj). TypeError naming the
 * argument for anything else (null was "Cannot read properties of null (reading 'raw')", {} a
 * missing 'malloc' from inside the timed loop).
 */
export function familiesByDomain(heap: Heap): Family[] {
  const fams = heap !== null && typeof heap === "object" ? [heap.raw, heap.mem, heap.obj] : [];
  if (fams.length !== 3 || !fams.every((f) => f !== null && typeof f === "object" && typeof f.malloc === "function"))
    throw new TypeError(`replay: expected a heap (createHeap, attachHeap) with raw, mem and obj families, got ${heap === null || typeof heap !== "object" ? typeName(heap) : "an object without them"}`);
  return fams;
}

export interface ReplayResult {
  /** Wall time of the loop in nanoseconds. */
  ns: number;
  /** Block of each slot after the last event (0 for dead slots is not guaranteed). */
  ptr: Uint32Array;
}

/**
 * Events replayed untimed before the timed runs (the CLI's replay, `npm run bench`): the trace
 * again and again, at least once, until this many. A JIT-compiled allocator (pymalloc's JS, the
 * JS glue around a WebAssembly one) is still compiling its slow paths after a short trace's first
 * replay: re_small (76,000 events) ran at 117-285 ns an event in runs 1-5 of a process, then
 * 19-34 (dlmalloc in WebAssembly called from JS: 121-235, then 33-37). One replay of a short trace
 * measured that warm-up, not the allocator; the first run's time is reported beside (cold). 5
 * million, not 2: the rare slow paths (a new arena: mallocArena, takeSlot, fromTop; 9 ms of
 * compile between them) are compiled after 2.4 million events of the bundled trace, and re_small
 * settles after 1.4-2 million (docs/performance.md, "Warm-up by events").
 */
export const WARMUP_EVENTS = 5_000_000;

/** Untimed runs of a trace of `events` events before the timed ones: enough for `warmup` events, at least 1, at most 1000. */
export function warmupRuns(events: number, warmup: number = WARMUP_EVENTS): number {
  if (!(events > 0)) return 1;
  return Math.min(1000, Math.max(1, Math.ceil(warmup / events)));
}

function outOfMemory(i: number, size: number): never {
  throw new ReplayError(`replay: event ${i} could not get ${size} bytes (out of memory)`);
}

/**
 * What the timed loop writes through, read as `view.u8` at every event: a Heap or ForeignHeap
 * itself (its getter keeps the view current), or an adapter's object for the benchmark's peers.
 */
export interface ReplayView {
  u8: Uint8Array;
}

/** How the loop writes its byte when the allocator is not a byte array (the bench's GC adapter). */
export type Touch = (view: ReplayView, p: number, value: number) => void;

/**
 * The timed reference loop of FORMAT.md over any families indexed by domain (the CLI's heaps,
 * and every allocator of `npm run bench`): decode, call, write one byte (slot & 0xff) at offset 0
 * of every block of size > 0. Stops early, between events, once `deadline` (performance.now()
 * milliseconds, 0: none) has passed. Returns the loop's wall time and the events it ran.
 */
export function replayLoop(
  ev: Uint32Array,
  count: number,
  fams: ArrayLike<Family>,
  view: ReplayView,
  ptr: Uint32Array,
  deadline = 0,
  touch: Touch | null = null,
): { ns: number; events: number } {
  const t0 = process.hrtime.bigint();
  const end = replayEvents(ev, count * 2, fams, view, ptr, deadline, touch);
  return { ns: Number(process.hrtime.bigint() - t0), events: end >>> 1 };
}

/**
 * Where in each 4,096 events (8,192 words) the loop reads the clock (when it has a deadline):
 * not at the first event. V8 allocates a function's feedback vector lazily, a few iterations
 * into the loop, so a branch taken only at i = 0 gathered no feedback, and the loop's on-stack
 * compile (done before event 4,096) deoptimized when it next took it ("insufficient type
 * feedback for compare operation" at `deadline > 0`, in every cold process: recompiled, ~5 ms;
 * docs/performance.md, session 50). At event 64 the vector exists. A const enum, which tsc writes
 * as the number: a module const is a cell V8 loads and checks at every event (imports 326 -> 340
 * instructions an event, session 50; Op in trace.ts says the same).
 */
const enum Deadline {
  AT = 128,
}

/**
 * replayLoop's loop, in a function of its own with nothing after the loop: V8 compiles the loop
 * while it runs (on-stack replacement), before the code after it has ever run, and code with no
 * type feedback deoptimizes when first reached. The clock read after the loop did so at the end
 * of every first and second replay; the loop then ran unoptimized long enough for V8 to compile
 * the view getter (heap.u8) on its own, and a getter with optimized code of its own is no longer
 * inlined as a small function: every event then called it (minidom: 268 against 237
 * instructions an event with a held view). Returns where it stopped in `ev` (2 words an event):
 * not the event count, whose shift would be an operation without feedback after the loop.
 * Nothing runs before the loop either: `n` (two words an event) comes from the caller. The first
 * call's operations before the loop run before V8 has allocated the function's feedback vector
 * (it does so lazily, during the loop), so the function's own optimized code, compiled later for
 * its next calls, deoptimized at its first line ("insufficient type feedback for binary
 * operation" at `count * 2`; docs/performance.md, "Slow processes again").
 */
function replayEvents(ev: Uint32Array, n: number, fams: ArrayLike<Family>, view: ReplayView, ptr: Uint32Array, deadline: number, touch: Touch | null): number {
  let i = 0;
  for (; i < n; i += 2) {
    if ((i & 0x1fff) === Deadline.AT && deadline > 0 && performance.now() > deadline) break;
    const w = ev[i];
    const size = ev[i + 1];
    const f = fams[(w >>> 28) & 3];
    const slot = w & 0x0fffffff;
    const op = w >>> 30;
    let p = 0;
    if (op === Op.MALLOC) p = f.malloc(size);
    else if (op === Op.FREE) {
      f.free(ptr[slot]);
      continue;
    } else if (op === Op.REALLOC) p = f.realloc(ptr[slot], size);
    else p = f.calloc(1, size);
    if (p === 0) outOfMemory(i >>> 1, size);
    ptr[slot] = p;
    if (size > 0) {
      if (touch === null) view.u8[p] = slot & 0xff;
      else touch(view, p, slot & 0xff);
    }
  }
  return i;
}

/**
 * The whole trace through a fresh heap, timed: replayLoop() over the heap's families, writing
 * through `heap.u8` read at every event, as the README teaches (the heap is the loop's view).
 */
export function replayTimed(heap: Heap, t: Trace): ReplayResult {
  checkTrace(t);
  const ptr = new Uint32Array(t.maxSlots);
  const { ns } = replayLoop(t.events, t.count, familiesByDomain(heap), heap, ptr);
  return { ns, ptr };
}

export function replayTo(heap: Heap, t: Trace, upTo: number, onProgress?: (done: number) => void): Uint32Array {
  return replayRange(heap, t, new Uint32Array(t.maxSlots), 0, upTo, onProgress);
}

/** Events [from, upTo) of the trace through the heap, continuing from the blocks in ptr (replayTo's slots). */
export function replayRange(heap: Heap, t: Trace, ptr: Uint32Array, from: number, upTo: number, onProgress?: (done: number) => void): Uint32Array {
  checkTrace(t);
  if (!(ptr instanceof Uint32Array) || ptr.length < t.maxSlots) throw new RangeError(`replayRange: ptr must be a Uint32Array of the trace's ${t.maxSlots} slots`);
  // A NaN ran no event and reported NaN done; an end before the start, likewise nothing.
  if (!Number.isSafeInteger(from) || !(Number.isSafeInteger(upTo) || upTo === Infinity) || from < 0 || upTo < from)
    throw new RangeError(`replayRange: events [${from}, ${upTo}) are not a range of event counts (integers, 0 <= from <= upTo)`);
  const fams = familiesByDomain(heap);
  const ev = t.events;
  const end = Math.min(upTo, t.count);
  for (let i = from; i < end; i++) {
    const w = ev[2 * i];
    const size = ev[2 * i + 1];
    const f = fams[(w >>> 28) & 3];
    const slot = w & 0x0fffffff;
    const op = w >>> 30;
    if (op === Op.FREE) f.free(ptr[slot]);
    else {
      const p = op === Op.MALLOC ? f.malloc(size) : op === Op.REALLOC ? f.realloc(ptr[slot], size) : f.calloc(1, size);
      if (p === 0) outOfMemory(i, size);
      ptr[slot] = p;
    }
    if (onProgress && (i & 0xffff) === 0xffff) onProgress(i + 1);
  }
  onProgress?.(end);
  return ptr;
}

/**
 * Slots live after the last event, with their domain (2 bits) in the top bits, in the order of
 * the events that made them live. Found from the events, not by scanning every slot: a trace
 * whose one slot is 2^28 - 1 filled and scanned 2^28 bytes (3.5 s of a 1-event replay).
 */
export function liveAtEnd(t: Trace): Uint32Array {
  checkTrace(t);
  const dom = new Uint8Array(t.maxSlots); // domain + 1 while live
  const out = new Uint32Array(markLive(t.events, t.count, dom));
  listLive(t.events, dom, out);
  return out;
}

// liveAtEnd's two loops, a function each: a loop compiled on the stack (OSR) leaves the code
// after it without type feedback, and liveAtEnd's `new Uint32Array(n)` after the first loop
// deoptimized it in every CLI replay (session 51). Now nothing after either loop needs any.
function markLive(ev: Uint32Array, count: number, dom: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < count; i++) {
    const w = ev[2 * i];
    const op = w >>> 30;
    if (op === Op.FREE) {
      dom[w & 0x0fffffff] = 0;
      n--;
    } else if (op !== Op.REALLOC) {
      dom[w & 0x0fffffff] = ((w >>> 28) & 3) + 1;
      n++;
    }
  }
  return n;
}

function listLive(ev: Uint32Array, dom: Uint8Array, out: Uint32Array): void {
  for (let i = 0, k = 0; k < out.length; i++) {
    const w = ev[2 * i];
    const slot = w & 0x0fffffff;
    if (w >>> 30 <= Op.CALLOC && dom[slot] !== 0) {
      out[k++] = (((dom[slot] - 1) << 28) | slot) >>> 0;
      dom[slot] = 0;
    }
  }
}

/** Free what a replay left live (untimed). */
export function freeLive(heap: Heap, live: Uint32Array, ptr: Uint32Array): void {
  const fams = familiesByDomain(heap);
  for (let i = 0; i < live.length; i++) fams[live[i] >>> 28].free(ptr[live[i] & 0x0fffffff]);
}

export interface VerifyOptions {
  /** Run heap.check() every this many events (0: only at the end). */
  checkEvery?: number;
  /** Free the blocks still live at the end and check the heap is empty of user blocks. */
  freeAtEnd?: boolean;
}

export interface VerifyResult {
  events: number;
  peakFootprint: number;
  byteLength: number;
}

/**
 * Whether bytes [p, end) of u8 all hold v. A block of 1 KiB or more is compared with itself one
 * byte on (memcmp, native: equal neighbours and a first byte v make every byte v): the byte loop
 * took 6.5 us for a 2 KiB block of a resizable buffer's view, the compare 0.5 us (its two
 * subarrays cost ~1 us, a 256-byte loop: smaller blocks keep the loop). A verified replay of 250
 * MiB live in 2 KiB blocks: 3.5-4.0 s -> 3.1 s (the rest is fill() and first-touch page faults).
 */
function allBytes(u8: Uint8Array, p: number, end: number, v: number): boolean {
  if (end - p < 1024) {
    for (let k = p; k < end; k++) if (u8[k] !== v) return false;
    return true;
  }
  return u8[p] === v && Buffer.compare(u8.subarray(p, end - 1), u8.subarray(p + 1, end)) === 0;
}

/** The first byte of [p, end) that is not v (end if none). */
function firstOther(u8: Uint8Array, p: number, end: number, v: number): number {
  let k = p;
  while (k < end && u8[k] === v) k++;
  return k;
}

/**
 * Replay with content verification: every block is filled with a byte of its own, checked in
 * full before each realloc (up to the smaller size) and free; calloc blocks must read as zero.
 */
export function replayVerify(heap: Heap, t: Trace, opts: VerifyOptions = {}): VerifyResult {
  checkTrace(t);
  const fams = familiesByDomain(heap);
  const ptr = new Uint32Array(t.maxSlots);
  const len = new Uint32Array(t.maxSlots); // sizes are 32-bit (a Float64Array reserved 2 GiB for 2^28 slots)
  const val = new Uint8Array(t.maxSlots);
  const checkEvery = opts.checkEvery ?? 0;
  if (!Number.isSafeInteger(checkEvery) || checkEvery < 0) throw new RangeError(`replayVerify: checkEvery must be a number of events (an integer, 0 or more), got ${checkEvery}`);
  const align = (1 << heap.objectAllocator.alignShift) - 1;
  const ev = t.events;
  const verify = (i: number, slot: number, upTo: number): void => {
    const u8 = heap.u8;
    const p = ptr[slot];
    const v = val[slot];
    const end = p + Math.min(upTo, len[slot]);
    if (!allBytes(u8, p, end, v)) {
      const k = firstOther(u8, p, end, v);
      throw new ReplayError(`replay: event ${i}: block of slot ${slot} at ${hex(p)} changed at +${k - p}: ${u8[k]} instead of ${v}`);
    }
  };
  for (let i = 0; i < t.count; i++) {
    const w = ev[2 * i];
    const size = ev[2 * i + 1];
    const op = w >>> 30;
    const f = fams[(w >>> 28) & 3];
    const slot = w & 0x0fffffff;
    if (op === Op.FREE) {
      verify(i, slot, Infinity);
      f.free(ptr[slot]);
    } else {
      let p: number;
      if (op === Op.REALLOC) {
        verify(i, slot, Infinity);
        p = f.realloc(ptr[slot], size);
        if (p !== 0) {
          ptr[slot] = p;
          verify(i, slot, size);
        }
      } else p = op === Op.CALLOC ? f.calloc(1, size) : f.malloc(size);
      if (p === 0) outOfMemory(i, size);
      if ((p & align) !== 0) throw new ReplayError(`replay: event ${i}: block ${hex(p)} is not ${align + 1}-byte aligned`);
      const u8 = heap.u8;
      if (heap.usableSize(p) < size) throw new ReplayError(`replay: event ${i}: block ${hex(p)} has ${heap.usableSize(p)} usable bytes, asked ${size}`);
      if (op === Op.CALLOC) {
        if (!allBytes(u8, p, p + size, 0)) throw new ReplayError(`replay: event ${i}: calloc block ${hex(p)} not zero at +${firstOther(u8, p, p + size, 0) - p}`);
      }
      ptr[slot] = p;
      len[slot] = size;
      val[slot] = (i * 7 + 1) & 0xff;
      u8.fill(val[slot], p, p + size);
    }
    if (checkEvery > 0 && i % checkEvery === checkEvery - 1) heap.check();
  }
  heap.check();
  const s = heap.stats();
  if (opts.freeAtEnd) {
    const live = liveAtEnd(t);
    for (let j = 0; j < live.length; j++) {
      const slot = live[j] & 0x0fffffff;
      verify(t.count, slot, Infinity);
      fams[live[j] >>> 28].free(ptr[slot]);
    }
    heap.debug?.drainQuarantine();
    heap.check();
    const after = heap.stats();
    if (after.blocksInUse !== 0) throw new ReplayError(`replay: ${after.blocksInUse} blocks still in use after freeing every live slot`);
  }
  return { events: t.count, peakFootprint: s.peakFootprint, byteLength: s.byteLength };
}
