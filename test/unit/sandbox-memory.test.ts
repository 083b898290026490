/**
 * The linear-memory maximum: applied to the module's bytes before compiling, so it holds for a
 * module that declares no maximum, one that declares a larger one, and one that imports its memory.
 */
import { describe, expect, it } from 'vitest';
import { applyMemoryMaximum, WASM_PAGE_BYTES } from '../../src/extensions/sandbox/index.js';
import { loadFixture } from '../helpers/sandbox.js';
import { compileWat, compileWatText } from '../helpers/wat.js';

const WA = (globalThis as unknown as { WebAssembly: any }).WebAssembly;

/** Instantiates bytes on this thread and returns how many pages its memory can reach. */
function reachablePages(bytes: Uint8Array, imports: Record<string, Record<string, unknown>> = {}): number {
  const inst = new WA.Instance(new WA.Module(bytes), imports);
  const mem = inst.exports.memory as { grow(n: number): number; buffer: ArrayBuffer };
  while (true) {
    try {
      mem.grow(1);
    } catch {
      break;
    }
  }
  return mem.buffer.byteLength / WASM_PAGE_BYTES;
}

describe('applyMemoryMaximum', () => {
  it('adds a maximum to a memory that declares none', async () => {
    const wasm = await compileWatText('(module (memory (export "memory") 1))');
    const plan = applyMemoryMaximum(wasm, 1024 * 1024);
    expect(plan.maxPages).toBe(16);
    expect(plan.importedMemory).toBeUndefined();
    expect(reachablePages(plan.bytes)).toBe(16);
  });

  it('lowers a declared maximum that is over the limit, and keeps a smaller one', async () => {
    const larger = await compileWatText('(module (memory (export "memory") 2 1000))');
    expect(reachablePages(applyMemoryMaximum(larger, 8 * WASM_PAGE_BYTES).bytes)).toBe(8);
    const smaller = await compileWatText('(module (memory (export "memory") 2 4))');
    expect(reachablePages(applyMemoryMaximum(smaller, 8 * WASM_PAGE_BYTES).bytes)).toBe(4);
  });

  it('caps an imported memory and tells the host which limits to give it', async () => {
    const wasm = await compileWatText('(module (import "env" "memory" (memory 3)) (export "memory" (memory 0)))');
    const plan = applyMemoryMaximum(wasm, 10 * WASM_PAGE_BYTES);
    expect(plan.importedMemory).toEqual({ module: 'env', name: 'memory', initialPages: 3, maxPages: 10, shared: false });
    // The rewritten import only links with a memory that has a maximum within the limit.
    expect(() => new WA.Instance(new WA.Module(plan.bytes), { env: { memory: new WA.Memory({ initial: 3 }) } })).toThrow();
    const ok = new WA.Memory({ initial: 3, maximum: 10 });
    expect(reachablePages(plan.bytes, { env: { memory: ok } })).toBe(10);
  });

  it('keeps every other byte of a real module, which still compiles and runs', async () => {
    const wasm = await compileWat('echo');
    const plan = applyMemoryMaximum(wasm, 4 * 1024 * 1024);
    expect(() => new WA.Module(plan.bytes)).not.toThrow();
    expect(plan.bytes.length).toBeGreaterThanOrEqual(wasm.length);
  });

  it('refuses a module whose initial memory is already over the limit', async () => {
    const wasm = await compileWatText('(module (memory (export "memory") 100))');
    expect(() => applyMemoryMaximum(wasm, 16 * WASM_PAGE_BYTES)).toThrow(expect.objectContaining({ code: 'EXTENSION_OUT_OF_MEMORY' }));
  });

  it('refuses bytes that are not a module', () => {
    expect(() => applyMemoryMaximum(new Uint8Array([0, 97, 115, 109, 2, 0, 0, 0]), 65536)).toThrow(expect.objectContaining({ code: 'EXTENSION_INVALID' }));
    expect(() => applyMemoryMaximum(new Uint8Array([1, 2, 3]), 65536)).toThrow(expect.objectContaining({ code: 'EXTENSION_INVALID' }));
  });
});

describe('sandbox memory limit', () => {
  it('holds for a module that declares no maximum (grow until failure stops at the limit)', async () => {
    const s = await loadFixture('grow-bomb', { limits: { instances: 1, memoryMaxBytes: 1024 * 1024 } });
    try {
      expect(await s.call('grow_all', {}, { chain: [] })).toBe(16);
    } finally {
      await s.close();
    }
  });

  it('holds for a module that imports its memory (the host provides a capped one)', async () => {
    const s = await loadFixture('imported-memory', { limits: { instances: 1, memoryMaxBytes: 3 * 1024 * 1024 } });
    try {
      expect(await s.call('grow_all', {}, { chain: [] })).toBe(48);
    } finally {
      await s.close();
    }
  });
});
