/**
 * heap/heap.ts — a heap: memory + raw allocator + object allocator + the three families.
 *
 * Owns: createHeap/attachHeap, the choice of families for each allocator mode, the views a user
 * reads and writes through, usableSize, stats() and check() (delegated to introspect/).
 * Must not: keep allocator state in JS: everything lives in the memory, so attachHeap() on the
 * same buffer gives the same heap. Fields here are caches of it.
 */

import {
  DEFAULT_MAX_BYTES,
  HEAP_MAGIC,
  MAX_MAX_THREADS,
  H,
  HeapFlag,
  Size,
  MODE_IDS,
  Slot,
  SlotState,
  Used,
} from "../constants.js";
import { HeapCorruptionError, PymallocError, detachedError, hex, typeName } from "../errors.js";
import { DebugFamily, DebugState, type DebugOptions } from "../debug/hooks.js";
import { HeapDebugHost } from "../debug/host.js";
import { leakReport, type LeakReport } from "../debug/leaks.js";
import { MemoryCorruptionError } from "../debug/report.js";
import { mendNewest, mendQuarantine } from "../debug/quarantine.js";
import { Memory, MemoryViews, isSharedBuffer, type MemorySource } from "../memory/memory.js";
import { isNode } from "../runtime.js";
import type { ObjectAllocator } from "../obmalloc/obmalloc.js";
import { createObjectAllocator } from "../obmalloc/variants.js";
import { RawAllocator } from "../raw/tlsf.js";
import { checkHeap } from "../introspect/check.js";
import { heapStats, type HeapStats } from "../introspect/stats.js";
import { AllocatorFamily, badPointer, checkWalker, type Family } from "./families.js";
import { checkShifts, computeLayout, formatHeap, formatUsed, heapIdentity, validateHeader } from "./layout.js";
import { ATTACH_OPTIONS, byteOption, checkOptions, debugOptions, resolveOptions, type AllocatorMode, type AttachOptions, type HeapOptions } from "./options.js";
import { forEachLiveBlock, ownBlocks } from "../introspect/walk.js";
import { debugMallocStats } from "../introspect/mallocstats.js";
import { divertFastPaths, stopFastPaths, wasmImports, type FamilyName, type WasmAllocatorImports } from "../compat/wasm-imports.js";
import { CHECK_WAIT_MS, LOCK_STUCK_MS, SharedLock, nap } from "../threads/lock.js";
import { LockedFamily, withLock } from "../threads/locked.js";
import { SampledFamily, createSamplingState, sampledLeaks, samplingStateFault } from "../debug/sampling.js";
import { Sampler } from "../debug/sampler.js";
import { takeSnapshot, type HeapSnapshot } from "../introspect/snapshot.js";
import { DetachedFamily, FAULT_FAMILIES, FaultFamily, resolvePlan, type FaultFamilyName, type FaultPlan } from "./faults.js";

export interface WalkedBlock {
  address: number;
  size: number;
  family: string | undefined;
  sizeClass: number;
  serial?: number;
}

const MODE_NAMES = Object.fromEntries(Object.entries(MODE_IDS).map(([k, v]) => [v, k])) as Record<number, AllocatorMode>;

/**
 * The thread slots held by this thread's handles (this JS realm's), by memory source and
 * heapBase: a slot in there cannot be running while this thread reads the heap (settled()).
 * Added when a threads heap's handle is made, removed when its slot is given back.
 */
const localSlots = new WeakMap<object, Map<number, Set<number>>>();

function localSlotsOf(source: object, heapBase: number): Set<number> {
  let byBase = localSlots.get(source);
  if (byBase === undefined) localSlots.set(source, (byBase = new Map()));
  let set = byBase.get(heapBase);
  if (set === undefined) byBase.set(heapBase, (set = new Set()));
  return set;
}

/**
 * settled(): a fault found while other threads run is reported once found at the same address
 * in this many runs in a row, over at least SETTLE_MS (damage stays where it is; another
 * thread's edit in progress moves on, even one descheduled for a while under load); faults that
 * keep moving for SETTLE_GIVE_UP_MS are reported as the last one found.
 */
const SETTLE_RUNS = 3;
const SETTLE_MS = 250;
const SETTLE_GIVE_UP_MS = 5_000;

export class Heap extends MemoryViews {
  readonly mode: AllocatorMode;
  readonly heapBase: number;
  /** The general-purpose allocator (every raw block, arenas, and large requests). */
  readonly rawAllocator: RawAllocator;
  /** The small-object allocator (pools and arenas). */
  readonly objectAllocator: ObjectAllocator;
  /** PyObject_* family ('o'). */
  readonly obj: Family;
  /** PyMem_* family ('m'), the chunk family. */
  readonly mem: Family;
  /** PyMem_Raw* family ('r'): always the raw allocator. */
  readonly raw: Family;
  /** The debug hooks, in the debug modes. */
  readonly debug: DebugState | undefined;
  /** Whether several threads share this heap (createHeap's `threads` option). */
  readonly threads: boolean;
  /** Whether the object allocator makes hardened mode's checks (createHeap's `hardened` option). */
  readonly hardened: boolean;
  /**
   * This handle's thread id, its slot in the heap: 0 for the createHeap() thread, then the
   * lowest free one per attachHeap() (ids of detached threads are reused).
   */
  readonly threadId: number;
  /** @internal Threads: the claim word this handle wrote in its slot (Slot.CLAIM); check() compares it. */
  readonly claim: number;
  /** @internal The heap's identity word (H.IDENTITY) as this handle found it: check() compares. */
  readonly identity: number;
  /** Whether attachHeap() made this handle (false: createHeap(), the heap's first handle). */
  readonly attached: boolean;
  /** The heap's lock (threads only). */
  readonly lock: SharedLock | undefined;
  /** Sampled allocation sites (release modes made with sampleInterval), else undefined. */
  readonly sampler: Sampler | undefined;

  /** Alignment of blocks of 1..512 bytes (createHeap's `alignment`); larger ones are 16-byte aligned. */
  get alignment(): number {
    return 1 << this.objectAllocator.alignShift;
  }

