/**
 * Typed errors with stable codes.
 *
 * Errors cross process, worker-thread and sandbox boundaries, where `instanceof` fails, so
 * callers recognise them by `code` (see {@link hasErrorCode}). The mapping to wire errors lives
 * here and nowhere else: {@link toWireError} / {@link fromWireError}.
 */

export const ErrorCode = {
  /** No operation is registered under the method name. */
  UNKNOWN_METHOD: 'UNKNOWN_METHOD',
  /** The payload does not match the operation's input schema. */
  INVALID_INPUT: 'INVALID_INPUT',
  /** The operation's handler failed. */
  OPERATION_FAILED: 'OPERATION_FAILED',
  /** The handler returned something that does not match its output schema (a bug in the handler). */
  INVALID_OUTPUT: 'INVALID_OUTPUT',
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** A library-scoped operation was called without a usable library id. */
  LIBRARY_REQUIRED: 'LIBRARY_REQUIRED',
  /** A request frame could not be understood (bad JSON, bad shape, invalid UTF-8). */
  PROTOCOL_ERROR: 'PROTOCOL_ERROR',
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** The TCP listener needs a token and none (or a wrong one) was given. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** Too many calls in flight; try again later. */
  OVERLOADED: 'OVERLOADED',
  TIMEOUT: 'TIMEOUT',
  CANCELLED: 'CANCELLED',
  /** The client could not reach the daemon. */
  DAEMON_NOT_RUNNING: 'DAEMON_NOT_RUNNING',
  /** Another daemon already answers on this data directory's socket. */
  DAEMON_ALREADY_RUNNING: 'DAEMON_ALREADY_RUNNING',
  /** A background daemon did not start (its log tail is in the message). */
  DAEMON_START_FAILED: 'DAEMON_START_FAILED',
  /** The connection to the daemon closed before the reply arrived. */
  CONNECTION_CLOSED: 'CONNECTION_CLOSED',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** The command line could not be understood: unknown command or option, missing argument (CLI only). */
  USAGE: 'USAGE',
  // Extension host (issue 3)
  EXTENSION_NOT_FOUND: 'EXTENSION_NOT_FOUND',
  EXTENSION_INVALID: 'EXTENSION_INVALID',
  EXTENSION_LOAD_FAILED: 'EXTENSION_LOAD_FAILED',
  EXTENSION_TRAPPED: 'EXTENSION_TRAPPED',
  EXTENSION_TIMEOUT: 'EXTENSION_TIMEOUT',
  EXTENSION_OUT_OF_MEMORY: 'EXTENSION_OUT_OF_MEMORY',
  EXTENSION_BAD_RESULT: 'EXTENSION_BAD_RESULT',
  ABI_UNSUPPORTED: 'ABI_UNSUPPORTED',
  REGISTRATION_REJECTED: 'REGISTRATION_REJECTED',
  CALL_DEPTH_EXCEEDED: 'CALL_DEPTH_EXCEEDED',
  CALL_CYCLE: 'CALL_CYCLE',
  /**
   * An extension's handler reported an error (sd_error) with a code of its own, or none: the
   * guest's code is in `details.guest_code`. A guest cannot speak with the daemon's or the
   * client's codes (SHUTTING_DOWN, CONNECTION_CLOSED…); see docs/extension-abi.md.
   */
  EXTENSION_ERROR: 'EXTENSION_ERROR',
  // Jobs (issue 4)
  UNKNOWN_JOB_TYPE: 'UNKNOWN_JOB_TYPE',
  JOB_NOT_FOUND: 'JOB_NOT_FOUND',
  /** A shortened job id matches more than one job (the candidates are in `details.candidates`). */
  JOB_ID_AMBIGUOUS: 'JOB_ID_AMBIGUOUS',
  INVALID_JOB_STATE: 'INVALID_JOB_STATE',
  /** A job's checkpoint (its `state`) is larger than its limit (an extension's `limits.max_state_bytes`); it was not written. */
  JOB_STATE_TOO_LARGE: 'JOB_STATE_TOO_LARGE',
  /** A dispatch reused an idempotency key of an earlier dispatch with other parameters. */
  IDEMPOTENCY_KEY_CONFLICT: 'IDEMPOTENCY_KEY_CONFLICT',
  // Capabilities (issue 5)
  AI_PROVIDER_NOT_CONFIGURED: 'AI_PROVIDER_NOT_CONFIGURED',
  /** The AI provider could not be reached or answered with an HTTP error (its message is kept). */
  AI_PROVIDER_ERROR: 'AI_PROVIDER_ERROR',
  /** The AI provider's answer was unusable: not JSON, or not following the requested schema. */
  AI_INVALID_ANSWER: 'AI_INVALID_ANSWER',
  /** The credentials key is missing, malformed, or not the key credentials.db was encrypted with. */
  CREDENTIALS_KEY_INVALID: 'CREDENTIALS_KEY_INVALID',
  /** A stored secret failed its integrity check (the database was altered). */
  CREDENTIALS_CORRUPT: 'CREDENTIALS_CORRUPT',
  /** An HTTP request could not be completed (DNS, connection, TLS, a bad redirect). */
  HTTP_FAILED: 'HTTP_FAILED',
  /** An HTTP response (or request body) is larger than the limit in effect. */
  HTTP_TOO_LARGE: 'HTTP_TOO_LARGE',
  /** An extension made more host calls than its `limits.requests_per_minute` allows. */
  RATE_LIMITED: 'RATE_LIMITED',
  // Libraries, entries, locations, sidecars (issue 5)
  /** Stored bytes (a sidecar, an entry's content) no longer match their recorded SHA-256. */
  CHECKSUM_MISMATCH: 'CHECKSUM_MISMATCH',
  // Mail (issue 6)
  /** The mail server refused the account's user name or password (for Gmail: use an app password). */
  MAIL_AUTH_FAILED: 'MAIL_AUTH_FAILED',
  /** The mail server could not be reached: DNS, connection refused, TLS handshake, no greeting in time. */
  MAIL_UNREACHABLE: 'MAIL_UNREACHABLE',
  /** The mail server answered a command with an error (its answer is kept in the message). */
  MAIL_SERVER_ERROR: 'MAIL_SERVER_ERROR',
  // Storage (the daemon's data directory, a copy's destination)
  /** The disk (or the user's quota) is full: nothing was written. Free space; jobs continue by themselves. */
  STORAGE_FULL: 'STORAGE_FULL',
  /** The file system is mounted read-only: nothing was written. */
  STORAGE_READ_ONLY: 'STORAGE_READ_ONLY',
  /**
   * The shared store (PostgreSQL) cannot be reached: the connection dropped or was refused. What
   * this node can answer from memory it still answers; it claims no jobs until the store is back,
   * and reconnects by itself.
   */
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The shape of an error on the wire (and across worker threads). */
export interface WireError {
  code: ErrorCode | string;
  message: string;
  details?: Record<string, unknown>;
}

export class SpacedriveError extends Error {
  override readonly name = 'SpacedriveError';
  readonly code: ErrorCode | string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode | string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  toJSON(): WireError {
    return toWireError(this);
  }
}

/** True for any error-like value carrying a stable code, whichever realm or process made it. */
export function hasErrorCode(err: unknown, code?: ErrorCode | string): err is { code: string; message: string } {
  if (typeof err !== 'object' || err === null) return false;
  const c = (err as { code?: unknown }).code;
  return typeof c === 'string' && (code === undefined || c === code);
}

const knownCodes = new Set<string>(Object.values(ErrorCode));

/**
 * True for a SpacedriveError from any realm, or anything carrying one of our codes. Node's own
 * errors also have a string `code` (ENOENT…), so a code alone is not enough.
 */
export function isSpacedriveError(err: unknown): err is SpacedriveError {
  if (err instanceof SpacedriveError) return true;
  if (!hasErrorCode(err)) return false;
  return (err as { name?: unknown }).name === 'SpacedriveError' || knownCodes.has((err as { code: string }).code);
}

/** Node's errno codes and SQLite's result codes that mean "no space" or "read-only file system". */
const STORAGE_FULL_CAUSES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);
const READ_ONLY_CAUSES = new Set(['EROFS', 'SQLITE_READONLY']);

