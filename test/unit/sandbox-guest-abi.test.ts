/**
 * What a guest can hand the host through the ABI, and how the host holds it to the contract
 * (docs/extension-abi.md): imports checked with their signatures at load, every pointer and
 * length checked, registrations bounded and counted as they arrive, and error codes a guest
 * cannot use to speak for the daemon. Each case is a hostile .wat fixture in test/fixtures/wat.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GUEST_ERROR_CODES, HOST_IMPORT_SIGNATURES } from '../../src/extensions/sandbox/index.js';
import { functionImports } from '../../src/extensions/sandbox/wasm-binary.js';
import { loadFixture, recordingBridge } from '../helpers/sandbox.js';
import { rejectionOf } from '../helpers/errors.js';
import { compileWat } from '../helpers/wat.js';

describe('sandbox: imports are checked with their signatures at load', () => {
  it('import-bad-signature: loading fails with EXTENSION_INVALID naming each import and both signatures', async () => {
    const err = await rejectionOf(loadFixture('import-bad-signature'));
    expect(err.code).toBe('EXTENSION_INVALID');
    expect(err.details).toMatchObject({ extension: 'import-bad-signature', export: '(imports)' });
    expect(err.message).toContain('imports spacedrive.sd_call with signature (i32, i32, i32, i32) -> i32, but the host provides (i32, i32, i32, i32) -> i64');
    expect(err.message).toContain('imports spacedrive.sd_log with signature (i64, i32, i32) -> (), but the host provides (i32, i32, i32) -> ()');
  });

  it("docs/extension-abi.md's table of host imports says what the host's table says", () => {
    const whole = readFileSync(new URL('../../docs/extension-abi.md', import.meta.url), 'utf8');
    const doc = whole.slice(whole.indexOf('## Host imports'), whole.indexOf('### Host methods'));
    const documented: Record<string, { params: string[]; results: string[] }> = {};
    // Rows like | `sd_log` | `(level: i32, ptr: i32, len: i32) -> ()` | …; `(a, b: i32)` gives both a and b the type i32.
    for (const [, name, params, result] of doc.matchAll(/^\| `(sd_\w+)` \| `\(([^)]*)\) -> (\(\)|\w+)` \|/gm)) {
      const types: string[] = [];
      let pending = 0;
      for (const param of params!.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
        const type = param.split(':')[1]?.trim();
        if (type === undefined) {
          pending++;
          continue;
        }
        for (; pending >= 0; pending--) types.push(type);
        pending = 0;
      }
      documented[name!] = { params: types, results: result === '()' ? [] : [result!] };
    }
    expect(documented).toEqual(HOST_IMPORT_SIGNATURES);
  });

  it('reads the signature of every import of a well-behaved module as the ABI table has it', async () => {
    const imports = functionImports(await compileWat('echo'));
    expect(imports.map((i) => i.name)).toEqual(Object.keys(HOST_IMPORT_SIGNATURES));
    for (const imp of imports) expect(imp.signature).toEqual(HOST_IMPORT_SIGNATURES[imp.name]);
  });
});

describe('sandbox: every pointer and length a guest passes is checked', () => {
  const cases: { exportFn: string; cause: RegExp }[] = [
    { exportFn: 'log_huge', cause: /sd_log message: bytes 1536\.\.4294968831 lie outside linear memory/ },
    { exportFn: 'info_bad_payload', cause: /sd_call payload: bytes 4294967040\.\.4294967056 lie outside linear memory/ },
    { exportFn: 'config_bad_payload', cause: /sd_call payload: 4294967295 bytes, over the limit of 16777216 bytes/ },
    { exportFn: 'method_too_long', cause: /sd_call method: 4096 bytes, over the limit of 1024 bytes/ },
    { exportFn: 'error_huge', cause: /sd_error message: 65537 bytes, over the limit of 65536 bytes/ },
  ];
  for (const c of cases) {
    it(`oob-import-args: ${c.exportFn} fails with EXTENSION_BAD_RESULT`, async () => {
      const s = await loadFixture('oob-import-args', { limits: { instances: 1 } });
      try {
        const err = await rejectionOf(s.call(c.exportFn, {}, { chain: [] }));
        expect(err.code).toBe('EXTENSION_BAD_RESULT');
        expect(err.details).toMatchObject({ extension: 'oob-import-args', export: c.exportFn });
        expect(err.details?.cause).toMatch(c.cause);
      } finally {
        await s.close();
      }
    });
  }
});

describe('sandbox: registrations are bounded', () => {
  it('register-flood: stopped at the first operation past max_operations, before plugin_init goes on', async () => {
    const bridge = recordingBridge();
    const err = await rejectionOf(loadFixture('register-flood', { bridge, limits: { instances: 1 } }));
    expect(err.code).toBe('REGISTRATION_REJECTED');
    expect(err.details).toMatchObject({ extension: 'register-flood', export: 'plugin_init', limit: 'max_operations', value: 1000 });
    expect(err.message).toMatch(/more than 1000 operations registered \(limits\.max_operations\)/);
    // The guest was stopped at that registration: it never reached the line after its loop.
    expect(bridge.logs.map((l) => l.message)).not.toContain('registered them all');
  });

  it('register-flood: job types have their own limit', async () => {
    const err = await rejectionOf(loadFixture('register-flood', { limits: { instances: 1, registrations: { maxJobTypes: 5 } } }));
    expect(err.code).toBe('REGISTRATION_REJECTED');
    expect(err.details).toMatchObject({ limit: 'max_job_types', value: 5 });
    expect(err.message).toMatch(/more than 5 job types registered/);
  });

  it('register-flood: all registrations together are bounded in bytes', async () => {
    const err = await rejectionOf(loadFixture('register-flood', { limits: { instances: 1, registrations: { maxRegistrationBytes: 1000 } } }));
    expect(err.code).toBe('REGISTRATION_REJECTED');
    expect(err.details).toMatchObject({ limit: 'max_registration_bytes', value: 1000 });
  });

  it('register-oversized: a description over 2000 characters fails the load', async () => {
    const err = await rejectionOf(loadFixture('register-oversized', { limits: { instances: 1 } }));
    expect(err.code).toBe('REGISTRATION_REJECTED');
    expect(err.message).toMatch(/'long_description': description is 3000 characters, over the limit of 2000/);
  });

  it('register-oversized: a schema over max_schema_bytes fails the load', async () => {
    const err = await rejectionOf(loadFixture('register-oversized', { limits: { instances: 1, registrations: { maxSchemaBytes: 100 } } }));
    expect(err.code).toBe('REGISTRATION_REJECTED');
    expect(err.message).toMatch(/'with_schema': input_schema is over the limit of 100 bytes of JSON \(limits\.max_schema_bytes\)/);
  });

  it('register-bad-json: a registration payload that is not JSON fails the load', async () => {
    const err = await rejectionOf(loadFixture('register-bad-json', { limits: { instances: 1 } }));
    expect(err.code).toBe('REGISTRATION_REJECTED');
    expect(err.message).toMatch(/extension\.register_operation: the payload is not valid JSON/);
  });
});

describe("sandbox: a guest's error codes", () => {
  const foreign = ['SHUTTING_DOWN', 'INTERNAL', 'CONNECTION_CLOSED', 'DAEMON_NOT_RUNNING', 'PERMISSION_DENIED', 'OPERATION_FAILED', 'MY_OWN_CODE'];
  for (const code of foreign) {
    it(`guest-codes: ${code} from a guest goes out as EXTENSION_ERROR, the guest's code in details.guest_code`, async () => {
      const s = await loadFixture('guest-codes', { limits: { instances: 1 } });
      try {
        const err = await rejectionOf(s.call('fail_as', { code, message: 'the daemon is going away', details: { n: 1 } }, { chain: [] }));
        expect(err.code).toBe('EXTENSION_ERROR');
        // The export is named in details, not in a message meant for whoever called the method.
        expect(err.message).toBe("extension 'guest-codes': the daemon is going away");
        expect(err.details).toMatchObject({ extension: 'guest-codes', export: 'fail_as', guest_code: code, guest_details: { n: 1 } });
      } finally {
        await s.close();
      }
    });
  }

  it('guest-codes: codes about the request (INVALID_INPUT, NOT_FOUND, ALREADY_EXISTS) reach the caller as they are', async () => {
    expect([...GUEST_ERROR_CODES].sort()).toEqual(['ALREADY_EXISTS', 'INVALID_INPUT', 'NOT_FOUND']);
    const s = await loadFixture('guest-codes', { limits: { instances: 1 } });
    try {
      for (const code of GUEST_ERROR_CODES) {
        const err = await rejectionOf(s.call('fail_as', { code, message: 'no such receipt' }, { chain: [] }));
        expect(err.code).toBe(code);
        expect(err.details?.guest_code).toBeUndefined();
      }
      const plain = await rejectionOf(s.call('fail_as', 'plain words', { chain: [] }));
      expect(plain.code).toBe('EXTENSION_ERROR');
      expect(plain.details?.guest_code).toBeUndefined();
    } finally {
      await s.close();
    }
  });
});