  /** @internal use createHeap() or attachHeap(). */
  constructor(memory: Memory, heapBase: number, debug: DebugOptions, created = false, sampleInterval = 0) {
    super(memory, (heapBase >>> 2) + H.VIEW_END_1); // the views' check reads the memory's length there
    this.heapBase = heapBase;
    this.attached = !created;
    const u32 = memory.views.u32;
    const hw = heapBase >>> 2;
    this.mode = MODE_NAMES[u32[hw + H.MODE]];
    if (this.mode === undefined) throw new PymallocError(`heap at ${hex(heapBase)} names an unknown allocator mode ${u32[hw + H.MODE]}`, heapBase);
    this.threads = (u32[hw + H.FLAGS] & HeapFlag.THREADS) !== 0;
    this.hardened = (u32[hw + H.FLAGS] & HeapFlag.HARDENED) !== 0;
    this.identity = u32[hw + H.IDENTITY];
    memory.identify(heapBase + H.IDENTITY * 4, this.identity);
    if (this.threads) {
      if (!isSharedBuffer(memory.buffer))
        throw new TypeError(
          `a heap with threads: true needs a shared memory (SharedArrayBuffer or a shared WebAssembly.Memory); this one is an unshared ${memory.buffer.constructor.name}. ` +
            "Saved bytes (IndexedDB keeps no SharedArrayBuffer) go back into a growable SharedArrayBuffer (new SharedArrayBuffer(n, { maxByteLength })) or a shared WebAssembly.Memory, attached with restored: true",
        );
      this.lock = new SharedLock(memory.views.i32, hw + H.LOCK);
      this.rawAllocator = new RawAllocator(memory, heapBase);
      this.claim = randomToken();
      this.threadId = created ? 0 : claimSlot(memory, this.rawAllocator, this.lock, heapBase, this.claim);
      if (created) memory.views.u32[(heapBase + u32[hw + H.THREAD_SLOTS] + Slot.CLAIM) >>> 2] = this.claim;
      this.lock.tag = this.threadId + 1;
      localSlotsOf(memory.source, heapBase).add(this.threadId);
    } else {
      this.lock = undefined;
      this.threadId = 0;
      this.claim = 0;
      this.rawAllocator = new RawAllocator(memory, heapBase);
    }
    // Release modes: every family is an AllocatorFamily over an ObjectAllocator (one with pools
    // for mem/obj in pymalloc mode, pass-through ones otherwise), which takes the lock itself,
    // only for shared work. The debug modes hold the lock around every call (their state is
    // shared), so the allocators below them must not take it.
    const release = this.mode === "pymalloc" || this.mode === "malloc";
    const lock = release ? this.lock : undefined;
    const slot = this.threadId;
    this.objectAllocator = createObjectAllocator(memory, this.rawAllocator, heapBase, { slot, lock });
    const passThrough = createObjectAllocator(memory, this.rawAllocator, heapBase, { slot, lock, small: false });
    const small = this.mode === "malloc" || this.mode === "malloc_debug" ? passThrough : this.objectAllocator;
    const below = { o: new AllocatorFamily("o", small), m: new AllocatorFamily("m", small), r: new AllocatorFamily("r", passThrough) };
    let fams: { o: Family; m: Family; r: Family } = below;
    if (release) {
      this.debug = undefined;
      // Sampled sites: the family class is chosen here, once; a heap without them never runs it.
      if (created && sampleInterval > 0) createSamplingState(this.rawAllocator, memory, heapBase, sampleInterval);
      const state = memory.views.u32[hw + H.SAMPLES];
      // A heap attached from bytes: the state must be a live raw block that holds it. Checked
      // under the lock with threads: the check reads the chunk after the state and the top,
      // which another thread may be changing (the chunk given back, the top coming down onto
      // the state's end: read between the two, a sound state was no live block).
      const fault = state === 0 ? null : this.locked(() => samplingStateFault(memory.views.u32, state, memory.maxBytes, (p) => this.rawAllocator.liveUsable(p)));
      if (fault !== null) throw new HeapCorruptionError(heapBase + H.SAMPLES * 4, fault, "H.SAMPLES");
      const s = (this.sampler = state === 0 ? undefined : new Sampler(memory, state, slot, this.lock, (n) => this.rawAllocator.malloc(n), (p) => this.rawAllocator.free(p), (p) => this.rawAllocator.liveUsable(p)));
      if (s !== undefined) fams = { o: new SampledFamily(below.o, small, s), m: new SampledFamily(below.m, small, s), r: new SampledFamily(below.r, passThrough, s) };
      if (s !== undefined && this.lock === undefined) {
        // A request the top cannot grow for: the sample table too makes room (Sampler.shrink).
        const raw = this.rawAllocator;
        const kept = raw.onFull;
        raw.onFull = () => {
          const gave = kept !== null && kept();
          return s.shrink() || gave;
        };
      }
    } else {
      this.sampler = undefined;
      // Debug modes: the hooks wrap each family over whichever allocator is below it.
      // The quarantine is the creator's choice, kept in the memory (its ring, or none for
      // quarantineBlocks: 0): a handle that attaches uses the ring there and never opens one (it
      // did, with the defaults: a heap made without quarantine got one of 1024 blocks, and a full
      // heap could not be attached at all, "memory too small for the debug quarantine").
      const opts = created ? debug : { ...debug, quarantineBlocks: 0 };
      const d = this.locked(() => new DebugState(new HeapDebugHost(this), opts, below, this.threads ? this.threadId : undefined));
      this.debug = d;
      fams = { o: new DebugFamily("o", below.o, d), m: new DebugFamily("m", below.m, d), r: new DebugFamily("r", below.r, d) };
      if (this.lock !== undefined) {
        const lk = this.lock;
        const lockOf = (f: Family): Family => new LockedFamily(f.id, f, lk, memory, heapBase, this.threadId, d);
        fams = { o: lockOf(fams.o), m: lockOf(fams.m), r: lockOf(fams.r) };
      }
    }
    this.obj = fams.o;
    this.mem = fams.m;
    this.raw = fams.r;
  }

