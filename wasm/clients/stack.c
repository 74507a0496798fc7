/*
 * wasm/clients/stack.c — a client whose locals live on the C stack (a buffer a function that is
 * not inlined fills and reads), built for a shared memory with its stack pointer exported
 * (-mmutable-globals -Wl,--export=__stack_pointer), and a thread-local counter (its TLS symbols
 * exported): Workers that each instantiate it on one heap need a stack and a TLS block apiece
 * (instantiateWithHeap gives an attached handle's instance both), else they write over each
 * other's locals (test/wasm-stack.test.ts). No libc.
 */
#include <stddef.h>

void *malloc(size_t n);
void free(void *p);

__attribute__((noinline)) static void fill(volatile unsigned char *buf, int n, unsigned seed) {
  for (int i = 0; i < n; i++) buf[i] = (unsigned char)(seed * 31u + (unsigned)i * 7u);
}

__attribute__((noinline)) static unsigned sum(volatile unsigned char *buf, int n) {
  unsigned s = 0;
  for (int i = 0; i < n; i++) s = s * 33u + buf[i];
  return s;
}

/* A thread-local counter (-ftls-model=local-exec): each Worker's instance needs its own copy too. */
static _Thread_local unsigned rounds_done = 7;

__attribute__((noinline)) static unsigned count_round(void) { return ++rounds_done; }

/* rounds x (a 256-byte buffer on the stack filled from seed, a heap block between, the buffer read back). */
__attribute__((export_name("run"))) unsigned run(unsigned seed, int rounds) {
  unsigned s = 0;
  rounds_done = seed;
  for (int r = 0; r < rounds; r++) {
    s += count_round();
    volatile unsigned char buf[256];
    fill(buf, 256, seed + (unsigned)r);
    unsigned char *p = malloc(24 + (unsigned)(r % 200));
    if (p == NULL) return 0;
    p[0] = (unsigned char)r;
    s += p[0];
    free(p);
    s = s * 7u + sum(buf, 256);
  }
  return s;
}
