#!/usr/bin/env node
// bench/footprint.mjs — `npm run bench:footprint`: memory footprint against heap size, every allocator.
//
// Owns: the footprint sweep (workloads, the replay that counts resident pages, the table and the
// chart bench/results/footprint.svg). Must not: time anything (footprint is deterministic, so the
// machine's load does not matter), nor change the adapters (bench/adapters.mjs) it replays through.
//
// usage: npm run bench:footprint -- [TRACE.pymtrace.gz ...] [--only KEYS] [--max-live MiB] [--no-write]
//
// Workloads, each replayed through every allocator of `npm run bench` that reports a footprint
// (thing, bump, gc and debug are left out unless named in --only):
// - trace prefixes: each shared trace (default ../shared/traces/*.pymtrace.gz) cut where its live
//   bytes first reach 64 KiB, 256 KiB, 1 MiB, ... (x4), and whole. A prefix of N events is what
//   `node scripts/cut-trace.mjs IN OUT N` writes (N printed in the table); the allocators being
//   deterministic, the figures after N events of one replay of the whole trace are those of a
//   replay of the cut file, so each trace is replayed once and read at every cut.
// - synthetic: for each shared trace, a trace of its own request sizes (malloc/calloc/realloc
//   sizes with their domain, sampled uniformly from its events; sizes over an eighth of the target
//   drawn again) that grows to a target live size with frees among the mallocs (35% of events),
//   frees half of its blocks at random, and grows back to the target: targets 64 KiB to 256 MiB
//   (x4). Deterministic (seeded by trace and target).
//
// Two measures, peak values over the workload, divided by its peak live requested bytes:
// - footprint: the top of the used region, what an sbrk would have handed out (pymalloc's
//   stats().peakFootprint, dlmalloc's sbrk high water, ...), from where the allocator's memory
//   starts: pymalloc's heap start (address 0 here, its header included), a WebAssembly peer's
//   __heap_base (its module's static data and 64 KiB C stack below it are not heap; before
//   2026-12-06 they were counted, 65.5 KiB for dlmalloc), as `npm run bench` reports it;
// - resident: 4 KiB pages ever written, with every block written over its whole requested size
//   (at least one byte) and the 16 bytes before it, marked in a bitmap by this replay for every
//   allocator alike.
//
// Each allocator runs in a process of its own (node bench/footprint.mjs --child KEY ...) so that
// one's memory is given back before the next.

import { mkdirSync, writeFileSync, readdirSync, existsSync } from "node:fs";
import { dirname, join, basename } from "node:path";
import { fileURLToPath } from "node:url";
import { benchArgs, onlyKeys, withEvents } from "./args.mjs";
import { execFileSync } from "node:child_process";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const RESULTS = join(HERE, "results");
const KIB = 1024;
const MIB = 1024 * KIB;
const PAGE_SHIFT = 12;
/** Bytes before a block counted as written with it (a chunk header, or a pool header's tail). */
const LEAD = 16;
/** Adapters left out by default: no footprint (gc), no free (bump), too slow (thing), debug layout. */
const NOT_BY_DEFAULT = new Set(["thing", "bump", "gc", "debug"]);

const { values, positionals } = benchArgs(import.meta.url, {
  allowPositionals: true,
  options: {
    only: { type: "string" },
    "max-live": { type: "string", default: "256" },
    "no-write": { type: "boolean", default: false },
    child: { type: "string" },
  },
});
const maxLive = Number(values["max-live"]) * MIB;
if (!(maxLive >= 64 * KIB)) {
  console.error("bench:footprint: --max-live is in MiB, at least 0.0625");
  process.exit(2);
}
const SHARED = join(ROOT, "..", "shared", "traces");
const files = values.child !== undefined ? positionals : positionals.length
  ? withEvents(positionals)
  : existsSync(SHARED)
    ? readdirSync(SHARED).filter((f) => f.endsWith(".pymtrace.gz")).sort().map((f) => join(SHARED, f))
    : [join(ROOT, "data", "compileall-head.pymtrace.gz")];
const traceName = (f) => basename(f).replace(/\.pymtrace(\.gz)?$/, "");

