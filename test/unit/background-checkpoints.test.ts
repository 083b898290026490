/**
 * The WAL checkpoint thread (src/sqlite/background-checkpoints.ts) against a real SQLite file:
 * commits made before the thread has started are checkpointed without waiting for a later one.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackgroundCheckpoints } from '../../src/sqlite/index.js';
import { waitFor } from '../helpers/wait.js';

describe('background WAL checkpoints', () => {
  let dir = '';
  let db: Database.Database;
  let checkpoints: BackgroundCheckpoints;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sd-checkpoints-'));
    db = new Database(join(dir, 'test.db'));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (v TEXT)');
  });
  afterEach(async () => {
    await checkpoints.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const commit = (v: string) => {
    db.prepare('INSERT INTO t (v) VALUES (?)').run(v);
    checkpoints.committed();
  };
  /** Rows in the database file alone, as if the WAL were gone: what checkpoints have copied back. */
  const rowsCheckpointed = () => {
    const copy = join(dir, 'main-file-only.db');
    copyFileSync(join(dir, 'test.db'), copy);
    // A copy taken while a checkpoint writes the file can be torn ("malformed"): not yet, then.
    let probe: Database.Database | undefined;
    try {
      probe = new Database(copy);
      // Until the table's creation is copied back, the file alone does not have it.
      const hasTable = probe.prepare("SELECT 1 FROM sqlite_master WHERE name = 't'").get() !== undefined;
      return hasTable ? (probe.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n : 0;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') return -1;
      throw err;
    } finally {
      probe?.close();
      rmSync(copy);
    }
  };

  it('checkpoints the commit that started the thread, with no commit after it', async () => {
    checkpoints = new BackgroundCheckpoints(db, join(dir, 'test.db'), { startAfterCommits: 1, intervalMs: 1 });
    commit('only');
    expect(checkpoints.running).toBe(true);
    // Before the fix the thread counted from the commits it found at start, so it waited for a
    // next commit that never came: this wait ran out.
    await waitFor(() => checkpoints.checkpoints >= 1, 'the first checkpoint', 10_000);
  });

  it('checkpoints the commits made while the thread was starting', async () => {
    checkpoints = new BackgroundCheckpoints(db, join(dir, 'test.db'), { startAfterCommits: 1, intervalMs: 1 });
    // Right after the commit that starts the thread, while it is starting.
    for (let i = 0; i < 50; i++) commit(`v${i}`);
    await waitFor(() => rowsCheckpointed() === 50, 'all 50 commits copied back into the database file', 10_000);
  });
});