/**
 * The one mapping of a full or read-only disk to a typed error: a Node file system error
 * (ENOSPC, EDQUOT, EROFS) or a better-sqlite3 error (SQLITE_FULL, SQLITE_READONLY and its
 * extended codes), found on `err` or on its `cause`. `undefined` for anything else. File writers
 * and stores call it where they catch; {@link asSpacedriveError} and {@link toWireError} apply
 * it to whatever reaches them untyped.
 */
export function storageFailure(err: unknown, what?: string): SpacedriveError | undefined {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (code === ErrorCode.STORAGE_FULL || code === ErrorCode.STORAGE_READ_ONLY) return asSpacedriveError(e);
    const full = STORAGE_FULL_CAUSES.has(code);
    if (!full && !READ_ONLY_CAUSES.has(code) && !code.startsWith('SQLITE_READONLY_')) continue;
    const path = (e as { path?: unknown }).path;
    const details: Record<string, unknown> = { cause: code, ...(typeof path === 'string' ? { path } : {}) };
    const where = what ?? (typeof path === 'string' ? path : 'the daemon');
    return full
      ? new SpacedriveError(ErrorCode.STORAGE_FULL, `no space left on the disk (${where}): free some space and try again; running jobs continue by themselves`, details, { cause: err })
      : new SpacedriveError(ErrorCode.STORAGE_READ_ONLY, `the file system is read-only (${where})`, details, { cause: err });
  }
  return undefined;
}

/** Whether `err` (typed or not) is a full or read-only disk: it passes once space returns, not by retrying at once. */
export function isStorageFailure(err: unknown): boolean {
  return storageFailure(err) !== undefined;
}

/**
 * Rebuilds a SpacedriveError from a plain object that crossed a thread or process boundary; a
 * full or read-only disk becomes its typed error ({@link storageFailure}).
 */
export function asSpacedriveError(err: unknown): SpacedriveError | undefined {
  if (err instanceof SpacedriveError) return err;
  if (!isSpacedriveError(err)) return storageFailure(err);
  const e = err as { code: string; message: string; details?: Record<string, unknown> };
  return new SpacedriveError(e.code, e.message, e.details);
}

