/*
 * wasm/include/pymemcompat.c — with wasi-libc (or Emscripten's -sMALLOC=none): defines C's
 * malloc, free, calloc and realloc, forwarding to the heap's imports (env.malloc...), so that
 * the linker takes them, and not libc.a's dlmalloc, for every call in the module, libc's own
 * included. See pymemcompat.h.
 *
 * Also every other function wasi-libc's dlmalloc.o defines (aligned_alloc, posix_memalign,
 * memalign, malloc_usable_size and libc's internal __libc_* names): one reference to any of them would pull that
 * object out of libc.a, and its malloc would clash with these ("duplicate symbol: malloc"). And
 * reallocarray, which Emscripten's libc leaves to its allocator.
 * Alignments up to 8 are every block's; larger ones go to env.aligned_alloc (the family's
 * alignedAlloc: a raw chunk aligned as asked, freed by free() like any block). An alignment that
 * is not a power of two gets NULL (posix_memalign: EINVAL). A NULL for a request of some bytes
 * sets errno to ENOMEM, as wasi-libc's malloc does.
 *
 * Its definitions have C's names also when a C++ compiler builds this file (em++ and clang++
 * treat a .c file given with C++ sources as C++): with C++'s mangled names nothing would define
 * malloc's companions, and wasm-ld took wasi-libc's dlmalloc, or Emscripten left
 * posix_memalign (C++'s aligned new) an import nobody provides.
 */
#define PYMEMCOMPAT_NO_LIBC_NAMES
#include "pymemcompat.h"
#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A NULL for a request of some bytes: errno says ENOMEM, as C's malloc & co (wasi-libc's) say it. */
static inline void *pymem_result(void *p, size_t n) {
  if (p == 0 && n != 0) errno = ENOMEM;
  return p;
}

void *malloc(size_t n) { return pymem_result(pymem_import_malloc(n), n); }
void free(void *p) { pymem_import_free(p); }
void *calloc(size_t nelem, size_t elsize) { return pymem_result(pymem_import_calloc(nelem, elsize), nelem && elsize); }
/* realloc(NULL, n) is malloc(n) here, in C: `pymalloc link` inlines malloc at every call, so a
 * program that allocates through realloc (Lua's allocator: every block) takes the inlined path. */
void *realloc(void *p, size_t n) { return p == 0 ? malloc(n) : pymem_result(pymem_import_realloc(p, n), n); }

size_t malloc_usable_size(void *p) { return p ? pymem_import_usable_size(p) : 0; }

/* realloc(p, nelem * elsize), NULL (ENOMEM) when the product overflows. wasi-libc's libc.a has its
 * own (this one is taken first); Emscripten's libc (3.1.6) declares it but leaves it to its
 * allocators, which -sMALLOC=none leaves out: a call was an env.reallocarray import nobody gives. */
void *reallocarray(void *p, size_t nelem, size_t elsize) {
  if (elsize != 0 && nelem > (size_t)-1 / elsize) {
    errno = ENOMEM;
    return 0;
  }
  return realloc(p, nelem * elsize);
}

/* `used`: kept through -flto although no C source calls them. libc.a's atexit.o (__cxa_atexit)
 * calls __libc_calloc, and a C `__attribute__((destructor))` becomes a call to __cxa_atexit only
 * in LTO's code generation, after wasm-ld has let LTO drop an unreferenced __libc_calloc: without
 * `used`, such a program (libxml2 has one) failed to link ("pymemcompat.o: undefined symbol:
 * __libc_calloc"). newlocale.o and freelocale.o call the other two. */
__attribute__((used)) void *__libc_malloc(size_t n) { return malloc(n); }
__attribute__((used)) void __libc_free(void *p) { pymem_import_free(p); }
__attribute__((used)) void *__libc_calloc(size_t nelem, size_t elsize) { return calloc(nelem, elsize); }

/* A block of n bytes aligned to `alignment` (a power of two), or NULL (errno EINVAL or ENOMEM). */
static void *pymem_aligned(size_t alignment, size_t n) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return 0;
  }
  if (alignment <= 8) return malloc(n);
  return pymem_result(pymem_import_aligned_alloc(alignment, n), n);
}

void *aligned_alloc(size_t alignment, size_t n) { return pymem_aligned(alignment, n); }
void *memalign(size_t alignment, size_t n) { return pymem_aligned(alignment, n); }

int posix_memalign(void **out, size_t alignment, size_t n) {
  if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
  int saved = errno; /* posix_memalign returns its error; errno stays as it was */
  void *p = pymem_aligned(alignment, n);
  errno = saved;
  if (p == 0) return ENOMEM;
  *out = p;
  return 0;
}

#ifdef __EMSCRIPTEN__
/* Emscripten's libc calls its allocator by these names too (getenv's environment, mmap, strdup of
 * some paths): with -sMALLOC=none nothing defines them, and the module imported them from env,
 * which nobody provides (a LinkError naming env.emscripten_builtin_malloc). */
void *emscripten_builtin_malloc(size_t n) { return malloc(n); }
void emscripten_builtin_free(void *p) { free(p); }
void *emscripten_builtin_memalign(size_t alignment, size_t n) { return pymem_aligned(alignment, n); }
void *emscripten_builtin_calloc(size_t nelem, size_t elsize) { return calloc(nelem, elsize); }
void *emscripten_builtin_realloc(void *p, size_t n) { return realloc(p, n); }
#endif

#ifdef __cplusplus
}
#endif
