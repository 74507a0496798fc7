// wasm/obmalloc/obmalloc.ts — the object allocator's fast paths in AssemblyScript, on the heap
// that the TypeScript allocator (src/obmalloc/obmalloc.ts) formats and manages, in the same
// WebAssembly.Memory: C code linked to these exports allocates without leaving WebAssembly, and
// JS and wasm allocate from and free into one heap.
//
// Owns: CPython's fast paths, exactly: malloc pops the first free block of the head pool of its
// size class in this thread's usedpools (or carves the pool's next never-used block, or hands
// out a pool's last free block and unlinks the now full pool), free pushes a block of one of
// this thread's pools back (relinking a pool that was full; keeping a pool that empties when it
// is its class's only pool, as every heap may: see check()), calloc and realloc around them.
// On a heap without threads (no lock) also the usual way to a pool: taking one from the first
// usable arena (its free-pool list or its next never-used pool), as the TypeScript allocator's
// poolFromArena does, with the same checks. Every popped link is checked to lie in its pool,
// past the header, on a block boundary; every pool taken from an arena is checked as JS does.
// Must not: do anything else. A new arena, arenas given back, raw blocks (0 or > 512 bytes),
// growth, the lock, blocks other threads freed (REMOTE/DELAYED), a pool that empties while
// others of its class are listed, a block of another thread's pool, anything invalid: the
// imported slow paths (the TypeScript allocator's family, bound to this thread's heap handle) do
// all of it, and report what is wrong. Holds no state but numbers read from the heap header at
// init().

import { Arena, Chunk, Flag, H, Pool, Size, Slot, Remote, Tlsf } from "./layout";

@external("pymalloc", "malloc") declare function mallocSlow(n: u32): u32;
@external("pymalloc", "free") declare function freeSlow(p: u32): void;
@external("pymalloc", "calloc") declare function callocSlow(nelem: u32, elsize: u32): u32;
@external("pymalloc", "realloc") declare function reallocSlow(p: u32, n: u32): u32;

let usedBase: u32 = 0; // this thread's usedpools entry 0
let owner: u32 = 0; // this thread's slot: the OWNER of the pools it allocates from
let threaded: bool = false;
let poolShift: u32 = 31;
let poolMask: u32 = 0;
let mapBase: u32 = 0;
let mapBytes: u32 = 0; // 0 until init(): nothing is ours, every call goes to the slow paths
let alignShift: u32 = 3;
let nClasses: u32 = 0;
let usableAt: u32 = 0; // the header word H.USABLE_ARENAS
let nfpBase: u32 = 0; // nfp2lasta[0]
let poolsPerArena: u32 = 0;
let rawOn: bool = false; // the raw allocator's paths here too (a heap without threads: no lock)
let topAt: u32 = 0; // the header word H.TOP
let peakAt: u32 = 0; // H.PEAK_TOP
let flAt: u32 = 0; // H.FL_BITMAP
let slBase: u32 = 0; // the second-level bitmaps
let headsBase: u32 = 0; // the free-list heads
let rawStart: u32 = 0; // the first chunk

/** Read the heap header at heapBase; slot: this thread's (0 without threads). */
export function init(heapBase: u32, slot: u32): void {
  const hw = heapBase;
  poolShift = load<u32>(hw + (H.POOL_SHIFT << 2));
  poolMask = (1 << poolShift) - 1;
  alignShift = load<u32>(hw + (H.ALIGN_SHIFT << 2));
  nClasses = Size.SMALL_REQUEST_THRESHOLD >> alignShift;
  threaded = load<u32>(hw + (H.MAX_THREADS << 2)) != 0;
  owner = slot;
  usedBase = heapBase + load<u32>(hw + (H.THREAD_SLOTS << 2)) + slot * Slot.BYTES + Slot.USEDPOOLS;
  mapBase = heapBase + load<u32>(hw + (H.POOL_MAP << 2));
  mapBytes = load<u32>(hw + (H.POOL_MAP_BYTES << 2));
  usableAt = hw + (H.USABLE_ARENAS << 2);
  nfpBase = heapBase + load<u32>(hw + (H.NFP2LASTA << 2));
  poolsPerArena = 1 << (load<u32>(hw + (H.ARENA_SHIFT << 2)) - poolShift);
  topAt = hw + (H.TOP << 2);
  peakAt = hw + (H.PEAK_TOP << 2);
  flAt = hw + (H.FL_BITMAP << 2);
  slBase = heapBase + load<u32>(hw + (H.SL_BITMAPS << 2));
  headsBase = heapBase + load<u32>(hw + (H.FREE_HEADS << 2));
  rawStart = load<u32>(hw + (H.HEAP_START << 2));
  rawOn = !threaded && mapBytes != 0;
}

