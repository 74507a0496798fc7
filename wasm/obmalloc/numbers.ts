// wasm/obmalloc/numbers.ts — the heap's numbers as exports named pymalloc_k_*, for both builds
// (instance.ts, merge.ts): globals init() alone sets (freeOwner also stop(), threads heaps only),
// which src/compat/wasm-specialize.ts reads from an initialised instance and writes into a copy of
// the build's code as constants (a linked module's, or the fast path's own instance's).
//
// Owns: the list of those exports and their names. Must not: hold code (obmalloc.ts, raw.ts).

export {
  usedBase as pymalloc_k_usedBase,
  owner as pymalloc_k_owner,
  threaded as pymalloc_k_threaded,
  poolShift as pymalloc_k_poolShift,
  poolMask as pymalloc_k_poolMask,
  poolBits as pymalloc_k_poolBits,
  mapBase as pymalloc_k_mapBase,
  mapBytes as pymalloc_k_mapBytes,
  mapEnd as pymalloc_k_mapEnd,
  mapHighAt as pymalloc_k_mapHighAt,
  alignShift as pymalloc_k_alignShift,
  nClasses as pymalloc_k_nClasses,
  usableAt as pymalloc_k_usableAt,
  nfpBase as pymalloc_k_nfpBase,
  poolsPerArena as pymalloc_k_poolsPerArena,
  heldBase as pymalloc_k_heldBase,
  peakBase as pymalloc_k_peakBase,
  subFreeBase as pymalloc_k_subFreeBase,
  limitBase as pymalloc_k_limitBase,
  fillsBase as pymalloc_k_fillsBase,
  freeOwner as pymalloc_k_freeOwner, // also set by stop(), which only threads heaps call: specialised without threads only
} from "./state";
export {
  rawOn as pymalloc_k_rawOn,
  topAt as pymalloc_k_topAt,
  peakAt as pymalloc_k_peakAt,
  flAt as pymalloc_k_flAt,
  slBase as pymalloc_k_slBase,
  headsBase as pymalloc_k_headsBase,
  rawStart as pymalloc_k_rawStart,
  keptAt as pymalloc_k_keptAt,
} from "./raw";
