// The compatibility layer: one family contract run unchanged over pymalloc in every mode and over
// every adapter (WebAssembly dlmalloc, @thi.ng/malloc, plain functions), the debug hooks over a
// foreign allocator, and pymalloc as the allocator of a real C program compiled to WebAssembly.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MemPool } from "@thi.ng/malloc";
import {
  ALLOCATOR_MODES,
  createHeap,
  fromExports,
  fromFunctions,
  fromMemPool,
  HeapCorruptionError,
  instantiateWithHeap,
  InvalidPointerError,
  PymallocError,
  MemoryCorruptionError,
  type AdapterOptions,
  type Family,
  type Heap,
  type ForeignHeap,
} from "../src/index.js";
import { caught, thrownBy, xorshift } from "./helpers.js";

const ROOT = join(import.meta.dirname, "..");
const DLMALLOC = new WebAssembly.Module(readFileSync(join(ROOT, "wasm/dlmalloc/dlmalloc.wasm")));
const PROGRAM = new WebAssembly.Module(readFileSync(join(ROOT, "wasm/program/program.wasm")));
const PROGRAM_OFF_BY_ONE = new WebAssembly.Module(readFileSync(join(ROOT, "wasm/program/program-offbyone.wasm")));

/** A fresh dlmalloc module instance on its own memory. */
function dlmallocExports(): WebAssembly.Exports & { memory: WebAssembly.Memory } {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 4096 });
  const inst = new WebAssembly.Instance(DLMALLOC, { env: { memory } });
  return { ...inst.exports, memory };
}
const pool = (): MemPool => new MemPool({ buf: new ArrayBuffer(8 << 20), align: 16 });

type AnyHeap = Heap | ForeignHeap;
interface Subject {
  name: string;
  make: () => AnyHeap;
  alignment: number;
  debug: boolean;
  /** Can it list its live blocks (pymalloc always; adapters when they track blocks)? */
  walks: boolean;
}

const subjects: Subject[] = [
  ...ALLOCATOR_MODES.map((mode) => ({
    name: `pymalloc "${mode}"`,
    make: () => createHeap({ allocator: mode }),
    alignment: 8, // the default; blocks over 512 bytes are 16-byte aligned
    debug: mode.includes("debug"),
    walks: true,
  })),
  ...(["malloc", "debug"] as const).flatMap((allocator): Subject[] => {
    const o: AdapterOptions = { allocator };
    const debug = allocator === "debug";
    return [
      { name: `fromExports(dlmalloc.wasm) ${allocator}`, make: () => fromExports(dlmallocExports(), { ...o, alignment: 8 }), alignment: 8, debug, walks: debug },
      { name: `fromExports(Emscripten names) ${allocator}`, make: () => emscriptenStyle(o), alignment: 8, debug, walks: debug },
      { name: `fromMemPool ${allocator}`, make: () => fromMemPool(pool(), o), alignment: 16, debug, walks: debug },
      {
        name: `fromFunctions(malloc/free only) ${allocator}`,
        make: () => {
          const p = pool();
          return fromFunctions({ malloc: (n) => p.malloc(n), free: (q) => void p.free(q), memory: p.buf as ArrayBuffer, alignment: 16 }, o);
        },
        alignment: 16,
        debug,
        walks: true, // no usable size: the adapter tracks blocks itself
      },
    ];
  }),
];

function emscriptenStyle(o: AdapterOptions): ForeignHeap {
  const x = dlmallocExports();
  return fromExports({ _malloc: x.malloc, _free: x.free, _realloc: x.realloc, memory: x.memory }, o);
}

const families = (h: AnyHeap): [string, Family][] => [
  ["raw", h.raw],
  ["mem", h.mem],
  ["obj", h.obj],
];

/** xorshift32, as in the C program. */
const rng = xorshift;

