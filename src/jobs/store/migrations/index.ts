/**
 * Numbered migrations of the SQLite job store, applied in order, each in its own transaction,
 * recorded in `migrations (version, name, applied_at)`. Never edit a migration that has shipped:
 * add the next number.
 */
import type { Migration } from '../../../sqlite/index.js';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: '0001_jobs',
    // Params: none. Creates the jobs and job_logs tables.
    // `seq` orders jobs by creation (ids are random UUIDs); times are ms since the epoch;
    // JSON columns hold JSON text.
    sql: `
      CREATE TABLE jobs (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        id             TEXT NOT NULL UNIQUE,
        type           TEXT NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('queued','running','paused','waiting_retry','completed','failed','cancelled')),
        priority       INTEGER NOT NULL DEFAULT 0,
        params         TEXT NOT NULL,
        state          TEXT,
        progress       TEXT NOT NULL,
        output         TEXT,
        last_error     TEXT,
        errors         TEXT NOT NULL DEFAULT '[]',
        warnings       TEXT NOT NULL DEFAULT '[]',
        attempts       INTEGER NOT NULL DEFAULT 0,
        max_attempts   INTEGER NOT NULL,
        runs           INTEGER NOT NULL DEFAULT 0,
        run_at         INTEGER NOT NULL,
        dedupe_key     TEXT,
        library_id     TEXT,
        dispatched_by  TEXT NOT NULL,
        requested      TEXT CHECK (requested IN ('pause','cancel')),
        worker_id      TEXT,
        run_id         INTEGER NOT NULL DEFAULT 0,
        lease_until    INTEGER,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        started_at     INTEGER,
        finished_at    INTEGER,
        checkpoint_at  INTEGER
      );
      -- The claim query: runnable jobs by priority, then run_at, then age.
      CREATE INDEX jobs_runnable ON jobs (priority DESC, run_at, seq) WHERE status IN ('queued','waiting_retry');
      CREATE INDEX jobs_status ON jobs (status, seq);
      CREATE INDEX jobs_type ON jobs (type, seq);
      -- At most one live job per (type, dedupe key).
      CREATE UNIQUE INDEX jobs_dedupe ON jobs (type, dedupe_key)
        WHERE dedupe_key IS NOT NULL AND status IN ('queued','running','paused','waiting_retry');

      CREATE TABLE job_logs (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id  TEXT NOT NULL,
        time    INTEGER NOT NULL,
        level   TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX job_logs_job ON job_logs (job_id, seq);
    `,
  },
  {
    version: 2,
    name: '0002_fewer_indexes',
    // Params: none. Every index on a column that changes with a job's status is rewritten on
    // each claim and completion, inside the hot group commits. Listing by status or type walks
    // the primary key newest-first instead (it stops after a page), which keeps claim and
    // complete to the table row plus the small runnable index.
    sql: `
      DROP INDEX jobs_status;
      DROP INDEX jobs_type;
    `,
  },
  {
    version: 3,
    name: '0003_runnable_by_type',
    // Params: none. A claim asks for the best runnable jobs of the types that have room. With the
    // index led by priority, a claim for types with few queued jobs walked past every queued job
    // of the types without room, at every claim: quadratic in the queue's length (1,000 queued
    // jobs of one extension made every other claim read them all). Led by type, each type with
    // room is one index seek.
    sql: `
      DROP INDEX jobs_runnable;
      CREATE INDEX jobs_runnable_by_type ON jobs (type, priority DESC, run_at, seq) WHERE status IN ('queued','waiting_retry');
    `,
  },
  {
    version: 4,
    name: '0004_idempotency_keys',
    // Params: none. A dispatch may carry an idempotency key, so that a client retrying a dispatch
    // whose answer it never got (the daemon died, the connection dropped) gets the job it already
    // added instead of a second one. Unique per dispatcher; `idempotency_fingerprint` is what the
    // dispatch asked for, so that the same key with other parameters is refused. Keys go with
    // their job when it is pruned.
    sql: `
      ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
      ALTER TABLE jobs ADD COLUMN idempotency_fingerprint TEXT;
      CREATE UNIQUE INDEX jobs_idempotency ON jobs (dispatched_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
    `,
  },
  {
    version: 5,
    name: '0005_log_rows_without_autoincrement',
    // Params: none. Every job writes at least three log lines (queued, started, completed), and
    // with AUTOINCREMENT each of them also rewrote the sqlite_sequence row: about a fifth of a
    // no-op job's CPU time. A plain INTEGER PRIMARY KEY still gives each new row a seq above every
    // row in the table, so a job's own lines keep increasing seqs and `after_seq` stays exact; a
    // seq may be reused only after the newest rows were pruned with their job, and lines are only
    // ever read per job.
    sql: `
      CREATE TABLE job_logs_next (
        seq     INTEGER PRIMARY KEY,
        job_id  TEXT NOT NULL,
        time    INTEGER NOT NULL,
        level   TEXT NOT NULL,
        message TEXT NOT NULL
      );
      INSERT INTO job_logs_next (seq, job_id, time, level, message) SELECT seq, job_id, time, level, message FROM job_logs;
      DROP TABLE job_logs;
      ALTER TABLE job_logs_next RENAME TO job_logs;
      CREATE INDEX job_logs_job ON job_logs (job_id, seq);
    `,
  },
  {
    version: 6,
    name: '0006_affinity_node',
    // Params: none. A job naming paths local to one node (a copy, an index of a location, an ack
    // file) records that node, and only that node claims it. The SQLite store has one node (its
    // data directory), so this matters when the data directory moves to another machine; the
    // PostgreSQL store has the same column for a cluster.
    sql: `
      ALTER TABLE jobs ADD COLUMN affinity_node TEXT;
    `,
  },
  {
    version: 7,
    name: '0007_log_rows_by_job',
    // Params: none. Log lines are only ever read per job, in seq order, so they are stored in that
    // order: one B-tree keyed by (job_id, seq) instead of a row table plus an index on the same
    // key, which halves what each of a job's lines writes. The store hands out seqs itself
    // (above every stored one), so a job's lines keep increasing seqs and `after_seq` stays exact.
    sql: `
      CREATE TABLE job_logs_by_job (
        job_id  TEXT NOT NULL,
        seq     INTEGER NOT NULL,
        time    INTEGER NOT NULL,
        level   TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
      ) WITHOUT ROWID;
      INSERT INTO job_logs_by_job (job_id, seq, time, level, message) SELECT job_id, seq, time, level, message FROM job_logs;
      DROP TABLE job_logs;
      ALTER TABLE job_logs_by_job RENAME TO job_logs;
    `,
  },
];
