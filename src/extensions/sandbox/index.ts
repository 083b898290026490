/**
 * The WebAssembly sandbox: runs one extension's module on a pool of worker threads, serving
 * the host side of ABI v1 (docs/extension-abi.md) under the extension's limits.
 *
 * Why worker threads: extension code must never block the daemon's event loop, and a runaway
 * must be stoppable. `worker.terminate()` stops a wasm infinite loop within milliseconds;
 * nothing running on the main thread could be preempted like that.
 *
 * The call path is built for latency. The module is compiled once here and the compiled
 * `WebAssembly.Module` is shared with every worker (no recompilation per instance). A call is
 * one `postMessage` on a MessagePort plus an `Atomics.notify`; the worker, blocked in
 * `Atomics.wait`, reads it synchronously with `receiveMessageOnPort`, runs the guest and posts
 * the reply the same way; the main thread waits with `Atomics.waitAsync` instead of a `message`
 * event (one wake-up drains every reply that arrived). Under load, calls are pipelined to busy
 * instances and batched (see PIPELINE_DEPTH). The hottest messages travel as bare strings, and
 * sd_call replies come back through a shared buffer rather than a postMessage. Guest→host calls
 * that need no main-thread state are served inside the worker; the rest block the worker while
 * the main thread answers. A spare worker is kept started, because starting a thread is most of
 * an extension's load time.
 *
 * Knows nothing of manifests, permissions or registries: it loads bytes, runs `plugin_init`,
 * reports registrations and serves calls. The extension manager (src/extensions) does the rest.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ErrorCode, SpacedriveError, toWireError } from '../../errors/index.js';
import {
  CTRL,
  REPLY_BUFFER_BYTES,
  type CompactFromWorker,
  type FromWorker,
  type LogLine,
  type SharedInit,
  type ToWorker,
  type WorkerChannels,
  type WorkerError,
} from './protocol.js';
import type {
  ExtensionSandbox,
  GuestRegistration,
  ImmediateAnswer,
  HostBridge,
  LoadSandboxOptions,
  RegistrationLimits,
  SandboxCallOptions,
  SandboxLimits,
  SandboxStats,
} from './types.js';
import { InlineInstance } from './inline.js';
import { hostImportProblem } from './host-imports.js';
import { functionImports } from './wasm-binary.js';
import { applyMemoryMaximum } from './wasm-limits.js';
import { waitAsync, wasm, type WasmModule } from './wasm-types.js';
import { createGuestRuntime } from './guest-runtime.js';
import { sandboxWorkerMain } from './worker-main.js';

export type * from './types.js';
export { applyMemoryMaximum, WASM_PAGE_BYTES, type MemoryPlan } from './wasm-limits.js';

/** ABI versions this host implements. */
export const SUPPORTED_ABI_VERSIONS: readonly number[] = [1];

export { HOST_IMPORTS, HOST_IMPORT_SIGNATURES, HOST_MODULE } from './host-imports.js';

/** What plugin_init may register when SandboxLimits.registrations leaves a limit out. */
export const DEFAULT_REGISTRATION_LIMITS: Readonly<RegistrationLimits> = Object.freeze({
  maxOperations: 1000,
  maxJobTypes: 1000,
  maxSchemaBytes: 64 * 1024,
  maxRegistrationBytes: 4 * 1024 * 1024,
});

/** Consecutive failed starts of a replacement instance after which the sandbox stops trying. */
const MAX_START_FAILURES = 5;

/**
 * Calls one instance may hold: the one running plus the ones posted behind it. Posting the next
 * calls before the current one returns lets the worker go straight on to them (no round trip of
 * idle time per call) and lets one main-thread wake-up collect several replies; that is what
 * carries throughput with many calls in flight (measured on 2 busy cores: ~30k calls/s with one
 * call per instance, ~100k/s with batches of 16). Job calls pipeline like any other: the jobs a
 * claim starts travel to an instance together, and their results come back together.
 *
 * The trade-off is fairness: a call posted behind a slow one would wait for it even if another
 * instance frees up. So a new call is posted behind at most one other (PIPELINE_DEPTH_LIGHT)
 * while nothing is queued; deeper batches (up to PIPELINE_DEPTH) form only from the queue, when
 * calls are waiting anyway; nothing is posted behind a call waiting on the host (a bridge call);
 * and once the running call has run STEAL_AFTER_MS while another instance is idle, the calls
 * behind it that have not started are taken back and handed to the idle one (see CTRL.GEN).
 */
const PIPELINE_DEPTH = 16;
const PIPELINE_DEPTH_LIGHT = 2;
const STEAL_AFTER_MS = 2;

/**
 * How long the main thread polls for an instance's messages (once per turn of its event loop,
 * which keeps serving I/O and timers meanwhile) after the last one came, before it waits for a
 * wake-up (Atomics.waitAsync). Waking an idle event loop costs tens of microseconds on some
 * machines (a virtual CPU's interrupt): more than a short call itself. Polling for a moment picks
 * up quick replies and guest→host calls at once; a long call costs this much polling, once.
 */
const POLL_MS = 0.25;

/**
 * How long the answer to a call may be held back while other calls posted to the same instance
 * are still running, so that the answers to calls posted together reach their callers together.
 * Calls posted together are usually a claim's jobs: answered together, their completions share
 * one commit of the job store and the jobs claimed next travel to an instance as one batch. Answered
 * one by one as they trickled in, every few jobs paid a commit, a claim and a wake-up of their own
 * (no-op extension jobs: about twice as many commits and posts per job, a tenth fewer jobs/s). The
 * hold is bounded: an answer never waits more than this for a slower neighbour.
 */
const RESULT_HOLD_MS = 0.1;

/**
 * How long the main thread waits, spinning, for the answer to a call made while no other call of
 * the sandbox is in flight, before it goes back to its event loop (and to polling once per turn).
 * A short call answers within a few microseconds, sooner than one turn of the event loop: on this
 * kind of machine, one call at a time took 13 µs when the answer was picked up by the next turn's
 * poll and 9 µs when picked up here (the thread round trip alone is 6 µs). A longer call costs
 * this much of the main thread, once; with other calls in flight there is no spin at all.
 */
const REPLY_SPIN_MS = 0.02;

/** Answers of the main thread's instance handed over at once in one turn of the event loop (see answerInline). */
const INLINE_ANSWERS_PER_TURN = 64;

const WORKER_SOURCE = `(${sandboxWorkerMain.toString()})(${createGuestRuntime.toString()});`;

/**
 * The codes a handler may fail with through sd_error and have them reach its caller as they
 * are: they describe the request or the data it names, which is the handler's to judge. Any
 * other code (or none) goes out as EXTENSION_ERROR with the guest's code in
 * `details.guest_code`, so that a guest cannot make a client believe something about the
 * daemon or the connection (SHUTTING_DOWN, INTERNAL, CONNECTION_CLOSED, PERMISSION_DENIED…).
 */
