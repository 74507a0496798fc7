// The browser test's page under a Content-Security-Policy without 'unsafe-eval' (csp.html, served
// by test/browser.test.ts as /csp/ and /cspwasm/, the latter with 'wasm-unsafe-eval'): the JS
// heap in every mode, threads with a Worker, snapshots and sampled sites need no eval or new
// Function; C in WebAssembly needs 'wasm-unsafe-eval' (without it the browser's CompileError).
// Every violation the page meets is recorded (a securitypolicyviolation event).
import { createHeap, instantiateWithHeap } from "./dist/index.js";

const violations = [];
document.addEventListener("securitypolicyviolation", (e) => violations.push(`${e.violatedDirective} ${e.blockedURI}`));

async function step(out, name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { error: `${e?.constructor?.name}: ${e?.message}` };
  }
}

async function run() {
  const out = { isolated: self.crossOriginIsolated };
  await step(out, "modes", () => {
    const seen = {};
    for (const allocator of ["pymalloc", "malloc", "debug"]) {
      const heap = createHeap({ allocator, threads: self.crossOriginIsolated, traceAllocations: allocator === "debug" ? true : undefined });
      const before = heap.snapshot();
      const ps = [];
      for (let i = 0; i < 200; i++) ps.push(heap.mem.malloc(8 + i * 13));
      const grew = heap.snapshot().compare(before).blocksDiff;
      for (const p of ps) heap.mem.free(p);
      heap.drainQuarantine();
      heap.check();
      seen[allocator] = { grew, blocks: heap.stats().blocksInUse };
    }
    const sampled = createHeap({ sampleInterval: 1 });
    sampled.obj.malloc(48);
    seen.sampledSite = /csp\.js/.test(sampled.leaks().bySite[0].site);
    return seen;
  });
  if (self.crossOriginIsolated) {
    await step(out, "worker", async () => {
      const heap = createHeap({ threads: true });
      const w = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
      const r = await new Promise((resolve, reject) => {
        w.onmessage = (e) => (e.data.error ? reject(new Error(e.data.error)) : resolve(e.data));
        w.onerror = (e) => reject(new Error(e.message));
        w.postMessage({ op: "alloc", memory: heap.memory.source, n: 100, fill: 1 });
      });
      w.terminate();
      return { threadId: r.threadId, blocks: r.ptrs.length };
    });
  }
  await step(out, "cInWasm", async () => {
    const bytes = new Uint8Array(await (await fetch("clients/bintrees-pymalloc.wasm")).arrayBuffer());
    const { instance, heap } = await instantiateWithHeap(bytes);
    return { sum: instance.exports.run(8, 1000) >>> 0, blocks: heap.stats().blocksInUse };
  });
  await step(out, "wasmImports", () => typeof createHeap({ memoryKind: "wasm" }).wasmImports().malloc);
  out.violations = violations;
  return out;
}

run().then(
  (r) => { window.__result = r; document.getElementById("out").textContent = JSON.stringify(r, null, 1); },
  (e) => { window.__result = { fatal: String(e?.stack ?? e) }; },
);
