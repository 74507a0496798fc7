// Misuse as a user makes it, beyond argument validation (bad-input-hunt.test.ts) and damage
// matrices (heap-damage, wasm-damage, stray-writes, corruption): threads' lifecycle (detach,
// adopt, Workers that exit holding blocks, a memory attached through a buffer that cannot grow),
// frees across threads and families, use after free in the debug reports, and C code's misuse
// through the wasm fast path. Each case failed before its fix (the commit that added this file).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { attachHeap, createHeap, instantiateWithHeap, InvalidPointerError, linkFastPath, MemoryCorruptionError, PymallocError, type Heap } from "../src/index.js";
import { freedInNamedFrames, ROOT, thrownBy } from "./helpers.js";

/** n blocks of `size` from heap `h`'s obj family, all distinct (never one handed out twice). */
function distinctBlocks(h: Heap, n: number, size: number): number[] {
  const got = new Set<number>();
  for (let i = 0; i < n; i++) {
    const p = h.obj.malloc(size);
    expect(p).not.toBe(0);
    expect(got.has(p), `block ${p} handed out twice`).toBe(false);
    got.add(p);
  }
  return [...got];
}

describe("a block freed twice by threads that do not own it (threads: true)", () => {
  // Two handles in one thread are two thread slots (attachHeap claims one): the cross-thread
  // paths without Workers. The owner B fills a pool of 64-byte blocks: a foreign free of one of
  // them goes to B's DELAYED list (the pool is FULL), a second one was pushed onto the pool's
  // REMOTE list as well (the block on two lists): check() failed, and B's next malloc of the
  // class threw (HeapCorruptionError in release, a "double free" InvalidPointerError naming no
  // call of B's in hardened), leaving the pool's accounting wrong for good.
  for (const hardened of [false, true])
    for (const when of ["waiting on the owner's DELAYED list", "taken back by the owner (collect)"] as const)
      it(`hardened: ${hardened}, the first free ${when}: the second free is an InvalidPointerError "double-free"; the heap stays sound`, () => {
        const A = createHeap({ threads: true, hardened, traceAllocations: false });
        const B = attachHeap(A.memory.source);
        const C = attachHeap(A.memory.source);
        const blocks: number[] = [];
        for (let i = 0; i < 400; i++) blocks.push(B.obj.malloc(64));
        const victim = blocks[10];
        A.obj.free(victim);
        if (when !== "waiting on the owner's DELAYED list") B.collect();
        for (const h of [A, C]) {
          const e = thrownBy(() => h.obj.free(victim));
          expect(e).toBeInstanceOf(InvalidPointerError);
          expect(e).toMatchObject({ reason: "double-free", address: victim });
        }
        A.check();
        distinctBlocks(B, 800, 64);
        A.check();
      });
});

describe("hardened: true, the owner frees a block another thread freed first", () => {
  it("refused at the owner's free (isFreed: the DELAYED list too); it was accepted, check() then failed (Pool.REMOTE) and the owner's mallocs threw (Slot.DELAYED)", () => {
    const A = createHeap({ threads: true, hardened: true, traceAllocations: false });
    const B = attachHeap(A.memory.source);
    const blocks: number[] = [];
    for (let i = 0; i < 400; i++) blocks.push(B.obj.malloc(64));
    A.obj.free(blocks[10]); // on B's DELAYED list: its pool was FULL
    const e = thrownBy(() => B.obj.free(blocks[10]));
    expect(e).toBeInstanceOf(InvalidPointerError);
    expect(e).toMatchObject({ reason: "double-free", address: blocks[10] });
    A.check();
    distinctBlocks(B, 800, 64);
    A.check();
  });
});

