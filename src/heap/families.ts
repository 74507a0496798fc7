/**
 * heap/families.ts — the public allocation API: malloc/calloc/realloc/free per family.
 *
 * Owns: argument checking (sizes, pointers, calloc overflow), free(0) and realloc(0, n), calloc's
 * zeroing, and routing each family to the allocator below it. The typed-view methods (mallocAs...)
 * are TypedFamily's (heap/typed.ts), inherited.
 * Must not: know how blocks are laid out; that is the allocators' business.
 *
 * Families (CPython's API domains): raw ('r', PyMem_Raw*), mem ('m', PyMem_*), obj ('o',
 * PyObject_*). With allocator "pymalloc", mem and obj use the object allocator; raw always uses
 * the raw allocator.
 */

import { InvalidPointerError, typeName } from "../errors.js";
import { isSharedView, type Memory } from "../memory/memory.js";
import { TypedFamily, type TypedViews } from "./typed.js";
import { spanEnd, spanStart } from "../debug/spans.js";

spanStart(new Error()); // debug/spans.ts

/** calloc zeroes blocks up to this many bytes with a loop, larger ones with fill() (in shared memory, the loop does all: isSharedView). */
const CALLOC_LOOP_MAX = 256;

/**
 * One API family: the four calls of C's allocator over byte offsets, and typed-array views of
 * blocks (mallocAs, callocAs, reallocAs, freeAs, viewAt: heap/typed.ts).
 */
export interface Family extends TypedViews {
  /** 'r', 'm' or 'o'. */
  readonly id: string;
  malloc(n: number): number;
  calloc(nelem: number, elsize: number): number;
  realloc(p: number, n: number): number;
  free(p: number): void;
  /**
   * C's aligned_alloc: a block of n bytes whose address is a multiple of `alignment` (a power of
   * two; RangeError otherwise), freed and reallocated like any block of the family (realloc
   * keeps only the family's usual alignment, as in C). 0 (NULL) when it cannot be served.
   */
  alignedAlloc(alignment: number, n: number): number;
}

/** The allocator a family sits on: the object allocator or the raw allocator. */
export interface BlockAllocator {
  /** The memory the blocks are in (for typed views). */
  readonly memory: Memory;
  /** Every block is aligned to 2^alignShift bytes (at least). */
  readonly alignShift: number;
  u8: Uint8Array;
  u32: Uint32Array;
  f64: Float64Array;
  malloc(n: number): number;
  realloc(p: number, n: number): number;
  free(p: number): void;
  /**
   * A block of n bytes at p with (p + offset) a multiple of align (a power of two above the
   * allocator's own alignment; offset: a debug header's bytes), or 0 when it cannot be served.
   */
  mallocAligned(n: number, align: number, offset: number): number;
}

/** The largest alignment alignedAlloc() takes: 1 GiB (a request is at most 4 GiB). */
export const MAX_ALIGNMENT = 2 ** 30;

/** Whether `a` is an alignment alignedAlloc() takes: a power of two from 1 to MAX_ALIGNMENT. */
export function isAlignment(a: number): boolean {
  return Number.isInteger(a) && a >= 1 && a <= MAX_ALIGNMENT && (a & (a - 1)) === 0;
}

/** alignedAlloc's alignment argument: a power of two up to MAX_ALIGNMENT, else TypeError / RangeError. */
export function checkAlignment(alignment: unknown): number {
  if (typeof alignment !== "number") throw new TypeError(`alignment must be a number, got ${typeof alignment}`);
  if (!isAlignment(alignment)) throw new RangeError(`alignment must be a power of two from 1 to ${MAX_ALIGNMENT}, got ${alignment}`);
  return alignment;
}

/**
 * A size argument that is not a uint32: throws for a non-number, a negative, fractional or
 * unsafe number; returns 0 (NULL) for a safe integer too large to ever be served.
 */
