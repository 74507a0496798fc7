// Views (heap.u8 ... heap.dv, heap.buffer) cover every block of the heap after every kind of
// growth: this handle's allocator, another handle (attachHeap, another Worker), a WebAssembly
// module growing the memory itself, on every memory kind, for Heap and ForeignHeap. The one case
// that needs a call (a ForeignHeap over a shared memory grown in another thread: heap.refresh())
// is tested as the README names it.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import {
  HeapCorruptionError,
  InvalidPointerError,
  MemoryCorruptionError,
  attachHeap,
  createHeap,
  fromExports,
  fromFunctions,
  type ForeignHeap,
  type Heap,
  type MemoryKind,
} from "../src/index.js";
import { H } from "../src/constants.js";
import { grower } from "./helpers.js";

const thrown = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("no error thrown");
};

const ROOT = join(import.meta.dirname, "..");
const DLMALLOC = new WebAssembly.Module(readFileSync(join(ROOT, "wasm/dlmalloc/dlmalloc.wasm")));
const WORKER = join(import.meta.dirname, "workers", "views.mjs");
const PAGE = 65536;

const VIEWS = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "f64", "u64", "i64", "dv"] as const;

/** Every view of h reaches `end` and is over h.buffer, and a value written through one is read through the others. */
function expectCovers(h: Heap | ForeignHeap, end: number): void {
  const buf = h.buffer;
  expect(buf.byteLength).toBeGreaterThanOrEqual(end);
  for (const k of VIEWS) {
    const v = h[k];
    expect(v.buffer, k).toBe(buf);
    expect(v.byteLength, k).toBeGreaterThanOrEqual(end - (end & 7));
  }
  const at = (end - 16) & ~7;
  h.f64[at >>> 3] = 1.5;
  expect(h.dv.getFloat64(at, true)).toBe(1.5);
  h.u32[at >>> 2] = 0xdeadbeef;
  expect(h.u8[at]).toBe(0xef);
  expect(h.i32[at >>> 2]).toBe(0xdeadbeef | 0);
}

/** Allocate 4000-byte blocks from fam until one ends past `past`: that block. */
function allocPast(fam: { malloc(n: number): number }, past: number): { p: number; n: number; blocks: number[] } {
  const blocks: number[] = [];
  for (;;) {
    const p = fam.malloc(4000);
    if (p === 0) throw new Error("out of memory");
    blocks.push(p);
    if (p + 4000 > past) return { p, n: 4000, blocks };
  }
}

type Kind = MemoryKind | "wasm-shared";
const memoryOf = (kind: Kind): { memoryKind?: MemoryKind; memory?: WebAssembly.Memory } =>
  kind === "wasm-shared" ? { memory: new WebAssembly.Memory({ initial: 1, maximum: 1024, shared: true }) } : { memoryKind: kind };

describe.each(["growable-shared", "resizable", "wasm", "wasm-shared"] as const)("Heap views on a %s memory", (kind) => {
  it.each(["pymalloc", "malloc", "debug"] as const)("cover blocks past the old end after growth by this handle (%s)", (allocator) => {
    const heap = createHeap({ ...memoryOf(kind), initialBytes: PAGE, allocator, traceAllocations: false });
    const old = heap.u8.length;
    const { p, n } = allocPast(heap.mem, old);
    expect(heap.u8.length).toBeGreaterThan(old);
    heap.u8.fill(7, p, p + n);
    expectCovers(heap, p + n);
    expect(heap.u8[p + n - 1]).toBe(7);
    heap.check();
  });

  it("cover blocks another handle of the heap (attachHeap) allocated", () => {
    const heap = createHeap({ ...memoryOf(kind), initialBytes: PAGE });
    const other = attachHeap(heap.memory.source);
    const old = heap.u8.length; // views read once, before the other handle grows the memory
    const { p, n } = allocPast(other.obj, old * 2);
    other.u8.fill(9, p, p + n);
    expect(heap.u8[p + n - 1]).toBe(9); // this handle never allocated: its views followed anyway
    expectCovers(heap, p + n);
  });
});

