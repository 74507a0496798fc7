/**
 * debug/sampler.ts — the sample table of sampled allocation sites (createHeap's `sampleInterval`):
 * one handle's view of it.
 *
 * Owns: the sample table in the heap's memory (insert, lookup, removal, rehash, shrink; the
 * checks of its words every reader makes: tableAt, tables, prevFault), the captured stacks of this
 * handle's samples (site ids), the weights that turn samples back into estimates of blocks and
 * bytes. Must not: allocate a user's block or touch one's bytes, or decide what is sampled
 * (debug/sampling.ts: the families and their countdown).
 *
 * Where state lives (the rule): everything about a sampled block lives in the heap's memory: the
 * sampling state (made with the heap, its address in the header's SAMPLES word: the interval, a
 * bitmap with a bit set for each 16 KiB region where a sampled block starts, so that a free tests
 * one bit, and the count of tables held) and the sample table it points to, an open-addressing
 * hash table allocated from the raw allocator: address, requested size, family, the recording
 * handle's tag and a site id per sampled block. Only what cannot live there, the captured stacks,
 * lives in JS: each heap handle keeps the stacks it captured in a table of its own, indexed by the
 * site id stored in the heap (as the debug hooks keep their sites, debug/sites.ts). Another
 * handle's site ids are not ours to resolve: those samples still count, under "(sampled in thread
 * N)" or "(sampled by another handle of this heap)".
 *
 * Threads: inserts and removals take the heap's lock; a free looks its block up without it (a
 * block is in the table before any other thread can hold it). A table replaced by a larger one
 * is not freed in a shared heap (a lock-free lookup may still be reading it): it stays linked
 * from its successor and is left out of walks and snapshots.
 */

import { Sample } from "../constants.js";
import { HeapCorruptionError, hex } from "../errors.js";
import { isOwnFrame, stackText } from "./report.js";
import type { Memory } from "../memory/memory.js";
import type { SharedLock } from "../threads/lock.js";
import type { SampledFamily } from "./sampling.js";
import { spanEnd, spanStart } from "./spans.js";

spanStart(new Error()); // debug/spans.ts

/** Bitmap bytes for a memory of at most maxBytes. */
export const mapBytes = (maxBytes: number): number => Math.ceil(Math.ceil(maxBytes / 2 ** Sample.MAP_SHIFT) / 8);

/** The site word: thread id + 1 above this bit, the handle's stack id below. */
const SITE_THREAD_SHIFT = 20;
const SITE_ID_MASK = (1 << SITE_THREAD_SHIFT) - 1;
/** Fibonacci hashing: the top bits of address * 2^32/phi pick the slot. */
const GOLDEN = 0x9e3779b1 | 0;

/** Frames a sample captures: the caller of malloc and a few above it (reports show three). */
const STACK_FRAMES = 5;
/** Sweep for ids of samples freed by other handles once this many ids are out. */
const SWEEP_AT = 4096;
const FAMILY_CODE: Record<string, number> = { o: 0x6f, m: 0x6d, r: 0x72 };
const FAMILY_OF: Record<number, string> = { 0x6f: "o", 0x6d: "m", 0x72: "r" };

/** What a live sampled block stands for: Go's and jemalloc's unbiasing of Poisson sampling. */
export function sampleWeight(size: number, interval: number): number {
  if (typeof size !== "number" || typeof interval !== "number") throw new TypeError(`sampleWeight(size, interval) takes two numbers, got ${typeof size} and ${typeof interval}`);
  if (!(size >= 0 && size < Infinity)) throw new RangeError(`sampleWeight: size must be a non-negative number of bytes, got ${size}`);
  if (!(interval > 0 && interval < Infinity)) throw new RangeError(`sampleWeight: interval must be a positive number of bytes, got ${interval}`);
  // A block of s bytes is sampled with probability 1 - exp(-s/N): it stands for 1/that blocks.
  const q = 1 - Math.exp(-Math.max(size, 1) / interval);
  return q > 0 ? 1 / q : 1;
}

