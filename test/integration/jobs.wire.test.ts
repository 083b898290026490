/**
 * Jobs over the wire and through the CLI, against the real daemon process: dispatch, events on
 * the subscription stream, pause/resume/cancel/retry of a running core job from both, a restart
 * while paused, and concurrency limits under a burst of 1,000 dispatched jobs.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import type { CoreEvent } from '../../src/events/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import { rejectionOf } from '../helpers/errors.js';

type Status = { job_id: string; status: string; state: { n: number } | null; waiting_for: string | null; output: unknown; attempts: number };

describe('jobs over the wire and the CLI (real daemon)', () => {
  let d: TestDaemon;
  let client: SpacedriveClient;
  const status = (id: string) => client.query('query:jobs.get_status.v1', { job_id: id }) as Promise<Status>;
  const until = (id: string, s: string) => waitFor(async () => (await status(id)).status === s, `${id} to be ${s}`);

  beforeAll(async () => {
    d = await startTestDaemon({ env: { SPACEDRIVE_JOBS_MAX_CONCURRENT: '4' } });
    client = await d.client();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('pause, resume, cancel and retry a running job over the wire, with events on the stream', async () => {
    const events: CoreEvent[] = [];
    const sub = client.subscribe(['job:*']);
    await sub.ready;
    const collecting = (async () => {
      for await (const e of sub) events.push(e);
    })();
    const { job_id } = (await client.action('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 100_000, delay_ms: 5 } })) as { job_id: string };
    await waitFor(async () => ((await status(job_id)).state?.n ?? 0) >= 3, 'progress');
    await client.action('action:jobs.pause.input.v1', { job_id });
    await until(job_id, 'paused');
    const at = (await status(job_id)).state!.n;
    await client.action('action:jobs.resume.input.v1', { job_id });
    await waitFor(async () => (await status(job_id)).state!.n > at + 150, 'progress after resume');
    await client.action('action:jobs.cancel.input.v1', { job_id });
    await until(job_id, 'cancelled');
    const err = await rejectionOf(client.action('action:jobs.resume.input.v1', { job_id }));
    expect(err.code).toBe('INVALID_JOB_STATE');
    expect(err.message).toMatch(/cancelled/);
    await client.action('action:jobs.retry.input.v1', { job_id });
    await until(job_id, 'running');
    await client.action('action:jobs.cancel.input.v1', { job_id });
    await until(job_id, 'cancelled');
    await waitFor(async () => events.filter((e) => e.type === 'job:cancelled').length >= 2, 'events');
    await sub.return?.();
    await collecting;
    const mine = events.filter((e) => e.payload.job_id === job_id).map((e) => e.type);
    for (const t of ['job:queued', 'job:started', 'job:progress', 'job:paused', 'job:resumed', 'job:cancelled']) expect(mine).toContain(t);
    const progress = events.find((e) => e.type === 'job:progress')!;
    expect(progress.payload).toMatchObject({ job_id, job_type: 'core.count', status: 'running' });
    // Throttled: 5 ms steps would give ~200 reports a second; events come at most every 250 ms.
    const progressEvents = events.filter((e) => e.type === 'job:progress' && e.payload.job_id === job_id);
    const checkpoints = (await status(job_id)).state!.n;
    expect(checkpoints).toBeGreaterThan(150);
    expect(progressEvents.length).toBeLessThan(checkpoints / 10);
  });

  it('drives a job from the CLI: dispatch with flags, pause, info, resume, watch, logs, list, cancel, retry', async () => {
    // Long enough (about 6 s) that `jobs watch`, started after the resume, sees it run even when
    // a loaded machine takes seconds to start the CLI.
    // Held by its hold file until it is paused, so that it cannot finish before the pause
    // however long the CLI takes to start.
    const hold = join(d.dataDir, 'hold-cli-job');
    writeFileSync(hold, '');
    const dispatch = await d.cli(['jobs', 'dispatch', 'core.count', '--to', '300', '--delay-ms', '20', '--hold-file', hold, '--json']);
    expect(dispatch.stderr).toBe('');
    expect(dispatch.code).toBe(0);
    const { job_id } = JSON.parse(dispatch.stdout) as { job_id: string };
    await until(job_id, 'running');
    expect((await d.cli(['jobs', 'pause', job_id])).code).toBe(0);
    await until(job_id, 'paused');
    rmSync(hold);
    const info = await d.cli(['jobs', 'info', job_id]);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('paused');
    expect(info.stdout).toContain('core.count');
    const infoJson = JSON.parse((await d.cli(['jobs', 'info', job_id, '--json'])).stdout) as Status;
    expect(infoJson.status).toBe('paused');
    expect((await d.cli(['jobs', 'resume', job_id])).code).toBe(0);
    const watched = await d.cli(['jobs', 'watch', job_id]);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/progress \d+%/);
    expect(watched.stderr).toContain('completed');
    expect((await status(job_id)).output).toEqual({ n: 300 });
    const logs = await d.cli(['jobs', 'logs', job_id]);
    expect(logs.stdout).toMatch(/queued by client[\s\S]*pause requested[\s\S]*paused[\s\S]*resumed[\s\S]*completed/);
    const list = await d.cli(['jobs', 'list', '--status', 'completed', '--json']);
    expect((JSON.parse(list.stdout) as { jobs: Array<{ job_id: string }> }).jobs.map((j) => j.job_id)).toContain(job_id);
    expect((await d.cli(['jobs', 'list', '--status', 'bogus'])).code).toBe(2);

    const long = JSON.parse((await d.cli(['jobs', 'dispatch', 'core.count', '--json-input', '{"to":100000,"delay_ms":5}', '--json'])).stdout) as { job_id: string };
    await until(long.job_id, 'running');
    expect((await d.cli(['jobs', 'cancel', long.job_id])).code).toBe(0);
    await until(long.job_id, 'cancelled');
    expect((await d.cli(['jobs', 'retry', long.job_id])).code).toBe(0);
    await until(long.job_id, 'running');
    await d.cli(['jobs', 'cancel', long.job_id]);
    await until(long.job_id, 'cancelled');
    const again = await d.cli(['jobs', 'cancel', long.job_id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/INVALID_JOB_STATE|cannot cancel/);
  });

  it('dispatch --follow runs files.hash_tree to the end; bad params and unknown types are refused', async () => {
    const root = join(d.dataDir, 'tree');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'a.txt'), 'aaa');
    const r = await d.cli(['jobs', 'dispatch', 'files.hash_tree', '--root', root, '--follow']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"sha256": "9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0"');
    const bad = await d.cli(['jobs', 'dispatch', 'files.hash_tree', '--rot', root]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--rot');
    const unknown = await d.cli(['jobs', 'dispatch', 'finance:email_scan', '--provider', 'gmail']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown job type 'finance:email_scan'/);
    const types = JSON.parse((await d.cli(['jobs', 'types', '--json'])).stdout) as { types: Array<{ job_type: string }> };
    expect(types.types.map((t) => t.job_type)).toEqual(expect.arrayContaining(['files.copy', 'files.hash_tree', 'core.noop', 'core.count']));
  });

  it('a paused job stays paused across a restart and resumes from its checkpoint', async () => {
    const { job_id } = (await client.action('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 100_000, delay_ms: 5 } })) as { job_id: string };
    await waitFor(async () => ((await status(job_id)).state?.n ?? 0) >= 3, 'progress');
    await client.action('action:jobs.pause.input.v1', { job_id });
    await until(job_id, 'paused');
    const at = (await status(job_id)).state!.n;
    await d.restart();
    client = await d.client();
    // A job dispatched now and completed shows the new daemon's runner has claimed what was
    // runnable: had the paused job been runnable, it would have been claimed by then too.
    const probe = (await client.action('action:jobs.dispatch.input.v1', { job_type: 'core.noop', params: {} })) as { job_id: string };
    await until(probe.job_id, 'completed');
    const st = await status(job_id);
    expect(st.status).toBe('paused');
    expect(st.state!.n).toBe(at);
    await client.action('action:jobs.resume.input.v1', { job_id });
    await waitFor(async () => (await status(job_id)).state!.n > at, 'progress after resume');
    await client.action('action:jobs.cancel.input.v1', { job_id });
    await until(job_id, 'cancelled');
  });

  it('holds the concurrency limit (4) under a burst of 1,000 dispatched jobs', async () => {
    const ackDir = join(d.dataDir, 'burst');
    mkdirSync(ackDir, { recursive: true });
    const events: CoreEvent[] = [];
    const sub = client.subscribe(['job:started', 'job:completed', 'job:failed', 'job:cancelled', 'job:retrying']);
    await sub.ready;
    const collecting = (async () => {
      for await (const e of sub) events.push(e);
    })();
    const ids = await Promise.all(
      Array.from({ length: 1000 }, async () => ((await client.action('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 1, delay_ms: 2 } })) as { job_id: string }).job_id),
    );
    const mine = new Set(ids);
    await waitFor(async () => events.filter((e) => e.type === 'job:completed' && mine.has(e.payload.job_id as string)).length === 1000, 'all 1,000 jobs', 120_000);
    await sub.return?.();
    await collecting;
    let running = 0;
    let max = 0;
    for (const e of events) {
      if (!mine.has(e.payload.job_id as string)) continue;
      if (e.type === 'job:started') max = Math.max(max, ++running);
      else running--;
    }
    expect(max).toBeLessThanOrEqual(4);
    expect(max).toBeGreaterThanOrEqual(2);
    const st = (await client.query('query:core.status.v1', {})) as { counts: Record<string, number> };
    expect(st.counts.jobs_max_running_seen).toBeLessThanOrEqual(4);
    expect(readFileSync(join(d.dataDir, 'jobs.db')).length).toBeGreaterThan(0);
  });
});
