/**
 * The runner: claims runnable jobs from the store within the concurrency limits, runs each
 * type's `run(ctx)`, and turns what it returns (or throws) into the job's next status.
 *
 * One run of a job is an {@link Execution} holding the store lease. Once an execution is
 * *detached* — it stalled, lost its lease, or the daemon is stopping and it did not return in
 * time — nothing it does later reaches the store: its progress() calls answer `cancel` and its
 * outcome is dropped. The store's lease fencing guarantees the same across processes.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { ErrorCode, SpacedriveError, asSpacedriveError, isStorageFailure, toWireError } from '../errors/index.js';
import type { EventBus } from '../events/index.js';
import type { Logger } from '../logging/index.js';
import type { JobsOptions } from '../config/index.js';
import type { JobTypeRegistry, RegisteredJobType } from './registry.js';
import type { ClaimedJob, ControlRequest, FinishOutcome, JobProgress, JobRecord, JobStore, JobTransition, Lease } from './store/index.js';
import type { Interrupt, JobOutcome, JobRunContext, ProgressReport } from './types.js';

const STALL_CHECK_MS = 200;
const COMPLETED_LINE = Object.freeze({ level: 'info' as const, message: 'completed' });
/** Longest job-log line kept (characters). */
const MAX_LOG_LINE = 4000;
/** Longest a wake timer is set for (setTimeout's limit is ~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * A job that ran into a full or read-only disk waits this long before it runs again, doubling
 * per failure in a row up to the maximum; so does a run's end that could not be recorded for
 * the same reason. Neither spends an attempt: space returning is not something to give up on.
 */
const STORAGE_RETRY_FIRST_MS = 250;
const STORAGE_RETRY_MAX_MS = 5_000;
/** Error codes that fail a job at once instead of retrying it. */
const PERMANENT_CODES = new Set<string>([
  ErrorCode.INVALID_INPUT,
  ErrorCode.NOT_FOUND,
  ErrorCode.ALREADY_EXISTS,
  ErrorCode.PERMISSION_DENIED,
]);

interface Execution {
  lease: Lease;
  record: ClaimedJob;
  def: RegisteredJobType;
  /** Created on first use of ctx.signal (most jobs never look). */
  controller: AbortController | null;
  /** Why the run was asked to stop, once it was (see abortRun). */
  stopReason: SpacedriveError | null;
  stopListeners: Array<(reason: unknown) => void> | null;
  requested: ControlRequest | null;
  lastActivity: number;
  /** Waiting for capacity outside the job system before its work starts (ctx.waiting): no stall clock. */
  waiting: boolean;
  stallTimeoutMs: number;
  detached: boolean;
  lastEventAt: number;
  progressTimer: NodeJS.Timeout | null;
  latestProgress: Partial<JobProgress>;
  /**
   * Until when this run's lease is known to hold (claim, then each checkpoint and heartbeat
   * that the store acknowledged). With a shared store, a run whose lease lapsed stops: another
   * node may have taken the job over.
   */
  leaseUntil: number;
}

export interface RunnerOptions {
  store: JobStore;
  types: JobTypeRegistry;
  events: EventBus;
  logger: Logger;
  options: JobsOptions;
  /** Lease owner id of this process (default `<host>:<pid>:<random>`); see cluster/node-id.ts. */
  workerId?: string;
  /** This node's id: jobs with an affinity to another node are not claimed here. */
  nodeId?: string;
  /**
   * The job runtime's clock, for every time it stores and every duration it measures (default
   * Date.now). In a cluster it is the database's clock as this node estimates it (ClusterClock):
   * leases and run_at are compared across nodes.
   */
  clock?: () => number;
}

type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The payload every job event carries. */
export function jobEventBase(job: { id: string; type: string; status: string }): { job_id: string; job_type: string; status: string } {
  return { job_id: job.id, job_type: job.type, status: job.status };
}

