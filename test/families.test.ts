import { afterEach, describe, expect, it } from "vitest";
import { constants, createHeap, InvalidPointerError, MemoryCorruptionError, ALLOCATOR_MODES } from "../src/index.js";
import { thrownBy } from "./helpers.js";

const modes = ["pymalloc", "malloc", "debug", "malloc_debug"] as const;
const families = ["raw", "mem", "obj"] as const;

describe.each(modes)("families in %s mode", (allocator) => {
  it.each(families)("%s: bad sizes are typed errors, impossible sizes give 0", (fam) => {
    const f = createHeap({ allocator, maxBytes: 64 << 20 })[fam];
    expect(() => f.malloc(-1)).toThrow(RangeError);
    expect(() => f.malloc(1.5)).toThrow(RangeError);
    expect(() => f.malloc(NaN)).toThrow(RangeError);
    expect(() => f.malloc(2 ** 53)).toThrow(RangeError);
    expect(() => f.malloc("8" as unknown as number)).toThrow(TypeError);
    expect(() => f.malloc(undefined as unknown as number)).toThrow(TypeError);
    expect(() => f.calloc(-1, 1)).toThrow(RangeError);
    expect(() => f.calloc(1, {} as unknown as number)).toThrow(TypeError);
    expect(f.malloc(2 ** 32)).toBe(0);
    expect(f.malloc(65 << 20)).toBe(0); // beyond maxBytes
    expect(f.calloc(2 ** 20, 2 ** 20)).toBe(0); // product overflows 32 bits
    expect(f.calloc(2 ** 31, 2)).toBe(0);
  });

  it.each(families)("%s: free(0) is a no-op, realloc(0, n) allocates, bad pointers are typed errors", (fam) => {
    const h = createHeap({ allocator });
    const f = h[fam];
    f.free(0);
    const p = f.realloc(0, 40);
    expect(p).not.toBe(0);
    expect(() => f.free(-16)).toThrow(InvalidPointerError);
    expect(() => f.free(1.5)).toThrow(InvalidPointerError);
    expect(() => f.free("16" as unknown as number)).toThrow(TypeError);
    // The debug hooks report a bad block as a MemoryCorruptionError of kind "invalid-pointer".
    expect(() => f.realloc(p + 8, 10)).toThrow(allocator.includes("debug") ? MemoryCorruptionError : InvalidPointerError);
    expect(() => h.usableSize(0)).toThrow(InvalidPointerError);
    f.free(p);
    h.check();
  });

  it.each(families)("%s: calloc zeroes reused memory", (fam) => {
    const h = createHeap({ allocator });
    const f = h[fam];
    for (const n of [8, 100, 500, 3000]) {
      const p = f.malloc(n);
      h.u8.fill(0xff, p, p + n);
      f.free(p);
      const q = f.calloc(n, 1);
      for (let k = 0; k < n; k++) expect(h.u8[q + k]).toBe(0);
      f.free(q);
    }
    const arr = f.calloc(10, 8);
    expect(h.usableSize(arr)).toBeGreaterThanOrEqual(80);
  });

  it("out of memory returns 0 and leaves the heap fully usable", () => {
    const h = createHeap({ allocator, maxBytes: 8 << 20 });
    const ps: number[] = [];
    let n = 0;
    for (;;) {
      const p = h.mem.malloc(100 + (n++ % 2000));
      if (p === 0) break;
      ps.push(p);
    }
    expect(h.raw.malloc(1 << 20)).toBe(0);
    h.check();
    const q = ps.pop()!;
    expect(h.mem.realloc(q, 6 << 20)).toBe(0); // the old block stays valid
    h.mem.free(q);
    for (const p of ps) h.mem.free(p);
    h.check();
    expect(h.raw.malloc(4 << 20)).not.toBe(0);
    h.check();
  });
});

describe("allocator modes", () => {
  const saved = process.env.PYMALLOC;
  afterEach(() => {
    if (saved === undefined) delete process.env.PYMALLOC;
    else process.env.PYMALLOC = saved;
  });

  it("pymalloc is the default; malloc routes every family to the raw allocator", () => {
    delete process.env.PYMALLOC;
    const h = createHeap();
    expect(h.mode).toBe("pymalloc");
    expect(h.objectAllocator.isOurs(h.obj.malloc(10))).toBe(true);
    expect(h.objectAllocator.isOurs(h.raw.malloc(10))).toBe(false);
    const m = createHeap({ allocator: "malloc" });
    expect(m.objectAllocator.isOurs(m.obj.malloc(10))).toBe(false);
    expect(m.stats().arenas.current).toBe(0);
  });

  it("PYMALLOC picks the mode when the options do not", () => {
    process.env.PYMALLOC = "malloc";
    expect(createHeap().mode).toBe("malloc");
    expect(createHeap({ allocator: "pymalloc" }).mode).toBe("pymalloc");
    process.env.PYMALLOC = "bogus";
    expect(() => createHeap()).toThrow(/PYMALLOC: unknown allocator "bogus"/);
  });

  it("rejects unknown modes and bad options with typed errors", () => {
    expect(() => createHeap({ allocator: "tcmalloc" as never })).toThrow(RangeError);
    expect(() => createHeap({ initialBytes: -1 })).toThrow(RangeError);
    expect(() => createHeap({ maxBytes: "big" as never })).toThrow(TypeError);
    expect(() => createHeap({ memory: new ArrayBuffer(1024) })).toThrow(/too small/);
  });

  it("every mode name creates a heap of that mode", () => {
    for (const m of ALLOCATOR_MODES) expect(createHeap({ allocator: m }).mode).toBe(m);
  });
});

