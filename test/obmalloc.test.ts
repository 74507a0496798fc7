import { describe, expect, it } from "vitest";
import { createHeap, InvalidPointerError, constants as C } from "../src/index.js";

describe("object allocator (obmalloc)", () => {
  it("serves 1..512 bytes from 32 size classes of 16 bytes, without headers", () => {
    const h = createHeap();
    for (let n = 1; n <= 512; n++) {
      const p = h.obj.malloc(n);
      expect(p % 16).toBe(0);
      expect(h.usableSize(p)).toBe(Math.ceil(n / 16) * 16);
    }
    const s = h.stats();
    expect(s.classes.filter((k) => k.blocksInUse > 0).length).toBe(C.Size.NB_SMALL_SIZE_CLASSES);
    expect(s.classes[0].blocksInUse).toBe(16);
    // Blocks of one class are packed back to back: no per-block header.
    const a = h.obj.malloc(48);
    const b = h.obj.malloc(48);
    expect(b - a).toBe(48);
    h.check();
  });

  it("larger requests and 0 go to the raw allocator; 0 gives unique pointers", () => {
    const h = createHeap();
    const big = h.obj.malloc(513);
    expect(h.objectAllocator.isOurs(big)).toBe(false);
    const z1 = h.obj.malloc(0);
    const z2 = h.mem.malloc(0);
    expect(z1).not.toBe(0);
    expect(z2).not.toBe(z1);
    h.obj.free(z1);
    h.mem.free(z2);
    h.obj.free(big);
    h.check();
  });

  it("freed blocks are reused LIFO, and an emptied pool returns to its arena", () => {
    const h = createHeap();
    const a = h.obj.malloc(64);
    const b = h.obj.malloc(64);
    h.obj.free(a);
    expect(h.obj.malloc(64)).toBe(a);
    h.obj.free(a);
    h.obj.free(b);
    const s = h.stats();
    expect(s.pools.used).toBe(0);
    expect(s.pools.empty).toBe(1);
    h.check();
  });

  it("prefers the fullest arena and hands entirely free arenas back", () => {
    const h = createHeap();
    const perArena = (1 << 20) / 512; // blocks of 512 B
    const blocks: number[] = [];
    for (let i = 0; i < perArena * 3; i++) blocks.push(h.obj.malloc(512));
    const before = h.stats().arenas.current;
    expect(before).toBeGreaterThanOrEqual(4); // 31 blocks of 512 fit a pool after its header
    h.check();
    // Free the first half of the blocks: the arenas they filled become entirely free and go back.
    for (const p of blocks.slice(0, blocks.length / 2)) h.obj.free(p);
    h.check();
    let s = h.stats();
    expect(s.arenas.reclaimed).toBeGreaterThanOrEqual(1);
    expect(s.arenas.current).toBe(before - s.arenas.reclaimed);
    // A new pool comes from the fullest arena, not from the emptiest.
    const o = h.objectAllocator;
    const arenaOf = (p: number) => h.u32[(p - (p % o.poolSize) + C.Pool.ARENA) >>> 2];
    const nfree = (a: number) => h.u32[(a + C.Arena.NFREEPOOLS) >>> 2];
    const usable: number[] = [];
    for (let a = h.u32[o.wUsable]; a !== 0; a = h.u32[(a + C.Arena.NEXT) >>> 2]) usable.push(a);
    expect(usable.length).toBe(2);
    const fullest = usable.reduce((x, y) => (nfree(x) <= nfree(y) ? x : y));
    const p = h.obj.malloc(16);
    expect(arenaOf(p)).toBe(fullest);
    h.obj.free(p);
    for (const p of blocks.slice(blocks.length / 2)) h.obj.free(p);
    h.check();
    s = h.stats();
    expect(s.arenas.current).toBe(1); // one entirely free arena is kept against thrashing
    expect(s.arenas.reclaimed).toBe(s.arenas.allocatedTotal - 1);
  });

  it("a hole left by a freed arena takes a new arena, smaller if a raw block took part of it", () => {
    const h = createHeap();
    const o = h.objectAllocator;
    const perArena = Math.floor((o.poolSize - C.Pool.OVERHEAD) / 512) * o.poolsPerArena;
    const first = Array.from({ length: perArena }, () => h.obj.malloc(512)); // fills arena 1
    const second = Array.from({ length: perArena }, () => h.obj.malloc(512)); // fills arena 2
    const third = h.obj.malloc(512); // arena 3, at the top
    for (const p of first) h.obj.free(p); // arena 1 is entirely free: back to the raw allocator
    expect(h.stats().arenas.reclaimed).toBe(1);
    const raw = h.raw.malloc(200_000); // the best fit for it is the hole arena 1 left
    const top = h.rawAllocator.top;
    const again = Array.from({ length: perArena }, () => h.obj.malloc(512));
    h.check();
    expect(h.rawAllocator.top).toBe(top); // the new arena fit in the rest of the hole
    const totals = new Set<number>();
    for (const first of h.rawAllocator.arenas()) totals.add(h.u32[(o.arenaHeader(first) + C.Arena.NTOTALPOOLS) >>> 2]);
    expect(Math.min(...totals)).toBeLessThan(o.poolsPerArena);
    expect(Math.min(...totals)).toBeGreaterThanOrEqual(o.poolsPerArena / 8);
    for (const p of [...second, third, ...again]) h.obj.free(p);
    h.raw.free(raw);
    h.check();
    expect(h.stats().bytesInUse).toBe(0);
  });

  it("orders usable arenas by free pools (checked by check() at every step)", () => {
    const h = createHeap({ poolSize: 4096, arenaSize: 65536 });
    const live: number[] = [];
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 20000; i++) {
      if (live.length && rnd() < 0.45) h.obj.free(live.splice(Math.floor(rnd() * live.length), 1)[0]);
      else live.push(h.obj.malloc(1 + Math.floor(rnd() * 512)));
      if (i % 997 === 0) h.check();
    }
    h.check();
    for (const p of live) h.obj.free(p);
    h.check();
    expect(h.stats().blocksInUse).toBe(0);
  });

  it("realloc follows CPython: in place within the class unless shrinking by 25% or more", () => {
    const h = createHeap();
    const p = h.obj.malloc(100); // class of 112
    h.u8.fill(9, p, p + 100);
    expect(h.obj.realloc(p, 112)).toBe(p);
    expect(h.obj.realloc(p, 85)).toBe(p); // 4*85 > 3*112
    const q = h.obj.realloc(p, 40); // shrinks a lot: moves to a smaller class
    expect(q).not.toBe(p);
    expect(h.usableSize(q)).toBe(48);
    for (let k = 0; k < 40; k++) expect(h.u8[q + k]).toBe(9);
    const r = h.obj.realloc(q, 2000); // crosses 512: moves to the raw allocator
    expect(h.objectAllocator.isOurs(r)).toBe(false);
    for (let k = 0; k < 40; k++) expect(h.u8[r + k]).toBe(9);
    const s = h.obj.realloc(r, 0); // realloc(p, 0) resizes, does not free
    expect(s).not.toBe(0);
    h.obj.free(s);
    h.check();
    expect(h.stats().blocksInUse).toBe(0);
  });

  it.each([
    ["misaligned", (p: number) => p + 8, "misaligned"],
    ["interior", (p: number) => p + 48, "interior"],
    ["never allocated, in a carved pool", (p: number) => p + 64 * 100, "not-a-block"],
    ["pool header", (p: number) => p - 16, "internal"],
  ])("free of a %s pointer in an arena throws (%s) and changes nothing", (_n, bad, reason) => {
    const h = createHeap();
    const p = h.obj.malloc(64);
    h.obj.malloc(64);
    const before = h.u8.slice(0, h.stats().footprint);
    let err: unknown;
    try {
      h.obj.free(bad(p));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidPointerError);
    expect((err as InvalidPointerError).reason).toBe(reason);
    expect((err as InvalidPointerError).address).toBe(bad(p));
    expect(Buffer.compare(h.u8.slice(0, h.stats().footprint), before)).toBe(0);
    h.check();
  });

  it("catches an immediate double free and a realloc of the block just freed", () => {
    const h = createHeap();
    const p = h.obj.malloc(64);
    h.obj.malloc(64);
    h.obj.free(p);
    expect(() => h.obj.free(p)).toThrow(/double free/);
    expect(() => h.obj.realloc(p, 10)).toThrow(/use after free/);
    h.check();
  });

  it("a free into a pool that holds nothing is refused", () => {
    const h = createHeap();
    h.obj.malloc(32); // keeps the arena around
    const p = h.obj.malloc(64);
    h.obj.free(p);
    expect(() => h.obj.free(p)).toThrow(/holds no blocks/);
    expect(() => h.obj.free(p + (1 << 14) * 3)).toThrow(InvalidPointerError); // never-used pool
    h.check();
  });

  it.each([
    [4096, 65536],
    [4096, 1 << 19],
    [1 << 15, 1 << 21],
  ])("pool %i / arena %i works", (poolSize, arenaSize) => {
    const h = createHeap({ poolSize, arenaSize });
    const ps: number[] = [];
    for (let i = 0; i < 5000; i++) ps.push(h.obj.malloc((i % 512) + 1));
    h.check();
    for (const p of ps) expect(p % poolSize).toBeGreaterThanOrEqual(C.Pool.OVERHEAD);
    for (const p of ps) h.obj.free(p);
    h.check();
  });

  it("rejects pool and arena sizes that are not sane powers of two", () => {
    expect(() => createHeap({ poolSize: 3000 })).toThrow(RangeError);
    expect(() => createHeap({ poolSize: 1024 })).toThrow(RangeError);
    expect(() => createHeap({ poolSize: 1 << 14, arenaSize: 1 << 13 })).toThrow(RangeError);
    expect(() => createHeap({ poolSize: 4096, arenaSize: 1 << 24 })).toThrow(/at most 128 pools/);
  });
});
