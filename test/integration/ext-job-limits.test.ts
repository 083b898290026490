/**
 * Extension job handlers that misbehave (test/fixtures/wat/job-hostile.wat), run by the real job
 * system in an in-process core with real SQLite and real workers: a handler that stops reporting
 * is stopped by its manifest's no-progress limit and retried from its checkpoint; cancel,
 * uninstall, disable and reload stop it at once; a checkpoint over `limits.max_state_bytes` fails
 * the attempt and is not written.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOptions, type PartialOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { rejectionOf } from '../helpers/errors.js';
import { waitFor } from '../helpers/wait.js';
import { compileWat } from '../helpers/wat.js';

let dir: string;
let core: Core | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-extjoblimits-'));
});

afterEach(async () => {
  await core?.close();
  core = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Writes the job-hostile fixture as package `hostile` with these manifest limits. */
async function hostilePackage(limits: Record<string, number> = {}, name = 'pkg'): Promise<string> {
  const wasm = await compileWat('job-hostile');
  const pkg = join(dir, name);
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'hostile.wasm'), wasm);
  const manifest = {
    id: 'hostile',
    name: 'Hostile jobs',
    version: '1.0.0',
    module: 'hostile.wasm',
    sha256: createHash('sha256').update(wasm).digest('hex'),
    abi_version: 1,
    limits: { instances: 1, ...limits },
  };
  writeFileSync(join(pkg, 'manifest.json'), JSON.stringify(manifest));
  return pkg;
}

/**
 * A core with the hostile extension installed. A pause's grace is made longer than any test:
 * what stops a handler here must not be that grace running out.
 */
async function startCore(limits: Record<string, number> = {}, overrides: PartialOptions = {}): Promise<Core> {
  core = await Core.create(
    loadOptions({
      overrides: { dataDir: join(dir, 'data'), ...overrides, extensions: { autoload: false, jobInterruptGraceMs: 600_000, ...overrides.extensions }, jobs: { shutdownGraceMs: 50, ...overrides.jobs } },
      env: {},
    }),
    { logger: silentLogger() },
  );
  const info = await core.extensions.install(await hostilePackage(limits));
  expect(info.state).toBe('loaded');
  return core;
}

/** Resolves with the first event of `type` about `jobId`. */
function nextEvent(c: Core, type: string, jobId: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const sub = c.events.subscribe([type], { job_id: jobId }, (e) => {
      sub.unsubscribe();
      resolve(e.payload);
    });
  });
}

/** Dispatches `hostile:spin` and waits until its handler has reported its one checkpoint. */
async function spinning(c: Core, opts: { maxAttempts?: number } = {}): Promise<string> {
  const { jobId } = await c.jobs.dispatch('hostile:spin', {}, opts);
  await waitFor(async () => {
    const job = await c.jobs.get(jobId);
    return job.status === 'running' && job.state !== null;
  }, 'the spin job to report its checkpoint');
  return jobId;
}

const messages = async (c: Core, jobId: string) => (await c.jobs.logs(jobId)).map((l) => l.message);

