/**
 * compat/wasm-module.ts — what a WebAssembly binary says about its memory and allocator, read
 * from its bytes before anything is instantiated.
 *
 * Owns: wasmModuleInfo(): the module's memory import limits, the initial value of its exported
 * `__heap_base`, whether it imports env.malloc & co or carries an allocator of its own or the
 * fast path linked in (LINK_SECTION, linkedInfo), and its initialisation exports. A reader of
 * the binary format's import, global, export and custom sections.
 * Must not: compile, instantiate or touch a heap (compat/wasm.ts does).
 */

import { WASM_PAGE } from "../constants.js";
import { customSection, hasWasmMagic, Reader, readFunctionTypes, sections } from "./wasm-bytes.js";
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
  /** Functions the module exports among malloc, free, calloc, realloc, aligned_alloc, malloc_usable_size (an allocator of its own: none when `linked`, nor one it imports too). */
  allocatorExports: string[];
  /** The fast-path build a module linked by `pymalloc link` carries (its exported malloc & co are that), else undefined. */
  linked?: LinkedInfo;
  /** "_initialize" (a wasi reactor), "__wasm_call_ctors", or undefined. */
  initializer?: "_initialize" | "__wasm_call_ctors";
}

const ALLOC = ["malloc", "free", "calloc", "realloc", "aligned_alloc", "malloc_usable_size"];

/** CPython's allocator functions, the env imports of wasm/include/pymemcompat.h (compat/wasm-imports.ts's pymemImports() serves them). */
export const PYMEM_NAMES: readonly string[] = ["Raw", "", "Object"].flatMap((f) =>
  ["Malloc", "Calloc", "Realloc", "Free"].map((op) => (f === "Object" ? `PyObject_${op}` : `PyMem_${f}${op}`)),
);

/** The custom section a linked module carries (`pymalloc link`): JSON `{ "fastpath": id, "shared": bool }`. */
export const LINK_SECTION = "pymalloc.linked";

/** What the marker of a linked module says. */
export interface LinkedInfo {
  /** The id of the fast-path build merged in (FNV-1a of its bytes). */
  fastpath: string;
  /** Built for a shared memory. */
  shared: boolean;
}

/**
 * The marker of a module linked by linkFastPath (`pymalloc link`), or undefined for any other
 * module: read from a compiled module, or from the module's bytes (which need no compile).
 */
export function linkedInfo(module: WebAssembly.Module | BufferSource): LinkedInfo | undefined {
  const section = module instanceof WebAssembly.Module ? WebAssembly.Module.customSections(module, LINK_SECTION)[0] : customSection(module, LINK_SECTION);
  if (section === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(section));
  } catch {
    v = undefined;
  }
  const o = v as Partial<LinkedInfo> | undefined;
  if (o === undefined || o === null || typeof o.fastpath !== "string" || typeof o.shared !== "boolean") throw new TypeError(`the module's ${LINK_SECTION} section is not pymalloc's marker`);
  return { fastpath: o.fastpath, shared: o.shared };
}

function bytesOf(source: BufferSource): Uint8Array {
  // A plain Uint8Array over a Buffer's bytes (readFileSync's): a Buffer's subarray, one a
  // section here, goes through Node's Buffer constructor (a fifth of a parse's time).
  if (source instanceof Uint8Array && Object.getPrototypeOf(source) === Uint8Array.prototype) return source;
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (source instanceof ArrayBuffer || isSharedBuffer(source)) return new Uint8Array(source as ArrayBuffer);
  throw new TypeError("wasmModuleInfo() needs the module's bytes (an ArrayBuffer or a typed array)");
}

/** The wasm types of C's allocator imports on wasm32 (wasm/include/pymemcompat.h). */
export const C_ALLOCATOR_TYPES: Readonly<Record<string, string>> = Object.freeze({
  malloc: "i32->i32",
  free: "i32->",
  calloc: "i32,i32->i32",
  realloc: "i32,i32->i32",
  aligned_alloc: "i32,i32->i32",
  malloc_usable_size: "i32->i32",
  ...Object.fromEntries(PYMEM_NAMES.map((n) => [n, n.endsWith("Malloc") ? "i32->i32" : n.endsWith("Free") ? "i32->" : "i32,i32->i32"])),
});

