/**
 * compat/wasm-imports.ts — the functions a WebAssembly module imports to allocate from a heap.
 *
 * Owns: heap.wasmImports() and the allocator functions behind it: in pymalloc mode on a
 * WebAssembly.Memory, the exports of an instance of the AssemblyScript fast path
 * (wasm/obmalloc/obmalloc.ts) made for this heap handle (its thread slot; a copy of the build
 * with the handle's numbers as constants, compiled once for heaps made alike), whose slow paths
 * call the handle's family here; otherwise (debug modes, "malloc" mode, the raw family, a compiled
 * module linked before its heap exists) trampolines from wasm32 calls to one family.
 * Must not: create heaps (compat/wasm.ts does) or change a family's behaviour.
 */

import { Slot, WASM_TRACE_FRAMES } from "../constants.js";
import { HeapCorruptionError, hex, typeName } from "../errors.js";
import { validateHeader } from "../heap/layout.js";
import { isSharedBuffer } from "../memory/memory.js";
import type { DebugState } from "../debug/hooks.js";
import type { Heap } from "../heap/heap.js";
import { isAlignment, type Family } from "../heap/families.js";
import { checkOptions } from "../heap/options.js";
import { FASTPATH_SHARED_WASM, FASTPATH_WASM } from "./wasm-fastpath-bytes.js";
import { constifyGlobals, fastPathBytes } from "./wasm-bytes.js";
import { constantsFor, numbersOf, SpecializedCopies } from "./wasm-numbers.js";
import { spanEnd, spanStart } from "../debug/spans.js";

spanStart(new Error()); // debug/spans.ts

export type FamilyName = "raw" | "mem" | "obj";

/** The calls a C module compiled for wasm32 imports from env (signed i32 arguments). */
export interface AllocatorFunctions {
  malloc(n: number): number;
  free(p: number): void;
  calloc(nelem: number, elsize: number): number;
  realloc(p: number, n: number): number;
  /** C's aligned_alloc (wasm/include/pymemcompat.c's aligned_alloc, memalign, posix_memalign): 0 for an alignment that is not a power of two. */
  aligned_alloc(alignment: number, n: number): number;
  /** C's malloc_usable_size: heap.usableSize (the requested size in the debug modes); 0 for NULL. */
  malloc_usable_size(p: number): number;
}

/** What a C module compiled for wasm32 imports: the memory and the allocator calls. */
export interface WasmAllocatorImports extends AllocatorFunctions {
  memory: WebAssembly.Memory;
}

function familyName(family: FamilyName | undefined): FamilyName {
  // undefined is "not given"; null is no family (an error, as for every other option).
  const name = family === undefined ? "mem" : family;
  if (name !== "raw" && name !== "mem" && name !== "obj")
    throw new (typeof name === "string" ? RangeError : TypeError)(`family must be "raw", "mem" or "obj", got ${typeof name === "string" ? JSON.stringify(name) : typeName(name)}`);
  return name;
}

export function familyOf(heap: Heap, family: FamilyName | undefined): Family {
  return heap[familyName(family)];
}

/**
 * The family, with the heap's views made current first (the views' own check, MemoryViews.sync):
 * a module that grew its unshared WebAssembly.Memory itself detached every view of it, and the
 * allocator would read nothing. One compare when nothing happened.
 */
function current(heap: Heap, fam: Family): Family {
  heap.sync();
  return fam;
}

/** The C functions trampolines stand for (malloc, free, calloc, realloc, aligned_alloc): what a debug report names. */
const C_ENTRIES = ["malloc", "free", "calloc", "realloc", "aligned_alloc"];

/** CPython's names (pymemImports) of family f: "Raw", "" (PyMem_*) or "Object" (PyObject_*). */
const pymemEntries = (f: string): string[] => ["Malloc", "Free", "Calloc", "Realloc", ""].map((op) => (f === "Object" ? "PyObject_" : "PyMem_" + f) + op);

