/*
 * wasm/clients/families.c — C code using CPython's allocator families through
 * wasm/include/pymemcompat.h, built without libc (wasm/build.sh): each function allocates or
 * frees through one family, so that the tests can make the mistake CPython's "What's New in
 * Python 2.3" warns C extension authors about (a PyObject_Malloc block freed with PyMem_Free)
 * and see the debug hooks report it.
 */
#include "pymemcompat.h"

__attribute__((export_name("obj_new"))) void *obj_new(size_t n) { return PyObject_Malloc(n); }
__attribute__((export_name("obj_del"))) void obj_del(void *p) { PyObject_Free(p); }
__attribute__((export_name("mem_new"))) void *mem_new(size_t n) { return PyMem_Malloc(n); }
__attribute__((export_name("mem_resize"))) void *mem_resize(void *p, size_t n) { return PyMem_Realloc(p, n); }
__attribute__((export_name("mem_del"))) void mem_del(void *p) { PyMem_Free(p); }
__attribute__((export_name("raw_new"))) void *raw_new(size_t nelem, size_t elsize) { return PyMem_RawCalloc(nelem, elsize); }
__attribute__((export_name("raw_del"))) void raw_del(void *p) { PyMem_RawFree(p); }
/* C's own names: the mem family (env.malloc...). */
__attribute__((export_name("c_malloc"))) void *c_malloc(size_t n) { return malloc(n); }
__attribute__((export_name("c_free"))) void c_free(void *p) { free(p); }

/* The bug: an object's memory released through the mem family. */
__attribute__((export_name("buggy_release"))) void buggy_release(size_t n) {
  void *op = PyObject_Malloc(n);
  PyMem_Free(op);
}
