/**
 * The typed client's public surface (implemented in ./index.ts). The CLI and the tests use
 * only this.
 */
import type { CoreEvent, EventFilter } from '../events/index.js';
import type { PingResult } from '../wire/protocol.js';

/**
 * Known methods with their input and output types. Capabilities add theirs by declaration
 * merging (`declare module '…/client/types.js' { interface KnownQueries { … } }`); unknown
 * method names still work, typed as `unknown`.
 */
export interface KnownQueries {
  'query:core.status.v1': {
    input: Record<string, never>;
    output: { version: string; uptime_ms: number; started_at: string; data_dir: string; pid: number; counts: Record<string, number> };
  };
  'query:core.methods.v1': {
    input: { filter?: string; owner?: string; kind?: 'query' | 'action' };
    output: {
      methods: Array<{ method: string; kind: 'query' | 'action'; scope: 'core' | 'library'; owner: string; description: string; input_schema: unknown; output_schema: unknown }>;
    };
  };
}

export interface KnownActions {
  'action:files.copy.input.v1': {
    input: { sources: string[]; destination: string; overwrite?: boolean };
    output: unknown;
  };
}

/**
 * Types of the methods of a running daemon, core and extensions, generated from the JSON Schemas
 * of its registry by `spacedrive types generate --out spacedrive-methods.d.ts`: the generated file
 * augments this interface (`declare module 'spacedrive-extensions/client' { interface MethodTypes
 * { 'query:finance:classify_receipt.v1': { input: …; output: … } } }`). The hand-written
 * `KnownQueries` / `KnownActions` win for core methods that have both; a method in neither is
 * typed `unknown`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface MethodTypes {}

/**
 * Types of the job types of a running daemon (params, checkpoint state, output), generated with
 * `MethodTypes` by `spacedrive types generate`: `JobParams<'finance:email_scan'>` is what
 * `action:jobs.dispatch.input.v1` takes as `params` for that type.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface JobTypes {}

type JobPart<T extends string, Part extends 'params' | 'state' | 'output'> = T extends keyof JobTypes
  ? JobTypes[T] extends { [P in Part]: infer X }
    ? X
    : unknown
  : unknown;

/** The params of job type `T` (from `spacedrive types generate`; `unknown` when not generated). */
export type JobParams<T extends string> = JobPart<T, 'params'>;
/** The checkpoint state of job type `T`, as `query:jobs.get_status.v1` shows it. */
export type JobState<T extends string> = JobPart<T, 'state'>;
/** The output of a completed job of type `T`. */
export type JobOutput<T extends string> = JobPart<T, 'output'>;

type Generated<M extends string, Part extends 'input' | 'output'> = M extends keyof MethodTypes
  ? MethodTypes[M] extends { [P in Part]: infer T }
    ? T
    : unknown
  : unknown;

export type QueryInput<M extends string> = M extends keyof KnownQueries ? KnownQueries[M]['input'] : Generated<M, 'input'>;
export type QueryOutput<M extends string> = M extends keyof KnownQueries ? KnownQueries[M]['output'] : Generated<M, 'output'>;
export type ActionInput<M extends string> = M extends keyof KnownActions ? KnownActions[M]['input'] : Generated<M, 'input'>;
export type ActionOutput<M extends string> = M extends keyof KnownActions ? KnownActions[M]['output'] : Generated<M, 'output'>;

export interface ClientOptions {
  /** Unix socket path (default: `<dataDir>/daemon.sock` from the options object). */
  socketPath?: string;
  /** TCP instead of the socket: host, port and token. */
  tcp?: { host: string; port: number; token: string };
  /** Reconnect after the connection drops (requests in flight fail with CONNECTION_CLOSED; subscriptions are re-established). Default true. */
  reconnect?: boolean;
  /** Per-request timeout in ms; 0 for none. Default 0. */
  requestTimeoutMs?: number;
  /** Connect timeout in ms. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * How long a job dispatch (`action:jobs.dispatch.input.v1`) whose answer was lost — the
   * connection closed, the daemon was not running or shutting down — keeps being sent again,
   * reconnecting with backoff, before it fails. Safe because every dispatch carries an
   * idempotency key (generated unless the payload has one): the daemon adds the job once however
   * often it is sent. 0 never retries; also off with `reconnect: false`. Default 10000.
   */
  dispatchRetryMs?: number;
}

export interface CallOptions {
  libraryId?: string | null;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface SpacedriveClientApi {
  /** Resolves once connected; rejects with DAEMON_NOT_RUNNING when nothing listens. */
  connect(): Promise<void>;
  query<M extends string>(method: M, payload?: QueryInput<M>, opts?: CallOptions): Promise<QueryOutput<M>>;
  action<M extends string>(method: M, payload?: ActionInput<M>, opts?: CallOptions): Promise<ActionOutput<M>>;
  ping(): Promise<PingResult>;
  /** Events as an async iterator; breaking out of the loop unsubscribes. */
  subscribe(eventTypes?: string[], filter?: EventFilter): AsyncIterableIterator<CoreEvent> & { readonly ready: Promise<string> };
  /** Asks the daemon to shut down gracefully. */
  shutdown(): Promise<void>;
  close(): Promise<void>;
}
