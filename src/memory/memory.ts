/**
 * memory/memory.ts — the backing store and its growth.
 *
 * Owns: the buffer (resizable ArrayBuffer, growable SharedArrayBuffer, WebAssembly.Memory or a
 * fixed buffer), the typed-array views over all of it, and growing it. Views are rebuilt in one
 * place, refresh(), which every layer calls through onGrow listeners.
 * Must not: know anything about allocation; it never writes to the bytes it manages.
 */

import {
  DEFAULT_MAX_BYTES,
  WASM_PAGE,
} from "../constants.js";

export type MemoryKind = "resizable" | "growable-shared" | "wasm" | "fixed";
export type MemorySource = ArrayBuffer | SharedArrayBuffer | WebAssembly.Memory;

/** Views over the whole memory; replaced (never mutated) when the memory grows. */
export interface Views {
  u8: Uint8Array;
  u32: Uint32Array;
  i32: Int32Array;
  f64: Float64Array;
  dv: DataView;
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * Whether a view's bytes are shared between threads (a SharedArrayBuffer, or a shared
 * WebAssembly.Memory's buffer). fill() on such a view costs 4-6x a loop of 8-byte stores at every
 * length in V8 (Node 20, 64 B to 8 KiB measured), so byte loops choose by this.
 */
export const isSharedView = (v: ArrayBufferView): boolean => typeof SharedArrayBuffer !== "undefined" && v.buffer instanceof SharedArrayBuffer;

/** Whether a buffer is shared; false where SharedArrayBuffer does not exist (a page that is not cross-origin isolated). */
export const isSharedBuffer = (b: ArrayBufferLike): b is SharedArrayBuffer => typeof SharedArrayBuffer !== "undefined" && b instanceof SharedArrayBuffer;

export function memoryKindOf(src: MemorySource): MemoryKind {
  if (typeof WebAssembly !== "undefined" && src instanceof WebAssembly.Memory) return "wasm";
  if (typeof SharedArrayBuffer !== "undefined" && src instanceof SharedArrayBuffer) {
    return (src as SharedArrayBuffer & { growable?: boolean }).growable ? "growable-shared" : "fixed";
  }
  if (src instanceof ArrayBuffer) {
    return (src as ArrayBuffer & { resizable?: boolean }).resizable ? "resizable" : "fixed";
  }
  throw new TypeError("memory must be an ArrayBuffer, a SharedArrayBuffer or a WebAssembly.Memory");
}

/** The largest byte length this memory can ever reach. */
function kindLimit(src: MemorySource, kind: MemoryKind): number {
  switch (kind) {
    case "fixed":
      return (src as ArrayBuffer).byteLength;
    case "resizable":
    case "growable-shared":
      return (src as ArrayBuffer & { maxByteLength: number }).maxByteLength;
    case "wasm":
      // The JS API does not expose a maximum; growth past it fails and is handled then.
      return DEFAULT_MAX_BYTES;
  }
}

export class Memory {
  readonly source: MemorySource;
  readonly kind: MemoryKind;
  /** Growth never goes past this many bytes. */
  readonly maxBytes: number;
  buffer: ArrayBuffer | SharedArrayBuffer;
  views!: Views;
  private listeners: Array<(v: Views) => void> = [];

  constructor(source: MemorySource, maxBytes: number) {
    this.source = source;
    this.kind = memoryKindOf(source);
    this.maxBytes = Math.min(maxBytes, kindLimit(source, this.kind), DEFAULT_MAX_BYTES);
    this.buffer = this.currentBuffer();
    this.makeViews();
  }

  /** A memory of `kind` created by us. */
  static create(kind: MemoryKind, initialBytes: number, maxBytes: number): Memory {
    const init = roundUp(Math.max(initialBytes, WASM_PAGE), WASM_PAGE);
    const max = Math.max(init, Math.min(maxBytes, DEFAULT_MAX_BYTES));
    if (init > max) throw new RangeError(`initialBytes ${initialBytes} exceeds maxBytes ${maxBytes}`);
    let src: MemorySource;
    switch (kind) {
      case "resizable":
        src = new ArrayBuffer(init, { maxByteLength: max });
        break;
      case "growable-shared":
        // A page that is not cross-origin isolated has no SharedArrayBuffer at all.
        if (typeof SharedArrayBuffer === "undefined")
          throw new TypeError('memoryKind "growable-shared" needs SharedArrayBuffer, which this context lacks (a web page must be cross-origin isolated: serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)');
        src = new SharedArrayBuffer(init, { maxByteLength: max });
        break;
      case "wasm":
        src = new WebAssembly.Memory({ initial: init / WASM_PAGE, maximum: Math.floor(max / WASM_PAGE) });
        break;
      case "fixed":
        src = new ArrayBuffer(init);
        break;
    }
    return new Memory(src, max);
  }

