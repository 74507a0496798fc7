/**
 * heap/layout.ts — where the heap header and its tables sit, and writing a fresh one.
 *
 * Owns: the order and sizes of the header tables (TLSF bitmaps and list heads, the raw cache (RawCache), thread slots, the
 * usedpools arrays of slot 0 and the orphan slot (formatUsed: every other slot's is a raw chunk), nfp2lasta, the pool map's low part) and formatting a new heap in memory.
 * Validating a header before anything trusts it (validateHeader: attachHeap and check()).
 * Must not: allocate; the allocators read the offsets written here from memory.
 */

import {
  Size,
  Tlsf,
  H,
  HeapFlag,
  DEFAULT_MAX_BYTES,
  MAX_MAX_THREADS,
  MODE_IDS,
  Chunk,
  Flag,
  Pool,
  HEADER_SCALAR_BYTES,
  HEAP_MAGIC,
  HEAP_VERSION,
  endOk,
  MAX_ARENA_SHIFT,
  MAX_POOLS_PER_ARENA_SHIFT,
  MAX_POOL_SHIFT,
  MIN_POOL_SHIFT,
  POOL_MAP_LOW_SHIFT,
  Slot,
  SlotState,
  Used,
  SubPool,
  RawStart,
  RawCache,
  classSize,
  youngLimit,
  usedSentinel,
  topMark,
  sizeOf,
} from "../constants.js";
import { HeapCorruptionError, hex } from "../errors.js";

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
  /** The raw start's live limit (HeapOptions.rawFirst; absent or 0: off). */
  rawFirst?: number;
}

