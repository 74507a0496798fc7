/**
 * compat/foreign.ts — our three families, views and debug hooks over someone else's allocator.
 *
 * Owns: ForeignAllocator (a BlockAllocator over foreign malloc/free/realloc/usable-size
 * functions, refreshing views after a foreign call that grew the memory: a block past the views'
 * end, or a detached view of a WebAssembly memory), the realloc provided on top of malloc/free when the allocator has none, and
 * ForeignHeap: the object an adapter returns (raw/mem/obj, views, usableSize, check, leaks).
 * Must not: know which foreign allocator it sits on (compat/adapters.ts makes the specs).
 *
 * This is the seed's pymemcompat.h in reverse too: code written against heap.raw/mem/obj runs
 * unchanged whether the heap is pymalloc or a wasm module's malloc, and "debug" adds the same
 * pads, fills, family checks, quarantine and reports as on pymalloc.
 */

import { InvalidPointerError, NotImplementedError, PymallocError, hex, typeName } from "../errors.js";
import { DebugFamily, DebugState } from "../debug/hooks.js";
import type { DebugHost } from "../debug/host.js";
import { leakReport, type LeakReport } from "../debug/leaks.js";
import { AllocatorFamily, MAX_ALIGNMENT, badPointer, checkWalker, type BlockAllocator, type Family } from "../heap/families.js";
import { debugOptions, type HeapOptions } from "../heap/options.js";
import { Memory, MemoryViews, type MemorySource } from "../memory/memory.js";
import { Chunk, DEFAULT_MAX_BYTES } from "../constants.js";
import { LiveCtl, LiveTable, blockFault, handedTwice } from "./live-table.js";
import type { WalkedBlock } from "../heap/heap.js";

/** A foreign allocator, as the adapters describe it. Pointers are byte offsets in `memory`. */
export interface ForeignSpec {
  /** Shown in errors and reports. */
  name: string;
  memory: MemorySource;
  malloc(n: number): number;
  free(p: number): void;
  realloc?: (p: number, n: number) => number;
  usableSize?: (p: number) => number;
  /** C's aligned_alloc (alignment a power of two), when the allocator has one. */
  memalign?: (alignment: number, n: number) => number;
  /** Alignment of the blocks it returns (default 8). */
  alignment?: number;
}

/** Options of every adapter: release ("malloc", the default) or "debug", and the debug knobs. */
export interface AdapterOptions extends Pick<HeapOptions, "traceAllocations" | "onError" | "quarantineBlocks" | "quarantineBytes"> {
  allocator?: "malloc" | "debug";
  /**
   * Keep a table of live blocks (in the foreign memory) even in release mode, so that a free of a
   * foreign pointer or a double free throws InvalidPointerError instead of reaching the foreign
   * allocator. Always on in debug mode, and when the allocator cannot tell block sizes.
   */
  trackBlocks?: boolean;
}

/** The adapters' options, named once at run time (checked against AdapterOptions); fromExports also takes memory and alignment. */
export const ADAPTER_OPTIONS = { allocator: 1, trackBlocks: 1, traceAllocations: 1, onError: 1, quarantineBlocks: 1, quarantineBytes: 1 } as const satisfies Record<keyof AdapterOptions, 1>;

/** The foreign allocator as the block allocator under our families. */
export class ForeignAllocator implements BlockAllocator {
  u8: Uint8Array;
  u32: Uint32Array;
  f64: Float64Array;
  readonly memory: Memory;
  readonly spec: ForeignSpec;
  /** Live blocks, when tracked (see AdapterOptions.trackBlocks). */
  table: LiveTable | null = null;
  private readonly alignMask: number; // the blocks' alignment - 1 (checkReturned)

