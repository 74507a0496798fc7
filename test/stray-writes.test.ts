// Stray writes as a user's bug makes them, in a program that goes on: an overflow past the end
// of a live block, an underflow before its start, a write through a stale pointer into a freed
// block, a wild word anywhere below the top, a word of a pool header (its first sub-pool's or
// its slot's) given a plausible value (a class size, a small number, an address, the old value
// +-8..24, one bit flipped). The program (malloc, realloc, free in all three families, JS and,
// on a WebAssembly.Memory, the fast path's exports for obj) runs on with every live block's bytes
// verified after each call; the bytes the stray write put into live blocks are the user's and
// expected. Each case must end in a typed error (a PymallocError subclass) or with every block
// intact and disjoint: never a block handed out over a live one, a realloc that loses bytes,
// a WebAssembly trap or another untyped error. (test/corruption.test.ts damages metadata by
// kind, with and without check(); this is the user's view of it, no check() until the end.)
// The cases of 2026-12-04 it found: a pool's carve words (NEXTOFFSET, SIZE, COUNT) carved over
// a live block in release mode, MAXNEXTOFFSET in hardened mode, and the fast path's realloc kept
// a block in place or copied by a SIZE word an underflow of 5-8 bytes had changed
// (test/wasm-damage.test.ts has one test each).
import { describe, expect, it } from "vitest";
import { createHeap, PymallocError, type Heap, type HeapOptions } from "../src/index.js";
import { strayWrite, uniform } from "./helpers.js";

const CASES = Number(process.env.STRAY_CASES ?? 30);
/** Other seeds than CI's (a hunt: STRAY_FROM=200000 STRAY_CASES=250 npx vitest run test/stray-writes.test.ts). */
const FROM = Number(process.env.STRAY_FROM ?? 0);
const OPS = 400;
const KINDS = ["overflow", "underflow", "stale", "wild", "pool header"] as const;
type Kind = (typeof KINDS)[number];

const MODES: Record<string, HeapOptions & { wasm?: boolean }> = {
  pymalloc: {},
  "whole pools": { subPools: false },
  hardened: { hardened: true },
  malloc: { allocator: "malloc" },
  threads: { threads: true },
  rawFirst: { rawFirst: true },
  "WebAssembly fast path": { wasm: true },
  "WebAssembly fast path, whole pools": { wasm: true, subPools: false },
  // 2026-12-06: run past the default seeds with these, clean; kept so that CI runs them too.
  debug: { allocator: "debug", traceAllocations: false },
  "debug, WebAssembly fast path": { allocator: "debug", traceAllocations: false, wasm: true },
  "alignment 16": { alignment: 16 },
  "threads, WebAssembly fast path": { threads: true, wasm: true }, // a shared WebAssembly.Memory
};


interface Fam {
  malloc(n: number): number;
  free(p: number): void;
  realloc(p: number, n: number): number;
}
interface Block {
  p: number;
  n: number;
  fam: number;
  /** The bytes it must hold. */
  bytes: Uint8Array;
}

