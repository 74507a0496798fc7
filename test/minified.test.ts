// The library as a web application's production build ships it: bundled by esbuild with every
// minification on (vite's build minifies so), which renames classes. The errors keep their names:
// e.name, String(e) and the "Name: message" line a browser console prints read
// "InvalidPointerError", not the minified class's "R" (session 53: a page bundled with
// `esbuild --minify` printed "De: buffer overflow ..." for a MemoryCorruptionError).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./helpers.js";

type Lib = typeof import("../src/index.js");
const dir = mkdtempSync(join(tmpdir(), "pymalloc-minified-"));
let lib: Lib;
let replayError: new (m: string) => Error;
let traceFormatError: new (m: string) => Error;

beforeAll(async () => {
  const { build } = await import("esbuild");
  const entry = `export * from ${JSON.stringify(join(ROOT, "dist", "index.js"))};\nexport { ReplayError } from ${JSON.stringify(join(ROOT, "dist", "trace", "replay.js"))};\nexport { TraceFormatError } from ${JSON.stringify(join(ROOT, "dist", "trace", "trace.js"))};\n`;
  const out = join(dir, "bundle.mjs");
  await build({ stdin: { contents: entry, resolveDir: ROOT }, bundle: true, minify: true, platform: "node", format: "esm", outfile: out, logLevel: "silent" });
  const m = await import(pathToFileURL(out).href);
  lib = m as Lib;
  replayError = m.ReplayError;
  traceFormatError = m.TraceFormatError;
  // The bundle did rename the classes: otherwise this test would prove nothing.
  expect(lib.InvalidPointerError.name).not.toBe("InvalidPointerError");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("nothing thrown");
}

describe("errors keep their names in a minified bundle", () => {
  it("thrown by the heap: InvalidPointerError, MemoryCorruptionError, HeapCorruptionError, PymallocError", () => {
    const heap = lib.createHeap({ memoryKind: "wasm" });
    const bad = thrown(() => heap.obj.free(12345));
    expect(bad).toBeInstanceOf(lib.InvalidPointerError);
    expect(bad.name).toBe("InvalidPointerError");
    expect(String(bad)).toMatch(/^InvalidPointerError: free\(0x00003039\)/);
    expect(bad.stack).toMatch(/^InvalidPointerError: free\(0x00003039\)/);

    const debug = lib.createHeap({ allocator: "debug", memoryKind: "wasm" });
    const p = debug.mem.malloc(10);
    debug.u8[p + 10] = 1;
    const overflow = thrown(() => debug.mem.free(p));
    expect(overflow).toBeInstanceOf(lib.MemoryCorruptionError);
    expect(overflow.name).toBe("MemoryCorruptionError");
    expect(overflow.stack).toMatch(/^MemoryCorruptionError: buffer overflow/);

    const damaged = lib.createHeap({ memoryKind: "wasm" });
    damaged.u32[(damaged.heapBase >>> 2) + lib.constants.H.TOP] = 3; // the raw top, misaligned
    const corrupt = thrown(() => damaged.check());
    expect(corrupt).toBeInstanceOf(lib.HeapCorruptionError);
    expect(corrupt.name).toBe("HeapCorruptionError");

    const plain = thrown(() => heap.adoptThread(1));
    expect(plain.constructor).toBe(lib.PymallocError);
    expect(plain.name).toBe("PymallocError");
  });

  it("every error class, constructed directly; an application's subclass keeps its own name", () => {
    expect(new lib.PymallocError("x").name).toBe("PymallocError");
    expect(new lib.NotImplementedError("x").name).toBe("NotImplementedError");
    expect(new lib.InvalidPointerError("free", 8, "not-a-block", "x").name).toBe("InvalidPointerError");
    expect(new lib.HeapCorruptionError(8, "x").name).toBe("HeapCorruptionError");
    expect(new replayError("x").name).toBe("ReplayError");
    expect(new traceFormatError("x").name).toBe("TraceFormatError");
    class AppError extends lib.InvalidPointerError {}
    expect(new AppError("free", 8, "not-a-block", "x").name).toBe("AppError");
  });
});
