/**
 * What a job record becomes on a store's state changes, the same for every store: each store
 * reads the row under its own lock or lease fence, applies one of these to the record, and
 * writes it back. Pure functions of the record, so SQLite and PostgreSQL cannot drift apart.
 */
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { ControlRequest, FinishOutcome, JobProgress, JobRecord, JobStatus } from './types.js';

export const EMPTY_PROGRESS: JobProgress = Object.freeze({ fraction: null, message: null, itemsDone: null, itemsTotal: null, bytesDone: null, bytesTotal: null });
export const EMPTY_PROGRESS_JSON = JSON.stringify(EMPTY_PROGRESS);
/** Errors a job keeps (its attempts' errors, newest last). */
export const MAX_ERRORS = 100;

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
