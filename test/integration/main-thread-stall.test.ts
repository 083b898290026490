/**
 * No extension can hold the daemon's main thread: while a guest storms the host with cheap-looking
 * host calls (each a few guest instructions, but a megabyte copied, a string encoded, a log line
 * decoded), a ping loop over the daemon's socket keeps being answered. A real daemon process,
 * real sockets, real wasm (the hostile fixtures host-storm.wat and init-storm.wat).
 *
 * Before the host charged host work on the main thread's metered instance, these storms ran there
 * to the end of their fuel: the daemon (ping included) froze for 0.6 s (extension.info) to well
 * over a minute (extension.config) per call, and for a second at the first call of an extension
 * whose plugin_init storms.
 *
 * The daemon logs at warn: the guest's own lines would go to the pipe this harness reads, and a
 * pipe a busy test process drains late blocks the writer, which is the harness, not the daemon.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { makeTempDir, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { compileWat } from '../helpers/wat.js';
import { wasmPackage } from '../helpers/packages.js';

/** The bound: no ping may wait longer than this while a storm runs. */
const MAX_PING_GAP_MS = 20;
/** Pings answered before a storm starts: the connection and both ends' code are warm by then. */
const WARM_PINGS = 200;
/**
 * A storm is tried on up to this many fresh copies of its extension, and the ping bound must hold
 * on one of them (the structural checks must hold on every one). A stall the extension causes
 * happens every time, on the first call and after; a pause of a busy machine (another process,
 * the collector) lands on a run at random: the same rule as the bench's best of several rounds.
 */
const TRIALS = 5;
/**
 * Before each storm, the ping loop runs while the daemon serves this many core queries: a run
 * counts only if that quiet window stayed under the bound. A machine that cannot keep pings within
 * 20 ms with no storm at all cannot show anything about a storm; when no run counts, the test says
 * so and is skipped (its structural checks have run by then, in every run).
 */
const QUIET_QUERIES = 300;
/** A config of about a megabyte: each extension.config call copies it into guest memory. */
const BIG_CONFIG = { blob: 'x'.repeat(1 << 20) };

interface PingGaps {
  /** The longest time the ping loop went without an answer while `work` ran, in ms. */
  maxGapMs: number;
  pings: number;
}

/**
 * Runs `work` while `pinger` pings back to back, and returns the longest stretch without an answer
 * that overlaps the time `work` ran (from its start to the first answer after its end).
 */
async function pingGapsDuring(pinger: SpacedriveClient, work: () => Promise<unknown>): Promise<PingGaps> {
  const answers: number[] = [];
  let stop = false;
  let warm!: () => void;
  const warmed = new Promise<void>((r) => (warm = r));
  const loop = (async () => {
    while (!stop) {
      await pinger.ping();
      answers.push(performance.now());
      if (answers.length === WARM_PINGS) warm();
    }
  })();
  await warmed;
  const start = performance.now();
  await work();
  const end = performance.now();
  stop = true;
  await loop;
  let maxGapMs = 0;
  let pings = 0;
  let previous = answers.filter((t) => t <= start).at(-1) ?? start;
  for (const t of answers) {
    if (t <= start) continue;
    maxGapMs = Math.max(maxGapMs, t - previous);
    previous = t;
    pings++;
    if (t >= end) break;
  }
  return { maxGapMs, pings };
}

/** The call's answer or its error code. */
function settled(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (value) => ({ value }),
    (error: { code?: string }) => ({ error: error.code }),
  );
}

interface Stats {
  calls: number;
  inline: number;
}

/** One run of a storm: its windows' longest ping gaps, and the one with no storm before it. */
interface Run {
  quiet: PingGaps;
  storm: PingGaps[];
}

function describeRuns(runs: Run[]): string {
  const ms = (g: PingGaps) => `${g.maxGapMs.toFixed(1)} ms (${g.pings} pings)`;
  return runs.map((r) => `no storm ${ms(r.quiet)}, storm ${r.storm.map(ms).join(' then ')}`).join('; ');
}

