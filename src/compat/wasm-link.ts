/**
 * compat/wasm-link.ts — pymalloc's fast path linked into a C module (`pymalloc link`, issue #17).
 *
 * Owns: linkFastPath(): a client module that imports env.malloc & co, merged with the merge-ready
 * build of the fast path (wasm/obmalloc/merge.ts) by binaryen's wasm-merge, so that C's calls to
 * malloc and free are calls inside the module instead of calls into another instance; the merged
 * module's memory import put back as the client's (env.memory, its limits); the marker custom
 * section (LINK_SECTION) that names the fast-path build it carries; the fast path's function names
 * in the merged module (`pymalloc.*`, FAST_PATH_NAME_PREFIX: a name section added to the
 * merge-ready build before the merge, custom sections only); the fast path's malloc, free and
 * calloc inlined at the client's calls (inlineFastPath: binaryen's JS API, every other function marked
 * no-inline). The marker's reader is wasm-module.ts's linkedInfo().
 * Must not: instantiate anything or touch a heap (compat/wasm.ts does), or run in a browser:
 * linking is a build step (Node, binaryen from npm); everything else here is plain bytes.
 */

import { asBytes, fastPathBytes, hasWasmMagic, readExports, readImports, rewriteExports, rewriteImports, sections, u32 as uleb, withCustomSection } from "./wasm-bytes.js";
import { checkedModuleInfo, LINK_SECTION, linkedInfo, PYMEM_NAMES } from "./wasm-module.js";
import { PymallocError, typeName } from "../errors.js";
import { checkOptions } from "../heap/options.js";
import { isSharedBuffer } from "../memory/memory.js";
import { isNode } from "../runtime.js";
import { FASTPATH_MERGE_ID, FASTPATH_MERGE_SHARED_ID, FASTPATH_MERGE_SHARED_WASM, FASTPATH_MERGE_WASM } from "./wasm-fastpath-bytes.js";

export { LINK_SECTION, linkedInfo, type LinkedInfo } from "./wasm-module.js";

const ALLOC_IMPORTS = ["malloc", "free", "calloc", "realloc"];

/**
 * The prefix of the fast path's function names in a linked module: `pymalloc.malloc`,
 * `pymalloc.free`, `pymalloc.calloc`, `pymalloc.realloc`, `pymalloc.init`, `pymalloc.divert`
 * (its exports), `pymalloc.f<index>` (the others, by their index in the merge-ready build). The
 * debug modes drop the wasm frames so named from a block's allocation site (debug/report.ts,
 * isOwnFrame; debug/leaks.ts, siteOf), which then starts at the C function that called malloc.
 */
export const FAST_PATH_NAME_PREFIX = "pymalloc.";

// ---------------------------------------------------------------------------------------------
// Linked modules
// ---------------------------------------------------------------------------------------------

/** The id of this pymalloc's merge-ready fast path for an unshared or a shared memory. */
export function currentFastPathId(shared: boolean): string {
  return shared ? FASTPATH_MERGE_SHARED_ID : FASTPATH_MERGE_ID;
}

/** The merge-ready fast path (wasm/obmalloc/merge.ts) for an unshared or a shared memory. */
export function mergeReadyFastPath(shared: boolean): Uint8Array<ArrayBuffer> {
  return fastPathBytes(shared ? FASTPATH_MERGE_SHARED_WASM : FASTPATH_MERGE_WASM);
}

/**
 * The merge-ready fast path with a name section naming each of its functions
 * (FAST_PATH_NAME_PREFIX): wasm-merge keeps the names (--debuginfo), and only the custom
 * sections of the linked module change, not its code.
 */
