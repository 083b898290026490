/**
 * Every host capability from a real extension: cap-test (compiled from extensions/cap-test by
 * `npm run build`) installed into a real daemon calls credentials, HTTP (a local server on
 * 127.0.0.1), library entries and sidecars, OCR and text models (a local OpenAI-compatible
 * server), and jobs through the SDK's typed wrappers; a second copy under another id shows that
 * credentials are isolated between extensions; extensions/denied (granted nothing) tries every
 * capability and each is refused with PERMISSION_DENIED naming the missing permission.
 */
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { startOpenAiServer, type OpenAiTestServer } from '../helpers/openai-server.js';
import { REPO_ROOT, makeTempDir, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { rmSync } from 'node:fs';
import { packageVariant } from '../helpers/packages.js';

const BUILD = join(REPO_ROOT, 'build', 'extensions');
const CAP_TEST = join(BUILD, 'cap-test');
const DENIED = join(BUILD, 'denied');

let daemon: TestDaemon;
let client: SpacedriveClient;
let ai: OpenAiTestServer;
let web: Server;
let base: string;
let scratch: string;
const hits: string[] = [];

const call = (method: string, payload: unknown = {}) =>
  (method.startsWith('query:') ? client.query(method, payload) : client.action(method, payload)) as Promise<Record<string, any>>;

beforeAll(async () => {
  expect(existsSync(join(CAP_TEST, 'manifest.json')), 'npm run build compiles build/extensions/cap-test').toBe(true);
  expect(existsSync(join(DENIED, 'manifest.json')), 'npm run build compiles build/extensions/denied').toBe(true);
  scratch = makeTempDir('sd-caps-');
  web = createServer((req, res) => {
    hits.push(`${req.method} ${req.url} from=${req.headers['x-from'] ?? ''}`);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/hello') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ greeting: 'hi from 127.0.0.1' }));
    } else if (url.pathname === '/big') {
      res.setHeader('content-type', 'text/plain');
      res.end('z'.repeat(5000));
    } else if (url.pathname === '/slow') {
      setTimeout(() => res.end('late'), 3000).unref();
    } else if (url.pathname === '/away') {
      res.statusCode = 302;
      res.setHeader('location', `http://localhost:${(web.address() as AddressInfo).port}/hello`);
      res.end();
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  ai = await startOpenAiServer({ dimensions: 4 });
  daemon = await startTestDaemon({ env: { SPACEDRIVE_AI_BASE_URL: ai.baseUrl, SPACEDRIVE_AI_MODEL: 'test-model' } });
  client = await daemon.client();
  await expect(client.action('action:extensions.install.input.v1', { path: CAP_TEST })).resolves.toMatchObject({ id: 'cap-test', state: 'loaded' });
  await expect(client.action('action:extensions.install.input.v1', { path: DENIED })).resolves.toMatchObject({ id: 'denied', state: 'loaded' });
  const two = packageVariant('cap-test', join(scratch, 'cap-two'), (m) => {
    m.id = 'cap-two';
  });
  await expect(client.action('action:extensions.install.input.v1', { path: two })).resolves.toMatchObject({ id: 'cap-two', state: 'loaded' });
}, 120_000);

afterAll(async () => {
  await daemon?.stop();
  await ai?.close();
  web?.closeAllConnections();
  await new Promise((r) => web?.close(r));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('credentials from extensions', () => {
  it('each extension reads only its own; clients see them under ext:<id>; naming another owner is refused', async () => {
    await expect(call('action:cap-test:credentials_store.input.v1', { name: 'api', secret: 'secret-of-cap-test' })).resolves.toMatchObject({ ok: true });
    await expect(call('action:cap-two:credentials_store.input.v1', { name: 'api', secret: 'secret-of-cap-two' })).resolves.toMatchObject({ ok: true });
    await client.action('action:credentials.store.input.v1', { name: 'api', secret: 'secret-of-user' });

    await expect(call('query:cap-test:credentials_get.v1', { name: 'api' })).resolves.toMatchObject({ ok: true, secret: 'secret-of-cap-test', metadata_json: '{"by":"cap-test"}' });
    await expect(call('query:cap-two:credentials_get.v1', { name: 'api' })).resolves.toMatchObject({ ok: true, secret: 'secret-of-cap-two' });
    await expect(client.query('query:credentials.get.v1', { name: 'api' })).resolves.toMatchObject({ secret: 'secret-of-user' });
    await expect(client.query('query:credentials.get.v1', { name: 'api', owner: 'ext:cap-test' })).resolves.toMatchObject({ secret: 'secret-of-cap-test' });

    // Asking for another owner's credential from inside an extension is refused, not silently re-scoped.
    const other = await call('query:cap-test:credentials_get_as.v1', { name: 'api', owner: 'ext:cap-two' });
    expect(other).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    expect(other.message).toContain('only its own credentials');
    await expect(call('query:cap-test:credentials_get_as.v1', { name: 'api', owner: 'user' })).resolves.toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });

    // Deleting cap-two's leaves cap-test's.
    await expect(call('action:cap-two:credentials_delete.input.v1', { name: 'api' })).resolves.toMatchObject({ ok: true });
    await expect(call('query:cap-two:credentials_get.v1', { name: 'api' })).resolves.toMatchObject({ ok: false, code: 'NOT_FOUND' });
    await expect(call('query:cap-test:credentials_get.v1', { name: 'api' })).resolves.toMatchObject({ ok: true, secret: 'secret-of-cap-test' });
    await expect(call('query:cap-test:credentials_list.v1')).resolves.toMatchObject({ ok: true, names: ['api'] });
    await expect(call('query:cap-two:credentials_list.v1')).resolves.toMatchObject({ ok: true, names: [] });
  });
});

describe('uninstalling an extension', () => {
  it('deletes its credentials with it, and only its own', async () => {
    const path = packageVariant('cap-test', join(scratch, 'cap-gone'), (m) => {
      m.id = 'cap-gone';
    });
    await client.action('action:extensions.install.input.v1', { path });
    await expect(call('action:cap-gone:credentials_store.input.v1', { name: 'api', secret: 'x' })).resolves.toMatchObject({ ok: true });
    await expect(client.query('query:credentials.list.v1', { owner: 'ext:cap-gone' })).resolves.toMatchObject({ credentials: [{ name: 'api' }] });
    await client.action('action:extensions.uninstall.input.v1', { id: 'cap-gone' });
    await expect(client.query('query:credentials.list.v1', { owner: 'ext:cap-gone' })).resolves.toMatchObject({ credentials: [] });
    await expect(client.query('query:credentials.get.v1', { name: 'api', owner: 'ext:cap-test' })).resolves.toMatchObject({ secret: 'secret-of-cap-test' });
  });
});

describe('HTTP from an extension', () => {
  it('reaches the allowed host through the SDK', async () => {
    const r = await call('action:cap-test:http_fetch.input.v1', { url: `${base}/hello` });
    expect(r).toMatchObject({ ok: true, status: 200, content_type: 'application/json' });
    expect(JSON.parse(r.body_text)).toEqual({ greeting: 'hi from 127.0.0.1' });
    expect(hits.at(-1)).toBe('GET /hello from=cap-test');
  });

  it('refuses other hosts (also through a redirect), and enforces size and time limits', async () => {
    const port = (web.address() as AddressInfo).port;
    const before = hits.length;
    const other = await call('action:cap-test:http_fetch.input.v1', { url: `http://localhost:${port}/hello` });
    expect(other).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    expect(other.message).toContain("may not reach 'localhost'");
    expect(other.message).toContain('permissions.network');
    expect(hits.length).toBe(before);

    const redirected = await call('action:cap-test:http_fetch.input.v1', { url: `${base}/away` });
    expect(redirected).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    expect(redirected.message).toContain('a redirect led there');

    await expect(call('action:cap-test:http_fetch.input.v1', { url: `${base}/big`, max_bytes: 4096 })).resolves.toMatchObject({ ok: false, code: 'HTTP_TOO_LARGE' });
    await expect(call('action:cap-test:http_fetch.input.v1', { url: `${base}/big`, max_bytes: 5000 })).resolves.toMatchObject({ ok: true, body_length: 5000 });
    await expect(call('action:cap-test:http_fetch.input.v1', { url: `${base}/slow`, timeout_ms: 200 })).resolves.toMatchObject({ ok: false, code: 'TIMEOUT' });
  });

  it('takes its default and maximum size and time from the manifest limits', async () => {
    const path = packageVariant('cap-test', join(scratch, 'cap-small'), (m) => {
      m.id = 'cap-small';
      m.limits.http_max_response_bytes = 1000;
      m.limits.http_timeout_ms = 300;
    });
    await client.action('action:extensions.install.input.v1', { path });
    const big = await call('action:cap-small:http_fetch.input.v1', { url: `${base}/big` });
    expect(big).toMatchObject({ ok: false, code: 'HTTP_TOO_LARGE' });
    expect(big.message).toContain('more than the limit of 1000 bytes');
    const asked = await call('action:cap-small:http_fetch.input.v1', { url: `${base}/big`, max_bytes: 5000 });
    expect(asked).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(asked.message).toContain('limits.http_max_response_bytes');
    await expect(call('action:cap-small:http_fetch.input.v1', { url: `${base}/slow` })).resolves.toMatchObject({ ok: false, code: 'TIMEOUT' });
    const longer = await call('action:cap-small:http_fetch.input.v1', { url: `${base}/slow`, timeout_ms: 5000 });
    expect(longer).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(longer.message).toContain('limits.http_timeout_ms');
    await expect(call('action:cap-small:http_fetch.input.v1', { url: `${base}/hello` })).resolves.toMatchObject({ ok: true, status: 200 });
  });
});

describe('library entries and sidecars from an extension', () => {
  it('runs every vdfs call through the SDK against the default library', async () => {
    const r = await call('action:cap-test:vdfs_flow.input.v1', {});
    expect(r, JSON.stringify(r)).toMatchObject({
      ok: true,
      step: 'done',
      entry_type: 'FinancialDocument',
      content: 'TOTAL 12.50',
      listed: 1,
      vendor_after_update: 'ACME Corp',
      sidecar_text: 'TOTAL 12.50',
      sidecars_listed: 1,
      get_after_delete_code: 'NOT_FOUND',
    });
    expect(r.sidecar_checksum).toMatch(/[0-9a-f]{16,}/);
  });

  it('keeps an extension to the libraries its manifest lists', async () => {
    const granted = (await client.action('action:libraries.create.input.v1', { name: 'Granted' })) as { id: string };
    const other = (await client.action('action:libraries.create.input.v1', { name: 'Other' })) as { id: string };
    const path = packageVariant('cap-test', join(scratch, 'cap-lib'), (m) => {
      m.id = 'cap-lib';
      m.permissions.libraries = [granted.id];
    });
    await client.action('action:extensions.install.input.v1', { path });
    const ok = await call('action:cap-lib:vdfs_flow.input.v1', { library_id: granted.id });
    expect(ok, JSON.stringify(ok)).toMatchObject({ ok: true, step: 'done', library_id: granted.id });
    const denied = await call('action:cap-lib:vdfs_flow.input.v1', { library_id: other.id });
    expect(denied).toMatchObject({ ok: false, step: 'create_entry', code: 'PERMISSION_DENIED' });
    expect(denied.message).toContain(`may not use library '${other.id}'`);
    // Without library_id the call would use the default library, which it was not granted.
    const implicit = await call('action:cap-lib:vdfs_flow.input.v1', {});
    expect(implicit).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    expect(implicit.message).toContain('permissions.libraries');
  });
});

describe('AI from an extension', () => {
  it('OCR of a PDF receipt finds its words', async () => {
    const data = readFileSync(join(REPO_ROOT, 'samples', 'receipts', 'blue-bottle-2025-03-14.pdf')).toString('base64');
    const r = await call('query:cap-test:ocr.v1', { data });
    expect(r).toMatchObject({ ok: true, mime_type: 'application/pdf', pages: 1 });
    expect(r.text).toContain('Blue Bottle');
    expect(r.confidence).toBeGreaterThan(0.5);
  });

  it('classify_text with a schema and embed through the configured provider', async () => {
    const schema = JSON.stringify({ type: 'object', required: ['total'], properties: { total: { type: 'number' } } });
    const r = await call('query:cap-test:classify.v1', { text: 'Corner Shop\nTOTAL 12.50', prompt: 'Extract the total', schema });
    expect(r).toMatchObject({ ok: true, model: 'test-model' });
    expect(JSON.parse(r.result_json)).toEqual({ total: 12.5 });
    const e = await call('query:cap-test:embed.v1', { texts: ['a', 'b'] });
    expect(e).toMatchObject({ ok: true, count: 2, dimensions: 4 });
  });
});

describe('jobs from an extension', () => {
  it('dispatches its own job, reads its status and cancels it', async () => {
    const r = await call('action:cap-test:jobs_flow.input.v1', { steps: 100 });
    expect(r).toMatchObject({ ok: true, job_type: 'cap-test:slow_a', unknown_code: 'JOB_NOT_FOUND' });
    expect(['queued', 'running']).toContain(r.status_after_dispatch);
    expect(['cancelled', 'running']).toContain(r.status_after_cancel);
    const deadline = Date.now() + 15_000;
    let status = '';
    while (Date.now() < deadline) {
      status = ((await client.query('query:jobs.get_status.v1', { job_id: r.job_id })) as { status: string }).status;
      if (status === 'cancelled') break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(status).toBe('cancelled');
  });
});

describe('an extension granted nothing', () => {
  it('is refused every capability with PERMISSION_DENIED naming the missing permission', async () => {
    const job = (await client.action('action:jobs.dispatch.input.v1', { job_type: 'cap-test:slow_a', params: { steps: 1, step_ms: 0 } })) as { job_id: string };
    const lib = (await client.query('query:libraries.list.v1', {})) as { libraries: Array<{ id: string }> };
    const before = hits.length;
    const r = (await call('query:denied:try_all.v1', { url: `${base}/hello`, library_id: lib.libraries[0]!.id, job_id: job.job_id })) as {
      attempts: Array<{ capability: string; ok: boolean; code: string; message: string }>;
    };
    const expected: Record<string, string> = {
      'credentials.store': "prefix such as 'action:credentials.'",
      'credentials.get': "prefix such as 'query:credentials.'",
      'credentials.delete': "prefix such as 'action:credentials.'",
      'credentials.list': "prefix such as 'query:credentials.'",
      'http.fetch': 'permissions.network',
      'vdfs.create_entry (default library)': "prefix such as 'action:vdfs.'",
      'vdfs.list_entries (named library)': "prefix such as 'query:vdfs.'",
      'vdfs.read_sidecar': "prefix such as 'query:vdfs.'",
      'ai.ocr': "prefix such as 'query:ai.'",
      'ai.classify_text': "prefix such as 'query:ai.'",
      'ai.embed': "prefix such as 'query:ai.'",
      'jobs.dispatch': "add 'cap-test:slow_a' to permissions.dispatch",
      'jobs.get_status': "add 'cap-test:slow_a' to permissions.manage_jobs",
      'jobs.cancel': "add 'cap-test:slow_a' to permissions.manage_jobs",
      'core.status': "prefix such as 'query:core.'",
      'another extension': "prefix such as 'query:cap-test:'",
      'files.copy': "prefix such as 'action:files.'",
    };
    expect(r.attempts.map((a) => a.capability)).toEqual(Object.keys(expected));
    for (const a of r.attempts) {
      expect(a, a.capability).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
      expect(a.message, a.capability).toContain("extension 'denied'");
      expect(a.message, a.capability).toContain(expected[a.capability]);
    }
    // Nothing reached the network, and the job was left alone.
    expect(hits.length).toBe(before);
    const status = (await client.query('query:jobs.get_status.v1', { job_id: job.job_id })) as { status: string };
    expect(status.status).not.toBe('cancelled');
  });

  it('extensions info shows what is granted', async () => {
    const denied = (await client.query('query:extensions.info.v1', { id: 'denied' })) as Record<string, any>;
    expect(denied.permissions).toEqual({ call: [], dispatch: [], manage_jobs: [], filesystem: [], libraries: [], network: [] });
    const cap = (await client.query('query:extensions.info.v1', { id: 'cap-test' })) as Record<string, any>;
    expect(cap.permissions.network).toEqual(['127.0.0.1']);
    expect(cap.limits).toMatchObject({ concurrent_jobs: 1, requests_per_minute: 600 });
    const text = await daemon.cli(['extensions', 'info', 'cap-test']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('permissions granted:');
    expect(text.stdout).toContain('127.0.0.1');
    expect(text.stdout).toContain('600 host calls/min');
  });
});