/** One live sampled block, as read from the table. */
export interface SampledBlock {
  address: number;
  size: number;
  family: string;
  site: string;
  /** How many blocks this sample stands for (1 / its probability of being sampled). */
  weight: number;
}

/** Per-handle sampling state: the table in memory, the stacks in JS. */
export class Sampler {
  readonly memory: Memory;
  readonly interval: number;
  /** u32 index of the heap header's SAMPLES word (the table's address). */
  readonly tableWord: number;
  private readonly lock: SharedLock | undefined;
  private readonly threadId: number;
  private readonly alloc: (bytes: number) => number;
  private readonly release: (p: number) => void;
  /**
   * Captured stacks by site id (index id - 1): the capture object until a report first formats
   * it, then its string. Capturing is most of a sample's cost, formatting most of the rest, so a
   * sample only captures (at most STACK_FRAMES frames, those above the family's method left out);
   * reports format. Ids of freed samples are reused (free list), and those of samples other
   * threads freed are found by a sweep of the table when the list runs dry.
   */
  private readonly stacks: Array<{ stack?: string } | string | undefined> = [];
  private readonly freeIds: number[] = [];
  /** Sweep when this many ids are out and none is free (doubles with the live samples). */
  private sweepAt = SWEEP_AT;
  /**
   * This handle's tag, stored above the family byte of its entries: a site id is resolved only
   * by the handle that interned it (a re-attached heap's handle has the same thread id).
   */
  private readonly tag = 1 + Math.floor(Math.random() * 0xfffffe);

  /** Address of the sampling state (see the file header) and of its bitmap. */
  readonly state: number;
  readonly map: number;
  private readonly mapBytes: number;

  /** The table this handle last found sound (tableAt), and its shift: a cache of a check, not state. */
  private seenTable = 0;
  private seenShift = 0;
  private readonly usable: (p: number) => number;

  constructor(memory: Memory, state: number, threadId: number, lock: SharedLock | undefined, alloc: (bytes: number) => number, release: (p: number) => void, usable: (p: number) => number) {
    this.usable = usable;
    this.memory = memory;
    this.state = state;
    this.map = state + Sample.S_MAP;
    this.mapBytes = mapBytes(memory.maxBytes);
    this.interval = memory.views.u32[(state + Sample.S_INTERVAL) >>> 2];
    this.tableWord = (state + Sample.S_TABLE) >>> 2;
    this.threadId = threadId;
    this.lock = lock;
    this.alloc = alloc;
    this.release = release;
  }

  /** The next countdown: an exponential draw with mean `interval` bytes (at least 1). */
  next(): number {
    return (Math.min(0x3fffffff, Math.ceil(-Math.log(1 - Math.random()) * this.interval)) | 0) || 1;
  }

  /** Record p (n bytes, family fam) in the table with the current stack. Returns p. */
  record(fam: SampledFamily, p: number, n: number, op: number): number {
    const word = this.siteWord(fam, op);
    this.locked(() => this.insert(p, n, FAMILY_CODE[fam.id] | (this.tag << 8), word));
    return p;
  }

