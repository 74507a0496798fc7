/**
 * threads/lock.ts — a mutex in shared memory, for heaps used by several threads (Workers).
 *
 * Owns: acquire/release of one Int32 word (the heap header's LOCK): 0 free, 1 held, 2 held with
 * waiters (the three-state futex mutex). A contended acquire spins briefly, then sleeps with
 * Atomics.wait where the thread may block (Node's threads, Web Workers), or keeps spinning with
 * back-off where it may not (a browser's main thread).
 * Must not: know what it protects.
 */

import { detachedError } from "../errors.js";

const SPINS = 64;

/** Whether this thread may block in Atomics.wait (false on a browser's main thread). */
export function canWait(i32: Int32Array, index: number): boolean {
  try {
    // A wait that cannot block: the value differs, so it returns "not-equal" at once if allowed.
    Atomics.wait(i32, index, Atomics.load(i32, index) + 1, 0);
    return true;
  } catch {
    return false;
  }
}

export class SharedLock {
  i32: Int32Array;
  readonly index: number;
  readonly mayWait: boolean;
  /** Set by close(): this handle left the heap (detachThread), and may not take the lock again. */
  private closed = false;

  constructor(i32: Int32Array, index: number) {
    this.i32 = i32;
    this.index = index;
    this.mayWait = canWait(i32, index);
  }

  acquire(): void {
    if (this.closed) throw detachedError();
    const i32 = this.i32;
    const i = this.index;
    let c = Atomics.compareExchange(i32, i, 0, 1);
    if (c === 0) return;
    for (let s = 0; s < SPINS; s++) {
      if (Atomics.load(i32, i) === 0) {
        c = Atomics.compareExchange(i32, i, 0, 1);
        if (c === 0) return;
      }
    }
    this.acquireSlow(c);
  }

  private acquireSlow(c: number): void {
    const i32 = this.i32;
    const i = this.index;
    let backoff = 1;
    // Announce a waiter (2), sleep while it stays 2, and take it as 2 (others may still wait).
    if (c !== 2) c = Atomics.exchange(i32, i, 2);
    while (c !== 0) {
      if (this.mayWait) Atomics.wait(i32, i, 2);
      else {
        for (let k = 0; k < backoff; k++) if (Atomics.load(i32, i) === 0) break;
        if (backoff < 4096) backoff <<= 1;
      }
      c = Atomics.exchange(i32, i, 2);
    }
  }

  close(): void {
    this.closed = true;
  }

  release(): void {
    if (Atomics.sub(this.i32, this.index, 1) !== 1) {
      Atomics.store(this.i32, this.index, 0);
      Atomics.notify(this.i32, this.index, 1);
    }
  }
}
