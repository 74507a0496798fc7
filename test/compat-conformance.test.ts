// Conformance of the compatibility layer, both ways.
// (1) asMemPool against @thi.ng/malloc's own MemPool: one script of calls runs over both, and
//     every observation a program can make (return values and failure values, typed arrays'
//     types, lengths, offsets and buffers, contents, free's answers, freeAll, release, stats'
//     fields) must match. Where MemPool 6.1.150 has a bug, the script steps around it and a
//     separate test pins the difference (README, "A drop-in for @thi.ng/malloc").
// (2) fromMemPool / fromExports against what README's "Other allocators under the same API"
//     promises: the same family API as a pymalloc heap.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MemPool } from "@thi.ng/malloc";
import { asMemPool, createHeap, fromExports, fromMemPool, InvalidPointerError, type Heap, type ForeignHeap, type HeapOptions } from "../src/index.js";

const MiB = 1 << 20;
type AnyPool = {
  malloc(n: number): number;
  calloc(n: number, fill?: number): number;
  realloc(p: number, n: number): number;
  free(p: unknown): boolean;
  mallocAs(t: string, n: number): any;
  callocAs(t: string, n: number, fill?: number): any;
  reallocArray(a: any, n: number): any;
  freeAll(): void;
  release(): boolean;
  stats(): { free: { count: number; size: number }; used: { count: number; size: number }; top: number; available: number; total: number };
  buf: ArrayBufferLike;
};

const refs: Array<[string, () => AnyPool]> = [
  ["MemPool(ArrayBuffer)", () => new MemPool({ buf: new ArrayBuffer(MiB) }) as unknown as AnyPool],
  ["MemPool(SharedArrayBuffer)", () => new MemPool({ buf: new SharedArrayBuffer(MiB) }) as unknown as AnyPool],
];
const memories: Array<[string, () => Partial<HeapOptions>]> = [
  ["ArrayBuffer", () => ({ memory: new ArrayBuffer(MiB) })],
  ["SharedArrayBuffer", () => ({ memory: new SharedArrayBuffer(MiB) })],
  ["resizable", () => ({ memoryKind: "resizable", maxBytes: 2 * MiB })],
  ["growable-shared", () => ({ memoryKind: "growable-shared", maxBytes: 2 * MiB })],
];
const ours: Array<[string, () => AnyPool]> = (["pymalloc", "malloc"] as const).flatMap((allocator) =>
  memories.map(([kind, mem]): [string, () => AnyPool] => [`asMemPool(${allocator}, ${kind})`, () => asMemPool(createHeap({ allocator, ...mem() })) as unknown as AnyPool]),
);
ours.push(
  ...(["debug", "malloc_debug"] as const).map((allocator): [string, () => AnyPool] => [`asMemPool(${allocator}, ArrayBuffer)`, () => asMemPool(createHeap({ allocator, memory: new ArrayBuffer(MiB) })) as unknown as AnyPool]),
  ...(["obj", "raw"] as const).map((family): [string, () => AnyPool] => [`asMemPool(pymalloc, ArrayBuffer, family ${family})`, () => asMemPool(createHeap({ memory: new ArrayBuffer(MiB) }), { family }) as unknown as AnyPool]),
  ["asMemPool(pymalloc, wasm memory)", () => asMemPool(createHeap({ memoryKind: "wasm", maxBytes: 2 * MiB })) as unknown as AnyPool],
);

const NAMES = ["u8", "u8c", "i8", "u16", "i16", "u32", "i32", "f32", "f64", "i64", "u64"];
const TOO_BIG = 8 * MiB; // more than any pool above can ever hold

/** A value as a program sees it, without the addresses (which differ by design). */
function seen(pool: AnyPool, v: unknown): unknown {
  if (typeof v === "number") return v === 0 ? 0 : "address";
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const a = v as unknown as { constructor: { name: string }; length: number; byteOffset: number; BYTES_PER_ELEMENT: number };
    return { type: a.constructor.name, length: a.length, aligned: a.byteOffset % a.BYTES_PER_ELEMENT === 0, overPool: v.buffer === pool.buf, items: Array.from(v as unknown as ArrayLike<unknown>, String) };
  }
  return v;
}
const bytes = (pool: AnyPool, p: number, n: number): number[] => [...new Uint8Array(pool.buf, p, n)];
const fill = (pool: AnyPool, p: number, n: number, seed: number): void => {
  const u8 = new Uint8Array(pool.buf, p, n);
  for (let i = 0; i < n; i++) u8[i] = (seed * 31 + i) & 255;
};
const pattern = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => (seed * 31 + i) & 255);

