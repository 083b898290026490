/**
 * The job store: everything the job system keeps about jobs, behind one interface with no
 * driver types in it (plain records, plain methods, promises). The runner, the operations and
 * the CLI talk only to this; {@link SqliteJobStore} implements it on an embedded SQLite file, and
 * a PostgreSQL implementation for several daemons on several machines can follow without any
 * caller changing.
 *
 * Ownership of a running job is a *lease*: {@link JobStore.claim} hands a job to one worker
 * (`workerId`) under a fresh `runId` until `leaseUntil`. Every later write about that run
 * ({@link JobStore.checkpoint}, {@link JobStore.finish}, {@link JobStore.heartbeat}) names the
 * lease and is refused (returns `owned: false` / `null`) once the run no longer owns the job —
 * because it was recovered after a stall or a crash, or cancelled. That fencing is what keeps a
 * slow or stale worker from writing over a newer run, with one process or many.
 *
 * Every method that returns a promise resolves only after its write is durable (per the store's
 * documented durability), so a resolved {@link JobStore.checkpoint} is an acknowledged checkpoint.
 *
 * The same contract suite (test/contract/job-store.contract.ts) runs against every
 * implementation.
 */
import type { JobStatus } from '../types.js';

export type { JobStatus } from '../types.js';

/** Statuses a job never leaves on its own (retry moves `failed`/`cancelled` back to `queued`). */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];
/** Statuses in which a job counts as "live" for deduplication. */
export const LIVE_STATUSES: readonly JobStatus[] = ['queued', 'running', 'paused', 'waiting_retry'];

export type ControlRequest = 'pause' | 'cancel';

export interface JobProgress {
  /** 0..1, or null when unknown. */
  fraction: number | null;
  message: string | null;
  itemsDone: number | null;
  itemsTotal: number | null;
  bytesDone: number | null;
  bytesTotal: number | null;
}

export interface JobErrorEntry {
  /** The attempt (1-based) that failed. */
  attempt: number;
  code: string;
  message: string;
  /** Milliseconds since the epoch. */
  time: number;
}

/** One job as stored. All times are milliseconds since the epoch. */
export interface JobRecord {
  id: string;
  type: string;
  status: JobStatus;
  /** Higher runs first. */
  priority: number;
  params: unknown;
  /** Last checkpoint, `null` before the first. */
  state: unknown;
  progress: JobProgress;
  output: unknown;
  /** The error that failed the job (status `failed`), else the last attempt's error or null. */
  lastError: { code: string; message: string } | null;
  /** Every failed attempt, oldest first. */
  errors: JobErrorEntry[];
  warnings: string[];
  /** Attempts that ended in failure (a crash, pause or shutdown does not count). */
  attempts: number;
  maxAttempts: number;
  /** Times the job was handed to a worker. */
  runs: number;
  /** Earliest time the job may run (delayed jobs, retry backoff). */
  runAt: number;
  dedupeKey: string | null;
  /** The dispatcher's idempotency key (unique per dispatcher), or null. */
  idempotencyKey: string | null;
  libraryId: string | null;
  /** `client`, `core`, `extension:<id>`, … */
  dispatchedBy: string;
  /**
   * The node that must run this job (it names paths local to that node: a copy, an index of a
   * location, an ack file), or null when any node may.
   */
  affinityNode: string | null;
  /** A pause or cancel asked of the running job, not yet honoured. */
  requested: ControlRequest | null;
  /** Lease: which worker runs it, which run, until when (status `running` only). */
  workerId: string | null;
  runId: number;
  leaseUntil: number | null;
  createdAt: number;
  updatedAt: number;
  /** First time the job started running. */
  startedAt: number | null;
  finishedAt: number | null;
  /** Last time a checkpoint was written. */
  checkpointAt: number | null;
}

/** What a worker needs to run a job it claimed. */
export interface ClaimedJob {
  id: string;
  type: string;
  status: 'running';
  params: unknown;
  /** Last checkpoint, `null` on a first run. */
  state: unknown;
  attempts: number;
  maxAttempts: number;
  runs: number;
  /** The run's id within its lease. */
  runId: number;
  /** The library the job was dispatched with (null: none); handed to every run (JobRunContext). */
  libraryId?: string | null;
}

/** A job's status after a run ended or a control took effect: what events and logs need. */
export type JobTransition = Pick<JobRecord, 'id' | 'type' | 'status' | 'output' | 'lastError' | 'attempts' | 'runAt'>;

