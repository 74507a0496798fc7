/**
 * compat/live-table.ts — the set of live blocks of a foreign allocator, kept in its own memory.
 *
 * Owns: an open-addressing hash table (block base -> usable bytes) and a small control block
 * holding it and the debug hooks' two state words; both are allocated from the foreign allocator
 * itself, so, like every pymalloc heap, the state lives in the managed memory.
 * Must not: allocate or free user blocks; it only records what the adapter reports.
 *
 * A foreign allocator cannot tell whether a pointer is one of its live blocks. This table can:
 * it lets the adapter refuse a foreign pointer or a double free with an InvalidPointerError
 * before the foreign code sees it, answer usable sizes, and walk every live block.
 */

import { HeapCorruptionError, PymallocError, hex } from "../errors.js";
import type { Memory } from "../memory/memory.js";

/** Control block words (byte offsets). */
export const enum LiveCtl {
  MAGIC = 0,
  SERIAL = 4, // the debug hooks' allocation counter
  RING = 8, // the debug hooks' quarantine ring
  TABLE = 12,
  CAPACITY = 16, // slots, a power of two
  COUNT = 20, // live entries
  USED = 24, // live entries + tombstones
  BYTES = 32,
}
const LIVE_MAGIC = 0x4c495645; // "LIVE"
/** A slot: [base, usable] words. Base 0 = empty, 1 = deleted (no block starts at 1). */
const SLOT = 8;
const EMPTY = 0;
const DELETED = 1;
const INITIAL_CAPACITY = 256;

/** How the table gets memory: the foreign allocator's own malloc and free. */
export interface TableMemory {
  memory: Memory;
  malloc(n: number): number;
  free(p: number): void;
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

const hashOf = (base: number, mask: number): number => (Math.imul(base >>> 3, 0x9e3779b1) >>> 7) & mask;

export class LiveTable {
  /** Byte address of the control block. */
  readonly ctl: number;
  private readonly m: TableMemory;

  private constructor(m: TableMemory, ctl: number) {
    this.m = m;
    this.ctl = ctl;
  }

  /** A new, empty table; null when the allocator cannot provide its memory. */
  static create(m: TableMemory): LiveTable | null {
    const ctl = m.malloc(LiveCtl.BYTES);
    if (ctl === 0) return null;
    own(m, ctl, LiveCtl.BYTES);
    const table = m.malloc(INITIAL_CAPACITY * SLOT);
    if (table === 0) {
      m.free(ctl);
      return null;
    }
    own(m, table, INITIAL_CAPACITY * SLOT);
    const v = m.memory.current();
    v.u8.fill(0, ctl, ctl + LiveCtl.BYTES);
    v.u8.fill(0, table, table + INITIAL_CAPACITY * SLOT);
    const w = ctl >>> 2;
    v.u32[w + (LiveCtl.MAGIC >>> 2)] = LIVE_MAGIC;
    v.u32[w + (LiveCtl.TABLE >>> 2)] = table;
    v.u32[w + (LiveCtl.CAPACITY >>> 2)] = INITIAL_CAPACITY;
    return new LiveTable(m, ctl);
  }

  private word(off: LiveCtl): number {
    return this.m.memory.current().u32[(this.ctl + off) >>> 2];
  }
  private setWord(off: LiveCtl, v: number): void {
    this.m.memory.current().u32[(this.ctl + off) >>> 2] = v;
  }

  get count(): number {
    return this.word(LiveCtl.COUNT);
  }

  /** Slot index holding base, or -1. */
  private find(base: number): number {
    const u32 = this.m.memory.current().u32;
    const t = this.word(LiveCtl.TABLE) >>> 2;
    const mask = this.word(LiveCtl.CAPACITY) - 1;
    // At most every slot once: a table whose words were overwritten (no EMPTY slot left, or its
    // TABLE word moved) is reported, never probed for ever.
    for (let i = hashOf(base, mask), left = mask + 1; left > 0; i = (i + 1) & mask, left--) {
      const k = u32[t + 2 * i];
      if (k === base) return i;
      if (k === EMPTY) return -1;
    }
    throw this.broken();
  }

  private broken(): HeapCorruptionError {
    return new HeapCorruptionError(this.ctl + LiveCtl.TABLE, `the live-block table at ${hex(this.word(LiveCtl.TABLE))} (capacity ${this.word(LiveCtl.CAPACITY)}) has no free slot to end a search (a write over it?)`, "LiveCtl.TABLE");
  }

  /** Usable bytes recorded for base, or -1 when base is not a live block. */
  get(base: number): number {
    if (base <= DELETED) return -1;
    const i = this.find(base);
    return i < 0 ? -1 : this.m.memory.current().u32[(this.word(LiveCtl.TABLE) >>> 2) + 2 * i + 1];
  }

