/**
 * Builds once before the tests (the daemon and CLI run from dist/ as real child processes).
 * `npm test` builds in its pretest step and sets SPACEDRIVE_SKIP_BUILD=1.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export default function setup(): void {
  if (process.env.SPACEDRIVE_SKIP_BUILD === '1') return;
  try {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, stdio: 'pipe' });
  } catch (err) {
    // tsc still emits JavaScript when it reports type errors; the typecheck reports those. Tests
    // can run as long as the entry points were emitted.
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    process.stderr.write(`warning: npm run build reported errors:\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}\n`);
    if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'index.js'))) throw new Error('build failed: dist/cli/index.js missing');
  }
}
