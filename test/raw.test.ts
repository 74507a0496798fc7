import { describe, expect, it } from "vitest";
import { createHeap, HeapCorruptionError, InvalidPointerError, PymallocError, constants as C } from "../src/index.js";

const heapFor = () => createHeap({ allocator: "malloc" });

describe("raw allocator (TLSF)", () => {
  it("hands out 16-byte aligned, non-overlapping blocks with at most 8 bytes of header", () => {
    const h = heapFor();
    const sizes = [0, 1, 12, 13, 28, 100, 511, 512, 513, 4096, 100000];
    const ps = sizes.map((n) => h.raw.malloc(n));
    for (const [i, p] of ps.entries()) {
      expect(p % 16).toBe(0);
      expect(h.usableSize(p)).toBeGreaterThanOrEqual(sizes[i]);
      expect(h.usableSize(p)).toBeLessThan(Math.max(sizes[i], 12) + 16); // chunk = n + 4 rounded to 16
    }
    // Consecutive blocks from the top: the distance is the chunk, payload + at most 8 bytes overhead
    const a = h.raw.malloc(48);
    const b = h.raw.malloc(48);
    expect(b - a).toBe(64); // 48 + 4 header bytes, rounded to 16
    h.check();
  });

  it("merges free neighbours at once, in both directions", () => {
    const h = heapFor();
    // Chunks over the raw cache's largest size (RawCache.MAX_SIZE): free() merges them at once.
    const guard0 = h.raw.malloc(100);
    const a = h.raw.malloc(5000);
    const b = h.raw.malloc(5000);
    const c = h.raw.malloc(5000);
    const guard = h.raw.malloc(100);
    h.raw.free(a);
    h.raw.free(c);
    expect(h.stats().raw.freeBlocks).toBe(2);
    h.raw.free(b); // joins a and c into one
    const s = h.stats();
    expect(s.raw.freeBlocks).toBe(1);
    expect(s.raw.largestFree).toBe(3 * 5008);
    h.check();
    // The merged hole serves a request of the combined size without growing the top.
    const top = h.stats().footprint;
    const big = h.raw.malloc(15000);
    expect(big).toBe(a);
    expect(h.stats().footprint).toBe(top);
    h.raw.free(big);
    h.raw.free(guard);
    h.raw.free(guard0);
    h.check();
    expect(h.stats().raw.freeBlocks).toBe(0); // everything went back into the top chunk
    expect(h.stats().footprint).toBe(h.stats().headerBytes + 16); // header + first chunk header
  });

  it("reuses a fitting hole before raising the top (good fit)", () => {
    const h = heapFor();
    const a = h.raw.malloc(5000);
    h.raw.malloc(16);
    const fp = h.stats().footprint;
    h.raw.free(a);
    const b = h.raw.malloc(4000);
    expect(b).toBe(a);
    expect(h.stats().footprint).toBe(fp);
    h.check();
  });

  it("realloc grows in place into a free neighbour or the top, and moves otherwise, keeping contents", () => {
    const h = heapFor();
    const a0 = h.raw.malloc(100);
    h.u8.fill(0xab, a0, a0 + 100);
    const a = h.raw.realloc(a0, 5000);
    expect(a).toBe(a0); // a is next to the top
    const b = h.raw.malloc(100);
    const c = h.raw.malloc(5000); // over RawCache.MAX_SIZE: free() merges it, no cache keeps it
    h.raw.malloc(16); // keeps c away from the top
    h.raw.free(c);
    expect(h.raw.realloc(b, 200)).toBe(b); // grows into free c
    h.u8.fill(0xcd, b, b + 200);
    const moved = h.raw.realloc(b, 100000);
    expect(moved).not.toBe(b);
    for (let k = 0; k < 200; k++) expect(h.u8[moved + k]).toBe(0xcd);
    for (let k = 0; k < 100; k++) expect(h.u8[a + k]).toBe(0xab);
    expect(h.raw.realloc(moved, 10)).toBe(moved); // shrink in place
    h.check();
  });

  it("aligned chunks for arenas are pool-aligned after their header, and the lead-in is reusable", () => {
    const h = createHeap();
    h.raw.malloc(3000);
    const p = h.obj.malloc(8); // forces the first arena
    const pool = p - (p % (1 << C.DEFAULT_POOL_SHIFT));
    expect(p - pool).toBe(C.Pool.OVERHEAD);
    h.check();
  });

  it("a raw block freed twice after the heap shrank below it is reported as possibly freed already", () => {
    const h = heapFor();
    const p = h.raw.malloc(200);
    h.raw.free(p); // the last chunk: the top comes down past p
    expect(() => h.raw.free(p)).toThrow(/freed already .*double free/);
    h.check();
  });

  it.each([
    ["misaligned", (p: number) => p + 4, /not 16-byte aligned/],
    ["interior", (p: number) => p + 32, /no (block header|consistent block)/],
    ["out of range", (_p: number) => 1 << 30, /past the heap's top/],
    ["the header region", (_p: number) => 64, /below the heap's blocks/],
  ])("free of a %s pointer throws InvalidPointerError and changes nothing", (_n, bad, msg) => {
    const h = heapFor();
    const p = h.raw.malloc(200);
    h.raw.malloc(200);
    const before = h.u8.slice(0, h.stats().footprint);
    expect(() => h.raw.free(bad(p))).toThrow(InvalidPointerError);
    expect(() => h.raw.free(bad(p))).toThrow(msg);
    expect(Buffer.compare(h.u8.slice(0, h.stats().footprint), before)).toBe(0);
    h.check();
  });

  it("double free and realloc after free are caught", () => {
    const h = heapFor();
    const p = h.raw.malloc(200);
    h.raw.malloc(10);
    h.raw.free(p);
    expect(() => h.raw.free(p)).toThrow(/already free/);
    expect(() => h.raw.realloc(p, 10)).toThrow(/already free/);
    h.check();
  });

  it.each(["malloc", "pymalloc"] as const)("%s: a size word given a small number by an underflow is refused, never freed or grown over live blocks (Chunk.SIZE_KEY)", (allocator) => {
    const h = createHeap({ allocator });
    const ps = Array.from({ length: 40 }, (_, i) => h.raw.malloc(allocator === "malloc" ? 8 + ((i * 37) % 600) : 513 + ((i * 97) % 3000)));
    for (let i = 0; i < ps.length; i += 3) h.raw.free(ps[i]);
    const live = ps.filter((_, i) => i % 3 !== 0);
    for (const p of live) {
      for (const v of [0, 1, 4, 16, 63, 200]) {
        // An underflow of 3 bytes holding v (little-endian: v, 0, 0) over the size word's bytes 1-3.
        const saved = h.u8.slice(p - 3, p);
        h.u8.set([v, 0, 0], p - 3);
        expect(() => h.raw.free(p)).toThrow(PymallocError);
        expect(() => h.raw.realloc(p, 100)).toThrow(PymallocError);
        expect(() => h.usableSize(p)).toThrow(PymallocError);
        h.u8.set(saved, p - 3);
      }
    }
    h.check();
    for (const p of live) h.raw.free(p);
    h.check();
  });

  it("a malloc splitting a free chunk never merges the chunk after it, whose header a stray write made read free: no block over it", () => {
    const h = heapFor();
    h.raw.malloc(100);
    const a = h.raw.malloc(8000); // past the raw cache: freed into the TLSF lists at once
    const b = h.raw.malloc(8000); // the victim, live
    h.raw.malloc(100);
    h.raw.free(a);
    // A stray write sets b's FREE bit and zeroes the words a free chunk keeps its links in: its
    // footer (an in-use chunk's, HEAP_VERSION 17) repeats its size, so it passed a merge's tests.
    h.u32[(b - 4) >>> 2] |= C.Flag.FREE;
    h.u32[b >>> 2] = 0;
    h.u32[(b + 4) >>> 2] = 0;
    const x = h.raw.malloc(3000); // from a's chunk; its remainder was merged with b until 2026-12-07
    expect(x).toBe(a);
    let y = 0;
    try {
      y = h.raw.malloc(12000); // fitted the remainder and b together
    } catch (e) {
      expect(e).toBeInstanceOf(PymallocError);
    }
    if (y !== 0) expect(y + 12000 <= b || y >= b + 8000).toBe(true);
    // b's damage is seen: its free is refused, check() names it.
    expect(() => h.raw.free(b)).toThrow(PymallocError);
    expect(() => h.check()).toThrow(HeapCorruptionError);
  });

  it("a live chunk whose FREE bit a stray write set is never merged by a free or a realloc beside it (a chunk with no previous one must head its list)", () => {
    for (const op of ["free", "realloc"] as const) {
      const h = heapFor();
      h.raw.malloc(100);
      const a = h.raw.malloc(8000); // past the raw cache: a free merges at once
      const b = h.raw.malloc(8000); // the victim, live
      h.raw.malloc(100);
      h.u8.fill(0xb7, b, b + 8000);
      // FREE set, the link words zero (as user data often is); its in-use footer repeats its size.
      h.u32[(b - 4) >>> 2] |= C.Flag.FREE;
      h.u32[b >>> 2] = 0;
      h.u32[(b + 4) >>> 2] = 0;
      // Merged into a's chunk until 2026-12-07: then a block handed out over b (free), or a grown over it (realloc).
      if (op === "free") expect(() => h.raw.free(a)).toThrow(HeapCorruptionError);
      else expect(() => h.raw.realloc(a, 12000)).toThrow(HeapCorruptionError);
      expect(h.u8.subarray(b + 8, b + 8000).every((v) => v === 0xb7)).toBe(true);
    }
  });

  it("a raw free of an object-allocator block is refused", () => {
    const h = createHeap();
    const p = h.obj.malloc(32);
    expect(() => h.raw.free(p)).toThrow(InvalidPointerError);
    h.check();
    h.obj.free(p);
  });
});

describe("the raw cache (freed chunks of up to RawCache.MAX_SIZE bytes, kept unmerged)", () => {
  const cacheAt = (h: ReturnType<typeof heapFor>) => h.heapBase + h.u32[(h.heapBase >>> 2) + C.H.RAW_CACHE];
  const cachedCount = (h: ReturnType<typeof heapFor>) => h.u32[cacheAt(h) >>> 2];

  it.each(["malloc", "pymalloc"] as const)("%s mode: the next malloc of a freed chunk's size takes it back, and check() and stats() count it free", (allocator) => {
    const h = createHeap({ allocator });
    const a = h.raw.malloc(640);
    const b = h.raw.malloc(640);
    h.raw.malloc(16); // keeps b from the top
    h.u8.fill(7, a, a + 640);
    h.raw.free(a);
    h.raw.free(b);
    expect(cachedCount(h)).toBe(2);
    const s = h.stats();
    expect(s.raw.freeBlocks).toBe(2); // cached chunks are free bytes, unmerged
    expect(s.raw.freeBytes).toBe(2 * 656);
    h.check();
    expect(() => h.raw.free(a)).toThrow(/already free/); // a cached chunk freed again: a double free
    expect(() => h.raw.realloc(b, 10)).toThrow(/already free/);
    expect(() => h.usableSize(a)).toThrow(InvalidPointerError);
    // Last in, first out, for a request of the same chunk size (641..648 bytes round to 656 too).
    expect(h.raw.malloc(648)).toBe(b);
    expect(h.raw.malloc(640)).toBe(a);
    expect(h.raw.malloc(640)).not.toBe(a); // the list is empty: a new chunk
    expect(cachedCount(h)).toBe(0);
    h.check();
  });

  it("realloc grows in place into a cached neighbour (the cache merged first), as into a free one", () => {
    const h = heapFor();
    const b = h.raw.malloc(100);
    const c = h.raw.malloc(1000);
    h.raw.malloc(16); // keeps c from the top
    h.raw.free(c);
    expect(cachedCount(h)).toBe(1);
    h.u8.fill(9, b, b + 100);
    expect(h.raw.realloc(b, 1000)).toBe(b);
    expect(cachedCount(h)).toBe(0);
    expect(h.u8.subarray(b, b + 100).every((v) => v === 9)).toBe(true);
    h.check();
  });

  it("a chunk of another size on a shared list is passed over, not handed out", () => {
    const h = heapFor();
    // 2064 and 16 bytes share list 1 ((size >> 4) & (BINS - 1)).
    const hole = h.raw.malloc(5000); // a free chunk for the 16-byte request (over 4096 bytes: not cached)
    h.raw.malloc(16);
    const big = h.raw.malloc(2064 - 4);
    h.raw.malloc(16);
    h.raw.free(hole);
    h.raw.free(big);
    const other = h.raw.malloc(8); // a 16-byte chunk: list 1 too, its head passed over
    expect(other).toBe(hole);
    expect(cachedCount(h)).toBe(1);
    expect(h.raw.malloc(2060)).toBe(big); // its own size: taken
    expect(cachedCount(h)).toBe(0);
    h.check();
  });

  it("cached chunks merge before the top passes its peak: the footprint is TLSF's alone", () => {
    const h = heapFor();
    h.raw.malloc(1 << 20); // a heap of 1 MiB: the cache may hold 16 chunks
    const ps = Array.from({ length: 8 }, () => h.raw.malloc(1000));
    h.raw.malloc(16); // a guard at the top, which is its peak: the chunks never touch it
    const fp = h.stats().footprint;
    for (const p of ps) h.raw.free(p);
    expect(cachedCount(h)).toBe(8);
    // 8 x 1008 bytes, merged, hold a request for 7,900 bytes: no growth.
    expect(h.raw.malloc(7900)).toBe(ps[0]);
    expect(cachedCount(h)).toBe(0);
    expect(h.stats().footprint).toBe(fp);
    h.check();
  });

  it("the top coming down keeps the cache, collect() empties it: a heap that freed everything has its first footprint", () => {
    const h = heapFor();
    const empty = h.stats().footprint;
    const big = h.raw.malloc(8 << 20); // a heap of 8 MiB: the cache may hold RawCache.LIMIT chunks
    const ps = Array.from({ length: 50 }, (_, i) => h.raw.malloc(16 + ((i * 97) % 4000)));
    for (let i = 0; i < ps.length; i += 2) h.raw.free(ps[i]);
    expect(cachedCount(h)).toBe(25);
    for (let i = ps.length - 1; i > 0; i -= 2) h.raw.free(ps[i]); // the last one brings the top down
    expect(cachedCount(h)).toBe(49);
    h.check();
    h.raw.free(big);
    h.collect();
    expect(cachedCount(h)).toBe(0);
    expect(h.stats().footprint).toBe(empty);
    expect(h.stats().raw.freeBlocks).toBe(0);
    h.check();
  });

  it("the top grows under its peak past cached chunks, and merges them before it passes the peak: the peak is TLSF's alone", () => {
    const h = heapFor();
    h.raw.malloc(1 << 20); // a heap of 1 MiB: the cache may hold 16 chunks
    const ps = Array.from({ length: 8 }, () => h.raw.malloc(1000));
    const last = h.raw.malloc(20000);
    const peak = h.stats().peakFootprint;
    for (const p of ps) h.raw.free(p);
    h.raw.free(last); // the top comes down to the cached chunks' end
    expect(cachedCount(h)).toBe(8);
    // Under the peak: from the top, the cache kept.
    const again = h.raw.malloc(20000);
    expect(again).toBe(last);
    expect(cachedCount(h)).toBe(8);
    h.check();
    h.raw.free(again);
    // Past the peak: the cached chunks merge first (with the top), and the request fits under it.
    const wide = h.raw.malloc(20000 + 8 * 1008 - 64);
    expect(cachedCount(h)).toBe(0);
    expect(wide).toBe(ps[0]);
    expect(h.stats().peakFootprint).toBe(peak);
    h.check();
  });

  it.each([
    ["8 MiB", 8 << 20, C.RawCache.LIMIT],
    ["1 MiB", 1 << 20, 16], // one chunk a 64 KiB (RawCache.HEAP_SHIFT)
    ["small", 0, C.RawCache.MIN_LIMIT],
  ])("never holds more chunks than a heap of %s may (a free past it merges them first)", (_n, lead, limit) => {
    const h = heapFor();
    if (lead !== 0) h.raw.malloc(lead - 160 * 1024); // with the blocks below: that much from the start to the top
    const ps = Array.from({ length: 160 }, (_, i) => h.raw.malloc(100 + (i % 7) * 300 - 4)); // 160 KiB
    h.raw.malloc(16);
    let most = 0;
    for (const p of ps) {
      h.raw.free(p);
      most = Math.max(most, cachedCount(h));
    }
    expect(most).toBe(limit);
    h.check();
  });

  it("emptied, the cache reads its lists only up to its count; a count lowered by a stray write is reported, its chunks never merged nor handed out unchecked", () => {
    const h = heapFor();
    const a = h.raw.malloc(60); // list 4 (64-byte chunks)
    const b = h.raw.malloc(600); // list 38 (608-byte chunks)
    const live = h.raw.malloc(600);
    h.raw.malloc(16); // keeps them from the top
    h.raw.free(a);
    h.raw.free(b);
    expect(cachedCount(h)).toBe(2);
    h.u32[cacheAt(h) >>> 2] = 1; // the count says one chunk: b, on the later list, is past it
    h.raw.malloc(1 << 20); // the top grows: the cache is emptied first
    expect(cachedCount(h)).toBe(0);
    // a merged and listed as TLSF has it; b still reads cached (FREE | ARENA), merged with nothing.
    expect(h.u32[(b - 8 + 4) >>> 2] & (15 & ~C.Flag.PREV_FREE)).toBe(C.Flag.FREE | C.Flag.ARENA | C.Flag.TAG);
    expect(h.u32[(live - 8 + 4) >>> 2] & 15).toBe(C.Flag.TAG);
    expect(() => h.check()).toThrow(HeapCorruptionError);
    expect(() => h.raw.malloc(600)).toThrow(/0 chunks cached, but a list holds one/);
  });

  it("a damaged list head or link is reported (HeapCorruptionError naming it), never followed", () => {
    for (const what of ["head", "link", "count"] as const) {
      const h = heapFor();
      const a = h.raw.malloc(640);
      const b = h.raw.malloc(640);
      const live = h.raw.malloc(640);
      h.raw.malloc(16);
      h.raw.free(a);
      h.raw.free(b); // list: b -> a
      const head = (cacheAt(h) + C.RawCache.HEADS + ((656 >>> 4) & (C.RawCache.BINS - 1)) * 4) >>> 2;
      if (what === "head") h.u32[head] = live - 8; // a live chunk
      if (what === "link") h.u32[(b - 8 + 8) >>> 2] = live - 8 + 16; // no chunk at all
      if (what === "count") h.u32[cacheAt(h) >>> 2] = 5;
      expect(() => h.check()).toThrow(HeapCorruptionError);
      if (what === "count") continue;
      expect(() => {
        h.raw.malloc(640);
        h.raw.malloc(640);
      }).toThrow(HeapCorruptionError);
      expect(h.u32[(live - 8 + 4) >>> 2] & 15).toBe(4); // the live chunk still reads in use (TAG only)
    }
  });
});

describe("a heap past 2 GiB (addresses and chunk sizes over 2^31)", () => {
  it.each(["pymalloc", "malloc"] as const)("%s: blocks above 2 GiB and a free chunk over 2 GiB are handled like any other", (allocator) => {
    const heap = createHeap({ allocator });
    // 2,100 raw chunks of 1 MiB take the heap past 2 GiB; small blocks (pools, or raw chunks in
    // malloc mode) land above it.
    const big: number[] = [];
    for (let i = 0; i < 2100; i++) {
      const p = heap.raw.malloc(1 << 20);
      expect(p).not.toBe(0);
      heap.u8[p] = i & 255;
      big.push(p);
    }
    const small: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const n = 8 + ((i * 37) % 500);
      const p = heap.obj.malloc(n);
      expect(p).toBeGreaterThan(2 ** 31);
      heap.u8.fill(i & 255, p, p + n);
      small.push(p, n);
    }
    heap.check();
    // Freed in order, the raw chunks merge into one free chunk of over 2 GiB; the chunk after it
    // is then freed with a footer (the size of the free chunk before it) over 2^31.
    for (const p of big) heap.raw.free(p);
    expect(heap.stats().raw.largestFree).toBeGreaterThan(2 ** 31);
    heap.check();
    for (let i = 0; i < small.length; i += 2) {
      const p = small[i];
      const n = small[i + 1];
      const v = (i / 2) & 255;
      expect(heap.u8[p] === v && heap.u8[p + n - 1] === v).toBe(true);
      const q = heap.obj.realloc(p, n + 600); // over 512 bytes: a raw chunk (in the free space below 2 GiB)
      expect(heap.u8[q + n - 1]).toBe(v);
      heap.obj.free(q);
    }
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });
});