/** Trampolines from wasm32 (signed i32 arguments) to a family (unsigned byte offsets) and its heap. */
export function trampolines(fam: () => Family, heap: () => Heap, names: readonly string[] = C_ENTRIES): AllocatorFunctions {
  // In the debug modes a stack capture allows for the frames between C and the hooks (this
  // trampoline, a linked module's malloc): fromWasm, set around the call (left set if the call
  // throws: the next capture then only keeps what it was asked for, from a longer stack), and
  // the C function called (wasmEntry, which a report names). The heap's debug state is looked
  // up once a call (heap() may find its heap at the first call).
  const enter = (entry: string): DebugState | undefined => {
    const d = heap().debug;
    if (d !== undefined) {
      d.fromWasm = WASM_TRACE_FRAMES;
      d.wasmEntry = entry;
    }
    return d;
  };
  const leave = <T>(d: DebugState | undefined, r: T): T => {
    if (d !== undefined) d.fromWasm = 0;
    return r;
  };
  return {
    malloc: (n) => leave(enter(names[0]), fam().malloc(n >>> 0)),
    free: (p) => leave(enter(names[1]), fam().free(p >>> 0)),
    calloc: (a, b) => leave(enter(names[2]), fam().calloc(a >>> 0, b >>> 0)),
    realloc: (p, n) => leave(enter(names[3]), fam().realloc(p >>> 0, n >>> 0)),
    aligned_alloc: (a, n) => leave(enter(names[4]), alignedOrNull(fam(), a >>> 0, n >>> 0)),
    malloc_usable_size: (p) => (p === 0 ? 0 : usable(heap(), p >>> 0)),
  };
}

/** heap.usableSize with the views made current first (as current() does for the family). */
function usable(heap: Heap, p: number): number {
  heap.sync();
  return heap.usableSize(p);
}

/** C's aligned_alloc: NULL, not an exception, for an alignment that is not a power of two. */
function alignedOrNull(fam: Family, a: number, n: number): number {
  return isAlignment(a) ? fam.alignedAlloc(a, n) : 0;
}

/**
 * The allocator functions of the heap that heap() returns (the heap looked up at the first call,
 * its family at every call, as heapAllocator's trampolines do: failAllocations swaps it).
 */
export function allocatorImports(heap: () => Heap, family: FamilyName | undefined): AllocatorFunctions {
  const name = familyName(family);
  let h: Heap | undefined;
  const found = (): Heap => (h ??= heap());
  return trampolines(() => {
    const hp = found();
    return current(hp, hp[name]);
  }, found);
}

// ---------------------------------------------------------------------------------------------
// The fast path in WebAssembly
// ---------------------------------------------------------------------------------------------

const compiled: { plain?: WebAssembly.Module; shared?: WebAssembly.Module } = {};

/** The compiled fast path for an unshared or a shared memory (its memory import says which). */
export function fastPathModule(shared: boolean): WebAssembly.Module {
  if (shared) return (compiled.shared ??= new WebAssembly.Module(fastPathBytes(FASTPATH_SHARED_WASM)));
  return (compiled.plain ??= new WebAssembly.Module(fastPathBytes(FASTPATH_WASM)));
}

/** Copies kept a build (the oldest dropped): e.g. one a thread slot of a threads heap. */
const SPECIALIZED_KEPT = 16;
/** The fast path's copies compiled with a heap handle's numbers as constants, by build and numbers. */
const specialized = { plain: new SpecializedCopies(SPECIALIZED_KEPT), shared: new SpecializedCopies(SPECIALIZED_KEPT) };
/** Each copy's numbers (JSON), to check an instance of it against the heap it was initialised on. */
const numbersKey = new WeakMap<WebAssembly.Module, string>();
/** The copy last used at a heap base and thread slot, tried first there (an instance costs ~90 us). */
const lastAt = new Map<string, WebAssembly.Module>();

/**
 * The fast path's build with `numbers` (an instance's, initialised on the heap handle: wasm-numbers.ts)
 * written into its code as constants, compiled once for each distinct set of numbers: V8 then
 * compiles them into malloc's and free's code, as a C allocator's own constants are (binary trees,
 * the client importing the fast path: 835.0 -> 808.4 M instructions a run; docs/performance.md,
 * session 31). Heaps made alike share it.
 */
