// wasm/obmalloc/raw.ts — the raw allocator's common paths in AssemblyScript (src/raw/: lists.ts,
// top.ts, chunks.ts, tlsf.ts; the same TLSF lists, bitmaps, chunk headers and footers, in the same memory), for obmalloc.ts
// on heaps without threads.
//
// Owns: a chunk from the raw cache, a free list or the top without growing the memory (malloc), a
// chunk given back into the raw cache or with its free neighbours merged (free), the cache
// emptied when it is full or nothing free fits (flushCache), realloc in place or moved, each
// exactly as src/raw/ decides it (a test compares the heaps byte for byte). Every check src/raw/
// makes is made before the first write, and a link is followed only within [start, top).
// Must not: grow the memory, touch arenas, or report anything: each function returns 0 / false,
// having written nothing (flushCache: leaving the chunks it did not release as JS finds them),
// when JS must do it (growth, threads, damage, an invalid pointer), and the caller passes the
// call to the TypeScript allocator, which reports what is wrong.

import { Arena, Chunk, Flag, H, RawCache, SubPool, Tlsf } from "./layout";

/** The size of a chunk whose header word is sw: its size bits are stored xor Chunk.SIZE_KEY (src/constants.ts sizeOf). */
@inline export function sizeOf(sw: u32): u32 {
  return (sw ^ Chunk.SIZE_KEY) & ~Flag.MASK;
}

/** A chunk's header word (src/constants.ts header). */
@inline function header(size: u32, flags: u32): u32 {
  return (size ^ Chunk.SIZE_KEY) | flags;
}

// Set by initRaw() only (exported for a specialised linked module, as obmalloc.ts's numbers).
export let rawOn: bool = false; // 0 until initRaw(): every call goes to JS
export let topAt: u32 = 0; // the header word H.TOP
export let peakAt: u32 = 0; // H.PEAK_TOP
export let endAt: u32 = 0; // H.END: the heap's own pages end there (pages past it a module grew for itself: JS fences them)
export let flAt: u32 = 0; // H.FL_BITMAP
export let slBase: u32 = 0; // the second-level bitmaps
export let headsBase: u32 = 0; // the free-list heads
export let rawStart: u32 = 0; // the first chunk
export let cacheAt: u32 = 0; // the raw cache's table (RawCache): its COUNT word, then its list heads
export let maxBytes: u32 = 0; // H.MAX_BYTES: the top never passes it, in a memory given longer than it too (as JS's Memory.grow)
let arenasAt: u32 = 0; // H.USABLE_ARENAS: the object allocator's usable_arenas head (keptFirst)
export let keptAt: u32 = 0; // SubPool.KEPT: free() kept a spare since JS last gave back what it keeps (keptFirst)

/** Read the raw allocator's header words of the heap at heapBase; on: serve calls here. */
export function initRaw(heapBase: u32, on: bool): void {
  const hw = heapBase;
  topAt = hw + (H.TOP << 2);
  peakAt = hw + (H.PEAK_TOP << 2);
  endAt = hw + (H.END << 2);
  flAt = hw + (H.FL_BITMAP << 2);
  slBase = heapBase + load<u32>(hw + (H.SL_BITMAPS << 2));
  headsBase = heapBase + load<u32>(hw + (H.FREE_HEADS << 2));
  rawStart = load<u32>(hw + (H.HEAP_START << 2));
  cacheAt = heapBase + load<u32>(hw + (H.RAW_CACHE << 2));
  maxBytes = load<u32>(hw + (H.MAX_BYTES << 2));
  arenasAt = hw + (H.USABLE_ARENAS << 2);
  keptAt = heapBase + load<u32>(hw + (H.SUBPOOLS << 2)) + SubPool.KEPT;
  rawOn = on;
}

@inline export function chunkSizeFor(n: u32): u32 {
  return n <= Chunk.MIN - Chunk.OVERHEAD ? Chunk.MIN : ((n + Chunk.OVERHEAD + 15) >> 4) << 4;
}

/** The list (fl << SL_SHIFT | sl) a free chunk of `size` bytes is kept in. */
@inline function listIndex(size: u32): u32 {
  if (size < Tlsf.SMALL_BLOCK) return size >> 4;
  const msb = 31 - clz<u32>(size);
  return ((msb - (Tlsf.FL_SHIFT - 1)) << Tlsf.SL_SHIFT) | ((size >> (msb - Tlsf.SL_SHIFT)) ^ Tlsf.SL_COUNT);
}

