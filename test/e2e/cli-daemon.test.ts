/**
 * The `spacedrive` binary without a harness daemon: `daemon start|status|stop` in the
 * background, exit code 3 when no daemon runs, configuration layering and `config show|path`,
 * help and version.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, runCli, startTestDaemon } from '../helpers/daemon.js';

describe('spacedrive daemon start|status|stop', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = makeTempDir('sd-cli-');
  });
  afterAll(async () => {
    // Whatever happened above, leave no daemon running.
    await runCli(['daemon', 'stop'], { dataDir });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts a background daemon that answers, reports it, and stops it', async () => {
    const before = await runCli(['daemon', 'status'], { dataDir });
    expect(before.code, before.stderr).toBe(3);
    expect(before.stdout).toContain('not running');

    const start = await runCli(['daemon', 'start', '--json'], { dataDir });
    expect(start.stderr).toBe('');
    expect(start.code, start.stderr).toBe(0);
    const started = JSON.parse(start.stdout) as { pid: number; logFile: string; alreadyRunning: boolean };
    expect(started.alreadyRunning).toBe(false);
    expect(started.pid).toBeGreaterThan(0);
    expect(() => process.kill(started.pid, 0)).not.toThrow();

    const status = await runCli(['daemon', 'status'], { dataDir });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`running (pid ${started.pid}`);

    const summary = await runCli(['status', '--json'], { dataDir });
    expect(summary.code, summary.stderr).toBe(0);
    expect(JSON.parse(summary.stdout).pid).toBe(started.pid);

    const again = await runCli(['daemon', 'start'], { dataDir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`already running (pid ${started.pid})`);

    const stop = await runCli(['daemon', 'stop'], { dataDir });
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain(`daemon stopped (pid ${started.pid})`);
    expect(() => process.kill(started.pid, 0)).toThrow();

    const after = await runCli(['daemon', 'status', '--json'], { dataDir });
    expect(after.code, after.stderr).toBe(3);
    expect(JSON.parse(after.stdout)).toMatchObject({ running: false });

    const stopAgain = await runCli(['daemon', 'stop'], { dataDir });
    expect(stopAgain.code, stopAgain.stderr).toBe(0);
    expect(stopAgain.stdout).toContain('no daemon was running');
    expect(readFileSync(started.logFile, 'utf8').length).toBeGreaterThan(0);
  });

  it('exits 3 with a hint when no daemon runs', async () => {
    for (const args of [['status'], ['methods'], ['query', 'core.status'], ['action', 'files.copy', '--sources', 'a', '--destination', 'b']]) {
      const r = await runCli(args, { dataDir });
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toMatch(/^error \[DAEMON_NOT_RUNNING\]: /);
      expect(r.stderr).toContain("hint: start it with 'spacedrive daemon start' (background) or 'npm start' (foreground)");
    }
    // Input that is broken is a usage error even without a daemon: it is checked first.
    const badInput = await runCli(['action', 'files.copy', '--json-input', '{oops'], { dataDir });
    expect(badInput.code, badInput.stderr).toBe(2);
    expect(badInput.stderr).toContain('--json-input is not valid JSON');
    const json = await runCli(['status', '--json'], { dataDir });
    expect(json.code, json.stderr).toBe(3);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'DAEMON_NOT_RUNNING' }, exit_code: 3 });
  });

  it('refuses a bad --timeout', async () => {
    const r = await runCli(['daemon', 'start', '--timeout', 'soon'], { dataDir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("--timeout: expected a positive number of milliseconds, got 'soon'");
  });
});

describe('configuration layering and spacedrive config', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = makeTempDir('sd-cfg-');
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const show = async (args: string[] = [], env: Record<string, string> = {}) => {
    const r = await runCli(['config', 'show', '--json', ...args], { dataDir, env });
    expect(r.stderr).toBe('');
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };

  it('takes defaults, then environment, then <data-dir>/config.json, then flags', async () => {
    rmSync(join(dataDir, 'config.json'), { force: true });
    expect((await show()).log).toEqual({ level: 'info', format: 'pretty' });
    expect((await show([], { SPACEDRIVE_LOG_LEVEL: 'warn', SPACEDRIVE_LOG_FORMAT: 'json' })).log).toEqual({ level: 'warn', format: 'json' });

    writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ log: { level: 'debug' } }));
    // The file beats the environment for the field it sets; the environment still sets the rest.
    expect((await show([], { SPACEDRIVE_LOG_LEVEL: 'warn', SPACEDRIVE_LOG_FORMAT: 'json' })).log).toEqual({ level: 'debug', format: 'json' });
    // Flags beat everything.
    expect((await show(['--log-level', 'error', '--log-format', 'pretty'], { SPACEDRIVE_LOG_LEVEL: 'warn' })).log).toEqual({ level: 'error', format: 'pretty' });
  });

  it('finds the data directory from --data-dir, else SPACEDRIVE_DATA_DIR', async () => {
    const other = makeTempDir('sd-cfg2-');
    try {
      const viaEnv = await runCli(['config', 'path'], { dataDir, env: {} });
      expect(viaEnv.stdout.trim()).toBe(join(dataDir, 'config.json'));
      // runCli always passes --data-dir; check the environment variable with the flag left out.
      const { spawnSync } = await import('node:child_process');
      const { BIN } = await import('../helpers/daemon.js');
      const r = spawnSync(process.execPath, [BIN, 'config', 'path', '--json'], { env: { ...process.env, SPACEDRIVE_DATA_DIR: other }, encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ path: join(other, 'config.json'), exists: false });
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('redacts secrets in config show', async () => {
    const token = 'a-very-secret-token-0123456789';
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ tcp: { port: 0, token } }));
    const human = await runCli(['config', 'show'], { dataDir });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).not.toContain(token);
    expect(human.stdout).toMatch(/token: +\*\*\*/);
    const json = await show();
    expect(json.tcp).toEqual({ host: '127.0.0.1', port: 0, token: '***' });
    expect(JSON.stringify(json)).not.toContain(token);
  });

  it('reports a broken config file as a usage error naming the file', async () => {
    writeFileSync(join(dataDir, 'config.json'), '{"log": {"level": "loud"}}');
    const r = await runCli(['config', 'show'], { dataDir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^error \[CONFIG_INVALID\]: .*log\.level/);
    writeFileSync(join(dataDir, 'config.json'), '{not json');
    const bad = await runCli(['status'], { dataDir });
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toContain('is not valid JSON');
    rmSync(join(dataDir, 'config.json'));
  });
});