/** A signature "i32,i32->i32" as "(i32, i32) -> (i32)". */
const shownType = (t: string): string => `(${t.replace(/,/g, ", ").replace("->", ") -> (")})`;

/** An allocator import of another type (`got`, as readFunctionTypes writes it) than C's on wasm32. */
export function allocatorTypeError(name: string, got: string | undefined): TypeError {
  const want = C_ALLOCATOR_TYPES[name];
  return new TypeError(
    `the module imports env.${name} as ${got === undefined ? "another type" : shownType(got)}, not as C's ${name} on wasm32 ${shownType(want)}: declare it as wasm/include/pymemcompat.h does`,
  );
}

/** Value types by their byte (the binary format's). */
const VALTYPES: Record<number, string> = { 0x7e: "i64", 0x7d: "f32", 0x7c: "f64" };

/** What readModule finds beside the info: what the heap's checks need (checkedModuleInfo). */
interface ModuleFacts {
  info: WasmModuleInfo;
  /** env's allocator imports (C's and CPython's names): the type index each is imported with. */
  allocatorTypeIndex: Map<string, number>;
  /** The module's function types (readFunctionTypes; undefined: types this reader leaves to the engine). */
  types: () => string[] | undefined;
  /** The value type of the exported __heap_base global (its byte), when exported as a global. */
  heapBaseType?: number;
  /** The memory import is a 64-bit memory (memory64: a wasm64 build). */
  memory64: boolean;
}

/**
 * Read a WebAssembly binary's memory import, `__heap_base` and allocator imports/exports, with
 * no instance: e.g. to make the memory and the heap before instantiating
 * (`createHeap({ memory, heapBase: wasmModuleInfo(bytes).heapBase })`).
 */
export function wasmModuleInfo(source: BufferSource): WasmModuleInfo {
  return readModule(source).info;
}

/**
 * checkedModuleInfo's last answers, by the bytes object they were read from, with a copy of the
 * bytes read: heapForModule(bytes) then instantiateWithHeap(bytes, { heap }) read the same bytes
 * twice (~0.8 M instructions a read of the bench's linked client, a tenth of a fresh instance's
 * JS). An answer is used only while the object holds the same bytes (compared word by word, a
 * few thousand instructions): bytes written over in between are read again. Not allocator state.
 */
const checkedInfos = new WeakMap<object, { bytes: Uint8Array; info: Readonly<WasmModuleInfo> }>();

/** Whether a and b hold the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (b.length !== n) return false;
  let i = 0;
  if ((a.byteOffset & 3) === 0 && (b.byteOffset & 3) === 0) {
    const wa = new Int32Array(a.buffer, a.byteOffset, n >>> 2);
    const wb = new Int32Array(b.buffer, b.byteOffset, n >>> 2);
    for (let w = 0; w < wa.length; w++) if (wa[w] !== wb[w]) return false;
    i = n & ~3;
  }
  for (; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The info frozen, its arrays and memory too (the cached answer is shared by every call that reads those bytes). */
function frozen(info: WasmModuleInfo): Readonly<WasmModuleInfo> {
  Object.freeze(info.allocatorImports);
  Object.freeze(info.pymemImports);
  Object.freeze(info.allocatorExports);
  if (info.memory !== undefined) Object.freeze(info.memory);
  if (info.linked !== undefined) Object.freeze(info.linked);
  return Object.freeze(info);
}

/**
 * wasmModuleInfo(), and a TypeError for a module no heap serves: a 64-bit memory, an __heap_base
 * or allocator import not of C's wasm32 type. The answer is frozen and may be shared by calls
 * with the same bytes object (checkedInfos): the library's callers only read it.
 */
export function checkedModuleInfo(source: BufferSource): Readonly<WasmModuleInfo> {
  const b = bytesOf(source);
  const known = checkedInfos.get(source);
  if (known !== undefined && sameBytes(known.bytes, b)) return known.info;
  const info = frozen(checkModule(readModule(b as BufferSource)));
  checkedInfos.set(source, { bytes: b.slice(), info });
  return info;
}

