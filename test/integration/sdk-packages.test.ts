/**
 * The published packages: `npm pack` makes installable tarballs of the AssemblyScript SDK
 * (sdk/assemblyscript), the TypeScript client (packages/client) and the test harness
 * (packages/testing); installed offline into a project outside the repository they work — an
 * extension compiles against the installed SDK, the installed client (type-checked through its
 * entry point) talks to a running daemon, the harness loads.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abiProblems, newProject } from '../../src/authoring/index.js';
import { jsonAsTransform, packageDir } from '../../src/authoring/toolchain.js';
import { REPO_ROOT, makeTempDir, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { readFileSync } from 'node:fs';

const work = makeTempDir('sd-pkgs-');
const consumer = join(work, 'consumer');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && !k.startsWith('VITEST'))) as Record<string, string>;
const tarballs: Record<string, string> = {};
let daemon: TestDaemon;

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, env: { ...env, npm_config_update_notifier: 'false' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(async () => {
  for (const [name, dir] of [['sdk', 'sdk/assemblyscript'], ['client', 'packages/client'], ['testing', 'packages/testing']] as const) {
    const out = JSON.parse(npm(['pack', '--json', '--pack-destination', work], join(REPO_ROOT, dir))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarballs[name] = join(work, out[0]!.filename);
  }
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  npm(['install', '--offline', '--no-audit', '--no-fund', '--legacy-peer-deps', '--ignore-scripts', ...Object.values(tarballs)], consumer);
  daemon = await startTestDaemon();
}, 120_000);

afterAll(async () => {
  await daemon?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('npm packages', () => {
  it('npm pack names each package with its version', () => {
    expect(Object.values(tarballs).map((t) => t.slice(work.length + 1)).sort()).toEqual(['spacedrive-client-0.1.0.tgz', 'spacedrive-sdk-0.1.0.tgz', 'spacedrive-testing-0.1.0.tgz']);
  });

  it('the installed client talks to a running daemon and type-checks through its entry point', () => {
    writeFileSync(
      join(consumer, 'status.ts'),
      `import { SpacedriveClient } from 'spacedrive-client';\nconst client = await SpacedriveClient.connect({ socketPath: process.argv[2]! });\nconst status = await client.query('query:core.status.v1', {});\nconst version: string = status.version;\nconsole.log(version);\nawait client.close();\n`,
    );
    const tsc = join(packageDir('typescript')!, 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', join(REPO_ROOT, 'node_modules', '@types'), 'status.ts'], { cwd: consumer, stdio: 'pipe' });
    writeFileSync(join(consumer, 'status.mjs'), readFileSync(join(consumer, 'status.ts'), 'utf8').replace('process.argv[2]!', 'process.argv[2]').replace('const version: string', 'const version'));
    const out = execFileSync(process.execPath, ['status.mjs', daemon.socketPath], { cwd: consumer, encoding: 'utf8' });
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  }, 120_000);

  it('an extension compiles against the installed SDK (with its peers installed) and follows the ABI', async () => {
    // The SDK's peer dependencies, as the project's own install would provide them.
    for (const peer of ['json-as', 'xjb-as', 'assemblyscript']) symlinkSync(packageDir(peer)!, join(consumer, 'node_modules', peer));
    newProject({ id: 'consumer-ext', dir: join(consumer, 'ext') });
    const asc = join(packageDir('assemblyscript')!, 'bin', 'asc.js');
    // The SDK's own transform comes with its package: the generated project's classes are its schemas.
    const sdkTransform = join(consumer, 'node_modules', 'spacedrive-sdk', 'transform', 'index.js');
    execFileSync(process.execPath, [asc, 'ext/src/index.ts', '--runtime', 'incremental', '--transform', jsonAsTransform(), '--transform', sdkTransform, '--use', 'abort=~lib/spacedrive-sdk/assembly/abort/sdkAbort', '--disableWarning', '--outFile', 'ext.wasm'], {
      cwd: consumer,
      env: { ...env, JSON_MODE: 'NAIVE' },
      stdio: 'pipe',
    });
    expect(abiProblems(new Uint8Array(readFileSync(join(consumer, 'ext.wasm'))))).toEqual([]);
  }, 120_000);

  it('the installed harness package loads (with spacedrive-extensions beside it)', () => {
    symlinkSync(REPO_ROOT, join(consumer, 'node_modules', 'spacedrive-extensions'));
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', "const m = await import('spacedrive-testing'); console.log(typeof m.ExtensionHarness.start)"], { cwd: consumer, encoding: 'utf8' });
    expect(out.trim()).toBe('function');
  });
});
