// Lazy usedpools (HEAP_VERSION 10, issue #19): a thread slot keeps STATE, DELAYED and USED in the
// header (16 bytes); its usedpools array (544 bytes) is in the header for slot 0 and the orphan
// slot, and a raw chunk of the allocator's own for every other slot, taken when the slot is first
// claimed and kept for the next thread. A threads heap's header then grows by 16 bytes a slot
// (544 at HEAP_VERSION 9: 2.2 MB at maxThreads 4000); the chunks are allocator state (no user
// block in stats, leaks or walks; free() refuses them), and a damaged USED word is found by check()
// and by attachHeap's header validation.
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { attachHeap, createHeap, HeapCorruptionError, InvalidPointerError, PymallocError, heapSvg, type Heap } from "../dist/index.js";
import { H, Pool, Slot, SlotState, Used } from "../src/constants.js";
import { thrownBy } from "./helpers.js";

const headerBytes = (h: Heap): number => h.u32[(h.heapBase >>> 2) + H.HEADER_BYTES];
const slotAt = (h: Heap, k: number): number => h.heapBase + h.u32[(h.heapBase >>> 2) + H.THREAD_SLOTS] + k * Slot.BYTES;
const usedOf = (h: Heap, k: number): number => h.u32[(slotAt(h, k) + Slot.USED) >>> 2];

