/* wasm/peers/shim/emscripten/heap.h — what emmalloc.c needs of Emscripten's heap.h, for wasm32-wasi. */
#pragma once
#include <stddef.h>
static inline size_t emscripten_get_heap_size(void) { return __builtin_wasm_memory_size(0) * 65536u; }
static inline size_t emscripten_get_heap_max(void) { return 65536u * 65536u - 65536u; }
