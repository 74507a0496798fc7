/**
 * compat/wasm-bytes.ts — small rewrites of WebAssembly binaries, without compiling them.
 *
 * Owns: reading and rewriting a module's import section (names and memory limits; no index
 * moves), appending a custom section, and the id (FNV-1a) of a build. Used by `pymalloc link`
 * (compat/wasm-link.ts) and by wasm/obmalloc/build.mjs (the merge-ready fast path's memory import).
 * Must not: import anything of the library (build.mjs loads it before the fast path is built).
 */

function u32(n: number): number[] {
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

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  byte(): number {
    if (this.pos >= this.b.length) throw new TypeError("not a WebAssembly module: truncated");
    return this.b[this.pos++];
  }
  u32(): number {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const c = this.byte();
      v += (c & 0x7f) * 2 ** shift;
      if ((c & 0x80) === 0) return v;
      if (shift > 28) throw new TypeError("not a WebAssembly module: bad LEB128");
    }
  }
  name(): string {
    const n = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
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

function skipLimits(r: Reader): void {
  const flags = r.byte();
  r.u32();
  if (flags & 1) r.u32();
}

/** The import section's entries, in order. */
export function readImports(source: BufferSource): WasmImport[] {
  const b = asBytes(source);
  const r = new Reader(b);
  r.pos = 8;
  while (r.pos < b.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 2) {
      const out: WasmImport[] = [];
      for (let n = r.u32(); n > 0; n--) {
        const module = r.name();
        const name = r.name();
        const kind = r.byte();
        const at = r.pos;
        let memory: WasmImport["memory"];
        if (kind === 0) r.u32();
        else if (kind === 1) {
          r.byte();
          skipLimits(r);
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
    r.pos = end;
  }
  return [];
}

/**
 * The module with its import section rewritten by `f` (called for each import in order; it may
 * change the module and name, and a memory's limits). The kinds, order and count stay, so no
 * index of the module moves.
 */
export function rewriteImports(source: BufferSource, f: (imp: WasmImport) => WasmImport): Uint8Array<ArrayBuffer> {
  const b = asBytes(source);
  const r = new Reader(b);
  r.pos = 8;
  while (r.pos < b.length) {
    const start = r.pos;
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 2) {
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
      const section = [2, ...u32(body.length), ...body];
      const out = new Uint8Array(start + section.length + (b.length - end));
      out.set(b.subarray(0, start), 0);
      out.set(section, start);
      out.set(b.subarray(end), start + section.length);
      return out;
    }
    r.pos = end;
  }
  return b.slice();
}

/** The module with a custom section appended (name, UTF-8 text). */
export function withCustomSection(source: BufferSource, name: string, text: string): Uint8Array<ArrayBuffer> {
  const b = asBytes(source);
  const payload = [...nameBytes(name), ...new TextEncoder().encode(text)];
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

/** Whether the module has a custom section of this name. */
export function hasCustomSection(source: BufferSource, name: string): boolean {
  const b = asBytes(source);
  const r = new Reader(b);
  r.pos = 8;
  while (r.pos < b.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 0 && r.name() === name) return true;
    r.pos = end;
  }
  return false;
}
