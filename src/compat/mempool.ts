/**
 * compat/mempool.ts — a pymalloc heap as @thi.ng/malloc's IMemPool: a drop-in for its MemPool.
 *
 * Owns: HeapMemPool (malloc, calloc, realloc, free returning a boolean, mallocAs, callocAs,
 * reallocArray, freeAll, stats, release, and MemPool's buf/u8/u32/align/start/end/top), with
 * MemPool's documented and observed behaviour (0 or undefined when nothing can be allocated,
 * false for a free of an address that is not one of the pool's blocks, freeAll freeing every
 * block it handed out), and asMemPool(), which can make the object pass `instanceof MemPool` for
 * packages that test it (given the class: this file imports nothing from @thi.ng/malloc).
 * Must not: import @thi.ng/malloc (an optional peer), or keep block state in JS: the pool's
 * blocks are listed in a LiveTable (compat/live-table.ts) inside the heap's memory.
 *
 * The pool allocates through one family of the heap (default `mem`), so in the debug modes every
 * block has the debug hooks' pads, fills and checks, and reports name the pool's caller.
 */

import { Chunk, H } from "../constants.js";
import { PymallocError } from "../errors.js";
import type { Heap } from "../heap/heap.js";
import { checkOptions } from "../heap/options.js";
import { makeView, viewOffset, type TypedArray, type TypedArrayType } from "../heap/typed.js";
import { LiveTable } from "./live-table.js";
import type { FamilyName } from "./wasm-imports.js";
import { spanEnd, spanStart } from "../debug/spans.js";

spanStart(new Error()); // debug/spans.ts

/** @thi.ng/api's element types ("u8" ... "f64", and "i64"/"u64"), its GLType numbers, or a typed-array constructor. */
export type MemPoolType = "u8" | "u8c" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64" | "i64" | "u64" | 5120 | 5121 | 5122 | 5123 | 5124 | 5125 | 5126 | TypedArrayType;

/** The typed array each MemPoolType stands for. */
export type MemPoolTypeMap = {
  u8: Uint8Array;
  u8c: Uint8ClampedArray;
  i8: Int8Array;
  u16: Uint16Array;
  i16: Int16Array;
  u32: Uint32Array;
  i32: Int32Array;
  f32: Float32Array;
  f64: Float64Array;
  i64: BigInt64Array;
  u64: BigUint64Array;
  5120: Int8Array;
  5121: Uint8Array;
  5122: Int16Array;
  5123: Uint16Array;
  5124: Int32Array;
  5125: Uint32Array;
  5126: Float32Array;
};
type ArrayOf<T> = T extends TypedArrayType<infer A> ? A : T extends keyof MemPoolTypeMap ? MemPoolTypeMap[T] : never;

const TYPES: Record<string, TypedArrayType> = {
  u8: Uint8Array,
  u8c: Uint8ClampedArray,
  i8: Int8Array,
  u16: Uint16Array,
  i16: Int16Array,
  u32: Uint32Array,
  i32: Int32Array,
  f32: Float32Array,
  f64: Float64Array,
  i64: BigInt64Array,
  u64: BigUint64Array,
  5120: Int8Array,
  5121: Uint8Array,
  5122: Int16Array,
  5123: Uint16Array,
  5124: Int32Array,
  5125: Uint32Array,
  5126: Float32Array,
};
const TypedArrayBase = Object.getPrototypeOf(Int8Array) as abstract new () => object;

function typeOf(type: unknown, op: string): TypedArrayType {
  if (typeof type === "function" && type.prototype instanceof TypedArrayBase) return type as TypedArrayType;
  const t = (typeof type === "string" || typeof type === "number") && Object.hasOwn(TYPES, type) ? TYPES[type] : undefined;
  if (t === undefined) throw new TypeError(`${op}: unknown element type ${String(type)} (one of ${Object.keys(TYPES).join(", ")}, or a typed-array constructor)`);
  return t;
}

/** @thi.ng/malloc's MemPoolStats. */
export interface MemPoolStats {
  /** Free space below the top: free raw chunks and free blocks of used pools. */
  free: { count: number; size: number };
  /** This pool's live blocks, and their usable bytes. */
  used: { count: number; size: number };
  /** Top of the heap's used region (heap.stats().footprint). */
  top: number;
  /** What could still be handed out: free.size, plus the room from top to the growth limit. */
  available: number;
  /** The memory's byte length now. */
  total: number;
}