  constructor(spec: ForeignSpec, memory: Memory) {
    this.spec = spec;
    this.memory = memory;
    this.u8 = memory.views.u8;
    this.u32 = memory.views.u32;
    this.f64 = memory.views.f64;
    this.alignMask = (spec.alignment ?? 8) - 1;
    memory.onViews((v) => {
      this.u8 = v.u8;
      this.u32 = v.u32;
      this.f64 = v.f64;
    });
  }

  /** Blocks are aligned to 2^alignShift bytes (the spec's alignment, default 8). */
  get alignShift(): number {
    return 31 - Math.clz32(this.spec.alignment ?? 8);
  }

  /** The foreign malloc, for memory of our own (tables, the quarantine ring): never tracked. */
  mallocUntracked(n: number): number {
    const p = this.address("malloc", this.spec.malloc(n));
    this.memory.refresh();
    return p;
  }

  freeUntracked(p: number): void {
    this.spec.free(p);
  }

  malloc(n: number): number {
    // Some allocators wrap their size arithmetic on requests near 4 GiB: refuse those here.
    if (n > Chunk.MAX_REQUEST) return 0;
    return this.obtained(this.address("malloc", this.spec.malloc(n === 0 ? 1 : n)), n);
  }

  /**
   * What a foreign allocation call returned, as an address: a wasm export's i32 (negative past
   * 2 GiB) or a JS function's number from 0 to 2^32 - 1; null and undefined are NULL. Anything
   * else (2^32 + 4096, a fraction, NaN, a string) is no address, and wrapping it to 32 bits would
   * hand on another block's: PymallocError naming the value.
   */
  private address(op: string, v: unknown): number {
    if (typeof v === "number" && ((v | 0) === v || (v >>> 0) === v)) return v >>> 0;
    if (v === null || v === undefined) return 0;
    throw new PymallocError(`${this.spec.name}'s ${op} returned ${typeof v === "number" ? String(v) : typeof v === "string" ? JSON.stringify(v) : typeof v}, which is no address in a 32-bit memory (an integer from 0 to 2^32 - 1, or a wasm i32); nothing was handed on`, 0);
  }

  /**
   * Block p (or 0) just handed out for n bytes: views refreshed if the foreign call grew the
   * memory (a block past their end, or a detached view reading length 0), the block tracked when
   * blocks are (given back, 0, when the table cannot take it).
   */
  private obtained(p: number, n: number): number {
    if (p + n > this.u8.length || this.u32[0] === undefined) this.memory.refresh(); // memory.ts, DETACHED
    if (p !== 0) this.checkReturned("malloc", p, n);
    if (p !== 0 && this.table !== null && !this.table.insert(p, this.sizeOf(p, n))) {
      this.spec.free(p);
      return 0;
    }
    return p;
  }

  /**
   * The foreign aligned_alloc, when there is one and the alignment is the block's own (offset a
   * multiple of it: the debug header must not move the user's bytes off it); else 0.
   */
  mallocAligned(n: number, align: number, offset: number): number {
    const memalign = this.spec.memalign;
    if (memalign === undefined || offset % align !== 0 || n > Chunk.MAX_REQUEST) return 0;
    const p = this.address("aligned_alloc", memalign(align, n === 0 ? 1 : n));
    if (p % align !== 0) throw new PymallocError(`${this.spec.name}'s aligned_alloc(${align}, ${n}) returned ${hex(p)}, not a multiple of ${align}`, p);
    return this.obtained(p, n);
  }

  /**
   * The error for a pointer the table does not know. One past the views' end is named as such:
   * the memory grew where this handle did not see it (a foreign allocator in another thread), so
   * the views the user was given do not reach the block (README, Use: heap.refresh()).
   */
  private notABlock(op: string, p: number): InvalidPointerError {
    const len = this.u8.length;
    if (p >= len)
      return new InvalidPointerError(op, p, "beyond-views", `lies beyond this heap's views (${len} bytes): the memory grew in another thread, and ${this.spec.name} here never allocated it; heap.refresh() makes heap.u8 and the other views reach it`);
    return new InvalidPointerError(op, p, "not-a-block", `not a live block of ${this.spec.name} (never allocated here, or freed already)`);
  }

