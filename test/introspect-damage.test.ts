// The introspection calls over a damaged heap (a stray-write hunt's leftovers, session 44): walk(),
// stats() and leaks() either give what the undamaged heap gives or throw a HeapCorruptionError
// naming the word; before session 45 each case below counted blocks wrong without an error.
import { describe, expect, it } from "vitest";
import { attachHeap, constants, createHeap, type Heap } from "../src/index.js";
import { caught, corruption } from "./helpers.js";

const { Arena, Debug, H, Pool, Sample } = constants;


/** A heap with small blocks of several classes in several pools, some freed. */
function heapWithPools(options = {}): { h: Heap; live: number[] } {
  const h = createHeap(options);
  const live: number[] = [];
  for (let i = 0; i < 600; i++) live.push(h.obj.malloc(8 + ((i * 37) % 500)));
  for (let i = 0; i < live.length; i += 5) h.obj.free(live[i]);
  return { h, live: live.filter((_, i) => i % 5 !== 0) };
}

const poolOf = (h: Heap, p: number): number => {
  // The pool header of a small block: its slot's, or its sub-pool's (Pool.SUB gives the shift).
  const slot = p & ~(h.objectAllocator.poolSize - 1);
  const sub = h.u32[(slot + Pool.SUB) >>> 2] & 0xff;
  return sub === 0 ? slot : p & ~((1 << sub) - 1);
};

/** Each introspection call over h throws a HeapCorruptionError naming `field`. */
function allName(h: Heap, field: string): void {
  expect(corruption(() => h.walk(() => {})).field).toBe(field);
  expect(corruption(() => h.leaks()).field).toBe(field);
  expect(corruption(() => h.check()).field).toBeTruthy();
}

describe("walk(), stats() and leaks() over a damaged pool or arena header", () => {
  it("an arena's next-pool address lowered over carved pools: their blocks are not dropped", () => {
    const { h, live } = heapWithPools();
    const pool = poolOf(h, live[live.length - 1]);
    const a = h.u32[(pool + Pool.ARENA) >>> 2];
    const first = h.u32[(a + Arena.FIRST) >>> 2];
    expect(h.u32[(a + Arena.POOL_ADDRESS) >>> 2]).toBeGreaterThan(first);
    h.u32[(a + Arena.POOL_ADDRESS) >>> 2] = first;
    allName(h, "Arena.POOL_ADDRESS");
    expect(corruption(() => h.stats()).field).toBe("Arena.POOL_ADDRESS");
    // And one outside its arena.
    h.u32[(a + Arena.POOL_ADDRESS) >>> 2] = 1;
    expect(corruption(() => h.stats()).field).toBe("Arena.POOL_ADDRESS");
  });

  it("a pool's size class changed to another class: its blocks are not walked at the wrong size", () => {
    const { h, live } = heapWithPools();
    const pool = poolOf(h, live[3]);
    const idx = h.u32[(pool + Pool.SZIDX) >>> 2];
    h.u32[(pool + Pool.SZIDX) >>> 2] = idx === 0 ? 1 : idx - 1;
    allName(h, "Pool.INVERSE");
    expect(corruption(() => h.stats()).field).toBe("Pool.INVERSE");
  });

  it("a pool's next-block offset moved by a block, or its count set to 0: named, not miscounted", () => {
    for (const [field, change] of [
      ["Pool.NEXTOFFSET", (w: number) => w + 8],
      ["Pool.NEXTOFFSET", (w: number) => w - 1],
      ["Pool.COUNT", (w: number) => w - w],
    ] as const) {
      const { h, live } = heapWithPools();
      const pool = poolOf(h, live[7]);
      const at = pool + (field === "Pool.COUNT" ? Pool.COUNT : Pool.NEXTOFFSET);
      const size = constants.classSize(h.u32[(pool + Pool.SZIDX) >>> 2], h.objectAllocator.alignShift);
      h.u32[at >>> 2] = field === "Pool.NEXTOFFSET" && change(0) === 8 ? h.u32[at >>> 2] + size : change(h.u32[at >>> 2]);
      const e = corruption(() => h.walk(() => {}));
      expect(e.field).toMatch(/^Pool\.(NEXTOFFSET|COUNT)$/);
      expect(corruption(() => h.leaks()).field).toMatch(/^Pool\.(NEXTOFFSET|COUNT)$/);
    }
  });

  it("a full pool's count lowered: stats(), which follows no free list, names it too", () => {
    const { h } = heapWithPools();
    const full = Array.from({ length: 400 }, () => h.obj.malloc(200));
    const pool = poolOf(h, full[200]);
    expect(h.u32[(pool + Pool.FREEBLOCK) >>> 2]).toBe(0); // full: its free list is empty
    h.u32[(pool + Pool.COUNT) >>> 2] -= 1;
    expect(corruption(() => h.stats()).field).toBe("Pool.COUNT");
    expect(corruption(() => h.walk(() => {})).field).toBe("Pool.COUNT");
  });

  it("H.POOL_MAP_HIGH moved onto an arena: the arena's blocks are not taken for the pool map", () => {
    const { h, live } = heapWithPools();
    const before = h.stats().blocksInUse;
    expect(before).toBe(live.length);
    const pool = poolOf(h, live[0]);
    const a = h.u32[(pool + Pool.ARENA) >>> 2];
    h.u32[(h.heapBase >>> 2) + H.POOL_MAP_HIGH] = h.u32[(a + Arena.FIRST) >>> 2];
    allName(h, "H.POOL_MAP_HIGH");
    expect(corruption(() => h.stats()).field).toBe("H.POOL_MAP_HIGH");
  });
});

