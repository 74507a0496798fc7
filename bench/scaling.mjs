#!/usr/bin/env node
// bench/scaling.mjs — `npm run bench:threads`: throughput of one threads: true heap used by 1 and
// by 2 Workers at once, on a thread-local workload (each Worker allocates and frees its own
// small blocks of 16..271 bytes, 1,024 live at a time). Workers attach, run the loop once untimed
// (a warm-up: V8 compiles it on background threads, which on 2 cores would otherwise compete
// with the second Worker inside the timed part), wait at a barrier, then time their own loop;
// throughput = all operations / the slowest Worker's time (thread start-up is not counted).
// Prints operations per second and the scaling factor (2 Workers against 1), and, measured in
// the same rounds, 2 Workers with a threads: true heap each (the same code, nothing shared):
// what this machine gives two threads, the ceiling to compare with.
// usage: node bench/scaling.mjs [--ops N] [--warmup N] [--runs N]
import { Worker } from "node:worker_threads";
import { benchArgs } from "./args.mjs";
import { createHeap } from "../dist/index.js";

const { values } = benchArgs(import.meta.url, {
  options: { ops: { type: "string", default: "10000000" }, warmup: { type: "string", default: "1000000" }, runs: { type: "string", default: "7" } },
});
const ops = Number(values.ops);
const warmup = Number(values.warmup);
const runs = Number(values.runs);

const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
import(workerData.dist).then(({ attachHeap, createHeap }) => {
  const heap = workerData.own ? createHeap({ threads: true, initialBytes: 64 << 20 }) : attachHeap(workerData.memory);
  const obj = heap.obj;
  const live = new Uint32Array(1024);
  let s = workerData.seed;
  const work = (ops) => {
    for (let i = 0; i < ops; i++) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
      const k = (s >>> 8) & 1023;
      if (live[k] !== 0) obj.free(live[k]);
      live[k] = obj.malloc(16 + ((s >>> 20) & 255));
    }
    for (let k = 0; k < 1024; k++) if (live[k] !== 0) { obj.free(live[k]); live[k] = 0; }
  };
  work(workerData.warmup);
  const gate = new Int32Array(workerData.gate);
  Atomics.add(gate, 0, 1);
  while (Atomics.load(gate, 0) < workerData.workers) Atomics.wait(gate, 0, Atomics.load(gate, 0), 1);
  const t0 = performance.now();
  work(workerData.ops);
  const ms = performance.now() - t0;
  if (!workerData.own) heap.detachThread();
  parentPort.postMessage(ms);
});`;

const dist = new URL("../dist/index.js", import.meta.url).href;
async function round(workers, own = false) {
  const heap = createHeap({ threads: true, initialBytes: 64 << 20 });
  const gate = new SharedArrayBuffer(4);
  const times = await Promise.all(
    Array.from({ length: workers }, (_, i) =>
      new Promise((resolve, reject) => {
        const w = new Worker(WORKER, { eval: true, workerData: { memory: heap.memory.source, ops, warmup, seed: 12345 + i, dist, gate, workers, own } });
        w.on("message", resolve);
        w.on("error", reject);
      }),
    ),
  );
  const ms = Math.max(...times);
  heap.check();
  return (workers * ops) / (ms / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const one = [];
const two = [];
const apart = [];
for (let r = 0; r < runs; r++) {
  one.push(await round(1));
  two.push(await round(2));
  apart.push(await round(2, true));
}
const m1 = median(one);
const m2 = median(two);
const ma = median(apart);
console.log(`1 Worker:                  ${(m1 / 1e6).toFixed(2)} M malloc+free pairs/s`);
console.log(`2 Workers, one heap:       ${(m2 / 1e6).toFixed(2)} M malloc+free pairs/s (both together)`);
console.log(`2 Workers, a heap each:    ${(ma / 1e6).toFixed(2)} M malloc+free pairs/s (nothing shared)`);
const perRound = one.map((x, r) => two[r] / x);
console.log(`per round, 2 Workers on one heap against 1: ${perRound.map((x) => x.toFixed(2)).join(", ")} (median ${median(perRound).toFixed(2)}x)`);
console.log(`scaling: ${(m2 / m1).toFixed(2)}x on one heap, ${(ma / m1).toFixed(2)}x for heaps that share nothing (ideal 2x on 2 cores; median of ${runs} rounds, ${ops.toLocaleString("en-US")} timed operations per Worker after ${warmup.toLocaleString("en-US")} untimed)`);
