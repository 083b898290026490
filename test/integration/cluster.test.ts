/**
 * Two daemons on one PostgreSQL database form a cluster: either answers for every job, a client
 * subscribed on one sees the progress of a job running on the other, pause/cancel asked on one
 * reach the job running on the other at once, a job naming local paths runs on the node it was
 * dispatched on (and says so), `cluster nodes` lists both, and `daemon stop` drains.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { nodeIdOf, sql, startNode, type ClusterTiming } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const TIMING: ClusterTiming = { leaseMs: 3000, heartbeatMs: 500, pollIntervalMs: 1000, maxConcurrent: 4 };

describe('a cluster of two daemons', () => {
  let db: TestDatabase;
  let a: TestDaemon;
  let b: TestDaemon;
  let ca: SpacedriveClient;
  let cb: SpacedriveClient;
  let idA: string;
  let idB: string;
  beforeAll(async () => {
    db = await createTestDatabase('cluster');
    a = await startNode(db.url, TIMING);
    b = await startNode(db.url, TIMING);
    [ca, cb] = [await a.client(), await b.client()];
    [idA, idB] = [await nodeIdOf(a), await nodeIdOf(b)];
  }, 60_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  const status = (c: SpacedriveClient, id: string) => c.query('query:jobs.get_status.v1', { job_id: id }) as Promise<{ status: string; affinity_node: string | null; lease_owner: string | null; state: { n: number } | null }>;

  it('lists both nodes from either, with what each runs', async () => {
    for (const c of [ca, cb]) {
      const r = (await c.query('query:cluster.nodes.v1', {})) as { store: string; nodes: Array<{ node_id: string; self: boolean; draining: boolean; lost: boolean; version: string }> };
      expect(r.store).toBe('postgres');
      expect(r.nodes.map((n) => n.node_id).sort()).toEqual([idA, idB].sort());
      expect(r.nodes[0]!.self).toBe(true);
      expect(r.nodes.every((n) => !n.draining && !n.lost && n.version.length > 0)).toBe(true);
    }
    const cli = await a.cli(['cluster', 'nodes']);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(idA);
    expect(cli.stdout).toContain(idB);
  });

  it('runs a job naming local paths on its node; a subscriber on the other node sees its progress; pause and cancel from there reach it at once', async () => {
    // An ack file is a path of node B: the job must run on B.
    const ack = join(b.dataDir, 'count.acks');
    const seen: string[] = [];
    const sub = ca.subscribe(['job:progress', 'job:paused', 'job:cancelled']);
    const collecting = (async () => {
      for await (const e of sub) seen.push(`${e.type}:${(e.payload as { job_id: string }).job_id}`);
    })();
    const { job_id } = (await cb.action('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 100_000, delay_ms: 20, ack_file: ack } })) as { job_id: string };
    await waitFor(async () => (await status(ca, job_id)).status === 'running', 'the job to run');
    const running = await status(ca, job_id);
    expect(running.affinity_node).toBe(idB);
    expect(running.lease_owner?.startsWith(`${idB}/`)).toBe(true);
    const info = await a.cli(['jobs', 'info', job_id]);
    expect(info.stdout).toContain(idB);
    await waitFor(() => seen.includes(`job:progress:${job_id}`), 'progress of the job on B, seen on A');

    // Pause asked on A: B's run stops well before a poll or lease could have told it.
    const asked = Date.now();
    await ca.action('action:jobs.pause.input.v1', { job_id });
    await waitFor(async () => (await status(ca, job_id)).status === 'paused', 'the job to pause');
    expect(Date.now() - asked).toBeLessThan(TIMING.leaseMs);
    await waitFor(() => seen.includes(`job:paused:${job_id}`), 'the paused event on A');
    await ca.action('action:jobs.resume.input.v1', { job_id });
    await waitFor(async () => (await status(ca, job_id)).status === 'running', 'the job to run again');
    const n = (await status(ca, job_id)).state?.n ?? 0;
    expect((await status(cb, job_id)).lease_owner?.startsWith(`${idB}/`)).toBe(true);
    await ca.action('action:jobs.cancel.input.v1', { job_id });
    await waitFor(async () => (await status(cb, job_id)).status === 'cancelled', 'the job to cancel');
    expect((await status(cb, job_id)).state!.n).toBeGreaterThanOrEqual(n);
    await sub.return?.();
    await collecting;
  });

  it('drains on daemon stop: the node hands its jobs back and leaves; another node finishes them', { timeout: 90_000 }, async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(((await ca.action('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 150, delay_ms: 20 } })) as { job_id: string }).job_id);
    await waitFor(async () => Number((await sql<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM jobs WHERE status = 'running' AND lease_owner LIKE $1`, [`${idB}/%`]))[0]!.n) > 0, 'B to run some', 20_000);
    await b.stop();
    // B left the cluster; its jobs went back to the queue and A runs them.
    const r = (await ca.query('query:cluster.nodes.v1', {})) as { nodes: Array<{ node_id: string }> };
    expect(r.nodes.map((x) => x.node_id)).toEqual([idA]);
    expect(Number((await sql<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM jobs WHERE status = 'running' AND lease_owner LIKE $1`, [`${idB}/%`]))[0]!.n)).toBe(0);
    await waitFor(async () => (await Promise.all(ids.map((id) => status(ca, id)))).every((s) => s.status === 'completed'), 'every job to complete on A', 60_000);
  });
});
