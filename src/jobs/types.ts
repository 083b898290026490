/**
 * The job system's contract for whoever defines job types: core (statically) and extensions
 * (at run time, through the generic WASM job wrapper).
 */
import type { PathAccess } from '../files/access.js';
import type { JsonSchema } from '../schema/index.js';

export type JobStatus = 'queued' | 'running' | 'paused' | 'waiting_retry' | 'completed' | 'failed' | 'cancelled';

/** What a running job learns from a progress report or an interrupt check. */
export type Interrupt = 'continue' | 'pause' | 'cancel';

export interface ProgressReport {
  /** 0..1 */
  fraction?: number;
  message?: string;
  /** The job's new checkpoint; written durably with the progress, in one transaction. */
  state?: unknown;
  itemsDone?: number;
  itemsTotal?: number;
  bytesDone?: number;
  bytesTotal?: number;
  /** A warning to add to the job's record. */
  warning?: string;
}

/** What a job's run gets. Call its methods on it (`ctx.progress(…)`), not detached from it. */
export interface JobRunContext {
  readonly jobId: string;
  readonly jobType: string;
  readonly params: unknown;
  /** Last checkpointed state, `null` on a first run. */
  readonly state: unknown;
  readonly attempt: number;
  /** The library the job was dispatched with (null: none), the same on every run and resume. */
  readonly libraryId?: string | null;
  /** Aborted when the job is asked to pause or cancel, stalls, or the daemon stops. */
  readonly signal: AbortSignal;
  /** Whether the run was asked to stop, as `signal.aborted` says, without making the signal. */
  readonly stopping: boolean;
  /**
   * Calls `listener` once, with the reason, when the run is asked to stop (when `signal` aborts;
   * at once if it already was); returns a function that removes it. Without making the signal:
   * for code on every run's path (the WASM job wrapper), where an AbortController per run costs.
   */
  onStop(listener: (reason: unknown) => void): () => void;
  /** Durable before it resolves; tells the job whether to continue. */
  progress(report: ProgressReport): Promise<Interrupt>;
  interrupt(): Interrupt;
  /**
   * Says that the run waits for capacity outside the job system before its work starts (the
   * WASM job wrapper: a free instance of the extension's sandbox), or that it started (false).
   * While it waits the stall clock stands still: a job queued behind long jobs of its extension
   * has not stalled. Its stall period starts when it starts.
   */
  waiting(isWaiting: boolean): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
}

export type JobOutcome =
  | { status: 'completed'; output?: unknown }
  /** Returned after a pause or cancel request; `state` (if given) becomes the checkpoint. */
  | {
      status: 'interrupted';
      state?: unknown;
      /**
       * Set when the job stopped without a pause or cancel request, for a reason outside its
       * control (its extension is unloading): it goes back to the queue without using an attempt
       * and resumes from its checkpoint when it can run again. Says why, for the job's log.
       */
      requeue?: string;
    }
  | { status: 'failed'; error: { code?: string; message: string }; retryable?: boolean };

export interface JobTypeDefinition {
  /** `files.copy` for core, `<ext-id>:<name>` for extensions. */
  type: string;
  version: number;
  resumable: boolean;
  description: string;
  paramsSchema: JsonSchema;
  /** Schema of the checkpoint state (documentation for clients; extension jobs are held to it). */
  stateSchema?: JsonSchema;
  /** Schema of the output of a completed job (as above). */
  outputSchema?: JsonSchema;
  /** Jobs of this type running at once (bounded by the global limit). */
  maxConcurrency?: number;
  /**
   * Jobs of all the types of this type's owner running at once (an extension's
   * `limits.concurrent_jobs`); types of one owner should give the same value.
   */
  ownerMaxConcurrency?: number;
  maxAttempts?: number;
  /** A running job that reports nothing for this long is stopped and retried from its checkpoint. */
  stallTimeoutMs?: number;
  /**
   * The paths on this machine a job with these (validated) params will read or write. When
   * given, the job system checks them with the identity of whoever dispatched the job, at
   * dispatch and again before every run (a symlink may have changed in between, and a job
   * resumed after a restart is checked too); see `JobSystemOptions.checkPaths`.
   */
  touches?(params: unknown): PathAccess[] | Promise<PathAccess[]>;
  /**
   * Whether a job with these (validated) params names paths local to the node it is dispatched
   * on (in a cluster it then runs only there: node affinity). Default: whether `touches` names
   * any path.
   */
  localPaths?(params: unknown): boolean;
  run(ctx: JobRunContext): Promise<JobOutcome>;
}