/**
 * Free chunk c of `size` bytes: its list neighbours link back to it, and with no previous one it
 * heads its list (raw/lists.ts removeChunk: a live chunk whose FREE bit a stray write set, its
 * link words zero, was merged by a free beside it until 2026-12-07).
 */
@inline function linksOk(c: u32, size: u32): bool {
  const next = load<u32>(c + Chunk.NEXT_FREE);
  const prev = load<u32>(c + Chunk.PREV_FREE);
  return (next == 0 || (inChunks(next) && load<u32>(next + Chunk.PREV_FREE) == c)) && (prev == 0 ? load<u32>(headsBase + (listIndex(size) << 2)) == c : inChunks(prev) && load<u32>(prev + Chunk.NEXT_FREE) == c);
}

/**
 * The heap's top lies in the memory: checked on entry to each raw path, so that every bound
 * below that is the top keeps its loads in the memory (a damaged H.TOP is JS's to report: in
 * wasm it would be a trap, memory access out of bounds).
 */
@inline function topInMemory(): bool {
  return <u64>load<u32>(topAt) + Chunk.HEADER <= (<u64>memory.size() << 16);
}

/**
 * A chunk carved from the top may end at `end`: the header after it lies within the heap's own
 * pages (H.END), the memory and maxBytes. Else JS grows the memory (and fences pages a module
 * grew for itself: raw/top.ts extend()).
 */
@inline function topHolds(end: u32): bool {
  const lim = <u64>end + Chunk.HEADER;
  return lim <= <u64>load<u32>(endAt) && lim <= (<u64>memory.size() << 16) && lim <= <u64>maxBytes;
}

/**
 * The top (in the memory: topInMemory) is a chunk address with its mark in place (Chunk.TOP_MAGIC
 * in src/constants.ts): checked before a chunk is carved from the top or merged into it, so that
 * no damaged H.TOP hands out or swallows live chunks (JS reports it).
 */
@inline function topMarked(top: u32): bool {
  return top >= rawStart && ((top - rawStart) & 15) == 0 && load<u32>(top + Chunk.SIZE) == (Chunk.TOP_MAGIC ^ top);
}

/** The top moves from old to top, its mark with it; one that comes down clears its old mark (raw/top.ts moveTop). */
@inline function moveTop(old: u32, top: u32): void {
  store<u32>(topAt, top);
  store<u32>(top + Chunk.SIZE, Chunk.TOP_MAGIC ^ top);
  if (top < old) store<u32>(old + Chunk.SIZE, 0);
}

/**
 * Chunk c's first word, the footer of the free chunk before it, leads to a free chunk of exactly
 * that size (raw/chunks.ts prevFreeOk): a block freed and merged into the free chunk before it keeps its
 * old header, which says in use, and its footer then leads to the larger merged chunk.
 */
@inline function prevFreeOk(c: u32): bool {
  const ps = load<u32>(c);
  return (ps & 15) == 0 && ps >= Chunk.MIN && ps <= c - rawStart && load<u32>(c - ps + Chunk.SIZE) == header(ps, Flag.FREE | Flag.TAG);
}

/** x lies among the chunks, [start, top): a link read from the heap is followed only then. */
@inline function inChunks(x: u32): bool {
  return x - rawStart < load<u32>(topAt) - rawStart;
}

function insertChunk(c: u32, size: u32): void {
  const li = listIndex(size);
  const fl = li >> Tlsf.SL_SHIFT;
  const sl = li & (Tlsf.SL_COUNT - 1);
  const hi = headsBase + (li << 2);
  const head = load<u32>(hi);
  store<u32>(c + Chunk.NEXT_FREE, head);
  store<u32>(c + Chunk.PREV_FREE, 0);
  // A list's head has no previous chunk: a damaged head word (outside the chunks, or a chunk
  // with a previous one) is not written through (a trap out of the memory, a wild write in it);
  // c's link to it is refused when next followed (linksOk: JS reports it).
  if (head != 0 && inChunks(head) && load<u32>(head + Chunk.PREV_FREE) == 0) store<u32>(head + Chunk.PREV_FREE, c);
  store<u32>(hi, c);
  store<u32>(flAt, load<u32>(flAt) | (1 << fl));
  const sa = slBase + (fl << 2);
  store<u32>(sa, load<u32>(sa) | (1 << sl));
}

