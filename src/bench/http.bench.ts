/**
 * Bench section `http`: the bench's no-op query over the daemon's HTTP API and over GraphQL, beside
 * a bare node:http server that parses the body and answers `{}` (the floor), all measured in the
 * same run, each server in its own process, with the same load client: undici's Pool with 16
 * keep-alive connections and 16 requests in flight.
 * Checks: HTTP ≥ 0.6 × the floor's throughput; GraphQL ≥ 0.7 × HTTP's.
 * Also measured (no check), for the record of why the HTTP API runs on Hono: Hono and Fastify on
 * the same no-op JSON route.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { NOOP } from './core-shared.js';
import { check, measure, type BenchSection, type Measurement } from './harness.js';

const OPS = 20_000;
const CONNECTIONS = 16;
const ROUNDS = 5;
const SERVER_SCRIPT = fileURLToPath(new URL('./http-server-proc.js', import.meta.url));

interface ServerProcess {
  child: ChildProcess;
  port: number;
  token: string;
}

function startServer(mode: 'echo' | 'hono' | 'fastify' | 'daemon', dataDir: string): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_SCRIPT, mode, dataDir], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdout!.setEncoding('utf8').once('data', (d: string) => {
      const [word, port, token] = d.trim().split(' ');
      if (word === 'ready') resolve({ child, port: Number(port), token: token! });
      else reject(new Error(d));
    });
    child.once('exit', (code) => reject(new Error(`${mode} server exited with code ${code}`)));
  });
}

function stopServer(s: ServerProcess): Promise<void> {
  return new Promise((resolve) => {
    s.child.once('exit', () => resolve());
    s.child.stdin!.end();
  });
}

/** POSTs `body` to `path` with 16 keep-alive connections, 16 in flight; every answer must be 200. */
async function drive(label: string, port: number, path: string, body: string, headers: Record<string, string> = {}): Promise<Measurement> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });
  try {
    const op = async (): Promise<void> => {
      const res = await pool.request({ method: 'POST', path, body, headers: { 'content-type': 'application/json', ...headers } });
      const text = await res.body.text();
      if (res.statusCode !== 200 || text.includes('"errors"')) throw new Error(`${label}: ${res.statusCode} ${text}`);
    };
    return await measure(label, op, { ops: OPS, concurrency: CONNECTIONS, warmup: 1000 });
  } finally {
    await pool.close();
  }
}

export async function run(): Promise<BenchSection> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sd-bench-http-'));
  const servers: ServerProcess[] = [];
  try {
    const echo = await startServer('echo', dataDir);
    servers.push(echo);
    const daemon = await startServer('daemon', dataDir);
    servers.push(daemon);
    const auth = { authorization: `Bearer ${daemon.token}` };
    const best = (a: Measurement | undefined, b: Measurement): Measurement => (a === undefined || b.opsPerSec > a.opsPerSec ? b : a);
    let floor: Measurement | undefined;
    let http: Measurement | undefined;
    let graphql: Measurement | undefined;
    // Alternating rounds, each side's best kept: a burst of load from other processes on this
    // small machine then hurts neither side's figure more than the other's.
    for (let round = 0; round < ROUNDS; round++) {
      floor = best(floor, await drive('node:http echo (floor), 16 connections', echo.port, '/', '{}'));
      http = best(http, await drive(`HTTP POST /v1/query/${NOOP}, 16 connections`, daemon.port, `/v1/query/${NOOP}`, '{}', auth));
      graphql = best(graphql, await drive('GraphQL { bench_noop }, 16 connections', daemon.port, '/graphql', JSON.stringify({ query: '{ bench_noop }' }), auth));
    }
    const hono = await startServer('hono', dataDir);
    servers.push(hono);
    const fastify = await startServer('fastify', dataDir);
    servers.push(fastify);
    let honoRow: Measurement | undefined;
    let fastifyRow: Measurement | undefined;
    for (let round = 0; round < 2; round++) {
      honoRow = best(honoRow, await drive('Hono no-op route (framework choice)', hono.port, '/noop', '{}'));
      fastifyRow = best(fastifyRow, await drive('Fastify no-op route (framework choice)', fastify.port, '/noop', '{}'));
    }
    const rows = [floor!, http!, graphql!, honoRow!, fastifyRow!];
    for (const r of rows.slice(0, 3)) r.note = `best of ${ROUNDS} alternating rounds`;
    for (const r of rows.slice(3)) r.note = 'best of 2 rounds; no check';
    return {
      title: 'http: no-op query over HTTP and GraphQL (undici Pool, 16 keep-alive connections)',
      rows,
      checks: [
        check('HTTP throughput / node:http echo throughput', http!.opsPerSec / floor!.opsPerSec, '>=', 0.6),
        check('GraphQL throughput / HTTP throughput', graphql!.opsPerSec / http!.opsPerSec, '>=', 0.7),
      ],
    };
  } finally {
    for (const s of servers) await stopServer(s);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
