/**
 * Call scheduling for one extension's worker instances: which instance runs a call, and when.
 * A call goes to an idle instance, or is pipelined behind a busy one's, or waits in the queue
 * (up to limits.maxQueue, then OVERLOADED); it runs under its time limit (a job's restarts at
 * each progress report); its caller may cancel it wherever it is; and when an instance is lost,
 * the calls it had not started go to another.
 *
 * (Short self-contained calls may not get here at all: index.ts tries the main thread's metered
 * instance first, inline.ts.)
 */
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { SandboxErrors } from './errors.js';
import type { Instance, Pool, PoolEvents } from './pool.js';
import { CTRL, type FromWorker, type ToWorker, type WorkerError } from './protocol.js';
import type { MessagePump, PumpSink } from './transport.js';
import type { SandboxCallOptions, SandboxLimits } from './types.js';

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
 * How long the answer to a call may be held back while other calls posted to the same instance
 * are still running, so that the answers to calls posted together reach their callers together.
 * Calls posted together are usually a claim's jobs: answered together, their completions share
 * one commit of the job store and the jobs claimed next travel to an instance as one batch. Answered
 * one by one as they trickled in, every few jobs paid a commit, a claim and a wake-up of their own
 * (no-op extension jobs: about twice as many commits and posts per job, a tenth fewer jobs/s). The
 * hold is bounded: an answer never waits more than this for a slower neighbour.
 */
const RESULT_HOLD_MS = 0.1;

/** One call, from the moment it is accepted until it is answered. */
export interface PendingCall {
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

type ResultMessage = Extract<FromWorker, { t: 'result' }>;

export class Scheduler implements PoolEvents, Pick<PumpSink<Instance>, 'polled'> {
  /** Calls answered by a worker instance. */
  calls = 0;
  readonly #queue: PendingCall[] = [];
  readonly #idle: Instance[] = [];
  /** Calls posted to an instance and not yet answered (running or pipelined). */
  #inflightCalls = 0;
  #drainWaiters: (() => void)[] = [];
  /** Set while a busy instance's calls wait to be old enough to take back (see rebalance). */
  #rebalanceTimer: NodeJS.Timeout | undefined;
  /** Answers held back for their neighbours (see RESULT_HOLD_MS), in arrival order, and since when. */
  #held: { pc: PendingCall; msg: ResultMessage }[] = [];
  #heldSince = 0;

  constructor(
    private readonly id: string,
    private readonly limits: SandboxLimits,
    private readonly pool: Pool,
    private readonly pump: MessagePump<Instance>,
    private readonly errors: SandboxErrors,
  ) {}

  /** Accepts a call: hands it to an instance, or queues it, or refuses it with OVERLOADED. */
  submit(pc: PendingCall): void {
    this.#listen(pc);
    // Calls made in the same turn (a claim starting several jobs, a client's burst) join the
    // instance the first of them woke, up to PIPELINE_DEPTH: waking a sleeping thread is the
    // dearest part of a short call, and one wake-up then serves them all. Calls that turn out
    // slow are spread to idle instances after STEAL_AFTER_MS (rebalance).
    const inst = this.#joinable() ?? this.#idle.pop() ?? (this.#queue.length === 0 ? this.#pipelineTarget() : undefined);
    if (inst !== undefined) {
      this.#dispatch(inst, pc);
      return;
    }
    const { busy, queued } = this.load();
    if (queued >= this.limits.maxQueue) {
      this.#settle(pc);
      pc.reject(
        new SpacedriveError(
          ErrorCode.OVERLOADED,
          `extension '${this.id}' is overloaded: ${busy} instance(s) busy and ${queued} call(s) waiting (limit ${this.limits.maxQueue}); try again later`,
          { extension: this.id, export: pc.exportFn, running: busy, queued },
        ),
      );
      return;
    }
    this.#queue.push(pc);
  }

