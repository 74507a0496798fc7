// test/workers/wasm-stack.mjs — one Worker of test/wasm-stack.test.ts: attaches to the heap in a
// shared WebAssembly.Memory, instantiates wasm/clients/stack-shared.wasm on its handle (its own
// C stack from the heap, the module's initialiser not run again), and runs it beside the others.
import { parentPort, workerData } from "node:worker_threads";
import { attachHeap, instantiateWithHeap } from "../../dist/index.js";

const { memory, heapBase, bytes, seed, rounds, start } = workerData;
const heap = attachHeap(memory, { heapBase });
// The loop kept alive while the compile is awaited (Node 20 can stop a Worker whose loop runs
// empty there: the README's WebAssembly threads paragraph).
const keepAlive = setInterval(() => {}, 1000);
const { instance, stack } = await instantiateWithHeap(bytes, { heap });
clearInterval(keepAlive);
const t = new Int32Array(start);
// Every Worker starts at once, so that their C code runs side by side.
Atomics.add(t, 0, 1);
while (Atomics.load(t, 0) < t[1]) Atomics.wait(t, 0, Atomics.load(t, 0), 5);
const result = instance.exports.run(seed, rounds) >>> 0;
const sp = instance.exports.__stack_pointer.value;
heap.raw.free(stack);
heap.detachThread();
parentPort.postMessage({ result, stack, sp });