  /**
   * Fault injection: make allocations of the chosen families return 0 (NULL), as planned: the
   * `nth` one, `every` n-th one, or a random share (`probability`, `seed`), at most `limit`
   * times; counted per family from this call. Frees and the heap's state are untouched, so
   * check() passes throughout. `null` stops it. Returns the number of allocations refused by
   * the plan being replaced. Costs nothing when off: the families are swapped for wrappers only
   * while a plan is in place (per handle: other threads' handles are not affected).
   */
  failAllocations(plan: FaultPlan | null): number {
    const self = this as unknown as Record<FaultFamilyName, Family>;
    // A detached handle refuses every call: a plan over its families answered 0 (NULL) where
    // they throw, as if the call had been served by the plan.
    if (self.obj instanceof DetachedFamily) throw detachedError();
    let refused = 0;
    for (const name of FAULT_FAMILIES) {
      const f = self[name];
      if (f instanceof FaultFamily) {
        refused += f.failed;
        self[name] = f.below;
      }
    }
    if (plan !== null) {
      const r = resolvePlan(plan);
      for (const name of r.families) self[name] = new FaultFamily(self[name], r, (p) => void this.usableSize(p));
    }
    // C code on the WebAssembly fast path allocates through JS while a plan is in place.
    divertFastPaths(this, plan !== null);
    return refused;
  }

  /** @internal Whether a fault plan (failAllocations) is in place on this handle. */
  get faultPlanned(): boolean {
    const self = this as unknown as Record<FaultFamilyName, Family>;
    return FAULT_FAMILIES.some((name) => self[name] instanceof FaultFamily);
  }

  /**
   * Whether other threads' handles change this heap without its lock: threads in pymalloc's
   * release mode, where each thread allocates from and frees into its own pools lock-free (the
   * debug modes and the malloc mode do everything under the lock).
   */
  private get lockFree(): boolean {
    return this.lock !== undefined && this.debug === undefined && this.mode === "pymalloc";
  }

  /**
   * fn, an introspection (stats, snapshot, leaks, walk, check...), under the heap's lock, then
   * then(fn's result) under it too. Where other threads change the heap without the lock
   * (lockFree) and one of them is attached from another thread, fn may meet their pools, free
   * lists and usedpools halfway through an edit, or left so by a thread that waits for the lock
   * fn holds (a pool just emptied, given back under the lock): a HeapCorruptionError from fn is
   * then looked at again, the lock let go in between to whoever waits for it, and reported only
   * when found at the same address and field SETTLE_RUNS times in a row over SETTLE_MS (damage
   * stays; an edit moves on). Those calls threw a false HeapCorruptionError while Workers
   * allocated (check(): one call in 20 with two Workers; walk() and snapshot() rarely: a block
   * just carved, its link not written yet).
   */
  private settled<T, R = T>(fn: () => T, then?: (r: T) => R, patienceMs = LOCK_STUCK_MS): R {
    const lock = this.lock;
    if (lock === undefined || !this.lockFree) return this.locked(() => (then === undefined ? (fn() as unknown as R) : then(fn())));
    const start = Date.now();
    let at = -1;
    let field = "";
    let runs = 0;
    let since = 0;
    for (;;) {
      let fault: HeapCorruptionError | undefined;
      lock.acquire(patienceMs);
      try {
        this.memory.refresh();
        let r: T;
        try {
          r = fn();
        } catch (e) {
          if (!(e instanceof HeapCorruptionError) || !this.othersRunning()) throw e;
          fault = e;
        }
        if (fault === undefined) return then === undefined ? (r! as unknown as R) : then(r!);
      } finally {
        lock.release();
      }
      const now = Date.now();
      if (fault.address === at && fault.field === field) runs++;
      else {
        at = fault.address;
        field = fault.field;
        runs = 1;
        since = now;
      }
      if ((runs >= SETTLE_RUNS && now - since >= SETTLE_MS) || now - start >= SETTLE_GIVE_UP_MS) throw fault;
      // The threads that wait for the lock first (one may be halfway through the edit fn met),
      // then a pause that does not fall in step with a thread's loop.
      lock.letWaitersIn(2);
      nap(1 + Math.random() * 4);
    }
  }

  /** @internal fn, an introspection of this heap (heapSvg, arenaAccounting), under its lock: settled(). */
  introspect<T>(fn: () => T): T {
    return this.settled(fn);
  }

  /** Whether a thread slot other than this thread's handles' is attached (settled()). */
  private othersRunning(): boolean {
    const o = this.objectAllocator;
    const mine = localSlotsOf(this.memory.source, this.heapBase);
    const u32 = this.memory.views.u32;
    for (let k = 0; k < o.orphan; k++) if (!mine.has(k) && u32[(o.slotBase(k) + Slot.STATE) >>> 2] === SlotState.LIVE) return true;
    return false;
  }

  /** fn under the heap's lock when threads share it; directly otherwise. */
  private locked<T>(fn: () => T): T {
    if (this.lock !== undefined) return withLock(this.lock, this.memory, fn, this.debug);
    // Detached views (memory.ts, DETACHED): a WebAssembly.Memory grown by someone else (made
    // current), or a transferred ArrayBuffer (refresh() throws the PymallocError that says so).
    this.memory.current();
    return fn();
  }

  /** Bytes usable at p (like malloc_usable_size); throws for anything but a live block. */
  usableSize(p: number): number {
    if (typeof p !== "number" || (p >>> 0) !== p || p === 0) badPointer("usableSize", p);
    return this.locked(() => (this.debug ? this.debug.usableSize(p) : this.objectAllocator.usableSize(p)));
  }

  /**
   * Live blocks with size, family, serial and allocation site, grouped by site with totals.
   * Families and sites are known in the debug modes; release modes list blocks by usable size.
   */
  leaks(): LeakReport {
    return this.settled(() => this.leaksUnlocked());
  }

  private leaksUnlocked(): LeakReport {
    if (this.debug) return this.debug.leaks();
    if (this.sampler !== undefined) return sampledLeaks(this, this.sampler);
    const blocks: LeakReport["blocks"] = [];
    const own = ownBlocks(this);
    forEachLiveBlock(this, (b) => {
      if (!own(b.address)) blocks.push({ address: b.address, size: b.usable, family: "?", serial: 0, site: "(sites are recorded in the debug modes)" });
    });
    return leakReport(blocks);
  }

