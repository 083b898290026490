/**
 * Bench section `dashboard`: the web dashboard's first render of 10,000 jobs in headless
 * Chromium (Debian's chromium driven by playwright-core), against a real daemon process with
 * --http serving dist/web (built by `npm run bench`'s set-up).
 *
 * A render is timed inside the page, from the navigation's start (performance.now() = 0) to the
 * mark the jobs page sets once the table holding every job is in the DOM (`jobs:rendered`, set by
 * an effect after that render): the shell loaded, the session checked, ten pages of GET /v1/jobs
 * read and the windowed table drawn. The bench also waits until the page says so
 * (`data-loaded`, `data-count="10000"`, its first row present). The baseline is the same page on a daemon with no jobs, measured in the
 * same run. Check: the 10,000-job render ≤ 1 s (best of the rounds, like the other sections).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpacedriveClient } from '../client/index.js';
import { check, summarise, type BenchSection, type Measurement } from './harness.js';

const JOBS = 10_000;
const ROUNDS = 5;
const CHROMIUM = '/usr/bin/chromium';
const BIN = fileURLToPath(new URL('../../bin/spacedrive.js', import.meta.url));
const WEB_INDEX = fileURLToPath(new URL('../web/index.html', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface BenchDaemon {
  url: string;
  token: string;
  dataDir: string;
  socketPath: string;
  stop(): Promise<void>;
}

async function startHttpDaemon(): Promise<BenchDaemon> {
  const dataDir = mkdtempSync(join(tmpdir().length <= 40 ? tmpdir() : '/tmp', 'sd-bench-web-'));
  const socketPath = join(dataDir, 'daemon.sock');
  const port = await freePort();
  const env: Record<string, string | undefined> = { ...process.env, SPACEDRIVE_LOG_LEVEL: 'warn', NO_COLOR: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('SPACEDRIVE_') && k !== 'SPACEDRIVE_LOG_LEVEL') delete env[k];
  const child: ChildProcess = spawn(process.execPath, [BIN, 'daemon', '--data-dir', dataDir, '--http', `127.0.0.1:${port}`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the daemon exited during start-up:\n${stderr}`);
    try {
      if ((await fetch(`${url}/v1/session`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the daemon did not answer HTTP at ${url}:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const token = execFileSync(process.execPath, [BIN, '--data-dir', dataDir, 'daemon', 'token'], { env, encoding: 'utf8' }).trim();
  return {
    url,
    token,
    dataDir,
    socketPath,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** 10,000 jobs that stay queued (they may start only in a year), dispatched over the socket. */
async function fillJobs(d: BenchDaemon, count: number): Promise<void> {
  const client = await SpacedriveClient.connect({ socketPath: d.socketPath });
  try {
    const runAt = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString();
    let next = 0;
    const lane = async () => {
      while (next < count) {
        const i = next++;
        await client.action('action:jobs.dispatch.input.v1', {
          job_type: 'files.copy',
          params: { sources: [join(d.dataDir, `in-${i}.txt`)], destination: join(d.dataDir, 'out') },
          run_at: runAt,
          priority: i % 7,
        });
      }
    };
    await Promise.all(Array.from({ length: 32 }, lane));
  } finally {
    await client.close();
  }
}

/** Milliseconds from navigation start: to the first page of jobs read, to all read, to the page showing them all. */
interface Render {
  total: number;
  firstPage: number | null;
  loaded: number | null;
}

/** Each round's {@link Render} of the jobs page showing all `count` jobs. */
async function renderTimes(d: BenchDaemon, count: number, rounds: number): Promise<Render[]> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'sd-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const login = await page.request.post(`${d.url}/v1/login`, { data: { token: d.token } });
    if (!login.ok()) throw new Error(`login failed: ${login.status()} ${await login.text()}`);
    const ready = `[data-loaded="true"][data-count="${count}"]`;
    const firstRow = count > 0 ? '[role="row"][aria-rowindex="2"]' : '.vt-empty';
    // One untimed load warms Chromium's caches of the bundle, as a second visit would.
    await page.goto(`${d.url}/jobs`);
    await page.waitForSelector(ready, { timeout: 60_000 });
    const times: Render[] = [];
    for (let i = 0; i < rounds; i++) {
      await page.goto(`${d.url}/jobs`);
      await page.waitForSelector(ready, { timeout: 60_000 });
      await page.waitForSelector(firstRow, { timeout: 10_000 });
      times.push(
        await page.evaluate<Render>(`({
          total: performance.getEntriesByName('jobs:rendered')[0]?.startTime ?? performance.now(),
          firstPage: performance.getEntriesByName('jobs:first-page')[0]?.startTime ?? null,
          loaded: performance.getEntriesByName('jobs:loaded')[0]?.startTime ?? null,
        })`),
      );
    }
    return times;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

function asMeasurement(name: string, times: number[], note: string): Measurement {
  const lat = Float64Array.from(times.map((ms) => ms * 1000));
  return summarise(name, lat, times.reduce((s, t) => s + t, 0) / 1000, note);
}

export async function run(): Promise<BenchSection> {
  if (!existsSync(CHROMIUM)) throw new Error(`the dashboard bench needs Chromium at ${CHROMIUM} (Debian package chromium; npm test's set-up installs it)`);
  if (!existsSync(WEB_INDEX)) throw new Error('the dashboard bench needs dist/web: run npm run build:web');

  const empty = await startHttpDaemon();
  let baseline: Render[];
  try {
    baseline = await renderTimes(empty, 0, ROUNDS);
  } finally {
    await empty.stop();
  }

  const full = await startHttpDaemon();
  let loaded: Render[];
  try {
    await fillJobs(full, JOBS);
    loaded = await renderTimes(full, JOBS, ROUNDS);
  } finally {
    await full.stop();
  }

  const bestOf = (rs: Render[]) => rs.reduce((a, b) => (b.total < a.total ? b : a));
  const best = bestOf(loaded);
  const bestBaseline = bestOf(baseline);
  const ms = (v: number | null) => (v === null ? '?' : `${v.toFixed(0)} ms`);
  const rows = [
    asMeasurement('dashboard: first render, no jobs (baseline)', baseline.map((r) => r.total), `best ${ms(bestBaseline.total)} of ${ROUNDS}`),
    asMeasurement(
      `dashboard: first render, ${JOBS.toLocaleString('en')} jobs`,
      loaded.map((r) => r.total),
      `best ${ms(best.total)} of ${ROUNDS} (first page of 1,000 shown at ${ms(best.firstPage)}, all read at ${ms(best.loaded)}); ${(best.total / bestBaseline.total).toFixed(2)}× the empty render`,
    ),
  ];
  return {
    title: 'dashboard (headless Chromium, daemon over HTTP)',
    rows,
    checks: [check(`first render of ${JOBS.toLocaleString('en')} jobs, seconds (best of ${ROUNDS})`, best.total / 1000, '<=', 1)],
  };
}
