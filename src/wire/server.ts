/**
 * The daemon side of the wire protocol (docs/wire-protocol.md): accepts connections on a Unix
 * socket and optionally on loopback TCP, reads newline-delimited JSON requests, hands calls to the
 * daemon's dispatcher (src/dispatch, shared with HTTP and GraphQL) and writes responses and event frames.
 *
 * Hot path notes (the benchmark in src/bench/core.bench.ts holds it to the bare echo floor):
 * responses are serialised by string concatenation around one JSON.stringify of the result,
 * queued, and written once per tick; one AbortController per connection (not per request)
 * signals handlers when the caller goes away; nothing is logged per request above debug.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { setMaxListeners } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { ErrorCode, SpacedriveError, toWireError, type WireError } from '../errors/index.js';
import type { EventFilter, CoreEvent, Subscription } from '../events/index.js';
import type { Logger } from '../logging/index.js';
import { Dispatcher, type DispatchCore } from '../dispatch/index.js';
import type { OperationKind } from '../registry/index.js';
import { FrameSplitter, parseFrame, topLevelNumberToken, type FrameSink } from './framing.js';
import { PROTOCOL_VERSION } from './protocol.js';

/** What the wire server uses of core (the dispatcher's view of it): events to stream, `execute`, its options and version. */
export type WireCore = DispatchCore;

/** Longest request id accepted (string ids). */
export const MAX_ID_LENGTH = 256;
/** Subscriptions one connection may hold. */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 64;
/** Bytes of unsent output a connection may accumulate through events before it is dropped as too slow. */
export const MAX_EVENT_BACKLOG_BYTES = 16 * 1024 * 1024;
/** A TCP connection must authenticate within this time. */
export const AUTH_TIMEOUT_MS = 10_000;

/**
 * A request's id as the JSON text its responses carry: the id is serialised once, when the
 * request is read, and numbers JSON.parse would round are kept as the characters sent.
 */
type IdJson = string;
const NULL_ID: IdJson = 'null';
const utf8 = new TextDecoder('utf-8');

export interface WireServerOptions {
  core: WireCore;
  logger: Logger;
  /** Called after a Shutdown request has been answered. */
  onShutdownRequest?: () => void;
  /** The daemon's dispatcher, shared with the other transports; one of its own when absent. */
  dispatcher?: Dispatcher;
}

export interface ListenTcpOptions {
  host: string;
  port: number;
  token: string;
}

/** Connections plus their shared settings. One per daemon. */
export class WireServer {
  readonly core: WireCore;
  readonly logger: Logger;
  readonly dispatcher: Dispatcher;
  readonly maxFrameBytes: number;
  readonly maxDepth: number;
  readonly idleTimeoutMs: number;
  readonly maxInFlight: number;
  readonly maxConnections: number;
  readonly onShutdownRequest: (() => void) | undefined;
  readonly connections = new Set<Connection>();
  readonly #servers: Server[] = [];
  #tokenDigest: Buffer | null = null;
  #closing = false;
  /** Requests answered since start (status counter). */
  requestsServed = 0;

