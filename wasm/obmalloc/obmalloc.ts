// wasm/obmalloc/obmalloc.ts — the object allocator's fast paths in AssemblyScript, on the heap
// that the TypeScript allocator (src/obmalloc/, src/raw/) formats and manages, in the same
// WebAssembly.Memory: C code linked to these exports allocates without leaving WebAssembly, and
// JS and wasm allocate from and free into one heap. The module's entry points: malloc, free,
// calloc, realloc (init, divert and stop are state.ts's).
//
// Owns: CPython's fast paths, exactly: malloc pops the first free block of the head pool of its
// size class in this thread's usedpools (its last free block, the now full pool unlinked: mallocLast;
// pool.ts's popBlock when neither can: carve the pool's next never-used blocks, or the same
// unlink with every test made again; arenas.ts when the class has no pool), free pushes a block of one of this thread's pools back
// (relinking a pool that was full; an emptied pool kept as its class's spare or given back:
// arenas.ts), calloc and realloc around them; blocks of 0 or > 512 bytes through raw.ts (the raw
// allocator's common paths), and, with the raw start on (rawFirst), a young class's blocks
// served raw (rawstart.ts). Every popped link is checked to lie in its pool, past the header,
// below the carved blocks, as JS release mode checks it (not the block boundary: that is
// hardened: true's check, and hardened heaps do not use this module); every freed pointer is
// checked to be a block start.
// Must not: do anything else. A new arena, arenas given back, growth, the lock (everything but
// the fast paths on threads heaps), blocks other threads freed (REMOTE/DELAYED), a block of
// another thread's pool, anything invalid: the imported slow paths (the TypeScript allocator's
// family, bound to this thread's heap handle) do all of it, and report what is wrong. Holds no
// state (state.ts holds the numbers read from the heap header at init()).

import { Chunk, FreeBlock, Pool, Size, Slot, SubPool } from "./layout";
import { rawFree, rawMalloc, rawRealloc } from "./raw";
import { alignShift, diverted, freeOwner, mapBase, mapBytes, mapEnd, nClasses, nFast, poolMask, poolShift, rawStart, threaded, usedBase } from "./state";
import { carved, inverseOk, isOurs, isOursHigh, linkOff, linkOk, onBoundary, popBlock, poolOf, subPoolFilled } from "./pool";
import { freeEmptied, freeEmptiedSub, keptAlone, poolFromArena, young } from "./arenas";
import { rawCame, rawWent, rawYoung } from "./rawstart";

export { divert, init, stop } from "./state";

/** realloc copies blocks of up to this many bytes with a loop of 8-byte stores (copySmall). */
const COPY_LOOP_MAX: u32 = 128;
/** calloc zeroes blocks of up to this many bytes with 8-byte stores (zeroWords), memory.fill above it. */
const ZERO_STORES_MAX: u32 = 128;

@external("pymalloc", "malloc") declare function mallocSlow(n: u32): u32;
@external("pymalloc", "free") declare function freeSlow(p: u32): void;
@external("pymalloc", "calloc") declare function callocSlow(nelem: u32, elsize: u32): u32;
@external("pymalloc", "realloc") declare function reallocSlow(p: u32, n: u32): u32;

/**
 * A block of class idx (sentinel sp, head pool `pool`) when the head pool's free list cannot
 * simply be popped: no pool (the raw start's raw chunk, or a pool from an arena), a free list
 * run dry (carve, or unlink the full pool), a damaged link (JS). 0 when the fast path cannot
 * serve it. Out of line: the pop that malloc inlines stays small.
 */
function mallocMore(n: u32, idx: u32, sp: u32, pool: u32): u32 {
  if (pool == sp) {
    if (rawStart && rawYoung(idx, n)) {
      const q = rawMalloc(n);
      if (q != 0) return rawCame(q, 1);
    }
    pool = poolFromArena(idx, sp);
    if (pool == 0) return 0;
  } else {
    // A damaged usedpools head: JS reports it.
    if (pool > (<u32>memory.size() << 16) - Pool.OVERHEAD) return 0;
    if (load<u32>(pool + Pool.SZIDX) != idx) return 0;
  }
  return popBlock(pool);
}

