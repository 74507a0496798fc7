// Option-combination fuzz: seeded random programs over heaps made with a covering (pairwise)
// subset of createHeap's options plus random picks, every block patterned and verified, and the
// heap's own accounting, check(), out-of-memory returns and a snapshot copy (attachHeap) checked
// against a model of what the test holds. Invalid combinations must be typed errors.
import { describe, expect, it } from "vitest";
import { attachHeap, constants, createHeap, PymallocError, type Heap, type HeapOptions } from "../src/index.js";
import { takeRandom, thrownBy, xorshift } from "./helpers.js";

type Kind =
  | "fixed"
  | "resizable"
  | "growable-shared"
  | "wasm"
  | "wasm-given"
  | "growable-shared+threads"
  | "wasm-shared+threads"
  // memories given longer (or able to grow further) than the maxBytes option
  | "fixed-given-capped"
  | "resizable-given-capped"
  | "wasm-given-capped"
  | "sab-given-capped+threads";
type Limits = "tiny" | "small" | "medium";

interface Combo {
  allocator: "pymalloc" | "malloc" | "debug" | "malloc_debug";
  alignment: 8 | 16;
  poolSize: number;
  poolsPerArena: number; // arenaSize = poolSize * this (8: the default, left out)
  subPools: boolean;
  rawFirst: boolean | number;
  hardened: boolean;
  kind: Kind;
  limits: Limits;
  heapBase: number;
  sampleInterval: number; // 0: off
  quarantine: "small" | "none" | "large"; // debug modes: 16 blocks; 0; 1024 blocks and 1 GiB
  maxThreads: number; // threads kinds
}

const DIMS: { [K in keyof Combo]: readonly Combo[K][] } = {
  allocator: ["pymalloc", "malloc", "debug", "malloc_debug"],
  alignment: [8, 16],
  poolSize: [4096, 16384, 65536],
  poolsPerArena: [1, 8, 32],
  subPools: [true, false],
  rawFirst: [false, true, 1, 3],
  hardened: [false, true],
  kind: [
    "fixed",
    "resizable",
    "growable-shared",
    "wasm",
    "wasm-given",
    "growable-shared+threads",
    "wasm-shared+threads",
    "fixed-given-capped",
    "resizable-given-capped",
    "wasm-given-capped",
    "sab-given-capped+threads",
  ],
  limits: ["tiny", "small", "medium"],
  heapBase: [0, 1000, 65536],
  sampleInterval: [0, 4096],
  quarantine: ["small", "none", "large"],
  maxThreads: [2, 64],
};
const KEYS = Object.keys(DIMS) as (keyof Combo)[];
const LIMITS: Record<Limits, { initialBytes: number; maxBytes: number }> = {
  tiny: { initialBytes: 65536, maxBytes: 393216 },
  small: { initialBytes: 131072, maxBytes: 1 << 20 },
  medium: { initialBytes: 1 << 20, maxBytes: 2 << 20 },
};

/** A greedy pairwise covering array over DIMS (deterministic: seeded candidates). */
function pairwise(seed: number): Combo[] {
  const rand = xorshift(seed);
  const uncovered = new Set<string>();
  for (let a = 0; a < KEYS.length; a++)
    for (let b = a + 1; b < KEYS.length; b++)
      for (let i = 0; i < DIMS[KEYS[a]].length; i++) for (let j = 0; j < DIMS[KEYS[b]].length; j++) uncovered.add(`${a}:${i}|${b}:${j}`);
  const rows: number[][] = [];
  const pairsOf = (r: number[]): string[] => {
    const out: string[] = [];
    for (let a = 0; a < KEYS.length; a++) for (let b = a + 1; b < KEYS.length; b++) out.push(`${a}:${r[a]}|${b}:${r[b]}`);
    return out;
  };
  while (uncovered.size > 0) {
    let best: number[] = [];
    let bestN = -1;
    // Seed each candidate with one uncovered pair so that every row makes progress.
    const first = [...uncovered][rand() % uncovered.size].split("|").map((s) => s.split(":").map(Number));
    for (let c = 0; c < 40; c++) {
      const r = KEYS.map((k) => rand() % DIMS[k].length);
      for (const [d, v] of first) r[d] = v;
      const n = pairsOf(r).filter((p) => uncovered.has(p)).length;
      if (n > bestN) [best, bestN] = [r, n];
    }
    for (const p of pairsOf(best)) uncovered.delete(p);
    rows.push(best);
  }
  return rows.map((r) => Object.fromEntries(KEYS.map((k, i) => [k, DIMS[k][r[i]]])) as unknown as Combo);
}

