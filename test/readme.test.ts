// The README's examples, run as written: the code blocks of the sections named below, each
// section's blocks in order as one module ("pymalloc" resolved to this checkout), with what they
// print checked.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { inspect } from "node:util";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ROOT } from "./helpers.js";

/** The ```ts blocks of the README section whose heading starts with `heading`. */
function sectionCode(heading: string): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf(`\n## ${heading}`);
  if (start < 0) throw new Error(`README has no section "## ${heading}"`);
  const next = readme.indexOf("\n## ", start + 4);
  const section = readme.slice(start, next < 0 ? undefined : next);
  const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  if (blocks.length === 0) throw new Error(`README section "${heading}" has no ts code block`);
  return blocks.join("\n");
}

let files: string[] = [];
let made = 0;
afterEach(() => {
  for (const f of files) rmSync(f, { force: true });
  files = [];
  vi.restoreAllMocks();
});

/** Runs a section's code as a module; returns what it printed with console.log, a line per call. */
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

describe("README examples", () => {
  it("Use (the families, alignedAlloc)", async () => {
    const printed = await run("Use");
    expect(printed).toHaveLength(3); // heap.stats(), an aligned block's address mod 64, a realloc of a freed block's error
    expect(printed[0]).toMatch(/peakFootprint/);
    expect(printed[1]).toBe("0");
    expect(printed[2]).toBe("InvalidPointerError double-free");
  });

  it("Options: the defaults as written, and the two attachHeap calls", async () => {
    expect(await run("Options")).toEqual([]);
  });

  it("Typed views of blocks", async () => {
    expect(await run("Typed views of blocks")).toEqual(["2.5", "0"]);
  });

  it("A drop-in for @thi.ng/malloc", async () => {
    expect(await run("A drop-in for @thi.ng/malloc")).toEqual(["true true false", "Float32Array(3) [ 4, 5, 6 ]"]);
  });
});
