/**
 * debug/host.ts — what the debug hooks stand on: the heap below them.
 *
 * Owns: the DebugHost interface (the memory, the two words of state the hooks keep in it, and
 * the allocator's view of a block) and its pymalloc answer, HeapDebugHost. A foreign allocator's
 * answer is compat/foreign.ts's.
 * Must not: read or write a debug block's header or pads (debug/hooks.ts), nor the quarantine
 * ring's contents (debug/quarantine.ts): a host hands out and sizes blocks, nothing more.
 */

import { HeapCorruptionError } from "../errors.js";
import { H } from "../constants.js";
import type { Heap } from "../heap/heap.js";
import { forEachLiveBlock, ownBlocks } from "../introspect/walk.js";
import type { Memory } from "../memory/memory.js";

/**
 * What the debug hooks need from the heap below them: its memory, two words of state in that
 * memory, and the allocator's view of a block (usable size, validity, enumeration). A pymalloc
 * heap answers from its own structures; a foreign allocator (compat/) from a live-block table.
 */
export interface DebugHost {
  readonly memory: Memory;
  /** u32 index of the debug allocation counter. */
  readonly serialWord: number;
  /** u32 index of the word holding the quarantine ring's address (0: none yet). */
  readonly ringWord: number;
  /** Alignment of the blocks below (the user pointer keeps it: the header is 32 bytes). */
  readonly alignment: number;
  /** Memory for the quarantine ring, from the raw allocator below; 0 when there is none. */
  allocState(bytes: number): number;
  /** A block was just obtained from below with `requested` bytes: its usable size. */
  obtained(base: number, requested: number): number;
  /** The block at base is about to be released below. */
  releasing(base: number): void;
  /** Usable bytes of a block known to be live. */
  usableTrusted(base: number): number;
  /** Usable bytes of the block at base; throws InvalidPointerError when it is not a live block. */
  usableSize(base: number): number;
  /** Usable bytes of the block at base, or 0 when it is not a live block (usableSize() says why). */
  liveUsable(base: number): number;
  /** Whether liveUsable() knows every block this host hands out, the quarantine ring's too (a foreign allocator's host may not: 0 then says nothing). */
  readonly sizesEveryBlock: boolean;
  /** Every live block below (quarantined ones included), with its size class (-1: none). */
  forEachBlock(fn: (base: number, sizeClass: number) => void): void;
}

/**
 * The debug host of a pymalloc heap: its header words, raw allocator and block walk. A class, not
 * an object of closures: every heap's host then shares its methods, and V8 inlines them into the
 * hooks (closures made anew for each heap left those calls uninlined once a second heap existed).
 */
export class HeapDebugHost implements DebugHost {
  readonly memory: Memory;
  readonly serialWord: number;
  readonly ringWord: number;
  readonly alignment: number;
  readonly sizesEveryBlock = true;
  private readonly heap: Heap;
  private readonly oa: Heap["objectAllocator"];
  constructor(heap: Heap) {
    const hw = heap.heapBase >>> 2;
    this.heap = heap;
    this.oa = heap.objectAllocator;
    this.memory = heap.memory;
    this.serialWord = hw + H.SERIAL;
    this.ringWord = hw + H.QUARANTINE;
    this.alignment = 1 << this.oa.alignShift;
  }
  allocState(bytes: number): number {
    return this.heap.rawAllocator.malloc(bytes);
  }
  obtained(base: number, requested: number): number {
    // The debug layer paints the pads up to this many bytes: a block size a stray write changed
    // (a pool's SIZE, a chunk's size word) must not send the paint over other blocks. A pool's
    // block is its request's size class, less than an alignment step over it (a SIZE raised by
    // 48 passed the 64 bytes allowed before 2026-12-06, and the pad was painted over the next
    // block); a raw chunk's rounding is under 64 bytes. Anything else is looked up with every
    // check (usableSize throws the typed error naming the damage).
    const u = this.oa.usableTrusted(base);
    return u >= requested && u - requested < (this.oa.isOurs(base) ? this.alignment : 64) ? u : this.obtainedChecked(base, requested);
  }
  /** obtained() when the trusted size is off: looked up with every check (out of line: V8 counts an inlined callee's bytecode against the caller's budget). */
  private obtainedChecked(base: number, requested: number): number {
    const v = this.oa.usableSize(base);
    if (v >= requested && v - requested < (this.oa.isOurs(base) ? this.alignment : 64)) return v;
    throw new HeapCorruptionError(base, `a block just obtained for ${requested} bytes reports ${v} usable (a damaged size word?)`, "block size");
  }
  releasing(): void {}
  usableTrusted(base: number): number {
    return this.oa.usableTrusted(base);
  }
  usableSize(base: number): number {
    return this.oa.usableSize(base);
  }
  liveUsable(base: number): number {
    return this.oa.liveUsable(base);
  }
  forEachBlock(fn: (base: number, sizeClass: number) => void): void {
    const own = ownBlocks(this.heap); // the quarantine ring and a pool's live-block table (asMemPool): no debug blocks
    forEachLiveBlock(this.heap, (b) => {
      if (!own(b.address)) fn(b.address, b.sizeClass);
    });
  }
}
