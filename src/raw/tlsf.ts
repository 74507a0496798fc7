/**
 * raw/tlsf.ts — the general-purpose ("system malloc") allocator: two-level segregated fit.
 *
 * Owns: RawAllocator's entry points, malloc, free, realloc, mallocAligned (aligned_alloc's larger
 * alignments), mallocArena (the object allocator's arenas, pool-aligned) and mallocInternal (its
 * own state); releasing a chunk (merged at once with free neighbours or the top) and splitting
 * one; the raw cache in front of the lists (RawCache in constants.ts, glibc's tcache).
 * The layers below: raw/lists.ts (chunks, the TLSF lists), raw/top.ts (the top, the memory's
 * growth, fences), raw/chunks.ts (pointer validation, the heap's own chunks).
 *
 * Design: free() keeps a chunk of up to RawCache.MAX_SIZE bytes whole on a list of its size, and
 * malloc takes it back from there; the cache is emptied into the lists (flushCache) before the
 * top passes its peak or takes a chunk, when it is full and at collect(), so the peak footprint
 * is the lists' alone (RawCache in constants.ts). Past the cache, a free chunk from the lists, else the top.
 *
 * A refused call leaves the heap as it was: every path that merges or releases a chunk checks
 * what that follows (releaseOk, releaseIf: both neighbours, their links, the top, the head of the
 * list it goes on) before its first write; the errors are worked out again out of line
 * (releaseRefused). A cache flush that refuses keeps what it released (free chunks: no user
 * holds them) and leaves the rest cached.
 *
 * Must not: know about pools, size classes or families. Pointers are validated by free() and
 * realloc() (the public entry points); the *Chunk methods trust their callers.
 */

import { BEAT_BYTES, Chunk, Flag, H, RawCache, Tlsf, sizeOf, topMark } from "../constants.js";
import { hex } from "../errors.js";
import { chunkSizeFor, ctz, listIndex } from "./lists.js";
import { alignGap, GROWN, MOVED } from "./top.js";
import { CheckedChunks } from "./chunks.js";

