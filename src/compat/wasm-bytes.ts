/**
 * compat/wasm-bytes.ts — small rewrites of WebAssembly binaries, without compiling them.
 *
 * Owns: reading and rewriting a module's import section (names and memory limits; no index
 * moves) and export section (names, dropping some), appending a custom section, and the id (FNV-1a) of a build. Used by `pymalloc link`
 * (compat/wasm-link.ts) and by wasm/obmalloc/build.mjs (the merge-ready fast path's memory import);
 * fastPathBytes decodes the fast path's builds kept as hex (compat/wasm-fastpath-bytes.ts).
 * The byte reader and the walk over a module's sections, for this file and wasm-module.ts.
 * Must not: import anything of the library (build.mjs loads it before the fast path is built).
 */

/** The bytes of a build kept as hex in compat/wasm-fastpath-bytes.ts (two characters a byte). */
export function fastPathBytes(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(new ArrayBuffer(hex.length >>> 1));
  const nibble = (c: number): number => (c <= 57 ? c - 48 : c - 87); // "0".."9", "a".."f" (Buffer's hex)
  for (let i = 0; i < out.length; i++) out[i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
  return out;
}

/** One decoder for the names that are not ASCII (Reader.name). */
const UTF8 = new TextDecoder();
/** What Reader and rewriteBody's own cursor say of bytes that end early or a LEB128 too long. */
const TRUNCATED = "not a WebAssembly module: truncated";
const BAD_LEB128 = "not a WebAssembly module: bad LEB128";

/** A cursor over a module's bytes: LEB128 numbers, names, limits, constant expressions (wasm-module.ts's reads too). */
export class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  byte(): number {
    if (this.pos >= this.b.length) throw new TypeError(TRUNCATED);
    return this.b[this.pos++];
  }
  u32(): number {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const c = this.byte();
      v += (c & 0x7f) * 2 ** shift;
      if ((c & 0x80) === 0) return v;
      if (shift > 28) throw new TypeError(BAD_LEB128);
    }
  }
  /** A signed LEB128 i32 (i32.const). */
  s32(): number {
    let v = 0;
    let shift = 0;
    let c: number;
    do {
      c = this.byte();
      v |= (c & 0x7f) << shift;
      shift += 7;
    } while (c & 0x80 && shift < 35);
    if (shift < 32 && c & 0x40) v |= -1 << shift;
    return v | 0;
  }
  name(): string {
    const n = this.u32();
    const b = this.b;
    const end = this.pos + n;
    // Names are ASCII but for rare exceptions: read byte by byte, the decoder only for those
    // (a TextDecoder made for each name was a fifth of heapForModule's time: 589 us a module).
    let s = "";
    for (let i = this.pos; i < end; i++) {
      const c = b[i];
      if (c >= 0x80 || c === undefined) {
        s = UTF8.decode(b.subarray(this.pos, end));
        break;
      }
      s += String.fromCharCode(c);
    }
    this.pos = end;
    return s;
  }
  limits(): { min: number; max?: number; shared: boolean } {
    const flags = this.byte();
    const min = this.u32();
    const max = flags & 1 ? this.u32() : undefined;
    return { min, max, shared: (flags & 2) !== 0 };
  }
  /** A constant expression; its value when it is i32.const. */
  constExpr(): number | undefined {
    let value: number | undefined;
    for (;;) {
      const op = this.byte();
      if (op === 0x0b) return value;
      if (op === 0x41) value = this.s32();
      else if (op === 0x23) this.u32(); // global.get
      else if (op === 0x42) while (this.byte() & 0x80); // i64.const
      else if (op === 0x43) this.pos += 4;
      else if (op === 0x44) this.pos += 8;
      else if (op === 0xd0) this.byte(); // ref.null
      else if (op === 0xd2) this.u32(); // ref.func
      else value = undefined; // extended constant expressions: not a plain value
    }
  }
}

/** Each section of module b in order: its id, where it starts (its id byte), a reader at its payload, where it ends. */
export function* sections(b: Uint8Array): Generator<{ id: number; start: number; r: Reader; end: number }> {
  const r = new Reader(b);
  r.pos = 8;
  while (r.pos < b.length) {
    const start = r.pos;
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    yield { id, start, r, end };
    r.pos = end;
  }
}

