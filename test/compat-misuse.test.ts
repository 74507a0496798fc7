// Misuse of the compatibility layer (a misuse hunt's F02, F10, F11, F12, 2026-12-06): the live-block
// table behind asMemPool and the adapters checks its control words before every search (a freed or
// overwritten control block made free() probe 4 billion slots), its blocks are the heap's own state
// (left out of walk, leaks and stats), fromFunctions refuses a u8 it would misread, an untracked
// fromExports refuses a pointer past the memory before the module traps on it, and ForeignHeap
// checks its spec.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  asMemPool,
  createHeap,
  ForeignHeap,
  fromExports,
  fromFunctions,
  HeapCorruptionError,
  InvalidPointerError,
  MemoryCorruptionError,
  PymallocError,
  type ForeignSpec,
  type HeapMemPool,
} from "../src/index.js";
import { corruption, ROOT, thrownBy } from "./helpers.js";

const DLMALLOC = new WebAssembly.Module(readFileSync(join(ROOT, "wasm/dlmalloc/dlmalloc.wasm")));

/** The byte address of a pool's live-block table's control block (its private field). */
const ctlOf = (pool: HeapMemPool): number => (pool as unknown as { table: { ctl: number } }).table.ctl;

/** A bump allocator from 1024 over `memory` that never frees, and what it handed out. */
function bumping(memory: WebAssembly.Memory | ArrayBuffer) {
  let top = 1024;
  const handed: number[] = [];
  return {
    memory,
    handed,
    malloc: (n: number) => {
      const p = top;
      top += 16 * Math.ceil(Math.max(n, 1) / 16);
      handed.push(p);
      return p;
    },
    free: () => {},
  };
}


