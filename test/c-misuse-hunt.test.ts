// C programs compiled to WebAssembly on a pymalloc heap, built here with the project's clang line
// (wasm/clang.sh, as wasm/build.sh runs it): the ways a C user builds, links and misuses them
// that a hunt found ending in silent damage or an untyped crash, one test each. Every case must
// end in a typed error naming what was wrong (RangeError, TypeError, a PymallocError) or in
// correct behaviour, checked by block contents and heap.check().
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { linkFastPath } from "../src/compat/wasm-link.js";
import { createHeap, heapForModule, instantiateWithHeap, MemoryCorruptionError, type Heap } from "../src/index.js";
import { forEachChunk } from "../src/introspect/walk.js";

const ROOT = join(import.meta.dirname, "..");
const OUT = mkdtempSync(join(tmpdir(), "pymalloc-c-hunt-"));
afterAll(() => rmSync(OUT, { recursive: true, force: true }));

/** A small C program: malloc & co and CPython's families through pymemcompat.h, and helpers to fill and verify bytes. */
const PROBE_C = String.raw`
#include "pymemcompat.h"
#define X(n) __attribute__((export_name(#n)))
X(m) void *m(size_t n) { return malloc(n); }
X(f) void f(void *p) { free(p); }
X(c) void *c(size_t a, size_t b) { return calloc(a, b); }
X(r) void *r(void *p, size_t n) { return realloc(p, n); }
#ifndef NO_PYMEM
X(om) void *om(size_t n) { return PyObject_Malloc(n); }
X(of) void of(void *p) { PyObject_Free(p); }
#endif
X(grow) int grow(int pages) { return __builtin_wasm_memory_grow(0, pages); }
X(fill) void fill(unsigned char *p, size_t n, int seed) { for (size_t i = 0; i < n; i++) ((volatile unsigned char *)p)[i] = (unsigned char)(seed + i * 7); }
X(verify) int verify(unsigned char *p, size_t n, int seed) { for (size_t i = 0; i < n; i++) if (p[i] != (unsigned char)(seed + i * 7)) return (int)i; return -1; }
static char greeting[] = "hello from static data";
X(greeting_at) char *greeting_at(void) { return greeting; }
X(greeting_ok) int greeting_ok(void) { const char *t = "hello from static data"; for (int i = 0; t[i]; i++) if (greeting[i] != t[i]) return 0; return 1; }
#ifdef EXPORT_MALLOC
/* malloc & co exported for the module's JS (strings passed in), as Emscripten-style modules do. */
static int js_calls;
__attribute__((export_name("malloc"))) void *js_malloc(size_t n) { js_calls++; return malloc(n); }
__attribute__((export_name("free"))) void js_free(void *p) { js_calls++; free(p); }
__attribute__((export_name("calloc"))) void *js_calloc(size_t a, size_t b) { js_calls++; return calloc(a, b); }
__attribute__((export_name("realloc"))) void *js_realloc(void *p, size_t n) { js_calls++; return realloc(p, n); }
X(js_count) int js_count(void) { return js_calls; }
#endif
#ifdef WRONG_MALLOC_TYPE
/* malloc declared by hand with another type than C's (a 64-bit size). */
__attribute__((import_module("env"), import_name("malloc"))) void *malloc64(unsigned long long n);
X(wrong) void *wrong(void) { return malloc64(100); }
#endif
#ifdef TAIL_CALLS
/* Built with -mtail-call: the recursive call is a return_call. */
__attribute__((noinline)) static int count(int n, int acc) { if (n == 0) return acc; volatile char *p = malloc(16); p[0] = (char)(n & 7); acc += p[0]; free((void *)p); return count(n - 1, acc); }
X(count_down) int count_down(int n) { return count(n, 0); }
#endif
#ifdef EXPORT_RESERVED
X(pymalloc_init) int own_init(void) { return 7; }
#endif
`;

