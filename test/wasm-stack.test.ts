/**
 * test/wasm-stack.test.ts — a C module on one heap in several Workers: each Worker's instance
 * (instantiateWithHeap on an attachHeap handle over a shared memory) gets a C stack of its own
 * and its own thread-locals from the heap, and the module's initialiser runs once (on the heap's
 * own handle), not again in every Worker. wasm/clients/stack.c keeps a buffer on the C stack
 * across a call and an allocation, and counts rounds in a thread-local: Workers sharing one
 * stack or one TLS block would write over each other's and get other sums.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { attachHeap, heapForModule, instantiateWithHeap } from "../src/index.js";

const clients = join(import.meta.dirname, "..", "wasm", "clients");
const stackBytes = readFileSync(join(clients, "stack-shared.wasm"));
const ctorsBytes = readFileSync(join(clients, "ctors-shared.wasm"));

function runWorker(data: Record<string, unknown>): Promise<{ result: number; stack: number; sp: number }> {
  return new Promise((resolve, reject) => {
    const wk = new Worker(join(import.meta.dirname, "workers", "wasm-stack.mjs"), { workerData: data });
    let done: { result: number; stack: number; sp: number } | undefined;
    wk.on("message", (m) => (done = m));
    wk.on("error", reject);
    wk.on("exit", (code) => (code === 0 && done ? resolve(done) : reject(new Error(`worker exited ${code}`))));
  });
}

describe("a C module in several Workers on one heap: a stack and thread-locals each, initialised once", () => {
  it.each(["pymalloc", "debug"] as const)("%s: 4 Workers running at once compute what one thread computes", async (allocator) => {
    const heap = heapForModule(stackBytes, { allocator, threads: true, traceAllocations: false });
    const { instance, stack } = await instantiateWithHeap(stackBytes, { heap });
    expect(stack).toBe(0); // the heap's own handle: the module's own stack
    const run = instance.exports.run as (seed: number, rounds: number) => number;
    const rounds = 20_000;
    const seeds = [11, 22, 33, 44];
    const want = seeds.map((s) => run(s, rounds) >>> 0);
    const start = new SharedArrayBuffer(8);
    new Int32Array(start)[1] = seeds.length;
    const got = await Promise.all(seeds.map((seed) => runWorker({ memory: heap.memory.source, heapBase: heap.heapBase, bytes: stackBytes, seed, rounds, start })));
    expect(got.map((g) => g.result)).toEqual(want);
    // Each ran on a block of the heap (its own: its thread-locals at the start, 65536 bytes of
    // stack above them), and its stack pointer came back to the block's end.
    expect(new Set(got.map((g) => g.stack)).size).toBe(seeds.length);
    for (const g of got) {
      expect(g.sp - g.stack).toBeGreaterThanOrEqual(65536 + 4);
      expect(g.sp - g.stack).toBeLessThanOrEqual(65536 + 32);
    }
    heap.check();
    expect(heap.leaks().totalBlocks).toBe(0);
  }, 60_000);

  it("a module whose stack pointer is not exported is refused on a Worker's handle, unless stackBytes: 0; its initialiser is not run again there", async () => {
    const heap = heapForModule(ctorsBytes, { threads: true });
    await instantiateWithHeap(ctorsBytes, { heap }); // the heap's own handle: constructors run (one block)
    expect(heap.stats().blocksInUse).toBe(1);
    const other = attachHeap(heap.memory.source, { heapBase: heap.heapBase });
    await expect(instantiateWithHeap(ctorsBytes, { heap: other })).rejects.toThrow(/__stack_pointer\) is not exported[^]*-Wl,--export=__stack_pointer/);
    const { stack } = await instantiateWithHeap(ctorsBytes, { heap: other, stackBytes: 0 });
    expect(stack).toBe(0);
    expect(heap.stats().blocksInUse).toBe(1); // not run again: no second constructor block
    await instantiateWithHeap(ctorsBytes, { heap: other, stackBytes: 0, initialize: true });
    expect(heap.stats().blocksInUse).toBe(2); // asked for
    await expect(instantiateWithHeap(stackBytes, { heap: other, stackBytes: -1 })).rejects.toThrow(RangeError);
    other.detachThread();
  });

  it("on one thread's handle, or an unshared memory, nothing changes: the module's own stack, its initialiser run", async () => {
    const heap = heapForModule(stackBytes, { threads: true });
    const a = await instantiateWithHeap(stackBytes, { heap });
    const b = await instantiateWithHeap(stackBytes, { heap });
    expect([a.stack, b.stack]).toEqual([0, 0]);
    expect(heap.stats().blocksInUse).toBe(0);
  });
});
