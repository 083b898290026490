/**
 * Exit codes and how an error becomes one. The CLI tells apart: the daemon answered with an
 * error (1), the command line or its input was wrong (2), no daemon to talk to (3), a full or
 * read-only disk (74, EX_IOERR from sysexits.h), a storage backend that cannot be reached (69,
 * EX_UNAVAILABLE), and a bug (70, EX_SOFTWARE).
 */
import { ErrorCode, asSpacedriveError, toWireError, type WireError } from '../errors/index.js';

export const ExitCode = {
  OK: 0,
  /** The daemon answered with an error (unknown method, invalid input, the operation failed…). */
  OPERATION_FAILED: 1,
  /** Bad command line: unknown command or flag, a value of the wrong type, bad input caught before sending. */
  USAGE: 2,
  /** No daemon listens on the data directory's socket. */
  DAEMON_NOT_RUNNING: 3,
  /** The storage backend (PostgreSQL) cannot be reached: STORE_UNAVAILABLE, the daemon's or this command's. */
  STORE_UNAVAILABLE: 69,
  /** A bug in the CLI or the daemon. */
  INTERNAL: 70,
  /** The disk is full or read-only (STORAGE_FULL, STORAGE_READ_ONLY), the daemon's or this command's. */
  STORAGE: 74,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Shown at the end of `spacedrive --help`. */
export const EXIT_CODES_HELP = `
Exit codes:
  0   success
  1   operation error: the daemon answered with an error (unknown method, invalid input, failure)
  2   usage error: unknown command or flag, a bad value, bad input caught before sending
  3   daemon not running (start it with 'spacedrive daemon start', or 'npm start' in the foreground)
  69  the storage backend cannot be reached (is PostgreSQL up? the daemon reconnects by itself)
  70  internal error (a bug; please report it)
  74  the disk is full or read-only (free some space; running jobs continue by themselves)`;

/** Errors that came back from the daemon as its answer; everything else was raised here. */
const answeredByDaemon = new WeakSet<object>();

/** Marks an error as the daemon's answer (exit code 1 rather than 2). Returns it for `throw`. */
export function markFromDaemon<E>(err: E): E {
  if (typeof err === 'object' && err !== null) answeredByDaemon.add(err);
  return err;
}

export function exitCodeFor(err: unknown): ExitCode {
  const e = asSpacedriveError(err);
  if (!e) return ExitCode.INTERNAL;
  if (e.code === ErrorCode.DAEMON_NOT_RUNNING) return ExitCode.DAEMON_NOT_RUNNING;
  // Whoever hit it: the fix is on the machine (free space), not in the command.
  if (e.code === ErrorCode.STORAGE_FULL || e.code === ErrorCode.STORAGE_READ_ONLY) return ExitCode.STORAGE;
  if (e.code === ErrorCode.STORE_UNAVAILABLE) return ExitCode.STORE_UNAVAILABLE;
  if (typeof err === 'object' && err !== null && answeredByDaemon.has(err)) return ExitCode.OPERATION_FAILED;
  if (e.code === ErrorCode.INTERNAL) return ExitCode.INTERNAL;
  // A connection that broke mid-request, a timeout, a start that failed: the operation did not succeed.
  if (
    e.code === ErrorCode.CONNECTION_CLOSED ||
    e.code === ErrorCode.TIMEOUT ||
    e.code === ErrorCode.SHUTTING_DOWN ||
    e.code === ErrorCode.UNAUTHENTICATED ||
    e.code === ErrorCode.PROTOCOL_ERROR ||
    e.code === 'DAEMON_START_FAILED' ||
    e.code === 'DAEMON_ALREADY_RUNNING' ||
    // Found by the CLI itself while writing or installing an extension (a build that fails, a
    // package whose checksums do not match, a download that fails): the command was right.
    e.code === ErrorCode.EXTENSION_INVALID ||
    e.code === ErrorCode.EXTENSION_LOAD_FAILED ||
    e.code === ErrorCode.CHECKSUM_MISMATCH ||
    e.code === ErrorCode.HTTP_FAILED ||
    e.code === ErrorCode.HTTP_TOO_LARGE ||
    e.code === ErrorCode.ALREADY_EXISTS
  ) {
    return ExitCode.OPERATION_FAILED;
  }
  return ExitCode.USAGE;
}

/** A hint printed under the error, for the errors a person can fix with one known step. */
export function hintFor(err: WireError): string | undefined {
  // The daemon's own message may already say what to run.
  if (err.code !== ErrorCode.DAEMON_NOT_RUNNING && err.message.includes('spacedrive ')) return undefined;
  if (err.code === ErrorCode.DAEMON_NOT_RUNNING) {
    return "start it with 'spacedrive daemon start' (background) or 'npm start' (foreground), with the same --data-dir";
  }
  if (err.code === ErrorCode.UNKNOWN_METHOD) return "'spacedrive methods' lists the registered methods";
  if (err.code === ErrorCode.USAGE) return "add --help to the command for its usage";
  return undefined;
}

export interface ProblemLine {
  field?: string;
  flag?: string;
  expected?: string;
  got?: string;
  message?: string;
}

/** The lines written to stderr for an error: `error [CODE]: message`, the field list, a hint. */
export function formatError(err: unknown, paint: { red: (s: string) => string; dim: (s: string) => string; bold: (s: string) => string }): string {
  const wire = toWireError(err);
  const lines = [`${paint.red(paint.bold('error'))} [${wire.code}]: ${wire.message}`];
  const problems = (wire.details as { problems?: ProblemLine[] } | undefined)?.problems;
  // One problem is already the whole message; several are easier to read one per line.
  if (Array.isArray(problems) && problems.length > 1) {
    for (const p of problems) {
      const where = p.flag ?? (p.field === '(root)' || p.field === undefined ? 'the input' : p.field);
      lines.push(`  ${where}: ${p.message ?? `expected ${p.expected ?? '?'}${p.got !== undefined ? `, got '${p.got}'` : ''}`}`);
    }
  }
  const hint = hintFor(wire);
  if (hint) lines.push(paint.dim(`hint: ${hint}`));
  return lines.join('\n');
}

/** The error as one JSON object for `--json` (written to stderr). */
export function errorAsJson(err: unknown): string {
  const wire = toWireError(err);
  const hint = hintFor(wire);
  return JSON.stringify({ error: { ...wire, ...(hint ? { hint } : {}) }, exit_code: exitCodeFor(err) });
}
