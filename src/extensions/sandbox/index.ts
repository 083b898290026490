/**
 * The WebAssembly sandbox: runs one extension's module, serving the host side of ABI v1
 * (docs/extension-abi.md) under the extension's limits. This file is its entry: `loadSandbox`
 * and the Sandbox facade, which wires the parts together.
 *
 *   pool.ts          the instances (worker threads) and their lifecycle: start, replace, clean up
 *   scheduler.ts     which instance runs a call and when: queue, pipelining, timeouts, cancellation
 *   transport.ts     the main thread's end of each worker's link, and the host requests it serves
 *   worker.ts        the worker thread's end: blocks for calls, runs the guest, posts the answers
 *   protocol.ts      the messages between the two
 *   guest-runtime.ts the host half of the ABI around one instantiation (in a worker, or inline),
 *                    with registrations.ts (what plugin_init registers) and guest-faults.ts
 *   inline.ts        the main thread's metered instance for short, self-contained calls
 *   metering.ts      the fuel counter inline.ts runs on; wasm-*.ts the module's bytes and limits
 *   host-imports.ts  the ABI's import table, which modules are checked against at load
 *   errors.ts, limits.ts  the typed errors callers see, and the limits checked on the way in
 *
 * The call path is built for latency. The module is compiled once here and the compiled
 * `WebAssembly.Module` is shared with every worker (no recompilation per instance). A short,
 * self-contained call runs on the main thread's metered instance, answered at once; any other
 * goes to a worker (transport.ts says how that trip is kept short). Guest→host calls that need
 * no main-thread state are served inside the worker; the rest block the worker while the main
 * thread answers.
 *
 * Knows nothing of manifests, permissions or registries: it loads bytes, runs `plugin_init`,
 * reports registrations and serves calls. The extension manager (src/extensions) does the rest.
 */
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import { SandboxErrors } from './errors.js';
import { hostImportProblem } from './host-imports.js';
import { InlineInstance, type InlineHost } from './inline.js';
import { checkLimits, checkRegistrationCounts, registrationLimits } from './limits.js';
import { Pool, startSpareWorker, type Instance } from './pool.js';
import type { FromWorker, LogLine, SharedInit } from './protocol.js';
import { Scheduler, type PendingCall } from './scheduler.js';
import { HostRequests, MessagePump, type PumpSink } from './transport.js';
import type {
  ExtensionSandbox,
  GuestRegistration,
  ImmediateAnswer,
  LoadSandboxOptions,
  SandboxCallOptions,
  SandboxStats,
} from './types.js';
import { functionImports } from './wasm-binary.js';
import { applyMemoryMaximum } from './wasm-limits.js';
import { wasm, type WasmModule } from './wasm-types.js';

export type * from './types.js';
export { applyMemoryMaximum, WASM_PAGE_BYTES, type MemoryPlan } from './wasm-limits.js';
export { HOST_IMPORTS, HOST_IMPORT_SIGNATURES, HOST_MODULE } from './host-imports.js';
export { GUEST_ERROR_CODES } from './errors.js';
export { DEFAULT_REGISTRATION_LIMITS } from './limits.js';
export { closeSpareWorkers, spareWorkersOnline } from './pool.js';

/** ABI versions this host implements. */
export const SUPPORTED_ABI_VERSIONS: readonly number[] = [1];

/** Answers of the main thread's instance handed over at once in one turn of the event loop (see answerInline). */
const INLINE_ANSWERS_PER_TURN = 64;

/**
 * Compiles an extension's module under its memory limit, starts its instances and runs
 * `plugin_init` in each. Resolves once the first instance is ready to serve (the others join
 * the pool as they come up).
 *
 * @throws SpacedriveError EXTENSION_INVALID (not a module, missing exports, unknown imports),
 *   ABI_UNSUPPORTED, REGISTRATION_REJECTED, EXTENSION_LOAD_FAILED (plugin_init returned
 *   non-zero), EXTENSION_TIMEOUT (plugin_init ran past `initTimeoutMs`), EXTENSION_TRAPPED,
 *   EXTENSION_OUT_OF_MEMORY.
 * @example
 * const sandbox = await loadSandbox({ id: 'hello', version: '1.0.0', wasm, limits, bridge, config: {}, logger });
 * const out = await sandbox.call('hello_handler', { name: 'Ada' }, { chain: [] });
 */