  /**
   * The live blocks now, grouped by size class and family (every mode) and by allocation site
   * (debug modes with traceAllocations; sampled estimates with sampleInterval), to compare with
   * a later one: `heap.snapshot().compare(older)` (like tracemalloc's Snapshot.compare_to).
   */
  snapshot(): HeapSnapshot {
    return this.settled(() => takeSnapshot(this));
  }

  /** Numbers read from the heap's state: memory, footprint, blocks per size class, arenas. */
  stats(): HeapStats {
    return this.settled(() => heapStats(this));
  }

  /** CPython's sys._debugmallocstats() for this heap: size classes, arena and byte accounting, raw allocator. */
  debugMallocStats(): string {
    return this.settled(() => debugMallocStats(this));
  }

  /**
   * Visit every live block: its address (the pointer the user holds), size (requested bytes in
   * the debug modes, usable bytes otherwise), family ('r', 'm', 'o'; known in the debug modes)
   * and size class (-1 for raw blocks). The blocks are those live when walk() was called: the
   * callback runs after the walk, and may allocate and free.
   */
  walk(fn: (block: WalkedBlock) => void): void {
    checkWalker(fn);
    // Blocks gathered first (settled() may walk again), the callback called once the walk is
    // whole and the lock let go: it may call into the heap, every call alike. Called during the
    // walk, a callback's malloc in a heap without threads ran in the middle of it (the blocks it
    // made were walked too, and could make more), and with threads some calls threw (the lock
    // held) while a small malloc ran (none taken).
    const gather = (): WalkedBlock[] => {
      const blocks: WalkedBlock[] = [];
      this.walkUnlocked((b) => blocks.push(b));
      return blocks;
    };
    const blocks = this.lockFree ? this.settled(gather) : this.locked(gather);
    for (let i = 0; i < blocks.length; i++) fn(blocks[i]);
  }

  /** @internal A raw block for the library's own state in the heap (asMemPool's table), 0 when there is no room. */
  mallocState(n: number): number {
    // From the raw allocator, below the debug hooks, sampling and fault plans, under the lock. Not
    // a user block: walk(), leaks() and stats() tell it by its contents (introspect/walk.ts
    // ownBlocks, compat/live-table.ts isLiveTableBlock), and a debug family's free refuses it.
    if (this.obj instanceof DetachedFamily) throw detachedError();
    return this.locked(() => this.rawAllocator.malloc(n));
  }

  /** @internal */
  freeState(p: number): void {
    if (this.obj instanceof DetachedFamily) throw detachedError();
    this.locked(() => this.rawAllocator.free(p));
  }

  /** @internal walk() without taking the lock (the caller holds it). */
  walkUnlocked(fn: (block: WalkedBlock) => void): void {
    if (this.debug) {
      this.debug.walk(fn);
      return;
    }
    const own = ownBlocks(this);
    forEachLiveBlock(this, (b) => {
      if (!own(b.address)) fn({ address: b.address, size: b.usable, family: undefined, sizeClass: b.sizeClass });
    });
  }

  /**
   * malloc/free/calloc/realloc (and the memory) for a WebAssembly module to import, so that its C
   * code allocates from this heap. The heap must be in a WebAssembly.Memory, above the module's
   * static data (heapBase: its __heap_base); `family` defaults to "mem". See instantiateWithHeap().
   */
  wasmImports(options: { family?: FamilyName } = {}): WasmAllocatorImports {
    return wasmImports(this, options); // which checks the options (compat/wasm-imports.ts)
  }

  /** Debug modes: verify and release every quarantined block (no-op otherwise). */
  drainQuarantine(): void {
    if (this.debug) this.locked(() => this.debug!.drainQuarantine());
  }

  /**
   * Threads: take back the blocks other threads freed into this thread's pools, and return the
   * pools left empty to their arenas. It happens lazily anyway (when a pool runs dry); call it
   * when a thread stops allocating some sizes for a while. Every heap: give back the empty pools
   * kept as the last of their classes (threads keep them, and so does WebAssembly code's fast
   * path), one a class at most, and the raw cache's chunks, merged into the free lists (and the
   * top, which then comes down: `stats().footprint` is a fresh heap's again once everything is freed).
   */
  collect(): void {
    if (this.debug === undefined) this.objectAllocator.collect();
    else this.locked(() => this.objectAllocator.collect());
    this.sampler?.shrink(); // a sample table left large by samples freed since (heaps without threads)
  }

  /**
   * Threads: this thread is done with the heap. Its pools go to the heap's orphans (blocks in
   * them stay valid, and other threads adopt the pools as they need them), its thread id is
   * freed for reuse, and this handle throws on every later allocation or free. Call it before
   * a Worker exits; for a thread that died without it, see adoptThread().
   */
  detachThread(): void {
    if (this.lock === undefined) throw new PymallocError("detachThread() is for heaps made with threads: true", this.heapBase);
    stopFastPaths(this); // C code's calls on this handle go to JS, which refuses them from now on
    this.releaseSlot(this.threadId);
    this.lock.close();
    // Its families refuse every call from now on: their own fast paths would go on with the slot's
    // pools, which the next thread to attach may take (a block handed to both).
    const self = this as unknown as Record<FaultFamilyName, Family>;
    for (const name of FAULT_FAMILIES) self[name] = new DetachedFamily(self[name] instanceof FaultFamily ? (self[name] as FaultFamily).below : self[name]);
  }

