import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOptions, parseStore } from '../../src/config/index.js';
import { Core, CORE_MODULES } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { Composition, defineModule, operationsWith, orderModules, type AnyModule } from '../../src/modules/index.js';

const logger = silentLogger();

function mod(name: string, dependsOn: string[], log: string[] = [], extra: Partial<AnyModule> = {}): AnyModule {
  const def: AnyModule = {
    name,
    dependsOn,
    create: (deps) => {
      log.push(`create ${name} with ${Object.keys(deps).sort().join(',')}`);
      return `${name}-service`;
    },
    start: () => void log.push(`start ${name}`),
    ready: () => void log.push(`ready ${name}`),
    stop: () => void log.push(`stop ${name}`),
    ...extra,
  };
  return def;
}

describe('module kernel', () => {
  it('orders modules after what they depend on, keeping list order otherwise', () => {
    const order = orderModules([mod('c', ['b']), mod('a', []), mod('b', ['a']), mod('d', [])], new Set());
    expect(order.map((m) => m.name)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('fails clearly on a missing dependency, a cycle and a duplicate name', () => {
    expect(() => orderModules([mod('a', ['ghost'])], new Set(['options']))).toThrow(/module 'a' depends on 'ghost', which no module provides/);
    expect(() => orderModules([mod('a', ['c']), mod('b', ['a']), mod('c', ['b'])])).toThrow(/cycle: a → c → b → a/);
    expect(() => orderModules([mod('a', []), mod('a', [])])).toThrow(/declared twice/);
    expect(() => orderModules([mod('options', [])], new Set(['options']))).toThrow(/shadows a base service/);
  });

  it('creates and starts in order, runs ready after every start, stops in reverse; deps hold only what was declared', async () => {
    const log: string[] = [];
    const composition = new Composition({ modules: [mod('b', ['a', 'base1'], log), mod('a', [], log)], logger });
    await composition.create({ base1: 1, base2: 2 });
    await composition.start();
    await composition.stop();
    expect(log).toEqual(['create a with ', 'create b with a,base1', 'start a', 'start b', 'ready a', 'ready b', 'stop b', 'stop a']);
  });

  it('stops the modules it created when a later one fails to create, and one failing stop does not stop the others', async () => {
    const log: string[] = [];
    const failing = mod('c', ['b'], log, {
      create: () => {
        throw new Error('boom');
      },
    });
    const badStop = mod('b', ['a'], log, {
      stop: () => {
        throw new Error('stop failed');
      },
    });
    const composition = new Composition({ modules: [mod('a', [], log), badStop, failing], logger });
    await expect(composition.create({})).rejects.toThrow('boom');
    await composition.stop();
    expect(log).toEqual(['create a with ', 'create b with a', 'stop a']);
  });

  it('binds each handler to exactly the services its module declared, plus its own', async () => {
    const defineOp = operationsWith<{ store: string; other?: unknown; base1: number }>();
    const seen: unknown[] = [];
    const store = defineModule<{ base1: number }, string, {}>()({
      name: 'store',
      dependsOn: ['base1'],
      create: () => 'the store',
      operations: [
        defineOp({
          method: 'query:store.peek.v1',
          kind: 'query',
          scope: 'core',
          description: '',
          input: true,
          output: true,
          handler: (_input, ctx) => {
            seen.push(ctx.core);
            return null;
          },
        }),
      ],
    });
    const composition = new Composition({ modules: [mod('other', []), store], logger });
    const [op] = composition.operations();
    await expect(Promise.resolve().then(() => op!.handler({}, { core: 'whole core', libraryId: null, caller: { kind: 'internal', chain: [] } }))).rejects.toThrow(
      /'store' capability is not running/,
    );
    await composition.create({ base1: 7, secret: 'not declared' });
    await op!.handler({}, { core: 'whole core', libraryId: null, caller: { kind: 'internal', chain: [] } });
    expect(seen).toEqual([{ base1: 7, store: 'the store' }]);
  });

  it('refuses a service its module did not declare, naming both', async () => {
    const sneaky = defineModule<{ a: string }, string>()({ name: 'sneaky', dependsOn: [], create: (deps) => deps.a });
    const composition = new Composition({ modules: [mod('a', []), sneaky], logger });
    await expect(composition.create({})).rejects.toThrow("module 'sneaky' used the service 'a' without declaring it");
  });

  it('registers job types once every module exists', async () => {
    const registered: unknown[] = [];
    const withJobs = defineModule<{}, string, {}, { type: string }>()({ name: 'm', dependsOn: [], create: () => 'svc', jobTypes: (svc) => [{ type: `${svc}.job` }] });
    const composition = new Composition({ modules: [withJobs], logger, registerJobType: (def) => registered.push(def) });
    await composition.create({});
    expect(registered).toEqual([{ type: 'svc.job' }]);
  });
});

describe('core as composed modules', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('starts its modules in dependency order, answers status, and closes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-modules-'));
    const core = await Core.create(loadOptions({ overrides: { dataDir: dir }, env: {} }), { logger });
    try {
      const order = core.moduleOrder;
      expect(order).toHaveLength(CORE_MODULES.length);
      expect(order.indexOf('mail')).toBeGreaterThan(order.indexOf('credentials'));
      expect(order.indexOf('sidecars')).toBeGreaterThan(order.indexOf('libraries'));
      // The job runner stops before the sandboxes and the library databases it uses.
      expect(order.indexOf('jobs')).toBeGreaterThan(order.indexOf('extensions'));
      expect(order.indexOf('jobs')).toBeGreaterThan(order.indexOf('libraries'));
      const status = (await core.execute('query:core.status.v1', {})) as { counts: Record<string, number> };
      expect(status.counts).toMatchObject({ libraries_count: 1, extensions_installed: 0 });
      expect(Object.keys(status.counts).some((k) => k.startsWith('libraries_sidecars_'))).toBe(true);
    } finally {
      await core.close();
    }
  });
});

describe('the store option', () => {
  it('is sqlite by default, takes a PostgreSQL URL from the environment, and refuses anything else', () => {
    const dataDir = join(tmpdir(), 'sd-store-option');
    expect(loadOptions({ overrides: { dataDir }, env: {} }).store).toBe('sqlite');
    expect(loadOptions({ overrides: { dataDir }, env: { SPACEDRIVE_STORE: 'postgres://postgres@127.0.0.1:5432/test' } }).store).toBe('postgres://postgres@127.0.0.1:5432/test');
    expect(() => loadOptions({ overrides: { dataDir }, env: { SPACEDRIVE_STORE: 'mysql://x' } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(parseStore('postgresql://db.example/sd')).toBe('postgresql://db.example/sd');
    expect(() => parseStore('sqlite3')).toThrow(/neither 'sqlite' nor a PostgreSQL URL/);
  });

  it('a core whose PostgreSQL store cannot be reached fails to start with STORE_UNAVAILABLE and leaves nothing running', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sd-store-down-'));
    try {
      // Port 9 (discard) on loopback: nothing listens there.
      await expect(Core.create(loadOptions({ overrides: { dataDir, store: 'postgres://postgres@127.0.0.1:9/none' }, env: {} }), { logger })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