/**
 * calloc's block of n bytes (1..512) of class idx (idx < nFast), or 0 when the fast path cannot
 * serve it: malloc's inline pop, its tests as malloc makes them (the sentinel's SZIDX word is never
 * a class: no test of its own for an empty list; the link's two u32 tests), the rest out of line
 * (mallocMore). Not zeroed. Written out beside malloc's on purpose: malloc's pop made one @inline
 * function for both (calloc falling back to JS's malloc) cost compileall 131 -> 133 instructions
 * an event linked, 136 -> 140 as a module, 150 -> 151 imported (bench:wasm --instructions
 * --steady, session 51; bench/results/2026-12-07-s51-wasm-mallocClass.patch).
 */
@inline function mallocFast(n: u32, idx: u32): u32 {
  const sp = usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
  const pool = load<u32>(sp + Pool.NEXT);
  // The head pool and its first free block lie in the memory (a damaged word past it is JS's
  // to report: 0; popBlock relies on it).
  const end = <u32>(memory.size() << 16) - Pool.OVERHEAD;
  if (pool < end) if (load<u32>(pool + Pool.SZIDX) == idx) {
    const bp = load<u32>(pool + Pool.FREEBLOCK);
    if (bp < end) {
      // The common case, popBlock's first branch: a free block whose link is a carved block
      // (linkOff's two tests; nb 0, the list's end, fails the first). A misaligned bp fails the
      // tag test (see malloc).
      const nb = load<u32>(bp);
      if (load<u32>(bp + FreeBlock.TAG) == FreeBlock.TAG_VALUE) {
        const t = linkOff(nb, pool);
        if (t < poolMask + 1 - Pool.OVERHEAD) if (t + Pool.OVERHEAD < load<u32>(pool + Pool.NEXTOFFSET)) {
          store<u32>(pool + Pool.FREEBLOCK, nb);
          store<u32>(pool, load<u32>(pool) + 1);
          store<u32>(bp + FreeBlock.TAG, 0);
          return bp;
        }
      }
    }
  }
  // The sentinel (no pool), a damaged head (mallocMore leaves it to JS), a pool's last block.
  return mallocMore(n, idx, sp, pool);
}

/**
 * Free p, in our pools (isOurs), when it is a live block start of one of this thread's pools
 * (in the pool, past its header, below the carved blocks, on a block boundary, the pool in
 * use, not its first free block: a double free) and the pool does not empty unless it is its
 * class's only listed pool; false (nothing written) when JS must do it or report it.
 */
@inline function freeSmall(p: u32): bool {
  let pool = p & ~poolMask;
  let off = p - pool - Pool.OVERHEAD;
  if (!carved(off, pool)) {
    // Past the slot's first pool's carved blocks: a block of another sub-pool of the slot?
    pool = poolOf(p);
    off = p - pool - Pool.OVERHEAD;
    if (!carved(off, pool)) return false;
  }
  const cnt = load<u32>(pool);
  const fb = load<u32>(pool + Pool.FREEBLOCK);
  if (fb == p) return false;
  if (!onBoundary(off, load<u32>(pool + Pool.INVERSE))) return false;
  if (load<u32>(pool + Pool.OWNER) != freeOwner) return false;
  // One test on the common path for two rare cases. cnt 0: no live block (JS reports it). cnt 1:
  // the pool empties: kept (still listed, empty) when it is its class's only listed pool (both
  // links the sentinel), as threads heaps keep one; else back to its arena (JS, under the lock).
  if (cnt <= 1) {
    if (cnt == 0) return false;
    if (fb == 0) return freeEmptiedSub(p, pool, 0, false);
    // A sub-pool of a class that is young no more (it held its limit, or churned: SubPool in
    // src/constants.ts) is never kept, as its only pool or its spare (JS's keepSpare keeps none
    // either): its next pool is whole. (Threads: JS decides, as before.)
    if (!threaded) if ((load<u32>(pool + Pool.SUB) & SubPool.SHIFT_MASK) != 0) {
      const idx = load<u32>(pool + Pool.SZIDX);
      if (idx < nClasses) if (!young(idx)) return freeEmptiedSub(p, pool, fb, true);
    }
    if (load<u32>(pool + Pool.NEXT) != load<u32>(pool + Pool.PREV)) return freeEmptied(p, pool, fb);
    keptAlone(pool); // kept, listed
  }
  if (fb == 0) return relinkFull(p, pool, cnt); // it was full
  store<u32>(p, fb);
  store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  store<u32>(pool + Pool.FREEBLOCK, p);
  store<u32>(pool, cnt - 1);
  return true;
}

