import { afterEach, describe, expect, it } from 'vitest';
import type { ExtensionSandbox } from '../../src/extensions/sandbox/index.js';
import { loadFixture, recordingBridge } from '../helpers/sandbox.js';
import { rejectionOf } from '../helpers/errors.js';
import { waitFor } from '../helpers/wait.js';

/** A promise with its resolve exposed, to hold a call inside the host for as long as a test needs. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('sandbox: the echo extension', () => {
  const open: ExtensionSandbox[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  // These tests are about the worker instances: calls run on them only (the main thread's
  // metered instance, which would answer short calls first, has its own tests in
  // sandbox-inline.test.ts).
  async function load(name: string, opts: Parameters<typeof loadFixture>[1] = {}) {
    const s = await loadFixture(name, { inline: false, ...opts });
    open.push(s);
    return s;
  }

  it('reports what plugin_init registered, with methods formed from the extension id', async () => {
    const s = await load('echo', { id: 'acme' });
    const byName = Object.fromEntries(s.registrations.map((r) => [r.name, r]));
    expect(byName.echo).toEqual({
      kind: 'operation',
      operationType: 'query',
      name: 'echo',
      method: 'query:acme:echo.v1',
      exportFn: 'echo',
      description: 'returns its input',
    });
    expect(byName.host_call).toMatchObject({ operationType: 'action', method: 'action:acme:host_call.input.v1' });
    expect(byName.job).toEqual({ kind: 'job', name: 'job', jobType: 'acme:job', exportFn: 'job', resumable: true, description: '' });
    expect(s.stats()).toMatchObject({ instances: 2, busy: 0, queued: 0, replaced: 0 });
  });

  it('round-trips JSON through a handler, including non-ASCII text', async () => {
    const s = await load('echo');
    const input = { text: 'naïve café — 日本語 🎉', n: [1, 2.5, null, true], nested: { a: 'b' } };
    expect(await s.call('echo', input, { chain: [] })).toEqual(input);
    expect(await s.call('noop', {}, { chain: [] })).toBeNull();
  });

  it('spreads concurrent calls over the pool and counts them', async () => {
    const s = await load('echo', { limits: { instances: 3, maxQueue: 500 } });
    const outs = await Promise.all(Array.from({ length: 200 }, (_, i) => s.call('echo', { i }, { chain: [] })));
    expect(outs).toEqual(Array.from({ length: 200 }, (_, i) => ({ i })));
    expect(s.stats()).toMatchObject({ calls: 200, busy: 0, queued: 0, instances: 3 });
  });

  it('serves extension.info and extension.config inside the worker', async () => {
    const bridge = recordingBridge();
    const s = await load('echo', { id: 'acme', config: { api_key: 'k', retries: 3 }, bridge });
    expect(await s.call('info', {}, { chain: [] })).toEqual({ ok: true, result: { id: 'acme', version: '1.0.0', abi_version: 1 } });
    expect(await s.call('host_call', ['extension.config', {}], { chain: [] })).toEqual({ ok: true, result: { api_key: 'k', retries: 3 } });
    expect(await s.call('host_call', ['extension.nope', {}], { chain: [] })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } });
    expect(bridge.calls).toEqual([]);
  });

  it('sends wire methods to the bridge with the call chain, and hands back its answer or error', async () => {
    const bridge = recordingBridge(async (method, payload) => {
      if (method === 'query:core.fail.v1') throw Object.assign(new Error('nope'), { code: 'PERMISSION_DENIED', name: 'SpacedriveError' });
      return { echoed: payload };
    });
    const s = await load('echo', { id: 'acme', bridge });
    const ok = await s.call('host_call', ['query:other:thing.v1', { q: 'ü' }], { chain: ['caller'] });
    expect(ok).toEqual({ ok: true, result: { echoed: { q: 'ü' } } });
    expect(bridge.calls).toEqual([{ method: 'query:other:thing.v1', payload: { q: 'ü' }, chain: ['caller', 'acme'] }]);
    const failed = await s.call('host_call', ['query:core.fail.v1', {}], { chain: [] });
    expect(failed).toEqual({ ok: false, error: { code: 'PERMISSION_DENIED', message: 'nope' } });
  });

  it('hands back large bridge answers whole (past the shared reply buffer) and multi-byte text intact', async () => {
    const big = 'é'.repeat(50_000) + '🎉'.repeat(20_000); // ~180 KB of UTF-8, over the 64 KiB reply buffer
    const bridge = recordingBridge(async (method) => (method === 'query:big.v1' ? { big } : { small: 'ñ' }));
    const s = await load('echo', { bridge, limits: { maxOutputBytes: 1024 * 1024 } });
    expect(await s.call('host_call', ['query:big.v1', {}], { chain: [] })).toEqual({ ok: true, result: { big } });
    expect(await s.call('host_call', ['query:small.v1', {}], { chain: [] })).toEqual({ ok: true, result: { small: 'ñ' } });
  });

  it('maps sd_error to a typed error with the guest message', async () => {
    const s = await load('echo', { id: 'acme' });
    const err = await rejectionOf(s.call('fail', {}, { chain: [] }));
    expect(err.code).toBe('NOT_FOUND');
    // The export's name is an internal: in details, not in the message people read.
    expect(err.message).toBe("extension 'acme': no such receipt");
    expect(err.details).toMatchObject({ extension: 'acme', export: 'fail' });
    // A guest error is the guest's answer, not a fault: the instance stays.
    expect(s.stats().replaced).toBe(0);
  });

  it('forwards sd_log lines to the bridge', async () => {
    const bridge = recordingBridge();
    const s = await load('echo', { bridge });
    await s.call('log', {}, { chain: [] });
    expect(bridge.logs).toContainEqual({ level: 2, message: 'hello from echo' });
  });

  it('routes job progress and interrupt checks to the bridge when the call runs a job', async () => {
    const bridge = recordingBridge(undefined, { progress: async () => 1, interrupt: 2 });
    const s = await load('echo', { bridge });
    const report = { fraction: 0.5, message: 'half', state: { cursor: 'x' } };
    expect(await s.call('job', report, { chain: [], jobId: 'job-1' })).toEqual([1, 2]);
    expect(bridge.progress).toEqual([{ jobId: 'job-1', report }]);
    expect(bridge.interrupts).toEqual(['job-1']);
    // Outside a job both imports answer -1 and nothing reaches the bridge.
    expect(await s.call('job', report, { chain: [] })).toEqual([-1, -1]);
    expect(bridge.progress).toHaveLength(1);
  });

  it('stops the clock of a job call while the host records its progress', async () => {
    // The host's durable write takes longer than the whole call limit; the guest itself is quick.
    const bridge = recordingBridge(undefined, { progress: () => new Promise((r) => setTimeout(() => r(0), 400)) });
    const s = await load('echo', { bridge, limits: { callTimeoutMs: 150 } });
    expect(await s.call('job', { fraction: 1 }, { chain: [], jobId: 'slow-disk' })).toEqual([0, 0]);
  });

  it('refuses input over maxInputBytes before calling the guest', async () => {
    const s = await load('echo', { limits: { maxInputBytes: 100 } });
    const err = await rejectionOf(s.call('echo', { big: 'x'.repeat(200) }, { chain: [] }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/over the limit of 100 bytes/);
    expect(s.stats().calls).toBe(0);
  });

  it('refuses an export that is not a registered handler', async () => {
    const s = await load('echo');
    await expect(s.call('sd_alloc', 1, { chain: [] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(s.call('plugin_init', 1, { chain: [] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('queues calls while every instance is busy, and refuses past maxQueue with OVERLOADED', async () => {
    const gate = deferred<unknown>();
    const bridge = recordingBridge(() => gate.promise);
    const s = await load('echo', { bridge, limits: { instances: 1, maxQueue: 2 } });
    const holding = s.call('host_call', ['query:slow.v1', {}], { chain: [] });
    await waitFor(() => bridge.calls.length === 1);
    const queued = [s.call('echo', 1, { chain: [] }), s.call('echo', 2, { chain: [] })];
    expect(s.stats()).toMatchObject({ busy: 1, queued: 2 });
    const err = await rejectionOf(s.call('echo', 3, { chain: [] }));
    expect(err.code).toBe('OVERLOADED');
    expect(err.details).toMatchObject({ extension: 'echo', running: 1, queued: 2 });
    gate.resolve('done');
    expect(await holding).toEqual({ ok: true, result: 'done' });
    expect(await Promise.all(queued)).toEqual([1, 2]);
  });

  it('cancels a waiting call, and preempts a running one, when its signal aborts', async () => {
    const gate = deferred<unknown>();
    const bridge = recordingBridge(() => gate.promise);
    const s = await load('echo', { bridge, limits: { instances: 1 } });
    const running = new AbortController();
    const holding = rejectionOf(s.call('host_call', ['query:slow.v1', {}], { chain: [], signal: running.signal }));
    await waitFor(() => bridge.calls.length === 1);
    const waiting = new AbortController();
    const queued = rejectionOf(s.call('echo', 1, { chain: [], signal: waiting.signal }));
    waiting.abort();
    expect((await queued).code).toBe('CANCELLED');
    running.abort();
    expect((await holding).code).toBe('CANCELLED');
    gate.resolve('late');
    expect(s.stats().replaced).toBe(1);
    expect(await s.call('echo', 'after', { chain: [] })).toBe('after');
  });

  it('pipelines job calls made together, each routed to its own job', async () => {
    const bridge = recordingBridge(undefined, { progress: async (jobId) => (jobId === 'job-3' ? 2 : 0) });
    const s = await load('echo', { bridge });
    const outs = await Promise.all(Array.from({ length: 10 }, (_, i) => s.call('job', { fraction: i / 10 }, { chain: [], jobId: `job-${i}` })));
    expect(outs).toEqual(Array.from({ length: 10 }, (_, i) => [i === 3 ? 2 : 0, 0]));
    expect(bridge.progress.map((p) => [p.jobId, p.report.fraction]).sort()).toEqual(Array.from({ length: 10 }, (_, i) => [`job-${i}`, i / 10]).sort());
    expect(bridge.interrupts.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `job-${i}`).sort());
  });

  it('takes back calls posted behind a slow call and runs them on an idle instance', async () => {
    const s = await load('echo', { limits: { instances: 2, callTimeoutMs: 5_000 } });
    // Both instances up and idle before the calls: the second starts in the background, and
    // stats count it from when it starts (starting a thread takes tens of milliseconds).
    await waitFor(() => s.stats().instances === 2);
    await new Promise((r) => setTimeout(r, 500));
    const order: string[] = [];
    // Made in the same turn, both join the instance the first one woke; the other stays idle.
    const slow = s.call('host_call', ['extension.sleep', { ms: 1_500 }], { chain: [] }).then(() => order.push('slow'));
    const fast = s.call('echo', 'fast', { chain: [] }).then(() => order.push('fast'));
    await Promise.all([slow, fast]);
    expect(order).toEqual(['fast', 'slow']);
    expect(s.stats()).toMatchObject({ replaced: 0, busy: 0, queued: 0 });
  });

  it('answers a call at once when the call posted after it on the same instance is slow', async () => {
    const gate = deferred<unknown>();
    const bridge = recordingBridge(() => gate.promise);
    const s = await load('echo', { bridge, limits: { instances: 1, callTimeoutMs: 5_000 } });
    // Posted together to the one instance. The echo's answer may wait for its neighbour only
    // briefly (RESULT_HOLD_MS): the neighbour waits on the host until the gate opens, after it.
    const fast = s.call('echo', 'fast', { chain: [] });
    const slow = s.call('host_call', ['query:slow.v1', {}], { chain: [] });
    await waitFor(() => bridge.calls.length === 1);
    // The neighbour is now held by the host: the echo must be answered all the same.
    expect(await fast).toBe('fast');
    gate.resolve('done');
    expect(await slow).toEqual({ ok: true, result: 'done' });
  });

  it('cancels a call posted behind a slow one as soon as its signal aborts', async () => {
    const s = await load('echo', { limits: { instances: 1, callTimeoutMs: 5_000 } });
    let slowDone = false;
    const slow = s.call('host_call', ['extension.sleep', { ms: 1_000 }], { chain: [] }).then(() => (slowDone = true));
    const ac = new AbortController();
    const behind = rejectionOf(s.call('job', { fraction: 1 }, { chain: [], jobId: 'behind', signal: ac.signal }));
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    expect((await behind).code).toBe('CANCELLED');
    expect(slowDone).toBe(false);
    await slow;
    // The slow call was not preempted: its instance still serves.
    expect(s.stats().replaced).toBe(0);
    expect(await s.call('echo', 'after', { chain: [] })).toBe('after');
  });

  it('close() lets running calls finish, then calls plugin_cleanup in every instance', async () => {
    const gate = deferred<unknown>();
    const bridge = recordingBridge(() => gate.promise);
    const s = await loadFixture('echo', { bridge });
    const holding = s.call('host_call', ['query:slow.v1', {}], { chain: [] });
    await waitFor(() => bridge.calls.length === 1);
    const closing = s.close();
    await expect(s.call('echo', 1, { chain: [] })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    gate.resolve(42);
    expect(await holding).toEqual({ ok: true, result: 42 });
    await closing;
    expect(bridge.logs.filter((l) => l.message === 'cleanup')).toHaveLength(2);
    expect(s.stats().instances).toBe(0);
  });
});