export const GUEST_ERROR_CODES: ReadonlySet<string> = new Set([ErrorCode.INVALID_INPUT, ErrorCode.NOT_FOUND, ErrorCode.ALREADY_EXISTS]);

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

function registrationLimits(l: SandboxLimits): RegistrationLimits {
  return { ...DEFAULT_REGISTRATION_LIMITS, ...l.registrations };
}

/**
 * The main thread's own count of what an instance reports it registered, before anything is
 * built from it: the instance counted too (and stopped plugin_init at the limit), but what
 * crosses a thread boundary is checked where it arrives.
 */
function checkRegistrationCounts(id: string, regs: readonly GuestRegistration[], limits: RegistrationLimits): void {
  const operations = regs.filter((r) => r.kind === 'operation').length;
  const jobTypes = regs.length - operations;
  const refuse = (limit: string, value: number, what: string): never => {
    const cause = `plugin_init registered ${what}, more than limits.${limit} (${value})`;
    throw new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, `extension '${id}', export 'plugin_init': ${cause}`, { extension: id, export: 'plugin_init', cause, limit, value });
  };
  if (operations > limits.maxOperations) refuse('max_operations', limits.maxOperations, `${operations} operations`);
  if (jobTypes > limits.maxJobTypes) refuse('max_job_types', limits.maxJobTypes, `${jobTypes} job types`);
}

function checkLimits(l: SandboxLimits): void {
  const positive = ['callTimeoutMs', 'initTimeoutMs', 'memoryMaxBytes', 'maxInputBytes', 'maxOutputBytes', 'instances'] as const;
  for (const k of positive) {
    if (!Number.isFinite(l[k]) || l[k] <= 0) {
      throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `sandbox limit '${k}' must be a positive number (got ${String(l[k])})`, { field: k });
    }
  }
  if (!Number.isInteger(l.instances)) throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `sandbox limit 'instances' must be an integer`, { field: 'instances' });
  if (!Number.isInteger(l.maxQueue) || l.maxQueue < 0) {
    throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `sandbox limit 'maxQueue' must be an integer >= 0`, { field: 'maxQueue' });
  }
  for (const [k, v] of Object.entries(registrationLimits(l))) {
    if (!Number.isInteger(v) || v < 0) {
      throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `sandbox limit 'registrations.${k}' must be an integer >= 0 (got ${String(v)})`, { field: `registrations.${k}` });
    }
  }
}

/** The message in an sd_error text: its `message` field when it is a JSON error, else the text. */
function guestMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string') {
      return (parsed as { message: string }).message;
    }
  } catch {
    // plain text
  }
  return text;
}

const NO_LOGS: LogLine[] = [];
const replyEncoder = new TextEncoder();

/** Turns a compact string message (see protocol.ts) back into its object form. */
function expandCompact(m: CompactFromWorker): FromWorker {
  const tag = m.charCodeAt(0);
  if (tag === 114 /* r */) return { t: 'result', ok: true, output: m.slice(1), logs: NO_LOGS };
  if (tag === 115 /* s */) return { t: 'skipped', seq: Number(m.slice(1)), logs: NO_LOGS };
  const colon = m.indexOf(':');
  const len = Number(m.slice(1, colon));
  return { t: 'bridge', kind: 'call', method: m.slice(colon + 1, colon + 1 + len), payload: m.slice(colon + 1 + len), logs: NO_LOGS };
}

/** A started worker thread and its channels, not yet bound to an extension. */
interface WorkerHandle {
  worker: Worker;
  ctrl: Int32Array;
  inPort: MessagePort;
  outPort: MessagePort;
  bridgePort: MessagePort;
  replyBytes: Uint8Array;
  /** Resolves when the thread runs (and is waiting for its first message). */
  online: Promise<void>;
}

/**
 * Workers kept started and waiting for an extension. Starting a worker thread costs 20–70 ms
 * (most of an extension's load time, and of the gap before a failed instance is replaced);
 * taking a spare costs nothing, and a new spare starts in the background.
 */
const SPARE_WORKERS = 1;
const spares: WorkerHandle[] = [];

function startWorker(): WorkerHandle {
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL.SIZE * 4));
  const toWorker = new MessageChannel();
  const fromWorker = new MessageChannel();
  const bridgeReplies = new MessageChannel();
  const replyBuffer = new SharedArrayBuffer(REPLY_BUFFER_BYTES);
  const channels: WorkerChannels = {
    ctrl,
    inPort: toWorker.port2,
    outPort: fromWorker.port1,
    bridgePort: bridgeReplies.port2,
    replyBuffer,
  };
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: channels,
    transferList: [toWorker.port2, fromWorker.port1, bridgeReplies.port2],
    stdout: false,
    stderr: false,
  });
  // Idle workers must not keep the process alive; calls in flight hold a timer that does.
  worker.unref();
  const online = new Promise<void>((resolve) => {
    worker.once('online', () => resolve());
    worker.once('exit', () => resolve());
  });
  return {
    worker,
    ctrl,
    inPort: toWorker.port1,
    outPort: fromWorker.port2,
    bridgePort: bridgeReplies.port1,
    replyBytes: new Uint8Array(replyBuffer),
    online,
  };
}

function takeWorker(): WorkerHandle {
  const handle = spares.pop() ?? startWorker();
  // The next spare starts once this one runs, so it does not compete with it for the CPU.
  void handle.online.then(refillSpares);
  return handle;
}

function refillSpares(): void {
  while (spares.length < SPARE_WORKERS) {
    const h = startWorker();
    const gone = () => {
      const i = spares.indexOf(h);
      if (i >= 0) spares.splice(i, 1);
    };
    h.worker.on('error', gone);
    h.worker.once('exit', gone);
    spares.push(h);
  }
}

/** Resolves once the spare workers have started (benchmarks use it to measure a warm host). */
export async function spareWorkersOnline(): Promise<void> {
  const waiting = [...spares];
  // Spares are unref'd; hold the process open while waiting for them.
  for (const h of waiting) h.worker.ref();
  try {
    await Promise.all(waiting.map((h) => h.online));
  } finally {
    for (const h of waiting) h.worker.unref();
  }
}

/** Stops the spare workers (they never keep the process alive; this is for tidy shutdowns). */
export async function closeSpareWorkers(): Promise<void> {
  await Promise.all(spares.splice(0).map((h) => h.worker.terminate()));
}

