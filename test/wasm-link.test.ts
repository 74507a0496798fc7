// pymalloc's fast path linked into a C module (`pymalloc link`, issue #17): the merge-ready
// builds, the link step (binaryen's wasm-merge, from npm), and instantiateWithHeap with a linked
// module: the same results as the unlinked module, its fast path in use in pymalloc mode and
// never in the debug modes (every call then reaches the JS hooks), failAllocations reaching it,
// hardened and sampled heaps kept in JS, a module linked by another build refused, one instance
// per Worker on a shared memory.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { constants, heapForModule, instantiateWithHeap, MemoryCorruptionError, PymallocError, wasmModuleInfo, type AllocatorFunctions, type Heap } from "../src/index.js";
import { differential, type Ctors } from "./helpers.js";
import { buildId, readImports } from "../src/compat/wasm-bytes.js";
import { FASTPATH_MERGE_ID, FASTPATH_MERGE_SHARED_ID, FASTPATH_MERGE_SHARED_WASM, FASTPATH_MERGE_WASM } from "../src/compat/wasm-fastpath-bytes.js";
import { FAST_PATH_NAME_PREFIX, INLINED, LINK_SECTION, linkedInfo, linkFastPath, noInlinePatterns, wildcardMatch } from "../src/compat/wasm-link.js";
import { isOwnFrame } from "../src/debug/report.js";
import { readTraceFile } from "../src/trace/file.js";
import { fastPathNumbers, SPECIALIZED_SECTION, specializedFor } from "../src/compat/wasm-specialize.js";

const ROOT = join(import.meta.dirname, "..");
const bytes = (p: string): Uint8Array<ArrayBuffer> => new Uint8Array(readFileSync(join(ROOT, p)));
/** A module written in WAT, assembled by binaryen's wasm-as (from npm) with its names (-g). */
function assembleWat(wat: string): Uint8Array<ArrayBuffer> {
  const dir = mkdtempSync(join(tmpdir(), "pymalloc-wat-test-"));
  writeFileSync(join(dir, "m.wat"), wat);
  const wasmAs = join(dirname(createRequire(import.meta.url).resolve("binaryen/package.json")), "bin", "wasm-as");
  const as = spawnSync(process.execPath, [wasmAs, "-g", join(dir, "m.wat"), "-o", join(dir, "m.wasm")], { encoding: "utf8" });
  expect(as.status, as.stderr).toBe(0);
  return new Uint8Array(readFileSync(join(dir, "m.wasm")));
}
const linked: Record<string, Uint8Array<ArrayBuffer>> = {};

/** Count the calls that reach the heap's mem family in JS (the linked module's slow paths look it up at every call). */
function countJs(heap: Heap): { calls: number } {
  const c = { calls: 0 };
  const fam = heap.mem as unknown as Record<string, (...a: number[]) => number>;
  for (const name of ["malloc", "free", "calloc", "realloc"]) {
    const orig = fam[name].bind(fam);
    fam[name] = (...a: number[]) => (c.calls++, orig(...a));
  }
  return c;
}

beforeAll(async () => {
  for (const c of ["bintrees-pymalloc", "replay-pymalloc", "ctors", "ctors-shared", "aligned"]) linked[c] = await linkFastPath(bytes(`wasm/clients/${c}.wasm`));
  // Linked with malloc and free kept as functions (inline: false, `pymalloc link --no-inline`).
  for (const c of ["ctors", "aligned"]) linked[`${c}-calls`] = await linkFastPath(bytes(`wasm/clients/${c}.wasm`), { inline: false });
}, 180_000); // binaryen links seven clients: ~20 s on a quiet 2-core VM, past 60 s at load 14 (session 50)

describe("the merge-ready fast path", () => {
  it("is committed beside the other builds and embedded; it imports its memory as pymalloc_env.memory and the four slow paths, exports the client's four names, pymalloc_init, pymalloc_divert, pymalloc_stop and its memory; its id is its bytes' FNV-1a", () => {
    for (const [file, hex, id, shared] of [
      ["obmalloc-merge.wasm", FASTPATH_MERGE_WASM, FASTPATH_MERGE_ID, false],
      ["obmalloc-merge-shared.wasm", FASTPATH_MERGE_SHARED_WASM, FASTPATH_MERGE_SHARED_ID, true],
    ] as const) {
      const b = bytes(`wasm/obmalloc/${file}`);
      expect(Buffer.from(b).toString("hex")).toBe(hex);
      expect(buildId(b)).toBe(id);
      const m = new WebAssembly.Module(b);
      expect(WebAssembly.Module.imports(m).map((d) => `${d.module}.${d.name}`).sort()).toEqual(["pymalloc.calloc", "pymalloc.free", "pymalloc.malloc", "pymalloc.realloc", "pymalloc_env.memory"]);
      const names = WebAssembly.Module.exports(m).map((d) => d.name);
      expect(names.filter((n) => !n.startsWith("pymalloc_k_")).sort()).toEqual(["calloc", "free", "malloc", "memory", "pymalloc_divert", "pymalloc_init", "pymalloc_stop", "realloc"]);
      // The heap's numbers, globals init() alone sets (what specialize: true compiles in).
      expect(WebAssembly.Module.exports(m).filter((d) => d.name.startsWith("pymalloc_k_")).every((d) => d.kind === "global")).toBe(true);
      expect(names.filter((n) => n.startsWith("pymalloc_k_"))).toEqual(expect.arrayContaining(["pymalloc_k_poolShift", "pymalloc_k_usedBase", "pymalloc_k_owner", "pymalloc_k_mapBase", "pymalloc_k_mapBytes"]));
      expect(names).not.toContain("pymalloc_k_nFast"); // changes after init (divert)
      // Changes after init on a threads heap only (stop(), heap.detachThread): specialised without threads.
      expect(names).toContain("pymalloc_k_freeOwner");
      expect(readImports(b).find((i) => i.kind === 2)!.memory!.shared).toBe(shared);
    }
  });
});

