/**
 * What the guest side throws and answers (guest-runtime.ts, registrations.ts): a fault ends the
 * guest's call with a typed code (classified into a WorkerError where the call ends), a bail
 * ends an attempt on the main thread untouched (see GuestIo), and an error envelope answers an
 * sd_call the host refused.
 */

/** Thrown to end the guest's call with `code` (EXTENSION_BAD_RESULT, EXTENSION_TIMEOUT…). */
export interface Fault {
  sdFault: true;
  code: string;
  cause: string;
  details?: Record<string, unknown>;
}

export function fault(code: string, cause: string, details?: Record<string, unknown>): Fault {
  return details === undefined ? { sdFault: true, code, cause } : { sdFault: true, code, cause, details };
}

export function isFault(e: unknown): e is Fault {
  return typeof e === 'object' && e !== null && (e as { sdFault?: unknown }).sdFault === true;
}

/** A host method the io cannot serve here ended the attempt (see GuestIo): passed through untouched. */
export function isBail(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { sdBail?: unknown }).sdBail === true;
}

/** The JSON envelope of a refused sd_call, as the guest reads it. */
export function envelopeError(code: string, message: string): string {
  return JSON.stringify({ ok: false, error: { code, message } });
}
