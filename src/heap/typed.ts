/**
 * heap/typed.ts — typed-array views of blocks: mallocAs, callocAs, reallocAs, freeAs, viewAt.
 *
 * Owns: TypedFamily, the base class of every family class (release, debug, locked; on pymalloc
 * and on foreign allocators), whose view methods are written once here on top of the family's
 * own malloc/calloc/realloc/free; the checks of an element type, a length and a view; making a
 * view over the memory's current buffer.
 * Must not: touch malloc/calloc/realloc/free (the release families' hot path stays as it is:
 * these are separate methods that call them), or keep any state: a view is the block's address
 * (byteOffset), its type and its length.
 *
 * What a held view does when the memory grows depends on the memory kind (README, "Typed views"):
 * a growable SharedArrayBuffer, a resizable ArrayBuffer and a shared WebAssembly.Memory keep
 * every view valid; a fixed buffer never grows; a WebAssembly.Memory that is not shared detaches
 * its old buffer, so every view made before the growth reads as empty (length 0, byteOffset 0):
 * keep the block's address and call viewAt() for a current view.
 */

import { InvalidPointerError, typeName } from "../errors.js";
import type { Memory } from "../memory/memory.js";
import { spanEnd, spanStart } from "../debug/spans.js";

spanStart(new Error()); // debug/spans.ts

/** A typed array a block can be viewed as. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** An element type: a typed-array constructor (Float64Array, BigInt64Array, ...). */
export interface TypedArrayType<T extends TypedArray = TypedArray> {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
  readonly prototype: T;
  readonly name: string;
}

/** The view methods every family has (Family in heap/families.ts extends this). */
export interface TypedViews {
  /**
   * A block of `length` elements of `type`, as a view of that type (`malloc(length *
   * BYTES_PER_ELEMENT)`); undefined when it cannot be allocated. The block is aligned for the
   * type (RangeError where an allocator cannot guarantee it: a foreign one aligned to 4).
   */
  mallocAs<T extends TypedArray>(type: TypedArrayType<T>, length: number): T | undefined;
  /** mallocAs, zeroed (`calloc(length, BYTES_PER_ELEMENT)`). */
  callocAs<T extends TypedArray>(type: TypedArrayType<T>, length: number): T | undefined;
  /**
   * realloc of the view's block to `length` elements: a new view of the same type (the old one
   * must not be used any more), or undefined when it cannot be done (the old block is left as it was).
   */
  reallocAs<T extends TypedArray>(view: T, length: number): T | undefined;
  /** free of the view's block (the view must start at a block of this family). */
  freeAs(view: TypedArray): void;
  /**
   * A current view of `length` elements of `type` at block address p: how to get a view again
   * after a WebAssembly.Memory grew (which detaches every view made before).
   */
  viewAt<T extends TypedArray>(type: TypedArrayType<T>, p: number, length: number): T;
}

/** %TypedArray%, the constructor every typed-array class extends. */
const TypedArrayBase = Object.getPrototypeOf(Int8Array) as abstract new () => object;

/** Throws unless `type` is a typed-array constructor; returns its element size. */
export function elementSize(type: unknown, op: string): number {
  if (typeof type !== "function" || !(type.prototype instanceof TypedArrayBase))
    throw new TypeError(`${op}: the element type must be a typed-array constructor such as Float64Array, got ${typeof type === "function" ? type.name || "a function" : String(type)}`);
  return (type as TypedArrayType).BYTES_PER_ELEMENT;
}

/**
 * Byte size of `length` elements of `size` bytes, checked like a size: TypeError for a
 * non-number, RangeError for a negative, fractional or unsafe length; -1 for a count too large
 * to ever be served (the method then returns undefined, as malloc returns 0).
 */