/** Unlink free chunk c of `size` bytes (its links checked by the caller: linksOk). */
function removeChunk(c: u32, size: u32): void {
  const next = load<u32>(c + Chunk.NEXT_FREE);
  const prev = load<u32>(c + Chunk.PREV_FREE);
  if (next != 0) store<u32>(next + Chunk.PREV_FREE, prev);
  if (prev != 0) {
    store<u32>(prev + Chunk.NEXT_FREE, next);
  } else {
    const li = listIndex(size);
    store<u32>(headsBase + (li << 2), next);
    if (next == 0) {
      const fl = li >> Tlsf.SL_SHIFT;
      const sa = slBase + (fl << 2);
      const m = load<u32>(sa) & ~(1 << (li & (Tlsf.SL_COUNT - 1)));
      store<u32>(sa, m);
      if (m == 0) store<u32>(flAt, load<u32>(flAt) & ~(1 << fl));
    }
  }
}

/** The size of free chunk c when its header, place and footer say it is one (raw/lists.ts freeSizeAt), else 0. */
@inline function freeSize(c: u32): u32 {
  // One test a return here and on the other common raw paths: AssemblyScript makes a value of
  // `a || b`, which V8 turns into a boolean and tests again (obmalloc.ts, popBlock).
  if (!inChunks(c)) return 0;
  if (((c - rawStart) & 15) != 0) return 0;
  const sw = load<u32>(c + Chunk.SIZE);
  const size = sizeOf(sw);
  if ((sw & (Flag.FREE | Flag.TAG | Flag.ARENA)) != (Flag.FREE | Flag.TAG)) return 0;
  if (size < Chunk.MIN) return 0;
  const end = c + size;
  if (end < c) return 0;
  if (end >= load<u32>(topAt)) return 0;
  if (load<u32>(end) != size) return 0;
  return size;
}

/** The first free chunk that holds `size` bytes (raw/lists.ts ownListFit, then findFit), or 0. */
@inline function findChunk(size: u32): u32 {
  let fl: u32 = 0;
  let sl: u32;
  if (size < Tlsf.SMALL_BLOCK) {
    sl = size >> 4;
  } else {
    let c = load<u32>(headsBase + (listIndex(size) << 2));
    for (let k: u32 = 0; c != 0 && k < Tlsf.OWN_LIST_TRIES; k++, c = load<u32>(c + Chunk.NEXT_FREE)) {
      if (!inChunks(c) || sizeOf(load<u32>(c + Chunk.SIZE)) >= size) return c; // a wild link: rawMalloc's checks refuse it
    }
    let msb = 31 - clz<u32>(size);
    const rounded = <u64>size + <u64>((1 << (msb - Tlsf.SL_SHIFT)) - 1);
    if (rounded >= 0x100000000) return 0;
    const r = <u32>rounded;
    msb = 31 - clz<u32>(r);
    fl = msb - (Tlsf.FL_SHIFT - 1);
    sl = (r >> (msb - Tlsf.SL_SHIFT)) ^ Tlsf.SL_COUNT;
  }
  let slmap = load<u32>(slBase + (fl << 2)) & (<u32>-1 << sl);
  if (slmap == 0) {
    const flmap = fl + 1 < 32 ? load<u32>(flAt) & (<u32>-1 << (fl + 1)) : 0;
    if (flmap == 0) return 0;
    fl = ctz<u32>(flmap);
    slmap = load<u32>(slBase + (fl << 2));
  }
  return load<u32>(headsBase + (((fl << Tlsf.SL_SHIFT) + ctz<u32>(slmap)) << 2));
}

/** Chunks in the raw cache now (RawCache in src/constants.ts). */
@inline function cached(): u32 {
  return load<u32>(cacheAt + RawCache.COUNT);
}

/** The word heading the raw cache's list of chunks of `size` bytes. */
@inline function cacheHead(size: u32): u32 {
  return cacheAt + RawCache.HEADS + (((size >> 4) & (RawCache.BINS - 1)) << 2);
}

/**
 * The size of cached chunk c when its header and place say it is one (tlsf.ts cachedSizeAt:
 * state FREE | ARENA | TAG, a chunk address in [start, top), a size up to RawCache.MAX_SIZE
 * ending at or below the top), else 0.
 */
