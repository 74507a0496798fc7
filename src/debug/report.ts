/**
 * debug/report.ts — what the debug hooks say when they find a memory bug.
 *
 * Owns: MemoryCorruptionError, the structured report record, and its text: address, families,
 * requested size, damaged pad bytes with offsets and values, serial, hex dumps of the block's
 * start and end, where it was allocated and freed (in the spirit of CPython's
 * _PyObject_DebugDumpAddress).
 * Must not: decide what happens next (hooks.ts applies the onError policy).
 */

import { PymallocError, hex, nameErrorClass } from "../errors.js";
import { inOwnSpan } from "./spans.js";

export type CorruptionKind = "overflow" | "underflow" | "api-mismatch" | "double-free" | "invalid-pointer" | "use-after-free";

export const FAMILY_NAMES: Record<string, string> = {
  r: "raw (PyMem_Raw*)",
  m: "mem (PyMem_*)",
  o: "obj (PyObject_*)",
};

export interface DamagedByte {
  /** Offset from the user pointer (negative: before the block). */
  offset: number;
  value: number;
  expected: number;
}

export interface CorruptionReport {
  kind: CorruptionKind;
  /** The operation that found it: "free", "realloc", "check", "quarantine". */
  operation: string;
  /** The user pointer concerned. */
  address: number;
  /** Family id ('r', 'm', 'o') that allocated the block, when known. */
  allocatedBy?: string;
  /** Family id used for this call. */
  usedBy?: string;
  /** For a call from WebAssembly: the C function called (free, PyObject_Free...). */
  entry?: string;
  /** For a call from WebAssembly: the stack from the wasm function that called `entry`. */
  calledAt?: string;
  /** Bytes originally requested. */
  requestedSize?: number;
  /** Serial number: this was the n-th debug allocation of the heap. */
  serial?: number;
  /** Pad or freed bytes that are not what they should be (at most 64 listed). */
  damaged: DamagedByte[];
  /** Total number of damaged bytes. */
  damagedCount: number;
  /** Hex dump of the block's first bytes (with the leading pad) and last bytes (with the trailing pad). */
  head?: string;
  tail?: string;
  /**
   * Where the block was allocated, and where it was freed, when traced: the stack from the user's
   * first frame (pymalloc's own frames left out, as the message shows it), one frame a line
   * ("at f (file:line:col)"). Undefined when not traced, or no frame is the user's.
   */
  allocatedAt?: string;
  freedAt?: string;
  /** The same stacks as captured: V8's text, its first line ("Error: allocated here") and pymalloc's own frames included. */
  allocatedStack?: string;
  freedStack?: string;
  /** Thread ids (heap.threadId) that allocated and freed the block, when threads share the heap. */
  allocatedInThread?: number;
  freedInThread?: number;
  /** What the hooks could tell beyond the fields above. */
  detail: string;
}

const KIND_TITLES: Record<CorruptionKind, string> = {
  overflow: "buffer overflow: bytes after the end of the block were written",
  underflow: "buffer underflow: bytes before the start of the block were written",
  "api-mismatch": "API family mismatch: the block is released by another family than the one that allocated it",
  "double-free": "double free: the block was already freed",
  "invalid-pointer": "invalid pointer: not the start of a block allocated by this heap",
  "use-after-free": "use after free: a freed block was written to, or passed to realloc or usableSize",
};

/** A memory bug found by the debug hooks; `report` has every detail. */
export class MemoryCorruptionError extends PymallocError {
  readonly kind: CorruptionKind;
  readonly report: CorruptionReport;
  constructor(report: CorruptionReport) {
    super(formatReport(report), report.address);
    this.kind = report.kind;
    this.report = report;
  }
}
nameErrorClass(MemoryCorruptionError, "MemoryCorruptionError");

/** Hex dump of u8[from, to), 16 bytes a line, each line with its offset from `origin`. */
export function hexDump(u8: Uint8Array, from: number, to: number, origin: number): string {
  const lines: string[] = [];
  const lo = Math.max(0, from);
  const hi = Math.min(u8.length, to);
  for (let a = lo; a < hi; a += 16) {
    const bytes: string[] = [];
    for (let k = a; k < Math.min(a + 16, hi); k++) bytes.push(u8[k].toString(16).padStart(2, "0"));
    const off = a - origin;
    lines.push(`    ${hex(a)} (${off >= 0 ? "+" : ""}${off}): ${bytes.join(" ")}`);
  }
  return lines.join("\n");
}

/**
 * A frame of pymalloc's own, one line of a V8 stack (trimmed): its debug hooks, families, typed
 * views, threads heaps' locked families, asMemPool's pool, wasm import trampolines and instantiateWithHeap's call of a module's
 * initialiser (by file; debug/sampler.ts adds its own and sampling.ts's); in a C module, the fast path linked into it (`pymalloc link`:
 * functions named `pymalloc.*`, compat/wasm-link.ts's FAST_PATH_NAME_PREFIX) and
 * wasm/include/pymemcompat.c's forwarders to the heap (malloc, calloc, realloc, free,
 * aligned_alloc, memalign, posix_memalign, __libc_*: functions of their own when the module is
 * built without -flto, or for libc's calls such as strdup's), named when the module kept its names.
 * In a bundle, which keeps no file names: by place (debug/spans.ts).
 */
