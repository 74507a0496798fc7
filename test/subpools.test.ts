// createHeap({ subPools: true }), the default (issue #19): young size classes in 1 KiB sub-pools cut from a
// shared pool slot, the first arenas small. Real CPython traces replayed with every block
// verified and check() along the way, the footprint it saves, and what stats() says of it.
// (A file of its own: with the traces of test/traces.test.ts, one worker ran over vitest's
// 60 s call timeout on this 2-core machine.)
import { describe, expect, it } from "vitest";
import { createHeap, constants } from "../src/index.js";
import { CARVE_BYTES, youngLimit } from "../src/constants.js";
import { fastPathModule } from "../src/compat/wasm-imports.js";
import { readTraceFile } from "../src/trace/file.js";
import { replayTo, replayVerify } from "../src/trace/replay.js";
import { BUNDLED_TRACE, sharedTraces } from "./helpers.js";

describe("subPools: true", () => {
  const t = readTraceFile(BUNDLED_TRACE);

  it("the bundled trace: every block verified, check() every 50k events, a lower peak footprint than whole pools", () => {
    const sub = replayVerify(createHeap({ subPools: true }), t, { checkEvery: 50000, freeAtEnd: true });
    const whole = replayVerify(createHeap({ subPools: false }), t, { freeAtEnd: true });
    expect(sub.events).toBe(t.count);
    expect(sub.peakFootprint).toBeLessThan(whole.peakFootprint);
  });

  it("a small heap: stats() counts the slots cut into sub-pools; the footprint is a fraction of whole pools'", () => {
    const upTo = 2000; // the bundled trace's first events: well under 1 MiB live
    const sub = createHeap({ subPools: true });
    const whole = createHeap({ subPools: false });
    replayTo(sub, t, upTo);
    replayTo(whole, t, upTo);
    sub.check();
    const s = sub.stats();
    expect(s.pools.subPoolSlots).toBeGreaterThan(0);
    expect(whole.stats().pools.subPoolSlots).toBe(0);
    expect(s.peakFootprint * 2).toBeLessThan(whole.stats().peakFootprint);
    expect(s.residentBytes).toBeGreaterThan(0);
    expect(s.residentBytes).toBeLessThanOrEqual(s.footprint + 4096);
    expect(sub.debugMallocStats()).toMatch(/cut in sub-pools/);
  });

  it("a young class keeps its emptied sub-pool as a spare; another class takes it before a slot is cut; collect() gives it back", () => {
    const h = createHeap({ subPools: true });
    const o = h.objectAllocator;
    const subOf = (p: number) => p - (p & 1023);
    // A 400-byte block, freed: its sub-pool stays listed, and the next block of the class is the same.
    const a = h.obj.malloc(400);
    h.obj.free(a);
    h.check();
    expect(h.obj.malloc(400)).toBe(a);
    h.obj.free(a);
    const slots = h.stats().pools.subPoolSlots;
    expect(slots).toBe(1);
    // The slot's sixteen sub-pools (the last one ends at the one-pool arena's header, and still
    // holds a block of every class): fifteen other classes take the free ones, the sixteenth
    // takes the spare.
    const others = Array.from({ length: 16 }, (_, i) => h.obj.malloc(16 + 16 * i));
    expect(new Set(others.map(subOf)).size).toBe(16);
    expect(others.map(subOf)).toContain(subOf(a));
    expect(h.stats().pools.subPoolSlots).toBe(slots);
    h.check();
    for (const p of others) h.obj.free(p);
    h.check();
    // The spares of the classes that last emptied stay until collect().
    const held = h.stats().pools.subPoolSlots;
    expect(held).toBe(1);
    h.collect();
    h.check();
    expect(h.stats().pools.subPoolSlots).toBe(0);
    expect(o.poolSize).toBeGreaterThan(1024);
  });

  it("a slot's last sub-pool, cut short by its arena's header, holds blocks up to that header and no further", () => {
    const h = createHeap();
    const o = h.objectAllocator;
    // 512-byte blocks, one to a sub-pool: the first slot's sixteen sub-pools, the last one short.
    const ps = Array.from({ length: 16 }, () => h.obj.malloc(512));
    const slot = ps[0] - (ps[0] & o.poolMask);
    const last = slot + 15 * 1024;
    const ao = h.memory.views.u32[(last + constants.Pool.ARENA) >>> 2];
    expect(ao).toBeGreaterThan(last);
    expect(ao - last).toBeLessThan(1024);
    const p = ps.find((q) => q - (q & 1023) === last)!;
    expect(p).toBeDefined();
    expect(p + 512).toBeLessThanOrEqual(ao); // the block ends before the arena header
    h.check();
    for (const q of ps) h.obj.free(q);
    h.check();
  });

  it("a full sub-pool that a block is freed into rejoins its class behind the head: malloc goes on with the head", () => {
    const h = createHeap({ subPools: true });
    // 464-byte blocks: two to a 1 KiB sub-pool. Three blocks: the first sub-pool full, the second at the head.
    const [b1, b2, b3] = [h.obj.malloc(464), h.obj.malloc(464), h.obj.malloc(464)];
    const subOf = (p: number) => p - (p & 1023);
    expect(subOf(b1)).toBe(subOf(b2));
    expect(subOf(b3)).not.toBe(subOf(b1));
    h.obj.free(b1); // the full sub-pool gains a free block: listed behind the head
    h.check();
    const b4 = h.obj.malloc(464);
    expect(subOf(b4)).toBe(subOf(b3)); // from the head, not from the sub-pool just relisted
    const b5 = h.obj.malloc(464); // the head is full now: the relisted sub-pool serves
    expect(b5).toBe(b1);
    for (const p of [b2, b3, b4, b5]) h.obj.free(p);
    h.check();
  });

  it("free() keeps the one-pool arenas it empties, and gives them back when a raw request would fail without them", () => {
    const h = createHeap({ maxBytes: 4 << 20 });
    const ps: number[] = [];
    for (let i = 0; i < 6000; i++) ps.push(h.obj.malloc(16 + ((i * 40) % 480)));
    const arenas = h.stats().arenas.current;
    expect(arenas).toBeGreaterThan(8);
    for (const p of ps) h.obj.free(p);
    h.check();
    expect(h.stats().arenas.current).toBeGreaterThan(1); // kept against churn
    const big = h.raw.malloc(3 << 20); // fits only in the arenas' memory
    expect(big).not.toBe(0);
    h.check();
    expect(h.stats().arenas.current).toBeLessThan(arenas / 2);
    h.raw.free(big);
    h.check();
  });

  it("the one-pool arenas free() keeps go back before the top grows for a raw request, which then takes their room (JS and the WebAssembly fast path)", () => {
    for (const viaWasm of [false, true]) {
      const h = createHeap({ memory: new WebAssembly.Memory({ initial: 64, maximum: 1024 }) });
      const x = viaWasm ? h.wasmImports() : h.mem;
      // Small blocks of many classes between raw blocks (SQLite's page cache among its objects),
      // then the small ones freed: their one-pool arenas are kept, empty, between the raw blocks.
      const small: number[] = [];
      const pages: number[] = [];
      for (let i = 0; i < 4000; i++) {
        small.push(x.malloc(16 + ((i * 24) % 400)) >>> 0);
        if (i % 10 === 0) pages.push(x.malloc(1032) >>> 0);
      }
      for (const p of small) x.free(p);
      h.check();
      const kept = h.stats().arenas.current;
      expect(kept).toBeGreaterThan(4); // kept against churn while only small blocks come and go
      const top = h.stats().footprint;
      // More pages than the free raw chunks hold: before the top grows, the kept arenas go back,
      // and the pages fill their room.
      const more: number[] = [];
      for (let i = 0; i < kept * 14; i++) more.push(x.malloc(1032) >>> 0);
      expect(more).not.toContain(0);
      h.check();
      expect(h.stats().arenas.current).toBeLessThan(kept / 2);
      expect(h.stats().footprint).toBeLessThan(top + (kept * 14 * 1040) / 2);
      for (const p of [...pages, ...more]) x.free(p);
      h.check();
      expect(h.stats().blocksInUse).toBe(0);
    }
  });

  it("the kept one-pool arenas lead the usable list when a full arena of two pools gets one back: they still go back before the top grows (JS and the WebAssembly fast path)", () => {
    const { Arena, Pool } = constants;
    for (const viaWasm of [false, true]) {
      const h = createHeap({ memory: new WebAssembly.Memory({ initial: 64, maximum: 4096 }) });
      const x = viaWasm ? h.wasmImports() : h.obj;
      // 16-byte blocks past the 64 one-pool arenas, into arenas of two pools.
      const blocks = Array.from({ length: 75000 }, () => x.malloc(16) >>> 0);
      const word = (at: number) => h.u32[at >>> 2];
      const poolOf = (p: number) => p - (p & 16383);
      const arenaOf = (p: number) => word(poolOf(p) + Pool.ARENA);
      const byArena = new Map<number, number[]>();
      for (const p of blocks) (byArena.get(arenaOf(p)) ?? byArena.set(arenaOf(p), []).get(arenaOf(p))!).push(p);
      const one = [...byArena.keys()].filter((ao) => word(ao + Arena.NTOTALPOOLS) === 1);
      const full2 = [...byArena.keys()].filter((ao) => word(ao + Arena.NTOTALPOOLS) === 2 && word(ao + Arena.NFREEPOOLS) === 0);
      expect(one.length).toBe(64);
      expect(full2.length).toBeGreaterThan(0);
      // The one-pool arenas emptied (kept by free()), then one pool of a full two-pool arena.
      for (const ao of one) for (const p of byArena.get(ao)!) x.free(p);
      const kept = h.stats().arenas.current;
      const pool = poolOf(byArena.get(full2[0])![0]);
      for (const p of byArena.get(full2[0])!) if (poolOf(p) === pool) x.free(p);
      h.check();
      // It joins the arenas with one free pool behind the kept ones (at the head, it hid them:
      // the top grew 800 KB for the raw blocks below, the 64 empty arenas kept).
      expect(word(h.heapBase + constants.H.USABLE_ARENAS * 4)).not.toBe(full2[0]);
      const top = h.stats().footprint;
      const big = Array.from({ length: 40 }, () => x.malloc(20000) >>> 0);
      expect(big).not.toContain(0);
      h.check();
      expect(h.stats().footprint).toBe(top);
      expect(h.stats().arenas.current).toBeLessThan(kept - 60);
    }
  });

  it("a spare sub-pool alone in its slot between raw blocks goes back before the top grows, which then takes its room (JS and the WebAssembly fast path; zlib's peak was 17% over malloc mode's)", () => {
    const { H, SubPool } = constants;
    for (const viaWasm of [false, true]) {
      const h = createHeap({ memory: new WebAssembly.Memory({ initial: 64, maximum: 1024 }) });
      const x = viaWasm ? h.wasmImports() : h.mem;
      const kept = () => h.u32[(h.heapBase + h.u32[(h.heapBase >>> 2) + H.SUBPOOLS] + SubPool.KEPT) >>> 2];
      // zlib's first document: its state, one 512-byte block (a slot of sub-pools), its window.
      const a = x.malloc(6000) >>> 0;
      const s = x.malloc(512) >>> 0;
      const b = x.malloc(100000) >>> 0;
      expect(s).toBeGreaterThan(a);
      expect(b).toBeGreaterThan(s);
      expect(kept()).toBe(0);
      x.free(s); // the class's only sub-pool, kept as its spare: the slot's only one
      expect(kept()).toBe(1);
      x.free(b);
      x.free(a);
      h.check();
      const peak = h.stats().peakFootprint;
      // The next document's window, larger: before the top grows, the spare goes back, and with it
      // its slot and one-pool arena; the window then starts where the state did, the peak as it was.
      const c = x.malloc(120000) >>> 0;
      expect(c).toBe(a);
      expect(kept()).toBe(0);
      expect(h.stats().peakFootprint).toBe(peak);
      expect(h.stats().arenas.current).toBe(0);
      h.check();
      // A spare that shares its slot with a live sub-pool holds nothing more: no mark.
      const t1 = x.malloc(200) >>> 0;
      const t2 = x.malloc(300) >>> 0; // another class, another sub-pool of the same slot
      expect(t2 - (t2 & 16383)).toBe(t1 - (t1 & 16383));
      x.free(t1);
      expect(kept()).toBe(0);
      for (const p of [t2, c]) x.free(p);
      h.check();
      expect(h.stats().blocksInUse).toBe(0);
    }
  });

  it("the arena free() keeps against churn goes back before the top passes its peak, not below it (subPools: false: arenas of 8 pools; JS and the WebAssembly fast path)", () => {
    for (const viaWasm of [false, true]) {
      const h = createHeap({ subPools: false, memory: new WebAssembly.Memory({ initial: 64, maximum: 1024 }) });
      const x = viaWasm ? h.wasmImports() : h.mem;
      const s = x.malloc(16) >>> 0; // the first arena, 128 KiB
      const a = x.malloc(100000) >>> 0;
      expect(a).toBeGreaterThan(s);
      x.free(s); // the only usable arena, entirely free: kept against churn
      expect(h.stats().arenas.current).toBe(1);
      x.free(a); // the top comes down to the arena's end
      const peak = h.stats().peakFootprint;
      // Below the peak the kept arena stays (a program hovering at an arena boundary keeps it).
      const below = x.malloc(90000) >>> 0;
      expect(below).toBe(a);
      expect(h.stats().arenas.current).toBe(1);
      x.free(below);
      // Past the peak, it goes back first: the request takes its room, the peak as it was.
      const c = x.malloc(200000) >>> 0;
      expect(c).toBeLessThan(s);
      expect(h.stats().arenas.current).toBe(0);
      expect(h.stats().peakFootprint).toBe(peak);
      h.check();
      x.free(c);
      h.check();
    }
  });

  it("the classes' spare pools go back when a raw request would fail without them (the heap's pass-through allocator once answered instead: no class, no spare given back)", () => {
    const h = createHeap({ maxBytes: 4 << 20 });
    const small: number[] = [];
    const raw: number[] = [];
    // A few blocks of every class between 40 KB raw blocks: each class's sub-pools, and then its
    // spare, sit in slots spread over the heap.
    for (let k = 0; k < 64; k++) {
      for (let i = 0; i < 3; i++) small.push(h.obj.malloc(8 * (k + 1)));
      raw.push(h.mem.malloc(40000));
    }
    for (const p of small) h.obj.free(p);
    for (const p of raw) h.mem.free(p);
    h.check();
    expect(h.stats().arenas.current).toBeGreaterThan(1); // the spares' slots, kept
    expect(h.stats().raw.largestFree).toBeLessThan(3 << 20);
    const big = h.raw.malloc(3 << 20); // fits only once the spares' slots are given back
    expect(big).not.toBe(0);
    expect(h.stats().arenas.current).toBe(0);
    h.check();
    h.raw.free(big);
    h.check();
  });

  it("a whole pool that empties goes back of no class and is carved afresh when taken again: a class hovering at one block never reuses (nor walks) a long free list", () => {
    const { Pool } = constants;
    const h = createHeap();
    const ps: number[] = [];
    for (let i = 0; i < 6000; i++) ps.push(h.obj.malloc(32)); // past the class's young limit: whole pools
    const pools = new Set(ps.map((p) => p & ~(16384 - 1)));
    expect(pools.size).toBeGreaterThan(6);
    for (const p of ps) h.obj.free(p);
    h.check();
    for (const pool of pools) expect(h.u32[(pool + Pool.SZIDX) >>> 2]).toBe(Pool.SZIDX_NONE);
    // Hovering at one block: each malloc takes a pool afresh (the block handed out and a batch of
    // CARVE_BYTES carved after it), each free gives it back after checking those 17 carved
    // blocks, not 510.
    for (let i = 0; i < 1000; i++) {
      const p = h.obj.malloc(32);
      const pool = p & ~(16384 - 1);
      expect(p).toBe(pool + Pool.OVERHEAD);
      expect(h.u32[(pool + Pool.NEXTOFFSET) >>> 2]).toBe(Pool.OVERHEAD + 32 + CARVE_BYTES);
      h.obj.free(p);
    }
    h.check();
  });

  const files = sharedTraces();
  if (files.length > 0)
    it.each(files.map((f) => [f.split("/").pop()!, f] as const))("%s: content verified", (_name, file) => {
      const tr = readTraceFile(file);
      const r = replayVerify(createHeap({ subPools: true }), tr, { checkEvery: 1_000_000, freeAtEnd: true });
      expect(r.events).toBe(tr.count);
    });

  it("an old class of 64-byte blocks or more that holds a pool's bytes takes a free sub-pool before a new arena when the list holds 32 or more, stranded in slots others hold (uthash's peak was 1.32x dlmalloc's; JS and the WebAssembly fast path)", () => {
    const { H, SubPool, Pool } = constants;
    for (const viaWasm of [false, true]) {
      const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 32, maximum: 4096 }) });
      const x = viaWasm ? heap.wasmImports() : heap.mem;
      const hw = heap.heapBase >>> 2;
      const listed = (): number => {
        let n = 0;
        for (let sp = heap.u32[(heap.heapBase + heap.u32[hw + H.SUBPOOLS] + SubPool.FREE) >>> 2]; sp !== 0; sp = heap.u32[(sp + Pool.NEXT) >>> 2]) n++;
        return n;
      };
      const inSub = (p: number): boolean => (heap.u32[((p & ~16383) + Pool.SUB) >>> 2] & 0xff) !== 0;
      const poolOf = (p: number): number => (inSub(p) ? p - (p & 1023) : p - (p & 16383));
      // 496-byte blocks until the class is old (a block in a whole pool), its whole pool filled.
      const big: number[] = [];
      do big.push(x.malloc(496) >>> 0);
      while (inSub(big[big.length - 1]) && big.length < 200);
      const wp = poolOf(big[big.length - 1]);
      expect(inSub(wp)).toBe(false);
      const full = () => heap.u32[(wp + Pool.FREEBLOCK) >>> 2] === 0 && heap.u32[(wp + Pool.NEXTOFFSET) >>> 2] > heap.u32[(wp + Pool.MAXNEXTOFFSET) >>> 2];
      while (!full()) big.push(x.malloc(496) >>> 0);
      expect(poolOf(big[big.length - 1])).toBe(wp);
      x.free(big.pop()!); // one block free in it: the class's next pool is taken below
      // A young class's 16-byte blocks over 40 sub-pools, all freed but one block a slot: the
      // slots stay, their other sub-pools free on the list.
      const small: number[] = [];
      while (new Set(small.map(poolOf)).size < 40) small.push(x.malloc(16) >>> 0);
      const keep = new Map<number, number>();
      for (const p of small) if (!keep.has(p & ~16383)) keep.set(p & ~16383, p);
      const kept = new Set(keep.values());
      for (const p of small) if (!kept.has(p)) x.free(p);
      expect(listed()).toBeGreaterThanOrEqual(32);
      expect(heap.u32[hw + H.USABLE_ARENAS]).toBe(0); // no arena with a free pool: the next pool would be a new arena
      heap.check();
      const arenas = heap.stats().arenas.current;
      const before = listed();
      big.push(x.malloc(496) >>> 0);
      expect(poolOf(big[big.length - 1])).toBe(wp);
      const next = x.malloc(496) >>> 0;
      expect(inSub(next)).toBe(true);
      expect(listed()).toBe(before - 1);
      expect(heap.stats().arenas.current).toBe(arenas);
      heap.check();
      // Emptied, it goes back to the list at once (no spare for an old class).
      x.free(next);
      expect(listed()).toBe(before);
      for (const p of [...big, ...kept]) x.free(p);
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
    }
  });

  it("each class's young limit (youngLimit, SubPool.LIMIT): in the header, 0 with whole pools; small blocks stay in sub-pools past a pool's bytes, 496-byte ones leave before, in JS and in the wasm fast path", () => {
    const { H, SubPool, Pool } = constants;
    const limits = (h: ReturnType<typeof createHeap>): number[] => {
      const w = (h.heapBase + h.u32[(h.heapBase >>> 2) + H.SUBPOOLS] + SubPool.LIMIT) >>> 2;
      return Array.from(h.u32.subarray(w, w + 64));
    };
    const h = createHeap();
    const lim = limits(h);
    for (let i = 0; i < 64; i++) expect(lim[i]).toBe(youngLimit((i + 1) * 8, 14));
    expect(lim[0]).toBe(4 * 16384); // 8-byte blocks fill a sub-pool but for its header: the cap, four pools
    expect(lim[61]).toBeLessThan(16384); // 496-byte blocks leave 480 of each KiB: under a pool
    expect(Math.min(...lim)).toBeGreaterThanOrEqual(8192); // at least half a pool
    expect(limits(createHeap({ subPools: false })).every((x) => x === 0)).toBe(true);
    expect(limits(createHeap({ alignment: 16 })).slice(0, 32)).toEqual(Array.from({ length: 32 }, (_, i) => youngLimit((i + 1) * 16, 14)));
    // Whether the block at p lies in a sub-pool (its slot's first header holds a shift).
    const inSub = (heap: ReturnType<typeof createHeap>, p: number): boolean => (heap.u32[((p & ~16383) + Pool.SUB) >>> 2] & 0xff) !== 0;
    for (const via of ["js", "wasm"] as const) {
      const heap = via === "js" ? createHeap() : createHeap({ memory: new WebAssembly.Memory({ initial: 32, maximum: 4096 }) });
      let malloc = (n: number): number => heap.obj.malloc(n);
      if (via === "wasm") {
        const fam = heap.mem;
        const slow = { malloc: (n: number) => fam.malloc(n >>> 0), free: (p: number) => fam.free(p >>> 0), calloc: (a: number, b: number) => fam.calloc(a >>> 0, b >>> 0), realloc: (p: number, n: number) => fam.realloc(p >>> 0, n >>> 0) };
        const x = new WebAssembly.Instance(fastPathModule(false), { env: { memory: heap.memory.source as WebAssembly.Memory }, pymalloc: slow }).exports as unknown as { init(b: number, s: number): void; malloc(n: number): number };
        x.init(heap.heapBase, heap.threadId);
        malloc = (n) => x.malloc(n) >>> 0;
      }
      // 40 KiB of 8-byte blocks (past two pools' bytes): every one in a sub-pool.
      const small = Array.from({ length: 5000 }, () => malloc(8));
      expect(small.every((p) => p !== 0 && inSub(heap, p))).toBe(true);
      // 496-byte blocks: one a sub-pool until the class has held its limit, whole pools after.
      const big = Array.from({ length: 60 }, () => malloc(496));
      const firstWhole = big.findIndex((p) => !inSub(heap, p));
      expect(firstWhole).toBe(Math.ceil(lim[61] / 1024));
      expect(big.slice(firstWhole).every((p) => !inSub(heap, p))).toBe(true);
      heap.check();
    }
  });
});
