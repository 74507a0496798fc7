// test/workers/misuse.mjs — run by test/misuse-hunt.test.ts: a Worker that attaches to a threads
// heap, allocates blocks (small ones filling their pools, and raw ones), posts their addresses
// and its thread id, and exits without detachThread() (as a Worker that crashed would).
import { parentPort, workerData } from "node:worker_threads";
import { attachHeap } from "../../dist/index.js";

const heap = attachHeap(workerData.memory, { traceAllocations: false });
const small = [];
const raw = [];
for (let i = 0; i < 300; i++) small.push(heap.obj.malloc(64));
for (let i = 0; i < 10; i++) raw.push(heap.raw.malloc(1000 + i * 16));
parentPort.postMessage({ threadId: heap.threadId, small, raw });
