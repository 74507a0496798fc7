/* wasm/peers/shim/emscripten/threading.h — emmalloc.c's logging macros, as no-ops (single thread, no JS console). */
#pragma once
#define MAIN_THREAD_ASYNC_EM_ASM(...) ((void)0)
#define EM_ASM(...) ((void)0)
