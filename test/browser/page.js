// The browser test's page (served by test/browser.test.ts next to dist/): uses the library as a
// web page would, and returns what it saw for the test to assert on. Nothing is asserted here:
// every step records its outcome, and an exception is recorded as the step's error.
import { createHeap, attachHeap, ALLOCATOR_MODES, instantiateWithHeap, heapForModule, linkFastPath, MemoryCorruptionError } from "./dist/index.js";

const KINDS = ["growable-shared", "wasm", "resizable", "fixed"];

/** Allocate, write, free and check in every family of one heap; what came out. */
function exercise(heap) {
  const live = [];
  for (const fam of [heap.obj, heap.mem, heap.raw]) {
    for (const n of [1, 8, 24, 100, 512, 513, 4000, 70000]) {
      const p = fam.malloc(n);
      if (p === 0) throw new Error(`malloc(${n}) returned NULL`);
      heap.u8.fill(n & 0xff, p, p + n);
      live.push([fam, p, n]);
    }
  }
  // More than the memory's first MiB: a growable kind grows, a fixed buffer says NULL.
  const big = heap.mem.malloc(3 << 20);
  const bigNull = big === 0;
  if (!bigNull) heap.u8.fill(7, big, big + (3 << 20));
  heap.check();
  heap.mem.free(big);
  const grew = heap.u8.length;
  let ok = true;
  for (const [, p, n] of live) for (let i = 0; i < n; i += 97) if (heap.u8[p + i] !== (n & 0xff)) ok = false;
  heap.check();
  const during = heap.stats();
  for (const [fam, p] of live.splice(0)) fam.free(p);
  heap.drainQuarantine();
  heap.check();
  return { contentsKept: ok, blocks: live.length, byteLength: grew, bigNull, mode: heap.mode, kind: heap.memory.kind };
}

async function step(out, name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { error: `${e?.constructor?.name}: ${e?.message}` };
  }
}

function threadsInWorkers(heap) {
  // Two module Workers attach to the heap; each allocates blocks, hands their addresses to the
  // other, which frees them (foreign frees), then both detach.
  const N = 2000;
  const spawn = () => new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  const a = spawn();
  const b = spawn();
  const ask = (w, msg) =>
    new Promise((resolve, reject) => {
      w.onmessage = (e) => (e.data.error ? reject(new Error(e.data.error)) : resolve(e.data));
      w.onerror = (e) => reject(new Error(e.message));
      w.postMessage(msg);
    });
  const memory = heap.memory.source;
  return (async () => {
    const [ra, rb] = await Promise.all([ask(a, { op: "alloc", memory, n: N, fill: 0xa1 }), ask(b, { op: "alloc", memory, n: N, fill: 0xb2 })]);
    const midBlocks = countBlocks(heap);
    const [fa, fb] = await Promise.all([ask(a, { op: "free", ptrs: rb.ptrs, fill: 0xb2 }), ask(b, { op: "free", ptrs: ra.ptrs, fill: 0xa1 })]);
    await Promise.all([ask(a, { op: "detach" }), ask(b, { op: "detach" })]);
    a.terminate();
    b.terminate();
    heap.collect();
    heap.check();
    return {
      threadIds: [ra.threadId, rb.threadId],
      allocated: ra.ptrs.length + rb.ptrs.length,
      liveWhileHeld: midBlocks,
      freedByOther: fa.freed + fb.freed,
      contentsSeenByOther: fa.intact && fb.intact,
      liveAfter: countBlocks(heap),
      mainThreadId: heap.threadId,
    };
  })();
}

function countBlocks(heap) {
  let n = 0;
  heap.walk(() => n++);
  return n;
}

/** wasi-libc's imports the dlmalloc build may name: none is called by run(). */
const WASI = new Proxy({}, { get: () => () => 0 });

/**
 * C compiled to WebAssembly on pymalloc, as a page would run it: wasm/clients/bintrees.c built
 * against pymalloc (imports malloc & co: the fast path's own instance), the same source linked
 * with the fast path by `pymalloc link` (the test links it before the page loads), and built over
 * wasi-libc's dlmalloc (the checksum to match); then families.c in debug mode, whose
 * PyMem_Free of a PyObject_Malloc block must come out of the wasm call as an api-mismatch.
 */
