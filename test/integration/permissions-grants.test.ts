/**
 * "A grant means exactly what it says": a hostile extension (test/fixtures/wat/escape-relay.wat,
 * real WebAssembly in a real in-process core with its SQLite job store) tries to reach paths,
 * jobs and names it was not granted — by dispatching core jobs, calling core operations,
 * observing and cancelling other owners' jobs, and installing under core's own ids.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { JobTypeRegistry } from '../../src/jobs/registry.js';
import { silentLogger } from '../../src/logging/index.js';
import { builtExtension, wasmPackage } from '../helpers/packages.js';
import { waitFor } from '../helpers/wait.js';
import { compileWat } from '../helpers/wat.js';

type Envelope = { ok: true; result: any } | { ok: false; error: { code: string; message: string; details?: Record<string, unknown> } };

const CORE_JOB_TYPES = ['core.count', 'core.noop', 'files.copy', 'files.hash_tree', 'locations.index'];

let wasm: Uint8Array;
beforeAll(async () => {
  wasm = await compileWat('escape-relay');
});

let dir: string;
let core: Core;
/** Files the extension may read (`in/`), may write (`out/`), and must never reach (`outside/`). */
let inDir: string;
let outDir: string;
let outside: string;

function writePackage(id: string, permissions: Record<string, unknown>): string {
  return wasmPackage(join(dir, 'pkgs'), id, wasm, { permissions, limits: { instances: 1, memory_mb: 16, call_timeout_ms: 10_000 } });
}

async function installEscaper(permissions: Record<string, unknown> = {}, id = 'escaper'): Promise<void> {
  const info = await core.extensions.install(writePackage(id, permissions));
  expect(info.state, JSON.stringify(info.error)).toBe('loaded');
}

/** Has extension `id` call `m` with `p` from inside its sandbox; the host's envelope. */
function asExtension(m: string, p: unknown, id = 'escaper'): Promise<Envelope> {
  return core.execute(`query:${id}:relay.v1`, { m, p }, { caller: { kind: 'client', chain: [] } }) as Promise<Envelope>;
}

function expectDenied(r: Envelope, missing: string | RegExp): void {
  expect(r.ok, JSON.stringify(r)).toBe(false);
  if (r.ok) return;
  expect(r.error.code).toBe('PERMISSION_DENIED');
  expect(String(r.error.details?.missing ?? r.error.message)).toMatch(missing);
}

const dispatch = (job_type: string, params: unknown, id?: string) => asExtension('action:jobs.dispatch.input.v1', { job_type, params }, id);

async function finished(jobId: string) {
  return waitFor(async () => {
    const j = await core.jobs.get(jobId);
    return ['completed', 'failed', 'cancelled'].includes(j.status) ? j : undefined;
  }, `job ${jobId} to finish`);
}

async function openCore(): Promise<Core> {
  return Core.create(loadOptions({ overrides: { dataDir: join(dir, 'data') }, env: {} }), { logger: silentLogger() });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sd-grants-'));
  inDir = join(dir, 'in');
  outDir = join(dir, 'out');
  outside = join(dir, 'outside');
  for (const d of [inDir, outDir, outside]) mkdirSync(d);
  writeFileSync(join(inDir, 'doc.txt'), 'granted\n');
  writeFileSync(join(outside, 'secret.txt'), 'not yours\n');
  core = await openCore();
});

