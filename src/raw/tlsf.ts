/**
 * raw/tlsf.ts — the general-purpose ("system malloc") allocator: two-level segregated fit.
 *
 * Owns: raw chunks (8-byte header, 16-byte aligned payloads), the TLSF free lists and bitmaps, the raw cache,
 * the top chunk (untouched space up to the heap's end, H.END, like an sbrk break), growth of the
 * memory when no free chunk fits, fences over pages a WebAssembly module grew for itself (extend()),
 * and aligned chunks (arenas; aligned_alloc's larger alignments).
 *
 * Design: a free chunk of size s sits in list (fl, sl): fl = floor(log2 s) - 8 (0 for s < 512,
 * which are spread linearly in 16-byte steps), sl = the next 5 bits of s. A request is rounded up
 * to the next list boundary, so the first chunk of the first non-empty list at or above it fits:
 * malloc and free are O(1) (two bitmap scans, a few list edits). Freed chunks merge at once with
 * free neighbours; a free chunk never touches another free chunk nor the top chunk. Free lists
 * are tried before the top, so the top (the footprint) only rises when nothing free fits.
 * Before all of that, the raw cache (RawCache in constants.ts, glibc's tcache): free() keeps a
 * chunk of up to RawCache.MAX_SIZE bytes whole on a list of its size, and malloc takes it back
 * from there; the cache is emptied into the lists (flushCache) before the top grows or takes a
 * chunk, when the top comes down and when it is full, so the footprint is the lists' alone.
 *
 * Header words hold the size xor Chunk.SIZE_KEY; this file writes that arithmetic out where
 * src/constants.ts has sizeOf() and header() for everyone else: through the helpers, V8 inlined
 * less around malloc and free (bench:instructions, the bundled trace in malloc mode: 720 against
 * 665 instructions an event; a malloc(640) and its free 604 against 564-570).
 *
 * Must not: know about pools, size classes or families. Pointers are validated by free() and
 * realloc() (the public entry points); the *Chunk methods trust their callers.
 */

import {
  Chunk,
  Flag,
  RawCache,
  Tlsf,
  H,
  topMark,
  fenceMark,
  endOk,
  Slot,
  Used,
} from "../constants.js";
import { HeapCorruptionError, InvalidPointerError, hex } from "../errors.js";
import type { Memory, Views } from "../memory/memory.js";

const ctz = (x: number): number => 31 - Math.clz32(x & -x);

/** extend()'s answers besides 0 (the memory cannot grow): the top holds the request; a fence moved the top. */
const GROWN = 1;
const MOVED = 2;

/** Chunk bytes for a request of n bytes (n a uint32). */
/** Chunk bytes for a request of n <= Chunk.MAX_REQUEST bytes (larger n would wrap). */
export const chunkSizeFor = (n: number): number => (n <= 12 ? Chunk.MIN : ((n + 19) >>> 4) * 16);

/**
 * Bytes from chunk c to where a chunk must start for its payload p to have (p + offset) a
 * multiple of align: 0, or a lead-in large enough to be a free chunk of its own.
 */
function alignGap(c: number, align: number, offset: number): number {
  const p = c + Chunk.HEADER;
  const r = (p + offset) % align;
  let gap = r === 0 ? 0 : align - r;
  if (gap !== 0 && gap < Chunk.MIN) gap += align;
  return gap;
}

/** The free list (fl << SL_SHIFT | sl) a free chunk of `size` bytes is kept in (rounding down). */
export function listIndex(size: number): number {
  if (size < Tlsf.SMALL_BLOCK) return size >>> 4;
  const msb = 31 - Math.clz32(size);
  return ((msb - (Tlsf.FL_SHIFT - 1)) << Tlsf.SL_SHIFT) | ((size >>> (msb - Tlsf.SL_SHIFT)) ^ Tlsf.SL_COUNT);
}

export class RawAllocator {
  u8: Uint8Array;
  u32: Uint32Array;
  readonly mem: Memory;
  /** Word indexes of header fields and tables. */
  readonly wTop: number;
  readonly wPeak: number;
  /** H.END: the heap's own pages end there; the top never carves past it. */
  readonly wEnd: number;
  readonly wFl: number;
  /** The header word of the object allocator's internal chunk (H.POOL_MAP_HIGH), not an arena though flagged as one. */
  private readonly wMapHigh: number;
  /** Address of thread slot 0 and the slots' count: each slot's USED word may name an internal chunk (Used). */
  private readonly slotsBase: number;
  private readonly nSlots: number;
  readonly wSl: number;
  readonly wHeads: number;
  /** The raw cache's table (RawCache): its COUNT word; list head i at wCache + RawCache.HEAD_WORDS + i. */
  readonly wCache: number;
  /** First chunk address. */
  readonly start: number;

  constructor(mem: Memory, heapBase: number) {
    this.mem = mem;
    this.u8 = mem.views.u8;
    this.u32 = mem.views.u32;
    const hw = heapBase >>> 2;
    this.wTop = hw + H.TOP;
    this.wPeak = hw + H.PEAK_TOP;
    this.wEnd = hw + H.END;
    this.wFl = hw + H.FL_BITMAP;
    this.wMapHigh = hw + H.POOL_MAP_HIGH;
    this.slotsBase = heapBase + this.u32[hw + H.THREAD_SLOTS];
    this.nSlots = this.u32[hw + H.MAX_THREADS] + 1; // maxThreads + 1 with threads, else 1
    this.wSl = (heapBase + this.u32[hw + H.SL_BITMAPS]) >>> 2;
    this.wHeads = (heapBase + this.u32[hw + H.FREE_HEADS]) >>> 2;
    this.wCache = (heapBase + this.u32[hw + H.RAW_CACHE]) >>> 2;
    this.start = this.u32[hw + H.HEAP_START];
    mem.onGrow((v: Views) => {
      this.u8 = v.u8;
      this.u32 = v.u32;
    });
  }

  get top(): number {
    return this.u32[this.wTop];
  }

