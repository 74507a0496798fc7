// The object allocator's fast paths in WebAssembly (wasm/obmalloc/obmalloc.ts, AssemblyScript)
// on the heap the TypeScript allocator manages, in one WebAssembly.Memory: its layout numbers
// come from src/constants.ts (layout.ts is generated and checked here), and random programs
// interleave JS and wasm calls on one heap (either side frees what the other allocated, realloc
// and calloc on both), with check() after every step and every block's contents verified.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as constants from "../src/constants.js";
import { Chunk, FreeBlock, Pool } from "../src/constants.js";
import { createHeap, HeapCorruptionError, InvalidPointerError, type AllocatorFunctions, type Heap } from "../src/index.js";
import { fastPathModule, fastPathModuleOf, hasFastPath } from "../src/compat/wasm-imports.js";
import { FASTPATH_MERGE_WASM, FASTPATH_SHARED_WASM, FASTPATH_WASM } from "../src/compat/wasm-fastpath-bytes.js";
// @ts-expect-error: a plain .mjs module shared with the build script
import { layoutSource } from "../wasm/obmalloc/layout.mjs";
import { readTraceFile } from "../src/trace/file.js";
import { differential, fastPathInstance, thrownBy, xorshift } from "./helpers.js";

const ROOT = join(import.meta.dirname, "..");

/** Whether two heaps hold the same bytes, but for their identity words (H.IDENTITY: random, each heap its own). */
function sameHeapBytes(a: Heap, b: Heap): boolean {
  if (a.u8.length !== b.u8.length || a.heapBase !== b.heapBase) return false;
  const ca = Buffer.from(a.u8);
  const cb = Buffer.from(b.u8);
  const at = a.heapBase + constants.H.IDENTITY * 4;
  ca.writeUInt32LE(0, at);
  cb.writeUInt32LE(0, at);
  return ca.equals(cb);
}

describe("the fast path's layout numbers have one source", () => {
  it("wasm/obmalloc/layout.ts is what src/constants.ts gives (regenerate: npm run build:wasm-fastpath)", () => {
    const committed = readFileSync(join(ROOT, "wasm/obmalloc/layout.ts"), "utf8");
    expect(committed).toBe((layoutSource as (c: unknown) => string)(constants));
    // A changed number is caught: the text depends on the values.
    expect((layoutSource as (c: unknown) => string)({ ...constants, Pool: { ...constants.Pool, FREEBLOCK: 44 } })).not.toBe(committed);
  });

  it("the library embeds the committed .wasm files, which import only memory and the four slow paths", () => {
    for (const [file, hex, shared] of [["obmalloc.wasm", FASTPATH_WASM, false], ["obmalloc-shared.wasm", FASTPATH_SHARED_WASM, true]] as const) {
      const bytes = readFileSync(join(ROOT, "wasm/obmalloc", file));
      expect(Buffer.from(hex, "hex").equals(bytes)).toBe(true);
      const m = fastPathModule(shared);
      expect(WebAssembly.Module.imports(m).map((d) => `${d.module}.${d.name}`).sort()).toEqual(["env.memory", "pymalloc.calloc", "pymalloc.free", "pymalloc.malloc", "pymalloc.realloc"]);
      const names = WebAssembly.Module.exports(m).map((d) => d.name);
      expect(names.filter((n) => !n.startsWith("pymalloc_k_")).sort()).toEqual(["calloc", "divert", "free", "init", "malloc", "realloc", "stop"]);
      // The heap's numbers (wasm/obmalloc/numbers.ts): heapAllocator compiles a copy with them as constants.
      expect(names.filter((n) => n.startsWith("pymalloc_k_")).sort()).toEqual(WebAssembly.Module.exports(new WebAssembly.Module(Buffer.from(FASTPATH_MERGE_WASM, "hex"))).map((d) => d.name).filter((n) => n.startsWith("pymalloc_k_")).sort());
      // No data segment: nothing of the fast path's own is written into the heap's memory.
      expect(hasSection(bytes, 11)).toBe(false);
    }
  });
});

describe("heap.wasmImports(): the fast path specialised to the heap handle", () => {
  it("a copy of the build with the handle's numbers as constants, compiled once for heaps made alike and again for other numbers; C's calls give the same blocks as on the build as it is", () => {
    const made = (options: Parameters<typeof createHeap>[0]) => {
      const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 32, maximum: 512 }), traceAllocations: false, ...options });
      const w = heap.wasmImports();
      return { heap, w, module: fastPathModuleOf(heap, "mem")! };
    };
    const a = made({ poolSize: 8192 });
    const b = made({ poolSize: 8192 });
    const c = made({ poolSize: 4096 });
    expect(a.module).toBeInstanceOf(WebAssembly.Module);
    expect(a.module).not.toBe(fastPathModule(false)); // not the build as it is
    expect(b.module).toBe(a.module); // heaps made alike: compiled once
    expect(c.module).not.toBe(a.module); // other numbers, another copy
    expect(fastPathModuleOf(a.heap, "obj")).toBeUndefined(); // made when first asked for
    // The same program, the same blocks on each heap made alike, the heap checked by JS.
    const run = ({ heap, w }: { heap: Heap; w: AllocatorFunctions }) => {
      const ps = [8, 24, 40, 600, 24, 512].map((n) => w.malloc(n) >>> 0);
      w.free(ps[1]);
      const q = w.malloc(24) >>> 0;
      const r = w.realloc(ps[2], 100) >>> 0;
      heap.check();
      for (const p of [ps[0], ps[3], ps[4], ps[5], q, r]) w.free(p);
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
      return [...ps, q, r].map((p) => p - heap.heapBase);
    };
    expect(run(b)).toEqual(run(a));
    run(c);
  });
});

function hasSection(b: Uint8Array, id: number): boolean {
  let i = 8;
  while (i < b.length) {
    const s = b[i++];
    let size = 0;
    let shift = 0;
    let c: number;
    do {
      c = b[i++];
      size |= (c & 0x7f) << shift;
      shift += 7;
    } while (c & 0x80);
    if (s === id) return true;
    i += size;
  }
  return false;
}


/** The three sides of a random program: wasm (heap.wasmImports()), heap.mem and heap.obj. */
const wasmSides = (heap: Heap): AllocatorFunctions[] => [heap.wasmImports(), heap.mem, heap.obj];

const wasmHeap = (opts: { shared?: boolean; alignment?: 8 | 16; poolSize?: number; subPools?: boolean } = {}): Heap =>
  createHeap({
    memory: new WebAssembly.Memory({ initial: 2, maximum: 4096, shared: opts.shared ?? false } as WebAssembly.MemoryDescriptor),
    heapBase: 4096,
    alignment: opts.alignment,
    poolSize: opts.poolSize,
    subPools: opts.subPools,
  });