/** asMemPool's options, named once at run time. */
const MEMPOOL_OPTIONS = { family: 1, MemPool: 1 } as const satisfies Record<keyof MemPoolOptions, 1>;

/** Options of asMemPool(). */
export interface MemPoolOptions {
  /** The family blocks come from: "mem" (default), "obj" or "raw". */
  family?: FamilyName;
  /**
   * @thi.ng/malloc's MemPool class: the pool then passes `pool instanceof MemPool`, which some
   * packages test before using a pool they are given (@thi.ng/vector-pools does, and would
   * otherwise build a MemPool of its own over the heap's buffer).
   */
  MemPool?: abstract new (...args: never[]) => object;
}

/** An element count for mallocAs/callocAs/reallocArray: a whole number of elements (1.5 is a RangeError, as malloc(1.5) is; a typed array would round it). */
function elementCount(num: number, op: string): void {
  if (typeof num !== "number") throw new TypeError(`${op}: num must be a number of elements, got ${typeof num}`);
  if (!Number.isSafeInteger(num) || num < 0) throw new RangeError(`${op}: num must be a non-negative whole number of elements, got ${num}`);
}

/** calloc's and callocAs's fill value: a number (a BigInt too for the 64-bit integer types), an integer for those. */
function checkFill(fill: unknown, bigint: boolean, op: string): void {
  if (typeof fill === "bigint" && bigint) return;
  if (typeof fill !== "number") throw new TypeError(`${op}: fill must be a number${bigint ? " or a BigInt" : ""}, got ${typeof fill}`);
  if (bigint && !Number.isInteger(fill)) throw new RangeError(`${op}: fill of a 64-bit integer array must be an integer, got ${fill}`);
}

/**
 * A pymalloc heap as an @thi.ng/malloc IMemPool. Blocks come from one family of the heap
 * (`mem` by default); the pool lists them in a table in the heap's memory, so that free of
 * anything else returns false, as MemPool's does, and freeAll() frees them all. One pool is for
 * one thread (like MemPool); other code may go on using the heap beside it.
 */
export class HeapMemPool {
  readonly heap: Heap;
  readonly family: FamilyName;
  private table: LiveTable | null;
  /** Brand: `instanceof HeapMemPool` holds for pools that asMemPool() linked to MemPool's prototype too. */
  readonly #brand = true;

  static [Symbol.hasInstance](x: unknown): boolean {
    return this === HeapMemPool ? typeof x === "object" && x !== null && #brand in x : Function.prototype[Symbol.hasInstance].call(this, x);
  }

  constructor(heap: Heap, options: MemPoolOptions = {}) {
    if (heap === null || typeof heap !== "object" || typeof heap.stats !== "function" || heap.mem === undefined)
      throw new TypeError("HeapMemPool: expected a heap from createHeap() or attachHeap()");
    const family = options.family ?? "mem";
    if (family !== "mem" && family !== "obj" && family !== "raw") throw new RangeError(`HeapMemPool: family must be "mem", "obj" or "raw", got ${String(family)}`);
    this.heap = heap;
    this.family = family;
    // The table's blocks are the heap's own state, not the user's: from below the debug hooks,
    // sampling and fault plans (heap.mallocState), so that walk(), leaks() and stats() leave them
    // out (a teardown that freed every block walk() listed freed the table too, and the pool's
    // next free() probed 4 billion slots, 2026-12-06), a debug family's free of one is refused, and
    // failAllocations({ family: "raw" }) does not refuse the pool its table.
    this.table = LiveTable.create({ memory: heap.memory, malloc: (n) => heap.mallocState(n), free: (p) => heap.freeState(p), size: (p) => heap.rawAllocator.liveUsable(p) });
    if (this.table === null) throw new RangeError("HeapMemPool: the heap could not allocate the pool's block table");
  }

  private live(): LiveTable {
    if (this.table === null) throw new PymallocError("this HeapMemPool was released", 0);
    return this.table;
  }

