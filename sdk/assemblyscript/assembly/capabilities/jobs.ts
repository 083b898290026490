/**
 * `jobs()`: dispatch (from the SDK's `Jobs`), status and cancel (`query:jobs.get_status.v1`,
 * `action:jobs.cancel.input.v1`). The extension's own job types need no permission; others'
 * need `permissions.dispatch` (to dispatch) or `permissions.manage_jobs` (to read or cancel).
 */
import { CallResult } from "../call";
import { Jobs } from "../jobs";
import { rawFields } from "../raw-json";
import { ObjectBuilder, callFields, intOr, numOr, strOrNull } from "./common";

const M_STATUS = "query:jobs.get_status.v1";
const M_CANCEL = "action:jobs.cancel.input.v1";

/** A job's status. */
export class JobStatus {
  jobId: string = "";
  jobType: string = "";
  /** queued, running, paused, waiting_retry, completed, failed, cancelled */
  status: string = "";
  /** 0..1; -1 when not reported. */
  fraction: f64 = -1;
  message: string | null = null;
  attempts: i32 = 0;
  /** The output (raw JSON) of a completed job. */
  outputJson: string = "null";
  /** The last checkpoint (raw JSON). */
  stateJson: string = "null";
  /** The last error's message, if any. */
  error: string | null = null;

  /** True for completed, failed and cancelled. */
  get finished(): bool {
    return this.status == "completed" || this.status == "failed" || this.status == "cancelled";
  }
}

/** Jobs: dispatch, status, cancel. */
export class JobsCapability extends Jobs {
  /** A job's status; `JOB_NOT_FOUND` for an unknown id. */
  getStatus(jobId: string): CallResult<JobStatus> {
    const r = callFields(M_STATUS, new ObjectBuilder().str("job_id", jobId).toString());
    if (!r.ok) return r.mapError<JobStatus>();
    const f = r.value;
    const s = new JobStatus();
    s.jobId = f.string("job_id", jobId);
    s.jobType = f.string("job_type");
    s.status = f.string("status");
    s.attempts = <i32>intOr(f, "attempts", 0);
    s.outputJson = f.getOr("output", "null");
    s.stateJson = f.getOr("state", "null");
    const progress = f.get("progress");
    if (progress !== null) {
      const p = rawFields(progress);
      if (p !== null) {
        s.fraction = numOr(p, "fraction", -1);
        s.message = strOrNull(p, "message");
      }
    }
    const err = f.get("error");
    if (err !== null && err != "null") {
      const e = rawFields(err);
      if (e !== null) s.error = strOrNull(e, "message");
    }
    return CallResult.success<JobStatus>(s);
  }

  /** Cancels a job (a running one stops when it next checks in). */
  cancel(jobId: string): CallResult<bool> {
    const r = callFields(M_CANCEL, new ObjectBuilder().str("job_id", jobId).toString());
    if (!r.ok) return r.mapError<bool>();
    return CallResult.success<bool>(true);
  }
}

const client = new JobsCapability();

/** Jobs: dispatch, status, cancel. */
export function jobs(): JobsCapability {
  return client;
}
