/**
 * Bench section `core`: a no-op core query through `execute` in-process and through the daemon's
 * Unix socket, beside two baselines measured in the same run:
 *  - a bare JSON.stringify/JSON.parse round trip of a request-sized object;
 *  - a bare newline-delimited JSON echo server on a Unix socket (the floor: parse the line,
 *    answer with its id), driven by the same client the same way.
 * Checks: socket throughput with 16 pipelined ≥ 0.6 × the echo floor's; single-client p50
 * ≤ 1.5 × the echo floor's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpacedriveClient } from '../client/index.js';
import { loadOptions } from '../config/index.js';
import { startDaemon } from '../daemon/index.js';
import { silentLogger } from '../logging/index.js';
import type { OperationContext } from '../registry/index.js';
import { NOOP, noopQuery, startEchoServer } from './core-shared.js';
import { check, measure, measureSync, type BenchCheck, type BenchSection, type Measurement } from './harness.js';

const OPS_SERIAL = 10_000;
const OPS_PIPELINED = 50_000;
const ROUNDS = 5;
const SERVER_SCRIPT = fileURLToPath(new URL('./core-server.js', import.meta.url));

/** Starts the echo server or the daemon in a child process; resolves once it listens. */
function startServerProcess(mode: 'echo' | 'daemon', socketPath: string, dataDir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_SCRIPT, mode, socketPath, dataDir], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdout!.setEncoding('utf8').once('data', (d: string) => (d.startsWith('ready') ? resolve(child) : reject(new Error(d))));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with code ${code}`)));
  });
}

function stopServerProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.stdin!.end();
  });
}

/** 1 in flight and 16 pipelined against one socket, with the same client for every server. */
async function drive(label: string, socketPath: string): Promise<[Measurement, Measurement]> {
  const client = await SpacedriveClient.connect({ socketPath, reconnect: false });
  try {
    const one = await measure(`${label}, 1 in flight`, () => client.query(NOOP, {}), { ops: OPS_SERIAL });
    const sixteen = await measure(`${label}, 16 pipelined`, () => client.query(NOOP, {}), { ops: OPS_PIPELINED, concurrency: 16 });
    return [one, sixteen];
  } finally {
    await client.close();
  }
}

/**
 * Drives the floor and the daemon in alternating rounds and keeps each one's best round (lowest
 * p50 with 1 in flight, highest throughput with 16). On a small shared machine other processes
 * preempt either side at random; alternating and keeping the best compares both under the
 * least disturbed conditions instead of whichever happened to run during a burst of load.
 */
async function bestOfRounds(
  floorLabel: string,
  floorPath: string,
  sockLabel: string,
  sockPath: string,
): Promise<{ floor: [Measurement, Measurement]; sock: [Measurement, Measurement] }> {
  let floor: [Measurement, Measurement] | null = null;
  let sock: [Measurement, Measurement] | null = null;
  const better = (a: [Measurement, Measurement] | null, b: [Measurement, Measurement]): [Measurement, Measurement] =>
    a === null ? b : [a[0].p50Us <= b[0].p50Us ? a[0] : b[0], a[1].opsPerSec >= b[1].opsPerSec ? a[1] : b[1]];
  for (let round = 0; round < ROUNDS; round++) {
    floor = better(floor, await drive(floorLabel, floorPath));
    sock = better(sock, await drive(sockLabel, sockPath));
  }
  const note = `best of ${ROUNDS} alternating rounds`;
  for (const m of [...floor!, ...sock!]) m.note = note;
  return { floor: floor!, sock: sock! };
}

function targets(where: string, sock: [Measurement, Measurement], floor: [Measurement, Measurement]): BenchCheck[] {
  return [
    check(`${where}: socket 16 pipelined ops/s ÷ echo floor 16 pipelined ops/s`, sock[1].opsPerSec / floor[1].opsPerSec, '>=', 0.6),
    check(`${where}: socket 1-in-flight p50 ÷ echo floor 1-in-flight p50`, sock[0].p50Us / floor[0].p50Us, '<=', 1.5),
  ];
}

export async function run(): Promise<BenchSection> {
  const dir = mkdtempSync(join(tmpdir().length <= 40 ? tmpdir() : '/tmp', 'sd-bench-'));
  const rows: Measurement[] = [];
  try {
    // Baseline 1: JSON round trip of a request-sized object.
    const request = { id: 1, type: 'query', method: NOOP, library_id: null, payload: {} };
    rows.push(measureSync('baseline: JSON.stringify + JSON.parse', () => JSON.parse(JSON.stringify(request)), { ops: 200_000 }));

    // Separate processes (how the CLI and the daemon run).
    const echoChild = await startServerProcess('echo', join(dir, 'echo-x.sock'), dir);
    const daemonChild = await startServerProcess('daemon', join(dir, 'daemon-x.sock'), join(dir, 'data-x'));
    const crossProcess = await bestOfRounds(
      'floor: NDJSON echo server (other process)',
      join(dir, 'echo-x.sock'),
      'core no-op via socket (daemon in other process)',
      join(dir, 'daemon-x.sock'),
    );
    await Promise.all([stopServerProcess(echoChild), stopServerProcess(daemonChild)]);

    // Same process: client and servers share one event loop.
    const echo = await startEchoServer(join(dir, 'echo.sock'));
    const options = loadOptions({ overrides: { dataDir: join(dir, 'data') }, env: {} });
    const daemon = await startDaemon(options, { logger: silentLogger(), extraOperations: [noopQuery] });
    try {
      const ctx: OperationContext = { core: daemon.core, libraryId: null, caller: { kind: 'client', chain: [] } };
      const executor = daemon.core.executor;
      rows.push(await measure('core no-op via execute (in-process), 1 in flight', () => executor.execute(NOOP, {}, ctx, 'query'), { ops: 100_000 }));
      rows.push(
        await measure('core no-op via execute (in-process), 16 concurrent', () => executor.execute(NOOP, {}, ctx, 'query'), { ops: 100_000, concurrency: 16 }),
      );
      const sameProcess = await bestOfRounds(
        'floor: NDJSON echo server (same process)',
        join(dir, 'echo.sock'),
        'core no-op via socket (daemon in same process)',
        daemon.socketPath,
      );
      await new Promise((r) => echo.close(r));
      rows.push(...crossProcess.floor, ...crossProcess.sock, ...sameProcess.floor, ...sameProcess.sock);
      return {
        title: 'core: no-op query in-process and over the socket, beside JSON and the NDJSON echo floor',
        rows,
        checks: [...targets('other process', crossProcess.sock, crossProcess.floor), ...targets('same process', sameProcess.sock, sameProcess.floor)],
      };
    } finally {
      await daemon.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
