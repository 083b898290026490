/**
 * A fresh PostgreSQL database per test file (or per test), created on the local server and
 * dropped afterwards, so tests never see each other's rows and need no cleanup between runs.
 *
 *   const pgdb = await createTestDatabase('jobs');   // pgdb.url: postgres://…/sd_jobs_<pid>_<n>
 *   afterAll(() => pgdb.drop());
 *
 * The server is `SPACEDRIVE_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`, trust auth; the
 * test set-up, scripts/test-env.sh, starts it when it is down).
 */
import pg from 'pg';

export const TEST_PG_ADMIN_URL = process.env.SPACEDRIVE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  /** A URL naming the new database. */
  url: string;
  name: string;
  /** Drops the database, terminating connections still open to it. */
  drop(): Promise<void>;
}

let counter = 0;

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const safe = label.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 20);
  const name = `sd_${safe}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  await admin((c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  const u = new URL(TEST_PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: () => admin(async (c) => { await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`); }),
  };
}

/** Terminates every connection of `applicationName` to `database` (a node losing its database). */
export async function terminateConnections(database: string, applicationName?: string): Promise<number> {
  return admin(async (c) => {
    const r = await c.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()${applicationName ? ' AND application_name LIKE $2' : ''}`,
      applicationName ? [database, `${applicationName}%`] : [database],
    );
    return r.rowCount ?? 0;
  });
}
