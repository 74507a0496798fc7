/**
 * debug/quarantine.ts — the quarantine: freed debug blocks held back from reuse (CPython has none).
 *
 * Owns: the ring of freed blocks in the heap's memory (a raw block whose address is the host's
 * ring word; its layout is Debug.Q_* in constants.ts), made with its limits (quarantineBlocks,
 * quarantineBytes); evicting the oldest block (verified first), draining, and releasing a block
 * to the family below that allocated it. Functions over the handle's DebugState, which holds
 * the views and the ring's address.
 * Blocks enter the ring in DebugState.retire (debug/hooks.ts), which marks, fills and records a
 * freed block and then writes its ring entry itself: V8 inlines a function by its bytecode size,
 * and with the entry written here retire became small enough to be inlined into every free,
 * crowding out the pad checks (+3.5% instructions an event in "debug", +5% in "malloc_debug").
 * Must not: fill or check a block's bytes, nor capture stacks: the hooks do, in their own frames
 * (report.ts's isOwnFrame leaves those out by file; verifyQuarantined() checks a leaving block).
 */

import { DEFAULT_QUARANTINE_BLOCKS, Debug, FORBIDDEN_BYTE } from "../constants.js";
import { HeapCorruptionError, hex } from "../errors.js";
import type { CorruptionReport } from "./report.js";
import { Fam, type DebugOptions, type DebugState } from "./hooks.js";
import { isFilled } from "./bytes.js";

/**
 * The heap's quarantine ring: the one already in its memory (another handle made it), or a new
 * one for opts.quarantineBlocks blocks; 0 when there is none (quarantineBlocks 0).
 */
export function openQuarantine(d: DebugState): number {
  const host = d.host;
  const opts = d.opts;
  const hq = host.ringWord;
  let ring = d.u32[hq];
  if (ring === 0 && opts.quarantineBlocks > 0) {
    const bytes = Debug.Q_ENTRIES + Debug.Q_ENTRY * opts.quarantineBlocks;
    ring = host.allocState(bytes);
    // Which option, and how much it asked ("memory too small for the debug quarantine" named neither).
    if (ring === 0)
      throw new RangeError(`quarantineBlocks ${opts.quarantineBlocks}: the debug quarantine's ring of ${bytes} bytes (${Debug.Q_ENTRY} a block) does not fit in the heap's memory (see maxBytes); ask for fewer blocks (default ${DEFAULT_QUARANTINE_BLOCKS}) or 0 for none`);
    const u32 = d.u32;
    u32[(ring + Debug.Q_CAPACITY) >>> 2] = opts.quarantineBlocks;
    u32[(ring + Debug.Q_HEAD) >>> 2] = 0;
    u32[(ring + Debug.Q_COUNT) >>> 2] = 0;
    u32[(ring + Debug.Q_BYTES) >>> 2] = 0;
    u32[(ring + Debug.Q_MAX_BYTES) >>> 2] = opts.quarantineBytes;
    u32[hq] = ring;
  }
  return ring;
}

/**
 * The most entries the ring's block holds (DebugState.ringCap), from the host's size of the
 * block: 0 when there is no ring or the host cannot size it (every free then runs checkRing).
 */
export function ringCapacity(d: DebugState): number {
  if (d.ring === 0) return 0;
  const room = d.host.liveUsable(d.ring);
  return room < Debug.Q_ENTRIES ? 0 : Math.floor((room - Debug.Q_ENTRIES) / Debug.Q_ENTRY);
}

/**
 * The check word of the ring entry of the freed block at base (Debug.Q_ENTRY_CHECK, unsigned):
 * its base, usable bytes and serial with Debug.Q_ENTRY_KEY. retire() (debug/hooks.ts) and
 * evictOldest() write and test it inline.
 */
export function entryCheck(u32: Uint32Array, base: number, usable: number): number {
  return (base ^ usable ^ u32[(base + Debug.SERIAL) >>> 2] ^ Debug.Q_ENTRY_KEY) >>> 0;
}