@inline function cachedSize(c: u32): u32 {
  if (!inChunks(c)) return 0;
  if (((c - rawStart) & 15) != 0) return 0;
  const sw = load<u32>(c + Chunk.SIZE);
  const size = sizeOf(sw);
  if ((sw & (Flag.FREE | Flag.ARENA | Flag.TAG)) != (Flag.FREE | Flag.ARENA | Flag.TAG)) return 0;
  if (size < Chunk.MIN) return 0;
  if (size > RawCache.MAX_SIZE) return 0;
  const top = load<u32>(topAt);
  if (size > top - c) return 0;
  // Its footer repeats its size (tlsf.ts cachedSizeAt): sizes 2048 bytes apart share a list, and
  // a size word raised by 2048 would be handed out or released over the chunks after it.
  return load<u32>(c + size) == size ? size : 0;
}

/**
 * Whether n, where a chunk below it ends, is the top or looks like a chunk whose previous one is
 * not free (tagged, PREV_FREE clear, its size within the top): a size word enlarged by a stray
 * write ends elsewhere (raw/chunks.ts liveSizeWord's inUseAt).
 */
@inline function chunkAfter(n: u32, top: u32): bool {
  if (n == top) return true;
  const nsw = load<u32>(n + Chunk.SIZE);
  return (nsw & (Flag.TAG | Flag.PREV_FREE)) == Flag.TAG && sizeOf(nsw) >= Chunk.MIN && sizeOf(nsw) <= top - n;
}

/**
 * Before the top grows to `end`, JS gives back what the object allocator keeps (raw/top.ts onTop,
 * obmalloc's releaseBeforeTop), and so takes the call: free() kept a spare alone in its slot that
 * outlived a growth of the top already (SubPool.KEPT_AGED), or kept anything marked and the top
 * would pass its peak, or the usable_arenas head is an empty arena of one pool (free() keeps
 * those it empties, at the head) or, past the peak, of several (the one kept against churn). A
 * head word past the memory reads as one too (JS reports it). (KEPT_FRESH below the peak:
 * rawMalloc ages it as JS does, once the top's growth is sure.)
 */
@inline function keptFirst(end: u32, kept: u32): bool {
  if (kept != 0) if ((kept & SubPool.KEPT_AGE_MASK) == SubPool.KEPT_AGED || end > load<u32>(peakAt)) return true;
  const ua = load<u32>(arenasAt);
  if (ua == 0) return false;
  if (ua >= <u32>(memory.size() << 16) - Arena.OVERHEAD) return true;
  const total = load<u32>(ua + Arena.NTOTALPOOLS);
  if (load<u32>(ua + Arena.NFREEPOOLS) != total) return false;
  return total == 1 || end > load<u32>(peakAt);
}

