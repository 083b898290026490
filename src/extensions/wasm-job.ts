/**
 * The generic WASM job wrapper (the design's `WasmJob`): one {@link JobTypeDefinition} per job
 * type an extension registered, whose `run` calls the registered export with the job's params and
 * last checkpointed state, routes the guest's `sd_job_progress` / `sd_job_interrupt` to the
 * job's context, and maps the guest's answer to a {@link JobOutcome}. See docs/extension-abi.md,
 * "Jobs".
 */
import { ErrorCode, SpacedriveError, toWireError } from '../errors/index.js';
import type { Interrupt, JobOutcome, JobRunContext, JobTypeDefinition, ProgressReport } from '../jobs/types.js';
import type { JsonSchema } from '../schema/index.js';
import { CallCanceller, type ImmediateAnswer, type SandboxCallOptions } from './sandbox/types.js';

/** One job inside a handler call: its context, what stops its call, and why the run failed if the host failed it. */
interface RunningJob {
  readonly ctx: JobRunContext;
  readonly canceller: CallCanceller;
  /** Largest `state` (JSON bytes) its reports may carry. */
  readonly maxStateBytes: number;
  /** Set when the host stopped the call to fail the attempt (a checkpoint over its limit). */
  failure: SpacedriveError | null;
}

/** The jobs of one extension currently inside a handler call, by job id (for the host bridge). */
export class RunningJobs {
  readonly #byId = new Map<string, RunningJob>();
  /** Set while the extension unloads: its running jobs are stopped and go back to the queue. */
  #unloading: string | null = null;

