// A heap's identity word (H.IDENTITY, HEAP_VERSION 19): views over another heap's memory of the
// same shape are not this heap's, and a heap made anew over a handle's memory is not its heap
// (a misuse hunt's findings F04 and F05, session 45: each case below was silent corruption).
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { asMemPool, attachHeap, constants, createHeap, fromFunctions, HeapCorruptionError, PymallocError } from "../src/index.js";
import { ROOT } from "./helpers.js";

const { H } = constants;

describe("typed views over another heap's memory of the same shape", () => {
  for (const memory of [undefined, "wasm-shared", "fixed-shared"] as const) {
    it(`freeAs, reallocAs and asMemPool's free refuse them (${memory ?? "the default growable SharedArrayBuffer"})`, () => {
      const make = () =>
        createHeap(
          memory === "wasm-shared"
            ? { memory: new WebAssembly.Memory({ shared: true, initial: 16, maximum: 64 }) }
            : memory === "fixed-shared"
              ? { memory: new SharedArrayBuffer(1 << 20) }
              : {},
        );
      const a = make();
      const b = make();
      const mine = a.mem.mallocAs(Float64Array, 4)!;
      mine[0] = 1.25;
      const theirs = b.mem.mallocAs(Float64Array, 4)!;
      expect(theirs.byteOffset).toBe(mine.byteOffset); // the same offset in a heap alike: what made it pass
      expect(() => a.mem.freeAs(theirs)).toThrow(/another buffer/);
      expect(() => a.mem.reallocAs(theirs, 8)).toThrow(/another buffer/);
      const pa = asMemPool(a);
      const pb = asMemPool(b);
      const pmine = pa.mallocAs("f64", 4)!;
      const ptheirs = pb.mallocAs("f64", 4)!;
      expect(pa.free(ptheirs)).toBe(false);
      expect(a.mem.mallocAs(Float64Array, 4)!.byteOffset).not.toBe(mine.byteOffset); // mine is still live
      expect(mine[0]).toBe(1.25);
      a.check();
      expect(pa.free(pmine)).toBe(true);
    });
  }

  for (const kind of ["fixed-shared", "growable-shared", "wasm-shared"] as const) {
    it(`adapters (no heap of ours in the memory) still take views another Worker's adapter posted (${kind})`, async () => {
      const memory =
        kind === "fixed-shared" ? new SharedArrayBuffer(1 << 20) : kind === "growable-shared" ? new SharedArrayBuffer(1 << 20, { maxByteLength: 1 << 24 }) : new WebAssembly.Memory({ initial: 16, maximum: 256, shared: true });
      const { sharedBump } = await import("./workers/shared-bump.mjs");
      const h = fromFunctions({ ...sharedBump(memory), memory });
      const w = new Worker(join(ROOT, "test", "workers", "adapter-view.mjs"), { workerData: { memory } });
      const { view } = await new Promise<{ view: Float64Array }>((resolve, reject) => {
        w.once("message", resolve);
        w.once("error", reject);
      });
      await w.terminate();
      expect(view.buffer).not.toBe(h.buffer);
      expect(view[15]).toBe(2.5);
      h.mem.freeAs(view); // over this memory, by another thread's buffer object
    }, 30_000);
  }

  it("a restored copy is a heap of its own: views over the heap it was copied from are refused", () => {
    const a = createHeap();
    const view = a.mem.mallocAs(Float64Array, 4)!;
    const src = a.memory.source as SharedArrayBuffer;
    const copy = new SharedArrayBuffer(src.byteLength, { maxByteLength: src.maxByteLength });
    new Uint8Array(copy).set(new Uint8Array(src));
    const c = attachHeap(copy, { restored: true });
    expect(c.u32[(c.heapBase >>> 2) + H.IDENTITY]).not.toBe(a.u32[(a.heapBase >>> 2) + H.IDENTITY]);
    expect(() => c.mem.freeAs(view)).toThrow(/another buffer/);
    a.mem.freeAs(view);
    a.check();
    c.check();
  });
});

describe("a heap made anew over a memory that holds one", () => {
  it("in another thread (createHeap where attachHeap was meant): refused, naming attachHeap", async () => {
    const main = createHeap();
    const p = main.obj.malloc(24);
    main.u8[p] = 7;
    const w = new Worker(join(ROOT, "test", "workers", "create-over.mjs"), { workerData: { memory: main.memory.source } });
    const msg: { made: boolean; typed?: boolean; message?: string } = await new Promise((resolve, reject) => {
      w.once("message", resolve);
      w.once("error", reject);
    });
    await w.terminate();
    expect(msg.made).toBe(false);
    expect(msg.typed).toBe(true);
    expect(msg.message).toMatch(/made by another thread.*attachHeap\(memory\)/);
    expect(main.u8[p]).toBe(7);
    main.check();
  }, 30_000);

  it("in this thread: allowed (a memory reused), and the old handle's check() names the heap it lost", () => {
    const old = createHeap();
    old.obj.malloc(24);
    const fresh = createHeap({ memory: old.memory.source });
    fresh.obj.malloc(24);
    fresh.check();
    let e: unknown;
    try {
      old.check();
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(HeapCorruptionError);
    expect((e as HeapCorruptionError).field).toBe("H.IDENTITY");
    expect(String((e as Error).message)).toMatch(/createHeap\(\) made a new heap over its memory/);
  });

  it("an identity word of 0 is refused by attachHeap", () => {
    const h = createHeap();
    h.u32[(h.heapBase >>> 2) + H.IDENTITY] = 0;
    expect(() => attachHeap(h.memory.source as SharedArrayBuffer)).toThrow(PymallocError);
  });
});

describe("two heaps in one memory", () => {
  it("whose ranges overlap: the second createHeap is a RangeError naming both (misuse hunt F16)", () => {
    const buf = new ArrayBuffer(4 << 20);
    const a = createHeap({ memory: buf }); // may grow over the whole memory
    expect(() => createHeap({ memory: buf, heapBase: 1 << 20 })).toThrow(/would overlap the heap at 0x00000000/);
    a.check();
  });

  it("each in its own range: both made, each refuses the other's pointers", () => {
    const buf = new ArrayBuffer(4 << 20);
    const a = createHeap({ memory: buf, maxBytes: 1 << 20 });
    const b = createHeap({ memory: buf, heapBase: 1 << 20 });
    const p = a.obj.malloc(24);
    const q = b.obj.malloc(24);
    expect(() => a.obj.free(q)).toThrow(PymallocError);
    expect(() => b.obj.free(p)).toThrow(PymallocError);
    // A heap made anew at the same base is no overlap.
    createHeap({ memory: buf, heapBase: 1 << 20 }).check();
  });
});
