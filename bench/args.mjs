// bench/args.mjs — command-line parsing for the benchmark scripts: node:util's parseArgs, plus
// --help, and a usage message (the script's own "// usage:" header lines) instead of a stack
// trace when an option is unknown or lacks its value.
//
// Owns: nothing but that, the numeric options' checks by name (NUMERIC), --only's keys against
// a script's list (onlyKeys), and the trace files (withEvents: an unreadable one is a usage error,
// one with no events is left out). Must not: know any script's other options.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readTraceFile } from "../dist/trace/file.js";

/** The "// usage:" lines at the top of the script at url (and the comment lines that continue them). */
function usageOf(url) {
  const lines = readFileSync(fileURLToPath(url), "utf8").split("\n");
  const at = lines.findIndex((l) => l.startsWith("// usage:"));
  if (at < 0) return "";
  const out = [];
  for (let i = at; i < lines.length && /^\/\/ {0,3}\S/.test(lines[i]) && (i === at || !/^\/\/ [A-Z]/.test(lines[i])); i++) out.push(lines[i].slice(3));
  return out.join("\n");
}

/**
 * parseArgs(config) for the script at url (its import.meta.url): --help prints its usage and
 * exits 0; a parse error prints the error and the usage and exits 2.
 */
export function benchArgs(url, config) {
  const options = { ...config.options, help: { type: "boolean", default: false } };
  let parsed;
  try {
    parsed = parseArgs({ ...config, options });
  } catch (e) {
    console.error(`${e.message}\n${usageOf(url)}`);
    process.exit(2);
  }
  if (parsed.values.help) {
    console.log(usageOf(url));
    process.exit(0);
  }
  // Numeric options, by name, checked for every script alike: "abc" read as NaN made a warm-up
  // loop that never ended (bench/measure.mjs), and 0 runs printed NaN and Infinity.
  for (const [name, rule] of Object.entries(NUMERIC)) {
    const v = parsed.values[name];
    if (v === undefined || !(name in config.options)) continue;
    const n = /^\s*$/.test(v) ? NaN : Number(v);
    if (!rule.ok(n)) {
      console.error(`--${name} must be ${rule.what}, not ${JSON.stringify(v)}\n${usageOf(url)}`);
      process.exit(2);
    }
  }
  return parsed;
}

const count = { ok: (n) => Number.isSafeInteger(n) && n >= 1, what: "a whole number of 1 or more" };
const NUMERIC = {
  runs: count,
  rounds: count,
  ops: count,
  pairs: count,
  passes: count,
  iterations: count,
  depth: { ok: (n) => Number.isSafeInteger(n) && n >= 4 && n <= 24, what: "a whole number from 4 to 24 (binary trees' depth)" },
  strings: { ok: (n) => Number.isSafeInteger(n) && n >= 0, what: "a whole number of 0 or more" },
  warmup: { ok: (n) => Number.isSafeInteger(n) && n >= 0, what: "a whole number of events, 0 or more" },
  budget: { ok: (n) => Number.isFinite(n) && n > 0, what: "a positive number of seconds" },
  "max-live": { ok: (n) => Number.isFinite(n) && n > 0, what: "a positive number of MiB" },
};

/**
 * The keys of --only, checked against the script's known keys: an unknown key (a typo) or an
 * empty list is a usage error (exit 2), not a run of nothing, or of everything. null when not given.
 */
export function onlyKeys(value, known, script) {
  if (value === undefined) return null;
  const keys = value.split(",").map((k) => k.trim()).filter((k) => k !== "");
  const bad = keys.filter((k) => !known.includes(k));
  if (keys.length === 0 || bad.length > 0) {
    console.error(`${script}: --only ${keys.length === 0 ? "names no allocator" : `does not know ${bad.join(", ")}`}; its keys are ${known.join(", ")}`);
    process.exit(2);
  }
  return new Set(keys);
}

/**
 * The trace files of `paths` that hold events, in order; each empty one is named on stderr and
 * left out (a trace of 0 events has no time an event, nor a footprint over live bytes).
 */
export function withEvents(paths) {
  return paths.filter((p) => {
    let t;
    try {
      t = readTraceFile(p);
    } catch (e) {
      // A missing, unreadable or corrupt trace: one line, as the CLI says it (TraceFormatError, ENOENT).
      const msg = e instanceof Error ? e.message : String(e);
      console.error(msg.includes(p) ? msg : `${p}: ${msg}`);
      process.exit(2);
    }
    if (t.count > 0) return true;
    console.error(`${p}: 0 events, nothing to measure: left out`);
    return false;
  });
}
