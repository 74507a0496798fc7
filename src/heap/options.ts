/**
 * heap/options.ts — createHeap's options: defaults, validation, and the PYMALLOC variable.
 *
 * Owns: the option types, the allocator mode names, reading PYMALLOC (like PYTHONMALLOC).
 * Must not: create memory or touch the heap.
 */

import {
  DEFAULT_ALIGNMENT_SHIFT,
  DEFAULT_MAX_THREADS,
  DEFAULT_QUARANTINE_BLOCKS,
  DEFAULT_TRACE_FRAMES,
  MAX_TRACE_FRAMES,
  DEFAULT_QUARANTINE_BYTES,
  DEFAULT_POOLS_PER_ARENA_SHIFT,
  DEFAULT_INITIAL_BYTES,
  DEFAULT_MAX_BYTES,
  DEFAULT_POOL_SHIFT,
  DEFAULT_SAMPLE_INTERVAL,
  MAX_SAMPLE_INTERVAL,
  MAX_MAX_THREADS,
  MAX_RAW_FIRST,
  RawStart,
  MODE_IDS,
  Size,
  WASM_PAGE,
} from "../constants.js";
import { shown, typeName } from "../errors.js";
import { MEMORY_KINDS, type MemoryKind, type MemorySource } from "../memory/memory.js";
import type { DebugOptions, OnError } from "../debug/hooks.js";

export type AllocatorMode = keyof typeof MODE_IDS;
/** The allocator modes (frozen: a mode pushed onto it passed the option check and failed later). */
export const ALLOCATOR_MODES: readonly AllocatorMode[] = Object.freeze(Object.keys(MODE_IDS) as AllocatorMode[]);

export interface HeapOptions {
  /** "pymalloc" (default), "malloc", or a debug variant. Default: $PYMALLOC, else "pymalloc". */
  allocator?: AllocatorMode;
  /** The memory to manage (it is formatted). Default: a new one of `memoryKind`. */
  memory?: MemorySource;
  /**
   * Kind of memory to create when `memory` is not given. Default: "growable-shared" where
   * SharedArrayBuffer can grow (Node, cross-origin-isolated pages), else "wasm". Typed-array
   * access to a "resizable" ArrayBuffer costs about 50% more instructions per event in V8.
   */
  memoryKind?: MemoryKind;
  /** Starting size of a memory we create (default 1 MiB). */
  initialBytes?: number;
  /** Growth limit (default 4 GiB - 64 KiB, bounded by what the memory kind allows). */
  maxBytes?: number;
  /** First byte the heap may use, e.g. a WebAssembly module's __heap_base (default 0). */
  heapBase?: number;
  /** Pool size, a power of two from 4 KiB to 1 MiB (default 16 KiB). */
  poolSize?: number;
  /**
   * Alignment of small blocks (1..512 bytes), 8 (default) or 16. 8 is CPython's before 3.8,
   * that of Emscripten's and wasi-libc's mallocs on wasm32, and enough for every JS typed array
   * (Float64Array, BigInt64Array) and every WebAssembly load: 64 size classes of 8 bytes, so a
   * 40-byte request takes 40 bytes, not 48. 16 is CPython's since 3.8: for code that relies on
   * the low four bits of its pointers. Blocks above 512 bytes are always 16-byte aligned.
   */
  alignment?: 8 | 16;
  /**
   * Several threads (Workers) will use this heap through attachHeap(). Each thread allocates
   * small blocks from pools of its own without a lock; a lock in the heap's memory guards arenas
   * and the raw allocator (and, in the debug modes, every call). Needs a shared memory
   * (SharedArrayBuffer or a shared WebAssembly.Memory); the default memory is one where
   * SharedArrayBuffer can grow.
   */
  threads?: boolean;
  /**
   * Release modes check more (after mimalloc's secure mode): every block malloc hands out and the
   * link it pops must be carved block starts of their pool (not only inside it), and free()
   * finds a double free of a small block by walking its pool's free list when the block's first
   * word looks like a free-list link. Costs instructions (see README); default false.
   */
  hardened?: boolean;
  /**
   * true (default): a size class that has never held a pool's bytes takes 1 KiB sub-pools cut
   * from a shared pool slot (a young class keeps one emptied sub-pool as a spare), and the first
   * 64 arenas hold one pool each (then 2, 4, ... up to arenaSize): a small heap takes little more
   * than it uses (at 64 KiB of live data 2.1-2.5x live instead of 7-13x, at 1 MiB 1.3x instead
   * of 1.8x; README, Numbers), for 0.7-3.6% more instructions an event on the shared traces.
   * false: every class takes a whole pool (16 KiB by default) from its first block and every
   * arena is arenaSize, as in CPython.
   */
  subPools?: boolean;
  /**
   * The raw start, for small heaps: a size class that has never taken a pool has its blocks
   * served by the raw allocator (as malloc mode serves them) until the raw chunks of that chunk
   * size (16-byte steps) reach this many live at once or twice this many handed out; then the
   * class takes pools (sub-pools first) for good. `true`: 1024. A heap of a few blocks of most
   * sizes then takes what malloc mode takes instead of a 16 KiB pool slot for its first
   * sub-pools: at 64 KiB of live data 1.15-1.37x live instead of 1.42-1.98x, and less on the
   * whole shared traces too (README, Numbers). Off by default (false, 0): the shared traces'
   * replays take 1-12% more instructions an event with it (json +1%, minidom +5%, compileall +7%,
   * imports +12%: young raw blocks cost a raw call each, and V8 compiles the allocator while they
   * are most of the calls; +15-23% before mallocFresh and rawFree were kept out of line,
   * docs/performance.md). At most 65536.
   */
  rawFirst?: number | boolean;
  /** With threads: how many threads may be attached at once (default 64, at most 4000). */
  maxThreads?: number;
  /**
   * Arena size, a power of two, 1 to 128 pools (default 8 pools: 128 KiB). A hole in the raw heap
   * of half that or more takes an arena too, with the pools that fit.
   */
  arenaSize?: number;
  /**
   * Release modes: record the allocation site (a JS stack) of a sample of the allocations, on
   * average one every this many bytes (`true`: 512 KiB, as Go and jemalloc), so that leaks() and
   * snapshot() group live blocks by site, with estimates weighted back from the samples. Off by
   * default (a heap without it pays nothing). Ignored in the debug modes, where
   * traceAllocations records every site. Kept in the heap: attachHeap() samples too.
   */
  sampleInterval?: number | boolean;
  /**
   * Debug modes: capture a JS stack at every allocation and free (default true in debug modes),
   * keeping DEFAULT_TRACE_FRAMES (4) frames below pymalloc's own, or this many (1-64). Each
   * frame costs time at every capture: fewer for speed, more for deep call chains.
   */
  traceAllocations?: boolean | number;
  /** Debug modes: "throw" a MemoryCorruptionError (default), "warn" on the console, or call a function. */
  onError?: OnError;
  /** Debug modes: freed blocks held back from reuse, at most this many (default 1024; 0: none). */
  quarantineBlocks?: number;
  /** Debug modes: ... and at most this many bytes (default 1 MiB). */
  quarantineBytes?: number;
}