  constructor(opts: WireServerOptions) {
    this.core = opts.core;
    this.logger = opts.logger;
    this.dispatcher = opts.dispatcher ?? new Dispatcher({ core: opts.core, logger: opts.logger });
    const w = opts.core.options.wire;
    this.maxFrameBytes = w.maxFrameBytes;
    this.maxDepth = w.maxJsonDepth;
    this.idleTimeoutMs = w.idleTimeoutMs;
    this.maxInFlight = w.maxInFlightPerConnection;
    this.maxConnections = w.maxConnections;
    this.onShutdownRequest = opts.onShutdownRequest;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Listens on a Unix socket, owner-only (see {@link bindUnixSocket}). */
  async listenUnix(path: string): Promise<void> {
    this.adopt(await bindUnixSocket(path));
  }

  /**
   * Starts serving a socket bound earlier by {@link bindUnixSocket}, including the connections
   * that arrived in between.
   */
  adopt(bound: BoundUnixSocket): void {
    const server = bound.server;
    server.off('connection', bound.hold);
    server.on('connection', (socket: Socket) => this.#accept(socket, false));
    server.on('error', (err) => this.logger.error({ err }, 'unix socket listener error'));
    for (const socket of bound.held.splice(0)) {
      if (!socket.destroyed) this.#accept(socket, false);
    }
    this.#servers.push(server);
  }

  /** Listens on loopback TCP; every connection must authenticate with `token` first. Returns the port. */
  async listenTcp(opts: ListenTcpOptions): Promise<number> {
    this.#tokenDigest = createHash('sha256').update(opts.token).digest();
    const server = createServer({ noDelay: true }, (socket) => this.#accept(socket, true));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: opts.host, port: opts.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.error({ err }, 'tcp listener error'));
    this.#servers.push(server);
    return (server.address() as AddressInfo).port;
  }

  /** Constant-time token check (digests have equal length whatever the input). */
  checkToken(token: unknown): boolean {
    if (this.#tokenDigest === null || typeof token !== 'string') return false;
    return timingSafeEqual(createHash('sha256').update(token).digest(), this.#tokenDigest);
  }

  #accept(socket: Socket, needsAuth: boolean): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const conn = new Connection(this, socket, needsAuth);
    if (this.connections.size >= this.maxConnections) {
      conn.closeWithReason({ code: ErrorCode.OVERLOADED, message: `the daemon already has ${this.maxConnections} connections; try again later` });
      return;
    }
    this.connections.add(conn);
  }

  /**
   * Graceful close: stop accepting, refuse new requests with SHUTTING_DOWN, give calls in flight
   * up to `graceMs` to finish, then abort what is left and close every connection.
   */
  async close(graceMs = 5_000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const listening = this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && [...this.connections].some((c) => c.inFlight > 0)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const conn of this.connections) conn.closeWithReason({ code: ErrorCode.SHUTTING_DOWN, message: 'the daemon is shutting down' });
    await Promise.all(listening);
  }
}

/**
 * A Unix socket bound and listening, whose connections are held until a {@link WireServer}
 * adopts it. The daemon binds first, before starting core: binding is the atomic claim on the
 * data directory (a second daemon fails here, before it could touch the first one's state).
 */
export interface BoundUnixSocket {
  readonly server: Server;
  readonly path: string;
  /** Connections accepted before adoption. */
  readonly held: Socket[];
  readonly hold: (socket: Socket) => void;
  /** Stops listening (when start-up fails before adoption). */
  close(): Promise<void>;
}

/**
 * Binds a Unix socket owner-only: it is created under a restrictive umask (so there is no
 * window where others could connect) and chmod-ed to 0600 afterwards.
 */
export async function bindUnixSocket(path: string): Promise<BoundUnixSocket> {
  const held: Socket[] = [];
  const hold = (socket: Socket): void => {
    socket.on('error', () => undefined);
    held.push(socket);
  };
  const server = createServer({ noDelay: true });
  server.on('connection', hold);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The umask is process-wide: restore it straight after listen(), which binds the socket
    // synchronously, so no other file created meanwhile inherits it.
    const previous = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
  chmodSync(path, 0o600);
  return {
    server,
    path,
    held,
    hold,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of held.splice(0)) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface PendingSubscription {
  sub: Subscription;
}

/**
 * One client connection. Implements FrameSink so the splitter calls straight into it, without
 * a closure per frame.
 */
export class Connection implements FrameSink {
  readonly #server: WireServer;
  readonly #socket: Socket;
  readonly #splitter: FrameSplitter;
  readonly #abort = new AbortController();
  #authenticated: boolean;
  /** TCP: auth requests are checked against the token (on the Unix socket they are a no-op). */
  readonly #needsAuth: boolean;
  #inFlight = 0;
  #out: string[] = [];
  #flushScheduled = false;
  #readPaused = false;
  #waitingForDrain = false;
  #closed = false;
  #ending = false;
  #subs = new Map<string, PendingSubscription>();
  #nextSub = 1;
  #authTimer: NodeJS.Timeout | null = null;

  constructor(server: WireServer, socket: Socket, needsAuth: boolean) {
    this.#server = server;
    this.#socket = socket;
    this.#authenticated = !needsAuth;
    this.#needsAuth = needsAuth;
    this.#splitter = new FrameSplitter(server.maxFrameBytes, this);
    // Every call in flight on this connection listens to its signal (up to the in-flight limit),
    // which is no leak: lift Node's default warning threshold of 10 listeners.
    setMaxListeners(0, this.#abort.signal);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (err) => server.logger.debug({ err }, 'connection error'));
    socket.on('close', () => this.#onClose());
    if (server.idleTimeoutMs > 0) {
      socket.setTimeout(server.idleTimeoutMs);
      socket.on('timeout', () => this.#onIdle());
    }
    if (needsAuth) {
      this.#authTimer = setTimeout(() => {
        if (!this.#authenticated) this.closeWithReason({ code: ErrorCode.UNAUTHENTICATED, message: `no auth request within ${AUTH_TIMEOUT_MS} ms` });
      }, AUTH_TIMEOUT_MS);
      this.#authTimer.unref();
    }
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  // --- reading ------------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    if (this.#ending) return;
    this.#splitter.push(chunk);
    if (this.#splitter.stopped || this.#inFlight >= this.#server.maxInFlight) this.#pauseReading();
  }

  /** FrameSink: one complete frame. Returns false when no more calls may start for now. */
  onFrame(frame: Buffer): boolean {
    if (this.#ending) return false;
    let msg: unknown;
    try {
      msg = parseFrame(frame, this.#server.maxDepth);
    } catch (err) {
      const error = toWireError(err);
      if (this.#authenticated) this.#reply(NULL_ID, false, error);
      else this.#refuseUnauthenticated(`the first frame must be an auth request, and this one could not be read (${error.message})`);
      return !this.#ending;
    }
    this.#dispatch(msg, frame);
    return this.#inFlight < this.#server.maxInFlight && !this.#ending;
  }

  /** FrameSink: an oversized frame is being skipped. */
  onOversized(bytes: number): void {
    const message = `frame of at least ${bytes} bytes is larger than the limit of ${this.#server.maxFrameBytes} bytes; it was discarded`;
    if (!this.#authenticated) {
      this.#refuseUnauthenticated(`the first frame must be an auth request, and this one was too large (${message})`);
      return;
    }
    this.#reply(NULL_ID, false, { code: ErrorCode.FRAME_TOO_LARGE, message, details: { limit: this.#server.maxFrameBytes } });
  }

  /** TCP: anything but an auth request with the right token closes the connection. */
  #refuseUnauthenticated(message: string, idJson: IdJson = NULL_ID): void {
    this.closeWithReason({ code: ErrorCode.UNAUTHENTICATED, message }, idJson);
  }

  #pauseReading(): void {
    if (!this.#readPaused) {
      this.#readPaused = true;
      this.#socket.pause();
    }
  }

  /** Resumes reading once calls in flight are below the limit and output has drained. */
  #maybeResume(): void {
    if (!this.#readPaused || this.#closed || this.#ending) return;
    if (this.#waitingForDrain || this.#inFlight >= this.#server.maxInFlight) return;
    if (!this.#splitter.resume()) return; // stopped again on held frames
    this.#readPaused = false;
    this.#socket.resume();
  }

  #onIdle(): void {
    if (this.#inFlight > 0 || this.#subs.size > 0) {
      // Not idle: a long call or a subscription. Re-arm.
      this.#socket.setTimeout(this.#server.idleTimeoutMs);
      return;
    }
    this.closeWithReason({ code: ErrorCode.TIMEOUT, message: `connection idle for ${this.#server.idleTimeoutMs} ms; closing` });
  }

  // --- dispatch -----------------------------------------------------------------------------

  #dispatch(msg: unknown, frame: Buffer): void {
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.#refuseFrame('a request must be a JSON object with "id" and "type"');
      return;
    }
    const req = msg as Record<string, unknown>;
    const id = idJsonOf(req.id, frame);
    if (id === undefined) {
      this.#refuseFrame(
        req.id === undefined
          ? 'request has no "id"'
          : `request "id" must be a string of at most ${MAX_ID_LENGTH} characters or a finite number (written in at most ${MAX_ID_LENGTH} characters)`,
      );
      return;
    }
    const type = req.type;
    if (type === 'auth' && this.#needsAuth) {
      if (this.#server.checkToken(req.token)) {
        this.#authenticated = true;
        if (this.#authTimer) clearTimeout(this.#authTimer);
        this.#reply(id, true, { authenticated: true });
      } else {
        // Also on a connection that authenticated before: a wrong token is never answered
        // `authenticated: true`, and whoever sent it is not trusted with the connection.
        this.#refuseUnauthenticated(typeof req.token === 'string' ? 'wrong token' : 'an auth request needs a "token" string', id);
      }
      return;
    }
    if (!this.#authenticated) {
      this.#refuseUnauthenticated('this listener requires an auth request with the token first', id);
      return;
    }
    if (this.#server.closing && type !== 'ping') {
      this.#reply(id, false, { code: ErrorCode.SHUTTING_DOWN, message: 'the daemon is shutting down' });
      return;
    }
    switch (type) {
      case 'query':
      case 'action':
        this.#call(id, type, req);
        return;
      case 'ping':
        this.#reply(id, true, { pong: true, version: this.#server.core.version, protocol: PROTOCOL_VERSION });
        return;
      case 'subscribe':
        this.#subscribe(id, req);
        return;
      case 'unsubscribe':
        this.#unsubscribe(id, req);
        return;
      case 'shutdown':
        this.#reply(id, true, { shutting_down: true });
        this.#flush();
        this.#server.logger.info('shutdown requested by a client');
        this.#server.onShutdownRequest?.();
        return;
      case 'auth':
        // A Unix socket: the file permissions are the check, and no token is configured for it.
        this.#reply(id, true, { authenticated: true });
        return;
      default:
        this.#reply(id, false, {
          code: ErrorCode.PROTOCOL_ERROR,
          message: `unknown request type ${JSON.stringify(type)}; expected query, action, ping, subscribe, unsubscribe, shutdown or auth`,
        });
    }
  }

  /** A frame that is no request (no object, no usable id): PROTOCOL_ERROR, or closing before auth. */
  #refuseFrame(message: string): void {
    if (this.#authenticated) this.#reply(NULL_ID, false, { code: ErrorCode.PROTOCOL_ERROR, message });
    else this.#refuseUnauthenticated(`the first frame must be an auth request, and this one is no request (${message})`);
  }

  #call(id: IdJson, kind: OperationKind, req: Record<string, unknown>): void {
    const method = req.method;
    if (typeof method !== 'string' || method.length === 0) {
      this.#reply(id, false, { code: ErrorCode.PROTOCOL_ERROR, message: `${kind} request needs a "method" string` });
      return;
    }
    const libraryId = req.library_id;
    if (libraryId !== undefined && libraryId !== null && typeof libraryId !== 'string') {
      this.#reply(id, false, { code: ErrorCode.PROTOCOL_ERROR, message: '"library_id" must be a string or null' });
      return;
    }
    this.#inFlight++;
    // `payload: null` means no payload, like an absent one (and like `library_id: null`).
    void this.#run(id, method, req.payload ?? undefined, libraryId || null, kind);
  }

  async #run(id: IdJson, method: string, payload: unknown, libraryId: string | null, kind: OperationKind): Promise<void> {
    try {
      const result = await this.#server.dispatcher.dispatch({ method, kind, payload, libraryId, transport: 'wire', signal: this.#abort.signal });
      this.#replyResult(id, result);
    } catch (err) {
      // Non-Spacedrive errors were logged by the dispatcher's logging middleware.
      this.#reply(id, false, toWireError(err));
    } finally {
      this.#inFlight--;
      this.#server.requestsServed++;
      if (this.#readPaused) this.#maybeResume();
    }
  }

  #subscribe(id: IdJson, req: Record<string, unknown>): void {
    const types = req.event_types ?? [];
    if (!Array.isArray(types) || !types.every((t) => typeof t === 'string')) {
      this.#reply(id, false, { code: ErrorCode.PROTOCOL_ERROR, message: '"event_types" must be an array of strings' });
      return;
    }
    const filter = req.filter;
    if (filter !== undefined && filter !== null) {
      const ok =
        typeof filter === 'object' &&
        !Array.isArray(filter) &&
        Object.values(filter).every((v) => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean');
      if (!ok) {
        this.#reply(id, false, { code: ErrorCode.PROTOCOL_ERROR, message: '"filter" must be an object whose values are strings, numbers, booleans or null' });
        return;
      }
    }
    if (this.#subs.size >= MAX_SUBSCRIPTIONS_PER_CONNECTION) {
      this.#reply(id, false, { code: ErrorCode.OVERLOADED, message: `at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection` });
      return;
    }
    const subId = `s${this.#nextSub++}`;
    const prefix = `{"subscription":${JSON.stringify(subId)},"event":`;
    const sub = this.#server.core.events.subscribe(types as string[], (filter ?? undefined) as EventFilter | undefined, (event: CoreEvent) =>
      this.#sendEvent(prefix, event),
    );
    this.#subs.set(subId, { sub });
    this.#reply(id, true, { subscription: subId });
  }

  #unsubscribe(id: IdJson, req: Record<string, unknown>): void {
    const subId = req.subscription;
    const entry = typeof subId === 'string' ? this.#subs.get(subId) : undefined;
    if (!entry) {
      this.#reply(id, false, { code: ErrorCode.NOT_FOUND, message: `no subscription ${JSON.stringify(subId)} on this connection`, details: { subscription: subId } });
      return;
    }
    entry.sub.unsubscribe();
    this.#subs.delete(subId as string);
    this.#reply(id, true, { unsubscribed: subId });
  }

  #sendEvent(prefix: string, event: CoreEvent): void {
    if (this.#closed || this.#ending) return;
    if (this.#socket.writableLength > MAX_EVENT_BACKLOG_BYTES) {
      this.closeWithReason({ code: ErrorCode.OVERLOADED, message: 'events are produced faster than this connection reads them; closing' });
      return;
    }
    let json: string;
    try {
      json = JSON.stringify(event);
    } catch (err) {
      this.#server.logger.error({ err, type: event.type }, 'event could not be serialised');
      return;
    }
    this.#enqueue(prefix + json + '}\n');
  }

  // --- writing ------------------------------------------------------------------------------

  #replyResult(id: IdJson, result: unknown): void {
    let json: string | undefined;
    try {
      json = JSON.stringify(result);
    } catch (err) {
      this.#reply(id, false, { code: ErrorCode.INTERNAL, message: `internal error: result could not be serialised: ${(err as Error).message}` });
      return;
    }
    this.#enqueue(`{"id":${id},"ok":true,"result":${json ?? 'null'}}\n`);
  }

  #reply(id: IdJson, ok: true, result: unknown): void;
  #reply(id: IdJson, ok: false, error: WireError): void;
  #reply(id: IdJson, ok: boolean, body: unknown): void {
    this.#enqueue(`{"id":${id},"ok":${ok},"${ok ? 'result' : 'error'}":${JSON.stringify(body)}}\n`);
  }

