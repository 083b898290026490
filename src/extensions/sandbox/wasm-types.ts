/**
 * The few WebAssembly JS API types the sandbox uses. The project compiles without the DOM lib
 * and @types/node 20 does not declare `WebAssembly`, so they are declared here, locally (a global
 * declaration would clash the day someone adds the DOM lib).
 */

export interface WasmModule {
  readonly __brand?: 'WebAssembly.Module';
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

export interface WasmImportDescriptor {
  module: string;
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
}

type ErrorClass = new (message?: string) => Error;

/** The global `WebAssembly` object (the parts used here). */
export interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  Module: (new (bytes: Uint8Array) => WasmModule) & {
    imports(m: WasmModule): WasmImportDescriptor[];
    exports(m: WasmModule): { name: string; kind: string }[];
  };
  Instance: new (m: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  RuntimeError: ErrorClass;
  LinkError: ErrorClass;
  CompileError: ErrorClass;
}

export const wasm: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** `Atomics.waitAsync` (ES2024; the project's lib is ES2023). */
export const waitAsync = (Atomics as unknown as {
  waitAsync(ta: Int32Array, index: number, value: number, timeout?: number): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}).waitAsync;
