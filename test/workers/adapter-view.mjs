// test/workers/adapter-view.mjs — the other thread of test/identity.test.ts: an adapter
// (fromFunctions over a bump allocator kept in the shared memory itself) of this thread over the
// memory it was sent allocates a typed view and posts it back.
import { parentPort, workerData } from "node:worker_threads";
import { fromFunctions } from "../../dist/index.js";
import { sharedBump } from "./shared-bump.mjs";

const { memory } = workerData;
const h = fromFunctions({ ...sharedBump(memory), memory });
const view = h.mem.mallocAs(Float64Array, 16);
view[15] = 2.5;
parentPort.postMessage({ view });
