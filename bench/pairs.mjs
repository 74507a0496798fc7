#!/usr/bin/env node
// bench/pairs.mjs — `npm run bench:pairs`: the time of one malloc (or calloc) and one free of a
// given size through each allocator's public API, 64 blocks live, freed in a scattered order.
//
// usage: npm run bench:pairs -- [--sizes 48,640,4000] [--only KEYS] [--pairs 1000000] [--rounds 5]
//   keys as in `npm run bench` (default pymalloc,dlmalloc-wasm,mimalloc-wasm); each allocator runs
//   in a process of its own. A size n alternates with n + 16, so that a general allocator's free
//   chunks are not all one size. Prints the fastest round's ns a pair for malloc and for calloc.
//
// Owns: this microbenchmark of single block sizes (the raw allocator's speed above 512 bytes,
// README's Numbers, "Blocks over 512 bytes"). Must not: stand in for the trace replays, which are
// what the README's tables measure.

import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { benchArgs, onlyKeys } from "./args.mjs";
import { allAdapters } from "./adapters.mjs";

const { values } = benchArgs(import.meta.url, {
  options: {
    sizes: { type: "string", default: "48,640,4000" },
    only: { type: "string", default: "pymalloc,dlmalloc-wasm,mimalloc-wasm" },
    pairs: { type: "string", default: "1000000" },
    rounds: { type: "string", default: "5" },
    child: { type: "string" },
  },
});
const sizes = values.sizes.split(",").map(Number);
// Sizes a heap can serve (a failed malloc, 0, was timed as a pair before; "abc" a RangeError).
if (sizes.length === 0 || sizes.some((n) => !Number.isSafeInteger(n) || n < 1 || n > 2 ** 30)) {
  console.error(`bench:pairs: --sizes takes whole numbers of bytes from 1 to 2^30, comma-separated, not ${JSON.stringify(values.sizes)}`);
  process.exit(2);
}
if (!values.child) onlyKeys(values.only, allAdapters().map((a) => a.key).filter((k) => k !== "bump" && k !== "gc" && k !== "thing"), "bench:pairs");
const pairs = Number(values.pairs);
const rounds = Number(values.rounds);
const LIVE = 64;

if (values.child) {
  const a = allAdapters().find((x) => x.key === values.child);
  const ok = await a.available();
  if (ok !== true) {
    console.log(`  ${values.child}: skipped (${ok})`);
    process.exit(0);
  }
  // Sized like a small trace: the adapters size their buffers from a trace's description.
  const inst = a.create({ events: pairs, maxSlots: LIVE, peakLiveBytes: 1 << 20, totalRequestedBytes: 1 << 30 });
  const f = inst.fams[2];
  const view = inst.view;
  const ps = new Uint32Array(LIVE);
  const run = (n, zeroed) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < pairs; i++) {
      const k = (i * 7) & (LIVE - 1);
      if (ps[k] !== 0) f.free(ps[k]);
      const m = n + ((i & 1) << 4);
      const p = zeroed ? f.calloc(1, m) : f.malloc(m);
      ps[k] = p;
      view.u8[p] = 1;
    }
    return Number(process.hrtime.bigint() - t0) / pairs;
  };
  const cells = [];
  for (const n of sizes) {
    for (const zeroed of [false, true]) {
      let best = Infinity;
      for (let r = 0; r < rounds; r++) best = Math.min(best, run(n, zeroed));
      cells.push(`${zeroed ? "calloc" : "malloc"}(${n}) ${best.toFixed(1)}`);
    }
    for (let k = 0; k < LIVE; k++) if (ps[k] !== 0) (f.free(ps[k]), (ps[k] = 0));
  }
  console.log(`  ${a.name.padEnd(30)} ${cells.join("  ")}  ns a pair`);
} else {
  console.log(`${pairs.toLocaleString("en-US")} pairs a round, best of ${rounds} rounds, ${LIVE} blocks live`);
  for (const key of values.only.split(",")) {
    const args = [fileURLToPath(import.meta.url), "--child", key, "--sizes", values.sizes, "--pairs", String(pairs), "--rounds", String(rounds)];
    process.stdout.write(execFileSync(process.execPath, args, { encoding: "utf8" }));
  }
}
