// test/workers/grow-warm.mjs — run as its own process by test/views.test.ts ("after V8 optimized
// the allocator"): an unshared WebAssembly.Memory grown from outside (JS's memory.grow(), as a
// module's own memory.grow would), then the heap used from JS with no view read first, after
// the allocator's code was warmed up on every memory kind. V8 11 (Node 20) then reads a detached
// view's `length` as its old length in optimized code (memory.ts, DETACHED): a test on it let
// free() take a pool block for a raw chunk (a false InvalidPointerError). A fresh process: the
// outcome depends on what V8 has compiled, which a test runner's earlier tests would change.
// Prints one JSON line: { failures: [..] } (empty when every call was right).
import { readFileSync } from "node:fs";
import { attachHeap, createHeap, fromExports } from "../../dist/index.js";

const rounds = Number(process.argv[2] ?? 4);
const DLMALLOC = new WebAssembly.Module(readFileSync(new URL("../../wasm/dlmalloc/dlmalloc.wasm", import.meta.url)));
const failures = [];
const fail = (what, e) => failures.push(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);

// Warm-up: random traffic through two handles on every memory kind and mode, so that the
// allocator's functions are optimized having seen views over resizable and growable buffers.
function warm(seed) {
  for (const kind of ["growable-shared", "resizable", "wasm"])
    for (const allocator of ["pymalloc", "malloc", "debug"]) {
      const a = createHeap({ memoryKind: kind, allocator, traceAllocations: false, initialBytes: 65536 });
      const b = attachHeap(a.memory.source);
      const live = [];
      const r = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
      for (let i = 0; i < 6000; i++) {
        const h = r() < 0.5 ? a : b;
        if (r() < 0.55 || live.length === 0) {
          const fam = ["raw", "mem", "obj"][(r() * 3) | 0];
          const p = h[fam].malloc(1 + (r() < 0.1 ? 513 + ((r() * 40000) | 0) : (r() * 512) | 0));
          h.u8[p] = 1;
          live.push([p, fam]);
        } else {
          const k = (r() * live.length) | 0;
          const [p, fam] = live[k];
          if (r() < 0.2) live[k][0] = h[fam].realloc(p, 1 + ((r() * 900) | 0));
          else {
            h[fam].free(p);
            live.splice(k, 1);
          }
        }
        if ((i & 1023) === 0) h.stats();
      }
    }
}

for (let round = 0; round < rounds; round++) {
  warm(7 + round);
  for (const [allocator, hardened] of [["pymalloc", false], ["malloc", false], ["debug", false], ["pymalloc", true]]) {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 4096 });
    const h = createHeap({ memory, allocator, hardened, traceAllocations: false });
    const small = [];
    for (let i = 0; i < 300; i++) small.push(h.obj.malloc(8 + (i % 60) * 8));
    const big = [h.raw.malloc(5000), h.mem.malloc(70000)];
    memory.grow(4); // every view of the heap, the allocator's own included, is detached now
    try {
      // malloc first: the usedpools head reads undefined through detached views.
      for (let i = 0; i < 40; i++) small.push(h.obj.malloc(8 + (i % 60) * 8));
      big.push(h.raw.malloc(3000));
      memory.grow(1);
      // free first: the path that failed (isOurs() read the detached pool map as empty).
      for (let i = 2; i < small.length; i++) h.obj.free(small[i]);
      small.length = 2;
      memory.grow(1);
      small[0] = h.obj.realloc(small[0], 600);
      memory.grow(1);
      if (h.usableSize(small[1]) < 16) fail(`${hardened ? "hardened" : allocator} round ${round} usableSize`, "too small");
      for (const p of small) h.obj.free(p);
      memory.grow(1);
      big[0] = h.raw.realloc(big[0], 9000);
      h.raw.free(big[0]);
      h.mem.free(big[1]);
      h.raw.free(big[2]);
      const s = h.stats();
      if (s.blocksInUse !== 0) fail(`${hardened ? "hardened" : allocator} round ${round} stats`, `blocksInUse ${s.blocksInUse}`);
      h.check();
    } catch (e) {
      fail(`${hardened ? "hardened" : allocator} round ${round}`, e);
    }
    // The imports a module calls: the same after another outside growth.
    try {
      const env = h.wasmImports();
      const ps = [];
      for (let i = 0; i < 200; i++) ps.push(env.malloc(8 + (i % 9) * 40));
      memory.grow(2);
      for (const p of ps) env.free(p);
      h.check();
    } catch (e) {
      fail(`${hardened ? "hardened" : allocator} round ${round} wasmImports`, e);
    }
  }
  // A ForeignHeap (live-block table in the memory) over dlmalloc, its memory grown from outside.
  try {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 4096 });
    const inst = new WebAssembly.Instance(DLMALLOC, { env: { memory } });
    const f = fromExports(inst.exports, { memory, allocator: "debug", traceAllocations: false });
    const ps = [];
    for (let i = 0; i < 200; i++) ps.push(f.mem.malloc(8 + (i % 30) * 16));
    memory.grow(3);
    for (let i = 0; i < 200; i++) ps.push(f.mem.malloc(8 + (i % 30) * 16)); // tracked after the grow
    for (const p of ps) f.mem.free(p);
    f.check();
  } catch (e) {
    fail(`fromExports dlmalloc round ${round}`, e);
  }
}
console.log(JSON.stringify({ failures }));