@inline function isOurs(p: u32): bool {
  const q = p >> poolShift;
  const i = q >> 3;
  return i < mapBytes && ((load<u8>(mapBase + i) >> (q & 7)) & 1) != 0;
}

/**
 * Pop a block of pool, the head of its class's list: its first free block, whose link must be
 * a carved block of the pool (else 0: JS reports it); when the list runs dry, carve the next
 * never-used block; when that was the pool's last block, unlink the full pool (with threads only
 * when it is marked FULL already). 0 when JS must do it.
 */
@inline function popBlock(pool: u32): u32 {
  const bp = load<u32>(pool + Pool.FREEBLOCK);
  const nb = load<u32>(bp);
  if (nb != 0) {
    // The link read from the freed block: inside its pool, past the header, below the carved
    // blocks, on a block boundary. Anything else goes to JS (which reports it).
    const off = nb - pool - Pool.OVERHEAD;
    if (off >= load<u32>(pool + Pool.NEXTOFFSET) - Pool.OVERHEAD || off % load<u32>(pool + Pool.SIZE) != 0) return 0;
    store<u32>(pool + Pool.FREEBLOCK, nb);
  } else {
    const no = load<u32>(pool + Pool.NEXTOFFSET);
    if (no <= load<u32>(pool + Pool.MAXNEXTOFFSET)) {
      // Carve the next never-used block, unless (threads) other threads freed blocks into the
      // pool: JS takes those first.
      if (threaded && load<u32>(pool + Pool.REMOTE) >> 1 != 0) return 0;
      const b = pool + no;
      store<u32>(pool + Pool.FREEBLOCK, b);
      store<u32>(pool + Pool.NEXTOFFSET, no + load<u32>(pool + Pool.SIZE));
      store<u32>(b, 0);
    } else if (!unlinkFull(pool)) return 0;
  }
  store<u32>(pool, load<u32>(pool) + 1);
  return bp;
}

/**
 * bp, the pool's last free block, is being handed out: the pool leaves usedpools (obmalloc's
 * extendPool and unlinkPool), when both neighbours link back to it. With threads, only a pool
 * marked FULL already (marking it takes an atomic operation, and blocks may arrive: JS).
 */
@inline function unlinkFull(pool: u32): bool {
  if (threaded && load<u32>(pool + Pool.REMOTE) != Remote.FULL) return false;
  const next = load<u32>(pool + Pool.NEXT);
  const prev = load<u32>(pool + Pool.PREV);
  const end = <u32>(memory.size() << 16) - Pool.OVERHEAD; // a damaged link is never followed out of the memory
  if (next >= end || prev >= end || load<u32>(next + Pool.PREV) != pool || load<u32>(prev + Pool.NEXT) != pool) return false;
  store<u32>(next + Pool.PREV, prev);
  store<u32>(prev + Pool.NEXT, next);
  store<u32>(pool + Pool.FREEBLOCK, 0);
  return true;
}

/**
 * usedpools[idx] (sentinel sp) is empty: a pool from the first usable arena, as obmalloc's
 * poolFromArena takes it (its free-pool list first, then its next never-used pool; the arena
 * list and nfp2lasta kept in order), linked in as the class's only pool. 0 when JS must do it:
 * threads (the lock), no usable arena (a new one), or anything damaged (JS reports it).
 */