export class Runner {
  readonly workerId: string;
  readonly nodeId: string | undefined;
  readonly #store: JobStore;
  readonly #types: JobTypeRegistry;
  readonly #events: EventBus;
  readonly #logger: Logger;
  readonly #opts: JobsOptions;
  readonly #now: () => number;
  readonly #running = new Map<string, Execution>();
  readonly #runningByType = new Map<string, number>();
  /** Running jobs per type owner (`core`, an extension id), for {@link JobTypeDefinition.ownerMaxConcurrency}. */
  readonly #runningByOwner = new Map<string, number>();
  #started = false;
  #stopping = false;
  #pumping = false;
  #pumpAgain = false;
  #pumpScheduled = false;
  #wakeTimer: NodeJS.Timeout | null = null;
  #wakeAt = Infinity;
  #stallTimer: NodeJS.Timeout | null = null;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #pollTimer: NodeJS.Timeout | null = null;
  #logBuffer: Array<{ jobId: string; time: number; level: LogLevel; message: string }> = [];
  #logFlushScheduled = false;
  /** Log writes handed to the store and not yet committed (stop() waits for them). */
  readonly #logWrites = new Set<Promise<void>>();
  /** Runs' ends being recorded (#settle), which stop() waits for before the store closes. */
  readonly #settling = new Map<Execution, Promise<void>>();
  /** Set once stop() has written everything: the store may be closed, nothing more is written. */
  #stopped = false;
  #idleWaiters: Array<() => void> = [];
  /** Storage failures in a row per job (see STORAGE_RETRY_FIRST_MS). */
  readonly #storageFailures = new Map<string, number>();
  /** Highest number of jobs running at once since start (shown by core.status). */
  maxRunningSeen = 0;
  completedSinceStart = 0;
  failedSinceStart = 0;

