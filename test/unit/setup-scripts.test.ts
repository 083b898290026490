/**
 * The set-up that `npm start`, `npm test` and CI run (scripts/prepare.mjs, ensure-installed.mjs,
 * build-extensions.mjs, test-env.sh, .ci/run), run as a user runs it: real npm, real asc, real
 * files. What is asserted is what was done (installed, built, up to date), never how long it took.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, makeTempDir } from '../helpers/daemon.js';

interface Run {
  code: number;
  output: string;
}

/** Runs `node <script> ...args` in `cwd` with npm's and the developer's settings removed; stdout and stderr together. */
function runNode(script: string, args: string[], cwd: string): Promise<Run> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('npm_') && !k.startsWith('SPACEDRIVE_') && !k.startsWith('VITEST') && k !== 'NODE_OPTIONS') env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });
}

const PRODUCT = (JSON.parse(readFileSync(join(REPO_ROOT, 'extensions', 'product.json'), 'utf8')) as { product: string[] }).product;

describe("npm test's set-up and CI", () => {
  it(".ci/run runs exactly the README's test command, and that command's pretest is the set-up", () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    const testLine = firstBlock.split('\n').find((l) => l.includes('test'))!;
    const readmeTestCommand = testLine.replace(/#.*$/, '').trim();
    expect(readmeTestCommand).toBe('npm test');

    const ciCommands = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('set ') && !l.startsWith('cd '));
    expect(ciCommands).toEqual([readmeTestCommand]);

    const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.pretest).toBe('node scripts/prepare.mjs test');
    // The set-up script only sets up; it no longer wraps a command of its caller's.
    expect(readFileSync(join(REPO_ROOT, 'scripts', 'test-env.sh'), 'utf8')).not.toMatch(/exec\s+"\$@"/);
  });

  it("pretest's set-up makes sure of the test services and, run again with nothing changed, builds and checks nothing", { timeout: 600_000 }, async () => {
    // The first run brings whatever this checkout changed up to date (nothing, inside npm test).
    const first = await runNode(join(REPO_ROOT, 'scripts', 'prepare.mjs'), ['test'], REPO_ROOT);
    expect(first.code, first.output).toBe(0);
    const { code, output } = await runNode(join(REPO_ROOT, 'scripts', 'prepare.mjs'), ['test'], REPO_ROOT);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^\[setup\] dependencies: up to date \(\d+\.\d s\)$/m);
    expect(output).toMatch(/^\[setup\] test services: .+ \(\d+\.\d s\)$/m);
    expect(output).toMatch(/^\[setup\] typescript: up to date \(\d+\.\d s\)$/m);
    expect(output).toMatch(/^\[setup\] extensions: up to date: [\w, -]+ \(\d+\.\d s\)$/m);
    expect(output).toMatch(/^\[setup\] web: up to date \(\d+\.\d s\)$/m);
    expect(output).toMatch(/^\[setup\] typecheck: up to date \(\d+\.\d s\)$/m);
    expect(output).not.toMatch(/built /);
    // What the mail tests need is there now (test/helpers/dovecot.ts).
    expect(existsSync('/usr/sbin/dovecot')).toBe(true);
  });

  it("npm start's set-up looks only at the product extensions", { timeout: 120_000 }, async () => {
    const { code, output } = await runNode(join(REPO_ROOT, 'scripts', 'prepare.mjs'), ['start'], REPO_ROOT);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^\[setup\] typescript: up to date \(\d+\.\d s\)$/m);
    expect(output).toContain(`[setup] product extensions: up to date: ${[...PRODUCT].sort().join(', ')} (`);
    expect(output).toMatch(/^\[setup\] web: up to date \(\d+\.\d s\)$/m);
    expect(output).not.toMatch(/test services|typecheck/);
  });
});

