/**
 * trace/file.ts — reading trace files from disk (Node only).
 *
 * Owns: gunzip and file errors, turned into TraceFormatError with the file's name.
 * Must not: interpret events (trace.ts does).
 */

import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { gunzipSync } from "node:zlib";
import { TraceFormatError, parseTrace, type Trace } from "./trace.js";

export function readTraceFile(path: string): Trace {
  const name = basename(path).replace(/\.pymtrace(\.gz)?$/, "");
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new TraceFormatError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new TraceFormatError(`${path}: corrupt gzip data (${(e as Error).message})`);
    }
  }
  return parseTrace(bytes, name);
}
