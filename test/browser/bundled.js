// Bundled by test/browser.test.ts with esbuild (whitespace minified, as an application's build) into
// linked/bundle.js, which page.js imports: pymalloc's modules and this code in one script. The
// allocation sites of a debug heap and of sampled sites must start at this file's functions, not
// at pymalloc's (DebugState.alloc, DebugFamily.malloc: by file name they are not told apart here).
import { createHeap } from "pymalloc";
// Also bundled with every minification on (linked/minified.js, classes renamed as in an
// application's production build): errorNames() there must still say InvalidPointerError & co.

function keepSome(heap, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(heap.obj.malloc(48));
  return out;
}

function overflowOne(heap) {
  const p = heap.mem.malloc(10);
  heap.u8[p + 10] = 1;
  return p;
}

export function run() {
  const heap = createHeap({ allocator: "debug" });
  keepSome(heap, 3);
  const leakSite = heap.leaks().bySite[0].site;
  let reportSite = "";
  try {
    heap.mem.free(overflowOne(heap));
  } catch (e) {
    reportSite = e.message.split("allocated at:\n")[1]?.split("\n")[0].trim() ?? "";
  }
  const sampled = createHeap({ sampleInterval: 1 });
  keepSome(sampled, 3);
  const sampledSite = sampled.leaks().bySite[0].site;
  return { leakSite, reportSite, sampledSite, bundle: import.meta.url };
}

/** The errors a page meets, by the names it reads (e.name, String(e), the stack's first line a console prints). */
export function errorNames() {
  const out = {};
  const seen = (what, fn) => {
    try {
      fn();
      out[what] = "nothing thrown";
    } catch (e) {
      out[what] = { name: e.name, string: String(e).split(":")[0], stack: String(e.stack).split(":")[0] };
    }
  };
  const heap = createHeap({ memoryKind: "wasm" });
  seen("invalidPointer", () => heap.obj.free(12345));
  seen("pymalloc", () => heap.adoptThread(1));
  const debug = createHeap({ allocator: "debug", memoryKind: "wasm" });
  seen("memoryCorruption", () => debug.mem.free(overflowOne(debug)));
  return out;
}
