/**
 * trace/file.ts — reading trace files from disk (Node only).
 *
 * Owns: reading and gunzipping a file within a byte budget, and file errors, turned into
 * TraceFormatError with the file's name.
 * Must not: interpret events (trace.ts does).
 *
 * Bounded: a small .gz can inflate to gigabytes (a gzip bomb: 1 GiB of zeros is 1-5 MB), and
 * gunzipSync inflated all of it before parseTrace compared its length with the header's (18 s and
 * 2 GB of memory for a 4.6 MB file, 4.4 GB for five of them, then "corrupt gzip data (Cannot create
 * a Buffer larger than 4294967296 bytes)"); /dev/zero was read for ever. Now the header is read
 * first (from the file's first 4 KiB: deflate's ratio is at most ~1032:1) and the rest is read or
 * inflated only as far as the length it promises, and never past the reader's limit.
 *
 * Regular files only: a FIFO with no writer blocked open() for ever (the CLI hung), and a device
 * (/dev/zero, a terminal) is no trace. Each is refused, by stat() before it is opened, and the
 * open is non-blocking, its fstat() checked again, for one made in between. /dev/stdin is
 * read when it is a file (`< trace.gz`), refused when it is a pipe or a terminal.
 */

import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync, type Stats } from "node:fs";
import { basename } from "node:path";
import { constants as bufferConstants } from "node:buffer";
import { constants as zlibConstants, gunzipSync } from "node:zlib";
import { TraceFormatError, parseTrace, parseTraceHeader, type Trace } from "./trace.js";

/** Decompressed bytes a trace may have unless told (1 GiB: 134 M events; the recorder's default cap of 20 M is 160 MB). */
export const TRACE_MAX_BYTES = 2 ** 30;
/** The environment variable that sets readTraceFile's limit when its caller gives none (the CLI). */
export const TRACE_MAX_BYTES_ENV = "PYMALLOC_TRACE_MAX_BYTES";

export interface ReadTraceOptions {
  /**
   * Most decompressed bytes to accept (default: $PYMALLOC_TRACE_MAX_BYTES, else 1 GiB; at most
   * 4 GiB, Node's largest Buffer). A header promising more is refused before anything is inflated.
   */
  maxBytes?: number;
}

function traceLimit(options: ReadTraceOptions): { limit: number; how: string } {
  const env = process.env[TRACE_MAX_BYTES_ENV];
  const given = options.maxBytes !== undefined;
  const v = given ? options.maxBytes : env !== undefined && env !== "" ? (/^\d+$/.test(env.trim()) ? Number(env) : NaN) : TRACE_MAX_BYTES;
  const what = given ? "readTraceFile's maxBytes" : `${TRACE_MAX_BYTES_ENV}=${env}`;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 32 || v > bufferConstants.MAX_LENGTH)
    // The environment's is the CLI's (a TraceFormatError is its exit code 2, one line).
    throw new (given ? RangeError : TraceFormatError)(`${what}: the limit on a trace's decompressed bytes must be an integer from 32 to ${bufferConstants.MAX_LENGTH} (Node's largest Buffer), got ${given ? String(v) : JSON.stringify(env)}`);
  return { limit: v, how: given ? "maxBytes raises it" : `set ${TRACE_MAX_BYTES_ENV}=BYTES to raise it` };
}

/** `first` (if given), then what fd reads until end of file or `max` bytes more (in pieces of at most 16 MiB). */
function readAtMost(fd: number, max: number, first?: Buffer): Buffer {
  const chunks: Buffer[] = first === undefined ? [] : [first];
  let got = 0;
  while (got < max) {
    const want = Math.min(max - got, 1 << 24);
    const b = Buffer.allocUnsafe(want);
    const n = readSync(fd, b, 0, want, null);
    if (n === 0) break;
    chunks.push(n === want ? b : b.subarray(0, n));
    got += n;
  }
  return Buffer.concat(chunks);
}

/** `first` and what follows it in fd, up to `budget` bytes in all; `more` if the file had at least one byte more. */
function readUpTo(fd: number, budget: number, first: Buffer): { bytes: Buffer; more: boolean } {
  const bytes = readAtMost(fd, budget + 1 - first.length, first);
  return bytes.length > budget ? { bytes: bytes.subarray(0, budget), more: true } : { bytes, more: false };
}