describe("JS and wasm on one heap", () => {
  it("pymalloc mode on a WebAssembly.Memory gets the wasm fast path; the debug modes and the raw family keep JS", () => {
    const heap = wasmHeap();
    expect(hasFastPath(heap)).toBe(true);
    expect(heap.wasmImports().malloc).toBeInstanceOf(Function);
    expect(String(heap.wasmImports().malloc)).toMatch(/native code/); // a wasm export, not a JS closure
    expect(heap.wasmImports()).toMatchObject({ malloc: heap.wasmImports().malloc }); // one instance per heap handle
    expect(hasFastPath(heap, "raw")).toBe(false);
    const dbg = createHeap({ memory: new WebAssembly.Memory({ initial: 2, maximum: 512 }), heapBase: 4096, allocator: "debug" });
    expect(hasFastPath(dbg)).toBe(false);
    expect(String(dbg.wasmImports().malloc)).not.toMatch(/native code/);
  });

  for (const cfg of [
    { name: "unshared, 8-byte classes", opts: {} },
    { name: "unshared, 16-byte classes", opts: { alignment: 16 as const } },
    { name: "shared memory", opts: { shared: true } },
    { name: "4 KiB pools", opts: { poolSize: 4096 } },
  ]) {
    it(`random programs interleave JS and wasm calls, check() after each step (${cfg.name})`, () => {
      for (let seed = 1; seed <= 2; seed++) {
        const heap = wasmHeap(cfg.opts);
        differential(heap, wasmSides(heap), seed * 7919 + cfg.name.length, 600);
      }
    });
  }

  it("raw chunks half the time: wasm's TLSF paths and JS's split, merge and move one heap's chunks (check after each step)", () => {
    for (let seed = 1; seed <= 2; seed++) {
      const heap = wasmHeap();
      differential(heap, wasmSides(heap), seed * 104729, 800, 1, 50);
    }
  });

  it("raw chunks: wasm's TLSF paths make JS's decisions exactly (same addresses, same heap bytes, as a heap served by JS alone)", () => {
    const a = wasmHeap(); // C's side: the fast path
    const b = wasmHeap(); // JS alone
    const wa = a.wasmImports();
    const rand = xorshift(0x9e3779b9);
    const liveA: number[] = [];
    const liveB: number[] = [];
    for (let step = 0; step < 3000; step++) {
      const op = rand() % 8;
      const n = rand() % 8 === 0 ? 0 : 513 + (rand() % 20000); // 0 bytes: a raw chunk too
      if (op < 3 || liveA.length === 0) {
        const calloc = op === 2;
        const pa = (calloc ? wa.calloc(1, n) : wa.malloc(n)) >>> 0;
        const pb = calloc ? b.mem.calloc(1, n) : b.mem.malloc(n);
        expect(pa).toBe(pb);
        liveA.push(pa);
        liveB.push(pb);
      } else if (op < 6) {
        const i = rand() % liveA.length;
        wa.free(liveA[i]);
        b.mem.free(liveB[i]);
        liveA.splice(i, 1);
        liveB.splice(i, 1);
      } else {
        const i = rand() % liveA.length;
        const pa = wa.realloc(liveA[i], n) >>> 0;
        const pb = b.mem.realloc(liveB[i], n);
        expect(pa).toBe(pb);
        liveA[i] = pa;
        liveB[i] = pb;
      }
    }
    a.check();
    b.check();
    // (Small blocks are left out: wasm keeps a class's emptied pool where JS gives it back to its
    // arena, so their arenas, and then the raw chunks around them, differ by design.)
    expect(sameHeapBytes(a, b)).toBe(true);
  });

  it("a longer run grows the memory from the slow path while wasm allocates (check every 50 steps)", () => {
    const heap = wasmHeap();
    const before = heap.memory.byteLength;
    differential(heap, wasmSides(heap), 12345, 20_000, 100, 20);
    expect(heap.memory.byteLength).toBeGreaterThan(before);
  });

  it("wasm's free reports what JS's does: a double free, an interior pointer, a pointer outside the heap", () => {
    const heap = wasmHeap();
    const w = heap.wasmImports();
    const p = w.malloc(40);
    w.malloc(40); // keeps the pool in use after p is freed
    w.free(p);
    expect(() => w.free(p)).toThrow(InvalidPointerError);
    const q = w.malloc(40);
    expect(() => w.free(q + 8)).toThrow(/interior|inside/);
    expect(() => w.realloc(q + 8, 10)).toThrow(InvalidPointerError);
    expect(() => w.free(12)).toThrow(InvalidPointerError);
    heap.check();
  });

  it("the fast path hands out only a block that holds the free tag: else JS reports it, nothing handed out", () => {
    for (const subPools of [true, false]) {
      const heap = wasmHeap({ subPools });
      const w = heap.wasmImports();
      const [a, b] = [w.malloc(40), w.malloc(40)];
      w.malloc(40);
      w.free(a);
      heap.u32[(a + FreeBlock.TAG) >>> 2] = 0; // written after it was freed
      expect(thrownBy(() => w.malloc(40))).toMatchObject({ name: "HeapCorruptionError", address: a + FreeBlock.TAG, field: "free block tag" });
      heap.u32[(a + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
      heap.u32[a >>> 2] = b; // its link rewritten to a live block
      expect(w.malloc(40)).toBe(a);
      expect(thrownBy(() => w.malloc(40))).toMatchObject({ name: "HeapCorruptionError", address: b + FreeBlock.TAG, field: "free block tag" });
    }
  });

  it("a block freed twice (either side first) is never handed out twice; realloc of a freed block is refused", () => {
    for (const subPools of [true, false]) {
      const heap = wasmHeap({ subPools });
      const w = heap.wasmImports();
      const [a, b, c] = [w.malloc(40), w.malloc(40), w.malloc(40)];
      heap.mem.malloc(40); // keeps the pool in use
      w.free(a);
      heap.mem.free(b); // JS's free: a is no longer the list's head
      expect(thrownBy(() => w.realloc(a, 30))).toMatchObject({ address: a, reason: "double-free" }); // in place, once
      expect(thrownBy(() => w.realloc(b, 300))).toMatchObject({ address: b, reason: "double-free" });
      expect(thrownBy(() => w.free(b))).toMatchObject({ address: b, reason: "double-free" }); // its pool's last freed block
      heap.check();
      w.free(c);
      // A block the pool carved ahead and never handed out (the fast path carves one ahead).
      const d = w.malloc(200);
      expect(thrownBy(() => w.free(d + 200))).toMatchObject({ reason: "double-free" });
      // a freed again, not the list's head: release modes take the free, and refuse the malloc
      // that would hand a out a second time (C's malloc through the fast path, reported by JS).
      w.free(a);
      const got = new Set<number>();
      let refused: unknown;
      for (let k = 0; k < 10 && refused === undefined; k++) {
        refused = thrownBy(() => {
          const p = w.malloc(40);
          expect(got.has(p)).toBe(false);
          got.add(p);
        });
      }
      expect(refused).toMatchObject({ name: "HeapCorruptionError", field: "free block tag" });
    }
  });

  it("live data that holds the free tag is freed as any block", () => {
    const heap = wasmHeap();
    const w = heap.wasmImports();
    const got = Array.from({ length: 50 }, () => w.malloc(40));
    expect(new Set(got).size).toBe(got.length);
    for (const p of got) heap.u32[(p + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
    for (const p of got) w.free(p);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });
});

describe("the fast path alone, with its slow paths observed", () => {
  const instance = fastPathInstance;

  it("serves the head pool's blocks in wasm and calls JS only for a new arena, growth, an emptied pool that is not its class's last", () => {
    const heap = wasmHeap({ subPools: false }); // whole pools from the first block (sub-pools: below)
    const { x, calls } = instance(heap);
    const a = x.malloc(24);
    expect(calls).toEqual(["malloc 24"]); // no arena yet: JS makes one (and takes the pool)
    const b = x.malloc(24);
    const c = x.malloc(20); // same 24-byte class (8-byte alignment)
    expect(calls).toEqual(["malloc 24"]);
    expect(b - a).toBe(24);
    expect(c - b).toBe(24);
    x.free(b);
    expect(x.malloc(17)).toBe(b); // LIFO, in wasm
    x.free(c);
    x.free(b);
    expect(calls).toEqual(["malloc 24"]);
    x.free(a); // the pool empties, its class's only one: kept in wasm, still listed, empty
    expect(calls).toEqual(["malloc 24"]);
    heap.check(); // a kept empty pool is valid on a heap without threads too
    expect(x.malloc(24)).toBe(a); // and reused at once
    x.free(a);
    const d = x.malloc(100); // another class: a pool from the arena, in wasm
    expect(calls).toEqual(["malloc 24"]);
    expect(d & ~(16384 - 1)).not.toBe(a & ~(16384 - 1));
    heap.check();
    x.free(d);
    const r0 = x.malloc(0); // raw chunks (0 bytes, > 512 bytes) in wasm while the memory holds them
    const r1 = x.malloc(600);
    expect(calls).toEqual(["malloc 24"]);
    expect(heap.usableSize(r0)).toBe(Chunk.MIN - Chunk.OVERHEAD);
    expect(heap.usableSize(r1)).toBeGreaterThanOrEqual(600);
    const big = heap.memory.source.buffer.byteLength; // more than the memory holds: JS grows it
    const r2 = x.malloc(big);
    expect(r2).not.toBe(0);
    expect(calls).toEqual(["malloc 24", `malloc ${big}`]);
    // r2 took the top past its peak: JS gave back first what free() keeps (the 24-byte class's
    // empty pool, alone in its arena: SubPool.KEPT), so calloc(3, 8) takes a pool again through JS.
    const z = x.calloc(3, 8);
    expect(heap.u8.subarray(z, z + 24).every((v) => v === 0)).toBe(true);
    expect(calls.slice(2)).toEqual(["calloc"]);
    expect(heap.stats().arenas.reclaimed).toBe(1); // its arena went back with it: z is in a new one
    const z2 = x.calloc(3, 8); // then its blocks, zeroed in wasm
    expect(heap.u8.subarray(z2, z2 + 24).every((v) => v === 0)).toBe(true);
    expect(calls.length).toBe(3);
    for (const p of [r0, r1, r2, z, z2]) x.free(p);
    // r0 and r1 go to the raw cache in wasm; r2, below z's arena now (not the last chunk, whose
    // free would bring the top down with chunks cached: JS's), is merged in wasm.
    expect(z).toBeGreaterThan(r2);
    expect(calls.slice(3)).toEqual([]);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });

  it("raw chunks in wasm: split, merged with free neighbours and the top, realloc in place or moved, as JS does; check() after each step", () => {
    const heap = wasmHeap();
    const { x, calls } = instance(heap);
    const top = () => heap.u32[(heap.heapBase >>> 2) + constants.H.TOP];
    const t0 = top();
    // Chunks over RawCache.MAX_SIZE (4096 bytes): free() merges them at once, no cache keeps them.
    const a = x.malloc(5000);
    const b = x.calloc(1, 6000);
    const c = x.malloc(7000);
    expect(heap.u8.subarray(b, b + 6000).every((v) => v === 0)).toBe(true);
    expect([b - a, c - b]).toEqual([5008, 6016]); // carved from the top one after another
    heap.check();
    x.free(a);
    x.free(b); // merges with a's free chunk
    heap.check();
    expect(x.malloc(10900)).toBe(a); // the merged chunk, split
    heap.check();
    const d = x.realloc(c, 9000); // c touches the top: grows in place
    expect(d).toBe(c);
    heap.u8.fill(7, d, d + 9000);
    const e = x.realloc(d, 100); // shrinks in place (stays a raw chunk), the rest back to the top
    expect(e).toBe(d);
    expect(heap.u8[e + 99]).toBe(7);
    heap.check();
    const f = x.malloc(700); // now at the top, after e
    const g = x.realloc(e, 4000); // cannot grow in place (f follows): moved, copied
    expect(g).not.toBe(e);
    expect(heap.u8.subarray(g, g + 100).every((v) => v === 7)).toBe(true);
    heap.check();
    // The raw cache, in wasm: a freed chunk of up to 4096 bytes is kept whole and taken back by
    // the next malloc of its size.
    const h1 = x.malloc(1000);
    const guard = x.malloc(600); // keeps h1 from the top
    x.free(h1);
    heap.check();
    expect(x.malloc(1000)).toBe(h1);
    x.free(h1);
    expect(calls).toEqual([]);
    heap.check();
    // A realloc that would grow into a cached chunk: JS merges the cache and grows it in place.
    const h0 = x.malloc(1000); // h1, from the cache
    expect(h0).toBe(h1);
    const last = x.malloc(600); // from the top, after the guard
    x.free(guard); // cached: the guard follows h0
    calls.length = 0;
    heap.u8.fill(5, h0, h0 + 1000);
    expect(x.realloc(h0, 1500)).toBe(h0);
    expect(calls).toEqual(["realloc"]);
    expect(heap.u8.subarray(h0, h0 + 1000).every((v) => v === 5)).toBe(true);
    heap.check();
    // With a chunk cached, a malloc that nothing free fits merges the cache first, in wasm as
    // tlsf.ts does, before the top would pass its peak (the peak footprint is the TLSF lists' alone; the next
    // test compares such heaps with JS's byte for byte).
    x.free(h0);
    calls.length = 0;
    const m = x.malloc(3000);
    expect(calls).toEqual([]);
    expect(heap.u32[(heap.heapBase + heap.u32[(heap.heapBase >>> 2) + constants.H.RAW_CACHE]) >>> 2]).toBe(0); // emptied
    heap.check();
    x.free(m);
    calls.length = 0;
    for (const p of [a, f, g]) x.free(p); // a merged (over 4096 bytes), f and g cached, in wasm
    expect(calls).toEqual([]);
    heap.check();
    // The last chunk brings the top down with chunks cached, in wasm too: the cached chunks stay
    // (they merge before the top would pass its peak, or at collect()), and then everything
    // merges back into the top.
    x.free(last);
    expect(calls).toEqual([]);
    heap.check();
    heap.collect();
    expect(top()).toBe(t0);
    heap.check();
  });

  it("a full raw cache is emptied in wasm, as JS empties it: same addresses, same heap bytes, no call into JS", () => {
    const a = wasmHeap(); // C's side: the fast path
    const b = wasmHeap(); // JS alone
    const { x, calls } = instance(a);
    const rand = xorshift(0x2545f491);
    const liveA: number[] = [];
    const liveB: number[] = [];
    const cacheAt = a.heapBase + a.u32[(a.heapBase >>> 2) + constants.H.RAW_CACHE];
    let flushes = 0;
    // A heap of a few hundred KiB: a full cache holds a few chunks (RawCache.MIN_LIMIT, one for
    // every 64 KiB), so frees of 600-4000 byte chunks fill it again and again.
    for (let i = 0; i < 200; i++) {
      const n = 600 + (rand() % 3400);
      liveA.push(x.malloc(n) >>> 0);
      liveB.push(b.mem.malloc(n));
    }
    calls.length = 0;
    for (let step = 0; step < 4000; step++) {
      const i = rand() % liveA.length;
      const before = a.u32[cacheAt >>> 2];
      x.free(liveA[i]);
      b.mem.free(liveB[i]);
      if (a.u32[cacheAt >>> 2] < before) flushes++;
      const n = 600 + (rand() % 3400);
      liveA[i] = x.malloc(n) >>> 0;
      liveB[i] = b.mem.malloc(n);
      expect(liveA[i]).toBe(liveB[i]);
      if (step % 500 === 0) a.check();
    }
    expect(flushes).toBeGreaterThan(50);
    // Only growth (the top past the memory's end) and the top coming down with chunks cached go to JS.
    expect(calls.filter((c) => !c.startsWith("malloc") && c !== "free")).toEqual([]);
    expect(calls.length).toBeLessThan(flushes);
    a.check();
    b.check();
    expect(sameHeapBytes(a, b)).toBe(true);
  });

  it("the raw cache emptied in wasm: a damaged cached chunk stops it where JS reports it (HeapCorruptionError), nothing of it released", () => {
    const heap = wasmHeap();
    const { x, calls } = instance(heap);
    const cacheAt = heap.heapBase + heap.u32[(heap.heapBase >>> 2) + constants.H.RAW_CACHE];
    const ps: number[] = [];
    for (let i = 0; i < 12; i++) ps.push(x.malloc(1000), x.malloc(24)); // small blocks between: no merging
    calls.length = 0; // (the first small block's pool came from JS)
    const min = constants.RawCache.MIN_LIMIT;
    for (let i = 0; i < min; i++) x.free(ps[2 * i]); // the cache full (a small heap holds MIN_LIMIT)
    expect(heap.u32[cacheAt >>> 2]).toBe(min);
    expect(calls).toEqual([]);
    heap.check();
    // The second chunk on the list (the list is LIFO: ps[2 * (min - 2)]) gets a header a stray
    // write changed: the flush releases the first, then stops there.
    const victim = ps[2 * (min - 2)] - Chunk.HEADER;
    const saved = heap.u32[(victim + Chunk.SIZE) >>> 2];
    heap.u32[(victim + Chunk.SIZE) >>> 2] = saved & ~8; // no longer ARENA: not a cached chunk
    const err = thrownBy(() => x.free(ps[2 * min]));
    expect(err).toBeInstanceOf(HeapCorruptionError);
    // Reached through the list's head: wasm released the chunk before it and left the victim there.
    const head = cacheAt + constants.RawCache.HEADS + ((1008 >>> 4) & (constants.RawCache.BINS - 1)) * 4;
    expect(err).toMatchObject({ address: head });
    expect(String((err as Error).message)).toMatch(/no cached chunk/);
    expect(heap.u32[(victim + Chunk.SIZE) >>> 2]).toBe(saved & ~8); // never released
    expect(calls).toEqual(["free"]); // wasm stopped, JS went on from there and reported it
    // The list's first chunk was released by wasm before it stopped (no longer cached: ARENA off).
    expect(heap.u32[(ps[2 * (min - 1)] - Chunk.HEADER + Chunk.SIZE) >>> 2] & 8).toBe(0);
  });

  it("realloc that moves a small block gives the old one back to its pool in wasm: pushed when the pool stays in use, else as free() does", () => {
    const heap = wasmHeap();
    const { x, calls } = instance(heap);
    const a = x.malloc(40);
    const b = x.malloc(40);
    const c = x.malloc(40);
    calls.length = 0;
    heap.u8.fill(3, b, b + 40);
    const b2 = x.realloc(b, 200); // another class: moved, copied, b pushed onto its pool
    expect(b2).not.toBe(b);
    expect(heap.u8.subarray(b2, b2 + 40).every((v) => v === 3)).toBe(true);
    expect(heap.usableSize(b2)).toBeGreaterThanOrEqual(200);
    heap.check();
    expect(x.malloc(40)).toBe(b); // b, first on its pool's free list
    // The pool's last block moved: the pool empties, its class's only pool, kept as free() keeps it.
    for (const p of [a, b, c]) x.realloc(p, 300);
    heap.check();
    expect(calls.filter((k) => !k.startsWith("malloc"))).toEqual([]); // (a new class's pool: JS's malloc)
    // A full pool's block moved: the pool goes back onto its class's list, as free() puts it.
    const many: number[] = [];
    for (let i = 0; i < 400; i++) many.push(x.malloc(96));
    const moved = many.map((p) => x.realloc(p, 24));
    heap.check();
    for (const p of moved) x.free(p);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(4); // b2 and the three 300-byte blocks
  });

  it("the raw cache in wasm: a damaged list head or link is never followed; JS reports it, the heap untouched", () => {
    const heap = wasmHeap();
    const { x, calls } = instance(heap);
    const a = x.malloc(1000);
    const live = x.malloc(1000);
    const b = x.malloc(1000);
    x.malloc(1000);
    x.free(a);
    x.free(b); // the cache's list of 1008-byte chunks: b -> a
    expect(calls).toEqual([]);
    heap.check();
    const cacheAt = heap.heapBase + heap.u32[(heap.heapBase >>> 2) + constants.H.RAW_CACHE];
    const head = cacheAt + constants.RawCache.HEADS + ((1008 >>> 4) & (constants.RawCache.BINS - 1)) * 4;
    const link = b - Chunk.HEADER + Chunk.NEXT_FREE;
    for (const [at, bad] of [[head, live - Chunk.HEADER], [head, 0x7ffffff0], [link, live - Chunk.HEADER], [link, 12]]) {
      const saved = heap.u32[at >>> 2];
      heap.u32[at >>> 2] = bad;
      const before = heap.u8.slice();
      calls.length = 0;
      expect(() => {
        x.malloc(1000);
        x.malloc(1000);
      }).toThrow(HeapCorruptionError);
      expect(calls.length).toBeGreaterThan(0); // wasm left it to JS
      if (at === head) expect(Buffer.from(heap.u8).equals(Buffer.from(before))).toBe(true); // the head is checked before anything is written
      heap.u32[at >>> 2] = saved;
      // Put the list back as it was for the next round (the link round took b off the list).
      if (at === link) {
        heap.u32[head >>> 2] = b - Chunk.HEADER;
        heap.u32[(b - Chunk.HEADER + Chunk.SIZE) >>> 2] |= 9; // FREE | ARENA: cached again
        heap.u32[cacheAt >>> 2] = 2;
      }
    }
  });

  it("raw chunks: a damaged free-list link or footer is never followed in wasm; JS reports it (HeapCorruptionError), the heap untouched", () => {
    const heap = wasmHeap();
    const { x, calls } = instance(heap);
    // Over RawCache.MAX_SIZE: on the TLSF free lists, not the raw cache.
    const a = x.malloc(5000);
    const guard = x.malloc(5000);
    const b = x.malloc(5000);
    x.malloc(5000);
    x.free(a);
    x.free(b); // free list of a's size: b -> a
    heap.check();
    const link = b - Chunk.HEADER + Chunk.NEXT_FREE;
    const saved = heap.u32[link >>> 2];
    for (const bad of [0x7ffffff0, guard - Chunk.HEADER, 12]) {
      calls.length = 0;
      heap.u32[link >>> 2] = bad;
      const before = heap.u8.slice();
      expect(() => x.malloc(5000)).toThrow(HeapCorruptionError); // b is taken: its link is checked first
      expect(calls).toEqual(["malloc 5000"]);
      expect(Buffer.from(heap.u8).equals(Buffer.from(before))).toBe(true);
      heap.u32[link >>> 2] = saved;
    }
    // A footer that disagrees: freeing the chunk after a free one must not merge through it.
    heap.u32[(b - Chunk.HEADER + 5008) >>> 2] = 9999;
    calls.length = 0;
    expect(() => x.free(b + 5008)).toThrow(HeapCorruptionError);
    expect(calls).toEqual(["free"]);
  });

  it("raw chunks: a live chunk whose FREE bit a stray write set (link words zero) is never merged in wasm by a free or a realloc beside it; JS reports it", () => {
    for (const op of ["free", "realloc"] as const) {
      const heap = wasmHeap();
      const { x, calls } = instance(heap);
      const a = x.malloc(8000); // over RawCache.MAX_SIZE: a free merges at once
      const b = x.malloc(8000); // the victim, live
      x.malloc(100);
      heap.u8.fill(0xb7, b, b + 8000);
      heap.u32[(b - 4) >>> 2] |= constants.Flag.FREE;
      heap.u32[b >>> 2] = 0;
      heap.u32[(b + 4) >>> 2] = 0;
      calls.length = 0;
      // With no previous link, b must head its list (linksOk): it was merged into a's chunk until 2026-12-07.
      if (op === "free") expect(() => x.free(a)).toThrow(HeapCorruptionError);
      else expect(() => x.realloc(a, 12000)).toThrow(HeapCorruptionError);
      expect(calls.length).toBe(1); // left to JS, which reports it
      expect(heap.u8.subarray(b + 8, b + 8000).every((v) => v === 0xb7)).toBe(true);
    }
  });

  it("fills pools in wasm (a full pool leaves usedpools there), takes the next from the arena, gives back in wasm an emptied pool that is not its class's last", () => {
    const heap = wasmHeap({ subPools: false }); // arenas of 8 whole pools
    const { x, calls } = instance(heap);
    const size = 496;
    const perPool = Math.floor((16384 - Pool.OVERHEAD) / size); // 32 blocks of 496 bytes
    x.free(x.malloc(8)); // the first arena, from JS
    calls.length = 0;
    const blocks = Array.from({ length: 3 * perPool }, () => x.malloc(size));
    expect(calls).toEqual([]); // three pools taken from the arena and filled, all in wasm
    const pools = [...new Set(blocks.map((p) => p & ~(16384 - 1)))];
    expect(pools.length).toBe(3);
    heap.check(); // the full pools are out of usedpools, the counts right
    expect(heap.stats().blocksInUse).toBe(3 * perPool);
    const ao = heap.u32[(pools[0] + Pool.ARENA) >>> 2];
    const freePools = () => heap.u32[(ao + constants.Arena.NFREEPOOLS) >>> 2];
    expect(freePools()).toBe(4); // 8 pools: class 8's, the three, four never used
    // The full pools are out of usedpools. The first, freed whole, is the class's only listed
    // pool when it empties: kept in wasm (the class's spare, at its list's tail). The second then
    // empties with the spare listed: wasm gives it back to the arena (of no class, its blocks
    // checked free first), as JS would; so does the third.
    for (const p of blocks.slice(0, perPool)) x.free(p);
    expect(calls).toEqual([]);
    for (const p of blocks.slice(perPool, 2 * perPool)) x.free(p);
    expect(calls).toEqual([]);
    expect(freePools()).toBe(5);
    expect(heap.u32[(pools[1] + Pool.SZIDX) >>> 2]).toBe(Pool.SZIDX_NONE);
    heap.check(); // usable_arenas, nfp2lasta, the class's pools
    for (const p of blocks.slice(2 * perPool)) x.free(p);
    expect(calls).toEqual([]);
    expect(freePools()).toBe(6);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
    // Taken again by another class, carved afresh, in wasm.
    const q = x.malloc(200);
    expect(calls).toEqual([]);
    expect(pools).toContain(q & ~(16384 - 1));
    heap.check();
  });

  it("a steady churn over full pools stays in wasm: a free relinks a full pool, the next malloc takes its last free block back and unlinks it; a filling pool whose NEXT link does not come back is left to JS, which reports it, nothing written", () => {
    const heap = wasmHeap({ subPools: false });
    const { x, calls } = instance(heap);
    const size = 496;
    const perPool = Math.floor((16384 - Pool.OVERHEAD) / size);
    x.free(x.malloc(8)); // the first arena, from JS
    calls.length = 0;
    const blocks = Array.from({ length: 3 * perPool }, () => x.malloc(size));
    expect(calls).toEqual([]);
    const poolOf = (p: number) => p & ~(16384 - 1);
    const pools = [...new Set(blocks.map(poolOf))];
    expect(pools.length).toBe(3);
    // A free into a full pool, then a malloc: the same block back (the pool at the head, its one
    // free block), the pool full again and out of usedpools (mallocLast), all in wasm.
    for (const k of [0, 5, perPool + 3, 2 * perPool + 7, 2 * perPool - 1, 3]) {
      x.free(blocks[k]);
      expect(heap.u32[(poolOf(blocks[k]) + Pool.FREEBLOCK) >>> 2]).toBe(blocks[k]);
      expect(x.malloc(size)).toBe(blocks[k]);
      expect(heap.u32[(poolOf(blocks[k]) + Pool.FREEBLOCK) >>> 2]).toBe(0);
      heap.check(); // the full pool is out of usedpools again, its count right
    }
    expect(calls).toEqual([]);
    // The relinked pool's NEXT word damaged (a live block's address: its PREV word is the block's
    // data, not the pool): the unlink must not write through it (the live block's words) nor
    // unlink the pool from its real neighbour. JS reports it (JS's pop itself counts the block
    // before its unlink finds the link: as before, the heap is damaged and said so).
    const k = perPool + 9;
    const pool = poolOf(blocks[k]);
    x.free(blocks[k]);
    const good = heap.u32[(pool + Pool.NEXT) >>> 2];
    const victim = blocks[2 * perPool + 1];
    heap.u32[(pool + Pool.NEXT) >>> 2] = victim;
    const victimBytes = heap.u8.slice(victim, victim + size);
    expect(() => x.malloc(size)).toThrow(HeapCorruptionError);
    expect(calls).toEqual([`malloc ${size}`]);
    expect(heap.u8.slice(victim, victim + size)).toEqual(victimBytes);
    expect(heap.u32[(good + Pool.PREV) >>> 2]).toBe(pool);
    expect(heap.u32[(pool + Pool.NEXT) >>> 2]).toBe(victim);
  });

  it("emptied whole pools go back to their arenas in wasm, usable_arenas kept in order; JS only for an arena that would be entirely free; check() after each", () => {
    const heap = wasmHeap({ subPools: false }); // arenas of 8 whole pools
    const { x, calls } = instance(heap);
    const rnd = xorshift(7);
    const sizes = [32, 48, 200, 496];
    const live: { p: number; n: number; v: number }[] = [];
    let emptied = 0;
    let checks = 0;
    for (let round = 0; round < 10; round++) {
      // Grow to a few thousand blocks over several arenas, then free most in random order.
      for (let i = 0; i < 2500; i++) {
        const n = sizes[rnd() % sizes.length];
        const p = x.malloc(n) >>> 0;
        expect(p).not.toBe(0);
        const v = rnd() & 0xff;
        heap.u8.fill(v, p, p + n);
        live.push({ p, n, v });
      }
      calls.length = 0;
      // Pool by pool: a random live block's pool freed whole, its blocks in random order (some
      // rounds keep more blocks, so that arenas keep pools in use).
      const keep = round % 2 === 0 ? 100 : 900;
      while (live.length > keep) {
        const pool = live[rnd() % live.length].p & ~(16384 - 1);
        const mine = live.filter((b) => (b.p & ~(16384 - 1)) === pool);
        for (let i = live.length - 1; i >= 0; i--) if ((live[i].p & ~(16384 - 1)) === pool) live.splice(i, 1);
        for (let i = mine.length - 1; i > 0; i--) {
          const j = rnd() % (i + 1);
          [mine[i], mine[j]] = [mine[j], mine[i]];
        }
        for (const { p, n, v } of mine) {
          for (let b = p; b < p + n; b += 61) expect(heap.u8[b]).toBe(v);
          const cnt = heap.u32[pool >>> 2];
          x.free(p);
          if (cnt === 1) {
            emptied++;
            if (++checks % 3 === 0) heap.check();
          }
        }
      }
      heap.check();
      // Every free that went to JS: a pool that left an arena of 8 entirely free (JS gives it
      // back unless it is the only usable one), never an arena that keeps a pool in use.
      expect(calls.every((c) => c === "free")).toBe(true);
      expect(calls.length).toBeLessThan(emptied / 4);
    }
    expect(emptied).toBeGreaterThan(200);
    for (const { p } of live) x.free(p);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });

  it("a pool's FREEBLOCK overwritten to a zero word of a live block: malloc's pop leaves it to JS, which reports it (never handed out)", () => {
    for (const subPools of [true, false]) {
      const heap = wasmHeap({ subPools });
      const { x, calls } = instance(heap);
      const a = x.malloc(64) >>> 0;
      const live = heap.obj.calloc(1, 200);
      const pool = heap.objectAllocator.poolOf(a);
      heap.u32[(pool + Pool.FREEBLOCK) >>> 2] = live; // its first word is 0: a link that proves nothing
      calls.length = 0;
      expect(() => x.malloc(64)).toThrow(HeapCorruptionError);
      expect(calls).toEqual(["malloc 64"]);
      expect(heap.u32[(pool + Pool.FREEBLOCK) >>> 2]).toBe(live);
    }
  });

  it("a usedpools head overwritten (a pool of another class, a live block, any word): malloc and calloc leave it to JS, which reports it; nothing written", () => {
    const heap = wasmHeap({});
    const { x, calls } = instance(heap);
    const a = x.malloc(64) >>> 0;
    const other = heap.objectAllocator.poolOf(x.malloc(300) >>> 0);
    const ob = heap.objectAllocator as unknown as { usedBase: number };
    const hp = ob.usedBase + ((64 - 1) >>> heap.objectAllocator.alignShift) * 8;
    const pool = heap.u32[hp >>> 2];
    expect(pool).toBe(heap.objectAllocator.poolOf(a));
    for (const wild of [other, a, 4096]) {
      heap.u32[hp >>> 2] = wild;
      const before = heap.u8.slice();
      calls.length = 0;
      expect(() => x.malloc(64)).toThrow(HeapCorruptionError);
      expect(() => x.calloc(1, 64)).toThrow(HeapCorruptionError);
      expect(calls).toEqual(["malloc 64", "calloc"]); // each went to JS once
      expect(heap.u8.every((b, i) => b === before[i])).toBe(true);
      heap.u32[hp >>> 2] = pool;
    }
    heap.check();
  });

  it("check() lets a thread keep one empty pool of a class in its usedpools, not two", () => {
    const heap = wasmHeap({ subPools: false }); // whole pools from the first block (the blocks' pools by mask)
    const { x } = instance(heap);
    const size = 496;
    const perPool = Math.floor((16384 - Pool.OVERHEAD) / size);
    const blocks = Array.from({ length: 2 * perPool }, () => x.malloc(size));
    for (const p of blocks.slice(0, perPool)) x.free(p); // first pool: kept, empty
    for (const p of blocks.slice(perPool + 1)) x.free(p); // the second holds one block
    heap.check();
    // Free the last block the way a fast path that kept every emptied pool would: by hand.
    const last = blocks[perPool];
    const pool = last & ~(16384 - 1);
    const u32 = heap.u32;
    u32[last >>> 2] = u32[(pool + Pool.FREEBLOCK) >>> 2];
    u32[(last + FreeBlock.TAG) >>> 2] = FreeBlock.TAG_VALUE;
    u32[(pool + Pool.FREEBLOCK) >>> 2] = last;
    u32[pool >>> 2] = 0;
    expect(() => heap.check()).toThrow(/empty pool it may not keep/);
  });

  it("a young class's sub-pools: the first slot cut by JS, the next sub-pools taken and given back in wasm, the spare kept", () => {
    const heap = wasmHeap({ subPools: true });
    const { x, calls } = instance(heap);
    const o = heap.objectAllocator;
    const slotOf = (p: number) => p & ~(16384 - 1);
    const a = x.malloc(24);
    expect(calls).toEqual(["malloc 24"]); // JS: the first arena, a pool slot cut into sub-pools
    expect(o.poolBytes(o.poolOf(a))).toBe(1024); // a sub-pool: (1024 - 48) / 24 = 40 blocks
    const b = x.malloc(40); // another young class: a free sub-pool of the same slot, in wasm
    expect(calls).toEqual(["malloc 24"]);
    expect(slotOf(b)).toBe(slotOf(a));
    expect(o.poolOf(b)).not.toBe(o.poolOf(a));
    // Class 24 fills its sub-pool and takes another from the free list, in wasm.
    const more = Array.from({ length: 60 }, () => x.malloc(24));
    expect(calls).toEqual(["malloc 24"]);
    const subs = [...new Set([a, ...more].map((p) => o.poolOf(p)))];
    expect(subs.map((p) => o.poolBytes(p))).toEqual([1024, 1024]);
    heap.check();
    // A class with one block a sub-pool (496 bytes): each sub-pool full at once, empty at its free.
    const big = [x.malloc(496), x.malloc(496)];
    expect(calls).toEqual(["malloc 24"]);
    for (const p of big) x.free(p);
    expect(calls).toEqual(["malloc 24"]);
    heap.check();
    heap.u8.fill(0xab, b, b + 40);
    // Frees into sub-pools past the slot's first: in wasm too. The class's full sub-pools come
    // back into its list; the first to empty stays as the class's spare; the next to empty goes
    // onto its free list, in wasm.
    for (const p of [...more].reverse()) x.free(p);
    expect(calls).toEqual(["malloc 24"]);
    heap.check();
    x.free(a);
    expect(calls).toEqual(["malloc 24"]);
    heap.check();
    expect(heap.u8[b + 39]).toBe(0xab);
    x.free(b);
    heap.check();
    heap.collect(); // the kept spares back to the free lists, the slot back to its arena
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
    expect(heap.stats().pools.used).toBe(0);
  });

  it("a young class that churns (its sub-pools fill again and again) takes whole pools, in wasm as in JS, with no call into JS", () => {
    // A ring of five 400-byte blocks (two a 1 KiB sub-pool), the oldest freed before each malloc:
    // a sub-pool fills at about every other malloc, the class far below its young limit.
    const churn = (heap: Heap, malloc: (n: number) => number, free: (p: number) => void) => {
      const sub = heap.heapBase + heap.u32[(heap.heapBase >>> 2) + constants.H.SUBPOOLS];
      const idx = (400 >>> heap.objectAllocator.alignShift) - 1;
      const word = (table: number) => heap.u32[((sub + table) >>> 2) + idx];
      const limit = word(constants.SubPool.LIMIT);
      const o = heap.objectAllocator;
      const ring: number[] = [];
      let graduatedAt = -1;
      let wholeAt = -1;
      for (let step = 0; step < 6000; step++) {
        if (ring.length === 5) {
          const p = ring.shift()!;
          expect(heap.u8[p + 399]).toBe((step - 5) & 0xff);
          free(p);
        }
        const p = malloc(400);
        heap.u8.fill(step & 0xff, p, p + 400);
        ring.push(p);
        if (graduatedAt < 0 && word(constants.SubPool.PEAK) >= limit) graduatedAt = step;
        if (wholeAt < 0 && o.poolBytes(o.poolOf(p)) === 16384) wholeAt = step;
        if (step % 1000 === 0) heap.check();
      }
      heap.check();
      return { graduatedAt, wholeAt, fills: (heap.u32[((sub + constants.SubPool.FILLS) >>> 2) + (idx >>> 1)] >>> ((idx & 1) * 16)) & 0xffff, lastPool: o.poolBytes(o.poolOf(ring[4])) };
    };
    const a = wasmHeap({ subPools: true }); // C's side: the fast path
    const { x, calls } = instance(a);
    const w = churn(a, (n) => x.malloc(n) >>> 0, (p) => x.free(p));
    const b = wasmHeap({ subPools: true }); // JS alone
    const j = churn(b, (n) => b.obj.malloc(n), (p) => b.obj.free(p));
    for (const r of [w, j]) {
      // Young until FILL_FLOOR fills (its peak of a few KiB asks for no more), then whole pools.
      expect(r.graduatedAt).toBeGreaterThan(constants.SubPool.FILL_FLOOR);
      expect(r.graduatedAt).toBeLessThan(3 * constants.SubPool.FILL_FLOOR);
      expect(r.wholeAt).toBeGreaterThan(r.graduatedAt);
      expect(r.lastPool).toBe(16384);
      // Its sub-pools stop filling: each goes behind the whole pool, gathers frees, and goes back.
      expect(r.fills).toBeLessThan(constants.SubPool.FILL_FLOOR + 16);
    }
    // In wasm: only the first arena and the whole pool's arena went to JS.
    expect(calls.length).toBeLessThan(4);
  });

  it("heap.collect() gives back the empty pools wasm kept, and their arena, on a heap without threads", () => {
    const heap = wasmHeap({ subPools: false });
    const { x, calls } = instance(heap);
    const ps = [x.malloc(24), x.malloc(100), x.malloc(300)];
    for (const p of ps) x.free(p); // three classes, each pool kept empty
    expect(calls).toEqual(["malloc 24"]);
    const o = heap.objectAllocator;
    const listed = () => [24, 100, 300].filter((n) => heap.u32[(o.sentinel((n - 1) >>> 3) + Pool.NEXT) >>> 2] !== o.sentinel((n - 1) >>> 3)).length;
    expect(listed()).toBe(3); // kept: still in usedpools
    heap.collect();
    expect(listed()).toBe(0); // given back to their arena
    expect(heap.stats().arenas.current).toBe(0); // and the arena, empty, to the raw allocator (collect keeps none)
    heap.check();
    expect(x.malloc(100)).not.toBe(0); // a new arena: JS's
    expect(x.malloc(300)).not.toBe(0); // a pool again, from that arena, in wasm
    expect(calls).toEqual(["malloc 24", "malloc 100"]);
    heap.check();
  });

  it("whole pools wasm kept empty as its classes' spares go back when a raw request would fail without them", () => {
    const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 2, maximum: 32 }), heapBase: 4096 }); // 2 MiB at most
    const { x } = instance(heap);
    // Ten classes past their young limit (whole pools), filled and freed from wasm: each keeps
    // its last pool, empty, as its spare; a raw block between them and the top.
    const sizes = [104, 128, 160, 200, 240, 288, 336, 384, 448, 504];
    const ps: number[] = [];
    for (const n of sizes) for (let i = 0; i < Math.ceil((5 * 16384) / n); i++) ps.push(x.malloc(n));
    expect(ps).not.toContain(0);
    for (const p of ps.reverse()) x.free(p); // the whole pools empty first: one stays each class's spare
    const o = heap.objectAllocator;
    const spares = sizes.filter((n) => {
      const sp = o.sentinel((n - 1) >>> 3);
      const pool = heap.u32[(sp + Pool.NEXT) >>> 2];
      return pool !== sp && heap.u32[pool >>> 2] === 0 && (heap.u32[(pool + Pool.SUB) >>> 2] & 0xff) === 0;
    });
    expect(spares.length).toBe(sizes.length); // every class kept a whole pool
    heap.check();
    expect(heap.stats().footprint).toBeGreaterThan(2 ** 20 / 2);
    const big = heap.raw.malloc(1.5 * 2 ** 20); // of 2 MiB: fits only once the spares' arenas are given back
    expect(big).not.toBe(0);
    expect(sizes.filter((n) => heap.u32[(o.sentinel((n - 1) >>> 3) + Pool.NEXT) >>> 2] !== o.sentinel((n - 1) >>> 3))).toEqual([]);
    heap.check();
  });

  it("whole pools wasm kept empty as its classes' spares go back before a new arena is taken: the top does not grow while they are kept", () => {
    const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 2, maximum: 256 }), heapBase: 4096 });
    const { x } = instance(heap);
    // As above: ten classes past their young limit, filled and freed from wasm, each keeping its
    // last whole pool, empty, as its only pool (one-pool arenas: fewer than ONE_POOL_ARENAS).
    const sizes = [104, 128, 160, 200, 240, 288, 336, 384, 448, 504];
    const ps: number[] = [];
    for (const n of sizes) for (let i = 0; i < Math.ceil((5 * 16384) / n); i++) ps.push(x.malloc(n));
    expect(ps).not.toContain(0);
    for (const p of ps.reverse()) x.free(p);
    const o = heap.objectAllocator;
    const kept = () =>
      sizes.filter((n) => {
        const sp = o.sentinel((n - 1) >>> 3);
        const pool = heap.u32[(sp + Pool.NEXT) >>> 2];
        return pool !== sp && heap.u32[pool >>> 2] === 0 && (heap.u32[(pool + Pool.SUB) >>> 2] & 0xff) === 0;
      }).length;
    expect(kept()).toBe(sizes.length);
    heap.check();
    // Another class takes pools (the kept one-pool arenas the frees emptied first): by the time
    // the top grows for an arena, no class keeps an empty pool (before: all ten still did).
    const top0 = heap.rawAllocator.top;
    const qs: number[] = [];
    let grewWith = -1;
    for (let i = 0; i < 40000 && grewWith < 0; i++) {
      qs.push(x.malloc(56));
      if (heap.rawAllocator.top !== top0) grewWith = kept();
    }
    expect(qs).not.toContain(0);
    expect(grewWith).toBe(0);
    heap.check();
    for (const q of qs) x.free(q);
    heap.check();
  });

  it("does not pop a corrupted link: a link outside the pool, in its header or past the carved blocks goes to JS untouched", () => {
    const heap = wasmHeap();
    const { x, calls } = instance(heap);
    const blocks = Array.from({ length: 4 }, () => x.malloc(32));
    const pool = blocks[0] & ~(16384 - 1);
    x.free(blocks[1]);
    x.free(blocks[2]); // free list: blocks[2] -> blocks[1]
    for (const bad of [pool + 8, pool + 48 + 100 * 32, pool + 16384 + 48, 8]) {
      calls.length = 0;
      heap.u32[blocks[2] >>> 2] = bad; // a write after free, over the link
      const u32 = heap.u32;
      const fb = u32[(pool + Pool.FREEBLOCK) >>> 2];
      const count = u32[pool >>> 2];
      // The slow path is called with the heap as it was (here it reports or serves as JS does).
      try {
        x.malloc(32);
      } catch {
        /* JS may report it */
      }
      expect(calls).toEqual(["malloc 32"]);
      expect(fb).toBe(blocks[2]);
      expect(count).toBe(2);
      // Repair for the next case.
      const h = heap.u32;
      h[(pool + Pool.FREEBLOCK) >>> 2] = blocks[2];
      h[pool >>> 2] = 2;
      h[blocks[2] >>> 2] = blocks[1];
    }
    calls.length = 0;
    expect(x.malloc(32)).toBe(blocks[2]);
    expect(x.malloc(32)).toBe(blocks[1]);
    expect(calls).toEqual([]);
  });

  it("a link rewritten between two blocks of its pool is popped as JS release mode pops it (the block boundary is hardened: true's check); check() reports it", () => {
    const run = (viaWasm: boolean): number[] => {
      const heap = wasmHeap();
      const { x, calls } = instance(heap);
      const fam = viaWasm ? x : heap.mem;
      const blocks = Array.from({ length: 4 }, () => fam.malloc(32));
      fam.free(blocks[1]);
      fam.free(blocks[2]); // free list: blocks[2] -> blocks[1]
      heap.u32[blocks[2] >>> 2] = blocks[1] + 8; // a write after free: a link inside blocks[1]
      calls.length = 0;
      const got = fam.malloc(32);
      if (viaWasm) expect(calls).toEqual([]); // served in wasm, as JS serves it
      expect(() => heap.check()).toThrow(HeapCorruptionError);
      return [got, heap.u32[((blocks[0] & ~(16384 - 1)) + Pool.FREEBLOCK) >>> 2]];
    };
    const js = run(false);
    expect(run(true)).toEqual(js);
  });
});

