// alignedAlloc (C's aligned_alloc) on every family of every heap kind: the address is a multiple
// of the alignment, the block holds n bytes, free/realloc/usableSize/check() take it like any
// other block, contents survive neighbours' churn, bad alignments throw, impossible requests get
// 0. Foreign heaps: served through the allocator's own aligned_alloc when it has one, else 0.
import { describe, expect, it } from "vitest";
import { createHeap, fromFunctions, type Heap, type HeapOptions } from "../src/index.js";
import { BlockModel, uniform } from "./helpers.js";

const ALIGNMENTS = [1, 2, 4, 8, 16, 32, 64, 256, 4096, 65536];
const SIZES = [0, 1, 24, 500, 513, 5000, 100_000];

const KINDS: [string, HeapOptions][] = [
  ["pymalloc", {}],
  ["malloc", { allocator: "malloc" }],
  ["debug", { allocator: "debug", traceAllocations: false }],
  ["malloc_debug", { allocator: "malloc_debug", traceAllocations: false }],
  ["pymalloc, 8-byte blocks", { alignment: 8 }],
  ["threads", { threads: true }],
  ["debug, threads", { allocator: "debug", threads: true, traceAllocations: false }],
  ["hardened", { hardened: true }],
  ["sampled", { sampleInterval: 4096 }],
  ["wasm memory", { memory: new WebAssembly.Memory({ initial: 2, maximum: 4096 }) }],
];

function churn(heap: Heap, seed: number): void {
  const model = new BlockModel(heap);
  const aligned = new Map<number, { size: number; value: number; family: string }>();
  const r = uniform(seed);
  const fams = ["raw", "mem", "obj"] as const;
  for (let i = 0; i < 3000; i++) {
    const fam = fams[Math.floor(r() * 3)];
    const x = r();
    if (x < 0.3) {
      const a = ALIGNMENTS[Math.floor(r() * ALIGNMENTS.length)];
      const n = r() < 0.8 ? Math.floor(r() * 600) : Math.floor(r() * 20000);
      const p = heap[fam].alignedAlloc(a, n);
      expect(p).toBeGreaterThan(0);
      expect(p % a, `alignedAlloc(${a}, ${n}) = ${p}`).toBe(0);
      expect(heap.usableSize(p)).toBeGreaterThanOrEqual(n);
      const value = i & 0xff;
      heap.u8.fill(value, p, p + n);
      aligned.set(p, { size: n, value, family: fam });
    } else if (x < 0.6) {
      const n = Math.floor(r() * 700);
      model.add(heap[fam].malloc(n), n, i & 0xff, fam);
    } else if (aligned.size > 0 && x < 0.8) {
      const [p, b] = aligned.entries().next().value!;
      const u8 = heap.u8;
      for (let k = 0; k < b.size; k++) if (u8[p + k] !== b.value) throw new Error(`aligned block ${p} byte ${k} changed`);
      aligned.delete(p);
      if (r() < 0.5) heap[b.family as "raw"].free(p);
      else {
        // realloc keeps the bytes (and the family's usual alignment only, as in C)
        const q = heap[b.family as "raw"].realloc(p, b.size + 40);
        expect(q).toBeGreaterThan(0);
        for (let k = 0; k < b.size; k++) if (heap.u8[q + k] !== b.value) throw new Error(`realloc'd block ${q} byte ${k} changed`);
        heap[b.family as "raw"].free(q);
      }
    } else if (model.live.size > 0) {
      const [p, b] = model.live.entries().next().value!;
      model.verifyBlock(p);
      model.live.delete(p);
      heap[b.family as "raw"].free(p);
    }
    if (i % 500 === 0) heap.check();
  }
  model.verifyAll();
  for (const [p, b] of aligned) heap[b.family as "raw"].free(p);
  for (const [p, b] of model.live) heap[b.family as "raw"].free(p);
  heap.check();
}

describe("alignedAlloc", () => {
  for (const [name, opts] of KINDS) {
    it(`${name}: every power-of-two alignment and size, freed, reallocated and checked like any block`, () => {
      const heap = createHeap(opts);
      for (const fam of ["raw", "mem", "obj"] as const) {
        for (const a of ALIGNMENTS)
          for (const n of SIZES) {
            const p = heap[fam].alignedAlloc(a, n);
            expect(p, `${fam}.alignedAlloc(${a}, ${n})`).toBeGreaterThan(0);
            expect(p % a).toBe(0);
            expect(heap.usableSize(p)).toBeGreaterThanOrEqual(n);
            heap.u8.fill(0xab, p, p + n);
            heap.check();
            heap[fam].free(p);
          }
      }
      churn(heap, 7);
      expect(heap.leaks().totalBlocks).toBe(0);
      expect(heap.stats().blocksInUse).toBe(0);
    });
  }

  it("bad alignments throw a typed error; requests that cannot be served return 0 and leave the heap consistent", () => {
    const heap = createHeap({ maxBytes: 16 << 20 });
    for (const fam of [heap.raw, heap.mem, heap.obj]) {
      for (const a of [0, 3, 48, 2 ** 31, -8, 1.5, NaN]) expect(() => fam.alignedAlloc(a, 8)).toThrow(RangeError);
      expect(() => fam.alignedAlloc("64" as never, 8)).toThrow(TypeError);
      expect(() => fam.alignedAlloc(64, -1)).toThrow(RangeError);
      expect(fam.alignedAlloc(64, 0xffffffff)).toBe(0);
      expect(fam.alignedAlloc(2 ** 30, 100)).toBe(0); // past maxBytes
      expect(fam.alignedAlloc(4096, 32 << 20)).toBe(0);
    }
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });

  it("failAllocations fails alignedAlloc like malloc", () => {
    const heap = createHeap();
    heap.failAllocations({ every: 1 });
    expect(heap.mem.alignedAlloc(64, 10)).toBe(0);
    heap.failAllocations(null);
    expect(heap.mem.alignedAlloc(64, 10) % 64).toBe(0);
  });

  it("debug modes: an overflow of an aligned block is reported at its free, and a free by another family is an api-mismatch", () => {
    for (const allocator of ["debug", "malloc_debug"] as const) {
      const heap = createHeap({ allocator, traceAllocations: false });
      const p = heap.obj.alignedAlloc(128, 30);
      heap.u8[p + 30] = 0;
      expect(() => heap.obj.free(p)).toThrow(/overflow|past the end|after/i);
      const q = heap.obj.alignedAlloc(4096, 30);
      expect(() => heap.mem.free(q)).toThrow(/api-mismatch|family/i);
    }
  });

  it("foreign heaps: the allocator's own aligned_alloc when it has one, else 0 above its alignment", () => {
    const buf = new ArrayBuffer(1 << 20);
    let top = 64;
    const bump = (a: number, n: number) => {
      top = Math.ceil(top / a) * a;
      const p = top;
      top += Math.max(n, 1);
      return p;
    };
    const withMemalign = fromFunctions({ memory: buf, malloc: (n) => bump(8, n), free: () => {}, memalign: bump });
    const p = withMemalign.mem.alignedAlloc(256, 10);
    expect(p % 256).toBe(0);
    expect(p).toBeGreaterThan(0);
    withMemalign.mem.free(p);
    const plain = fromFunctions({ memory: buf, malloc: (n) => bump(8, n), free: () => {} });
    expect(plain.mem.alignedAlloc(8, 10) % 8).toBe(0);
    expect(plain.mem.alignedAlloc(64, 10)).toBe(0);
  });
});