/** The script: every observable answer, in order. Steps around MemPool 6.1.150's bugs (tests below). */
function script(pool: AnyPool): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  const rec = (label: string, v: unknown): void => void out.push([label, seen(pool, v)]);
  /** A call that may throw: its error's class is the observation. */
  const call = (label: string, f: () => unknown): void => {
    try {
      rec(label, f());
    } catch (e) {
      rec(label, { threw: (e as Error).constructor.name });
    }
  };

  rec("malloc(0)", pool.malloc(0));
  const p = pool.malloc(40);
  rec("malloc(40)", p);
  rec("8-aligned", p % 8);
  fill(pool, p, 40, 1);
  for (const f of [undefined, 7, 256, -1, 1.5, 255]) {
    const c = f === undefined ? pool.calloc(24) : pool.calloc(24, f);
    rec(`calloc(24, ${f}) contents`, bytes(pool, c, 24));
    rec(`free(calloc ${f})`, pool.free(c));
  }
  rec("calloc(0)", pool.calloc(0));
  rec("realloc(0, 16)", pool.realloc(0, 16));
  rec("realloc(p, 0)", pool.realloc(p, 0));
  rec("realloc(p + 8, 16) (interior)", pool.realloc(p + 8, 16));
  rec("realloc(p, 2**20 * 8) (too big)", pool.realloc(p, TOO_BIG));
  rec("p intact after failed reallocs", bytes(pool, p, 40));
  const other = pool.malloc(8); // p is not the last block
  const q = pool.realloc(p, 4000);
  rec("realloc(p, 4000)", q);
  rec("contents kept", bytes(pool, q, 40));
  if (q !== p && pool instanceof MemPool) pool.free(p); // MemPool 6.1.150 leaves the old block allocated (test below)
  const g = pool.realloc(q, 4100); // grows again: the last block now
  rec("realloc(q, 4100)", g);
  rec("contents kept again", bytes(pool, g, 40));
  if (g !== q && pool instanceof MemPool) pool.free(q);
  rec("free(g)", pool.free(g));
  rec("free(g) again", pool.free(g));
  rec("realloc(g, 64) after free", pool.realloc(g, 64));
  rec("free(other)", pool.free(other));
  for (const bad of [0, -8, 1.5, 2 ** 40, NaN, 123457]) call(`free(${String(bad)})`, () => pool.free(bad));
  rec("free(foreign Float32Array)", pool.free(new Float32Array(4)));
  call("free(foreign DataView)", () => pool.free(new DataView(new ArrayBuffer(8))));

  for (const t of NAMES) {
    const a = pool.mallocAs(t, 5);
    rec(`mallocAs(${t}, 5) shape`, { ...(seen(pool, a) as object), items: undefined });
    rec(`free(mallocAs ${t})`, pool.free(a));
    rec(`free(mallocAs ${t}) again`, pool.free(a));
    if (t === "i64" || t === "u64") continue; // MemPool's callocAs throws for these (test below)
    for (const f of [undefined, 7, -1, 300, 2.5]) {
      const c = f === undefined ? pool.callocAs(t, 3) : pool.callocAs(t, 3, f);
      rec(`callocAs(${t}, 3, ${f})`, c);
      rec(`free(callocAs ${t})`, pool.free(c));
    }
  }
  rec("mallocAs(f32, 0)", pool.mallocAs("f32", 0));
  rec("callocAs(u8, 0)", pool.callocAs("u8", 0));
  rec("mallocAs(f64, too many)", pool.mallocAs("f64", TOO_BIG / 8));
  rec("callocAs(u32, too many)", pool.callocAs("u32", TOO_BIG / 4));
  rec("reallocArray(foreign, 8)", pool.reallocArray(new Float32Array(4), 8));

  const a = pool.mallocAs("f32", 4);
  a.set([1, 2, 3, 4]);
  rec("reallocArray(a, 0)", pool.reallocArray(a, 0));
  rec("reallocArray(a, too many)", pool.reallocArray(a, TOO_BIG / 4));
  rec("a intact", seen(pool, a));
  const a1 = pool.reallocArray(a, 4); // may move (the debug modes always do), as C's realloc may
  rec("reallocArray(a, 4) (same size)", a1);
  const a2 = pool.reallocArray(a1, 2);
  rec("reallocArray(a, 2) (shrink)", a2);
  rec("free(subarray)", pool.free(a2.subarray(1)));
  rec("free(new Float32Array(buf, a2.byteOffset, 4)) (the same block, a view of its own)", pool.free(new Float32Array(pool.buf, a2.byteOffset, 4)));
  rec("free(a2) after", pool.free(a2));
  const b = pool.mallocAs("u8", 16);
  call("free(DataView over a block)", () => pool.free(new DataView(pool.buf, b.byteOffset, 16)));
  rec("free(b) after", pool.free(b));

  rec("malloc(too big)", pool.malloc(TOO_BIG));
  rec("calloc(too big)", pool.calloc(TOO_BIG));

  const s0 = pool.stats();
  rec("stats keys", Object.keys(s0).sort());
  rec("stats.free keys", Object.keys(s0.free).sort());
  rec("stats.used keys", Object.keys(s0.used).sort());
  rec("stats.used empty", s0.used);
  const live = [pool.malloc(16), pool.malloc(600), pool.calloc(24), pool.mallocAs("f64", 3)];
  const s1 = pool.stats();
  rec("stats.used.count", s1.used.count);
  rec("stats.used.size >= requested", s1.used.size >= 16 + 600 + 24 + 24);
  rec("top <= total", s1.top <= s1.total);
  rec("available > 0", s1.available > 0);
  rec("total is buf.byteLength", s1.total === pool.buf.byteLength);
  rec("stats frozen?", Object.isFrozen(s1));
  rec("freeAll()", pool.freeAll());
  rec("stats.used after freeAll", pool.stats().used);
  for (const x of live) rec("free after freeAll", pool.free(x));
  rec("malloc after freeAll", pool.malloc(32));
  rec("release()", pool.release());
  rec("release() again", pool.release());
  let threw = false;
  try {
    pool.malloc(8);
  } catch {
    threw = true;
  }
  rec("malloc after release throws", threw);
  return out;
}

