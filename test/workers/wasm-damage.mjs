// test/workers/wasm-damage.mjs — one Worker of the WebAssembly heap-damage test
// (test/wasm-damage.test.ts): test/workers/corruption.mjs's seeded cases with C code in the
// traffic. A case: a C module (wasm/clients/ctors.wasm: c_make_block, c_free_block, c_calloc,
// c_realloc are C's malloc, free, calloc, realloc) instantiated on a small heap in a
// WebAssembly.Memory, imported, linked (`pymalloc link`) or linked and specialised; C and JS
// allocate, free and realloc each other's blocks; C misuses the allocator now and then (free of
// a garbage, interior or past-the-memory pointer, a double free, realloc of a freed block: each
// must be an InvalidPointerError naming the address, the heap unchanged); then 1-8 bytes of
// metadata are damaged, check() runs (skipped for a free block's link rewritten out of its pool,
// as in corruption.mjs: release mode must refuse it on the way), and if it passes, more traffic,
// mostly C's, with every live block's bytes verified. Good outcomes: a PymallocError subclass
// or correct behaviour. Bad: anything else (a WebAssembly.RuntimeError trap, a TypeError...), a
// pointer outside the memory or misaligned, a block overlapping a live one, a live block whose
// bytes changed.
// Modes: imported, linked, specialised (the fast path in wasm), hardened and sampled (C's calls
// in JS: hardened: true's checks, sampled sites), high (the heap's blocks past the pool map's
// low part, 256 MiB: its high part; the three forms at random), unchecked (the three forms, no check() after any
// damage: the fast path must never trap; a wrong block JS's release mode would hand out too is
// "undetected", counted apart).
// Loads the built package (dist/).
// workerData.only and .explore: for exploring by hand (damage kinds; { noCheck, cShare, jsOnly }:
// no check(), C's share of the traffic, JS instead of C once damaged, to compare).
import { parentPort, workerData } from "node:worker_threads";
import { heapForModule, instantiateWithHeap, InvalidPointerError, PymallocError, constants } from "../../dist/index.js";
import { damage as damageAt, isLive, pick, rand, ri, seedFrom } from "./damage.mjs";

const { H, Pool, Arena, Chunk, Flag, Sample, SubPool } = constants;
const { mode, first, count, client, linked, only, explore } = workerData;


const MiB = 1 << 20;
const LOW = 1 << constants.POOL_MAP_LOW_SHIFT;
const clientModule = new WebAssembly.Module(client);
const linkedModule = new WebAssembly.Module(linked);

/** The module and its form for this case: the three forms of the fast path, or C's calls in JS. */
function formFor() {
  const form = mode === "imported" || mode === "linked" || mode === "specialised" ? mode : pick(["imported", "linked", "specialised"]); // high, unchecked: any
  if (mode === "hardened" || mode === "sampled") return form === "imported" ? { form, source: clientModule } : { form: "linked", source: linkedModule };
  if (form === "imported") return { form, source: clientModule };
  if (form === "linked") return { form, source: linkedModule };
  return { form, source: linked, specialize: true }; // bytes (specialisation compiles a copy), cached by this object
}

class Bad extends Error {}
let lastDamage; // exploring: the last case's damage

/** A C module on a fresh heap, as the mode says. */
async function newCase() {
  const { form, source, specialize } = formFor();
  const opts = {
    traceAllocations: false,
    subPools: rand() < 0.6,
    poolSize: 4096,
    arenaSize: 16384,
    maxBytes: mode === "high" ? LOW + 16 * MiB : 8 * MiB,
  };
  if (mode === "hardened") opts.hardened = true;
  if (mode === "sampled") opts.sampleInterval = 1024;
  const heap = heapForModule(client, opts);
  const { instance } = await instantiateWithHeap(source, { heap, specialize });
  return { heap, x: instance.exports, form };
}

