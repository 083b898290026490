/**
 * Bench section `jobs`, all in one run on the same machine:
 *  - durable checkpoints per second for one running job with 1 KB of state (each progress()
 *    resolves only after its transaction committed to the WAL);
 *  - no-op core jobs per second from dispatch to completion (real core, real SQLite file,
 *    concurrency 8), every job durably queued, claimed, completed and logged;
 *  - no-op extension jobs per second the same way: test-ext:noop_job (completes at once) through
 *    the generic WASM job wrapper, each run a call into test-ext's sandbox, as the host runs it by
 *    default (a call this short is answered by the metered instance on the main thread);
 *  - for reference, the same extension jobs with every call on a worker thread (no check);
 *  - the peer: BullMQ with ioredis on the local Redis (127.0.0.1:6379, started if down) running
 *    the same no-op jobs with concurrency 8, jobs added the same way (all at once, concurrently).
 * Checks: ≥ 10,000 checkpoints/s; no-op core and extension job throughput each ≥ 2 × BullMQ's.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { loadOptions, type PartialOptions } from '../config/index.js';
import { Core } from '../core/index.js';
import { silentLogger } from '../logging/index.js';
import { bestRound, check, summarise, type BenchSection, type Measurement } from './harness.js';

const CHECKPOINTS = 50_000;
const FULL_CHECKPOINTS = 2_000;
const NOOP_JOBS = 20_000;
const BULL_JOBS = 20_000;
const EXT_NOOP_JOBS = 20_000;
/** test-ext as `npm run build` builds it (a package directory: manifest + module). */
const TEST_EXT_DIR = fileURLToPath(new URL('../../build/extensions/test-ext', import.meta.url));
const CONCURRENCY = 8;
const ROUNDS = 3;

