/**
 * The job store contract: every JobStore implementation (SQLite now, PostgreSQL later) must
 * pass this suite unchanged. Call {@link jobStoreContract} from a `*.test.ts` file with a factory
 * that opens a fresh, empty store (and `reopen` for durability checks).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobStore, Lease, NewJob } from '../../src/jobs/store/index.js';
import { startedLine } from '../../src/jobs/store/transitions.js';

export interface StoreFactory {
  /** A fresh, empty store. */
  create(): Promise<JobStore>;
  /** Opens the same store again after `close()` (durability across restarts). */
  reopen(store: JobStore): Promise<JobStore>;
  /** Cleans up after the test. */
  destroy?(): Promise<void>;
}

const W = 'worker-a';
const SLOTS = { 't.a': 100, 't.b': 100 };

function job(over: Partial<NewJob> = {}): NewJob {
  return { type: 't.a', params: { x: 1 }, maxAttempts: 3, ...over };
}

function leaseOf(rec: { id: string; runId: number }, workerId = W): Lease {
  return { jobId: rec.id, workerId, runId: rec.runId };
}

export function jobStoreContract(name: string, factory: StoreFactory): void {
  describe(`JobStore contract: ${name}`, () => {
    let store: JobStore;
    beforeEach(async () => {
      store = await factory.create();
    });
    afterEach(async () => {
      await store.close();
      await factory.destroy?.();
    });

    async function claimOne(now = Date.now(), slots: Record<string, number> = SLOTS) {
      const [rec] = await store.claim({ workerId: W, now, limit: 1, slots, leaseMs: 60_000 });
      return rec;
    }

    it("takes the caller's clock for a new job's creation and, without a run_at, its due time", async () => {
      const now = Date.now() - 5_000;
      const { job: rec } = await store.enqueue(job({ now }));
      expect(rec).toMatchObject({ createdAt: now, runAt: now });
      expect(await store.get(rec.id)).toMatchObject({ createdAt: now, updatedAt: now, runAt: now });
    });

    it('enqueues a queued job with its params and defaults', async () => {
      const { job: rec, deduplicated } = await store.enqueue(job({ dispatchedBy: 'client', libraryId: 'lib1' }));
      expect(deduplicated).toBe(false);
      expect(rec).toMatchObject({ type: 't.a', status: 'queued', params: { x: 1 }, state: null, attempts: 0, maxAttempts: 3, priority: 0, dispatchedBy: 'client', libraryId: 'lib1' });
      expect(await store.get(rec.id)).toEqual(rec);
      expect(await store.get('nope')).toBeNull();
    });

    it('hands a claimed job the library it was dispatched with (its runs and resumes get it)', async () => {
      await store.enqueue(job({ libraryId: 'lib1' }));
      expect(await claimOne()).toMatchObject({ libraryId: 'lib1' });
      await store.enqueue(job());
      expect((await claimOne())!.libraryId ?? null).toBeNull();
    });

    it('finds ids by prefix, in id order, up to a limit, and nothing for a prefix no id has', async () => {
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await store.enqueue(job())).job.id);
      ids.sort();
      let common = ids[0]!;
      for (const id of ids) while (!id.startsWith(common)) common = common.slice(0, -1);
      expect(await store.findIdsByPrefix(common, 10)).toEqual(ids);
      expect(await store.findIdsByPrefix(common, 2)).toEqual(ids.slice(0, 2));
      expect(await store.findIdsByPrefix(ids[1]!, 10)).toEqual([ids[1]]);
      expect(await store.findIdsByPrefix(`${common}~`, 10)).toEqual([]);
      expect(await store.findIdsByPrefix('', 10)).toEqual([]);
    });

    it('deduplicates live jobs of the same type and key, not finished ones or other types', async () => {
      const a = await store.enqueue(job({ dedupeKey: 'k' }));
      const b = await store.enqueue(job({ dedupeKey: 'k' }));
      expect(b.deduplicated).toBe(true);
      expect(b.job.id).toBe(a.job.id);
      const other = await store.enqueue(job({ type: 't.b', dedupeKey: 'k' }));
      expect(other.deduplicated).toBe(false);
      const rec = (await claimOne(Date.now(), { 't.a': 1 }))!;
      await store.finish(leaseOf(rec), { kind: 'completed', output: 1 }, Date.now());
      const c = await store.enqueue(job({ dedupeKey: 'k' }));
      expect(c.deduplicated).toBe(false);
      expect(c.job.id).not.toBe(a.job.id);
    });

    it('claims by priority, then run_at, then age, and never a delayed job early', async () => {
      const now = Date.now();
      const low = await store.enqueue(job({ priority: 0, runAt: now - 10 }));
      const high = await store.enqueue(job({ priority: 5, runAt: now - 5 }));
      const older = await store.enqueue(job({ priority: 0, runAt: now - 20 }));
      const later = await store.enqueue(job({ priority: 10, runAt: now + 60_000 }));
      const claimed = await store.claim({ workerId: W, now, limit: 10, slots: SLOTS, leaseMs: 60_000 });
      expect(claimed.map((c) => c.id)).toEqual([high.job.id, older.job.id, low.job.id]);
      expect(claimed.every((c) => c.status === 'running' && c.runs === 1 && c.attempts === 0 && c.maxAttempts === 3)).toBe(true);
      expect(claimed[0]!.params).toEqual({ x: 1 });
      expect(await store.get(high.job.id)).toMatchObject({ status: 'running', workerId: W, runs: 1, runId: claimed[0]!.runId });
      expect(await store.nextRunAt(['t.a'], now)).toBe(later.job.runAt);
      const [delayed] = await store.claim({ workerId: W, now: now + 60_001, limit: 10, slots: SLOTS, leaseMs: 60_000 });
      expect(delayed!.id).toBe(later.job.id);
    });

    it('respects the limit and per-type slots, and skips types not offered', async () => {
      for (let i = 0; i < 5; i++) await store.enqueue(job());
      for (let i = 0; i < 5; i++) await store.enqueue(job({ type: 't.b' }));
      await store.enqueue(job({ type: 't.unknown' }));
      const claimed = await store.claim({ workerId: W, now: Date.now(), limit: 6, slots: { 't.a': 2, 't.b': 3 }, leaseMs: 60_000 });
      expect(claimed.length).toBe(5);
      expect(claimed.filter((c) => c.type === 't.a').length).toBe(2);
      expect(claimed.filter((c) => c.type === 't.b').length).toBe(3);
      const again = await store.claim({ workerId: W, now: Date.now(), limit: 1, slots: SLOTS, leaseMs: 60_000 });
      expect(again.length).toBe(1);
    });

    it('claims across types in one order (priority, run_at, age), each type within its room', async () => {
      const now = Date.now();
      const a1 = await store.enqueue(job({ type: 't.a', priority: 1, runAt: now - 30 }));
      const b1 = await store.enqueue(job({ type: 't.b', priority: 3, runAt: now - 10 }));
      const a2 = await store.enqueue(job({ type: 't.a', priority: 3, runAt: now - 20 }));
      const b2 = await store.enqueue(job({ type: 't.b', priority: 1, runAt: now - 40 }));
      await store.enqueue(job({ type: 't.b', priority: 0, runAt: now - 50 }));
      await store.enqueue(job({ type: 't.c', priority: 9, runAt: now - 60 })); // no room for t.c
      const claimed = await store.claim({ workerId: W, now, limit: 4, slots: { 't.a': 5, 't.b': 2, 't.c': 0 }, leaseMs: 60_000 });
      expect(claimed.map((c) => c.id)).toEqual([a2.job.id, b1.job.id, b2.job.id, a1.job.id]);
      // The next delayed job of any of the types asked about.
      const soonB = await store.enqueue(job({ type: 't.b', runAt: now + 5_000 }));
      await store.enqueue(job({ type: 't.a', runAt: now + 9_000 }));
      await store.enqueue(job({ type: 't.c', runAt: now + 1_000 }));
      expect(await store.nextRunAt(['t.a', 't.b'], now)).toBe(soonB.job.runAt);
    });

    it('caps a group of types together (an owner-wide limit) while other types fill the rest', async () => {
      const now = Date.now();
      for (let i = 0; i < 3; i++) await store.enqueue(job({ type: 'x.one', runAt: now - 100 + i }));
      for (let i = 0; i < 3; i++) await store.enqueue(job({ type: 'x.two', runAt: now - 50 + i }));
      for (let i = 0; i < 3; i++) await store.enqueue(job({ type: 't.a', runAt: now - 10 + i }));
      const claimed = await store.claim({
        workerId: W,
        now,
        limit: 6,
        slots: { 'x.one': 3, 'x.two': 3, 't.a': 3 },
        groups: [{ limit: 2, types: ['x.one', 'x.two'] }],
        leaseMs: 60_000,
      });
      // The group's two oldest jobs (both x.one), then the other type.
      expect(claimed.map((c) => c.type)).toEqual(['x.one', 'x.one', 't.a', 't.a', 't.a']);
    });

    it('claims a job of a type again by every route that makes one runnable after a claim found none', async () => {
      const now = Date.now();
      const nothing = async () => expect(await claimOne(now + 10_000)).toBeUndefined();
      await nothing();
      const q = (await store.enqueue(job({ runAt: now }))).job;
      // Enqueued after a claim found nothing of its type.
      let rec = (await claimOne(now))!;
      expect(rec.id).toBe(q.id);
      await nothing();
      // Interrupted (stopped with the daemon): queued again.
      await store.finish(leaseOf(rec), { kind: 'interrupted', state: { n: 1 } }, now);
      rec = (await claimOne(now))!;
      expect(rec.id).toBe(q.id);
      await nothing();
      // A failed attempt waiting for its retry.
      await store.finish(leaseOf(rec), { kind: 'failed', error: { code: 'X', message: 'x' }, retryAt: now + 5 }, now);
      rec = (await claimOne(now + 5))!;
      expect(rec.id).toBe(q.id);
      await nothing();
      // Paused on request, then resumed.
      await store.requestControl(q.id, 'pause', now);
      await store.finish(leaseOf(rec), { kind: 'interrupted' }, now);
      await nothing();
      await store.resume(q.id, now);
      // (It keeps the run_at of its retry.)
      rec = (await claimOne(now + 5))!;
      expect(rec.id).toBe(q.id);
      await nothing();
      // Failed for good, then retried.
      await store.finish(leaseOf(rec), { kind: 'failed', error: { code: 'X', message: 'x' }, retryAt: null }, now);
      await nothing();
      await store.retry(q.id, { fromScratch: false, now });
      rec = (await claimOne(now))!;
      expect(rec.id).toBe(q.id);
      await nothing();
      // Running when the daemon died: recovered to the queue.
      await store.recover({ scope: 'all', now });
      expect((await claimOne(now))!.id).toBe(q.id);
    });

    it('writes progress and state together, merging progress fields, and fences stale runs', async () => {
      await store.enqueue(job());
      const rec = (await claimOne())!;
      const r1 = await store.checkpoint(leaseOf(rec), { state: { n: 1 }, progress: { fraction: 0.1, itemsTotal: 10 }, now: Date.now(), leaseMs: 60_000 });
      expect(r1).toEqual({ owned: true, requested: null });
      await store.checkpoint(leaseOf(rec), { progress: { itemsDone: 1 }, warning: 'careful', now: Date.now(), leaseMs: 60_000 });
      const got = (await store.get(rec.id))!;
      expect(got.state).toEqual({ n: 1 });
      expect(got.progress).toMatchObject({ fraction: 0.1, itemsTotal: 10, itemsDone: 1 });
      expect(got.warnings).toEqual(['careful']);
      expect(got.checkpointAt).not.toBeNull();
      const stale = { ...leaseOf(rec), runId: rec.runId - 1 };
      expect((await store.checkpoint(stale, { state: { n: 99 }, now: Date.now(), leaseMs: 1 })).owned).toBe(false);
      expect((await store.checkpoint(leaseOf(rec, 'worker-b'), { state: { n: 99 }, now: Date.now(), leaseMs: 1 })).owned).toBe(false);
      expect(await store.finish(stale, { kind: 'completed', output: null }, Date.now())).toBeNull();
      expect((await store.get(rec.id))!.state).toEqual({ n: 1 });
    });

    it("writes a job's first line with the job, a checkpoint's and a completion's with them; a fenced checkpoint writes neither", async () => {
      const queued = (await store.enqueue({ ...job(), log: { level: 'info', message: 'queued by tests' } })).job;
      const rec = (await claimOne())!;
      expect(rec.id).toBe(queued.id);
      await store.checkpoint(leaseOf(rec), { state: { n: 1 }, warning: 'careful', log: { level: 'warn', message: 'careful' }, now: Date.now(), leaseMs: 60_000 });
      const stale = { ...leaseOf(rec), runId: rec.runId - 1 };
      await store.checkpoint(stale, { state: { n: 2 }, log: { level: 'warn', message: 'from a stale run' }, now: Date.now(), leaseMs: 60_000 });
      await store.finish(leaseOf(rec), { kind: 'completed', output: null, log: { level: 'info', message: 'completed' } }, Date.now());
      const logs = await store.logs(rec.id);
      expect(logs.map((l) => [l.level, l.message])).toEqual([
        ['info', 'queued by tests'],
        ['warn', 'careful'],
        ['info', 'completed'],
      ]);
      expect(logs[1]!.seq).toBeGreaterThan(logs[0]!.seq);
      expect(logs[2]!.seq).toBeGreaterThan(logs[1]!.seq);
    });

    it("writes each claimed run's `started` line in the claim when asked (the runner's text), and none when not", async () => {
      const a = (await store.enqueue(job())).job;
      const silent = await store.claim({ workerId: W, now: Date.now(), limit: 1, slots: SLOTS, leaseMs: 60_000 });
      expect(silent.map((c) => c.id)).toEqual([a.id]);
      expect(await store.logs(a.id)).toEqual([]);
      // A second run, resumed from a checkpoint: its line says so.
      await store.checkpoint(leaseOf(silent[0]!), { state: { n: 1 }, now: Date.now(), leaseMs: 60_000 });
      await store.finish(leaseOf(silent[0]!), { kind: 'interrupted' }, Date.now());
      const b = (await store.enqueue(job({ type: 't.b', maxAttempts: 5 }))).job;
      const now = Date.now();
      const claimed = await store.claim({ workerId: W, now, limit: 10, slots: SLOTS, leaseMs: 60_000, logStarted: true });
      expect(claimed.map((c) => c.id).sort()).toEqual([a.id, b.id].sort());
      for (const c of claimed) {
        const logs = await store.logs(c.id);
        expect(logs.map((l) => [l.level, l.message, l.time])).toEqual([['info', startedLine(c), now]]);
      }
      expect(startedLine(claimed.find((c) => c.id === a.id)!)).toBe('started: attempt 1 of 3, run 2, from its last checkpoint');
      expect(startedLine(claimed.find((c) => c.id === b.id)!)).toBe('started: attempt 1 of 5, run 1');
    });

    it('returns the job added under an idempotency key, per dispatcher, and refuses the key with another fingerprint', async () => {
      const first = await store.enqueue({ ...job(), dispatchedBy: 'client', idempotencyKey: 'k', fingerprint: 'f1' });
      expect(first).toMatchObject({ deduplicated: false, replayed: false });
      const again = await store.enqueue({ ...job(), dispatchedBy: 'client', idempotencyKey: 'k', fingerprint: 'f1' });
      expect(again).toMatchObject({ deduplicated: false, replayed: true, job: { id: first.job.id } });
      await expect(store.enqueue({ ...job(), dispatchedBy: 'client', idempotencyKey: 'k', fingerprint: 'f2' })).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_CONFLICT' });
      const other = await store.enqueue({ ...job(), dispatchedBy: 'extension:x', idempotencyKey: 'k', fingerprint: 'f1' });
      expect(other.job.id).not.toBe(first.job.id);
      expect((await store.list({ limit: 10 })).jobs).toHaveLength(2);
    });

    it('keeps an acknowledged checkpoint across close and reopen', async () => {
      await store.enqueue(job());
      const rec = (await claimOne())!;
      const big = { blob: 'x'.repeat(1024), n: 42 };
      await store.checkpoint(leaseOf(rec), { state: big, now: Date.now(), leaseMs: 60_000 });
      store = await factory.reopen(store);
      const got = (await store.get(rec.id))!;
      expect(got.state).toEqual(big);
      expect(got.status).toBe('running');
    });

    it('completes a job; a completed job is never claimed again', async () => {
      await store.enqueue(job());
      const rec = (await claimOne())!;
      const done = await store.finish(leaseOf(rec), { kind: 'completed', output: { ok: true } }, Date.now());
      expect(done).toMatchObject({ id: rec.id, type: 't.a', status: 'completed', output: { ok: true }, lastError: null });
      const stored = (await store.get(rec.id))!;
      expect(stored).toMatchObject({ status: 'completed', output: { ok: true }, workerId: null, leaseUntil: null });
      expect(stored.progress.fraction).toBe(1);
      expect(stored.finishedAt).not.toBeNull();
      expect(await claimOne()).toBeUndefined();
    });

    it('retries a failed attempt at retryAt, then fails for good', async () => {
      const now = Date.now();
      await store.enqueue(job({ maxAttempts: 2, runAt: now }));
      const rec = (await claimOne(now))!;
      const w = await store.finish(leaseOf(rec), { kind: 'failed', error: { code: 'X', message: 'boom' }, retryAt: now + 1000 }, now);
      expect(w).toMatchObject({ status: 'waiting_retry', attempts: 1, runAt: now + 1000, lastError: { code: 'X', message: 'boom' } });
      expect(await claimOne(now + 999)).toBeUndefined();
      const again = (await claimOne(now + 1000))!;
      expect(again.id).toBe(rec.id);
      const f = await store.finish(leaseOf(again), { kind: 'failed', error: { code: 'Y', message: 'again' }, retryAt: null }, now + 1001);
      expect(f).toMatchObject({ status: 'failed', attempts: 2 });
      expect((await store.get(rec.id))!.errors.map((e) => e.code)).toEqual(['X', 'Y']);
    });

    it('a failure that spends no attempt (a full disk) waits for its retry and keeps every attempt', async () => {
      const now = Date.now();
      await store.enqueue(job({ maxAttempts: 1, runAt: now }));
      const rec = (await claimOne(now))!;
      const full = { code: 'STORAGE_FULL', message: 'no space left' };
      const w = await store.finish(leaseOf(rec), { kind: 'failed', error: full, retryAt: now + 50, spendsAttempt: false }, now);
      expect(w).toMatchObject({ status: 'waiting_retry', attempts: 0, runAt: now + 50, lastError: full });
      expect((await store.get(rec.id))!.errors).toMatchObject([{ attempt: 1, code: 'STORAGE_FULL' }]);
      const again = (await claimOne(now + 50))!;
      expect(again).toMatchObject({ id: rec.id, attempts: 0 });
    });

    it('pauses and cancels queued jobs at once, running jobs on request', async () => {
      const q = (await store.enqueue(job())).job;
      const paused = await store.requestControl(q.id, 'pause', Date.now());
      expect(paused).toMatchObject({ immediate: true, job: { status: 'paused' } });
      await expect(store.requestControl(q.id, 'pause', Date.now())).rejects.toMatchObject({ code: 'INVALID_JOB_STATE' });
      expect(await claimOne()).toBeUndefined();
      const resumed = await store.resume(q.id, Date.now());
      expect(resumed.status).toBe('queued');
      const rec = (await claimOne())!;
      const asked = await store.requestControl(rec.id, 'pause', Date.now());
      expect(asked).toMatchObject({ immediate: false, job: { status: 'running', requested: 'pause' } });
      expect((await store.checkpoint(leaseOf(rec), { state: { n: 2 }, now: Date.now(), leaseMs: 60_000 })).requested).toBe('pause');
      const p = await store.finish(leaseOf(rec), { kind: 'interrupted', state: { n: 3 } }, Date.now());
      expect(p).toMatchObject({ status: 'paused', state: { n: 3 }, requested: null, attempts: 0 });
      const c = await store.requestControl(rec.id, 'cancel', Date.now());
      expect(c).toMatchObject({ immediate: true, job: { status: 'cancelled' } });
      await expect(store.resume(rec.id, Date.now())).rejects.toMatchObject({ code: 'INVALID_JOB_STATE' });
      await expect(store.requestControl(rec.id, 'cancel', Date.now())).rejects.toMatchObject({ code: 'INVALID_JOB_STATE' });
      await expect(store.requestControl('missing', 'cancel', Date.now())).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
    });

    it('a cancel request on a running job ends it cancelled, even if it then fails', async () => {
      await store.enqueue(job());
      const rec = (await claimOne())!;
      await store.requestControl(rec.id, 'pause', Date.now());
      await store.requestControl(rec.id, 'cancel', Date.now());
      const r = await store.finish(leaseOf(rec), { kind: 'failed', error: { code: 'X', message: 'x' }, retryAt: Date.now() }, Date.now());
      expect(r!.status).toBe('cancelled');
    });

    it('retries a failed or cancelled job from its checkpoint or from scratch', async () => {
      await store.enqueue(job({ maxAttempts: 1 }));
      const rec = (await claimOne())!;
      await store.checkpoint(leaseOf(rec), { state: { n: 5 }, progress: { fraction: 0.5 }, now: Date.now(), leaseMs: 60_000 });
      await store.finish(leaseOf(rec), { kind: 'failed', error: { code: 'X', message: 'x' }, retryAt: null }, Date.now());
      const r = await store.retry(rec.id, { fromScratch: false, now: Date.now() });
      expect(r).toMatchObject({ status: 'queued', attempts: 0, state: { n: 5 }, finishedAt: null });
      await expect(store.retry(rec.id, { fromScratch: false, now: Date.now() })).rejects.toMatchObject({ code: 'INVALID_JOB_STATE' });
      await store.requestControl(rec.id, 'cancel', Date.now());
      const s = await store.retry(rec.id, { fromScratch: true, now: Date.now() });
      expect(s).toMatchObject({ status: 'queued', state: null });
      expect(s.progress.fraction).toBeNull();
    });

    it('recovers running jobs after a crash: queued with their checkpoint, requests honoured', async () => {
      for (let i = 0; i < 3; i++) await store.enqueue(job());
      await store.enqueue(job({ type: 't.b' }));
      const claimed = await store.claim({ workerId: W, now: Date.now(), limit: 4, slots: SLOTS, leaseMs: 60_000 });
      const [a, b, c, d] = claimed as [typeof claimed[0], typeof claimed[0], typeof claimed[0], typeof claimed[0]];
      await store.checkpoint(leaseOf(a), { state: { n: 7 }, now: Date.now(), leaseMs: 60_000 });
      await store.checkpoint(leaseOf(d), { state: { n: 8 }, now: Date.now(), leaseMs: 60_000 });
      await store.requestControl(b.id, 'pause', Date.now());
      await store.requestControl(c.id, 'cancel', Date.now());
      store = await factory.reopen(store);
      const recovered = await store.recover({ now: Date.now(), scope: 'all', nonResumableTypes: ['t.b'] });
      expect(recovered.length).toBe(4);
      expect(await store.get(a.id)).toMatchObject({ status: 'queued', state: { n: 7 }, attempts: 0, workerId: null });
      expect((await store.get(b.id))!.status).toBe('paused');
      expect((await store.get(c.id))!.status).toBe('cancelled');
      expect(await store.get(d.id)).toMatchObject({ status: 'queued', state: null });
      // The old run's lease is dead: its late writes are refused.
      expect((await store.checkpoint(leaseOf(a), { state: { n: 1 }, now: Date.now(), leaseMs: 1 })).owned).toBe(false);
      const again = (await claimOne())!;
      expect(again.runId).toBeGreaterThan(a.runId);
    });

    it('recovers only expired leases when asked, and heartbeats renew leases', async () => {
      await store.enqueue(job());
      await store.enqueue(job());
      const now = Date.now();
      const [a, b] = await store.claim({ workerId: W, now, limit: 2, slots: SLOTS, leaseMs: 1000 });
      expect(await store.heartbeat([leaseOf(a!)], now, 10_000)).toEqual([a!.id]);
      const rec = await store.recover({ now: now + 2000, scope: 'expired' });
      expect(rec.map((r) => r.id)).toEqual([b!.id]);
      expect((await store.get(a!.id))!.status).toBe('running');
      expect(await store.heartbeat([leaseOf(b!)], now, 10_000)).toEqual([]);
    });

    it('lists newest first with filters and cursor pages', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await store.enqueue(job())).job.id);
      await store.enqueue(job({ type: 't.b' }));
      const p1 = await store.list({ type: 't.a', limit: 2 });
      expect(p1.jobs.map((j) => j.id)).toEqual([ids[4], ids[3]]);
      const p2 = await store.list({ type: 't.a', limit: 2, cursor: p1.nextCursor });
      expect(p2.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]]);
      const p3 = await store.list({ type: 't.a', limit: 2, cursor: p2.nextCursor });
      expect(p3.jobs.map((j) => j.id)).toEqual([ids[0]]);
      expect(p3.nextCursor).toBeNull();
      expect((await store.list({ status: 'queued' })).jobs.length).toBe(6);
      expect((await store.list({ status: ['running', 'paused'] })).jobs.length).toBe(0);
      const counts = await store.countByStatus();
      expect(counts.queued).toBe(6);
      expect(counts.completed).toBe(0);
    });

    it('prunes finished jobs older than the cut-off with their logs, never live ones', async () => {
      const old = (await store.enqueue(job())).job;
      const live = (await store.enqueue(job({ type: 't.b' }))).job;
      const rec = (await claimOne(Date.now(), { 't.a': 1 }))!;
      expect(rec.id).toBe(old.id);
      await store.finish(leaseOf(rec), { kind: 'completed', output: null }, 1000);
      await store.appendLogs([{ jobId: old.id, time: 1, level: 'info', message: 'x' }]);
      expect(await store.prune(500, 10)).toBe(0);
      expect(await store.prune(Date.now() + 1000, 10)).toBe(1);
      expect(await store.get(old.id)).toBeNull();
      expect(await store.logs(old.id)).toEqual([]);
      expect((await store.get(live.id))!.status).toBe('queued');
    });

    it('stores logs per job in order and pages them', async () => {
      const a = (await store.enqueue(job())).job;
      const b = (await store.enqueue(job())).job;
      await store.appendLogs([
        { jobId: a.id, time: 1, level: 'info', message: 'one' },
        { jobId: b.id, time: 2, level: 'warn', message: 'other' },
        { jobId: a.id, time: 3, level: 'error', message: 'two' },
      ]);
      const logs = await store.logs(a.id);
      expect(logs.map((l) => [l.level, l.message])).toEqual([
        ['info', 'one'],
        ['error', 'two'],
      ]);
      expect((await store.logs(a.id, { afterSeq: logs[0]!.seq })).map((l) => l.message)).toEqual(['two']);
    });

    it('acknowledges many concurrent writes, each durable and in order', async () => {
      await store.enqueue(job());
      const rec = (await claimOne())!;
      const writes = Array.from({ length: 200 }, (_, i) => store.checkpoint(leaseOf(rec), { state: { n: i }, now: Date.now(), leaseMs: 60_000 }));
      const results = await Promise.all(writes);
      expect(results.every((r) => r.owned)).toBe(true);
      store = await factory.reopen(store);
      expect((await store.get(rec.id))!.state).toEqual({ n: 199 });
    });

    it('a failing write does not take the others in its batch down', async () => {
      await store.enqueue(job());
      const bad = store.resume('missing', Date.now());
      const good = store.enqueue(job());
      await expect(bad).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
      expect((await good).job.status).toBe('queued');
    });
  });
}
