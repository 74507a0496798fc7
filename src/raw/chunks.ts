/**
 * raw/chunks.ts — what a chunk is: a live user block, or one of the heap's own.
 *
 * Owns: the test that a pointer is a live block's (liveSizeWord, validate) and, when it is not,
 * the error that says why (invalidPointer: misaligned, out of range, a double free, a block
 * inside a fence, a header a stray write changed); the recognition of chunks flagged ARENA that
 * hold no arena (the pool map's high part, a thread slot's usedpools, a fence: isInternalChunk);
 * the arena chunks' list (arenas); a chunk's usable bytes.
 *
 * Design: a pointer is accepted only when the chunk where its size ends looks in use too
 * (inUseAt), its footer there repeats its size (Chunk) and a footer before it that says free
 * leads to a free chunk of that size (prevFreeOk); the walks from the first chunk (isChunkStart, notABlock) run
 * on error paths only.
 *
 * Must not: change any chunk (every method here only reads), allocate or free (raw/tlsf.ts).
 */

import { Chunk, Flag, Slot, Used, fenceMark } from "../constants.js";
import { HeapCorruptionError, InvalidPointerError, hex } from "../errors.js";
import { TopChunk } from "./top.js";

/** Pointers and chunks told apart (a layer of RawAllocator, raw/tlsf.ts). */
export class CheckedChunks extends TopChunk {
  // -------------------------------------------------------------------------------------------
  // Live blocks
  // -------------------------------------------------------------------------------------------

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
    // The next chunk (or the top) must look like a chunk in use: a size word a stray write
    // enlarged ends inside a later chunk, where the words read as a header rarely give a tag, a
    // size of at least Chunk.MIN and an end below the top all at once.
    if (!this.inUseAt(c + size, top)) return 0;
    // Its footer, the next chunk's first word, repeats its size (Chunk, HEAP_VERSION 17): a size
    // word changed to end where another chunk starts, or a write of 1-4 bytes past the block.
    if (u32[(c + size) >>> 2] !== size) return 0;
    // A previous free chunk: its footer (this chunk's first word) must lead to it. A block freed
    // and merged into the free chunk before it keeps its old header, which says in use: its
    // footer then leads to the merged chunk, larger (a realloc of it, in place, was accepted).
    if ((sw & Flag.PREV_FREE) !== 0 && !this.prevFreeOk(c)) return 0;
    return sw;
  }

  /** Whether n, where a chunk ends, is the top or holds a header of a chunk in use: tagged, the chunk before it not free, at least Chunk.MIN and ending below the top. */
  protected inUseAt(n: number, top: number): boolean {
    if (n === top) return true;
    const nsw = this.u32[(n + 4) >>> 2];
    const size = ((nsw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    return (nsw & (Flag.TAG | Flag.PREV_FREE)) === Flag.TAG && size >= Chunk.MIN && size <= top - n;
  }

  /** Chunk c's first word, the footer of the free chunk before it, leads to a free chunk of that size. */
  protected prevFreeOk(c: number): boolean {
    const ps = this.u32[c >>> 2];
    return (ps & 15) === 0 && ps >= Chunk.MIN && ps <= c - this.start && this.u32[(c - ps + 4) >>> 2] === (((ps ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG) >>> 0);
  }

  /** Usable bytes of p when it is a live user block, else 0. */
  liveUsable(p: number): number {
    const sw = this.liveSizeWord(p);
    return sw === 0 ? 0 : (((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0) - Chunk.OVERHEAD;
  }

  /** Usable bytes of the chunk whose payload is p (trusted). */
  usable(p: number): number {
    return ((((this.u32[(p - 4) >>> 2]) ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0) - Chunk.OVERHEAD;
  }

  /** Why p is no live user block (liveSizeWord() said it is not): an InvalidPointerError. */
  protected invalidPointer(op: string, p: number): never {
    const u32 = this.u32;
    const top = u32[this.wTop];
    // Out of range first: an address below the heap (8, say, on a heap at 64 KiB) is no block
    // whatever its alignment, and a heap of 8-byte alignment has blocks at 8 mod 16.
    if (p < this.start + Chunk.HEADER)
      throw new InvalidPointerError(op, p, "out-of-range", `below the heap's blocks, which start at ${hex(this.start + Chunk.HEADER)}`);
    // Past the top: the top comes down when the last chunk is freed, so a block freed already
    // (a double free, a use after free) can lie there as well as a pointer never allocated.
    if (p >= top)
      throw new InvalidPointerError(op, p, "out-of-range", `past the heap's top (${hex(top)}): never allocated, or freed already and the heap has shrunk since (a double free or use after free)`);
    if ((p & 15) !== 0) throw new InvalidPointerError(op, p, "misaligned", "not 16-byte aligned, so not a block start (no pool holds it, and blocks outside pools start 16-byte aligned)");
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
    const f = u32[(c + size) >>> 2];
    if (f !== size && this.isChunkStart(c))
      throw new HeapCorruptionError(
        c + Chunk.SIZE,
        `${op}(${hex(p)}): this block's size word says ${size} bytes, and its copy after the block (at ${hex(c + size)}) says ${f}: a write past the end of this block (up to 4 bytes), or over its size word`,
        "Chunk.SIZE",
      );
    throw this.notABlock(op, p, "not a live block");
  }

  /**
   * The error for p, where no block of the heap starts: InvalidPointerError "not-a-block" with
   * `detail`, or, when p lies in a fence, saying whose pages those are (a walk: error paths only).
   */
  protected notABlock(op: string, p: number, detail: string): InvalidPointerError {
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
  protected isChunkStart(c: number): boolean {
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

  // -------------------------------------------------------------------------------------------
  // The heap's own chunks (flagged ARENA)
  // -------------------------------------------------------------------------------------------

  /** Whether chunk c (size word sw) is the pool map's high part (H.POOL_MAP_HIGH): flagged as an arena, but none. */
  isMapChunk(c: number, sw: number): boolean {
    return (sw & (Flag.ARENA | Flag.FREE)) === Flag.ARENA && c + Chunk.HEADER === this.u32[this.wMapHigh];
  }

  /**
   * Whether p, read from H.POOL_MAP_HIGH, is the payload of a chunk the object allocator took for
   * the map's high part (mallocInternal): aligned, in use and flagged ARENA, at least `bytes` long
   * (the high part's size; 0 when the heap's growth limit leaves no high part, when any address is
   * a stray write), ending below the top where a chunk in use starts. Read before the chunk is
   * given back (releaseMapHigh) and before its bits are written (markMap): a word a stray write
   * aimed into a user's block gave that block back as a free chunk under its user, or had arenas'
   * bits written into it (a fuzz of 2026-12-07). Reads only the chunk's header and the next
   * one's, no walk.
   */
  isMapChunkAt(p: number, bytes: number): boolean {
    const top = this.u32[this.wTop];
    if (bytes === 0 || (p & 15) !== 0 || p < this.start + Chunk.HEADER || p >= top) return false;
    const c = p - Chunk.HEADER;
    const sw = this.u32[(c + 4) >>> 2];
    const size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    return (sw & (Flag.TAG | Flag.FREE | Flag.ARENA)) === (Flag.TAG | Flag.ARENA) && size >= bytes + Chunk.HEADER && size <= top - c && this.inUseAt(c + size, top);
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
}