/** Live blocks of the test: address -> { size, value, fam, by }, and their checks. fam 1 blocks are C's or heap.mem's (one family). */
class Model {
  constructor(heap, x) {
    this.heap = heap;
    this.x = x;
    this.live = new Map();
    this.sizes = Array.from({ length: 4 }, () => 1 + ri(512));
    this.freed = []; // blocks freed lately (misuse: a double free, realloc after free)
    this.cShare = 0.6; // of the mem family's calls, C's
    this.misuse = 0.03;
    this.damaged = false;
  }
  fam(f) {
    const h = this.heap;
    return [h.raw, h.mem, h.obj][f];
  }
  /** C's malloc & co, as JS sees them: addresses unsigned. */
  c() {
    if (explore?.jsOnly && this.damaged) return this.heap.mem; // exploring: what JS does with the same damage
    const x = this.x;
    return {
      malloc: (n) => x.c_make_block(n) >>> 0,
      calloc: (a, b) => x.c_calloc(a, b) >>> 0,
      realloc: (p, n) => x.c_realloc(p, n) >>> 0,
      free: (p) => x.c_free_block(p),
    };
  }
  side(f) {
    return f === 1 && rand() < this.cShare ? this.c() : this.fam(f);
  }
  added(p, n, fam, partial = false, zeroed = false) {
    const h = this.heap;
    if (p === 0) return;
    const align = n > 512 ? 16 : h.alignment;
    if (typeof p !== "number" || p % align !== 0) throw new Bad(`block ${p} of ${n} bytes is misaligned or no number`);
    if (p < h.heapBase || p + n > h.u8.length) throw new Bad(`block ${p} of ${n} bytes is outside the memory (${h.u8.length} bytes)`);
    for (const [q, b] of this.live) if (p < q + Math.max(b.size, 1) && q < p + Math.max(n, 1)) throw new Bad(`block ${p} of ${n} bytes overlaps live block ${q} of ${b.size}`);
    if (zeroed) for (let k = p; k < p + n; k++) if (h.u8[k] !== 0) throw new Bad(`calloc's block ${p} of ${n} bytes is not zero at +${k - p}`);
    const value = 1 + ri(254);
    const b = { size: n, value, fam, partial };
    if (partial) {
      // A huge block: its first and last 4 KiB carry the pattern.
      h.u8.fill(value, p, p + 4096);
      h.u8.fill(value, p + n - 4096, p + n);
    } else h.u8.fill(value, p, p + n);
    this.live.set(p, b);
  }
  verify(p) {
    const b = this.live.get(p);
    const u8 = this.heap.u8;
    const check = (from, to) => {
      for (let k = from; k < to; k++) if (u8[k] !== b.value) throw new Bad(`live block ${p} of ${b.size} bytes changed at +${k - p}`);
    };
    if (b.partial) {
      check(p, p + 4096);
      check(p + b.size - 4096, p + b.size);
    } else check(p, p + b.size);
  }
  verifyAll() {
    for (const p of this.live.keys()) this.verify(p);
  }
  /** A live block of the test other than the huge one. */
  anyLive() {
    const ps = [...this.live.keys()].filter((p) => !this.live.get(p).partial);
    return ps.length ? pick(ps) : 0;
  }
  step() {
    if (rand() < this.misuse) return this.misuseStep();
    const r = rand();
    const fi = rand() < 0.7 ? 1 : ri(3);
    const p0 = this.anyLive();
    if (p0 === 0 || r < 0.55) {
      const n = rand() < 0.6 ? pick(this.sizes) : rand() < 0.8 ? 1 + ri(520) : 521 + ri(3000);
      const side = this.side(fi);
      const zeroed = rand() < 0.2;
      const p = zeroed ? side.calloc(1, n) : side.malloc(n);
      this.added(p, n, fi, false, zeroed);
    } else if (r < 0.67) {
      const p = p0;
      const b = this.live.get(p);
      this.verify(p);
      const n = rand() < 0.1 ? 0 : 1 + ri(rand() < 0.8 ? 800 : 4000);
      const q = this.side(b.fam).realloc(p, n);
      if (q === 0 && n !== 0) return;
      this.live.delete(p);
      if (q === 0) return; // realloc(p, 0) freed p (or gave a block of 0 bytes: both C)
      const keep = Math.min(n, b.size);
      const u8 = this.heap.u8;
      for (let k = 0; k < keep; k++) if (u8[q + k] !== b.value) throw new Bad(`realloc ${p} -> ${q} lost byte ${k}`);
      if (q !== p) this.freed.push(p);
      this.added(q, n, b.fam);
    } else {
      const p = p0;
      this.verify(p);
      const b = this.live.get(p);
      this.live.delete(p);
      this.side(b.fam).free(p);
      this.freed.push(p);
      if (this.freed.length > 8) this.freed.shift();
    }
  }
  /**
   * C misuses the allocator: free or realloc of a pointer that is no live block. Undamaged, it
   * must be an InvalidPointerError naming the address, the heap unchanged; damaged, any typed
   * error (or a correct refusal).
   */
  misuseStep() {
    const h = this.heap;
    const c = this.c();
    const live = this.anyLive();
    const top = h.rawAllocator.top;
    const kinds = ["garbage", "interior", "past", "double", "realloc-freed", "realloc-garbage", "realloc-interior"];
    const kind = pick(kinds);
    let p;
    if (kind === "garbage" || kind === "realloc-garbage") p = h.heapBase + (rand() < 0.5 ? ri(top - h.heapBase) : ri(top - h.heapBase) & ~7);
    else if (kind === "interior" || kind === "realloc-interior") {
      if (live === 0) return;
      const b = this.live.get(live);
      if (b.size <= 1) return;
      p = live + 1 + ri(b.size - 1);
      if (rand() < 0.5) p = live + Math.min(8 * (1 + ri(4)), b.size - 1);
    } else if (kind === "past") p = pick([h.u8.length, h.u8.length + 4096 * ri(64), h.u8.length + 16, 0x7fff0000, 0xfffffff0, LOW + 8 * ri(1 << 20), h.u8.length + (1 << 24)]) >>> 0;
    else {
      // A block freed lately: in release modes only the last freed block of its pool is known
      // free (README, Errors); hardened: true knows more. So here: free one, then misuse it.
      if (live === 0) return;
      const b = this.live.get(live);
      this.verify(live);
      this.live.delete(live);
      (b.fam === 1 ? c : this.fam(b.fam)).free(live);
      p = live;
      if (b.fam !== 1) return;
    }
    // A pointer that is a block as far as the heap can tell (a freed block that is not its
    // pool's last freed one, a garbage address on a block boundary): no misuse the release
    // modes can see (README, Errors): not made.
    const realloc = kind.startsWith("realloc");
    if (this.live.has(p) || (kind !== "double" && kind !== "realloc-freed" && seemsLive(h, p, !realloc))) return;
    try {
      if (realloc) c.realloc(p, 1 + ri(600));
      else c.free(p);
    } catch (e) {
      if (!(e instanceof PymallocError)) throw e;
      if (e instanceof InvalidPointerError && e.address === p) return; // refused, as it must be
      if (this.damaged) throw e; // the damage found: the case ends
      throw new Bad(`C's ${realloc ? "realloc" : "free"}(${p}) (${kind}): ${e.name} at ${e.address}, not an InvalidPointerError at ${p}: ${e.message}`);
      return;
    }
    if (this.damaged) return;
    throw new Bad(`C's ${realloc ? "realloc" : "free"}(${p}) (${kind}) of no live block was accepted`);
  }
}

