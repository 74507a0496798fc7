/**
 * trace/trace.ts — the .pymtrace format (../shared/traces/FORMAT.md): parse, describe, write.
 *
 * Owns: decoding a decompressed trace into a flat Uint32Array of (word, size) pairs, checking
 * its header and invariants, computing its peak live bytes/blocks, and cutting a prefix.
 * Must not: allocate from a heap (replay.ts does) or touch the file system (file.ts does).
 */

import { PymallocError, nameErrorClass, typeName } from "../errors.js";

export const TRACE_MAGIC = "PYMTRACE";
export const TRACE_VERSION = 1;
export const TRACE_HEADER_BYTES = 32;
export const EVENT_BYTES = 8;
/**
 * An event's operation (its word's top 2 bits). A const enum: tsc writes the numbers in place,
 * where an imported const is a module cell V8 loads and checks for TDZ on every use (the replay
 * loop's comparisons cost ~20 instructions an event that way: bundled trace 378 -> 357).
 */
export const enum Op {
  MALLOC = 0,
  CALLOC = 1,
  REALLOC = 2,
  FREE = 3,
}
export const DOMAINS = ["raw", "mem", "obj"] as const;

export class TraceFormatError extends PymallocError {}
nameErrorClass(TraceFormatError, "TraceFormatError");

export interface Trace {
  name: string;
  count: number;
  maxSlots: number;
  /** 2 words per event: w = op << 30 | domain << 28 | slot, then size. */
  events: Uint32Array;
}

/**
 * Check the 32-byte header at the start of `data` (magic, version, flags) and return what it
 * promises: the event count and the decompressed length that follows from it. Reads nothing
 * past the header, so file.ts bounds its reading by the promise before inflating the rest.
 */
export function parseTraceHeader(data: Uint8Array, name = "trace"): { count: bigint; maxSlots: number; bytes: bigint } {
  if (data.length < TRACE_HEADER_BYTES) throw new TraceFormatError(`${name}: ${data.length} bytes is shorter than the 32-byte header`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let magic = "";
  for (let i = 0; i < 8; i++) magic += String.fromCharCode(data[i]);
  if (magic !== TRACE_MAGIC)
    throw new TraceFormatError(
      `${name}: not a pymtrace file (magic ${JSON.stringify(magic)})` + (magic.startsWith("AMYP") ? ": these are a heap's bytes (pymalloc's heap magic), which attachHeap() opens; the CLI reads allocation traces" : ""),
    );
  const version = dv.getUint32(8, true);
  if (version !== TRACE_VERSION) throw new TraceFormatError(`${name}: trace version ${version}, this reader knows ${TRACE_VERSION}`);
  // FORMAT.md: flags is 0 in version 1. A flag is something a reader must understand (the
  // events would mean something else): one this reader does not know was read as if absent.
  const flags = dv.getUint32(12, true);
  if (flags !== 0) throw new TraceFormatError(`${name}: header flags 0x${flags.toString(16)}, this reader knows none (version ${TRACE_VERSION} has flags 0)`);
  const count = dv.getBigUint64(16, true);
  return { count, maxSlots: dv.getUint32(24, true), bytes: BigInt(TRACE_HEADER_BYTES) + BigInt(EVENT_BYTES) * count };
}

/** Decode a decompressed trace. Throws TraceFormatError naming what is wrong. */
export function parseTrace(data: Uint8Array, name = "trace"): Trace {
  if (!(data instanceof Uint8Array)) throw new TypeError(`parseTrace: data must be a Uint8Array (the decompressed trace), got ${typeName(data)}`);
  const { count: count64, maxSlots, bytes: expect } = parseTraceHeader(data, name);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (expect !== BigInt(data.length))
    throw new TraceFormatError(`${name}: header promises ${count64} events (${expect} bytes) but the data has ${data.length} bytes (truncated or corrupt)`);
  const count = Number(count64);
  // Copy into an aligned array (the decompressed buffer may start at any offset).
  const events = new Uint32Array(count * 2);
  new Uint8Array(events.buffer).set(data.subarray(TRACE_HEADER_BYTES));
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
    for (let i = 0; i < events.length; i++) events[i] = dv.getUint32(TRACE_HEADER_BYTES + i * 4, true);
  }
  // FORMAT.md's invariants 3 and 5: max_slots is the largest slot used + 1, slots are below
  // 2^28. A replayer sizes its arrays by it (0xffffffff asked for 32 GB and failed as a
  // RangeError): one over 2^28 is refused, one larger than the events need is taken as what they
  // use (no array bigger than the trace), one smaller is refused (a slot past the arrays).
  const used = slotsUsed(events, count);
  if (maxSlots > 2 ** 28 || used > maxSlots)
    throw new TraceFormatError(
      used === 0
        ? `${name}: header says max_slots ${maxSlots}, but the events use no slot (max_slots is at most 2^28)`
        : `${name}: header says max_slots ${maxSlots}, but the events use slots up to ${used - 1} (max_slots must be that + 1, and at most 2^28)`,
    );
  const t = { name, count, maxSlots: used, events };
  checkedEvents(t);
  return t;
}