  private impossible(op: string, p: number): void {
    // Untracked blocks (no live-block table): a pointer no block can start at is refused before
    // the foreign code sees it, which would read past the memory (a WebAssembly trap, "memory
    // access out of bounds") or take it: past the memory's end (after a refresh: it may have grown
    // in another thread) "beyond-views", off the blocks' alignment "misaligned". Called when p >=
    // the views' length or is off the alignment (one test on the path, inline).
    if (p >= this.u8.length) this.memory.refresh();
    const len = this.u8.length;
    if (p >= len) throw new InvalidPointerError(op, p, "beyond-views", `past the memory's end (${len} bytes): no block is there`);
    if ((p & this.alignMask) !== 0) throw new InvalidPointerError(op, p, "misaligned", `not ${this.alignMask + 1}-byte aligned as every block is: no block starts here`);
  }

  /**
   * A block the foreign allocator just returned for n bytes must lie in its memory, 4-byte
   * aligned: handed on as it is, a wrong address (a signed -16 read as 0xfffffff0, an address
   * past the memory) would be the user's to write through. PymallocError naming it.
   */
  private checkReturned(op: string, p: number, n: number): void {
    const why = blockFault(p, n, this.u8.length);
    if (why !== null) throw new PymallocError(`${this.spec.name}'s ${op} returned ${hex(p)} for ${n} bytes: ${why}; no block of it was handed on`, p);
    // The alignment the adapter was told (mallocAs and the debug header rely on it): a block off
    // it goes back to the allocator, and the call is refused with the reason.
    const align = 1 << this.alignShift;
    if ((p & (align - 1)) !== 0) {
      this.spec.free(p);
      throw new PymallocError(`${this.spec.name}'s ${op} returned ${hex(p)}, not ${align}-byte aligned as its adapter was told (alignment: ${align}); the block went back to it`, p);
    }
  }

  /** The foreign usableSize of block p (asked for `requested` bytes), checked: at least what was asked for, inside the memory. */
  private sizeOf(p: number, requested: number): number {
    if (!this.spec.usableSize) return Math.max(requested, 1);
    const u = this.spec.usableSize(p) >>> 0;
    if (u < requested || p + u > this.u8.length)
      throw new PymallocError(
        requested === 0
          ? `${this.spec.name}'s usableSize(${hex(p)}) returned ${u}, a size past the end of its memory: no live block at this address?`
          : `${this.spec.name}'s usableSize(${hex(p)}) returned ${u} for a block of ${requested} bytes: ${u < requested ? "less than was asked for" : "past the end of its memory"}`,
        p,
      );
    return u;
  }

  /** Usable bytes of a live block; throws InvalidPointerError when the table does not know it. */
  usable(op: string, p: number): number {
    if (this.table !== null) {
      const n = this.table.get(p);
      if (n < 0) throw this.notABlock(op, p);
      return n;
    }
    if (this.spec.usableSize) {
      if (p >= this.u8.length || (p & this.alignMask) !== 0) this.impossible(op, p);
      return this.sizeOf(p, 0);
    }
    throw new NotImplementedError(`${this.spec.name} cannot tell block sizes`);
  }

  realloc(p: number, n: number): number {
    const old = this.table !== null ? this.usable("realloc", p) : -1;
    if (this.table === null && (p >= this.u8.length || (p & this.alignMask) !== 0)) this.impossible("realloc", p);
    if (n > Chunk.MAX_REQUEST) return 0;
    if (this.spec.realloc) {
      const q = this.address("realloc", this.spec.realloc(p, n === 0 ? 1 : n));
      if (q + n > this.u8.length || this.u32[0] === undefined) this.memory.refresh(); // memory.ts, DETACHED
      if (q !== 0) this.checkReturned("realloc", q, n);
      if (q !== 0 && this.table !== null) this.table.move(p, q, this.sizeOf(q, n));
      return q;
    }
    // No realloc below: a new block, the bytes both can hold, the old one freed.
    const keep = Math.min(n, old >= 0 ? old : this.usable("realloc", p));
    const q = this.malloc(n);
    if (q === 0) return 0;
    this.u8.copyWithin(q, p, p + keep);
    this.free(p);
    return q;
  }

