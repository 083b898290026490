/**
 * `spacedrive extension test`: builds the project (a fast dev build), then runs its tests
 * (`test/**\/*.test.ts`) with vitest from this installation, `spacedrive-extensions/testing`
 * resolving to the harness of this installation — so a project tests without installing anything.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { readProject } from './project.js';
import { PACKAGE_ROOT, packageDir } from './toolchain.js';

export interface TestRunOptions {
  /** Only test files whose path contains one of these (vitest's filters). */
  filters?: string[];
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
}

/** Writes the vitest config the run uses, in `<project>/.spacedrive/`. */
function writeConfig(projectDir: string): string {
  const vitestDir = packageDir('vitest');
  if (!vitestDir) throw new SpacedriveError(ErrorCode.EXTENSION_INVALID, `'spacedrive extension test' needs vitest next to the spacedrive CLI (${PACKAGE_ROOT}); install it there (npm install vitest)`, { package: 'vitest' });
  const dir = join(projectDir, '.spacedrive');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'vitest.config.mjs');
  const alias = [
    { find: '^spacedrive-extensions/testing$', replacement: join(PACKAGE_ROOT, 'dist', 'testing', 'index.js') },
    { find: '^spacedrive-extensions$', replacement: join(PACKAGE_ROOT, 'dist', 'index.js') },
    { find: '^vitest$', replacement: join(vitestDir, 'dist', 'index.js') },
  ];
  writeFileSync(
    path,
    `// Written by 'spacedrive extension test' on every run; edits are lost.\nexport default {\n  root: ${JSON.stringify(projectDir)},\n  cacheDir: ${JSON.stringify(join(dir, 'vite'))},\n  resolve: { alias: [\n${alias
      .map((a) => `    { find: new RegExp(${JSON.stringify(a.find)}), replacement: ${JSON.stringify(a.replacement)} },`)
      .join('\n')}\n  ] },\n  test: { include: ['test/**/*.test.ts'], testTimeout: 30000, hookTimeout: 60000, pool: 'forks' },\n};\n`,
  );
  return path;
}

/** Runs the tests; resolves to vitest's exit code (0 when every test passed). */
export function runProjectTests(dir: string, o: TestRunOptions): Promise<number> {
  const project = readProject(dir);
  if (!existsSync(join(project.dir, 'test'))) {
    throw new SpacedriveError(ErrorCode.NOT_FOUND, `no test/ folder in ${project.dir}: write tests as test/*.test.ts (see 'spacedrive extension new')`, { project: project.dir });
  }
  const config = writeConfig(project.dir);
  const vitest = join(packageDir('vitest')!, 'vitest.mjs');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [vitest, 'run', '--config', config, ...(o.filters ?? [])], {
      cwd: project.dir,
      env: { ...(o.env ?? process.env), ...((o.stdout as { isTTY?: boolean }).isTTY ? { FORCE_COLOR: '1' } : { NO_COLOR: '1' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(o.stdout, { end: false });
    child.stderr.pipe(o.stderr, { end: false });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise(code ?? 1));
  });
}