export function randomCombos(seed: number, n: number): Combo[] {
  const rand = xorshift(seed);
  return Array.from({ length: n }, () => Object.fromEntries(KEYS.map((k) => [k, DIMS[k][rand() % DIMS[k].length]])) as unknown as Combo);
}

function optionsOf(c: Combo): HeapOptions {
  const { initialBytes, maxBytes } = LIMITS[c.limits];
  const o: HeapOptions = {
    allocator: c.allocator,
    alignment: c.alignment,
    poolSize: c.poolSize,
    arenaSize: c.poolsPerArena === 8 ? undefined : c.poolSize * c.poolsPerArena,
    subPools: c.subPools,
    rawFirst: c.rawFirst,
    hardened: c.hardened,
    threads: c.kind.endsWith("+threads"),
    heapBase: c.heapBase || undefined,
    sampleInterval: c.sampleInterval || undefined,
    traceAllocations: c.allocator.includes("debug") ? false : undefined,
    quarantineBlocks: c.allocator.includes("debug") ? { small: 16, none: 0, large: 1024 }[c.quarantine] : undefined,
    quarantineBytes: c.allocator.includes("debug") && c.quarantine === "large" ? 2 ** 30 : undefined,
    maxThreads: c.kind.endsWith("+threads") ? c.maxThreads : undefined,
  };
  switch (c.kind) {
    case "fixed":
      return { ...o, memoryKind: "fixed", initialBytes: maxBytes, maxBytes };
    case "resizable":
    case "growable-shared":
    case "wasm":
      return { ...o, memoryKind: c.kind, initialBytes, maxBytes };
    case "growable-shared+threads":
      return { ...o, memoryKind: "growable-shared", initialBytes, maxBytes };
    case "fixed-given-capped":
      return { ...o, memory: new ArrayBuffer(maxBytes * 2), maxBytes };
    case "resizable-given-capped":
      return { ...o, memory: new ArrayBuffer(initialBytes, { maxByteLength: maxBytes * 4 }), maxBytes };
    case "wasm-given-capped":
      return { ...o, memory: new WebAssembly.Memory({ initial: initialBytes / 65536, maximum: (maxBytes * 4) / 65536 }), maxBytes };
    case "sab-given-capped+threads":
      return { ...o, memory: new SharedArrayBuffer(initialBytes, { maxByteLength: maxBytes * 4 }), maxBytes };
    case "wasm-given":
    case "wasm-shared+threads":
      return { ...o, memory: new WebAssembly.Memory({ initial: initialBytes / 65536, maximum: maxBytes / 65536, shared: c.kind !== "wasm-given" }) };
  }
}

export const label = (c: Combo): string => KEYS.map((k) => `${k}=${c[k]}`).join(",");

interface Live {
  size: number;
  tag: number;
  fam: Fam;
  align: number;
}
type Fam = "raw" | "mem" | "obj";
type Side = { malloc(n: number): number; calloc(a: number, b: number): number; realloc(p: number, n: number): number; free(p: number): void };

const byte = (b: Live, k: number): number => (b.tag + k * 7) & 0xff;

