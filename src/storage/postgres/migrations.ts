/**
 * Numbered schema migrations for the PostgreSQL stores, applied under an advisory lock so that
 * several nodes starting at once against one database apply each migration exactly once (the
 * others wait, then find it applied).
 *
 * Each store owns a `component` name (`jobs`, `library`, `credentials`, …) and its own numbered
 * list; versions are applied in order, each in its own transaction with its bookkeeping row. A
 * database that has a version of a component newer than this build knows is refused with
 * CONFIG_INVALID (an older node must not write to a schema it does not understand).
 */
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { PostgresDatabase } from './connection.js';

export interface PostgresMigration {
  /** 1, 2, 3, … with no gaps. */
  version: number;
  /** A short description, kept in the bookkeeping table. */
  name: string;
  /** One or more statements, run in one transaction. */
  sql: string;
}

/** One advisory lock key for every component: migrations are rare and short. */
const MIGRATION_LOCK_KEY = 0x5d_0001;

export async function migratePostgres(db: PostgresDatabase, component: string, migrations: readonly PostgresMigration[]): Promise<{ applied: number[] }> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations of ${component} must be numbered 1, 2, 3…: found ${m.version} at position ${i + 1}`);
  });
  return db.transaction(async (tx) => {
    // Transaction-scoped: released by COMMIT or ROLLBACK, even if this process dies.
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.execute(`CREATE TABLE IF NOT EXISTS spacedrive_migrations (
      component TEXT NOT NULL,
      version INTEGER NOT NULL,
      name TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      PRIMARY KEY (component, version)
    )`);
    const rows = await tx.query<{ version: number }>('SELECT version FROM spacedrive_migrations WHERE component = $1', [component]);
    const done = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...done);
    if (newest > migrations.length) {
      throw new SpacedriveError(
        ErrorCode.CONFIG_INVALID,
        `the database's ${component} schema is at version ${newest}, newer than this daemon knows (${migrations.length}): upgrade this node to the cluster's version`,
        { component, database_version: newest, known_version: migrations.length },
      );
    }
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.execute(m.sql);
      await tx.execute('INSERT INTO spacedrive_migrations (component, version, name) VALUES ($1, $2, $3)', [component, m.version, m.name]);
      applied.push(m.version);
    }
    return { applied };
  }, { retries: 0 });
}