export interface Layout {
  slBitmaps: number; // byte offsets from heapBase
  freeHeads: number;
  /** The raw cache's table (RawCache). */
  rawCache: number;
  /** Thread slot 0 (Slot.BYTES each; slot k's usedpools at the address in its Slot.USED word). */
  threadSlots: number;
  nSlots: number;
  /** The usedpools arrays kept in the header (Used.BYTES each): slot 0's, then (threads) the orphan slot's. */
  usedInline: number;
  nfp2lasta: number;
  /** The sub-pool table (SubPool): free sub-pool list heads, bytes each size class holds. */
  subPools: number;
  /** The pool map's low part (slots below 2^POOL_MAP_LOW_SHIFT): offset from heapBase, bytes. */
  poolMap: number;
  poolMapBytes: number;
  /** Bytes of its high part (the slots above, to the growth limit), a raw chunk taken when first needed. */
  poolMapHighBytes: number;
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

/** A new heap's identity (H.IDENTITY): random, non-zero, below 2^31 (a small integer in V8). */
export function heapIdentity(): number {
  return ((Math.random() * 0x7fffffff) | 0) || 1;
}

export function computeLayout(p: LayoutParams): Layout {
  let off = HEADER_SCALAR_BYTES;
  const slBitmaps = off;
  off += Tlsf.FL_COUNT * 4;
  const freeHeads = off;
  off += Tlsf.FL_COUNT * Tlsf.SL_COUNT * 4;
  const rawCache = off;
  off += RawCache.BYTES;
  off = align(off, 16);
  const threadSlots = off;
  // With threads, one slot per thread plus one for the pools of threads that left.
  const nSlots = p.maxThreads === 0 ? 1 : p.maxThreads + 1;
  off += nSlots * Slot.BYTES;
  // Slot 0's usedpools and the orphan slot's; the others' are raw chunks (Slot.USED).
  const usedInline = off;
  off += (nSlots === 1 ? 1 : 2) * Used.BYTES;
  const nfp2lasta = off;
  off += ((1 << (p.arenaShift - p.poolShift)) + 1) * 4;
  const subPools = off;
  off += SubPool.BYTES;
  const poolMap = off;
  const mapAll = Math.ceil(p.maxBytes / 2 ** p.poolShift / 8);
  const poolMapBytes = Math.min(mapAll, 2 ** (POOL_MAP_LOW_SHIFT - p.poolShift - 3));
  const poolMapHighBytes = mapAll - poolMapBytes;
  off += poolMapBytes;
  const headerBytes = align(off, Size.ALIGNMENT);
  const heapStart = align(p.heapBase + headerBytes + 8, Size.ALIGNMENT) - 8;
  return { slBitmaps, freeHeads, rawCache, threadSlots, nSlots, usedInline, nfp2lasta, subPools, poolMap, poolMapBytes, poolMapHighBytes, headerBytes, heapStart };
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
  u32[(l.heapStart + Chunk.SIZE) >>> 2] = topMark(l.heapStart);
  u32[hw + H.PEAK_TOP] = l.heapStart;
  for (let i = 0; i < 4; i++) u32[hw + H.VIEW_END_1 + i] = u8.length / 2 ** i - 1; // the views' check (memory/memory.ts)
  u32[hw + H.END] = Math.min(u8.length, p.maxBytes); // the heap's own pages: all the memory has now, up to maxBytes (a memory given longer than that)
  u32[hw + H.SL_BITMAPS] = l.slBitmaps;
  u32[hw + H.FREE_HEADS] = l.freeHeads;
  u32[hw + H.RAW_CACHE] = l.rawCache;
  u32[hw + H.THREAD_SLOTS] = l.threadSlots;
  u32[hw + H.MAX_THREADS] = p.maxThreads;
  u32[hw + H.ALIGN_SHIFT] = p.alignShift;
  u32[hw + H.NFP2LASTA] = l.nfp2lasta;
  u32[hw + H.SUBPOOLS] = l.subPools;
  u32[hw + H.POOL_MAP] = l.poolMap;
  u32[hw + H.POOL_MAP_BYTES] = l.poolMapBytes;
  u32[hw + H.POOL_MAP_HIGH_BYTES] = l.poolMapHighBytes;
  u32[hw + H.FLAGS] = p.flags;
  u32[hw + H.IDENTITY] = heapIdentity();
  // Each size class's young limit (SubPool.LIMIT; 0 with whole pools: no class is ever young).
  u32.set(youngLimits(p.alignShift, p.poolShift, (p.flags & HeapFlag.WHOLE_POOLS) !== 0), (p.heapBase + l.subPools + SubPool.LIMIT) >>> 2);
  // The raw start (RawStart): its two limits; the counts start at 0.
  u32[(p.heapBase + l.subPools + SubPool.RAW_FIRST) >>> 2] = p.rawFirst ?? 0;
  u32[(p.heapBase + l.subPools + SubPool.RAW_EVER_LIMIT) >>> 2] = (p.rawFirst ?? 0) * RawStart.EVER_FACTOR;
  // Slot 0 (the creator's) and the orphan slot have their usedpools in the header; the others
  // none until first claimed (USED 0).
  for (const k of l.nSlots === 1 ? [0] : [0, l.nSlots - 1]) {
    const used = p.heapBase + l.usedInline + (k === 0 ? 0 : Used.BYTES);
    formatUsed(u32, used, k);
    u32[(p.heapBase + l.threadSlots + k * Slot.BYTES + Slot.USED) >>> 2] = used + Used.HEADS;
  }
  u32[(p.heapBase + l.threadSlots + Slot.STATE) >>> 2] = SlotState.LIVE;
}

/**
 * Write an empty usedpools array (Used) at `at` for thread slot k: every list empty (the
 * sentinel points at itself), the guard words, the slot's number. Its address + Used.HEADS then
 * goes into the slot's USED word.
 */
export function formatUsed(u32: Uint32Array, at: number, k: number): void {
  u32[(at + Used.SLOT) >>> 2] = k;
  const heads = at + Used.HEADS;
  for (let i = 0; i < Size.MAX_SIZE_CLASSES; i++) {
    const sp = usedSentinel(heads, i);
    u32[(sp + 8) >>> 2] = sp;
    u32[(sp + 12) >>> 2] = sp;
  }
  u32[(at + Used.GUARD) >>> 2] = Pool.SZIDX_NONE;
  u32[(at + Used.GUARD + 4) >>> 2] = Pool.SZIDX_NONE;
}

/** Names of the header's scalar words, for errors. */
const FIELD_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries({
    MAGIC: H.MAGIC, VERSION: H.VERSION, HEADER_BYTES: H.HEADER_BYTES, MODE: H.MODE, POOL_SHIFT: H.POOL_SHIFT,
    ARENA_SHIFT: H.ARENA_SHIFT, MAX_BYTES: H.MAX_BYTES, HEAP_BASE: H.HEAP_BASE, HEAP_START: H.HEAP_START, TOP: H.TOP,
    PEAK_TOP: H.PEAK_TOP, LOCK: H.LOCK, SERIAL: H.SERIAL, FL_BITMAP: H.FL_BITMAP, USABLE_ARENAS: H.USABLE_ARENAS,
    NARENAS_CURRENT: H.NARENAS_CURRENT, NARENAS_ALLOCATED: H.NARENAS_ALLOCATED, NARENAS_RECLAIMED: H.NARENAS_RECLAIMED,
    NARENAS_HIGHWATER: H.NARENAS_HIGHWATER, SL_BITMAPS: H.SL_BITMAPS, FREE_HEADS: H.FREE_HEADS, THREAD_SLOTS: H.THREAD_SLOTS,
    NFP2LASTA: H.NFP2LASTA, POOL_MAP: H.POOL_MAP, POOL_MAP_BYTES: H.POOL_MAP_BYTES, FLAGS: H.FLAGS, QUARANTINE: H.QUARANTINE,
    MAX_THREADS: H.MAX_THREADS, ALIGN_SHIFT: H.ALIGN_SHIFT, SAMPLES: H.SAMPLES, SUBPOOLS: H.SUBPOOLS,
    POOL_MAP_HIGH: H.POOL_MAP_HIGH, POOL_MAP_HIGH_BYTES: H.POOL_MAP_HIGH_BYTES,
    VIEW_END_1: H.VIEW_END_1, VIEW_END_2: H.VIEW_END_2, VIEW_END_4: H.VIEW_END_4, VIEW_END_8: H.VIEW_END_8, RAW_CACHE: H.RAW_CACHE,
    END: H.END, FENCED: H.FENCED, LOCK_BEAT: H.LOCK_BEAT, LOCK_OWNER: H.LOCK_OWNER, IDENTITY: H.IDENTITY,
  }).map(([k, v]) => [v, `H.${k}`]),
);