/** Give a block back to the family below that allocated it (`code`: its family byte). */
export function release(d: DebugState, base: number, code: number): void {
  if (d.traced !== 0) {
    const serial = d.u32[(base + Debug.SERIAL) >>> 2];
    d.allocSites.delete(serial);
    d.freeSites.delete(serial);
  }
  // Its serial word changed: a ring entry left behind for it (a stray write moving the head or
  // count back over it) no longer agrees with its check word (evictOldest), in a raw chunk too,
  // whose free leaves the word as it was (a pool's free writes its free-list tag there).
  d.u32[(base + Debug.SERIAL) >>> 2] = ~d.u32[(base + Debug.SERIAL) >>> 2];
  d.host.releasing(base);
  (code === Fam.OBJ ? d.belowO : code === Fam.MEM ? d.belowM : d.belowR).free(base);
}

/**
 * The ring's words are in the heap's memory, where a stray write can reach them: before the ring
 * is used, its head and count must lie within its capacity, or a slot would lie outside the
 * ring and an eviction loop run for ever. HeapCorruptionError naming the word.
 */
export function checkRing(d: DebugState): void {
  const u32 = d.u32;
  const r = d.ring;
  const cap = u32[(r + Debug.Q_CAPACITY) >>> 2];
  const bad = (off: number, what: string): never => {
    throw new HeapCorruptionError(r + off, `debug quarantine ring at ${hex(r)}: ${what}`, "quarantine");
  };
  // Its entries must fit the ring's block (where the host can size it: a foreign allocator's
  // may not), and the memory. A host that sizes every block and finds none there: the ring's
  // block header was written over (its entries would be written past it).
  const room = d.host.liveUsable(r);
  if (room === 0 && d.host.sizesEveryBlock) bad(-4, "its block is no live block (a write over the chunk header before it?)");
  const bytes = Debug.Q_ENTRIES + Debug.Q_ENTRY * cap;
  if (cap === 0 || r + bytes > d.u8.length || (room !== 0 && bytes > room)) bad(Debug.Q_CAPACITY, `capacity ${cap} does not fit the ring's block`);
  if (u32[(r + Debug.Q_HEAD) >>> 2] >= cap) bad(Debug.Q_HEAD, `head ${u32[(r + Debug.Q_HEAD) >>> 2]} is past its ${cap} entries`);
  if (u32[(r + Debug.Q_COUNT) >>> 2] > cap) bad(Debug.Q_COUNT, `count ${u32[(r + Debug.Q_COUNT) >>> 2]} is over its ${cap} entries`);
}

/** Take the oldest block out of quarantine: verify it still reads 0xDD, then release it. */
export function evictOldest(d: DebugState, found: CorruptionReport[]): void {
  const u32 = d.u32;
  const r = d.ring;
  const head = u32[(r + Debug.Q_HEAD) >>> 2];
  const e = r + Debug.Q_ENTRIES + Debug.Q_ENTRY * head;
  const old = u32[e >>> 2];
  const usable = u32[(e + Debug.Q_ENTRY_USABLE) >>> 2];
  // An entry is a freed debug block (its family byte marked so) inside the memory, its check
  // word agreeing with its base, usable bytes and the block's serial (entryCheck): anything else
  // was written over (a usable count a stray write enlarged would have the 0xDD scan below read
  // past the block), or names a block that has left the quarantine. The block was the allocator's
  // live block of those usable bytes when retire() wrote the entry (sound() or checkBlock()
  // looked it up), and only an eviction releases it: the look-up is not made again here (it was
  // ~100 instructions an event; the release's free below still checks the block).
  if (old + usable > d.u8.length || (u32[(e + Debug.Q_ENTRY_CHECK) >>> 2] ^ old ^ usable ^ u32[(old + Debug.SERIAL) >>> 2]) !== Debug.Q_ENTRY_KEY || (d.u8[old + Debug.FAMILY] & Debug.FREED_BIT) === 0)
    throw new HeapCorruptionError(e, `debug quarantine entry ${hex(old)} is no freed block of the recorded size`, "quarantine");
  u32[(r + Debug.Q_HEAD) >>> 2] = head + 1 === u32[(r + Debug.Q_CAPACITY) >>> 2] ? 0 : head + 1;
  u32[(r + Debug.Q_COUNT) >>> 2]--;
  u32[(r + Debug.Q_BYTES) >>> 2] -= u32[(old + Debug.SIZE) >>> 2];
  const rep = d.verifyQuarantined(old, usable, "quarantine");
  if (rep) found.push(rep);
  // Released even when damaged, so the heap stays consistent whatever onError does.
  release(d, old, d.u8[old + Debug.FAMILY] & ~Debug.FREED_BIT);
}

