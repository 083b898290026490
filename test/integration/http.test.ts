/**
 * The host HTTP fetch against a local HTTP server on 127.0.0.1: over the wire from a client
 * (unrestricted), and with an extension's allowed hosts (allowed host, other host refused before
 * any connection, redirects checked, size and time limits as typed errors, never truncation).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultOptions } from '../../src/config/index.js';
import { hostAllowed, hostFetch, isNonPublicAddress } from '../../src/http/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

const limits = defaultOptions('/nonexistent').http;

let server: Server;
let base: string;
/** Requests the server saw (method, path, selected headers, body). */
const seen: Array<{ method: string; url: string; auth: string | undefined; body: string }> = [];

function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
  seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
  const url = new URL(req.url ?? '/', base);
  const port = (server.address() as AddressInfo).port;
  switch (url.pathname) {
    case '/json':
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('x-test', 'yes');
      res.end(JSON.stringify({ hello: 'wörld', method: req.method, body }));
      return;
    case '/bytes':
      res.setHeader('content-type', 'application/octet-stream');
      res.end(Buffer.from([0, 1, 2, 255]));
      return;
    case '/big':
      res.setHeader('content-type', 'text/plain');
      res.end('x'.repeat(Number(url.searchParams.get('n') ?? 1000)));
      return;
    case '/big-chunked': {
      // No content-length: the limit must be enforced while streaming.
      res.setHeader('content-type', 'text/plain');
      let left = Number(url.searchParams.get('n') ?? 1000);
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, 1024);
          left -= n;
          if (!res.write('y'.repeat(n))) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    case '/slow':
      setTimeout(() => res.end('late'), Number(url.searchParams.get('ms') ?? 2000)).unref();
      return;
    case '/status':
      res.statusCode = Number(url.searchParams.get('code') ?? 500);
      res.end('status body');
      return;
    case '/redirect':
      res.statusCode = Number(url.searchParams.get('code') ?? 302);
      res.setHeader('location', url.searchParams.get('to') ?? '/json');
      res.end();
      return;
    case '/redirect-loop':
      res.statusCode = 302;
      res.setHeader('location', `http://127.0.0.1:${port}/redirect-loop`);
      res.end();
      return;
    default:
      res.statusCode = 404;
      res.end('not found');
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('hostAllowed', () => {
  const u = (s: string) => new URL(s);
  it('matches exact hosts, host:port, wildcards (subdomains only) and IPv6 literals', () => {
    expect(hostAllowed(u('https://api.example.com/x'), ['api.example.com'])).toBe(true);
    expect(hostAllowed(u('https://API.Example.com/x'), ['api.example.com'])).toBe(true);
    expect(hostAllowed(u('https://example.com/x'), ['api.example.com'])).toBe(false);
    expect(hostAllowed(u('https://a.b.example.com/'), ['*.example.com'])).toBe(true);
    expect(hostAllowed(u('https://example.com/'), ['*.example.com'])).toBe(false);
    expect(hostAllowed(u('https://badexample.com/'), ['*.example.com'])).toBe(false);
    expect(hostAllowed(u('https://example.com.evil.net/'), ['example.com', '*.example.com'])).toBe(false);
    expect(hostAllowed(u('http://127.0.0.1:8080/'), ['127.0.0.1:8080'])).toBe(true);
    expect(hostAllowed(u('http://127.0.0.1:8081/'), ['127.0.0.1:8080'])).toBe(false);
    expect(hostAllowed(u('https://h.example/'), ['h.example:443'])).toBe(true);
    expect(hostAllowed(u('http://[::1]:9/'), ['::1'])).toBe(true);
    expect(hostAllowed(u('http://[::1]:9/'), ['[::1]:9'])).toBe(true);
    expect(hostAllowed(u('http://x/'), [])).toBe(false);
  });
});

describe('isNonPublicAddress', () => {
  it('knows loopback, private, link-local and special ranges, in IPv4, IPv6 and IPv4-mapped IPv6', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.10', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1']) {
      expect(isNonPublicAddress(a), a).toBe(true);
    }
    for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(isNonPublicAddress(a), a).toBe(false);
    }
  });
});

