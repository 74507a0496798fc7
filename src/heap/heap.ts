/**
 * heap/heap.ts — a heap: memory + raw allocator + object allocator + the three families.
 *
 * Owns: createHeap/attachHeap, the choice of families for each allocator mode, the views a user
 * reads and writes through, usableSize, stats() and check() (delegated to introspect/).
 * Must not: keep allocator state in JS: everything lives in the memory, so attachHeap() on the
 * same buffer gives the same heap. Fields here are caches of it.
 */

import {
  DEFAULT_MAX_BYTES,
  H,
  HEAP_MAGIC,
  HEAP_VERSION,
  MODE_IDS,
} from "../constants.js";
import { PymallocError, hex } from "../errors.js";
import { DebugFamily, DebugState, heapDebugHost, type DebugOptions, type LeakReport, leakReport } from "../debug/hooks.js";
import { Memory, type MemorySource } from "../memory/memory.js";
import { ObjectAllocator } from "../obmalloc/obmalloc.js";
import { RawAllocator } from "../raw/tlsf.js";
import { checkHeap } from "../introspect/check.js";
import { heapStats, type HeapStats } from "../introspect/stats.js";
import { AllocatorFamily, badPointer, type Family } from "./families.js";
import { checkShifts, computeLayout, formatHeap } from "./layout.js";
import { debugOptions, resolveOptions, type AllocatorMode, type AttachOptions, type HeapOptions } from "./options.js";
import { forEachLiveBlock } from "../introspect/walk.js";
import { debugMallocStats } from "../introspect/mallocstats.js";
import { wasmImports, type FamilyName, type WasmAllocatorImports } from "../compat/wasm-imports.js";

export interface WalkedBlock {
  address: number;
  size: number;
  family: string | undefined;
  sizeClass: number;
  serial?: number;
}

const MODE_NAMES = Object.fromEntries(Object.entries(MODE_IDS).map(([k, v]) => [v, k])) as Record<number, AllocatorMode>;

export class Heap {
  readonly memory: Memory;
  readonly mode: AllocatorMode;
  readonly heapBase: number;
  /** The general-purpose allocator (every raw block, arenas, and large requests). */
  readonly rawAllocator: RawAllocator;
  /** The small-object allocator (pools and arenas). */
  readonly objectAllocator: ObjectAllocator;
  /** PyObject_* family ('o'). */
  readonly obj: Family;
  /** PyMem_* family ('m'), the chunk family. */
  readonly mem: Family;
  /** PyMem_Raw* family ('r'): always the raw allocator. */
  readonly raw: Family;
  /** The debug hooks, in the debug modes. */
  readonly debug: DebugState | undefined;

  /** @internal use createHeap() or attachHeap(). */
  constructor(memory: Memory, heapBase: number, debug: DebugOptions) {
    this.memory = memory;
    this.heapBase = heapBase;
    const u32 = memory.views.u32;
    const hw = heapBase >>> 2;
    this.mode = MODE_NAMES[u32[hw + H.MODE]];
    if (this.mode === undefined) throw new PymallocError(`heap at ${hex(heapBase)} names an unknown allocator mode ${u32[hw + H.MODE]}`, heapBase);
    this.rawAllocator = new RawAllocator(memory, heapBase);
    this.objectAllocator = new ObjectAllocator(memory, this.rawAllocator, heapBase);
    const small = this.mode === "malloc" || this.mode === "malloc_debug" ? this.rawAllocator : this.objectAllocator;
    const below = { o: new AllocatorFamily("o", small), m: new AllocatorFamily("m", small), r: new AllocatorFamily("r", this.rawAllocator) };
    if (this.mode === "pymalloc" || this.mode === "malloc") {
      this.obj = below.o;
      this.mem = below.m;
      this.raw = below.r;
      this.debug = undefined;
    } else {
      // Debug modes: the hooks wrap each family over whichever allocator is below it.
      const d = new DebugState(heapDebugHost(this), debug, below);
      this.debug = d;
      this.obj = new DebugFamily("o", below.o, d);
      this.mem = new DebugFamily("m", below.m, d);
      this.raw = new DebugFamily("r", below.r, d);
    }
  }

  get buffer(): ArrayBuffer | SharedArrayBuffer {
    this.memory.refresh();
    return this.memory.buffer;
  }
  get u8(): Uint8Array {
    this.memory.refresh();
    return this.memory.views.u8;
  }
  get u32(): Uint32Array {
    this.memory.refresh();
    return this.memory.views.u32;
  }
  get i32(): Int32Array {
    this.memory.refresh();
    return this.memory.views.i32;
  }
  get f64(): Float64Array {
    this.memory.refresh();
    return this.memory.views.f64;
  }
  get dv(): DataView {
    this.memory.refresh();
    return this.memory.views.dv;
  }

