/**
 * The dashboard's job store (web/src/jobs-store.ts): how the event stream's `job:*` events change
 * its rows — status, progress, rate and ETA, finish times for the overview's chart — and the job
 * ids it shows, which must be the prefixes `spacedrive jobs list` prints.
 */
import { describe, expect, it } from 'vitest';
import { JobsStore, ownerOf, type JobRow } from '../../web/src/jobs-store.js';
import { shortIds as webShortIds } from '../../web/src/format.js';
import { shortIds as cliShortIds } from '../../src/cli/commands/jobs.js';
import type { DaemonEvent } from '../../web/src/events.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');

function ev(type: string, time: number, payload: Record<string, unknown>): DaemonEvent {
  return { type, time, payload: { job_id: 'j1', job_type: 'hello:countdown', ...payload } };
}

function progress(time: number, p: Partial<Record<'fraction' | 'items_done' | 'items_total' | 'bytes_done' | 'bytes_total', number>>): DaemonEvent {
  return ev('job:progress', time, { status: 'running', fraction: null, message: null, items_done: null, items_total: null, bytes_done: null, bytes_total: null, ...p });
}

function row(store: JobsStore): JobRow {
  return store.rows.get('j1')!;
}

describe('dashboard job store', () => {
  it('adds a queued job at the top, then follows it from start to completion', () => {
    const store = new JobsStore();
    store.apply({ type: 'job:queued', time: T0, payload: { job_id: 'j0', job_type: 'files.copy', status: 'queued', priority: 0, run_at: new Date(T0).toISOString() } });
    store.apply(ev('job:queued', T0 + 1, { status: 'queued', priority: 5, run_at: new Date(T0).toISOString() }));
    expect(store.order).toEqual(['j1', 'j0']);
    expect(row(store)).toMatchObject({ status: 'queued', priority: 5, job_type: 'hello:countdown' });

    store.apply(ev('job:started', T0 + 10, { status: 'running', attempt: 1, run: 1, resumed_from_checkpoint: false }));
    expect(row(store)).toMatchObject({ status: 'running', attempts: 1, waiting_for: null });
    expect(row(store).started_at).toBe(new Date(T0 + 10).toISOString());

    store.apply(ev('job:completed', T0 + 5000, { status: 'completed', output: {} }));
    expect(row(store)).toMatchObject({ status: 'completed', finished_at: new Date(T0 + 5000).toISOString(), rate: null });
    expect(row(store).progress.fraction).toBe(1);
    expect(store.finished).toEqual([{ at: T0 + 5000, ok: true }]);
  });

  it('derives rate and ETA from successive progress events, items first, smoothed, and drops them when paused', () => {
    const store = new JobsStore();
    store.apply(ev('job:queued', T0, { status: 'queued', priority: 0, run_at: new Date(T0).toISOString() }));
    store.apply(progress(T0 + 1000, { items_done: 10, items_total: 100, fraction: 0.1 }));
    expect(row(store).rate).toBeNull();
    store.apply(progress(T0 + 2000, { items_done: 30, items_total: 100, fraction: 0.3 }));
    expect(row(store)).toMatchObject({ rate: 20, rateUnit: 'items', etaSeconds: 3.5 });
    store.apply(progress(T0 + 3000, { items_done: 40, items_total: 100, fraction: 0.4 }));
    // 0.7 × 20 + 0.3 × 10 = 17 items/s; 60 left.
    expect(row(store).rate).toBeCloseTo(17);
    expect(row(store).etaSeconds).toBeCloseTo(60 / 17);
    expect(row(store).progress).toMatchObject({ items_done: 40, fraction: 0.4 });

    store.apply(ev('job:paused', T0 + 3500, { status: 'paused' }));
    expect(row(store)).toMatchObject({ status: 'paused', rate: null, etaSeconds: null });
  });

  it('measures bytes, else the fraction, when a job reports no items', () => {
    const store = new JobsStore();
    store.apply(ev('job:queued', T0, { status: 'queued', priority: 0, run_at: new Date(T0).toISOString() }));
    store.apply(progress(T0, { fraction: 0.5 }));
    store.apply(progress(T0 + 2000, { fraction: 0.6 }));
    expect(row(store).rateUnit).toBe('fraction');
    expect(row(store).rate).toBeCloseTo(0.05);
    expect(row(store).etaSeconds).toBeCloseTo(8);
  });

  it('keeps failures and retries: the error, the attempts, the retry time; a retried job is queued again', () => {
    const store = new JobsStore();
    store.apply(ev('job:queued', T0, { status: 'queued', priority: 0, run_at: new Date(T0).toISOString() }));
    const retryAt = new Date(T0 + 60_000).toISOString();
    store.apply(ev('job:retrying', T0 + 100, { status: 'waiting_retry', error: { code: 'TIMEOUT', message: 'slow' }, attempts: 1, retry_at: retryAt }));
    expect(row(store)).toMatchObject({ status: 'waiting_retry', attempts: 1, run_at: retryAt, error: { code: 'TIMEOUT' } });
    store.apply(ev('job:failed', T0 + 200, { status: 'failed', error: { code: 'TIMEOUT', message: 'slow' }, attempts: 3 }));
    expect(row(store)).toMatchObject({ status: 'failed', attempts: 3 });
    expect(store.finished).toEqual([{ at: T0 + 200, ok: false }]);
    store.apply(ev('job:queued', T0 + 300, { status: 'queued', priority: 0, run_at: new Date(T0 + 300).toISOString(), retried: true }));
    expect(row(store)).toMatchObject({ status: 'queued', error: null, finished_at: null });
    expect(store.order).toEqual(['j1']);
  });

  it('names owners as the job types do', () => {
    expect(ownerOf('finance:email_scan')).toBe('finance');
    expect(ownerOf('files.copy')).toBe('core');
  });

  it('shows job ids by the same shortest unique prefixes as the CLI', () => {
    const ids = [
      '01a25088-2743-70aa-8000-000000000001',
      '01a25088-2743-7bf0-8000-000000000002',
      '01a25088-2743-7bf1-8000-000000000003',
      '01a25089-0000-7000-8000-000000000004',
      '01a2508a-1111-7000-8000-000000000005',
    ];
    expect(Object.fromEntries(webShortIds(ids))).toEqual(Object.fromEntries(cliShortIds(ids)));
  });
});
