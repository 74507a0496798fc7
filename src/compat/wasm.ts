/**
 * compat/wasm.ts — pymalloc as the allocator of WebAssembly code.
 *
 * Owns: instantiateWithHeap() and heapForModule(): a memory sized for the module (its declared
 * minimum at least), a heap formatted above the module's __heap_base (read from its bytes, or
 * from the instance), the module's env.malloc & co linked to that heap (optionally wrapped by
 * the caller), refusal of modules that carry an allocator of their own, that take no env.memory
 * (built without -Wl,--import-memory) or whose data and stack lie over the heap (a heap below
 * their __heap_base), and the call of the
 * module's initialiser once its heap exists. instantiateLinked(): a module with the fast path
 * linked in (`pymalloc link`, compat/wasm-link.ts) on a heap handle: its slow paths imported
 * from the handle's family, its fast path started (pymalloc_init) when the heap has a fast path,
 * never in the debug modes (every call then goes to the JS hooks), failAllocations reaching it.
 * Must not: change the heap's behaviour: the imports are the heap's (compat/wasm-imports.ts).
 */

import { createHeap, type Heap } from "../heap/heap.js";
import { checkOptions, HEAP_OPTIONS, type HeapOptions } from "../heap/options.js";
import { DEFAULT_INITIAL_BYTES, DEFAULT_MAX_BYTES, DEFAULT_STACK_BYTES, WASM_PAGE } from "../constants.js";
import { hex, PymallocError, typeName } from "../errors.js";
import { isSharedBuffer } from "../memory/memory.js";
import { allocatorImports, checkHeaderForFastPath, hasFastPath, heapAllocator, isHeap, pymemImports, registerLinkedFastPath, type AllocatorFunctions, type FamilyName } from "./wasm-imports.js";
import { allocatorTypeError, C_ALLOCATOR_TYPES, checkedModuleInfo, type WasmModuleInfo } from "./wasm-module.js";
import { currentFastPathId, linkedInfo, type LinkedInfo } from "./wasm-link.js";
import { checkSpecialized, fastPathNumbers, SPECIALIZED_SECTION, specializedFor, specializedModule } from "./wasm-specialize.js";
import { asBytes, customSection, hasWasmMagic } from "./wasm-bytes.js";
import { spanEnd, spanStart } from "../debug/spans.js";

spanStart(new Error()); // debug/spans.ts

export interface InstantiateOptions extends HeapOptions {
  /**
   * Other imports of the module. env.memory and env.malloc/free/calloc/realloc are the heap's:
   * passing them here is an error (wrap them with `wrapAllocator` instead).
   */
  imports?: WebAssembly.Imports;
  /** Family for C's malloc (default "mem"). */
  family?: FamilyName;
  /** The memory to use (default: a new WebAssembly.Memory, at least the module's declared minimum). */
  memory?: WebAssembly.Memory;
  /**
   * Wrap the allocator the module imports: called with the heap's malloc/free/calloc/realloc (as
   * the module would import them), it returns the functions to import instead, e.g. ones that
   * count calls and then call the heap's. Functions it leaves out stay the heap's.
   */
  wrapAllocator?: (heapFunctions: AllocatorFunctions) => Partial<AllocatorFunctions>;
  /**
   * Call the module's `_initialize` (a wasi-libc reactor) or else `__wasm_call_ctors` (C++
   * constructors) once the heap exists, before returning (default true; false on a Worker's
   * handle from attachHeap over a shared memory: the first instance, on the heap's own handle,
   * initialised the module's data in the memory all instances share). Pass false to call it
   * yourself.
   */
  initialize?: boolean;
  /**
   * A Worker's instance (on a handle from attachHeap over a shared memory): bytes of the C stack
   * it gets from the heap (a raw-family block, set as its exported `__stack_pointer`; default
   * 65536). Instances of one module all start with the same stack pointer, so threads running
   * at once would write over each other's locals: link with `-mmutable-globals
   * -Wl,--export=__stack_pointer`. 0: the module's own stack (only for code that keeps no locals
   * in memory). A module that exports __wasm_init_tls and __tls_size gets its thread-locals'
   * block at the start of the same block. The block is returned as `stack`; free it with
   * heap.raw.free when the Worker is done.
   */
  stackBytes?: number;
  /**
   * Instantiate on this heap (handle) instead of making one: e.g. a heap from
   * heapForModule(bytes) with the module compiled once and instantiated many times, or a Worker's
   * handle from attachHeap (one instance per handle: its fast path allocates from that thread's
   * slot). The heap's own options then apply; memory and the other heap options must not be
   * given. Returns this heap.
   */
  heap?: Heap;
  /**
   * A linked module only (`pymalloc link`): compile a copy of it with this heap handle's numbers
   * (pool shift, class count, this thread's usedpools, the pool map) as constants in its code,
   * as an allocator compiled into the module has them. The default for a linked module's bytes
   * (false turns it off); a compiled WebAssembly.Module is instantiated as it is (true then
   * throws: it needs the bytes). One compile per distinct set of numbers (cached by the bytes
   * object: pass the same one again, and heaps made alike share it), instead of the module's
   * own; the returned module is that copy, refused on a heap with other numbers. Nothing changes
   * in the debug modes, hardened, sampled or the raw family (the fast path is not started).
   */
  specialize?: boolean;
}

/** instantiateWithHeap's options, named once at run time (checked against InstantiateOptions). */
const INSTANTIATE_OPTIONS = {
  ...HEAP_OPTIONS,
  imports: 1, family: 1, memory: 1, wrapAllocator: 1, initialize: 1, heap: 1, specialize: 1, stackBytes: 1,
} as const satisfies Record<keyof InstantiateOptions, 1>;
/** heapForModule's: instantiateWithHeap's but those of the instantiation itself. */
const { imports: _i, wrapAllocator: _w, initialize: _n, stackBytes: _s, ...HEAP_FOR_MODULE_OPTIONS } = INSTANTIATE_OPTIONS;

const ALLOCATOR_NAMES = ["malloc", "free", "calloc", "realloc", "aligned_alloc", "malloc_usable_size"] as const;

/**
 * The options of instantiateWithHeap that are not a heap's, checked before anything is made: a
 * TypeError naming the option for a value of the wrong kind (imports: null read as "no imports"
 * threw "Cannot read properties of null (reading 'env')"; heap: {} "... reading 'kind'";
 * initialize: "no" and specialize: 1 were taken as their defaults).
 */