export interface NewJob {
  type: string;
  params: unknown;
  priority?: number;
  /** The caller's clock now: the job's created_at and, without `runAt`, when it is due (default Date.now()). */
  now?: number;
  runAt?: number;
  maxAttempts: number;
  dedupeKey?: string | null;
  libraryId?: string | null;
  dispatchedBy?: string;
  /** Only this node may claim the job (see {@link JobRecord.affinityNode}). */
  affinityNode?: string | null;
  /**
   * With a key, a job already added by the same `dispatchedBy` under that key (in any status,
   * until it is pruned) is returned instead of a new one, with `replayed: true` — or, when its
   * `fingerprint` differs (other params), IDEMPOTENCY_KEY_CONFLICT is thrown.
   */
  idempotencyKey?: string | null;
  /** What the dispatch asked for, reduced to a comparable string (see idempotencyKey). */
  fingerprint?: string | null;
  /** The job's first log line ("queued by …"), written in the same transaction as the job. */
  log?: { level: JobLogEntry['level']; message: string };
}

/** Names one run of one job; every write about the run carries it. */
export interface Lease {
  jobId: string;
  workerId: string;
  runId: number;
}

export interface ClaimRequest {
  workerId: string;
  now: number;
  /** Most jobs to hand out. */
  limit: number;
  /** Job types this worker can run, each with the number of further jobs of it that may start. */
  slots: Record<string, number>;
  /**
   * Caps over sets of types (an extension's `concurrent_jobs` covers all its types together): at
   * most `limit` of the jobs claimed are of the `types` listed. Optional.
   */
  groups?: Array<{ limit: number; types: string[] }>;
  /** How long the lease lasts before another worker may take the job over (renewed by checkpoint/heartbeat). */
  leaseMs: number;
  /** The claiming node: jobs with an affinity to another node are left alone. */
  nodeId?: string;
  /**
   * Write each claimed job's `started` log line (`startedLine`, at `now`) in the claim's own
   * transaction: the line is there whenever the claim is, at no extra round trip.
   */
  logStarted?: boolean;
  /**
   * Limits that hold across every worker sharing the store (a type's `maxConcurrency`, an
   * owner's cap over its types): a store shared by several nodes counts the jobs running
   * anywhere against them, under a lock, before it hands out more. `slots`/`groups` stay this
   * worker's own room. A store with a single worker ({@link JobStore.shared} false) ignores it:
   * the worker's own counts are the whole count.
   */
  limits?: {
    types: Record<string, number>;
    groups: Array<{ limit: number; types: string[] }>;
    /** Runs of this worker, per type, that ended and whose finish is still being written: they hold no slot. */
    finishing?: Record<string, number>;
  };
}

export interface Checkpoint {
  /** Merged into the stored progress (fields left out keep their value). */
  progress?: Partial<JobProgress>;
  /** `undefined` keeps the stored state. */
  state?: unknown;
  warning?: string;
  /** A line for the job's log, written in the same transaction as the checkpoint. */
  log?: { level: JobLogEntry['level']; message: string };
  now: number;
  leaseMs: number;
}

export interface CheckpointResult {
  /** False when the run no longer owns the job; nothing was written. */
  owned: boolean;
  requested: ControlRequest | null;
}

export type FinishOutcome =
  /** `log`: the job's last line ("completed"), written in the same transaction. */
  | { kind: 'completed'; output: unknown; log?: { level: JobLogEntry['level']; message: string } }
  /** Stopped at a pause/cancel request (or a graceful shutdown): becomes paused, cancelled or queued per `requested`. */
  | { kind: 'interrupted'; state?: unknown }
  /**
   * A failed attempt. `retryAt` set: waiting_retry until then; else failed for good.
   * `spendsAttempt: false` (a full disk: not the job's fault) records the error without counting
   * an attempt, so that waiting for space never uses up the job's attempts.
   */
  | { kind: 'failed'; error: { code: string; message: string }; retryAt: number | null; resetState?: boolean; spendsAttempt?: boolean };

export interface ListFilter {
  status?: JobStatus | JobStatus[];
  type?: string;
  limit?: number;
  /** Opaque cursor from a previous page. */
  cursor?: string | null;
}

export interface JobPage {
  jobs: JobRecord[];
  /** Present when more jobs follow. */
  nextCursor: string | null;
}

