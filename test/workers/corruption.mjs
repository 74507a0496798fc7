// test/workers/corruption.mjs — one Worker of the heap-damage test (test/corruption.test.ts).
//
// Runs seeded cases one after another and posts each outcome, so that the main thread can time
// every case (a case that posts nothing within its limit is a hang). A case: a small populated
// heap in one mode, 1-8 bytes of its metadata damaged (a kind chosen by the seed: free-block
// links, pool / arena / chunk / heap headers, free chunks, thread lists, debug headers, the
// quarantine, anywhere outside live bytes), then check() and, if it passes, more operations with
// every live block's bytes verified. Good outcomes: a PymallocError subclass (the damage was
// found) or correct behaviour. Bad: any other error, a pointer outside the memory or misaligned,
// a block overlapping a live one, a live block whose bytes changed.
// Attach cases: attachHeap on zeros, random bytes, truncated copies and copies with one header
// word changed: a PymallocError subclass or a heap that checks and works.
// Loads the built package (dist/), which `npm test` builds first.
import { parentPort, workerData } from "node:worker_threads";
import { attachHeap, createHeap, PymallocError, constants } from "../../dist/index.js";
import { damage as damageAt, isLive, pick, rand, ri, seedFrom } from "./damage.mjs";

const { H, Pool, Arena, Chunk, Flag, Slot, Debug, Remote, Used } = constants;
const { kind, mode, first, count, noCheck: noCheckAll = false } = workerData;


const OPTS = {
  pymalloc: { allocator: "pymalloc" },
  malloc: { allocator: "malloc" },
  debug: { allocator: "debug", traceAllocations: false, quarantineBlocks: 16, quarantineBytes: 4096 },
  threads: { allocator: "pymalloc", threads: true, maxThreads: 3 },
  subpools: { allocator: "pymalloc", subPools: true },
  subpools_threads: { allocator: "pymalloc", subPools: true, threads: true, maxThreads: 3 },
  threads_debug: { allocator: "debug", threads: true, maxThreads: 3, traceAllocations: false, quarantineBlocks: 16 },
  rawfirst: { allocator: "pymalloc", rawFirst: 8 }, // the raw start: young classes raw, then pools
  // The default layout (16 KiB pools cut into 1 KiB sub-pools, 128 KiB arenas): the hunt past the
  // seeds found a pool's SIZE the debug layer trusted there (2026-12-06).
  default: { allocator: "pymalloc", layout: "default" },
  debug_default: { allocator: "debug", traceAllocations: false, quarantineBlocks: 16, quarantineBytes: 4096, layout: "default" },
  threads_debug_default: { allocator: "debug", threads: true, maxThreads: 3, traceAllocations: false, quarantineBlocks: 16, layout: "default" },
};

/** A small heap: 4 KiB pools, 4-pool arenas, a few hundred blocks (or the default pools and arenas). */
function newHeap() {
  const { layout, ...opts } = OPTS[mode];
  if (layout === "default") return createHeap({ ...opts, initialBytes: 65536, maxBytes: 1 << 24 });
  return createHeap({ ...opts, initialBytes: 65536, maxBytes: 1 << 22, poolSize: 4096, arenaSize: 16384 });
}

class Bad extends Error {}
let lastKind = "";