describe("lazy usedpools (thread slots)", () => {
  it("a threads heap's header grows by Slot.BYTES (16) a thread slot, not by a usedpools array (544)", () => {
    const small = createHeap({ threads: true, maxThreads: 4 });
    const big = createHeap({ threads: true, maxThreads: 4000, initialBytes: 1 << 20 });
    expect(headerBytes(big) - headerBytes(small)).toBe(3996 * Slot.BYTES);
    expect(Slot.BYTES).toBe(16);
    expect(headerBytes(big)).toBeLessThan(80 * 1024); // 2.2 MB at HEAP_VERSION 9
    // At the default 64 threads a new heap takes what one without threads takes, and the 64
    // slots' fixed parts and the orphans' array more (it took 34 KiB more at HEAP_VERSION 9).
    expect(createHeap({ threads: true }).stats().footprint - createHeap().stats().footprint).toBeLessThanOrEqual(64 * Slot.BYTES + Used.BYTES);
    // Slot 0 and the orphan slot have their arrays in the header; the others none yet.
    for (const h of [small, big]) {
      const max = h.u32[(h.heapBase >>> 2) + H.MAX_THREADS];
      expect(usedOf(h, 0)).toBeGreaterThan(h.heapBase);
      expect(usedOf(h, 0)).toBeLessThan(h.heapBase + headerBytes(h));
      expect(usedOf(h, max)).toBe(usedOf(h, 0) + Used.BYTES);
      for (let k = 1; k < max; k++) expect(usedOf(h, k)).toBe(0);
      // The guard words after each array: never a size class.
      for (const k of [0, max]) expect(h.u32[(usedOf(h, k) - Used.HEADS + Used.GUARD + 4) >>> 2]).toBe(Pool.SZIDX_NONE);
      h.check();
    }
    const plain = createHeap();
    expect(usedOf(plain, 0)).toBeLessThan(plain.heapBase + headerBytes(plain));
    plain.check();
  });

  it("a thread attaching for the first time gets its usedpools in a chunk of the allocator's own, kept for the next thread of its slot", () => {
    const h = createHeap({ threads: true, maxThreads: 8 });
    const before = h.stats();
    const b = attachHeap(h.memory.source);
    expect(b.threadId).toBe(1);
    const used = usedOf(h, 1);
    expect(used).toBeGreaterThanOrEqual(h.rawAllocator.start);
    expect(h.u32[(used - Used.HEADS + Used.SLOT) >>> 2]).toBe(1);
    // Every list empty: each sentinel points at itself.
    for (let i = 0; i < 64; i++) {
      const sp = used + 8 * i - Pool.NEXT;
      expect([h.u32[(sp + Pool.NEXT) >>> 2], h.u32[(sp + Pool.PREV) >>> 2]]).toEqual([sp, sp]);
    }
    // Allocator state: no raw block, no leak, free() refuses it.
    const s = h.stats();
    expect(s.raw.blocks).toBe(before.raw.blocks);
    expect(s.raw.freeBlocks).toBe(before.raw.freeBlocks);
    expect(h.leaks().totalBlocks).toBe(0);
    expect(() => h.mem.free(used - Used.HEADS)).toThrow(InvalidPointerError);
    expect(heapSvg(h)).toContain(`<title>usedpools chunk at ${used - Used.HEADS - 8},`);
    // The new thread allocates from its own pools; blocks cross threads.
    const mine = Array.from({ length: 2000 }, (_, i) => b.obj.malloc(8 + (i % 300)));
    expect(mine.every((p) => p !== 0)).toBe(true);
    expect(h.leaks().totalBlocks).toBe(2000);
    h.check();
    for (let i = 0; i < mine.length; i += 2) h.obj.free(mine[i]);
    for (let i = 1; i < mine.length; i += 2) b.obj.free(mine[i]);
    b.detachThread();
    h.collect();
    expect(h.leaks().totalBlocks).toBe(0);
    h.check();
    // The slot is free, its array kept; the next thread to attach gets both.
    expect(h.u32[(slotAt(h, 1) + Slot.STATE) >>> 2]).toBe(SlotState.FREE);
    expect(usedOf(h, 1)).toBe(used);
    const c = attachHeap(h.memory.source);
    expect(c.threadId).toBe(1);
    expect(usedOf(h, 1)).toBe(used);
    const d = attachHeap(h.memory.source);
    expect(d.threadId).toBe(2);
    expect(usedOf(h, 2)).not.toBe(0);
    const p = d.obj.malloc(100);
    c.obj.free(p);
    d.obj.free(d.obj.malloc(40));
    h.check();
  });

  it("a first claim when the memory is full: PymallocError, the slot free again, the heap intact; it succeeds once memory is freed", () => {
    const h = createHeap({ threads: true, maxThreads: 4, initialBytes: 1 << 16, maxBytes: 1 << 16 });
    const held: number[] = [];
    for (const n of [4096, 512, 16]) for (let p = h.raw.malloc(n); p !== 0; p = h.raw.malloc(n)) held.push(p);
    expect(h.raw.malloc(16)).toBe(0);
    const err = thrownBy(() => attachHeap(h.memory.source));
    expect(err).toBeInstanceOf(PymallocError);
    expect((err as Error).message).toMatch(/out of memory: thread slot 1 .* needs 528 bytes/);
    expect(h.u32[(slotAt(h, 1) + Slot.STATE) >>> 2]).toBe(SlotState.FREE);
    expect(usedOf(h, 1)).toBe(0);
    h.check();
    for (const p of held.splice(0, 4)) h.raw.free(p);
    const b = attachHeap(h.memory.source);
    expect(b.threadId).toBe(1);
    expect(usedOf(h, 1)).not.toBe(0);
    const q = b.obj.malloc(24);
    expect(q).not.toBe(0);
    b.obj.free(q);
    h.check();
  });

  it("a Worker attaching gets a working slot of its own", async () => {
    const h = createHeap({ threads: true, maxThreads: 4 });
    const url = new URL("../dist/index.js", import.meta.url).href;
    const code = `
      const { parentPort, workerData } = require("node:worker_threads");
      import(${JSON.stringify(url)}).then(({ attachHeap }) => {
        const w = attachHeap(workerData);
        const ps = [];
        for (let i = 0; i < 5000; i++) { const p = w.obj.malloc(1 + (i % 500)); w.u8[p] = i & 255; ps.push(p); }
        for (let i = 0; i < ps.length; i += 2) w.obj.free(ps[i]);
        w.check();
        parentPort.postMessage({ id: w.threadId, kept: ps.filter((_, i) => i % 2 === 1) });
        w.detachThread();
      });`;
    const r = await new Promise<{ id: number; kept: number[] }>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: h.memory.source });
      w.once("message", resolve);
      w.once("error", reject);
    });
    expect(r.id).toBe(1);
    expect(usedOf(h, 1)).not.toBe(0);
    expect(h.leaks().totalBlocks).toBe(r.kept.length);
    r.kept.forEach((p, j) => expect(h.u8[p]).toBe((2 * j + 1) & 255));
    for (const p of r.kept) h.obj.free(p);
    h.collect();
    expect(h.leaks().totalBlocks).toBe(0);
    h.check();
  });

  it("a heap made without threads: true in a shared memory, attached in a Worker: a warning there, once; none for this thread's own handles", async () => {
    const h = createHeap(); // a growable SharedArrayBuffer
    const seen: string[] = [];
    const warn = console.warn;
    console.warn = (...a: unknown[]) => void seen.push(a.join(" "));
    try {
      attachHeap(h.memory.source).check();
    } finally {
      console.warn = warn;
    }
    expect(seen).toEqual([]);
    const url = new URL("../dist/index.js", import.meta.url).href;
    const code = `
      const { parentPort, workerData } = require("node:worker_threads");
      const seen = [];
      console.warn = (...a) => seen.push(a.join(" "));
      import(${JSON.stringify(url)}).then(({ attachHeap }) => {
        attachHeap(workerData);
        attachHeap(workerData);
        parentPort.postMessage(seen);
      });`;
    const warned = await new Promise<string[]>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: h.memory.source });
      w.once("message", resolve);
      w.once("error", reject);
    });
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/made without threads: true in another thread; if both threads use it, they race/);
    h.check(); // the token is in a word check() leaves alone without threads
  });

  describe("a damaged USED word or usedpools array is found by check() and by attachHeap", () => {
    const damaged = (hurt: (h: Heap, used1: number) => void, field: RegExp) => () => {
      const h = createHeap({ threads: true, maxThreads: 8 });
      const b = attachHeap(h.memory.source);
      b.obj.free(b.obj.malloc(24));
      h.check();
      hurt(h, usedOf(h, 1));
      expect(() => h.check()).toThrow(HeapCorruptionError);
      expect(() => h.check()).toThrow(expect.objectContaining({ field: expect.stringMatching(field) }));
      expect(() => attachHeap(h.memory.source)).toThrow(expect.objectContaining({ field: expect.stringMatching(field) }));
    };
    it("a never-claimed slot's USED made non-zero", damaged((h) => (h.u32[(slotAt(h, 5) + Slot.USED) >>> 2] = h.rawAllocator.start + 8 + Used.HEADS), /^thread slot 5 USED$/));
    it("a claimed slot's USED moved by 16", damaged((h, u) => (h.u32[(slotAt(h, 1) + Slot.USED) >>> 2] = u + 16), /^thread slot 1 USED$/));
    it("a claimed slot's USED cleared", damaged((h) => (h.u32[(slotAt(h, 1) + Slot.USED) >>> 2] = 0), /^thread slot 1 USED$/));
    it("slot 0's USED moved off the header's array", damaged((h) => (h.u32[(slotAt(h, 0) + Slot.USED) >>> 2] += 8), /^thread slot 0 USED$/));
    it("the orphan slot's USED pointed at slot 1's chunk", damaged((h, u) => (h.u32[(slotAt(h, 8) + Slot.USED) >>> 2] = u), /^thread slot 8 USED$/));
    it("the chunk's slot word", damaged((h, u) => (h.u32[(u - Used.HEADS + Used.SLOT) >>> 2] = 2), /^thread slot 1 USED$/));
    it("the chunk's guard word", damaged((h, u) => (h.u32[(u - Used.HEADS + Used.GUARD + 4) >>> 2] = 63), /^thread slot 1 usedpools guard$/));
    it("a head in the chunk", damaged((h, u) => (h.u32[(u + 8 * 3) >>> 2] = 0x1234), /^thread slot 1 usedpools\[3\] NEXT$/));
  });
});