/** A raw chunk for n bytes (the payload), or 0 when JS must serve it (growth, damage, n too large). */
export function rawMalloc(n: u32): u32 {
  if (!rawOn) return 0;
  if (n > Chunk.MAX_REQUEST) return 0;
  if (!topInMemory()) return 0;
  const size = chunkSizeFor(n);
  if (size <= RawCache.MAX_SIZE) {
    // The raw cache first (tlsf.ts malloc): its list's head, when it is exactly this size.
    const hi = cacheHead(size);
    const h = load<u32>(hi);
    if (h != 0) {
      const hs = cachedSize(h);
      const count = cached();
      if (hs == 0) return 0; // damaged: JS reports it
      if (count == 0) return 0;
      if (hs == size) {
        store<u32>(hi, load<u32>(h + Chunk.NEXT_FREE));
        store<u32>(cacheAt + RawCache.COUNT, count - 1);
        store<u32>(h + Chunk.SIZE, load<u32>(h + Chunk.SIZE) & ~(Flag.FREE | Flag.ARENA));
        return h + Chunk.HEADER;
      }
    }
  }
  const c = findChunk(size);
  if (c == 0) {
    // Nothing free fits: before the top passes its peak, the cached chunks, merged, may
    // (tlsf.ts mallocListed); under it the top takes it, the cache kept.
    if (cached() != 0) if (load<u32>(topAt) + size > load<u32>(peakAt)) return flushCache() ? rawMalloc(n) : 0;
    // From the top, if the memory holds it already, unless what the object allocator keeps goes
    // back first (keptFirst: JS does that).
    const top = load<u32>(topAt);
    const end = top + size;
    if (end < top) return 0;
    const kept = load<u32>(keptAt);
    if (keptFirst(end, kept)) return 0;
    if (!topHolds(end)) return 0;
    if (!topMarked(top)) return 0;
    if ((kept & SubPool.KEPT_AGE_MASK) == SubPool.KEPT_FRESH) store<u32>(keptAt, kept + (SubPool.KEPT_AGED - SubPool.KEPT_FRESH));
    store<u32>(top + Chunk.SIZE, header(size, Flag.TAG));
    moveTop(top, end);
    store<u32>(end, size); // its footer (Chunk), the new top's first word
    if (end > load<u32>(peakAt)) store<u32>(peakAt, end);
    return top + Chunk.HEADER;
  }
  const csize = freeSize(c);
  if (csize < size) return 0; // damaged (or 0: no free chunk): JS reports it
  if (!linksOk(c, csize)) return 0;
  // A free chunk never touches the top nor another free chunk; one that does goes to JS.
  const nx = c + csize;
  if ((load<u32>(nx + Chunk.SIZE) & (Flag.FREE | Flag.ARENA)) == Flag.FREE) return 0;
  removeChunk(c, csize);
  const rem = csize - size;
  if (rem >= Chunk.MIN) {
    // Split: the rest is a free chunk before an in-use one (nothing to merge).
    store<u32>(c + Chunk.SIZE, header(size, Flag.TAG));
    const r = c + size;
    store<u32>(r, size); // the footer (Chunk)
    store<u32>(r + Chunk.SIZE, header(rem, Flag.FREE | Flag.TAG));
    store<u32>(nx, rem);
    insertChunk(r, rem);
  } else {
    store<u32>(c + Chunk.SIZE, header(csize, Flag.TAG));
    store<u32>(nx, csize);
    store<u32>(nx + Chunk.SIZE, load<u32>(nx + Chunk.SIZE) & ~Flag.PREV_FREE);
  }
  return c + Chunk.HEADER;
}

/** The size word of p's chunk when p is a live user block (raw/chunks.ts liveSizeWord), else 0. */
@inline function liveSizeWord(p: u32): u32 {
  const top = load<u32>(topAt);
  if ((p & 15) != 0) return 0;
  if (p < rawStart + Chunk.HEADER) return 0;
  if (p >= top) return 0;
  const c = p - Chunk.HEADER;
  const sw = load<u32>(c + Chunk.SIZE);
  const size = sizeOf(sw);
  if ((sw & (Flag.TAG | Flag.FREE | Flag.ARENA)) != Flag.TAG) return 0;
  if (size < Chunk.MIN) return 0;
  if (size > top - c) return 0;
  if (!chunkAfter(c + size, top)) return 0;
  // Its footer repeats its size (Chunk; raw/chunks.ts liveSizeWord).
  if (load<u32>(c + size) != size) return 0;
  // A previous free chunk: its footer (c's first word) must lead to it.
  if ((sw & Flag.PREV_FREE) != 0) if (!prevFreeOk(c)) return 0;
  return sw;
}

/**
 * Give back in-use chunk c (header word sw), merging with free neighbours or the top
 * (tlsf.ts releaseChunk), after checking every footer and link it follows; false (nothing
 * written) when one is wrong.
 */
function releaseChunk(c: u32, sw: u32): bool {
  let size = sizeOf(sw);
  let ps: u32 = 0;
  if ((sw & Flag.PREV_FREE) != 0) {
    ps = load<u32>(c);
    if (!prevFreeOk(c)) return false;
    if (!linksOk(c - ps, ps)) return false;
  }
  const n = c + size;
  const top = load<u32>(topAt);
  let ns: u32 = 0;
  if (n != top) {
    const nsw = load<u32>(n + Chunk.SIZE);
    if ((nsw & (Flag.FREE | Flag.ARENA)) == Flag.FREE) {
      ns = sizeOf(nsw);
      if (ns > top - n) return false;
      if (load<u32>(n + ns) != ns) return false;
      if (!linksOk(n, ns)) return false;
    }
  } else {
    // The top comes down (to c, or to the free chunk before it); cached chunks below stay.
    if (!topMarked(top)) return false;
  }
  if (ps != 0) {
    c -= ps;
    removeChunk(c, ps);
    size += ps;
  }
  if (n == top) {
    moveTop(top, c);
    return true;
  }
  if (ns != 0) {
    removeChunk(n, ns);
    size += ns;
  }
  store<u32>(c + Chunk.SIZE, header(size, Flag.FREE | Flag.TAG));
  const after = c + size;
  store<u32>(after, size);
  store<u32>(after + Chunk.SIZE, load<u32>(after + Chunk.SIZE) | Flag.PREV_FREE);
  insertChunk(c, size);
  return true;
}

