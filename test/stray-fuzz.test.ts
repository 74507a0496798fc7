// Several stray writes at once, then a program that goes on (session 51's hunt, kept as a test).
// Each case: a heap of a mode and memory kind the seed picks (pymalloc, whole pools, hardened,
// malloc, threads, rawFirst, the two debug modes, alignment 16, sampled, small pools and arenas;
// a growable SharedArrayBuffer, a resizable or fixed ArrayBuffer, a WebAssembly.Memory shared or
// not, one with a heapBase; the WebAssembly fast path's obj family on half the wasm memories)
// runs a random program, then 1-4 words the allocator wrote are written over (the words that are
// not live user bytes and are non-zero or changed over the last 40 calls: header, pool and arena
// headers, free-list links, raw chunk headers and footers, the raw cache, sub-pool table, thread
// slots, the quarantine ring) or any word of the header or below the top, with a value a user's
// bug makes (0, ~0, a small number, a live or freed block's address, the old value +-4..32, a bit
// flipped, random) or one byte. Then 60-180 calls of malloc, calloc, realloc, free,
// alignedAlloc, usableSize, stats, check, walk, leaks, snapshot, debugMallocStats, collect,
// attachHeap (the program goes on through the new handle), and misuse (a free, realloc or
// usableSize of a freed block, an interior address or a random one). Every live block's bytes
// are verified after every call; each call must succeed or throw a PymallocError subclass (a
// RangeError or TypeError from inside the allocator is a failure: the arguments are all valid).
// A block handed out over a live one (or one in limbo: its free refused), a live block whose
// bytes changed, a calloc block not zeroed, a misuse accepted where it must not be, or an
// untyped error fails the case. A hunt: FUZZ_FROM=20000 FUZZ_CASES=2000 npx vitest run test/stray-fuzz.test.ts
import { describe, expect, it } from "vitest";
import { attachHeap, createHeap, PymallocError, type Family, type Heap, type HeapOptions } from "../src/index.js";
import { changedByte, overlapOf, uniform } from "./helpers.js";

const CASES = Number(process.env.FUZZ_CASES ?? 40);
const FROM = Number(process.env.FUZZ_FROM ?? 0);

const MODES: [string, HeapOptions][] = [
  ["pymalloc", {}],
  ["whole pools", { subPools: false }],
  ["hardened", { hardened: true }],
  ["malloc", { allocator: "malloc" }],
  ["threads", { threads: true }],
  ["rawFirst", { rawFirst: 8 }],
  ["debug", { allocator: "debug", traceAllocations: false }],
  ["malloc_debug", { allocator: "malloc_debug", traceAllocations: false }],
  ["alignment 16", { alignment: 16 }],
  ["sampled", { sampleInterval: 4096 }],
  ["small pools", { poolSize: 4096, arenaSize: 8192 }],
];
const KINDS = ["growable-shared", "resizable", "fixed", "wasm", "wasm-shared", "heapBase"] as const;

interface Fam {
  malloc(n: number): number;
  calloc(a: number, b: number): number;
  realloc(p: number, n: number): number;
  free(p: number): void;
  alignedAlloc(a: number, n: number): number;
}
interface Block {
  n: number;
  fam: number;
  bytes: Uint8Array;
}
class Bug extends Error {}