interface PendingCall {
  exportFn: string;
  input: string;
  inputBytes: number;
  opts: SandboxCallOptions;
  timeoutMs: number;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  /** Dispatch number on its instance (the worker publishes the one it started in CTRL.STARTED). */
  seq: number;
  /** The instance it was posted to; undefined while it waits in the queue. */
  inst: Instance | undefined;
  /** Its caller gave up (signal aborted, or its CallCanceller): never started again, answered CANCELLED. */
  cancelled: boolean;
  /** Settled (answered or failed): nothing more happens to it. */
  done: boolean;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
}

type InstanceState = 'starting' | 'idle' | 'busy' | 'cleaning' | 'dead';

/** One instance: a worker thread with its own instantiation of the module. */
class Instance {
  state: InstanceState = 'starting';
  /** Calls posted to this instance, oldest (the one running) first. */
  readonly inflight: PendingCall[] = [];
  nextSeq = 1;
  /** Mirror of CTRL.GEN: the generation new calls are posted under. */
  gen = 0;
  /** When the oldest call in flight became the oldest (performance.now()): how long it has run, about. */
  headSince = 0;
  /** Calls posted in this turn, sent together at its end (one post, one wake-up). */
  #outbox: ToWorker[] | null = null;
  /** This turn's calls found the instance idle: more calls made in the turn may join them (see Sandbox.call). */
  wokenThisTurn = false;
  /** Last value of the OUT counter this side has seen. */
  outSeen = 0;
  /** Bridge requests of the running call being served by the main thread. */
  inBridge = 0;
  armed = false;
  readonly started: Promise<GuestRegistration[]>;
  startResolve!: (r: GuestRegistration[]) => void;
  startReject!: (e: unknown) => void;
  initTimer: NodeJS.Timeout | undefined;
  cleaned: (() => void) | undefined;

  constructor(
    readonly worker: Worker,
    readonly ctrl: Int32Array,
    readonly inPort: MessagePort,
    readonly outPort: MessagePort,
    readonly bridgePort: MessagePort,
    readonly replyBytes: Uint8Array,
  ) {
    this.started = new Promise((resolve, reject) => {
      this.startResolve = resolve;
      this.startReject = reject;
    });
    // Callers that never await (background replacements) must not cause unhandled rejections.
    this.started.catch(() => undefined);
  }

  /**
   * Queues a call for the end of this turn: calls made together (a claim starting several jobs,
   * a batch from the queue) travel as one array, with one post and one wake-up.
   */
  post(msg: ToWorker): void {
    if (this.#outbox !== null) {
      this.#outbox.push(msg);
      return;
    }
    this.#outbox = [msg];
    queueMicrotask(() => this.#flushOutbox());
  }

  #flushOutbox(): void {
    const batch = this.#outbox;
    this.#outbox = null;
    this.wokenThisTurn = false;
    if (batch === null || this.state === 'dead') return;
    this.#postNow(batch.length === 1 ? batch[0]! : batch);
  }

  /** Posts a message now, after any calls queued by post() (which it must not overtake). */
  send(msg: ToWorker): void {
    this.#flushOutbox();
    this.#postNow(msg);
  }

  #postNow(msg: ToWorker | ToWorker[]): void {
    this.inPort.postMessage(msg);
    Atomics.add(this.ctrl, CTRL.IN, 1);
    Atomics.notify(this.ctrl, CTRL.IN);
  }

  answerBridge(reply: unknown): void {
    if (this.state === 'dead') return;
    this.inBridge--;
    let len = -1;
    if (typeof reply === 'string') {
      const { read, written } = replyEncoder.encodeInto(reply, this.replyBytes);
      if (read === reply.length) len = written;
    }
    if (len < 0) this.bridgePort.postMessage(reply);
    Atomics.store(this.ctrl, CTRL.REPLY_LEN, len);
    Atomics.add(this.ctrl, CTRL.BRIDGE, 1);
    Atomics.notify(this.ctrl, CTRL.BRIDGE);
  }
}

class Sandbox implements ExtensionSandbox {
  readonly id: string;
  registrations: readonly GuestRegistration[] = [];
  private readonly limits: SandboxLimits;
  private readonly bridge: HostBridge;
  private readonly instances = new Set<Instance>();
  private readonly idle: Instance[] = [];
  private readonly queue: PendingCall[] = [];
  private handlerExports = new Set<string>();
  private replaced = 0;
  private calls = 0;
  private inlineCalls = 0;
  /** Calls posted to an instance and not yet answered (running or pipelined). */
  private inflightCalls = 0;
  private startFailures = 0;
  private broken: SpacedriveError | undefined;
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;
  private drainWaiters: (() => void)[] = [];
  /** Set while a busy instance's calls wait to be old enough to take back (see rebalance). */
  private rebalanceTimer: NodeJS.Timeout | undefined;
  /** Answers held back for their neighbours (see RESULT_HOLD_MS), in arrival order, and since when. */
  private held: { pc: PendingCall; msg: Extract<FromWorker, { t: 'result' }> }[] = [];
  private heldSince = 0;
  /** Whether pollTick is scheduled, and until when it keeps polling without news. */
  private polling = false;
  private pollUntil = 0;
  /** The metered instance on the main thread for short calls (inline.ts), if the module allows one. */
  inline: InlineInstance | null = null;
  readonly inlineHost = {
    jobInterrupt: (jobId: string): number => this.jobInterrupt(jobId),
    note: (message: string, exportFn?: string): void => {
      this.opts.logger.debug({ extension: this.id, ...(exportFn !== undefined ? { export: exportFn } : {}) }, message);
    },
  };

  constructor(
    private readonly opts: LoadSandboxOptions,
    private readonly shared: SharedInit,
  ) {
    this.id = opts.id;
    this.limits = { ...opts.limits };
    this.bridge = opts.bridge;
  }

  /**
   * Pre-warms the pool; resolves when the first instance is ready, rejects if it fails. The
   * other instances start once the first is ready: on a small machine, threads starting side by
   * side slow each other down, and the first instance is what makes the extension usable.
   */
  async start(): Promise<void> {
    const first = this.spawn();
    let regs: GuestRegistration[];
    try {
      regs = await first.started;
      checkRegistrationCounts(this.id, regs, this.shared.registrationLimits);
    } catch (e) {
      this.closed = true;
      for (const inst of [...this.instances]) this.kill(inst);
      throw e;
    }
    this.registrations = Object.freeze(regs);
    this.handlerExports = new Set(regs.map((r) => r.exportFn));
    this.release(first);
    for (let i = 1; i < this.limits.instances; i++) this.whenStarted(this.spawn());
  }

