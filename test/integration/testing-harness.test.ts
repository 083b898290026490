/**
 * The test harness (spacedrive-extensions/testing) on a real module (the conformance reference):
 * fakes answer only the methods a test names and only after the permission check, host calls
 * and logs are recorded, step-by-step jobs stop at each checkpoint, and a crash after a
 * checkpoint is followed by a real recovery on the same data directory.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModule } from '../../src/authoring/conformance.js';
import { ExtensionHarness } from '../../src/testing/index.js';
import { REPO_ROOT } from '../helpers/daemon.js';

let dir: string;
let harness: ExtensionHarness;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sd-harness-test-'));
  const wasm = await readModule(join(REPO_ROOT, 'conformance', 'reference.wat'));
  writeFileSync(join(dir, 'ref.wasm'), wasm);
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({ id: 'ref', name: 'Ref', version: '1.0.0', module: 'ref.wasm', sha256: createHash('sha256').update(wasm).digest('hex'), abi_version: 1, permissions: { call: ['query:core.status'] } }),
  );
  harness = await ExtensionHarness.start({ package: dir });
});

afterAll(async () => {
  await harness?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ExtensionHarness', () => {
  it('records host calls; a fake answers a granted method, never a refused one', async () => {
    harness.fake('query:core.status.v1', { version: 'faked' });
    harness.fake('query:core.methods.v1', { methods: [] });
    expect(await harness.action('call', ['query:core.status.v1', {}])).toEqual({ ok: true, result: { version: 'faked' } });
    const refused = (await harness.action('call', ['query:core.methods.v1', {}])) as { ok: boolean; error: { code: string } };
    expect(refused).toMatchObject({ ok: false, error: { code: 'PERMISSION_DENIED' } });
    expect(harness.hostCalls.slice(-2)).toEqual([
      expect.objectContaining({ method: 'query:core.status.v1', faked: true, result: { version: 'faked' } }),
      expect.objectContaining({ method: 'query:core.methods.v1', faked: true, error: expect.objectContaining({ code: 'PERMISSION_DENIED' }) }),
    ]);
  });

  it('a fake may be a function of the payload, and may fail', async () => {
    harness.fake('query:core.status.v1', (payload: unknown) => {
      if ((payload as { fail?: boolean }).fail) throw Object.assign(new Error('down'), { code: 'NOT_FOUND' });
      return { echoed: payload };
    });
    expect(await harness.action('call', ['query:core.status.v1', { a: 1 }])).toEqual({ ok: true, result: { echoed: { a: 1 } } });
    expect(await harness.action('call', ['query:core.status.v1', { fail: true }])).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('records log lines', async () => {
    await harness.action('log', 'from the test');
    expect(harness.logs.at(-1)).toEqual({ level: 'info', message: '"from the test"', jobId: null });
  });

  it('runs a job step by step: it waits at each checkpoint until the next step', async () => {
    const job = await harness.startJob('steps', { steps: 3 }, { stepwise: true });
    expect((await job.step()).state).toEqual({ done: 1 });
    await new Promise((r) => setTimeout(r, 200));
    // Held after its first report: nothing more happened meanwhile.
    expect(job.checkpoints).toEqual([{ done: 1 }]);
    expect((await job.view()).status).toBe('running');
    expect((await job.step()).state).toEqual({ done: 2 });
    expect((await job.finished()).output).toEqual({ done: 3 });
  });

  it('crashAfterCheckpoint: the job store keeps that checkpoint and the restarted host resumes from it', async () => {
    harness.crashAfterCheckpoint(3);
    const job = await harness.startJob('steps', { steps: 6 });
    await job.crashed;
    await harness.restart();
    const done = await job.finished();
    expect(done.output).toEqual({ done: 6 });
    expect(job.checkpoints).toEqual([1, 2, 3, 4, 5, 6].map((done) => ({ done })));
    const logs = await job.logs();
    expect(logs.some((l) => l.message.includes('the daemon stopped while this job was running'))).toBe(true);
  });
});
