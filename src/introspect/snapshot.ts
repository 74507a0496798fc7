/**
 * introspect/snapshot.ts — heap snapshots and their comparison, in the spirit of CPython's
 * tracemalloc (Snapshot.statistics, Snapshot.compare_to).
 *
 * Owns: taking a snapshot of the live blocks (grouped by size class and family, from the heap's
 * own state, in every mode; and by allocation site where sites are recorded: debug modes with
 * traceAllocations, or sampled sites), comparing two snapshots group by group, and rendering
 * both as text and JSON. A snapshot records its heap's alignment: its size groups are that
 * alignment's size classes, so compare() by size refuses snapshots of heaps of two alignments,
 * as it refuses a debug mode's against a release mode's (no group would match). Nothing else
 * depends on it: a snapshot is never put back into a heap (attachHeap reads the alignment from
 * the heap's own header).
 * Must not: write to the heap; a snapshot holds only its totals per group (plain JS data, taken
 * under the heap's lock), never the heap's memory.
 */

import { shown } from "../errors.js";
import type { Heap } from "../heap/heap.js";
import { MAX_SAMPLE_INTERVAL, Size } from "../constants.js";
import { ALLOCATOR_MODES } from "../heap/options.js";

/** How blocks are grouped: by allocation site, or by size class and family. */
export type SnapshotKey = "site" | "size";
/** Where a snapshot's sites come from: every block (debug tracing), samples (estimates), or nowhere. */
export type SiteSource = "traced" | "sampled" | "none";

/** One group of live blocks. Sampled sites give estimates: blocks and bytes may be fractional. */
export interface SnapshotStat {
  key: string;
  blocks: number;
  bytes: number;
}

/** One group compared with the older snapshot: its size now and what it gained (or lost, < 0). */
export interface SnapshotStatDiff extends SnapshotStat {
  blocksDiff: number;
  bytesDiff: number;
}

export interface SnapshotJSON {
  mode: string;
  /** The heap's alignment of small blocks, 8 or 16 (its size groups are its size classes); absent in snapshots saved before it was recorded. */
  alignment?: number;
  sites: SiteSource;
  sampleInterval: number;
  totalBlocks: number;
  totalBytes: number;
  bySize: SnapshotStat[];
  bySite?: SnapshotStat[];
}

/** Whether a mode's size groups are prefixed by the family (the debug modes record it). */
const familied = (mode: string): boolean => mode.endsWith("debug");

const largest = (a: SnapshotStat, b: SnapshotStat): number => b.bytes - a.bytes || b.blocks - a.blocks || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** "48 B", "1.5 KiB", "2.0 MiB"; estimates rounded to whole bytes. */
export function formatBytes(n: number, signed = false): string {
  const sign = signed && n > 0 ? "+" : n < 0 ? "-" : "";
  const a = Math.abs(n);
  const s = a < 10 * 1024 ? `${Math.round(a)} B` : a < 10 * 1024 * 1024 ? `${(a / 1024).toFixed(1)} KiB` : `${(a / 1024 / 1024).toFixed(1)} MiB`;
  return sign + s;
}

const count = (n: number, signed = false): string => (signed && n > 0 ? "+" : "") + (Number.isInteger(n) ? String(n) : n.toFixed(1));

/**
 * The size group of a block of `size` bytes: its size class (the request rounded up to the
 * alignment) up to 512 bytes, a power-of-two range above.
 */
export function sizeGroup(size: number, alignment: number): string {
  if (size <= Size.SMALL_REQUEST_THRESHOLD) return `${Math.max(alignment, Math.ceil(size / alignment) * alignment)} B`;
  const hi = 2 ** Math.ceil(Math.log2(size));
  return `${hi / 2 + 1}-${hi} B`;
}

/** toString()'s limit: how many groups to list, a non-negative integer (or Infinity for all). */
function checkLimit(limit: unknown): void {
  if (typeof limit !== "number") throw new TypeError(`toString(limit): limit must be a number of groups, got ${typeof limit}`);
  if (!(Number.isInteger(limit) || limit === Infinity) || limit < 0) throw new RangeError(`toString(limit): limit must be a non-negative integer (or Infinity), got ${limit}`);
}

