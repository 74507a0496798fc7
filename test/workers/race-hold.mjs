// test/workers/race-hold.mjs — a Worker of test/race-hunt.test.ts that stops at a chosen point
// of a heap operation, so that the main thread meets the heap in that state (a deterministic
// interleaving, where a stress run needs luck). ctl (Int32Array over workerData.ctl): [0] this
// Worker's step, [1] the main thread's go. Modes:
//   relay: take the heap's lock word, then hand it on to a "new holder" every stepMs for
//     holdMs (the word goes back from WAITERS to HELD, as when the holder releases and another
//     thread takes it before a waiter wakes: a lock that changes hands, never free for long),
//     then release it as the lock does. Step 1 once it holds the word, 2 once released.
//   beat: take the heap's lock word and hold it for holdMs, raising the lock's heartbeat
//     (H.LOCK_BEAT) every stepMs as a long walk does; step 1 once held, 2 once released.
//   split: attach, take a raw block, and twice hold the lock with the block's chunk halfway
//     through a split (below), step 1 then 3; step 5 once done.
//   empty-pool: attach, fill four pools of 256-byte blocks, free the last pool's blocks (it
//     empties as its class's only listed pool: kept), then all but one block of the first
//     (full, so back in usedpools before the kept one), step 1; at go, free the first pool's
//     last block: it empties while its class has another pool listed, and free() gives it
//     back to its arena under the lock, waiting there when the main thread holds it (two empty
//     pools listed meanwhile). Step 2 after that free returned, 3 after detachThread().
import { workerData } from "node:worker_threads";
import { attachHeap, constants } from "../../dist/index.js";

const { mode, memory, lockIndex, holdMs, stepMs } = workerData;
const ctl = new Int32Array(workerData.ctl);
const step = (k) => {
  Atomics.store(ctl, 0, k);
  Atomics.notify(ctl, 0);
};
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

if (mode === "relay") {
  const i32 = new Int32Array(memory instanceof WebAssembly.Memory ? memory.buffer : memory);
  while (Atomics.compareExchange(i32, lockIndex, 0, 1) !== 0) sleep(1);
  step(1);
  for (const end = Date.now() + holdMs; Date.now() < end; ) {
    sleep(stepMs);
    Atomics.compareExchange(i32, lockIndex, 2, 1);
  }
  if (Atomics.sub(i32, lockIndex, 1) !== 1) {
    Atomics.store(i32, lockIndex, 0);
    Atomics.notify(i32, lockIndex, 1);
  }
  step(2);
} else if (mode === "beat") {
  // One holder at long work: the word held for holdMs, the heartbeat (H.LOCK_BEAT) raised every
  // stepMs, as a walk of a large heap does (walk.ts forEachChunk); step 1 once held, 2 once released.
  const i32 = new Int32Array(memory instanceof WebAssembly.Memory ? memory.buffer : memory);
  const beatIndex = lockIndex + (constants.H.LOCK_BEAT - constants.H.LOCK);
  while (Atomics.compareExchange(i32, lockIndex, 0, 1) !== 0) sleep(1);
  step(1);
  for (const end = Date.now() + holdMs; Date.now() < end; ) {
    sleep(stepMs);
    Atomics.add(i32, beatIndex, 1);
  }
  if (Atomics.sub(i32, lockIndex, 1) !== 1) {
    Atomics.store(i32, lockIndex, 0);
    Atomics.notify(i32, lockIndex, 1);
  }
  step(2);
} else if (mode === "split") {
  // Twice: hold the lock halfway through a split of a raw chunk (its header says 1024 bytes,
  // the rest's header is not written yet: the block's bytes are there), as the raw allocator's
  // shrinkTo() is between its two writes; step 1 (then 3), holdMs later the chunk as it was and
  // the lock released; go (1, then 2) from the main thread before the next.
  const { Chunk, Flag } = constants;
  const heap = attachHeap(memory);
  const i32 = heap.i32;
  const p = heap.raw.malloc(4000);
  heap.u8.fill(0x5a, p, p + 4000);
  const hw = (p - Chunk.HEADER + 4) >>> 2;
  for (let round = 0; round < 2; round++) {
    while (Atomics.compareExchange(i32, lockIndex, 0, 1) !== 0) sleep(1);
    const old = heap.u32[hw];
    heap.u32[hw] = (((1024 ^ Chunk.SIZE_KEY) & ~Flag.MASK) | (old & Flag.MASK)) >>> 0;
    step(2 * round + 1);
    sleep(holdMs);
    heap.u32[hw] = old;
    if (Atomics.sub(i32, lockIndex, 1) !== 1) {
      Atomics.store(i32, lockIndex, 0);
      Atomics.notify(i32, lockIndex, 1);
    }
    while (Atomics.load(ctl, 1) < round + 1) Atomics.wait(ctl, 1, round, 10_000);
  }
  heap.raw.free(p);
  heap.detachThread();
  step(5);
} else if (mode === "empty-pool") {
  const heap = attachHeap(memory);
  const poolSize = workerData.poolSize;
  const poolOf = (p) => p - (p & (poolSize - 1));
  const ps = [];
  for (let i = 0; i < 200; i++) ps.push(heap.obj.malloc(256));
  // The last pool's blocks freed: it empties as its class's only listed pool, and is kept.
  const last = ps.filter((p) => poolOf(p) === poolOf(ps[199]));
  for (const p of last) heap.obj.free(p);
  // The first pool (full) back in the list, one block left in it.
  const first = ps.filter((p) => poolOf(p) === poolOf(ps[0]));
  for (const p of first.slice(1)) heap.obj.free(p);
  step(1);
  Atomics.wait(ctl, 1, 0, 10_000);
  heap.obj.free(first[0]);
  step(2);
  for (const p of ps) if (poolOf(p) !== poolOf(ps[0]) && poolOf(p) !== poolOf(ps[199])) heap.obj.free(p);
  heap.detachThread();
  step(3);
}