describe('spacedrive daemon (foreground)', () => {
  it('takes --log-format and --log-level over the environment, and stops cleanly on SIGTERM', async () => {
    const daemon = await startTestDaemon({
      args: ['--log-format', 'json', '--log-level', 'debug'],
      env: { SPACEDRIVE_LOG_FORMAT: 'pretty', SPACEDRIVE_LOG_LEVEL: 'error' },
    });
    await daemon.kill('SIGTERM');
    const lines = daemon.logs().trim().split('\n').filter(Boolean);
    await daemon.stop();
    const records = lines.map((l) => JSON.parse(l) as { msg: string; level: number });
    expect(records.map((r) => r.msg)).toEqual(expect.arrayContaining(['daemon listening', 'daemon stopped']));

    const quiet = await startTestDaemon({ args: ['--log-level', 'warn'] });
    await quiet.kill('SIGTERM');
    const output = quiet.logs();
    await quiet.stop();
    expect(output).not.toContain('daemon listening');
  });
});

describe('help and version', () => {
  it('documents the exit codes in --help and has help on every command', async () => {
    const dataDir = makeTempDir('sd-help-');
    try {
      const top = await runCli(['--help'], { dataDir });
      expect(top.code, top.stderr).toBe(0);
      expect(top.stdout).toMatch(/Exit codes:\n\s+0\s+success\n\s+1\s+operation error.*\n\s+2\s+usage error.*\n\s+3\s+daemon not running.*\n\s+69\s+the storage backend cannot be reached.*\n\s+70\s+internal error.*\n\s+74\s+the disk is full/);
      const groups: Record<string, string[]> = {
        jobs: ['list', 'info', 'logs', 'types', 'watch', 'dispatch', 'pause', 'resume', 'cancel', 'retry'],
        extensions: ['install', 'list', 'info', 'enable', 'disable', 'uninstall', 'reload'],
        library: ['create', 'list', 'info'],
        location: ['add', 'list', 'rescan', 'remove'],
        credentials: ['set', 'get', 'list', 'delete'],
        mail: ['add-account', 'accounts', 'remove-account', 'test', 'fetch'],
        extension: ['new', 'build', 'test', 'dev', 'pack', 'conformance'],
      };
      const everyGroupCommand = Object.entries(groups).flatMap(([group, subs]) => [[group], ...subs.map((sub) => [group, sub])]);
      for (const cmd of [['daemon'], ['daemon', 'start'], ['daemon', 'stop'], ['daemon', 'status'], ['status'], ['methods'], ['query'], ['action'], ['config'], ['config', 'show'], ['config', 'path'], ['completion'], ...everyGroupCommand]) {
        const r = await runCli([...cmd, '--help'], { dataDir });
        expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).toBe(0);
        expect(r.stdout, cmd.join(' ')).toContain(`Usage: spacedrive ${cmd.join(' ')}`);
        expect(r.stdout, cmd.join(' ')).toContain('--data-dir');
      }
      const version = await runCli(['--version'], { dataDir });
      expect(version.code, version.stderr).toBe(0);
      expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);

      const none = await runCli([], { dataDir });
      expect(none.code, none.stderr).toBe(2);
      expect(none.stderr).toContain('Usage: spacedrive');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
