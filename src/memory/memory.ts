/**
 * memory/memory.ts — the backing store and its growth.
 *
 * Owns: the buffer (resizable ArrayBuffer, growable SharedArrayBuffer, WebAssembly.Memory or a
 * fixed buffer), the typed-array views over all of it, and growing it. Views are rebuilt in one
 * place, refresh(), which every layer calls through onGrow listeners. MemoryViews: the views a
 * heap shows its user (heap.u8 ...), current after any growth at the cost of one check.
 * Must not: know anything about allocation; it never writes to the bytes it manages.
 */

import {
  DEFAULT_MAX_BYTES,
  GROWTH_DIVISOR,
  WASM_GROWTH_DIVISOR,
  WASM_PAGE,
} from "../constants.js";
import { PymallocError } from "../errors.js";

/**
 * An ArrayBuffer memory of 0 bytes: transferred (postMessage, structuredClone) or resized to
 * nothing. A WebAssembly.Memory's buffer is never left so: its `buffer` is the current one.
 */
function detached(buf: ArrayBuffer | SharedArrayBuffer, kind: MemoryKind): PymallocError | null {
  if (buf.byteLength !== 0 || kind === "wasm") return null;
  return new PymallocError("the heap's memory is detached (its ArrayBuffer was transferred, to a Worker or by structuredClone, or resized to 0 bytes; or it was a WebAssembly.Memory's .buffer, which the memory's growth detaches): this handle cannot reach it any more; attachHeap() the transferred buffer where it went, or the WebAssembly.Memory itself");
}

/** A byte count given to this file's exported API: a number, not NaN, not negative (Infinity: no limit). */
function byteCount(v: unknown, what: string): void {
  if (typeof v !== "number") throw new TypeError(`${what} must be a number, got ${typeof v}`);
  if (!(v >= 0)) throw new RangeError(`${what} must be a non-negative number of bytes, got ${v}`);
}

export type MemoryKind = "resizable" | "growable-shared" | "wasm" | "fixed";
/** Every MemoryKind, as options and Memory.create name them. */
export const MEMORY_KINDS: readonly MemoryKind[] = ["growable-shared", "wasm", "resizable", "fixed"];
export type MemorySource = ArrayBuffer | SharedArrayBuffer | WebAssembly.Memory;

/** Views over the whole memory; replaced (never mutated) when the memory grows. */
export interface Views {
  u8: Uint8Array;
  i8: Int8Array;
  u16: Uint16Array;
  i16: Int16Array;
  u32: Uint32Array;
  i32: Int32Array;
  f32: Float32Array;
  f64: Float64Array;
  u64: BigUint64Array;
  i64: BigInt64Array;
  dv: DataView;
}

/*
 * DETACHED: how code tells that its views are over a detached buffer (an unshared
 * WebAssembly.Memory grown by anything else, an ArrayBuffer transferred). By an element read,
 * `u32[0] === undefined` (every heap has a word 0), or by the buffer's byteLength; never by a
 * view's `length`: V8 11 (Node 20), in optimized code that has also seen views over resizable
 * or growable buffers, reads a detached view's length as the length it had (measured: a
 * function testing `u8.length === 0` said "not detached" after the grow while `u8.byteLength`,
 * `u8.buffer.byteLength` and `u32[0]` all saw it: test/workers/grow-warm.mjs).
 * Lengths of views that are known current are fine everywhere else.
 */

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * Whether a view's bytes are shared between threads (a SharedArrayBuffer, or a shared
 * WebAssembly.Memory's buffer). fill() on such a view costs 4-6x a loop of 8-byte stores at every
 * length in V8 (Node 20, 64 B to 8 KiB measured), so byte loops choose by this.
 */
export const isSharedView = (v: ArrayBufferView): boolean => isSharedBuffer(v.buffer);

/** The SharedArrayBuffer constructor, when this context has the global. */
const SAB: (new (n: number) => SharedArrayBuffer) | undefined = typeof SharedArrayBuffer !== "undefined" ? SharedArrayBuffer : undefined;

/**
 * Whether a buffer is a SharedArrayBuffer. A page that is not cross-origin isolated has no
 * SharedArrayBuffer global, yet Chromium makes a shared WebAssembly.Memory there, whose buffer is
 * one: told by its tag then (a test of the global alone took such a memory for an unshared one,
 * and the fast path's unshared build failed to link to it: a LinkError from inside pymalloc).
 */
