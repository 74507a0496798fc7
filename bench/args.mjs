// bench/args.mjs — command-line parsing for the benchmark scripts: node:util's parseArgs, plus
// --help, and a usage message (the script's own "// usage:" header lines) instead of a stack
// trace when an option is unknown or lacks its value.
//
// Owns: nothing but that, and leaving out trace files with no events (withEvents). Must not:
// know any script's options (each passes its own).
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
  return parsed;
}

/**
 * The trace files of `paths` that hold events, in order; each empty one is named on stderr and
 * left out (a trace of 0 events has no time an event, nor a footprint over live bytes).
 */
export function withEvents(paths) {
  return paths.filter((p) => {
    if (readTraceFile(p).count > 0) return true;
    console.error(`${p}: 0 events, nothing to measure: left out`);
    return false;
  });
}
