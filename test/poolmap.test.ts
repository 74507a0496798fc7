// The pool map in two parts (HEAP_VERSION 6, 7): the slots below 256 MiB (POOL_MAP_LOW_SHIFT) in the
// heap header, those above in a raw chunk taken when an arena first lies past them. A small heap's header is then a few
// KiB; a large heap's blocks past the low part (256 MiB) are found as its own by JS and by the WebAssembly fast
// path, freed, checked, and the map's chunk is never taken for a user block.
import { describe, expect, it } from "vitest";
import { attachHeap, createHeap, constants, heapSvg, InvalidPointerError, type Heap } from "../src/index.js";
import { fastPathModule } from "../src/compat/wasm-imports.js";

const MiB = 2 ** 20;
const LOW = 2 ** constants.POOL_MAP_LOW_SHIFT;

/** The header word H.POOL_MAP_HIGH (the high part's address, 0 until made). */
const mapHigh = (h: Heap): number => h.u32[(h.heapBase >>> 2) + constants.H.POOL_MAP_HIGH];

/** Fill the heap with raw blocks past the low part (256 MiB) so that the next arenas lie above it. */
function pushPastLow(h: Heap): number {
  const big = h.mem.malloc(LOW + 2 * MiB);
  expect(big).not.toBe(0);
  return big;
}

