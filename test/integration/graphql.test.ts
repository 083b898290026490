/**
 * GraphQL against a real daemon with `--http` (docs/http-api.md, "GraphQL"), with real clients:
 * fetch for GraphQL over HTTP and graphql-ws's createClient over WebSocket. Covers the generated
 * schema (names, descriptions), errors equal to the wire's, job events as a subscription, the
 * WebSocket's authentication, and the schema rebuilt when an extension is installed or disabled.
 */
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/daemon.js';
import { packageAsJson, startHttpDaemon, type HttpTestDaemon } from '../helpers/http.js';

const HELLO = join(REPO_ROOT, 'build', 'extensions', 'hello');

let d: HttpTestDaemon;
const clients: Client[] = [];

beforeAll(async () => {
  d = await startHttpDaemon();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await d?.daemon.stop();
});

async function gql(query: string, variables?: Record<string, unknown>): Promise<{ data?: any; errors?: any[] }> {
  const res = await d.api('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  expect(res.headers.get('content-type')).toMatch(/json/);
  return (await res.json()) as { data?: any; errors?: any[] };
}

function wsClient(token: string | undefined): Client {
  const client = createClient({
    url: `${d.url.replace('http:', 'ws:')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token === undefined ? {} : { token },
    retryAttempts: 0,
    lazy: true,
  });
  clients.push(client);
  return client;
}

function once(client: Client, query: string): Promise<any> {
  return new Promise((resolve, reject) => {
    let result: unknown;
    client.subscribe({ query }, { next: (v) => (result = v), error: reject, complete: () => resolve(result) });
  });
}

async function fieldNames(root: 'Query' | 'Mutation'): Promise<string[]> {
  const r = await gql(`{ __type(name: "${root}") { fields { name } } }`);
  return r.data.__type.fields.map((f: { name: string }) => f.name);
}

describe('GraphQL', () => {
  it('maps queries to Query fields and actions to Mutation fields, with descriptions and predictable names', async () => {
    const r = await gql('{ __type(name: "Query") { fields { name description args { name } } } }');
    const fields = Object.fromEntries(r.data.__type.fields.map((f: any) => [f.name, f]));
    expect(fields.jobs_list.description).toContain('Jobs, newest first');
    expect(fields.jobs_list.description).toContain('query:jobs.list.v1');
    expect(fields.jobs_getStatus.args.map((a: any) => a.name)).toEqual(['job_id']);
    expect(fields.core_status).toBeDefined();
    expect(await fieldNames('Mutation')).toEqual(expect.arrayContaining(['jobs_dispatch', 'jobs_pause', 'extensions_install', 'call']));

    const q = await gql('{ core_status { version pid uptime_ms } jobs_list(limit: 5) { jobs next_cursor } }');
    expect(q.errors).toBeUndefined();
    expect(q.data.core_status).toMatchObject({ version: expect.any(String), pid: d.daemon.pid });
    expect(q.data.jobs_list.next_cursor).toBeNull();
  });

  it('validates input with the operation\'s own schema: the wire\'s error, its code in extensions', async () => {
    const client = await d.daemon.client();
    const wire = await client.query('query:jobs.list.v1', { limit: 5000 }).catch((e: any) => e);
    const r = await gql('{ jobs_list(limit: 5000) { jobs } }');
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0].message).toBe(wire.message);
    expect(r.errors![0].extensions).toMatchObject({ code: 'INVALID_INPUT', details: wire.details });
    const missing = await gql('{ jobs_getStatus { status } }');
    expect(missing.errors![0].extensions.code).toBe('INVALID_INPUT');
    const notFound = await gql('query($id: String) { jobs_getStatus(job_id: $id) { status } }', { id: 'nope' });
    expect(notFound.errors![0].extensions.code).toBe('JOB_NOT_FOUND');
  });

  it('serves GET for queries only, and refuses subscriptions and broken documents over HTTP with 400', async () => {
    const get = await d.api(`/graphql?query=${encodeURIComponent('{ core_status { pid } }')}`);
    expect(get.status).toBe(200);
    expect(((await get.json()) as any).data.core_status.pid).toBe(d.daemon.pid);
    const mutation = await d.api(`/graphql?query=${encodeURIComponent('mutation { jobs_pause(job_id: "x") { status } }')}`);
    expect(mutation.status).toBe(405);
    const sub = await d.api('/graphql', { method: 'POST', body: JSON.stringify({ query: 'subscription { jobEvents { type } }' }) });
    expect(sub.status).toBe(400);
    const broken = await d.api('/graphql', { method: 'POST', body: JSON.stringify({ query: '{ core_status { ' }) });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as any).errors[0].message).toMatch(/Syntax Error/);
    const unknownField = await d.api('/graphql', { method: 'POST', body: JSON.stringify({ query: '{ nope }' }) });
    expect(unknownField.status).toBe(400);
  });

  it('refuses a WebSocket upgrade with a forged Host or from another origin', async () => {
    for (const headers of [{ host: `evil.example:${d.port}` }, { origin: 'http://evil.example' }]) {
      const ws = new WebSocket(`${d.url.replace('http:', 'ws:')}/graphql`, 'graphql-transport-ws', { headers: { authorization: `Bearer ${d.token}`, ...headers } });
      const status = await new Promise<number>((resolve) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
        ws.on('error', () => undefined);
      });
      ws.terminate();
      expect(status, JSON.stringify(headers)).toBe(403);
    }
  });

  it('refuses a WebSocket without the token, and serves one with it', async () => {
    const anonymous = wsClient(undefined);
    await expect(once(anonymous, '{ core_status { version } }')).rejects.toMatchObject({ code: 4403 });
    const wrong = wsClient('wrong-token-wrong-token');
    await expect(once(wrong, '{ core_status { version } }')).rejects.toMatchObject({ code: 4403 });
    const ok = wsClient(d.token);
    expect((await once(ok, '{ core_status { pid } }')).data.core_status.pid).toBe(d.daemon.pid);
  });

  it('rebuilds the schema when an extension is installed or disabled, and streams a job\'s events by subscription', async () => {
    expect(await fieldNames('Query')).not.toContain('hello_greet');
    const installed = await d.api('/v1/extensions/install', { method: 'POST', body: JSON.stringify({ files: packageAsJson(HELLO) }) });
    expect(installed.status).toBe(201);
    expect(await fieldNames('Query')).toContain('hello_greet');
    const greet = await gql('{ hello_greet(name: "Ada") { greeting } }');
    expect(greet).toEqual({ data: { hello_greet: { greeting: 'Hello, Ada!' } } });
    const described = await gql('{ __type(name: "Query") { fields { name description } } }');
    expect(described.data.__type.fields.find((f: any) => f.name === 'hello_greet').description).toContain('query:hello:greet.v1');

    // A job through a mutation, its events through a subscription over the WebSocket.
    const client = wsClient(d.token);
    const dispatched = await once(client, 'mutation { jobs_dispatch(job_type: "hello:countdown", params: {from: 3, delay_ms: 300}) { job_id } }');
    const jobId = dispatched.data.jobs_dispatch.job_id as string;
    const events: any[] = [];
    await new Promise<void>((resolve, reject) => {
      const stop = client.subscribe<{ jobEvents: { type: string; payload: { job_id: string } } }>(
        { query: `subscription { jobEvents(job_id: "${jobId}") { type time payload } }` },
        {
          next: (v) => {
            events.push(v.data!.jobEvents);
            if (v.data!.jobEvents.type === 'job:completed') {
              stop();
              resolve();
            }
          },
          error: reject,
          complete: () => resolve(),
        },
      );
    });
    expect(events.map((e) => e.type)).toContain('job:progress');
    expect(events.at(-1)).toMatchObject({ type: 'job:completed', payload: { job_id: jobId } });

    await d.api('/v1/extensions/hello/disable', { method: 'POST' });
    expect(await fieldNames('Query')).not.toContain('hello_greet');
    const gone = await gql('{ hello_greet(name: "Ada") { greeting } }');
    expect(gone.errors![0].message).toMatch(/hello_greet/);
    // Still callable by name through `call`, with the wire's error now that it is disabled.
    const viaCall = await gql('{ call(method: "query:hello:greet.v1", payload: {name: "Ada"}) }');
    expect(viaCall.errors![0].extensions.code).toBe('UNKNOWN_METHOD');
  });
});
