// test/workers/create-over.mjs — the other thread of test/identity.test.ts: a Worker sent a
// memory that holds the main thread's heap (made without threads) calls createHeap on it, as a
// user who meant attachHeap would, and posts what happened.
import { parentPort, workerData } from "node:worker_threads";
import { createHeap, PymallocError } from "../../dist/index.js";

try {
  createHeap({ memory: workerData.memory });
  parentPort.postMessage({ made: true });
} catch (e) {
  parentPort.postMessage({ made: false, typed: e instanceof PymallocError, message: String(e.message) });
}
