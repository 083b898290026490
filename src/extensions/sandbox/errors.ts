/**
 * The sandbox's errors, as callers see them: every failure that leaves the sandbox is a
 * SpacedriveError (src/errors) naming the extension and the export. Errors made inside an
 * instance (WorkerError, plain data that crossed the thread boundary) become typed errors here,
 * in one place, for both kinds of instance (workers and the main thread's metered one).
 */
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { WorkerError } from './protocol.js';

/**
 * The codes a handler may fail with through sd_error and have them reach its caller as they
 * are: they describe the request or the data it names, which is the handler's to judge. Any
 * other code (or none) goes out as EXTENSION_ERROR with the guest's code in
 * `details.guest_code`, so that a guest cannot make a client believe something about the
 * daemon or the connection (SHUTTING_DOWN, INTERNAL, CONNECTION_CLOSED, PERMISSION_DENIED…).
 */
export const GUEST_ERROR_CODES: ReadonlySet<string> = new Set([ErrorCode.INVALID_INPUT, ErrorCode.NOT_FOUND, ErrorCode.ALREADY_EXISTS]);

/** The message in an sd_error text: its `message` field when it is a JSON error, else the text. */
function guestMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string') {
      return (parsed as { message: string }).message;
    }
  } catch {
    // plain text
  }
  return text;
}

/** The errors of one extension's sandbox. */
export class SandboxErrors {
  constructor(readonly id: string) {}

  /** An instance's error (a trap, a limit, the guest's own sd_error) as its caller gets it. */
  fromWorker(err: WorkerError, exportFn: string): SpacedriveError {
    const exp = err.export ?? exportFn;
    if (err.guestError !== undefined) {
      let code: string = ErrorCode.EXTENSION_ERROR;
      let message = err.guestError;
      const details: Record<string, unknown> = { extension: this.id, export: exp, cause: 'the extension reported an error' };
      try {
        const parsed = JSON.parse(err.guestError) as unknown;
        if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string') {
          const g = parsed as { code?: unknown; message: string; details?: unknown };
          message = g.message;
          if (typeof g.code === 'string') {
            if (GUEST_ERROR_CODES.has(g.code)) code = g.code;
            else details.guest_code = g.code;
          }
          if (g.details !== undefined) details.guest_details = g.details;
        }
      } catch {
        // Plain text: the whole of it is the message.
      }
      // The extension's own words about a call it refused: the export that said them is an
      // internal name (kept in details); traps below keep it in the message, for bug reports.
      return new SpacedriveError(code, `extension '${this.id}': ${message}`, details);
    }
    let cause = err.cause;
    if (err.guestReason !== undefined) {
      // The guest said why before trapping (AssemblyScript's abort does): lead with its words.
      cause = `${guestMessage(err.guestReason)} (${err.cause})`;
    }
    const details: Record<string, unknown> = { extension: this.id, export: exp, cause, ...err.details };
    if (err.wasmStack) details.wasmStack = err.wasmStack;
    return new SpacedriveError(err.code, `extension '${this.id}', export '${exp}': ${cause}`, details);
  }

  input(exportFn: string, cause: string): SpacedriveError {
    return new SpacedriveError(ErrorCode.INVALID_INPUT, `extension '${this.id}', export '${exportFn}': ${cause}`, {
      extension: this.id,
      export: exportFn,
      cause,
    });
  }

  cancelled(exportFn: string): SpacedriveError {
    return new SpacedriveError(ErrorCode.CANCELLED, `extension '${this.id}', export '${exportFn}': cancelled by the caller`, {
      extension: this.id,
      export: exportFn,
      cause: 'cancelled by the caller',
    });
  }

  unloading(): SpacedriveError {
    return new SpacedriveError(ErrorCode.SHUTTING_DOWN, `extension '${this.id}' is being unloaded`, { extension: this.id });
  }

  unloaded(): SpacedriveError {
    return new SpacedriveError(ErrorCode.SHUTTING_DOWN, `extension '${this.id}' was unloaded`, { extension: this.id });
  }
}
