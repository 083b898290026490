import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { MIGRATIONS, SqliteJobStore } from '../../src/jobs/store/index.js';
import { uuidv7 } from '../../src/jobs/store/sqlite.js';
import { applyMigrations } from '../../src/sqlite/index.js';
import { jobStoreContract } from '../contract/job-store.contract.js';
import { waitFor } from '../helpers/wait.js';

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
  it('keeps the log lines of a database made before log rows were keyed by job, and their seqs keep rising', async () => {
    const d = mkdtempSync(join(tmpdir(), 'sd-jobstore-'));
    try {
      const path = join(d, 'jobs.db');
      const db = new Database(path);
      applyMigrations(db, MIGRATIONS.filter((m) => m.version < 5), 'job store');
      const insert = db.prepare('INSERT INTO job_logs (job_id, time, level, message) VALUES (?, ?, ?, ?)');
      insert.run('job-a', 1, 'info', 'first');
      insert.run('job-b', 2, 'info', 'newest, pruned below');
      db.close();
      const store = new SqliteJobStore({ path });
      expect((await store.logs('job-a')).map((l) => [l.seq, l.message])).toEqual([[1, 'first']]);
      const raw = new Database(path);
      raw.prepare('DELETE FROM job_logs WHERE job_id = ?').run('job-b');
      raw.close();
      await store.appendLogs([{ jobId: 'job-a', time: 3, level: 'info', message: 'second' }]);
      const lines = await store.logs('job-a', { afterSeq: 1 });
      expect(lines.map((l) => l.message)).toEqual(['second']);
      expect(lines[0]!.seq).toBeGreaterThan(1);
      await store.close();
      // Reopened, the store hands out seqs above every stored line again (it keeps no counter on disk).
      const reopened = new SqliteJobStore({ path });
      await reopened.appendLogs([{ jobId: 'job-a', time: 4, level: 'info', message: 'third' }]);
      const all = await reopened.logs('job-a');
      expect(all.map((l) => l.message)).toEqual(['first', 'second', 'third']);
      expect(all[2]!.seq).toBeGreaterThan(all[1]!.seq);
      await reopened.close();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('undoes a write that fails after its first statement, alone: the rest of its group commit lands', async () => {
    const d = mkdtempSync(join(tmpdir(), 'sd-jobstore-'));
    const store = new SqliteJobStore({ path: join(d, 'jobs.db') });
    try {
      // One group commit: the middle enqueue inserts its job, then its log line breaks NOT NULL.
      const first = store.enqueue({ type: 't.a', params: { n: 1 }, maxAttempts: 1, log: { level: 'info', message: 'one' } });
      const broken = store.enqueue({ type: 't.a', params: { n: 2 }, maxAttempts: 1, log: { level: 'info', message: null as unknown as string } });
      const last = store.enqueue({ type: 't.a', params: { n: 3 }, maxAttempts: 1, log: { level: 'info', message: 'three' } });
      await expect(broken).rejects.toThrow(/NOT NULL/);
      const kept = [await first, await last].map((r) => r.job.id);
      const page = await store.list({ limit: 10 });
      expect(page.jobs.map((j) => j.id).sort()).toEqual([...kept].sort());
      expect((await store.logs(kept[1]!)).map((l) => l.message)).toEqual(['three']);
    } finally {
      await store.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

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

  it('checkpoints the WAL on a thread of its own once it has committed enough, and folds it back on close', async () => {
    const d = mkdtempSync(join(tmpdir(), 'sd-jobstore-'));
    const path = join(d, 'jobs.db');
    try {
      const store = new SqliteJobStore({ path, checkpoints: { startAfterCommits: 20, intervalMs: 1 } });
      const enqueue = (i: number) => store.enqueue({ type: 'bench:noop', params: { i, pad: 'x'.repeat(2000) }, maxAttempts: 1 });
      // Each awaited write is a commit of its own.
      for (let i = 0; i < 10; i++) await enqueue(i);
      expect(store.checkpoints.running).toBe(false);
      for (let i = 10; i < 400; i++) await enqueue(i);
      expect(store.checkpoints.running).toBe(true);
      await waitFor(() => store.checkpoints.checkpoints > 0, 'a background checkpoint', 10_000);
      // The writer restarts a fully checkpointed WAL from its beginning: it does not hold every
      // commit since the store opened (each of these writes at least one page).
      for (let i = 400; i < 800; i++) await enqueue(i);
      // A pass that starts after a commit backfills the whole WAL (nothing writes meanwhile), and
      // the next write then starts it over. The thread starts a pass only for a commit it has not
      // seen, so waiting for a pass after each of two more commits gives it that full pass,
      // rather than hoping one fell between two of the writes above (each now several pages).
      for (const i of [800, 801]) {
        const passes = store.checkpoints.checkpoints;
        await enqueue(i);
        await waitFor(() => store.checkpoints.checkpoints > passes, `a checkpoint after commit ${i}`, 10_000);
      }
      await enqueue(802);
      const probe = new Database(path);
      const [{ log }] = probe.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>;
      probe.close();
      expect(log).toBeLessThan(400);
      await store.close();
      expect(existsSync(`${path}-wal`)).toBe(false);
      const reopened = new SqliteJobStore({ path });
      expect((await reopened.list({ limit: 1000 })).jobs.length).toBeGreaterThanOrEqual(500);
      await reopened.close();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('job ids', () => {
  it('are UUID version 7: the creation time in milliseconds first, then random bits', () => {
    const at = Date.UTC(2026, 11, 2, 6, 0, 0, 123);
    const ids = Array.from({ length: 2000 }, () => uuidv7(at));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(parseInt(ids[0]!.replace('-', '').slice(0, 12), 16)).toBe(at);
    // Ids of later milliseconds sort after, as text.
    expect(uuidv7(at + 1) > uuidv7(at)).toBe(true);
    expect(uuidv7(at + 65_536) > uuidv7(at + 65_535)).toBe(true);
  });
});
