import { describe, expect, it } from "vitest";
import { Memory, PymallocError, createHeap, attachHeap } from "../src/index.js";

const MiB = 1 << 20;

describe("memory layer", () => {
  it.each(["resizable", "growable-shared", "wasm"] as const)("%s memory grows geometrically and views follow", (kind) => {
    const m = Memory.create(kind, 64 * 1024, 64 * MiB);
    let seen = 0;
    m.onGrow(() => seen++);
    const before = m.views.u8;
    expect(m.byteLength).toBe(65536);
    expect(m.grow(65536 + 1)).toBe(true);
    expect(m.byteLength).toBe(131072); // doubled, not just one page
    expect(seen).toBe(1);
    expect(m.views.u8 === before).toBe(false);
    expect(m.views.u8.length).toBe(m.byteLength);
    expect(m.views.u32.length).toBe(m.byteLength / 4);
    expect(m.grow(40 * MiB)).toBe(true);
    expect(m.byteLength).toBeGreaterThanOrEqual(40 * MiB);
    expect(m.byteLength).toBeLessThanOrEqual(64 * MiB);
    expect(m.grow(64 * MiB + 1)).toBe(false); // past maxBytes: refused, nothing changed
    expect(m.byteLength).toBeLessThanOrEqual(64 * MiB);
  });

  it("a WebAssembly.Memory grows by what is needed, at least 1/WASM_GROWTH_DIVISOR (64) of its length, in pages: it never shrinks and its length is a wasm program's memory, so a peak just past its end keeps at most ~1.6% more (an eighth kept 3.75-12.5% more than dlmalloc's sbrk); the other kinds by an eighth", () => {
    const m = Memory.create("wasm", 8 * MiB, 64 * MiB);
    expect(m.grow(8 * MiB + 1)).toBe(true);
    expect(m.byteLength).toBe(8 * MiB + 128 * 1024); // 1/64 of 8 MiB
    const small = Memory.create("wasm", 1 * MiB, 64 * MiB);
    expect(small.grow(MiB + 100)).toBe(true);
    expect(small.byteLength).toBe(MiB + 65536); // 1/64 is under a page: one page, as sbrk would
    expect(small.grow(MiB + 300_000)).toBe(true);
    expect(small.byteLength).toBe(MiB + 327_680); // what is needed, in pages
    for (const kind of ["growable-shared", "resizable"] as const) {
      const j = Memory.create(kind, 8 * MiB, 64 * MiB);
      expect(j.grow(8 * MiB + 1)).toBe(true);
      expect(j.byteLength).toBe(9 * MiB); // an eighth: fewer growths (~57,000 instructions each)
    }
  });

  it("grows to exactly maxBytes when doubling would overshoot", () => {
    const m = Memory.create("resizable", 64 * 1024, 192 * 1024);
    expect(m.grow(140 * 1024)).toBe(true);
    expect(m.byteLength).toBe(192 * 1024);
  });

  it("a fixed buffer never grows", () => {
    const m = new Memory(new ArrayBuffer(65536), 1 << 30);
    expect(m.kind).toBe("fixed");
    expect(m.maxBytes).toBe(65536);
    expect(m.grow(65537)).toBe(false);
  });

  it("wasm memory: growth detaches the old buffer, and refresh() notices growth made elsewhere", () => {
    const wm = new WebAssembly.Memory({ initial: 1, maximum: 100 });
    const m = new Memory(wm, 100 * 65536);
    const old = m.views.u8;
    wm.grow(1); // grown by someone else (a wasm module)
    expect(old.length).toBe(0); // detached
    expect(m.refresh()).toBe(true);
    expect(m.byteLength).toBe(2 * 65536);
    expect(m.refresh()).toBe(false);
  });

  it("rejects what is not a memory", () => {
    expect(() => new Memory({} as ArrayBuffer, 1)).toThrow(TypeError);
  });
});

