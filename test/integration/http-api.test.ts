/**
 * The HTTP API against a real daemon started with `--http` (docs/http-api.md): authentication and
 * the security checks (no token, forged Host, cross-origin write, missing CSRF token), the error
 * mapping, jobs and extensions through their endpoints, Server-Sent Events, OpenAPI and the
 * dashboard's static files.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/daemon.js';
import { packageAsJson, rawRequest, startHttpDaemon, type HttpTestDaemon } from '../helpers/http.js';

const HELLO = join(REPO_ROOT, 'build', 'extensions', 'hello');

let d: HttpTestDaemon;

beforeAll(async () => {
  d = await startHttpDaemon();
});

afterAll(async () => {
  await d?.daemon.stop();
});

async function body(res: Response): Promise<any> {
  return JSON.parse(await res.text());
}

/** Reads an SSE stream until `until` accepts an event; returns the events read. */
async function readEvents(res: Response, until: (e: { event: string; data: any }) => boolean, timeoutMs = 15_000): Promise<Array<{ event: string; data: any }>> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: Array<{ event: string; data: any }> = [];
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let sep: number;
      while ((sep = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) {
          const e = { event, data: JSON.parse(data) };
          events.push(e);
          if (until(e)) return events;
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  throw new Error(`stream ended or timed out; events: ${JSON.stringify(events.map((e) => e.event))}`);
}

describe('security', () => {
  it('refuses requests without a token with 401, and a wrong token too', async () => {
    for (const path of ['/v1/status', '/v1/jobs', '/v1/methods', '/v1/openapi.json']) {
      const res = await fetch(d.url + path);
      expect(res.status, path).toBe(401);
      expect((await body(res)).error.code).toBe('UNAUTHENTICATED');
    }
    const post = await fetch(`${d.url}/v1/action/action:jobs.dispatch.input.v1`, { method: 'POST', body: '{"job_type":"core.noop"}' });
    expect(post.status).toBe(401);
    const wrong = await fetch(`${d.url}/v1/status`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
    expect(wrong.status).toBe(401);
    const gql = await fetch(`${d.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ core_status { version } }"}' });
    expect(gql.status).toBe(401);
  });

  it('refuses a forged Host (DNS rebinding), even with the right token', async () => {
    for (const host of [`evil.example:${d.port}`, 'evil.example', `127.0.0.1:${d.port + 1}`, `localhost.evil.example:${d.port}`]) {
      const res = await rawRequest(d.port, 'GET', '/v1/status', { host, authorization: `Bearer ${d.token}` });
      expect(res.status, host).toBe(403);
      expect(JSON.parse(res.body).error).toMatchObject({ code: 'PERMISSION_DENIED', details: { reason: 'host' } });
    }
    // The static files too: a rebound page may not read them either.
    expect((await rawRequest(d.port, 'GET', '/', { host: `evil.example:${d.port}` })).status).toBe(403);
    for (const host of [`127.0.0.1:${d.port}`, `localhost:${d.port}`]) {
      expect((await rawRequest(d.port, 'GET', '/v1/status', { host, authorization: `Bearer ${d.token}` })).status, host).toBe(200);
    }
  });

  it('refuses a cross-origin write, with a bearer token or a session cookie', async () => {
    const res = await d.api('/v1/jobs', { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/json' }, body: JSON.stringify({ type: 'core.noop' }) });
    expect(res.status).toBe(403);
    expect((await body(res)).error.details.reason).toBe('origin');
    const login = await fetch(`${d.url}/v1/login`, { method: 'POST', headers: { origin: 'http://evil.example' }, body: JSON.stringify({ token: d.token }) });
    expect(login.status).toBe(403);
    // The same origin is fine.
    const same = await d.api('/v1/status', { headers: { origin: d.url } });
    expect(same.status).toBe(200);
  });

  it('logs a browser in with an HttpOnly SameSite=Strict cookie, and needs the CSRF token for cookie writes', async () => {
    expect(await body(await fetch(`${d.url}/v1/session`))).toEqual({ authenticated: false, csrf_token: null });
    const bad = await fetch(`${d.url}/v1/login`, { method: 'POST', body: JSON.stringify({ token: 'wrong-token-wrong-token' }) });
    expect(bad.status).toBe(401);

    const login = await fetch(`${d.url}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: d.token }) });
    expect(login.status).toBe(200);
    const { csrf_token } = await body(login);
    const setCookie = login.headers.getSetCookie()[0]!;
    expect(setCookie).toMatch(/^sd_session=[^;]+;/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const cookie = setCookie.split(';')[0]!;

    expect(await body(await fetch(`${d.url}/v1/session`, { headers: { cookie } }))).toEqual({ authenticated: true, csrf_token });
    expect((await fetch(`${d.url}/v1/status`, { headers: { cookie } })).status).toBe(200);

    const dispatch = (headers: Record<string, string>) =>
      fetch(`${d.url}/v1/jobs`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ type: 'core.noop' }) });
    const noCsrf = await dispatch({});
    expect(noCsrf.status).toBe(403);
    expect((await body(noCsrf)).error).toMatchObject({ code: 'PERMISSION_DENIED', details: { reason: 'csrf' } });
    expect((await dispatch({ 'x-csrf-token': 'x'.repeat(csrf_token.length) })).status).toBe(403);
    const ok = await dispatch({ 'x-csrf-token': csrf_token });
    expect(ok.status).toBe(201);
    expect((await body(ok)).job_id).toEqual(expect.any(String));

    const logout = await fetch(`${d.url}/v1/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf_token } });
    expect(logout.status).toBe(200);
    expect((await fetch(`${d.url}/v1/status`, { headers: { cookie } })).status).toBe(401);
  });
});

describe('operations', () => {
  it('calls queries and actions by full or short name, with the wire\'s errors and statuses mapped from their codes', async () => {
    const status = await d.api('/v1/query/query:core.status.v1', { method: 'POST' });
    expect(status.status).toBe(200);
    expect(await body(status)).toMatchObject({ version: expect.any(String), pid: d.daemon.pid });
    expect(await body(await d.api('/v1/status'))).toMatchObject({ pid: d.daemon.pid });
    expect((await d.api('/v1/query/core.status', { method: 'POST', body: '{}' })).status).toBe(200);

    const unknown = await d.api('/v1/query/query:core.nope.v1', { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect((await body(unknown)).error.code).toBe('UNKNOWN_METHOD');

    // The same bad input gives the same error as over the wire.
    const client = await d.daemon.client();
    const wireError = await client.query('query:jobs.list.v1', { limit: 5000 }).catch((e: any) => ({ code: e.code, message: e.message, details: e.details }));
    const invalid = await d.api('/v1/query/query:jobs.list.v1', { method: 'POST', body: JSON.stringify({ limit: 5000 }) });
    expect(invalid.status).toBe(400);
    expect((await body(invalid)).error).toEqual(wireError);

    const kind = await d.api('/v1/action/query:core.status.v1', { method: 'POST' });
    expect(kind.status).toBe(404);
    const badJson = await d.api('/v1/query/query:core.status.v1', { method: 'POST', body: '{"oops' });
    expect(badJson.status).toBe(400);
    expect((await body(badJson)).error.code).toBe('PROTOCOL_ERROR');
    const job = await d.api('/v1/jobs/no-such-job');
    expect(job.status).toBe(404);
    expect((await body(job)).error.code).toBe('JOB_NOT_FOUND');
    const huge = await d.api('/v1/query/query:core.status.v1', { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(17 * 1024 * 1024) }) });
    expect(huge.status).toBe(413);
    expect((await body(huge)).error.code).toBe('FRAME_TOO_LARGE');
    const route = await d.api('/v1/nothing-here');
    expect(route.status).toBe(404);
  });

  it('lists methods with schemas, libraries, job types, and an OpenAPI document from the registries', async () => {
    const { methods } = await body(await d.api('/v1/methods'));
    const list = methods.find((m: any) => m.method === 'query:jobs.list.v1');
    expect(list).toMatchObject({ kind: 'query', owner: 'core', description: expect.any(String), input_schema: { type: 'object' }, output_schema: expect.any(Object) });
    expect((await body(await d.api('/v1/libraries'))).libraries.length).toBeGreaterThan(0);
    const { types } = await body(await d.api('/v1/job-types'));
    expect(types.find((t: any) => t.job_type === 'files.copy')).toMatchObject({ owner: 'core', params_schema: expect.any(Object) });
    const openapi = await body(await d.api('/v1/openapi.json'));
    expect(openapi.openapi).toBe('3.1.0');
    expect(openapi.paths['/v1/query/query:jobs.list.v1'].post.requestBody.content['application/json'].schema).toEqual(list.input_schema);
    expect(openapi.paths['/v1/jobs/{id}/pause']).toBeDefined();
  });

  it('installs an uploaded extension, runs its job with live events, controls jobs, and manages the extension', async () => {
    const files = packageAsJson(HELLO);
    // The permission preview first (dry run), as the dashboard asks before installing.
    const preview = await d.api('/v1/extensions/install', { method: 'POST', body: JSON.stringify({ files, dry_run: true }) });
    expect(preview.status).toBe(200);
    expect(await body(preview)).toMatchObject({ dry_run: true, id: 'hello', permissions: { libraries: ['*'] } });
    const evil = await d.api('/v1/extensions/install', { method: 'POST', body: JSON.stringify({ files: { '../escape.json': 'e30=' } }) });
    expect(evil.status).toBe(400);

    // Multipart, as a browser's form sends it.
    const form = new FormData();
    for (const [name, b64] of Object.entries(files)) form.append('file', new Blob([Buffer.from(b64, 'base64')]), name);
    const installed = await d.api('/v1/extensions/install', { method: 'POST', body: form });
    expect(installed.status).toBe(201);
    expect(await body(installed)).toMatchObject({ id: 'hello', state: 'loaded' });
    const { extensions } = await body(await d.api('/v1/extensions'));
    expect(extensions.find((e: any) => e.id === 'hello')).toMatchObject({ state: 'loaded', info: { permissions: expect.any(Object), limits: expect.any(Object) } });
    expect(await body(await d.api('/v1/query/hello:greet', { method: 'POST', body: '{"name":"Ada"}' }))).toEqual({ greeting: 'Hello, Ada!' });
    const openapi = await body(await d.api('/v1/openapi.json'));
    expect(openapi.paths['/v1/query/query:hello:greet.v1']).toBeDefined();

    // A job, watched through SSE until it completes.
    const events = await d.api('/v1/events?types=job:*');
    expect(events.headers.get('content-type')).toMatch(/text\/event-stream/);
    const dispatched = await d.api('/v1/jobs', { method: 'POST', body: JSON.stringify({ type: 'hello:countdown', params: { from: 3, delay_ms: 20 } }) });
    expect(dispatched.status).toBe(201);
    const { job_id } = await body(dispatched);
    const seen = await readEvents(events, (e) => e.event === 'job:completed' && e.data.payload.job_id === job_id);
    expect(seen.map((e) => e.event)).toContain('job:progress');
    expect(seen.at(-1)!.data).toMatchObject({ type: 'job:completed', time: expect.any(Number), payload: { job_id } });
    const job = await body(await d.api(`/v1/jobs/${job_id}`));
    expect(job).toMatchObject({ job_id, status: 'completed', params: { from: 3, delay_ms: 20 }, output: { counted: 3 }, errors: [] });
    expect((await body(await d.api(`/v1/jobs/${job_id}/logs?after_seq=0`))).logs).toEqual(expect.any(Array));
    const mine = await body(await d.api('/v1/jobs?owner=hello&status=completed'));
    expect(mine.jobs.map((j: any) => j.job_id)).toContain(job_id);
    expect((await body(await d.api('/v1/jobs?owner=core'))).jobs.every((j: any) => !j.job_type.startsWith('hello:'))).toBe(true);

    // Controls: a long countdown paused, resumed, cancelled, retried.
    const long = (await body(await d.api('/v1/jobs', { method: 'POST', body: JSON.stringify({ type: 'hello:countdown', params: { from: 1000, delay_ms: 50 } }) }))).job_id;
    const paused = await d.api(`/v1/jobs/${long}/pause`, { method: 'POST' });
    expect(paused.status).toBe(200);
    expect((await body(paused)).job_id).toBe(long);
    for (let i = 0; i < 200 && (await body(await d.api(`/v1/jobs/${long}`))).status !== 'paused'; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await body(await d.api(`/v1/jobs/${long}`))).status).toBe('paused');
    expect((await d.api(`/v1/jobs/${long}/resume`, { method: 'POST' })).status).toBe(200);
    expect((await d.api(`/v1/jobs/${long}/cancel`, { method: 'POST' })).status).toBe(200);
    for (let i = 0; i < 200 && (await body(await d.api(`/v1/jobs/${long}`))).status !== 'cancelled'; i++) await new Promise((r) => setTimeout(r, 25));
    const retried = await d.api(`/v1/jobs/${long}/retry`, { method: 'POST', body: '{"from_scratch":true}' });
    expect(retried.status).toBe(200);
    await d.api(`/v1/jobs/${long}/cancel`, { method: 'POST' });
    const conflict = await d.api(`/v1/jobs/${job_id}/pause`, { method: 'POST' });
    expect(conflict.status).toBe(409);
    expect((await body(conflict)).error.code).toBe('INVALID_JOB_STATE');

    // Disable, enable, reload, uninstall.
    expect(await body(await d.api('/v1/extensions/hello/disable', { method: 'POST' }))).toMatchObject({ state: 'disabled' });
    expect((await d.api('/v1/query/hello:greet', { method: 'POST', body: '{"name":"Ada"}' })).status).toBe(404);
    expect(await body(await d.api('/v1/extensions/hello/enable', { method: 'POST' }))).toMatchObject({ state: 'loaded' });
    expect(await body(await d.api('/v1/extensions/hello/reload', { method: 'POST' }))).toMatchObject({ state: 'loaded' });
    const removed = await d.api('/v1/extensions/hello', { method: 'DELETE' });
    expect(await body(removed)).toMatchObject({ id: 'hello' });
    expect((await d.api('/v1/extensions/hello')).status).toBe(404);
  });
});

describe('dashboard files', () => {
  it('serves / and SPA routes as HTML with a Content-Security-Policy, and 404 for a missing asset', async () => {
    for (const path of ['/', '/jobs/some-job']) {
      const res = await fetch(d.url + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toMatch(/<html/i);
    }
    expect((await fetch(`${d.url}/assets/missing-file.js`)).status).toBe(404);
    expect((await fetch(`${d.url}/..%2f..%2fpackage.json`)).status).not.toBe(200);
  });
});
