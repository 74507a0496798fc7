/**
 * test/wasm-constify.test.ts — constifyGlobals (what instantiateWithHeap does to a linked module's
 * bytes to compile a heap's numbers into its fast path): since session 53 a body is decoded only
 * when its bytes may hold a `global.get` of one of the globals (a 0x23 byte followed by the
 * LEB128 of one); the others are kept byte for byte without being decoded (QuickJS linked: 34 of
 * 1,051 bodies decoded; with rewriteBody's table, a one-call process 11% fewer instructions). These are the cases that
 * prescan must not get wrong: a padded LEB128 index is still a read; a 0x23 byte in an
 * immediate followed by the index's byte is not, and its body comes out unchanged.
 */
import { describe, expect, it } from "vitest";
import { constifyGlobals } from "../src/compat/wasm-bytes.js";

const section = (id: number, body: number[]) => [id, body.length, ...body]; // bodies < 128 bytes here
const func = (code: number[]) => [code.length + 1, 0, ...code]; // no locals

/** A module with one mutable i32 global (7) and four exported () -> i32 functions. */
function moduleWith(bodies: number[][]): Uint8Array {
  const n = bodies.length;
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 0, 1, 0x7f]), // type 0: () -> i32
    ...section(3, [n, ...bodies.map(() => 0)]),
    ...section(5, [1, 0x00, 1]), // memory 0: 1 page
    ...section(6, [1, 0x7f, 1, 0x41, 7, 0x0b]), // global 0: mut i32 = 7
    ...section(7, [n, ...bodies.flatMap((_, i) => [2, 0x66, 0x30 + i, 0x00, i])]), // "f0".. "f3"
    ...section(10, [n, ...bodies.flatMap((b) => func(b))]),
  ]);
}

describe("constifyGlobals: which bodies it rewrites", () => {
  const bodies = [
    [0x23, 0x00, 0x0b], // f0: global.get 0
    [0x23, 0x80, 0x80, 0x00, 0x0b], // f1: global.get 0, its index a padded LEB128 (3 bytes)
    [0x41, 0x00, 0x28, 0x02, 0x23, 0x0b], // f2: i32.load offset=35 of 0: a 0x23 byte, then 0x0b
    [0x41, 0x00, 0x28, 0x02, 0x23, 0x00, 0x0b], // f3: the same, then unreachable (0x00): 0x23 0x00 read as "global.get 0" by bytes alone
  ];
  const before = moduleWith(bodies);

  it("every global.get of the global becomes its constant, a padded index too; a body whose bytes only look like one is kept as it was", async () => {
    expect(WebAssembly.validate(before)).toBe(true);
    const after = constifyGlobals(before, new Map([[0, 1234]]));
    expect(WebAssembly.validate(after)).toBe(true);
    const x = (await WebAssembly.instantiate(after)).instance.exports as Record<string, () => number>;
    expect(x.f0()).toBe(1234);
    expect(x.f1()).toBe(1234);
    expect(x.f2()).toBe(0);
    expect(() => x.f3()).toThrow(WebAssembly.RuntimeError); // unreachable, as before
    // f2 and f3 byte for byte: the code section ends with their bodies as before.
    const tail = [...func(bodies[2]), ...func(bodies[3])];
    expect(Array.from(after).slice(-tail.length)).toEqual(tail);
    expect(Array.from(before).slice(-tail.length)).toEqual(tail);
  });

  it("a module none of whose bodies reads the globals comes out byte for byte", () => {
    const m = moduleWith([bodies[2], bodies[3], [0x41, 0x05, 0x0b]]);
    expect(Array.from(constifyGlobals(m, new Map([[0, 1234]])))).toEqual(Array.from(m));
    expect(Array.from(constifyGlobals(m, new Map([[3, 99]])))).toEqual(Array.from(m));
  });
});