function checkInstantiateOptions(o: InstantiateOptions): void {
  const { imports, heap, wrapAllocator, initialize, specialize, memory, memoryKind } = o as Record<string, unknown>;
  // A module imports its memory as env.memory: the heap is always in a WebAssembly.Memory (shared
  // or not, as the module declares it). Another kind was taken and ignored before.
  if (memoryKind !== undefined && memoryKind !== "wasm")
    throw new TypeError(`memoryKind: a module's heap is in the WebAssembly.Memory it imports (memoryKind "wasm", shared when the module declares a shared memory), got ${JSON.stringify(memoryKind)}`);
  if (imports !== undefined && (imports === null || typeof imports !== "object")) throw new TypeError(`imports must be an object of import modules ({ env: {...}, ... }), got ${typeName(imports)}`);
  if (imports !== undefined) {
    const env = (imports as Record<string, unknown>).env;
    if (env !== undefined && (env === null || typeof env !== "object")) throw new TypeError(`imports.env must be an object, got ${typeName(env)}`);
  }
  if (heap !== undefined && !isHeap(heap)) throw new TypeError(`heap must be a heap of createHeap(), attachHeap() or heapForModule() (a Heap), got ${typeName(heap)}`);
  if (wrapAllocator !== undefined && typeof wrapAllocator !== "function") throw new TypeError(`wrapAllocator must be a function (heapFunctions) => ({ malloc, ... }), got ${typeName(wrapAllocator)}`);
  if (initialize !== undefined && typeof initialize !== "boolean") throw new TypeError(`initialize must be a boolean, got ${typeName(initialize)}`);
  if (specialize !== undefined && typeof specialize !== "boolean") throw new TypeError(`specialize must be a boolean, got ${typeName(specialize)}`);
  if (memory !== undefined && !(memory instanceof WebAssembly.Memory)) throw new TypeError(`memory must be a WebAssembly.Memory (the module imports it), got ${memory === null ? "null" : memory instanceof ArrayBuffer || isSharedBuffer(memory) ? (memory as object).constructor.name : typeof memory}`);
}

/** A linked module (`pymalloc link`) must carry this version's fast path. */
function checkLinked(info: LinkedInfo): void {
  if (info.fastpath !== currentFastPathId(info.shared))
    throw new PymallocError(
      `this module was linked with another build of pymalloc's fast path (${info.fastpath}; this pymalloc's is ${currentFastPathId(info.shared)}): its copy of the fast path may not match this heap's layout. Link the unlinked module again with this version (npx pymalloc link in.wasm -o out.wasm)`,
    );
}

/** The imports of a linked module's own: its slow paths (`pymalloc.*`), the family's, and env's allocator extras. */
function linkedImports(
  heap: () => Heap,
  family: FamilyName | undefined,
  imports: WebAssembly.Imports,
  memory: WebAssembly.Memory,
  pymem: () => Record<string, unknown>,
): WebAssembly.Imports {
  if ("pymalloc" in imports) throw new TypeError("imports.pymalloc: a linked module's pymalloc imports are its slow paths, the heap's");
  const givenEnv = (imports.env ?? {}) as Record<string, unknown>;
  const slow = allocatorImports(heap, family);
  const { malloc, free, calloc, realloc, aligned_alloc, malloc_usable_size } = slow;
  return { ...imports, env: { ...givenEnv, memory, aligned_alloc, malloc_usable_size, ...pymem() }, pymalloc: { malloc, free, calloc, realloc } };
}

/** Start a linked module's fast path on this heap handle, unless its calls go to JS (debug modes, hardened, sampled, raw). */
function startLinked(instance: WebAssembly.Instance, heap: Heap, family: FamilyName | undefined): void {
  const x = instance.exports as { pymalloc_init?: unknown; pymalloc_divert?: unknown };
  if (typeof x.pymalloc_init !== "function" || typeof x.pymalloc_divert !== "function") throw new TypeError("this linked module exports no pymalloc_init/pymalloc_divert: not linked by pymalloc link");
  if (!hasFastPath(heap, family)) return; // never started: every call goes to the family in JS
  const init = x.pymalloc_init as (heapBase: number, slot: number) => void;
  const divert = x.pymalloc_divert as (on: number) => void;
  const stop = (instance.exports as { pymalloc_stop?: unknown }).pymalloc_stop as (() => void) | undefined;
  divert(heap.faultPlanned ? 1 : 0);
  checkHeaderForFastPath(heap);
  init(heap.heapBase, heap.threadId);
  registerLinkedFastPath(heap, divert, stop);
}

function isPymem(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((d) => d.module === "env" && /^Py(Mem|Object)_/.test(d.name));
}

/** Linked modules' bytes instantiated as they are (specialize: false, or where the fast path does not run), compiled once. */
const compiledLinked = new WeakMap<object, WebAssembly.Module>();

export interface LinkedInstantiateOptions {
  /** Other imports of the module (not env.memory, env.malloc & co, nor the module `pymalloc`: they are the heap's). */
  imports?: WebAssembly.Imports;
  /** Family for C's malloc (default "mem"). */
  family?: FamilyName;
  /** Call the module's `_initialize` or `__wasm_call_ctors` after starting its fast path (default as InstantiateOptions.initialize). */
  initialize?: boolean;
  /** As InstantiateOptions.stackBytes. */
  stackBytes?: number;
  /** As InstantiateOptions.specialize (needs the module's bytes). */
  specialize?: boolean;
}

/**
 * Instantiate a module linked by `pymalloc link` (linkFastPath) on a heap that exists: a heap
 * from heapForModule(bytes), or a Worker's handle from attachHeap (one instance per handle: the
 * fast path allocates from that handle's thread slot). Its slow paths are imported from the
 * handle's family; its fast path is started on the heap (pymalloc mode), or never in the debug
 * modes, with hardened: true or sampled sites (then every call goes to the family in JS);
 * heap.failAllocations() reaches it. Then its initialiser runs (unless initialize: false).
 */
