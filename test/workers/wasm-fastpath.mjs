// test/workers/wasm-fastpath.mjs — one Worker of the WebAssembly fast path's threads test
// (test/wasm-fastpath.test.ts): attaches to a heap in a shared WebAssembly.Memory, takes
// heap.wasmImports() (its own fast-path instance, with its thread slot), and runs a random
// program whose calls are made by wasm or by JS. Blocks are filled with a pattern and verified
// before they are freed. Every block it allocated on round r is handed to the next worker in
// a shared table; after a barrier, each worker verifies and frees the blocks the previous worker
// handed it (frees into pools another thread owns), by wasm or JS.
import { parentPort, workerData } from "node:worker_threads";
import { attachHeap } from "../../dist/index.js";

const { memory, heapBase, table, id, workers, rounds, perRound, seed } = workerData;
const heap = attachHeap(memory, { heapBase, traceAllocations: false });
const w = heap.wasmImports();
const sides = [w, heap.mem, heap.obj];
const t = new Int32Array(table); // [0] barrier counter, then per worker: perRound * 2 words (ptr, size)
let s = seed >>> 0 || 1;
const rand = () => {
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return (s >>>= 0);
};
const pat = (owner, p, k) => (owner * 31 + p + k) & 0xff;
let failures = 0;
const fail = (msg) => {
  if (failures++ < 5) parentPort.postMessage({ type: "error", msg });
};
const verify = (owner, p, n) => {
  const u8 = heap.u8;
  for (let k = 0; k < n; k++) if (u8[p + k] !== pat(owner, p, k)) return fail(`worker ${id}: block ${p} from ${owner} changed at +${k}`);
};
const fill = (p, n) => {
  const u8 = heap.u8;
  for (let k = 0; k < n; k++) u8[p + k] = pat(id, p, k);
};
let gen = 0;
const barrier = () => {
  gen += workers;
  Atomics.add(t, 0, 1);
  while (Atomics.load(t, 0) < gen) Atomics.wait(t, 0, Atomics.load(t, 0), 5);
};
const base = 1 + (id - 1) * perRound * 2;
const prev = 1 + ((id + workers - 2) % workers) * perRound * 2;
const own = [];
for (let r = 0; r < rounds; r++) {
  // Own traffic: allocate, free some, realloc some, by either side.
  for (let i = 0; i < perRound * 2; i++) {
    const side = sides[rand() % 3];
    if (own.length > 0 && rand() % 3 === 0) {
      const j = rand() % own.length;
      const [p, n] = own[j];
      verify(id, p, n);
      own[j] = own[own.length - 1];
      own.pop();
      if (rand() % 2) side.free(p);
      else {
        const m = 1 + (rand() % 700);
        const q = side.realloc(p, m) >>> 0;
        // realloc keeps min(n, m) bytes: as filled for p, so recheck by p's pattern.
        const u8 = heap.u8;
        for (let k = 0; k < Math.min(n, m); k++) if (u8[q + k] !== pat(id, p, k)) fail(`worker ${id}: realloc lost byte ${k}`);
        fill(q, m);
        own.push([q, m]);
      }
    } else {
      const n = 1 + (rand() % (rand() % 8 === 0 ? 2000 : 512));
      const p = side.malloc(n) >>> 0;
      if (p === 0) fail("malloc returned 0");
      fill(p, n);
      own.push([p, n]);
    }
  }
  // Hand perRound blocks to the next worker.
  for (let i = 0; i < perRound; i++) {
    const [p, n] = own.pop() ?? [0, 0];
    t[base + 2 * i] = p;
    t[base + 2 * i + 1] = n;
  }
  barrier();
  // Free what the previous worker handed us (foreign frees), by wasm or JS.
  for (let i = 0; i < perRound; i++) {
    const p = t[prev + 2 * i] >>> 0;
    const n = t[prev + 2 * i + 1];
    if (p === 0) continue;
    verify(((id + workers - 2) % workers) + 1, p, n);
    sides[rand() % 3].free(p);
  }
  barrier();
}
for (const [p, n] of own) {
  verify(id, p, n);
  sides[rand() % 3].free(p);
}
heap.detachThread();
parentPort.postMessage({ type: "done", failures });