  /**
   * Threads: take over what thread `threadId` left when it ended without detachThread() (a
   * Worker that crashed or was terminated): its pools become orphans for others to adopt, and
   * its id is freed. That thread must not run any more: call this from its 'exit' event (a
   * page: 2.5 s after terminate()).
   */
  adoptThread(threadId: number): void {
    if (this.lock === undefined) throw new PymallocError("adoptThread() is for heaps made with threads: true", this.heapBase);
    if (typeof threadId !== "number") throw new TypeError(`adoptThread(threadId): the thread id (heap.threadId of the thread that died) is a number, got ${typeName(threadId)}`);
    if (threadId === this.threadId) throw new RangeError("adoptThread() is for other threads; this thread calls detachThread()");
    // A browser's terminate() lets a busy Worker run on for about 2 s, from the page's event loop
    // (Chromium: helpers' probes, 2026-12-06 and -07), and a Worker's fast paths take no lock: its
    // pools handed to others while it still allocated were corrupted. So first its pools must stop
    // changing (awaitStopped).
    // (An id out of range goes straight to orphanSlot, which says why.)
    const inRange = Number.isInteger(threadId) && threadId >= 0 && threadId < this.objectAllocator.orphan;
    if (inRange) this.awaitStopped(threadId);
    // A thread terminated in a call may have died holding the lock (its id in H.LOCK_OWNER):
    // taken over here (waiting for it reported a dead thread after 10 s, and so did every call
    // after). What it was doing under the lock may be half done: check() says whether the heap
    // is whole, once the slot is free.
    const tookOver = inRange && this.lock.takeOver(threadId);
    let fault: HeapCorruptionError | undefined;
    try {
      this.releaseSlot(threadId, true, tookOver);
      if (tookOver) fault = this.checkAfterDeath(threadId);
    } finally {
      if (tookOver) this.lock.release();
    }
    // A fault while other threads run may be one of theirs half made: a live thread edits its own
    // pools without the lock, and one that waits for the lock halfway through (a free that emptied
    // a pool: "usedpools[c] of thread slot j holds an empty pool it may not keep") keeps its edit
    // half made as long as this thread holds it. Reported as the dead thread's damage, 1-3 of 25
    // adoptions of a terminated Worker beside a busy one threw, and check() right after passed (a
    // helper's probe, 2026-12-06). So it is looked at again as check() does with threads (the
    // lock let go between looks: the same fault at the same address over SETTLE_MS), and thrown,
    // naming the dead thread, only if it stays.
    if (fault !== undefined) {
      try {
        this.settled(() => checkHeap(this)); // settled() refreshes the views before each look
      } catch (e) {
        if (!(e instanceof HeapCorruptionError)) throw e;
        throw this.leftDamaged(threadId, e);
      }
    }
  }

  /** Returns once thread k's pools have been still for a while; PymallocError when they still change after a longer one. */
  private awaitStopped(k: number): void {
    // Outside Node a page's terminate() stops a busy Worker only from the page's event loop, which
    // this wait blocks, and its pools stayed still up to ~200 ms at a time: two looks 25 ms apart
    // adopted it running (a helper's probe in Chromium, 2026-12-07). So: still for longer, and
    // given up sooner (a longer wait only freezes the page).
    const page = !isNode();
    const quietMs = page ? ADOPT_QUIET_PAGE_MS : ADOPT_QUIET_MS;
    const waitMs = page ? ADOPT_WAIT_PAGE_MS : ADOPT_WAIT_MS;
    let last = this.objectAllocator.slotFingerprint(k);
    let quietFrom = Date.now();
    const end = quietFrom + waitMs;
    for (;;) {
      nap(ADOPT_LOOK_MS);
      const f = this.objectAllocator.slotFingerprint(k);
      const now = Date.now();
      if (f === last) {
        if (now - quietFrom >= quietMs) return;
        continue;
      }
      last = f;
      quietFrom = now;
      if (now > end)
        throw new PymallocError(
          `adoptThread(${k}): thread ${k} is still allocating after ${waitMs} ms: adopt a thread only once it has ended (Node: its Worker's 'exit' event)` +
            (page ? `; in a page, terminate() acts from the page's event loop, which this call blocks: await a 2.5 s setTimeout, then call adoptThread(${k}) again` : ""),
          this.heapBase,
        );
    }
  }

  /**
   * Under the lock taken over from thread k, which died holding it: check() the heap; a fault
   * found there may be the raw allocator's lists or cache left half edited, which relist() makes
   * anew from the chunks, or the sub-pools' counts, which recount() counts again, or a debug
   * heap's quarantine, which mendQuarantine() puts right (then checked again). A fault that
   * stays is thrown, naming k; returned instead when other threads run (adoptThread looks again).
   */
  private checkAfterDeath(k: number): HeapCorruptionError | undefined {
    const whole = (): void => {
      this.memory.refresh();
      checkHeap(this);
      this.debug?.checkAll();
    };
    try {
      whole();
      return undefined;
    } catch (e) {
      // HeapCorruptionError, or the debug modes' MemoryCorruptionError (it died painting a block).
      if (!(e instanceof HeapCorruptionError) && !(e instanceof MemoryCorruptionError)) throw e;
      try {
        this.rawAllocator.relist();
        this.objectAllocator.recount();
        if (this.debug !== undefined) {
          mendQuarantine(this.debug);
          mendNewest(this.debug);
        }
        whole();
        return undefined;
      } catch (after) {
        // What stays after the mends (a mend that threw: what it found), else what was found first.
        const f = after instanceof HeapCorruptionError || after instanceof MemoryCorruptionError ? after : e;
        if (f instanceof HeapCorruptionError && this.lockFree && this.othersRunning()) return f;
        throw this.leftDamaged(k, f);
      }
    }
  }

  /** adoptThread's error for damage thread k left: f, said of k. */
  private leftDamaged(k: number, f: HeapCorruptionError | MemoryCorruptionError): HeapCorruptionError {
    const field = f instanceof HeapCorruptionError ? f.field : "";
    return new HeapCorruptionError(f.address, `thread ${k} died holding the heap's lock (a Worker terminated in a call) and left the heap damaged: ${f.message.replace(/^heap corrupted at [^:]*: /, "")}`, field);
  }

  /**
   * @internal attachHeap's restored: every live thread slot but this handle's freed as a dead
   * thread's (adoptThread's repairs, without its wait: no thread of the copy runs), then checked.
   */
  reclaimSlots(): void {
    const o = this.objectAllocator;
    for (let k = 0; k < o.orphan; k++) {
      if (k === this.threadId || this.memory.views.u32[(o.slotBase(k) + Slot.STATE) >>> 2] !== SlotState.LIVE) continue;
      this.releaseSlot(k, true);
    }
    this.check();
  }

