/**
 * debug/sampling.ts — sampled allocation sites for release modes (createHeap's `sampleInterval`):
 * the families that sample, and the sampling state.
 *
 * Owns: the sampling families (a thin wrapper over each release family, chosen once when the
 * heap is made: a heap without sampling never loads these paths), the exponential countdown that
 * picks which allocations are sampled (on average one every `sampleInterval` bytes, as Go's and
 * jemalloc's heap profilers do; per handle and family, a JS field: a random draw, not heap
 * state), the sampling state's making and its check (createSamplingState, samplingStateFault),
 * and leaks() of a sampled heap. The sample table, and where each piece of state lives:
 * debug/sampler.ts.
 * Must not: change the allocators below, or touch a block's bytes (release blocks have no header).
 */

import { H, HeapFlag, Sample } from "../constants.js";
import { hex } from "../errors.js";
import { badPointer, badSize, type BlockAllocator, type Family } from "../heap/families.js";
import type { RawAllocator } from "../raw/tlsf.js";
import type { Heap } from "../heap/heap.js";
import { groupBySite, siteReport, type LeakedBlock, type LeakReport } from "./leaks.js";
import type { Memory } from "../memory/memory.js";
import { WrappingFamily } from "../heap/typed.js";
import { mapBytes, Sampler } from "./sampler.js";
import { spanEnd, spanStart } from "./spans.js";

spanStart(new Error()); // debug/spans.ts

/**
 * A release family with sampled sites: the countdown of bytes to the next sample is decremented
 * by every allocation; when it runs out, the block is recorded (stack and all), and a new
 * countdown is drawn. A free tests the bit of the block's region in the sampling state's bitmap,
 * and looks the block up in the sample table only when it is set. malloc, realloc and free call
 * the allocator themselves, as AllocatorFamily does (one call deeper cost V8's inlining of the
 * replay loop); calloc goes through the family below for its zeroing.
 */
export class SampledFamily extends WrappingFamily implements Family {
  readonly id: string;
  readonly below: Family;
  readonly a: BlockAllocator;
  readonly s: Sampler;
  /** The bitmap (see the file header): a view of its bytes alone, made again when the memory grows. */
  bits: Uint8Array;
  /** Bytes left before the next sample (a Smi). */
  left: number;

  constructor(below: Family, a: BlockAllocator, s: Sampler) {
    super();
    this.id = below.id;
    this.below = below;
    this.a = a;
    this.s = s;
    this.bits = s.bitmap();
    this.left = s.next();
    s.memory.onViews(() => {
      this.bits = s.bitmap();
    });
  }

  malloc(n: number): number {
    if (typeof n !== "number" || (n >>> 0) !== n) return badSize(n);
    const p = this.a.malloc(n);
    const left = this.left - n;
    this.left = left;
    return left > 0 || p === 0 ? p : this.sampled(p, n, 0);
  }

  calloc(nelem: number, elsize: number): number {
    const p = this.below.calloc(nelem, elsize);
    if (p === 0) return 0;
    const n = nelem * elsize;
    const left = this.left - n;
    this.left = left;
    return left > 0 ? p : this.sampled(p, n, 1);
  }

  realloc(p: number, n: number): number {
    if (typeof n !== "number" || (n >>> 0) !== n) return badSize(n);
    if (p !== 0) {
      if (typeof p !== "number" || (p >>> 0) !== p) badPointer("realloc", p);
      if ((this.bits[p >>> (Sample.MAP_SHIFT + 3)] & (1 << ((p >>> Sample.MAP_SHIFT) & 7))) !== 0) this.s.forget(p);
    }
    const q = p === 0 ? this.a.malloc(n) : this.a.realloc(p, n);
    const left = this.left - n;
    this.left = left;
    return left > 0 || q === 0 ? q : this.sampled(q, n, 2);
  }

  /** Not sampled: the family below's block (free finds no sample bit for it). */
  alignedAlloc(alignment: number, n: number): number {
    return this.below.alignedAlloc(alignment, n);
  }

