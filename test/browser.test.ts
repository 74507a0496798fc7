// The library in headless Chromium: a page served from this test over HTTP on 127.0.0.1 imports
// dist/ as ES modules (test/browser/page.js) and, once cross-origin isolated (COOP + COEP
// headers: SharedArrayBuffer exists) and once not, creates heaps of every memory kind, gets a
// debug report with its allocation site, shares a threads: true heap with two module Workers, and runs
// C compiled to WebAssembly on a heap (the fast path imported and linked in; a debug report from C;
// with isolation, one C module in two Workers on a threads: true heap); and, served with a
// Content-Security-Policy without 'unsafe-eval' (test/browser/csp.js), needs no eval.
// Needs Debian's chromium (CI installs it in .ci/run): without it this test fails, it never skips.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { ROOT } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const FIXTURES = join(ROOT, "test", "browser");
const DIST = join(ROOT, "dist");
const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".map": "application/json", ".wasm": "application/wasm" };
/** The C clients (wasm/build.sh), served as clients/...; linked/bintrees.wasm is made by beforeAll (`pymalloc link`). */
const CLIENTS = join(ROOT, "wasm", "clients");
const LINKED = mkdtempSync(join(tmpdir(), "pymalloc-browser-"));
const ISOLATION = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };
/** /csp/... and /cspwasm/...: isolated, and a Content-Security-Policy without 'unsafe-eval' (cspwasm: with 'wasm-unsafe-eval'). */
const CSP: Record<string, string> = {
  csp: "default-src 'self'; script-src 'self'; img-src data:",
  cspwasm: "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src data:",
};

/** /isolated/... is served with COOP/COEP, /plain/... without, /csp/ and /cspwasm/ with both and a CSP; dist/, clients/ and linked/ under each, fixtures beside them. */
function serve(): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const m = /^\/(isolated|plain|csp|cspwasm)\/(.*)$/.exec(url.pathname);
    const rel = m ? normalize(m[2]) : "";
    const file = !m || rel.startsWith("..") ? undefined : rel.startsWith("dist/") ? join(DIST, rel.slice(5)) : rel.startsWith("clients/") ? join(CLIENTS, rel.slice(8)) : rel.startsWith("linked/") ? join(LINKED, rel.slice(7)) : join(FIXTURES, rel);
    if (file === undefined || !existsSync(file) || !TYPES[extname(file)]) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "Content-Type": TYPES[extname(file)], "Cache-Control": "no-store", ...(m![1] === "plain" ? {} : ISOLATION), ...(CSP[m![1]] ? { "Content-Security-Policy": CSP[m![1]] } : {}) });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

type Step = { error?: string } & Record<string, unknown>;
interface PageResult {
  fatal?: string;
  isolated: boolean;
  sharedArrayBuffer: boolean;
  defaultKind: string | Step;
  kinds: Record<string, Step>;
  debugReport: Step;
  leaks: Step;
  threadsRefused: string | Step;
  threads: Step;
  snapshot: Step;
  sampled: Step;
  cInWasm: Step;
  cInWorkers?: Step;
  adoptOverSharedWasm?: Step;
  adoptInPage?: Step;
  bundled: Step;
  minifiedErrors: Step;
  errorPosted: Step;
}

/**
 * An InvalidPointerError posted by a Worker: structured clone keeps an Error's message but makes
 * it a plain Error (name "Error", no .reason or .address); spread with its message (the README's
 * way) it keeps its name and fields, as plain data.
 */
function expectErrorPosted(p: Step): void {
  expect(p.error, "errorPosted").toBeUndefined();
  expect(p.asIs).toEqual({ name: "Error", message: "free(0x00003039)", error: true });
  expect(p.spread).toEqual({ name: "InvalidPointerError", message: "free(0x00003039)", reason: "out-of-range", address: 12345, error: false });
}

/** C in WebAssembly on the page (page.js cInWasm): imported and linked fast paths match dlmalloc's checksum; the debug hooks report a family mismatch. */
function expectCInWasm(c: Step, where: string): void {
  expect(c.error, "cInWasm").toBeUndefined();
  expect(c.where).toBe(where);
  expect(c.dlmalloc).toEqual(expect.any(Number));
  for (const name of ["imported", "linked"]) {
    expect(c[name], name).toEqual({ sums: [c.dlmalloc, c.dlmalloc], blocksInUse: 0, mode: "pymalloc", linked: name === "linked" });
  }
  expect(c.mismatch).toMatchObject({ thrown: true, typed: true, kind: "api-mismatch" });
  expect((c.mismatch as { message: string }).message).toMatch(/released through m/);
}