  /** Record a new live block; false when the table had to grow and could not. */
  insert(base: number, usable: number): boolean {
    if (base <= DELETED || (base & 3) !== 0) throw new PymallocError(`the allocator returned a misaligned block ${base}`, base);
    // Keep at most 3/4 of the slots in use (an insert right after a remove may take one more).
    if ((this.word(LiveCtl.USED) + 2) * 4 > this.word(LiveCtl.CAPACITY) * 3 && !this.rehash()) return false;
    this.place(base, usable);
    return true;
  }

  private place(base: number, usable: number): void {
    const u32 = this.m.memory.current().u32;
    const t = this.word(LiveCtl.TABLE) >>> 2;
    const mask = this.word(LiveCtl.CAPACITY) - 1;
    let reuse = -1;
    for (let i = hashOf(base, mask), left = mask + 1; ; i = (i + 1) & mask, left--) {
      if (left === 0) throw this.broken();
      const k = u32[t + 2 * i];
      if (k === base) throw new PymallocError(`the allocator returned block ${base} twice without a free between`, base);
      if (k === DELETED && reuse < 0) reuse = i;
      if (k === EMPTY) {
        if (reuse < 0) {
          reuse = i;
          this.setWord(LiveCtl.USED, this.word(LiveCtl.USED) + 1);
        }
        break;
      }
    }
    u32[t + 2 * reuse] = base;
    u32[t + 2 * reuse + 1] = usable;
    this.setWord(LiveCtl.COUNT, this.word(LiveCtl.COUNT) + 1);
  }

  /** Forget a block; returns its usable bytes, or -1 when it was not a live block. */
  remove(base: number): number {
    if (base <= DELETED) return -1;
    const i = this.find(base);
    if (i < 0) return -1;
    const u32 = this.m.memory.current().u32;
    const t = this.word(LiveCtl.TABLE) >>> 2;
    const usable = u32[t + 2 * i + 1];
    u32[t + 2 * i] = DELETED;
    this.setWord(LiveCtl.COUNT, this.word(LiveCtl.COUNT) - 1);
    return usable;
  }

  /** Replace base by moved (a realloc that moved the block): never needs memory. */
  move(base: number, moved: number, usable: number): void {
    this.remove(base);
    this.place(moved, usable);
  }

  /** A new table, twice as large when more than half full, without tombstones. */
  private rehash(): boolean {
    const count = this.word(LiveCtl.COUNT);
    const cap = this.word(LiveCtl.CAPACITY);
    const ncap = count * 2 >= cap ? cap * 2 : cap;
    const nt = this.m.malloc(ncap * SLOT);
    if (nt === 0) return false;
    own(this.m, nt, ncap * SLOT);
    const v = this.m.memory.current(); // after malloc: the memory may have grown
    v.u8.fill(0, nt, nt + ncap * SLOT);
    const old = this.word(LiveCtl.TABLE);
    const entries: number[] = [];
    for (let i = 0, w = old >>> 2; i < cap; i++) {
      const k = v.u32[w + 2 * i];
      if (k > DELETED) entries.push(k, v.u32[w + 2 * i + 1]);
    }
    this.setWord(LiveCtl.TABLE, nt);
    this.setWord(LiveCtl.CAPACITY, ncap);
    this.setWord(LiveCtl.COUNT, 0);
    this.setWord(LiveCtl.USED, 0);
    for (let j = 0; j < entries.length; j += 2) this.place(entries[j], entries[j + 1]);
    this.m.free(old);
    return true;
  }

  /** Every live block, in table order. */
  forEach(fn: (base: number, usable: number) => void): void {
    const cap = this.word(LiveCtl.CAPACITY);
    const t = this.word(LiveCtl.TABLE);
    const blocks: number[] = [];
    const u32 = this.m.memory.current().u32;
    for (let i = 0, w = t >>> 2; i < cap; i++) {
      const k = u32[w + 2 * i];
      if (k > DELETED) blocks.push(k, u32[w + 2 * i + 1]);
    }
    // Collected first: fn may free blocks.
    for (let j = 0; j < blocks.length; j += 2) fn(blocks[j], blocks[j + 1]);
  }

  /** The table's own consistency: magic, counts, entries inside the memory. Returns faults. */
  verify(): string[] {
    const faults: string[] = [];
    if (this.word(LiveCtl.MAGIC) !== LIVE_MAGIC) faults.push(`live-block table control block at ${this.ctl} lost its magic number`);
    const cap = this.word(LiveCtl.CAPACITY);
    if (cap === 0 || (cap & (cap - 1)) !== 0) faults.push(`live-block table capacity ${cap} is not a power of two`);
    let n = 0;
    const size = this.m.memory.byteLength;
    this.forEach((base, usable) => {
      n++;
      if (base + usable > size) faults.push(`live block ${base} (+${usable}) runs past the memory's end ${size}`);
    });
    if (n !== this.count) faults.push(`live-block table counts ${this.count} blocks but holds ${n}`);
    return faults;
  }
}
