// pymalloc as the allocator of C code in WebAssembly: what instantiateWithHeap(), heapForModule()
// and wasmModuleInfo() do with a real module (wasm/clients/ctors.c: allocates from a
// constructor, 1 MiB stack, names kept), and the faults a new user hit while building such
// clients (issue #17): a module with its own malloc, the memory's declared minimum, the heap base
// before instantiation, wrapping the allocator imports, initialisation, quarantined blocks in
// stats(), and the allocation site of a block allocated by C.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Ctors } from "./helpers.js";
import { sections } from "../src/compat/wasm-bytes.js";
import { createHeap, heapForModule, instantiateWithHeap, MemoryCorruptionError, PymallocError, pymemImports, wasmModuleInfo, type AllocatorFunctions } from "../src/index.js";
import { readTraceFile } from "../src/trace/file.js";

const ROOT = join(import.meta.dirname, "..");
const bytes = (p: string): Uint8Array => new Uint8Array(readFileSync(join(ROOT, p)));
const CTORS = bytes("wasm/clients/ctors.wasm");
const DLMALLOC = bytes("wasm/dlmalloc/dlmalloc.wasm");
const PROGRAM = bytes("wasm/program/program.wasm");

const cString = (u8: Uint8Array, p: number): string => {
  let e = p;
  while (u8[e] !== 0) e++;
  return new TextDecoder().decode(u8.subarray(p, e));
};

describe("wasmModuleInfo(): the module's memory and heap base from its bytes", () => {
  it("reads the memory import's limits, __heap_base's initial value and the allocator imports", () => {
    const info = wasmModuleInfo(CTORS);
    expect(info.memory).toMatchObject({ module: "env", name: "memory", shared: false });
    expect(info.memory!.minBytes).toBeGreaterThan(1 << 20); // the 1 MiB stack and the data
    expect(info.allocatorImports.sort()).toEqual(["calloc", "free", "malloc", "realloc"]);
    expect(info.allocatorExports).toEqual([]);
    expect(info.initializer).toBe("__wasm_call_ctors");
    // The value an instance reports.
    const inst = new WebAssembly.Instance(new WebAssembly.Module(CTORS), {
      env: { memory: new WebAssembly.Memory({ initial: info.memory!.minBytes / 65536 }), malloc: () => 0, free() {}, calloc: () => 0, realloc: () => 0 },
    });
    expect(info.heapBase).toBe((inst.exports.__heap_base as WebAssembly.Global).value);
    const dl = wasmModuleInfo(DLMALLOC);
    expect(dl.allocatorImports).toEqual([]);
    expect(dl.allocatorExports).toContain("malloc");
    expect(() => wasmModuleInfo(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(TypeError);
  });

  it("names that are not ASCII (UTF-8) are read whole, and the names after them too", () => {
    const utf8 = (t: string) => [...new TextEncoder().encode(t)];
    const str = (t: string) => [utf8(t).length, ...utf8(t)];
    const imp = (m: string, n: string) => [...str(m), ...str(n), 0x00, 0x00]; // a function of type 0
    const imports = [2, ...imp("ünïcode→", "f"), ...imp("env", "malloc")];
    const exportsSec = [1, ...str("größe"), 0x00, 0x00]; // the first imported function
    const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 2, imports.length, ...imports, 7, exportsSec.length, ...exportsSec]);
    const m = new WebAssembly.Module(bytes); // a valid module
    expect(WebAssembly.Module.imports(m).map((d) => d.module)).toEqual(["ünïcode→", "env"]);
    expect(wasmModuleInfo(bytes).allocatorImports).toEqual(["malloc"]);
    const names: string[] = [];
    for (const { id, r } of sections(bytes)) if (id === 2) for (let n = r.u32(); n > 0; n--, r.pos += 2) names.push(r.name(), r.name());
    expect(names).toEqual(["ünïcode→", "f", "env", "malloc"]);
  });
});