describe("pymalloc link", () => {
  it("links a client: its malloc & co are no longer imports, its memory import is the client's (env.memory, same limits), a marker names the build; the same bytes every time", async () => {
    const client = bytes("wasm/clients/bintrees-pymalloc.wasm");
    const out = linked["bintrees-pymalloc"];
    const imports = readImports(out);
    expect(imports.filter((i) => i.module === "env").map((i) => i.name)).toEqual(["memory"]);
    expect(imports.find((i) => i.kind === 2)!.memory).toEqual(readImports(client).find((i) => i.kind === 2)!.memory);
    expect(imports.filter((i) => i.module === "pymalloc").map((i) => i.name).sort()).toEqual(["calloc", "free", "malloc", "realloc"]);
    const m = new WebAssembly.Module(out);
    expect(linkedInfo(m)).toEqual({ fastpath: FASTPATH_MERGE_ID, shared: false });
    expect(linkedInfo(new WebAssembly.Module(client))).toBeUndefined();
    expect(WebAssembly.Module.exports(m).map((d) => d.name)).toEqual(expect.arrayContaining(["run", "__heap_base", "pymalloc_init", "pymalloc_divert"]));
    expect(wasmModuleInfo(out).heapBase).toBe(wasmModuleInfo(client).heapBase);
    // wasmModuleInfo says it is linked: its exported malloc & co are the fast path's, no allocator
    // of its own (they were listed in allocatorExports, which the README's build check says must
    // be empty); the client, unlinked, says neither.
    expect(wasmModuleInfo(out)).toMatchObject({ linked: { fastpath: FASTPATH_MERGE_ID, shared: false }, allocatorExports: [], allocatorImports: [] });
    expect(wasmModuleInfo(linked["ctors-calls"]).linked).toEqual({ fastpath: FASTPATH_MERGE_ID, shared: false });
    expect(wasmModuleInfo(linked["ctors-calls"]).allocatorExports).toEqual([]);
    expect(wasmModuleInfo(client).linked).toBeUndefined();
    expect(wasmModuleInfo(bytes("wasm/dlmalloc/dlmalloc.wasm")).allocatorExports).toEqual(expect.arrayContaining(["malloc", "free"]));
    expect(Buffer.from(await linkFastPath(client)).equals(Buffer.from(out))).toBe(true);
    // An unlinked module that exports the malloc it imports (pymemcompat.c's forwarder: em++ exports
    // it whenever libc++ is in, as -Wl,--export=malloc does) has no allocator of its own: the
    // README's build check (allocatorExports empty) holds for it. It listed ["malloc"] (session 51).
    const forwarder = `(module
      (import "env" "memory" (memory 2))
      (import "env" "malloc" (func $imp_malloc (param i32) (result i32)))
      (import "env" "free" (func $imp_free (param i32)))
      (global $__heap_base i32 (i32.const 65536))
      (export "__heap_base" (global $__heap_base))
      (func $malloc (export "malloc") (param i32) (result i32) (call $imp_malloc (local.get 0)))
      (func $calloc (export "calloc") (param i32 i32) (result i32) (i32.const 0)))`;
    // malloc forwards to its import: not listed; calloc, not imported, is an allocator's own.
    expect(wasmModuleInfo(assembleWat(forwarder))).toMatchObject({ allocatorImports: ["malloc", "free"], allocatorExports: ["calloc"] });
    // A shared client gets the shared build, and keeps its maximum.
    expect(linkedInfo(new WebAssembly.Module(linked["ctors-shared"]))).toEqual({ fastpath: FASTPATH_MERGE_SHARED_ID, shared: true });
    expect(readImports(linked["ctors-shared"]).find((i) => i.kind === 2)!.memory).toEqual({ min: expect.any(Number), max: 1024, shared: true });
  });

  it("refuses a module with its own malloc, a linked module, a module with no memory import; the CLI writes the same bytes and reports errors in one line (exit 2)", async () => {
    await expect(linkFastPath(bytes("wasm/dlmalloc/dlmalloc.wasm"))).rejects.toThrow(/imports none of env\.malloc/);
    await expect(linkFastPath(linked["ctors"])).rejects.toThrow(/linked already/);
    await expect(linkFastPath(bytes("wasm/obmalloc/obmalloc.wasm").slice(0, 8))).rejects.toThrow(/env\.memory/);
    const dir = mkdtempSync(join(tmpdir(), "pymalloc-link-test-"));
    const bin = join(ROOT, "dist", "cli", "main.js");
    const ok = spawnSync(process.execPath, [bin, "link", join(ROOT, "wasm/clients/bintrees-pymalloc.wasm"), "-o", join(dir, "bt.wasm")], { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^linked pymalloc's fast path \(unshared memory, build [0-9a-f]{8}\) into .*bt\.wasm/);
    expect(readFileSync(join(dir, "bt.wasm")).equals(Buffer.from(linked["bintrees-pymalloc"]))).toBe(true);
    const bad = spawnSync(process.execPath, [bin, "link", join(ROOT, "wasm/dlmalloc/dlmalloc.wasm"), "-o", join(dir, "dl.wasm")], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr.split("\n")[0]).toMatch(/^pymalloc: .*dlmalloc\.wasm: the module imports none of env\.malloc/);
    expect(spawnSync(process.execPath, [bin, "link", "x.wasm"], { encoding: "utf8" }).status).toBe(2);
  });

  it("inlines malloc, free and calloc at C's calls by default; inline: false (the CLI's --no-inline) keeps them calls; a non-boolean inline is a TypeError", async () => {
    const client = bytes("wasm/clients/bintrees-pymalloc.wasm");
    const calls = await linkFastPath(client, { inline: false });
    expect(linkedInfo(new WebAssembly.Module(calls))).toEqual({ fastpath: FASTPATH_MERGE_ID, shared: false });
    // Inlined: the fast path's malloc, free and calloc written into each C function that calls them.
    expect(linked["bintrees-pymalloc"].length).toBeGreaterThan(calls.length);
    const dir = mkdtempSync(join(tmpdir(), "pymalloc-link-test-"));
    const r = spawnSync(process.execPath, [join(ROOT, "dist", "cli", "main.js"), "link", join(ROOT, "wasm/clients/bintrees-pymalloc.wasm"), "-o", join(dir, "bt.wasm"), "--no-inline"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/malloc, free and calloc not inlined\)$/m);
    expect(readFileSync(join(dir, "bt.wasm")).equals(Buffer.from(calls))).toBe(true);
    await expect(linkFastPath(client, { inline: "yes" as never })).rejects.toThrow(TypeError);
    // Both compute what the module as it is computes (the same checksum).
    const results = [];
    for (const b of [linked["bintrees-pymalloc"], calls]) {
      const { instance, heap } = await instantiateWithHeap(b);
      results.push((instance.exports as unknown as { run(d: number, s: number): number }).run(8, 2000));
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
    }
    const { instance } = await instantiateWithHeap(client);
    expect(results).toEqual([0, 0].map(() => (instance.exports as unknown as { run(d: number, s: number): number }).run(8, 2000)));
  });

  it("a function with many calls keeps few locals once they are inlined (coalesce-locals after binaryen's inlining: V8's Liftoff compiles in time the locals times the code)", async () => {
    // 60 malloc/free pairs in one function. binaryen's inlining gives each inlined copy locals of
    // its own: ~5 a call, 600+ here (libyaml's load_walk, 123 calls: 13 -> 585 locals, its first
    // call's Liftoff compile 1.2 s in a default node against 2 ms unlinked; session 51).
    const pairs = Array.from({ length: 60 }, (_, i) => `(local.set $p (call $malloc (i32.add (local.get 0) (i32.const ${i * 8}))))
        (i32.store (local.get $p) (i32.const ${i}))
        (local.set $s (i32.add (local.get $s) (i32.load (local.get $p))))
        (call $free (local.get $p))`).join("\n        ");
    const wat = `(module
      (import "env" "memory" (memory 2))
      (import "env" "malloc" (func $malloc (param i32) (result i32)))
      (import "env" "free" (func $free (param i32)))
      (global $__heap_base i32 (i32.const 65536))
      (export "__heap_base" (global $__heap_base))
      (func $churn (export "churn") (param i32) (result i32) (local $p i32) (local $s i32)
        ${pairs}
        (local.get $s)))`;
    const client = assembleWat(wat);
    const out = await linkFastPath(client);
    const binaryen = ((await import("binaryen")) as unknown as { default: { readBinary(b: Uint8Array): { getFunction(n: string): number; dispose(): void }; getFunctionInfo(f: number): { vars: number[]; body: number } } }).default;
    const m = binaryen.readBinary(out);
    const vars = binaryen.getFunctionInfo(m.getFunction("churn")).vars.length;
    m.dispose();
    expect(vars).toBeLessThanOrEqual(24); // inlined without coalescing: 600 and more
    // And it computes what the module as it is computes: the sum of 0..59 stored in each block.
    for (const b of [client, out]) {
      const { instance, heap } = await instantiateWithHeap(b);
      expect((instance.exports as unknown as { churn(n: number): number }).churn(40)).toBe(1770);
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
    }
  });

  it("the no-inline patterns match every function but malloc, free and calloc, with few patterns for many names; a name no pattern can tell from theirs is an error", () => {
    expect(wildcardMatch("ab*", "abc")).toBe(true);
    expect(wildcardMatch("a?c", "abc")).toBe(true);
    expect(wildcardMatch("a*c", "ac")).toBe(true);
    expect(wildcardMatch("ab", "abc")).toBe(false);
    expect(wildcardMatch("b*", "abc")).toBe(false);
    const names = [...INLINED, "main", "malloc", "pymalloc.callo", "pymalloc.calloc2", "pymalloc.f12", "pymalloc.f7", "pymalloc.fr", "pymalloc.mal", "pymalloc.malloc2", "a*b", "x?", ""];
    for (let i = 0; i < 2000; i++) names.push(`c_function_${i}`, `_ZN3foo${i}Ev`);
    const patterns = noInlinePatterns(names, INLINED);
    expect(patterns.length).toBeLessThan(20);
    for (const n of names) expect(patterns.some((q) => wildcardMatch(q, n)), n).toBe(!INLINED.includes(n));
    expect(() => noInlinePatterns(["pymalloc.mall?c"], INLINED)).toThrow(/cannot be kept from inlining.*--no-inline/);
  });

  it("--wasm-merge / wasmMerge: binaryen's npm script by a relative path, a native program run as it is; one that fails, writes nothing or is missing is named in one line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pymalloc-link-test-"));
    const bin = join(ROOT, "dist", "cli", "main.js");
    const client = join(ROOT, "wasm/clients/bintrees-pymalloc.wasm");
    const run = (merge: string) => spawnSync(process.execPath, [bin, "link", client, "-o", join(dir, "bt.wasm"), "--wasm-merge", merge], { encoding: "utf8", cwd: ROOT });
    const ok = run("node_modules/binaryen/bin/wasm-merge"); // relative to the working directory, not the linker's own
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(join(dir, "bt.wasm")).equals(Buffer.from(linked["bintrees-pymalloc"]))).toBe(true);
    for (const [merge, said] of [
      ["/bin/false", /^pymalloc: wasm-merge \(\/bin\/false\) failed: exit status 1, and said nothing$/],
      ["/bin/true", /^pymalloc: wasm-merge \(\/bin\/true\) failed: it exited with status 0 but wrote no merged module$/],
      [join(dir, "none"), /^pymalloc: no wasm-merge at .*none: give the path/],
      [join(ROOT, "package.json"), /^pymalloc: wasm-merge \(.*package\.json\) failed: EACCES \(not an executable file\), and said nothing$/],
    ] as const) {
      const r = run(merge);
      expect(r.status, merge).toBe(1);
      expect(r.stderr.trim(), merge).toMatch(said);
    }
    await expect(linkFastPath(bytes("wasm/clients/bintrees-pymalloc.wasm"), { wasmMerge: join(dir, "none") })).rejects.toThrow(/no wasm-merge at/);
    await expect(linkFastPath(bytes("wasm/clients/bintrees-pymalloc.wasm"), { wasmMerge: 7 as never })).rejects.toThrow(TypeError);
  });
});