describe("a WebAssembly module grows the memory itself", () => {
  it.each([false, true])("Heap (shared memory: %s): views current, blocks past the old end covered", (shared) => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1024, shared });
    const heap = createHeap({ memory });
    const u8 = heap.u8;
    const old = u8.length;
    expect(grower(memory)(3)).toBe(old / PAGE);
    if (!shared) {
      expect(u8.length).toBe(0); // the held view is detached
      expect(heap.u8.length).toBe(old + 3 * PAGE); // the getter's is not
    }
    const { p, n } = allocPast(heap.mem, old + 3 * PAGE);
    expectCovers(heap, p + n);
    heap.check();
  });

  it("ForeignHeap over dlmalloc: its own growth and a module's growth", () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 4096 });
    const inst = new WebAssembly.Instance(DLMALLOC, { env: { memory } });
    const heap = fromExports(inst.exports as never, { memory });
    const old = heap.u8.length;
    const { p, n, blocks } = allocPast(heap.mem, old); // dlmalloc's sbrk grows the memory
    expectCovers(heap, p + n);
    const len = memory.buffer.byteLength;
    grower(memory)(2);
    expect(heap.u8.length).toBe(len + 2 * PAGE);
    expectCovers(heap, len + 2 * PAGE);
    for (const b of blocks) heap.mem.free(b);
    heap.check();
  });
});

/** A bump allocator in JS that grows its buffer (resize / grow): a foreign allocator for fromFunctions. */
function bumpOn(buf: ArrayBuffer | SharedArrayBuffer): { malloc(n: number): number; free(): void; memory: ArrayBuffer | SharedArrayBuffer } {
  let top = 16;
  return {
    memory: buf,
    malloc(n: number): number {
      const p = top;
      top = (top + n + 15) & ~15;
      if (top > buf.byteLength) {
        const want = Math.ceil(top / PAGE) * PAGE * 2;
        if (buf instanceof SharedArrayBuffer) (buf as SharedArrayBuffer & { grow(n: number): void }).grow(want);
        else (buf as ArrayBuffer & { resize(n: number): void }).resize(want);
      }
      return p;
    },
    free(): void {},
  };
}

describe("every heap variant, its unshared WebAssembly.Memory grown by something else: the first call after it", () => {
  // hardened: true checked the usedpools head's first block before malloc could notice detached
  // views: a false HeapCorruptionError "pool's first free block 0x00000000 is no block of it"
  // (address NaN), and for a transferred ArrayBuffer the same instead of "detached".
  const variants = [{ hardened: true }, { hardened: true, subPools: false }, { subPools: false }, { alignment: 16 as const }, { rawFirst: true }, { allocator: "pymalloc_debug" as const }];
  const firsts = [
    ["obj.malloc", (h: Heap) => expect(h.obj.malloc(40)).toBeGreaterThan(0)],
    ["mem.calloc", (h: Heap) => expect(h.mem.calloc(3, 16)).toBeGreaterThan(0)],
    ["free", (h: Heap, p: number) => h.obj.free(p)],
    ["realloc", (h: Heap, p: number) => expect(h.obj.realloc(p, 64)).toBeGreaterThan(0)],
  ] as const;
  it.each(variants.flatMap((v) => firsts.map(([name, call]) => [JSON.stringify(v), name, v, call] as const)))("%s: %s", (_v, _name, v, call) => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 1024 });
    const h = createHeap({ memory, traceAllocations: false, ...v });
    const ps: number[] = [];
    for (let i = 0; i < 50; i++) ps.push(h.obj.malloc(8 + (i % 20) * 8));
    h.obj.free(ps.pop()!);
    grower(memory)(2);
    call(h, ps[0]);
    h.check();
  });
  it.each(variants.map((v) => [JSON.stringify(v), v] as const))("%s: a transferred ArrayBuffer: PymallocError \"detached\" from malloc", (_v, v) => {
    const buf = new ArrayBuffer(1 << 20);
    const h = createHeap({ memory: buf, traceAllocations: false, ...v });
    h.obj.free(h.obj.malloc(40));
    structuredClone(buf, { transfer: [buf] });
    expect(() => h.obj.malloc(40)).toThrow(/detached/);
  });
});

