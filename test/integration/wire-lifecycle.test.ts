/**
 * Daemon lifecycle over the wire: graceful shutdown (SIGTERM, Shutdown request), kill -9 and a
 * stale socket, a second daemon refused, background start/stop/status, pid files, TCP with
 * and without the token, connection limits.
 */
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SpacedriveClient } from '../../src/client/index.js';
import type { SpacedriveError } from '../../src/errors/index.js';
import { loadOptions } from '../../src/config/index.js';
import { daemonStatus, startDaemon, startDaemonInBackground, stopDaemon, type RunningDaemon } from '../../src/daemon/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { defineOperation } from '../../src/registry/index.js';
import { makeTempDir, runCli, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { RawConnection } from '../helpers/raw-socket.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function track(d: TestDaemon): TestDaemon {
  cleanups.push(() => d.stop());
  return d;
}

function exitCodeOf(d: TestDaemon): Promise<number | null> {
  // The harness exposes pid only; wait for the pid to disappear.
  return new Promise((resolve) => {
    const t = setInterval(() => {
      try {
        process.kill(d.pid, 0);
      } catch {
        clearInterval(t);
        resolve(null);
      }
    }, 20);
  });
}

describe('daemon lifecycle', () => {
  it('shuts down gracefully on SIGTERM: exits, removes socket and pid file', async () => {
    const d = track(await startTestDaemon({ keepDataDir: true }));
    cleanups.push(() => rmSync(d.dataDir, { recursive: true, force: true }));
    expect(existsSync(d.socketPath)).toBe(true);
    await d.kill('SIGTERM');
    expect(existsSync(d.socketPath)).toBe(false);
    expect(existsSync(join(d.dataDir, 'daemon.pid'))).toBe(false);
    expect(d.logs()).toContain('daemon stopped');
  });

  it('shuts down on a Shutdown request after answering it', async () => {
    const d = track(await startTestDaemon());
    const client = await SpacedriveClient.connect({ socketPath: d.socketPath, reconnect: false });
    await client.shutdown();
    await exitCodeOf(d);
    expect(existsSync(d.socketPath)).toBe(false);
    expect(d.logs()).toContain('shutdown requested by a client');
    await client.close();
  });

  it('recovers from kill -9: the stale socket is removed on restart', async () => {
    const d = track(await startTestDaemon());
    await d.kill('SIGKILL');
    expect(existsSync(d.socketPath)).toBe(true); // left behind
    await expect(SpacedriveClient.connect({ socketPath: d.socketPath })).rejects.toMatchObject({ code: 'DAEMON_NOT_RUNNING' });
    const status = await daemonStatus(loadOptions({ overrides: { dataDir: d.dataDir }, env: {} }));
    expect(status.running).toBe(false);
    expect(existsSync(join(d.dataDir, 'daemon.pid'))).toBe(false); // stale pid file removed
    await d.restart();
    const client = await d.client();
    expect((await client.query('query:core.status.v1', {})).pid).toBe(d.pid);
  });

  it('refuses to start a second daemon on a live socket, with a clear message', async () => {
    const d = track(await startTestDaemon());
    const second = await runCli(['daemon'], { dataDir: d.dataDir, env: { SPACEDRIVE_LOG_FORMAT: 'json' } });
    expect(second.code).not.toBe(0);
    expect(second.stderr + second.stdout).toMatch(/already running/);
    // The first one is untouched.
    const client = await d.client();
    await expect(client.ping()).resolves.toMatchObject({ pong: true });
    expect(existsSync(d.socketPath)).toBe(true);
  });

  it('reconnects the client after the daemon restarts', async () => {
    const d = track(await startTestDaemon());
    const client = await d.client();
    await client.ping();
    await d.kill('SIGKILL');
    await expect(client.ping()).rejects.toMatchObject({ code: 'DAEMON_NOT_RUNNING' });
    await d.restart();
    await expect(client.ping()).resolves.toMatchObject({ pong: true });
  });
});

