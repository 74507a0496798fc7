// Shared test helpers: paths to traces, a byte-pattern model of live blocks, running node.
import { spawn } from "node:child_process";
import { Worker } from "node:worker_threads";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { HeapCorruptionError, instantiateWithHeap, MemoryCorruptionError, type AllocatorFunctions, type Heap } from "../src/index.js";
import { fastPathModule } from "../src/compat/wasm-imports.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const BUNDLED_TRACE = join(ROOT, "data", "compileall-head.pymtrace.gz");
export const SHARED_TRACES_DIR = join(ROOT, "..", "shared", "traces");

/** The shared traces, or [] with a visible message when ../shared is absent. */
export function sharedTraces(): string[] {
  if (!existsSync(SHARED_TRACES_DIR)) {
    console.warn(`NOTE: ${SHARED_TRACES_DIR} not found: the shared-trace replays are skipped`);
    return [];
  }
  return readdirSync(SHARED_TRACES_DIR)
    .filter((f) => f.endsWith(".pymtrace.gz"))
    .sort()
    .map((f) => join(SHARED_TRACES_DIR, f));
}

/** Live blocks of a heap, each filled with its own byte; verifyAll() checks all of them. */
export class BlockModel {
  readonly live = new Map<number, { size: number; value: number; family: string }>();
  constructor(readonly heap: Heap) {}

  add(p: number, size: number, value: number, family: string): void {
    if (p === 0) throw new Error("add(0)");
    const align = size > 512 ? 16 : this.heap.alignment;
    if (p % align !== 0) throw new Error(`block ${p} (${size} B) is not ${align}-byte aligned`);
    if (this.live.has(p)) throw new Error(`block ${p} handed out twice`);
    if (this.heap.usableSize(p) < size) throw new Error(`block ${p}: usable ${this.heap.usableSize(p)} < ${size}`);
    this.heap.u8.fill(value, p, p + size);
    this.live.set(p, { size, value, family });
  }

  verifyBlock(p: number, upTo = Infinity): void {
    const b = this.live.get(p);
    if (!b) throw new Error(`block ${p} is not live in the model`);
    const u8 = this.heap.u8;
    const end = p + Math.min(b.size, upTo);
    for (let k = p; k < end; k++) if (u8[k] !== b.value) throw new Error(`block ${p} (${b.size} B) changed at +${k - p}`);
  }

  remove(p: number): { size: number; value: number; family: string } {
    this.verifyBlock(p);
    const b = this.live.get(p)!;
    this.live.delete(p);
    return b;
  }

  /** No two live blocks overlap, and each still holds its bytes. */
  verifyAll(): void {
    const spans = [...this.live].map(([p, b]) => [p, p + Math.max(b.size, 1)] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++)
      if (spans[i][0] < spans[i - 1][1]) throw new Error(`blocks ${spans[i - 1][0]} and ${spans[i][0]} overlap`);
    for (const p of this.live.keys()) this.verifyBlock(p);
  }
}

/** What fn() throws (undefined when it returns): for asserting on an error's type and fields. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The error of class `cls` fn throws, failing the test when it throws none (or another error). */
function thrownOf<E extends Error>(cls: abstract new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw e;
  }
  throw new Error(`expected a ${cls.name}`);
}

/** The HeapCorruptionError fn throws, failing the test when it throws none (or another error). */
export const corruption = (fn: () => unknown): HeapCorruptionError => thrownOf(HeapCorruptionError, fn);

/** The MemoryCorruptionError fn throws, failing the test when it throws none (or another error). */
export const caught = (fn: () => unknown): MemoryCorruptionError => thrownOf(MemoryCorruptionError, fn);

/** Run node without blocking the test worker's event loop (a synchronous spawn starved vitest's RPC on a loaded machine). */
export function runNode(args: string[], cwd?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { cwd });
    let stdout = "";
    let stderr = "";
    c.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    c.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    c.on("error", reject);
    c.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** xorshift32: a small deterministic generator of uint32s (never 0). */
export function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

/**
 * A user's stray write of `bytes` at address a (bytes past the memory dropped): into u8, and
 * into what the live blocks it hits must hold (their expected contents, `bytes` of each).
 */
export function strayWrite(u8: Uint8Array, live: readonly { p: number; n: number; bytes: number[] | Uint8Array }[], a: number, bytes: readonly number[]): void {
  bytes.forEach((v, i) => {
    if (a + i < 0 || a + i >= u8.length) return;
    u8[a + i] = v;
    for (const b of live) if (a + i >= b.p && a + i < b.p + b.n) b.bytes[a + i - b.p] = v;
  });
}

/**
 * The fuzzers' block tests (stray-fuzz, overrun-hunt), blocks by address: the first of `live` or
 * `limbo` (address -> length, a refused free's block) that [p, p + n) overlaps, a length of 0
 * counted as 1; -1 when none.
 */
