// The README's clang build lines (wasi-libc with pymemcompat.c, and without libc), run as
// written on a C program with a constructor that allocates: instantiateWithHeap must run the
// constructor once, not at every call. The lines are read from the README, so the documented
// lines and the tested ones cannot drift apart. Before 2026-12-06 the lines did not export
// __wasm_call_ctors, and wasm-ld then wraps every export of a module with constructors in a call
// to them: each call ran the constructors again (and leaked what they allocated). Also here: a
// program that uses only CPython's names (PyMem_Malloc, PyObject_Malloc...): listed in
// wasmModuleInfo's pymemImports, and `pymalloc link` says why it has nothing to link (those
// names stay calls into JS, where the debug modes tell the families apart). And C++ by clang++ on
// the same line, which compiles pymemcompat.c as C++: its definitions must keep C's names; and a
// program with fopen under node:wasi, whose constructors call WASI before node:wasi has a memory.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { heapForModule, instantiateWithHeap, MemoryCorruptionError, PymallocError, wasmModuleInfo } from "../src/index.js";
import { linkFastPath } from "../src/compat/wasm-link.js";
import { expectRunsClean } from "./helpers.js";

const ROOT = join(import.meta.dirname, "..");
const OUT = mkdtempSync(join(tmpdir(), "pymalloc-clang-"));
afterAll(() => rmSync(OUT, { recursive: true, force: true }));

/** The README's first `clang --target=TARGET ...` command naming `source` (backslash continuations joined), as argv. */
function readmeClangLine(target: string, source = "prog.c"): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const lines = [...readme.matchAll(new RegExp(`^clang --target=${target} (?:[^\\n]*\\\\\\n)*[^\\n]*`, "gm"))].map((m) => m[0].replace(/\\\n/g, " ").trim().split(/\s+/));
  const line = lines.find((l) => l.includes(source));
  if (!line) throw new Error(`README has no clang --target=${target} build line for ${source}`);
  return line.slice(1);
}

/**
 * Builds C source `code` with the README's line for `target` (prog.c, prog.wasm replaced), less the
 * arguments in `drop`; `cxx`: C++ source (prog.cpp) by clang++, with `extra` arguments (`c`: C source, by clang, with them).
 */
