/**
 * raw/lists.ts — the raw allocator's chunks and their free lists (TLSF: two-level segregated fit).
 *
 * Owns: a chunk's size for a request (chunkSizeFor) and the list a free chunk of a size is kept
 * in (listIndex); the raw allocator's handles on the heap header (its words and tables, the
 * views); the free lists and their bitmaps (insertChunk, removeChunk, findFit, ownListFit; their
 * tests apart, linksOk and listHeadOk, and their writes, unlinkChunk and pushChunk, for callers
 * that test before their first write), the
 * checks a listed chunk passes before it is followed or written (freeSizeAt), and a lead-in, the
 * free chunk left before an aligned one (leadIn). The base of raw/top.ts, raw/chunks.ts and
 * raw/tlsf.ts (each a layer of the one RawAllocator).
 *
 * Design: a free chunk of size s sits in list (fl, sl): fl = floor(log2 s) - 8 (0 for s < 512,
 * which are spread linearly in 16-byte steps), sl = the next 5 bits of s. A request is rounded up
 * to the next list boundary, so the first chunk of the first non-empty list at or above it fits:
 * malloc and free are O(1) (two bitmap scans, a few list edits). Chunks: an 8-byte header (the
 * footer of a free chunk before it, then the size word), 16-byte aligned payloads. Header words
 * hold the size xor Chunk.SIZE_KEY; these files write that arithmetic out where src/constants.ts
 * has sizeOf() and header() for everyone else: through the helpers, V8 inlined less around malloc
 * and free (bench:instructions, the bundled trace in malloc mode: 720 against 665 instructions an
 * event; a malloc(640) and its free 604 against 564-570).
 *
 * Must not: carve from the top or grow the memory (raw/top.ts), decide what a pointer is
 * (raw/chunks.ts), allocate or free (raw/tlsf.ts); know about pools, size classes or families.
 */

import { Chunk, Flag, Tlsf, H, HeapFlag } from "../constants.js";
import { HeapCorruptionError, hex } from "../errors.js";
import type { Memory, Views } from "../memory/memory.js";

export const ctz = (x: number): number => 31 - Math.clz32(x & -x);

/** Chunk bytes for a request of n <= Chunk.MAX_REQUEST bytes (larger n would wrap). */
export const chunkSizeFor = (n: number): number => (n <= Chunk.MIN - Chunk.OVERHEAD ? Chunk.MIN : ((n + Chunk.OVERHEAD + 15) >>> 4) * 16);

/** The free list (fl << SL_SHIFT | sl) a free chunk of `size` bytes is kept in (rounding down). */
export function listIndex(size: number): number {
  if (size < Tlsf.SMALL_BLOCK) return size >>> 4;
  const msb = 31 - Math.clz32(size);
  return ((msb - (Tlsf.FL_SHIFT - 1)) << Tlsf.SL_SHIFT) | ((size >>> (msb - Tlsf.SL_SHIFT)) ^ Tlsf.SL_COUNT);
}