describe('ensure-installed: npm ci when node_modules does not match package-lock.json', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /**
   * A project whose one dependency (a local tarball, so npm needs no network) has an install
   * script that fails the way node-gyp does on a machine without a compiler.
   */
  function projectWithFailingNativeModule(): string {
    const dir = makeTempDir('sd-install-');
    dirs.push(dir);
    mkdirSync(join(dir, 'native-thing'));
    writeFileSync(
      join(dir, 'native-thing', 'package.json'),
      JSON.stringify({
        name: 'native-thing',
        version: '1.0.0',
        scripts: { install: `node -e "console.error('gyp ERR! stack Error: not found: make'); process.exit(1)"` },
      }),
    );
    execFileSync('npm', ['pack', '--pack-destination', '..'], { cwd: join(dir, 'native-thing'), stdio: 'pipe' });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', dependencies: { 'native-thing': 'file:native-thing-1.0.0.tgz' } }));
    execFileSync('npm', ['install', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'pipe' });
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(REPO_ROOT, 'scripts', 'ensure-installed.mjs'), join(dir, 'scripts', 'ensure-installed.mjs'));
    return dir;
  }

  it('when npm ci fails, says which package failed and what to do, without a stack trace', { timeout: 120_000 }, async () => {
    const dir = projectWithFailingNativeModule();
    rmSync(join(dir, 'node_modules'), { recursive: true });
    const { code, output } = await runNode(join(dir, 'scripts', 'ensure-installed.mjs'), [], dir);
    expect(code).toBe(1);
    expect(output).toContain('[setup] installing dependencies with npm ci: node_modules is missing');
    expect(output).toContain('[setup] npm ci failed (exit code 1).');
    expect(output).toContain('[setup] What failed: the install script of native-thing');
    expect(output).toMatch(/\[setup\] What to do: .*build-essential python3.*then run `npm ci` again/);
    expect(output).toMatch(/\[setup\] npm's full log: \S+\.log/);
    expect(output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  });

  it('decides by content: a lockfile rewritten unchanged (a git checkout) installs nothing, a changed one installs', { timeout: 120_000 }, async () => {
    const dir = projectWithFailingNativeModule();
    // node_modules holds what the lockfile pins; the lockfile is newer, as after a checkout.
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(dir, 'package-lock.json'), later, later);
    const unchanged = await runNode(join(dir, 'scripts', 'ensure-installed.mjs'), [], dir);
    expect(unchanged).toEqual({ code: 0, output: '' });

    const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
    lock.packages['node_modules/native-thing']!.version = '1.0.1';
    writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(lock));
    const changed = await runNode(join(dir, 'scripts', 'ensure-installed.mjs'), [], dir);
    expect(changed.output).toContain('[setup] installing dependencies with npm ci: native-thing is 1.0.0, package-lock.json pins 1.0.1');
  });

  it('a workspace link missing from node_modules installs, although the record of the install lists it', async () => {
    const script = pathToFileURL(join(REPO_ROOT, 'scripts', 'ensure-installed.mjs')).href;
    const { installNeeded } = (await import(script)) as { installNeeded(root: string): string | null };
    const dir = makeTempDir('sd-install-ws-');
    dirs.push(dir);
    const packages = { '': { name: 'app', workspaces: ['pkg'] }, 'node_modules/pkg': { resolved: 'pkg', link: true }, pkg: { name: 'pkg', version: '1.0.0' } };
    writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages }));
    mkdirSync(join(dir, 'node_modules'));
    writeFileSync(join(dir, 'node_modules', '.package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages }));
    expect(installNeeded(dir)).toBe('pkg (a workspace link) is missing');
    mkdirSync(join(dir, 'pkg'));
    symlinkSync('../pkg', join(dir, 'node_modules', 'pkg'));
    expect(installNeeded(dir)).toBeNull();
  });
});