  call(exportFn: string, input: unknown, opts: SandboxCallOptions): Promise<unknown> {
    const prepared = this.prepare(exportFn, input, opts);
    if (prepared instanceof SpacedriveError) return Promise.reject(prepared);
    const { text, inputBytes } = prepared;
    const inline = this.inline;
    if (inline !== null && inline.accepts(exportFn)) {
      const result = inline.run(this.inlineRequest(exportFn, text, inputBytes, opts));
      if (result !== undefined) return this.answerInline(exportFn, result, opts);
    }
    return new Promise((resolve, reject) => {
      const pc: PendingCall = {
        exportFn,
        input: text,
        inputBytes,
        opts,
        timeoutMs: opts.timeoutMs ?? this.limits.callTimeoutMs,
        resolve,
        reject,
        seq: 0,
        inst: undefined,
        cancelled: false,
        done: false,
      };
      this.listen(pc);
      // Calls made in the same turn (a claim starting several jobs, a client's burst) join the
      // instance the first of them woke, up to PIPELINE_DEPTH: waking a sleeping thread is the
      // dearest part of a short call, and one wake-up then serves them all. Calls that turn out
      // slow are spread to idle instances after STEAL_AFTER_MS (rebalance).
      const inst = this.joinable() ?? this.idle.pop() ?? (this.queue.length === 0 ? this.pipelineTarget() : undefined);
      if (inst !== undefined) {
        this.dispatch(inst, pc);
        return;
      }
      const { busy, queued } = this.stats();
      if (queued >= this.limits.maxQueue) {
        this.settle(pc);
        reject(
          new SpacedriveError(
            ErrorCode.OVERLOADED,
            `extension '${this.id}' is overloaded: ${busy} instance(s) busy and ${queued} call(s) waiting (limit ${this.limits.maxQueue}); try again later`,
            { extension: this.id, export: exportFn, running: busy, queued },
          ),
        );
        return;
      }
      this.queue.push(pc);
    });
  }

  /**
   * {@link ExtensionSandbox.callNow}: the call answered at once by the main thread's instance, or
   * undefined (nothing ran) when it is not one for that instance; then call() runs it.
   */
  callNow(exportFn: string, input: unknown, opts: SandboxCallOptions): ImmediateAnswer | undefined {
    const inline = this.inline;
    if (inline === null || !inline.accepts(exportFn)) return undefined;
    const prepared = this.prepare(exportFn, input, opts);
    if (prepared instanceof SpacedriveError) return { ok: false, error: prepared };
    const result = inline.run(this.inlineRequest(exportFn, prepared.text, prepared.inputBytes, opts));
    return result === undefined ? undefined : this.inlineAnswer(exportFn, result, opts);
  }

  /** A call the main thread's instance ran, start to end: counted, its logs forwarded, its answer. */
  private inlineAnswer(exportFn: string, result: Extract<FromWorker, { t: 'result' }>, opts: SandboxCallOptions): ImmediateAnswer {
    this.calls++;
    this.inlineCalls++;
    opts.onStart?.();
    if (result.logs.length > 0) this.forwardLogs(result.logs, opts.jobId);
    return result.ok ? { ok: true, value: 'value' in result ? result.value : JSON.parse(result.output) } : { ok: false, error: this.toError(result.error, exportFn) };
  }

  /** What every call checks first: the sandbox is open, the export a handler, the input JSON within its limit, the caller still waiting. */
  private prepare(exportFn: string, input: unknown, opts: SandboxCallOptions): { text: string; inputBytes: number } | SpacedriveError {
    if (this.closing) return new SpacedriveError(ErrorCode.SHUTTING_DOWN, `extension '${this.id}' is being unloaded`, { extension: this.id });
    if (this.broken && this.instances.size === 0) return this.broken;
    if (!this.handlerExports.has(exportFn)) {
      return new SpacedriveError(ErrorCode.NOT_FOUND, `extension '${this.id}' registered no handler with export '${exportFn}'`, {
        extension: this.id,
        export: exportFn,
      });
    }
    let text: string | undefined;
    try {
      text = JSON.stringify(input);
    } catch (e) {
      return this.inputError(exportFn, `input is not JSON-serialisable: ${(e as Error).message}`);
    }
    text ??= 'null';
    const inputBytes = Buffer.byteLength(text);
    if (inputBytes > this.limits.maxInputBytes) {
      return this.inputError(exportFn, `input is ${inputBytes} bytes, over the limit of ${this.limits.maxInputBytes} bytes`);
    }
    if (opts.signal?.aborted || opts.canceller?.cancelled) return this.cancelled(exportFn);
    return { text, inputBytes };
  }

  private inlineRequest(exportFn: string, input: string, inputBytes: number, opts: SandboxCallOptions) {
    return {
      exportFn,
      input,
      inputBytes,
      jobId: opts.jobId ?? null,
      maxOutputBytes: this.limits.maxOutputBytes,
      timeoutMs: opts.timeoutMs ?? this.limits.callTimeoutMs,
    };
  }

  /**
   * The answer of a call the main thread's instance ran (it started and ended there). Answered
   * at once, up to INLINE_ANSWERS_PER_TURN in one turn of the event loop; past that, in the next
   * check phase: a caller that calls again as soon as it has its answer must still let the event
   * loop turn (timers, I/O), as it would with answers that come from a worker.
   */
  private answerInline(exportFn: string, result: Extract<FromWorker, { t: 'result' }>, opts: SandboxCallOptions): Promise<unknown> {
    const answer = this.inlineAnswer(exportFn, result, opts);
    const settle = (resolve: (v: unknown) => void, reject: (e: unknown) => void) => (answer.ok ? resolve(answer.value) : reject(answer.error));
    if (this.inlineAnsweredThisTurn++ === 0) setImmediate(this.nextInlineTurn);
    if (this.inlineAnsweredThisTurn <= INLINE_ANSWERS_PER_TURN) return new Promise(settle);
    return new Promise((resolve, reject) => this.inlineDeferred.push(() => settle(resolve, reject)));
  }

  private inlineAnsweredThisTurn = 0;
  private inlineDeferred: (() => void)[] = [];
  private readonly nextInlineTurn = (): void => {
    this.inlineAnsweredThisTurn = 0;
    const deferred = this.inlineDeferred;
    this.inlineDeferred = [];
    for (const answer of deferred) answer();
  };

  /** Wherever a call is (queued, posted, running), its signal or canceller cancels it. */
  private listen(pc: PendingCall): void {
    pc.opts.canceller?.bind(() => this.cancel(pc));
    const signal = pc.opts.signal;
    if (!signal) return;
    pc.onAbort = () => this.cancel(pc);
    signal.addEventListener('abort', pc.onAbort, { once: true });
  }

  stats(): SandboxStats {
    let live = 0;
    let busy = 0;
    for (const inst of this.instances) {
      if (inst.state !== 'dead') live++;
      if (inst.inflight.length > 0) busy++;
    }
    // Calls pipelined behind a running one are waiting too.
    const queued = this.queue.length + this.inflightCalls - busy;
    return { instances: live, busy, queued, replaced: this.replaced, calls: this.calls, inline: this.inlineCalls };
  }