/** The live blocks of a heap at one moment, grouped (see Heap.snapshot()). */
export class HeapSnapshot {
  readonly mode: string;
  /** The heap's alignment of small blocks (createHeap's `alignment`: 8 or 16); undefined for a snapshot saved before it was recorded. */
  readonly alignment: number | undefined;
  readonly sites: SiteSource;
  /** Mean bytes between samples (sites: "sampled"), else 0. */
  readonly sampleInterval: number;
  /** Exact totals of the live blocks (requested bytes in debug modes, usable bytes otherwise). */
  readonly totalBlocks: number;
  readonly totalBytes: number;
  private readonly bySize: Map<string, SnapshotStat>;
  private readonly bySite: Map<string, SnapshotStat> | undefined;

  /** @internal use heap.snapshot(). */
  constructor(init: { mode: string; alignment: number | undefined; sites: SiteSource; sampleInterval: number; totalBlocks: number; totalBytes: number; bySize: Map<string, SnapshotStat>; bySite?: Map<string, SnapshotStat> }) {
    this.mode = init.mode;
    this.alignment = init.alignment;
    this.sites = init.sites;
    this.sampleInterval = init.sampleInterval;
    this.totalBlocks = init.totalBlocks;
    this.totalBytes = init.totalBytes;
    this.bySize = init.bySize;
    this.bySite = init.bySite;
  }

  /** The grouping used when none is given: by site where sites are recorded, else by size. */
  get defaultKey(): SnapshotKey {
    return this.bySite !== undefined ? "site" : "size";
  }

  private groups(by: SnapshotKey): Map<string, SnapshotStat> {
    if (by === "size") return this.bySize;
    if (by !== "site") throw new RangeError(`group by "site" or "size", got ${shown(by)}`);
    if (this.bySite === undefined)
      throw new RangeError(`this ${this.mode} heap records no allocation sites: use a debug mode with traceAllocations, or createHeap's sampleInterval (or group by "size")`);
    return this.bySite;
  }

  /** Groups, largest first (tracemalloc's Snapshot.statistics()). */
  statistics(by: SnapshotKey = this.defaultKey): SnapshotStat[] {
    return [...this.groups(by).values()].map((s) => ({ ...s })).sort(largest);
  }

