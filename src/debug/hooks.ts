/**
 * debug/hooks.ts — CPython's debug hooks.
 *
 * Owns: the debug families (wrapping any family below them) and their per-heap state
 * (DebugState), the debug block layout (header with requested size, serial, family id and
 * forbidden bytes; trailing forbidden pad), the fill bytes, the checks on every free/realloc and
 * in check(), the capture of allocation and free stacks (in this file's frames: report.ts's
 * isOwnFrame leaves them out by file), and the walks over debug blocks (walk, leaks).
 * Beside it: the heap below (debug/host.ts), the quarantine of freed blocks
 * (debug/quarantine.ts), the recorded sites (debug/sites.ts), leak reports (debug/leaks.ts).
 * Must not: change the allocators below; release modes never load this file's code paths.
 *
 * Every check runs before anything is written, so a refused call leaves the heap as it was.
 */

import { CLEAN_BYTE, DEAD_BYTE, Debug, FORBIDDEN_BYTE, OWN_TRACE_FRAMES } from "../constants.js";
import { HeapCorruptionError, InvalidPointerError, PymallocError, hex } from "../errors.js";
import { badPointer, badSize, callocBytes, checkAlignment, reallocTooLarge, type AllocatorFamily, type Family } from "../heap/families.js";
import { TypedFamily } from "../heap/typed.js";
import { isSharedView, type Memory } from "../memory/memory.js";
import * as fill from "../memory/fill.js";
import * as bytes from "./bytes.js";
import { BUILTIN_FILL_MIN, fillRange, firstMismatch, isFilled, repeatedDouble, repeatedWord } from "./bytes.js";
import type { DebugHost } from "./host.js";
import { leakReport, siteOf, type LeakedBlock, type LeakReport } from "./leaks.js";
import * as quarantine from "./quarantine.js";
import { MemoryCorruptionError, hexDump, stackText, userStack, type CorruptionKind, type CorruptionReport, type DamagedByte } from "./report.js";
import { SiteLog, type BlockSites } from "./sites.js";
import { spanEnd, spanStart } from "./spans.js";

spanStart(new Error()); // debug/spans.ts

export type OnError = "throw" | "warn" | ((report: CorruptionReport) => void);

export interface DebugOptions {
  /** Frames a JS stack captured at every allocation and free keeps below pymalloc's own (HeapOptions.traceAllocations; 0: no capture). */
  traceFrames: number;
  /** What to do with a report: throw MemoryCorruptionError (default), console.warn it, or call this. */
  onError: OnError;
  /** Freed blocks held back from reuse, at most this many (default 1024; 0 disables). */
  quarantineBlocks: number;
  /** ... and at most this many user bytes (default 1 MiB). */
  quarantineBytes: number;
}

// The byte helpers of the hot paths, bound to module consts: V8 loads an imported binding from
// its module cell and checks it for TDZ at every call (~5 instructions each, 7 calls a block's
// life), where a module-local const is folded into the code. So are the quarantine's.
const fillDoubles = fill.fillDoubles;
const allDoubles = bytes.allDoubles;
const below = bytes.below;
const endIs = bytes.endIs;
const fillEnd = bytes.fillEnd;
const evictOldest = quarantine.evictOldest;
const checkRing = quarantine.checkRing;
const release = quarantine.release;

/**
 * The family byte of a debug header: CPython's api ids ('r', 'm', 'o'). Exported for
 * quarantine.ts, which releases a block by it: a const enum, inlined there (no import at run time).
 */
export const enum Fam {
  RAW = 0x72,
  MEM = 0x6d,
  OBJ = 0x6f,
}
// Family ids and codes map through comparisons, not object lookups: a keyed lookup in a
// Record cost ~100 instructions a call on every malloc and free (cachegrind).
const familyOf = (code: number): string | undefined => (code === Fam.OBJ ? "o" : code === Fam.MEM ? "m" : code === Fam.RAW ? "r" : undefined);
const codeOf = (id: string): number => (id === "o" ? Fam.OBJ : id === "m" ? Fam.MEM : id === "r" ? Fam.RAW : 0);
const MAX_LISTED = 64;
/** The fill bytes repeated, as 32-bit words and as doubles (none a NaN or a zero: they compare bit-exactly). */
const FORBIDDEN_U32 = repeatedWord(FORBIDDEN_BYTE);
const FORBIDDEN_I32 = FORBIDDEN_U32 | 0; // as the bit operators see it
const FORBIDDEN_F64 = repeatedDouble(FORBIDDEN_BYTE);
const CLEAN_I32 = repeatedWord(CLEAN_BYTE) | 0;
const CLEAN_F64 = repeatedDouble(CLEAN_BYTE);
const DEAD_I32 = repeatedWord(DEAD_BYTE) | 0;
const DEAD_F64 = repeatedDouble(DEAD_BYTE);
for (const d of [FORBIDDEN_F64, CLEAN_F64, DEAD_F64]) if (d !== d || d === 0) throw new Error("debug fill bytes must repeat to doubles that are neither NaN nor zero");
// The word-wide header writes and checks (writeHead, leadIntact) rely on this layout: the family
// byte starts an 8-aligned word of the header, and the lead pad fills the rest of it and the next.
if (Debug.FAMILY !== 16 || Debug.LEAD_PAD !== Debug.FAMILY + 1 || Debug.HEADER !== Debug.FAMILY + 16) throw new Error("debug header layout");