/** checkEvents(t), then t's events remembered as checked (checked): outside checkEvents, whose loop must end it. */
function checkedEvents(t: Trace): void {
  checkEvents(t);
  checked.set(t.events, { count: t.count, maxSlots: t.maxSlots });
}

/** Largest slot of the first `count` events + 1. */
function slotsUsed(events: Uint32Array, count: number): number {
  let used = 0;
  for (let i = 0; i < 2 * count; i += 2) {
    const s = (events[i] & 0x0fffffff) + 1;
    if (s > used) used = s;
  }
  return used;
}

/** Traces whose events checkEvents() passed, with the count and maxSlots it passed them for. */
const checked = new WeakMap<Uint32Array, { count: number; maxSlots: number }>();

/**
 * FORMAT.md's invariants over every event (domain 3 unused, a malloc/calloc names a dead slot,
 * a realloc/free a live one of the domain that made it live, a free's size is 0): the replays
 * index the families by domain and the blocks by slot and trust both. parseTrace() checked only
 * the header and the slots' range: a free of a slot never allocated freed address 0 (nothing), a
 * double free was found or not depending on the mode, a malloc into a live slot leaked its block
 * and domain 3 was "Cannot read properties of undefined" (only the CLI's traceStats() refused them).
 */
function checkEvents(t: Trace): void {
  // Each slot's domain + 1, 0 while not live: no fill, so the pages of slots no event uses are
  // never touched (a trace whose one slot is 2^28 - 1 filled 256 MiB).
  const dom = new Uint8Array(t.maxSlots);
  const ev = t.events;
  for (let i = 0; i < t.count; i++) {
    const w = ev[2 * i];
    const op = w >>> 30;
    const d = (w >>> 28) & 3;
    const slot = w & 0x0fffffff;
    if (d === 3) throw new TraceFormatError(`${t.name}: event ${i}: domain 3 (FORMAT.md's domains are 0 raw, 1 mem, 2 obj)`);
    if (slot >= t.maxSlots) throw new TraceFormatError(`${t.name}: event ${i}: slot ${slot} is not below max_slots ${t.maxSlots}`);
    if (op <= Op.CALLOC) {
      if (dom[slot] !== 0) throw new TraceFormatError(`${t.name}: event ${i}: ${op === Op.MALLOC ? "malloc" : "calloc"} into live slot ${slot}`);
      dom[slot] = d + 1;
    } else {
      if (dom[slot] !== d + 1)
        throw new TraceFormatError(`${t.name}: event ${i}: ${op === Op.FREE ? "free" : "realloc"} of slot ${slot} that is not live in domain ${d} (${DOMAINS[d]})${dom[slot] !== 0 ? `: it is live in domain ${dom[slot] - 1} (${DOMAINS[dom[slot] - 1]})` : ""}`);
      if (op === Op.FREE) {
        if (ev[2 * i + 1] !== 0) throw new TraceFormatError(`${t.name}: event ${i}: free of slot ${slot} with size ${ev[2 * i + 1]} (a free's size is always 0)`);
        dom[slot] = 0;
      }
    }
  }
  // Nothing after the loop: its on-stack compile, made before the loop ends, had no type feedback
  // for code after it and deoptimized there in every cold process (checked.set's property loads,
  // now checkedEvents'; session 50).
}

/**
 * Check a Trace before replaying it: its shape (a count of events the array holds, maxSlots
 * above every slot and at most 2^28) and FORMAT.md's invariants (checkEvents). Traces from
 * parseTrace() are known good (one lookup); one made by hand is checked once. TypeError for a
 * value that is no Trace, RangeError for numbers out of range, TraceFormatError for events.
 */
