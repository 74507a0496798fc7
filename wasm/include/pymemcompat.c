/*
 * wasm/include/pymemcompat.c — with wasi-libc (or Emscripten's -sMALLOC=none): defines C's
 * malloc, free, calloc and realloc, forwarding to the heap's imports (env.malloc...), so that
 * the linker takes them, and not libc.a's dlmalloc, for every call in the module, libc's own
 * included. See pymemcompat.h.
 *
 * Also every other function wasi-libc's dlmalloc.o defines (aligned_alloc, posix_memalign,
 * memalign, malloc_usable_size and libc's internal __libc_* names): one reference to any of them would pull that
 * object out of libc.a, and its malloc would clash with these ("duplicate symbol: malloc").
 * Alignments up to 8 are every block's; larger ones go to env.aligned_alloc (the family's
 * alignedAlloc: a raw chunk aligned as asked, freed by free() like any block). An alignment that
 * is not a power of two gets NULL (posix_memalign: EINVAL).
 */
#define PYMEMCOMPAT_NO_LIBC_NAMES
#include "pymemcompat.h"
#include <errno.h>


void *malloc(size_t n) { return pymem_import_malloc(n); }
void free(void *p) { pymem_import_free(p); }
void *calloc(size_t nelem, size_t elsize) { return pymem_import_calloc(nelem, elsize); }
void *realloc(void *p, size_t n) { return pymem_import_realloc(p, n); }

size_t malloc_usable_size(void *p) { return p ? pymem_import_usable_size(p) : 0; }

void *__libc_malloc(size_t n) { return pymem_import_malloc(n); }
void __libc_free(void *p) { pymem_import_free(p); }
void *__libc_calloc(size_t nelem, size_t elsize) { return pymem_import_calloc(nelem, elsize); }

/* A block of n bytes aligned to `alignment` (a power of two), or NULL. */
static void *pymem_aligned(size_t alignment, size_t n) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return 0;
  if (alignment <= 8) return pymem_import_malloc(n);
  return pymem_import_aligned_alloc(alignment, n);
}

void *aligned_alloc(size_t alignment, size_t n) { return pymem_aligned(alignment, n); }
void *memalign(size_t alignment, size_t n) { return pymem_aligned(alignment, n); }

int posix_memalign(void **out, size_t alignment, size_t n) {
  if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
  void *p = pymem_aligned(alignment, n);
  if (p == 0) return ENOMEM;
  *out = p;
  return 0;
}