describe('no extension can hold the daemon main thread', () => {
  let d: TestDaemon;
  let caller: SpacedriveClient;
  let pinger: SpacedriveClient;
  let pkgs: string;
  let hostStorm: Uint8Array;
  let initStorm: Uint8Array;
  const stats = async (id: string) => ((await caller.query('query:extensions.info.v1', { id })) as { stats: Stats }).stats;
  const limits = { instances: 1, memory_mb: 16, call_timeout_ms: 10_000 };

  /** Installs a fresh copy of a fixture under its own id: its first call is tried on the main thread. */
  async function install(id: string, wasm: Uint8Array, manifest: Record<string, unknown>): Promise<void> {
    const dir = wasmPackage(pkgs, id, wasm, { limits, ...manifest });
    const info = (await caller.action('action:extensions.install.input.v1', { path: dir })) as { state: string; error?: unknown };
    expect(info.state, JSON.stringify(info.error)).toBe('loaded');
  }

  /** Ping gaps while the daemon serves QUIET_QUERIES core queries one after another. */
  function quietWindow(): Promise<PingGaps> {
    return pingGapsDuring(pinger, async () => {
      for (let i = 0; i < QUIET_QUERIES; i++) await caller.query('query:core.status.v1', {});
    });
  }

  /**
   * Runs `trial` (a fresh copy of a storm, its structural checks, its windows) up to TRIALS times,
   * until one run on a quiet machine keeps every window under the bound. Fails when every quiet
   * run went over; skips when no run had a quiet machine to measure on.
   */
  async function expectNoStall(skip: (note: string) => void, trial: (n: number) => Promise<PingGaps[]>): Promise<void> {
    const runs: Run[] = [];
    for (let n = 1; n <= TRIALS; n++) {
      const quiet = await quietWindow();
      const storm = await trial(n);
      runs.push({ quiet, storm });
      if (quiet.maxGapMs < MAX_PING_GAP_MS && storm.every((g) => g.maxGapMs < MAX_PING_GAP_MS)) return;
    }
    if (runs.some((r) => r.quiet.maxGapMs < MAX_PING_GAP_MS)) {
      expect.fail(`a ping waited ${MAX_PING_GAP_MS} ms or more during the storm in every run: ${describeRuns(runs)}`);
    }
    console.warn(`machine too busy to measure ping gaps: ${describeRuns(runs)}`);
    skip(`this machine kept no ping loop under ${MAX_PING_GAP_MS} ms even with no storm`);
  }

  beforeAll(async () => {
    pkgs = makeTempDir('sd-stall-');
    hostStorm = await compileWat('host-storm');
    initStorm = await compileWat('init-storm');
    d = await startTestDaemon({ env: { SPACEDRIVE_LOG_LEVEL: 'warn' } });
    caller = await d.client();
    pinger = await d.client();
  }, 120_000);

  afterAll(async () => {
    await d?.stop();
    if (pkgs) rmSync(pkgs, { recursive: true, force: true });
  });

  for (const storm of ['config_storm', 'info_storm', 'log_storm'] as const) {
    it(`keeps answering pings during an ${storm} call, the first one and the next`, async (ctx) => {
      await expectNoStall(ctx.skip, async (n) => {
        const id = `${storm.replace('_', '-')}-${n}`;
        await install(id, hostStorm, { config: BIG_CONFIG });
        const method = `query:${id}:${storm}.v1`;
        const first = await pingGapsDuring(pinger, () => settled(caller.query(method, {})));
        const next = await pingGapsDuring(pinger, () => settled(caller.query(method, {})));
        // The first attempt on the main thread was given up and the export moved to the workers:
        // neither call was answered there...
        expect(await stats(id)).toMatchObject({ calls: 2, inline: 0 });
        // ...while a short export of the same extension still is.
        await caller.query(`query:${id}:noop.v1`, {});
        expect(await stats(id)).toMatchObject({ calls: 3, inline: 1 });
        return [first, next];
      });
    }, 120_000);
  }

  it('never runs a plugin_init that storms the host on the main thread, at the first call or after a trap', async (ctx) => {
    await expectNoStall(ctx.skip, async (n) => {
      const id = `init-storm-${n}`;
      await install(id, initStorm, {});
      const noop = () => settled(caller.query(`query:${id}:noop.v1`, {}));
      const first = await pingGapsDuring(pinger, noop);
      // A call that traps discards whatever instance ran it; the calls after it must not make
      // one on the main thread again. (The traps themselves are outside the windows: a worker
      // that trapped is replaced by a new thread, which is the pool's own cost.)
      const afterTraps: PingGaps[] = [];
      for (let i = 0; i < 3; i++) {
        expect(await settled(caller.query(`query:${id}:trap.v1`, {}))).toEqual({ error: 'EXTENSION_TRAPPED' });
        afterTraps.push(await pingGapsDuring(pinger, noop));
      }
      // Its plugin_init was given up on the main thread, for good: nothing of it runs there.
      expect(await stats(id)).toMatchObject({ calls: 7, inline: 0 });
      return [first, ...afterTraps];
    });
  }, 120_000);
});