/**
 * The library bundled with the page's code in one script (bundled.js): sites start at the page's
 * functions, with no frame of pymalloc's own before them (DebugState.alloc and DebugFamily.malloc
 * were kept before 2026-12-07: pymalloc's frames were told by their file names, which a bundle
 * does not keep).
 */
function expectBundledSites(b: Step): void {
  expect(b.error, "bundled").toBeUndefined();
  expect(String(b.bundle)).toMatch(/\/linked\/bundle\.js$/);
  const at = (fn: string) => new RegExp(`^at ${fn} \\(http://127\\.0\\.0\\.1:\\d+/(isolated|plain)/linked/bundle\\.js:\\d+:\\d+\\)$`);
  expect(String(b.leakSite).split(" <- ")[0]).toMatch(at("keepSome"));
  expect(String(b.sampledSite).split(" <- ")[0]).toMatch(at("keepSome"));
  expect(b.reportSite).toMatch(at("overflowOne"));
}

/**
 * The errors of a bundle minified with its identifiers (linked/minified.js): named as in the
 * source. Before session 53 the names were the minified classes' ("R", "De": e.name = new.target.name).
 */
function expectMinifiedErrorNames(m: Step): void {
  expect(m.error, "minifiedErrors").toBeUndefined();
  for (const [what, name] of [["invalidPointer", "InvalidPointerError"], ["pymalloc", "PymallocError"], ["memoryCorruption", "MemoryCorruptionError"]]) {
    expect(m[what], what).toEqual({ name, string: name, stack: name });
  }
}