describe("asMemPool against @thi.ng/malloc's MemPool: one script, the same answers", () => {
  const reference = script(refs[0][1]());
  it.each(refs.slice(1))("the reference agrees with itself: %s", (_n, make) => {
    expect(script(make())).toEqual(reference);
  });
  it.each(ours)("%s", (_n, make) => {
    const got = script(make());
    const differ = got.flatMap((g, i) => (JSON.stringify(g) === JSON.stringify(reference[i]) ? [] : [{ ours: g, MemPool: reference[i] }]));
    expect(differ).toEqual([]);
    expect(got.length).toBe(reference.length);
  });
});

type Op =
  | { op: "malloc" | "calloc"; n: number; fill: number }
  | { op: "mallocAs" | "callocAs"; type: string; num: number; fill: number }
  | { op: "grow"; pick: number; by: number }
  | { op: "free" | "freeView"; pick: number }
  | { op: "freeAll" | "stats" };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constantFrom("malloc" as const, "calloc" as const), n: fc.integer({ min: 0, max: 2000 }), fill: fc.integer({ min: -300, max: 300 }) }),
  fc.record({ op: fc.constantFrom("mallocAs" as const, "callocAs" as const), type: fc.constantFrom(...NAMES.filter((t) => t !== "i64" && t !== "u64")), num: fc.integer({ min: 0, max: 300 }), fill: fc.integer({ min: -5, max: 300 }) }),
  fc.record({ op: fc.constant("grow" as const), pick: fc.nat(), by: fc.integer({ min: 0, max: 3000 }) }),
  fc.record({ op: fc.constantFrom("free" as const, "freeView" as const), pick: fc.nat() }),
  fc.record({ op: fc.constantFrom("freeAll" as const, "stats" as const) }),
);