  /**
   * What changed since `older` (tracemalloc's Snapshot.compare_to()): every group of either
   * snapshot with its blocks and bytes now and the difference, the largest growth first, the
   * largest shrinkage last.
   */
  compare(older: HeapSnapshot, by: SnapshotKey = this.defaultKey): SnapshotComparison {
    if (!(older instanceof HeapSnapshot)) throw new TypeError("compare() takes an older HeapSnapshot (heap.snapshot())");
    // A debug mode's size groups carry the family ("o 48 B"), a release mode's do not ("48 B"): no
    // group of one matched one of the other, and every block was reported lost and made again.
    if (by === "size" && familied(this.mode) !== familied(older.mode)) {
      const [dbg, rel] = familied(this.mode) ? [this.mode, older.mode] : [older.mode, this.mode];
      throw new RangeError(
        `compare(older, "size"): a ${dbg} snapshot's size groups carry the family ("o 48 B", recorded in the debug modes) and a ${rel} snapshot's do not ("48 B"): no group would match; compare debug modes' snapshots with each other and release modes' with each other, or by "site"`,
      );
    }
    // Size groups are size classes: a 20-byte request is "24 B" at 8-byte alignment and "32 B" at
    // 16, so every small block of one heap read as lost and made again in the other's groups.
    if (by === "size" && this.alignment !== undefined && older.alignment !== undefined && this.alignment !== older.alignment)
      throw new RangeError(
        `compare(older, "size"): this snapshot's heap aligns small blocks to ${this.alignment} bytes and the older one's to ${older.alignment}: their size groups are other size classes ("24 B" at 8 is "32 B" at 16), no group would match; compare snapshots of heaps of one alignment, or by "site"`,
      );
    const now = this.groups(by);
    const then = older.groups(by);
    const out: SnapshotStatDiff[] = [];
    for (const [key, s] of now) {
      const o = then.get(key);
      out.push({ key, blocks: s.blocks, bytes: s.bytes, blocksDiff: s.blocks - (o?.blocks ?? 0), bytesDiff: s.bytes - (o?.bytes ?? 0) });
    }
    for (const [key, o] of then) if (!now.has(key)) out.push({ key, blocks: 0, bytes: 0, blocksDiff: -o.blocks, bytesDiff: -o.bytes });
    out.sort((a, b) => b.bytesDiff - a.bytesDiff || b.blocksDiff - a.blocksDiff || b.bytes - a.bytes || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const estimated = by === "site" && (this.sites === "sampled" || older.sites === "sampled");
    return new SnapshotComparison(by, out.filter((d) => d.blocksDiff !== 0 || d.bytesDiff !== 0 || d.blocks !== 0), this.totalBlocks - older.totalBlocks, this.totalBytes - older.totalBytes, this.totalBlocks, this.totalBytes, estimated);
  }

  /**
   * A snapshot again from its toJSON() (the object, or the JSON text), to compare with later ones
   * (another process's, a saved one). TypeError for anything else.
   */
  static fromJSON(json: SnapshotJSON | string): HeapSnapshot {
    const j = (typeof json === "string" ? parseSnapshot(json) : json) as Partial<SnapshotJSON> | null;
    if (j === null || typeof j !== "object" || typeof j.mode !== "string" || (j.sites !== "traced" && j.sites !== "sampled" && j.sites !== "none") || !Number.isFinite(j.sampleInterval) || !Number.isFinite(j.totalBlocks) || !Number.isFinite(j.totalBytes))
      throw new TypeError("HeapSnapshot.fromJSON: expected a snapshot's toJSON() (mode, sites, sampleInterval, totalBlocks, totalBytes, bySize, bySite)");
    // The values a snapshot can hold (a saved one edited, or another program's JSON, made reports
    // of "-5 live block(s)", and comparisons of totals its groups did not add up to).
    const bad = (what: string): never => {
      throw new RangeError(`HeapSnapshot.fromJSON: ${what}`);
    };
    if (!(ALLOCATOR_MODES as readonly string[]).includes(j.mode)) bad(`mode ${JSON.stringify(j.mode)} is none of ${ALLOCATOR_MODES.join(", ")}`);
    if (j.alignment !== undefined && j.alignment !== 8 && j.alignment !== 16) bad(`alignment ${shown(j.alignment)} (a heap aligns small blocks to 8 or 16 bytes)`);
    const sampled = j.sites === "sampled";
    if (sampled ? !(j.sampleInterval! >= 1 && j.sampleInterval! <= MAX_SAMPLE_INTERVAL) : j.sampleInterval !== 0)
      bad(`sampleInterval ${j.sampleInterval} for sites "${j.sites}" (expected ${sampled ? `1 to ${MAX_SAMPLE_INTERVAL}, as createHeap takes it` : "0"})`);
    // The debug modes trace every site (or none) and ignore sampleInterval; the release modes
    // sample or record none: a snapshot with the other kind was never taken (its size groups,
    // family-prefixed or not, would not be the mode's either).
    if (j.sites === (familied(j.mode) ? "sampled" : "traced")) bad(`sites "${j.sites}" in a ${j.mode} snapshot (${familied(j.mode) ? 'the debug modes trace every site: "traced" or "none"' : 'the release modes sample sites: "sampled" or "none"'})`);
    const count = (n: number, what: string, estimate: boolean): void => {
      if (n < 0 || n > 2 ** 32 || (!estimate && !Number.isInteger(n))) bad(`${what} ${n} is not a count of live blocks or bytes${estimate ? "" : " (whole numbers: only sampled sites are estimates)"}`);
    };
    count(j.totalBlocks!, "totalBlocks", false);
    count(j.totalBytes!, "totalBytes", false);
    const stats = (a: unknown, what: string, estimate: boolean): Map<string, SnapshotStat> => {
      if (!Array.isArray(a)) throw new TypeError(`HeapSnapshot.fromJSON: ${what} must be an array of { key, blocks, bytes }`);
      const m = new Map<string, SnapshotStat>();
      let blocks = 0;
      let bytes = 0;
      for (const x of a as SnapshotStat[]) {
        if (x === null || typeof x !== "object" || typeof x.key !== "string" || !Number.isFinite(x.blocks) || !Number.isFinite(x.bytes))
          throw new TypeError(`HeapSnapshot.fromJSON: ${what} holds ${JSON.stringify(x)}, not a { key, blocks, bytes }`);
        if (m.has(x.key)) bad(`${what} holds the group ${JSON.stringify(x.key)} twice`);
        // A size class that is no multiple of the alignment was never a group of the heap's.
        const cls = what === "bySize" ? /^(?:[rmo?] )?(\d+) B$/.exec(x.key) : null;
        if (cls !== null && j.alignment !== undefined && Number(cls[1]) % j.alignment !== 0) bad(`bySize holds the group ${JSON.stringify(x.key)}, no size class of a heap of alignment ${j.alignment}`);
        count(x.blocks, `${what} ${JSON.stringify(x.key)} blocks`, estimate);
        count(x.bytes, `${what} ${JSON.stringify(x.key)} bytes`, estimate);
        m.set(x.key, { key: x.key, blocks: x.blocks, bytes: x.bytes });
        blocks += x.blocks;
        bytes += x.bytes;
      }
      // Exact groups add up to the totals; estimates only roughly (each sample's weight).
      if (!estimate && (blocks !== j.totalBlocks || bytes !== j.totalBytes)) bad(`${what}'s groups hold ${blocks} blocks of ${bytes} bytes, the totals say ${j.totalBlocks} of ${j.totalBytes}`);
      return m;
    };
    if (j.sites !== "none" && j.bySite === undefined) throw new TypeError(`HeapSnapshot.fromJSON: sites "${j.sites}" but no bySite groups`);
    if (j.sites === "none" && j.bySite !== undefined) bad('bySite groups in a snapshot whose sites are "none"');
    return new HeapSnapshot({
      mode: j.mode,
      alignment: j.alignment,
      sites: j.sites,
      sampleInterval: j.sampleInterval as number,
      totalBlocks: j.totalBlocks as number,
      totalBytes: j.totalBytes as number,
      bySize: stats(j.bySize, "bySize", false),
      bySite: j.bySite === undefined ? undefined : stats(j.bySite, "bySite", sampled),
    });
  }

  toJSON(): SnapshotJSON {
    const j: SnapshotJSON = { mode: this.mode, alignment: this.alignment, sites: this.sites, sampleInterval: this.sampleInterval, totalBlocks: this.totalBlocks, totalBytes: this.totalBytes, bySize: this.statistics("size") };
    if (this.bySite !== undefined) j.bySite = this.statistics("site");
    return j;
  }

  /** The largest groups (default grouping), one line each. */
  toString(limit = 10, by: SnapshotKey = this.defaultKey): string {
    checkLimit(limit);
    const stats = this.statistics(by);
    const est = by === "site" && this.sites === "sampled" ? " (estimated from samples)" : "";
    const lines = [`${this.totalBlocks} live block(s), ${formatBytes(this.totalBytes)}; top ${Math.min(limit, stats.length)} of ${stats.length} ${by === "site" ? "sites" : "size groups"}${est}:`];
    for (const s of stats.slice(0, limit)) lines.push(`  ${s.key}: ${formatBytes(s.bytes)} in ${count(s.blocks)} block(s), average ${formatBytes(s.blocks ? s.bytes / s.blocks : 0)}`);
    return lines.join("\n");
  }
}

/** Two snapshots compared (HeapSnapshot.compare()). */
export class SnapshotComparison {
  constructor(
    readonly by: SnapshotKey,
    /** Groups that changed or are live, the largest growth in bytes first. */
    readonly groups: SnapshotStatDiff[],
    /** Exact change of the live blocks' totals. */
    readonly blocksDiff: number,
    readonly bytesDiff: number,
    readonly totalBlocks: number,
    readonly totalBytes: number,
    /** Whether the groups are estimates (sampled sites). */
    readonly estimated: boolean,
  ) {}