function build(target: string, name: string, code: string, drop: string[] = [], cxx?: { extra: string[]; c?: boolean }, program = "prog"): Uint8Array {
  const c = cxx?.c === true; // extra arguments for C source
  const src = join(OUT, `${name}.${cxx && !c ? "cpp" : "c"}`);
  writeFileSync(src, code);
  const out = join(OUT, `${name}.wasm`);
  const args = readmeClangLine(target, `${program}.c`)
    .filter((a) => !drop.includes(a))
    .map((a) => (a === `${program}.c` ? src : a === `${program}.wasm` ? out : a));
  expect(args).toContain(src);
  execFileSync(cxx && !c ? "clang++" : "clang", [...args, ...(cxx?.extra ?? [])], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return new Uint8Array(readFileSync(out));
}

/** A constructor that allocates; exports that allocate and free. With wasi-libc: strdup and qsort too. */
const WITH_LIBC = `
#include <stdlib.h>
#include <string.h>
static char *greeting;
static int runs;
__attribute__((constructor)) static void init(void) { runs++; greeting = strdup("constructed"); }
__attribute__((export_name("runs"))) int get_runs(void) { return runs; }
__attribute__((export_name("greeting"))) char *get_greeting(void) { return greeting; }
static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
__attribute__((export_name("churn"))) unsigned churn(int n) {
  char **s = malloc(n * sizeof *s);
  for (int i = 0; i < n; i++) {
    char buf[16]; int k = 0; unsigned v = (unsigned)i * 2654435761u;
    do buf[k++] = (char)('a' + v % 26); while ((v /= 26) != 0 && k < 15);
    buf[k] = 0;
    s[i] = strdup(buf);
  }
  qsort(s, n, sizeof *s, cmp);
  unsigned h = 0;
  for (int i = 0; i < n; i++) { for (char *c = s[i]; *c; c++) h = h * 31 + (unsigned char)*c; free(s[i]); }
  free(s);
  return h;
}
`;

/** The same without libc: malloc & co declared by pymemcompat.h. */
const NO_LIBC = `
#include "pymemcompat.h"
static char *greeting;
static int runs;
__attribute__((constructor)) static void init(void) { runs++; greeting = malloc(12); if (greeting) greeting[0] = 'c'; }
__attribute__((export_name("runs"))) int get_runs(void) { return runs; }
__attribute__((export_name("greeting"))) char *get_greeting(void) { return greeting; }
__attribute__((export_name("churn"))) unsigned churn(int n) {
  unsigned h = 0;
  for (int i = 0; i < n; i++) { char *p = malloc(8 + i % 200); p[0] = (char)i; h += (unsigned char)p[0]; free(p); }
  return h;
}
`;

/** Only CPython's names: no malloc, free, calloc or realloc of C's. */
const PY_NAMES = `
#include <string.h>
#include "pymemcompat.h"
__attribute__((export_name("churn"))) unsigned churn(int n) {
  unsigned h = 0;
  for (int i = 0; i < n; i++) {
    char *o = PyObject_Malloc(16 + i % 300), *m = PyMem_Calloc(1, 24), *r = PyMem_RawMalloc(1000);
    o[0] = (char)i; m[0] = 1; r[999] = 2;
    o = PyObject_Realloc(o, 40 + i % 500);
    h += (unsigned char)o[0] + (unsigned char)m[0] + (unsigned char)r[999];
    PyObject_Free(o); PyMem_Free(m); PyMem_RawFree(r);
  }
  return h;
}
`;

/** C++ over C's allocator functions (no libc++: built with -nostdlib++), aligned ones included: 0 when every check passes. */
const CXX = `
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
struct Node { Node *next; int v; };
extern "C" __attribute__((export_name("run"))) int run(int n) {
  Node *head = nullptr;
  for (int i = 0; i < n; i++) { Node *p = static_cast<Node *>(malloc(sizeof(Node))); p->next = head; p->v = i; head = p; }
  for (size_t a = 16; a <= 4096; a *= 2) {
    void *p = aligned_alloc(a, 100), *q = nullptr;
    if (!p || (uintptr_t)p % a || posix_memalign(&q, a, 200) || (uintptr_t)q % a) return 1;
    memset(p, 1, 100); memset(q, 2, 200);
    free(p); free(q);
  }
  int sum = 0;
  while (head) { Node *nx = head->next; sum += head->v; free(head); head = nx; }
  return sum == n * (n - 1) / 2 ? 0 : 2;
}
`;

interface Prog {
  runs(): number;
  greeting(): number;
  churn(n: number): number;
}

/** printf: wasi-libc's stdio, which imports WASI's fd_write & co. */
const PRINTS = `
#include <stdio.h>
#include <stdlib.h>
__attribute__((export_name("say"))) int say(int n) { char *p = malloc(32); int k = snprintf(p, 32, "%d", n); printf("%s\\n", p); free(p); return k; }
`;

describe("C built by clang with the README's lines", () => {
  it("a module that calls WASI (printf) instantiated without WASI imports: a TypeError naming the import and what to pass (was V8's 'module is not an object or function')", async () => {
    const bytes = build("wasm32-wasi", "prints", PRINTS);
    await expect(instantiateWithHeap(bytes)).rejects.toThrow(/the module imports wasi_snapshot_preview1\.\w+ \(a function\), and imports\.wasi_snapshot_preview1 is not given: .*node:wasi/);
  }, 120_000);

  it("a module that calls WASI given a shim that lacks some of its calls: the PymallocError names them as WASI calls and says to pass node:wasi's wasiImport whole (it said they were C functions the build left undefined, and sent the user to emcc's flag)", async () => {
    const bytes = build("wasm32-wasi", "prints-partial", PRINTS);
    const wasi = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).filter((d) => d.module === "wasi_snapshot_preview1").map((d) => d.name);
    expect(wasi).toContain("fd_write");
    const shim = { fd_write: () => 0 };
    const err = await instantiateWithHeap(bytes, { imports: { wasi_snapshot_preview1: shim } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PymallocError);
    const msg = (err as Error).message;
    for (const name of wasi.filter((n) => n !== "fd_write")) expect(msg).toContain(`wasi_snapshot_preview1.${name}`);
    expect(msg).toMatch(/WASI calls? \(.*\): pass node:wasi's new WASI\(\{ version: "preview1" \}\)\.wasiImport whole/);
    expect(msg).not.toMatch(/left undefined|ERROR_ON_UNDEFINED/);
  }, 120_000);

  it("a program with fopen (wasi-libc's constructors call WASI for the preopened directories) under node:wasi: instantiateWithHeap's PymallocError says to initialise WASI on the heap's memory first (it was node's untyped 'wasi.start() has not been called' from the constructors); the order it gives reads the file", async () => {
    writeFileSync(join(OUT, "words.txt"), "alpha\nbeta\ngamma\n");
    const bytes = build(
      "wasm32-wasi",
      "fopen",
      `#include <stdio.h>
#include <stdlib.h>
__attribute__((export_name("lines"))) int lines(void) {
  FILE *f = fopen("/data/words.txt", "r");
  if (!f) return -1;
  char *line = NULL; size_t cap = 0; int n = 0;
  while (getline(&line, &cap, f) > 0) n++;
  free(line); fclose(f);
  return n;
}
/* Blocks enough to grow the memory several times, freed after lines() ran again over them. */
__attribute__((export_name("grown"))) int grown(int k) {
  char **v = malloc(k * sizeof *v);
  for (int i = 0; i < k; i++) v[i] = malloc(4000);
  int n = lines();
  for (int i = 0; i < k; i++) free(v[i]);
  free(v);
  return n;
}
`,
    );
    const { WASI } = await import("node:wasi");
    const wasi = () => new WASI({ version: "preview1", preopens: { "/data": OUT } });
    const w1 = wasi();
    await expect(instantiateWithHeap(bytes, { imports: { wasi_snapshot_preview1: w1.wasiImport } })).rejects.toThrow(
      /initialiser \(__wasm_call_ctors\) called WASI before node:wasi was initialised .*heapForModule\(bytes\); wasi\.initialize/,
    );
    const w2 = wasi();
    const heap = heapForModule(bytes);
    w2.initialize({ exports: { memory: heap.memory.source } });
    const { instance } = await instantiateWithHeap(bytes, { heap, imports: { wasi_snapshot_preview1: w2.wasiImport } });
    const x = instance.exports as unknown as { lines(): number; grown(k: number): number };
    expect(x.lines()).toBe(3);
    // The memory starts at the module's minimum: node:wasi reads the file into it after it grew.
    const before = heap.memory.byteLength;
    expect(x.grown(1000)).toBe(3);
    expect(heap.memory.byteLength).toBeGreaterThan(before + (2 << 20));
    heap.check();
  }, 120_000);

  it("a module that imports env.posix_memalign (a build that left out pymemcompat.c): our PymallocError saying to compile it in (was V8's bare LinkError)", async () => {
    const bytes = build(
      "wasm32",
      "posix-memalign",
      `#include <stddef.h>
int imported_memalign(void **out, size_t alignment, size_t n) __attribute__((import_module("env"), import_name("posix_memalign")));
void *imported_malloc(size_t n) __attribute__((import_module("env"), import_name("malloc")));
__attribute__((export_name("f"))) void *f(void) { void *p = imported_malloc(8); imported_memalign(&p, 64, 100); return p; }
`,
    );
    await expect(instantiateWithHeap(bytes)).rejects.toThrow(/the module imports env\.posix_memalign, one of C's allocator functions that pymalloc does not link .*compile wasm\/include\/pymemcompat\.c into the module/);
  }, 120_000);

  it("a module that imports env.valloc (Emscripten's libc leaves it to the allocator -sMALLOC=none leaves out): the PymallocError does not send the user to pymemcompat.c, which does not define it (it said it did)", async () => {
    const bytes = build(
      "wasm32",
      "valloc",
      `#include <stddef.h>
void *imported_valloc(size_t n) __attribute__((import_module("env"), import_name("valloc")));
void *imported_malloc(size_t n) __attribute__((import_module("env"), import_name("malloc")));
void *volatile kept;
__attribute__((export_name("f"))) void f(void) { kept = imported_malloc(8); kept = imported_valloc(100); }
`,
    );
    await expect(instantiateWithHeap(bytes)).rejects.toThrow(/the module imports env\.valloc, one of C's allocator functions that pymalloc does not link .*: wasm\/include\/pymemcompat\.c does not define valloc either: call aligned_alloc/);
  }, 120_000);

  it("a program with main() built by the README's command line and started by wasi.start as the README says: every line printf buffered is written (exit() flushes stdout), exit(3) from below main comes back as 3, also linked; the reactor recipe it replaced (-nostartfiles, __main_void called) wrote 1 line of 41 and threw node:wasi's Symbol(kExitCode) for the exit", async () => {
    const MAIN = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void leave(int code) { exit(code); }
int main(int argc, char **argv) {
  char *kept[41]; /* 1.6 MB held: the heap grows the memory from JS between the printf calls */
  for (int i = 0; i < 41; i++) { kept[i] = malloc(40000 + i); if (!kept[i]) return 9; memset(kept[i], i, 40000); printf("line %d %s\\n", i, argv[1]); }
  for (int i = 0; i < 41; i++) free(kept[i]);
  leave(3);
}
`;
    const bytes = build("wasm32-wasi", "main", MAIN, [], undefined, "main");
    expect(wasmModuleInfo(bytes).initializer).toBeUndefined(); // _start runs the constructors
    const { WASI } = await import("node:wasi");
    const { openSync, closeSync } = await import("node:fs");
    const want = Array.from({ length: 41 }, (_, i) => `line ${i} arg\n`).join("");
    for (const linked of [false, true]) {
      const outFile = join(OUT, `main-${linked}.txt`);
      const fd = openSync(outFile, "w");
      const wasi = new WASI({ version: "preview1", args: ["main", "arg"], stdout: fd });
      const { instance, heap } = await instantiateWithHeap(linked ? await linkFastPath(bytes) : bytes, { imports: { wasi_snapshot_preview1: wasi.wasiImport } });
      const code = wasi.start({ exports: { _start: instance.exports._start, memory: heap.memory.source } } as unknown as WebAssembly.Instance);
      closeSync(fd);
      expect(code).toBe(3);
      expect(readFileSync(outFile, "utf8")).toBe(want);
      expect(heap.memory.byteLength).toBeGreaterThan(1_600_000);
      heap.check();
    }
  }, 120_000);

  it("the README's debug-build flags (-fno-builtin-malloc and the other three, read from the README) keep a seeded overflow, underflow, double free and use after free in the module, each reported by the debug mode; the line without them leaves none (clang removed every malloc: nothing is imported)", async () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8").replace(/\n/g, " ");
    const flags = /or at least `(-fno-builtin-malloc[^`]*)`/.exec(readme)?.[1].split(/\s+/);
    expect(flags).toEqual(["-fno-builtin-malloc", "-fno-builtin-free", "-fno-builtin-calloc", "-fno-builtin-realloc"]);
    const SEEDED = `#include <stdlib.h>
#include <string.h>
__attribute__((export_name("overflow"))) void overflow(void) { char *p = malloc(12); p[12] = 1; free(p); }
__attribute__((export_name("underflow"))) void underflow(void) { char *p = malloc(12); p[-1] = 1; free(p); }
__attribute__((export_name("double_free"))) void double_free(void) { char *p = malloc(12); p[0] = 1; free(p); free(p); }
__attribute__((export_name("use_after_free"))) void use_after_free(void) { char *p = malloc(40); memset(p, 1, 40); free(p); p[3] = 7; }
`;
    const plain = build("wasm32-wasi", "seeded-plain", SEEDED);
    expect(wasmModuleInfo(plain).allocatorImports).toEqual([]);
    const bytes = build("wasm32-wasi", "seeded", SEEDED, [], { extra: flags!, c: true });
    for (const [fn, kind] of [["overflow", "overflow"], ["underflow", "underflow"], ["double_free", "double-free"], ["use_after_free", "use-after-free"]]) {
      const { instance, heap } = await instantiateWithHeap(bytes, { allocator: "debug", traceAllocations: false });
      let found: unknown;
      try {
        (instance.exports[fn] as () => void)();
        heap.check();
      } catch (e) {
        found = e;
      }
      expect(found, fn).toBeInstanceOf(MemoryCorruptionError);
      expect((found as MemoryCorruptionError).kind).toBe(kind);
    }
  }, 120_000);

  it("a program with __attribute__((destructor)) (libxml2 has one) links with the -flto line and runs in every mode, linked too: the destructor becomes a __cxa_atexit call only in LTO's code generation, which pulls libc.a's atexit.o and its __libc_calloc after LTO dropped pymemcompat.c's (was wasm-ld's 'undefined symbol: __libc_calloc')", async () => {
    const DTOR = `#include <stdlib.h>
#include <string.h>
static char *kept;
__attribute__((constructor)) static void init(void) { kept = strdup("kept"); }
__attribute__((destructor)) static void fini(void) { free(kept); kept = 0; }
__attribute__((export_name("run"))) int run(int n) {
  int h = 0;
  for (int i = 0; i < n; i++) { char *p = malloc(16 + i % 100); p[0] = (char)i; h += (unsigned char)p[0]; free(p); }
  return h + (kept ? kept[0] : 0);
}
`;
    const want = Array.from({ length: 300 }, (_, i) => i & 255).reduce((a, b) => a + b, 0) + "k".charCodeAt(0);
    const reactor = build("wasm32-wasi", "dtor", DTOR);
    expect(wasmModuleInfo(reactor).allocatorImports).toEqual(expect.arrayContaining(["malloc", "free", "calloc"]));
    for (const allocator of ["pymalloc", "malloc", "debug"] as const) {
      for (const linked of [false, true]) {
        const { instance, heap } = await instantiateWithHeap(linked ? await linkFastPath(reactor) : reactor, { allocator, traceAllocations: false });
        expect((instance.exports as unknown as { run(n: number): number }).run(300)).toBe(want);
        heap.check();
      }
    }
  }, 120_000);

  it("without libc (the README's --target=wasm32 line): a malloc whose block is then zeroed, which clang turns into a call to calloc in a file that never names it, links as env.calloc and runs, linked too (was wasm-ld's 'undefined symbol: calloc': clang's own declaration lacked the import)", async () => {
    const ZEROED = `#include "pymemcompat.h"
__attribute__((export_name("run"))) int run(int n) {
  int *p = malloc(n * sizeof *p);
  if (!p) return -1;
  __builtin_memset(p, 0, n * sizeof *p);
  p[n / 2] += 3;
  int s = p[0] + p[n / 2] + p[n - 1];
  free(p);
  return s;
}
`;
    for (const lto of [false, true]) {
      const bytes = build("wasm32", `zeroed-${lto}`, ZEROED, [], { extra: ["-mbulk-memory", ...(lto ? ["-flto"] : [])], c: true });
      expect(wasmModuleInfo(bytes).allocatorImports).toEqual(expect.arrayContaining(["calloc", "free"]));
      for (const linked of [false, true]) {
        const { instance, heap } = await instantiateWithHeap(linked ? await linkFastPath(bytes) : bytes);
        expect((instance.exports as unknown as { run(n: number): number }).run(5000)).toBe(3);
        expect(heap.stats().blocksInUse).toBe(0);
        heap.check();
      }
    }
  }, 120_000);

  it.each([
    ["wasm32-wasi", WITH_LIBC],
    ["wasm32", NO_LIBC],
  ])("--target=%s: the constructors run once, however many calls follow", async (target, code) => {
    const bytes = build(target, `ctor-${target}`, code);
    expect(wasmModuleInfo(bytes).initializer).toBe("__wasm_call_ctors");
    for (const linked of [false, true]) {
      const { instance, heap } = await instantiateWithHeap(linked ? await linkFastPath(bytes) : bytes);
      const x = instance.exports as unknown as Prog;
      const g = x.greeting();
      expect(g).not.toBe(0);
      const want = x.churn(500);
      for (let i = 0; i < 5; i++) expect(x.churn(500)).toBe(want);
      expect(x.runs()).toBe(1);
      expect(x.greeting()).toBe(g);
      expect(heap.stats().blocksInUse).toBe(1); // the constructor's block, nothing leaked
      heap.check();
    }
  }, 120_000);

  it("without -Wl,--export=__wasm_call_ctors the same program runs its constructor at every call (why the README's lines export it)", async () => {
    const bytes = build("wasm32-wasi", "ctor-unexported", WITH_LIBC, ["-Wl,--export=__wasm_call_ctors"]);
    expect(wasmModuleInfo(bytes).initializer).toBeUndefined();
    const { instance, heap } = await instantiateWithHeap(bytes);
    const x = instance.exports as unknown as Prog;
    x.churn(10);
    x.churn(10);
    expect(x.runs()).toBeGreaterThan(1);
    expect(heap.stats().blocksInUse).toBeGreaterThan(1);
  }, 120_000);

  it("C++ by clang++ with the wasi-libc line (pymemcompat.c then compiled as C++): malloc & co, aligned_alloc and posix_memalign are pymemcompat.c's (its C++-mangled names left them to wasi-libc's dlmalloc, and the module was refused as carrying its own malloc)", async () => {
    const bytes = build("wasm32-wasi", "cxx", CXX, [], { extra: ["-nostdlib++", "-Wno-deprecated"] });
    const info = wasmModuleInfo(bytes);
    expect(info.allocatorImports).toEqual(expect.arrayContaining(["malloc", "free", "aligned_alloc"]));
    expect(info.allocatorExports).toEqual([]);
    await expectRunsClean(bytes, 200, 0);
  }, 120_000);

  it("a program that uses only CPython's names (wasi-libc line): wasmModuleInfo lists them, it runs in every mode, and pymalloc link says why it has nothing to link", async () => {
    const bytes = build("wasm32-wasi", "py-names", PY_NAMES);
    const info = wasmModuleInfo(bytes);
    expect(info.allocatorImports).toEqual([]);
    expect(info.pymemImports).toEqual(expect.arrayContaining(["PyObject_Malloc", "PyObject_Realloc", "PyObject_Free", "PyMem_Calloc", "PyMem_Free", "PyMem_RawMalloc", "PyMem_RawFree"]));
    let want: number | undefined;
    for (const allocator of ["pymalloc", "malloc", "debug"] as const) {
      const { instance, heap } = await instantiateWithHeap(bytes, { allocator, traceAllocations: false });
      const got = (instance.exports as unknown as Prog).churn(2000);
      want ??= got;
      expect(got).toBe(want);
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
    }
    await expect(linkFastPath(bytes)).rejects.toThrow(/only by CPython's names \(env\.Py.*stay calls into JS/);
  }, 120_000);
});