/** One family of a debug heap: checks, pads and fills around the family below (typed views: TypedFamily). */
export class DebugFamily extends TypedFamily implements Family {
  readonly id: string;
  readonly below: AllocatorFamily;
  readonly d: DebugState;
  /** The family byte written to this family's block headers. */
  readonly code: number;
  /** The header word that starts with the family byte: the byte, then three forbidden bytes (as an int32). */
  readonly headWord: number;
  constructor(id: string, below: AllocatorFamily, d: DebugState) {
    super();
    this.id = id;
    this.code = codeOf(id);
    this.headWord = (FORBIDDEN_U32 << 8) | this.code;
    this.below = below;
    this.d = d;
  }
  malloc(n: number): number {
    if (typeof n !== "number" || (n >>> 0) !== n) return badSize(n);
    return this.d.alloc(this, n, 0);
  }
  calloc(nelem: number, elsize: number): number {
    const n = callocBytes(nelem, elsize);
    return n < 0 ? 0 : this.d.alloc(this, n, 1);
  }
  realloc(p: number, n: number): number {
    if (typeof n !== "number" || (n >>> 0) !== n) return reallocTooLarge(this, p, n);
    if (p === 0) return this.d.alloc(this, n, 0);
    if (typeof p !== "number" || (p >>> 0) !== p) badPointer("realloc", p);
    return this.d.realloc(this, p, n);
  }
  free(p: number): void {
    if (p === 0) return;
    if (typeof p !== "number" || (p >>> 0) !== p) badPointer("free", p);
    this.d.free(this, p);
  }
  alignedAlloc(alignment: number, n: number): number {
    checkAlignment(alignment);
    if (typeof n !== "number" || (n >>> 0) !== n) return badSize(n);
    return this.d.alloc(this, n, 0, alignment <= this.d.host.alignment ? 0 : alignment);
  }
  /** @internal For the typed views (heap/typed.ts). */
  viewMemory(): Memory {
    return this.d.host.memory;
  }
  /** @internal For the typed views: debug blocks keep the alignment of the blocks below. */
  viewAlignment(): number {
    return this.d.host.alignment;
  }
}

/** A free or realloc from a debug onError function: refused (DebugState.reporting). */
function nestedCall(op: string): never {
  throw new PymallocError(`${op}() from a debug onError handler: the call being reported has not released its block yet (a free of it there would free it twice); make the call after the handler returns`);
}

/** A live (or quarantined) debug block, as read from its header. */
interface BlockInfo {
  base: number;
  size: number;
  usable: number;
}

/** Per-heap debug machinery; state lives in memory, stacks in JS (a diagnostic cache). */
export class DebugState {
  readonly host: DebugHost;
  readonly opts: DebugOptions;
  /** @internal The family below each family, to release a block through the family that allocated it (quarantine.ts). */
  readonly belowR: Family;
  readonly belowM: Family;
  readonly belowO: Family;
  /** @internal Reports gathered while a block is retired (reused: retire() runs on every free). */
  readonly found: CorruptionReport[] = [];
  /** What checkBlock() returns, one record reused: valid until the next checkBlock(). */
  private readonly checked: BlockInfo = { base: 0, size: 0, usable: 0 };
  /** The default report sink of checkBlock(), made once. */
  private readonly raiser = (r: CorruptionReport): void => this.raise(r);
  /** @internal The sites this handle recorded: stacks by serial, the site word (sites.ts). */
  readonly sites: SiteLog;
  /**
   * @internal sites.allocSites and sites.freeSites, held here too: the hot functions keep the
   * bytecode size they had (V8 inlines by size: one more load in alloc() cost the replay loop
   * its inlined heap.u8 getter).
   */
  readonly allocSites: Map<number, Error>;
  readonly freeSites: Map<number, Error>;
  /** sites.siteWord, written to every header: held here, read on every call. */
  private readonly siteWord: number;
  /**
   * @internal 0 without traceAllocations, else the Error.stackTraceLimit of an allocation's
   * capture (opts.traceFrames + OWN_TRACE_FRAMES), read on every call. Flags read on the hot paths are numbers:
   * V8 tests a boolean field or argument as any value (false, "", undetectable, number, bigint:
   * ~10 instructions), a small integer with one compare.
   */
  readonly traced: number;
  /**
   * WASM_TRACE_FRAMES while a wasm import's trampoline calls (compat/wasm-imports.ts), else 0:
   * the frames between C code and the hooks a capture allows for.
   */
  fromWasm = 0;
  /** The C function a module called (free, PyObject_Free...), set with fromWasm (left set by a throw: wasmCall checks the stack). */
  wasmEntry: string | undefined = undefined;
  /** Thread id of this handle, when threads share the heap. */
  readonly threadId: number | undefined;
  private readonly wSerial: number;
  private readonly alignMask: number;
  /**
   * Blocks are 8-byte aligned: the header's pad is written and checked as words, and a block's
   * bytes from p go a double at a time (fillDoubles, allDoubles; fillEnd and endIs for the
   * last bytes of a block below that ends off a multiple of 8).
   */
  private readonly wordPads: number;
  /**
   * Runs of this many bytes or more are filled with the builtin fill(): BUILTIN_FILL_MIN, or
   * never where the memory is shared (fill() is no faster than a loop there, see debug/bytes.ts).
   */
  private readonly fillMin: number;
  /** The quarantine ring's address in the heap's memory, 0 when there is none (quarantine.ts). */
  ring = 0;
  /**
   * The most entries the ring's block holds, as the host sized that block when this handle
   * opened the ring (the block is never freed nor resized while the heap lives); 0 when the host
   * cannot size it. retire() checks the ring's words against it and calls checkRing (which
   * looks the block up) only when they do not fit: the look-up on every free was ~110
   * instructions an event.
   */
  ringCap = 0;
  /**
   * 1 while an onError function runs (raise). A free or realloc from it came before the call it
   * reports had released its block: the block it named went into the quarantine twice (check()
   * then failed for good). With threads the heap's lock refuses such a call; without, this does.
   */
  private reporting = 0;

