// wasm/obmalloc/rawstart.ts — the raw start (createHeap's rawFirst) in wasm: whether a young
// class's block is served raw, and the counts of the object allocator's small raw chunks that JS
// keeps alike (src/obmalloc/subpools.ts rawYoung, rawCame, rawWent).
//
// Owns: those counts' reads and writes. Must not: allocate (obmalloc.ts calls raw.ts).

import { RawStart, SubPool } from "./layout";
import { chunkSizeFor, sizeOf } from "./raw";
import { peakBase, subBase } from "./state";

// The raw start (RawStart in src/constants.ts; JS: obmalloc/subpools.ts rawYoung, rawCame,
// rawWent): the object allocator's raw chunks of <= RawStart.BUCKETS x 16 bytes counted by size.

/** malloc(n) of class idx, its usedpools empty, goes to the raw allocator: the class never took a pool and n's chunk size is below both limits. */
@inline export function rawYoung(idx: u32, n: u32): bool {
  if (load<u32>(peakBase + (idx << 2)) != 0) return false;
  const b = chunkSizeFor(n) >> 4;
  return load<u32>(subBase + SubPool.RAW_LIVE + (b << 2)) < load<u32>(subBase + SubPool.RAW_FIRST) && load<u32>(subBase + SubPool.RAW_EVER + (b << 2)) < load<u32>(subBase + SubPool.RAW_EVER_LIMIT);
}

/** The raw chunk at payload p (not 0) was handed out: counted by its size, `ever` added to its ever count. Returns p. */
export function rawCame(p: u32, ever: u32): u32 {
  const b = sizeOf(load<u32>(p - 4)) >> 4;
  if (b < RawStart.BUCKETS) {
    const at = subBase + SubPool.RAW_LIVE + (b << 2);
    store<u32>(at, load<u32>(at) + 1);
    const ea = subBase + SubPool.RAW_EVER + (b << 2);
    if (load<u32>(ea) < load<u32>(subBase + SubPool.RAW_EVER_LIMIT)) store<u32>(ea, load<u32>(ea) + ever);
  }
  return p;
}

/** A raw chunk whose size word was sw went back: its size's live count, never below 0. */
export function rawWent(sw: u32): void {
  const b = sizeOf(sw) >> 4;
  if (b > 0 && b < RawStart.BUCKETS) {
    const at = subBase + SubPool.RAW_LIVE + (b << 2);
    const v = load<u32>(at);
    if (v > 0) store<u32>(at, v - 1);
  }
}

