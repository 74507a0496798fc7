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
import { NotImplementedError, PymallocError, hex } from "../errors.js";
import { Memory, type MemorySource } from "../memory/memory.js";
import { ObjectAllocator } from "../obmalloc/obmalloc.js";
import { RawAllocator } from "../raw/tlsf.js";
import { checkHeap } from "../introspect/check.js";
import { heapStats, type HeapStats } from "../introspect/stats.js";
import { AllocatorFamily, badPointer, type Family } from "./families.js";
import { checkShifts, computeLayout, formatHeap } from "./layout.js";
import { resolveOptions, type AllocatorMode, type HeapOptions } from "./options.js";

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

  /** @internal use createHeap() or attachHeap(). */
  constructor(memory: Memory, heapBase: number) {
    this.memory = memory;
    this.heapBase = heapBase;
    const u32 = memory.views.u32;
    const hw = heapBase >>> 2;
    this.mode = MODE_NAMES[u32[hw + H.MODE]];
    if (this.mode !== "pymalloc" && this.mode !== "malloc")
      throw new NotImplementedError(`allocator "${this.mode}": the debug hooks are not implemented yet`);
    this.rawAllocator = new RawAllocator(memory, heapBase);
    this.objectAllocator = new ObjectAllocator(memory, this.rawAllocator, heapBase);
    const small = this.mode === "malloc" ? this.rawAllocator : this.objectAllocator;
    this.obj = new AllocatorFamily("o", small);
    this.mem = new AllocatorFamily("m", small);
    this.raw = new AllocatorFamily("r", this.rawAllocator);
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
    return this.objectAllocator.usableSize(p);
  }

  /** Numbers read from the heap's state: memory, footprint, blocks per size class, arenas. */
  stats(): HeapStats {
    return heapStats(this);
  }

  /** Walk every structure; throws HeapCorruptionError naming the first fault. */
  check(): void {
    checkHeap(this);
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
  if (o.mode !== "pymalloc" && o.mode !== "malloc")
    throw new NotImplementedError(`allocator "${o.mode}": the debug hooks are not implemented yet`);
  formatHeap(memory.views.u8, memory.views.u32, params, layout);
  return new Heap(memory, heapBase);
}

/** The heap already in this memory (made by createHeap here, in another thread, or saved). */
export function attachHeap(memory: MemorySource, options: { heapBase?: number } = {}): Heap {
  const heapBase = Math.ceil((options.heapBase ?? 0) / 16) * 16;
  const m = new Memory(memory, DEFAULT_MAX_BYTES);
  const u32 = m.views.u32;
  const hw = heapBase >>> 2;
  if (m.byteLength < heapBase + 128 || u32[hw + H.MAGIC] !== HEAP_MAGIC)
    throw new PymallocError(`no pymalloc heap at ${hex(heapBase)} in this memory`, heapBase);
  if (u32[hw + H.VERSION] !== HEAP_VERSION)
    throw new PymallocError(`heap at ${hex(heapBase)} has layout version ${u32[hw + H.VERSION]}; this build reads ${HEAP_VERSION}`, heapBase);
  const maxBytes = u32[hw + H.MAX_BYTES];
  return new Heap(maxBytes === m.maxBytes ? m : new Memory(memory, maxBytes), heapBase);
}
