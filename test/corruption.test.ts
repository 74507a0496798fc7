// A damaged heap is found, never trusted (issue #18). Seeded random damage of every kind of
// metadata in every mode, each case timed (cases run in Workers; one that reports nothing within
// CASE_LIMIT_MS is a hang), must end in a typed error (a PymallocError subclass) or in correct
// behaviour: never an untyped error, a hang, a wild or misaligned pointer, a block overlapping a
// live one, or a live block's bytes changed. The same for attachHeap on zeros, random bytes,
// truncated copies and copies with one header word changed. Then the examples, each
// ending in HeapCorruptionError with the damaged address. The Workers load the built package
// (dist/), which `npm test` builds first.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { attachHeap, constants, createHeap, HeapCorruptionError, InvalidPointerError, PymallocError } from "../dist/index.js";

const WORKER = fileURLToPath(new URL("./workers/corruption.mjs", import.meta.url));
/** A case that reports nothing for this long hangs (the slowest legitimate one waits 2 s for a stuck lock). */
const CASE_LIMIT_MS = 20_000;

interface Tally {
  found: number;
  ok: number;
  skip: number;
  bad: string[];
}

/** Run cases first..first+count-1 of `kind` in a Worker, timing each. */
function runCases(kind: "damage" | "attach", mode: string, first: number, count: number): Promise<Tally> {
  return new Promise((resolve, reject) => {
    const t: Tally = { found: 0, ok: 0, skip: 0, bad: [] };
    const w = new Worker(WORKER, { workerData: { kind, mode, first, count } });
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

const CASES = 1500;
const MODES = ["pymalloc", "malloc", "debug", "threads", "subpools", "subpools_threads"];

describe("seeded heap damage, every kind of metadata, every mode", () => {
  it.concurrent.each(MODES)(`${CASES} damaged %s heaps: a typed error or correct behaviour, each case within its time limit`, async (mode) => {
    const t = await runCases("damage", mode, 1, CASES);
    expect(t.bad).toEqual([]);
    expect(t.found + t.ok + t.skip).toBe(CASES);
    // The damage is real: most cases are found (the rest hit bytes nothing reads, such as a free
    // block's tail, or changed nothing the allocator relies on).
    expect(t.found).toBeGreaterThan(CASES * 0.4);
  }, 600_000);

  it.concurrent("attachHeap on zeros, random bytes, truncated copies and copies with one header word changed", async () => {
    const t = await runCases("attach", "attach", 1, 1000);
    expect(t.bad).toEqual([]);
    expect(t.found).toBeGreaterThan(500);
  }, 600_000);
});