function specializedFastPath(shared: boolean, numbers: Record<string, number>): WebAssembly.Module {
  const byKey = shared ? specialized.shared : specialized.plain;
  const key = JSON.stringify(numbers);
  const hit = byKey.get(key);
  if (hit !== undefined) return hit;
  const bytes = fastPathBytes(shared ? FASTPATH_SHARED_WASM : FASTPATH_WASM);
  const consts = constantsFor(bytes, numbers);
  if (consts === undefined) throw new Error("unreachable: the fast path's build exports its numbers");
  const module = byKey.keep(key, new WebAssembly.Module(constifyGlobals(bytes, consts)));
  numbersKey.set(module, key);
  return module;
}

/**
 * An initialised instance of the fast path specialised to this heap handle. The copy last used at
 * the same heap base and slot is tried first: its init() sets the globals from this heap's header
 * (the code reads its constants instead), and they must read as the numbers it was compiled with;
 * else (another heap's layout there) an instance of the build as it is reads this heap's numbers
 * (init only reads the header) and their copy is taken, compiled once for heaps made alike.
 */
function specializedInstance(heap: Heap, shared: boolean, imports: WebAssembly.Imports): { x: FastPathExports; module: WebAssembly.Module } {
  checkHeaderForFastPath(heap);
  const at = `${shared ? "s" : "p"}${heap.heapBase}/${heap.threadId}`;
  const tried = lastAt.get(at);
  if (tried !== undefined) {
    const exports = new WebAssembly.Instance(tried, imports).exports;
    (exports.init as (heapBase: number, slot: number) => void)(heap.heapBase, heap.threadId);
    if (JSON.stringify(numbersOf(exports)) === numbersKey.get(tried)) return { x: exports as unknown as FastPathExports, module: tried };
  }
  const reader = new WebAssembly.Instance(fastPathModule(shared), imports).exports;
  (reader.init as (heapBase: number, slot: number) => void)(heap.heapBase, heap.threadId);
  const module = specializedFastPath(shared, numbersOf(reader));
  if (lastAt.size >= SPECIALIZED_KEPT * 4) lastAt.delete(lastAt.keys().next().value!);
  lastAt.set(at, module);
  const x = new WebAssembly.Instance(module, imports).exports as unknown as FastPathExports;
  x.init(heap.heapBase, heap.threadId);
  return { x, module };
}

/**
 * Whether C code on this heap's `family` gets the WebAssembly fast path (else trampolines into
 * JS): release pymalloc mode in a WebAssembly.Memory, without what only the JS families do
 * (hardened: true's checks, sampled sites). A fault plan (heap.failAllocations) diverts the fast
 * path's allocations to JS while it is in place (divertFastPaths).
 */
export function hasFastPath(heap: Heap, family?: FamilyName): boolean {
  return heap.mode === "pymalloc" && familyName(family) !== "raw" && heap.memory.kind === "wasm" && !heap.hardened && heap.sampler === undefined;
}

/**
 * Before a fast path's init() reads the heap header (once, and trusts it for good): the words it
 * reads must be this heap's. The JS allocator read them when the handle was made and keeps them;
 * a stray write over the header since (the header sits at heapBase, where a NULL-based C pointer
 * lands) would otherwise make the fast path trap, or follow a wild table. HeapCorruptionError
 * naming the word (layout.ts's validateHeader, the fields that never change; this handle's
 * thread slot's usedpools word).
 */
export function checkHeaderForFastPath(heap: Heap): void {
  const u32 = heap.memory.views.u32;
  validateHeader(u32, heap.memory.byteLength, heap.heapBase, true);
  const a = heap.objectAllocator;
  const at = a.slotBase(heap.threadId) + Slot.USED;
  if (u32[at >>> 2] !== a.usedBase) throw new HeapCorruptionError(at, `thread slot ${heap.threadId}'s usedpools word holds ${hex(u32[at >>> 2])}, not ${hex(a.usedBase)} (a write over the header?)`, `thread slot ${heap.threadId} USED`);
}

type FastPathExports = Omit<AllocatorFunctions, "aligned_alloc" | "malloc_usable_size"> & { init(heapBase: number, slot: number): void; divert(on: number): void; stop(): void };

/** One fast-path instance per heap handle (a Worker's handle has its own thread slot) and family. */
const fastPaths = new WeakMap<Heap, Map<FamilyName, { fns: AllocatorFunctions; x: FastPathExports; module: WebAssembly.Module }>>();

