/*
 * wasm/clients/ctors.c — a small C module for the tests of instantiateWithHeap(): it allocates
 * from a constructor (so it must be initialised once its heap exists), is linked with a 1 MiB
 * stack (so its memory's declared minimum is above 1 MiB), and keeps its function names (so an
 * allocation site names the C function that called malloc).
 *
 * Built without libc for wasm32 (wasm/build.sh): malloc, free, calloc and realloc are imported.
 */

typedef unsigned long size_t;

void *malloc(size_t n);
void free(void *p);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);

static char *greeting;

__attribute__((constructor)) static void make_greeting(void) {
  static const char text[] = "hello from a constructor";
  greeting = malloc(sizeof text);
  if (greeting)
    for (size_t i = 0; i < sizeof text; i++) greeting[i] = text[i];
}

/* The string the constructor allocated (0 until the module is initialised). */
__attribute__((export_name("get_greeting"))) char *get_greeting(void) { return greeting; }

/* A block of n bytes, allocated from C (the allocation site of a leak in the tests). */
__attribute__((export_name("c_make_block"), noinline)) void *c_make_block(size_t n) { return malloc(n); }
__attribute__((export_name("c_free_block"))) void c_free_block(void *p) { free(p); }
__attribute__((export_name("c_calloc"))) void *c_calloc(size_t n, size_t m) { return calloc(n, m); }
__attribute__((export_name("c_realloc"))) void *c_realloc(void *p, size_t n) { return realloc(p, n); }

/* Uses the stack (so that the 1 MiB stack is not optimised away). */
__attribute__((export_name("stack_sum"))) int stack_sum(int n) {
  volatile int a[1024];
  int s = 0;
  for (int i = 0; i < 1024; i++) a[i] = i * n;
  for (int i = 0; i < 1024; i++) s += a[i];
  return s;
}
