// bench/adapters.mjs — one small adapter per allocator the benchmark compares.
//
// Each adapter: { name, key, note, available() -> true | "reason it is skipped", create() -> instance }
// An instance gives the replay loop `fams` (index = trace domain: 0 raw, 1 mem, 2 obj; each with
// malloc(n), calloc(nelem, elsize), realloc(p, n), free(p)) and `view` (an object whose `u8` is the
// current byte view of the memory holding the blocks), plus peakFootprint(), byteLength() and
// dispose(). A fresh instance is made for every run; where the memory can be reused, it is (warm
// pages), so first-touch page faults are not what is measured.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHeap } from "../dist/index.js";
import { heapView } from "../dist/trace/replay.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const WASM = join(HERE, "..", "wasm", "dlmalloc", "dlmalloc.wasm");

/** pymalloc with createHeap options `opts`; the families by domain, as CPython uses them. */
function pymalloc(key, label, note, opts) {
  let memory;
  return {
    name: label,
    key,
    note,
    available: () => true,
    create() {
      const heap = createHeap({ ...opts, memory, traceAllocations: false });
      memory = heap.memory.source; // the next run formats a fresh heap into the same memory
      return {
        fams: [heap.raw, heap.mem, heap.obj],
        view: heapView(heap), // follows the memory's growth
        peakFootprint: () => heap.stats().peakFootprint,
        byteLength: () => heap.memory.byteLength,
        dispose() {},
      };
    },
  };
}

/** @thi.ng/malloc's MemPool: a fixed buffer, sized for the trace, reused across runs. */
function thing() {
  let mod;
  let buf;
  return {
    name: "@thi.ng/malloc MemPool",
    key: "thing",
    note: "first fit over an address-ordered free list; frees cost O(live blocks)",
    available() {
      return import("@thi.ng/malloc").then(
        (m) => {
          mod = m;
          return true;
        },
        () => "@thi.ng/malloc is not installed (npm install)",
      );
    },
    create(trace) {
      const size = Math.min(2 ** 31, Math.max(64 << 20, Math.ceil((trace.peakLiveBytes * 3) / 65536) * 65536));
      if (!buf || buf.byteLength !== size) buf = new ArrayBuffer(size);
      new Uint8Array(buf, 0, 4096).fill(0);
      const pool = new mod.MemPool({ buf, align: 16, compact: true, split: true });
      let peak = 0;
      const f = {
        malloc: (n) => {
          const p = pool.malloc(n || 1);
          const top = pool.top;
          if (top > peak) peak = top;
          return p;
        },
        calloc: (a, b) => {
          const p = pool.calloc(a * b || 1);
          const top = pool.top;
          if (top > peak) peak = top;
          return p;
        },
        realloc: (p, n) => {
          const q = pool.realloc(p, n || 1);
          const top = pool.top;
          if (top > peak) peak = top;
          return q;
        },
        free: (p) => {
          pool.free(p);
        },
      };
      return { fams: [f, f, f], view: { u8: new Uint8Array(buf) }, peakFootprint: () => peak, byteLength: () => size, dispose() {} };
    },
  };
}

/** dlmalloc (wasi-libc's malloc) compiled to WebAssembly, called per event from JS. */
function dlmalloc() {
  let module;
  let memory;
  let heapBase = 0;
  return {
    name: "dlmalloc (WebAssembly)",
    key: "dlmalloc-wasm",
    note: "wasi-libc malloc built by wasm/build.sh, one export call per event",
    available() {
      try {
        module = new WebAssembly.Module(readFileSync(WASM));
        return true;
      } catch (e) {
        return `wasm/dlmalloc/dlmalloc.wasm missing or broken (run wasm/build.sh; needs clang, lld, wasi-libc): ${e.message}`;
      }
    },
    create() {
      if (!memory) memory = new WebAssembly.Memory({ initial: 2, maximum: 65536 });
      else {
        // Fresh dlmalloc state on the same, warm memory: zero its static data, re-instantiate.
        new Uint8Array(memory.buffer, 0, heapBase).fill(0);
      }
      const inst = new WebAssembly.Instance(module, { env: { memory } });
      const x = inst.exports;
      heapBase = x.__heap_base.value;
      const view = { u8: new Uint8Array(memory.buffer) };
      const refresh = () => {
        if (view.u8.byteLength === 0) view.u8 = new Uint8Array(memory.buffer);
      };
      const f = {
        malloc: (n) => {
          const p = x.malloc(n) >>> 0;
          refresh();
          return p;
        },
        calloc: (a, b) => {
          const p = x.calloc(a, b) >>> 0;
          refresh();
          return p;
        },
        realloc: (p, n) => {
          const q = x.realloc(p, n) >>> 0;
          refresh();
          return q;
        },
        free: (p) => x.free(p),
      };
      return {
        fams: [f, f, f],
        view,
        peakFootprint: () => x.bench_peak() >>> 0,
        byteLength: () => memory.buffer.byteLength,
        dispose() {},
      };
    },
  };
}