describe("instantiateWithHeap() with a linked module", () => {
  it("a heap past 256 MiB (the pool map's high part): linked and specialised modules free there inside wasm, with the unlinked module's results", async () => {
    const results: number[] = [];
    for (const [b, specialize] of [[bytes("wasm/clients/bintrees-pymalloc.wasm"), false], [linked["bintrees-pymalloc"], false], [linked["bintrees-pymalloc"], true]] as const) {
      const { instance, heap } = await instantiateWithHeap(b, { traceAllocations: false, specialize });
      const big = heap.raw.malloc(2 ** constants.POOL_MAP_LOW_SHIFT + (2 << 20)); // C's blocks land past the map's low part
      const js = countJs(heap);
      results.push((instance.exports as unknown as { run(d: number, s: number): number }).run(10, 2000) >>> 0);
      expect(heap.u32[(heap.heapBase >>> 2) + constants.H.POOL_MAP_HIGH]).toBeGreaterThan(2 ** constants.POOL_MAP_LOW_SHIFT);
      if (b === linked["bintrees-pymalloc"]) expect(js.calls).toBeLessThan(400); // the fast path serves C past 256 MiB too
      heap.check();
      heap.raw.free(big);
      expect(heap.stats().blocksInUse).toBe(0);
    }
    expect(new Set(results).size).toBe(1);
  });

  it("binary trees and the trace replayer: the same results as the unlinked module; the fast path serves C inside the module (few calls into JS); the heap checks clean", async () => {
    const run = async (b: Uint8Array<ArrayBuffer>, allocator: "pymalloc" | "pymalloc_debug") => {
      const { instance, heap } = await instantiateWithHeap(b, { allocator, traceAllocations: false });
      const js = countJs(heap);
      const sum = (instance.exports as unknown as { run(d: number, s: number): number }).run(10, 20_000) >>> 0;
      heap.check();
      expect(heap.stats().blocksInUse).toBe(0);
      return { sum, js: js.calls };
    };
    const plain = await run(bytes("wasm/clients/bintrees-pymalloc.wasm"), "pymalloc");
    const fast = await run(linked["bintrees-pymalloc"], "pymalloc");
    expect(fast.sum).toBe(plain.sum);
    expect(fast.js).toBeLessThan(400); // as the unlinked fast path: the arenas' own work
    const debug = await run(linked["bintrees-pymalloc"], "pymalloc_debug");
    expect(debug.sum).toBe(plain.sum);
    expect(debug.js).toBeGreaterThan(100_000); // every call reaches the JS hooks
    const t = readTraceFile(join(ROOT, "data/compileall-head.pymtrace.gz"));
    const sums: number[] = [];
    for (const b of [bytes("wasm/clients/replay-pymalloc.wasm"), linked["replay-pymalloc"]]) {
      const { instance, heap } = await instantiateWithHeap(b);
      const x = instance.exports as unknown as Record<string, (...a: number[]) => number>;
      const ev = x.setup(t.count, t.maxSlots) >>> 0;
      new Uint32Array((heap.memory.source as WebAssembly.Memory).buffer, ev, 2 * t.count).set(t.events.subarray(0, 2 * t.count));
      sums.push(x.replay(t.count) >>> 0);
      heap.check();
      x.release_all(t.maxSlots);
      heap.check();
      expect(heap.stats().blocksInUse).toBe(2);
    }
    expect(sums[1]).toBe(sums[0]);
  });

  it("the debug modes: every call goes to the JS hooks, so an overflow by C is reported with the C function that allocated (names kept when the client kept them)", async () => {
    for (const allocator of ["debug", "pymalloc_debug"] as const) {
      const { instance, heap } = await instantiateWithHeap(linked["ctors"], { allocator });
      const x = instance.exports as unknown as Ctors;
      expect(heap.leaks().totalBlocks).toBe(1); // the constructor's block, from the heap
      const p = x.c_make_block(24);
      // The site's first frame is the C function (the linked fast path's frames, pymalloc.*, dropped).
      expect(heap.leaks().bySite.some((s) => /^at c_make_block \(wasm:\/\//.test(s.site))).toBe(true);
      heap.u8[p + 24] = 0x41;
      expect(() => x.c_free_block(p)).toThrow(MemoryCorruptionError);
    }
  });

  it("failAllocations() reaches the linked fast path; hardened: true and sampled heaps never start it (their calls go to JS); the raw family neither", async () => {
    const { instance, heap } = await instantiateWithHeap(linked["ctors"]);
    const x = instance.exports as unknown as Ctors;
    const keep = x.c_make_block(40);
    heap.failAllocations({ family: "mem", every: 2 });
    const got = [x.c_make_block(40), x.c_make_block(40), x.c_calloc(4, 10), x.c_calloc(4, 10), x.c_make_block(4000), x.c_make_block(4000)];
    expect(got.map((p) => p !== 0)).toEqual([true, false, true, false, true, false]);
    const moved = x.c_realloc(keep, 400);
    expect(moved).not.toBe(0);
    expect(x.c_realloc(moved, 4000)).toBe(0);
    expect(heap.failAllocations(null)).toBe(4);
    const js = countJs(heap);
    for (let i = 0; i < 10; i++) expect(x.c_make_block(40)).not.toBe(0);
    expect(js.calls).toBe(0); // back on the fast path
    heap.check();
    for (const options of [{ hardened: true }, { sampleInterval: 4096 }, { family: "raw" as const }]) {
      const r = await instantiateWithHeap(linked["ctors"], options);
      const c = countJs(r.heap);
      const raw = options.family === "raw" ? (r.heap.raw as unknown as Record<string, (...a: number[]) => number>) : undefined;
      let rawCalls = 0;
      if (raw !== undefined) {
        const orig = raw.malloc.bind(raw);
        raw.malloc = (n: number) => (rawCalls++, orig(n));
      }
      const y = r.instance.exports as unknown as Ctors;
      y.c_free_block(y.c_make_block(40));
      expect(c.calls + rawCalls, JSON.stringify(options)).toBe(options.family === "raw" ? 1 : 2);
      r.heap.check();
    }
  });

  it("a compiled module (the heap made after instantiation), the heap option (compiled once, instantiated on heapForModule's heap), and what is refused: wrapAllocator, a module linked by another build", async () => {
    const late = await instantiateWithHeap(new WebAssembly.Module(linked["ctors"]), { initialBytes: 4 << 20 });
    const y = late.instance.exports as unknown as Ctors;
    const p = y.c_make_block(40);
    expect(late.heap.usableSize(p)).toBe(40);
    y.c_free_block(p);
    late.heap.check();
    const module = new WebAssembly.Module(linked["bintrees-pymalloc"]);
    const sums = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const heap = heapForModule(linked["bintrees-pymalloc"]);
      const { instance, heap: same } = await instantiateWithHeap(module, { heap });
      expect(same).toBe(heap);
      sums.add((instance.exports as unknown as { run(d: number, s: number): number }).run(8, 1000));
      heap.check();
    }
    expect(sums.size).toBe(1);
    await expect(instantiateWithHeap(module, { heap: heapForModule(linked["bintrees-pymalloc"]), allocator: "debug" })).rejects.toThrow(/allocator would be options of a new heap/);
    await expect(instantiateWithHeap(linked["ctors"], { wrapAllocator: (h) => h })).rejects.toThrow(/calls inside the module/);
    await expect(instantiateWithHeap(linked["ctors"], { imports: { pymalloc: {} } })).rejects.toThrow(/imports\.pymalloc/);
    // Another build's marker (the id rewritten in place): refused before it can touch the heap.
    const other = linked["ctors"].slice();
    const text = Buffer.from(other).indexOf(`{"fastpath":"${FASTPATH_MERGE_ID}"`);
    expect(text).toBeGreaterThan(0);
    other.set(new TextEncoder().encode("deadbeef"), text + '{"fastpath":"'.length);
    const err = await instantiateWithHeap(other).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PymallocError);
    expect((err as Error).message).toMatch(/linked with another build of pymalloc's fast path \(deadbeef.*pymalloc link/);
    expect(LINK_SECTION).toBe("pymalloc.linked");
  });

  it("aligned allocation and malloc_usable_size still reach the heap through env (imports the link leaves)", async () => {
    const { instance, heap } = await instantiateWithHeap(linked["aligned"]);
    const x = instance.exports as unknown as { pm_align(a: number, n: number): number; al_alloc(a: number, n: number): number; usable(p: number): number; c_free(p: number): void };
    for (const [a, n] of [[8, 24], [64, 100], [4096, 70000]]) {
      const p = x.pm_align(a, n);
      expect(p % a).toBe(0);
      expect(x.usable(p)).toBe(heap.usableSize(p));
      x.c_free(p);
    }
    heap.check();
    expect(heap.leaks().totalBlocks).toBe(0);
  });
});

describe("the allocation site of a block C allocated, in the debug modes", () => {
  /** The site of each live block, by address. */
  const sites = (heap: Heap): Map<number, string> => new Map(heap.leaks().blocks.map((b) => [b.address, b.site]));

  it("starts at the C function that called malloc, calloc or realloc: a module importing env.malloc, its linked copy, with specialize: true (not made in the debug modes)", async () => {
    for (const allocator of ["debug", "pymalloc_debug"] as const)
      for (const [what, b, specialize] of [
        ["imports", bytes("wasm/clients/ctors.wasm"), false],
        ["linked", linked["ctors"], false],
        ["linked, specialize: true", linked["ctors"], true],
        ["linked --no-inline", linked["ctors-calls"], false],
      ] as const) {
        const { instance, heap } = await instantiateWithHeap(b, { allocator, specialize });
        const x = instance.exports as unknown as Ctors;
        const p = x.c_make_block(24);
        const q = x.c_calloc(3, 8);
        const r = x.c_realloc(x.c_make_block(8), 100);
        const at = sites(heap);
        const label = `${what}, ${allocator}`;
        expect(at.get(p), label).toMatch(/^at c_make_block \(wasm:\/\/[^)]*\) <- at /);
        expect(at.get(q), label).toMatch(/^at c_calloc \(wasm:\/\//);
        expect(at.get(r), label).toMatch(/^at c_realloc \(wasm:\/\//);
        // The full stack of a report keeps every frame: linked --no-inline, the fast path's named
        // pymalloc.malloc; linked (malloc inlined into C's function), C's function called the
        // slow path itself, as a module importing its malloc does.
        heap.u8[p + 24] = 0x41;
        const err = (() => {
          try {
            x.c_free_block(p);
          } catch (e) {
            return e;
          }
        })();
        expect(err, label).toBeInstanceOf(MemoryCorruptionError);
        const stack = (err as MemoryCorruptionError).report.allocatedStack!;
        expect(stack, label).toMatch(what === "linked --no-inline" ? /\n\s*at pymalloc\.malloc \(wasm:[^\n]*\n\s*at c_make_block \(wasm:/ : /\n\s*at c_make_block \(wasm:/);
        if (what !== "linked --no-inline") expect(stack, label).not.toContain(FAST_PATH_NAME_PREFIX);
        // allocatedAt starts at C's function, pymalloc's frames left out.
        expect((err as MemoryCorruptionError).report.allocatedAt, label).toMatch(/^at c_make_block \(wasm:/);
      }
  });

  it("traceAllocations: N keeps N frames of C's stack whether the module imports its malloc or has the fast path linked in (pymalloc's own frames not counted)", async () => {
    for (const [what, b] of [["imports", bytes("wasm/clients/ctors.wasm")], ["linked", linked["ctors"]]] as const)
      for (const frames of [1, 2, 3]) {
        const { instance, heap } = await instantiateWithHeap(b, { allocator: "debug", traceAllocations: frames });
        const x = instance.exports as unknown as Ctors;
        const p = x.c_make_block(24);
        heap.u8[p + 24] = 0x41;
        let err: unknown;
        try {
          x.c_free_block(p);
        } catch (e) {
          err = e;
        }
        expect(err, what).toBeInstanceOf(MemoryCorruptionError);
        const kept = (err as MemoryCorruptionError).report.allocatedAt!.split("\n");
        expect(kept).toEqual((err as MemoryCorruptionError).report.allocatedStack!.split("\n").slice(1).map((l) => l.trim()).filter((l) => !isOwnFrame(l)));
        expect(kept.length, `${what}, ${frames} frames`).toBe(frames);
        expect(kept[0], what).toMatch(/^\s*at c_make_block \(wasm:/);
      }
  });

  it("with sampled sites (release mode, sampleInterval) and in a formatted report, C's function is the site too", async () => {
    for (const [what, b] of [["imports", bytes("wasm/clients/ctors.wasm")], ["linked", linked["ctors"]]] as const) {
      const { instance, heap } = await instantiateWithHeap(b, { sampleInterval: 1 });
      const x = instance.exports as unknown as Ctors;
      x.c_make_block(24);
      expect(heap.leaks().bySite.map((s) => s.site), what).toContainEqual(expect.stringMatching(/^at c_make_block \(wasm:\/\//));
    }
    const { instance, heap } = await instantiateWithHeap(linked["ctors"], { allocator: "debug" });
    const x = instance.exports as unknown as Ctors;
    const p = x.c_make_block(24);
    heap.u8[p + 24] = 0x41;
    const err = (() => {
      try {
        x.c_free_block(p);
      } catch (e) {
        return e as MemoryCorruptionError;
      }
    })();
    // formatReport's "allocated at:" lines start at the C function, the fast path's frames left out.
    expect(String(err?.message)).toMatch(/allocated at:\n\s*at c_make_block \(wasm:/);
  });

  it("a client linked without names (--strip-all): the fast path's functions are named pymalloc.* in the linked module, and the site starts at the frame after them (a specialised module keeps the names)", async () => {
    for (const [what, b] of [["linked", linked["aligned"]], ["linked --no-inline", linked["aligned-calls"]]] as const) {
      const { instance, heap } = await instantiateWithHeap(b, { allocator: "debug" });
      const x = instance.exports as unknown as { pm_align(a: number, n: number): number; c_free(p: number): void };
      const p = x.pm_align(8, 24); // posix_memalign -> malloc: the linked fast path
      const site = sites(heap).get(p)!;
      heap.u8[p + 24] = 0x41;
      const err = (() => {
        try {
          x.c_free(p);
        } catch (e) {
          return e as MemoryCorruptionError;
        }
      })();
      expect(err, what).toBeInstanceOf(MemoryCorruptionError);
      const frames = err!.report.allocatedStack!.split("\n").map((l) => l.trim());
      expect(site, what).not.toContain(FAST_PATH_NAME_PREFIX);
      // C's frame (posix_memalign, unnamed): after pymalloc.malloc's (--no-inline), or the first wasm frame (malloc inlined into it).
      const first = frames.findIndex((l) => l.includes("(wasm:"));
      if (what === "linked --no-inline") {
        expect(frames[first], frames.join("\n")).toMatch(new RegExp(`^at ${FAST_PATH_NAME_PREFIX.replace(".", "\\.")}malloc \\(wasm:`));
        expect(site.split(" <- ")[0]).toBe(frames[first + 1]);
      } else {
        expect(frames.join("\n")).not.toContain(FAST_PATH_NAME_PREFIX);
        expect(site.split(" <- ")[0]).toBe(frames[first]);
      }
    }
    // In a specialised module (pymalloc mode) too: free's slow part is called by C's function
    // (free inlined into it), or by pymalloc.free, named (--no-inline).
    for (const [what, b] of [["linked", linked["ctors"]], ["linked --no-inline", linked["ctors-calls"]]] as const) {
      const s = await instantiateWithHeap(b, { specialize: true });
      expect(specializedFor(s.module)).toBeDefined();
      const y = s.instance.exports as unknown as Ctors;
      const blk = y.c_make_block(24);
      const e = (() => {
        try {
          y.c_free_block(blk + 4);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(e, what).toBeInstanceOf(PymallocError);
      expect(e?.stack, what).toMatch(what === "linked" ? /\n\s*at c_free_block \(wasm:/ : /\n\s*at pymalloc\.free \(wasm:[^\n]*\n\s*at c_free_block \(wasm:/);
      y.c_free_block(blk);
      s.heap.check();
    }
  });

  it("wasm/include/pymemcompat.c's forwarders (malloc & co as functions of their own: built without -flto, or called by libc) are not the site", async () => {
    const wat = `(module
      (import "env" "memory" (memory 2))
      (import "env" "malloc" (func $imp_malloc (param i32) (result i32)))
      (import "env" "free" (func $imp_free (param i32)))
      (global $__heap_base i32 (i32.const 65536))
      (export "__heap_base" (global $__heap_base))
      (func $malloc (param i32) (result i32) (call $imp_malloc (local.get 0)))
      (func $free (param i32) (call $imp_free (local.get 0)))
      (func $make_thing (export "make_thing") (param i32) (result i32) (call $malloc (local.get 0)))
      (func $drop_thing (export "drop_thing") (param i32) (call $free (local.get 0))))`;
    const client = assembleWat(wat);
    for (const b of [client, await linkFastPath(client)])
      for (const allocator of ["debug", "pymalloc_debug"] as const) {
        const { instance, heap } = await instantiateWithHeap(b, { allocator });
        const x = instance.exports as unknown as { make_thing(n: number): number; drop_thing(p: number): void };
        const p = x.make_thing(10);
        expect(sites(heap).get(p)).toMatch(/^at make_thing \(wasm:\/\//);
        x.drop_thing(p);
        heap.check();
      }
  });
});

describe("instantiateWithHeap(bytes, { specialize: true }): the heap's numbers compiled in", () => {
  it("the numbers are the heap's (pool shift, this handle's slot, the pool map); binary trees and the replayer give the unspecialised results; the heap checks clean", async () => {
    const { instance, heap, module } = await instantiateWithHeap(linked["bintrees-pymalloc"], { specialize: true, poolSize: 4096 });
    const made = JSON.parse(specializedFor(module)!);
    expect(made).toEqual(fastPathNumbers(heap, false));
    expect(made).toMatchObject({ poolShift: 12, owner: constants.Pool.OWNER_KEY + heap.threadId, threaded: 0, rawOn: 1 });
    expect(made.mapBytes).toBeGreaterThan(0);
    expect(WebAssembly.Module.customSections(module, SPECIALIZED_SECTION)).toHaveLength(1);
    const plain = await instantiateWithHeap(linked["bintrees-pymalloc"], { poolSize: 4096, specialize: false });
    expect(specializedFor(plain.module)).toBeUndefined();
    const run = (x: WebAssembly.Exports) => (x as unknown as { run(d: number, s: number): number }).run(12, 20_000) >>> 0;
    const js = countJs(heap);
    const plainJs = countJs(plain.heap);
    expect(run(instance.exports)).toBe(run(plain.instance.exports));
    expect(js.calls).toBe(plainJs.calls); // the same calls into JS as unspecialised: the fast path in use alike
    expect(js.calls).toBeLessThan(1000);
    heap.check();
    expect(heap.stats().blocksInUse).toBe(0);
    const t = readTraceFile(join(ROOT, "data/compileall-head.pymtrace.gz"));
    const sums: number[] = [];
    for (const specialize of [false, true]) {
      const r = await instantiateWithHeap(linked["replay-pymalloc"], { specialize });
      const x = r.instance.exports as unknown as Record<string, (...a: number[]) => number>;
      const ev = x.setup(t.count, t.maxSlots) >>> 0;
      new Uint32Array((r.heap.memory.source as WebAssembly.Memory).buffer, ev, 2 * t.count).set(t.events.subarray(0, 2 * t.count));
      sums.push(x.replay(t.count) >>> 0);
      r.heap.check();
      x.release_all(t.maxSlots);
      r.heap.check();
      expect(r.heap.stats().blocksInUse).toBe(2);
    }
    expect(sums[1]).toBe(sums[0]);
  });

  it("the default for a linked module's bytes: specialised, one compile (the module as linked is never compiled); specialize: false, a compiled module, an unlinked module: run as they are, with the same results", async () => {
    const b = new Uint8Array(linked["ctors"]); // a bytes object of its own: nothing compiled for it yet
    const compile = vi.spyOn(WebAssembly, "compile");
    let one: Awaited<ReturnType<typeof instantiateWithHeap>>;
    try {
      one = await instantiateWithHeap(b);
      expect(compile).toHaveBeenCalledTimes(1);
      const again = await instantiateWithHeap(b, { heap: heapForModule(b) });
      expect(again.module).toBe(one.module); // the same numbers: the copy compiled before
      expect(compile).toHaveBeenCalledTimes(1);
    } finally {
      compile.mockRestore();
    }
    expect(JSON.parse(specializedFor(one.module)!)).toEqual(fastPathNumbers(one.heap, false));
    const off = await instantiateWithHeap(b, { specialize: false });
    const compiled = await instantiateWithHeap(new WebAssembly.Module(b), { heap: heapForModule(b) });
    const unlinked = await instantiateWithHeap(bytes("wasm/clients/ctors.wasm"));
    for (const r of [off, compiled, unlinked]) expect(specializedFor(r.module)).toBeUndefined();
    // The same program on each: the same blocks, the heaps check clean.
    const results = [one, off, compiled, unlinked].map((r) => {
      const x = r.instance.exports as unknown as Ctors;
      const ps = [8, 24, 40, 600, 24].map((n) => x.c_make_block(n));
      x.c_free_block(ps[1]);
      const q = x.c_make_block(24);
      for (const p of [ps[0], ps[2], ps[3], ps[4], q]) x.c_free_block(p);
      r.heap.check();
      return [...ps, q].map((p) => p - r.heap.heapBase);
    });
    for (const got of results.slice(1)) expect(got).toEqual(results[0]);
  });

  it("compiled once for heaps with the same numbers; refused on a heap with others; needs the bytes of a linked module; not made in the debug modes (their calls go to JS)", async () => {
    const b = linked["ctors"];
    const one = await instantiateWithHeap(b, { specialize: true });
    const two = await instantiateWithHeap(b, { specialize: true });
    expect(two.module).toBe(one.module);
    const other = heapForModule(b, { poolSize: 4096 });
    await expect(instantiateWithHeap(one.module, { heap: other })).rejects.toThrow(/specialised to another heap's numbers/);
    await expect(instantiateWithHeap(new WebAssembly.Module(b), { heap: other, specialize: true })).rejects.toThrow(/needs the linked module's bytes/);
    await expect(instantiateWithHeap(bytes("wasm/clients/ctors.wasm"), { specialize: true })).rejects.toThrow(/for a module linked by pymalloc link/);
    // A specialised module's numbers are constants: where the fast path must not run, refused.
    for (const options of [{ allocator: "debug" as const }, { hardened: true }, { family: "raw" as const }])
      await expect(instantiateWithHeap(one.module, { heap: heapForModule(b, options.family ? {} : options), family: options.family })).rejects.toThrow(/runs only where the fast path does/);
    const debug = await instantiateWithHeap(b, { specialize: true, allocator: "debug" });
    expect(specializedFor(debug.module)).toBeUndefined();
    const x = debug.instance.exports as unknown as Ctors;
    const p = x.c_make_block(24);
    debug.heap.u8[p + 24] = 1;
    expect(() => x.c_free_block(p)).toThrow(MemoryCorruptionError);
    // failAllocations reaches a specialised module too (divert is never specialised).
    const y = one.instance.exports as unknown as Ctors;
    one.heap.failAllocations({ family: "mem", nth: 1 });
    expect(y.c_make_block(40)).toBe(0);
    expect(y.c_make_block(40)).not.toBe(0);
    one.heap.check();
  });
});

describe("one linked module's bytes on many heaps (what a fresh heap reads of them: session 50)", () => {
  it("the same bytes object on two heaps (heapForModule, then instantiateWithHeap(bytes, { heap })): each instance allocates from its own heap; bytes written over in between are read again", async () => {
    const b = linked["ctors"].slice();
    const h1 = heapForModule(b);
    const h2 = heapForModule(b, { poolSize: 4096 }); // other numbers: another specialised copy
    const one = await instantiateWithHeap(b, { heap: h1 });
    const two = await instantiateWithHeap(b, { heap: h2 });
    expect(two.module).not.toBe(one.module);
    const x1 = one.instance.exports as unknown as Ctors;
    const x2 = two.instance.exports as unknown as Ctors;
    const n1 = h1.stats().blocksInUse;
    const n2 = h2.stats().blocksInUse;
    const p1 = x1.c_make_block(40);
    const p2 = x2.c_make_block(40);
    expect(h1.usableSize(p1)).toBeGreaterThanOrEqual(40);
    expect(h2.usableSize(p2)).toBeGreaterThanOrEqual(40);
    expect(h1.stats().blocksInUse).toBe(n1 + 1);
    expect(h2.stats().blocksInUse).toBe(n2 + 1);
    x1.c_free_block(p1);
    x2.c_free_block(p2);
    expect(h1.stats().blocksInUse).toBe(n1);
    h1.check();
    h2.check();
    // The object now holds an unlinked module of the same length (the marker's JSON made
    // unreadable): read again, refused, not taken for the linked module read before.
    const at = b.indexOf(0x7b, b.length - 80); // the marker's "{"
    expect(at).toBeGreaterThan(0);
    b[at] = 0x20;
    expect(() => heapForModule(b)).toThrow(/not pymalloc's marker/);
    await expect(instantiateWithHeap(b, { heap: heapForModule(linked["ctors"]) })).rejects.toThrow(/not pymalloc's marker/);
  });
});

describe("random programs: C (linked, plain or specialised) and JS on one heap", () => {
  /** Each call made by C through the linked module (ctors.c's malloc/free/calloc/realloc wrappers) or by JS (heap.mem/obj); check() every step. */
  async function program(specialize: boolean, options: { poolSize?: number; alignment?: 8 | 16 }, seed: number, steps: number): Promise<void> {
    const { instance, heap, module } = await instantiateWithHeap(linked["ctors"], { ...options, specialize, initialize: false });
    expect(specializedFor(module) !== undefined).toBe(specialize);
    const x = instance.exports as unknown as Ctors;
    const c = { malloc: x.c_make_block, free: x.c_free_block, calloc: x.c_calloc, realloc: x.c_realloc };
    differential(heap, [c, heap.mem, heap.obj] as AllocatorFunctions[], seed, steps, 1, 6);
  }

  for (const [name, options] of [
    ["8-byte classes", {}],
    ["16-byte classes", { alignment: 16 as const }],
    ["4 KiB pools", { poolSize: 4096 }],
  ] as const)
    it(`interleaved C and JS calls, check() after each step (${name}), linked and specialised`, async () => {
      for (const specialize of [false, true]) for (let seed = 1; seed <= 2; seed++) await program(specialize, options, seed * 7919 + name.length, 600);
    });
});

describe("a linked module on a shared memory, one instance per Worker", () => {
  it("each Worker instantiates the linked module on its own heap handle (its thread slot; one Worker specialised to it); blocks freed by another thread's C come back", async () => {
    const { Worker } = await import("node:worker_threads");
    const { instance, heap } = await instantiateWithHeap(linked["ctors-shared"], { threads: true });
    expect((instance.exports as unknown as Ctors).get_greeting()).toBeGreaterThan(0);
    const memory = heap.memory.source as WebAssembly.Memory;
    const workers = 3;
    const perWorker = 2000;
    const table = new SharedArrayBuffer(4 * (1 + workers * perWorker));
    const results = await Promise.all(
      Array.from(
        { length: workers },
        (_, i) =>
          new Promise<{ failures: number; slot: number; specialized: boolean }>((resolve, reject) => {
            const wk = new Worker(join(import.meta.dirname, "workers", "wasm-linked.mjs"), {
              workerData: { memory, heapBase: heap.heapBase, table, id: i, workers, perWorker, module: linked["ctors-shared"], specialize: i === 1 ? undefined : false }, // Worker 1: the default for bytes (specialised to its slot)
            });
            let done: { failures: number; slot: number; specialized: boolean } | undefined;
            wk.on("message", (m) => (done = m));
            wk.on("error", reject);
            wk.on("exit", (code) => (code === 0 && done ? resolve(done) : reject(new Error(`worker ${i} exited ${code}`))));
          }),
      ),
    );
    expect(results.map((r) => r.failures)).toEqual([0, 0, 0]);
    expect(results.map((r) => r.specialized)).toEqual([false, true, false]);
    expect(new Set(results.map((r) => r.slot)).size).toBe(3);
    heap.check();
    heap.collect();
    expect(heap.stats().blocksInUse).toBe(1); // the main instance's constructor block
  }, 60_000);
});