export async function withCore<T>(fn: (core: Core) => Promise<T>, synchronous: 'NORMAL' | 'FULL' = 'NORMAL', inlineCalls = true): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-jobs-'));
  const core = await Core.create(
    loadOptions({ overrides: { dataDir: dir, extensions: { autoload: false, inlineCalls }, jobs: { maxConcurrent: CONCURRENCY, synchronous } } as PartialOptions, env: {} }),
    { logger: silentLogger() },
  );
  try {
    return await fn(core);
  } finally {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One job reporting progress with 1 KB of state, N times in a row; latency of each progress(). */
async function checkpoints(synchronous: 'NORMAL' | 'FULL' = 'NORMAL', total = CHECKPOINTS): Promise<Measurement> {
  return withCore(async (core) => {
    const CHECKPOINTS = total;
    const lat = new Float64Array(CHECKPOINTS);
    let seconds = 0;
    const blob = 'x'.repeat(1000);
    core.jobs.types.register('bench', {
      type: 'bench:checkpoints',
      version: 1,
      resumable: true,
      description: 'reports progress with 1 KB of state, as fast as it can',
      paramsSchema: { type: 'object' },
      async run(ctx) {
        for (let i = 0; i < Math.min(1000, CHECKPOINTS / 10); i++) await ctx.progress({ state: { blob, n: i } }); // warm-up
        const start = performance.now();
        for (let i = 0; i < CHECKPOINTS; i++) {
          const t0 = performance.now();
          await ctx.progress({ state: { blob, n: i }, fraction: i / CHECKPOINTS });
          lat[i] = (performance.now() - t0) * 1000;
        }
        seconds = (performance.now() - start) / 1000;
        return { status: 'completed' };
      },
    });
    const done = new Promise<void>((resolve) => core.events.subscribe(['job:completed', 'job:failed'], undefined, () => resolve()));
    await core.jobs.dispatch('bench:checkpoints', {});
    await done;
    return summarise(
      `durable checkpoints, one job, 1 KB state${synchronous === 'FULL' ? ' (synchronous=FULL, for reference)' : ''}`,
      lat,
      seconds,
      synchronous === 'FULL' ? 'fsync per commit: survives power loss too' : 'WAL, synchronous=NORMAL: survives kill -9',
    );
  }, synchronous);
}

/**
 * Dispatches `count` jobs of `jobType` at once on `core` and measures from the first dispatch to
 * the last completion (latency per job: its dispatch to its completion). Reusable for other job
 * types, e.g. an extension's no-op job once its extension is loaded on `core`.
 */
export async function measureJobThroughput(core: Core, name: string, jobType: string, params: unknown, count: number, note?: string): Promise<Measurement> {
  const lat = new Float64Array(count);
  const startedAt = new Map<string, number>();
  let completed = 0;
  let failed = 0;
  let finish!: () => void;
  const allDone = new Promise<void>((resolve) => (finish = resolve));
  const sub = core.events.subscribe(['job:completed', 'job:failed'], { job_type: jobType }, (e) => {
    if (e.type === 'job:failed') failed++;
    const t0 = startedAt.get(e.payload.job_id as string);
    if (t0 !== undefined) lat[completed] = (performance.now() - t0) * 1000;
    if (++completed === count) finish();
  });
  try {
    const start = performance.now();
    await Promise.all(
      Array.from({ length: count }, async () => {
        const t0 = performance.now();
        const { jobId } = await core.jobs.dispatch(jobType, params);
        startedAt.set(jobId, t0);
      }),
    );
    await allDone;
    const seconds = (performance.now() - start) / 1000;
    if (failed > 0) throw new Error(`${failed} of ${count} ${jobType} jobs failed during the benchmark`);
    return summarise(name, lat, seconds, note);
  } finally {
    sub.unsubscribe();
  }
}

/** N no-op core jobs dispatched at once; time from the first dispatch to the last completion. */
async function noopJobs(): Promise<Measurement> {
  return withCore((core) =>
    measureJobThroughput(core, `no-op core jobs, dispatch→completed, concurrency ${CONCURRENCY}`, 'core.noop', {}, NOOP_JOBS, 'durable: queued, claimed, completed'),
  );
}

/**
 * N no-op extension jobs (test-ext:noop_job) dispatched at once on a core with test-ext installed;
 * test-ext's concurrent_jobs (8) equals the core's maxConcurrent, so the concurrency is the same.
 */
async function extNoopJobs(inlineCalls = true): Promise<Measurement> {
  return withCore(async (core) => {
    const info = await core.extensions.install(TEST_EXT_DIR);
    if (info.state !== 'loaded') throw new Error(`test-ext did not load: ${JSON.stringify(info.error)}`);
    // Every instance of its pool up before the clock starts (they start in the background).
    for (;;) {
      const { stats, limits } = await core.extensions.info('test-ext');
      if (stats && stats.instances >= limits.instances) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    return measureJobThroughput(
      core,
      inlineCalls
        ? `no-op extension jobs (test-ext:noop_job), dispatch→completed, concurrency ${CONCURRENCY}`
        : `the same, on worker instances only (extensions.inlineCalls off)`,
      'test-ext:noop_job',
      {},
      EXT_NOOP_JOBS,
      inlineCalls ? 'durable; each run a call into the sandbox (main thread instance)' : 'for reference: two thread wake-ups per batch',
    );
  }, 'NORMAL', inlineCalls);
}

function ensureRedis(): void {
  const ping = () => {
    try {
      return execFileSync('redis-cli', ['-h', '127.0.0.1', 'ping'], { stdio: 'pipe' }).toString().trim() === 'PONG';
    } catch {
      return false;
    }
  };
  if (ping()) return;
  execFileSync('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no'], { stdio: 'pipe' });
  for (let i = 0; i < 50 && !ping(); i++) execFileSync('sleep', ['0.1']);
  if (!ping()) throw new Error('could not start Redis on 127.0.0.1:6379 for the BullMQ peer');
}

/** The peer: BullMQ on the local Redis, the same no-op jobs, concurrency 8. */
async function bullmq(): Promise<Measurement> {
  ensureRedis();
  const { Queue, Worker } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const name = `sd-bench-${process.pid}-${Date.now()}`;
  const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
  const queue = new Queue(name, { connection });
  const lat = new Float64Array(BULL_JOBS);
  const added = new Map<string, number>();
  let completed = 0;
  let finish!: () => void;
  const allDone = new Promise<void>((resolve) => (finish = resolve));
  const worker = new Worker(name, async () => null, { connection, concurrency: CONCURRENCY, autorun: false });
  worker.on('completed', (job) => {
    const t0 = added.get(job.id!);
    if (t0 !== undefined) lat[completed] = (performance.now() - t0) * 1000;
    if (++completed === BULL_JOBS) finish();
  });
  await worker.waitUntilReady();
  try {
    const run = worker.run();
    const start = performance.now();
    await Promise.all(
      Array.from({ length: BULL_JOBS }, async (_, i) => {
        const t0 = performance.now();
        const job = await queue.add('noop', { i });
        added.set(job.id!, t0);
      }),
    );
    await allDone;
    const seconds = (performance.now() - start) / 1000;
    await worker.close();
    await run;
    return summarise(`BullMQ no-op jobs, add→completed, concurrency ${CONCURRENCY}`, lat, seconds, 'peer: bullmq + ioredis, local Redis');
  } finally {
    await worker.close().catch(() => undefined);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    const r = new Redis(connection);
    await r.quit().catch(() => undefined);
  }
}

export async function run(): Promise<BenchSection> {
  const cpRounds: Measurement[] = [];
  for (let i = 0; i < ROUNDS; i++) cpRounds.push(await checkpoints());
  const cp = bestRound(cpRounds, 'throughput');
  // The price of also surviving power loss (option jobs.synchronous = FULL): not a target.
  const cpFull = await checkpoints('FULL', FULL_CHECKPOINTS);
  // Alternate ours and the peer's rounds so both see the same machine conditions.
  const rounds: Record<'ours' | 'ext' | 'extWorkers' | 'peer', Measurement[]> = { ours: [], ext: [], extWorkers: [], peer: [] };
  for (let i = 0; i < ROUNDS; i++) {
    rounds.ours.push(await noopJobs());
    rounds.ext.push(await extNoopJobs());
    rounds.extWorkers.push(await extNoopJobs(false));
    rounds.peer.push(await bullmq());
  }
  const [ours, ext, extWorkers, peer] = [
    bestRound(rounds.ours, 'throughput'),
    bestRound(rounds.ext, 'throughput'),
    bestRound(rounds.extWorkers, 'throughput'),
    bestRound(rounds.peer, 'throughput'),
  ];
  return {
    title: 'jobs: durable checkpoints and no-op job throughput (peer: BullMQ on local Redis)',
    rows: [cp, cpFull, ours, ext, extWorkers, peer],
    checks: [
      check('durable checkpoints per second (one job, 1 KB state)', cp.opsPerSec, '>=', 10_000),
      check('no-op job throughput / BullMQ no-op throughput', ours.opsPerSec / peer.opsPerSec, '>=', 2),
      check('no-op extension job throughput / BullMQ no-op throughput', ext.opsPerSec / peer.opsPerSec, '>=', 2),
    ],
  };
}