/**
 * Empty the raw cache as tlsf.ts flushCache does: the count 0 first, then each list in order,
 * its chunks released in list order (merged with free neighbours, listed, or into the top), its
 * head 0 after it; true when done. Anything JS would report (a chunk that is no cached chunk of
 * its list, more chunks than counted, fewer, a footer or link releaseChunk refuses) stops it:
 * the chunk and the rest of its list stay listed at its head, the count is put back as it was
 * (so the call that found the cache full, or nothing fitting, empties it again in JS), and false:
 * JS's flushCache reaches that chunk first and reports what is wrong. SQLite in wasm emptied a
 * full cache ~460 times a run, ~90 chunks each, through JS.
 */
function flushCache(): bool {
  const count = cached();
  store<u32>(cacheAt + RawCache.COUNT, 0);
  let seen: u32 = 0;
  for (let i: u32 = 0; i < RawCache.BINS; i++) {
    if (seen >= count) break; // tlsf.ts: up to the list whose chunks reach the count
    const hi = cacheAt + RawCache.HEADS + (i << 2);
    let c = load<u32>(hi);
    while (c != 0) {
      const size = cachedSize(c);
      if (size == 0) return flushStopped(hi, c, count);
      if (((size >> 4) & (RawCache.BINS - 1)) != i) return flushStopped(hi, c, count);
      if (seen >= count) return flushStopped(hi, c, count); // more than counted (a cycle?)
      const next = load<u32>(c + Chunk.NEXT_FREE);
      const sw = load<u32>(c + Chunk.SIZE) & ~(Flag.FREE | Flag.ARENA);
      store<u32>(c + Chunk.SIZE, sw);
      if (!releaseChunk(c, sw)) {
        store<u32>(c + Chunk.SIZE, sw | Flag.FREE | Flag.ARENA); // releaseChunk wrote nothing
        return flushStopped(hi, c, count);
      }
      seen++;
      c = next;
    }
    store<u32>(hi, 0);
  }
  if (seen != count) return flushStopped(0, 0, count); // fewer than counted: JS reports the count
  return true;
}

/** flushCache stops at chunk c of the list headed at hi (none: 0): see flushCache. */
function flushStopped(hi: u32, c: u32, count: u32): bool {
  if (hi != 0) store<u32>(hi, c);
  store<u32>(cacheAt + RawCache.COUNT, count);
  return false;
}

/** Free raw block p here: its size word (for the raw start's counts), or 0 when JS must (threads, not a live block: JS reports it, damage). */
export function rawFree(p: u32): u32 {
  if (!rawOn) return 0;
  if (!topInMemory()) return 0;
  const sw = liveSizeWord(p);
  if (sw == 0) return 0;
  const c = p - Chunk.HEADER;
  const size = sizeOf(sw);
  if (size <= RawCache.MAX_SIZE) if (c + size != load<u32>(topAt)) {
    // Into the raw cache (tlsf.ts free); a full one is emptied first (which may change this
    // chunk's PREV_FREE bit, or bring the top down to it: p is freed again, into an empty cache).
    const count = cached();
    if (count >= RawCache.LIMIT) return flushCache() ? rawFree(p) : 0;
    if (count >= RawCache.MIN_LIMIT) if (count << RawCache.HEAP_SHIFT >= load<u32>(topAt) - rawStart) return flushCache() ? rawFree(p) : 0;
    const hi = cacheHead(size);
    store<u32>(c + Chunk.NEXT_FREE, load<u32>(hi));
    store<u32>(hi, c);
    store<u32>(c + Chunk.SIZE, sw | Flag.FREE | Flag.ARENA);
    store<u32>(cacheAt + RawCache.COUNT, count + 1);
    return sw;
  }
  return releaseChunk(c, sw) ? sw : 0;
}

/**
 * realloc of raw block p (tlsf.ts realloc): in place when it shrinks or the next chunk (free,
 * or the top within the memory) holds the rest, else a new chunk here and a copy. 0 when JS
 * must do it (nothing written then).
 */
