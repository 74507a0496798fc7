#!/usr/bin/env node
// sidecar.mjs — check a .pymtrace.gz against FORMAT.md's invariants and write its sidecar NAME.json
// (the keys of ../shared/traces/*.json), merging NAME.pymtrace.gz.recorder.json (the recorder's
// counters) when present.
//
// usage: node sidecar.mjs TRACE.pymtrace.gz [--workload NAME] [--command "..."] [--no-write]
// Exit status 1 (and a message) when an invariant does not hold.
import { closeSync, openSync, readFileSync, readSync, writeFileSync, existsSync, statSync } from "node:fs";
import { constants as zlibConstants, gunzipSync } from "node:zlib";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { workload: { type: "string" }, command: { type: "string" }, "no-write": { type: "boolean" } },
});
const file = positionals[0];
if (!file) {
  console.error("usage: node sidecar.mjs TRACE.pymtrace.gz [--workload NAME] [--command CMD] [--no-write]");
  process.exit(2);
}
const name = basename(file).replace(/\.pymtrace(\.gz)?$/, "");
// An unreadable file or corrupt gzip: one line and exit 2 (it was an uncaught error's stack).
const refuse = (m) => {
  console.error(`${file}: ${m}`);
  process.exit(2);
};
// Bounded as src/trace/file.ts bounds the CLI's reading (its TRACE_MAX_BYTES_ENV and
// TRACE_MAX_BYTES; test/trace-hunt.test.ts holds the two alike): this script inflated up to 4
// GiB (a small .gz of zeros took that much memory, then "length ... != 32 + 8 * ...").
const MAX_ENV = "PYMALLOC_TRACE_MAX_BYTES";
const env = process.env[MAX_ENV];
const limit = env === undefined || env === "" ? 2 ** 30 : /^\d+$/.test(env.trim()) ? Number(env) : NaN;
if (!Number.isSafeInteger(limit) || limit < 32 || limit > 2 ** 32) {
  console.error(`${MAX_ENV}=${JSON.stringify(env)}: the limit on a trace's decompressed bytes must be an integer from 32 to ${2 ** 32}`);
  process.exit(2);
}
const past = (what) => refuse(`${what}, past the reader's limit of ${limit} bytes (set ${MAX_ENV}=BYTES to raise it)`);
let buf;
try {
  const st = statSync(file);
  // A FIFO with no writer blocked readFileSync for ever; a device is no trace.
  if (st.isDirectory()) refuse("cannot read (EISDIR)");
  if (!st.isFile()) refuse("not a regular file");
  const magic = Buffer.alloc(2);
  const fd = openSync(file, "r");
  readSync(fd, magic, 0, 2, 0);
  closeSync(fd);
  if (magic[0] === 0x1f && magic[1] === 0x8b) {
    if (st.size > limit + 65536 + Math.floor(limit / 256)) past(`a gzip file of ${st.size} bytes`);
    const raw = readFileSync(file);
    // The header from the first 4 KiB: the length the rest may inflate to, refused before inflating when past the limit.
    let bound = limit;
    let promised;
    try {
      const head = gunzipSync(raw.subarray(0, 4096), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      if (head.length >= 32 && head.toString("latin1", 0, 8) === "PYMTRACE") {
        promised = 32n + 8n * head.readBigUInt64LE(16);
        if (promised > BigInt(limit)) past(`header promises ${head.readBigUInt64LE(16)} events (${promised} bytes decompressed)`);
        bound = Number(promised);
      }
    } catch {
      // Corrupt from the start: the full inflate says how.
    }
    try {
      buf = gunzipSync(raw, { maxOutputLength: bound });
    } catch (e) {
      if (e.code === "ERR_BUFFER_TOO_LARGE") {
        if (promised !== undefined) refuse(`inflates to more than the ${promised} bytes its header promises (${(promised - 32n) / 8n} events): corrupt, or not a trace; inflating stopped there`);
        refuse(`inflates to more than the reader's limit of ${limit} bytes (set ${MAX_ENV}=BYTES to raise it); inflating stopped there`);
      }
      throw e;
    }
  } else {
    if (st.size > limit) past(`an uncompressed file of ${st.size} bytes`);
    buf = readFileSync(file); // .pymtrace uncompressed, as the CLI reads it
  }
} catch (e) {
  refuse(e.code === "ENOENT" || e.code === "EISDIR" || e.code === "EACCES" ? `cannot read (${e.code})` : `corrupt gzip data (${e.message})`);
}
const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
const fail = (m) => {
  console.error(`${file}: ${m}`);
  process.exit(1);
};
if (buf.toString("latin1", 0, 8) !== "PYMTRACE") fail("bad magic");
if (dv.getUint32(8, true) !== 1 || dv.getUint32(12, true) !== 0 || dv.getUint32(28, true) !== 0) fail("bad version/flags/reserved");
const count = Number(dv.getBigUint64(16, true));
const maxSlots = dv.getUint32(24, true);
if (buf.length !== 32 + 8 * count) fail(`length ${buf.length} != 32 + 8 * ${count}`);

const OPS = ["malloc", "calloc", "realloc", "free"];
const DOMS = ["raw", "mem", "obj"];
const live = new Int8Array(maxSlots).fill(-1);
const size = new Float64Array(maxSlots);
const perOpDom = Array.from({ length: 4 }, () => [0, 0, 0]);
const sizes = [[], [], []];
let liveBytes = 0, liveBlocks = 0, peakBytes = 0, peakBlocks = 0, zero = 0, used = 0;
// LIFO check: the stack of freed slots, and the next never-used slot
const freeStack = [];
let nextNew = 0, lifoViolations = 0;
for (let i = 0, off = 32; i < count; i++, off += 8) {
  const w = dv.getUint32(off, true), n = dv.getUint32(off + 4, true);
  const op = w >>> 30, d = (w >>> 28) & 3, slot = w & 0x0fffffff;
  if (d === 3) fail(`event ${i}: domain 3`);
  if (slot >= maxSlots) fail(`event ${i}: slot ${slot} >= max_slots ${maxSlots}`);
  if (slot + 1 > used) used = slot + 1;
  perOpDom[op][d]++;
  if (op <= 2) {
    sizes[d].push(n);
    if (n === 0) zero++;
  }
  if (op <= 1) {
    if (live[slot] >= 0) fail(`event ${i}: ${OPS[op]} into live slot ${slot}`);
    const expect = freeStack.length ? freeStack[freeStack.length - 1] : nextNew;
    if (slot !== expect) lifoViolations++;
    if (freeStack.length && slot === freeStack[freeStack.length - 1]) freeStack.pop();
    else if (slot === nextNew) nextNew++;
    live[slot] = d;
    size[slot] = n;
    liveBytes += n;
    liveBlocks++;
  } else {
    if (live[slot] !== d) fail(`event ${i}: ${OPS[op]} of slot ${slot} not live in domain ${DOMS[d]}`);
    if (op === 2 && n === 0 && false) fail("unreachable");
    liveBytes -= size[slot];
    if (op === 3) {
      live[slot] = -1;
      liveBlocks--;
      freeStack.push(slot);
    } else {
      size[slot] = n;
      liveBytes += n;
    }
  }
  if (liveBytes > peakBytes) peakBytes = liveBytes;
  if (liveBlocks > peakBlocks) peakBlocks = liveBlocks;
}
if (used !== maxSlots) fail(`max_slots ${maxSlots} but largest slot used + 1 is ${used}`);
if (lifoViolations) fail(`${lifoViolations} allocations did not take the last freed slot (LIFO)`);

function pct(arr) {
  const a = Uint32Array.from(arr).sort();
  const n = a.length;
  if (!n) return { requests: 0, p50: 0, p90: 0, p99: 0, max: 0, frac_le_512: 0 };
  const at = (p) => a[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  let le = 0;
  for (let i = 0; i < n; i++) if (a[i] <= 512) le++;
  return { requests: n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: a[n - 1], frac_le_512: +(le / n).toFixed(6) };
}
const rs = { obj: pct(sizes[2]), mem: pct(sizes[1]), raw: pct(sizes[0]), all: pct(sizes[0].concat(sizes[1], sizes[2])) };
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const out = {
  workload: values.workload ?? name,
  command: values.command ?? "",
  python_version: "3.11.7",
  trace_file: basename(file),
  trace_bytes_gz: statSync(file).size,
  events: count,
  max_slots: maxSlots,
  events_per_op: Object.fromEntries(OPS.map((o, i) => [o, sum(perOpDom[i])])),
  events_per_domain: Object.fromEntries(DOMS.map((d, j) => [d, sum(perOpDom.map((r) => r[j]))])),
  events_per_op_domain: Object.fromEntries(OPS.flatMap((o, i) => DOMS.map((d, j) => [`${o}/${d}`, perOpDom[i][j]]))),
  peak_live_bytes: peakBytes,
  peak_live_blocks: peakBlocks,
  live_blocks_at_end: liveBlocks,
  live_bytes_at_end: liveBytes,
  zero_size_requests: zero,
  request_sizes: rs,
  frac_requests_le_512: rs.all.frac_le_512,
};
const rec = `${file}.recorder.json`;
if (existsSync(rec)) out.recorder = JSON.parse(readFileSync(rec, "utf8"));
if (out.recorder && out.recorder.live_at_end !== liveBlocks)
  console.error(`note: recorder live_at_end ${out.recorder.live_at_end} != trace live blocks at end ${liveBlocks}`);
const target = join(dirname(file), `${name}.json`);
if (!values["no-write"]) writeFileSync(target, JSON.stringify(out, null, 1) + "\n");
console.log(
  `${name}: ok, ${count} events, max_slots ${maxSlots}, peak live ${peakBytes} B / ${peakBlocks} blocks, ` +
    `raw/mem/obj ${out.events_per_domain.raw}/${out.events_per_domain.mem}/${out.events_per_domain.obj}` +
    (values["no-write"] ? "" : ` -> ${target}`),
);