/** n as an unsigned LEB128 (the wasm binary format's integers). */
export function u32(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function nameBytes(s: string): number[] {
  const b = new TextEncoder().encode(s);
  return [...u32(b.length), ...b];
}


export function asBytes(source: BufferSource): Uint8Array<ArrayBuffer> {
  if (source instanceof Uint8Array) return source as Uint8Array<ArrayBuffer>;
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer as ArrayBuffer, source.byteOffset, source.byteLength);
  return new Uint8Array(source as ArrayBuffer);
}

/** An import of a module: a memory import's limits decoded, any other kind's description kept as bytes. */
export interface WasmImport {
  module: string;
  name: string;
  kind: number;
  /** kind 2 (memory): its limits, in 64 KiB pages. */
  memory?: { min: number; max?: number; shared: boolean };
  /** The description's bytes (every kind but memory, which `memory` describes). */
  desc: Uint8Array;
}

function readLimits(r: Reader): { min: number; max?: number; shared: boolean } {
  const flags = r.byte();
  if (flags & 4) throw new TypeError("a 64-bit memory: not supported");
  const min = r.u32();
  const max = flags & 1 ? r.u32() : undefined;
  return { min, max, shared: (flags & 2) !== 0 };
}

/** The import section's entries, in order. */
export function readImports(source: BufferSource): WasmImport[] {
  const b = asBytes(source);
  const r = sectionReader(b, 2);
  const out: WasmImport[] = [];
  if (r !== undefined)
    for (let n = r.u32(); n > 0; n--) {
      const module = r.name();
      const name = r.name();
      const kind = r.byte();
      const at = r.pos;
      let memory: WasmImport["memory"];
      if (kind === 0) r.u32();
      else if (kind === 1) {
        r.byte();
        r.limits();
      } else if (kind === 2) memory = readLimits(r);
      else if (kind === 3) {
        r.byte();
        r.byte();
      } else if (kind === 4) {
        r.byte();
        r.u32();
      } else throw new TypeError(`not a WebAssembly module: import kind ${kind}`);
      out.push({ module, name, kind, memory, desc: b.slice(at, r.pos) });
    }
  return out;
}

/**
 * The function types of the type section as signatures ("i32,i32->i32"; value types by their
 * byte, 7f i32, 7e i64, 7d f32, 7c f64), by type index; undefined when a type is not a plain
 * function type (the GC proposal's), which this reader leaves to the engine.
 */
export function readFunctionTypes(source: BufferSource): string[] | undefined {
  const r = sectionReader(asBytes(source), 1);
  const out: string[] = [];
  if (r === undefined) return out;
  const name: Record<number, string> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref" };
  const vec = (): string | undefined => {
    const v: string[] = [];
    for (let n = r.u32(); n > 0; n--) {
      const t = name[r.byte()];
      if (t === undefined) return undefined;
      v.push(t);
    }
    return v.join(",");
  };
  for (let n = r.u32(); n > 0; n--) {
    if (r.byte() !== 0x60) return undefined;
    const params = vec();
    const results = params === undefined ? undefined : vec();
    if (results === undefined) return undefined;
    out.push(`${params}->${results}`);
  }
  return out;
}

/** A reader at the payload of the module's first section `id`, or undefined when it has none. */
function sectionReader(b: Uint8Array<ArrayBuffer>, id: number): Reader | undefined {
  for (const s of sections(b)) if (s.id === id) return s.r;
  return undefined;
}

/**
 * The module with its import section rewritten by `f` (called for each import in order; it may
 * change the module and name, and a memory's limits). The kinds, order and count stay, so no
 * index of the module moves.
 */
export function rewriteImports(source: BufferSource, f: (imp: WasmImport) => WasmImport): Uint8Array<ArrayBuffer> {
  return replaceSection(source, 2, (_r, b) => {
    const imports = readImports(b).map(f);
    const body: number[] = [...u32(imports.length)];
    for (const imp of imports) {
      body.push(...nameBytes(imp.module), ...nameBytes(imp.name), imp.kind);
      if (imp.kind === 2 && imp.memory !== undefined) {
        const m = imp.memory;
        body.push((m.max !== undefined ? 1 : 0) | (m.shared ? 2 : 0), ...u32(m.min));
        if (m.max !== undefined) body.push(...u32(m.max));
      } else body.push(...imp.desc);
    }
    return [new Uint8Array(body)];
  });
}

