/**
 * compat/wasm-module.ts — what a WebAssembly binary says about its memory and allocator, read
 * from its bytes before anything is instantiated.
 *
 * Owns: wasmModuleInfo(): the module's memory import limits, the initial value of its exported
 * `__heap_base`, whether it imports env.malloc & co or carries an allocator of its own, and its
 * initialisation exports. A reader of the binary format's import, global and export sections.
 * Must not: compile, instantiate or touch a heap (compat/wasm.ts does).
 */

import { WASM_PAGE } from "../constants.js";
import { hasWasmMagic, Reader, sections } from "./wasm-bytes.js";
import { isSharedBuffer } from "../memory/memory.js";

export interface WasmModuleInfo {
  /** The memory the module imports from env (undefined when it imports none). */
  memory?: { module: string; name: string; minBytes: number; maxBytes?: number; shared: boolean };
  /** Initial value of the exported global `__heap_base` (undefined when not exported). */
  heapBase?: number;
  /** Functions the module imports from "env" among malloc, free, calloc, realloc, aligned_alloc, malloc_usable_size. */
  allocatorImports: string[];
  /** Functions the module imports from "env" by CPython's names (PyMem_RawMalloc ... PyObject_Free: wasm/include/pymemcompat.h). */
  pymemImports: string[];
  /** Functions the module exports among malloc, free, calloc, realloc, aligned_alloc, malloc_usable_size (an allocator of its own). */
  allocatorExports: string[];
  /** "_initialize" (a wasi reactor), "__wasm_call_ctors", or undefined. */
  initializer?: "_initialize" | "__wasm_call_ctors";
}

const ALLOC = ["malloc", "free", "calloc", "realloc", "aligned_alloc", "malloc_usable_size"];

/** CPython's allocator functions, the env imports of wasm/include/pymemcompat.h (compat/wasm-imports.ts's pymemImports() serves them). */
export const PYMEM_NAMES: readonly string[] = ["Raw", "", "Object"].flatMap((f) =>
  ["Malloc", "Calloc", "Realloc", "Free"].map((op) => (f === "Object" ? `PyObject_${op}` : `PyMem_${f}${op}`)),
);

function bytesOf(source: BufferSource): Uint8Array {
  if (source instanceof Uint8Array) return source;
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (source instanceof ArrayBuffer || isSharedBuffer(source)) return new Uint8Array(source as ArrayBuffer);
  throw new TypeError("wasmModuleInfo() needs the module's bytes (an ArrayBuffer or a typed array)");
}

/**
 * Read a WebAssembly binary's memory import, `__heap_base` and allocator imports/exports, with
 * no instance: e.g. to make the memory and the heap before instantiating
 * (`createHeap({ memory, heapBase: wasmModuleInfo(bytes).heapBase })`).
 */
export function wasmModuleInfo(source: BufferSource): WasmModuleInfo {
  const b = bytesOf(source);
  if (!hasWasmMagic(b))
    throw new TypeError("not a WebAssembly module: no \\0asm magic");
  const info: WasmModuleInfo = { allocatorImports: [], pymemImports: [], allocatorExports: [] };
  let importedGlobals = 0;
  const globals: (number | undefined)[] = [];
  let heapBaseGlobal = -1;
  for (const { id, r } of sections(b)) {
    if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        const mod = r.name();
        const name = r.name();
        const kind = r.byte();
        if (kind === 0) {
          r.u32();
          if (mod === "env" && ALLOC.includes(name)) info.allocatorImports.push(name);
          if (mod === "env" && PYMEM_NAMES.includes(name)) info.pymemImports.push(name);
        } else if (kind === 1) {
          r.byte();
          r.limits();
        } else if (kind === 2) {
          const l = r.limits();
          info.memory = { module: mod, name, minBytes: l.min * WASM_PAGE, maxBytes: l.max === undefined ? undefined : l.max * WASM_PAGE, shared: l.shared };
        } else if (kind === 3) {
          r.byte();
          r.byte();
          importedGlobals++;
          globals.push(undefined);
        } else if (kind === 4) {
          r.byte();
          r.u32();
        } else throw new TypeError(`not a WebAssembly module: import kind ${kind}`);
      }
    } else if (id === 6) {
      for (let n = r.u32(); n > 0; n--) {
        r.byte();
        r.byte();
        globals.push(r.constExpr());
      }
    } else if (id === 7) {
      for (let n = r.u32(); n > 0; n--) {
        const name = r.name();
        const kind = r.byte();
        const index = r.u32();
        if (kind === 3 && name === "__heap_base") heapBaseGlobal = index;
        if (kind === 0 && ALLOC.includes(name)) info.allocatorExports.push(name);
        if (kind === 0 && name === "_initialize") info.initializer = "_initialize";
        if (kind === 0 && name === "__wasm_call_ctors" && info.initializer === undefined) info.initializer = "__wasm_call_ctors";
      }
    }
  }
  if (heapBaseGlobal >= importedGlobals) {
    const v = globals[heapBaseGlobal];
    if (v !== undefined) info.heapBase = v >>> 0;
  }
  return info;
}