  constructor(host: DebugHost, opts: DebugOptions, belowOf: Record<string, Family>, threadId?: number) {
    this.host = host;
    this.opts = opts;
    this.belowR = belowOf.r;
    this.belowM = belowOf.m ?? belowOf.r;
    this.belowO = belowOf.o ?? belowOf.r;
    this.threadId = threadId;
    this.traced = opts.traceFrames !== 0 ? opts.traceFrames + OWN_TRACE_FRAMES : 0;
    this.sites = new SiteLog(opts.traceFrames, threadId);
    this.siteWord = this.sites.siteWord;
    this.allocSites = this.sites.allocSites;
    this.freeSites = this.sites.freeSites;
    this.alignMask = host.alignment - 1;
    this.wordPads = host.alignment >= 8 ? 1 : 0;
    const v = host.memory.views;
    this.fillMin = isSharedView(v.u8) ? 0x7fffffff : BUILTIN_FILL_MIN;
    this.u8 = v.u8;
    this.u32 = v.u32;
    this.f64 = v.f64;
    host.memory.onViews((nv) => {
      this.u8 = nv.u8;
      this.u32 = nv.u32;
      this.f64 = nv.f64;
    });
    this.wSerial = host.serialWord;
    this.ring = quarantine.openQuarantine(this);
    this.ringCap = quarantine.ringCapacity(this);
  }

  /** @internal The memory's views, replaced when it grows (read by quarantine.ts too). */
  u8: Uint8Array;
  u32: Uint32Array;
  f64: Float64Array;

  // -------------------------------------------------------------------------------------------
  // Allocation
  // -------------------------------------------------------------------------------------------

  /**
   * A block of n bytes for `fam`: user bytes 0xCD, or zero when `zero` is 1 (calloc); its user
   * bytes aligned to `align` when that is not 0 (alignedAlloc: a chunk aligned past the header).
   */
  alloc(fam: DebugFamily, n: number, zero: number, align = 0): number {
    // Stored words go through "| 0": V8 then stores an int32 as it is, where a value it types as
    // any number is converted through a double (4-8 instructions a store). The first compare
    // keeps n a small integer on the common path for the same reason.
    if (n > 0x7fffffff && n > 0xffffffff - Debug.HEADER - Debug.MIN_TAIL) return 0;
    let base =
      align === 0 ? fam.below.malloc(n + Debug.HEADER + Debug.MIN_TAIL) : fam.below.a.mallocAligned(n + Debug.HEADER + Debug.MIN_TAIL, align, Debug.HEADER);
    if (base === 0) {
      // Out of memory while freed blocks wait in quarantine: they are given back (each checked
      // first) and the request tried once more, so that the debug modes fail no allocation the
      // release modes would serve (NULL only when the heap is truly full).
      if (this.ring === 0 || this.u32[(this.ring + Debug.Q_COUNT) >>> 2] === 0) return 0;
      this.drainQuarantine();
      base = align === 0 ? fam.below.malloc(n + Debug.HEADER + Debug.MIN_TAIL) : fam.below.a.mallocAligned(n + Debug.HEADER + Debug.MIN_TAIL, align, Debug.HEADER);
      if (base === 0) return 0;
    }
    const usable = this.host.obtained(base, n + Debug.HEADER + Debug.MIN_TAIL);
    const u8 = this.u8;
    const u32 = this.u32;
    const serial = (u32[this.wSerial] = (u32[this.wSerial] + 1) >>> 0);
    const p = base + Debug.HEADER;
    u32[(base + Debug.SIZE) >>> 2] = n | 0;
    u32[(base + Debug.SERIAL) >>> 2] = serial;
    u32[(base + Debug.ALLOC_SITE) >>> 2] = this.siteWord | 0;
    u32[(base + Debug.FREE_SITE) >>> 2] = n ^ Debug.SIZE_CHECK;
    this.writeHead(base, fam);
    if (this.wordPads !== 0) this.paint(p, p + n, base + usable, zero);
    else {
      fillRange(u8, u32, this.f64, p, p + n, zero !== 0 ? 0 : CLEAN_BYTE);
      fillRange(u8, u32, this.f64, p + n, base + usable, FORBIDDEN_BYTE);
    }
    if (this.traced !== 0) {
      // Written out, not a helper: a helper's frame would take one of the frames kept.
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = this.traced + this.fromWasm;
      this.allocSites.set(serial, new Error("allocated here"));
      Error.stackTraceLimit = limit;
    }
    return p;
  }

  free(fam: DebugFamily, p: number): void {
    if (this.reporting !== 0) nestedCall("free");
    const usable = this.sound(fam, p);
    if (usable !== 0) {
      this.retire(p - Debug.HEADER, usable);
      return;
    }
    const b = this.checkBlock(fam.id, p, "free");
    if (b === null) return; // reported and not ours to free
    this.retire(b.base, b.usable);
  }

  realloc(fam: DebugFamily, p: number, n: number): number {
    if (this.reporting !== 0) nestedCall("realloc");
    let usable = this.sound(fam, p);
    if (usable === 0) {
      const b = this.checkBlock(fam.id, p, "realloc");
      if (b === null) return 0;
      usable = b.usable;
    }
    const base = p - Debug.HEADER;
    const size = this.u32[(base + Debug.SIZE) >>> 2];
    // Always move: a stale pointer to the old block then reads 0xDD and is caught in quarantine.
    // The ring is checked (and a slot made) first: a damaged ring refuses the call before q is
    // taken, p live and as it was (it refused after q's copy, p painted 0xDD and marked freed).
    if (this.ring !== 0) this.roomInRing(size);
    const q = this.alloc(fam, n, 0);
    if (q === 0) {
      if (this.found.length !== 0) this.raiseAll(this.found); // the eviction's, as retire() raises them
      return 0;
    }
    this.u8.copyWithin(q, p, p + Math.min(n, size));
    // retire() checks the ring again (a few loads, the room made above): its body split out for
    // realloc cost debug mode's every free 20-25 instructions an event (compileall-head 1596 ->
    // 1616-1621, session 51).
    this.retire(base, usable);
    return q;
  }

