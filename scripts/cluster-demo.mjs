#!/usr/bin/env node
/**
 * `npm run cluster`: a cluster of three daemons on the local PostgreSQL, unattended.
 *
 *  1. create a database for the demo and start three daemons (three data directories) with
 *     `spacedrive daemon start --store postgres://…/<db>`; `spacedrive cluster nodes` lists them;
 *  2. dispatch 30 counting jobs (each checkpoints every step) on the first node: all three run them;
 *  3. kill -9 the node running the most jobs;
 *  4. watch another node take each of its jobs over once its lease ran out (lease 3 s,
 *     heartbeat 0.5 s here), resuming from the job's last checkpoint;
 *  5. wait for every job to complete, check each completed once with the full count, and stop.
 *
 * The PostgreSQL server is `SPACEDRIVE_CLUSTER_PG` (default postgres://postgres@127.0.0.1:5432/test);
 * the demo's database is dropped at the end unless `--keep`. Exits non-zero when a step fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { SpacedriveClient } = await import(join(ROOT, 'dist', 'client', 'index.js'));
const pg = (await import('pg')).default;
const BIN = join(ROOT, 'bin', 'spacedrive.js');
const ADMIN_URL = process.env.SPACEDRIVE_CLUSTER_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const keep = process.argv.includes('--keep');
const JOBS = 30;
const COUNT_TO = 120;

const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[22m` : s);
const dim = (s) => (tty ? `\x1b[2m${s}\x1b[22m` : s);
const step = (n, title) => process.stdout.write(`\n${bold(`── ${n}. ${title}`)}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function admin(sql) {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

const dbName = `sd_cluster_demo_${process.pid}`;
const storeUrl = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${dbName}`;
  return u.toString();
})();
const base = tmpdir().length <= 40 ? tmpdir() : '/tmp';
const dirs = [1, 2, 3].map((i) => mkdtempSync(join(base, `sd-node${i}-`)));
const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SPACEDRIVE_'))), NO_COLOR: '1' };

function sd(dir, args, { show = true } = {}) {
  if (show) process.stdout.write(dim(`$ spacedrive ${args.join(' ')}\n`));
  const r = spawnSync(process.execPath, [BIN, '--data-dir', dir, ...args], { env, encoding: 'utf8' });
  if (show) process.stdout.write(r.stdout);
  if (r.status !== 0) throw new Error(`spacedrive ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

const clients = [];
async function cleanup() {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const d of dirs) {
    try {
      spawnSync(process.execPath, [BIN, '--data-dir', d, 'daemon', 'stop'], { env, encoding: 'utf8' });
    } catch {
      // already gone
    }
    if (!keep) rmSync(d, { recursive: true, force: true });
  }
  if (!keep) await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
}

try {
  step(1, `three daemons on one PostgreSQL database (${dbName})`);
  await admin(`CREATE DATABASE ${dbName}`);
  for (const [i, d] of dirs.entries()) {
    // Short leases so that the demo does not wait long: a killed node's jobs move after ~3 s.
    writeFileSync(join(d, 'config.json'), JSON.stringify({ jobs: { leaseMs: 3000, heartbeatMs: 500, pollIntervalMs: 500, maxConcurrent: 6 } }, null, 2));
    sd(d, ['daemon', 'start', '--store', storeUrl], { show: i === 0 });
  }
  for (const d of dirs) clients.push(await SpacedriveClient.connect({ socketPath: join(d, 'daemon.sock') }));
  sd(dirs[0], ['cluster', 'nodes']);

  step(2, `${JOBS} counting jobs dispatched on node 1; every node takes some`);
  const ids = [];
  for (let i = 0; i < JOBS; i++) ids.push((await clients[0].action('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: COUNT_TO, delay_ms: 40 } })).job_id);
  process.stdout.write(`dispatched ${ids.length} core.count jobs (to ${COUNT_TO}, a checkpoint per step)\n`);
  await sleep(2500);
  sd(dirs[0], ['cluster', 'nodes']);

  step(3, 'kill -9 the busiest node');
  const { nodes } = await clients[0].query('query:cluster.nodes.v1', {});
  const busiest = [...nodes].sort((a, b) => b.jobs_running - a.jobs_running)[0];
  const victim = dirs.findIndex((d) => readFileSync(join(d, 'node-id'), 'utf8').trim() === busiest.node_id);
  const orphans = [];
  for (const id of ids) {
    const s = await clients[0].query('query:jobs.get_status.v1', { job_id: id });
    if (s.status === 'running' && s.lease_owner?.startsWith(`${busiest.node_id}/`)) orphans.push({ id, n: s.state?.n ?? 0 });
  }
  process.kill(busiest.pid, 'SIGKILL');
  const killedAt = Date.now();
  process.stdout.write(`killed ${busiest.node_id} (pid ${busiest.pid}) holding ${orphans.length} running jobs: ${orphans.map((o) => `…${o.id.slice(-6)} at ${o.n}`).join(', ')}\n`);
  await clients[victim].close().catch(() => undefined);
  const alive = clients.filter((_, i) => i !== victim);

  step(4, 'once its leases run out, the other nodes take each of its jobs over from its last checkpoint (as soon as they have a free slot)');
  const moved = new Map();
  while (moved.size < orphans.length) {
    if (Date.now() - killedAt > 30_000) throw new Error(`only ${moved.size} of ${orphans.length} jobs moved within 30 s`);
    for (const o of orphans) {
      if (moved.has(o.id)) continue;
      const s = await alive[0].query('query:jobs.get_status.v1', { job_id: o.id });
      const owner = s.lease_owner?.split('/')[0];
      if ((s.status === 'running' && owner && owner !== busiest.node_id) || s.status === 'completed') {
        moved.set(o.id, owner ?? 'done');
        process.stdout.write(`  …${o.id.slice(-6)}: ${busiest.node_id} → ${owner ?? '(completed)'} ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill; it had counted to ${o.n}, now at ${s.state?.n ?? '?'} (from its last checkpoint, not from 0)\n`);
      }
    }
    await sleep(200);
  }
  sd(dirs[(victim + 1) % 3], ['cluster', 'nodes']);

  step(5, 'every job completes exactly once');
  for (;;) {
    const all = await Promise.all(ids.map((id) => alive[0].query('query:jobs.get_status.v1', { job_id: id })));
    const done = all.filter((s) => s.status === 'completed');
    if (done.length === ids.length) {
      const wrong = done.filter((s) => s.output?.n !== COUNT_TO);
      if (wrong.length > 0) throw new Error(`${wrong.length} jobs completed with a wrong count`);
      const lines = await Promise.all(ids.map((id) => alive[0].query('query:jobs.logs.v1', { job_id: id })));
      const completedTwice = lines.filter((l) => l.logs.filter((e) => e.message === 'completed').length !== 1);
      if (completedTwice.length > 0) throw new Error(`${completedTwice.length} jobs do not say "completed" exactly once in their log`);
      process.stdout.write(`all ${ids.length} jobs completed, each once, each counted to ${COUNT_TO}; ${moved.size} of them finished on another node after the kill\n`);
      break;
    }
    process.stdout.write(dim(`  ${done.length}/${ids.length} completed…\n`));
    await sleep(1500);
  }
  await cleanup();
  process.stdout.write(`\n${bold('cluster demo passed')}\n`);
} catch (err) {
  process.stderr.write(`\ncluster demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await cleanup();
  process.exitCode = 1;
}
