// test/workers/shared-bump.mjs — a trivial thread-safe bump allocator kept in a shared memory
// (word 1: the top; each block's size in the word before it), for adapters in several threads.
export function sharedBump(memory) {
  const buf = () => (memory instanceof WebAssembly.Memory ? memory.buffer : memory);
  return {
    malloc: (n) => {
      const i32 = new Int32Array(buf());
      Atomics.compareExchange(i32, 1, 0, 1024);
      const p = Atomics.add(i32, 1, 16 + ((n + 15) & ~15)) + 16;
      if (p + n > buf().byteLength) return 0;
      i32[(p >> 2) - 1] = n;
      return p;
    },
    free: () => {},
    usableSize: (p) => new Int32Array(buf())[(p >> 2) - 1],
  };
}