/** Options of attachHeap: where the heap is, and how its debug hooks (if any) behave here. */
export interface AttachOptions {
  heapBase?: number;
  traceAllocations?: boolean | number;
  onError?: OnError;
  /**
   * The heap is a copy (saved bytes loaded again) or its memory's other threads have all ended:
   * no other thread uses it. A heap with threads then has every other thread slot freed (their
   * pools become orphans, adopted as used) and a lock the copy was taken under released; a heap
   * without threads is this thread's (no warning); a memory longer than the copy is the heap's to
   * its growth limit. Default false.
   */
  restored?: boolean;
}

/** Every option of createHeap, named once at run time (TypeScript checks the list against HeapOptions both ways). */
export const HEAP_OPTIONS = {
  allocator: 1, memory: 1, memoryKind: 1, initialBytes: 1, maxBytes: 1, heapBase: 1, poolSize: 1, alignment: 1, threads: 1, hardened: 1,
  subPools: 1, rawFirst: 1, maxThreads: 1, arenaSize: 1, sampleInterval: 1, traceAllocations: 1, onError: 1, quarantineBlocks: 1, quarantineBytes: 1,
} as const satisfies Record<keyof HeapOptions, 1>;
/** attachHeap's options (the rest of a heap's are in its memory). */
export const ATTACH_OPTIONS = { heapBase: 1, traceAllocations: 1, onError: 1, restored: 1 } as const satisfies Record<keyof AttachOptions, 1>;

/**
 * The options object of call `where`: a TypeError when it is no object, or for an option the call
 * does not know (a typo, or an option of another call), naming it and what is known: an option
 * that is silently ignored is a bug found late (`debug: true` for a debug heap made a release
 * one). Keys whose value is undefined are let through.
 */
const ctorName = (o: object): string => (o as { constructor?: { name?: string } }).constructor?.name ?? "object";

