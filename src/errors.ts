/**
 * errors.ts — the error classes the heap throws, each carrying the address it is about.
 *
 * Owns: PymallocError and its subclasses, and the helpers that format an address.
 * Must not: read heap state (callers put what they know into the error).
 */

export const hex = (n: number): string => "0x" + (n >>> 0).toString(16).padStart(8, "0");

/** What a value is, for "got ..." in a TypeError: "null", or its typeof. */
export function typeName(v: unknown): string {
  return v === null ? "null" : typeof v;
}

/**
 * A heap handle whose thread slot was freed while it ran: by adoptThread(), or by an attachHeap()
 * with restored: true over the live memory (it frees every slot; the message named adoptThread()
 * alone, which the program never called).
 */
export function adoptedError(slot: number): PymallocError {
  return new PymallocError(
    `thread slot ${slot} of this heap handle was freed by adoptThread() (for threads that ended) or by attachHeap(memory, { restored: true }) over this live memory (for saved bytes loaded again: it frees every thread's slot) while the handle was still in use: attach again to use the heap`,
  );
}

/** A value as an error message shows it: strings quoted, BigInts and NaN as written (JSON.stringify throws on a BigInt, and says null for NaN). */
export function shown(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "symbol") return v.toString();
  if (typeof v === "function") return "a function";
  if (v !== null && typeof v === "object") {
    try {
      return JSON.stringify(v);
    } catch {
      return "an object";
    }
  }
  return String(v);
}

/**
 * Each error class's name as written in the source. A minifying bundler (esbuild's or vite's
 * minify, terser) renames classes, and new.target.name with them: in a minified page e.name and
 * String(e) read "R: free(0x00003039): ..." and a debug report in the console "De: buffer
 * overflow ..." before 2026-12-07. A subclass not named here (an application's) keeps its
 * new.target.name.
 */
const ERROR_NAMES = new WeakMap<object, string>();

/** @internal gives an error class its name (e.name), whatever a bundler renames the class to. */
export function nameErrorClass(cls: abstract new (...args: never[]) => Error, name: string): void {
  ERROR_NAMES.set(cls, name);
}

/** Base class of every error pymalloc throws on its own account. */
export class PymallocError extends Error {
  /** The address the error is about (0 when none). */
  readonly address: number;
  constructor(message: string, address = 0) {
    super(message);
    this.name = ERROR_NAMES.get(new.target) ?? new.target.name;
    this.address = address;
  }
}

/** A free/realloc/usableSize of something that is not a live block of this heap. */
export class InvalidPointerError extends PymallocError {
  /** "not-a-block" | "beyond-views" | "misaligned" | "out-of-range" | "interior" | "double-free" | "internal" */
  readonly reason: string;
  constructor(op: string, address: number, reason: string, detail: string) {
    // A number that is no 32-bit address (2 ** 32, NaN, 1.5) shown as given, not wrapped to one.
    super(`${op}(${(address >>> 0) === address ? hex(address) : String(address)}): ${detail}`, address);
    this.reason = reason;
  }
}

/**
 * The heap's own structures are damaged: found by check(), by attachHeap() validating a header,
 * or by an allocation that would otherwise have followed a damaged link.
 */
export class HeapCorruptionError extends PymallocError {
  /** The damaged field, e.g. "H.TOP", "Pool.FREEBLOCK", "Chunk.SIZE", "free block link" ("" when not one field). */
  readonly field: string;
  constructor(address: number, detail: string, field = "") {
    super(`heap corrupted at ${hex(address)}${field ? ` (${field})` : ""}: ${detail}`, address);
    this.field = field;
  }
}

/** A feature that this build does not provide yet. */
export class NotImplementedError extends PymallocError {}

nameErrorClass(PymallocError, "PymallocError");
nameErrorClass(InvalidPointerError, "InvalidPointerError");
nameErrorClass(HeapCorruptionError, "HeapCorruptionError");
nameErrorClass(NotImplementedError, "NotImplementedError");

/** A call through a heap handle after its thread left the heap (heap.detachThread()). */
export function detachedError(): PymallocError {
  return new PymallocError("this heap handle was detached from its heap (detachThread(), or its thread slot was freed under it: adoptThread(), attachHeap with restored: true): attach again to use it", 0);
}