/**
 * The one place where anything thrown is turned into a wire error. A `SpacedriveError` keeps
 * its code; anything else is an internal error whose message is kept (it is shown to the
 * person who made the call) but whose stack stays in the daemon's log.
 */
export function toWireError(err: unknown): WireError {
  if (isSpacedriveError(err)) {
    const e = err as SpacedriveError;
    // An internal error whose cause is a full or read-only disk says so.
    const storage = e.code === ErrorCode.INTERNAL ? storageFailure((e as { cause?: unknown }).cause) : undefined;
    if (storage) return toWireError(storage);
    const wire: WireError = { code: e.code, message: e.message };
    if (e.details !== undefined) wire.details = e.details;
    return wire;
  }
  const storage = storageFailure(err);
  if (storage) return toWireError(storage);
  const message = err instanceof Error ? err.message : String(err);
  return { code: ErrorCode.INTERNAL, message: `internal error: ${message}` };
}

export function fromWireError(wire: WireError): SpacedriveError {
  return new SpacedriveError(wire.code, wire.message, wire.details);
}

/** Shorthands for the common cases, so call sites stay one line. */
export const errors = {
  unknownMethod: (method: string, hint?: string) =>
    new SpacedriveError(ErrorCode.UNKNOWN_METHOD, `unknown method '${method}'${hint ? `; ${hint}` : ''}`, { method }),
  notFound: (what: string, details?: Record<string, unknown>) => new SpacedriveError(ErrorCode.NOT_FOUND, `${what} not found`, details),
  alreadyExists: (what: string, details?: Record<string, unknown>) =>
    new SpacedriveError(ErrorCode.ALREADY_EXISTS, `${what} already exists`, details),
  permissionDenied: (message: string, details?: Record<string, unknown>) =>
    new SpacedriveError(ErrorCode.PERMISSION_DENIED, message, details),
  internal: (message: string, cause?: unknown) => new SpacedriveError(ErrorCode.INTERNAL, message, undefined, { cause }),
};

/**
 * The HTTP status of a typed error, for the HTTP API (src/http-server); the one place codes map to
 * statuses (docs/http-api.md has the table). Codes not named here (OPERATION_FAILED, INTERNAL,
 * EXTENSION_TRAPPED, …) are 500.
 */
const HTTP_STATUS: Readonly<Record<string, number>> = {
  [ErrorCode.INVALID_INPUT]: 400,
  [ErrorCode.PROTOCOL_ERROR]: 400,
  [ErrorCode.USAGE]: 400,
  [ErrorCode.LIBRARY_REQUIRED]: 400,
  [ErrorCode.CONFIG_INVALID]: 400,
  [ErrorCode.EXTENSION_INVALID]: 400,
  [ErrorCode.ABI_UNSUPPORTED]: 400,
  [ErrorCode.REGISTRATION_REJECTED]: 400,
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.PERMISSION_DENIED]: 403,
  [ErrorCode.UNKNOWN_METHOD]: 404,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.EXTENSION_NOT_FOUND]: 404,
  [ErrorCode.JOB_NOT_FOUND]: 404,
  [ErrorCode.UNKNOWN_JOB_TYPE]: 404,
  [ErrorCode.ALREADY_EXISTS]: 409,
  [ErrorCode.INVALID_JOB_STATE]: 409,
  [ErrorCode.IDEMPOTENCY_KEY_CONFLICT]: 409,
  [ErrorCode.JOB_ID_AMBIGUOUS]: 409,
  [ErrorCode.FRAME_TOO_LARGE]: 413,
  [ErrorCode.HTTP_TOO_LARGE]: 413,
  [ErrorCode.JOB_STATE_TOO_LARGE]: 413,
  [ErrorCode.EXTENSION_ERROR]: 422,
  [ErrorCode.AI_INVALID_ANSWER]: 422,
  [ErrorCode.RATE_LIMITED]: 429,
  // The client went away (nginx's "client closed request"); nobody reads this answer.
  [ErrorCode.CANCELLED]: 499,
  [ErrorCode.AI_PROVIDER_ERROR]: 502,
  [ErrorCode.HTTP_FAILED]: 502,
  [ErrorCode.MAIL_UNREACHABLE]: 502,
  [ErrorCode.MAIL_SERVER_ERROR]: 502,
  [ErrorCode.MAIL_AUTH_FAILED]: 502,
  [ErrorCode.OVERLOADED]: 503,
  [ErrorCode.SHUTTING_DOWN]: 503,
  [ErrorCode.STORE_UNAVAILABLE]: 503,
  [ErrorCode.AI_PROVIDER_NOT_CONFIGURED]: 503,
  [ErrorCode.TIMEOUT]: 504,
  [ErrorCode.EXTENSION_TIMEOUT]: 504,
  [ErrorCode.STORAGE_FULL]: 507,
  [ErrorCode.STORAGE_READ_ONLY]: 507,
};

export function httpStatusOf(code: string): number {
  return HTTP_STATUS[code] ?? 500;
}