/** Live blocks of the test: address -> { size, value, fam }, and their checks. */
class Model {
  constructor(heap) {
    this.heap = heap;
    this.live = new Map();
    this.handles = [heap];
    // A few sizes most of the time: pools fill, empty and are reused for their class.
    this.sizes = Array.from({ length: 4 }, () => 1 + ri(512));
  }
  fams(h) {
    return [h.raw, h.mem, h.obj];
  }
  added(p, n, fam) {
    const h = this.heap;
    if (p === 0) return;
    const align = n > 512 || h.mode === "malloc" ? 16 : h.alignment;
    if (typeof p !== "number" || p % align !== 0) throw new Bad(`block ${p} of ${n} bytes is misaligned or no number`);
    if (p < h.heapBase || p + n > h.u8.length) throw new Bad(`block ${p} of ${n} bytes is outside the memory (${h.u8.length} bytes)`);
    for (const [q, b] of this.live) if (p < q + Math.max(b.size, 1) && q < p + Math.max(n, 1)) throw new Bad(`block ${p} of ${n} bytes overlaps live block ${q} of ${b.size}`);
    const value = 1 + ri(254);
    h.u8.fill(value, p, p + n);
    this.live.set(p, { size: n, value, fam });
  }
  verify(p) {
    const b = this.live.get(p);
    const u8 = this.heap.u8;
    for (let k = p; k < p + b.size; k++) if (u8[k] !== b.value) throw new Bad(`live block ${p} of ${b.size} bytes changed at +${k - p}`);
  }
  verifyAll() {
    for (const p of this.live.keys()) this.verify(p);
  }
  /** One random operation through a random handle. */
  step() {
    const h = pick(this.handles);
    const r = rand();
    const fi = ri(3);
    if (this.live.size === 0 || r < 0.55) {
      const n = rand() < 0.6 ? pick(this.sizes) : rand() < 0.8 ? 1 + ri(520) : 521 + ri(3000);
      const p = rand() < 0.2 ? this.fams(h)[fi].calloc(1, n) : this.fams(h)[fi].malloc(n);
      this.added(p, n, fi);
    } else if (r < 0.65) {
      const p = pick([...this.live.keys()]);
      const b = this.live.get(p);
      this.verify(p);
      const n = 1 + ri(800);
      const q = this.fams(h)[b.fam].realloc(p, n);
      if (q === 0) return;
      this.live.delete(p);
      const keep = Math.min(n, b.size);
      const u8 = this.heap.u8;
      for (let k = 0; k < keep; k++) if (u8[q + k] !== b.value) throw new Bad(`realloc ${p} -> ${q} lost byte ${k}`);
      this.added(q, n, b.fam);
    } else {
      const p = pick([...this.live.keys()]);
      this.verify(p);
      const b = this.live.get(p);
      this.live.delete(p);
      this.fams(h)[b.fam].free(p);
    }
  }
}

/** Byte ranges of metadata, by kind (the generic walk of a populated heap, read-only). */
function targets(heap, model) {
  const u32 = heap.u32;
  const raw = heap.rawAllocator;
  const oa = heap.objectAllocator;
  const hb = heap.heapBase;
  const out = { header: [], headerScalar: [], chunk: [], freeChunk: [], pool: [], arena: [], freeLink: [], freeBlock: [], thread: [], debugHeader: [], quarantine: [], anywhere: [] };
  const hs = u32[(hb >>> 2) + H.HEAP_START];
  for (let a = hb; a < hs + 8; a += 4) out.header.push(a);
  for (let k = 0; k < 29; k++) out.headerScalar.push(hb + 4 * k);
  const top = raw.top;
  for (let c = raw.start; c < top; ) {
    const sw = u32[(c + 4) >>> 2];
    const size = constants.sizeOf(sw);
    if (size === 0) break;
    out.chunk.push(c, c + 4);
    if (sw & Flag.FREE) out.freeChunk.push(c + 8, c + 12, c + size);
    // A thread slot's usedpools array (a chunk of the allocator's own): its words, as the header's.
    if (raw.usedChunkSlot(c, sw) >= 0) for (let k = 8; k < 8 + Used.BYTES; k += 4) out.thread.push(c + k);
    if (sw & Flag.ARENA && !raw.isInternalChunk(c, sw)) {
      const first = c + 8;
      const ah = oa.arenaHeader(first);
      for (let k = 0; k < Arena.OVERHEAD; k += 4) out.arena.push(ah + k);
      const pa = u32[(ah + Arena.POOL_ADDRESS) >>> 2];
      for (let pool = first; pool < first + size - 8 && pool < ah; pool += oa.poolSize) {
        for (let k = 0; k < Pool.OVERHEAD; k += 4) out.pool.push(pool + k);
        if (pool >= pa) continue;
        for (let b = u32[(pool + Pool.FREEBLOCK) >>> 2], n = 0; b !== 0 && n < 2000; b = u32[b >>> 2], n++) {
          out.freeLink.push(b);
          out.freeBlock.push(b + 4);
        }
        const rem = u32[(pool + Pool.REMOTE) >>> 2];
        if (rem > 1) out.thread.push(pool + Pool.REMOTE, rem);
      }
    }
    c += size;
  }
  if (oa.threaded) for (let k = 0; k < oa.nSlots; k++) out.thread.push(oa.slotBase(k) + Slot.DELAYED, oa.slotBase(k) + Slot.STATE, oa.slotBase(k) + Slot.USED, hb + 4 * H.LOCK);
  if (heap.debug) {
    for (const p of model.live.keys()) for (let k = -32; k < 0; k += 4) out.debugHeader.push(p + k);
    const ring = u32[(hb >>> 2) + H.QUARANTINE];
    if (ring) for (let k = 0; k < 32 + 16 * 8; k += 4) out.quarantine.push(ring + k);
  }
  return out;
}