/** Live-size targets: 64 KiB, 256 KiB, ... up to `top`. */
function targets(top) {
  const out = [];
  for (let t = 64 * KIB; t <= top; t *= 4) out.push(t);
  return out;
}

const fmtSize = (n) => (n >= MIB ? `${+(n / MIB).toFixed(n >= 10 * MIB ? 0 : 1)} MiB` : `${+(n / KIB).toFixed(0)} KiB`);

// ---------------------------------------------------------------------------------------------
// Child: one allocator over every workload
// ---------------------------------------------------------------------------------------------

/** A deterministic 32-bit PRNG (mulberry32) in [0, 1). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The (domain << 28, size) of every malloc/calloc/realloc request of trace t. */
function requestSizes(t) {
  let n = 0;
  for (let i = 0; i < t.count; i++) if (t.events[2 * i] >>> 30 !== 3) n++;
  const dom = new Uint32Array(n);
  const size = new Uint32Array(n);
  for (let i = 0, k = 0; i < t.count; i++) {
    const w = t.events[2 * i];
    if (w >>> 30 === 3) continue;
    dom[k] = w & 0x30000000;
    size[k++] = t.events[2 * i + 1];
  }
  return { dom, size, n };
}

/**
 * A synthetic trace of `target` live bytes with the request sizes of `sizes`: grow to the target
 * (35% of events free a random live block), free half the blocks, grow back. Trace format events.
 */
function synthetic(sizes, target, seed) {
  const rand = rng(seed);
  let cap = 1 << 16;
  let ev = new Uint32Array(cap * 2);
  let count = 0;
  const push = (w, s) => {
    if (count === cap) {
      cap *= 2;
      const e = new Uint32Array(cap * 2);
      e.set(ev);
      ev = e;
    }
    ev[2 * count] = w;
    ev[2 * count + 1] = s;
    count++;
  };
  const liveSlot = []; // slot of each live block
  const liveSize = [];
  const liveDom = [];
  const freeSlots = [];
  let nextSlot = 0;
  let live = 0;
  const limit = Math.max(16, target >>> 3);
  const freeAt = (k) => {
    push((3 << 30) | liveDom[k] | liveSlot[k], 0);
    live -= liveSize[k];
    freeSlots.push(liveSlot[k]);
    const last = liveSlot.length - 1;
    liveSlot[k] = liveSlot[last];
    liveSize[k] = liveSize[last];
    liveDom[k] = liveDom[last];
    liveSlot.pop();
    liveSize.pop();
    liveDom.pop();
  };
  const grow = () => {
    while (live < target) {
      if (liveSlot.length > 0 && rand() < 0.35) {
        freeAt(Math.floor(rand() * liveSlot.length));
        continue;
      }
      let j;
      do j = Math.floor(rand() * sizes.n);
      while (sizes.size[j] > limit);
      const slot = freeSlots.length > 0 ? freeSlots.pop() : nextSlot++;
      push(sizes.dom[j] | slot, sizes.size[j]);
      liveSlot.push(slot);
      liveSize.push(sizes.size[j]);
      liveDom.push(sizes.dom[j]);
      live += sizes.size[j];
    }
  };
  grow();
  for (let k = liveSlot.length - 1; k >= 0; k--) if (rand() < 0.5) freeAt(k);
  grow();
  return { name: "synthetic", count, maxSlots: nextSlot, events: ev };
}

/** Event counts at which the live bytes first reach each target, and the peak live up to each. */
function cutPoints(t, tgts) {
  const size = new Float64Array(t.maxSlots);
  let live = 0;
  let peak = 0;
  const out = [];
  let k = 0;
  const ev = t.events;
  for (let i = 0; i < t.count; i++) {
    const w = ev[2 * i];
    const slot = w & 0x0fffffff;
    const op = w >>> 30;
    if (op === 3) live -= size[slot];
    else {
      if (op === 2) live -= size[slot];
      size[slot] = ev[2 * i + 1];
      live += size[slot];
    }
    if (live > peak) peak = live;
    while (k < tgts.length && live >= tgts[k]) {
      out.push({ target: tgts[k], events: i + 1, peakLive: peak });
      k++;
    }
  }
  out.push({ target: 0, events: t.count, peakLive: peak });
  return out;
}

