/*
 * wasm/clients/replay.c — a CPython allocation trace replayed inside WebAssembly, by the
 * reference rule of ../shared/traces/FORMAT.md: for each event, malloc / calloc(1, n) / realloc
 * / free on ptr[slot], then one byte (slot & 0xff) written at offset 0 of a block of size > 0;
 * a 0-byte request passed as 1. setup() allocates the event array and ptr[] from the allocator
 * under test (the bench counts them out of the footprint), JS copies the decompressed events in,
 * then times replay(). (Static arrays would make a 70 MB module: with an imported memory, wasm-ld
 * writes .bss out as data.) Built twice by
 * wasm/build.sh from this one file: over wasi-libc's dlmalloc inside the module, and over
 * pymalloc (wasm/include/pymemcompat.c: malloc imported from the heap).
 */
#include <stdlib.h>

static unsigned *events;
static unsigned char **ptr;

/* Room for n events and a ptr[] of m slots (zeroed); returns where JS writes the events, or 0. */
__attribute__((export_name("setup"))) unsigned *setup(unsigned n, unsigned m) {
  events = malloc(8 * (size_t)n);
  ptr = calloc(m, sizeof *ptr);
  return events && ptr ? events : 0;
}

/* The timed loop. Returns a checksum of the blocks' first bytes (to keep the touches). */
__attribute__((export_name("replay"))) unsigned replay(unsigned count) {
  unsigned sum = 0;
  const unsigned *e = events;
  for (unsigned i = 0; i < count; i++, e += 2) {
    unsigned w = e[0];
    unsigned size = e[1];
    unsigned slot = w & 0x0fffffffu;
    unsigned char *p;
    switch (w >> 30) {
    case 0:
      p = malloc(size ? size : 1);
      break;
    case 1:
      p = calloc(1, size ? size : 1);
      break;
    case 2:
      p = realloc(ptr[slot], size ? size : 1);
      break;
    default:
      free(ptr[slot]);
      ptr[slot] = 0;
      continue;
    }
    ptr[slot] = p;
    if (size > 0) {
      p[0] = (unsigned char)slot;
      sum += p[0];
    }
  }
  return sum;
}

/* Untimed: free what is still live. */
__attribute__((export_name("release_all"))) void release_all(unsigned slots) {
  for (unsigned s = 0; s < slots; s++)
    if (ptr[s]) {
      free(ptr[s]);
      ptr[s] = 0;
    }
}
