// createHeap({ subPools: true }) (issue #19): young size classes in 1 KiB sub-pools cut from a
// shared pool slot, the first arenas small. Real CPython traces replayed with every block
// verified and check() along the way, the footprint it saves, and what stats() says of it.
// (A file of its own: with the traces of test/traces.test.ts, one worker ran over vitest's
// 60 s call timeout on this 2-core machine.)
import { describe, expect, it } from "vitest";
import { createHeap } from "../src/index.js";
import { readTraceFile } from "../src/trace/file.js";
import { replayTo, replayVerify } from "../src/trace/replay.js";
import { BUNDLED_TRACE, sharedTraces } from "./helpers.js";

describe("subPools: true", () => {
  const t = readTraceFile(BUNDLED_TRACE);

  it("the bundled trace: every block verified, check() every 50k events, a lower peak footprint than whole pools", () => {
    const sub = replayVerify(createHeap({ subPools: true }), t, { checkEvery: 50000, freeAtEnd: true });
    const whole = replayVerify(createHeap(), t, { freeAtEnd: true });
    expect(sub.events).toBe(t.count);
    expect(sub.peakFootprint).toBeLessThan(whole.peakFootprint);
  });

  it("a small heap: stats() counts the slots cut into sub-pools; the footprint is a fraction of whole pools'", () => {
    const upTo = 2000; // the bundled trace's first events: well under 1 MiB live
    const sub = createHeap({ subPools: true });
    const whole = createHeap();
    replayTo(sub, t, upTo);
    replayTo(whole, t, upTo);
    sub.check();
    const s = sub.stats();
    expect(s.pools.subPoolSlots).toBeGreaterThan(0);
    expect(whole.stats().pools.subPoolSlots).toBe(0);
    expect(s.peakFootprint * 2).toBeLessThan(whole.stats().peakFootprint);
    expect(s.residentBytes).toBeGreaterThan(0);
    expect(s.residentBytes).toBeLessThanOrEqual(s.footprint + 4096);
    expect(sub.debugMallocStats()).toMatch(/cut in sub-pools/);
  });

  const files = sharedTraces();
  if (files.length > 0)
    it.each(files.map((f) => [f.split("/").pop()!, f] as const))("%s: content verified", (_name, file) => {
      const tr = readTraceFile(file);
      const r = replayVerify(createHeap({ subPools: true }), tr, { checkEvery: 1_000_000, freeAtEnd: true });
      expect(r.events).toBe(tr.count);
    });
});
