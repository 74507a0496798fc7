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
// The heap's numbers (pymalloc_k_*): numbers.ts, shared with instance.ts.
export * from "./numbers";
