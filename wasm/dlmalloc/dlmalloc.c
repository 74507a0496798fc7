/*
 * wasm/dlmalloc/dlmalloc.c — wasi-libc's malloc (Doug Lea's dlmalloc) in a module of its own,
 * exporting malloc, free, calloc, realloc and malloc_usable_size (see wasm/build.sh): what a
 * user of an Emscripten-style module calls from JS. The benchmark compares against it; the compat
 * tests run our families and debug hooks over it (fromExports).
 *
 * Our own sbrk replaces wasi-libc's so that the heap starts at __heap_base of an imported
 * memory: the benchmark re-instantiates the module on the same (already touched) memory for
 * every run, after zeroing everything below __heap_base, which gives dlmalloc a fresh state on
 * warm pages, as every other allocator in the benchmark gets.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

extern unsigned char __heap_base;
static uintptr_t brk_top = 0;
static uintptr_t brk_peak = 0;

void *sbrk(intptr_t increment) {
  if (brk_top == 0) brk_top = brk_peak = (uintptr_t)&__heap_base;
  uintptr_t old = brk_top;
  if (increment == 0) return (void *)old;
  if (increment < 0) {
    brk_top = old + increment;
    return (void *)old;
  }
  uintptr_t want = old + (uintptr_t)increment;
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
  if (want > have && __builtin_wasm_memory_grow(0, (want - have + 65535u) / 65536u) == (size_t)-1) {
    errno = ENOMEM;
    return (void *)-1;
  }
  brk_top = want;
  if (want > brk_peak) brk_peak = want;
  return (void *)old;
}

/* Footprint as an sbrk would report it: the high water of the break. */
__attribute__((export_name("bench_peak"))) uintptr_t bench_peak(void) { return brk_peak; }
