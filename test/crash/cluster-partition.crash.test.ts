/**
 * A network partition between one node and the database: node C reaches PostgreSQL through a TCP
 * proxy this test controls; node A directly. With C running jobs, the proxy is cut (every
 * connection dropped, new ones refused). Asserted:
 *  - C keeps answering (ping) and says STORE_UNAVAILABLE for what needs the store;
 *  - C's jobs are taken back within lease + one heartbeat and finish on A;
 *  - the cluster shows C lost; when the proxy is restored C reconnects by itself (heartbeat
 *    again, claiming again) and never runs the jobs that moved again: every job completes exactly
 *    once, no checkpoint goes backwards, and no job that moved is claimed by C's run again.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { installAudit, nodeIdOf, sql, startNode, startProxy, type ClusterTiming, type CuttableProxy } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const TIMING: ClusterTiming = { leaseMs: 1500, heartbeatMs: 300, pollIntervalMs: 300, maxConcurrent: 8 };
const JOBS = 40;
const SCHEDULING_ALLOWANCE_MS = 1000;

type Nodes = { nodes: Array<{ node_id: string; lost: boolean; heartbeat_at: string }> };

describe('a node cut off from the database', () => {
  let db: TestDatabase | undefined;
  let proxy: CuttableProxy | undefined;
  const nodes: TestDaemon[] = [];
  afterAll(async () => {
    proxy?.restore();
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await proxy?.close();
    await db?.drop();
  });

  it('hands its jobs to the others, answers STORE_UNAVAILABLE meanwhile, reconnects by itself and runs nothing twice', { timeout: 90_000 }, async () => {
    db = await createTestDatabase('partition');
    const url = db.url;
    const a = await startNode(url, TIMING);
    nodes.push(a);
    await installAudit(url);
    proxy = await startProxy();
    const viaProxy = new URL(url);
    viaProxy.port = String(proxy.port);
    const c = await startNode(viaProxy.toString(), TIMING);
    nodes.push(c);
    try {
      await partitionAndHeal(c);
    } catch (err) {
      // What the cut-off node said is the first thing to read when this fails.
      console.error(`node C's output:\n${c.logs().slice(-6000)}`);
      throw err;
    }
  });

  async function partitionAndHeal(c: TestDaemon): Promise<void> {
    const url = db!.url;
    const a = nodes[0]!;
    const proxy_ = proxy!;
    const [idA, idC] = [await nodeIdOf(a), await nodeIdOf(c)];
    const clientA = await a.client();
    const clientC = await c.client();

    for (let i = 0; i < JOBS; i++) await clientA.action('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 50, delay_ms: 50 } });
    await waitFor(
      async () => Number((await sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM jobs WHERE status = 'running' AND lease_owner LIKE $1`, [`${idC}/%`]))[0]!.n) >= 3,
      'node C to run jobs',
      30_000,
    );

    const cutAt = Date.now();
    proxy_.cut();
    const moved = await sql<{ id: string }>(url, `SELECT id FROM jobs WHERE status = 'running' AND lease_owner LIKE $1`, [`${idC}/%`]);
    expect(moved.length).toBeGreaterThan(0);

    // C answers what it can, and says STORE_UNAVAILABLE for the rest.
    await clientC.ping();
    await expect(clientC.query('query:jobs.list.v1', {})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });

    // Its jobs are taken back within lease + one heartbeat, then run on A.
    const ids = moved.map((m) => m.id);
    await waitFor(
      async () => Number((await sql<{ n: number }>(url, `SELECT count(DISTINCT job_id)::int AS n FROM job_claims WHERE job_id = ANY($1) AND at > $2 AND owner LIKE $3`, [ids, cutAt, `${idA}/%`]))[0]!.n) === ids.length,
      "C's jobs to run on A",
      30_000,
    );
    const recovered = await sql<{ at: number }>(url, `SELECT min(at)::bigint AS at FROM job_recoveries WHERE job_id = ANY($1) AND at > $2 GROUP BY job_id`, [ids, cutAt]);
    expect(recovered.length).toBe(ids.length);
    expect(Math.max(...recovered.map((r) => Number(r.at) - cutAt))).toBeLessThanOrEqual(TIMING.leaseMs + TIMING.heartbeatMs + SCHEDULING_ALLOWANCE_MS);
    const seenFromA = (await clientA.query('query:cluster.nodes.v1', {})) as Nodes;
    expect(seenFromA.nodes.find((n) => n.node_id === idC)?.lost).toBe(true);

    // The partition heals: C reconnects by itself.
    const restoredAt = Date.now();
    proxy_.restore();
    await waitFor(
      async () => {
        const r = (await clientA.query('query:cluster.nodes.v1', {})) as Nodes;
        const cRow = r.nodes.find((n) => n.node_id === idC);
        return cRow !== undefined && !cRow.lost && Date.parse(cRow.heartbeat_at) > restoredAt;
      },
      'node C to heartbeat again',
      30_000,
    );
    expect(((await clientC.query('query:jobs.list.v1', {})) as { jobs: unknown[] }).jobs.length).toBeGreaterThan(0);

    await waitFor(async () => Number((await sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'`))[0]!.n) === JOBS, 'every job to complete', 60_000);
    const completions = await sql<{ job_id: string; n: number }>(url, 'SELECT job_id, count(*)::int AS n FROM job_completions GROUP BY job_id');
    expect(completions.length).toBe(JOBS);
    expect(completions.filter((x) => x.n !== 1)).toEqual([]);
    expect((await sql<{ output: { n: number } }>(url, 'SELECT output FROM jobs')).filter((o) => o.output?.n !== 50)).toEqual([]);
    expect(await sql(url, 'SELECT * FROM checkpoints_backwards')).toEqual([]);
    // The jobs that moved were never C's again after the cut.
    expect(await sql(url, `SELECT * FROM job_claims WHERE job_id = ANY($1) AND at > $2 AND owner LIKE $3`, [ids, cutAt, `${idC}/%`])).toEqual([]);
    // C claims work again after it reconnected, if any was left (it stopped claiming only while cut off).
    const claimsByC = await sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM job_claims WHERE at > $1 AND at < $2 AND owner LIKE $3`, [cutAt + 100, restoredAt, `${idC}/%`]);
    expect(claimsByC[0]!.n).toBe(0);
  }
});
