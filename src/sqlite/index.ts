/**
 * What the SQLite stores (jobs, libraries) share: numbered migrations, applied in order, each in
 * its own transaction, recorded in `migrations (version, name, applied_at)`. Never edit a
 * migration that has shipped: add the next number.
 */
import type Database from 'better-sqlite3';
import { ErrorCode, SpacedriveError } from '../errors/index.js';

export { BackgroundCheckpoints, type BackgroundCheckpointOptions } from './background-checkpoints.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Applies the migrations not yet recorded. A database written by a newer version (a schema
 * version this code does not know) is refused rather than used half-understood; `what` names the
 * database in that message.
 */
export function applyMigrations(db: Database.Database, migrations: readonly Migration[], what: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const done = new Set((db.prepare('SELECT version FROM migrations').all() as Array<{ version: number }>).map((r) => r.version));
  const latest = Math.max(0, ...done);
  const known = Math.max(0, ...migrations.map((m) => m.version));
  if (latest > known) {
    throw new SpacedriveError(
      ErrorCode.CONFIG_INVALID,
      `${what} was written by a newer version (schema ${latest}, this version knows up to ${known}); upgrade spacedrive`,
    );
  }
  const record = db.prepare('INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    })();
  }
}
