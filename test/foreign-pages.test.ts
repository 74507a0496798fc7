// Pages something else grew for itself in the heap's memory (a WebAssembly module's memory.grow,
// memory.grow() or SharedArrayBuffer.grow() from JS) stay its own: the heap fences them
// (H.END, raw/top.ts extend() and fence()) and carries on past them. Before, the heap's top
// grew into them and handed them out as blocks: silent damage that check() could not see.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { createHeap, HeapCorruptionError, heapSvg, InvalidPointerError, type Heap } from "../src/index.js";
import { H } from "../src/constants.js";
import { forEachChunk } from "../src/introspect/walk.js";
import { grower, xorshift } from "./helpers.js";

const PAGE = 65536;

/** Bytes [at, at + n) hold the pattern of `seed` (written by fillPattern), checked in the memory's current buffer. */
const patternAt = (buf: ArrayBufferLike, at: number, n: number, seed: number): number => {
  const u8 = new Uint8Array(buf);
  for (let i = 0; i < n; i++) if (u8[at + i] !== ((seed + i * 7) & 255)) return i;
  return -1;
};
const fillPattern = (buf: ArrayBufferLike, at: number, n: number, seed: number): void => {
  const u8 = new Uint8Array(buf);
  for (let i = 0; i < n; i++) u8[at + i] = (seed + i * 7) & 255;
};

/** Fences in the heap's chunk chain: [address, size]. */
function fences(heap: Heap): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  forEachChunk(heap, (c) => {
    if (c.fence) out.push([c.chunk, c.size]);
  });
  return out;
}

/**
 * Allocate, reallocate and free blocks of every kind (small, raw, growing reallocs) while
 * `growOutside(pages)` grows the memory for someone else, who writes its pages; every block and
 * every foreign page verified at each round and at the end, check() at each round. `theirs()`:
 * the memory as the grower sees it (a heap's views need not reach pages that are not the heap's:
 * a shared memory grown by a module keeps them short until the heap grows).
 */
function churn(heap: Heap, growOutside: (pages: number) => number, rounds: number, seed: number, theirs: () => ArrayBufferLike = () => (heap.memory.source as WebAssembly.Memory).buffer): void {
  const rand = xorshift(seed);
  const foreign: Array<{ at: number; n: number; seed: number }> = [];
  const live: Array<{ p: number; n: number; seed: number; fam: Heap["obj"] }> = [];
  let s = 1;
  for (let r = 0; r < rounds; r++) {
    const pages = 1 + (rand() % 3);
    const at = growOutside(pages) * PAGE;
    expect(at).toBeGreaterThan(0);
    fillPattern(theirs(), at, pages * PAGE, r * 31);
    foreign.push({ at, n: pages * PAGE, seed: r * 31 });
    for (let k = 0; k < 150; k++) {
      const kind = rand() % 10;
      const n = kind < 6 ? 1 + (rand() % 512) : kind < 9 ? 600 + (rand() % 20000) : 70000 + (rand() % 100000);
      const fam = kind < 3 ? heap.obj : kind < 6 ? heap.mem : heap.raw;
      const p = fam.malloc(n);
      expect(p).not.toBe(0);
      fillPattern(heap.buffer, p, n, ++s);
      live.push({ p, n, seed: s, fam });
    }
    for (let k = 0; k < 20 && live.length > 0; k++) {
      const b = live[rand() % live.length];
      expect(patternAt(heap.buffer, b.p, b.n, b.seed)).toBe(-1);
      const n = b.n * 2 + 64;
      const q = b.fam.realloc(b.p, n);
      expect(q).not.toBe(0);
      fillPattern(heap.buffer, q, n, ++s);
      Object.assign(b, { p: q, n, seed: s });
    }
    for (let k = 0; k < 100 && live.length > 0; k++) {
      const i = rand() % live.length;
      const b = live[i];
      expect(patternAt(heap.buffer, b.p, b.n, b.seed)).toBe(-1);
      b.fam.free(b.p);
      live[i] = live[live.length - 1];
      live.pop();
    }
    heap.check();
    for (const f of foreign) expect(patternAt(theirs(), f.at, f.n, f.seed), `foreign pages at ${f.at}`).toBe(-1);
  }
  for (const b of live) expect(patternAt(heap.buffer, b.p, b.n, b.seed)).toBe(-1);
  // No block overlaps a foreign page; every foreign page lies inside a fence, or past the heap's
  // own end (H.END: grown after the heap last grew, the top stops before it).
  const fs = fences(heap);
  const own = heap.u32[(heap.heapBase >>> 2) + H.END];
  for (const f of foreign)
    for (let a = f.at; a < f.at + f.n; a += PAGE) expect(a >= own || fs.some(([c, size]) => c < a && a + PAGE <= c + size), `page ${a} fenced`).toBe(true);
  for (const b of live) for (const f of foreign) expect(b.p + b.n <= f.at || b.p >= f.at + f.n).toBe(true);
  for (const b of live) b.fam.free(b.p);
  heap.check();
  expect(heap.stats().blocksInUse).toBe(0);
  for (const f of foreign) expect(patternAt(theirs(), f.at, f.n, f.seed)).toBe(-1);
}

