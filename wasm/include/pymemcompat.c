/*
 * wasm/include/pymemcompat.c — with wasi-libc (or Emscripten's -sMALLOC=none): defines C's
 * malloc, free, calloc and realloc, forwarding to the heap's imports (env.malloc...), so that
 * the linker takes them, and not libc.a's dlmalloc, for every call in the module, libc's own
 * included. See pymemcompat.h.
 */
#define PYMEMCOMPAT_NO_LIBC_NAMES
#include "pymemcompat.h"

void *malloc(size_t n) { return pymem_import_malloc(n); }
void free(void *p) { pymem_import_free(p); }
void *calloc(size_t nelem, size_t elsize) { return pymem_import_calloc(nelem, elsize); }
void *realloc(void *p, size_t n) { return pymem_import_realloc(p, n); }
