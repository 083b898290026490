/**
 * {@link JobStore} on PostgreSQL, shared by every daemon of a cluster (`store: postgres://…`).
 *
 * Durability: every method resolves after its transaction committed with the server's
 * `synchronous_commit` (on by default: the commit is flushed to the server's WAL), so an
 * acknowledged checkpoint survives a crash of the daemon and of the database server.
 *
 * Ownership: a claim takes runnable rows with `FOR UPDATE SKIP LOCKED` (two nodes claiming at
 * once never wait for nor take the same job) and marks them running under a lease
 * (`lease_owner` = the claiming worker, `run_id` + 1, `lease_expires_at`). Every later write of
 * that run names the lease in its WHERE clause, so a run that lost its job (its node was cut
 * off, its lease expired and another node took the job over) can no longer write anything.
 *
 * Cluster-wide limits ({@link ClaimRequest.limits}) are counted under a transaction-scoped
 * advisory lock, so two nodes claiming at once cannot both see the last free slot.
 *
 * Hot paths are one statement each (a common-case claim, a checkpoint with its log line, a
 * completion with its log line); rarer transitions read the row `FOR UPDATE` and write it back in
 * one transaction, with the same rules as the SQLite store.
 */
import { ErrorCode, SpacedriveError } from '../../../errors/index.js';
import { migratePostgres, prepared, type PostgresDatabase, type SqlExecutor } from '../../../storage/postgres/index.js';
import type { JobStatus } from '../../types.js';
import { uuidv7 } from '../sqlite.js';
import { POSTGRES_MIGRATIONS } from './migrations.js';
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
} from '../types.js';
import { EMPTY_PROGRESS, EMPTY_PROGRESS_JSON, applyControlRequest, applyRecovery, applyResume, applyRetry, applyUnsuccessfulFinish, checkRetryable, dedupeTaken, notFound } from '../transitions.js';

export { POSTGRES_MIGRATIONS, RUNNABLE_CHANNEL } from './migrations.js';

export interface PostgresJobStoreOptions {
  db: PostgresDatabase;
  /** Whether {@link PostgresJobStore.close} closes `db` too (default false: the daemon owns it). */
  ownsDatabase?: boolean;
}

interface Row {
  seq: number;
  id: string;
  type: string;
  status: JobStatus;
  priority: number;
  params: unknown;
  state: unknown;
  progress: JobProgress;
  output: unknown;
  last_error: { code: string; message: string } | null;
  errors: JobRecord['errors'];
  warnings: string[];
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
  lease_owner: string | null;
  run_id: number;
  lease_expires_at: number | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  checkpoint_at: number | null;
}

const ALL_STATUSES: JobStatus[] = ['queued', 'running', 'paused', 'waiting_retry', 'completed', 'failed', 'cancelled'];
const MAX_WARNINGS = 1000;
const UNIQUE_VIOLATION = '23505';

