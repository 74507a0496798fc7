// One stray write, then a program that goes on after the errors it gets (session 48's hunt).
// test/stray-writes.test.ts stops at the first typed error; a program that catches it and goes
// on (a server that logs and serves the next request) must meet no worse: every later call
// either succeeds with every live block intact and no two overlapping, or throws a typed error;
// nothing is handed out over a small block whose free or realloc was refused, and a raw block
// whose free or realloc was refused stays live, its bytes intact (session 49). Damage: one
// write of a user's typical value (0, 1, small ints, a pointer into the heap, 0xffffffff, a
// byte) at an allocator metadata word (pool and arena headers, the heap header's usedpools, raw
// chunk headers, a free or cached chunk's header, footer and links, the top, the raw lists'
// heads and the raw cache's) or at a block's neighbour (an overflow of 1-16 bytes past its end,
// an underflow before its start). Heaps: the default, hardened: true, threads: true, the "malloc" allocator,
// whole pools, alignment 16, the WebAssembly fast path. HUNT_DIRTY=1 HUNT_VERBOSE=1 also lists
// the refused calls that changed the memory (the README's "nothing written": a survey, see
// docs/performance.md, session 48). Before the campaign: the cases found by hand and by it, one
// test each (a refused malloc, free or stats() leaves the heap as it was, or names the word),
// each failing before its fix. After it: misuse of an undamaged heap (interior, freed, header
// and past-the-memory pointers), a typed error and no byte of the memory changed.
import { describe, expect, it } from "vitest";
import { constants, createHeap, HeapCorruptionError, InvalidPointerError, MemoryCorruptionError, type Heap, type HeapOptions } from "../src/index.js";
import { corruption, strayWrite, uniform } from "./helpers.js";

const { Pool, Chunk, Flag, Tlsf, RawCache } = constants;

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
  if (Buffer.from(u8.buffer, u8.byteOffset, u8.length).equals(before)) return -1;
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

/**
 * A heap whose pool of 96-byte blocks is full, its last block just taken (`last`: its free
 * pushes the pool back into usedpools), the blocks before it, and the word index of the class's
 * usedpools head (`head`).
 */
function fullPoolBlock(options: HeapOptions): { h: Heap; taken: number[]; last: number; head: number } {
  const h = createHeap(options);
  const { pool, taken } = fillingPool(h, 96);
  const last = h.obj.malloc(96);
  expect(poolOf(h, last)).toBe(pool);
  expect(h.u32[(pool + Pool.FREEBLOCK) >>> 2]).toBe(0);
  const o = h.objectAllocator as unknown as { usedBase: number };
  return { h, taken, last, head: (o.usedBase + 8 * h.u32[(pool + Pool.SZIDX) >>> 2]) >>> 2 };
}