  /**
   * Views that reach the heap's top (and the mark past it), looked at before a pointer is called
   * invalid or the top damaged: true when they were replaced. Something other than this heap's
   * handles in this thread (whose growth refreshes them all: memory.ts's sameSource) grew an
   * unshared WebAssembly.Memory and detached them (u32 then reads undefined, and the test is
   * false). Not on the paths that succeed: no cost there.
   */
  private follow(): boolean {
    return !(this.u32[this.wTop] + 8 <= this.u8.length) && this.mem.refresh();
  }

  // -------------------------------------------------------------------------------------------
  // The top (H.TOP and its mark, Chunk.TOP_MAGIC)
  // -------------------------------------------------------------------------------------------

  /**
   * The top, before anything carves from it or merges into it: a chunk address in the memory
   * whose mark is in place. A top changed by a stray write would hand out, or merge with, live
   * chunks: HeapCorruptionError naming H.TOP instead.
   */
  private checkedTop(): number {
    const u32 = this.u32;
    const top = u32[this.wTop];
    if (((top - this.start) & 15) !== 0 || top < this.start || top + Chunk.HEADER > this.u8.length || u32[(top + Chunk.SIZE) >>> 2] !== topMark(top)) {
      if (this.follow()) return this.checkedTop(); // views short of the top (follow() says why): current now
      throw new HeapCorruptionError(this.wTop << 2, `top ${hex(top)} is no top (not a chunk address in the memory, or its mark at top + ${Chunk.SIZE} is gone): a write over the header?`, "H.TOP");
    }
    return top;
  }

  /**
   * The top moves from old to top (checkedTop() passed for old): its mark moves with it. A top
   * that comes down clears its old mark (so that no stale mark below the top vouches for a
   * damaged H.TOP); one that goes up leaves it to the chunk header written over it.
   */
  private moveTop(old: number, top: number): void {
    const u32 = this.u32;
    u32[this.wTop] = top;
    u32[(top + Chunk.SIZE) >>> 2] = topMark(top);
    if (top < old) u32[(old + Chunk.SIZE) >>> 2] = 0;
  }

  // -------------------------------------------------------------------------------------------
  // Free lists
  // -------------------------------------------------------------------------------------------

  private insertChunk(c: number, size: number): void {
    const li = listIndex(size);
    const fl = li >>> Tlsf.SL_SHIFT;
    const sl = li & (Tlsf.SL_COUNT - 1);
    const u32 = this.u32;
    const hi = this.wHeads + li;
    const head = u32[hi];
    // The head is written through: it must be a free chunk heading its list (a chunk address
    // below the top, tagged free, no previous chunk), never a word a stray write left there.
    if (head !== 0 && (((head - this.start) & 15) !== 0 || head < this.start || head >= u32[this.wTop] || (u32[(head + Chunk.SIZE) >>> 2] & (Flag.FREE | Flag.TAG | Flag.ARENA)) !== (Flag.FREE | Flag.TAG) || u32[(head + Chunk.PREV_FREE) >>> 2] !== 0))
      throw this.corrupt(hi << 2, "TLSF free list head", `${hex(head)} is no free chunk heading its list`);
    u32[(c + Chunk.NEXT_FREE) >>> 2] = head;
    u32[(c + Chunk.PREV_FREE) >>> 2] = 0;
    if (head !== 0) u32[(head + Chunk.PREV_FREE) >>> 2] = c;
    u32[hi] = c;
    u32[this.wFl] |= 1 << fl;
    u32[this.wSl + fl] |= 1 << sl;
  }

  private removeChunk(c: number, size: number): void {
    const li = listIndex(size);
    const fl = li >>> Tlsf.SL_SHIFT;
    const sl = li & (Tlsf.SL_COUNT - 1);
    const u32 = this.u32;
    const next = u32[(c + Chunk.NEXT_FREE) >>> 2];
    const prev = u32[(c + Chunk.PREV_FREE) >>> 2];
    // Links are written through: each neighbour must link back to c (never a wild write).
    if ((next !== 0 && u32[(next + Chunk.PREV_FREE) >>> 2] !== c) || (prev !== 0 && u32[(prev + Chunk.NEXT_FREE) >>> 2] !== c)) this.brokenList(c);
    if (next !== 0) u32[(next + Chunk.PREV_FREE) >>> 2] = prev;
    if (prev !== 0) {
      u32[(prev + Chunk.NEXT_FREE) >>> 2] = next;
    } else {
      u32[this.wHeads + li] = next;
      if (next === 0) {
        const m = u32[this.wSl + fl] & ~(1 << sl);
        u32[this.wSl + fl] = m;
        if (m === 0) u32[this.wFl] &= ~(1 << fl);
      }
    }
  }

  /**
   * The size of free chunk c, read through the word at `at` (field `what`), after checking what
   * every free chunk is: a chunk address in [start, top) (start + a multiple of 16), its header
   * tagged and free (not an arena), its size a multiple of 16 of at least Chunk.MIN, ending below
   * the top (a free chunk never touches it) where its footer (the next chunk's PREV_SIZE) repeats
   * the size. Else HeapCorruptionError: a damaged link or header is never followed or written.
   */
  private freeSizeAt(c: number, at: number, what: string): number {
    const u32 = this.u32;
    const sw = u32[(c + 4) >>> 2];
    const size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    if (
      (sw & (Flag.FREE | Flag.TAG | Flag.ARENA)) !== (Flag.FREE | Flag.TAG) ||
      c < this.start ||
      ((c - this.start) & 15) !== 0 ||
      size < Chunk.MIN ||
      c + size >= u32[this.wTop] ||
      u32[(c + size) >>> 2] !== size
    )
      throw this.corrupt(at, what, `${hex(c)} is no free chunk (its header, footer or place disagree)`);
    return size;
  }

  private corrupt(at: number, what: string, detail: string): HeapCorruptionError {
    return new HeapCorruptionError(at, detail, what);
  }

