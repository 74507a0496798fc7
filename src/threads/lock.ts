/**
 * threads/lock.ts — a mutex in shared memory, for heaps used by several threads (Workers).
 *
 * Owns: acquire/release of one Int32 word (the heap header's LOCK): 0 free, 1 held, 2 held with
 * waiters (the three-state futex mutex). A contended acquire spins briefly, then sleeps with
 * Atomics.wait where the thread may block (Node's threads, Web Workers), or keeps spinning with
 * back-off where it may not (a browser's main thread).
 * A word holding anything else, or held far longer than any critical section takes (a thread
 * died holding it, or a damaged copy of a heap), is heap corruption: acquire() throws
 * HeapCorruptionError rather than wait forever.
 * Must not: know what it protects.
 */

import { H } from "../constants.js";
import { HeapCorruptionError, PymallocError, detachedError } from "../errors.js";

const SPINS = 64;
/** The values the lock word may hold: free, held, held with waiters. */
const enum LockWord {
  FREE = 0,
  HELD = 1,
  WAITERS = 2,
}
/**
 * A lock held this long is taken for dead (critical sections are a few list edits, or a memory
 * growth: microseconds to milliseconds). check() waits less (CHECK_WAIT_MS).
 */
export const LOCK_STUCK_MS = 10_000;
/** How long check() waits for the lock before reporting it stuck. */
export const CHECK_WAIT_MS = 2_000;
/** How long takeOver() waits before it looks at the owner word again. */
const TAKEOVER_WAIT_MS = 20;
/** One sleep of a waiting thread between looks at the clock. */
const WAIT_SLICE_MS = 50;

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

/** A word no one notifies: Atomics.wait on it sleeps (nap). */
let napWord: Int32Array | undefined;
let napMayWait: boolean | undefined;

/** Sleep about ms (a spin where this thread may not block: a browser's main thread). */
export function nap(ms: number): void {
  if (napWord === undefined) {
    // No SharedArrayBuffer global (a page not cross-origin isolated, a threads heap over a shared
    // WebAssembly.Memory): an unshared word, so the nap spins (a ReferenceError before 2026-12-07).
    napWord = new Int32Array(typeof SharedArrayBuffer !== "undefined" ? new SharedArrayBuffer(4) : new ArrayBuffer(4));
    napMayWait = canWait(napWord, 0);
  }
  if (napMayWait) Atomics.wait(napWord, 0, 0, ms);
  else for (const end = performance.now() + ms; performance.now() < end; );
}

export class SharedLock {
  i32: Int32Array;
  readonly index: number;
  /** The heartbeat word (H.LOCK_BEAT): beat() adds to it; a waiter that sees it move waits on. */
  readonly beatIndex: number;
  readonly mayWait: boolean;
  /** The H.LOCK_OWNER word's index, and this handle's thread id + 1, written there as it takes the lock (0 until it has an id). */
  readonly ownerIndex: number;
  tag = 0;
  /** Set by close(): this handle left the heap (detachThread), and may not take the lock again. */
  private closed = false;
  /** This handle holds the lock (acquire() to release()). */
  private held = false;

  constructor(i32: Int32Array, index: number) {
    this.i32 = i32;
    this.index = index;
    this.beatIndex = index + (H.LOCK_BEAT - H.LOCK);
    this.ownerIndex = index + (H.LOCK_OWNER - H.LOCK);
    this.mayWait = canWait(i32, index);
  }

  /** Take the lock, waiting at most `patienceMs` (default LOCK_STUCK_MS); throws HeapCorruptionError past it or on a word the lock never writes. */
  acquire(patienceMs = LOCK_STUCK_MS): void {
    if (this.closed) throw detachedError();
    // This handle already holds it: a call into the heap from a callback that runs under the
    // lock (walk()'s, a debug onError handler). Waiting would wait for ever (then report a dead
    // thread after patienceMs): said at once instead.
    if (this.held) throw new PymallocError("the heap's lock is held by this handle already: with threads: true, a callback that runs under it (walk()'s, a debug onError handler) may not call into the heap; make the call after it returns");
    this.take(patienceMs);
    this.held = true;
  }

  /**
   * Take over the lock from thread `threadId`, which died holding it (a Worker terminated in a
   * call: adoptThread). True when that thread held it (by the owner word) and this handle holds it
   * now; false, changing nothing, otherwise. The word stays held (1 or 2): waiters wait on, and
   * release() hands it on as from any holder.
   */
  takeOver(threadId: number): boolean {
    const i32 = this.i32;
    if (this.closed || this.held || Atomics.load(i32, this.index) === LockWord.FREE) return false;
    if (Atomics.compareExchange(i32, this.ownerIndex, threadId + 1, this.tag) !== threadId + 1) return false;
    // The owner word keeps the last holder's id after its release (clearing it there left a
    // window: terminate() lands at a builtin's call, and a held lock then named nobody). So a
    // live thread that has just taken the lock may not have written its id yet: it does so at
    // once, over this one. Looked at again after a moment: still this handle's, the lock held,
    // and the holder was the dead thread (a dead thread releases nothing).
    nap(TAKEOVER_WAIT_MS);
    if (Atomics.load(i32, this.ownerIndex) !== this.tag || Atomics.load(i32, this.index) === LockWord.FREE) return false;
    this.held = true;
    return true;
  }

