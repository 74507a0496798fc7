// Misuse of the WebAssembly entry points that a hunt found ending in an engine's message, in a
// mode-dependent outcome or in a silently ignored argument (/tmp/hunt REPORT F13, F01 and the
// note on wasmModuleInfo): each must end in a typed error naming what was wrong, the same in
// every allocator mode, before anything is compiled or instantiated. Also a memory given for a
// module outside the limits its bytes declare (a C user's probe: the engine's bare LinkError).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { createHeap, heapForModule, instantiateWithHeap, linkFastPath, pymemImports, wasmImports, wasmModuleInfo, type Heap } from "../src/index.js";
import { thrownBy } from "./helpers.js";

const ROOT = join(import.meta.dirname, "..");

/** A module from its text (binaryen's parser). */
function wasm(wat: string): Uint8Array<ArrayBuffer> {
  const m = binaryen.parseText(wat);
  try {
    return new Uint8Array(m.emitBinary());
  } finally {
    m.dispose();
  }
}

const HEAP_BASE = `(global $hb i32 (i32.const 4096)) (export "__heap_base" (global $hb))`;
/** A module importing env.memory, `imports` (function imports) and exporting __heap_base (i32 unless told). */
const moduleWith = (imports: string, heapBase = HEAP_BASE): Uint8Array<ArrayBuffer> => wasm(`(module (import "env" "memory" (memory 2)) ${imports} ${heapBase})`);

const MODES = ["pymalloc", "malloc", "debug", "pymalloc_debug"] as const;

/** The error instantiateWithHeap (or heapForModule) ends in, or "accepted". */
async function outcome(f: () => Promise<unknown> | unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  return "accepted";
}

