// wasm/obmalloc/merge.ts — the merge-ready fast path's entry point (`pymalloc link`,
// src/compat/wasm-link.ts): obmalloc.ts's functions, to be merged into a C module by binaryen's
// wasm-merge under the name "env", so that the module's env.malloc & co and env.memory resolve to
// these exports and C's calls to them become calls inside the module.
//
// Owns: the export names of the merged build: malloc, free, calloc, realloc (the client's
// imports), pymalloc_init and pymalloc_divert (obmalloc.ts's init and divert, named so that they
// do not clash with a client's exports), pymalloc_k_* (the heap's numbers, globals set by init
// only: what a specialised module takes as constants), and memory (build.mjs imports it as
// pymalloc_env.memory, so the merged module has one memory).
// Must not: hold code: obmalloc.ts is the fast path, for both builds.

export { malloc, free, calloc, realloc } from "./obmalloc";
export { init as pymalloc_init, divert as pymalloc_divert, stop as pymalloc_stop } from "./obmalloc";
// The heap's numbers, set by init only: instantiateWithHeap(..., { specialize: true }) reads them
// from an instance of this build and writes them into a linked module's code as constants.
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
  freeOwner as pymalloc_k_freeOwner, // also set by stop(), which only threads heaps call: specialised without threads only
} from "./obmalloc";
export {
  rawOn as pymalloc_k_rawOn,
  topAt as pymalloc_k_topAt,
  peakAt as pymalloc_k_peakAt,
  flAt as pymalloc_k_flAt,
  slBase as pymalloc_k_slBase,
  headsBase as pymalloc_k_headsBase,
  rawStart as pymalloc_k_rawStart,
} from "./raw";