/**
 * The module with its section `id` (the first, if any; else a copy of the module) replaced by
 * one whose payload is the chunks `payload` returns, given a reader at the old payload.
 */
function replaceSection(source: BufferSource, id: number, payload: (r: Reader, b: Uint8Array<ArrayBuffer>) => Uint8Array[]): Uint8Array<ArrayBuffer> {
  const b = asBytes(source);
  for (const { id: sid, start, r, end } of sections(b)) {
    if (sid === id) {
      const chunks = payload(r, b);
      const bodyLength = chunks.reduce((n, c) => n + c.length, 0);
      const head = new Uint8Array([id, ...u32(bodyLength)]);
      const out = new Uint8Array(start + head.length + bodyLength + (b.length - end));
      out.set(b.subarray(0, start), 0);
      let at = start;
      for (const c of [head, ...chunks]) {
        out.set(c, at);
        at += c.length;
      }
      out.set(b.subarray(end), at);
      return out;
    }
  }
  return b.slice();
}

/** The module with a custom section appended (name, then UTF-8 text or the bytes given). */
export function withCustomSection(source: BufferSource, name: string, content: string | ArrayLike<number>): Uint8Array<ArrayBuffer> {
  const b = asBytes(source);
  const payload = [...nameBytes(name), ...(typeof content === "string" ? new TextEncoder().encode(content) : Array.from(content))];
  const section = [0, ...u32(payload.length), ...payload];
  const out = new Uint8Array(b.length + section.length);
  out.set(b, 0);
  out.set(section, b.length);
  return out;
}

/** FNV-1a (32 bits) of the bytes, as 8 hex digits: the id of a fast-path build. */
export function buildId(source: BufferSource): string {
  const b = asBytes(source);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** Whether b starts as a WebAssembly binary does (the \0asm magic; the version word not read). */
export function hasWasmMagic(b: Uint8Array): boolean {
  return b.length >= 8 && b[0] === 0 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d;
}

/** Whether the module has a custom section of this name. */
export function hasCustomSection(source: BufferSource, name: string): boolean {
  return customSection(source, name) !== undefined;
}

/** The content of the module's first custom section of this name (as WebAssembly.Module.customSections reads it), or undefined. */
export function customSection(source: BufferSource, name: string): Uint8Array | undefined {
  const b = asBytes(source);
  for (const { id, r, end } of sections(b)) if (id === 0 && r.name() === name) return b.subarray(r.pos, end);
  return undefined;
}

/** The export section's entries: name, kind (0 function, 1 table, 2 memory, 3 global, 4 tag) and index. */
export function readExports(source: BufferSource): { name: string; kind: number; index: number }[] {
  const r = sectionReader(asBytes(source), 7);
  const out: { name: string; kind: number; index: number }[] = [];
  if (r !== undefined)
    for (let n = r.u32(); n > 0; n--) {
      const name = r.name();
      const kind = r.byte();
      out.push({ name, kind, index: r.u32() });
    }
  return out;
}

/** The module with its export section rewritten by `f` (undefined drops the export): names and which exports, no index moves. */
export function rewriteExports(source: BufferSource, f: (e: { name: string; kind: number; index: number }) => { name: string; kind: number; index: number } | undefined): Uint8Array<ArrayBuffer> {
  return replaceSection(source, 7, (_r, b) => {
    const kept = readExports(b).map(f).filter((e) => e !== undefined);
    const body: number[] = [...u32(kept.length)];
    for (const e of kept) body.push(...nameBytes(e.name), e.kind, ...u32(e.index));
    return [new Uint8Array(body)];
  });
}

function s32(v: number): number[] {
  const out: number[] = [];
  v |= 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const VALTYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f]);

