/**
 * The daemon's HTTP listener (docs/http-api.md): the `/v1` API, GraphQL at `/graphql` (HTTP and
 * WebSocket) and the dashboard's files, on loopback, behind the checks of ./security.ts. Hono on
 * @hono/node-server (measured against Fastify on a no-op route: see src/bench/http.bench.ts);
 * GraphQL is graphql-js, over HTTP by ./graphql.ts's GraphQLOverHttp and over WebSocket by
 * graphql-ws on `ws`. (graphql-yoga was measured in its place and cost several times the whole
 * HTTP API path per request; see docs/http-api.md.)
 *
 * Everything that runs an operation goes through the daemon's dispatcher (src/dispatch), like the
 * wire, so both give the same results and errors.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { SpacedriveOptions } from '../config/index.js';
import type { Dispatcher } from '../dispatch/index.js';
import { ErrorCode, SpacedriveError, httpStatusOf, toWireError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import { mountApi } from './api.js';
import { GraphQLOverHttp, LiveSchema, buildGraphQLSchema } from './graphql.js';
import { connectionSignal, incomingOf, readJson } from './node-request.js';
import { errorReply, sessionCookie } from './replies.js';
import { CSRF_HEADER, HttpSecurity, SESSION_COOKIE, SESSION_IDLE_MS, type Authentication } from './security.js';
import { DEFAULT_WEB_ROOT, SECURITY_HEADERS, serveDashboard } from './static.js';

export { graphqlFieldName, buildGraphQLSchema } from './graphql.js';
export { HttpSecurity } from './security.js';

export interface HttpServerOptions {
  dispatcher: Dispatcher;
  logger: Logger;
  options: SpacedriveOptions;
  /** The token of `Authorization: Bearer` and `POST /v1/login` (src/daemon/api-token.ts). */
  token: string;
  /** Where the dashboard's files are (default `dist/web/`). */
  webRoot?: string;
}

export interface RunningHttpServer {
  /** `http://HOST:PORT` with the port actually bound. */
  url: string;
  port: number;
  /** The GraphQL schema served now (rebuilt after extension changes). */
  schema: LiveSchema;
  close(): Promise<void>;
}

/** Splits `HOST:PORT` (IPv6 in brackets). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[([0-9a-fA-F:.]+)\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `http.listen: expected HOST:PORT such as 127.0.0.1:7780, got '${listen}'`);
  return { host: m[2] ?? m[1]!, port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const NO_PARAMS = new URLSearchParams();
/** Routes under /v1 that answer without credentials: the login flow. */
const PUBLIC_PATHS = new Set(['/v1/login', '/v1/session', '/v1/logout']);
/** How long calls in flight may take to answer when the HTTP listener closes. */
const CLOSE_GRACE_MS = 2_000;

type Env = { Variables: { libraryId: string | null; auth: Authentication } };

function errorResponse(c: Context, err: unknown): Response {
  const reply = errorReply(err);
  return c.body(reply.body, reply.status as 400, reply.headers);
}

/** `http.listen` as host and port; CONFIG_INVALID when malformed, or not loopback unless `http.allowNonLoopback`. */
export function checkListen(options: SpacedriveOptions): { host: string; port: number } {
  const { host, port } = parseListen(options.http.listen ?? '');
  if (!isLoopback(host) && !options.http.allowNonLoopback) {
    throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `http.listen ${options.http.listen} is not a loopback address; set http.allowNonLoopback to serve beyond this machine`);
  }
  return { host, port };
}

