/*
 * wasm/peers/mimalloc.c — mimalloc 2.1.2 (system/lib/mimalloc of Debian's emscripten 3.1.69
 * source package, fetched by wasm/peers/sources.sh) as one translation unit (its src/static.c),
 * built for wasm32-wasi over the sbrk of sbrk.h (MI_USE_SBRK), exporting malloc, free, calloc,
 * realloc and malloc_usable_size as its mi_* functions: a peer of `npm run bench`, called per
 * event from JS like wasm/dlmalloc. Built by wasm/build.sh. (mimalloc v3 is in no Debian
 * release.) mimalloc takes fresh sbrk memory as zeroed: the benchmark zeroes the memory before
 * each fresh instance.
 */
#include "sbrk.h"
#include "src/static.c"

__attribute__((export_name("malloc"))) void *bench_malloc(size_t n) { return mi_malloc(n); }
__attribute__((export_name("free"))) void bench_free(void *p) { mi_free(p); }
__attribute__((export_name("calloc"))) void *bench_calloc(size_t n, size_t m) { return mi_calloc(n, m); }
__attribute__((export_name("realloc"))) void *bench_realloc(void *p, size_t n) { return mi_realloc(p, n); }
__attribute__((export_name("malloc_usable_size"))) size_t bench_usable_size(void *p) { return mi_usable_size(p); }