/** Runs a seeded program on one heap; throws with the step on the first disagreement. */
export function fuzz(heap: Heap, seed: number, steps: number, checkEvery: number, maxBytes: number, maxKnown = true, second = heap.lock === undefined): { ooms: number; ops: number } {
  const rand = xorshift(seed);
  const isDebug = heap.debug !== undefined;
  const wasmMem = heap.memory.source instanceof WebAssembly.Memory ? heap.memory.source : undefined;
  const wasm = wasmMem ? heap.wasmImports() : undefined;
  // A second handle of the heap in this thread (without threads they share growth; with threads
  // it holds a thread slot of its own, and frees of each other's blocks go to the owner's lists).
  const other = second ? attachHeap(heap.memory.source, { heapBase: heap.heapBase, ...(isDebug ? { traceAllocations: false } : {}) }) : undefined;
  const otherWasm = other && wasmMem && rand() % 2 === 0 ? other.wasmImports() : undefined;
  const limit = heap.stats().maxBytes;
  if (maxKnown && limit > maxBytes) throw new Error(`seed ${seed}: stats().maxBytes ${limit} above the maxBytes asked, ${maxBytes}`);
  const live = new Map<number, Live>();
  const order: number[] = [];
  let ooms = 0;
  let step = 0;
  const fail = (msg: string): never => {
    throw new Error(`seed ${seed} step ${step}: ${msg}`);
  };
  const fill = (p: number, b: Live): void => {
    const u8 = heap.u8;
    for (let k = 0; k < b.size; k++) u8[p + k] = byte(b, k);
  };
  const verify = (p: number, b: Live, n = b.size, u8 = heap.u8): void => {
    for (let k = 0; k < n; k++) if (u8[p + k] !== byte(b, k)) fail(`block ${p} (${b.fam}, ${b.size} B) changed at +${k}: ${u8[p + k]} != ${byte(b, k)}`);
  };
  const sideOf = (fam: Fam): Side => {
    const r = rand() % 8;
    if (fam === "mem" && wasm && r < 3) return r === 0 && otherWasm ? otherWasm : wasm;
    if (other && r === 7) return other[fam];
    return heap[fam];
  };
  const size = (): number => {
    const r = rand() % 100;
    if (r < 4) return 0;
    if (r < 62) return 1 + (rand() % 512);
    if (r < 85) return 513 + (rand() % 8000);
    if (r < 96) return 8192 + (rand() % 65536);
    return 65536 + (rand() % Math.floor(maxBytes / 3));
  };
  const admit = (p: number, n: number, fam: Fam, align: number, what: string): void => {
    if (live.has(p)) fail(`${what} handed out live block ${p}`);
    const a = Math.max(align, n > 512 ? 16 : heap.alignment);
    if (p % a !== 0) fail(`${what}: ${p} not ${a}-aligned`);
    const u = heap.usableSize(p);
    if (u < n) fail(`${what}: usableSize ${u} < ${n}`);
    if (p + n > heap.u8.length) fail(`${what}: ${p}+${n} past the memory`);
    if (p + n > limit) fail(`${what}: ${p}+${n} past maxBytes ${limit}`);
    const b = { size: n, tag: rand() & 0xff, fam, align };
    fill(p, b);
    live.set(p, b);
    order.push(p);
  };
  const take = (): number => takeRandom(order, rand);
  const oom = (what: string): void => {
    ooms++;
    heap.check(); // a failed request leaves the heap consistent
    // ... and every block intact
    for (const [p, b] of live) verify(p, b);
    if (what) void 0;
  };
  const fams: Fam[] = ["raw", "mem", "obj"];
  const audit = (): void => {
    heap.check();
    const spans = [...live].map(([p, b]) => [p, p + Math.max(b.size, 1)] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) if (spans[i][0] < spans[i - 1][1]) fail(`blocks ${spans[i - 1][0]} and ${spans[i][0]} overlap`);
    for (const [p, b] of live) verify(p, b);
    const s = heap.stats();
    if (s.blocksInUse !== live.size) fail(`stats().blocksInUse ${s.blocksInUse} != ${live.size} held`);
    let usable = 0;
    let requested = 0;
    for (const [p, b] of live) {
      usable += heap.usableSize(p);
      requested += b.size;
    }
    if (!isDebug && s.bytesInUse !== usable) fail(`stats().bytesInUse ${s.bytesInUse} != sum of usableSize ${usable}`);
    if (isDebug && s.bytesInUse < requested + 40 * live.size) fail(`debug stats().bytesInUse ${s.bytesInUse} < requested ${requested} + 40 a block`);
    // walk() sees exactly the blocks held: their addresses, and their sizes (requested in the
    // debug modes, usable otherwise)
    const seen = new Set<number>();
    const walked: { address: number; size: number; family: string | undefined }[] = [];
    heap.walk((w) => void walked.push({ address: w.address, size: w.size, family: w.family })); // no heap calls under walk's lock
    for (const w of walked) {
      const b = live.get(w.address);
      if (b === undefined) fail(`walk() reports ${w.address} (${w.size} B), not held`);
      else if (isDebug ? w.size !== b.size : w.size !== heap.usableSize(w.address)) fail(`walk() says ${w.address} has ${w.size} B, held ${b.size} (usable ${heap.usableSize(w.address)})`);
      else if (isDebug && w.family !== b.fam[0]) fail(`walk() says ${w.address} is ${w.family}'s, held as ${b.fam}'s`);
      seen.add(w.address);
    }
    if (seen.size !== live.size) fail(`walk() reports ${seen.size} blocks, ${live.size} held`);
    heap.snapshot();
    heap.debugMallocStats();
    if (s.peakFootprint > limit) fail(`peakFootprint ${s.peakFootprint} past maxBytes ${limit}`);
    if (s.footprint > s.byteLength || s.footprint > s.maxBytes) fail(`footprint ${s.footprint} / byteLength ${s.byteLength} / maxBytes ${s.maxBytes}`);
  };
  const snapshotRoundTrip = (): void => {
    const src = heap.u8;
    const len = src.length;
    const max = heap.stats().maxBytes;
    const shared = heap.memory.buffer instanceof SharedArrayBuffer;
    // The copy goes in a growable buffer, or (every other time) in a WebAssembly.Memory, where
    // the copy's own allocations take the wasm fast path (pymalloc mode) whatever the original's memory.
    const inWasm = rand() % 2 === 0 && len % 65536 === 0;
    const pages = Math.min(65535, Math.ceil(Math.max(len, max) / 65536));
    const wmem = inWasm ? new WebAssembly.Memory({ initial: len / 65536, maximum: pages, shared }) : undefined;
    const buf = wmem ?? (shared ? new SharedArrayBuffer(len, { maxByteLength: Math.max(len, max) }) : new ArrayBuffer(len, { maxByteLength: Math.max(len, max) }));
    new Uint8Array(wmem ? wmem.buffer : (buf as ArrayBuffer)).set(src);
    let copy: Heap;
    try {
      copy = attachHeap(buf, isDebug ? { heapBase: heap.heapBase, traceAllocations: false } : { heapBase: heap.heapBase });
    } catch (e) {
      // A threads heap's new handle takes a thread slot, whose first claim needs 528 bytes from
      // the raw allocator: a copy of a full heap at its maxBytes has none (a typed refusal).
      if (heap.lock !== undefined && e instanceof PymallocError && /out of memory: thread slot/.test(e.message)) return;
      throw e;
    }
    copy.check();
    for (const [p, b] of live) verify(p, b, b.size, copy.u8);
    if (copy.stats().blocksInUse !== live.size) fail(`copy's blocksInUse ${copy.stats().blocksInUse} != ${live.size}`);
    // Allocation goes on in the copy with the contents intact, and the original is untouched.
    const extra: [number, Fam, number][] = [];
    const copyWasm = wmem ? copy.wasmImports() : undefined;
    for (let i = 0; i < 12; i++) {
      const fam = fams[rand() % 3];
      const n = i % 4 === 3 ? 600 + (rand() % 3000) : 1 + (rand() % 300);
      const p = (wmem && fam === "mem" ? copyWasm!.malloc(n) : copy[fam].malloc(n)) >>> 0;
      if (p === 0) continue;
      if (live.has(p) && live.get(p)) {
        // the copy may reuse a block free in the copy: it must not be one the copy holds live
        fail(`copy handed out ${p}, live in the heap it copied`);
      }
      copy.u8.fill(0xa5, p, p + n);
      extra.push([p, fam, n]);
    }
    for (const [p, b] of live) verify(p, b, b.size, copy.u8);
    copy.check();
    // Free half of the copied blocks in the copy, and what it allocated.
    let k = 0;
    for (const [p, b] of live) if (k++ % 2 === 0) (copyWasm && b.fam === "mem" && rand() % 2 === 0 ? copyWasm : copy[b.fam]).free(p);
    for (const [p, fam] of extra) (copyWasm && fam === "mem" && rand() % 2 === 0 ? copyWasm : copy[fam]).free(p);
    copy.check();
    for (const [p, b] of live) verify(p, b); // the original heap still holds its bytes
    if (copy.lock !== undefined) copy.detachThread();
  };

  let plan = false;
  for (step = 0; step < steps; step++) {
    if (step % 200 === 100) {
      heap.failAllocations({ probability: 0.25, seed: rand() });
      plan = true;
    } else if (plan && step % 200 === 160) {
      heap.failAllocations(null);
      plan = false;
    }
    const op = rand() % 100;
    if (op < 30 || order.length === 0) {
      const fam = fams[rand() % 3];
      const n = size();
      const p = sideOf(fam).malloc(n) >>> 0;
      if (p === 0) oom(`malloc ${n}`);
      else admit(p, n, fam, 1, `${fam}.malloc(${n})`);
    } else if (op < 38) {
      const fam = fams[rand() % 3];
      const n = size();
      const k = 1 + (rand() % 4);
      const m = Math.ceil(n / k);
      const p = sideOf(fam).calloc(k, m) >>> 0;
      if (p === 0) oom(`calloc`);
      else {
        const u8 = heap.u8;
        for (let i = 0; i < k * m; i++) if (u8[p + i] !== 0) fail(`${fam}.calloc(${k}, ${m}) = ${p} not zero at +${i}`);
        admit(p, k * m, fam, 1, `${fam}.calloc(${k}, ${m})`);
      }
    } else if (op < 44) {
      const fam = fams[rand() % 3];
      const a = 1 << (rand() % 13);
      const n = size();
      const p = heap[fam].alignedAlloc(a, n);
      if (p === 0) oom(`alignedAlloc`);
      else admit(p, n, fam, a, `${fam}.alignedAlloc(${a}, ${n})`);
    } else if (op < 60) {
      const p = take();
      const b = live.get(p)!;
      verify(p, b);
      const n = size();
      const q = sideOf(b.fam).realloc(p, n) >>> 0;
      if (q === 0) {
        order.push(p); // still live, unchanged
        oom(`realloc`);
      } else {
        live.delete(p);
        verify(q, b, Math.min(n, b.size));
        admit(q, n, b.fam, 1, `${b.fam}.realloc(${p}, ${n})`);
      }
    } else if (op < 95) {
      const p = take();
      const b = live.get(p)!;
      verify(p, b);
      live.delete(p);
      sideOf(b.fam).free(p);
    } else if (op < 96) {
      // Something else grows a WebAssembly.Memory (a module's memory.grow): the heap carries on.
      // (its maximum, which JS cannot read, may refuse: the heap then is as it was)
      if (wasmMem && rand() % 4 === 0) {
        try {
          wasmMem.grow(1);
        } catch (e) {
          if (!(e instanceof RangeError)) throw e;
        }
      }
    } else if (op < 98) {
      const p = order[rand() % order.length];
      const u = heap.usableSize(p);
      if (u < live.get(p)!.size) fail(`usableSize(${p}) ${u} < ${live.get(p)!.size}`);
    } else {
      // Requests that cannot be met: 0, the heap unchanged.
      const fam = fams[rand() % 3];
      const r = rand() % 3;
      const p = r === 0 ? heap[fam].malloc(2 ** 32 - 64) : r === 1 ? heap[fam].calloc(65536, 65537) : sideOf(fam).malloc(maxBytes + 1) >>> 0;
      if (p !== 0) fail(`impossible request ${r} returned ${p}`);
      oom("");
    }
    if (step % checkEvery === checkEvery - 1) audit();
    if (step % (checkEvery * 8) === checkEvery * 4) snapshotRoundTrip();
  }
  if (plan) heap.failAllocations(null);
  audit();
  snapshotRoundTrip();
  for (const p of order) {
    const b = live.get(p)!;
    verify(p, b);
    sideOf(b.fam).free(p);
  }
  live.clear();
  if (other?.lock !== undefined) other.detachThread();
  heap.drainQuarantine();
  heap.check();
  const s = heap.stats();
  if (s.blocksInUse !== 0 || s.bytesInUse !== 0) fail(`after freeing all: ${s.blocksInUse} blocks, ${s.bytesInUse} bytes in use`);
  return { ooms, ops: steps };
}