  /** What every run's context calls back into (one object, not closures per run). */
  readonly #contextHost: ContextHost = {
    now: () => this.#now(),
    progress: (exec, report) => this.#progress(exec, report),
    log: (jobId, level, message) => this.log(jobId, level, message),
  };

  constructor(opts: RunnerOptions) {
    this.#store = opts.store;
    this.#types = opts.types;
    this.#events = opts.events;
    this.#logger = opts.logger;
    this.#opts = opts.options;
    this.workerId = opts.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.nodeId = opts.nodeId;
    this.#now = opts.clock ?? Date.now;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  isRunningHere(jobId: string): boolean {
    return this.#running.has(jobId);
  }

  /** Whether a job running here waits for capacity outside the job system (JobRunContext.waiting). */
  isWaiting(jobId: string): boolean {
    return this.#running.get(jobId)?.waiting === true;
  }

  runningOfType(type: string): number {
    return this.#runningByType.get(type) ?? 0;
  }

  /** Jobs running here whose type `owner` registered. */
  runningOfOwner(owner: string): number {
    return this.#runningByOwner.get(owner) ?? 0;
  }

  #countRunning(type: string, owner: string, delta: 1 | -1): void {
    this.#runningByType.set(type, this.runningOfType(type) + delta);
    this.#runningByOwner.set(owner, this.runningOfOwner(owner) + delta);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#stallTimer = setInterval(() => this.#checkStalls(), STALL_CHECK_MS);
    this.#stallTimer.unref();
    if (this.#store.shared) {
      // Other nodes add jobs too: their notifications wake this runner, and this poll finds
      // what a lost notification did not announce. The cluster node drives the heartbeat.
      this.#pollTimer = setInterval(() => this.schedulePump(), this.#opts.pollIntervalMs);
      this.#pollTimer.unref();
    } else {
      this.#heartbeatTimer = setInterval(() => void this.heartbeat(), this.#opts.heartbeatMs);
      this.#heartbeatTimer.unref();
    }
    this.schedulePump();
  }

  /** Asks the runner to look for runnable jobs soon (coalesced). */
  schedulePump(): void {
    if (!this.#started || this.#stopping || this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      void this.#pump();
    });
  }

  /** Wakes the runner at `at` (a delayed job's run_at, a retry). */
  wakeAt(at: number): void {
    if (!this.#started || this.#stopping || at >= this.#wakeAt) return;
    if (this.#wakeTimer) clearTimeout(this.#wakeTimer);
    this.#wakeAt = at;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = null;
      this.#wakeAt = Infinity;
      this.schedulePump();
    }, Math.min(MAX_TIMER_MS, Math.max(0, at - this.#now())));
    this.#wakeTimer.unref();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        if (this.#stopping) return;
        const free = this.#opts.maxConcurrent - this.#running.size;
        const types = this.#types.list();
        // One `now` for the claims and the look-up of the next run_at below: with a later `now`
        // there, a job due between the two instants would be neither claimed nor waited for.
        const now = this.#now();
        // Whether to look up the next delayed job's run_at for a wake timer: not when every slot
        // is taken (a completion pumps again), since that lookup would run after every claim.
        let lookForDelayed = free > 0;
        if (free > 0 && types.length > 0) {
          // One claim: every type with room, each owner with an owner-wide limit (an extension's
          // `concurrent_jobs` covers all its types together) as a group capped at its room, so
          // that no owner gets more than its room whichever of its types has jobs waiting.
          const slots: Record<string, number> = {};
          const groups = new Map<string, { limit: number; types: string[] }>();
          for (const t of types) {
            const room = Math.min(free, (t.maxConcurrency ?? Infinity) - this.runningOfType(t.type));
            if (room <= 0) continue;
            if (t.ownerMaxConcurrency !== undefined) {
              const ownerRoom = t.ownerMaxConcurrency - this.runningOfOwner(t.owner);
              if (ownerRoom <= 0) continue;
              let group = groups.get(t.owner);
              if (!group) groups.set(t.owner, (group = { limit: ownerRoom, types: [] }));
              group.types.push(t.type);
            }
            slots[t.type] = room;
          }
          let left = free;
          if (Object.keys(slots).length > 0) {
            const claimed = await this.#store.claim({
              workerId: this.workerId,
              now,
              limit: free,
              slots,
              groups: [...groups.values()],
              leaseMs: this.#opts.leaseMs,
              logStarted: true,
              ...(this.nodeId !== undefined ? { nodeId: this.nodeId } : {}),
              ...(this.#store.shared ? { limits: this.#clusterLimits(types) } : {}),
            });
            if (this.#stopping) {
              // Claimed while stopping: hand the jobs back untouched.
              for (const rec of claimed) {
                await this.#store.finish({ jobId: rec.id, workerId: this.workerId, runId: rec.runId }, { kind: 'interrupted' }, this.#now());
              }
              return;
            }
            for (const rec of claimed) this.#startExecution(rec);
            left -= claimed.length;
          }
          if (left === 0) lookForDelayed = false;
        }
        if (lookForDelayed && !this.#pumpAgain) {
          const next = await this.#store.nextRunAt(
            types.map((t) => t.type),
            now,
          );
          if (next !== null) this.wakeAt(next);
        }
      } while (this.#pumpAgain);
    } catch (err) {
      this.#logger.error({ err }, 'job runner: claiming jobs failed');
      // Try again later rather than spin on a broken store.
      this.wakeAt(this.#now() + 1000);
    } finally {
      this.#pumping = false;
    }
  }

  /** Runs per type whose finish is being written (see #settle). */
  readonly #finishing = new Map<string, number>();

  #finished(type: string): void {
    const n = (this.#finishing.get(type) ?? 1) - 1;
    if (n <= 0) this.#finishing.delete(type);
    else this.#finishing.set(type, n);
  }

  /** Each type's and owner's limit as a whole, for a store that counts jobs running on every node. */
  #clusterLimits(types: readonly RegisteredJobType[]): NonNullable<import('./store/index.js').ClaimRequest['limits']> {
    const limits: NonNullable<import('./store/index.js').ClaimRequest['limits']> = { types: {}, groups: [] };
    const owners = new Map<string, { limit: number; types: string[] }>();
    for (const t of types) {
      if (t.maxConcurrency !== undefined) limits.types[t.type] = t.maxConcurrency;
      if (t.ownerMaxConcurrency !== undefined) {
        let g = owners.get(t.owner);
        if (!g) owners.set(t.owner, (g = { limit: t.ownerMaxConcurrency, types: [] }));
        g.types.push(t.type);
      }
    }
    limits.groups = [...owners.values()];
    if (this.#finishing.size > 0) limits.finishing = Object.fromEntries(this.#finishing);
    return limits;
  }

  #startExecution(rec: ClaimedJob): void {
    const def = this.#types.get(rec.type);
    const lease: Lease = { jobId: rec.id, workerId: this.workerId, runId: rec.runId };
    if (!def) {
      // Unregistered between claim and start: hand it back, it waits for its type.
      void this.#store.finish(lease, { kind: 'interrupted' }, this.#now());
      return;
    }
    const exec: Execution = {
      lease,
      record: rec,
      def,
      controller: null,
      stopReason: null,
      stopListeners: null,
      requested: null,
      lastActivity: this.#now(),
      waiting: false,
      stallTimeoutMs: def.stallTimeoutMs ?? this.#opts.stallTimeoutMs,
      detached: false,
      lastEventAt: 0,
      progressTimer: null,
      latestProgress: {},
      leaseUntil: this.#now() + this.#opts.leaseMs,
    };
    this.#running.set(rec.id, exec);
    this.#countRunning(rec.type, def.owner, 1);
    if (this.#running.size > this.maxRunningSeen) this.maxRunningSeen = this.#running.size;
    const attempt = rec.attempts + 1;
    // Its `started` line was written by the claim, in the claim's own transaction.
    if (this.#events.wants('job:started')) {
      this.#events.emit('job:started', { ...jobEventBase(rec), attempt, run: rec.runs, resumed_from_checkpoint: rec.state !== null });
    }

    const ctx = new RunContext(exec, attempt, this.#contextHost);
    let result: Promise<JobOutcome>;
    try {
      result = Promise.resolve(def.run(ctx));
    } catch (err) {
      result = Promise.reject(err);
    }
    const settling = result.then(
      (outcome) => this.#settle(exec, outcome, null),
      (err: unknown) => this.#settle(exec, null, err),
    );
    this.#settling.set(exec, settling);
    void settling.finally(() => this.#settling.delete(exec));
  }

  async #progress(exec: Execution, report: ProgressReport): Promise<Interrupt> {
    if (exec.detached) return 'cancel';
    exec.lastActivity = this.#now();
    const progress = progressFromReport(report);
    // A warning's log line goes in the checkpoint's transaction: a crash keeps both or neither.
    const warning = report.warning !== undefined ? String(report.warning) : undefined;
    const asked = exec.lastActivity;
    let res: Awaited<ReturnType<JobStore['checkpoint']>>;
    try {
      res = await this.#store.checkpoint(exec.lease, {
        progress,
        state: report.state,
        ...(warning !== undefined ? { warning, log: { level: 'warn', message: warning.slice(0, MAX_LOG_LINE) } } : {}),
        now: asked,
        leaseMs: this.#opts.leaseMs,
      });
    } catch (err) {
      if (asSpacedriveError(err)?.code !== ErrorCode.STORE_UNAVAILABLE || exec.detached) throw err;
      // The shared store is unreachable: not the job's failure (no attempt spent). The run
      // stops; the job goes back to the queue from its last acknowledged checkpoint — at once
      // if the store answers again, else when its lease expires and another node recovers it.
      this.#detach(exec, 'the shared store became unreachable');
      this.#logger.warn({ job_id: exec.record.id }, 'job run stopped: the shared store is unreachable; the job continues from its last checkpoint');
      void this.#store.finish(exec.lease, { kind: 'interrupted' }, this.#now()).then(
        (updated) => {
          if (updated) this.jobTransition(updated, undefined, 'the shared store was unreachable for a moment');
        },
        () => undefined,
      );
      return 'cancel';
    }
    if (exec.detached) return 'cancel';
    if (!res.owned) {
      this.#detach(exec, 'it no longer owns the job');
      return 'cancel';
    }
    exec.lastActivity = this.#now();
    exec.leaseUntil = asked + this.#opts.leaseMs;
    if (res.requested && exec.requested !== 'cancel') this.#request(exec, res.requested);
    Object.assign(exec.latestProgress, progress);
    this.#emitProgress(exec);
    return exec.requested ?? 'continue';
  }

  /** Throttled `job:progress`: at most one per interval per job, the latest always delivered. */
  #emitProgress(exec: Execution): void {
    const interval = this.#opts.progressEventIntervalMs;
    const now = this.#now();
    const send = () => {
      exec.progressTimer = null;
      exec.lastEventAt = this.#now();
      const p = exec.latestProgress;
      this.#events.emit('job:progress', {
        ...jobEventBase({ id: exec.record.id, type: exec.record.type, status: 'running' }),
        fraction: p.fraction ?? null,
        message: p.message ?? null,
        items_done: p.itemsDone ?? null,
        items_total: p.itemsTotal ?? null,
        bytes_done: p.bytesDone ?? null,
        bytes_total: p.bytesTotal ?? null,
      });
    };
    if (now - exec.lastEventAt >= interval) send();
    else if (!exec.progressTimer && !exec.detached) {
      exec.progressTimer = setTimeout(() => {
        if (!exec.detached && this.#running.get(exec.record.id) === exec) send();
        else exec.progressTimer = null;
      }, interval - (now - exec.lastEventAt));
      exec.progressTimer.unref();
    }
  }

  /** Tells a running execution about a pause or cancel request. */
  #request(exec: Execution, request: ControlRequest): void {
    if (exec.requested === 'cancel') return;
    exec.requested = request;
    abortRun(exec, new SpacedriveError(ErrorCode.CANCELLED, request === 'pause' ? 'the job was asked to pause' : 'the job was asked to cancel'));
  }

  /** Called by the job system after the store recorded a pause/cancel of a job running here. */
  notifyRequest(jobId: string, request: ControlRequest): void {
    const exec = this.#running.get(jobId);
    if (exec) this.#request(exec, request);
  }

  #detach(exec: Execution, why: string): void {
    if (exec.detached) return;
    exec.detached = true;
    if (exec.progressTimer) clearTimeout(exec.progressTimer);
    if (this.#running.get(exec.record.id) === exec) {
      this.#running.delete(exec.record.id);
      this.#countRunning(exec.record.type, exec.def.owner, -1);
    }
    abortRun(exec, new SpacedriveError(ErrorCode.CANCELLED, `this run was stopped: ${why}`));
    this.#logger.debug({ job_id: exec.record.id, why }, 'job run detached');
    this.#notifyIdle();
    this.schedulePump();
  }

  /** Retry time for a job that just failed its `attempts`-th attempt, or null when none remain. */
  retryAt(attemptsAfterFailure: number, maxAttempts: number, now: number): number | null {
    if (attemptsAfterFailure >= maxAttempts) return null;
    const exp = Math.min(this.#opts.backoffMaxMs, this.#opts.backoffBaseMs * 2 ** (attemptsAfterFailure - 1));
    // "Equal jitter": half the delay fixed, half random, so retries of many jobs spread out but
    // never come sooner than half the backoff.
    return now + Math.round(exp / 2 + Math.random() * (exp / 2));
  }

  async #settle(exec: Execution, outcome: JobOutcome | null, thrown: unknown): Promise<void> {
    if (exec.detached) {
      if (thrown) this.#logger.debug({ job_id: exec.record.id, err: thrown }, 'a detached job run ended with an error');
      return;
    }
    if (exec.progressTimer) clearTimeout(exec.progressTimer);
    const rec = exec.record;
    const now = this.#now();
    try {
      if (thrown !== null && outcome === null) {
        if (exec.requested || this.#stopping) {
          // Thrown because its signal aborted for a pause/cancel/shutdown: an interruption that
          // keeps the last checkpoint.
          outcome = { status: 'interrupted' };
        } else {
          const e = asSpacedriveError(thrown);
          const message = thrown instanceof Error ? thrown.message : String(thrown);
          // Bad input and missing or forbidden files will not fix themselves: no retry.
          const permanent = e !== undefined && PERMANENT_CODES.has(e.code);
          outcome = { status: 'failed', error: { code: e?.code ?? ErrorCode.OPERATION_FAILED, message }, retryable: !permanent };
          if (!e) this.#logger.warn({ job_id: rec.id, err: thrown }, 'job threw');
        }
      }
      outcome = normaliseOutcome(outcome);
      let requeued: string | undefined;
      if (outcome.status === 'interrupted' && outcome.requeue !== undefined) {
        requeued = `${outcome.requeue}; back in the queue, it continues from its checkpoint`;
      } else if (outcome.status === 'interrupted' && !exec.requested && !this.#stopping) {
        outcome = { status: 'failed', error: { code: ErrorCode.OPERATION_FAILED, message: 'the job returned "interrupted" without being asked to pause or cancel' } };
      }
      let finishOutcome: FinishOutcome;
      switch (outcome.status) {
        case 'completed':
          // Its log line in the same transaction: a completed job always says so in its log.
          finishOutcome = { kind: 'completed', output: outcome.output ?? null, log: COMPLETED_LINE };
          break;
        case 'interrupted':
          finishOutcome = outcome.state !== undefined ? { kind: 'interrupted', state: outcome.state } : { kind: 'interrupted' };
          break;
        case 'failed': {
          const error = { code: outcome.error.code ?? ErrorCode.OPERATION_FAILED, message: outcome.error.message };
          if (isStorageFailure(error)) {
            // Not the job's fault and not over by retrying at once: back off, spend no attempt.
            const delay = this.#storageDelay(rec.id);
            this.#logger.warn({ job_id: rec.id, code: error.code }, `job stopped: ${error.message}; it runs again in ${delay} ms`);
            finishOutcome = { kind: 'failed', error, retryAt: now + delay, resetState: !exec.def.resumable, spendsAttempt: false };
          } else {
            const retryAt = outcome.retryable === false ? null : this.retryAt(rec.attempts + 1, rec.maxAttempts, now);
            finishOutcome = { kind: 'failed', error, retryAt, resetState: !exec.def.resumable };
          }
          break;
        }
      }
      const finishing = this.#store.finish(exec.lease, finishOutcome, now);
      // The run is over: free its slot now, so the next claim joins the same group commit as
      // this finish (queued after it, so the store sees this job leave before others start).
      // A shared store commits them apart: there the claim tells the store which of its runs
      // are finishing, so that they do not count as running against a cluster-wide limit.
      if (this.#store.shared) {
        const type = rec.type;
        this.#finishing.set(type, (this.#finishing.get(type) ?? 0) + 1);
        void finishing.then(
          () => this.#finished(type),
          () => this.#finished(type),
        );
      }
      this.#releaseSlot(exec);
      try {
        this.#afterFinish(exec, await finishing, requeued);
      } catch (err) {
        if (!isStorageFailure(err)) throw err;
        // The disk is full: the job would stay `running` in the store until the next start.
        this.#finishWhenWritable(exec, finishOutcome, this.#storageDelay(rec.id), err);
      }
    } catch (err) {
      this.#logger.error({ err, job_id: rec.id }, 'job runner: recording the end of a job failed');
    } finally {
      this.#releaseSlot(exec);
      exec.detached = true;
    }
  }

  /** The next wait after a storage failure of `jobId`, doubling per failure in a row. */
  #storageDelay(jobId: string): number {
    const inARow = (this.#storageFailures.get(jobId) ?? 0) + 1;
    this.#storageFailures.set(jobId, inARow);
    return Math.min(STORAGE_RETRY_MAX_MS, STORAGE_RETRY_FIRST_MS * 2 ** (inARow - 1));
  }

  /**
   * Records a run's end once the store can write again, trying after `delayMs` and backing off.
   * Until then the job shows `running`; a stop of the daemon gives up, and the next start
   * recovers the job from its last checkpoint as after a crash.
   */
  #finishWhenWritable(exec: Execution, outcome: FinishOutcome, delayMs: number, why: unknown): void {
    if (this.#stopping) return;
    this.#logger.warn({ job_id: exec.record.id, err: why }, `job runner: could not record the end of a job; trying again in ${delayMs} ms`);
    const timer = setTimeout(() => {
      if (this.#stopping) return;
      this.#store.finish(exec.lease, outcome, this.#now()).then(
        (updated) => this.#afterFinish(exec, updated),
        (err: unknown) => {
          if (isStorageFailure(err)) this.#finishWhenWritable(exec, outcome, this.#storageDelay(exec.record.id), err);
          else this.#logger.error({ err, job_id: exec.record.id }, 'job runner: recording the end of a job failed');
        },
      );
    }, delayMs);
    timer.unref();
  }

  #releaseSlot(exec: Execution): void {
    if (this.#running.get(exec.record.id) !== exec) return;
    this.#running.delete(exec.record.id);
    this.#countRunning(exec.record.type, exec.def.owner, -1);
    this.#notifyIdle();
    this.schedulePump();
  }

  #afterFinish(exec: Execution, updated: JobTransition | null, requeued?: string): void {
    if (!updated) {
      this.#logger.debug({ job_id: exec.record.id }, 'job run ended after losing its lease; outcome dropped');
      return;
    }
    this.jobTransition(updated, exec.record.attempts + 1, requeued);
  }

  /**
   * Logs and emits the event for a job that just reached `job.status`. `requeued` says why a run
   * that nobody asked to stop went back to the queue (its extension unloading).
   */
  jobTransition(job: JobTransition, attempt?: number, requeued?: string): void {
    const base = jobEventBase(job);
    // Only a job waiting for space again keeps counting its storage failures in a row.
    if (job.status !== 'waiting_retry' || !isStorageFailure(job.lastError)) this.#storageFailures.delete(job.id);
    switch (job.status) {
      case 'completed':
        // Its log line was written with the completion (COMPLETED_LINE).
        this.completedSinceStart++;
        if (this.#events.wants('job:completed')) this.#events.emit('job:completed', { ...base, output: job.output as unknown as Record<string, unknown> });
        break;
      case 'failed':
        this.failedSinceStart++;
        this.log(job.id, 'error', `failed for good after ${job.attempts} attempt(s): ${job.lastError?.code}: ${job.lastError?.message}`);
        this.#events.emit('job:failed', { ...base, error: job.lastError, attempts: job.attempts });
        break;
      case 'waiting_retry':
        this.log(job.id, 'warn', `attempt ${attempt ?? job.attempts} failed (${job.lastError?.code}: ${job.lastError?.message}); retrying at ${new Date(job.runAt).toISOString()}`);
        this.#events.emit('job:retrying', { ...base, error: job.lastError, attempts: job.attempts, retry_at: new Date(job.runAt).toISOString() });
        this.wakeAt(job.runAt);
        break;
      case 'paused':
        this.log(job.id, 'info', 'paused');
        this.#events.emit('job:paused', base);
        break;
      case 'cancelled':
        this.log(job.id, 'info', 'cancelled');
        this.#events.emit('job:cancelled', base);
        break;
      case 'queued':
        this.log(job.id, 'info', requeued ?? (this.#stopping ? 'stopped with the daemon; it continues from its checkpoint at the next start' : 'back in the queue; it continues from its checkpoint'));
        break;
      default:
        break;
    }
  }

  #checkStalls(): void {
    const now = this.#now();
    for (const exec of [...this.#running.values()]) {
      if (!exec.detached && this.#store.shared && exec.leaseUntil < now) {
        // Not renewed in time (the store was unreachable): another node may run the job now.
        // Nothing is written: the lease fences this run's writes anyway.
        this.#detach(exec, 'its lease lapsed (the shared store could not be reached to renew it); another node takes the job over');
        this.#logger.warn({ job_id: exec.record.id }, 'job run stopped: its lease lapsed while the shared store was unreachable');
        continue;
      }
      if (exec.detached || exec.waiting || now - exec.lastActivity <= exec.stallTimeoutMs) continue;
      const rec = exec.record;
      this.#detach(exec, `it reported nothing for ${exec.stallTimeoutMs} ms`);
      const message = `stalled: reported no progress for ${exec.stallTimeoutMs} ms; stopped, to be retried from its last checkpoint`;
      const retryAt = this.retryAt(rec.attempts + 1, rec.maxAttempts, now);
      void this.#store
        .finish(exec.lease, { kind: 'failed', error: { code: ErrorCode.TIMEOUT, message }, retryAt, resetState: !exec.def.resumable }, now)
        .then((updated) => {
          if (updated) this.jobTransition(updated, rec.attempts + 1);
        })
        .catch((err: unknown) => this.#logger.error({ err, job_id: rec.id }, 'job runner: recording a stall failed'));
    }
  }

  /**
   * Renews the leases of every run here; a run whose job is no longer its own (recovered by
   * another node after its lease lapsed) stops. Rejects when the store cannot be reached (the
   * cluster's heartbeat says so; the runs stop when their leases lapse).
   */
  async heartbeat(): Promise<void> {
    const execs = [...this.#running.values()];
    if (execs.length === 0) return;
    const asked = this.#now();
    let owned: Set<string>;
    try {
      owned = new Set(await this.#store.heartbeat(execs.map((e) => e.lease), asked, this.#opts.leaseMs));
    } catch (err) {
      this.#logger.error({ err }, 'job runner: heartbeat failed');
      if (this.#store.shared) throw err;
      return;
    }
    for (const e of execs) {
      if (owned.has(e.lease.jobId)) e.leaseUntil = Math.max(e.leaseUntil, asked + this.#opts.leaseMs);
      else if (!e.detached) this.#detach(e, 'its lease was lost');
    }
  }

  /** Appends a line to a job's log (written with the next group commit). */
  log(jobId: string, level: LogLevel, message: string): void {
    if (this.#stopped) {
      this.#logger.debug({ job_id: jobId, level, message }, 'job log line after the job system stopped; not stored');
      return;
    }
    this.#logBuffer.push({ jobId, time: this.#now(), level, message: message.slice(0, MAX_LOG_LINE) });
    if (this.#logFlushScheduled) return;
    this.#logFlushScheduled = true;
    setImmediate(() => this.#flushLogs());
  }

  #flushLogs(): void {
    this.#logFlushScheduled = false;
    const entries = this.#logBuffer;
    this.#logBuffer = [];
    if (entries.length === 0) return;
    const write = this.#store.appendLogs(entries).catch((err: unknown) => this.#logger.warn({ err: toWireError(err) }, 'job runner: writing job logs failed'));
    this.#logWrites.add(write);
    void write.finally(() => this.#logWrites.delete(write));
  }

  #notifyIdle(): void {
    if (this.#running.size > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Stops claiming, asks every running job to stop (signal aborted), and waits up to `graceMs`
   * for them to return their state; they become queued again with it. A run that has not
   * returned by then is given up: its job goes back to the queue from its last checkpoint, and
   * whatever the run does later is ignored. Every job's line saying so is written, and every
   * write has committed, when this resolves: the store may then be closed.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const t of [this.#wakeTimer, this.#stallTimer, this.#heartbeatTimer, this.#pollTimer]) if (t) clearTimeout(t);
    for (const exec of this.#running.values()) {
      abortRun(exec, new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the daemon is stopping'));
    }
    if (this.#running.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const givenUp: Promise<unknown>[] = [];
    for (const exec of [...this.#running.values()]) {
      this.#detach(exec, 'the daemon stopped before it returned');
      // Its end, whenever it comes, is ignored: not waited for.
      this.#settling.delete(exec);
      const now = this.#now();
      givenUp.push(
        this.#store
          .finish(exec.lease, { kind: 'interrupted' }, now)
          .then((updated) => {
            if (updated?.status === 'queued') {
              this.log(exec.record.id, 'warn', `the daemon stopped and this run did not return within ${graceMs} ms; it continues from its last checkpoint at the next start`);
            } else if (updated) {
              // A pause or cancel asked of it takes effect now.
              this.jobTransition(updated);
            }
          })
          .catch((err: unknown) => this.#logger.error({ err: toWireError(err), job_id: exec.record.id }, 'job runner: recording a run given up at shutdown failed')),
      );
    }
    await Promise.all(givenUp);
    // Runs that returned are being recorded (finish, then their log line): let them end.
    while (this.#pumping || this.#settling.size > 0) {
      if (this.#settling.size > 0) await Promise.all([...this.#settling.values()]);
      else await new Promise((r) => setImmediate(r));
    }
    this.#flushLogs();
    await Promise.all([...this.#logWrites]);
    this.#stopped = true;
  }
}

interface ContextHost {
  now(): number;
  progress(exec: Execution, report: ProgressReport): Promise<Interrupt>;
  log(jobId: string, level: LogLevel, message: string): void;
}

/** A run's view of its job (JobRunContext); a class, so that a run costs one object. */
class RunContext implements JobRunContext {
  readonly jobId: string;
  readonly jobType: string;
  readonly params: unknown;
  readonly state: unknown;
  readonly attempt: number;
  readonly libraryId: string | null;
  readonly #exec: Execution;
  readonly #host: ContextHost;

  constructor(exec: Execution, attempt: number, host: ContextHost) {
    this.jobId = exec.record.id;
    this.jobType = exec.record.type;
    this.params = exec.record.params;
    this.state = exec.record.state;
    this.attempt = attempt;
    this.libraryId = exec.record.libraryId ?? null;
    this.#exec = exec;
    this.#host = host;
  }

  get signal(): AbortSignal {
    const exec = this.#exec;
    if (exec.controller === null) {
      exec.controller = new AbortController();
      if (exec.stopReason !== null) exec.controller.abort(exec.stopReason);
    }
    return exec.controller.signal;
  }

  get stopping(): boolean {
    return this.#exec.stopReason !== null;
  }

  onStop(listener: (reason: unknown) => void): () => void {
    const exec = this.#exec;
    if (exec.stopReason !== null) {
      listener(exec.stopReason);
      return () => undefined;
    }
    (exec.stopListeners ??= []).push(listener);
    return () => {
      const i = exec.stopListeners?.indexOf(listener) ?? -1;
      if (i >= 0) exec.stopListeners!.splice(i, 1);
    };
  }

  progress(report: ProgressReport): Promise<Interrupt> {
    return this.#host.progress(this.#exec, report);
  }

  interrupt(): Interrupt {
    return this.#exec.detached ? 'cancel' : (this.#exec.requested ?? 'continue');
  }

  waiting(isWaiting: boolean): void {
    const exec = this.#exec;
    if (exec.waiting === isWaiting) return;
    exec.waiting = isWaiting;
    // Its stall period starts when its work does.
    if (!isWaiting) exec.lastActivity = this.#host.now();
  }

  log(level: LogLevel, message: string): void {
    if (!this.#exec.detached) this.#host.log(this.jobId, level, String(message));
  }
}

/** Asks a run to stop: its signal (if made) aborts and its onStop listeners are called, once. */
function abortRun(exec: Execution, reason: SpacedriveError): void {
  if (exec.stopReason !== null) return;
  exec.stopReason = reason;
  exec.controller?.abort(reason);
  const listeners = exec.stopListeners;
  exec.stopListeners = null;
  for (const l of listeners ?? []) l(reason);
}


function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Turns a job's report into stored progress fields, ignoring values of the wrong type. */
function progressFromReport(report: ProgressReport): Partial<JobProgress> {
  const p: Partial<JobProgress> = {};
  const fraction = num(report.fraction);
  if (fraction !== undefined) p.fraction = Math.min(1, Math.max(0, fraction));
  if (typeof report.message === 'string') p.message = report.message.slice(0, 1000);
  const fields = [
    ['itemsDone', report.itemsDone],
    ['itemsTotal', report.itemsTotal],
    ['bytesDone', report.bytesDone],
    ['bytesTotal', report.bytesTotal],
  ] as const;
  for (const [k, v] of fields) {
    const n = num(v);
    if (n !== undefined) p[k] = n;
  }
  return p;
}

/** Guards against a job returning something that is not a {@link JobOutcome}. */
function normaliseOutcome(outcome: unknown): JobOutcome {
  const o = outcome as Partial<JobOutcome> | null | undefined;
  if (o && o.status === 'completed') return o as JobOutcome;
  if (o && o.status === 'interrupted') return o as JobOutcome;
  if (o && o.status === 'failed') {
    const err = (o as { error?: { code?: unknown; message?: unknown } }).error;
    return {
      status: 'failed',
      error: { code: typeof err?.code === 'string' ? err.code : ErrorCode.OPERATION_FAILED, message: typeof err?.message === 'string' ? err.message : 'the job failed' },
      ...((o as { retryable?: boolean }).retryable === false ? { retryable: false } : {}),
    };
  }
  return { status: 'failed', error: { code: ErrorCode.OPERATION_FAILED, message: `the job returned an invalid outcome: ${JSON.stringify(outcome)?.slice(0, 200)}` } };
}