describe('background daemon: start, status, stop', () => {
  it('starts detached, answers, reports status, stops', async () => {
    const dir = makeTempDir();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const options = loadOptions({ overrides: { dataDir: dir }, env: {} });
    cleanups.push(async () => {
      await stopDaemon(options).catch(() => undefined);
    });

    expect(await daemonStatus(options)).toMatchObject({ running: false });
    const started = await startDaemonInBackground(options);
    expect(started.alreadyRunning).toBe(false);
    expect(started.logFile).toBe(join(dir, 'daemon.log'));
    expect(Number(readFileSync(join(dir, 'daemon.pid'), 'utf8'))).toBe(started.pid);

    const status = await daemonStatus(options);
    expect(status).toMatchObject({ running: true, pid: started.pid, socketPath: join(dir, 'daemon.sock') });
    expect((status.status as { data_dir: string }).data_dir).toBe(dir);

    const again = await startDaemonInBackground(options);
    expect(again).toMatchObject({ alreadyRunning: true, pid: started.pid });

    const stopped = await stopDaemon(options);
    expect(stopped).toEqual({ wasRunning: true, pid: started.pid });
    expect(() => process.kill(started.pid, 0)).toThrow();
    expect(existsSync(join(dir, 'daemon.sock'))).toBe(false);
    expect(readFileSync(join(dir, 'daemon.log'), 'utf8')).toContain('"msg":"daemon listening"');
    expect(await stopDaemon(options)).toEqual({ wasRunning: false });
  });

  it('fails with DAEMON_START_FAILED and the log tail when the daemon cannot start', async () => {
    const dir = makeTempDir();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const options = loadOptions({ overrides: { dataDir: dir }, env: {} });
    // Valid for this process, broken by the time the child reads it.
    writeFileSync(join(dir, 'config.json'), '{ not json');
    const err = await startDaemonInBackground(options, { timeoutMs: 15_000 }).catch((e: SpacedriveError) => e) as SpacedriveError;
    expect(err.code).toBe('DAEMON_START_FAILED');
    expect(err.message).toMatch(/exited during start-up/);
    expect(err.message).toMatch(/config/);
  });

  it('stops a daemon that no longer answers with SIGTERM, and cleans a stale pid file', async () => {
    const dir = makeTempDir();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const options = loadOptions({ overrides: { dataDir: dir }, env: {} });
    writeFileSync(join(dir, 'daemon.pid'), '999999\n');
    expect(await stopDaemon(options)).toEqual({ wasRunning: false });
    expect(existsSync(join(dir, 'daemon.pid'))).toBe(false);
  });
});

describe('TCP listener on loopback', () => {
  const token = 'test-token-0123456789abcdef';
  async function tcpDaemon(): Promise<{ d: TestDaemon; port: number }> {
    const d = track(await startTestDaemon({ env: { SPACEDRIVE_TCP_PORT: '0', SPACEDRIVE_TCP_TOKEN: token } }));
    const line = d
      .logs()
      .split('\n')
      .find((l) => l.includes('"msg":"daemon listening"'));
    const port = (JSON.parse(line!) as { tcpPort: number }).tcpPort;
    expect(port).toBeGreaterThan(0);
    return { d, port };
  }

  it('serves a client that authenticates with the token', async () => {
    const { port } = await tcpDaemon();
    const client = await SpacedriveClient.connect({ tcp: { host: '127.0.0.1', port, token }, reconnect: false });
    cleanups.push(() => client.close());
    await expect(client.query('query:core.status.v1', {})).resolves.toMatchObject({ version: expect.any(String) });
  });

  it('refuses a wrong token and a request without auth, then closes', async () => {
    const { port } = await tcpDaemon();
    const err = await SpacedriveClient.connect({ tcp: { host: '127.0.0.1', port, token: 'wrong-token-0123456789' }, reconnect: false }).catch((e: SpacedriveError) => e) as SpacedriveError;
    expect(err.code).toBe('UNAUTHENTICATED');

    const raw = await RawConnection.open({ host: '127.0.0.1', port });
    raw.send({ id: 1, type: 'query', method: 'query:core.status.v1' });
    await raw.closedPromise;
    expect(raw.frames).toHaveLength(1);
    expect(raw.frames[0]).toMatchObject({ id: 1, ok: false, error: { code: 'UNAUTHENTICATED', details: { closing: true } } });
  });
});

