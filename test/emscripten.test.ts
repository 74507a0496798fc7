// The README's Emscripten build line, run as written: C compiled by emcc (Debian's emscripten,
// which .ci/run installs; this test fails without it) into a standalone module with no malloc of
// its own, then run on a pymalloc heap by instantiateWithHeap(). The line is read from the README,
// so the documented line and the tested one cannot drift apart. Programs: wasm/clients/bintrees.c
// (plain C: malloc, realloc and free through wasm/include/pymemcompat.c), whose checksum must be
// the one of the clang-built module over wasi-libc's dlmalloc; wasm/clients/families.c (CPython's
// families by name), whose family mismatch the debug mode must report. The bintrees module is
// also linked by `pymalloc link` and run linked, plain and specialised. And a C++ program by em++
// with the same line (the README's word for C++), which compiles pymemcompat.c as C++.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { heapForModule, instantiateWithHeap, PymallocError, wasmModuleInfo } from "../src/index.js";
import { caught, expectRunsClean } from "./helpers.js";
import { linkFastPath } from "../src/compat/wasm-link.js";

const ROOT = join(import.meta.dirname, "..");
const OUT = mkdtempSync(join(tmpdir(), "pymalloc-emcc-"));
afterAll(() => rmSync(OUT, { recursive: true, force: true }));

/** The README's `emcc ...` command (backslash continuations joined), as argv. */
function readmeEmccLine(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const m = /^emcc (?:[^\n]*\\\n)*[^\n]*/m.exec(readme);
  if (!m) throw new Error("README has no emcc build line");
  return m[0].replace(/\\\n/g, " ").trim().split(/\s+/).slice(1);
}

