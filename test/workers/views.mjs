// test/workers/views.mjs — the other thread of test/views.test.ts: grows a shared memory that the
// main thread's handle holds views of, then says where it wrote.
//
// role "heap": attaches to the heap (threads: true), allocates until the memory is past
// workerData.past bytes, fills its last block with a pattern and posts { p, n }, keeping the
// blocks (the main thread frees them). role "grow": grows the memory itself (a
// SharedArrayBuffer's grow(), a shared WebAssembly.Memory's grow()), as a foreign allocator or a
// WebAssembly module of another thread would, writes a pattern past the old end and posts it.
import { parentPort, workerData } from "node:worker_threads";
import { attachHeap } from "../../dist/index.js";

const { role, memory, past, pattern } = workerData;
if (role === "heap") {
  const heap = attachHeap(memory, { traceAllocations: false });
  const blocks = [];
  let p = 0;
  const n = 4000;
  while (heap.memory.byteLength <= past) {
    p = heap.mem.malloc(n);
    if (p === 0) throw new Error("worker: out of memory");
    blocks.push(p);
  }
  heap.u8.fill(pattern, p, p + n);
  heap.detachThread(); // the blocks stay valid; their pools become orphans
  parentPort.postMessage({ p, n, blocks });
} else {
  const wasm = memory instanceof WebAssembly.Memory;
  const before = wasm ? memory.buffer.byteLength : memory.byteLength;
  if (wasm) memory.grow(Math.ceil((past + 65536 - before) / 65536));
  else memory.grow(past + 65536);
  const buf = wasm ? memory.buffer : memory;
  const p = before + 100;
  const n = 1000;
  new Uint8Array(buf).fill(pattern, p, p + n);
  parentPort.postMessage({ p, n, blocks: [] });
}