const OWN_FRAME =
  /[\\/](debug[\\/]hooks|heap[\\/](families|typed)|threads[\\/]locked|compat[\\/](wasm|wasm-imports|mempool))\.[jt]s|^at (pymalloc\.[^ ]*|malloc|calloc|realloc|free|aligned_alloc|memalign|posix_memalign|pymem_aligned|__libc_(malloc|calloc|free)) \(wasm:/;

/**
 * The text of a captured stack (V8 formats it when it is first read, through a global
 * Error.prepareStackTrace when there is one: a source-map hook's frames are kept). A hook's answer
 * that is no string, or a hook that throws, gives V8's own format of the frames instead (one that
 * returned CallSites made reports, leaks() and snapshot() throw "stack.split is not a function":
 * a misuse hunt's F09). undefined when there is none.
 */
export function stackText(e: { stack?: unknown } | undefined): string | undefined {
  if (e === undefined) return undefined;
  const E = Error as { prepareStackTrace?: unknown };
  const hook = E.prepareStackTrace;
  if (typeof hook !== "function") {
    const s = e.stack;
    return typeof s === "string" ? s : undefined;
  }
  E.prepareStackTrace = (err: Error, frames: unknown[]): string => {
    try {
      const r: unknown = hook(err, frames);
      if (typeof r === "string") return r;
    } catch {
      // the hook's failure is not the report's
    }
    return [`${err}`, ...frames.map((f) => `    at ${String(f)}`)].join("\n");
  };
  try {
    const s = e.stack;
    return typeof s === "string" ? s : undefined;
  } finally {
    E.prepareStackTrace = hook;
  }
}

/** Whether a (trimmed) stack line is a frame of pymalloc's own: not where user code allocated. */
export function isOwnFrame(line: string): boolean {
  return OWN_FRAME.test(line) || inOwnSpan(line); // by file; in a bundle, by position (debug/spans.ts)
}

/**
 * A captured stack from the user's first frame: the "Error" line and pymalloc's own frames (debug
 * hooks, families, a linked fast path) dropped, one trimmed frame a line; undefined when none is left.
 */
export function userStack(stack: string | undefined): string | undefined {
  if (!stack) return undefined;
  const frames = stack
    .split("\n")
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !isOwnFrame(l));
  return frames.length === 0 ? undefined : frames.join("\n");
}

/** A report's site as its message shows it: the first eight frames, indented. */
function indented(frames: string | undefined): string | undefined {
  if (!frames) return undefined;
  return frames
    .split("\n")
    .slice(0, 8)
    .map((l) => "    " + l)
    .join("\n");
}

const ordinal = (n: number): string => {
  const t = n % 100;
  const suffix = t >= 11 && t <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th";
  return `${n}${suffix}`;
};

export function formatReport(r: CorruptionReport): string {
  const out: string[] = [];
  out.push(`${KIND_TITLES[r.kind]} (found by ${r.operation})`);
  out.push(`  address: ${hex(r.address)}`);
  if (r.allocatedBy !== undefined) out.push(`  allocated by: ${FAMILY_NAMES[r.allocatedBy] ?? JSON.stringify(r.allocatedBy)}`);
  // "?": a call of no family (usableSize), which has nothing to say here.
  if (r.usedBy !== undefined && r.usedBy !== "?") {
    const family = FAMILY_NAMES[r.usedBy] ?? r.usedBy;
    out.push(r.entry !== undefined ? `  ${r.operation} called through: ${r.entry}() from WebAssembly, family ${family}` : `  ${r.operation} called through: ${family}`);
  }
  if (r.requestedSize !== undefined) out.push(`  requested size: ${r.requestedSize} bytes`);
  if (r.serial !== undefined) out.push(`  serial: ${r.serial} (the ${ordinal(r.serial)} debug allocation of this heap)`);
  if (r.allocatedInThread !== undefined) out.push(`  allocated in thread ${r.allocatedInThread}`);
  if (r.freedInThread !== undefined) out.push(`  freed in thread ${r.freedInThread}`);
  if (r.detail) out.push(`  ${r.detail}`);
  if (r.damagedCount > 0) {
    const shown = r.damaged
      .slice(0, 16)
      .map((d) => `${d.offset >= 0 ? "+" : ""}${d.offset}: 0x${d.value.toString(16).padStart(2, "0")}`)
      .join(", ");
    out.push(`  ${r.damagedCount} damaged byte(s) (expected 0x${r.damaged[0].expected.toString(16)}): ${shown}${r.damagedCount > 16 ? ", ..." : ""}`);
  }
  if (r.head) out.push("  block start:\n" + r.head);
  if (r.tail) out.push("  block end:\n" + r.tail);
  const alloc = indented(r.allocatedAt);
  const freed = indented(r.freedAt);
  // An invalid pointer is no block's start: no block to have a site (the error's own stack is the bad call's).
  if (alloc) out.push("  allocated at:\n" + alloc);
  else if (r.kind === "invalid-pointer") out.push("  allocated at: none (no block of this heap starts at this address; this error's stack shows the call)");
  else out.push("  allocated at: unknown (traceAllocations is off, or another handle allocated it)");
  if (r.kind === "double-free" || r.kind === "use-after-free") out.push(freed ? "  freed at:\n" + freed : "  freed at: unknown");
  const called = indented(r.calledAt);
  if (called) out.push(`  ${r.entry ?? r.operation}() called at:\n` + called);
  return out.join("\n");
}