  /** Slot k's pools to the orphan slot, k freed; dead: k's thread died (adoptThread), lockHeld: its lock taken over. */
  private releaseSlot(k: number, dead = false, lockHeld = false): void {
    if (this.debug === undefined) this.objectAllocator.orphanSlot(k, dead, lockHeld);
    else if (lockHeld) {
      this.memory.refresh();
      this.objectAllocator.orphanSlot(k, dead);
    } else this.locked(() => this.objectAllocator.orphanSlot(k, dead));
    localSlotsOf(this.memory.source, this.heapBase).delete(k); // the next thread of the slot may be another
  }

  /**
   * Walk every structure the allocators follow; throws HeapCorruptionError naming the first
   * fault's address and field (debug modes: MemoryCorruptionError for a damaged block). Linear
   * in the heap's size; with threads it waits at most CHECK_WAIT_MS for the lock.
   */
  check(): void {
    const lock = this.lock;
    if (lock === undefined) {
      checkHeap(this);
      this.debug?.checkAll();
      return;
    }
    if (this.lockFree) return this.settled(() => checkHeap(this), undefined, CHECK_WAIT_MS);
    withLock(
      lock,
      this.memory,
      () => {
        checkHeap(this);
        this.debug?.checkAll();
      },
      this.debug,
      CHECK_WAIT_MS,
    );
  }
}

/** Create a heap in a new memory, or in the one given (which it formats). */
export function createHeap(options: HeapOptions = {}): Heap {
  const o = resolveOptions(options);
  checkShifts(o.poolShift, o.arenaShift);
  const memory = o.memory !== undefined
    ? new Memory(o.memory, o.maxBytes)
    : Memory.create(o.memoryKind, o.initialBytes, o.maxBytes);
  const heapBase = Math.ceil(o.heapBase / 16) * 16;
  if (o.threads && !isSharedBuffer(memory.buffer))
    throw new TypeError(
      `threads: true needs a shared memory (a SharedArrayBuffer or a shared WebAssembly.Memory); this one is a ${memory.kind} ${memory.buffer.constructor.name}` +
        (typeof SharedArrayBuffer === "undefined"
          ? " (this context has no SharedArrayBuffer: a web page must be cross-origin isolated, served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)"
          : memory.kind === "fixed"
            ? " (a shared heap of a fixed size: memory: new SharedArrayBuffer(bytes))"
            : ""),
    );
  // A page without cross-origin isolation may still make shared memory (Chromium makes a shared
  // WebAssembly.Memory), but cannot post it to a Worker (DataCloneError): said at once.
  if (o.threads && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false && !warnedIsolation) {
    warnedIsolation = true;
    console.warn("pymalloc: createHeap({ threads: true }) in a page that is not cross-origin isolated: its memory cannot be posted to Workers (serve the page with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)");
  }
  const params = { heapBase, poolShift: o.poolShift, arenaShift: o.arenaShift, alignShift: o.alignShift, maxBytes: memory.maxBytes, mode: MODE_IDS[o.mode], flags: (o.threads ? HeapFlag.THREADS : 0) | (o.hardened ? HeapFlag.HARDENED : 0) | (o.subPools ? 0 : HeapFlag.WHOLE_POOLS) | (o.alignShift === Size.MIN_ALIGNMENT_SHIFT ? HeapFlag.MIN_ALIGNMENT : 0), maxThreads: o.maxThreads, rawFirst: o.rawFirst };
  const layout = computeLayout(params);
  if (!memory.grow(layout.heapStart + 16))
    throw new RangeError(`memory too small for a heap: needs at least ${layout.heapStart + 16} bytes from heapBase ${heapBase}${layout.heapStart + 16 > memory.maxBytes ? ` (maxBytes is ${memory.maxBytes})` : ""}`);
  if (isSharedBuffer(memory.buffer)) refuseOthersHeap(memory, heapBase);
  refuseOverlap(memory, heapBase);
  formatHeap(memory.views.u8, memory.views.u32, params, layout);
  // A heap without threads in a shared memory: the making thread's token in the lock's heartbeat
  // word (a threads heap's alone), for attachHeap in another thread to warn (AGENT_TOKEN).
  if (!o.threads && isSharedBuffer(memory.buffer)) memory.views.u32[(heapBase >>> 2) + H.LOCK_BEAT] = AGENT_TOKEN;
  return new Heap(memory, heapBase, o.debug, true, o.sampleInterval);
}

/** Heaps made in this thread, by memory: heapBase -> the end the heap may grow to (refuseOverlap). */
const madeHere = new WeakMap<object, Map<number, number>>();

/**
 * createHeap at a heapBase inside the room of another heap made in this thread over the same
 * memory (one made without maxBytes may grow over the whole memory), or whose own room takes in
 * that heap's base: a RangeError naming both (two heaps allowed to grow over one another's
 * blocks and header: the damage surfaced much later as "a write over the heap header?"). A heap
 * whose header is gone (magic or base) no longer counts; the same heapBase is a heap made anew.
 */
function refuseOverlap(memory: Memory, heapBase: number): void {
  let made = madeHere.get(memory.source);
  if (made === undefined) madeHere.set(memory.source, (made = new Map()));
  const u32 = memory.views.u32;
  const end = memory.maxBytes;
  for (const [base, to] of made) {
    const alive = (base >>> 2) + H.HEAP_BASE < u32.length && u32[base >>> 2] === HEAP_MAGIC && u32[(base >>> 2) + H.HEAP_BASE] === base;
    if (!alive || base === heapBase) {
      made.delete(base);
      continue;
    }
    if (heapBase < to && base < end)
      throw new RangeError(
        `createHeap: a heap at ${hex(heapBase)} growing to ${hex(end)} would overlap the heap at ${hex(base)} of this memory, which may grow to ${hex(to)}: give each heap its own range (maxBytes of the lower one at most the higher one's heapBase)`,
      );
  }
  made.set(heapBase, end);
}

/**
 * createHeap over a shared memory whose heapBase holds a heap with threads that another thread
 * still uses (a live thread slot this thread's handles did not claim; this thread may make a
 * heap anew over its own, as the benchmarks do between runs): formatting it anew would
 * hand out blocks over that thread's live ones, and nothing would notice (a Worker that called
 * createHeap on the memory it was sent instead of attachHeap: a helper's probe, 2026-12-06).
 * Read without the lock: a header that does not look like one is none to refuse.
 */
