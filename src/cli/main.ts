#!/usr/bin/env node
/**
 * cli/main.ts — the `pymalloc` command: dispatch and exit codes.
 *
 * Owns: the usage text, choosing the command, and turning errors into exit codes (0 ok, 1 a
 * replay failed, 2 bad arguments, an unreadable trace or output that cannot be written: one line,
 * never a stack trace).
 * Must not: contain command logic (replay.ts, inspect.ts, diff.ts, link.ts).
 */

import { ALLOCATOR_MODES } from "../heap/options.js";
import { TraceFormatError } from "../trace/trace.js";
import { UsageError } from "./args.js";
import { cmdMap, cmdStats } from "./inspect.js";
import { cmdReplay } from "./replay.js";
import { cmdDiff } from "./diff.js";
import { cmdLink } from "./link.js";

const USAGE = `usage:
  pymalloc replay TRACE... [--allocator LIST] [--runs N] [--warmup EVENTS] [--verify] [--traced] [--json]
  pymalloc stats TRACE [--at peak|end|N] [--allocator MODE]
  pymalloc map TRACE [--at peak|end|N] [--allocator MODE] --out FILE.html|FILE.svg
  pymalloc diff TRACE --from N [--to M] [--allocator MODE] [--top K] [--json]
  pymalloc link MODULE.wasm -o OUT.wasm [--wasm-merge PATH] [--no-inline]

Replays CPython allocation traces (.pymtrace or .pymtrace.gz) through pymalloc.
  replay   time each allocator (warm-up runs, then N timed runs), print ns/event and memory
  stats    replay up to a point and print debugMallocStats() (like sys._debugmallocstats())
  map      replay up to a point and draw the heap: arenas as rows of pools, raw blocks, legend
  diff     replay to event N and snapshot the heap, go on to event M (default end), and print
           what each size class and family gained and lost (like tracemalloc's compare_to)
  link     link pymalloc's fast path into a C module built for it (pymemcompat.c): its malloc
           and free become code inside the module, inlined at C's calls (binaryen from npm);
           instantiateWithHeap(OUT.wasm bytes) runs it on a heap

options:
  --allocator LIST   comma-separated modes (${ALLOCATOR_MODES.join(", ")}); default pymalloc,malloc
                     for replay, pymalloc otherwise
  --runs N           timed runs per allocator after the warm-up (default 5)
  --warmup EVENTS    untimed replays first, at least one, until this many events (default
                     5000000: a short trace is replayed several times while the JIT settles;
                     the debug modes: one replay); the first run's time is printed too
  --verify           also replay once with content verification and heap.check()
  --traced           debug modes: capture each block's allocation stack (traceAllocations:
                     true; off by default: a replay's stacks are all the replay loop's, and
                     capturing them costs ~25-40x the time an event); --untraced, the default, is
                     still accepted
  --json             print replay results as JSON
  --at WHEN          peak (where live bytes peak), end (default), or a number of events
  --from, --to WHEN  diff's two points, as --at (--to defaults to end); diff's allocator
                     defaults to debug (families are known there)
  --top K            diff: the K groups that grew and the K that shrank most (default 20; --json lists every group)
  --out FILE         where map writes its picture (.html page or .svg image)
  -o OUT.wasm        where link writes the linked module
  --wasm-merge PATH  link: binaryen's bin/wasm-merge to run (default: the binaryen npm package)
  --no-inline        link: keep malloc, free and calloc as functions C calls (default: inlined at each call)
  -h, --help         this text

environment:
  PYMALLOC_TRACE_MAX_BYTES=N  the most bytes a trace may inflate to (default 1073741824, 1 GiB; at
                     most 4294967296): a header promising more is refused before anything is read`;

/** Options whose value is a number: `--runs -1` is that option with a negative value. */
const NUMERIC = new Set(["--runs", "--warmup", "--top", "--at", "--from", "--to"]);

/**
 * `--runs -1` as `--runs=-1`: parseArgs calls a value starting with a dash ambiguous and said so
 * in three lines ("Did you forget to specify the option argument ..."), never reaching the
 * option's own check; now the option says what it takes, in one line.
 */
function joinNegatives(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (NUMERIC.has(args[i]) && i + 1 < args.length && /^-[\d.]/.test(args[i + 1])) out.push(`${args[i]}=${args[++i]}`);
    else out.push(args[i]);
  }
  return out;
}

export function main(argv: string[]): number | Promise<number> {
  const [cmd, ...rest] = joinNegatives(argv);
  try {
    // `pymalloc COMMAND --help` too: the usage covers every command.
    if (cmd === undefined || cmd === "-h" || cmd === "--help" || cmd === "help" || rest.includes("-h") || rest.includes("--help")) {
      (cmd === undefined ? console.error : console.log)(USAGE);
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === "replay") return cmdReplay(rest);
    if (cmd === "stats") return cmdStats(rest);
    if (cmd === "map") return cmdMap(rest);
    if (cmd === "diff") return cmdDiff(rest);
    if (cmd === "link") return cmdLink(rest).catch(failed);
    throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  } catch (e) {
    return failed(e);
  }
}

/** An error as one line on stderr, and its exit code. */
function failed(e: unknown): number {
  {
    const usage = e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    if (usage || e instanceof TraceFormatError) {
      // parseArgs' messages may run over several lines: one line, as every other.
      console.error(`pymalloc: ${(e as Error).message.replace(/\s*\n\s*/g, " ")}`);
      if (usage) console.error("try: pymalloc --help");
      return 2;
    }
    console.error(`pymalloc: ${(e as Error).message}`);
    return 1;
  }
}

// Output that cannot be written (stdout on a full disk, /dev/full): console.log drops the error,
// and the command said nothing and exited 0 with its report lost. Now one line and exit 2, as
// for an --out that cannot be written. A reader that stopped reading (`| head`) is no error.
let outputLost = false;
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE" || outputLost) return;
  outputLost = true;
  console.error(`pymalloc: cannot write the output (stdout): ${e.code ?? e.message}`);
  process.exitCode = 2;
});

void Promise.resolve(main(process.argv.slice(2))).then((code) => {
  if (!outputLost) process.exitCode = code;
});
