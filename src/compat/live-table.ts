/**
 * compat/live-table.ts — the set of live blocks of a foreign allocator, kept in its own memory.
 *
 * Owns: an open-addressing hash table (block base -> usable bytes) and a small control block
 * holding it and the debug hooks' two state words; both are allocated from the foreign allocator
 * itself (asMemPool: from the heap's raw allocator, below its hooks), so, like every pymalloc
 * heap, the state lives in the managed memory; the check of the control words that every access
 * makes first (open), and the recognition of the table's two blocks from memory alone
 * (isLiveTableBlock: walk(), leaks() and stats() leave them out, in every handle of a heap).
 * Must not: allocate or free user blocks; it only records what the adapter reports.
 *
 * A foreign allocator cannot tell whether a pointer is one of its live blocks. This table can:
 * it lets the adapter refuse a foreign pointer or a double free with an InvalidPointerError
 * before the foreign code sees it, answer usable sizes, and walk every live block.
 *
 * Its words are in memory other code writes (a C overflow next to them, a teardown that freed
 * them): every access checks them against each other and against the memory first (the control
 * block names itself, the table block names its control block and capacity, the table lies in
 * the memory, the counts within the capacity), so a search is bounded by slots that exist, and
 * damage is a HeapCorruptionError naming the word (a control block filled with 0xDD made free()
 * probe 4 billion slots, 2026-12-06).
 */

import { HeapCorruptionError, PymallocError, hex } from "../errors.js";
import type { Memory } from "../memory/memory.js";

/** Control block words (byte offsets). */
export const enum LiveCtl {
  MAGIC = 0,
  SERIAL = 4, // the debug hooks' allocation counter
  RING = 8, // the debug hooks' quarantine ring
  TABLE = 12, // the table block (LiveTab)
  CAPACITY = 16, // slots, a power of two
  COUNT = 20, // live entries
  USED = 24, // live entries + tombstones
  SELF = 28, // the control block's own address xor SELF_KEY
  BYTES = 32,
}
/** The table block: a header naming its control block, then the slots. */
export const enum LiveTab {
  OWNER = 0, // the control block's address xor OWNER_KEY
  CAPACITY = 4, // a copy of LiveCtl.CAPACITY
  SLOTS = 8,
}
const LIVE_MAGIC = 0x4c495645; // "LIVE"
const SELF_KEY = 0x5e1f7ab1;
const OWNER_KEY = 0x7ab1e0a1;
/** A slot: [base, usable] words. Base 0 = empty, 1 = deleted (no block starts at 1). */
const SLOT = 8;
const EMPTY = 0;
const DELETED = 1;
const INITIAL_CAPACITY = 256;

const tableBytes = (cap: number): number => LiveTab.SLOTS + cap * SLOT;

/** A block an allocator returned over one of its blocks still live (the table's own): its fault, not its caller's. */
export const handedTwice = (p: number, what: string): PymallocError =>
  new PymallocError(`the allocator returned ${hex(p)} for ${what} over pymalloc's live-block table, which it had handed out and is not freed: it hands out a live block again (the allocator's fault)`, p);

/** How the table gets memory: the foreign allocator's own malloc and free. */
export interface TableMemory {
  memory: Memory;
  malloc(n: number): number;
  free(p: number): void;
  /** Usable bytes of the live block p, 0 when it is none, where the allocator can tell (check() compares the table's blocks with it). */
  size?: (p: number) => number;
}

/**
 * Why a block p of n bytes that an allocator returned cannot be used (not 4-byte aligned, or past
 * the end of a memory of len bytes), or null when it can: for the table's own blocks here and
 * the user's in compat/foreign.ts.
 */
export function blockFault(p: number, n: number, len: number): string | null {
  if ((p & 3) !== 0) return "not 4-byte aligned";
  return p + Math.max(n, 1) > len ? `past the end of its memory (${len} bytes)` : null;
}

/** A block the allocator returned for the table's own use (n bytes) must lie in its memory, 4-byte aligned. */
function own(m: TableMemory, p: number, n: number): void {
  if (p + n > m.memory.current().u8.length) m.memory.refresh();
  const why = blockFault(p, n, m.memory.views.u8.length);
  if (why !== null) throw new PymallocError(`the allocator returned ${hex(p)} for the live-block table's ${n} bytes: ${why}`, p);
}

/** Whether u32 (a memory's words) holds a live-block table's control block at c (its magic and its own address). */
function isControl(u32: Uint32Array, c: number): boolean {
  return (c & 3) === 0 && c + LiveCtl.BYTES <= u32.length * 4 && u32[c >>> 2] === LIVE_MAGIC && u32[(c + LiveCtl.SELF) >>> 2] === (c ^ SELF_KEY) >>> 0;
}

