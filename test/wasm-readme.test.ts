// The README's "pymalloc inside WebAssembly" examples run as written: each ```js block of that
// section is run by node from the repository's root, with "pymalloc" resolved to the built
// package (dist/, which `npm test` builds first). The linked-module example runs in a folder where
// the README's `pymalloc link` line for it has been run (the CLI, on the committed client). The
// program with main() (wasm/clients/main.c, built by the README's command line) runs under node:wasi.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const start = readme.indexOf("## pymalloc inside WebAssembly");
const section = readme.slice(start, readme.indexOf("\n## ", start + 3));
const blocks = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

describe("README: pymalloc inside WebAssembly", () => {
  it("has its examples", () => {
    expect(start).toBeGreaterThan(0);
    expect(blocks.length).toBe(5);
  });
  blocks.forEach((code, i) => {
    it(`example ${i + 1} runs as written`, () => {
      const dir = mkdtempSync(join(tmpdir(), "pymalloc-readme-"));
      try {
        const file = join(dir, `example${i + 1}.mjs`);
        writeFileSync(file, code.replaceAll('from "pymalloc"', `from ${JSON.stringify(pathToFileURL(join(ROOT, "dist", "index.js")).href)}`));
        const linked = code.includes("bintrees-linked.wasm");
        if (linked) {
          const line = /npx pymalloc link (wasm\/clients\/bintrees-pymalloc\.wasm) -o (bintrees-linked\.wasm)/.exec(section);
          expect(line, "the README's link line for the example").not.toBeNull();
          execFileSync(process.execPath, [join(ROOT, "dist", "cli", "main.js"), "link", join(ROOT, line![1]), "-o", join(dir, line![2])]);
        }
        const out = execFileSync(process.execPath, [file], { cwd: linked ? dir : ROOT, encoding: "utf8" });
        // The values the examples' comments give.
        if (i === 0) expect(out).toBe("4098884 0\n");
        if (i === 1) expect(out).toBe("26774 mallocs from C\n");
        if (i === 2) expect(out).toMatch(/^API family mismatch: the block is released by another family .*\n$/);
        if (i === 4) expect(out).toBe("4098884 0\ntrue\n");
        // A C main() started by wasi.start: every line printf left in stdout's buffer written out
        // by exit(), whose code wasi.start returns (argv's two blocks stay: wasi-libc's startup
        // allocated them).
        if (i === 3) expect(out).toBe("apple\nfig\npear\n3 2\n");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