export async function instantiateLinked(
  heap: Heap,
  source: WebAssembly.Module | BufferSource,
  options: LinkedInstantiateOptions = {},
  read?: ReadModule,
): Promise<{ instance: WebAssembly.Instance; module: WebAssembly.Module; stack: number }> {
  const { imports = {}, family, initialize = !threadHandle(heap), specialize } = options;
  const stackBytes = stackOption(options.stackBytes);
  checkGivenEnv(imports);
  const given = source instanceof WebAssembly.Module ? source : undefined;
  const { info: moduleInfo, linked: info } = read ?? readModuleOf(source);
  if (info === undefined) throw new TypeError("instantiateLinked() takes a module linked by pymalloc link (linkFastPath); for a module importing env.malloc, use instantiateWithHeap or heap.wasmImports()");
  checkLinked(info);
  if (heap.memory.kind !== "wasm") throw new TypeError(`a linked module needs a heap in a WebAssembly.Memory; this one is in a ${heap.memory.kind} buffer`);
  const runs = hasFastPath(heap, family);
  let module: WebAssembly.Module;
  let numbers: Record<string, number> | undefined;
  if (given !== undefined) {
    if (specialize === true && runs && specializedFor(given) === undefined) throw new TypeError("specialize: true needs the linked module's bytes (it compiles a copy of them with this heap's numbers), not a compiled WebAssembly.Module");
    module = given;
  } else if (runs && specialize !== false && customSection(source as BufferSource, SPECIALIZED_SECTION) === undefined) {
    // The default for a linked module's bytes: its copy with this heap's numbers compiled in
    // (compiled once for each set of numbers; the module as linked is not compiled at all). The
    // numbers: an instance of the merge-ready build initialised on the heap.
    numbers = fastPathNumbers(heap, info.shared);
    module = await specializedModule(source as BufferSource, numbers);
  } else {
    const bytes = source as BufferSource;
    module = compiledLinked.get(bytes) ?? (await WebAssembly.compile(bytes));
    compiledLinked.set(bytes, module); // bytes given again and again: compiled once
  }
  const made = specializedFor(module);
  if (made !== undefined && !runs)
    // Its numbers are constants: its fast path would serve calls without init, where every call must go to JS.
    throw new TypeError("a specialised module runs only where the fast path does (pymalloc mode, not hardened or sampled, not the raw family): instantiate the linked module itself here");
  if (made !== undefined) checkSpecialized(made, numbers ?? fastPathNumbers(heap, info.shared));
  const memory = heap.memory.source as WebAssembly.Memory;
  const instance = await instantiateChecked(module, linkedImports(() => heap, family, imports, memory, () => (isPymem(module) ? { ...pymemImports(heap) } : {})), {
    info: moduleInfo,
    what: "the heap's memory",
  });
  checkBaseOfInstance(instance, heap);
  const stack = threadHandle(heap) ? giveStack(instance, heap, stackBytes) : 0;
  startLinked(instance, heap, family);
  if (initialize) runInitializer(instance);
  return { instance, module, stack };
}

/**
 * What one call reads from its module, once: its bytes' info (moduleInfoOf) and its linked marker
 * (a compiled module's read from its custom section). Each call read the bytes up to four times
 * (checkedModuleInfo twice, the marker twice more), ~80 us a read of the bench's linked client.
 */
interface ReadModule {
  info: WasmModuleInfo | undefined;
  linked: LinkedInfo | undefined;
}

/** The module's info and linked marker (undefined for bytes that are no module: compiling them says why). */
function readModuleOf(source: WebAssembly.Module | BufferSource): ReadModule {
  if (source instanceof WebAssembly.Module) return { info: undefined, linked: linkedInfo(source) };
  const info = moduleInfoOf(source);
  return { info, linked: info?.linked };
}

/** A Worker's handle: from attachHeap, over a shared memory (its instances run beside others). */
function threadHandle(heap: Heap): boolean {
  return heap.attached && heap.memory.kind === "wasm" && isSharedBuffer(heap.memory.buffer);
}

/** stackBytes: a whole number of bytes below 2^31, rounded up to 16 (default 65536). */
function stackOption(v: unknown): number {
  if (v === undefined) return DEFAULT_STACK_BYTES;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0x7fff0000) throw new RangeError(`stackBytes must be a whole number of bytes from 0 to ${0x7fff0000}, got ${String(v)}`);
  return Math.ceil(v / 16) * 16;
}

/**
 * The instance's own C stack (a Worker's: threadHandle), `bytes` from the heap's raw family, its
 * exported __stack_pointer set to the block's end (stacks grow down); and, when the module has
 * thread-locals and exports __wasm_init_tls and __tls_size (`-Wl,--export=...`), its own TLS block
 * at the block's start, initialised by __wasm_init_tls (else every instance would share the first
 * one's thread-locals). Returns the block (0: bytes 0, the module's own stack and TLS). Throws,
 * nothing allocated, for a module whose stack pointer cannot be set.
 */
function giveStack(instance: WebAssembly.Instance, heap: Heap, bytes: number): number {
  if (bytes === 0) return 0;
  const x = instance.exports;
  const sp = x.__stack_pointer;
  if (!(sp instanceof WebAssembly.Global))
    throw new TypeError(
      "this module's C stack pointer (__stack_pointer) is not exported, so every instance on this shared memory runs on the same stack and threads running at once would write over each other's locals: " +
        "link it with -mmutable-globals -Wl,--export=__stack_pointer (each Worker's instance then gets a stack of stackBytes from the heap), or pass stackBytes: 0 if its code keeps no locals in memory",
    );
  const initTls = x.__wasm_init_tls;
  const tlsSize = typeof initTls === "function" && x.__tls_size instanceof WebAssembly.Global ? Number(x.__tls_size.value) >>> 0 : 0;
  const tlsAlign = tlsSize > 0 && x.__tls_align instanceof WebAssembly.Global ? Math.max(16, Number(x.__tls_align.value) >>> 0) : 16;
  // The TLS block first, aligned as the module asks (a raw block is 16-aligned), the stack above it.
  const lead = tlsSize > 0 ? Math.ceil(tlsSize / 16) * 16 + tlsAlign - 16 : 0;
  if ((tlsAlign & (tlsAlign - 1)) !== 0 || bytes + lead > 0x7fff0000) throw new RangeError(`this module's thread-locals (__tls_size ${tlsSize}, __tls_align ${tlsAlign}) cannot be placed`);
  const p = heap.raw.malloc(bytes + lead);
  if (p === 0) throw new RangeError(`no room in the heap for this instance's C stack of ${bytes} bytes (stackBytes)${lead > 0 ? ` and its ${tlsSize} bytes of thread-locals` : ""}`);
  try {
    sp.value = p + lead + bytes;
  } catch {
    heap.raw.free(p);
    throw new TypeError("this module exports __stack_pointer as an immutable global: link it with -mmutable-globals so that each Worker's instance can be given a stack of its own");
  }
  if (tlsSize > 0) (initTls as (at: number) => void)(Math.ceil(p / tlsAlign) * tlsAlign);
  return p;
}

