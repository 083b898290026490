/**
 * Bench section `stall`: how long a daemon's main thread can be held by an extension that storms
 * the host with cheap-looking host calls, measured as the longest gap a ping loop over the
 * daemon's Unix socket sees.
 *
 * The daemon runs in its own process (src/bench/core-server.ts) with the hand-written fixture
 * test/fixtures/wat/host-storm.wat (compiled with wabt) installed under a 1 MiB config. Each
 * round installs a fresh copy, so that its first calls are tried on the main thread's metered
 * instance as they would be in use, and calls each storm twice (1,000 extension.config calls of a
 * megabyte, 200,000 extension.info calls, 1,000,000 sd_log calls): the first call's attempt on the
 * main thread is given up and the export moves to the workers, the second runs there.
 * The baseline is the same ping loop with no storm, in the same round, for as many pings.
 *
 * Rows: the gaps between ping answers (p50, p99, with the longest in the note), with no storm and
 * during the storms. Check: the longest gap during the storms, best of ROUNDS (target <= 5 ms).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { SpacedriveClient } from '../client/index.js';
import { startDaemonProcess, stopDaemonProcess } from './core-shared.js';
import { check, summarise, type BenchSection, type Measurement } from './harness.js';

const STORM_WAT = fileURLToPath(new URL('../../test/fixtures/wat/host-storm.wat', import.meta.url));
const STORMS = ['config_storm', 'info_storm', 'log_storm'] as const;
const ROUNDS = 3;

async function compileStorm(): Promise<Uint8Array> {
  const { default: wabtInit } = await import('wabt');
  const w = await wabtInit();
  const mod = w.parseWat('host-storm.wat', readFileSync(STORM_WAT, 'utf8'), { bulk_memory: true });
  try {
    return Uint8Array.from(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

/** Writes an extension package for the storm module under `id`, with a config of about a megabyte. */
function writePackage(root: string, id: string, wasm: Uint8Array): string {
  const dir = join(root, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${id}.wasm`), wasm);
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({
      id,
      name: id,
      version: '1.0.0',
      module: `${id}.wasm`,
      sha256: createHash('sha256').update(wasm).digest('hex'),
      abi_version: 1,
      limits: { instances: 1, memory_mb: 16, call_timeout_ms: 10_000 },
      config: { blob: 'x'.repeat(1 << 20) },
    }),
  );
  return dir;
}

/** Gaps between ping answers (µs) while `work` runs, from its start to the first answer after its end. */
async function pingGaps(pinger: SpacedriveClient, work: () => Promise<unknown>): Promise<number[]> {
  const answers: number[] = [];
  let stop = false;
  let running!: () => void;
  // A few answers first: the loop is running when the work starts.
  const warm = new Promise<void>((r) => (running = r));
  const loop = (async () => {
    while (!stop) {
      await pinger.ping();
      if (answers.push(performance.now()) === 50) running();
    }
  })();
  await warm;
  const start = performance.now();
  await work();
  const end = performance.now();
  stop = true;
  await loop;
  const gaps: number[] = [];
  let previous = answers.filter((t) => t <= start).at(-1) ?? start;
  for (const t of answers) {
    if (t <= start) continue;
    gaps.push((t - previous) * 1000);
    previous = t;
    if (t >= end) break;
  }
  return gaps;
}

interface Round {
  quiet: number[];
  storm: number[];
  seconds: { quiet: number; storm: number };
}

const max = (gaps: number[]) => gaps.reduce((a, b) => Math.max(a, b), 0);

export async function run(): Promise<BenchSection> {
  const wasm = await compileStorm();
  const dir = mkdtempSync(join(tmpdir().length <= 40 ? tmpdir() : '/tmp', 'sd-bench-stall-'));
  const socketPath = join(dir, 'd.sock');
  const daemon = await startDaemonProcess(socketPath, join(dir, 'daemon'));
  const caller = await SpacedriveClient.connect({ socketPath, reconnect: false });
  const pinger = await SpacedriveClient.connect({ socketPath, reconnect: false });
  try {
    const rounds: Round[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const id = `host-storm-${r}`;
      await caller.action('action:extensions.install.input.v1', { path: writePackage(dir, id, wasm) });
      const t0 = performance.now();
      const storm: number[] = [];
      for (const name of STORMS) {
        for (let call = 0; call < 2; call++) {
          storm.push(...(await pingGaps(pinger, () => caller.query(`query:${id}:${name}.v1`, {}).catch(() => undefined))));
        }
      }
      const t1 = performance.now();
      // The baseline: as many pings again, with nothing else running.
      const quiet = await pingGaps(pinger, async () => {
        for (let i = 0; i < storm.length; i++) await caller.ping();
      });
      rounds.push({ quiet, storm, seconds: { quiet: (performance.now() - t1) / 1000, storm: (t1 - t0) / 1000 } });
    }
    // Each side keeps its best round (the lowest longest gap), as the other sections do.
    const best = (side: 'quiet' | 'storm') => [...rounds].sort((a, b) => max(a[side]) - max(b[side]))[0]!;
    const quiet = best('quiet');
    const storm = best('storm');
    const quietMaxMs = max(quiet.quiet) / 1000;
    const stormMaxMs = max(storm.storm) / 1000;
    const row = (name: string, gaps: number[], seconds: number, maxMs: number): Measurement =>
      summarise(name, Float64Array.from(gaps), seconds, `gaps between ping answers; longest ${maxMs.toFixed(2)} ms; best of ${ROUNDS} rounds`);
    return {
      title: 'stall: a daemon main thread under a host-call storm (ping loop over the Unix socket)',
      rows: [
        row('ping loop over the socket, no storm (baseline)', quiet.quiet, quiet.seconds.quiet, quietMaxMs),
        row('main-thread stall under a host-call storm (config, info, log storms)', storm.storm, storm.seconds.storm, stormMaxMs),
      ],
      checks: [check(`main-thread stall under a host-call storm: longest ping gap, ms (no storm: ${quietMaxMs.toFixed(2)} ms)`, stormMaxMs, '<=', 5)],
    };
  } finally {
    await caller.close().catch(() => undefined);
    await pinger.close().catch(() => undefined);
    await stopDaemonProcess(daemon).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
