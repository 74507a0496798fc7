// Opens the heap map made by `pymalloc map` in headless Chromium and checks that it rendered.
// CI installs Debian's chromium (.ci/run); without it the test fails (apt-get install chromium).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUNDLED_TRACE, ROOT } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const have = existsSync(CHROMIUM);

describe("heap map in a browser", () => {
  it("renders the SVG with arenas, legend and totals, without console errors", async () => {
    expect(have, `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "pymalloc-map-"));
    const out = join(dir, "heap.html");
    const r = spawnSync(process.execPath, [join(ROOT, "dist/cli/main.js"), "map", BUNDLED_TRACE, "--at", "peak", "--out", out], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto("file://" + out);
      const svg = page.locator("#map svg");
      await expect(svg.isVisible()).resolves.toBe(true);
      const box = (await svg.boundingBox())!;
      expect(box.width).toBeGreaterThan(500);
      expect(box.height).toBeGreaterThan(200);
      expect(await page.locator("#map svg g.arena").count()).toBeGreaterThan(0);
      expect(await page.locator("#map svg g.legend").textContent()).toContain("Legend");
      expect(await page.locator("#map svg g.totals").textContent()).toMatch(/blocks in use/);
      // Rasterise the SVG in the page and count its colours: a blank picture has one or two.
      const colours = await page.evaluate(async () => {
        const el = document.querySelector("#map svg")!;
        const img = new Image();
        img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(new XMLSerializer().serializeToString(el));
        await img.decode();
        const c = document.createElement("canvas");
        c.width = img.width;
        c.height = img.height;
        const g = c.getContext("2d")!;
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        const seen = new Set<number>();
        for (let i = 0; i < d.length; i += 16) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        return seen.size;
      });
      expect(colours).toBeGreaterThan(20);
      const png = await page.screenshot({ path: join(dir, "heap.png"), fullPage: true });
      expect(png.length).toBeGreaterThan(10000);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