describe("pages grown by something else are not the heap's", () => {
  it("a WebAssembly module's memory.grow (unshared): its pages keep its bytes while the heap grows past them, and sit in fences", () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 8192 });
    const heap = createHeap({ memory, heapBase: 1024 });
    churn(heap, grower(memory), 12, 1);
    expect(fences(heap).length).toBeGreaterThan(0);
  });

  it("a module growing a shared WebAssembly.Memory, on a heap with threads", () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 8192, shared: true });
    const heap = createHeap({ memory, heapBase: 1024, threads: true });
    churn(heap, grower(memory), 8, 2);
  });

  it.each(["pymalloc", "malloc", "debug"] as const)("in %s mode, and the wasm fast path's own carving stops at the heap's end", (mode) => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 8192 });
    const heap = createHeap({ memory, heapBase: 1024, allocator: mode });
    churn(heap, (pages) => memory.grow(pages), 6, 3);
  });

  it("a growable SharedArrayBuffer grown from JS: its new pages are fenced as well (the heap grows from where its own end is)", () => {
    const heap = createHeap({ memoryKind: "growable-shared", initialBytes: 4 * PAGE });
    const sab = heap.memory.source as SharedArrayBuffer & { grow(n: number): void };
    churn(heap, (pages) => {
      const at = sab.byteLength;
      sab.grow(at + pages * PAGE);
      return at / PAGE;
    }, 6, 4, () => sab);
  });

  it("a realloc at the top that must grow past foreign pages moves the block (its bytes kept), the foreign pages untouched", () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 1024 });
    const heap = createHeap({ memory, heapBase: 1024, initialBytes: 2 * PAGE });
    const p = heap.raw.malloc(1000);
    fillPattern(heap.buffer, p, 1000, 9);
    const at = memory.grow(1) * PAGE;
    fillPattern(memory.buffer, at, PAGE, 5);
    const q = heap.raw.realloc(p, 200_000);
    expect(q).not.toBe(0);
    expect(q).not.toBe(p);
    expect(q).toBeGreaterThanOrEqual(at + PAGE);
    expect(patternAt(heap.buffer, q, 1000, 9)).toBe(-1);
    expect(patternAt(memory.buffer, at, PAGE, 5)).toBe(-1);
    heap.check();
    heap.raw.free(q);
    heap.check();
    // The top's room before the fence stays a free chunk: the next block takes it.
    const r = heap.raw.malloc(1000);
    expect(r).toBeLessThan(at);
    heap.raw.free(r);
    heap.check();
  });

  it("a fence is no block: free, realloc and usableSize of an address inside it throw InvalidPointerError; walk() lists no block there", () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 1024 });
    const heap = createHeap({ memory, heapBase: 1024 });
    const at = memory.grow(1) * PAGE;
    const p = heap.raw.malloc(300_000); // the top grows past the module's page
    expect(p).toBeGreaterThan(at);
    const [[c, size]] = fences(heap);
    expect(c).toBeLessThan(at);
    expect(c + size).toBeGreaterThanOrEqual(at + PAGE);
    for (const fn of [() => heap.raw.free(c + 8), () => heap.raw.realloc(c + 8, 10), () => heap.mem.free(c + 8), () => heap.obj.free(at), () => heap.raw.free(at + 4096), () => heap.usableSize(at + 64)]) {
      expect(fn).toThrow(InvalidPointerError);
      expect(fn).toThrow(/fence.*grew for itself/);
    }
    let inside = 0;
    heap.walk((b) => {
      if (b.address < at + PAGE && b.address + b.size > at) inside++;
    });
    expect(inside).toBe(0);
    heap.check();
    // stats(): the fence's bytes are counted as someone else's, not as resident heap pages.
    const st = heap.stats();
    expect(st.fencedBytes).toBe(size);
    expect(st.residentBytes).toBeLessThan(st.footprint - PAGE);
    expect(st.raw.topFree).toBe(heap.u32[(heap.heapBase >>> 2) + H.END] - heap.u32[(heap.heapBase >>> 2) + H.TOP]);
    expect(heapSvg(heap)).toMatch(/<title>fence chunk at \d+, \d+ bytes<\/title>.*pages grown by others \(fence\)/s);
    expect(heap.debugMallocStats()).toMatch(/# bytes fenced \(pages of others\)\s+=\s+[\d,]+/);
  });

  it("a memory grown by someone else in the middle of the heap's own growth (between its look and its grow): the pages before the heap's are fenced too", () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 1024 });
    const heap = createHeap({ memory, heapBase: 1024, initialBytes: 2 * PAGE });
    const theirs: number[] = [];
    const grow = memory.grow.bind(memory);
    // A module in another thread grows one page just before each growth of the heap's reaches the engine.
    (memory as { grow(n: number): number }).grow = (n: number) => {
      const at = grow(1) * PAGE;
      new Uint8Array(memory.buffer, at, PAGE).fill(0xab);
      theirs.push(at);
      return grow(n);
    };
    const blocks: number[] = [];
    for (let i = 0; i < 40; i++) {
      const p = heap.raw.malloc(20_000);
      expect(p).not.toBe(0);
      new Uint8Array(heap.buffer, p, 20_000).fill(i);
      blocks.push(p);
    }
    expect(theirs.length).toBeGreaterThan(1);
    heap.check();
    for (const at of theirs) expect(new Uint8Array(memory.buffer, at, PAGE).every((b) => b === 0xab)).toBe(true);
    blocks.forEach((p, i) => expect(new Uint8Array(heap.buffer, p, 20_000).every((b) => b === i)).toBe(true));
  });

  it("a heap given memory the module grew before the heap was made owns it all (H.END is the memory's length when the heap is made)", () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 1024 });
    memory.grow(2);
    const heap = createHeap({ memory, heapBase: 1024 });
    const p = heap.raw.malloc(3 * PAGE);
    expect(p).not.toBe(0);
    expect(memory.buffer.byteLength).toBe(4 * PAGE);
    expect(fences(heap)).toEqual([]);
  });

  it("H.END written over: check() and the growth that reads it throw HeapCorruptionError naming H.END, not silent damage", () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 1024 });
    const heap = createHeap({ memory, heapBase: 1024, initialBytes: 2 * PAGE });
    const w = (heap.heapBase >>> 2) + H.END;
    const end = heap.u32[w];
    expect(end).toBe(2 * PAGE);
    for (const bad of [3, heap.u32[(heap.heapBase >>> 2) + H.TOP], 0xfffffff0]) {
      heap.u32[w] = bad;
      const e = (() => {
        try {
          heap.check();
        } catch (err) {
          return err as HeapCorruptionError;
        }
        throw new Error("check() passed");
      })();
      expect(e).toBeInstanceOf(HeapCorruptionError);
      expect(e.field).toBe("H.END");
      expect(() => heap.raw.malloc(5 * PAGE)).toThrow(/H\.END/);
    }
    heap.u32[w] = end;
    heap.check();
  });
});

