/**
 * The main thread's end of the link to each worker (the worker's end is worker.ts; the messages
 * are in protocol.ts): posting calls, reading what the worker posts, and serving the host
 * requests a guest makes in the middle of a call.
 *
 * Messages travel on MessagePorts and wake-ups on a few shared counters (CTRL), so neither side
 * needs a `message` event per message. A call is one `postMessage` plus an `Atomics.notify`; the
 * worker, blocked in `Atomics.wait`, reads it synchronously with `receiveMessageOnPort`, runs the
 * guest and posts the reply the same way. The main thread polls for replies once per turn of its
 * event loop while they keep coming (POLL_MS) and otherwise waits with `Atomics.waitAsync`: one
 * wake-up drains every reply that arrived. The hottest messages travel as bare strings, and
 * sd_call replies go back through a shared buffer rather than a postMessage.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import { ErrorCode, toWireError } from '../../errors/index.js';
import { CTRL, REPLY_BUFFER_BYTES, type CompactFromWorker, type FromWorker, type LogLine, type ToWorker, type WorkerChannels } from './protocol.js';
import type { CallContext, HostBridge } from './types.js';
import { waitAsync } from './wasm-types.js';

/**
 * How long the main thread polls for an instance's messages (once per turn of its event loop,
 * which keeps serving I/O and timers meanwhile) after the last one came, before it waits for a
 * wake-up (Atomics.waitAsync). Waking an idle event loop costs tens of microseconds on some
 * machines (a virtual CPU's interrupt): more than a short call itself. Polling for a moment picks
 * up quick replies and guest→host calls at once; a long call costs this much polling, once.
 */
const POLL_MS = 0.25;

/**
 * How long the main thread waits, spinning, for the answer to a call made while no other call of
 * the sandbox is in flight, before it goes back to its event loop (and to polling once per turn).
 * A short call answers within a few microseconds, sooner than one turn of the event loop: on this
 * kind of machine, one call at a time took 13 µs when the answer was picked up by the next turn's
 * poll and 9 µs when picked up here (the thread round trip alone is 6 µs). A longer call costs
 * this much of the main thread, once; with other calls in flight there is no spin at all.
 */
const REPLY_SPIN_MS = 0.02;

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

/** The channels of a new link: the main thread's ends, and the worker's (its workerData, with the ports to transfer). */
export function createChannels(): { host: HostEnds; worker: WorkerChannels; transfer: MessagePort[] } {
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL.SIZE * 4));
  const toWorker = new MessageChannel();
  const fromWorker = new MessageChannel();
  const bridgeReplies = new MessageChannel();
  const replyBuffer = new SharedArrayBuffer(REPLY_BUFFER_BYTES);
  return {
    host: { ctrl, inPort: toWorker.port1, outPort: fromWorker.port2, bridgePort: bridgeReplies.port1, replyBytes: new Uint8Array(replyBuffer) },
    worker: { ctrl, inPort: toWorker.port2, outPort: fromWorker.port1, bridgePort: bridgeReplies.port2, replyBuffer },
    transfer: [toWorker.port2, fromWorker.port1, bridgeReplies.port2],
  };
}

/** The main thread's ends of a link. */
export interface HostEnds {
  ctrl: Int32Array;
  /** Requests to the worker. */
  inPort: MessagePort;
  /** What the worker posts. */
  outPort: MessagePort;
  /** Answers to the worker's bridge requests that do not fit the reply buffer. */
  bridgePort: MessagePort;
  replyBytes: Uint8Array;
}

/** The main thread's end of one worker's link. The pool's Instance adds its bookkeeping to it. */
export class WorkerLink {
  /** Calls posted in this turn, sent together at its end (one post, one wake-up). */
  #outbox: ToWorker[] | null = null;
  /** This turn's calls found the instance idle: more calls made in the turn may join them (see scheduler). */
  wokenThisTurn = false;
  /** Last value of the OUT counter this side has seen. */
  outSeen = 0;
  /** Set while an Atomics.waitAsync for the worker's next message is pending. */
  armed = false;
  /** Host requests of the running call being served by the main thread. */
  inBridge = 0;
  #open = true;

  constructor(
    readonly worker: Worker,
    readonly ends: HostEnds,
  ) {}

  get ctrl(): Int32Array {
    return this.ends.ctrl;
  }

