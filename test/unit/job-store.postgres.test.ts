/**
 * The job store contract against PostgreSQL (each test its own database), and what only a
 * store shared by several nodes does: claims that never hand one job to two nodes, cluster-wide
 * limits, node affinity, recovery of a node's own earlier incarnation, and the runnable
 * notification.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres, type PostgresDatabase } from '../../src/storage/postgres/index.js';
import { PostgresJobStore, RUNNABLE_CHANNEL } from '../../src/jobs/store/postgres/index.js';
import type { JobStore } from '../../src/jobs/store/index.js';
import { jobStoreContract } from '../contract/job-store.contract.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

let current: { pg: TestDatabase; db: PostgresDatabase } | null = null;

jobStoreContract('PostgreSQL', {
  async create() {
    const pg = await createTestDatabase('jobstore');
    const db = openPostgres({ url: pg.url, poolSize: 4 });
    current = { pg, db };
    return PostgresJobStore.open({ db });
  },
  async reopen(store) {
    await store.close();
    return PostgresJobStore.open({ db: current!.db });
  },
  async destroy() {
    if (!current) return;
    await current.db.close();
    await current.pg.drop();
    current = null;
  },
});

describe('PostgreSQL job store, several nodes', () => {
  let pg: TestDatabase;
  let dbA: PostgresDatabase;
  let dbB: PostgresDatabase;
  let a: JobStore;
  let b: JobStore;
  beforeAll(async () => {
    pg = await createTestDatabase('jobstore_nodes');
    dbA = openPostgres({ url: pg.url, poolSize: 4 });
    dbB = openPostgres({ url: pg.url, poolSize: 4 });
    // Both nodes migrate at once: the advisory lock makes one apply, the other find it applied.
    [a, b] = await Promise.all([PostgresJobStore.open({ db: dbA }), PostgresJobStore.open({ db: dbB })]);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await dbA.close();
    await dbB.close();
    await pg.drop();
  });

  it('never hands one job to two nodes claiming at once', async () => {
    for (let i = 0; i < 60; i++) await a.enqueue({ type: 'c.one', params: { i }, maxAttempts: 1 });
    const claims = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).claim({ workerId: `w${i}`, now: Date.now(), limit: 10, slots: { 'c.one': 10 }, leaseMs: 60_000 })),
    );
    const ids = claims.flat().map((c) => c.id);
    expect(ids.length).toBe(60);
    expect(new Set(ids).size).toBe(60);
  });

  it('holds a cluster-wide limit across nodes claiming at once', async () => {
    for (let i = 0; i < 20; i++) await a.enqueue({ type: 'c.lim', params: {}, maxAttempts: 1 });
    for (let i = 0; i < 20; i++) await a.enqueue({ type: 'c.grp', params: {}, maxAttempts: 1 });
    const limits = { types: { 'c.lim': 3 }, groups: [{ limit: 2, types: ['c.grp'] }] };
    const claims = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).claim({ workerId: `n${i}`, now: Date.now(), limit: 10, slots: { 'c.lim': 10, 'c.grp': 10 }, leaseMs: 60_000, limits })),
    );
    const all = claims.flat();
    expect(all.filter((c) => c.type === 'c.lim').length).toBe(3);
    expect(all.filter((c) => c.type === 'c.grp').length).toBe(2);
  });

  it('takes the cluster-wide lock only when a limited type has work to claim', async () => {
    const CLUSTER_LIMIT_LOCK = 0x5d_0002;
    const limits = { types: { 'c.idle-lim': 1 }, groups: [] };
    const slots = { 'c.free': 5, 'c.idle-lim': 5 };
    const free = (await a.enqueue({ type: 'c.free', params: {}, maxAttempts: 1 })).job;
    await dbB.transaction(async (tx) => {
      // Another node holds the lock (a claim of a limited type in flight).
      await tx.query('SELECT pg_advisory_xact_lock($1)', [CLUSTER_LIMIT_LOCK]);
      // No limited job is runnable: the claim does not queue behind the lock.
      const got = await a.claim({ workerId: 'lock-a', now: Date.now(), limit: 5, slots, leaseMs: 60_000, limits });
      expect(got.map((c) => c.id)).toEqual([free.id]);
      // A limited job is: the claim waits for the lock, so that it counts what the holder took.
      const limited = (await a.enqueue({ type: 'c.idle-lim', params: {}, maxAttempts: 1 })).job;
      let settled = false;
      const waiting = a.claim({ workerId: 'lock-a', now: Date.now(), limit: 5, slots, leaseMs: 60_000, limits }).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      return { waiting, limited };
    }).then(async ({ waiting, limited }) => {
      expect((await waiting).map((c) => c.id)).toEqual([limited.id]);
    });
  });

  it("keeps the claim function's eight-argument form for nodes not yet upgraded", async () => {
    const queued = (await a.enqueue({ type: 'c.old', params: {}, maxAttempts: 1, log: { level: 'info', message: 'queued' } })).job;
    const rows = await dbA.query<{ id: string; runs: number }>("SELECT id, runs FROM sd_claim_jobs('old-node/1', NULL, $1, $2, 5, '{\"c.old\": 5}', '[]', NULL)", [Date.now(), Date.now() + 60_000]);
    expect(rows).toEqual([{ id: queued.id, runs: 1 }]);
    expect((await a.logs(queued.id)).map((l) => l.message)).toEqual(['queued']);
  });

  it('runs its statements without JIT compilation (a large backlog made every claim compile one)', async () => {
    expect(await dbA.query('SHOW jit')).toEqual([{ jit: 'off' }]);
  });

  it('lets only the affine node claim a job that names its local paths', async () => {
    const { job } = await a.enqueue({ type: 'c.aff', params: {}, maxAttempts: 1, affinityNode: 'node-x' });
    expect(job.affinityNode).toBe('node-x');
    expect(await b.claim({ workerId: 'node-b/1', nodeId: 'node-b', now: Date.now(), limit: 5, slots: { 'c.aff': 5 }, leaseMs: 60_000 })).toEqual([]);
    const got = await a.claim({ workerId: 'node-x/1', nodeId: 'node-x', now: Date.now(), limit: 5, slots: { 'c.aff': 5 }, leaseMs: 60_000 });
    expect(got.map((c) => c.id)).toEqual([job.id]);
    expect((await b.get(job.id))!.affinityNode).toBe('node-x');
  });

  it("recovers a node's earlier incarnation at once, another node's live jobs never, expired ones always", async () => {
    const mine = (await a.enqueue({ type: 'c.rec', params: {}, maxAttempts: 1 })).job;
    const theirs = (await a.enqueue({ type: 'c.rec', params: {}, maxAttempts: 1 })).job;
    const expired = (await a.enqueue({ type: 'c.rec', params: {}, maxAttempts: 1 })).job;
    const now = Date.now();
    await a.claim({ workerId: 'node-a/old', now, limit: 1, slots: { 'c.rec': 1 }, leaseMs: 60_000 });
    await b.claim({ workerId: 'node-b/live', now, limit: 1, slots: { 'c.rec': 1 }, leaseMs: 60_000 });
    await b.claim({ workerId: 'node-c/dead', now, limit: 1, slots: { 'c.rec': 1 }, leaseMs: 10 });
    const rec = await a.recover({ scope: 'node', nodeId: 'node-a', exceptWorker: 'node-a/new', now: now + 100 });
    expect(rec.map((r) => r.id).sort()).toEqual([mine.id, expired.id].sort());
    expect((await a.get(theirs.id))!.status).toBe('running');
  });

  it('announces every job that becomes queued on the runnable channel', async () => {
    const heard: string[] = [];
    const stop = await dbB.listen(RUNNABLE_CHANNEL, (payload) => heard.push(payload));
    await a.enqueue({ type: 'c.note', params: {}, maxAttempts: 1 });
    const deadline = Date.now() + 5000;
    while (!heard.includes('c.note') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await stop();
    expect(heard).toContain('c.note');
  });
});
