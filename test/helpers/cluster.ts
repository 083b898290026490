/**
 * Helpers for cluster tests: daemons started on one PostgreSQL database with short leases, an
 * audit of the jobs table kept by triggers in that database (every change of lease owner, every
 * completion, any checkpoint that went backwards), and a TCP proxy between a node and the
 * database that a test can cut and restore (a network partition).
 */
import { writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { startTestDaemon, type TestDaemon } from './daemon.js';

export interface ClusterTiming {
  leaseMs: number;
  heartbeatMs: number;
  pollIntervalMs: number;
  maxConcurrent: number;
}

/** A daemon that is a node of the cluster on `url`. */
export function startNode(url: string, timing: ClusterTiming, opts: { dataDir?: string } = {}): Promise<TestDaemon> {
  return startTestDaemon({
    ...(opts.dataDir ? { dataDir: opts.dataDir, keepDataDir: true } : {}),
    env: { SPACEDRIVE_STORE: url, SPACEDRIVE_EXTENSIONS_AUTOLOAD: '0', SPACEDRIVE_LOG_LEVEL: 'warn' },
    setup: (dir) =>
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({ jobs: { leaseMs: timing.leaseMs, heartbeatMs: timing.heartbeatMs, pollIntervalMs: timing.pollIntervalMs, maxConcurrent: timing.maxConcurrent, shutdownGraceMs: 1000 } }),
      ),
  });
}

/**
 * Audit triggers on the jobs table (call after the first node created it): `job_claims` gets a
 * row each time a job's lease owner changes to a worker (when, by whom), `job_recoveries` one
 * each time a running job goes back to the queue without its run ending it (taken from a lost
 * node), `job_completions` one per completion, `checkpoints_backwards` one for any write that
 * lowered a counting job's `n`.
 */
export async function installAudit(url: string): Promise<void> {
  await withClient(url, (c) =>
    c.query(`
      CREATE TABLE job_claims (job_id TEXT, owner TEXT, at BIGINT);
      CREATE TABLE job_completions (job_id TEXT, at BIGINT);
      CREATE TABLE checkpoints_backwards (job_id TEXT, before_n INT, after_n INT, owner TEXT);
      CREATE TABLE job_recoveries (job_id TEXT, old_owner TEXT, at BIGINT);
      CREATE FUNCTION audit_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.status = 'running' AND NEW.lease_owner IS DISTINCT FROM OLD.lease_owner THEN
          INSERT INTO job_claims VALUES (NEW.id, NEW.lease_owner, (extract(epoch from clock_timestamp()) * 1000)::bigint);
        END IF;
        IF OLD.status = 'running' AND NEW.status = 'queued' AND NEW.lease_owner IS NULL THEN
          INSERT INTO job_recoveries VALUES (NEW.id, OLD.lease_owner, (extract(epoch from clock_timestamp()) * 1000)::bigint);
        END IF;
        IF NEW.status = 'completed' AND OLD.status <> 'completed' THEN
          INSERT INTO job_completions VALUES (NEW.id, (extract(epoch from clock_timestamp()) * 1000)::bigint);
        END IF;
        IF OLD.state IS NOT NULL AND NEW.state IS NOT NULL AND (NEW.state->>'n')::int < (OLD.state->>'n')::int THEN
          INSERT INTO checkpoints_backwards VALUES (NEW.id, (OLD.state->>'n')::int, (NEW.state->>'n')::int, NEW.lease_owner);
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER audit_jobs AFTER UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION audit_jobs();
    `),
  );
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function sql<Row = Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<Row[]> {
  return withClient(url, async (c) => (await c.query(text, params)).rows as Row[]);
}

/** A node's id (the prefix of its lease owners), from its data directory. */
export async function nodeIdOf(d: TestDaemon): Promise<string> {
  const c = await d.client();
  const r = (await c.query('query:cluster.nodes.v1', {})) as { nodes: Array<{ node_id: string; self: boolean }> };
  return r.nodes.find((n) => n.self)!.node_id;
}

/** A TCP proxy to PostgreSQL on 127.0.0.1:5432 that a test can cut (every connection dropped, new ones refused) and restore. */
export interface CuttableProxy {
  port: number;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startProxy(target = { host: '127.0.0.1', port: 5432 }): Promise<CuttableProxy> {
  let cut = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
