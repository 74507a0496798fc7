// Calls back into the heap from the library's own callbacks, and a user's global stack hook (a
// misuse hunt's F07, F08, F09, session 45): each case below damaged the heap, overflowed the
// stack or lost the report it was meant to give.
import { afterEach, describe, expect, it } from "vitest";
import { constants, createHeap, MemoryCorruptionError } from "../src/index.js";

describe("a memory.onGrow() callback that allocates", () => {
  for (const allocator of ["pymalloc", "malloc", "debug"] as const) {
    for (const memoryKind of [undefined, "wasm"] as const) {
      it(`runs once the growth is whole: no fence, check() passes, every block intact (${allocator}${memoryKind ? ", wasm memory" : ""})`, () => {
        const heap = createHeap({ allocator, initialBytes: 65536, ...(memoryKind ? { memoryKind } : {}) });
        let inside = false;
        const made: number[] = [];
        heap.memory.onGrow(() => {
          if (inside) return;
          inside = true;
          const p = heap.raw.malloc(300_000); // it grows the memory again
          if (p !== 0) {
            heap.u8.fill(0xee, p, p + 300_000);
            made.push(p);
          }
          inside = false;
        });
        const blocks: number[] = [];
        for (let i = 0; i < 300; i++) {
          const p = heap.raw.malloc(3000);
          heap.u8.fill(i & 255, p, p + 3000);
          blocks.push(p);
        }
        expect(made.length).toBeGreaterThan(0);
        for (let i = 0; i < blocks.length; i++) for (let j = 0; j < 3000; j += 97) expect(heap.u8[blocks[i] + j]).toBe(i & 255);
        for (const p of made) expect(heap.u8[p + 299_999]).toBe(0xee);
        heap.check();
        expect(heap.stats().fencedBytes).toBe(0); // nothing else grew this memory
      });
    }
  }
});

describe("a debug onError handler that calls check()", () => {
  it("gets the nested report thrown to it (a MemoryCorruptionError), not handed to it again until the stack overflows", () => {
    let calls = 0;
    let nested: unknown;
    const heap = createHeap({
      allocator: "debug",
      onError: () => {
        calls++;
        try {
          heap.check();
        } catch (e) {
          nested = e;
        }
      },
    });
    const p = heap.obj.malloc(10);
    heap.u8[p + 10] = 1; // one byte too far
    heap.obj.free(p);
    expect(calls).toBe(1);
    expect(nested).toBeInstanceOf(MemoryCorruptionError);
    expect((nested as MemoryCorruptionError).kind).toBe("overflow");
    heap.u8[p + 10] = 0xfd;
    heap.check();
  });
});

