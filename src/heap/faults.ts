/**
 * heap/faults.ts — fault injection: make chosen allocations fail, to test out-of-memory paths
 * (what CPython's test suite does with _testcapi.set_nomemory).
 *
 * Owns: FaultFamily, a family that answers some malloc/calloc/realloc calls with 0 (NULL)
 * without calling the family below, and the validation of the fault plan. heap.failAllocations()
 * puts one in place of each chosen family and takes it away again, so that a heap without fault
 * injection runs exactly the families it always ran: the feature costs nothing when off.
 * Must not: touch the heap's memory. A refused call changes nothing (realloc leaves the block as
 * it was, as C's does), so the heap stays consistent through any plan.
 */

import { detachedError, shown } from "../errors.js";
import { checkOptions } from "./options.js";
import { badPointer, badSize, callocBytes, checkAlignment, type Family } from "./families.js";
import { WrappingFamily } from "./typed.js";

/** Which allocations fail (heap.failAllocations). Counts start at the call, per family. */
export interface FaultPlan {
  /** The families that fail: "raw", "mem", "obj" or "all" (default), or a list of them. */
  family?: FaultFamilyName | "all" | FaultFamilyName[];
  /** The nth allocation (1 = the next) fails, once. */
  nth?: number;
  /** Every `every`-th allocation fails (the every-th, 2 × every-th, ...), from `nth` on when both are given. */
  every?: number;
  /** Each allocation fails with this probability (0..1), from a generator seeded by `seed`. */
  probability?: number;
  /** Seed of the probability's generator (default 1): the same seed fails the same calls. */
  seed?: number;
  /** Stop failing after this many failures (default: no limit, or 1 for nth alone). */
  limit?: number;
}
export type FaultFamilyName = "raw" | "mem" | "obj";
export const FAULT_FAMILIES: FaultFamilyName[] = ["raw", "mem", "obj"];

/** The keys a plan may have (FaultPlan's). */
const PLAN_KEYS: Readonly<Record<keyof FaultPlan, true>> = { family: true, nth: true, every: true, probability: true, seed: true, limit: true };

function positiveInt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number") throw new TypeError(`failAllocations: ${name} must be a number, got ${typeof v}`);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`failAllocations: ${name} must be a positive integer, got ${v}`);
  return v;
}

/** The plan checked, with the families it names. */
export function resolvePlan(plan: FaultPlan): { families: FaultFamilyName[]; nth: number; every: number; probability: number; seed: number; limit: number } {
  if (plan === null || typeof plan !== "object") throw new TypeError("failAllocations: the plan must be an object (or null to stop)");
  checkOptions(plan, PLAN_KEYS, "failAllocations"); // a typo (famly) would fail every family
  const f = plan.family ?? "all";
  const families = f === "all" ? FAULT_FAMILIES : Array.isArray(f) ? f : [f];
  if (families.length === 0) throw new RangeError("failAllocations: family is an empty list; name raw, mem, obj or all");
  for (const x of families) if (!FAULT_FAMILIES.includes(x)) throw new RangeError(`failAllocations: unknown family ${shown(x)}; expected raw, mem, obj or all`);
  const nth = positiveInt(plan.nth, "nth");
  const every = positiveInt(plan.every, "every");
  const p = plan.probability;
  if (p !== undefined && (typeof p !== "number" || !(p >= 0 && p <= 1))) throw new RangeError(`failAllocations: probability must be a number from 0 to 1, got ${String(p)}`);
  if (nth === undefined && every === undefined && p === undefined) throw new RangeError("failAllocations: give nth, every or probability");
  const seed = plan.seed === undefined ? 1 : plan.seed;
  if (typeof seed !== "number" || !Number.isInteger(seed)) throw new TypeError("failAllocations: seed must be an integer");
  const limit = positiveInt(plan.limit, "limit") ?? (nth !== undefined && every === undefined && p === undefined ? 1 : Infinity);
  return { families: [...new Set(families)], nth: nth ?? 0, every: every ?? 0, probability: p ?? 0, seed: seed >>> 0 || 1, limit };
}

