// Workers that end in the middle of a call (worker.terminate()), a heap made over another
// thread's, typed views handed between Workers, and long work under the lock. Runs against the
// built package (dist/), which `npm test` builds first.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { attachHeap, createHeap, HeapCorruptionError, PymallocError, type Heap } from "../dist/index.js";
import { Chunk, H, sizeOf } from "../src/constants.js";
import { thrownBy } from "./helpers.js";

const WORKER = join(import.meta.dirname, "workers", "terminated.mjs");

function start(heap: Heap, extra: Record<string, unknown> = {}): Promise<{ w: Worker; msg: { id: number; v?: Float64Array } }> {
  const w = new Worker(WORKER, { workerData: { memory: heap.memory.source, ...extra } });
  return new Promise((resolve, reject) => {
    w.once("message", (msg) => resolve({ w, msg }));
    w.once("error", reject);
  });
}

const words = (heap: Heap): Int32Array => new Int32Array(heap.memory.views.u32.buffer);


/** An injected death: a thread that stops where terminate() lands, at a call's entry or return. */
class Death extends Error {}
type Fn = (this: unknown, ...a: number[]) => unknown;
const atEntry = (): Fn => () => {
  throw new Death();
};
const atReturn = (orig: Fn): Fn =>
  function (this: unknown, ...a: number[]) {
    orig.apply(this, a);
    throw new Death();
  };

/** The heap goes on: n blocks of every family (raw ones of 700 + (i * step) % span bytes), contents kept, all freed, check() whole. */
function goesOn(heap: Heap, n = 300, step = 977, span = 60_000): void {
  const ps: [number, number, number][] = [];
  for (let i = 0; i < n; i++) {
    const f = i % 3;
    const size = f === 2 ? 700 + ((i * step) % span) : 1 + ((i * 97) % 512);
    const p = [heap.obj, heap.mem, heap.raw][f].malloc(size);
    expect(p).not.toBe(0);
    heap.u8.fill(i & 255, p, p + size);
    ps.push([p, f, size]);
  }
  ps.forEach(([p, , size], i) => expect(heap.u8.subarray(p, p + size).every((b) => b === (i & 255))).toBe(true));
  for (const [p, f] of ps) [heap.obj, heap.mem, heap.raw][f].free(p);
  heap.check();
}