describe.each(subjects)("family contract: $name", (s) => {
  const SIZES = [0, 1, 7, 8, 15, 16, 17, 100, 511, 512, 513, 4000, 70_000];

  it("malloc: aligned, non-overlapping blocks with at least the requested usable size", () => {
    const h = s.make();
    for (const [, f] of families(h)) {
      const blocks = SIZES.map((n, i) => {
        const p = f.malloc(n);
        expect(p).not.toBe(0);
        expect(p % s.alignment).toBe(0);
        expect(h.usableSize(p)).toBeGreaterThanOrEqual(n);
        h.u8.fill(i + 1, p, p + n);
        return p;
      });
      blocks.forEach((p, i) => {
        for (let k = 0; k < SIZES[i]; k++) if (h.u8[p + k] !== i + 1) throw new Error(`block ${i} (${SIZES[i]} B) overwritten at +${k}`);
      });
      for (const p of blocks) f.free(p);
    }
    h.check();
  });

  it("calloc zeroes reused memory; realloc keeps contents growing and shrinking", () => {
    const h = s.make();
    for (const [, f] of families(h)) {
      const dirty = f.malloc(300);
      h.u8.fill(0xab, dirty, dirty + 300);
      f.free(dirty);
      if ("drainQuarantine" in h) h.drainQuarantine();
      else h.debug?.drainQuarantine();
      const z = f.calloc(30, 10);
      for (let k = 0; k < 300; k++) expect(h.u8[z + k]).toBe(0);
      f.free(z);
      let p = f.realloc(0, 10); // realloc(NULL, n) is malloc
      for (let k = 0; k < 10; k++) h.u8[p + k] = k + 1;
      let keep = 10; // bytes that survived every resize so far
      for (const n of [40, 600, 5000, 3, 100_000, 1]) {
        keep = Math.min(keep, n);
        p = f.realloc(p, n);
        expect(p).not.toBe(0);
        expect(p % s.alignment).toBe(0);
        for (let k = 0; k < keep; k++) expect(h.u8[p + k]).toBe(k + 1);
      }
      f.free(p);
      f.free(0); // free(NULL) does nothing
    }
    h.check();
  });

  it("an impossible request returns 0 and leaves the heap usable", () => {
    const h = s.make();
    for (const [, f] of families(h)) {
      expect(f.malloc(0xffff_fff0)).toBe(0);
      expect(f.calloc(0x10000, 0x10001)).toBe(0);
      const p = f.malloc(64);
      expect(f.realloc(p, 0xffff_fff0)).toBe(0);
      expect(h.usableSize(p)).toBeGreaterThanOrEqual(64); // the old block survives a failed realloc
      f.free(p);
    }
    h.check();
  });

  it("bad arguments are typed errors", () => {
    const h = s.make();
    expect(() => h.mem.malloc(-1)).toThrow(RangeError);
    expect(() => h.mem.malloc(1.5)).toThrow(RangeError);
    expect(() => h.mem.malloc("8" as unknown as number)).toThrow(TypeError);
    expect(() => h.mem.calloc(-1, 4)).toThrow(RangeError);
    expect(() => h.mem.free(-16)).toThrow(InvalidPointerError);
    expect(() => h.mem.realloc(2 ** 40, 8)).toThrow(InvalidPointerError);
    expect(() => h.usableSize(0)).toThrow(InvalidPointerError);
  });

  it("random traffic over all three families keeps every block's contents", () => {
    const h = s.make();
    const next = rng(12345);
    const fams = families(h).map(([, f]) => f);
    const live: { f: Family; p: number; n: number; v: number }[] = [];
    const verify = (b: (typeof live)[number]): void => {
      const u8 = h.u8;
      for (let k = 0; k < b.n; k++) if (u8[b.p + k] !== b.v) throw new Error(`block ${b.p} changed at +${k}`);
    };
    for (let i = 0; i < 3000; i++) {
      const r = next();
      if (live.length > 0 && r % 3 === 0) {
        const b = live.splice(r % live.length, 1)[0];
        verify(b);
        b.f.free(b.p);
      } else if (live.length > 0 && r % 7 === 1) {
        const b = live[r % live.length];
        verify(b);
        const n = (r >>> 8) % 2000;
        const q = b.f.realloc(b.p, n);
        expect(q).not.toBe(0);
        b.p = q;
        b.n = Math.min(b.n, n);
        verify(b);
        b.n = n;
        h.u8.fill(b.v, q, q + n);
      } else {
        const f = fams[r % 3];
        const n = r & 0x100 ? (r >>> 9) % 600 : (r >>> 9) % 9000;
        const p = f.malloc(n);
        expect(p).not.toBe(0);
        const b = { f, p, n, v: i & 0xff };
        h.u8.fill(b.v, p, p + n);
        live.push(b);
      }
    }
    if (s.walks) {
      let n = 0;
      h.walk(() => n++);
      expect(n).toBe(live.length);
    }
    for (const b of live) {
      verify(b);
      b.f.free(b.p);
    }
    h.check();
    if (s.walks) expect(h.leaks().totalBlocks).toBe(0);
  });

});

