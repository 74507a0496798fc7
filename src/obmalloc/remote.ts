/**
 * obmalloc/remote.ts — threads: the heap's lock, frees into other threads' pools, orphans.
 *
 * Owns (a heap made with threads: true; the design is in obmalloc.ts's header): taking the
 * heap's lock for shared work (enter, leave), a block freed by a thread that does not own its
 * pool (freeForeign: the pool's REMOTE list, the owner's DELAYED list when the pool is FULL,
 * or an orphan pool under the lock), the owner taking such blocks back (takeRemote,
 * absorbRemote, takeDelayed, markFull), orphan pools (orphanSlot, adoptPool), and collect()
 * (without threads too: the empty pools kept, the free arenas).
 *
 * Must not: take the lock or do an atomic operation on a path a heap without threads runs per
 * call (malloc's and free's fast paths are obmalloc.ts's and the same with threads), or touch
 * arenas and sub-pools other than through the layers below.
 */

import { Arena, FreeBlock, Pool, Remote, Slot, SlotState, SubPool, ownerSlot, ownerWord, usedSentinel } from "../constants.js";
import { HeapCorruptionError, InvalidPointerError, adoptedError, detachedError, hex } from "../errors.js";
import { SubPoolAllocator } from "./subpools.js";

/** The object allocator's third layer: threads' cross-thread frees and orphans (over sub-pools and arenas). */
export abstract class RemoteAllocator extends SubPoolAllocator {
  // -------------------------------------------------------------------------------------------
  // The lock (threads): taken for arena work and the raw allocator, never on the fast paths
  // -------------------------------------------------------------------------------------------

  /** Take the heap's lock unless this allocator does not lock or holds it; true when taken. */
  protected enter(): boolean {
    if (this.lock === undefined || this.holding) {
      if (this.lock === undefined) this.follow();
      return false;
    }
    this.lock.acquire();
    this.holding = true;
    // Another thread may have grown the memory: views must cover everything up to the top.
    if (this.u32[this.wTop] + 8 > this.u8.length) this.memory.refresh();
    // This thread's slot freed under it: another thread called adoptThread() with its id while it
    // ran. Going on, it took pools for a slot nobody holds (check() then failed for good) and
    // freed into pools that had become orphans. Refused from here on, as after detachThread().
    if (this.threaded && this.u32[(this.slotBase(this.owner) + Slot.STATE) >>> 2] !== SlotState.LIVE) {
      this.holding = false;
      this.lock.release();
      this.detached = true;
      throw slotLostError(this.u32, this.slotBase(this.owner), this.owner);
    }
    return true;
  }

