/**
 * {@link JobStore} on an embedded SQLite file (`<dataDir>/jobs.db`, better-sqlite3).
 *
 * Durability: WAL journal with `synchronous` set explicitly (option `jobs.synchronous`).
 * With `NORMAL` (the default) a commit has been written to the WAL file — handed to the OS —
 * before it returns, so an acknowledged checkpoint survives a crash or `kill -9` of the daemon;
 * only a power loss or kernel crash can lose the last commits. `FULL` fsyncs the WAL on every
 * commit and survives those too, at a far lower rate. We default to `NORMAL` because the promise
 * the job system makes is "no acknowledged checkpoint is lost when the daemon dies", and the
 * benchmark target (10,000 durable checkpoints/s for one job) is out of reach with an fsync each.
 *
 * Group commit: every write is queued and all writes queued in the same turn of the event loop
 * run in one transaction (each inside its own savepoint, so one failing write rolls back alone);
 * each promise resolves only after that transaction committed. Many jobs checkpointing at once
 * therefore share one commit, and no promise resolves before its write is durable.
 *
 * WAL checkpoints run on a thread of their own (see src/sqlite/background-checkpoints.ts), so
 * that copying the WAL back into the database never stalls a commit on the daemon's event loop.
 */
import { randomFillSync } from 'node:crypto';
import Database from 'better-sqlite3';
import { ErrorCode, SpacedriveError, storageFailure } from '../../errors/index.js';
import type { JobStatus } from '../types.js';
import { applyMigrations, BackgroundCheckpoints, type BackgroundCheckpointOptions } from '../../sqlite/index.js';
import { MIGRATIONS } from './migrations/index.js';
import type {
  Checkpoint,
  CheckpointResult,
  ClaimedJob,
  ClaimRequest,
  ControlRequest,
  ControlResult,
  FinishOutcome,
  JobLogEntry,
  JobPage,
  JobProgress,
  JobRecord,
  JobStore,
  JobTransition,
  Lease,
  ListFilter,
  NewJob,
  RecoveredJob,
  RecoverRequest,
} from './types.js';
import { EMPTY_PROGRESS, EMPTY_PROGRESS_JSON, startedLine, applyControlRequest, applyRecovery, applyResume, applyRetry, applyUnsuccessfulFinish, checkRetryable, dedupeTaken, notFound } from './transitions.js';

export interface SqliteJobStoreOptions {
  /** Path of the database file. */
  path: string;
  /** See the file comment. Default `NORMAL`. */
  synchronous?: 'NORMAL' | 'FULL';
  /** When the background checkpoint thread starts, and how often it checkpoints (defaults there). */
  checkpoints?: BackgroundCheckpointOptions;
}

interface Row {
  seq: number;
  id: string;
  type: string;
  status: JobStatus;
  priority: number;
  params: string;
  state: string | null;
  progress: string;
  output: string | null;
  last_error: string | null;
  errors: string;
  warnings: string;
  attempts: number;
  max_attempts: number;
  runs: number;
  run_at: number;
  dedupe_key: string | null;
  idempotency_key: string | null;
  idempotency_fingerprint: string | null;
  library_id: string | null;
  dispatched_by: string;
  affinity_node: string | null;
  requested: ControlRequest | null;
  worker_id: string | null;
  run_id: number;
  lease_until: number | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  checkpoint_at: number | null;
}


const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/**
 * A UUID version 7 (RFC 9562): 48 bits of milliseconds, then random bits. Ids of jobs created
 * together sort together, so their index entries land on the same few pages instead of random
 * ones, which keeps each group commit small.
 */
export function uuidv7(now = Date.now()): string {
  // Random bytes drawn from a pool: one getrandom call per 409 ids rather than per id.
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const r = poolOffset;
  poolOffset += 10;
  // The 36 characters are written into one reused buffer and read out as one string: this runs
  // once per dispatched job, and building the id from a Buffer's hex string and slices, or by
  // concatenation, left half a kilobyte of garbage each time.
  const high = Math.floor(now / 0x10000);
  putHex(0, high >>> 24);
  putHex(2, (high >>> 16) & 0xff);
  putHex(4, (high >>> 8) & 0xff);
  putHex(6, high & 0xff);
  putHex(9, (now >>> 8) & 0xff);
  putHex(11, now & 0xff);
  putHex(14, 0x70 | (pool[r]! & 0x0f));
  putHex(16, pool[r + 1]!);
  putHex(19, 0x80 | (pool[r + 2]! & 0x3f));
  putHex(21, pool[r + 3]!);
  for (let i = 0; i < 6; i++) putHex(24 + 2 * i, pool[r + 4 + i]!);
  return ID_TEXT.latin1Slice(0, 36);
}

