/**
 * obmalloc/arenas.ts — the object allocator's arenas and pool map, and the fields of every layer.
 *
 * Owns: arenas (a raw chunk that is exactly its pools, its header in the tail of the last
 * pool), taking a pool slot from the fullest usable arena (takeSlot) or a new one (newArena),
 * an empty pool's return to its arena (returnPool) and an entirely free arena's to the raw
 * allocator (releaseArena, releaseFreeArenas, releaseKept), the usable_arenas order and
 * nfp2lasta, blank pool headers (blankPool), and the pool map (isOurs, markMap, its high part).
 * ArenaAllocator also holds the fields and the constructor of every layer (the layers above add
 * methods only: one constructor makes the object's shape, which V8 compiles the fast paths
 * against, as when the allocator was one class), and the thread slots' addresses (slotBase,
 * sentinel...) that the constructor needs.
 *
 * The layers, each a class over the one before: ArenaAllocator (here), SubPoolAllocator
 * (obmalloc/subpools.ts), RemoteAllocator (obmalloc/remote.ts: threads), ObjectAllocator
 * (obmalloc/obmalloc.ts: malloc, free, realloc, usedpools; the design comment), and the
 * variants (obmalloc/variants.ts).
 *
 * Must not: touch a pool's blocks, class or usedpools links (obmalloc.ts), cut pool slots into
 * sub-pools (subpools.ts), touch raw chunk headers (the raw allocator owns them).
 */

import {
  HOLE_ARENA_SHIFT,
  ONE_POOL_ARENAS,
  HeapFlag,
  blockInverse,
  classSize,
  inverseOk,
  sizeClasses,
  usedSentinel,
  ownerSlot,
  ownerWord,
  Arena,
  Chunk,
  Flag,
  H,
  Pool,
  Slot,
  SubPool,
  sizeOf,
} from "../constants.js";
import { HeapCorruptionError, hex } from "../errors.js";
import type { Memory, Views } from "../memory/memory.js";
import type { RawAllocator } from "../raw/tlsf.js";
import type { SharedLock } from "../threads/lock.js";

export interface ObjectAllocatorOptions {
  /** This thread's slot (threads; default 0). */
  slot?: number;
  /** The heap's lock, for an allocator that takes it itself (pymalloc mode with threads). */
  lock?: SharedLock;
  /**
   * false: serve nothing from pools, only pass every call to the raw allocator (under the lock
   * when given). The raw family, and every family in "malloc" mode, use such an allocator, so
   * that all release-mode families are one class over one class: call sites stay monomorphic.
   */
  small?: boolean;
}

/** The object allocator's lowest layer: its fields and constructor, arenas and the pool map. */
export abstract class ArenaAllocator {
  u8: Uint8Array;
  u32: Uint32Array;
  i32: Int32Array;
  /** For calloc's zeroing (heap/families.ts). */
  f64: Float64Array;
  readonly memory: Memory;
  readonly raw: RawAllocator;
  readonly poolShift: number;
  readonly poolSize: number;
  readonly poolMask: number;
  readonly arenaShift: number;
  readonly arenaSize: number;
  readonly poolsPerArena: number;
  /**
   * The OWNER word of the pools this thread allocates from (ownerWord(slot)): free's fast path
   * compares it. (The slot itself is the getter `owner`: no field more, V8 keeps this class's
   * fields in the object itself up to a limit, and the hot ones come after this one.)
   */
  readonly ownerWord: number;
  /** Address of thread slot 0. */
  readonly slotsBase: number;
  /** Slots in the header: 1 without threads, else maxThreads + 1 (the last holds orphans). */
  readonly nSlots: number;
  /** The slot of orphan pools (-1 without threads). */
  readonly orphan: number;
  /** Whether several threads share the heap (pools have owners, frees may be remote). */
  readonly threaded: boolean;
  /** Address of this slot's usedpools entry 0 (read once from its Slot.USED word); the sentinel of class c is usedBase + 8c - 8. */
  readonly usedBase: number;
  /** Word index of this slot's DELAYED list head. */
  readonly wDelayed: number;
  readonly wUsable: number;
  readonly wNfp: number;
  readonly wCounters: number;
  readonly wTop: number;
  /** Word index of the sub-pool table (SubPool): free sub-pool list heads, then HELD per class. */
  readonly wSub: number;
  /** Whether young size classes take sub-pools (createHeap's subPools, HeapFlag.WHOLE_POOLS clear). */
  readonly subPools: boolean;
  /** Whether the raw start is on (SubPool.RAW_FIRST not 0, written with the header): its counts are kept only then. */
  readonly rawStart: boolean;
  /** Address of the pool map's low part (in the header: the slots below 2^POOL_MAP_LOW_SHIFT). */
  readonly mapBase: number;
  /** Bytes of the low part (0 for an allocator without small blocks: nothing is ours). */
  readonly mapBytes: number;
  /** Bytes of both parts (0 without small blocks): slot bytes from mapBytes up are the high part's. */
  readonly mapEnd: number;
  /** Word index of H.POOL_MAP_HIGH: the high part's address, 0 until an arena reaches past the low part. */
  readonly wMapHigh: number;
  /** Bytes of the low part and of both, as the header has them (mapBytes and mapEnd are 0 without small blocks; arena work uses these). */
  private readonly mapLow: number;
  private readonly mapAll: number;
  /** Small blocks are aligned to 2^alignShift bytes (4: 16 bytes, 3: 8 bytes); class c holds (c + 1) << alignShift. */
  readonly alignShift: number;
  /** Size classes served from pools (32 or 64), or 0 for an allocator that passes all to the raw one. */
  readonly nClasses: number;
  /**
   * Bytes a sub-pool needs to be used: its header and one block of the largest class. Only a
   * slot's last sub-pool can have less (the arena header sits in the tail of an arena's last
   * pool); with this much it is used like the others, its blocks ending before that header.
   */
  readonly minSubRoom: number;
  /**
   * The heap's lock, when this allocator takes it itself for shared work (pymalloc mode with
   * threads). Undefined without threads, and in the debug modes, whose families hold the lock
   * around every call already.
   */
  readonly lock: SharedLock | undefined;
  /** Whether this thread holds the lock through enter() (JS state of this thread only). */
  protected holding = false;
  /** Set by detach(): this handle's slot is gone. */
  detached = false;

