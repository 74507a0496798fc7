// The examples of issue #18, each ending in a typed error naming the damaged address, and fault
// injection (heap.failAllocations).
import { describe, expect, it } from "vitest";
import { attachHeap, constants, createHeap, heapSvg, HeapCorruptionError, InvalidPointerError, PymallocError, type Heap } from "../src/index.js";
import { corruption, thrownBy } from "./helpers.js";
import { hex } from "../src/errors.js";

const { Arena, Debug, Flag, H, Pool, Sample, Slot, Chunk, FreeBlock } = constants;


const copyOf = (h: Heap): ArrayBuffer => {
  const c = new ArrayBuffer(h.u8.length);
  new Uint8Array(c).set(h.u8);
  return c;
};

describe("a damaged heap is found, never trusted", () => {
  it("an empty pool's stale free list pointing at a live block is never followed: the pool went back of no class, and is carved afresh", () => {
    const { Pool } = constants;
    const h = createHeap({ subPools: false }); // a whole pool, given back to its arena when it empties
    const keep = h.obj.malloc(16);
    h.u32[keep >>> 2] = 0x5eed;
    const ps: number[] = [];
    for (let i = 0; i < 10; i++) ps.push(h.obj.malloc(360));
    for (const p of ps) h.obj.free(p);
    const pool = ps[0] & ~(16384 - 1);
    expect(h.u32[(pool + Pool.SZIDX) >>> 2]).toBe(Pool.SZIDX_NONE);
    h.u32[ps[9] >>> 2] = keep; // a stray write into the stale list
    h.check();
    const again = Array.from({ length: 10 }, () => h.obj.malloc(360));
    expect(again).not.toContain(keep);
    expect(new Set(again).size).toBe(10);
    expect(h.u32[keep >>> 2]).toBe(0x5eed);
    h.check();
  });

  it("a kept spare pool's free list pointing at a live block: check() names the block holding the link; malloc refuses it", () => {
    const h = createHeap(); // the class's emptied pool stays listed as its spare, its free list with it
    const keep = h.obj.malloc(16);
    const ps: number[] = [];
    for (let i = 0; i < 10; i++) ps.push(h.obj.malloc(360));
    for (const p of ps) h.obj.free(p);
    // The spare: the one 1 KiB sub-pool of theirs that still has the class; its list's head.
    const { Pool } = constants;
    const spare = [...new Set(ps.map((p) => p & ~1023))].filter((sp) => h.u32[(sp + Pool.SZIDX) >>> 2] !== Pool.SZIDX_NONE);
    expect(spare.length).toBe(1);
    const head = h.u32[(spare[0] + Pool.FREEBLOCK) >>> 2];
    expect(ps).toContain(head);
    h.u32[head >>> 2] = keep;
    const e = corruption(() => h.check());
    expect(e.address).toBe(head);
    expect(e.field).toBe("free block link");
    // malloc would hand out head, then keep: it checks the link before handing out anything
    const e2 = corruption(() => h.obj.malloc(360));
    expect(e2.address).toBe(head);
    expect(e2.message).toMatch(/link/);
    expect(corruption(() => h.obj.malloc(360)).address).toBe(head); // and again: nothing was popped
  });

  it("a freed block's link made to point far outside the memory: malloc throws instead of returning it", () => {
    const h = createHeap();
    const a = h.obj.malloc(32);
    h.obj.malloc(32);
    h.obj.free(a);
    const link = h.u32[a >>> 2];
    h.u32[a >>> 2] = 0x7fff0000;
    expect(corruption(() => h.obj.malloc(32)).address).toBe(a);
    // nothing was written: the heap is as the damage left it, and check() says the same
    expect(corruption(() => h.check()).address).toBe(a);
    h.u32[a >>> 2] = link; // repaired by hand
    h.check();
  });

  it("a link inside its pool but not on a block boundary: check() finds it (malloc too with hardened: true)", () => {
    const h = createHeap();
    const a = h.obj.malloc(48);
    const b = h.obj.malloc(48);
    h.obj.malloc(48);
    h.obj.free(a);
    h.u32[a >>> 2] = b + 8; // inside the live block b
    expect(corruption(() => h.check()).address).toBe(a);
  });

  it("a link into its pool's header or its never-carved blocks is refused by malloc", () => {
    const h = createHeap();
    const a = h.obj.malloc(48);
    h.obj.malloc(48);
    h.obj.free(a);
    const pool = a - (a % 16384);
    for (const bad of [pool + Pool.FREEBLOCK, pool + 8000, pool + 16384 + 48]) {
      h.u32[a >>> 2] = bad;
      expect(corruption(() => h.obj.malloc(48)).address).toBe(a);
    }
  });

  it("threads: a pool's remote-free word damaged is found by check() and by the owner's next malloc, never followed", () => {
    const h = createHeap({ threads: true, maxThreads: 2 });
    const t = attachHeap(h.memory.source);
    const ps: number[] = [];
    for (let i = 0; i < 40; i++) ps.push(h.obj.malloc(64));
    // A foreign free of a block of the class's last pool (not full: the others are, the class's
    // young sub-pools filling one after another): onto the pool's REMOTE list.
    t.obj.free(ps[39]);
    const pool = h.objectAllocator.poolOf(ps[39]);
    expect(h.u32[(pool + Pool.REMOTE) >>> 2]).toBe(ps[39]);
    h.u32[(pool + Pool.REMOTE) >>> 2] = 0x2e;
    const e = corruption(() => h.check());
    expect(e.address).toBe(pool + Pool.REMOTE);
    expect(() => {
      for (let i = 0; i < 1000; i++) h.obj.malloc(64);
    }).toThrow(HeapCorruptionError);
  });

  it("a free raw chunk's size enlarged over its live neighbour: check() names the chunk, malloc refuses it", () => {
    const h = createHeap({ allocator: "malloc" });
    const a = h.mem.malloc(1000);
    const b = h.mem.malloc(1000);
    h.mem.malloc(1000);
    h.mem.free(a);
    const w = (a - Chunk.HEADER + Chunk.SIZE) >>> 2;
    h.u32[w] += h.usableSize(b) + Chunk.OVERHEAD; // now claims b's bytes too
    const e = corruption(() => h.check());
    expect(e.address).toBeGreaterThanOrEqual(a - Chunk.HEADER);
    expect(corruption(() => h.mem.malloc(1000)).address).toBe(a - Chunk.HEADER + Chunk.SIZE);
  });

  it("header fields: attachHeap names the damaged one (lock word, bitmap, arena list head, thread slots, version)", () => {
    const h = createHeap({ threads: true, maxThreads: 4 });
    for (let i = 0; i < 300; i++) h.obj.malloc(1 + (i % 600));
    const base = new SharedArrayBuffer(h.u8.length);
    const damaged = (word: number, v: number): HeapCorruptionError => {
      const c = new SharedArrayBuffer(base.byteLength);
      new Uint8Array(c).set(h.u8);
      new Uint32Array(c)[word] = v;
      return corruption(() => attachHeap(c));
    };
    expect(damaged(H.LOCK, 7).field).toBe("H.LOCK");
    expect(damaged(H.LOCK, 7).address).toBe(H.LOCK * 4);
    expect(damaged(H.FL_BITMAP, 0xffffffff).field).toBe("H.FL_BITMAP");
    expect(damaged(H.USABLE_ARENAS, 0x7fff0000).field).toBe("H.USABLE_ARENAS");
    expect(damaged(H.MAX_THREADS, 4000).message).toMatch(/layout/);
    expect(damaged(H.VERSION, 99).field).toBe("H.VERSION");
    expect(damaged(H.TOP, h.u32[H.TOP] + 8).field).toBe("H.TOP");
    expect(damaged(H.ALIGN_SHIFT, 2).field).toBe("H.ALIGN_SHIFT");
    expect(damaged(H.VIEW_END_4, 0).field).toBe("H.VIEW_END_4");
    expect(damaged(H.VIEW_END_1, 0xffffffff).field).toBe("H.VIEW_END_1");
  });

  it("alignment shift flipped in a copy: attachHeap names it (the young limits record it; with whole pools, the MIN_ALIGNMENT flag), and check() finds pools whose block size no longer fits the class", () => {
    const h = createHeap();
    for (let i = 0; i < 100; i++) h.obj.malloc(16);
    const c = copyOf(h);
    new Uint32Array(c)[H.ALIGN_SHIFT] = 4;
    expect(corruption(() => attachHeap(c)).field).toBe("H.ALIGN_SHIFT");
    const w = createHeap({ subPools: false });
    for (let i = 0; i < 100; i++) w.obj.malloc(16);
    const d = copyOf(w);
    new Uint32Array(d)[H.ALIGN_SHIFT] = 4;
    expect(corruption(() => attachHeap(d)).field).toBe("H.ALIGN_SHIFT");
    // The flag too (as validateHeader sees both words agree): the pools still say 8-byte classes.
    new Uint32Array(d)[H.FLAGS] &= ~constants.HeapFlag.MIN_ALIGNMENT;
    const a = attachHeap(d);
    expect(corruption(() => a.check()).field).toBe("Pool.INVERSE");
  });

  it("truncated copies, zeros and random bytes: a PymallocError at once, never a RangeError or a stack overflow", () => {
    const h = createHeap({ initialBytes: 1 << 18 });
    for (let i = 0; i < 2000; i++) h.obj.malloc(1 + (i % 900));
    const c = copyOf(h);
    for (const n of [4096, 8192, 16384, 32768, 65536]) {
      const e = corruption(() => attachHeap(c.slice(0, n)));
      expect(e.field).toMatch(/H\.(TOP|HEAP_START)/);
    }
    expect(() => attachHeap(new ArrayBuffer(65536))).toThrow(PymallocError);
    const r = new Uint8Array(65536).map((_, i) => (i * 2654435761) >>> 24);
    new Uint32Array(r.buffer)[0] = 0x50594d41;
    expect(() => attachHeap(r.buffer)).toThrow(PymallocError);
  });

  it("a lock word the lock never writes: check() says so at once instead of waiting for ever", () => {
    const h = createHeap({ threads: true, maxThreads: 2 });
    h.u32[H.LOCK] = 77;
    const e = corruption(() => h.check());
    expect(e.field).toBe("H.LOCK");
  });

  it("a lock held by a thread that died: check() gives up after its wait (2 s) with HeapCorruptionError", () => {
    const h = createHeap({ threads: true, maxThreads: 2 });
    h.u32[H.LOCK] = 1;
    const t0 = Date.now();
    expect(corruption(() => h.check()).message).toMatch(/held for over/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it("a pool header's FREEBLOCK overwritten (an overflow of the block before it) is refused by malloc, never handed out over a live block or past the memory", () => {
    for (const subPools of [true, false]) {
      for (const target of ["live", "past"] as const) {
        const h = createHeap({ subPools });
        const a = h.obj.malloc(64); // its pool's FREEBLOCK is now the next block, never carved before
        const live = h.obj.calloc(1, 200); // zeros: a link of 0 where the damaged FREEBLOCK points
        const pool = h.objectAllocator.poolOf(a);
        const wild = target === "live" ? live : 0x7ff00000;
        h.u32[(pool + Pool.FREEBLOCK) >>> 2] = wild;
        const e = corruption(() => h.obj.malloc(64));
        expect(e.address).toBe(pool + Pool.FREEBLOCK);
        expect(e.message).toMatch(/free list's head/);
        expect(h.u32[(pool + Pool.FREEBLOCK) >>> 2]).toBe(wild); // the pop undone: check() finds it too
        expect(() => h.check()).toThrow(HeapCorruptionError);
      }
    }
  });

  it("invalid pointers stay InvalidPointerError", () => {
    const h = createHeap();
    const p = h.obj.malloc(32);
    expect(() => h.obj.free(p + 8)).toThrow(InvalidPointerError);
  });

  it("a write through NULL over the heap's top word: the raw allocator refuses the top (its mark is gone) instead of carving over live chunks", () => {
    for (const allocator of ["malloc", "pymalloc"] as const) {
      const h = createHeap({ allocator });
      const blocks = Array.from({ length: 8 }, () => h.raw.malloc(1000));
      for (const p of blocks) h.u8.fill(7, p, p + 1000);
      const top = h.u32[(h.heapBase >>> 2) + H.TOP];
      h.u32[(h.heapBase >>> 2) + H.TOP] = top - 2048; // down into the live chunks, still a chunk address
      const e = corruption(() => h.raw.malloc(3000));
      expect(e.field).toBe("H.TOP");
      expect(corruption(() => h.check()).field).toBe("H.TOP");
      for (const p of blocks) expect(h.u8.subarray(p, p + 1000).every((b) => b === 7)).toBe(true);
      h.u32[(h.heapBase >>> 2) + H.TOP] = top; // repaired by hand
      h.check();
      expect(h.raw.malloc(3000)).not.toBe(0);
    }
  });

  it("a usedpools head written over: malloc of that class refuses it before writing anything", () => {
    const h = createHeap();
    const a = h.obj.malloc(40);
    const ob = h.objectAllocator as unknown as { usedBase: number };
    const idx = (40 - 1) >>> h.objectAllocator.alignShift;
    const hp = ob.usedBase + idx * 8;
    const pool = h.u32[hp >>> 2];
    expect(pool).toBe(h.objectAllocator.poolOf(a));
    const wilds = [h.objectAllocator.poolOf(h.obj.malloc(200)), a, 12345, 0x7fff0000];
    const before = h.u8.slice();
    for (const wild of wilds) {
      h.u32[hp >>> 2] = wild;
      const e = corruption(() => h.obj.malloc(40));
      expect(e.address).toBe(hp);
      expect(e.field).toBe("usedpools head");
      h.u32[hp >>> 2] = pool;
      expect(h.u8.every((b, i) => b === before[i])).toBe(true); // nothing written
    }
    h.check();
  });

  it("the usedpools sentinel's SZIDX word is never a class: malloc's one test tells an empty list from a pool", () => {
    for (const opts of [{}, { alignment: 8 }, { threads: true, maxThreads: 3 }, { subPools: false }] as const) {
      const h = createHeap(opts);
      const oa = h.objectAllocator as unknown as { usedBase: number; nClasses: number };
      for (let idx = 0; idx < oa.nClasses; idx++) {
        const sp = oa.usedBase + idx * 8 - Pool.NEXT;
        expect(h.u32[(sp + Pool.SZIDX) >>> 2]).not.toBe(idx);
      }
      for (let n = 1; n <= 512; n += 7) h.obj.malloc(n);
      for (let idx = 0; idx < oa.nClasses; idx++) {
        const sp = oa.usedBase + idx * 8 - Pool.NEXT;
        expect(h.u32[(sp + Pool.SZIDX) >>> 2]).not.toBe(idx);
      }
    }
  });

  it("a pool's count lowered by an overflow of the block before it: the pool does not go back under its live block", () => {
    const h = createHeap({ subPools: false });
    const ps = Array.from({ length: 3 }, () => h.obj.malloc(64));
    const pool = h.objectAllocator.poolOf(ps[0]);
    h.u8.fill(9, ps[2], ps[2] + 64);
    h.u32[pool >>> 2] -= 1; // 3 blocks out, the count says 2
    h.obj.free(ps[0]);
    const e = corruption(() => h.obj.free(ps[1]));
    expect(e.field).toBe("Pool.COUNT");
    expect(e.address).toBe(pool);
    expect(e.message).toContain(`block at ${hex(ps[2])} is not`);
    expect(h.u8.subarray(ps[2], ps[2] + 64).every((b) => b === 9)).toBe(true);
  });

  it("an emptying pool's check reads each carved block: a live block whose first word is a link of its pool, or whose second holds the tag alone, is still live", () => {
    for (const [link, tag] of [
      [true, false],
      [false, true],
    ]) {
      const h = createHeap({ subPools: false });
      const ps = Array.from({ length: 3 }, () => h.obj.malloc(64));
      const pool = h.objectAllocator.poolOf(ps[0]);
      h.u32[ps[2] >>> 2] = link ? ps[1] : 0xdead0000; // a link inside the pool, or none
      h.u32[(ps[2] + FreeBlock.TAG) >>> 2] = tag ? FreeBlock.TAG_VALUE >>> 0 : 7;
      h.u32[pool >>> 2] -= 1;
      h.obj.free(ps[0]);
      expect(corruption(() => h.obj.free(ps[1])).field).toBe("Pool.COUNT");
    }
  });

  it.each([false, true])("a pool's MAXNEXTOFFSET raised (subPools %s): release mode's next carve past the pool's end is a HeapCorruptionError, no block handed out over the next header", (subPools) => {
    const h = createHeap({ subPools });
    const oa = h.objectAllocator;
    const first = h.obj.malloc(64);
    const pool = oa.poolOf(first);
    h.u32[(pool + Pool.MAXNEXTOFFSET) >>> 2] = 1 << 20;
    const got = [first];
    const e = corruption(() => {
      for (let i = 0; i < 1000; i++) got.push(h.obj.malloc(64));
    });
    expect(e.field).toBe("Pool.NEXTOFFSET");
    expect(e.address).toBe(pool + Pool.NEXTOFFSET);
    const mine = got.filter((p) => oa.poolOf(p) === pool);
    expect(mine.length).toBeGreaterThan(1);
    for (const p of mine) expect(p + 64).toBeLessThanOrEqual(pool + oa.poolBytes(pool));
    expect(new Set(got).size).toBe(got.length);
  });

  it("a pool's INVERSE word written over (a 2-byte block's): realloc does not take the block by it", () => {
    const h = createHeap();
    const p = h.obj.malloc(300);
    h.u8.fill(5, p, p + 300);
    const pool = h.objectAllocator.poolOf(p);
    h.u32[(pool + Pool.INVERSE) >>> 2] = constants.blockInverse(2);
    const e = corruption(() => h.obj.realloc(p, 600));
    expect(e.field).toBe("Pool.INVERSE");
    expect(h.u8.subarray(p, p + 300).every((b) => b === 5)).toBe(true);
  });


  it("debug modes: the quarantine ring's chunk header written over (its size enlarged, marked free) is found before an entry is written past the ring", () => {
    for (const allocator of ["debug", "malloc_debug"] as const) {
      for (const threads of [false, true]) {
        if (threads && allocator !== "debug") continue;
        const h = createHeap({ allocator, threads, traceAllocations: false });
        const a = h.mem.malloc(40);
        h.mem.free(a); // the ring exists now
        const ring = h.u32[(h.heapBase >>> 2) + H.QUARANTINE];
        expect(ring).not.toBe(0);
        const b = h.mem.malloc(40);
        // What a stray write of 5 bytes left (the corruption fuzz's threads_debug case 100337):
        // a huge size with FREE set over the ring chunk's size word, the ring's capacity's first byte.
        h.u32[(ring - 4) >>> 2] = 0xb5ebcd1b;
        h.u8[ring] = 0xff;
        const e = corruption(() => h.mem.free(b));
        expect(e.address).toBeGreaterThanOrEqual(ring - 4);
        expect(e.address).toBeLessThan(ring + 16);
        expect(e.message).toMatch(/quarantine ring/);
      }
    }
  });

  it("debug modes: the quarantine ring's chunk header alone written over: frees go on within the ring (its size was taken when it opened), check() names it", () => {
    for (const allocator of ["debug", "malloc_debug"] as const) {
      const h = createHeap({ allocator, traceAllocations: false });
      const a = h.mem.malloc(40);
      h.mem.free(a); // the ring exists now
      const ring = h.u32[(h.heapBase >>> 2) + H.QUARANTINE];
      expect(ring).not.toBe(0);
      const sw = h.u32[(ring - 4) >>> 2];
      h.u32[(ring - 4) >>> 2] = 0xb5ebcd1b; // a huge size with FREE set; the ring's own words intact
      const live: number[] = [];
      for (let i = 0; i < 3000; i++) live.push(h.mem.malloc(8 + (i % 100)));
      for (const p of live) h.mem.free(p); // more frees than the ring holds: entries wrap and evict
      const e = corruption(() => h.check()); // the walk of chunks meets the ring's size word first
      expect(e.address).toBe(ring - 4);
      expect(e.message).toMatch(/chunk size \d+ runs past the top/);
      h.u32[(ring - 4) >>> 2] = sw; // repaired: the heap checks clean (no entry was written past the ring)
      h.check();
    }
  });
});

describe("fault injection: heap.failAllocations", () => {
  it("the nth allocation fails once, per family; frees and the heap are untouched", () => {
    const h = createHeap();
    h.failAllocations({ family: "obj", nth: 3 });
    const got = [1, 2, 3, 4, 5].map(() => h.obj.malloc(24));
    expect(got.map((p) => p === 0)).toEqual([false, false, true, false, false]);
    expect(h.mem.malloc(24)).not.toBe(0); // another family: not counted, not failed
    for (const p of got) h.obj.free(p);
    h.check();
    expect(h.failAllocations(null)).toBe(1);
    expect(h.obj.malloc(24)).not.toBe(0);
  });

  it("every nth, and a seeded random share; realloc's failure leaves the block as it was", () => {
    const h = createHeap({ allocator: "debug", traceAllocations: false });
    const keep = h.mem.malloc(40);
    h.u8.fill(9, keep, keep + 40);
    h.failAllocations({ family: ["mem", "raw"], every: 2 });
    const ok = [h.raw.malloc(8), h.raw.malloc(8), h.raw.malloc(8), h.raw.malloc(8)].map((p) => p !== 0);
    expect(ok).toEqual([true, false, true, false]);
    expect(h.mem.realloc(keep, 4000)).not.toBe(0); // mem call 1
    h.failAllocations({ family: "mem", nth: 1 });
    const q = h.mem.malloc(0); // refused
    expect(q).toBe(0);
    h.failAllocations({ probability: 0.5, seed: 42 });
    let refused = 0;
    const live: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const p = h.obj.malloc(1 + (i % 100));
      if (p === 0) refused++;
      else live.push(p);
    }
    expect(refused).toBeGreaterThan(400);
    expect(refused).toBeLessThan(600);
    h.check();
    for (const p of live) h.obj.free(p);
    expect(h.failAllocations(null)).toBe(refused);
    h.check();
  });

  it("a raw block whose header an overflow wrote over: free() and check() say so, naming Chunk.SIZE (not a stray pointer)", () => {
    for (const allocator of ["malloc", "pymalloc"] as const) {
      const h = createHeap({ allocator });
      const a = h.mem.malloc(1000);
      const b = h.mem.malloc(1000);
      h.u32[(b - 4) >>> 2] = 0x41414141; // "AAAA" past a's end, over b's size word
      const e = thrownBy(() => h.mem.free(b));
      expect(e).toBeInstanceOf(HeapCorruptionError);
      expect((e as HeapCorruptionError).field).toBe("Chunk.SIZE");
      expect((e as Error).message).toMatch(/header of this block holds 0x41414141/);
      const c = thrownBy(() => h.check());
      expect(c).toBeInstanceOf(HeapCorruptionError);
      expect((c as HeapCorruptionError).field).toBe("Chunk.SIZE");
      // A pointer into the middle of a block is still an invalid pointer, not damage.
      const h2 = createHeap({ allocator });
      const d = h2.mem.malloc(1000);
      expect(() => h2.mem.free(d + 16)).toThrow(InvalidPointerError);
      h2.mem.free(d);
      h2.check();
      void a;
    }
  });

  it("a probability plan refuses about its share from the first call, whatever the seed (small seeds are mixed first)", () => {
    // xorshift32 seeded with a small integer as it is gives small first outputs: every seed from 1
    // to 8 refused the first call at probability 0.001 before the seed was mixed.
    let firstRefused = 0;
    let refused = 0;
    for (let seed = 1; seed <= 32; seed++) {
      const h = createHeap({ allocator: "malloc" });
      h.failAllocations({ probability: 0.01, seed });
      for (let i = 0; i < 100; i++) {
        const p = h.raw.malloc(16);
        if (p === 0) {
          refused++;
          if (i === 0) firstRefused++;
        }
      }
      h.failAllocations(null);
    }
    expect(firstRefused).toBeLessThanOrEqual(3); // 0.32 expected
    expect(refused).toBeGreaterThan(10); // 32 expected of 3,200
    expect(refused).toBeLessThan(70);
  });

  it("limit stops the failures; bad plans are RangeError / TypeError", () => {
    const h = createHeap({ allocator: "malloc" });
    h.failAllocations({ every: 1, limit: 2 });
    expect([h.raw.calloc(1, 8), h.raw.calloc(1, 8), h.raw.calloc(1, 8)].map((p) => p === 0)).toEqual([true, true, false]);
    expect(() => h.failAllocations({})).toThrow(RangeError);
    expect(() => h.failAllocations({ nth: 0 })).toThrow(RangeError);
    expect(() => h.failAllocations({ probability: 2 })).toThrow(RangeError);
    expect(() => h.failAllocations({ family: "heap" as never, nth: 1 })).toThrow(RangeError);
    h.failAllocations(null);
    expect(h.obj).toBe(h.obj); // the plain families are back
    h.check();
  });

  it("a plan never hides bad input: sizes, alignments and pointers are checked before a refusal, in release and debug modes; a plan's unknown key or empty family list is a TypeError / RangeError", () => {
    for (const allocator of ["pymalloc", "debug"] as const) {
      const freed = new Map<Heap, number>();
      const made = (): Heap => {
        const h = createHeap({ allocator, traceAllocations: false });
        const a = h.obj.malloc(40);
        h.obj.free(a);
        freed.set(h, a);
        return h;
      };
      const plain = made();
      const planned = made();
      planned.failAllocations({ every: 1 }); // refuses every call
      const calls: Array<[string, (h: Heap) => unknown]> = [
        ["malloc(-1)", (h) => h.obj.malloc(-1)],
        ['malloc("12")', (h) => h.obj.malloc("12" as never)],
        ["calloc(NaN, 8)", (h) => h.obj.calloc(NaN, 8)],
        ["alignedAlloc(64, -5)", (h) => h.mem.alignedAlloc(64, -5)],
        ["realloc(12345, 64)", (h) => h.obj.realloc(12345, 64)],
        ["realloc(freed, 64)", (h) => h.obj.realloc(freed.get(h)!, 64)],
      ];
      for (const [what, call] of calls) {
        const want = thrownBy(() => call(plain));
        expect(want, `${allocator} ${what} without a plan`).toBeInstanceOf(Error);
        expect(thrownBy(() => call(planned)), `${allocator} ${what} with a plan`).toBeInstanceOf((want as Error).constructor);
      }
      expect(planned.failAllocations(null), "none of them counted as refused").toBe(0);
    }
    const h = createHeap();
    expect(() => h.failAllocations({ famly: "obj", nth: 1 } as never)).toThrow(TypeError);
    expect(() => h.failAllocations({ family: [], nth: 1 })).toThrow(RangeError);
  });
});

describe("free blocks carry a tag (FreeBlock): a block freed twice is never handed out twice", () => {
  const KINDS = [{}, { subPools: false }, { threads: true }, { alignment: 16 }, { threads: true, subPools: false }] as const;
  const NAMED_KINDS = KINDS.map((k) => [JSON.stringify(k), k] as const);
  /** Blocks a and b of `size` bytes, and a third kept live so that their pool stays in use. */
  const twoOfThree = (h: Heap, size: number): [number, number] => {
    const a = h.obj.malloc(size);
    const b = h.obj.malloc(size);
    h.obj.malloc(size);
    return [a, b];
  };

  it.each(NAMED_KINDS)("%s: free(a), free(b), free(a): hardened refuses the free (InvalidPointerError double-free, nothing written); release modes the malloc that would hand a out twice", (_name, opts) => {
    const hh = createHeap({ ...opts, hardened: true });
    const [ha, hb] = twoOfThree(hh, 32);
    hh.obj.free(ha);
    hh.obj.free(hb);
    expect(thrownBy(() => hh.obj.free(ha))).toMatchObject({ name: "InvalidPointerError", address: ha, reason: "double-free" });
    hh.check();
    const hgot = Array.from({ length: 40 }, () => hh.obj.malloc(32));
    expect(new Set(hgot).size).toBe(hgot.length);
    hh.check();
    // Release: the free goes through (its pool's last freed block is b); a and b come back once
    // each, and the malloc that would hand a out again is refused, nothing handed out.
    // (Or the free itself is refused when it empties the pool by its count: a pool checks that
    // every carved block is free before it goes back, and the third block is live. The refused
    // free leaves the heap as it was (ObjectAllocator.freeLast, session 48): a and b come back
    // once each, then a block never handed out; it left a pushed a second time before.)
    const h = createHeap(opts);
    const [a, b] = twoOfThree(h, 32);
    h.obj.free(a);
    h.obj.free(b);
    const e = thrownBy(() => h.obj.free(a));
    expect(new Set([h.obj.malloc(32), h.obj.malloc(32)])).toEqual(new Set([a, b]));
    if (e !== undefined) {
      expect(e).toMatchObject({ name: "HeapCorruptionError", field: "Pool.COUNT" });
      const c = h.obj.malloc(32);
      expect([a, b]).not.toContain(c);
      h.check();
      return;
    }
    expect(corruption(() => h.obj.malloc(32))).toMatchObject({ address: a + FreeBlock.TAG, field: "free block tag" });
    expect(corruption(() => h.obj.malloc(32)).field).toBe("free block tag"); // the list stays refused
  });

  it.each(NAMED_KINDS)("%s: a free of a block its pool carved ahead but never handed out is refused", (_name, opts) => {
    const h = createHeap(opts);
    const p = h.obj.malloc(64);
    h.obj.malloc(64);
    // Carving goes in batches (CARVE_BYTES); with threads one block ahead: p + 2 * 64 is on the list.
    expect(thrownBy(() => h.obj.free(p + 2 * 64))).toMatchObject({ reason: "double-free" });
    h.check();
  });

  it("a live block whose data holds the tag is freed as any other (one walk of its pool's list), in every kind of heap", () => {
    for (const opts of KINDS) {
      const h = createHeap(opts);
      const blocks = Array.from({ length: 100 }, () => h.obj.malloc(24));
      for (const p of blocks) {
        h.u32[p >>> 2] = blocks[0]; // a first word that looks like a link, too
        h.u32[(p + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
      }
      for (const p of blocks) h.obj.free(p);
      h.check();
      expect(h.stats().blocksInUse).toBe(0);
    }
  });

  it("check() reports a free block written after it was freed (its tag gone), naming the block", () => {
    const h = createHeap();
    const a = h.obj.malloc(48);
    h.obj.malloc(48);
    h.obj.free(a);
    h.check();
    h.u32[(a + 4) >>> 2] = 7; // a write through a stale pointer
    const e = corruption(() => h.check());
    expect(e.address).toBe(a + FreeBlock.TAG);
    expect(e.field).toBe("free block tag");
    expect(e.message).toMatch(/written after it was freed/);
  });

  it("realloc and usableSize of a block freed earlier (not its pool's last freed one) are refused, nothing allocated", () => {
    for (const opts of KINDS) {
      const h = createHeap(opts);
      const [a, b] = twoOfThree(h, 32);
      h.obj.free(a);
      h.obj.free(b);
      const before = h.stats().blocksInUse;
      expect(thrownBy(() => h.obj.realloc(a, 20))).toMatchObject({ address: a, reason: "double-free" }); // in place, once
      expect(thrownBy(() => h.obj.realloc(a, 300))).toMatchObject({ address: a, reason: "double-free" });
      expect(thrownBy(() => h.usableSize(a))).toBeInstanceOf(InvalidPointerError);
      expect(h.stats().blocksInUse).toBe(before);
      h.check();
    }
  });

  it("malloc never hands out a block without the tag: a freed block written since, or a live block a rewritten link leads to", () => {
    for (const opts of KINDS) {
      const h = createHeap(opts);
      const [a, b] = twoOfThree(h, 48);
      h.obj.free(a);
      h.u32[(a + 4) >>> 2] = 123; // a stale pointer writes into the freed block
      const e = corruption(() => h.obj.malloc(48));
      expect(e).toMatchObject({ address: a + FreeBlock.TAG, field: "free block tag" });
      expect(corruption(() => h.check()).field).toBe("free block tag"); // nothing was handed out
      h.u32[(a + 4) >>> 2] = FreeBlock.TAG_VALUE; // repaired: the heap is whole again
      h.check();
      // A link rewritten to a live block (carved, aligned: release's link rule lets it through):
      // a is handed out, b is not handed out twice.
      h.u32[a >>> 2] = b;
      expect(h.obj.malloc(48)).toBe(a);
      expect(corruption(() => h.obj.malloc(48))).toMatchObject({ address: b + FreeBlock.TAG, field: "free block tag" });
    }
  });

  it("random programs with double frees among their frees: hardened refuses each one; release modes never hand a live block out", () => {
    let seed = 0x9e3779b9;
    const rnd = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    for (const opts of KINDS) {
      for (const hardened of [true, false]) {
        const h = createHeap({ ...opts, hardened });
        const live: number[] = [];
        const liveSet = new Set<number>();
        const freed: number[] = []; // recently freed, not handed out since
        let refused = 0;
        let damaged = false;
        // Release mode: after a double free it does not refuse, any call may find the damage
        // (a PymallocError: the program stops there); until then no live block is handed out.
        const call = <T,>(fn: () => T): T | undefined => {
          if (hardened) return fn();
          try {
            return fn();
          } catch (e) {
            expect(e).toBeInstanceOf(PymallocError);
            damaged = true;
            return undefined;
          }
        };
        for (let i = 0; i < 20_000 && !damaged; i++) {
          const r = rnd(10);
          if (r < 5 || live.length === 0) {
            const p = call(() => h.obj.malloc(1 + rnd(200)));
            if (p === undefined) break;
            expect(liveSet.has(p)).toBe(false);
            live.push(p);
            liveSet.add(p);
            const k = freed.indexOf(p);
            if (k >= 0) freed.splice(k, 1);
          } else if (r < 9) {
            const k = rnd(live.length);
            const p = live[k];
            live[k] = live[live.length - 1];
            live.pop();
            liveSet.delete(p);
            call(() => h.obj.free(p));
            freed.push(p);
            if (freed.length > 64) freed.shift();
          } else if (freed.length > 0) {
            // Its pool may have emptied and gone back (then the block is in no pool: "not-a-block").
            const p = freed[rnd(freed.length)];
            const e = thrownBy(() => h.obj.free(p));
            if (hardened) expect(e).toBeInstanceOf(InvalidPointerError);
            else {
              if (e !== undefined) expect(e).toBeInstanceOf(PymallocError);
              damaged = true; // on its list twice now, or refused
            }
            refused++;
          }
        }
        if (!hardened) {
          // Whatever it damaged is found: the next mallocs of every class never hand out a live block.
          for (let n = 8; n <= 512 && damaged; n += 8)
            for (let k = 0; k < 64; k++) {
              const p = call(() => h.obj.malloc(n));
              if (p === undefined) break;
              expect(liveSet.has(p)).toBe(false);
              liveSet.add(p);
            }
        }
        expect(refused).toBeGreaterThan(hardened ? 100 : 0);
        if (hardened) h.check();
      }
    }
  });
});

describe("hardened: true", () => {
  it("finds a double free of a small block that is not its pool's last freed one", () => {
    for (const threads of [false, true]) {
      const h = createHeap({ hardened: true, threads, alignment: threads ? 16 : 8 });
      const a = h.obj.malloc(32);
      const b = h.obj.malloc(32);
      h.obj.free(a);
      h.obj.free(b);
      expect(() => h.obj.free(a)).toThrow(InvalidPointerError);
      h.check();
      // a live block whose first word looks like a link is freed normally
      const c = h.obj.malloc(32);
      const d = h.obj.malloc(32);
      h.u32[c >>> 2] = d;
      h.obj.free(c);
      h.obj.free(d);
      h.check();
    }
  });

  it("finds a free of a block its pool carved ahead but never handed out (a pointer past the last block)", () => {
    const h = createHeap({ hardened: true });
    const p = h.obj.malloc(32);
    h.obj.malloc(32);
    // Carving goes in batches (CARVE_BYTES): the blocks after these two are on the free list.
    const e = thrownBy(() => h.obj.free(p + 3 * 32));
    expect(e).toBeInstanceOf(InvalidPointerError);
    expect((e as InvalidPointerError).reason).toBe("double-free");
    h.check();
  });

  it("refuses a popped link inside its pool but off a block boundary, and a damaged free-list head", () => {
    const h = createHeap({ hardened: true });
    const a = h.obj.malloc(48);
    const b = h.obj.malloc(48);
    h.obj.malloc(48);
    h.obj.free(a);
    h.u32[a >>> 2] = b + 8;
    expect(corruption(() => h.obj.malloc(48)).address).toBe(a);
    const pool = a - (a % 16384);
    h.u32[(pool + Pool.FREEBLOCK) >>> 2] = b + 4;
    expect(corruption(() => h.obj.malloc(48)).field).toBe("Pool.FREEBLOCK");
  });

  it("is stored in the heap: attached handles are hardened too; bad values are TypeError", () => {
    for (const hardened of [true, false]) {
      const h = createHeap({ hardened, memoryKind: "fixed" });
      const a = h.obj.malloc(48);
      const b = h.obj.malloc(48);
      h.obj.malloc(48); // keeps the pool in use
      const t = attachHeap(h.buffer);
      h.obj.free(a);
      h.u32[a >>> 2] = b + 8; // a link inside the pool, off a block boundary: hardened's check alone
      if (hardened) expect(corruption(() => t.obj.malloc(48)).address).toBe(a);
      else expect(t.obj.malloc(48)).toBe(a);
    }
    expect(() => createHeap({ hardened: 1 as never })).toThrow(TypeError);
  });
});

describe("calls that walk lists end", () => {
  // In a process of its own under a time limit (test/workers/no-hang.mjs): each case once looped
  // for ever. collect() walked the usedpools lists through views an outside growth had detached,
  // a sampled heap's site table probed undefined slots, and a usedpools list with a loop written
  // into it was followed for ever.
  it("collect() after an outside growth, a sampled heap's frees after it, collect() over a looped usedpools list", async () => {
    const { spawnSync } = await import("node:child_process");
    const { join } = await import("node:path");
    const r = spawnSync(process.execPath, [join(import.meta.dirname, "workers", "no-hang.mjs")], { encoding: "utf8", timeout: 60_000 });
    expect(r.signal, "a case did not end within 60 s").toBe(null);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({
      "collect after an outside grow": "ok",
      "collect after an outside grow, sampled": "ok",
      "collect over a looped usedpools list": "HeapCorruptionError Pool.NEXT",
    });
  }, 90_000);
});

describe("introspection of a damaged heap ends in a HeapCorruptionError (a helper's fuzz of 2026-12-05: these hung or threw a bare TypeError)", () => {
  const calls = (h: Heap): Array<[string, () => unknown]> => [
    ["stats", () => h.stats()],
    ["debugMallocStats", () => h.debugMallocStats()],
    ["heapSvg", () => heapSvg(h)],
    ["walk", () => h.walk(() => {})],
    ["leaks", () => h.leaks()],
    ["snapshot", () => h.snapshot()],
  ];
  const damages: Array<[string, () => Heap]> = [
    ["an arena's NTOTALPOOLS raised", () => {
      const h = createHeap();
      h.obj.malloc(32);
      const a = h.objectAllocator.arenaHeader(h.rawAllocator.arenas()[0]);
      h.u32[(a + Arena.NTOTALPOOLS) >>> 2] = 0x7fffffff;
      return h;
    }],
    ["a raw block's chunk header flagged an arena", () => {
      const h = createHeap();
      const p = h.raw.malloc(100);
      h.u8.fill(0x77, p, p + 100);
      h.raw.malloc(100);
      h.u32[(p - 4) >>> 2] |= Flag.ARENA;
      return h;
    }],
    ["a pool in use's SZIDX", () => {
      const h = createHeap();
      const p = h.obj.malloc(8);
      h.u32[(h.objectAllocator.poolOf(p) + Pool.SZIDX) >>> 2] = 0x1000;
      return h;
    }],
    ["the debug quarantine's count", () => {
      const h = createHeap({ allocator: "debug", traceAllocations: false });
      h.obj.malloc(32);
      h.obj.free(h.obj.malloc(32));
      const ring = h.u32[(h.heapBase >>> 2) + H.QUARANTINE];
      h.u32[(ring + Debug.Q_COUNT) >>> 2] = 0xffffffff;
      return h;
    }],
  ];
  it.each(damages)("%s: check() and every walk say HeapCorruptionError", (_, make) => {
    expect(() => make().check()).toThrow(HeapCorruptionError);
    for (const [name, call] of calls(make())) {
      const e = thrownBy(call);
      // walk, leaks and snapshot of a pool's SZIDX or the quarantine may read right past it: then no error, but never another one.
      if (e !== undefined || !["walk", "leaks", "snapshot"].includes(name)) expect(e, name).toBeInstanceOf(HeapCorruptionError);
    }
  });

  it("a sampled heap's sample table: its pointer or its shift changed is found by check() and by the next lookup, never a search or walk that does not end", () => {
    for (const damage of ["pointer", "shift"] as const) {
      const h = createHeap({ sampleInterval: 256 });
      for (let i = 0; i < 200; i++) h.mem.malloc(100);
      const state = h.u32[(h.heapBase >>> 2) + H.SAMPLES];
      const table = h.u32[state >>> 2];
      if (damage === "pointer") h.u32[state >>> 2] = 16;
      else h.u32[table >>> 2] = 0;
      expect(() => h.check(), damage).toThrow(HeapCorruptionError);
      expect(thrownBy(() => String(h.leaks())), damage).toBeInstanceOf(HeapCorruptionError);
      const e = thrownBy(() => {
        for (let i = 0; i < 2000; i++) h.mem.free(h.mem.malloc(100));
      });
      expect(e, damage).toBeInstanceOf(HeapCorruptionError);
    }
  });
});

describe("threads: the lists of blocks other threads freed, damaged (a helper's fuzz of 2026-12-05)", () => {
  /** A threads heap and a live 32-byte block of it (zeros, then 0x55 at byte 8) among nine others. */
  const heapWithVictim = (): { h: Heap; victim: number } => {
    const h = createHeap({ threads: true, traceAllocations: false, memory: new WebAssembly.Memory({ initial: 32, maximum: 1024, shared: true }) });
    const blocks: number[] = [];
    for (let i = 0; i < 10; i++) {
      const p = h.mem.malloc(32);
      h.u8.fill(0, p, p + 32);
      h.u8[p + 8] = 0x55;
      blocks.push(p);
    }
    return { h, victim: blocks[3] };
  };

  it("a thread slot's DELAYED word pointed at a live block: HeapCorruptionError at the owner's next collect() or slow path, the block never freed from under its user nor handed out again", () => {
    for (const via of ["collect", "malloc"]) {
      const { h, victim } = heapWithVictim();
      h.u32[(h.objectAllocator.slotBase(h.threadId) + Slot.DELAYED) >>> 2] = victim;
      const e = thrownBy(() => {
        if (via === "collect") h.collect();
        for (let i = 0; i < 2000; i++) expect(h.mem.malloc(32)).not.toBe(victim);
      });
      expect(e, via).toBeInstanceOf(HeapCorruptionError);
      expect([...h.u8.subarray(victim, victim + 9)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0x55]);
    }
  });

  it("a pool's REMOTE word pointed at a live block: HeapCorruptionError before anything is written (the block's first word was overwritten)", () => {
    const { h, victim } = heapWithVictim();
    const pool = h.objectAllocator.poolOf(victim);
    h.u32[(pool + Pool.REMOTE) >>> 2] = victim;
    expect(thrownBy(() => h.collect())).toBeInstanceOf(HeapCorruptionError);
    expect([...h.u8.subarray(victim, victim + 9)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0x55]);
  });
});

describe("the usable_arenas list's links, damaged (a helper's fuzz of 2026-12-05): a HeapCorruptionError before anything is written through them", () => {
  const intact = (h: Heap, victim: number): boolean => [...h.u8.subarray(victim, victim + 64)].every((b) => b === 0xab);

  it.each(["JS", "C"])("an arena's NEXT aimed at a live block, its last free pool then taken (%s): takeSlot zeroed a word of the block", (side) => {
    const h = createHeap({ subPools: false, poolSize: 4096, memory: new WebAssembly.Memory({ initial: 16, maximum: 4096 }) });
    const w = h.wasmImports();
    const malloc = side === "C" ? (n: number): number => w.malloc(n) >>> 0 : (n: number): number => h.obj.malloc(n);
    const wU = (h.heapBase >>> 2) + H.USABLE_ARENAS;
    h.obj.malloc(512);
    const ao = h.u32[wU];
    const victim = h.raw.malloc(64);
    h.u8.fill(0xab, victim, victim + 64);
    while (h.u32[(ao + Arena.NFREEPOOLS) >>> 2] > 1) h.obj.malloc(512);
    h.u32[(ao + Arena.NEXT) >>> 2] = victim;
    expect(() => h.check()).toThrow(HeapCorruptionError);
    expect(thrownBy(() => malloc(8))).toMatchObject({ constructor: HeapCorruptionError, field: "Arena.NEXT" });
    expect(intact(h, victim)).toBe(true);
  });

  it("H.USABLE_ARENAS aimed at a live block, then a full arena gets a pool back: returnPool wrote the arena's address into the block", () => {
    const h = createHeap({ subPools: false, poolSize: 4096 });
    const wU = (h.heapBase >>> 2) + H.USABLE_ARENAS;
    const byPool = new Map<number, number[]>();
    const take = (): void => {
      const p = h.obj.malloc(512);
      const k = p - (p % 4096);
      byPool.set(k, [...(byPool.get(k) ?? []), p]);
    };
    const victim = h.raw.malloc(64);
    h.u8.fill(0xab, victim, victim + 64);
    take();
    const A = h.u32[wU];
    while (h.u32[wU] === A) take(); // A full, a second arena leads
    const k = [...byPool.keys()].find((q) => q < A && q > A - 0x100000)!;
    h.u32[wU] = victim;
    expect(thrownBy(() => {
      for (const q of byPool.get(k)!) h.obj.free(q);
    })).toMatchObject({ constructor: HeapCorruptionError, field: "H.USABLE_ARENAS" });
    expect(intact(h, victim)).toBe(true);
  });
});

describe("a sub-pool's Pool.SUB word written over (test/stray-writes.test.ts, seeds 200,000 up, 2026-12-06)", () => {
  // A sub-pool past its slot's first whose SUB word a stray write set to a shift of 0 (256: the
  // shift 0, a used count of 1) read as a whole pool: when it emptied, free gave it back to its
  // arena as one, its slot's live sub-pools with it, and the raw allocator handed out their memory
  // again (malloc(2445) over a live 382-byte block). Off its slot's start a header is a sub-pool's.
  const { SubPool } = constants;
  for (const wasm of [false, true]) {
    it(`${wasm ? "the WebAssembly fast path's" : "JS's"} free of its last block: the sub-pool never goes back as a pool; a HeapCorruptionError names the word, and no block is handed out over a live one`, () => {
      const h = createHeap(wasm ? { memory: new WebAssembly.Memory({ initial: 16, maximum: 1024 }) } : {});
      const env = wasm ? h.wasmImports({ family: "obj" }) : null;
      const malloc = (n: number): number => (env ? env.malloc(n) >>> 0 : h.obj.malloc(n));
      const free = (p: number): void => (env ? env.free(p) : h.obj.free(p));
      const live = [64, 128, 192, 256, 320, 384].map((n) => ({ p: malloc(n), n }));
      const poolSize = h.objectAllocator.poolSize;
      const sub = 1 << SubPool.SHIFT;
      const victim = live.find((b) => b.p % poolSize >= sub)!; // a sub-pool other than its slot's first
      const sp = victim.p - (victim.p % sub);
      expect(h.u32[(sp + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK).toBe(SubPool.SHIFT);
      h.u32[(sp + Pool.SUB) >>> 2] = 256;
      const others = live.filter((b) => b !== victim);
      for (const b of others) h.u8.fill(b.n & 0xff, b.p, b.p + b.n);
      let err: unknown;
      try {
        free(victim.p); // in wasm the emptied sub-pool stays as its class's spare: nothing read through the word
        // Its class's next pools come and go, so that the spare leaves: through JS either way.
        for (let round = 0; round < 4; round++) {
          const more = Array.from({ length: 40 }, () => malloc(victim.n));
          for (const q of more) free(q);
        }
        h.obj.free(h.obj.malloc(victim.n));
        // Raw blocks: would they be cut from the slot the sub-pool's arena gave back?
        for (let i = 0; i < 20; i++) {
          const q = h.raw.malloc(2445);
          for (const b of others) expect(q + 2445 <= b.p || b.p + b.n <= q, `raw block ${q} over live ${b.p}`).toBe(true);
        }
      } catch (e) {
        err = e;
      }
      const checked = corruption(() => h.check());
      expect(checked.field).toBe("Pool.SUB");
      expect(checked.address).toBe(sp + Pool.SUB);
      if (!wasm || err !== undefined) {
        expect(err).toBeInstanceOf(HeapCorruptionError);
        expect((err as HeapCorruptionError).field).toBe("Pool.SUB");
        expect((err as HeapCorruptionError).address).toBe(sp + Pool.SUB);
      }
      // The other blocks were never written over.
      for (const b of others) for (let k = 0; k < b.n; k++) expect(h.u8[b.p + k]).toBe(b.n & 0xff);
    });
  }

  it("the slot's own word set to a shift of 0: its first sub-pool, emptied, is refused as a whole pool (its last offset is a sub-pool's), before anything is written", () => {
    const h = createHeap();
    const live = [64, 128, 192, 256, 320, 384].map((n) => ({ p: h.obj.malloc(n), n }));
    const poolSize = h.objectAllocator.poolSize;
    const first = live.filter((b) => b.p % poolSize < 1 << SubPool.SHIFT);
    const others = live.filter((b) => !first.includes(b));
    expect(first.length).toBeGreaterThan(0);
    expect(others.length).toBeGreaterThan(0);
    const slot = first[0].p - (first[0].p % poolSize);
    for (const b of others) h.u8.fill(b.n & 0xff, b.p, b.p + b.n);
    h.u32[(slot + Pool.SUB) >>> 2] &= ~SubPool.SHIFT_MASK;
    const before = copyOf(h);
    const e = corruption(() => {
      for (const b of first) h.obj.free(b.p);
    });
    expect(e.field).toBe("Pool.NEXTOFFSET");
    expect(e.address).toBe(slot + Pool.NEXTOFFSET);
    // The free itself was made (the block's link and tag, its pool's COUNT and FREEBLOCK); the
    // pool went nowhere: nothing else was written.
    const now = new Uint8Array(copyOf(h));
    const was = new Uint8Array(before);
    const freed = first[first.length - 1].p;
    const allowed = (a: number): boolean => (a >= freed && a < freed + 8) || (a >= slot + Pool.COUNT && a < slot + Pool.COUNT + 4) || (a >= slot + Pool.FREEBLOCK && a < slot + Pool.FREEBLOCK + 4);
    for (let a = 0; a < was.length; a++) if (now[a] !== was[a]) expect(allowed(a), `byte ${a} written`).toBe(true);
    expect(corruption(() => h.check()).field).toBe("Pool.SUB");
  });
});

describe("a raw chunk's size word given the cached flags (test/corruption.test.ts past its seeds, 2026-12-06)", () => {
  for (const allocator of ["malloc", "pymalloc"] as const) {
    it(`${allocator}: realloc growing into it empties the raw cache once, then says the chunk is damaged (it recursed until the stack overflowed: an untyped RangeError)`, () => {
      const h = createHeap({ allocator });
      const a = h.raw.malloc(1000);
      const b = h.raw.malloc(1000);
      h.raw.malloc(1000); // b is not the last chunk
      const nb = b - Chunk.HEADER;
      expect(nb).toBe(a - Chunk.HEADER + ((h.u32[(a - Chunk.HEADER + Chunk.SIZE) >>> 2] ^ constants.Chunk.SIZE_KEY) & ~15));
      h.u32[(nb + Chunk.SIZE) >>> 2] |= Flag.FREE | Flag.ARENA;
      const e = corruption(() => h.raw.realloc(a, 1500));
      expect(e.field).toBe("Chunk.SIZE");
      expect(e.address).toBe(nb + Chunk.SIZE);
    });
  }
});

describe("a pool's size words raised under the debug modes (test/corruption.test.ts with 16 KiB pools, past its seeds, 2026-12-06)", () => {
  // The debug layer paints a new block's pads up to its usable size. A pool's block size word
  // (Pool.SIZE until HEAP_VERSION 20) raised by 48 (176 -> 224) passed the 64 bytes of slack
  // allowed, and the pad was painted over the next block, a live one. The size is now its class's
  // (SZIDX), and the INVERSE word in its place must be that size's: either word raised to the
  // 224-byte class's, the next malloc of that pool is refused or hands out the pool's own free
  // block at its class's size; the live blocks after it are untouched, and check() reports it.
  for (const threads of [false, true])
    for (const word of ["Pool.INVERSE", "Pool.SZIDX"] as const) {
      it(`threads: ${threads}, ${word}: the live blocks after the next block of that pool untouched`, () => {
        const h = createHeap({ allocator: "debug", traceAllocations: false, threads });
        const n = 130; // 130 + the debug header and tail: the 176-byte class
        const blocks = Array.from({ length: 6 }, () => h.obj.malloc(n));
        for (const p of blocks) h.u8.fill(0x5a, p, p + n);
        const pools = [...new Set(blocks.map((p) => h.objectAllocator.poolOf(p)))]; // 1 KiB sub-pools
        for (const pool of pools) expect(h.u32[(pool + Pool.INVERSE) >>> 2]).toBe(constants.blockInverse(176));
        h.obj.free(blocks[2]);
        h.drainQuarantine(); // blocks[2] is its pool's free block now
        for (const pool of pools) {
          if (word === "Pool.INVERSE") h.u32[(pool + Pool.INVERSE) >>> 2] = constants.blockInverse(224);
          else h.u32[(pool + Pool.SZIDX) >>> 2] = 224 / 8 - 1;
        }
        const e = thrownBy(() => h.obj.malloc(n));
        if (e !== undefined) expect(e).toBeInstanceOf(PymallocError);
        for (const p of [blocks[3], blocks[4]]) for (let k = 0; k < n; k++) expect(h.u8[p + k], `block ${p} +${k}`).toBe(0x5a);
        // The two words disagree: check() names INVERSE, the one that must be SZIDX's size's.
        expect(corruption(() => h.check()).field).toBe("Pool.INVERSE");
      });
    }
});

describe("a cached raw chunk's size raised by 2048 (test/corruption.test.ts past its seeds, 2026-12-06)", () => {
  // Raw cache lists are by (size >> 4) & 127: sizes 2048 bytes apart share one. A cached chunk's
  // size word raised by 2048 stayed on its list and was released (or handed out) over the chunks
  // after it. Where a cached chunk ends must now look like a chunk, as for a live one.
  const { Chunk: C } = constants;
  for (const allocator of ["malloc", "pymalloc"] as const) {
    for (const how of ["malloc of the raised size", "the cache emptied"] as const) {
      it(`${allocator}, ${how}: HeapCorruptionError naming the chunk's size word, the live block after it untouched`, () => {
        const h = createHeap({ allocator });
        const a = h.raw.malloc(660); // a 672-byte chunk
        const b = h.raw.malloc(100);
        const far = h.raw.malloc(4000); // a's raised end lies in it, below the top
        h.u8.fill(0x77, b, b + 100);
        h.u8.fill(0x77, far, far + 4000);
        h.raw.free(a); // into the raw cache
        const ca = a - C.HEADER;
        const w = (ca + C.SIZE) >>> 2;
        const flags = h.u32[w] & 15;
        const size = ((h.u32[w] ^ C.SIZE_KEY) & ~15) >>> 0;
        expect(size).toBe(672);
        h.u32[w] = (((size + 2048) ^ C.SIZE_KEY) & ~15) | flags;
        const e = corruption(() => {
          if (how === "malloc of the raised size") h.raw.malloc(2720 - C.OVERHEAD);
          else for (let i = 0; i < 40; i++) h.raw.malloc(5000 + i); // nothing free fits: the cache is emptied
        });
        expect(e.field).toBe("Chunk.SIZE");
        expect(e.address).toBe(ca + C.SIZE);
        for (let k = 0; k < 100; k++) expect(h.u8[b + k]).toBe(0x77);
      });
    }
  }
});

describe("an in-use raw chunk's size has a second copy, its footer (Chunk, HEAP_VERSION 17)", () => {
  // Until the footer, a chunk in use whose size word a stray write enlarged to end exactly where
  // a later chunk starts passed every test (the chain of chunks stays consistent): freed, it
  // took the chunks it swallowed with it, and a later malloc handed them out over live blocks.
  const { Chunk: C } = constants;
  const sizeAt = (h: Heap, c: number): number => ((h.u32[(c + C.SIZE) >>> 2] ^ C.SIZE_KEY) & ~15) >>> 0;
  const setSize = (h: Heap, c: number, size: number): void => {
    const w = (c + C.SIZE) >>> 2;
    h.u32[w] = (((size ^ C.SIZE_KEY) & ~15) | (h.u32[w] & 15)) >>> 0;
  };
  for (const allocator of ["malloc", "pymalloc"] as const) {
    for (const op of ["free", "realloc", "usableSize"] as const) {
      it(`${allocator}: ${op} of a block whose size word was enlarged to end where a later block starts is a HeapCorruptionError; the blocks it swallowed stay as they are`, () => {
        const h = createHeap({ allocator });
        const a = h.raw.malloc(1000);
        const b = h.raw.malloc(1200);
        const c = h.raw.malloc(1400);
        h.raw.malloc(600); // keeps c from the top
        h.u8.fill(0x66, b, b + 1200);
        const ca = a - C.HEADER;
        const grown = sizeAt(h, ca) + sizeAt(h, b - C.HEADER); // a now ends where c's chunk starts
        expect(ca + grown).toBe(c - C.HEADER);
        setSize(h, ca, grown);
        const e = corruption(() => (op === "free" ? h.raw.free(a) : op === "realloc" ? h.raw.realloc(a, 1500) : h.usableSize(a)));
        expect(e.field).toBe("Chunk.SIZE");
        expect(e.address).toBe(ca + C.SIZE);
        expect(e.message).toMatch(/its copy after the block/);
        for (let k = 0; k < 1200; k++) if (h.u8[b + k] !== 0x66) throw new Error(`byte ${k} of the swallowed block changed`);
        expect(() => h.check()).toThrow(HeapCorruptionError); // check() sees it too
      });
    }
  }

  it("in the WebAssembly fast path: the footer is checked before wasm frees a raw block; JS reports it", () => {
    const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 2, maximum: 4096 }), heapBase: 4096 });
    const w = heap.wasmImports();
    const a = w.malloc(1000) >>> 0;
    const b = w.malloc(1200) >>> 0;
    w.malloc(1400);
    w.malloc(600);
    heap.u8.fill(0x66, b, b + 1200);
    const ca = a - C.HEADER;
    setSize(heap, ca, sizeAt(heap, ca) + sizeAt(heap, b - C.HEADER));
    expect(thrownBy(() => w.free(a))).toMatchObject({ name: "HeapCorruptionError", field: "Chunk.SIZE", address: ca + C.SIZE });
    for (let k = 0; k < 1200; k++) if (heap.u8[b + k] !== 0x66) throw new Error(`byte ${k} of the swallowed block changed`);
  });

  for (const n of [1, 2, 3, 4]) {
    it(`a write of ${n} byte(s) past a raw block's usable end is found at its free, in release mode (HeapCorruptionError naming the block)`, () => {
      const h = createHeap();
      const p = h.raw.malloc(1000);
      h.raw.malloc(700);
      const end = p + h.usableSize(p);
      for (let k = 0; k < n; k++) h.u8[end + k] = 0x41;
      const e = corruption(() => h.raw.free(p));
      expect(e.address).toBe(p - C.HEADER + C.SIZE);
      expect(e.message).toContain(`free(${hex(p)})`);
      expect(e.message).toMatch(/a write past the end of this block/);
    });
  }

  it("the footer costs no chunk bytes for 8-aligned requests: a chunk is the request and 8 bytes, in 16-byte steps", () => {
    const h = createHeap({ allocator: "malloc" });
    for (const [n, chunk] of [[1, 16], [8, 16], [9, 32], [24, 32], [40, 48], [41, 64], [1000, 1008], [1001, 1024]] as const) {
      const p = h.raw.malloc(n);
      expect(sizeAt(h, p - C.HEADER)).toBe(chunk);
      expect(h.usableSize(p)).toBe(chunk - C.OVERHEAD);
    }
    h.check();
  });
});

describe("a damaged word is never written through (a helper's damage scan of 2026-12-06)", () => {
  const HB = 4096;
  const modes: [string, Record<string, unknown>, boolean][] = [
    ["pymalloc", {}, false],
    ["hardened", { hardened: true }, false],
    ["debug", { allocator: "debug", traceAllocations: false, quarantineBlocks: 0 }, false],
    ["WebAssembly fast path", {}, true],
  ];
  for (const [name, opts, wasm] of modes) {
    for (const how of ["a live block", "an address that wraps"]) {
      it(`the free sub-pool list's head set to ${how}: refused before a sub-pool is pushed (${name})`, () => {
        const h = createHeap({ ...opts, heapBase: HB, ...(wasm ? { memory: new WebAssembly.Memory({ initial: 32, maximum: 1024 }) } : {}) });
        const env = wasm ? h.wasmImports({ family: "obj" }) : undefined;
        const objMalloc = (n: number): number => (env ? (env.malloc(n) as number) >>> 0 : h.obj.malloc(n));
        const objFree = (p: number): void => (env ? void env.free(p) : h.obj.free(p));
        h.u8.fill(0xa5, 0, HB); // below the heap: a module's data
        const victim = h.raw.malloc(64);
        h.u8.fill(0x11, victim, victim + 64);
        const ps: number[] = [];
        for (let i = 0; i < 200; i++) ps.push(objMalloc(32)); // a young class: sub-pools
        const wHead = (HB + h.u32[(HB >>> 2) + constants.H.SUBPOOLS]) >>> 2; // SubPool.FREE
        h.u32[wHead] = how === "a live block" ? victim - 12 : 0xfffffffc; // the stray write
        const e = thrownBy(() => {
          for (const p of ps) objFree(p); // emptied sub-pools go back onto the free list
        });
        expect(e).toBeInstanceOf(HeapCorruptionError);
        expect((e as HeapCorruptionError).field).toBe("free sub-pool list");
        expect(h.u8.subarray(victim, victim + 64).every((b) => b === 0x11)).toBe(true);
        expect(h.u8.subarray(0, HB).every((b) => b === 0xa5)).toBe(true);
      });
    }
  }

  for (const [name, opts, wasm] of modes) for (const crafted of [false, true]) {
    it(`a pool-map bit set over raw blocks: free of a raw block whose neighbour's bytes are no pool header (${crafted ? "small integers that pass free's other tests" : "zeros"}) names the pool map, writes nothing (${name})`, () => {
      const h = createHeap({ ...opts, heapBase: HB, ...(wasm ? { memory: new WebAssembly.Memory({ initial: 32, maximum: 1024 }) } : {}) });
      const env = wasm ? h.wasmImports({ family: "obj" }) : undefined;
      const objMalloc = (n: number): number => (env ? (env.malloc(n) as number) >>> 0 : h.obj.malloc(n));
      const objFree = (p: number): void => (env ? void env.free(p) : h.obj.free(p));
      const hw = HB >>> 2;
      const poolSize = 2 ** h.u32[hw + constants.H.POOL_SHIFT];
      const ps: number[] = [];
      for (let i = 0; i < 64; i++) ps.push(objMalloc(1000)); // raw blocks (over 512 bytes)
      // A pool slot's start inside one raw block's bytes (q), another raw block p later in the slot.
      let q = 0;
      let p = 0;
      for (const a of ps) {
        const s = a - (a % poolSize) + poolSize;
        if (s + Pool.OVERHEAD > a + 1000) continue;
        const b = ps.find((x) => x > s + Pool.OVERHEAD + 64 && x < s + poolSize);
        if (b !== undefined) [q, p] = [a, b];
        if (p !== 0) break;
      }
      expect(p).not.toBe(0);
      const slot = p - (p % poolSize);
      // The user's bytes where the slot starts, which a "pool header" there would be: zeroed, as
      // user data often is (bytes that pass every test of free's fast path are not refused:
      // docs/performance.md, "A pool-map bit over raw blocks").
      h.u8.fill(0, slot, slot + Pool.OVERHEAD);
      if (crafted) {
        // Words as a program's data has them, each passing free's fast-path test of its field:
        // blocks in use, a free list head that is not p, 16-byte blocks carved past p, and an
        // OWNER word of 0, which a heap without threads had in every pool until HEAP_VERSION 18
        // (now keyed: Pool.OWNER_KEY + the slot). Written through before (count and free list).
        h.u32[(slot + Pool.COUNT) >>> 2] = 5;
        h.u32[(slot + Pool.FREEBLOCK) >>> 2] = 0x100;
        h.u32[(slot + Pool.NEXTOFFSET) >>> 2] = poolSize;
        h.u32[(slot + Pool.INVERSE) >>> 2] = constants.blockInverse(16);
      }
      const before = h.u8.slice(q, q + 1000);
      const pBefore = h.u8.slice(p, p + 16);
      const mapByte = HB + h.u32[hw + constants.H.POOL_MAP] + ((slot / poolSize) >>> 3);
      const bit = 1 << ((slot / poolSize) & 7);
      expect(h.u8[mapByte] & bit).toBe(0);
      h.u8[mapByte] |= bit; // the stray write
      const e = thrownBy(() => objFree(p));
      if (name === "debug") {
        // The debug hooks refuse it first, by their own tests of the block.
        expect(e).toBeInstanceOf(PymallocError);
      } else {
        expect(e).toBeInstanceOf(HeapCorruptionError);
        expect((e as HeapCorruptionError).field).toBe("Pool.ARENA");
        expect((e as HeapCorruptionError).address).toBe(slot + Pool.ARENA);
        expect((e as Error).message).toMatch(/pool map/);
      }
      expect(h.u8.slice(q, q + 1000)).toEqual(before); // the user's bytes: nothing written (was: count and free list head)
      expect(h.u8.slice(p, p + 16)).toEqual(pBefore);
      h.u8[mapByte] &= ~bit; // the map mended: p is a raw block again, freed as one
      objFree(p);
      h.check();
    });
  }

  for (const heapBase of [0, HB]) {
    it(`a pool's FREEBLOCK of 0xffffffff: malloc's report writes nothing below the heap (heapBase ${heapBase})`, () => {
      const h = createHeap({ heapBase });
      if (heapBase !== 0) h.u8.fill(0xa5, 0, heapBase);
      const w0 = h.u32[0];
      const a = h.obj.malloc(32);
      h.obj.malloc(32);
      const pool = a - (a % 1024);
      h.u32[(pool + 4) >>> 2] = 0xffffffff; // Pool.FREEBLOCK: a 0xff memset over the header
      const e = thrownBy(() => h.obj.malloc(32));
      expect(e).toBeInstanceOf(HeapCorruptionError);
      expect(h.u32[0]).toBe(w0); // word 0: the heap's magic, or a module's data (was xored)
      if (heapBase === 0) expect(() => attachHeap(h.memory.source)).not.toThrow();
    });
  }
});

describe("the mode word against what the heap holds (a helper's probe of reloaded heaps, 2026-12-06)", () => {
  it("a flipped bit in a release heap's H.QUARANTINE is found by check(), not first by stats()", () => {
    const h = createHeap();
    const p = h.raw.malloc(4000);
    h.u32[constants.H.QUARANTINE] = p; // a real block's address (a bit flip made it one)
    expect(thrownBy(() => h.check())).toMatchObject({ name: "HeapCorruptionError", message: expect.stringMatching(/release mode, yet the heap keeps a debug quarantine ring/) });
    h.u32[constants.H.QUARANTINE] = 0;
    h.check();
  });

  it("a debug heap whose mode word reads malloc (3 -> 2) is refused at attach", () => {
    const h = createHeap({ allocator: "debug" });
    const ps = Array.from({ length: 200 }, (_, i) => h.obj.malloc(16 + i));
    for (const p of ps.slice(0, 50)) h.obj.free(p); // the quarantine ring exists
    h.u32[constants.H.MODE] = 2;
    expect(() => attachHeap(h.memory.source)).toThrow(/a mode word written over\?/);
    h.u32[constants.H.MODE] = 3;
    attachHeap(h.memory.source).check();
  });
});

describe("sampled sites' words (a helper's probe of 2026-12-06, session 43)", () => {
  for (const opts of [{}, { threads: true }]) {
    it(`H.SAMPLES pointed at a user's live raw block is refused by check() and attachHeap, never written through (${JSON.stringify(opts)})`, () => {
      const heap = createHeap(opts);
      const user = heap.raw.malloc(40000);
      heap.u8.fill(0, user, user + 40000);
      heap.u32[(user + 4) >>> 2] = 64; // a small number where the interval would be
      heap.u32[(heap.heapBase >>> 2) + H.SAMPLES] = user; // the stray write
      expect(corruption(() => heap.check()).field).toBe("H.SAMPLES");
      expect(corruption(() => attachHeap(heap.memory.source)).field).toBe("H.SAMPLES");
      heap.u32[(heap.heapBase >>> 2) + H.SAMPLES] = 0;
      heap.check();
      if (opts.threads) heap.detachThread();
    });
  }

  it("a sampled heap's state without its magic or with a mean interval of 0 is refused at attach (snapshot() threw a RangeError)", () => {
    const heap = createHeap({ sampleInterval: 4096 });
    const state = heap.u32[(heap.heapBase >>> 2) + H.SAMPLES];
    heap.check();
    expect(() => attachHeap(heap.memory.source).check()).not.toThrow();
    heap.u32[(state + Sample.S_INTERVAL) >>> 2] = 0;
    expect(corruption(() => attachHeap(heap.memory.source)).field).toBe("H.SAMPLES");
    expect(corruption(() => heap.check()).field).toBe("H.SAMPLES");
    heap.u32[(state + Sample.S_INTERVAL) >>> 2] = 4096;
    heap.u32[(state + Sample.S_MAGIC) >>> 2] ^= 1;
    expect(corruption(() => attachHeap(heap.memory.source)).message).toMatch(/magic/);
  });

  it("the sample table's LIVE count lowered: check() names it, and the next rehash sizes the table by its entries (it probed for a free slot for ever)", () => {
    const heap = createHeap({ sampleInterval: 16 }); // nearly every allocation sampled
    const state = heap.u32[(heap.heapBase >>> 2) + H.SAMPLES];
    const live: number[] = [];
    for (let i = 0; i < 3000; i++) live.push(heap.mem.malloc(64));
    const t = heap.u32[(state + Sample.S_TABLE) >>> 2];
    expect(heap.u32[(t + Sample.LIVE) >>> 2]).toBeGreaterThan(256);
    heap.u32[(t + Sample.LIVE) >>> 2] = 0; // the stray write
    expect(corruption(() => heap.check()).field).toBe("Sample.LIVE");
    for (let i = 0; i < 20000; i++) live.push(heap.mem.malloc(64)); // rehashes: each ends
    for (const p of live) heap.mem.free(p);
    expect(heap.stats().blocksInUse).toBe(0);
    heap.check(); // the table made again holds its true count
  });

  it.each([false, true])("the sample table's PREV word pointed at a user's block (threads: %s): check() names it, and leaks() still lists the block", (threads) => {
    const heap = createHeap({ sampleInterval: 16, threads, memoryKind: threads ? "growable-shared" : undefined });
    const state = heap.u32[(heap.heapBase >>> 2) + H.SAMPLES];
    const live: number[] = [];
    for (let i = 0; i < 3000; i++) live.push(heap.mem.malloc(64)); // rehashes: with threads, the replaced tables are kept on PREV
    const victim = heap.raw.malloc(100_000);
    heap.check();
    const blocks = heap.leaks().totalBlocks;
    let t = heap.u32[(state + Sample.S_TABLE) >>> 2];
    while (heap.u32[(t + Sample.PREV) >>> 2] !== 0) t = heap.u32[(t + Sample.PREV) >>> 2]; // the chain's last
    heap.u32[(t + Sample.PREV) >>> 2] = victim; // the stray write
    const e = corruption(() => heap.check());
    expect(e.field).toBe("Sample.PREV");
    expect(e.address).toBe(t + Sample.PREV);
    expect(heap.leaks().totalBlocks).toBe(blocks);
    heap.u32[(t + Sample.PREV) >>> 2] = 0;
    heap.check();
    if (threads) heap.detachThread();
  });
});

describe("the heap's end (a helper's probe of 2026-12-06, session 43)", () => {
  it("H.END raised past the memory is found by check(); unfound, the pages a module grew next would have been carved as the heap's", () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 256 });
    const heap = createHeap({ memory });
    heap.raw.malloc(1000);
    heap.check();
    heap.u32[(heap.heapBase >>> 2) + H.END] += 65536; // the stray write
    expect(corruption(() => heap.check()).field).toBe("H.END");
    heap.u32[(heap.heapBase >>> 2) + H.END] -= 65536;
    heap.check();
  });

  it("a copy attached in a shorter memory: its end comes down to the memory's, and a module's pages grown next are fenced, never handed out", () => {
    const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 4, maximum: 256 }) });
    heap.raw.malloc(1000);
    const top = heap.stats().footprint;
    const pages = Math.ceil((top + 70000) / 65536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: 256 });
    new Uint8Array(memory.buffer).set(heap.u8.subarray(0, pages * 65536));
    const copy = attachHeap(memory);
    copy.check();
    expect(copy.u32[(copy.heapBase >>> 2) + H.END]).toBe(pages * 65536);
    const old = memory.grow(2); // the module's own pages
    new Uint8Array(memory.buffer, old * 65536, 2 * 65536).fill(0x5a);
    let p = 0;
    while (p < (old + 2) * 65536) {
      p = copy.raw.malloc(3000);
      copy.u8.fill(1, p, p + 3000);
    }
    expect(new Uint8Array(memory.buffer, old * 65536, 2 * 65536).every((b) => b === 0x5a)).toBe(true);
    copy.check();
  });
});