  /** The memory's current buffer (MemPool's `buf`). */
  get buf(): ArrayBuffer | SharedArrayBuffer {
    return this.heap.buffer;
  }
  get u8(): Uint8Array {
    return this.heap.u8;
  }
  get u32(): Uint32Array {
    return this.heap.u32;
  }
  /** Alignment of every block (8 or 16). */
  get align(): number {
    return this.heap.alignment;
  }
  /** Where the heap starts in its memory (MemPool's `start`). */
  get start(): number {
    return this.heap.heapBase;
  }
  /** The growth limit of the memory (MemPool's `end`: the end of the managed region). */
  get end(): number {
    return this.heap.memory.maxBytes;
  }
  /** Top of the heap's used region. */
  get top(): number {
    return this.heap.u32[(this.heap.heapBase >>> 2) + H.TOP] + Chunk.HEADER;
  }

  /**
   * A block of `size` bytes, or 0 when it cannot be allocated or size is 0 (as MemPool).
   * TypeError for a size that is not a number, RangeError for a negative or fractional one.
   */
  malloc(size: number): number {
    const table = this.live();
    if (typeof size !== "number" || (size >>> 0) !== size) {
      if (typeof size !== "number") throw new TypeError(`malloc: size must be a number, got ${typeof size}`);
      if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`malloc: size must be a non-negative safe integer, got ${size}`);
      return 0;
    }
    if (size === 0) return 0;
    const fam = this.heap[this.family];
    const p = fam.malloc(size);
    if (p === 0) return 0;
    if (!table.insert(p, size)) {
      fam.free(p);
      return 0;
    }
    return p;
  }

  /** malloc, then every byte set to `fill` (default 0). */
  calloc(size: number, fill = 0): number {
    checkFill(fill, false, "calloc"); // before the block is taken: a bad fill must not leave it allocated
    const p = this.malloc(size);
    if (p !== 0) this.heap.u8.fill(fill, p, p + size);
    return p;
  }

  /**
   * The block at ptr resized to `size` bytes, contents kept (moved when it must be); 0 when it
   * cannot be done (the block stays as it was), when size is 0, or when ptr is not one of this
   * pool's blocks (as MemPool, which also returns 0 for realloc(0, n)).
   */
  realloc(ptr: number, size: number): number {
    const table = this.live();
    if (typeof size !== "number" || (size >>> 0) !== size) {
      if (typeof size !== "number") throw new TypeError(`realloc: size must be a number, got ${typeof size}`);
      if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`realloc: size must be a non-negative safe integer, got ${size}`);
      return 0;
    }
    if (size === 0 || typeof ptr !== "number" || (ptr >>> 0) !== ptr || table.get(ptr) < 0) return 0;
    const q = this.heap[this.family].realloc(ptr, size);
    if (q !== 0) table.move(ptr, q, size);
    return q;
  }

  /**
   * Frees the block at an address, or under a typed array (or DataView) that starts at one, such
   * as those mallocAs/callocAs/reallocArray make. True when it was one of this pool's live blocks; false otherwise (an unknown
   * address, a block freed already, a view over another buffer), and nothing is changed.
   */
  free(ptrOrArray: number | TypedArray | DataView): boolean {
    const table = this.live();
    let p: number;
    if (typeof ptrOrArray === "number") p = ptrOrArray;
    else {
      // A DataView over a block frees it too, as in MemPool (which reads any view's buffer and byteOffset).
      const view = ptrOrArray instanceof DataView ? new Uint8Array(ptrOrArray.buffer, ptrOrArray.byteOffset, 0) : ptrOrArray;
      p = viewOffset(this.heap.memory, view, "free");
      if (p < 0) return false;
    }
    if (typeof p !== "number" || (p >>> 0) !== p || table.get(p) < 0) return false;
    this.heap[this.family].free(p);
    table.remove(p);
    return true;
  }

  /** A block of `num` elements of `type`, as a typed array over it; undefined when it cannot be allocated (or num is 0). */
  mallocAs<T extends MemPoolType>(type: T, num: number): ArrayOf<T> | undefined {
    const t = typeOf(type, "mallocAs");
    elementCount(num, "mallocAs");
    const p = this.malloc(num * t.BYTES_PER_ELEMENT);
    return p === 0 ? undefined : (makeView(this.heap.memory, t, p, num) as ArrayOf<T>);
  }

  /** mallocAs, then every element set to `fill` (default 0). */
  callocAs<T extends MemPoolType>(type: T, num: number, fill = 0): ArrayOf<T> | undefined {
    const t = typeOf(type, "callocAs");
    const int64 = t === BigInt64Array || t === BigUint64Array || t.prototype instanceof BigInt64Array || t.prototype instanceof BigUint64Array;
    checkFill(fill, int64, "callocAs"); // before the block is taken
    const a = this.mallocAs(type, num);
    if (a !== undefined) {
      if (int64) (a as BigInt64Array | BigUint64Array).fill(BigInt(fill as number | bigint));
      else (a as Exclude<TypedArray, BigInt64Array | BigUint64Array>).fill(fill);
    }
    return a;
  }

  /** reallocArray: the array's block resized to `num` elements; a new array of the same type, or undefined (as realloc). */
  reallocArray<T extends TypedArray>(array: T, num: number): T | undefined {
    const p = viewOffset(this.heap.memory, array, "reallocArray");
    if (p < 0) return undefined;
    elementCount(num, "reallocArray");
    const q = this.realloc(p, num * array.BYTES_PER_ELEMENT);
    return q === 0 ? undefined : makeView(this.heap.memory, array.constructor as TypedArrayType<T>, q, num);
  }

  /** Frees every block this pool handed out (other users of the heap are not touched). */
  freeAll(): void {
    const table = this.live();
    const fam = this.heap[this.family];
    table.forEach((p) => {
      fam.free(p);
      table.remove(p);
    });
  }

  /** MemPool's stats, from heap.stats() and the pool's table. */
  stats(): Readonly<MemPoolStats> {
    const table = this.live();
    const s = this.heap.stats();
    let freeCount = s.raw.freeBlocks;
    let freeSize = s.raw.freeBytes;
    for (const c of s.classes) {
      freeCount += c.blocksAvailable;
      freeSize += c.blocksAvailable * c.size;
    }
    let usedSize = 0;
    table.forEach((p) => {
      usedSize += this.heap.usableSize(p);
    });
    return {
      free: { count: freeCount, size: freeSize },
      used: { count: table.count, size: usedSize },
      top: s.footprint,
      available: Math.max(0, s.maxBytes - s.footprint) + freeSize,
      total: s.byteLength,
    };
  }

  /** freeAll(), then the pool's table is freed; the pool cannot be used after. Returns true (IRelease). */
  release(): boolean {
    if (this.table === null) return true;
    this.freeAll();
    this.table.dispose((p) => this.heap.freeState(p));
    this.table = null;
    return true;
  }
}

