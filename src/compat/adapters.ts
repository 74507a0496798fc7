/**
 * compat/adapters.ts — fromExports, fromMemPool, fromFunctions: other allocators behind our families.
 *
 * Owns: turning what a user has (a WebAssembly module's exports, an @thi.ng/malloc MemPool, a
 * pair of functions) into a ForeignSpec, with clear TypeErrors for what is missing.
 * Must not: import @thi.ng/malloc (an optional peer: the pool object is passed in) or keep state.
 */

import { InvalidPointerError, PymallocError, hex } from "../errors.js";
import type { MemorySource } from "../memory/memory.js";
import { ADAPTER_OPTIONS, ForeignHeap, type AdapterOptions, type ForeignSpec } from "./foreign.js";
import { checkOptions } from "../heap/options.js";

type Fn = (...args: number[]) => number | void;

function need(obj: Record<string, unknown>, names: string[], what: string): Fn {
  for (const n of names) if (typeof obj[n] === "function") return obj[n] as Fn;
  throw new TypeError(`${what}: no ${names.join(" or ")} function`);
}
function maybe(obj: Record<string, unknown>, names: string[]): Fn | undefined {
  for (const n of names) if (typeof obj[n] === "function") return obj[n] as Fn;
  return undefined;
}

/** What fromExports reads: a module's exports (wasi-libc or Emscripten names), plus its memory. */
export interface WasmAllocatorExports {
  memory?: WebAssembly.Memory;
  malloc?: unknown;
  free?: unknown;
  realloc?: unknown;
  calloc?: unknown;
  malloc_usable_size?: unknown;
  aligned_alloc?: unknown;
  memalign?: unknown;
  _malloc?: unknown;
  _free?: unknown;
  _realloc?: unknown;
  _malloc_usable_size?: unknown;
  [name: string]: unknown;
}

/**
 * A heap over a WebAssembly module's exported allocator: `malloc`/`free` (or Emscripten's
 * `_malloc`/`_free`), optional `realloc`, `malloc_usable_size` and `aligned_alloc` (or `memalign`:
 * alignedAlloc() above the module's malloc alignment), and its memory (exported, or
 * given as `memory` when the module imports it). Views follow the module's memory when it grows.
 * wasm32 pointers arrive as signed i32 and are read as unsigned.
 */
export function fromExports(exports: WasmAllocatorExports, options: AdapterOptions & { memory?: WebAssembly.Memory; alignment?: number } = {}): ForeignHeap {
  if (exports === null || typeof exports !== "object") throw new TypeError("fromExports: exports must be an object");
  checkOptions(options, { ...ADAPTER_OPTIONS, memory: 1, alignment: 1 }, "fromExports");
  const x = exports as Record<string, unknown>;
  const memory = options.memory ?? exports.memory;
  if (!(memory instanceof WebAssembly.Memory)) throw new TypeError("fromExports: no WebAssembly.Memory (exports.memory, or options.memory for a module that imports it)");
  const malloc = need(x, ["malloc", "_malloc"], "fromExports");
  const free = need(x, ["free", "_free"], "fromExports");
  const realloc = maybe(x, ["realloc", "_realloc"]);
  const usable = maybe(x, ["malloc_usable_size", "_malloc_usable_size"]);
  const memalign = maybe(x, ["aligned_alloc", "memalign", "_aligned_alloc", "_memalign"]);
  const spec: ForeignSpec = {
    name: "the WebAssembly module's malloc",
    memory,
    malloc: (n) => (malloc(n) as number) >>> 0,
    free: (p) => void free(p),
    realloc: realloc && ((p, n) => (realloc(p, n) as number) >>> 0),
    usableSize: usable && ((p) => (usable(p) as number) >>> 0),
    memalign: memalign && ((a, n) => (memalign(a, n) as number) >>> 0),
    alignment: options.alignment ?? 8,
  };
  return new ForeignHeap(spec, options);
}

/** The parts of an @thi.ng/malloc MemPool the adapter uses. */
export interface MemPoolLike {
  buf: ArrayBufferLike;
  malloc(bytes: number): number;
  realloc(ptr: number, bytes: number): number;
  free(ptr: number): boolean;
}