export function malloc(n: u32): u32 {
  // mallocFast written out: the pop of the head pool's first free block, every other small case
  // in one out-of-line call (mallocSmall); raw blocks (0 or > 512 bytes) and diverted calls
  // (nFast 0) below.
  const idx = (n - 1) >> alignShift;
  if (idx < nFast) {
    const sp = usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
    const pool = load<u32>(sp + Pool.NEXT);
    // The usedpools head lies in the memory, FREEBLOCK in its pool's slot: a damaged word past
    // the memory trapped here where JS errs (test/stray-writes.test.ts; wasm-damage's unchecked
    // mode). Both bounded: 0-8 instructions an event in bench:wasm --instructions (json 167 both
    // ways; minidom 171 -> 179, within what one build measures run to run; bounding both
    // against memory.size() was ~6 when measured on 2026-12-02). The head must be a pool of
    // this class (JS's mallocIn's test: the sentinel's SZIDX word is the next class's PREV
    // link, never a class, so one test for both); any other head goes to mallocSmall, which
    // leaves a damaged one to JS (it reports it).
    const end = (<u32>memory.size() << 16) - Pool.OVERHEAD;
    // Nested tests, not &&: AssemblyScript's && is a value, which V8 made a boolean of (setcc,
    // movzx) and tested again: 4 instructions a test (docs/performance.md, session 31).
    if (pool < end) if (load<u32>(pool + Pool.SZIDX) == idx) {
      const bp = load<u32>(pool + Pool.FREEBLOCK);
      // bp in the memory: a FREEBLOCK a stray write changed (or a user's data over the header,
      // past a carve a MAXNEXTOFFSET raised) must not trap here (mallocSmall leaves it to JS,
      // which reports it). One compare, against the memory's end, not the pool's slot: a head a
      // stray write pointed at data near the memory's end has no slot in the memory. Where bp
      // lies is then proved as JS's mallocIn proves it: its link must be a carved block of this
      // pool (linkOk; 0 fails it too) and bp must hold the free tag.
      // Its alignment needs no test of its own here: a bp off a free block by 1-7 bytes reads
      // the tag's high bytes (0xff) or what follows it as the low byte of its tag word, never
      // FreeBlock.TAG_VALUE's (0xab), so the tag test below refuses it and mallocSmall leaves
      // it to JS (JS reads words through bp >>> 2, rounded: it tests bp's alignment itself).
      if (bp < end) {
        const nb = load<u32>(bp);
        // bp must hold the free tag (FreeBlock), as JS's mallocIn checks: else mallocSmall, JS.
        if (load<u32>(bp + FreeBlock.TAG) == FreeBlock.TAG_VALUE) {
          // linkOk(nb, pool) written out as two u32 tests (the same answer: linkOff): no i64, no
          // min() of NEXTOFFSET and the slot's size.
          const t = linkOff(nb, pool);
          if (t < poolMask + 1 - Pool.OVERHEAD) if (t + Pool.OVERHEAD < load<u32>(pool + Pool.NEXTOFFSET)) {
            store<u32>(pool + Pool.FREEBLOCK, nb);
            store<u32>(pool, load<u32>(pool) + 1);
            store<u32>(bp + FreeBlock.TAG, 0); // handed out: live (FreeBlock in src/constants.ts)
            return bp;
          }
          // The head pool's last free block (its link 0), or a damaged link: mallocLast, which
          // does not test again what was proved here.
          return mallocLast(n, idx, pool, bp, nb, end);
        }
      }
    }
    return mallocSmall(n, idx, sp, pool);
  }
  if (!diverted) {
    const q = rawMalloc(n);
    if (q != 0) return rawStart ? rawCame(q, 1) : q;
  }
  return mallocSlow(n);
}

/**
 * malloc(n) of class idx when the head pool `pool` has a free block bp whose link nb
 * is no carved block: malloc's inline pop proved pool and bp below end (the memory's end less a
 * pool header), pool's SZIDX idx and bp's free tag. The common case, bp the pool's last free block
 * (nb 0) and no block left to carve: the pool fills and leaves usedpools (popBlock's unlinkFull),
 * the tests malloc made not made again (in a steady churn a free into a full pool relinks it, and
 * the next malloc takes the block back and unlinks it: every other event there). Anything else
 * (a carve, a damaged link, links that do not come back) goes to mallocSmall as before.
 */