  /**
   * The common case of free and realloc, checked without a report's machinery: p is a live debug
   * block of `fam`, both pads intact. Returns the usable bytes of the block below, or 0 when
   * anything is amiss (or the pads are not word-wide): checkBlock() then finds and reports it.
   */
  private sound(fam: DebugFamily, p: number): number {
    const base = p - Debug.HEADER;
    if (this.wordPads === 0 || (p & this.alignMask) !== 0 || base < 0) return 0;
    const usable = this.host.liveUsable(base);
    if (usable === 0) return 0;
    const u32 = this.u32;
    // The family byte and the lead pad: the head word, then the pad's word and double (see writeHead).
    if ((u32[(base + Debug.FAMILY) >>> 2] | 0) !== fam.headWord || !this.leadRestIntact(base)) return 0;
    const size = u32[(base + Debug.SIZE) >>> 2];
    if (size + Debug.HEADER + Debug.MIN_TAIL > usable || !this.sizeChecked(base, size) || !this.tailIntact(p + size, base + usable)) return 0;
    return usable;
  }

  /**
   * Mark a checked block freed, fill it with 0xDD and put it in quarantine (or release it:
   * quarantine.ts). The fill covers the trailing pad too, as CPython's does: in quarantine the
   * block from p to its pad's end must read 0xDD.
   */
  private retire(base: number, usable: number): void {
    // The ring's words and its oldest entry are checked (and that entry evicted when the ring is
    // full) before the block is marked or filled: a refusal leaves the block live, as it was.
    if (this.ring !== 0) this.roomInRing(this.u32[(base + Debug.SIZE) >>> 2]);
    const u8 = this.u8;
    const p = base + Debug.HEADER;
    const end = base + usable;
    const code = u8[base + Debug.FAMILY];
    u8[base + Debug.FAMILY] = code | Debug.FREED_BIT;
    this.u32[(base + Debug.FREE_SITE) >>> 2] = this.siteWord | 0;
    // The free site is for reports on a quarantined block; one released at once can have none
    // (a third of a traced malloc/free pair's time went to this capture without quarantine).
    if (this.traced !== 0 && this.ring !== 0) {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = this.traced + 1 + this.fromWasm; // retire is one frame deeper than alloc
      this.freeSites.set(this.u32[(base + Debug.SERIAL) >>> 2], new Error("freed here"));
      Error.stackTraceLimit = limit;
    }
    if (this.wordPads === 0) fillRange(u8, this.u32, this.f64, p, end, DEAD_BYTE);
    else if (end - p >= this.fillMin) u8.fill(DEAD_BYTE, p, end);
    else {
      fillDoubles(this.f64, p >>> 3, end >>> 3, DEAD_F64);
      if ((end & 7) !== 0) fillEnd(u8, this.u32, end, DEAD_BYTE, DEAD_I32);
    }
    if (this.ring === 0) {
      release(this, base, code);
      return;
    }
    // The block's ring entry, written here (see quarantine.ts's header for why not there).
    const u32 = this.u32;
    const r = this.ring;
    const found = this.found;
    const cap = u32[(r + Debug.Q_CAPACITY) >>> 2];
    const count = u32[(r + Debug.Q_COUNT) >>> 2];
    // Ring positions wrap by a compare: V8's remainder by a variable costs far more.
    let slot = u32[(r + Debug.Q_HEAD) >>> 2] + count;
    if (slot >= cap) slot -= cap;
    const e = r + Debug.Q_ENTRIES + Debug.Q_ENTRY * slot;
    u32[e >>> 2] = base;
    u32[(e + Debug.Q_ENTRY_USABLE) >>> 2] = usable;
    u32[(e + Debug.Q_ENTRY_CHECK) >>> 2] = base ^ usable ^ u32[(base + Debug.SERIAL) >>> 2] ^ Debug.Q_ENTRY_KEY; // entryCheck (quarantine.ts)
    u32[(r + Debug.Q_COUNT) >>> 2] = count + 1;
    u32[(r + Debug.Q_BYTES) >>> 2] += u32[(base + Debug.SIZE) >>> 2];
    while (u32[(r + Debug.Q_COUNT) >>> 2] > 0 && u32[(r + Debug.Q_BYTES) >>> 2] > u32[(r + Debug.Q_MAX_BYTES) >>> 2]) evictOldest(this, found);
    if (found.length !== 0) this.raiseAll(found);
  }

  /**
   * The ring's words are in the heap's memory, where a stray write can reach them: checked
   * (checkRing) before a block of `size` requested bytes enters the ring, and the oldest entries
   * evicted (verified) when the ring is full or would hold more than its bytes. Its reports wait
   * in `found` until retire() has put the block in the ring.
   */
  private roomInRing(size: number): void {
    const u32 = this.u32;
    const r = this.ring;
    const cap = u32[(r + Debug.Q_CAPACITY) >>> 2];
    const count = u32[(r + Debug.Q_COUNT) >>> 2];
    if (cap > this.ringCap || u32[(r + Debug.Q_HEAD) >>> 2] >= cap || count > cap) checkRing(this);
    if (count === cap) evictOldest(this, this.found);
    // And the blocks the byte limit lets go once this one is in: retire's loop after the entry
    // then lets go only this block (one over the limit alone), whose entry it has just written.
    while (u32[(r + Debug.Q_COUNT) >>> 2] > 0 && u32[(r + Debug.Q_BYTES) >>> 2] + size > u32[(r + Debug.Q_MAX_BYTES) >>> 2]) evictOldest(this, this.found);
  }

  /** Raise reports gathered in `list` (a reused array), emptied first: raise() may throw. */
  private raiseAll(list: CorruptionReport[]): void {
    const reports = list.splice(0);
    for (const rep of reports) this.raise(rep);
  }

  /** Empty the quarantine (each block verified, then released). */
  drainQuarantine(): void {
    quarantine.drainQuarantine(this);
  }

  // -------------------------------------------------------------------------------------------
  // Checks
  // -------------------------------------------------------------------------------------------