/** A heap over an @thi.ng/malloc MemPool (pass the pool; the package is an optional peer). */
export function fromMemPool(pool: MemPoolLike, options: AdapterOptions = {}): ForeignHeap {
  if (pool === null || typeof pool !== "object" || typeof pool.malloc !== "function" || typeof pool.free !== "function" || typeof pool.realloc !== "function" || !pool.buf)
    throw new TypeError("fromMemPool: expected an @thi.ng/malloc MemPool");
  checkOptions(options, ADAPTER_OPTIONS, "fromMemPool");
  // MemPool keeps each block's size (header included) in the word 8 bytes before it.
  const internals = pool as unknown as { align?: number; blockSize?: (block: number) => number };
  const blockSize = internals.blockSize?.bind(pool);
  const spec: ForeignSpec = {
    name: "@thi.ng/malloc MemPool",
    memory: pool.buf as MemorySource,
    malloc: (n) => pool.malloc(n),
    free: (p) => {
      if (!pool.free(p)) throw new InvalidPointerError("free", p, "not-a-block", "the MemPool has no such allocated block");
    },
    // Not MemPool's realloc (6.1.150): a block it moves stays in its used list (the old address
    // is never freed: a leak at every moving realloc), and a shrink of its last block lowers its
    // top without the block's size, so the next malloc overlaps what usableSize reports. Here a
    // block keeps its place while the new size fits (as pymalloc's small blocks do), else moves.
    // Without blockSize, the adapter tracks blocks and provides realloc over malloc and free.
    realloc:
      blockSize &&
      ((p, n) => {
        const have = blockSize(p - 8) - 8;
        if (n <= have) return p;
        const q = pool.malloc(n);
        if (q !== 0) {
          new Uint8Array(pool.buf).copyWithin(q, p, p + have);
          pool.free(p);
        }
        return q;
      }),
    usableSize: blockSize && ((p) => blockSize(p - 8) - 8),
    alignment: Math.max(4, internals.align ?? 8),
  };
  return new ForeignHeap(spec, options);
}

/** Any allocator given as functions over a memory. */
export interface FunctionsAllocator {
  malloc(n: number): number;
  free(p: number): void;
  realloc?: (p: number, n: number) => number;
  usableSize?: (p: number) => number;
  /** C's aligned_alloc(alignment, n), for alignedAlloc() above `alignment` (else such requests get 0). */
  memalign?: (alignment: number, n: number) => number;
  /** The memory the pointers index: a buffer or WebAssembly.Memory, or a view over all of it. */
  memory?: MemorySource;
  u8?: Uint8Array;
  alignment?: number;
  name?: string;
}

/**
 * fromFunctions' u8: a Uint8Array over all of its buffer, the memory (when given too) its buffer.
 * The adapter's views start at byte 0 of the buffer: a view at an offset (a subarray for the
 * allocator's region) had every block used u8.byteOffset bytes lower, over bytes the allocator
 * does not own, and a u8 of another buffer than memory's was ignored (2026-12-06).
 */
function checkU8(u8: unknown, memory: MemorySource | undefined): void {
  if (!(u8 instanceof Uint8Array)) throw new TypeError("fromFunctions: u8 must be a Uint8Array");
  const buf = u8.buffer;
  if (u8.byteOffset !== 0 || u8.byteLength !== buf.byteLength)
    throw new TypeError(`fromFunctions: u8 covers bytes ${u8.byteOffset} to ${u8.byteOffset + u8.byteLength} of its buffer, and pointers index it from byte 0: pass a view over all of it, or the buffer as memory`);
  if (memory !== undefined && (memory instanceof WebAssembly.Memory ? memory.buffer : memory) !== buf) throw new TypeError("fromFunctions: memory and u8 name different buffers: pass one of them");
}

/** What a given usableSize returned, as a number (a BigInt gave the engine's "Cannot mix BigInt and other types"). */
function usableNumber(u: unknown, p: number): number {
  if (typeof u !== "number") throw new PymallocError(`usableSize(${hex(p)}) returned ${typeof u}, not a number`, p);
  return u >>> 0;
}

/** A heap over any malloc/free pair (realloc and usable sizes are provided when missing). */
export function fromFunctions(f: FunctionsAllocator, options: AdapterOptions = {}): ForeignHeap {
  if (f === null || typeof f !== "object") throw new TypeError("fromFunctions: expected { malloc, free, memory | u8 }");
  checkOptions(options, ADAPTER_OPTIONS, "fromFunctions");
  const x = f as unknown as Record<string, unknown>;
  need(x, ["malloc"], "fromFunctions");
  need(x, ["free"], "fromFunctions");
  const memory = f.memory ?? (f.u8 instanceof Uint8Array ? (f.u8.buffer as MemorySource) : undefined);
  if (memory === undefined) throw new TypeError("fromFunctions: give the memory the pointers index (memory, or u8)");
  if (f.u8 !== undefined) checkU8(f.u8, f.memory);
  const spec: ForeignSpec = {
    name: f.name ?? "the given allocator",
    memory,
    // Results as they are: ForeignHeap checks that each is an address (2 ** 32 + 4096 wrapped to 4096 was handed on).
    malloc: (n) => f.malloc(n),
    free: (p) => f.free(p),
    realloc: f.realloc && ((p, n) => f.realloc!(p, n)),
    usableSize: f.usableSize && ((p) => usableNumber(f.usableSize!(p), p)),
    memalign: f.memalign && ((a, n) => f.memalign!(a, n)),
    alignment: f.alignment ?? 8,
  };
  return new ForeignHeap(spec, options);
}
