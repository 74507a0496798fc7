// test/workers/stress.mjs — one Worker of the threads stress test (test/threads.test.ts).
//
// Attaches to the shared heap and does random malloc/calloc/realloc/free through all three
// families; every block it owns is filled with its owner's pattern (worker id, slot) and verified
// before every free or realloc. Blocks are handed to other workers through a shared queue: the
// receiver verifies the sender's pattern, then frees the block (a free from another thread) or
// keeps it under its own pattern. At the end it posts the blocks it still holds, and leaves the
// heap (detachThread) or just exits (the main thread then adopts its pools).
import { parentPort, workerData } from "node:worker_threads";
import { attachHeap } from "../../dist/index.js";
import { queueLock, xorshift } from "./shared-queue.mjs";

const { memory, queue, id, ops, seed } = workerData;
const heap = attachHeap(memory, { traceAllocations: false });
const fams = [heap.raw, heap.mem, heap.obj];

// Queue: i32[0] lock, [1] head, [2] count, [3] capacity, then 3 words per entry (ptr, size, family|owner<<8|tag<<16).
const q = new Int32Array(queue);
const { lock: lockQ, unlock: unlockQ } = queueLock(q);

const rand = xorshift(seed);
const patternOf = (owner, tag) => ((owner * 37 + tag * 11) & 0xff) | 1;

/** Blocks this worker holds: ptr, size, family, tag (the pattern is patternOf(id, tag)). */
const held = [];
let tagSeq = 0;
let failures = 0;
const fail = (msg) => {
  if (failures++ < 5) parentPort.postMessage({ type: "error", id, msg });
};
const fill = (p, n, v) => heap.u8.fill(v, p, p + n);
const verify = (b, owner, what) => {
  const u8 = heap.u8;
  const v = patternOf(owner, b.tag);
  for (let k = 0; k < b.size; k++) {
    if (u8[b.ptr + k] !== v) {
      fail(`worker ${id}: ${what}: block ${b.ptr} (${b.size} B, from worker ${owner}) changed at +${k}: ${u8[b.ptr + k]} instead of ${v}`);
      return;
    }
  }
};
const sizeOf = (r) => {
  const k = r % 100;
  if (k < 80) return (r >>> 8) % 512; // the object allocator's sizes
  if (k < 99) return 512 + ((r >>> 8) % 4096);
  return 65536 + ((r >>> 8) % 200000); // large: the raw allocator, memory growth
};

for (let i = 0; i < ops; i++) {
  const r = rand();
  const op = r % 20;
  if (op < 8 || held.length === 0) {
    const family = (r >>> 5) % 3;
    const size = sizeOf(rand());
    const zero = (r & 0x100000) !== 0;
    const ptr = zero ? fams[family].calloc(1, size) : fams[family].malloc(size);
    if (ptr === 0) {
      fail(`worker ${id}: allocation of ${size} bytes failed`);
      continue;
    }
    if (zero) {
      const u8 = heap.u8;
      for (let k = 0; k < size; k++) if (u8[ptr + k] !== 0) {
        fail(`worker ${id}: calloc block ${ptr} not zero at +${k}`);
        break;
      }
    }
    const b = { ptr, size, family, tag: ++tagSeq & 0xffff };
    fill(ptr, size, patternOf(id, b.tag));
    held.push(b);
  } else if (op < 14) {
    const b = held.splice(rand() % held.length, 1)[0];
    verify(b, id, "free");
    fams[b.family].free(b.ptr);
  } else if (op < 16) {
    const b = held[rand() % held.length];
    verify(b, id, "before realloc");
    const size = sizeOf(rand());
    const ptr = fams[b.family].realloc(b.ptr, size);
    if (ptr === 0) {
      fail(`worker ${id}: realloc to ${size} failed`);
      continue;
    }
    const kept = { ...b, ptr, size: Math.min(b.size, size) };
    verify(kept, id, "after realloc");
    b.ptr = ptr;
    b.size = size;
    b.tag = ++tagSeq & 0xffff;
    fill(ptr, size, patternOf(id, b.tag));
  } else if (op < 18) {
    // Hand a block to whoever takes it next.
    lockQ();
    const count = q[2];
    const cap = q[3];
    if (count < cap) {
      const b = held.splice(rand() % held.length, 1)[0];
      const at = 4 + 3 * ((q[1] + count) % cap);
      q[at] = b.ptr;
      q[at + 1] = b.size;
      q[at + 2] = b.family | (id << 8) | (b.tag << 16);
      q[2] = count + 1;
    }
    unlockQ();
  } else {
    // Take a block another worker handed over.
    lockQ();
    let got = null;
    if (q[2] > 0) {
      const at = 4 + 3 * q[1];
      got = { ptr: q[at] >>> 0, size: q[at + 1], family: q[at + 2] & 0xff, owner: (q[at + 2] >>> 8) & 0xff, tag: q[at + 2] >>> 16 };
      q[1] = (q[1] + 1) % q[3];
      q[2]--;
    }
    unlockQ();
    if (got !== null) {
      verify(got, got.owner, "handed over");
      if (r & 0x40000) fams[got.family].free(got.ptr);
      else {
        const b = { ptr: got.ptr, size: got.size, family: got.family, tag: ++tagSeq & 0xffff };
        fill(b.ptr, b.size, patternOf(id, b.tag));
        held.push(b);
      }
    }
  }
}

// Final check of everything held, then report it (the main thread verifies again). Odd workers
// leave the heap with detachThread(); the main thread adopts what the others leave behind.
for (const b of held) verify(b, id, "at the end");
const threadId = heap.threadId;
const detached = id % 2 === 1;
if (detached) heap.detachThread();
parentPort.postMessage({ type: "done", id, failures, threadId, detached, held: held.map((b) => [b.ptr, b.size, b.family, patternOf(id, b.tag)]) });