/** A TraceFormatError for what is no regular file (a directory: EISDIR, as open() would say), or null. */
function notAFile(path: string, st: Stats): TraceFormatError | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return new TraceFormatError(`${path}: cannot read (EISDIR)`);
  const kind = st.isFIFO() ? "a FIFO" : st.isCharacterDevice() ? "a character device" : st.isBlockDevice() ? "a block device" : st.isSocket() ? "a socket" : "not a file";
  return new TraceFormatError(`${path}: not a regular file (${kind}): a trace is read from a .pymtrace or .pymtrace.gz file`);
}

const mib = (n: number | bigint): string => `${n} bytes` + (Number(n) < 2 ** 20 ? "" : `, ${(Number(n) / 2 ** 20).toFixed(1)} MiB`);

export function readTraceFile(path: string, options: ReadTraceOptions = {}): Trace {
  const name = basename(path).replace(/\.pymtrace(\.gz)?$/, "");
  const { limit, how } = traceLimit(options);
  const past = (what: string): TraceFormatError => new TraceFormatError(`${path}: ${what}, past the reader's limit of ${mib(limit)} (${how})`);
  const cannot = (e: unknown): TraceFormatError => new TraceFormatError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  let fd: number;
  let head: Buffer;
  let size: number;
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw cannot(e);
  }
  let no = notAFile(path, st);
  if (no !== null) throw no;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw cannot(e);
  }
  try {
    try {
      st = fstatSync(fd);
    } catch (e) {
      throw cannot(e);
    }
    no = notAFile(path, st);
    if (no !== null) throw no;
    size = st.size;
    try {
      head = readAtMost(fd, 4096);
    } catch (e) {
      throw cannot(e);
    }
    if (head[0] === 0x1f && head[1] === 0x8b) {
      // Compressed: the file is at most the limit and a little (deflate's stored blocks and
      // gzip's headers add a few bytes in a thousand to data that does not compress).
      const slack = 65536 + Math.floor(limit / 256);
      if (size > limit + slack) throw past(`a gzip file of ${size} bytes`);
      const { bytes, more } = readUpTo(fd, limit + slack, head);
      if (more) throw past(`a gzip file of more than ${limit + slack} bytes`);
      // The header, from the first 4 KiB (inflated to at most ~4 MiB): what the rest must inflate to.
      let promised: bigint | undefined;
      let prefix: Buffer | undefined;
      try {
        prefix = gunzipSync(bytes.subarray(0, 4096), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      } catch {
        // Corrupt from the start: the full inflate below says how.
      }
      if (prefix !== undefined && prefix.length >= 32) {
        const h = parseTraceHeader(prefix, name);
        if (h.bytes > BigInt(limit)) throw past(`header promises ${h.count} events (${mib(h.bytes)} decompressed)`);
        promised = h.bytes;
        // A header and nothing after it inflates to the 32 bytes (or fewer) it gave already.
      }
      const bound = promised !== undefined ? Number(promised) + 1 : limit;
      let data: Buffer;
      try {
        data = gunzipSync(bytes, { maxOutputLength: Math.min(bound, bufferConstants.MAX_LENGTH) });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
          if (promised !== undefined)
            throw new TraceFormatError(`${path}: inflates to more than the ${promised} bytes its header promises (${(promised - 32n) / 8n} events): corrupt, or not a trace; inflating stopped there`);
          // No header in the first 4 KiB (a gzip header with a long file name or comment): bounded by the limit alone.
          throw new TraceFormatError(`${path}: inflates to more than the reader's limit of ${mib(limit)} (${how}); inflating stopped there`);
        }
        throw new TraceFormatError(`${path}: corrupt gzip data (${(e as Error).message})`);
      }
      return parseTrace(data, name);
    }
    // Uncompressed: read as far as the header promises, and one byte more to know it ends there.
    if (head.length < 32) return parseTrace(head, name);
    const h = parseTraceHeader(head, name);
    if (h.bytes > BigInt(limit)) throw past(`header promises ${h.count} events (${mib(h.bytes)})`);
    const { bytes, more } = readUpTo(fd, Number(h.bytes), head.subarray(0, Math.min(head.length, Number(h.bytes) + 1)));
    if (more || head.length > Number(h.bytes))
      throw new TraceFormatError(`${name}: header promises ${h.count} events (${h.bytes} bytes) but the data has ${size} bytes (truncated or corrupt)`);
    return parseTrace(bytes, name);
  } finally {
    closeSync(fd);
  }
}