/** A family whose allocations fail as planned; free and everything else go to the family below. */
export class FaultFamily extends WrappingFamily implements Family {
  readonly id: string;
  readonly below: Family;
  /** Allocation calls seen so far (1-based count of the last one). */
  calls = 0;
  /** Allocations refused so far. */
  failed = 0;
  private rng: number;
  constructor(
    below: Family,
    private readonly plan: ReturnType<typeof resolvePlan>,
    /** Throws what the heap says of p (InvalidPointerError, the debug modes' use-after-free) when it is no live block: realloc checks its pointer before a refusal. */
    private readonly checkLive: (p: number) => void,
  ) {
    super();
    this.id = below.id;
    this.below = below;
    this.rng = scrambled(plan.seed);
  }

  /** Whether this allocation call fails. */
  private fails(): boolean {
    const k = ++this.calls;
    const pl = this.plan;
    if (this.failed >= pl.limit) return false;
    let fail = k === pl.nth;
    if (pl.every !== 0) {
      const first = pl.nth !== 0 ? pl.nth : pl.every;
      if (k >= first && (k - first) % pl.every === 0) fail = true;
    }
    if (pl.probability !== 0) {
      let s = this.rng;
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      this.rng = s >>> 0;
      if (this.rng / 4294967296 < pl.probability) fail = true;
    }
    if (fail) this.failed++;
    return fail;
  }

  // Each call's arguments are checked before the plan may refuse it, as the family below checks
  // them: bad input is the same RangeError, TypeError or InvalidPointerError with a plan in place
  // as without, never a refusal (0) that hides it, nor counted as one.

  malloc(n: number): number {
    if (typeof n !== "number" || (n >>> 0) !== n) badSize(n);
    return this.fails() ? 0 : this.below.malloc(n);
  }

  calloc(nelem: number, elsize: number): number {
    callocBytes(nelem, elsize);
    return this.fails() ? 0 : this.below.calloc(nelem, elsize);
  }

  realloc(p: number, n: number): number {
    if (typeof p !== "number" || (p >>> 0) !== p) badPointer("realloc", p);
    if (typeof n !== "number" || (n >>> 0) !== n) badSize(n);
    if (p !== 0) this.checkLive(p);
    return this.fails() ? 0 : this.below.realloc(p, n);
  }

  alignedAlloc(alignment: number, n: number): number {
    checkAlignment(alignment);
    if (typeof n !== "number" || (n >>> 0) !== n) badSize(n);
    return this.fails() ? 0 : this.below.alignedAlloc(alignment, n);
  }

  free(p: number): void {
    this.below.free(p);
  }
}

/**
 * The xorshift32 state for a plan's seed: the seed mixed through murmur3's finalizer first. Seeded
 * with a small integer itself, xorshift32's first outputs are small too (seed 1 gives 270,369 /
 * 2^32): every plan with a probability over 1e-4 and a seed below 9 refused its first call.
 * Never 0 (xorshift32's fixed point).
 */
function scrambled(seed: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  return h === 0 ? 0x6d2b79f5 : h;
}

/**
 * A heap handle's family after heap.detachThread(): every call throws (detachedError). The
 * family's own fast paths would otherwise go on popping from and pushing into the pools of the
 * thread slot the handle had, which another thread may own by then, without the lock.
 */
export class DetachedFamily extends WrappingFamily implements Family {
  readonly id: string;
  readonly below: Family;
  constructor(below: Family) {
    super();
    this.id = below.id;
    this.below = below;
  }
  malloc(): number {
    throw detachedError();
  }
  calloc(): number {
    throw detachedError();
  }
  realloc(): number {
    throw detachedError();
  }
  alignedAlloc(): number {
    throw detachedError();
  }
  free(): void {
    throw detachedError();
  }
}
