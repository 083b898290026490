/**
 * Who may talk to the HTTP listener, checked before anything else runs:
 *  - DNS rebinding: `Host` must name a loopback address (or a configured host) with the port
 *    listened on, and `Origin`, when sent, must be that same origin;
 *  - authentication: `Authorization: Bearer <token>`, or the `sd_session` cookie set by
 *    `POST /v1/login`;
 *  - CSRF: a cookie-authenticated request that changes something carries `X-CSRF-Token`.
 * docs/http-api.md, "Authentication", is the contract.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, SpacedriveError } from '../errors/index.js';

export const SESSION_COOKIE = 'sd_session';
export const CSRF_HEADER = 'x-csrf-token';
/** A session unused for this long is forgotten. */
export const SESSION_IDLE_MS = 12 * 3_600_000;
/** Sessions kept at most (the oldest is dropped first): a client logging in in a loop cannot grow memory. */
const MAX_SESSIONS = 1000;

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** Methods that change nothing, which need no CSRF token. */
export function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

function refuse(reason: string, message: string): SpacedriveError {
  return new SpacedriveError(ErrorCode.PERMISSION_DENIED, message, { reason });
}

export interface Session {
  csrfToken: string;
  lastUsed: number;
}

export type Authentication = { kind: 'bearer' } | { kind: 'session'; session: Session; id: string } | null;

export class HttpSecurity {
  readonly #token: Buffer;
  readonly #hostNames: Set<string>;
  readonly #origins: Set<string>;
  #port = 0;
  readonly #sessions = new Map<string, Session>();

  /**
   * @param listenHost the host listened on (accepted in `Host` as well as the loopback names)
   * @param allowedHosts further names accepted in `Host` (config `http.allowedHosts`)
   * @param allowedOrigins further origins whose pages may call (config `http.allowedOrigins`)
   */
  constructor(token: string, listenHost: string, allowedHosts: readonly string[], allowedOrigins: readonly string[] = []) {
    this.#origins = new Set(allowedOrigins.map((o) => o.toLowerCase()));
    this.#token = Buffer.from(token, 'utf8');
    const bracketed = listenHost.includes(':') && !listenHost.startsWith('[') ? `[${listenHost}]` : listenHost;
    this.#hostNames = new Set([...LOOPBACK_HOSTS, bracketed, ...allowedHosts].map((h) => h.toLowerCase()));
  }

  /** The port actually bound (the `Host` header must carry it). */
  set port(port: number) {
    this.#port = port;
  }

  /** Throws PERMISSION_DENIED (reason `host` or `origin`) for a request from a page of another origin or a rebound name. */
  checkOrigin(host: string | undefined, origin: string | undefined): void {
    if (!host) throw refuse('host', 'the request has no Host header');
    const h = host.toLowerCase();
    const sep = h.lastIndexOf(':');
    const name = sep > 0 && !h.endsWith(']') ? h.slice(0, sep) : h;
    const port = sep > 0 && !h.endsWith(']') ? Number(h.slice(sep + 1)) : 80;
    if (!this.#hostNames.has(name) || port !== this.#port) {
      throw refuse('host', `Host '${host}' is not this daemon's address (use http://127.0.0.1:${this.#port}/); refused against DNS rebinding`);
    }
    if (origin !== undefined && origin.toLowerCase() !== `http://${h}` && !this.#origins.has(origin.toLowerCase())) {
      throw refuse('origin', `a request from origin '${origin}' is refused: only pages served by this daemon (http://${host}) may call it`);
    }
  }

  /**
   * Constant-time comparison with the token: only its length can be learnt from the timing, and
   * that is no secret (every generated token has 43 characters). Compared as bytes rather than
   * as digests, which cost more than the rest of a no-op call (src/bench/http.bench.ts).
   */
  checkToken(token: unknown): boolean {
    if (typeof token !== 'string' || token.length !== this.#token.length) return false;
    const given = Buffer.from(token, 'utf8');
    return given.length === this.#token.length && timingSafeEqual(given, this.#token);
  }

  /** Who the request is: bearer, a live session, or nobody (null). A wrong bearer token throws UNAUTHENTICATED. */
  authenticate(authorization: string | undefined, sessionId: string | undefined): Authentication {
    if (authorization !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!m || !this.checkToken(m[1])) throw new SpacedriveError(ErrorCode.UNAUTHENTICATED, 'wrong token in the Authorization header (expected: Bearer <token>; see `spacedrive daemon token`)');
      return { kind: 'bearer' };
    }
    if (sessionId !== undefined) {
      const session = this.#sessions.get(sessionId);
      if (session && Date.now() - session.lastUsed < SESSION_IDLE_MS) {
        session.lastUsed = Date.now();
        return { kind: 'session', session, id: sessionId };
      }
      if (session) this.#sessions.delete(sessionId);
    }
    return null;
  }

  /** Throws UNAUTHENTICATED without credentials, PERMISSION_DENIED (reason `csrf`) for a cookie write without the CSRF token. */
  requireAuth(auth: Authentication, method: string, csrfHeader: string | undefined): void {
    if (auth === null) {
      throw new SpacedriveError(ErrorCode.UNAUTHENTICATED, 'authenticate with Authorization: Bearer <token> or POST /v1/login (the token: `spacedrive daemon token`)');
    }
    if (auth.kind === 'session' && !isSafeMethod(method)) {
      const expected = Buffer.from(auth.session.csrfToken);
      const given = Buffer.from(csrfHeader ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw refuse('csrf', `a request authenticated by the session cookie needs the header X-CSRF-Token (from POST /v1/login or GET /v1/session)`);
      }
    }
  }

  /** A new session for a correct token; returns its id (the cookie) and CSRF token. */
  login(token: unknown): { id: string; session: Session } {
    if (!this.checkToken(token)) throw new SpacedriveError(ErrorCode.UNAUTHENTICATED, 'wrong token (see `spacedrive daemon token`)');
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const session: Session = { csrfToken: randomBytes(24).toString('base64url'), lastUsed: Date.now() };
    this.#sessions.set(id, session);
    return { id, session };
  }

  logout(sessionId: string | undefined): void {
    if (sessionId !== undefined) this.#sessions.delete(sessionId);
  }
}
