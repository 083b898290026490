/**
 * Short calls on the main thread: a metered instance (metering.ts) that answers a call at once,
 * without the two thread wake-ups a worker instance costs. On a small machine those wake-ups
 * are most of a short call's cost (tens of microseconds each, against a few for a no-op
 * handler), and they were what held extension jobs far below core jobs.
 *
 * An attempt here either completes exactly as a worker would have answered, or leaves no trace
 * and the call goes to the pool's workers ("bail"). It bails when the guest
 * - needs the host asynchronously: a wire-method sd_call, sd_job_progress (a durable write),
 *   extension.sleep — the main thread cannot block for those;
 * - runs out of fuel (INLINE_FUEL instructions), or traps, or returns something malformed — the
 *   worker's run then gives the answer, with the worker's limits and error reports.
 * Before it bails the guest has had no effect outside this instance: every host method it can
 * reach here (extension.info/config, sd_log, sd_error, sd_job_interrupt) only reads or is
 * buffered, and buffered log lines are dropped. The instance itself is discarded (it may have
 * stopped in the middle of anything) and made again for the next call.
 *
 * An export that bailed, or whose calls run more than INLINE_LONG_CALL instructions on average,
 * goes to the workers from then on: the main thread serves the daemon, and only calls that are both short
 * and self-contained belong on it. So a job handler that reports progress costs one bail, at its
 * first run.
 */
import { createGuestRuntime } from './guest-runtime.js';
import { FUEL_EXPORT, meterModule, UnmeterableModule } from './metering.js';
import type { CallRequest, CallResult, GuestIo, GuestRuntime, LogLine, SharedInit } from './protocol.js';
import { wasm } from './wasm-types.js';

/** Instructions a call may run here before it bails (about a millisecond or two). */
export const INLINE_FUEL = 5_000_000;
/** Instructions `plugin_init` may run here (and the module's start function). */
export const INLINE_INIT_FUEL = 20_000_000;
/**
 * An export whose calls run more instructions than this here, on average, goes to the workers
 * from then on. Counted in fuel rather than time, so that a pause of the machine does not decide
 * it; averaged (over about the last INLINE_AVERAGE_OVER calls), so that the odd call that does
 * more (a guest's garbage collector running a cycle: 370,000 in test-ext's no-op job, whose
 * calls otherwise run a few thousand) does not either.
 */
export const INLINE_LONG_CALL = 500_000;
const INLINE_AVERAGE_OVER = 8;

interface Bail {
  sdBail: true;
  reason: string;
}

function bail(reason: string): Bail {
  return { sdBail: true, reason };
}

function isBail(e: unknown): e is Bail {
  return typeof e === 'object' && e !== null && (e as { sdBail?: unknown }).sdBail === true;
}

/** What the inline instance needs of its sandbox. */
export interface InlineHost {
  /** sd_job_interrupt for a job running here: 0 continue, 1 pause, 2 cancel, -1 not running. */
  jobInterrupt(jobId: string): number;
  /** Why inline calls stopped for an export or for the whole extension (debug log). */
  note(message: string, exportFn?: string): void;
}

/** An attempt's outcome: the call's answer, or undefined when it must run on a worker instead. */
export type InlineOutcome = CallResult | undefined;