afterEach(async () => {
  await core.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dispatch is granted per job type', () => {
  it('lets an extension with no grants dispatch, observe and cancel its own job types', async () => {
    await installEscaper();
    const r = await dispatch('escaper:noop', {});
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    const jobId = (r as { result: { job_id: string } }).result.job_id;
    expect((await finished(jobId)).status).toBe('completed');
    expect(await asExtension('query:jobs.get_status.v1', { job_id: jobId })).toMatchObject({ ok: true, result: { job_id: jobId, status: 'completed' } });
    expect(await asExtension('query:jobs.logs.v1', { job_id: jobId })).toMatchObject({ ok: true });
    expect(await asExtension('action:jobs.retry.input.v1', { job_id: jobId })).toMatchObject({ ok: false, error: { code: 'INVALID_JOB_STATE' } });
  });

  it("refuses another extension's job type and core's, unless permissions.dispatch names them", async () => {
    await core.extensions.install(builtExtension('hello'));
    await installEscaper();
    expectDenied(await dispatch('hello:countdown', { from: 1 }), 'permissions.dispatch: hello:countdown');
    expectDenied(await dispatch('core.noop', {}), 'permissions.dispatch: core.noop');
    expect((await core.jobs.list({})).jobs).toEqual([]);

    await core.extensions.uninstall('escaper');
    await installEscaper({ dispatch: ['hello:*', 'core.noop'] });
    expect(await dispatch('hello:countdown', { from: 1 })).toMatchObject({ ok: true });
    expect(await dispatch('core.noop', {})).toMatchObject({ ok: true });
    expectDenied(await dispatch('core.count', { to: 1 }), 'permissions.dispatch: core.count');
  });

  it("refuses to read, list or control another owner's jobs, unless permissions.manage_jobs names their type", async () => {
    await core.extensions.install(builtExtension('hello'));
    await installEscaper();
    // A person's long countdown, and a job escaper dispatched itself.
    const theirs = await core.jobs.dispatch('hello:countdown', { from: 1_000_000, delay_ms: 1000 }, { dispatchedBy: 'client' });
    const mine = ((await dispatch('escaper:noop', {})) as { result: { job_id: string } }).result.job_id;

    expectDenied(await asExtension('query:jobs.get_status.v1', { job_id: theirs.jobId }), 'permissions.manage_jobs: hello:countdown');
    expectDenied(await asExtension('query:jobs.logs.v1', { job_id: theirs.jobId }), 'permissions.manage_jobs: hello:countdown');
    for (const control of ['cancel', 'pause', 'resume', 'retry']) {
      expectDenied(await asExtension(`action:jobs.${control}.input.v1`, { job_id: theirs.jobId }), 'permissions.manage_jobs: hello:countdown');
    }
    const listed = await asExtension('query:jobs.list.v1', {});
    expect(listed.ok && listed.result.jobs.map((j: { job_id: string }) => j.job_id)).toEqual([mine]);
    const job = await core.jobs.get(theirs.jobId);
    expect(job.requested).toBeNull();
    expect(['queued', 'running']).toContain(job.status);

    await core.extensions.uninstall('escaper');
    await installEscaper({ manage_jobs: ['hello:countdown'] });
    expect(await asExtension('query:jobs.get_status.v1', { job_id: theirs.jobId })).toMatchObject({ ok: true });
    expect(await asExtension('action:jobs.cancel.input.v1', { job_id: theirs.jobId })).toMatchObject({ ok: true });
    expect((await finished(theirs.jobId)).status).toBe('cancelled');
  });
});