  /**
   * The sample table the state's S_TABLE word names (0: none yet), after checking what every walk
   * of it follows: a live raw block long enough for the capacity its SHIFT word gives (256 to 2^28
   * entries), its counts within that capacity. A stray write over the word or the table's header
   * is a HeapCorruptionError naming it, never a search or walk that does not end, nor entries
   * written into a user's block. Checked once per table and shift this handle sees (a cache).
   * unlocked: the caller does not hold the lock. A table not checked yet is then checked under
   * it: the check reads the raw allocator's chunk headers around the table, which another thread
   * may be rewriting (a neighbour split or merged, the top moving), and the table may lie past
   * this thread's views (another thread grew the memory): unlocked, a sound table could be
   * called damaged.
   */
  tableAt(u32: Uint32Array, unlocked = false): number {
    const t = u32[this.tableWord];
    if (t === 0) return 0;
    const shift = u32[(t + Sample.SHIFT) >>> 2];
    if (t === this.seenTable && shift === this.seenShift) return t;
    if (unlocked && this.lock !== undefined) {
      let checked = 0;
      this.locked(() => {
        checked = this.tableAt(this.memory.views.u32);
      });
      return checked;
    }
    const at = this.tableWord * 4;
    const shape = this.tableShape(u32, t);
    if (shape === TableShape.ADDRESS) throw new HeapCorruptionError(at, `sample table ${hex(t)} is no block address`, "Sample.S_TABLE");
    if (shape === TableShape.SHIFT) throw new HeapCorruptionError(t + Sample.SHIFT, `sample table ${hex(t)}: shift ${shift} gives no capacity it is ever made with`, "Sample.SHIFT");
    const cap = 2 ** (32 - shift);
    if (shape === TableShape.BLOCK) throw new HeapCorruptionError(at, `sample table ${hex(t)} is no live block of its ${Sample.HEADER + cap * Sample.ENTRY} bytes`, "Sample.S_TABLE");
    const live = u32[(t + Sample.LIVE) >>> 2];
    const used = u32[(t + Sample.USED) >>> 2];
    if (live > used || used > cap) throw new HeapCorruptionError(t + Sample.USED, `sample table ${hex(t)}: ${live} live and ${used} used entries of ${cap}`, "Sample.USED");
    this.seenTable = t;
    this.seenShift = shift;
    return t;
  }

  /** Entries in use (neither empty nor removed) in the table at t, counted. */
  countEntries(u32: Uint32Array, t: number): number {
    let n = 0;
    const end = t + Sample.HEADER + tableCapacity(u32, t) * Sample.ENTRY;
    for (let e = t + Sample.HEADER; e < end; e += Sample.ENTRY) {
      const k = u32[e >>> 2];
      if (k !== 0 && k !== Sample.TOMBSTONE) n++;
    }
    return n;
  }

  /** check(): the next tableAt checks the table again, whatever this handle saw before. */
  forgetSeen(): void {
    this.seenTable = 0;
  }

  /** The slot of p in the table at t, or 0. No lock: see the header. */
  find(t: number, p: number): number {
    let v = this.memory.current(); // detached views made current first (memory.ts, DETACHED)
    if (t + Sample.HEADER > v.u8.length) {
      this.memory.refresh();
      v = this.memory.views;
    }
    const u32 = v.u32;
    const shift = u32[(t + Sample.SHIFT) >>> 2];
    const mask = (1 << (32 - shift)) - 1;
    if (t + Sample.HEADER + (mask + 1) * Sample.ENTRY > u32.length * 4) return this.findAfterGrowth(t, p);
    // Every slot at most once: a table with no empty slot (written over) ends the search.
    for (let i = Math.imul(p, GOLDEN) >>> shift, left = mask + 1; left > 0; i = (i + 1) & mask, left--) {
      const e = t + Sample.HEADER + i * Sample.ENTRY;
      const k = u32[e >>> 2];
      if (k === p) return e;
      if (k === 0) return 0;
    }
    return 0;
  }

  /** The table reaches past our views: another thread grew the memory (or the word is damaged: then 0). */
  private findAfterGrowth(t: number, p: number): number {
    return this.memory.refresh() ? this.find(t, p) : 0;
  }

  /** p may have been sampled (its region's bit is set) and is being freed or moved: drop its entry. */
  forget(p: number): void {
    // The bit only says "maybe": most blocks of a marked region were not sampled, and need no lock.
    const t0 = this.tableAt(this.memory.current().u32, true);
    if (t0 === 0 || this.find(t0, p) === 0) return;
    this.locked(() => {
      const t = this.tableAt(this.memory.views.u32);
      const e = t === 0 ? 0 : this.find(t, p);
      if (e === 0) return;
      const u32 = this.memory.views.u32;
      this.dropSite(e);
      u32[e >>> 2] = Sample.TOMBSTONE;
      u32[(t + Sample.LIVE) >>> 2]--;
    });
  }