  constructor(mem: Memory, raw: RawAllocator, heapBase: number, opts: ObjectAllocatorOptions = {}) {
    const slot = opts.slot ?? 0;
    const lock = opts.lock;
    this.memory = mem;
    this.u8 = mem.views.u8;
    this.u32 = mem.views.u32;
    this.i32 = mem.views.i32;
    this.f64 = mem.views.f64;
    this.raw = raw;
    this.lock = lock;
    const hw = heapBase >>> 2;
    const u32 = this.u32;
    this.poolShift = u32[hw + H.POOL_SHIFT];
    this.arenaShift = u32[hw + H.ARENA_SHIFT];
    this.poolSize = 1 << this.poolShift;
    this.poolMask = this.poolSize - 1;
    this.arenaSize = 2 ** this.arenaShift;
    this.poolsPerArena = 1 << (this.arenaShift - this.poolShift);
    const maxThreads = u32[hw + H.MAX_THREADS];
    this.threaded = maxThreads !== 0;
    this.nSlots = this.threaded ? maxThreads + 1 : 1;
    this.orphan = this.threaded ? maxThreads : -1;
    this.ownerWord = ownerWord(slot);
    this.slotsBase = heapBase + u32[hw + H.THREAD_SLOTS];
    this.usedBase = this.usedBaseOf(slot);
    if (this.usedBase === 0) throw new HeapCorruptionError(this.slotBase(slot) + Slot.USED, `thread slot ${slot} has no usedpools (its USED word is 0)`, `thread slot ${slot} USED`);
    this.wDelayed = (this.slotBase(slot) + Slot.DELAYED) >>> 2;
    this.wUsable = hw + H.USABLE_ARENAS;
    this.wNfp = (heapBase + u32[hw + H.NFP2LASTA]) >>> 2;
    this.wCounters = hw + H.NARENAS_CURRENT;
    this.wTop = hw + H.TOP;
    this.wSub = (heapBase + u32[hw + H.SUBPOOLS]) >>> 2;
    this.subPools = (u32[hw + H.FLAGS] & HeapFlag.WHOLE_POOLS) === 0;
    this.rawStart = u32[this.wSub + (SubPool.RAW_FIRST >>> 2)] !== 0;
    this.mapBase = heapBase + u32[hw + H.POOL_MAP];
    // Without small blocks, no address is ours: every call goes to the raw allocator.
    const small = opts.small ?? true;
    this.mapBytes = small ? u32[hw + H.POOL_MAP_BYTES] : 0;
    this.mapLow = u32[hw + H.POOL_MAP_BYTES];
    this.mapAll = this.mapLow + u32[hw + H.POOL_MAP_HIGH_BYTES];
    this.mapEnd = small ? this.mapAll : 0;
    this.wMapHigh = hw + H.POOL_MAP_HIGH;
    this.alignShift = u32[hw + H.ALIGN_SHIFT];
    this.nClasses = small ? sizeClasses(this.alignShift) : 0;
    // The allocator of small blocks answers the raw allocator running full; the heap's second,
    // pass-through instance (no classes) must not take that over: its releaseKept would see no
    // class and give back no spare.
    if (small) {
      raw.onFull = () => this.releaseKept();
      raw.onTop = (pastPeak) => this.releaseBeforeTop(pastPeak);
    }
    this.minSubRoom = Pool.OVERHEAD + classSize(sizeClasses(this.alignShift) - 1, this.alignShift);
    const take = (v: Views): void => {
      this.u8 = v.u8;
      this.u32 = v.u32;
      this.i32 = v.i32;
      this.f64 = v.f64;
    };
    // Stored a second time now: V8 takes a field stored only once for a constant, and its first
    // later store (the memory's first growth) deoptimizes every function compiled with it.
    take(mem.views);
    mem.onViews(take);
  }

  /** This thread's slot (0 without threads). */
  get owner(): number {
    return ownerSlot(this.ownerWord);
  }

  /** The OWNER word of orphan pools (0 without threads: none). */
  get orphanWord(): number {
    return this.threaded ? ownerWord(this.orphan) : 0;
  }

  /** Address of thread slot k. */
  slotBase(k: number): number {
    return this.slotsBase + k * Slot.BYTES;
  }

  /**
   * Address of slot k's usedpools entry 0 (its Slot.USED word): in the header for slot 0 and the
   * orphan slot, in a raw chunk for the others; 0 for a slot never claimed (no usedpools).
   */
  usedBaseOf(k: number): number {
    return this.u32[(this.slotBase(k) + Slot.USED) >>> 2];
  }

  /** The sentinel pseudo-pool of size class idx in this thread's usedpools. */
  sentinel(idx: number): number {
    return usedSentinel(this.usedBase, idx);
  }

  /** The sentinel pseudo-pool of size class idx in thread slot k's usedpools. */
  sentinelOf(k: number, idx: number): number {
    return usedSentinel(this.usedBaseOf(k), idx);
  }

  // -------------------------------------------------------------------------------------------
  // The pool map
  // -------------------------------------------------------------------------------------------

  /**
   * Views that reach the heap's top, before arena and list work: another handle on this memory
   * (attachHeap in the same thread, without threads: no lock to refresh under) may have grown it
   * and put arenas, pools or sub-pools past this handle's views, or something else grew an
   * unshared WebAssembly.Memory and detached them (u32 reads undefined: the test is false). With
   * threads the lock's enter() does it. Else a list head past the views read as damage.
   */
  protected follow(): void {
    if (!(this.u32[this.wTop] + 8 <= this.u8.length)) this.memory.refresh();
  }

  /** Whether p lies in the pools of one of our arenas (O(1), reads only the pool map). */
  isOurs(p: number): boolean {
    const q = p >>> this.poolShift;
    const i = q >>> 3;
    if (i < this.mapBytes) return ((this.u8[this.mapBase + i] >>> (q & 7)) & 1) !== 0;
    return i < this.mapEnd && this.isOursHigh(q);
  }

  /**
   * isOurs() of pool slot q past the low part of the map: its bit in the high part, whose address
   * is read from the header each time (with threads, another thread may have just made it and
   * grown the memory for it: views refreshed then).
   */
  private isOursHigh(q: number): boolean {
    const hi = this.u32[this.wMapHigh];
    if (hi === 0) return false;
    const at = hi + (q >>> 3) - this.mapBytes;
    if (this.u8[at] === undefined) this.memory.refresh(); // past the views, or detached (memory.ts, DETACHED)
    return ((this.u8[at] >>> (q & 7)) & 1) !== 0;
  }

  /**
   * The pool map's high part, for an arena past its low part: a raw chunk flagged as the object
   * allocator's (the raw allocator's free() refuses it), zeroed, its address in H.POOL_MAP_HIGH
   * (written last: with threads, others read it without the lock). False when memory is short.
   */
  private makeMapHigh(): boolean {
    const bytes = this.mapAll - this.mapLow;
    const hi = bytes === 0 ? 0 : this.raw.mallocInternal(bytes);
    if (hi === 0) return false;
    this.u32[this.wMapHigh] = hi;
    return true;
  }

  /**
   * The map's high part (H.POOL_MAP_HIGH), checked when the arena of `pools` pools at `first`
   * has bits there: they are written only in the map's own chunk (a stray write's address there
   * had the bits of every arena made or given back set and cleared in a user's block).
   */
  private mapHighFor(first: number, pools: number): number {
    const high = this.u32[this.wMapHigh];
    if (((first >>> this.poolShift) + pools - 1) >>> 3 >= this.mapLow && !this.raw.isMapChunkAt(high, this.mapAll - this.mapLow))
      throw new HeapCorruptionError(this.wMapHigh * 4, `an arena lies past the pool map's low part, and its high part is at ${hex(high)}, no chunk the allocator took for it`, "H.POOL_MAP_HIGH");
    return high;
  }