/** The lock word's values (threads/lock.ts): free, held, held with waiters. */
export const LOCK_STATES = 3;

/**
 * A heap at another base (attachHeap without the heapBase the heap was made with, a module's
 * __heap_base): "; a heap starts at 0x...: ..." when one is found in the first 64 MiB (16-byte
 * steps, its magic and its own base word agreeing), else "". An error path's search.
 */
function heapElsewhere(u32: Uint32Array, byteLength: number, heapBase: number): string {
  const end = Math.min(byteLength, 64 << 20) - HEADER_SCALAR_BYTES;
  for (let b = 0; b <= end; b += 16)
    if (b !== heapBase && u32[(b >>> 2) + H.MAGIC] === HEAP_MAGIC && u32[(b >>> 2) + H.HEAP_BASE] === b)
      return `; a heap starts at ${hex(b)}: attach it with { heapBase: ${b} } (the base it was made with, a module's __heap_base)`;
  return "";
}


/**
 * The SubPool.LIMIT table of a heap made with these alignment and pool shifts and whole pools
 * or not: formatHeap writes it, validateHeader compares it with the header's words.
 */
function youngLimits(alignShift: number, poolShift: number, wholePools: boolean): number[] {
  return Array.from({ length: Size.MAX_SIZE_CLASSES }, (_, i) => (!wholePools && classSize(i, alignShift) <= Size.SMALL_REQUEST_THRESHOLD ? youngLimit(classSize(i, alignShift), poolShift) : 0));
}

