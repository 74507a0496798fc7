#!/usr/bin/env node
// scripts/strip-internal-docs.mjs — run after the declarations' build (npm run build, npm test,
// prepare): removes the doc comments from the declarations of the allocator's internal layers
// (dist/obmalloc/, dist/raw/: the classes behind heap.objectAllocator and heap.rawAllocator,
// which users reach through the families), of the threads layer (dist/threads/), of the CLI (dist/cli/) and its trace reader (dist/trace/), of the heap's layout
// (dist/constants.d.ts) and of the debug hooks' state (dist/debug/hooks.d.ts, spans.d.ts), keeping their types. Their design notes live in the
// sources; the public API's declarations keep their documentation (an editor shows it). It
// saves 13.7 kB of the packed package (209.5 -> 195.9 kB on 2026-12-04; test/package.test.ts);
// the CLI's and the layout's, added 2026-12-05 (session 35): 218.3 -> 209.8 kB with this README.
// Owns: nothing but that edit. Must not: touch any other folder's declarations.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
const files = ["obmalloc", "raw", "cli"].flatMap((dir) => readdirSync(join(dist, dir)).map((f) => join(dist, dir, f)));
// The heap's layout (constants.d.ts: the words and fields a heap's bytes hold, exported as
// `constants` for tools that read a heap): its notes are the design's, kept in the source.
files.push(join(dist, "constants.d.ts"));
// The debug hooks' machinery (DebugState, DebugFamily: heap.debug, which the README does not
// teach; users reach it through the families, check(), leaks() and the reports), added
// 2026-12-06 (session 41): with that session's README, 216.2 -> 213.3 kB packed.
files.push(join(dist, "debug", "hooks.d.ts"));
// Where pymalloc's modules lie in a bundle (debug/spans.ts, internal), added 2026-12-07.
files.push(join(dist, "debug", "spans.d.ts"));
// The threads layer (SharedLock, LockedFamily: internal, reached through the heap's threads
// option), added 2026-12-06 (session 42, the lock's owner word and takeover).
for (const f of readdirSync(join(dist, "threads"))) files.push(join(dist, "threads", f));
// compat/'s internal helpers (the fast path's bytes, their rewriting and numbers, the adapters'
// live-block table), which index.ts does not export; the same session.
for (const f of ["wasm-bytes", "wasm-numbers", "wasm-specialize", "wasm-fastpath-bytes", "live-table"]) files.push(join(dist, "compat", `${f}.d.ts`));
// The trace reader and replayer (dist/trace/: the CLI's and the benchmarks', which index.ts does
// not export), added 2026-12-06 (a misuse hunt: the bounded reading of a gzip bomb and the session's other checks had made it 227.8 kB packed): 227.8 -> 225.1 kB.
for (const f of readdirSync(join(dist, "trace"))) files.push(join(dist, "trace", f));
// The debug hooks' helpers (host, byte patterns, quarantine, sites, sampling), the heap's layout
// and the introspection walks and checks: modules index.ts does not export and no public
// declaration imports from (session 49, when the raw allocator's checks before its first write
// and two C-in-wasm fixes made the package 231.9 kB packed).
for (const f of ["debug/host", "debug/bytes", "debug/quarantine", "debug/sites", "debug/sampling", "heap/layout", "introspect/check", "introspect/walk"]) files.push(join(dist, `${f}.d.ts`));
for (const p of files) {
  if (!p.endsWith(".d.ts")) continue;
  const text = readFileSync(p, "utf8");
  // Declarations hold no string that contains a comment opener: every /** ... */ is a comment.
  writeFileSync(p, text.replace(/^[ \t]*\/\*\*[\s\S]*?\*\/[ \t]*\r?\n/gm, ""));
}