  protected leave(took: boolean): void {
    if (took) {
      this.holding = false;
      this.lock!.release();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Frees into pools of other threads, their collection, orphans
  // -------------------------------------------------------------------------------------------

  /**
   * With threads, a pool about to leave usedpools full: mark it FULL, so that a foreign free then
   * reaches us through DELAYED. FULL may still be set from the last time the pool filled (only a
   * foreign free clears it): then it says so already, with no atomic operation (~140
   * instructions each in V8). True when blocks freed by others arrived in between and were taken
   * instead (the pool is not full after all). Its own function: heaps without threads never call
   * it, so V8 leaves it out of their inlined fast paths.
   */
  protected markFull(pool: number): boolean {
    const w = (pool + Pool.REMOTE) >>> 2;
    if (this.u32[w] === Remote.FULL || Atomics.compareExchange(this.i32, w, 0, Remote.FULL) === 0) return false;
    this.takeRemote(pool);
    return true;
  }

  /** p is a valid-looking block of a pool this thread does not own. */
  protected freeForeign(p: number, pool: number): void {
    if (this.detached) throw detachedError();
    const i32 = this.i32;
    for (;;) {
      const word = Atomics.load(i32, (pool + Pool.OWNER) >>> 2);
      if (word === this.ownerWord) return this.free(p); // adopted by this thread meanwhile
      // A thread slot or the orphans' (slot MAX_THREADS), keyed (Pool.OWNER_KEY): anything else a stray write left.
      const owner = ownerSlot(word);
      if (owner > this.orphan) throw new HeapCorruptionError(pool + Pool.OWNER, `pool ${hex(pool)}: owner word ${hex(word >>> 0)} names no thread slot`, "Pool.OWNER");
      if (owner !== this.orphan) {
        // A block that holds the free tag and is free already: on the pool's REMOTE list, on the
        // owner's DELAYED list (the pool was FULL at the first free), or on the pool's free list
        // (the owner took it back): freed twice. Pushed again, it would sit on two lists at once,
        // its link rewritten: the owner's next pool refill threw (not this thread's call) and left
        // the pool's accounting wrong for good. Only a block with the tag is looked up (isFreed,
        // as realloc and usableSize do): a live block does not pay for it.
        if (this.holdsFreeTag(p) && this.isFreed(pool, p))
          throw new InvalidPointerError("free", p, "double-free", "this block is already free (a double free: freed by another thread, or waiting for its owner thread)");
        return this.pushRemote(p, pool, owner);
      }
      if (this.freeOrphan(p, pool)) return;
      // adopted by another thread while we waited for the lock: free to it instead
    }
  }

  /** Push p onto its pool's REMOTE list (or, if the owner marked the pool FULL, its DELAYED list). */
  private pushRemote(p: number, pool: number, owner: number): void {
    const i32 = this.i32;
    const u32 = this.u32;
    const w = (pool + Pool.REMOTE) >>> 2;
    for (;;) {
      const old = Atomics.load(i32, w);
      if (old === Remote.FULL) {
        if (Atomics.compareExchange(i32, w, Remote.FULL, 0) === Remote.FULL) {
          this.pushDelayed(p, owner);
          return;
        }
        continue;
      }
      u32[p >>> 2] = old >>> 0;
      u32[(p + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
      if (Atomics.compareExchange(i32, w, old, p | 0) === old) return;
    }
  }

  private pushDelayed(p: number, owner: number): void {
    const i32 = this.i32;
    const w = (this.slotBase(owner) + Slot.DELAYED) >>> 2;
    for (;;) {
      const old = Atomics.load(i32, w);
      this.u32[p >>> 2] = old >>> 0;
      this.u32[(p + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
      if (Atomics.compareExchange(i32, w, old, p | 0) === old) break;
    }
    // The owner may have left meanwhile: orphanSlot drains the list before and after it marks
    // the slot free, so a block pushed after both finds the slot free here, and this thread
    // frees what is on the list (into orphan pools by then). Without this, a block could wait
    // on the list of a slot nobody uses (until a new thread takes the slot).
    if (Atomics.load(i32, (this.slotBase(owner) + Slot.STATE) >>> 2) !== SlotState.LIVE) this.takeDelayed(w);
  }

  /** Free p into an orphan pool, under the lock; false when the pool was adopted meanwhile. */
  private freeOrphan(p: number, pool: number): boolean {
    const took = this.enter();
    try {
      if (Atomics.load(this.i32, (pool + Pool.OWNER) >>> 2) !== this.orphanWord) return false;
      this.absorbRemote(pool, this.usedBaseOf(this.orphan));
      const u32 = this.u32;
      const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
      if (fb === p || (this.holdsFreeTag(p) && this.onFreeList(pool, p)))
        throw new InvalidPointerError("free", p, "double-free", "this block is already free (a double free, or a block never handed out)");
      const cnt = u32[pool >>> 2];
      if (fb === 0) this.linkPool(pool, this.usedBaseOf(this.orphan)); // before the push (ObjectAllocator.free says why)
      u32[p >>> 2] = fb;
      u32[(p + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
      u32[(pool + Pool.FREEBLOCK) >>> 2] = p;
      u32[pool >>> 2] = cnt - 1;
      if (cnt === 1) this.returnPool(pool, false);
      return true;
    } finally {
      this.leave(took);
    }
  }

  /**
   * Move the pool's REMOTE blocks onto its free list (the caller owns the pool); a list head
   * never carries FULL, so taking one leaves REMOTE 0. FULL alone is left as it is.
   * Returns how many blocks came back.
   */
  protected takeRemote(pool: number): number {
    const w = (pool + Pool.REMOTE) >>> 2;
    // A plain read first: V8's Atomics on a shared buffer cost hundreds of instructions, and this
    // runs whenever a free list runs dry. A stale 0 only defers the blocks to a later call. No
    // list (0 or FULL alone): nothing to take, and FULL stays as it is.
    if ((this.u32[w] >>> 1) === 0) return 0;
    const head = (Atomics.exchange(this.i32, w, 0) & ~Remote.FULL) >>> 0;
    if (head === 0) return 0;
    const u32 = this.u32;
    // Links written by other threads into freed blocks: each a carved block of this pool, and no
    // more of them than the pool counts in use (a cycle or a stray write ends in an error).
    // Each holds the free tag its free wrote (a live block a stray write linked in must not be
    // written through): checked before anything is written.
    const cnt = u32[pool >>> 2];
    if (!this.isBlockOf(pool, head) || !this.holdsFreeTag(head)) throw new HeapCorruptionError(pool + Pool.REMOTE, `remote-free list head ${hex(head)} is no freed block of pool ${hex(pool)}`, "Pool.REMOTE");
    let n = 1;
    let last = head;
    for (let b = u32[last >>> 2]; b !== 0; b = u32[b >>> 2]) {
      if (!this.isBlockOf(pool, b) || n >= cnt || !this.holdsFreeTag(b)) throw new HeapCorruptionError(last, `remote-free link ${hex(b)} is no freed block of pool ${hex(pool)}, or the list is longer than its blocks in use`, "free block link");
      last = b;
      n++;
    }
    u32[last >>> 2] = u32[(pool + Pool.FREEBLOCK) >>> 2];
    u32[(pool + Pool.FREEBLOCK) >>> 2] = head;
    u32[pool >>> 2] -= n;
    return n;
  }

  /**
   * Whether p is on pool's REMOTE list (blocks other threads freed into it, not yet taken back),
   * walked at most as far as the blocks the pool counts in use. Safe while others push: a push
   * only puts a block before the head read here.
   */
  protected onRemoteList(pool: number, p: number): boolean {
    const u32 = this.u32;
    let k = u32[pool >>> 2];
    for (let b = (Atomics.load(this.i32, (pool + Pool.REMOTE) >>> 2) & ~Remote.FULL) >>> 0; b !== 0 && b !== undefined && k-- > 0; b = u32[b >>> 2]) if (b === p) return true;
    return false;
  }

  /**
   * Whether p, which holds the free tag, is free: on its pool's free list, or (threads) waiting
   * for the pool's owner on the pool's REMOTE list or the owner's DELAYED list. realloc and
   * usableSize refuse such a block before anything else (a realloc by another thread allocated
   * first, then its free of p refused it: the new block leaked).
   */
  protected isFreed(pool: number, p: number): boolean {
    if (this.onFreeList(pool, p)) return true;
    if (!this.threaded) return false;
    if (this.onRemoteList(pool, p)) return true;
    const owner = ownerSlot(this.u32[(pool + Pool.OWNER) >>> 2]);
    if (owner >= this.nSlots) return false;
    // The DELAYED list: walked at most as far as the heap has room for blocks (a wild link or a cycle ends it).
    const u32 = this.u32;
    let k = u32[this.wTop] >>> 3;
    for (let b = Atomics.load(this.i32, (this.slotBase(owner) + Slot.DELAYED) >>> 2) >>> 0; b !== 0 && b !== undefined && k-- > 0; b = u32[b >>> 2]) if (b === p) return true;
    return false;
  }

  /** Whether b is a carved block start of pool (mallocIn's rule for a popped link; the block boundary by free()'s test, Pool.INVERSE). */
  protected isBlockOf(pool: number, b: number): boolean {
    const u32 = this.u32;
    const off = b - pool - Pool.OVERHEAD;
    const inv = u32[(pool + Pool.INVERSE) >>> 2];
    return off >= 0 && b < pool + u32[(pool + Pool.NEXTOFFSET) >>> 2] && Math.imul(off, inv) >>> 0 < inv;
  }

  /** takeRemote, for a pool that may be full and out of the usedpools at usedBase: relinks it. */
  private absorbRemote(pool: number, usedBase: number): void {
    const wasFull = this.u32[(pool + Pool.FREEBLOCK) >>> 2] === 0;
    if (this.takeRemote(pool) !== 0 && wasFull) this.linkPool(pool, usedBase);
  }

  /**
   * Free the blocks other threads freed into the full pools of a thread (this one by default:
   * that relinks them; orphanSlot(): a thread that left, whose pools are orphans by then).
   */
  protected takeDelayed(wDelayed = this.wDelayed): void {
    let b = Atomics.exchange(this.i32, wDelayed, 0) >>> 0;
    // Each entry holds the free tag pushDelayed wrote: a live block a stray write put on the list
    // (the slot's DELAYED word, or a link) is never freed from under its user. At most as many
    // entries as the heap has room for blocks (a cycle ends in an error, never a loop).
    let at = wDelayed * 4;
    let k = this.u32[this.wTop] >>> 3;
    while (b !== 0) {
      if (b + 8 > this.u8.length || (b & 7) !== 0 || !this.holdsFreeTag(b) || k-- <= 0)
        throw new HeapCorruptionError(at, `delayed-free list holds ${hex(b)}, no block another thread freed (a write over the list?)`, at === wDelayed * 4 ? "Slot.DELAYED" : "free block link");
      const next = this.u32[b >>> 2];
      this.free(b);
      at = b;
      b = next;
    }
  }

  /** Adopt an orphan pool of class idx into this thread's usedpools (under the lock), or 0. */
  protected adoptPool(idx: number): number {
    const u32 = this.u32;
    const osp = this.sentinelOf(this.orphan, idx);
    const pool = u32[(osp + Pool.NEXT) >>> 2];
    if (pool === osp) return 0;
    this.unlinkPool(pool);
    Atomics.store(this.i32, (pool + Pool.OWNER) >>> 2, this.ownerWord);
    this.takeRemote(pool);
    this.linkPool(pool, this.usedBase);
    return pool;
  }

  /**
   * Take back every block other threads freed into this thread's pools, and return the pools
   * that are empty (those emptied by such blocks, and the last pools of their classes that this
   * thread kept: poolEmptied). The owner's own housekeeping (also done lazily on its slow paths).
   * Without threads: the empty pools the WebAssembly fast path kept (wasm/obmalloc/obmalloc.ts)
   * and the young classes' spare sub-pools (keepSpare). Then every entirely free arena but one
   * goes back to the raw allocator (the one-pool arenas free() keeps: returnPool).
   */
  collect(): void {
    if (!this.threaded) {
      this.follow(); // views that reach the top first (ArenaAllocator.follow): lists are walked below
      this.raw.flushCache(); // the raw cache's chunks merged (the top comes down for them too)
      this.returnEmptyPools(this.owner);
      this.releaseFreeArenas();
      this.releaseMapHigh();
      return;
    }
    if (this.detached) throw detachedError();
    this.takeDelayed();
    const took = this.enter();
    try {
      this.raw.flushCache();
      this.returnEmptyPools(this.owner);
      this.releaseFreeArenas();
    } finally {
      this.leave(took);
    }
  }

  /**
   * Every pool in thread slot k's usedpools (k: this thread, or one that left): take back the
   * blocks others freed into it, and give it back to its arena if it is empty (emptied so, or
   * kept as the last of its class: SharedObjectAllocator). Under the lock.
   */
  private returnEmptyPools(k: number): void {
    for (let idx = 0; idx < this.nClasses; idx++) {
      const sp = this.sentinelOf(k, idx);
      // A list is followed only through pools of ours, at most as many as 1 KiB sub-pools fit
      // in the memory: a link written over (or a loop) is reported, never followed for ever.
      let left = Math.ceil(this.u8.length / (1 << SubPool.SHIFT));
      for (let pool = this.u32[(sp + Pool.NEXT) >>> 2]; pool !== sp; ) {
        if (left-- === 0 || !this.isOurs(pool) || (pool & ((1 << SubPool.SHIFT) - 1)) !== 0)
          throw new HeapCorruptionError(sp + Pool.NEXT, `usedpools list of size class ${idx} holds ${hex(pool >>> 0)}, no pool of ours, or does not end (a write over a pool's links?)`, "Pool.NEXT");
        const next = this.u32[(pool + Pool.NEXT) >>> 2];
        this.takeRemote(pool);
        if (this.u32[pool >>> 2] === 0) this.returnPool(pool, false);
        pool = next;
      }
    }
  }

  /**
   * Hand every pool of thread slot k to the orphan slot and free slot k (under the lock). k is
   * this thread's slot (detachThread) or the slot of a thread that died without detaching:
   * that thread must not run any more. Blocks freed into its pools by others are taken back,
   * pools left empty go back to their arenas, the rest wait for adoption.
   */
  orphanSlot(k: number, dead = false, lockHeld = false): void {
    if (!this.threaded) return;
    if (k < 0 || k >= this.orphan || !Number.isInteger(k)) throw new RangeError(`thread id must be an integer from 0 to ${this.orphan - 1}, got ${k}`);
    // lockHeld: the caller took the lock over from thread k, which died holding it (adoptThread).
    const took = lockHeld ? false : this.enter();
    const wasHolding = this.holding;
    if (lockHeld) {
      this.holding = true;
      // What enter() does first: the dead thread may have grown the memory.
      if (this.u32[this.wTop] + 8 > this.u8.length) this.memory.refresh();
    }
    try {
      const i32 = this.i32;
      const sw = (this.slotBase(k) + Slot.STATE) >>> 2;
      if (Atomics.load(i32, sw) !== SlotState.LIVE) throw new RangeError(`thread ${k} is not attached to this heap`);
      // A thread that died (adoptThread) may have stopped between two edits of its own pools
      // (a Worker's terminate() lands at a call or a loop's turn): a malloc that popped a pool's
      // last free block before its carve ran, a free between a full pool's list and its
      // usedpools link, a pool emptied before it went back. Its usedpools lists are then not
      // followed: they are made empty, and each of its pools found by the walk below is put
      // right from its own words. (They were followed, and check() failed for good: a helper's
      // probe terminated Workers mid-call, 2026-12-06.) A detaching thread's lists are sound:
      // the empty pools it kept as the last of their classes go back to their arenas.
      if (dead) this.emptyUsedLists(k);
      else this.returnEmptyPools(k);
      const orphans = this.usedBaseOf(this.orphan);
      for (const first of this.raw.arenas()) {
        const ao = this.arenaHeader(first);
        const end = this.u32[(ao + Arena.POOL_ADDRESS) >>> 2];
        for (let slot = first; slot < end; slot += this.poolSize) for (const pool of this.poolsOfSlot(slot, ao)) {
          const u32 = this.u32;
          if (u32[(pool + Pool.OWNER) >>> 2] !== ownerWord(k)) continue;
          // An empty pool is k's only when it still has its class (one kept as its class's last,
          // or a spare): pools back in their arenas have none (leaveClass).
          if (u32[pool >>> 2] === 0 && (!dead || u32[(pool + Pool.SZIDX) >>> 2] >= this.nClasses)) continue;
          Atomics.store(i32, (pool + Pool.OWNER) >>> 2, this.orphanWord);
          if (!dead && u32[(pool + Pool.FREEBLOCK) >>> 2] !== 0) this.unlinkPool(pool);
          this.takeRemote(pool);
          // No FULL on an orphan: a thread that read the old owner then pushes onto REMOTE
          // (taken with the pool) instead of onto the delayed list of a slot that is gone.
          Atomics.compareExchange(i32, (pool + Pool.REMOTE) >>> 2, Remote.FULL, 0);
          if (dead && u32[(pool + Pool.FREEBLOCK) >>> 2] === 0) this.carveDead(pool);
          if (u32[(pool + Pool.FREEBLOCK) >>> 2] !== 0 || u32[pool >>> 2] === 0) this.linkPool(pool, orphans);
          if (u32[pool >>> 2] === 0) this.returnPool(pool, false);
        }
      }
      // Blocks others freed into k's full pools: their pools are orphans now, freed as such;
      // again once the slot is marked free, for a push that raced with it (pushDelayed).
      const wk = (this.slotBase(k) + Slot.DELAYED) >>> 2;
      this.takeDelayed(wk);
      Atomics.store(i32, sw + ((Slot.CLAIM - Slot.STATE) >>> 2), 0); // no handle's claim on a free slot (claimSlot)
      Atomics.store(i32, sw, SlotState.FREE);
      this.takeDelayed(wk);
      if (k === this.owner) this.detached = true;
    } finally {
      if (lockHeld) this.holding = wasHolding;
      this.leave(took);
    }
  }

  /**
   * A number that changes when thread k allocates or frees (its usedpools heads, their pools'
   * counts and free-list heads, its delayed list): adoptThread waits until it stops changing.
   * Read without the lock; a word past the views reads 0.
   */
  slotFingerprint(k: number): number {
    const u32 = this.u32;
    let h = u32[(this.slotBase(k) + Slot.DELAYED) >>> 2] | 0;
    const base = this.usedBaseOf(k);
    if (base === 0) return h;
    for (let idx = 0; idx < this.nClasses; idx++) {
      const sp = usedSentinel(base, idx);
      const pool = u32[(sp + Pool.NEXT) >>> 2] | 0;
      h = Math.imul(h ^ pool, 0x9e3779b1);
      if (pool !== sp) h = Math.imul(h ^ (u32[pool >>> 2] | 0), 0x85ebca6b) ^ (u32[(pool + Pool.FREEBLOCK) >>> 2] | 0);
    }
    return h;
  }

  /** Every usedpools list of slot k made empty (a dead thread's: orphanSlot). */
  private emptyUsedLists(k: number): void {
    const u32 = this.u32;
    for (let idx = 0; idx < this.nClasses; idx++) {
      const sp = this.sentinelOf(k, idx);
      u32[(sp + Pool.NEXT) >>> 2] = sp;
      u32[(sp + Pool.PREV) >>> 2] = sp;
    }
  }

  /**
   * A dead thread's pool with no free block: when its blocks in use are all it carved and it has
   * room for more (a malloc popped the last free block and stopped before its carve), the carve
   * runs now; the block popped stays counted in use (nobody holds it: the thread is gone).
   */
  private carveDead(pool: number): void {
    const u32 = this.u32;
    const w = pool >>> 2;
    const no = u32[w + (Pool.NEXTOFFSET >>> 2)];
    const size = this.sizeOfPool(pool);
    if (size > 0 && no <= u32[w + (Pool.MAXNEXTOFFSET >>> 2)] && u32[w] * size === no - Pool.OVERHEAD && no + size <= this.carveEnd(pool)) this.extendPool(pool, pool + Pool.OVERHEAD);
  }

  /** Called up: free() (ObjectAllocator, obmalloc.ts). */
  abstract free(p: number): void;
  /** Called up: a pool's carve (ObjectAllocator.extendPool, obmalloc.ts). */
  protected abstract extendPool(pool: number, bp: number): void;
}

/**
 * The error for a handle that finds its thread slot no longer live (enter(), and the debug
 * modes' LockedFamily): adoptThread() freed it (which clears the slot's claim), or, when the
 * slot still holds a claim, a stray write over its STATE word (it was taken for adoption).
 */
export function slotLostError(u32: Uint32Array, slotBase: number, slot: number): Error {
  const claim = u32[(slotBase + Slot.CLAIM) >>> 2];
  if (claim === 0) return adoptedError(slot);
  return new HeapCorruptionError(
    slotBase + Slot.STATE,
    `thread slot ${slot} of this heap handle: its STATE word reads ${u32[(slotBase + Slot.STATE) >>> 2]}, not live, though the slot still holds a handle's claim (${hex(claim)}): a write over the STATE word (adoptThread() clears the claim)`,
    "Slot.STATE",
  );
}