describe('hostFetch with an extension\'s allowed hosts', () => {
  const asExt = (network: string[]) => ({ allowedHosts: network, who: "extension 'cap-test'", limits });

  it('fetches from an allowed host: status, headers, base64 body, body_text for text types', async () => {
    const r = await hostFetch({ url: `${base}/json`, method: 'POST', body_text: 'ping', headers: { 'content-type': 'text/plain' } }, asExt(['127.0.0.1']));
    expect(r).toMatchObject({ status: 200, truncated: false, redirects: 0, url: `${base}/json` });
    expect(r.headers['x-test']).toBe('yes');
    expect(JSON.parse(r.body_text!)).toEqual({ hello: 'wörld', method: 'POST', body: 'ping' });
    expect(Buffer.from(r.body, 'base64').toString('utf8')).toBe(r.body_text);
    const bin = await hostFetch({ url: `${base}/bytes` }, asExt(['127.0.0.1']));
    expect([...Buffer.from(bin.body, 'base64')]).toEqual([0, 1, 2, 255]);
    expect(bin.body_text).toBeUndefined();
    // An HTTP error status is an answer, not an error.
    await expect(hostFetch({ url: `${base}/status?code=503` }, asExt(['127.0.0.1']))).resolves.toMatchObject({ status: 503 });
  });

  it('refuses another host before connecting, naming the permission', async () => {
    const before = seen.length;
    const port = (server.address() as AddressInfo).port;
    await expect(hostFetch({ url: `http://localhost:${port}/json` }, asExt(['127.0.0.1']))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringContaining("extension 'cap-test' may not reach 'localhost'"),
      details: { missing: 'permissions.network: localhost' },
    });
    await expect(hostFetch({ url: `${base}/json` }, asExt([]))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(hostFetch({ url: `${base}/json` }, asExt(['127.0.0.1:1']))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(seen.length).toBe(before);
  });

  it('follows redirects only to allowed hosts, and drops Authorization across origins', async () => {
    const port = (server.address() as AddressInfo).port;
    const ok = await hostFetch({ url: `${base}/redirect?to=/json`, headers: { authorization: 'Bearer t' } }, asExt(['127.0.0.1']));
    expect(ok).toMatchObject({ status: 200, redirects: 1, url: `${base}/json` });
    expect(seen.at(-1)).toMatchObject({ url: '/json', auth: 'Bearer t' });

    const before = seen.length;
    await expect(
      hostFetch({ url: `${base}/redirect?to=${encodeURIComponent(`http://localhost:${port}/json`)}` }, asExt(['127.0.0.1'])),
    ).rejects.toMatchObject({ code: 'PERMISSION_DENIED', details: { redirected: true, host: 'localhost' } });
    expect(seen.length).toBe(before + 1); // the redirecting request only

    // 303 turns a POST into a GET without a body.
    const see = await hostFetch({ url: `${base}/redirect?code=303&to=/json`, method: 'POST', body_text: 'data' }, asExt(['127.0.0.1']));
    expect(JSON.parse(see.body_text!)).toMatchObject({ method: 'GET', body: '' });
    // 307 keeps them.
    const keep = await hostFetch({ url: `${base}/redirect?code=307&to=/json`, method: 'POST', body_text: 'data' }, asExt(['127.0.0.1']));
    expect(JSON.parse(keep.body_text!)).toMatchObject({ method: 'POST', body: 'data' });

    await expect(hostFetch({ url: `${base}/redirect-loop` }, asExt(['127.0.0.1']))).rejects.toMatchObject({ code: 'HTTP_FAILED', message: expect.stringContaining('too many redirects') });
  });

  it('reaches loopback and private addresses only through entries that name them, whatever DNS says', async () => {
    const port = (server.address() as AddressInfo).port;
    const before = seen.length;
    // '*' allows every host name, but not a name that resolves to a loopback address...
    await expect(hostFetch({ url: `http://localhost:${port}/json` }, asExt(['*']))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringMatching(/'localhost' resolves to (127\.0\.0\.1|::1), which is a loopback, private or otherwise non-public address/),
      details: { host: 'localhost', address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/) },
    });
    // ...nor such an address itself...
    await expect(hostFetch({ url: `${base}/json` }, asExt(['*']))).rejects.toMatchObject({ code: 'PERMISSION_DENIED', details: { address: '127.0.0.1' } });
    // ...nor a redirect there from an address it names.
    await expect(
      hostFetch({ url: `${base}/redirect?to=${encodeURIComponent(`http://localhost:${port}/json`)}` }, asExt(['127.0.0.1', '*'])),
    ).rejects.toMatchObject({ code: 'PERMISSION_DENIED', details: { redirected: true, host: 'localhost' } });
    expect(seen.length).toBe(before + 1); // the redirecting request only
    // Named, they are reachable.
    await expect(hostFetch({ url: `http://localhost:${port}/json` }, asExt(['localhost']))).resolves.toMatchObject({ status: 200 });
    await expect(hostFetch({ url: `${base}/json` }, asExt([`127.0.0.1:${port}`]))).resolves.toMatchObject({ status: 200 });
  });

  it('refuses a response over the size limit (declared or streamed), never truncating', async () => {
    await expect(hostFetch({ url: `${base}/big?n=1000`, max_response_bytes: 1000 }, asExt(['127.0.0.1']))).resolves.toMatchObject({ truncated: false });
    await expect(hostFetch({ url: `${base}/big?n=1001`, max_response_bytes: 1000 }, asExt(['127.0.0.1']))).rejects.toMatchObject({
      code: 'HTTP_TOO_LARGE',
      message: expect.stringContaining('1001 bytes, more than the limit of 1000'),
    });
    await expect(hostFetch({ url: `${base}/big-chunked?n=200000`, max_response_bytes: 50_000 }, asExt(['127.0.0.1']))).rejects.toMatchObject({ code: 'HTTP_TOO_LARGE' });
    await expect(hostFetch({ url: `${base}/big?n=10`, max_response_bytes: limits.maxResponseBytes + 1 }, asExt(['127.0.0.1']))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('above the limit of 16777216 (http.maxResponseBytes)'),
    });
    await expect(
      hostFetch({ url: `${base}/json`, method: 'POST', body_text: 'z'.repeat(11) }, { ...asExt(['127.0.0.1']), limits: { ...limits, maxRequestBytes: 10 } }),
    ).rejects.toMatchObject({ code: 'HTTP_TOO_LARGE' });
  });

  it('ends a slow request at its time limit with TIMEOUT', async () => {
    const started = Date.now();
    await expect(hostFetch({ url: `${base}/slow?ms=3000`, timeout_ms: 200 }, asExt(['127.0.0.1']))).rejects.toMatchObject({
      code: 'TIMEOUT',
      message: expect.stringContaining('within 200 ms'),
    });
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('refuses non-http schemes, bad URLs and credentials in the URL', async () => {
    await expect(hostFetch({ url: 'file:///etc/passwd' }, asExt(['*']))).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('only http and https') });
    await expect(hostFetch({ url: 'not a url' }, asExt(['*']))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(hostFetch({ url: `http://u:p@127.0.0.1:1/` }, asExt(['127.0.0.1']))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(hostFetch({ url: `${base}/json`, method: 'GET', body_text: 'x' }, asExt(['127.0.0.1']))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    // A body that is not base64 is refused, not sent as whatever bytes Node's lenient decoder makes of it.
    await expect(hostFetch({ url: `${base}/json`, method: 'POST', body: 'not base64!' }, asExt(['127.0.0.1']))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining("field 'body' is not valid base64"),
    });
    // A closed port is a typed failure.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(hostFetch({ url: `http://127.0.0.1:${closedPort}/` }, asExt(['127.0.0.1']))).rejects.toMatchObject({
      code: 'HTTP_FAILED',
      message: expect.stringContaining('ECONNREFUSED'),
    });
  });
});

describe('action:http.fetch.input.v1 over the wire (real daemon)', () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await startTestDaemon();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('serves clients without host restrictions, with the same limits', async () => {
    const client = await daemon.client();
    const port = (server.address() as AddressInfo).port;
    // No permissions.network applies to a client.
    await expect(client.action('action:http.fetch.input.v1', { url: `${base}/json` })).resolves.toMatchObject({ status: 200, truncated: false });
    const r = (await client.action('action:http.fetch.input.v1', { url: `http://127.0.0.1:${port}/bytes`, method: 'put', body: Buffer.from('abc').toString('base64') })) as { body: string };
    expect([...Buffer.from(r.body, 'base64')]).toEqual([0, 1, 2, 255]);
    expect(seen.at(-1)).toMatchObject({ method: 'PUT', body: 'abc' });
    await expect(client.action('action:http.fetch.input.v1', { url: `${base}/big?n=100`, max_response_bytes: 10 })).rejects.toMatchObject({ code: 'HTTP_TOO_LARGE' });
    await expect(client.action('action:http.fetch.input.v1', { url: `${base}/slow?ms=3000`, timeout_ms: 100 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(client.action('action:http.fetch.input.v1', { url: `${base}/json`, method: 'TRACE' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(client.action('action:http.fetch.input.v1', { url: `${base}/json`, body: '***' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});