  /** Bytes usable at p (like malloc_usable_size); throws for anything but a live block. */
  usableSize(p: number): number {
    if ((p >>> 0) !== p || p === 0) badPointer("usableSize", p);
    return this.debug ? this.debug.usableSize(p) : this.objectAllocator.usableSize(p);
  }

  /**
   * Live blocks with size, family, serial and allocation site, grouped by site with totals.
   * Families and sites are known in the debug modes; release modes list blocks by usable size.
   */
  leaks(): LeakReport {
    if (this.debug) return this.debug.leaks();
    const blocks: LeakReport["blocks"] = [];
    forEachLiveBlock(this, (b) => blocks.push({ address: b.address, size: b.usable, family: "?", serial: 0, site: "(sites are recorded in the debug modes)" }));
    return leakReport(blocks);
  }

  /** Numbers read from the heap's state: memory, footprint, blocks per size class, arenas. */
  stats(): HeapStats {
    return heapStats(this);
  }

  /** CPython's sys._debugmallocstats() for this heap: size classes, arena and byte accounting, raw allocator. */
  debugMallocStats(): string {
    return debugMallocStats(this);
  }

  /**
   * Visit every live block: its address (the pointer the user holds), size (requested bytes in
   * the debug modes, usable bytes otherwise), family ('r', 'm', 'o'; known in the debug modes)
   * and size class (-1 for raw blocks).
   */
  walk(fn: (block: WalkedBlock) => void): void {
    if (this.debug) {
      this.debug.walk(fn);
      return;
    }
    const ring = this.u32[(this.heapBase >>> 2) + H.QUARANTINE];
    forEachLiveBlock(this, (b) => {
      if (b.address !== ring) fn({ address: b.address, size: b.usable, family: undefined, sizeClass: b.sizeClass });
    });
  }

  /**
   * malloc/free/calloc/realloc (and the memory) for a WebAssembly module to import, so that its C
   * code allocates from this heap. The heap must be in a WebAssembly.Memory, above the module's
   * static data (heapBase: its __heap_base); `family` defaults to "mem". See instantiateWithHeap().
   */
  wasmImports(options: { family?: FamilyName } = {}): WasmAllocatorImports {
    return wasmImports(this, options);
  }

  /** Walk every structure; throws HeapCorruptionError naming the first fault. */
  check(): void {
    checkHeap(this);
    this.debug?.checkAll();
  }
}

/** Create a heap in a new memory, or in the one given (which it formats). */
export function createHeap(options: HeapOptions = {}): Heap {
  const o = resolveOptions(options);
  checkShifts(o.poolShift, o.arenaShift);
  const memory = o.memory
    ? new Memory(o.memory, o.maxBytes)
    : Memory.create(o.memoryKind, o.initialBytes, o.maxBytes);
  const heapBase = Math.ceil(o.heapBase / 16) * 16;
  const params = { heapBase, poolShift: o.poolShift, arenaShift: o.arenaShift, maxBytes: memory.maxBytes, mode: MODE_IDS[o.mode] };
  const layout = computeLayout(params);
  if (!memory.grow(layout.heapStart + 16))
    throw new RangeError(`memory too small for a heap: needs at least ${layout.heapStart + 16} bytes from heapBase ${heapBase}`);
  formatHeap(memory.views.u8, memory.views.u32, params, layout);
  return new Heap(memory, heapBase, o.debug);
}

/** The heap already in this memory (made by createHeap here, in another thread, or saved). */
export function attachHeap(memory: MemorySource, options: AttachOptions = {}): Heap {
  const heapBase = Math.ceil((options.heapBase ?? 0) / 16) * 16;
  const m = new Memory(memory, DEFAULT_MAX_BYTES);
  const u32 = m.views.u32;
  const hw = heapBase >>> 2;
  if (m.byteLength < heapBase + 128 || u32[hw + H.MAGIC] !== HEAP_MAGIC)
    throw new PymallocError(`no pymalloc heap at ${hex(heapBase)} in this memory`, heapBase);
  if (u32[hw + H.VERSION] !== HEAP_VERSION)
    throw new PymallocError(`heap at ${hex(heapBase)} has layout version ${u32[hw + H.VERSION]}; this build reads ${HEAP_VERSION}`, heapBase);
  const maxBytes = u32[hw + H.MAX_BYTES];
  return new Heap(maxBytes === m.maxBytes ? m : new Memory(memory, maxBytes), heapBase, debugOptions(options));
}
