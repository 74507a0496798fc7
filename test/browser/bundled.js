// Bundled by test/browser.test.ts with esbuild (whitespace minified, as an application's build) into
// linked/bundle.js, which page.js imports: pymalloc's modules and this code in one script. The
// allocation sites of a debug heap and of sampled sites must start at this file's functions, not
// at pymalloc's (DebugState.alloc, DebugFamily.malloc: by file name they are not told apart here).
import { createHeap } from "pymalloc";

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
