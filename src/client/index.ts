/**
 * The typed TypeScript client for the daemon's wire protocol (docs/wire-protocol.md). The CLI
 * and the tests talk to the daemon only through this.
 *
 * @example
 * const client = await SpacedriveClient.connect({ socketPath });
 * const status = await client.query('query:core.status.v1', {});
 * for await (const event of client.subscribe(['job:*'])) console.log(event.type);
 * await client.close();
 */
import { randomUUID } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { SpacedriveOptions } from '../config/index.js';
import { ErrorCode, SpacedriveError, fromWireError, hasErrorCode, type WireError } from '../errors/index.js';
import type { CoreEvent, EventFilter } from '../events/index.js';
import type { PingResult } from '../wire/protocol.js';
import type { ActionInput, ActionOutput, CallOptions, ClientOptions, QueryInput, QueryOutput, SpacedriveClientApi } from './types.js';

export * from './types.js';
export type {} from './core-types.js';

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;
/** Dispatches get an idempotency key and are sent again when their answer is lost. */
const JOBS_DISPATCH = 'action:jobs.dispatch.input.v1';
/** Errors after which a call may or may not have reached the daemon, or it was not running. */
const ANSWER_LOST = new Set<string>([ErrorCode.CONNECTION_CLOSED, ErrorCode.DAEMON_NOT_RUNNING, ErrorCode.SHUTTING_DOWN]);

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (err: SpacedriveError) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

type SubscriptionIterator = AsyncIterableIterator<CoreEvent> & { readonly ready: Promise<string> };

/** Client side of one Subscribe: a queue of events read by an async iterator. */
class ClientSubscription {
  readonly types: string[];
  readonly filter: EventFilter | undefined;
  /** The daemon's id for it on the current connection (changes after a reconnect). */
  serverId: string | null = null;
  readonly queue: CoreEvent[] = [];
  waiter: ((r: IteratorResult<CoreEvent>) => void) | null = null;
  failWaiter: ((err: unknown) => void) | null = null;
  error: unknown = null;
  done = false;
  readonly ready: Promise<string>;
  resolveReady!: (id: string) => void;
  rejectReady!: (err: unknown) => void;
  #readySettled = false;

  constructor(types: string[], filter: EventFilter | undefined) {
    this.types = types;
    this.filter = filter;
    this.ready = new Promise<string>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Callers that never await `ready` must not get an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  acknowledged(id: string): void {
    this.serverId = id;
    if (!this.#readySettled) {
      this.#readySettled = true;
      this.resolveReady(id);
    }
  }

  push(event: CoreEvent): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      this.failWaiter = null;
      w({ value: event, done: false });
    } else {
      this.queue.push(event);
    }
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.error = err;
    this.done = true;
    if (!this.#readySettled) {
      this.#readySettled = true;
      this.rejectReady(err);
    }
    if (this.failWaiter) {
      const f = this.failWaiter;
      this.waiter = null;
      this.failWaiter = null;
      f(err);
    }
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    if (!this.#readySettled) {
      this.#readySettled = true;
      this.rejectReady(new SpacedriveError(ErrorCode.CANCELLED, 'subscription ended before the daemon acknowledged it'));
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      this.failWaiter = null;
      w({ value: undefined, done: true });
    }
  }
}

/**
 * A connection to the daemon over its Unix socket (or loopback TCP with a token). Calls may be
 * made concurrently: they are pipelined on the one connection and matched by id. When the
 * connection drops, calls in flight fail with CONNECTION_CLOSED, the client reconnects with
 * backoff (unless `reconnect: false`) and re-establishes subscriptions.
 */
export class SpacedriveClient implements SpacedriveClientApi {
  readonly #opts: Required<Pick<ClientOptions, 'reconnect' | 'requestTimeoutMs' | 'connectTimeoutMs' | 'dispatchRetryMs'>> & ClientOptions;
  #socket: Socket | null = null;
  #connecting: Promise<void> | null = null;
  #nextId = 1;
  readonly #pending = new Map<number, PendingCall>();
  readonly #subs = new Set<ClientSubscription>();
  readonly #subsByServerId = new Map<string, ClientSubscription>();
  #decoder = new StringDecoder('utf8');
  #partial = '';
  #out: string[] = [];
  #flushScheduled = false;
  #closed = false;
  /** Set once a connection has been made: with `reconnect: false`, a dropped connection stays dropped. */
  #everConnected = false;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #reconnectDelay = RECONNECT_MIN_MS;
  /** The daemon's last closing reason (an error frame with id null and `details.closing`). */
  #closeReason: WireError | null = null;

