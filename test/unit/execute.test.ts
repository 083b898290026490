import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { defineOperation } from '../../src/registry/index.js';
import { rejectionOf } from '../helpers/errors.js';

describe('execute', () => {
  let dir: string;
  let core: Core;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-exec-'));
    core = await Core.create(loadOptions({ overrides: { dataDir: dir }, env: {} }), { logger: silentLogger() });
  });
  afterEach(async () => {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a core query', async () => {
    const status = (await core.execute('query:core.status.v1', {})) as { data_dir: string; counts: Record<string, number> };
    expect(status.data_dir).toBe(dir);
    expect(status.counts.core_methods).toBeGreaterThanOrEqual(3);
  });

  it('rejects an unknown method with UNKNOWN_METHOD', async () => {
    await expect(core.execute('query:nope.nothing.v1', {})).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
    await expect(core.execute('query:ghost:thing.v1', {})).rejects.toThrow(/no extension 'ghost'/);
  });

  it('names the field and what was expected for invalid input', async () => {
    const err = await rejectionOf(core.execute('action:files.copy.input.v1', { sources: 'a' }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toContain("field 'sources': expected type array");
    expect(err.message).toContain("field 'destination': expected a value (it is required)");
  });

  it('finds an operation registered at run time, after core, owned by its registrant', async () => {
    core.runtimeRegistry.register(
      'demo',
      defineOperation({
        method: 'query:demo:echo.v1',
        kind: 'query',
        scope: 'core',
        description: 'echo',
        input: { type: 'object', required: ['x'], properties: { x: { type: 'number' } } },
        output: true,
        handler: (input: { x: number }) => ({ x: input.x * 2 }),
      }),
    );
    await expect(core.execute('query:demo:echo.v1', { x: 21 })).resolves.toEqual({ x: 42 });
    await expect(core.execute('query:demo:echo.v1', { x: 'a' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const { methods } = (await core.execute('query:core.methods.v1', { owner: 'demo' })) as { methods: { owner: string }[] };
    expect(methods).toHaveLength(1);
    expect(() =>
      core.runtimeRegistry.register('demo', { method: 'query:core.status.v1', kind: 'query', scope: 'core', description: '', input: true, output: true, handler: () => 1 }),
    ).toThrow(/own namespace/);
    expect(() =>
      core.runtimeRegistry.register('demo', { method: 'query:other:x.v1', kind: 'query', scope: 'core', description: '', input: true, output: true, handler: () => 1 }),
    ).toThrow(/own namespace/);
    expect(core.runtimeRegistry.unregisterOwner('demo')).toBe(1);
    await expect(core.execute('query:demo:echo.v1', { x: 1 })).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
  });

  it('wraps a handler failure as OPERATION_FAILED and keeps typed errors', async () => {
    core.runtimeRegistry.register('demo', {
      method: 'action:demo:boom.input.v1', kind: 'action', scope: 'core', description: '', input: true, output: true,
      handler: () => { throw new Error('kaput'); },
    });
    await expect(core.execute('action:demo:boom.input.v1', {})).rejects.toMatchObject({ code: 'OPERATION_FAILED', message: expect.stringContaining('kaput') });
    await expect(core.execute('action:files.copy.input.v1', { sources: [join(dir, 'missing')], destination: join(dir, 'x') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