export function runCombo(c: Combo, seed: number, steps: number): { ooms: number } {
  const o = optionsOf(c);
  const heap = createHeap(o);
  // A WebAssembly.Memory given without maxBytes: its maximum is out of JS's sight (README, Options).
  const r = fuzz(heap, seed, steps, 50, LIMITS[c.limits].maxBytes, !(o.memory instanceof WebAssembly.Memory && o.maxBytes === undefined), !o.threads || c.maxThreads > 2);
  // After everything is freed, the heap serves small and large requests again (when an arena fits).
  const fits = c.poolSize * c.poolsPerArena <= LIMITS[c.limits].maxBytes / 4 || c.subPools || c.allocator.startsWith("malloc");
  if (fits) {
    for (const n of [1, 8, 24, 100, 512, 513, 4000]) {
      const p = heap.obj.malloc(n);
      if (p === 0) throw new Error(`${label(c)} seed ${seed}: malloc(${n}) fails on the emptied heap`);
      heap.obj.free(p);
    }
    heap.check();
  }
  return r;
}

const COVER = pairwise(0x5eed);
const RANDOM = randomCombos(0xc0ffee, 30);

let ooms = 0;
describe("option combinations: random programs keep every block and every count right", () => {
  // One test a combination: the event loop gets back to vitest between them.
  it.each(COVER.map((c, i) => [label(c), c, i] as const))("pairwise %s", (_, c, i) => {
    ooms += runCombo(c, 1000 + i, 1500).ooms;
  });
  it("out of memory happened in the covering set", () => expect(ooms).toBeGreaterThan(0));
  it.each(RANDOM.map((c, i) => [label(c), c, i] as const))("random %s", (_, c, i) => {
    runCombo(c, 7000 + i, 2000);
  });
});

