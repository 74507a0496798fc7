// A Worker for test/terminate.test.ts: attaches to the heap it is sent, says its thread id, then
// allocates and frees for ever (small blocks of all three families and raw ones, and typed views
// posted back when asked), until the test terminates it mid-call.
import { parentPort, workerData } from "node:worker_threads";
import { attachHeap } from "../../dist/index.js";

const heap = attachHeap(workerData.memory);
if (workerData.view) {
  // A typed view over the shared memory, posted to the main thread (which frees it).
  const v = heap.mem.mallocAs(Float64Array, workerData.view);
  v.fill(2.5);
  parentPort.postMessage({ id: heap.threadId, v });
} else {
  parentPort.postMessage({ id: heap.threadId });
  const fams = [heap.obj, heap.mem, heap.raw];
  const live = new Array(512).fill(0);
  const fam = new Array(512).fill(0);
  // stopAfterMs: stop after that long, as a terminated thread stops, without detaching (then sleep).
  const until = workerData.stopAfterMs === undefined ? Infinity : Date.now() + workerData.stopAfterMs;
  for (let i = 0; ; i++) {
    if ((i & 1023) === 0 && Date.now() > until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    const k = (i * 7919) % 512;
    if (live[k] !== 0) fams[fam[k]].free(live[k]);
    fam[k] = i % 3;
    const n = fam[k] === 2 ? 600 + ((i * 31) % 3000) : 8 + ((i * 2654435761) >>> 0) % 505;
    live[k] = fams[fam[k]].malloc(n);
  }
}
