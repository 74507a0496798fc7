/**
 * compat/wasm-imports.ts — the functions a WebAssembly module imports to allocate from a heap.
 *
 * Owns: the trampolines from wasm32 calls (signed i32 arguments) to one family, and
 * heap.wasmImports().
 * Must not: create heaps (compat/wasm.ts does) or change a family's behaviour.
 */

import type { Heap } from "../heap/heap.js";
import type { Family } from "../heap/families.js";

export type FamilyName = "raw" | "mem" | "obj";

/** The four calls a C module compiled for wasm32 imports from env (signed i32 arguments). */
export interface AllocatorFunctions {
  malloc(n: number): number;
  free(p: number): void;
  calloc(nelem: number, elsize: number): number;
  realloc(p: number, n: number): number;
}

/** What a C module compiled for wasm32 imports: the memory and the four calls. */
export interface WasmAllocatorImports extends AllocatorFunctions {
  memory: WebAssembly.Memory;
}

function familyName(family: FamilyName | undefined): FamilyName {
  const name = family ?? "mem";
  if (name !== "raw" && name !== "mem" && name !== "obj") throw new RangeError(`family must be "raw", "mem" or "obj", got ${String(name)}`);
  return name;
}

export function familyOf(heap: Heap, family: FamilyName | undefined): Family {
  return heap[familyName(family)];
}

/** Trampolines from wasm32 (signed i32 arguments) to a family (unsigned byte offsets). */
export function trampolines(fam: () => Family): AllocatorFunctions {
  return {
    malloc: (n) => fam().malloc(n >>> 0),
    free: (p) => fam().free(p >>> 0),
    calloc: (a, b) => fam().calloc(a >>> 0, b >>> 0),
    realloc: (p, n) => fam().realloc(p >>> 0, n >>> 0),
  };
}

/** The allocator functions of the heap that heap() returns (looked up at the first call). */
export function allocatorImports(heap: () => Heap, family: FamilyName | undefined): AllocatorFunctions {
  let f: Family | undefined;
  const name = familyName(family);
  return trampolines(() => (f ??= heap()[name]));
}

/**
 * Imports for a module whose C code calls malloc/free: spread them into its "env". The heap
 * must live in a WebAssembly.Memory (createHeap({ memory: wasmMemory, heapBase })), above the
 * module's static data and stack. `family` picks the family C's malloc goes to (default "mem",
 * the chunk family: small blocks from pymalloc's pools).
 */
export function wasmImports(heap: Heap, options: { family?: FamilyName } = {}): WasmAllocatorImports {
  if (heap.memory.kind !== "wasm")
    throw new TypeError(`wasmImports() needs a heap in a WebAssembly.Memory (createHeap({ memory: new WebAssembly.Memory(...) })); this one is in a ${heap.memory.kind} buffer`);
  const f = familyOf(heap, options.family);
  return { memory: heap.memory.source as WebAssembly.Memory, ...trampolines(() => f) };
}

