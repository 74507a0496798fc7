/*
 * wasm/clients/aligned.c — C's aligned allocation functions, malloc_usable_size and a libc
 * function that allocates (strdup), built with wasi-libc over include/pymemcompat.c (wasm/build.sh): without
 * pymemcompat.c's aligned_alloc & co, one call to them pulls wasi-libc's dlmalloc out of libc.a
 * and the link fails ("duplicate symbol: malloc"). Used by test/wasm-client.test.ts.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* posix_memalign(alignment, n), the block filled with 0x5a: its address, or -(the error). */
__attribute__((export_name("pm_align"))) long pm_align(size_t alignment, size_t n) {
  void *p = 0;
  int e = posix_memalign(&p, alignment, n);
  if (e != 0) return -e;
  memset(p, 0x5a, n);
  return (long)p;
}

__attribute__((export_name("al_alloc"))) void *al_alloc(size_t alignment, size_t n) { return aligned_alloc(alignment, n); }
__attribute__((export_name("usable"))) size_t usable(void *p) { return malloc_usable_size(p); }
__attribute__((export_name("c_free"))) void c_free(void *p) { free(p); }
__attribute__((export_name("dup_len"))) int dup_len(void) {
  char *s = strdup("pymalloc");
  int n = (int)strlen(s);
  free(s);
  return n;
}

/*
 * errno after allocations that fail, one bit each when it reads ENOMEM (errno cleared before
 * each): malloc, calloc that overflows, calloc too large, realloc, aligned_alloc of an
 * impossible size; bit 5: posix_memalign's failure left errno as it was. Called through
 * volatile pointers: clang takes its builtin malloc & co to leave errno alone and would fold
 * the reads.
 */
__attribute__((export_name("enomem_bits"))) int enomem_bits(void) {
  void *(*volatile m)(size_t) = malloc;
  void *(*volatile c)(size_t, size_t) = calloc;
  void *(*volatile r)(void *, size_t) = realloc;
  void *(*volatile a)(size_t, size_t) = aligned_alloc;
  int (*volatile pm)(void **, size_t, size_t) = posix_memalign;
  int bits = 0;
  void *p = m(16);
  errno = 0;
  if (m((size_t)-1) == 0 && errno == ENOMEM) bits |= 1;
  errno = 0;
  if (c((size_t)-1 / 2, 4) == 0 && errno == ENOMEM) bits |= 2;
  errno = 0;
  if (c(1, (size_t)-16) == 0 && errno == ENOMEM) bits |= 4;
  errno = 0;
  if (r(p, (size_t)-8) == 0 && errno == ENOMEM) bits |= 8;
  errno = 0;
  if (a(64, (size_t)-128) == 0 && errno == ENOMEM) bits |= 16;
  void *q = 0;
  errno = 0;
  if (pm(&q, 64, (size_t)-128) == ENOMEM && errno == 0) bits |= 32;
  free(p);
  return bits;
}