describe("pool map", () => {
  it("a new heap's header holds only the low part: its footprint is a few KiB (it was 37 KiB with the whole map)", () => {
    const h = createHeap();
    expect(h.stats().footprint).toBeLessThan(8 * 1024);
    expect(mapHigh(h)).toBe(0);
    // A heap that cannot grow past the low part (256 MiB) has no high part at all.
    const small = createHeap({ maxBytes: 128 * MiB });
    expect(small.u32[(small.heapBase >>> 2) + constants.H.POOL_MAP_HIGH_BYTES]).toBe(0);
  });

  for (const subPools of [true, false]) {
    it(`blocks past the low part (256 MiB) (subPools: ${subPools}): the high part is made, the blocks are ours, freed, check() agrees; the map's chunk is no user block`, () => {
      const h = createHeap({ subPools });
      const big = pushPastLow(h);
      const blocks: number[] = [];
      for (let i = 0; i < 20000; i++) {
        const p = h.obj.malloc(8 + ((i * 37) % 500));
        h.u8[p] = i & 0xff;
        blocks.push(p);
      }
      expect(blocks.every((p) => p > LOW)).toBe(true);
      const hi = mapHigh(h);
      expect(hi).toBeGreaterThan(0);
      expect(blocks.every((p) => h.objectAllocator.isOurs(p))).toBe(true);
      expect(h.objectAllocator.isOurs(big)).toBe(false);
      h.check();
      // The map's chunk is allocator state: not a raw block in stats(), refused by free().
      expect(h.stats().raw.blocks).toBe(1);
      expect(() => h.mem.free(hi)).toThrow(InvalidPointerError);
      expect(() => h.mem.free(hi)).toThrow(/pool map/);
      expect(heapSvg(h)).toContain(`<title>pool map chunk at ${hi - 8},`); // the heap map names it
      for (let i = 0; i < blocks.length; i += 2) h.obj.free(blocks[i]);
      h.check();
      for (let i = 0; i < blocks.length; i++) if (i % 2 === 1) expect(h.u8[blocks[i]]).toBe(i & 0xff);
      for (let i = 1; i < blocks.length; i += 2) h.obj.free(blocks[i]);
      h.collect();
      h.check();
      // Arenas given back (all but the one usable arena kept): their bits are clear again, the
      // map's chunk stays while an arena lies past the low part, and goes back with the last one.
      const kept = blocks.filter((p) => h.objectAllocator.isOurs(p));
      expect(kept.length).toBeLessThan(blocks.length / 10);
      if (kept.length > 0) expect(Math.max(...kept) - Math.min(...kept)).toBeLessThan(h.objectAllocator.arenaSize);
      expect(mapHigh(h)).toBe(kept.length > 0 ? hi : 0);
      h.mem.free(big);
      h.check();
      expect(h.stats().bytesInUse).toBe(0);
    });
  }

  for (const collect of [true, false]) {
    it(`an emptied heap gives the map's high part back (${collect ? "collect()" : "a request nothing else fits"}): it serves a request a new heap of its limit serves (the part pinned the top)`, () => {
      const h = createHeap({ maxBytes: 512 * MiB });
      const big = h.raw.malloc(300 * MiB);
      const o = h.obj.malloc(16);
      expect(o).toBeGreaterThan(LOW);
      expect(mapHigh(h)).not.toBe(0);
      h.u8[o] = 7;
      h.obj.free(o);
      h.raw.free(big);
      if (collect) {
        h.collect();
        expect(mapHigh(h)).toBe(0);
        h.check();
        expect(h.stats().footprint).toBeLessThan(64 * 1024);
      }
      const b2 = h.raw.malloc(400 * MiB);
      expect(b2).not.toBe(0);
      expect(mapHigh(h)).toBe(0);
      h.check();
      // And the map is made again when an arena lands past the low part once more.
      const o2 = h.obj.malloc(16);
      expect(o2).toBeGreaterThan(LOW);
      expect(mapHigh(h)).not.toBe(0);
      expect(h.objectAllocator.isOurs(o2)).toBe(true);
      h.obj.free(o2);
      h.raw.free(b2);
      h.check();
    });
  }

  it("threads: a handle whose views predate the high part (another thread grew the memory for it) frees blocks past the low part (256 MiB) as its own", () => {
    const a = createHeap({ threads: true, maxThreads: 4 });
    const b = attachHeap(a.memory.source as SharedArrayBuffer); // its views: the memory as it is now
    expect(b.u8.length).toBeLessThan(LOW);
    const big = a.mem.malloc(LOW + 2 * MiB);
    const ps: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const p = a.obj.malloc(16 + (i % 400));
      a.u8[p] = 7;
      ps.push(p);
    }
    expect(mapHigh(a)).toBeGreaterThan(LOW);
    expect(ps.every((p) => p > LOW)).toBe(true);
    for (const p of ps) b.obj.free(p); // remote frees: b's isOurs reads the high part past its views
    a.check();
    for (let i = 0; i < 3000; i++) ps[i] = a.obj.malloc(16 + (i % 400)); // a takes the blocks back
    for (const p of ps) a.obj.free(p);
    a.mem.free(big);
    b.detachThread();
    a.check();
    expect(a.stats().blocksInUse).toBe(0);
  });

  it("a damaged high part is reported by check(): a bit cleared under a live arena, the header word pointing elsewhere", () => {
    const h = createHeap();
    pushPastLow(h);
    const p = h.obj.malloc(64);
    const hi = mapHigh(h);
    const q = p >>> h.objectAllocator.poolShift;
    const at = hi + (q >>> 3) - h.objectAllocator.mapBytes;
    h.u8[at] &= ~(1 << (q & 7));
    expect(() => h.check()).toThrow(/pool map byte/);
    h.u8[at] |= 1 << (q & 7);
    h.check();
    h.u32[(h.heapBase >>> 2) + constants.H.POOL_MAP_HIGH] = hi + 16;
    expect(() => h.check()).toThrow(/POOL_MAP_HIGH|high part/);
  });

  it("the WebAssembly fast path frees blocks past the low part (256 MiB) in wasm, and JS and wasm mix on them", () => {
    const h = createHeap({ memory: new WebAssembly.Memory({ initial: 2, maximum: 65536 }) });
    pushPastLow(h);
    const w = h.wasmImports();
    const ps: number[] = [];
    for (let i = 0; i < 5000; i++) ps.push(w.malloc(16 + (i % 300)));
    expect(ps.every((p) => p > LOW)).toBe(true);
    // Freed in wasm: the fast path reads the high part too (a call into JS only for its pools'
    // own work), where before every such free went to JS.
    const slowFrees = { n: 0 };
    const fp = new WebAssembly.Instance(fastPathModule(false), {
      env: { memory: h.memory.source as WebAssembly.Memory },
      pymalloc: { malloc: (n: number) => h.obj.malloc(n >>> 0), calloc: (a: number, b: number) => h.obj.calloc(a >>> 0, b >>> 0), realloc: (p: number, n: number) => h.obj.realloc(p >>> 0, n >>> 0), free: (p: number) => (slowFrees.n++, h.obj.free(p >>> 0)) },
    }).exports as unknown as { init(b: number, s: number): void; free(p: number): void };
    fp.init(h.heapBase, h.threadId);
    for (const p of ps) fp.free(p);
    expect(slowFrees.n).toBeLessThan(ps.length / 20);
    h.check();
    // Mixed: wasm allocates, JS frees half; JS allocates, wasm frees; wasm reallocs; contents kept.
    const a: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const p = i % 2 === 0 ? w.malloc(24 + (i % 200)) : h.obj.malloc(24 + (i % 200));
      h.u32[p >>> 2] = i;
      a.push(p);
    }
    expect(a.every((p) => p > LOW)).toBe(true);
    for (let i = 0; i < a.length; i += 4) h.obj.free(a[i]);
    for (let i = 1; i < a.length; i += 4) w.free(a[i]);
    h.check();
    for (let i = 2; i < a.length; i += 4) {
      a[i] = w.realloc(a[i], 300);
      expect(h.u32[a[i] >>> 2]).toBe(i);
    }
    for (let i = 3; i < a.length; i += 4) expect(h.u32[a[i] >>> 2]).toBe(i);
    for (let i = 2; i < a.length; i += 4) w.free(a[i]);
    for (let i = 3; i < a.length; i += 4) h.mem.free(a[i]);
    h.check();
    expect(h.stats().blocksInUse).toBe(1); // the raw block below
  });
});
