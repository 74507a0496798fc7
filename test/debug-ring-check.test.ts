// The quarantine ring entry's check word (Debug.Q_ENTRY_CHECK, HEAP_VERSION 21, session 54): the
// eviction trusts an entry whose check word agrees with its base, usable bytes and its block's
// serial, in place of looking the block up in the allocator below. A damaged entry (any of its
// three words), or one naming a block that has left the quarantine, is still refused as the ring's
// HeapCorruptionError before anything is written, and check() names the word.
import { describe, expect, it } from "vitest";
import { constants, createHeap, HeapCorruptionError, type Heap } from "../src/index.js";
import { thrownBy } from "./helpers.js";

const { Debug, H } = constants;

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;
const ringOf = (h: Heap): number => h.u32[(h.heapBase >>> 2) + H.QUARANTINE];
const slotOf = (h: Heap, i: number): number => {
  const ring = ringOf(h);
  const cap = h.u32[(ring + Debug.Q_CAPACITY) >>> 2];
  return ring + Debug.Q_ENTRIES + Debug.Q_ENTRY * ((h.u32[(ring + Debug.Q_HEAD) >>> 2] + i) % cap);
};

describe("debug quarantine: a ring entry's check word", () => {
  for (const allocator of ["debug", "malloc_debug", "pymalloc_debug"] as const) {
    it(`${allocator}: an entry holds its block's base, usable bytes and base ^ usable ^ serial ^ Q_ENTRY_KEY; check() passes`, () => {
      const h = createHeap({ allocator, traceAllocations: false, quarantineBlocks: 4 });
      const p = h.mem.malloc(40);
      h.mem.free(p);
      const e = slotOf(h, 0);
      const base = p - Debug.HEADER;
      expect(h.u32[e >>> 2]).toBe(base);
      const usable = h.u32[(e + Debug.Q_ENTRY_USABLE) >>> 2];
      expect(((h.u32[(e + Debug.Q_ENTRY_CHECK) >>> 2] ^ base ^ usable ^ h.u32[(base + Debug.SERIAL) >>> 2]) >>> 0) === Debug.Q_ENTRY_KEY).toBe(true);
      h.check();
    });

    for (const [what, word, change] of [
      ["the check word", Debug.Q_ENTRY_CHECK, 1],
      ["the usable count (raised by 8, check word as it was)", Debug.Q_ENTRY_USABLE, 8],
      ["the usable count (lowered by 8)", Debug.Q_ENTRY_USABLE, -8],
      ["the base (moved onto the next block's)", 0, 64],
    ] as const) {
      it(`${allocator}: the oldest entry's ${what} written over: a full ring's free and realloc throw the ring's HeapCorruptionError, the memory unchanged; check() names the entry`, () => {
        const h = createHeap({ allocator, traceAllocations: false, quarantineBlocks: 2 });
        const p = h.mem.malloc(40);
        h.u8.fill(7, p, p + 40);
        h.mem.free(h.mem.malloc(40));
        h.mem.free(h.mem.malloc(40)); // the ring full
        const e = slotOf(h, 0);
        h.u32[(e + word) >>> 2] = (h.u32[(e + word) >>> 2] + change) >>> 0;
        const before = h.u8.slice();
        const err = thrownBy(() => h.mem.free(p)) as HeapCorruptionError;
        expect(err).toBeInstanceOf(HeapCorruptionError);
        expect(err.message).toMatch(/debug quarantine entry 0x[0-9a-f]+ is no freed block of the recorded size/);
        expect(same(h.u8.slice(), before)).toBe(true);
        expect(() => h.mem.realloc(p, 400)).toThrow(HeapCorruptionError);
        expect(same(h.u8.slice(), before)).toBe(true);
        expect(() => h.check()).toThrow(/quarantine entry/);
      });
    }

    it(`${allocator}: check() names a damaged check word itself (the entry's base and usable count right)`, () => {
      const h = createHeap({ allocator, traceAllocations: false, quarantineBlocks: 4 });
      h.mem.free(h.mem.malloc(24));
      const e = slotOf(h, 0);
      h.u32[(e + Debug.Q_ENTRY_CHECK) >>> 2] ^= 0x100;
      const err = thrownBy(() => h.check()) as HeapCorruptionError;
      expect(err).toBeInstanceOf(HeapCorruptionError);
      expect(err.message).toMatch(/check word does not agree/);
      expect(err.address).toBe(e + Debug.Q_ENTRY_CHECK);
    });

    it(`${allocator}: a quarantined block's serial word written over (its entry's check no longer agrees): the eviction refuses the block`, () => {
      const h = createHeap({ allocator, traceAllocations: false, quarantineBlocks: 1 });
      const a = h.mem.malloc(40);
      h.mem.free(a);
      h.u32[(a - Debug.HEADER + Debug.SERIAL) >>> 2] += 1;
      const b = h.mem.malloc(40);
      expect(() => h.mem.free(b)).toThrow(/debug quarantine entry 0x[0-9a-f]+ is no freed block of the recorded size/);
    });

    it(`${allocator}: the head moved back onto an entry whose block has left the quarantine (released below): refused, the block not released a second time`, () => {
      const h = createHeap({ allocator, traceAllocations: false, quarantineBlocks: 4, quarantineBytes: 100 });
      const x = h.mem.malloc(40);
      const a = h.mem.malloc(40);
      h.mem.free(a); // slot 0
      h.mem.free(h.mem.malloc(40)); // slot 1: 80 bytes
      h.mem.free(h.mem.malloc(40)); // a evicted (80 + 40 > 100), released below; this one in slot 2
      const ring = ringOf(h);
      expect(h.u32[(ring + Debug.Q_HEAD) >>> 2]).toBe(1);
      expect(h.u32[(ring + Debug.Q_ENTRIES) >>> 2]).toBe(a - Debug.HEADER); // a's entry, stale
      h.u32[(ring + Debug.Q_HEAD) >>> 2] = 0;
      h.u32[(ring + Debug.Q_COUNT) >>> 2] = 3;
      const before = h.u8.slice();
      const err = thrownBy(() => h.mem.free(x)) as HeapCorruptionError;
      expect(err).toBeInstanceOf(HeapCorruptionError);
      expect(err.message).toMatch(/debug quarantine entry 0x[0-9a-f]+ is no freed block of the recorded size/);
      expect(same(h.u8.slice(), before)).toBe(true);
    });
  }
});