describe('in-process daemon: limits and shutdown with calls in flight', () => {
  let daemon: RunningDaemon | null = null;
  afterEach(async () => {
    await daemon?.close();
    daemon = null;
  });

  const seen = { aborted: 0, running: 0, maxRunning: 0 };
  const slow = defineOperation<{ ms: number }, { slept: number }>({
    method: 'query:test.slow.v1',
    kind: 'query',
    scope: 'core',
    description: 'Sleeps, unless the caller goes away.',
    input: { type: 'object', required: ['ms'], properties: { ms: { type: 'integer' } } },
    output: { type: 'object' },
    handler: ({ ms }, ctx) => {
      seen.maxRunning = Math.max(seen.maxRunning, ++seen.running);
      return new Promise<{ slept: number }>((resolve, reject) => {
        const t = setTimeout(() => resolve({ slept: ms }), ms);
        ctx.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          seen.aborted++;
          reject(ctx.signal!.reason);
        });
      }).finally(() => seen.running--);
    },
  });

  async function start(wire: Record<string, number> = {}, shutdownGraceMs?: number): Promise<RunningDaemon> {
    const dir = makeTempDir();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const options = loadOptions({ overrides: { dataDir: dir, wire }, env: {} });
    daemon = await startDaemon(options, { logger: silentLogger(), extraOperations: [slow], ...(shutdownGraceMs !== undefined ? { shutdownGraceMs } : {}) });
    return daemon;
  }

  it('lets calls in flight finish during a graceful shutdown and refuses new ones', async () => {
    const d = await start();
    const client = await SpacedriveClient.connect({ socketPath: d.socketPath, reconnect: false });
    const inFlight = client.query('query:test.slow.v1', { ms: 300 });
    await new Promise((r) => setTimeout(r, 50));
    const closing = d.close();
    // Pings are still answered while draining.
    await expect(client.ping()).resolves.toMatchObject({ pong: true });
    await expect(client.query('query:core.status.v1', {})).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    await expect(inFlight).resolves.toEqual({ slept: 300 });
    await closing;
    await client.close();
    daemon = null;
  });

  it('aborts calls still running when the grace period ends; the client sees CONNECTION_CLOSED', async () => {
    const d = await start({}, 100);
    const client = await SpacedriveClient.connect({ socketPath: d.socketPath, reconnect: false });
    const before = seen.aborted;
    const inFlight = client.query('query:test.slow.v1', { ms: 10_000 }).catch((e: SpacedriveError) => e);
    await new Promise((r) => setTimeout(r, 50));
    await d.close();
    const err = (await inFlight) as SpacedriveError;
    expect(err.code).toBe('CONNECTION_CLOSED');
    expect(err.message).toMatch(/shutting down/);
    expect(seen.aborted).toBe(before + 1);
    await client.close();
    daemon = null;
  });

  it('aborts a call when its client disconnects, and keeps serving', async () => {
    const d = await start();
    const before = seen.aborted;
    const raw = await RawConnection.open({ path: d.socketPath });
    raw.send({ id: 1, type: 'query', method: 'query:test.slow.v1', payload: { ms: 10_000 } });
    await new Promise((r) => setTimeout(r, 50));
    raw.close();
    const deadline = Date.now() + 5_000;
    while (seen.aborted === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(seen.aborted).toBe(before + 1);
    const client = await SpacedriveClient.connect({ socketPath: d.socketPath, reconnect: false });
    await expect(client.ping()).resolves.toMatchObject({ pong: true });
    await client.close();
  });

  it('runs at most maxInFlightPerConnection calls of one connection at once, and answers all', async () => {
    const d = await start({ maxInFlightPerConnection: 4 });
    seen.maxRunning = 0;
    const raw = await RawConnection.open({ path: d.socketPath });
    raw.write(Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: i, type: 'query', method: 'query:test.slow.v1', payload: { ms: 30 } }) + '\n').join(''));
    const frames = await raw.waitFrames(20);
    expect(frames.every((f) => f.ok)).toBe(true);
    expect(seen.maxRunning).toBe(4);
    raw.close();
  });

  it('refuses connections past maxConnections with an OVERLOADED reason', async () => {
    const d = await start({ maxConnections: 2 });
    const a = await RawConnection.open({ path: d.socketPath });
    const b = await RawConnection.open({ path: d.socketPath });
    await a.request({ id: 1, type: 'ping' });
    await b.request({ id: 1, type: 'ping' });
    const c = await RawConnection.open({ path: d.socketPath });
    await c.closedPromise;
    expect(c.frames[0]).toMatchObject({ id: null, error: { code: 'OVERLOADED', details: { closing: true } } });
    a.close();
    await a.closedPromise;
    await new Promise((r) => setTimeout(r, 50));
    const e = await RawConnection.open({ path: d.socketPath });
    expect(await e.request({ id: 2, type: 'ping' })).toMatchObject({ ok: true });
    b.close();
    e.close();
  });

  it('answers a per-call timeout on the client side with TIMEOUT', async () => {
    const d = await start();
    const client = await SpacedriveClient.connect({ socketPath: d.socketPath, reconnect: false });
    await expect(client.query('query:test.slow.v1', { ms: 2_000 }, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    const ac = new AbortController();
    const p = client.query('query:test.slow.v1', { ms: 2_000 }, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
    await client.close();
  });
});
