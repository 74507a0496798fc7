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
