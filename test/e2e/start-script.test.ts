/**
 * `npm start` (scripts/start.mjs) when things are not fresh: a daemon already running on the data
 * directory is used, not fought (no banner followed by DAEMON_ALREADY_RUNNING); a daemon killed
 * with kill -9 under it is reported as such, with the exit code a shell gives (128 + 9).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, makeTempDir, runCli, scriptEnv, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

const START = join(REPO_ROOT, 'scripts', 'start.mjs');

interface Started {
  child: ChildProcess;
  output: () => string;
  /** Resolves once `text` has been printed; rejects if start.mjs exits first. */
  printed: (text: string) => Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(dataDir: string, env: Record<string, string> = {}): Started {
  const child = spawn(process.execPath, [START, '--data-dir', dataDir], { cwd: REPO_ROOT, env: { ...scriptEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  const onData = (d: string): void => {
    out += d;
    for (const w of waiters.splice(0)) {
      if (out.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  };
  child.stdout!.setEncoding('utf8').on('data', onData);
  child.stderr!.setEncoding('utf8').on('data', onData);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const printed = (text: string): Promise<void> =>
    Promise.race([
      new Promise<void>((resolve) => (out.includes(text) ? resolve() : waiters.push({ text, resolve }))),
      exit.then((e) => {
        if (!out.includes(text)) throw new Error(`start.mjs exited (${JSON.stringify(e)}) without printing '${text}':\n${out}`);
      }),
    ]);
  return { child, output: () => out, printed, exit };
}

describe('npm start when a daemon is already running or gets killed', { timeout: 240_000 }, () => {
  const dirs: string[] = [];
  const daemons: TestDaemon[] = [];
  const running: Started[] = [];

  afterEach(async () => {
    for (const s of running.splice(0)) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGTERM');
        await s.exit;
      }
    }
    for (const d of daemons.splice(0)) await d.stop();
    for (const d of dirs.splice(0)) {
      await runCli(['daemon', 'stop'], { dataDir: d });
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('uses the daemon already running: installs the extensions into it, says so, exits 0 and leaves it running', async () => {
    const daemon = await startTestDaemon();
    daemons.push(daemon);
    const s = start(daemon.dataDir);
    running.push(s);
    const { code } = await s.exit;
    const out = s.output();
    expect(code, out).toBe(0);
    expect(out).toContain(`[start] a daemon is already running on ${daemon.dataDir} (pid ${daemon.pid}); using it rather than starting another`);
    for (const id of ['finance', 'finance-rs', 'expenses', 'hello']) expect(out).toMatch(new RegExp(`\\[start\\] ${id} 0\\.1\\.0: installed`));
    expect(out).toContain(`(the daemon that was already running, pid ${daemon.pid})`);
    expect(out).toContain('daemon stop` stops it');
    expect(out).not.toContain('DAEMON_ALREADY_RUNNING');
    expect(out).not.toContain('Ctrl-C stops the daemon');
    // The same daemon still serves, now with the extensions.
    const status = await daemon.cli(['--json', 'status']);
    expect(JSON.parse(status.stdout)).toMatchObject({ pid: daemon.pid });
    const greet = await daemon.cli(['--json', 'query', 'hello:greet', '--name', 'Ada']);
    expect(greet.code, greet.stderr).toBe(0);
  });

  it('says the daemon was killed by SIGKILL and exits 137 when it is killed with kill -9', async () => {
    const dataDir = makeTempDir('sd-start-');
    dirs.push(dataDir);
    const s = start(dataDir);
    running.push(s);
    await s.printed('Ctrl-C stops the daemon');
    const pid = Number.parseInt(readFileSync(join(dataDir, 'daemon.pid'), 'utf8'), 10);
    process.kill(pid, 'SIGKILL');
    const { code } = await s.exit;
    expect(code, s.output()).toBe(137);
    expect(s.output()).toContain(`[start] the daemon (pid ${pid}) was killed by SIGKILL`);
    expect(s.output()).toContain('resume from their last checkpoint');
  });

  it('tells the daemon to stop once: a repeated SIGINT (the terminal and npm both send one) leaves its graceful shutdown alone', async () => {
    const dataDir = makeTempDir('sd-start-');
    dirs.push(dataDir);
    const s = start(dataDir, { SPACEDRIVE_LOG_LEVEL: 'info' });
    running.push(s);
    await s.printed('Ctrl-C stops the daemon');
    s.child.kill('SIGINT');
    await s.printed('signal received');
    s.child.kill('SIGINT');
    const { code } = await s.exit;
    expect(code, s.output()).toBe(0);
    expect(s.output()).toContain('daemon stopped');
    expect(s.output()).not.toContain('second signal');
    expect(s.output()).not.toMatch(/\[start\] the daemon/);
  });
});
