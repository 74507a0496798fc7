/*
 * wasm/include/pymemcompat.c — with wasi-libc (or Emscripten's -sMALLOC=none): defines C's
 * malloc, free, calloc and realloc, forwarding to the heap's imports (env.malloc...), so that
 * the linker takes them, and not libc.a's dlmalloc, for every call in the module, libc's own
 * included. See pymemcompat.h.
 *
 * Also every other function wasi-libc's dlmalloc.o defines (aligned_alloc, posix_memalign,
 * memalign and libc's internal __libc_* names): one reference to any of them would pull that
 * object out of libc.a, and its malloc would clash with these ("duplicate symbol: malloc").
 * The heap's blocks above 512 bytes are 16-byte aligned in every mode (raw chunks; a debug
 * block's header keeps that), so an alignment of 16 or less is served by a request of at least
 * 513 bytes; larger alignments are not supported: NULL (posix_memalign: ENOMEM).
 */
#define PYMEMCOMPAT_NO_LIBC_NAMES
#include "pymemcompat.h"
#include <errno.h>

#define PYMEM_ALIGNED_ 16   /* what every block above PYMEM_SMALL_ bytes is aligned to */
#define PYMEM_SMALL_ 512    /* the largest request pymalloc serves from its pools */

void *malloc(size_t n) { return pymem_import_malloc(n); }
void free(void *p) { pymem_import_free(p); }
void *calloc(size_t nelem, size_t elsize) { return pymem_import_calloc(nelem, elsize); }
void *realloc(void *p, size_t n) { return pymem_import_realloc(p, n); }

void *__libc_malloc(size_t n) { return pymem_import_malloc(n); }
void __libc_free(void *p) { pymem_import_free(p); }
void *__libc_calloc(size_t nelem, size_t elsize) { return pymem_import_calloc(nelem, elsize); }

/* A block of n bytes aligned to `alignment` (a power of two), or NULL. */
static void *pymem_aligned(size_t alignment, size_t n) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > PYMEM_ALIGNED_) return 0;
  if (alignment <= 8) return pymem_import_malloc(n);
  return pymem_import_malloc(n > PYMEM_SMALL_ ? n : PYMEM_SMALL_ + 1);
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