  /** Whether a live block's size word `size` agrees with its check copy (Debug.FREE_SITE, written by alloc). */
  private sizeChecked(base: number, size: number): boolean {
    return (this.u32[(base + Debug.FREE_SITE) >>> 2] ^ size) === Debug.SIZE_CHECK;
  }

  /**
   * Write the family byte and the lead pad: three word stores where blocks are 8-byte aligned
   * (calls to the byte loops cost ~100 instructions each, and this runs on every block).
   */
  private writeHead(base: number, fam: DebugFamily): void {
    if (this.wordPads !== 0) {
      this.u32[(base + Debug.FAMILY) >>> 2] = fam.headWord | 0;
      this.u32[(base + Debug.FAMILY + 4) >>> 2] = FORBIDDEN_U32;
      this.f64[(base + Debug.FAMILY + 8) >>> 3] = FORBIDDEN_F64;
    } else this.writeHeadBytes(base, fam);
  }

  /** writeHead where blocks are not 8-byte aligned (out of line: V8 counts an inlined callee's bytecode against the caller's budget). */
  private writeHeadBytes(base: number, fam: DebugFamily): void {
    this.u8[base + Debug.FAMILY] = fam.code;
    fillRange(this.u8, this.u32, this.f64, base + Debug.LEAD_PAD, base + Debug.HEADER, FORBIDDEN_BYTE);
  }

  /**
   * wordPads: the user bytes [p, mid) get 0xCD (0 for calloc), the trailing pad [mid, end) 0xFD.
   * p is a multiple of 8: doubles, two masked words around mid, doubles (end: mid + 8 or more).
   */
  private paint(p: number, mid: number, end: number, zero: number): void {
    const k = mid & 7;
    const m8 = mid - k;
    const body = zero !== 0 ? 0 : CLEAN_I32;
    if (m8 - p >= this.fillMin) this.u8.fill(zero !== 0 ? 0 : CLEAN_BYTE, p, m8);
    else fillDoubles(this.f64, p >>> 3, m8 >>> 3, zero !== 0 ? 0 : CLEAN_F64);
    const u32 = this.u32;
    const w = m8 >>> 2;
    if (k < 4) {
      const keep = below(k);
      u32[w] = (body & keep) | (FORBIDDEN_I32 & ~keep);
      u32[w + 1] = FORBIDDEN_I32;
    } else {
      const keep = below(k - 4);
      u32[w] = body;
      u32[w + 1] = (body & keep) | (FORBIDDEN_I32 & ~keep);
    }
    fillDoubles(this.f64, (m8 >>> 3) + 1, end >>> 3, FORBIDDEN_F64);
    if ((end & 7) !== 0) fillEnd(this.u8, u32, end, FORBIDDEN_BYTE, FORBIDDEN_I32);
  }

  /** Whether the trailing pad [mid, end) reads all 0xFD (wordPads; mid + 8 <= end). */
  private tailIntact(mid: number, end: number): boolean {
    const k = mid & 7;
    const m8 = mid - k;
    const w = m8 >>> 2;
    let lo = this.u32[w] ^ FORBIDDEN_I32;
    let hi = this.u32[w + 1] ^ FORBIDDEN_I32;
    if (k < 4) lo &= ~below(k);
    else {
      lo = 0;
      hi &= ~below(k - 4);
    }
    // "=== true": endIs() is not inlined, so V8 would test its result as any value (~10 instructions).
    return (lo | hi) === 0 && allDoubles(this.f64, (m8 >>> 3) + 1, end >>> 3, FORBIDDEN_F64) && ((end & 7) === 0 || endIs(this.u8, this.u32, end, FORBIDDEN_BYTE, FORBIDDEN_I32) === true);
  }

  /** Whether the lead pad reads all forbidden bytes (the family byte's word masked). */
  private leadIntact(base: number): boolean {
    if (this.wordPads !== 0) return this.u32[(base + Debug.FAMILY) >>> 2] >>> 8 === FORBIDDEN_U32 >>> 8 && this.leadRestIntact(base);
    return isFilled(this.u8, this.u32, this.f64, base + Debug.LEAD_PAD, base + Debug.HEADER, FORBIDDEN_BYTE);
  }

  /** wordPads: the lead pad past the family byte's word (a word and a double) reads all forbidden bytes. */
  private leadRestIntact(base: number): boolean {
    return this.u32[(base + Debug.FAMILY + 4) >>> 2] === FORBIDDEN_U32 && this.f64[(base + Debug.FAMILY + 8) >>> 3] === FORBIDDEN_F64;
  }

  /** Bytes in [from, to) that are not `expected`, as offsets from p. */
  private damaged(from: number, to: number, expected: number, p: number, out: DamagedByte[]): number {
    const u8 = this.u8;
    const first = firstMismatch(u8, from, to, expected);
    if (first < 0) return 0;
    let n = 0;
    for (let k = first; k < to; k++) {
      if (u8[k] !== expected) {
        if (out.length < MAX_LISTED) out.push({ offset: k - p, value: u8[k], expected });
        n++;
      }
    }
    return n;
  }

  private dumps(base: number, size: number, usable: number): { head: string; tail: string } {
    const p = base + Debug.HEADER;
    const u8 = this.u8;
    const end = Math.min(base + usable, p + size + 16);
    return {
      head: hexDump(u8, base, Math.min(p + 16, base + usable), p),
      tail: hexDump(u8, Math.max(p, p + size - 16), end, p),
    };
  }

  /** The sites of the block at base, from its header's site words (sites.ts). */
  private sitesOf(serial: number, base: number): BlockSites {
    const freed = (this.u8[base + Debug.FAMILY] & Debug.FREED_BIT) !== 0; // a live block's FREE_SITE holds its size's check
    return this.sites.sitesOf(serial, this.u32[(base + Debug.ALLOC_SITE) >>> 2], freed ? this.u32[(base + Debug.FREE_SITE) >>> 2] : 0);
  }

