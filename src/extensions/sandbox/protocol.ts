/**
 * Messages between the main thread and an instance's worker thread.
 *
 * Messages travel on MessagePorts; wake-ups travel on a small SharedArrayBuffer of counters, so
 * that the worker can block in `Atomics.wait` (and read its port with `receiveMessageOnPort`)
 * and the main thread can wait with `Atomics.waitAsync` without a `message` event per reply.
 * The main thread's end is transport.ts, the worker's end worker.ts.
 */
import type { MessagePort } from 'node:worker_threads';
import type { GuestRegistration } from './types.js';

/** Indices into the instance's Int32Array of counters. */
export const CTRL = {
  /** Bumped by the main thread after posting on the request port. */
  IN: 0,
  /** Bumped by the worker after posting on the outgoing port. */
  OUT: 1,
  /** Bumped by the main thread after answering a bridge request. */
  BRIDGE: 2,
  /** `seq` of the last call the worker started (stored before it checks KILL). */
  STARTED: 3,
  /** Set by the main thread before it stops the worker: start no further call. */
  KILL: 4,
  /**
   * Length of a bridge reply written into the instance's reply buffer, or -1 when the reply was
   * posted on the bridge port instead (not a string, or too large for the buffer).
   */
  REPLY_LEN: 5,
  /**
   * The instance's call generation. A call carries the generation it was posted under; the
   * worker starts it only if that is still current (checked after storing STARTED), and
   * otherwise answers `'s' + seq` (skipped). The main thread bumps it to take back calls
   * posted behind a slow one that have not started, and hands them to another instance.
   */
  GEN: 6,
  SIZE: 8,
} as const;

/**
 * Size of the per-instance buffer that carries sd_call replies back to the worker. Writing the
 * reply into shared memory skips a postMessage, which costs as much as the rest of the trip.
 */
export const REPLY_BUFFER_BYTES = 64 * 1024;

/** Error as produced inside the worker (plain data: it crosses the thread boundary). */
export interface WorkerError {
  code: string;
  /** What went wrong, without the extension/export prefix the main thread adds. */
  cause: string;
  /** The export that was running (`plugin_init`, a handler…). */
  export?: string;
  /** Frames of the wasm stack, when there is one. */
  wasmStack?: string[];
  /** Raw text the guest passed to sd_error when that is the call's answer (the main thread maps it). */
  guestError?: string;
  /** Raw text the guest passed to sd_error before it trapped: the reason for the trap. */
  guestReason?: string;
  /** More about the cause, added to the error's details (the limit a registration went past). */
  details?: Record<string, unknown>;
}

export type LogLine = [level: number, text: string];

/** Requests to a worker; several may travel as one array message. */
export type ToWorker =
  /** The first message to a worker: which extension it runs (workers are started before they know). */
  | { t: 'init'; init: SharedInit }
  | { t: 'call'; seq: number; gen: number; exportFn: string; input: string; inputBytes: number; jobId: string | null; maxOutputBytes: number; timeoutMs: number }
  | { t: 'cleanup' };

/**
 * The hottest messages travel as bare strings, which post faster than objects:
 * `'r' + output` is a successful result with no log lines,
 * `'c' + method.length + ':' + method + payload` is a wire-method sd_call, and
 * `'s' + seq` says the call `seq` was not started because its generation was revoked (CTRL.GEN).
 */
export type CompactFromWorker = string;

export type FromWorker =
  | { t: 'ready'; registrations: GuestRegistration[]; logs: LogLine[] }
  | { t: 'fail'; error: WorkerError; logs: LogLine[] }
  | { t: 'result'; ok: true; output: string; logs: LogLine[]; value?: unknown }
  | { t: 'result'; ok: false; error: WorkerError; discard: boolean; logs: LogLine[] }
  /** `payload` is the guest's JSON text, unparsed. */
  | { t: 'bridge'; kind: 'call'; method: string; payload: string; logs: LogLine[] }
  | { t: 'bridge'; kind: 'progress'; report: Record<string, unknown>; logs: LogLine[] }
  | { t: 'bridge'; kind: 'interrupt'; logs: LogLine[] }
  | { t: 'skipped'; seq: number; logs: LogLine[] }
  | { t: 'logs'; logs: LogLine[] }
  | { t: 'cleaned'; logs: LogLine[] };

/**
 * The main thread's answer to a bridge request: for `call`, the JSON envelope text handed to
 * the guest as is; for `progress` and `interrupt`, the number returned to the guest, or an error
 * when the host could not serve it (the guest's call then fails).
 */