describe('build-extensions: only what changed, by content; fixtures only when asked for', () => {
  const root = makeTempDir('sd-extbuild-');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const MANIFEST = (id: string): string =>
    JSON.stringify({
      id,
      name: id,
      version: '0.1.0',
      description: 'set-up test',
      author: 'test',
      abi_version: 1,
      permissions: { call: [], dispatch_jobs: false, libraries: [], network: [] },
      limits: { memory_mb: 16, call_timeout_ms: 5000, instances: 1, concurrent_jobs: 1 },
      config_schema: { type: 'object', properties: {} },
      config: {},
    });
  const SOURCE = 'export { sd_abi_version, sd_alloc, sd_free } from "spacedrive-sdk";\nexport function plugin_init(): i32 {\n  return 0;\n}\n';

  function addExtension(id: string): void {
    mkdirSync(join(root, 'extensions', id, 'assembly'), { recursive: true });
    writeFileSync(join(root, 'extensions', id, 'manifest.json'), MANIFEST(id));
    writeFileSync(join(root, 'extensions', id, 'assembly', 'index.ts'), SOURCE);
  }

  /** A copy of the repository's build inputs with one product extension and one fixture. */
  function makeRepo(): void {
    mkdirSync(join(root, 'scripts'));
    cpSync(join(REPO_ROOT, 'scripts', 'build-extensions.mjs'), join(root, 'scripts', 'build-extensions.mjs'));
    cpSync(join(REPO_ROOT, 'sdk'), join(root, 'sdk'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
    // The modules' ABI check reads the host's import table from the compiled TypeScript.
    mkdirSync(join(root, 'dist', 'extensions'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'dist', 'extensions', 'sandbox'), join(root, 'dist', 'extensions', 'sandbox'), 'dir');
    addExtension('tiny');
    addExtension('tiny-fixture');
    writeFileSync(join(root, 'extensions', 'product.json'), JSON.stringify({ product: ['tiny'] }));
  }

  const build = (...args: string[]): Promise<Run> => runNode(join(root, 'scripts', 'build-extensions.mjs'), args, root);
  const built = (id: string): boolean => existsSync(join(root, 'build', 'extensions', id, `${id}.wasm`));

  it('builds the listed extensions for npm start, skips unchanged ones even with new file times, rebuilds on a change, builds fixtures for tests', { timeout: 600_000 }, async () => {
    makeRepo();
    const first = await build('--product');
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/built tiny \(\d+ bytes/);
    expect(built('tiny')).toBe(true);
    expect(built('tiny-fixture')).toBe(false);

    // Every source newer than the outputs, contents unchanged (a git checkout, a copy): nothing to do.
    const later = new Date(Date.now() + 60_000);
    for (const file of [
      join(root, 'extensions', 'tiny', 'assembly', 'index.ts'),
      join(root, 'extensions', 'tiny', 'manifest.json'),
      join(root, 'sdk', 'assemblyscript', 'assembly', 'index.ts'),
      join(root, 'scripts', 'build-extensions.mjs'),
    ]) {
      utimesSync(file, later, later);
    }
    const touched = await build('--product');
    expect(touched.code, touched.output).toBe(0);
    expect(touched.output).toContain('0 built, 1 up to date (tiny), 0 failed');

    // The SDK changed: the extension built on it is rebuilt.
    writeFileSync(join(root, 'sdk', 'assemblyscript', 'assembly', 'index.ts'), `${readFileSync(join(root, 'sdk', 'assemblyscript', 'assembly', 'index.ts'), 'utf8')}\n// changed\n`);
    const sdkChanged = await build('--product');
    expect(sdkChanged.code, sdkChanged.output).toBe(0);
    expect(sdkChanged.output).toMatch(/built tiny \(/);

    // Tests and benchmarks build everything: the fixture now, the product extension is up to date.
    const all = await build();
    expect(all.code, all.output).toBe(0);
    expect(all.output).toContain('1 built, 1 up to date (tiny), 0 failed');
    expect(built('tiny-fixture')).toBe(true);
  });
});