/** Prototypes that put HeapMemPool's methods in front of a given MemPool class's, one per class. */
const linked = new WeakMap<object, object>();

/**
 * The heap as an @thi.ng/malloc IMemPool. With `MemPool` (the class from @thi.ng/malloc), the
 * pool also passes `instanceof MemPool` (and is typed as one); every method and property is
 * still HeapMemPool's.
 */
export function asMemPool<M extends object>(heap: Heap, options: MemPoolOptions & { MemPool: abstract new (...args: never[]) => M }): HeapMemPool & M;
export function asMemPool(heap: Heap, options?: MemPoolOptions): HeapMemPool;
export function asMemPool(heap: Heap, options: MemPoolOptions = {}): HeapMemPool {
  checkOptions(options, MEMPOOL_OPTIONS, "asMemPool");
  const pool = new HeapMemPool(heap, options);
  const base = options.MemPool;
  if (base === undefined) return pool;
  if (typeof base !== "function" || typeof base.prototype !== "object") throw new TypeError("asMemPool: MemPool must be @thi.ng/malloc's MemPool class");
  let proto = linked.get(base.prototype);
  if (proto === undefined) {
    const own = Object.getOwnPropertyDescriptors(HeapMemPool.prototype) as PropertyDescriptorMap;
    proto = Object.create(base.prototype, own) as object;
    linked.set(base.prototype, proto);
  }
  Object.setPrototypeOf(pool, proto);
  return pool;
}

spanEnd(new Error());