/**
 * Whether p looks like a live block (its usableSize answers): then a free or realloc of it cannot
 * be refused. For free (forFree), also a freed block that is not its pool's last freed one, outside hardened heaps:
 * usableSize and realloc refuse it (its free tag), release modes' free takes it (the malloc that
 * would hand it out twice refuses it later: README, Errors).
 */
function seemsLive(h, p, forFree) {
  try {
    h.usableSize(p);
    return true;
  } catch (e) {
    if (!(e instanceof PymallocError)) throw e;
    if (!forFree || h.hardened || !(e instanceof InvalidPointerError) || e.reason !== "double-free") return false;
    return h.u32[(h.objectAllocator.poolOf(p) + Pool.FREEBLOCK) >>> 2] !== p;
  }
}

/** Byte ranges of metadata, by kind (corruption.mjs's targets, with the sampling state). */
function targets(heap, model) {
  const u32 = heap.u32;
  const raw = heap.rawAllocator;
  const oa = heap.objectAllocator;
  const hb = heap.heapBase;
  const out = { header: [], headerScalar: [], chunk: [], freeChunk: [], pool: [], arena: [], freeLink: [], freeBlock: [], samples: [], mapHigh: [] };
  const hs = u32[(hb >>> 2) + H.HEAP_START];
  for (let a = hb; a < hs + 8; a += 4) out.header.push(a);
  for (let k = 0; k < 34; k++) out.headerScalar.push(hb + 4 * k);
  const top = raw.top;
  for (let c = raw.start; c < top; ) {
    const sw = u32[(c + 4) >>> 2];
    const size = constants.sizeOf(sw);
    if (size === 0) break;
    out.chunk.push(c, c + 4);
    if (sw & Flag.FREE) out.freeChunk.push(c + 8, c + 12, c + size);
    if (sw & Flag.ARENA && !raw.isInternalChunk(c, sw)) {
      const first = c + 8;
      const ah = oa.arenaHeader(first);
      for (let k = 0; k < Arena.OVERHEAD; k += 4) out.arena.push(ah + k);
      const pa = u32[(ah + Arena.POOL_ADDRESS) >>> 2];
      for (let pool = first; pool < first + size - 8 && pool < ah; pool += oa.poolSize) {
        const sub = u32[(pool + Pool.SUB) >>> 2] & SubPool.SHIFT_MASK;
        for (let j = 0; j < (sub ? oa.poolSize >>> sub : 1); j++) {
          const sp = pool + (j << sub);
          for (let k = 0; k < Pool.OVERHEAD; k += 4) out.pool.push(sp + k);
          if (pool >= pa) continue;
          for (let b = u32[(sp + Pool.FREEBLOCK) >>> 2], n = 0; b !== 0 && n < 2000 && b < heap.u8.length; b = u32[b >>> 2], n++) {
            out.freeLink.push(b);
            out.freeBlock.push(b + 4);
          }
        }
      }
    }
    c += size;
  }
  const st = u32[(hb >>> 2) + H.SAMPLES];
  if (st !== 0) {
    for (let k = 0; k < 64; k += 4) out.samples.push(st + k);
    const table = u32[(st + Sample.S_TABLE) >>> 2];
    if (table !== 0) for (let k = 0; k < Sample.HEADER + 64 * Sample.ENTRY; k += 4) out.samples.push(table + k);
  }
  const hi = u32[(hb >>> 2) + H.POOL_MAP_HIGH];
  if (hi !== 0) {
    out.mapHigh.push(hb + 4 * H.POOL_MAP_HIGH, hb + 4 * H.POOL_MAP_HIGH_BYTES, hi - 8, hi - 4);
    // the bytes of the high part that map the heap's arenas
    const q0 = (LOW >>> oa.poolShift) >>> 3;
    for (let a = hi + (((top >>> oa.poolShift) >>> 3) - q0) - 64; a < hi + (((top >>> oa.poolShift) >>> 3) - q0) + 8; a++) if (a >= hi) out.mapHigh.push(a);
  }
  return out;
}

