/**
 * Library context for extensions (docs/extension-abi.md, "Library context"), against a real core
 * and a real module (test/fixtures/wat/library-context.wat, extension `libctx`), which registers
 * with the design's payloads (`method`, `job_name`), a `.v2` beside its `.v1` and a dotted name:
 * a library-scoped operation gets the caller's library (the default one when none is named),
 * vdfs calls inside it default to it, a job it dispatches keeps it across a pause and resume, and
 * naming a library for an operation that is not library-scoped is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { rejectionOf as errorOf } from '../helpers/errors.js';
import { wasmPackage } from '../helpers/packages.js';
import { waitFor } from '../helpers/wait.js';
import { compileWat } from '../helpers/wat.js';

let dir: string;
let core: Core;
let defaultLibrary: string;
let second: string;
const client = { kind: 'client', chain: [] } as const;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sd-libctx-'));
  core = await Core.create(loadOptions({ overrides: { dataDir: dir, extensions: { autoload: false } }, env: {} }), { logger: silentLogger() });
  defaultLibrary = core.libraries.resolve(null);
  second = core.libraries.create('Second').id;
  const pkg = wasmPackage(join(dir, 'pkg'), 'libctx', await compileWat('library-context'), {
    permissions: { call: ['action:vdfs.create_entry.'], libraries: ['*'] },
  });
  await core.extensions.install(pkg);
});

afterAll(async () => {
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

const contextOf = (out: unknown) => (out as { ok: true; result: { library_id: string | null; method: string | null; job_id: string | null } }).result;

describe('registration with the design payloads', () => {
  it('derives names from method and job_name, keeps .v2 beside .v1, accepts a dotted name', async () => {
    const info = await core.extensions.info('libctx');
    expect(info.operations.map((o) => [o.method, o.library_scoped]).sort()).toEqual([
      ['action:libctx:entries.create.input.v1', true],
      ['action:libctx:plain.input.v1', false],
      ['action:libctx:scan.start.input.v1', true],
      ['query:libctx:where.v1', true],
      ['query:libctx:where.v2', true],
    ]);
    expect(info.job_types).toEqual([expect.objectContaining({ job_type: 'libctx:scan', export_fn: 'scan', resumable: true })]);
  });
});

describe('a library-scoped operation', () => {
  it('gets the library the caller names, and the default library when it names none', async () => {
    const named = contextOf(await core.execute('query:libctx:where.v1', {}, { caller: client, libraryId: second }));
    expect(named).toEqual({ library_id: second, method: 'query:libctx:where.v1', job_id: null });
    const v2 = contextOf(await core.execute('query:libctx:where.v2', {}, { caller: client, libraryId: second }));
    expect(v2).toEqual({ library_id: second, method: 'query:libctx:where.v2', job_id: null });
    expect(contextOf(await core.execute('query:libctx:where.v1', {}, { caller: client })).library_id).toBe(defaultLibrary);
  });

  it('is refused for a library that does not exist', async () => {
    const err = await errorOf(core.execute('query:libctx:where.v1', {}, { caller: client, libraryId: 'no-such-library' }));
    expect(err.code).toBe('NOT_FOUND');
  });

  it('makes vdfs calls without a library_id land in its library', async () => {
    const out = (await core.execute('action:libctx:entries.create.input.v1', { name: 'r.pdf', path: 'receipts/r.pdf', entry_type: 'FinancialDocument' }, { caller: client, libraryId: second })) as {
      ok: boolean;
      result: { id: string; library_id: string };
    };
    expect(out.ok).toBe(true);
    expect(out.result.library_id).toBe(second);
    const inSecond = (await core.execute('query:vdfs.list_entries.v1', {}, { caller: client, libraryId: second })) as { entries: Array<{ id: string }> };
    expect(inSecond.entries.map((e) => e.id)).toContain(out.result.id);
    const inDefault = (await core.execute('query:vdfs.list_entries.v1', {}, { caller: client })) as { entries: Array<{ id: string }> };
    expect(inDefault.entries.map((e) => e.id)).not.toContain(out.result.id);
  });
});

describe('a job dispatched from a library-scoped operation', () => {
  it('keeps the library on every run, across a pause and resume', async () => {
    const started = (await core.execute('action:libctx:scan.start.input.v1', {}, { caller: client, libraryId: second })) as { ok: boolean; result: { job_id: string } };
    expect(started.ok).toBe(true);
    const jobId = started.result.job_id;
    expect((await core.jobs.get(jobId)).libraryId).toBe(second);
    await waitFor(async () => (await core.jobs.get(jobId)).progress.fraction === 0.5, 'the scan to report progress');
    await core.jobs.pause(jobId);
    await waitFor(async () => (await core.jobs.get(jobId)).status === 'paused', 'the scan to pause');
    await core.jobs.resume(jobId);
    await waitFor(async () => (await core.jobs.get(jobId)).status === 'completed', 'the scan to complete');
    const job = await core.jobs.get(jobId);
    expect(job.state).toEqual({ paused: true });
    expect(contextOf(job.output)).toEqual({ library_id: second, method: null, job_id: jobId });
  });

  it('refuses a library that does not exist at dispatch', async () => {
    const err = await errorOf(core.execute('action:jobs.dispatch.input.v1', { job_type: 'libctx:scan', params: {} }, { caller: client, libraryId: 'no-such-library' }));
    expect(err.code).toBe('NOT_FOUND');
  });
});

describe('an operation that is not library-scoped', () => {
  it('runs without a library, and refuses a call that names one instead of dropping it', async () => {
    expect(contextOf(await core.execute('action:libctx:plain.input.v1', {}, { caller: client })).library_id).toBeNull();
    const err = await errorOf(core.execute('action:libctx:plain.input.v1', {}, { caller: client, libraryId: second }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/action:libctx:plain\.input\.v1 does not take a library/);
  });
});