export async function loadSandbox(opts: LoadSandboxOptions): Promise<ExtensionSandbox> {
  checkLimits(opts.limits);
  // The first instance's thread starts while the module compiles.
  startSpareWorker();
  const plan = applyMemoryMaximum(opts.wasm, opts.limits.memoryMaxBytes);
  let module: WasmModule;
  try {
    module = await wasm.compile(plan.bytes);
  } catch (e) {
    throw new SpacedriveError(ErrorCode.EXTENSION_INVALID, `extension '${opts.id}': the module does not compile: ${(e as Error).message}`, {
      extension: opts.id,
      export: '(compile)',
      cause: (e as Error).message,
    });
  }
  for (const imp of wasm.Module.imports(module)) {
    // Memories are provided by the worker, with the limits from `plan`; functions are checked below.
    if (imp.kind === 'memory' || imp.kind === 'function') continue;
    throw new SpacedriveError(
      ErrorCode.EXTENSION_INVALID,
      `extension '${opts.id}': imports ${imp.kind} ${imp.module}.${imp.name}, which the host does not provide`,
      { extension: opts.id, export: '(imports)', cause: `unsupported ${imp.kind} import` },
    );
  }
  // Every function import is checked against the ABI's table, signature included: refused ones
  // are stubbed so that sd_abi_version can still be read, then refused (see guest-runtime).
  const refusedImports: SharedInit['refusedImports'] = [];
  for (const imp of functionImports(plan.bytes)) {
    const why = hostImportProblem(imp.module, imp.name, imp.signature);
    if (why !== undefined) refusedImports.push({ module: imp.module, name: imp.name, why });
  }
  const shared: Omit<SharedInit, 'module'> = {
    id: opts.id,
    version: opts.version,
    config: opts.config,
    refusedImports,
    importedMemory: plan.importedMemory,
    memoryMaxBytes: plan.maxPages * 65_536,
    registrationLimits: registrationLimits(opts.limits),
    initTimeoutMs: opts.limits.initTimeoutMs,
    supportedAbi: [...SUPPORTED_ABI_VERSIONS],
  };
  const sandbox = new Sandbox(opts, { ...shared, module });
  // The metered copy for the main thread compiles while the first worker starts.
  const inline = opts.inline === false || refusedImports.length > 0 ? null : InlineInstance.prepare(plan.bytes, shared, sandbox.inlineHost);
  await sandbox.start();
  sandbox.inline = await inline;
  return sandbox;
}

/** One extension's sandbox: checks each call, runs it inline or hands it to the scheduler, routes what the workers post. */
class Sandbox implements ExtensionSandbox, PumpSink<Instance> {
  readonly id: string;
  registrations: readonly GuestRegistration[] = [];
  /** The metered instance on the main thread for short calls (inline.ts), if the module allows one. */
  inline: InlineInstance | null = null;
  readonly inlineHost: InlineHost;
  readonly #opts: LoadSandboxOptions;
  readonly #limits: LoadSandboxOptions['limits'];
  readonly #errors: SandboxErrors;
  readonly #pool: Pool;
  readonly #pump: MessagePump<Instance>;
  readonly #scheduler: Scheduler;
  readonly #hostRequests: HostRequests<Instance, PendingCall>;
  #handlerExports = new Set<string>();
  #inlineCalls = 0;
  #closing = false;
  #closePromise: Promise<void> | undefined;
  #inlineAnsweredThisTurn = 0;
  #inlineDeferred: (() => void)[] = [];

