/**
 * debug/bytes.ts — filling and checking byte ranges a word at a time.
 *
 * Owns: the two loops the debug hooks run on every block (fill with a byte, find the first byte
 * that differs from one). A range's ragged ends are done as masked 32-bit words (read, merge,
 * write; or xor and mask), the middle 8 bytes at a time through a Float64Array: the fill
 * patterns 0xCD, 0xDD, 0xFD repeated are ordinary doubles, never NaN nor zero, so they store and
 * compare bit-exactly. A byte whose pattern is a NaN (stores may canonicalise it) or a zero (in a
 * compare, -0.0 equals 0.0) goes through the Uint32Array instead. Long fills of unshared memory
 * go to fill().
 * Must not: know about block layouts. Every word it touches lies inside [from & ~3, to + 3 & ~3):
 * a masked word's other bytes are the caller's own (the debug hooks only pass ranges inside one
 * block, whose start is 8-aligned), and are written back unchanged.
 * Byte order: little-endian (the typed arrays' order on every platform JS engines run on;
 * checked when this module loads).
 */

import { fillDoubles } from "../memory/fill.js";
import { isSharedView } from "../memory/memory.js";

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error("pymalloc's debug hooks need a little-endian platform");

/** fill() has a call cost that only long ranges repay (and in shared memory, none do: isSharedView). */
export const BUILTIN_FILL_MIN = 512;

/** F64_PATTERN[b]: the double whose 8 bytes are all b (a NaN or a zero for some b: see above). */
const F64_PATTERN = new Float64Array(new Uint8Array(256 * 8).map((_, i) => i >>> 3).buffer);

/** The 32-bit word whose 4 bytes are all `byte` (unsigned, as a Uint32Array reads it). */
export const repeatedWord = (byte: number): number => (byte * 0x01010101) >>> 0;

/** The double whose 8 bytes are all `byte` (check it is not a NaN before storing it). */
export const repeatedDouble = (byte: number): number => F64_PATTERN[byte];

/** Mask of the bytes of a word that lie below byte k (0..3) of it: little-endian. */
export const below = (k: number): number => (1 << (k << 3)) - 1;

// The hooks' fast paths, for ranges that start at a multiple of 8: a double a store
// (fillDoubles, in memory/fill.ts; calloc has stores of its own) or compare (allDoubles), and the rare
// ragged end (when the block below ends off a multiple of 8) out of line. They are kept small:
// V8 inlines them into the hooks only while the hooks' inlining budget lasts, and a call that is
// not inlined costs more than the few doubles of a typical block.

/** Whether doubles i..e-1 of f64 all are d: a repeatedDouble() neither NaN nor zero (indexes stepped `| 0`: see fillDoubles). */
export function allDoubles(f64: Float64Array, i: number, e: number, d: number): boolean {
  for (; i + 4 <= e; i = (i + 4) | 0) if (f64[i] !== d || f64[(i + 1) | 0] !== d || f64[(i + 2) | 0] !== d || f64[(i + 3) | 0] !== d) return false;
  for (; i < e; i = (i + 1) | 0) if (f64[i] !== d) return false;
  return true;
}

/** Set the last (to & 7) bytes before `to` to `byte` (w: the byte as a repeatedWord()). */
export function fillEnd(u8: Uint8Array, u32: Uint32Array, to: number, byte: number, w: number): void {
  let a = to - (to & 7);
  if ((to & 4) !== 0) {
    u32[a >>> 2] = w;
    a += 4;
  }
  for (; a < to; a++) u8[a] = byte;
}

/** Whether the last (to & 7) bytes before `to` all are `byte` (w: the byte as a repeatedWord()). */
export function endIs(u8: Uint8Array, u32: Uint32Array, to: number, byte: number, w: number): boolean {
  let a = to - (to & 7);
  if ((to & 4) !== 0) {
    if (u32[a >>> 2] !== w >>> 0) return false;
    a += 4;
  }
  for (; a < to; a++) if (u8[a] !== byte) return false;
  return true;
}

export function fillRange(u8: Uint8Array, u32: Uint32Array, f64: Float64Array, from: number, to: number, byte: number): void {
  if (to - from < 8) {
    for (let a = from; a < to; a++) u8[a] = byte;
    return;
  }
  if (to - from >= BUILTIN_FILL_MIN && !isSharedView(u8)) {
    u8.fill(byte, from, to);
    return;
  }
  const w = repeatedWord(byte);
  let a = from;
  if ((a & 3) !== 0) {
    const i = a >>> 2;
    const keep = below(a & 3);
    u32[i] = (u32[i] & keep) | (w & ~keep);
    a += 4 - (a & 3); // not & ~3: addresses reach 2^32, past int32
  }
  if ((a & 4) !== 0) {
    u32[a >>> 2] = w;
    a += 4;
  }
  const d = F64_PATTERN[byte];
  const wEnd = to - (to & 7);
  if (d === d) {
    fillDoubles(f64, a >>> 3, wEnd >>> 3, d);
    a = wEnd;
  } else for (; a < wEnd; a += 4) u32[a >>> 2] = w; // a NaN may not be stored bit-exactly
  if (to - a >= 4) {
    u32[a >>> 2] = w;
    a += 4;
  }
  if (a < to) {
    const i = a >>> 2;
    const put = below(to & 3);
    u32[i] = (u32[i] & ~put) | (w & put);
  }
}

/** Whether every byte in [from, to) is `byte` (the hooks' fast check; firstMismatch() says where not). */
export function isFilled(u8: Uint8Array, u32: Uint32Array, f64: Float64Array, from: number, to: number, byte: number): boolean {
  if (to - from < 8) {
    for (let a = from; a < to; a++) if (u8[a] !== byte) return false;
    return true;
  }
  const w = repeatedWord(byte);
  let a = from;
  let diff = 0;
  if ((a & 3) !== 0) {
    diff = (u32[a >>> 2] ^ w) & ~below(a & 3);
    a += 4 - (a & 3); // not & ~3: addresses reach 2^32, past int32
  }
  if ((a & 4) !== 0) {
    diff |= u32[a >>> 2] ^ w;
    a += 4;
  }
  const d = F64_PATTERN[byte];
  const wEnd = to - (to & 7);
  if (d === d && d !== 0) {
    if (!allDoubles(f64, a >>> 3, wEnd >>> 3, d)) return false;
    a = wEnd;
  } else {
    for (; a < wEnd; a += 4) diff |= u32[a >>> 2] ^ w;
  }
  if (to - a >= 4) {
    diff |= u32[a >>> 2] ^ w;
    a += 4;
  }
  if (a < to) diff |= (u32[a >>> 2] ^ w) & below(to & 3);
  return diff === 0;
}

/** Index of the first byte in [from, to) that is not `byte`, or -1 (a byte loop: for reports). */
export function firstMismatch(u8: Uint8Array, from: number, to: number, byte: number): number {
  for (let a = from; a < to; a++) if (u8[a] !== byte) return a;
  return -1;
}