/** The free lists of the raw allocator's chunks (the base layer of RawAllocator, raw/tlsf.ts). */
export class TlsfLists {
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
  protected readonly wMapHigh: number;
  /** Address of thread slot 0 and the slots' count: each slot's USED word may name an internal chunk (Used). */
  protected readonly slotsBase: number;
  protected readonly nSlots: number;
  readonly wSl: number;
  readonly wHeads: number;
  /** The raw cache's table (RawCache): its COUNT word; list head i at wCache + RawCache.HEAD_WORDS + i. */
  readonly wCache: number;
  /** First chunk address. */
  readonly start: number;
  /** Int32 index of the lock's heartbeat word in a heap with threads, else -1 (BEAT_BYTES). */
  protected readonly wBeat: number;

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
    this.wBeat = (this.u32[hw + H.FLAGS] & HeapFlag.THREADS) !== 0 ? hw + H.LOCK_BEAT : -1;
    mem.onViews((v: Views) => {
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
  protected follow(): boolean {
    return !(this.u32[this.wTop] + 8 <= this.u8.length) && this.mem.refresh();
  }

  // -------------------------------------------------------------------------------------------
  // Free lists
  // -------------------------------------------------------------------------------------------

  protected insertChunk(c: number, size: number): void {
    const li = listIndex(size);
    const fl = li >>> Tlsf.SL_SHIFT;
    const sl = li & (Tlsf.SL_COUNT - 1);
    const u32 = this.u32;
    const hi = this.wHeads + li;
    const head = u32[hi];
    // The head is written through: it must be a free chunk heading its list (a chunk address
    // below the top, tagged free, no previous chunk), never a word a stray write left there
    // (pushChunk's stores, written out: the malloc path's).
    if (head !== 0 && (((head - this.start) & 15) !== 0 || head < this.start || head >= u32[this.wTop] || (u32[(head + Chunk.SIZE) >>> 2] & (Flag.FREE | Flag.TAG | Flag.ARENA)) !== (Flag.FREE | Flag.TAG) || u32[(head + Chunk.PREV_FREE) >>> 2] !== 0))
      this.brokenHead(hi);
    u32[(c + Chunk.NEXT_FREE) >>> 2] = head;
    u32[(c + Chunk.PREV_FREE) >>> 2] = 0;
    if (head !== 0) u32[(head + Chunk.PREV_FREE) >>> 2] = c;
    u32[hi] = c;
    u32[this.wFl] |= 1 << fl;
    u32[this.wSl + fl] |= 1 << sl;
  }

  /** insertChunk() without its check of the list's head (the caller's listHeadOk() passed). */
  protected pushChunk(c: number, size: number): void {
    const li = listIndex(size);
    const fl = li >>> Tlsf.SL_SHIFT;
    const sl = li & (Tlsf.SL_COUNT - 1);
    const u32 = this.u32;
    const hi = this.wHeads + li;
    const head = u32[hi];
    u32[(c + Chunk.NEXT_FREE) >>> 2] = head;
    u32[(c + Chunk.PREV_FREE) >>> 2] = 0;
    if (head !== 0) u32[(head + Chunk.PREV_FREE) >>> 2] = c;
    u32[hi] = c;
    u32[this.wFl] |= 1 << fl;
    u32[this.wSl + fl] |= 1 << sl;
  }

  /** h (a list's head) is a chunk address below the top whose header says free (tagged, not an arena). */
  protected freeShape(h: number): boolean {
    return ((h - this.start) & 15) === 0 && h >= this.start && h < this.u32[this.wTop] && (this.u32[(h + Chunk.SIZE) >>> 2] & (Flag.FREE | Flag.TAG | Flag.ARENA)) === (Flag.FREE | Flag.TAG);
  }

  /**
   * Whether list li's head, once the free chunks a and b (0: none; their links checked: linksOk)
   * are unlinked, may be written through (insertChunk's test, made before any write of a merge
   * or split so that a refusal leaves every byte as it was): none, or a chunk of freeShape()
   * with no previous one (a head that an unlink made so has its previous link cleared then).
   */
  protected listHeadOk(li: number, a: number, b: number): boolean {
    const u32 = this.u32;
    const h = u32[this.wHeads + li];
    if (h === 0) return true;
    // The chunk to test: the head, or when it goes the first chunk after it that stays. The
    // head's next (n) and the one after it are read, and n compared, for every head, the head
    // that goes only choosing among them: V8 compiles a branch first taken after TurboFan compiled
    // the function to a deopt, and the head going was such a branch (session 51: compileall,
    // imports, json; 1 deopt of releaseIf or releaseOk each). (n = 0 reads a header word, unused.)
    let n = u32[(h + Chunk.NEXT_FREE) >>> 2];
    const after = u32[(n + Chunk.NEXT_FREE) >>> 2];
    const skip = (n === a || n === b) && n !== 0;
    if (h !== a && h !== b) {
      if (u32[(h + Chunk.PREV_FREE) >>> 2] !== 0) return false;
      n = h;
    } else if (skip) n = after;
    return n === 0 || this.freeShape(n);
  }

  /** Unlink free chunk c of `size` bytes, its links checked first (linksOk's test, written out: the malloc path's). */
  protected removeChunk(c: number, size: number): void {
    const li = listIndex(size);
    const fl = li >>> Tlsf.SL_SHIFT;
    const sl = li & (Tlsf.SL_COUNT - 1);
    const u32 = this.u32;
    const next = u32[(c + Chunk.NEXT_FREE) >>> 2];
    const prev = u32[(c + Chunk.PREV_FREE) >>> 2];
    // The word that links to c: the previous chunk's NEXT_FREE, or the list's head. Its address
    // is worked out for every chunk, one choice of two locals (an add first run for a chunk not
    // heading its list, after TurboFan had compiled this, deoptimized it: session 51).
    let pw = (prev + Chunk.NEXT_FREE) >>> 2;
    if (prev === 0) pw = this.wHeads + li;
    if ((next !== 0 && u32[(next + Chunk.PREV_FREE) >>> 2] !== c) || u32[pw] !== c) this.brokenList(c);
    if (next !== 0) u32[(next + Chunk.PREV_FREE) >>> 2] = prev;
    u32[pw] = next;
    if ((prev | next) === 0) {
      const m = u32[this.wSl + fl] & ~(1 << sl);
      u32[this.wSl + fl] = m;
      if (m === 0) u32[this.wFl] &= ~(1 << fl);
    }
  }

  /**
   * Free chunk c of `size` bytes may be unlinked: links are written through, so each neighbour
   * must link back to c (never a wild write), and a chunk with no previous one must head its
   * list: a live chunk whose FREE bit a stray write set and whose link words hold zeros (user
   * data often does; its in-use footer repeats its size) was merged into a neighbour being
   * freed, and handed out over its user, until 2026-12-07.
   */
  protected linksOk(c: number, size: number): boolean {
    const u32 = this.u32;
    const next = u32[(c + Chunk.NEXT_FREE) >>> 2];
    const prev = u32[(c + Chunk.PREV_FREE) >>> 2];
    return (next === 0 || u32[(next + Chunk.PREV_FREE) >>> 2] === c) && (prev !== 0 ? u32[(prev + Chunk.NEXT_FREE) >>> 2] === c : u32[this.wHeads + listIndex(size)] === c);
  }

  /** removeChunk() without its check (the caller's linksOk() passed). */
  protected unlinkChunk(c: number, size: number): void {
    const li = listIndex(size);
    const fl = li >>> Tlsf.SL_SHIFT;
    const sl = li & (Tlsf.SL_COUNT - 1);
    const u32 = this.u32;
    const next = u32[(c + Chunk.NEXT_FREE) >>> 2];
    const prev = u32[(c + Chunk.PREV_FREE) >>> 2];
    if (next !== 0) u32[(next + Chunk.PREV_FREE) >>> 2] = prev;
    if (prev !== 0) {
      u32[(prev + Chunk.NEXT_FREE) >>> 2] = next;
    } else {
      const hi = this.wHeads + li;
      u32[hi] = next;
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
  protected freeSizeAt(c: number, at: number, what: string): number {
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

  /**
   * A chunk of size's own list (whose chunks may be smaller than size) that holds size bytes, of
   * the first Tlsf.OWN_LIST_TRIES; or 0. Tried before findFit(), which skips that list and splits a
   * chunk of a larger one (compileall's peak footprint: 1.121 of the live bytes without, 1.103 with).
   */
  protected ownListFit(size: number): number {
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
  protected findFit(size: number): number {
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
      fl = 31 - Math.clz32(flmap & -flmap); // ctz, written out: a module function's call loads and checks its cell
      slmap = u32[this.wSl + fl];
    }
    return u32[this.wHeads + (fl << Tlsf.SL_SHIFT) + (31 - Math.clz32(slmap & -slmap))];
  }

  /**
   * The `gap` bytes from c become a free chunk on its list, footer written (a lead-in before an
   * aligned chunk or a fence; c's left neighbour is in use): the chunk after it gets PREV_FREE.
   */
  protected leadIn(c: number, gap: number): void {
    const u32 = this.u32;
    u32[(c + 4) >>> 2] = (gap ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG;
    u32[(c + gap) >>> 2] = gap;
    this.insertChunk(c, gap);
  }

  // -------------------------------------------------------------------------------------------
  // Errors
  // -------------------------------------------------------------------------------------------

  protected corrupt(at: number, what: string, detail: string): HeapCorruptionError {
    return new HeapCorruptionError(at, detail, what);
  }

  /** The head word at word index hi is no free chunk heading its list. */
  protected brokenHead(hi: number): never {
    throw this.corrupt(hi << 2, "TLSF free list head", `${hex(this.u32[hi])} is no free chunk heading its list`);
  }

  /** A free chunk's list neighbours do not link back to it (out of line: a cold path). */
  protected brokenList(c: number): never {
    throw this.corrupt(c + Chunk.NEXT_FREE, "Chunk.NEXT_FREE", `free chunk ${hex(c)}'s list neighbours do not link back to it (or, with no previous one, its list's head is another chunk: a chunk in use whose header a stray write made read free?)`);
  }

  /** A chunk whose size word reads as cached (FREE | ARENA) after the cache was emptied. */
  protected notCached(c: number): never {
    throw this.corrupt(c + Chunk.SIZE, "Chunk.SIZE", `chunk ${hex(c)} reads as a cached chunk, but the raw cache was just emptied (a write over its size word?)`);
  }

  /** A footer (PREV_SIZE word) at `at` disagrees with the free chunk it belongs to. */
  protected brokenFooter(at: number): never {
    throw this.corrupt(at, "Chunk.PREV_SIZE", "footer and free chunk header disagree on the chunk's size");
  }
}
