import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { MIGRATIONS, SqliteJobStore } from '../../src/jobs/store/index.js';
import { jobStoreContract } from '../contract/job-store.contract.js';

let dir = '';
jobStoreContract('SQLite', {
  async create() {
    dir = mkdtempSync(join(tmpdir(), 'sd-jobstore-'));
    return new SqliteJobStore({ path: join(dir, 'jobs.db') });
  },
  async reopen(store) {
    await store.close();
    return new SqliteJobStore({ path: join(dir, 'jobs.db') });
  },
  async destroy() {
    rmSync(dir, { recursive: true, force: true });
  },
});

describe('SQLite job store specifics', () => {
  it('uses WAL with the configured synchronous level and records its migrations', async () => {
    const d = mkdtempSync(join(tmpdir(), 'sd-jobstore-'));
    try {
      const store = new SqliteJobStore({ path: join(d, 'jobs.db'), synchronous: 'FULL' });
      await store.close();
      const db = new Database(join(d, 'jobs.db'));
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const versions = (db.prepare('SELECT version FROM migrations ORDER BY version').all() as Array<{ version: number }>).map((r) => r.version);
      expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
      // A database from a newer version is refused with a clear error, not misread.
      db.prepare('INSERT INTO migrations (version, name, applied_at) VALUES (999, ?, 0)').run('future');
      db.close();
      expect(() => new SqliteJobStore({ path: join(d, 'jobs.db') })).toThrow(/newer version/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