  /**
   * Set or clear the pool map bits of the arena of `pools` pools whose first pool is at `first`
   * (`high`: the map's high part, when the caller checked it already).
   */
  private markMap(first: number, pools: number, on: boolean, high = this.mapHighFor(first, pools)): void {
    const u8 = this.u8;
    const q0 = first >>> this.poolShift;
    const hi = high - this.mapLow;
    for (let q = q0; q < q0 + pools; q++) {
      const i = (q >>> 3 < this.mapLow ? this.mapBase : hi) + (q >>> 3);
      u8[i] = on ? u8[i] | (1 << (q & 7)) : u8[i] & ~(1 << (q & 7));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Taking a pool slot: the usable_arenas order, new arenas
  // usable_arenas lists every arena with free pools once, by NFREEPOOLS, nfp2lasta[k] the last
  // with k: with threads too, every edit under the lock, so whole whenever it is free (check()
  // verifies it; docs/performance.md, session 49).
  // -------------------------------------------------------------------------------------------

  /**
   * Take a pool slot from the fullest usable arena (a new arena when none): its address, its
   * header words as they were (a free pool keeps its class and free list: idx, the class it is
   * for, says whether that list is checked for reuse; Size.MAX_SIZE_CLASSES for none: a Smi, where
   * Pool.SZIDX_NONE, 0xffffffff, is a heap number whose first arrival, after TurboFan had compiled
   * this for class numbers, deoptimized it, "not a Smi": json, session 50), or 0 when no arena
   * can be had.
   */
  protected takeSlot(idx: number): number {
    let u32 = this.u32;
    const wN = this.wNfp;
    let ao = u32[this.wUsable];
    if (ao === 0 && this.subPools) {
      // No usable arena: first the empty whole pools kept listed as their classes' only pools go
      // back (the WebAssembly fast path keeps one when a class's last pool empties, where JS gives
      // it back; threads heaps keep a thread's), as releaseKept gives them back when the raw
      // allocator is full. What free() keeps against churn is then taken before the heap grows by
      // a new arena, as the young classes' spare sub-pools are before a slot is cut (subPoolFor).
      // compileall in wasm held 6 such pools (96 KiB) at its peak while arenas came from the top:
      // docs/performance.md, "compileall's in-wasm footprint against dlmalloc's".
      this.returnSpares(0);
      u32 = this.u32;
      ao = u32[this.wUsable];
    }
    if (ao === 0) {
      ao = this.newArena();
      u32 = this.u32;
      if (u32[this.wUsable] !== 0) {
        // Arenas were listed while newArena ran: its raw request for the pool map's high part,
        // when the top cannot grow, gives pools back (raw.onFull, releaseKept). Written over, the
        // list's head dropped an arena with free pools; or, newArena failing, 0 sent the request
        // to the raw allocator with a pool free. The new arena joins them, the head is taken.
        if (ao !== 0) this.listNewArena(ao);
        ao = u32[this.wUsable];
      } else {
        if (ao === 0) return 0;
        u32[this.wUsable] = ao;
        u32[wN + u32[(ao + Arena.NFREEPOOLS) >>> 2]] = ao;
      }
    }
    this.arenaOf(0, ao, this.wUsable * 4, "H.USABLE_ARENAS");
    // Its last free pool taken, it leaves the list: the next arena's PREV is written below.
    if (u32[(ao + Arena.NFREEPOOLS) >>> 2] === 1) this.checkedNext(ao);
    let pool = u32[(ao + Arena.FREEPOOLS) >>> 2];
    if (pool !== 0) {
      // A free pool of this arena, empty; if it keeps a free list of this class, that list's head
      // (pools go back of no class now, leaveClass: a heap written by an earlier version may have one).
      if ((pool & this.poolMask) !== 0 || !this.isOurs(pool) || u32[(pool + Pool.ARENA) >>> 2] !== ao || u32[pool >>> 2] !== 0 || u32[(pool + Pool.SUB) >>> 2] !== 0)
        throw new HeapCorruptionError(ao + Arena.FREEPOOLS, `arena's free-pool list holds ${hex(pool)}, no free pool of it`, "Arena.FREEPOOLS");
      if (idx < this.nClasses && u32[(pool + Pool.SZIDX) >>> 2] === idx) this.checkKeptList(pool, idx, ao);
      u32[(ao + Arena.FREEPOOLS) >>> 2] = u32[(pool + Pool.NEXT) >>> 2];
    } else {
      // The next never-carved pool. With no pool on the free-pool list, every free pool of the
      // arena is never carved, so it lies exactly nf pools before the arena's end (arenaOf
      // checked FIRST and the pool count): a POOL_ADDRESS a stray write moved must not start a
      // pool over one in use, or outside the arena (below the heap).
      pool = u32[(ao + Arena.POOL_ADDRESS) >>> 2];
      const nf = u32[(ao + Arena.NFREEPOOLS) >>> 2];
      if (nf === 0 || pool !== u32[(ao + Arena.FIRST) >>> 2] + (u32[(ao + Arena.NTOTALPOOLS) >>> 2] - nf) * this.poolSize)
        throw new HeapCorruptionError(ao + Arena.POOL_ADDRESS, `arena ${hex(ao)}: its next never-used pool ${hex(pool)} is not the one its ${nf} free pools put there (a write over the arena's header?)`, "Arena.POOL_ADDRESS");
      u32[(ao + Arena.POOL_ADDRESS) >>> 2] = pool + this.poolSize;
    }
    const nf = u32[(ao + Arena.NFREEPOOLS) >>> 2];
    if (u32[wN + nf] === ao) u32[wN + nf] = 0;
    if (nf > 1) u32[wN + nf - 1] = ao;
    u32[(ao + Arena.NFREEPOOLS) >>> 2] = nf - 1;
    if (nf === 1) {
      const nx = u32[(ao + Arena.NEXT) >>> 2];
      u32[this.wUsable] = nx;
      if (nx !== 0) u32[(nx + Arena.PREV) >>> 2] = 0;
      u32[(ao + Arena.NEXT) >>> 2] = 0;
    }
    return pool;
  }

  /**
   * Arena a's usable_arenas successor: 0, or an arena header (its magic) whose PREV is a; else
   * HeapCorruptionError naming a's NEXT, before anything is written through it (takeSlot and
   * returnPool write the successor's PREV).
   */
  private checkedNext(a: number): number {
    const u32 = this.u32;
    const nx = u32[(a + Arena.NEXT) >>> 2];
    if (nx !== 0 && (this.arenaOf(0, nx, a + Arena.NEXT, "Arena.NEXT"), u32[(nx + Arena.PREV) >>> 2] !== a))
      throw new HeapCorruptionError(a + Arena.NEXT, `arena ${hex(a)}: its usable_arenas link ${hex(nx)} is an arena that does not link back to it`, "Arena.NEXT");
    return nx;
  }

  /** Whether ao holds an arena header's magic (nothing else checked: arenaOf). */
  isArenaHeader(ao: number): boolean {
    return this.u32[(ao + Arena.MAGIC) >>> 2] === ((Arena.MAGIC_VALUE ^ ao) >>> 0);
  }

  /**
   * ao, read from the word at `at` (field `what`) of pool (0: none), when it is an arena header
   * (its magic says so, and it is that pool's arena); else HeapCorruptionError. Also the
   * introspection walks' test of an arena before they follow it (introspect/walk.ts).
   */
  arenaOf(pool: number, ao: number, at: number, what: string): number {
    const u32 = this.u32;
    const first = u32[(ao + Arena.FIRST) >>> 2];
    if (u32[(ao + Arena.MAGIC) >>> 2] !== ((Arena.MAGIC_VALUE ^ ao) >>> 0) || (pool !== 0 && (pool < first || pool >= ao)))
      throw new HeapCorruptionError(at, `${hex(ao)} is no arena header${pool !== 0 ? ` of pool ${hex(pool)}` : ""}`, what);
    // Its pool count decides when the arena is free and goes back: it must be its chunk's (an
    // arena chunk holds exactly its pools' bytes), and its free pools no more than that.
    const total = u32[(ao + Arena.NTOTALPOOLS) >>> 2];
    if (total * this.poolSize !== sizeOf(u32[(first - Chunk.HEADER + Chunk.SIZE) >>> 2]) || u32[(ao + Arena.NFREEPOOLS) >>> 2] > total)
      throw new HeapCorruptionError(ao + Arena.NTOTALPOOLS, `arena ${hex(ao)}: ${total} pools and ${u32[(ao + Arena.NFREEPOOLS) >>> 2]} free do not fit its chunk`, "Arena.NTOTALPOOLS");
    return ao;
  }

  /**
   * The block size of carved pool `pool`: its class's (SZIDX), when that is one of the heap's
   * and the pool's INVERSE word (free's block-boundary test) is that size's; else 0, a damaged
   * header word (badSizeWords names it). Out of the fast paths: they read the words themselves.
   */
  protected sizeOfPool(pool: number): number {
    const idx = this.u32[(pool + Pool.SZIDX) >>> 2];
    if (!(idx < this.nClasses)) return 0;
    const size = classSize(idx, this.alignShift);
    return inverseOk(this.u32[(pool + Pool.INVERSE) >>> 2], size) ? size : 0;
  }

  /** The error for a pool whose size words disagree (sizeOfPool 0): SZIDX none of the heap's classes, or INVERSE not its size's. */
  protected badSizeWords(pool: number): HeapCorruptionError {
    const idx = this.u32[(pool + Pool.SZIDX) >>> 2];
    if (!(idx < this.nClasses)) return new HeapCorruptionError(pool + Pool.SZIDX, `pool ${hex(pool)}: its size class ${idx} is none of the heap's ${this.nClasses} (a write over the pool's header?)`, "Pool.SZIDX");
    const size = classSize(idx, this.alignShift);
    const inv = this.u32[(pool + Pool.INVERSE) >>> 2];
    return new HeapCorruptionError(pool + Pool.INVERSE, `pool ${hex(pool)}: its INVERSE word ${inv} is not that of its class's ${size}-byte blocks (${blockInverse(size)}; a write over the pool's header?)`, "Pool.INVERSE");
  }

  /**
   * A free pool about to be reused for class idx with the free list it kept: its header must
   * be that of such a pool (size words, next offset) and its list head a carved block (the rest
   * is checked as blocks are popped: mallocIn).
   */
  private checkKeptList(pool: number, idx: number, ao: number): void {
    const u32 = this.u32;
    const size = classSize(idx, this.alignShift);
    const no = u32[(pool + Pool.NEXTOFFSET) >>> 2];
    const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
    const off = fb - pool - Pool.OVERHEAD;
    if (
      u32[(pool + Pool.INVERSE) >>> 2] !== blockInverse(size) ||
      u32[(pool + Pool.MAXNEXTOFFSET) >>> 2] !== Math.min(this.poolSize, ao - pool) - size ||
      no < Pool.OVERHEAD + size ||
      no > u32[(pool + Pool.MAXNEXTOFFSET) >>> 2] + size ||
      (no - Pool.OVERHEAD) % size !== 0 ||
      off < 0 ||
      fb >= pool + no ||
      off % size !== 0
    )
      throw new HeapCorruptionError(pool, `free pool ${hex(pool)} of class ${idx} has a damaged header or list head`, "Pool.FREEBLOCK");
  }

  /** The header of the arena whose first pool (its raw chunk's payload) is at first. */
  arenaHeader(first: number): number {
    return first + this.raw.usable(first) - Arena.OVERHEAD;
  }

  private newArena(): number {
    // From a hole in the raw heap, if one holds an eighth of an arena's pools at least (HOLE_ARENA_SHIFT); else from the top.
    // Arenas come by demand: the first ONE_POOL_ARENAS hold one pool each, the next two, then
    // four..., up to poolsPerArena (a small heap's top stays near what it uses). By the
    // high-water mark of arenas, not the count: a heap that shrank takes whole arenas again, not
    // small ones that come and go as its pools do. (subPools: false: whole arenas from the first.)
    const ppa0 = this.poolsPerArena;
    const hw = this.u32[this.wCounters + 3];
    const top = !this.subPools ? ppa0 : hw < ONE_POOL_ARENAS ? 1 : Math.min(ppa0, 2 ** Math.min(30, hw - ONE_POOL_ARENAS + 1));
    const first = this.raw.mallocArena(Math.max(1, Math.min(top, ppa0 >>> HOLE_ARENA_SHIFT)), ppa0, top, this.poolSize);
    if (first === 0) return 0;
    const ppa = this.raw.arenaPools;
    // Past the map's low part: its high part first (taken once, never given back).
    if (((first >>> this.poolShift) + ppa - 1) >>> 3 >= this.mapLow && this.u32[this.wMapHigh] === 0 && !this.makeMapHigh()) {
      this.raw.freeArena(first);
      return 0;
    }
    const u32 = this.u32;
    const a = this.arenaHeader(first);
    u32[(a + Arena.NFREEPOOLS) >>> 2] = ppa;
    u32[(a + Arena.NTOTALPOOLS) >>> 2] = ppa;
    u32[(a + Arena.FREEPOOLS) >>> 2] = 0;
    u32[(a + Arena.NEXT) >>> 2] = 0;
    u32[(a + Arena.PREV) >>> 2] = 0;
    u32[(a + Arena.POOL_ADDRESS) >>> 2] = first;
    u32[(a + Arena.MAGIC) >>> 2] = Arena.MAGIC_VALUE ^ a;
    u32[(a + Arena.FIRST) >>> 2] = first;
    // Pool headers start blank, so a stray free into a never-used pool is recognised.
    for (let i = 0, pool = first; i < ppa; i++, pool += this.poolSize) this.blankPool(pool, a, 0);
    this.markMap(first, ppa, true);
    const w = this.wCounters;
    u32[w]++; // current
    u32[w + 1]++; // allocated in total
    if (u32[w] > u32[w + 3]) u32[w + 3] = u32[w]; // high water
    return a;
  }

  /**
   * Write a blank header at pool (a pool, or a sub-pool of 2^sub bytes; sub 0: a whole pool) of the
   * arena whose header is ao: no class, no blocks, nothing carved (every free into it fails the
   * carved-range test), no owner. newArena's pools, a slot cut into sub-pools, a slot given back.
   */
  protected blankPool(pool: number, ao: number, sub: number): void {
    const u32 = this.u32;
    u32[(pool + Pool.COUNT) >>> 2] = 0;
    u32[(pool + Pool.SZIDX) >>> 2] = Pool.SZIDX_NONE;
    u32[(pool + Pool.ARENA) >>> 2] = ao;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = 0;
    u32[(pool + Pool.NEXTOFFSET) >>> 2] = Pool.OVERHEAD;
    u32[(pool + Pool.OWNER) >>> 2] = 0;
    u32[(pool + Pool.REMOTE) >>> 2] = 0;
    u32[(pool + Pool.SUB) >>> 2] = sub;
  }

  // -------------------------------------------------------------------------------------------
  // Giving pools and arenas back
  // -------------------------------------------------------------------------------------------

  /**
   * Give the empty pool (or sub-pool) back: to its arena, or onto the free sub-pool list (its
   * slot back to the arena when it was the slot's last in use). spare: free() emptied it, and a
   * sub-pool may stay listed as its class's spare instead (keepSpare). Its leaving its class
   * (usedpools, SubPool.HELD, sub-pools) is SubPoolAllocator.leaveClass, the rest is the
   * arena's. (One function, called: split the other way, the part that free() calls was small
   * enough for V8 to inline into free(), and free() no longer fitted into the replay loop.)
   */
  protected returnPool(pool: number, spare: boolean): void {
    this.follow();
    pool = this.leaveClass(pool, spare);
    if (pool === 0) return;
    const u32 = this.u32;
    const ao = this.arenaOf(pool, u32[(pool + Pool.ARENA) >>> 2], pool + Pool.ARENA, "Pool.ARENA");
    // The arenas whose links are written below, checked before anything is written: the list's
    // head (ao was full) or the last arena with as many free pools and the one after it.
    const nf0 = u32[(ao + Arena.NFREEPOOLS) >>> 2];
    const total = u32[(ao + Arena.NTOTALPOOLS) >>> 2];
    // An arena of several pools that was full joins the arenas with one free pool after the last
    // of them (nfp2lasta[1]), behind the one-pool arenas free() keeps, which lead the list: the
    // head is a kept arena whenever one is, where releaseBeforeTop and the WebAssembly fast
    // path's rawMalloc look for them (an arena of two pools that got one back last, at the head,
    // hid 64 kept arenas from them: the top grew past their room).
    const after1 = nf0 === 0 && total > 1 ? u32[this.wNfp + 1] : 0;
    if (nf0 === 0) {
      const head = u32[this.wUsable];
      if (head !== 0 && (this.arenaOf(0, head, this.wUsable * 4, "H.USABLE_ARENAS"), u32[(head + Arena.PREV) >>> 2] !== 0))
        throw new HeapCorruptionError(this.wUsable * 4, `usable_arenas head ${hex(head)} has an arena before it`, "H.USABLE_ARENAS");
      if (after1 !== 0) this.checkedNext(this.arenaOf(0, after1, (this.wNfp + 1) * 4, "nfp2lasta"));
      // A one-pool arena goes back at once when free() keeps no spare and another arena is usable.
      if (total === 1 && !spare && head !== 0) this.releasable(ao, total);
    } else {
      const last = u32[this.wNfp + nf0];
      // ao has nf0 free pools, so some arena is the last with as many: a 0 here is a damaged
      // word, which the move below would follow as an arena at address 0 (writing under the heap).
      if (last === 0) throw new HeapCorruptionError((this.wNfp + nf0) * 4, `nfp2lasta[${nf0}] is 0, but arena ${hex(ao)} has ${nf0} free pools`, "nfp2lasta");
      if (last !== ao) this.checkedNext(this.arenaOf(0, last, (this.wNfp + nf0) * 4, "nfp2lasta"));
      // ao is listed (it has free pools): its links tested before the pool goes on its free
      // pools (unlinkArena's test, after, left the refused free's block carved again: session 48).
      this.arenaLinked(ao);
      // An arena that goes back to the raw allocator (releaseArena): its chunk's release checked too.
      const release = nf0 + 1 === total && (total > 1 || !spare) && !(u32[this.wUsable] === ao && u32[(ao + Arena.NEXT) >>> 2] === 0);
      if (release) this.releasable(ao, total);
    }
    u32[(pool + Pool.NEXT) >>> 2] = u32[(ao + Arena.FREEPOOLS) >>> 2];
    u32[(ao + Arena.FREEPOOLS) >>> 2] = pool;
    const wN = this.wNfp;
    const nf = u32[(ao + Arena.NFREEPOOLS) >>> 2];
    if (nf === 0 && after1 !== 0) {
      // The arena was full, so not usable: it now has the fewest free pools, after the last with as few.
      this.linkArenaAfter(ao, after1);
      u32[(ao + Arena.NFREEPOOLS) >>> 2] = 1;
      u32[wN + 1] = ao;
    } else if (nf === 0) {
      // The arena was full, so not usable: it now has the fewest free pools and leads the list.
      const head = u32[this.wUsable];
      u32[(ao + Arena.NEXT) >>> 2] = head;
      u32[(ao + Arena.PREV) >>> 2] = 0;
      if (head !== 0) u32[(head + Arena.PREV) >>> 2] = ao;
      u32[this.wUsable] = ao;
      u32[(ao + Arena.NFREEPOOLS) >>> 2] = 1;
      if (u32[wN + 1] === 0) u32[wN + 1] = ao;
    } else {
      const lastnf = u32[wN + nf];
      if (lastnf === ao) {
        const pv = u32[(ao + Arena.PREV) >>> 2];
        u32[wN + nf] = pv !== 0 && u32[(pv + Arena.NFREEPOOLS) >>> 2] === nf ? pv : 0;
      }
      u32[(ao + Arena.NFREEPOOLS) >>> 2] = nf + 1;
      if (lastnf !== ao) {
        // Keep the order: move ao to just after the last arena that still has nf free pools.
        this.unlinkArena(ao);
        this.linkArenaAfter(ao, lastnf);
      }
      if (u32[wN + nf + 1] === 0) u32[wN + nf + 1] = ao;
    }
    // An entirely free arena goes back to the raw allocator, unless it is the only usable one
    // (keeping one avoids thrashing when a program hovers at an arena boundary), or it is a
    // one-pool arena that free() emptied: those of a small heap (ONE_POOL_ARENAS pools at most)
    // stay until collect(), or a heap hovering at a pool boundary would give back and take an
    // arena for every pool (binary trees on the WebAssembly fast path: a call into JS each).
    if (u32[(ao + Arena.NFREEPOOLS) >>> 2] === total && (total > 1 || !spare)) this.releaseArena(ao);
  }

  /**
   * What releaseArena(ao) meets past its first write, checked before returnPool's (session 49):
   * the pool map's high part (mapHighFor) and the arena chunk's neighbours that the raw allocator
   * merges it with (RawAllocator.arenaReleasable). A refusal there left the arena unlisted and
   * unmapped, its chunk kept: the refused free's block in no pool, the arena lost.
   */
  private releasable(ao: number, total: number): void {
    this.checkAllFree(ao, total);
    const first = this.u32[(ao + Arena.FIRST) >>> 2];
    this.mapHighFor(first, total);
    this.raw.arenaReleasable(first);
  }

  /**
   * The arena ao, whose NFREEPOOLS says all its `total` pools are free, is: each pool slot is of
   * no class, holds no block and has no sub-pool in use (a pool back in its arena, or never taken,
   * is blank: blankPool). NFREEPOOLS alone was trusted, and it is the first word of the arena's
   * header, which sits right after the last block of its last pool: an overrun of a few bytes
   * from that block that raised it (1 -> 3 of 4) gave the arena back to the raw allocator at the
   * next pool's emptying, or at collect(), with live pools in it, and raw blocks were handed out
   * over them (session 54). Read only when an arena is to go back: `total` headers.
   */
  private checkAllFree(ao: number, total: number): void {
    const u32 = this.u32;
    const first = u32[(ao + Arena.FIRST) >>> 2];
    const ps = this.poolSize;
    for (let i = 0, pool = first; i < total; i++, pool += ps)
      if (u32[(pool + Pool.SZIDX) >>> 2] !== Pool.SZIDX_NONE || u32[pool >>> 2] !== 0 || u32[(pool + Pool.SUB) >>> 2] >>> SubPool.USED_SHIFT !== 0)
        throw new HeapCorruptionError(ao + Arena.NFREEPOOLS, `arena ${hex(ao)} says ${u32[(ao + Arena.NFREEPOOLS) >>> 2]} of its ${total} pools are free, but its pool ${hex(pool)} is in use`, "Arena.NFREEPOOLS");
  }

  /**
   * Give the entirely free arena ao back to the raw allocator, unless it is the only usable one
   * and keepOne (free()'s guard against churn; collect() and a full raw allocator give back all).
   */
  private releaseArena(ao: number, keepOne = true): void {
    const u32 = this.u32;
    if (keepOne && u32[this.wUsable] === ao && u32[(ao + Arena.NEXT) >>> 2] === 0) return;
    const total = u32[(ao + Arena.NTOTALPOOLS) >>> 2];
    const first = u32[(ao + Arena.FIRST) >>> 2];
    // A damaged H.POOL_MAP_HIGH is found before the arena leaves its lists (markMap would find it
    // after, the arena unlisted yet not given back).
    const high = this.mapHighFor(first, total);
    this.raw.arenaReleasable(first);
    const wN = this.wNfp;
    if (u32[wN + total] === ao) {
      // The last arena with `total` free pools now: the one before it, when it has as many (an
      // arena of more pools, partly used: arenas differ in size, a hole's holds fewer pools).
      const pv = u32[(ao + Arena.PREV) >>> 2];
      u32[wN + total] = pv !== 0 && u32[(pv + Arena.NFREEPOOLS) >>> 2] === total ? pv : 0;
    }
    this.unlinkArena(ao);
    this.markMap(first, total, false, high);
    u32[(ao + Arena.MAGIC) >>> 2] = 0;
    const w = this.wCounters;
    u32[w]--;
    u32[w + 2]++; // reclaimed
    this.raw.freeArena(first);
  }

  /**
   * For recount() (adoptThread, under the lock a dead thread held): an arena that thread was
   * making, or giving back, goes back to the raw allocator. newArena's stores, in order, with
   * the calls between them (where a Worker's terminate() lands: a call's entry or return, a
   * loop's turn): raw.mallocArena() [the chunk, flagged ARENA], makeMapHigh(), arenaHeader(),
   * the header's words (MAGIC among them: no call between), blankPool() for each pool, markMap()
   * (a loop over the map's bits), the counters; then takeSlot lists it on usable_arenas (two
   * stores, no call between) and takes its first pool. releaseArena's: unlinkArena(), markMap()
   * clearing the bits, MAGIC 0, the counters, raw.freeArena(). So an arena whose MAGIC is wrong
   * with none of its pools' map bits set is one never made or being given back: no block was
   * carved from it since its bits went (and a made arena whose MAGIC a stray write changed keeps
   * its bits: not taken for one). One whose MAGIC is right, entirely free (all its pools) and
   * on no usable_arenas list was made and not listed yet, or was being given back (an arena
   * with a free pool is always listed, and one entirely free that stays is the list's only).
   * Neither holds a block: its map bits are cleared and its chunk released (relist() has made
   * the raw lists whole first). The arena counters then count the arenas left (the current
   * count, and the reclaimed one for an arena counted already). Returns how many went back.
   */
  protected releaseUnmade(): number {
    const u32 = this.u32;
    const ps = this.poolSize;
    const firsts = this.raw.arenas();
    const listed = new Set<number>();
    for (let ao = u32[this.wUsable], n = firsts.length; ao !== 0 && n > 0; ao = u32[(ao + Arena.NEXT) >>> 2], n--) listed.add(ao);
    let released = 0;
    for (const first of firsts) {
      const a = this.arenaHeader(first);
      const pools = Math.floor((this.raw.usable(first) + Chunk.OVERHEAD) / ps);
      let marked = 0;
      for (let i = 0; i < pools; i++) if (this.isOurs(first + i * ps)) marked++;
      const made = u32[(a + Arena.MAGIC) >>> 2] === ((Arena.MAGIC_VALUE ^ a) >>> 0);
      const unmade = made
        ? !listed.has(a) && u32[(a + Arena.FIRST) >>> 2] === first && u32[(a + Arena.NTOTALPOOLS) >>> 2] === pools && u32[(a + Arena.NFREEPOOLS) >>> 2] === pools
        : marked === 0;
      if (!unmade) continue;
      if (marked !== 0) this.markMap(first, pools, false);
      u32[(a + Arena.MAGIC) >>> 2] = 0;
      this.raw.freeArena(first);
      released++;
    }
    if (released !== 0) {
      const w = this.wCounters;
      const left = firsts.length - released;
      if (u32[w] > left) u32[w + 2] += u32[w] - left; // reclaimed: those counted already
      u32[w] = left;
    }
    return released;
  }

  /**
   * For recount() (adoptThread, under the lock a dead thread held), after releaseUnmade(): every
   * made arena with a free pool back on usable_arenas, in order, and nfp2lasta made again from
   * the list. returnPool's stores, in order, with the calls between them (where a Worker's
   * terminate() lands): the pool onto the arena's FREEPOOLS list (two stores); then, for an
   * arena that was full, linkArenaAfter() (a call; its four stores have none between) before its
   * NFREEPOOLS and nfp2lasta[1]; for one that had free pools, nfp2lasta[nf] and NFREEPOOLS
   * (nf + 1), then, to keep the order, unlinkArena() and linkArenaAfter() (a call each), then
   * nfp2lasta[nf + 1]. A death between the two calls (at unlinkArena's return or
   * linkArenaAfter's entry) left an arena with free pools on no list: its free pools never taken
   * again, check() failing for good ("N arenas have free pools but usable_arenas lists N-1"); one
   * at the first linkArenaAfter's entry left a free pool on a full arena's list, its NFREEPOOLS
   * still 0. So each arena's NFREEPOOLS is counted again from its free-pool list and its
   * never-carved pools (what takeSlot takes from; takeSlot's own stores have no call between),
   * and the list made again: the arenas it holds, in its order (a list whole before the death
   * is left as it was), an arena it lacks put where returnPool would have (one-pool arenas, kept
   * by free(), at the head; others after the last arena with as few free pools or fewer), then
   * ordered by free pools (a stable sort: equal counts keep their order). Full arenas leave it.
   * The fast paths never come here. Returns how many arenas were put back on the list.
   */
  protected relinkArenas(): number {
    const u32 = this.u32;
    const ps = this.poolSize;
    const made = new Map<number, number>(); // header -> its free pools
    for (const first of this.raw.arenas()) {
      const a = this.arenaHeader(first);
      if (u32[(a + Arena.MAGIC) >>> 2] !== ((Arena.MAGIC_VALUE ^ a) >>> 0) || u32[(a + Arena.FIRST) >>> 2] !== first) continue;
      const total = u32[(a + Arena.NTOTALPOOLS) >>> 2];
      const end = first + total * ps;
      const poolAddress = u32[(a + Arena.POOL_ADDRESS) >>> 2];
      if (total === 0 || total > this.poolsPerArena || poolAddress < first || poolAddress > end || (poolAddress - first) % ps !== 0) continue; // damaged: check() names it
      let nf = (end - poolAddress) / ps;
      let whole = true;
      for (let fp = u32[(a + Arena.FREEPOOLS) >>> 2], n = total; fp !== 0; fp = u32[(fp + Pool.NEXT) >>> 2], n--) {
        if (n === 0 || fp < first || fp >= poolAddress || (fp - first) % ps !== 0) {
          whole = false; // a cycle or a stray link: left for check() to name
          break;
        }
        nf++;
      }
      if (!whole) continue;
      u32[(a + Arena.NFREEPOOLS) >>> 2] = nf;
      made.set(a, nf);
    }
    // The list as it stands: made arenas with free pools, each once, bounded by their count.
    const order: number[] = [];
    const listed = new Set<number>();
    for (let a = u32[this.wUsable], n = made.size + 1; a !== 0 && n > 0 && made.has(a) && !listed.has(a); a = u32[(a + Arena.NEXT) >>> 2], n--) {
      listed.add(a);
      if (made.get(a)! > 0) order.push(a);
    }
    let added = 0;
    for (const [a, nf] of made) {
      if (nf === 0 || listed.has(a)) continue;
      added++;
      if (u32[(a + Arena.NTOTALPOOLS) >>> 2] === 1) order.unshift(a);
      else {
        let at = order.length;
        while (at > 0 && made.get(order[at - 1])! > nf) at--;
        order.splice(at, 0, a);
      }
    }
    const sorted = order.map((a, i) => [a, i]).sort((x, y) => made.get(x[0])! - made.get(y[0])! || x[1] - y[1]);
    const wN = this.wNfp;
    for (let k = 0; k <= this.poolsPerArena; k++) u32[wN + k] = 0;
    let prev = 0;
    u32[this.wUsable] = 0;
    for (const [a] of sorted) {
      u32[(a + Arena.PREV) >>> 2] = prev;
      u32[(a + Arena.NEXT) >>> 2] = 0;
      if (prev === 0) u32[this.wUsable] = a;
      else u32[(prev + Arena.NEXT) >>> 2] = a;
      u32[wN + made.get(a)!] = a;
      prev = a;
    }
    return added;
  }

  /**
   * The raw allocator's top cannot grow (raw.onFull, under the caller's lock), or is about to grow
   * with kept spares marked or past its peak (releaseBeforeTop): the classes' spare pools and sub-pools of this thread and every entirely free
   * arena go back, so that what free() keeps against churn never makes a request fail nor the
   * footprint grow. True when an arena went back.
   */
  private releaseKept(): boolean {
    this.follow(); // views that reach the top (before the top's growth, another thread may have moved it)
    this.u32[this.wSub + (SubPool.KEPT >>> 2)] = 0;
    const reclaimed = this.u32[this.wCounters + 2];
    if (this.subPools) this.returnSpares(SubPool.SHIFT);
    // Whole pools the WebAssembly fast path kept as spares, with subPools: false too (it keeps a
    // class's only pool there as well: they were never given back, when the memory ran full).
    this.returnSpares(0);
    this.releaseFreeArenas();
    const released = this.releaseMapHigh();
    return this.u32[this.wCounters + 2] !== reclaimed || released;
  }

  /**
   * The pool map's high part goes back when no arena lies past the low part any more (its bits
   * all clear): it is taken at the top when the first arena lands there, and kept, it pinned the
   * top high, so that an emptied heap could not serve a request a new heap serves. collect() and
   * the raw allocator's full path (releaseKept). Not with threads: other threads read its address
   * without the lock, and a raw block reusing its bytes would read as pools to them. True when it
   * went back.
   */
  protected releaseMapHigh(): boolean {
    const hi = this.u32[this.wMapHigh];
    if (hi === 0 || this.threaded) return false;
    // Believed only when it names the map's own chunk: a stray write's address gave a user's block back.
    if (!this.raw.isMapChunkAt(hi, this.mapAll - this.mapLow))
      throw new HeapCorruptionError(this.wMapHigh * 4, `the pool map's high part ${hex(hi)} is no chunk the allocator took for it (a write over the word?)`, "H.POOL_MAP_HIGH");
    const u8 = this.u8;
    for (let i = hi, end = hi + this.mapAll - this.mapLow; i < end; i++) if (u8[i] !== 0) return false;
    this.u32[this.wMapHigh] = 0;
    this.raw.freeArena(hi);
    return true;
  }

  /**
   * The raw allocator is about to grow its top for a request nothing free fits (raw.onTop, under
   * the caller's lock): when the usable list's head is an empty one-pool arena (where free() puts
   * those it empties and keeps), every empty one-pool arena goes back, so that the request may
   * take their room instead of new memory. True when any went back. The arena of several pools
   * kept against churn (the only usable one) stays. A heap that only allocates small blocks never
   * comes here: its one-pool arenas stay against churn, as before. Runs at every growth of the
   * top (imports: most of its raw blocks'), so the head's two words are read first, as they are
   * (a view a growth from outside left short or detached reads them as undefined: nothing goes
   * back then); the views are brought up and the head checked as an arena only when they say so.
   * Everything kept goes back instead (releaseKept) when free() kept a spare pool or sub-pool
   * alone in its slot or arena (SubPool.KEPT: such a spare between raw blocks held zlib's peak
   * 17-20% over malloc mode's) and it outlived one growth of the top already (KEPT_AGED: a program
   * whose lone small block comes and goes between raw blocks at the top would otherwise give its
   * pool back and take it again at every one, 4-17x slower), or when the top would pass its peak
   * (pastPeak: then also the arena of several pools kept against churn, at the head): what is
   * kept against churn then costs no footprint. 627 top growths in compileall's replay, 2,613 in
   * imports'. The WebAssembly fast path's raw malloc leaves the top to JS in the same cases
   * (wasm/obmalloc/raw.ts keptFirst). Never allocates (the raw allocator calls it without a
   * guard against reentry).
   */
  private releaseBeforeTop(pastPeak: boolean): boolean {
    let u32 = this.u32;
    const kw = this.wSub + (SubPool.KEPT >>> 2);
    const kept = u32[kw];
    if (kept !== 0) {
      const age = kept & SubPool.KEPT_AGE_MASK;
      if (pastPeak || age === SubPool.KEPT_AGED) return this.releaseKept();
      // Aged: the next growth gives it back, unless free() marks a spare afresh first.
      if (age === SubPool.KEPT_FRESH) u32[kw] = kept + (SubPool.KEPT_AGED - SubPool.KEPT_FRESH);
    }
    const head = u32[this.wUsable];
    if (head === 0) return false;
    const total = u32[(head + Arena.NTOTALPOOLS) >>> 2];
    if (u32[(head + Arena.NFREEPOOLS) >>> 2] !== total || (total !== 1 && !pastPeak)) return false;
    if (total !== 1) return this.releaseKept();
    this.follow();
    u32 = this.u32;
    this.arenaOf(0, head, this.wUsable * 4, "H.USABLE_ARENAS");
    const reclaimed = u32[this.wCounters + 2];
    this.releaseFreeArenas(true);
    return u32[this.wCounters + 2] !== reclaimed;
  }

  /**
   * Every entirely free arena back to the raw allocator (collect(), and releaseKept when the raw
   * allocator is full): the one-pool arenas free() kept, and the one it keeps against churn,
   * which, wherever it sits, would hold the footprint up or cut the free space in two.
   */
  protected releaseFreeArenas(onePool = false): void {
    const u32 = this.u32;
    // Bounded by the arena count: a damaged list that loops is reported, not followed for ever.
    let left = u32[this.wCounters] + 1;
    for (let ao = u32[this.wUsable]; ao !== 0; ) {
      if (left-- === 0) throw new HeapCorruptionError(this.wUsable * 4, "the usable arena list is longer than the heap's arena count", "H.USABLE_ARENAS");
      this.arenaOf(0, ao, this.wUsable * 4, "H.USABLE_ARENAS");
      const next = u32[(ao + Arena.NEXT) >>> 2];
      const total = u32[(ao + Arena.NTOTALPOOLS) >>> 2];
      if (u32[(ao + Arena.NFREEPOOLS) >>> 2] === total && (total === 1 || !onePool)) {
        this.checkAllFree(ao, total);
        this.releaseArena(ao, false);
      }
      ao = next;
    }
  }

  /** Put ao into usable_arenas right after `after` (its successor's link checked by the caller: checkedNext). */
  /**
   * The new arena a (every pool free) onto usable_arenas, which newArena found not empty (takeSlot):
   * after the last arena with as many free pools or fewer, so the list keeps its order.
   */
  private listNewArena(a: number): void {
    const u32 = this.u32;
    const nf = u32[(a + Arena.NFREEPOOLS) >>> 2];
    let prev = 0;
    // Bounded by the arena count: a damaged list that loops is reported, not followed for ever.
    let left = u32[this.wCounters] + 1;
    for (let c = u32[this.wUsable]; c !== 0; c = u32[(c + Arena.NEXT) >>> 2]) {
      if (left-- === 0) throw new HeapCorruptionError(this.wUsable * 4, "the usable arena list is longer than the heap's arena count", "H.USABLE_ARENAS");
      this.arenaOf(0, c, this.wUsable * 4, "H.USABLE_ARENAS");
      if (u32[(c + Arena.NFREEPOOLS) >>> 2] > nf) break;
      prev = c;
    }
    if (prev !== 0) this.linkArenaAfter(a, prev);
    else {
      const head = u32[this.wUsable];
      u32[(a + Arena.NEXT) >>> 2] = head;
      u32[(a + Arena.PREV) >>> 2] = 0;
      u32[(head + Arena.PREV) >>> 2] = a;
      u32[this.wUsable] = a;
    }
    u32[this.wNfp + nf] = a;
  }

  private linkArenaAfter(ao: number, after: number): void {
    const u32 = this.u32;
    const nx = u32[(after + Arena.NEXT) >>> 2];
    u32[(ao + Arena.PREV) >>> 2] = after;
    u32[(ao + Arena.NEXT) >>> 2] = nx;
    u32[(after + Arena.NEXT) >>> 2] = ao;
    if (nx !== 0) u32[(nx + Arena.PREV) >>> 2] = ao;
  }

  /** ao's usable_arenas links come back to it (a neighbour's, or the list's head word), else HeapCorruptionError. */
  private arenaLinked(ao: number): void {
    const u32 = this.u32;
    const pv = u32[(ao + Arena.PREV) >>> 2];
    const nx = u32[(ao + Arena.NEXT) >>> 2];
    if ((pv !== 0 ? u32[(pv + Arena.NEXT) >>> 2] : u32[this.wUsable]) !== ao || (nx !== 0 && u32[(nx + Arena.PREV) >>> 2] !== ao))
      throw new HeapCorruptionError(ao + Arena.NEXT, `usable_arenas links of arena ${hex(ao)} do not come back to it`, "Arena.NEXT");
  }

  private unlinkArena(ao: number): void {
    const u32 = this.u32;
    this.arenaLinked(ao);
    const pv = u32[(ao + Arena.PREV) >>> 2];
    const nx = u32[(ao + Arena.NEXT) >>> 2];
    if (pv !== 0) u32[(pv + Arena.NEXT) >>> 2] = nx;
    else u32[this.wUsable] = nx;
    if (nx !== 0) u32[(nx + Arena.PREV) >>> 2] = pv;
  }

  // Called up: sub-pools (SubPoolAllocator, obmalloc/subpools.ts).
  /** The young classes' spare sub-pools back onto the free sub-pool list (releaseKept). */
  protected abstract returnSpares(sub: number): boolean;
  /** returnPool's first part: the pool leaves its class; the slot that goes back, or 0. */
  protected abstract leaveClass(pool: number, spare: boolean): number;
}