/** One case: "typed" (it ended in a PymallocError), "ok", or what went wrong. */
function strayCase(seed: number, opts: HeapOptions & { wasm?: boolean }, kind: Kind): string {
  const rand = uniform(seed * 2654435761);
  const ri = (n: number): number => Math.floor(rand() * n);
  const { wasm, ...heapOpts } = opts;
  const h: Heap = createHeap(wasm ? { ...heapOpts, memory: new WebAssembly.Memory({ initial: 16, maximum: 1024, shared: heapOpts.threads === true }) } : heapOpts);
  const fams: Fam[] = [h.raw, h.mem, h.obj];
  if (wasm) {
    const env = h.wasmImports({ family: "obj" });
    fams[2] = { malloc: (n) => env.malloc(n) >>> 0, free: (p) => env.free(p), realloc: (p, n) => env.realloc(p, n) >>> 0 };
  }
  const live: Block[] = [];
  const freed: number[] = [];
  const fill = (b: Block): void => {
    for (let i = 0; i < b.n; i++) b.bytes[i] = ri(256);
    h.u8.set(b.bytes, b.p);
  };
  const overlapping = (p: number, n: number): Block | undefined => live.find((b) => p < b.p + Math.max(b.n, 1) && b.p < p + Math.max(n, 1));
  const size = (): number => (ri(8) === 0 ? 513 + ri(6000) : ri(520));
  /** A value a stray write plausibly holds. */
  const value = (): number => {
    const c = ri(6);
    if (c === 0 && live.length) return live[ri(live.length)].p;
    if (c === 1 && freed.length) return freed[ri(freed.length)];
    if (c === 2) return ri(64);
    if (c === 3 && live.length) return live[ri(live.length)].p + 8 * (ri(9) - 4);
    if (c === 4) return 0xffffffff - ri(4);
    return ri(2 ** 32);
  };
  const wordBytes = (v: number): number[] => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];
  const bytesOf = (len: number): number[] => {
    const out: number[] = [];
    while (out.length < len) out.push(...wordBytes(value()));
    return out.slice(0, len);
  };
  const stray = (a: number, bytes: number[]): void => strayWrite(h.u8, live, a, bytes);
  const damageAt = ri(OPS);
  try {
    for (let op = 0; op < OPS; op++) {
      if (op === damageAt) {
        const b = live.length ? live[ri(live.length)] : undefined;
        if (kind === "overflow" && b) stray(b.p + b.n + (ri(3) === 0 ? 0 : ri(16)), bytesOf(1 + ri(24)));
        else if (kind === "underflow" && b) {
          const len = 1 + ri(16);
          stray(b.p - len, bytesOf(len));
        } else if (kind === "stale" && freed.length) stray(freed[ri(freed.length)] + (ri(3) === 0 ? 4 * ri(4) : 0), wordBytes(value()));
        else if (kind === "wild") stray(ri(h.stats().footprint) & ~3, wordBytes(value()));
        else if (kind === "pool header") {
          const small = live.filter((x) => x.n > 0 && x.n <= 512 && x.fam !== 0);
          if (small.length) {
            const x = small[ri(small.length)];
            const pool = ri(2) === 0 ? x.p - (x.p % 1024) : x.p - (x.p % h.objectAllocator.poolSize);
            const at = pool + 4 * ri(12);
            const old = h.u32[at >>> 2];
            const c = ri(5);
            const v = c === 0 ? 8 * (1 + ri(64)) : c === 1 ? ri(64) : c === 2 ? value() : c === 3 ? old + (ri(2) ? 8 : -8) * (1 + ri(3)) : old ^ (1 << ri(32));
            stray(at, wordBytes(v >>> 0));
          }
        }
        continue;
      }
      const c = ri(10);
      if (c < 5 || live.length === 0) {
        const n = size();
        const fam = ri(3);
        const p = fams[fam].malloc(n);
        if (p === 0) continue;
        const o = overlapping(p, n);
        if (o) return `malloc(${n}) gave ${p}, over live ${o.p} (${o.n} bytes)`;
        const b = { p, n, fam, bytes: new Uint8Array(n) };
        live.push(b);
        fill(b);
      } else if (c < 8) {
        const [b] = live.splice(ri(live.length), 1);
        fams[b.fam].free(b.p);
        freed.push(b.p);
        if (freed.length > 50) freed.shift();
      } else {
        const i = ri(live.length);
        const b = live[i];
        const n = size();
        const q = fams[b.fam].realloc(b.p, n);
        if (q === 0) continue;
        live.splice(i, 1);
        const keep = Math.min(n, b.n);
        for (let k = 0; k < keep; k++) if (h.u8[q + k] !== b.bytes[k]) return `realloc(${b.p}, ${n}) -> ${q} lost byte ${k}`;
        const o = overlapping(q, n);
        if (o) return `realloc(${b.p}, ${n}) gave ${q}, over live ${o.p} (${o.n} bytes)`;
        if (q !== b.p) freed.push(b.p);
        const nb = { p: q, n, fam: b.fam, bytes: new Uint8Array(n) };
        live.push(nb);
        fill(nb);
      }
      const u8 = h.u8;
      for (const b of live) for (let k = 0; k < b.n; k++) if (u8[b.p + k] !== b.bytes[k]) return `op ${op}: live block ${b.p} (${b.n} bytes) lost byte ${k}`;
    }
    h.check();
  } catch (e) {
    if (e instanceof PymallocError) return "typed";
    return `untyped ${(e as Error)?.name}: ${(e as Error)?.message}`;
  }
  return "ok";
}

describe.each(Object.keys(MODES))("stray writes of a user's bug, %s: a typed error or every block intact", (mode) => {
  it.each(KINDS)(`${CASES} programs, each with one stray write: %s`, (kind) => {
    const bad: string[] = [];
    let typed = 0;
    for (let s = 1; s <= CASES; s++) {
      const r = strayCase(FROM + s * 8 + KINDS.indexOf(kind) + 1000 * Object.keys(MODES).indexOf(mode), MODES[mode], kind);
      if (r === "typed") typed++;
      else if (r !== "ok") bad.push(`#${s}: ${r}`);
    }
    expect(bad).toEqual([]);
    // The writes are real: underflows and header words mostly end in an error the allocator
    // raised (a wild or stale word often lands where nothing reads it, an overflow in a block).
    // In malloc mode a "pool header" write lands on a 1 or 16 KiB boundary among raw chunks, an
    // error in 37-42% of programs (150 seeds, session 55; 7 and 8 of the first 30): a fifth.
    if (kind === "underflow" || kind === "pool header") expect(typed).toBeGreaterThan(mode === "malloc" && kind === "pool header" ? CASES / 5 : CASES / 4);
  }, 120_000);
});

describe("stray writes found by runs past the default cases (STRAY_CASES, other seeds), kept as cases", () => {
  // seed, mode, kind, and what it did before the fix.
  const FOUND: [number, string, Kind, string][] = [
    // 2026-12-06: a sub-pool's Pool.SUB word set to 256 (shift 0) went back to its arena as a
    // whole pool; malloc(2445) then gave a raw block over a live 382-byte one.
    [207404, "WebAssembly fast path", "pool header", "a sub-pool's SUB word read as a whole pool's"],
  ];
  it.each(FOUND)("seed %i, %s, %s: %s", (seed, mode, kind) => {
    const r = strayCase(seed, MODES[mode], kind);
    expect(["typed", "ok"]).toContain(r);
  });
});