describe("a ForeignHeap whose unshared memory something else grew: the first call after it", () => {
  // The live-block table (debug mode, trackBlocks) lives in the memory: read through detached
  // views, check() said "control block lost its magic number" and walk/leaks saw no table.
  it.each([
    ["check", (h: ForeignHeap) => h.check()],
    ["walk", (h: ForeignHeap) => h.walk(() => {})],
    ["leaks", (h: ForeignHeap) => void h.leaks()],
    ["usableSize", (h: ForeignHeap, p: number) => expect(h.usableSize(p)).toBeGreaterThanOrEqual(24)],
    ["free", (h: ForeignHeap, p: number) => h.mem.free(p)],
    ["realloc", (h: ForeignHeap, p: number) => expect(h.mem.realloc(p, 100)).not.toBe(0)],
  ] as const)("%s, in debug mode and with trackBlocks", (_op, call) => {
    for (const options of [{ allocator: "debug" as const, traceAllocations: false }, { trackBlocks: true }]) {
      const memory = new WebAssembly.Memory({ initial: 2, maximum: 4096 });
      const inst = new WebAssembly.Instance(DLMALLOC, { env: { memory } });
      const h = fromExports(inst.exports as never, { memory, ...options });
      const ps: number[] = [];
      for (let i = 0; i < 20; i++) ps.push(h.mem.malloc(24 + i));
      grower(memory)(1);
      call(h, ps[0]);
      h.check();
      expect(h.leaks().blocks.length).toBeGreaterThanOrEqual(19);
    }
  });
});

describe("ForeignHeap views on every memory kind", () => {
  it.each([
    ["resizable ArrayBuffer", () => new ArrayBuffer(PAGE, { maxByteLength: 256 * PAGE })],
    ["growable SharedArrayBuffer", () => new SharedArrayBuffer(PAGE, { maxByteLength: 256 * PAGE })],
  ] as const)("%s grown by the foreign allocator", (_name, make) => {
    const heap = fromFunctions(bumpOn(make()), { trackBlocks: true });
    const old = heap.u8.length;
    const { p, n } = allocPast(heap.mem, old);
    expectCovers(heap, p + n);
    heap.check();
  });
});

/** Run test/workers/views.mjs with `data`; resolves with what it posted. */
function inWorker(data: Record<string, unknown>): Promise<{ p: number; n: number; blocks: number[] }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: data });
    w.once("message", resolve);
    w.once("error", reject);
    w.once("exit", (code) => code !== 0 && reject(new Error(`views worker exited with ${code}`)));
  });
}

describe("across Workers", () => {
  it.each(["growable-shared", "wasm-shared"] as const)(
    "Heap (%s, threads: true): blocks another Worker allocated past this thread's views are covered with no call",
    async (kind) => {
      const heap = createHeap({ ...memoryOf(kind), initialBytes: PAGE, threads: true, traceAllocations: false });
      const old = heap.u8.length;
      const { p, n, blocks } = await inWorker({ role: "heap", memory: heap.memory.source, past: old * 4, pattern: 0x5a });
      expect(p + n).toBeGreaterThan(old);
      const u8 = heap.u8; // the first read since the Worker grew the memory
      expect(u8[p]).toBe(0x5a);
      expect(u8[p + n - 1]).toBe(0x5a);
      expectCovers(heap, p + n);
      for (const b of blocks) heap.mem.free(b); // frees from this thread of the Worker's blocks
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
    },
    30_000,
  );

  it.each([
    ["growable SharedArrayBuffer", "malloc", () => new SharedArrayBuffer(PAGE, { maxByteLength: 256 * PAGE })],
    ["shared WebAssembly.Memory", "malloc", () => new WebAssembly.Memory({ initial: 1, maximum: 256, shared: true })],
    ["growable SharedArrayBuffer", "debug", () => new SharedArrayBuffer(PAGE, { maxByteLength: 256 * PAGE })],
  ] as const)(
    "ForeignHeap over a %s grown in another thread (%s): a block past the views is reported, heap.refresh() makes them current",
    async (_name, allocator, make) => {
      const memory = make();
      const heap = fromFunctions({ ...bumpOn(memory instanceof WebAssembly.Memory ? memory.buffer : memory), memory }, { allocator, trackBlocks: true, traceAllocations: false });
      const old = heap.u8.length;
      const { p, n } = await inWorker({ role: "grow", memory, past: old * 2, pattern: 0x3c });
      expect(p).toBeGreaterThanOrEqual(old);
      // Handed a pointer past its views, the heap says so (and names the call) in both modes.
      const err = thrown(() => heap.mem.free((p + 64) & ~15));
      expect(err.message).toMatch(/lies beyond this heap's views \(\d+ bytes\).*heap\.refresh\(\)/s);
      if (allocator === "malloc") expect((err as InvalidPointerError).reason).toBe("beyond-views");
      else expect(err).toBeInstanceOf(MemoryCorruptionError);
      expect(heap.refresh()).toBe(true); // the README's one call for this case
      expect(heap.u8[p]).toBe(0x3c);
      expect(heap.u8[p + n - 1]).toBe(0x3c);
      expectCovers(heap, p + n);
      expect(heap.refresh()).toBe(false);
    },
    30_000,
  );
});

describe("README, Use: Views", () => {
  it("the example runs as written", () => {
    const heap = createHeap();
    const sum = (h: typeof heap, p: number, n: number): number => {
      let s = 0;
      for (let i = 0; i < n; i++) s += h.f64[(p >>> 3) + i];
      return s;
    };
    const xs = heap.mem.malloc(8 * 1000);
    heap.f64.fill(0.5, xs >>> 3, (xs >>> 3) + 1000);
    expect(sum(heap, xs, 1000)).toBe(500);
    heap.mem.free(xs);
    heap.check();
  });
});

describe("allocating through wasmImports() after a module grew its (unshared) memory itself", () => {
  it.each(["pymalloc", "malloc", "debug"] as const)("%s: the imports make the views current first", (allocator) => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 1024 });
    const h = createHeap({ memory, allocator });
    const env = h.wasmImports();
    const before = env.malloc(24);
    expect(before).toBeGreaterThan(0);
    grower(memory)(4); // the heap's views are detached now; nobody has read a view since
    const ps: number[] = [];
    for (let i = 0; i < 200; i++) ps.push(env.malloc(8 + (i % 9) * 40)); // small, fast path and slow paths
    ps.push(env.malloc(5000)); // a raw block
    for (const p of ps) expect(Number.isInteger(p) && p > 0 && p < memory.buffer.byteLength).toBe(true);
    expect(new Set(ps).size).toBe(ps.length);
    for (const p of ps) env.free(p);
    env.free(before);
    h.check();
    expect(h.stats().blocksInUse).toBe(0);
  });
});

