/**
 * Bench section `core`: a no-op core query through `execute` in-process and through the daemon's
 * Unix socket, beside two baselines measured in the same run:
 *  - a bare JSON.stringify/JSON.parse round trip of a request-sized object;
 *  - a bare newline-delimited JSON echo server on a Unix socket (the floor: parse the line,
 *    answer with its id), driven by the same client the same way.
 * Checks: socket throughput with 16 pipelined ≥ 0.6 × the echo floor's; single-client p50
 * ≤ 1.5 × the echo floor's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpacedriveClient } from '../client/index.js';
import { loadOptions } from '../config/index.js';
import { startDaemon } from '../daemon/index.js';
import { silentLogger } from '../logging/index.js';
import { defineOperation, type OperationContext } from '../registry/index.js';
import { check, measure, measureSync, type BenchSection, type Measurement } from './harness.js';

const NOOP = 'query:bench.noop.v1';
const OPS_SERIAL = 20_000;
const OPS_PIPELINED = 100_000;

/** A query that does nothing, so the figures are the cost of the path around it. */
const noopQuery = defineOperation<Record<string, never>, Record<string, never>>({
  method: NOOP,
  kind: 'query',
  scope: 'core',
  description: 'Does nothing (benchmarks).',
  input: { type: 'object' },
  output: { type: 'object' },
  handler: () => ({}),
});

/** The floor: reads lines, parses each, answers `{"id":…,"ok":true,"result":{}}`. */
function startEchoServer(path: string): Promise<Server> {
  const server = createServer((socket: Socket) => {
    let partial = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const text = partial + chunk;
      let start = 0;
      let out = '';
      let nl = text.indexOf('\n');
      while (nl !== -1) {
        const msg = JSON.parse(text.slice(start, nl)) as { id: number };
        out += JSON.stringify({ id: msg.id, ok: true, result: {} }) + '\n';
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      partial = text.slice(start);
      if (out) socket.write(out);
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

export async function run(): Promise<BenchSection> {
  const dir = mkdtempSync(join(tmpdir().length <= 40 ? tmpdir() : '/tmp', 'sd-bench-'));
  const rows: Measurement[] = [];
  try {
    // Baseline 1: JSON round trip of a request-sized object.
    const request = { id: 1, type: 'query', method: NOOP, library_id: null, payload: {} };
    rows.push(measureSync('baseline: JSON.stringify + JSON.parse', () => JSON.parse(JSON.stringify(request)), { ops: 200_000 }));

    // Baseline 2: the echo floor, driven by the same client as the daemon.
    const echoPath = join(dir, 'echo.sock');
    const echo = await startEchoServer(echoPath);
    const echoClient = await SpacedriveClient.connect({ socketPath: echoPath, reconnect: false });
    const echo1 = await measure('floor: NDJSON echo server, 1 in flight', () => echoClient.query(NOOP, {}), { ops: OPS_SERIAL });
    const echo16 = await measure('floor: NDJSON echo server, 16 pipelined', () => echoClient.query(NOOP, {}), { ops: OPS_PIPELINED, concurrency: 16 });
    rows.push(echo1, echo16);
    await echoClient.close();
    await new Promise((r) => echo.close(r));

    // The daemon, in-process, with the no-op query added to core.
    const options = loadOptions({ overrides: { dataDir: join(dir, 'data') }, env: {} });
    const daemon = await startDaemon(options, { logger: silentLogger(), extraOperations: [noopQuery] });
    try {
      const ctx: OperationContext = { core: daemon.core, libraryId: null, caller: { kind: 'client', chain: [] } };
      const executor = daemon.core.executor;
      rows.push(await measure('core no-op via execute (in-process), 1 in flight', () => executor.execute(NOOP, {}, ctx, 'query'), { ops: 100_000 }));
      rows.push(
        await measure('core no-op via execute (in-process), 16 concurrent', () => executor.execute(NOOP, {}, ctx, 'query'), { ops: 100_000, concurrency: 16 }),
      );
      const client = await SpacedriveClient.connect({ socketPath: daemon.socketPath, reconnect: false });
      const sock1 = await measure('core no-op via socket, 1 in flight', () => client.query(NOOP, {}), { ops: OPS_SERIAL });
      const sock16 = await measure('core no-op via socket, 16 pipelined', () => client.query(NOOP, {}), { ops: OPS_PIPELINED, concurrency: 16 });
      rows.push(sock1, sock16);
      await client.close();

      return {
        title: 'core: no-op query in-process and over the socket, beside JSON and the NDJSON echo floor',
        rows,
        checks: [
          check('socket 16 pipelined ops/s ÷ echo floor 16 pipelined ops/s', sock16.opsPerSec / echo16.opsPerSec, '>=', 0.6),
          check('socket 1-in-flight p50 ÷ echo floor 1-in-flight p50', sock1.p50Us / echo1.p50Us, '<=', 1.5),
        ],
      };
    } finally {
      await daemon.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