function runInitializer(instance: WebAssembly.Instance): void {
  const name = instance.exports._initialize !== undefined ? "_initialize" : "__wasm_call_ctors";
  const init = instance.exports[name];
  if (typeof init !== "function") return;
  try {
    (init as () => void)();
  } catch (e) {
    // node:wasi's calls throw this until wasi.initialize() (or start()) has run, which needs the
    // memory: wasi-libc's constructors call WASI (the preopened directories, linked in by fopen).
    if ((e as { code?: unknown } | null)?.code === "ERR_WASI_NOT_STARTED")
      throw new PymallocError(
        `the module's initialiser (${name}) called WASI before node:wasi was initialised (${(e as Error).message}): make the heap first and initialise WASI on its memory before instantiating: ` +
          "const heap = heapForModule(bytes); wasi.initialize({ exports: { memory: heap.memory.source } }); await instantiateWithHeap(bytes, { heap, imports: { wasi_snapshot_preview1: wasi.wasiImport } })",
      );
    throw e;
  }
}

function checkGivenEnv(imports: WebAssembly.Imports): void {
  const givenEnv = (imports.env ?? {}) as Record<string, unknown>;
  for (const name of ["memory", ...ALLOCATOR_NAMES])
    if (name in givenEnv)
      throw new TypeError(
        name === "memory"
          ? "imports.env.memory: pass the memory as the memory option (it becomes the heap's)"
          : `imports.env.${name} would replace the heap's allocator: to wrap or count allocator calls, pass wrapAllocator: (heap) => ({ ${name}: (...a) => heap.${name}(...a) })`,
      );
}

/** Refuse a module that does not take its allocator from env (a plain wasi-libc build carries dlmalloc). */
function checkAllocatorImports(module: WebAssembly.Module): void {
  const imported = WebAssembly.Module.imports(module).filter((d) => d.module === "env" && d.kind === "function" && ((ALLOCATOR_NAMES as readonly string[]).includes(d.name) || /^Py(Mem|Object)_/.test(d.name)));
  if (imported.length > 0) return;
  const own = WebAssembly.Module.exports(module).some((d) => d.kind === "function" && d.name === "malloc");
  throw new PymallocError(
    own
      ? "this module carries its own malloc (it exports malloc and imports none of env.malloc/free/calloc/realloc): that malloc would take the memory above __heap_base, where the heap is. " +
          "Link it against pymalloc instead: compile with wasm/include/pymemcompat.h and link with wasm/include/pymemcompat.c (or -Wl,--allow-undefined), keeping libc's malloc out (see the README's \"C code: wasm/include/pymemcompat.h\")"
      : "this module imports none of env.malloc/free/calloc/realloc, so it takes nothing from a heap: either it never allocates, or it carries its own malloc inside " +
          "(a plain wasi-libc or Emscripten build links libc's dlmalloc or emmalloc into the module, and that malloc would take the memory above __heap_base, where the heap is). " +
          "To allocate from a pymalloc heap, build it with wasm/include/pymemcompat.h and wasm/include/pymemcompat.c, which make malloc & co imports (see the README's \"C code: wasm/include/pymemcompat.h\")",
  );
}

/**
 * A heap that starts below the module's `__heap_base` (`moduleBase`): the module's data segments
 * and C stack lie below that address, so instantiating it writes its data over the heap's header
 * and blocks, and every C call writes its locals there.
 */
function overlapError(heapBase: number, moduleBase: number, where: string): RangeError {
  return new RangeError(
    `${where}: the heap starts at ${hex(heapBase)}, below the module's __heap_base (${hex(moduleBase)}): the module's static data and C stack lie below that address, ` +
      `so they would be written over the heap's header and blocks. Make the heap at the module's __heap_base or above (heapForModule(bytes), or heapBase: wasmModuleInfo(bytes).heapBase)`,
  );
}

/** Refuse a heap (or heapBase) below the __heap_base the module's bytes declare (moduleBase, undefined: none known); nothing is instantiated yet. */
function checkBase(heapBase: number, moduleBase: number | undefined, where: string): void {
  if (moduleBase !== undefined && heapBase < moduleBase) throw overlapError(heapBase, moduleBase, where);
}

/** The __heap_base an instance exports, or undefined; a TypeError for a global that is no i32 (a compiled module's: its bytes are checked before). */
function exportedHeapBase(instance: WebAssembly.Instance): number | undefined {
  const g = instance.exports.__heap_base;
  if (!(g instanceof WebAssembly.Global)) return undefined;
  const v: unknown = g.value;
  // An i64 global's value is a BigInt ("Cannot mix BigInt and other types" from >>> 0 before).
  if (typeof v !== "number" || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 32)
    throw new TypeError(`the module exports __heap_base as a global of another type than i32 (its value is ${typeof v === "bigint" ? `${v}n, an i64` : String(v)}): build it for wasm32`);
  return v >>> 0;
}

/** A compiled module's __heap_base, known once instantiated: its data is over the heap already, which the error says. */
function checkBaseOfInstance(instance: WebAssembly.Instance, heap: Heap, where = "instantiateWithHeap(module, { heap })"): void {
  const moduleBase = exportedHeapBase(instance);
  if (moduleBase !== undefined && heap.heapBase < moduleBase) {
    const e = overlapError(heap.heapBase, moduleBase, where);
    e.message += " (this module was given compiled: instantiating it has written its data over the heap already; pass its bytes to have this refused first)";
    throw e;
  }
}

const NO_HEAP_BASE = "the module exports no __heap_base (link with -Wl,--export=__heap_base), and no heapBase option was given";

/**
 * Refuse a module that does not take its memory from env.memory (built without
 * -Wl,--import-memory: it defines a memory of its own): the heap would be in a memory its C code
 * never reads, so every block it got would be bytes of its own data, stack or nothing at all.
 */