function namedFastPath(source: BufferSource): Uint8Array<ArrayBuffer> {
  const b = asBytes(source);
  const imported = readImports(b).filter((i) => i.kind === 0).length;
  let defined = 0;
  for (const { id, r } of sections(b)) {
    if (id === 0 && r.name() === "name") throw new TypeError("the merge-ready fast path has a name section already");
    if (id === 3) defined = r.u32();
  }
  const exported = new Map<number, string>();
  for (const e of readExports(b)) if (e.kind === 0) exported.set(e.index, e.name.replace(/^pymalloc_/, ""));
  const enc = new TextEncoder();
  const map: number[] = [...uleb(defined)];
  for (let i = imported; i < imported + defined; i++) {
    const name = enc.encode(FAST_PATH_NAME_PREFIX + (exported.get(i) ?? `f${i}`));
    map.push(...uleb(i), ...uleb(name.length), ...name);
  }
  // Subsection 1 (function names): its id, its size, the map.
  return withCustomSection(b, "name", [1, ...uleb(map.length), ...map]);
}

export interface LinkOptions {
  /**
   * The wasm-merge to run: a path to binaryen's `bin/wasm-merge` from npm (a Node script, run
   * with this Node) or to a native build (run as it is); default: binaryen from npm, found from
   * this package or the working directory.
   */
  wasmMerge?: string;
  /**
   * Inline the fast path's malloc, free and calloc into their callers in the linked module (binaryen's
   * inlining, from npm), so that C's calls to them cost no call: true (the default) needs
   * binaryen from npm, found as for wasmMerge; false links them as calls (what `pymalloc link
   * --no-inline` writes).
   */
  inline?: boolean;
}

/** linkFastPath's options, named once at run time (checked against LinkOptions). */
const LINK_OPTIONS = { wasmMerge: 1, inline: 1 } as const satisfies Record<keyof LinkOptions, 1>;

/**
 * linkFastPath's arguments, checked before anything is read or run: the module's bytes (a number
 * was taken as a typed array's length: "Invalid typed array length: -1", a BigInt "Cannot convert
 * a BigInt value to a number"), the options as heap.wasmImports() checks its own (checkOptions:
 * null was "Cannot read properties of null (reading 'inline')", 5 and a typo were ignored).
 */
function checkLinkArguments(client: unknown, options: unknown): void {
  if (!(ArrayBuffer.isView(client) || client instanceof ArrayBuffer || isSharedBuffer(client)))
    throw new TypeError(`linkFastPath: the module must be its bytes (an ArrayBuffer or a typed array, e.g. readFileSync's Buffer), got ${typeName(client)}`);
  checkOptions(options, LINK_OPTIONS, "linkFastPath");
  const { inline, wasmMerge } = options as LinkOptions;
  if (inline !== undefined && typeof inline !== "boolean") throw new TypeError(`inline must be a boolean, not ${JSON.stringify(inline)}`);
  if (wasmMerge !== undefined && (typeof wasmMerge !== "string" || wasmMerge === "")) throw new TypeError(`wasmMerge must be a path to binaryen's wasm-merge, not ${JSON.stringify(wasmMerge)}`);
}

/**
 * The fast path's functions inlined into their callers (linkFastPath's inline): malloc, free and
 * calloc, each C call's common case then written into the C function. Their slow parts stay calls
 * (mallocSmall, freeSmall, the imports into JS); realloc stays a function. calloc since session
 * 50: its pop and its zeroing by stores (no call into V8's C++) are as small as malloc's, and the
 * call cost ~2 instructions an event on compileall-head, whose events are 17% callocs.
 */
export const INLINED = ["malloc", "free", "calloc"].map((f) => FAST_PATH_NAME_PREFIX + f);

/**
 * A Node built-in module, loaded when linking runs (linking is a Node build step). The specifier
 * is made at run time so that a bundler for the browser leaves it alone: the package's index
 * re-exports linkFastPath, and literal `import("node:fs")` calls here made esbuild's browser
 * bundle of any page that imports pymalloc fail (a new user's probe, 2026-12-06).
 */
function nodeBuiltin<T>(name: string): Promise<T> {
  const specifier = "node:" + name;
  return import(specifier) as Promise<T>;
}

/** binaryen's npm package folder, from this package or the working directory; undefined when neither has it. */
async function binaryenDir(): Promise<string | undefined> {
  const { createRequire } = await nodeBuiltin<typeof import("node:module")>("module");
  const { join, dirname } = await nodeBuiltin<typeof import("node:path")>("path");
  const { pathToFileURL } = await nodeBuiltin<typeof import("node:url")>("url");
  for (const from of [import.meta.url, pathToFileURL(join(process.cwd(), "index.js")).href]) {
    try {
      return dirname(createRequire(from).resolve("binaryen/package.json"));
    } catch {
      // not installed there
    }
  }
  return undefined;
}

