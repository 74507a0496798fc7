/*
 * wasm/peers/sbrk.h — the sbrk every benchmark peer module uses (included by emmalloc.c and
 * mimalloc.c here, and by wasm/dlmalloc/dlmalloc.c): the break starts at __heap_base of an
 * imported memory, grows it a page at a time as needed, and keeps its high-water mark, exported
 * as bench_peak (footprint as an sbrk would report it).
 */
#include <errno.h>
#include <stdint.h>
#include <stddef.h>

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
  if (want < old) {
    errno = ENOMEM;
    return (void *)-1;
  }
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
  if (want > have && __builtin_wasm_memory_grow(0, (want - have + 65535u) / 65536u) == (size_t)-1) {
    errno = ENOMEM;
    return (void *)-1;
  }
  brk_top = want;
  if (want > brk_peak) brk_peak = want;
  return (void *)old;
}

__attribute__((export_name("bench_peak"))) uintptr_t bench_peak(void) { return brk_peak; }