describe("the fast path across Workers (threads: true, a shared WebAssembly.Memory)", () => {
  it("each Worker's wasm instance allocates from its own slot's pools; blocks freed by other threads, by wasm or JS, come back", async () => {
    const { Worker } = await import("node:worker_threads");
    const { createHeap: create } = await import("../dist/index.js");
    const memory = new WebAssembly.Memory({ initial: 32, maximum: 8192, shared: true } as WebAssembly.MemoryDescriptor);
    const heap = create({ memory, heapBase: 1024, threads: true });
    const workers = 4;
    const perRound = 300;
    const table = new SharedArrayBuffer(4 * (1 + workers * perRound * 2));
    const results = await Promise.all(
      Array.from(
        { length: workers },
        (_, i) =>
          new Promise<{ failures: number }>((resolve, reject) => {
            const errors: string[] = [];
            const wk = new Worker(join(import.meta.dirname, "workers", "wasm-fastpath.mjs"), {
              workerData: { memory, heapBase: 1024, table, id: i + 1, workers, rounds: 12, perRound, seed: 0x2545f491 ^ (i * 7919) },
            });
            let done: { failures: number } | undefined;
            wk.on("message", (m) => (m.type === "error" ? errors.push(m.msg) : (done = m)));
            wk.on("error", reject);
            wk.on("exit", (code) => (code === 0 && done && errors.length === 0 ? resolve(done) : reject(new Error(`worker ${i + 1} exited ${code}: ${errors.join("; ")}`))));
          }),
      ),
    );
    expect(results.map((r) => r.failures)).toEqual([0, 0, 0, 0]);
    heap.check();
    heap.collect();
    expect(heap.stats().blocksInUse).toBe(0);
    expect(heap.leaks().totalBlocks).toBe(0);
  });
});