/**
 * Whether the live block at p is one of a live-block table's own two blocks (its control block,
 * or the table its control block names): state of a pool or an adapter, no user's block. Read from
 * the memory alone, so that every handle of a heap tells them (walk, leaks, stats, check).
 */
export function isLiveTableBlock(u32: Uint32Array, p: number): boolean {
  if (p + LiveCtl.BYTES > u32.length * 4) return false;
  const w = u32[p >>> 2];
  if (w === LIVE_MAGIC) return isControl(u32, p);
  const c = (w ^ OWNER_KEY) >>> 0;
  return isControl(u32, c) && u32[(c + LiveCtl.TABLE) >>> 2] === p;
}

const hashOf = (base: number, mask: number): number => (Math.imul(base >>> 3, 0x9e3779b1) >>> 7) & mask;

export class LiveTable {
  /** Byte address of the control block. */
  readonly ctl: number;
  private readonly m: TableMemory;
  /** Set by open(): the word index of the first slot, and the capacity - 1. */
  private t = 0;
  private mask = 0;

  private constructor(m: TableMemory, ctl: number) {
    this.m = m;
    this.ctl = ctl;
  }

  /** A new, empty table; null when the allocator cannot provide its memory. */
  static create(m: TableMemory): LiveTable | null {
    const ctl = m.malloc(LiveCtl.BYTES);
    if (ctl === 0) return null;
    own(m, ctl, LiveCtl.BYTES);
    const n = tableBytes(INITIAL_CAPACITY);
    const table = m.malloc(n);
    if (table === 0) {
      m.free(ctl);
      return null;
    }
    own(m, table, n);
    // Both blocks are written below: one over the other, the table would be read as nonsense
    // (a size of 68 GB, 2026-12-06). An allocator that hands out a live block again is at fault.
    if (table < ctl + LiveCtl.BYTES && ctl < table + n) throw handedTwice(table, `the table's ${n} bytes`);
    const v = m.memory.current();
    v.u8.fill(0, ctl, ctl + LiveCtl.BYTES);
    v.u8.fill(0, table, table + n);
    const w = ctl >>> 2;
    v.u32[w + (LiveCtl.MAGIC >>> 2)] = LIVE_MAGIC;
    v.u32[w + (LiveCtl.SELF >>> 2)] = (ctl ^ SELF_KEY) >>> 0;
    v.u32[w + (LiveCtl.TABLE >>> 2)] = table;
    v.u32[w + (LiveCtl.CAPACITY >>> 2)] = INITIAL_CAPACITY;
    v.u32[(table + LiveTab.OWNER) >>> 2] = (ctl ^ OWNER_KEY) >>> 0;
    v.u32[(table + LiveTab.CAPACITY) >>> 2] = INITIAL_CAPACITY;
    return new LiveTable(m, ctl);
  }

  private setWord(off: LiveCtl, v: number): void {
    this.m.memory.current().u32[(this.ctl + off) >>> 2] = v;
  }

  private damaged(off: LiveCtl, field: string, what: string): HeapCorruptionError {
    return new HeapCorruptionError(this.ctl + off, `live-block table ${hex(this.ctl)}: ${what} (freed, or written over?)`, field);
  }

  /**
   * The control words checked against each other and the memory, before any slot is read: the
   * magic and the block's own address, a capacity that is a power of two, a table inside the
   * memory whose header names this control block and the same capacity, counts within it. Sets
   * t and mask; returns the memory's words. HeapCorruptionError naming the word otherwise.
   */
  private open(): Uint32Array {
    const v = this.m.memory.current();
    const u32 = v.u32;
    const c = this.ctl;
    const w = c >>> 2;
    if (u32[w] !== LIVE_MAGIC) throw this.damaged(LiveCtl.MAGIC, "LiveCtl.MAGIC", `magic ${hex(u32[w] ?? 0)}`);
    if (u32[w + (LiveCtl.SELF >>> 2)] !== (c ^ SELF_KEY) >>> 0) throw this.damaged(LiveCtl.SELF, "LiveCtl.SELF", "the SELF word does not name the block");
    const cap = u32[w + (LiveCtl.CAPACITY >>> 2)];
    const t = u32[w + (LiveCtl.TABLE >>> 2)];
    if (cap < INITIAL_CAPACITY || (cap & (cap - 1)) !== 0 || tableBytes(cap) > v.u8.length)
      throw this.damaged(LiveCtl.CAPACITY, "LiveCtl.CAPACITY", `capacity ${cap}: no power of two from ${INITIAL_CAPACITY} whose slots fit the memory`);
    if (t === 0 || (t & 3) !== 0 || t + tableBytes(cap) > v.u8.length)
      throw this.damaged(LiveCtl.TABLE, "LiveCtl.TABLE", `table ${hex(t)} of ${cap} slots is not in the memory, aligned`);
    if (u32[(t + LiveTab.OWNER) >>> 2] !== (c ^ OWNER_KEY) >>> 0 || u32[(t + LiveTab.CAPACITY) >>> 2] !== cap)
      throw this.damaged(LiveCtl.TABLE, "LiveCtl.TABLE", `table ${hex(t)} names another control block or capacity`);
    const count = u32[w + (LiveCtl.COUNT >>> 2)];
    const used = u32[w + (LiveCtl.USED >>> 2)];
    if (count > used || used > cap) throw this.damaged(LiveCtl.COUNT, "LiveCtl.COUNT", `${count} entries, ${used} slots used of ${cap}`);
    this.t = (t + LiveTab.SLOTS) >>> 2;
    this.mask = cap - 1;
    return u32;
  }