export function rawRealloc(p: u32, n: u32): u32 {
  if (!rawOn) return 0;
  if (n > Chunk.MAX_REQUEST) return 0;
  if (!topInMemory()) return 0;
  const sw = liveSizeWord(p);
  if (sw == 0) return 0;
  const c = p - Chunk.HEADER;
  const csize = sizeOf(sw);
  const size = chunkSizeFor(n);
  const keep = (sw & Flag.PREV_FREE) | Flag.TAG;
  const nx = c + csize;
  const top = load<u32>(topAt);
  if (size <= csize) {
    if (csize - size < Chunk.MIN) return p; // JS's shrinkTo rewrites the same header
    // The rest is given back: checked before the header shrinks.
    const r = c + size;
    if (nx != top) {
      const nsw = load<u32>(nx + Chunk.SIZE);
      if ((nsw & (Flag.FREE | Flag.ARENA)) == Flag.FREE) {
        const ns = sizeOf(nsw);
        if (ns > top - nx || load<u32>(nx + ns) != ns || !linksOk(nx, ns)) return 0;
      }
    } else if (!topMarked(top)) return 0; // the rest merges into the top
    store<u32>(c + Chunk.SIZE, header(size, keep));
    store<u32>(r, size);
    store<u32>(r + Chunk.SIZE, header(csize - size, Flag.TAG));
    releaseChunk(r, header(csize - size, Flag.TAG));
    return p;
  }
  if (nx == top) {
    const end = c + size;
    if (end < c || !topHolds(end) || !topMarked(top)) return 0;
    store<u32>(c + Chunk.SIZE, header(size, keep));
    moveTop(top, end);
    store<u32>(top + Chunk.SIZE, 0); // the old mark, now inside the block
    store<u32>(end, size);
    if (end > load<u32>(peakAt)) store<u32>(peakAt, end);
    return p;
  }
  const nsw = load<u32>(nx + Chunk.SIZE);
  if ((nsw & (Flag.FREE | Flag.ARENA)) == Flag.FREE) {
    const ns = sizeOf(nsw);
    if (ns > top - nx || load<u32>(nx + ns) != ns || !linksOk(nx, ns)) return 0;
    if (csize + ns >= size) {
      const after = nx + ns; // in use (a free chunk never touches another) or the top: never
      if (after == top || (load<u32>(after + Chunk.SIZE) & (Flag.FREE | Flag.ARENA)) == Flag.FREE) return 0;
      removeChunk(nx, ns);
      const rem = csize + ns - size;
      if (rem >= Chunk.MIN) {
        store<u32>(c + Chunk.SIZE, header(size, keep));
        const r = c + size;
        store<u32>(r, size);
        store<u32>(r + Chunk.SIZE, header(rem, Flag.FREE | Flag.TAG));
        store<u32>(after, rem);
        insertChunk(r, rem);
      } else {
        store<u32>(c + Chunk.SIZE, header(csize + ns, keep));
        store<u32>(after, csize + ns);
        store<u32>(after + Chunk.SIZE, load<u32>(after + Chunk.SIZE) & ~Flag.PREV_FREE);
      }
      return p;
    }
  }
  // A cached chunk follows: JS empties the cache and grows the chunk into it (tlsf.ts realloc).
  if ((nsw & (Flag.FREE | Flag.ARENA)) == (Flag.FREE | Flag.ARENA)) return 0;
  // Moves: checked first that the old chunk can be given back, then a new one, a copy, the release.
  if ((sw & Flag.PREV_FREE) != 0) {
    const ps = load<u32>(c);
    if (ps > c - rawStart || load<u32>(c - ps + Chunk.SIZE) != header(ps, Flag.FREE | Flag.TAG) || !linksOk(c - ps, ps)) return 0;
  }
  const q = rawMalloc(n);
  if (q == 0) return 0;
  memory.copy(q, p, min<u32>(csize - Chunk.OVERHEAD, n));
  // Cannot fail: the previous chunk was checked above (rawMalloc may have taken it, whole or
  // split, leaving a valid header), the next is in use or free and checked, and no list rawMalloc
  // took from holds it. Were it to fail, the old chunk would stay in use: a leak, never damage.
  releaseChunk(c, load<u32>(c + Chunk.SIZE));
  return q;
}