  free(p: number): void {
    if (p === 0) return;
    if (typeof p !== "number" || (p >>> 0) !== p) badPointer("free", p);
    if ((this.bits[p >>> (Sample.MAP_SHIFT + 3)] & (1 << ((p >>> Sample.MAP_SHIFT) & 7))) !== 0) this.s.forget(p);
    this.a.free(p);
  }

  private sampled(p: number, n: number, op: number): number {
    this.left = this.s.next();
    return this.s.record(this, p, n, op);
  }
}


/** Bytes of the sampling state (with its bitmap) of a heap whose memory holds at most maxBytes. */
export const samplingStateBytes = (maxBytes: number): number => Sample.S_MAP + mapBytes(maxBytes);

/** A new heap's sampling state (createHeap with sampleInterval, release modes): written, and named in the header. */
export function createSamplingState(raw: RawAllocator, memory: Memory, heapBase: number, interval: number): void {
  const bytes = samplingStateBytes(memory.maxBytes);
  const state = raw.malloc(bytes);
  if (state === 0) throw new RangeError(`sampleInterval: no room for the sampling state (${bytes} bytes) in this memory`);
  memory.refresh();
  const v = memory.views;
  v.u8.fill(0, state, state + bytes);
  v.u32[(state + Sample.S_INTERVAL) >>> 2] = interval;
  v.u32[(state + Sample.S_MAGIC) >>> 2] = (Sample.S_MAGIC_VALUE ^ state) >>> 0;
  v.u32[(heapBase >>> 2) + H.SAMPLES] = state;
  v.u32[(heapBase >>> 2) + H.FLAGS] |= HeapFlag.SAMPLED;
}

/**
 * Why the sampling state H.SAMPLES names is none (attachHeap and check()), or null: a live raw
 * block of its bytes (usable: the raw allocator's liveUsable), holding its magic (a stray write
 * that pointed H.SAMPLES at a user's block of that size passed, and the sampler wrote into it)
 * and a mean interval of at least 1 (0 made snapshot()'s weights a RangeError).
 */
export function samplingStateFault(u32: Uint32Array, state: number, maxBytes: number, usable: (p: number) => number): string | null {
  const bytes = samplingStateBytes(maxBytes);
  if ((state & 7) !== 0 || usable(state) < bytes) return `sampling state ${hex(state)} is no live block of its ${bytes} bytes`;
  if (u32[(state + Sample.S_MAGIC) >>> 2] !== ((Sample.S_MAGIC_VALUE ^ state) >>> 0)) return `sampling state ${hex(state)} lacks its magic word: no sampling state (a write over H.SAMPLES?)`;
  if (u32[(state + Sample.S_INTERVAL) >>> 2] === 0) return `sampling state ${hex(state)}: mean interval 0`;
  return null;
}

/**
 * heap.leaks() of a sampled heap (called under its lock): every live block, exact totals; the
 * sites are estimates weighted back from the samples (sampled blocks carry their site, the others
 * "(not sampled)").
 */
export function sampledLeaks(heap: Heap, s: Sampler): LeakReport {
  const samples = s.samples();
  const byAddress = new Map(samples.map((b) => [b.address, b]));
  const blocks: LeakedBlock[] = [];
  let totalBytes = 0;
  heap.walkUnlocked((b) => {
    const sb = byAddress.get(b.address);
    totalBytes += b.size;
    blocks.push({ address: b.address, size: b.size, family: sb?.family ?? "?", serial: 0, site: sb?.site ?? "(not sampled)" });
  });
  const bySite = groupBySite(samples);
  return siteReport(blocks, totalBytes, bySite, `${blocks.length} live block(s), ${totalBytes} bytes; ${samples.length} sampled (one per ${s.interval} bytes on average), sites estimated from them:`, (g) =>
    `  ~${String(Math.round(g.bytes)).padStart(10)} B in ~${String(Math.round(g.blocks)).padStart(6)} block(s)  ${g.site}`);
}

spanEnd(new Error());