function poolFromArena(idx: u32, sp: u32): u32 {
  if (threaded) return 0;
  const ao = load<u32>(usableAt);
  if (ao == 0 || ao >= <u32>(memory.size() << 16) - Arena.OVERHEAD || load<u32>(ao + Arena.MAGIC) != (Arena.MAGIC_VALUE ^ ao)) return 0;
  const nf = load<u32>(ao + Arena.NFREEPOOLS);
  if (nf - 1 >= poolsPerArena) return 0; // a usable arena has 1..poolsPerArena free pools
  const size = (idx + 1) << alignShift;
  let pool = load<u32>(ao + Arena.FREEPOOLS);
  if (pool != 0) {
    // An empty pool of this arena; if it kept a free list of this class, that list is reused.
    if ((pool & poolMask) != 0 || !isOurs(pool) || load<u32>(pool + Pool.ARENA) != ao || load<u32>(pool) != 0) return 0;
    if (load<u32>(pool + Pool.SZIDX) == idx && !keptListOk(pool, size, ao)) return 0;
    store<u32>(ao + Arena.FREEPOOLS, load<u32>(pool + Pool.NEXT));
  } else {
    pool = load<u32>(ao + Arena.POOL_ADDRESS);
    if ((pool & poolMask) != 0 || !isOurs(pool) || pool >= ao) return 0;
    store<u32>(ao + Arena.POOL_ADDRESS, pool + (1 << poolShift));
  }
  const at = nfpBase + (nf << 2);
  if (load<u32>(at) == ao) store<u32>(at, 0);
  if (nf > 1) store<u32>(at - 4, ao);
  store<u32>(ao + Arena.NFREEPOOLS, nf - 1);
  if (nf == 1) {
    const nx = load<u32>(ao + Arena.NEXT);
    store<u32>(usableAt, nx);
    if (nx != 0) store<u32>(nx + Arena.PREV, 0);
    store<u32>(ao + Arena.NEXT, 0);
  }
  store<u32>(pool + Pool.OWNER, owner);
  store<u32>(pool + Pool.REMOTE, 0);
  if (load<u32>(pool + Pool.SZIDX) != idx) {
    // Last used for another class (or never): start it afresh, one block on its free list.
    store<u32>(pool + Pool.SZIDX, idx);
    store<u32>(pool + Pool.SIZE, size);
    store<u32>(pool + Pool.NEXTOFFSET, Pool.OVERHEAD + size);
    // The arena's last pool ends where the arena header starts.
    store<u32>(pool + Pool.MAXNEXTOFFSET, min<u32>(1 << poolShift, ao - pool) - size);
    store<u32>(pool + Pool.FREEBLOCK, pool + Pool.OVERHEAD);
    store<u32>(pool + Pool.OVERHEAD, 0);
  }
  store<u32>(pool + Pool.NEXT, sp);
  store<u32>(pool + Pool.PREV, sp);
  store<u32>(sp + Pool.NEXT, pool);
  store<u32>(sp + Pool.PREV, pool);
  return pool;
}

/** A free pool of class size `size` about to be reused with its kept list: obmalloc's checkKeptList. */
function keptListOk(pool: u32, size: u32, ao: u32): bool {
  const no = load<u32>(pool + Pool.NEXTOFFSET);
  const fb = load<u32>(pool + Pool.FREEBLOCK);
  const max = load<u32>(pool + Pool.MAXNEXTOFFSET);
  return (
    load<u32>(pool + Pool.SIZE) == size &&
    max == min<u32>(1 << poolShift, ao - pool) - size &&
    no >= Pool.OVERHEAD + size &&
    no <= max + size &&
    (no - Pool.OVERHEAD) % size == 0 &&
    fb >= pool + Pool.OVERHEAD &&
    fb < pool + no &&
    (fb - pool - Pool.OVERHEAD) % size == 0
  );
}

/**
 * A block of class idx (sentinel sp, head pool `pool`) when the head pool's free list cannot
 * simply be popped: no pool (one from an arena), a free list run dry (carve, or unlink the
 * full pool), a damaged link (JS). 0 when the fast path cannot serve it. Out of line: the pop
 * that malloc inlines stays small.
 */