const NO_MEMORY_IMPORT = "the module imports no env.memory: it defines a memory of its own, and the heap (in the memory given to it) would be in another memory than the one its C code reads and writes. Build it with -Wl,--import-memory (see the README's \"pymalloc inside WebAssembly\")";
function checkMemoryImport(module: WebAssembly.Module): void {
  const mems = WebAssembly.Module.imports(module).filter((d) => d.kind === "memory");
  if (mems.some((d) => d.module === "env" && d.name === "memory")) return;
  if (mems.length > 0) throw new TypeError(`the module imports its memory as ${mems[0]!.module}.${mems[0]!.name}, not env.memory: the heap's memory is given to it as env.memory (build it with clang's -Wl,--import-memory, which names it so)`);
  throw new TypeError(NO_MEMORY_IMPORT);
}

/**
 * A memory given for a module (the memory option, or a heap's) must be shared exactly when the
 * module's memory import is: said before a heap is made in it (instantiating said only
 * "LinkError: mismatch in shared state of memory", or nothing until then for heapForModule).
 */
function checkSharing(info: WasmModuleInfo | undefined, memory: WebAssembly.Memory, what: string): void {
  const m = info?.memory;
  if (m === undefined || !(memory instanceof WebAssembly.Memory)) return;
  // Smaller than the module declares: the engine's LinkError "memory import 0 is smaller than
  // initial 64, got 33", after a heap had been made in it.
  if (memory.buffer.byteLength < m.minBytes)
    throw new RangeError(
      `${what} is ${memory.buffer.byteLength} bytes, and the module declares a memory of ${m.minBytes} bytes at least (${m.minBytes / WASM_PAGE} pages: its static data, C stack or --initial-memory): ` +
        `give it one of ${m.minBytes / WASM_PAGE} pages at least, or leave the memory to be made from the module's limits`,
    );
  const shared = isSharedBuffer(memory.buffer);
  if (shared === m.shared) return;
  throw new TypeError(
    m.shared
      ? `${what} is an unshared WebAssembly.Memory, and the module imports a shared one (it was built with -Wl,--shared-memory): give it a shared memory (new WebAssembly.Memory({ initial, maximum, shared: true }), or threads: true)`
      : `${what} is a shared WebAssembly.Memory, and the module imports an unshared one: give it an unshared memory, or build the module for a shared one (clang -matomics -mbulk-memory -Wl,--shared-memory -Wl,--max-memory=...)`,
  );
}

/**
 * What a compiled module's memory import refused (the engine's LinkError, a memory made without
 * the limits JS cannot read from a compiled module), said with the option that fixes it: its
 * maximum (maxBytes) or sharing (threads) as well as its size (initialBytes).
 */
function memoryLinkError(e: unknown, given: boolean): unknown {
  if (!(e instanceof WebAssembly.LinkError) || !/memory/i.test(e.message)) return e;
  const bytes = "or pass the module's bytes (the memory is then made from its declared limits)";
  if (/shared/i.test(e.message))
    return new TypeError(`${e.message}: the memory's sharing is not the module's: threads: true for a module built with -Wl,--shared-memory, no threads for one built without it (${given ? "or give the memory option as the module declares it" : bytes})`);
  if (/maximum/i.test(e.message)) return new RangeError(`${e.message}: the memory's maximum is above the module's declared maximum (its -Wl,--max-memory): pass maxBytes at most that, ${bytes}`);
  return new RangeError(`${e.message}: the memory of initialBytes is smaller than the module declares; pass the module's bytes (the memory is then sized from them) or a larger initialBytes`);
}

/**
 * A WebAssembly.Memory for the module: its declared minimum at least, within its declared maximum.
 * Without initialBytes, a module whose bytes say its limits, with the heap's base known, starts as small as
 * they allow (its minimum, or the page holding __heap_base), as its own malloc's memory would: the
 * heap grows it as blocks need (a WebAssembly.Memory never shrinks, so 1 MiB up front was 1 MiB
 * for good: libyaml's and zlib's memories were 1 MiB against dlmalloc's 0.375 and 0.813 MiB).
 */
function memoryFor(info: WasmModuleInfo | undefined, heapBase: number | undefined, options: InstantiateOptions): WebAssembly.Memory {
  const pages = (n: number): number => Math.ceil(n / WASM_PAGE);
  const m = info?.memory;
  const start = options.initialBytes === undefined && m !== undefined && heapBase !== undefined ? heapBase + 1 : (options.initialBytes ?? DEFAULT_INITIAL_BYTES);
  let initial = Math.max(pages(start), pages(m?.minBytes ?? 0));
  let maximum = pages(options.maxBytes ?? DEFAULT_MAX_BYTES);
  if (m?.maxBytes !== undefined) maximum = Math.min(maximum, pages(m.maxBytes));
  if (initial > maximum) {
    if (m !== undefined && pages(m.minBytes) > maximum) throw new RangeError(`the module needs a memory of ${m.minBytes} bytes at least, above maxBytes (${options.maxBytes})`);
    initial = maximum;
  }
  if (options.threads === true && m !== undefined && !m.shared && options.memory === undefined)
    throw new TypeError(
      "threads: true needs a shared memory, and this module imports an unshared one: build it for a shared memory (clang -matomics -mbulk-memory -Wl,--shared-memory -Wl,--max-memory=...)",
    );
  const shared = m?.shared === true || options.threads === true;
  return new WebAssembly.Memory({ initial, maximum, shared } as WebAssembly.MemoryDescriptor);
}

/**
 * WebAssembly.instantiate, after a TypeError naming any import module the imports lack: V8 said
 * "Import #0 \"wasi_snapshot_preview1\": module is not an object or function" (a C module built
 * with wasi-libc calls WASI: pass node:wasi's `new WASI({ version: "preview1" }).wasiImport`,
 * or a browser shim).
 */