  private locked(fn: () => void): void {
    if (this.lock === undefined) fn();
    else {
      this.lock.acquire();
      this.memory.refresh();
      try {
        fn();
      } finally {
        this.lock.release();
      }
    }
  }

  /** A new site id holding the current stack (above the family's method `op`). */
  private siteWord(fam: SampledFamily, op: number): number {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = STACK_FRAMES;
    const e: { stack?: string } = {};
    Error.captureStackTrace(e, op === 0 ? fam.malloc : op === 1 ? fam.calloc : fam.realloc); // the family's method (its prototype's): frames above it
    Error.stackTraceLimit = limit;
    if (this.freeIds.length === 0 && this.stacks.length >= this.sweepAt) this.sweep();
    let id = this.freeIds.pop();
    if (id === undefined) {
      id = this.stacks.length + 1;
      if (id > SITE_ID_MASK) return 0; // too many live samples of this handle: not recorded
      this.stacks.push(e);
    } else this.stacks[id - 1] = e;
    return (((this.threadId + 1) << SITE_THREAD_SHIFT) | id) >>> 0;
  }

  /** Give back the ids of this handle's stacks that no table entry names any more. */
  private sweep(): void {
    const used = new Uint8Array(this.stacks.length + 1);
    const t = this.tableAt(this.memory.current().u32, true);
    const u32 = this.memory.views.u32;
    if (t !== 0) {
      const end = t + Sample.HEADER + tableCapacity(u32, t) * Sample.ENTRY;
      for (let e = t + Sample.HEADER; e < end; e += Sample.ENTRY) {
        const k = u32[e >>> 2];
        if (k !== 0 && k !== Sample.TOMBSTONE && u32[(e + Sample.E_FAMILY) >>> 2] >>> 8 === this.tag) used[u32[(e + Sample.E_SITE) >>> 2] & SITE_ID_MASK] = 1;
      }
    }
    let live = 0;
    for (let id = this.stacks.length; id >= 1; id--) {
      if (used[id] !== 0) live++;
      else if (this.stacks[id - 1] !== undefined) {
        this.stacks[id - 1] = undefined;
        this.freeIds.push(id);
      }
    }
    this.sweepAt = Math.max(SWEEP_AT, 2 * live);
  }

  /** An entry of this handle is leaving the table: its stack's id is free again. */
  private dropSite(e: number): void {
    const u32 = this.memory.views.u32;
    if (u32[(e + Sample.E_FAMILY) >>> 2] >>> 8 !== this.tag) return;
    const id = u32[(e + Sample.E_SITE) >>> 2] & SITE_ID_MASK;
    if (id === 0 || this.stacks[id - 1] === undefined) return;
    this.stacks[id - 1] = undefined;
    this.freeIds.push(id);
  }

