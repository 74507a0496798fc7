// wasm/obmalloc/obmalloc.ts — the object allocator's fast paths in AssemblyScript, on the heap
// that the TypeScript allocator (src/obmalloc/obmalloc.ts) formats and manages, in the same
// WebAssembly.Memory: C code linked to these exports allocates without leaving WebAssembly, and
// JS and wasm allocate from and free into one heap.
//
// Owns: CPython's fast paths, exactly: malloc pops the first free block of the head pool of its
// size class in this thread's usedpools (or carves the pool's next never-used block), free
// pushes a block of one of this thread's pools back (relinking a pool that was full), calloc and
// realloc around them. Every popped link is checked to lie in its pool, past the header, on a
// block boundary.
// Must not: do anything else. A pool from an arena, arenas, raw blocks (0 or > 512 bytes),
// growth, the lock, blocks other threads freed (REMOTE/DELAYED), a pool that empties, a block of
// another thread's pool, anything invalid: the imported slow paths (the TypeScript allocator's
// family, bound to this thread's heap handle) do all of it, and report what is wrong. Holds no
// state but numbers read from the heap header at init().

import { H, Pool, Size, Slot } from "./layout";

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
}

@inline function isOurs(p: u32): bool {
  const q = p >> poolShift;
  const i = q >> 3;
  return i < mapBytes && ((load<u8>(mapBase + i) >> (q & 7)) & 1) != 0;
}

/** A block of n bytes (1..512) from this thread's pools, or 0 when the fast path cannot serve it. */
@inline function mallocFast(n: u32): u32 {
  const idx = (n - 1) >> alignShift;
  if (idx >= nClasses) return 0;
  const sp = usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
  const pool = load<u32>(sp + Pool.NEXT);
  if (pool == sp) return 0; // no pool with a free block: one from an arena (JS)
  const bp = load<u32>(pool + Pool.FREEBLOCK);
  const nb = load<u32>(bp);
  if (nb != 0) {
    // The link read from the freed block: inside its pool, past the header, below the carved
    // blocks, on a block boundary. Anything else goes to JS (which reports it).
    const off = nb - pool - Pool.OVERHEAD;
    if (off >= load<u32>(pool + Pool.NEXTOFFSET) - Pool.OVERHEAD || off % load<u32>(pool + Pool.SIZE) != 0) return 0;
    store<u32>(pool + Pool.FREEBLOCK, nb);
  } else {
    // The free list runs dry: carve the next never-used block, unless the pool is full or (with
    // threads) other threads freed blocks into it: JS takes those, or unlinks the full pool.
    const no = load<u32>(pool + Pool.NEXTOFFSET);
    if (no > load<u32>(pool + Pool.MAXNEXTOFFSET)) return 0;
    if (threaded && load<u32>(pool + Pool.REMOTE) >> 1 != 0) return 0;
    const b = pool + no;
    store<u32>(pool + Pool.FREEBLOCK, b);
    store<u32>(pool + Pool.NEXTOFFSET, no + load<u32>(pool + Pool.SIZE));
    store<u32>(b, 0);
  }
  store<u32>(pool, load<u32>(pool) + 1);
  return bp;
}

/**
 * The pool of p when p is a live block start of one of this thread's pools (as free() needs
 * it: not the pool's last block, not its first free block), else 0.
 */
@inline function ownLiveBlock(p: u32): u32 {
  if (!isOurs(p)) return 0;
  const pool = p & ~poolMask;
  const off = p - pool - Pool.OVERHEAD;
  if (off >= load<u32>(pool + Pool.NEXTOFFSET) - Pool.OVERHEAD || load<u32>(pool) == 0) return 0;
  if (off % load<u32>(pool + Pool.SIZE) != 0 || load<u32>(pool + Pool.OWNER) != owner) return 0;
  if (load<u32>(pool + Pool.FREEBLOCK) == p) return 0; // a double free: JS reports it
  return pool;
}

@inline function freeFast(p: u32): bool {
  const pool = ownLiveBlock(p);
  if (pool == 0) return false;
  const cnt = load<u32>(pool);
  if (cnt == 1) return false; // the pool empties: back to its arena (JS, under the lock)
  const fb = load<u32>(pool + Pool.FREEBLOCK);
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

export function malloc(n: u32): u32 {
  const p = mallocFast(n);
  return p != 0 ? p : mallocSlow(n);
}

export function free(p: u32): void {
  if (p == 0) return;
  if (!freeFast(p)) freeSlow(p);
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
  }
  return callocSlow(nelem, elsize);
}

/** CPython's pymalloc_realloc: in place when the class still fits and shrinks by < 25%. */
export function realloc(p: u32, n: u32): u32 {
  if (p == 0) return malloc(n);
  if (n - 1 >= Size.SMALL_REQUEST_THRESHOLD || !isOurs(p)) return reallocSlow(p, n);
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