/** binaryen's JS API (its npm package's index.js), found where findWasmMerge finds its wasm-merge. */
async function findBinaryen(): Promise<BinaryenApi> {
  const dir = await binaryenDir();
  if (dir === undefined) throw new Error("inlining needs binaryen from npm: npm install --save-dev binaryen (or link with inline: false, `pymalloc link --no-inline`)");
  const { join } = await nodeBuiltin<typeof import("node:path")>("path");
  const { pathToFileURL } = await nodeBuiltin<typeof import("node:url")>("url");
  return ((await import(pathToFileURL(join(dir, "index.js")).href)) as { default: BinaryenApi }).default;
}

/** What inlineFastPath uses of binaryen's JS API (index.d.ts has it all). */
interface BinaryenApi {
  readBinary(bytes: Uint8Array): BinaryenModule;
  getFunctionInfo(f: number): { name: string };
  setPassArgument(key: string, value: string | null): void;
  getAlwaysInlineMaxSize(): number;
  setAlwaysInlineMaxSize(n: number): void;
  getFlexibleInlineMaxSize(): number;
  setFlexibleInlineMaxSize(n: number): void;
  getDebugInfo(): boolean;
  setDebugInfo(on: boolean): void;
  Features: { All: number; CompactImports?: number };
}
interface BinaryenModule {
  setFeatures(f: number): void;
  getNumFunctions(): number;
  getFunctionByIndex(i: number): number;
  runPasses(passes: string[]): void;
  validate(): number;
  emitBinary(): Uint8Array;
  dispose(): void;
}

/** binaryen's wildcard match (String::wildcardMatch): `*` any run of characters, `?` any one. */
export function wildcardMatch(pattern: string, name: string): boolean {
  const go = (i: number, j: number): boolean => {
    for (; i < pattern.length; i++, j++) {
      if (pattern[i] === "*") {
        for (let k = j; k <= name.length; k++) if (go(i + 1, k)) return true;
        return false;
      }
      if (j >= name.length || (pattern[i] !== "?" && pattern[i] !== name[j])) return false;
    }
    return j === name.length;
  };
  return go(0, 0);
}

/**
 * Wildcards for binaryen's no-inline pass that together match every name but the targets' and
 * none of the targets: the shortest prefix of each name that no target starts with, then `*`
 * (few patterns for thousands of functions: the pass is run once a pattern), or the name itself
 * when it is a prefix of a target. `*` and `?` in a name are matched as `?`; a name that can be
 * told from a target by no pattern is an error (inlining would reach it).
 */
export function noInlinePatterns(names: readonly string[], targets: readonly string[]): string[] {
  const out = new Set<string>();
  for (const name of names) {
    if (targets.includes(name)) continue;
    const esc = name.replace(/[*?]/g, "?");
    let pattern = esc;
    for (let n = 1; n <= name.length; n++) {
      if (targets.some((t) => t.startsWith(name.slice(0, n)))) continue;
      pattern = `${esc.slice(0, n)}*`;
      break;
    }
    if (targets.some((t) => wildcardMatch(pattern, t))) pattern = esc;
    if (targets.some((t) => wildcardMatch(pattern, t))) throw new Error(`the module's function ${JSON.stringify(name)} cannot be kept from inlining (its name matches ${targets.join(" or ")}): link with inline: false (--no-inline)`);
    out.add(pattern);
  }
  return [...out];
}

/** binaryen's passes of the inlining step. */
export const LINK_PASSES = ["inlining", "coalesce-locals"] as const;

/**
 * The linked module with the fast path's malloc, free and calloc (INLINED) inlined at every call (binaryen's
 * inlining pass), every other function kept as it is (binaryen's no-inline mark on each: C's
 * functions are not inlined into one another, so allocation sites still name them). A call costs
 * V8's frame and stack check, ~12 instructions, each way: binary trees in C took 13% less time.
 * binaryen's settings are put back after.
 */