describe("a module's bytes read again when they change (checkedModuleInfo's answers by bytes object, session 50)", () => {
  /** A module importing env.memory (2 pages) and exporting __heap_base = base (a 3-byte LEB: every base below 2^20 gives the same length). */
  const withHeapBase = (base: number): Uint8Array => {
    const str = (t: string) => [t.length, ...[...t].map((c) => c.charCodeAt(0))];
    const imports = [1, ...str("env"), ...str("memory"), 0x02, 0x00, 0x02];
    const globals = [1, 0x7f, 0x00, 0x41, (base & 0x7f) | 0x80, ((base >> 7) & 0x7f) | 0x80, (base >> 14) & 0x3f, 0x0b];
    const exportsSec = [1, ...str("__heap_base"), 0x03, 0x00];
    return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, imports.length, ...imports, 6, globals.length, ...globals, 7, exportsSec.length, ...exportsSec]);
  };

  it("the same bytes object (a view, or its ArrayBuffer) written over with another module: heapForModule places the heap at the new __heap_base", () => {
    const a = withHeapBase(65536);
    const b = withHeapBase(196608);
    expect(b.length).toBe(a.length);
    expect(new WebAssembly.Module(a)).toBeInstanceOf(WebAssembly.Module); // valid modules
    const src = a.slice();
    expect(heapForModule(src).heapBase).toBe(65536);
    expect(heapForModule(src.buffer).heapBase).toBe(65536);
    src.set(b);
    expect(heapForModule(src).heapBase).toBe(196608);
    expect(heapForModule(src.buffer).heapBase).toBe(196608);
    // Two objects with other bytes: each its own.
    expect(heapForModule(a).heapBase).toBe(65536);
    expect(heapForModule(b).heapBase).toBe(196608);
    // wasmModuleInfo's answer is the caller's to change: changing it changes no later answer.
    const info = wasmModuleInfo(a);
    info.heapBase = 8;
    info.allocatorImports.push("malloc");
    expect(wasmModuleInfo(a)).toMatchObject({ heapBase: 65536, allocatorImports: [] });
    expect(heapForModule(a).heapBase).toBe(65536);
  });
});

