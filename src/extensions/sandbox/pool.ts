/**
 * The pool of one extension's instances: worker threads that each run their own instantiation of
 * the module, with their lifecycle — started (from a spare thread kept ready), `plugin_init` run
 * under its time limit, joined to the pool, replaced after a trap, timeout, out-of-memory or
 * crash (with backoff, until MAX_START_FAILURES in a row), cleaned up (`plugin_cleanup`) and
 * stopped when the extension is unloaded.
 *
 * Why worker threads: extension code must never block the daemon's event loop, and a runaway
 * must be stoppable. `worker.terminate()` stops a wasm infinite loop within milliseconds;
 * nothing running on the main thread could be preempted like that. The memory limit is in the
 * module itself (wasm-limits.ts); a thread that still runs out of memory is lost like a trap.
 *
 * Which instance runs which call is the scheduler's (scheduler.ts); the pool tells it when an
 * instance is ready, lost (with the calls it held) or gone, through PoolEvents.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ErrorCode, SpacedriveError, toWireError } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';
import type { SandboxErrors } from './errors.js';
import { CTRL, type SharedInit, type ToWorker, type WorkerError } from './protocol.js';
import type { PendingCall } from './scheduler.js';
import { createChannels, WorkerLink, type HostEnds, type MessagePump } from './transport.js';
import type { GuestRegistration, SandboxLimits } from './types.js';

/** Consecutive failed starts of a replacement instance after which the sandbox stops trying. */
const MAX_START_FAILURES = 5;

/**
 * Workers kept started and waiting for an extension. Starting a worker thread costs 20–70 ms
 * (most of an extension's load time, and of the gap before a failed instance is replaced);
 * taking a spare costs nothing, and a new spare starts in the background.
 */
const SPARE_WORKERS = 1;

/**
 * The worker's module: the compiled worker.js beside this file. When this file runs from src/ as
 * TypeScript (under vitest), the worker comes from the build in dist/ (which the tests' global
 * setup makes): a worker thread runs JavaScript only.
 */
const FROM_SOURCES = import.meta.url.endsWith('.ts');
const WORKER_URL = FROM_SOURCES ? new URL('../../../dist/extensions/sandbox/worker.js', import.meta.url) : new URL('./worker.js', import.meta.url);

/** A started worker thread and its channels, not yet bound to an extension. */
interface WorkerHandle {
  worker: Worker;
  ends: HostEnds;
  /** Resolves when the thread has loaded its module and waits for its first message (or has exited). */
  online: Promise<void>;
}

const spares: WorkerHandle[] = [];
let workerFileChecked = false;

/** The worker file is there: else a clear error, rather than a thread that dies at its start. */
function checkWorkerFile(): void {
  const file = fileURLToPath(WORKER_URL);
  if (!existsSync(file)) {
    throw new SpacedriveError(ErrorCode.INTERNAL, `the sandbox worker ${file} is missing: build with 'npx tsc -b tsconfig.build.json'`);
  }
  workerFileChecked = true;
}

