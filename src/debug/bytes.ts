/**
 * debug/bytes.ts — filling and checking byte ranges 8 bytes at a time.
 *
 * Owns: the two loops the debug hooks run on every block (fill with a byte, find the first byte
 * that differs from one), done bytewise at the ragged ends and through a Float64Array in between
 * (the fill patterns 0x00, 0xCD, 0xDD, 0xFD repeated are ordinary doubles, never NaN, so they
 * store and compare bit-exactly); long fills go to the fill() builtin, unless the memory is shared.
 * Must not: know about block layouts.
 */

import { isSharedView } from "../memory/memory.js";

/** fill() has a call cost that only long ranges repay (and in shared memory, none do: isSharedView). */
const BUILTIN_FILL_MIN = 512;

/** PATTERNS[b]: the double whose 8 bytes are all b (a NaN for the bytes that make one). */
const PATTERNS = new Float64Array(new Uint8Array(256 * 8).map((_, i) => i >>> 3).buffer);

/** The double whose 8 bytes are all `byte` (a table load: this runs several times per block). */
function pattern(byte: number): number {
  const d = PATTERNS[byte];
  if (d !== d) throw new RangeError(`byte 0x${byte.toString(16)} repeated is a NaN pattern`);
  return d;
}

export function fillRange(u8: Uint8Array, f64: Float64Array, from: number, to: number, byte: number): void {
  if (to - from >= BUILTIN_FILL_MIN && !isSharedView(u8)) {
    u8.fill(byte, from, to);
    return;
  }
  let a = from;
  while (a < to && (a & 7) !== 0) u8[a++] = byte;
  const d = pattern(byte);
  const wEnd = to - (to & 7);
  for (; a < wEnd; a += 8) f64[a >>> 3] = d;
  while (a < to) u8[a++] = byte;
}

/** Index of the first byte in [from, to) that is not `byte`, or -1. */
export function firstMismatch(u8: Uint8Array, f64: Float64Array, from: number, to: number, byte: number): number {
  let a = from;
  while (a < to && (a & 7) !== 0) {
    if (u8[a] !== byte) return a;
    a++;
  }
  const d = pattern(byte);
  const wEnd = to - (to & 7);
  for (; a < wEnd; a += 8) {
    if (f64[a >>> 3] !== d) {
      for (let k = a; k < a + 8; k++) if (u8[k] !== byte) return k;
    }
  }
  for (; a < to; a++) if (u8[a] !== byte) return a;
  return -1;
}
