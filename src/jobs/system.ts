/**
 * The job system as core exposes it (`core.jobs`): the job-type registry, dispatch, control
 * (pause, resume, cancel, retry) and observation, over a {@link JobStore} and a {@link Runner}.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { JobsOptions } from '../config/index.js';
import { ErrorCode, SpacedriveError, asSpacedriveError } from '../errors/index.js';
import type { EventBus } from '../events/index.js';
import type { Logger } from '../logging/index.js';
import { closestNames } from '../registry/closest-names.js';
import { JobTypeRegistry } from './registry.js';
import { Runner, jobEventBase } from './runner.js';
import { PostgresJobStore, SqliteJobStore, type JobLogEntry, type JobPage, type JobRecord, type JobStore, type ListFilter } from './store/index.js';
import { openPostgres, redactUrl } from '../storage/postgres/index.js';
import { ClusterClock, ClusterNode, SingleNodeBus, nodeIdentity, type ClusterBus, type ClusterNodeInfo, type ExtensionChange } from './cluster/index.js';
import type { PathAccess } from '../files/access.js';
import type { JobStatus, JobTypeDefinition } from './types.js';

const PRUNE_EVERY_MS = 3_600_000;
const PRUNE_BATCH = 1000;
/** How many matching ids an ambiguous short id's error lists. */
const AMBIGUOUS_CANDIDATES_SHOWN = 5;

export interface DispatchOptions {
  /** Higher runs first. Default 0. */
  priority?: number;
  /** Do not run before this time (ms since the epoch, or a Date). */
  runAt?: number | Date;
  /** Attempts before the job fails for good. Default: the type's, else `jobs.maxAttempts`. */
  maxAttempts?: number;
  /** While a live job of the same type has this key, dispatch returns it instead of adding one. */
  dedupeKey?: string;
  libraryId?: string | null;
  /** `client`, `core`, `extension:<id>` … (shown by jobs info). Default `core`. */
  dispatchedBy?: string;
  /**
   * A dispatch repeating a key its dispatcher used before returns the job it added then (a
   * retry after a lost answer never adds a second job); with other params or options,
   * IDEMPOTENCY_KEY_CONFLICT.
   */
  idempotencyKey?: string;
}

export interface DispatchResult {
  jobId: string;
  /** True when an existing live job with the same dedupe key was returned. */
  deduplicated: boolean;
  /** True when the job an earlier dispatch with the same idempotency key added was returned. */
  replayed: boolean;
}

/** A job as shown to people and clients: the record plus why a queued job is not running. */
export interface JobView extends JobRecord {
  /** Why a queued job waits (its type is not registered, its run_at is ahead, all slots are busy), else null. */
  waitingFor: string | null;
}

export interface JobSystemOptions {
  dataDir: string;
  options: JobsOptions;
  events: EventBus;
  logger: Logger;
  /** Another store implementation (default: per `store`, else SQLite at `<dataDir>/jobs.db`). */
  store?: JobStore;
  /** The job-type registry to run from (default: a new one); core shares one with the extensions. */
  types?: JobTypeRegistry;
  /**
   * `sqlite` (default) or a `postgres://…` URL: the job store of a cluster, shared with every
   * daemon started on the same database (this one becomes one of its nodes).
   */
  storeUrl?: string;
  /** Shown in `cluster nodes` (the daemon's version). */
  version?: string;
  /**
   * Called when another node of the cluster installed, enabled, disabled, reloaded or
   * uninstalled an extension (never when alone). Heard for as long as the job system's cluster
   * listens: from start to close.
   */
  onExtensionChange?: (change: ExtensionChange) => void;
  /**
   * Throws PERMISSION_DENIED unless `actor` (a job's `dispatched_by`) may touch these paths;
   * asked for job types that declare `touches`. Default: everyone may (no extensions).
   */
  checkPaths?: (actor: string, requests: readonly PathAccess[]) => Promise<void>;
  /** This machine's clock (default Date.now; tests skew it). In a cluster the job runtime corrects it to the database's (ClusterClock). */
  clock?: () => number;
}

