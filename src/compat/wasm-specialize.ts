/**
 * compat/wasm-specialize.ts — a linked module (`pymalloc link`) specialised to one heap handle:
 * what instantiateWithHeap compiles for a linked module's bytes (unless specialize: false).
 *
 * Owns: the heap's numbers as the linked fast path computes them (compat/wasm-numbers.ts), read
 * from an instance of the merge-ready build initialised on the heap (init only reads the heap
 * header); the linked module with each read of those globals written as a constant
 * (compat/wasm-bytes.ts's constifyGlobals), so that V8 compiles them into the code, as a C
 * allocator's own constants are; a marker section naming the numbers, checked at every
 * instantiation (a specialised module on another heap would corrupt it); a cache of the
 * compiled specialised modules by source and numbers.
 * Must not: change what the fast path does (the same code, its numbers constant), or specialise
 * a global that changes after init (diverted, nFast: divert(); freeOwner on a threads heap: stop()).
 */

import type { Heap } from "../heap/heap.js";
import { PymallocError } from "../errors.js";
import { constifyGlobals, withCustomSection } from "./wasm-bytes.js";
import { constantsFor, numbersOf, SpecializedCopies } from "./wasm-numbers.js";
import { checkHeaderForFastPath } from "./wasm-imports.js";
import { mergeReadyFastPath } from "./wasm-link.js";

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
  return numbersOf(x as WebAssembly.Exports);
}

/** The numbers a specialised module was made for, or undefined for any other module. */
export function specializedFor(module: WebAssembly.Module): string | undefined {
  const s = WebAssembly.Module.customSections(module, SPECIALIZED_SECTION);
  return s.length === 0 ? undefined : new TextDecoder().decode(s[0]);
}

/** Compiled specialised copies kept for one bytes object (e.g. one a thread slot of a threads heap). */
const CACHED = 16;
const cache = new WeakMap<object, SpecializedCopies>();

/**
 * The linked module `bytes` specialised to a heap handle's numbers (fastPathNumbers), compiled
 * (cached by the bytes object and the numbers: heaps with the same numbers share one compiled module).
 */
export async function specializedModule(bytes: BufferSource, numbers: Record<string, number>): Promise<WebAssembly.Module> {
  const key = JSON.stringify(numbers);
  let byKey = cache.get(bytes);
  if (byKey === undefined) cache.set(bytes, (byKey = new SpecializedCopies(CACHED)));
  const hit = byKey.get(key);
  if (hit !== undefined) return hit;
  const consts = constantsFor(bytes, numbers);
  if (consts === undefined) throw new TypeError("this linked module does not export the fast path's numbers (pymalloc_k_*): link it again with this version of pymalloc");
  return byKey.keep(key, await WebAssembly.compile(withCustomSection(constifyGlobals(bytes, consts), SPECIALIZED_SECTION, key)));
}

/** Refuse a specialised module (`made`: specializedFor's) on a heap handle whose numbers (fastPathNumbers) differ from those compiled into it. */
export function checkSpecialized(made: string, numbers: Record<string, number>): void {
  if (made !== JSON.stringify(numbers))
    throw new PymallocError(
      "this module was specialised to another heap's numbers (instantiateWithHeap compiles a linked module's bytes so): its fast path would misread this heap. Instantiate the linked module's bytes on this heap instead (they are specialised to it)",
    );
}