/** Starts listening (see {@link checkListen} for what is refused). */
export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const { dispatcher, logger, options } = opts;
  const core = dispatcher.core;
  const { host, port } = checkListen(options);
  const security = new HttpSecurity(opts.token, host, options.http.allowedHosts, options.http.allowedOrigins);
  const schema = new LiveSchema(() => buildGraphQLSchema(core.executor.list(), dispatcher, core.events, logger), core.events, logger);

  const graphqlHttp = new GraphQLOverHttp(schema);

  const app = new Hono<Env>();
  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => errorResponse(c, new SpacedriveError(ErrorCode.NOT_FOUND, `no route ${c.req.method} ${new URL(c.req.url).pathname}`)));

  // Every request: Host and Origin first (DNS rebinding, cross-site), then who is calling.
  // One middleware, not one per concern: each layer costs on every call.
  app.use('*', async (c, next) => {
    // Node's parsed headers, not Hono's Request view of them: read on every call, and the view
    // costs a lookup through a Headers object each time.
    const headers = incomingOf(c).headers;
    security.checkOrigin(headers.host, headers.origin);
    const authorization = headers.authorization;
    const auth = security.authenticate(authorization, authorization === undefined ? getCookie(c, SESSION_COOKIE) : undefined);
    c.set('auth', auth);
    // Everything under /v1 but the login flow, and /graphql, needs credentials (and the CSRF
    // token for a cookie's writes); the dashboard's files do not.
    const path = c.req.path;
    if (path === '/graphql' || (path.startsWith('/v1/') && !PUBLIC_PATHS.has(path))) {
      const csrf = headers[CSRF_HEADER.toLowerCase()];
      security.requireAuth(auth, c.req.method, typeof csrf === 'string' ? csrf : undefined);
    }
    await next();
  });

  // Public: the login flow.
  app.post('/v1/login', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, 'the body must be JSON: {"token": "…"}');
    }
    const { id, session } = security.login((body as { token?: unknown } | null)?.token);
    setCookie(c, SESSION_COOKIE, id, { httpOnly: true, sameSite: 'Strict', path: '/', maxAge: Math.floor(SESSION_IDLE_MS / 1000) });
    return c.json({ authenticated: true, csrf_token: session.csrfToken });
  });
  app.get('/v1/session', (c) => {
    const auth = c.get('auth');
    return c.json({ authenticated: auth !== null, csrf_token: auth?.kind === 'session' ? auth.session.csrfToken : null });
  });
  app.post('/v1/logout', (c) => {
    const auth = c.get('auth');
    if (auth?.kind === 'session') security.logout(auth.id);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.json({ authenticated: false });
  });

  const limits = { maxBytes: options.wire.maxFrameBytes, maxDepth: options.wire.maxJsonDepth };
  mountApi(app as unknown as Hono<{ Variables: { libraryId: string | null } }>, { dispatcher, limits });
  app.on(['GET', 'POST'], '/graphql', async (c) => {
    const body = c.req.method === 'POST' ? await readJson(incomingOf(c), limits) : undefined;
    const res = await graphqlHttp.handle({ method: c.req.method, searchParams: c.req.method === 'GET' ? new URL(c.req.url).searchParams : NO_PARAMS, body, signal: connectionSignal(incomingOf(c)) });
    return c.body(res.body, res.status as 200, { 'content-type': 'application/json; charset=utf-8' });
  });
  app.all('/v1/*', (c) => errorResponse(c, new SpacedriveError(ErrorCode.NOT_FOUND, `no route ${c.req.method} ${new URL(c.req.url).pathname}; see GET /v1/openapi.json`)));
  const dashboard = serveDashboard(opts.webRoot ?? DEFAULT_WEB_ROOT);
  app.all('*', (c) => dashboard(c));

  // GraphQL over WebSocket (graphql-transport-ws): the same checks at the upgrade, and a socket
  // without cookie or bearer must send the token in connectionParams.
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.wire.maxFrameBytes });
  const preAuthenticated = new WeakSet<IncomingMessage>();
  const disposeWs = useServer<{ token?: string }>(
    {
      schema: () => schema.get(),
      context: () => ({}),
      onConnect: (ctx) => preAuthenticated.has(ctx.extra.request) || security.checkToken(ctx.connectionParams?.token),
    },
    wss,
  );

  const server: Server = createServer(getRequestListener(app.fetch));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err }, 'http listener error'));
  const bound = (server.address() as AddressInfo).port;
  security.port = bound;
  server.keepAliveTimeout = 65_000;
  // The wire's bound on simultaneous connections, for this listener too.
  server.maxConnections = options.wire.maxConnections;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: number, err: unknown): void => {
      const body = JSON.stringify({ error: toWireError(err) });
      socket.end(`HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    };
    try {
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/graphql') return refuse(404, new SpacedriveError(ErrorCode.NOT_FOUND, 'WebSocket only at /graphql'));
      security.checkOrigin(req.headers.host, req.headers.origin);
      const cookie = sessionCookie(req.headers.cookie);
      const auth = security.authenticate(req.headers.authorization, cookie);
      if (auth !== null) preAuthenticated.add(req);
    } catch (err) {
      return refuse(httpStatusOf(toWireError(err).code), err);
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  logger.info({ url }, 'http listening');
  return {
    url,
    port: bound,
    schema,
    close: async () => {
      schema.close();
      await disposeWs.dispose();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      // Stop accepting; let calls in flight answer (bounded, like the wire's grace), then close
      // what is left (event streams, idle keep-alive connections).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + CLOSE_GRACE_MS;
      while (dispatcher.state.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      await closed;
    },
  };
}

export { SECURITY_HEADERS };