/** The compiled fast path behind heap.wasmImports() of this handle and family (undefined before it, or without a fast path). */
export function fastPathModuleOf(heap: Heap, family?: FamilyName): WebAssembly.Module | undefined {
  return fastPaths.get(heap)?.get(familyName(family))?.module;
}

/** The divert and stop exports of each instance of a linked module (`pymalloc link`) started on a heap handle. */
const linkedDiverts = new WeakMap<Heap, Set<{ divert: (on: number) => void; stop: (() => void) | undefined }>>();

/** A linked module's instance, its fast path started on this handle: failAllocations and detachThread reach it too. */
export function registerLinkedFastPath(heap: Heap, divert: (on: number) => void, stop?: () => void): void {
  let set = linkedDiverts.get(heap);
  if (set === undefined) linkedDiverts.set(heap, (set = new Set()));
  set.add({ divert, stop });
}

/** heap.failAllocations(): this handle's fast paths (its own instances and linked modules') send every allocation to JS (on) or not. */
export function divertFastPaths(heap: Heap, on: boolean): void {
  for (const { x } of fastPaths.get(heap)?.values() ?? []) x.divert(on ? 1 : 0);
  for (const { divert } of linkedDiverts.get(heap) ?? []) divert(on ? 1 : 0);
}

/**
 * heap.detachThread(): this handle's fast paths send every call to JS from now on, which refuses
 * it as the handle's families do (the slot may be another thread's soon: a fast path that went on
 * would work on its pools without the lock).
 */
export function stopFastPaths(heap: Heap): void {
  for (const { x } of fastPaths.get(heap)?.values() ?? []) x.stop();
  for (const { stop } of linkedDiverts.get(heap) ?? []) stop?.();
}

/**
 * The four calls for C code allocating from `family` of this heap handle: the exports of a
 * fast-path instance in pymalloc mode on a WebAssembly.Memory (C's calls to them stay in
 * WebAssembly), trampolines into the family otherwise (the debug modes keep their JS hooks).
 */
export function heapAllocator(heap: Heap, family?: FamilyName, names: readonly string[] = C_ENTRIES): AllocatorFunctions {
  const name = familyName(family);
  // The family is looked up at every call: heap.failAllocations() swaps it for a wrapper.
  if (!hasFastPath(heap, name)) return trampolines(() => current(heap, heap[name]), () => heap, names);
  let byFamily = fastPaths.get(heap);
  if (byFamily === undefined) fastPaths.set(heap, (byFamily = new Map()));
  const made = byFamily.get(name);
  if (made !== undefined) return made.fns;
  const memory = heap.memory.source as WebAssembly.Memory;
  const shared = isSharedBuffer(memory.buffer);
  // The slow paths: everything the fast path leaves (pools from arenas, raw blocks, other
  // threads' blocks, the lock, errors) is the family's, on this handle (its thread slot).
  const slow = { ...trampolines(() => current(heap, heap[name]), () => heap) };
  const { x, module } = specializedInstance(heap, shared, { env: { memory }, pymalloc: slow });
  x.divert(heap.faultPlanned ? 1 : 0);
  // aligned_alloc's larger alignments are raw chunks, the family's; malloc_usable_size is the heap's: through JS.
  const fns = { malloc: x.malloc, free: x.free, calloc: x.calloc, realloc: x.realloc, aligned_alloc: slow.aligned_alloc, malloc_usable_size: slow.malloc_usable_size };
  byFamily.set(name, { fns, x, module });
  return fns;
}

/** CPython's allocator functions by name, as wasm/include/pymemcompat.h declares them (env imports). */
export interface PyMemImports {
  PyMem_RawMalloc(n: number): number;
  PyMem_RawCalloc(nelem: number, elsize: number): number;
  PyMem_RawRealloc(p: number, n: number): number;
  PyMem_RawFree(p: number): void;
  PyMem_Malloc(n: number): number;
  PyMem_Calloc(nelem: number, elsize: number): number;
  PyMem_Realloc(p: number, n: number): number;
  PyMem_Free(p: number): void;
  PyObject_Malloc(n: number): number;
  PyObject_Calloc(nelem: number, elsize: number): number;
  PyObject_Realloc(p: number, n: number): number;
  PyObject_Free(p: number): void;
}