describe("F12: the live-block table checks its control words before it searches", () => {
  for (const allocator of ["pymalloc", "debug"] as const) {
    it(`asMemPool (${allocator}): a control block written over, its capacity, table or counts changed: HeapCorruptionError naming the word, never a search of 4 billion slots`, () => {
      const damage: [number, number, string][] = [
        [0, 0xdddddddd, "LiveCtl.MAGIC"], // a freed block's fill
        [28, 0x11111111, "LiveCtl.SELF"],
        [16, 0x80000000, "LiveCtl.CAPACITY"], // a power of two whose slots do not fit the memory
        [16, 300, "LiveCtl.CAPACITY"],
        [12, 0xfffffff0, "LiveCtl.TABLE"],
        [12, 64, "LiveCtl.TABLE"], // inside the memory, but no table of this control block
        [20, 1000, "LiveCtl.COUNT"],
      ];
      for (const [off, value, field] of damage) {
        const heap = createHeap({ allocator });
        const pool = asMemPool(heap);
        const a = pool.malloc(40);
        const ctl = ctlOf(pool);
        const kept = heap.u32[(ctl + off) >>> 2];
        heap.u32[(ctl + off) >>> 2] = value;
        for (const op of [() => pool.free(a), () => pool.malloc(8), () => pool.realloc(a, 80), () => pool.stats(), () => pool.freeAll()]) {
          const e = corruption(op);
          expect(e.field).toBe(field);
          expect(e.address).toBe(ctl + off);
        }
        heap.u32[(ctl + off) >>> 2] = kept;
        expect(pool.free(a)).toBe(true);
        heap.check();
      }
    });
  }

  it("asMemPool: the whole control block filled with 0xDD (a teardown freed it, the debug fill): HeapCorruptionError (LiveCtl.MAGIC)", () => {
    const heap = createHeap({ allocator: "debug" });
    const pool = asMemPool(heap);
    const a = pool.malloc(40);
    const ctl = ctlOf(pool);
    heap.u8.fill(0xdd, ctl, ctl + 32);
    expect(corruption(() => pool.free(a)).field).toBe("LiveCtl.MAGIC");
  });

  for (const options of [{ trackBlocks: true }, { allocator: "debug" as const }]) {
    it(`fromFunctions ${JSON.stringify(options)}: a write over the table's control block makes free, check, walk and leaks throw HeapCorruptionError naming the word`, () => {
      const memory = new WebAssembly.Memory({ initial: 16 });
      const b = bumping(memory);
      const h = fromFunctions(b, { ...options, traceAllocations: false });
      const a = h.mem.malloc(24);
      const ctl = b.handed[0];
      const u8 = new Uint8Array(memory.buffer);
      const saved = u8.slice(ctl, ctl + 32);
      u8.fill(0xdd, ctl, ctl + 32);
      for (const op of [() => h.mem.free(a), () => h.check(), () => h.walk(() => {}), () => h.leaks(), () => h.usableSize(a)]) expect(corruption(op).field).toBe("LiveCtl.MAGIC");
      u8.set(saved, ctl);
      const u32 = new Uint32Array(memory.buffer);
      u32[(ctl + 16) >>> 2] = 0x40000000; // capacity: 8 GiB of slots
      expect(corruption(() => h.mem.free(a)).field).toBe("LiveCtl.CAPACITY");
      expect(corruption(() => h.check()).field).toBe("LiveCtl.CAPACITY");
      u8.set(saved, ctl);
      h.check();
      h.mem.free(a);
    });
  }

  it("check() compares the table's capacity with the size of its block, where the allocator can tell it", () => {
    const heap = createHeap();
    const blocks: number[] = [];
    // An allocator over a pymalloc heap: it tells usable sizes.
    const h = fromFunctions({
      memory: heap.memory.source as ArrayBuffer,
      malloc: (n) => {
        const p = heap.raw.malloc(n);
        blocks.push(p);
        return p;
      },
      free: (p) => heap.raw.free(p),
      usableSize: (p) => heap.usableSize(p),
      alignment: 16,
    }, { trackBlocks: true });
    const a = h.mem.malloc(16);
    h.check();
    const [ctl, table] = blocks;
    // A capacity twice the table's, copied into the table's header too: the words agree, the block is too small.
    heap.u32[(ctl + 16) >>> 2] = 512;
    heap.u32[(table + 4) >>> 2] = 512;
    expect(corruption(() => h.check()).field).toBe("LiveCtl.CAPACITY");
    heap.u32[(ctl + 16) >>> 2] = 256;
    heap.u32[(table + 4) >>> 2] = 256;
    h.check();
    h.mem.free(a);
  });
});

describe("F12: the pool's table is the heap's own state, not a user block", () => {
  for (const allocator of ["pymalloc", "malloc", "debug", "pymalloc_debug"] as const) {
    it(`${allocator}: walk(), leaks() and stats() leave the table out; a teardown that frees every block walk() lists leaves the pool working`, () => {
      const heap = createHeap({ allocator });
      const before = heap.stats();
      const pool = asMemPool(heap);
      const after = heap.stats();
      expect(after.blocksInUse).toBe(before.blocksInUse);
      expect(after.bytesInUse).toBe(before.bytesInUse);
      expect(after.internalBytes).toBeGreaterThan(before.internalBytes);
      const a = pool.malloc(40);
      const u = heap.mem.malloc(24);
      const listed: number[] = [];
      heap.walk((b) => listed.push(b.address));
      expect(listed.sort((x, y) => x - y)).toEqual([a, u].sort((x, y) => x - y));
      const leaks = heap.leaks();
      expect(leaks.blocks.map((b) => b.address).sort((x, y) => x - y)).toEqual([a, u].sort((x, y) => x - y));
      expect(String(leaks)).not.toMatch(/LiveTable/);
      expect(heap.snapshot().totalBlocks).toBe(2);
      heap.check();
      // The user's teardown: every block walk() lists, but the pool's own through the pool.
      expect(pool.free(a)).toBe(true);
      heap.mem.free(u);
      heap.walk((b) => heap.mem.free(b.address));
      const b = pool.malloc(100);
      expect(b).not.toBe(0);
      expect(pool.stats().used.count).toBe(1);
      expect(pool.free(b)).toBe(true);
      pool.release();
      heap.check();
      expect(heap.stats().internalBytes).toBe(before.internalBytes);
    });
  }

  it("debug: a free of the table's block through a family is refused (invalid pointer), the pool keeps working", () => {
    const heap = createHeap({ allocator: "debug" });
    const pool = asMemPool(heap);
    const ctl = ctlOf(pool);
    const e = thrownBy(() => heap.raw.free(ctl));
    expect(e).toBeInstanceOf(MemoryCorruptionError);
    expect((e as MemoryCorruptionError).kind).toBe("invalid-pointer");
    const a = pool.malloc(8);
    expect(pool.free(a)).toBe(true);
    heap.check();
  });

  it("a released pool's blocks are no longer the table's: a block the heap hands out again at their address is a user block", () => {
    const heap = createHeap();
    const pool = asMemPool(heap);
    const ctl = ctlOf(pool);
    pool.release();
    const again: number[] = [];
    for (let i = 0; i < 4; i++) again.push(heap.raw.malloc(32), heap.raw.malloc(2056));
    expect(again).toContain(ctl);
    let n = 0;
    heap.walk(() => n++);
    expect(n).toBe(again.length);
  });

  it("failAllocations on raw does not refuse the pool its table", () => {
    const heap = createHeap();
    heap.failAllocations({ family: "raw", every: 1 });
    const pool = asMemPool(heap);
    expect(heap.failAllocations(null)).toBe(0);
    expect(pool.free(pool.malloc(8))).toBe(true);
  });
});

