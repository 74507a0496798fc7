// Typed views of blocks: family.mallocAs/callocAs/reallocAs/freeAs/viewAt in every mode, family
// and memory kind, on foreign heaps and locked (threads + debug) families; what a held view does
// when the memory grows.
import { describe, expect, it } from "vitest";
import { MemPool } from "@thi.ng/malloc";
import { createHeap, fromFunctions, fromMemPool, InvalidPointerError, MemoryCorruptionError, type Heap } from "../src/index.js";

const modes = ["pymalloc", "malloc", "debug", "malloc_debug"] as const;
const families = ["raw", "mem", "obj"] as const;
const TYPES = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];

describe.each(modes)("typed views in %s mode", (allocator) => {
  it.each(families)("%s: mallocAs/callocAs/reallocAs/freeAs keep type, length, contents and alignment", (fam) => {
    for (const alignment of [8, 16] as const) {
      const heap = createHeap({ allocator, alignment });
      const f = heap[fam];
      for (const T of TYPES) {
        for (const n of [0, 1, 3, 7, 64, 200]) {
          const v = f.mallocAs(T, n)!;
          expect(v).toBeInstanceOf(T);
          expect(v.length).toBe(n);
          expect(v.buffer === heap.buffer).toBe(true);
          expect(v.byteOffset % Math.max(T.BYTES_PER_ELEMENT, 8)).toBe(0);
          expect(heap.usableSize(v.byteOffset)).toBeGreaterThanOrEqual(n * T.BYTES_PER_ELEMENT);
          heap.u8.fill(0xab, v.byteOffset, v.byteOffset + v.byteLength); // visible through the heap's views and back
          if (n > 0) expect(v[0]).toBe(new T(new Uint8Array(T.BYTES_PER_ELEMENT).fill(0xab).buffer)[0]);
          f.freeAs(v);
          // calloc: zeroed, even where the block was dirty
          const z = f.callocAs(T, n)!;
          expect(z).toBeInstanceOf(T);
          expect(z.length).toBe(n);
          expect([...z].every((x) => x === 0 || x === 0n)).toBe(true);
          f.freeAs(z);
        }
      }
      // realloc keeps the elements both sizes hold, and the type
      const a = f.mallocAs(Float64Array, 5)!;
      a.set([1.5, 2.5, 3.5, 4.5, 5.5]);
      const b = f.reallocAs(a, 300)!;
      expect(b).toBeInstanceOf(Float64Array);
      expect(b.length).toBe(300);
      expect([...b.subarray(0, 5)]).toEqual([1.5, 2.5, 3.5, 4.5, 5.5]);
      const c = f.reallocAs(b, 2)!;
      expect([...c]).toEqual([1.5, 2.5]);
      const big = f.mallocAs(BigInt64Array, 3)!;
      big[2] = -(2n ** 62n);
      expect(heap.dv.getBigInt64(big.byteOffset + 16, true)).toBe(-(2n ** 62n));
      f.freeAs(big);
      f.freeAs(c);
      heap.check();
      heap.drainQuarantine(); // debug modes hold freed blocks back for a while
      expect(heap.stats().blocksInUse).toBe(0);
    }
  });

  it("bad arguments are typed errors; impossible lengths give undefined; a failed reallocAs keeps the block", () => {
    const heap = createHeap({ allocator, maxBytes: 8 << 20 });
    const f = heap.mem;
    expect(() => f.mallocAs(Array as never, 4)).toThrow(TypeError);
    expect(() => f.mallocAs(DataView as never, 4)).toThrow(TypeError);
    expect(() => f.mallocAs("f64" as never, 4)).toThrow(TypeError);
    expect(() => f.mallocAs(Float64Array, -1)).toThrow(RangeError);
    expect(() => f.callocAs(Float64Array, 1.5)).toThrow(RangeError);
    expect(() => f.mallocAs(Float64Array, "4" as never)).toThrow(TypeError);
    expect(f.mallocAs(Float64Array, 2 ** 30)).toBeUndefined(); // 8 GiB
    expect(f.mallocAs(Float64Array, 2 ** 21)).toBeUndefined(); // 16 MiB > maxBytes
    expect(f.callocAs(Float64Array, 2 ** 21)).toBeUndefined();
    const v = f.mallocAs(Float64Array, 4)!;
    v.set([1, 2, 3, 4]);
    expect(f.reallocAs(v, 2 ** 21)).toBeUndefined();
    expect([...v]).toEqual([1, 2, 3, 4]); // still live, still holding its elements
    expect(() => f.freeAs(new Float64Array(4))).toThrow(TypeError); // another buffer
    expect(() => f.freeAs(new DataView(heap.buffer, v.byteOffset, 8) as never)).toThrow(TypeError);
    expect(() => f.freeAs(v.byteOffset as never)).toThrow(TypeError);
    expect(() => f.freeAs(new Uint8Array(heap.buffer, 0, 4))).toThrow(InvalidPointerError); // byte 0 is NULL
    expect(() => f.freeAs(v.subarray(1))).toThrow(allocator.includes("debug") ? MemoryCorruptionError : InvalidPointerError); // not a block start
    expect(() => f.viewAt(Float64Array, v.byteOffset + 4, 1)).toThrow(InvalidPointerError); // misaligned for the type
    expect(() => f.viewAt(Float64Array, heap.memory.byteLength - 8, 2)).toThrow(InvalidPointerError); // past the end
    expect(() => f.viewAt(Float64Array, -8, 1)).toThrow(InvalidPointerError);
    expect([...f.viewAt(Float64Array, v.byteOffset, 4)]).toEqual([1, 2, 3, 4]);
    f.freeAs(v);
    if (allocator.includes("debug")) expect(() => f.freeAs(v)).toThrow(MemoryCorruptionError); // double free, found
    heap.check();
  });
});