describe("thread lifecycle misuse", () => {
  it("adoptThread() of a handle still in use: that handle's next call is a PymallocError, not pools taken for a freed slot (check() failed for good: 'pool's owner is not attached')", () => {
    for (const allocator of ["pymalloc", "malloc", "debug"] as const) {
      const A = createHeap({ threads: true, allocator, traceAllocations: false });
      const C = attachHeap(A.memory.source, { traceAllocations: false });
      const p = C.obj.malloc(40);
      const q = C.raw.malloc(1000);
      A.adoptThread(C.threadId); // C has not ended: the misuse
      const calls = [() => C.raw.malloc(2000), () => C.obj.malloc(8), () => C.obj.free(p)];
      calls.forEach((call, i) => {
        const e = thrownBy(call);
        expect(e, allocator).toBeInstanceOf(PymallocError);
        // The first says why; the handle is detached from then on.
        if (i === 0) expect((e as Error).message).toMatch(/freed by adoptThread\(\)/);
      });
      A.check();
      A.obj.free(p); // its blocks stay valid, freed by others
      A.raw.free(q);
      A.check();
      expect(A.stats().blocksInUse, allocator).toBe(0);
    }
  });

  it("attachHeap(memory, { restored: true }) over a live threads heap: the old handle's error names it (it named adoptThread(), which was never called)", () => {
    const A = createHeap({ threads: true, traceAllocations: false });
    const p = A.mem.malloc(100);
    const B = attachHeap(A.memory.source, { restored: true }); // the misuse: restored is for saved bytes
    expect(thrownBy(() => A.mem.malloc(8))).toMatchObject({ message: expect.stringMatching(/thread slot 0 of this heap handle was freed by adoptThread\(\) .* or by attachHeap\(memory, \{ restored: true \}\) over this live memory .* while the handle was still in use/) });
    expect(thrownBy(() => A.mem.free(p))).toMatchObject({ message: expect.stringMatching(/detached from its heap \(detachThread\(\), or its thread slot was freed under it: adoptThread\(\), attachHeap with restored: true\)/) });
    B.mem.free(p);
    B.check();
  });

  it("a detached handle's failAllocations() is a PymallocError too (a plan over its families answered 0 where they throw)", () => {
    const A = createHeap({ threads: true, traceAllocations: false });
    const B = attachHeap(A.memory.source);
    B.detachThread();
    expect(thrownBy(() => B.failAllocations({ nth: 1 }))).toBeInstanceOf(PymallocError);
    expect(thrownBy(() => B.obj.malloc(8))).toBeInstanceOf(PymallocError);
    A.check();
  });

  it("attachHeap() of a threads heap through a SharedArrayBuffer that cannot grow (a shared WebAssembly.Memory's .buffer): a TypeError saying what to pass (the handle read the intact heap as damaged once another thread grew it)", () => {
    const memory = new WebAssembly.Memory({ shared: true, initial: 16, maximum: 1000 });
    const A = createHeap({ threads: true, memory, traceAllocations: false });
    const e = thrownBy(() => attachHeap(memory.buffer));
    expect(e).toBeInstanceOf(TypeError);
    expect((e as Error).message).toMatch(/WebAssembly\.Memory itself/);
    const B = attachHeap(memory); // the memory itself: follows A's growth
    const ps: number[] = [];
    for (let i = 0; i < 200; i++) ps.push(A.raw.malloc(20000));
    B.raw.free(ps[199]);
    expect(B.usableSize(ps[198])).toBeGreaterThanOrEqual(20000);
    B.check();
    // A heap in a SharedArrayBuffer of fixed size can never grow: attached through it, as before.
    const fixed = createHeap({ threads: true, memory: new SharedArrayBuffer(1 << 20), traceAllocations: false });
    attachHeap(fixed.memory.source).check();
  });

  it("a Worker that exits holding blocks without detaching: check() passes, leaks() lists them, others free them (a second free refused), adoptThread() then returns what is left", async () => {
    for (const allocator of ["pymalloc", "debug"] as const) {
      const heap = createHeap({ threads: true, allocator, traceAllocations: false });
      const m = await new Promise<{ threadId: number; small: number[]; raw: number[] }>((resolve, reject) => {
        const w = new Worker(join(import.meta.dirname, "workers", "misuse.mjs"), { workerData: { memory: heap.memory.source } });
        let got: { threadId: number; small: number[]; raw: number[] } | undefined;
        w.on("message", (x) => (got = x));
        w.on("error", reject);
        w.on("exit", (code) => (code === 0 && got ? resolve(got) : reject(new Error(`worker exited with ${code}`))));
      });
      heap.check();
      expect(heap.leaks().blocks.length, allocator).toBe(310);
      for (const p of m.small.slice(0, 150)) heap.obj.free(p);
      for (const p of m.raw.slice(0, 5)) heap.raw.free(p);
      const e = thrownBy(() => heap.obj.free(m.small[0]));
      expect(e, allocator).toBeInstanceOf(PymallocError);
      if (allocator === "pymalloc") expect(e).toMatchObject({ reason: "double-free" });
      else expect(e).toMatchObject({ kind: "double-free" });
      heap.check();
      heap.adoptThread(m.threadId);
      heap.check();
      for (const p of m.small.slice(150)) heap.obj.free(p);
      for (const p of m.raw.slice(5)) heap.raw.free(p);
      heap.drainQuarantine();
      heap.check();
      expect(heap.stats().blocksInUse, allocator).toBe(0);
    }
  }, 30_000);
});