describe("F10: fromFunctions' u8 is over all of its buffer, and memory's buffer when both are given", () => {
  const alloc = { malloc: bumping(new ArrayBuffer(0)).malloc, free: () => {} };
  it("a u8 at an offset, or shorter than its buffer: TypeError saying what to pass", () => {
    const whole = new Uint8Array(65536);
    for (const u8 of [whole.subarray(4096), whole.subarray(0, 32768), new Uint8Array(whole.buffer, 16, 1024)]) {
      const e = thrownBy(() => fromFunctions({ u8, ...alloc }));
      expect(e).toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(/u8 covers bytes .* pass a view over all of it/);
    }
    expect(fromFunctions({ u8: whole, ...alloc }).u8.buffer).toBe(whole.buffer);
  });

  it("memory and u8 of different buffers: TypeError; of the same: accepted", () => {
    const mem = new WebAssembly.Memory({ initial: 1 });
    const e = thrownBy(() => fromFunctions({ memory: mem, u8: new Uint8Array(65536), ...alloc }));
    expect(e).toBeInstanceOf(TypeError);
    expect((e as Error).message).toMatch(/memory and u8 name different buffers/);
    expect(thrownBy(() => fromFunctions({ memory: new ArrayBuffer(65536), u8: new Uint8Array(65536), ...alloc }))).toBeInstanceOf(TypeError);
    expect(thrownBy(() => fromFunctions({ memory: mem, u8: [1, 2] as unknown as Uint8Array, ...alloc }))).toBeInstanceOf(TypeError);
    expect(fromFunctions({ memory: mem, u8: new Uint8Array(mem.buffer), ...alloc }).u8.buffer).toBe(mem.buffer);
    const ab = new ArrayBuffer(65536);
    expect(fromFunctions({ memory: ab, u8: new Uint8Array(ab), ...alloc }).u8.buffer).toBe(ab);
  });
});