  constructor(opts: ClientOptions = {}) {
    if (!opts.socketPath && !opts.tcp) {
      throw new SpacedriveError(ErrorCode.CONFIG_INVALID, 'SpacedriveClient needs a socketPath or tcp options');
    }
    this.#opts = { reconnect: true, requestTimeoutMs: 0, connectTimeoutMs: 5_000, dispatchRetryMs: 10_000, ...opts };
  }

  /** Creates a client and connects it. Rejects with DAEMON_NOT_RUNNING when nothing listens. */
  static async connect(opts: ClientOptions): Promise<SpacedriveClient> {
    const client = new SpacedriveClient(opts);
    await client.connect();
    return client;
  }

  /** A connected client for the daemon described by an options object (its socket path). */
  static fromOptions(options: SpacedriveOptions, extra: Partial<ClientOptions> = {}): Promise<SpacedriveClient> {
    return SpacedriveClient.connect({ socketPath: options.socketPath, ...extra });
  }

  get connected(): boolean {
    return this.#socket !== null && this.#connecting === null;
  }

  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(new SpacedriveError(ErrorCode.CONNECTION_CLOSED, 'client is closed'));
    if (this.#socket && !this.#connecting) return Promise.resolve();
    if (!this.#socket && !this.#connecting && this.#everConnected && !this.#opts.reconnect) {
      return Promise.reject(new SpacedriveError(ErrorCode.CONNECTION_CLOSED, 'the connection to the daemon closed (reconnect is off)'));
    }
    if (!this.#connecting) {
      this.#connecting = this.#open().finally(() => {
        this.#connecting = null;
      });
    }
    return this.#connecting;
  }

  async #open(): Promise<void> {
    const socket = await this.#dial();
    this.#socket = socket;
    this.#everConnected = true;
    this.#decoder = new StringDecoder('utf8');
    this.#partial = '';
    this.#closeReason = null;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => this.#onClose(socket));
    socket.on('error', () => undefined); // 'close' follows and handles it
    if (this.#opts.tcp) {
      await this.#send({ type: 'auth', token: this.#opts.tcp.token }, undefined, true);
    }
    // Re-establish subscriptions after a reconnect.
    for (const sub of this.#subs) {
      if (!sub.done) this.#sendSubscribe(sub);
    }
    this.#reconnectDelay = RECONNECT_MIN_MS;
  }

  #dial(): Promise<Socket> {
    const target = this.#opts.tcp ? `${this.#opts.tcp.host}:${this.#opts.tcp.port}` : this.#opts.socketPath!;
    return new Promise<Socket>((resolve, reject) => {
      const socket = this.#opts.tcp
        ? createConnection({ host: this.#opts.tcp.host, port: this.#opts.tcp.port, noDelay: true })
        : createConnection({ path: this.#opts.socketPath! });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SpacedriveError(ErrorCode.TIMEOUT, `timed out connecting to the daemon at ${target}`));
      }, this.#opts.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(socket);
      });
      const onError = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') {
          reject(
            new SpacedriveError(ErrorCode.DAEMON_NOT_RUNNING, `no daemon is listening at ${target}; start one with 'spacedrive daemon start'`, {
              target,
            }),
          );
        } else if (err.code === 'EACCES' || err.code === 'EPERM') {
          reject(new SpacedriveError(ErrorCode.PERMISSION_DENIED, `not allowed to connect to ${target} (the socket belongs to another user)`, { target }));
        } else {
          reject(new SpacedriveError(ErrorCode.DAEMON_NOT_RUNNING, `cannot connect to the daemon at ${target}: ${err.message}`, { target, errno: err.code }));
        }
      };
      socket.once('error', onError);
    });
  }

  query<M extends string>(method: M, payload?: QueryInput<M>, opts?: CallOptions): Promise<QueryOutput<M>> {
    return this.#send({ type: 'query', method, library_id: opts?.libraryId ?? null, payload: payload ?? {} }, opts) as Promise<QueryOutput<M>>;
  }

  action<M extends string>(method: M, payload?: ActionInput<M>, opts?: CallOptions): Promise<ActionOutput<M>> {
    const body = { type: 'action', method, library_id: opts?.libraryId ?? null, payload: payload ?? {} };
    if (method === JOBS_DISPATCH && isObject(body.payload)) return this.#dispatch(body, body.payload, opts) as Promise<ActionOutput<M>>;
    return this.#send(body, opts) as Promise<ActionOutput<M>>;
  }

  /**
   * A job dispatch: with an idempotency key (the payload's, else a new one), sent again with the
   * same key while its answer is lost (see ClientOptions.dispatchRetryMs), so that a dispatch the
   * daemon received before it died or the connection dropped is never added twice. A failure
   * that ends the retries carries the key in `details.idempotency_key`, for a retry later.
   */
  async #dispatch(body: Record<string, unknown>, payload: Record<string, unknown>, opts?: CallOptions): Promise<unknown> {
    const key = typeof payload.idempotency_key === 'string' ? payload.idempotency_key : randomUUID();
    const keyed = { ...body, payload: { ...payload, idempotency_key: key } };
    const deadline = Date.now() + (this.#opts.reconnect ? this.#opts.dispatchRetryMs : 0);
    let delay = RECONNECT_MIN_MS;
    for (;;) {
      try {
        return await this.#send({ ...keyed }, opts);
      } catch (err) {
        const e = err as SpacedriveError;
        const retry = ANSWER_LOST.has(e.code) && !this.#closed && !opts?.signal?.aborted && Date.now() + delay <= deadline;
        if (!retry) {
          throw hasErrorCode(e) ? new SpacedriveError(e.code, e.message, { ...(e as SpacedriveError).details, idempotency_key: key }, { cause: e }) : e;
        }
        await new Promise((r) => setTimeout(r, delay * (0.75 + Math.random() * 0.5)));
        delay = Math.min(RECONNECT_MAX_MS, delay * 2);
      }
    }
  }

  ping(): Promise<PingResult> {
    return this.#send({ type: 'ping' }) as Promise<PingResult>;
  }

  /**
   * Events as an async iterator. `ready` resolves to the daemon's subscription id once it has
   * acknowledged; breaking out of the loop (or `return()`) unsubscribes.
   */
  subscribe(eventTypes: string[] = [], filter?: EventFilter): SubscriptionIterator {
    const sub = new ClientSubscription(eventTypes, filter);
    this.#subs.add(sub);
    if (this.#closed) sub.fail(new SpacedriveError(ErrorCode.CONNECTION_CLOSED, 'client is closed'));
    else this.#sendSubscribe(sub);
    const client = this;
    const iterator: SubscriptionIterator = {
      ready: sub.ready,
      next(): Promise<IteratorResult<CoreEvent>> {
        if (sub.queue.length > 0) return Promise.resolve({ value: sub.queue.shift()!, done: false });
        if (sub.error) return Promise.reject(sub.error);
        if (sub.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          sub.waiter = resolve;
          sub.failWaiter = reject;
        });
      },
      async return(): Promise<IteratorResult<CoreEvent>> {
        await client.#unsubscribe(sub);
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  #sendSubscribe(sub: ClientSubscription): void {
    const req: Record<string, unknown> = { type: 'subscribe', event_types: sub.types };
    if (sub.filter) req.filter = sub.filter;
    this.#send(req).then(
      (result) => {
        const id = (result as { subscription: string }).subscription;
        if (sub.done) {
          // Ended while the request was in flight: drop it on the daemon too.
          this.#send({ type: 'unsubscribe', subscription: id }).catch(() => undefined);
          return;
        }
        if (sub.serverId) this.#subsByServerId.delete(sub.serverId);
        this.#subsByServerId.set(id, sub);
        sub.acknowledged(id);
      },
      (err: SpacedriveError) => {
        // A dropped connection is retried by the reconnect; anything else ends the subscription.
        if (err.code === ErrorCode.CONNECTION_CLOSED && this.#opts.reconnect && !this.#closed) return;
        this.#subs.delete(sub);
        sub.fail(err);
      },
    );
  }

  async #unsubscribe(sub: ClientSubscription): Promise<void> {
    if (sub.done && !this.#subs.has(sub)) return;
    this.#subs.delete(sub);
    const serverId = sub.serverId;
    sub.end();
    if (serverId) {
      this.#subsByServerId.delete(serverId);
      if (this.#socket && !this.#closed) await this.#send({ type: 'unsubscribe', subscription: serverId }).catch(() => undefined);
    }
  }

  async shutdown(): Promise<void> {
    await this.#send({ type: 'shutdown' });
  }

  /** Closes the connection; calls in flight fail with CONNECTION_CLOSED and subscriptions end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    const socket = this.#socket;
    this.#failPending(new SpacedriveError(ErrorCode.CONNECTION_CLOSED, 'client closed'));
    for (const sub of this.#subs) sub.end();
    this.#subs.clear();
    this.#subsByServerId.clear();
    if (socket) {
      this.#flush();
      await new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        socket.once('close', () => resolve());
        socket.end();
        setTimeout(() => socket.destroy(), 1_000).unref();
      });
    }
    this.#socket = null;
  }

  // --- sending ------------------------------------------------------------------------------

  async #send(body: Record<string, unknown>, opts?: CallOptions, duringConnect = false): Promise<unknown> {
    if (!duringConnect) {
      if (this.#closed) throw new SpacedriveError(ErrorCode.CONNECTION_CLOSED, 'client is closed');
      if (!this.#socket || this.#connecting) await this.connect();
    }
    const signal = opts?.signal;
    if (signal?.aborted) throw new SpacedriveError(ErrorCode.CANCELLED, 'call aborted before it was sent');
    // Ids stay safe integers, which every JSON parser reads back exactly.
    const id = this.#nextId;
    this.#nextId = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
    body.id = id;
    const line = JSON.stringify(body) + '\n';
    return new Promise((resolve, reject) => {
      const call: PendingCall = { resolve, reject, timer: undefined, signal, onAbort: undefined };
      const timeoutMs = opts?.timeoutMs ?? this.#opts.requestTimeoutMs;
      if (timeoutMs > 0) {
        call.timer = setTimeout(() => {
          this.#settle(id)?.reject(new SpacedriveError(ErrorCode.TIMEOUT, `no reply to ${String(body.method ?? body.type)} within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      if (signal) {
        // The daemon still runs the call; the caller just stops waiting for it.
        call.onAbort = () => this.#settle(id)?.reject(new SpacedriveError(ErrorCode.CANCELLED, 'call aborted'));
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
      this.#pending.set(id, call);
      this.#out.push(line);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        process.nextTick(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#out.length === 0) return;
    const socket = this.#socket;
    const data = this.#out.length === 1 ? this.#out[0]! : this.#out.join('');
    this.#out = [];
    if (!socket || socket.destroyed) return; // pending calls are failed by #onClose
    socket.write(data);
  }

  /** Removes a pending call and its timer/listener; returns it (undefined if already settled). */
  #settle(id: number): PendingCall | undefined {
    const call = this.#pending.get(id);
    if (!call) return undefined;
    this.#pending.delete(id);
    if (call.timer) clearTimeout(call.timer);
    if (call.signal && call.onAbort) call.signal.removeEventListener('abort', call.onAbort);
    return call;
  }

  // --- receiving ----------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    const text = this.#partial + this.#decoder.write(chunk);
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      if (nl > start) this.#onFrame(text.slice(start, nl));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    this.#partial = start === 0 ? text : text.slice(start);
  }

  #onFrame(line: string): void {
    let frame: { id?: unknown; ok?: boolean; result?: unknown; error?: WireError; event?: CoreEvent; subscription?: string };
    try {
      frame = JSON.parse(line);
    } catch {
      return; // never sent by a conforming daemon; nothing to match it to
    }
    if (frame.event !== undefined) {
      const sub = frame.subscription !== undefined ? this.#subsByServerId.get(frame.subscription) : undefined;
      sub?.push(frame.event);
      return;
    }
    // A closing frame names the request that caused it when there was one (a refused auth):
    // its reason still decides what the close means (UNAUTHENTICATED: do not reconnect).
    if (frame.ok === false && frame.error?.details?.closing === true) this.#closeReason = frame.error;
    if (typeof frame.id === 'number') {
      const call = this.#settle(frame.id);
      if (!call) return;
      if (frame.ok) call.resolve(frame.result);
      else call.reject(fromWireError(frame.error ?? { code: ErrorCode.INTERNAL, message: 'malformed error reply' }));
      return;
    }
    if (frame.id === null && frame.ok === false && frame.error) {
      // Error about a frame the daemon could not read, or the reason it is closing.
      this.#closeReason = frame.error;
      if (frame.error.code === ErrorCode.UNAUTHENTICATED) {
        this.#failPending(fromWireError(frame.error));
      }
    }
  }

  #onClose(socket: Socket): void {
    if (this.#socket !== socket) return;
    this.#socket = null;
    const reason = this.#closeReason;
    const message = reason ? `connection to the daemon closed: ${reason.message}` : 'connection to the daemon closed before the reply arrived';
    const closedErr =
      reason?.code === ErrorCode.UNAUTHENTICATED ? fromWireError(reason) : new SpacedriveError(ErrorCode.CONNECTION_CLOSED, message, reason ? { reason } : undefined);
    this.#failPending(closedErr);
    if (this.#closed) return;
    if (!this.#opts.reconnect || reason?.code === ErrorCode.UNAUTHENTICATED) {
      for (const sub of this.#subs) sub.fail(closedErr);
      this.#subs.clear();
      this.#subsByServerId.clear();
      return;
    }
    this.#subsByServerId.clear();
    for (const sub of this.#subs) sub.serverId = null;
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    // Only keep trying on our own when someone waits for events; otherwise the next call reconnects.
    if (this.#subs.size === 0) return;
    const delay = this.#reconnectDelay * (0.75 + Math.random() * 0.5);
    this.#reconnectDelay = Math.min(RECONNECT_MAX_MS, this.#reconnectDelay * 2);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.connect().catch(() => this.#scheduleReconnect());
    }, delay);
    this.#reconnectTimer.unref();
  }

  #failPending(err: SpacedriveError): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(err);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