describe("two handles of one heap in one thread (attachHeap, no threads): each allocates and frees after the other grew the memory", () => {
  // Each handle's allocator holds views of its own; the other handle's growth put pools,
  // sub-pools, arenas and raw chunks past them. Before, that read as damage (a false
  // HeapCorruptionError "usedpools head ... is no pool", "free sub-pool list holds ...", "top ...
  // is no top", or InvalidPointerError on a valid block) until a view of the handle was read.
  it.each(
    (["growable-shared", "resizable", "wasm"] as const).flatMap((kind) => (["pymalloc", "malloc", "debug"] as const).map((allocator) => [kind, allocator] as const)),
  )("%s memory, %s mode: random traffic through both handles, contents kept, check() clean", (kind, allocator) => {
    const a = createHeap({ memoryKind: kind, allocator, traceAllocations: false, initialBytes: PAGE });
    const b = attachHeap(a.memory.source);
    const hs = [a, b];
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const live: { p: number; n: number; fam: "raw" | "mem" | "obj"; v: number }[] = [];
    for (let step = 0; step < 6000; step++) {
      const h = hs[step % 3 === 0 ? 0 : rnd() < 0.5 ? 0 : 1];
      const x = rnd();
      if (x < 0.55 || live.length === 0) {
        const fam = (["raw", "mem", "obj"] as const)[(rnd() * 3) | 0];
        const n = 1 + (rnd() < 0.1 ? 513 + ((rnd() * 40000) | 0) : (rnd() * 512) | 0);
        const p = h[fam].malloc(n);
        expect(p).not.toBe(0);
        const v = step & 255;
        h.u8.fill(v, p, p + n);
        live.push({ p, n, fam, v });
      } else {
        const i = (rnd() * live.length) | 0;
        const blk = live[i];
        expect(h.u8[blk.p] === blk.v && h.u8[blk.p + blk.n - 1] === blk.v).toBe(true);
        if (x < 0.85) {
          // freed without reading a view of h first: the allocator alone must follow
          h[blk.fam].free(blk.p);
          live.splice(i, 1);
        } else {
          const n = 1 + (rnd() < 0.2 ? 513 + ((rnd() * 40000) | 0) : (rnd() * 512) | 0);
          const q = h[blk.fam].realloc(blk.p, n);
          expect(q).not.toBe(0);
          const keep = Math.min(n, blk.n);
          expect(h.u8[q] === blk.v && h.u8[q + keep - 1] === blk.v).toBe(true);
          h.u8.fill(blk.v, q, q + n);
          live[i] = { ...blk, p: q, n };
        }
      }
    }
    expect(a.u8.length).toBeGreaterThan(4 * PAGE); // the traffic did grow the memory
    a.check();
    b.check();
    for (const blk of live) b[blk.fam].free(blk.p);
    a.check();
    expect(a.stats().blocksInUse).toBe(0);
  });

  it.each(["pymalloc", "malloc", "debug"] as const)("%s: an unshared WebAssembly.Memory grown from JS: malloc, realloc, usableSize and free from JS work before any view is read", (allocator) => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 1024 });
    const h = createHeap({ memory, allocator, traceAllocations: false });
    const small = h.obj.malloc(40);
    const big = h.raw.malloc(5000);
    memory.grow(4); // every view of the heap, the allocator's own included, is detached now
    expect(h.usableSize(small)).toBeGreaterThanOrEqual(40);
    const q = h.obj.realloc(small, 48);
    const r = h.raw.realloc(big, 6000);
    const more: number[] = [];
    for (let i = 0; i < 300; i++) more.push(h.obj.malloc(8 + (i % 60) * 8));
    memory.grow(4);
    for (const p of more) h.obj.free(p);
    memory.grow(4);
    h.obj.free(q);
    h.raw.free(r);
    h.check();
    expect(h.stats().blocksInUse).toBe(0);
  });
});

