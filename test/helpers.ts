// Shared test helpers: paths to traces, a byte-pattern model of live blocks, running node.
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MemoryCorruptionError, type Heap } from "../src/index.js";

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

/** The report thrown by fn, failing the test when fn does not throw one. */
export function caught(fn: () => unknown): MemoryCorruptionError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MemoryCorruptionError) return e;
    throw e;
  }
  throw new Error("expected a MemoryCorruptionError");
}

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
