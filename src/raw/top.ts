/**
 * raw/top.ts — the top chunk: the untouched space up to the heap's end, like an sbrk break.
 *
 * Owns: the top (H.TOP and its mark: checkedTop, moveTop), carving a chunk from it, aligned if
 * asked (fromTop), growing the memory when the heap's end (H.END) or its views' end is reached
 * (extend), the fences over pages a WebAssembly module grew for itself (fence; Chunk.FENCE_MAGIC),
 * and the calls back into the object allocator when the top must grow or cannot (onTop, onFull).
 *
 * Design: free lists are tried before the top (raw/tlsf.ts), so the top, the footprint, only
 * rises when nothing free fits; a free chunk never touches it (freed chunks merge into it). The
 * heap owns the memory up to H.END; pages past it that something else grew are fenced when the
 * heap next grows (Memory.grow's grownFrom tells its pages from a module's grown at the same moment).
 *
 * Must not: take chunks from the free lists (raw/tlsf.ts) or judge pointers (raw/chunks.ts).
 */

import { Chunk, Flag, H, topMark, fenceMark, endOk } from "../constants.js";
import { HeapCorruptionError, hex } from "../errors.js";
import { TlsfLists } from "./lists.js";

/** extend()'s answers besides 0 (the memory cannot grow): the top holds the request; a fence moved the top. */
export const GROWN = 1;
export const MOVED = 2;

/**
 * Bytes from chunk c to where a chunk must start for its payload p to have (p + offset) a
 * multiple of align: 0, or a lead-in large enough to be a free chunk of its own.
 */
export function alignGap(c: number, align: number, offset: number): number {
  const p = c + Chunk.HEADER;
  const r = (p + offset) % align;
  let gap = r === 0 ? 0 : align - r;
  if (gap !== 0 && gap < Chunk.MIN) gap += align;
  return gap;
}

/** The top chunk and the memory's growth (a layer of RawAllocator, raw/tlsf.ts). */
export class TopChunk extends TlsfLists {
  /**
   * The top, before anything carves from it or merges into it: a chunk address in the memory
   * whose mark is in place. A top changed by a stray write would hand out, or merge with, live
   * chunks: HeapCorruptionError naming H.TOP instead.
   */
  protected checkedTop(): number {
    const top = this.u32[this.wTop];
    if (!this.topOk(top)) {
      if (this.follow()) return this.checkedTop(); // views short of the top (follow() says why): current now
      throw new HeapCorruptionError(this.wTop << 2, `top ${hex(top)} is no top (not a chunk address in the memory, or its mark at top + ${Chunk.SIZE} is gone): a write over the header?`, "H.TOP");
    }
    return top;
  }

  /** checkedTop()'s test of top, H.TOP's word: a chunk address in the memory whose mark is in place. */
  protected topOk(top: number): boolean {
    return ((top - this.start) & 15) === 0 && top >= this.start && top + Chunk.HEADER <= this.u8.length && this.u32[(top + Chunk.SIZE) >>> 2] === topMark(top);
  }

  /**
   * The top moves from old to top (checkedTop() passed for old): its mark moves with it. A top
   * that comes down clears its old mark (so that no stale mark below the top vouches for a
   * damaged H.TOP); one that goes up leaves it to the chunk header written over it.
   */
  protected moveTop(old: number, top: number): void {
    const u32 = this.u32;
    u32[this.wTop] = top;
    u32[(top + Chunk.SIZE) >>> 2] = topMark(top);
    if (top < old) u32[(old + Chunk.SIZE) >>> 2] = 0;
  }

  /**
   * Carve `size` bytes from the top, its payload p with (p + offset) a multiple of `align` (0: any
   * chunk address; the lead-in that takes stays a free chunk); 0 if memory cannot grow.
   */
  protected fromTop(size: number, align: number, offset: number, flags: number): number {
    const top = this.checkedTop();
    const gap = align === 0 ? 0 : alignGap(top, align, offset);
    const c = top + gap;
    const end = c + size;
    // Past the heap's own end (H.END, never past maxBytes) or its views' (another thread grew the
    // memory): fromTopPast().
    if (end + Chunk.HEADER > this.u32[this.wEnd] || end + Chunk.HEADER > this.u8.length) return this.fromTopPast(size, align, offset, flags, top, end + Chunk.HEADER);
    const v = this.u32;
    if (gap !== 0) {
      this.leadIn(top, gap);
      flags |= Flag.PREV_FREE;
    }
    v[(c + 4) >>> 2] = (size ^ Chunk.SIZE_KEY) | flags;
    this.moveTop(top, end);
    if ((flags & Flag.ARENA) === 0) v[end >>> 2] = size; // its footer (Chunk), the new top's first word
    if (end > v[this.wPeak]) v[this.wPeak] = end;
    return c + Chunk.HEADER;
  }

  /**
   * fromTop() past the heap's end or its views': the memory grown (extend()), then fromTop() again,
   * from the new top if a fence moved it. Apart from fromTop, which V8 inlines into malloc's paths.
   */
  protected fromTopPast(size: number, align: number, offset: number, flags: number, top: number, lim: number): number {
    return this.extend(top, lim) === 0 ? 0 : this.fromTop(size, align, offset, flags);
  }