  private insert(p: number, n: number, code: number, site: number): void {
    let u32 = this.memory.current().u32;
    let t = this.tableAt(u32);
    if (t === 0 || (u32[(t + Sample.USED) >>> 2] + 1) * 2 > tableCapacity(u32, t)) {
      t = this.rehash(t);
      if (t === 0) return; // no memory for the table: this sample is lost, the block is fine
      u32 = this.memory.views.u32;
    }
    const shift = u32[(t + Sample.SHIFT) >>> 2];
    const mask = (1 << (32 - shift)) - 1;
    let i = Math.imul(p, GOLDEN) >>> shift;
    let e = t + Sample.HEADER + i * Sample.ENTRY;
    // Every slot at most once (the table is kept at most half full; one written over may not be):
    // no free slot and this sample is lost, the block is fine.
    for (let left = mask; u32[e >>> 2] !== 0 && u32[e >>> 2] !== Sample.TOMBSTONE && u32[e >>> 2] !== p; left--) {
      if (left === 0) return;
      i = (i + 1) & mask;
      e = t + Sample.HEADER + i * Sample.ENTRY;
    }
    const was = u32[e >>> 2];
    if (was === p) this.dropSite(e); // a block freed below without our free (cannot happen through the families)
    u32[(e + Sample.E_SIZE) >>> 2] = n;
    u32[(e + Sample.E_SITE) >>> 2] = site;
    u32[(e + Sample.E_FAMILY) >>> 2] = code;
    // The key last: a lock-free find() sees a whole entry or none; then the block's bit.
    Atomics.store(u32, e >>> 2, p);
    this.memory.views.u8[this.map + (p >>> (Sample.MAP_SHIFT + 3))] |= 1 << ((p >>> Sample.MAP_SHIFT) & 7);
    if (was !== p) u32[(t + Sample.LIVE) >>> 2]++;
    if (was === 0) u32[(t + Sample.USED) >>> 2]++;
  }

  /** A new table twice as large as the live entries need, with them moved in; its address or 0. */
  private rehash(old: number): number {
    let u32 = this.memory.views.u32;
    // The entries counted, not read from LIVE: a LIVE a stray write lowered sized a table too
    // small for them, and the move below probed it for a free slot for ever.
    const live = old === 0 ? 0 : this.countEntries(u32, old);
    let cap = Sample.MIN_CAPACITY;
    while (cap < (live + 1) * 4) cap *= 2;
    const t = this.alloc(Sample.HEADER + cap * Sample.ENTRY);
    if (t === 0) return 0;
    this.memory.refresh();
    u32 = this.memory.views.u32;
    u32[(this.state + Sample.S_TABLES) >>> 2]++;
    u32.fill(0, t >>> 2, (t + Sample.HEADER + cap * Sample.ENTRY) >>> 2);
    u32[(t + Sample.SHIFT) >>> 2] = 32 - Math.log2(cap);
    u32[(t + Sample.PREV) >>> 2] = 0;
    if (old !== 0) {
      const shift = u32[(t + Sample.SHIFT) >>> 2];
      const end = old + Sample.HEADER + tableCapacity(u32, old) * Sample.ENTRY;
      for (let e = old + Sample.HEADER; e < end; e += Sample.ENTRY) {
        const k = u32[e >>> 2];
        if (k === 0 || k === Sample.TOMBSTONE) continue;
        let i = Math.imul(k, GOLDEN) >>> shift;
        while (u32[(t + Sample.HEADER + i * Sample.ENTRY) >>> 2] !== 0) i = (i + 1) & (cap - 1);
        u32.copyWithin((t + Sample.HEADER + i * Sample.ENTRY) >>> 2, e >>> 2, (e + Sample.ENTRY) >>> 2);
      }
      u32[(t + Sample.LIVE) >>> 2] = live;
      u32[(t + Sample.USED) >>> 2] = live;
      if (this.lock === undefined) {
        this.release(old);
        u32[(this.state + Sample.S_TABLES) >>> 2]--;
        // Bits of blocks freed since: cleared, those of the live samples set again.
        const u8 = this.memory.views.u8;
        u8.fill(0, this.map, this.map + this.mapBytes);
        const end = t + Sample.HEADER + cap * Sample.ENTRY;
        for (let e = t + Sample.HEADER; e < end; e += Sample.ENTRY) {
          const k = u32[e >>> 2];
          if (k !== 0) u8[this.map + (k >>> (Sample.MAP_SHIFT + 3))] |= 1 << ((k >>> Sample.MAP_SHIFT) & 7);
        }
      } else u32[(t + Sample.PREV) >>> 2] = old; // a lock-free find() may still read it; bits stay set
    }
    Atomics.store(u32, this.tableWord, t);
    return t;
  }