function refuseOthersHeap(memory: Memory, heapBase: number): void {
  const u32 = memory.views.u32;
  const hw = heapBase >>> 2;
  if (hw + H.LOCK_BEAT >= u32.length || u32[hw + H.MAGIC] !== HEAP_MAGIC || u32[hw + H.HEAP_BASE] !== heapBase) return;
  if ((u32[hw + H.FLAGS] & HeapFlag.THREADS) === 0) {
    // A heap without threads made by another thread (its token, AGENT_TOKEN, in LOCK_BEAT).
    const token = u32[hw + H.LOCK_BEAT];
    if (token === 0 || token === AGENT_TOKEN) return;
    throw new PymallocError(
      `createHeap: this memory already holds a heap at ${hex(heapBase)}, made by another thread; a new heap over it would hand out blocks over that heap's. Open it with attachHeap(memory${heapBase === 0 ? "" : `, { heapBase: ${heapBase} }`}) (with restored: true to take it over from a thread that stopped using it); to make a new heap there anyway, clear the old one's first word (its magic number) first`,
      heapBase,
    );
  }
  const max = u32[hw + H.MAX_THREADS];
  const slots = heapBase + u32[hw + H.THREAD_SLOTS];
  if (max > MAX_MAX_THREADS || slots + max * Slot.BYTES > u32.length * 4) return;
  const mine = localSlots.get(memory.source)?.get(heapBase);
  for (let k = 0; k < max; k++) {
    if (u32[(slots + k * Slot.BYTES + Slot.STATE) >>> 2] !== SlotState.LIVE || mine?.has(k) === true) continue;
    throw new PymallocError(
      `createHeap: this memory already holds a heap with threads at ${hex(heapBase)}, in use by thread ${k} (a handle in another thread); a new heap over it would hand out blocks over that thread's. Open it with attachHeap(memory${heapBase === 0 ? "" : `, { heapBase: ${heapBase} }`}); a new heap may be made there once every other thread has called detachThread() or been adopted (adoptThread)`,
      heapBase,
    );
  }
}

/** adoptThread waits for a thread's pools to be still this long, looking this often, at most this long (in a page: the last two). */
const ADOPT_QUIET_MS = 50;
const ADOPT_LOOK_MS = 25;
const ADOPT_WAIT_MS = 10_000;
const ADOPT_QUIET_PAGE_MS = 600;
const ADOPT_WAIT_PAGE_MS = 3_000;


/**
 * This thread's token (each Worker loads this module anew: another token), written by createHeap
 * into a heap made without threads in a shared memory. Such a heap attached where the token
 * differs is another thread's: both using it would race (two threads popping one free list can
 * hand one block to both), so attachHeap warns once per memory. Not an error: a thread may take
 * a heap over from one that stopped using it. (Nothing was said before: a helper's two Workers on
 * such a heap got misleading HeapCorruptionErrors, 2026-12-06.)
 */
const AGENT_TOKEN = randomToken();

/** A random non-zero word below 2^31: a thread's token (AGENT_TOKEN), a slot's claim (Slot.CLAIM). */
function randomToken(): number {
  return ((Math.random() * 0x7fffffff) | 0) || 1;
}
const warnedOthers = new WeakSet<object>();
let warnedIsolation = false;

/**
 * A free thread slot of the heap, claimed for this thread: its id. Under the heap's lock: a slot
 * claimed for the first time gets its usedpools array (Used), a raw chunk of the allocator's own
 * (formatUsed), kept when the thread detaches for the next thread that claims the slot; slot 0
 * and the orphan slot have theirs in the header. check() then never sees a live slot without one.
 */
function claimSlot(memory: Memory, raw: RawAllocator, lock: SharedLock, heapBase: number, claim: number): number {
  const hw = heapBase >>> 2;
  lock.acquire();
  let max = 0;
  try {
    memory.refresh();
    const i32 = memory.views.i32;
    max = i32[hw + H.MAX_THREADS];
    const slots = heapBase + i32[hw + H.THREAD_SLOTS];
    for (let k = 0; k < max; k++) {
      const st = (slots + k * Slot.BYTES + Slot.STATE) >>> 2;
      if (Atomics.compareExchange(i32, st, SlotState.FREE, SlotState.LIVE) !== SlotState.FREE) continue;
      // A free slot has no claim (orphanSlot clears it with STATE). One that has is held by a
      // handle whose STATE word a stray write set to FREE: taken, two handles would allocate
      // through one usedpools. Left as found, refused (check() names it too).
      const held = Atomics.load(i32, (slots + k * Slot.BYTES + Slot.CLAIM) >>> 2);
      if (held !== 0) {
        Atomics.store(i32, st, SlotState.FREE);
        throw new HeapCorruptionError(
          slots + k * Slot.BYTES + Slot.STATE,
          `thread slot ${k}: its STATE word says free, but the slot holds a handle's claim (${hex(held >>> 0)}): a write over the STATE word (taking the slot would give two handles one slot)`,
          "Slot.STATE",
        );
      }
      const uw = (slots + k * Slot.BYTES + Slot.USED) >>> 2;
      if (memory.views.u32[uw] === 0) {
        const at = raw.mallocInternal(Used.BYTES);
        if (at === 0) {
          Atomics.store(memory.views.i32, st, SlotState.FREE);
          throw new PymallocError(`out of memory: thread slot ${k} of the heap at ${hex(heapBase)} needs ${Used.BYTES} bytes for its usedpools`, heapBase);
        }
        formatUsed(memory.views.u32, at, k);
        Atomics.store(memory.views.i32, uw, at + Used.HEADS);
      }
      Atomics.store(memory.views.i32, (slots + k * Slot.BYTES + Slot.CLAIM) >>> 2, claim);
      return k;
    }
  } finally {
    lock.release();
  }
  throw new PymallocError(`all ${max} thread slots of the heap at ${hex(heapBase)} are in use: threads that are done call detachThread() (raise createHeap's maxThreads otherwise)`, heapBase);
}

