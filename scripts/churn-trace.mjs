#!/usr/bin/env node
// scripts/churn-trace.mjs — writes a synthetic steady-churn trace (/work/shared/traces/FORMAT.md,
// version 1): `live` blocks allocated, then a free of a block chosen at random and a malloc into
// its slot (slots reused last-in-first-out, as the format requires), until `events` events, then
// every block freed. The workload of docs/performance.md's "steady churn" numbers: a heap that
// neither grows nor shrinks, every call on the fast path (bench:wasm --instructions over it).
//
// usage: node scripts/churn-trace.mjs OUT.pymtrace.gz [--live 1000] [--size 58] [--sizes 8-512]
//        [--events 600000] [--seed 1] [--domain 2]
// --sizes A-B: each malloc's size drawn uniformly from A..B instead of --size.
// Owns: nothing but this file's output. Must not: depend on the library (it writes bytes only).

import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    live: { type: "string", default: "1000" },
    size: { type: "string", default: "58" },
    sizes: { type: "string" },
    events: { type: "string", default: "600000" },
    seed: { type: "string", default: "1" },
    domain: { type: "string", default: "2" },
  },
});
const num = (name) => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < 0) {
    console.error(`churn-trace: --${name} must be a non-negative integer, not ${values[name]}`);
    process.exit(2);
  }
  return v;
};
const out = positionals[0];
if (!out) {
  console.error("usage: node scripts/churn-trace.mjs OUT.pymtrace.gz [--live N] [--size N | --sizes A-B] [--events N] [--seed N] [--domain 0|1|2]");
  process.exit(2);
}
const live = Math.max(1, num("live"));
const events = Math.max(num("events"), 2 * live);
const domain = num("domain") & 3;
let [lo, hi] = [num("size"), num("size")];
if (values.sizes) {
  const m = /^(\d+)-(\d+)$/.exec(values.sizes);
  if (!m || Number(m[1]) > Number(m[2])) {
    console.error(`churn-trace: --sizes must be A-B with A <= B, not ${values.sizes}`);
    process.exit(2);
  }
  [lo, hi] = [Number(m[1]), Number(m[2])];
}
// xorshift32: the same trace for the same seed.
let s = num("seed") || 1;
const rand = () => {
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return (s >>> 0) / 2 ** 32;
};
const size = () => lo + Math.floor(rand() * (hi - lo + 1));

const buf = Buffer.alloc(32 + 8 * events);
buf.write("PYMTRACE", 0, "ascii");
buf.writeUInt32LE(1, 8);
buf.writeBigUInt64LE(BigInt(events), 16);
buf.writeUInt32LE(live, 24);
let at = 32;
const ev = (op, slot, n) => {
  buf.writeUInt32LE(((op << 30) | (domain << 28) | slot) >>> 0, at);
  buf.writeUInt32LE(n, at + 4);
  at += 8;
};
for (let i = 0; i < live; i++) ev(0, i, size());
// Churn pairs, leaving `live` events for the final frees.
const pairs = Math.floor((events - 2 * live) / 2);
for (let i = 0; i < pairs; i++) {
  const slot = Math.floor(rand() * live);
  ev(3, slot, 0);
  ev(0, slot, size());
}
for (let i = 0; i < live; i++) ev(3, i, 0);
const used = at;
buf.writeBigUInt64LE(BigInt((used - 32) / 8), 16);
writeFileSync(out, gzipSync(buf.subarray(0, used)));
console.log(`${out}: ${(used - 32) / 8} events, ${live} live, sizes ${lo}-${hi}`);