async function instantiateChecked(module: WebAssembly.Module, imports: WebAssembly.Imports, given?: GivenMemory): Promise<WebAssembly.Instance> {
  // Functions the imports lack, all named at once after the loop (the engine names the first, by
  // number: "Import #7 \"env\" \"rename\": function import requires a callable"): C the build
  // left undefined (the README's emcc line hides undefined symbols until here).
  const missing: string[] = [];
  for (const d of WebAssembly.Module.imports(module)) {
    const m = (imports as Record<string, unknown>)[d.module];
    // C's other allocator functions, which libc defines over malloc & co when its own malloc is
    // left out: pymemcompat.c defines them (an Emscripten build without it failed with the
    // engine's bare "LinkError: ... function="posix_memalign" error: function import requires a callable").
    if (d.module === "env" && d.kind === "function" && LIBC_ALLOCATORS.has(d.name) && typeof (m as Record<string, unknown> | undefined)?.[d.name] !== "function")
      throw new PymallocError(
        `the module imports env.${d.name}, one of C's allocator functions that pymalloc does not link (it links malloc, free, calloc, realloc, aligned_alloc and malloc_usable_size): ` +
          (PYMEMCOMPAT_DEFINES.has(d.name)
            ? `compile wasm/include/pymemcompat.c into the module (the README's build lines), which defines ${d.name} over those`
            : `wasm/include/pymemcompat.c does not define ${d.name} either: call aligned_alloc (or malloc) instead, or define ${d.name} in the module's C over those`),
      );
    if (m === null || (typeof m !== "object" && typeof m !== "function"))
      throw new TypeError(
        `the module imports ${d.module}.${d.name} (a ${d.kind}), and imports.${d.module} is ${m === undefined ? "not given" : typeName(m)}: pass imports: { ${d.module}: { ... } }` +
          (d.module.startsWith("wasi") ? ` (WASI: node:wasi's new WASI({ version: "preview1" }).wasiImport, or a browser's WASI shim)` : ""),
      );
    if (d.kind === "function" && typeof (m as Record<string, unknown>)[d.name] !== "function") missing.push(`${d.module}.${d.name}`);
  }
  if (missing.length > 0) {
    // WASI's calls (a partial shim: a module that opens a file imports path_open, fd_read...) are
    // not C left undefined: said apart, so the user is not sent to the build for them.
    const wasi = missing.filter((n) => n.startsWith("wasi"));
    const c = missing.length - wasi.length;
    throw new PymallocError(
      `the module imports ${missing.length === 1 ? "a function" : `${missing.length} functions`} the imports do not give: ${missing.join(", ")}. ` +
        (c > 0 ? `C functions the build left undefined (emcc's -sERROR_ON_UNDEFINED_SYMBOLS=0 hides them until here): define them in the module, or pass them in imports` : "") +
        (wasi.length > 0
          ? `${c > 0 ? "; the " : "The "}WASI call${wasi.length === 1 ? "" : "s"} (${wasi.join(", ")}): pass node:wasi's new WASI({ version: "preview1" }).wasiImport whole, or a shim that defines every function the module imports from ${wasi[0].slice(0, wasi[0].indexOf("."))}`
          : ""),
    );
  }
  return WebAssembly.instantiate(module, imports).catch((e: unknown) => {
    throw givenMemoryError(allocatorLinkError(e), given);
  });
}

/** A memory the caller gave (the memory option, or a given heap's), with what the module's bytes declare. */
interface GivenMemory {
  info: WasmModuleInfo | undefined;
  what: string;
}

/**
 * The engine's LinkError for a given memory whose maximum is above the module's declared one
 * ("memory import 0 has a larger maximum size 1000 than the module's declared maximum 128"; JS
 * cannot read a memory's maximum to say it before): a RangeError naming the option and the limit.
 */
function givenMemoryError(e: unknown, given: GivenMemory | undefined): unknown {
  const max = given?.info?.memory?.maxBytes;
  if (!(e instanceof WebAssembly.LinkError) || max === undefined || !/memory/i.test(e.message) || !/maximum/i.test(e.message)) return e;
  return new RangeError(
    `${e.message}: ${given!.what} has a maximum above the module's declared maximum of ${max} bytes (${max / WASM_PAGE} pages, its -Wl,--max-memory): make it with maximum: ${max / WASM_PAGE} at most, or leave the memory to be made from the module's limits`,
  );
}

/**
 * The engine's LinkError for an allocator import of another type than the heap's function (a
 * compiled module, whose import types JS cannot read before: its bytes are checked first, in
 * every mode): a TypeError naming the import and C's type.
 */
function allocatorLinkError(e: unknown): unknown {
  if (!(e instanceof WebAssembly.LinkError)) return e;
  const name = /module="env" function="([^"]+)"/.exec(e.message)?.[1];
  if (name === undefined || !Object.prototype.hasOwnProperty.call(C_ALLOCATOR_TYPES, name) || !/type/i.test(e.message)) return e;
  const t = allocatorTypeError(name, undefined);
  t.message += ` (${e.message})`;
  return t;
}

/** C library allocator functions a module may import when built without pymemcompat.c (instantiateChecked). */
const LIBC_ALLOCATORS = new Set(["posix_memalign", "memalign", "valloc", "pvalloc", "reallocarray", "__libc_malloc", "__libc_free", "__libc_calloc", "__libc_realloc", "__libc_memalign"]);
/** Those of LIBC_ALLOCATORS that wasm/include/pymemcompat.c defines (the others an error must not send the user there for). */
const PYMEMCOMPAT_DEFINES = new Set(["posix_memalign", "memalign", "reallocarray", "__libc_malloc", "__libc_free", "__libc_calloc"]);

/**
 * What a module's bytes say (checkedModuleInfo: a TypeError for types no heap serves), or
 * undefined for a compiled module (read from its instance) and for bytes that are no module
 * (WebAssembly.compile names what is wrong with them).
 */
function moduleInfoOf(source: WebAssembly.Module | BufferSource | undefined): WasmModuleInfo | undefined {
  return source === undefined || source instanceof WebAssembly.Module || !hasWasmMagic(asBytes(source)) ? undefined : checkedModuleInfo(source);
}

function bytesOf(source: WebAssembly.Module | BufferSource): BufferSource | undefined {
  if (source instanceof WebAssembly.Module) return undefined;
  // Not WebAssembly.compile's "Argument 0 must be a buffer source" from deep inside.
  if (!(ArrayBuffer.isView(source) || source instanceof ArrayBuffer || isSharedBuffer(source)))
    throw new TypeError(
      `instantiateWithHeap: the module must be its bytes (an ArrayBuffer or a typed array, e.g. readFileSync's Buffer) or a WebAssembly.Module, got ${typeName(source)}` +
        (typeof (source as { then?: unknown } | null)?.then === "function" || typeof (source as { arrayBuffer?: unknown } | null)?.arrayBuffer === "function"
          ? " (a fetch's Promise or Response: pass await (await fetch(url)).arrayBuffer())"
          : ""),
    );
  return source;
}