export type BridgeReply = string | number | { error: { code: string; message: string } };

/** What a worker receives as workerData: its channels to the main thread. */
export interface WorkerChannels {
  ctrl: Int32Array;
  inPort: MessagePort;
  outPort: MessagePort;
  bridgePort: MessagePort;
  /** REPLY_BUFFER_BYTES of shared memory for sd_call replies (see CTRL.REPLY_LEN). */
  replyBuffer: SharedArrayBuffer;
}

/** What the worker learns from its first message: the extension it runs. */
export interface SharedInit {
  module: import('./wasm-types.js').WasmModule;
  id: string;
  version: string;
  config: unknown;
  /**
   * Function imports the host does not provide, or not with that signature (host-imports.ts):
   * stubbed so sd_abi_version can be read, then refused, `why` naming each.
   */
  refusedImports: { module: string; name: string; why: string }[];
  importedMemory: { module: string; name: string; initialPages: number; maxPages: number; shared: boolean } | undefined;
  memoryMaxBytes: number;
  /** What plugin_init may register (SandboxLimits.registrations, defaults filled in). */
  registrationLimits: import('./types.js').RegistrationLimits;
  /** Bounds `extension.sleep` during plugin_init. */
  initTimeoutMs: number;
  supportedAbi: number[];
  /**
   * Hand back the output's parsed value with a result (`value`), besides its text: set for the
   * main thread's instance, which would otherwise parse the output twice. Never for a worker,
   * whose results cross as text.
   */
  keepOutputValue?: boolean;
  /**
   * The `extension.config` answer, encoded: set for the main thread's instance, which is made
   * again after a dropped attempt and must not encode a large config each time (a megabyte of
   * config took tens of milliseconds). A worker encodes its own.
   */
  configEnvelope?: Uint8Array;
}

export type WorkerInit = WorkerChannels & SharedInit;

/** A handler call, as the guest runtime runs it. */
export type CallRequest = Pick<Extract<ToWorker, { t: 'call' }>, 'exportFn' | 'input' | 'inputBytes' | 'jobId' | 'maxOutputBytes' | 'timeoutMs'>;
export type StartResult = Extract<FromWorker, { t: 'ready' | 'fail' }>;
export type CallResult = Extract<FromWorker, { t: 'result' }>;
export type CleanupResult = Extract<FromWorker, { t: 'cleaned' }>;
export type GuestBridgeRequest = { kind: 'progress'; report: Record<string, unknown> } | { kind: 'interrupt' };

/**
 * How a guest runtime (guest-runtime.ts) reaches the rest of the host. A method may throw
 * `{ sdBail: true, reason }` instead of answering: the runtime then passes it up untouched
 * (nothing is classified as a failure), and the instance must not be used again.
 */
export interface GuestIo {
  /** Log lines piled up during a call (64 of them): send them on now. */
  flushLogs(logs: LogLine[]): void;
  /** A wire-method sd_call (`payload` is the guest's JSON text): the packed envelope in guest memory. */
  callHost(method: string, payload: string): bigint;
  /** sd_job_progress / sd_job_interrupt of the running job, with the lines logged before it. */
  bridge(request: GuestBridgeRequest, logs: LogLine[]): BridgeReply;
  /** `extension.sleep`, already checked against the call's deadline. */
  sleep(ms: number): void;
  /**
   * Called before the host does work a guest asked for: at every host import, with the bytes it
   * will read from guest memory, and before every copy into or out of guest memory (results,
   * a call's input and output), with its length. Guest instructions are metered; this is the rest
   * of what a guest can make the host do. The main thread's instance charges it against the
   * attempt's budget and may end the attempt (bail); a worker ignores it.
   */
  hostWork(bytes: number): void;
}

/** One instance's guest side (createGuestRuntime). */
export interface GuestRuntime {
  /** Instantiates the module and runs plugin_init. */
  start(): StartResult;
  call(request: CallRequest): CallResult;
  /** Runs plugin_cleanup, if exported. */
  cleanup(): CleanupResult;
  /** A call failed in a way that leaves the instance unusable. */
  readonly poisoned: boolean;
  /** The instance's exports (after start). */
  readonly exports: Record<string, unknown>;
  fault(code: string, cause: string, details?: Record<string, unknown>): { sdFault: true; code: string; cause: string; details?: Record<string, unknown> };
  /** Copies a string into a fresh guest buffer; returns it packed (ptr | len << 32). */
  toGuest(s: string): bigint;
  bytesToGuest(bytes: Uint8Array): bigint;
}