/** Builds `src` with the README's line (prog.c -> src, prog.wasm -> a file in OUT); C++ by em++ (the README: "C++: em++ with the emcc line"), with `extra` arguments. */
function emcc(src: string, name: string, cxx?: { extra: string[] }): Uint8Array {
  const out = join(OUT, `${name}.wasm`);
  const args = readmeEmccLine().map((a) => (a === "prog.c" ? join(ROOT, src) : a === "prog.wasm" ? out : a));
  expect(args).toContain(join(ROOT, src));
  execFileSync(cxx ? "em++" : "emcc", [...args, ...(cxx?.extra ?? [])], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return new Uint8Array(readFileSync(out));
}

interface Bintrees {
  run(maxDepth: number, strings: number): number;
}

describe("C built by Emscripten with the README's line", () => {
  it("bintrees.c: no malloc of its own, the heap's allocator imported, the same checksum as over dlmalloc, on every allocator", async () => {
    const bytes = emcc("wasm/clients/bintrees.c", "bintrees");
    const info = wasmModuleInfo(bytes);
    expect(info.allocatorExports).toEqual([]);
    expect(info.allocatorImports).toEqual(expect.arrayContaining(["malloc", "free", "realloc"]));
    expect(info.memory?.maxBytes).toBeGreaterThan(info.memory!.minBytes); // it can grow

    const dlBytes = readFileSync(join(ROOT, "wasm/clients/bintrees-dlmalloc.wasm"));
    const memory = new WebAssembly.Memory({ initial: Math.ceil(wasmModuleInfo(dlBytes).memory!.minBytes / 65536), maximum: 65536 });
    const dl = new WebAssembly.Instance(new WebAssembly.Module(dlBytes), { env: { memory } });
    const want = (dl.exports as unknown as Bintrees).run(10, 20000) >>> 0;
    for (const allocator of ["pymalloc", "malloc", "debug"] as const) {
      // traceAllocations off: a JS stack capture through wasm frames costs ~45 us an allocation.
      const { instance, heap } = await instantiateWithHeap(bytes, { allocator, traceAllocations: false });
      expect((instance.exports as unknown as Bintrees).run(10, 20000) >>> 0).toBe(want);
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
    }
    // Depth 19 (a long-lived tree and a temporary one of a million 8-byte nodes each) takes more than the initial 16 MiB: the memory grows under the module.
    const { instance, heap } = await instantiateWithHeap(bytes);
    const before = heap.memory.byteLength;
    (instance.exports as unknown as Bintrees).run(19, 0);
    expect(heap.memory.byteLength).toBeGreaterThan(before);
    heap.check();
    // Linked by `pymalloc link` (the fast path merged in), plain and specialised: the same
    // checksum; the memory grows under the linked module too.
    const linked = await linkFastPath(bytes);
    for (const specialize of [false, true]) {
      const r = await instantiateWithHeap(linked, { specialize });
      expect((r.instance.exports as unknown as Bintrees).run(10, 20000) >>> 0).toBe(want);
      const size = r.heap.memory.byteLength;
      (r.instance.exports as unknown as Bintrees).run(19, 0);
      expect(r.heap.memory.byteLength).toBeGreaterThan(size);
      r.heap.check();
      expect(r.heap.stats().blocksInUse).toBe(0);
    }
  }, 120_000);

  it("a program calling getenv: Emscripten's libc allocates by its emscripten_builtin_* names, which pymemcompat.c defines (they were env imports nobody provides: a LinkError)", async () => {
    const src = join(OUT, "getenv.c");
    writeFileSync(
      src,
      `#include <stdlib.h>\n#include <string.h>\n__attribute__((export_name("run"))) int run(void) { const char *h = getenv("HOME"); char *p = malloc(32); strcpy(p, h ? h : "(none)"); int n = strlen(p); free(p); return n; }\n`,
    );
    const bytes = emcc(relative(ROOT, src), "getenv");
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).map((i) => `${i.module}.${i.name}`);
    expect(imports.filter((i) => i.includes("emscripten_builtin"))).toEqual([]);
    // An empty environment (WASI's two environ calls): HOME unset.
    const heap = heapForModule(bytes);
    const memory = heap.memory.source as WebAssembly.Memory;
    const zero = (at: number): void => void new DataView(memory.buffer).setUint32(at, 0, true);
    const wasi = { environ_sizes_get: (count: number, size: number) => (zero(count), zero(size), 0), environ_get: () => 0 };
    const { instance } = await instantiateWithHeap(bytes, { heap, imports: { wasi_snapshot_preview1: wasi } });
    expect((instance.exports as unknown as { run(): number }).run()).toBe("(none)".length);
    heap.check();
  }, 120_000);

  it("a program calling a C function Emscripten's standalone libc lacks (rename): the module's missing imports are named, all at once (a bare LinkError naming import #N)", async () => {
    const src = join(OUT, "undef.c");
    writeFileSync(src, `#include <stdio.h>\n#include <stdlib.h>\nvoid *volatile sink;\n__attribute__((export_name("run"))) int run(void) { sink = malloc(10); free(sink); return rename("a", "b"); }\n`);
    const bytes = emcc(relative(ROOT, src), "undef");
    const missing = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).filter((i) => i.module === "env" && i.kind === "function" && !["malloc", "free", "calloc", "realloc", "aligned_alloc", "malloc_usable_size"].includes(i.name));
    expect(missing.length).toBeGreaterThan(0);
    const wasi = new Proxy({}, { get: () => () => 0 }); // any WASI call: success
    const e = await instantiateWithHeap(bytes, { imports: { wasi_snapshot_preview1: wasi } }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(PymallocError);
    for (const m of missing) expect((e as Error).message).toContain(`env.${m.name}`);
  }, 120_000);

  it("C++ by em++ with the line (pymemcompat.c then compiled as C++): aligned new, std::vector and std::string run on the heap (pymemcompat.c's C++-mangled names left posix_memalign an import, refused with a message to compile in the pymemcompat.c that was compiled in)", async () => {
    const src = join(OUT, "cxx.cpp");
    writeFileSync(
      src,
      `#include <new>
#include <string>
#include <vector>
#include <cstdint>
struct alignas(64) Line { char bytes[64]; };
Line *volatile kept; // the blocks escape: clang may drop a new/delete pair it sees whole
extern "C" __attribute__((export_name("run"))) int run(int n) {
  std::vector<std::string> words;
  for (int i = 0; i < n; i++) words.push_back(std::string(i % 40, 'a' + i % 26) + std::to_string(i));
  size_t total = 0;
  for (const std::string &w : words) total += w.size();
  for (int i = 0; i < n; i++) {
    kept = new Line[3];
    if ((uintptr_t)kept % 64) return -1;
    kept[2].bytes[63] = 1;
    delete[] kept;
  }
  return (int)total;
}
`,
    );
    const bytes = emcc(relative(ROOT, src), "cxx", { extra: ["-std=c++17", "-Wno-deprecated"] });
    expect(WebAssembly.Module.imports(new WebAssembly.Module(bytes)).filter((i) => i.module === "env" && i.kind === "function").map((i) => i.name)).not.toContain("posix_memalign");
    // em++ exports malloc (pymemcompat.c's forwarder, with libc++ in): not an allocator of its own,
    // so the README's build check (allocatorExports empty) holds (it listed ["malloc"]: session 51).
    expect(WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name)).toContain("malloc");
    expect(wasmModuleInfo(bytes).allocatorExports).toEqual([]);
    let want = 0;
    for (let i = 0; i < 300; i++) want += (i % 40) + String(i).length;
    const wasi = { proc_exit: (code: number) => { throw new Error(`proc_exit(${code})`); } }; // abort(): not reached
    await expectRunsClean(bytes, 300, want, { wasi_snapshot_preview1: wasi });
  }, 120_000);

  it("a program calling reallocarray: pymemcompat.c's (Emscripten's libc declares it and leaves it to its allocator: an env.reallocarray import, refused with a message saying pymemcompat.c defines it, which it did not)", async () => {
    const src = join(OUT, "reallocarray.c");
    writeFileSync(
      src,
      `#include <stdlib.h>
#include <stdint.h>
#include <errno.h>
int *volatile kept;
__attribute__((export_name("run"))) int run(int n) {
  int *a = reallocarray(NULL, 4, sizeof(int));
  for (int i = 4; i <= n; i *= 2) { a = reallocarray(a, i, sizeof(int)); a[i - 1] = i; }
  errno = 0;
  kept = reallocarray(a, SIZE_MAX / 2, 4); /* overflows: NULL, ENOMEM, a untouched */
  int ok = kept == NULL && errno == ENOMEM && a[3] == 4;
  free(a);
  return ok;
}
`,
    );
    const bytes = emcc(relative(ROOT, src), "reallocarray");
    await expectRunsClean(bytes, 1000, 1);
  }, 120_000);

  it("families.c: PyMem_Free of a PyObject_Malloc block is an api-mismatch in debug mode", async () => {
    const bytes = emcc("wasm/clients/families.c", "families");
    const { instance, heap } = await instantiateWithHeap(bytes, { allocator: "debug" });
    const x = instance.exports as unknown as { obj_new(n: number): number; obj_del(p: number): void; buggy_release(n: number): void };
    const p = x.obj_new(40);
    expect(heap.usableSize(p)).toBe(40);
    x.obj_del(p);
    expect(caught(() => x.buggy_release(40)).kind).toBe("api-mismatch");
  }, 120_000);
});