/** Write 1-8 damaging bytes at a (damage.mjs). */
function damage(heap, model, a) {
  return damageAt(heap, model, a);
}

function typed(e) {
  return e instanceof PymallocError;
}

/** One damage case; returns "found" | "ok" | "skip", or throws Bad / an untyped error. */
function damageCase(seed) {
  seedFrom(seed);
  const heap = newHeap();
  const model = new Model(heap);
  if (mode.includes("threads")) model.handles.push(attachHeap(heap.memory.source, { traceAllocations: false }));
  const ops = 150 + ri(250);
  for (let i = 0; i < ops; i++) model.step();
  if (mode.includes("threads") && rand() < 0.3) {
    // a thread leaves: its pools become orphans
    model.handles[1].detachThread();
    model.handles.pop();
  }
  const t = targets(heap, model);
  const kinds = Object.keys(t).filter((k) => t[k].length > 0);
  kinds.push("anywhere");
  const k = pick(kinds);
  lastKind = k;
  let a;
  if (k === "anywhere") a = heap.heapBase + ri(heap.rawAllocator.top + 8 - heap.heapBase);
  else a = pick(t[k]);
  const before = heap.u32[(a & ~3) >>> 2];
  const what = damage(heap, model, a);
  lastKind = `${k} a=${a} (pool+${a % heap.objectAllocator.poolSize}) ${JSON.stringify(what)} before=${before}`;
  if (what === null) return "skip";
  // An in-use raw chunk's size word enlarged to end where a later chunk starts was the one gap
  // of the raw allocator until its footer (Chunk, HEAP_VERSION 17): counted as skip then. Now
  // the footer there, the size of the chunk before that later one, always smaller, says no.
  // A free block's link rewritten to anything outside its pool's carved blocks (what a stray
  // write of a pointer or a number mostly gives): release mode must refuse it without check().
  // The release paths' gap (README, "A damaged heap"): a link rewritten to another place among
  // its pool's carved blocks (check()'s to find, or malloc's with hardened: true). Without
  // check(), a wrong block handed out after such damage is "undetected", counted apart; after
  // any other damage it is bad. (A pool's MAXNEXTOFFSET raised was the second gap until carving
  // went in batches, 2026-12-04: the carve checks where the pool ends.)
  const oa = heap.objectAllocator;
  let gap = false;
  if (k === "freeLink" && (what.a & 3) === 0) {
    const pool = oa.poolOf(what.a);
    const off = what.v - pool - Pool.OVERHEAD;
    gap = off >= 0 && what.v < pool + heap.u32[(pool + Pool.NEXTOFFSET) >>> 2];
  }
  const noCheck = noCheckAll || (k === "freeLink" && !gap && rand() < 0.5);
  if (!noCheck && outcome(() => heap.check()) === "found") return "found";
  try {
    return outcome(() => {
      for (let i = 0; i < 300; i++) model.step();
      model.verifyAll();
      heap.check();
    });
  } catch (e) {
    if (e instanceof Bad && noCheck && gap) return "undetected";
    throw e;
  }
}