  free(p: number): void {
    if (this.table !== null) {
      if (this.table.remove(p) < 0) throw this.notABlock("free", p);
    } else if (p >= this.u8.length || (p & this.alignMask) !== 0) this.impossible("free", p);
    this.spec.free(p);
    if (this.u32[0] === undefined) this.memory.refresh(); // a WebAssembly free that grew the memory (memory.ts, DETACHED)
  }
}

/** The debug hooks' view of a foreign allocator: the live-block table answers for it (a class: see HeapDebugHost). */
class ForeignDebugHost implements DebugHost {
  readonly memory: Memory;
  readonly serialWord: number;
  readonly ringWord: number;
  readonly alignment: number;
  private readonly fa: ForeignAllocator;
  private readonly table: LiveTable;
  constructor(fa: ForeignAllocator, table: LiveTable, alignment: number) {
    this.fa = fa;
    this.table = table;
    this.memory = fa.memory;
    this.serialWord = (table.ctl + LiveCtl.SERIAL) >>> 2;
    this.ringWord = (table.ctl + LiveCtl.RING) >>> 2;
    this.alignment = alignment;
  }
  allocState(bytes: number): number {
    const p = this.fa.mallocUntracked(bytes);
    if (p !== 0 && this.table.overlaps(p, bytes)) throw handedTwice(p, "the debug quarantine");
    return p;
  }
  obtained(base: number): number {
    return this.table.get(base);
  }
  releasing(): void {}
  usableTrusted(base: number): number {
    return this.table.get(base);
  }
  usableSize(base: number): number {
    return this.fa.usable("lookup", base); // the debug report names the real operation
  }
  liveUsable(base: number): number {
    return Math.max(this.table.get(base), 0);
  }
  readonly sizesEveryBlock = false;
  forEachBlock(fn: (base: number, sizeClass: number) => void): void {
    this.table.forEach((base) => fn(base, -1));
  }
}

/** The spec of a `new ForeignHeap()` (an exported class): TypeError naming what is missing or wrong. */
function checkSpec(spec: ForeignSpec): void {
  if (spec === null || typeof spec !== "object") throw new TypeError(`ForeignHeap: spec must be { name, memory, malloc, free }, got ${typeName(spec)}`);
  if (typeof spec.name !== "string") throw new TypeError("ForeignHeap: spec.name must be a string");
  if (spec.memory == null) throw new TypeError("ForeignHeap: spec.memory is missing (a buffer or WebAssembly.Memory)");
  for (const k of ["malloc", "free", "realloc", "usableSize", "memalign"] as const)
    if (typeof spec[k] !== "function" && (k === "malloc" || k === "free" || spec[k] !== undefined)) throw new TypeError(`ForeignHeap: spec.${k} must be a function`);
}

/** A heap over a foreign allocator: the same families and views as a pymalloc Heap. */
export class ForeignHeap extends MemoryViews {
  readonly name: string;
  readonly mode: "malloc" | "debug";
  readonly alignment: number;
  readonly allocator: ForeignAllocator;
  readonly raw: Family;
  readonly mem: Family;
  readonly obj: Family;
  readonly debug: DebugState | undefined;

