/**
 * obmalloc/variants.ts — the object allocator's classes, one per kind of heap, and the factory
 * that picks one.
 *
 * Owns: FineObjectAllocator (alignment: 8, malloc's constant shift), SharedObjectAllocator
 * (threads: a thread keeps its only empty pool of a class; extendPool takes remote frees first),
 * their hardened: true subclasses (more checks on malloc and free), and createObjectAllocator,
 * which reads the heap header's flags. Every allocator of one heap is of one class, so the
 * families' call sites stay monomorphic, and a heap without an option never runs its code.
 * Must not: change what ObjectAllocator (obmalloc/obmalloc.ts) does for heaps without the option.
 */

import { Size, H, HeapFlag, FreeBlock, Pool, SubPool } from "../constants.js";
import { HeapCorruptionError, InvalidPointerError, hex } from "../errors.js";
import type { Memory } from "../memory/memory.js";
import type { RawAllocator } from "../raw/tlsf.js";
import { ObjectAllocator, badLink, outOfLine, type ObjectAllocatorOptions } from "./obmalloc.js";

/**
 * The object allocator of a heap made with alignment: 8 (64 size classes of 8 bytes). It differs
 * from ObjectAllocator only in malloc's constant shift; every allocator of one heap is of one
 * class, so the families' call sites stay monomorphic.
 */
export class FineObjectAllocator extends ObjectAllocator {
  override malloc(n: number): number {
    return this.mallocIn(n, (n - 1) >>> Size.MIN_ALIGNMENT_SHIFT);
  }
}

/**
 * The object allocator of a heap with threads. A thread keeps its only pool of a class (its
 * links both the sentinel) when the pool empties, instead of giving it back to its arena:
 * giving it back and taking a pool again for the class's next block would be two lock cycles
 * (~600 instructions; on the bundled trace 98% of the pools that empty are their class's only
 * one, and the class asks for a pool again next). At most one such empty pool per class and
 * thread; collect() and detachThread() give them back. A class of its own, so that heaps
 * without threads keep the smaller poolEmptied that V8 inlines into free (an added branch there
 * cost minidom 25 instructions an event through what V8 then left out of line).
 */
export class SharedObjectAllocator extends ObjectAllocator {
  /**
   * extendPool with threads: blocks other threads freed into the pool come back first; a full
   * pool is marked FULL before it leaves usedpools (markFull), unless blocks arrived meanwhile.
   * The carve is ObjectAllocator.extendPool's (a batch of CARVE_BYTES).
   */
  protected override extendPool(pool: number, bp: number): void {
    if (bp < 0) {
      // Never runs (bp is never negative): its bytecode keeps this function out of line
      // (obmalloc.ts, outOfLine). Inlined into mallocIn, with takeRemote and the carve's checks,
      // it made mallocIn's optimized code too large for the replay loop to inline (732 bytes of
      // inlined bytecode, over V8's 460): every malloc of a threads heap was a call (imports:
      // 17% more instructions an event than pymalloc's, 11% with this; docs/performance.md,
      // "threads: true's mallocIn").
      let q = bp;
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      q = (q * 33) ^ (q >>> 7);
      outOfLine(q);
    }
    if (this.takeRemote(pool) !== 0) return;
    // Blocks never carved: ObjectAllocator.extendPool's batch (its links and tags written before
    // FREEBLOCK and NEXTOFFSET list them, so another thread's walk never follows the bytes a
    // block of the pool's last class left there). One block a call before 2026-12-06: a call
    // for every new block (the bundled trace: 188 M instructions in extendPool against 84 M).
    const u32 = this.u32;
    if (u32[(pool + Pool.NEXTOFFSET) >>> 2] <= u32[(pool + Pool.MAXNEXTOFFSET) >>> 2]) return super.extendPool(pool, bp);
    // The links are checked before markFull's FULL: a damaged one refuses the malloc with the heap
    // as it was (fullLinksBack undoes mallocIn's pop; the REMOTE word untouched).
    this.fullLinksBack(pool, bp, u32[(pool + Pool.NEXT) >>> 2], u32[(pool + Pool.PREV) >>> 2]);
    if (this.markFull(pool)) return;
    this.unlinkPool(pool);
  }

  protected override poolEmptied(pool: number): void {
    if (this.u32[(pool + Pool.NEXT) >>> 2] !== this.u32[(pool + Pool.PREV) >>> 2]) super.poolEmptied(pool);
  }
}

/** SharedObjectAllocator with 8-byte size classes (FineObjectAllocator's malloc). */
export class SharedFineObjectAllocator extends SharedObjectAllocator {
  override malloc(n: number): number {
    return this.mallocIn(n, (n - 1) >>> Size.MIN_ALIGNMENT_SHIFT);
  }
}