/** Runs fn: "found" when it ends in a typed error, "ok" when it ends; anything else is thrown. */
function outcome(fn) {
  try {
    fn();
  } catch (e) {
    if (typed(e)) return "found";
    throw e;
  }
  return "ok";
}

/** A populated heap's bytes, as a plain ArrayBuffer copy (a snapshot). */
function snapshot() {
  const heap = createHeap({ allocator: pick(["pymalloc", "malloc", "debug"]), memoryKind: "fixed", initialBytes: 1 << 18, poolSize: 4096, arenaSize: 16384, traceAllocations: false });
  const model = new Model(heap);
  for (let i = 0; i < 300; i++) model.step();
  const copy = new ArrayBuffer(heap.u8.length);
  new Uint8Array(copy).set(heap.u8);
  return { heap, copy, model };
}

/** One attach case: attachHeap on damaged bytes, then check() and operations. */
function attachCase(seed) {
  seedFrom(seed);
  const way = ri(4);
  let buf;
  if (way === 0) buf = new ArrayBuffer(pick([0, 8, 64, 128, 4096, 65536]));
  else if (way === 1) {
    buf = new ArrayBuffer(4096 * (1 + ri(32)));
    const u8 = new Uint8Array(buf);
    for (let i = 0; i < u8.length; i++) u8[i] = ri(256);
    if (rand() < 0.5) new Uint32Array(buf)[0] = 0x50594d41; // the magic, then garbage
    if (rand() < 0.3) new Uint32Array(buf)[1] = 4;
  } else {
    const { copy } = snapshot();
    if (way === 2) buf = copy.slice(0, pick([4096, 8192, 16384, 32768, 65536, 1 + ri(copy.byteLength)]));
    else {
      buf = copy;
      const u32 = new Uint32Array(buf);
      const hs = u32[H.HEAP_START];
      const w = rand() < 0.6 ? ri(29) : ri((hs + 8) >>> 2);
      const old = u32[w];
      u32[w] = pick([old + 1, old - 1, old + 16, old ^ (1 << ri(32)), 0, 0xffffffff, ri(1 << 20)]) >>> 0;
    }
  }
  // A buffer of 0 bytes is a copy truncated to nothing: a PymallocError saying so (README: never
  // a RangeError; createHeap's 0 bytes stays one, the caller's mistake).
  if (buf.byteLength === 0) {
    try {
      attachHeap(buf, { traceAllocations: false });
    } catch (e) {
      if (e instanceof PymallocError && /0 bytes/.test(e.message)) return "found";
      throw e;
    }
    throw new Bad("attachHeap of 0 bytes did not throw");
  }
  return outcome(() => {
    const heap = attachHeap(buf, { traceAllocations: false });
    heap.check();
    const model = new Model(heap);
    for (let i = 0; i < 200; i++) model.step();
    model.verifyAll();
    heap.check();
  });
}

for (let i = 0; i < count; i++) {
  const seed = first + i;
  parentPort.postMessage({ type: "start", seed });
  let result;
  try {
    result = kind === "attach" ? attachCase(seed) : damageCase(seed);
  } catch (e) {
    result = `bad: ${e instanceof Bad ? "" : `untyped ${e?.name}: `}${e?.message ?? e}${workerData.verbose ? ` [${lastKind}] ${e?.stack}` : ""}`;
  }
  parentPort.postMessage({ type: "done", seed, outcome: result });
}
parentPort.postMessage({ type: "end" });