export const isSharedBuffer = (b: unknown): b is SharedArrayBuffer =>
  SAB !== undefined ? b instanceof SAB : Object.prototype.toString.call(b) === "[object SharedArrayBuffer]";

export function memoryKindOf(src: MemorySource): MemoryKind {
  if (typeof WebAssembly !== "undefined" && src instanceof WebAssembly.Memory) return "wasm";
  if (isSharedBuffer(src)) {
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

/**
 * The Memory objects over each source in this thread (one per heap handle: createHeap's, and
 * every attachHeap of the same memory), so that one handle's growth refreshes the others' views
 * at once: a handle's allocator reads through its own views and takes another handle's
 * growth for nothing until they are current (no lock, no per-call check, without threads). Weak
 * both ways: a handle dropped is collected. Other threads hold other objects for the same
 * memory; with threads: true their allocators refresh under the heap's lock.
 */
const sameSource = new WeakMap<object, Set<WeakRef<Memory>>>();

export class Memory {
  readonly source: MemorySource;
  readonly kind: MemoryKind;
  /** Growth never goes past this many bytes. */
  readonly maxBytes: number;
  buffer: ArrayBuffer | SharedArrayBuffer;
  views!: Views;
  /** The views' length in bytes (DETACHED: kept as a number, not read from a view). */
  private len = 0;
  private listeners: Array<(v: Views) => void> = [];
  private layers: Array<(v: Views) => void> = [];
  private held = 0;
  private waiting = false;
  /** Buffers this memory has had in this thread, and those found to hold its identity (isOwnBuffer). */
  private readonly seen = new WeakSet<object>();
  private identityAt = -1;
  private identity = 0;
  /**
   * Where the pages the last grow() added begin (the memory's length just before, as the engine
   * reported it), or -1 when that call added none. The heap's raw allocator reads it to tell its
   * own pages from pages a WebAssembly module grew at the same moment (raw/top.ts extend()).
   */
  grownFrom = -1;

  /**
   * Where those pages end (grownFrom plus what that call added), -1 with it. Not the memory's
   * length after the call: a module in another thread may have grown it again since, and those
   * pages are its own (raw/top.ts extend() sets the heap's end here).
   */
  grownTo = -1;

  constructor(source: MemorySource, maxBytes: number) {
    this.source = source;
    this.kind = memoryKindOf(source);
    byteCount(maxBytes, "Memory: maxBytes");
    this.maxBytes = Math.min(maxBytes, kindLimit(source, this.kind), DEFAULT_MAX_BYTES);
    this.buffer = this.currentBuffer();
    const gone = detached(this.buffer, this.kind);
    if (gone !== null) {
      // 0 bytes: detached (a typed array over it cannot be made), or a buffer made empty.
      try {
        new Uint8Array(this.buffer);
      } catch {
        throw gone;
      }
      throw new RangeError("the memory has 0 bytes: a heap needs room for its header and blocks (give a buffer of initialBytes, or let createHeap make one)");
    }
    this.makeViews();
    let set = sameSource.get(source);
    if (set === undefined) sameSource.set(source, (set = new Set()));
    set.add(new WeakRef(this));
  }

  /** After this memory grew: the other handles' views over the same source made current (sameSource). */
  private refreshSiblings(): void {
    const set = sameSource.get(this.source);
    if (set === undefined || set.size < 2) return;
    for (const ref of set) {
      const m = ref.deref();
      if (m === undefined) set.delete(ref);
      else if (m !== this) m.refresh();
    }
  }

  /** A memory of `kind` created by us. */
  static create(kind: MemoryKind, initialBytes: number, maxBytes: number): Memory {
    // Checked here too, for callers of this exported class (createHeap's options are checked in
    // options.ts): a NaN made a buffer of 0 bytes, reported as a detached memory.
    if (!MEMORY_KINDS.includes(kind))
      throw new RangeError(`Memory.create: unknown kind ${typeof kind === "string" ? JSON.stringify(kind) : String(kind as unknown)}; expected one of ${MEMORY_KINDS.join(", ")}`);
    byteCount(initialBytes, "Memory.create: initialBytes");
    byteCount(maxBytes, "Memory.create: maxBytes");
    // Whole pages (memories grow by them), never past maxBytes: its pages rounded down, the start
    // rounded up within them (options.ts's sizes() has refused a maxBytes under one page).
    const max = Math.max(WASM_PAGE, Math.floor(Math.min(maxBytes, DEFAULT_MAX_BYTES) / WASM_PAGE) * WASM_PAGE);
    const init = Math.min(roundUp(Math.max(initialBytes, WASM_PAGE), WASM_PAGE), max);
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
    return this.len;
  }

  /**
   * The views, made current first when they are detached (DETACHED): for code outside the
   * allocator's paths that reads the memory where an outside growth may have come first (the
   * live-block table, a ForeignHeap's check/walk, introspection).
   */
  current(): Views {
    if (this.views.u32[0] === undefined) this.refresh();
    return this.views;
  }

  /**
   * Register a callback run with the new views after every growth or refresh. A growth by the
   * heap's own allocator calls it once the allocator's state is whole again: in a heap without
   * threads the callback may allocate and free (called in the middle of the growth, an allocation
   * took the growth under way for a module's pages and fenced them, a misuse hunt's F07); with
   * threads: true it runs under the heap's lock, and a call into the heap is a PymallocError.
   */
  onGrow(fn: (v: Views) => void): void {
    this.listeners.push(fn);
  }

  /** @internal A layer of the allocator's own: its views taken at once, at every refresh (it never calls into the heap). */
  onViews(fn: (v: Views) => void): void {
    this.layers.push(fn);
  }

  /**
   * @internal The allocator is growing the memory (raw/top.ts extend): onGrow callbacks wait for
   * release(). Calls nest.
   */
  hold(): void {
    this.held++;
  }

  /** @internal The growth is done: onGrow callbacks that waited run now, with the current views. */
  release(): void {
    if (--this.held > 0 || !this.waiting) return;
    this.waiting = false;
    for (const fn of this.listeners) fn(this.views);
  }

  private currentBuffer(): ArrayBuffer | SharedArrayBuffer {
    return this.kind === "wasm" ? (this.source as WebAssembly.Memory).buffer : (this.source as ArrayBuffer);
  }

  /**
   * Whether buf is, or was, this memory's buffer in this thread (a shared WebAssembly.Memory hands
   * out a new SharedArrayBuffer object at each growth: views over the old ones stay good), or a
   * shared buffer over the same memory that holds this memory's identity word (identify()).
   */
  isOwnBuffer(buf: ArrayBufferLike): boolean {
    if (this.seen.has(buf)) return true;
    if (!isSharedBuffer(buf)) return false;
    const at = this.identityAt;
    if (at < 0) return this.sameShape(buf); // no heap of ours in it (an adapter's memory): its shape is all there is
    if (buf.byteLength < at + 4 || new Uint32Array(buf, at, 1)[0] !== this.identity) return false;
    this.seen.add(buf);
    return true;
  }

  /**
   * Whether a shared buffer from another thread can be this memory by its shape: a shared
   * WebAssembly.Memory's earlier buffers are no longer, a growable SharedArrayBuffer's have its
   * maximum, a fixed one's its length. Memories with a heap of ours tell theirs by its identity
   * word instead (every createHeap() in Node has the same shape); an adapter's (fromFunctions,
   * fromExports) cannot: there a view over another same-shaped shared memory passes, and its
   * address is checked like any pointer (views a Worker posted back must pass).
   */
  private sameShape(buf: SharedArrayBuffer): boolean {
    const b = buf as SharedArrayBuffer & { growable?: boolean; maxByteLength?: number };
    const c = this.buffer as SharedArrayBuffer & { growable?: boolean; maxByteLength?: number };
    if (!isSharedBuffer(c)) return false;
    return this.kind === "wasm" ? b.byteLength <= c.byteLength : this.kind === "growable-shared" ? b.growable === true && b.maxByteLength === c.maxByteLength : b.growable !== true && b.byteLength === c.byteLength;
  }

  /**
   * A heap's identity word (H.IDENTITY) at byte `at` holds `value`: shared buffers from another
   * thread are told from another memory's of the same shape by it (isOwnBuffer).
   */
  identify(at: number, value: number): void {
    this.identityAt = at;
    this.identity = value;
  }

  private makeViews(): void {
    const buf = this.buffer;
    this.seen.add(buf);
    // Fixed-length views: a view of a length-tracking kind is no faster, and explicit lengths
    // make every layer agree on the same size until the next refresh.
    const len = buf.byteLength - (buf.byteLength & 7);
    this.len = len;
    // Growth is rare (the memory doubles): eleven views cost nothing that matters. Lengths by
    // division, not `>>>`: a memory of 4 GiB (65,536 wasm pages) has 2^32 bytes, which `>>> 2`
    // wraps to 0.
    this.views = {
      u8: new Uint8Array(buf, 0, len),
      i8: new Int8Array(buf, 0, len),
      u16: new Uint16Array(buf, 0, len / 2),
      i16: new Int16Array(buf, 0, len / 2),
      u32: new Uint32Array(buf, 0, len / 4),
      i32: new Int32Array(buf, 0, len / 4),
      f32: new Float32Array(buf, 0, len / 4),
      f64: new Float64Array(buf, 0, len / 8),
      u64: new BigUint64Array(buf, 0, len / 8),
      i64: new BigInt64Array(buf, 0, len / 8),
      dv: new DataView(buf, 0, len),
    };
  }

  /**
   * Rebuild the views if the memory changed under us (a WebAssembly module or another thread
   * grew it). Returns true when the views were replaced.
   */
  refresh(): boolean {
    const buf = this.currentBuffer();
    const len = buf.byteLength - (buf.byteLength & 7);
    // A detached buffer (DETACHED: its own byteLength, 0) is no heap.
    if (len === 0) {
      const gone = detached(buf, this.kind);
      if (gone !== null) throw gone;
    }
    if (buf === this.buffer && len === this.len) return false;
    this.buffer = buf;
    this.makeViews();
    for (const fn of this.layers) fn(this.views);
    if (this.held > 0) this.waiting = true;
    else for (const fn of this.listeners) fn(this.views);
    return true;
  }

  /**
   * Make at least `minBytes` addressable. Grows geometrically (by 1/GROWTH_DIVISOR at least, a
   * WebAssembly.Memory by 1/WASM_GROWTH_DIVISOR, in 64 KiB pages),
   * never past maxBytes. Returns false, changing nothing, when that is impossible.
   */
  grow(minBytes: number): boolean {
    // Not by doubling (until session 52): a WebAssembly.Memory never shrinks, and a heap that
    // peaked just past a power of two kept up to twice its footprint (uthash in wasm: 4 MiB
    // against dlmalloc's 2.56, whose sbrk grows by what it needs). Growth is in place here.
    this.refresh();
    const cur = this.byteLength;
    this.grownFrom = -1;
    this.grownTo = -1;
    // maxBytes first: a memory given longer than maxBytes holds the heap within maxBytes too.
    if (minBytes > this.maxBytes) return false;
    if (minBytes <= cur) return true;
    if (this.kind === "fixed") return false;
    const need = roundUp(minBytes, WASM_PAGE);
    const step = Math.floor(cur / (this.kind === "wasm" ? WASM_GROWTH_DIVISOR : GROWTH_DIVISOR));
    const target = Math.min(Math.max(need, roundUp(cur + step, WASM_PAGE)), this.maxBytes - (this.maxBytes % WASM_PAGE));
    if (!this.tryGrowTo(target) && !(target > need && this.tryGrowTo(need))) return false;
    this.refresh();
    this.refreshSiblings();
    return this.byteLength >= minBytes;
  }

  private tryGrowTo(bytes: number): boolean {
    try {
      switch (this.kind) {
        case "resizable":
          this.grownFrom = (this.source as ArrayBuffer).byteLength;
          (this.source as ArrayBuffer & { resize(n: number): void }).resize(bytes);
          this.grownTo = bytes;
          return true;
        case "growable-shared":
          this.grownFrom = (this.source as SharedArrayBuffer).byteLength;
          (this.source as SharedArrayBuffer & { grow(n: number): void }).grow(bytes);
          this.grownTo = bytes;
          return true;
        case "wasm": {
          const mem = this.source as WebAssembly.Memory;
          const have = mem.buffer.byteLength;
          // The engine's answer, not `have`: a module in another thread may have grown the memory
          // in between, and those pages are its own (raw/top.ts extend()).
          if (bytes > have) {
            this.grownFrom = mem.grow((bytes - have) / WASM_PAGE) * WASM_PAGE;
            this.grownTo = this.grownFrom + (bytes - have);
          }
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
 * What a heap shows its user: views over the whole memory that cover every block of the heap,
 * whoever allocated it. Heap and ForeignHeap extend it.
 *
 * Cost: V8 inlines a getter where it is read; it makes one check before handing out the view it
 * holds, so `heap.u8[p]` costs about what a view kept in a local variable costs (docs/performance.md,
 * "Views"). The check reads one element of the view itself: the memory's last element for a view
 * of that width, at the index the header word H.VIEW_END_<width> holds (the memory's byte length /
 * width - 1; `c1`, `c2`, `c4`, `c8` are one-word views over those words). A current view has that
 * element; a view taken before the memory grew is shorter and reads undefined there, as does a
 * detached one. The views are replaced in three ways:
 * - growth by this handle's allocator: Memory.grow() refreshes, and the listener below takes the
 *   new views (and raises the words) before the allocator returns the block;
 * - a WebAssembly.Memory grown by anything else (a module's memory.grow): the old buffer is
 *   detached, its views and the word views with it, and the element reads undefined;
 * - a shared memory grown by another thread's handle of the same heap: that handle raised the
 *   words past this handle's views.
 * A ForeignHeap has no header: its words are its own (a private array, the length of its views),
 * so only detachment fails the check, and refresh() is the one call after a foreign allocator in
 * another thread grew a shared memory (README, Use, Views).
 *
 * Why the getters are written as they are: V8 inlines a function of at most 27 bytes of bytecode
 * wherever it is called, whatever else the caller inlined (--max-inlined-bytecode-size-small), but
 * it counts in a function's size the bytecode its own optimized code inlined, and a getter read in
 * a loop that runs unoptimized for a while gets optimized code of its own first. The earlier shape,
 * `this.ok ? this._u8 : this.fresh._u8` (22 bytes, and `ok`'s 18 that its own code inlined), was
 * then 40 and left as a call wherever the caller had spent V8's inlining budget: every event of
 * `npm run bench`'s replay called it (docs/performance.md, "The views' getters and V8's inlining
 * budget"). Each getter is now 27 bytes and its code inlines nothing (the fresh getters are cold
 * calls, below V8's inlining frequency).
 * Must not: be used for the allocator's own views (fixed-length views kept by listeners; this
 * check costs nothing only because it is off every allocator path).
 */
export class MemoryViews {
  readonly memory: Memory;
  // @internal: the check's word views and the views of the last growth this handle saw.
  protected c1!: Uint32Array;
  protected c2!: Uint32Array;
  protected c4!: Uint32Array;
  protected c8!: Uint32Array;
  protected _u8!: Uint8Array;
  protected _i8!: Int8Array;
  protected _u16!: Uint16Array;
  protected _i16!: Int16Array;
  protected _u32!: Uint32Array;
  protected _i32!: Int32Array;
  protected _f32!: Float32Array;
  protected _f64!: Float64Array;
  protected _u64!: BigUint64Array;
  protected _i64!: BigInt64Array;
  protected _dv!: DataView;
  private readonly endByte: number;

  /**
   * endWord: the u32 index of the heap header's H.VIEW_END_1 (H.VIEW_END_2, _4, _8 follow it);
   * -1 when there is none (foreign heaps).
   */
  constructor(memory: Memory, endWord = -1) {
    this.memory = memory;
    this.endByte = endWord < 0 ? -1 : endWord * 4;
    // Twice: V8 takes a field stored once for a constant, and its first later store (the first
    // growth) deoptimizes every function compiled with it (the getters' callers).
    this.take(memory.views);
    this.take(memory.views);
    memory.onViews((v) => this.take(v));
  }

  private take(v: Views): void {
    const len = v.u8.length; // a multiple of 8 (Memory.makeViews)
    const mem = v.u8.buffer;
    const live = mem.byteLength - (mem.byteLength & 7);
    let buf: ArrayBufferLike = mem;
    let at = this.endByte;
    if (at < 0) {
      // A foreign heap: words of its own, never changed by anyone else.
      buf = new ArrayBuffer(16);
      at = 0;
    }
    const words = new Uint32Array(buf, at, 4);
    // Raised, never lowered below this handle's length (another thread may have grown the memory
    // further meanwhile), but never left past the memory as it is now (the buffer's live length:
    // a heap copied into a shorter buffer, attachHeap of its used part): the memory never shrinks,
    // so such a word is no one's, and every view read would refresh.
    for (let i = 0; i < 4; i++) raiseWord(words, i, len / (1 << i) - 1, live / (1 << i) - 1);
    this.c1 = new Uint32Array(buf, at, 1);
    this.c2 = new Uint32Array(buf, at + 4, 1);
    this.c4 = new Uint32Array(buf, at + 8, 1);
    this.c8 = new Uint32Array(buf, at + 12, 1);
    this._u8 = v.u8;
    this._i8 = v.i8;
    this._u16 = v.u16;
    this._i16 = v.i16;
    this._u32 = v.u32;
    this._i32 = v.i32;
    this._f32 = v.f32;
    this._f64 = v.f64;
    this._u64 = v.u64;
    this._i64 = v.i64;
    this._dv = v.dv;
  }

  /** @internal The getters' check alone, for callers that reach the allocator without reading a view (compat/wasm-imports). */
  sync(): void {
    if (this._u8[this.c1[0]] === undefined) this.memory.refresh();
  }

  /**
   * Make the views current now (they are on every read but in one case: a ForeignHeap over a
   * shared memory that a foreign allocator grew in another thread). Returns true when they
   * were replaced.
   */
  refresh(): boolean {
    return this.memory.refresh();
  }

  get buffer(): ArrayBuffer | SharedArrayBuffer {
    const v = this._u8;
    return (v[this.c1[0]] !== undefined ? v : this.u8Fresh).buffer as ArrayBuffer | SharedArrayBuffer;
  }
  get u8(): Uint8Array {
    const v = this._u8;
    if (v[this.c1[0]] !== undefined) return v;
    return this.u8Fresh;
  }
  get i8(): Int8Array {
    const v = this._i8;
    if (v[this.c1[0]] !== undefined) return v;
    return this.i8Fresh;
  }
  get u16(): Uint16Array {
    const v = this._u16;
    if (v[this.c2[0]] !== undefined) return v;
    return this.u16Fresh;
  }
  get i16(): Int16Array {
    const v = this._i16;
    if (v[this.c2[0]] !== undefined) return v;
    return this.i16Fresh;
  }
  get u32(): Uint32Array {
    const v = this._u32;
    if (v[this.c4[0]] !== undefined) return v;
    return this.u32Fresh;
  }
  get i32(): Int32Array {
    const v = this._i32;
    if (v[this.c4[0]] !== undefined) return v;
    return this.i32Fresh;
  }
  get f32(): Float32Array {
    const v = this._f32;
    if (v[this.c4[0]] !== undefined) return v;
    return this.f32Fresh;
  }
  get f64(): Float64Array {
    const v = this._f64;
    if (v[this.c8[0]] !== undefined) return v;
    return this.f64Fresh;
  }
  get u64(): BigUint64Array {
    const v = this._u64;
    if (v[this.c8[0]] !== undefined) return v;
    return this.u64Fresh;
  }
  get i64(): BigInt64Array {
    const v = this._i64;
    if (v[this.c8[0]] !== undefined) return v;
    return this.i64Fresh;
  }
  get dv(): DataView {
    if (this._u8[this.c1[0]] !== undefined) return this._dv;
    return this.dvFresh;
  }

  // The getters' slow paths: the views made current, then the one asked for. One each: a shared
  // `this.fresh._x` would make every getter 32 bytes.
  private get u8Fresh(): Uint8Array {
    this.memory.refresh();
    return this._u8;
  }
  private get i8Fresh(): Int8Array {
    this.memory.refresh();
    return this._i8;
  }
  private get u16Fresh(): Uint16Array {
    this.memory.refresh();
    return this._u16;
  }
  private get i16Fresh(): Int16Array {
    this.memory.refresh();
    return this._i16;
  }
  private get u32Fresh(): Uint32Array {
    this.memory.refresh();
    return this._u32;
  }
  private get i32Fresh(): Int32Array {
    this.memory.refresh();
    return this._i32;
  }
  private get f32Fresh(): Float32Array {
    this.memory.refresh();
    return this._f32;
  }
  private get f64Fresh(): Float64Array {
    this.memory.refresh();
    return this._f64;
  }
  private get u64Fresh(): BigUint64Array {
    this.memory.refresh();
    return this._u64;
  }
  private get i64Fresh(): BigInt64Array {
    this.memory.refresh();
    return this._i64;
  }
  private get dvFresh(): DataView {
    this.memory.refresh();
    return this._dv;
  }
}

/** words[i] = max(words[i], value), or value when words[i] is past cap; atomically (the word may be in shared memory). */
function raiseWord(words: Uint32Array, i: number, value: number, cap: number): void {
  for (;;) {
    const old = Atomics.load(words, i);
    const want = old > cap ? value : Math.max(old, value);
    if (want === old || Atomics.compareExchange(words, i, old, want) === old) return;
  }
}