/** A bump allocator in JS: free does nothing. The speed floor. */
function bump() {
  let buf;
  return {
    name: "bump (JS, no free)",
    key: "bump",
    note: "the floor: a pointer increment per allocation",
    available: () => true,
    create(trace) {
      const size = Math.min(2 ** 32 - 65536, Math.ceil((trace.totalRequestedBytes + 64 * trace.events + (1 << 20)) / 65536) * 65536);
      if (!buf || buf.byteLength < size) buf = new ArrayBuffer(size);
      const u8 = new Uint8Array(buf);
      const u32 = new Uint32Array(buf);
      let top = 16;
      const malloc = (n) => {
        const p = top + 16;
        u32[(p - 4) >>> 2] = n;
        top = p + n + 15 - ((p + n + 15) % 16);
        return p;
      };
      const f = {
        malloc,
        calloc: (a, b) => {
          const n = a * b;
          const p = malloc(n);
          u8.fill(0, p, p + n);
          return p;
        },
        realloc: (p, n) => {
          const q = malloc(n);
          u8.copyWithin(q, p, p + Math.min(n, u32[(p - 4) >>> 2]));
          return q;
        },
        free: () => {},
      };
      return { fams: [f, f, f], view: { u8 }, peakFootprint: () => top, byteLength: () => buf.byteLength, dispose() {} };
    },
  };
}

/** What many users do: a new Uint8Array per block, left to the garbage collector. */
function gcTypedArrays() {
  return {
    name: "typed arrays + GC",
    key: "gc",
    note: "new Uint8Array(n) per malloc; pointers are handles; footprint sampled from process.memoryUsage()",
    available: () => true,
    create(trace) {
      const arrays = new Array(trace.maxSlots + 1).fill(null);
      const freeHandles = [];
      let next = 1;
      const handle = (a) => {
        const h = freeHandles.length > 0 ? freeHandles.pop() : next++;
        arrays[h] = a;
        return h;
      };
      const f = {
        malloc: (n) => handle(new Uint8Array(n)),
        calloc: (a, b) => handle(new Uint8Array(a * b)),
        realloc: (h, n) => {
          const old = arrays[h];
          const a = new Uint8Array(n);
          a.set(old.length <= n ? old : old.subarray(0, n));
          arrays[h] = a;
          return h;
        },
        free: (h) => {
          arrays[h] = null;
          freeHandles.push(h);
        },
      };
      // The one-byte touch goes to the handle's array (see touch below).
      const view = { u8: null, arrays };
      return {
        fams: [f, f, f],
        view,
        touch: (v, h, byte) => {
          const a = v.arrays[h];
          if (a.length > 0) a[0] = byte;
        },
        peakFootprint: () => NaN,
        byteLength: () => NaN,
        dispose() {},
        gc: true,
      };
    },
  };
}

export function allAdapters() {
  return [
    pymalloc("pymalloc", 'pymalloc ("pymalloc")', "object allocator for <= 512 B, TLSF above", { allocator: "pymalloc" }),
    pymalloc("align16", "pymalloc, alignment: 16", "32 size classes of 16 bytes (CPython 3.8+) instead of 64 of 8", { allocator: "pymalloc", alignment: 16 }),
    pymalloc("malloc", 'pymalloc ("malloc")', "our raw TLSF allocator alone: the seed's system malloc", { allocator: "malloc" }),
    pymalloc("threads", "pymalloc, threads: true", "one thread: its own pools without a lock; raw blocks and arena work under the heap's lock", { allocator: "pymalloc", threads: true }),
    dlmalloc(),
    thing(),
    bump(),
    gcTypedArrays(),
    pymalloc("debug", 'pymalloc ("debug", untraced)', "debug hooks over pymalloc, traceAllocations: false", { allocator: "debug" }),
    pymalloc("hardened", "pymalloc, hardened: true", "every popped block checked, double frees of small blocks found", { allocator: "pymalloc", hardened: true }),
  ];
}