/** JSON text for a `json` parameter (never let the driver turn an array into a PostgreSQL array). */
function toJson(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

function toRecord(r: Row): JobRecord {
  return {
    id: r.id,
    type: r.type,
    status: r.status,
    priority: r.priority,
    params: r.params,
    state: r.state ?? null,
    progress: { ...EMPTY_PROGRESS, ...r.progress },
    output: r.output ?? null,
    lastError: r.last_error ?? null,
    errors: r.errors,
    warnings: r.warnings,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    runs: r.runs,
    runAt: r.run_at,
    dedupeKey: r.dedupe_key,
    idempotencyKey: r.idempotency_key,
    libraryId: r.library_id,
    dispatchedBy: r.dispatched_by,
    affinityNode: r.affinity_node,
    requested: r.requested,
    workerId: r.lease_owner,
    runId: r.run_id,
    leaseUntil: r.lease_expires_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    checkpointAt: r.checkpoint_at,
  };
}



function isUniqueViolation(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < 3 && e; i++) {
    if ((e as { code?: unknown }).code === UNIQUE_VIOLATION) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Every column a record's transition may change, written back by {@link PostgresJobStore.#save}. */
const SAVE = `UPDATE jobs SET status = $2, state = $3::json, progress = $4::jsonb, output = $5::json, last_error = $6::jsonb,
  errors = $7::jsonb, attempts = $8, run_at = $9, requested = $10, lease_owner = $11, lease_expires_at = $12,
  updated_at = $13, finished_at = $14, checkpoint_at = $15 WHERE id = $1 RETURNING *`;

/** The hot statements, prepared once per connection (see `prepared`). */
const CLAIM = prepared('jobs_claim', `SELECT seq, id, type, priority, run_at, params, state, attempts, max_attempts, runs, run_id, library_id
  FROM sd_claim_jobs($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9)`);
const CHECKPOINT_BATCH = prepared('jobs_checkpoints', `UPDATE jobs SET
          progress = CASE WHEN b.progress IS NULL THEN jobs.progress ELSE jobs.progress || b.progress END,
          state = CASE WHEN b.has_state THEN b.state::json ELSE jobs.state END,
          warnings = CASE WHEN b.warning IS NULL OR jsonb_array_length(jobs.warnings) >= ${MAX_WARNINGS} THEN jobs.warnings ELSE jobs.warnings || jsonb_build_array(b.warning) END,
          lease_expires_at = b.lease_until, updated_at = b.now, checkpoint_at = b.now
        FROM unnest($1::text[], $2::text[], $3::int[], $4::jsonb[], $5::bool[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])
          AS b(id, owner, run, progress, has_state, state, warning, lease_until, now)
        WHERE jobs.id = b.id AND jobs.status = 'running' AND jobs.lease_owner = b.owner AND jobs.run_id = b.run
        RETURNING jobs.id, jobs.requested`);
const CHECKPOINT_WITH_LOG = prepared('jobs_checkpoint_logged', `WITH u AS (UPDATE jobs SET
            progress = CASE WHEN $4::jsonb IS NULL THEN progress ELSE progress || $4::jsonb END,
            state = CASE WHEN $5 THEN $6::json ELSE state END,
            warnings = CASE WHEN $7::text IS NULL OR jsonb_array_length(warnings) >= ${MAX_WARNINGS} THEN warnings ELSE warnings || jsonb_build_array($7::text) END,
            lease_expires_at = $8, updated_at = $9, checkpoint_at = $9
          WHERE id = $1 AND status = 'running' AND lease_owner = $2 AND run_id = $3 RETURNING id, requested),
         l AS (INSERT INTO job_logs (job_id, time, level, message) SELECT id, $9, $10, $11 FROM u) SELECT requested FROM u`);
const REQUESTED = prepared('jobs_requested', 'SELECT requested FROM jobs WHERE id = $1');
const INSERT_BATCH = prepared('jobs_insert_batch', `WITH j AS (INSERT INTO jobs (id, type, status, priority, params, progress, max_attempts, run_at, library_id, dispatched_by, created_at, updated_at, affinity_node)
          SELECT id, type, 'queued', priority, params::json, $11::jsonb, max_attempts, run_at, library_id, dispatched_by, created_at, created_at, affinity_node
          FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::bigint[], $7::text[], $8::text[], $9::bigint[], $10::text[])
            AS t(id, type, priority, params, max_attempts, run_at, library_id, dispatched_by, created_at, affinity_node)
          RETURNING id)
       INSERT INTO job_logs (job_id, time, level, message) SELECT * FROM unnest($12::text[], $13::bigint[], $14::text[], $15::text[])`);
const COMPLETE_BATCH = prepared('jobs_complete_batch', 'SELECT id, type, attempts, run_at FROM sd_complete_jobs($1, $2, $3, $4, $5, $6, $7)');
const RENEW_LEASES = prepared('jobs_heartbeat', `UPDATE jobs SET lease_expires_at = $1 FROM unnest($2::text[], $3::text[], $4::int[]) AS l(id, owner, run)
       WHERE jobs.id = l.id AND jobs.status = 'running' AND jobs.lease_owner = l.owner AND jobs.run_id = l.run RETURNING jobs.id`);
const APPEND_LOGS = prepared('jobs_append_logs', 'INSERT INTO job_logs (job_id, time, level, message) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[])');

/** Batches of one kind being written at once (each one statement, one commit), and the most per batch. */
const MAX_FLUSHES = 4;
const MAX_BATCH = 500;

/**
 * Group commit: writes of one kind made in one turn of the event loop, or while earlier batches
 * are being written, go out together as one statement (one commit, one WAL flush); up to
 * MAX_FLUSHES batches are in flight at once. Waiting for the end of the turn costs a write well
 * under a millisecond and lets the runs that end together on one node (and the claims that follow
 * them) share round trips: with three nodes that cut the statements per job by a sixth. A batch
 * that fails rejects every write in it.
 */
class Batcher<E, R> {
  #pending: Array<{ entry: E; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  #flushes = 0;
  #flushScheduled = false;
  constructor(private readonly write: (entries: E[]) => Promise<R[]>) {}

  add(entry: E): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ entry, resolve, reject });
      if (this.#flushScheduled) return;
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    });
  }

  #flush(): void {
    if (this.#flushes >= MAX_FLUSHES || this.#pending.length === 0) return;
    const batch = this.#pending.splice(0, MAX_BATCH);
    this.#flushes++;
    this.write(batch.map((b) => b.entry))
      .then(
        (results) => batch.forEach((b, i) => b.resolve(results[i]!)),
        (err: unknown) => batch.forEach((b) => b.reject(err)),
      )
      .finally(() => {
        this.#flushes--;
        this.#flush();
      });
  }
}