  /** A report; with `base` and `serial`, the traced sites are added (formatting stacks is costly). */
  private report(kind: CorruptionKind, op: string, p: number, detail: string, extra: Partial<CorruptionReport> & { base?: number } = {}): CorruptionReport {
    const { base, ...rest } = extra;
    const s = base !== undefined && rest.serial !== undefined ? this.sitesOf(rest.serial, base) : undefined;
    // allocatedAt and freedAt from the user's first frame, as the message shows them (they were the stacks as captured).
    const sites = s === undefined ? {} : { allocatedAt: userStack(s.allocatedStack), freedAt: userStack(s.freedStack), ...s };
    return { kind, operation: op, address: p, damaged: [], damagedCount: 0, detail, ...rest, ...sites, ...(rest.usedBy !== undefined ? this.wasmCall() : {}) };
  }

  /** For a call from WebAssembly: its C function and the stack from the wasm function that called it (its first frame past pymalloc's). */
  private wasmCall(): Partial<CorruptionReport> {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 40;
    const at = this.fromWasm === 0 ? undefined : userStack(stackText(new Error()));
    Error.stackTraceLimit = limit;
    return at !== undefined && /^at .*wasm:\/\//.test(at) ? { entry: this.wasmEntry, calledAt: at } : {};
  }

  /**
   * Threads (threads/locked.ts): reports for an onError function made while the heap's lock is
   * held wait here, and the function gets them once it is let go: a handler that ran long under
   * the lock (a breakpoint in it) made the other threads take this one for dead (a misuse hunt's
   * F14). null: not holding (heaps without threads, or outside a locked call).
   */
  private held: CorruptionReport[] | null = null;

  holdReports(): void {
    if (this.held === null) this.held = [];
  }

  releaseReports(): void {
    const q = this.held;
    this.held = null;
    if (q === null || q.length === 0) return;
    for (const r of q) this.hand(r);
  }

  /** Give an onError function report r: a free or realloc from it is refused, a report it makes thrown to it. */
  private hand(r: CorruptionReport): void {
    this.reporting = 1;
    try {
      (this.opts.onError as (r: CorruptionReport) => void)(r);
    } finally {
      this.reporting = 0;
    }
  }

  /** Apply the onError policy. */
  raise(r: CorruptionReport): void {
    const on = this.opts.onError;
    // A report made while the handler runs (its check(), walk() or leaks() met damage, the block
    // being reported among it) is thrown to the handler, not handed to it again: handed, a
    // handler that calls check() recursed until the stack overflowed (a misuse hunt's F08).
    if (on === "throw" || this.reporting !== 0) throw new MemoryCorruptionError(r);
    if (on !== "warn" && this.held !== null) {
      this.held.push(r); // threads: handed to the function once the heap's lock is let go
      return;
    }
    if (on === "warn") console.warn(`pymalloc: ${new MemoryCorruptionError(r).message}`);
    else this.hand(r);
  }

