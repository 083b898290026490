/**
 * Extension packages, the installed-extensions store, permissions and call-chain rules, with real
 * package directories on disk.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultOptions } from '../../src/config/index.js';
import { effectiveLimits, readPackage, type ExtensionManifest } from '../../src/extensions/manifest.js';
import { checkCallChain, checkCallPermission } from '../../src/extensions/permissions.js';
import { JsonFileExtensionStore } from '../../src/extensions/store.js';
import { toJobOutcome, toProgressReport } from '../../src/extensions/wasm-job.js';
import { rejectionOf } from '../helpers/errors.js';

// The smallest valid module: magic and version. Validation here does not instantiate it.
const WASM = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const host = defaultOptions('/nowhere').extensions;

function writePackage(dir: string, overrides: Record<string, unknown> = {}, wasm: Buffer = WASM): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'demo.wasm'), wasm);
  const manifest = {
    id: 'demo',
    name: 'Demo',
    version: '1.2.3',
    description: 'demo',
    author: 'tests',
    module: 'demo.wasm',
    sha256: createHash('sha256').update(wasm).digest('hex'),
    abi_version: 1,
    permissions: { call: ['query:core.'], dispatch_jobs: false, libraries: [], network: [] },
    limits: { memory_mb: 16, instances: 1 },
    config_schema: { type: 'object', properties: { greeting: { type: 'string', default: 'hi' } } },
    config: {},
    ...overrides,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

describe('extension packages', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sd-extpkg-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a valid package, fills defaults and applies config defaults', async () => {
    const pkg = await readPackage(writePackage(join(dir, 'p')), host);
    expect(pkg.manifest.id).toBe('demo');
    expect(pkg.manifest.config).toEqual({ greeting: 'hi' });
    expect(Buffer.from(pkg.wasm).equals(WASM)).toBe(true);
    const { limits } = effectiveLimits(pkg.manifest, host, true);
    expect(limits).toEqual({
      memory_mb: 16,
      instances: 1,
      call_timeout_ms: host.defaults.callTimeoutMs,
      max_input_bytes: host.defaults.maxInputBytes,
      max_output_bytes: host.defaults.maxOutputBytes,
      concurrent_jobs: host.defaults.concurrentJobs,
      requests_per_minute: host.defaults.requestsPerMinute,
      http_timeout_ms: host.defaults.httpTimeoutMs,
      http_max_response_bytes: host.defaults.httpMaxResponseBytes,
      max_operations: host.defaults.maxOperations,
      max_job_types: host.defaults.maxJobTypes,
      max_schema_bytes: host.defaults.maxSchemaBytes,
      max_registration_bytes: host.defaults.maxRegistrationBytes,
      job_progress_timeout_ms: host.defaults.jobProgressTimeoutMs,
      max_state_bytes: host.defaults.maxStateBytes,
    });
    // The manifest path itself is accepted too.
    await expect(readPackage(join(dir, 'p', 'manifest.json'), host)).resolves.toMatchObject({ manifest: { id: 'demo' } });
  });

  it('fills permissions when the manifest has none (deny by default)', async () => {
    const p = writePackage(join(dir, 'p'));
    const m = JSON.parse(readFileSync(join(p, 'manifest.json'), 'utf8'));
    delete m.permissions;
    delete m.limits;
    writeFileSync(join(p, 'manifest.json'), JSON.stringify(m));
    const pkg = await readPackage(p, host);
    expect(pkg.manifest.permissions).toEqual({ call: [], dispatch: [], manage_jobs: [], filesystem: [], libraries: [], network: [] });
  });

  it.each([
    [{ id: 'Bad Id' }, 'EXTENSION_INVALID', /field 'id'/],
    [{ version: 'one' }, 'EXTENSION_INVALID', /field 'version'/],
    [{ abi_version: 2 }, 'ABI_UNSUPPORTED', /ABI version 2; this host supports ABI version 1/],
    [{ sha256: 'a'.repeat(64) }, 'EXTENSION_INVALID', /SHA-256 of 'demo.wasm' is [0-9a-f]{64} but the manifest says a{64}/],
    [{ module: 'missing.wasm' }, 'EXTENSION_INVALID', /module 'missing.wasm' named by the manifest is missing/],
    [{ limits: { memory_mb: 99999 } }, 'EXTENSION_INVALID', /limits.memory_mb = 99999, above this host's ceiling of 1024/],
    [{ config: { greeting: 5 } }, 'EXTENSION_INVALID', /config of extension 'demo'.*field 'greeting'/],
    [{ permissions: { call: ['core.'] } }, 'EXTENSION_INVALID', /must start with 'query:' or 'action:'/],
    [{ surprise: true }, 'EXTENSION_INVALID', /surprise/],
  ])('refuses %j with %s', async (overrides, code, message) => {
    const p = writePackage(join(dir, 'p'), overrides);
    const err = await rejectionOf(readPackage(p, host));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(err.message).toContain(p);
  });

  it('refuses a missing directory, a directory without manifest and a manifest that is not JSON', async () => {
    await expect(readPackage(join(dir, 'nope'), host)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    mkdirSync(join(dir, 'empty'));
    await expect(readPackage(join(dir, 'empty'), host)).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining('no manifest.json') });
    const p = writePackage(join(dir, 'p'));
    writeFileSync(join(p, 'manifest.json'), '{ nope');
    await expect(readPackage(p, host)).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining('not valid JSON') });
  });

  it('clamps limits above a lowered ceiling when not strict', () => {
    const manifest = { id: 'demo', limits: { instances: 8 } } as Pick<ExtensionManifest, 'id' | 'limits'>;
    const lowered = { ...host, ceilings: { ...host.ceilings, instances: 2 } };
    expect(() => effectiveLimits(manifest, lowered, true)).toThrow(/ceiling of 2/);
    const { limits, clamped } = effectiveLimits(manifest, lowered, false);
    expect(limits.instances).toBe(2);
    expect(clamped).toEqual(['limits.instances 8 → 2']);
  });
});

describe('installed-extensions store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sd-extstore-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('persists records atomically across instances', async () => {
    const file = join(dir, 'extensions', 'installed.json');
    const a = new JsonFileExtensionStore(file);
    const rec = { id: 'hello', version: '0.1.0', enabled: true, installed_at: new Date().toISOString(), path: 'hello/0.1.0', sha256: 'ab'.repeat(32) };
    await a.put(rec);
    await a.put({ ...rec, id: 'other', enabled: false });
    const b = new JsonFileExtensionStore(file);
    expect((await b.list()).map((r) => [r.id, r.enabled])).toEqual([
      ['hello', true],
      ['other', false],
    ]);
    expect(await b.remove('hello')).toBe(true);
    expect(await b.remove('hello')).toBe(false);
    expect(await new JsonFileExtensionStore(file).get('hello')).toBeUndefined();
    writeFileSync(file, 'garbage');
    expect(() => new JsonFileExtensionStore(file)).toThrow(/not valid JSON/);
  });
});

describe('permissions and call chains', () => {
  const perms = { call: ['query:core.', 'query:hello:'], dispatch: [], manage_jobs: [], filesystem: [], libraries: ['lib-1'], network: [] };

  it('allows covered prefixes and the extension’s own methods, denies the rest naming the missing permission', () => {
    expect(() => checkCallPermission('demo', perms, 'query:core.status.v1', {})).not.toThrow();
    expect(() => checkCallPermission('demo', perms, 'query:hello:greet.v1', {})).not.toThrow();
    expect(() => checkCallPermission('demo', perms, 'action:demo:own.input.v1', {})).not.toThrow();
    let err = (() => {
      try {
        checkCallPermission('demo', perms, 'action:files.copy.input.v1', {});
      } catch (e) {
        return e as { code: string; message: string };
      }
    })();
    expect(err).toMatchObject({ code: 'PERMISSION_DENIED', message: "extension 'demo' may not call 'action:files.copy.input.v1': add a permissions.call prefix such as 'action:files.'" });
    expect(() => checkCallPermission('demo', perms, 'action:hello:wave.input.v1', {})).toThrow(/such as 'action:hello:'/);
    // The job system's methods are open: their handlers check each job type (checkDispatchPermission).
    expect(() => checkCallPermission('demo', perms, 'action:jobs.dispatch.input.v1', {})).not.toThrow();
    expect(() => checkCallPermission('demo', perms, 'query:core.status.v1', { library_id: 'lib-2' })).toThrow(/may not use library 'lib-2'/);
    expect(() => checkCallPermission('demo', perms, 'query:core.status.v1', { library_id: 'lib-1' })).not.toThrow();
    err = (() => {
      try {
        checkCallPermission('demo', { ...perms, call: [] }, 'query:core.status.v1', {});
      } catch (e) {
        return e as { code: string; message: string };
      }
    })();
    expect(err?.message).toBe("extension 'demo' may not call 'query:core.status.v1': add a permissions.call prefix such as 'query:core.'");
  });

  it('refuses cycles and chains past the depth limit', () => {
    expect(() => checkCallChain('b', 'query:b:x.v1', ['a'], 8)).not.toThrow();
    expect(() => checkCallChain('a', 'query:a:x.v1', ['a', 'b'], 8)).toThrow(expect.objectContaining({ code: 'CALL_CYCLE', message: expect.stringContaining('a → b → a') }));
    expect(() => checkCallChain('i', 'query:i:x.v1', ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 8)).toThrow(expect.objectContaining({ code: 'CALL_DEPTH_EXCEEDED' }));
    expect(() => checkCallChain('h', 'query:h:x.v1', ['a', 'b', 'c', 'd', 'e', 'f', 'g'], 8)).not.toThrow();
  });
});

describe('WASM job wrapper mappings', () => {
  it('maps the guest’s answers to job outcomes', () => {
    expect(toJobOutcome('x', 'x:j', { status: 'completed', output: { n: 1 } })).toEqual({ status: 'completed', output: { n: 1 } });
    expect(toJobOutcome('x', 'x:j', { status: 'interrupted', state: { i: 3 } })).toEqual({ status: 'interrupted', state: { i: 3 } });
    expect(toJobOutcome('x', 'x:j', { status: 'failed', error: { code: 'E', message: 'm' }, retryable: false })).toEqual({
      status: 'failed',
      error: { code: 'E', message: 'm' },
      retryable: false,
    });
    expect(toJobOutcome('x', 'x:j', { nope: 1 })).toMatchObject({ status: 'failed', error: { code: 'EXTENSION_BAD_RESULT' }, retryable: false });
    expect(toProgressReport({ fraction: 1.5, message: 'm', state: { a: 1 }, items_done: 2, items_total: 'x', warning: 'w' })).toEqual({
      fraction: 1,
      message: 'm',
      state: { a: 1 },
      itemsDone: 2,
      warning: 'w',
    });
  });
});