/** What follows an opcode in a function body (rewriteBody): IMMEDIATES[op], one of these. */
const IMM_NONE = 0;
const IMM_U32 = 1;
const IMM_BLOCK = 2;
const IMM_BR_TABLE = 3;
const IMM_U32_U32 = 4;
const IMM_TYPES = 5;
const IMM_MEMARG = 6;
const IMM_LEB = 7;
const IMM_4 = 8;
const IMM_8 = 9;
const IMM_BYTE = 10;
const IMM_FC = 11;
const IMM_FE = 12;
const IMM_UNKNOWN = 13;

/** One lookup an instruction, not a chain of compares (the decode runs cold, in V8's baseline code). */
const IMMEDIATES = ((): Uint8Array => {
  const t = new Uint8Array(256).fill(IMM_UNKNOWN);
  const set = (kind: number, from: number, to = from) => t.fill(kind, from, to + 1);
  for (const op of [0x00, 0x01, 0x05, 0x0b, 0x0f, 0x1a, 0x1b, 0xd1]) set(IMM_NONE, op);
  set(IMM_NONE, 0x45, 0xc4); // numeric, sign extension
  set(IMM_BLOCK, 0x02, 0x04);
  for (const op of [0x0c, 0x0d, 0x10, 0x12, 0xd2, 0x3f, 0x40]) set(IMM_U32, op);
  set(IMM_U32, 0x20, 0x26); // locals, globals (0x23 is read first), tables
  set(IMM_BR_TABLE, 0x0e);
  set(IMM_U32_U32, 0x11);
  set(IMM_U32_U32, 0x13);
  set(IMM_TYPES, 0x1c);
  set(IMM_MEMARG, 0x28, 0x3e);
  set(IMM_LEB, 0x41, 0x42);
  set(IMM_4, 0x43);
  set(IMM_8, 0x44);
  set(IMM_BYTE, 0xd0);
  set(IMM_FC, 0xfc);
  set(IMM_FE, 0xfe);
  return t;
})();

/**
 * One function body's instructions with every `global.get G` for G in `consts` written as
 * `i32.const` of its value, as pieces (views of the body and the constants' bytes); undefined
 * when it reads none of them or holds an instruction this reader does not know (SIMD,
 * exceptions, GC, ...): the caller then keeps the body as it is. Knows the MVP, sign extension,
 * saturating truncation, bulk memory, reference types, tail calls and atomics. Its cursor is a
 * local and each opcode's immediates one table lookup (IMMEDIATES): it runs at a linked module's
 * first instantiation, in V8's baseline code, over hundreds of KB (QuickJS: ~70 M instructions
 * less than through Reader's methods and a chain of compares).
 */
function rewriteBody(b: Uint8Array, start: number, end: number, consts: Map<number, number>): Uint8Array[] | undefined {
  let pos = start;
  /** A LEB128 u32 at pos, read past (Reader.u32's answer and its errors; not the u32 encoder). */
  const readU32 = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= b.length) throw new TypeError(TRUNCATED);
      const c = b[pos++];
      v += (c & 0x7f) * 2 ** shift;
      if ((c & 0x80) === 0) return v;
      if (shift > 28) throw new TypeError(BAD_LEB128);
    }
  };
  // The body as pieces: runs of its own bytes (views, not copied byte by byte into an array: a
  // linked module's bodies that read the globals are hundreds of KB) and the constants between.
  const out: Uint8Array[] = [];
  let copied = start;
  for (let groups = readU32(); groups > 0; groups--) {
    readU32();
    if (pos >= b.length) throw new TypeError(TRUNCATED);
    if (!VALTYPES.has(b[pos++])) return undefined;
  }
  while (pos < end) {
    const at = pos;
    const op = b[pos++];
    if (op === 0x23) {
      const v = consts.get(readU32());
      if (v !== undefined) {
        if (at > copied) out.push(b.subarray(copied, at));
        out.push(new Uint8Array([0x41, ...s32(v)]));
        copied = pos;
      }
      continue;
    }
    switch (IMMEDIATES[op]) {
      case IMM_NONE:
        break;
      case IMM_U32:
        readU32();
        break;
      case IMM_BLOCK: {
        const t = b[pos];
        if (t === 0x40 || VALTYPES.has(t)) pos++;
        else if ((t & 0xc0) === 0x40) return undefined; // a one-byte negative s33: a reference type of the GC proposal (or worse): not known here
        else while (b[pos++] & 0x80); // a type index (s33, non-negative)
        break;
      }
      case IMM_BR_TABLE:
        for (let n = readU32(); n > 0; n--) readU32();
        readU32();
        break;
      case IMM_U32_U32:
        readU32();
        readU32();
        break;
      case IMM_TYPES:
        for (let n = readU32(); n > 0; n--) pos++;
        break;
      case IMM_MEMARG:
        if (readU32() & 0x40) readU32();
        readU32();
        break;
      case IMM_LEB:
        while (b[pos++] & 0x80);
        break;
      case IMM_4:
        pos += 4;
        break;
      case IMM_8:
        pos += 8;
        break;
      case IMM_BYTE:
        pos++;
        break;
      case IMM_FC: {
        const sub = readU32();
        if (sub <= 7) {
          // saturating truncation
        } else if (sub === 8 || sub === 10 || sub === 12 || sub === 14) {
          readU32();
          readU32();
        } else if (sub === 9 || sub === 11 || sub === 13 || (sub >= 15 && sub <= 17)) readU32();
        else return undefined;
        break;
      }
      case IMM_FE: {
        const sub = readU32();
        if (sub === 3) pos++;
        else if (sub <= 2 || (sub >= 0x10 && sub <= 0x4e)) {
          if (readU32() & 0x40) readU32();
          readU32();
        } else return undefined;
        break;
      }
      default:
        return undefined;
    }
  }
  if (pos !== end) return undefined;
  if (out.length === 0) return undefined; // nothing read: the body as it is
  if (end > copied) out.push(b.subarray(copied, end));
  return out;
}