  private take(patienceMs: number): void {
    const i32 = this.i32;
    const i = this.index;
    // The owner word is written right after the exchange that takes the lock, before any return:
    // a Worker's terminate() lands at a call's return or a loop's turn, and one that landed
    // between the two left a held lock that named no holder (adoptThread could not take it over).
    let c = Atomics.compareExchange(i32, i, 0, 1);
    if (c === 0) {
      i32[this.ownerIndex] = this.tag;
      return;
    }
    for (let s = 0; s < SPINS; s++) {
      if (Atomics.load(i32, i) === 0) {
        c = Atomics.compareExchange(i32, i, 0, 1);
        if (c === 0) {
          i32[this.ownerIndex] = this.tag;
          return;
        }
      }
    }
    this.acquireSlow(c, patienceMs);
  }

  private acquireSlow(c: number, patienceMs: number): void {
    const i32 = this.i32;
    const i = this.index;
    let backoff = 1;
    // Since when the lock has been seen held by one holder. A lock that changes hands is not
    // held for that long, however long this thread waits for its turn: the lock is not fair,
    // and under load (more threads than cores) a waiter lost the race to the others for over
    // check()'s 2 s (reported as a dead thread, HeapCorruptionError). Evidence that the holder
    // let go since this thread wrote WAITERS: a wake-up (its release notifies), a word that is
    // not WAITERS when the wait starts, or an exchange that finds HELD (taken again since).
    let since = Date.now();
    // And the holder's heartbeat (beat()): a holder at long work (a walk of a large heap) is alive.
    let beat = Atomics.load(i32, this.beatIndex);
    // Announce a waiter (2), sleep while it stays 2, and take it as 2 (others may still wait).
    if (c !== LockWord.WAITERS) {
      c = Atomics.exchange(i32, i, LockWord.WAITERS);
      if (c === LockWord.FREE) {
        i32[this.ownerIndex] = this.tag; // at once: see take()
        return;
      }
      this.damaged(c);
    }
    for (;;) {
      let moved = false;
      if (this.mayWait) moved = Atomics.wait(i32, i, LockWord.WAITERS, WAIT_SLICE_MS) !== "timed-out";
      else {
        for (let k = 0; k < backoff; k++)
          if (Atomics.load(i32, i) !== LockWord.WAITERS) {
            moved = true;
            break;
          }
        if (backoff < 4096) backoff <<= 1;
      }
      c = Atomics.exchange(i32, i, LockWord.WAITERS);
      if (c === LockWord.FREE) {
        i32[this.ownerIndex] = this.tag; // at once: see take()
        return;
      }
      this.damaged(c);
      const b = Atomics.load(i32, this.beatIndex);
      if (moved || c === LockWord.HELD || b !== beat) {
        since = Date.now();
        beat = b;
      }
      else if (c !== LockWord.FREE && Date.now() - since > patienceMs) {
        throw new HeapCorruptionError(
          i * 4,
          `the heap's lock has been held for over ${patienceMs} ms: a thread died holding it (or the word is damaged)${this.holderNote()}`,
          "H.LOCK",
        );
      }
    }
  }

  /** Which thread holds the lock, by the owner word, and the call that takes it over from a dead one. */
  private holderNote(): string {
    const t = Atomics.load(this.i32, this.ownerIndex);
    return t > 0 ? `; its holder is thread ${t - 1}: if that thread is gone (a Worker terminated), heap.adoptThread(${t - 1}) takes the lock over` : "";
  }

  /** c, read from the lock word, when the lock can have written it; else HeapCorruptionError. */
  private damaged(c: number): number {
    if (c >>> 0 > LockWord.WAITERS) {
      Atomics.store(this.i32, this.index, c); // leave the word as found, for whoever looks next
      throw new HeapCorruptionError(this.index * 4, `lock word ${c} is none the lock ever writes (0, 1, 2)`, "H.LOCK");
    }
    return c;
  }

  /**
   * After a release: let the threads that wait for the lock take it first, waiting until one
   * has (the word leaves FREE) or ms have passed. For a caller about to take it again at once
   * (Heap.settled()), which would otherwise win it back before a waiter wakes.
   */
  letWaitersIn(ms: number): void {
    const end = Date.now() + ms;
    while (Atomics.load(this.i32, this.index) === LockWord.FREE && Date.now() < end) nap(0.2);
  }

  close(): void {
    this.closed = true;
  }

  /**
   * Tell the threads waiting for the lock that its holder (this handle) is at work, not dead:
   * called by work under the lock that may outlast a waiter's patience (walks: forEachChunk).
   */
  beat(): void {
    if (this.held) Atomics.add(this.i32, this.beatIndex, 1);
  }

  release(): void {
    this.held = false;
    if (Atomics.sub(this.i32, this.index, 1) !== 1) {
      Atomics.store(this.i32, this.index, 0);
      Atomics.notify(this.i32, this.index, 1);
    }
  }
}