/** Write 1-8 damaging bytes at a (damage.mjs). */
function damage(heap, model, a) {
  return damageAt(heap, model, a, true);
}

/** Runs fn: "found" when it ends in a typed error, "ok" when it ends; anything else is thrown. */
function outcome(fn) {
  try {
    fn();
  } catch (e) {
    if (e instanceof PymallocError) return "found";
    throw e;
  }
  return "ok";
}

/** One damage case; returns "found" | "ok" | "skip", or throws Bad / an untyped error. */
async function damageCase(seed) {
  seedFrom(seed);
  const { heap, x } = await newCase();
  const model = new Model(heap, x);
  let big = 0;
  if (mode === "high") {
    // The heap's blocks past the map's low part: the next arenas there, their bits in the map's high part.
    big = heap.raw.malloc(LOW + 2 * MiB);
    if (big === 0) throw new Bad("no memory for the block that pushes the heap past the map's low part");
    model.added(big, LOW + 2 * MiB, 0, true);
  }
  const ops = 150 + ri(250);
  for (let i = 0; i < ops; i++) model.step();
  // Undamaged, after C's misuse: the heap checks clean, every live block intact.
  try {
    heap.check();
  } catch (e) {
    throw new Bad(`the undamaged heap fails check() after the traffic and C's misuse: ${e?.message ?? e}`);
  }
  model.verifyAll();
  if (mode === "high" && heap.u32[(heap.heapBase >>> 2) + H.POOL_MAP_HIGH] === 0) throw new Bad("no arena past the map's low part");
  const t = targets(heap, model);
  const kinds = Object.keys(t).filter((k) => t[k].length > 0);
  kinds.push("anywhere");
  if (only !== undefined) kinds.splice(0, kinds.length, ...only.filter((k) => k === "anywhere" || t[k].length > 0)); // exploring: these kinds alone
  if (kinds.length === 0) return "skip";
  const k = pick(kinds);
  let a;
  if (k === "anywhere") {
    a = heap.heapBase + ri(heap.rawAllocator.top + 8 - heap.heapBase);
    if (big !== 0 && a >= big && a < big + LOW + 2 * MiB) a = big + LOW + 2 * MiB + ri(heap.rawAllocator.top + 8 - big - LOW - 2 * MiB);
  } else a = pick(t[k]);
  const chunkStarts = new Set(t.chunk.filter((c) => (c & 15) === 8));
  const before = heap.u32[(a & ~3) >>> 2];
  const what = damage(heap, model, a);
  if (what === null) return "skip";
  model.damaged = true;
  lastDamage = { k, ...what, before };
  // Not detectable by design (corruption.mjs, README "A damaged heap"): an in-use chunk's size
  // enlarged to end exactly where a later chunk starts.
  const c = what.a - Chunk.SIZE;
  const grown = heap.u32[what.a >>> 2];
  const sz = constants.sizeOf; // header words hold the size xor Chunk.SIZE_KEY: an old +- 16 still reads as a size
  if (chunkStarts.has(c) && (before & Flag.FREE) === 0 && (grown & 15) === (before & 15) && sz(grown) > sz(before) && (chunkStarts.has(c + sz(grown)) || c + sz(grown) === heap.rawAllocator.top)) return "skip";
  // A free block's link rewritten out of its pool's carved blocks: release mode (here C's
  // malloc in wasm) must refuse it without check().
  const oa = heap.objectAllocator;
  let noCheck = false;
  if (k === "freeLink" && (what.a & 3) === 0 && rand() < 0.5) {
    const pool = oa.poolOf(what.a);
    const off = what.v - pool - Pool.OVERHEAD;
    noCheck = !(off >= 0 && what.v < pool + heap.u32[(pool + Pool.NEXTOFFSET) >>> 2]);
  }
  // A free chunk's header, links or footer: the raw allocator (here mostly C's malloc, free and
  // realloc of blocks over 512 bytes, in wasm) must refuse it on the way too (README: "the raw
  // allocator refuses a chunk whose header, footer or place disagree, and list edits check that
  // both neighbours link back").
  const freeChunkWord = k === "freeChunk" || (k === "chunk" && (before & Flag.FREE) !== 0);
  if (freeChunkWord && rand() < 0.5) noCheck = true;
  if (explore?.noCheck || mode === "unchecked") noCheck = true; // no check() before the traffic, whatever the damage
  // Unchecked: every word, pool headers and usedpools heads too (malloc's inline pop bounds the
  // head by the memory and FREEBLOCK by its pool's slot since 2026-12-04: no trap there either).
  if (!noCheck && outcome(() => heap.check()) === "found") return "found";
  // Damage check() passes: mostly C's traffic from here.
  model.cShare = explore?.cShare ?? 0.85;
  const traffic = () =>
    outcome(() => {
      for (let i = 0; i < 300; i++) model.step();
      model.verifyAll();
      heap.check();
    });
  if (mode !== "unchecked" || explore) return traffic();
  // Unchecked: damage check() would have found (a pool header, a usedpools head...) may make
  // JS's release mode hand out a wrong block, as README says, and wasm then does what JS does
  // (it passes the call to JS); counted apart. Never a trap, nor any other untyped error.
  try {
    return traffic();
  } catch (e) {
    if (e instanceof Bad) return "undetected";
    throw e;
  }
}

// The event loop kept alive while the cases run: each case awaits a WebAssembly compile, and a
// Worker whose loop runs empty meanwhile enters Node's NodePlatform::DrainTasks, which in Node 20
// can wait for ever on background tasks of other isolates (nodejs/node#54918, #58047: seen here as
// several Workers of one process stopping at once, every thread asleep in DrainTasks or idle).
const keepAlive = setInterval(() => {}, 1000);
for (let i = 0; i < count; i++) {
  const seed = first + i;
  parentPort.postMessage({ type: "start", seed });
  let result;
  try {
    result = await damageCase(seed);
  } catch (e) {
    result = `bad: ${e instanceof Bad ? "" : `untyped ${e?.name}: `}${e?.message ?? e}`;
    if (explore) result += ` [${String(e?.stack).split("\n").slice(1, 6).map((l) => l.trim()).join(" | ")}] damage ${JSON.stringify(lastDamage)}`;
  }
  parentPort.postMessage({ type: "done", seed, outcome: result });
}
clearInterval(keepAlive);
parentPort.postMessage({ type: "end" });