  get count(): number {
    return this.open()[(this.ctl + LiveCtl.COUNT) >>> 2];
  }

  /** Slot index holding base, or -1 (after open()). */
  private find(u32: Uint32Array, base: number): number {
    const t = this.t;
    const mask = this.mask;
    // At most every slot once: a table whose slots were overwritten (no EMPTY slot left) is
    // reported, never probed for ever.
    for (let i = hashOf(base, mask), left = mask + 1; left > 0; i = (i + 1) & mask, left--) {
      const k = u32[t + 2 * i];
      if (k === base) return i;
      if (k === EMPTY) return -1;
    }
    throw this.broken();
  }

  private broken(): HeapCorruptionError {
    return new HeapCorruptionError(this.ctl + LiveCtl.TABLE, `the live-block table at ${hex((this.t << 2) - LiveTab.SLOTS)} (capacity ${this.mask + 1}) has no free slot to end a search (a write over it?)`, "LiveCtl.TABLE");
  }

  /** Usable bytes recorded for base, or -1 when base is not a live block. */
  get(base: number): number {
    if (base <= DELETED) return -1;
    const u32 = this.open();
    const i = this.find(u32, base);
    return i < 0 ? -1 : u32[this.t + 2 * i + 1];
  }

  /** Record a new live block; false when the table had to grow and could not. */
  insert(base: number, usable: number): boolean {
    if (base <= DELETED || (base & 3) !== 0) throw new PymallocError(`the allocator returned a misaligned block ${base}`, base);
    const u32 = this.open();
    // Keep at most 3/4 of the slots in use (an insert right after a remove may take one more).
    if ((u32[(this.ctl + LiveCtl.USED) >>> 2] + 2) * 4 > (this.mask + 1) * 3 && !this.rehash()) return false;
    this.place(this.open(), base, usable);
    return true;
  }

  /** Whether base .. base + n overlaps the table's own blocks (a block the allocator handed out again). */
  overlaps(base: number, n: number): boolean {
    this.open();
    return this.overlapsOwn(base, n);
  }

  /** Whether base .. base + n overlaps the table's own blocks (after open()). */
  private overlapsOwn(base: number, n: number): boolean {
    const t = (this.t << 2) - LiveTab.SLOTS;
    const end = base + Math.max(n, 1);
    return (base < this.ctl + LiveCtl.BYTES && this.ctl < end) || (base < t + tableBytes(this.mask + 1) && t < end);
  }

  /** A new entry (after open()). */
  private place(u32: Uint32Array, base: number, usable: number): void {
    // A block over the table's own (the allocator handed one of them out again) would have the
    // user's bytes, or the debug header, written over the table.
    if (this.overlapsOwn(base, usable)) throw handedTwice(base, `a block of ${usable} bytes`);
    const t = this.t;
    const mask = this.mask;
    let reuse = -1;
    for (let i = hashOf(base, mask), left = mask + 1; ; i = (i + 1) & mask, left--) {
      if (left === 0) throw this.broken();
      const k = u32[t + 2 * i];
      if (k === base) throw new PymallocError(`the allocator returned block ${base} twice without a free between`, base);
      if (k === DELETED && reuse < 0) reuse = i;
      if (k === EMPTY) {
        if (reuse < 0) {
          reuse = i;
          u32[(this.ctl + LiveCtl.USED) >>> 2]++;
        }
        break;
      }
    }
    u32[t + 2 * reuse] = base;
    u32[t + 2 * reuse + 1] = usable;
    u32[(this.ctl + LiveCtl.COUNT) >>> 2]++;
  }

  /** Forget a block; returns its usable bytes, or -1 when it was not a live block. */
  remove(base: number): number {
    if (base <= DELETED) return -1;
    const u32 = this.open();
    const i = this.find(u32, base);
    if (i < 0) return -1;
    const t = this.t;
    const usable = u32[t + 2 * i + 1];
    u32[t + 2 * i] = DELETED;
    u32[(this.ctl + LiveCtl.COUNT) >>> 2]--;
    return usable;
  }

