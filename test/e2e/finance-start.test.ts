/**
 * `npm start` (scripts/start.mjs) and `npm run demo` (scripts/demo.mjs) as a user runs them:
 * start installs the extensions into a fresh data directory, prints the commands to try (which
 * then work), upgrades an installed extension whose module differs from the build, enables a
 * disabled one, and stops the daemon on SIGINT with exit code 0; the demo runs to the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, makeTempDir, runCli, scriptEnv } from '../helpers/daemon.js';

const START = join(REPO_ROOT, 'scripts', 'start.mjs');
const DEMO = join(REPO_ROOT, 'scripts', 'demo.mjs');

interface Started {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number>;
}

function start(dataDir: string): Started {
  const child = spawn(process.execPath, [START, '--data-dir', dataDir], { cwd: REPO_ROOT, env: scriptEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exit = new Promise<number>((r) => child.on('exit', (code, signal) => r(code ?? (signal ? 128 : 1))));
  return { child, output: () => out, exit };
}

async function waitForOutput(s: Started, text: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!s.output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no '${text}' within ${timeoutMs} ms; output:\n${s.output()}`);
    if (s.child.exitCode !== null) throw new Error(`start.mjs exited ${s.child.exitCode}; output:\n${s.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('npm start and npm run demo', { timeout: 240_000 }, () => {
  const dirs: string[] = [];
  const running: Started[] = [];

  afterEach(async () => {
    for (const s of running.splice(0)) {
      if (s.child.exitCode === null) {
        // SIGTERM reaches the daemon through start.mjs; SIGKILL only if that hangs.
        s.child.kill('SIGTERM');
        const timer = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
        await s.exit;
        clearTimeout(timer);
      }
    }
    for (const d of dirs.splice(0)) {
      // A daemon left behind by a start.mjs that was killed: stop it by its pid file.
      await runCli(['daemon', 'stop'], { dataDir: d });
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('starts the daemon with finance, finance-rs, expenses and hello installed, prints commands that work, and stops on SIGINT', async () => {
    const dataDir = makeTempDir('sd-start-');
    dirs.push(dataDir);
    const s = start(dataDir);
    running.push(s);
    await waitForOutput(s, 'Ctrl-C stops the daemon');
    for (const id of ['finance', 'finance-rs', 'expenses', 'hello']) expect(s.output()).toMatch(new RegExp(`\\[start\\] ${id} 0\\.1\\.0: installed`));
    expect(s.output()).toContain(`Data directory: ${dataDir}`);

    // The printed commands, run as printed (with this data dir): classify, add the account, scan, list.
    const commands = s
      .output()
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('node bin/spacedrive.js'))
      .map((l) => l.replace(/\s+#.*$/, '').replace(/^node bin\/spacedrive\.js --data-dir \S+ /, '').split(/\s+/));
    expect(commands.length).toBeGreaterThanOrEqual(5);
    for (const args of commands) {
      const r = await runCli(args, { dataDir });
      expect(r.code, `spacedrive ${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const entries = await runCli(['--json', 'query', 'vdfs.list_entries', '--entry-type', 'FinancialDocument'], { dataDir });
    expect(JSON.parse(entries.stdout).entries).toHaveLength(7);

    s.child.kill('SIGINT');
    expect(await s.exit).toBe(0);
  });

  it('on a later start, upgrades an extension whose installed version differs from the build and enables a disabled one', async () => {
    const dataDir = makeTempDir('sd-start-');
    dirs.push(dataDir);
    const first = start(dataDir);
    running.push(first);
    await waitForOutput(first, 'Ctrl-C stops the daemon');
    // Put an "older" finance in place (the same module as version 0.0.9) and disable hello.
    const older = join(dataDir, 'finance-0.0.9');
    cpSync(join(REPO_ROOT, 'build', 'extensions', 'finance'), older, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(older, 'manifest.json'), 'utf8')) as { version: string };
    writeFileSync(join(older, 'manifest.json'), JSON.stringify({ ...manifest, version: '0.0.9' }));
    const reload = await runCli(['extensions', 'reload', 'finance', '--from', older], { dataDir });
    expect(reload.code, reload.stderr).toBe(0);
    expect((await runCli(['extensions', 'disable', 'hello'], { dataDir })).code).toBe(0);
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(0);

    const second = start(dataDir);
    running.push(second);
    await waitForOutput(second, 'Ctrl-C stops the daemon');
    expect(second.output()).toMatch(/\[start\] finance 0\.1\.0: upgraded from 0\.0\.9/);
    expect(second.output()).toContain('[start] hello 0.1.0: enabled');
    expect(second.output()).toContain('[start] expenses 0.1.0: up to date');
    const finance = JSON.parse((await runCli(['--json', 'extensions', 'info', 'finance'], { dataDir })).stdout) as { version: string; state: string };
    expect(finance).toMatchObject({ version: '0.1.0', state: 'loaded' });
    const hello = JSON.parse((await runCli(['--json', 'extensions', 'info', 'hello'], { dataDir })).stdout) as { enabled: boolean; state: string };
    expect(hello).toMatchObject({ enabled: true, state: 'loaded' });
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);
  });

  it('npm run demo runs the whole story to the end (classify, scan, kill -9, resume, list)', async () => {
    const demo = spawn(process.execPath, [DEMO], { cwd: REPO_ROOT, env: scriptEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    demo.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    demo.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise<number>((r) => demo.on('exit', (c) => r(c ?? 1)));
    expect(code, out).toBe(0);
    expect(out).toContain('kill -9 of the daemon');
    expect(out).toContain('7 FinancialDocument entries for 7 receipt mails');
    expect(out).toContain('The demo ran to the end.');
  });
});