describe("F13: allocator imports and __heap_base of other types than C's wasm32 ones", () => {
  const wrong: [string, string, RegExp][] = [
    ["malloc (i64)->i64", `(import "env" "malloc" (func (param i64) (result i64)))`, /env\.malloc as \(i64\) -> \(i64\), not as C's malloc on wasm32 \(i32\) -> \(i32\)/],
    ["free (i32)->i32", `(import "env" "malloc" (func (param i32) (result i32))) (import "env" "free" (func (param i32) (result i32)))`, /env\.free as \(i32\) -> \(i32\), not as C's free on wasm32 \(i32\) -> \(\)/],
    ["calloc (i32)->i32", `(import "env" "calloc" (func (param i32) (result i32)))`, /env\.calloc as \(i32\) -> \(i32\), not as C's calloc on wasm32 \(i32, i32\) -> \(i32\)/],
    ["realloc (i32,i32)->()", `(import "env" "realloc" (func (param i32 i32)))`, /env\.realloc as \(i32, i32\) -> \(\), not as C's realloc/],
    ["aligned_alloc (i32)->i32", `(import "env" "malloc" (func (param i32) (result i32))) (import "env" "aligned_alloc" (func (param i32) (result i32)))`, /env\.aligned_alloc as \(i32\) -> \(i32\)/],
    ["malloc_usable_size (i32)->i64", `(import "env" "malloc" (func (param i32) (result i32))) (import "env" "malloc_usable_size" (func (param i32) (result i64)))`, /env\.malloc_usable_size as \(i32\) -> \(i64\)/],
    ["PyMem_Malloc (i32,i32)->i32", `(import "env" "PyMem_Malloc" (func (param i32 i32) (result i32)))`, /env\.PyMem_Malloc as \(i32, i32\) -> \(i32\), not as C's PyMem_Malloc on wasm32 \(i32\) -> \(i32\)/],
    ["PyObject_Free (f64)->()", `(import "env" "PyObject_Malloc" (func (param i32) (result i32))) (import "env" "PyObject_Free" (func (param f64)))`, /env\.PyObject_Free as \(f64\) -> \(\), not as C's PyObject_Free on wasm32 \(i32\) -> \(\)/],
    ["PyMem_RawCalloc (i64,i64)->i64", `(import "env" "PyMem_RawCalloc" (func (param i64 i64) (result i64)))`, /env\.PyMem_RawCalloc as \(i64, i64\) -> \(i64\)/],
  ];

  it("a wrong import type is a TypeError naming the import, its type and C's, in every allocator mode, from instantiateWithHeap(bytes) and heapForModule", async () => {
    for (const [label, imports, message] of wrong) {
      const bytes = moduleWith(imports);
      for (const allocator of MODES) {
        const e = await outcome(() => instantiateWithHeap(bytes, { allocator }));
        expect(e, `${label} ${allocator}`).toBeInstanceOf(TypeError);
        expect((e as Error).message, `${label} ${allocator}`).toMatch(message);
        const f = await outcome(() => heapForModule(bytes, { allocator }));
        expect(f, `heapForModule ${label} ${allocator}`).toBeInstanceOf(TypeError);
        expect((f as Error).message).toMatch(message);
      }
    }
  });

  it("with { heap }: refused before the heap is touched, in every mode; the heap keeps working", async () => {
    const bytes = moduleWith(wrong[0][1]);
    for (const allocator of MODES) {
      const heap = heapForModule(moduleWith(`(import "env" "malloc" (func (param i32) (result i32)))`), { allocator });
      const e = await outcome(() => instantiateWithHeap(bytes, { heap }));
      expect(e, allocator).toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(wrong[0][2]);
      const p = heap.mem.malloc(24);
      expect(p).not.toBe(0);
      heap.mem.free(p);
      heap.check();
    }
  });

  it("a compiled module with a wrong import type on a heap with the fast path: a TypeError naming the import, not a bare LinkError", async () => {
    const module = await WebAssembly.compile(moduleWith(wrong[0][1]));
    const heap = heapForModule(moduleWith(`(import "env" "malloc" (func (param i32) (result i32)))`), { allocator: "pymalloc" });
    const e = await outcome(() => instantiateWithHeap(module, { heap }));
    expect(e).toBeInstanceOf(TypeError);
    expect((e as Error).message).toMatch(/env\.malloc as another type, not as C's malloc on wasm32 \(i32\) -> \(i32\)/);
    heap.check();
  });

  it("C's types are accepted in every mode: malloc & co and CPython's names, the module's calls served", async () => {
    const bytes = wasm(`(module (import "env" "memory" (memory 2))
      (import "env" "malloc" (func $m (param i32) (result i32))) (import "env" "free" (func $f (param i32)))
      (import "env" "calloc" (func $c (param i32 i32) (result i32))) (import "env" "realloc" (func $r (param i32 i32) (result i32)))
      (import "env" "aligned_alloc" (func $a (param i32 i32) (result i32))) (import "env" "malloc_usable_size" (func $u (param i32) (result i32)))
      (import "env" "PyObject_Malloc" (func $om (param i32) (result i32))) (import "env" "PyObject_Free" (func $of (param i32)))
      (import "env" "PyMem_RawCalloc" (func $rc (param i32 i32) (result i32))) (import "env" "PyMem_RawFree" (func $rf (param i32)))
      ${HEAP_BASE}
      (func (export "run") (result i32) (local $p i32) (local $q i32)
        (local.set $p (call $r (call $c (i32.const 2) (i32.const 8)) (i32.const 40)))
        (local.set $q (call $om (i32.const 24)))
        (call $of (local.get $q))
        (call $rf (call $rc (i32.const 3) (i32.const 4)))
        (call $f (call $a (i32.const 64) (i32.const 8)))
        (call $f (call $m (i32.const 8)))
        (i32.ge_u (call $u (local.get $p)) (i32.const 40))))`);
    for (const allocator of MODES) {
      const { instance, heap } = await instantiateWithHeap(bytes, { allocator });
      expect((instance.exports.run as () => number)(), allocator).toBe(1);
      heap.check();
    }
  });

  it("an i64 (or f64) __heap_base is a TypeError naming it, in every mode, from the bytes; from a compiled module after instantiation (was \"Cannot mix BigInt and other types\")", async () => {
    const malloc = `(import "env" "malloc" (func (param i32) (result i32)))`;
    for (const [type, init] of [["i64", "(i64.const 4096)"], ["f64", "(f64.const 4096)"]]) {
      const bytes = moduleWith(malloc, `(global $hb ${type} ${init}) (export "__heap_base" (global $hb))`);
      for (const allocator of MODES) {
        const e = await outcome(() => instantiateWithHeap(bytes, { allocator }));
        expect(e, `${type} ${allocator}`).toBeInstanceOf(TypeError);
        expect((e as Error).message).toMatch(new RegExp(`exports __heap_base as a global of type ${type}, not i32`));
        expect(await outcome(() => heapForModule(bytes, { allocator }))).toBeInstanceOf(TypeError);
      }
    }
    const i64 = await WebAssembly.compile(moduleWith(malloc, `(global $hb i64 (i64.const 4096)) (export "__heap_base" (global $hb))`));
    for (const allocator of MODES) {
      const e = await outcome(() => instantiateWithHeap(i64, { allocator }));
      expect(e, allocator).toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(/__heap_base as a global of another type than i32 \(its value is 4096n, an i64\)/);
    }
  });

  it("a wasm64 module (a 64-bit memory) is refused with a TypeError saying so, before it is compiled", async () => {
    // env.memory as a memory64 import (limits flags 0x04, 1 page): the engine may not even compile it.
    const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, 15, 1, 3, 0x65, 0x6e, 0x76, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 4, 1]);
    for (const allocator of MODES) {
      const e = await outcome(() => instantiateWithHeap(bytes, { allocator, heapBase: 4096 }));
      expect(e, allocator).toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(/64-bit memory \(memory64: a wasm64 build\)/);
      expect((await outcome(() => heapForModule(bytes, { allocator, heapBase: 4096 })) as Error).message).toMatch(/64-bit memory/);
    }
  });

  it("pymalloc link says the same for a wrong import type", async () => {
    const e = await outcome(() => linkFastPath(moduleWith(`(import "env" "malloc" (func (param i32) (result i32))) (import "env" "free" (func (param i32) (result i32)))`)));
    expect(e).toBeInstanceOf(TypeError);
    expect((e as Error).message).toMatch(/env\.free as \(i32\) -> \(i32\), not as C's free on wasm32 \(i32\) -> \(\)/);
    // And the rest of instantiateWithHeap's checks (one function for both): an i64 __heap_base
    // (was passed on to wasm-merge, which linked it).
    const i64 = await outcome(() => linkFastPath(moduleWith(`(import "env" "malloc" (func (param i32) (result i32)))`, `(global $hb i64 (i64.const 4096)) (export "__heap_base" (global $hb))`)));
    expect(i64).toBeInstanceOf(TypeError);
    expect((i64 as Error).message).toMatch(/exports __heap_base as a global of type i64, not i32/);
  });
});

describe("wasmModuleInfo: a section that runs past the module's end", () => {
  const magic = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
  it("a section size past the end is a TypeError (was info read from nothing)", () => {
    const b = new Uint8Array([...magic, 5, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => wasmModuleInfo(b)).toThrow(TypeError);
    expect(() => wasmModuleInfo(b)).toThrow(/truncated \(section 5 at byte 8 runs past the end, byte 14\)/);
    // One byte short of the last section's size.
    const mem = [2, 15, 1, 3, 0x65, 0x6e, 0x76, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 0, 1];
    expect(wasmModuleInfo(new Uint8Array([...magic, ...mem])).memory).toEqual({ module: "env", name: "memory", minBytes: 65536, maxBytes: undefined, shared: false });
    expect(() => wasmModuleInfo(new Uint8Array([...magic, ...mem.slice(0, -1)]))).toThrow(TypeError);
    expect(() => heapForModule(new Uint8Array([...magic, ...mem.slice(0, -1)]))).toThrow(TypeError);
  });

  it("a section whose contents run past its own size is truncated, not read on into the next section", () => {
    // The import section says 13 bytes, its entry (env.memory, limits 0 0) needs 15: its last two
    // bytes read as an empty custom section too (they were read twice: a memory import found).
    const b = new Uint8Array([...magic, 2, 13, 1, 3, 0x65, 0x6e, 0x76, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 0, 0]);
    const e = thrownBy(() => wasmModuleInfo(b));
    expect(e).toBeInstanceOf(TypeError);
    expect((e as Error).message).toMatch(/not a WebAssembly module/);
  });
});

describe("F01: wasmImports(heap, options), pymemImports and linkFastPath check their arguments as heap.wasmImports() does", () => {
  const heap: Heap = createHeap({ memoryKind: "wasm" });
  const bad: [unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    [null, TypeError, /wasmImports: options must be an object, got null/],
    [5, TypeError, /wasmImports: options must be an object, got number/],
    ["obj", TypeError, /options must be an object, got string/],
    [{ familly: "obj" }, TypeError, /wasmImports: unknown option "familly"; its options are family/],
    [{ family: "obj", debug: true }, TypeError, /unknown option "debug"/],
    [{ allocator: "debug" }, TypeError, /unknown option "allocator" \(an option of createHeap, not of wasmImports\)/],
    [{ family: 5 }, TypeError, /family must be "raw", "mem" or "obj", got number/],
    [{ family: null }, TypeError, /family must be "raw", "mem" or "obj", got null/],
    [{ family: "object" }, RangeError, /family must be "raw", "mem" or "obj", got "object"/],
  ];

  it("the exported function: the method's errors, word for word (one check)", () => {
    for (const [options, type, message] of bad) {
      const f = thrownBy(() => wasmImports(heap, options as never));
      const m = thrownBy(() => heap.wasmImports(options as never));
      expect(f, String(JSON.stringify(options))).toBeInstanceOf(type);
      expect((f as Error).message).toMatch(message);
      expect(m).toBeInstanceOf(type);
      expect((f as Error).message).toBe((m as Error).message);
    }
    // What is right still works, and undefined is "not given".
    expect(typeof wasmImports(heap, { family: "obj" }).malloc).toBe("function");
    expect(typeof wasmImports(heap, { family: undefined }).malloc).toBe("function");
    expect(typeof wasmImports(heap).malloc).toBe("function");
  });

  it("pymemImports takes the heap only: a second argument (an options object it would ignore) is a TypeError", () => {
    expect(() => (pymemImports as (...a: unknown[]) => unknown)(heap, { family: "obj" })).toThrow(TypeError);
    expect(() => (pymemImports as (...a: unknown[]) => unknown)(heap, { family: "obj" })).toThrow(/pymemImports\(\) takes the heap only/);
    expect(() => (pymemImports as (...a: unknown[]) => unknown)({})).toThrow(/pymemImports\(\) takes a heap/);
    expect(typeof pymemImports(heap).PyObject_Malloc).toBe("function");
  });

  it("linkFastPath: bytes that are no bytes, and bad options, are TypeErrors naming them (was an engine's message or ignored)", async () => {
    const client = new Uint8Array(readFileSync(join(ROOT, "wasm/clients/bintrees-pymalloc.wasm")));
    for (const b of [-1, 2 ** 40, 1n, 0, null, undefined, {}, [0, 0x61], "bytes"]) {
      const e = await outcome(() => linkFastPath(b as never));
      expect(e, String(b)).toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(/linkFastPath: the module must be its bytes \(an ArrayBuffer or a typed array/);
    }
    const cases: [unknown, RegExp][] = [
      [null, /linkFastPath: options must be an object, got null/],
      [5, /linkFastPath: options must be an object, got number/],
      [{ inlin: false }, /linkFastPath: unknown option "inlin"; its options are wasmMerge, inline/],
      [{ inline: "no" }, /inline must be a boolean/],
      [{ wasmMerge: 5 }, /wasmMerge must be a path to binaryen's wasm-merge/],
      [{ wasmMerge: "" }, /wasmMerge must be a path/],
    ];
    for (const [options, message] of cases) {
      const e = await outcome(() => linkFastPath(client, options as never));
      expect(e, JSON.stringify(options)).toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(message);
    }
  });
});

describe("wrapAllocator's answer (a misuse hunt's minor notes)", () => {
  it("a key that names no allocator function is a TypeError (a typo left the real malloc unwrapped)", async () => {
    const { readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { instantiateWithHeap } = await import("../src/index.js");
    const bytes = readFileSync(join(__dirname, "..", "wasm", "clients", "bintrees-pymalloc.wasm"));
    await expect(instantiateWithHeap(bytes, { wrapAllocator: (h) => ({ mallok: h.malloc }) as never })).rejects.toThrow(/"mallok", which is none of the allocator's functions/);
    let n = 0;
    const { instance } = await instantiateWithHeap(bytes, { wrapAllocator: (h) => ({ malloc: (x: number) => (n++, h.malloc(x)) }) });
    (instance.exports as { run(d: number, s: number): number }).run(4, 10);
    expect(n).toBeGreaterThan(0);
  });
});

describe("a memory given for a module (the memory option, a given heap's) outside the limits its bytes declare", () => {
  // 64 pages at least (a module linked with a 2 MiB stack, or --initial-memory), 128 at most.
  const bytes = wasm(`(module (import "env" "memory" (memory 64 128)) (import "env" "malloc" (func (param i32) (result i32))) (global $hb i32 (i32.const 65536)) (export "__heap_base" (global $hb)))`);

  it("smaller than its minimum: a RangeError naming the option and the module's minimum, before a heap is made in it (was the engine's LinkError 'memory import 0 is smaller than initial 64, got 33', after the heap had grown it)", async () => {
    for (const allocator of MODES) {
      const memory = new WebAssembly.Memory({ initial: 2, maximum: 128 });
      const e = await outcome(() => instantiateWithHeap(bytes, { allocator, memory }));
      expect(e).toBeInstanceOf(RangeError);
      expect((e as Error).message).toMatch(/^the memory option is 131072 bytes, and the module declares a memory of 4194304 bytes at least \(64 pages/);
      expect(memory.buffer.byteLength).toBe(131072); // no heap was made in it
      expect(thrownBy(() => heapForModule(bytes, { allocator, memory }))).toBeInstanceOf(RangeError);
      const small = createHeap({ memory: new WebAssembly.Memory({ initial: 2, maximum: 128 }), heapBase: 65536 });
      const onHeap = await outcome(() => instantiateWithHeap(bytes, { heap: small }));
      expect(onHeap).toBeInstanceOf(RangeError);
      expect((onHeap as Error).message).toMatch(/^the heap's memory is \d+ bytes, and the module declares a memory of 4194304 bytes at least/);
    }
  });

  it("a maximum above its maximum: a RangeError naming the option and the module's maximum (was the engine's bare LinkError)", async () => {
    for (const allocator of MODES) {
      const e = await outcome(() => instantiateWithHeap(bytes, { allocator, memory: new WebAssembly.Memory({ initial: 64, maximum: 1000 }) }));
      expect(e).toBeInstanceOf(RangeError);
      expect((e as Error).message).toMatch(/the memory option has a maximum above the module's declared maximum of 8388608 bytes \(128 pages, its -Wl,--max-memory\): make it with maximum: 128 at most/);
      const big = createHeap({ memory: new WebAssembly.Memory({ initial: 64, maximum: 1000 }), heapBase: 65536 });
      const onHeap = await outcome(() => instantiateWithHeap(bytes, { heap: big }));
      expect(onHeap).toBeInstanceOf(RangeError);
      expect((onHeap as Error).message).toMatch(/the heap's memory has a maximum above the module's declared maximum of 8388608 bytes/);
    }
  });

  it("within its limits: accepted", async () => {
    const { heap } = await instantiateWithHeap(bytes, { memory: new WebAssembly.Memory({ initial: 64, maximum: 128 }) });
    heap.mem.free(heap.mem.malloc(100));
    heap.check();
  });
});