describe("calloc zeroing", () => {
  for (const memoryKind of ["growable-shared", "wasm"] as const) {
    for (const alignment of [16, 8] as const) {
      it(`${memoryKind} memory, alignment ${alignment}: zeroes n bytes of reused memory, and nothing of the neighbours`, () => {
        const h = createHeap({ memoryKind, alignment });
        const sizes = [...Array.from({ length: 72 }, (_, i) => i + 1), 100, 255, 256, 257, 500, 512, 513, 1000, 3000, 5000];
        for (const fam of families) {
          const f = h[fam];
          for (const n of sizes) {
            const [a, b, c] = [f.malloc(n), f.malloc(n), f.malloc(n)];
            for (const p of [a, b, c]) h.u8.fill(0xee, p, p + h.usableSize(p));
            f.free(b);
            const q = f.calloc(n, 1);
            for (let k = 0; k < n; k++) if (h.u8[q + k] !== 0) throw new Error(`${fam} calloc(${n}) left byte ${k} at ${h.u8[q + k]}`);
            for (const p of [a, c]) {
              if (p === q) continue;
              for (let k = 0; k < h.usableSize(p); k++) if (h.u8[p + k] !== 0xee) throw new Error(`${fam} calloc(${n}) wrote into a neighbour at +${k}`);
            }
            for (const p of [a, c, q]) f.free(p);
          }
        }
        h.check();
        expect(h.stats().bytesInUse).toBe(0);
      });
    }
  }
});

describe("realloc to a size that can never be served (2^32 bytes or more)", () => {
  it.each(["pymalloc", "malloc", "debug"] as const)("%s: checks the pointer as any realloc does, then returns 0 and leaves a valid block as it was", (allocator) => {
    const h = createHeap({ allocator, traceAllocations: false });
    for (const fam of [h.raw, h.mem, h.obj]) {
      const p = fam.malloc(40);
      h.u8.fill(5, p, p + 40);
      expect(fam.realloc(p, 2 ** 32)).toBe(0);
      expect(fam.realloc(p, 2 ** 40)).toBe(0);
      expect(h.u8[p] === 5 && h.u8[p + 39] === 5).toBe(true);
      expect(fam.realloc(0, 2 ** 32)).toBe(0);
      const q = fam.malloc(40);
      fam.free(q);
      const errFreed = thrownBy(() => fam.realloc(q, 2 ** 32)); // freed: reported, not passed over
      expect(errFreed instanceof InvalidPointerError || errFreed instanceof MemoryCorruptionError).toBe(true);
      const errBad = thrownBy(() => fam.realloc(p + 3, 2 ** 32));
      expect(errBad instanceof InvalidPointerError || errBad instanceof MemoryCorruptionError).toBe(true);
      expect(() => fam.realloc(p, -1)).toThrow(RangeError);
      fam.free(p);
    }
    h.check();
    expect(h.stats().blocksInUse).toBe(0);
  });
});

describe("option errors show the value given", () => {
  it("a BigInt, NaN or a Symbol in allocator, memoryKind or failAllocations' family: a RangeError that shows it (JSON.stringify threw on a BigInt, and showed NaN as null)", () => {
    expect(() => createHeap({ allocator: 1n as never })).toThrow(/unknown allocator 1n;/);
    expect(() => createHeap({ allocator: NaN as never })).toThrow(/unknown allocator NaN;/);
    expect(() => createHeap({ allocator: Symbol("x") as never })).toThrow(/unknown allocator Symbol\(x\);/);
    expect(() => createHeap({ memoryKind: 1n as never })).toThrow(/unknown kind 1n;/);
    expect(() => createHeap().failAllocations({ family: 1n as never })).toThrow(/unknown family 1n;/);
  });

  it("allocator, memoryKind and onError of the wrong type are TypeErrors, an unknown string a RangeError (a new user's probe, session 44)", () => {
    for (const o of [{ allocator: 1 }, { memoryKind: 5 }, { allocator: "debug", onError: 5 }, { allocator: 1n }, { memoryKind: null }]) expect(() => createHeap(o as never)).toThrow(TypeError);
    for (const o of [{ allocator: "jemalloc" }, { memoryKind: "huge" }, { allocator: "debug", onError: "ignore" }]) expect(() => createHeap(o as never)).toThrow(RangeError);
  });

  it("the Options block's defaults given as written work: maxThreads without threads is checked, then has no effect (it was a RangeError)", () => {
    const h = createHeap({ threads: false, maxThreads: 64 });
    expect(h.u32[(h.heapBase >>> 2) + constants.H.MAX_THREADS]).toBe(0);
    expect(h.obj.malloc(10)).not.toBe(0);
    expect(() => createHeap({ maxThreads: 0 })).toThrow(RangeError);
    expect(() => createHeap({ maxThreads: "4" as never })).toThrow(TypeError);
  });

  it("a memory option that is no memory (0, \"\", false, null, NaN, {}) is a TypeError, not ignored for a new memory", () => {
    for (const memory of [0, "", false, null, NaN, {}]) expect(() => createHeap({ memory: memory as never })).toThrow(/memory must be an ArrayBuffer/);
    expect(createHeap({ memory: undefined }).stats().memoryKind).toBe("growable-shared");
  });
});