  #enqueue(line: string): void {
    if (this.#closed) return; // the client went away; the result is dropped
    this.#out.push(line);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(flushConnection, this);
    }
  }

  /** Writes everything queued in one socket write. */
  flush(): void {
    this.#flush();
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#out.length === 0 || this.#closed) {
      this.#out.length = 0;
      return;
    }
    const data = this.#out.length === 1 ? this.#out[0]! : this.#out.join('');
    this.#out = [];
    if (!this.#socket.write(data) && !this.#waitingForDrain) {
      // The client is not reading: stop reading its requests until it catches up.
      this.#waitingForDrain = true;
      this.#pauseReading();
    }
  }

  #onDrain(): void {
    this.#waitingForDrain = false;
    this.#maybeResume();
  }

  /** Sends a final error frame (id null unless given, as JSON text) and closes the connection. */
  closeWithReason(error: WireError, id: IdJson = NULL_ID): void {
    if (this.#closed || this.#ending) return;
    this.#reply(id, false, { ...error, details: { ...(error.details ?? {}), closing: true } });
    this.#flush();
    this.#ending = true;
    this.#abort.abort(new SpacedriveError(ErrorCode.CONNECTION_CLOSED, error.message));
    this.#socket.end();
    // A client that never reads would keep the socket half-open forever.
    setTimeout(() => this.#socket.destroy(), 2_000).unref();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#out.length = 0;
    if (this.#authTimer) clearTimeout(this.#authTimer);
    for (const { sub } of this.#subs.values()) sub.unsubscribe();
    this.#subs.clear();
    if (!this.#abort.signal.aborted) this.#abort.abort(new SpacedriveError(ErrorCode.CANCELLED, 'the client disconnected'));
    this.#server.connections.delete(this);
  }
}

function flushConnection(conn: Connection): void {
  conn.flush();
}

/**
 * The JSON text a request's id is echoed as, or undefined when the id is unusable. A string is
 * re-serialised; a safe integer is written as itself; any other number (a fraction, an exponent,
 * an integer beyond 2^53 that JSON.parse rounded) is echoed as the characters the client sent,
 * so that a client whose language keeps them exactly finds its own id again.
 */
function idJsonOf(id: unknown, frame: Buffer): IdJson | undefined {
  if (typeof id === 'string') return id.length <= MAX_ID_LENGTH ? JSON.stringify(id) : undefined;
  if (typeof id !== 'number' || !Number.isFinite(id)) return undefined;
  if (Number.isSafeInteger(id)) return String(id);
  const token = topLevelNumberToken(utf8.decode(frame), 'id');
  return token !== undefined && token.length <= MAX_ID_LENGTH ? token : undefined;
}