  get byteLength(): number {
    return this.views.u8.length;
  }

  /** Register a callback run with the new views after every growth or refresh. */
  onGrow(fn: (v: Views) => void): void {
    this.listeners.push(fn);
  }

  private currentBuffer(): ArrayBuffer | SharedArrayBuffer {
    return this.kind === "wasm" ? (this.source as WebAssembly.Memory).buffer : (this.source as ArrayBuffer);
  }

  private makeViews(): void {
    const buf = this.buffer;
    // Fixed-length views: a view of a length-tracking kind is no faster, and explicit lengths
    // make every layer agree on the same size until the next refresh.
    const len = buf.byteLength - (buf.byteLength & 7);
    this.views = {
      u8: new Uint8Array(buf, 0, len),
      u32: new Uint32Array(buf, 0, len >>> 2),
      i32: new Int32Array(buf, 0, len >>> 2),
      f64: new Float64Array(buf, 0, len >>> 3),
      dv: new DataView(buf, 0, len),
    };
  }

  /**
   * Rebuild the views if the memory changed under us (a WebAssembly module or another thread
   * grew it). Returns true when the views were replaced.
   */
  refresh(): boolean {
    const buf = this.currentBuffer();
    if (buf === this.buffer && buf.byteLength - (buf.byteLength & 7) === this.views.u8.length) return false;
    this.buffer = buf;
    this.makeViews();
    for (const fn of this.listeners) fn(this.views);
    return true;
  }

  /**
   * Make at least `minBytes` addressable. Grows geometrically (doubling, in 64 KiB pages),
   * never past maxBytes. Returns false, changing nothing, when that is impossible.
   */
  grow(minBytes: number): boolean {
    this.refresh();
    const cur = this.byteLength;
    if (minBytes <= cur) return true;
    if (minBytes > this.maxBytes || this.kind === "fixed") return false;
    const need = roundUp(minBytes, WASM_PAGE);
    const target = Math.min(Math.max(need, roundUp(cur * 2, WASM_PAGE)), this.maxBytes - (this.maxBytes % WASM_PAGE));
    if (!this.tryGrowTo(target) && !(target > need && this.tryGrowTo(need))) return false;
    this.refresh();
    return this.byteLength >= minBytes;
  }

  private tryGrowTo(bytes: number): boolean {
    try {
      switch (this.kind) {
        case "resizable":
          (this.source as ArrayBuffer & { resize(n: number): void }).resize(bytes);
          return true;
        case "growable-shared":
          (this.source as SharedArrayBuffer & { grow(n: number): void }).grow(bytes);
          return true;
        case "wasm": {
          const mem = this.source as WebAssembly.Memory;
          const have = mem.buffer.byteLength;
          if (bytes > have) mem.grow((bytes - have) / WASM_PAGE);
          return true;
        }
        default:
          return false;
      }
    } catch {
      return false; // the engine refused (limit or out of memory): the caller reports NULL
    }
  }
}

/**
 * What a heap shows its user: the memory and views over all of it, brought up to date on every
 * read (a WebAssembly module or another thread may have grown the memory). Heap and ForeignHeap
 * extend it.
 */
export class MemoryViews {
  readonly memory: Memory;
  constructor(memory: Memory) {
    this.memory = memory;
  }

  get buffer(): ArrayBuffer | SharedArrayBuffer {
    this.memory.refresh();
    return this.memory.buffer;
  }
  get u8(): Uint8Array {
    this.memory.refresh();
    return this.memory.views.u8;
  }
  get u32(): Uint32Array {
    this.memory.refresh();
    return this.memory.views.u32;
  }
  get i32(): Int32Array {
    this.memory.refresh();
    return this.memory.views.i32;
  }
  get f64(): Float64Array {
    this.memory.refresh();
    return this.memory.views.f64;
  }
  get dv(): DataView {
    this.memory.refresh();
    return this.memory.views.dv;
  }
}