/** Empty the quarantine (each block verified, then released). */
export function drainQuarantine(d: DebugState): void {
  if (d.ring === 0) return;
  // Views detached by an outside growth of a WebAssembly.Memory (memory.ts, DETACHED) made
  // current first: an allocation that failed before touching the memory (a request too large
  // to serve) reaches here with them, and the ring read through them looked damaged.
  d.host.memory.current();
  checkRing(d);
  const found: CorruptionReport[] = [];
  while (d.u32[(d.ring + Debug.Q_COUNT) >>> 2] > 0) evictOldest(d, found);
  for (const rep of found) d.raise(rep);
}

/**
 * adoptThread's mend of a debug heap whose lock a dead thread held (called under it, after the
 * raw lists were made again): the thread may have stopped inside a free, between marking a
 * block freed and its ring entry, or inside an eviction, between the ring's words and the
 * release. The ring keeps its valid entries (freed blocks of the recorded size, each once, their
 * check words agreeing), its
 * count and byte total counted from them; a block marked freed that the ring does not hold was
 * being freed: released to the family below (never verified: it may be half painted). Throws
 * HeapCorruptionError (checkRing) when the ring's own words are out of range.
 */
export function mendQuarantine(d: DebugState): void {
  if (d.ring === 0) return;
  checkRing(d);
  const u32 = d.u32;
  const u8 = d.u8;
  const r = d.ring;
  const cap = u32[(r + Debug.Q_CAPACITY) >>> 2];
  const head = u32[(r + Debug.Q_HEAD) >>> 2];
  const count = u32[(r + Debug.Q_COUNT) >>> 2];
  const kept: number[] = [];
  const held = new Set<number>();
  for (let i = 0; i < count; i++) {
    const e = r + Debug.Q_ENTRIES + Debug.Q_ENTRY * ((head + i) % cap);
    const base = u32[e >>> 2];
    const usable = u32[(e + Debug.Q_ENTRY_USABLE) >>> 2];
    if (base + Debug.HEADER > u8.length || held.has(base) || (u8[base + Debug.FAMILY] & Debug.FREED_BIT) === 0 || d.host.liveUsable(base) !== usable || entryCheck(u32, base, usable) !== u32[(e + Debug.Q_ENTRY_CHECK) >>> 2]) continue;
    held.add(base);
    kept.push(base, usable);
  }
  let bytes = 0;
  for (let i = 0; i < kept.length; i += 2) {
    const e = r + Debug.Q_ENTRIES + Debug.Q_ENTRY * (i >>> 1);
    u32[e >>> 2] = kept[i];
    u32[(e + Debug.Q_ENTRY_USABLE) >>> 2] = kept[i + 1];
    u32[(e + Debug.Q_ENTRY_CHECK) >>> 2] = entryCheck(u32, kept[i], kept[i + 1]);
    bytes += u32[(kept[i] + Debug.SIZE) >>> 2];
  }
  u32[(r + Debug.Q_HEAD) >>> 2] = 0;
  u32[(r + Debug.Q_COUNT) >>> 2] = kept.length >>> 1;
  u32[(r + Debug.Q_BYTES) >>> 2] = bytes;
  // A block outside the ring that reads as freed is one of two things. (a) A debug block the dead
  // thread was retiring or evicting: retire() stores FAMILY | FREED_BIT first, then the fill, then
  // the ring entry, COUNT and BYTES, in that order; evictOldest() stores HEAD, COUNT and BYTES
  // before it releases the block below. A death between the first store and COUNT's (or between
  // HEAD's and the release) leaves a block marked freed whose entry lies outside [head, head +
  // count): it was being freed, and is released now. (b) A block the dead thread had just
  // obtained from below (alloc(): below.malloc() returned, or died after taking the block but
  // before returning) whose header alloc() had not written yet: its bytes are what the memory
  // held, often a former block's 0xDD fill (or a 0xFD pad) read as the family byte, which has
  // FREED_BIT set but with it cleared is none of 'r', 'm', 'o'. That one is no debug block at all:
  // it is left to mendNewest(), which releases every headless block through a family below that
  // frees any block of the heap. Released here as freed, by the byte's low bits, it went to the raw
  // family, whose free() threw InvalidPointerError on a pool's block, and the mend stopped with
  // the ring counting one block fewer than were marked freed (check(): "quarantine counts N
  // blocks, N+1 are marked freed"; ~3 in 100 injected deaths in "debug" below alloc()). A stale
  // header of a former debug block ('r' | FREED_BIT on what is now a pool's block) is released
  // through the pools' family (the raw family's free() refuses a pool's block).
  const stray: number[] = [];
  const codes: number[] = [];
  d.host.forEachBlock((base, sizeClass) => {
    const b = u8[base + Debug.FAMILY];
    if (base === r || (b & Debug.FREED_BIT) === 0 || held.has(base)) return;
    const code = b & ~Debug.FREED_BIT;
    if (code !== Fam.RAW && code !== Fam.MEM && code !== Fam.OBJ) return; // headless: mendNewest's
    stray.push(base);
    codes.push(code === Fam.RAW && sizeClass >= 0 ? Fam.MEM : code);
  });
  for (let i = 0; i < stray.length; i++) release(d, stray[i], codes[i]);
}