describe("calls from the fast path into JS (crossings), with real C clients", () => {
  /** A C client over a heap whose fast path counts its calls into JS (as bench:wasm --crossings does). */
  async function counted(file: string) {
    const bytes = readFileSync(join(ROOT, "wasm/clients", file));
    const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 32, maximum: 65536 }), heapBase: 1 << 20 });
    const memory = heap.memory.source as WebAssembly.Memory;
    const fam = heap.mem;
    const calls = { small: 0, large: 0 };
    const kind = (n: number) => (n >>> 0 > 0 && n >>> 0 <= 512 ? "small" : "large");
    const slow = {
      malloc: (n: number) => (calls[kind(n)]++, fam.malloc(n >>> 0)),
      calloc: (a: number, b: number) => (calls[kind((a >>> 0) * (b >>> 0))]++, fam.calloc(a >>> 0, b >>> 0)),
      free: (p: number) => (calls[heap.usableSize(p >>> 0) <= 512 ? "small" : "large"]++, fam.free(p >>> 0)),
      realloc: (p: number, n: number) => (calls.large++, fam.realloc(p >>> 0, n >>> 0)),
    };
    const fp = new WebAssembly.Instance(fastPathModule(false), { env: { memory }, pymalloc: slow }).exports as unknown as AllocatorFunctions & { init(b: number, s: number): void };
    fp.init(heap.heapBase, heap.threadId);
    const { instance } = await WebAssembly.instantiate(bytes, { env: { memory, malloc: fp.malloc, free: fp.free, calloc: fp.calloc, realloc: fp.realloc } });
    return { x: instance.exports as unknown as Record<string, (...a: number[]) => number>, heap, memory, calls };
  }

  it("the trace replayer over compileall-head: under 1 call into JS a 1000 events, raw blocks included (the memory grown ahead)", async () => {
    const t = readTraceFile(join(ROOT, "data/compileall-head.pymtrace.gz"));
    const { x, heap, memory, calls } = await counted("replay-pymalloc.wasm");
    const ev = x.setup(t.count, t.maxSlots) >>> 0;
    new Uint32Array(memory.buffer, ev, 2 * t.count).set(t.events.subarray(0, 2 * t.count));
    calls.small = calls.large = 0;
    x.replay(t.count);
    // Before: 37 a 1000 events (every raw block, every pool taken or given back, every pool that filled).
    expect(calls.small + calls.large).toBeLessThan(t.count / 1000);
    // Raw blocks: only when the memory grows, or the raw cache is to be emptied (JS does that:
    // the top would pass its peak with chunks cached, a realloc grows into a cached chunk,
    // the cache is full): 88 calls in 600,000 events (28 before the cache); 130 since the memory
    // grows by 1/64 at least, not an eighth (session 53: each growth is JS's).
    expect(calls.large).toBeLessThan(t.count / 4000);
    heap.check();
    x.release_all(t.maxSlots);
    heap.check();
  });

  it("binary trees: pools fill, empty and come back without JS but for the arenas' own work", async () => {
    const { x, heap, calls } = await counted("bintrees-pymalloc.wasm");
    x.run(12, 50_000);
    // Before: a call into JS for every pool that filled, emptied or was taken (2,596 here); with
    // whole pools 70, with sub-pools (the default) 169: a young class's sub-pool when the free list is dry.
    expect(calls.small + calls.large).toBeLessThan(400);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
  });
});
