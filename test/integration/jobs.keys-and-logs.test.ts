/**
 * Dispatch idempotency keys and job logs, in an in-process core on a real SQLite file: a repeated
 * key returns the job it added (never a second), a key reused with other params is a typed
 * conflict; every log line — the daemon's own included — has its own increasing seq, so
 * `after_seq` continues a read to the end; the "queued" line says what the dispatch asked for,
 * whatever happens to the job later; a graceful close records each running job's interruption.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadOptions, type PartialOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { rejectionOf } from '../helpers/errors.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let core: Core;

async function open(extra: PartialOptions = {}): Promise<Core> {
  core = await Core.create(loadOptions({ overrides: { dataDir: dir, extensions: { autoload: false }, ...extra }, env: {} }), { logger: silentLogger() });
  return core;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sd-jobkeys-'));
  await open();
});

afterEach(async () => {
  await core.close();
  rmSync(dir, { recursive: true, force: true });
});

type Dispatched = { job_id: string; deduplicated: boolean; replayed?: boolean };
const dispatch = (payload: Record<string, unknown>) => core.execute('action:jobs.dispatch.input.v1', payload, { caller: { kind: 'client', chain: [] } }) as Promise<Dispatched>;
type WireLog = { seq: number; level: string; message: string };
const logsAfter = async (jobId: string, afterSeq?: number) =>
  ((await core.execute('query:jobs.logs.v1', { job_id: jobId, ...(afterSeq !== undefined ? { after_seq: afterSeq } : {}) })) as { logs: WireLog[] }).logs;

it('returns the job an earlier dispatch with the same idempotency key added, in any status, and adds no second one', async () => {
  const first = await dispatch({ job_type: 'core.count', params: { to: 2 }, idempotency_key: 'k-1' });
  expect(first).toEqual({ job_id: first.job_id, deduplicated: false });
  await waitFor(async () => (await core.jobs.get(first.job_id)).status === 'completed', 'the job to complete');
  const again = await dispatch({ job_type: 'core.count', params: { to: 2 }, idempotency_key: 'k-1' });
  expect(again).toEqual({ job_id: first.job_id, deduplicated: false, replayed: true });
  expect((await core.jobs.list({})).jobs).toHaveLength(1);
  // Keys belong to their dispatcher: core's own dispatch with the same key is another job.
  const byCore = await core.jobs.dispatch('core.count', { to: 2 }, { idempotencyKey: 'k-1' });
  expect(byCore.jobId).not.toBe(first.job_id);
});

it('refuses an idempotency key reused with other params with IDEMPOTENCY_KEY_CONFLICT, adding nothing', async () => {
  const first = await dispatch({ job_type: 'core.count', params: { to: 2 }, idempotency_key: 'k-2' });
  const err = await rejectionOf(dispatch({ job_type: 'core.count', params: { to: 3 }, idempotency_key: 'k-2' }));
  expect(err).toMatchObject({ code: 'IDEMPOTENCY_KEY_CONFLICT', details: { idempotency_key: 'k-2', job_id: first.job_id } });
  expect((await core.jobs.list({})).jobs).toHaveLength(1);
});

it('gives every log line its own increasing seq, so that after_seq reads on to the "completed" line', async () => {
  const { job_id } = await dispatch({ job_type: 'core.count', params: { to: 2 } });
  const firstRead = await logsAfter(job_id);
  expect(firstRead.map((l) => l.message)).toEqual(['queued by client']);
  await waitFor(async () => (await core.jobs.get(job_id)).status === 'completed', 'the job to complete');
  const rest = await waitFor(async () => {
    const lines = await logsAfter(job_id, firstRead.at(-1)!.seq);
    return lines.some((l) => l.message === 'completed') && lines;
  }, 'the completed line after the first read');
  expect(rest.map((l) => l.message)).toEqual(['started: attempt 1 of 3, run 1', 'completed']);
  const all = [...firstRead, ...rest].map((l) => l.seq);
  expect(all.every((seq, i) => seq > 0 && (i === 0 || seq > all[i - 1]!))).toBe(true);
});

it('keeps the "queued" line as the dispatch asked, after a cancel and a retry', async () => {
  const runAt = new Date(Date.now() + 3_600_000).toISOString();
  const { job_id } = await dispatch({ job_type: 'core.count', params: { to: 1 }, run_at: runAt });
  const before = (await logsAfter(job_id))[0]!;
  expect(before.message).toBe(`queued by client, to run at ${runAt}`);
  await core.jobs.cancel(job_id);
  await core.jobs.retry(job_id);
  expect((await logsAfter(job_id))[0]).toEqual(before);
});

it('records the interruption of a job running when the core closes gracefully, and logs no failure', async () => {
  const { jobId } = await core.jobs.dispatch('core.count', { to: 1_000_000, delay_ms: 5 });
  await waitFor(async () => ((await core.jobs.get(jobId)).state as { n: number } | null)?.n, 'the job to checkpoint');
  await core.close();
  await open();
  const lines = (await core.jobs.logs(jobId)).map((l) => l.message);
  expect(lines).toContain('stopped with the daemon; it continues from its checkpoint at the next start');
  expect(lines.join('\n')).not.toMatch(/the daemon stopped while this job was running/);
});