  /** The stack of a site word, when this handle (tag) recorded it. */
  siteOf(word: number, tag: number): string {
    const id = word & SITE_ID_MASK;
    const thread = (word >>> SITE_THREAD_SHIFT) - 1;
    if (id === 0) return "(allocation site not recorded)";
    if (tag === this.tag && id <= this.stacks.length) {
      const st = this.stacks[id - 1];
      if (typeof st === "string") return st;
      if (st !== undefined) return (this.stacks[id - 1] = userFrames(stackText(st)));
    }
    return thread !== this.threadId ? `(sampled in thread ${thread})` : "(sampled by another handle of this heap)";
  }

  /** Every live sampled block, with its weight. */
  samples(): SampledBlock[] {
    const out: SampledBlock[] = [];
    const u32 = this.memory.views.u32;
    const t = this.tableAt(u32);
    if (t === 0) return out;
    // The entries read first, their sites named after: naming one formats a stack, which a
    // global Error.prepareStackTrace may answer by allocating (a sample added under this walk).
    const words: number[] = [];
    const end = t + Sample.HEADER + tableCapacity(u32, t) * Sample.ENTRY;
    for (let e = t + Sample.HEADER; e < end; e += Sample.ENTRY) {
      const k = u32[e >>> 2];
      if (k !== 0 && k !== Sample.TOMBSTONE) words.push(k, u32[(e + Sample.E_SIZE) >>> 2], u32[(e + Sample.E_SITE) >>> 2], u32[(e + Sample.E_FAMILY) >>> 2]);
    }
    // Every entry in use read (an entry's address written over lost a sample from the estimates).
    const live = u32[(t + Sample.LIVE) >>> 2];
    if (words.length / 4 !== live) throw new HeapCorruptionError(t + Sample.LIVE, `sample table ${hex(t)}: LIVE says ${live} entries, it holds ${words.length / 4} (a write over an entry?)`, "Sample.LIVE");
    for (let i = 0; i < words.length; i += 4) {
      const size = words[i + 1];
      const fw = words[i + 3];
      out.push({ address: words[i], size, family: FAMILY_OF[fw & 0xff] ?? "?", site: this.siteOf(words[i + 2], fw >>> 8), weight: sampleWeight(size, this.interval) });
    }
    return out;
  }

  /** A view of the bitmap over the current buffer. */
  bitmap(): Uint8Array {
    return new Uint8Array(this.memory.buffer, this.map, this.mapBytes);
  }

  /**
   * heap.collect() and a raw allocator that cannot grow: a table far larger than its live
   * samples need (it grows with them, and a burst of samples freed since leaves it so) is made
   * again at the size they need, or given back when none is left. Whether bytes went back.
   * Heaps with threads keep theirs: a lock-free find() may be reading it (see the header).
   */
  shrink(): boolean {
    if (this.lock !== undefined) return false;
    const u32 = this.memory.current().u32;
    const t = this.tableAt(u32);
    if (t === 0) return false;
    const live = u32[(t + Sample.LIVE) >>> 2];
    if (live === 0) {
      this.release(t);
      Atomics.store(this.memory.views.u32, this.tableWord, 0);
      this.memory.views.u32[(this.state + Sample.S_TABLES) >>> 2] = 0;
      this.memory.views.u8.fill(0, this.map, this.map + this.mapBytes); // no sample left: no region is marked
      this.seenTable = 0;
      return true;
    }
    let need = Sample.MIN_CAPACITY;
    while (need < (live + 1) * 4) need *= 2;
    return need * 4 <= tableCapacity(u32, t) && this.rehash(t) !== 0;
  }

