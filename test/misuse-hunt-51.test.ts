// Session 51's misuse and corruption hunt: the deterministic cases of what it found, each failing
// before its fix. Its stray-write fuzz (several of the allocator's words written at once, then a
// program that goes on with introspection, attachHeap and misuse among its calls, on every memory
// kind: test/stray-fuzz.test.ts) found the debug quarantine's and realloc's refusals that changed
// the block; its odd-argument probe, viewAt's address.
import { describe, expect, it } from "vitest";
import { constants, createHeap, HeapCorruptionError, InvalidPointerError } from "../src/index.js";
import { thrownBy } from "./helpers.js";

const { Debug, H } = constants;

/** Whether two copies of a memory are byte for byte the same (toEqual over a MiB takes seconds). */
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

describe("debug modes: a damaged quarantine ring refuses a free or realloc before the block is touched", () => {
  for (const allocator of ["debug", "malloc_debug"] as const) {
    for (const word of ["Q_HEAD", "Q_CAPACITY"] as const) {
      it(`${allocator}, ${word} written over: realloc and free throw HeapCorruptionError, the memory unchanged (the block was painted 0xDD and marked freed, and realloc's new block kept)`, () => {
        const h = createHeap({ allocator, traceAllocations: false });
        const p = h.mem.malloc(40);
        h.u8.fill(7, p, p + 40);
        h.mem.free(h.mem.malloc(40)); // the ring in use
        const ring = h.u32[(h.heapBase >>> 2) + H.QUARANTINE];
        expect(ring).not.toBe(0);
        h.u32[(ring + Debug[word]) >>> 2] = 0x7fffffff;
        const before = h.u8.slice();
        expect(() => h.mem.realloc(p, 400)).toThrow(HeapCorruptionError);
        expect(same(h.u8.slice(), before)).toBe(true);
        expect(() => h.mem.free(p)).toThrow(HeapCorruptionError);
        expect(same(h.u8.slice(), before)).toBe(true);
      });
    }
  }

  it("a full ring whose oldest entry was written over: the eviction refuses the call before the block is touched", () => {
    const h = createHeap({ allocator: "debug", traceAllocations: false, quarantineBlocks: 2 });
    const p = h.mem.malloc(40);
    h.u8.fill(7, p, p + 40);
    h.mem.free(h.mem.malloc(40));
    h.mem.free(h.mem.malloc(40)); // the ring full
    const ring = h.u32[(h.heapBase >>> 2) + H.QUARANTINE];
    const oldest = ring + Debug.Q_ENTRIES + Debug.Q_ENTRY * h.u32[(ring + Debug.Q_HEAD) >>> 2];
    h.u32[(oldest + Debug.Q_ENTRY_USABLE) >>> 2] += 8;
    const before = h.u8.slice();
    expect(() => h.mem.realloc(p, 400)).toThrow(HeapCorruptionError);
    expect(same(h.u8.slice(), before)).toBe(true);
    expect(() => h.mem.free(p)).toThrow(HeapCorruptionError);
    expect(same(h.u8.slice(), before)).toBe(true);
  });
});

describe("realloc of a pool's last block whose emptying meets a damaged arena header", () => {
  for (const [name, opts] of [["whole pools", { subPools: false }], ["hardened", { hardened: true, subPools: false }]] as const) {
    it(`${name}: HeapCorruptionError, the block's bytes as they were (its first 8 were a free-list link and the free tag), nothing else changed but the refused move's`, () => {
      const h = createHeap(opts);
      const p = h.obj.malloc(400); // the only block of its pool: realloc's free(p) empties it (with sub-pools, its sub-pool goes to the free sub-pool list, no arena word read)
      for (let i = 0; i < 400; i++) h.u8[p + i] = (i * 7 + 1) & 255;
      h.obj.malloc(100); // q's pool, taken before the damage (a new pool would meet it first)
      const bytes = h.u8.slice(p, p + 400);
      const pool = h.objectAllocator.poolOf(p);
      const ao = h.u32[(pool + constants.Pool.ARENA) >>> 2];
      h.u32[(ao + constants.Arena.NTOTALPOOLS) >>> 2] += 1;
      expect(() => h.obj.realloc(p, 100)).toThrow(HeapCorruptionError); // shrinks by 75%: moves
      expect(same(h.u8.slice(p, p + 400), bytes)).toBe(true);
      expect(h.u32[pool >>> 2]).toBe(1); // p counted in use
    });
  }
});

describe("viewAt's address that is no byte offset", () => {
  it("is shown and kept as given, as free's is (2 ** 53 was viewAt(0x00000000) with .address 0, 1.5 was 0x00000001)", () => {
    const h = createHeap();
    for (const p of [2 ** 53, 1.5, -8, 2 ** 32, NaN]) {
      const e = thrownBy(() => h.mem.viewAt(Uint8Array, p, 4)) as InvalidPointerError;
      expect(e).toBeInstanceOf(InvalidPointerError);
      expect(e.message.startsWith(`viewAt(${p}): `)).toBe(true);
      expect(e.address).toBe(p);
      expect(e.reason).toBe("out-of-range");
    }
  });
});

describe("debug: the quarantine's byte limit, its oldest entry written over", () => {
  it("a realloc whose block would take the ring past quarantineBytes is refused before anything moves (it was refused after: the block in quarantine, marked freed, its new block kept)", () => {
    const h = createHeap({ allocator: "debug", traceAllocations: false, quarantineBytes: 100 });
    const p = h.mem.malloc(60);
    h.u8.fill(7, p, p + 60);
    h.mem.free(h.mem.malloc(60)); // 60 of the ring's 100 bytes
    const ring = h.u32[(h.heapBase >>> 2) + H.QUARANTINE];
    const oldest = ring + Debug.Q_ENTRIES + Debug.Q_ENTRY * h.u32[(ring + Debug.Q_HEAD) >>> 2];
    h.u32[(oldest + Debug.Q_ENTRY_USABLE) >>> 2] += 8;
    const before = h.u8.slice();
    expect(() => h.mem.realloc(p, 200)).toThrow(HeapCorruptionError);
    expect(same(h.u8.slice(), before)).toBe(true);
    expect(() => h.mem.free(p)).toThrow(HeapCorruptionError);
    expect(same(h.u8.slice(), before)).toBe(true);
  });
});