/**
 * Replay t through a fresh instance, counting resident pages; at each of `at` (ascending event
 * counts) read the peak footprint and the pages. Returns [{footprint, resident}] in `at`'s order.
 */
function replayPages(inst, t, at) {
  const { fams } = inst;
  const ptr = new Uint32Array(t.maxSlots);
  const pages = new Uint8Array(2 ** (32 - PAGE_SHIFT));
  let resident = 0;
  const ev = t.events;
  const out = [];
  let k = 0;
  for (let i = 0; i < t.count; i++) {
    const w = ev[2 * i];
    const size = ev[2 * i + 1];
    const op = w >>> 30;
    const f = fams[(w >>> 28) & 3];
    const slot = w & 0x0fffffff;
    if (op === 3) f.free(ptr[slot]);
    else {
      const p = op === 0 ? f.malloc(size) : op === 1 ? f.calloc(1, size) : f.realloc(ptr[slot], size);
      if (p === 0) throw new Error(`${t.name}: event ${i}: allocation of ${size} bytes failed`);
      ptr[slot] = p;
      const last = (p + Math.max(size, 1) - 1) >>> PAGE_SHIFT;
      for (let q = Math.max(0, p - LEAD) >>> PAGE_SHIFT; q <= last; q++) {
        if (pages[q] === 0) {
          pages[q] = 1;
          resident++;
        }
      }
    }
    while (k < at.length && at[k] === i + 1) {
      out.push({ footprint: inst.peakFootprint(), resident: resident << PAGE_SHIFT });
      k++;
    }
  }
  return out;
}

async function child(key) {
  const { readTraceFile } = await import("../dist/trace/file.js");
  const { allAdapters } = await import("./adapters.mjs");
  const { describeTrace } = await import("./trace-info.mjs");
  const a = allAdapters().find((x) => x.key === key);
  const ok = await a.available();
  if (ok !== true) throw new Error(`${key}: ${ok}`);
  const rows = [];
  for (const file of files) {
    const t = readTraceFile(file);
    t.name = traceName(file);
    const info = describeTrace(t);
    // Prefixes: one replay, read at every cut.
    const cuts = cutPoints(t, targets(Math.min(maxLive, info.peakLiveBytes)));
    const got = replayPages(a.create(info), t, cuts.map((c) => c.events));
    cuts.forEach((c, i) => rows.push({ kind: "prefix", source: t.name, target: c.target, events: c.events, peakLive: c.peakLive, ...got[i] }));
    // Synthetic traces with this trace's request sizes.
    const sizes = requestSizes(t);
    for (const target of targets(maxLive)) {
      const s = synthetic(sizes, target, hashString(`${t.name}:${target}`));
      s.name = `${t.name}-synthetic-${target}`;
      const sInfo = describeTrace(s);
      const [r] = replayPages(a.create(sInfo), s, [s.count]);
      rows.push({ kind: "synthetic", source: t.name, target, events: s.count, peakLive: sInfo.peakLiveBytes, ...r });
    }
  }
  process.stdout.write(JSON.stringify({ key, name: a.name, rows }) + "\n");
}

// ---------------------------------------------------------------------------------------------
// Parent: every allocator, the table and the chart
// ---------------------------------------------------------------------------------------------

