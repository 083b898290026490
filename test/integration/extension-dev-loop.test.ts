/**
 * The dev loop (src/authoring/dev.ts) into a running core: a save rebuilds and reloads; a save
 * that does not compile is reported with the compiler's diagnostics while the last good version
 * keeps serving; the next good save is picked up.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevSession, newProject, type DevCycle } from '../../src/authoring/index.js';
import { loadOptions, type PartialOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { asSpacedriveError } from '../../src/errors/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { waitFor } from '../helpers/wait.js';

const root = mkdtempSync(join(tmpdir(), 'sd-devloop-'));
const project = join(root, 'devloop');
const source = join(project, 'src', 'index.ts');
let core: Core;
let session: DevSession;
const cycles: DevCycle[] = [];

const greet = async () => ((await core.execute('query:devloop:greet.v1', { name: 'Ada' })) as { greeting: string }).greeting;

beforeAll(async () => {
  newProject({ id: 'devloop', dir: project });
  core = await Core.create(loadOptions({ overrides: { dataDir: join(root, 'data'), extensions: { autoload: false } } as PartialOptions, env: {} }), { logger: silentLogger() });
  session = new DevSession({
    dir: project,
    deploy: async (build) => {
      if (core.extensions.list().some((e) => e.id === build.id)) await core.extensions.reload(build.id, { from: build.packageDir });
      else await core.extensions.install(build.packageDir);
    },
    onCycle: (c) => cycles.push(c),
  });
  const first = await session.start();
  expect(first.ok, String(first.error)).toBe(true);
}, 120_000);

afterAll(async () => {
  await session?.close();
  await core?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('extension dev loop', () => {
  it('installs on start, reloads on save', async () => {
    expect(await greet()).toBe('Hello, Ada!');
    const before = cycles.length;
    writeFileSync(source, readFileSync(source, 'utf8').replace('"Hello, "', '"Hi, "'));
    // The cycle is reported once the reload returned (the old version drained).
    await waitFor(() => cycles.length > before, 'the reload', 60_000);
    expect(cycles.at(-1)).toMatchObject({ ok: true, reason: expect.arrayContaining(['src/index.ts']) });
    expect(await greet()).toBe('Hi, Ada!');
  }, 90_000);

  it('a save that does not compile is reported; the last good version keeps serving; the fix is picked up', async () => {
    const good = readFileSync(source, 'utf8');
    const before = cycles.length;
    const broken = good.replace('"Hi, " + input.name', '"Hi, " + input.nome');
    expect(broken).not.toBe(good);
    writeFileSync(source, broken);
    await waitFor(() => cycles.length > before, 'the failed build', 60_000);
    const failed = cycles.at(-1)!;
    expect(failed.ok).toBe(false);
    const err = asSpacedriveError(failed.error);
    expect(err?.code).toBe('EXTENSION_INVALID');
    expect(err?.details).toMatchObject({ stage: 'compile' });
    expect(err?.message).toContain('nome');
    expect(await greet()).toBe('Hi, Ada!');

    writeFileSync(source, good.replace('"Hi, "', '"Welcome, "'));
    await waitFor(async () => (await greet()) === 'Welcome, Ada!', 'the fixed greeting', 60_000);
  }, 150_000);
});