describe.each(subjects.filter((s) => s.debug))("debug hooks over $name", (s) => {
  it("overflow, underflow, double free, family mismatch and foreign pointers are reported", () => {
    const h = s.make();
    const p = h.mem.malloc(10);
    h.u8[p + 10] = 0x41;
    const over = caught(() => h.mem.free(p));
    expect(over.report.kind).toBe("overflow");
    expect(over.report.damaged[0]).toMatchObject({ offset: 10, value: 0x41 });
    const q = h.obj.malloc(24);
    h.u8[q - 1] = 0;
    expect(caught(() => h.obj.free(q)).report.kind).toBe("underflow");
    const r = h.raw.malloc(8);
    h.raw.free(r);
    expect(caught(() => h.raw.free(r)).report.kind).toBe("double-free");
    const m = h.obj.malloc(32);
    const mis = caught(() => h.mem.free(m));
    expect(mis.report.kind).toBe("api-mismatch");
    expect(mis.message).toMatch(/allocated through o, released through m/);
    expect(caught(() => h.mem.free(m + 64 * s.alignment)).report.kind).toBe("invalid-pointer");
  });
});

describe("release adapters", () => {
  it("with tracked blocks, a foreign pointer or a double free is refused before the foreign allocator sees it", () => {
    const h = fromExports(dlmallocExports(), { trackBlocks: true });
    const p = h.mem.malloc(40);
    expect(() => h.mem.free(p + 8)).toThrow(InvalidPointerError);
    h.mem.free(p);
    expect(() => h.mem.free(p)).toThrow(/not a live block/);
    h.check();
  });

  it("MemPool's own refusal of an unknown pointer becomes an InvalidPointerError", () => {
    const h = fromMemPool(pool());
    expect(() => h.raw.free(4096)).toThrow(InvalidPointerError);
  });

  it("views follow a WebAssembly module's memory when its malloc grows it", () => {
    const x = dlmallocExports();
    const h = fromExports(x);
    const before = h.u8.length;
    const p = h.raw.malloc(24 << 20);
    expect(p).not.toBe(0);
    expect(h.u8.length).toBeGreaterThan(before);
    expect(h.buffer).toBe(x.memory.buffer);
    h.u8[p + (24 << 20) - 1] = 7;
    expect(new Uint8Array(x.memory.buffer)[p + (24 << 20) - 1]).toBe(7);
    h.raw.free(p);
  });

  it("missing pieces are TypeErrors", () => {
    expect(() => fromExports({ malloc: () => 0, free: () => {} })).toThrow(/WebAssembly.Memory/);
    expect(() => fromExports({ memory: new WebAssembly.Memory({ initial: 1 }), free: () => {} })).toThrow(/malloc or _malloc/);
    expect(() => fromFunctions({ malloc: () => 0, free: () => {} })).toThrow(/memory/);
    expect(() => fromMemPool({} as never)).toThrow(TypeError);
    const pool = new MemPool({ size: 1 << 16 });
    expect(() => fromMemPool({ malloc: pool.malloc.bind(pool), free: pool.free.bind(pool), buf: pool.buf } as never), "a pool without realloc").toThrow(TypeError);
  });

  it("alignment: a number, a power of two from 4 to 2^30 (TypeError / RangeError otherwise); a block off it is refused, given back, never handed on (mallocAs took V8's bare RangeError and kept the block)", () => {
    const memory = new ArrayBuffer(1 << 16);
    for (const alignment of [NaN, 4.5, 2 ** 32, Infinity, 2, 24]) expect(() => fromFunctions({ malloc: () => 64, free: () => {}, memory, alignment }), String(alignment)).toThrow(RangeError);
    expect(() => fromFunctions({ malloc: () => 64, free: () => {}, memory, alignment: "16" as never })).toThrow(TypeError);
    // An allocator that hands out 4-aligned blocks, declared 8-aligned (the default).
    let next = 0x884;
    const live = new Set<number>();
    const h = fromFunctions({ malloc: () => (live.add(next), (next += 100) - 100), free: (p) => void live.delete(p), memory });
    const before = live.size; // the adapter's own table of live blocks
    const e = thrownBy(() => h.mem.mallocAs(Float64Array, 4));
    expect(e).toBeInstanceOf(PymallocError);
    expect(String((e as Error).message)).toMatch(/not 8-byte aligned/);
    expect(live.size, "the block went back").toBe(before);
    expect(() => fromExports(dlmallocExports(), { allocator: "pymalloc" as never })).toThrow(RangeError);
  });
});

