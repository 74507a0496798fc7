// One heap shared by several Workers (threads: true): a stress test with more Workers than cores,
// blocks handed between threads and freed by threads that did not allocate them; afterwards the
// heap checks clean and holds exactly the blocks the workers say they hold. The Workers load the
// built package (dist/), which `npm test` builds first.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { attachHeap, createHeap, MemoryCorruptionError, type Heap } from "../dist/index.js";

const WORKER = join(import.meta.dirname, "workers", "stress.mjs");

interface Done {
  type: "done";
  id: number;
  failures: number;
  threadId: number;
  held: [number, number, number, number][];
}

function runWorkers(heap: Heap, n: number, opsEach: number, queue: SharedArrayBuffer): Promise<Done[]> {
  const errors: string[] = [];
  return Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<Done>((resolve, reject) => {
          const w = new Worker(WORKER, { workerData: { memory: heap.memory.source, queue, id: i + 1, ops: opsEach, seed: 0x9e3779b9 ^ (i * 7919) } });
          w.on("message", (m) => {
            if (m.type === "error") errors.push(m.msg);
            else resolve(m as Done);
          });
          w.on("error", reject);
          w.on("exit", (code) => code !== 0 && reject(new Error(`worker ${i + 1} exited with ${code}: ${errors.join("; ")}`)));
        }),
    ),
  ).then((all) => {
    if (errors.length) throw new Error(errors.join("\n"));
    return all;
  });
}

function newQueue(capacity: number): SharedArrayBuffer {
  const q = new SharedArrayBuffer(4 * (4 + 3 * capacity));
  new Int32Array(q)[3] = capacity;
  return q;
}

const configs = [
  { mode: "pymalloc", workers: 2, ops: 600_000 },
  { mode: "pymalloc", workers: 4, ops: 300_000 },
  { mode: "pymalloc", workers: 8, ops: 150_000 },
  { mode: "malloc", workers: 4, ops: 250_000 },
  { mode: "debug", workers: 2, ops: 100_000 },
  { mode: "debug", workers: 8, ops: 25_000 },
] as const;

describe.each(configs)("threads: $workers Workers on a $mode heap, $ops operations each", ({ mode, workers, ops }) => {
  it("every block keeps its owner's bytes; afterwards the heap holds exactly the live blocks", async () => {
    // A small start, so that Workers grow the memory while others use it.
    const heap = createHeap({ allocator: mode, threads: true, initialBytes: 1 << 20, traceAllocations: false });
    const queue = newQueue(4096);
    const results = await runWorkers(heap, workers, ops, queue);
    expect(results.map((r) => r.failures)).toEqual(results.map(() => 0));
    expect(new Set(results.map((r) => r.threadId)).size).toBe(workers); // each Worker got its own id
    expect(heap.u8.length).toBeGreaterThan(1 << 20); // grown by the Workers; this thread's views follow

    // The live blocks: what each worker holds, plus what is still in the queue.
    const live: { ptr: number; size: number; family: number; value: number }[] = [];
    for (const r of results) for (const [ptr, size, family, value] of r.held) live.push({ ptr, size, family, value });
    const q = new Int32Array(queue);
    for (let k = 0; k < q[2]; k++) {
      const at = 4 + 3 * ((q[1] + k) % q[3]);
      const owner = (q[at + 2] >>> 8) & 0xff;
      const tag = q[at + 2] >>> 16;
      live.push({ ptr: q[at] >>> 0, size: q[at + 1], family: q[at + 2] & 0xff, value: ((owner * 37 + tag * 11) & 0xff) | 1 });
    }
    const u8 = heap.u8;
    for (const b of live) {
      for (let k = 0; k < b.size; k++) if (u8[b.ptr + k] !== b.value) throw new Error(`block ${b.ptr} changed at +${k}`);
    }
    // Nothing handed out twice: no two live blocks overlap.
    const sorted = [...live].sort((a, b) => a.ptr - b.ptr);
    for (let k = 1; k < sorted.length; k++) expect(sorted[k - 1].ptr + Math.max(1, sorted[k - 1].size)).toBeLessThanOrEqual(sorted[k].ptr);

    heap.check();
    heap.drainQuarantine();
    // Nothing lost: the heap's own walk finds exactly these blocks, and its byte count adds up.
    const walked = new Map<number, number>();
    const serials = new Set<number>();
    heap.walk((b) => {
      walked.set(b.address, b.size);
      if (b.serial !== undefined) serials.add(b.serial);
    });
    expect(walked.size).toBe(live.length);
    for (const b of live) expect(walked.has(b.ptr)).toBe(true);
    if (mode === "debug") {
      for (const b of live) expect(walked.get(b.ptr)).toBe(b.size);
      expect(serials.size).toBe(live.length); // serials stay unique across threads
    } else {
      let usable = 0;
      for (const b of live) usable += heap.usableSize(b.ptr);
      expect(heap.stats().bytesInUse).toBe(usable);
    }
    // This thread frees what the Workers allocated.
    const fams = [heap.raw, heap.mem, heap.obj];
    for (const b of live) fams[b.family].free(b.ptr);
    heap.drainQuarantine();
    heap.check();
    expect(heap.leaks().totalBlocks).toBe(0);
    if (mode !== "debug") expect(heap.stats().bytesInUse).toBe(0);
  });
});

describe("threads: handles and errors", () => {
  it("attachHeap hands out thread ids; debug reports say which thread allocated and which freed", () => {
    const a = createHeap({ allocator: "debug", threads: true, traceAllocations: false });
    const b = attachHeap(a.memory.source, { traceAllocations: false });
    const c = attachHeap(a.memory.source, { traceAllocations: false });
    expect([a.threadId, b.threadId, c.threadId]).toEqual([0, 1, 2]);
    expect(b.threads).toBe(true);
    const p = b.mem.malloc(40);
    c.mem.free(p);
    let err: unknown;
    try {
      a.mem.free(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MemoryCorruptionError);
    const rep = (err as MemoryCorruptionError).report;
    expect(rep.kind).toBe("double-free");
    expect(rep.allocatedInThread).toBe(1);
    expect(rep.freedInThread).toBe(2);
    expect((err as Error).message).toMatch(/allocated in thread 1[\s\S]*freed in thread 2/);
  });

  it("threads: true needs a shared memory; the lock is released when a call throws", () => {
    expect(() => createHeap({ threads: true, memoryKind: "resizable" })).toThrow(/shared memory/);
    expect(() => createHeap({ threads: "yes" as never })).toThrow(TypeError);
    const h = createHeap({ threads: true });
    expect(() => h.obj.free(h.obj.malloc(8) + 4)).toThrow();
    const p = h.obj.malloc(8); // would deadlock if the failed free had kept the lock
    expect(p).not.toBe(0);
    h.obj.free(p);
    h.check();
  });

  it("a shared WebAssembly.Memory works too", async () => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 4096, shared: true });
    const heap = createHeap({ memory, threads: true });
    const results = await runWorkers(heap, 2, 50_000, newQueue(256));
    expect(results.every((r) => r.failures === 0)).toBe(true);
    heap.check();
  });
});
