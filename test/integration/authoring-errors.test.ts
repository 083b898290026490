/**
 * What the authoring commands refuse, with typed errors: a bad id, a folder in use, a folder that
 * is not a project, a manifest the host would refuse, and a module that does not follow the ABI
 * (an AssemblyScript source that uses Date, which imports from `env`).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProject, newProject, readProject } from '../../src/authoring/index.js';

const root = mkdtempSync(join(tmpdir(), 'sd-authoring-errors-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('authoring errors', () => {
  it('extension new: a bad id is USAGE, a folder with files in it ALREADY_EXISTS', () => {
    expect(() => newProject({ id: 'Bad Id', dir: join(root, 'bad') })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    mkdirSync(join(root, 'used'));
    writeFileSync(join(root, 'used', 'keep.txt'), 'mine');
    expect(() => newProject({ id: 'used', dir: join(root, 'used') })).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS' }));
    expect(readFileSync(join(root, 'used', 'keep.txt'), 'utf8')).toBe('mine');
  });

  it('a folder without a manifest is not a project; a missing one is NOT_FOUND', () => {
    mkdirSync(join(root, 'empty'));
    expect(() => readProject(join(root, 'empty'))).toThrow(expect.objectContaining({ code: 'EXTENSION_INVALID', message: expect.stringContaining('no manifest.json') }));
    expect(() => readProject(join(root, 'missing'))).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it('a manifest the host would refuse fails the build, naming the field', async () => {
    const dir = join(root, 'limits');
    newProject({ id: 'limits', dir });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    manifest.limits.memory_mb = 1_000_000;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    await expect(buildProject(dir, { optimize: 'dev' })).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining('limits.memory_mb') });
  }, 120_000);

  it('a module importing from env (Date.now) fails the ABI check, naming the import; nothing is written', async () => {
    const dir = join(root, 'clock');
    newProject({ id: 'clock', dir });
    const source = join(dir, 'src', 'index.ts');
    writeFileSync(source, readFileSync(source, 'utf8').replace('out.greeting = "Hello, " + input.name + "!";', 'out.greeting = "Hello at " + Date.now().toString();'));
    const err = await buildProject(dir, { optimize: 'dev' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EXTENSION_INVALID', details: { stage: 'abi' } });
    expect((err as Error).message).toMatch(/imports env\.Date\.now/);
    expect(() => readFileSync(join(dir, 'build', 'manifest.json'))).toThrow();
  }, 120_000);
});