describe("an unshared WebAssembly.Memory grown from outside, after V8 optimized the allocator", () => {
  // In its own process (test/workers/grow-warm.mjs says why): the allocator warmed up on every
  // memory kind, then free, realloc, usableSize, stats and the wasm imports from JS with no view
  // read after memory.grow(); and a ForeignHeap's live-block table after its memory grew. Before
  // (a detached view's length read as its old one: memory.ts, DETACHED) free() failed with a
  // false InvalidPointerError in most rounds.
  it("every call right in four rounds", () => {
    const r = spawnSync(process.execPath, [join(import.meta.dirname, "workers", "grow-warm.mjs"), "4"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").pop()!)).toEqual({ failures: [] });
  }, 60_000);
});

describe("the views' check: the header words H.VIEW_END_1, _2, _4, _8 (memory/memory.ts)", () => {
  const words = (h: Heap): number[] => [0, 1, 2, 3].map((i) => h.u32[(h.heapBase >>> 2) + H.VIEW_END_1 + i]);
  const expected = (bytes: number): number[] => [1, 2, 4, 8].map((s) => bytes / s - 1);

  it("hold the memory's length as each width's last element index, raised by whichever handle grows it", () => {
    const h = createHeap({ initialBytes: PAGE, memoryKind: "growable-shared" });
    expect(words(h)).toEqual(expected(h.u8.length));
    const other = attachHeap(h.buffer as SharedArrayBuffer);
    const p = other.obj.malloc(3 * PAGE); // grows the memory through the other handle
    expect(p).not.toBe(0);
    expect(words(h)).toEqual(expected((h.buffer as SharedArrayBuffer).byteLength));
    // This handle's views were taken before: its getters see the words and take the new ones.
    h.f64[(p + 3 * PAGE - 8) / 8] = 1.5;
    expect(other.f64[(p + 3 * PAGE - 8) / 8]).toBe(1.5);
    expect(h.u8.length).toBe((h.buffer as SharedArrayBuffer).byteLength);
  });

  it("a heap copied into a shorter buffer (its used part) and attached: the words follow the new memory", () => {
    const h = createHeap({ initialBytes: 16 * PAGE, memoryKind: "resizable" });
    const p = h.obj.malloc(100);
    h.u8[p] = 7;
    const used = Math.ceil((h.stats().peakFootprint + 64) / PAGE) * PAGE;
    expect(used).toBeLessThan(h.u8.length);
    const copy = new SharedArrayBuffer(used, { maxByteLength: 64 * PAGE });
    new Uint8Array(copy).set(h.u8.subarray(0, used));
    const a = attachHeap(copy);
    expect(words(a)).toEqual(expected(used));
    expect(a.u8[p]).toBe(7);
    a.check();
  });

  it("damaged: check() names the word; one raised past the memory only makes reads refresh, never wrong", () => {
    const h = createHeap({ initialBytes: PAGE });
    const p = h.obj.malloc(64);
    h.u32[p >>> 2] = 0x1234;
    const at = (h.heapBase >>> 2) + H.VIEW_END_8;
    const was = h.u32[at];
    h.u32[at] = 0x7fffffff; // a stray write
    for (let i = 0; i < 1000; i++) expect(h.u32[p >>> 2]).toBe(0x1234);
    expect(h.f64.length).toBe(h.u8.length / 8);
    const e = thrown(() => h.check());
    expect(e).toBeInstanceOf(HeapCorruptionError);
    expect((e as HeapCorruptionError).field).toBe("H.VIEW_END_8");
    expect((e as HeapCorruptionError).address).toBe(at * 4);
    h.u32[at] = was;
    h.u32[(h.heapBase >>> 2) + H.VIEW_END_2] = 3; // below the top chunk
    expect((thrown(() => h.check()) as HeapCorruptionError).field).toBe("H.VIEW_END_2");
  });

  it("lowered above the top but below the heap's end: check() names it (another handle's views would pass as current and miss blocks carved up to the end)", () => {
    const h = createHeap({ initialBytes: 4 * PAGE, memoryKind: "growable-shared", threads: true });
    const other = attachHeap(h.buffer as SharedArrayBuffer);
    h.obj.malloc(100);
    const end = h.u32[(h.heapBase >>> 2) + H.END];
    const top = h.stats().footprint + h.heapBase;
    expect(end - top).toBeGreaterThan(PAGE);
    const at = (h.heapBase >>> 2) + H.VIEW_END_1;
    const was = h.u32[at];
    h.u32[at] = top + 4096; // a stray write: above the top chunk, below the end
    const e = thrown(() => other.check());
    expect(e).toBeInstanceOf(HeapCorruptionError);
    expect((e as HeapCorruptionError).field).toBe("H.VIEW_END_1");
    h.u32[at] = was;
    other.check();
    other.detachThread();
  });

  it("every view getter is at most 27 bytes of bytecode and its own optimized code inlines nothing, so V8 inlines it wherever it is read", () => {
    // V8 inlines a function of <= 27 bytes (--max-inlined-bytecode-size-small) at every call, but
    // adds to its size what the function's own optimized code inlined: each getter is optimized
    // here on its own (as a loop that runs unoptimized for a while makes V8 do), then both counted.
    const KEYS = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "f64", "u64", "i64"];
    const script = `import("${join(ROOT, "dist", "index.js").replaceAll("\\\\", "/")}").then((m) => {
      const h = m.createHeap();
      let proto = Object.getPrototypeOf(h);
      while (!Object.getOwnPropertyDescriptor(proto, "u8")) proto = Object.getPrototypeOf(proto);
      for (const k of ${JSON.stringify(KEYS)}) {
        const g = Object.getOwnPropertyDescriptor(proto, k).get;
        %PrepareFunctionForOptimization(g);
        g.call(h); g.call(h);
        %OptimizeFunctionOnNextCall(g);
        g.call(h);
      }
    })`;
    const r = spawnSync(process.execPath, ["--allow-natives-syntax", "--trace-turbo-inlining", "--print-bytecode", "--print-bytecode-filter=get *", "-e", script], { encoding: "utf8", maxBuffer: 1 << 26 });
    expect(r.status, r.stderr).toBe(0);
    const sizes: Record<string, number> = {};
    for (const m of r.stdout.matchAll(/function: get (\w+) \(.*\n(?:.*\n)?Bytecode length: (\d+)/g)) sizes[m[1]] = Number(m[2]);
    for (const k of KEYS) {
      expect(sizes[k], `get ${k}`).toBeDefined();
      expect(sizes[k], `get ${k}: ${sizes[k]} bytes of bytecode`).toBeLessThanOrEqual(27);
    }
    const inlinedIntoGetters = r.stdout.split("\n").filter((l) => /^Inlining .* into .*SharedFunctionInfo get (u8|i8|u16|i16|u32|i32|f32|f64|u64|i64)>/.test(l));
    expect(inlinedIntoGetters).toEqual([]);
  });
});
