/**
 * debug/leaks.ts — leak listings: live blocks grouped by allocation site.
 *
 * Owns: the LeakReport of heap.leaks() (its blocks, its sites by bytes, its text), the grouping
 * by site (shared with the sampled sites of debug/sampling.ts, whose blocks carry a weight), and
 * a site's name from a captured stack (its first frames outside pymalloc).
 * Must not: read the heap. The blocks come from whoever walked it: the debug hooks
 * (DebugState.leaks, debug/hooks.ts), a release heap's sampled sites, a foreign heap.
 */

import { isOwnFrame } from "./report.js";

export interface LeakedBlock {
  address: number;
  size: number;
  family: string;
  serial: number;
  site: string;
}

export interface LeakSite {
  site: string;
  blocks: number;
  bytes: number;
}

export interface LeakReport {
  totalBlocks: number;
  totalBytes: number;
  /** Sites ordered by bytes, largest first. */
  bySite: LeakSite[];
  blocks: LeakedBlock[];
  toString(): string;
}

/** The first frames of a stack outside pymalloc: where user code allocated (the C function that called malloc, for a wasm module). */
export function siteOf(stack: string | undefined): string {
  if (!stack) return "(allocation site not recorded)";
  const frames = stack
    .split("\n")
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => !isOwnFrame(l));
  return frames.slice(0, 3).join(" <- ") || "(unknown)";
}

/**
 * Blocks grouped by site, most bytes first: each block counts as `weight` blocks (1 when it has
 * none; a sampled block stands for the blocks its sample estimates, debug/sampling.ts).
 */
export function groupBySite(blocks: Iterable<{ site: string; size: number; weight?: number }>): LeakSite[] {
  const sites = new Map<string, LeakSite>();
  for (const b of blocks) {
    const w = b.weight ?? 1;
    const g = sites.get(b.site) ?? { site: b.site, blocks: 0, bytes: 0 };
    g.blocks += w;
    g.bytes += w * b.size;
    sites.set(b.site, g);
  }
  return [...sites.values()].sort((a, b) => b.bytes - a.bytes || b.blocks - a.blocks);
}

export function leakReport(blocks: LeakedBlock[]): LeakReport {
  let totalBytes = 0;
  for (const b of blocks) totalBytes += b.size;
  const bySite = groupBySite(blocks);
  return siteReport(blocks, totalBytes, bySite, `${blocks.length} live block(s), ${totalBytes} bytes, from ${bySite.length} site(s):`, (s) =>
    `  ${String(s.bytes).padStart(10)} B in ${String(s.blocks).padStart(6)} block(s)  ${s.site}`);
}

/** A LeakReport of these blocks and site groups, printed as the heading and a row for each of the 20 largest groups. */
export function siteReport(blocks: LeakedBlock[], totalBytes: number, bySite: LeakSite[], heading: string, row: (s: LeakSite) => string): LeakReport {
  return {
    totalBlocks: blocks.length,
    totalBytes,
    bySite,
    blocks,
    toString() {
      return [heading, ...bySite.slice(0, 20).map(row)].join("\n");
    },
  };
}