async function cInWasm(where) {
  const get = async (path) => new Uint8Array(await (await fetch(path)).arrayBuffer());
  const [imported, linked, dl, families] = await Promise.all(["clients/bintrees-pymalloc.wasm", "linked/bintrees.wasm", "clients/bintrees-dlmalloc.wasm", "clients/families.wasm"].map(get));
  const out = {};
  const depth = 10, strings = 20000;
  {
    const info = WebAssembly.Module.imports(new WebAssembly.Module(dl));
    const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536 });
    const { instance } = await WebAssembly.instantiate(dl, { env: { memory }, wasi_snapshot_preview1: WASI });
    (instance.exports._initialize ?? instance.exports.__wasm_call_ctors)?.();
    out.dlmalloc = instance.exports.run(depth, strings) >>> 0;
    out.dlImports = info.length;
  }
  for (const [name, bytes] of [["imported", imported], ["linked", linked]]) {
    const heap = heapForModule(bytes);
    const { instance } = await instantiateWithHeap(bytes, { heap });
    const sums = [instance.exports.run(depth, strings) >>> 0, instance.exports.run(depth, strings) >>> 0];
    heap.check();
    const s = heap.stats();
    out[name] = { sums, blocksInUse: s.blocksInUse, mode: heap.mode, linked: WebAssembly.Module.customSections(new WebAssembly.Module(bytes), "pymalloc.linked").length > 0 };
  }
  {
    const { instance, heap } = await instantiateWithHeap(families, { allocator: "debug" });
    const o = instance.exports.obj_new(24);
    heap.u8.fill(5, o, o + 24);
    instance.exports.obj_del(o);
    try {
      instance.exports.buggy_release(40);
      out.mismatch = { thrown: false };
    } catch (e) {
      out.mismatch = { thrown: true, typed: e instanceof MemoryCorruptionError, kind: e.kind, message: e.message };
    }
  }
  out.where = where;
  return out;
}

/**
 * A C module (wasm/clients/stack.c, built for a shared memory) on a threads: true heap: run on the
 * page's handle, then in two module Workers at once, each on its own handle (its own C stack from
 * the heap): the same results, the heap consistent and empty after.
 */
async function cInWorkers() {
  const bytes = new Uint8Array(await (await fetch("clients/stack-shared.wasm")).arrayBuffer());
  const heap = heapForModule(bytes, { threads: true });
  const { instance } = await instantiateWithHeap(bytes, { heap });
  const seeds = [11, 22];
  const rounds = 5000;
  const want = seeds.map((s) => instance.exports.run(s, rounds) >>> 0);
  const got = await Promise.all(
    seeds.map(
      (seed) =>
        new Promise((resolve, reject) => {
          const w = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
          w.onmessage = (e) => (w.terminate(), e.data.error ? reject(new Error(e.data.error)) : resolve(e.data));
          w.onerror = (e) => reject(new Error(e.message));
          w.postMessage({ op: "c", memory: heap.memory.source, heapBase: heap.heapBase, bytes, seed, rounds });
        }),
    ),
  );
  heap.check();
  // (Each Worker's stack and slot are freed when it is done: a Worker that starts later may get the same ones.)
  return { same: got.every((g, i) => g.result === want[i]), workers: got.length, stacksFromHeap: got.every((g) => g.stack > heap.heapBase), blocksInUse: heap.stats().blocksInUse };
}

/**
 * adoptThread in a page: a Worker still running (its pools changing every 150 ms) is refused with a
 * PymallocError that says to let the page's event loop run (taken for stopped after two looks 25 ms
 * apart before 2026-12-07, its pools handed to others while it allocated); once terminated and the
 * page's event loop has run 2.5 s (Chromium stops a busy Worker from it, 2 s after terminate()),
 * adopted, the heap whole.
 */
async function adoptInPage() {
  const heap = createHeap({ threads: true });
  const w = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  const id = await new Promise((resolve, reject) => {
    w.onmessage = (e) => (e.data.error ? reject(new Error(e.data.error)) : resolve(e.data.threadId));
    w.onerror = (e) => reject(new Error(e.message));
    w.postMessage({ op: "bursts", memory: heap.memory.source });
  });
  await new Promise((r) => setTimeout(r, 200));
  let running;
  try {
    heap.adoptThread(id);
    running = "adopted";
  } catch (e) {
    running = `${e.name}: ${e.message}`;
  }
  w.terminate();
  await new Promise((r) => setTimeout(r, 2500));
  heap.adoptThread(id);
  heap.check();
  return { running, adopted: id, blocks: heap.stats().blocksInUse > 0 };
}