/**
 * subPools: true (HeapFlag.WHOLE_POOLS clear): a subclass of any of the four allocators above
 * whose free() finds the block's sub-pool itself: a block past the carved blocks of its slot's
 * header pool (p masked with the pool size) may be one of a later sub-pool; the slot's header
 * says whether the slot is cut into sub-pools (Pool.SUB), and then p masked with the sub-pool
 * size is the block's pool (Pool.SUB read on every free instead: compileall 313 against 310
 * instructions an event, json the same). Without it, a block of any sub-pool
 * but its slot's first failed free()'s checks (past the first one's carved blocks) and went to
 * freeSlow() out of line (json: 424,000 of 4 million frees a replay, ~150 instructions each),
 * and while every class is young that was most frees. Heaps with subPools: false keep
 * ObjectAllocator's free() unchanged. The rest is ObjectAllocator.free, the same checks.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function subPooled<T extends new (...a: any[]) => ObjectAllocator>(Base: T): T {
  return class extends Base {
    override free(p: number): void {
      if (!this.isOurs(p)) return this.rawFree(p);
      const u32 = this.u32;
      // The header's words are read at `w + (Pool.X >>> 2)` (w = pool >>> 2, one shift) rather
      // than `(pool + Pool.X) >>> 2`: three bytes of bytecode less a word, and this function's
      // bytecode counts against the budget V8 inlines within (docs/performance.md, "The inlining
      // budget").
      let pool = p - (p & this.poolMask);
      let w = pool >>> 2;
      let end = pool + (u32[w + (Pool.NEXTOFFSET >>> 2)] | 0);
      // Past the carved blocks of the slot's header pool: a block of a later sub-pool? (The one
      // sub-pool size, not the shift the word holds: a damaged word never leads out of the slot.)
      if (p >= end && (u32[w + (Pool.SUB >>> 2)] & SubPool.SHIFT_MASK) !== 0) {
        pool = p - (p & ((1 << SubPool.SHIFT) - 1));
        w = pool >>> 2;
        end = pool + (u32[w + (Pool.NEXTOFFSET >>> 2)] | 0);
      }
      // Counts and offsets read `| 0` (int32, as ObjectAllocator.free says why; INVERSE stays
      // uint32, as there). A block start: off >= 0 (p past the header; a negative off may pass
      // the product's test) and a whole number of blocks from the first, by one multiplication
      // (Pool.INVERSE: a float division until session 48).
      const cnt = u32[w] | 0;
      const off = p - pool - Pool.OVERHEAD;
      const inv = u32[w + (Pool.INVERSE >>> 2)];
      const fb = u32[w + (Pool.FREEBLOCK >>> 2)];
      const pw = p >>> 2;
      if (cnt === 0 || p >= end || off < 0 || Math.imul(off, inv) >>> 0 >= inv || fb === p || (u32[w + (Pool.OWNER >>> 2)] | 0) !== this.ownerWord) return this.freeSlow(p, pool);
      if (fb === 0) return this.freeIntoFull(p, pool, cnt, true); // before the push, as ObjectAllocator.free says why
      if (cnt === 1) return this.freeLast(p, pool);
      u32[pw] = fb;
      u32[pw + 1] = FreeBlock.TAG_VALUE;
      u32[w + (Pool.FREEBLOCK >>> 2)] = p;
      u32[w] = cnt - 1;
    }
  } as T;
}

const SubObjectAllocator = subPooled(ObjectAllocator);
const SubFineObjectAllocator = subPooled(FineObjectAllocator);
const SubSharedObjectAllocator = subPooled(SharedObjectAllocator);
const SubSharedFineObjectAllocator = subPooled(SharedFineObjectAllocator);

/**
 * hardened: true (HeapFlag.HARDENED): a subclass of any of the four allocators above that checks
 * more, so that heaps without it run exactly the code they always ran. malloc checks the block
 * it pops and that block's link are carved block starts of their pool (isBlockOf: in the pool,
 * past its header, below NEXTOFFSET, on a block boundary) before anything is written; free of a
 * small block that holds the free tag (FreeBlock in constants.ts) walks its pool's free list,
 * bounded by its blocks, and throws InvalidPointerError "double-free" when the block is on it (a
 * live block whose data holds the tag costs a walk, never a false report). Release modes refuse
 * such a block later, when malloc would hand it out twice. (A carve's checks, the pool's end
 * included, are every mode's since carving went in batches: ObjectAllocator.extendPool, which
 * SharedObjectAllocator's calls.)
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function hardened<T extends new (...a: any[]) => ObjectAllocator>(Base: T): T {
  return class extends Base {
    protected override mallocIn(n: number, idx: number): number {
      if (idx < this.nClasses) {
        const u32 = this.u32;
        const sp = this.sentinel(idx);
        const pool = u32[(sp + Pool.NEXT) >>> 2];
        if (pool !== sp) {
          const bp = u32[(pool + Pool.FREEBLOCK) >>> 2];
          if (!this.isBlockOf(pool, bp)) {
            // A head past this handle's views, or views detached by an outside growth (the head
            // read undefined): made current, again (ObjectAllocator.reach). Else damage.
            if (this.reach(pool >>> 0)) return this.mallocIn(n, idx);
            throw new HeapCorruptionError(pool + Pool.FREEBLOCK, `pool's first free block ${hex(bp)} is no block of it`, "Pool.FREEBLOCK");
          }
          const nb = u32[bp >>> 2];
          if (nb !== 0 && !this.isBlockOf(pool, nb)) throw badLink(bp, nb, pool);
        }
      }
      return super.mallocIn(n, idx);
    }

    override free(p: number): void {
      // A small block that holds the free tag (FreeBlock): on its pool's free list (or, with
      // threads, the pool's REMOTE list or its owner's DELAYED list: isFreed) it is freed twice,
      // refused here, at the free. Release modes do not read the block on free (a load of a cold
      // block at every free cost 7-14% of the replays' time): they refuse it when malloc would
      // hand it out twice.
      if (this.isOurs(p) && this.holdsFreeTag(p)) {
        const pool = this.poolOf(p);
        if (this.u32[pool >>> 2] !== 0 && this.isFreed(pool, p))
          throw new InvalidPointerError("free", p, "double-free", "this block is already free (a double free, or a block never handed out; found by hardened mode)");
      }
      super.free(p);
    }
  } as T;
}

const HardenedObjectAllocator = hardened(ObjectAllocator);
const HardenedFineObjectAllocator = hardened(FineObjectAllocator);
const HardenedSharedObjectAllocator = hardened(SharedObjectAllocator);
const HardenedSharedFineObjectAllocator = hardened(SharedFineObjectAllocator);
const HardenedSubObjectAllocator = hardened(SubObjectAllocator);
const HardenedSubFineObjectAllocator = hardened(SubFineObjectAllocator);
const HardenedSubSharedObjectAllocator = hardened(SubSharedObjectAllocator);
const HardenedSubSharedFineObjectAllocator = hardened(SubSharedFineObjectAllocator);

/** The object allocator for the heap at heapBase, of the class its alignment, threads, hardened and subPools need. */
export function createObjectAllocator(mem: Memory, raw: RawAllocator, heapBase: number, opts: ObjectAllocatorOptions = {}): ObjectAllocator {
  const hw = heapBase >>> 2;
  const fine = mem.views.u32[hw + H.ALIGN_SHIFT] === Size.MIN_ALIGNMENT_SHIFT;
  const flags = mem.views.u32[hw + H.FLAGS];
  const threads = mem.views.u32[hw + H.MAX_THREADS] !== 0;
  const sub = (flags & HeapFlag.WHOLE_POOLS) === 0;
  if ((flags & HeapFlag.HARDENED) !== 0 && (opts.small ?? true)) {
    if (sub) {
      if (threads) return fine ? new HardenedSubSharedFineObjectAllocator(mem, raw, heapBase, opts) : new HardenedSubSharedObjectAllocator(mem, raw, heapBase, opts);
      return fine ? new HardenedSubFineObjectAllocator(mem, raw, heapBase, opts) : new HardenedSubObjectAllocator(mem, raw, heapBase, opts);
    }
    if (threads) return fine ? new HardenedSharedFineObjectAllocator(mem, raw, heapBase, opts) : new HardenedSharedObjectAllocator(mem, raw, heapBase, opts);
    return fine ? new HardenedFineObjectAllocator(mem, raw, heapBase, opts) : new HardenedObjectAllocator(mem, raw, heapBase, opts);
  }
  if (sub) {
    if (threads) return fine ? new SubSharedFineObjectAllocator(mem, raw, heapBase, opts) : new SubSharedObjectAllocator(mem, raw, heapBase, opts);
    return fine ? new SubFineObjectAllocator(mem, raw, heapBase, opts) : new SubObjectAllocator(mem, raw, heapBase, opts);
  }
  if (threads) return fine ? new SharedFineObjectAllocator(mem, raw, heapBase, opts) : new SharedObjectAllocator(mem, raw, heapBase, opts);
  return fine ? new FineObjectAllocator(mem, raw, heapBase, opts) : new ObjectAllocator(mem, raw, heapBase, opts);
}