  /** Groups that grew, largest growth first. */
  get grown(): SnapshotStatDiff[] {
    return this.groups.filter((g) => g.bytesDiff > 0 || (g.bytesDiff === 0 && g.blocksDiff > 0));
  }

  toJSON(): { by: SnapshotKey; estimated: boolean; totalBlocks: number; totalBytes: number; blocksDiff: number; bytesDiff: number; groups: SnapshotStatDiff[] } {
    return { by: this.by, estimated: this.estimated, totalBlocks: this.totalBlocks, totalBytes: this.totalBytes, blocksDiff: this.blocksDiff, bytesDiff: this.bytesDiff, groups: this.groups.map((g) => ({ ...g })) };
  }

  /** Groups that shrank, largest loss first. */
  get shrunk(): SnapshotStatDiff[] {
    return this.groups.filter((g) => g.bytesDiff < 0 || (g.bytesDiff === 0 && g.blocksDiff < 0)).reverse();
  }

  /**
   * One line a group, like tracemalloc's StatisticDiff (size (+diff), count (+diff), average):
   * the `limit` groups that grew most, then the `limit` that shrank most.
   */
  toString(limit = 10): string {
    checkLimit(limit);
    const grown = this.grown;
    const shrunk = this.shrunk;
    const what = this.by === "site" ? "sites" : "size groups";
    const lines = [`${formatBytes(this.bytesDiff, true)} in ${count(this.blocksDiff, true)} block(s) overall, now ${formatBytes(this.totalBytes)} in ${this.totalBlocks}${this.estimated ? " (sites estimated from samples)" : ""}`];
    const line = (g: SnapshotStatDiff): string =>
      `  ${g.key}: ${formatBytes(g.bytes)} (${formatBytes(g.bytesDiff, true)}), ${count(g.blocks)} block(s) (${count(g.blocksDiff, true)}), average ${formatBytes(g.blocks ? g.bytes / g.blocks : 0)}`;
    if (grown.length > 0) lines.push(`grew: ${Math.min(limit, grown.length)} of ${grown.length} ${what}, largest growth first`, ...grown.slice(0, limit).map(line));
    if (shrunk.length > 0) lines.push(`shrank: ${Math.min(limit, shrunk.length)} of ${shrunk.length} ${what}, largest loss first`, ...shrunk.slice(0, limit).map(line));
    if (grown.length + shrunk.length === 0) lines.push("no group changed");
    return lines.join("\n");
  }
}

/** Add a block (or a sample's weight of blocks) to a group. */
function add(m: Map<string, SnapshotStat>, key: string, blocks: number, bytes: number): void {
  const s = m.get(key);
  if (s === undefined) m.set(key, { key, blocks, bytes });
  else {
    s.blocks += blocks;
    s.bytes += bytes;
  }
}

/**
 * A snapshot of the heap (called under its lock by Heap.snapshot()). Size groups come from a walk
 * of the live blocks; sites from the debug hooks' leak listing or from the sample table.
 */
export function takeSnapshot(heap: Heap): HeapSnapshot {
  const align = heap.alignment;
  const bySize = new Map<string, SnapshotStat>();
  let totalBlocks = 0;
  let totalBytes = 0;
  let bySite: Map<string, SnapshotStat> | undefined;
  let sites: SiteSource = "none";
  const d = heap.debug;
  if (d !== undefined) {
    const traced = d.opts.traceFrames !== 0;
    if (traced) {
      bySite = new Map();
      sites = "traced";
    }
    for (const b of d.leaks().blocks) {
      totalBlocks++;
      totalBytes += b.size;
      add(bySize, `${b.family} ${sizeGroup(b.size, align)}`, 1, b.size);
      if (bySite !== undefined) add(bySite, b.site, 1, b.size);
    }
  } else {
    heap.walkUnlocked((b) => {
      totalBlocks++;
      totalBytes += b.size;
      add(bySize, sizeGroup(b.size, align), 1, b.size);
    });
    const samples = heap.sampler?.samples();
    if (samples !== undefined) {
      bySite = new Map();
      sites = "sampled";
      for (const s of samples) add(bySite, s.site, s.weight, s.weight * s.size);
    }
  }
  return new HeapSnapshot({ mode: heap.mode, alignment: align, sites, sampleInterval: heap.sampler?.interval ?? 0, totalBlocks, totalBytes, bySize, bySite });
}

/** JSON.parse of a saved snapshot: a TypeError naming fromJSON for text that is no JSON (JSON's own SyntaxError said nothing of where). */
function parseSnapshot(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TypeError(`HeapSnapshot.fromJSON: the text is no JSON (${(e as Error).message}): pass what JSON.stringify(snapshot) made`);
  }
}