export function viewBytes(length: unknown, size: number, op: string): number {
  if (typeof length !== "number") throw new TypeError(`${op}: length must be a number, got ${typeof length}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`${op}: length must be a non-negative safe integer, got ${length}`);
  const n = length * size;
  return n > 0xffffffff ? -1 : n;
}

/** Throws when blocks of this alignment do not suit elements of `size` bytes. */
export function checkAlignment(size: number, alignment: number, type: TypedArrayType, op: string): void {
  if (size > alignment)
    throw new RangeError(`${op}: ${type.name} needs ${size}-byte alignment; this allocator only guarantees ${alignment}-byte aligned blocks`);
}

/** A view of `length` elements of `type` at p, over the memory's current buffer. */
export function makeView<T extends TypedArray>(memory: Memory, type: TypedArrayType<T>, p: number, length: number): T {
  memory.refresh();
  return new type(memory.buffer, p, length);
}

/**
 * The byte offset of a view over this memory, or -1 for a view over another buffer. TypeError for
 * anything but a typed array, and for a view detached by a WebAssembly.Memory's growth.
 */
export function viewOffset(memory: Memory, view: unknown, op: string): number {
  if (!ArrayBuffer.isView(view) || view instanceof DataView) throw new TypeError(`${op}: expected a typed array, got ${typeName(view)}`);
  const buf = view.buffer;
  memory.refresh();
  if (buf === memory.buffer) return view.byteOffset;
  if (buf.byteLength === 0 && view.byteOffset === 0)
    throw new TypeError(`${op}: the view is detached (its WebAssembly.Memory grew since it was made): pass the block's address to free/realloc, or get a current view with viewAt(type, address, length)`);
  // Shared memory reaches each thread as a SharedArrayBuffer object of its own (a view another
  // Worker posted is over that thread's object), and a shared WebAssembly.Memory hands out a new
  // one at each growth; views over any of them see the same bytes. A buffer this memory had, or
  // one that holds its heap's identity word (H.IDENTITY), is this memory's: a buffer of the same
  // shape is not enough (every createHeap() in Node makes one alike: another heap's view freed
  // this heap's block at its offset). A memory with no heap of ours (an adapter's) goes by shape.
  return memory.isOwnBuffer(buf) ? view.byteOffset : -1;
}

/**
 * The block address of a view over this memory: viewOffset(), with TypeError for a view over
 * another buffer and InvalidPointerError for one at byte 0 (NULL, never a block).
 */
export function addressOf(memory: Memory, view: unknown, op: string): number {
  const p = viewOffset(memory, view, op);
  if (p < 0) throw new TypeError(`${op}: the view is over another buffer than this heap's memory`);
  if (p === 0) throw new InvalidPointerError(op, 0, "not-a-block", "the view starts at byte 0, which is NULL and never a block");
  return p;
}

/**
 * The family classes' base: the view methods, once, over the subclass's malloc/calloc/realloc/
 * free. A subclass says where its blocks are (viewMemory) and how they are aligned (viewAlignment).
 */
export abstract class TypedFamily implements TypedViews {
  abstract readonly id: string;
  abstract malloc(n: number): number;
  abstract calloc(nelem: number, elsize: number): number;
  abstract realloc(p: number, n: number): number;
  abstract free(p: number): void;
  /** @internal The memory this family's blocks are in. */
  abstract viewMemory(): Memory;
  /** @internal The alignment every block of this family has. */
  abstract viewAlignment(): number;

  mallocAs<T extends TypedArray>(type: TypedArrayType<T>, length: number): T | undefined {
    const size = elementSize(type, "mallocAs");
    const n = viewBytes(length, size, "mallocAs");
    checkAlignment(size, this.viewAlignment(), type, "mallocAs");
    if (n < 0) return undefined;
    const p = this.malloc(n);
    return p === 0 ? undefined : makeView(this.viewMemory(), type, p, length);
  }

  callocAs<T extends TypedArray>(type: TypedArrayType<T>, length: number): T | undefined {
    const size = elementSize(type, "callocAs");
    const n = viewBytes(length, size, "callocAs");
    checkAlignment(size, this.viewAlignment(), type, "callocAs");
    if (n < 0) return undefined;
    const p = this.calloc(length, size);
    return p === 0 ? undefined : makeView(this.viewMemory(), type, p, length);
  }

  reallocAs<T extends TypedArray>(view: T, length: number): T | undefined {
    const memory = this.viewMemory();
    const p = addressOf(memory, view, "reallocAs");
    const type = view.constructor as TypedArrayType<T>;
    const n = viewBytes(length, view.BYTES_PER_ELEMENT, "reallocAs");
    if (n < 0) return undefined;
    const q = this.realloc(p, n);
    return q === 0 ? undefined : makeView(memory, type, q, length);
  }

  freeAs(view: TypedArray): void {
    this.free(addressOf(this.viewMemory(), view, "freeAs"));
  }

  viewAt<T extends TypedArray>(type: TypedArrayType<T>, p: number, length: number): T {
    const size = elementSize(type, "viewAt");
    const n = viewBytes(length, size, "viewAt");
    if (typeof p !== "number") throw new TypeError(`viewAt: address must be a number, got ${typeName(p)}`);
    // The address as given (free's rule, errors.ts): 2 ** 53 was shown as viewAt(0x00000000), 1.5 as 0x00000001.
    if ((p >>> 0) !== p || p === 0) throw new InvalidPointerError("viewAt", p, "out-of-range", `${p} is not a block address`);
    if (p % size !== 0) throw new InvalidPointerError("viewAt", p, "misaligned", `not aligned for ${type.name} (${size} bytes)`);
    const memory = this.viewMemory();
    memory.refresh();
    if (n < 0 || p + n > memory.byteLength) throw new InvalidPointerError("viewAt", p, "out-of-range", `${length} elements of ${type.name} from here run past the memory's end (${memory.byteLength} bytes)`);
    return makeView(memory, type, p, length);
  }
}

/**
 * A family that wraps another one (the lock of threads heaps, sampled sites, fault injection):
 * its blocks are the family below's, so are their memory and alignment.
 */
export abstract class WrappingFamily extends TypedFamily {
  /** The family below: every family of this library is a TypedFamily (typed as Family by callers). */
  abstract readonly below: object;
  /** @internal For the typed views: the family below's memory. */
  viewMemory(): Memory {
    return (this.below as TypedFamily).viewMemory();
  }
  /** @internal For the typed views: the family below's alignment. */
  viewAlignment(): number {
    return (this.below as TypedFamily).viewAlignment();
  }
}

spanEnd(new Error());