describe("invalid option combinations are typed errors", () => {
  const bad: Array<[string, () => HeapOptions, ErrorConstructor]> = [
    ["threads on a fixed ArrayBuffer", () => ({ threads: true, memoryKind: "fixed", initialBytes: 1 << 20 }), TypeError],
    ["threads on a resizable ArrayBuffer", () => ({ threads: true, memoryKind: "resizable" }), TypeError],
    ["threads on an unshared WebAssembly.Memory", () => ({ threads: true, memory: new WebAssembly.Memory({ initial: 16, maximum: 32 }) }), TypeError],
    ["threads on a plain ArrayBuffer", () => ({ threads: true, memory: new ArrayBuffer(1 << 20) }), TypeError],
    ["maxThreads out of range, without threads too (checked, then no effect)", () => ({ maxThreads: 0 }), RangeError],
    ["poolSize below 4 KiB", () => ({ poolSize: 2048 }), RangeError],
    ["poolSize above 1 MiB", () => ({ poolSize: 2 << 20 }), RangeError],
    ["poolSize not a power of two", () => ({ poolSize: 12288 }), RangeError],
    ["arenaSize below poolSize", () => ({ poolSize: 16384, arenaSize: 8192 }), RangeError],
    ["arenaSize over 128 pools", () => ({ poolSize: 4096, arenaSize: 4096 * 256 }), RangeError],
    ["arenaSize not a power of two", () => ({ arenaSize: 3 * 16384 }), RangeError],
    ["alignment 4", () => ({ alignment: 4 as 8 }), RangeError],
    ["alignment 32", () => ({ alignment: 32 as 16 }), RangeError],
    ["alignment a string", () => ({ alignment: "16" as unknown as 16 }), TypeError],
    ["initialBytes above maxBytes", () => ({ initialBytes: 1 << 21, maxBytes: 1 << 20 }), RangeError],
    ["maxBytes below a page", () => ({ maxBytes: 4096 }), RangeError],
    ["rawFirst too large", () => ({ rawFirst: 70000 }), RangeError],
    ["hardened not a boolean", () => ({ hardened: 1 as unknown as boolean }), TypeError],
    ["subPools not a boolean", () => ({ subPools: "no" as unknown as boolean }), TypeError],
    ["unknown allocator", () => ({ allocator: "tcmalloc" as "malloc" }), RangeError],
    ["unknown memory kind", () => ({ memoryKind: "mmap" as "fixed" }), RangeError],
    ["a fixed memory too small for the header", () => ({ memoryKind: "fixed", initialBytes: 65536, maxBytes: 65536, threads: false, heapBase: 60000 }), RangeError],
    ["a fixed memory too small for its thread slots", () => ({ memory: new SharedArrayBuffer(65536), threads: true, maxThreads: 4000 }), RangeError],
    ["a given memory too small for its heap", () => ({ memory: new ArrayBuffer(4096) }), RangeError],
    ["threads with maxThreads 0", () => ({ threads: true, maxThreads: 0 }), RangeError],
    ["an unknown option", () => ({ debug: true } as unknown as HeapOptions), TypeError],
  ];
  it.each(bad)("%s", (_, options, type) => {
    let err: unknown;
    try {
      createHeap(options());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(type);
  });

  it("a quarantine too large for the memory names quarantineBlocks and the bytes it asked (it was 'memory too small for the debug quarantine')", () => {
    for (const n of [2 ** 29, Number.MAX_SAFE_INTEGER])
      expect(() => createHeap({ allocator: "debug", quarantineBlocks: n })).toThrow(new RegExp(`^quarantineBlocks ${n}: the debug quarantine's ring of ${32 + constants.Debug.Q_ENTRY * n} bytes .*does not fit in the heap's memory.*or 0 for none`));
    expect(() => createHeap({ allocator: "debug", quarantineBlocks: 200_000, memory: new ArrayBuffer(1 << 20) })).toThrow(RangeError);
  });

  it("every invalid option combination from the fuzz's dimensions is refused, never half-made", () => {
    // threads with each unshared kind, in every allocator mode and geometry sampled.
    const rand = xorshift(99);
    for (let i = 0; i < 40; i++) {
      const c = randomCombos(rand(), 1)[0];
      const kind = (["fixed", "resizable", "wasm-given"] as const)[i % 3];
      const o = { ...optionsOf({ ...c, kind }), threads: true };
      let err: unknown;
      try {
        createHeap(o);
      } catch (e) {
        err = e;
      }
      expect(err, label(c)).toBeInstanceOf(TypeError);
      expect(err).not.toBeInstanceOf(PymallocError);
    }
  });
});

describe("copies of a threads heap: attaching one takes a thread slot (found by the fuzz)", () => {
  const copyOf = (heap: Heap): SharedArrayBuffer => {
    const buf = new SharedArrayBuffer(heap.u8.length, { maxByteLength: heap.stats().maxBytes });
    new Uint8Array(buf).set(heap.u8);
    return buf;
  };

  it("a copy of a full heap at its maxBytes is refused with a typed error, the original intact", () => {
    // options of the fuzz's failing case: pymalloc, subPools false, growable-shared + threads, maxBytes 384 KiB
    const heap = createHeap({ threads: true, memoryKind: "growable-shared", initialBytes: 65536, maxBytes: 393216, subPools: false });
    while (heap.raw.malloc(4096) !== 0);
    while (heap.raw.malloc(16) !== 0);
    const e = thrownBy(() => attachHeap(copyOf(heap)));
    expect(e).toBeInstanceOf(PymallocError);
    expect((e as Error).message).toMatch(/out of memory: thread slot 1/);
    heap.check();
  });

  it("a copy of a heap whose thread slots are all live cannot be attached (maxThreads: 1)", () => {
    const heap = createHeap({ threads: true, maxThreads: 1, memoryKind: "growable-shared", initialBytes: 1 << 20, maxBytes: 4 << 20 });
    heap.obj.malloc(40);
    const e = thrownBy(() => attachHeap(copyOf(heap)));
    expect(e).toBeInstanceOf(PymallocError);
    expect((e as Error).message).toMatch(/all 1 thread slots/);
  });
});

describe("debug modes on a WebAssembly.Memory grown by something else (found by the fuzz)", () => {
  // options=debug,wasm-given-capped,heapBase=1000,... seed 1100125: a request too large to serve
  // (malloc(2 ** 32 - 64)) after an outside memory.grow() emptied the quarantine through the
  // detached views: "debug quarantine ring ...: its block is no live block" (HeapCorruptionError).
  it.each(["debug", "malloc_debug"] as const)("%s: a failed allocation drains the quarantine through current views", (allocator) => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 64 });
    const heap = createHeap({ allocator, memory, traceAllocations: false });
    heap.mem.free(heap.mem.malloc(100)); // quarantined
    memory.grow(1); // a module's memory.grow: every view of the memory detached
    expect(heap.mem.malloc(2 ** 32 - 64)).toBe(0);
    heap.check();
    expect(heap.stats().quarantinedBlocks).toBe(0);
    const p = heap.obj.malloc(10);
    expect(p).not.toBe(0);
    heap.obj.free(p);
    heap.check();
  });
});

