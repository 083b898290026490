/**
 * Jobs: dispatching them (`ctx.jobs().dispatch`) and running them (`JobContext` inside a job
 * handler export). See docs/extension-abi.md, "Jobs".
 */
import { JSON } from "json-as";
import { sd_job_interrupt, sd_job_progress } from "./host";
import { handOver, readUtf8 } from "./abi";
import { CallError, CallResult, callRaw } from "./call";
import { rawFields, quote } from "./raw-json";
import { E_BAD_ENVELOPE, E_HOST, E_NOT_OBJECT } from "./messages";

/** What a running job should do next, as answered by progress reports and interrupt checks. */
export enum Interrupt {
  /** The handler was not called as a job (no job is attached to this call). */
  NotInJob = -1,
  /** Keep going. */
  Continue = 0,
  /** A pause was requested: return `job.interrupted(state)` soon; the job resumes later from that state. */
  Pause = 1,
  /** A cancel was requested: return `job.interrupted(state)` soon; the job will not run again. */
  Cancel = 2,
}

const DISPATCH_METHOD = "action:jobs.dispatch.input.v1";

/** Options for {@link Jobs.dispatch}. */
export class DispatchOptions {
  constructor(
    /** Higher runs first; 0 is the default. */
    public priority: i32 = 0,
    /** Attempts before the job fails for good; 0 keeps the job type's default. */
    public maxAttempts: i32 = 0,
    /** When set, a second dispatch with the same key while the first is pending returns the first job. */
    public dedupeKey: string | null = null,
  ) {}
}

/** Dispatches jobs (`action:jobs.dispatch.input.v1`; another extension's or core's job types need `permissions.dispatch`). */
export class Jobs {
  /**
   * Dispatches a job of `jobType` (`finance:email_scan`, `files.copy`) with `params`
   * serialised by json-as. The value is the new job's id.
   *
   * @example
   * ```ts
   * const r = ctx.jobs().dispatch<ScanParams>("finance:email_scan", params);
   * if (!r.ok) return ctx.fail(r.error!.message, r.error!.code);
   * ```
   */
  dispatch<P>(jobType: string, params: P, opts: DispatchOptions | null = null): CallResult<string> {
    return this.dispatchJson(jobType, JSON.stringify<P>(params), opts);
  }

  /** Like {@link dispatch}, with params as raw JSON text. */
  dispatchJson(jobType: string, paramsJson: string, opts: DispatchOptions | null = null): CallResult<string> {
    let payload = '{"job_type":' + quote(jobType) + ',"params":' + paramsJson;
    if (opts !== null) {
      if (opts.priority != 0) payload += ',"priority":' + opts.priority.toString();
      if (opts.maxAttempts > 0) payload += ',"max_attempts":' + opts.maxAttempts.toString();
      const key = opts.dedupeKey;
      if (key !== null) payload += ',"dedupe_key":' + quote(key);
    }
    payload += "}";
    const r = callRaw(DISPATCH_METHOD, payload);
    if (!r.ok) return r;
    const fields = rawFields(r.value);
    if (fields === null || fields.get("job_id") === null) {
      return CallResult.failure<string>(new CallError(E_HOST, E_BAD_ENVELOPE + DISPATCH_METHOD));
    }
    return CallResult.success<string>(fields.string("job_id"));
  }
}

/**
 * A progress report with every optional field of `sd_job_progress`. Numeric fields below zero
 * and `null` strings are left out.
 */
export class Progress {
  /** 0..1; below 0 = not reported. */
  fraction: f64 = -1;
  /** A line shown with the progress (`jobs watch`). */
  message: string | null = null;
  /** The new checkpoint, as raw JSON (use {@link JobContext.reportProgress} for a typed state). */
  stateJson: string | null = null;
  /** Items processed so far; below 0 = not reported. */
  itemsDone: i64 = -1;
  /** Items in all; below 0 = not reported. */
  itemsTotal: i64 = -1;
  /** Bytes processed so far; below 0 = not reported. */
  bytesDone: i64 = -1;
  /** Bytes in all; below 0 = not reported. */
  bytesTotal: i64 = -1;
  /** A warning added to the job's record. */
  warning: string | null = null;

  /** The JSON text sent to the host. */
  toJson(): string {
    const parts = new Array<string>();
    if (this.fraction >= 0) parts.push('"fraction":' + clampFraction(this.fraction));
    const message = this.message;
    if (message !== null) parts.push('"message":' + quote(message));
    const state = this.stateJson;
    if (state !== null) parts.push('"state":' + state);
    if (this.itemsDone >= 0) parts.push('"items_done":' + this.itemsDone.toString());
    if (this.itemsTotal >= 0) parts.push('"items_total":' + this.itemsTotal.toString());
    if (this.bytesDone >= 0) parts.push('"bytes_done":' + this.bytesDone.toString());
    if (this.bytesTotal >= 0) parts.push('"bytes_total":' + this.bytesTotal.toString());
    const warning = this.warning;
    if (warning !== null) parts.push('"warning":' + quote(warning));
    return "{" + parts.join(",") + "}";
  }
}

function clampFraction(f: f64): string {
  if (isNaN(f) || f < 0) return "0";
  if (f >= 1) return "1";
  return f.toString();
}