async function inlineFastPath(bytes: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const b = await findBinaryen();
  const m = b.readBinary(bytes);
  const saved = [b.getAlwaysInlineMaxSize(), b.getFlexibleInlineMaxSize(), b.getDebugInfo()] as const;
  try {
    // Every feature a C module may use, but those that change how binaryen writes what every
    // engine reads: with binaryen 132's CompactImports on, it wrote the import section in that
    // proposal's form (import kind 0x7f), which Node 20 and this package's reader refuse.
    m.setFeatures(b.Features.All & ~(b.Features.CompactImports ?? 0));
    b.setDebugInfo(true); // names kept: allocation sites name C's functions
    const names: string[] = [];
    for (let i = 0; i < m.getNumFunctions(); i++) names.push(b.getFunctionInfo(m.getFunctionByIndex(i)).name);
    const missing = INLINED.filter((f) => !names.includes(f));
    if (missing.length > 0) throw new Error(`the merged module has no ${missing[0]}: nothing to inline`);
    // One wildcard per run of the no-inline pass (its argument is a single pattern); its mark stays on the function.
    for (const pattern of noInlinePatterns(names, INLINED)) {
      b.setPassArgument("no-inline", pattern);
      m.runPasses(["no-inline"]);
    }
    b.setPassArgument("no-inline", null);
    // Every call to malloc, free and calloc inlined, whatever their size (binaryen's size limits are for its own choices).
    b.setAlwaysInlineMaxSize(1 << 20);
    b.setFlexibleInlineMaxSize(1 << 20);
    // coalesce-locals: Liftoff's compile time grows with the inlined copies' locals (session 51).
    m.runPasses([...LINK_PASSES]);
    if (!m.validate()) throw new Error("binaryen's inlining made an invalid module");
    return new Uint8Array(m.emitBinary());
  } finally {
    b.setAlwaysInlineMaxSize(saved[0]);
    b.setFlexibleInlineMaxSize(saved[1]);
    b.setDebugInfo(saved[2]);
    m.dispose();
  }
}

/** Whether the file at path is a Node script (binaryen's npm build) rather than a program to run as it is. */
function isNodeScript(path: string, read: (p: string) => Buffer): boolean {
  if (/\.[cm]?js$/.test(path)) return true;
  const head = read(path).subarray(0, 128).toString("latin1");
  return head.startsWith("#!") && head.split("\n")[0].includes("node");
}

/** binaryen's wasm-merge (a Node script in the binaryen npm package), or the one given. */
async function findWasmMerge(given: string | undefined): Promise<string> {
  if (given !== undefined) {
    const { statSync } = await nodeBuiltin<typeof import("node:fs")>("fs");
    if (!statSync(given, { throwIfNoEntry: false })?.isFile()) throw new Error(`no wasm-merge at ${given}: give the path to binaryen's bin/wasm-merge (npm install --save-dev binaryen)`);
    const { resolve } = await nodeBuiltin<typeof import("node:path")>("path");
    return resolve(given); // run from a temporary directory
  }
  const dir = await binaryenDir();
  if (dir !== undefined) {
    const { join } = await nodeBuiltin<typeof import("node:path")>("path");
    return join(dir, "bin", "wasm-merge");
  }
  throw new Error("linking needs binaryen's wasm-merge: npm install --save-dev binaryen (version 116 or later; pymalloc is tested with the version in its package-lock.json)");
}

/**
 * Link pymalloc's fast path into a C module (Node only: runs binaryen's wasm-merge): `client` is
 * a module built as for instantiateWithHeap (it imports env.memory and env.malloc, free, and
 * maybe calloc, realloc: wasm/include/pymemcompat.c). Returns the merged module's bytes: C's
 * calls to malloc & co are calls inside it; it imports env.memory (the client's limits), the
 * client's other imports, and the fast path's slow paths (`pymalloc.malloc` & co), and exports
 * the client's exports with `pymalloc_init`, `pymalloc_divert` and `pymalloc_stop`. Instantiate it with
 * instantiateWithHeap (with its heap option on a heap you have): the slow paths, init and
 * the debug modes are theirs. The merged module carries the fast path of this version of
 * pymalloc, and is refused by another (link again after upgrading).
 */
