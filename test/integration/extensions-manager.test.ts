/**
 * The extension manager in an in-process core with the real sandbox, the real job system and the
 * extensions compiled by the build: runtime registration, extension jobs through the generic WASM
 * job wrapper (checkpoints, pause/resume, retries, restart), concurrency during reload.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { packageVariant } from '../helpers/packages.js';
import { waitForValue as waitFor } from '../helpers/wait.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const HELLO = join(ROOT, 'build', 'extensions', 'hello');
const TEST_EXT = join(ROOT, 'build', 'extensions', 'test-ext');

describe('extension manager (in-process core)', () => {
  let dir: string;
  let core: Core;
  const open = async () => Core.create(loadOptions({ overrides: { dataDir: dir }, env: {} }), { logger: silentLogger() });

  beforeEach(async () => {
    expect(existsSync(join(HELLO, 'manifest.json')), 'npm run build compiles build/extensions').toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'sd-extmgr-'));
    core = await open();
  });
  afterEach(async () => {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers what plugin_init registered, owned by the extension, and removes exactly that on disable', async () => {
    const info = await core.extensions.install(HELLO);
    expect(info).toMatchObject({ id: 'hello', state: 'loaded', operations: [{ method: 'query:hello:greet.v1', export_fn: 'greet' }], job_types: [{ job_type: 'hello:countdown' }] });
    expect(core.runtimeRegistry.listByOwner('hello').map((o) => o.method)).toEqual(['query:hello:greet.v1']);
    expect(core.jobs.types.get('hello:countdown')).toBeDefined();
    await expect(core.execute('query:hello:greet.v1', { name: 'Ada' })).resolves.toEqual({ greeting: 'Hello, Ada!' });
    // The registered input schema is enforced before the guest runs.
    await expect(core.execute('query:hello:greet.v1', { name: 'Ada', extra: 1 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });

    await core.extensions.install(TEST_EXT);
    await core.extensions.disable('hello');
    expect(core.runtimeRegistry.listByOwner('hello')).toEqual([]);
    expect(core.jobs.types.get('hello:countdown')).toBeUndefined();
    expect(core.runtimeRegistry.listByOwner('test-ext').length).toBeGreaterThan(5);
    // test-ext's call into hello now fails cleanly, naming the disabled extension and how to enable it.
    await expect(core.execute('query:test-ext:greet_via_hello.v1', { name: 'x' })).rejects.toMatchObject({
      message: expect.stringContaining("extension 'hello' is installed but disabled; enable it with 'spacedrive extensions enable hello'"),
    });
    await core.extensions.enable('hello');
    await expect(core.execute('query:test-ext:greet_via_hello.v1', { name: 'x' })).resolves.toMatchObject({ greeting: 'Hello, x!' });
  });

  it('runs an extension job through the WASM job wrapper: checkpoints, output, pause and resume', async () => {
    await core.extensions.install(HELLO);
    const { jobId } = await core.jobs.dispatch('hello:countdown', { from: 5 });
    const done = await waitFor('countdown to complete', () => core.jobs.get(jobId), (j) => j.status === 'completed' || j.status === 'failed');
    expect(done).toMatchObject({ status: 'completed', output: { counted: 5 }, state: { remaining: 0 } });

    // Long enough to pause mid-way (one durable checkpoint per step).
    const FROM = 1_000_000;
    const slow = await core.jobs.dispatch('hello:countdown', { from: FROM });
    const remainingOf = (j: { state: unknown }) => (j.state as { remaining?: number } | null)?.remaining ?? FROM;
    await waitFor('a checkpoint', () => core.jobs.get(slow.jobId), (j) => remainingOf(j) < FROM - 10);
    await core.jobs.pause(slow.jobId);
    const paused = await waitFor('pause', () => core.jobs.get(slow.jobId), (j) => j.status === 'paused');
    const remaining = remainingOf(paused);
    expect(remaining).toBeLessThan(FROM - 10);
    // Nothing runs while paused (no run of it is left), so the checkpoint stays put.
    expect(core.jobs.runner.isRunningHere(slow.jobId)).toBe(false);
    expect(remainingOf(await core.jobs.get(slow.jobId))).toBe(remaining);
    await core.jobs.resume(slow.jobId);
    // It goes on from its checkpoint, never from the start.
    const goingOn = await waitFor('resumed countdown', () => core.jobs.get(slow.jobId), (j) => j.status === 'running' && remainingOf(j) < remaining - 10);
    expect(remainingOf(goingOn)).toBeLessThan(remaining);
    await core.jobs.cancel(slow.jobId);
    const cancelled = await waitFor('cancel', () => core.jobs.get(slow.jobId), (j) => j.status === 'cancelled');
    expect(remainingOf(cancelled)).toBeGreaterThan(0);
  });

  it('disabling an extension with a running job stops it at its checkpoint; it resumes once enabled again', async () => {
    await core.extensions.install(HELLO);
    const FROM = 1_000_000;
    const { jobId } = await core.jobs.dispatch('hello:countdown', { from: FROM }, { maxAttempts: 5 });
    const remainingOf = (j: { state: unknown }) => (j.state as { remaining?: number } | null)?.remaining ?? FROM;
    await waitFor('progress', () => core.jobs.get(jobId), (j) => remainingOf(j) < FROM - 10);
    const started = Date.now();
    await core.extensions.disable('hello');
    // Not held up by the drain timeout: the guest was asked to pause and returned its state.
    expect(Date.now() - started).toBeLessThan(core.options.extensions.drainTimeoutMs);
    const waiting = await waitFor('the job to stop', () => core.jobs.get(jobId), (j) => j.status !== 'running');
    // Back in the queue without using an attempt, waiting visibly for its extension.
    expect(waiting.status).toBe('queued');
    expect(waiting.attempts).toBe(0);
    expect(waiting.lastError).toBeNull();
    expect(waiting.waitingFor).toMatch(/hello/);
    const lines = (await core.jobs.logs(jobId)).map((l) => l.message).join('\n');
    expect(lines).toContain("extension 'hello' was disabled while the job ran; back in the queue");
    const checkpoint = remainingOf(waiting);
    expect(checkpoint).toBeLessThan(FROM - 10);
    expect(core.jobs.runner.isRunningHere(jobId)).toBe(false);
    expect(remainingOf(await core.jobs.get(jobId))).toBe(checkpoint);
    await core.extensions.enable('hello');
    const again = await waitFor('the job to run again', () => core.jobs.get(jobId), (j) => j.status === 'running' && remainingOf(j) < checkpoint);
    expect(remainingOf(again)).toBeLessThan(checkpoint);
    await core.jobs.cancel(jobId);
    await waitFor('cancel', () => core.jobs.get(jobId), (j) => j.status === 'cancelled');
  });

  it('reloading an extension with a running job moves the job to the new version from its checkpoint', async () => {
    await core.extensions.install(HELLO);
    const FROM = 1_000_000;
    const { jobId } = await core.jobs.dispatch('hello:countdown', { from: FROM }, { maxAttempts: 5 });
    const remainingOf = (j: { state: unknown }) => (j.state as { remaining?: number } | null)?.remaining ?? FROM;
    await waitFor('progress', () => core.jobs.get(jobId), (j) => remainingOf(j) < FROM - 10);
    const started = Date.now();
    await core.extensions.reload('hello');
    expect(Date.now() - started).toBeLessThan(core.options.extensions.drainTimeoutMs);
    const stopped = await waitFor('the old run to end', () => core.jobs.get(jobId), (j) => j.runs >= 2 || j.status !== 'running');
    const checkpoint = remainingOf(stopped);
    const again = await waitFor('a run on the new version', () => core.jobs.get(jobId), (j) => j.status === 'running' && j.runs >= 2 && remainingOf(j) < checkpoint);
    expect(remainingOf(again)).toBeLessThan(checkpoint);
    // The reload did not use an attempt.
    expect(again.attempts).toBe(0);
    expect(again.errors).toEqual([]);
    await core.jobs.cancel(jobId);
    await waitFor('cancel', () => core.jobs.get(jobId), (j) => j.status === 'cancelled');
  });

  it('retries a failing extension job attempt and resumes an extension job after a restart', async () => {
    await core.extensions.install(TEST_EXT);
    const retried = await core.jobs.dispatch('test-ext:steps', { steps: 3, fail_attempts: 1 }, { maxAttempts: 3 });
    const r = await waitFor('retried job', () => core.jobs.get(retried.jobId), (j) => j.status === 'completed' || j.status === 'failed', 20_000);
    expect(r).toMatchObject({ status: 'completed', output: { done: 3, attempt: 2 } });
    expect(r.errors[0]).toMatchObject({ code: 'TEST_RETRY' });

    // Dispatched by the extension itself (its own job type: no grant needed), then the core restarts mid-way.
    const STEPS = 3_000;
    const { job_id } = (await core.execute('action:test-ext:dispatch_steps.input.v1', { steps: STEPS })) as { job_id: string };
    const doneOf = (j: { state: unknown }) => (j.state as { done?: number } | null)?.done ?? 0;
    await waitFor('a few steps', () => core.jobs.get(job_id), (j) => doneOf(j) >= 3);
    await core.close();
    const atClose = doneOf(await (async () => {
      const reopened = await open();
      core = reopened;
      return core.jobs.get(job_id);
    })());
    const resumed = await waitFor('resumed job', () => core.jobs.get(job_id), (j) => j.status === 'completed' || j.status === 'failed', 30_000);
    expect(atClose).toBeGreaterThanOrEqual(3);
    expect(atClose).toBeLessThan(STEPS);
    expect(resumed).toMatchObject({ status: 'completed', output: { done: STEPS, resumed: true } });
    expect(resumed.dispatchedBy).toContain('test-ext');
  });

  it('keeps serving during reloads: no call fails, the new version takes over', async () => {
    await core.extensions.install(TEST_EXT);
    const before = await core.extensions.info('test-ext');
    let stop = false;
    let ok = 0;
    const failures: unknown[] = [];
    const stream = async () => {
      while (!stop) {
        try {
          await core.execute('query:test-ext:echo.v1', { i: ok });
          await core.execute('query:test-ext:sleep.v1', { ms: 60 });
          ok++;
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const streams = Array.from({ length: 6 }, stream);
    let busyAtReload = 0;
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 90));
      busyAtReload += (await core.extensions.info('test-ext')).stats!.busy;
      await core.extensions.reload('test-ext');
    }
    // Calls were inside the guest when the swaps happened, and they finished on the old version.
    expect(busyAtReload).toBeGreaterThan(0);
    stop = true;
    await Promise.all(streams);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(10);
    const after = await core.extensions.info('test-ext');
    expect(after.loaded_at).not.toBe(before.loaded_at);
    expect(after.stats?.calls).toBeGreaterThanOrEqual(0);
  });

  it('installs disabled without loading, loads on enable, and keeps the choice across a restart', async () => {
    const installed = await core.extensions.install(HELLO, { enabled: false });
    expect(installed).toMatchObject({ state: 'disabled', enabled: false, operations: [], stats: null });
    await expect(core.execute('query:hello:greet.v1', { name: 'x' })).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
    await core.close();
    core = await open();
    expect(core.extensions.list()).toMatchObject([{ id: 'hello', state: 'disabled', enabled: false }]);
    const enabled = await core.extensions.enable('hello');
    expect(enabled).toMatchObject({ state: 'loaded', enabled: true });
    expect(enabled.load_ms).toBeGreaterThan(0);
    await core.close();
    core = await open();
    expect(core.extensions.list()).toMatchObject([{ id: 'hello', state: 'loaded', enabled: true }]);
    await expect(core.execute('query:hello:greet.v1', { name: 'x' })).resolves.toEqual({ greeting: 'Hello, x!' });
    const status = (await core.execute('query:core.status.v1', {})) as { counts: Record<string, number> };
    expect(status.counts).toMatchObject({ extensions_installed: 1, extensions_enabled: 1, extensions_loaded: 1, extensions_failed: 0 });
  });

  it('serialises management operations on one extension and emits extension events', async () => {
    const events: string[] = [];
    const sub = core.events.subscribe(['extension:*'], undefined, (e) => events.push(`${e.type} ${String(e.payload.id)}`));
    await core.extensions.install(HELLO);
    const results = await Promise.allSettled([
      core.extensions.reload('hello'),
      core.extensions.disable('hello'),
      core.extensions.reload('hello'),
      core.extensions.enable('hello'),
      core.extensions.reload('hello'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    // Applied in the order asked: the reload of a disabled extension does not load it.
    expect((results[2] as PromiseFulfilledResult<{ state: string }>).value.state).toBe('disabled');
    expect((await core.extensions.info('hello')).state).toBe('loaded');
    await expect(core.execute('query:hello:greet.v1', { name: 'z' })).resolves.toEqual({ greeting: 'Hello, z!' });
    expect(core.runtimeRegistry.listByOwner('hello')).toHaveLength(1);
    await core.extensions.uninstall('hello');
    sub.unsubscribe();
    expect(events).toEqual([
      'extension:installed hello',
      'extension:loaded hello',
      'extension:loaded hello',
      'extension:reloaded hello',
      'extension:unloaded hello',
      'extension:disabled hello',
      'extension:reloaded hello',
      'extension:loaded hello',
      'extension:enabled hello',
      'extension:loaded hello',
      'extension:reloaded hello',
      'extension:unloaded hello',
      'extension:uninstalled hello',
    ]);
  });

  it("the manifest's registration limits reach plugin_init, within the host's ceilings", async () => {
    const few = packageVariant('test-ext', join(dir, 'few'), (m) => (m.limits = { ...m.limits, max_operations: 2 }));
    const info = await core.extensions.install(few);
    expect(info.state).toBe('failed');
    expect(info.error).toMatchObject({ code: 'REGISTRATION_REJECTED', details: { extension: 'test-ext', limit: 'max_operations', value: 2 } });
    expect(core.runtimeRegistry.listByOwner('test-ext')).toEqual([]);
    await core.extensions.uninstall('test-ext');
    const greedy = packageVariant('test-ext', join(dir, 'greedy'), (m) => (m.limits = { ...m.limits, max_job_types: 1_000_000 }));
    await expect(core.extensions.install(greedy)).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining('limits.max_job_types = 1000000, above this host') });
  });

  it('a failed reload keeps the old version serving', async () => {
    await core.extensions.install(HELLO);
    await expect(core.extensions.reload('hello', { from: TEST_EXT })).rejects.toMatchObject({ code: 'EXTENSION_INVALID' });
    await expect(core.execute('query:hello:greet.v1', { name: 'still' })).resolves.toEqual({ greeting: 'Hello, still!' });
    expect((await core.extensions.info('hello')).state).toBe('loaded');

    // A rebuild with the same version that does not load: the old one keeps serving and stays installed.
    const broken = join(dir, 'broken-hello');
    mkdirSync(broken);
    const bad = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0xff]);
    writeFileSync(join(broken, 'hello.wasm'), bad);
    const manifest = JSON.parse(readFileSync(join(HELLO, 'manifest.json'), 'utf8'));
    writeFileSync(join(broken, 'manifest.json'), JSON.stringify({ ...manifest, sha256: createHash('sha256').update(bad).digest('hex') }));
    await expect(core.extensions.reload('hello', { from: broken })).rejects.toMatchObject({ message: expect.stringContaining("extension 'hello'") });
    await expect(core.execute('query:hello:greet.v1', { name: 'still' })).resolves.toEqual({ greeting: 'Hello, still!' });
    await core.close();
    core = await open();
    expect(await core.extensions.info('hello')).toMatchObject({ state: 'loaded', sha256: manifest.sha256 });
  });
});
