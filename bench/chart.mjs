// bench/chart.mjs — the benchmark chart: per trace, ns/event (log scale) and footprint / live.

const COLOURS = {
  pymalloc: "#2e7d32",
  align16: "#9ccc65",
  malloc: "#66bb6a",
  "dlmalloc-wasm": "#1565c0",
  "emmalloc-wasm": "#42a5f5",
  "mimalloc-wasm": "#0d47a1",
  held: "#a5d6a7",
  thing: "#8e24aa",
  bump: "#9e9e9e",
  gc: "#ef6c00",
  debug: "#c62828",
  threads: "#00838f",
};
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;");

export function chartSvg(results) {
  const keys = [...new Set(results.flatMap((r) => r.rows.filter((x) => x.nsPerEvent).map((x) => x.key)))];
  const names = Object.fromEntries(results.flatMap((r) => r.rows.map((x) => [x.key, x.allocator])));
  const barH = 12;
  const groupH = keys.length * barH + 18;
  const panelW = 420;
  const left = 130;
  const width = left + 2 * panelW + 60;
  const height = 70 + results.length * groupH + 30 + Math.ceil(keys.length / 3) * 18;
  const maxNs = Math.max(...results.flatMap((r) => r.rows.map((x) => x.nsPerEvent || 0)));
  // The footprint axis stops at 2.5x so that the differences near 1.0 stay visible; longer bars are
  // cut (their label says the value).
  const maxRatio = 2.5;
  const logX = (ns) => (Math.log10(Math.max(1, ns)) / Math.log10(Math.max(10, maxNs * 1.2))) * (panelW - 20);
  const out = [];
  out.push(`<text x="10" y="20" font-size="15" font-weight="bold">pymalloc benchmark: replay of CPython traces (lower is better)</text>`);
  out.push(`<text x="${left}" y="45" font-size="12" font-weight="bold">ns per event (log scale)</text>`);
  out.push(`<text x="${left + panelW + 40}" y="45" font-size="12" font-weight="bold">peak footprint / peak live bytes</text>`);
  let y = 60;
  for (const r of results) {
    out.push(`<text x="10" y="${y + 12}" font-size="12" font-weight="bold">${esc(r.trace.name)}</text>`);
    out.push(`<text x="10" y="${y + 26}" font-size="10">${(r.trace.events / 1e6).toFixed(2)}M events</text>`);
    keys.forEach((k, i) => {
      const row = r.rows.find((x) => x.key === k);
      const yy = y + i * barH;
      if (!row || !row.nsPerEvent) return;
      const w = logX(row.nsPerEvent);
      out.push(`<rect x="${left}" y="${yy}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLOURS[k] ?? "#555"}"><title>${esc(row.allocator)}: ${row.nsPerEvent.toFixed(1)} ns/event</title></rect>`);
      out.push(`<text x="${left + w + 4}" y="${yy + barH - 3}" font-size="9">${row.nsPerEvent < 100 ? row.nsPerEvent.toFixed(1) : Math.round(row.nsPerEvent)}${row.complete ? "" : "*"}</text>`);
      if (Number.isFinite(row.footprintRatio)) {
        const fw = (Math.min(row.footprintRatio, maxRatio) / maxRatio) * (panelW - 40);
        const fx = left + panelW + 40;
        out.push(`<rect x="${fx}" y="${yy}" width="${fw.toFixed(1)}" height="${barH - 2}" fill="${COLOURS[k] ?? "#555"}"><title>${esc(row.allocator)}: x${row.footprintRatio.toFixed(3)}</title></rect>`);
        out.push(`<text x="${fx + fw + 4}" y="${yy + barH - 3}" font-size="9">${row.footprintRatio.toFixed(2)}</text>`);
      }
    });
    y += groupH;
  }
  const lineX = left + panelW + 40 + (1 / maxRatio) * (panelW - 40);
  out.push(`<line x1="${lineX}" y1="55" x2="${lineX}" y2="${y - 10}" stroke="#333" stroke-dasharray="3,3"/><text x="${lineX + 3}" y="${y}" font-size="9">1.0 = no overhead</text>`);
  y += 14;
  keys.forEach((k, i) => {
    const x = 10 + (i % 3) * 260;
    const yy = y + Math.floor(i / 3) * 18;
    out.push(`<rect x="${x}" y="${yy}" width="12" height="12" fill="${COLOURS[k] ?? "#555"}"/><text x="${x + 16}" y="${yy + 10}" font-size="11">${esc(names[k])}</text>`);
  });
  out.push(`<text x="10" y="${height - 4}" font-size="9">* over the time budget: timed over the events reached. Footprint: peak top of the used region (sbrk-like); for typed arrays, sampled growth of the JS heap + array buffers. Footprint axis cut at 2.5x.</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 8}" viewBox="0 0 ${width} ${height + 8}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>${out.join("")}</svg>\n`;
}