export async function linkFastPath(client: BufferSource, options: LinkOptions = {}): Promise<Uint8Array<ArrayBuffer>> {
  // A build step: in a browser the imports of node: modules below failed as fetches of
  // "node:module" (a TypeError from the loader and console errors about CORS).
  if (!isNode())
    throw new PymallocError("linkFastPath (pymalloc link) runs binaryen's wasm-merge in Node: link the module as a build step (npx pymalloc link in.wasm -o out.wasm) and serve the linked bytes; instantiateWithHeap runs them in a browser");
  checkLinkArguments(client, options);
  const bytes = asBytes(client);
  // Bytes that are no module (a trace, a text file) would be read as a module without imports.
  if (!hasWasmMagic(bytes)) throw new TypeError("not a WebAssembly module (no \\0asm magic at its start)");
  const imports = readImports(bytes);
  if (imports.some((i) => i.module === "pymalloc" || i.module === "pymalloc_env")) throw new TypeError("the module imports from \"pymalloc\": it is linked already (link the module built for pymalloc, not its linked copy)");
  const mem = imports.find((i) => i.kind === 2);
  if (mem === undefined || mem.module !== "env" || mem.name !== "memory" || mem.memory === undefined)
    throw new TypeError("the module imports no env.memory: build it with -Wl,--import-memory (see the README's \"pymalloc inside WebAssembly\")");
  const alloc = imports.filter((i) => i.module === "env" && i.kind === 0 && ALLOC_IMPORTS.includes(i.name));
  if (!alloc.some((i) => i.name === "malloc" || i.name === "calloc" || i.name === "realloc")) {
    // A module built with pymemcompat.c that calls only CPython's names: its calls are env's
    // PyMem_*/PyObject_* imports, which stay calls into JS (the debug modes tell the families
    // apart there); the fast path is C's malloc & co, which it does not call.
    const py = imports.filter((i) => i.module === "env" && i.kind === 0 && PYMEM_NAMES.includes(i.name)).map((i) => i.name);
    if (py.length > 0)
      throw new TypeError(`the module calls the heap only by CPython's names (env.${py.slice(0, 3).join(", env.")}${py.length > 3 ? ", ..." : ""}), which stay calls into JS: pymalloc link makes C's malloc, free, calloc and realloc calls inside the module, and it has none. Instantiate it as it is (instantiateWithHeap), or call malloc & co where speed matters`);
    throw new TypeError("the module imports none of env.malloc/calloc/realloc: nothing to link (build it with wasm/include/pymemcompat.c, see the README's \"pymalloc inside WebAssembly\")");
  }
  // Its allocator imports of C's wasm32 types, __heap_base an i32, no memory64: a TypeError naming
  // what is wrong before wasm-merge fails on it with a bare Error ("Type mismatch when importing
  // function malloc"). instantiateWithHeap runs the same checks (one function for both).
  checkedModuleInfo(bytes);
  const shared = mem.memory.shared;
  // The fast path's memory declared as the client's (wasm-merge checks that an import matches the
  // export it resolves to): the merged module then imports the client's memory.
  const fastPath = namedFastPath(rewriteImports(mergeReadyFastPath(shared), (imp) => (imp.kind === 2 ? { ...imp, memory: mem.memory } : imp)));
  // The client's exports named as the fast path's (a C module exporting malloc and free for its
  // JS, -Wl,--export=malloc): wasm-merge refuses two exports of one name, so the client's are
  // merged under a reserved name and take their own name back after, in place of the fast
  // path's (which only resolved the client's env.malloc & co). The names JS starts the fast path
  // by (pymalloc_*) cannot be the client's.
  const ours = new Set(readExports(fastPath).map((e) => e.name));
  const clash = readExports(bytes).filter((e) => ours.has(e.name));
  const reserved = clash.find((e) => e.name.startsWith("pymalloc_"));
  if (reserved !== undefined) throw new TypeError(`the module exports ${JSON.stringify(reserved.name)}, a name of pymalloc's fast path in a linked module (pymalloc_*): rename that export`);
  const CLIENT = "\u0000pymalloc-client:";
  const clientBytes = clash.length === 0 ? bytes : rewriteExports(bytes, (e) => (ours.has(e.name) ? { ...e, name: CLIENT + e.name } : e));
  const wasmMerge = await findWasmMerge(options.wasmMerge);
  const { mkdtempSync, writeFileSync, readFileSync, rmSync, statSync } = await nodeBuiltin<typeof import("node:fs")>("fs");
  const { tmpdir } = await nodeBuiltin<typeof import("node:os")>("os");
  const { join } = await nodeBuiltin<typeof import("node:path")>("path");
  const { execFileSync } = await nodeBuiltin<typeof import("node:child_process")>("child_process");
  const dir = mkdtempSync(join(tmpdir(), "pymalloc-link-"));
  let merged: Uint8Array<ArrayBuffer>;
  try {
    writeFileSync(join(dir, "fastpath.wasm"), fastPath);
    writeFileSync(join(dir, "client.wasm"), clientBytes);
    // The fast path merged under the name "env": the client's env.malloc & co and env.memory
    // become its exports (its memory is imported as pymalloc_env.memory: one memory).
    const features = ["--enable-sign-ext", "--enable-mutable-globals", "--enable-bulk-memory", "--enable-bulk-memory-opt", "--enable-nontrapping-float-to-int", "--enable-multivalue", "--enable-reference-types", "--enable-simd", "--enable-threads", "--enable-tail-call", "--enable-exception-handling", "--enable-extended-const", "--enable-relaxed-simd"];
    // Names kept (--debuginfo): the fast path's (namedFastPath), and the client's when it kept
    // them (linked without --strip-all): the debug modes then report a block's allocation site
    // from the C function that called malloc, named when the client has names.
    const args = [...features, "--debuginfo", "fastpath.wasm", "env", "client.wasm", "client", "-o", "merged.wasm"];
    const [cmd, argv] = isNodeScript(wasmMerge, readFileSync) ? [process.execPath, [wasmMerge, ...args]] : [wasmMerge, args];
    execFileSync(cmd, argv, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26 });
    if (!statSync(join(dir, "merged.wasm"), { throwIfNoEntry: false })?.isFile()) throw { status: 0, stderr: Buffer.from("it exited with status 0 but wrote no merged module") };
    merged = new Uint8Array(readFileSync(join(dir, "merged.wasm")));
  } catch (e) {
    const err = e as { stderr?: Buffer; status?: number | null; code?: string; message?: string };
    const said = (err.stderr?.toString() ?? "").trim().split("\n").slice(-3).join(" / ");
    // A file that is no program: EACCES (it read "failed: EACCES , and said nothing").
    const why = err.status === 0 ? "" : err.code !== undefined ? (err.code === "EACCES" ? "EACCES (not an executable file)" : err.code) : err.status != null ? `exit status ${err.status}` : (err.message ?? String(e));
    throw new Error(`wasm-merge (${wasmMerge}) failed: ${why}${said ? (why ? `: ${said}` : said) : ", and said nothing"}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // The memory import back to the client's name, env.memory (its limits are the client's already).
  if (options.inline !== false) merged = await inlineFastPath(merged);
  if (clash.length > 0) {
    const taken = new Set(clash.map((e) => e.name));
    merged = rewriteExports(merged, (e) => (e.name.startsWith(CLIENT) ? { ...e, name: e.name.slice(CLIENT.length) } : taken.has(e.name) ? undefined : e));
  }
  const out = rewriteImports(merged, (imp) => (imp.kind === 2 && imp.module === "pymalloc_env" ? { ...imp, module: "env", name: "memory" } : imp));
  const left = readImports(out).filter((i) => i.module === "env" && i.kind === 0 && ALLOC_IMPORTS.includes(i.name));
  if (left.length > 0) throw new Error(`wasm-merge left env.${left[0].name} an import: the merge did not link it`);
  return withCustomSection(out, LINK_SECTION, JSON.stringify({ fastpath: currentFastPathId(shared), shared }));
}
