/**
 * The one dispatcher every transport calls through: the NDJSON wire (src/wire), HTTP and GraphQL
 * (src/http-server). A call passes a chain of middleware — caller identity, limits, logging,
 * metrics — and ends in `execute` (src/execute). Whatever the transport, a call is therefore
 * checked, limited, counted and logged the same way, and fails with the same typed errors.
 *
 * Hot path: the chain is composed once; each middleware is a plain function that returns its
 * `next` promise (only metrics awaits), and the operation context is one small object per call.
 */
import { ErrorCode, SpacedriveError, hasErrorCode } from '../errors/index.js';
import type { BaseServices } from '../modules/index.js';
import type { Logger } from '../logging/index.js';
import type { Caller, OperationContext, OperationKind } from '../registry/index.js';

/** Where a call came from. `internal` is core code and tests in-process. */
export type Transport = 'wire' | 'http' | 'graphql' | 'internal';

/** One call as a transport hands it over. */
export interface DispatchCall {
  method: string;
  /** The kind the transport asked for (Query/Action); must match the method's kind when given. */
  kind?: OperationKind | undefined;
  payload: unknown;
  libraryId: string | null;
  transport: Transport;
  /**
   * Who the transport says is calling. Transports reached from outside the process (wire, http,
   * graphql) always call as a client: {@link callerIdentity} enforces it.
   */
  caller?: Caller | undefined;
  /** Aborted when the caller goes away. */
  signal?: AbortSignal | undefined;
}

export type Next = (call: DispatchCall) => Promise<unknown>;
/** A step around every call; calls `next` to go on (or throws to refuse). */
export type Middleware = (call: DispatchCall, next: Next) => Promise<unknown>;

/** Anyone outside the daemon process: a person or a program over the socket, TCP, HTTP or GraphQL. */
export const CLIENT_CALLER: Caller = Object.freeze({ kind: 'client', chain: Object.freeze([]) as readonly string[] });
const INTERNAL_CALLER: Caller = Object.freeze({ kind: 'internal', chain: Object.freeze([]) as readonly string[] });

/**
 * Caller identity: a call arriving over a transport is a client's, whatever it claims, so no
 * transport can be used to call as an extension (with its grants) or as core.
 */
export function callerIdentity(): Middleware {
  return (call, next) => {
    if (call.transport === 'internal') {
      if (call.caller === undefined) call.caller = INTERNAL_CALLER;
    } else {
      call.caller = CLIENT_CALLER;
    }
    return next(call);
  };
}

export interface LimitsOptions {
  /** Calls in flight across all transports before further ones are refused with OVERLOADED. */
  maxInFlight: number;
}

/** Limits: bounds the calls in flight daemon-wide, and refuses calls once the dispatcher closes. */
export function limits(state: DispatcherState, opts: LimitsOptions): Middleware {
  return (call, next) => {
    if (state.closing) return Promise.reject(new SpacedriveError(ErrorCode.SHUTTING_DOWN, 'the daemon is shutting down'));
    // metrics (outside) has counted this call in already.
    if (state.inFlight > opts.maxInFlight) {
      return Promise.reject(
        new SpacedriveError(ErrorCode.OVERLOADED, `the daemon already runs ${opts.maxInFlight} calls; try again later`, { limit: opts.maxInFlight }),
      );
    }
    return next(call);
  };
}

/**
 * Logging: a call that fails with something that is no typed error is a bug, logged with its
 * stack at error level; at debug level every call is logged with its duration and outcome.
 */
export function logging(logger: Logger): Middleware {
  return (call, next) => {
    if (!logger.isLevelEnabled('debug')) {
      return next(call).catch((err: unknown) => {
        if (!hasErrorCode(err)) logger.error({ err, method: call.method, transport: call.transport }, 'operation threw a non-Spacedrive error');
        throw err;
      });
    }
    const started = performance.now();
    return next(call).then(
      (result) => {
        logger.debug({ method: call.method, transport: call.transport, ms: Math.round(performance.now() - started) }, 'call');
        return result;
      },
      (err: unknown) => {
        if (!hasErrorCode(err)) logger.error({ err, method: call.method, transport: call.transport }, 'operation threw a non-Spacedrive error');
        else logger.debug({ method: call.method, transport: call.transport, code: err.code, ms: Math.round(performance.now() - started) }, 'call failed');
        throw err;
      },
    );
  };
}

/** Metrics: calls, failures and calls in flight per transport, failures per code. */
export function metrics(state: DispatcherState): Middleware {
  return async (call, next) => {
    const t = state.byTransport[call.transport];
    t.calls++;
    state.inFlight++;
    try {
      return await next(call);
    } catch (err) {
      t.errors++;
      const code = hasErrorCode(err) ? err.code : ErrorCode.INTERNAL;
      state.errorsByCode.set(code, (state.errorsByCode.get(code) ?? 0) + 1);
      throw err;
    } finally {
      state.inFlight--;
    }
  };
}

/** What the dispatcher and the transports on it use of core. */
export type DispatchCore = Pick<BaseServices, 'events' | 'executor' | 'options' | 'version'>;

/** The counts the built-in middleware keep. */
export interface DispatcherState {
  closing: boolean;
  inFlight: number;
  byTransport: Record<Transport, { calls: number; errors: number }>;
  errorsByCode: Map<string, number>;
}

export interface DispatcherOptions {
  core: DispatchCore;
  logger: Logger;
  /** Calls in flight across all transports (default 4096). */
  maxInFlight?: number;
  /** Middleware run after the built-in ones, in order, closest to the operation last. */
  middleware?: readonly Middleware[];
}

export class Dispatcher {
  readonly core: DispatchCore;
  readonly state: DispatcherState = {
    closing: false,
    inFlight: 0,
    byTransport: { wire: { calls: 0, errors: 0 }, http: { calls: 0, errors: 0 }, graphql: { calls: 0, errors: 0 }, internal: { calls: 0, errors: 0 } },
    errorsByCode: new Map(),
  };
  readonly #chain: Next;

  constructor(opts: DispatcherOptions) {
    this.core = opts.core;
    const core = opts.core;
    // Metrics outermost among the counting steps so that a refused call (limits) counts too.
    const steps: Middleware[] = [
      callerIdentity(),
      metrics(this.state),
      limits(this.state, { maxInFlight: opts.maxInFlight ?? 4096 }),
      logging(opts.logger),
      ...(opts.middleware ?? []),
    ];
    const execute: Next = (call) => {
      const ctx: OperationContext = { core, libraryId: call.libraryId, caller: call.caller ?? CLIENT_CALLER };
      if (call.signal) ctx.signal = call.signal;
      return core.executor.execute(call.method, call.payload, ctx, call.kind);
    };
    this.#chain = steps.reduceRight<Next>((next, step) => (call) => step(call, next), execute);
  }

  /** Runs one call through the middleware to the operation. Rejects with the operation's (typed) error. */
  dispatch(call: DispatchCall): Promise<unknown> {
    return this.#chain(call);
  }

  /** Refuses further calls with SHUTTING_DOWN (calls in flight go on). */
  close(): void {
    this.state.closing = true;
  }

  /** For `query:core.status.v1` (core.counters). */
  counters(): Record<string, number> {
    const out: Record<string, number> = { in_flight: this.state.inFlight };
    for (const [transport, c] of Object.entries(this.state.byTransport)) {
      out[`${transport}_calls`] = c.calls;
      out[`${transport}_errors`] = c.errors;
    }
    return out;
  }
}
