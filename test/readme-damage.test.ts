// The README's section on heap damage runs as written: each ```js example of that section is
// run by Node against the built package, and every `// → ...` comment is the line it prints.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "./helpers.js";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const start = readme.indexOf("## A damaged heap");
const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
const blocks = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
const dist = pathToFileURL(join(ROOT, "dist", "index.js")).href;

describe("README: a damaged heap, fault injection", () => {
  it("has its examples", () => {
    expect(start).toBeGreaterThan(0);
    expect(blocks.length).toBe(4);
  });
  it.each(blocks.map((b, i) => [i, b]))("example %i prints what its comments say", (_i, code) => {
    const src = (code as string).replace(/from "pymalloc"/g, `from ${JSON.stringify(dist)}`);
    const dir = mkdtempSync(join(tmpdir(), "pymalloc-readme-"));
    const file = join(dir, "example.mjs");
    writeFileSync(file, src);
    const out = execFileSync(process.execPath, [file], { encoding: "utf8" }).trim().split("\n");
    const expected = [...(code as string).matchAll(/\/\/ → (.*)$/gm)].map((m) => m[1]);
    expect(expected.length).toBeGreaterThan(0);
    expect(out).toEqual(expected);
  });
});