describe("H.FENCED (the fences' bytes, stats().fencedBytes)", () => {
  it("counts every fence's bytes; written over, check() names it", () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 1024 });
    const heap = createHeap({ memory, heapBase: 1024, initialBytes: 2 * PAGE });
    memory.grow(1);
    expect(heap.raw.malloc(200_000)).not.toBe(0);
    memory.grow(2);
    expect(heap.raw.malloc(600_000)).not.toBe(0);
    const fs = fences(heap);
    expect(fs.length).toBe(2);
    expect(heap.stats().fencedBytes).toBe(fs[0][1] + fs[1][1]);
    heap.check();
    const w = (heap.heapBase >>> 2) + H.FENCED;
    heap.u32[w] += 16;
    expect(() => heap.check()).toThrow(expect.objectContaining({ field: "H.FENCED" }));
    heap.u32[w] -= 16;
    heap.check();
  });
});

describe("a module's thread growing a shared memory while the heap's thread allocates", () => {
  it("its pages keep their bytes, the heap's blocks theirs, and check() passes (the growths race: Memory.grow's grownFrom tells whose pages are whose)", async () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 16384, shared: true });
    const heap = createHeap({ memory, heapBase: 1024, threads: true, initialBytes: 4 * PAGE });
    const done = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(join(import.meta.dirname, "workers", "foreign-grow.mjs"), { workerData: { memory, rounds: 150, done } });
    const result = new Promise<{ pages: number[]; bad: number }>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    const rand = xorshift(7);
    const live: Array<{ p: number; n: number; v: number }> = [];
    const nap = new Int32Array(new SharedArrayBuffer(4));
    let v = 0;
    // Blocks kept (the heap grows all along, past the module's pages), some freed, until the module is done.
    for (let i = 0; Atomics.load(done, 0) === 0 || i < 500; i++) {
      const n = rand() % 2 === 0 ? 8_000 + (rand() % 40_000) : 16 + (rand() % 2000);
      const p = heap.raw.malloc(n);
      expect(p).not.toBe(0);
      v = (v + 1) & 255;
      heap.u8.fill(v, p, p + n);
      live.push({ p, n, v });
      if (rand() % 4 === 0) {
        const b = live.splice(rand() % live.length, 1)[0];
        expect(heap.u8.subarray(b.p, b.p + b.n).every((x) => x === b.v)).toBe(true);
        heap.raw.free(b.p);
      }
      Atomics.wait(nap, 0, 0, 0.2);
    }
    const { pages, bad } = await result;
    await worker.terminate();
    expect(pages.length).toBeGreaterThan(20);
    expect(bad).toBe(0);
    for (const b of live) expect(heap.u8.subarray(b.p, b.p + b.n).every((x) => x === b.v)).toBe(true);
    heap.check();
    expect(heap.stats().fencedBytes).toBeGreaterThan(0);
    for (const b of live) heap.raw.free(b.p);
    heap.check();
  });
});