function startWorker(): WorkerHandle {
  if (!workerFileChecked) checkWorkerFile();
  const channels = createChannels();
  const worker = new Worker(WORKER_URL, { workerData: channels.worker, transferList: channels.transfer, stdout: false, stderr: false });
  // Idle workers must not keep the process alive; calls in flight hold a timer that does.
  worker.unref();
  // Not the 'online' event: that comes when the thread starts, before its module is loaded
  // (which takes longer than the start of a thread).
  const online = new Promise<void>((resolve) => {
    worker.once('message', () => resolve());
    worker.once('exit', () => resolve());
  });
  return { worker, ends: channels.host, online };
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

/**
 * Starts a spare worker now if none is up or starting: called before a module is compiled, so
 * that the thread's start (tens of milliseconds) overlaps the compilation rather than follows it.
 */
export function startSpareWorker(): void {
  if (spares.length === 0) refillSpares();
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

export type InstanceState = 'starting' | 'idle' | 'busy' | 'cleaning' | 'dead';

/** One instance: a worker thread with its own instantiation of the module, and its calls. */
export class Instance extends WorkerLink {
  state: InstanceState = 'starting';
  /** Calls posted to this instance, oldest (the one running) first. */
  readonly inflight: PendingCall[] = [];
  nextSeq = 1;
  /** Mirror of CTRL.GEN: the generation new calls are posted under. */
  gen = 0;
  /** When the oldest call in flight became the oldest (performance.now()): how long it has run, about. */
  headSince = 0;
  readonly started: Promise<GuestRegistration[]>;
  startResolve!: (r: GuestRegistration[]) => void;
  startReject!: (e: unknown) => void;
  initTimer: NodeJS.Timeout | undefined;
  cleaned: (() => void) | undefined;

  constructor(worker: Worker, ends: HostEnds) {
    super(worker, ends);
    this.started = new Promise((resolve, reject) => {
      this.startResolve = resolve;
      this.startReject = reject;
    });
    // Callers that never await (background replacements) must not cause unhandled rejections.
    this.started.catch(() => undefined);
  }

  get owesMessages(): boolean {
    return this.state !== 'dead' && this.state !== 'idle';
  }

  get dead(): boolean {
    return this.state === 'dead';
  }
}

/** What the pool tells the scheduler. */
export interface PoolEvents {
  /** A started instance joined the pool: it can take calls. */
  ready(inst: Instance): void;
  /** An instance left the pool for good. */
  removed(inst: Instance): void;
  /**
   * An instance was lost while it held `calls` (oldest first; it had started those up to seq
   * `started`); `failed` is the call whose result reported the failure, if one did.
   */
  lost(calls: PendingCall[], started: number, err: WorkerError, failed: PendingCall | undefined): void;
  /** Calls can go on (a replacement is starting, calls were put back): hand out what waits. */
  resume(): void;
  /** No call can be served any more: fail every waiting one with `err`. */
  failWaiting(err: SpacedriveError): void;
}

export class Pool {
  readonly instances = new Set<Instance>();
  /** Instances discarded after a trap, timeout, OOM or bad result. */
  replaced = 0;
  /** Set once the extension is unloading past its last call: lost instances are not replaced. */
  closed = false;
  /** Set after MAX_START_FAILURES: why no instance can be started. */
  broken: SpacedriveError | undefined;
  #startFailures = 0;
  #events!: PoolEvents;
  #pump!: MessagePump<Instance>;

  constructor(
    private readonly id: string,
    readonly shared: SharedInit,
    private readonly limits: SandboxLimits,
    private readonly logger: Logger,
    private readonly errors: SandboxErrors,
  ) {}

  connect(events: PoolEvents, pump: MessagePump<Instance>): void {
    this.#events = events;
    this.#pump = pump;
  }

  /**
   * Starts the first instance; resolves with what its plugin_init registered, once it is ready
   * to serve. The others start once `fill` is called: on a small machine, threads starting side
   * by side slow each other down, and the first instance is what makes the extension usable.
   */
  async startFirst(check: (regs: GuestRegistration[]) => void): Promise<GuestRegistration[]> {
    const first = this.#spawn();
    try {
      const regs = await first.started;
      check(regs);
      this.#events.ready(first);
      return regs;
    } catch (e) {
      this.closed = true;
      for (const inst of [...this.instances]) this.kill(inst);
      throw e;
    }
  }

  /** Starts the rest of the instances (limits.instances in all). */
  fill(): void {
    for (let i = this.instances.size; i < this.limits.instances; i++) this.#whenStarted(this.#spawn());
  }

  #spawn(): Instance {
    const h = takeWorker();
    h.ends.inPort.postMessage({ t: 'init', init: this.shared } satisfies ToWorker);
    Atomics.add(h.ends.ctrl, CTRL.IN, 1);
    Atomics.notify(h.ends.ctrl, CTRL.IN);
    const inst = new Instance(h.worker, h.ends);
    this.instances.add(inst);
    h.worker.on('error', (err: Error & { code?: string }) => {
      const code = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? ErrorCode.EXTENSION_OUT_OF_MEMORY : ErrorCode.EXTENSION_TRAPPED;
      this.lost(inst, { code, cause: `instance failed: ${err.message}` });
    });
    h.worker.on('exit', (exitCode) => this.lost(inst, { code: ErrorCode.EXTENSION_TRAPPED, cause: `instance exited unexpectedly (code ${exitCode})` }));
    inst.initTimer = setTimeout(() => {
      this.lost(inst, { code: ErrorCode.EXTENSION_TIMEOUT, export: 'plugin_init', cause: `plugin_init ran longer than ${this.limits.initTimeoutMs} ms` });
    }, this.limits.initTimeoutMs);
    this.#pump.watch(inst);
    return inst;
  }

  /** Adds a started instance to the pool, or handles its failure to start. */
  #whenStarted(inst: Instance): void {
    inst.started.then(
      () => {
        this.#startFailures = 0;
        this.broken = undefined;
        if (inst.state === 'starting') this.#events.ready(inst);
      },
      (err: SpacedriveError) => {
        this.#startFailures++;
        this.logger.error({ extension: this.id, err: toWireError(err), attempt: this.#startFailures }, 'extension instance failed to start');
        if (this.closed) return;
        if (this.#startFailures < MAX_START_FAILURES) {
          const backoff = Math.min(5_000, 100 * 2 ** (this.#startFailures - 1));
          setTimeout(() => this.#replace(), backoff).unref();
          return;
        }
        this.broken = new SpacedriveError(
          ErrorCode.EXTENSION_LOAD_FAILED,
          `extension '${this.id}': no instance could be started after ${this.#startFailures} attempts: ${err.message}`,
          { extension: this.id, cause: err.message },
        );
        if (this.instances.size === 0) this.#events.failWaiting(this.broken);
      },
    );
  }

  #replace(): void {
    if (this.closed) return;
    this.#whenStarted(this.#spawn());
  }

  /** plugin_init of an instance ended: with its registrations, or its failure. */
  initDone(inst: Instance, outcome: { registrations: GuestRegistration[] } | { error: WorkerError }): void {
    if ('error' in outcome) {
      this.kill(inst);
      inst.startReject(this.errors.fromWorker(outcome.error, outcome.error.export ?? 'plugin_init'));
      return;
    }
    if (inst.initTimer) clearTimeout(inst.initTimer);
    inst.initTimer = undefined;
    inst.startResolve(outcome.registrations);
  }

  /** Stops an instance for good (no replacement). */
  kill(inst: Instance): void {
    if (inst.state === 'dead') return;
    inst.state = 'dead';
    this.instances.delete(inst);
    this.#events.removed(inst);
    if (inst.initTimer) clearTimeout(inst.initTimer);
    inst.close();
    inst.cleaned?.();
  }

  /**
   * An instance failed (trap, timeout, bad result, crash, preemption): the call that was running
   * fails, the instance is stopped and a replacement starts in the background. Calls pipelined
   * behind it that never started go back to the scheduler; other instances keep serving.
   *
   * @param failed the call that failed, when its result already left the instance (the worker
   *   then runs nothing more: a failing instance stops taking calls by itself).
   */
  lost(inst: Instance, err: WorkerError, failed?: PendingCall): void {
    if (inst.state === 'dead') return;
    const wasStarting = inst.state === 'starting';
    // Stop the worker from starting another call, then see which ones it did start: a call is
    // retried elsewhere only if it certainly never ran (the worker publishes STARTED before
    // checking KILL, so nothing slips between the two).
    Atomics.store(inst.ctrl, CTRL.KILL, 1);
    const started = Atomics.load(inst.ctrl, CTRL.STARTED);
    const inflight = inst.inflight.splice(0);
    this.kill(inst);
    if (wasStarting) {
      inst.startReject(this.errors.fromWorker(err, err.export ?? 'plugin_init'));
      return;
    }
    this.#events.lost(inflight, started, err, failed);
    if (this.closed) {
      this.#events.failWaiting(this.errors.unloaded());
      return;
    }
    this.replaced++;
    this.#replace();
    this.#events.resume();
  }

  /**
   * Runs plugin_cleanup on every instance (each bounded by limits.initTimeoutMs) and stops them.
   * Called once the calls are over; an instance still starting is waited for, since it ran (or
   * is running) plugin_init.
   */
  async cleanup(): Promise<void> {
    const waits = [...this.instances].map(async (inst) => {
      if (inst.state === 'starting') await inst.started.catch(() => undefined);
      if (inst.state !== 'idle' && inst.state !== 'starting') {
        this.kill(inst);
        return;
      }
      this.#events.removed(inst);
      inst.state = 'cleaning';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.logger.warn({ extension: this.id }, `plugin_cleanup ran past ${this.limits.initTimeoutMs} ms; instance stopped`);
          resolve();
        }, this.limits.initTimeoutMs);
        inst.cleaned = () => {
          clearTimeout(timer);
          resolve();
        };
        inst.send({ t: 'cleanup' });
        this.#pump.watch(inst);
      });
      this.kill(inst);
    });
    await Promise.all(waits);
  }
}