  /** Instances alive, those running a call, and calls waiting (queued, or pipelined behind a running one). */
  load(): { instances: number; busy: number; queued: number } {
    let instances = 0;
    let busy = 0;
    for (const inst of this.pool.instances) {
      if (inst.state !== 'dead') instances++;
      if (inst.inflight.length > 0) busy++;
    }
    return { instances, busy, queued: this.#queue.length + this.#inflightCalls - busy };
  }

  /** Resolves once no call is queued or in flight. */
  drained(): Promise<void> {
    if (this.#inflightCalls === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#drainWaiters.push(r));
  }

  /** No more scheduling: the sandbox is closing, its calls are over. */
  stop(): void {
    if (this.#rebalanceTimer) clearTimeout(this.#rebalanceTimer);
  }

  // ---- messages from instances (routed by index.ts) ----------------------------------------

  /** The oldest call in flight on `inst` ended. */
  onResult(inst: Instance, msg: ResultMessage): void {
    const pc = inst.inflight.shift()!;
    this.#inflightCalls--;
    this.calls++;
    this.#settle(pc);
    if (!msg.ok && msg.discard) {
      this.pool.lost(inst, msg.error, pc);
      return;
    }
    this.#nextHead(inst);
    if (inst.state !== 'dead') this.#fill(inst);
    this.#answer(inst, pc, msg);
  }

  /** A call taken back (takeBack) that the worker had already reached: it did not run. */
  onSkipped(inst: Instance, seq: number): void {
    const pc = inst.inflight[0];
    if (pc === undefined || pc.seq !== seq) return;
    inst.inflight.shift();
    this.#inflightCalls--;
    this.#unbind(pc);
    this.#nextHead(inst);
    this.#requeue([pc]);
    if (inst.state !== 'dead') this.#fill(inst);
  }

  /**
   * A job's deadline is governed by progress: the running call's clock stops while the host
   * records a report; the function returned starts a fresh period.
   */
  pauseClock(inst: Instance, pc: PendingCall): () => void {
    if (pc.timer) clearTimeout(pc.timer);
    return () => {
      if (inst.inflight[0] === pc) this.#startTimer(inst, pc);
    };
  }

  // ---- PoolEvents --------------------------------------------------------------------------

  ready(inst: Instance): void {
    this.#fill(inst);
  }

  removed(inst: Instance): void {
    const i = this.#idle.indexOf(inst);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  lost(calls: PendingCall[], started: number, err: WorkerError, failed: PendingCall | undefined): void {
    this.#inflightCalls -= calls.length;
    const failing: PendingCall[] = failed ? [failed] : [];
    const retry: PendingCall[] = [];
    for (const pc of calls) {
      pc.inst = undefined;
      if (!failed && (pc.seq <= started || failing.length === 0)) failing.push(pc);
      else if (pc.cancelled) failing.push(pc);
      else retry.push(pc);
    }
    this.#queue.unshift(...retry);
    for (const pc of failing) {
      this.#settle(pc);
      pc.reject(pc.cancelled && pc !== failed ? this.errors.cancelled(pc.exportFn) : this.errors.fromWorker(err, pc.exportFn));
    }
  }

  resume(): void {
    this.#pump();
    this.#checkDrain();
  }

  failWaiting(err: SpacedriveError): void {
    for (const pc of this.#queue.splice(0)) {
      this.#settle(pc);
      pc.reject(err);
    }
    this.#checkDrain();
  }

  // ---- handing calls to instances ----------------------------------------------------------

  /**
   * Whether calls may be posted behind what this instance is running now: not while its call
   * waits on the host (a bridge call may take long: a fetch, another extension).
   */
  #canQueueBehind(inst: Instance): boolean {
    return inst.inBridge === 0;
  }

  /** The instance woken in this turn, while it can take more calls (see submit()). */
  #joinable(): Instance | undefined {
    for (const inst of this.pool.instances) {
      if (inst.wokenThisTurn && inst.state === 'busy' && inst.inflight.length < PIPELINE_DEPTH && this.#canQueueBehind(inst)) return inst;
    }
    return undefined;
  }

  /** The busy instance with the fewest calls that can take one more behind them, if any. */
  #pipelineTarget(): Instance | undefined {
    let best: Instance | undefined;
    for (const inst of this.pool.instances) {
      const n = inst.inflight.length;
      if (inst.state !== 'busy' || n === 0 || n >= PIPELINE_DEPTH_LIGHT || !this.#canQueueBehind(inst)) continue;
      if (best === undefined || n < best.inflight.length) best = inst;
    }
    return best;
  }

  /** Hands a call to an instance (posted at the end of the turn, with the others it gets). */
  #dispatch(inst: Instance, pc: PendingCall): void {
    if (inst.inflight.length === 0) inst.wokenThisTurn = true;
    inst.state = 'busy';
    pc.seq = inst.nextSeq++;
    pc.inst = inst;
    inst.inflight.push(pc);
    this.#inflightCalls++;
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
    this.pump.watch(inst);
    // After the post (queued before this), when it is the only call in flight.
    if (this.#inflightCalls === 1) queueMicrotask(() => this.#awaitQuickReply(inst));
    if (inst.inflight.length === 1) this.#startHead(inst, pc);
    // Posted behind another call while an instance is idle: if the one ahead turns out slow,
    // this one moves to the idle instance (rebalance), rather than wait for it to end.
    else if (this.#idle.length > 0 && this.#rebalanceTimer === undefined) this.#rebalance();
  }

  /** The one call in flight may answer within microseconds: wait for it a moment (see transport). */
  #awaitQuickReply(inst: Instance): void {
    if (this.#inflightCalls !== 1 || inst.inflight.length !== 1 || inst.state === 'dead') return;
    this.pump.awaitQuickReply(inst);
  }

  /**
   * Tops up an instance from the queue: any call when it is free, pipelinable calls up to
   * PIPELINE_DEPTH when it is busy; an instance left with nothing goes back to the idle pool.
   */
  #fill(inst: Instance): void {
    while (this.#queue.length > 0) {
      const n = inst.inflight.length;
      if (n > 0 && (n >= PIPELINE_DEPTH || !this.#canQueueBehind(inst))) break;
      this.#dispatch(inst, this.#queue.shift()!);
    }
    if (inst.inflight.length === 0 && inst.state !== 'idle') {
      inst.state = 'idle';
      this.#idle.push(inst);
      this.#checkDrain();
      this.#rebalance();
    }
  }

  /** Hands queued calls to idle instances (after calls were put back in the queue). */
  #pump(): void {
    while (this.#queue.length > 0 && this.#idle.length > 0) this.#fill(this.#idle.pop()!);
  }

  #checkDrain(): void {
    if (this.#inflightCalls > 0 || this.#queue.length > 0 || this.#drainWaiters.length === 0) return;
    for (const w of this.#drainWaiters.splice(0)) w();
  }

  // ---- a call's clock and its end ----------------------------------------------------------

  /** The oldest call in flight on `inst` changed: its clock starts (or it is preempted if its caller gave up). */
  #nextHead(inst: Instance): void {
    const head = inst.inflight[0];
    if (head === undefined) return;
    if (head.cancelled) {
      this.#preempt(inst, head);
      return;
    }
    this.#startHead(inst, head);
  }

  /** `pc` is now the call its instance runs: its clock starts, and so does its caller's. */
  #startHead(inst: Instance, pc: PendingCall): void {
    inst.headSince = performance.now();
    this.#startTimer(inst, pc);
    pc.opts.onStart?.();
  }

  #startTimer(inst: Instance, pc: PendingCall): void {
    if (pc.timer) clearTimeout(pc.timer);
    pc.timer = setTimeout(() => {
      if (inst.inflight[0] !== pc) return;
      // A reply that already arrived counts: collect it before judging.
      this.pump.drain(inst);
      if (inst.state === 'dead' || inst.inflight[0] !== pc) return;
      this.pool.lost(inst, {
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
  #unbind(pc: PendingCall): void {
    pc.inst = undefined;
    if (pc.timer) clearTimeout(pc.timer);
  }

  /** A call is over (answered or failed): clears its timer and abort listener. */
  #settle(pc: PendingCall): void {
    pc.done = true;
    this.#unbind(pc);
    if (pc.onAbort) pc.opts.signal?.removeEventListener('abort', pc.onAbort);
    pc.opts.canceller?.bind(undefined);
  }

  /** Answers a call, or holds its answer back while its neighbours on `inst` still run (RESULT_HOLD_MS). */
  #answer(inst: Instance, pc: PendingCall, msg: ResultMessage): void {
    if (this.#held.length === 0) this.#heldSince = performance.now();
    this.#held.push({ pc, msg });
    if (inst.inflight.length > 0 && inst.state !== 'dead' && performance.now() - this.#heldSince < RESULT_HOLD_MS) {
      // polled() answers it once the neighbours are in or the hold is over.
      this.pump.watch(inst);
      return;
    }
    this.#answerHeld();
  }

  /** After each poll of the pump: held answers go out once it stops polling or the hold is over. */
  polled(polling: boolean): void {
    if (this.#held.length > 0 && (!polling || performance.now() - this.#heldSince >= RESULT_HOLD_MS)) this.#answerHeld();
  }

  #answerHeld(): void {
    const held = this.#held;
    if (held.length === 0) return;
    this.#held = [];
    for (const { pc, msg } of held) {
      if (msg.ok) pc.resolve(JSON.parse(msg.output));
      else pc.reject(this.errors.fromWorker(msg.error, pc.exportFn));
    }
  }

  // ---- cancellation and taking calls back --------------------------------------------------

  /** Wherever a call is (queued, posted, running), its signal or canceller cancels it. */
  #listen(pc: PendingCall): void {
    pc.opts.canceller?.bind(() => this.#cancel(pc));
    const signal = pc.opts.signal;
    if (!signal) return;
    pc.onAbort = () => this.#cancel(pc);
    signal.addEventListener('abort', pc.onAbort, { once: true });
  }

  /** Stops the running call its caller gave up on: the guest cannot be interrupted politely, so its instance is replaced. */
  #preempt(inst: Instance, pc: PendingCall): void {
    this.pool.lost(inst, { code: ErrorCode.CANCELLED, export: pc.exportFn, cause: 'cancelled by the caller' });
  }

  /**
   * The caller gave up on a call: a queued one is answered CANCELLED; one posted behind another
   * is taken back (and answered) unless it just started; a running one is preempted.
   */
  #cancel(pc: PendingCall): void {
    if (pc.done || pc.cancelled) return;
    pc.cancelled = true;
    const inst = pc.inst;
    if (inst === undefined) {
      const i = this.#queue.indexOf(pc);
      if (i < 0) return;
      this.#queue.splice(i, 1);
      this.#settle(pc);
      pc.reject(this.errors.cancelled(pc.exportFn));
      this.#checkDrain();
      return;
    }
    // Behind the running call: what has not started is taken back (this one is answered then);
    // if it did just start, it is preempted when it becomes the oldest (see nextHead).
    if (inst.inflight[0] !== pc) this.#moveBack(inst);
    else this.#preempt(inst, pc);
  }

  /**
   * Takes back the calls posted to `inst` that have not started: bumps its generation, then
   * reads the last call it started. Every later call is certain to be skipped by the worker,
   * which checks the generation after publishing STARTED; the call at STARTED itself may run or
   * be skipped, and then comes back as a 'skipped' message.
   */
  #takeBack(inst: Instance): PendingCall[] {
    inst.gen = Atomics.add(inst.ctrl, CTRL.GEN, 1) + 1;
    const started = Atomics.load(inst.ctrl, CTRL.STARTED);
    let keep = inst.inflight.length;
    while (keep > 0 && inst.inflight[keep - 1]!.seq > started) keep--;
    const taken = inst.inflight.splice(keep);
    this.#inflightCalls -= taken.length;
    for (const pc of taken) this.#unbind(pc);
    return taken;
  }

  /** Takes back what `inst` has not started and hands it out again (see takeBack). */
  #moveBack(inst: Instance): void {
    this.#requeue(this.#takeBack(inst));
    if (inst.inflight.length === 0 && inst.state === 'busy') this.#fill(inst);
  }

  /**
   * Puts calls taken back from an instance at the front of the queue (their order kept) and
   * hands them out; one whose caller gave up meanwhile is answered CANCELLED instead.
   */
  #requeue(calls: PendingCall[]): void {
    const waiting: PendingCall[] = [];
    for (const pc of calls) {
      if (pc.cancelled) {
        this.#settle(pc);
        pc.reject(this.errors.cancelled(pc.exportFn));
        continue;
      }
      waiting.push(pc);
    }
    this.#queue.unshift(...waiting);
    this.#pump();
    this.#checkDrain();
  }

  /**
   * With an instance idle, takes back the calls waiting behind a running call that has run
   * STEAL_AFTER_MS, so they go to the idle one rather than wait for a slow call; behind a call
   * that has run less, looks again when it reaches that age.
   */
  #rebalance(): void {
    if (this.#idle.length === 0 || this.pool.closed) return;
    const now = performance.now();
    let wakeAt = Infinity;
    for (const inst of this.pool.instances) {
      if (inst.state !== 'busy' || inst.inflight.length < 2) continue;
      const due = inst.headSince + STEAL_AFTER_MS;
      if (due <= now) this.#moveBack(inst);
      else wakeAt = Math.min(wakeAt, due);
      if (this.#idle.length === 0) return;
    }
    if (wakeAt !== Infinity && this.#rebalanceTimer === undefined) {
      this.#rebalanceTimer = setTimeout(
        () => {
          this.#rebalanceTimer = undefined;
          this.#rebalance();
        },
        Math.max(1, Math.ceil(wakeAt - now)),
      );
      this.#rebalanceTimer.unref();
    }
  }
}