export function overlapOf(live: ReadonlyMap<number, { n: number }>, limbo: ReadonlyMap<number, number>, p: number, n: number): number {
  n = Math.max(n, 1);
  for (const [q, b] of live) if (p < q + Math.max(b.n, 1) && q < p + n) return q;
  for (const [q, m] of limbo) if (p < q + Math.max(m, 1) && q < p + n) return q;
  return -1;
}

/** The first live block (by address) whose bytes in u8 are not what it holds, as [address, index]; undefined when all are. */
export function changedByte(u8: Uint8Array, live: ReadonlyMap<number, { n: number; bytes: ArrayLike<number> }>): [number, number] | undefined {
  for (const [p, b] of live) for (let i = 0; i < b.n; i++) if (u8[p + i] !== b.bytes[i]) return [p, i];
  return undefined;
}

/** Uniform numbers in [0, 1) from xorshift(seed), deterministic. */
export function uniform(seed: number): () => number {
  const next = xorshift(seed);
  return () => next() / 4294967296;
}

interface Block {
  size: number;
  tag: number;
}

/**
 * A random program over one heap, each call made by one of three sides (wasm through
 * heap.wasmImports(), C through a linked module, heap.mem, heap.obj: either frees what another
 * allocated); every block's bytes verified, check() every checkEvery steps, all freed at the end.
 * `large`: raw-sized requests in 100.
 */
export function differential(heap: Heap, sides: AllocatorFunctions[], seed: number, steps: number, checkEvery = 1, large = 7): void {
  const rand = xorshift(seed);
  const live = new Map<number, Block>();
  const order: number[] = [];
  const size = (): number => {
    const r = rand() % 100;
    if (r < 3) return 0;
    if (r < 3 + large) return 513 + (rand() % 3000); // raw chunks: `large` in 100
    if (r < 97) return 1 + (rand() % 512);
    return 1 + (rand() % 64);
  };
  const fill = (p: number, b: Block): void => {
    for (let k = 0; k < b.size; k++) heap.u8[p + k] = (b.tag + k * 7) & 0xff;
  };
  const verify = (p: number, b: Block, n = b.size): void => {
    for (let k = 0; k < n; k++) if (heap.u8[p + k] !== ((b.tag + k * 7) & 0xff)) throw new Error(`block ${p} (${b.size} B) changed at +${k} (seed ${seed})`);
  };
  const take = (): number => takeRandom(order, rand);
  for (let step = 0; step < steps; step++) {
    const side = sides[rand() % 3];
    const op = rand() % 10;
    if (op < 4 || order.length === 0) {
      const n = size();
      const zero = op === 3;
      const k = 1 + (rand() % 4);
      const p = (zero ? side.calloc(k, Math.ceil(n / k)) : side.malloc(n)) >>> 0;
      const b = { size: n, tag: rand() & 0xff };
      if (zero) {
        // calloc(k, ceil(n/k)) zeroes at least n bytes.
        for (let k = 0; k < n; k++) if (heap.u8[p + k] !== 0) throw new Error(`calloc block ${p} not zero at +${k} (seed ${seed})`);
      }
      expect(p).not.toBe(0);
      expect(live.has(p)).toBe(false);
      fill(p, b);
      live.set(p, b);
      order.push(p);
    } else if (op < 8) {
      const p = take();
      verify(p, live.get(p)!);
      live.delete(p);
      side.free(p);
    } else {
      const p = take();
      const old = live.get(p)!;
      verify(p, old);
      const n = size();
      const q = side.realloc(p, n) >>> 0;
      expect(q).not.toBe(0);
      live.delete(p);
      verify(q, old, Math.min(n, old.size));
      const b = { size: n, tag: rand() & 0xff };
      fill(q, b);
      expect(live.has(q)).toBe(false);
      live.set(q, b);
      order.push(q);
    }
    if (step % checkEvery === 0) heap.check();
  }
  for (const [p, b] of live) verify(p, b);
  for (const p of order) sides[rand() % 3].free(p);
  heap.check();
  expect(heap.stats().blocksInUse).toBe(0);
}

/** The exports of wasm/clients/ctors.c (test/wasm-client.test.ts, test/wasm-link.test.ts). */
export interface Ctors {
  get_greeting(): number;
  c_make_block(n: number): number;
  c_free_block(p: number): void;
  c_calloc(n: number, m: number): number;
  c_realloc(p: number, n: number): number;
  stack_sum(n: number): number;
  __heap_base: WebAssembly.Global;
}

/** What a seeded damage worker (test/workers/corruption.mjs, wasm-damage.mjs) said of its cases. */
export interface DamageTally {
  found: number;
  ok: number;
  skip: number;
  undetected: number;
  /** Every case that ended otherwise (an untyped error, a wrong block, a hang), with its seed. */
  bad: string[];
}

/**
 * Run a damage worker (its workerData says which cases) and tally its outcomes: each case reports
 * "start" then "done" with an outcome; one that reports nothing for limitMs hangs (the worker is
 * then stopped and the tally returned as it is).
 */