/**
 * A heap for a module, made before it is instantiated: a memory of the module's declared size
 * at least (or options.memory), formatted from the initial value of its `__heap_base` (or
 * options.heapBase). Then `heap.wasmImports()` are its imports, which you may wrap, and
 * `new WebAssembly.Instance(module, { env: { ...heap.wasmImports(), ...yours } })`.
 */
export function heapForModule(bytes: BufferSource, options: Omit<InstantiateOptions, "imports" | "wrapAllocator" | "initialize" | "stackBytes"> = {}): Heap {
  checkOptions(options, HEAP_FOR_MODULE_OPTIONS, "heapForModule");
  checkInstantiateOptions(options);
  const info = checkedModuleInfo(bytes);
  const heapBase = options.heapBase ?? info.heapBase;
  if (heapBase === undefined) throw new TypeError(NO_HEAP_BASE);
  if (info.memory === undefined) throw new TypeError(NO_MEMORY_IMPORT);
  checkBase(heapBase, info.heapBase, "heapForModule: heapBase");
  // Options of instantiateWithHeap's that make no heap: not the heap's.
  const { family: _family, heap: _heap, specialize: _specialize, ...heapOptions } = options as InstantiateOptions;
  const memory = options.memory ?? memoryFor(info, heapBase, options);
  if (options.memory !== undefined) checkSharing(info, options.memory, "the memory option");
  return createHeap({ ...heapOptions, memory, heapBase });
}

/**
 * Instantiate a module that imports `env.memory` and (some of) `env.malloc/free/calloc/realloc`
 * on a heap starting at the module's `__heap_base` (or options.heapBase), then call its
 * initialiser (`_initialize` or `__wasm_call_ctors`, unless initialize: false).
 *
 * Given the module's bytes, the memory and heap are made first, sized and placed from what the
 * binary declares (the module may then allocate from a start function). Given a compiled
 * WebAssembly.Module (whose limits JS cannot read), the memory is `initialBytes` long and the
 * heap is formatted after instantiation from the instance's `__heap_base`.
 */
export async function instantiateWithHeap(
  source: WebAssembly.Module | BufferSource,
  options: InstantiateOptions = {},
): Promise<{ instance: WebAssembly.Instance; heap: Heap; module: WebAssembly.Module; stack: number }> {
  checkOptions(options, INSTANTIATE_OPTIONS, "instantiateWithHeap");
  checkInstantiateOptions(options);
  bytesOf(source); // a TypeError for what is neither bytes nor a module
  if (options.heap !== undefined) return instantiateOnHeap(options.heap, source, options);
  const { imports = {}, family, wrapAllocator, initialize = true, specialize, stackBytes: _stackBytes, ...heapOptions } = options;
  stackOption(_stackBytes); // checked; a heap made here is no Worker's: the module's own stack
  const givenEnv = (imports.env ?? {}) as Record<string, unknown>;
  checkGivenEnv(imports);
  const bytes = bytesOf(source);
  // What the bytes say, checked before they are compiled (a wasm64 module's, the engine's
  // CompileError) or instantiated: import and __heap_base types no heap serves, in every mode.
  const read = readModuleOf(source);
  const { info, linked } = read;
  // A linked module's bytes are not compiled here: instantiateLinked compiles the copy it runs
  // (specialised to the heap by default), once.
  let module = source instanceof WebAssembly.Module ? source : undefined;
  if (linked !== undefined) {
    checkLinked(linked);
    if (wrapAllocator !== undefined) throw new TypeError("wrapAllocator: a linked module's C calls to malloc & co are calls inside the module, not imports: wrap the unlinked module's instead");
  } else {
    module ??= await WebAssembly.compile(source as BufferSource);
    checkAllocatorImports(module);
    checkMemoryImport(module);
    if (specialize === true) throw new TypeError("specialize: true is for a module linked by pymalloc link (this one imports its malloc)");
  }
  const heapBase = heapOptions.heapBase ?? info?.heapBase;
  if (heapBase !== undefined) checkBase(heapBase, info?.heapBase, "instantiateWithHeap: heapBase");
  const memory = options.memory ?? memoryFor(info, heapBase, options);
  if (options.memory !== undefined) checkSharing(info, options.memory, "the memory option");
  let heap: Heap | undefined;
  if (heapBase !== undefined) heap = createHeap({ ...heapOptions, memory, heapBase });
  else if (!WebAssembly.Module.exports((module ??= await WebAssembly.compile(source as BufferSource))).some((d) => d.name === "__heap_base" && d.kind === "global"))
    // Said before anything is instantiated (not after, nor as the PyMem_* refusal below, which asks for the bytes it was given).
    throw new TypeError(NO_HEAP_BASE);
  if (linked !== undefined && heap !== undefined) {
    // The heap exists: the linked module on it (its bytes specialised to it unless specialize: false).
    const { instance, module: used } = await instantiateLinked(heap, source, { imports, family, initialize, specialize }, read);
    return { instance, heap, module: used, stack: 0 };
  }
  if (linked !== undefined) {
    if (specialize === true) throw new TypeError("specialize: true needs the linked module's bytes (its heap is made before it is compiled again), not a compiled WebAssembly.Module");
    module ??= await WebAssembly.compile(source as BufferSource);
    // The fast path is inside the module: its slow paths are the heap's family (found later when
    // the heap is made after instantiation), its start once the heap exists.
    const found = (): Heap => {
      if (heap === undefined) throw new PymallocError("the module allocated while being instantiated, before its heap exists (pass the module's bytes, not a WebAssembly.Module, so that the heap is made first)");
      return heap;
    };
    const pymem = isPymem(module);
    if (pymem && heap === undefined) throw new PymallocError("the module imports PyMem_*/PyObject_* functions: pass its bytes (not a compiled WebAssembly.Module) so that its heap is made before it is instantiated");
    const instance = await instantiateChecked(module, linkedImports(found, family, imports, memory, () => (pymem ? { ...pymemImports(heap!) } : {})), { info, what: "the memory option" }).catch((e: unknown) => {
      throw info === undefined ? memoryLinkError(e, options.memory !== undefined) : e;
    });
    heap ??= heapFromInstance(instance, heapOptions, memory);
    startLinked(instance, heap, family);
    if (initialize) runInitializer(instance);
    return { instance, heap, module, stack: 0 };
  }
  const plain = module!; // not linked: compiled above
  // With the heap made first, C's calls link to the heap's allocator (in pymalloc mode, the
  // WebAssembly fast path: no crossing into JS); else to trampolines that find the heap later.
  let fns =
    heap !== undefined
      ? heapAllocator(heap, family)
      : allocatorImports(() => {
          if (heap === undefined) throw new PymallocError("the module allocated while being instantiated, before its heap exists (pass the module's bytes, not a WebAssembly.Module, so that the heap is made first)");
          return heap;
        }, family);
  if (wrapAllocator !== undefined) fns = wrapped(fns, wrapAllocator);
  // CPython's names (wasm/include/pymemcompat.h), when the module imports any of them.
  const pymem = WebAssembly.Module.imports(plain).some((d) => d.module === "env" && /^Py(Mem|Object)_/.test(d.name));
  if (pymem && heap === undefined) throw new PymallocError("the module imports PyMem_*/PyObject_* functions: pass its bytes (not a compiled WebAssembly.Module) so that its heap is made before it is instantiated");
  const env = { ...givenEnv, memory, ...(pymem ? pymemImports(heap!) : {}), ...fns };
  let instance: WebAssembly.Instance;
  try {
    instance = await instantiateChecked(plain, { ...imports, env }, { info, what: "the memory option" });
  } catch (e) {
    if (info === undefined) throw memoryLinkError(e, options.memory !== undefined);
    throw e;
  }
  if (heap !== undefined) checkBaseOfInstance(instance, heap, "instantiateWithHeap(module, { heapBase })");
  heap ??= heapFromInstance(instance, heapOptions, memory);
  if (initialize) runInitializer(instance);
  return { instance, heap, module: plain, stack: 0 };
}

