/**
 * Bench section `storage`: the PostgreSQL driver choice, measured on the library store's own
 * operations. The same PostgresLibraryStore (the same SQL) runs over the shared layer's `pg` pool
 * and over an executor on `postgres` (porsager), against one local database:
 *  - insert an entry (INSERT … RETURNING with JSONB metadata), one at a time and 8 in flight;
 *  - read an entry by id (point SELECT);
 *  - merge an entry's metadata (a transaction: SELECT … FOR UPDATE, UPDATE … RETURNING).
 * Each driver has a pool of 10 and its defaults (`postgres` prepares statements; `pg` sends
 * unnamed ones). The checks are the ratios pg / postgres of p50 (and of throughput in flight).
 *
 * The server is SPACEDRIVE_BENCH_PG (default postgres://postgres@127.0.0.1:5432/test); a database
 * is created for the run and dropped after it.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import postgres from 'postgres';
import { PostgresLibraryBackend } from '../library/postgres-backend.js';
import type { LibraryStore, NewEntry } from '../library/store.js';
import { openPostgres, type PostgresDatabase, type SqlExecutor } from '../storage/postgres/index.js';
import { check, measure, type BenchSection, type Measurement } from './harness.js';

const ADMIN_URL = process.env.SPACEDRIVE_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const OPS = Number(process.env.SPACEDRIVE_BENCH_STORAGE_OPS ?? 1000);

/** The subset of PostgresDatabase the library store uses, on the `postgres` driver. */
function porsagerDatabase(url: string): PostgresDatabase & { end(): Promise<void> } {
  // BIGINT as numbers, as the shared layer configures `pg`.
  const sql = postgres(url, { max: 10, onnotice: () => undefined, types: { bigint: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) } } });
  const executor = (run: typeof sql | postgres.TransactionSql): SqlExecutor => ({
    async query<Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> {
      return [...(await run.unsafe(text, params as postgres.ParameterOrJSON<never>[]))] as Row[];
    },
    async execute(text: string, params: readonly unknown[] = []): Promise<number> {
      return (await run.unsafe(text, params as postgres.ParameterOrJSON<never>[])).count;
    },
  });
  const base = executor(sql);
  return {
    url,
    available: true,
    query: base.query,
    execute: base.execute,
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) => sql.begin((tx) => fn(executor(tx))) as Promise<T>,
    listen: async (channel, handler) => {
      const sub = await sql.listen(channel, handler);
      return () => sub.unlisten();
    },
    notify: async (channel, payload) => {
      await sql.notify(channel, payload);
    },
    ping: async () => {
      await sql`SELECT 1`;
    },
    close: () => sql.end(),
    end: () => sql.end(),
  };
}

function entry(): NewEntry {
  const id = randomUUID();
  return { id, name: `${id}.eml`, path: `mail/${id}.eml`, entryType: 'Email', kind: 'email', metadata: { from: 'ada@example.com', total: 12.5, tags: ['receipt'] }, contentHash: null, size: 2048, mtime: null, locationId: null, contentStored: false, dedupeKey: null };
}

async function admin(fn: (c: pg.Client) => Promise<unknown>): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    await fn(c);
  } finally {
    await c.end();
  }
}

async function driverRows(label: string, db: PostgresDatabase): Promise<{ insert: Measurement; insert8: Measurement; get: Measurement; merge: Measurement }> {
  const backend = new PostgresLibraryBackend(db);
  const libraryId = randomUUID();
  await backend.addLibrary({ id: libraryId, name: `bench ${label} ${libraryId}`, createdAt: Date.now() }, false);
  const store: LibraryStore = await backend.openStore(libraryId);
  const insert = await measure(`${label}: insert entry`, () => store.insertEntry(entry()), { ops: OPS });
  const insert8 = await measure(`${label}: insert entry, 8 in flight`, () => store.insertEntry(entry()), { ops: OPS, concurrency: 8 });
  const ids = (await store.listEntries({ limit: 500 })).map((e) => e.id);
  let i = 0;
  const get = await measure(`${label}: get entry by id`, () => store.getEntry(ids[i++ % ids.length]!), { ops: OPS });
  let j = 0;
  const merge = await measure(`${label}: merge metadata (transaction)`, () => store.updateEntryMetadata(ids[j++ % ids.length]!, { seen: j }, false), { ops: OPS });
  return { insert, insert8, get, merge };
}

export async function run(): Promise<BenchSection> {
  const name = `sd_bench_storage_${process.pid}`;
  await admin((c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  const url = u.toString();
  const pgDb = openPostgres({ url, poolSize: 10 });
  const porsager = porsagerDatabase(url);
  try {
    await new PostgresLibraryBackend(pgDb).migrate();
    // Alternate the drivers so neither always runs on a warmer server.
    const p1 = await driverRows('pg', pgDb);
    const q1 = await driverRows('postgres', porsager);
    const p2 = await driverRows('pg', pgDb);
    const q2 = await driverRows('postgres', porsager);
    const best = (a: Measurement, b: Measurement) => (a.p50Us <= b.p50Us ? a : b);
    const fastest = (a: Measurement, b: Measurement) => (a.opsPerSec >= b.opsPerSec ? a : b);
    const P = { insert: best(p1.insert, p2.insert), insert8: fastest(p1.insert8, p2.insert8), get: best(p1.get, p2.get), merge: best(p1.merge, p2.merge) };
    const Q = { insert: best(q1.insert, q2.insert), insert8: fastest(q1.insert8, q2.insert8), get: best(q1.get, q2.get), merge: best(q1.merge, q2.merge) };
    return {
      title: 'storage: PostgreSQL drivers on the library store (pg, the shared layer, vs postgres), best of two rounds',
      rows: [P.insert, Q.insert, P.insert8, Q.insert8, P.get, Q.get, P.merge, Q.merge],
      checks: [
        // Informational bounds: pg stays unless postgres is clearly faster on what the stores do.
        check('insert p50: pg / postgres', P.insert.p50Us / Q.insert.p50Us, '<=', 1.5),
        check('insert, 8 in flight, ops/s: pg / postgres', P.insert8.opsPerSec / Q.insert8.opsPerSec, '>=', 0.67),
        check('get p50: pg / postgres', P.get.p50Us / Q.get.p50Us, '<=', 1.5),
        check('merge (transaction) p50: pg / postgres', P.merge.p50Us / Q.merge.p50Us, '<=', 1.5),
      ],
    };
  } finally {
    await pgDb.close();
    await porsager.end();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
  }
}