interface Probe {
  m(n: number): number;
  f(p: number): void;
  c(a: number, b: number): number;
  r(p: number, n: number): number;
  om(n: number): number;
  of(p: number): void;
  grow(pages: number): number;
  fill(p: number, n: number, seed: number): void;
  verify(p: number, n: number, seed: number): number;
  greeting_at(): number;
  greeting_ok(): number;
}

/** Builds PROBE_C with the README's no-libc line plus `flags` (the link flags that differ between cases). */
function build(name: string, flags: string[]): Uint8Array {
  const src = join(OUT, "probe.c");
  writeFileSync(src, PROBE_C);
  const out = join(OUT, `${name}.wasm`);
  execFileSync("bash", [join(ROOT, "wasm/clang.sh"), "--target=wasm32", "-O2", "-nostdlib", "-ffreestanding", "-fno-builtin", `-I${join(ROOT, "wasm/include")}`, "-Wl,--no-entry", ...flags, src, "-o", out], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Uint8Array(readFileSync(out));
}

let probe: Uint8Array; // -Wl,--import-memory -Wl,--export=__heap_base: as the README builds it
let ownMemory: Uint8Array; // without -Wl,--import-memory: the module defines its memory
let noHeapBase: Uint8Array; // without -Wl,--export=__heap_base
let probeLinked: Uint8Array;

beforeAll(async () => {
  probe = build("probe", ["-Wl,--import-memory", "-Wl,--export=__heap_base"]);
  ownMemory = build("own-memory", ["-Wl,--export=__heap_base"]);
  noHeapBase = build("no-heap-base", ["-Wl,--import-memory"]);
  probeLinked = await linkFastPath(probe);
}, 120_000);

/** A C module's exports as JS calls them. */
interface ExportsMalloc extends Probe {
  malloc(n: number): number;
  free(p: number): void;
  calloc(a: number, b: number): number;
  realloc(p: number, n: number): number;
  js_count(): number;
}

/** What a promise rejected with, or "resolved" (never the resolved value: a heap's views are too large for vitest to print). */
const rejection = async (p: Promise<unknown>): Promise<unknown> => p.then(() => "resolved", (e: unknown) => e);

describe("modules built without the README's link flags: refused with a TypeError saying which flag, before C runs on a heap it cannot see", () => {
  it("a module built without -Wl,--import-memory (it defines its own memory): instantiateWithHeap and heapForModule refuse it; it ran on a heap in another memory (C's bytes never reached the blocks it was given: memory access out of bounds in C, or silent damage of its own data)", async () => {
    for (const source of [ownMemory, new WebAssembly.Module(ownMemory)]) {
      const e = await rejection(instantiateWithHeap(source));
      expect(e).toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(/imports no env\.memory.*-Wl,--import-memory/);
    }
    // On a heap made beforehand too.
    const heap = heapForModule(probe);
    const e = await rejection(instantiateWithHeap(ownMemory, { heap }));
    expect(e).toBeInstanceOf(TypeError);
    expect((e as Error).message).toMatch(/-Wl,--import-memory/);
    expect(() => heapForModule(ownMemory)).toThrow(/imports no env\.memory.*-Wl,--import-memory/);
    // `pymalloc link` refused it already, with the same advice.
    await expect(linkFastPath(ownMemory)).rejects.toThrow(/-Wl,--import-memory/);
  });

  it("a module that imports PyMem_*/PyObject_* and exports no __heap_base, given as bytes: the TypeError names __heap_base (it said 'pass its bytes (not a compiled WebAssembly.Module)', which it had been given)", async () => {
    for (const source of [noHeapBase, new WebAssembly.Module(noHeapBase)]) {
      const e = await rejection(instantiateWithHeap(source));
      expect(e).toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(/exports no __heap_base.*-Wl,--export=__heap_base/);
    }
    // With the heapBase option it runs.
    const { instance, heap } = await instantiateWithHeap(noHeapBase, { heapBase: 1 << 20, initialBytes: 4 << 20 });
    const x = instance.exports as unknown as Probe;
    const p = x.om(40) >>> 0;
    expect(p).toBeGreaterThanOrEqual(1 << 20);
    x.of(p);
    heap.check();
  });
});

describe("a heap below the module's __heap_base: refused (the module's data and C stack would be written over the heap)", () => {
  /** A heap in a new memory at `heapBase` (createHeap's default when undefined: the memory's start). */
  const heapAt = (heapBase?: number): Heap => createHeap({ memory: new WebAssembly.Memory({ initial: 32, maximum: 65536 }), ...(heapBase === undefined ? {} : { heapBase }) });

  it("instantiateWithHeap(bytes, { heap }) of a heap made by createHeap({ memory }) (at 0) or at an address inside the module's data: a RangeError naming both addresses, the heap untouched (the module's data segments overwrote the heap's header: HeapCorruptionError 'top 0x00000000 is no top' at C's first malloc, or silent damage)", async () => {
    for (const bytes of [probe, probeLinked]) {
      for (const base of [undefined, 1024, 65536]) {
        const heap = heapAt(base);
        const e = await rejection(instantiateWithHeap(bytes, { heap }));
        expect(e).toBeInstanceOf(RangeError);
        expect((e as Error).message).toMatch(/the heap starts at 0x[0-9a-f]{8}, below the module's __heap_base \(0x[0-9a-f]{8}\)/);
        heap.check(); // nothing was instantiated over it
        heap.mem.free(heap.mem.malloc(100));
      }
    }
  });

  it("given a compiled module (its __heap_base known only once instantiated): a RangeError saying so, not a damaged heap found later", async () => {
    for (const bytes of [probe, probeLinked]) {
      const e = await rejection(instantiateWithHeap(new WebAssembly.Module(bytes), { heap: heapAt() }));
      expect(e).toBeInstanceOf(RangeError);
      expect((e as Error).message).toMatch(/below the module's __heap_base.*given compiled/);
      const e2 = await rejection(instantiateWithHeap(new WebAssembly.Module(bytes), { heapBase: 4096 }));
      expect(e2).toBeInstanceOf(RangeError);
    }
  });

  it("the heapBase option below the module's __heap_base (instantiateWithHeap, heapForModule): a RangeError; at or above it, C's static data and the heap's blocks stay apart", async () => {
    expect(await rejection(instantiateWithHeap(probe, { heapBase: 4096 }))).toBeInstanceOf(RangeError);
    expect(() => heapForModule(probe, { heapBase: 4096 })).toThrow(/below the module's __heap_base/);
    const { instance, heap } = await instantiateWithHeap(probe, { heapBase: 1 << 20, initialBytes: 4 << 20 });
    const x = instance.exports as unknown as Probe;
    const ps = Array.from({ length: 200 }, (_, i) => {
      const p = x.m(8 + i * 5) >>> 0;
      x.fill(p, 8 + i * 5, i);
      return p;
    });
    expect(x.greeting_ok()).toBe(1);
    ps.forEach((p, i) => expect(x.verify(p, 8 + i * 5, i)).toBe(-1));
    ps.forEach((p) => x.f(p));
    heap.check();
  });
});

describe("a memory shared where the module's is not, or the other way round: a TypeError before a heap is made in it", () => {
  let sharedProbe: Uint8Array;
  beforeAll(() => {
    sharedProbe = build("probe-shared", ["-matomics", "-mbulk-memory", "-Wl,--import-memory", "-Wl,--shared-memory", "-Wl,--max-memory=67108864", "-Wl,--export=__heap_base"]);
  }, 60_000);
  const memory = (shared: boolean): WebAssembly.Memory => new WebAssembly.Memory({ initial: 32, maximum: 1024, shared } as WebAssembly.MemoryDescriptor);

  it("the memory option of instantiateWithHeap and heapForModule, and a heap's memory given with { heap } (a bare LinkError 'mismatch in shared state of memory' after the heap was made; heapForModule accepted it)", async () => {
    for (const [bytes, shared] of [[probe, true], [sharedProbe, false]] as const) {
      for (const source of [bytes, await linkFastPath(bytes)]) {
        const e = await rejection(instantiateWithHeap(source, { memory: memory(shared) }));
        expect(e).toBeInstanceOf(TypeError);
        expect((e as Error).message).toMatch(shared ? /is a shared WebAssembly\.Memory, and the module imports an unshared one/ : /is an unshared WebAssembly\.Memory, and the module imports a shared one/);
        expect(() => heapForModule(source, { memory: memory(shared) })).toThrow(TypeError);
        const heap = heapForModule(bytes === probe ? sharedProbe : probe, shared ? { threads: true } : {}); // a heap made for the other build
        expect(await rejection(instantiateWithHeap(source, { heap }))).toBeInstanceOf(TypeError);
        heap.check();
      }
    }
    // The right memory runs.
    const { instance, heap } = await instantiateWithHeap(sharedProbe, { memory: memory(true), threads: true });
    const x = instance.exports as unknown as Probe;
    const p = x.m(100) >>> 0;
    x.fill(p, 100, 3);
    expect(x.verify(p, 100, 3)).toBe(-1);
    x.f(p);
    heap.check();
  });
});

describe("pymalloc link: a C module that exports malloc & co for its JS", () => {
  it("links (wasm-merge failed with a bare Error 'Export name conflict: malloc'); the module's own exports keep their names and are the C functions, on every form of the fast path", async () => {
    const bytes = build("exports-malloc", ["-DEXPORT_MALLOC", "-Wl,--import-memory", "-Wl,--export=__heap_base"]);
    for (const inline of [true, false]) {
      const linked = await linkFastPath(bytes, { inline });
      const names = WebAssembly.Module.exports(new WebAssembly.Module(linked)).map((e) => e.name);
      for (const n of ["malloc", "free", "calloc", "realloc", "js_count", "pymalloc_init", "pymalloc_divert"]) expect(names.filter((x) => x === n)).toEqual([n]);
      expect(names.some((n) => n.includes("\u0000"))).toBe(false);
      for (const opts of [{}, { specialize: false }, { allocator: "pymalloc_debug" as const }, { allocator: "malloc" as const }]) {
        const { instance, heap } = await instantiateWithHeap(linked, opts);
        const x = instance.exports as unknown as ExportsMalloc;
        const p = x.malloc(100) >>> 0;
        x.fill(p, 100, 4);
        const q = x.realloc(p, 3000) >>> 0;
        expect(x.verify(q, 100, 4)).toBe(-1);
        const z = x.calloc(10, 10) >>> 0;
        expect(heap.u8.subarray(z, z + 100).every((v) => v === 0)).toBe(true);
        x.free(q);
        x.free(z);
        expect(x.js_count()).toBe(5); // the module's own functions, not the fast path's under their names
        heap.check();
        expect(heap.stats().blocksInUse).toBe(0);
      }
    }
  });

  it("an export named as the fast path's own (pymalloc_init): a TypeError naming it, not a merge failure or a module that JS cannot start", async () => {
    const bytes = build("exports-reserved", ["-DEXPORT_RESERVED", "-Wl,--import-memory", "-Wl,--export=__heap_base"]);
    const e = await rejection(linkFastPath(bytes));
    expect(e).toBeInstanceOf(TypeError);
    expect((e as Error).message).toMatch(/exports "pymalloc_init"/);
  });
});

describe("pymalloc link: env.malloc & co imported with another type than C's", () => {
  it("is a TypeError naming the import and both types (wasm-merge failed with a bare Error 'Type mismatch when importing function malloc')", async () => {
    const bytes = build("wrong-type", ["-DWRONG_MALLOC_TYPE", "-Wl,--import-memory", "-Wl,--export=__heap_base"]);
    const e = await rejection(linkFastPath(bytes));
    expect(e).toBeInstanceOf(TypeError);
    expect((e as Error).message).toMatch(/imports env\.malloc as \(i64\) -> \(i32\), not as C's malloc on wasm32 \(i32\) -> \(i32\)/);
    // Unlinked, instantiateWithHeap says the same before compiling, in every mode (was the
    // engine's bare LinkError in pymalloc mode, and accepted by the debug modes' JS functions).
    for (const allocator of ["pymalloc", "debug"] as const) {
      const u = await rejection(instantiateWithHeap(bytes, { allocator }));
      expect(u).toBeInstanceOf(TypeError);
      expect((u as Error).message).toBe((e as Error).message);
    }
  });
});

describe("pymalloc link: C built with the tail-call feature (clang -mtail-call)", () => {
  it("links and runs (wasm-merge failed with a bare Error 'error in validating final merged': the feature was not enabled for the merge)", async () => {
    const bytes = build("tail-call", ["-DTAIL_CALLS", "-mtail-call", "-Wl,--import-memory", "-Wl,--export=__heap_base"]);
    const want = Array.from({ length: 200_000 }, (_, i) => (i + 1) & 7).reduce((a, b) => a + b, 0);
    for (const source of [bytes, await linkFastPath(bytes), await linkFastPath(bytes, { inline: false })]) {
      const { instance, heap } = await instantiateWithHeap(source);
      expect((instance.exports as unknown as { count_down(n: number): number }).count_down(200_000)).toBe(want); // deeper than any stack without tail calls
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
    }
  });
});

describe("a compiled module (limits unknown to JS) whose memory import refuses the memory made for it: the error names the option that fixes it", () => {
  it("a module built with -Wl,--shared-memory -Wl,--max-memory=64 MiB: the maximum is a RangeError naming maxBytes, the sharing a TypeError naming threads (both said 'the memory of initialBytes is smaller than the module declares ... a larger initialBytes'); with both right it runs", async () => {
    const bytes = build("shared-compiled", ["-DNO_PYMEM", "-matomics", "-mbulk-memory", "-Wl,--import-memory", "-Wl,--shared-memory", "-Wl,--max-memory=67108864", "-Wl,--export=__heap_base"]);
    // Built without PyMem_* names (-DNO_PYMEM): those need a heap made first, which a compiled module does not have.
    for (const source of [bytes, await linkFastPath(bytes)]) {
      const module = new WebAssembly.Module(source);
      const max = await rejection(instantiateWithHeap(module, { threads: true }));
      expect(max).toBeInstanceOf(RangeError);
      expect((max as Error).message).toMatch(/pass maxBytes at most that/);
      expect((max as Error).message).not.toMatch(/larger initialBytes/);
      const sharing = await rejection(instantiateWithHeap(module, { maxBytes: 64 << 20 }));
      expect(sharing).toBeInstanceOf(TypeError);
      expect((sharing as Error).message).toMatch(/threads: true for a module built with -Wl,--shared-memory/);
      const { instance, heap } = await instantiateWithHeap(module, { threads: true, maxBytes: 64 << 20 });
      const x = instance.exports as unknown as Probe;
      x.f(x.m(100));
      heap.check();
    }
  });
});

describe("pymemImports(heap) of a heap that is not in a WebAssembly.Memory", () => {
  it("is a TypeError as wasmImports() is (it returned the twelve functions, over a memory no module can import)", async () => {
    const { pymemImports, wasmImports } = await import("../src/index.js");
    for (const memoryKind of ["growable-shared", "resizable", "fixed"] as const) {
      const heap = createHeap({ memoryKind });
      expect(() => wasmImports(heap)).toThrow(TypeError);
      expect(() => pymemImports(heap)).toThrow(/pymemImports\(\) needs a heap in a WebAssembly\.Memory/);
    }
    expect(typeof pymemImports(createHeap({ memoryKind: "wasm" })).PyMem_Free).toBe("function");
  });
});

describe("wasm/program/program.wasm given compiled with heapBase 0x10000, 1 KiB below its __heap_base (0x10410)", () => {
  it("is a RangeError: the top of its C stack is there, and its first run() wrote its locals over the heap's header (HeapCorruptionError 'TLSF free list head ... holds 0x3438336b', bytes of a key string); at its __heap_base it runs and the heap checks clean", async () => {
    const program = new Uint8Array(readFileSync(join(ROOT, "wasm/program/program.wasm")));
    const e = await rejection(instantiateWithHeap(new WebAssembly.Module(program), { heapBase: 1 << 16 }));
    expect(e).toBeInstanceOf(RangeError);
    expect((e as Error).message).toMatch(/the heap starts at 0x00010000, below the module's __heap_base \(0x00010410\)/);
    const { instance, heap } = await instantiateWithHeap(new WebAssembly.Module(program), { heapBase: 1 << 17 });
    (instance.exports as unknown as { run(seed: number, ops: number): number }).run(7, 2000);
    heap.check();
  });
});

describe("a C module that grows the memory for itself (__builtin_wasm_memory_grow) to keep pages of its own", () => {
  it("keeps them: the heap's blocks (C's malloc through the imports and through the linked fast path, small, raw and reallocated) never land on them, and the heap fences them (pymalloc's top grew into them and handed them out: silent damage check() could not see)", async () => {
    for (const [bytes, opts] of [
      [probe, {}],
      [probeLinked, {}],
      [probeLinked, { allocator: "malloc" as const }],
      [probe, { allocator: "pymalloc_debug" as const }],
    ] as const) {
      const { instance, heap } = await instantiateWithHeap(bytes, { ...opts, initialBytes: 1 << 20 });
      const x = instance.exports as unknown as Probe;
      const theirs: Array<[number, number, number]> = [];
      const live: Array<[number, number, number]> = [];
      let seed = 1;
      for (let round = 0; round < 6; round++) {
        const pages = 1 + (round % 3);
        const at = x.grow(pages) * 65536;
        x.fill(at, pages * 65536, 100 + round);
        theirs.push([at, pages * 65536, 100 + round]);
        for (let k = 0; k < 120; k++) {
          const n = k % 7 === 0 ? 5000 + k * 700 : k % 11 === 0 ? 70_000 : 8 + ((k * 37) % 500);
          const p = x.m(n) >>> 0;
          expect(p).not.toBe(0);
          x.fill(p, n, ++seed);
          live.push([p, n, seed]);
        }
        for (let k = 0; k < 10; k++) {
          const b = live[(round * 17 + k * 29) % live.length];
          expect(x.verify(b[0], b[1], b[2])).toBe(-1);
          const q = x.r(b[0], b[1] * 3) >>> 0;
          expect(q).not.toBe(0);
          x.fill(q, b[1] * 3, ++seed);
          b.splice(0, 3, q, b[1] * 3, seed);
        }
        for (let k = 0; k < 60; k++) {
          const [p, n, s] = live.splice((round * 13 + k * 7) % live.length, 1)[0];
          expect(x.verify(p, n, s)).toBe(-1);
          x.f(p);
        }
        for (const [a, n, s] of theirs) expect(x.verify(a, n, s), `the module's pages at ${a}`).toBe(-1);
        heap.check();
      }
      let fenced = 0;
      forEachChunk(heap, (c) => {
        if (c.fence) fenced++;
      });
      expect(fenced).toBeGreaterThan(0);
      for (const [p, n, s] of live) {
        expect(x.verify(p, n, s)).toBe(-1);
        x.f(p);
      }
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
      for (const [a, n, s] of theirs) expect(x.verify(a, n, s)).toBe(-1);
    }
  });
});

describe("a debug report of C's bad free() names the C function and the wasm function that called it (session 49)", () => {
  // It said "free called through: mem (PyMem_*)" for C's free(), a name its user never wrote
  // (docs/performance.md, session 48's C programs), and named no wasm function: the report an
  // onError handler gets has no stack of its own.
  it("free(), PyObject_Free(), realloc() from C: the entry by its C name, the family, and 'called at' from the wasm function; a later bad free from JS says neither", async () => {
    for (const allocator of ["debug", "pymalloc_debug"] as const) {
      for (const source of [probe, probeLinked]) {
        const { instance, heap } = await instantiateWithHeap(source, { allocator });
        const x = instance.exports as unknown as Probe;
        const reportOf = (f: () => void): string => {
          try {
            f();
          } catch (e) {
            return (e as Error).message;
          }
          return "no error";
        };
        const p = x.m(40) >>> 0;
        const interior = reportOf(() => x.f(p + 8));
        expect(interior, allocator).toMatch(/invalid pointer/);
        expect(interior).toMatch(/\n {2}free called through: free\(\) from WebAssembly, family mem \(PyMem_\*\)\n/);
        expect(interior).toMatch(/\n {2}free\(\) called at:\n {4}at f \(wasm:\/\/wasm\//);
        const q = x.om(24) >>> 0;
        const mismatch = reportOf(() => x.f(q));
        expect(mismatch).toMatch(/API family mismatch/);
        expect(mismatch).toMatch(/free called through: free\(\) from WebAssembly, family mem \(PyMem_\*\)/);
        const o = x.m(24) >>> 0;
        const mismatch2 = reportOf(() => x.of(o));
        expect(mismatch2).toMatch(/free called through: PyObject_Free\(\) from WebAssembly, family obj \(PyObject_\*\)/);
        expect(mismatch2).toMatch(/PyObject_Free\(\) called at:\n {4}at of \(wasm:\/\/wasm\//);
        const r = x.m(16) >>> 0;
        x.f(r);
        const late = reportOf(() => x.r(r, 64));
        expect(late).toMatch(/realloc called through: realloc\(\) from WebAssembly/);
        // From JS, after those wasm calls threw: the family alone, no wasm frame named.
        const js = reportOf(() => heap.mem.free(p + 8));
        expect(js).toMatch(/\n {2}free called through: mem \(PyMem_\*\)\n/);
        expect(js).not.toMatch(/WebAssembly|called at/);
        // An onError handler gets the same fields.
        const got: { entry?: string; calledAt?: string }[] = [];
        const h2 = await instantiateWithHeap(source, { allocator, onError: (rep) => void got.push(rep) });
        const y = h2.instance.exports as unknown as Probe;
        y.f((y.m(40) >>> 0) + 8);
        expect(got[0].entry).toBe("free");
        expect(got[0].calledAt!.split("\n")[0]).toMatch(/^at f \(wasm:\/\//);
      }
    }
  });

  it("with a global Error.prepareStackTrace that returns CallSites (a source-map tool's): C's bad free() is still a MemoryCorruptionError naming its wasm caller", async () => {
    const E = Error as { prepareStackTrace?: unknown };
    const hook = E.prepareStackTrace;
    E.prepareStackTrace = (_e: Error, frames: unknown[]) => frames;
    try {
      const { instance } = await instantiateWithHeap(probe, { allocator: "debug" });
      const x = instance.exports as unknown as Probe;
      const p = x.m(40) >>> 0;
      let err: unknown;
      try {
        x.f(p + 8);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MemoryCorruptionError);
      expect((err as MemoryCorruptionError).report.entry).toBe("free");
      expect((err as MemoryCorruptionError).report.calledAt!.split("\n")[0]).toMatch(/^at f \(wasm:\/\//);
    } finally {
      E.prepareStackTrace = hook;
    }
  });
});