function mallocLast(n: u32, idx: u32, pool: u32, bp: u32, nb: u32, end: u32): u32 {
  // A link of 0 proves nothing of bp: the pool's FREEBLOCK must itself be a carved block start
  // of it (popBlock's test; an overflow of the block before the header lands there). With
  // threads, unlinkFull's rule (the pool marked FULL first): mallocSmall.
  if (nb == 0) if (!threaded) if (linkOk(bp, pool)) if (load<u32>(pool + Pool.NEXTOFFSET) > load<u32>(pool + Pool.MAXNEXTOFFSET)) {
    // unlinkFull's tests and writes, against malloc's end (the memory has not shrunk since).
    const next = load<u32>(pool + Pool.NEXT);
    const prev = load<u32>(pool + Pool.PREV);
    if (next < end) if (prev < end) if (load<u32>(next + Pool.PREV) == pool) if (load<u32>(prev + Pool.NEXT) == pool) {
      store<u32>(next + Pool.PREV, prev);
      store<u32>(prev + Pool.NEXT, next);
      store<u32>(pool + Pool.FREEBLOCK, 0);
      store<u32>(pool, load<u32>(pool) + 1);
      store<u32>(bp + FreeBlock.TAG, 0); // handed out: live (FreeBlock in src/constants.ts)
      if ((load<u32>(pool + Pool.SUB) & SubPool.SHIFT_MASK) != 0) subPoolFilled(pool);
      return bp;
    }
  }
  // (Six arguments: V8 passes a seventh on the stack; sp is one add away.)
  return mallocSmall(n, idx, usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT, pool);
}

/** malloc(n) of class idx (sentinel sp, head pool `pool`) when its first free block cannot simply be popped. */
function mallocSmall(n: u32, idx: u32, sp: u32, pool: u32): u32 {
  const p = mallocMore(n, idx, sp, pool);
  return p != 0 ? p : mallocSlow(n);
}

/**
 * p is a live block of a full pool (fb 0) of this thread, in use by two or more (free's first
 * pass or freeSmall tested it): push it and put the pool back at the front of its class's
 * usedpools (FULL, with threads, stays set), when its class is one of the heap's (JS's linkPool
 * reports the rest), checked before the first write. The list's head is followed as JS's
 * linkPool follows it (a check that it links back cost ~6 instructions an event: a free into a
 * full pool is common). The head must link back to the sentinel (JS's linkPool tests the same):
 * a damaged head word is never written through (past the memory it trapped here; inside it, the
 * pool's address landed in whatever block the word pointed at). False (nothing written) when JS
 * must do it: JS reports it.
 */
function relinkFull(p: u32, pool: u32, cnt: u32): bool {
  const idx = load<u32>(pool + Pool.SZIDX);
  if (idx >= nClasses) return false;
  const sp = usedBase + (idx << Slot.HEAD_SHIFT) - Pool.NEXT;
  const next = load<u32>(sp + Pool.NEXT);
  if (next >= <u32>(memory.size() << 16) - Pool.OVERHEAD) return false;
  if (load<u32>(next + Pool.PREV) != sp) return false;
  let after = sp;
  let before = next;
  // A sub-pool of a class young no more goes behind the head (a whole pool, or another of its
  // sub-pools in use), as JS's linkFreed puts every sub-pool: malloc goes on with the head while
  // the sub-pool gathers frees and empties (then given back: freeSmall), instead of filling again
  // at the next malloc for as long as the class's blocks come and go (its churn goes on).
  if (!threaded) if ((load<u32>(pool + Pool.SUB) & SubPool.SHIFT_MASK) != 0) if (next != sp) if (load<u32>(next) != 0) if (!young(idx)) {
    const nn = load<u32>(next + Pool.NEXT);
    if (nn >= <u32>(memory.size() << 16) - Pool.OVERHEAD) return false;
    if (load<u32>(nn + Pool.PREV) != next) return false;
    after = next;
    before = nn;
  }
  store<u32>(p, 0);
  store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
  store<u32>(pool + Pool.FREEBLOCK, p);
  store<u32>(pool, cnt - 1);
  store<u32>(pool + Pool.NEXT, before);
  store<u32>(pool + Pool.PREV, after);
  store<u32>(before + Pool.PREV, pool);
  store<u32>(after + Pool.NEXT, pool);
  return true;
}