describe("F02: fromExports without a live-block table refuses a pointer no block can start at", () => {
  it("free, realloc and usableSize past the memory's end: InvalidPointerError beyond-views (not the module's trap); off the alignment: misaligned", () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 65536 });
    const inst = new WebAssembly.Instance(DLMALLOC, { env: { memory } });
    const h = fromExports(inst.exports, { memory });
    const live = h.mem.malloc(24);
    const end = h.buffer.byteLength;
    const ops: [string, () => unknown][] = [
      ["free", () => h.mem.free(end + 16)],
      ["free", () => h.mem.free(2 ** 32 - 16)],
      ["realloc", () => h.mem.realloc(end + 16, 8)],
      ["usableSize", () => h.usableSize(end + 16)],
      ["usableSize", () => h.usableSize(2 ** 32 - 1)],
    ];
    for (const [op, f] of ops) {
      const e = thrownBy(f);
      expect(e).toBeInstanceOf(InvalidPointerError);
      expect((e as InvalidPointerError).reason).toBe("beyond-views");
      expect((e as Error).message).toMatch(new RegExp(`^${op}\\(`));
    }
    for (const f of [() => h.mem.free(live + 4), () => h.mem.realloc(live + 4, 8), () => h.usableSize(live + 4)]) {
      const e = thrownBy(f);
      expect(e).toBeInstanceOf(InvalidPointerError);
      expect((e as InvalidPointerError).reason).toBe("misaligned");
    }
    expect(h.usableSize(live)).toBeGreaterThanOrEqual(24);
    h.mem.free(live);
    h.check();
  });
});

describe("F11: ForeignHeap checks its spec; an allocator that hands out a live block again is named", () => {
  it("new ForeignHeap(undefined), or a spec without malloc, free, memory or name: TypeError naming what is missing", () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const full: ForeignSpec = { name: "x", memory, malloc: () => 1024, free: () => {} };
    const cases: [unknown, RegExp][] = [
      [undefined, /spec must be \{ name, memory, malloc, free \}, got undefined/],
      [null, /spec must be \{ name, memory, malloc, free \}, got null/],
      [{ ...full, malloc: undefined }, /spec\.malloc must be a function/],
      [{ ...full, free: 5 }, /spec\.free must be a function/],
      [{ ...full, memory: undefined }, /spec\.memory is missing/],
      [{ ...full, name: undefined }, /spec\.name must be a string/],
      [{ ...full, realloc: "no" }, /spec\.realloc must be a function/],
    ];
    for (const [spec, message] of cases) {
      const e = thrownBy(() => new ForeignHeap(spec as ForeignSpec));
      expect(e).toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(message);
    }
    expect(new ForeignHeap({ ...full, ...bumping(memory) }).mem.malloc(8)).not.toBe(0); // a whole spec works
  });

  for (const options of [{ trackBlocks: true }, { allocator: "debug" as const }]) {
    it(`${JSON.stringify(options)}: a malloc that returns a live block again is a PymallocError naming the allocator's fault, not a table of 68 GB`, () => {
      const memory = new WebAssembly.Memory({ initial: 4 });
      const e = thrownBy(() => fromFunctions({ memory, malloc: () => 1024, free: () => {} }, options));
      expect(e).toBeInstanceOf(PymallocError);
      expect((e as Error).message).toMatch(/hands out a live block again \(the allocator's fault\)/);
      // Its table's blocks apart, then a user block over the table.
      const order = [1024, 2048, 1024, 1024];
      let i = 0;
      const h = thrownBy(() => {
        const f = fromFunctions({ memory, malloc: () => order[Math.min(i++, order.length - 1)], free: () => {} }, { ...options, quarantineBlocks: 0 });
        return f.mem.malloc(8);
      });
      expect(h).toBeInstanceOf(PymallocError);
      expect((h as Error).message).toMatch(/for a block of \d+ bytes over pymalloc's live-block table.*hands out a live block again/);
    });
  }

  it("a given usableSize that returns a BigInt: PymallocError naming it, not the engine's BigInt mix error", () => {
    const memory = new WebAssembly.Memory({ initial: 4 });
    const h = fromFunctions({ memory, malloc: () => 1024, free: () => {}, usableSize: () => 16n as unknown as number });
    const e = thrownBy(() => h.usableSize(h.mem.malloc(8)));
    expect(e).toBeInstanceOf(PymallocError);
    expect((e as Error).message).toMatch(/usableSize\(0x00000400\) returned bigint/);
  });
});