  /** A free chunk's list neighbours do not link back to it (out of line: a cold path). */
  private brokenList(c: number): never {
    throw this.corrupt(c + Chunk.NEXT_FREE, "Chunk.NEXT_FREE", `free chunk ${hex(c)}'s list neighbours do not link back to it`);
  }

  /** A footer (PREV_SIZE word) at `at` disagrees with the free chunk it belongs to. */
  private brokenFooter(at: number): never {
    throw this.corrupt(at, "Chunk.PREV_SIZE", "footer and free chunk header disagree on the chunk's size");
  }

  /**
   * A chunk of size's own list (whose chunks may be smaller than size) that holds size bytes, of
   * the first Tlsf.OWN_LIST_TRIES; or 0. Tried before findFit(), which skips that list and splits a
   * chunk of a larger one (compileall's peak footprint: 1.121 of the live bytes without, 1.103 with).
   */
  private ownListFit(size: number): number {
    const u32 = this.u32;
    let c = u32[this.wHeads + listIndex(size)];
    for (let k = 0; c > 0 && k < Tlsf.OWN_LIST_TRIES; k++, c = u32[(c + Chunk.NEXT_FREE) >>> 2]) {
      if (((((u32[(c + 4) >>> 2]) ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0) >= size) return c;
    }
    return 0;
  }

  /**
   * The first free chunk of a list whose every chunk holds `size` bytes, or 0.
   * Round up to the next list boundary, then two bitmap scans.
   */
  private findFit(size: number): number {
    let fl = 0;
    let sl = 0;
    if (size < Tlsf.SMALL_BLOCK) {
      sl = size >>> 4;
    } else {
      let msb = 31 - Math.clz32(size);
      const rounded = size + (1 << (msb - Tlsf.SL_SHIFT)) - 1;
      if (rounded >= 2 ** 32) return 0;
      msb = 31 - Math.clz32(rounded);
      fl = msb - (Tlsf.FL_SHIFT - 1);
      sl = (rounded >>> (msb - Tlsf.SL_SHIFT)) ^ Tlsf.SL_COUNT;
    }
    const u32 = this.u32;
    let slmap = u32[this.wSl + fl] & (-1 << sl);
    if (slmap === 0) {
      const flmap = u32[this.wFl] & (-1 << (fl + 1));
      if (flmap === 0) return 0;
      fl = ctz(flmap);
      slmap = u32[this.wSl + fl];
    }
    return u32[this.wHeads + (fl << Tlsf.SL_SHIFT) + ctz(slmap)];
  }

  // -------------------------------------------------------------------------------------------
  // Chunks
  // -------------------------------------------------------------------------------------------

  /**
   * Give chunk c the size `size` (≤ its current size `csize`) with header bits `flags`;
   * the remainder, if it can form a chunk, is released (merging with what follows).
   */
  private shrinkTo(c: number, csize: number, size: number, flags: number): void {
    const u32 = this.u32;
    const rem = csize - size;
    if (rem >= Chunk.MIN) {
      u32[(c + 4) >>> 2] = (size ^ Chunk.SIZE_KEY) | flags;
      const r = c + size;
      u32[(r + 4) >>> 2] = (rem ^ Chunk.SIZE_KEY) | Flag.TAG;
      this.releaseChunk(r, (rem ^ Chunk.SIZE_KEY) | Flag.TAG);
    } else {
      u32[(c + 4) >>> 2] = (csize ^ Chunk.SIZE_KEY) | flags;
      const n = c + csize;
      u32[(n + 4) >>> 2] &= ~Flag.PREV_FREE;
    }
  }

  /**
   * fromTop() past the heap's end or its views': the memory grown (extend()), then fromTop() again,
   * from the new top if a fence moved it. Apart from fromTop, which V8 inlines into malloc's paths.
   */
  private fromTopPast(size: number, align: number, offset: number, flags: number, top: number, lim: number): number {
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
  private extend(top: number, lim: number): number {
    if (lim > this.mem.maxBytes) return 0;
    this.mem.refresh();
    const own = this.u32[this.wEnd];
    const len = this.u8.length;
    if (!endOk(own, top, len, this.mem.maxBytes))
      throw this.corrupt(this.wEnd << 2, "H.END", `the heap's end ${hex(own)} is not a multiple of 8 in [${hex(top + Chunk.HEADER)}, ${hex(Math.max(len, this.mem.maxBytes))}]: a write over the header?`);
    if (lim <= own && lim <= len) return GROWN; // only the views were short
    // A memory no longer than the heap's end (shorter: a copy of the heap that ends below it):
    // the pages grown now are the heap's, unless a module's came first (grownFrom past the end).
    // A longer one: the pages from the end on are a module's; those grown past them, the heap's.
    const ok = len <= own ? this.mem.grow(lim) : this.mem.grow(len + (lim - top) + 2 * Chunk.MIN);
    if (!ok) return 0;
    const from = this.mem.grownFrom;
    if (from === -1) return MOVED; // the memory grew elsewhere in between: look again
    if (from > own) this.fence(top, own, from);
    this.u32[this.wEnd] = Math.min(this.u8.length, this.mem.maxBytes);
    return from > own ? MOVED : GROWN;
  }

  /**
   * Put the pages [own, from) a module grew for itself into a fence, an in-use chunk flagged
   * ARENA that nothing hands out, merges or frees, and move the top past it. The fence begins at
   * the last chunk address whose header is in the heap's own pages (the top's room before it, if
   * a chunk fits there, stays a free chunk) and ends 8 bytes or more into the pages from `from`,
   * the heap's: its last two words hold its mark (fenceMark) and `own`.
   */
  private fence(top: number, own: number, from: number): void {
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
   * Carve `size` bytes from the top, its payload p with (p + offset) a multiple of `align` (0: any
   * chunk address; the lead-in that takes stays a free chunk); 0 if memory cannot grow.
   */
  private fromTop(size: number, align: number, offset: number, flags: number): number {
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
    if (end > v[this.wPeak]) v[this.wPeak] = end;
    return c + Chunk.HEADER;
  }

  /**
   * Called when the top cannot grow for a request: the object allocator gives back the free
   * arenas it keeps (free one-pool arenas, spare sub-pools: obmalloc's releaseKept), true when it
   * gave any back; the request is then tried once more. Wiring, not heap state: null until an
   * object allocator sits on this raw allocator.
   */
  onFull: (() => boolean) | null = null;
  /**
   * Called before the top grows for a request nothing free fits: the object allocator gives back
   * the empty one-pool arenas free() keeps, true when it gave any back; the request is then tried
   * again, in their room. Without it a program whose small blocks come and go between raw blocks
   * (SQLite's page cache) kept 51 empty one-pool arenas at its peak, 0.8 MiB the raw blocks could
   * not use. Wiring, as onFull.
   */
  onTop: (() => boolean) | null = null;
  private releasing = false;

  /** The top could not grow: whether onFull gave memory back (never from within onFull itself). */
  private released(): boolean {
    if (this.onFull === null || this.releasing) return false;
    this.releasing = true;
    try {
      return this.onFull();
    } finally {
      this.releasing = false;
    }
  }

  /** Allocate a chunk for n bytes (n a uint32 already validated). Returns the payload or 0. */
  malloc(n: number): number {
    if (n > Chunk.MAX_REQUEST) return 0;
    const size = chunkSizeFor(n);
    if (size <= RawCache.MAX_SIZE) {
      // The raw cache's list of this size: its head, when it is a cached chunk of exactly this
      // size (header size ^ SIZE_KEY | FREE | ARENA | TAG, PREV_FREE aside) at a chunk address below the top,
      // with a count to take it from. Else cacheMiss() says whether it is another size's (sizes
      // over 2048 share lists) or damage. Written out here, not called: this is malloc's path
      // for every raw chunk of up to 4 KiB.
      const u32 = this.u32;
      const hi = this.wCache + RawCache.HEAD_WORDS + ((size >>> 4) & (RawCache.BINS - 1));
      const h = u32[hi];
      if (h > 0) {
        const sw = u32[(h + 4) >>> 2];
        const count = u32[this.wCache];
        if (((sw | Flag.PREV_FREE) ^ size ^ Chunk.SIZE_KEY) === Flag.MASK && h >= this.start && ((h - this.start) & 15) === 0 && h + size <= u32[this.wTop] && count > 0) {
          u32[hi] = u32[(h + Chunk.NEXT_FREE) >>> 2];
          u32[this.wCache] = count - 1;
          u32[(h + 4) >>> 2] = sw & ~(Flag.FREE | Flag.ARENA);
          return h + Chunk.HEADER;
        }
        this.cacheMiss(h, hi, size);
      }
    }
    return this.mallocListed(n, size);
  }

  /** malloc() past the raw cache: a chunk of `size` bytes from the TLSF lists or the top. */
  private mallocListed(n: number, size: number): number {
    // Below SMALL_BLOCK, lists hold one size each: findFit()'s own list is exact already.
    let c = size >= Tlsf.SMALL_BLOCK ? this.ownListFit(size) : 0;
    if (c === 0) c = this.findFit(size);
    if (c === 0) {
      // Nothing free fits: the cached chunks, merged, may (the footprint TLSF alone would have).
      if (this.u32[this.wCache] > 0) return this.flushCache(), this.malloc(n);
      const p = this.fromTopFirst(size, n);
      return p !== 0 || !this.released() ? p : this.malloc(n);
    }
    // What a list gives is checked like any link: a free chunk, and in a list that fits.
    const csize = this.freeSizeAt(c, c + Chunk.SIZE, "TLSF free list entry");
    if (csize < size) throw this.corrupt(c + Chunk.SIZE, "Chunk.SIZE", `free chunk of ${csize} bytes in a list of chunks of ${size} bytes or more`);
    this.removeChunk(c, csize);
    this.shrinkTo(c, csize, size, Flag.TAG);
    return c + Chunk.HEADER;
  }

  /**
   * mallocListed's chunk of `size` bytes from the top, for a request of n bytes: first the free
   * arenas the object allocator keeps go back (onTop, which never allocates, and is not called
   * while onFull gives memory back) and n is tried again in their room.
   */
  private fromTopFirst(size: number, n: number): number {
    if (this.onTop !== null && !this.releasing && this.onTop()) return this.malloc(n);
    return this.fromTop(size, 0, 0, Flag.TAG);
  }

  /** Pools in the arena chunk the last mallocArena() returned. */
  arenaPools = 0;

  /**
   * An arena chunk, flagged as such: from minPools to maxPools pools of `poolSize` bytes, its
   * payload pool-aligned and its size exactly the pools' bytes, so the next arena carved after it
   * needs no gap (the caller keeps its own header in the last pool's tail). Free chunks come
   * first: the first that holds maxPools, else the one that holds the most (at least minPools),
   * so that the hole a freed arena left, or most of it, takes an arena again instead of the
   * memory growing. Then the top, with topPools. Returns the payload (the first pool) or 0; the
   * pool count is in arenaPools.
   */
  mallocArena(minPools: number, maxPools: number, topPools: number, poolSize: number): number {
    const u32 = this.u32;
    // Arenas are rare: the cache is merged first, so that the holes they take are the ones TLSF
    // alone would have (a cached chunk in a hole makes it hold fewer pools).
    if (u32[this.wCache] > 0) this.flushCache();
    let best = 0;
    let bestPools = 0;
    // Lists that may hold a chunk of minPools pools or more: that size's own list, then every larger one.
    const li = listIndex(minPools * poolSize);
    let fl = li >>> Tlsf.SL_SHIFT;
    let sl = li & (Tlsf.SL_COUNT - 1);
    let scanned = 0;
    search: for (; fl < Tlsf.FL_COUNT; fl++, sl = 0) {
      let slmap = u32[this.wSl + fl] & (-1 << sl);
      while (slmap !== 0) {
        const s = ctz(slmap);
        slmap &= slmap - 1;
        for (let c = u32[this.wHeads + (fl << Tlsf.SL_SHIFT) + s]; c !== 0; c = u32[(c + Chunk.NEXT_FREE) >>> 2]) {
          const room = ((((u32[(c + 4) >>> 2]) ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0) - this.arenaGap(c, poolSize);
          const pools = Math.min(maxPools, Math.floor(room / poolSize));
          if (pools > bestPools) {
            best = c;
            bestPools = pools;
            if (pools === maxPools) break search;
          }
          if (++scanned === 64) break search; // bounded: an arena is rare, a scan must stay cheap
        }
      }
    }
    const flags = Flag.TAG | Flag.ARENA;
    if (bestPools < minPools) {
      this.arenaPools = topPools;
      return this.fromTop(topPools * poolSize, poolSize, 0, flags);
    }
    const csize = this.freeSizeAt(best, best + Chunk.SIZE, "TLSF free list entry");
    this.removeChunk(best, csize);
    this.arenaPools = bestPools;
    return this.takeFrom(best, csize, this.arenaGap(best, poolSize), bestPools * poolSize, flags);
  }

  /**
   * Free chunk c of csize bytes, just taken off its list: `size` bytes of it from `gap` on become
   * a chunk in use (header bits `flags`); the lead-in, if any, stays a free chunk (c's left
   * neighbour is in use: free chunks never touch), the tail is released. Returns the payload.
   */
  private takeFrom(c: number, csize: number, gap: number, size: number, flags: number): number {
    const u32 = this.u32;
    let a = c;
    if (gap !== 0) {
      this.leadIn(c, gap);
      a = c + gap;
      flags |= Flag.PREV_FREE;
    }
    this.shrinkTo(a, csize - gap, size, flags);
    return a + Chunk.HEADER;
  }

  /**
   * The `gap` bytes from c become a free chunk on its list, footer written (a lead-in before an
   * aligned chunk or a fence; c's left neighbour is in use): the chunk after it gets PREV_FREE.
   */
  private leadIn(c: number, gap: number): void {
    const u32 = this.u32;
    u32[(c + 4) >>> 2] = (gap ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG;
    u32[(c + gap) >>> 2] = gap;
    this.insertChunk(c, gap);
  }

  /** Bytes from chunk c to where a chunk must start for its payload to be pool-aligned. */
  private arenaGap(c: number, poolSize: number): number {
    return alignGap(c, poolSize, 0);
  }

  /**
   * A chunk for n bytes whose payload p has (p + offset) a multiple of `align` (a power of two
   * above 16; offset a multiple of 16: a debug header before the user's bytes), or 0. A free
   * chunk that holds the request with any lead-in is split like an arena's (the lead-in, if any,
   * stays a free chunk), else the top. The chunk is an ordinary one: free() and realloc() take it.
   */
  mallocAligned(n: number, align: number, offset: number): number {
    if (n > Chunk.MAX_REQUEST - align - Chunk.MIN) return 0;
    const size = chunkSizeFor(n);
    const u32 = this.u32;
    if (u32[this.wCache] > 0) this.flushCache(); // rare: the holes TLSF alone would have, as mallocArena
    const c = this.findFit(size + align + Chunk.MIN);
    if (c === 0) {
      const p = this.fromTop(size, align, offset, Flag.TAG);
      return p !== 0 || !this.released() ? p : this.mallocAligned(n, align, offset);
    }
    const csize = this.freeSizeAt(c, c + Chunk.SIZE, "TLSF free list entry");
    if (csize < size + align + Chunk.MIN) throw this.corrupt(c + Chunk.SIZE, "Chunk.SIZE", `free chunk of ${csize} bytes in a list of chunks of ${size + align + Chunk.MIN} bytes or more`);
    this.removeChunk(c, csize);
    return this.takeFrom(c, csize, alignGap(c, align, offset), size, Flag.TAG);
  }

  /** Free a chunk known to be in use (header word `sw`), merging with free neighbours or the top. */
  releaseChunk(c: number, sw: number): void {
    const u32 = this.u32;
    let size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    if ((sw & Flag.PREV_FREE) !== 0) {
      const ps = u32[c >>> 2];
      // The footer must lead to a free chunk of that very size (a free chunk's header is
      // exactly size | FREE | TAG: never PREV_FREE, never ARENA): prevFreeOk, validate()'s rule.
      if (!this.prevFreeOk(c)) this.brokenFooter(c);
      c -= ps;
      this.removeChunk(c, ps);
      size += ps;
    }
    const n = c + size;
    if (n === u32[this.wTop]) {
      this.moveTop(this.checkedTop(), c);
      // The top came down: cached chunks merge (into it, when they can), no footprint stays up for them.
      if (u32[this.wCache] > 0) this.flushCache();
      return;
    }
    const nsw = u32[(n + 4) >>> 2];
    if ((nsw & (Flag.FREE | Flag.ARENA)) === Flag.FREE) {
      const ns = ((nsw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
      if (u32[(n + ns) >>> 2] !== ns) this.brokenFooter(n + ns); // its footer repeats its size
      this.removeChunk(n, ns);
      size += ns;
    }
    u32[(c + 4) >>> 2] = (size ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG;
    const after = c + size;
    u32[after >>> 2] = size;
    u32[(after + 4) >>> 2] |= Flag.PREV_FREE;
    this.insertChunk(c, size);
  }

  /**
   * The header word of the in-use, non-arena chunk whose payload is p; throws
   * InvalidPointerError (touching nothing) for anything else.
   */
  validate(op: string, p: number): number {
    const live = this.liveSizeWord(p);
    if (live !== 0) return live;
    // Not a live block by these views: perhaps they end below the top (follow() says why); made
    // current, p is looked at again before it is called invalid.
    return this.follow() ? this.validate(op, p) : this.invalidPointer(op, p);
  }

  /** The size word of p's chunk when p is a live user block, else 0 (validate() then says why). */
  liveSizeWord(p: number): number {
    const u32 = this.u32;
    const top = u32[this.wTop];
    if ((p & 15) !== 0 || p < this.start + Chunk.HEADER || p >= top) return 0;
    const c = p - Chunk.HEADER;
    const sw = u32[(c + 4) >>> 2];
    const size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    if ((sw & (Flag.TAG | Flag.FREE | Flag.ARENA)) !== Flag.TAG || size < Chunk.MIN || c + size > top) return 0;
    // The next chunk (or the top) must look like a chunk in use: an in-use chunk's size has no
    // second copy, so a size word a stray write enlarged ends inside a later chunk, where the
    // words read as a header rarely give a tag, a size of at least Chunk.MIN and an end below
    // the top all at once.
    if (!this.inUseAt(c + size, top)) return 0;
    // A previous free chunk: its footer (this chunk's first word) must lead to it. A block freed
    // and merged into the free chunk before it keeps its old header, which says in use: its
    // footer then leads to the merged chunk, larger (a realloc of it, in place, was accepted).
    if ((sw & Flag.PREV_FREE) !== 0 && !this.prevFreeOk(c)) return 0;
    return sw;
  }

  /** Whether n, where a chunk ends, is the top or holds a header of a chunk in use: tagged, the chunk before it not free, at least Chunk.MIN and ending below the top. */
  private inUseAt(n: number, top: number): boolean {
    if (n === top) return true;
    const nsw = this.u32[(n + 4) >>> 2];
    const size = ((nsw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    return (nsw & (Flag.TAG | Flag.PREV_FREE)) === Flag.TAG && size >= Chunk.MIN && size <= top - n;
  }

  /** Chunk c's first word, the footer of the free chunk before it, leads to a free chunk of that size. */
  private prevFreeOk(c: number): boolean {
    const ps = this.u32[c >>> 2];
    return (ps & 15) === 0 && ps >= Chunk.MIN && ps <= c - this.start && this.u32[(c - ps + 4) >>> 2] === (((ps ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG) >>> 0);
  }

  /** Usable bytes of p when it is a live user block, else 0. */
  liveUsable(p: number): number {
    const sw = this.liveSizeWord(p);
    return sw === 0 ? 0 : (((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0) - Chunk.OVERHEAD;
  }

  /** Why p is no live user block (liveSizeWord() said it is not): an InvalidPointerError. */
  private invalidPointer(op: string, p: number): never {
    const u32 = this.u32;
    const top = u32[this.wTop];
    if ((p & 15) !== 0) throw new InvalidPointerError(op, p, "misaligned", "not 16-byte aligned, so not a block start");
    if (p < this.start + Chunk.HEADER)
      throw new InvalidPointerError(op, p, "out-of-range", `below the heap's blocks, which start at ${hex(this.start + Chunk.HEADER)}`);
    // Past the top: the top comes down when the last chunk is freed, so a block freed already
    // (a double free, a use after free) can lie there as well as a pointer never allocated.
    if (p >= top)
      throw new InvalidPointerError(op, p, "out-of-range", `past the heap's top (${hex(top)}): never allocated, or freed already and the heap has shrunk since (a double free or use after free)`);
    const c = p - Chunk.HEADER;
    const sw = u32[(c + 4) >>> 2];
    const size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    if ((sw & Flag.TAG) === 0 || size < Chunk.MIN || c + size > top) {
      // A chunk does start here by the chain of chunks (a walk: an error path): its header was
      // written over (a write past the end of the block before it), not a stray pointer.
      if (this.isChunkStart(c))
        throw new HeapCorruptionError(c + Chunk.SIZE, `${op}(${hex(p)}): the header of this block holds ${hex(sw)}, no block's (a write past the end of the block before it?)`, "Chunk.SIZE");
      throw this.notABlock(op, p, "no block header here: a pointer into the middle of a block, or never allocated");
    }
    if ((sw & Flag.FREE) !== 0) throw new InvalidPointerError(op, p, "double-free", "this block is already free (double free or use after free)");
    if ((sw & Flag.ARENA) !== 0)
      throw new InvalidPointerError(op, p, "internal", this.isFence(c, sw) ? "this is a fence: pages something else grew for itself in the heap's memory (a module's memory.grow), not a block of the heap" : "this is an arena (or the pool map, or usedpools) of the object allocator, not a user block");
    // Where its size ends, a chunk in use or the top: else no block starts at p (a garbage
    // pointer rarely passes this), or a stray write enlarged its size.
    const nextOk = this.inUseAt(c + size, top);
    if ((sw & Flag.PREV_FREE) !== 0 && !this.prevFreeOk(c)) {
      // The footer before it leads to a free chunk that is larger and covers it: a block freed
      // and merged into that chunk, its old header left (a double free, a use after free).
      // Else, with a consistent next chunk, the footer is damaged.
      const ps = u32[c >>> 2];
      const ph = ps <= c - this.start ? u32[(c - ps + 4) >>> 2] : 0;
      if ((ph & (Flag.FREE | Flag.TAG | Flag.ARENA | Flag.PREV_FREE)) === (Flag.FREE | Flag.TAG) && (((ph ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0) > ps)
        throw new InvalidPointerError(op, p, "double-free", `this block is already free, merged into the free chunk at ${hex(c - ps)} (double free or use after free)`);
      // Else a header that says the chunk before is free, with a footer that does not lead to
      // one: a block whose footer a stray write changed (HeapCorruptionError), or no block at all
      // (a stale header left inside a larger chunk reads so). Told apart by the chain of chunks
      // (an error path: a walk from the first chunk is affordable here).
      if (nextOk && this.isChunkStart(c)) this.brokenFooter(c);
      throw this.notABlock(op, p, `no consistent block here: the footer before it (${ps}) leads to no free chunk, and no chunk starts here (a pointer into a block, or never allocated)`);
    }
    if (!nextOk)
      throw this.notABlock(op, p, `no consistent block here: its size (${size}) does not end where a block in use starts (a pointer into the middle of a block, never allocated, or a header a stray write changed)`);
    throw this.notABlock(op, p, "not a live block");
  }

  /**
   * The error for p, where no block of the heap starts: InvalidPointerError "not-a-block" with
   * `detail`, or, when p lies in a fence, saying whose pages those are (a walk: error paths only).
   */
  private notABlock(op: string, p: number, detail: string): InvalidPointerError {
    const u32 = this.u32;
    const top = u32[this.wTop];
    for (let x = this.start; x < top && x < p; ) {
      const sw = u32[(x + 4) >>> 2];
      const size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
      if (size < Chunk.MIN) break;
      if (p < x + size) {
        if (this.isFence(x, sw))
          return new InvalidPointerError(op, p, "not-a-block", `inside a fence (${hex(x)}, ${size} bytes): pages something else grew for itself in the heap's memory (a module's memory.grow), not the heap's`);
        break;
      }
      x += size;
    }
    return new InvalidPointerError(op, p, "not-a-block", detail);
  }

  /** Whether a chunk starts at c, by the chain of chunks from the first (a walk: error paths only). */
  private isChunkStart(c: number): boolean {
    const u32 = this.u32;
    const top = u32[this.wTop];
    let x = this.start;
    while (x < c) {
      const size = (((u32[(x + 4) >>> 2]) ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
      if (size < Chunk.MIN || size > top - x) return false;
      x += size;
    }
    return x === c;
  }

  free(p: number): void {
    const sw = this.validate("free", p);
    const c = p - Chunk.HEADER;
    const size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    // Cached when small enough, unless it ends at the top (then the top comes down: footprint).
    if (size > RawCache.MAX_SIZE || c + size === this.u32[this.wTop]) return this.releaseChunk(c, sw);
    const u32 = this.u32;
    const count = u32[this.wCache];
    // Full (RawCache: by the heap's size): every cached chunk is merged first (which may change
    // p's chunk's PREV_FREE bit, or bring the top down to it).
    if (count >= RawCache.LIMIT || (count >= RawCache.MIN_LIMIT && count << RawCache.HEAP_SHIFT >= u32[this.wTop] - this.start)) return this.flushCache(), this.free(p);
    const hi = this.wCache + RawCache.HEAD_WORDS + ((size >>> 4) & (RawCache.BINS - 1));
    u32[(c + Chunk.NEXT_FREE) >>> 2] = u32[hi];
    u32[hi] = c;
    u32[(c + 4) >>> 2] = sw | Flag.FREE | Flag.ARENA;
    u32[this.wCache] = count + 1;
  }

  // -------------------------------------------------------------------------------------------
  // The raw cache (RawCache)
  // -------------------------------------------------------------------------------------------

  /**
   * The size of cached chunk c, read through the word at `at` (a list head or link), after
   * checking what every cached chunk is: a chunk address in [start, top), its header's state
   * FREE | ARENA | TAG, a size of Chunk.MIN to RawCache.MAX_SIZE that belongs on the list at
   * `at`... (its bin), ending at or below the top. Else HeapCorruptionError: a damaged head or
   * link is never followed or written.
   */
  private cachedSizeAt(c: number, at: number): number {
    const u32 = this.u32;
    const sw = u32[(c + 4) >>> 2];
    const size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    if (
      (sw & (Flag.FREE | Flag.ARENA | Flag.TAG)) !== (Flag.FREE | Flag.ARENA | Flag.TAG) ||
      c < this.start ||
      ((c - this.start) & 15) !== 0 ||
      size < Chunk.MIN ||
      size > RawCache.MAX_SIZE ||
      c + size > u32[this.wTop]
    )
      throw this.corrupt(at, at < this.start ? "raw cache list head" : "Chunk.NEXT_FREE", `${hex(c)} is no cached chunk (its header or place disagree)`);
    return size;
  }

  /**
   * malloc() did not take cached chunk h, the head of the list at word hi, for a chunk of `size`
   * bytes: fine when h is a cached chunk of another size that shares the list, else damage
   * (HeapCorruptionError: the head, the chunk's header, or the count).
   */
  private cacheMiss(h: number, hi: number, size: number): void {
    if (this.cachedSizeAt(h, hi << 2) === size) throw this.corrupt(this.wCache << 2, "raw cache count", "0 chunks cached, but a list holds one");
  }

  /**
   * Empty the raw cache: every cached chunk is released as free() without the cache would have
   * released it (merged with its free neighbours, listed, or into the top). Each list is taken
   * off whole before its chunks are released, and the count is 0 first, so releaseChunk's own
   * call here (the top coming down) finds nothing to do.
   */
  flushCache(): void {
    const u32 = this.u32;
    const count = u32[this.wCache];
    u32[this.wCache] = 0;
    let seen = 0;
    // Up to the last list that holds a chunk (seen reaching count): a cache of a few small chunks,
    // emptied often while a heap is small, leaves the other lists unread. A count a stray write
    // lowered leaves chunks listed past it: a later malloc that meets one with nothing counted,
    // or the next flush that finds more than the count, reports it (cacheMiss, the check below).
    for (let i = 0; seen < count && i < RawCache.BINS; i++) {
      const hi = this.wCache + RawCache.HEAD_WORDS + i;
      let c = u32[hi];
      u32[hi] = 0;
      let at = hi << 2;
      while (c !== 0) {
        const size = this.cachedSizeAt(c, at);
        if (((size >>> 4) & (RawCache.BINS - 1)) !== i) throw this.corrupt(c + Chunk.SIZE, "Chunk.SIZE", `cached chunk of ${size} bytes on raw cache list ${i}`);
        if (++seen > count) throw this.corrupt(this.wCache << 2, "raw cache count", `the raw cache's lists hold more than its count, ${count} (a cycle?)`);
        const next = u32[(c + Chunk.NEXT_FREE) >>> 2];
        const sw = u32[(c + 4) >>> 2] & ~(Flag.FREE | Flag.ARENA);
        u32[(c + 4) >>> 2] = sw;
        this.releaseChunk(c, sw);
        at = c + Chunk.NEXT_FREE;
        c = next;
      }
    }
    if (seen !== count) throw this.corrupt(this.wCache << 2, "raw cache count", `the raw cache's lists hold ${seen} chunks, its count says ${count}`);
  }

  /**
   * A chunk of n bytes for the object allocator's own state (the pool map's high part, a thread
   * slot's usedpools), zeroed,
   * flagged Flag.ARENA so that free() and realloc() refuse it as internal; it is never given
   * back. The payload, or 0 when memory cannot grow.
   */
  mallocInternal(n: number): number {
    const p = this.malloc(n);
    if (p === 0) return 0;
    this.u32[(p - Chunk.HEADER + 4) >>> 2] |= Flag.ARENA;
    this.u8.fill(0, p, p + n);
    return p;
  }

  /** Whether chunk c (size word sw) is the pool map's high part (H.POOL_MAP_HIGH): flagged as an arena, but none. */
  isMapChunk(c: number, sw: number): boolean {
    return (sw & (Flag.ARENA | Flag.FREE)) === Flag.ARENA && c + Chunk.HEADER === this.u32[this.wMapHigh];
  }

  /**
   * The thread slot whose usedpools array (Used) chunk c (size word sw) is, or -1: flagged as an
   * arena, its payload names a slot (Used.SLOT) whose USED word points back into it.
   */
  usedChunkSlot(c: number, sw: number): number {
    if ((sw & (Flag.ARENA | Flag.FREE)) !== Flag.ARENA) return -1;
    const p = c + Chunk.HEADER;
    const k = this.u32[(p + Used.SLOT) >>> 2];
    return k < this.nSlots && this.u32[(this.slotsBase + k * Slot.BYTES + Slot.USED) >>> 2] === p + Used.HEADS ? k : -1;
  }

  /**
   * Whether chunk c (size word sw) is a fence (fence()): flagged as an arena, its last two words
   * its mark and the heap's end it began at, which lies inside it.
   */
  isFence(c: number, sw: number): boolean {
    if ((sw & (Flag.ARENA | Flag.FREE)) !== Flag.ARENA) return false;
    const e = c + (((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0);
    if (e < c + 2 * Chunk.MIN || e > this.u8.length) return false;
    const own = this.u32[(e - 4) >>> 2];
    return this.u32[(e - 8) >>> 2] === fenceMark(c) && own > c && own <= e - 8;
  }

  /**
   * Whether chunk c (size word sw) holds no arena though flagged as one: the object allocator's
   * own state (isMapChunk, usedChunkSlot) or a fence over a module's pages (isFence).
   */
  isInternalChunk(c: number, sw: number): boolean {
    return this.isMapChunk(c, sw) || this.usedChunkSlot(c, sw) >= 0 || this.isFence(c, sw);
  }

  /** Payload addresses of the arena chunks, in address order (a walk of every chunk; not the internal chunks: isInternalChunk). */
  arenas(): number[] {
    const u32 = this.u32;
    const top = this.top;
    const out: number[] = [];
    for (let c = this.start; c < top; ) {
      const sw = u32[(c + 4) >>> 2];
      const size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
      if (size === 0) break; // corrupt: check() reports it
      if ((sw & (Flag.ARENA | Flag.FREE)) === Flag.ARENA && !this.isInternalChunk(c, sw)) out.push(c + Chunk.HEADER);
      c += size;
    }
    return out;
  }

  /** Release an arena chunk (trusted caller). */
  freeArena(p: number): void {
    const c = p - Chunk.HEADER;
    this.releaseChunk(c, this.u32[(c + 4) >>> 2] & ~Flag.ARENA);
  }

  realloc(p: number, n: number): number {
    const sw = this.validate("realloc", p);
    if (n > Chunk.MAX_REQUEST) return 0;
    const c = p - Chunk.HEADER;
    const csize = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    const size = chunkSizeFor(n);
    const keep = (sw & Flag.PREV_FREE) | Flag.TAG;
    if (size <= csize) {
      this.shrinkTo(c, csize, size, keep);
      return p;
    }
    const u32 = this.u32;
    const nx = c + csize;
    if (nx === u32[this.wTop]) {
      this.checkedTop();
      const end = c + size;
      const lim = end + Chunk.HEADER;
      const r = lim <= u32[this.wEnd] && lim <= this.u8.length ? GROWN : this.extend(nx, lim);
      // A fence now follows the chunk (MOVED): it cannot grow in place; the next chunk decides.
      if (r === MOVED) return this.realloc(p, n);
      if (r === GROWN) {
        const v = this.u32;
        v[(c + 4) >>> 2] = (size ^ Chunk.SIZE_KEY) | keep;
        this.moveTop(nx, end);
        v[(nx + Chunk.SIZE) >>> 2] = 0; // the old mark, now inside the block
        if (end > v[this.wPeak]) v[this.wPeak] = end;
        return p;
      }
      return 0;
    }
    const nsw = u32[(nx + 4) >>> 2];
    if ((nsw & (Flag.FREE | Flag.ARENA)) === Flag.FREE) {
      const ns = ((nsw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
      if (u32[(nx + ns) >>> 2] !== ns) this.brokenFooter(nx + ns);
      if (csize + ns >= size) {
        this.removeChunk(nx, ns);
        this.shrinkTo(c, csize + ns, size, keep);
        return p;
      }
    } else if ((nsw & (Flag.FREE | Flag.ARENA)) === (Flag.FREE | Flag.ARENA)) {
      // A cached chunk follows: merged (with the rest of the cache), it may hold the growth in
      // place, as it would have without the cache (buffers that double grow so: compileall).
      this.flushCache();
      return this.realloc(p, n);
    }
    const q = this.malloc(n);
    if (q === 0) return 0;
    this.u8.copyWithin(q, p, p + Math.min(csize - Chunk.OVERHEAD, n));
    this.releaseChunk(c, this.u32[(c + 4) >>> 2]);
    return q;
  }

  /** Usable bytes of the chunk whose payload is p (trusted). */
  usable(p: number): number {
    return ((((this.u32[(p - 4) >>> 2]) ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0) - Chunk.OVERHEAD;
  }
}
