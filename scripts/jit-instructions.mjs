#!/usr/bin/env node
// scripts/jit-instructions.mjs — instructions executed per V8-optimized function, exactly.
//
// usage:
//   valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=cg.out \
//     node --no-concurrent-recompilation --print-opt-code --code-comments SCRIPT ARGS > code.txt
//   (WebAssembly: node --no-liftoff --print-wasm-code SCRIPT ARGS > code.txt; its functions by name)
//   node scripts/jit-instructions.mjs cg.out code.txt [FUNCTION]
// Without FUNCTION: instructions (millions) per optimized code object, largest first. With it:
// that function's listing, each instruction with how often it ran (millions).
// Why: cachegrind cannot name JIT code, and removing code to see what it cost changes what V8
// inlines elsewhere. Callgrind counts every instruction address; --print-opt-code, in the same
// run, says which code object each address belongs to.

import { readFileSync } from "node:fs";

const [cgFile, codeFile, only] = process.argv.slice(2);
if (!codeFile) {
  console.error("usage: node scripts/jit-instructions.mjs CALLGRIND_OUT OPT_CODE_LISTING [FUNCTION]");
  process.exit(2);
}

// Self cost per instruction address ("positions: instr line"; the line after calls= is a call's inclusive cost).
const cost = new Map();
let cur = 0;
let skip = false;
for (const line of readFileSync(cgFile, "utf8").split("\n")) {
  if (line.startsWith("calls=")) {
    skip = true;
    continue;
  }
  const m = /^(0x[0-9a-f]+|[+-]\d+)\s+\S+\s+(\d+)/.exec(line);
  if (!m) continue;
  const p = m[1];
  cur = p.startsWith("0x") ? parseInt(p, 16) : cur + Number(p);
  if (skip) {
    skip = false;
    continue;
  }
  cost.set(cur, (cost.get(cur) ?? 0) + Number(m[2]));
}

// Code objects: "--- Optimized code ---" starts one ("name = F" names it, when the listing has
// it); each listed instruction starts with its address and offset.
const objects = [];
let obj = null;
for (const line of readFileSync(codeFile, "utf8").split("\n")) {
  if (line.startsWith("--- Optimized code ---") || line.startsWith("--- WebAssembly code ---")) {
    obj = { name: "(top-level or unnamed)", lines: [] };
    objects.push(obj);
    continue;
  }
  if ((line.startsWith("name = ") || line.startsWith("name: ")) && obj) {
    // "name = F" (JS) or "name: F" (WebAssembly): F alone, so that FUNCTION matches it.
    obj.name = line.slice(line.startsWith("name = ") ? 7 : 6).trim() || obj.name;
    continue;
  }
  const m = /^(0x[0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+(.*)$/.exec(line);
  if (m && obj) obj.lines.push({ addr: parseInt(m[1], 16), off: m[2], text: m[3] });
}

const M = (n) => (n / 1e6).toFixed(2).padStart(9);
if (only) {
  for (const o of objects.filter((x) => x.name === only)) {
    console.log(`== ${o.name}`);
    for (const l of o.lines) console.log(`${M(cost.get(l.addr) ?? 0)} ${l.off.padStart(5)}  ${l.text.slice(0, 110)}`);
  }
} else {
  const rows = objects.map((o) => ({ name: o.name, n: o.lines.reduce((s, l) => s + (cost.get(l.addr) ?? 0), 0), size: o.lines.length }));
  rows.sort((a, b) => b.n - a.n);
  for (const r of rows.filter((x) => x.n > 0).slice(0, Number(process.env.TOP ?? 30))) console.log(`${M(r.n)} M  ${r.name} (${r.size} instructions)`);
}
