#!/usr/bin/env node
// Summarise bench/results/footprint.json (written by `npm run bench:footprint`) by live size:
// per allocator, the median and the worst of footprint / peak live over the workloads of each
// size (trace prefixes and synthetic traces of 64 KiB .. 256 MiB; whole traces apart), for both
// measures. Prints a Markdown table (the README's).
// usage: node scripts/footprint-summary.mjs [bench/results/footprint.json] [--measure footprint|resident]
import { readFileSync } from "node:fs";
const args = process.argv.slice(2);
const file = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--measure") ?? new URL("../bench/results/footprint.json", import.meta.url).pathname;
const measure = args.includes("--measure") ? args[args.indexOf("--measure") + 1] : "footprint";
const { results } = JSON.parse(readFileSync(file, "utf8"));
const bucket = (r) => (!r.target ? "whole traces" : r.target >= 1 << 20 ? `${r.target / (1 << 20)} MiB` : `${r.target / 1024} KiB`);
const order = [];
const table = new Map();
for (const a of results) {
  for (const r of a.rows) {
    const b = bucket(r);
    if (!order.includes(b)) order.push(b);
    const k = `${b}|${a.key}`;
    if (!table.has(k)) table.set(k, []);
    table.get(k).push(r[measure] / r.peakLive);
  }
}
order.sort((x, y) => (x === "whole traces") - (y === "whole traces") || parseFloat(x) * (x.includes("MiB") ? 1024 : 1) - parseFloat(y) * (y.includes("MiB") ? 1024 : 1));
const median = (v) => {
  const s = [...v].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const keys = results.map((a) => a.key);
console.log(`| live | ${keys.map((k) => `${k} median (worst)`).join(" | ")} |`);
console.log(`|---|${keys.map(() => "---:").join("|")}|`);
for (const b of order) {
  const cells = keys.map((k) => {
    const v = table.get(`${b}|${k}`);
    return v ? `${median(v).toFixed(2)} (${Math.max(...v).toFixed(2)})` : "";
  });
  console.log(`| ${b} | ${cells.join(" | ")} |`);
}
