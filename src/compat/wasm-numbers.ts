/**
 * compat/wasm-numbers.ts — the fast path's numbers (a heap handle's pool shift, class count,
 * usedpools, pool map, ...: the `pymalloc_k_*` globals its init() sets, wasm/obmalloc/numbers.ts)
 * and a copy of a build with them as constants: for the fast path's own instance
 * (compat/wasm-imports.ts, heap.wasmImports()) and for a linked module (compat/wasm-specialize.ts).
 *
 * Owns: reading the numbers from an initialised instance's exports; which of them stay globals
 * (THREADS_CHANGE); the map from a build's global indexes to the constants (constifyGlobals'
 * input); the bounded table its callers keep their compiled copies in (SpecializedCopies).
 * Must not: compile or instantiate (its callers do, and cache what they compile).
 */

import { readExports } from "./wasm-bytes.js";

/** The export name prefix of the numbers. */
export const NUMBER_PREFIX = "pymalloc_k_";

/**
 * Numbers that change after init on a threads heap: freeOwner, which stop() sets when the handle
 * is detached (heap.detachThread, threads heaps only), so that its frees go to JS. Without threads
 * nothing calls stop(), and free's owner test takes it as a constant (a global read at every free
 * cost binary trees 1.4% more instructions, docs/performance.md, session 31).
 */
const THREADS_CHANGE = new Set(["freeOwner"]);

/** The numbers of an initialised instance (name without the prefix -> i32). */
export function numbersOf(exports: WebAssembly.Exports): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(exports)) if (name.startsWith(NUMBER_PREFIX)) out[name.slice(NUMBER_PREFIX.length)] = (v as WebAssembly.Global).value as number;
  return out;
}

/**
 * For a build's bytes (the fast path's, or a module linked with it), each numbers' global index
 * -> its constant; undefined when the bytes do not export every one of `numbers` (another build).
 */
export function constantsFor(bytes: BufferSource, numbers: Record<string, number>): Map<number, number> | undefined {
  const consts = new Map<number, number>();
  let found = 0;
  for (const e of readExports(bytes)) {
    if (e.kind !== 3 || !e.name.startsWith(NUMBER_PREFIX)) continue;
    found++;
    const name = e.name.slice(NUMBER_PREFIX.length);
    if (numbers.threaded !== 0 && THREADS_CHANGE.has(name)) continue;
    consts.set(e.index, numbers[name] | 0);
  }
  return found === Object.keys(numbers).length ? consts : undefined;
}

/**
 * Compiled specialised copies by the JSON of their numbers, at most `kept` (the oldest dropped
 * first): heaps at ever new places (or a threads heap's slots) must not keep every compiled copy
 * alive. Heaps made alike share one.
 */
export class SpecializedCopies {
  private readonly byKey = new Map<string, WebAssembly.Module>();
  constructor(private readonly kept: number) {}

  get(key: string): WebAssembly.Module | undefined {
    return this.byKey.get(key);
  }

  /** Keep `module` for `key` (dropping the oldest copy when full); returns it. */
  keep(key: string, module: WebAssembly.Module): WebAssembly.Module {
    if (this.byKey.size >= this.kept) this.byKey.delete(this.byKey.keys().next().value!);
    this.byKey.set(key, module);
    return module;
  }
}
