/**
 * heap/layout.ts — where the heap header and its tables sit, and writing a fresh one.
 *
 * Owns: the order and sizes of the header tables (TLSF bitmaps and list heads, thread slots with
 * their usedpools sentinels, nfp2lasta, pool map) and formatting a new heap in memory.
 * Must not: allocate; the allocators read the offsets written here from memory.
 */

import {
  Size,
  Tlsf,
  H,
  HEADER_SCALAR_BYTES,
  HEAP_MAGIC,
  HEAP_VERSION,
  MAX_ARENA_SHIFT,
  MAX_POOLS_PER_ARENA_SHIFT,
  MAX_POOL_SHIFT,
  MIN_POOL_SHIFT,
  Slot,
  SlotState,
  usedSentinel,
} from "../constants.js";

export interface LayoutParams {
  heapBase: number;
  poolShift: number;
  arenaShift: number;
  /** Small blocks are aligned to 2^alignShift bytes. */
  alignShift: number;
  maxBytes: number;
  mode: number;
  /** HeapFlag bits. */
  flags: number;
  /** Thread slots for threads (0: a heap for one thread, with one slot). */
  maxThreads: number;
}

export interface Layout {
  slBitmaps: number; // byte offsets from heapBase
  freeHeads: number;
  /** Thread slot 0 (Slot.BYTES each; slot k's usedpools at threadSlots + k * Slot.BYTES + Slot.USEDPOOLS). */
  threadSlots: number;
  nSlots: number;
  nfp2lasta: number;
  poolMap: number;
  poolMapBytes: number;
  headerBytes: number;
  /** Absolute address of the first chunk (≡ 8 mod 16, so payloads are 16-aligned). */
  heapStart: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export function checkShifts(poolShift: number, arenaShift: number): void {
  if (!Number.isInteger(poolShift) || poolShift < MIN_POOL_SHIFT || poolShift > MAX_POOL_SHIFT)
    throw new RangeError(`poolSize must be a power of two from ${2 ** MIN_POOL_SHIFT} to ${2 ** MAX_POOL_SHIFT}`);
  if (!Number.isInteger(arenaShift) || arenaShift < poolShift || arenaShift > MAX_ARENA_SHIFT || arenaShift - poolShift > MAX_POOLS_PER_ARENA_SHIFT)
    throw new RangeError(
      `arenaSize must be a power of two from the pool size to ${2 ** MAX_ARENA_SHIFT}, holding at most ${2 ** MAX_POOLS_PER_ARENA_SHIFT} pools`,
    );
}

export function computeLayout(p: LayoutParams): Layout {
  let off = HEADER_SCALAR_BYTES;
  const slBitmaps = off;
  off += Tlsf.FL_COUNT * 4;
  const freeHeads = off;
  off += Tlsf.FL_COUNT * Tlsf.SL_COUNT * 4;
  off = align(off, 16);
  const threadSlots = off;
  // With threads, one slot per thread plus one for the pools of threads that left.
  const nSlots = p.maxThreads === 0 ? 1 : p.maxThreads + 1;
  off += nSlots * Slot.BYTES;
  const nfp2lasta = off;
  off += ((1 << (p.arenaShift - p.poolShift)) + 1) * 4;
  const poolMap = off;
  const poolMapBytes = Math.ceil(p.maxBytes / 2 ** p.poolShift / 8);
  off += poolMapBytes;
  const headerBytes = align(off, Size.ALIGNMENT);
  const heapStart = align(p.heapBase + headerBytes + 8, Size.ALIGNMENT) - 8;
  return { slBitmaps, freeHeads, threadSlots, nSlots, nfp2lasta, poolMap, poolMapBytes, headerBytes, heapStart };
}

/** Write a fresh, empty heap header at p.heapBase. */
export function formatHeap(u8: Uint8Array, u32: Uint32Array, p: LayoutParams, l: Layout): void {
  u8.fill(0, p.heapBase, l.heapStart + 8);
  const hw = p.heapBase >>> 2;
  u32[hw + H.MAGIC] = HEAP_MAGIC;
  u32[hw + H.VERSION] = HEAP_VERSION;
  u32[hw + H.HEADER_BYTES] = l.headerBytes;
  u32[hw + H.MODE] = p.mode;
  u32[hw + H.POOL_SHIFT] = p.poolShift;
  u32[hw + H.ARENA_SHIFT] = p.arenaShift;
  u32[hw + H.MAX_BYTES] = p.maxBytes;
  u32[hw + H.HEAP_BASE] = p.heapBase;
  u32[hw + H.HEAP_START] = l.heapStart;
  u32[hw + H.TOP] = l.heapStart;
  u32[hw + H.PEAK_TOP] = l.heapStart;
  u32[hw + H.SL_BITMAPS] = l.slBitmaps;
  u32[hw + H.FREE_HEADS] = l.freeHeads;
  u32[hw + H.THREAD_SLOTS] = l.threadSlots;
  u32[hw + H.MAX_THREADS] = p.maxThreads;
  u32[hw + H.ALIGN_SHIFT] = p.alignShift;
  u32[hw + H.NFP2LASTA] = l.nfp2lasta;
  u32[hw + H.POOL_MAP] = l.poolMap;
  u32[hw + H.POOL_MAP_BYTES] = l.poolMapBytes;
  u32[hw + H.FLAGS] = p.flags;
  // Every usedpools list starts empty: the sentinel points at itself. Slot 0 is the creator's.
  for (let k = 0; k < l.nSlots; k++) {
    const slot = p.heapBase + l.threadSlots + k * Slot.BYTES;
    for (let i = 0; i < Size.MAX_SIZE_CLASSES; i++) {
      const sp = usedSentinel(slot + Slot.USEDPOOLS, i);
      u32[(sp + 8) >>> 2] = sp;
      u32[(sp + 12) >>> 2] = sp;
    }
  }
  u32[(p.heapBase + l.threadSlots + Slot.STATE) >>> 2] = SlotState.LIVE;
}
