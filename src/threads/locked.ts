/**
 * threads/locked.ts — the families of a debug-mode heap shared by several threads.
 *
 * Owns: LockedFamily (each call validates its arguments, then runs the family below under the
 * heap's lock, with this thread's views brought up to date first: another thread may have grown
 * the memory), and withLock() for the heap's other entry points (stats, check, walk...).
 * The debug hooks' state (serials, quarantine) is shared by all threads, so a debug family's
 * whole call is one critical section. Release modes do not come here: their object allocator
 * takes the lock itself, only for shared work (obmalloc/remote.ts, enter/leave).
 * Must not: change what the family below does; a single-threaded heap never loads this path.
 */

import { H, Slot, SlotState } from "../constants.js";
import { slotLostError } from "../obmalloc/remote.js";
import { badPointer, badSize, callocBytes, checkAlignment, type Family } from "../heap/families.js";
import type { Memory } from "../memory/memory.js";
import type { SharedLock } from "./lock.js";
import { WrappingFamily } from "../heap/typed.js";
import { spanEnd, spanStart } from "../debug/spans.js";

spanStart(new Error()); // debug/spans.ts

/**
 * The debug hooks' reports for an onError function, held while the lock is (holdReports) and
 * handed to the function once it is let go (releaseReports): a handler that ran long under the
 * lock (a breakpoint in it) made other threads take its thread for one that died holding it
 * (a misuse hunt's F14). DebugState implements it.
 */
export interface HeldReports {
  holdReports(): void;
  releaseReports(): void;
}

/** A debug family under the heap's lock (typed views: TypedFamily, each call locked through malloc/free...). */
export class LockedFamily extends WrappingFamily implements Family {
  readonly id: string;
  readonly below: Family;
  readonly lock: SharedLock;
  readonly memory: Memory;
  /** Word index of the header's TOP: the end of everything any thread has allocated. */
  private readonly wTop: number;

  /** This handle's thread slot, and the word index of its state (0: not checked). */
  private readonly slot: number;
  private readonly wSlotState: number;

  private readonly reports: HeldReports | undefined;

  constructor(id: string, below: Family, lock: SharedLock, memory: Memory, heapBase: number, slot = -1, reports?: HeldReports) {
    super();
    this.reports = reports;
    this.id = id;
    this.below = below;
    this.lock = lock;
    this.memory = memory;
    this.wTop = (heapBase >>> 2) + H.TOP;
    this.slot = slot;
    this.wSlotState = slot < 0 ? 0 : (heapBase + memory.views.u32[(heapBase >>> 2) + H.THREAD_SLOTS] + slot * Slot.BYTES + Slot.STATE) >>> 2;
  }

  /**
   * Views covering every block: another thread may have grown the memory (checked under the
   * lock). And this thread's slot still its own: freed by another thread's adoptThread() while
   * this handle ran, it would go on with pools that are orphans by then (refused, as after
   * detachThread()).
   */
  private follow(): void {
    const v = this.memory.views;
    if (v.u32[this.wTop] + 8 > v.u8.length) this.memory.refresh();
    if (this.wSlotState !== 0 && this.memory.views.u32[this.wSlotState] !== SlotState.LIVE) {
      this.lock.release(); // taken by the caller, outside its try
      throw slotLostError(this.memory.views.u32, (this.wSlotState << 2) - Slot.STATE, this.slot);
    }
  }

  malloc(n: number): number {
    if (typeof n !== "number" || (n >>> 0) !== n) return badSize(n);
    this.lock.acquire();
    this.follow();
    this.reports?.holdReports();
    try {
      return this.below.malloc(n);
    } finally {
      this.lock.release();
      this.reports?.releaseReports();
    }
  }

  calloc(nelem: number, elsize: number): number {
    if (callocBytes(nelem, elsize) < 0) return 0;
    this.lock.acquire();
    this.follow();
    this.reports?.holdReports();
    try {
      return this.below.calloc(nelem, elsize);
    } finally {
      this.lock.release();
      this.reports?.releaseReports();
    }
  }

  alignedAlloc(alignment: number, n: number): number {
    checkAlignment(alignment);
    if (typeof n !== "number" || (n >>> 0) !== n) return badSize(n);
    this.lock.acquire();
    this.follow();
    this.reports?.holdReports();
    try {
      return this.below.alignedAlloc(alignment, n);
    } finally {
      this.lock.release();
      this.reports?.releaseReports();
    }
  }

  realloc(p: number, n: number): number {
    if (typeof n !== "number" || (n >>> 0) !== n) return badSize(n);
    if (typeof p !== "number" || (p >>> 0) !== p) badPointer("realloc", p);
    this.lock.acquire();
    this.follow();
    this.reports?.holdReports();
    try {
      return this.below.realloc(p, n);
    } finally {
      this.lock.release();
      this.reports?.releaseReports();
    }
  }

  free(p: number): void {
    if (p === 0) return;
    if (typeof p !== "number" || (p >>> 0) !== p) badPointer("free", p);
    this.lock.acquire();
    this.follow();
    this.reports?.holdReports();
    try {
      this.below.free(p);
    } finally {
      this.lock.release();
      this.reports?.releaseReports();
    }
  }
}

/**
 * Run fn under the lock (with current views); for the heap's non-allocating entry points. A
 * debug heap's reports for an onError function wait until the lock is let go (HeldReports).
 * patienceMs: how long to wait for the lock (SharedLock.acquire's default, or check()'s).
 */
export function withLock<T>(lock: SharedLock, memory: Memory, fn: () => T, reports?: HeldReports, patienceMs?: number): T {
  lock.acquire(patienceMs);
  memory.refresh();
  reports?.holdReports();
  try {
    return fn();
  } finally {
    lock.release();
    reports?.releaseReports();
  }
}

spanEnd(new Error());
