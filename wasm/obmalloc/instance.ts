// wasm/obmalloc/instance.ts — the entry point of the fast path as an instance of its own
// (obmalloc.wasm, obmalloc-shared.wasm: heap.wasmImports(), src/compat/wasm-imports.ts): C code
// imports its malloc & co from it.
//
// Owns: that build's exports: malloc, free, calloc, realloc, init, divert, stop.
// Must not: hold code (obmalloc.ts), or export the heap's numbers (merge.ts does, for a linked
// module's specialisation).

export { divert, init, malloc, free, calloc, realloc, stop } from "./obmalloc";