const COLOURS = { pymalloc: "#2e7d32", align16: "#9ccc65", malloc: "#66bb6a", threads: "#00838f", "dlmalloc-wasm": "#1565c0", emmalloc: "#ef6c00", mimalloc: "#8e24aa", debug: "#c62828" };
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;");
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Footprint / live against live size (log scale): one panel per measure, a line per allocator over the synthetic medians, dots for trace prefixes. */
export function footprintSvg(results) {
  const panelW = 430;
  const panelH = 300;
  const left = 60;
  const top = 50;
  const gap = 70;
  const width = left + 2 * panelW + gap + 20;
  const legendRows = Math.ceil(results.length / 4);
  const height = top + panelH + 50 + legendRows * 18 + 30;
  const lives = results.flatMap((r) => r.rows.map((x) => x.peakLive));
  const lo = Math.log2(Math.min(...lives) / 1.2);
  const hi = Math.log2(Math.max(...lives) * 1.2);
  const yMin = 0.9;
  const yMax = 2.0;
  const out = [];
  out.push(`<text x="10" y="20" font-size="15" font-weight="bold">pymalloc footprint sweep: bytes used / peak live bytes, against live size (lower is better)</text>`);
  const measures = [
    ["footprint", "top of the used region (peak footprint)"],
    ["resident", "resident: 4 KiB pages ever written"],
  ];
  measures.forEach(([m, title], pi) => {
    const x0 = left + pi * (panelW + gap);
    const X = (live) => x0 + ((Math.log2(live) - lo) / (hi - lo)) * panelW;
    const Y = (r) => top + panelH - ((Math.min(Math.max(r, yMin), yMax) - yMin) / (yMax - yMin)) * panelH;
    out.push(`<text x="${x0}" y="${top - 8}" font-size="12" font-weight="bold">${esc(title)}</text>`);
    out.push(`<rect x="${x0}" y="${top}" width="${panelW}" height="${panelH}" fill="none" stroke="#999"/>`);
    for (let r = 1.0; r <= yMax + 1e-9; r += 0.1) {
      const y = Y(r);
      out.push(`<line x1="${x0}" y1="${y.toFixed(1)}" x2="${x0 + panelW}" y2="${y.toFixed(1)}" stroke="${Math.abs(r - 1) < 1e-9 ? "#333" : "#eee"}"${Math.abs(r - 1) < 1e-9 ? ' stroke-dasharray="3,3"' : ""}/>`);
      out.push(`<text x="${x0 - 4}" y="${(y + 3).toFixed(1)}" font-size="9" text-anchor="end">${r.toFixed(1)}</text>`);
    }
    for (let s = 64 * KIB; s <= 2 ** hi; s *= 4) {
      if (Math.log2(s) < lo) continue;
      const x = X(s);
      out.push(`<line x1="${x.toFixed(1)}" y1="${top}" x2="${x.toFixed(1)}" y2="${top + panelH}" stroke="#eee"/>`);
      out.push(`<text x="${x.toFixed(1)}" y="${top + panelH + 14}" font-size="9" text-anchor="middle">${fmtSize(s)}</text>`);
    }
    out.push(`<text x="${x0 + panelW / 2}" y="${top + panelH + 30}" font-size="10" text-anchor="middle">peak live requested bytes (log scale)</text>`);
    for (const r of results) {
      const c = COLOURS[r.key] ?? "#555";
      const syn = new Map();
      for (const x of r.rows) if (x.kind === "synthetic") (syn.get(x.target) ?? syn.set(x.target, []).get(x.target)).push(x);
      const pts = [...syn.values()].map((xs) => [median(xs.map((x) => x.peakLive)), median(xs.map((x) => x[m] / x.peakLive))]).sort((a, b) => a[0] - b[0]);
      out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map(([l, v]) => `${X(l).toFixed(1)},${Y(v).toFixed(1)}`).join(" ")}"><title>${esc(r.name)}: synthetic, median of the distributions</title></polyline>`);
      for (const x of r.rows) {
        if (x.kind !== "prefix") continue;
        const v = x[m] / x.peakLive;
        out.push(`<circle cx="${X(x.peakLive).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="2.5" fill="${c}"><title>${esc(r.name)}: ${esc(x.source)} prefix, ${fmtSize(x.peakLive)} live: x${v.toFixed(3)}</title></circle>`);
      }
    }
  });
  const ly = top + panelH + 50;
  results.forEach((r, i) => {
    const x = 10 + (i % 4) * 230;
    const y = ly + Math.floor(i / 4) * 18;
    out.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${COLOURS[r.key] ?? "#555"}"/><text x="${x + 16}" y="${y + 10}" font-size="11">${esc(r.name)}</text>`);
  });
  out.push(`<text x="10" y="${height - 6}" font-size="9">Lines: synthetic traces with the shared traces' request sizes (median of the four). Dots: prefixes of the shared traces. Axis cut at ${yMax}x.</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>${out.join("")}</svg>\n`;
}