export class InlineInstance {
  readonly #shared: SharedInit;
  readonly #host: InlineHost;
  #runtime: GuestRuntime | null = null;
  #fuel: { value: number } | null = null;
  /** Set once the extension cannot run here at all (its plugin_init bails or fails here). */
  #disabled = false;
  /** Fuel spent per call, averaged, by export. */
  readonly #averageFuel = new Map<string, number>();
  /** Exports that run on workers only, with why. */
  readonly #workerOnly = new Map<string, string>();
  /** Lines the guest logged during the current attempt, handed out with its answer. */
  #logs: LogLine[] = [];
  #jobId: string | null = null;
  readonly #io: GuestIo = {
    flushLogs: (logs) => {
      for (const l of logs) this.#logs.push(l);
    },
    callHost: (method) => {
      throw bail(`it calls '${method}', which the host answers asynchronously`);
    },
    bridge: (request, logs) => {
      this.#io.flushLogs(logs);
      if (request.kind === 'progress') throw bail('it reports job progress (a durable write)');
      return this.#jobId === null ? -1 : this.#host.jobInterrupt(this.#jobId);
    },
    sleep: () => {
      throw bail('it calls extension.sleep');
    },
  };

  private constructor(shared: SharedInit, host: InlineHost) {
    this.#shared = shared;
    this.#host = host;
  }

  /**
   * Meters and compiles `bytes` (the module with its memory limit applied) for the main thread.
   * Resolves to null, with the reason noted, for a module that cannot be metered.
   */
  static async prepare(bytes: Uint8Array, shared: Omit<SharedInit, 'module'>, host: InlineHost): Promise<InlineInstance | null> {
    let metered: Uint8Array;
    try {
      metered = meterModule(bytes, INLINE_INIT_FUEL).bytes;
    } catch (e) {
      host.note(`calls run on worker instances only: ${e instanceof UnmeterableModule ? e.message : (e as Error).message}`);
      return null;
    }
    try {
      const module = await wasm.compile(metered);
      return new InlineInstance({ ...shared, module, keepOutputValue: true }, host);
    } catch (e) {
      host.note(`calls run on worker instances only: the metered module does not compile: ${(e as Error).message}`);
      return null;
    }
  }

  /** Whether a call to `exportFn` may be tried here. */
  accepts(exportFn: string): boolean {
    return !this.#disabled && !this.#workerOnly.has(exportFn);
  }

  /** Runs a call here, to its answer; or returns undefined, having left no trace, for a worker to run it. */
  run(request: CallRequest): InlineOutcome {
    const runtime = this.#runtime ?? this.#start();
    if (runtime === null) return undefined;
    this.#fuel!.value = INLINE_FUEL;
    this.#jobId = request.jobId;
    this.#logs = [];
    let result: CallResult;
    try {
      result = runtime.call(request);
    } catch (e) {
      return this.#toWorkers(request.exportFn, isBail(e) ? e.reason : `it failed here: ${(e as Error)?.message ?? String(e)}`);
    } finally {
      this.#jobId = null;
    }
    if (!result.ok && result.discard) {
      const why = this.#fuel!.value < 0 ? `it ran past ${INLINE_FUEL} instructions` : `it failed (${result.error.code}: ${result.error.cause})`;
      return this.#toWorkers(request.exportFn, why);
    }
    const spent = INLINE_FUEL - this.#fuel!.value;
    const previous = this.#averageFuel.get(request.exportFn) ?? 0;
    const average = previous + (spent - previous) / INLINE_AVERAGE_OVER;
    this.#averageFuel.set(request.exportFn, average);
    if (average > INLINE_LONG_CALL) {
      this.#workersFromNowOn(request.exportFn, `its calls run about ${Math.round(average)} instructions on average (more than ${INLINE_LONG_CALL})`);
    }
    if (this.#logs.length > 0) {
      result.logs = this.#logs.concat(result.logs);
      this.#logs = [];
    }
    return result;
  }

  /** Runs plugin_cleanup on the instance, if it was made; its log lines are returned. */
  close(): LogLine[] {
    const runtime = this.#runtime;
    this.#runtime = null;
    this.#disabled = true;
    if (runtime === null) return [];
    this.#fuel!.value = INLINE_FUEL;
    try {
      return runtime.cleanup().logs;
    } catch {
      // plugin_cleanup wanted the host asynchronously: the worker instances run it too.
      return [];
    }
  }

  /** The attempt is dropped: the call goes to a worker, and so will this export's next calls. */
  #toWorkers(exportFn: string, why: string): undefined {
    this.#runtime = null;
    this.#fuel = null;
    this.#logs = [];
    this.#workersFromNowOn(exportFn, why);
    return undefined;
  }

  #workersFromNowOn(exportFn: string, why: string): void {
    this.#workerOnly.set(exportFn, why);
    this.#host.note(`calls to '${exportFn}' run on worker instances from now on: ${why}`, exportFn);
  }

  /** Makes the instance (plugin_init included); null, and disabled, when it cannot run here. */
  #start(): GuestRuntime | null {
    if (this.#disabled) return null;
    const runtime = createGuestRuntime(this.#shared, this.#io);
    let why: string | null = null;
    try {
      const started = runtime.start();
      if (started.t === 'fail') why = `plugin_init failed here (${started.error.code}: ${started.error.cause})`;
    } catch (e) {
      why = isBail(e) ? `plugin_init cannot run here: ${e.reason}` : `plugin_init failed here: ${(e as Error)?.message ?? String(e)}`;
    }
    const fuel = runtime.exports?.[FUEL_EXPORT] as { value: number } | undefined;
    if (why === null && fuel === undefined) why = 'the metered module has no fuel global';
    this.#logs = [];
    if (why !== null) {
      this.#disabled = true;
      this.#host.note(`calls run on worker instances only: ${why}`);
      return null;
    }
    this.#runtime = runtime;
    this.#fuel = fuel!;
    return runtime;
  }
}