  /**
   * Blocks of the sampling machinery: the state, the sample table and (in a shared heap) those it
   * replaced, as far as their PREV words name tables (prevFault(): check() names a stray one; it
   * is not followed, or a user's block it named would leave leaks() and stats() as ours).
   */
  tables(): Set<number> {
    const u32 = this.memory.views.u32;
    const out = new Set<number>([this.state]);
    const t = this.tableAt(u32); // a word that names no table is named, not walked as one
    const held = u32[(this.state + Sample.S_TABLES) >>> 2];
    // A table held but none named: its block would read as a user's (check() names the count too).
    if (t === 0 && held !== 0) throw new HeapCorruptionError(this.tableWord * 4, `the sampling state names no sample table but holds ${held} (a write over the word?)`, "Sample.S_TABLE");
    if (t === 0) return out;
    out.add(t);
    for (let prev = u32[(t + Sample.PREV) >>> 2]; prev !== 0 && this.replacedTable(u32, prev) && !out.has(prev); prev = u32[(prev + Sample.PREV) >>> 2]) out.add(prev);
    return out;
  }

  /** Whether t can be a table rehash() replaced in this heap: with threads, a live raw block of the capacity its SHIFT says. */
  private replacedTable(u32: Uint32Array, t: number): boolean {
    return this.lock !== undefined && this.tableShape(u32, t) === TableShape.OK;
  }

  /** Whether t is a table's block as rehash() makes one, else the first test it fails (tableAt's and replacedTable's). */
  private tableShape(u32: Uint32Array, t: number): TableShape {
    if ((t & 7) !== 0 || t + Sample.HEADER > u32.length * 4) return TableShape.ADDRESS;
    const shift = u32[(t + Sample.SHIFT) >>> 2];
    if (shift < 32 - MAX_TABLE_SHIFT || shift > 32 - Math.log2(Sample.MIN_CAPACITY)) return TableShape.SHIFT;
    return this.usable(t) >= Sample.HEADER + 2 ** (32 - shift) * Sample.ENTRY ? TableShape.OK : TableShape.BLOCK;
  }

  /**
   * check(): the first PREV word from the table at t that names no table rehash() replaced, as
   * [its address, why], or null. Without threads a replaced table is given back (PREV stays 0);
   * with them each is kept, a live raw block of its capacity, and none comes twice.
   */
  prevFault(u32: Uint32Array, t: number): [number, string] | null {
    const seen = new Set<number>([t]);
    for (let at = t + Sample.PREV, prev = u32[at >>> 2]; prev !== 0; at = prev + Sample.PREV, prev = u32[at >>> 2]) {
      if (seen.has(prev)) return [at, `sample table ${hex(at - Sample.PREV)}: PREV ${hex(prev)} names a table already in the chain`];
      if (!this.replacedTable(u32, prev))
        return [at, `sample table ${hex(at - Sample.PREV)}: PREV ${hex(prev)} names no sample table it replaced${this.lock === undefined ? " (a heap without threads gives replaced tables back)" : ""}: a write over the word?`];
      seen.add(prev);
    }
    return null;
  }
}

/** tableShape()'s answer: a sample table's block, or the first test it fails. */
const enum TableShape {
  OK,
  ADDRESS, // not 8-aligned, or past the memory
  SHIFT, // a shift of no capacity a table is made with
  BLOCK, // no live raw block of that capacity
}

/** The largest table's shift: 32 - 28 (2^28 entries of 16 bytes fill 4 GiB). */
const MAX_TABLE_SHIFT = 28;

function tableCapacity(u32: Uint32Array, t: number): number {
  return 2 ** (32 - u32[(t + Sample.SHIFT) >>> 2]);
}

/** The frames of a stack outside pymalloc, at most three (as the debug hooks keep): where user code allocated. */
export function userFrames(stack: string | undefined, skip = 1): string {
  if (!stack) return "(unknown)";
  const frames = stack
    .split("\n")
    .slice(skip)
    .map((l) => l.trim())
    .filter((l) => !/[\\/]debug[\\/]sampl(ing|er)\.[jt]s/.test(l) && !isOwnFrame(l));
  return frames.slice(0, 3).join(" <- ") || "(unknown)";
}

spanEnd(new Error());
