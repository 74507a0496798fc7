// test/workers/no-hang.mjs — run as its own process by test/heap-damage.test.ts ("calls that walk
// lists end"), under a time limit: each case here once looped for ever (a list walked through
// detached views or a loop written into it). Prints one JSON line: { case: outcome }, an outcome
// being "ok" or the error's class and field.
import { createHeap, constants } from "../../dist/index.js";

const { Pool } = constants;
const out = {};
const run = (name, fn) => {
  try {
    fn();
    out[name] = "ok";
  } catch (e) {
    out[name] = `${e.constructor.name} ${e.field ?? ""}`.trim();
  }
};

// collect() after something else grew an unshared WebAssembly.Memory (views detached): its walk
// of the usedpools lists read undefined links for ever.
for (const sampleInterval of [undefined, 1]) {
  run(`collect after an outside grow${sampleInterval ? ", sampled" : ""}`, () => {
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 1024 });
    const h = createHeap({ memory, traceAllocations: false, sampleInterval });
    const ps = [];
    for (let i = 0; i < 30; i++) ps.push(h.obj.malloc(16 + i * 8));
    memory.grow(2);
    h.collect();
    memory.grow(1);
    for (const p of ps) h.obj.free(p); // sampled: the site table's probe read undefined slots for ever
    h.collect();
    h.check();
  });
}

// A usedpools list that loops (a pool's NEXT written over with its own address): collect()
// reports it.
run("collect over a looped usedpools list", () => {
  const h = createHeap({ traceAllocations: false });
  const p = h.obj.malloc(40);
  const pool = h.objectAllocator.poolOf(p);
  h.u32[(pool + Pool.NEXT) >>> 2] = pool;
  h.collect();
});
console.log(JSON.stringify(out));