describe('paths are checked against permissions.filesystem, whoever touches them', () => {
  it('refuses files.copy of a file outside the grants, to a directory outside them, dispatched or called', async () => {
    await installEscaper({ dispatch: ['files.copy'], call: ['action:files.'] });
    const secret = join(outside, 'secret.txt');
    expectDenied(await dispatch('files.copy', { sources: [secret], destination: outDir }), /permissions\.filesystem: read .*outside/);
    expectDenied(await asExtension('action:files.copy.input.v1', { sources: [secret], destination: outDir }), /permissions\.filesystem: read .*outside/);
    // Whether a path exists is not told outside the grants either.
    expectDenied(await asExtension('action:files.copy.input.v1', { sources: [join(outside, 'nothing-here')], destination: outDir }), /permissions\.filesystem: read/);
    expect((await core.jobs.list({})).jobs).toEqual([]);
    expect(existsSync(join(outDir, 'secret.txt'))).toBe(false);
  });

  it('copies inside its grants, and refuses a write grant used for reading or a read grant for writing', async () => {
    await installEscaper({
      dispatch: ['files.copy'],
      filesystem: [
        { path: inDir, access: 'read' },
        { path: outDir, access: 'write' },
      ],
    });
    expectDenied(await dispatch('files.copy', { sources: [join(inDir, 'doc.txt')], destination: outside }), /permissions\.filesystem: write .*outside/);
    expectDenied(await dispatch('files.copy', { sources: [join(outDir)], destination: inDir }), /permissions\.filesystem: read .*out/);
    // `..` is resolved before the comparison.
    expectDenied(await dispatch('files.copy', { sources: [join(inDir, '..', 'outside', 'secret.txt')], destination: outDir }), /permissions\.filesystem: read .*outside/);
    const ok = await dispatch('files.copy', { sources: [join(inDir, 'doc.txt')], destination: outDir });
    expect(ok, JSON.stringify(ok)).toMatchObject({ ok: true });
    expect((await finished((ok as { result: { job_id: string } }).result.job_id)).status).toBe('completed');
    expect(readFileSync(join(outDir, 'doc.txt'), 'utf8')).toBe('granted\n');
  });

  it('resolves symlinks: a link inside a granted directory that points out of it is outside', async () => {
    await installEscaper({
      dispatch: ['files.copy'],
      filesystem: [
        { path: inDir, access: 'read' },
        { path: outDir, access: 'write' },
      ],
    });
    symlinkSync(join(outside, 'secret.txt'), join(inDir, 'link.txt'));
    symlinkSync(outside, join(outDir, 'escape'));
    // A dangling link: writing through it would create the file where it points.
    symlinkSync(join(outside, 'created-through-link.txt'), join(outDir, 'dangling.txt'));
    expectDenied(await dispatch('files.copy', { sources: [join(inDir, 'link.txt')], destination: outDir }), /permissions\.filesystem: read .*outside/);
    expectDenied(await dispatch('files.copy', { sources: [join(inDir, 'doc.txt')], destination: join(outDir, 'escape') }), /permissions\.filesystem: write .*outside/);
    expectDenied(await dispatch('files.copy', { sources: [join(inDir, 'doc.txt')], destination: join(outDir, 'escape', 'new.txt') }), /permissions\.filesystem: write .*outside/);
    expectDenied(await dispatch('files.copy', { sources: [join(inDir, 'doc.txt')], destination: join(outDir, 'dangling.txt') }), /permissions\.filesystem: write .*outside/);
    expect(existsSync(join(outside, 'doc.txt'))).toBe(false);
    expect(existsSync(join(outside, 'created-through-link.txt'))).toBe(false);
  });

  it("refuses core.count's ack_file and files.hash_tree's manifest_path outside the write grants", async () => {
    await installEscaper({ dispatch: ['core.count', 'files.hash_tree'], filesystem: [{ path: inDir, access: 'read' }] });
    expectDenied(await dispatch('core.count', { to: 1, ack_file: join(outside, 'ack') }), /permissions\.filesystem: write .*outside/);
    expectDenied(await dispatch('files.hash_tree', { root: inDir, manifest_path: join(outside, 'sums') }), /permissions\.filesystem: write .*outside/);
    expectDenied(await dispatch('files.hash_tree', { root: outside }), /permissions\.filesystem: read .*outside/);
    expect(existsSync(join(outside, 'ack'))).toBe(false);
    expect(existsSync(join(outside, 'sums'))).toBe(false);
    const hashed = await dispatch('files.hash_tree', { root: inDir });
    expect((await finished((hashed as { result: { job_id: string } }).result.job_id)).status).toBe('completed');
  });

  it('checks a job again before it runs again, with the identity of whoever dispatched it', async () => {
    const sub = join(outDir, 'sub');
    mkdirSync(sub);
    await installEscaper({ dispatch: ['core.count'], filesystem: [{ path: outDir, access: 'write' }] });
    const r = await dispatch('core.count', { to: 1_000_000, delay_ms: 60_000, ack_file: join(sub, 'ack') });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    const jobId = (r as { result: { job_id: string } }).result.job_id;
    expect((await core.jobs.get(jobId)).dispatchedBy).toBe('extension:escaper');
    await waitFor(() => existsSync(join(sub, 'ack')), 'the first acknowledged value');
    await core.jobs.pause(jobId);
    await waitFor(async () => (await core.jobs.get(jobId)).status === 'paused', 'the job to pause');
    // Swapped while paused: the same path now leads out of the grant.
    rmSync(sub, { recursive: true });
    symlinkSync(outside, sub);
    // Across a restart too: the dispatcher is read from the job store.
    await core.close();
    core = await openCore();
    await core.jobs.resume(jobId);
    const job = await finished(jobId);
    expect(job.status).toBe('failed');
    expect(job.lastError).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(job.lastError!.message).toContain('permissions.filesystem');
    expect(existsSync(join(outside, 'ack'))).toBe(false);
  });

  it('refuses a location and a Maildir account outside the read grants, recording nothing', async () => {
    await installEscaper({ call: ['action:locations.', 'query:locations.', 'action:mail.', 'query:mail.'], libraries: ['*'] });
    expectDenied(await asExtension('action:locations.add.input.v1', { path: outside }), /permissions\.filesystem: read .*outside/);
    expect(await asExtension('query:locations.list.v1', {})).toMatchObject({ ok: true, result: { locations: [] } });
    expectDenied(await asExtension('action:mail.add_account.input.v1', { name: 'stolen', kind: 'maildir', path: outside }), /permissions\.filesystem: read .*outside/);
    expect(await asExtension('query:mail.list_accounts.v1', {})).toMatchObject({ ok: true, result: { accounts: [] } });
    expect((await core.jobs.list({})).jobs).toEqual([]);
  });

  it("refuses indexing a person's location for an extension without read access to it", async () => {
    const added = (await core.execute('action:locations.add.input.v1', { path: inDir }, { caller: { kind: 'client', chain: [] } })) as { location: { id: string; library_id: string }; job_id: string };
    await finished(added.job_id);
    await installEscaper({ dispatch: ['locations.index'], libraries: ['*'] });
    expectDenied(await dispatch('locations.index', { library_id: added.location.library_id, location_id: added.location.id }), /permissions\.filesystem: read .*in/);
  });

  it('refuses installing an extension from a package directory outside the read grants', async () => {
    await installEscaper({ call: ['action:extensions.'] });
    writePackage('smuggled', {});
    const smuggled = join(dir, 'pkgs', 'smuggled');
    expectDenied(await asExtension('action:extensions.install.input.v1', { path: smuggled, dry_run: true }), /permissions\.filesystem: read .*smuggled/);
    expectDenied(await asExtension('action:extensions.install.input.v1', { path: smuggled }), /permissions\.filesystem: read .*smuggled/);
    expectDenied(await asExtension('action:extensions.reload.input.v1', { id: 'escaper', from: smuggled }), /permissions\.filesystem: read .*smuggled/);
    expect(core.extensions.list().map((e) => e.id)).toEqual(['escaper']);
  });

  it("refuses a dispatched job's library_id outside permissions.libraries", async () => {
    const added = (await core.execute('action:locations.add.input.v1', { path: inDir }, { caller: { kind: 'client', chain: [] } })) as { location: { id: string; library_id: string }; job_id: string };
    await finished(added.job_id);
    await installEscaper({ dispatch: ['locations.index'], libraries: ['some-other-library'], filesystem: [{ path: inDir, access: 'read' }] });
    expectDenied(await dispatch('locations.index', { library_id: added.location.library_id, location_id: added.location.id }), `permissions.libraries: ${added.location.library_id}`);
  });

  it('leaves people (clients) and core unrestricted', async () => {
    const r = (await core.execute('action:files.copy.input.v1', { sources: [join(outside, 'secret.txt')], destination: outDir }, { caller: { kind: 'client', chain: [] } })) as { job_id: string };
    expect((await finished(r.job_id)).status).toBe('completed');
    expect(existsSync(join(outDir, 'secret.txt'))).toBe(true);
  });
});