describe("heaps on every memory kind", () => {
  it("the default memory is the fastest kind available: a growable SharedArrayBuffer in Node", () => {
    const h = createHeap();
    expect(h.memory.kind).toBe("growable-shared");
    expect(createHeap({ memoryKind: "wasm" }).memory.kind).toBe("wasm");
    expect(createHeap({ memoryKind: "resizable" }).memory.kind).toBe("resizable");
    expect(createHeap({ memoryKind: "fixed", initialBytes: 1 << 20 }).memory.kind).toBe("fixed");
    expect(() => createHeap({ memoryKind: "paper" as never })).toThrow(RangeError);
  });

  const kinds: Array<[string, () => ArrayBuffer | SharedArrayBuffer | WebAssembly.Memory | undefined]> = [
    ["default memory", () => undefined],
    ["resizable ArrayBuffer", () => new ArrayBuffer(65536, { maxByteLength: 256 * MiB })],
    ["growable SharedArrayBuffer", () => new SharedArrayBuffer(65536, { maxByteLength: 256 * MiB })],
    ["WebAssembly.Memory", () => new WebAssembly.Memory({ initial: 1, maximum: 4096 })],
  ];
  it.each(kinds)("%s: grows on demand, keeps contents, and re-attaches", (_name, make) => {
    const memory = make();
    const heap = createHeap({ memory, maxBytes: 256 * MiB });
    const blocks: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const p = heap.obj.malloc(100 + (i % 400));
      heap.u8[p] = i & 255;
      blocks.push(p);
    }
    const big = heap.raw.malloc(8 * MiB);
    heap.u8.fill(7, big, big + 8 * MiB);
    expect(heap.stats().byteLength).toBeGreaterThan(8 * MiB);
    blocks.forEach((p, i) => expect(heap.u8[p]).toBe(i & 255));
    heap.check();
    const again = attachHeap(memory ?? heap.buffer);
    again.check();
    expect(again.stats()).toEqual(heap.stats());
    again.obj.free(blocks[0]);
    expect(() => heap.obj.free(blocks[0])).toThrow(/already free|no blocks/);
  });

  it("a fixed buffer: allocation past its end returns 0 and the heap stays usable", () => {
    const heap = createHeap({ memory: new ArrayBuffer(256 * 1024), poolSize: 4096, arenaSize: 65536 });
    expect(heap.raw.malloc(300 * 1024)).toBe(0);
    const ps: number[] = [];
    for (;;) {
      const p = heap.obj.malloc(64);
      if (p === 0) break;
      ps.push(p);
    }
    expect(ps.length).toBeGreaterThan(100);
    heap.check();
    for (const p of ps) heap.obj.free(p);
    heap.check();
    expect(heap.obj.malloc(64)).not.toBe(0);
  });
});

describe("a memory of exactly 4 GiB (65,536 wasm pages)", () => {
  it("has views of its whole length (2^32 bytes: lengths by division, `>>> 2` wrapped to 0) and holds a heap", () => {
    const memory = new WebAssembly.Memory({ initial: 65536, maximum: 65536 });
    const heap = createHeap({ memory });
    expect(heap.u8.length).toBe(2 ** 32);
    expect(heap.u32.length).toBe(2 ** 30);
    expect(heap.f64.length).toBe(2 ** 29);
    const p = heap.obj.malloc(100);
    const q = heap.raw.malloc(1 << 20);
    heap.u32[(q >>> 2) + 1000] = 7;
    heap.check();
    attachHeap(memory).check();
    heap.obj.free(p);
    heap.raw.free(q);
    expect(heap.stats().blocksInUse).toBe(0);
  });

  it("a heap whose memory something else grows to 4 GiB keeps working", () => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536 });
    const heap = createHeap({ memory });
    memory.grow(65536 - 16);
    const p = heap.obj.malloc(50);
    expect(p).not.toBe(0);
    expect(heap.u8.length).toBe(2 ** 32);
    heap.check();
    heap.obj.free(p);
  });
});

describe("a heap whose ArrayBuffer was transferred away (detached)", () => {
  it.each([
    ["fixed", "pymalloc"],
    ["resizable", "pymalloc"],
    ["resizable", "debug"],
    ["fixed", "malloc"],
  ] as const)("%s buffer, %s mode: every call says the memory is detached (a PymallocError), never damage or stats of nothing; the transferred buffer attaches", (kind, allocator) => {
    const ab = kind === "resizable" ? new ArrayBuffer(1 << 20, { maxByteLength: 4 << 20 }) : new ArrayBuffer(1 << 20);
    const h = createHeap({ memory: ab, allocator, traceAllocations: false });
    const p = h.obj.malloc(10);
    const q = h.raw.malloc(3000);
    const moved = structuredClone(ab, { transfer: [ab] });
    const calls: Array<() => unknown> = [
      () => h.obj.malloc(10),
      () => h.obj.free(p),
      () => h.raw.free(q),
      () => h.raw.malloc(3000),
      () => h.usableSize(p),
      () => h.check(),
      () => h.stats(),
      () => h.walk(() => {}),
      () => h.debugMallocStats(),
      () => attachHeap(ab),
    ];
    for (const call of calls) {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PymallocError);
      expect((err as Error).message).toMatch(/memory is detached/);
    }
    const there = attachHeap(moved);
    there.obj.free(p);
    there.raw.free(q);
    there.check();
    expect(there.stats().blocksInUse).toBe(0);
  });
});