describe("a thread slot's claim word (Slot.CLAIM, HEAP_VERSION 18)", () => {
  const claimOf = (h: Heap, k: number): number => h.u32[(slotAt(h, k) + Slot.CLAIM) >>> 2];

  it("a live slot holds its handle's claim, a free one none: detach and adoption clear it", () => {
    const h = createHeap({ threads: true, maxThreads: 4 });
    const b = attachHeap(h.buffer as SharedArrayBuffer);
    const c = attachHeap(h.buffer as SharedArrayBuffer);
    expect(claimOf(h, 0)).not.toBe(0);
    expect(claimOf(h, b.threadId)).not.toBe(0);
    expect(claimOf(h, b.threadId)).not.toBe(claimOf(h, 0));
    for (const k of [3, 4]) expect(claimOf(h, k)).toBe(0); // free, and the orphan slot
    b.obj.malloc(40);
    b.detachThread();
    expect(claimOf(h, 1)).toBe(0);
    h.adoptThread(c.threadId);
    expect(claimOf(h, 2)).toBe(0);
    h.check();
  });

  it("a live slot's STATE set to FREE by a stray write: attachHeap refuses the slot instead of giving two handles one usedpools; the holder and check() name the word", () => {
    const h = createHeap({ threads: true, maxThreads: 4 });
    const b = attachHeap(h.buffer as SharedArrayBuffer);
    const keep = [b.obj.malloc(40), b.mem.malloc(3000)];
    const st = (slotAt(h, b.threadId) + Slot.STATE) >>> 2;
    h.u32[st] = SlotState.FREE; // the stray write
    const e = thrownBy(() => attachHeap(h.buffer as SharedArrayBuffer));
    expect(e).toBeInstanceOf(HeapCorruptionError);
    expect((e as HeapCorruptionError).field).toBe("Slot.STATE");
    expect((e as HeapCorruptionError).address).toBe(st * 4);
    expect(h.u32[st]).toBe(SlotState.FREE); // left as found
    expect((thrownBy(() => h.check()) as HeapCorruptionError).field).toBe("Slot.STATE");
    // The holder's next call that takes the lock says what happened (it said "freed by adoptThread()").
    const f = thrownBy(() => {
      for (let i = 0; i < 100; i++) b.mem.malloc(100_000);
    });
    expect(f).toBeInstanceOf(HeapCorruptionError);
    expect((f as HeapCorruptionError).message).toMatch(/STATE word/);
    h.u32[st] = SlotState.LIVE;
    h.check();
    expect(h.mem.malloc(10)).not.toBe(0);
    void keep;
  });

  it("a live slot's claim zeroed, or a handle's slot taken by another handle after adoptThread(): check() names Slot.CLAIM", () => {
    const h = createHeap({ threads: true, maxThreads: 4 });
    const b = attachHeap(h.buffer as SharedArrayBuffer);
    const cw = (slotAt(h, b.threadId) + Slot.CLAIM) >>> 2;
    const was = h.u32[cw];
    h.u32[cw] = 0;
    expect((thrownBy(() => h.check()) as HeapCorruptionError).field).toBe("Slot.CLAIM");
    h.u32[cw] = was;
    h.check();
    // adoptThread() of a thread that still runs (a misuse), then another handle takes the slot:
    // the first handle's check() sees a claim that is not its own.
    h.adoptThread(b.threadId);
    const c = attachHeap(h.buffer as SharedArrayBuffer);
    expect(c.threadId).toBe(b.threadId);
    const e = thrownBy(() => b.check());
    expect(e).toBeInstanceOf(PymallocError);
    c.check();
  });
});
