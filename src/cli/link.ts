/**
 * cli/link.ts — `pymalloc link`: pymalloc's fast path linked into a C module (issue #17).
 *
 * Owns: reading the client module, linking (compat/wasm-link.ts's linkFastPath: binaryen's
 * wasm-merge) and writing the result; the one-line report of what was linked.
 * Must not: decide anything about the merge (wasm-link.ts does).
 */

import { accessSync, constants, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { hasWasmMagic } from "../compat/wasm-bytes.js";
import { linkFastPath, linkedInfo } from "../compat/wasm-link.js";
import { UsageError } from "./args.js";

export async function cmdLink(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: "string", short: "o" }, "wasm-merge": { type: "string" }, "no-inline": { type: "boolean", default: false } },
  });
  if (positionals.length !== 1) throw new UsageError(`link expects one module, got ${positionals.length}`);
  if (values.out === undefined) throw new UsageError("link needs -o OUT.wasm");
  // Before the link (seconds of wasm-merge), as map does: a folder that is not there, or -o a folder.
  try {
    accessSync(dirname(resolve(values.out)), constants.W_OK);
    if (statSync(values.out, { throwIfNoEntry: false })?.isDirectory()) throw Object.assign(new Error("a directory"), { code: "EISDIR" });
  } catch (e) {
    throw new UsageError(`cannot write -o ${values.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(positionals[0]));
  } catch (e) {
    throw new UsageError(`cannot read ${positionals[0]}: ${(e as Error).message}`);
  }
  // linkFastPath reads the import section of whatever it is given: a file that is no module (a
  // trace, a text file) was reported as "the module imports no env.memory".
  if (!hasWasmMagic(bytes)) throw new UsageError(`${positionals[0]}: not a WebAssembly module (no \\0asm magic at its start)`);
  // The magic and then no module (a truncated or damaged file) read as "imports no env.memory".
  if (!WebAssembly.validate(bytes)) throw new UsageError(`${positionals[0]}: not a valid WebAssembly module (it starts with the \\0asm magic, but does not validate: truncated or damaged?)`);
  let out: Uint8Array<ArrayBuffer>;
  try {
    out = await linkFastPath(bytes, { wasmMerge: values["wasm-merge"], inline: !values["no-inline"] });
  } catch (e) {
    if (e instanceof TypeError) throw new UsageError(`${positionals[0]}: ${e.message}`);
    throw e;
  }
  // Checked before the link, yet the write may still fail (a full disk, /dev/full): the same one
  // line and exit 2 (it was exit 1 with Node's "ENOSPC: no space left on device, write").
  try {
    writeFileSync(values.out, out);
  } catch (e) {
    throw new UsageError(`cannot write -o ${values.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const info = linkedInfo(new WebAssembly.Module(out))!;
  console.log(`linked pymalloc's fast path (${info.shared ? "shared" : "unshared"} memory, build ${info.fastpath}) into ${values.out} (${out.length} bytes, from ${bytes.length}${values["no-inline"] ? "; malloc, free and calloc not inlined" : ""})`);
  return 0;
}