/** instantiateWithHeap(source, { heap }): the module on a heap that exists. */
async function instantiateOnHeap(heap: Heap, source: WebAssembly.Module | BufferSource, options: InstantiateOptions): Promise<{ instance: WebAssembly.Instance; heap: Heap; module: WebAssembly.Module; stack: number }> {
  const { imports = {}, family, wrapAllocator, initialize = !threadHandle(heap), heap: _heap, specialize, stackBytes, ...heapOptions } = options;
  const stackSize = stackOption(stackBytes);
  const extra = Object.keys(heapOptions).filter((k) => (heapOptions as Record<string, unknown>)[k] !== undefined);
  if (extra.length > 0) throw new TypeError(`instantiateWithHeap(source, { heap }): ${extra.join(", ")} would be options of a new heap; the given heap has its own`);
  checkGivenEnv(imports);
  if (heap.memory.kind !== "wasm") throw new TypeError(`the module needs a heap in a WebAssembly.Memory; this one is in a ${heap.memory.kind} buffer`);
  // From the bytes, before anything is instantiated (a compiled module's __heap_base is read from
  // its instance: checkBaseOfInstance; bytes that are no module are for compiling to name).
  const read = readModuleOf(source);
  const info = read.info;
  checkBase(heap.heapBase, info?.heapBase, "instantiateWithHeap(bytes, { heap })");
  checkSharing(info, heap.memory.source as WebAssembly.Memory, "the heap's memory");
  if (read.linked !== undefined) {
    if (wrapAllocator !== undefined) throw new TypeError("wrapAllocator: a linked module's C calls to malloc & co are calls inside the module, not imports: wrap the unlinked module's instead");
    const { instance, module: used, stack } = await instantiateLinked(heap, source, { imports, family, initialize, specialize, stackBytes: stackSize }, read);
    return { instance, heap, module: used, stack };
  }
  const module = source instanceof WebAssembly.Module ? source : await WebAssembly.compile(source);
  checkAllocatorImports(module);
  checkMemoryImport(module);
  if (specialize === true) throw new TypeError("specialize: true is for a module linked by pymalloc link (this one imports its malloc)");
  let fns = heapAllocator(heap, family);
  if (wrapAllocator !== undefined) fns = wrapped(fns, wrapAllocator);
  const givenEnv = (imports.env ?? {}) as Record<string, unknown>;
  const env = { ...givenEnv, memory: heap.memory.source as WebAssembly.Memory, ...(isPymem(module) ? pymemImports(heap) : {}), ...fns };
  const instance = await instantiateChecked(module, { ...imports, env }, { info, what: "the heap's memory" });
  checkBaseOfInstance(instance, heap);
  const stack = threadHandle(heap) ? giveStack(instance, heap, stackSize) : 0;
  if (initialize) runInitializer(instance);
  return { instance, heap, module, stack };
}

function wrapped(fns: AllocatorFunctions, wrapAllocator: (heapFunctions: AllocatorFunctions) => Partial<AllocatorFunctions>): AllocatorFunctions {
  const w = wrapAllocator(fns) as unknown;
  if (w === null || typeof w !== "object") throw new TypeError(`wrapAllocator must return an object of the functions to import instead ({ malloc, ... }), got ${typeName(w)}`);
  const out = { ...fns };
  // A key that names no allocator function (a typo: "mallok") left the real one unwrapped, silently.
  for (const k of Object.keys(w)) if (!(ALLOCATOR_NAMES as readonly string[]).includes(k)) throw new TypeError(`wrapAllocator returned ${JSON.stringify(k)}, which is none of the allocator's functions (${ALLOCATOR_NAMES.join(", ")})`);
  for (const name of ALLOCATOR_NAMES) {
    const f = (w as Partial<AllocatorFunctions>)[name];
    if (f === undefined) continue;
    if (typeof f !== "function") throw new TypeError(`wrapAllocator returned a ${typeof f} for ${name}; expected a function`);
    (out as unknown as Record<string, unknown>)[name] = f;
  }
  return out;
}

/** The heap of a module instantiated before it (a compiled module): formatted at the instance's __heap_base. */
function heapFromInstance(instance: WebAssembly.Instance, heapOptions: HeapOptions, memory: WebAssembly.Memory): Heap {
  const base = exportedHeapBase(instance);
  if (base === undefined) throw new TypeError(NO_HEAP_BASE);
  return createHeap({ ...heapOptions, memory, heapBase: base });
}

spanEnd(new Error());