export function free(p: u32): void {
  // isOurs(p) written out as two tests, so that no boolean is made of it on the common path.
  // NULL is never ours (the pool map's first bit is the heap header's, never a pool's): tested
  // off the common path.
  const q = p >> poolShift;
  const i = q >> 3;
  if (i < mapBytes) {
    if (((load<u8>(mapBase + i) >> (q & 7)) & 1) != 0) {
      // freeSmall's common case first: a live block start of the slot's first (or only) pool,
      // this thread's, not its first free block, the pool neither full nor emptying. freeSmall
      // decides the rest (another sub-pool of the slot, a pool that fills or empties, errors)
      // and makes every test again.
      // The block's pool: its slot, or, in a slot cut into sub-pools (its SUB word), its sub-pool
      // (poolOf). Young classes' blocks are in sub-pools: with the slot alone,
      // a block of any sub-pool but the slot's first went to freeSmall's second pass (binary
      // trees' strings: 1.17 M of 1.22 M frees, ~100 instructions more each).
      const pool = poolOf(p);
      const off = p - pool - Pool.OVERHEAD;
      const fb = load<u32>(pool + Pool.FREEBLOCK);
      const cnt = load<u32>(pool);
      // NEXTOFFSET less the header, in i64 (a damaged NEXTOFFSET below the header carves nothing:
      // carved()), not taken at most the slot's size as carvedEnd takes it: off is below the
      // slot's bytes here whatever NEXTOFFSET says (pool is poolOf(p): p lies in its slot), so
      // the min() would change no answer.
      const lim = <i64>load<u32>(pool + Pool.NEXTOFFSET) - Pool.OVERHEAD;
      const other = load<u32>(pool + Pool.OWNER) ^ freeOwner;
      // Four tests as one: each term (u32 values widened to i64) is negative exactly when its
      // test fails: off past the carved blocks, fb == p (a double free), fewer than 2 blocks in
      // use (the pool empties), another thread's pool. fb == 0 (the pool was full) is relinked
      // by relinkFull, out of line, without freeSmall's second round of these tests (a sub-pool
      // of a few large blocks fills and un-fills at nearly every call: binary trees' strings,
      // 480,460 relinks in 1,000,000 strings, 4% of that part's instructions).
      // (Written as nested tests, V8 made a boolean of each pair: more instructions.) p's own
      // words are not read (its free tag: a cold block's load at every free costs more time than
      // its instructions say); a block freed twice is refused when a pop would hand it out again.
      const bad = (lim - 1 - <i64>off) | (<i64>(fb ^ p) - 1) | (<i64>cnt - 2) | (0 - <i64>other);
      if (bad >= 0) {
        // On a block boundary (one multiplication by the pool's INVERSE word: onBoundary; a
        // division, `off % size`, until session 48), once the pool is known to be in use.
        if (onBoundary(off, load<u32>(pool + Pool.INVERSE))) {
          if (fb != 0) {
            store<u32>(p, fb);
            store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
            store<u32>(pool + Pool.FREEBLOCK, p);
            store<u32>(pool, cnt - 1);
            return;
          }
          if (relinkFull(p, pool, cnt)) return;
        }
      }
      if (!freeSmall(p)) freeSlow(p);
      return;
    }
  } else if (i < mapEnd && isOursHigh(q)) {
    if (!freeSmall(p)) freeSlow(p);
    return;
  }
  if (p != 0) {
    const sw = rawFree(p);
    if (sw == 0) freeSlow(p);
    else if (rawStart) rawWent(sw);
  }
}

/**
 * Zero the first n bytes (1..ZERO_STORES_MAX) of p, a block of our pools (8-byte aligned, its size
 * a multiple of 8 and at least n): its first ceil(n / 8) words, by straight-line 8-byte stores
 * entered by one jump (a br_table), no loop and no call. memory.fill is a call out of the
 * generated code into V8's C++ (memory_fill_wrapper, then memset): ~60 instructions for
 * compileall's 48-byte callocs, against 6 stores here.
 */
@inline function zeroWords(p: u32, n: u32): void {
  switch ((n + 7) >> 3) {
    case 16: store<u64>(p, 0, 120);
    case 15: store<u64>(p, 0, 112);
    case 14: store<u64>(p, 0, 104);
    case 13: store<u64>(p, 0, 96);
    case 12: store<u64>(p, 0, 88);
    case 11: store<u64>(p, 0, 80);
    case 10: store<u64>(p, 0, 72);
    case 9: store<u64>(p, 0, 64);
    case 8: store<u64>(p, 0, 56);
    case 7: store<u64>(p, 0, 48);
    case 6: store<u64>(p, 0, 40);
    case 5: store<u64>(p, 0, 32);
    case 4: store<u64>(p, 0, 24);
    case 3: store<u64>(p, 0, 16);
    case 2: store<u64>(p, 0, 8);
    case 1: store<u64>(p, 0, 0);
  }
}

