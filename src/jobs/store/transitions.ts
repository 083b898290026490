/**
 * What a job record becomes on a store's state changes, the same for every store: each store
 * reads the row under its own lock or lease fence, applies one of these to the record, and
 * writes it back. Pure functions of the record, so SQLite and PostgreSQL cannot drift apart.
 */
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { ClaimRequest, ControlRequest, FinishOutcome, JobProgress, JobRecord, JobStatus } from './types.js';

export const EMPTY_PROGRESS: JobProgress = Object.freeze({ fraction: null, message: null, itemsDone: null, itemsTotal: null, bytesDone: null, bytesTotal: null });
export const EMPTY_PROGRESS_JSON = JSON.stringify(EMPTY_PROGRESS);
/** Errors a job keeps (its attempts' errors, newest last). */
export const MAX_ERRORS = 100;

/** The log line for a run's start (written by a claim asked for {@link ClaimRequest.logStarted}). */
export function startedLine(rec: Pick<JobRecord, 'attempts' | 'maxAttempts' | 'runs' | 'state'>): string {
  return `started: attempt ${rec.attempts + 1} of ${rec.maxAttempts}, run ${rec.runs}${rec.state !== null && rec.runs > 1 ? ', from its last checkpoint' : ''}`;
}

export function notFound(jobId: string): SpacedriveError {
  return new SpacedriveError(ErrorCode.JOB_NOT_FOUND, `no job with id '${jobId}'`, { job_id: jobId });
}

export function invalidState(jobId: string, status: JobStatus, action: string, hint = ''): SpacedriveError {
  return new SpacedriveError(ErrorCode.INVALID_JOB_STATE, `cannot ${action} job '${jobId}': it is ${status}${hint ? `; ${hint}` : ''}`, { job_id: jobId, status });
}

/**
 * A run that ended other than completed: an interruption (paused, cancelled or queued again per
 * the request it was stopped for) or a failed attempt (waiting for its retry, or failed for good).
 * The caller has checked that the run still holds the job.
 */
export function applyUnsuccessfulFinish(rec: JobRecord, outcome: Exclude<FinishOutcome, { kind: 'completed' }>, now: number): void {
  const requested = rec.requested;
  rec.requested = null;
  rec.workerId = null;
  rec.leaseUntil = null;
  rec.updatedAt = now;
  if (outcome.kind === 'interrupted') {
    if (outcome.state !== undefined) {
      rec.state = outcome.state;
      rec.checkpointAt = now;
    }
    rec.status = requested === 'cancel' ? 'cancelled' : requested === 'pause' ? 'paused' : 'queued';
    if (rec.status === 'cancelled') rec.finishedAt = now;
    return;
  }
  if (outcome.spendsAttempt !== false) rec.attempts += 1;
  rec.lastError = outcome.error;
  rec.errors = [...rec.errors, { attempt: outcome.spendsAttempt !== false ? rec.attempts : rec.attempts + 1, code: outcome.error.code, message: outcome.error.message, time: now }].slice(-MAX_ERRORS);
  if (outcome.resetState) {
    rec.state = null;
    rec.progress = { ...EMPTY_PROGRESS };
  }
  if (requested === 'cancel') {
    rec.status = 'cancelled';
    rec.finishedAt = now;
  } else if (outcome.retryAt !== null) {
    rec.status = requested === 'pause' ? 'paused' : 'waiting_retry';
    rec.runAt = outcome.retryAt;
  } else {
    rec.status = 'failed';
    rec.finishedAt = now;
  }
}

/**
 * A pause or cancel asked of a job. `immediate`: it took effect now (a job that was not running);
 * otherwise it is recorded for the running job, which stops at its next checkpoint. Throws
 * INVALID_JOB_STATE where it cannot apply.
 */
export function applyControlRequest(rec: JobRecord, request: ControlRequest, now: number): { immediate: boolean } {
  const verb = request === 'pause' ? 'pause' : 'cancel';
  switch (rec.status) {
    case 'queued':
    case 'waiting_retry':
      rec.status = request === 'pause' ? 'paused' : 'cancelled';
      break;
    case 'paused':
      if (request === 'pause') throw invalidState(rec.id, rec.status, verb, 'it is already paused');
      rec.status = 'cancelled';
      break;
    case 'running':
      // A cancel overrides a pending pause; a pause never downgrades a pending cancel.
      if (rec.requested !== 'cancel') rec.requested = request;
      rec.updatedAt = now;
      return { immediate: false };
    default:
      throw invalidState(rec.id, rec.status, verb, rec.status === 'completed' ? 'it already finished' : 'retry it first');
  }
  rec.updatedAt = now;
  if (rec.status === 'cancelled') rec.finishedAt = now;
  return { immediate: true };
}

/** Resume: a paused job is queued again; a running one asked to pause has the request withdrawn. */
export function applyResume(rec: JobRecord, now: number): void {
  if (rec.status === 'running' && rec.requested === 'pause') {
    // Asked to pause but not yet stopped: withdraw the request.
    rec.requested = null;
  } else if (rec.status === 'paused') {
    rec.status = 'queued';
  } else {
    throw invalidState(rec.id, rec.status, 'resume', 'only a paused job can be resumed');
  }
  rec.updatedAt = now;
}

/** Throws INVALID_JOB_STATE unless the job can be retried (failed or cancelled). */
export function checkRetryable(rec: JobRecord): void {
  if (rec.status !== 'failed' && rec.status !== 'cancelled') throw invalidState(rec.id, rec.status, 'retry', 'only a failed or cancelled job can be retried');
}

/** A retry refused because another live job holds the same dedupe key. */
export function dedupeTaken(jobId: string, key: string, otherId: string, otherStatus: string): SpacedriveError {
  return new SpacedriveError(ErrorCode.INVALID_JOB_STATE, `cannot retry job '${jobId}': job '${otherId}' with the same dedupe key '${key}' is ${otherStatus}`, {
    job_id: jobId,
    other_job_id: otherId,
  });
}

/** Retry (checked by {@link checkRetryable} and the dedupe key): queued now with its attempts reset; from scratch, without its checkpoint. */
export function applyRetry(rec: JobRecord, opts: { fromScratch: boolean; now: number }): void {
  rec.status = 'queued';
  rec.attempts = 0;
  rec.lastError = null;
  rec.finishedAt = null;
  rec.output = null;
  rec.runAt = opts.now;
  rec.updatedAt = opts.now;
  if (opts.fromScratch) {
    rec.state = null;
    rec.progress = { ...EMPTY_PROGRESS };
    rec.checkpointAt = null;
  }
}

/**
 * A running job whose run is over (its daemon stopped, its lease expired) goes back to the queue
 * from its checkpoint — or becomes paused/cancelled if that was asked of it; a type that cannot
 * resume (`fromScratch`) starts over.
 */
export function applyRecovery(rec: JobRecord, now: number, fromScratch: boolean): void {
  rec.status = rec.requested === 'cancel' ? 'cancelled' : rec.requested === 'pause' ? 'paused' : 'queued';
  if (rec.status === 'cancelled') rec.finishedAt = now;
  rec.requested = null;
  rec.workerId = null;
  rec.leaseUntil = null;
  rec.updatedAt = now;
  if (fromScratch) {
    rec.state = null;
    rec.progress = { ...EMPTY_PROGRESS };
  }
}
