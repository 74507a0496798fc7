import { describe, expect, it } from "vitest";
import { attachHeap, createHeap, PymallocError } from "../src/index.js";
import { BlockModel } from "./helpers.js";

describe("all state lives in the memory", () => {
  it("attachHeap sees the same blocks and can free them; the original sees its changes", () => {
    const h = createHeap();
    const m = new BlockModel(h);
    for (let i = 0; i < 2000; i++) m.add(h.obj.malloc(1 + (i % 700)), 1 + (i % 700), i & 255, "o");
    const a = attachHeap(h.buffer);
    expect(a.mode).toBe("pymalloc");
    expect(a.stats()).toEqual(h.stats());
    const ps = [...m.live.keys()];
    for (const p of ps.slice(0, 1000)) {
      m.remove(p);
      a.obj.free(p);
    }
    h.check();
    m.verifyAll();
    expect(h.stats().blocksInUse).toBe(1000);
  });

  it("a snapshot (a byte copy) is a working heap of its own", () => {
    const h = createHeap({ allocator: "malloc" });
    const p = h.mem.malloc(100);
    h.u8.fill(5, p, p + 100);
    const copy = new ArrayBuffer(h.buffer.byteLength);
    new Uint8Array(copy).set(h.u8);
    const s = attachHeap(copy);
    expect(s.mode).toBe("malloc");
    expect(s.u8[p + 99]).toBe(5);
    s.mem.free(p);
    s.check();
    h.check();
    expect(h.stats().blocksInUse).toBe(1);
    expect(s.stats().blocksInUse).toBe(0);
  });

  it("heapBase keeps the heap out of the bytes before it", () => {
    const mem = new WebAssembly.Memory({ initial: 2, maximum: 1000 });
    new Uint8Array(mem.buffer).fill(0x77, 0, 5000);
    const h = createHeap({ memory: mem, heapBase: 5000 });
    for (let i = 0; i < 5000; i++) expect(h.obj.malloc(1 + (i % 1000))).toBeGreaterThanOrEqual(5008);
    const u8 = new Uint8Array(mem.buffer);
    for (let k = 0; k < 5000; k++) if (u8[k] !== 0x77) throw new Error(`byte ${k} below heapBase was touched`);
    const a = attachHeap(mem, { heapBase: 5000 });
    a.check();
    expect(() => attachHeap(mem)).toThrow(PymallocError);
    // ... and says where the heap is (attachHeap without the base it was made with)
    expect(() => attachHeap(mem)).toThrow(/no pymalloc heap at 0x00000000.*a heap starts at 0x00001390: attach it with \{ heapBase: 5008 \}/);
  });

  it("attachHeap refuses memory without a heap", () => {
    expect(() => attachHeap(new ArrayBuffer(65536))).toThrow(/no pymalloc heap/);
  });
});

describe("attachHeap's options are checked as createHeap's are", () => {
  it("a TypeError or RangeError for options that are no object and a heapBase that is no byte offset", () => {
    const h = createHeap();
    const src = h.memory.source;
    expect(() => attachHeap(src, null as never)).toThrow(TypeError);
    expect(() => attachHeap(src, "nonsense" as never)).toThrow(TypeError);
    expect(() => attachHeap(src, { heapBase: "0" as never })).toThrow(TypeError);
    for (const heapBase of [1.5, NaN, -16, Infinity]) expect(() => attachHeap(src, { heapBase })).toThrow(RangeError);
    attachHeap(src, {}).check();
    attachHeap(src).check();
  });
});

describe("attachHeap(copy, { restored: true }) into a longer memory", () => {
  it("the bytes past the copy are the heap's, up to its growth limit (without it they stay unused)", () => {
    const heap = createHeap({ memoryKind: "resizable", initialBytes: 1 << 20 });
    const p = heap.raw.malloc(100_000);
    heap.u8.fill(5, p, p + 100_000);
    const load = (): ArrayBuffer => {
      const ab = new ArrayBuffer(8 << 20); // a fixed buffer, longer than the saved 1 MiB
      new Uint8Array(ab).set(heap.u8.subarray(0, heap.memory.byteLength));
      return ab;
    };
    expect(attachHeap(load()).raw.malloc(4 << 20)).toBe(0); // past the heap's end: not its pages
    const r = attachHeap(load(), { restored: true });
    const q = r.raw.malloc(4 << 20);
    expect(q).not.toBe(0);
    r.u8.fill(7, q, q + (4 << 20));
    expect(r.u8[p + 99_999]).toBe(5);
    expect(r.stats().fencedBytes).toBe(0);
    r.check();
  });
});

describe("attachHeap of a threads heap's saved bytes", () => {
  // A web page keeps a heap across a reload in IndexedDB, which stores no SharedArrayBuffer: the
  // bytes come back as an ArrayBuffer. The TypeError said only "needs a shared memory" before
  // session 53; it now says where the bytes go.
  it("an ArrayBuffer copy is a TypeError saying how to load it; copied into a growable SharedArrayBuffer it attaches", () => {
    const heap = createHeap({ threads: true });
    const p = heap.obj.malloc(40);
    heap.u32[p >>> 2] = 0xbeef;
    const saved = new Uint8Array(heap.buffer).slice().buffer; // what IndexedDB or postMessage keeps
    expect(() => attachHeap(saved, { restored: true })).toThrow(TypeError);
    expect(() => attachHeap(saved, { restored: true })).toThrow(/unshared ArrayBuffer\. Saved bytes .* go back into a growable SharedArrayBuffer \(new SharedArrayBuffer\(n, \{ maxByteLength \}\)\)/);
    const shared = new SharedArrayBuffer(saved.byteLength, { maxByteLength: 64 << 20 });
    new Uint8Array(shared).set(new Uint8Array(saved));
    const back = attachHeap(shared, { restored: true });
    expect(back.threads).toBe(true);
    expect(back.u32[p >>> 2]).toBe(0xbeef);
    expect(back.mem.malloc(8 << 20)).not.toBe(0); // it grows
    back.obj.free(p);
    back.check();
  });
});
