/**
 * index.ts — the package's public surface.
 */
export { createHeap, attachHeap, Heap, type WalkedBlock } from "./heap/heap.js";
export { heapSvg, heapHtml } from "./introspect/map.js";
export { arenaAccounting, type ArenaAccounting } from "./introspect/mallocstats.js";
export type { Family } from "./heap/families.js";
export type { HeapOptions, AttachOptions, AllocatorMode } from "./heap/options.js";
export { MemoryCorruptionError, type CorruptionReport, type CorruptionKind, type DamagedByte } from "./debug/report.js";
export type { OnError } from "./debug/hooks.js";
export type { LeakReport, LeakedBlock, LeakSite } from "./debug/leaks.js";
export { ALLOCATOR_MODES } from "./heap/options.js";
export type { HeapStats, SizeClassStats } from "./introspect/stats.js";
export { Memory, memoryKindOf, type MemoryKind, type MemorySource } from "./memory/memory.js";
export { PymallocError, InvalidPointerError, HeapCorruptionError, NotImplementedError } from "./errors.js";
export * as constants from "./constants.js";
export { fromExports, fromMemPool, fromFunctions, type WasmAllocatorExports, type MemPoolLike, type FunctionsAllocator } from "./compat/adapters.js";
export { ForeignHeap, type AdapterOptions, type ForeignSpec } from "./compat/foreign.js";
export { wasmImports, pymemImports, type WasmAllocatorImports, type AllocatorFunctions, type PyMemImports, type FamilyName } from "./compat/wasm-imports.js";
export { instantiateWithHeap, heapForModule, type InstantiateOptions } from "./compat/wasm.js";
export { linkFastPath, type LinkOptions } from "./compat/wasm-link.js";
export { wasmModuleInfo, type LinkedInfo, type WasmModuleInfo } from "./compat/wasm-module.js";
export { HeapSnapshot, SnapshotComparison, type SnapshotKey, type SnapshotStat, type SnapshotStatDiff, type SnapshotJSON, type SiteSource } from "./introspect/snapshot.js";
export { sampleWeight } from "./debug/sampler.js";
export type { TypedArray, TypedArrayType, TypedViews } from "./heap/typed.js";
export { asMemPool, HeapMemPool, type MemPoolOptions, type MemPoolStats, type MemPoolType } from "./compat/mempool.js";
export type { FaultPlan, FaultFamilyName } from "./heap/faults.js";
