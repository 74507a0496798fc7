// wasm/obmalloc/instance.ts — the entry point of the fast path as an instance of its own
// (obmalloc.wasm, obmalloc-shared.wasm: heap.wasmImports(), src/compat/wasm-imports.ts): C code
// imports its malloc & co from it.
//
// Owns: that build's exports: malloc, free, calloc, realloc, init, divert, stop, and the heap's
// numbers (numbers.ts: heapAllocator compiles a copy of this build with them as constants).
// Must not: hold code (obmalloc.ts).

export { divert, init, malloc, free, calloc, realloc, stop } from "./obmalloc";
export * from "./numbers";
