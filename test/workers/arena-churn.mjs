// test/workers/arena-churn.mjs — one Worker of the arena churn run (test/threads.test.ts, "arenas
// empty and refill"). Attaches to the shared heap and, round after round, allocates a burst of
// small blocks (every size class, enough to take several arenas' pools), then frees them all in
// a shuffled order: its pools empty and go back to their arenas, arenas go back to the raw
// allocator and are taken again, while the other Workers do the same in the same arenas. A
// quarter of the frees go to the next Worker's mailbox (a free from another thread: REMOTE and
// DELAYED lists, pools emptied by their owner's collection); collect() now and then. Posts
// { type: "error" } for each thrown error, then { type: "done" } (after detachThread() for odd
// ids; even ids exit attached and the main thread adopts them).
import { parentPort, workerData } from "node:worker_threads";
import { attachHeap } from "../../dist/index.js";
import { xorshift } from "./shared-queue.mjs";

const { memory, mail, id, workers, rounds, burst, seed } = workerData;
const heap = attachHeap(memory, { traceAllocations: false });
const boxes = new Int32Array(mail); // workers x SLOTS words: 0 empty, else a block to free
const SLOTS = boxes.length / workers;
const rand = xorshift(seed);
let errors = 0;
const fail = (msg) => {
  if (errors++ < 5) parentPort.postMessage({ type: "error", id, msg });
};
/** Free what other Workers left in this Worker's mailbox. */
const drain = () => {
  for (let k = (id - 1) * SLOTS; k < id * SLOTS; k++) {
    const p = Atomics.exchange(boxes, k, 0);
    if (p !== 0) heap.mem.free(p);
  }
};
const next = id % workers; // the next Worker's mailbox index
try {
  for (let r = 0; r < rounds; r++) {
    const ps = [];
    for (let i = 0; i < burst; i++) {
      const n = 1 + (rand() % 512);
      const p = heap.mem.malloc(n);
      if (p === 0) fail(`worker ${id}: malloc(${n}) returned 0`);
      else {
        heap.u8[p] = id;
        ps.push(p);
      }
      if ((i & 255) === 0) drain();
    }
    for (let i = ps.length - 1; i > 0; i--) {
      const j = rand() % (i + 1);
      [ps[i], ps[j]] = [ps[j], ps[i]];
    }
    for (const p of ps) {
      if (heap.u8[p] !== id) fail(`worker ${id}: block ${p} changed`);
      if ((rand() & 3) === 0 && Atomics.compareExchange(boxes, next * SLOTS + (rand() % SLOTS), 0, p) === 0) continue;
      heap.mem.free(p);
    }
    drain();
    if (r % 4 === 3) heap.collect();
  }
  drain();
  if (id % 2 === 1) heap.detachThread();
} catch (e) {
  fail(`worker ${id}: ${e?.constructor?.name}: ${e?.message}`);
}
parentPort.postMessage({ type: "done", id, threadId: heap.threadId, detached: id % 2 === 1 });
