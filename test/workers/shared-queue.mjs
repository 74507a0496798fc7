// test/workers/shared-queue.mjs — what the stress Workers (stress.mjs, race-stress.mjs) share:
// the spin-then-wait lock of their block queue (word 0 of an Int32Array over a
// SharedArrayBuffer) and their seeded xorshift. Owns nothing else: each Worker lays its queue out.

/** lock() and unlock() of the queue whose word 0 is its lock. */
export function queueLock(q) {
  return {
    lock() {
      while (Atomics.compareExchange(q, 0, 0, 1) !== 0) Atomics.wait(q, 0, 1, 1);
    },
    unlock() {
      Atomics.store(q, 0, 0);
      Atomics.notify(q, 0, 1);
    },
  };
}

/** A xorshift32 generator from seed (0 taken as 1). */
export function xorshift(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    s = (s ^ (s << 5)) >>> 0;
    return s;
  };
}
