// Runs the README's examples of "Snapshots: what grew, and where" as written (with `pymalloc`
// resolved to the built dist/), and compares what they print with the output the README shows
// (the README's file:///home/me/app.mjs is the temporary file here). The sampled example prints
// estimates that vary from run to run: there, numbers may differ, the rest must match.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { ROOT, runNode } from "./helpers.js";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const section = readme.slice(readme.indexOf("## Snapshots: what grew, and where"), readme.indexOf("\n## ", readme.indexOf("## Snapshots: what grew, and where") + 5));
/** Each ```js block with the ```text block right after it. */
const examples = [...section.matchAll(/```js\n([^]*?)```\n```text\n([^]*?)```/g)].map((m) => ({ code: m[1], output: m[2] }));

describe("README: snapshot examples", () => {
  it("has the two examples", () => expect(examples).toHaveLength(2));

  it.each(examples.map((e, i) => [i, e] as const))("example %i runs as written and prints what the README shows", async (_, { code, output }) => {
    const dir = mkdtempSync(join(tmpdir(), "pymalloc-readme-"));
    const file = join(dir, "app.mjs");
    writeFileSync(file, code.replace(/from "pymalloc"/g, `from ${JSON.stringify(pathToFileURL(join(ROOT, "dist", "index.js")).href)}`));
    const r = await runNode([file]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const expected = output.replaceAll("file:///home/me/app.mjs", pathToFileURL(file).href).replace(/node:internal\/modules\/esm\/module_job:\d+:\d+/g, "node:internal/modules/esm/module_job:N");
    const got = r.stdout.replace(/node:internal\/modules\/esm\/module_job:\d+:\d+/g, "node:internal/modules/esm/module_job:N");
    if (!/estimated/.test(output)) {
      expect(got).toBe(expected);
      return;
    }
    const pattern = expected
      .trimEnd()
      .split(/(\d+(?:\.\d+)?)/)
      .map((part, i) => (i % 2 === 1 ? "[\\d.]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
      .join("");
    expect(got.trimEnd()).toMatch(new RegExp(`^${pattern}$`));
  });
});
