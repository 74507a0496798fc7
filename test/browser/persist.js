// The browser test's reload page (persist.html): the first load saves heaps' bytes to IndexedDB
// (an unshared heap's heap.buffer.slice(0); a threads heap's bytes copied into an ArrayBuffer,
// since IndexedDB stores no SharedArrayBuffer) and sets window.__saved; the test reloads the page,
// and the second load attaches them again (attachHeap(bytes, { restored: true })) and sets
// window.__result: the blocks and their contents, and how each grows (an ArrayBuffer from
// IndexedDB is a fixed memory: copied into a WebAssembly.Memory or a growable SharedArrayBuffer, it grows).
import { attachHeap, createHeap } from "./dist/index.js";

const db = () =>
  new Promise((resolve, reject) => {
    const r = indexedDB.open("pymalloc-persist", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("heaps");
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
async function store(mode, key, value) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction("heaps", mode);
    const r = value === undefined ? t.objectStore("heaps").get(key) : t.objectStore("heaps").put(value, key);
    t.oncomplete = () => resolve(r.result);
    t.onerror = () => reject(t.error);
  });
}
const attempt = (fn) => {
  try {
    return fn();
  } catch (e) {
    return `${e?.constructor?.name}: ${e?.message}`;
  }
};

async function save() {
  const out = {};
  const heap = createHeap({ memoryKind: "wasm" });
  const p = heap.obj.malloc(40);
  heap.u32[p >>> 2] = 0xcafe;
  await store("readwrite", "wasm", { bytes: heap.buffer.slice(0), p });
  if (self.crossOriginIsolated) {
    const shared = createHeap({ threads: true });
    const q = shared.obj.malloc(40);
    shared.u32[q >>> 2] = 0xbeef;
    out.sharedAsIs = await store("readwrite", "refused", { bytes: shared.buffer.slice(0) }).then(() => "stored", (e) => `${e.name}`);
    await store("readwrite", "shared", { bytes: new Uint8Array(shared.buffer).slice().buffer, p: q });
  }
  return out;
}

async function restore() {
  const out = {};
  const w = await store("readonly", "wasm");
  out.wasm = attempt(() => {
    const heap = attachHeap(w.bytes, { restored: true });
    const r = { kind: heap.memory.kind, blocks: heap.stats().blocksInUse, word: heap.u32[w.p >>> 2], bigNull: heap.mem.malloc(4 << 20) === 0 };
    const memory = new WebAssembly.Memory({ initial: w.bytes.byteLength / 65536, maximum: 65536 });
    new Uint8Array(memory.buffer).set(new Uint8Array(w.bytes));
    const grown = attachHeap(memory, { restored: true });
    r.intoMemory = { kind: grown.memory.kind, word: grown.u32[w.p >>> 2], bigNull: grown.mem.malloc(4 << 20) === 0 };
    grown.check();
    return r;
  });
  if (self.crossOriginIsolated) {
    const s = await store("readonly", "shared");
    out.shared = {
      asArrayBuffer: attempt(() => attachHeap(s.bytes, { restored: true })),
      intoGrowable: attempt(() => {
        const sab = new SharedArrayBuffer(s.bytes.byteLength, { maxByteLength: 64 << 20 });
        new Uint8Array(sab).set(new Uint8Array(s.bytes));
        const heap = attachHeap(sab, { restored: true });
        const r = { kind: heap.memory.kind, threads: heap.threads, word: heap.u32[s.p >>> 2], bigNull: heap.mem.malloc(4 << 20) === 0 };
        heap.check();
        return r;
      }),
    };
  }
  return out;
}

const saved = sessionStorage.getItem("pymalloc-saved");
(saved === null ? save().then((r) => (sessionStorage.setItem("pymalloc-saved", "1"), (window.__saved = r))) : restore().then((r) => (sessionStorage.removeItem("pymalloc-saved"), (window.__result = r)))).catch(
  (e) => (window.__result = window.__saved = { fatal: String(e?.stack ?? e) }),
);
