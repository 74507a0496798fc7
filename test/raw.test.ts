import { describe, expect, it } from "vitest";
import { createHeap, InvalidPointerError, PymallocError, constants as C } from "../src/index.js";

const heapFor = () => createHeap({ allocator: "malloc" });

describe("raw allocator (TLSF)", () => {
  it("hands out 16-byte aligned, non-overlapping blocks with at most 8 bytes of header", () => {
    const h = heapFor();
    const sizes = [0, 1, 12, 13, 28, 100, 511, 512, 513, 4096, 100000];
    const ps = sizes.map((n) => h.raw.malloc(n));
    for (const [i, p] of ps.entries()) {
      expect(p % 16).toBe(0);
      expect(h.usableSize(p)).toBeGreaterThanOrEqual(sizes[i]);
      expect(h.usableSize(p)).toBeLessThan(Math.max(sizes[i], 12) + 16); // chunk = n + 4 rounded to 16
    }
    // Consecutive blocks from the top: the distance is the chunk, payload + at most 8 bytes overhead
    const a = h.raw.malloc(48);
    const b = h.raw.malloc(48);
    expect(b - a).toBe(64); // 48 + 4 header bytes, rounded to 16
    h.check();
  });

  it("merges free neighbours at once, in both directions", () => {
    const h = heapFor();
    const guard0 = h.raw.malloc(100);
    const a = h.raw.malloc(1000);
    const b = h.raw.malloc(1000);
    const c = h.raw.malloc(1000);
    const guard = h.raw.malloc(100);
    h.raw.free(a);
    h.raw.free(c);
    expect(h.stats().raw.freeBlocks).toBe(2);
    h.raw.free(b); // joins a and c into one
    const s = h.stats();
    expect(s.raw.freeBlocks).toBe(1);
    expect(s.raw.largestFree).toBe(3 * 1008);
    h.check();
    // The merged hole serves a request of the combined size without growing the top.
    const top = h.stats().footprint;
    const big = h.raw.malloc(3000);
    expect(big).toBe(a);
    expect(h.stats().footprint).toBe(top);
    h.raw.free(big);
    h.raw.free(guard);
    h.raw.free(guard0);
    h.check();
    expect(h.stats().raw.freeBlocks).toBe(0); // everything went back into the top chunk
    expect(h.stats().footprint).toBe(h.stats().headerBytes + 16); // header + first chunk header
  });

  it("reuses a fitting hole before raising the top (good fit)", () => {
    const h = heapFor();
    const a = h.raw.malloc(5000);
    h.raw.malloc(16);
    const fp = h.stats().footprint;
    h.raw.free(a);
    const b = h.raw.malloc(4000);
    expect(b).toBe(a);
    expect(h.stats().footprint).toBe(fp);
    h.check();
  });

  it("realloc grows in place into a free neighbour or the top, and moves otherwise, keeping contents", () => {
    const h = heapFor();
    const a0 = h.raw.malloc(100);
    h.u8.fill(0xab, a0, a0 + 100);
    const a = h.raw.realloc(a0, 5000);
    expect(a).toBe(a0); // a is next to the top
    const b = h.raw.malloc(100);
    const c = h.raw.malloc(100);
    h.raw.malloc(16); // keeps c away from the top
    h.raw.free(c);
    expect(h.raw.realloc(b, 200)).toBe(b); // grows into free c
    h.u8.fill(0xcd, b, b + 200);
    const moved = h.raw.realloc(b, 100000);
    expect(moved).not.toBe(b);
    for (let k = 0; k < 200; k++) expect(h.u8[moved + k]).toBe(0xcd);
    for (let k = 0; k < 100; k++) expect(h.u8[a + k]).toBe(0xab);
    expect(h.raw.realloc(moved, 10)).toBe(moved); // shrink in place
    h.check();
  });

  it("aligned chunks for arenas are pool-aligned after their header, and the lead-in is reusable", () => {
    const h = createHeap();
    h.raw.malloc(3000);
    const p = h.obj.malloc(8); // forces the first arena
    const pool = p - (p % (1 << C.DEFAULT_POOL_SHIFT));
    expect(p - pool).toBe(C.Pool.OVERHEAD);
    h.check();
  });

  it("a raw block freed twice after the heap shrank below it is reported as possibly freed already", () => {
    const h = heapFor();
    const p = h.raw.malloc(200);
    h.raw.free(p); // the last chunk: the top comes down past p
    expect(() => h.raw.free(p)).toThrow(/freed already .*double free/);
    h.check();
  });

  it.each([
    ["misaligned", (p: number) => p + 4, /not 16-byte aligned/],
    ["interior", (p: number) => p + 32, /no (block header|consistent block)/],
    ["out of range", (_p: number) => 1 << 30, /past the heap's top/],
    ["the header region", (_p: number) => 64, /below the heap's blocks/],
  ])("free of a %s pointer throws InvalidPointerError and changes nothing", (_n, bad, msg) => {
    const h = heapFor();
    const p = h.raw.malloc(200);
    h.raw.malloc(200);
    const before = h.u8.slice(0, h.stats().footprint);
    expect(() => h.raw.free(bad(p))).toThrow(InvalidPointerError);
    expect(() => h.raw.free(bad(p))).toThrow(msg);
    expect(Buffer.compare(h.u8.slice(0, h.stats().footprint), before)).toBe(0);
    h.check();
  });

  it("double free and realloc after free are caught", () => {
    const h = heapFor();
    const p = h.raw.malloc(200);
    h.raw.malloc(10);
    h.raw.free(p);
    expect(() => h.raw.free(p)).toThrow(/already free/);
    expect(() => h.raw.realloc(p, 10)).toThrow(/already free/);
    h.check();
  });

  it.each(["malloc", "pymalloc"] as const)("%s: a size word given a small number by an underflow is refused, never freed or grown over live blocks (Chunk.SIZE_KEY)", (allocator) => {
    const h = createHeap({ allocator });
    const ps = Array.from({ length: 40 }, (_, i) => h.raw.malloc(allocator === "malloc" ? 8 + ((i * 37) % 600) : 513 + ((i * 97) % 3000)));
    for (let i = 0; i < ps.length; i += 3) h.raw.free(ps[i]);
    const live = ps.filter((_, i) => i % 3 !== 0);
    for (const p of live) {
      for (const v of [0, 1, 4, 16, 63, 200]) {
        // An underflow of 3 bytes holding v (little-endian: v, 0, 0) over the size word's bytes 1-3.
        const saved = h.u8.slice(p - 3, p);
        h.u8.set([v, 0, 0], p - 3);
        expect(() => h.raw.free(p)).toThrow(PymallocError);
        expect(() => h.raw.realloc(p, 100)).toThrow(PymallocError);
        expect(() => h.usableSize(p)).toThrow(PymallocError);
        h.u8.set(saved, p - 3);
      }
    }
    h.check();
    for (const p of live) h.raw.free(p);
    h.check();
  });

  it("a raw free of an object-allocator block is refused", () => {
    const h = createHeap();
    const p = h.obj.malloc(32);
    expect(() => h.raw.free(p)).toThrow(InvalidPointerError);
    h.check();
    h.obj.free(p);
  });
});

describe("a heap past 2 GiB (addresses and chunk sizes over 2^31)", () => {
  it.each(["pymalloc", "malloc"] as const)("%s: blocks above 2 GiB and a free chunk over 2 GiB are handled like any other", (allocator) => {
    const heap = createHeap({ allocator });
    // 2,100 raw chunks of 1 MiB take the heap past 2 GiB; small blocks (pools, or raw chunks in
    // malloc mode) land above it.
    const big: number[] = [];
    for (let i = 0; i < 2100; i++) {
      const p = heap.raw.malloc(1 << 20);
      expect(p).not.toBe(0);
      heap.u8[p] = i & 255;
      big.push(p);
    }
    const small: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const n = 8 + ((i * 37) % 500);
      const p = heap.obj.malloc(n);
      expect(p).toBeGreaterThan(2 ** 31);
      heap.u8.fill(i & 255, p, p + n);
      small.push(p, n);
    }
    heap.check();
    // Freed in order, the raw chunks merge into one free chunk of over 2 GiB; the chunk after it
    // is then freed with a footer (the size of the free chunk before it) over 2^31.
    for (const p of big) heap.raw.free(p);
    expect(heap.stats().raw.largestFree).toBeGreaterThan(2 ** 31);
    heap.check();
    for (let i = 0; i < small.length; i += 2) {
      const p = small[i];
      const n = small[i + 1];
      const v = (i / 2) & 255;
      expect(heap.u8[p] === v && heap.u8[p + n - 1] === v).toBe(true);
      const q = heap.obj.realloc(p, n + 600); // over 512 bytes: a raw chunk (in the free space below 2 GiB)
      expect(heap.u8[q + n - 1]).toBe(v);
      heap.obj.free(q);
    }
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });
});
