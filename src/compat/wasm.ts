/**
 * compat/wasm.ts — pymalloc as the allocator of WebAssembly code.
 *
 * Owns: instantiateWithHeap(): instantiate a module that imports its allocator from "env" on a
 * memory, then format the heap above the module's __heap_base so that its static data and stack
 * stay untouched.
 * Must not: change the heap's behaviour: these are thin trampolines over one family.
 */

import { createHeap, type Heap } from "../heap/heap.js";
import type { HeapOptions } from "../heap/options.js";
import type { Family } from "../heap/families.js";
import { familyOf, trampolines, type FamilyName } from "./wasm-imports.js";

export interface InstantiateOptions extends HeapOptions {
  /** Other imports of the module; "env" gets memory and the allocator added. */
  imports?: WebAssembly.Imports;
  /** Family for C's malloc (default "mem"). */
  family?: FamilyName;
  /** The memory to use (default: a new WebAssembly.Memory of initialBytes, growing to maxBytes). */
  memory?: WebAssembly.Memory;
}

/**
 * Instantiate a module that imports `env.memory` and `env.malloc/free/calloc/realloc`, and make
 * a heap in that memory starting at the module's exported `__heap_base` (or options.heapBase).
 * The module must not allocate while it is being instantiated (a start function).
 */
export async function instantiateWithHeap(
  source: WebAssembly.Module | BufferSource,
  options: InstantiateOptions = {},
): Promise<{ instance: WebAssembly.Instance; heap: Heap }> {
  const { imports = {}, family, ...heapOptions } = options;
  const pages = (n: number): number => Math.ceil(n / 65536);
  const memory =
    options.memory ??
    new WebAssembly.Memory({ initial: pages(options.initialBytes ?? 1 << 20), maximum: pages(options.maxBytes ?? 2 ** 32 - 65536) });
  let fam: Family | undefined;
  const heapNotReady = (): Family => {
    throw new Error("the module allocated while being instantiated, before its heap exists");
  };
  const env = { ...(imports.env ?? {}), memory, ...trampolines(() => fam ?? heapNotReady()) };
  const module = source instanceof WebAssembly.Module ? source : await WebAssembly.compile(source);
  const instance = await WebAssembly.instantiate(module, { ...imports, env });
  const exported = instance.exports.__heap_base;
  const heapBase = options.heapBase ?? (exported instanceof WebAssembly.Global ? (exported.value as number) : undefined);
  if (heapBase === undefined) throw new TypeError("the module exports no __heap_base (link with -Wl,--export=__heap_base), and no heapBase option was given");
  const heap = createHeap({ ...heapOptions, memory, heapBase });
  fam = familyOf(heap, family);
  return { instance, heap };
}
