// The debug hooks: every misuse CPython's test suite tries (and a few more), with the report.
import { afterEach, describe, expect, it, vi } from "vitest";
import { asMemPool, createHeap, MemoryCorruptionError, type CorruptionReport, type Heap, constants as C } from "../src/index.js";
import { readTraceFile } from "../src/trace/file.js";
import { replayVerify } from "../src/trace/replay.js";
import { BUNDLED_TRACE, caught, freedInNamedFrames } from "./helpers.js";

const debugModes = ["debug", "pymalloc_debug", "malloc_debug"] as const;


describe.each(debugModes)("%s mode", (allocator) => {
  const heap = () => createHeap({ allocator });

  it("blocks keep the heap's alignment, new bytes are 0xCD, calloc bytes 0, and pads surround them", () => {
    const h = heap();
    const p = h.obj.malloc(20);
    expect(p % h.alignment).toBe(0);
    for (let k = 0; k < 20; k++) expect(h.u8[p + k]).toBe(C.CLEAN_BYTE);
    for (let k = 1; k <= 8; k++) expect(h.u8[p + 20 + k - 1]).toBe(C.FORBIDDEN_BYTE);
    for (let k = 1; k <= 15; k++) expect(h.u8[p - k]).toBe(C.FORBIDDEN_BYTE);
    expect(h.u8[p - 16]).toBe("o".charCodeAt(0)); // the family id
    expect(h.u32[(p - 32) >>> 2]).toBe(20); // the requested size
    expect(h.usableSize(p)).toBe(20);
    const z = h.mem.calloc(7, 3);
    for (let k = 0; k < 21; k++) expect(h.u8[z + k]).toBe(0);
    const q = h.mem.realloc(z, 40); // grown bytes are clean
    for (let k = 0; k < 21; k++) expect(h.u8[q + k]).toBe(0);
    for (let k = 21; k < 40; k++) expect(h.u8[q + k]).toBe(C.CLEAN_BYTE);
    h.check();
  });

  it("serial numbers count the debug allocations", () => {
    const h = heap();
    h.raw.malloc(1);
    const p = h.mem.malloc(1);
    expect(h.u32[(p - 32 + 4) >>> 2]).toBe(2);
  });

  it("every byte of the trailing pad is checked, whatever the size's remainder by 8", () => {
    // The pads are written and checked a word at a time from the block's start: each size mod 8
    // puts the pad's first byte at another place in its word, and the block's end may be ragged.
    const h = heap();
    for (let size = 1; size <= 40; size++) {
      const p = h.mem.malloc(size);
      const end = p + h.usableSize(p) + 8; // at least 8 pad bytes: check those
      for (let k = p + size; k < end; k++) expect(h.u8[k]).toBe(C.FORBIDDEN_BYTE);
      for (let k = p + size; k < end; k++) {
        h.u8[k] = 0x41;
        const e = caught(() => h.check());
        expect(e.kind).toBe("overflow");
        expect(e.report.damaged).toEqual([{ offset: k - p, value: 0x41, expected: C.FORBIDDEN_BYTE }]);
        h.u8[k] = C.FORBIDDEN_BYTE;
      }
      expect(h.u8[p + size - 1]).toBe(C.CLEAN_BYTE);
      h.mem.free(p);
    }
  });

  it("a freed block reads 0xDD up to its end, and a write anywhere there is found", () => {
    const h = heap();
    for (const size of [1, 3, 4, 7, 8, 13, 100, 600]) {
      const p = h.mem.malloc(size);
      const end = p + size + 8;
      h.mem.free(p);
      for (let k = p; k < end; k++) expect(h.u8[k]).toBe(C.DEAD_BYTE);
      for (const k of [p, p + size - 1, p + size, end - 1]) {
        h.u8[k] = 0x42;
        const e = caught(() => h.check());
        expect(e.kind).toBe("use-after-free");
        expect(e.report.damaged).toEqual([{ offset: k - p, value: 0x42, expected: C.DEAD_BYTE }]);
        h.u8[k] = C.DEAD_BYTE;
      }
    }
    h.check();
  });

  it("freed bytes are 0xDD while the block waits in quarantine", () => {
    const h = heap();
    const p = h.obj.malloc(64);
    h.obj.free(p);
    for (let k = 0; k < 64; k++) expect(h.u8[p + k]).toBe(C.DEAD_BYTE);
    expect(h.obj.malloc(64)).not.toBe(p); // not reused while quarantined
  });

  describe.each([1, 7, 8, 100])("a write %i byte(s) past the end", (n) => {
    const overflow = (h: Heap, p: number, size: number) => {
      for (let k = 0; k < Math.min(n, 8); k++) h.u8[p + size + k] = 0x41 + k;
      if (n > 8) h.u8[p + size + n - 1] = 0x41;
    };
    it.each(["free", "realloc", "check"] as const)("is found by %s", (op) => {
      const h = heap();
      const size = n > 8 ? 200 : 24;
      const p = h.mem.malloc(size);
      overflow(h, p, size);
      const before = Buffer.from(h.u8.slice(0, h.stats().footprint));
      const e = caught(() => (op === "free" ? h.mem.free(p) : op === "realloc" ? h.mem.realloc(p, 1000) : h.check()));
      expect(e.kind).toBe("overflow");
      expect(e.address).toBe(p);
      expect(e.report.operation).toBe(op);
      expect(e.report.requestedSize).toBe(size);
      expect(e.report.allocatedBy).toBe("m");
      expect(e.report.damaged[0]).toEqual({ offset: size, value: 0x41, expected: C.FORBIDDEN_BYTE });
      expect(e.message).toMatch(new RegExp(`damaged byte\\(s\\) \\(expected 0xfd\\): \\+${size}: 0x41`));
      expect(e.message).toMatch(/block end:\n +0x[0-9a-f]{8} \(\+\d+\):/);
      if (op !== "check") expect(Buffer.compare(h.u8.slice(0, before.length), before)).toBe(0); // refused, untouched
    });
  });

  it.each(Array.from({ length: 15 }, (_, k) => -15 + k))("a write at %i, in the lead pad, is found on free and while quarantined", (off) => {
    const h = heap();
    const p = h.obj.malloc(24);
    h.u8[p + off] = 0x41;
    const e = caught(() => h.obj.free(p));
    expect(e.kind).toBe("underflow");
    expect(e.report.damaged).toEqual([{ offset: off, value: 0x41, expected: C.FORBIDDEN_BYTE }]);
    h.u8[p + off] = C.FORBIDDEN_BYTE; // mended: now freed, then damaged in quarantine
    h.obj.free(p);
    h.u8[p + off] = 0x42;
    const q = caught(() => h.check());
    expect(q.kind).toBe("use-after-free");
    expect(q.report.damaged).toEqual([{ offset: off, value: 0x42, expected: C.FORBIDDEN_BYTE }]);
  });

  it("a write before the start is an underflow, also when it reaches the header", () => {
    const h = heap();
    const p = h.obj.malloc(40);
    h.u8[p - 1] = 0;
    const e = caught(() => h.obj.free(p));
    expect(e.kind).toBe("underflow");
    expect(e.report.damaged).toEqual([{ offset: -1, value: 0, expected: C.FORBIDDEN_BYTE }]);
    const q = h.obj.malloc(40);
    h.u8.fill(0, q - 32, q); // the whole header
    expect(caught(() => h.obj.free(q)).kind).toBe("underflow");
  });

  it.each([
    ["its size word made too large", 0, 12345, /size word \(12345\)/],
    ["its size word made 5000", 0, 5000, /size word \(5000\)/],
    ["its family byte", 16, 0x41, /family byte \(0x41\)/],
  ])("a write over the header alone (%s), the lead pad intact: an underflow naming the word, from free and from check()", (_n, at, v, what) => {
    for (const op of ["free", "check"] as const) {
      const h = heap();
      const p = h.obj.malloc(40);
      if (at === 16) h.u8[p - 32 + at] = v;
      else h.u32[(p - 32 + at) >>> 2] = v;
      const e = caught(() => (op === "free" ? h.obj.free(p) : h.check()));
      expect(e.kind).toBe("underflow");
      expect(e.report.address).toBe(p);
      expect(e.message).toMatch(/debug header was overwritten/);
      expect(e.message).toMatch(what);
    }
  });

  it.each([
    ["o", "m"],
    ["m", "r"],
    ["r", "o"],
    ["o", "r"],
    ["m", "o"],
    ["r", "m"],
  ] as const)("a block of family %s freed through %s is an API mismatch", (from, to) => {
    const h = heap();
    const fam = { r: h.raw, m: h.mem, o: h.obj };
    const p = fam[from].malloc(33);
    const e = caught(() => fam[to].free(p));
    expect(e.kind).toBe("api-mismatch");
    expect(e.report.allocatedBy).toBe(from);
    expect(e.report.usedBy).toBe(to);
    expect(e.message).toMatch(/released by another family/);
    fam[from].free(p); // the block is intact and still live
    h.check();
  });

  it("double free, and realloc of a freed block", () => {
    const h = heap();
    const p = h.raw.malloc(10);
    h.raw.free(p);
    const e = caught(() => h.raw.free(p));
    expect(e.kind).toBe("double-free");
    expect(e.message).toMatch(/freed at:\n +at /); // where it was freed, traced
    expect(e.message).toMatch(/allocated at:\n +at .*debug\.test\.ts/);
    expect(caught(() => h.raw.realloc(p, 20)).kind).toBe("use-after-free");
  });

  it("a double free after the block left the quarantine is still caught when the block below is free", () => {
    const h = createHeap({ allocator, quarantineBlocks: 0 });
    h.raw.malloc(10);
    const p = h.raw.malloc(3000);
    h.raw.malloc(10);
    h.raw.free(p);
    expect(caught(() => h.raw.free(p)).kind).toBe("double-free");
  });

  it.each([
    ["inside a block", (p: number) => p + 16],
    ["misaligned", (p: number) => p + 3],
    ["never allocated", (_p: number) => 1 << 22],
    ["before the heap", (_p: number) => 16],
  ])("free of a pointer %s is an invalid pointer", (_n, bad) => {
    const h = heap();
    const p = h.obj.malloc(200);
    const e = caught(() => h.obj.free(bad(p)));
    expect(e.kind).toBe("invalid-pointer");
    h.obj.free(p);
    h.check();
  });

  it("a write after free is found when the block leaves the bounded quarantine", () => {
    const h = createHeap({ allocator, quarantineBlocks: 4 });
    const p = h.obj.malloc(48);
    h.obj.free(p);
    h.u8[p + 47] = 7; // use after free
    const others = [1, 2, 3].map(() => h.obj.malloc(48));
    for (const q of others) h.obj.free(q); // the quarantine is now full: p is next out
    const e = caught(() => h.obj.free(h.obj.malloc(48)));
    expect(e.kind).toBe("use-after-free");
    expect(e.address).toBe(p);
    expect(e.report.operation).toBe("quarantine");
    expect(e.report.damaged).toEqual([{ offset: 47, value: 7, expected: C.DEAD_BYTE }]);
    h.check(); // the damaged block was released all the same: the heap is consistent
  });

  it("out of memory with blocks in quarantine: they are given back (checked) and the request served, as release mode would", () => {
    // Before, malloc returned NULL at maxBytes while 800 KB of freed blocks sat in quarantine.
    const h = createHeap({ allocator, traceAllocations: false, maxBytes: 4 << 20 });
    const blocks: number[] = [];
    for (let p = h.mem.malloc(100000); p !== 0; p = h.mem.malloc(100000)) blocks.push(p);
    expect(blocks.length).toBeGreaterThan(30);
    for (const p of blocks.splice(0, 8)) h.mem.free(p);
    expect(h.stats().quarantinedBlocks).toBe(8);
    const q = h.mem.malloc(100000);
    expect(q).not.toBe(0);
    expect(h.stats().quarantinedBlocks).toBe(0);
    expect(h.mem.malloc(500000)).not.toBe(0); // what is left of the 800 KB
    expect(h.mem.malloc(4 << 20)).toBe(0); // truly full: NULL
    // A block damaged in quarantine is still reported when the drain checks it.
    const r = blocks.pop()!;
    h.mem.free(r);
    h.u8[r + 10] = 1; // use after free
    const e = caught(() => {
      while (h.mem.malloc(100000) !== 0);
    });
    expect(e.kind).toBe("use-after-free");
    h.check();
  });

  it("a block leaving the quarantine is checked up to its end, slack included", () => {
    for (const size of [1, 13, 100, 600]) {
      const h = createHeap({ allocator, quarantineBlocks: 1 });
      const p = h.mem.malloc(size);
      const guard = h.mem.malloc(size); // live: its header ends the run of 0xDD after p
      h.mem.free(p);
      let end = p + size;
      while (h.u8[end] === C.DEAD_BYTE) end++;
      expect(end).toBeGreaterThanOrEqual(p + size + 8);
      h.u8[end - 1] = 9; // the block's last byte, in its pad or slack
      const e = caught(() => h.mem.free(guard)); // guard takes p's place: p leaves, checked
      expect(e.kind).toBe("use-after-free");
      expect(e.address).toBe(p);
      expect(e.report.operation).toBe("quarantine");
      expect(e.report.damaged).toEqual([{ offset: end - 1 - p, value: 9, expected: C.DEAD_BYTE }]);
      h.check();
    }
  });

  it("the quarantine also holds back at most quarantineBytes", () => {
    const h = createHeap({ allocator, quarantineBytes: 1000 });
    const a = h.mem.malloc(600);
    const b = h.mem.malloc(600);
    h.mem.free(a);
    h.u8[a] = 1; // a is evicted (verified) when b pushes the total past 1000 bytes
    expect(caught(() => h.mem.free(b)).kind).toBe("use-after-free");
  });

  it("check() finds a write after free in a quarantined block", () => {
    const h = heap();
    const p = h.mem.malloc(100);
    h.mem.free(p);
    h.u8[p + 50] = 0;
    const e = caught(() => h.check());
    expect(e.kind).toBe("use-after-free");
    expect(e.report.operation).toBe("check");
  });

  it("traceAllocations: false records no sites", () => {
    const h = createHeap({ allocator, traceAllocations: false });
    const p = h.obj.malloc(10);
    h.u8[p + 10] = 0;
    expect(caught(() => h.obj.free(p)).message).toMatch(/allocated at: unknown/);
  });

  it("an invalid pointer's report does not blame traceAllocations for a site no block has", () => {
    const h = createHeap({ allocator });
    const p = h.obj.malloc(64);
    const e = caught(() => h.obj.free(p + 64 * 40)); // in no block
    expect(e.kind).toBe("invalid-pointer");
    expect(e.message).toMatch(/allocated at: none \(no block of this heap starts at this address/);
    expect(e.message).not.toMatch(/traceAllocations is off/);
    h.obj.free(p);
    h.check();
  });

  it.each([
    ["into", 16, /16 bytes into the live 64-byte block at/],
    ["misaligned, into", 3, /3 bytes into the live 64-byte block at/],
    ["before", -8, /8 bytes before the start of the live 64-byte block at/],
    ["past the end of", 70, /6 bytes past the end of the 64 requested bytes of the live 64-byte block at/],
  ])("a pointer %s a block: the report says where, in the user's terms, with that block's size and allocation site", (_w, off, where) => {
    const h = createHeap({ allocator });
    const makeTheBlock = (): number => h.obj.malloc(64);
    const p = makeTheBlock();
    const e = caught(() => h.mem.free(p + off));
    expect(e.kind).toBe("invalid-pointer");
    expect(e.report.address).toBe(p + off);
    expect(e.message).toMatch(where);
    expect(e.message).toContain(`block at 0x${p.toString(16).padStart(8, "0")}`);
    expect(e.report.requestedSize).toBe(64);
    expect(e.report.allocatedBy).toBe("o");
    expect(e.report.allocatedAt).toMatch(/makeTheBlock/);
    h.obj.free(p);
    h.check();
  });

  it("report.allocatedAt and freedAt start at the user's first frame, as the message does (they kept the captured stack: its 'Error' line and the debug hooks' frames); allocatedStack and freedStack keep that", () => {
    const h = createHeap({ allocator });
    const p = freedInNamedFrames(h);
    const e = caught(() => h.mem.free(p));
    expect(e.kind).toBe("double-free");
    const { allocatedAt, freedAt, allocatedStack, freedStack } = e.report;
    expect(allocatedAt!.split("\n")[0]).toMatch(/^at allocateHere \(/);
    expect(freedAt!.split("\n")[0]).toMatch(/^at freeHere \(/);
    for (const at of [allocatedAt!, freedAt!]) {
      expect(at).not.toMatch(/^Error|[\\/]debug[\\/]hooks\.[jt]s|[\\/]heap[\\/]families\.[jt]s/m);
      expect(at.split("\n").length).toBe(C.DEFAULT_TRACE_FRAMES);
      // The message's lines are the field's, indented.
      expect(e.message).toContain(at.split("\n").map((l) => "    " + l).join("\n"));
    }
    // The stacks as captured: the "Error" line, then the hooks' frames before the user's.
    expect(allocatedStack).toMatch(/^Error: allocated here\n/);
    expect(allocatedStack).toMatch(/[\\/]debug[\\/]hooks\.ts[^\n]*\n[\s\S]*at allocateHere \(/);
    expect(freedStack).toMatch(/[\\/]debug[\\/]hooks\.ts[^\n]*\n[\s\S]*at freeHere \(/);
    // Untraced: none of the four.
    const u = createHeap({ allocator, traceAllocations: false });
    const q = u.mem.malloc(40);
    u.mem.free(q);
    const r = caught(() => u.mem.free(q)).report;
    expect([r.allocatedAt, r.freedAt, r.allocatedStack, r.freedStack]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it("traceAllocations: N keeps N frames of the caller's stack (default 4; 0 is off)", () => {
    // A chain of eight named functions, the innermost allocating: how deep the site reaches.
    const chain = (h: Heap): number => {
      const f8 = () => h.obj.malloc(10);
      const f7 = () => f8(), f6 = () => f7(), f5 = () => f6(), f4 = () => f5(), f3 = () => f4(), f2 = () => f3(), f1 = () => f2();
      return f1();
    };
    const site = (frames: boolean | number): string => {
      const h = createHeap({ allocator, traceAllocations: frames });
      const p = chain(h);
      h.u8[p + 10] = 0;
      return caught(() => h.obj.free(p)).report.allocatedAt ?? "";
    };
    const depth = (s: string) => [8, 7, 6, 5, 4, 3, 2, 1].filter((i) => new RegExp(`\\bf${i}\\b`).test(s)).length;
    expect(depth(site(1))).toBe(1);
    expect(site(1)).toMatch(/\bf8\b/); // the caller of malloc
    expect(depth(site(true))).toBe(C.DEFAULT_TRACE_FRAMES);
    expect(depth(site(4))).toBe(4);
    expect(depth(site(12))).toBe(8);
    expect(site(0)).toBe("");
    expect(() => createHeap({ allocator, traceAllocations: -1 })).toThrow(RangeError);
    expect(() => createHeap({ allocator, traceAllocations: 1.5 })).toThrow(RangeError);
    expect(() => createHeap({ allocator, traceAllocations: C.MAX_TRACE_FRAMES + 1 })).toThrow(RangeError);
    expect(() => createHeap({ allocator, traceAllocations: "yes" as never })).toThrow(TypeError);
    // The caller's own Error.stackTraceLimit is left as it was.
    expect(Error.stackTraceLimit).toBe(10);
  });

  it("a block allocated through a typed view (mallocAs, callocAs, reallocAs) or asMemPool: its site starts at the user's frame, even with traceAllocations: 1", () => {
    for (const frames of [1, 4]) {
      const h = createHeap({ allocator, traceAllocations: frames });
      const pool = asMemPool(h);
      const viaMallocAs = () => h.mem.mallocAs(Float64Array, 4);
      const viaCallocAs = () => h.obj.callocAs(Uint32Array, 3);
      const viaReallocAs = (v: Float64Array) => h.mem.reallocAs(v, 40);
      const viaRealloc = (p: number) => h.obj.realloc(p, 300);
      const d = viaRealloc(h.obj.malloc(8));
      const viaPool = () => pool.malloc(64);
      const a = viaReallocAs(viaMallocAs());
      const b = viaCallocAs();
      const c = viaPool();
      const sites = h.leaks().bySite.map((s) => s.site).join("\n");
      expect(sites).toMatch(/viaReallocAs/);
      expect(sites).toMatch(/viaCallocAs/);
      expect(sites).toMatch(/viaPool/);
      expect(sites).toMatch(/viaRealloc\b/);
      expect(sites).not.toMatch(/typed\.[jt]s|mempool\.[jt]s/);
      h.mem.freeAs(a);
      h.obj.freeAs(b);
      pool.free(c);
      h.obj.free(d);
    }
  });
});

describe("onError", () => {
  afterEach(() => vi.restoreAllMocks());

  it('"warn" prints the report and carries on', () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const h = createHeap({ allocator: "debug", onError: "warn" });
    const p = h.obj.malloc(10);
    h.u8[p + 12] = 0;
    h.obj.free(p); // overflow reported, block freed anyway
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/^pymalloc: buffer overflow/);
    h.obj.free(p); // double free: reported, nothing done
    expect(warn).toHaveBeenCalledTimes(2);
    h.check();
  });

  it("a function receives the structured report", () => {
    const seen: CorruptionReport[] = [];
    const h = createHeap({ allocator: "malloc_debug", onError: (r) => seen.push(r) });
    const p = h.mem.malloc(10);
    h.raw.free(p);
    expect(seen.map((r) => r.kind)).toEqual(["api-mismatch"]);
    expect(seen[0]).toMatchObject({ address: p, allocatedBy: "m", usedBy: "r", requestedSize: 10, serial: 1 });
  });
});

describe("leaks()", () => {
  it("lists live blocks grouped by allocation site with totals", () => {
    const h = createHeap({ allocator: "debug" });
    const keep: number[] = [];
    function allocateNodes() {
      for (let i = 0; i < 10; i++) keep.push(h.obj.malloc(24));
    }
    function allocateBuffer() {
      return h.mem.malloc(1000);
    }
    allocateNodes();
    allocateBuffer();
    const freed = h.raw.malloc(5);
    h.raw.free(freed);
    const r = h.leaks();
    expect(r.totalBlocks).toBe(11);
    expect(r.totalBytes).toBe(10 * 24 + 1000);
    expect(r.bySite).toHaveLength(2);
    expect(r.bySite[0]).toMatchObject({ blocks: 1, bytes: 1000 });
    expect(r.bySite[0].site).toMatch(/allocateBuffer/);
    expect(r.bySite[1]).toMatchObject({ blocks: 10, bytes: 240 });
    expect(r.bySite[1].site).toMatch(/allocateNodes/);
    expect(r.blocks.find((b) => b.size === 1000)).toMatchObject({ family: "m", serial: 11 });
    expect(String(r)).toMatch(/11 live block\(s\), 1240 bytes, from 2 site\(s\)/);
  });
});

describe("debug modes under load", () => {
  it.each(debugModes)("%s replays the bundled trace with every block verified", (allocator) => {
    const t = readTraceFile(BUNDLED_TRACE);
    const r = replayVerify(createHeap({ allocator }), t, { checkEvery: 200000, freeAtEnd: true });
    expect(r.events).toBe(t.count);
  });

  it("PYMALLOC=debug turns the hooks on", () => {
    const saved = process.env.PYMALLOC;
    process.env.PYMALLOC = "debug";
    try {
      const h = createHeap();
      expect(h.mode).toBe("debug");
      const p = h.obj.malloc(4);
      expect(caught(() => h.mem.free(p)).kind).toBe("api-mismatch");
    } finally {
      if (saved === undefined) delete process.env.PYMALLOC;
      else process.env.PYMALLOC = saved;
    }
  });
});

describe("a report delivered to onError is made once (a C programmer's probe, 2026-12-06, session 43)", () => {
  for (const [kind, write] of [
    ["underflow", (h: ReturnType<typeof createHeap>, p: number) => void (h.u8[p - 1] = 1)],
    ["overflow", (h: ReturnType<typeof createHeap>, p: number) => void (h.u8[p + 24] = 1)],
  ] as const) {
    it(`an ${kind} found at free is not reported again, as a use after free, when the block leaves the quarantine`, () => {
      const reports: string[] = [];
      const heap = createHeap({ allocator: "debug", traceAllocations: false, onError: (r) => void reports.push(r.kind) });
      const p = heap.mem.malloc(24);
      write(heap, p);
      heap.mem.free(p);
      expect(reports).toEqual([kind]);
      for (let i = 0; i < 3000; i++) heap.mem.free(heap.mem.malloc(100)); // p leaves the quarantine
      heap.check();
      expect(reports).toEqual([kind]);
    });
  }
});

describe("a free of what is no block, in the user's terms (a C programmer's probe, 2026-12-06, session 43)", () => {
  it("names the missing debug header, not the allocator below's usableSize of an address 32 bytes off", () => {
    const heap = createHeap({ allocator: "debug", traceAllocations: false, heapBase: 65536, memory: new WebAssembly.Memory({ initial: 4, maximum: 100 }) });
    const e = caught(() => heap.mem.free(1024)); // a C stack or static address, below the heap
    expect(e.kind).toBe("invalid-pointer");
    expect(e.message).not.toMatch(/usableSize\(/);
    expect(e.message).toMatch(/no debug block's header 32 bytes before it/);
  });
});

describe("walk() and leaks() over a debug header written over (a helper's probe, session 43)", () => {
  it.each(debugModes)("%s: a block whose size word was changed is reported as check() reports it, never listed as a 4 GiB block", (allocator) => {
    const h = createHeap({ allocator });
    const keep = [h.obj.malloc(24), h.mem.malloc(1000), h.obj.malloc(40)];
    h.u32[(keep[1] - 32) >>> 2] = 0xfffffff0; // the requested-size word of the debug header
    const fromCheck = caught(() => h.check());
    expect(fromCheck).toBeInstanceOf(MemoryCorruptionError);
    const fromWalk = caught(() => h.walk(() => {}));
    expect(fromWalk).toBeInstanceOf(MemoryCorruptionError);
    expect((fromWalk as MemoryCorruptionError).report.kind).toBe((fromCheck as MemoryCorruptionError).report.kind);
    expect((fromWalk as MemoryCorruptionError).report.address).toBe(keep[1]);
    expect(caught(() => h.leaks())).toBeInstanceOf(MemoryCorruptionError);
    // With a callback, the report is delivered and the block left out of the listings.
    const seen: CorruptionReport[] = [];
    const g = createHeap({ allocator, onError: (r) => seen.push(r) });
    const q = [g.obj.malloc(24), g.mem.malloc(1000)];
    g.u32[(q[1] - 32) >>> 2] = 0xfffffff0;
    const sizes: number[] = [];
    g.walk((b) => sizes.push(b.size));
    expect(sizes).toEqual([24]);
    expect(seen.map((r) => r.address)).toEqual([q[1]]);
    const r = g.leaks();
    expect(r.totalBlocks).toBe(1);
    expect(r.totalBytes).toBe(24);
  });
});

describe("an overflow that writes the whole trailing pad (a C user's 16-byte overrun of a 24-byte block)", () => {
  it("the debug report says the write may have run on into the next block, and check() names the block below as a cause of the next block's lost tag (it blamed a use after free or a double free only)", () => {
    const heap = createHeap({ allocator: "debug", traceAllocations: false });
    const p = heap.mem.malloc(24);
    const next = heap.mem.malloc(24);
    heap.mem.free(next); // quarantined: 0xDD
    heap.u8.fill(0, p + 24, p + 40); // the pad (8 bytes here) and on into the next block
    const e = caught(() => heap.mem.free(p));
    expect(e.kind).toBe("overflow");
    expect(e.message).toMatch(/forbidden bytes after the 24 requested bytes were overwritten, up to the pad's last byte: the write may have run on past the block's end \(0x[0-9a-f]+\), into the next block/);
    // A write that stays within the pad: no such words.
    const q = heap.mem.malloc(24);
    heap.u8[q + 24] = 0;
    expect(caught(() => heap.mem.free(q)).message).not.toMatch(/run on past/);

    const release = createHeap();
    const a = release.mem.malloc(24);
    const b = release.mem.malloc(24);
    expect(b).toBe(a + 24); // neighbours in one pool
    release.mem.free(b);
    release.u8.fill(0, a + 24, a + 32); // a's user writes 8 bytes too many: b's link and free tag
    expect(() => release.check()).toThrow(new RegExp(`free block 0x0*${b.toString(16)} .*its free tag is gone\\), or overrun by a write past the end of the block below it \\(0x0*${a.toString(16)}\\)`));
  });
});