async function parent() {
  const { allAdapters } = await import("./adapters.mjs");
  const only = onlyKeys(values.only, allAdapters().map((a) => a.key), "bench:footprint");
  const adapters = [];
  for (const a of allAdapters()) {
    if (only ? !only.has(a.key) : NOT_BY_DEFAULT.has(a.key)) continue;
    const ok = await a.available();
    if (ok !== true) console.log(`skipped: ${a.name}: ${ok}`);
    else adapters.push(a);
  }
  const results = [];
  for (const a of adapters) {
    const t0 = Date.now();
    const args = [fileURLToPath(import.meta.url), "--child", a.key, "--max-live", String(maxLive / MIB), ...files];
    const outText = execFileSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "inherit"] });
    results.push(JSON.parse(outText.trim().split("\n").pop()));
    console.error(`${a.key}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  const keys = results.map((r) => r.key);
  const rowsOf = new Map(results.map((r) => [r.key, r.rows]));
  const base = results[0].rows;
  const lines = [];
  const head = `| workload | live | events | ${keys.map((k) => `${k} footprint`).join(" | ")} | ${keys.map((k) => `${k} resident`).join(" | ")} |`;
  lines.push(head, `|---|---:|---:|${keys.map(() => "---:").join("|")}|${keys.map(() => "---:").join("|")}|`);
  const fails = [];
  base.forEach((row, i) => {
    const label = row.kind === "prefix" ? `${row.source} ${row.target ? "cut" : "whole"}` : `${row.source} synthetic`;
    const cells = (m) =>
      keys.map((k) => {
        const x = rowsOf.get(k)[i];
        return (x[m] / x.peakLive).toFixed(3);
      });
    lines.push(`| ${label} | ${fmtSize(row.peakLive)} | ${row.events.toLocaleString("en-US")} | ${cells("footprint").join(" | ")} | ${cells("resident").join(" | ")} |`);
    const py = rowsOf.get("pymalloc")?.[i];
    if (py) {
      for (const other of ["dlmalloc-wasm", "malloc"]) {
        const o = rowsOf.get(other)?.[i];
        if (!o) continue;
        for (const m of ["footprint", "resident"]) if (py[m] > o[m]) fails.push(`${label} ${fmtSize(row.peakLive)}: pymalloc ${m} ${(py[m] / py.peakLive).toFixed(3)} > ${other} ${(o[m] / o.peakLive).toFixed(3)}`);
      }
    }
  });
  const table = lines.join("\n");
  console.log(table);
  // The shared traces whole: median per allocator.
  const whole = (k, m) => median(rowsOf.get(k).filter((x) => x.kind === "prefix" && x.target === 0).map((x) => x[m] / x.peakLive));
  const summary = keys.map((k) => `${k} ${whole(k, "footprint").toFixed(3)} / ${whole(k, "resident").toFixed(3)}`).join(", ");
  console.log(`\nwhole traces, median footprint / resident over live: ${summary}`);
  // The claim names only what was run (--only pymalloc alone claimed it against allocators it never ran).
  const against = ["dlmalloc-wasm", "malloc"].filter((k) => rowsOf.has(k) && rowsOf.has("pymalloc"));
  if (against.length === 0) console.log("\n(pymalloc against dlmalloc-wasm and malloc mode: not both run, nothing compared)");
  else console.log(fails.length ? `\npymalloc above ${against.join(" or ")} in ${fails.length} cases:\n  ${fails.join("\n  ")}` : `\npymalloc <= ${against.join(" and <= ")} in both measures everywhere`);
  if (!values["no-write"]) {
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, "footprint.json"), JSON.stringify({ date: new Date().toISOString(), node: process.version, files: files.map(traceName), results }, null, 1) + "\n");
    writeFileSync(join(RESULTS, "footprint.md"), table + "\n");
    writeFileSync(join(RESULTS, "footprint.svg"), footprintSvg(results));
    console.log("wrote bench/results/footprint.{json,md,svg}");
  }
}

if (values.child) await child(values.child);
else await parent();
