// One stray write, then a program that goes on after the errors it gets (session 48's hunt).
// test/stray-writes.test.ts stops at the first typed error; a program that catches it and goes
// on (a server that logs and serves the next request) must meet no worse: every later call
// either succeeds with every live block intact and no two overlapping, or throws a typed error;
// and a call that throws a HeapCorruptionError or an InvalidPointerError has changed no byte of
// the memory (a refused call leaves the heap as it was). Damage: one write of a user's typical
// value (0, 1, small ints, a pointer into the heap, 0xffffffff, a byte) at an allocator metadata
// word (pool and arena headers, the heap header's usedpools, raw chunk headers) or at a block's
// neighbour (an overflow of 1-16 bytes past its end, an underflow before its start). Heaps: the
// default, hardened: true, threads: true, the "malloc" allocator, whole pools, alignment 16.
// Then misuse without damage: every public family method given what is no pointer or size.
// Each case found here has its own test first, failing before its fix.
import { describe, expect, it } from "vitest";
import { constants, createHeap, HeapCorruptionError, InvalidPointerError, type Heap, type HeapOptions } from "../src/index.js";
import { corruption } from "./helpers.js";

const { Pool } = constants;

/** The pool (or sub-pool) header of small block p. */
function poolOf(h: Heap, p: number): number {
  const slot = p & ~(h.objectAllocator.poolSize - 1);
  const sub = h.u32[(slot + Pool.SUB) >>> 2] & 0xff;
  return sub === 0 ? slot : p & ~((1 << sub) - 1);
}

const copy = (h: Heap): Uint8Array => h.u8.slice();

/** The first byte where the memory differs from `before`, or -1. */
function firstChange(h: Heap, before: Uint8Array): number {
  const u8 = h.u8;
  if (u8.length !== before.length) return Math.min(u8.length, before.length);
  for (let i = 0; i < u8.length; i++) if (u8[i] !== before[i]) return i;
  return -1;
}

/**
 * Blocks of `size` from h.obj until the head pool of their class is about to hand out its last
 * block (its free list one block long, every block carved): that pool, and the blocks taken.
 */
function fillingPool(h: Heap, size: number): { pool: number; taken: number[] } {
  const taken: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const p = h.obj.malloc(size);
    taken.push(p);
    const pool = poolOf(h, p);
    const u32 = h.u32;
    const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
    if (fb !== 0 && u32[fb >>> 2] === 0 && u32[(pool + Pool.NEXTOFFSET) >>> 2] > u32[(pool + Pool.MAXNEXTOFFSET) >>> 2]) return { pool, taken };
  }
  throw new Error("no pool filled");
}

const FILL_MODES: [string, HeapOptions][] = [
  ["default (sub-pools)", {}],
  ["whole pools", { subPools: false }],
  ["hardened", { hardened: true }],
  ["threads", { threads: true }],
  ["threads, whole pools", { threads: true, subPools: false }],
  ["alignment 16, whole pools", { alignment: 16, subPools: false }],
];

describe("a malloc refused on a filling pool's damaged usedpools links leaves the heap as it was", () => {
  // Before: mallocIn popped the pool's last block (count + 1, FREEBLOCK 0, its tag cleared), then
  // extendPool's unlinkPool threw: the count held a block nobody had (the pool never empties).
  it.each(FILL_MODES)("%s: Pool.NEXT pointed elsewhere, the malloc that would fill the pool throws HeapCorruptionError naming it, no byte changed; put back, the malloc succeeds", (_name, options) => {
    for (const size of [48, 496]) {
      const h = createHeap(options);
      const { pool } = fillingPool(h, size);
      const at = (pool + Pool.NEXT) >>> 2;
      const old = h.u32[at];
      h.u32[at] = pool; // a pointer into the heap: the pool itself, whose PREV does not name it
      const before = copy(h);
      const e = corruption(() => h.obj.malloc(size));
      expect(e.field).toBe("Pool.NEXT");
      expect(e.address).toBe(pool + Pool.NEXT);
      expect(firstChange(h, before)).toBe(-1);
      h.u32[at] = old;
      h.check();
      const p = h.obj.malloc(size);
      expect(poolOf(h, p)).toBe(pool);
      h.check();
    }
  });
});

/** A heap with small blocks of several classes in several pools, every fifth freed. */
function heapWithPools(options: HeapOptions = {}): { h: Heap; live: number[]; freed: number[] } {
  const h = createHeap(options);
  const all: number[] = [];
  for (let i = 0; i < 600; i++) all.push(h.obj.malloc(8 + ((i * 37) % 500)));
  const freed = all.filter((_, i) => i % 5 === 0);
  for (const p of freed) h.obj.free(p);
  return { h, live: all.filter((_, i) => i % 5 !== 0), freed };
}

describe("stats() over a damaged pool header: what it checks (O(1) a pool) names the word, what it trusts is its header's list", () => {
  it.each([["default", {}], ["whole pools", { subPools: false }], ["threads", { threads: true }]] as [string, HeapOptions][])(
    "%s: a pool's FREEBLOCK pointed at a live block of the pool, or off a block start: HeapCorruptionError naming Pool.FREEBLOCK (stats() gave the undamaged numbers, no error)",
    (_name, options) => {
      const { h, live } = heapWithPools(options);
      // a pool with a free list and a live block in it
      const p = live.find((q) => h.u32[(poolOf(h, q) + Pool.FREEBLOCK) >>> 2] !== 0)!;
      const pool = poolOf(h, p);
      const at = (pool + Pool.FREEBLOCK) >>> 2;
      const old = h.u32[at];
      for (const v of [p, old + 8, pool + Pool.OVERHEAD - 16]) {
        h.u32[at] = v;
        const e = corruption(() => h.stats());
        expect(e.field).toBe("Pool.FREEBLOCK");
        expect(e.address).toBe(pool + Pool.FREEBLOCK);
      }
      h.u32[at] = old;
      h.stats();
      h.check();
    },
  );

  it("threads: a pool's REMOTE word pointed at a live block of the pool: HeapCorruptionError naming the list (stats() counted the live block as freed by another thread)", () => {
    const { h, live } = heapWithPools({ threads: true });
    const before = h.stats().blocksInUse;
    const p = live[10];
    const pool = poolOf(h, p);
    h.u32[(pool + Pool.REMOTE) >>> 2] = p;
    const e = corruption(() => h.stats());
    expect(e.field).toBe("Pool.REMOTE list");
    expect(e.address).toBe(pool + Pool.REMOTE);
    h.u32[(pool + Pool.REMOTE) >>> 2] = 0;
    expect(h.stats().blocksInUse).toBe(before);
  });

  it("trusted, as stats.ts's header says: a COUNT changed within 1..carved-1 while the free list is not empty is counted as it says; walk() and check() name it", () => {
    const { h, live } = heapWithPools();
    const before = h.stats();
    const p = live.find((q) => h.u32[(poolOf(h, q) + Pool.FREEBLOCK) >>> 2] !== 0 && h.u32[poolOf(h, q) >>> 2] > 1)!;
    const pool = poolOf(h, p);
    h.u32[pool >>> 2] -= 1;
    expect(h.stats().blocksInUse).toBe(before.blocksInUse - 1);
    expect(corruption(() => h.check()).field).toBe("Pool.COUNT");
    expect(corruption(() => h.walk(() => {})).address).toBe(pool);
  });
});
