// Property tests: random programs of malloc/calloc/realloc/free over all three families, in
// both modes and several pool/arena geometries, checked against a model of live blocks.
import fc from "fast-check";
import { describe, it } from "vitest";
import { createHeap, type HeapOptions } from "../src/index.js";
import { BlockModel } from "./helpers.js";

type Op =
  | { k: "malloc" | "calloc"; fam: 0 | 1 | 2; size: number }
  | { k: "realloc"; idx: number; size: number }
  | { k: "free"; idx: number };

const size = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 512 }) },
  { weight: 2, arbitrary: fc.integer({ min: 513, max: 5000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 5000, max: 300000 }) },
);
const fam = fc.constantFrom(0 as const, 1 as const, 2 as const);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant("malloc" as const), fam, size }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("calloc" as const), fam, size }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("realloc" as const), idx: fc.nat(), size }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("free" as const), idx: fc.nat() }) },
);

function run(options: HeapOptions, ops: Op[]): void {
  const h = createHeap(options);
  const fams = [h.raw, h.mem, h.obj];
  const ids = ["r", "m", "o"];
  const m = new BlockModel(h);
  let value = 1;
  for (const o of ops) {
    const live = [...m.live.keys()];
    if (o.k === "malloc" || o.k === "calloc") {
      const p = o.k === "malloc" ? fams[o.fam].malloc(o.size) : fams[o.fam].calloc(o.size, 1);
      if (p === 0) throw new Error(`${o.k}(${o.size}) failed`);
      if (o.k === "calloc") for (let k = 0; k < o.size; k++) if (h.u8[p + k] !== 0) throw new Error("calloc not zeroed");
      m.add(p, o.size, value++ & 255, ids[o.fam]);
    } else if (live.length > 0) {
      const p = live[o.idx % live.length];
      const b = m.live.get(p)!;
      const f = fams[ids.indexOf(b.family)];
      if (o.k === "free") {
        m.remove(p);
        f.free(p);
      } else {
        m.verifyBlock(p);
        const q = f.realloc(p, o.size);
        if (q === 0) throw new Error(`realloc(${o.size}) failed`);
        m.live.delete(p);
        m.live.set(q, { ...b, size: Math.min(b.size, o.size) });
        m.verifyBlock(q); // contents preserved up to the smaller size
        m.live.delete(q);
        m.add(q, o.size, value++ & 255, b.family);
      }
    }
  }
  m.verifyAll();
  h.check();
  for (const [p, b] of [...m.live]) {
    m.remove(p);
    fams[ids.indexOf(b.family)].free(p);
  }
  h.debug?.drainQuarantine(); // freed blocks held back by the debug hooks go back now
  h.check();
  if (h.stats().blocksInUse !== 0) throw new Error("blocks left in use after freeing all");
}

describe("random allocation programs keep every block intact", () => {
  const geometries: Array<[string, HeapOptions]> = [
    ["pymalloc", { allocator: "pymalloc" }],
    ["pymalloc, 4 KiB pools / 64 KiB arenas", { allocator: "pymalloc", poolSize: 4096, arenaSize: 65536 }],
    ["pymalloc, alignment 16", { allocator: "pymalloc", alignment: 16 }],
    ["debug, alignment 16", { allocator: "debug", alignment: 16, traceAllocations: false }],
    ["malloc", { allocator: "malloc" }],
    ["debug (pymalloc below)", { allocator: "debug", traceAllocations: false }],
    ["malloc_debug, quarantine of 8", { allocator: "malloc_debug", traceAllocations: false, quarantineBlocks: 8 }],
    ["pymalloc on WebAssembly.Memory", { allocator: "pymalloc", memory: undefined }],
    ["pymalloc, subPools: true", { allocator: "pymalloc", subPools: true }],
    ["pymalloc, subPools: true, 4 KiB pools", { allocator: "pymalloc", subPools: true, poolSize: 4096, arenaSize: 16384 }],
    ["debug over pymalloc, subPools: true", { allocator: "debug", subPools: true, traceAllocations: false }],
  ];
  it.each(geometries)("%s", (name, options) => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 400 }), (ops) =>
        run(name.includes("WebAssembly") ? { ...options, memory: new WebAssembly.Memory({ initial: 1, maximum: 2000 }) } : options, ops),
      ),
      { numRuns: 150 },
    );
  });
});
