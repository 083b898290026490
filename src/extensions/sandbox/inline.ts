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
 * - runs out of fuel (INLINE_FUEL units), or past INLINE_TIME_MS, or traps, or returns something
 *   malformed — the worker's run then gives the answer, with the worker's limits and error reports.
 * Fuel counts guest instructions (metering.ts) and, besides them, the host work the guest asks
 * for (GuestIo.hostWork): HOST_CALL_FUEL per host call plus one unit per byte copied into or out
 * of guest memory (results, log lines, the call's input and output), at most INLINE_MAX_COPY
 * bytes at a time (a call with a larger input is not tried here). The wall clock is read at
 * every host call too (past the first few): a guest cannot make a few hundred thousand
 * cheap-looking host calls (each a megabyte of config, a string encoded, a line decoded) on the
 * main thread, as fuel alone allowed.
 * Before it bails the guest has had no effect outside this instance: every host method it can
 * reach here (extension.info/config, sd_log, sd_error, sd_job_interrupt) only reads or is
 * buffered, and buffered log lines are dropped. The instance itself is discarded (it may have
 * stopped in the middle of anything) and made again for the next call.
 *
 * An export that bailed, or whose calls spend more than INLINE_LONG_CALL units of fuel on
 * average, goes to the workers from then on: the main thread serves the daemon, and only calls
 * that are both short and self-contained belong on it. So a job handler that reports progress costs one bail, at its
 * first run.
 *
 * plugin_init runs here (when the first call comes) under the same budget as a call; if it bails
 * or fails, the extension gets no instance here at all, and that is never tried again. Each bail
 * discards the instance, and the next call makes it again (plugin_init included): so the
 * instance is made at most INLINE_MAX_STARTS times, after which the extension's calls all run on
 * workers. That bounds what bails can cost the main thread (and the memory of discarded instances
 * awaiting collection) whatever the number of exports.
 */
import { createGuestRuntime } from './guest-runtime.js';
import { FUEL_EXPORT, meterModule, UnmeterableModule } from './metering.js';
import type { CallRequest, CallResult, GuestIo, GuestRuntime, LogLine, SharedInit } from './protocol.js';
import { wasm } from './wasm-types.js';

/**
 * Fuel a call may spend here before it bails (about a millisecond or two): guest instructions
 * plus host work. The module's start function and plugin_init share one such budget.
 */
export const INLINE_FUEL = 5_000_000;
/**
 * Wall-clock time an attempt (a call, or the instance's start) may take here, checked at every
 * host call once it has charged HOST_FUEL_BEFORE_CLOCK units of host work: what fuel does not
 * foresee (host work dearer than charged, a slow machine) stops there. A pure guest loop stops by
 * its fuel alone, which is about the same time.
 */
export const INLINE_TIME_MS = 1;
/**
 * Host work (units, as charged) an attempt may do before the wall clock is read at its host calls.
 * A few host calls cannot hold the main thread (each is charged, and moves at most INLINE_MAX_COPY
 * bytes); without this, on a busy machine, a short call or a plugin_init with a few host calls
 * would be given up for a pause of the machine rather than for anything it did.
 */
export const HOST_FUEL_BEFORE_CLOCK = 100_000;
/** Fuel charged for each host call, besides its bytes: the crossing and the host's dispatch. */
export const HOST_CALL_FUEL = 1_000;
/**
 * The most bytes one host call (or a call's input or output) may move here. A copy into memory
 * the instance has not touched yet costs page faults the fuel does not foresee (on a small
 * virtual machine, tens of milliseconds per megabyte): a larger one goes to the workers, whose
 * time limit covers it. Checked before the bytes are moved.
 */
export const INLINE_MAX_COPY = 64 * 1024;
/** How many times the instance here may be made (see the top of this file). */
export const INLINE_MAX_STARTS = 4;
/**
 * An export whose calls spend more fuel than this here (instructions and host work), on
 * average, goes to the workers from then on. Counted in fuel rather than time, so that a pause of the machine does not decide
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
  /** The runtime an attempt is running on (the instance being started, or #runtime). */
  #attempt: GuestRuntime | null = null;
  #fuel: { value: number } | null = null;
  /** When the current attempt's time runs out (performance.now()). */
  #deadline = 0;
  /** Host work the current attempt has been charged. */
  #hostFuel = 0;
  /** Why the current attempt bailed, once it has: it then ends on a worker whatever the guest does. */
  #bailed: string | null = null;
  /** Times the instance was made (see INLINE_MAX_STARTS). */
  #starts = 0;
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
    callHost: (method) => this.#bail(`it calls '${method}', which the host answers asynchronously`),
    bridge: (request, logs) => {
      this.#io.flushLogs(logs);
      if (request.kind === 'progress') this.#bail('it reports job progress (a durable write)');
      return this.#jobId === null ? -1 : this.#host.jobInterrupt(this.#jobId);
    },
    sleep: () => this.#bail('it calls extension.sleep'),
    hostWork: (bytes) => {
      if (this.#bailed !== null) this.#bail(this.#bailed);
      if (bytes > INLINE_MAX_COPY) this.#bail(`one of its host calls moves ${bytes} bytes (more than ${INLINE_MAX_COPY} here)`);
      // While starting, the fuel global is there once the instance is (plugin_init's host calls).
      const fuel = (this.#fuel ??= fuelOf(this.#attempt));
      const units = HOST_CALL_FUEL + bytes;
      this.#hostFuel += units;
      if (fuel !== null) {
        const left = fuel.value - units;
        if (left < 0) this.#bail(`its instructions and host calls ran past ${INLINE_FUEL} units of fuel (the last one asked for ${bytes} bytes)`);
        fuel.value = left;
      }
      if (this.#hostFuel >= HOST_FUEL_BEFORE_CLOCK && performance.now() > this.#deadline) this.#bail(`it ran past ${INLINE_TIME_MS} ms`);
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
      metered = meterModule(bytes, INLINE_FUEL).bytes;
    } catch (e) {
      host.note(`calls run on worker instances only: ${e instanceof UnmeterableModule ? e.message : (e as Error).message}`);
      return null;
    }
    try {
      const module = await wasm.compile(metered);
      const configEnvelope = new TextEncoder().encode(JSON.stringify({ ok: true, result: shared.config ?? null }));
      return new InlineInstance({ ...shared, module, keepOutputValue: true, configEnvelope }, host);
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
    // A large input says nothing of the export: this call goes to a worker, the next may not.
    if (request.inputBytes > INLINE_MAX_COPY) return undefined;
    const runtime = this.#runtime ?? this.#start();
    if (runtime === null) return undefined;
    this.#begin(runtime);
    this.#jobId = request.jobId;
    let result: CallResult;
    try {
      result = runtime.call(request);
    } catch (e) {
      return this.#toWorkers(request.exportFn, isBail(e) ? e.reason : `it failed here: ${(e as Error)?.message ?? String(e)}`);
    } finally {
      this.#jobId = null;
    }
    // A guest that caught the bail (wasm exception handling catches what a host import throws)
    // and returned anyway: its answer is not the one a worker would give.
    if (this.#bailed !== null) return this.#toWorkers(request.exportFn, this.#bailed);
    if (!result.ok && result.discard) {
      const why = this.#fuel!.value < 0 ? `it ran past ${INLINE_FUEL} instructions` : `it failed (${result.error.code}: ${result.error.cause})`;
      return this.#toWorkers(request.exportFn, why);
    }
    const spent = INLINE_FUEL - this.#fuel!.value;
    const previous = this.#averageFuel.get(request.exportFn) ?? 0;
    const average = previous + (spent - previous) / INLINE_AVERAGE_OVER;
    this.#averageFuel.set(request.exportFn, average);
    if (average > INLINE_LONG_CALL) {
      this.#workersFromNowOn(request.exportFn, `its calls spend about ${Math.round(average)} units of fuel on average (more than ${INLINE_LONG_CALL})`);
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
    this.#begin(runtime);
    try {
      return runtime.cleanup().logs;
    } catch {
      // plugin_cleanup wanted the host asynchronously, or ran past its budget: the worker
      // instances run it too.
      return [];
    } finally {
      this.#attempt = null;
    }
  }

  /** A fresh budget for an attempt on `runtime`. */
  #begin(runtime: GuestRuntime): void {
    this.#attempt = runtime;
    this.#bailed = null;
    this.#logs = [];
    this.#hostFuel = 0;
    if (this.#fuel !== null) this.#fuel.value = INLINE_FUEL;
    this.#deadline = performance.now() + INLINE_TIME_MS;
  }

  /**
   * Ends the attempt: throws a bail, which the guest runtime passes up untouched. The fuel is
   * emptied too, so that a guest that catches the bail traps at its next loop or call.
   */
  #bail(reason: string): never {
    this.#bailed ??= reason;
    const fuel = (this.#fuel ??= fuelOf(this.#attempt));
    if (fuel !== null) fuel.value = -1;
    throw bail(reason);
  }

  /** The attempt is dropped: the call goes to a worker, and so will this export's next calls. */
  #toWorkers(exportFn: string, why: string): undefined {
    this.#drop();
    this.#workersFromNowOn(exportFn, why);
    return undefined;
  }

  /** Lets go of the instance (it may have stopped anywhere); the next call makes a fresh one. */
  #drop(): void {
    this.#runtime = null;
    this.#attempt = null;
    this.#fuel = null;
    this.#logs = [];
  }

  #workersFromNowOn(exportFn: string, why: string): void {
    this.#workerOnly.set(exportFn, why);
    this.#host.note(`calls to '${exportFn}' run on worker instances from now on: ${why}`, exportFn);
  }

  /** Makes the instance (plugin_init included); null, and disabled, when it cannot run here. */
  #start(): GuestRuntime | null {
    if (this.#disabled) return null;
    if (this.#starts >= INLINE_MAX_STARTS) return this.#disable(`its instance here was made ${INLINE_MAX_STARTS} times already`);
    this.#starts++;
    const runtime = createGuestRuntime(this.#shared, this.#io);
    // The fuel global starts at the metered module's INLINE_FUEL: the start function and
    // plugin_init share it. It is read from the instance once that exists (at a host call, or below).
    this.#fuel = null;
    this.#begin(runtime);
    let why: string | null = null;
    try {
      const started = runtime.start();
      if (started.t === 'fail') why = `plugin_init failed here (${started.error.code}: ${started.error.cause})`;
    } catch (e) {
      why = isBail(e) ? `plugin_init cannot run here: ${e.reason}` : `plugin_init failed here: ${(e as Error)?.message ?? String(e)}`;
    }
    if (why === null && this.#bailed !== null) why = `plugin_init cannot run here: ${this.#bailed}`;
    const fuel = (this.#fuel ??= fuelOf(runtime));
    if (why === null && fuel === null) why = 'the metered module has no fuel global';
    if (why !== null) {
      this.#drop();
      return this.#disable(why);
    }
    this.#logs = [];
    this.#runtime = runtime;
    return runtime;
  }

  #disable(why: string): null {
    this.#disabled = true;
    this.#host.note(`calls run on worker instances only: ${why}`);
    return null;
  }
}

/** The metered instance's fuel global, once it is instantiated. */
function fuelOf(runtime: GuestRuntime | null): { value: number } | null {
  return (runtime?.exports?.[FUEL_EXPORT] as { value: number } | undefined) ?? null;
}
