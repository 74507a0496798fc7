/*
 * wasm/peers/emmalloc.c — Emscripten's emmalloc (system/lib/emmalloc.c of Debian's emscripten
 * 3.1.69 source package, fetched by wasm/peers/sources.sh) in a module of its own, exporting
 * malloc, free, calloc, realloc and malloc_usable_size, with the sbrk of sbrk.h: a peer of
 * `npm run bench`, called per event from JS like wasm/dlmalloc. Built by wasm/build.sh, with the
 * headers of shim/ standing in for Emscripten's (logging and tracing off, as in a release build).
 */
#include <stddef.h>
#include "sbrk.h"
/* Emscripten's ABI aligns max_align_t to 8, wasi-libc's to 16: emmalloc asserts 8 and aligns
 * its blocks to it, as in an Emscripten build. */
typedef struct {
  long long ll;
  double d;
} emscripten_max_align_t;
#define max_align_t emscripten_max_align_t
#include "system/lib/emmalloc.c"
