/**
 * The HTTP listener's error answers and cookie parsing, shared by the Hono routes and the
 * WebSocket upgrade.
 */
import { ErrorCode, httpStatusOf, toWireError } from '../errors/index.js';
import { SESSION_COOKIE } from './security.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

/** Status, headers and body of an error answer: `{error: {code, message, details}}` with the code's status. */
export function errorReply(err: unknown): { status: number; headers: Record<string, string>; body: string } {
  const error = toWireError(err);
  const status = httpStatusOf(error.code);
  const headers: Record<string, string> = { 'content-type': JSON_TYPE };
  if (error.code === ErrorCode.OVERLOADED || error.code === ErrorCode.SHUTTING_DOWN) headers['retry-after'] = '1';
  if (status === 401) headers['www-authenticate'] = 'Bearer realm="spacedrive"';
  return { status, headers, body: JSON.stringify({ error }) };
}

/** The `sd_session` cookie of a Cookie header. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([^;]+)`).exec(header);
  return m?.[1];
}