/**
 * Whether the body bytes [start, end) may read one of `consts`' globals: a 0x23 byte (global.get)
 * followed by the LEB128 of one of them. A global.get of one is always such bytes (padded LEB128
 * too); other bytes may be (an immediate, a local declaration): those bodies are decoded in full
 * by rewriteBody, which decides. Most of a C module's functions read none of the fast path's
 * globals (QuickJS linked: 34 of 1,051 bodies, 210 KB of 926 KB, may): a native indexOf passes
 * them by, where rewriteBody decoded every instruction in JS, cold, at a linked module's first
 * instantiation (64 ms, ~450 million instructions for QuickJS; docs/performance.md, session 53).
 */
function mayReadGlobal(b: Uint8Array, start: number, end: number, consts: Map<number, number>): boolean {
  const body = b.subarray(start, end); // indexOf bounded by the body, not the module's end
  for (let i = body.indexOf(0x23); i !== -1; i = body.indexOf(0x23, i + 1)) {
    let v = 0;
    for (let j = i + 1, shift = 0; j < body.length && shift < 35; j++, shift += 7) {
      v |= (body[j] & 0x7f) << shift;
      if ((body[j] & 0x80) === 0) break;
    }
    if (consts.has(v >>> 0)) return true;
  }
  return false;
}

/**
 * The module with every `global.get G` (G a key of `consts`, an i32 global) in its function
 * bodies written as `i32.const` of its value: V8 then compiles the numbers into the code. Bodies
 * that read none of them, or hold an instruction rewriteBody does not know, are kept byte for
 * byte. The globals stay (their writes too): only the reads change.
 */
export function constifyGlobals(source: BufferSource, consts: Map<number, number>): Uint8Array<ArrayBuffer> {
  return replaceSection(source, 10, (r, b) => {
    // Chunks, not one array spread: a module's code may be megabytes.
    const chunks: Uint8Array[] = [];
    const n = r.u32();
    chunks.push(new Uint8Array(u32(n)));
    for (let i = 0; i < n; i++) {
      const len = r.u32();
      const from = r.pos;
      const rewritten = mayReadGlobal(b, from, from + len, consts) ? rewriteBody(b, from, from + len, consts) : undefined;
      if (rewritten === undefined) chunks.push(new Uint8Array(u32(len)), b.subarray(from, from + len));
      else chunks.push(new Uint8Array(u32(rewritten.reduce((n, c) => n + c.length, 0))), ...rewritten);
      r.pos = from + len;
    }
    return chunks;
  });
}