/** The C program's checksum, recomputed in JS with a Map and an array. */
function mirror(seed: number, ops: number): { result: number; held: number } {
  const next = rng(seed);
  const table = new Map<string, number>();
  const queue: string[] = [];
  let hits = 0;
  let sum = 0;
  let popped = 0;
  for (let i = 0; i < ops; i++) {
    const r = next();
    const op = r % 10;
    const key = "k" + ((r >>> 8) % (Math.floor(ops / 4) + 1));
    if (op < 4) table.set(key, table.has(key) ? (table.get(key)! + i) >>> 0 : i);
    else if (op < 6) table.delete(key);
    else if (op < 8) {
      if (table.has(key)) {
        hits++;
        sum = (sum + table.get(key)!) >>> 0;
      }
    } else if (op === 8 || queue.length === 0) queue.push(key);
    else popped += queue.shift()!.length;
  }
  const result = (Math.imul(table.size, 31) + Math.imul(hits, 7) + sum + Math.imul(popped, 3) + queue.length) >>> 0;
  return { result, held: 1 + 2 * table.size + 2 * queue.length };
}

describe("pymalloc as the allocator of a C program compiled to WebAssembly", () => {
  type Program = { run(seed: number, ops: number): number; held(): number; __heap_base: WebAssembly.Global };

  it.each(["pymalloc", "malloc", "debug", "pymalloc_debug"] as const)("allocator %s: results match, nothing leaks, static data untouched", async (allocator) => {
    const { instance, heap } = await instantiateWithHeap(PROGRAM, { allocator, traceAllocations: false });
    const x = instance.exports as unknown as Program;
    expect(heap.heapBase).toBeGreaterThanOrEqual(x.__heap_base.value as number);
    const inUse = heap.stats().bytesInUse;
    for (const [seed, ops] of [
      [1, 5000],
      [42, 40_000],
    ]) {
      const want = mirror(seed, ops);
      expect(x.run(seed, ops) >>> 0).toBe(want.result);
      expect(x.held()).toBe(want.held);
      heap.check();
    }
    heap.debug?.drainQuarantine();
    expect(heap.stats().bytesInUse).toBe(inUse);
    expect(heap.leaks().totalBlocks).toBe(0);
  });

  it("heap.wasmImports() on a heap created by hand, with the raw family", () => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 1024 });
    // __heap_base of program.wasm, read from a throwaway instance.
    const probe = new WebAssembly.Instance(PROGRAM, { env: { memory: new WebAssembly.Memory({ initial: 16 }), malloc: () => 0, free() {}, calloc: () => 0, realloc: () => 0 } });
    const heapBase = (probe.exports.__heap_base as WebAssembly.Global).value as number;
    const heap = createHeap({ memory, heapBase });
    const imports = heap.wasmImports({ family: "raw" });
    expect(imports.memory).toBe(memory);
    const x = new WebAssembly.Instance(PROGRAM, { env: imports }).exports as unknown as Program;
    expect(x.run(7, 20_000) >>> 0).toBe(mirror(7, 20_000).result);
    heap.check();
    expect(() => createHeap({ memoryKind: "resizable" }).wasmImports()).toThrow(/WebAssembly.Memory/);
    expect(() => heap.wasmImports({ family: "big" as never })).toThrow(RangeError);
  });

  it("the off-by-one variant is caught by the debug hooks, with the report naming the byte", async () => {
    const { instance, heap } = await instantiateWithHeap(PROGRAM_OFF_BY_ONE, { allocator: "debug", traceAllocations: false });
    const x = instance.exports as unknown as Program;
    let err: unknown;
    try {
      x.run(1, 5000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MemoryCorruptionError);
    const rep = (err as MemoryCorruptionError).report;
    expect(rep.kind).toBe("overflow");
    expect(rep.allocatedBy).toBe("m");
    // dup("k123") asked for 4 bytes and wrote the NUL at +4.
    expect(rep.damaged[0]).toMatchObject({ offset: rep.requestedSize, value: 0 });
    expect((err as Error).message).toMatch(/overflow/);
  });

  it("the module must not allocate before its heap exists; a module without __heap_base needs heapBase", async () => {
    // dlmalloc.wasm carries its own malloc: refused (test/wasm-client.test.ts has the details).
    await expect(instantiateWithHeap(DLMALLOC, { heapBase: undefined })).rejects.toThrow(/carries its own malloc/);
    const noBase = new WebAssembly.Module(readFileSync(join(ROOT, "wasm/program/program.wasm")));
    // (Above its __heap_base, 0x10410: below it, the heap lay under its C stack; c-misuse-hunt.test.ts.)
    await expect(instantiateWithHeap(noBase, { heapBase: 1 << 17 })).resolves.toMatchObject({ heap: { heapBase: 1 << 17 } });
  });
});