/** One case: the typed errors it met, or a thrown Bug saying what went wrong. */
function fuzzCase(seed: number): number {
  const r = uniform(seed * 2654435761 + 1);
  const ri = (n: number): number => Math.floor(r() * n);
  const [mname, mopts] = MODES[ri(MODES.length)];
  let kind: string = KINDS[ri(KINDS.length)];
  const opts: HeapOptions = { ...mopts };
  if (mopts.threads && (kind === "resizable" || kind === "fixed" || kind === "wasm")) kind = "growable-shared";
  if (kind === "wasm-shared") opts.memory = new WebAssembly.Memory({ initial: 16, maximum: 2048, shared: true });
  else if (kind === "wasm") opts.memory = new WebAssembly.Memory({ initial: 16, maximum: 2048 });
  else if (kind === "heapBase") {
    opts.memory = new WebAssembly.Memory({ initial: 16, maximum: 2048, shared: mopts.threads === true });
    opts.heapBase = 65536 + 8 * ri(100);
  } else if (kind === "fixed") Object.assign(opts, { memoryKind: "fixed", initialBytes: 4 << 20 });
  else opts.memoryKind = kind as HeapOptions["memoryKind"];
  const label = `seed ${seed} (${mname}, ${kind})`;
  let h: Heap = createHeap(opts);
  let wobj: Fam | null = null;
  const useWasm = (kind === "wasm" || kind === "wasm-shared" || kind === "heapBase") && ri(2) === 0;
  const fastPath = (): void => {
    if (!useWasm) return;
    const env = h.wasmImports({ family: "obj" });
    const obj: Family = h.obj;
    wobj = {
      malloc: (n) => env.malloc(n) >>> 0,
      free: (p) => env.free(p),
      realloc: (p, n) => env.realloc(p, n) >>> 0,
      calloc: (a, b) => env.calloc(a, b) >>> 0,
      alignedAlloc: (a, n) => obj.alignedAlloc(a, n),
    };
  };
  fastPath();
  const fams = (): Fam[] => [h.raw, h.mem, wobj ?? h.obj];
  const live = new Map<number, Block>();
  const limbo = new Map<number, number>();
  const freed: number[] = [];
  const log: string[] = [];
  const fail = (what: string): never => {
    throw new Bug(`${label}: ${what}\n  last calls: ${log.slice(-12).join(" | ")}`);
  };
  const overlapping = (p: number, n: number): number => overlapOf(live, limbo, p, n);
  const verify = (): void => {
    const bad = changedByte(h.u8, live);
    if (bad === undefined) return;
    const [p, i] = bad;
    const b = live.get(p)!;
    fail(`live block ${p} (${b.n} B): byte ${i} changed ${b.bytes[i]} -> ${h.u8[p + i]}`);
  };
  const adopt = (p: number, n: number, fam: number): void => {
    if (p === 0) return;
    const o = overlapping(p, n);
    if (o >= 0) fail(`block ${p} (${n} B) handed out over ${o}`);
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = ri(256);
    h.u8.set(bytes, p);
    live.set(p, { n, fam, bytes });
  };
  const size = (): number => {
    const c = ri(10);
    return c === 0 ? 513 + ri(8000) : c === 1 && ri(4) === 0 ? ri(70000) : ri(520);
  };
  const call = (damaged: boolean): void => {
    const c = ri(damaged ? 20 : 14);
    const keys = [...live.keys()];
    const fi = ri(3);
    if (c <= 3 || keys.length === 0) {
      const n = size();
      log.push(`malloc#${fi}(${n})`);
      adopt(fams()[fi].malloc(n), n, fi);
      return;
    }
    if (c === 4) {
      const a = ri(30);
      const b = ri(40);
      log.push(`calloc#${fi}(${a}, ${b})`);
      const p = fams()[fi].calloc(a, b);
      if (p !== 0) for (let i = 0; i < a * b; i++) if (h.u8[p + i] !== 0) fail(`calloc's block ${p} not zero at +${i}`);
      adopt(p, a * b, fi);
      return;
    }
    if (c === 5) {
      const al = 1 << (3 + ri(10));
      const n = size();
      log.push(`alignedAlloc#${fi}(${al}, ${n})`);
      const p = fams()[fi].alignedAlloc(al, n);
      if (p % al !== 0) fail(`alignedAlloc(${al}) returned ${p}`);
      adopt(p, n, fi);
      return;
    }
    const p = keys[ri(keys.length)];
    const b = live.get(p)!;
    if (c <= 8) {
      log.push(`free#${b.fam}(${p})`);
      live.delete(p);
      try {
        fams()[b.fam].free(p);
        freed.push(p);
      } catch (e) {
        limbo.set(p, b.n); // refused: nothing may be handed out over it
        throw e;
      }
      return;
    }
    if (c <= 10) {
      const n = size();
      log.push(`realloc#${b.fam}(${p}, ${n})`);
      const q = fams()[b.fam].realloc(p, n);
      if (q === 0) return;
      const keep = Math.min(n, b.n);
      for (let i = 0; i < keep; i++) if (h.u8[q + i] !== b.bytes[i]) fail(`realloc ${p} -> ${q} lost byte ${i}`);
      live.delete(p);
      if (q !== p) freed.push(p);
      const o = overlapping(q, n);
      if (o >= 0) fail(`realloc ${p} -> ${q} (${n} B) over ${o}`);
      const bytes = new Uint8Array(n);
      bytes.set(b.bytes.subarray(0, keep));
      for (let i = keep; i < n; i++) bytes[i] = ri(256);
      h.u8.set(bytes, q);
      live.set(q, { n, fam: b.fam, bytes });
      return;
    }
    if (c === 11) {
      log.push(`usableSize(${p})`);
      if (h.usableSize(p) < b.n) fail(`usableSize(${p}) below its ${b.n} bytes`);
      return;
    }
    if (c === 12) return void (log.push("stats"), h.stats());
    if (c === 13) return void (log.push("check"), h.check());
    if (c === 14) return void (log.push("walk"), h.walk(() => {}));
    if (c === 15) return void (log.push("leaks"), h.leaks());
    if (c === 16) return void (log.push("snapshot"), h.snapshot());
    if (c === 17) {
      log.push("attachHeap");
      h = attachHeap(h.memory.source, { heapBase: h.heapBase });
      fastPath();
      return;
    }
    if (c === 18) return void (log.push("debugMallocStats"), h.debugMallocStats());
    if (c === 19) {
      // Misuse: something that is no live block.
      const k = ri(4);
      const x = k === 0 && freed.length ? freed[ri(freed.length)] : k === 1 ? p + 8 * (1 + ri(4)) : k === 2 ? h.heapBase + 8 * ri(20000) : p + 1 + ri(7);
      if (live.has(x) || limbo.has(x)) return;
      const inside = overlapping(x, 1);
      const what = ri(3);
      log.push(`misuse${what}(${x})`);
      if (what === 0) {
        fams()[ri(3)].free(x); // a free of a freed block may be taken in release modes (README)
        if (inside >= 0) fail(`free(${x}) inside live block ${inside} taken`);
      } else if (what === 1) fail(`realloc(${x}), no live block, returned ${fams()[ri(3)].realloc(x, 16)}`);
      else fail(`usableSize(${x}), no live block, returned ${h.usableSize(x)}`);
      return;
    }
    log.push("collect");
    h.collect();
  };
  const steps = 150 + ri(300);
  for (let i = 0; i < steps; i++) call(false);
  verify();
  // The words to damage: not live user bytes, and non-zero or changed over 40 calls.
  const base = h.heapBase;
  const top = Math.min(h.buffer.byteLength, base + (1 << 24));
  const before = new Uint32Array(h.buffer.slice(base, top));
  for (let i = 0; i < 40; i++) call(false);
  verify();
  const u32 = h.u32;
  const inLive = new Uint8Array((top - base) >>> 2);
  for (const [p, b] of live) for (let a = p; a < p + b.n; a += 4) if (a >= base && a < top) inLive[(a - base) >>> 2] = 1;
  const words: number[] = [];
  for (let w = 0; w < before.length; w++) {
    const v = u32[(base >>> 2) + w];
    if (!inLive[w] && (v !== before[w] || (v !== 0 && v !== 0xdddddddd && v !== 0xcdcdcdcd && v !== 0xfdfdfdfd))) words.push(base + 4 * w);
  }
  const writes = 1 + ri(4);
  for (let k = 0; k < writes; k++) {
    const w = ri(10);
    const a = w === 0 ? base + 4 * ri((top - base) >>> 2) : w <= 3 ? base + 4 * ri(2048) : words[ri(words.length)];
    const old = h.u32[a >>> 2];
    const keys = [...live.keys()];
    const c = ri(9);
    const v =
      c === 0 ? 0
      : c === 1 ? 0xffffffff
      : c === 2 ? ri(64)
      : c === 3 && keys.length ? keys[ri(keys.length)]
      : c === 4 && freed.length ? freed[ri(freed.length)]
      : c === 5 ? (old + (ri(2) ? 4 : -4) * (1 + ri(8))) >>> 0
      : c === 6 ? (old ^ (1 << ri(32))) >>> 0
      : Math.floor(r() * 4294967296);
    if (ri(6) === 0) {
      const at = a + ri(4);
      h.u8[at] = ri(256);
      log.push(`DAMAGE byte ${at}`);
    } else {
      h.u32[a >>> 2] = v;
      log.push(`DAMAGE ${a}: ${old.toString(16)} -> ${v.toString(16)}`);
    }
    for (const [p, b] of live) for (let i = 0; i < b.n; i++) b.bytes[i] = h.u8[p + i]; // what it hit is the user's
  }
  let typed = 0;
  const n = 60 + ri(120);
  for (let i = 0; i < n && typed <= 20; i++) {
    try {
      call(true);
    } catch (e) {
      if (e instanceof Bug) throw e;
      if (!(e instanceof PymallocError)) fail(`untyped ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack?.split("\n").slice(1, 6).join("\n")}`);
      typed++;
    }
    verify();
  }
  try {
    h.check();
  } catch (e) {
    if (!(e instanceof PymallocError)) fail(`check(): untyped ${(e as Error)?.message}`);
  }
  return typed;
}

describe("stray writes of several allocator words, then a program with introspection, attachHeap and misuse", () => {
  // Batches of 10 (a synchronous test over 60 s trips vitest's onTaskUpdate timeout: test/setup.ts).
  for (let from = FROM; from < FROM + CASES; from += 10) {
    const to = Math.min(from + 10, FROM + CASES);
    it(`seeds ${from}-${to - 1}: every call succeeds with every live block intact or throws a typed error`, () => {
      const bugs: string[] = [];
      let typed = 0;
      for (let s = from; s < to; s++) {
        try {
          if (fuzzCase(s) > 0) typed++;
        } catch (e) {
          bugs.push(e instanceof Bug ? e.message : `seed ${s}: ${(e as Error).stack}`);
        }
      }
      expect(bugs).toEqual([]);
      expect(typed).toBeGreaterThan(0); // the damage is met, not missed
    });
  }
});
