// A module Worker of the browser test's page: attaches to the shared heap it is sent, allocates
// blocks (each filled with a byte), frees blocks the other Worker allocated, detaches; or
// ("bursts") allocates a few blocks every 150 ms until terminated; or ("c")
// runs a C module (wasm/clients/stack.c, shared memory) on its own handle of the heap; or
// ("badFree") posts an InvalidPointerError back, as it is and spread.
import { attachHeap, createHeap, instantiateWithHeap } from "./dist/index.js";

let heap;
onmessage = (e) => {
  const m = e.data;
  try {
    if (m.op === "alloc") {
      heap = attachHeap(m.memory);
      const ptrs = [];
      for (let i = 0; i < m.n; i++) {
        const n = 8 + ((i * 37) % 600);
        const fam = i % 3 === 0 ? heap.obj : i % 3 === 1 ? heap.mem : heap.raw;
        const p = fam.malloc(n);
        if (p === 0) throw new Error(`malloc(${n}) returned NULL in a worker`);
        heap.u8.fill(m.fill, p, p + n);
        ptrs.push([i % 3, p, n]);
      }
      postMessage({ threadId: heap.threadId, ptrs });
    } else if (m.op === "free") {
      let intact = true;
      for (const [f, p, n] of m.ptrs) {
        if (heap.u8[p] !== m.fill || heap.u8[p + n - 1] !== m.fill) intact = false;
        (f === 0 ? heap.obj : f === 1 ? heap.mem : heap.raw).free(p);
      }
      postMessage({ freed: m.ptrs.length, intact });
    } else if (m.op === "c") {
      const h = attachHeap(m.memory, { heapBase: m.heapBase });
      instantiateWithHeap(m.bytes, { heap: h }).then(
        ({ instance, stack }) => {
          const result = instance.exports.run(m.seed, m.rounds) >>> 0;
          h.raw.free(stack);
          h.detachThread();
          postMessage({ result, stack, threadId: h.threadId });
        },
        (err) => postMessage({ error: `${err?.constructor?.name}: ${err?.message}` }),
      );
    } else if (m.op === "bursts") {
      // A running Worker whose pools change only every 150 ms (a loaded machine stalls a busy one
      // as long): blocks allocated in bursts, until terminated.
      heap = attachHeap(m.memory);
      postMessage({ threadId: heap.threadId });
      const sleep = new Int32Array(new SharedArrayBuffer(4));
      for (;;) {
        for (let i = 0; i < 3; i++) heap.obj.malloc(48);
        Atomics.wait(sleep, 0, 0, 150);
      }
    } else if (m.op === "badFree") {
      // An error posted as it is (structured clone keeps its message, not its class, name or
      // fields) and as the README says to post it: its own fields spread, with its message.
      try {
        createHeap({ memoryKind: "wasm" }).obj.free(12345);
      } catch (err) {
        postMessage({ asIs: err, spread: { ...err, message: err.message } });
      }
    } else if (m.op === "detach") {
      heap.detachThread();
      postMessage({ done: true });
    }
  } catch (err) {
    postMessage({ error: `${err?.constructor?.name}: ${err?.message}` });
  }
};
