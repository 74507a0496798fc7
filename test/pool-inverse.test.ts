// test/pool-inverse.test.ts — free()'s block-boundary test by one multiplication (Pool.INVERSE,
// blockInverse and onBoundary in src/constants.ts; wasm/obmalloc/pool.ts's twins): exact for
// every block size a heap can have and every offset in every pool size it allows, checked
// exhaustively; and the pool header word itself, written by each way of starting a pool.

import { describe, expect, it } from "vitest";
import { blockInverse, classSize, inverseOk, onBoundary, sizeClasses, MAX_POOL_SHIFT, MIN_POOL_SHIFT, Pool, Size } from "../src/constants.js";
import { createHeap } from "../src/index.js";

/** Every block size of every alignment a heap may choose (8..512 by 8 holds the 16-byte classes too). */
const SIZES = Array.from({ length: sizeClasses(Size.MIN_ALIGNMENT_SHIFT) }, (_, i) => classSize(i, Size.MIN_ALIGNMENT_SHIFT));

describe("blockInverse and onBoundary", () => {
  it("the sizes cover both alignments' classes", () => {
    for (const shift of [Size.MIN_ALIGNMENT_SHIFT, Size.ALIGNMENT_SHIFT])
      for (let i = 0; i < sizeClasses(shift); i++) expect(SIZES).toContain(classSize(i, shift));
    expect(Math.max(...SIZES)).toBe(Size.SMALL_REQUEST_THRESHOLD);
  });

  it("blockInverse(size) is ceil(2^32 / size), a small integer, and the only word with inv * size in [2^32, 2^32 + size) (wasm's inverseOk)", () => {
    for (const d of SIZES) {
      const inv = blockInverse(d);
      expect(inv).toBe(Math.ceil(2 ** 32 / d));
      expect(inv).toBeLessThan(2 ** 30);
      const ok = (c: number) => BigInt(c) * BigInt(d) - 2n ** 32n >= 0n && BigInt(c) * BigInt(d) - 2n ** 32n < BigInt(d);
      expect(ok(inv)).toBe(true);
      expect(ok(inv - 1) || ok(inv + 1)).toBe(false);
      expect(inverseOk(inv, d) && !inverseOk(inv - 1, d) && !inverseOk(inv + 1, d) && !inverseOk(0, d) && !inverseOk(0xffffffff, d)).toBe(true);
    }
    expect(blockInverse(0)).toBe(0);
  });

  it("is exact for every size and every offset of the largest pool (every smaller pool's offsets are among them)", () => {
    expect(MAX_POOL_SHIFT).toBeLessThanOrEqual(20); // 32 >= bits(offset) + bits(size): 20 + 10
    const n = 1 << MAX_POOL_SHIFT;
    let wrong = "";
    for (const d of SIZES) {
      const inv = blockInverse(d);
      let hits = 0;
      for (let off = 0; off < n; off++) {
        const on = Math.imul(off, inv) >>> 0 < inv;
        if (on !== (off % d === 0)) {
          wrong = `size ${d}, offset ${off}`;
          break;
        }
        if (on) hits++;
      }
      if (wrong) break;
      expect(hits).toBe(Math.ceil(n / d));
      expect(onBoundary(d * 3, inv) && !onBoundary(d * 3 + 4, inv)).toBe(true); // the exported form, as written out above
    }
    expect(wrong).toBe("");
    expect(MIN_POOL_SHIFT).toBeGreaterThan(0);
  });

  it("a negative offset (a pointer into the pool header) can pass the product's test: free tests off >= 0 on its own", () => {
    // -8 * 2^29 = -2^32: 0 mod 2^32. Hence the explicit off < 0 test in free()'s fast paths.
    expect(onBoundary(-8, blockInverse(8))).toBe(true);
    const h = createHeap();
    const p = h.obj.malloc(8);
    const pool = h.objectAllocator.poolOf(p);
    expect(() => h.obj.free(pool + Pool.OVERHEAD - 8)).toThrow(/header/);
    h.obj.free(p);
    h.check();
  });
});

describe("Pool.INVERSE in the heap", () => {
  for (const opts of [{}, { alignment: 16 as const }, { subPools: false }, { threads: true }, { poolSize: 1 << MIN_POOL_SHIFT }, { poolSize: 1 << MAX_POOL_SHIFT, arenaSize: 1 << MAX_POOL_SHIFT }]) {
    it(`every pool's word is its class's (${JSON.stringify(opts)})`, () => {
      const h = createHeap(opts);
      const got: number[] = [];
      for (let n = 1; n <= Size.SMALL_REQUEST_THRESHOLD; n += 7) for (let k = 0; k < 40; k++) got.push(h.obj.malloc(n));
      const oa = h.objectAllocator;
      const pools = new Set(got.map((p) => oa.poolOf(p)));
      expect(pools.size).toBeGreaterThan(20);
      for (const pool of pools) {
        const size = classSize(h.u32[(pool + Pool.SZIDX) >>> 2], oa.alignShift);
        expect(h.u32[(pool + Pool.INVERSE) >>> 2]).toBe(blockInverse(size));
      }
      for (const p of got) h.obj.free(p);
      h.check();
    });
  }
});