export function badSize(n: unknown, what = "size"): number {
  if (typeof n !== "number") throw new TypeError(`${what} must be a number, got ${typeof n}`);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative safe integer, got ${n}`);
  return 0;
}

/**
 * realloc(p, n) with an n that is no uint32: a TypeError or RangeError for what is no size
 * (badSize), else (2^32 or more: never served) the answer of realloc(p, 2^32 - 1), which checks
 * p as any realloc does (an invalid or freed p is reported, not passed over) and then, as no
 * block that large can be had, returns 0 (NULL) and leaves p as it was.
 */
export function reallocTooLarge(f: { realloc(p: number, n: number): number }, p: number, n: unknown): number {
  badSize(n);
  return p === 0 ? 0 : f.realloc(p, 0xffffffff);
}

/** A pointer argument that is not a uint32. */
export function badPointer(op: string, p: unknown): never {
  if (typeof p !== "number") throw new TypeError(`${op}: pointer must be a number, got ${typeof p}`);
  if (p === 0) throw new InvalidPointerError(op, 0, "not-a-block", "NULL (0) is no block");
  throw new InvalidPointerError(op, p, "out-of-range", `${p} is not a byte offset (an integer from 0 to 2^32 - 1)`);
}

/** walk()'s callback: a TypeError before anything is visited (not "fn is not a function" at the first block, nor nothing on an empty heap). */
export function checkWalker(fn: unknown): void {
  if (typeof fn !== "function") throw new TypeError(`walk() takes a function called with each live block, got ${typeName(fn)}`);
}

/** calloc's byte count, or -1 when nelem * elsize overflows what can be served. */
export function callocBytes(nelem: number, elsize: number): number {
  if (typeof nelem !== "number" || (nelem >>> 0) !== nelem) return badSize(nelem, "nelem") - 1;
  if (typeof elsize !== "number" || (elsize >>> 0) !== elsize) return badSize(elsize, "elsize") - 1;
  const total = nelem * elsize;
  return total > 0xffffffff ? -1 : total;
}

/**
 * A family over one allocator. One class for every family keeps call sites monomorphic. The
 * typed-view methods come from TypedFamily (heap/typed.ts) and only call the four below.
 */
export class AllocatorFamily extends TypedFamily implements Family {
  readonly id: string;
  readonly a: BlockAllocator;
  /** calloc's largest block zeroed by a loop rather than fill(). */
  readonly zeroLoopMax: number;
  constructor(id: string, a: BlockAllocator) {
    super();
    this.id = id;
    this.a = a;
    // In shared memory the loop does every block below 2 GiB (a Smi bound; fill() is correct, only slower).
    this.zeroLoopMax = isSharedView(a.u8) ? 0x7fffffff : CALLOC_LOOP_MAX;
  }

  malloc(n: number): number {
    if (typeof n !== "number" || (n >>> 0) !== n) return badSize(n);
    return this.a.malloc(n);
  }

  calloc(nelem: number, elsize: number): number {
    const n = callocBytes(nelem, elsize);
    if (n < 0) return 0;
    const p = this.a.malloc(n);
    if (p === 0) return 0;
    if (n > this.zeroLoopMax) {
      this.a.u8.fill(0, p, p + n);
      return p;
    }
    // 8 bytes a store where the block is 8-byte aligned (ours always are), n rounded up to whole
    // words (that stays inside the block: usable sizes are multiples of 4) and to whole doubles
    // when that adds 1-3 bytes; then the last word, zeroed by one store for every block (twice
    // where the doubles covered it): a loop over the last words, run only for sizes not a
    // multiple of 8, first ran after TurboFan had compiled calloc and deoptimized it
    // (compileall's first 100,000 events; docs/performance.md, session 50).
    // Up to 8 doubles by a switch whose cases fall through (one straight run of stores: V8 checks
    // f64's map once for it, where a loop checks it in every iteration), more by eight stores an
    // iteration. Most callocs need no loop: compileall's are 85% 48-byte blocks. Against four
    // stores an iteration (cachegrind, bench:instructions, 2026-12-04): compileall 325-326
    // against 331-332 instructions an event, the bundled trace 334-336 against 342-343 (the
    // switch after the loop instead: 330 and 337). The loop is written out here, not called:
    // called, V8 left it out of line whenever it inlined calloc into its caller (with threads:
    // true, the bundled trace took 437 instead of 405 instructions an event).
    const u32 = this.a.u32;
    if ((p & 7) === 0) {
      const e = (p + n + 3) >>> 3;
      const f64 = this.a.f64;
      let i = p >>> 3;
      switch (e - i) {
        case 8:
          f64[i + 7] = 0;
        // falls through
        case 7:
          f64[i + 6] = 0;
        // falls through
        case 6:
          f64[i + 5] = 0;
        // falls through
        case 5:
          f64[i + 4] = 0;
        // falls through
        case 4:
          f64[i + 3] = 0;
        // falls through
        case 3:
          f64[i + 2] = 0;
        // falls through
        case 2:
          f64[i + 1] = 0;
        // falls through
        case 1:
          f64[i] = 0;
        // falls through
        case 0:
          i = e;
      }
      for (; i + 8 <= e; i += 8) {
        f64[i] = 0;
        f64[i + 1] = 0;
        f64[i + 2] = 0;
        f64[i + 3] = 0;
        f64[i + 4] = 0;
        f64[i + 5] = 0;
        f64[i + 6] = 0;
        f64[i + 7] = 0;
      }
      for (; i < e; i++) f64[i] = 0;
      if (n !== 0) u32[(p + n - 1) >>> 2] = 0;
      return p;
    }
    for (let w = p >>> 2, e = (p + n + 3) >>> 2; w < e; w++) u32[w] = 0;
    return p;
  }

  realloc(p: number, n: number): number {
    if (typeof n !== "number" || (n >>> 0) !== n) return reallocTooLarge(this, p, n);
    if (p === 0) return this.a.malloc(n);
    if (typeof p !== "number" || (p >>> 0) !== p) badPointer("realloc", p);
    return this.a.realloc(p, n);
  }

  free(p: number): void {
    if (p === 0) return;
    if (typeof p !== "number" || (p >>> 0) !== p) badPointer("free", p);
    this.a.free(p);
  }

  alignedAlloc(alignment: number, n: number): number {
    checkAlignment(alignment);
    if (typeof n !== "number" || (n >>> 0) !== n) return badSize(n);
    if (alignment <= 1 << this.a.alignShift) return this.a.malloc(n);
    return this.a.mallocAligned(n, alignment, 0);
  }

  /** @internal For the typed views (heap/typed.ts). */
  viewMemory(): Memory {
    return this.a.memory;
  }

  /** @internal For the typed views (heap/typed.ts). */
  viewAlignment(): number {
    return 1 << this.a.alignShift;
  }
}

spanEnd(new Error());