function mallocMore(idx: u32, sp: u32, pool: u32): u32 {
  if (pool == sp) {
    pool = poolFromArena(idx, sp);
    if (pool == 0) return 0;
  }
  return popBlock(pool);
}

/** A block of n bytes (1..512) from this thread's pools, or 0 when the fast path cannot serve it. */
@inline function mallocFast(n: u32): u32 {
  const idx = (n - 1) >> alignShift;
  if (idx >= nClasses) return 0;
  const sp = usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
  const pool = load<u32>(sp + Pool.NEXT);
  if (pool != sp) {
    // The common case, popBlock's first branch: a free block whose link is a carved block.
    const bp = load<u32>(pool + Pool.FREEBLOCK);
    const nb = load<u32>(bp);
    const off = nb - pool - Pool.OVERHEAD;
    if (nb != 0 && off < load<u32>(pool + Pool.NEXTOFFSET) - Pool.OVERHEAD && off % load<u32>(pool + Pool.SIZE) == 0) {
      store<u32>(pool + Pool.FREEBLOCK, nb);
      store<u32>(pool, load<u32>(pool) + 1);
      return bp;
    }
  }
  return mallocMore(idx, sp, pool);
}

/**
 * Free p, in our pools (isOurs), when it is a live block start of one of this thread's pools
 * (in the pool, past its header, below the carved blocks, on a block boundary, the pool in
 * use, not its first free block: a double free) and the pool does not empty unless it is its
 * class's only listed pool; false (nothing written) when JS must do it or report it.
 */
