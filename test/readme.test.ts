// The README's examples, run as written, with what they print checked. ```ts blocks: a section's
// blocks in order as one module ("pymalloc" resolved to this checkout's src/), imported here.
// ```js blocks: each block a module run by node from the repository's root (as a user who cloned
// it would, "pymalloc" resolved to the built dist/), its output compared with the ```text block
// after it or with the values its comments give. Sections whose examples other files run are
// named in OTHER_FILES; the last test checks that no section's ts/js code is left unrun.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { inspect } from "node:util";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ROOT, runNode } from "./helpers.js";

const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The README section ("## ...", its ### subsections included) whose heading starts with `heading`. */
function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}`);
  if (start < 0) throw new Error(`README has no section "## ${heading}"`);
  const next = README.indexOf("\n## ", start + 4);
  return README.slice(start, next < 0 ? undefined : next);
}

/** The ```ts blocks of the README section whose heading starts with `heading`. */
function sectionCode(heading: string): string {
  const blocks = [...section(heading).matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  if (blocks.length === 0) throw new Error(`README section "${heading}" has no ts code block`);
  return blocks.join("\n");
}

/** The ```js blocks of a section, each with the ```text block right after it (or undefined). */
function jsBlocks(heading: string): { code: string; output: string | undefined }[] {
  return [...section(heading).matchAll(/```js\n([\s\S]*?)```\n(?:```text\n([\s\S]*?)```)?/g)].map((m) => ({ code: m[1], output: m[2] }));
}

let files: string[] = [];
let made = 0;
afterEach(() => {
  for (const f of files) rmSync(f, { force: true, recursive: true });
  files = [];
  vi.restoreAllMocks();
});

/** Runs a section's ts code as a module; returns what it printed with console.log, a line per call. */
async function run(heading: string): Promise<string[]> {
  const code = sectionCode(heading).replaceAll(`from "pymalloc"`, `from ${JSON.stringify(join(ROOT, "src", "index.ts"))}`);
  // Inside the repository, so that the example's other imports resolve from its node_modules.
  const file = join(ROOT, "test", `.readme-example-${process.pid}-${made++}.ts`);
  writeFileSync(file, code);
  files.push(file);
  const printed: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    printed.push(args.map((a) => (typeof a === "string" ? a : inspect(a))).join(" "));
  });
  await import(/* @vite-ignore */ file);
  return printed;
}

/**
 * Runs a ```js block with node, from the repository's root, as app.mjs in a folder of the
 * repository (so that its other imports resolve from node_modules); returns its output, with the
 * file's URL written as the README writes it (file:///home/me/app.mjs).
 */
async function runJs(code: string): Promise<string> {
  const dir = mkdtempSync(join(ROOT, "test", ".readme-js-"));
  files.push(dir);
  const file = join(dir, "app.mjs");
  writeFileSync(file, code.replaceAll(`from "pymalloc"`, `from ${JSON.stringify(pathToFileURL(join(ROOT, "dist", "index.js")).href)}`));
  const r = await runNode([file], ROOT);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return r.stdout.replaceAll(pathToFileURL(file).href, "file:///home/me/app.mjs");
}

/** Line and column numbers inside Node's own modules vary with Node's version. */
const nodeInternals = (s: string): string => s.replace(/(node:internal\/[\w/]+):\d+:\d+/g, "$1:N:N");

describe("README examples", () => {
  it("Use (Views, the families, alignedAlloc, Errors)", async () => {
    const printed = await run("Use");
    // usableSize, alignment, heap.stats(), the views' sum, an aligned block's address mod 64, a realloc of a freed block's error
    expect(printed).toHaveLength(6);
    expect(printed.slice(0, 2)).toEqual(["4008", "8"]);
    expect(printed[2]).toMatch(/peakFootprint/);
    expect(printed.slice(3)).toEqual(["500", "0", "InvalidPointerError double-free"]);
  });

  it("Options: the defaults as written, and the two attachHeap calls", async () => {
    expect(await run("Options")).toEqual(["growable-shared 1048576"]);
  });

  it("Typed views of blocks", async () => {
    expect(await run("Typed views of blocks")).toEqual(["2.5", "0"]);
  });

  it("A drop-in for @thi.ng/malloc", async () => {
    expect(await run("A drop-in for @thi.ng/malloc")).toEqual(["true true false", "Float32Array(3) [ 4, 5, 6 ]"]);
  });

  it("Debug modes: the report printed is the README's", async () => {
    const [example] = jsBlocks("Debug modes");
    expect(example.output).toBeDefined();
    // Bytes 8-11 of the block's header are the site word: a tag drawn at random for each handle.
    const tag = (s: string): string => nodeInternals(s).replace(/(\(-32\): (?:[0-9a-f]{2} ){8})(?:[0-9a-f]{2} ){3}/, "$1xx xx xx ");
    expect(tag(await runJs(example.code))).toBe(tag(example.output!));
  });

  it("See inside the heap: prints what the README shows", async () => {
    const [example] = jsBlocks("See inside the heap");
    expect(example.output).toBeDefined();
    expect(await runJs(example.code)).toBe(example.output);
  });

  it("Other allocators: fromExports over the repository's dlmalloc.wasm, fromMemPool, fromFunctions", async () => {
    const [example] = jsBlocks("Other allocators");
    expect((await runJs(example.code)).split("\n")).toEqual(["7 true", "7 true", "7 true", "overflow", ""]);
  });

  it("Threads: a Worker that detaches, one adopted after it ended", async () => {
    const [example] = jsBlocks("Threads");
    expect((await runJs(example.code)).split("\n")).toEqual(["1 42", "1 42", "0", ""]);
  });
});

/** Sections whose examples other test files run as written (each reads the section by this heading). */
const OTHER_FILES: Record<string, string> = {
  "A damaged heap": "readme-damage.test.ts",
  "Snapshots: what grew, and where": "readme.snapshots.test.ts",
  "pymalloc inside WebAssembly": "wasm-readme.test.ts",
};
/** Sections run above. */
const HERE = ["Use", "Options", "Typed views of blocks", "A drop-in for @thi.ng/malloc", "Debug modes", "See inside the heap", "Other allocators", "Threads"];

describe("README: every section with ts or js code is run", () => {
  it("is run here or by the file named for it", () => {
    const withCode = README.split(/\n(?=## )/)
      .filter((s) => s.startsWith("## ") && /```(ts|js)\n/.test(s))
      .map((s) => s.slice(3, s.indexOf("\n")));
    const covered = (h: string) => HERE.some((k) => h.startsWith(k)) || Object.keys(OTHER_FILES).some((k) => h.startsWith(k));
    expect(withCode.filter((h) => !covered(h))).toEqual([]);
    for (const [heading, file] of Object.entries(OTHER_FILES)) {
      expect(withCode.some((h) => h.startsWith(heading)), heading).toBe(true);
      expect(readFileSync(join(ROOT, "test", file), "utf8"), file).toContain(heading);
    }
  });
});