  /**
   * The top must reach `lim` (a chunk carved from it and the header after it), past the heap's
   * end (H.END) or the memory's. Returns 0 when the memory cannot grow that far; GROWN when it
   * holds lim and H.END is past it; MOVED when pages a WebAssembly module grew for itself (its
   * own memory.grow: the memory is longer than H.END says, or pages appeared before those this
   * call grew) now lie in a fence and the top moved past them: the caller starts again from the
   * new top. Memory.grow()'s grownFrom tells this heap's pages from the module's.
   */
  protected extend(top: number, lim: number): number {
    if (lim > this.mem.maxBytes) return 0;
    // onGrow callbacks (users') run once H.END and any fence are written: one that allocates
    // would else grow again with the end not moved yet, and the pages grown now be fenced.
    this.mem.hold();
    try {
      return this.extendHeld(top, lim);
    } finally {
      this.mem.release();
    }
  }

  private extendHeld(top: number, lim: number): number {
    this.mem.refresh();
    const own = this.u32[this.wEnd];
    const len = this.u8.length;
    if (!endOk(own, top, len, this.mem.maxBytes))
      throw this.corrupt(this.wEnd << 2, "H.END", `the heap's end ${hex(own)} is out of range or not a multiple of 8: it must lie within [${hex(top + Chunk.HEADER)}, ${hex(Math.max(len, this.mem.maxBytes))}]: a write over the header?`);
    if (lim <= own && lim <= len) return GROWN; // only the views were short
    // A memory no longer than the heap's end (shorter: a copy of the heap that ends below it):
    // the pages grown now are the heap's, unless a module's came first (grownFrom past the end).
    // A longer one: the pages from the end on are a module's; those grown past them, the heap's.
    const ok = len <= own ? this.mem.grow(lim) : this.mem.grow(len + (lim - top) + 2 * Chunk.MIN);
    if (!ok) return 0;
    const from = this.mem.grownFrom;
    if (from === -1) return MOVED; // the memory grew elsewhere in between: look again
    if (from > own) this.fence(top, own, from);
    // The heap's end: where its own pages end, not the memory's length, which a module's thread
    // may have grown again since (its pages were then taken for the heap's and written over).
    this.u32[this.wEnd] = Math.min(this.mem.grownTo, this.u8.length, this.mem.maxBytes);
    return from > own ? MOVED : GROWN;
  }

  /**
   * Put the pages [own, from) a module grew for itself into a fence, an in-use chunk flagged
   * ARENA that nothing hands out, merges or frees, and move the top past it. The fence begins at
   * the last chunk address whose header is in the heap's own pages (the top's room before it, if
   * a chunk fits there, stays a free chunk) and ends 8 bytes or more into the pages from `from`,
   * the heap's: its last two words hold its mark (fenceMark) and `own`.
   */
  protected fence(top: number, own: number, from: number): void {
    const u32 = this.u32;
    const f0 = own - Chunk.HEADER - ((own - Chunk.HEADER - this.start) & 15);
    const g = from + 8 + ((this.start - (from + 8)) & 15);
    let f = top;
    let flags = Flag.TAG | Flag.ARENA;
    if (f0 - top >= Chunk.MIN) {
      this.leadIn(top, f0 - top);
      f = f0;
      flags |= Flag.PREV_FREE;
    }
    u32[(f + 4) >>> 2] = ((g - f) ^ Chunk.SIZE_KEY) | flags;
    u32[(g - 8) >>> 2] = fenceMark(f);
    u32[(g - 4) >>> 2] = own;
    this.moveTop(top, g);
    if (g > u32[this.wPeak]) u32[this.wPeak] = g;
    u32[this.wEnd + (H.FENCED - H.END)] += g - f;
  }

  /**
   * Called when the top cannot grow for a request: the object allocator gives back the free
   * arenas it keeps (free one-pool arenas, spare sub-pools: obmalloc's releaseKept), true when it
   * gave any back; the request is then tried once more. Wiring, not heap state: null until an
   * object allocator sits on this raw allocator.
   */
  onFull: (() => boolean) | null = null;

  /**
   * Called before the top grows for a request nothing free fits (pastPeak: past the heap's peak):
   * the object allocator gives back the empty one-pool arenas free() keeps, the spares it kept
   * since, and past the peak the arena it keeps against churn (obmalloc's releaseBeforeTop), true
   * when it gave any back; the request is then tried
   * again, in their room. Without it a program whose small blocks come and go between raw blocks
   * (SQLite's page cache) kept 51 empty one-pool arenas at its peak, 0.8 MiB the raw blocks could
   * not use. Wiring, as onFull.
   */
  onTop: ((pastPeak: boolean) => boolean) | null = null;

  protected releasing = false;

  /** The top could not grow: whether onFull gave memory back (never from within onFull itself). */
  protected released(): boolean {
    if (this.onFull === null || this.releasing) return false;
    this.releasing = true;
    try {
      return this.onFull();
    } finally {
      this.releasing = false;
    }
  }
}