export async function run() {
  const out = {
    isolated: globalThis.crossOriginIsolated === true,
    sharedArrayBuffer: typeof SharedArrayBuffer !== "undefined",
    modes: ALLOCATOR_MODES,
  };
  await step(out, "defaultKind", () => createHeap().memory.kind);
  out.kinds = {};
  for (const kind of KINDS) {
    for (const allocator of ["pymalloc", "malloc", "debug"]) {
      await step(out.kinds, `${kind}/${allocator}`, () => exercise(createHeap({ memoryKind: kind, allocator, initialBytes: 1 << 20 })));
    }
  }
  await step(out, "debugReport", () => {
    const heap = createHeap({ allocator: "debug" });
    const p = heap.mem.malloc(16);
    heap.u8[p + 16] = 0; // one byte past the end
    try {
      heap.mem.free(p);
      return { thrown: false };
    } catch (e) {
      return { thrown: true, name: e.name, kind: e.report?.kind, allocatedAt: e.report?.allocatedAt ?? null, message: e.message };
    }
  });
  await step(out, "leaks", () => {
    const heap = createHeap({ allocator: "debug" });
    heap.obj.malloc(40);
    heap.obj.malloc(40);
    const r = heap.leaks();
    return { totalBlocks: r.totalBlocks, totalBytes: r.totalBytes, site: r.bySite[0]?.site ?? null };
  });
  await step(out, "threadsRefused", () => {
    createHeap({ threads: true, memoryKind: "wasm" });
    return "created";
  });
  await step(out, "threads", () => {
    const heap = createHeap({ threads: true });
    return threadsInWorkers(heap);
  });
  await step(out, "snapshot", () => {
    const heap = createHeap();
    if (typeof heap.snapshot !== "function") return { error: "no snapshot()" };
    const s0 = heap.snapshot();
    for (let i = 0; i < 10; i++) heap.mem.malloc(48);
    const d = heap.snapshot().compare(s0);
    return { first: d.groups[0]?.key ?? null, blocksGained: d.groups[0]?.blocksDiff ?? 0 };
  });
  await step(out, "sampled", () => {
    const heap = createHeap({ sampleInterval: 1024 });
    const s0 = heap.snapshot();
    const ptrs = [];
    for (let i = 0; i < 4000; i++) ptrs.push(heap.mem.malloc(64));
    const top = heap.snapshot().compare(s0).groups[0];
    const leaks = heap.leaks();
    for (const p of ptrs) heap.mem.free(p);
    heap.check();
    return { site: top.key, estimatedBlocks: top.blocks, liveBlocks: leaks.totalBlocks, leakSite: leaks.bySite[0].site, after: heap.snapshot().statistics("site").length };
  });
  // A shared WebAssembly.Memory, which Chromium makes even without isolation (its buffer is a
  // SharedArrayBuffer where the global is hidden): a module built for one, and typed views on it.
  await step(out, "sharedWasm", async () => {
    const bytes = new Uint8Array(await (await fetch("clients/ctors-shared.wasm")).arrayBuffer());
    const { instance, heap } = await instantiateWithHeap(bytes);
    const g = instance.exports.get_greeting();
    const text = new TextDecoder().decode(heap.u8.slice(g, g + 24));
    heap.check();
    const h2 = createHeap({ memory: new WebAssembly.Memory({ initial: 4, maximum: 64, shared: true }) });
    const v = h2.mem.mallocAs(Float64Array, 4);
    v[0] = 1.5;
    h2.mem.freeAs(v);
    let foreign = "no error";
    try {
      h2.mem.freeAs(new Float64Array(4));
    } catch (e) {
      foreign = `${e.name}: ${e.message}`;
    }
    h2.check();
    // threads: true over it: a page without isolation cannot post it to a Worker, and is told so.
    const warnings = [];
    const warn = console.warn;
    console.warn = (m) => warnings.push(String(m));
    try {
      createHeap({ threads: true, memory: new WebAssembly.Memory({ initial: 4, maximum: 64, shared: true }) });
    } finally {
      console.warn = warn;
    }
    const isolationWarned = warnings.some((w) => /not cross-origin isolated: its memory cannot be posted to Workers/.test(w));
    return { text, kind: h2.memory.kind, foreign, blocks: h2.stats().blocksInUse, isolationWarned };
  });
  // adoptThread of a second handle over a shared WebAssembly.Memory: it naps while it waits for the
  // thread's pools to stop changing, which took a SharedArrayBuffer (a ReferenceError without
  // isolation before 2026-12-07).
  await step(out, "adoptOverSharedWasm", () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 64, shared: true });
    const warn = console.warn;
    console.warn = () => {};
    let heap;
    try {
      heap = createHeap({ threads: true, memory });
    } finally {
      console.warn = warn;
    }
    const other = attachHeap(memory);
    other.obj.malloc(40);
    heap.adoptThread(other.threadId);
    heap.check();
    return { adopted: other.threadId, blocks: heap.stats().blocksInUse };
  });
  await step(out, "linkInBrowser", async () => {
    try {
      await linkFastPath(new Uint8Array(await (await fetch("clients/ctors.wasm")).arrayBuffer()));
      return "linked";
    } catch (e) {
      return `${e.name}: ${e.message}`;
    }
  });
  // The library bundled with the page's code (test/browser/bundled.js, esbuild with whitespace and syntax minified, names kept).
  await step(out, "bundled", async () => (await import("./linked/bundle.js")).run());
  // The same code with every minification on (classes renamed): the errors keep their names.
  await step(out, "minifiedErrors", async () => (await import("./linked/minified.js")).errorNames());
  // An error of ours posted by a Worker: what arrives of it, as it is and spread.
  await step(out, "errorPosted", async () => {
    const w = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    const m = await new Promise((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => reject(new Error(e.message));
      w.postMessage({ op: "badFree" });
    });
    w.terminate();
    const seen = (e) => ({ name: e.name, message: e.message.split(":")[0], reason: e.reason, address: e.address, error: e instanceof Error });
    return { asIs: seen(m.asIs), spread: seen(m.spread) };
  });
  await step(out, "cInWasm", () => cInWasm(out.isolated ? "isolated" : "plain"));
  if (out.isolated) await step(out, "cInWorkers", cInWorkers);
  if (out.isolated) await step(out, "adoptInPage", adoptInPage);
  return out;
}