export function runDamageWorker(worker: string, workerData: Record<string, unknown>, label: string, limitMs: number): Promise<DamageTally> {
  return new Promise((resolve, reject) => {
    const t: DamageTally = { found: 0, ok: 0, skip: 0, undetected: 0, bad: [] };
    const w = new Worker(worker, { workerData });
    let current = -1;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        t.bad.push(`${label} seed ${current}: no outcome within ${limitMs} ms (a hang)`);
        void w.terminate();
        resolve(t);
      }, limitMs);
    };
    arm();
    w.on("message", (m: { type: string; seed: number; outcome: string }) => {
      arm();
      if (m.type === "start") current = m.seed;
      else if (m.type === "done") {
        if (m.outcome === "found" || m.outcome === "ok" || m.outcome === "skip" || m.outcome === "undetected") t[m.outcome]++;
        else t.bad.push(`${label} seed ${m.seed}: ${m.outcome}`);
      } else if (m.type === "end") {
        clearTimeout(timer);
        resolve(t);
      }
    });
    w.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * The WebAssembly fast path's own build (not specialised) on the heap, its slow paths the heap's
 * JS family heap.mem, each call into JS recorded in `calls` ("malloc N", "free", "calloc",
 * "realloc"): for tests of what the fast path does itself and what it leaves to JS.
 */
export function fastPathInstance(heap: Heap) {
  const calls: string[] = [];
  const fam = heap.mem;
  const slow = {
    malloc: (n: number) => (calls.push(`malloc ${n}`), fam.malloc(n >>> 0)),
    free: (p: number) => (calls.push(`free`), fam.free(p >>> 0)),
    calloc: (a: number, b: number) => (calls.push(`calloc`), fam.calloc(a >>> 0, b >>> 0)),
    realloc: (p: number, n: number) => (calls.push(`realloc`), fam.realloc(p >>> 0, n >>> 0)),
  };
  const x = new WebAssembly.Instance(fastPathModule(false), { env: { memory: heap.memory.source as WebAssembly.Memory }, pymalloc: slow }).exports as unknown as AllocatorFunctions & {
    init(b: number, s: number): void;
  };
  x.init(heap.heapBase, heap.threadId);
  return { x, calls };
}

/** A random element of order (rand: a seeded generator), taken out of it (the last moves into its place). */
export function takeRandom(order: number[], rand: () => number): number {
  const i = rand() % order.length;
  const p = order[i];
  order[i] = order[order.length - 1];
  order.pop();
  return p;
}

/**
 * A module that imports env.memory and exports grow(pages) = memory.grow(pages): a WebAssembly
 * module growing the memory by itself. Written out byte by byte (shared: the import is shared).
 */
export function growerModule(shared: boolean): WebAssembly.Module {
  const limits = shared ? [0x03, 0x01, 0x80, 0x80, 0x04] : [0x00, 0x01]; // min 1 (max 65536 when shared)
  const imp = [0x01, 0x03, ...Buffer.from("env"), 0x06, ...Buffer.from("memory"), 0x02, ...limits];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f], // type: (i32) -> i32
    ...[0x02, imp.length, ...imp],
    ...[0x03, 0x02, 0x01, 0x00], // one function of type 0
    ...[0x07, 0x08, 0x01, 0x04, ...Buffer.from("grow"), 0x00, 0x00],
    ...[0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b], // local.get 0; memory.grow 0
  ];
  return new WebAssembly.Module(new Uint8Array(bytes));
}
export const grower = (memory: WebAssembly.Memory): ((pages: number) => number) =>
  new WebAssembly.Instance(growerModule(memory.buffer instanceof SharedArrayBuffer), { env: { memory } }).exports.grow as (pages: number) => number;

/**
 * A C module's run(n) export in pymalloc and debug mode, each on a heap of its own: it answers
 * `want`, and the heap then checks whole with no block left (the C tests' programs).
 */
export async function expectRunsClean(bytes: Uint8Array, n: number, want: number, imports?: WebAssembly.Imports): Promise<void> {
  for (const allocator of ["pymalloc", "debug"] as const) {
    const { instance, heap } = await instantiateWithHeap(bytes, { allocator, imports });
    expect((instance.exports as unknown as { run(n: number): number }).run(n), allocator).toBe(want);
    heap.check();
    expect(heap.stats().blocksInUse, allocator).toBe(0);
  }
}

/**
 * A 40-byte block of h's mem family allocated in allocateHere() and freed in freeHere(): the two
 * frames a debug report's allocation and free sites must name (its address; freed, so the next
 * call on it is reported).
 */
export function freedInNamedFrames(h: Heap): number {
  function allocateHere(): number {
    return h.mem.malloc(40);
  }
  function freeHere(p: number): void {
    h.mem.free(p);
  }
  const p = allocateHere();
  freeHere(p);
  return p;
}