describe("a foreign allocator that returns what it should not", () => {
  const memory = () => new WebAssembly.Memory({ initial: 4, maximum: 100 }); // 262,144 bytes
  const bumper = () => {
    let nx = 1024;
    return (n: number) => {
      const p = nx;
      nx += Math.max(64, (n + 15) & ~15);
      return p;
    };
  };

  it("an address for pymalloc's own live-block table outside the memory: a PymallocError at creation, not a search that never ends", () => {
    for (const bad of [-16, 10 * 65536]) {
      let calls = 0;
      const err = thrownBy(() => fromFunctions({ memory: memory(), malloc: () => (++calls === 1 ? 1024 : bad), free: () => {} }));
      expect(err).toBeInstanceOf(PymallocError);
      expect((err as Error).message).toMatch(/live-block table.*past the end of its memory/);
    }
  });

  it("a block outside the memory, a misaligned aligned_alloc, a usable size past the memory: PymallocError naming the address, nothing handed on", () => {
    const bump = bumper();
    let mode = "good";
    const h = fromFunctions({
      memory: memory(),
      free: () => {},
      malloc: (n) => (mode === "good" ? bump(n) : mode === "neg" ? -16 : mode === "past" ? 655360 : 262136),
      realloc: () => -8,
      memalign: () => 1032,
    });
    for (const m of ["neg", "past", "end"]) {
      mode = m;
      const err = thrownBy(() => h.mem.malloc(16));
      expect(err).toBeInstanceOf(PymallocError);
      expect((err as Error).message).toMatch(/returned 0x[0-9a-f]+ for \d+ bytes: past the end of its memory/);
    }
    mode = "good";
    const p = h.mem.malloc(16);
    expect(thrownBy(() => h.mem.realloc(p, 32))).toBeInstanceOf(PymallocError);
    expect((thrownBy(() => h.mem.alignedAlloc(64, 16)) as Error).message).toMatch(/aligned_alloc\(64, \d+\) returned 0x00000408, not a multiple of 64/);
    // A usable size past the memory (a signed -5): refused where it is read, never used to fill
    // or scan 4 GiB (the debug modes' checks of a block's slack)
    for (const allocator of ["malloc", "debug"] as const) {
      const lying = fromFunctions({ memory: memory(), free: () => {}, malloc: bumper(), usableSize: () => -5 }, { allocator, traceAllocations: false });
      const err = thrownBy(() => lying.usableSize(lying.mem.malloc(16)));
      expect(err).toBeInstanceOf(PymallocError);
      expect((err as Error).message).toMatch(/usableSize\(0x[0-9a-f]+\) returned 4294967291/);
    }
  });

  it("a live-block table overwritten so that no slot is empty: HeapCorruptionError, not a search that never ends", () => {
    const mem = memory();
    const h = fromFunctions({ memory: mem, malloc: bumper(), free: () => {} });
    const p = h.mem.malloc(16);
    // The table is the allocator's second block (1024 + 64 bytes in): fill every slot's key.
    const u32 = new Uint32Array(mem.buffer);
    const t = (1024 + 64) >>> 2;
    for (let i = 0; i < 256; i++) u32[t + 2 * i] = 0xdead0000 + 16 * i;
    const err = thrownBy(() => h.mem.free(p + 8));
    expect(err).toBeInstanceOf(HeapCorruptionError);
    expect((err as HeapCorruptionError).field).toBe("LiveCtl.TABLE");
  });
});
