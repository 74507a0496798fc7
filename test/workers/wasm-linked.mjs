// test/workers/wasm-linked.mjs — one Worker of the linked-module threads test
// (test/wasm-link.test.ts): attaches to a heap in a shared WebAssembly.Memory and instantiates
// the linked C module on its handle (instantiateWithHeap(module, { heap }), specialised to the
// handle when asked): its fast path then allocates from this thread's slot. Allocates blocks by C, fills them, hands them to the next
// worker in a shared table; after a barrier, verifies and frees (by C) the blocks the previous
// worker handed it: frees into pools another thread owns.
import { parentPort, workerData } from "node:worker_threads";
import { attachHeap, instantiateWithHeap } from "../../dist/index.js";

const { memory, heapBase, table, id, workers, perWorker, module, specialize } = workerData;
const heap = attachHeap(memory, { heapBase, traceAllocations: false });
// The loop kept alive while the compile is awaited: Node 20 can hang a Worker whose loop runs
// empty there (test/workers/wasm-damage.mjs says how; the README's WebAssembly threads paragraph).
const keepAlive = setInterval(() => {}, 1000);
const { instance, module: used } = await instantiateWithHeap(module, { heap, specialize, stackBytes: 0 }); // its C code keeps no locals in memory; initialize: false by default on a Worker's handle
clearInterval(keepAlive);
const x = instance.exports;
const t = new Int32Array(table);
let failures = 0;
const size = (k) => 8 + ((k * 37 + id * 11) % 500);
const pat = (owner, k) => (owner * 31 + k) & 0xff;
for (let k = 0; k < perWorker; k++) {
  const p = x.c_make_block(size(k)) >>> 0;
  if (p === 0) failures++;
  heap.u8.fill(pat(id, k), p, p + size(k));
  // Half of this thread's own blocks freed at once by C (the fast path on its own pools).
  if (k % 2 === 1) {
    x.c_free_block(p);
    t[1 + id * perWorker + k] = 0;
  } else t[1 + id * perWorker + k] = p;
}
Atomics.add(t, 0, 1);
while (Atomics.load(t, 0) < workers) Atomics.wait(t, 0, Atomics.load(t, 0), 5);
const prev = (id + workers - 1) % workers;
const prevSize = (k) => 8 + ((k * 37 + prev * 11) % 500);
for (let k = 0; k < perWorker; k++) {
  const p = t[1 + prev * perWorker + k] >>> 0;
  if (p === 0) continue;
  const u8 = heap.u8;
  for (let j = 0; j < prevSize(k); j++) if (u8[p + j] !== pat(prev, k)) { failures++; break; }
  x.c_free_block(p);
}
parentPort.postMessage({ failures, slot: heap.threadId, specialized: WebAssembly.Module.customSections(used, "pymalloc.specialized").length > 0 });