  /** Replace base by moved (a realloc that moved the block): never needs memory. */
  move(base: number, moved: number, usable: number): void {
    this.remove(base);
    this.place(this.open(), moved, usable);
  }

  /** A new table, twice as large when more than half full, without tombstones. */
  private rehash(): boolean {
    let u32 = this.open();
    const count = u32[(this.ctl + LiveCtl.COUNT) >>> 2];
    const cap = this.mask + 1;
    const ncap = count * 2 >= cap ? cap * 2 : cap;
    const n = tableBytes(ncap);
    const nt = this.m.malloc(n);
    if (nt === 0) return false;
    own(this.m, nt, n);
    u32 = this.open(); // after malloc: the memory may have grown
    const old = (this.t << 2) - LiveTab.SLOTS;
    if (this.overlapsOwn(nt, n)) throw handedTwice(nt, `the table's ${n} bytes`);
    const entries: number[] = [];
    for (let i = 0, w = this.t; i < cap; i++) {
      const k = u32[w + 2 * i];
      if (k > DELETED) entries.push(k, u32[w + 2 * i + 1]);
    }
    const v = this.m.memory.current();
    v.u8.fill(0, nt, nt + n);
    v.u32[(nt + LiveTab.OWNER) >>> 2] = (this.ctl ^ OWNER_KEY) >>> 0;
    v.u32[(nt + LiveTab.CAPACITY) >>> 2] = ncap;
    this.setWord(LiveCtl.TABLE, nt);
    this.setWord(LiveCtl.CAPACITY, ncap);
    this.setWord(LiveCtl.COUNT, 0);
    this.setWord(LiveCtl.USED, 0);
    u32 = this.open();
    for (let j = 0; j < entries.length; j += 2) this.place(u32, entries[j], entries[j + 1]);
    v.u32[(old + LiveTab.OWNER) >>> 2] = 0; // no longer the table's (isLiveTableBlock), whoever gets it next
    this.m.free(old);
    return true;
  }

  /** Every live block, in table order. */
  forEach(fn: (base: number, usable: number) => void): void {
    const u32 = this.open();
    const blocks: number[] = [];
    for (let i = 0, w = this.t, cap = this.mask + 1; i < cap; i++) {
      const k = u32[w + 2 * i];
      if (k > DELETED) blocks.push(k, u32[w + 2 * i + 1]);
    }
    // Collected first: fn may free blocks.
    for (let j = 0; j < blocks.length; j += 2) fn(blocks[j], blocks[j + 1]);
  }

  /**
   * The table's own consistency (check()): its control words (open), its blocks as large as the
   * allocator says they are (where it can tell), its count, every entry inside the memory.
   * HeapCorruptionError naming the word.
   */
  verify(): void {
    const u32 = this.open();
    const t = (this.t << 2) - LiveTab.SLOTS;
    const cap = this.mask + 1;
    const size = this.m.size;
    if (size !== undefined) {
      if (size(this.ctl) < LiveCtl.BYTES) throw this.damaged(LiveCtl.MAGIC, "LiveCtl.MAGIC", "no live block");
      const have = size(t);
      if (have < tableBytes(cap)) throw this.damaged(LiveCtl.CAPACITY, "LiveCtl.CAPACITY", `${cap} slots, in a block of ${have} bytes`);
    }
    const len = u32.length * 4;
    let n = 0;
    for (let i = 0; i < cap; i++) {
      const k = u32[this.t + 2 * i];
      if (k <= DELETED) continue;
      n++;
      const usable = u32[this.t + 2 * i + 1];
      if (k + usable > len) throw new HeapCorruptionError(t + LiveTab.SLOTS + SLOT * i, `live-block table ${hex(this.ctl)}: block ${hex(k)} (+${usable}) runs past the memory's end`, "live-block table entry");
    }
    const count = u32[(this.ctl + LiveCtl.COUNT) >>> 2];
    if (n !== count) throw this.damaged(LiveCtl.COUNT, "LiveCtl.COUNT", `counts ${count} blocks, holds ${n}`);
  }

  /** The table's two blocks, unmarked (isLiveTableBlock) before they are given back by `free`; the table is unusable after. */
  dispose(free: (p: number) => void): void {
    const u32 = this.open();
    const t = (this.t << 2) - LiveTab.SLOTS;
    u32[(t + LiveTab.OWNER) >>> 2] = 0;
    u32[(this.ctl + LiveCtl.MAGIC) >>> 2] = 0;
    u32[(this.ctl + LiveCtl.SELF) >>> 2] = 0;
    free(t);
    free(this.ctl);
  }
}
