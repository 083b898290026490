/**
 * test-ext's `noop_job` (the extension job the `jobs` benchmark measures) runs for real through
 * core.jobs and the generic WASM job wrapper: it is registered resumable and every dispatched one
 * completes with `{}`, also when many are dispatched at once; the lines an extension job logs go
 * to that job's log; and a job waiting for a free instance behind long jobs has not stalled.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { waitFor } from '../helpers/wait.js';

const TEST_EXT = join(resolve(fileURLToPath(new URL('../..', import.meta.url))), 'build', 'extensions', 'test-ext');

let dir: string;
let core: Core;

beforeEach(async () => {
  expect(existsSync(join(TEST_EXT, 'manifest.json')), 'npm run build compiles build/extensions').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'sd-noopjob-'));
  core = await Core.create(loadOptions({ overrides: { dataDir: dir, extensions: { autoload: false } }, env: {} }), { logger: silentLogger() });
  await core.extensions.install(TEST_EXT);
});

afterEach(async () => {
  await core.close();
  rmSync(dir, { recursive: true, force: true });
});

it('is registered as a resumable job type of test-ext', async () => {
  const info = await core.extensions.info('test-ext');
  expect(info.job_types).toEqual(expect.arrayContaining([expect.objectContaining({ job_type: 'test-ext:noop_job', export_fn: 'noop_job', resumable: true })]));
});

it('completes every one of 200 jobs dispatched at once, each with output {}', async () => {
  const n = 200;
  const finished = new Map<string, string>();
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  core.events.subscribe(['job:completed', 'job:failed'], undefined, (e) => {
    finished.set(e.payload.job_id as string, e.type);
    if (finished.size === n) done();
  });
  const ids = await Promise.all(Array.from({ length: n }, async () => (await core.jobs.dispatch('test-ext:noop_job', {})).jobId));
  await all;
  expect(new Set(ids).size).toBe(n);
  for (const id of ids) expect(finished.get(id)).toBe('job:completed');
  const sample = await core.jobs.get(ids[n - 1]!);
  expect(sample).toMatchObject({ type: 'test-ext:noop_job', status: 'completed', output: {}, lastError: null });
});

it("puts the lines an extension job logs in that job's log, and no other job's", async () => {
  const a = (await core.jobs.dispatch('test-ext:counter', { to: 3 })).jobId;
  const b = (await core.jobs.dispatch('test-ext:counter', { to: 2 })).jobId;
  await waitFor(async () => (await core.jobs.get(a)).status === 'completed' && (await core.jobs.get(b)).status === 'completed', 'both counters to complete');
  const lines = async (id: string) => (await core.jobs.logs(id)).filter((l) => l.message.startsWith('acked')).map((l) => `${l.level} ${l.message}`);
  expect(await lines(a)).toEqual([1, 2, 3].map((n) => `info acked ${a} ${n}`));
  expect(await lines(b)).toEqual([1, 2].map((n) => `info acked ${b} ${n}`));
});

it('does not count the time a job waits for a free sandbox instance towards its stall timeout', async () => {
  // A core whose jobs stall after 600 ms without a report; test-ext has two instances. Calls
  // run on the workers only: on the main thread's instance the no-op jobs would never wait.
  const d = mkdtempSync(join(tmpdir(), 'sd-noopjob-stall-'));
  const c = await Core.create(loadOptions({ overrides: { dataDir: d, extensions: { autoload: false, inlineCalls: false }, jobs: { stallTimeoutMs: 600 } }, env: {} }), {
    logger: silentLogger(),
  });
  try {
    await c.extensions.install(TEST_EXT);
    // Both instances up first (the second starts in the background): with one, the second long
    // job would wait behind the first and the no-op jobs would find the other instance idle.
    await waitFor(async () => ((await c.extensions.info('test-ext')).stats?.instances ?? 0) >= 2, 'both instances of test-ext to start');
    // Two long jobs report every 100 ms for about 1.5 s and hold both instances...
    const long = await Promise.all([0, 1].map(async () => (await c.jobs.dispatch('test-ext:steps', { steps: 15, delay_ms: 100 })).jobId));
    await waitFor(async () => (await Promise.all(long.map((id) => c.jobs.get(id)))).every((j) => (j.progress.itemsDone ?? 0) >= 1), 'both long jobs to report');
    // ...so these wait for an instance for over a second: longer than the stall timeout.
    const waiting = await Promise.all([0, 1, 2].map(async () => (await c.jobs.dispatch('test-ext:noop_job', {})).jobId));
    // Running, and saying what it waits for.
    const view = await waitFor(async () => {
      const j = await c.jobs.get(waiting[2]!);
      return j.status === 'running' && j.waitingFor !== null ? j : undefined;
    }, 'the last no-op job to wait for an instance');
    expect(view.waitingFor).toBe("a free instance of extension 'test-ext' (every instance is busy)");
    await waitFor(async () => (await Promise.all([...long, ...waiting].map((id) => c.jobs.get(id)))).every((j) => j.status === 'completed'), 'every job to complete', 20_000);
    for (const id of waiting) {
      const job = await c.jobs.get(id);
      expect(job).toMatchObject({ status: 'completed', attempts: 0, lastError: null });
      expect((await c.jobs.logs(id)).map((l) => l.message).join('\n')).not.toMatch(/stalled/);
    }
  } finally {
    await c.close();
    rmSync(d, { recursive: true, force: true });
  }
});
