/**
 * The SDK's modules in the daemon's real sandbox (src/extensions/sandbox): hello and test-ext,
 * built by `npm run build`, loaded with loadSandbox on worker threads, with a HostBridge written
 * here that routes test-ext's calls into a real hello sandbox.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpacedriveError } from '../../src/errors/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { loadSandbox, type ExtensionSandbox, type HostBridge, type SandboxLimits } from '../../src/extensions/sandbox/index.js';
import { ROOT, builtModulePath } from './sdk-guest-host.js';
import { waitFor } from '../helpers/wait.js';

const limits: SandboxLimits = {
  callTimeoutMs: 5_000,
  initTimeoutMs: 5_000,
  memoryMaxBytes: 64 * 1024 * 1024,
  maxInputBytes: 8 * 1024 * 1024,
  maxOutputBytes: 8 * 1024 * 1024,
  instances: 2,
  maxQueue: 1_000,
};

const logLines: { level: number; message: string }[] = [];
const progress: Record<string, unknown>[] = [];
const dispatched: unknown[] = [];
let hello: ExtensionSandbox;
let testExt: ExtensionSandbox;

function bridge(): HostBridge {
  return {
    async call(method, payload, chain) {
      if (method === 'query:hello:greet.v1') return hello.call('greet', payload, { chain });
      if (method === 'query:core.status.v1') return { version: '0.1.0-test', uptime_ms: 1, started_at: '', data_dir: '', pid: process.pid, counts: {} };
      if (method === 'action:jobs.dispatch.input.v1') {
        dispatched.push(payload);
        return { job_id: `job-${dispatched.length}`, deduplicated: false };
      }
      throw new SpacedriveError('UNKNOWN_METHOD' as never, `unknown method '${method}'`);
    },
    log(level, message) {
      logLines.push({ level, message });
    },
    async jobProgress(_jobId, report) {
      progress.push(report);
      return progress.length >= 3 ? 1 : 0;
    },
    jobInterrupt() {
      return 0;
    },
  };
}

beforeAll(async () => {
  execFileSync(process.execPath, [resolve(ROOT, 'scripts', 'build-extensions.mjs')], { cwd: ROOT, stdio: 'pipe' });
  const common = { version: '0.1.0', limits, logger: silentLogger(), bridge: bridge() };
  hello = await loadSandbox({ ...common, id: 'hello', wasm: readFileSync(builtModulePath('hello')), config: {} });
  testExt = await loadSandbox({
    ...common,
    id: 'test-ext',
    wasm: readFileSync(builtModulePath('test-ext')),
    config: { greeting_prefix: 'Hi', repeat: 1 },
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([hello?.close(), testExt?.close()]);
});

describe('SDK modules in the sandbox', () => {
  it('registrations from plugin_init', () => {
    expect(hello.registrations).toEqual([
      expect.objectContaining({ kind: 'operation', operationType: 'query', method: 'query:hello:greet.v1', exportFn: 'greet' }),
      expect.objectContaining({ kind: 'job', jobType: 'hello:countdown', exportFn: 'countdown', resumable: true }),
    ]);
    // 17 queries and actions, and the steps, no-op, counter and typed jobs.
    expect(testExt.registrations.length).toBe(21);
    expect(testExt.registrations).toContainEqual(expect.objectContaining({ kind: 'job', jobType: 'test-ext:noop_job' }));
  });

  it('calls, non-ASCII included', async () => {
    expect(await hello.call('greet', { name: 'Zoë 😀' }, { chain: [] })).toEqual({ greeting: 'Hello, Zoë 😀!' });
    expect(await testExt.call('noop', {}, { chain: [] })).toEqual({});
    expect(await testExt.call('echo_text', { text: '日本語 🇫🇷' }, { chain: [] })).toEqual({
      text: '日本語 🇫🇷',
      utf16_length: '日本語 🇫🇷'.length,
      utf8_bytes: Buffer.byteLength('日本語 🇫🇷'),
    });
  });

  it('guest→host calls: core, another extension, configuration, identity, dispatch', async () => {
    expect(await testExt.call('core_status', {}, { chain: [] })).toEqual({ core_version: '0.1.0-test', core_pid: process.pid });
    expect(await testExt.call('greet_via_hello', { name: 'Ada' }, { chain: [] })).toEqual({ greeting: 'Hello, Ada!', via: 'query:hello:greet.v1' });
    expect(await testExt.call('config', {}, { chain: [] })).toEqual({ greeting_prefix: 'Hi', repeat: 1 });
    expect(await testExt.call('info', {}, { chain: [] })).toEqual({ id: 'test-ext', version: '0.1.0', abi_version: 1 });
    expect(await testExt.call('dispatch_steps', { steps: 2 }, { chain: [] })).toEqual({ job_id: 'job-1' });
    expect(dispatched).toEqual([{ job_type: 'test-ext:steps', params: { steps: 2 } }]);
  });

  it('sd_error becomes a typed error with the guest code; abort traps', async () => {
    await expect(testExt.call('fail', { message: 'no total', code: 'INVALID_INPUT' }, { chain: [] })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('no total'),
    });
    // the SDK's abort handler reports its reason through sd_error before trapping
    await expect(testExt.call('panic', {}, { chain: [] })).rejects.toMatchObject({
      code: 'EXTENSION_TRAPPED',
      message: expect.stringContaining('abort: deliberate panic'),
    });
    // the instance was replaced; calls keep working
    expect(await testExt.call('noop', {}, { chain: [] })).toEqual({});
  });

  it('log lines reach the bridge', async () => {
    await testExt.call('log_levels', {}, { chain: [] });
    await testExt.call('noop', {}, { chain: [] });
    await waitFor(() => logLines.some((l) => l.message === 'error line'), 'the error line');
    expect(logLines).toEqual(expect.arrayContaining([{ level: 2, message: 'info line ✓' }, { level: 4, message: 'error line' }]));
  });

  it('a job: progress with state reaches jobProgress; a pause answer interrupts with the state', async () => {
    const out = await hello.call('countdown', { job_id: 'j1', job_type: 'hello:countdown', params: { from: 10 }, state: null, attempt: 1 }, { chain: [], jobId: 'j1' });
    expect(out).toEqual({ status: 'interrupted', state: { remaining: 7 } });
    expect(progress.map((p) => p.state)).toEqual([{ remaining: 9 }, { remaining: 8 }, { remaining: 7 }]);
  });

  it('a job paces itself with extension.sleep', async () => {
    progress.length = 0;
    const started = Date.now();
    const out = await hello.call('countdown', { job_id: 'j2', job_type: 'hello:countdown', params: { from: 2, delay_ms: 30 }, state: null, attempt: 1 }, { chain: [], jobId: 'j2' });
    expect(out).toEqual({ status: 'completed', output: { counted: 2 } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('large outputs and many calls in flight', async () => {
    const big = (await testExt.call('bytes', { n: 2 * 1024 * 1024 }, { chain: [] })) as { data: string };
    expect(big.data.length).toBe(2 * 1024 * 1024);
    const calls = Array.from({ length: 900 }, (_, i) => testExt.call('churn', { n: 20 + (i % 5) }, { chain: [] }));
    const results = (await Promise.all(calls)) as { count: number }[];
    expect(results.every((r, i) => r.count === 20 + (i % 5))).toBe(true);
  });
});