/** Runs ops over a pool: what the program sees at each step, and every live block's bytes. */
function replay(pool: AnyPool, ops: Op[]): unknown[] {
  const out: unknown[] = [];
  const live: Array<{ p: number; n: number; view?: { constructor: new (b: ArrayBufferLike, o: number, l: number) => unknown; length: number } }> = [];
  let seed = 0;
  for (const o of ops) {
    if (o.op === "malloc" || o.op === "calloc") {
      const p = o.op === "malloc" ? pool.malloc(o.n) : pool.calloc(o.n, o.fill);
      out.push([o.op, seen(pool, p), p === 0 ? [] : bytes(pool, p, o.n).filter((_, i) => o.op === "calloc" || i < 0)]);
      if (p !== 0) {
        fill(pool, p, o.n, ++seed);
        live.push({ p, n: o.n });
      }
    } else if (o.op === "mallocAs" || o.op === "callocAs") {
      const a = o.op === "mallocAs" ? pool.mallocAs(o.type, o.num) : pool.callocAs(o.type, o.num, o.fill);
      const shown = seen(pool, a) as { items?: unknown };
      out.push([o.op, o.op === "mallocAs" && a !== undefined ? { ...shown, items: undefined } : shown]);
      if (a !== undefined) {
        fill(pool, a.byteOffset, a.byteLength, ++seed);
        live.push({ p: a.byteOffset, n: a.byteLength, view: a });
      }
    } else if (o.op === "grow" && live.length > 0) {
      const b = live[o.pick % live.length];
      if (b.view) {
        const per = b.n / b.view.length || 1;
        const num = b.view.length + Math.ceil(o.by / per);
        const a = pool.reallocArray(b.view, num);
        out.push(["reallocArray", a === undefined ? undefined : { ...(seen(pool, a) as object), items: undefined }, a === undefined ? [] : bytes(pool, a.byteOffset, b.n)]);
        if (a !== undefined) {
          if (a.byteOffset !== b.p && pool instanceof MemPool) pool.free(b.p); // MemPool leaves the old block allocated
          Object.assign(b, { p: a.byteOffset, view: a });
          fill(pool, b.p, (b.n = a.byteLength), ++seed);
        }
      } else {
        const q = pool.realloc(b.p, b.n + o.by);
        out.push(["realloc", seen(pool, q), q === 0 ? [] : bytes(pool, q, b.n)]);
        if (q !== 0) {
          if (q !== b.p && pool instanceof MemPool) pool.free(b.p);
          b.p = q;
          fill(pool, b.p, (b.n += o.by), ++seed);
        }
      }
    } else if ((o.op === "free" || o.op === "freeView") && live.length > 0) {
      const [b] = live.splice(o.pick % live.length, 1);
      const arg = o.op === "freeView" && b.view ? b.view : b.p;
      out.push(["free", pool.free(arg), pool.free(arg)]);
    } else if (o.op === "freeAll") {
      pool.freeAll();
      out.push(["freeAll", pool.stats().used, live.map((b) => pool.free(b.p))]);
      live.length = 0;
    } else if (o.op === "stats") {
      const s = pool.stats();
      out.push(["stats", s.used.count, s.top <= s.total, s.total === pool.buf.byteLength, s.available >= s.free.size]);
    }
    out.push(["contents", live.map((b) => bytes(pool, b.p, b.n))]);
  }
  return out;
}

describe("asMemPool against MemPool: random sequences", () => {
  it.each(ours)("%s", (_n, make) => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
        expect(replay(make(), ops)).toEqual(replay(refs[0][1](), ops));
      }),
      { numRuns: 40 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// (2) The family API over other allocators, as on a pymalloc heap.

const DLMALLOC = new WebAssembly.Module(readFileSync(join(import.meta.dirname, "..", "wasm/dlmalloc/dlmalloc.wasm")));
function dlmalloc(): WebAssembly.Exports & { memory: WebAssembly.Memory } {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 4096 });
  return { ...new WebAssembly.Instance(DLMALLOC, { env: { memory } }).exports, memory };
}
type AnyHeap = Heap | ForeignHeap;
interface Subject {
  name: string;
  make: () => AnyHeap;
  /** The MemPool underneath, to see that it keeps no block we gave back. */
  pool?: MemPool;
}
const foreign: Array<() => Subject> = [
  () => ({ name: "pymalloc", make: () => createHeap({ allocator: "pymalloc" }) }),
  () => ({ name: "pymalloc debug", make: () => createHeap({ allocator: "debug" }) }),
  ...(["malloc", "debug"] as const).flatMap((allocator) => [
    () => ({ name: `fromExports(dlmalloc) ${allocator}`, make: () => fromExports(dlmalloc(), { allocator }) }),
    () => ({ name: `fromExports(dlmalloc) ${allocator} trackBlocks`, make: () => fromExports(dlmalloc(), { allocator, trackBlocks: true }) }),
    (): Subject => {
      const s: Subject = { name: `fromMemPool ${allocator}`, make: () => fromMemPool((s.pool = new MemPool({ buf: new ArrayBuffer(4 * MiB) })), { allocator }) };
      return s;
    },
    (): Subject => {
      const s: Subject = { name: `fromMemPool(SharedArrayBuffer, align 16) ${allocator}`, make: () => fromMemPool((s.pool = new MemPool({ buf: new SharedArrayBuffer(4 * MiB), align: 16 })), { allocator }) };
      return s;
    },
  ]),
];