  /**
   * The extension is being `reason` (uninstalled, disabled, reloaded, unloaded): every job
   * handler it runs is stopped at once (its worker terminated) and the job goes back to the
   * queue, to continue from its last checkpoint when its type is registered again. Waiting for
   * the guest to return would let a handler that never checks in hold the unload for as long as
   * its time limit.
   */
  startUnloading(reason: string): void {
    this.#unloading = reason;
    for (const job of this.#byId.values()) job.canceller.cancel();
  }

  /** Why the extension's jobs are being stopped, or null. */
  get unloading(): string | null {
    return this.#unloading;
  }

  add(job: RunningJob): void {
    this.#byId.set(job.ctx.jobId, job);
  }

  /** Forgets `job` (not a later run of the same job that took its place). */
  delete(job: RunningJob): void {
    if (this.#byId.get(job.ctx.jobId) === job) this.#byId.delete(job.ctx.jobId);
  }

  get size(): number {
    return this.#byId.size;
  }

  /**
   * `sd_job_progress`: writes the report through the job's context (durable when it resolves)
   * and answers 0 continue, 1 pause, 2 cancel, -1 when `jobId` is not a running job. A report
   * whose state is over the limit is not written: the attempt fails with JOB_STATE_TOO_LARGE
   * and its call is stopped.
   */
  async progress(jobId: string, report: Record<string, unknown>): Promise<number> {
    const job = this.#byId.get(jobId);
    if (!job) return -1;
    const progress = toProgressReport(report);
    if (progress.state !== undefined) {
      const tooLarge = stateTooLarge(job.ctx.jobType, progress.state, job.maxStateBytes);
      if (tooLarge) {
        job.failure = tooLarge;
        job.canceller.cancel();
        throw tooLarge;
      }
    }
    return answer(job.ctx, await job.ctx.progress(progress), this.#unloading !== null);
  }

  /** A line the job's handler logged, for the job's log; dropped when `jobId` is not running. */
  log(jobId: string, level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.#byId.get(jobId)?.ctx.log(level, message);
  }

  /** `sd_job_interrupt`: 0 continue, 1 pause, 2 cancel, -1 not a running job. */
  interrupt(jobId: string): number {
    const job = this.#byId.get(jobId);
    if (!job) return -1;
    return answer(job.ctx, job.ctx.interrupt(), this.#unloading !== null);
  }
}

/** JOB_STATE_TOO_LARGE when `state` as JSON is over `max` bytes, else null. */
function stateTooLarge(jobType: string, state: unknown, max: number): SpacedriveError | null {
  // A cheap bound first: a string of n UTF-16 units is at most 3n UTF-8 bytes.
  const json = JSON.stringify(state) ?? 'null';
  if (json.length * 3 <= max) return null;
  const bytes = Buffer.byteLength(json);
  if (bytes <= max) return null;
  return new SpacedriveError(
    ErrorCode.JOB_STATE_TOO_LARGE,
    `job '${jobType}' reported a checkpoint of ${bytes} bytes, over its limit of ${max} bytes (limits.max_state_bytes); it was not written`,
    { job_type: jobType, bytes, limit: max },
  );
}

/**
 * What the guest is told. The job's signal also aborts for reasons that are not a pause or
 * cancel request (a stall, the daemon stopping), and the extension may be unloading: the guest
 * is then asked to pause, so it returns its state while it can instead of being stopped mid-step.
 */
function answer(ctx: JobRunContext, i: Interrupt, unloading: boolean): number {
  if (i === 'continue' && (ctx.stopping || unloading)) return 1;
  return interruptCode(i);
}

function interruptCode(i: Interrupt): number {
  return i === 'continue' ? 0 : i === 'pause' ? 1 : 2;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The ABI's snake_case report, keeping only well-typed fields (a guest's typo must not corrupt a job record). */
export function toProgressReport(raw: Record<string, unknown>): ProgressReport {
  const out: ProgressReport = {};
  const fraction = num(raw.fraction);
  if (fraction !== undefined) out.fraction = Math.min(1, Math.max(0, fraction));
  if (typeof raw.message === 'string') out.message = raw.message;
  if ('state' in raw) out.state = raw.state;
  const itemsDone = num(raw.items_done);
  if (itemsDone !== undefined) out.itemsDone = itemsDone;
  const itemsTotal = num(raw.items_total);
  if (itemsTotal !== undefined) out.itemsTotal = itemsTotal;
  const bytesDone = num(raw.bytes_done);
  if (bytesDone !== undefined) out.bytesDone = bytesDone;
  const bytesTotal = num(raw.bytes_total);
  if (bytesTotal !== undefined) out.bytesTotal = bytesTotal;
  if (typeof raw.warning === 'string') out.warning = raw.warning;
  return out;
}

/** Turns what the guest's job handler returned into a JobOutcome. */
export function toJobOutcome(extensionId: string, jobType: string, result: unknown): JobOutcome {
  const r = (typeof result === 'object' && result !== null ? result : {}) as Record<string, unknown>;
  switch (r.status) {
    case 'completed':
      return 'output' in r ? { status: 'completed', output: r.output } : { status: 'completed' };
    case 'interrupted':
      return 'state' in r ? { status: 'interrupted', state: r.state } : { status: 'interrupted' };
    case 'failed': {
      const e = (typeof r.error === 'object' && r.error !== null ? r.error : {}) as Record<string, unknown>;
      const message = typeof e.message === 'string' ? e.message : typeof r.error === 'string' ? r.error : 'the job handler reported a failure without a message';
      const error: { code?: string; message: string } = { message };
      if (typeof e.code === 'string') error.code = e.code;
      return { status: 'failed', error, retryable: typeof r.retryable === 'boolean' ? r.retryable : true };
    }
    default:
      return {
        status: 'failed',
        error: {
          code: ErrorCode.EXTENSION_BAD_RESULT,
          message: `extension '${extensionId}' job '${jobType}' returned ${JSON.stringify(result)?.slice(0, 200)}; expected {"status":"completed"|"interrupted"|"failed", …}`,
        },
        // A malformed answer is a bug in the extension: running it again gives the same answer.
        retryable: false,
      };
  }
}

export interface WasmJobOptions {
  extensionId: string;
  jobType: string;
  exportFn: string;
  resumable: boolean;
  description: string;
  paramsSchema: JsonSchema;
  maxConcurrency: number;
  /** Calls the job handler export on the extension's sandbox (tracked by the manager). */
  call: (exportFn: string, input: unknown, opts: SandboxCallOptions) => Promise<unknown>;
  /** The same, answered at once when the main thread's instance can (ExtensionSandbox.callNow); undefined otherwise. */
  callNow?: (exportFn: string, input: unknown, opts: SandboxCallOptions) => ImmediateAnswer | undefined;
  running: RunningJobs;
  /** Longest the handler may run without reporting progress (the sandbox's clock, restarted by each report). */
  progressTimeoutMs: number;
  /** Largest checkpoint, as JSON bytes. */
  maxStateBytes: number;
  /** After a pause request or shutdown, how long the guest may take to return its state. */
  interruptGraceMs: number;
}

/** How much later than the sandbox's no-progress limit the job system's stall clock fires. */
const STALL_MARGIN_MS = 5_000;

/** A job handler is called by the job system, not by another extension. */
const EMPTY_CHAIN: readonly string[] = Object.freeze([]);

/** Builds the job-type definition the job system runs for an extension's job type. */
export function wasmJobDefinition(o: WasmJobOptions): JobTypeDefinition {
  return {
    type: o.jobType,
    version: 1,
    resumable: o.resumable,
    description: o.description,
    paramsSchema: o.paramsSchema,
    maxConcurrency: o.maxConcurrency,
    // The manifest's concurrent_jobs bounds the extension's jobs of all its types together.
    ownerMaxConcurrency: o.maxConcurrency,
    // The sandbox's no-progress clock stops the handler (EXTENSION_TIMEOUT, naming the cause);
    // the job system's stall clock is only a backstop behind it.
    stallTimeoutMs: o.progressTimeoutMs + STALL_MARGIN_MS,
    run: (ctx) => runWasmJob(o, ctx),
  };
}

async function runWasmJob(o: WasmJobOptions, ctx: JobRunContext): Promise<JobOutcome> {
  if (o.running.unloading !== null) return requeued(o, o.running.unloading);
  const input = { job_id: ctx.jobId, job_type: ctx.jobType, params: ctx.params ?? null, state: ctx.state ?? null, attempt: ctx.attempt };
  const canceller = new CallCanceller();
  const job: RunningJob = { ctx, canceller, maxStateBytes: o.maxStateBytes, failure: null };
  o.running.add(job);
  // A short handler is answered at once by the main thread's instance: no interrupt can arrive
  // while it runs, so none of the machinery below is needed for it.
  let now: ImmediateAnswer | undefined;
  try {
    now = o.callNow?.(o.exportFn, input, { chain: EMPTY_CHAIN, jobId: ctx.jobId, context: { libraryId: ctx.libraryId ?? null, method: null }, timeoutMs: o.progressTimeoutMs });
  } catch (err) {
    o.running.delete(job);
    return failedAttempt(err);
  }
  if (now !== undefined) {
    o.running.delete(job);
    return now.ok ? outcomeOf(o, ctx, now.value) : failedAttempt(now.error);
  }

  // A cancel stops the call at once: the job ends with its last acknowledged checkpoint, and a
  // handler that never checks in cannot keep running. A pause (or the daemon stopping) is told
  // to the guest through sd_job_progress / sd_job_interrupt, so that it returns its state; only
  // if it does not within the grace period is the call stopped.
  let graceTimer: NodeJS.Timeout | undefined;
  const offStop = ctx.onStop(() => {
    if (ctx.interrupt() === 'cancel') {
      canceller.cancel();
      return;
    }
    graceTimer = setTimeout(() => canceller.cancel(), o.interruptGraceMs);
    graceTimer.unref?.();
  });

  // Until an instance of the sandbox takes the call (the others may be busy with long jobs), the
  // job waits: its stall clock stands still.
  ctx.waiting(true);
  try {
    const result = await o.call(o.exportFn, input, { chain: EMPTY_CHAIN, jobId: ctx.jobId, context: { libraryId: ctx.libraryId ?? null, method: null }, timeoutMs: o.progressTimeoutMs, canceller, onStart: () => ctx.waiting(false) });
    return outcomeOf(o, ctx, result);
  } catch (err) {
    if (job.failure) return { status: 'failed', error: { code: job.failure.code, message: job.failure.message }, retryable: true };
    if (canceller.cancelled) {
      if (o.running.unloading !== null && !ctx.stopping) return requeued(o, o.running.unloading);
      if (ctx.interrupt() !== 'cancel') {
        // Stopped after ignoring a pause: the last acknowledged checkpoint stands.
        ctx.log('warn', `extension '${o.extensionId}' job handler did not return within ${o.interruptGraceMs} ms of an interrupt request; it was stopped`);
      }
      return { status: 'interrupted' };
    }
    return failedAttempt(err);
  } finally {
    o.running.delete(job);
    offStop();
    if (graceTimer) clearTimeout(graceTimer);
  }
}

/** Back to the queue without using an attempt: its extension is going away (see JobOutcome's `requeue`). */
function requeued(o: WasmJobOptions, unloading: string, state?: unknown): JobOutcome {
  return {
    status: 'interrupted',
    ...(state !== undefined ? { state } : {}),
    requeue: `extension '${o.extensionId}' was ${unloading} while the job ran`,
  };
}

/** The job's outcome from what its handler returned. */
function outcomeOf(o: WasmJobOptions, ctx: JobRunContext, result: unknown): JobOutcome {
  const outcome = toJobOutcome(o.extensionId, o.jobType, result);
  if (outcome.status === 'interrupted' && outcome.state !== undefined) {
    // The returned state becomes the checkpoint: it is held to the same limit as a report's.
    const tooLarge = stateTooLarge(o.jobType, outcome.state, o.maxStateBytes);
    if (tooLarge) return { status: 'failed', error: { code: tooLarge.code, message: tooLarge.message }, retryable: true };
  }
  const unloading = o.running.unloading;
  if (outcome.status === 'interrupted' && unloading !== null && !ctx.stopping) {
    // Nobody asked this job to pause: its extension is going away. Back to the queue, without
    // using an attempt, from the checkpoint it just returned; it waits there for its type.
    return requeued(o, unloading, outcome.state);
  }
  return outcome;
}

/** A trap, timeout or OOM fails this attempt; the job system retries from the last checkpoint. */
function failedAttempt(err: unknown): JobOutcome {
  const wire = toWireError(err instanceof SpacedriveError || (err as { code?: unknown })?.code ? err : new SpacedriveError(ErrorCode.OPERATION_FAILED, String((err as Error)?.message ?? err)));
  return { status: 'failed', error: { code: wire.code, message: wire.message }, retryable: true };
}