describe("a free refused on damage met after the block's push leaves the heap as it was (the block stayed pushed: handed out again while its user held it)", () => {
  it.each(FILL_MODES)("%s: a full pool's block freed while its class's usedpools head is damaged: HeapCorruptionError naming Pool.NEXT, no byte changed; put back, the free succeeds", (_name, options) => {
    const { h, taken, last, head } = fullPoolBlock(options);
    const old = h.u32[head];
    h.u32[head] = taken[0]; // a pointer to a live block
    h.u8.fill(0x5a, last, last + 96);
    const before = copy(h);
    const e = corruption(() => h.obj.free(last));
    expect(e.field).toBe("Pool.NEXT");
    expect(firstChange(h, before)).toBe(-1);
    h.u32[head] = old;
    h.check();
    h.obj.free(last);
    h.check();
  });

  it.each(FILL_MODES)("%s: a realloc that moves a full pool's block while its class's usedpools head is damaged: HeapCorruptionError naming Pool.NEXT, the block live and its bytes kept, the new block given back (it leaked before)", (_name, options) => {
    const { h, taken, last, head } = fullPoolBlock(options);
    const other = h.obj.malloc(300); // a pool of the class realloc moves to
    h.u8.fill(0x5a, last, last + 96);
    const inUse = h.stats().blocksInUse;
    const old = h.u32[head];
    h.u32[head] = taken[0]; // a pointer to a live block
    const e = corruption(() => h.obj.realloc(last, 300));
    expect(e.field).toBe("Pool.NEXT");
    h.u32[head] = old;
    h.check();
    expect(h.stats().blocksInUse).toBe(inUse); // the block moved to was given back
    expect(h.usableSize(last)).toBe(96);
    expect([...h.u8.subarray(last, last + 96)].every((b) => b === 0x5a)).toBe(true);
    const q = h.obj.realloc(last, 300);
    expect(q).not.toBe(0);
    expect([...h.u8.subarray(q, q + 96)].every((b) => b === 0x5a)).toBe(true);
    for (const p of [...taken, q, other]) h.obj.free(p);
    h.check();
    expect(h.stats().blocksInUse).toBe(0);
  });

  // Whole pools: the emptied pool goes back to its arena (a young class's sub-pool stays as its spare, a thread's only pool stays).
  it.each(FILL_MODES.filter(([, o]) => o.subPools === false))("%s: a pool's last block freed while the pool's usedpools links are damaged (its emptying unlinks it): HeapCorruptionError naming Pool.NEXT, no byte changed; put back, the free succeeds", (_name, options) => {
    const h = createHeap(options);
    const keep = h.obj.malloc(496); // a pool of the class that stays, so the emptied one goes back
    const p = h.obj.malloc(496);
    const others = Array.from({ length: 40 }, () => h.obj.malloc(496));
    const pool = poolOf(h, p);
    for (const q of [...others, keep]) if (poolOf(h, q) === pool) h.obj.free(q);
    expect(h.u32[pool >>> 2]).toBe(1); // p is its pool's last block in use
    const at = (pool + Pool.NEXT) >>> 2;
    const old = h.u32[at];
    h.u32[at] = pool; // links that do not come back
    h.u8.fill(0xa5, p, p + 496);
    const before = copy(h);
    const e = corruption(() => h.obj.free(p));
    expect(e.field).toBe("Pool.NEXT");
    expect(firstChange(h, before)).toBe(-1);
    h.u32[at] = old;
    h.check();
    h.obj.free(p);
    h.check();
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

const RAW_MODES: [string, HeapOptions][] = [
  ["pymalloc", {}],
  ["malloc", { allocator: "malloc" }],
  ["hardened", { hardened: true }],
  ["threads", { threads: true }],
];

/**
 * A raw call refused on damage met in what it follows, its throw checked, the memory compared
 * (exact: no byte changed; else the raw top and the blocks in use as they were: a call that
 * undid what it did), the block then verified live (its bytes, its usable size) and, with the
 * damaged word put back, the call made again: it succeeds and the heap checks clean.
 */
function refusedRaw(h: Heap, damage: () => () => void, call: () => unknown, live: number[], field: string | RegExp, exact = true): void {
  const bytes = live.map((p) => {
    const n = h.usableSize(p);
    for (let k = 0; k < n; k++) h.u8[p + k] = (p + 7 * k) & 255;
    return h.u8.slice(p, p + n);
  });
  const blocks = h.stats().raw.blocks;
  const undo = damage();
  const before = copy(h);
  const top = h.rawAllocator.top;
  const e = corruption(call);
  if (typeof field === "string") expect(e.field).toBe(field);
  else expect(e.field).toMatch(field);
  if (exact) expect(firstChange(h, before)).toBe(-1);
  expect(h.rawAllocator.top).toBe(top);
  undo();
  expect(h.stats().raw.blocks).toBe(blocks); // nothing taken and kept (a realloc's new block)
  live.forEach((p, i) => {
    expect(h.usableSize(p)).toBe(bytes[i].length);
    expect(h.u8.slice(p, p + bytes[i].length)).toEqual(bytes[i]);
  });
  h.check();
  call();
  h.check();
}

/** Set the word at byte address a to v; returns what puts it back. */
function setWord(h: Heap, a: number, v: number): () => void {
  const old = h.u32[a >>> 2];
  h.u32[a >>> 2] = v;
  return () => {
    h.u32[a >>> 2] = old;
  };
}

describe("a refused raw free or realloc leaves the heap as it was: nothing written, the block live (session 49; each wrote first before)", () => {
  // Chunks over RawCache.MAX_SIZE bytes are released at once (no raw cache).
  const BIG = 5000;

  it.each(RAW_MODES)("%s: free of a block between two free chunks, the next one's list link damaged (the previous one was unlinked first)", (_n, options) => {
    const h = createHeap(options);
    const [a, x, b] = [h.raw.malloc(BIG), h.raw.malloc(BIG), h.raw.malloc(2 * BIG), h.raw.malloc(BIG)]; // a and b on two lists
    h.raw.free(a);
    h.raw.free(b);
    refusedRaw(h, () => setWord(h, b - Chunk.HEADER + Chunk.NEXT_FREE, x), () => h.raw.free(x), [x], "Chunk.NEXT_FREE");
  });

  it.each(RAW_MODES)("%s: free of a block whose list's head is damaged (its header and footer were written, then the head refused: the block read free)", (_n, options) => {
    const h = createHeap(options);
    const y = h.raw.malloc(BIG);
    h.raw.malloc(16);
    const x = h.raw.malloc(BIG);
    h.raw.malloc(16);
    h.raw.free(y); // heads the list x's chunk goes on
    refusedRaw(h, () => setWord(h, y - Chunk.HEADER + Chunk.PREV_FREE, x - Chunk.HEADER), () => h.raw.free(x), [x], "TLSF free list head");
  });

  it.each(RAW_MODES)("%s: a malloc past the peak while a damaged chunk is cached (the cache is emptied first: refused before the top moves; until session 55 the free of the block at the top emptied it, and until session 49 after its chunk went into the top: handed out again)", (_n, options) => {
    const h = createHeap(options);
    const k = h.raw.malloc(1000);
    const g = h.raw.malloc(100);
    const t = h.raw.malloc(BIG);
    expect(t + h.usableSize(t) + Chunk.OVERHEAD - Chunk.HEADER).toBe(h.rawAllocator.top);
    h.raw.free(k); // cached
    h.raw.free(t); // the top comes down to g's end, k still cached
    refusedRaw(h, () => setWord(h, g - Chunk.HEADER, 0), () => h.raw.malloc(2 * BIG), [g], "Chunk.SIZE"); // k's footer
  });

  it.each(RAW_MODES)("%s: realloc that shrinks a block before a free chunk whose list link is damaged (the block's header and its rest's were written)", (_n, options) => {
    const h = createHeap(options);
    const x = h.raw.malloc(BIG);
    const y = h.raw.malloc(BIG);
    h.raw.malloc(BIG);
    h.raw.free(y);
    refusedRaw(h, () => setWord(h, y - Chunk.HEADER + Chunk.PREV_FREE, x), () => h.raw.realloc(x, 100), [x], "Chunk.NEXT_FREE");
  });

  it.each(RAW_MODES)("%s: realloc that grows into the free chunk after it, the list its rest goes on damaged (the free chunk was unlinked, the block grown)", (_n, options) => {
    const h = createHeap(options);
    const z = h.raw.malloc(5000); // a free chunk of 5008 bytes heads the rest's list
    h.raw.malloc(16);
    const x = h.raw.malloc(6000); // 6016 bytes
    const y = h.raw.malloc(10000); // 10016 bytes
    h.raw.malloc(16);
    h.raw.free(z);
    h.raw.free(y);
    // grown to 11024 bytes, the rest 6016 + 10016 - 11024 = 5008
    refusedRaw(h, () => setWord(h, z - Chunk.HEADER + Chunk.PREV_FREE, x - Chunk.HEADER), () => expect(h.raw.realloc(x, 11016)).toBe(x), [x], "TLSF free list head");
  });

  it.each(RAW_MODES)("%s: realloc that moves a block after a free chunk whose list link is damaged (malloc and the copy came first: the new block leaked; now given back)", (_n, options) => {
    const h = createHeap(options);
    const a = h.raw.malloc(BIG);
    const x = h.raw.malloc(BIG);
    const g = h.raw.malloc(BIG);
    h.raw.free(a);
    refusedRaw(h, () => setWord(h, a - Chunk.HEADER + Chunk.NEXT_FREE, g), () => h.raw.realloc(x, 4 * BIG), [x, g], "Chunk.NEXT_FREE", false);
  });
});

describe("an arena given back meets damage in the raw allocator: refused before the arena leaves its lists (session 49)", () => {
  it("whole pools: the free that empties an arena at the top, its mark damaged: HeapCorruptionError naming H.TOP, the arena still mapped and made (it was unlisted, unmapped and its MAGIC cleared, then freeArena threw)", () => {
    const h = createHeap({ subPools: false });
    const ps = h.objectAllocator.poolSize;
    const arenaOf = (p: number): number => h.u32[((p & ~(ps - 1)) + Pool.ARENA) >>> 2];
    const first = h.obj.malloc(496);
    const a1 = arenaOf(first);
    const inA1: number[] = [first];
    const inA2: number[] = [];
    for (let i = 0; i < 100000 && inA2.length < 3; i++) {
      const p = h.obj.malloc(496);
      (arenaOf(p) === a1 ? inA1 : inA2).push(p);
    }
    // A pool of the first arena freed whole: it is usable, so the second goes back when it empties.
    for (const p of inA1) if ((p & ~(ps - 1)) === (first & ~(ps - 1))) h.obj.free(p);
    const a2 = arenaOf(inA2[0]);
    expect(a2 + constants.Arena.OVERHEAD).toBe(h.rawAllocator.top); // its chunk ends at the top (its header in its last bytes)
    h.obj.free(inA2[0]);
    h.obj.free(inA2[1]);
    const mark = (h.rawAllocator.top + Chunk.SIZE) >>> 2;
    const old = h.u32[mark];
    h.u32[mark] = 0;
    expect(corruption(() => h.obj.free(inA2[2])).field).toBe("H.TOP");
    h.u32[mark] = old;
    expect(h.objectAllocator.isOurs(inA2[2])).toBe(true);
    expect(h.u32[(a2 + constants.Arena.MAGIC) >>> 2]).not.toBe(0);
    expect(h.rawAllocator.arenas().length).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// The campaign
// ---------------------------------------------------------------------------------------------

/** Cases a mode and a kind (a hunt: HUNT_CASES=400 HUNT_FROM=100000 npx vitest run test/damage-hunt.test.ts). */
const CASES = Number(process.env.HUNT_CASES ?? 10);
const FROM = Number(process.env.HUNT_FROM ?? 0);
/**
 * Refused calls that changed the memory are listed (HUNT_VERBOSE) when HUNT_DIRTY is set: a
 * survey, not asserted (session 48 found the emptying of a pool, the raw allocator's cache flush
 * and the young classes' spare returns refuse after writing: docs/performance.md, session 48).
 */
const DIRTY = process.env.HUNT_DIRTY !== undefined;
/** Calls before the damage, and after it. */
const BEFORE = 120;
const AFTER = 120;
/** A program stops after this many typed errors (each refused call is looked at). */
const MAX_ERRORS = 6;

const HUNT_MODES: Record<string, HeapOptions & { wasm?: boolean }> = {
  pymalloc: {},
  hardened: { hardened: true },
  threads: { threads: true },
  malloc: { allocator: "malloc" },
  "whole pools": { subPools: false },
  "alignment 16": { alignment: 16 },
  "WebAssembly fast path": { wasm: true },
};
const DAMAGE = ["pool word", "usedpools word", "arena word", "chunk word", "free chunk word", "raw head word", "overflow", "underflow"] as const;
type Damage = (typeof DAMAGE)[number];

function rng(seed: number): () => number {
  return uniform((seed * 2654435761) >>> 0);
}

interface HuntFam {
  malloc(n: number): number;
  calloc(k: number, n: number): number;
  free(p: number): void;
  realloc(p: number, n: number): number;
}
interface HuntBlock {
  p: number;
  n: number;
  fam: number;
  bytes: Uint8Array;
}

/** What a case found: refused calls that changed memory (by call and error), and the first bug or "". */
interface HuntResult {
  bug: string;
  errors: number;
  dirtyRefusals: string[];
}

const typed = (e: unknown): boolean => e instanceof HeapCorruptionError || e instanceof InvalidPointerError || (e instanceof RangeError && !/offset is out of bounds|Invalid typed array length/.test(e.message)) || (e instanceof TypeError && !/Cannot read|undefined|null|not a function/.test(e.message));

function huntCase(seed: number, opts: HeapOptions & { wasm?: boolean }, damage: Damage): HuntResult {
  const rand = rng(seed);
  const ri = (n: number): number => Math.floor(rand() * n);
  const { wasm, ...heapOpts } = opts;
  const h: Heap = createHeap(wasm ? { ...heapOpts, memory: new WebAssembly.Memory({ initial: 8, maximum: 1024 }) } : heapOpts);
  const fams: HuntFam[] = [h.raw, h.mem, h.obj];
  if (wasm) {
    const env = h.wasmImports({ family: "obj" });
    fams[2] = { malloc: (n) => env.malloc(n) >>> 0, calloc: (k, n) => env.calloc(k, n) >>> 0, free: (p) => env.free(p), realloc: (p, n) => env.realloc(p, n) >>> 0 };
  }
  const live: HuntBlock[] = [];
  const freed: number[] = [];
  const result: HuntResult = { bug: "", errors: 0, dirtyRefusals: [] };
  /** The calls since the damage, and their outcomes (a bug's report ends with them). */
  const log: string[] = [];
  const size = (): number => {
    const c = ri(16);
    return c === 0 ? 0 : c < 3 ? 513 + ri(5000) : 1 + ri(512);
  };
  /** Blocks a refused free or realloc left in doubt (see call()). */
  const limbo: HuntBlock[] = [];
  const overlapping = (p: number, n: number): HuntBlock | undefined =>
    live.find((b) => p < b.p + Math.max(b.n, 1) && b.p < p + Math.max(n, 1)) ?? limbo.find((b) => p < b.p + Math.max(b.n, 1) && b.p < p + Math.max(n, 1));
  const add = (p: number, n: number, fam: number, zero: boolean): string => {
    if (p < h.heapBase + 64 || p + n > h.u8.length) return `block ${p} (${n} bytes) outside the heap's blocks`;
    const o = overlapping(p, n);
    if (o) return `block ${p} (${n} bytes) handed out over live ${o.p} (${o.n} bytes)`;
    if (zero) for (let k = 0; k < n; k++) if (h.u8[p + k] !== 0) return `calloc block ${p} byte ${k} not zero`;
    const b: HuntBlock = { p, n, fam, bytes: new Uint8Array(n) };
    for (let k = 0; k < n; k++) b.bytes[k] = ri(256);
    h.u8.set(b.bytes, p);
    live.push(b);
    return "";
  };
  const verify = (): string => {
    const u8 = h.u8;
    for (const b of live) for (let k = 0; k < b.n; k++) if (u8[b.p + k] !== b.bytes[k]) return `live block ${b.p} (${b.n} bytes) lost byte ${k}`;
    return "";
  };
  /** A value a stray write holds. */
  const value = (): number => {
    const c = ri(9);
    if (c === 0) return 0;
    if (c === 1) return 1;
    if (c === 2) return ri(17);
    if (c === 3) return 0xffffffff;
    if (c === 4 && live.length) return live[ri(live.length)].p;
    if (c === 5 && freed.length) return freed[ri(freed.length)];
    if (c === 6) return 16 * (1 + ri(32));
    if (c === 7 && live.length) return live[ri(live.length)].p + 8 * (ri(9) - 4);
    return ri(2 ** 32);
  };
  const stray = (a: number, bytes: number[]): void => strayWrite(h.u8, live, a, bytes);
  const word = (v: number): number[] => (ri(5) === 0 ? [v & 255] : [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255]);
  const o = h.objectAllocator as unknown as { usedBase: number; nClasses: number; poolSize: number; arenaHeader(first: number): number };
  const doDamage = (): void => {
    const small = live.filter((b) => b.n > 0 && b.n <= 512 && b.fam !== 0 && h.objectAllocator.isOurs(b.p));
    const rawb = live.filter((b) => !h.objectAllocator.isOurs(b.p));
    if (damage === "pool word" && small.length) {
      const b = small[ri(small.length)];
      const pool = ri(3) === 0 ? b.p & ~(o.poolSize - 1) : poolOf(h, b.p);
      stray(pool + 4 * ri(Pool.OVERHEAD / 4), word(value()));
    } else if (damage === "usedpools word") {
      // a class in use, its head or tail word (usedSentinel: usedBase + 8c - 8, NEXT at +8, PREV at +12)
      const c = small.length && ri(4) !== 0 ? (poolOf(h, small[ri(small.length)].p) === 0 ? 0 : h.u32[(poolOf(h, small[ri(small.length)].p) + Pool.SZIDX) >>> 2]) : ri(o.nClasses);
      stray(o.usedBase + 8 * c + 4 * ri(2), word(value()));
    } else if (damage === "arena word") {
      const arenas = [...h.rawAllocator.arenas()];
      if (arenas.length) {
        const a = o.arenaHeader(arenas[ri(arenas.length)]);
        stray(a + 4 * ri(8), word(value()));
      }
    } else if (damage === "chunk word" && rawb.length) {
      const b = rawb[ri(rawb.length)];
      const at = ri(2) === 0 ? b.p - 8 + 4 * ri(2) : b.p + h.usableSize(b.p) + 4 * ri(2); // its header, or the next chunk's
      stray(at, word(value()));
    } else if (damage === "free chunk word") {
      // A free or cached chunk's header, footer or list links, one beside a live raw block when
      // there is one (the neighbour a free or realloc of it merges or meets).
      const ra = h.rawAllocator;
      const free: number[] = [];
      const near: number[] = [];
      let prevLive = false;
      for (let c = ra.start, top = ra.top; c < top; ) {
        const sw = h.u32[(c + 4) >>> 2];
        const sz = constants.sizeOf(sw);
        if (sz < Chunk.MIN) break;
        const isFree = (sw & Flag.FREE) !== 0;
        const isLive = !isFree && rawb.some((b) => b.p === c + Chunk.HEADER);
        if (isFree) {
          free.push(c);
          if (prevLive) near.push(c);
        } else if (isLive && free.length && free[free.length - 1] + constants.sizeOf(h.u32[(free[free.length - 1] + 4) >>> 2]) === c) near.push(free[free.length - 1]);
        prevLive = isLive;
        c += sz;
      }
      const pick = near.length && ri(3) !== 0 ? near : free;
      if (pick.length) {
        const c = pick[ri(pick.length)];
        const k = ri(4);
        const at = k === 0 ? c + 4 : k === 1 ? c + constants.sizeOf(h.u32[(c + 4) >>> 2]) : k === 2 ? c + Chunk.NEXT_FREE : c + Chunk.PREV_FREE;
        stray(at, word(value()));
      }
    } else if (damage === "raw head word") {
      // The top (H.TOP, its mark, its first word: the last chunk's footer), a free list's head, a
      // raw cache list's head or its count.
      const ra = h.rawAllocator as unknown as { wTop: number; wHeads: number; wCache: number; top: number };
      const k = ri(4);
      if (k === 0) {
        const j = ri(3);
        stray(j === 0 ? ra.wTop << 2 : ra.top + 4 * (j - 1), word(value()));
      } else if (k === 1) {
        const lists = Array.from({ length: Tlsf.FL_COUNT * Tlsf.SL_COUNT }, (_, i) => i).filter((i) => h.u32[ra.wHeads + i] !== 0);
        if (lists.length) stray((ra.wHeads + lists[ri(lists.length)]) << 2, word(value()));
      } else {
        const bins = Array.from({ length: RawCache.BINS }, (_, i) => i).filter((i) => h.u32[ra.wCache + RawCache.HEAD_WORDS + i] !== 0);
        stray((k === 2 && bins.length ? ra.wCache + RawCache.HEAD_WORDS + bins[ri(bins.length)] : ra.wCache) << 2, word(value()));
      }
    } else if (damage === "overflow" && live.length) {
      const b = live[ri(live.length)];
      const len = 1 + ri(16);
      const bytes: number[] = [];
      while (bytes.length < len) bytes.push(...word(value()));
      stray(b.p + b.n, bytes.slice(0, len));
    } else if (damage === "underflow" && live.length) {
      const b = live[ri(live.length)];
      const len = 1 + ri(16);
      const bytes: number[] = [];
      while (bytes.length < len) bytes.push(...word(value()));
      stray(b.p - len, bytes.slice(0, len));
    }
  };
  /** One call; "" or the bug. After the damage, a refused call is looked at: it must have changed no byte. */
  const call = (damaged: boolean): string => {
    const c = ri(20);
    const snap = damaged && DIRTY ? h.u8.slice() : undefined;
    let what = "";
    let refused: HuntBlock | undefined;
    let small = false; // refused is a small block (before the call: a refused emptying may have unmapped its arena)
    try {
      if (c < 8 || live.length === 0) {
        const n = size();
        const fam = ri(3);
        const zero = c < 2;
        what = `${zero ? "calloc" : "malloc"}(${n}) fam ${fam}`;
        const p = zero ? fams[fam].calloc(1, n) : fams[fam].malloc(n);
        return p === 0 ? "" : add(p, n, fam, zero);
      }
      const i = ri(live.length);
      const b = live[i];
      refused = b;
      small = h.objectAllocator.isOurs(b.p);
      if (c < 15) {
        what = `free(${b.p}) fam ${b.fam}`;
        fams[b.fam].free(b.p);
        live.splice(i, 1);
        freed.push(b.p);
        if (freed.length > 40) freed.shift();
        return "";
      }
      const n = size();
      what = `realloc(${b.p}, ${n}) fam ${b.fam}`;
      const q = fams[b.fam].realloc(b.p, n);
      if (q === 0) return n === 0 ? "" : "";
      live.splice(i, 1);
      const keep = Math.min(n, b.n);
      for (let k = 0; k < keep; k++) if (h.u8[q + k] !== b.bytes[k]) return `${what} -> ${q} lost byte ${k}`;
      if (q !== b.p) freed.push(b.p);
      return add(q, n, b.fam, false);
    } catch (e) {
      if (!typed(e)) return `${what}: untyped ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`;
      result.errors++;
      if (damaged) log.push(`${what}: ${(e as Error).constructor.name} ${(e as HeapCorruptionError).field ?? (e as InvalidPointerError).reason}`);
      // A free or realloc of a small block refused with HeapCorruptionError: the block is left
      // live (freeLast undoes the push), or, for damage met past the pool's class (its arena's
      // words), freed in a pool that is in no list. The program no longer uses it (its bytes are
      // not verified), and nothing may be handed out over it either way. A raw block's stays
      // live, its bytes verified: the raw allocator checks what it follows before its first write
      // (until session 49 it could refuse after it had released the chunk, which it then handed
      // out again, and the campaign dropped the block).
      if (e instanceof HeapCorruptionError && refused !== undefined && small) {
        live.splice(live.indexOf(refused), 1);
        limbo.push(refused);
      }
      if (snap !== undefined && (e instanceof HeapCorruptionError || e instanceof InvalidPointerError)) {
        const u8 = h.u8;
        let at = -1;
        for (let k = 0; k < snap.length; k++) if (u8[k] !== snap[k]) {
          at = k;
          break;
        }
        if (at >= 0)
          result.dirtyRefusals.push(
            `${what}: ${(e as HeapCorruptionError).field ?? (e as InvalidPointerError).reason}: changed byte ${at}${process.env.HUNT_VERBOSE ? ` ${(e as Error).stack?.split("\n").slice(1, 6).map((l) => l.trim().replace(/\(.*\/src\//, "(")).join(" < ")}` : ""}`,
          );
      }
      return "";
    }
  };
  for (let k = 0; k < BEFORE; k++) {
    const bug = call(false) || verify();
    if (bug) return { ...result, bug: `before the damage: ${bug}` };
  }
  doDamage();
  log.push(`damage ${damage}`);
  for (let k = 0; k < AFTER && result.errors < MAX_ERRORS; k++) {
    const bug = call(true) || verify();
    if (bug) return { ...result, bug: `${bug} (after ${log.slice(-3).join("; ")})` };
  }
  try {
    h.check();
  } catch (e) {
    if (!typed(e)) return { ...result, bug: `check(): untyped ${(e as Error)?.message}` };
  }
  return result;
}

describe("programs the campaign found, kept as cases (each failed before its fix)", () => {
  // seed, mode, damage, what it did before the fix.
  const FOUND: [number, string, Damage, string][] = [
    // A usable arena's Arena.NEXT damaged; the free of a pool's last block made the arena entirely
    // free: returnPool put the pool on its free pools, releaseArena's unlinkArena threw; the
    // refused free's block was carved again by the next pool taken (handed out over it).
    [704322, "whole pools", "arena word", "releaseArena threw after returnPool's writes"],
    [704386, "whole pools", "arena word", "the same, another arena"],
    // Session 49 (the campaign no longer drops a raw block whose free or realloc was refused):
    // a realloc that shrank a block wrote its new header and its rest's into it, then the free
    // chunk after it refused (its links): the block's bytes changed under its user.
    [131, "pymalloc", "chunk word", "realloc's shrink wrote, then releaseChunk refused"],
    // free's releaseChunk unlinked the free chunk before the block, then refused the one after it.
    [3148, "malloc", "free chunk word", "the free chunk before it unlinked, then a throw: handed out over the live block"],
    // The block at the top went into the top, then the cache flush met a damaged list head.
    [2037, "threads", "raw head word", "into the top, then the flush refused: handed out over the live block"],
    [1197, "hardened", "raw head word", "the same, a damaged free-list link met by the merge"],
  ];
  it.each(FOUND)("seed %i, %s, %s: %s", (seed, mode, damage) => {
    expect(huntCase(seed, HUNT_MODES[mode], damage).bug).toBe("");
  });
});

describe.each(Object.keys(HUNT_MODES))("one stray write, then a program that goes on after its errors, %s", (mode) => {
  it.each(DAMAGE)(`${CASES} programs: %s`, (damage) => {
    const bugs: string[] = [];
    const dirty: string[] = [];
    let errors = 0;
    for (let s = 1; s <= CASES; s++) {
      const seed = FROM + s * 16 + DAMAGE.indexOf(damage) + 1000 * Object.keys(HUNT_MODES).indexOf(mode);
      const r = huntCase(seed, HUNT_MODES[mode], damage);
      errors += r.errors;
      if (r.bug) bugs.push(`seed ${seed}: ${r.bug}`);
      dirty.push(...r.dirtyRefusals.map((d) => `seed ${seed}: ${d}`));
    }
    if (process.env.HUNT_VERBOSE) console.log(`HUNT ${mode} | ${damage} | errors ${errors}\n${bugs.map((b) => `BUG ${mode} | ${damage} | ${b}`).join("\n")}\n${dirty.map((b) => `DIRTY ${mode} | ${damage} | ${b}`).join("\n")}`);
    expect(bugs).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Misuse without damage: each refused call is an InvalidPointerError (or a TypeError/RangeError
// for what is no address) and leaves every byte of the memory as it was
// (test/bad-input-hunt.test.ts fuzzes the argument types; this checks the memory after each).
// ---------------------------------------------------------------------------------------------

const MISUSE_MODES: [string, HeapOptions][] = [
  ["pymalloc", {}],
  ["hardened", { hardened: true }],
  ["threads", { threads: true }],
  ["malloc", { allocator: "malloc" }],
  ["whole pools", { subPools: false }],
  ["alignment 16", { alignment: 16 }],
  ["debug", { allocator: "debug", traceAllocations: false }],
];

describe("misuse of an undamaged heap: a typed error, and no byte of the memory changed", () => {
  it.each(MISUSE_MODES)("%s: interior, past-the-heap, header and freed pointers to free, realloc and usableSize of every family", (_name, options) => {
    const h = createHeap(options);
    const fams = [h.raw, h.mem, h.obj] as const;
    for (const f of fams) {
      const keep = [f.malloc(24), f.malloc(200), f.malloc(3000), f.malloc(24)];
      const gone = [f.malloc(24), f.malloc(200), f.malloc(3000)];
      for (const p of gone) f.free(p);
      // Blocks of each size still live beside the freed ones, so no pool emptied and every freed block is on a list.
      const bad: [string, number][] = [
        ...keep.flatMap((p): [string, number][] => [[`interior +8 of ${p}`, p + 8], [`interior +1 of ${p}`, p + 1], [`interior -8 of ${p}`, p - 8]]),
        ...gone.map((p): [string, number] => [`freed ${p}`, p]),
        ["the heap header", h.heapBase + 64],
        ["past the memory", h.u8.length + 64],
        ["the last word of the memory", h.u8.length - 4],
      ];
      for (const [what, p] of bad) {
        for (const [op, fn] of [
          ["free", () => f.free(p)],
          ["realloc", () => f.realloc(p, 40)],
          ["usableSize", () => h.usableSize(p)],
        ] as const) {
          const before = copy(h);
          let e: unknown;
          try {
            fn();
          } catch (x) {
            e = x;
          }
          // (the debug modes report through MemoryCorruptionError, with the block's history)
          expect(e instanceof InvalidPointerError || e instanceof MemoryCorruptionError || e instanceof RangeError || e instanceof TypeError, `${op}(${what}): ${String(e)}`).toBe(true);
          if (e instanceof TypeError || (e instanceof RangeError && !(e instanceof InvalidPointerError))) expect(String(e)).not.toMatch(/Cannot read|undefined|offset is out of bounds/);
          expect(firstChange(h, before), `${op}(${what}) changed the memory`).toBe(-1);
        }
      }
      for (const p of keep) f.free(p);
    }
    if (h.debug) h.drainQuarantine();
    h.check();
  });
});
