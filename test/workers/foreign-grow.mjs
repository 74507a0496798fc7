// test/workers/foreign-grow.mjs — the other thread of test/foreign-pages.test.ts: a WebAssembly
// module's thread that grows the shared memory for itself, one page at a time, while the heap's
// thread allocates (and grows it too). Each page it grew gets its own pattern; at the end it
// checks them all and posts how many bytes changed. workerData: { memory, rounds, done } (done:
// an Int32Array over a SharedArrayBuffer, set to 1 when it has finished growing).
import { parentPort, workerData } from "node:worker_threads";

const { memory, rounds, done } = workerData;
const pages = [];
const nap = new Int32Array(new SharedArrayBuffer(4));
for (let r = 0; r < rounds; r++) {
  let at;
  try {
    at = memory.grow(1) * 65536;
  } catch {
    break; // the maximum: the heap took the rest
  }
  new Uint8Array(memory.buffer, at, 65536).fill((r * 37 + 11) & 255);
  pages.push(at);
  Atomics.wait(nap, 0, 0, 1); // a millisecond: the heap's thread allocates meanwhile
}
Atomics.store(done, 0, 1);
let bad = 0;
pages.forEach((at, r) => {
  const u8 = new Uint8Array(memory.buffer, at, 65536);
  for (let i = 0; i < 65536; i++) if (u8[i] !== ((r * 37 + 11) & 255)) bad++;
});
parentPort.postMessage({ pages, bad });
