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

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * pymalloc with createHeap options `opts`; the families by domain, as CPython uses them. The
 * loop's view is the heap itself: `heap.u8` is read at every event, as the README teaches.
 * held: instead, a Uint8Array kept in the loop's own object and replaced from the memory's
 * growth callback (`heap.memory.onGrow`): the reference the getter is measured against.
 */
function pymalloc(key, label, note, opts, held = false) {
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
        view: held ? heldView(heap) : heap,
        peakFootprint: () => heap.stats().peakFootprint,
        byteLength: () => heap.memory.byteLength,
        dispose() {},
      };
    },
  };
}

/** A view held by the caller, replaced when the heap's memory grows (public: Memory.onGrow). */
function heldView(heap) {
  const view = { u8: heap.u8 };
  heap.memory.onGrow((v) => {
    view.u8 = v.u8;
  });
  return view;
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

/**
 * A malloc compiled to WebAssembly (wasm/build.sh), called per event from JS through its exports,
 * as a user of an Emscripten-style module calls it; the byte view is replaced when the memory
 * grows (its old buffer is then detached: length 0), as such a user does.
 * ctors: the module exports __wasm_call_ctors, to run once per fresh instance (emmalloc, mimalloc).
 * zero: the whole memory is zeroed before a fresh instance (mimalloc takes sbrk memory as zeroed);
 * otherwise only the static data below __heap_base (dlmalloc, emmalloc keep their state there).
 */
function wasmMalloc(key, name, file, note, { zero = false } = {}) {
  let module;
  let memory;
  let heapBase = 0;
  return {
    name,
    key,
    note,
    available() {
      try {
        module = new WebAssembly.Module(readFileSync(join(HERE, "..", "wasm", file)));
        return true;
      } catch (e) {
        return `wasm/${file} missing or broken (run wasm/build.sh; needs clang, lld, wasi-libc): ${e.message}`;
      }
    },
    create() {
      if (!memory) memory = new WebAssembly.Memory({ initial: 2, maximum: 65536 });
      else {
        // Fresh allocator state on the same, warm memory: zero its static data, re-instantiate.
        new Uint8Array(memory.buffer, 0, zero ? memory.buffer.byteLength : heapBase).fill(0);
      }
      // WASI imports of the C library (mimalloc reads the environment and the clock once at
      // start-up): succeed with nothing (an empty environment, zeroed memory).
      const wasi = {};
      for (const i of WebAssembly.Module.imports(module)) if (i.module === "wasi_snapshot_preview1") wasi[i.name] = () => 0;
      const inst = new WebAssembly.Instance(module, { env: { memory }, wasi_snapshot_preview1: wasi });
      const x = inst.exports;
      heapBase = x.__heap_base.value;
      x.__wasm_call_ctors?.();
      const view = { u8: new Uint8Array(memory.buffer) };
      const refresh = () => {
        if (view.u8.byteLength === 0) view.u8 = new Uint8Array(memory.buffer);
      };
      const f = {
        malloc: (n) => {
          const p = x.malloc(n || 1) >>> 0; // 0 bytes: emmalloc gives NULL, realloc frees
          refresh();
          return p;
        },
        calloc: (a, b) => {
          const p = x.calloc(a, b || 1) >>> 0;
          refresh();
          return p;
        },
        realloc: (p, n) => {
          const q = x.realloc(p, n || 1) >>> 0;
          refresh();
          return q;
        },
        free: (p) => x.free(p),
      };
      return {
        fams: [f, f, f],
        view,
        // From __heap_base, where their sbrk starts (what an sbrk hands out, as pymalloc's
        // peakFootprint counts from its heap's start, its header included): the module's static
        // data and 64 KiB C stack below it are not heap (until 2026-12-06 they were counted,
        // 65.5 KiB for dlmalloc, which made small heaps look worse for it than they are).
        peakFootprint: () => (x.bench_peak() >>> 0) - heapBase,
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
    wasmMalloc("dlmalloc-wasm", "dlmalloc (WebAssembly)", "dlmalloc/dlmalloc.wasm", "wasi-libc malloc built by wasm/build.sh, one export call per event"),
    wasmMalloc("emmalloc-wasm", "emmalloc (WebAssembly)", "peers/emmalloc.wasm", "Emscripten 3.1.69's emmalloc built by wasm/build.sh, one export call per event"),
    wasmMalloc("mimalloc-wasm", "mimalloc (WebAssembly)", "peers/mimalloc.wasm", "mimalloc 2.1.2 (Emscripten 3.1.69's) built for wasm32-wasi by wasm/build.sh, one export call per event", { zero: true }),
    thing(),
    bump(),
    gcTypedArrays(),
    pymalloc("debug", 'pymalloc ("debug", untraced)', "debug hooks over pymalloc, traceAllocations: false", { allocator: "debug" }),
    pymalloc("sampled", "pymalloc, sampleInterval: true", "sampled allocation sites, one per 512 KiB on average (Go's and jemalloc's default)", { allocator: "pymalloc", sampleInterval: true }),
    pymalloc("sampled64k", "pymalloc, sampleInterval: 65536", "sampled allocation sites, one per 64 KiB on average", { allocator: "pymalloc", sampleInterval: 65536 }),
    pymalloc("held", "pymalloc, view held in a local", "pymalloc with the loop's view held and replaced by a growth callback: what heap.u8 is measured against", { allocator: "pymalloc" }, true),
    pymalloc("hardened", "pymalloc, hardened: true", "every popped block checked, double frees of small blocks found", { allocator: "pymalloc", hardened: true }),
    pymalloc("wholepools", "pymalloc, subPools: false", "every size class in whole pools from its first block, whole arenas (CPython's layout; the default until sub-pools)", { allocator: "pymalloc", subPools: false }),
    pymalloc("rawfirst", "pymalloc, rawFirst: true", "young size classes served by the raw allocator until their chunk size is common (the raw start; for small heaps)", { allocator: "pymalloc", rawFirst: true }),
  ];
}