  /**
   * Whether calls may be posted behind what this instance is running now: not while its call
   * waits on the host (a bridge call may take long: a fetch, another extension).
   */
  private canQueueBehind(inst: Instance): boolean {
    return inst.inBridge === 0;
  }

  /** The instance woken in this turn, while it can take more calls (see call()). */
  private joinable(): Instance | undefined {
    for (const inst of this.instances) {
      if (inst.wokenThisTurn && inst.state === 'busy' && inst.inflight.length < PIPELINE_DEPTH && this.canQueueBehind(inst)) return inst;
    }
    return undefined;
  }

  /** The busy instance with the fewest calls that can take one more behind them, if any. */
  private pipelineTarget(): Instance | undefined {
    let best: Instance | undefined;
    for (const inst of this.instances) {
      const n = inst.inflight.length;
      if (inst.state !== 'busy' || n === 0 || n >= PIPELINE_DEPTH_LIGHT || !this.canQueueBehind(inst)) continue;
      if (best === undefined || n < best.inflight.length) best = inst;
    }
    return best;
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    if (this.inflightCalls > 0 || this.queue.length > 0) await new Promise<void>((r) => this.drainWaiters.push(r));
    this.closed = true;
    if (this.rebalanceTimer) clearTimeout(this.rebalanceTimer);
    const inlineLogs = this.inline?.close() ?? [];
    this.inline = null;
    if (inlineLogs.length > 0) this.forwardLogs(inlineLogs, undefined);
    const waits = [...this.instances].map(async (inst) => {
      // An instance still starting ran (or is running) plugin_init: it gets plugin_cleanup too.
      if (inst.state === 'starting') await inst.started.catch(() => undefined);
      if (inst.state !== 'idle' && inst.state !== 'starting') {
        this.kill(inst);
        return;
      }
      const i = this.idle.indexOf(inst);
      if (i >= 0) this.idle.splice(i, 1);
      inst.state = 'cleaning';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.opts.logger.warn({ extension: this.id }, `plugin_cleanup ran past ${this.limits.initTimeoutMs} ms; instance stopped`);
          resolve();
        }, this.limits.initTimeoutMs);
        inst.cleaned = () => {
          clearTimeout(timer);
          resolve();
        };
        inst.send({ t: 'cleanup' });
        this.watch(inst);
      });
      this.kill(inst);
    });
    await Promise.all(waits);
  }

  // ---- instances ---------------------------------------------------------------------------

  private spawn(): Instance {
    const h = takeWorker();
    h.inPort.postMessage({ t: 'init', init: this.shared } satisfies ToWorker);
    Atomics.add(h.ctrl, CTRL.IN, 1);
    Atomics.notify(h.ctrl, CTRL.IN);
    const worker = h.worker;
    const inst = new Instance(worker, h.ctrl, h.inPort, h.outPort, h.bridgePort, h.replyBytes);
    this.instances.add(inst);
    worker.on('error', (err: Error & { code?: string }) => {
      const code = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? ErrorCode.EXTENSION_OUT_OF_MEMORY : ErrorCode.EXTENSION_TRAPPED;
      this.lost(inst, { code, cause: `instance failed: ${err.message}` });
    });
    worker.on('exit', (exitCode) => this.lost(inst, { code: ErrorCode.EXTENSION_TRAPPED, cause: `instance exited unexpectedly (code ${exitCode})` }));
    inst.initTimer = setTimeout(() => {
      this.lost(inst, { code: ErrorCode.EXTENSION_TIMEOUT, export: 'plugin_init', cause: `plugin_init ran longer than ${this.limits.initTimeoutMs} ms` });
    }, this.limits.initTimeoutMs);
    this.watch(inst);
    return inst;
  }

  /** Adds a started instance to the pool, or handles its failure to start. */
  private whenStarted(inst: Instance): void {
    inst.started.then(
      () => {
        this.startFailures = 0;
        this.broken = undefined;
        if (inst.state === 'starting') this.release(inst);
      },
      (err: SpacedriveError) => {
        this.startFailures++;
        this.opts.logger.error({ extension: this.id, err: toWireError(err), attempt: this.startFailures }, 'extension instance failed to start');
        if (this.closed) return;
        if (this.startFailures < MAX_START_FAILURES) {
          const backoff = Math.min(5_000, 100 * 2 ** (this.startFailures - 1));
          setTimeout(() => this.replace(), backoff).unref();
          return;
        }
        this.broken = new SpacedriveError(
          ErrorCode.EXTENSION_LOAD_FAILED,
          `extension '${this.id}': no instance could be started after ${this.startFailures} attempts: ${err.message}`,
          { extension: this.id, cause: err.message },
        );
        if (this.instances.size === 0) this.failQueue(this.broken);
      },
    );
  }

  private replace(): void {
    if (this.closed) return;
    this.whenStarted(this.spawn());
  }

  /** Stops an instance for good (no replacement). */
  private kill(inst: Instance): void {
    if (inst.state === 'dead') return;
    inst.state = 'dead';
    this.instances.delete(inst);
    const i = this.idle.indexOf(inst);
    if (i >= 0) this.idle.splice(i, 1);
    if (inst.initTimer) clearTimeout(inst.initTimer);
    // Releases a pending Atomics.waitAsync so it does not linger.
    Atomics.notify(inst.ctrl, CTRL.OUT);
    void inst.worker.terminate();
    inst.inPort.close();
    inst.outPort.close();
    inst.bridgePort.close();
    inst.cleaned?.();
  }

  /**
   * An instance failed (trap, timeout, bad result, crash, preemption): the call that was running
   * fails, the instance is stopped and a replacement starts in the background. Calls pipelined
   * behind it that never started go back to the front of the queue; other instances keep serving.
   *
   * @param failed the call that failed, when its result already left the instance (the worker
   *   then runs nothing more: a failing instance stops taking calls by itself).
   */
  private lost(inst: Instance, err: WorkerError, failed?: PendingCall): void {
    if (inst.state === 'dead') return;
    const wasStarting = inst.state === 'starting';
    // Stop the worker from starting another call, then see which ones it did start: a call is
    // retried elsewhere only if it certainly never ran (the worker publishes STARTED before
    // checking KILL, so nothing slips between the two).
    Atomics.store(inst.ctrl, CTRL.KILL, 1);
    const started = Atomics.load(inst.ctrl, CTRL.STARTED);
    const inflight = inst.inflight.splice(0);
    this.inflightCalls -= inflight.length;
    this.kill(inst);
    if (wasStarting) {
      inst.startReject(this.toError(err, err.export ?? 'plugin_init'));
      return;
    }
    const failing: PendingCall[] = failed ? [failed] : [];
    const retry: PendingCall[] = [];
    for (const pc of inflight) {
      pc.inst = undefined;
      if (!failed && (pc.seq <= started || failing.length === 0)) failing.push(pc);
      else if (pc.cancelled) failing.push(pc);
      else retry.push(pc);
    }
    this.queue.unshift(...retry);
    for (const pc of failing) {
      this.settle(pc);
      pc.reject(pc.cancelled && pc !== failed ? this.cancelled(pc.exportFn) : this.toError(err, pc.exportFn));
    }
    if (this.closed) {
      this.failQueue(new SpacedriveError(ErrorCode.SHUTTING_DOWN, `extension '${this.id}' was unloaded`, { extension: this.id }));
      return;
    }
    this.replaced++;
    this.replace();
    this.pump();
    this.checkDrain();
  }

  /** Hands queued calls to idle instances (after calls were put back in the queue). */
  private pump(): void {
    while (this.queue.length > 0 && this.idle.length > 0) this.fill(this.idle.pop()!);
  }

  // ---- calls -------------------------------------------------------------------------------

  /** Hands a call to an instance (posted at the end of the turn, with the others it gets). */
  private dispatch(inst: Instance, pc: PendingCall): void {
    if (inst.inflight.length === 0) inst.wokenThisTurn = true;
    inst.state = 'busy';
    pc.seq = inst.nextSeq++;
    pc.inst = inst;
    inst.inflight.push(pc);
    this.inflightCalls++;
    const msg: ToWorker = {
      t: 'call',
      seq: pc.seq,
      gen: inst.gen,
      exportFn: pc.exportFn,
      input: pc.input,
      inputBytes: pc.inputBytes,
      jobId: pc.opts.jobId ?? null,
      maxOutputBytes: this.limits.maxOutputBytes,
      timeoutMs: pc.timeoutMs,
    };
    inst.post(msg);
    this.watch(inst);
    // After the post (queued before this), when it is the only call in flight.
    if (this.inflightCalls === 1) queueMicrotask(() => this.awaitQuickReply(inst));
    if (inst.inflight.length === 1) this.startHead(inst, pc);
    // Posted behind another call while an instance is idle: if the one ahead turns out slow,
    // this one moves to the idle instance (rebalance), rather than wait for it to end.
    else if (this.idle.length > 0 && this.rebalanceTimer === undefined) this.rebalance();
  }

  /** `pc` is now the call its instance runs: its clock starts, and so does its caller's. */
  private startHead(inst: Instance, pc: PendingCall): void {
    inst.headSince = performance.now();
    this.startTimer(inst, pc);
    pc.opts.onStart?.();
  }

  /** Spins for REPLY_SPIN_MS for the answer to the one call in flight, and takes it if it came. */
  private awaitQuickReply(inst: Instance): void {
    if (this.inflightCalls !== 1 || inst.inflight.length !== 1 || inst.state === 'dead') return;
    const seen = inst.outSeen;
    const until = performance.now() + REPLY_SPIN_MS;
    while (Atomics.load(inst.ctrl, CTRL.OUT) === seen && performance.now() < until);
    const out = Atomics.load(inst.ctrl, CTRL.OUT);
    if (out === seen) return;
    inst.outSeen = out;
    this.drain(inst);
  }

  private startTimer(inst: Instance, pc: PendingCall): void {
    if (pc.timer) clearTimeout(pc.timer);
    pc.timer = setTimeout(() => {
      if (inst.inflight[0] !== pc) return;
      // A reply that already arrived counts: collect it before judging.
      this.drain(inst);
      if (inst.state === 'dead' || inst.inflight[0] !== pc) return;
      this.lost(inst, {
        code: ErrorCode.EXTENSION_TIMEOUT,
        export: pc.exportFn,
        cause:
          pc.opts.jobId !== undefined
            ? `ran ${pc.timeoutMs} ms without reporting progress (limit ${pc.timeoutMs} ms between progress reports)`
            : `ran longer than ${pc.timeoutMs} ms`,
      });
    }, pc.timeoutMs);
  }

  /** A call leaves its instance (taken back, skipped, or over): its clock stops. */
  private unbind(pc: PendingCall): void {
    pc.inst = undefined;
    if (pc.timer) clearTimeout(pc.timer);
  }

  /** A call is over (answered or failed): clears its timer and abort listener. */
  private settle(pc: PendingCall): void {
    pc.done = true;
    this.unbind(pc);
    if (pc.onAbort) pc.opts.signal?.removeEventListener('abort', pc.onAbort);
    pc.opts.canceller?.bind(undefined);
  }

  /** Stops the running call its caller gave up on: the guest cannot be interrupted politely, so its instance is replaced. */
  private preempt(inst: Instance, pc: PendingCall): void {
    this.lost(inst, { code: ErrorCode.CANCELLED, export: pc.exportFn, cause: 'cancelled by the caller' });
  }

  /**
   * The caller gave up on a call: a queued one is answered CANCELLED; one posted behind another
   * is taken back (and answered) unless it just started; a running one is preempted.
   */
  private cancel(pc: PendingCall): void {
    if (pc.done || pc.cancelled) return;
    pc.cancelled = true;
    const inst = pc.inst;
    if (inst === undefined) {
      const i = this.queue.indexOf(pc);
      if (i < 0) return;
      this.queue.splice(i, 1);
      this.settle(pc);
      pc.reject(this.cancelled(pc.exportFn));
      this.checkDrain();
      return;
    }
    // Behind the running call: what has not started is taken back (this one is answered then);
    // if it did just start, it is preempted when it becomes the oldest (see nextHead).
    if (inst.inflight[0] !== pc) this.moveBack(inst);
    else this.preempt(inst, pc);
  }

  /**
   * Takes back the calls posted to `inst` that have not started: bumps its generation, then
   * reads the last call it started. Every later call is certain to be skipped by the worker,
   * which checks the generation after publishing STARTED; the call at STARTED itself may run or
   * be skipped, and then comes back as a 'skipped' message.
   */
  private takeBack(inst: Instance): PendingCall[] {
    inst.gen = Atomics.add(inst.ctrl, CTRL.GEN, 1) + 1;
    const started = Atomics.load(inst.ctrl, CTRL.STARTED);
    let keep = inst.inflight.length;
    while (keep > 0 && inst.inflight[keep - 1]!.seq > started) keep--;
    const taken = inst.inflight.splice(keep);
    this.inflightCalls -= taken.length;
    for (const pc of taken) this.unbind(pc);
    return taken;
  }

  /** Takes back what `inst` has not started and hands it out again (see takeBack). */
  private moveBack(inst: Instance): void {
    this.requeue(this.takeBack(inst));
    if (inst.inflight.length === 0 && inst.state === 'busy') this.fill(inst);
  }

  /**
   * Puts calls taken back from an instance at the front of the queue (their order kept) and
   * hands them out; one whose caller gave up meanwhile is answered CANCELLED instead.
   */
  private requeue(calls: PendingCall[]): void {
    const waiting: PendingCall[] = [];
    for (const pc of calls) {
      if (pc.cancelled) {
        this.settle(pc);
        pc.reject(this.cancelled(pc.exportFn));
        continue;
      }
      waiting.push(pc);
    }
    this.queue.unshift(...waiting);
    this.pump();
    this.checkDrain();
  }

  /**
   * With an instance idle, takes back the calls waiting behind a running call that has run
   * STEAL_AFTER_MS, so they go to the idle one rather than wait for a slow call; behind a call
   * that has run less, looks again when it reaches that age.
   */
  private rebalance(): void {
    if (this.idle.length === 0 || this.closed) return;
    const now = performance.now();
    let wakeAt = Infinity;
    for (const inst of this.instances) {
      if (inst.state !== 'busy' || inst.inflight.length < 2) continue;
      const due = inst.headSince + STEAL_AFTER_MS;
      if (due <= now) this.moveBack(inst);
      else wakeAt = Math.min(wakeAt, due);
      if (this.idle.length === 0) return;
    }
    if (wakeAt !== Infinity && this.rebalanceTimer === undefined) {
      this.rebalanceTimer = setTimeout(
        () => {
          this.rebalanceTimer = undefined;
          this.rebalance();
        },
        Math.max(1, Math.ceil(wakeAt - now)),
      );
      this.rebalanceTimer.unref();
    }
  }

  /** The oldest call in flight on `inst` changed: its clock starts (or it is preempted if its caller gave up). */
  private nextHead(inst: Instance): void {
    const head = inst.inflight[0];
    if (head === undefined) return;
    if (head.cancelled) {
      this.preempt(inst, head);
      return;
    }
    this.startHead(inst, head);
  }

  /** Gives a started instance its first calls. */
  private release(inst: Instance): void {
    this.fill(inst);
  }

  /**
   * Tops up an instance from the queue: any call when it is free, pipelinable calls up to
   * PIPELINE_DEPTH when it is busy; an instance left with nothing goes back to the idle pool.
   */
  private fill(inst: Instance): void {
    while (this.queue.length > 0) {
      const n = inst.inflight.length;
      if (n > 0 && (n >= PIPELINE_DEPTH || !this.canQueueBehind(inst))) break;
      this.dispatch(inst, this.queue.shift()!);
    }
    if (inst.inflight.length === 0 && inst.state !== 'idle') {
      inst.state = 'idle';
      this.idle.push(inst);
      this.checkDrain();
      this.rebalance();
    }
  }

  private failQueue(err: SpacedriveError): void {
    for (const pc of this.queue.splice(0)) {
      this.settle(pc);
      pc.reject(err);
    }
    this.checkDrain();
  }

  private checkDrain(): void {
    if (this.inflightCalls > 0 || this.queue.length > 0 || this.drainWaiters.length === 0) return;
    for (const w of this.drainWaiters.splice(0)) w();
  }

  // ---- messages from workers ---------------------------------------------------------------

  /**
   * Looks out for an instance's next messages while something is expected of it: by polling
   * (see POLL_MS) while messages keep coming, then by waiting for a wake-up.
   */
  private watch(inst: Instance): void {
    if (inst.state === 'dead' || inst.state === 'idle') return;
    this.pollUntil = performance.now() + POLL_MS;
    if (this.polling) return;
    this.polling = true;
    setImmediate(this.pollTick);
  }

  /** Answers a call, or holds its answer back while its neighbours on `inst` still run (RESULT_HOLD_MS). */
  private answer(inst: Instance, pc: PendingCall, msg: Extract<FromWorker, { t: 'result' }>): void {
    if (this.held.length === 0) this.heldSince = performance.now();
    this.held.push({ pc, msg });
    if (inst.inflight.length > 0 && inst.state !== 'dead' && performance.now() - this.heldSince < RESULT_HOLD_MS) {
      // pollTick answers it once the neighbours are in or the hold is over.
      this.watch(inst);
      return;
    }
    this.answerHeld();
  }

  private answerHeld(): void {
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    for (const { pc, msg } of held) {
      if (msg.ok) pc.resolve(JSON.parse(msg.output));
      else pc.reject(this.toError(msg.error, pc.exportFn));
    }
  }

  /** One poll of every instance that owes messages, once per turn of the event loop. */
  private readonly pollTick = (): void => {
    let owed = false;
    for (const inst of this.instances) {
      if (inst.state === 'dead' || inst.state === 'idle') continue;
      const out = Atomics.load(inst.ctrl, CTRL.OUT);
      if (out !== inst.outSeen) {
        inst.outSeen = out;
        this.drain(inst);
        this.pollUntil = performance.now() + POLL_MS;
      }
      if ((inst.state as InstanceState) !== 'dead' && (inst.state as InstanceState) !== 'idle') owed = true;
    }
    const now = performance.now();
    if (this.held.length > 0 && (!owed || now - this.heldSince >= RESULT_HOLD_MS)) this.answerHeld();
    if (owed && now < this.pollUntil) {
      setImmediate(this.pollTick);
      return;
    }
    this.polling = false;
    this.answerHeld();
    if (owed) for (const inst of this.instances) this.arm(inst);
  };

  /** Waits (without blocking) for a wake-up from the worker: when polling found nothing for a while. */
  private arm(inst: Instance): void {
    if (inst.armed || inst.state === 'dead' || inst.state === 'idle') return;
    inst.armed = true;
    const w = waitAsync(inst.ctrl, CTRL.OUT, inst.outSeen);
    if (w.async) void w.value.then(() => this.onWake(inst));
    else queueMicrotask(() => this.onWake(inst));
  }

  private onWake(inst: Instance): void {
    inst.armed = false;
    if (inst.state === 'dead') return;
    inst.outSeen = Atomics.load(inst.ctrl, CTRL.OUT);
    this.drain(inst);
    // Messages are coming again: poll for the next ones.
    this.watch(inst);
  }

  /** Handles every message the worker has posted so far. */
  private drain(inst: Instance): void {
    for (;;) {
      const r = receiveMessageOnPort(inst.outPort);
      if (r === undefined) return;
      const m = r.message as FromWorker | CompactFromWorker;
      this.onMessage(inst, typeof m === 'string' ? expandCompact(m) : m);
      if ((inst.state as InstanceState) === 'dead') return;
    }
  }

  private forwardLogs(logs: LogLine[], jobId: string | undefined): void {
    for (const [level, text] of logs) {
      try {
        this.bridge.log(level, text, jobId);
      } catch (e) {
        this.opts.logger.warn({ extension: this.id, err: (e as Error).message }, 'bridge.log failed');
      }
    }
  }

  private onMessage(inst: Instance, msg: FromWorker): void {
    // Lines logged during a call come with its result or its host calls: the oldest call in flight.
    if (msg.logs.length > 0) this.forwardLogs(msg.logs, msg.t === 'ready' || msg.t === 'fail' || msg.t === 'cleaned' ? undefined : inst.inflight[0]?.opts.jobId);
    switch (msg.t) {
      case 'result': {
        const pc = inst.inflight.shift()!;
        this.inflightCalls--;
        this.calls++;
        this.settle(pc);
        if (!msg.ok && msg.discard) {
          this.lost(inst, msg.error, pc);
          return;
        }
        this.nextHead(inst);
        if ((inst.state as InstanceState) !== 'dead') this.fill(inst);
        this.answer(inst, pc, msg);
        return;
      }
      case 'bridge':
        this.serveBridge(inst, msg);
        return;
      case 'ready':
        if (inst.initTimer) clearTimeout(inst.initTimer);
        inst.initTimer = undefined;
        inst.startResolve(msg.registrations);
        return;
      case 'fail': {
        this.kill(inst);
        inst.startReject(this.toError(msg.error, msg.error.export ?? 'plugin_init'));
        return;
      }
      case 'skipped': {
        // A call taken back (takeBack) that the worker had already reached: it did not run.
        const pc = inst.inflight[0];
        if (pc === undefined || pc.seq !== msg.seq) return;
        inst.inflight.shift();
        this.inflightCalls--;
        this.unbind(pc);
        this.nextHead(inst);
        this.requeue([pc]);
        if ((inst.state as InstanceState) !== 'dead') this.fill(inst);
        return;
      }
      case 'cleaned':
        inst.cleaned?.();
        return;
      case 'logs':
        return;
    }
  }

  private serveBridge(inst: Instance, msg: Extract<FromWorker, { t: 'bridge' }>): void {
    // The worker runs one call at a time, in order: the one asking is the oldest in flight.
    const pc = inst.inflight[0];
    inst.inBridge++;
    if (msg.kind === 'call') {
      let payload: unknown = null;
      if (msg.payload.length > 0) {
        try {
          payload = JSON.parse(msg.payload);
        } catch (e) {
          const message = `sd_call payload for '${msg.method}' is not valid JSON: ${(e as Error).message}`;
          inst.answerBridge(JSON.stringify({ ok: false, error: { code: ErrorCode.INVALID_INPUT, message } }));
          return;
        }
      }
      const chain = pc ? [...pc.opts.chain, this.id] : [this.id];
      let pending: Promise<unknown>;
      try {
        pending = this.bridge.call(msg.method, payload, chain, pc ? { ...(pc.opts.context ?? { libraryId: null, method: null }), ...(pc.opts.jobId !== undefined ? { jobId: pc.opts.jobId } : {}) } : undefined);
      } catch (e) {
        pending = Promise.reject(e);
      }
      pending.then(
        (result) => {
          let envelope: string;
          try {
            envelope = JSON.stringify({ ok: true, result: result ?? null });
          } catch (e) {
            envelope = JSON.stringify({ ok: false, error: { code: ErrorCode.INTERNAL, message: `result is not JSON: ${(e as Error).message}` } });
          }
          inst.answerBridge(envelope);
        },
        (err) => inst.answerBridge(JSON.stringify({ ok: false, error: toWireError(err) })),
      );
      return;
    }
    const jobId = pc?.opts.jobId;
    if (jobId === undefined) {
      inst.answerBridge(-1);
      return;
    }
    if (msg.kind === 'interrupt') {
      inst.answerBridge(this.jobInterrupt(jobId));
      return;
    }
    // A job's deadline is governed by progress: the clock stops while the host records the
    // report (durably; that is host time, not the guest's) and a fresh period starts after it.
    if (pc!.timer) clearTimeout(pc!.timer);
    Promise.resolve()
      .then(() => this.bridge.jobProgress(jobId, msg.report))
      .then(
        (n) => {
          if (inst.inflight[0] === pc) this.startTimer(inst, pc!);
          inst.answerBridge(n);
        },
        (err) => {
          if (inst.inflight[0] === pc) this.startTimer(inst, pc!);
          inst.answerBridge({ error: toWireError(err) });
        },
      );
  }

  /** sd_job_interrupt of a running job, from either kind of instance: the bridge's answer, or continue if it failed. */
  private jobInterrupt(jobId: string): number {
    try {
      return this.bridge.jobInterrupt(jobId);
    } catch (e) {
      this.opts.logger.warn({ extension: this.id, jobId, err: toWireError(e) }, 'jobInterrupt failed; answering continue');
      return 0;
    }
  }

  // ---- errors ------------------------------------------------------------------------------

  private toError(err: WorkerError, exportFn: string): SpacedriveError {
    const exp = err.export ?? exportFn;
    if (err.guestError !== undefined) {
      let code: string = ErrorCode.EXTENSION_ERROR;
      let message = err.guestError;
      const details: Record<string, unknown> = { extension: this.id, export: exp, cause: 'the extension reported an error' };
      try {
        const parsed = JSON.parse(err.guestError) as unknown;
        if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string') {
          const g = parsed as { code?: unknown; message: string; details?: unknown };
          message = g.message;
          if (typeof g.code === 'string') {
            if (GUEST_ERROR_CODES.has(g.code)) code = g.code;
            else details.guest_code = g.code;
          }
          if (g.details !== undefined) details.guest_details = g.details;
        }
      } catch {
        // Plain text: the whole of it is the message.
      }
      // The extension's own words about a call it refused: the export that said them is an
      // internal name (kept in details); traps below keep it in the message, for bug reports.
      return new SpacedriveError(code, `extension '${this.id}': ${message}`, details);
    }
    let cause = err.cause;
    if (err.guestReason !== undefined) {
      // The guest said why before trapping (AssemblyScript's abort does): lead with its words.
      cause = `${guestMessage(err.guestReason)} (${err.cause})`;
    }
    const details: Record<string, unknown> = { extension: this.id, export: exp, cause, ...err.details };
    if (err.wasmStack) details.wasmStack = err.wasmStack;
    return new SpacedriveError(err.code, `extension '${this.id}', export '${exp}': ${cause}`, details);
  }

  private inputError(exportFn: string, cause: string): SpacedriveError {
    return new SpacedriveError(ErrorCode.INVALID_INPUT, `extension '${this.id}', export '${exportFn}': ${cause}`, {
      extension: this.id,
      export: exportFn,
      cause,
    });
  }

  private cancelled(exportFn: string): SpacedriveError {
    return new SpacedriveError(ErrorCode.CANCELLED, `extension '${this.id}', export '${exportFn}': cancelled by the caller`, {
      extension: this.id,
      export: exportFn,
      cause: 'cancelled by the caller',
    });
  }
}