  /**
   * Queues a message for the end of this turn: calls made together (a claim starting several
   * jobs, a batch from the queue) travel as one array, with one post and one wake-up.
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
    if (batch === null || !this.#open) return;
    this.#postNow(batch.length === 1 ? batch[0]! : batch);
  }

  /** Posts a message now, after any calls queued by post() (which it must not overtake). */
  send(msg: ToWorker): void {
    this.#flushOutbox();
    this.#postNow(msg);
  }

  #postNow(msg: ToWorker | ToWorker[]): void {
    this.ends.inPort.postMessage(msg);
    Atomics.add(this.ends.ctrl, CTRL.IN, 1);
    Atomics.notify(this.ends.ctrl, CTRL.IN);
  }

  /** The next message the worker posted, if any. */
  receive(): FromWorker | undefined {
    const r = receiveMessageOnPort(this.ends.outPort);
    if (r === undefined) return undefined;
    const m = r.message as FromWorker | CompactFromWorker;
    return typeof m === 'string' ? expandCompact(m) : m;
  }

  /** Answers the host request the worker is blocked on: a string through the reply buffer when it fits. */
  answerBridge(reply: unknown): void {
    if (!this.#open) return;
    this.inBridge--;
    let len = -1;
    if (typeof reply === 'string') {
      const { read, written } = replyEncoder.encodeInto(reply, this.ends.replyBytes);
      if (read === reply.length) len = written;
    }
    if (len < 0) this.ends.bridgePort.postMessage(reply);
    Atomics.store(this.ends.ctrl, CTRL.REPLY_LEN, len);
    Atomics.add(this.ends.ctrl, CTRL.BRIDGE, 1);
    Atomics.notify(this.ends.ctrl, CTRL.BRIDGE);
  }

  /** Stops the worker and closes the link; nothing more is posted or answered. */
  close(): void {
    this.#open = false;
    // Releases a pending Atomics.waitAsync so it does not linger.
    Atomics.notify(this.ends.ctrl, CTRL.OUT);
    void this.worker.terminate();
    this.ends.inPort.close();
    this.ends.outPort.close();
    this.ends.bridgePort.close();
  }
}

/** A link the pump reads: the pool's instances, which say whether anything is expected of them. */
export interface PumpedLink extends WorkerLink {
  /** Whether the worker owes messages (a call or plugin_init or plugin_cleanup is under way) and is alive. */
  readonly owesMessages: boolean;
  /** Whether the link is closed for good. */
  readonly dead: boolean;
}

/** Where the pump delivers what the workers post. */
export interface PumpSink<L> {
  message(link: L, msg: FromWorker): void;
  /** After each poll: `polling` says whether the pump polls again next turn (see Scheduler.polled). */
  polled(polling: boolean): void;
}

/**
 * Reads the messages of a sandbox's workers on the main thread: by polling once per turn of
 * the event loop while messages keep coming (POLL_MS), then by waiting for a wake-up.
 */
export class MessagePump<L extends PumpedLink> {
  /** Whether pollTick is scheduled, and until when it keeps polling without news. */
  #polling = false;
  #pollUntil = 0;

  constructor(
    private readonly links: Iterable<L>,
    private readonly sink: PumpSink<L>,
  ) {}