@inline function freeSmall(p: u32): bool {
  const pool = p & ~poolMask;
  const off = p - pool - Pool.OVERHEAD;
  const cnt = load<u32>(pool);
  const fb = load<u32>(pool + Pool.FREEBLOCK);
  if (off >= load<u32>(pool + Pool.NEXTOFFSET) - Pool.OVERHEAD || cnt == 0 || fb == p) return false;
  if (off % load<u32>(pool + Pool.SIZE) != 0 || load<u32>(pool + Pool.OWNER) != owner) return false;
  // The pool empties: kept (still listed, empty) when it is its class's only listed pool (both
  // links the sentinel), as threads heaps keep one; else back to its arena (JS, under the lock).
  if (cnt == 1 && (fb == 0 || load<u32>(pool + Pool.NEXT) != load<u32>(pool + Pool.PREV))) return false;
  store<u32>(p, fb);
  store<u32>(pool + Pool.FREEBLOCK, p);
  store<u32>(pool, cnt - 1);
  if (fb == 0) {
    // It was full: back to the front of its class's usedpools (FULL, with threads, stays set).
    const sp = usedBase + (load<u32>(pool + Pool.SZIDX) << Slot.HEAD_SHIFT) - Pool.NEXT;
    const next = load<u32>(sp + Pool.NEXT);
    store<u32>(pool + Pool.NEXT, next);
    store<u32>(pool + Pool.PREV, sp);
    store<u32>(next + Pool.PREV, pool);
    store<u32>(sp + Pool.NEXT, pool);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The raw allocator's common paths (src/raw/tlsf.ts, the same TLSF lists, chunk headers and
// checks), on heaps without threads: a chunk from a free list or the top without growing the
// memory, a chunk given back with its free neighbours merged. Growth, arenas, and anything that
// fails a check go to JS (which grows, or reports what is wrong): every check is made before
// the first write, so JS finds the heap as it was.
// ---------------------------------------------------------------------------------------------

@inline function chunkSizeFor(n: u32): u32 {
  return n <= 12 ? Chunk.MIN : ((n + 19) >> 4) << 4;
}

/** The list (fl << SL_SHIFT | sl) a free chunk of `size` bytes is kept in. */
@inline function listIndex(size: u32): u32 {
  if (size < Tlsf.SMALL_BLOCK) return size >> 4;
  const msb = 31 - clz<u32>(size);
  return ((msb - (Tlsf.FL_SHIFT - 1)) << Tlsf.SL_SHIFT) | ((size >> (msb - Tlsf.SL_SHIFT)) ^ Tlsf.SL_COUNT);
}

/** Free chunk c's list neighbours link back to it. */
@inline function linksOk(c: u32): bool {
  const next = load<u32>(c + Chunk.NEXT_FREE);
  const prev = load<u32>(c + Chunk.PREV_FREE);
  return (next == 0 || (inChunks(next) && load<u32>(next + Chunk.PREV_FREE) == c)) && (prev == 0 || (inChunks(prev) && load<u32>(prev + Chunk.NEXT_FREE) == c));
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
  if (head != 0) store<u32>(head + Chunk.PREV_FREE, c);
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

/** The size of free chunk c when its header, place and footer say it is one (tlsf.ts freeSizeAt), else 0. */
@inline function freeSize(c: u32): u32 {
  if (!inChunks(c) || ((c - rawStart) & 15) != 0) return 0;
  const sw = load<u32>(c + Chunk.SIZE);
  const size = sw & ~Flag.MASK;
  if ((sw & (Flag.FREE | Flag.TAG | Flag.ARENA)) != (Flag.FREE | Flag.TAG) || size < Chunk.MIN) return 0;
  const end = c + size;
  if (end < c || end >= load<u32>(topAt) || load<u32>(end) != size) return 0;
  return size;
}

/** The first free chunk that holds `size` bytes (tlsf.ts ownListFit, then findFit), or 0. */
@inline function findChunk(size: u32): u32 {
  let fl: u32 = 0;
  let sl: u32;
  if (size < Tlsf.SMALL_BLOCK) {
    sl = size >> 4;
  } else {
    let c = load<u32>(headsBase + (listIndex(size) << 2));
    for (let k: u32 = 0; c != 0 && k < Tlsf.OWN_LIST_TRIES; k++, c = load<u32>(c + Chunk.NEXT_FREE)) {
      if (!inChunks(c) || (load<u32>(c + Chunk.SIZE) & ~Flag.MASK) >= size) return c; // a wild link: rawMalloc's checks refuse it
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

/** A raw chunk for n bytes (the payload), or 0 when JS must serve it (growth, damage, n too large). */
function rawMalloc(n: u32): u32 {
  if (!rawOn || n > Chunk.MAX_REQUEST) return 0;
  const size = chunkSizeFor(n);
  const c = findChunk(size);
  if (c == 0) {
    // From the top, if the memory holds it already.
    const top = load<u32>(topAt);
    const end = top + size;
    if (end < top || <u64>end + Chunk.HEADER > (<u64>memory.size() << 16)) return 0;
    store<u32>(top + Chunk.SIZE, size | Flag.TAG);
    store<u32>(topAt, end);
    if (end > load<u32>(peakAt)) store<u32>(peakAt, end);
    return top + Chunk.HEADER;
  }
  const csize = freeSize(c);
  if (csize < size || !linksOk(c)) return 0; // damaged (or 0: no free chunk): JS reports it
  // A free chunk never touches the top nor another free chunk; one that does goes to JS.
  const nx = c + csize;
  if ((load<u32>(nx + Chunk.SIZE) & Flag.FREE) != 0) return 0;
  removeChunk(c, csize);
  const rem = csize - size;
  if (rem >= Chunk.MIN) {
    // Split: the rest is a free chunk before an in-use one (nothing to merge).
    store<u32>(c + Chunk.SIZE, size | Flag.TAG);
    const r = c + size;
    store<u32>(r + Chunk.SIZE, rem | Flag.FREE | Flag.TAG);
    store<u32>(nx, rem);
    insertChunk(r, rem);
  } else {
    store<u32>(c + Chunk.SIZE, csize | Flag.TAG);
    store<u32>(nx + Chunk.SIZE, load<u32>(nx + Chunk.SIZE) & ~Flag.PREV_FREE);
  }
  return c + Chunk.HEADER;
}

/** The size word of p's chunk when p is a live user block (tlsf.ts liveSizeWord), else 0. */
@inline function liveSizeWord(p: u32): u32 {
  const top = load<u32>(topAt);
  if ((p & 15) != 0 || p < rawStart + Chunk.HEADER || p >= top) return 0;
  const c = p - Chunk.HEADER;
  const sw = load<u32>(c + Chunk.SIZE);
  const size = sw & ~Flag.MASK;
  if ((sw & (Flag.TAG | Flag.FREE | Flag.ARENA)) != Flag.TAG || size < Chunk.MIN || size > top - c) return 0;
  const n = c + size;
  if (n != top && (load<u32>(n + Chunk.SIZE) & (Flag.TAG | Flag.PREV_FREE)) != Flag.TAG) return 0;
  return sw;
}

/**
 * Give back in-use chunk c (header word sw), merging with free neighbours or the top
 * (tlsf.ts releaseChunk), after checking every footer and link it follows; false (nothing
 * written) when one is wrong.
 */
function releaseChunk(c: u32, sw: u32): bool {
  let size = sw & ~Flag.MASK;
  let ps: u32 = 0;
  if ((sw & Flag.PREV_FREE) != 0) {
    ps = load<u32>(c);
    if (ps > c - rawStart || load<u32>(c - ps + Chunk.SIZE) != (ps | Flag.FREE | Flag.TAG) || !linksOk(c - ps)) return false;
  }
  const n = c + size;
  const top = load<u32>(topAt);
  let ns: u32 = 0;
  if (n != top) {
    const nsw = load<u32>(n + Chunk.SIZE);
    if ((nsw & Flag.FREE) != 0) {
      ns = nsw & ~Flag.MASK;
      if (ns > top - n || load<u32>(n + ns) != ns || !linksOk(n)) return false;
    }
  }
  if (ps != 0) {
    c -= ps;
    removeChunk(c, ps);
    size += ps;
  }
  if (n == top) {
    store<u32>(topAt, c);
    return true;
  }
  if (ns != 0) {
    removeChunk(n, ns);
    size += ns;
  }
  store<u32>(c + Chunk.SIZE, size | Flag.FREE | Flag.TAG);
  const after = c + size;
  store<u32>(after, size);
  store<u32>(after + Chunk.SIZE, load<u32>(after + Chunk.SIZE) | Flag.PREV_FREE);
  insertChunk(c, size);
  return true;
}

/** Free raw block p here; false when JS must (threads, not a live block: JS reports it, damage). */
function rawFree(p: u32): bool {
  if (!rawOn) return false;
  const sw = liveSizeWord(p);
  return sw != 0 && releaseChunk(p - Chunk.HEADER, sw);
}

/**
 * realloc of raw block p (tlsf.ts realloc): in place when it shrinks or the next chunk (free,
 * or the top within the memory) holds the rest, else a new chunk here and a copy. 0 when JS
 * must do it (nothing written then).
 */
function rawRealloc(p: u32, n: u32): u32 {
  if (!rawOn || n > Chunk.MAX_REQUEST) return 0;
  const sw = liveSizeWord(p);
  if (sw == 0) return 0;
  const c = p - Chunk.HEADER;
  const csize = sw & ~Flag.MASK;
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
      if ((nsw & Flag.FREE) != 0) {
        const ns = nsw & ~Flag.MASK;
        if (ns > top - nx || load<u32>(nx + ns) != ns || !linksOk(nx)) return 0;
      }
    }
    store<u32>(c + Chunk.SIZE, size | keep);
    store<u32>(r + Chunk.SIZE, (csize - size) | Flag.TAG);
    releaseChunk(r, (csize - size) | Flag.TAG);
    return p;
  }
  if (nx == top) {
    const end = c + size;
    if (end < c || <u64>end + Chunk.HEADER > (<u64>memory.size() << 16)) return 0;
    store<u32>(c + Chunk.SIZE, size | keep);
    store<u32>(topAt, end);
    if (end > load<u32>(peakAt)) store<u32>(peakAt, end);
    return p;
  }
  const nsw = load<u32>(nx + Chunk.SIZE);
  if ((nsw & Flag.FREE) != 0) {
    const ns = nsw & ~Flag.MASK;
    if (ns > top - nx || load<u32>(nx + ns) != ns || !linksOk(nx)) return 0;
    if (csize + ns >= size) {
      const after = nx + ns; // in use (a free chunk never touches another) or the top: never
      if (after == top || (load<u32>(after + Chunk.SIZE) & Flag.FREE) != 0) return 0;
      removeChunk(nx, ns);
      const rem = csize + ns - size;
      if (rem >= Chunk.MIN) {
        store<u32>(c + Chunk.SIZE, size | keep);
        const r = c + size;
        store<u32>(r + Chunk.SIZE, rem | Flag.FREE | Flag.TAG);
        store<u32>(after, rem);
        insertChunk(r, rem);
      } else {
        store<u32>(c + Chunk.SIZE, (csize + ns) | keep);
        store<u32>(after + Chunk.SIZE, load<u32>(after + Chunk.SIZE) & ~Flag.PREV_FREE);
      }
      return p;
    }
  }
  // Moves: checked first that the old chunk can be given back, then a new one, a copy, the release.
  if ((sw & Flag.PREV_FREE) != 0) {
    const ps = load<u32>(c);
    if (ps > c - rawStart || load<u32>(c - ps + Chunk.SIZE) != (ps | Flag.FREE | Flag.TAG) || !linksOk(c - ps)) return 0;
  }
  const q = rawMalloc(n);
  if (q == 0) return 0;
  memory.copy(q, p, min<u32>(csize - Chunk.OVERHEAD, n));
  // Checked above (the new chunk came from elsewhere); were it not so, JS reports it.
  if (!releaseChunk(c, load<u32>(c + Chunk.SIZE))) freeSlow(p);
  return q;
}

export function malloc(n: u32): u32 {
  const p = mallocFast(n);
  if (p != 0) return p;
  if ((n - 1) >> alignShift >= nClasses) {
    const q = rawMalloc(n);
    if (q != 0) return q;
  }
  return mallocSlow(n);
}

export function free(p: u32): void {
  if (p == 0) return;
  if (isOurs(p)) {
    if (freeSmall(p)) return;
  } else if (rawFree(p)) return;
  freeSlow(p);
}

export function calloc(nelem: u32, elsize: u32): u32 {
  const n64 = <u64>nelem * <u64>elsize;
  if (n64 - 1 < <u64>Size.SMALL_REQUEST_THRESHOLD) {
    const n = <u32>n64;
    const p = mallocFast(n);
    if (p != 0) {
      memory.fill(p, 0, n);
      return p;
    }
  } else if (n64 - 1 < <u64>Chunk.MAX_REQUEST) {
    const n = <u32>n64;
    const p = rawMalloc(n);
    if (p != 0) {
      memory.fill(p, 0, n);
      return p;
    }
  }
  return callocSlow(nelem, elsize);
}

/** CPython's pymalloc_realloc: in place when the class still fits and shrinks by < 25%. */
export function realloc(p: u32, n: u32): u32 {
  if (p == 0) return malloc(n);
  if (!isOurs(p)) {
    const q = rawRealloc(p, n);
    return q != 0 ? q : reallocSlow(p, n);
  }
  const pool = p & ~poolMask;
  const off = p - pool - Pool.OVERHEAD;
  const size = load<u32>(pool + Pool.SIZE);
  if (off >= load<u32>(pool + Pool.NEXTOFFSET) - Pool.OVERHEAD || load<u32>(pool) == 0 || off % size != 0 || load<u32>(pool + Pool.FREEBLOCK) == p)
    return reallocSlow(p, n); // not a live block: JS reports it
  let keep = size;
  if (n <= size) {
    if (4 * n > 3 * size) return p;
    keep = n;
  }
  const q = malloc(n);
  if (q == 0) return 0;
  memory.copy(q, p, keep);
  free(p);
  return q;
}