function checkModule(m: ModuleFacts): WasmModuleInfo {
  if (m.memory64)
    throw new TypeError(
      "the module imports a 64-bit memory (memory64: a wasm64 build): pymalloc's heaps are wasm32's; build it for wasm32",
    );
  if (m.heapBaseType !== undefined && m.heapBaseType !== 0x7f)
    throw new TypeError(
      `the module exports __heap_base as a global of type ${VALTYPES[m.heapBaseType] ?? m.heapBaseType}, not i32 (wasm32's): build it for wasm32`,
    );
  if (m.allocatorTypeIndex.size > 0) {
    const types = m.types();
    if (types !== undefined)
      for (const [name, index] of m.allocatorTypeIndex) {
        const got = types[index];
        if (got !== C_ALLOCATOR_TYPES[name]) throw allocatorTypeError(name, got);
      }
  }
  return m.info;
}

function readModule(source: BufferSource): ModuleFacts {
  const b = bytesOf(source);
  if (!hasWasmMagic(b))
    throw new TypeError("not a WebAssembly module: no \\0asm magic");
  const info: WasmModuleInfo = { allocatorImports: [], pymemImports: [], allocatorExports: [] };
  const allocatorTypeIndex = new Map<string, number>();
  let memory64 = false;
  let importedGlobals = 0;
  const globals: (number | undefined)[] = [];
  const globalTypes: number[] = [];
  let heapBaseGlobal = -1;
  let typeEnd = -1;
  for (const section of sections(b)) {
    const { id, start, end } = section;
    // A section whose size runs past the module's end (its bytes cut, or a size that is garbage):
    // refused, not read on into nothing (the info was made of whatever the reads found).
    if (end > b.length)
      throw new TypeError(`not a WebAssembly module: truncated (section ${id} at byte ${start} runs past the end, byte ${b.length})`);
    // Reads bounded by the section's end: a section whose contents run past it is truncated, not read on into the next.
    const r = new Reader(b.subarray(0, end));
    r.pos = section.r.pos;
    if (id === 1) typeEnd = end;
    else if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        const mod = r.name();
        const name = r.name();
        const kind = r.byte();
        if (kind === 0) {
          const type = r.u32();
          if (mod === "env" && ALLOC.includes(name)) info.allocatorImports.push(name);
          if (mod === "env" && PYMEM_NAMES.includes(name)) info.pymemImports.push(name);
          if (mod === "env" && Object.prototype.hasOwnProperty.call(C_ALLOCATOR_TYPES, name)) allocatorTypeIndex.set(name, type);
        } else if (kind === 1) {
          r.byte();
          r.limits();
        } else if (kind === 2) {
          if (r.pos < r.b.length && (r.b[r.pos] & 4) !== 0) memory64 = true;
          const l = r.limits();
          info.memory = { module: mod, name, minBytes: l.min * WASM_PAGE, maxBytes: l.max === undefined ? undefined : l.max * WASM_PAGE, shared: l.shared };
        } else if (kind === 3) {
          globalTypes.push(r.byte());
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
        globalTypes.push(r.byte());
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
  // One it imports too is pymemcompat.c's forwarder (em++ exports malloc with libc++ in).
  info.allocatorExports = info.allocatorExports.filter((n) => !info.allocatorImports.includes(n));
  const linked = linkedInfo(b);
  if (linked !== undefined) {
    info.linked = linked;
    info.allocatorExports = [];
  }
  if (heapBaseGlobal >= importedGlobals) {
    const v = globals[heapBaseGlobal];
    if (v !== undefined) info.heapBase = v >>> 0;
  }
  return {
    info,
    allocatorTypeIndex,
    // The type section alone (its end checked above): a type read past it is the section's truncation.
    types: () => (typeEnd < 0 ? [] : readFunctionTypes(b.subarray(0, typeEnd) as Uint8Array<ArrayBuffer>)),
    heapBaseType: heapBaseGlobal >= 0 ? globalTypes[heapBaseGlobal] : undefined,
    memory64,
  };
}