describe("a global Error.prepareStackTrace", () => {
  const E = Error as { prepareStackTrace?: unknown };
  const saved = E.prepareStackTrace;
  afterEach(() => {
    E.prepareStackTrace = saved;
  });

  it("that returns a string (a source-map hook): its frames are the sites", () => {
    const heap = createHeap({ allocator: "debug" });
    heap.obj.malloc(24);
    E.prepareStackTrace = (e: Error, sites: unknown[]) => `${e}\n    at mapped (app.ts:1:1)${sites.length > 0 ? "" : ""}`;
    expect(heap.leaks().blocks[0].site).toMatch(/app\.ts:1:1/);
  });

  it("that returns CallSites: reports, leaks() and snapshot() still name their sites", () => {
    const heap = createHeap({ allocator: "debug" });
    const p = heap.obj.malloc(24);
    E.prepareStackTrace = (_e: Error, sites: unknown[]) => sites;
    expect(String(heap.leaks())).toMatch(/1 live block/);
    expect(String(heap.snapshot())).toMatch(/1 live block/);
    heap.obj.free(p);
    let e: unknown;
    try {
      heap.obj.free(p);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(MemoryCorruptionError);
    expect((e as MemoryCorruptionError).kind).toBe("double-free");
    expect((e as MemoryCorruptionError).report.allocatedAt).toMatch(/reentry\.test/);
  });

  it("that allocates from the heap: leaks() of a sampled heap is not thrown off by it", () => {
    const heap = createHeap({ sampleInterval: 1 });
    for (let i = 0; i < 20; i++) heap.mem.malloc(24);
    E.prepareStackTrace = (e: Error) => {
      heap.mem.malloc(24); // a logger's buffer, say
      return String(e);
    };
    // No false HeapCorruptionError (Sample.LIVE): the table is read whole before sites are named
    // (the blocks the hook made while they were are live too, and counted).
    expect(String(heap.leaks())).toMatch(/^\d+ live block/);
    E.prepareStackTrace = saved;
    heap.check();
  });
});

describe("saved snapshots and the exported tables (misuse hunt F03, F15)", () => {
  it("HeapSnapshot.fromJSON refuses values no snapshot holds, naming them", async () => {
    const { HeapSnapshot } = await import("../src/index.js");
    const heap = createHeap({ allocator: "debug" });
    heap.obj.malloc(40);
    heap.mem.malloc(1000);
    const good = heap.snapshot().toJSON();
    expect(HeapSnapshot.fromJSON(JSON.stringify(good)).totalBlocks).toBe(2);
    const edited = (f: (j: typeof good) => void): typeof good => {
      const j = JSON.parse(JSON.stringify(good));
      f(j);
      return j;
    };
    for (const [j, what] of [
      [edited((j) => (j.totalBlocks = -5)), /totalBlocks -5/],
      [edited((j) => (j.bySize[0].blocks = -3)), /blocks -3/],
      [edited((j) => (j.bySize[0].bytes = 1e300)), /bytes 1e\+300/],
      [edited((j) => (j.totalBytes += 1)), /groups hold .* the totals say/],
      [edited((j) => j.bySize.push({ ...j.bySize[0] })), /twice/],
      [edited((j) => (j.mode = "zz")), /mode "zz"/],
      [edited((j) => (j.bySize[0].blocks = 1.5)), /whole numbers/],
      [edited((j) => (j.sampleInterval = 64)), /sampleInterval 64/],
    ] as const)
      expect(() => HeapSnapshot.fromJSON(j)).toThrow(what);
  });

  it("ALLOCATOR_MODES and MODE_IDS are frozen", async () => {
    const { ALLOCATOR_MODES, constants } = await import("../src/index.js");
    expect(() => (ALLOCATOR_MODES as string[]).push("turbo")).toThrow(TypeError);
    expect(Object.isFrozen(constants.MODE_IDS)).toBe(true);
    expect(() => createHeap({ allocator: "turbo" as never })).toThrow(RangeError);
  });
});

describe("threads, debug: an onError function runs with the heap's lock let go (misuse hunt F14)", () => {
  it("so a slow handler (a breakpoint in it) holds no other thread up, and may read the heap", () => {
    const seen: Array<{ kind: string; blocks: number; lock: number }> = [];
    const heap = createHeap({
      allocator: "debug",
      threads: true,
      onError: (r) => {
        // The lock word is free while it runs (other Workers go on), and the heap can be read.
        const lock = Atomics.load(new Int32Array(heap.memory.views.u32.buffer), (heap.heapBase >>> 2) + constants.H.LOCK);
        seen.push({ kind: r.kind, blocks: heap.stats().blocksInUse, lock });
      },
    });
    const p = heap.obj.malloc(10);
    heap.obj.malloc(20);
    heap.u8[p + 10] = 1; // one byte too far
    heap.obj.free(p); // reported, then freed (as onError functions have it)
    expect(seen).toEqual([{ kind: "overflow", blocks: 1, lock: 0 }]);
    heap.check();
  });
});

describe("options that are no options object (a misuse hunt's minor notes)", () => {
  it("a memory, an array or a Map where createHeap's options go: a TypeError, not a default heap in a new memory", async () => {
    const { attachHeap } = await import("../src/index.js");
    const sab = new SharedArrayBuffer(1 << 20, { maxByteLength: 1 << 24 });
    expect(() => createHeap(sab as never)).toThrow(/pass a memory as \{ memory \}/);
    expect(() => createHeap(new WebAssembly.Memory({ initial: 1 }) as never)).toThrow(TypeError);
    expect(() => createHeap(new Uint8Array(8) as never)).toThrow(TypeError);
    expect(() => createHeap(new Map([["allocator", "debug"]]) as never)).toThrow(/plain object/);
    expect(() => createHeap([] as never)).toThrow(TypeError);
    const h = createHeap({ memory: sab });
    expect(() => attachHeap(h.memory.source as SharedArrayBuffer, new Map() as never)).toThrow(TypeError);
  });
});