export function calloc(nelem: u32, elsize: u32): u32 {
  const n64 = <u64>nelem * <u64>elsize;
  if (n64 - 1 < <u64>Size.SMALL_REQUEST_THRESHOLD) {
    const n = <u32>n64;
    const idx = (n - 1) >> alignShift;
    // nFast is 0 while diverted (malloc's one test): every small calloc then goes to JS.
    if (idx < nFast) {
      const p = mallocFast(n, idx);
      if (p != 0) {
        if (n <= ZERO_STORES_MAX) zeroWords(p, n);
        else memory.fill(p, 0, n);
        return p;
      }
    }
  } else if (diverted) {
    // JS, below.
  } else if (n64 - 1 < <u64>Chunk.MAX_REQUEST) {
    const n = <u32>n64;
    const p = rawMalloc(n);
    if (p != 0) {
      memory.fill(rawStart ? rawCame(p, 1) : p, 0, n);
      return p;
    }
  }
  return callocSlow(nelem, elsize);
}

/**
 * Copy a small block's first n bytes (n <= 512) from p to q, both blocks of our pools, 8-byte
 * aligned, each at least n rounded up to 8 bytes long (their sizes are multiples of 8): 8 bytes a
 * store up to COPY_LOOP_MAX, memory.copy above it. V8 runs memory.copy as a call out of the
 * generated code into C++ (memmove), ~100 instructions before the first byte moves; a realloc of a
 * 16-byte block to 32 (Lua's tables, 1.6 million a binary-trees run) moves two words.
 */
@inline function copySmall(q: u32, p: u32, n: u32): void {
  if (n > COPY_LOOP_MAX) {
    memory.copy(q, p, n);
    return;
  }
  for (let i: u32 = 0; i < n; i += 8) store<u64>(q + i, load<u64>(p + i));
}

/** CPython's pymalloc_realloc: in place when the class still fits and shrinks by < 25%. */
export function realloc(p: u32, n: u32): u32 {
  if (p == 0) return malloc(n);
  if (diverted) return reallocSlow(p, n);
  if (!isOurs(p)) {
    // The size word, for the counts (rawRealloc checks p itself; a p past the memory reads 0 here).
    const sw = p - 4 < (<u32>memory.size() << 16) - 4 ? load<u32>(p - 4) : 0;
    const q = rawRealloc(p, n);
    if (q == 0) return reallocSlow(p, n);
    if (!rawStart) return q;
    rawWent(sw);
    return rawCame(q, 0);
  }
  const pool = poolOf(p);
  const off = p - pool - Pool.OVERHEAD;
  // The block size is its class's (SZIDX; JS's liveSize): realloc copies, and keeps in place, by
  // it, and the INVERSE word that finds p a block start must be that size's: a word a stray write
  // changed is not trusted (JS reports it).
  const idx = load<u32>(pool + Pool.SZIDX);
  const size = (idx + 1) << alignShift;
  const inv = load<u32>(pool + Pool.INVERSE);
  // Not a live block, or one that holds the free tag: JS walks its list, reports it. One test a
  // return (popBlock's note: AssemblyScript's || is a value V8 tests twice).
  if (!carved(off, pool)) return reallocSlow(p, n);
  if (load<u32>(pool) == 0) return reallocSlow(p, n);
  if (idx >= nClasses) return reallocSlow(p, n);
  if (!inverseOk(inv, size)) return reallocSlow(p, n);
  if (!onBoundary(off, inv)) return reallocSlow(p, n);
  if (load<u32>(p + FreeBlock.TAG) == FreeBlock.TAG_VALUE) return reallocSlow(p, n);
  let keep = size;
  if (n <= size) {
    if (4 * n > 3 * size) return p;
    keep = n;
  }
  const q = malloc(n);
  if (q == 0) return 0;
  copySmall(q, p, keep);
  // p, checked above as a live block of pool (q is another class's, so pool is as it was), goes
  // back as free's common case pushes it, without free's tests again (the pool map, the block's
  // pool, its division): when the pool neither empties nor was full and is this thread's.
  const cnt = load<u32>(pool);
  const fb = load<u32>(pool + Pool.FREEBLOCK);
  if (cnt >= 2) if (fb != 0) if (load<u32>(pool + Pool.OWNER) == freeOwner) {
    store<u32>(p, fb);
    store<u32>(p + FreeBlock.TAG, FreeBlock.TAG_VALUE);
    store<u32>(pool + Pool.FREEBLOCK, p);
    store<u32>(pool, cnt - 1);
    return q;
  }
  free(p);
  return q;
}
