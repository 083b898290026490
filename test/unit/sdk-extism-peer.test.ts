/**
 * The benchmark's Extism peer (extensions/bench-extism, built into build/bench/extism-noop.wasm)
 * runs the same noop/echo logic as test-ext under the Extism JavaScript host, in worker mode,
 * non-ASCII text included.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import createPlugin from '@extism/extism';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GuestInstance, ROOT, builtModulePath } from './sdk-guest-host.js';

const TEXT = JSON.stringify({ text: 'Zoë — 日本語 — 😀 — "q" \\ end' });
let plugin: Awaited<ReturnType<typeof createPlugin>>;

beforeAll(async () => {
  execFileSync(process.execPath, [resolve(ROOT, 'scripts', 'build-extensions.mjs')], { cwd: ROOT, stdio: 'pipe' });
  const wasm = readFileSync(resolve(ROOT, 'build', 'bench', 'extism-noop.wasm'));
  plugin = await createPlugin({ wasm: [{ data: wasm }] }, { useWasi: false, runInWorker: true });
}, 120_000);

afterAll(async () => {
  await plugin?.close();
});

it('noop returns {} and echo returns its input, like test-ext', async () => {
  expect((await plugin.call('noop', '{}'))!.text()).toBe('{}');
  const echoed = (await plugin.call('echo', TEXT))!.text();
  expect(echoed).toBe(TEXT);

  const ext = GuestInstance.load(builtModulePath('test-ext'), { id: 'test-ext' });
  ext.init();
  expect(ext.callRaw('echo', TEXT).output!.toString('utf8')).toBe(echoed);
  expect(ext.callRaw('noop', '{}').output!.toString('utf8')).toBe('{}');
});
