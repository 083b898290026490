/**
 * Subscribe / Unsubscribe over the socket. Most tests run the daemon in-process (startDaemon,
 * real socket, real client) and emit on core.events directly, to control exactly what is
 * emitted; the last one uses a real event source (a files.copy job) in a real daemon process.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SpacedriveClient } from '../../src/client/index.js';
import { loadOptions, type SpacedriveOptions } from '../../src/config/index.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/index.js';
import type { CoreEvent } from '../../src/events/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { makeTempDir, startTestDaemon } from '../helpers/daemon.js';
import { RawConnection } from '../helpers/raw-socket.js';
import { waitFor } from '../helpers/wait.js';

/** Waits for the daemon's listener count to reach a value (the event the test is about). */
function until(cond: () => boolean, timeoutMs = 20_000): Promise<true> {
  return waitFor(() => cond(), 'the listener count', timeoutMs);
}

describe('wire events', () => {
  let dir: string;
  let options: SpacedriveOptions;
  let daemon: RunningDaemon;
  let client: SpacedriveClient;
  /** Listeners core's own capabilities hold (the job system listens to job:*). */
  let base = 0;
  const listeners = () => daemon.core.events.listenerCount - base;
  beforeEach(async () => {
    dir = makeTempDir();
    options = loadOptions({ overrides: { dataDir: dir }, env: {} });
    daemon = await startDaemon(options, { logger: silentLogger() });
    base = daemon.core.events.listenerCount;
    client = await SpacedriveClient.connect({ socketPath: daemon.socketPath });
  });
  afterEach(async () => {
    await client.close();
    await daemon.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers matching events to a subscription as an async iterator; breaking out unsubscribes', async () => {
    const events = client.subscribe(['job:*'], { job_id: 'a' });
    const id = await events.ready;
    expect(id).toMatch(/^s\d+$/);
    expect(listeners()).toBe(1);
    daemon.core.events.emit('job:progress', { job_id: 'b', pct: 10 }); // filtered out
    daemon.core.events.emit('file:created', { job_id: 'a' }); // other type
    daemon.core.events.emit('job:progress', { job_id: 'a', pct: 50 });
    daemon.core.events.emit('job:done', { job_id: 'a' });
    const got: CoreEvent[] = [];
    for await (const e of events) {
      got.push(e);
      if (got.length === 2) break;
    }
    expect(got.map((e) => [e.type, e.payload])).toEqual([
      ['job:progress', { job_id: 'a', pct: 50 }],
      ['job:done', { job_id: 'a' }],
    ]);
    expect(typeof got[0]!.time).toBe('number');
    await until(() => listeners() === 0);
  });

  it('keeps subscriptions apart on one connection and across connections', async () => {
    const other = await SpacedriveClient.connect({ socketPath: daemon.socketPath });
    try {
      const all = client.subscribe();
      const jobs = client.subscribe(['job:done']);
      const theirs = other.subscribe(['job:done']);
      await Promise.all([all.ready, jobs.ready, theirs.ready]);
      daemon.core.events.emit('x:y', { n: 1 });
      daemon.core.events.emit('job:done', { n: 2 });
      expect((await all.next()).value).toMatchObject({ type: 'x:y' });
      expect((await all.next()).value).toMatchObject({ type: 'job:done' });
      expect((await jobs.next()).value).toMatchObject({ type: 'job:done', payload: { n: 2 } });
      expect((await theirs.next()).value).toMatchObject({ type: 'job:done', payload: { n: 2 } });
      await jobs.return!();
      await until(() => listeners() === 2);
    } finally {
      await other.close();
    }
  });

  it('drops a connection\'s subscriptions when it disconnects', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    const ack = await raw.request({ id: 1, type: 'subscribe', event_types: ['a:b'] });
    expect(ack).toMatchObject({ ok: true, result: { subscription: 's1' } });
    daemon.core.events.emit('a:b', { k: 1 });
    expect(await raw.frame(1)).toMatchObject({ subscription: 's1', event: { type: 'a:b', payload: { k: 1 } } });
    expect(await raw.request({ id: 2, type: 'unsubscribe', subscription: 's1' })).toMatchObject({ ok: true });
    expect(listeners()).toBe(0);
    await raw.request({ id: 3, type: 'subscribe' });
    expect(listeners()).toBe(1);
    raw.close();
    await until(() => listeners() === 0);
  });

  it('re-establishes subscriptions after the daemon restarts', async () => {
    const events = client.subscribe(['job:done']);
    await events.ready;
    await daemon.close();
    daemon = await startDaemon(options, { logger: silentLogger() });
    base = daemon.core.events.listenerCount;
    await until(() => listeners() === 1);
    daemon.core.events.emit('job:done', { after: 'restart' });
    expect((await events.next()).value).toMatchObject({ payload: { after: 'restart' } });
    await events.return!();
  });
});

describe('wire events from a real daemon process', () => {
  it('streams a files.copy job\'s events to a subscriber over the socket', async () => {
    const d = await startTestDaemon();
    try {
      const client = await d.client();
      const jobs = client.subscribe(['job:*'], { job_type: 'files.copy' });
      const none = client.subscribe(['nothing:*']);
      await Promise.all([jobs.ready, none.ready]);
      writeFileSync(join(d.dataDir, 'a.txt'), 'abc');
      mkdirSync(join(d.dataDir, 'out'));
      const { job_id } = (await client.action('action:files.copy.input.v1', { sources: [join(d.dataDir, 'a.txt')], destination: join(d.dataDir, 'out') })) as {
        job_id: string;
      };
      const seen: string[] = [];
      for await (const e of jobs) {
        expect(e.payload.job_id).toBe(job_id);
        seen.push(e.type);
        if (e.type === 'job:completed' || e.type === 'job:failed') break;
      }
      expect(seen[0]).toBe('job:queued');
      expect(seen.at(-1)).toBe('job:completed');
      // The other subscription got nothing: its next event is whatever we wait for after this.
      const pending = none.next();
      const raced = await Promise.race([pending.then(() => 'event'), new Promise((r) => setTimeout(() => r('quiet'), 200))]);
      expect(raced).toBe('quiet');
      await none.return!();
    } finally {
      await d.stop();
    }
  });
});
