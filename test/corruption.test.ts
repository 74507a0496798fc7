// A damaged heap is found, never trusted (issue #18). Seeded random damage of every kind of
// metadata in every mode, each case timed (cases run in Workers; one that reports nothing within
// CASE_LIMIT_MS is a hang), must end in a typed error (a PymallocError subclass) or in correct
// behaviour: never an untyped error, a hang, a wild or misaligned pointer, a block overlapping a
// live one, or a live block's bytes changed. The same for attachHeap on zeros, random bytes,
// truncated copies and copies with one header word changed. Then the examples, each
// ending in HeapCorruptionError with the damaged address. The Workers load the built package
// (dist/), which `npm test` builds first.
import { describe, expect, it } from "vitest";
import { runDamageWorker, type DamageTally } from "./helpers.js";
import { fileURLToPath } from "node:url";
import { attachHeap, constants, createHeap, HeapCorruptionError, InvalidPointerError, PymallocError } from "../dist/index.js";

const WORKER = fileURLToPath(new URL("./workers/corruption.mjs", import.meta.url));
/** A case that reports nothing for this long hangs (the slowest legitimate one waits 2 s for a stuck lock). */
// 60 s, not 20: twice on this VM two Workers' cases (40 ms alone) reported nothing for 20 s at
// the same moment, a stall of the machine, not of a case; a hang never ends, so it is found either way.
const CASE_LIMIT_MS = 60_000;

/** Run cases first..first+count-1 of `kind` in a Worker, timing each. */
const runCases = (kind: "damage" | "attach", mode: string, first: number, count: number, noCheck = false): Promise<DamageTally> =>
  runDamageWorker(WORKER, { kind, mode, first, count, noCheck }, mode, CASE_LIMIT_MS);

const CASES = Number(process.env.CORRUPTION_CASES ?? 1500);
/** Other seeds than CI's (a hunt: CORRUPTION_FROM=1000000 CORRUPTION_CASES=4000 npx vitest run test/corruption.test.ts). */
const FROM = Number(process.env.CORRUPTION_FROM ?? 1);
const MODES = ["pymalloc", "malloc", "debug", "threads", "threads_debug", "subpools", "subpools_threads", "rawfirst", "default", "debug_default", "threads_debug_default"];
const NO_CHECK_MODES = ["pymalloc", "malloc", "debug", "threads", "threads_debug", "rawfirst", "default", "debug_default", "threads_debug_default"];

describe("seeded heap damage, every kind of metadata, every mode", () => {
  it.concurrent.each(MODES)(`${CASES} damaged %s heaps (in six modes then as many used on without check()): a typed error or correct behaviour, each case within its time limit`, async (mode) => {
    const t = await runCases("damage", mode, FROM, CASES);
    expect(t.bad).toEqual([]);
    expect(t.found + t.ok + t.skip).toBe(CASES);
    // The damage is real: most cases are found (the rest hit bytes nothing reads, such as a free
    // block's tail, or changed nothing the allocator relies on).
    expect(t.found).toBeGreaterThan(CASES * 0.4);
    // Then no check() between the damage and the operations (other seeds): what the
    // allocators' own paths refuse (README, "A damaged heap"). In the same test, after the
    // cases above: a Worker a mode at a time on CI's two cores.
    if (!NO_CHECK_MODES.includes(mode)) return;
    const u = await runCases("damage", mode, FROM + 100_000, CASES, true);
    expect(u.bad).toEqual([]);
    expect(u.found + u.ok + u.skip + u.undetected).toBe(CASES);
    expect(u.found).toBeGreaterThan(CASES * 0.4);
    // A free block's link moved to another carved block of its pool (the documented gap): rare
    // among the damage drawn.
    expect(u.undetected).toBeLessThan(CASES * 0.02);
  }, 600_000);

  it.concurrent("attachHeap on zeros, random bytes, truncated copies and copies with one header word changed", async () => {
    const t = await runCases("attach", "attach", 1, 1000);
    expect(t.bad).toEqual([]);
    expect(t.found).toBeGreaterThan(500);
  }, 600_000);
});
