/**
 * The extension test harness (`spacedrive-extensions/testing`): runs an extension in an
 * in-process host — the real core, the real sandbox, the real job system and stores, on a
 * temporary data directory — so that a test can call its queries and actions, run its jobs step
 * by step, "crash" the host right after a checkpoint and start it again to see the job resume,
 * and assert on outputs, logs, checkpoints and the host calls the extension made. Fakes exist
 * only where a test asks for them ({@link ExtensionHarness.fake}: an OCR result, an HTTP
 * response, a mail account): the extension's permission to make the call is still checked.
 *
 * @example
 * const harness = await ExtensionHarness.start({ project: fileURLToPath(new URL('..', import.meta.url)) });
 * expect(await harness.query('greet', { name: 'Ada' })).toEqual({ greeting: 'Hello, Ada!' });
 * harness.crashAfterCheckpoint(2);
 * const job = await harness.startJob('count', { to: 5 });
 * await job.crashed;
 * await harness.restart();
 * expect((await job.finished()).output).toEqual({ counted: 5 });
 * await harness.close();
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadOptions, type PartialOptions } from '../config/index.js';
import { Core } from '../core/index.js';
import { ErrorCode, SpacedriveError, toWireError } from '../errors/index.js';
import type { ExtensionInfo } from '../extensions/manager.js';
import type { ExtensionHostHooks } from '../extensions/instrument.js';
import { checkCallPermission } from '../extensions/permissions.js';
import type { JobView } from '../jobs/system.js';
import { silentLogger } from '../logging/index.js';
import { extensionMethod } from '../registry/index.js';
import { buildProject } from '../authoring/build.js';

export interface HarnessOptions {
  /** A built package directory (manifest.json with `module` and `sha256`, and the module). */
  package?: string;
  /** An extension project: its `build/` is loaded, built first (a fast dev build) when missing. */
  project?: string;
  /** Extra daemon options for the in-process host (dataDir is always a fresh temporary one). */
  options?: PartialOptions;
}

/** A host call the extension made (`sd_call`). */
export interface HostCall {
  method: string;
  payload: unknown;
  /** Answered by a fake from {@link ExtensionHarness.fake}. */
  faked: boolean;
  result?: unknown;
  error?: { code: string; message: string };
}

export interface LogLine {
  level: string;
  message: string;
  jobId: string | null;
}

/** What a fake answers: a value, or a function of the payload (may throw a SpacedriveError). */
export type Fake = unknown | ((payload: unknown) => unknown | Promise<unknown>);

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** A job of the extension, followed by the harness. */
export class HarnessJob {
  /** Every checkpoint (`state` of a progress report) the job wrote, in order, across restarts. */
  readonly checkpoints: unknown[] = [];
  /** Every progress report, as the guest sent it. */
  readonly reports: Array<Record<string, unknown>> = [];
  /** Resolves when the host "crashed" after the armed checkpoint ({@link ExtensionHarness.crashAfterCheckpoint}). */
  readonly crashed: Promise<void>;
  #crashed!: () => void;
  #stepwise: boolean;
  #held: Array<() => void> = [];
  #waiters: Array<(report: Record<string, unknown>) => void> = [];
  #pending: Array<Record<string, unknown>> = [];