  /**
   * Check that p is a live debug block of this heap, released through the family that allocated
   * it, with both pads intact. Returns its header (a record reused by the next call), or null when it was reported and must not be
   * touched (invalid pointer, double free). Mismatch, underflow and overflow are reported, then
   * the caller goes on (when onError does not throw).
   */
  checkBlock(famId: string, p: number, op: string, sink: (r: CorruptionReport) => void = this.raiser): BlockInfo | null {
    const base = p - Debug.HEADER;
    if ((p & this.alignMask) !== 0 || base < 0) {
      sink(this.invalidReport(op, p, famId, `the address is not ${this.host.alignment}-byte aligned, or lies before the heap: it cannot be a block`, {}));
      return null;
    }
    let usable: number;
    try {
      usable = this.host.usableSize(base);
    } catch (e) {
      if (!(e instanceof InvalidPointerError)) throw e;
      const freed = e.reason === "double-free";
      sink(
        freed
          ? this.report("double-free", op, p, "the block was freed earlier and has already left the quarantine", { usedBy: famId })
          : this.invalidReport(op, p, famId, `no debug block's header ${Debug.HEADER} bytes before it: ${e.message.replace(/^\w+\([^)]*\): /, "")}`, {}),
      );
      return null;
    }
    const u8 = this.u8;
    const u32 = this.u32;
    const code = u8[base + Debug.FAMILY];
    const size = u32[(base + Debug.SIZE) >>> 2];
    const serial = u32[(base + Debug.SERIAL) >>> 2];
    const family = familyOf(code & ~Debug.FREED_BIT);
    // Lists of damaged bytes and report details are made only when there is damage: this runs
    // on every free, and allocates nothing then.
    const leadBad: DamagedByte[] | null = this.leadIntact(base) ? null : [];
    const leadCount = leadBad === null ? 0 : this.damaged(base + Debug.LEAD_PAD, p, FORBIDDEN_BYTE, p, leadBad);
    // Every block was made with at least MIN_TAIL pad bytes: a size that leaves fewer is no size of ours.
    // A live block's size has a check copy (Debug.FREE_SITE): a size word changed to another that fits read as a block of that size.
    const sizeOk = size + Debug.HEADER + Debug.MIN_TAIL <= usable && ((code & Debug.FREED_BIT) !== 0 || this.sizeChecked(base, size));
    if (family === undefined || !sizeOk) {
      // No sane header: either the pointer is not a block start, or the header was overwritten.
      // A host that knows every block (pymalloc's: usableSize() above found a live block at
      // base, and every block of a debug heap is a debug block) says p is a block start: then
      // the header was written over (a size word too large for the block, a family byte none
      // of the three), an underflow, even with the lead pad intact (a 4-byte write 32 bytes
      // below the block). A foreign allocator's usableSize may answer for any address.
      const kind: CorruptionKind = leadCount > 0 || this.host.sizesEveryBlock ? "underflow" : "invalid-pointer";
      const extra = { usedBy: famId, damaged: leadBad ?? [], damagedCount: leadCount, ...this.dumps(base, 0, usable) };
      const what =
        family === undefined
          ? `its family byte (0x${code.toString(16).padStart(2, "0")}) is none of the three`
          : size + Debug.HEADER + Debug.MIN_TAIL > usable
            ? `its size word (${size}) is more than the ${usable}-byte block below can hold with the header and pads`
            : `its size word (${size}) disagrees with its check copy (${(u32[(base + Debug.FREE_SITE) >>> 2] ^ Debug.SIZE_CHECK) >>> 0})`;
      sink(
        kind === "underflow"
          ? this.report(kind, op, p, leadCount > 0 ? "the block's header itself was overwritten from below" : `the block's debug header was overwritten: ${what} (a write before the block's start, or through a stale pointer)`, extra)
          : this.invalidReport(op, p, famId, "no debug header here: a pointer into a block, or never allocated by this heap", extra),
      );
      return null;
    }
    if ((code & Debug.FREED_BIT) !== 0) {
      sink(
        this.report(op === "free" ? "double-free" : "use-after-free", op, p, op === "free" ? "the block is in quarantine: it was freed before" : `${op} of a block that was already freed (it waits in the quarantine)`, {
          ...this.details(famId, family, size, serial, base),
          ...this.dumps(base, size, usable),
        }),
      );
      return null;
    }
    if (famId !== "?" && family !== famId) {
      sink(this.report("api-mismatch", op, p, `allocated through ${family}, released through ${famId}`, { ...this.details(famId, family, size, serial, base), ...this.dumps(base, size, usable) }));
    }
    // A block released (free, realloc) after its report, when onError did not throw: its pads
    // painted again, so that the same damage is not reported a second time, as a use after
    // free, when the block leaves the quarantine (check() and usableSize leave them as found).
    const released = op === "free" || op === "realloc";
    if (leadBad !== null) {
      sink(this.report("underflow", op, p, "forbidden bytes before the block were overwritten", { ...this.details(famId, family, size, serial, base), damaged: leadBad, damagedCount: leadCount, ...this.dumps(base, size, usable) }));
      if (released) u8.fill(FORBIDDEN_BYTE, base + Debug.LEAD_PAD, p);
    }
    const end = base + usable;
    if (!(this.wordPads !== 0 ? this.tailIntact(p + size, end) : isFilled(u8, this.u32, this.f64, p + size, end, FORBIDDEN_BYTE))) {
      const tailBad: DamagedByte[] = [];
      const tailCount = this.damaged(p + size, end, FORBIDDEN_BYTE, p, tailBad);
      // The pad's last byte written too: the write may have gone on into the memory after the
      // block (the next block's, which check() then reports as its own damage: a free block's
      // tag "written after it was freed").
      const past = u8[end - 1] !== FORBIDDEN_BYTE ? `, up to the pad's last byte: the write may have run on past the block's end (${hex(end)}), into the next block` : "";
      sink(this.report("overflow", op, p, `forbidden bytes after the ${size} requested bytes were overwritten${past}`, { ...this.details(famId, family, size, serial, base), damaged: tailBad, damagedCount: tailCount, ...this.dumps(base, size, usable) }));
      if (released) u8.fill(FORBIDDEN_BYTE, p + size, end);
    }
    const b = this.checked; // one record, reused: valid until the next checkBlock()
    b.base = base;
    b.size = size;
    b.usable = usable;
    return b;
  }

  /**
   * An invalid pointer's report. When p lies in a debug block (its header, requested bytes or
   * pad: found by a walk of every block, an error path's, which a damaged heap ends), the detail
   * says where in it, in the user's terms, and the report carries that block's family, size,
   * serial and sites; else `fallback`.
   */
  private invalidReport(op: string, p: number, famId: string, fallback: string, extra: Partial<CorruptionReport>): CorruptionReport {
    let base = -1;
    try {
      this.host.forEachBlock((b) => {
        if (base < 0 && p >= b && p < b + this.host.liveUsable(b)) base = b;
      });
    } catch {
      base = -1;
    }
    const family = base < 0 ? undefined : familyOf(this.u8[base + Debug.FAMILY] & ~Debug.FREED_BIT);
    if (family === undefined) return this.report("invalid-pointer", op, p, fallback, { usedBy: famId, ...extra });
    const start = base + Debug.HEADER;
    const size = this.u32[(base + Debug.SIZE) >>> 2];
    const which = (this.u8[base + Debug.FAMILY] & Debug.FREED_BIT) !== 0 ? "freed (quarantined)" : "live";
    const where =
      p < start ? `${start - p} bytes before the start of` : p < start + size ? `${p - start} bytes into` : `${p - start - size} bytes past the end of the ${size} requested bytes of`;
    const detail = `${hex(p)} is ${where} the ${which} ${size}-byte block at ${hex(start)}, not a block start (the block's details and sites here are that block's)`;
    return this.report("invalid-pointer", op, p, detail, { ...extra, ...this.details(famId, family, size, this.u32[(base + Debug.SERIAL) >>> 2], base) });
  }

  /** What a report says of a block whose header is sane. */
  private details(usedBy: string, allocatedBy: string, requestedSize: number, serial: number, base: number): Partial<CorruptionReport> & { base: number } {
    return { usedBy, allocatedBy, requestedSize, serial, base };
  }

  /**
   * @internal A quarantined block must still read 0xDD up to its pad's end (base + usable, the block
   * below's usable bytes), lead pad intact. Returns a report or null (quarantine.ts calls it on eviction).
   */
  verifyQuarantined(base: number, usable: number, op: string): CorruptionReport | null {
    const u8 = this.u8;
    const u32 = this.u32;
    const p = base + Debug.HEADER;
    const end = base + usable;
    const dead = this.wordPads !== 0
      ? allDoubles(this.f64, p >>> 3, end >>> 3, DEAD_F64) && ((end & 7) === 0 || endIs(u8, u32, end, DEAD_BYTE, DEAD_I32) === true)
      : isFilled(u8, u32, this.f64, p, end, DEAD_BYTE);
    if (dead && this.leadIntact(base)) return null;
    return this.quarantineDamage(base, usable, op);
  }

