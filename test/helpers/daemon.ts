/**
 * Test harness: a real daemon as a child process (`node bin/spacedrive.js daemon`) on a
 * temporary data directory, a client connected to it over the socket, and the CLI binary.
 * Requires a build (test/global-setup.ts runs `npm run build` once).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpacedriveClient } from '../../src/client/index.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestDaemon {
  dataDir: string;
  socketPath: string;
  pid: number;
  env: Record<string, string>;
  /** A connected client, closed by stop(). */
  client(): Promise<SpacedriveClient>;
  /** Runs `node bin/spacedrive.js --data-dir <dataDir> ...args` with this daemon's environment. */
  cli(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<CliResult>;
  /** Sends the signal (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts a new daemon process on the same data dir (stopping the old one first if alive) and waits until it answers. */
  restart(): Promise<void>;
  /** Graceful shutdown (SIGTERM, then SIGKILL after 10 s); removes the temp data dir unless keepDataDir. */
  stop(): Promise<void>;
  /** The daemon's stdout+stderr so far (all processes started by this harness instance). */
  logs(): string;
}

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BIN = join(REPO_ROOT, 'bin', 'spacedrive.js');

const START_TIMEOUT_MS = 20_000;

/** A short temp dir (Unix socket paths must stay under 107 bytes). */
export function makeTempDir(prefix = 'sd-'): string {
  const base = tmpdir().length <= 40 ? tmpdir() : '/tmp';
  return mkdtempSync(join(base, prefix));
}

/** The inherited environment without SPACEDRIVE_* variables, so tests do not pick up the developer's settings. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('SPACEDRIVE_') && k !== 'NODE_OPTIONS' && !k.startsWith('VITEST')) env[k] = v;
  }
  return env;
}

/** The environment for a repository script run by a test (scripts/start.mjs, demo.mjs): clean, no colour, warnings and up. */
export function scriptEnv(): Record<string, string> {
  return { ...cleanEnv(), NO_COLOR: '1', SPACEDRIVE_LOG_LEVEL: 'warn' };
}

export function runCli(args: string[], opts: { dataDir: string; env?: Record<string, string>; input?: string }): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, '--data-dir', opts.dataDir, ...args], {
      cwd: REPO_ROOT,
      env: { ...cleanEnv(), NO_COLOR: '1', ...(opts.env ?? {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(opts.input ?? '');
  });
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

export async function startTestDaemon(
  opts: {
    dataDir?: string;
    env?: Record<string, string>;
    args?: string[];
    keepDataDir?: boolean;
    setup?: (dataDir: string) => void | Promise<void>;
  } = {},
): Promise<TestDaemon> {
  const dataDir = opts.dataDir ?? makeTempDir();
  const ownsDir = opts.dataDir === undefined;
  const env: Record<string, string> = { ...cleanEnv(), SPACEDRIVE_LOG_FORMAT: 'json', NO_COLOR: '1', ...(opts.env ?? {}) };
  const socketPath = env.SPACEDRIVE_SOCKET ?? join(dataDir, 'daemon.sock');
  if (opts.setup) await opts.setup(dataDir);

  let output = '';
  let child: ChildProcess;
  const clients: SpacedriveClient[] = [];

  async function launch(): Promise<void> {
    const proc = spawn(process.execPath, [BIN, 'daemon', '--data-dir', dataDir, ...(opts.args ?? [])], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (true) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`daemon exited during start-up (code ${proc.exitCode}, signal ${proc.signalCode}):\n${output}`);
      }
      try {
        const probe = await SpacedriveClient.connect({ socketPath, reconnect: false, connectTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
        try {
          await probe.ping();
          return;
        } finally {
          await probe.close();
        }
      } catch {
        // not answering yet
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`daemon did not answer within ${START_TIMEOUT_MS} ms:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  async function terminate(): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = exitOf(child);
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async function closeClients(): Promise<void> {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  }

  try {
    await launch();
  } catch (err) {
    if (ownsDir && !opts.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }

  const daemon: TestDaemon = {
    dataDir,
    socketPath,
    get pid() {
      return child.pid!;
    },
    env,
    async client() {
      const c = await SpacedriveClient.connect({ socketPath });
      clients.push(c);
      return c;
    },
    cli(args, cliOpts = {}) {
      return runCli(args, { dataDir, env: { ...env, ...(cliOpts.env ?? {}) }, ...(cliOpts.input !== undefined ? { input: cliOpts.input } : {}) });
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = exitOf(child);
      child.kill(signal);
      await exited;
    },
    async restart() {
      await terminate();
      await launch();
    },
    async stop() {
      await closeClients();
      await terminate();
      if (!opts.keepDataDir && ownsDir) rmSync(dataDir, { recursive: true, force: true });
    },
    logs() {
      return output;
    },
  };
  return daemon;
}