export class RawAllocator extends CheckedChunks {
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
        // (Its footer repeats its size: cachedSizeAt says why.)
        const e = h + size;
        if (((sw | Flag.PREV_FREE) ^ size ^ Chunk.SIZE_KEY) === Flag.MASK && h >= this.start && ((h - this.start) & 15) === 0 && e <= u32[this.wTop] && count > 0 && u32[e >>> 2] === size) {
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
      // Nothing free fits: before the top passes its peak, the cached chunks, merged, may (the
      // peak footprint TLSF alone would have). Under the peak the top takes it, the cache kept.
      if (this.u32[this.wCache] > 0 && this.u32[this.wTop] + size > this.u32[this.wPeak]) return this.flushCache(), this.malloc(n);
      const p = this.fromTopFirst(size, n);
      return p !== 0 || !this.released() ? p : this.malloc(n);
    }
    // What a list gives is checked like any link: a free chunk, and in a list that fits.
    const csize = this.freeSizeAt(c, c + Chunk.SIZE, "TLSF free list entry");
    if (csize < size) throw this.corrupt(c + Chunk.SIZE, "Chunk.SIZE", `free chunk of ${csize} bytes in a list of chunks of ${size} bytes or more`);
    // (A damaged head of the list the remainder goes on is met by splitFree's insertChunk after
    // c left its list: a refused malloc that keeps c, free, on no list. Tested first, with
    // listHeadOk, it cost malloc mode 8% of its instructions on the bundled trace (session 49).)
    this.removeChunk(c, csize);
    this.splitFree(c, csize, size);
    return c + Chunk.HEADER;
  }

  /**
   * shrinkTo(c, csize, size, Flag.TAG) for a chunk c that was free until now (just taken off its
   * list, its footer checked by freeSizeAt): the chunk after it is in use and already has
   * PREV_FREE (free chunks never touch each other or the top), so the remainder is listed as it
   * is, without releaseChunk's merges and tests of the next chunk and the top (a malloc from the
   * lists), and a chunk kept whole keeps
   * the footer freeSizeAt read. The heap ends byte for byte as shrinkTo leaves it.
   */
  private splitFree(c: number, csize: number, size: number): void {
    const u32 = this.u32;
    const rem = csize - size;
    const n = c + csize;
    if (rem >= Chunk.MIN) {
      u32[(c + 4) >>> 2] = (size ^ Chunk.SIZE_KEY) | Flag.TAG;
      const r = c + size;
      u32[r >>> 2] = size;
      u32[(r + 4) >>> 2] = (rem ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG;
      u32[n >>> 2] = rem;
      this.insertChunk(r, rem);
    } else {
      u32[(c + 4) >>> 2] = (csize ^ Chunk.SIZE_KEY) | Flag.TAG;
      u32[(n + 4) >>> 2] &= ~Flag.PREV_FREE;
    }
  }

  /**
   * mallocListed's chunk of `size` bytes from the top, for a request of n bytes: first the free
   * arenas the object allocator keeps go back (onTop, which never allocates, and is not called
   * while onFull gives memory back) and n is tried again in their room; told whether the top
   * would pass its peak (the footprint grow), when the arena kept against churn goes back too.
   */
  private fromTopFirst(size: number, n: number): number {
    if (this.onTop !== null && !this.releasing && this.onTop(this.u32[this.wTop] + size > this.u32[this.wPeak])) return this.malloc(n);
    return this.fromTop(size, 0, 0, Flag.TAG);
  }

  free(p: number): void {
    const sw = this.validate("free", p);
    const c = p - Chunk.HEADER;
    const size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    // Cached when small enough, unless it ends at the top (then the top comes down).
    const u32 = this.u32;
    const top = u32[this.wTop]; // read once: the end test and the full test below
    if (size > RawCache.MAX_SIZE || c + size === top) return this.releaseChunk(c, sw);
    const count = u32[this.wCache];
    // Full (RawCache: by the heap's size): every cached chunk is merged first (which may change
    // p's chunk's PREV_FREE bit, or bring the top down to it).
    if (count >= RawCache.LIMIT || (count >= RawCache.MIN_LIMIT && count << RawCache.HEAP_SHIFT >= top - this.start)) return this.flushCache(), this.free(p);
    const hi = this.wCache + RawCache.HEAD_WORDS + ((size >>> 4) & (RawCache.BINS - 1));
    u32[(c + Chunk.NEXT_FREE) >>> 2] = u32[hi];
    u32[hi] = c;
    u32[(c + 4) >>> 2] = sw | Flag.FREE | Flag.ARENA;
    u32[this.wCache] = count + 1;
  }

  realloc(p: number, n: number): number {
    const sw = this.validate("realloc", p);
    if (n > Chunk.MAX_REQUEST) return 0;
    const c = p - Chunk.HEADER;
    const csize = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    const size = chunkSizeFor(n);
    const keep = (sw & Flag.PREV_FREE) | Flag.TAG;
    const u32 = this.u32;
    const nx = c + csize;
    if (size <= csize) {
      this.shrinkTo(c, csize, size, keep);
      return p;
    }
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
        v[end >>> 2] = size; // the footer (Chunk)
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
        this.growInto(c, csize, ns, size, keep);
        return p;
      }
    } else if ((nsw & (Flag.FREE | Flag.ARENA)) === (Flag.FREE | Flag.ARENA)) {
      // A cached chunk follows: merged (with the rest of the cache), it may hold the growth in
      // place, as it would have without the cache (buffers that double grow so: compileall).
      this.flushCache();
      // Emptied, the cache holds no chunk: one that still reads as cached (a stray write gave a
      // chunk's size word FREE | ARENA) would send this realloc round again, for ever.
      if (nx !== u32[this.wTop] && (u32[(nx + 4) >>> 2] & (Flag.FREE | Flag.ARENA)) === (Flag.FREE | Flag.ARENA)) this.notCached(nx);
      return this.realloc(p, n);
    }
    // Moved. The old chunk is released by releaseIf, which writes nothing when it refuses: then
    // q is given back (moveRefused; a refusal here left q taken until session 49: a leak). Not
    // asked before malloc(q) as well (the wasm fast path does: a refusal then writes nothing at
    // all): a releaseOk more on every move, on malloc mode's path (session 49, docs/performance.md).
    const q = this.malloc(n);
    if (q === 0) return 0;
    this.moveBytes(q, p, Math.min(csize - Chunk.OVERHEAD, n));
    // malloc may have changed its neighbours (taken the free chunk before it, emptied the cache:
    // then the top cannot have come down to it with chunks cached, so no flush is owed here).
    if (!this.releaseIf(c, this.u32[(c + 4) >>> 2])) return this.moveRefused(c, this.u32[(c + 4) >>> 2], q);
    return q;
  }

  /**
   * realloc grows chunk c (csize bytes, header bits keep) to `size` into the free chunk after it
   * (ns bytes, its footer checked): what it follows is checked first (its links, the chunk after
   * it, the head of the remainder's list), then it is unlinked, and the remainder, if any, listed
   * as it is (the chunk after it is in use: splitFree's stores). The heap ends byte for byte as
   * shrinkTo(c, csize + ns, size, keep) left it until session 49, which could refuse after its writes.
   */
  private growInto(c: number, csize: number, ns: number, size: number, keep: number): void {
    const u32 = this.u32;
    const nx = c + csize;
    const after = nx + ns;
    if (!this.linksOk(nx, ns)) this.brokenList(nx);
    // Free chunks never touch each other or the top.
    if (ns < Chunk.MIN || after >= u32[this.wTop] || (u32[(after + 4) >>> 2] & (Flag.FREE | Flag.ARENA)) === Flag.FREE)
      throw this.corrupt(nx + Chunk.SIZE, "Chunk.SIZE", `free chunk ${hex(nx)} of ${ns} bytes ends at ${hex(after)}: at or past the top, or at another free chunk (free chunks touch neither)`);
    const rem = csize + ns - size;
    if (rem >= Chunk.MIN && !this.listHeadOk(listIndex(rem), nx, 0)) this.headRefused(listIndex(rem), nx, 0);
    this.unlinkChunk(nx, ns);
    if (rem >= Chunk.MIN) {
      u32[(c + 4) >>> 2] = (size ^ Chunk.SIZE_KEY) | keep;
      const r = c + size;
      u32[r >>> 2] = size;
      u32[(r + 4) >>> 2] = (rem ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG;
      u32[after >>> 2] = rem;
      this.pushChunk(r, rem);
    } else {
      u32[(c + 4) >>> 2] = ((csize + ns) ^ Chunk.SIZE_KEY) | keep;
      u32[after >>> 2] = csize + ns;
      u32[(after + 4) >>> 2] &= ~Flag.PREV_FREE;
    }
  }

  /**
   * realloc moved p's chunk c (header sw) to q and found c cannot be released (releaseOk, asked
   * again after malloc): q is given back and the error thrown, c left live (out of line).
   */
  private moveRefused(c: number, sw: number, q: number): number {
    if (this.follow() && this.releaseOk(c, sw)) {
      this.releaseWrites(c, sw);
      return q;
    }
    this.releaseChunk(q - Chunk.HEADER, this.u32[(q - Chunk.HEADER + 4) >>> 2]);
    this.releaseRefused(c, sw);
    throw this.corrupt(c + Chunk.SIZE, "Chunk.SIZE", `chunk ${hex(c)} cannot be released`); // (releaseRefused throws: views current, releaseOk said no)
  }

  /**
   * Copy len bytes from p to q (two chunks: no overlap). With threads, under the lock: a long copy
   * goes BEAT_BYTES at a time, beating the lock's heartbeat after each, so that a thread waiting
   * for the lock (check(), attachHeap, another Worker's raw call) does not take this live holder
   * for a dead one (a 500 MiB move onto fresh pages held the lock 2.5 s, over check()'s 2 s).
   */
  private moveBytes(q: number, p: number, len: number): void {
    if (len <= BEAT_BYTES || this.wBeat < 0) {
      this.u8.copyWithin(q, p, p + len);
      return;
    }
    for (let d = 0; d < len; d += BEAT_BYTES) {
      this.u8.copyWithin(q + d, p + d, p + Math.min(len, d + BEAT_BYTES));
      Atomics.add(this.mem.views.i32, this.wBeat, 1);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Chunks released and split
  // -------------------------------------------------------------------------------------------

  /**
   * Free a chunk known to be in use (header word `sw`), merging with free neighbours or the top;
   * HeapCorruptionError, having written nothing, when what it would follow is damaged (releaseOk).
   */
  releaseChunk(c: number, sw: number): void {
    // A chunk at the top brings the top down to it, or to the free chunk before it; cached
    // chunks below stay cached (RawCache: they merge before the top passes its peak).
    if (!this.releaseIf(c, sw)) this.releaseAgain(c, sw);
  }

  /** releaseIf() said no: the error (releaseRefused), or, views made current, the release (out of line). */
  private releaseAgain(c: number, sw: number): void {
    this.releaseRefused(c, sw);
    this.releaseWrites(c, sw);
  }

  /**
   * releaseOk(c, sw), then releaseWrites(c, sw), in one: the words the tests read are not read
   * again for the writes (free's and the cache flush's path). False, having written nothing,
   * when releaseOk would be.
   */
  protected releaseIf(c: number, sw: number): boolean {
    const u32 = this.u32;
    let size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    const n = c + size;
    const top = u32[this.wTop];
    let ps = 0;
    if ((sw & Flag.PREV_FREE) !== 0) {
      if (!this.prevFreeOk(c)) return false;
      ps = u32[c >>> 2];
      if (!this.linksOk(c - ps, ps)) return false;
    }
    if (n === top) {
      if (!this.topOk(top)) return false;
      if (ps !== 0) this.unlinkChunk(c - ps, ps);
      this.moveTop(top, c - ps);
      return true;
    }
    const nsw = u32[(n + 4) >>> 2];
    let ns = 0;
    if ((nsw & (Flag.FREE | Flag.ARENA)) === Flag.FREE) {
      ns = ((nsw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
      if (ns < Chunk.MIN || ns >= top - n || u32[(n + ns) >>> 2] !== ns || !this.linksOk(n, ns)) return false;
    }
    size += ps + ns;
    if ((ps | ns) === 0) {
      // Nothing merged (the flush's common case): insertChunk's test of the head, written out.
      const head = u32[this.wHeads + listIndex(size)];
      if (head !== 0 && (u32[(head + Chunk.PREV_FREE) >>> 2] !== 0 || !this.freeShape(head))) return false;
    } else if (!this.listHeadOk(listIndex(size), ps !== 0 ? c - ps : 0, ns !== 0 ? n : 0)) return false;
    if (ps !== 0) {
      c -= ps;
      this.unlinkChunk(c, ps);
    }
    if (ns !== 0) this.unlinkChunk(n, ns);
    u32[(c + 4) >>> 2] = (size ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG;
    const after = c + size;
    u32[after >>> 2] = size;
    u32[(after + 4) >>> 2] |= Flag.PREV_FREE;
    this.pushChunk(c, size);
    return true;
  }

  /**
   * Whether chunk c, in use (header word sw), can be released as releaseWrites() does it: a
   * footer before it (PREV_FREE) leads to a free chunk of that size whose list links lead back
   * to it (prevFreeOk, linksOk); where it ends, the top with its mark, or a free chunk that ends
   * below the top, its footer repeating its size and its links leading back; and the head of the
   * list the merged chunk goes on, once those are unlinked, a free chunk (listHeadOk). Reads
   * only: each raw path that merges or releases a chunk asks before its first write, so that a
   * refusal (releaseRefused) leaves every byte as it was.
   */
  protected releaseOk(c: number, sw: number): boolean {
    const u32 = this.u32;
    let size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    const n = c + size;
    const top = u32[this.wTop];
    let pc = 0;
    if ((sw & Flag.PREV_FREE) !== 0) {
      if (!this.prevFreeOk(c)) return false;
      const ps = u32[c >>> 2];
      pc = c - ps;
      if (!this.linksOk(pc, ps)) return false;
      size += ps;
    }
    if (n === top) return this.topOk(top);
    const nsw = u32[(n + 4) >>> 2];
    let nc = 0;
    if ((nsw & (Flag.FREE | Flag.ARENA)) === Flag.FREE) {
      const ns = ((nsw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
      if (ns < Chunk.MIN || ns >= top - n || u32[(n + ns) >>> 2] !== ns || !this.linksOk(n, ns)) return false;
      nc = n;
      size += ns;
    }
    return this.listHeadOk(listIndex(size), pc, nc);
  }

  /** Release chunk c (header word sw; releaseOk() passed): merged with its free neighbours, listed, or into the top. */
  protected releaseWrites(c: number, sw: number): void {
    const u32 = this.u32;
    let size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    if ((sw & Flag.PREV_FREE) !== 0) {
      const ps = u32[c >>> 2];
      c -= ps;
      this.unlinkChunk(c, ps);
      size += ps;
    }
    const n = c + size;
    const top = u32[this.wTop];
    if (n === top) {
      this.moveTop(top, c);
      return;
    }
    const nsw = u32[(n + 4) >>> 2];
    if ((nsw & (Flag.FREE | Flag.ARENA)) === Flag.FREE) {
      const ns = ((nsw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
      this.unlinkChunk(n, ns);
      size += ns;
    }
    u32[(c + 4) >>> 2] = (size ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG;
    const after = c + size;
    u32[after >>> 2] = size;
    u32[(after + 4) >>> 2] |= Flag.PREV_FREE;
    this.pushChunk(c, size);
  }

  /**
   * releaseOk(c, sw) said no: the HeapCorruptionError for what it found (nothing was written);
   * or, when the views were short of the top (follow()) and with current ones it says yes,
   * nothing (the caller goes on). Out of line: an error path.
   */
  protected releaseRefused(c: number, sw: number): void {
    if (this.follow() && this.releaseOk(c, sw)) return;
    const u32 = this.u32;
    let size = ((sw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
    const n = c + size;
    const top = u32[this.wTop];
    let pc = 0;
    if ((sw & Flag.PREV_FREE) !== 0) {
      // The footer must lead to a free chunk of that very size (a free chunk's header is
      // exactly size | FREE | TAG: never PREV_FREE, never ARENA): prevFreeOk, validate()'s rule.
      if (!this.prevFreeOk(c)) this.brokenFooter(c);
      const ps = u32[c >>> 2];
      pc = c - ps;
      if (!this.linksOk(pc, ps)) this.brokenList(pc);
      size += ps;
    }
    if (n === top) this.checkedTop();
    else {
      const nsw = u32[(n + 4) >>> 2];
      let nc = 0;
      if ((nsw & (Flag.FREE | Flag.ARENA)) === Flag.FREE) {
        const ns = ((nsw ^ Chunk.SIZE_KEY) & ~Flag.MASK) >>> 0;
        if (ns < Chunk.MIN || ns >= top - n) throw this.corrupt(n + Chunk.SIZE, "Chunk.SIZE", `free chunk ${hex(n)} of ${ns} bytes: too small, or reaching the top (a free chunk never touches it)`);
        if (u32[(n + ns) >>> 2] !== ns) this.brokenFooter(n + ns); // its footer repeats its size
        if (!this.linksOk(n, ns)) this.brokenList(n);
        nc = n;
        size += ns;
      }
      if (!this.listHeadOk(listIndex(size), pc, nc)) this.headRefused(listIndex(size), pc, nc);
    }
    throw this.corrupt(c + Chunk.SIZE, "Chunk.SIZE", `chunk ${hex(c)} cannot be released, for no reason found again`);
  }

  /** listHeadOk(li, a, b) said no: the word that leads to no free chunk heading the list (out of line). */
  protected headRefused(li: number, a: number, b: number): never {
    const u32 = this.u32;
    const hi = this.wHeads + li;
    const h = u32[hi];
    if (h !== a && h !== b) this.brokenHead(hi);
    const hn = u32[(h + Chunk.NEXT_FREE) >>> 2];
    const x = hn !== 0 && (hn === a || hn === b) ? hn : h;
    throw this.corrupt(x + Chunk.NEXT_FREE, "Chunk.NEXT_FREE", `free chunk ${hex(x)}'s next link ${hex(u32[(x + Chunk.NEXT_FREE) >>> 2])} leads to no free chunk, and it heads its list once unlinked`);
  }

  /**
   * Give chunk c the size `size` (≤ its current size `csize`) with header bits `flags`;
   * the remainder, if it can form a chunk, is released (merging with what follows), checked
   * before the first write here (releaseOk): a refusal leaves c as it was. The caller empties
   * the cache first when the remainder would merge into the top (releaseChunk's rule).
   */
  private shrinkTo(c: number, csize: number, size: number, flags: number): void {
    const u32 = this.u32;
    const rem = csize - size;
    // An in-use chunk's footer (Chunk) is the next chunk's first word: written here for every
    // chunk a split or a merge made (an arena's last word is its own: no footer).
    const footer = (flags & Flag.ARENA) === 0;
    if (rem >= Chunk.MIN) {
      const r = c + size;
      const rsw = (rem ^ Chunk.SIZE_KEY) | Flag.TAG;
      if (!this.releaseOk(r, rsw)) this.releaseRefused(r, rsw);
      u32[(c + 4) >>> 2] = (size ^ Chunk.SIZE_KEY) | flags;
      if (footer) u32[r >>> 2] = size;
      // The remainder's header says free (releaseWrites goes by the word it is given, and writes
      // the header it ends with): a thread that dies at its entry leaves a free chunk that
      // relist() lists (merged with a free one after it), not an in-use chunk nobody holds.
      u32[(r + 4) >>> 2] = (rem ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG;
      this.releaseWrites(r, rsw);
    } else {
      u32[(c + 4) >>> 2] = (csize ^ Chunk.SIZE_KEY) | flags;
      const n = c + csize;
      if (footer) u32[n >>> 2] = csize;
      u32[(n + 4) >>> 2] &= ~Flag.PREV_FREE;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Aligned chunks: arenas, aligned_alloc
  // -------------------------------------------------------------------------------------------

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
    let a = c;
    if (gap !== 0) {
      a = c + gap;
      // The order of stores, for a thread that dies at a call's entry or return (a Worker's
      // terminate(): adoptThread, relist()): the chunk from a gets a header first, free and on no
      // list, then the lead-in (leadIn: its header, its footer, insertChunk), then shrinkTo.
      // Dead before leadIn: c's header still says csize, a's lies inside c unread, and relist()
      // lists c whole again. Dead in leadIn or before shrinkTo: c (gap bytes) and a (the rest)
      // are two free chunks side by side, which relist() merges back into c. Either way the split
      // is rolled back. Lead-in first (until 2026-12-06), a death before shrinkTo left c's header
      // saying gap over a header-less a: the chain of chunks broken there (adoptThread reported
      // "its size ... does not lead to the next chunk"), or, where a stale header of an earlier
      // chunk lay at a (an arena's hole or an aligned block is split again at the same aligned
      // place), a chain through stale headers that relist() made whole: a live block inside a
      // chunk nobody holds, or inside a free one handed out again, with adoptThread and check()
      // passing (a later call's typed error). Injected deaths: 17 of 423 aimed at takeFrom and
      // the calls around it failed so; none since (test/terminate.test.ts).
      this.u32[(a + 4) >>> 2] = ((csize - gap) ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG;
      this.leadIn(c, gap);
      flags |= Flag.PREV_FREE;
    }
    this.shrinkTo(a, csize - gap, size, flags);
    return a + Chunk.HEADER;
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
    // Sizes 2048 bytes apart share a list: its footer (Chunk: kept from when it was in use) must
    // repeat its size, or a size word a stray write raised by 2048 would be released over the
    // chunks after it (seed 7103966 of corruption's default mode, 2026-12-06; the footer there
    // is the size of a chunk inside the raised span: smaller).
    if (u32[(c + size) >>> 2] !== size) this.cachedFooterWrong(c, size);
    return size;
  }

  /** Cached chunk c's footer does not repeat its size: damage (out of line: cachedSizeAt is on the flush's path). */
  private cachedFooterWrong(c: number, size: number): never {
    throw this.corrupt(c + Chunk.SIZE, "Chunk.SIZE", `cached chunk ${hex(c)} says ${size} bytes, its footer ${this.u32[(c + size) >>> 2]} (a write over its size word, or past its end?)`);
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
   * released it (merged with its free neighbours, listed, or into the top). Each chunk is checked
   * (cachedSizeAt, its list, the count, releaseOk) before it is taken off its list (the head then
   * names the next one, the count one less) and released: a refusal leaves the chunks released so
   * far released (they were free: no user holds them) and the rest cached, the count saying how
   * many, the chunk that refused at its list's head; nothing else written (until session 49 the
   * lists were taken off whole first, and a refusal there lost the rest of them).
   */
  flushCache(): void {
    const u32 = this.u32;
    const count = u32[this.wCache];
    let left = count;
    // Up to the last list that holds a chunk (left reaching 0): a cache of a few small chunks,
    // emptied often while a heap is small, leaves the other lists unread. A count a stray write
    // lowered leaves chunks listed past it: a later malloc that meets one with nothing counted,
    // or the next flush that finds more than the count, reports it (cacheMiss, the check below).
    for (let i = 0; left > 0 && i < RawCache.BINS; i++) {
      const hi = this.wCache + RawCache.HEAD_WORDS + i;
      for (let c = u32[hi]; c !== 0; c = u32[hi]) {
        const size = this.cachedSizeAt(c, hi << 2);
        if (((size >>> 4) & (RawCache.BINS - 1)) !== i) throw this.corrupt(c + Chunk.SIZE, "Chunk.SIZE", `cached chunk of ${size} bytes on raw cache list ${i}`);
        if (left === 0) throw this.corrupt(this.wCache << 2, "raw cache count", `the raw cache's lists hold more than its count, ${count} (a cycle?)`);
        const sw0 = u32[(c + 4) >>> 2];
        const sw = sw0 & ~(Flag.FREE | Flag.ARENA);
        u32[hi] = u32[(c + Chunk.NEXT_FREE) >>> 2];
        u32[this.wCache] = --left;
        u32[(c + 4) >>> 2] = sw;
        if (!this.releaseIf(c, sw)) {
          // Put back as it was (releaseIf wrote nothing), then the error; or, views made
          // current (releaseRefused returns), this chunk again.
          u32[(c + 4) >>> 2] = sw0;
          u32[this.wCache] = ++left;
          u32[hi] = c;
          this.releaseRefused(c, sw);
        }
      }
    }
    if (left !== 0) {
      u32[this.wCache] = 0; // every list is empty: 0 is right now
      throw this.corrupt(this.wCache << 2, "raw cache count", `the raw cache's lists hold ${count - left} chunks, its count says ${count}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // After a thread died holding the lock
  // -------------------------------------------------------------------------------------------

  /**
   * The free lists and the raw cache made anew from the chunks themselves, for a heap whose lock
   * a dead thread held (adoptThread, after check() found fault): that thread may have stopped
   * between a chunk's header and its listing (a merged chunk on no list) or in a cache push. Every
   * list head and bitmap is cleared, then the chunks are walked in address order: runs of free
   * and cached chunks become one free chunk each (header, footer, the next chunk's PREV_FREE),
   * listed, or the top's when they reach it; an in-use chunk's PREV_FREE is set from what precedes
   * it, and its footer from its header. First the top is put right (mendTop: a top it was
   * moving). Throws HeapCorruptionError, having written nothing, when a chunk's size does not
   * lead to the next one: no list is then rebuilt over a broken walk. (No raw allocator's call
   * leaves one now: a split writes the chunk after the cut before the one it cuts, takeFrom.)
   */
  relist(): void {
    this.mendTop();
    const u32 = this.u32;
    const top = this.checkedTop();
    // First the walk alone: every size must lead to the top.
    for (let c = this.start; c < top; ) {
      const size = sizeOf(u32[(c + 4) >>> 2]);
      if (size < Chunk.MIN || (size & 15) !== 0 || c + size > top) throw this.corrupt(c + Chunk.SIZE, "Chunk.SIZE", `chunk ${hex(c)}: its size ${size} does not lead to the next chunk`);
      c += size;
    }
    u32[this.wFl] = 0;
    for (let i = 0; i < Tlsf.FL_COUNT; i++) u32[this.wSl + i] = 0;
    for (let i = 0; i < Tlsf.FL_COUNT * Tlsf.SL_COUNT; i++) u32[this.wHeads + i] = 0;
    u32[this.wCache] = 0;
    for (let i = 0; i < RawCache.BINS; i++) u32[this.wCache + RawCache.HEAD_WORDS + i] = 0;
    let run = 0; // the free run's first chunk (0: none)
    for (let c = this.start; c < top; ) {
      const sw = u32[(c + 4) >>> 2];
      const size = sizeOf(sw);
      if ((sw & Flag.FREE) !== 0) {
        if (run === 0) run = c;
      } else {
        if (run !== 0) {
          const rs = c - run;
          u32[(run + 4) >>> 2] = (rs ^ Chunk.SIZE_KEY) | Flag.FREE | Flag.TAG;
          u32[c >>> 2] = rs;
          this.insertChunk(run, rs);
        }
        u32[(c + 4) >>> 2] = run !== 0 ? sw | Flag.PREV_FREE : sw & ~Flag.PREV_FREE;
        // Its footer (the next chunk's first word) repeats its size: a thread that died between
        // a chunk's header and its footer (a split, a merge) left the footer as it was.
        if ((sw & Flag.ARENA) === 0) u32[(c + size) >>> 2] = size;
        run = 0;
      }
      c += size;
    }
    if (run !== 0) this.moveTop(top, run);
  }

  /**
   * The top put right for relist(): a thread that died holding the lock may have stopped in the
   * middle of moving it. A Worker's terminate() lands at a call's entry or return (or a loop's
   * turn), so the states left are those between the calls below; the stores of each, in order:
   *
   * - fromTop (a chunk carved from the top t, to e = c + size; c = t, or t + gap after a lead-in):
   *   [leadIn: header at t (over the mark), footer, insertChunk()] header at c (over the mark when
   *   c = t), moveTop(t, e) [H.TOP = e; topMark() call; the mark at e], footer at e, H.PEAK_TOP.
   *   Dead before moveTop: H.TOP still t, its mark written over by a header, the chain from the
   *   first chunk ending at t. Rolled back: the mark at t again (the chunk was never returned to
   *   anyone; a lead-in listed above the top leaves the lists, which relist() makes anew).
   *   Dead inside moveTop (at topMark()): H.TOP e, no mark there, the chain ending at e. Completed:
   *   the mark at e. Dead after it: H.PEAK_TOP below the top: raised to it.
   * - fence (extend(), pages a module grew): leadIn, the fence's header and marks, moveTop(t, g),
   *   H.PEAK_TOP, H.FENCED += its size; then extend() raises H.END. Before moveTop: rolled back
   *   as above (H.END and H.FENCED were not raised yet). After H.TOP: completed, the mark, H.END
   *   (the memory's end, as extend() writes it) and H.FENCED (the fences the chain holds).
   * - realloc of the chunk c below the top t, grown in place: header (the new size, past t),
   *   moveTop(t, e), the old mark cleared, footer, H.PEAK_TOP. Dead before moveTop: H.TOP and its
   *   mark still t, the last chunk of the chain ends past it. Rolled back: its size back to t - c
   *   (the realloc did not return: the block keeps its old size and bytes). Inside or after
   *   moveTop: as fromTop's (the old mark then stays inside the block: a word of the user's).
   * - releaseChunk (and flushCache's) into the top: the chunk's header is left as it was,
   *   moveTop(o, c) [H.TOP = c; topMark(); the mark at c; the mark at o cleared]. Dead at
   *   topMark(): H.TOP c, the chain ending there, no mark at c, o's still there, the chunks from c
   *   leading to it. Completed: the mark at c, o's cleared.
   *
   * So: a chain from the first chunk that ends at H.TOP with no mark there gets the mark (and a
   * mark the chunks above still lead to is cleared); one whose last chunk, in use, runs past a
   * top that has its mark is cut back to it. Anything else is left for relist() to report.
   */
  private mendTop(): void {
    const u32 = this.u32;
    const top = u32[this.wTop];
    if (((top - this.start) & 15) !== 0 || top < this.start || top + Chunk.HEADER > this.u8.length) return; // no top: checkedTop() says so
    const marked = u32[(top + Chunk.SIZE) >>> 2] === topMark(top);
    let fenced = 0;
    let c = this.start;
    while (c < top) {
      const sw = u32[(c + 4) >>> 2];
      const size = sizeOf(sw);
      if (size < Chunk.MIN || c + size > this.u8.length) return; // a broken chain: relist() reports it (sizeOf's are multiples of 16)
      if (c + size > top) {
        // realloc's growth in place, stopped before moveTop: cut back to the top.
        if (marked && (sw & (Flag.FREE | Flag.ARENA | Flag.TAG)) === Flag.TAG && top - c >= Chunk.MIN) u32[(c + 4) >>> 2] = ((top - c) ^ Chunk.SIZE_KEY) | (sw & Flag.MASK);
        return;
      }
      if (this.isFence(c, sw)) fenced += size;
      c += size;
    }
    if (!marked) {
      // Headers from the top that lead to a mark: a top coming down, stopped before it cleared
      // the old one (a chunk being released, and the free one before it it merged with).
      for (let x = top, k = 0; k < 2; k++) {
        const size = sizeOf(u32[(x + 4) >>> 2]);
        if (size < Chunk.MIN || x + size + Chunk.HEADER > this.u8.length) break;
        x += size;
        if (u32[(x + Chunk.SIZE) >>> 2] === topMark(x)) {
          u32[(x + Chunk.SIZE) >>> 2] = 0;
          break;
        }
      }
      u32[(top + Chunk.SIZE) >>> 2] = topMark(top);
    }
    if (u32[this.wPeak] < top) u32[this.wPeak] = top;
    // A fence's top, stopped before extend() raised H.END (and before fence() counted it).
    if (u32[this.wEnd] < top + Chunk.HEADER) {
      const end = Math.min(this.u8.length, this.mem.maxBytes);
      if (end >= top + Chunk.HEADER) {
        u32[this.wEnd] = end - (end & 7);
        u32[this.wEnd + (H.FENCED - H.END)] = fenced;
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // The object allocator's chunks
  // -------------------------------------------------------------------------------------------

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

  /**
   * Throws, having written nothing of the arena's, what freeArena(p) would meet (releaseOk): for
   * the object allocator before its own writes for an arena it gives back.
   */
  arenaReleasable(p: number): void {
    const c = p - Chunk.HEADER;
    const sw = this.u32[(c + 4) >>> 2] & ~Flag.ARENA;
    if (!this.releaseOk(c, sw)) this.releaseRefused(c, sw);
  }

  /** Release an arena chunk (trusted caller). */
  freeArena(p: number): void {
    const c = p - Chunk.HEADER;
    this.releaseChunk(c, this.u32[(c + 4) >>> 2] & ~Flag.ARENA);
  }
}