interface CheckpointEntry {
  lease: Lease;
  progress: string | null;
  hasState: boolean;
  state: string | null;
  warning: string | null;
  leaseUntil: number;
  now: number;
}

interface InsertEntry {
  id: string;
  type: string;
  priority: number;
  params: string;
  maxAttempts: number;
  runAt: number;
  libraryId: string | null;
  dispatchedBy: string;
  now: number;
  affinityNode: string | null;
  log: { level: string; message: string } | null;
}

interface CompletionEntry {
  lease: Lease;
  output: string | null;
  now: number;
  log: { level: string; message: string } | null;
}

type Candidate = Pick<Row, 'seq' | 'id' | 'type' | 'priority' | 'run_at' | 'params' | 'state' | 'attempts' | 'max_attempts' | 'runs' | 'run_id' | 'library_id'>;

export class PostgresJobStore implements JobStore {
  readonly shared = true;
  readonly #db: PostgresDatabase;
  readonly #ownsDatabase: boolean;
  #closed = false;
  /**
   * The last write issued for each job still in flight: the next write of that job starts after
   * it, so writes of one job apply in the order they were made (the pool runs them on several
   * connections at once otherwise). Writes of different jobs run in parallel.
   */
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Opens the store without touching the database; call {@link migrate} before the first use (or use {@link open}). */
  constructor(opts: PostgresJobStoreOptions) {
    this.#db = opts.db;
    this.#ownsDatabase = opts.ownsDatabase ?? false;
  }

