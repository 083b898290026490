/**
 * Nodes whose clocks disagree: lease expiry, run_at and heartbeats are compared across nodes, so
 * the job runtime of a cluster runs on the database's clock (each node measures its offset).
 * A node whose own clock is ten minutes ahead must not take a live job from another node (its
 * start and every heartbeat recover expired leases), and the jobs it adds are due at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultOptions } from '../../src/config/index.js';
import { EventBus } from '../../src/events/index.js';
import { JobSystem } from '../../src/jobs/index.js';
import { ClusterClock } from '../../src/jobs/cluster/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const TEN_MINUTES = 10 * 60_000;

describe('ClusterClock', () => {
  it("takes the server's time against the midpoint of the round trip", async () => {
    let local = 1_000_000;
    const clock = new ClusterClock(() => local);
    expect(clock.now()).toBe(1_000_000);
    // The server reads 5,000,000 while 40 ms pass here: its time at our midpoint.
    const offset = await clock.measure(async () => {
      local += 40;
      return 5_000_000;
    });
    expect(offset).toBe(5_000_000 - 1_000_020);
    expect(clock.now()).toBe(local + offset);
  });

  it('keeps the last good estimate over a measurement whose round trip was too slow', async () => {
    let local = 0;
    const clock = new ClusterClock(() => local);
    await clock.measure(async () => 100);
    expect(clock.offsetMs).toBe(100);
    await clock.measure(async () => {
      local += 5_000;
      return 999_999;
    });
    expect(clock.offsetMs).toBe(100);
  });
});

describe('cluster nodes with clocks that disagree', () => {
  let db: TestDatabase;
  const dirs: string[] = [];
  const systems: JobSystem[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));

  function node(clock?: () => number): JobSystem {
    const dir = mkdtempSync(join(tmpdir(), 'sd-clock-'));
    dirs.push(dir);
    const jobs = new JobSystem({
      dataDir: dir,
      options: { ...defaultOptions(dir).jobs, heartbeatMs: 100, leaseMs: 1500, pollIntervalMs: 200 },
      events: new EventBus(),
      logger: silentLogger(),
      storeUrl: db.url,
      ...(clock ? { clock } : {}),
    });
    jobs.types.register('test', { type: 'test:quick', version: 1, resumable: true, description: 'returns at once', paramsSchema: { type: 'object' }, run: async () => ({ status: 'completed' }) });
    systems.push(jobs);
    return jobs;
  }

  beforeAll(async () => {
    db = await createTestDatabase('clock');
  });
  afterAll(async () => {
    release();
    for (const s of systems) await s.close();
    await db?.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a node ten minutes ahead leaves live jobs alone, and the jobs it adds run at once', async () => {
    const a = node();
    a.types.register('test', {
      type: 'test:hold',
      version: 1,
      resumable: true,
      description: 'checkpoints, then waits until the test lets it finish',
      paramsSchema: { type: 'object' },
      async run(ctx) {
        await ctx.progress({ state: { step: 1 }, fraction: 0.5 });
        await released;
        return { status: 'completed' };
      },
    });
    await a.start();
    const { jobId } = await a.dispatch('test:hold', {});
    const running = await waitFor(async () => {
      const j = await a.get(jobId);
      return j?.status === 'running' && j.checkpointAt !== null ? j : null;
    }, 'the job to run on A');

    const ahead = node(() => Date.now() + TEN_MINUTES);
    await ahead.start();
    // Its start recovered (expired leases and its own earlier incarnation's); now several beats.
    await new Promise((r) => setTimeout(r, 1_000));
    const still = await a.get(jobId);
    expect(still).toMatchObject({ status: 'running', workerId: running.workerId, runId: running.runId });
    expect(Math.abs(ahead.cluster!.clock.offsetMs + TEN_MINUTES)).toBeLessThan(1_000);

    const quick = await ahead.dispatch('test:quick', {});
    const added = await ahead.get(quick.jobId);
    expect(Math.abs(added!.runAt - Date.now())).toBeLessThan(1_000);
    await waitFor(async () => (await a.get(quick.jobId))?.status === 'completed', 'the job added on the node ahead to complete');

    release();
    const done = await waitFor(async () => {
      const j = await a.get(jobId);
      return j?.status === 'completed' ? j : null;
    }, 'the held job to complete');
    expect(done.runs).toBe(1);
  });
});