describe('a job handler that stops reporting progress', () => {
  it("is stopped by its manifest's limits.job_progress_timeout_ms with EXTENSION_TIMEOUT, and retried from its checkpoint", async () => {
    const c = await startCore({ job_progress_timeout_ms: 300 });
    const { jobId } = await c.jobs.dispatch('hostile:spin', {}, { maxAttempts: 2 });
    const failed = nextEvent(c, 'job:failed', jobId);
    await failed;
    const job = await c.jobs.get(jobId);
    expect(job.status).toBe('failed');
    expect(job.errors.map((e) => e.code)).toEqual(['EXTENSION_TIMEOUT', 'EXTENSION_TIMEOUT']);
    expect(job.lastError?.message).toMatch(/ran 300 ms without reporting progress/);
    // The second attempt started from the checkpoint the first one wrote.
    expect(job.state).toEqual({ reported: true });
    expect((await messages(c, jobId)).some((m) => /started: attempt 2 of 2, run 2, from its last checkpoint/.test(m))).toBe(true);
  });

  it('refuses a manifest asking for a no-progress limit above the host ceiling', async () => {
    core = await Core.create(loadOptions({ overrides: { dataDir: join(dir, 'data'), extensions: { autoload: false } }, env: {} }), { logger: silentLogger() });
    const err = await rejectionOf(core.extensions.install(await hostilePackage({ job_progress_timeout_ms: 3_600_001 })));
    expect(err).toMatchObject({ code: 'EXTENSION_INVALID', details: { field: 'limits.job_progress_timeout_ms', ceiling: 3_600_000 } });
  });

  it('is stopped at once by a cancel, and the job ends cancelled', async () => {
    const c = await startCore();
    const jobId = await spinning(c);
    const cancelled = nextEvent(c, 'job:cancelled', jobId);
    await c.jobs.cancel(jobId);
    await cancelled;
    expect((await c.jobs.get(jobId)).status).toBe('cancelled');
    expect(c.jobs.runner.runningCount).toBe(0);
  });

  it('is stopped at once by an uninstall, which answers; the job goes back to the queue, waiting for its type', async () => {
    const c = await startCore();
    const jobId = await spinning(c);
    await c.extensions.uninstall('hostile');
    await waitFor(async () => (await c.jobs.get(jobId)).status === 'queued', 'the job to be back in the queue');
    const job = await c.jobs.get(jobId);
    expect(job.waitingFor).toMatch(/extension 'hostile' is not loaded/);
    expect(job.attempts).toBe(0);
    await waitFor(async () => (await messages(c, jobId)).some((m) => m.includes('uninstalled')), 'the log line');
    const log = await messages(c, jobId);
    expect(log).toContain("extension 'hostile' was uninstalled while the job ran; back in the queue, it continues from its checkpoint");
    expect(log.join('\n')).not.toMatch(/stopped with the daemon/);
  });

  it('is stopped at once by a disable, and continues from its checkpoint once enabled', async () => {
    const c = await startCore();
    const jobId = await spinning(c);
    await c.extensions.disable('hostile');
    await waitFor(async () => (await c.jobs.get(jobId)).status === 'queued', 'the job to be back in the queue');
    await c.extensions.enable('hostile');
    await waitFor(async () => (await c.jobs.get(jobId)).runs === 2 && (await c.jobs.get(jobId)).status === 'running', 'the job to run again');
    await waitFor(async () => (await messages(c, jobId)).some((m) => m.includes('run 2, from its last checkpoint')), 'the second start line');
  });

  it('is stopped at once by a reload; its log says so truthfully, and it runs again on the new version', async () => {
    const c = await startCore();
    const jobId = await spinning(c);
    await c.extensions.reload('hostile');
    await waitFor(async () => (await c.jobs.get(jobId)).runs === 2, 'the job to run again');
    await waitFor(async () => (await messages(c, jobId)).some((m) => m.includes('was reloaded')), 'the reload line');
    const log = await messages(c, jobId);
    expect(log).toContain("extension 'hostile' was reloaded while the job ran; back in the queue, it continues from its checkpoint");
    expect(log.join('\n')).not.toMatch(/stopped with the daemon/);
  });

  it('is given up when the core closes and it does not return in time: back in the queue, with a line saying so', async () => {
    const c = await startCore();
    const jobId = await spinning(c);
    await c.close();
    core = await Core.create(loadOptions({ overrides: { dataDir: join(dir, 'data'), extensions: { autoload: false } }, env: {} }), { logger: silentLogger() });
    expect((await core.jobs.get(jobId)).status).toBe('queued');
    const log = await messages(core, jobId);
    expect(log).toContain('the daemon stopped and this run did not return within 50 ms; it continues from its last checkpoint at the next start');
    expect(log.join('\n')).not.toMatch(/the daemon stopped while this job was running/);
  });
});

describe('a checkpoint over limits.max_state_bytes', () => {
  it('fails the attempt with JOB_STATE_TOO_LARGE and is not written (default limit 1 MiB)', async () => {
    const c = await startCore();
    const { jobId } = await c.jobs.dispatch('hostile:big_state', {}, { maxAttempts: 1 });
    await nextEvent(c, 'job:failed', jobId);
    const job = await c.jobs.get(jobId);
    expect(job.lastError).toMatchObject({ code: 'JOB_STATE_TOO_LARGE' });
    expect(job.lastError?.message).toMatch(/checkpoint of 2097160 bytes, over its limit of 1048576 bytes \(limits\.max_state_bytes\)/);
    expect(job.state).toBeNull();
    expect(job.progress.message).toBeNull();
  });

  it('is written when the manifest allows it', async () => {
    const c = await startCore({ max_state_bytes: 4 * 1024 * 1024 });
    const { jobId } = await c.jobs.dispatch('hostile:big_state', {}, { maxAttempts: 1 });
    await nextEvent(c, 'job:completed', jobId);
    expect(((await c.jobs.get(jobId)).state as { s: string }).s).toHaveLength(2 * 1024 * 1024);
  });
});