describe('reserved ids', () => {
  it('refuses core and core domains as extension ids at install and dry run; core keeps all its job types and methods', async () => {
    for (const id of ['core', 'files', 'jobs', 'vdfs', 'mail', 'extensions', 'locations', 'library']) {
      await expect(core.extensions.install(writePackage(id, {})), id).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining(`extension id '${id}' is reserved`) });
      await expect(core.execute('action:extensions.install.input.v1', { path: join(dir, 'pkgs', id), dry_run: true }), id).rejects.toMatchObject({ code: 'EXTENSION_INVALID' });
    }
    expect(core.extensions.list()).toEqual([]);
    for (const type of CORE_JOB_TYPES) expect(core.jobs.types.get(type)?.owner, type).toBe('core');
    await expect(core.execute('query:core:status.v1', {})).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
  });

  it('never loads an extension installed as `core` before ids were checked, and its uninstall leaves core whole', async () => {
    // What an older daemon left in the data directory.
    await core.close();
    const pkg = writePackage('core', {});
    const target = join(dir, 'data', 'extensions', 'core', '1.0.0');
    mkdirSync(target, { recursive: true });
    for (const f of ['manifest.json', 'core.wasm']) writeFileSync(join(target, f), readFileSync(join(pkg, f)));
    const sha256 = createHash('sha256').update(wasm).digest('hex');
    writeFileSync(
      join(dir, 'data', 'extensions', 'installed.json'),
      JSON.stringify({ format: 1, extensions: [{ id: 'core', version: '1.0.0', enabled: true, installed_at: new Date().toISOString(), path: 'core/1.0.0', sha256 }] }),
    );
    core = await openCore();
    const info = await core.extensions.info('core');
    expect(info.state).toBe('failed');
    expect(info.error).toMatchObject({ code: 'EXTENSION_INVALID' });
    for (const type of CORE_JOB_TYPES) expect(core.jobs.types.get(type)?.owner, type).toBe('core');
    expect(core.executor.list().filter((op) => op.owner === 'core').every((op) => core.coreRegistry.get(op.method) !== undefined)).toBe(true);
    await core.extensions.uninstall('core');
    for (const type of CORE_JOB_TYPES) expect(core.jobs.types.get(type)?.owner, type).toBe('core');
    const copied = (await core.execute('action:jobs.dispatch.input.v1', { job_type: 'core.noop' })) as { job_id: string };
    expect((await finished(copied.job_id)).status).toBe('completed');
  });

  it("the job-type registry never replaces or removes core's types for an owner named `core`", () => {
    const registry = new JobTypeRegistry();
    const noop = { type: 'core.noop', version: 1, resumable: true, description: '', paramsSchema: true, run: () => Promise.resolve({ status: 'completed' as const }) };
    registry.register('core', noop);
    expect(() => registry.replaceOwner('core', [])).toThrow(/cannot be replaced/);
    expect(registry.unregisterOwner('core')).toBe(0);
    expect(registry.get('core.noop')?.owner).toBe('core');
  });
});

describe('manifest', () => {
  it('refuses dispatch_jobs: true, saying what to write instead', async () => {
    await expect(core.extensions.install(writePackage('legacy', { dispatch_jobs: true }))).rejects.toMatchObject({
      code: 'EXTENSION_INVALID',
      message: expect.stringContaining('list the job types it may dispatch in permissions.dispatch'),
    });
    await expect(core.extensions.install(writePackage('relative', { filesystem: [{ path: 'data', access: 'read' }] }))).rejects.toMatchObject({
      code: 'EXTENSION_INVALID',
      message: expect.stringContaining("permissions.filesystem path 'data' must be absolute"),
    });
    expect(core.extensions.list()).toEqual([]);
  });
});