  /** verifyQuarantined's report, out of line (see writeHeadBytes). */
  private quarantineDamage(base: number, usable: number, op: string): CorruptionReport | null {
    const u8 = this.u8;
    const u32 = this.u32;
    const p = base + Debug.HEADER;
    const end = base + usable;
    const bad: DamagedByte[] = [];
    let n = this.damaged(base + Debug.LEAD_PAD, p, FORBIDDEN_BYTE, p, bad);
    n += this.damaged(p, end, DEAD_BYTE, p, bad);
    if (n === 0) return null;
    const size = u32[(base + Debug.SIZE) >>> 2];
    const serial = u32[(base + Debug.SERIAL) >>> 2];
    return this.report("use-after-free", op, p, "the block was written to after it was freed", {
      allocatedBy: familyOf(u8[base + Debug.FAMILY] & ~Debug.FREED_BIT),
      requestedSize: size,
      serial,
      damaged: bad,
      damagedCount: n,
      ...this.dumps(base, size, usable),
      base,
    });
  }

  /** Every debug block: pads of live ones, 0xDD of quarantined ones (for heap.check()). */
  checkAll(): void {
    if (this.ring !== 0) checkRing(this); // the ring's block too (retire() trusts its size)
    const found: CorruptionReport[] = [];
    const u8 = this.u8;
    this.forEachDebugBlock((base, quarantined) => {
      if (quarantined) {
        const rep = this.verifyQuarantined(base, this.host.usableTrusted(base), "check");
        if (rep) found.push(rep);
      } else {
        this.checkBlock(familyOf(u8[base + Debug.FAMILY]) ?? "?", base + Debug.HEADER, "check", (r) => found.push(r));
      }
    });
    for (const rep of found) this.raise(rep);
  }

  private forEachDebugBlock(fn: (base: number, quarantined: boolean) => void): void {
    const u8 = this.u8;
    this.host.forEachBlock((base) => fn(base, (u8[base + Debug.FAMILY] & Debug.FREED_BIT) !== 0));
  }

  /**
   * A live debug block whose header walk() and leaks() can quote: a family byte of the three and
   * a size word its block below holds with the header and pads. Else its damage is reported as
   * check() reports it (an underflow: the header written over) and the block is left out (its
   * size word changed read as a 4 GiB block in walk() and leaks(), 2026-12-06).
   */
  private quotable(base: number): boolean {
    const size = this.u32[(base + Debug.SIZE) >>> 2];
    if (familyOf(this.u8[base + Debug.FAMILY]) !== undefined && size + Debug.HEADER + Debug.MIN_TAIL <= this.host.liveUsable(base) && this.sizeChecked(base, size)) return true;
    this.checkBlock("?", base + Debug.HEADER, "walk", (r) => this.raise(r));
    return false;
  }

  /**
   * After a walk that met `freed` blocks marked freed (the first at `first`): the quarantine ring
   * holds as many, or a live block's family byte written over (the freed bit set) left it out of
   * walk() and leaks(). check() names the same.
   */
  private freedCounted(freed: number, first: number): void {
    const count = this.ring === 0 ? 0 : this.u32[(this.ring + Debug.Q_COUNT) >>> 2];
    if (count === freed) return;
    if (this.ring === 0) throw new HeapCorruptionError(first + Debug.FAMILY, `block ${hex(first + Debug.HEADER)} is marked freed, but this heap quarantines no block (a write over its debug header?)`, "Debug.FAMILY");
    throw new HeapCorruptionError(this.ring + Debug.Q_COUNT, `quarantine counts ${count} blocks, ${freed} blocks are marked freed (a write over a live block's debug header?)`, "Debug.Q_COUNT");
  }

  /** Visit live (not quarantined) debug blocks as the user sees them. */
  walk(fn: (b: { address: number; size: number; family: string; sizeClass: number; serial: number }) => void): void {
    const u32 = this.u32;
    const u8 = this.u8;
    let freed = 0;
    let first = 0;
    this.host.forEachBlock((base, sizeClass) => {
      if ((u8[base + Debug.FAMILY] & Debug.FREED_BIT) !== 0) {
        if (freed++ === 0) first = base;
        return;
      }
      if (!this.quotable(base)) return;
      fn({
        address: base + Debug.HEADER,
        size: u32[(base + Debug.SIZE) >>> 2],
        family: familyOf(u8[base + Debug.FAMILY]) ?? "?",
        sizeClass,
        serial: u32[(base + Debug.SERIAL) >>> 2],
      });
    });
    this.freedCounted(freed, first);
  }

  /** Live blocks grouped by allocation site (like a tracemalloc snapshot's statistics). */
  leaks(): LeakReport {
    const u32 = this.u32;
    const u8 = this.u8;
    const blocks: LeakedBlock[] = [];
    let freed = 0;
    let first = 0;
    this.forEachDebugBlock((base, quarantined) => {
      if (quarantined && freed++ === 0) first = base;
      if (quarantined || !this.quotable(base)) return;
      const serial = u32[(base + Debug.SERIAL) >>> 2];
      const stack = this.sitesOf(serial, base).allocatedStack;
      blocks.push({
        address: base + Debug.HEADER,
        size: u32[(base + Debug.SIZE) >>> 2],
        family: familyOf(u8[base + Debug.FAMILY]) ?? "?",
        serial,
        site: siteOf(stack),
      });
    });
    this.freedCounted(freed, first);
    return leakReport(blocks);
  }

  /** Requested size of the live debug block p (checked). */
  usableSize(p: number): number {
    const b = this.checkBlock("?", p, "usableSize");
    if (b === null) throw new InvalidPointerError("usableSize", p, "not-a-block", "not a live block");
    return b.size;
  }
}

spanEnd(new Error());