  /** Looks out for a link's next messages while something is expected of it. */
  watch(link: L): void {
    if (!link.owesMessages) return;
    this.#pollUntil = performance.now() + POLL_MS;
    if (this.#polling) return;
    this.#polling = true;
    setImmediate(this.#pollTick);
  }

  /** Handles every message the worker has posted so far. */
  drain(link: L): void {
    for (;;) {
      const msg = link.receive();
      if (msg === undefined) return;
      this.sink.message(link, msg);
      if (link.dead) return;
    }
  }

  /** Spins for REPLY_SPIN_MS for the answer to the one call in flight, and takes it if it came. */
  awaitQuickReply(link: L): void {
    const seen = link.outSeen;
    const until = performance.now() + REPLY_SPIN_MS;
    while (Atomics.load(link.ctrl, CTRL.OUT) === seen && performance.now() < until);
    const out = Atomics.load(link.ctrl, CTRL.OUT);
    if (out === seen) return;
    link.outSeen = out;
    this.drain(link);
  }

  /** One poll of every link that owes messages, once per turn of the event loop. */
  readonly #pollTick = (): void => {
    let owed = false;
    for (const link of this.links) {
      if (!link.owesMessages) continue;
      const out = Atomics.load(link.ctrl, CTRL.OUT);
      if (out !== link.outSeen) {
        link.outSeen = out;
        this.drain(link);
        this.#pollUntil = performance.now() + POLL_MS;
      }
      if (link.owesMessages) owed = true;
    }
    const polling = owed && performance.now() < this.#pollUntil;
    this.sink.polled(polling);
    if (polling) {
      setImmediate(this.#pollTick);
      return;
    }
    this.#polling = false;
    if (owed) for (const link of this.links) this.#arm(link);
  };

  /** Waits (without blocking) for a wake-up from the worker: when polling found nothing for a while. */
  #arm(link: L): void {
    if (link.armed || !link.owesMessages) return;
    link.armed = true;
    const w = waitAsync(link.ctrl, CTRL.OUT, link.outSeen);
    if (w.async) void w.value.then(() => this.#onWake(link));
    else queueMicrotask(() => this.#onWake(link));
  }

  #onWake(link: L): void {
    link.armed = false;
    if (link.dead) return;
    link.outSeen = Atomics.load(link.ctrl, CTRL.OUT);
    this.drain(link);
    // Messages are coming again: poll for the next ones.
    this.watch(link);
  }
}

/** The call a host request belongs to: the oldest in flight on the worker that asks. */
export interface RequestingCall {
  opts: { chain: readonly string[]; jobId?: string | undefined; context?: CallContext | undefined };
}

/**
 * Serves the host requests a guest makes during a call that the worker cannot answer itself:
 * wire-method sd_calls (through the bridge, with the call chain), and sd_job_progress /
 * sd_job_interrupt of the job the call runs. The worker blocks until answerBridge.
 */
export class HostRequests<L extends WorkerLink, C extends RequestingCall> {
  /**
   * @param pauseClock stops the call's clock while the host records a progress report, and
   *   returns what restarts it (a job's deadline is governed by progress; see scheduler).
   */
  constructor(
    private readonly id: string,
    private readonly bridge: HostBridge,
    private readonly logger: { warn(obj: object, msg: string): void },
    private readonly pauseClock: (link: L, pc: C) => () => void,
  ) {}

  /** Serves a request of the call `pc` (the oldest in flight on `link`: the worker runs one call at a time, in order). */
  serve(link: L, msg: Extract<FromWorker, { t: 'bridge' }>, pc: C | undefined): void {
    link.inBridge++;
    if (msg.kind === 'call') {
      this.#call(link, msg.method, msg.payload, pc);
      return;
    }
    const jobId = pc?.opts.jobId;
    if (jobId === undefined) {
      link.answerBridge(-1);
      return;
    }
    if (msg.kind === 'interrupt') {
      link.answerBridge(this.jobInterrupt(jobId));
      return;
    }
    // The clock stops while the host records the report (durably; that is host time, not the
    // guest's) and a fresh period starts after it.
    const resume = this.pauseClock(link, pc!);
    Promise.resolve()
      .then(() => this.bridge.jobProgress(jobId, msg.report))
      .then(
        (n) => {
          resume();
          link.answerBridge(n);
        },
        (err) => {
          resume();
          link.answerBridge({ error: toWireError(err) });
        },
      );
  }

  #call(link: L, method: string, payloadText: string, pc: C | undefined): void {
    let payload: unknown = null;
    if (payloadText.length > 0) {
      try {
        payload = JSON.parse(payloadText);
      } catch (e) {
        const message = `sd_call payload for '${method}' is not valid JSON: ${(e as Error).message}`;
        link.answerBridge(JSON.stringify({ ok: false, error: { code: ErrorCode.INVALID_INPUT, message } }));
        return;
      }
    }
    const chain = pc ? [...pc.opts.chain, this.id] : [this.id];
    let pending: Promise<unknown>;
    try {
      // The guest's wire calls run in its call's context: its library and job (library context).
      pending = this.bridge.call(method, payload, chain, pc ? { ...(pc.opts.context ?? { libraryId: null, method: null }), ...(pc.opts.jobId !== undefined ? { jobId: pc.opts.jobId } : {}) } : undefined);
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
        link.answerBridge(envelope);
      },
      (err) => link.answerBridge(JSON.stringify({ ok: false, error: toWireError(err) })),
    );
  }

  /** sd_job_interrupt of a running job, from either kind of instance: the bridge's answer, or continue if it failed. */
  jobInterrupt(jobId: string): number {
    try {
      return this.bridge.jobInterrupt(jobId);
    } catch (e) {
      this.logger.warn({ extension: this.id, jobId, err: toWireError(e) }, 'jobInterrupt failed; answering continue');
      return 0;
    }
  }
}
