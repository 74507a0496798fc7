#!/usr/bin/env node
// bench/views.mjs — micro benchmark of the ways to reach a heap's bytes in a loop that allocates:
// each iteration is obj.malloc(16..143), one byte written at the block through the view, free.
//
// usage: node bench/views.mjs [--instructions] [--iterations N] [--only VARIANTS]
// Variants (each in a Node process of its own, so that none shapes another's compiled code):
//   getter    heap.u8 read at every iteration (the README's way)
//   held      a Uint8Array in a local variable, replaced by heap.memory.onGrow
//   refresh   heap.memory.refresh() then heap.memory.views.u8 (the getter before 2026-12-02)
//   tracking  a length-tracking Uint8Array over the growable SharedArrayBuffer, held in a local
// Prints ns an iteration (median of 5 timed passes); with --instructions, machine instructions
// an iteration instead, counted by valgrind as in bench/instructions.mjs: the difference
// between runs of N and 2N iterations, over N.

import { spawnSync, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { benchArgs } from "./args.mjs";
import { createHeap } from "../dist/index.js";

const { values } = benchArgs(import.meta.url, {
  options: {
    instructions: { type: "boolean", default: false },
    iterations: { type: "string", default: "2000000" },
    only: { type: "string", default: "getter,held,refresh,tracking" },
    child: { type: "string" },
    passes: { type: "string", default: "5" },
  },
});
const N = Number(values.iterations);

function loopGetter(heap, n) {
  const obj = heap.obj;
  for (let i = 0; i < n; i++) {
    const p = obj.malloc(16 + (i & 127));
    heap.u8[p] = i;
    obj.free(p);
  }
}

function loopHeld(heap, view, n) {
  const obj = heap.obj;
  for (let i = 0; i < n; i++) {
    const p = obj.malloc(16 + (i & 127));
    view.u8[p] = i;
    obj.free(p);
  }
}

function loopRefresh(heap, n) {
  const obj = heap.obj;
  const m = heap.memory;
  for (let i = 0; i < n; i++) {
    const p = obj.malloc(16 + (i & 127));
    m.refresh();
    m.views.u8[p] = i;
    obj.free(p);
  }
}

function loopTracking(heap, u8, n) {
  const obj = heap.obj;
  for (let i = 0; i < n; i++) {
    const p = obj.malloc(16 + (i & 127));
    u8[p] = i;
    obj.free(p);
  }
}

function run(variant, n) {
  const heap = createHeap({ traceAllocations: false });
  switch (variant) {
    case "getter":
      return () => loopGetter(heap, n);
    case "held": {
      const view = { u8: heap.u8 };
      heap.memory.onGrow((v) => {
        view.u8 = v.u8;
      });
      return () => loopHeld(heap, view, n);
    }
    case "refresh":
      return () => loopRefresh(heap, n);
    case "tracking": {
      const u8 = new Uint8Array(heap.memory.source); // no length: tracks the growable buffer
      return () => loopTracking(heap, u8, n);
    }
  }
  throw new Error(`unknown variant ${variant}`);
}

if (values.child) {
  // --child VARIANT:N:PASSES: a warm-up pass, then PASSES timed passes of N iterations.
  const [variant, n, passes] = values.child.split(":");
  const f = run(variant, Number(n));
  f();
  const times = [];
  for (let k = 0; k < Number(passes); k++) {
    const t0 = process.hrtime.bigint();
    f();
    times.push(Number(process.hrtime.bigint() - t0) / Number(n));
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ variant, ns: times[times.length >> 1] }));
} else {
  const me = fileURLToPath(import.meta.url);
  const irefs = (variant, n) => {
    const args = ["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", process.execPath, "--no-concurrent-recompilation", me, "--child", `${variant}:${n}:1`];
    const r = spawnSync("valgrind", args, { encoding: "utf8", maxBuffer: 1 << 26 });
    const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
    if (r.status !== 0 || !m) throw new Error(`valgrind ${variant} failed:\n${r.stderr.slice(-2000)}`);
    return Number(m[1].replace(/,/g, ""));
  };
  for (const variant of values.only.split(",")) {
    if (values.instructions) {
      const per = (irefs(variant, 2 * N) - irefs(variant, N)) / (2 * N); // two more passes of N (warm-up + timed)
      console.log(`${variant.padEnd(9)} ${per.toFixed(1).padStart(7)} instructions an iteration`);
    } else {
      const out = execFileSync(process.execPath, [me, "--child", `${variant}:${N}:${values.passes}`], { encoding: "utf8" });
      console.log(`${variant.padEnd(9)} ${JSON.parse(out).ns.toFixed(2).padStart(7)} ns an iteration`);
    }
  }
}