  constructor(opts: LoadSandboxOptions, shared: SharedInit) {
    this.id = opts.id;
    this.#opts = opts;
    this.#limits = { ...opts.limits };
    this.#errors = new SandboxErrors(opts.id);
    this.#pool = new Pool(opts.id, shared, this.#limits, opts.logger, this.#errors);
    this.#pump = new MessagePump(this.#pool.instances, this);
    this.#scheduler = new Scheduler(opts.id, this.#limits, this.#pool, this.#pump, this.#errors);
    this.#pool.connect(this.#scheduler, this.#pump);
    this.#hostRequests = new HostRequests(opts.id, opts.bridge, opts.logger, (inst, pc) => this.#scheduler.pauseClock(inst, pc));
    this.inlineHost = {
      jobInterrupt: (jobId) => this.#hostRequests.jobInterrupt(jobId),
      note: (message, exportFn) => {
        opts.logger.debug({ extension: this.id, ...(exportFn !== undefined ? { export: exportFn } : {}) }, message);
      },
    };
  }

  /** Starts the pool; resolves when the first instance is ready, rejects if it fails. */
  async start(): Promise<void> {
    const regs = await this.#pool.startFirst((r) => checkRegistrationCounts(this.id, r, this.#pool.shared.registrationLimits));
    this.registrations = Object.freeze(regs);
    this.#handlerExports = new Set(regs.map((r) => r.exportFn));
    this.#pool.fill();
  }