/** A view of 4 doubles made, then the memory grown under it; returns the view. */
function grownWithView(heap: Heap): { v: Float64Array } {
  const v = heap.mem.mallocAs(Float64Array, 4)!;
  v.set([1, 2, 3, 4]);
  const before = heap.memory.byteLength;
  const big = heap.raw.mallocAs(Uint8Array, before * 2); // more than the memory has: it must grow
  expect(big).toBeDefined();
  expect(heap.memory.byteLength).toBeGreaterThan(before);
  heap.raw.freeAs(big!);
  return { v };
}

describe("a held view when the memory grows", () => {
  it.each(["growable-shared", "resizable"] as const)("%s: the view stays valid and sees the same bytes", (memoryKind) => {
    const heap = createHeap({ memoryKind, initialBytes: 1 << 16 });
    const { v } = grownWithView(heap);
    expect(v.length).toBe(4);
    expect([...v]).toEqual([1, 2, 3, 4]);
    v[3] = 40;
    expect(heap.f64[(v.byteOffset >>> 3) + 3]).toBe(40);
    expect([...heap.mem.reallocAs(v, 8)!.subarray(0, 4)]).toEqual([1, 2, 3, 40]);
    heap.check();
  });

  it("a shared WebAssembly.Memory: the view (over the SharedArrayBuffer before the growth) stays valid; freeAs takes it", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1024, shared: true });
    const heap = createHeap({ memory });
    const { v } = grownWithView(heap);
    expect(v.buffer === heap.buffer).toBe(false); // the memory hands out a new SharedArrayBuffer
    expect([...v]).toEqual([1, 2, 3, 4]);
    v[0] = 10;
    expect(heap.f64[v.byteOffset >>> 3]).toBe(10);
    heap.mem.freeAs(v);
    heap.check();
    heap.drainQuarantine();
    expect(heap.stats().blocksInUse).toBe(0);
  });

  it("a WebAssembly.Memory: the view is detached; freeAs says so; viewAt(type, address, length) gives a current view", () => {
    const heap = createHeap({ memoryKind: "wasm", initialBytes: 1 << 16 });
    const v = heap.mem.mallocAs(Float64Array, 4)!;
    v.set([1, 2, 3, 4]);
    const p = v.byteOffset; // keep the address: a detached view forgets it
    const big = heap.raw.malloc(heap.memory.byteLength * 2);
    expect(big).not.toBe(0);
    expect(v.length).toBe(0); // detached
    expect(v.byteOffset).toBe(0);
    expect(() => heap.mem.freeAs(v)).toThrow(/detached/);
    expect(() => heap.mem.reallocAs(v, 8)).toThrow(/detached/);
    const again = heap.mem.viewAt(Float64Array, p, 4);
    expect([...again]).toEqual([1, 2, 3, 4]);
    expect(again.buffer === heap.buffer).toBe(true);
    heap.mem.freeAs(again);
    heap.raw.free(big);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });

  it("a fixed buffer never grows: mallocAs past its end gives undefined, held views stay valid", () => {
    const heap = createHeap({ memory: new ArrayBuffer(1 << 18) });
    const v = heap.mem.mallocAs(Float64Array, 4)!;
    v.set([1, 2, 3, 4]);
    expect(heap.raw.mallocAs(Uint8Array, 1 << 18)).toBeUndefined();
    expect([...v]).toEqual([1, 2, 3, 4]);
    heap.mem.freeAs(v);
    heap.check();
  });
});

describe("typed views on other families", () => {
  it("threads: true in debug mode (locked families)", () => {
    const heap = createHeap({ allocator: "debug", threads: true });
    const v = heap.obj.callocAs(Int32Array, 10)!;
    expect([...v]).toEqual(new Array(10).fill(0));
    v[9] = 7;
    const w = heap.obj.reallocAs(v, 1000)!;
    expect(w[9]).toBe(7);
    expect(() => heap.mem.freeAs(w)).toThrow(MemoryCorruptionError); // another family: api-mismatch, as free would
    heap.obj.freeAs(w);
    heap.check();
  });

  it("a foreign heap over @thi.ng/malloc, release and debug", () => {
    for (const allocator of ["malloc", "debug"] as const) {
      const h = fromMemPool(new MemPool({ size: 1 << 20 }), { allocator });
      const v = h.mem.mallocAs(BigUint64Array, 5)!;
      expect(v.byteOffset % 8).toBe(0);
      v[4] = 2n ** 64n - 1n;
      const w = h.mem.reallocAs(v, 50)!;
      expect(w[4]).toBe(2n ** 64n - 1n);
      h.mem.freeAs(w);
      h.check();
    }
  });

  it("a foreign allocator that aligns to 4: 8-byte element types are refused with a RangeError, others served", () => {
    let top = 4;
    const memory = new ArrayBuffer(1 << 16);
    const h = fromFunctions({ malloc: (n) => ((top += (n + 3) & ~3), top - ((n + 3) & ~3)), free: () => {}, memory, alignment: 4 });
    expect(() => h.mem.mallocAs(Float64Array, 2)).toThrow(RangeError);
    expect(() => h.mem.callocAs(BigInt64Array, 2)).toThrow(RangeError);
    const v = h.mem.mallocAs(Float32Array, 3)!;
    expect(v.length).toBe(3);
    h.mem.freeAs(v);
  });
});
