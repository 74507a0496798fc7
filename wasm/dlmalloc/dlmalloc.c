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
#include <stdlib.h>

#include "../peers/sbrk.h" /* sbrk from __heap_base, and bench_peak: the same as the peers' */
