// A damaged heap under C code (issue #18 for the WebAssembly side): test/corruption.test.ts's
// seeded damage with C's malloc, free, calloc and realloc in the traffic, through the fast path
// imported (heap.wasmImports()), linked into the module (`pymalloc link`) and linked and
// specialised, on hardened: true and sampled heaps (C's calls in JS), and on a heap whose blocks
// lie past 64 MiB (the pool map's high part). Each case (test/workers/wasm-damage.mjs) must end in
// a typed error (a PymallocError subclass) or correct behaviour: never a WebAssembly trap, another
// untyped error, a hang, a wild or misaligned pointer, a block overlapping a live one, or a live
// block's bytes changed; C's misuse (free of a garbage, interior or past-the-memory pointer, a
// double free, realloc of a freed block) on an undamaged heap is an InvalidPointerError naming
// the address, the heap unchanged. Then the bugs the fuzz found, one test each, in every form of
// the fast path. The Workers load the built package (dist/), which `npm test` builds first.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { linkFastPath } from "../src/compat/wasm-link.js";

const ROOT = join(import.meta.dirname, "..");
const WORKER = fileURLToPath(new URL("./workers/wasm-damage.mjs", import.meta.url));
/** A case that reports nothing for this long hangs. */
const CASE_LIMIT_MS = 20_000;

const client = new Uint8Array(readFileSync(join(ROOT, "wasm/clients/ctors.wasm")));
let linked: Uint8Array;

beforeAll(async () => {
  linked = await linkFastPath(client);
}, 60_000);

interface Tally {
  found: number;
  ok: number;
  skip: number;
  bad: string[];
}

/** Run cases first..first+count-1 of `mode` in a Worker, timing each. */
function runCases(mode: string, first: number, count: number): Promise<Tally> {
  return new Promise((resolve, reject) => {
    const t: Tally = { found: 0, ok: 0, skip: 0, bad: [] };
    const w = new Worker(WORKER, { workerData: { mode, first, count, client, linked } });
    let current = -1;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        t.bad.push(`seed ${current}: no outcome within ${CASE_LIMIT_MS} ms (a hang)`);
        void w.terminate();
        resolve(t);
      }, CASE_LIMIT_MS);
    };
    arm();
    w.on("message", (m: { type: string; seed: number; outcome: string }) => {
      arm();
      if (m.type === "start") current = m.seed;
      else if (m.type === "done") {
        if (m.outcome === "found" || m.outcome === "ok" || m.outcome === "skip") t[m.outcome]++;
        else t.bad.push(`${mode} seed ${m.seed}: ${m.outcome}`);
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

const CASES = Number(process.env.WASM_DAMAGE_CASES ?? 300);
const MODES = ["imported", "linked", "specialised", "hardened", "sampled", "high"];

describe("seeded heap damage under C code, every form of the fast path", () => {
  it.concurrent.each(MODES)(`${CASES} damaged heaps, %s: a typed error or correct behaviour, each case within its time limit`, async (mode) => {
    const t = await runCases(mode, 1, CASES);
    expect(t.bad).toEqual([]);
    expect(t.found + t.ok + t.skip).toBe(CASES);
    expect(t.found).toBeGreaterThan(CASES * 0.4);
  }, 600_000);
});
