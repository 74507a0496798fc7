// test/workers/race-stress.mjs — one Worker of the race hunt's stress runs (test/race-hunt.test.ts,
// and by hand: node test/workers/race-stress.mjs is not run alone).
//
// Attaches to the shared heap and does random malloc/calloc/realloc/free through the three
// families, sizes small, medium and large (growth), handing blocks to other Workers through a
// shared queue (they free them: frees from another thread), with collect() now and then. Every
// block holds its owner's byte pattern, verified before it is freed. Posts { type: "error" } for
// each thrown error or changed block, then { type: "done" } after detachThread() (none with
// workerData.keep: the main thread then adopts the slot).
import { parentPort, workerData } from "node:worker_threads";
import { attachHeap } from "../../dist/index.js";
import { queueLock, xorshift } from "./shared-queue.mjs";

const { memory, queue, id, ops, seed, large, keep } = workerData;
const heap = attachHeap(memory, { traceAllocations: false });
const fams = [heap.raw, heap.mem, heap.obj];
const q = new Int32Array(queue);
const { lock: lockQ, unlock: unlockQ } = queueLock(q);
const rand = xorshift(seed);
let errors = 0;
const fail = (msg) => {
  if (errors++ < 5) parentPort.postMessage({ type: "error", id, msg });
};
const held = [];
const sizeOf = (r) => {
  const k = r % 100;
  if (k < 85) return 1 + ((r >>> 8) % 512);
  if (k < 99 || !large) return 513 + ((r >>> 8) % 6000);
  return 40000 + ((r >>> 8) % 300000);
};
const pat = (p) => ((p >>> 4) & 0xff) | 1;
const check = (p, n, what) => {
  const u8 = heap.u8;
  const v = pat(p);
  for (let k = 0; k < Math.min(n, 64); k++) if (u8[p + k] !== v) return fail(`worker ${id}: ${what}: block ${p} changed at +${k}`);
};
try {
  for (let i = 0; i < ops; i++) {
    const r = rand();
    const op = r % 24;
    if (op < 10 || held.length === 0) {
      const f = (r >>> 5) % 3;
      const n = sizeOf(rand());
      const p = (r & 0x800) !== 0 ? fams[f].calloc(1, n) : fams[f].malloc(n);
      if (p === 0) {
        fail(`worker ${id}: malloc(${n}) failed`);
        continue;
      }
      heap.u8.fill(pat(p), p, p + Math.min(n, 64));
      held.push([p, n, f]);
    } else if (op < 17) {
      const [p, n, f] = held.splice(rand() % held.length, 1)[0];
      check(p, n, "free");
      fams[f].free(p);
    } else if (op < 19) {
      const k = rand() % held.length;
      const [p, n, f] = held[k];
      check(p, n, "realloc");
      const m = sizeOf(rand());
      const p2 = fams[f].realloc(p, m);
      if (p2 === 0) {
        fail(`worker ${id}: realloc to ${m} failed`);
        continue;
      }
      heap.u8.fill(pat(p2), p2, p2 + Math.min(m, 64));
      held[k] = [p2, m, f];
    } else if (op < 21) {
      lockQ();
      if (q[2] < q[3]) {
        const [p, n, f] = held.splice(rand() % held.length, 1)[0];
        const at = 4 + 3 * ((q[1] + q[2]) % q[3]);
        q[at] = p;
        q[at + 1] = n;
        q[at + 2] = f;
        q[2]++;
      }
      unlockQ();
    } else if (op < 23) {
      lockQ();
      let got = null;
      if (q[2] > 0) {
        const at = 4 + 3 * q[1];
        got = [q[at] >>> 0, q[at + 1], q[at + 2]];
        q[1] = (q[1] + 1) % q[3];
        q[2]--;
      }
      unlockQ();
      if (got !== null) {
        check(got[0], got[1], "handed over");
        fams[got[2]].free(got[0]);
      }
    } else if ((r & 0xf000) === 0) heap.collect();
  }
  for (const [p, n, f] of held) {
    check(p, n, "at the end");
    fams[f].free(p);
  }
  // keep: leave without detachThread() (the main thread adopts the slot at 'exit').
  if (!keep) heap.detachThread();
} catch (e) {
  fail(`worker ${id}: ${e?.name}: ${e?.message}\n${e?.stack?.split("\n").slice(1, 6).join("\n")}`);
}
parentPort.postMessage({ type: "done", id, errors, threadId: heap.threadId, detached: !keep });