describe.each(foreign.map((f) => [f().name, f] as const))("the family API over %s", (_name, subject) => {
  it("C's edge cases: malloc(0) unique, realloc(0, n) is malloc, realloc(p, 0) resizes, free(0) does nothing, impossible requests are 0", () => {
    const h = subject().make();
    for (const f of [h.raw, h.mem, h.obj]) {
      const a = f.malloc(0);
      const b = f.malloc(0);
      expect(a).not.toBe(0);
      expect(b).not.toBe(a);
      const c = f.realloc(0, 24);
      expect(c).not.toBe(0);
      h.u8.fill(9, c, c + 24);
      const d = f.realloc(c, 0);
      expect(d).not.toBe(0); // resized, not freed
      f.free(0);
      expect(f.calloc(2 ** 16, 2 ** 16 + 1)).toBe(0); // overflow of nelem * elsize
      expect(f.malloc(2 ** 32 - 8)).toBe(0);
      expect(f.malloc(TOO_BIG * 1024)).toBe(0);
      for (const p of [a, b, d]) f.free(p);
    }
    h.check();
  });

  it("bad input is a typed error and the heap is unchanged", () => {
    const h = subject().make();
    const p = h.mem.malloc(32);
    expect(() => h.mem.malloc(-1)).toThrow(RangeError);
    expect(() => h.mem.malloc(1.5)).toThrow(RangeError);
    expect(() => h.mem.malloc(NaN)).toThrow(RangeError);
    expect(() => h.mem.malloc("8" as never)).toThrow(TypeError);
    expect(() => h.mem.calloc(-1, 4)).toThrow(RangeError);
    expect(() => h.mem.realloc(p, -4)).toThrow(RangeError);
    expect(() => h.mem.alignedAlloc(3, 8)).toThrow(RangeError);
    expect(() => h.usableSize(-8)).toThrow(InvalidPointerError);
    expect(() => h.usableSize(1.5)).toThrow(InvalidPointerError);
    h.mem.free(p);
    h.check();
  });

  it("alignedAlloc: up to the heap's alignment always; above it a multiple of the alignment, or 0", () => {
    const h = subject().make();
    for (const a of [1, 2, 4, 8, 16, 64, 4096]) {
      const p = h.mem.alignedAlloc(a, 100);
      if (a <= h.alignment) expect(p).not.toBe(0);
      if (p !== 0) {
        expect(p % a).toBe(0);
        expect(h.usableSize(p)).toBeGreaterThanOrEqual(100);
        h.mem.free(p);
      }
    }
    h.check();
  });

  it("typed views: mallocAs, callocAs (zeroed over reused bytes), reallocAs (elements kept), freeAs, viewAt", () => {
    const h = subject().make();
    const junk = h.mem.malloc(800);
    h.u8.fill(0xee, junk, junk + 800);
    h.mem.free(junk);
    const z = h.mem.callocAs(Float64Array, 100)!;
    expect(z).toBeInstanceOf(Float64Array);
    expect(z.every((x) => x === 0)).toBe(true);
    z.set([1, 2, 3]);
    const y = h.mem.reallocAs(z, 5000)!;
    expect([...y.subarray(0, 3)]).toEqual([1, 2, 3]);
    expect(y.length).toBe(5000);
    expect(y.buffer).toBe(h.buffer);
    const w = h.mem.viewAt(Float64Array, y.byteOffset, 3);
    expect([...w]).toEqual([1, 2, 3]);
    h.mem.freeAs(y);
    const u = h.raw.mallocAs(Uint16Array, 7)!;
    expect(u.length).toBe(7);
    h.raw.freeAs(u);
    h.check();
  });

  it("random traffic: every byte of usableSize(p) is the block's own, contents survive realloc, nothing leaks", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("malloc", "calloc", "realloc", "free"), fc.nat(3000), fc.nat()), { minLength: 1, maxLength: 80 }),
        (ops) => {
          const s = subject();
          const h = s.make();
          const before = s.pool?.stats().used.count;
          const live: Array<{ p: number; n: number; tag: number }> = [];
          let tag = 0;
          const stamp = (b: { p: number; n: number; tag: number }): void => {
            b.n = h.usableSize(b.p);
            h.u8.fill(b.tag, b.p, b.p + b.n); // every usable byte is ours to write
          };
          const verify = (): void => {
            for (const b of live) {
              const got = h.u8.subarray(b.p, b.p + b.n);
              if (!got.every((x) => x === b.tag)) throw new Error(`block ${b.p} (tag ${b.tag}, ${b.n} bytes) was overwritten`);
            }
          };
          for (const [op, size, pick] of ops) {
            const f = h.mem;
            if (op === "malloc" || op === "calloc" || live.length === 0) {
              const p = op === "calloc" ? f.calloc(1, size) : f.malloc(size);
              if (p === 0) continue;
              if (op === "calloc") expect(h.u8.subarray(p, p + size).every((x) => x === 0)).toBe(true);
              const b = { p, n: 0, tag: (++tag % 254) + 1 };
              stamp(b);
              live.push(b);
            } else if (op === "realloc") {
              const b = live[pick % live.length];
              const q = f.realloc(b.p, size);
              if (q === 0) continue;
              const kept = Math.min(size, b.n);
              expect(h.u8.subarray(q, q + kept).every((x) => x === b.tag)).toBe(true);
              b.p = q;
              stamp(b);
            } else {
              const [b] = live.splice(pick % live.length, 1);
              f.free(b.p);
            }
            verify();
          }
          h.check();
          for (const b of live) h.mem.free(b.p);
          if ("drainQuarantine" in h) h.drainQuarantine();
          if (s.pool) expect(s.pool.stats().used.count).toBe(before);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("fromExports: views current after the module grows its memory", () => {
  it.each(["malloc", "debug"] as const)("%s: a block past the old end is reachable through every view at once", (allocator) => {
    const x = dlmalloc();
    const h = fromExports(x, { allocator });
    const small = h.mem.malloc(16);
    const n = 16 * MiB;
    const p = h.mem.malloc(n);
    expect(p).not.toBe(0);
    expect(h.u8.length).toBe(x.memory.buffer.byteLength);
    h.f64[(p + n - 8) >>> 3] = 2.5;
    expect(new DataView(x.memory.buffer).getFloat64(p + n - 8, true)).toBe(2.5);
    expect(h.usableSize(p)).toBeGreaterThanOrEqual(n);
    const q = h.mem.realloc(small, 8 * MiB); // grows again from realloc
    expect(q).not.toBe(0);
    expect(h.u8.length).toBe(x.memory.buffer.byteLength);
    h.mem.free(p);
    h.mem.free(q);
    h.check();
  });
});

describe("fromMemPool over MemPool 6.1.150's realloc", () => {
  it("a realloc that moves the block gives the old one back to the MemPool (MemPool's own realloc kept it allocated)", () => {
    const pool = new MemPool({ buf: new ArrayBuffer(MiB) });
    const h = fromMemPool(pool);
    const p = h.mem.malloc(40);
    const other = h.mem.malloc(8); // p is not the last block: it has to move
    h.u8.fill(3, p, p + 40);
    const q = h.mem.realloc(p, 400);
    expect(q).not.toBe(p);
    expect([...h.u8.subarray(q, q + 40)]).toEqual(new Array(40).fill(3));
    expect(pool.stats().used.count).toBe(2);
    h.mem.free(q);
    h.mem.free(other);
    expect(pool.stats().used).toEqual({ count: 0, size: 0 });
  });

  it("a shrink of the last block: usableSize stays the block's own (MemPool lowered its top inside it, the next malloc overlapped)", () => {
    const pool = new MemPool({ buf: new ArrayBuffer(MiB) });
    const h = fromMemPool(pool);
    const p = h.mem.realloc(h.mem.malloc(40), 32);
    const q = h.mem.malloc(8);
    h.u8.fill(1, q, q + h.usableSize(q));
    h.u8.fill(0xff, p, p + h.usableSize(p)); // every usable byte of p
    expect(p + h.usableSize(p) <= q - 8 || q + h.usableSize(q) <= p - 8).toBe(true);
    expect(h.u8.subarray(q, q + h.usableSize(q)).every((x) => x === 1)).toBe(true);
    h.mem.free(q);
    h.mem.free(p);
    expect(pool.stats().used).toEqual({ count: 0, size: 0 });
  });

  it("a realloc that cannot be served returns 0 and keeps the block", () => {
    const pool = new MemPool({ buf: new ArrayBuffer(1 << 16) });
    const h = fromMemPool(pool);
    const p = h.mem.malloc(100);
    h.mem.malloc(8);
    h.u8.fill(6, p, p + 100);
    expect(h.mem.realloc(p, 1 << 17)).toBe(0);
    expect(h.u8.subarray(p, p + 100).every((x) => x === 6)).toBe(true);
    expect(h.usableSize(p)).toBeGreaterThanOrEqual(100);
    h.mem.free(p);
  });
});

describe("where asMemPool differs from MemPool 6.1.150 on purpose (README, asMemPool)", () => {
  const pair = (): [AnyPool, AnyPool] => [refs[0][1](), asMemPool(createHeap({ memory: new ArrayBuffer(MiB) })) as unknown as AnyPool];

  it("sizes that are no byte count: MemPool returns 0 for negatives and a block for the rest; ours are typed errors", () => {
    const [m, o] = pair();
    expect(m.malloc(-1)).toBe(0);
    expect(() => o.malloc(-1)).toThrow(RangeError);
    for (const bad of [1.5, NaN, Infinity]) {
      expect(m.malloc(bad)).not.toBe(0); // MemPool: a block (of 0 bytes for NaN and Infinity)
      expect(() => o.malloc(bad)).toThrow(RangeError);
    }
    expect(m.malloc(undefined as never)).not.toBe(0);
    expect(() => o.malloc(undefined as never)).toThrow(TypeError);
  });

  it("requests of 4 GiB and more: MemPool wraps its arithmetic and returns a small block; ours return 0", () => {
    const [m, o] = pair();
    expect(m.malloc(2 ** 32)).not.toBe(0);
    expect(o.malloc(2 ** 32)).toBe(0);
    expect(o.malloc(2 ** 40)).toBe(0);
  });

  it("a realloc that moves frees the old block (MemPool keeps it allocated: its free answers true, ours false)", () => {
    for (const pool of pair()) {
      const p = pool.malloc(40);
      pool.malloc(8);
      const q = pool.realloc(p, 400);
      expect(q).not.toBe(p);
      expect(pool.free(p)).toBe(pool instanceof MemPool);
      expect(pool.stats().used.count).toBe(2);
    }
  });

  it("callocAs of i64/u64: MemPool throws (after taking the block); ours fill with BigInts", () => {
    const [m, o] = pair();
    expect(() => m.callocAs("i64", 2)).toThrow(TypeError);
    expect(m.stats().used.count).toBe(1);
    expect([...o.callocAs("u64", 2, 3)]).toEqual([3n, 3n]);
    expect([...o.callocAs("i64", 2)]).toEqual([0n, 0n]);
  });

  it("free of something that is neither a number nor a view: MemPool false (TypeError for null), ours TypeError", () => {
    const [m, o] = pair();
    expect(m.free("16")).toBe(false);
    expect(() => m.free(null)).toThrow(TypeError);
    for (const bad of ["16", {}, null, undefined]) expect(() => o.free(bad)).toThrow(TypeError);
  });

  it("stats: used.size counts MemPool's 8-byte headers and padding, ours usable bytes; end is the growth limit", () => {
    const [m, o] = pair();
    m.malloc(40);
    o.malloc(40);
    expect(m.stats().used).toEqual({ count: 1, size: 48 });
    expect(o.stats().used).toEqual({ count: 1, size: 40 });
    const heap = createHeap({ memoryKind: "resizable", initialBytes: MiB, maxBytes: 4 * MiB });
    const g = asMemPool(heap);
    expect(g.end).toBe(4 * MiB);
    expect(g.stats().total).toBe(heap.buffer.byteLength);
    expect(g.stats().available).toBeGreaterThan(g.stats().total - g.stats().top);
  });

  it("after release(): MemPool drops buf/u8/u32 (undefined); ours keep the heap's, and every method but release throws", () => {
    const [m, o] = pair();
    m.release();
    o.release();
    expect(m.buf).toBeUndefined();
    expect(o.buf).toBeDefined();
    for (const f of [() => o.malloc(8), () => o.free(16), () => o.stats(), () => o.freeAll(), () => o.realloc(16, 8)]) expect(f).toThrow(/released/);
    expect(o.release()).toBe(true);
  });
});