describe("instantiateWithHeap()", () => {
  it("refuses a module that carries its own malloc, with a clear error, before it can run", async () => {
    const err = await instantiateWithHeap(DLMALLOC).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PymallocError);
    expect((err as Error).message).toMatch(/carries its own malloc.*imports none of env\.malloc/);
    // Also given compiled: the module's import list is readable from a WebAssembly.Module.
    await expect(instantiateWithHeap(new WebAssembly.Module(DLMALLOC))).rejects.toThrow(/carries its own malloc/);
    expect((err as Error).message).toMatch(/wasm\/include\/pymemcompat\.c/);
  });

  it("refuses a plain wasi-libc build (dlmalloc inside, malloc not exported) and says how to build it for a heap", async () => {
    // What a user gets from clang --target=wasm32-wasi without pymemcompat.c: a module that
    // allocates but neither imports nor exports malloc (the C binary-trees client over dlmalloc).
    const plain = bytes("wasm/clients/bintrees-dlmalloc.wasm");
    expect(WebAssembly.Module.exports(new WebAssembly.Module(plain)).some((e) => e.name === "malloc")).toBe(false);
    const err = await instantiateWithHeap(plain).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PymallocError);
    expect((err as Error).message).toMatch(/imports none of env\.malloc.*carries its own malloc inside.*wasm\/include\/pymemcompat\.h and wasm\/include\/pymemcompat\.c/);
  });

  it("a source that is neither bytes nor a WebAssembly.Module is a TypeError naming what it needs", async () => {
    for (const bad of [null, "x", 42, {}, [0, 97, 115, 109]])
      await expect(instantiateWithHeap(bad as never)).rejects.toThrow(/instantiateWithHeap: the module must be its bytes/);
    const response = new Response(new Uint8Array(CTORS));
    await expect(instantiateWithHeap(response as never)).rejects.toThrow(/a fetch's Promise or Response: pass await \(await fetch\(url\)\)\.arrayBuffer\(\)/);
    await expect(instantiateWithHeap(Promise.resolve(response) as never)).rejects.toThrow(/a fetch's Promise or Response/);
    await expect(instantiateWithHeap(null as never, { heap: createHeap({ memory: new WebAssembly.Memory({ initial: 2 }) }) })).rejects.toThrow(TypeError);
  });

  it("memoryKind: only \"wasm\" (the module imports a WebAssembly.Memory); another kind is a TypeError, not ignored", async () => {
    await expect(instantiateWithHeap(CTORS, { memoryKind: "fixed" })).rejects.toThrow(/memoryKind: a module's heap is in the WebAssembly.Memory it imports/);
    await expect(instantiateWithHeap(CTORS, { memoryKind: "growable-shared" })).rejects.toThrow(TypeError);
    expect(() => heapForModule(CTORS, { memoryKind: "resizable" })).toThrow(TypeError);
    const { heap } = await instantiateWithHeap(CTORS, { memoryKind: "wasm" });
    expect(heap.memory.kind).toBe("wasm");
  });

  it("makes the memory at least the module's declared minimum (a 1 MiB stack)", async () => {
    const need = wasmModuleInfo(CTORS).memory!.minBytes;
    const { instance, heap } = await instantiateWithHeap(CTORS, { initialBytes: 1 << 16 });
    expect(heap.memory.byteLength).toBeGreaterThanOrEqual(need);
    expect((instance.exports as unknown as Ctors).stack_sum(2)).toBe(2 * ((1023 * 1024) / 2));
    // Given compiled (no bytes to read the limits from), a clear RangeError instead of a bare LinkError.
    await expect(instantiateWithHeap(new WebAssembly.Module(CTORS), { initialBytes: 1 << 20 })).rejects.toThrow(/pass the module's bytes/);
  });

  it("threads: true: a module built for a shared memory runs on the wasm fast path; one built for an unshared memory gets a TypeError saying how to build it", async () => {
    const { instance, heap } = await instantiateWithHeap(bytes("wasm/clients/ctors-shared.wasm"), { threads: true });
    expect(heap.threads).toBe(true);
    expect(heap.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(String(heap.wasmImports().malloc)).toMatch(/native code/);
    const x = instance.exports as unknown as Ctors;
    expect(cString(heap.u8, x.get_greeting())).toBe("hello from a constructor");
    const p = x.c_make_block(40);
    expect(heap.usableSize(p)).toBe(40);
    x.c_free_block(p);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(1);
    await expect(instantiateWithHeap(CTORS, { threads: true })).rejects.toThrow(/--shared-memory/);
  });

  it("runs the module's constructors once the heap exists (allocating from the heap), unless initialize: false", async () => {
    const { instance, heap } = await instantiateWithHeap(CTORS, { allocator: "pymalloc_debug" });
    const x = instance.exports as unknown as Ctors;
    const p = x.get_greeting();
    expect(p).toBeGreaterThanOrEqual(heap.heapBase);
    expect(cString(heap.u8, p)).toBe("hello from a constructor");
    expect(heap.leaks().totalBlocks).toBe(1);
    heap.check();
    const lazy = await instantiateWithHeap(CTORS, { initialize: false });
    expect((lazy.instance.exports as unknown as Ctors).get_greeting()).toBe(0);
    expect(lazy.heap.stats().blocksInUse).toBe(0);
  });

  it("lets wrapAllocator wrap and count the module's allocator calls; env.malloc in imports is an error, not overwritten", async () => {
    const counts = { malloc: 0, free: 0, calloc: 0, realloc: 0 };
    const { instance, heap } = await instantiateWithHeap(CTORS, {
      wrapAllocator: (h: AllocatorFunctions) => ({
        malloc: (n) => (counts.malloc++, h.malloc(n)),
        free: (p) => (counts.free++, h.free(p)),
        calloc: (n, m) => (counts.calloc++, h.calloc(n, m)),
        realloc: (p, n) => (counts.realloc++, h.realloc(p, n)),
      }),
    });
    const x = instance.exports as unknown as Ctors;
    const a = x.c_make_block(40);
    const b = x.c_calloc(4, 10);
    expect(heap.u8.subarray(b, b + 40).every((v) => v === 0)).toBe(true);
    const c = x.c_realloc(a, 400);
    x.c_free_block(b);
    x.c_free_block(c);
    expect(counts).toEqual({ malloc: 2, free: 2, calloc: 1, realloc: 1 }); // malloc: the constructor's and ours
    expect(heap.stats().blocksInUse).toBe(1);
    await expect(instantiateWithHeap(CTORS, { imports: { env: { malloc: () => 0 } } })).rejects.toThrow(/wrapAllocator/);
    await expect(instantiateWithHeap(CTORS, { wrapAllocator: () => ({ malloc: 3 as never }) })).rejects.toThrow(TypeError);
  });

  it("failAllocations() reaches C code on the wasm fast path (its allocations go to JS while a plan is in place); hardened and sampled heaps link no fast path", async () => {
    const { instance, heap } = await instantiateWithHeap(CTORS);
    expect(String(heap.wasmImports().malloc)).toMatch(/native code/);
    const x = instance.exports as unknown as Ctors;
    const keep = x.c_make_block(40);
    heap.failAllocations({ family: "mem", every: 2 });
    const got = [x.c_make_block(40), x.c_make_block(40), x.c_calloc(4, 10), x.c_calloc(4, 10), x.c_make_block(4000), x.c_make_block(4000)];
    expect(got.map((p) => p !== 0)).toEqual([true, false, true, false, true, false]);
    const moved = x.c_realloc(keep, 400); // the 7th allocation: granted
    expect(moved).not.toBe(0);
    expect(x.c_realloc(moved, 4000)).toBe(0); // the 8th: refused, the block stays
    expect(heap.usableSize(moved)).toBeGreaterThanOrEqual(400);
    expect(heap.failAllocations(null)).toBe(4);
    for (let i = 0; i < 10; i++) expect(x.c_make_block(40)).not.toBe(0); // back on the fast path
    heap.check();
    // A compiled module (linked before its heap exists, through trampolines) sees the plan too.
    const late = await instantiateWithHeap(new WebAssembly.Module(CTORS), { initialBytes: 4 << 20 });
    const y = late.instance.exports as unknown as Ctors;
    late.heap.failAllocations({ family: "mem", nth: 1 });
    expect(y.c_make_block(40)).toBe(0);
    expect(y.c_make_block(40)).not.toBe(0);
    for (const options of [{ hardened: true }, { sampleInterval: 4096 }]) {
      const h = (await instantiateWithHeap(CTORS, options)).heap;
      expect(String(h.wasmImports().malloc)).not.toMatch(/native code/);
    }
  });

  it("heapForModule(): the heap before instantiation, its wasmImports() wrapped by hand", () => {
    const heap = heapForModule(CTORS, { allocator: "debug" });
    expect(heap.heapBase).toBe(wasmModuleInfo(CTORS).heapBase);
    let calls = 0;
    const imports = heap.wasmImports();
    const env = { ...imports, malloc: (n: number) => (calls++, imports.malloc(n)) };
    const x = new WebAssembly.Instance(new WebAssembly.Module(CTORS), { env }).exports as unknown as Ctors & { __wasm_call_ctors(): void };
    x.__wasm_call_ctors();
    expect(calls).toBe(1);
    expect(cString(heap.u8, x.get_greeting())).toBe("hello from a constructor");
    heap.check();
    // A module that exports no __heap_base needs the heapBase option.
    expect(() => heapForModule(PROGRAM.slice(0, 8))).toThrow(/__heap_base/);
  });

  it("in the debug modes, stats().blocksInUse leaves quarantined blocks out and counts them apart", async () => {
    for (const allocator of ["debug", "pymalloc_debug", "malloc_debug"] as const) {
      const { instance, heap } = await instantiateWithHeap(CTORS, { allocator, initialize: false });
      const x = instance.exports as unknown as Ctors;
      const blocks = Array.from({ length: 2000 }, (_, i) => x.c_make_block(8 + (i % 600)));
      const held = heap.stats();
      expect(held.blocksInUse).toBe(2000);
      expect(held.quarantinedBlocks).toBe(0);
      for (const p of blocks) x.c_free_block(p);
      const s = heap.stats();
      expect(s.blocksInUse).toBe(0);
      expect(s.bytesInUse).toBe(0);
      expect(s.quarantinedBlocks).toBeGreaterThan(0);
      expect(s.quarantinedBytes).toBeGreaterThan(0);
      expect(heap.leaks().totalBlocks).toBe(0);
      heap.debug!.drainQuarantine();
      expect(heap.stats()).toMatchObject({ blocksInUse: 0, quarantinedBlocks: 0, quarantinedBytes: 0 });
    }
    // Release mode: nothing quarantined.
    expect(createHeap().stats().quarantinedBlocks).toBe(0);
  });

  it("reports the allocation site of a block allocated by C from the wasm function that called malloc", async () => {
    const { instance, heap } = await instantiateWithHeap(CTORS, { allocator: "debug", initialize: false });
    const x = instance.exports as unknown as Ctors;
    x.c_make_block(24);
    const [site] = heap.leaks().bySite;
    expect(site.blocks).toBe(1);
    expect(site.site).toMatch(/^at c_make_block \(wasm:\/\//);
    expect(site.site).not.toMatch(/wasm-imports|compat/);
  });
});

describe("C clients: CPython's families through wasm/include/pymemcompat.h", () => {
  interface Families {
    obj_new(n: number): number;
    obj_del(p: number): void;
    mem_new(n: number): number;
    mem_resize(p: number, n: number): number;
    mem_del(p: number): void;
    raw_new(a: number, b: number): number;
    raw_del(p: number): void;
    c_malloc(n: number): number;
    c_free(p: number): void;
    buggy_release(n: number): void;
  }
  const FAMILIES = bytes("wasm/clients/families.wasm");

  it("a PyObject_Malloc block freed with PyMem_Free is reported as an api-mismatch by the debug hooks", async () => {
    const { instance, heap } = await instantiateWithHeap(FAMILIES, { allocator: "debug" });
    const x = instance.exports as unknown as Families;
    let err: unknown;
    try {
      x.buggy_release(40);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MemoryCorruptionError);
    expect((err as MemoryCorruptionError).kind).toBe("api-mismatch");
    expect((err as MemoryCorruptionError).report).toMatchObject({ allocatedBy: "o" });
    expect((err as Error).message).toMatch(/released through m/);
  });

  it("each family allocates from its own domain of one heap; the right pairings run clean in every mode", async () => {
    for (const allocator of ["pymalloc", "debug", "pymalloc_debug", "malloc"] as const) {
      const { instance, heap } = await instantiateWithHeap(FAMILIES, { allocator });
      const x = instance.exports as unknown as Families;
      const o = x.obj_new(24);
      const m = x.mem_resize(x.mem_new(10), 300);
      const r = x.raw_new(10, 100);
      expect(heap.u8.subarray(r, r + 1000).every((v) => v === 0)).toBe(true);
      const c = x.c_malloc(64);
      heap.check();
      if (allocator !== "pymalloc" && allocator !== "malloc") expect(heap.leaks().blocks.map((b) => b.family).sort()).toEqual(["m", "m", "o", "r"]);
      x.obj_del(o);
      x.mem_del(m);
      x.raw_del(r);
      x.c_free(c);
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
    }
    // pymemImports(): the same twelve functions for a module instantiated by hand.
    const heap = heapForModule(FAMILIES);
    const x = new WebAssembly.Instance(new WebAssembly.Module(FAMILIES), { env: { ...heap.wasmImports(), ...pymemImports(heap) } }).exports as unknown as Families;
    x.obj_del(x.obj_new(8));
    expect(heap.stats().blocksInUse).toBe(0);
  });
});

describe("C clients built with wasi-libc: binary trees and a trace replayed inside wasm", () => {
  const BT = { pymalloc: bytes("wasm/clients/bintrees-pymalloc.wasm"), dlmalloc: bytes("wasm/clients/bintrees-dlmalloc.wasm") };
  const RP = { pymalloc: bytes("wasm/clients/replay-pymalloc.wasm"), dlmalloc: bytes("wasm/clients/replay-dlmalloc.wasm") };
  const dlmallocRun = <T>(b: Uint8Array, fn: (x: Record<string, (...a: number[]) => number>, memory: WebAssembly.Memory) => T): T => {
    const memory = new WebAssembly.Memory({ initial: Math.ceil(wasmModuleInfo(b).memory!.minBytes / 65536), maximum: 65536 });
    return fn(new WebAssembly.Instance(new WebAssembly.Module(b), { env: { memory } }).exports as never, memory);
  };

  it("aligned allocation, malloc_usable_size and libc's own allocations link over pymemcompat.c (no dlmalloc pulled in): every power-of-two alignment served, freed by free(), overflows of an aligned block reported, every mode", async () => {
    const ALIGNED = bytes("wasm/clients/aligned.wasm");
    expect(wasmModuleInfo(ALIGNED).allocatorExports).toEqual([]);
    expect(wasmModuleInfo(ALIGNED).allocatorImports).toEqual(expect.arrayContaining(["aligned_alloc", "malloc_usable_size"]));
    const EINVAL = 28; // wasi-libc's errno value
    for (const allocator of ["pymalloc", "malloc", "debug", "malloc_debug"] as const) {
      const { instance, heap } = await instantiateWithHeap(ALIGNED, { allocator, traceAllocations: false });
      const x = instance.exports as unknown as { pm_align(a: number, n: number): number; al_alloc(a: number, n: number): number; usable(p: number): number; c_free(p: number): void; dup_len(): number };
      const live: number[] = [];
      for (const [a, n] of [[4, 3], [8, 24], [16, 8], [16, 100], [16, 700], [8, 5000], [32, 8], [64, 100], [128, 3000], [4096, 100], [4096, 70000], [65536, 24]]) {
        const p = x.pm_align(a, n);
        expect(p, `posix_memalign(${a}, ${n}) in ${allocator}`).toBeGreaterThan(0);
        expect(p % a).toBe(0);
        expect(heap.usableSize(p)).toBeGreaterThanOrEqual(n);
        expect(x.usable(p)).toBe(heap.usableSize(p)); // malloc_usable_size
        expect(heap.u8.subarray(p, p + n).every((v) => v === 0x5a)).toBe(true);
        const q = x.al_alloc(a, n);
        expect(q).toBeGreaterThan(0);
        expect(q % a).toBe(0);
        live.push(q);
        x.c_free(p);
        heap.check();
      }
      for (const q of live) x.c_free(q);
      expect((instance.exports as unknown as { enomem_bits(): number }).enomem_bits(), allocator).toBe(63); // errno ENOMEM after every failed request, as wasi-libc's malloc sets it
      expect(x.pm_align(3, 100)).toBe(-EINVAL);
      expect(x.al_alloc(48, 100)).toBe(0); // not a power of two
      expect(x.usable(0)).toBe(0);
      expect(x.dup_len()).toBe(8);
      heap.check();
      expect(heap.leaks().totalBlocks).toBe(0);
      if (allocator.endsWith("debug")) {
        // One byte past an aligned block, reported at its free like any other block's.
        const p = x.al_alloc(256, 40);
        heap.u8[p + 40] = 1;
        expect(() => x.c_free(p)).toThrow(MemoryCorruptionError);
      }
    }
  });

  it("the pymalloc builds import their allocator (pymemcompat.c kept libc's dlmalloc out); the dlmalloc builds carry one and are refused", async () => {
    for (const b of [BT.pymalloc, RP.pymalloc]) expect(wasmModuleInfo(b).allocatorExports).toEqual([]);
    // calloc too: pymemcompat.h keeps a reference to its calloc in every file that includes it
    // (clang may turn a malloc + memset into a calloc the file never names; session 54).
    expect(wasmModuleInfo(BT.pymalloc).allocatorImports.sort()).toEqual(["calloc", "free", "malloc", "realloc"]);
    expect(wasmModuleInfo(RP.pymalloc).allocatorImports.sort()).toEqual(["calloc", "free", "malloc", "realloc"]);
    for (const b of [BT.dlmalloc, RP.dlmalloc]) {
      expect(wasmModuleInfo(b).allocatorImports).toEqual([]);
      await expect(instantiateWithHeap(b)).rejects.toThrow(PymallocError);
    }
  });

  it("binary trees: the same checksum over pymalloc (release and debug) as over dlmalloc; the heap checks clean and holds nothing after", async () => {
    const want = dlmallocRun(BT.dlmalloc, (x) => x.run(10, 20_000) >>> 0);
    for (const allocator of ["pymalloc", "pymalloc_debug"] as const) {
      const { instance, heap } = await instantiateWithHeap(BT.pymalloc, { allocator, traceAllocations: false });
      expect((instance.exports as unknown as { run(d: number, s: number): number }).run(10, 20_000) >>> 0).toBe(want);
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
    }
  });

  it("the memory starts as small as the module allows (its minimum, or __heap_base's page), not at 1 MiB, and ends no larger than dlmalloc's in the same module; initialBytes still sets it", async () => {
    const info = wasmModuleInfo(BT.pymalloc);
    const start = Math.max(info.memory!.minBytes, Math.ceil((info.heapBase! + 1) / 65536) * 65536);
    expect(start).toBeLessThan(1 << 20);
    const { instance, heap: h } = await instantiateWithHeap(BT.pymalloc);
    expect(h.memory.byteLength).toBe(start);
    const x = instance.exports as unknown as { run(d: number, s: number): number };
    const want = dlmallocRun(BT.dlmalloc, (d, memory) => [d.run(12, 20_000) >>> 0, memory.buffer.byteLength]);
    expect(x.run(12, 20_000) >>> 0).toBe(want[0]);
    expect(h.memory.byteLength).toBeGreaterThan(start); // grown as blocks needed
    expect(h.memory.byteLength).toBeLessThanOrEqual(want[1]);
    h.check();
    const { heap } = await instantiateWithHeap(BT.pymalloc, { initialBytes: 1 << 21 });
    expect(heap.memory.byteLength).toBe(1 << 21);
    expect(heapForModule(BT.pymalloc).memory.byteLength).toBe(start);
  });

  it("the trace replayer: compileall-head replayed inside wasm over pymalloc touches the same bytes as over dlmalloc; check() clean, nothing left", async () => {
    const t = readTraceFile(join(ROOT, "data/compileall-head.pymtrace.gz"));
    const replay = (x: Record<string, (...a: number[]) => number>, memory: WebAssembly.Memory): number => {
      const ev = x.setup(t.count, t.maxSlots) >>> 0;
      expect(ev).not.toBe(0);
      new Uint32Array(memory.buffer, ev, 2 * t.count).set(t.events.subarray(0, 2 * t.count));
      return x.replay(t.count) >>> 0;
    };
    const want = dlmallocRun(RP.dlmalloc, replay);
    const { instance, heap } = await instantiateWithHeap(RP.pymalloc);
    const x = instance.exports as unknown as Record<string, (...a: number[]) => number>;
    expect(replay(x, heap.memory.source as WebAssembly.Memory)).toBe(want);
    heap.check();
    x.release_all(t.maxSlots);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(2); // the replayer's event and slot arrays
  });
});