  call(exportFn: string, input: unknown, opts: SandboxCallOptions): Promise<unknown> {
    const prepared = this.#prepare(exportFn, input, opts);
    if (prepared instanceof SpacedriveError) return Promise.reject(prepared);
    const { text, inputBytes } = prepared;
    const inline = this.inline;
    if (inline !== null && inline.accepts(exportFn)) {
      const result = inline.run(this.#inlineRequest(exportFn, text, inputBytes, opts));
      if (result !== undefined) return this.#answerInline(exportFn, result, opts);
    }
    return new Promise((resolve, reject) => {
      this.#scheduler.submit({
        exportFn,
        input: text,
        inputBytes,
        opts,
        timeoutMs: opts.timeoutMs ?? this.#limits.callTimeoutMs,
        resolve,
        reject,
        seq: 0,
        inst: undefined,
        cancelled: false,
        done: false,
      });
    });
  }

  /**
   * {@link ExtensionSandbox.callNow}: the call answered at once by the main thread's instance, or
   * undefined (nothing ran) when it is not one for that instance; then call() runs it.
   */
  callNow(exportFn: string, input: unknown, opts: SandboxCallOptions): ImmediateAnswer | undefined {
    const inline = this.inline;
    if (inline === null || !inline.accepts(exportFn)) return undefined;
    const prepared = this.#prepare(exportFn, input, opts);
    if (prepared instanceof SpacedriveError) return { ok: false, error: prepared };
    const result = inline.run(this.#inlineRequest(exportFn, prepared.text, prepared.inputBytes, opts));
    return result === undefined ? undefined : this.#inlineAnswer(exportFn, result, opts);
  }

  stats(): SandboxStats {
    const { instances, busy, queued } = this.#scheduler.load();
    return { instances, busy, queued, replaced: this.#pool.replaced, calls: this.#scheduler.calls + this.#inlineCalls, inline: this.#inlineCalls };
  }

  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    await this.#scheduler.drained();
    this.#pool.closed = true;
    this.#scheduler.stop();
    const inlineLogs = this.inline?.close() ?? [];
    this.inline = null;
    if (inlineLogs.length > 0) this.#forwardLogs(inlineLogs, undefined);
    await this.#pool.cleanup();
  }

  /** What every call checks first: the sandbox is open, the export a handler, the input JSON within its limit, the caller still waiting. */
  #prepare(exportFn: string, input: unknown, opts: SandboxCallOptions): { text: string; inputBytes: number } | SpacedriveError {
    if (this.#closing) return this.#errors.unloading();
    if (this.#pool.broken && this.#pool.instances.size === 0) return this.#pool.broken;
    if (!this.#handlerExports.has(exportFn)) {
      return new SpacedriveError(ErrorCode.NOT_FOUND, `extension '${this.id}' registered no handler with export '${exportFn}'`, {
        extension: this.id,
        export: exportFn,
      });
    }
    let text: string | undefined;
    try {
      text = JSON.stringify(input);
    } catch (e) {
      return this.#errors.input(exportFn, `input is not JSON-serialisable: ${(e as Error).message}`);
    }
    text ??= 'null';
    const inputBytes = Buffer.byteLength(text);
    if (inputBytes > this.#limits.maxInputBytes) {
      return this.#errors.input(exportFn, `input is ${inputBytes} bytes, over the limit of ${this.#limits.maxInputBytes} bytes`);
    }
    if (opts.signal?.aborted || opts.canceller?.cancelled) return this.#errors.cancelled(exportFn);
    return { text, inputBytes };
  }

  // ---- the main thread's instance ----------------------------------------------------------

  #inlineRequest(exportFn: string, input: string, inputBytes: number, opts: SandboxCallOptions) {
    return {
      exportFn,
      input,
      inputBytes,
      jobId: opts.jobId ?? null,
      maxOutputBytes: this.#limits.maxOutputBytes,
      timeoutMs: opts.timeoutMs ?? this.#limits.callTimeoutMs,
    };
  }

  /** A call the main thread's instance ran, start to end: counted, its logs forwarded, its answer. */
  #inlineAnswer(exportFn: string, result: Extract<FromWorker, { t: 'result' }>, opts: SandboxCallOptions): ImmediateAnswer {
    this.#inlineCalls++;
    opts.onStart?.();
    if (result.logs.length > 0) this.#forwardLogs(result.logs, opts.jobId);
    return result.ok
      ? { ok: true, value: 'value' in result ? result.value : JSON.parse(result.output) }
      : { ok: false, error: this.#errors.fromWorker(result.error, exportFn) };
  }

  /**
   * The answer of a call the main thread's instance ran (it started and ended there). Answered
   * at once, up to INLINE_ANSWERS_PER_TURN in one turn of the event loop; past that, in the next
   * check phase: a caller that calls again as soon as it has its answer must still let the event
   * loop turn (timers, I/O), as it would with answers that come from a worker.
   */
  #answerInline(exportFn: string, result: Extract<FromWorker, { t: 'result' }>, opts: SandboxCallOptions): Promise<unknown> {
    const answer = this.#inlineAnswer(exportFn, result, opts);
    const settle = (resolve: (v: unknown) => void, reject: (e: unknown) => void) => (answer.ok ? resolve(answer.value) : reject(answer.error));
    if (this.#inlineAnsweredThisTurn++ === 0) setImmediate(this.#nextInlineTurn);
    if (this.#inlineAnsweredThisTurn <= INLINE_ANSWERS_PER_TURN) return new Promise(settle);
    return new Promise((resolve, reject) => this.#inlineDeferred.push(() => settle(resolve, reject)));
  }

  readonly #nextInlineTurn = (): void => {
    this.#inlineAnsweredThisTurn = 0;
    const deferred = this.#inlineDeferred;
    this.#inlineDeferred = [];
    for (const answer of deferred) answer();
  };

  // ---- what the workers post (PumpSink) ----------------------------------------------------

  message(inst: Instance, msg: FromWorker): void {
    // Lines logged during a call come with its result or its host calls: the oldest call in flight.
    if (msg.logs.length > 0) this.#forwardLogs(msg.logs, msg.t === 'ready' || msg.t === 'fail' || msg.t === 'cleaned' ? undefined : inst.inflight[0]?.opts.jobId);
    switch (msg.t) {
      case 'result':
        this.#scheduler.onResult(inst, msg);
        return;
      case 'bridge':
        this.#hostRequests.serve(inst, msg, inst.inflight[0]);
        return;
      case 'ready':
        this.#pool.initDone(inst, { registrations: msg.registrations });
        return;
      case 'fail':
        this.#pool.initDone(inst, { error: msg.error });
        return;
      case 'skipped':
        this.#scheduler.onSkipped(inst, msg.seq);
        return;
      case 'cleaned':
        inst.cleaned?.();
        return;
      case 'logs':
        return;
    }
  }

  polled(polling: boolean): void {
    this.#scheduler.polled(polling);
  }

  #forwardLogs(logs: LogLine[], jobId: string | undefined): void {
    for (const [level, text] of logs) {
      try {
        this.#opts.bridge.log(level, text, jobId);
      } catch (e) {
        this.#opts.logger.warn({ extension: this.id, err: (e as Error).message }, 'bridge.log failed');
      }
    }
  }
}
