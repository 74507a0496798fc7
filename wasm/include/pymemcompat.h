/*
 * wasm/include/pymemcompat.h — pymalloc for C compiled to WebAssembly: C's malloc, free, calloc
 * and realloc, and CPython's three allocator families by their names, from the pymalloc heap
 * the module shares with JS (instantiateWithHeap() links them; or heap.wasmImports() and, for
 * the Py* names, pymemImports(heap); in pymalloc mode they are WebAssembly functions: no call
 * leaves wasm on the fast path). Like CPython's Misc/pymemcompat.h, a C project copies it into its build.
 *
 *   PyMem_RawMalloc/RawCalloc/RawRealloc/RawFree   the raw family  ('r')
 *   PyMem_Malloc/Calloc/Realloc/Free               the mem family  ('m', C's malloc too)
 *   PyObject_Malloc/Calloc/Realloc/Free            the obj family  ('o')
 *
 * Memory from one family must be resized and freed by the same family: the debug modes
 * (allocator: "debug") report a PyObject_Malloc block freed by PyMem_Free as an api-mismatch.
 *
 * C's malloc/free/calloc/realloc are the imports env.malloc..., declared here. With wasi-libc,
 * also compile wasm/include/pymemcompat.c into the module: it defines malloc & co (forwarding to
 * the imports), so that wasm-ld does not pull wasi-libc's dlmalloc out of libc.a for them (a
 * declaration alone does not stop it: libc.a defines malloc). With Emscripten, link with
 * -sMALLOC=none -sERROR_ON_UNDEFINED_SYMBOLS=0 and the same C file (the README's line, which
 * test/emscripten.test.ts runs). See the README's "pymalloc inside WebAssembly".
 */
#ifndef PYMEMCOMPAT_H
#define PYMEMCOMPAT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYMEM_IMPORT_(name) __attribute__((import_module("env"), import_name(name)))

/* The heap's allocator as the module imports it (env.malloc & co: the mem family by default). */
void *pymem_import_malloc(size_t n) PYMEM_IMPORT_("malloc");
void pymem_import_free(void *p) PYMEM_IMPORT_("free");
void *pymem_import_calloc(size_t nelem, size_t elsize) PYMEM_IMPORT_("calloc");
void *pymem_import_realloc(void *p, size_t n) PYMEM_IMPORT_("realloc");
/* env.aligned_alloc: a block aligned to a power of two (pymemcompat.c's aligned_alloc & co). */
void *pymem_import_aligned_alloc(size_t alignment, size_t n) PYMEM_IMPORT_("aligned_alloc");
/* env.malloc_usable_size: heap.usableSize (the requested size in the debug modes). */
size_t pymem_import_usable_size(void *p) PYMEM_IMPORT_("malloc_usable_size");

/* pymemcompat.c's memalign (wasi-libc's headers do not declare it). */
void *memalign(size_t alignment, size_t n);

/* CPython's families (env.PyMem_RawMalloc, ...). */
void *PyMem_RawMalloc(size_t n) PYMEM_IMPORT_("PyMem_RawMalloc");
void *PyMem_RawCalloc(size_t nelem, size_t elsize) PYMEM_IMPORT_("PyMem_RawCalloc");
void *PyMem_RawRealloc(void *p, size_t n) PYMEM_IMPORT_("PyMem_RawRealloc");
void PyMem_RawFree(void *p) PYMEM_IMPORT_("PyMem_RawFree");
void *PyMem_Malloc(size_t n) PYMEM_IMPORT_("PyMem_Malloc");
void *PyMem_Calloc(size_t nelem, size_t elsize) PYMEM_IMPORT_("PyMem_Calloc");
void *PyMem_Realloc(void *p, size_t n) PYMEM_IMPORT_("PyMem_Realloc");
void PyMem_Free(void *p) PYMEM_IMPORT_("PyMem_Free");
void *PyObject_Malloc(size_t n) PYMEM_IMPORT_("PyObject_Malloc");
void *PyObject_Calloc(size_t nelem, size_t elsize) PYMEM_IMPORT_("PyObject_Calloc");
void *PyObject_Realloc(void *p, size_t n) PYMEM_IMPORT_("PyObject_Realloc");
void PyObject_Free(void *p) PYMEM_IMPORT_("PyObject_Free");

/* CPython 2.3's older spellings, as its pymemcompat.h maps them. */
#define PyMem_MALLOC PyMem_Malloc
#define PyMem_REALLOC PyMem_Realloc
#define PyMem_FREE PyMem_Free
#define PyObject_MALLOC PyObject_Malloc
#define PyObject_REALLOC PyObject_Realloc
#define PyObject_FREE PyObject_Free
#define PyObject_Del PyObject_Free
#define PyObject_DEL PyObject_Free

#ifndef PYMEMCOMPAT_NO_LIBC_NAMES
/* C's names. Without libc (-nostdlib), these declarations are all it takes. */
void *malloc(size_t n) PYMEM_IMPORT_("malloc");
void free(void *p) PYMEM_IMPORT_("free");
void *calloc(size_t nelem, size_t elsize) PYMEM_IMPORT_("calloc");
void *realloc(void *p, size_t n) PYMEM_IMPORT_("realloc");
/* clang turns a malloc whose block is then zeroed (memset, or a loop) into a call to calloc, even
 * in a file that never names calloc; its declaration of calloc then lacks the import above, and
 * without libc the link failed: "undefined symbol: calloc" (Oniguruma's regparse.c). A reference
 * kept here (4 bytes a file) makes every file declare calloc as the import, so that call is one. */
static void *(*const pymem_calloc_ref_)(size_t, size_t) __attribute__((used, unused)) = calloc;
#endif

#ifdef __cplusplus
}
#endif
#endif