  constructor(
    readonly harness: ExtensionHarness,
    readonly id: string,
    readonly type: string,
    stepwise: boolean,
    /** What the harness saw of this job before it was started by name (reports that came first). */
    earlier?: HarnessJob,
  ) {
    this.#stepwise = stepwise;
    this.crashed = new Promise<void>((r) => (this.#crashed = r));
    if (earlier) {
      this.reports.push(...earlier.reports);
      this.checkpoints.push(...earlier.checkpoints);
      this.#pending.push(...earlier.#pending);
      earlier.crashed.then(() => this.#crashed());
    }
  }

  /** @internal a durable report arrived; resolves when the guest may continue. */
  reported(report: Record<string, unknown>): Promise<void> {
    this.reports.push(report);
    if ('state' in report) this.checkpoints.push(report.state);
    const waiter = this.#waiters.shift();
    if (waiter) waiter(report);
    else this.#pending.push(report);
    if (!this.#stepwise) return Promise.resolve();
    return new Promise<void>((r) => this.#held.push(r));
  }

  /** @internal */
  markCrashed(): void {
    this.#crashed();
  }

  /**
   * Step-by-step jobs (`startJob(…, { stepwise: true })`): lets the job run to its next progress
   * report and resolves with it (the checkpoint is durable by then); the job then waits for the
   * next step. For other jobs: resolves with the next report.
   */
  step(): Promise<Record<string, unknown>> {
    for (const release of this.#held.splice(0)) release();
    const ready = this.#pending.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((r) => this.#waiters.push(r));
  }

  /** Lets a step-by-step job run freely from now on. */
  release(): void {
    this.#stepwise = false;
    for (const release of this.#held.splice(0)) release();
  }

  /** The job as the job system has it now. */
  view(): Promise<JobView> {
    return this.harness.core.jobs.get(this.id);
  }

  /** Waits until the job completed, failed or was cancelled, and returns it (releases a step-by-step job). */
  async finished(timeoutMs = 30_000): Promise<JobView> {
    this.release();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const view = await this.harness.core.jobs.get(this.id);
      if (TERMINAL.has(view.status)) return view;
      if (Date.now() > deadline) throw new SpacedriveError(ErrorCode.TIMEOUT, `job ${this.id} (${this.type}) is still ${view.status} after ${timeoutMs} ms`, { job_id: this.id, status: view.status });
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** The job's own log (`spacedrive jobs logs`). */
  logs(): Promise<Array<{ level: string; message: string }>> {
    return this.harness.core.jobs.logs(this.id);
  }
}

/** An extension in an in-process host; see the file comment. */
export class ExtensionHarness {
  /** The extension's id (from its manifest). */
  readonly extensionId: string;
  /** Calls the extension made to the host, in order, across restarts. */
  readonly hostCalls: HostCall[] = [];
  /** Lines the extension logged, in order, across restarts. */
  readonly logs: LogLine[] = [];
  readonly dataDir: string;
  readonly packageDir: string;
  #core: Core;
  readonly #options: PartialOptions;
  readonly #fakes = new Map<string, Fake>();
  readonly #jobs = new Map<string, HarnessJob>();
  #crashAfter: number | null = null;
  /** Whose checkpoints count towards an armed crash: a job id, or 'next' (the next job started, else any). */
  #crashTarget: string | 'next' = 'next';
  #checkpointsSinceArmed = 0;
  #crashing: Promise<void> | null = null;
  #closed = false;

  private constructor(extensionId: string, packageDir: string, dataDir: string, core: Core, options: PartialOptions) {
    this.extensionId = extensionId;
    this.packageDir = packageDir;
    this.dataDir = dataDir;
    this.#core = core;
    this.#options = options;
  }

  /** Starts a host on a fresh temporary data directory and installs the extension into it. */
  static async start(opts: HarnessOptions): Promise<ExtensionHarness> {
    let packageDir: string;
    if (opts.package) packageDir = resolve(opts.package);
    else if (opts.project) {
      packageDir = join(resolve(opts.project), 'build');
      if (!existsSync(join(packageDir, 'manifest.json'))) packageDir = (await buildProject(opts.project, { optimize: 'dev', listRegistrations: false })).packageDir;
    } else throw new SpacedriveError(ErrorCode.USAGE, 'ExtensionHarness.start needs { package } or { project }');
    const dataDir = mkdtempSync(join(tmpdir(), 'sd-harness-'));
    const options: PartialOptions = { ...opts.options, jobs: { shutdownGraceMs: 500, ...opts.options?.jobs }, extensions: { ...opts.options?.extensions, autoload: false } } as PartialOptions;
    const core = await ExtensionHarness.#createCore(dataDir, options);
    const harness = new ExtensionHarness('', packageDir, dataDir, core, options);
    core.extensions.setHostHooks(harness.#hooks());
    let info: ExtensionInfo;
    try {
      info = await core.extensions.install(packageDir, { enabled: true });
    } catch (err) {
      await core.close();
      rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
    (harness as { extensionId: string }).extensionId = info.id;
    if (info.state !== 'loaded') {
      await harness.close();
      throw new SpacedriveError(ErrorCode.EXTENSION_LOAD_FAILED, `extension '${info.id}' did not load: ${info.error?.message ?? info.state}`, { id: info.id, error: info.error });
    }
    return harness;
  }

  static #createCore(dataDir: string, overrides: PartialOptions): Promise<Core> {
    return Core.create(loadOptions({ overrides: { ...overrides, dataDir }, env: {} }), { logger: silentLogger() });
  }

  /** The in-process core (for what the harness does not wrap). */
  get core(): Core {
    return this.#core;
  }

  /** Information on the loaded extension (registrations, limits, state). */
  info(): Promise<ExtensionInfo> {
    return this.#core.extensions.info(this.extensionId);
  }

  /**
   * Answers the extension's calls to `method` (e.g. `action:http.fetch.input.v1`) with `answer`
   * instead of the real host method. The call is still permission-checked and recorded in
   * {@link hostCalls} with `faked: true`.
   */
  fake(method: string, answer: Fake): this {
    this.#fakes.set(method, answer);
    return this;
  }

  /** Wire method of one of the extension's operations: a short name becomes `query:<id>:<name>.v1` / `action:<id>:<name>.input.v1`. */
  method(kind: 'query' | 'action', name: string): string {
    return name.includes(':') ? name : extensionMethod(kind, this.extensionId, name);
  }

  /** Runs one of the extension's queries (short name or full method) as a client would. */
  query<T = unknown>(name: string, input: unknown = {}, opts: { libraryId?: string } = {}): Promise<T> {
    return this.#core.execute(this.method('query', name), input, { caller: { kind: 'client', chain: [] }, ...opts }) as Promise<T>;
  }

  /** Runs one of the extension's actions (short name or full method) as a client would. */
  action<T = unknown>(name: string, input: unknown = {}, opts: { libraryId?: string } = {}): Promise<T> {
    return this.#core.execute(this.method('action', name), input, { caller: { kind: 'client', chain: [] }, ...opts }) as Promise<T>;
  }

  /**
   * Dispatches one of the extension's job types (short name or `<id>:<name>`). With `stepwise`,
   * the job stops after each progress report until {@link HarnessJob.step} is called.
   */
  async startJob(name: string, params: unknown = {}, opts: { stepwise?: boolean; libraryId?: string } = {}): Promise<HarnessJob> {
    const type = name.includes(':') ? name : `${this.extensionId}:${name}`;
    // Registered before the job can run, so that its first report finds it.
    const { jobId } = await this.#core.jobs.dispatch(type, params, { dispatchedBy: 'client', ...(opts.libraryId ? { libraryId: opts.libraryId } : {}) });
    const seen = this.#jobs.get(jobId);
    // A job that reported before dispatch returned is known already, as a job of unknown type.
    const job = new HarnessJob(this, jobId, type, opts.stepwise === true, seen);
    this.#jobs.set(jobId, job);
    if (this.#crashAfter !== null && this.#crashTarget === 'next') this.#crashTarget = jobId;
    return job;
  }

  /** Runs a job to its end and returns it. */
  async runJob(name: string, params: unknown = {}, timeoutMs?: number): Promise<JobView> {
    return (await this.startJob(name, params)).finished(timeoutMs);
  }

  /**
   * Arms a crash: right after the `n`-th checkpoint from now of `job` (default: the next job
   * {@link startJob} starts) is durable, the host
   * dies as a killed daemon would (the job store closes without writing anything more, the
   * sandbox's workers are stopped mid-call); the job's `crashed` promise resolves. Start the
   * host again with {@link restart}: the job system recovers the job, which continues from
   * that checkpoint.
   */
  crashAfterCheckpoint(n: number, job?: HarnessJob | string): void {
    if (!Number.isInteger(n) || n < 1) throw new SpacedriveError(ErrorCode.USAGE, `crashAfterCheckpoint(n): n must be a positive integer, got ${n}`);
    this.#crashAfter = n;
    // Only that job's checkpoints count (by default the next job startJob starts), so that
    // another job of the extension still running cannot trigger it.
    this.#crashTarget = job === undefined ? 'next' : typeof job === 'string' ? job : job.id;
    this.#checkpointsSinceArmed = 0;
  }

  /** The harness's view of any job (one the extension dispatched itself, say): `finished()`, `checkpoints`, … */
  job(jobId: string): HarnessJob {
    return this.#job(jobId)!;
  }

  /** Resolves when an armed crash happened. */
  get crashing(): Promise<void> | null {
    return this.#crashing;
  }

  /**
   * Starts a new host on the same data directory (after a crash, or to test a daemon restart:
   * a running host is stopped gracefully first). Installed extensions load again and jobs that
   * were running continue from their last checkpoint.
   */
  async restart(): Promise<void> {
    if (this.#crashing) await this.#crashing;
    else await this.#core.close();
    this.#crashing = null;
    this.#core = await ExtensionHarness.#createCore(this.dataDir, this.#options);
    this.#core.extensions.setHostHooks(this.#hooks());
    await this.#core.extensions.loadEnabled();
  }

  /** Stops the host and deletes its data directory. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const job of this.#jobs.values()) job.release();
    if (this.#crashing) await this.#crashing;
    else await this.#core.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  #job(jobId: string): HarnessJob | undefined {
    let job = this.#jobs.get(jobId);
    if (!job) {
      // A job the extension dispatched itself, or one recovered after a restart.
      job = new HarnessJob(this, jobId, '(unknown)', false);
      this.#jobs.set(jobId, job);
    }
    return job;
  }

  /** The crash: nothing more reaches the job store, the extension's workers stop, the rest of the host closes. */
  async #crash(): Promise<void> {
    const core = this.#core;
    await core.jobs.store.close();
    await core.close();
  }

  #hooks(): ExtensionHostHooks {
    return {
      call: async (_id, method, payload, next) => {
        const record: HostCall = { method, payload, faked: this.#fakes.has(method) };
        this.hostCalls.push(record);
        try {
          let result: unknown;
          if (record.faked) {
            // Still permission-checked, as the real bridge would before calling.
            checkCallPermission(this.extensionId, this.#core.extensions.grants(this.extensionId)!.permissions, method, payload, this.#core.executor.lookup(method)?.scope);
            const fake = this.#fakes.get(method);
            result = typeof fake === 'function' ? await (fake as (p: unknown) => unknown)(payload) : structuredClone(fake);
          } else {
            result = await next(payload);
          }
          record.result = result;
          return result;
        } catch (err) {
          const wire = toWireError(err);
          record.error = { code: wire.code, message: wire.message };
          throw err;
        }
      },
      log: (_id, level, message, jobId) => {
        this.logs.push({ level, message, jobId: jobId ?? null });
      },
      jobProgress: async (_id, jobId, report, next) => {
        if (this.#crashing) return new Promise<number>(() => undefined); // the host is dead: never answered
        const answer = await next(report);
        const job = this.#job(jobId)!;
        const isCheckpoint = 'state' in report;
        const counts = this.#crashTarget === 'next' || this.#crashTarget === jobId;
        if (isCheckpoint && this.#crashAfter !== null && counts && ++this.#checkpointsSinceArmed === this.#crashAfter) {
          this.#crashAfter = null;
          this.#crashing = this.#crash();
          void job.reported(report);
          job.markCrashed();
          return new Promise<number>(() => undefined);
        }
        await job.reported(report);
        return answer;
      },
    };
  }
}

export type { JobView } from '../jobs/system.js';
export type { ExtensionInfo } from '../extensions/manager.js';