describe("maxBytes is the user's growth limit", () => {
  it("a maxBytes below the default start makes the memory start there (a 256 KiB cap gave a 1 MiB heap), and the heap never passes it", () => {
    for (const memoryKind of ["growable-shared", "wasm", "resizable"] as const) {
      const h = createHeap({ memoryKind, maxBytes: 256 * 1024 });
      expect(h.stats().byteLength).toBe(256 * 1024);
      let got = 0;
      while (h.raw.malloc(10000) !== 0) got++;
      expect(got).toBeGreaterThan(20);
      expect(h.stats().byteLength).toBe(256 * 1024);
      h.check();
    }
    const odd = createHeap({ maxBytes: 300000 }); // whole pages, rounded down
    expect(odd.stats().maxBytes).toBe(262144);
  });

  it("a maxBytes under one 64 KiB page, or under the initialBytes given with it, is a RangeError", () => {
    for (const maxBytes of [0, 4096, 65535]) expect(() => createHeap({ maxBytes })).toThrow(/maxBytes must be at least 65536/);
    expect(() => createHeap({ initialBytes: 2 << 20, maxBytes: 1 << 20 })).toThrow(/initialBytes 2097152 exceeds maxBytes 1048576/);
    expect(createHeap({ initialBytes: 1 << 20, maxBytes: 1 << 20 }).stats().byteLength).toBe(1 << 20);
  });

  it("holds in a memory given longer than it: a request past it returns 0 (JS and the WebAssembly fast path), check() and attachHeap pass; a maxBytes under the header's end is a RangeError at creation (the heap took the whole memory and then failed its own check())", () => {
    const memories = {
      "fixed ArrayBuffer": () => new ArrayBuffer(8 * MiB),
      "resizable ArrayBuffer": () => new ArrayBuffer(MiB, { maxByteLength: 64 * MiB }),
      "growable SharedArrayBuffer": () => new SharedArrayBuffer(MiB, { maxByteLength: 64 * MiB }),
      "WebAssembly.Memory": () => new WebAssembly.Memory({ initial: 16, maximum: 1000 }),
    };
    for (const [name, make] of Object.entries(memories)) {
      const h = createHeap({ memory: make() as never, maxBytes: 65536 });
      expect(h.raw.malloc(200000), name).toBe(0);
      let small = 0;
      while (h.obj.malloc(200) !== 0) small++;
      expect(small, name).toBeGreaterThan(100);
      expect(h.stats().peakFootprint, name).toBeLessThanOrEqual(65536);
      h.check();
      attachHeap(h.memory.source as never);
      expect(() => createHeap({ memory: make() as never, maxBytes: 100 }), name).toThrow(/maxBytes is 100/);
    }
    // C's malloc, on the fast path in the module's memory: its raw allocator stops at maxBytes too.
    const h = createHeap({ memory: new WebAssembly.Memory({ initial: 16, maximum: 1000 }), maxBytes: 131072 });
    const c = h.wasmImports();
    expect(c.malloc(200000) >>> 0).toBe(0);
    let raw = 0;
    while (c.malloc(3000) >>> 0 !== 0) raw++;
    expect(raw).toBeGreaterThan(10);
    expect(h.stats().peakFootprint).toBeLessThanOrEqual(131072);
    h.check();
  });
});

describe("an option no call knows is a TypeError naming it, not ignored", () => {
  // `debug: true` for a debug heap made a release heap: no hooks, double frees unreported.
  it("createHeap, attachHeap, asMemPool, the adapters, heapForModule and instantiateWithHeap", async () => {
    const { asMemPool, fromFunctions, heapForModule, instantiateWithHeap } = await import("../src/index.js");
    expect(() => createHeap({ debug: true } as never)).toThrow(/createHeap: unknown option "debug" \(a debug heap is allocator: "debug"\)/);
    expect(() => createHeap({ alignement: 16 } as never)).toThrow(TypeError);
    expect(createHeap({ allocator: "malloc", maxThreads: undefined }).mode).toBe("malloc"); // undefined values pass
    const h = createHeap();
    expect(() => attachHeap(h.memory.source, { allocator: "debug" } as never)).toThrow(/attachHeap: unknown option "allocator" \(an option of createHeap, not of attachHeap\)/);
    expect(() => asMemPool(h, { famly: "obj" } as never)).toThrow(/asMemPool: unknown option "famly"; its options are family, MemPool/);
    const buf = new ArrayBuffer(65536);
    let top = 16; // a bump allocator: one that returned 16 every time handed the live-block table's two blocks out over each other (refused since 2026-12-06)
    const f = { memory: buf, malloc: (n: number) => ((top += (Math.max(n, 1) + 15) & ~15) - ((Math.max(n, 1) + 15) & ~15)), free: () => {} };
    expect(() => fromFunctions(f, { debug: true } as never)).toThrow(/fromFunctions: unknown option "debug"/);
    expect(fromFunctions(f, { allocator: "debug", trackBlocks: true }).mode).toBe("debug");
    // A module with no imports: the option check comes first.
    const empty = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    expect(() => heapForModule(empty, { heapBase: 1024, imports: {} } as never)).toThrow(/heapForModule: unknown option "imports"/);
    await expect(instantiateWithHeap(empty, { debug: true } as never)).rejects.toThrow(/instantiateWithHeap: unknown option "debug"/);
  });
});