  /** Applies the job store's migrations (under the shared advisory lock, so nodes starting together apply each once). */
  async migrate(): Promise<void> {
    await migratePostgres(this.#db, 'jobs', POSTGRES_MIGRATIONS);
  }

  /** Migrates and opens the store. */
  static async open(opts: PostgresJobStoreOptions): Promise<PostgresJobStore> {
    const store = new PostgresJobStore(opts);
    await store.migrate();
    return store;
  }

  /** The database, for the cluster's node table and notifications (same connection pool). */
  get database(): PostgresDatabase {
    return this.#db;
  }

  #open(): void {
    if (this.#closed) throw new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the job store is closed');
  }

  async #row(ex: SqlExecutor, jobId: string, lock = false): Promise<Row | undefined> {
    const [row] = await ex.query<Row>(`SELECT * FROM jobs WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [jobId]);
    return row;
  }

  async #save(ex: SqlExecutor, rec: JobRecord): Promise<JobRecord> {
    const [row] = await ex.query<Row>(SAVE, [
      rec.id,
      rec.status,
      toJson(rec.state),
      JSON.stringify(rec.progress),
      toJson(rec.output),
      toJson(rec.lastError),
      JSON.stringify(rec.errors),
      rec.attempts,
      rec.runAt,
      rec.requested,
      rec.workerId,
      rec.leaseUntil,
      rec.updatedAt,
      rec.finishedAt,
      rec.checkpointAt,
    ]);
    return toRecord(row!);
  }

  /** Reads a job FOR UPDATE, lets `fn` change it (or throw), writes it back: one transaction. */
  async #mutate<T>(jobId: string, fn: (rec: JobRecord, tx: SqlExecutor) => Promise<T> | T): Promise<T> {
    this.#open();
    return this.#db.transaction(async (tx) => {
      const row = await this.#row(tx, jobId, true);
      if (!row) throw notFound(jobId);
      return fn(toRecord(row), tx);
    });
  }

  async enqueue(job: NewJob): Promise<{ job: JobRecord; deduplicated: boolean; replayed: boolean }> {
    this.#open();
    const dispatchedBy = job.dispatchedBy ?? 'core';
    const idempotencyKey = job.idempotencyKey ?? null;
    const fingerprint = idempotencyKey === null ? null : (job.fingerprint ?? null);
    const dedupeKey = job.dedupeKey ?? null;
    // Two tries: a concurrent enqueue under the same key (another node) may win the unique index
    // between our look-up and our insert; the second try finds its job.
    for (let attempt = 0; ; attempt++) {
      if (idempotencyKey !== null) {
        const [earlier] = await this.#db.query<Row>('SELECT * FROM jobs WHERE dispatched_by = $1 AND idempotency_key = $2', [dispatchedBy, idempotencyKey]);
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
      if (dedupeKey !== null) {
        const [live] = await this.#db.query<Row>(`SELECT * FROM jobs WHERE type = $1 AND dedupe_key = $2 AND status IN ('queued','running','paused','waiting_retry')`, [job.type, dedupeKey]);
        if (live) return { job: toRecord(live), deduplicated: true, replayed: false };
      }
      const now = job.now ?? Date.now();
      const id = uuidv7(now);
      const params = job.params ?? null;
      const runAt = job.runAt ?? now;
      const priority = job.priority ?? 0;
      const args = [id, job.type, priority, JSON.stringify(params), EMPTY_PROGRESS_JSON, job.maxAttempts, runAt, dedupeKey, job.libraryId ?? null, dispatchedBy, now, idempotencyKey, fingerprint, job.affinityNode ?? null];
      const insert = `INSERT INTO jobs (id, type, status, priority, params, progress, max_attempts, run_at, dedupe_key, library_id, dispatched_by, created_at, updated_at,
        idempotency_key, idempotency_fingerprint, affinity_node) VALUES ($1, $2, 'queued', $3, $4::json, $5::jsonb, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14) RETURNING id`;
      try {
        if (idempotencyKey === null && dedupeKey === null) {
          await this.#inserts.add({
            id,
            type: job.type,
            priority,
            params: JSON.stringify(params),
            maxAttempts: job.maxAttempts,
            runAt,
            libraryId: job.libraryId ?? null,
            dispatchedBy,
            now,
            affinityNode: job.affinityNode ?? null,
            log: job.log ? { level: job.log.level, message: job.log.message } : null,
          });
        } else if (job.log) {
          // The job and its first log line in one statement (one commit).
          await this.#db.execute(`WITH j AS (${insert}) INSERT INTO job_logs (job_id, time, level, message) SELECT id, $11, $15, $16 FROM j`, [...args, job.log.level, job.log.message]);
        } else {
          await this.#db.execute(insert, args);
        }
      } catch (err) {
        if (attempt === 0 && isUniqueViolation(err) && (idempotencyKey !== null || dedupeKey !== null)) continue;
        throw err;
      }
      const rec: JobRecord = {
        id,
        type: job.type,
        status: 'queued',
        priority,
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
        runAt,
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
      return { job: rec, deduplicated: false, replayed: false };
    }
  }

  async claim(req: ClaimRequest): Promise<ClaimedJob[]> {
    this.#open();
    const slots: Record<string, number> = {};
    for (const [type, room] of Object.entries(req.slots)) if (Math.min(room, req.limit) > 0) slots[type] = room;
    if (Object.keys(slots).length === 0) return [];
    const limits = req.limits;
    const limited = limits !== undefined && (Object.keys(limits.types).length > 0 || limits.groups.length > 0);
    // One round trip: sd_claim_jobs (migrations 2 and 3) counts against cluster-wide limits under
    // an advisory lock when a limited type has work, locks the candidates with SKIP LOCKED, marks
    // the chosen running and writes their `started` lines.
    const rows = await this.#db.query<Candidate>(CLAIM, [
      req.workerId,
      req.nodeId ?? null,
      req.now,
      req.now + req.leaseMs,
      req.limit,
      JSON.stringify(slots),
      JSON.stringify(req.groups ?? []),
      limited ? JSON.stringify(limits) : null,
      req.logStarted === true,
    ]);
    rows.sort((a, b) => b.priority - a.priority || a.run_at - b.run_at || a.seq - b.seq);
    return rows.map(claimed);
  }

  /** Runs `fn` after every earlier write of `jobId` settled (see #tails). */
  #inOrder<T>(jobId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(jobId);
    const run = before ? before.then(fn, fn) : fn();
    this.#tails.set(jobId, run);
    const clear = () => {
      if (this.#tails.get(jobId) === run) this.#tails.delete(jobId);
    };
    run.then(clear, clear);
    return run;
  }

  checkpoint(lease: Lease, cp: Checkpoint): Promise<CheckpointResult> {
    this.#open();
    return this.#inOrder(lease.jobId, () => this.#checkpoint(lease, cp));
  }

  async #checkpoint(lease: Lease, cp: Checkpoint): Promise<CheckpointResult> {
    const progress = cp.progress ? JSON.stringify(Object.fromEntries(Object.entries(cp.progress).filter(([, v]) => v !== undefined))) : null;
    const hasState = cp.state !== undefined;
    const state = hasState ? toJson(cp.state) : null;
    if (!cp.log) {
      const requested = await this.#checkpoints.add({ lease, progress, hasState, state, warning: cp.warning ?? null, leaseUntil: cp.now + cp.leaseMs, now: cp.now });
      if (requested !== undefined) return { owned: true, requested };
    } else {
      // With a log line (a warning): the checkpoint and its line in one statement.
      const rows = await this.#db.query<{ requested: ControlRequest | null }>(
        CHECKPOINT_WITH_LOG,
        [lease.jobId, lease.workerId, lease.runId, progress, hasState, state, cp.warning ?? null, cp.now + cp.leaseMs, cp.now, cp.log.level, cp.log.message],
      );
      if (rows.length > 0) return { owned: true, requested: rows[0]!.requested };
    }
    const [cur] = await this.#db.query<{ requested: ControlRequest | null }>(REQUESTED, [lease.jobId]);
    return { owned: false, requested: cur?.requested ?? null };
  }

  /** Checkpoints of different jobs, one UPDATE per batch; resolves with the job's pending request, or undefined when the run no longer owns it. */
  readonly #checkpoints = new Batcher<CheckpointEntry, ControlRequest | null | undefined>(async (e) => {
    const rows = await this.#db.query<{ id: string; requested: ControlRequest | null }>(
      CHECKPOINT_BATCH,
      [
        e.map((x) => x.lease.jobId),
        e.map((x) => x.lease.workerId),
        e.map((x) => x.lease.runId),
        e.map((x) => x.progress),
        e.map((x) => x.hasState),
        e.map((x) => x.state),
        e.map((x) => x.warning),
        e.map((x) => x.leaseUntil),
        e.map((x) => x.now),
      ],
    );
    const owned = new Map(rows.map((r) => [r.id, r.requested]));
    return e.map((x) => (owned.has(x.lease.jobId) ? owned.get(x.lease.jobId)! : undefined));
  });

  /** New jobs without keys, one INSERT per batch (with their first log lines, in the same statement). */
  readonly #inserts = new Batcher<InsertEntry, void>(async (e) => {
    const logs = e.filter((x) => x.log !== null);
    await this.#db.execute(
      INSERT_BATCH,
      [
        e.map((x) => x.id),
        e.map((x) => x.type),
        e.map((x) => x.priority),
        e.map((x) => x.params),
        e.map((x) => x.maxAttempts),
        e.map((x) => x.runAt),
        e.map((x) => x.libraryId),
        e.map((x) => x.dispatchedBy),
        e.map((x) => x.now),
        e.map((x) => x.affinityNode),
        EMPTY_PROGRESS_JSON,
        logs.map((x) => x.id),
        logs.map((x) => x.now),
        logs.map((x) => x.log!.level),
        logs.map((x) => x.log!.message),
      ],
    );
    return e.map(() => undefined);
  });

  /** Completions, one statement per batch (sd_complete_jobs, migration 3: each job and its log line); each resolves with what the transition needs, or null when its run no longer owned the job. */
  readonly #completions = new Batcher<CompletionEntry, { type: string; attempts: number; run_at: number } | null>(async (e) => {
    const rows = await this.#db.query<{ id: string; type: string; attempts: number; run_at: number }>(
      COMPLETE_BATCH,
      [
        e.map((x) => x.lease.jobId),
        e.map((x) => x.lease.workerId),
        e.map((x) => x.lease.runId),
        e.map((x) => x.output),
        e.map((x) => x.now),
        e.map((x) => x.log?.level ?? null),
        e.map((x) => x.log?.message ?? null),
      ],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return e.map((x) => byId.get(x.lease.jobId) ?? null);
  });

  async heartbeat(leases: Lease[], now: number, leaseMs: number): Promise<string[]> {
    this.#open();
    if (leases.length === 0) return [];
    const rows = await this.#db.query<{ id: string }>(
      RENEW_LEASES,
      [now + leaseMs, leases.map((l) => l.jobId), leases.map((l) => l.workerId), leases.map((l) => l.runId)],
    );
    return rows.map((r) => r.id);
  }

  finish(lease: Lease, outcome: FinishOutcome, now: number): Promise<JobTransition | null> {
    this.#open();
    return this.#inOrder(lease.jobId, () => this.#finish(lease, outcome, now));
  }

  async #finish(lease: Lease, outcome: FinishOutcome, now: number): Promise<JobTransition | null> {
    if (outcome.kind === 'completed') {
      const output = toJson(outcome.output);
      const r = await this.#completions.add({ lease, output, now, log: outcome.log ? { level: outcome.log.level, message: outcome.log.message } : null });
      if (!r) return null;
      return { id: lease.jobId, type: r.type, status: 'completed', output: output === null ? null : JSON.parse(output), lastError: null, attempts: r.attempts, runAt: r.run_at };
    }
    return this.#db.transaction(async (tx) => {
      const row = await this.#row(tx, lease.jobId, true);
      if (!row || row.status !== 'running' || row.lease_owner !== lease.workerId || row.run_id !== lease.runId) return null;
      const rec = toRecord(row);
      applyUnsuccessfulFinish(rec, outcome, now);
      return this.#save(tx, rec);
    });
  }

  requestControl(jobId: string, request: ControlRequest, now: number): Promise<ControlResult> {
    return this.#mutate(jobId, async (rec, tx) => {
      const { immediate } = applyControlRequest(rec, request, now);
      return { job: await this.#save(tx, rec), immediate };
    });
  }

  resume(jobId: string, now: number): Promise<JobRecord> {
    return this.#mutate(jobId, (rec, tx) => {
      applyResume(rec, now);
      return this.#save(tx, rec);
    });
  }

  async retry(jobId: string, opts: { fromScratch: boolean; now: number }): Promise<JobRecord> {
    try {
      return await this.#mutate(jobId, async (rec, tx) => {
        checkRetryable(rec);
        if (rec.dedupeKey !== null) {
          const [live] = await tx.query<Row>(`SELECT id, status FROM jobs WHERE type = $1 AND dedupe_key = $2 AND status IN ('queued','running','paused','waiting_retry')`, [rec.type, rec.dedupeKey]);
          if (live) throw dedupeTaken(jobId, rec.dedupeKey, live.id, live.status);
        }
        applyRetry(rec, opts);
        return this.#save(tx, rec);
      });
    } catch (err) {
      // Another node queued a job with the same dedupe key between our check and our write.
      if (isUniqueViolation(err)) throw new SpacedriveError(ErrorCode.INVALID_JOB_STATE, `cannot retry job '${jobId}': a live job with the same dedupe key exists`, { job_id: jobId });
      throw err;
    }
  }

  async get(jobId: string): Promise<JobRecord | null> {
    this.#open();
    const row = await this.#row(this.#db, jobId);
    return row ? toRecord(row) : null;
  }

  async findIdsByPrefix(prefix: string, limit: number): Promise<string[]> {
    this.#open();
    if (prefix === '') return [];
    // Ids sort bytewise (COLLATE "C"): [prefix, prefix + U+FFFF) is exactly the ids with that prefix.
    const rows = await this.#db.query<{ id: string }>('SELECT id FROM jobs WHERE id >= $1 AND id < $2 ORDER BY id LIMIT $3', [prefix, `${prefix}\uffff`, limit]);
    return rows.map((r) => r.id);
  }

  async list(filter: ListFilter): Promise<JobPage> {
    this.#open();
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status !== undefined) {
      args.push(Array.isArray(filter.status) ? filter.status : [filter.status]);
      where.push(`status = ANY($${args.length})`);
    }
    if (filter.type !== undefined) {
      args.push(filter.type);
      where.push(`type = $${args.length}`);
    }
    if (filter.cursor) {
      const seq = Number(filter.cursor);
      if (!Number.isInteger(seq) || seq < 0) throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field 'cursor': expected a cursor returned by a previous page`);
      args.push(seq);
      where.push(`seq < $${args.length}`);
    }
    const limit = Math.max(1, Math.min(filter.limit ?? 50, 1000));
    args.push(limit + 1);
    const rows = await this.#db.query<Row>(`SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${args.length}`, args);
    const page = rows.slice(0, limit);
    return { jobs: page.map(toRecord), nextCursor: rows.length > limit ? String(page[page.length - 1]!.seq) : null };
  }

  async appendLogs(entries: Array<{ jobId: string; time: number; level: JobLogEntry['level']; message: string }>): Promise<void> {
    this.#open();
    if (entries.length === 0) return;
    await this.#db.execute(APPEND_LOGS, [
      entries.map((e) => e.jobId),
      entries.map((e) => e.time),
      entries.map((e) => e.level),
      entries.map((e) => e.message),
    ]);
  }

  async logs(jobId: string, opts: { afterSeq?: number; limit?: number } = {}): Promise<JobLogEntry[]> {
    this.#open();
    return this.#db.query<JobLogEntry>('SELECT seq, time, level, message FROM job_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [
      jobId,
      opts.afterSeq ?? 0,
      Math.max(1, Math.min(opts.limit ?? 1000, 10_000)),
    ]);
  }

  async recover(req: RecoverRequest): Promise<RecoveredJob[]> {
    this.#open();
    let where: string;
    const args: unknown[] = [];
    if (req.scope === 'all') where = `status = 'running'`;
    else if (req.scope === 'expired') {
      args.push(req.now);
      where = `status = 'running' AND lease_expires_at < $1`;
    } else {
      if (!req.nodeId) throw new Error("recover({ scope: 'node' }) needs a nodeId");
      args.push(req.now, `${req.nodeId}/%`, req.exceptWorker ?? '');
      where = `status = 'running' AND (lease_expires_at < $1 OR (lease_owner LIKE $2 AND lease_owner <> $3))`;
    }
    const fresh = new Set(req.nonResumableTypes ?? []);
    return this.#db.transaction(async (tx) => {
      // SKIP LOCKED: a job another node is finishing right now is left to it.
      const rows = await tx.query<Row>(`SELECT * FROM jobs WHERE ${where} FOR UPDATE SKIP LOCKED`, args);
      const out: RecoveredJob[] = [];
      for (const row of rows) {
        const rec = toRecord(row);
        applyRecovery(rec, req.now, fresh.has(rec.type));
        await this.#save(tx, rec);
        out.push({ id: rec.id, type: rec.type, status: rec.status });
      }
      return out;
    });
  }

  async nextRunAt(types: readonly string[], now: number): Promise<number | null> {
    this.#open();
    if (types.length === 0) return null;
    const [r] = await this.#db.query<{ t: number | null }>(
      `SELECT MIN(run_at)::bigint AS t FROM jobs WHERE type = ANY($1) AND status IN ('queued','waiting_retry') AND run_at > $2`,
      [types, now],
    );
    return r?.t ?? null;
  }

  async countByStatus(): Promise<Record<JobStatus, number>> {
    this.#open();
    const out = Object.fromEntries(ALL_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const r of await this.#db.query<{ status: JobStatus; n: number }>('SELECT status, count(*)::int AS n FROM jobs GROUP BY status')) out[r.status] = r.n;
    return out;
  }

  async prune(before: number, limit: number): Promise<number> {
    this.#open();
    const rows = await this.#db.query<{ n: number }>(
      `WITH d AS (DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE status IN ('completed','failed','cancelled') AND finished_at < $1 ORDER BY seq LIMIT $2) RETURNING id),
       l AS (DELETE FROM job_logs WHERE job_id IN (SELECT id FROM d))
       SELECT count(*)::int AS n FROM d`,
      [before, limit],
    );
    return rows[0]?.n ?? 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsDatabase) await this.#db.close();
  }
}

function claimed(c: Candidate): ClaimedJob {
  return {
    id: c.id,
    type: c.type,
    status: 'running',
    params: c.params,
    state: c.state ?? null,
    attempts: c.attempts,
    maxAttempts: c.max_attempts,
    runs: c.runs,
    runId: c.run_id,
    libraryId: c.library_id,
  };
}