describe("use after free in the debug reports", () => {
  it("usableSize() of a freed block: the report says usableSize (it said 'realloc of a block that was already freed' and 'usableSize called through: ?'), with the allocation and free sites", () => {
    const h = createHeap({ allocator: "debug" });
    const p = freedInNamedFrames(h);
    const e = thrownBy(() => h.usableSize(p)) as MemoryCorruptionError;
    expect(e).toBeInstanceOf(MemoryCorruptionError);
    expect(e.kind).toBe("use-after-free");
    expect(e.message).not.toMatch(/called through: \?/);
    expect(e.message).not.toMatch(/realloc of a block/);
    expect(e.message).toMatch(/usableSize of a block that was already freed/);
    expect(e.report.allocatedAt).toMatch(/allocateHere/);
    expect(e.report.freedAt).toMatch(/freeHere/);
    const r = thrownBy(() => h.mem.realloc(p, 80)) as MemoryCorruptionError;
    expect(r.message).toMatch(/realloc of a block that was already freed/);
    expect(r.message).toMatch(/realloc called through: mem/);
    h.check();
  });

  it("a debug onError handler (no threads) that frees or reallocs: a PymallocError (the reported block went into the quarantine twice: check() failed for good)", () => {
    for (const inner of ["free the reported block", "realloc it", "free another block"] as const) {
      let h: Heap | undefined;
      let other = 0;
      const seen: unknown[] = [];
      h = createHeap({
        allocator: "debug",
        traceAllocations: false,
        onError: (r) => {
          try {
            if (inner === "free the reported block") h!.obj.free(r.address);
            else if (inner === "realloc it") h!.obj.realloc(r.address, 100);
            else h!.obj.free(other);
          } catch (e) {
            seen.push(e);
          }
        },
      });
      const p = h.obj.malloc(40);
      other = h.obj.malloc(40);
      h.u8[p + 41] = 1; // an overflow: reported by free, which then goes on (onError returned)
      h.obj.free(p);
      expect(seen.length, inner).toBe(1);
      expect(seen[0], inner).toBeInstanceOf(PymallocError);
      h.check();
      h.drainQuarantine();
      h.check();
      distinctBlocks(h, 200, 40);
    }
  });
});

describe("C's misuse through the wasm fast path (imported and linked): typed errors, the debug report names C's functions", () => {
  const families = readFileSync(join(ROOT, "wasm/clients/families.wasm"));
  const ctors = readFileSync(join(ROOT, "wasm/clients/ctors.wasm"));

  it("double, interior and cross-family frees by C: InvalidPointerError or the debug report, never a trap; check() passes", async () => {
    const linked = await linkFastPath(families);
    interface F { mem_new(n: number): number; mem_del(p: number): void; raw_del(p: number): void; mem_resize(p: number, n: number): number }
    const cases: Array<[string, (x: F) => void]> = [
      ["double free", (x) => { const p = x.mem_new(40); x.mem_del(p); x.mem_del(p); }],
      ["double free, raw block", (x) => { const p = x.mem_new(4000); x.mem_new(4000); x.mem_del(p); x.mem_del(p); }],
      ["interior free", (x) => x.mem_del(x.mem_new(40) + 8)],
      ["PyMem_RawFree of a PyMem block", (x) => x.raw_del(x.mem_new(40))],
      ["realloc of a freed block", (x) => { const p = x.mem_new(40); x.mem_new(40); x.mem_del(p); x.mem_resize(p, 80); }],
      ["free of a negative pointer", (x) => x.mem_del(-16)],
    ];
    for (const [form, bytes] of [["imported", families], ["linked", linked]] as const)
      for (const allocator of ["pymalloc", "debug"] as const)
        for (const [name, run] of cases) {
          const { instance, heap } = await instantiateWithHeap(bytes, { allocator, traceAllocations: false });
          const e = thrownBy(() => run(instance.exports as unknown as F));
          const label = `${form}, ${allocator}: ${name}`;
          expect(e, label).toBeInstanceOf(allocator === "debug" ? MemoryCorruptionError : InvalidPointerError);
          heap.check();
        }
  });

  it("a double free by C in the debug modes: allocated at and freed at name the C functions", async () => {
    for (const bytes of [ctors, await linkFastPath(ctors)]) {
      const { instance } = await instantiateWithHeap(bytes, { allocator: "debug" });
      const x = instance.exports as unknown as { c_make_block(n: number): number; c_free_block(p: number): void };
      const p = x.c_make_block(40);
      x.c_free_block(p);
      const e = thrownBy(() => x.c_free_block(p)) as MemoryCorruptionError;
      expect(e).toBeInstanceOf(MemoryCorruptionError);
      expect(e.kind).toBe("double-free");
      expect(e.report.allocatedAt).toMatch(/at c_make_block \(wasm:/);
      expect(e.report.freedAt).toMatch(/at c_free_block \(wasm:/);
    }
  });
});