  constructor(spec: ForeignSpec, options: AdapterOptions = {}) {
    checkSpec(spec);
    if (options === null || typeof options !== "object") throw new TypeError("adapter options must be an object");
    const mode = options.allocator ?? "malloc";
    if (mode !== "malloc" && mode !== "debug") throw new RangeError(`adapter allocator must be "malloc" or "debug", got ${String(mode)}`);
    const alignment = spec.alignment ?? 8;
    if (typeof alignment !== "number") throw new TypeError(`alignment must be a number, got ${typeof alignment}`);
    if (!Number.isInteger(alignment) || alignment < 4 || alignment > MAX_ALIGNMENT || (alignment & (alignment - 1)) !== 0)
      throw new RangeError(`alignment must be a power of two from 4 to ${MAX_ALIGNMENT}, got ${alignment}`);
    super(new Memory(spec.memory, DEFAULT_MAX_BYTES));
    this.name = spec.name;
    this.mode = mode;
    this.alignment = alignment;
    const fa = new ForeignAllocator(spec, this.memory);
    this.allocator = fa;
    if (mode === "debug" || options.trackBlocks === true || !spec.usableSize) {
      const usable = spec.usableSize;
      const table = LiveTable.create({ memory: this.memory, malloc: (n) => fa.mallocUntracked(n), free: (p) => fa.freeUntracked(p), size: usable && ((p) => Number(usable(p)) >>> 0) });
      if (table === null) throw new RangeError(`${spec.name} could not allocate pymalloc's live-block table`);
      fa.table = table;
    }
    const below = { r: new AllocatorFamily("r", fa), m: new AllocatorFamily("m", fa), o: new AllocatorFamily("o", fa) };
    if (mode === "debug") {
      const d = new DebugState(new ForeignDebugHost(fa, fa.table!, alignment), debugOptions(options), below);
      this.debug = d;
      this.raw = new DebugFamily("r", below.r, d);
      this.mem = new DebugFamily("m", below.m, d);
      this.obj = new DebugFamily("o", below.o, d);
    } else {
      this.debug = undefined;
      this.raw = below.r;
      this.mem = below.m;
      this.obj = below.o;
    }
  }

  /** Bytes usable at p: the requested size in debug mode, else what the allocator (or our table) says. */
  usableSize(p: number): number {
    if (typeof p !== "number" || (p >>> 0) !== p || p === 0) badPointer("usableSize", p);
    this.memory.current(); // views detached by an outside growth made current first (memory.ts, DETACHED)
    return this.debug ? this.debug.usableSize(p) : this.allocator.usable("usableSize", p);
  }

  /** Live blocks, from the table (when blocks are tracked). */
  walk(fn: (block: WalkedBlock) => void): void {
    checkWalker(fn);
    this.memory.current(); // as in usableSize
    if (this.debug) {
      this.debug.walk(fn);
      return;
    }
    const t = this.allocator.table;
    if (t === null) throw new NotImplementedError(`${this.name}: walk() needs trackBlocks: true`);
    t.forEach((address, size) => fn({ address, size, family: undefined, sizeClass: -1 }));
  }

  leaks(): LeakReport {
    this.memory.current(); // as in usableSize
    if (this.debug) return this.debug.leaks();
    const blocks: LeakReport["blocks"] = [];
    this.walk((b) => blocks.push({ address: b.address, size: b.size, family: "?", serial: 0, site: "(sites are recorded in debug mode)" }));
    return leakReport(blocks);
  }

  /** Our own structures (the live-block table), then every debug block's pads and quarantine. */
  check(): void {
    this.memory.current(); // as in usableSize
    const t = this.allocator.table;
    if (t !== null) {
      t.verify(); // HeapCorruptionError naming the word
    }
    this.debug?.checkAll();
  }

  /** Release every quarantined block to the allocator (debug mode). */
  drainQuarantine(): void {
    this.memory.current(); // as in usableSize
    this.debug?.drainQuarantine();
  }

  override toString(): string {
    return `ForeignHeap(${this.name}, ${this.mode}, ${hex(this.memory.byteLength)} bytes)`;
  }
}
