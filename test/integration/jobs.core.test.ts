/**
 * The job system in-process, against a real core and a real SQLite file: lifecycle, control,
 * backoff, delays, dedupe, stall timeout, concurrency, restart. Job types registered here with
 * owner `test` are real job types, registered through the same interface the extension manager
 * uses.
 */
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOptions, type PartialOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import type { CoreEvent } from '../../src/events/index.js';
import type { JobRunContext, JobTypeDefinition } from '../../src/jobs/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { waitFor } from '../helpers/wait.js';

describe('job system (in-process core, real SQLite)', () => {
  let dir: string;
  let core: Core;
  let events: CoreEvent[];

  async function open(extra: PartialOptions = {}): Promise<Core> {
    core = await Core.create(
      loadOptions({ overrides: { dataDir: dir, extensions: { autoload: false }, jobs: { backoffBaseMs: 40, backoffMaxMs: 200, maxConcurrent: 8 }, ...extra } as PartialOptions, env: {} }),
      { logger: silentLogger() },
    );
    core.events.subscribe(['job:*'], undefined, (e) => events.push(e));
    return core;
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-jobs-'));
    events = [];
    await open();
  });
  afterEach(async () => {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = async (id: string) => (await core.jobs.get(id)).status;
  const until = (id: string, s: string) => waitFor(async () => (await status(id)) === s, `job ${id} to be ${s}`);
  /**
   * Asks the job to pause at its first progress event. The request is committed before the
   * job's next checkpoint or the one after, which then answers "pause": it pauses part-way
   * however fast or slow the machine, where a pause sent after polling its state may come after
   * a short job has finished.
   */
  const pauseOnFirstProgress = (jobId: string) =>
    new Promise<void>((resolve, reject) => {
      const sub = core.events.subscribe(['job:progress'], undefined, (e) => {
        if (e.payload.job_id !== jobId) return;
        sub.unsubscribe();
        core.jobs.pause(jobId).then(() => resolve(), reject);
      });
    });

  it('refuses unknown types and invalid params at dispatch, naming the field', async () => {
    await expect(core.jobs.dispatch('files.nope', {})).rejects.toMatchObject({ code: 'UNKNOWN_JOB_TYPE' });
    await expect(core.execute('action:jobs.dispatch.input.v1', { job_type: 'finance:email_scan', params: {} })).rejects.toThrow(/no loaded extension 'finance'/);
    const err = (await core.execute('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 'ten' } }).catch((e: unknown) => e)) as { code: string; message: string };
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toContain("field 'to': expected type integer");
    expect((await core.jobs.list({})).jobs).toEqual([]);
  });

  it('runs files.copy dispatched by action:files.copy.input.v1, with byte and item progress', async () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    for (let i = 0; i < 6; i++) writeFileSync(join(src, i % 2 ? 'sub' : '', `f${i}`), 'x'.repeat(100 * i));
    mkdirSync(join(dir, 'dst'));
    const { job_id } = (await core.execute('action:files.copy.input.v1', { sources: [src], destination: join(dir, 'dst') })) as { job_id: string };
    await until(job_id, 'completed');
    const st = (await core.execute('query:jobs.get_status.v1', { job_id })) as Record<string, any>;
    expect(st.output).toMatchObject({ copied_files: 6, copied_bytes: 1500 });
    expect(st.progress).toMatchObject({ items_done: 6, items_total: 6, bytes_done: 1500, bytes_total: 1500, fraction: 1 });
    expect(readFileSync(join(dir, 'dst', 'src', 'sub', 'f5'), 'utf8')).toBe('x'.repeat(500));
    expect(readdirSync(join(dir, 'dst', 'src', 'sub')).sort()).toEqual(['f1', 'f3', 'f5']);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['job:queued', 'job:started', 'job:progress', 'job:completed']));
    const logs = (await core.execute('query:jobs.logs.v1', { job_id })) as { logs: Array<{ message: string }> };
    expect(logs.logs.map((l) => l.message).join('\n')).toMatch(/queued by core[\s\S]*started[\s\S]*completed/);
    // Refused at once: a missing source, an existing target.
    await expect(core.execute('action:files.copy.input.v1', { sources: [join(dir, 'missing')], destination: join(dir, 'x') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const again = (await core.execute('action:files.copy.input.v1', { sources: [src], destination: join(dir, 'dst') })) as { job_id: string };
    await until(again.job_id, 'failed');
    expect((await core.jobs.get(again.job_id)).lastError?.code).toBe('ALREADY_EXISTS');
    expect((await core.jobs.get(again.job_id)).attempts).toBe(1);
  });

  it('files.copy resumes over the leftovers of a crash between its link and unlink steps', async () => {
    const src = join(dir, 'src');
    mkdirSync(src);
    for (let i = 0; i < 200; i++) writeFileSync(join(src, `f${String(i).padStart(3, '0')}`), Buffer.alloc(100_000, i));
    mkdirSync(join(dir, 'dst'));
    const { jobId } = await core.jobs.dispatch('files.copy', { sources: [src], destination: join(dir, 'dst') });
    await pauseOnFirstProgress(jobId);
    await until(jobId, 'paused');
    const done = ((await core.jobs.get(jobId)).state as { files_done: number }).files_done;
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(200);
    // What a kill -9 between link() and unlink() leaves: the next target exists, and the
    // temporary name is a second link to it.
    const next = join(dir, 'dst', 'src', `f${String(done).padStart(3, '0')}`);
    writeFileSync(next, 'partial');
    linkSync(next, `${next}.sdcopy-${jobId.slice(0, 8)}.tmp`);
    await core.jobs.resume(jobId);
    await until(jobId, 'completed');
    const names = readdirSync(join(dir, 'dst', 'src'));
    expect(names.length).toBe(200);
    expect(names.some((n) => n.endsWith('.tmp'))).toBe(false);
    expect(readFileSync(next).equals(Buffer.alloc(100_000, done))).toBe(true);
  });

  it('files.copy into a destination that did not exist keeps that layout after a pause and resume', async () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(src, i % 2 ? 'sub' : '', `f${String(i).padStart(2, '0')}`), `file ${i}`);
    const dst = join(dir, 'new-dst');
    const { jobId } = await core.jobs.dispatch('files.copy', { sources: [src], destination: dst });
    // Paused at its first progress report, before it has made the destination.
    await pauseOnFirstProgress(jobId);
    await until(jobId, 'paused');
    const done = ((await core.jobs.get(jobId)).state as { files_done: number }).files_done;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(20);
    // The first run created the destination: a resumed run must not now copy into it.
    expect(existsSync(dst)).toBe(true);
    await core.jobs.resume(jobId);
    await until(jobId, 'completed');
    expect(existsSync(join(dst, 'src'))).toBe(false);
    expect(readdirSync(dst).sort()).toEqual([...Array.from({ length: 10 }, (_, i) => `f${String(2 * i).padStart(2, '0')}`), 'sub']);
    expect(readdirSync(join(dst, 'sub')).length).toBe(10);
    expect(readFileSync(join(dst, 'sub', 'f19'), 'utf8')).toBe('file 19');
    expect(((await core.jobs.get(jobId)).output as { copied_files: number }).copied_files).toBe(20);
  });

  it('hashes a tree into a manifest matching sha256 of each file', async () => {
    const root = join(dir, 'tree');
    mkdirSync(join(root, 'a'), { recursive: true });
    writeFileSync(join(root, 'a', 'one.txt'), 'one');
    writeFileSync(join(root, 'two.bin'), Buffer.alloc(70_000, 7));
    const { jobId } = await core.jobs.dispatch('files.hash_tree', { root, manifest_path: join(dir, 'manifest.sha256') });
    await until(jobId, 'completed');
    const out = (await core.jobs.get(jobId)).output as { files: number; manifest: Array<{ path: string; sha256: string }> };
    const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
    expect(out.files).toBe(2);
    expect(out.manifest).toEqual([
      { path: join('a', 'one.txt'), size: 3, sha256: sha('one') },
      { path: 'two.bin', size: 70_000, sha256: sha(Buffer.alloc(70_000, 7)) },
    ]);
    expect(readFileSync(join(dir, 'manifest.sha256'), 'utf8')).toBe(`${sha('one')}  ./a/one.txt\n${sha(Buffer.alloc(70_000, 7))}  ./two.bin\n`);
  });

  it('files.hash_tree paused mid-way resumes from its checkpoint and still produces the full manifest', async () => {
    const root = join(dir, 'many');
    mkdirSync(root);
    for (let i = 0; i < 1500; i++) writeFileSync(join(root, `f${String(i).padStart(4, '0')}`), `file ${i}\n`.repeat(50));
    const { jobId } = await core.jobs.dispatch('files.hash_tree', { root });
    await pauseOnFirstProgress(jobId);
    await until(jobId, 'paused');
    const done = ((await core.jobs.get(jobId)).state as { done: number }).done;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(1500);
    await core.jobs.resume(jobId);
    await until(jobId, 'completed');
    const out = (await core.jobs.get(jobId)).output as { files: number; manifest: Array<{ path: string; sha256: string }> };
    expect(out.files).toBe(1500);
    expect(new Set(out.manifest.map((m) => m.path)).size).toBe(1500);
    const sample = out.manifest[1499]!;
    expect(sample).toEqual({ path: 'f1499', size: 'file 1499\n'.length * 50, sha256: createHash('sha256').update('file 1499\n'.repeat(50)).digest('hex') });
    const started = events.filter((e) => e.type === 'job:started' && e.payload.job_id === jobId);
    expect(started.map((e) => e.payload.resumed_from_checkpoint)).toEqual([false, true]);
  });

  it('pauses, resumes from the checkpoint, cancels and retries a running job', async () => {
    const { jobId } = await core.jobs.dispatch('core.count', { to: 100_000, delay_ms: 5 });
    await waitFor(async () => (((await core.jobs.get(jobId)).state as { n: number } | null)?.n ?? 0) >= 3, 'some progress');
    await core.execute('action:jobs.pause.input.v1', { job_id: jobId });
    await until(jobId, 'paused');
    const pausedAt = ((await core.jobs.get(jobId)).state as { n: number }).n;
    // No run of it is left that could write another checkpoint (rather than a pause to see none come).
    expect(core.jobs.runner.isRunningHere(jobId)).toBe(false);
    expect(((await core.jobs.get(jobId)).state as { n: number }).n).toBe(pausedAt);
    await expect(core.execute('action:jobs.pause.input.v1', { job_id: jobId })).rejects.toMatchObject({ code: 'INVALID_JOB_STATE' });
    await core.execute('action:jobs.resume.input.v1', { job_id: jobId });
    await waitFor(async () => ((await core.jobs.get(jobId)).state as { n: number }).n > pausedAt, 'progress after resume');
    const started = events.filter((e) => e.type === 'job:started' && e.payload.job_id === jobId);
    expect(started.at(-1)!.payload.resumed_from_checkpoint).toBe(true);
    await core.execute('action:jobs.cancel.input.v1', { job_id: jobId });
    await until(jobId, 'cancelled');
    const cancelledAt = ((await core.jobs.get(jobId)).state as { n: number }).n;
    expect(core.jobs.runner.isRunningHere(jobId)).toBe(false);
    expect(((await core.jobs.get(jobId)).state as { n: number }).n).toBe(cancelledAt);
    await expect(core.execute('action:jobs.resume.input.v1', { job_id: jobId })).rejects.toMatchObject({ code: 'INVALID_JOB_STATE' });
    await core.execute('action:jobs.retry.input.v1', { job_id: jobId });
    await waitFor(async () => ((await core.jobs.get(jobId)).state as { n: number }).n > cancelledAt, 'progress after retry from the checkpoint');
    await core.jobs.cancel(jobId);
    await until(jobId, 'cancelled');
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['job:paused', 'job:resumed', 'job:cancelled']));
    await expect(core.execute('action:jobs.cancel.input.v1', { job_id: 'nope' })).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
  });

  it('tells a running job to stop through onStop and stopping, as well as its signal, once', async () => {
    const seen: string[] = [];
    core.jobs.types.register('test', {
      type: 'test:waits_for_stop',
      version: 1,
      resumable: true,
      description: 'waits until asked to stop, watching onStop without making the signal first',
      paramsSchema: { type: 'object' },
      run: async (ctx: JobRunContext) => {
        seen.push(`stopping before: ${ctx.stopping}`);
        const stopped = new Promise<unknown>((resolve) => ctx.onStop(resolve));
        const removed = ctx.onStop(() => seen.push('removed listener called'));
        removed();
        await ctx.progress({ state: { waiting: true } });
        const reason = await stopped;
        seen.push(`reason: ${(reason as { code?: string }).code}`);
        seen.push(`stopping after: ${ctx.stopping}`);
        // A signal made after the request is already aborted, with the same reason.
        seen.push(`signal: ${ctx.signal.aborted} ${ctx.signal.reason === reason}`);
        // A listener added after the request is called at once.
        ctx.onStop(() => seen.push('late listener called'));
        return { status: 'interrupted', state: { waiting: false } };
      },
    });
    const { jobId } = await core.jobs.dispatch('test:waits_for_stop', {});
    await waitFor(async () => ((await core.jobs.get(jobId)).state as { waiting?: boolean } | null)?.waiting === true, 'the job to wait');
    await core.jobs.pause(jobId);
    await until(jobId, 'paused');
    expect(seen).toEqual(['stopping before: false', 'reason: CANCELLED', 'stopping after: true', 'signal: true true', 'late listener called']);
    expect((await core.jobs.get(jobId)).state).toEqual({ waiting: false });
  });

  it('retries a failing job with exponential backoff, then fails it for good', async () => {
    const starts: number[] = [];
    core.jobs.types.register('test', {
      type: 'test:flaky',
      version: 1,
      resumable: true,
      description: 'always fails',
      paramsSchema: { type: 'object' },
      maxAttempts: 4,
      run: async () => {
        starts.push(Date.now());
        return { status: 'failed', error: { code: 'FLAKY', message: 'nope' } };
      },
    });
    const { jobId } = await core.jobs.dispatch('test:flaky', {});
    await until(jobId, 'failed');
    const job = await core.jobs.get(jobId);
    expect(job.attempts).toBe(4);
    expect(job.errors.map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    // base 40 ms, doubling, capped at 200, equal jitter: at least half of 40, 80, 160.
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    expect(gaps[2]).toBeGreaterThanOrEqual(79);
    expect(events.filter((e) => e.type === 'job:retrying').length).toBe(3);
    expect(events.filter((e) => e.type === 'job:failed').length).toBe(1);
  });

  it('runs a delayed job no earlier than run_at, and says what it waits for', async () => {
    const runAt = Date.now() + 400;
    const r = (await core.execute('action:jobs.dispatch.input.v1', { job_type: 'core.noop', run_at: new Date(runAt).toISOString() })) as { job_id: string };
    const st = (await core.execute('query:jobs.get_status.v1', { job_id: r.job_id })) as { waiting_for: string; status: string };
    expect(st.status).toBe('queued');
    expect(st.waiting_for).toMatch(/^run_at /);
    await until(r.job_id, 'completed');
    expect((await core.jobs.get(r.job_id)).startedAt!).toBeGreaterThanOrEqual(runAt);
  });

  it('deduplicates by key while the first job is live', async () => {
    const a = await core.execute('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 1000, delay_ms: 2 }, dedupe_key: 'scan' }) as { job_id: string; deduplicated: boolean };
    const b = await core.execute('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 1000, delay_ms: 2 }, dedupe_key: 'scan' }) as { job_id: string; deduplicated: boolean };
    expect(a.deduplicated).toBe(false);
    expect(b).toEqual({ job_id: a.job_id, deduplicated: true });
    await core.jobs.cancel(a.job_id);
    await until(a.job_id, 'cancelled');
    const c = (await core.execute('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 1 }, dedupe_key: 'scan' })) as { job_id: string; deduplicated: boolean };
    expect(c.deduplicated).toBe(false);
  });

  it('stops a stalled job and retries it from its checkpoint', async () => {
    const seen: Array<{ attempt: number; state: unknown }> = [];
    core.jobs.types.register('test', {
      type: 'test:stall_once',
      version: 1,
      resumable: true,
      description: 'hangs on its first attempt after a checkpoint',
      paramsSchema: { type: 'object' },
      stallTimeoutMs: 300,
      run: async (ctx: JobRunContext) => {
        seen.push({ attempt: ctx.attempt, state: ctx.state });
        if (ctx.attempt === 1) {
          await ctx.progress({ state: { step: 1 } });
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
        }
        return { status: 'completed', output: { resumedFrom: ctx.state } };
      },
    });
    const { jobId } = await core.jobs.dispatch('test:stall_once', {});
    await until(jobId, 'completed');
    expect(seen).toEqual([
      { attempt: 1, state: null },
      { attempt: 2, state: { step: 1 } },
    ]);
    const job = await core.jobs.get(jobId);
    expect(job.errors[0]!.code).toBe('TIMEOUT');
    expect(job.errors[0]!.message).toMatch(/stalled/);
    expect(job.output).toEqual({ resumedFrom: { step: 1 } });
  });

  it('holds per-type and global concurrency limits under a burst of 1,000 jobs', async () => {
    let running = 0;
    let max = 0;
    let maxSlow = 0;
    let slowRunning = 0;
    const def = (type: string, maxConcurrency?: number): JobTypeDefinition => ({
      type,
      version: 1,
      resumable: true,
      description: 'short sleep',
      paramsSchema: { type: 'object' },
      ...(maxConcurrency ? { maxConcurrency } : {}),
      run: async () => {
        running++;
        max = Math.max(max, running);
        if (type === 'test:slow') maxSlow = Math.max(maxSlow, ++slowRunning);
        await new Promise((r) => setTimeout(r, 1));
        running--;
        if (type === 'test:slow') slowRunning--;
        return { status: 'completed' };
      },
    });
    core.jobs.types.replaceOwner('test', [def('test:fast'), def('test:slow', 2)]);
    const ids = await Promise.all(Array.from({ length: 1000 }, (_, i) => core.jobs.dispatch(i % 4 === 0 ? 'test:slow' : 'test:fast', {})));
    await waitFor(async () => (await core.jobs.store.countByStatus()).completed === 1000, 'all 1,000 jobs', 60_000);
    expect(ids.length).toBe(1000);
    expect(max).toBeLessThanOrEqual(8);
    expect(max).toBeGreaterThan(2);
    expect(maxSlow).toBeLessThanOrEqual(2);
    expect(core.jobs.runner.maxRunningSeen).toBeLessThanOrEqual(8);
  });

  it('keeps a job whose type is missing waiting, visibly, and runs it once the type is registered', async () => {
    const def: JobTypeDefinition = {
      type: 'later:thing',
      version: 1,
      resumable: true,
      description: 'registered later',
      paramsSchema: { type: 'object' },
      run: async () => ({ status: 'completed', output: 'ran' }),
    };
    core.jobs.types.register('later', def);
    const runAt = Date.now() + 200;
    const { jobId } = await core.jobs.dispatch('later:thing', {}, { runAt });
    core.jobs.types.unregisterOwner('later');
    // Once it is due, a job dispatched and completed after that shows the runner has claimed
    // whatever it could: this one stays queued, its type missing.
    await waitFor(() => Date.now() > runAt, 'the job to be due');
    const probe = await core.jobs.dispatch('core.noop', {});
    await until(probe.jobId, 'completed');
    const st = (await core.execute('query:jobs.get_status.v1', { job_id: jobId })) as { status: string; waiting_for: string };
    expect(st.status).toBe('queued');
    expect(st.waiting_for).toMatch(/extension 'later' is not loaded/);
    core.jobs.types.register('later', def);
    await until(jobId, 'completed');
  });

  it('after a restart: paused stays paused and resumes later, queued and delayed jobs run', async () => {
    const copy = await core.jobs.dispatch('core.count', { to: 100_000, delay_ms: 5 });
    await waitFor(async () => (((await core.jobs.get(copy.jobId)).state as { n: number } | null)?.n ?? 0) >= 2, 'progress');
    await core.jobs.pause(copy.jobId);
    await until(copy.jobId, 'paused');
    const n = ((await core.jobs.get(copy.jobId)).state as { n: number }).n;
    const delayed = await core.jobs.dispatch('core.noop', {}, { runAt: Date.now() + 600 });
    await core.close();
    await open();
    const queued = await core.jobs.dispatch('core.count', { to: 3 });
    await until(queued.jobId, 'completed');
    await until(delayed.jobId, 'completed');
    expect(await status(copy.jobId)).toBe('paused');
    await core.jobs.resume(copy.jobId);
    await waitFor(async () => ((await core.jobs.get(copy.jobId)).state as { n: number }).n > n, 'progress after resume');
    await core.jobs.cancel(copy.jobId);
    await until(copy.jobId, 'cancelled');
  });

  it('deletes finished jobs past their retention, keeping live ones', async () => {
    const done = await core.jobs.dispatch('core.noop', {});
    await until(done.jobId, 'completed');
    const live = await core.jobs.dispatch('core.noop', {}, { runAt: Date.now() + 60_000 });
    // Retention is 7 days by default: nothing is old enough yet.
    expect(await core.jobs.pruneFinished()).toBe(0);
    expect(await core.jobs.pruneFinished(Date.now() + 8 * 24 * 3_600_000)).toBe(1);
    await expect(core.jobs.get(done.jobId)).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
    expect((await core.jobs.get(live.jobId)).status).toBe('queued');
  });

  it('a graceful stop saves running jobs, which continue after the restart', async () => {
    const { jobId } = await core.jobs.dispatch('core.count', { to: 60, delay_ms: 10, ack_file: join(dir, 'acks') });
    await waitFor(async () => (((await core.jobs.get(jobId)).state as { n: number } | null)?.n ?? 0) >= 5, 'progress');
    await core.close();
    expect(await (async () => {
      const c2 = await Core.create(loadOptions({ overrides: { dataDir: dir, extensions: { autoload: false }, jobs: { maxConcurrent: 1 } } as PartialOptions, env: {} }), { logger: silentLogger() });
      core = c2;
      await until(jobId, 'completed');
      return (await core.jobs.get(jobId)).output;
    })()).toEqual({ n: 60 });
    const acks = readFileSync(join(dir, 'acks'), 'utf8').trim().split('\n').map(Number);
    expect(acks).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(existsSync(join(dir, 'jobs.db'))).toBe(true);
  });
});