export function checkOptions(o: unknown, known: Readonly<Record<string, unknown>>, where: string): void {
  if (o === null || typeof o !== "object") throw new TypeError(`${where}: options must be an object, got ${typeName(o)}`);
  // A memory passed where the options go (createHeap(buffer)) made a default heap in a new
  // memory; a Map's or an array's entries are no options either: both passed silently.
  const M = globalThis as { SharedArrayBuffer?: Function; WebAssembly?: { Memory?: Function } };
  if (o instanceof ArrayBuffer || (M.SharedArrayBuffer !== undefined && o instanceof M.SharedArrayBuffer) || (M.WebAssembly?.Memory !== undefined && o instanceof M.WebAssembly.Memory) || ArrayBuffer.isView(o))
    throw new TypeError(`${where}: options must be an object of options, got a ${ctorName(o)}: pass a memory as { memory }`);
  if (Array.isArray(o) || o instanceof Map || o instanceof Set) throw new TypeError(`${where}: options must be a plain object of options, got a ${ctorName(o)}`);
  for (const k of Object.keys(o)) {
    if (Object.prototype.hasOwnProperty.call(known, k) || (o as Record<string, unknown>)[k] === undefined) continue;
    const hint = k === "debug" ? ' (a debug heap is allocator: "debug")' : Object.prototype.hasOwnProperty.call(HEAP_OPTIONS, k) ? ` (an option of createHeap, not of ${where})` : "";
    throw new TypeError(`${where}: unknown option ${JSON.stringify(k)}${hint}; its options are ${Object.keys(known).join(", ")}`);
  }
}

export function debugOptions(o: HeapOptions | AttachOptions): DebugOptions {
  // undefined is "not given" (checkOptions); null is no setting: an error, as for every other option.
  const on = o.onError === undefined ? "throw" : o.onError;
  if (on !== "throw" && on !== "warn" && typeof on !== "function") throw new (typeof on === "string" ? RangeError : TypeError)(`onError must be "throw", "warn" or a function, got ${shown(on)}`);
  const t = o.traceAllocations === undefined ? true : o.traceAllocations;
  if (typeof t !== "boolean" && typeof t !== "number") throw new TypeError(`traceAllocations must be a boolean or a number of stack frames, got ${typeName(t)}`);
  if (typeof t === "number" && (!Number.isInteger(t) || t < 0 || t > MAX_TRACE_FRAMES))
    throw new RangeError(`traceAllocations: stack frames must be an integer from 0 (off) to ${MAX_TRACE_FRAMES}, got ${t}`);
  const frames = t === true ? DEFAULT_TRACE_FRAMES : t === false ? 0 : t;
  const h = o as HeapOptions;
  return {
    traceFrames: frames,
    onError: on,
    quarantineBlocks: byteOption(h.quarantineBlocks, "quarantineBlocks", DEFAULT_QUARANTINE_BLOCKS),
    quarantineBytes: byteOption(h.quarantineBytes, "quarantineBytes", DEFAULT_QUARANTINE_BYTES),
  };
}

export interface ResolvedOptions {
  mode: AllocatorMode;
  memory: MemorySource | undefined;
  memoryKind: MemoryKind;
  initialBytes: number;
  maxBytes: number;
  heapBase: number;
  poolShift: number;
  alignShift: number;
  arenaShift: number;
  threads: boolean;
  hardened: boolean;
  subPools: boolean;
  /** The raw start's live limit (SubPool.RAW_FIRST); 0: off. */
  rawFirst: number;
  /** Thread slots: 0 without threads. */
  maxThreads: number;
  /** Mean bytes between sampled sites; 0: off. */
  sampleInterval: number;
  debug: DebugOptions;
}

function envMode(): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const v = env?.PYMALLOC;
  return v === undefined || v === "" ? undefined : v;
}

export function parseMode(v: unknown, where: string): AllocatorMode {
  if (typeof v === "string" && (ALLOCATOR_MODES as readonly string[]).includes(v)) return v as AllocatorMode;
  // A value of the wrong type is a TypeError, as for every other option; a string none of the modes, a RangeError.
  throw new (typeof v === "string" ? RangeError : TypeError)(`${where}: unknown allocator ${shown(v)}; expected one of ${ALLOCATOR_MODES.join(", ")}`);
}

function parseKind(v: unknown): MemoryKind {
  if ((MEMORY_KINDS as unknown[]).includes(v)) return v as MemoryKind;
  throw new (typeof v === "string" ? RangeError : TypeError)(`memoryKind: unknown kind ${shown(v)}; expected one of ${MEMORY_KINDS.join(", ")}`);
}

/** The fastest kind this platform offers (see HeapOptions.memoryKind). */
export function defaultMemoryKind(): MemoryKind {
  try {
    const probe = new SharedArrayBuffer(0, { maxByteLength: 65536 }) as SharedArrayBuffer & { growable?: boolean };
    if (probe.growable) return "growable-shared";
  } catch {
    // no SharedArrayBuffer here (a page that is not cross-origin isolated)
  }
  return typeof WebAssembly !== "undefined" ? "wasm" : "resizable";
}

/**
 * initialBytes and maxBytes of a memory we create: the growth limit is the user's. A maxBytes
 * below the default start makes the memory start at maxBytes (before, it was raised to 1 MiB:
 * a 256 KiB cap gave a 1 MiB heap); one below a WebAssembly page (64 KiB, the unit memories grow
 * by), or below an initialBytes given with it, is a RangeError.
 */
