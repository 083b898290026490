/**
 * The permission model beyond single refusals: the rate limit on host calls (token bucket,
 * RATE_LIMITED naming the limit), the concurrent_jobs limit covering all of an extension's job
 * types together (real job system, real sandbox, cap-test compiled by the build), the rules of
 * checkCallPermission, and `extensions install` asking for confirmation.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { noPermissions, type ManifestPermissions } from '../../src/extensions/manifest.js';
import { RateLimiter, checkCallPermission } from '../../src/extensions/permissions.js';
import { silentLogger } from '../../src/logging/index.js';
import { REPO_ROOT, makeTempDir, startTestDaemon } from '../helpers/daemon.js';
import { packageVariant } from '../helpers/packages.js';

const CAP_TEST = join(REPO_ROOT, 'build', 'extensions', 'cap-test');
const DENIED = join(REPO_ROOT, 'build', 'extensions', 'denied');

describe('checkCallPermission', () => {
  const none: ManifestPermissions = noPermissions();

  it('grants HTTP by permissions.network, leaves job methods to their handlers, and needs a library for library-scoped calls', () => {
    expect(() => checkCallPermission('x', none, 'action:http.fetch.input.v1', { url: 'http://a/' })).toThrow(/permissions\.network/);
    expect(() => checkCallPermission('x', { ...none, network: ['a'] }, 'action:http.fetch.input.v1', { url: 'http://a/' })).not.toThrow();
    // A call prefix alone does not open the network.
    expect(() => checkCallPermission('x', { ...none, call: ['action:'] }, 'action:http.fetch.input.v1', {})).toThrow(/permissions\.network/);

    // Jobs are granted per job type (permissions.dispatch, manage_jobs), checked by the job
    // methods' handlers against each job: the methods themselves are open to every extension.
    for (const m of ['action:jobs.dispatch.input.v1', 'query:jobs.get_status.v1', 'action:jobs.cancel.input.v1', 'query:jobs.list.v1']) {
      expect(() => checkCallPermission('x', none, m, { job_id: 'j' })).not.toThrow();
    }

    const vdfs = { ...none, call: ['query:vdfs.'] };
    expect(() => checkCallPermission('x', vdfs, 'query:vdfs.list_entries.v1', {}, 'library')).toThrow(/permissions\.libraries/);
    expect(() => checkCallPermission('x', { ...vdfs, libraries: ['L1'] }, 'query:vdfs.list_entries.v1', {}, 'library')).toThrow(/must pass library_id/);
    expect(() => checkCallPermission('x', { ...vdfs, libraries: ['L1'] }, 'query:vdfs.list_entries.v1', { library_id: 'L1' }, 'library')).not.toThrow();
    expect(() => checkCallPermission('x', { ...vdfs, libraries: ['L1'] }, 'query:vdfs.list_entries.v1', { library_id: 'L2' }, 'library')).toThrow(/may not use library 'L2'/);
    expect(() => checkCallPermission('x', { ...vdfs, libraries: ['*'] }, 'query:vdfs.list_entries.v1', {}, 'library')).not.toThrow();
    try {
      checkCallPermission('x', none, 'query:vdfs.get_entry.v1', { entry_id: 'e' }, 'library');
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'PERMISSION_DENIED', details: { extension: 'x', method: 'query:vdfs.get_entry.v1', missing: 'permissions.call: query:vdfs.' } });
    }
  });
});

describe('RateLimiter', () => {
  it('allows a burst of the limit, then refuses naming the limit, and refills over time', () => {
    let now = 0;
    const limiter = new RateLimiter('ext', 60, () => now);
    for (let i = 0; i < 60; i++) limiter.take('m');
    let caught: unknown;
    try {
      limiter.take('query:core.status.v1');
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({
      code: 'RATE_LIMITED',
      message: expect.stringContaining("extension 'ext' is over its limit of 60 host calls per minute (limits.requests_per_minute)"),
      details: { limit: 'limits.requests_per_minute', requests_per_minute: 60, retry_after_ms: 1000 },
    });
    now += 1000; // one token per second at 60/min
    expect(() => limiter.take('m')).not.toThrow();
    expect(() => limiter.take('m')).toThrow(/limits\.requests_per_minute/);
    now += 3_600_000; // refills up to the limit, not beyond
    for (let i = 0; i < 60; i++) limiter.take('m');
    expect(() => limiter.take('m')).toThrow(/limits\.requests_per_minute/);
  });
});

describe('limits of a real extension (in-process core)', () => {
  let dir: string;
  let core: Core;

  beforeEach(async () => {
    expect(existsSync(join(CAP_TEST, 'manifest.json')), 'npm run build compiles build/extensions/cap-test').toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'sd-perm-'));
    core = await Core.create(loadOptions({ overrides: { dataDir: join(dir, 'data') }, env: {} }), { logger: silentLogger() });
  });
  afterEach(async () => {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses host calls over requests_per_minute with RATE_LIMITED; clients are not limited', async () => {
    const path = packageVariant('cap-test', join(dir, 'pkg'), (m) => {
      m.limits.requests_per_minute = 5;
    });
    await core.extensions.install(path);
    const r = (await core.execute('action:cap-test:burst.input.v1', { n: 20 })) as { ok_count: number; first_error_code: string; first_error_message: string };
    expect(r.ok_count).toBeGreaterThanOrEqual(5);
    expect(r.ok_count).toBeLessThanOrEqual(6);
    expect(r.first_error_code).toBe('RATE_LIMITED');
    expect(r.first_error_message).toContain('5 host calls per minute (limits.requests_per_minute)');
    // Operations of the extension itself still answer (the limit is on its calls into the host)…
    const again = (await core.execute('action:cap-test:burst.input.v1', { n: 1 })) as { ok_count: number; first_error_code: string };
    expect(again).toMatchObject({ ok_count: 0, first_error_code: 'RATE_LIMITED' });
    // …and other callers are not affected.
    for (let i = 0; i < 20; i++) await core.execute('query:credentials.list.v1', {}, { caller: { kind: 'client', chain: [] } });
  });

  it('runs at most concurrent_jobs of the extension\'s jobs at once, across all its job types', async () => {
    const path = packageVariant('cap-test', join(dir, 'pkg'), (m) => {
      m.limits.concurrent_jobs = 2;
    });
    await core.extensions.install(path);
    let running = 0;
    let maxRunning = 0;
    const done = new Set<string>();
    const sub = core.events.subscribe(['job:*'], undefined, (e) => {
      const p = e.payload as { job_id: string; job_type: string };
      if (!p.job_type?.startsWith('cap-test:')) return;
      if (e.type === 'job:started') {
        running++;
        maxRunning = Math.max(maxRunning, running);
      } else if (['job:completed', 'job:failed', 'job:retrying', 'job:paused', 'job:cancelled'].includes(e.type)) {
        running--;
        if (e.type === 'job:completed') done.add(p.job_id);
      }
    });
    try {
      const ids: string[] = [];
      for (const type of ['cap-test:slow_a', 'cap-test:slow_b', 'cap-test:slow_a', 'cap-test:slow_b', 'cap-test:slow_a', 'cap-test:slow_b']) {
        ids.push((await core.jobs.dispatch(type, { steps: 3, step_ms: 100 })).jobId);
      }
      // While two run, the others say what they wait for.
      const deadline = Date.now() + 30_000;
      let sawWaiting = false;
      while (done.size < ids.length && Date.now() < deadline) {
        for (const id of ids) {
          const j = await core.jobs.get(id);
          if (j.status === 'queued' && j.waitingFor?.includes("'cap-test' jobs (2 running, its concurrent_jobs limit)")) sawWaiting = true;
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(done.size).toBe(ids.length);
      expect(maxRunning).toBe(2);
      expect(sawWaiting).toBe(true);
    } finally {
      sub.unsubscribe();
    }
  });
});

describe('extensions install asks before granting (CLI, real daemon)', () => {
  it('refuses without confirmation when stdin is not a terminal, installs with --yes, and info shows the grants', async () => {
    const daemon = await startTestDaemon();
    const scratch = makeTempDir('sd-inst-');
    try {
      const path = packageVariant('cap-test', join(scratch, 'pkg'), (m) => {
        m.permissions.dispatch = ['files.copy', 'hello:*'];
        m.permissions.manage_jobs = ['hello:countdown'];
        m.permissions.filesystem = [
          { path: '/srv/receipts', access: 'read' },
          { path: '/srv/out', access: 'write' },
        ];
      });
      const refused = await daemon.cli(['extensions', 'install', path], { input: 'y\n' });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('without confirmation');
      expect(refused.stderr).toContain('--yes');
      const list = await daemon.cli(['--json', 'extensions', 'list']);
      expect(JSON.parse(list.stdout).extensions).toEqual([]);

      const ok = await daemon.cli(['extensions', 'install', path, '--yes']);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('permissions granted:');
      expect(ok.stdout).toContain('query:vdfs., action:vdfs., query:ai., query:credentials., action:credentials.');
      expect(ok.stdout).toMatch(/dispatch jobs:\s+files\.copy, hello:\*/);
      expect(ok.stdout).toMatch(/manage jobs:\s+hello:countdown/);
      expect(ok.stdout).toMatch(/filesystem:\s+read\s+\/srv\/receipts\n\s+write\s+\/srv\/out/);
      expect(ok.stdout).toMatch(/network:\s+127\.0\.0\.1/);
      expect(ok.stdout).toContain('1 concurrent job(s), 600 host calls/min');

      // An id reserved for core is refused before anything is shown or installed.
      const reserved = await daemon.cli(['extensions', 'install', packageVariant('denied', join(scratch, 'core'), (m) => (m.id = 'core')), '--yes']);
      expect(reserved.code).toBe(1);
      expect(reserved.stderr).toContain('EXTENSION_INVALID');
      expect(reserved.stderr).toContain("extension id 'core' is reserved");

      const denied = await daemon.cli(['extensions', 'install', DENIED, '--yes']);
      expect(denied.code, denied.stderr).toBe(0);
      const info = await daemon.cli(['extensions', 'info', 'denied']);
      expect(info.stdout).toMatch(/call:\s+\(none: only its own methods\)/);
      expect(info.stdout).toMatch(/network:\s+\(none\)/);
      expect(info.stdout).toMatch(/dispatch jobs:\s+\(none: only its own job types\)/);
      expect(info.stdout).toMatch(/filesystem:\s+\(none\)/);
    } finally {
      await daemon.stop();
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