describe("the mode word and saved snapshots (helpers' probes of 2026-12-06, session 43)", () => {
  it("H.MODE flipped to another mode is found by check() on the handle that knows its mode (a release heap read as debug with no ring passed)", () => {
    for (const [allocator, to] of [["pymalloc", 3], ["pymalloc", 4], ["malloc", 5]] as const) {
      const heap = createHeap({ allocator });
      heap.mem.free(heap.mem.malloc(40));
      heap.u32[(heap.heapBase >>> 2) + H.MODE] = to;
      expect(corruption(() => heap.check()).field).toBe("H.MODE");
    }
  });

  it("HeapSnapshot.fromJSON of text that is no JSON is a TypeError naming it (JSON's SyntaxError)", async () => {
    const { HeapSnapshot } = await import("../src/index.js");
    expect(() => HeapSnapshot.fromJSON("not json")).toThrow(TypeError);
    expect(() => HeapSnapshot.fromJSON("not json")).toThrow(/fromJSON/);
  });
});

describe("a write just before a pool's first block (a C programmer's probe of 2026-12-06, session 43)", () => {
  it("check() says what the byte before the first block is: the header's last byte (it said only that the slot counts 65538 sub-pools)", () => {
    const heap = createHeap();
    const ps = Array.from({ length: 8 }, () => heap.mem.malloc(40));
    const first = ps.find((p) => p % 16384 === Pool.OVERHEAD)!;
    expect(first).toBeDefined();
    heap.u8[first - 1] = 1; // p[-1]
    const e = corruption(() => heap.check());
    expect(e.field).toBe("Pool.SUB");
    expect(e.message).toMatch(/write before a block's start/);
  });
});


describe("a debug heap's quarantine after a thread died in a free (a user's probe of 2026-12-06, session 43)", () => {
  it("a block marked freed but never put in the ring, and a count one off: mendQuarantine() releases the one and counts the ring again (check() failed for good after adoptThread)", async () => {
    const { mendQuarantine } = await import("../src/debug/quarantine.js");
    const heap = createHeap({ allocator: "debug", threads: true, traceAllocations: false });
    const ps = Array.from({ length: 50 }, (_, i) => heap.mem.malloc(24 + i));
    for (let i = 0; i < 10; i++) heap.mem.free(ps[i]);
    heap.check();
    // What retire() leaves when its thread stops after marking the block freed, before its entry:
    const base = ps[20] - Debug.HEADER;
    heap.u8[base + Debug.FAMILY] |= Debug.FREED_BIT;
    heap.u8.fill(0xdd, ps[20], ps[20] + 10); // half painted
    expect(() => heap.check()).toThrow(/marked freed/);
    mendQuarantine(heap.debug!);
    heap.check();
    // And a count raised before its entry was written:
    const ring = heap.u32[(heap.heapBase >>> 2) + H.QUARANTINE];
    heap.u32[(ring + Debug.Q_COUNT) >>> 2]++;
    expect(() => heap.check()).toThrow();
    mendQuarantine(heap.debug!);
    heap.check();
    for (let i = 10; i < 50; i++) if (i !== 20) heap.mem.free(ps[i]);
    heap.check();
    expect(heap.leaks().blocks.length).toBe(0);
  });

  it("the block a thread was allocating when it died, its pads half painted: mendNewest() releases it (check() reported an underflow no user made)", async () => {
    const { mendNewest } = await import("../src/debug/quarantine.js");
    const heap = createHeap({ allocator: "debug", threads: true, traceAllocations: false });
    const ps = Array.from({ length: 20 }, (_, i) => heap.mem.malloc(24 + i));
    const last = heap.mem.malloc(40); // the newest serial
    heap.u8.fill(0, last - 8, last); // its lead pad not painted yet
    expect(() => heap.check()).toThrow(/underflow/);
    mendNewest(heap.debug!);
    heap.check();
    for (const p of ps) heap.mem.free(p);
    heap.check();
    expect(heap.leaks().blocks.length).toBe(0);
    // A newest block with whole pads stays.
    const keep = heap.mem.malloc(40);
    mendNewest(heap.debug!);
    heap.mem.free(keep);
    heap.check();
  });
});

describe("header words the young limits record (a stray-write hunt, session 44)", () => {
  const limitsWord = (h: ReturnType<typeof createHeap>): number => (h.heapBase + h.u32[(h.heapBase >>> 2) + constants.H.SUBPOOLS] + constants.SubPool.LIMIT) >>> 2;
  it.each([8, 16] as const)("ALIGN_SHIFT flipped on a heap of %i-byte alignment: attachHeap and check() name it (a handle attached next handed out blocks over live ones)", (alignment) => {
    const heap = createHeap({ alignment, memoryKind: "fixed", initialBytes: 1 << 20 });
    const live = Array.from({ length: 200 }, (_, i) => heap.mem.malloc(1 + ((i * 37) % 500)));
    const at = (heap.heapBase >>> 2) + constants.H.ALIGN_SHIFT;
    heap.u32[at] ^= 7; // 3 <-> 4
    for (const f of [() => heap.check(), () => attachHeap(heap.buffer)]) {
      const e = thrownBy(f);
      expect(e).toBeInstanceOf(HeapCorruptionError);
      expect((e as HeapCorruptionError).field).toBe("H.ALIGN_SHIFT");
    }
    heap.u32[at] ^= 7;
    heap.check();
    expect(live.every((p) => p !== 0)).toBe(true);
  });

  it("the WHOLE_POOLS flag set on a heap with sub-pools, or a young limit changed: named (a handle attached next refused valid frees)", () => {
    const heap = createHeap({ memoryKind: "fixed", initialBytes: 1 << 20 });
    heap.obj.malloc(24);
    const fw = (heap.heapBase >>> 2) + constants.H.FLAGS;
    heap.u32[fw] |= constants.HeapFlag.WHOLE_POOLS;
    expect((thrownBy(() => attachHeap(heap.buffer)) as HeapCorruptionError).field).toBe("H.FLAGS");
    heap.u32[fw] &= ~constants.HeapFlag.WHOLE_POOLS;
    const lw = limitsWord(heap) + 5;
    heap.u32[lw] += 1;
    expect((thrownBy(() => heap.check()) as HeapCorruptionError).field).toBe("SubPool.LIMIT");
    heap.u32[lw] -= 1;
    attachHeap(heap.buffer).check();
  });
});

describe("H.POOL_MAP_HIGH aimed at a user's block (a stray-write fuzz of 2026-12-07)", () => {
  // collect() (and the raw allocator's full path, releaseKept) gave the pool map's high part back
  // when its bytes were all zero, trusting the word: a user's block there went back to the free
  // chunks under its user, and the next allocations wrote over it.
  it.each([
    ["a heap whose growth limit needs no high part (any address passed the empty scan)", { maxBytes: 1 << 26 }, false],
    ["a heap of the default limit, the word aimed at a zeroed block (calloc) as long as the high part", {}, true],
  ] as const)("%s: collect() is a HeapCorruptionError naming the word, the block kept", (_name, opts, zeroed) => {
    const h = createHeap({ memoryKind: "resizable", initialBytes: 1 << 20, ...opts });
    const keep = h.obj.malloc(100);
    const n = 65536;
    const p = zeroed ? h.mem.calloc(1, n) : h.mem.malloc(n);
    if (!zeroed) h.u8.fill(0x5a, p, p + n);
    const at = zeroed ? p : p + 80;
    h.u32[(h.heapBase >>> 2) + H.POOL_MAP_HIGH] = at; // the stray write
    expect(corruption(() => h.collect()).field).toBe("H.POOL_MAP_HIGH");
    expect(h.u32[(h.heapBase >>> 2) + H.POOL_MAP_HIGH]).toBe(at);
    h.u32[(h.heapBase >>> 2) + H.POOL_MAP_HIGH] = 0; // put right: the heap is as it was
    h.check();
    expect(h.usableSize(p)).toBeGreaterThanOrEqual(n);
    for (let i = 0; i < 8; i++) expect(h.mem.malloc(n / 2)).not.toBe(0);
    const want = zeroed ? 0 : 0x5a;
    expect(h.u8.subarray(p, p + n).every((b) => b === want)).toBe(true);
    h.obj.free(keep);
  });
});

describe("H.POOL_MAP_HIGH aimed at a user's block in a heap past 256 MiB (a stray-write fuzz of 2026-12-07)", () => {
  // The bits of every arena made or given back past the pool map's low part went to the word's
  // address, unchecked but for the memory's length: a user's block there had 6 bytes changed.
  const B = 1 << 28; // the heap past the low part: every arena's bits in the high part
  it.each([false, true])("made already: %s; the next arena's bits are a HeapCorruptionError naming the word, the block unchanged", (made) => {
    const h = createHeap({ memoryKind: "resizable", heapBase: B, initialBytes: B + (1 << 18), maxBytes: B + (1 << 26) });
    const hw = (h.heapBase >>> 2) + H.POOL_MAP_HIGH;
    if (made) h.obj.malloc(16);
    expect(h.u32[hw] !== 0).toBe(made);
    const n = 40000;
    const p = h.mem.malloc(n);
    h.u8.fill(0x5a, p, p + n);
    h.u32[hw] = p; // the stray write
    expect(
      corruption(() => {
        for (let i = 0; i < 3000; i++) h.obj.malloc(200);
      }).field,
    ).toBe("H.POOL_MAP_HIGH");
    expect(h.u8.subarray(p, p + n).every((b) => b === 0x5a)).toBe(true);
  });

  it("an arena given back (collect()) past the low part: the damaged word is found before the arena leaves its lists; put right, the heap checks whole", () => {
    const h = createHeap({ memoryKind: "resizable", heapBase: B, initialBytes: B + (1 << 18), maxBytes: B + (1 << 26) });
    const hw = (h.heapBase >>> 2) + H.POOL_MAP_HIGH;
    const keep = h.obj.malloc(16);
    const p = h.mem.malloc(40000); // first: a raw request that grows the top gives empty arenas back
    const ps = Array.from({ length: 3000 }, () => h.obj.malloc(200));
    for (const q of ps) h.obj.free(q);
    const arenas = h.stats().arenas.current;
    expect(arenas).toBeGreaterThan(2);
    const good = h.u32[hw];
    h.u8.copyWithin(p, good, good + 4096); // the map's bits there too: lookups read the same answers
    h.u32[hw] = p; // the stray write
    expect(corruption(() => h.collect()).field).toBe("H.POOL_MAP_HIGH");
    h.u32[hw] = good;
    h.check(); // every arena still listed (it was unlinked, then the error: check() named it)
    expect(h.stats().arenas.current).toBe(arenas);
    h.collect();
    h.check();
    h.obj.free(keep);
    h.mem.free(p);
  });
});

describe("words nothing reads in a heap's mode (a stray-write fuzz of 2026-12-07: they passed check())", () => {
  it("the first raw chunk's footer word (no chunk is before it): check() names it, in every mode; it stays 0 in a heap at work", () => {
    for (const opts of [{}, { allocator: "malloc" }, { allocator: "debug" }, { threads: true }, { heapBase: 4096, alignment: 16 }] as const) {
      const h = createHeap(opts);
      const start = h.rawAllocator.start;
      // A heap at work (raw blocks at the start taken, freed, merged into the top): the word stays 0.
      const ps = Array.from({ length: 300 }, (_, i) => [h.raw, h.mem, h.obj][i % 3].malloc(1 + ((i * 97) % 3000)));
      for (let i = 0; i < ps.length; i += 2) [h.raw, h.mem, h.obj][i % 3].free(ps[i]);
      h.check();
      for (let i = 1; i < ps.length; i += 2) [h.raw, h.mem, h.obj][i % 3].free(ps[i]);
      h.collect();
      h.check();
      expect(h.u32[start >>> 2], JSON.stringify(opts)).toBe(0);
      h.u8[start + 1] = 7;
      const e = corruption(() => h.check());
      expect(e.message, JSON.stringify(opts)).toContain("(Chunk.PREV_SIZE)");
      expect(e.message).toMatch(/the first chunk's footer word holds 0x00000700/);
      expect(e.address).toBe(start);
    }
  });

  it("FREEPOOLS of a full arena (nothing takes a pool from it): check() names the word at its address (it blamed the NEXT word of the pool it named, or NFREEPOOLS); an NFREEPOOLS zeroed on a usable arena is still NFREEPOOLS", () => {
    for (const subPools of [true, false]) {
      const h = createHeap({ subPools });
      const ps = Array.from({ length: 2000 }, () => h.obj.malloc(512));
      const arenaOf = (p: number): number => h.u32[((p & ~16383) + constants.Pool.ARENA) >>> 2];
      const full = [...new Set(ps.map(arenaOf))].filter((a) => h.u32[(a + constants.Arena.NFREEPOOLS) >>> 2] === 0);
      expect(full.length).toBeGreaterThan(1);
      h.check();
      const [a, b] = full;
      const word = (a + constants.Arena.FREEPOOLS) >>> 2;
      // A pool in use of this arena, one of another, a pool's interior, garbage.
      const inUse = h.u32[(a + constants.Arena.FIRST) >>> 2];
      for (const v of [inUse, h.u32[(b + constants.Arena.FIRST) >>> 2], inUse + 48, 0x12345678, 1]) {
        h.u32[word] = v;
        const e = corruption(() => h.check());
        expect(e.message, `subPools ${subPools}, ${hex(v)}`).toContain("(Arena.FREEPOOLS)");
        expect(e.address).toBe(a + constants.Arena.FREEPOOLS);
        h.u32[word] = 0;
      }
      h.check();
      // A usable arena's count zeroed: the count is named, not its (good) list.
      for (let i = 0; i < 40; i += 1) h.obj.free(ps[i]);
      const usable = h.u32[(h.heapBase >>> 2) + H.USABLE_ARENAS];
      const nfWord = (usable + constants.Arena.NFREEPOOLS) >>> 2;
      expect(h.u32[nfWord]).toBeGreaterThan(0);
      expect(h.u32[(usable + constants.Arena.FREEPOOLS) >>> 2]).not.toBe(0);
      const nf = h.u32[nfWord];
      h.u32[nfWord] = 0;
      expect(corruption(() => h.check()).message).toContain("(Arena.NFREEPOOLS)");
      h.u32[nfWord] = nf;
      h.check();
    }
  });

  it("a debug allocation counter in a release heap and a lock holder in a heap without threads: check() and attachHeap name the word", () => {
    for (const [allocator, word, name] of [
      ["pymalloc", H.SERIAL, "H.SERIAL"],
      ["malloc", H.SERIAL, "H.SERIAL"],
      ["pymalloc", H.LOCK_OWNER, "H.LOCK_OWNER"],
      ["debug", H.LOCK_OWNER, "H.LOCK_OWNER"],
    ] as const) {
      const h = createHeap({ allocator });
      h.obj.free(h.obj.malloc(24));
      h.check();
      h.u32[(h.heapBase >>> 2) + word] = 7;
      const e = corruption(() => h.check());
      expect(e.message, `${allocator} ${name}`).toContain(`(${name})`);
      expect(e.address).toBe(h.heapBase + word * 4);
      expect(corruption(() => attachHeap(copyOf(h), { restored: true })).message).toContain(`(${name})`);
    }
    // Where the mode writes them, they are the heap's: a debug heap counts, a threads heap's lock holds.
    const d = createHeap({ allocator: "debug" });
    for (let i = 0; i < 50; i++) d.obj.free(d.obj.malloc(8));
    d.check();
    const t = createHeap({ threads: true });
    t.obj.free(t.obj.malloc(8));
    t.check();
    expect(t.u32[(t.heapBase >>> 2) + H.LOCK_OWNER]).not.toBe(0);
  });
});