/**
 * Check the heap header at heapBase in a memory of byteLength bytes (u32 its word view) before
 * anything follows it: magic, version, every scalar against its possible values, the memory's
 * size and the others (the tables' offsets are recomputed from the shifts, sizes and thread
 * count, and must be exactly those), the lock word, and every table word that holds an address
 * (TLSF bitmaps and list heads, thread slots and their usedpools, nfp2lasta) against the chunk
 * area. O(header size), no allocation beyond a layout record. Throws HeapCorruptionError
 * naming the word's address and field ("H.TOP", "thread slot 3 DELAYED", ...). fixedOnly: only
 * the fields that never change once the heap is made (and the lock word).
 */
export function validateHeader(u32: Uint32Array, byteLength: number, heapBase: number, fixedOnly = false): void {
  const hw = heapBase >>> 2;
  const bad = (h: number, what: string): never => {
    throw new HeapCorruptionError(heapBase + h * 4, what, FIELD_NAMES[h]);
  };
  if (byteLength < heapBase + HEADER_SCALAR_BYTES || u32[hw + H.MAGIC] !== HEAP_MAGIC)
    throw new HeapCorruptionError(heapBase, `no pymalloc heap at ${hex(heapBase)} in this memory (its first word is not the magic number)${heapElsewhere(u32, byteLength, heapBase)}`, "H.MAGIC");
  const w = (h: number): number => u32[hw + h];
  if (w(H.VERSION) !== HEAP_VERSION) bad(H.VERSION, `layout version ${w(H.VERSION)}; this build reads ${HEAP_VERSION}`);
  if (w(H.HEAP_BASE) !== heapBase) bad(H.HEAP_BASE, `heap base ${hex(w(H.HEAP_BASE))}, found at ${hex(heapBase)}`);
  if (!Object.values(MODE_IDS).includes(w(H.MODE) as never)) bad(H.MODE, `unknown allocator mode ${w(H.MODE)}`);
  const poolShift = w(H.POOL_SHIFT);
  const arenaShift = w(H.ARENA_SHIFT);
  if (poolShift < MIN_POOL_SHIFT || poolShift > MAX_POOL_SHIFT) bad(H.POOL_SHIFT, `pool shift ${poolShift} outside ${MIN_POOL_SHIFT}..${MAX_POOL_SHIFT}`);
  if (arenaShift < poolShift || arenaShift > MAX_ARENA_SHIFT || arenaShift - poolShift > MAX_POOLS_PER_ARENA_SHIFT)
    bad(H.ARENA_SHIFT, `arena shift ${arenaShift} does not fit pool shift ${poolShift}`);
  const alignShift = w(H.ALIGN_SHIFT);
  if (alignShift !== Size.MIN_ALIGNMENT_SHIFT && alignShift !== Size.ALIGNMENT_SHIFT) bad(H.ALIGN_SHIFT, `alignment shift ${alignShift} is neither ${Size.MIN_ALIGNMENT_SHIFT} nor ${Size.ALIGNMENT_SHIFT}`);
  const flags = w(H.FLAGS);
  if ((flags & ~(HeapFlag.THREADS | HeapFlag.HARDENED | HeapFlag.WHOLE_POOLS | HeapFlag.SAMPLED | HeapFlag.MIN_ALIGNMENT)) !== 0) bad(H.FLAGS, `unknown flag bits ${hex(flags)}`);
  if (((flags & HeapFlag.MIN_ALIGNMENT) !== 0) !== (alignShift === Size.MIN_ALIGNMENT_SHIFT))
    bad(H.ALIGN_SHIFT, `alignment shift ${alignShift}: the heap was made with ${(flags & HeapFlag.MIN_ALIGNMENT) !== 0 ? Size.MIN_ALIGNMENT_SHIFT : Size.ALIGNMENT_SHIFT} (its MIN_ALIGNMENT flag says so)`);
  if (((flags & HeapFlag.SAMPLED) !== 0) !== (w(H.SAMPLES) !== 0))
    bad(H.SAMPLES, (flags & HeapFlag.SAMPLED) !== 0 ? "the heap was made with sampled sites, but names no sampling state (a write over the word?)" : `sampling state word ${hex(w(H.SAMPLES))} in a heap made without sampled sites`);
  if (w(H.IDENTITY) === 0) bad(H.IDENTITY, "the heap's identity word is 0 (a write over the header?)");
  const maxThreads = w(H.MAX_THREADS);
  if ((flags & HeapFlag.THREADS) === 0 ? maxThreads !== 0 : maxThreads < 1 || maxThreads > MAX_MAX_THREADS)
    bad(H.MAX_THREADS, `${maxThreads} thread slots for a heap ${(flags & HeapFlag.THREADS) === 0 ? "without" : "with"} threads`);
  const maxBytes = w(H.MAX_BYTES);
  if (maxBytes > DEFAULT_MAX_BYTES || maxBytes < heapBase + HEADER_SCALAR_BYTES) bad(H.MAX_BYTES, `growth limit ${maxBytes} outside [header end, ${DEFAULT_MAX_BYTES}]`);
  const lock = w(H.LOCK);
  if (lock >= LOCK_STATES || ((flags & HeapFlag.THREADS) === 0 && lock !== 0)) bad(H.LOCK, `lock word ${lock} is none the lock ever writes`);
  // Every table offset is a function of the fields above: they must be exactly it.
  const l = computeLayout({ heapBase, poolShift, arenaShift, alignShift, maxBytes, mode: 0, flags, maxThreads });
  const expect: Array<[number, number]> = [
    [H.HEADER_BYTES, l.headerBytes], [H.SL_BITMAPS, l.slBitmaps], [H.FREE_HEADS, l.freeHeads], [H.RAW_CACHE, l.rawCache], [H.THREAD_SLOTS, l.threadSlots],
    [H.NFP2LASTA, l.nfp2lasta], [H.SUBPOOLS, l.subPools], [H.POOL_MAP, l.poolMap], [H.POOL_MAP_BYTES, l.poolMapBytes], [H.POOL_MAP_HIGH_BYTES, l.poolMapHighBytes],
    [H.HEAP_START, l.heapStart],
  ];
  for (const [h, v] of expect) if (w(h) !== v) bad(h, `${w(h)}, the layout of these shifts, sizes and threads puts ${v} there`);
  const start = l.heapStart;
  if (start + Chunk.HEADER > byteLength || start + Chunk.HEADER > maxBytes) bad(H.HEAP_START, `the memory (${byteLength} bytes) ends inside the heap header: a truncated copy?`);
  // What follows changes as threads allocate: read it under the heap's lock (attachHeap).
  if (fixedOnly) return;
  // What the mode allows: only the debug modes keep a quarantine ring, and only the modes with
  // pools have arenas. A mode word a bit flip changed (debug 3 -> malloc 2) passed check() and
  // failed at the first free (a helper's probe of reloaded heaps, 2026-12-06).
  const mode = w(H.MODE);
  const release = mode === MODE_IDS.pymalloc || mode === MODE_IDS.malloc;
  if (release && w(H.QUARANTINE) !== 0) bad(H.MODE, `mode ${mode} is a release mode, yet the heap keeps a debug quarantine ring (H.QUARANTINE ${hex(w(H.QUARANTINE))}): a mode word written over?`);
  // Words only a debug mode and only threads write: a stray write there hurts nothing that reads
  // them, yet it is a stray write into the heap, which check() is there to find (a fuzzer's
  // damaged words that passed, 2026-12-07).
  if (release && w(H.SERIAL) !== 0) bad(H.SERIAL, `debug allocation counter ${w(H.SERIAL)} in a heap of release mode ${mode}, which never counts (a write over the header?)`);
  if ((flags & HeapFlag.THREADS) === 0 && w(H.LOCK_OWNER) !== 0) bad(H.LOCK_OWNER, `lock holder word ${w(H.LOCK_OWNER)} in a heap without threads, which has no lock (a write over the header?)`);
  if ((mode === MODE_IDS.malloc || mode === MODE_IDS.malloc_debug) && w(H.NARENAS_CURRENT) !== 0) bad(H.MODE, `mode ${mode} has no pools, yet the heap holds ${w(H.NARENAS_CURRENT)} arenas: a mode word written over?`);
  const top = w(H.TOP);
  const limit = Math.min(byteLength, maxBytes);
  if (top < start || (top - start) % Size.ALIGNMENT !== 0 || top + Chunk.HEADER > limit)
    bad(H.TOP, `top ${hex(top)} is not a chunk address in [${hex(start)}, ${hex(limit - Chunk.HEADER)}]${top + Chunk.HEADER > byteLength ? ": the memory ends below it (a truncated copy?)" : ""}`);
  if (u32[(top + Chunk.SIZE) >>> 2] !== topMark(top)) bad(H.TOP, `top ${hex(top)} lacks the top's mark at ${hex(top + Chunk.SIZE)}: no top (a write over the header's TOP word?)`);
  // The heap's own end: at or past the top chunk's header (the top never carves past it), a
  // multiple of 8, and no further than the memory is or may grow (a copy may end below it: the
  // heap grows its memory back from where it ends, raw/top.ts extend()).
  const end = w(H.END);
  if (!endOk(end, top, byteLength, maxBytes))
    bad(H.END, `the heap's end ${hex(end)} is out of range or not a multiple of 8: it must lie within [${hex(top + Chunk.HEADER)}, ${hex(Math.max(byteLength, maxBytes))}] (a write over the header?)`);
  // The views' words (memory/memory.ts, MemoryViews): each the last element index of a view of
  // its width over a memory at least as long as the heap's own end (whoever grew the memory
  // raised them before writing the end; every block lies below it) and no longer than the memory
  // can be. Too low, another thread's growth would go unseen by this thread's views (a block
  // carved past them read undefined, its writes dropped: words lowered between the top and the
  // end passed until 2026-12-06); too high, every view read would refresh. (An end past the
  // memory is the end's fault: check() names it.)
  const viewsMin = Math.min(end, byteLength);
  for (let i = 0; i < 4; i++) {
    const h = H.VIEW_END_1 + i;
    const bytes = (w(h) + 1) * 2 ** i;
    if (bytes < viewsMin || bytes > Math.max(byteLength, maxBytes))
      bad(h, `${w(h)}: the views' check would take the memory for ${bytes} bytes long, outside [${viewsMin}, ${Math.max(byteLength, maxBytes)}] (a write over the header?)`);
  }
  const peak = w(H.PEAK_TOP);
  if (peak < top || (peak - start) % Size.ALIGNMENT !== 0 || peak + Chunk.HEADER > maxBytes) bad(H.PEAK_TOP, `peak top ${hex(peak)} below the top or not a chunk address`);
  const inHeap = (a: number): boolean => a >= start && a < top;
  const chunkAddr = (a: number): boolean => a === 0 || (inHeap(a) && (a - start) % Size.ALIGNMENT === 0);
  if (w(H.FL_BITMAP) >>> Tlsf.FL_COUNT !== 0) bad(H.FL_BITMAP, `first-level bitmap ${hex(w(H.FL_BITMAP))} has bits past ${Tlsf.FL_COUNT}`);
  const ua = w(H.USABLE_ARENAS);
  if (ua !== 0 && !inHeap(ua)) bad(H.USABLE_ARENAS, `usable_arenas head ${hex(ua)} outside the chunks`);
  const cur = w(H.NARENAS_CURRENT);
  if (cur > (top - start) / 2 ** poolShift) bad(H.NARENAS_CURRENT, `${cur} arenas cannot fit in ${top - start} bytes`);
  if (w(H.NARENAS_ALLOCATED) - w(H.NARENAS_RECLAIMED) !== cur) bad(H.NARENAS_ALLOCATED, "arenas allocated - reclaimed is not the arenas in use");
  if (w(H.NARENAS_HIGHWATER) < cur || w(H.NARENAS_HIGHWATER) > w(H.NARENAS_ALLOCATED)) bad(H.NARENAS_HIGHWATER, "arena high-water mark below the arenas in use or above those ever allocated");
  const q = w(H.QUARANTINE);
  if (q !== 0 && (!inHeap(q) || (q & (Size.ALIGNMENT - 1)) !== 0)) bad(H.QUARANTINE, `quarantine ring ${hex(q)} is no block address`);
  // Tables: TLSF bitmaps agree with each other, list heads are chunk addresses.
  const tbl = (off: number, what: string, v: number): never => {
    throw new HeapCorruptionError(heapBase + off, `${what} holds ${hex(v)}, which the allocator never writes there`, what);
  };
  const flmap = w(H.FL_BITMAP);
  for (let fl = 0; fl < Tlsf.FL_COUNT; fl++) {
    const off = l.slBitmaps + fl * 4;
    const slmap = u32[(heapBase + off) >>> 2];
    if (((flmap >>> fl) & 1) !== (slmap !== 0 ? 1 : 0)) tbl(off, `TLSF second-level bitmap ${fl} (first-level bit ${(flmap >>> fl) & 1})`, slmap);
    for (let sl = 0; sl < Tlsf.SL_COUNT; sl++) {
      const ho = l.freeHeads + ((fl << Tlsf.SL_SHIFT) + sl) * 4;
      const head = u32[(heapBase + ho) >>> 2];
      if (((slmap >>> sl) & 1) !== (head !== 0 ? 1 : 0) || !chunkAddr(head)) tbl(ho, `TLSF free list head (${fl},${sl})`, head);
    }
  }
  // The raw cache: its count at most its limit, and nothing cached when it says 0; each list
  // head a chunk address (check() follows the lists).
  const cached = u32[(heapBase + l.rawCache + RawCache.COUNT) >>> 2];
  if (cached > RawCache.LIMIT) tbl(l.rawCache + RawCache.COUNT, "raw cache count", cached);
  for (let i = 0; i < RawCache.BINS; i++) {
    const ho = l.rawCache + RawCache.HEADS + i * 4;
    const head = u32[(heapBase + ho) >>> 2];
    if (!chunkAddr(head) || (cached === 0 && head !== 0)) tbl(ho, `raw cache list head ${i}`, head);
  }
  // The young limits (SubPool.LIMIT), written once when the heap was made from its alignment,
  // pool size and WHOLE_POOLS flag and never changed: a second record of those three words. An
  // ALIGN_SHIFT flipped 3 -> 4 passed here, and a handle attached next took every pool of 8-byte
  // classes for a class of twice the size: blocks over live ones (a stray-write hunt, session 44);
  // a WHOLE_POOLS bit set passed, and that handle refused valid frees of sub-pools' blocks.
  const limitsAt = (heapBase + l.subPools + SubPool.LIMIT) >>> 2;
  const limitsAre = (want: number[]): boolean => want.every((v, i) => u32[limitsAt + i] === v);
  const wholePools = (flags & HeapFlag.WHOLE_POOLS) !== 0;
  if (!limitsAre(youngLimits(alignShift, poolShift, wholePools))) {
    const other = Size.MIN_ALIGNMENT_SHIFT + Size.ALIGNMENT_SHIFT - alignShift;
    if (limitsAre(youngLimits(other, poolShift, wholePools))) bad(H.ALIGN_SHIFT, `alignment shift ${alignShift}: the heap was made with ${other} (its size classes' young limits say so)`);
    if (limitsAre(youngLimits(alignShift, poolShift, !wholePools))) bad(H.FLAGS, `flags ${hex(flags)}: the heap was made ${wholePools ? "with" : "without"} sub-pools (its size classes' young limits say so), its WHOLE_POOLS bit says otherwise`);
    throw new HeapCorruptionError(limitsAt * 4, `the size classes' young limits are not those the heap's alignment, pool size and flags give: a write over the sub-pool table?`, "SubPool.LIMIT");
  }
  // Thread slots: state, delayed list head, usedpools address (slot 0 and the orphan slot: in
  // the header; the others: 0 while never claimed, else the payload of a raw chunk flagged as
  // internal, of Used.BYTES at least, naming the slot), the array's guard words and its links
  // (a sentinel, or a pool or sub-pool in the chunks: aligned to the smallest sub-pool).
  const poolMask = 2 ** Math.min(poolShift, SubPool.SHIFT) - 1;
  for (let k = 0; k < l.nSlots; k++) {
    const slot = heapBase + l.threadSlots + k * Slot.BYTES;
    const st = u32[(slot + Slot.STATE) >>> 2];
    if (st !== SlotState.FREE && st !== SlotState.LIVE) tbl(slot + Slot.STATE - heapBase, `thread slot ${k} STATE`, st);
    const d = u32[(slot + Slot.DELAYED) >>> 2];
    if (d !== 0 && !inHeap(d)) tbl(slot + Slot.DELAYED - heapBase, `thread slot ${k} DELAYED`, d);
    const heads = u32[(slot + Slot.USED) >>> 2];
    const usedAt = heads - Used.HEADS;
    const usedBad = (why: string): never => {
      throw new HeapCorruptionError(slot + Slot.USED, `thread slot ${k} USED holds ${hex(heads)}: ${why}`, `thread slot ${k} USED`);
    };
    const inline = k === 0 ? 0 : k === l.nSlots - 1 ? Used.BYTES : -1;
    if (inline >= 0) {
      if (heads !== heapBase + l.usedInline + inline + Used.HEADS) usedBad(`its usedpools are in the header, at ${hex(heapBase + l.usedInline + inline + Used.HEADS)}`);
    } else if (heads === 0) {
      if (st !== SlotState.FREE) usedBad("a live slot without usedpools");
      continue;
    } else {
      const c = usedAt - Chunk.HEADER;
      const sw = inHeap(c) && (c - start) % Size.ALIGNMENT === 0 ? u32[(c + Chunk.SIZE) >>> 2] : 0;
      if ((sw & (Flag.ARENA | Flag.FREE | Flag.TAG)) !== (Flag.ARENA | Flag.TAG) || sizeOf(sw) < Used.BYTES + Chunk.OVERHEAD || c + sizeOf(sw) > top)
        usedBad(`no chunk of the allocator's own of ${Used.BYTES} bytes`);
      if (u32[(usedAt + Used.SLOT) >>> 2] !== k) usedBad(`its chunk names thread slot ${u32[(usedAt + Used.SLOT) >>> 2]}`);
    }
    for (const g of [usedAt + Used.GUARD, usedAt + Used.GUARD + 4]) if (u32[g >>> 2] !== Pool.SZIDX_NONE) tbl(g - heapBase, `thread slot ${k} usedpools guard`, u32[g >>> 2]);
    for (let i = 0; i < Size.MAX_SIZE_CLASSES; i++) {
      const sp = usedSentinel(heads, i);
      for (const at of [sp + 8, sp + 12]) {
        const v = u32[at >>> 2];
        if (v !== sp && !(inHeap(v) && (v & poolMask) === 0)) tbl(at - heapBase, `thread slot ${k} usedpools[${i}] ${at === sp + 8 ? "NEXT" : "PREV"}`, v);
      }
    }
  }
  for (let k = 0; k <= 1 << (arenaShift - poolShift); k++) {
    const off = l.nfp2lasta + k * 4;
    const v = u32[(heapBase + off) >>> 2];
    if (v !== 0 && !inHeap(v)) tbl(off, `nfp2lasta[${k}]`, v);
  }
  // The free sub-pool list's head: 0, or a sub-pool header in the chunks (check() follows the list).
  const subHead = u32[(heapBase + l.subPools + SubPool.FREE) >>> 2];
  if (subHead !== 0 && (!inHeap(subHead) || (subHead & ((1 << SubPool.SHIFT) - 1)) !== 0)) tbl(l.subPools + SubPool.FREE, "free sub-pool list head", subHead);
  if (l.poolMap + l.poolMapBytes > l.headerBytes) bad(H.POOL_MAP, "pool map runs past the header");
  // The pool map's high part: none yet, or a chunk address past the low part's reach
  // (check() finds the chunk and compares its bits).
  const hi = w(H.POOL_MAP_HIGH);
  if (hi !== 0 && (l.poolMapHighBytes === 0 || !inHeap(hi - Chunk.HEADER) || ((hi - Chunk.HEADER - start) & (Size.ALIGNMENT - 1)) !== 0 || hi + l.poolMapHighBytes > top))
    bad(H.POOL_MAP_HIGH, `pool map's high part ${hex(hi)} is no chunk payload of ${l.poolMapHighBytes} bytes`);
}