/**
 * The context of one job run, read from the job handler's input
 * `{"job_id","job_type","params","state","attempt"}`; builds the outcome the handler returns.
 *
 * @example
 * ```ts
 * export function countdown(ptr: i32, len: i32): i64 {
 *   const job = JobContext.fromParams(ptr, len);
 *   const params = job.params<CountdownParams>();
 *   const saved = job.state<CountdownState>();
 *   let remaining = saved !== null ? saved.remaining : params.from;
 *   while (remaining > 0) {
 *     remaining--;
 *     const state = new CountdownState(remaining);
 *     if (job.reportProgress(<f64>(params.from - remaining) / params.from, state) != Interrupt.Continue)
 *       return job.interrupted(state);
 *   }
 *   return job.complete(new CountdownOutput(params.from));
 * }
 * ```
 */
export class JobContext {
  private _jobId: string = "";
  private _jobType: string = "";
  private _attempt: i32 = 1;
  private paramsRaw: string = "null";
  private stateRaw: string = "null";
  /** The input is read on first use: a job that reads nothing (a no-op) pays for no parsing. */
  private parsed: bool = false;
  private inputPtr: usize = 0;
  private inputLen: i32 = 0;
  private inputJson: string | null = null;

  /**
   * The context of the job handler's input at `ptr`/`len`. Valid during the handler call (the
   * host frees the input after it); aborts on first use when the input is not a job input object.
   */
  static fromParams(ptr: usize, len: i32): JobContext {
    const ctx = new JobContext();
    ctx.inputPtr = ptr;
    ctx.inputLen = len;
    return ctx;
  }

  /** Builds the context from the job input's JSON text. */
  static fromJson(json: string): JobContext {
    const ctx = new JobContext();
    ctx.inputJson = json;
    return ctx;
  }

  private parse(): void {
    if (this.parsed) return;
    this.parsed = true;
    const input = this.inputJson;
    const fields = rawFields(input !== null ? input : readUtf8(this.inputPtr, this.inputLen));
    if (fields === null) abort(E_NOT_OBJECT);
    this._jobId = fields!.string("job_id");
    this._jobType = fields!.string("job_type");
    this.paramsRaw = fields!.getOr("params", "null");
    this.stateRaw = fields!.getOr("state", "null");
    this._attempt = I32.parseInt(fields!.getOr("attempt", "1"));
  }

  /** The job's id. */
  get jobId(): string {
    this.parse();
    return this._jobId;
  }

  /** `<ext-id>:<name>` */
  get jobType(): string {
    this.parse();
    return this._jobType;
  }

  /** 1 on the first attempt, then 2, 3… on retries. */
  get attempt(): i32 {
    this.parse();
    return this._attempt;
  }

  /** The job's params, parsed into `T`. */
  params<T>(): T {
    this.parse();
    return JSON.parse<T>(this.paramsRaw);
  }

  /** The job's params as raw JSON. */
  paramsJson(): string {
    this.parse();
    return this.paramsRaw;
  }

  /** `true` when the job resumes from a checkpoint. */
  hasState(): bool {
    this.parse();
    return this.stateRaw != "null";
  }

  /** The last checkpointed state parsed into `T` (a class), or `null` on a first run. */
  state<T>(): T | null {
    if (!this.hasState()) return null;
    return JSON.parse<T>(this.stateRaw);
  }

  /** The last checkpointed state as raw JSON (`null` on a first run). */
  stateJson(): string {
    this.parse();
    return this.stateRaw;
  }

  /**
   * Reports progress and checkpoints `state`: when this returns, the state is durable and a
   * restart resumes from it. The answer says whether to continue, pause or cancel.
   */
  reportProgress<S>(fraction: f64, state: S, message: string | null = null): Interrupt {
    const p = new Progress();
    p.fraction = fraction;
    p.stateJson = JSON.stringify<S>(state);
    p.message = message;
    return this.report(p);
  }

  /** Sends a full progress report (counters, warning, …). */
  report(progress: Progress): Interrupt {
    const buf = String.UTF8.encode(progress.toJson());
    return <Interrupt>sd_job_progress(changetype<usize>(buf), buf.byteLength);
  }

  /** Asks whether a pause or cancel was requested, without reporting. Cheap: call it often. */
  checkInterrupt(): Interrupt {
    return <Interrupt>sd_job_interrupt();
  }

  /** The outcome "completed" with `output`; return it from the handler. */
  complete<O>(output: O): i64 {
    return handOver('{"status":"completed","output":' + JSON.stringify<O>(output) + "}");
  }

  /** The outcome "completed" with raw JSON output. */
  completeJson(outputJson: string): i64 {
    return handOver('{"status":"completed","output":' + outputJson + "}");
  }

  /** The answer to a pause or cancel: the host keeps `state` as the checkpoint. */
  interrupted<S>(state: S): i64 {
    return handOver('{"status":"interrupted","state":' + JSON.stringify<S>(state) + "}");
  }

  /** The outcome "failed"; `retryable` lets the host retry from the last checkpoint while attempts remain. */
  failed(message: string, retryable: bool, code: string | null = null): i64 {
    let error = '{"message":' + quote(message);
    if (code !== null) error += ',"code":' + quote(code);
    return handOver('{"status":"failed","error":' + error + '},"retryable":' + (retryable ? "true" : "false") + "}");
  }
}