describe("a Worker terminated in a call: adoptThread takes over what it left", () => {
  it("lock held or not, pools half edited or not: adoptThread leaves a whole heap at once, or says the dead thread damaged it", async () => {
    let heldByDead = 0;
    let damaged = 0;
    for (let round = 0; round < 30; round++) {
      const heap = createHeap({ threads: true, initialBytes: 1 << 16, allocator: round % 6 === 5 ? "debug" : "pymalloc" });
      const { w, msg } = await start(heap);
      await new Promise((r) => setTimeout(r, 15 + ((round * 37) % 60)));
      await w.terminate();
      const held = Atomics.load(words(heap), H.LOCK) !== 0;
      if (held) heldByDead++;
      const t0 = Date.now();
      try {
        heap.adoptThread(msg.id); // took over the lock when the Worker died holding it
      } catch (e) {
        // Its own pools are put right; what it left half done under the lock (a raw chunk split,
        // a list edit) is reported, typed, naming the dead holder. Not a 10 s wait.
        expect(held).toBe(true);
        expect(e).toBeInstanceOf(HeapCorruptionError);
        expect((e as Error).message).toMatch(new RegExp(`thread ${msg.id} died holding the heap's lock`));
        expect(Date.now() - t0).toBeLessThan(2000);
        damaged++;
        continue;
      }
      expect(Date.now() - t0).toBeLessThan(2000); // not the 10 s wait for a dead holder
      heap.check();
      // The heap goes on: blocks of every family, contents kept, nothing left behind.
      goesOn(heap, 2000, 1, 5000);
      // The dead thread's slot is free again: a new Worker takes it and works.
      const next = await start(heap);
      expect(next.msg.id).toBe(msg.id);
      await next.w.terminate();
      try {
        heap.adoptThread(next.msg.id);
        heap.check();
      } catch (e) {
        expect(e).toBeInstanceOf(HeapCorruptionError);
        expect((e as Error).message).toMatch(/died holding the heap's lock/);
      }
    }
    // The rounds put the terminate() inside the lock's critical sections often enough to matter,
    // and most of those heaps come back whole (relist(), recount(); 98 of 100 terminations of
    // such a loop, 2026-12-06; the rest: a chunk split or a pool taken half done, reported above;
    // then, with the raw top's moves, aligned splits, arenas and sub-pool cuts mended, 0 of 720,
    // 513 of them with the lock held: the states are the deaths injected below).
    expect(heldByDead).toBeGreaterThan(0);
    expect(damaged).toBeLessThan(heldByDead);
  }, 240_000);

  it("a lock stuck with a dead holder names the thread to adopt", async () => {
    const heap = createHeap({ threads: true });
    const i32 = words(heap);
    // As a thread that died holding it leaves it: held, its owner word naming thread 3.
    Atomics.store(i32, H.LOCK, 1);
    Atomics.store(i32, H.LOCK_OWNER, 4);
    let err: unknown;
    try {
      heap.check();
    } catch (e) {
      err = e;
    }
    Atomics.store(i32, H.LOCK, 0);
    expect(err).toBeInstanceOf(HeapCorruptionError);
    expect((err as Error).message).toMatch(/its holder is thread 3: .*heap\.adoptThread\(3\) takes the lock over/);
  }, 20_000);
});

describe("createHeap over a memory whose heap a thread still uses", () => {
  it("is refused, naming attachHeap, while another Worker holds a slot; this thread may make one anew over its own", async () => {
    let heap = createHeap({ threads: true });
    heap = createHeap({ threads: true, memory: heap.memory.source }); // its own: allowed (the benchmarks reuse a memory so)
    const { w, msg } = await start(heap, { view: 4 });
    expect(msg.id).toBe(1);
    // Thread 1 (the Worker) holds its slot.
    expect(() => createHeap({ threads: true, memory: heap.memory.source })).toThrow(PymallocError);
    expect(() => createHeap({ threads: true, memory: heap.memory.source })).toThrow(/already holds a heap with threads at 0x00000000, in use by thread 1 \(a handle in another thread\).*attachHeap\(memory\)/);
    await w.terminate();
    heap.adoptThread(1);
    expect(createHeap({ threads: true, memory: heap.memory.source }).stats().blocksInUse).toBe(0);
  }, 30_000);
});

describe("typed views posted between Workers", () => {
  for (const kind of ["growable-shared", "wasm-shared"] as const) {
    it(`freeAs and reallocAs take a view another Worker made (${kind})`, async () => {
      const memory = kind === "wasm-shared" ? new WebAssembly.Memory({ shared: true, initial: 2, maximum: 4096 }) : undefined;
      const heap = createHeap({ threads: true, initialBytes: 1 << 17, ...(memory ? { memory } : {}) });
      const { w, msg } = await start(heap, { view: 1 << 19 }); // 4 MiB: the Worker grows the memory
      const v = msg.v!;
      expect(v.buffer).not.toBe(heap.memory.buffer);
      expect(v[v.length - 1]).toBe(2.5);
      const q = heap.mem.reallocAs(v, 8);
      expect(q[7]).toBe(2.5);
      heap.mem.freeAs(q);
      // Another shared buffer's view is still refused as another buffer's where its shape differs
      // (a shared WebAssembly.Memory's earlier buffers are shorter: there the address is checked).
      const other = new Float64Array(new SharedArrayBuffer(64));
      if (kind === "growable-shared") expect(() => heap.mem.freeAs(other)).toThrow(/another buffer/);
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
      await w.terminate();
    }, 30_000);
  }
});

describe("long work under the lock", () => {
  it("a raw realloc that moves a large block beats the lock's heartbeat as it copies", () => {
    const heap = createHeap({ threads: true });
    const n = 40 << 20;
    const p = heap.raw.malloc(n);
    heap.u8.fill(7, p, p + n);
    const pin = heap.raw.malloc(64); // the block cannot grow in place
    const beat = Atomics.load(words(heap), H.LOCK_BEAT);
    const q = heap.raw.realloc(p, n + (8 << 20));
    expect(q).not.toBe(p);
    expect(Atomics.load(words(heap), H.LOCK_BEAT) - beat).toBeGreaterThanOrEqual(2); // 40 MiB in 16 MiB steps
    expect(heap.u8[q] === 7 && heap.u8[q + n - 1] === 7).toBe(true);
    heap.raw.free(q);
    heap.raw.free(pin);
    heap.check();
  });
});

describe("adoptThread waits for the thread to stop", () => {
  it("a thread still allocating is not adopted until its pools stop changing (a browser's terminate() lets a busy Worker run on)", async () => {
    for (const allocator of ["pymalloc", "debug"] as const) {
      const heap = createHeap({ threads: true, allocator });
      const { w, msg } = await start(heap, { stopAfterMs: 400 }); // allocates for 400 ms, then stops without detaching
      const t0 = Date.now();
      heap.adoptThread(msg.id); // waits for the pools to stop changing
      expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
      heap.check();
      for (let i = 0; i < 3000; i++) heap.obj.free(heap.obj.malloc(8 + (i % 500)));
      heap.check();
      await w.terminate();
    }
  }, 30_000);

  it("debug sites with threads start at the user's function, not the locked family", () => {
    const heap = createHeap({ allocator: "debug", threads: true });
    function makeParticle(): number {
      return heap.obj.malloc(10);
    }
    makeParticle();
    const site = heap.leaks().bySite[0].site;
    expect(site).toMatch(/^at makeParticle/);
    expect(site).not.toMatch(/LockedFamily|threads[\\/]locked/);
  });
});

describe("a saved copy of a threads heap, attached with restored: true", () => {
  it("frees the saving threads' slots and a lock the copy was taken under; without it the copy's lock is a dead holder's", () => {
    const heap = createHeap({ threads: true, maxThreads: 4, maxBytes: 64 << 20 });
    const h2 = attachHeap(heap.memory.source); // a second thread slot, live in the copy
    const ps = [heap.obj.malloc(40), h2.mem.malloc(300), h2.raw.malloc(5000)];
    heap.u8.fill(9, ps[1], ps[1] + 300);
    const save = (lockHeld: boolean): SharedArrayBuffer => {
      const len = heap.memory.buffer.byteLength;
      const copy = new SharedArrayBuffer(len, { maxByteLength: 64 << 20 });
      new Uint8Array(copy).set(new Uint8Array(heap.memory.buffer, 0, len));
      if (lockHeld) new Int32Array(copy)[H.LOCK] = 1; // copied while a thread held the lock
      return copy;
    };
    const r = attachHeap(save(true), { restored: true });
    expect(r.threadId).toBe(2);
    r.check();
    expect(r.u8[ps[1] + 299]).toBe(9);
    for (const p of ps) r.mem.free(p); // the saving threads' blocks, theirs no more
    for (let i = 0; i < 3; i++) expect(attachHeap(r.memory.source).threadId).toBeLessThan(4); // the three other slots free again
    r.check();
    expect(() => attachHeap(save(true))).toThrow(HeapCorruptionError); // held for good without restored
    expect(() => attachHeap(save(false), { restored: "yes" as unknown as boolean })).toThrow(TypeError);
  }, 30_000);
});

describe("relist() after a thread died in the raw allocator (a user's probe of 2026-12-06, session 43)", () => {
  it("an in-use chunk whose footer its header's edit left behind is put right from the header (check() failed after adoptThread for good)", () => {
    const heap = createHeap({ threads: true });
    const ps = Array.from({ length: 20 }, (_, i) => heap.raw.malloc(700 + i * 64));
    heap.raw.free(ps[5]);
    heap.raw.free(ps[11]);
    heap.check();
    const c = ps[8] - Chunk.HEADER;
    const size = sizeOf(heap.u32[(c + 4) >>> 2]);
    heap.u32[(c + size) >>> 2] = 12345; // the footer a dead thread did not get to write
    expect(() => heap.check()).toThrow(HeapCorruptionError);
    heap.rawAllocator.relist();
    heap.check();
    for (const p of ps) if (p !== ps[5] && p !== ps[11]) heap.raw.free(p);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });
});

describe("recount() after a thread died taking a pool (a user's probe of 2026-12-06, session 43)", () => {
  it("a pool taken off its arena but never started (no class, no list) becomes an empty pool the orphan slot holds (check() failed for good: 'size class 4294967295')", () => {
    const heap = createHeap({ threads: true });
    const keep = Array.from({ length: 100 }, () => heap.obj.malloc(40));
    // What a thread that died inside poolFromArena leaves: a slot taken from an arena, not started.
    const o = heap.objectAllocator as unknown as { takeSlot(idx: number): number; recount(): void };
    const pool = o.takeSlot(0xffffffff);
    expect(pool).not.toBe(0);
    expect(() => heap.check()).toThrow(/size class 4294967295/);
    o.recount();
    heap.check();
    // The heap goes on, and every block comes back.
    const more = Array.from({ length: 5000 }, (_, i) => heap.obj.malloc(8 + (i % 200)));
    expect(more.every((p) => p !== 0)).toBe(true);
    for (const p of [...keep, ...more]) heap.obj.free(p);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });
});

describe("a thread that died in the raw allocator's top or in a split: adoptThread completes or rolls back what it left (deaths injected where terminate() lands: a call's entry or return)", () => {
  /**
   * h2 (a second handle of this thread, as a Worker's would be) dies in op where its raw
   * allocator's `method`, replaced by how(the method), throws; the lock stays held (a dead thread
   * releases nothing), naming h2. Then this thread adopts it.
   */
  function dieIn(heap: Heap, h2: Heap, method: string, how: (orig: Fn) => Fn, op: () => unknown): void {
    const raw = h2.rawAllocator as unknown as Record<string, Fn>;
    raw[method] = how(raw[method]);
    (h2 as unknown as { lock: { release(): void } }).lock.release = () => {};
    expect(op).toThrow(Death);
    expect(Atomics.load(words(heap), (heap.heapBase >>> 2) + H.LOCK)).not.toBe(0);
    heap.adoptThread(h2.threadId);
    heap.check();
  }
  // moveTop's first store, then its call of topMark(): H.TOP moved, its mark not yet written.
  const atTopMark = (): Fn =>
    function (this: unknown, _old: number, top: number) {
      const r = this as { u32: Uint32Array; wTop: number };
      r.u32[r.wTop] = top;
      throw new Death();
    };
  const filled = (heap: Heap, p: number, n: number, v: number): boolean => heap.u8.subarray(p, p + n).every((b) => b === v);

  it("a chunk carved from the top, dead at moveTop's entry (its header over the top's mark, H.TOP unmoved): rolled back (adoptThread reported 'top ... is no top', as a probe's terminate() did)", () => {
    const heap = createHeap({ threads: true });
    const h2 = attachHeap(heap.memory.source);
    const keep = heap.raw.malloc(3000);
    heap.u8.fill(5, keep, keep + 3000);
    const top = heap.rawAllocator.top;
    dieIn(heap, h2, "moveTop", atEntry, () => h2.raw.malloc(100_000));
    expect(heap.rawAllocator.top).toBe(top);
    expect(filled(heap, keep, 3000, 5)).toBe(true);
    goesOn(heap);
  });

  it("a chunk carved from the top, dead at topMark() inside moveTop (H.TOP moved, no mark there): completed", () => {
    const heap = createHeap({ threads: true });
    const h2 = attachHeap(heap.memory.source);
    const top = heap.rawAllocator.top;
    dieIn(heap, h2, "moveTop", atTopMark, () => h2.raw.malloc(100_000));
    expect(heap.rawAllocator.top).toBeGreaterThan(top + 100_000);
    goesOn(heap);
  });

  it("a chunk carved from the top, dead at moveTop's return (H.PEAK_TOP not raised yet): completed", () => {
    const heap = createHeap({ threads: true });
    const h2 = attachHeap(heap.memory.source);
    dieIn(heap, h2, "moveTop", atReturn, () => h2.raw.malloc(100_000));
    expect(heap.memory.views.u32[H.PEAK_TOP]).toBe(heap.rawAllocator.top);
    goesOn(heap);
  });

  it("the top coming down (a free of the last chunk), dead at topMark(): completed, the old mark cleared", () => {
    const heap = createHeap({ threads: true });
    const h2 = attachHeap(heap.memory.source);
    const keep = heap.raw.malloc(3000);
    const p = h2.raw.malloc(100_000);
    const old = heap.rawAllocator.top;
    dieIn(heap, h2, "moveTop", atTopMark, () => h2.raw.free(p));
    expect(heap.rawAllocator.top).toBe(p - Chunk.HEADER);
    expect(heap.memory.views.u32[(old + Chunk.SIZE) >>> 2]).toBe(0);
    heap.raw.free(keep);
    goesOn(heap);
  });

  it("a fence over pages a module grew, dead in its moveTop (at its entry: rolled back; at topMark(): completed, with H.END and H.FENCED as extend() and fence() would leave them)", () => {
    for (const how of [atEntry, atTopMark]) {
      const memory = new WebAssembly.Memory({ initial: 4, maximum: 1024, shared: true });
      const heap = createHeap({ memory, heapBase: 1024, threads: true, initialBytes: 4 * 65536 });
      const h2 = attachHeap(heap.memory.source, { heapBase: 1024 });
      const keep = heap.raw.malloc(3000);
      heap.u8.fill(5, keep, keep + 3000);
      memory.grow(1); // a module's page, past the heap's end
      const raw = h2.rawAllocator as unknown as Record<string, Fn>;
      let fenced = false;
      const fence = raw.fence;
      raw.fence = function (this: unknown, ...a: number[]) {
        fenced = true;
        return fence.apply(this, a);
      };
      dieIn(heap, h2, "moveTop", how, () => h2.raw.malloc(300_000));
      expect(fenced).toBe(true);
      if (how === atEntry) expect(heap.stats().fencedBytes).toBe(0);
      else expect(heap.stats().fencedBytes).toBeGreaterThan(65536);
      expect(filled(heap, keep, 3000, 5)).toBe(true);
      goesOn(heap);
      expect(heap.raw.malloc(600_000)).not.toBe(0); // past the module's page, fenced now either way
      heap.check();
      expect(heap.stats().fencedBytes).toBeGreaterThan(0);
    }
  });

  it("a realloc growing a block in place at the top, dead at moveTop's entry (its header already past the top): cut back, the block as it was", () => {
    const heap = createHeap({ threads: true });
    const h2 = attachHeap(heap.memory.source);
    const p = h2.raw.malloc(5000);
    heap.u8.fill(3, p, p + 5000);
    const usable = heap.usableSize(p);
    dieIn(heap, h2, "moveTop", atEntry, () => h2.raw.realloc(p, 50_000));
    expect(heap.usableSize(p)).toBe(usable);
    expect(filled(heap, p, 5000, 3)).toBe(true);
    heap.raw.free(p); // the dead thread's block, freed by another thread
    goesOn(heap);
  });

  /** A free chunk [c, n) between a block and y, this thread's, that an aligned chunk with a lead-in is split from. */
  function holeBeforeLive(heap: Heap): { c: number; y: number; ny: number } {
    heap.raw.malloc(5000);
    const big = heap.raw.malloc(200_000);
    const bigChunk = heap.usableSize(big) + Chunk.OVERHEAD;
    heap.raw.malloc(5000);
    heap.raw.free(big);
    const c = big - Chunk.HEADER;
    const x = heap.raw.malloc(100_000 - Chunk.OVERHEAD);
    const ny = bigChunk - 100_000 - Chunk.OVERHEAD;
    const y = heap.raw.malloc(ny);
    expect([x, y]).toEqual([big, big + 100_000]);
    heap.u8.fill(7, y, y + ny);
    heap.raw.free(x);
    heap.check();
    return { c, y, ny };
  }

  it("an aligned chunk split from a free chunk, dead after its lead-in, before shrinkTo: the split rolled back (adoptThread reported 'its size does not lead to the next chunk')", () => {
    const heap = createHeap({ threads: true });
    const h2 = attachHeap(heap.memory.source);
    const { c, y, ny } = holeBeforeLive(heap);
    const before = heap.stats().raw;
    dieIn(heap, h2, "shrinkTo", atEntry, () => h2.raw.alignedAlloc(1 << 16, 100));
    const after = heap.stats().raw;
    expect([after.freeBlocks, after.freeBytes, after.largestFree]).toEqual([before.freeBlocks, before.freeBytes, before.largestFree]);
    expect(filled(heap, y, ny, 7)).toBe(true);
    const p = heap.raw.alignedAlloc(1 << 16, 100); // the same split, whole this time
    expect(p - Chunk.HEADER).toBeGreaterThan(c);
    expect(p).toBeLessThan(y);
    heap.raw.free(p);
    heap.raw.free(y);
    goesOn(heap);
  });

  it("the same, with stale headers at the split point (an earlier chunk there) whose span runs over a live block: that block is not lost (adoptThread and check() passed, then the block was handed out again, a later typed error)", () => {
    for (const stale of ["in use", "free"]) {
      const heap = createHeap({ threads: true });
      const h2 = attachHeap(heap.memory.source);
      const ALIGN = 1 << 16;
      heap.raw.malloc(5000);
      const big = heap.raw.malloc(200_000);
      const guard = heap.raw.malloc(5000);
      const c = big - Chunk.HEADER;
      const n2 = guard - Chunk.HEADER;
      heap.raw.free(big);
      // Where an aligned chunk split from c starts (a); then a chunk from a to n2, freed: its
      // header stays at a + 4 inside the free chunk (in use, or free: a remainder merged).
      let q = heap.raw.alignedAlloc(ALIGN, 100);
      const a = q - Chunk.HEADER;
      heap.raw.free(q);
      heap.rawAllocator.flushCache();
      const x0 = heap.raw.malloc(a - c - Chunk.HEADER);
      expect(x0).toBe(big);
      if (stale === "in use") {
        q = heap.raw.malloc(n2 - a - Chunk.HEADER);
        expect(q).toBe(a + Chunk.HEADER);
        heap.raw.free(x0);
        heap.raw.free(q);
      } else heap.raw.free(x0);
      heap.rawAllocator.flushCache();
      // x then y, this thread's, from [c, n2); x freed: the free chunk [c, y) is the hole.
      const x = heap.raw.malloc(ALIGN + 32 + 8192 - Chunk.HEADER);
      const ny = n2 - (x + ALIGN + 32 + 8192 - Chunk.HEADER) - Chunk.HEADER;
      const y = heap.raw.malloc(ny);
      expect([x, y - Chunk.HEADER]).toEqual([big, c + ALIGN + 32 + 8192]);
      heap.u8.fill(7, y, y + ny);
      heap.raw.free(x);
      heap.check();
      dieIn(heap, h2, "shrinkTo", atEntry, () => h2.raw.alignedAlloc(ALIGN, 100));
      expect(heap.usableSize(y)).toBe(ny);
      const ps = Array.from({ length: 40 }, (_, i) => {
        const p = heap.raw.malloc(5000 + i * 997);
        heap.u8.fill(1, p, p + 5000 + i * 997);
        return p;
      });
      expect(filled(heap, y, ny, 7)).toBe(true);
      for (const p of ps) heap.raw.free(p);
      heap.raw.free(y);
      goesOn(heap);
    }
  });

  // A malloc from the lists splits its free chunk in splitFree (session 47; it went through
  // shrinkTo and releaseChunk): the remainder's header is written free before insertChunk lists it.
  it("a split's remainder, dead at insertChunk's entry: a free chunk relist() lists, not an in-use chunk nobody holds", () => {
    const heap = createHeap({ threads: true });
    const h2 = attachHeap(heap.memory.source);
    const { y } = holeBeforeLive(heap);
    const before = heap.stats().raw;
    dieIn(heap, h2, "insertChunk", atEntry, () => h2.raw.malloc(20_000 - Chunk.OVERHEAD)); // a chunk of 20,000 bytes
    const after = heap.stats().raw;
    expect(after.blocks).toBe(before.blocks + 1); // the dead thread's block, no other
    expect(after.freeBytes).toBe(before.freeBytes - 20_000);
    heap.raw.free(y);
    goesOn(heap);
  });
});

describe("a thread that died making an arena or cutting a pool slot into sub-pools: adoptThread gives them back (deaths injected where terminate() lands)", () => {
  /** h2's first small block, from an arena it makes: it dies where `of`'s `method` throws; then adopted. */
  function dieIn(of: "objectAllocator" | "rawAllocator", method: string, how: (orig: Fn) => Fn): Heap {
    const heap = createHeap({ threads: true });
    const h2 = attachHeap(heap.memory.source);
    const o = h2[of] as unknown as Record<string, Fn>;
    o[method] = how(o[method]);
    (h2 as unknown as { lock: { release(): void } }).lock.release = () => {};
    expect(() => h2.obj.malloc(40)).toThrow(Death);
    heap.adoptThread(h2.threadId);
    heap.check();
    // The heap goes on: small blocks of every class, contents kept.
    const ps = Array.from({ length: 3000 }, (_, i) => {
      const p = heap.obj.malloc(1 + (i % 512));
      heap.u8.fill(i & 255, p, p + 1 + (i % 512));
      return p;
    });
    ps.forEach((p, i) => expect(heap.u8[p + (i % 512)]).toBe(i & 255));
    for (const p of ps) heap.obj.free(p);
    heap.collect();
    heap.check();
    return heap;
  }

  it("dead at mallocArena's return, before newArena wrote the arena's header ('arena header magic is wrong'): its chunk released", () => {
    dieIn("rawAllocator", "mallocArena", atReturn);
  });

  it("dead blanking its pools (blankPool's entry: 'pool's arena link is wrong'), or at markMap (the map, the counters), or at newArena's return (on no usable_arenas list): released", () => {
    dieIn("objectAllocator", "blankPool", atEntry);
    dieIn("objectAllocator", "markMap", atEntry);
    dieIn("objectAllocator", "markMap", atReturn);
    dieIn("objectAllocator", "newArena", atReturn);
  });

  it("dead cutting a slot into sub-pools (at its first linkFreeSub: 'sub-pool's arena link is wrong'; at startPool, counted but not started): the slot back to its arena", () => {
    dieIn("objectAllocator", "linkFreeSub", atEntry);
    dieIn("objectAllocator", "startPool", atEntry);
  });

  it("dead giving an arena back (releaseArena: off usable_arenas, at markMap clearing its bits, or at the raw free): released", () => {
    for (const [method, how] of [["markMap", atEntry], ["freeArena", atEntry]] as const) {
      const heap = createHeap({ threads: true });
      const h2 = attachHeap(heap.memory.source);
      heap.obj.malloc(40); // this thread's arena, so that h2's are not the only ones
      const ps = Array.from({ length: 3000 }, (_, i) => h2.obj.malloc(8 + (i % 500)));
      for (const p of ps) h2.obj.free(p);
      const o = (method === "freeArena" ? h2.rawAllocator : h2.objectAllocator) as unknown as Record<string, Fn>;
      o[method] = how();
      (h2 as unknown as { lock: { release(): void } }).lock.release = () => {};
      expect(() => h2.collect()).toThrow(Death);
      heap.adoptThread(h2.threadId);
      heap.check();
      const qs = Array.from({ length: 3000 }, (_, i) => heap.obj.malloc(8 + (i % 500)));
      for (const p of qs) heap.obj.free(p);
      heap.collect();
      heap.check();
    }
  });

  it("dead giving a slot's last sub-pool back (freeSubPool, unlinking the others): the slot back to its arena", () => {
    const heap = createHeap({ threads: true });
    const h2 = attachHeap(heap.memory.source);
    h2.obj.free(h2.obj.malloc(40)); // a slot cut, its sub-pool kept as its class's spare
    const o = h2.objectAllocator as unknown as Record<string, Fn>;
    o.unlinkFreeSub = atEntry();
    (h2 as unknown as { lock: { release(): void } }).lock.release = () => {};
    expect(() => h2.collect()).toThrow(Death); // the spare goes back: its slot's last sub-pool
    heap.adoptThread(h2.threadId);
    heap.check();
    const ps = Array.from({ length: 2000 }, (_, i) => heap.obj.malloc(1 + (i % 512)));
    for (const p of ps) heap.obj.free(p);
    heap.collect();
    heap.check();
  });
});

describe("a thread that died moving an arena on usable_arenas, or between a debug block's taking and its header (deaths injected where terminate() lands)", () => {
  /** h2's lock, as a dead thread leaves it: held from the death on (released normally before). */
  function dieHolding(h2: Heap): { dead(): void } {
    const lock = (h2 as unknown as { lock: { release(): void } }).lock;
    const release = lock.release;
    let dead = false;
    lock.release = function (this: unknown) {
      if (!dead) release.call(this);
    };
    return { dead: () => (dead = true) };
  }

  /**
   * h2's small blocks of `size` spread over several arenas, then freed in a scattered order: an
   * emptied pool goes back to its arena (returnPool), which moves on usable_arenas. h2 dies at
   * the first move's linkArenaAfter() entry: after unlinkArena() ("moved": the arena had free
   * pools) or with no unlink before it (the arena was full: its free pool on its list, its
   * NFREEPOOLS not yet 1).
   */
  function dieMovingArena(moved: boolean, size: number): void {
    const heap = createHeap({ threads: true });
    const h2 = attachHeap(heap.memory.source);
    heap.obj.malloc(40); // this thread's arena, so that h2's are not the only ones
    const ps = Array.from({ length: 6000 }, () => h2.obj.malloc(size));
    const o = h2.objectAllocator as unknown as Record<string, Fn>;
    const unlink = o.unlinkArena;
    const link = o.linkArenaAfter;
    const lock = dieHolding(h2);
    let armed = false;
    let unlinked = false;
    o.unlinkArena = function (this: unknown, ...a: number[]) {
      unlinked = armed;
      return unlink.apply(this, a);
    };
    o.linkArenaAfter = function (this: unknown, ...a: number[]) {
      if (armed && unlinked === moved) {
        lock.dead();
        throw new Death();
      }
      unlinked = false;
      return link.apply(this, a);
    };
    expect(() => {
      for (let i = 0; i < ps.length; i++) {
        armed = i > 100;
        unlinked = false;
        h2.obj.free(ps[(i * 7919) % ps.length]);
      }
    }).toThrow(Death);
    // adoptThread threw, for good: 'left the heap damaged: 14 arenas have free pools but
    // usable_arenas lists 13' (moved), 'arena says 0 free pools, finds 1 empty + 0 never used'.
    heap.adoptThread(h2.threadId);
    heap.check();
    // The arena's free pools are taken again, and every block comes back.
    const qs = Array.from({ length: 20_000 }, (_, i) => heap.obj.malloc(8 + (i % 500)));
    expect(qs.every((p) => p !== 0)).toBe(true);
    for (const p of qs) heap.obj.free(p);
    heap.collect();
    heap.check();
  }

  it("dead between returnPool's unlinkArena() and linkArenaAfter() (an arena with free pools moved to keep the order): the arena, on no list, back on usable_arenas in order", () => {
    dieMovingArena(true, 500);
    dieMovingArena(true, 300);
  });

  it("dead at returnPool's linkArenaAfter() entry for an arena that was full (its free pool listed, NFREEPOOLS still 0): counted and listed", () => {
    dieMovingArena(false, 500);
    dieMovingArena(false, 300);
  });

  it("debug: dead after the block below was taken, before alloc() wrote its header, the bytes there a former block's 0xDD fill (its 'family byte' reads freed but is none of the three): released, the ring counting what it holds", () => {
    for (const allocator of ["debug", "pymalloc_debug"] as const) {
      const heap = createHeap({ threads: true, allocator, quarantineBlocks: 8 });
      const h2 = attachHeap(heap.memory.source);
      // Blocks freed through the quarantine, most evicted and released below: pools emptied
      // with their bytes 0xDD, given back to their arenas, then started for another size class.
      const ps = Array.from({ length: 3000 }, () => h2.obj.malloc(200));
      for (const p of ps) h2.obj.free(p);
      const o = h2.objectAllocator as unknown as Record<string, Fn>;
      const malloc = o.malloc;
      const lock = dieHolding(h2);
      const u8 = (): Uint8Array => heap.memory.views.u8;
      let stale = 0;
      o.malloc = function (this: unknown, ...a: number[]) {
        const base = malloc.apply(this, a) as number;
        const b = u8()[base + 16]; // Debug.FAMILY
        if ((b & 0x80) !== 0 && ![0x72, 0x6d, 0x6f].includes(b & 0x7f)) {
          stale = b;
          lock.dead();
          throw new Death();
        }
        return base;
      };
      expect(() => {
        for (let i = 0; i < 5000; i++) h2.obj.malloc(24 + (i % 7) * 8);
      }).toThrow(Death);
      expect(stale).toBe(0xdd);
      // adoptThread threw, for good: 'left the heap damaged: quarantine counts N blocks, N+1
      // blocks are marked freed' (mendQuarantine released the headless block through the raw
      // family, whose free() refused a pool's block).
      heap.adoptThread(h2.threadId);
      heap.check();
      const qs = Array.from({ length: 3000 }, (_, i) => heap.obj.malloc(1 + (i % 600)));
      expect(qs.every((p) => p !== 0)).toBe(true);
      for (const p of qs) heap.obj.free(p);
      heap.check();
    }
  });
});

describe("adoptThread beside a live Worker: a fault is looked at again as check() does with threads before it is blamed on the dead thread (a probe, session 44)", () => {
  it("damage that stays is still reported, naming the dead thread, after the looks (a live thread's half-made edit, waiting for the lock, passed for damage: 1-3 in 25 adoptions threw)", async () => {
    const heap = createHeap({ threads: true, subPools: false }); // whole pools: p's pool is its slot
    const { w } = await start(heap, { stopAfterMs: 30 }); // attached, then idle: another thread's slot is live
    try {
      const h2 = attachHeap(heap.memory.source);
      const p = heap.obj.malloc(64);
      heap.obj.malloc(64);
      heap.obj.free(p);
      const pool = p - (p % 16384);
      const o = h2.rawAllocator as unknown as Record<string, Fn>;
      o.moveTop = atEntry();
      (h2 as unknown as { lock: { release(): void } }).lock.release = () => {};
      expect(() => h2.raw.malloc(100_000)).toThrow(Death);
      heap.u32[(pool + 4) >>> 2] = p + 3; // damage the mends do not touch: a free-list head inside a block
      const t0 = Date.now();
      const e = thrownBy(() => heap.adoptThread(h2.threadId));
      expect(e).toBeInstanceOf(HeapCorruptionError);
      expect((e as Error).message).toMatch(new RegExp(`thread ${h2.threadId} died holding the heap's lock`));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(200); // looked at again over the settle time, the lock let go between
      heap.u32[(pool + 4) >>> 2] = p;
      heap.check();
    } finally {
      await w.terminate();
    }
  });
});
