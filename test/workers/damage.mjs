// test/workers/damage.mjs — what the two seeded damage fuzzes share (corruption.mjs: the JS
// allocator; wasm-damage.mjs: C code on the WebAssembly fast path): the seeded generator and
// the damage itself. A model is any object with `live` (a Map of address -> { size }) and,
// optionally, `anyLive()` (a live block's address, 0 when none).

let s = 1;
/** xorshift32 in [0, 1). */
export const rand = () => {
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return (s >>>= 0) / 4294967296;
};
export const ri = (n) => Math.floor(rand() * n);
export const pick = (a) => a[ri(a.length)];
/** Seed the generator from a case number (scrambled: xorshift's first outputs from small seeds are small). */
export const seedFrom = (seed) => {
  s = (Math.imul(seed, 0x9e3779b9) ^ 0x5bd1e995) >>> 0 || 1;
  for (let i = 0; i < 8; i++) rand();
};

/** Whether bytes a..a+n-1 overlap a live block of the model. */
export function isLive(model, a, n) {
  for (const [p, b] of model.live) if (a < p + b.size && p < a + n) return true;
  return false;
}

/**
 * Write 1-8 damaging bytes at a (never over a live block's bytes); returns a description, or null
 * when nothing was written. A word replaced: by a nearby value, a plausible address (a live block,
 * inside one, a pool or chunk header, with `pastMemory` also one past the memory), 0, or all
 * ones; or 1-8 random bytes.
 */
export function damage(heap, model, a, pastMemory = false) {
  const u8 = heap.u8;
  const u32 = heap.u32;
  const way = ri(5);
  if (way < 3) {
    a &= ~3;
    if (isLive(model, a, 4)) return null;
    const old = u32[a >>> 2];
    const liveBlock = model.anyLive ? model.anyLive() : model.live.size ? pick([...model.live.keys()]) : 0;
    const poolOf = (x) => x - (x % heap.objectAllocator.poolSize);
    const vals = [
      old + 4, old - 4, old + 8, old + 16, old - 16, old + 48, old - 48, old ^ (1 << ri(32)), ((old & ~0xff) | ri(256)) >>> 0,
      0, 0xffffffff, 0x7fff0000, ri(u8.length), ...(pastMemory ? [u8.length + ri(1 << 20)] : []),
      liveBlock, liveBlock, liveBlock + 8, liveBlock - 8, poolOf(liveBlock), poolOf(liveBlock) + 48, poolOf(old), 1, 2, 3,
    ];
    const v = pick(vals) >>> 0;
    if (v === old) return null;
    u32[a >>> 2] = v;
    return { a, v, n: 4 };
  }
  const n = 1 + ri(8);
  if (isLive(model, a, n) || a + n > u8.length) return null;
  for (let k = 0; k < n; k++) u8[a + k] = ri(256);
  return { a, v: u32[a >>> 2], n };
}
