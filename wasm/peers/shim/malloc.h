/* wasm/peers/shim/malloc.h — wasi-libc's malloc.h plus the struct mallinfo emmalloc.c fills (Emscripten's musl has it). */
#pragma once
#include_next <malloc.h>
struct mallinfo {
  int arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