/**
 * The three families by CPython's names, for C code built with wasm/include/pymemcompat.h:
 * PyMem_Raw* is the raw family, PyMem_* mem, PyObject_* obj (each the fast path in pymalloc
 * mode, the debug hooks in the debug modes, which report a block released by another family
 * than its own as an api-mismatch).
 */
export function pymemImports(heap: Heap): PyMemImports {
  checkHeap(heap, "pymemImports");
  // Its families are CPython's names, not an option: pymemImports(heap, { family: "obj" }) was ignored.
  if (arguments.length > 1) throw new TypeError(`pymemImports() takes the heap only (its functions name their families), got ${arguments.length} arguments`);
  // As wasmImports(): a module reaches no other memory, so functions over one would hand C addresses into bytes it cannot see.
  if (heap.memory.kind !== "wasm")
    throw new TypeError(`pymemImports() needs a heap in a WebAssembly.Memory (createHeap({ memory: new WebAssembly.Memory(...) })); this one is in a ${heap.memory.kind} buffer`);
  const r = heapAllocator(heap, "raw", pymemEntries("Raw"));
  const m = heapAllocator(heap, "mem", pymemEntries(""));
  const o = heapAllocator(heap, "obj", pymemEntries("Object"));
  return {
    PyMem_RawMalloc: r.malloc,
    PyMem_RawCalloc: r.calloc,
    PyMem_RawRealloc: r.realloc,
    PyMem_RawFree: r.free,
    PyMem_Malloc: m.malloc,
    PyMem_Calloc: m.calloc,
    PyMem_Realloc: m.realloc,
    PyMem_Free: m.free,
    PyObject_Malloc: o.malloc,
    PyObject_Calloc: o.calloc,
    PyObject_Realloc: o.realloc,
    PyObject_Free: o.free,
  };
}

/**
 * A pymalloc heap handle (of this copy of the library or another: by its shape, not instanceof):
 * a Heap, or an object with its wasmImports, objectAllocator and memory.kind.
 */
export function isHeap(h: unknown): boolean {
  const o = h as { wasmImports?: unknown; objectAllocator?: unknown; memory?: { kind?: unknown } } | null;
  return o !== null && typeof o === "object" && typeof o.wasmImports === "function" && typeof o.objectAllocator === "object" && typeof o.memory?.kind === "string";
}

/** A TypeError naming fn when heap is no heap handle (not "Cannot read properties of undefined" later). */
function checkHeap(heap: unknown, fn: string): void {
  if (!isHeap(heap)) throw new TypeError(`${fn}() takes a heap of createHeap(), attachHeap() or heapForModule(), got ${typeName(heap)}`);
}

/** wasmImports' options, named once at run time: heap.wasmImports() is this function, one check. */
const WASM_IMPORTS_OPTIONS = { family: 1 } as const satisfies Record<keyof NonNullable<Parameters<typeof wasmImports>[1]>, 1>;

/**
 * Imports for a module whose C code calls malloc/free: spread them into its "env". The heap
 * must live in a WebAssembly.Memory (createHeap({ memory: wasmMemory, heapBase })), above the
 * module's static data and stack. `family` picks the family C's malloc goes to (default "mem",
 * the chunk family: small blocks from pymalloc's pools). In pymalloc mode the functions are
 * WebAssembly (the fast path, see heapAllocator); they return addresses as signed i32, as every
 * wasm export does (`>>> 0` in JS for addresses above 2 GiB).
 */
export function wasmImports(heap: Heap, options: { family?: FamilyName } = {}): WasmAllocatorImports {
  checkHeap(heap, "wasmImports");
  // As heap.wasmImports() checks them (null was "Cannot read properties of null", 5 and a typo ignored).
  checkOptions(options, WASM_IMPORTS_OPTIONS, "wasmImports");
  familyName(options.family);
  if (heap.memory.kind !== "wasm")
    throw new TypeError(`wasmImports() needs a heap in a WebAssembly.Memory (createHeap({ memory: new WebAssembly.Memory(...) })); this one is in a ${heap.memory.kind} buffer`);
  return { memory: heap.memory.source as WebAssembly.Memory, ...heapAllocator(heap, options.family) };
}

spanEnd(new Error());