export class JobSystem {
  readonly types: JobTypeRegistry;
  readonly store: JobStore;
  readonly runner: Runner;
  readonly #options: JobsOptions;
  readonly #events: EventBus;
  readonly #logger: Logger;
  readonly #checkPaths: (actor: string, requests: readonly PathAccess[]) => Promise<void>;
  #countsReading: Promise<Record<JobStatus, number>> | null = null;
  #closed = false;
  #pruneTimer: NodeJS.Timeout | null = null;
  /** This daemon's node id (stable for its data directory). */
  readonly nodeId: string;
  /** Set when the store is shared (PostgreSQL): this daemon's membership in the cluster. */
  readonly cluster: ClusterNode | null = null;
  /** Extension changes to and from other nodes (a no-op bus when alone). */
  readonly bus: ClusterBus;
  readonly #version: string;
  /** The job runtime's clock: this machine's, or in a cluster the database's as estimated here. */
  readonly #now: () => number;

  constructor(opts: JobSystemOptions) {
    this.#options = opts.options;
    this.types = opts.types ?? new JobTypeRegistry();
    this.#events = opts.events;
    this.#logger = opts.logger;
    this.#version = opts.version ?? 'unknown';
    this.#checkPaths = opts.checkPaths ?? (() => Promise.resolve());
    const identity = nodeIdentity(opts.dataDir);
    this.nodeId = identity.nodeId;
    const url = opts.storeUrl ?? 'sqlite';
    let db: ReturnType<typeof openPostgres> | null = null;
    if (opts.store) this.store = opts.store;
    else if (url === 'sqlite') this.store = new SqliteJobStore({ path: join(opts.dataDir, 'jobs.db'), synchronous: opts.options.synchronous });
    else {
      db = openPostgres({
        url,
        applicationName: `spacedrive:${this.nodeId}`,
        onError: (err) => this.#logger.warn({ err: err.message, store: redactUrl(url) }, 'shared store connection error'),
      });
      this.store = new PostgresJobStore({ db, ownsDatabase: true });
    }
    const clock = db ? new ClusterClock(opts.clock) : null;
    this.#now = clock ? clock.now : (opts.clock ?? Date.now);
    this.#startedAt = this.#now();
    this.runner = new Runner({ store: this.store, types: this.types, events: opts.events, logger: opts.logger, options: opts.options, workerId: identity.workerId, nodeId: this.nodeId, clock: this.#now });
    if (db) {
      this.cluster = new ClusterNode({
        clock: clock!,
        db,
        store: this.store,
        runner: this.runner,
        events: opts.events,
        logger: opts.logger,
        nodeId: this.nodeId,
        version: this.#version,
        options: opts.options,
        recoverExpired: () => this.#recover('expired'),
      });
    }
    this.bus = this.cluster ?? new SingleNodeBus(this.nodeId);
    if (opts.onExtensionChange) this.bus.onExtensionChange(opts.onExtensionChange);
    this.types.onChange(() => this.runner.schedulePump());
  }

  /**
   * Running jobs whose run is over back to the queue (from their checkpoint; a non-resumable
   * type from scratch; a pause or cancel asked of them honoured now). `start`: at start — every
   * running job when this daemon owns the store, else this node's earlier incarnation's and
   * expired ones. `expired`: leases that lapsed on any node (each cluster heartbeat).
   */
  async #recover(when: 'start' | 'expired'): Promise<void> {
    const nonResumable = this.types.list().filter((t) => !t.resumable).map((t) => t.type);
    const scope = when === 'expired' ? 'expired' : this.store.shared ? 'node' : 'all';
    const recovered = await this.store.recover({ now: this.#now(), scope, nodeId: this.nodeId, exceptWorker: this.runner.workerId, nonResumableTypes: nonResumable });
    const why = when === 'expired' ? 'its node stopped renewing its lease (killed or cut off from the store)' : 'the daemon stopped while this job was running';
    for (const r of recovered) {
      this.runner.log(r.id, 'warn', `${why}; ${r.status === 'queued' ? 'it continues from its last checkpoint' : `it is now ${r.status} as requested`}`);
    }
    if (recovered.length > 0) this.#logger.info({ count: recovered.length, node: this.nodeId }, when === 'expired' ? 'recovered jobs whose lease expired' : 'recovered jobs that were running when the daemon stopped');
    if (recovered.some((r) => r.status === 'queued')) this.runner.schedulePump();
  }

  /** The nodes of the cluster; alone (SQLite), this daemon only. */
  async nodes(): Promise<ClusterNodeInfo[]> {
    if (this.cluster) return this.cluster.nodes();
    const now = this.#now();
    return [{ id: this.nodeId, host: hostname(), pid: process.pid, version: this.#version, startedAt: this.#startedAt, heartbeatAt: now, draining: this.#closed, jobsRunning: this.runner.runningCount, self: true, lost: false }];
  }

  readonly #startedAt: number;

  /**
   * Recovers jobs that were running when the daemon last stopped (they continue from their
   * checkpoint, or — for a type that is not resumable — from scratch; a pause or cancel asked of
   * them is honoured now), then starts running jobs.
   */
  async start(): Promise<void> {
    if (this.store instanceof PostgresJobStore) await this.store.migrate();
    await this.cluster?.start();
    await this.#recover('start');
    this.runner.start();
    if (this.#options.retentionMs > 0) {
      void this.pruneFinished();
      this.#pruneTimer = setInterval(() => void this.pruneFinished(), PRUNE_EVERY_MS);
      this.#pruneTimer.unref();
    }
  }

  /**
   * Deletes finished jobs older than `jobs.retentionMs`, a batch per event-loop turn so that a
   * large backlog never holds the store for long. Returns how many were deleted.
   */
  async pruneFinished(now = this.#now()): Promise<number> {
    let total = 0;
    try {
      while (!this.#closed) {
        const n = await this.store.prune(now - this.#options.retentionMs, PRUNE_BATCH);
        total += n;
        if (n < PRUNE_BATCH) break;
      }
    } catch (err) {
      this.#logger.warn({ err }, 'pruning finished jobs failed');
    }
    if (total > 0) this.#logger.info({ count: total }, 'deleted finished jobs past their retention');
    return total;
  }

  /**
   * Adds a job. Unknown type → UNKNOWN_JOB_TYPE; params not matching the type's schema →
   * INVALID_INPUT naming the field. Both at once, never as a failed job later.
   */
  async dispatch(type: string, params: unknown, opts: DispatchOptions = {}): Promise<DispatchResult> {
    if (this.#closed) throw new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the daemon is shutting down; no new jobs are accepted');
    const def = this.types.get(type);
    if (!def) throw unknownType(type, this.types.list().map((t) => t.type));
    // A JSON copy: params are stored as JSON, and validation fills in defaults on its argument.
    let copy: unknown;
    try {
      copy = params === undefined ? {} : JSON.parse(JSON.stringify(params));
    } catch (err) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid params for job type '${type}': not JSON (${(err as Error).message})`);
    }
    const checked = def.validateParams(copy);
    if (def.touches) await this.#checkPaths(opts.dispatchedBy ?? 'core', await def.touches(checked));
    const runAt = opts.runAt instanceof Date ? opts.runAt.getTime() : opts.runAt;
    if (runAt !== undefined && !Number.isFinite(runAt)) throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field 'run_at': expected a date`);
    if (opts.priority !== undefined && !Number.isInteger(opts.priority)) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field 'priority': expected an integer`);
    }
    const maxAttempts = opts.maxAttempts ?? def.maxAttempts ?? this.#options.maxAttempts;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field 'max_attempts': expected an integer >= 1`);
    }
    const dispatchedBy = opts.dispatchedBy ?? 'core';
    const idempotencyKey = opts.idempotencyKey ?? null;
    const now = this.#now();
    // A job naming paths of this machine runs here: no other node sees those paths.
    const affine = def.localPaths !== undefined ? def.localPaths(checked) : def.touches !== undefined && (await def.touches(checked)).length > 0;
    const { job, deduplicated, replayed } = await this.store.enqueue({
      type,
      params: checked,
      priority: opts.priority ?? 0,
      now,
      ...(runAt !== undefined ? { runAt } : {}),
      maxAttempts,
      dedupeKey: opts.dedupeKey ?? null,
      libraryId: opts.libraryId ?? null,
      dispatchedBy,
      affinityNode: affine ? this.nodeId : null,
      idempotencyKey,
      fingerprint:
        idempotencyKey === null
          ? null
          : canonicalJson({ type, params: checked, priority: opts.priority ?? 0, runAt: runAt ?? null, maxAttempts: opts.maxAttempts ?? null, dedupeKey: opts.dedupeKey ?? null, libraryId: opts.libraryId ?? null }),
      // Written with the job, so that the line says what the dispatch asked for, whatever
      // happens to the job's run_at later (a retry, a backoff).
      log: { level: 'info', message: `queued by ${dispatchedBy}${runAt !== undefined && runAt > now + 1000 ? `, to run at ${new Date(runAt).toISOString()}` : ''}` },
    });
    if (!deduplicated && !replayed) {
      if (this.#events.wants('job:queued')) this.#events.emit('job:queued', { ...jobEventBase(job), priority: job.priority, run_at: new Date(job.runAt).toISOString() });
      if (job.runAt <= this.#now()) this.runner.schedulePump();
      else this.runner.wakeAt(job.runAt);
    }
    return { jobId: job.id, deduplicated, replayed };
  }

  /**
   * Registers one of core's job types. One that declares `touches` has its paths checked again
   * before every run, with the identity of whoever dispatched the job (read from its record, so
   * a job resumed after a restart is checked as well): a refusal fails the job for good.
   */
  registerCoreType(def: JobTypeDefinition): void {
    const touches = def.touches?.bind(def);
    if (!touches) {
      this.types.register('core', def);
      return;
    }
    const run = def.run.bind(def);
    this.types.register('core', {
      ...def,
      run: async (ctx) => {
        const requests = await touches(ctx.params);
        if (requests.length === 0) return run(ctx);
        const job = await this.store.get(ctx.jobId);
        try {
          await this.#checkPaths(job?.dispatchedBy ?? 'core', requests);
        } catch (err) {
          const typed = asSpacedriveError(err);
          if (typed?.code !== ErrorCode.PERMISSION_DENIED) throw err;
          return { status: 'failed', error: { code: typed.code, message: typed.message }, retryable: false };
        }
        return run(ctx);
      },
    });
  }

  /**
   * The full id of the job `idOrPrefix` names: itself when a job has that id, else the one job
   * whose id starts with it (people type the short ids the CLI shows). JOB_NOT_FOUND when none
   * does; JOB_ID_AMBIGUOUS, listing candidates, when several do. Every operation that takes a
   * job id goes through here, so wire clients get the same.
   */
  async resolveId(idOrPrefix: string): Promise<string> {
    const exact = await this.store.get(idOrPrefix);
    if (exact) return exact.id;
    const prefix = idOrPrefix.trim().toLowerCase();
    const found = await this.store.findIdsByPrefix(prefix, AMBIGUOUS_CANDIDATES_SHOWN + 1);
    if (found.length === 1) return found[0]!;
    if (found.length === 0) throw new SpacedriveError(ErrorCode.JOB_NOT_FOUND, `no job with id '${idOrPrefix}'`, { job_id: idOrPrefix });
    const shown = found.slice(0, AMBIGUOUS_CANDIDATES_SHOWN);
    const more = found.length > shown.length ? ', …' : '';
    throw new SpacedriveError(
      ErrorCode.JOB_ID_AMBIGUOUS,
      `job id '${idOrPrefix}' is ambiguous: it matches ${found.length > shown.length ? 'more than ' : ''}${shown.length} jobs (${shown.join(', ')}${more}); type more of it`,
      { job_id: idOrPrefix, candidates: shown },
    );
  }

  async #require(jobId: string): Promise<JobRecord> {
    // A full id (what clients send most) is found by one read.
    const exact = await this.store.get(jobId);
    if (exact) return exact;
    const job = await this.store.get(await this.resolveId(jobId));
    if (!job) throw new SpacedriveError(ErrorCode.JOB_NOT_FOUND, `no job with id '${jobId}'`, { job_id: jobId });
    return job;
  }

  /**
   * Pauses a job: a queued or retry-waiting one at once; a running one is asked (its progress()
   * and interrupt() answer `pause`, its signal aborts) and pauses when it returns its state.
   */
  async pause(idOrPrefix: string): Promise<JobView> {
    const current = await this.#require(idOrPrefix);
    const jobId = current.id;
    const def = this.types.get(current.type);
    if (current.status === 'running' && def && !def.resumable) {
      throw new SpacedriveError(
        ErrorCode.INVALID_JOB_STATE,
        `cannot pause job '${jobId}': job type '${current.type}' is not resumable, so pausing would lose its work; cancel it instead`,
        { job_id: jobId, status: current.status },
      );
    }
    const { job, immediate } = await this.store.requestControl(jobId, 'pause', this.#now());
    if (immediate) this.runner.jobTransition(job);
    else {
      this.runner.log(jobId, 'info', 'pause requested');
      this.runner.notifyRequest(jobId, 'pause');
      if (!this.runner.isRunningHere(jobId)) await this.cluster?.announceControl(jobId, 'pause');
    }
    return this.view(job);
  }

  /** Cancels a job: at once unless it is running, in which case it is asked and cancels when it returns. */
  async cancel(idOrPrefix: string): Promise<JobView> {
    const jobId = await this.resolveId(idOrPrefix);
    const { job, immediate } = await this.store.requestControl(jobId, 'cancel', this.#now());
    if (immediate) this.runner.jobTransition(job);
    else {
      this.runner.log(jobId, 'info', 'cancel requested');
      this.runner.notifyRequest(jobId, 'cancel');
      if (!this.runner.isRunningHere(jobId)) await this.cluster?.announceControl(jobId, 'cancel');
    }
    return this.view(job);
  }

  /** paused → queued; it continues from its last checkpoint. */
  async resume(idOrPrefix: string): Promise<JobView> {
    const jobId = await this.resolveId(idOrPrefix);
    const job = await this.store.resume(jobId, this.#now());
    this.runner.log(jobId, 'info', job.status === 'running' ? 'pause request withdrawn' : 'resumed');
    this.#events.emit('job:resumed', jobEventBase(job));
    this.runner.schedulePump();
    return this.view(job);
  }

  /** failed or cancelled → queued with fresh attempts, from its last checkpoint unless `fromScratch`. */
  async retry(idOrPrefix: string, opts: { fromScratch?: boolean } = {}): Promise<JobView> {
    const jobId = await this.resolveId(idOrPrefix);
    const job = await this.store.retry(jobId, { fromScratch: opts.fromScratch ?? false, now: this.#now() });
    this.runner.log(jobId, 'info', `retried${opts.fromScratch ? ' from scratch' : ' from its last checkpoint'}`);
    this.#events.emit('job:queued', { ...jobEventBase(job), priority: job.priority, run_at: new Date(job.runAt).toISOString(), retried: true });
    this.runner.schedulePump();
    return this.view(job);
  }

  async get(jobId: string): Promise<JobView> {
    return this.view(await this.#require(jobId));
  }

  async list(filter: ListFilter): Promise<{ jobs: JobView[]; nextCursor: string | null }> {
    const page: JobPage = await this.store.list(filter);
    return { jobs: page.jobs.map((j) => this.view(j)), nextCursor: page.nextCursor };
  }

  /** A job's log, oldest first; every line has its own `seq`, so `afterSeq` continues a read. */
  async logs(idOrPrefix: string, opts: { afterSeq?: number; limit?: number } = {}): Promise<JobLogEntry[]> {
    const job = await this.#require(idOrPrefix);
    return this.store.logs(job.id, opts);
  }

  /** Adds `waitingFor` to a record. */
  view(job: JobRecord): JobView {
    return { ...job, waitingFor: this.#waitingFor(job) };
  }

  #waitingFor(job: JobRecord): string | null {
    if (job.status === 'running') {
      if (!this.runner.isWaiting(job.id)) return null;
      const owner = this.types.get(job.type)?.owner;
      return owner !== undefined && owner !== 'core' ? `a free instance of extension '${owner}' (every instance is busy)` : 'capacity to start its work';
    }
    if (job.status !== 'queued' && job.status !== 'waiting_retry') return null;
    const def = this.types.get(job.type);
    if (!def) {
      const colon = job.type.indexOf(':');
      return colon > 0
        ? `job type '${job.type}' is not registered: extension '${job.type.slice(0, colon)}' is not loaded`
        : `job type '${job.type}' is not registered in this version`;
    }
    const now = this.#now();
    if (job.runAt > now) return `${job.status === 'waiting_retry' ? 'retry' : 'run_at'} ${new Date(job.runAt).toISOString()}`;
    if (this.runner.runningCount >= this.#options.maxConcurrent) return `a free slot (${this.#options.maxConcurrent} jobs running, the limit)`;
    if (def.maxConcurrency !== undefined && this.runner.runningOfType(job.type) >= def.maxConcurrency) {
      return `a free slot for '${job.type}' (${def.maxConcurrency} running, its limit)`;
    }
    if (def.ownerMaxConcurrency !== undefined && this.runner.runningOfOwner(def.owner) >= def.ownerMaxConcurrency) {
      return `a free slot for '${def.owner}' jobs (${def.ownerMaxConcurrency} running, its concurrent_jobs limit)`;
    }
    return null;
  }

  /**
   * Reads the job counts per status for {@link counters}. Calls made while a read is under way
   * share it, so a burst of status calls costs one count.
   */
  refreshCounts(): Promise<Record<JobStatus, number>> {
    this.#countsReading ??= this.store.countByStatus().finally(() => {
      this.#countsReading = null;
    });
    return this.#countsReading;
  }

  /**
   * Counters shown by `query:core.status.v1` (as `jobs_<name>`). The counts per status are read
   * at each call (a count over the jobs table, which retention keeps bounded): a count cached
   * for later calls lagged by as long as the gap between two `spacedrive status` runs.
   */
  async counters(): Promise<Record<string, number>> {
    const counts = this.#closed ? {} : await this.refreshCounts();
    return {
      ...counts,
      running_here: this.runner.runningCount,
      max_running_seen: this.runner.maxRunningSeen,
      completed_since_start: this.runner.completedSinceStart,
      failed_since_start: this.runner.failedSinceStart,
      types: this.types.list().length,
    };
  }

  /**
   * Stops running jobs (they save state and return, within `jobs.shutdownGraceMs`) and closes the
   * store. In a cluster this is the drain of `daemon stop`: the node shows as draining and stops
   * claiming, its jobs finish or go back to the queue (where other nodes, told by notification,
   * take them), and then it leaves the nodes table.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    await this.cluster?.drain();
    await this.runner.stop(this.#options.shutdownGraceMs);
    await this.cluster?.stop();
    await this.store.close();
  }
}

/** JSON with object keys sorted: two requests asking for the same thing give the same text. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

function unknownType(type: string, known: string[]): SpacedriveError {
  const colon = type.indexOf(':');
  const hint =
    colon > 0
      ? `no loaded extension '${type.slice(0, colon)}' registers it`
      : `known job types: ${known.filter((k) => !k.includes(':')).join(', ') || '(none)'}`;
  const suggestions = closestNames(type, known);
  const didYouMean = suggestions.length > 0 ? `; did you mean ${suggestions.join(' or ')}?` : '';
  return new SpacedriveError(ErrorCode.UNKNOWN_JOB_TYPE, `unknown job type '${type}'; ${hint}${didYouMean}`, {
    job_type: type,
    ...(suggestions.length > 0 ? { suggestions } : {}),
  });
}

/** Registers job types for the registry (re-exported so callers need one import). */
export type { JobTypeDefinition };
