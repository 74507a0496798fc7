// test/setup.ts — run before every test file (vitest.config.ts, setupFiles).
//
// Each test ends with a turn of the event loop. Vitest's worker sends its task updates to the
// main process without waiting and gives each answer 60 s; the answer is read only when the
// worker's event loop turns, and awaiting between tests turns microtasks only. A file of many
// synchronous tests that together ran over 60 s (options-fuzz.test.ts: 100 s on a loaded 2-core
// machine) then failed the run with "Timeout calling onTaskUpdate", every test passed.
import { afterEach } from "vitest";

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
