/**
 * compat/wasm-specialize.ts — a linked module (`pymalloc link`) specialised to one heap handle:
 * instantiateWithHeap(bytes, { specialize: true }).
 *
 * Owns: the heap's numbers as the linked fast path computes them (pool shift, class count,
 * this thread's usedpools and owner slot, the pool map's place and size, the raw allocator's
 * header words: the merge-ready build's `pymalloc_k_*` globals, which its init() alone sets),
 * read from an instance of the merge-ready build initialised on the heap (init only reads the
 * heap header); the linked module with each read of those globals written as a constant
 * (compat/wasm-bytes.ts's constifyGlobals), so that V8 compiles them into the code, as a C
 * allocator's own constants are; a marker section naming the numbers, checked at every
 * instantiation (a specialised module on another heap would corrupt it); a cache of the
 * compiled specialised modules by source and numbers.
 * Must not: change what the fast path does (the same code, its numbers constant), or specialise
 * a global that changes after init (diverted, nFast: divert()).
 */

import type { Heap } from "../heap/heap.js";
import { PymallocError } from "../errors.js";
import { constifyGlobals, readExports, withCustomSection } from "./wasm-bytes.js";
import { checkHeaderForFastPath } from "./wasm-imports.js";
import { mergeReadyFastPath } from "./wasm-link.js";

const PREFIX = "pymalloc_k_";
/** The custom section of a specialised module: JSON of the numbers it was specialised to. */
export const SPECIALIZED_SECTION = "pymalloc.specialized";

const standalone: { plain?: WebAssembly.Module; shared?: WebAssembly.Module } = {};

/** The heap handle's numbers, as the linked fast path's init computes them (name without prefix -> i32). */
export function fastPathNumbers(heap: Heap, shared: boolean): Record<string, number> {
  const m = shared ? (standalone.shared ??= new WebAssembly.Module(mergeReadyFastPath(true))) : (standalone.plain ??= new WebAssembly.Module(mergeReadyFastPath(false)));
  const none = () => {
    throw new Error("unreachable: the numbers' instance never allocates");
  };
  const memory = heap.memory.source as WebAssembly.Memory;
  const x = new WebAssembly.Instance(m, { pymalloc_env: { memory }, pymalloc: { malloc: none, free: none, calloc: none, realloc: none } }).exports as Record<string, unknown>;
  checkHeaderForFastPath(heap);
  (x.pymalloc_init as (b: number, s: number) => void)(heap.heapBase, heap.threadId);
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(x)) if (name.startsWith(PREFIX)) out[name.slice(PREFIX.length)] = (v as WebAssembly.Global).value as number;
  return out;
}

/** The numbers a specialised module was made for, or undefined for any other module. */
export function specializedFor(module: WebAssembly.Module): string | undefined {
  const s = WebAssembly.Module.customSections(module, SPECIALIZED_SECTION);
  return s.length === 0 ? undefined : new TextDecoder().decode(s[0]);
}

const cache = new WeakMap<object, Map<string, WebAssembly.Module>>();

/**
 * The linked module `bytes` specialised to this heap handle's numbers, compiled (cached by the
 * bytes object and the numbers: heaps with the same numbers share one compiled module).
 */
export async function specializedModule(bytes: BufferSource, heap: Heap, shared: boolean): Promise<WebAssembly.Module> {
  const numbers = fastPathNumbers(heap, shared);
  const key = JSON.stringify(numbers);
  let byKey = cache.get(bytes);
  if (byKey === undefined) cache.set(bytes, (byKey = new Map()));
  const hit = byKey.get(key);
  if (hit !== undefined) return hit;
  const consts = new Map<number, number>();
  for (const e of readExports(bytes)) if (e.kind === 3 && e.name.startsWith(PREFIX)) consts.set(e.index, numbers[e.name.slice(PREFIX.length)] | 0);
  if (consts.size !== Object.keys(numbers).length) throw new TypeError("this linked module does not export the fast path's numbers (pymalloc_k_*): link it again with this version of pymalloc");
  const module = await WebAssembly.compile(withCustomSection(constifyGlobals(bytes, consts), SPECIALIZED_SECTION, key));
  byKey.set(key, module);
  return module;
}

/** Refuse a specialised module on a heap handle whose numbers differ from those compiled into it. */
export function checkSpecialized(module: WebAssembly.Module, heap: Heap, shared: boolean): void {
  const made = specializedFor(module);
  if (made === undefined) return;
  if (made !== JSON.stringify(fastPathNumbers(heap, shared)))
    throw new PymallocError(
      "this module was specialised to another heap's numbers (instantiateWithHeap's specialize: true): its fast path would misread this heap. Instantiate the linked module's bytes with specialize: true on this heap instead",
    );
}