/**
 * adoptThread's mend, after mendQuarantine: the block a dead thread was allocating when it
 * stopped (the newest serial, host.serialWord: allocations take it in order, under the lock),
 * its header or pads half written (check() reported an underflow or overflow the user never
 * made), is released: it was never handed out. A block whose pads are whole stays; one with no
 * debug header at all (its family byte none of the three) is released.
 */
export function mendNewest(d: DebugState): void {
  const u32 = d.u32;
  const u8 = d.u8;
  const serial = u32[d.host.serialWord];
  let newest = 0;
  // A live block below with no family byte at all had its header not yet written: released too
  // (every block of a debug heap but the ring is a debug block).
  const headless: number[] = [];
  d.host.forEachBlock((base) => {
    if (base === d.ring) return;
    const code = u8[base + Debug.FAMILY] & ~Debug.FREED_BIT;
    if (code !== Fam.RAW && code !== Fam.MEM && code !== Fam.OBJ) headless.push(base);
    else if ((u8[base + Debug.FAMILY] & Debug.FREED_BIT) === 0 && u32[(base + Debug.SERIAL) >>> 2] === serial) newest = base;
  });
  for (const base of headless) release(d, base, Fam.MEM);
  if (newest === 0) return;
  const size = u32[(newest + Debug.SIZE) >>> 2];
  const end = newest + d.host.liveUsable(newest);
  const whole =
    newest + Debug.HEADER + size <= end &&
    isFilled(u8, u32, d.f64, newest + Debug.LEAD_PAD, newest + Debug.HEADER, FORBIDDEN_BYTE) &&
    isFilled(u8, u32, d.f64, newest + Debug.HEADER + size, end, FORBIDDEN_BYTE);
  const code = u8[newest + Debug.FAMILY];
  if (!whole) release(d, newest, code === Fam.RAW || code === Fam.OBJ ? code : Fam.MEM);
}