describe("walk() and leaks() over a damaged debug header or sampling state", () => {
  it("a live debug block whose family byte gained the freed bit is named, not skipped", () => {
    for (const quarantineBlocks of [64, 0]) {
      const h = createHeap({ allocator: "debug", quarantineBlocks, traceAllocations: false });
      const ps = [10, 100, 300, 2000].map((n) => h.obj.malloc(n));
      h.obj.free(h.obj.malloc(40)); // one block in quarantine (when there is one)
      expect(h.leaks().blocks.length).toBe(4);
      h.u8[ps[1] - Debug.HEADER + Debug.FAMILY] |= Debug.FREED_BIT;
      const field = quarantineBlocks === 0 ? "Debug.FAMILY" : "Debug.Q_COUNT";
      expect(corruption(() => h.walk(() => {})).field).toBe(field);
      expect(corruption(() => h.leaks()).field).toBe(field);
      expect(() => h.check()).toThrow();
    }
  });

  it("a live debug block's size word changed to another that fits: named (its check copy), not walked at that size", () => {
    for (const delta of [-1, 1, 8, -8]) {
      const h = createHeap({ allocator: "debug", traceAllocations: false });
      const ps = [10, 100, 300, 2000].map((n) => h.obj.malloc(n));
      const base = ps[2] - Debug.HEADER;
      h.u32[(base + Debug.SIZE) >>> 2] += delta; // 300 + delta still fits the block with its pads
      expect(caught(() => h.walk(() => {})).kind).toBe("underflow");
      expect(caught(() => h.check()).kind).toBe("underflow");
      expect(caught(() => h.obj.free(ps[2])).kind).toBe("underflow");
    }
  });

  it("the sampling state's table word set to 0: check(), walk() and stats() name it (the table read as a user's block)", () => {
    const h = createHeap({ sampleInterval: 64 });
    const live = Array.from({ length: 300 }, (_, i) => h.mem.malloc(1 + ((i * 37) % 512)));
    expect(h.stats().blocksInUse).toBe(live.length);
    const state = h.u32[(h.heapBase >>> 2) + H.SAMPLES];
    const table = h.u32[(state + Sample.S_TABLE) >>> 2];
    expect(table).not.toBe(0);
    h.u32[(state + Sample.S_TABLE) >>> 2] = 0;
    expect(corruption(() => h.check()).field).toBe("Sample.S_TABLE");
    expect(corruption(() => h.walk(() => {})).field).toBe("Sample.S_TABLE");
    expect(corruption(() => h.stats()).field).toBe("Sample.S_TABLE");
    // Moved onto another address: named as no table, not walked as one.
    for (const v of [table + 16, live[5], 1]) {
      h.u32[(state + Sample.S_TABLE) >>> 2] = v;
      expect(corruption(() => h.walk(() => {})).field).toMatch(/^Sample\./);
      expect(corruption(() => h.stats()).field).toMatch(/^Sample\./);
    }
    h.u32[(state + Sample.S_TABLE) >>> 2] = table;
    h.check();
  });

  it("H.SAMPLES set to 0 in a sampled heap: attachHeap refuses the copy (the sampler's blocks read as users')", () => {
    const h = createHeap({ sampleInterval: 64, memory: new SharedArrayBuffer(1 << 20, { maxByteLength: 1 << 24 }) });
    for (let i = 0; i < 300; i++) h.mem.malloc(1 + ((i * 37) % 512));
    h.u32[(h.heapBase >>> 2) + H.SAMPLES] = 0;
    expect(corruption(() => attachHeap(h.memory.source as SharedArrayBuffer)).field).toBe("H.SAMPLES");
    expect(corruption(() => h.check()).field).toBe("H.SAMPLES");
    // And a sampling state word in a heap made without sampled sites.
    const plain = createHeap({ memory: new SharedArrayBuffer(1 << 20, { maxByteLength: 1 << 24 }) });
    plain.u32[(plain.heapBase >>> 2) + H.SAMPLES] = 4096;
    expect(corruption(() => attachHeap(plain.memory.source as SharedArrayBuffer)).field).toBe("H.SAMPLES");
  });

  it("a sample entry's address written over: leaks() names the table's count instead of losing the sample", () => {
    const h = createHeap({ sampleInterval: 64 });
    for (let i = 0; i < 300; i++) h.mem.malloc(1 + ((i * 37) % 512));
    const state = h.u32[(h.heapBase >>> 2) + H.SAMPLES];
    const t = h.u32[(state + Sample.S_TABLE) >>> 2];
    let e = t + Sample.HEADER;
    while (h.u32[e >>> 2] <= Sample.TOMBSTONE) e += Sample.ENTRY;
    h.u32[e >>> 2] = 0;
    expect(corruption(() => h.leaks()).field).toBe("Sample.LIVE");
    expect(corruption(() => h.check()).field).toBe("Sample.LIVE");
  });
});

describe("ALIGN_SHIFT where the young limits record none (subPools: false)", () => {
  it("a flipped alignment word is refused by attachHeap, as with sub-pools (HeapFlag.MIN_ALIGNMENT)", () => {
    for (const opts of [{ subPools: false }, { subPools: false, alignment: 16 }, { alignment: 16 }, {}] as const) {
      const h = createHeap({ ...opts, memory: new SharedArrayBuffer(1 << 20, { maxByteLength: 1 << 24 }) });
      for (let i = 0; i < 50; i++) h.mem.malloc(1 + i * 9);
      h.u32[(h.heapBase >>> 2) + H.ALIGN_SHIFT] ^= 7; // 3 <-> 4
      expect(corruption(() => attachHeap(h.memory.source as SharedArrayBuffer)).field).toBe("H.ALIGN_SHIFT");
    }
  });
});