describe("the library in headless Chromium", () => {
  let server: Server;
  let browser: Browser;
  let base: string;
  const errors: string[] = [];

  beforeAll(async () => {
    // Fails here (never skips) when the browser or the build is missing.
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (CI: .ci/run)`).toBe(true);
    expect(existsSync(join(DIST, "index.js")), "dist/ is missing: npm run build").toBe(true);
    // The bintrees client linked with the fast path as a user links it (the CLI), for the page to load.
    execFileSync(process.execPath, [join(DIST, "cli", "main.js"), "link", join(CLIENTS, "bintrees-pymalloc.wasm"), "-o", join(LINKED, "bintrees.wasm")], { stdio: "pipe" });
    // The library bundled with a page's code, as an application's build bundles it (linked/bundle.js;
    // whitespace minified, so pymalloc's modules share lines with it, names kept for the test to read).
    const { build } = await import("esbuild");
    await build({ entryPoints: [join(FIXTURES, "bundled.js")], bundle: true, minifyWhitespace: true, minifySyntax: true, platform: "browser", format: "esm", outfile: join(LINKED, "bundle.js"), alias: { pymalloc: join(DIST, "index.js") }, logLevel: "silent" });
    // Again with every minification on (identifiers too, as vite's production build): linked/minified.js.
    await build({ entryPoints: [join(FIXTURES, "bundled.js")], bundle: true, minify: true, platform: "browser", format: "esm", outfile: join(LINKED, "minified.js"), alias: { pymalloc: join(DIST, "index.js") }, logLevel: "silent" });
    server = await serve();
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
    rmSync(LINKED, { recursive: true, force: true });
  });

  async function open(where: "isolated" | "plain" | "csp" | "cspwasm", html = "page.html"): Promise<PageResult> {
    errors.length = 0;
    const page = await browser.newPage();
    page.on("pageerror", (e) => errors.push(`${where}: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`${where}: ${m.text()}`);
    });
    await page.goto(`${base}/${where}/${html}`);
    await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null, { timeout: 120_000 });
    const r = (await page.evaluate(() => (window as unknown as { __result: unknown }).__result)) as PageResult;
    await page.close();
    expect(r.fatal).toBeUndefined();
    return r;
  }

  it("cross-origin isolated: every memory kind, debug reports with sites, a heap shared with two Workers, snapshots, C in wasm (also in two Workers)", async () => {
    const r = await open("isolated");
    expect(r.isolated).toBe(true);
    expect(r.sharedArrayBuffer).toBe(true);
    expect(r.defaultKind).toBe("growable-shared");
    for (const kind of ["growable-shared", "wasm", "resizable", "fixed"]) {
      for (const allocator of ["pymalloc", "malloc", "debug"]) {
        const s = r.kinds[`${kind}/${allocator}`];
        // A fixed 1 MiB buffer cannot serve 3 MiB: NULL, and the heap stays consistent.
        const fixed = kind === "fixed";
        expect(s, `${kind}/${allocator}`).toEqual({ contentsKept: true, blocks: 0, byteLength: expect.any(Number), bigNull: fixed, mode: allocator, kind });
        if (fixed) continue;
        expect(s.byteLength as number).toBeGreaterThan(3 << 20); // grew past initialBytes
      }
    }
    expect(r.debugReport).toMatchObject({ thrown: true, name: "MemoryCorruptionError", kind: "overflow" });
    expect(r.debugReport.allocatedAt).toMatch(/page\.js/);
    expect(r.leaks).toMatchObject({ totalBlocks: 2, totalBytes: 80 });
    expect(r.leaks.site).toMatch(/page\.js/);
    expect(r.threadsRefused).toEqual({ error: expect.stringMatching(/^TypeError: threads: true needs a shared memory/) });
    expect(r.threads.error).toBeUndefined();
    expect(r.threads).toMatchObject({ allocated: 4000, liveWhileHeld: 4000, freedByOther: 4000, contentsSeenByOther: true, liveAfter: 0, mainThreadId: 0 });
    expect(new Set(r.threads.threadIds as number[]).size).toBe(2);
    expect(r.snapshot).toEqual({ first: "48 B", blocksGained: 10 });
    // Sampled sites in release mode: ~250 samples of 64-byte blocks, the estimate well within 30%.
    expect(r.sampled).toMatchObject({ site: expect.stringMatching(/page\.js/), liveBlocks: 4000, leakSite: expect.stringMatching(/page\.js/), after: 0 });
    expect(Math.abs((r.sampled.estimatedBlocks as number) / 4000 - 1)).toBeLessThan(0.3);
    expectCInWasm(r.cInWasm, "isolated");
    expect(r.sharedWasm).toMatchObject({ text: "hello from a constructor", kind: "wasm", blocks: 0, isolationWarned: false });
    expect(r.adoptOverSharedWasm).toEqual({ adopted: 1, blocks: 1 });
    expectBundledSites(r.bundled);
    expectMinifiedErrorNames(r.minifiedErrors);
    expectErrorPosted(r.errorPosted);
    expect(r.cInWorkers).toEqual({ same: true, workers: 2, stacksFromHeap: true, blocksInUse: 0 });
    // adoptThread of a Worker that still runs: refused, saying how a page lets terminate() act.
    expect(r.adoptInPage).toEqual({ running: expect.stringMatching(/^PymallocError: adoptThread\(1\): thread 1 is still allocating .*the page's event loop/), adopted: 1, blocks: true });
    expect(errors).toEqual([]);
  });

  it("without isolation (no SharedArrayBuffer): the default memory kind is wasm, threads: true is a TypeError, C in wasm runs", async () => {
    const r = await open("plain");
    expect(r.isolated).toBe(false);
    expect(r.sharedArrayBuffer).toBe(false);
    expect(r.defaultKind).toBe("wasm");
    for (const allocator of ["pymalloc", "malloc", "debug"]) {
      for (const kind of ["wasm", "resizable", "fixed"]) expect(r.kinds[`${kind}/${allocator}`]).toMatchObject({ contentsKept: true, blocks: 0, bigNull: kind === "fixed", mode: allocator, kind });
      // No SharedArrayBuffer: asking for one is a clear error, not a crash.
      expect(r.kinds[`growable-shared/${allocator}`].error).toMatch(/^TypeError: memoryKind "growable-shared" needs SharedArrayBuffer/);
    }
    expect(r.debugReport).toMatchObject({ thrown: true, kind: "overflow" });
    expect(r.threads.error).toMatch(/^TypeError: threads: true needs a shared memory.*a web page must be cross-origin isolated/);
    expect(r.threadsRefused).toEqual({ error: expect.stringMatching(/^TypeError: threads: true needs a shared memory/) });
    expectCInWasm(r.cInWasm, "plain");
    // A shared WebAssembly.Memory without the SharedArrayBuffer global: taken for an unshared
    // one before 2026-12-06 (a LinkError from inside pymalloc, freeAs a ReferenceError).
    expect(r.linkInBrowser).toMatch(/^PymallocError: linkFastPath \(pymalloc link\) runs binaryen's wasm-merge in Node/); // no fetch of node:module
    expect(r.sharedWasm).toEqual({ text: "hello from a constructor", kind: "wasm", foreign: expect.stringMatching(/^TypeError: freeAs: the view is over another buffer/), blocks: 0, isolationWarned: true });
    // adoptThread naps: it took a SharedArrayBuffer, which this page lacks (a ReferenceError before 2026-12-07).
    expect(r.adoptOverSharedWasm).toEqual({ adopted: 1, blocks: 1 });
    expectBundledSites(r.bundled);
    expectMinifiedErrorNames(r.minifiedErrors);
    expectErrorPosted(r.errorPosted);
    expect(errors).toEqual([]);
  });

  it("under a Content-Security-Policy without 'unsafe-eval': the JS heap needs no eval (every mode, threads, snapshots, sampled sites); C in wasm needs 'wasm-unsafe-eval'", async () => {
    const modes = { pymalloc: { grew: 200, blocks: 0 }, malloc: { grew: 200, blocks: 0 }, debug: { grew: 200, blocks: 0 }, sampledSite: true };
    const strict = (await open("csp", "csp.html")) as unknown as Record<string, Step | boolean | string[]>;
    expect(strict.isolated).toBe(true);
    expect(strict.modes).toEqual(modes);
    expect(strict.worker).toEqual({ threadId: 1, blocks: 100 });
    // Compiling WebAssembly is what the policy refuses: the browser's CompileError, from the C module and from wasmImports().
    expect((strict.cInWasm as Step).error).toMatch(/^CompileError: .*'unsafe-eval' is not an allowed source of script/);
    expect((strict.wasmImports as Step).error).toMatch(/^CompileError: /);
    expect(strict.violations).toEqual(expect.arrayContaining([expect.stringMatching(/^script-src/)]));
    expect((strict.violations as string[]).every((v) => /wasm-eval$/.test(v)), `violations: ${strict.violations}`).toBe(true); // no "eval"
    const wasm = (await open("cspwasm", "csp.html")) as unknown as Record<string, Step | boolean | string[]>;
    expect(wasm.modes).toEqual(modes);
    expect(wasm.cInWasm).toEqual({ sum: expect.any(Number), blocks: 0 });
    expect(wasm.wasmImports).toBe("function");
    expect(wasm.violations).toEqual([]);
    // CSP reports go to the console as errors: those of the strict page are expected, the second page's none.
    expect(errors).toEqual([]);
  });

  it("a heap kept in IndexedDB across a reload: attachHeap(saved, { restored: true }); an ArrayBuffer is fixed, copied into a growable memory it grows", async () => {
    for (const where of ["isolated", "plain"] as const) {
      errors.length = 0;
      const page = await browser.newPage();
      page.on("pageerror", (e) => errors.push(`${where}: ${e.message}`));
      await page.goto(`${base}/${where}/persist.html`);
      await page.waitForFunction(() => (window as unknown as { __saved?: unknown }).__saved !== undefined, null, { timeout: 60_000 });
      const saved = (await page.evaluate(() => (window as unknown as { __saved: unknown }).__saved)) as Step;
      await page.reload();
      await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null, { timeout: 60_000 });
      const r = (await page.evaluate(() => (window as unknown as { __result: unknown }).__result)) as Record<string, Step>;
      await page.close();
      expect(r.fatal, where).toBeUndefined();
      expect(r.wasm, where).toEqual({ kind: "fixed", blocks: 1, word: 0xcafe, bigNull: true, intoMemory: { kind: "wasm", word: 0xcafe, bigNull: false } });
      if (where === "isolated") {
        expect(saved).toEqual({ sharedAsIs: "DataCloneError" }); // IndexedDB stores no SharedArrayBuffer
        expect(r.shared.asArrayBuffer).toMatch(/^TypeError: a heap with threads: true needs a shared memory .*unshared ArrayBuffer\. Saved bytes .*growable SharedArrayBuffer/);
        expect(r.shared.intoGrowable).toEqual({ kind: "growable-shared", threads: true, word: 0xbeef, bigNull: false });
      } else expect(r.shared).toBeUndefined();
      expect(errors).toEqual([]);
    }
  });
});
