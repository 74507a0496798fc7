// The debug hooks' word-wide byte loops (src/debug/bytes.ts) against a byte-at-a-time model:
// every alignment of both ends, every fill byte kind (ordinary, zero, NaN patterns), bytes
// outside the range untouched, and the first differing byte found wherever it is. The fast
// paths (ranges from a multiple of 8: doubles, then a ragged end) against the same model.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fillDoubles } from "../src/memory/fill.js";
import { allDoubles, endIs, fillEnd, fillRange, firstMismatch, isFilled, repeatedDouble, repeatedWord } from "../src/debug/bytes.js";

const SIZE = 256;
const views = (shared: boolean) => {
  const buf = shared ? new SharedArrayBuffer(SIZE) : new ArrayBuffer(SIZE);
  return { u8: new Uint8Array(buf), u32: new Uint32Array(buf), f64: new Float64Array(buf) };
};
// 0xfd, 0xdd, 0xcd: the hooks' bytes; 0x00 and 0x80: -0.0 and +0.0; 0xff and 0x7f: NaN patterns.
const fillByte = fc.constantFrom(0xfd, 0xdd, 0xcd, 0x00, 0x80, 0xff, 0x7f, 0x01);
const range = fc.tuple(fc.integer({ min: 0, max: SIZE }), fc.integer({ min: 0, max: SIZE })).map(([a, b]) => (a <= b ? [a, b] : [b, a]));

describe("debug byte loops", () => {
  it("fillRange writes exactly [from, to) with the byte, in shared and unshared memory", () => {
    fc.assert(
      fc.property(range, fillByte, fc.boolean(), fc.integer({ min: 0, max: 255 }), ([from, to], byte, shared, bg) => {
        const v = views(shared);
        v.u8.fill(bg);
        fillRange(v.u8, v.u32, v.f64, from, to, byte);
        let wrong = -1;
        for (let a = 0; a < SIZE && wrong < 0; a++) if (v.u8[a] !== (a >= from && a < to ? byte : bg)) wrong = a;
        expect(wrong).toBe(-1);
      }),
      { numRuns: 2000 },
    );
  });

  it("isFilled and firstMismatch find a differing byte, whatever lies outside the range", () => {
    fc.assert(
      fc.property(range, fillByte, fc.array(fc.tuple(fc.nat(SIZE - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), ([from, to], byte, damage) => {
        const v = views(false);
        v.u8.fill(byte ^ 0x55); // everything outside the range differs
        v.u8.fill(byte, from, to);
        for (const [at, value] of damage) v.u8[at] = value;
        let expected = -1;
        for (let a = from; a < to; a++) {
          if (v.u8[a] !== byte) {
            expected = a;
            break;
          }
        }
        expect(firstMismatch(v.u8, from, to, byte)).toBe(expected);
        expect(isFilled(v.u8, v.u32, v.f64, from, to, byte)).toBe(expected < 0);
      }),
      { numRuns: 3000 },
    );
  });

  // The hooks' bytes only: the fast paths take patterns that are doubles neither NaN nor zero.
  const hookByte = fc.constantFrom(0xfd, 0xdd, 0xcd);
  const from8 = fc.tuple(fc.integer({ min: 0, max: SIZE / 8 }), fc.integer({ min: 0, max: SIZE })).map(([i, b]) => [8 * i, Math.max(8 * i, b)]);

  it("fillDoubles + fillEnd write exactly [from, to) from a multiple of 8", () => {
    fc.assert(
      fc.property(from8, hookByte, fc.boolean(), fc.integer({ min: 0, max: 255 }), ([from, to], byte, shared, bg) => {
        const v = views(shared);
        v.u8.fill(bg);
        fillDoubles(v.f64, from >>> 3, to >>> 3, repeatedDouble(byte));
        if ((to & 7) !== 0) fillEnd(v.u8, v.u32, to, byte, repeatedWord(byte) | 0);
        let wrong = -1;
        for (let a = 0; a < SIZE && wrong < 0; a++) if (v.u8[a] !== (a >= from && a < to ? byte : bg)) wrong = a;
        expect(wrong).toBe(-1);
      }),
      { numRuns: 2000 },
    );
  });

  it("allDoubles + endIs find any differing byte in [from, to) from a multiple of 8", () => {
    fc.assert(
      fc.property(from8, hookByte, fc.array(fc.tuple(fc.nat(SIZE - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), ([from, to], byte, damage) => {
        const v = views(false);
        v.u8.fill(byte ^ 0x55);
        v.u8.fill(byte, from, to);
        for (const [at, value] of damage) v.u8[at] = value;
        const w = repeatedWord(byte) | 0;
        const all = allDoubles(v.f64, from >>> 3, to >>> 3, repeatedDouble(byte)) && ((to & 7) === 0 || endIs(v.u8, v.u32, to, byte, w));
        expect(all).toBe(firstMismatch(v.u8, from, to, byte) < 0);
      }),
      { numRuns: 3000 },
    );
  });

  it("ranges past 2 GiB, where addresses no longer fit an int32 (memories reach 4 GiB)", () => {
    const base = 2 ** 31;
    const buf = new ArrayBuffer(base + 4096); // untouched pages cost no memory
    const v = { u8: new Uint8Array(buf), u32: new Uint32Array(buf), f64: new Float64Array(buf) };
    for (const [from, to] of [[base + 5, base + 77], [base - 3, base + 61], [base + 8, base + 1000]]) {
      fillRange(v.u8, v.u32, v.f64, from, to, 0xdd);
      expect([v.u8[from - 1], v.u8[from], v.u8[to - 1], v.u8[to]]).toEqual([0, 0xdd, 0xdd, 0]);
      expect(isFilled(v.u8, v.u32, v.f64, from, to, 0xdd)).toBe(true);
      v.u8[to - 2] = 1;
      expect(isFilled(v.u8, v.u32, v.f64, from, to, 0xdd)).toBe(false);
      v.u8.fill(0, from, to);
    }
  });

  it("a zero pattern is not fooled by a word that reads as -0.0", () => {
    const v = views(false);
    v.u8.fill(0, 0, 64);
    v.u8[15] = 0x80; // bytes 8..15 now hold the double -0.0, equal to +0.0 in a compare
    expect(isFilled(v.u8, v.u32, v.f64, 0, 64, 0)).toBe(false);
  });
});
