/**
 * `POST /v1/query/:method` and `POST /v1/action/:method`, the API's hot path, answered straight on
 * Node's request and response before Hono sees them: the framework's adapter (a WHATWG Request
 * and Response per call) cost as much as everything else on a no-op call together, and these two
 * routes need none of it (src/bench/http.bench.ts holds them to ≥ 0.6 × a bare node:http echo).
 * They pass the same checks (./security.ts), the same dispatcher, and answer errors with the same
 * body and status ({@link errorReply}) as every other route.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from '../dispatch/index.js';
import { ErrorCode, SpacedriveError, httpStatusOf, toWireError } from '../errors/index.js';
import { expandMethodName, type OperationKind } from '../registry/index.js';
import { connectionSignal, readJson, type BodyLimits } from './node-request.js';
import { CSRF_HEADER, SESSION_COOKIE, type HttpSecurity } from './security.js';

const JSON_TYPE = 'application/json; charset=utf-8';

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

function decodePath(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new SpacedriveError(ErrorCode.PROTOCOL_ERROR, `the method in the path is not valid percent-encoding: '${segment}'`);
  }
}

export interface RpcDeps {
  dispatcher: Dispatcher;
  security: HttpSecurity;
  limits: BodyLimits;
}

/** Answers the request when it is a query or action call, and returns true; false leaves it to Hono. */
export function handleRpc(req: IncomingMessage, res: ServerResponse, deps: RpcDeps): boolean {
  const url = req.url ?? '';
  let kind: OperationKind;
  if (url.startsWith('/v1/query/')) kind = 'query';
  else if (url.startsWith('/v1/action/')) kind = 'action';
  else return false;
  if (req.method !== 'POST') return false;
  void run(req, res, deps, kind, url);
  return true;
}

async function run(req: IncomingMessage, res: ServerResponse, deps: RpcDeps, kind: OperationKind, url: string): Promise<void> {
  try {
    const { security } = deps;
    const h = req.headers;
    security.checkOrigin(h.host, h.origin);
    const auth = security.authenticate(h.authorization, h.authorization === undefined ? sessionCookie(h.cookie) : undefined);
    security.requireAuth(auth, 'POST', h[CSRF_HEADER] as string | undefined);
    const q = url.indexOf('?');
    const name = decodePath(url.slice(kind === 'query' ? 10 : 11, q < 0 ? undefined : q));
    const header = h['x-library-id'];
    const libraryId = typeof header === 'string' ? header : q < 0 ? null : new URLSearchParams(url.slice(q + 1)).get('library_id');
    const payload = await readJson(req, deps.limits);
    const result = await deps.dispatcher.dispatch({
      method: expandMethodName(kind, name),
      kind,
      payload,
      libraryId,
      transport: 'http',
      signal: connectionSignal(req),
    });
    const body = JSON.stringify(result ?? null);
    res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) }).end(body);
  } catch (err) {
    const reply = errorReply(err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // An unread body is drained by Node after the answer so the client can read it; one far over
    // the limit is not worth reading: the connection closes instead.
    if (!req.readableEnded && Number(req.headers['content-length'] ?? Infinity) > 4 * deps.limits.maxBytes) reply.headers.connection = 'close';
    res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) }).end(reply.body);
  }
}
