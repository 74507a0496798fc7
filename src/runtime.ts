/**
 * runtime.ts — which JavaScript runtime runs the library, asked in one place.
 *
 * Owns: isNode(): Node, and the runtimes that answer as it does (Deno, Bun: `process.versions.node`).
 * Must not: depend on any other module, nor import a node: module (the library runs in browsers).
 */

/** Node (Deno, Bun): Workers with an 'exit' event, node: modules, files. Read through globalThis: no `process` typing needed. */
export const isNode = (): boolean => typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === "string";
