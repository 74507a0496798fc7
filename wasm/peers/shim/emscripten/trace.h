/* wasm/peers/shim/emscripten/trace.h — Emscripten's allocation tracing, off. */
#pragma once
#define emscripten_trace_record_allocation(...) ((void)0)
#define emscripten_trace_record_reallocation(...) ((void)0)
#define emscripten_trace_record_free(...) ((void)0)