function sizes(o: HeapOptions): { initialBytes: number; maxBytes: number } {
  const maxBytes = Math.min(byteOption(o.maxBytes, "maxBytes", DEFAULT_MAX_BYTES), DEFAULT_MAX_BYTES);
  if (o.memory === undefined && maxBytes < WASM_PAGE) throw new RangeError(`maxBytes must be at least ${WASM_PAGE} (one WebAssembly page: memories grow by pages), got ${maxBytes}`);
  const initialBytes = byteOption(o.initialBytes, "initialBytes", Math.min(DEFAULT_INITIAL_BYTES, maxBytes));
  if (o.memory === undefined && o.initialBytes !== undefined && initialBytes > maxBytes) throw new RangeError(`initialBytes ${initialBytes} exceeds maxBytes ${maxBytes}`);
  return { initialBytes, maxBytes };
}

export function byteOption(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number") throw new TypeError(`${name} must be a number, got ${typeof v}`);
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
  return v;
}

function boolOption(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") throw new TypeError(`${name} must be a boolean, got ${typeof v}`);
  return v;
}

function sampleOption(v: unknown): number {
  if (v === undefined || v === false) return 0;
  if (v === true) return DEFAULT_SAMPLE_INTERVAL;
  const n = byteOption(v, "sampleInterval", 0);
  if (n < 1 || n > MAX_SAMPLE_INTERVAL) throw new RangeError(`sampleInterval must be true or a number of bytes from 1 to ${MAX_SAMPLE_INTERVAL}, got ${n}`);
  return n;
}

function rawFirstOption(v: unknown): number {
  if (v === undefined || v === false) return 0;
  if (v === true) return RawStart.DEFAULT_FIRST;
  const n = byteOption(v, "rawFirst", 0);
  if (n > MAX_RAW_FIRST) throw new RangeError(`rawFirst must be from 0 to ${MAX_RAW_FIRST}, got ${n}`);
  return n;
}

function threadCount(v: unknown): number {
  const n = byteOption(v, "maxThreads", DEFAULT_MAX_THREADS);
  if (n < 1 || n > MAX_MAX_THREADS) throw new RangeError(`maxThreads must be from 1 to ${MAX_MAX_THREADS}, got ${n}`);
  return n;
}

function shiftOption(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = byteOption(v, name, 0);
  const s = Math.log2(n);
  if (!Number.isInteger(s)) throw new RangeError(`${name} must be a power of two, got ${n}`);
  return s;
}

function alignOption(v: unknown): number {
  if (v === undefined) return DEFAULT_ALIGNMENT_SHIFT;
  if (v === 1 << Size.ALIGNMENT_SHIFT || v === 1 << Size.MIN_ALIGNMENT_SHIFT) return Math.log2(v);
  if (typeof v !== "number") throw new TypeError(`alignment must be a number (${1 << Size.MIN_ALIGNMENT_SHIFT} or ${1 << Size.ALIGNMENT_SHIFT}), got ${typeof v} ${JSON.stringify(String(v))}`);
  throw new RangeError(`alignment must be ${1 << Size.MIN_ALIGNMENT_SHIFT} or ${1 << Size.ALIGNMENT_SHIFT}, got ${String(v)}`);
}

export function resolveOptions(o: HeapOptions = {}): ResolvedOptions {
  checkOptions(o, HEAP_OPTIONS, "createHeap");
  const env = envMode();
  const threads = boolOption(o.threads, "threads", false);
  // maxThreads without threads: checked, no effect (one options object serves every setting).
  const maxThreads = threadCount(o.maxThreads);
  const poolShift = shiftOption(o.poolSize, "poolSize", DEFAULT_POOL_SHIFT);
  const mode = o.allocator !== undefined ? parseMode(o.allocator, "allocator") : env !== undefined ? parseMode(env, "PYMALLOC") : "pymalloc";
  return {
    mode,
    memory: o.memory,
    memoryKind: o.memoryKind === undefined ? defaultMemoryKind() : parseKind(o.memoryKind),
    ...sizes(o),
    heapBase: byteOption(o.heapBase, "heapBase", 0),
    poolShift,
    alignShift: alignOption(o.alignment),
    arenaShift: shiftOption(o.arenaSize, "arenaSize", poolShift + DEFAULT_POOLS_PER_ARENA_SHIFT),
    threads,
    hardened: boolOption(o.hardened, "hardened", false),
    subPools: boolOption(o.subPools, "subPools", true),
    rawFirst: rawFirstOption(o.rawFirst),
    maxThreads: threads ? maxThreads : 0,
    sampleInterval: sampleOption(o.sampleInterval),
    debug: debugOptions(o),
  };
}