/** The text of the last id made: `xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx`, dashes in place. */
const ID_TEXT = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1') as Buffer & { latin1Slice(start: number, end: number): string };
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

function putHex(at: number, byte: number): void {
  ID_TEXT[at] = HEX_DIGITS[byte >>> 4]!;
  ID_TEXT[at + 1] = HEX_DIGITS[byte & 0x0f]!;
}
/** A completion's update (output, finished_at, updated_at), before the WHERE that fences it by its lease. */
const COMPLETE = `UPDATE jobs SET status = 'completed', output = ?, progress = json_set(progress, '$.fraction', 1), finished_at = ?, updated_at = ?,
  last_error = NULL, requested = NULL, worker_id = NULL, lease_until = NULL`;
const ALL_STATUSES: JobStatus[] = ['queued', 'running', 'paused', 'waiting_retry', 'completed', 'failed', 'cancelled'];
/** Keep the list of warnings bounded so a noisy job cannot grow its row without end. */
const MAX_WARNINGS = 1000;

function toJson(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

function fromJson(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

function toRecord(r: Row): JobRecord {
  return {
    id: r.id,
    type: r.type,
    status: r.status,
    priority: r.priority,
    params: JSON.parse(r.params),
    state: fromJson(r.state),
    progress: JSON.parse(r.progress) as JobProgress,
    output: fromJson(r.output),
    lastError: fromJson(r.last_error) as JobRecord['lastError'],
    errors: JSON.parse(r.errors),
    warnings: JSON.parse(r.warnings),
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    runs: r.runs,
    runAt: r.run_at,
    dedupeKey: r.dedupe_key,
    idempotencyKey: r.idempotency_key,
    libraryId: r.library_id,
    dispatchedBy: r.dispatched_by,
    affinityNode: r.affinity_node ?? null,
    requested: r.requested,
    workerId: r.worker_id,
    runId: r.run_id,
    leaseUntil: r.lease_until,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    checkpointAt: r.checkpoint_at,
  };
}



interface Pending {
  fn: () => unknown;
  /** Runs in its own savepoint (it writes more than one statement). */
  multi: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class SqliteJobStore implements JobStore {
  /** One daemon owns the file. */
  readonly shared = false;
  readonly #db: Database.Database;
  /** Copies the WAL back into the database file off the event loop. */
  readonly checkpoints: BackgroundCheckpoints;
  readonly #stmts: ReturnType<SqliteJobStore['prepare']>;
  #queue: Pending[] = [];
  #flushScheduled = false;
  #closed = false;
  /** {@link #runnableOfType} statements by LIMIT. */
  readonly #runnableByLimit = new Map<number, Database.Statement>();
  /**
   * Claim updates by the number of jobs claimed (a claim takes at most its `limit`, the runner's
   * free slots, so there are few): one statement per claim rather than one per job.
   */
  readonly #markRunningByCount = new Map<number, Database.Statement>();
  /**
   * Types known to have no queued or waiting job at all, so a claim skips them without a query.
   * Exact because this store is the only writer of its file: every write that can make a job of
   * a type queued or waiting (enqueue, an interrupted or failed finish, resume, retry, recover)
   * takes the type out, and a failed commit clears the set. Most registered types have nothing
   * waiting most of the time, and their empty index seeks were most of a claim's cost.
   */
  readonly #typesWithoutWork = new Set<string>();
  /**
   * What a completion reports of each job this store handed out and that has not finished:
   * none of it changes while the job runs, and reading it back cost the completion a RETURNING.
   */
  readonly #claimed = new Map<string, { seq: number; type: string; attempts: number; runAt: number }>();
  /**
   * The seq of the next log line: above every stored one (read once at open; lines are keyed
   * by job, so the table has no counter of its own). A rolled-back line leaves a gap, never a
   * repeat, so a job's lines keep increasing seqs.
   */
  #nextLogSeq = 1;

  constructor(opts: SqliteJobStoreOptions) {
    this.#db = new Database(opts.path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    this.#db.pragma('foreign_keys = ON');
    this.#db.pragma('busy_timeout = 5000');
    // Savepoint journals in memory rather than in temporary files.
    this.#db.pragma('temp_store = MEMORY');
    // 32 MiB of page cache (default 2 MiB): the runnable index and recent rows stay in memory
    // under a burst of many thousand queued jobs.
    this.#db.pragma('cache_size = -32768');
    // Once the WAL has been copied back and starts over, a file grown past this by a burst is cut
    // back to it, rather than keeping its largest size on disk for good.
    this.#db.pragma(`journal_size_limit = ${16 * 1024 * 1024}`);
    applyMigrations(this.#db, MIGRATIONS, 'the job database');
    this.#stmts = this.prepare();
    this.#nextLogSeq = ((this.#stmts.maxLogSeq.get() as number | null) ?? 0) + 1;
    this.checkpoints = new BackgroundCheckpoints(this.#db, opts.path, opts.checkpoints);
  }

  private prepare() {
    const db = this.#db;
    return {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT op'),
      release: db.prepare('RELEASE op'),
      rollbackTo: db.prepare('ROLLBACK TO op'),
      insert: db.prepare(`INSERT INTO jobs (id, type, status, priority, params, progress, max_attempts, run_at, dedupe_key, library_id, dispatched_by, created_at, updated_at,
        idempotency_key, idempotency_fingerprint, affinity_node) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      byIdempotencyKey: db.prepare('SELECT * FROM jobs WHERE dispatched_by = ? AND idempotency_key = ?'),
      // No RETURNING (SQLite gathers its rows in a temporary table: as dear as the update); the
      // transition is built from #claimed.
      complete: db.prepare(`${COMPLETE} WHERE id = ? AND status = 'running' AND worker_id = ? AND run_id = ?`),
      // The same for a job this store handed out, found by its row number (no id index lookup).
      completeClaimed: db.prepare(`${COMPLETE} WHERE seq = ? AND id = ? AND status = 'running' AND worker_id = ? AND run_id = ?`),
      transitionOf: db.prepare('SELECT type, attempts, run_at FROM jobs WHERE id = ?'),
      byId: db.prepare('SELECT * FROM jobs WHERE id = ?'),
      // A range over the unique index on id: every id that starts with the prefix, and no other.
      idsByPrefix: db.prepare('SELECT id FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?').pluck(),
      liveByDedupe: db.prepare(`SELECT * FROM jobs WHERE type = ? AND dedupe_key = ? AND status IN ('queued','running','paused','waiting_retry')`),
      // Whether a type has any queued or waiting job, due or not (see #typesWithoutWork).
      hasWaitingOfType: db.prepare(`SELECT 1 FROM jobs INDEXED BY jobs_runnable_by_type WHERE type = ? AND status IN ('queued','waiting_retry') LIMIT 1`),
      leaseOf: db.prepare('SELECT status, worker_id, run_id, progress, warnings, requested FROM jobs WHERE id = ?'),
      writeCheckpoint: db.prepare(`UPDATE jobs SET progress = ?, state = CASE WHEN ? THEN ? ELSE state END, warnings = ?,
        lease_until = ?, updated_at = ?, checkpoint_at = ? WHERE id = ?`),
      renewLease: db.prepare(`UPDATE jobs SET lease_until = ? WHERE id = ? AND status = 'running' AND worker_id = ? AND run_id = ?`),
      update: db.prepare(`UPDATE jobs SET status = @status, state = @state, progress = @progress, output = @output, last_error = @last_error,
        errors = @errors, attempts = @attempts, run_at = @run_at, requested = @requested, worker_id = @worker_id, lease_until = @lease_until,
        updated_at = @updated_at, finished_at = @finished_at, checkpoint_at = @checkpoint_at WHERE id = @id RETURNING *`),
      running: db.prepare(`SELECT * FROM jobs WHERE status = 'running'`),
      runningExpired: db.prepare(`SELECT * FROM jobs WHERE status = 'running' AND lease_until < ?`),
      // Only asked when no job is runnable now, so it walks just the delayed ones.
      nextRunAtOfType: db.prepare(`SELECT MIN(run_at) AS t FROM jobs INDEXED BY jobs_runnable_by_type
        WHERE type = ? AND status IN ('queued','waiting_retry') AND run_at > ?`),
      counts: db.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status'),
      pruneJobs: db.prepare(`DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE status IN ('completed','failed','cancelled')
        AND finished_at < ? ORDER BY seq LIMIT ?) RETURNING id`),
      pruneLogs: db.prepare('DELETE FROM job_logs WHERE job_id = ?'),
      insertLog: db.prepare('INSERT INTO job_logs (job_id, seq, time, level, message) VALUES (?, ?, ?, ?, ?)'),
      maxLogSeq: db.prepare('SELECT max(seq) FROM job_logs').pluck(),
      logs: db.prepare('SELECT seq, time, level, message FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
    };
  }

  /**
   * Queues a write for the next group commit; resolves after the commit. The failure of a write
   * that issues several statements (`multi`) undoes all of them and nothing else (see #flush); a
   * single-statement write needs no care (SQLite undoes a failed statement by itself).
   */
  #write<T>(fn: () => T, multi = false): Promise<T> {
    if (this.#closed) return Promise.reject(new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the job store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, multi, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    let results: Array<{ ok: boolean; value: unknown }> | null;
    try {
      // Optimistically without a savepoint per write (two statements each, an eighth of a no-op
      // job's cost): writes check before they write, so one fails only by a bug or a full disk.
      // Then the whole batch is undone and run again with savepoints, so that the failing write
      // fails alone and the others commit.
      results = this.#runBatch(batch, false) ?? this.#runBatch(batch, true);
      this.#stmts.commit.run();
      this.checkpoints.committed();
    } catch (err) {
      // The commit itself failed (disk full, I/O error): nothing in the batch is durable.
      if (this.#db.inTransaction) this.#stmts.rollback.run();
      this.#forgetUncommitted();
      const e =
        storageFailure(err, 'the job database') ??
        new SpacedriveError(ErrorCode.INTERNAL, `job store write failed: ${(err as Error).message}`, undefined, { cause: err });
      for (const op of batch) op.reject(e);
      return;
    }
    batch.forEach((op, i) => {
      const r = results![i]!;
      if (r.ok) op.resolve(r.value);
      // A statement that ran out of space fails alone (SQLite undid it); it says so, typed.
      else op.reject(storageFailure(r.value, 'the job database') ?? r.value);
    });
  }

  /**
   * Runs a batch's writes in one open transaction (left open for the caller's COMMIT). With
   * `savepoints`, a write of several statements runs in its own, so its failure undoes only it;
   * without, the first write to fail rolls the whole transaction back and the result is null.
   */
  #runBatch(batch: Pending[], savepoints: boolean): Array<{ ok: boolean; value: unknown }> | null {
    const s = this.#stmts;
    const results: Array<{ ok: boolean; value: unknown }> = [];
    s.begin.run();
    for (const op of batch) {
      const isolate = savepoints && op.multi;
      if (isolate) s.savepoint.run();
      try {
        const value = op.fn();
        if (isolate) s.release.run();
        results.push({ ok: true, value });
      } catch (err) {
        if (!savepoints && op.multi) {
          s.rollback.run();
          this.#forgetUncommitted();
          return null;
        }
        if (isolate) {
          s.rollbackTo.run();
          s.release.run();
        }
        results.push({ ok: false, value: err });
      }
    }
    return results;
  }

  /**
   * After a rollback: what writes of the batch learnt of empty types is void, and so may be the
   * claims noted in #claimed (completions then read the row instead).
   */
  #forgetUncommitted(): void {
    this.#typesWithoutWork.clear();
    this.#claimed.clear();
  }

  /**
   * The best runnable jobs of one type, in claim order (one seek of jobs_runnable_by_type, which
   * INDEXED BY insists on: left to itself the planner may sort every queued job on each claim),
   * with what a claim hands the worker.
   * LIMIT is written into the SQL, one statement per value: a bound LIMIT made every call,
   * even one finding nothing, three times slower.
   */
  #runnableOfType(limit: number): Database.Statement {
    return this.#preparedFor(
      this.#runnableByLimit,
      limit,
      () => `SELECT seq, type, priority, run_at, id, params, state, attempts, max_attempts, runs, run_id, library_id FROM jobs INDEXED BY jobs_runnable_by_type
        WHERE type = ? AND status IN ('queued','waiting_retry') AND run_at <= ? AND (affinity_node IS NULL OR affinity_node = ?) ORDER BY priority DESC, run_at, seq LIMIT ${Math.trunc(limit)}`,
    );
  }

  /**
   * Marks the `count` jobs of a claim running, by seq ({@link #markRunningByCount}). The claim's
   * seek already read what the worker needs (#runnableOfType): no RETURNING.
   */
  #markRunning(count: number): Database.Statement {
    return this.#preparedFor(
      this.#markRunningByCount,
      count,
      () => `UPDATE jobs SET status = 'running', worker_id = ?, run_id = run_id + 1, runs = runs + 1, lease_until = ?,
        started_at = COALESCE(started_at, ?), updated_at = ?, requested = NULL WHERE seq IN (${Array.from({ length: count }, () => '?').join(', ')})`,
    );
  }

  /** The statement for `n` in `cache`, prepared from `sql()` the first time. */
  #preparedFor(cache: Map<number, Database.Statement>, n: number, sql: () => string): Database.Statement {
    let stmt = cache.get(n);
    if (!stmt) {
      stmt = this.#db.prepare(sql());
      cache.set(n, stmt);
    }
    return stmt;
  }

  /** A job of `type` may now be queued or waiting: claims must look for that type again. */
  #mayHaveWork(type: string): void {
    this.#typesWithoutWork.delete(type);
  }

  #transitionOf(jobId: string): { type: string; attempts: number; runAt: number } {
    const r = this.#stmts.transitionOf.get(jobId) as Pick<Row, 'type' | 'attempts' | 'run_at'>;
    return { type: r.type, attempts: r.attempts, runAt: r.run_at };
  }

  #row(jobId: string): Row | undefined {
    return this.#stmts.byId.get(jobId) as Row | undefined;
  }

  /** Writes every mutable column of a record back. */
  #save(rec: JobRecord): JobRecord {
    if (rec.status === 'queued' || rec.status === 'waiting_retry') this.#mayHaveWork(rec.type);
    const row = this.#stmts.update.get({
      id: rec.id,
      status: rec.status,
      state: toJson(rec.state),
      progress: JSON.stringify(rec.progress),
      output: toJson(rec.output),
      last_error: toJson(rec.lastError),
      errors: JSON.stringify(rec.errors),
      attempts: rec.attempts,
      run_at: rec.runAt,
      requested: rec.requested,
      worker_id: rec.workerId,
      lease_until: rec.leaseUntil,
      updated_at: rec.updatedAt,
      finished_at: rec.finishedAt,
      checkpoint_at: rec.checkpointAt,
    }) as Row;
    return toRecord(row);
  }

  enqueue(job: NewJob): Promise<{ job: JobRecord; deduplicated: boolean; replayed: boolean }> {
    return this.#write(() => {
      const dispatchedBy = job.dispatchedBy ?? 'core';
      const idempotencyKey = job.idempotencyKey ?? null;
      const fingerprint = idempotencyKey === null ? null : (job.fingerprint ?? null);
      if (idempotencyKey !== null) {
        const earlier = this.#stmts.byIdempotencyKey.get(dispatchedBy, idempotencyKey) as Row | undefined;
        if (earlier) {
          if (earlier.idempotency_fingerprint !== fingerprint) {
            throw new SpacedriveError(
              ErrorCode.IDEMPOTENCY_KEY_CONFLICT,
              `idempotency key '${idempotencyKey}' was already used for job '${earlier.id}' (${earlier.type}) with other parameters; use a new key for a new job`,
              { idempotency_key: idempotencyKey, job_id: earlier.id },
            );
          }
          return { job: toRecord(earlier), deduplicated: false, replayed: true };
        }
      }
      const dedupeKey = job.dedupeKey ?? null;
      if (dedupeKey !== null) {
        const live = this.#stmts.liveByDedupe.get(job.type, dedupeKey) as Row | undefined;
        if (live) return { job: toRecord(live), deduplicated: true, replayed: false };
      }
      const now = job.now ?? Date.now();
      const id = uuidv7(now);
      const params = job.params ?? null;
      const rec: JobRecord = {
        id,
        type: job.type,
        status: 'queued',
        priority: job.priority ?? 0,
        // The caller's value: the job system passes a checked copy.
        params,
        state: null,
        progress: { ...EMPTY_PROGRESS },
        output: null,
        lastError: null,
        errors: [],
        warnings: [],
        attempts: 0,
        maxAttempts: job.maxAttempts,
        runs: 0,
        runAt: job.runAt ?? now,
        dedupeKey,
        idempotencyKey,
        libraryId: job.libraryId ?? null,
        dispatchedBy,
        affinityNode: job.affinityNode ?? null,
        requested: null,
        workerId: null,
        runId: 0,
        leaseUntil: null,
        createdAt: now,
        updatedAt: now,
        startedAt: null,
        finishedAt: null,
        checkpointAt: null,
      };
      this.#mayHaveWork(rec.type);
      this.#stmts.insert.run(id, rec.type, rec.priority, JSON.stringify(params), EMPTY_PROGRESS_JSON, rec.maxAttempts, rec.runAt, dedupeKey, rec.libraryId, rec.dispatchedBy, now, now, idempotencyKey, fingerprint, rec.affinityNode);
      if (job.log) this.#insertLog(id, now, job.log.level, job.log.message);
      return { job: rec, deduplicated: false, replayed: false };
    }, job.log !== undefined);
  }

  claim(req: ClaimRequest): Promise<ClaimedJob[]> {
    return this.#write(() => {
      // The best candidates of each type with room (at most its room, and at most its group's
      // cap), merged into claim order: taking them in that order while the caps allow gives the
      // first `limit` runnable jobs the slots and caps allow.
      type Candidate = Pick<Row, 'seq' | 'type' | 'priority' | 'run_at' | 'id' | 'params' | 'state' | 'attempts' | 'max_attempts' | 'runs' | 'run_id' | 'library_id'>;
      const groupOf = new Map<string, { left: number }>();
      for (const g of req.groups ?? []) {
        const cap = { left: g.limit };
        for (const t of g.types) groupOf.set(t, cap);
      }
      const candidates: Candidate[] = [];
      for (const [type, room] of Object.entries(req.slots)) {
        const most = Math.min(room, req.limit, groupOf.get(type)?.left ?? Infinity);
        if (most <= 0 || this.#typesWithoutWork.has(type)) continue;
        const found = this.#runnableOfType(most).all(type, req.now, req.nodeId ?? null) as Candidate[];
        if (found.length === 0) {
          if (!this.#stmts.hasWaitingOfType.get(type)) this.#typesWithoutWork.add(type);
          continue;
        }
        candidates.push(...found);
      }
      candidates.sort((a, b) => b.priority - a.priority || a.run_at - b.run_at || a.seq - b.seq);
      const chosen: Candidate[] = [];
      for (const c of candidates) {
        if (chosen.length >= req.limit) break;
        const cap = groupOf.get(c.type);
        if (cap) {
          if (cap.left <= 0) continue;
          cap.left--;
        }
        chosen.push(c);
      }
      const claimed: ClaimedJob[] = [];
      if (chosen.length > 0) {
        // One statement for the whole claim (its run_id and runs go up by one, as read above).
        const seqs = chosen.map((c) => c.seq);
        this.#markRunning(chosen.length).run(req.workerId, req.now + req.leaseMs, req.now, req.now, ...seqs);
      }
      for (const c of chosen) {
        const runId = c.run_id + 1;
        const runs = c.runs + 1;
        this.#claimed.set(c.id, { seq: c.seq, type: c.type, attempts: c.attempts, runAt: c.run_at });
        const job: ClaimedJob = {
          id: c.id,
          type: c.type,
          status: 'running',
          params: JSON.parse(c.params),
          state: fromJson(c.state),
          attempts: c.attempts,
          maxAttempts: c.max_attempts,
          runs,
          runId,
          libraryId: c.library_id,
        };
        if (req.logStarted) this.#insertLog(c.id, req.now, 'info', startedLine(job));
        claimed.push(job);
      }
      return claimed;
    }, true);
  }

  checkpoint(lease: Lease, cp: Checkpoint): Promise<CheckpointResult> {
    return this.#write(() => {
      const cur = this.#stmts.leaseOf.get(lease.jobId) as
        | { status: JobStatus; worker_id: string | null; run_id: number; progress: string; warnings: string; requested: ControlRequest | null }
        | undefined;
      if (!cur || cur.status !== 'running' || cur.worker_id !== lease.workerId || cur.run_id !== lease.runId) {
        return { owned: false, requested: cur?.requested ?? null };
      }
      let progress = cur.progress;
      if (cp.progress) {
        const merged = { ...(JSON.parse(cur.progress) as JobProgress) };
        for (const [k, v] of Object.entries(cp.progress)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
        progress = JSON.stringify(merged);
      }
      let warnings = cur.warnings;
      if (cp.warning !== undefined) {
        const list = JSON.parse(cur.warnings) as string[];
        if (list.length < MAX_WARNINGS) list.push(cp.warning);
        warnings = JSON.stringify(list);
      }
      const hasState = cp.state !== undefined ? 1 : 0;
      this.#stmts.writeCheckpoint.run(progress, hasState, hasState ? toJson(cp.state) : null, warnings, cp.now + cp.leaseMs, cp.now, cp.now, lease.jobId);
      if (cp.log) this.#insertLog(lease.jobId, cp.now, cp.log.level, cp.log.message);
      return { owned: true, requested: cur.requested };
    }, cp.log !== undefined);
  }

  heartbeat(leases: Lease[], now: number, leaseMs: number): Promise<string[]> {
    return this.#write(() => {
      const owned: string[] = [];
      for (const l of leases) {
        if (this.#stmts.renewLease.run(now + leaseMs, l.jobId, l.workerId, l.runId).changes > 0) owned.push(l.jobId);
      }
      return owned;
    }, true);
  }

  finish(lease: Lease, outcome: FinishOutcome, now: number): Promise<JobTransition | null> {
    return this.#write((): JobTransition | null => {
      if (outcome.kind === 'completed') {
        // The common case in one statement, fenced by the lease like the general path below.
        const output = toJson(outcome.output);
        const claimed = this.#claimed.get(lease.jobId);
        const changes = claimed
          ? this.#stmts.completeClaimed.run(output, now, now, claimed.seq, lease.jobId, lease.workerId, lease.runId).changes
          : this.#stmts.complete.run(output, now, now, lease.jobId, lease.workerId, lease.runId).changes;
        if (changes === 0) return null;
        if (outcome.log) this.#insertLog(lease.jobId, now, outcome.log.level, outcome.log.message);
        const job = claimed ?? this.#transitionOf(lease.jobId);
        this.#claimed.delete(lease.jobId);
        return { id: lease.jobId, type: job.type, status: 'completed', output: fromJson(output), lastError: null, attempts: job.attempts, runAt: job.runAt };
      }
      this.#claimed.delete(lease.jobId);
      const row = this.#row(lease.jobId);
      if (!row || row.status !== 'running' || row.worker_id !== lease.workerId || row.run_id !== lease.runId) return null;
      const rec = toRecord(row);
      applyUnsuccessfulFinish(rec, outcome, now);
      return this.#save(rec);
    }, outcome.kind === 'completed' && outcome.log !== undefined);
  }

  requestControl(jobId: string, request: ControlRequest, now: number): Promise<ControlResult> {
    return this.#write(() => {
      const row = this.#row(jobId);
      if (!row) throw notFound(jobId);
      const rec = toRecord(row);
      const { immediate } = applyControlRequest(rec, request, now);
      return { job: this.#save(rec), immediate };
    });
  }

  resume(jobId: string, now: number): Promise<JobRecord> {
    return this.#write(() => {
      const row = this.#row(jobId);
      if (!row) throw notFound(jobId);
      const rec = toRecord(row);
      applyResume(rec, now);
      return this.#save(rec);
    });
  }

  retry(jobId: string, opts: { fromScratch: boolean; now: number }): Promise<JobRecord> {
    return this.#write(() => {
      const row = this.#row(jobId);
      if (!row) throw notFound(jobId);
      const rec = toRecord(row);
      checkRetryable(rec);
      if (rec.dedupeKey !== null) {
        const live = this.#stmts.liveByDedupe.get(rec.type, rec.dedupeKey) as Row | undefined;
        if (live) throw dedupeTaken(jobId, rec.dedupeKey, live.id, live.status);
      }
      applyRetry(rec, opts);
      return this.#save(rec);
    });
  }

  get(jobId: string): Promise<JobRecord | null> {
    const row = this.#row(jobId);
    return Promise.resolve(row ? toRecord(row) : null);
  }

  findIdsByPrefix(prefix: string, limit: number): Promise<string[]> {
    if (prefix === '') return Promise.resolve([]);
    // U+FFFF sorts after every character an id is made of, so [prefix, prefix + U+FFFF) holds exactly the ids with that prefix.
    return Promise.resolve(this.#stmts.idsByPrefix.all(prefix, `${prefix}\uffff`, limit) as string[]);
  }

  list(filter: ListFilter): Promise<JobPage> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status !== undefined) {
      const statuses = Array.isArray(filter.status) ? filter.status : [filter.status];
      where.push(`status IN (${statuses.map(() => '?').join(',')})`);
      args.push(...statuses);
    }
    if (filter.type !== undefined) {
      where.push('type = ?');
      args.push(filter.type);
    }
    if (filter.cursor) {
      const seq = Number(filter.cursor);
      if (!Number.isInteger(seq) || seq < 0) {
        throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field 'cursor': expected a cursor returned by a previous page`);
      }
      where.push('seq < ?');
      args.push(seq);
    }
    const limit = Math.max(1, Math.min(filter.limit ?? 50, 1000));
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    const rows = this.#db.prepare(sql).all(...args, limit + 1) as Row[];
    const page = rows.slice(0, limit);
    return Promise.resolve({
      jobs: page.map(toRecord),
      nextCursor: rows.length > limit ? String(page[page.length - 1]!.seq) : null,
    });
  }

  #insertLog(jobId: string, time: number, level: string, message: string): void {
    this.#stmts.insertLog.run(jobId, this.#nextLogSeq++, time, level, message);
  }

  appendLogs(entries: Array<{ jobId: string; time: number; level: JobLogEntry['level']; message: string }>): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return this.#write(() => {
      for (const e of entries) this.#insertLog(e.jobId, e.time, e.level, e.message);
    }, true);
  }

  logs(jobId: string, opts: { afterSeq?: number; limit?: number } = {}): Promise<JobLogEntry[]> {
    return Promise.resolve(this.#stmts.logs.all(jobId, opts.afterSeq ?? 0, Math.max(1, Math.min(opts.limit ?? 1000, 10_000))) as JobLogEntry[]);
  }

  recover(req: RecoverRequest): Promise<RecoveredJob[]> {
    return this.#write(() => {
      // One daemon owns the file: every earlier incarnation is this node's (scope `node` = `all`).
      const rows = (req.scope === 'expired' ? this.#stmts.runningExpired.all(req.now) : this.#stmts.running.all()) as Row[];
      const fresh = new Set(req.nonResumableTypes ?? []);
      const out: RecoveredJob[] = [];
      for (const row of rows) {
        const rec = toRecord(row);
        applyRecovery(rec, req.now, fresh.has(rec.type));
        this.#save(rec);
        this.#claimed.delete(rec.id);
        out.push({ id: rec.id, type: rec.type, status: rec.status });
      }
      return out;
    }, true);
  }

  nextRunAt(types: readonly string[], now: number): Promise<number | null> {
    if (types.length === 0) return Promise.resolve(null);
    let next: number | null = null;
    for (const type of types) {
      const t = (this.#stmts.nextRunAtOfType.get(type, now) as { t: number | null }).t;
      if (t !== null && (next === null || t < next)) next = t;
    }
    return Promise.resolve(next);
  }

  countByStatus(): Promise<Record<JobStatus, number>> {
    const out = Object.fromEntries(ALL_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const r of this.#stmts.counts.all() as Array<{ status: JobStatus; n: number }>) out[r.status] = r.n;
    return Promise.resolve(out);
  }

  prune(before: number, limit: number): Promise<number> {
    return this.#write(() => {
      const ids = this.#stmts.pruneJobs.all(before, limit) as Array<{ id: string }>;
      for (const { id } of ids) this.#stmts.pruneLogs.run(id);
      return ids.length;
    }, true);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Let writes already queued commit before closing.
    if (this.#queue.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    this.#closed = true;
    if (this.#queue.length > 0) this.#flush();
    // The checkpoint thread's connection closes first, so that this one, the last, folds the WAL
    // back into the database and removes it.
    await this.checkpoints.close();
    this.#db.close();
  }
}