export interface JobLogEntry {
  seq: number;
  time: number;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

export interface RecoverRequest {
  now: number;
  /**
   * `all`: every running job is orphaned (one daemon owns the store and it just started).
   * `expired`: only jobs whose lease ran out (several workers share the store).
   * `node`: the expired ones and those held by any earlier incarnation of `nodeId` (a node that
   * restarts takes back what it was running, without waiting for the leases to run out).
   */
  scope: 'all' | 'expired' | 'node';
  /** With scope `node`: lease owners `<nodeId>/…` other than `exceptWorker` are this node's earlier incarnations. */
  nodeId?: string;
  exceptWorker?: string;
  /** Types whose jobs start over from scratch (not resumable): their state is cleared. */
  nonResumableTypes?: readonly string[];
}

export interface RecoveredJob {
  id: string;
  type: string;
  status: JobStatus;
}

export interface ControlResult {
  job: JobRecord;
  /**
   * True when the transition happened at once (a queued or paused job); false when a running
   * job was asked and the transition happens when it returns.
   */
  immediate: boolean;
}

export interface JobStore {
  /** Whether several daemons may share this store (PostgreSQL) or it belongs to one (SQLite). */
  readonly shared: boolean;
  /**
   * Adds a queued job. With a `dedupeKey`, a live job (queued, running, paused, waiting_retry) of
   * the same type and key is returned instead, with `deduplicated: true`. With an
   * `idempotencyKey`, the job this dispatcher added under that key before is returned, with
   * `replayed: true` (IDEMPOTENCY_KEY_CONFLICT if it was added with another fingerprint).
   */
  enqueue(job: NewJob): Promise<{ job: JobRecord; deduplicated: boolean; replayed: boolean }>;
  /**
   * Hands out up to `limit` runnable jobs (queued or waiting_retry, `runAt <= now`, type in
   * `slots` with room left), highest priority first, then earliest `runAt`, then oldest; marks
   * them running under a new lease.
   */
  claim(req: ClaimRequest): Promise<ClaimedJob[]>;
  /** Writes progress, state and a warning in one transaction, renews the lease, and says whether a pause/cancel was asked. */
  checkpoint(lease: Lease, cp: Checkpoint): Promise<CheckpointResult>;
  /** Renews leases of runs still owned; returns the ids still owned. */
  heartbeat(leases: Lease[], now: number, leaseMs: number): Promise<string[]>;
  /** Ends a run. Returns the job's new status (and what goes with it), or null when the run no longer owned the job. */
  finish(lease: Lease, outcome: FinishOutcome, now: number): Promise<JobTransition | null>;
  /**
   * Pause or cancel: a queued or waiting_retry job pauses/cancels at once (a paused one cancels at
   * once); a running job gets the request recorded for its run to honour. INVALID_JOB_STATE for
   * any other status, JOB_NOT_FOUND for an unknown id.
   */
  requestControl(jobId: string, request: ControlRequest, now: number): Promise<ControlResult>;
  /** paused → queued (continues from its checkpoint). INVALID_JOB_STATE otherwise. */
  resume(jobId: string, now: number): Promise<JobRecord>;
  /** failed or cancelled → queued with a fresh attempt count, from its checkpoint or (`fromScratch`) from nothing. */
  retry(jobId: string, opts: { fromScratch: boolean; now: number }): Promise<JobRecord>;
  get(jobId: string): Promise<JobRecord | null>;
  /** Ids that start with `prefix`, in id order, at most `limit` (for short ids typed by people). */
  findIdsByPrefix(prefix: string, limit: number): Promise<string[]>;
  list(filter: ListFilter): Promise<JobPage>;
  appendLogs(entries: Array<{ jobId: string; time: number; level: JobLogEntry['level']; message: string }>): Promise<void>;
  logs(jobId: string, opts?: { afterSeq?: number; limit?: number }): Promise<JobLogEntry[]>;
  /**
   * After a crash (or a worker's lease ran out): running jobs go back to queued keeping their
   * checkpoint and attempt count — or to paused/cancelled if that was requested of them.
   */
  recover(req: RecoverRequest): Promise<RecoveredJob[]>;
  /** Earliest `runAt` after `now` among queued/waiting_retry jobs of these types, or null. */
  nextRunAt(types: readonly string[], now: number): Promise<number | null>;
  /** Job counts per status. */
  countByStatus(): Promise<Record<JobStatus, number>>;
  /**
   * Deletes up to `limit` finished jobs (completed, failed, cancelled) that finished before
   * `before`, with their logs; returns how many. Live jobs are never touched.
   */
  prune(before: number, limit: number): Promise<number>;
  close(): Promise<void>;
}