/** A buffer of 0 bytes that is not detached (Memory calls that a RangeError: nothing to make a heap in): attachHeap's truncated copy. */
function isEmptyCopy(memory: MemorySource): boolean {
  const buf = memory instanceof WebAssembly.Memory ? memory.buffer : memory;
  if (!(buf instanceof ArrayBuffer || isSharedBuffer(buf)) || buf.byteLength !== 0) return false;
  try {
    new Uint8Array(buf); // throws when detached (Memory says so)
  } catch {
    return false;
  }
  return true;
}

/**
 * The heap already in this memory (made by createHeap here, in another thread, or saved).
 * Its header is validated first (heap/layout.ts validateHeader): a damaged or truncated copy is
 * a HeapCorruptionError naming the field, before anything follows it. Chunks, pools and lists
 * are check()'s to verify: call it on a copy you do not trust.
 */
export function attachHeap(memory: MemorySource, options: AttachOptions = {}): Heap {
  checkOptions(options, ATTACH_OPTIONS, "attachHeap");
  const heapBase = Math.ceil(byteOption(options.heapBase, "heapBase", 0) / 16) * 16;
  if (options.restored !== undefined && typeof options.restored !== "boolean") throw new TypeError(`attachHeap: restored must be true or false, got ${typeName(options.restored)}`);
  const restored = options.restored === true;
  if (isEmptyCopy(memory)) throw new HeapCorruptionError(heapBase, "no pymalloc heap: the memory has 0 bytes (an empty or truncated copy?)", "H.MAGIC");
  const m = new Memory(memory, DEFAULT_MAX_BYTES);
  // A heapBase past the memory is the caller's mistake, not a heap's damage (2 ** 32 read as
  // "no pymalloc heap at 0x00000000").
  // An empty or few-byte memory with no heapBase given is a truncated copy: the header's to say.
  if (heapBase >= m.byteLength) {
    if (options.heapBase === undefined || heapBase === 0)
      throw new HeapCorruptionError(heapBase, `no pymalloc heap: the memory has ${m.buffer.byteLength} bytes, fewer than a heap header (a truncated copy?)`, "H.MAGIC");
    throw new RangeError(`heapBase ${heapBase} lies past the memory's ${m.byteLength} bytes`);
  }
  validateHeader(m.views.u32, m.byteLength, heapBase, true);
  const threads = (m.views.u32[(heapBase >>> 2) + H.FLAGS] & HeapFlag.THREADS) !== 0;
  // A copy taken while a thread held the lock holds it still, and nobody is left to let it go.
  if (threads && restored && m.views.u32[(heapBase >>> 2) + H.LOCK] <= 2) m.views.u32[(heapBase >>> 2) + H.LOCK] = 0;
  if (threads && isSharedBuffer(m.buffer)) {
    // Other threads may be allocating: the rest of the header is read under the lock.
    const lock = new SharedLock(m.views.i32, (heapBase >>> 2) + H.LOCK);
    lock.acquire(CHECK_WAIT_MS);
    try {
      m.refresh();
      validateHeader(m.views.u32, m.byteLength, heapBase);
    } finally {
      lock.release();
    }
  } else validateHeader(m.views.u32, m.byteLength, heapBase);
  const token = m.views.u32[(heapBase >>> 2) + H.LOCK_BEAT];
  if (!threads && restored && isSharedBuffer(m.buffer)) m.views.u32[(heapBase >>> 2) + H.LOCK_BEAT] = AGENT_TOKEN; // this thread's now
  else if (!threads && isSharedBuffer(m.buffer) && token !== 0 && token !== AGENT_TOKEN && !warnedOthers.has(memory)) {
    warnedOthers.add(memory);
    console.warn(
      `pymalloc: attachHeap: the heap at ${hex(heapBase)} was made without threads: true in another thread; if both threads use it, they race (a block handed to both, heaps reported damaged). Make it with createHeap({ threads: true }) to share it between Workers`,
    );
  }
  const maxBytes = m.views.u32[(heapBase >>> 2) + H.MAX_BYTES];
  // A copy loaded into a longer memory: the pages past the heap's end are its own (nothing else
  // grew them), up to its growth limit; else they were fenced off, never used (a helper's probe).
  if (restored) {
    const own = Math.floor(Math.min(m.byteLength, maxBytes) / 8) * 8;
    if (own > m.views.u32[(heapBase >>> 2) + H.END]) m.views.u32[(heapBase >>> 2) + H.END] = own;
  }
  // A copy in a shorter memory (no threads: one that a live thread may be growing is read under
  // its lock): its end comes down to the memory's, so that pages a module grows before the heap
  // does are fenced as the module's, not taken as the heap's (check() holds the end to it).
  if (!threads && m.views.u32[(heapBase >>> 2) + H.END] > m.byteLength) m.views.u32[(heapBase >>> 2) + H.END] = Math.floor(m.byteLength / 8) * 8;
  // A threads heap is grown by whichever thread needs room. Through a SharedArrayBuffer that
  // cannot grow (a shared WebAssembly.Memory's .buffer, say), this handle would never see the
  // bytes past its length: once another thread grew the memory, it read the intact heap as
  // damaged ("top ... is no top", a live block "not a block"). Refused here, saying what to pass.
  if (threads && isSharedBuffer(memory) && !(memory as { growable?: boolean }).growable && maxBytes > m.byteLength)
    throw new TypeError(
      `attachHeap: this heap (threads: true) may grow to ${maxBytes} bytes, but this SharedArrayBuffer is fixed at ${m.byteLength}: another thread's growth would be out of this handle's sight. ` +
        "Pass the memory the heap was made in (heap.memory.source: the WebAssembly.Memory itself, not its .buffer, or the growable SharedArrayBuffer); a copy of the heap's bytes goes in a growable SharedArrayBuffer (new SharedArrayBuffer(n, { maxByteLength }))",
    );
  // A restored copy is a heap of its own from here: another identity than the heap it was copied
  // from (views over the original's memory are not its views).
  if (restored) m.views.u32[(heapBase >>> 2) + H.IDENTITY] = heapIdentity();
  const heap = new Heap(maxBytes === m.maxBytes ? m : new Memory(memory, maxBytes), heapBase, debugOptions(options));
  if (threads && restored) heap.reclaimSlots();
  return heap;
}