describe("a debug heap made with quarantineBlocks: 0 keeps none when another handle attaches (found by the fuzz)", () => {
  // options=debug,growable-shared+threads,limits=tiny,quarantine=none,... seed 1100108: attaching
  // a copy of the full heap threw RangeError "memory too small for the debug quarantine": the
  // new handle opened a quarantine of its own, with attachHeap's defaults (1024 blocks).
  it("an attached handle quarantines nothing, and a full heap attaches", () => {
    const heap = createHeap({ allocator: "debug", quarantineBlocks: 0, memoryKind: "resizable", initialBytes: 131072, maxBytes: 131072, traceAllocations: false });
    const other = attachHeap(heap.memory.source, { traceAllocations: false });
    other.mem.free(other.mem.malloc(10));
    expect(heap.stats().quarantinedBlocks).toBe(0);
    while (heap.raw.malloc(1000) !== 0);
    while (heap.raw.malloc(8) !== 0);
    const copy = new ArrayBuffer(heap.u8.length);
    new Uint8Array(copy).set(heap.u8);
    const again = attachHeap(copy, { traceAllocations: false });
    again.check();
    heap.check();
  });

  it("an attached handle of a heap with a quarantine uses that ring", () => {
    const heap = createHeap({ allocator: "debug", quarantineBlocks: 4, traceAllocations: false });
    const other = attachHeap(heap.memory.source, { traceAllocations: false });
    other.mem.free(other.mem.malloc(10));
    expect(heap.stats().quarantinedBlocks).toBe(1);
    heap.check();
  });
});