export function checkTrace(t: Trace): void {
  if (t === null || typeof t !== "object") throw new TypeError(`expected a Trace (parseTrace, readTraceFile), got ${typeName(t)}`);
  if (!(t.events instanceof Uint32Array)) throw new TypeError(`trace ${String(t.name)}: events must be a Uint32Array of 2 words an event`);
  const known = checked.get(t.events);
  if (known !== undefined && known.count === t.count && known.maxSlots === t.maxSlots) return;
  if (!Number.isSafeInteger(t.count) || t.count < 0 || 2 * t.count > t.events.length)
    throw new RangeError(`trace ${String(t.name)}: count ${t.count} is not a number of events its array of ${t.events.length} words holds (2 words an event)`);
  if (!Number.isSafeInteger(t.maxSlots) || t.maxSlots < 0 || t.maxSlots > 2 ** 28)
    throw new RangeError(`trace ${String(t.name)}: maxSlots ${t.maxSlots} must be an integer from 0 to 2^28`);
  const used = slotsUsed(t.events, t.count);
  if (used > t.maxSlots) throw new TraceFormatError(`${t.name}: maxSlots ${t.maxSlots}, but the events use slots up to ${used - 1}`);
  checkedEvents(t);
}

export interface TraceStats {
  events: number;
  perOp: number[];
  perDomain: number[];
  peakLiveBytes: number;
  peakLiveBlocks: number;
  /** Number of events after which the live bytes first reach their peak. */
  peakEvent: number;
  liveBlocksAtEnd: number;
}

/**
 * One pass over the trace: checks its invariants (a malloc names a dead slot, realloc/free a
 * live one of the same domain, slots below maxSlots) and measures the peak live bytes.
 */
export function traceStats(t: Trace): TraceStats {
  // checkTrace() has checked the invariants: no state but each live slot's size here (a Uint32Array:
  // sizes are 32-bit; slots nobody uses are pages never touched, where an Int8Array filled with -1
  // and a Float64Array touched 256 MiB and reserved 2 GiB for a trace whose only slot is 2^28 - 1).
  checkTrace(t);
  const size = new Uint32Array(t.maxSlots);
  const perOp = [0, 0, 0, 0];
  const perDomain = [0, 0, 0, 0];
  let live = 0;
  let liveBlocks = 0;
  let peak = 0;
  let peakBlocks = 0;
  let peakEvent = 0;
  const ev = t.events;
  for (let i = 0; i < t.count; i++) {
    const w = ev[2 * i];
    const n = ev[2 * i + 1];
    const op = w >>> 30;
    const slot = w & 0x0fffffff;
    perOp[op]++;
    perDomain[(w >>> 28) & 3]++;
    if (op <= Op.CALLOC) {
      size[slot] = n;
      live += n;
      liveBlocks++;
    } else {
      live -= size[slot];
      if (op === Op.FREE) liveBlocks--;
      else {
        size[slot] = n;
        live += n;
      }
    }
    if (live > peak) {
      peak = live;
      peakEvent = i + 1;
    }
    if (liveBlocks > peakBlocks) peakBlocks = liveBlocks;
  }
  return { events: t.count, perOp, perDomain, peakLiveBytes: peak, peakLiveBlocks: peakBlocks, peakEvent, liveBlocksAtEnd: liveBlocks };
}

/** The decompressed bytes of a trace of the first `count` events of t (maxSlots recomputed). */
export function encodeTrace(t: Trace, count = t.count): Uint8Array {
  // A count past the trace wrote zero words as events (malloc of 0 bytes into slot 0), and a
  // NaN (cut-trace.mjs without its N) failed in DataView with "Offset is outside the bounds".
  checkTrace(t);
  if (!Number.isSafeInteger(count) || count < 0 || count > t.count)
    throw new RangeError(`encodeTrace: count must be an integer from 0 to the trace's ${t.count} events, got ${count}`);
  let maxSlots = 0;
  for (let i = 0; i < count; i++) maxSlots = Math.max(maxSlots, (t.events[2 * i] & 0x0fffffff) + 1);
  const out = new Uint8Array(TRACE_HEADER_BYTES + EVENT_BYTES * count);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = TRACE_MAGIC.charCodeAt(i);
  dv.setUint32(8, TRACE_VERSION, true);
  dv.setBigUint64(16, BigInt(count), true);
  dv.setUint32(24, maxSlots, true);
  for (let i = 0; i < 2 * count; i++) dv.setUint32(TRACE_HEADER_BYTES + 4 * i, t.events[i], true);
  return out;
}
