/**
 * Bench section `cluster`: the PostgreSQL job store and a cluster of daemons, all in one run on
 * the local PostgreSQL (`SPACEDRIVE_BENCH_PG`, default postgres://postgres@127.0.0.1:5432/test;
 * each measurement gets a database of its own, dropped afterwards):
 *  - no-op extension jobs (test-ext:noop_job through the WASM job wrapper) on a daemon whose
 *    store is PostgreSQL, dispatch→completed, concurrency 8 — durable: queued, claimed under a
 *    lease, completed and logged, each run able to checkpoint;
 *  - the peer: graphile-worker 0.18 on the same PostgreSQL server, the same no-op jobs with
 *    concurrency 8, local queue on (size 50), completions batched (completeJobBatchDelay 0),
 *    jobs added the same way (one call per job, all at once) — it keeps no checkpoints;
 *  - durable checkpoints per second with 1 KB of state: 256 jobs reporting progress at once on
 *    one daemon (each progress() resolves after its commit; commits are shared);
 *  - three nodes (three daemons' job systems on one database, in this process) against one on
 *    I/O-bound jobs that each wait 20 ms, the same per-node concurrency (8).
 * Checks: extension no-op throughput ≥ 1 × graphile-worker's; ≥ 5,000 checkpoints/s; three
 * nodes ≥ 2.5 × one node.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadOptions, type PartialOptions } from '../config/index.js';
import { Core } from '../core/index.js';
import { silentLogger } from '../logging/index.js';
import { bestRound, check, summarise, type BenchSection, type Measurement } from './harness.js';
import { measureJobThroughput } from './jobs.bench.js';

const ADMIN_URL = process.env.SPACEDRIVE_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const TEST_EXT_DIR = fileURLToPath(new URL('../../build/extensions/test-ext', import.meta.url));
const CONCURRENCY = 8;
const EXT_JOBS = 3_000;
const PEER_JOBS = 3_000;
const CHECKPOINT_JOBS = 256;
const CHECKPOINTS_PER_JOB = 60;
const IO_JOBS = 1_200;
const IO_WAIT_MS = 20;
const ROUNDS = 2;

let dbCounter = 0;

/** A fresh database on the bench server; `drop` removes it. */
async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `sd_bench_${process.pid}_${dbCounter++}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function pgCore(url: string, jobs: Record<string, unknown> = {}): Promise<{ core: Core; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-cluster-'));
  const core = await Core.create(
    loadOptions({ overrides: { dataDir: dir, store: url, extensions: { autoload: false }, jobs: { maxConcurrent: CONCURRENCY, ...jobs } } as PartialOptions, env: {} }),
    { logger: silentLogger() },
  );
  return {
    core,
    close: async () => {
      await core.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function extNoopJobs(): Promise<Measurement> {
  const db = await freshDatabase();
  const { core, close } = await pgCore(db.url);
  try {
    const info = await core.extensions.install(TEST_EXT_DIR);
    if (info.state !== 'loaded') throw new Error(`test-ext did not load: ${JSON.stringify(info.error)}`);
    for (;;) {
      const { stats, limits } = await core.extensions.info('test-ext');
      if (stats && stats.instances >= limits.instances) break;
      await sleep(5);
    }
    return await measureJobThroughput(core, `no-op extension jobs on PostgreSQL, dispatch→completed, concurrency ${CONCURRENCY}`, 'test-ext:noop_job', {}, EXT_JOBS, 'durable, leased, checkpoint-capable; cluster-wide limit checked at each claim');
  } finally {
    await close();
    await db.drop();
  }
}

/** graphile-worker 0.18 on the same server: the same no-op jobs, concurrency 8, local queue on. */
async function graphileWorker(): Promise<Measurement> {
  const db = await freshDatabase();
  const { run } = await import('graphile-worker');
  const lat = new Float64Array(PEER_JOBS);
  const added = new Map<string, number>();
  let completed = 0;
  let finish!: () => void;
  const allDone = new Promise<void>((resolve) => (finish = resolve));
  // Our own pool, so that it is ended before the database is dropped (and its errors heard).
  const pgPool = new pg.Pool({ connectionString: db.url, max: CONCURRENCY + 2 });
  pgPool.on('error', () => undefined);
  const runner = await run({
    pgPool,
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    pollInterval: 1000,
    taskList: { noop: async () => undefined },
    logger: new (await import('graphile-worker')).Logger(() => () => undefined),
    preset: { worker: { localQueue: { size: 50 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  });
  runner.events.on('job:success', ({ job }) => {
    const t0 = added.get(String(job.id));
    if (t0 !== undefined) lat[completed] = (performance.now() - t0) * 1000;
    if (++completed === PEER_JOBS) finish();
  });
  try {
    const start = performance.now();
    await Promise.all(
      Array.from({ length: PEER_JOBS }, async (_, i) => {
        const t0 = performance.now();
        const job = await runner.addJob('noop', { i });
        added.set(String(job.id), t0);
      }),
    );
    await allDone;
    const seconds = (performance.now() - start) / 1000;
    return summarise(`graphile-worker 0.18 no-op jobs, add→completed, concurrency ${CONCURRENCY}`, lat, seconds, 'peer: local queue 50, batched completions; no checkpoints');
  } finally {
    await runner.stop();
    await pgPool.end();
    await db.drop();
  }
}

/** 256 jobs on one daemon each reporting progress with 1 KB of state as fast as it can. */
async function checkpoints(): Promise<Measurement> {
  const db = await freshDatabase();
  const { core, close } = await pgCore(db.url, { maxConcurrent: CHECKPOINT_JOBS });
  try {
    const blob = 'x'.repeat(1000);
    const total = CHECKPOINT_JOBS * CHECKPOINTS_PER_JOB;
    const lat = new Float64Array(total);
    let k = 0;
    let started = 0;
    let go!: () => void;
    const allStarted = new Promise<void>((resolve) => (go = resolve));
    core.jobs.types.register('bench', {
      type: 'bench:checkpoints',
      version: 1,
      resumable: true,
      description: 'reports progress with 1 KB of state, as fast as it can',
      paramsSchema: { type: 'object' },
      async run(ctx) {
        if (++started === CHECKPOINT_JOBS) go();
        await allStarted;
        for (let i = 0; i < CHECKPOINTS_PER_JOB; i++) {
          const t0 = performance.now();
          await ctx.progress({ state: { blob, n: i }, fraction: i / CHECKPOINTS_PER_JOB });
          lat[k++] = (performance.now() - t0) * 1000;
        }
        return { status: 'completed' };
      },
    });
    let done = 0;
    let finish!: () => void;
    const allDone = new Promise<void>((resolve) => (finish = resolve));
    const sub = core.events.subscribe(['job:completed', 'job:failed'], { job_type: 'bench:checkpoints' }, () => {
      if (++done === CHECKPOINT_JOBS) finish();
    });
    await Promise.all(Array.from({ length: CHECKPOINT_JOBS }, () => core.jobs.dispatch('bench:checkpoints', {})));
    await allStarted;
    const start = performance.now();
    await allDone;
    sub.unsubscribe();
    return summarise(`durable checkpoints on PostgreSQL, ${CHECKPOINT_JOBS} jobs at once, 1 KB state`, lat, (performance.now() - start) / 1000, 'synchronous_commit on; concurrent checkpoints share a commit');
  } finally {
    await close();
    await db.drop();
  }
}

/** `nodes` job systems on one database, each with concurrency 8, running jobs that wait 20 ms. */
async function ioJobs(nodes: number): Promise<Measurement> {
  const db = await freshDatabase();
  const cores = [];
  try {
    for (let i = 0; i < nodes; i++) cores.push(await pgCore(db.url, { pollIntervalMs: 200 }));
    for (const { core } of cores) {
      core.jobs.types.register('bench', {
        type: 'bench:io',
        version: 1,
        resumable: true,
        description: `waits ${IO_WAIT_MS} ms (an I/O-bound job)`,
        paramsSchema: { type: 'object' },
        run: async () => {
          await sleep(IO_WAIT_MS);
          return { status: 'completed' };
        },
      });
    }
    // Dispatched on the first node; completions on the others reach it as relayed events, once
    // the others know it has a subscriber (they relay only to nodes that have one).
    const watching = cores[0]!.core.events.subscribe(['job:completed'], undefined, () => undefined);
    while (!cores.slice(1).every(({ core }) => core.jobs.cluster?.relaysEvents)) await sleep(10);
    try {
      return await measureJobThroughput(cores[0]!.core, `I/O-bound jobs (${IO_WAIT_MS} ms each), ${nodes} node${nodes > 1 ? 's' : ''}, concurrency ${CONCURRENCY} per node`, 'bench:io', {}, IO_JOBS);
    } finally {
      watching.unsubscribe();
    }
  } finally {
    for (const c of cores) await c.close();
    await db.drop();
  }
}

export async function run(): Promise<BenchSection> {
  const rounds: Record<'ext' | 'peer' | 'one' | 'three', Measurement[]> = { ext: [], peer: [], one: [], three: [] };
  // Alternate ours and the peer's rounds so both see the same machine conditions.
  for (let i = 0; i < ROUNDS; i++) {
    rounds.ext.push(await extNoopJobs());
    rounds.peer.push(await graphileWorker());
    rounds.one.push(await ioJobs(1));
    rounds.three.push(await ioJobs(3));
  }
  const cp = await checkpoints();
  const [ext, peer, one, three] = [bestRound(rounds.ext, 'throughput'), bestRound(rounds.peer, 'throughput'), bestRound(rounds.one, 'throughput'), bestRound(rounds.three, 'throughput')];
  return {
    title: 'cluster: PostgreSQL job store and three nodes (peer: graphile-worker 0.18 on the same server)',
    rows: [ext, peer, cp, one, three],
    checks: [
      check('no-op extension jobs on PostgreSQL / graphile-worker no-op jobs', ext.opsPerSec / peer.opsPerSec, '>=', 1),
      check('durable checkpoints per second on PostgreSQL (1 KB state)', cp.opsPerSec, '>=', 5_000),
      check('three nodes / one node, I/O-bound jobs', three.opsPerSec / one.opsPerSec, '>=', 2.5),
    ],
  };
}
