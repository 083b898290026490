/**
 * What `extension.register_operation` / `extension.register_job` accept (docs/extension-abi.md):
 * the design's payloads (`method`, `job_name`), `.vN` versions, dotted names and
 * `library_scoped`, and the clear refusals of what is not the extension's to register. Each case
 * is a tiny real module that registers one payload in plugin_init.
 */
import { describe, expect, it } from 'vitest';
import { loadSandbox, type GuestRegistration } from '../../src/extensions/sandbox/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { rejectionOf } from '../helpers/errors.js';
import { TEST_LIMITS, recordingBridge } from '../helpers/sandbox.js';
import { compileWatText } from '../helpers/wat.js';

/** WebAssembly text for a string in a data segment. */
const watString = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');

/** Loads a module (id `acme`) whose plugin_init registers each `[host method, payload]`. */
async function registering(...calls: Array<[string, object]>): Promise<readonly GuestRegistration[]> {
  let offset = 1024;
  const data: string[] = [];
  const body: string[] = [];
  for (const [method, payload] of calls) {
    const m = Buffer.from(method);
    const p = Buffer.from(JSON.stringify(payload));
    data.push(`(data (i32.const ${offset}) "${watString(method)}")`, `(data (i32.const ${offset + m.length}) "${watString(JSON.stringify(payload))}")`);
    body.push(`(drop (call $sd_call (i32.const ${offset}) (i32.const ${m.length}) (i32.const ${offset + m.length}) (i32.const ${p.length})))`);
    offset += m.length + p.length;
  }
  const wat = `(module
    (import "spacedrive" "sd_call" (func $sd_call (param i32 i32 i32 i32) (result i64)))
    (memory (export "memory") 1)
    (global $top (mut i32) (i32.const 32768))
    ${data.join('\n')}
    (func (export "sd_abi_version") (result i32) (i32.const 1))
    (func (export "sd_alloc") (param $n i32) (result i32) (local $p i32)
      (local.set $p (global.get $top)) (global.set $top (i32.add (global.get $top) (local.get $n))) (local.get $p))
    (func (export "sd_free") (param i32 i32))
    (func (export "h") (param i32 i32) (result i64) (i64.const 0))
    (func (export "plugin_init") (result i32) ${body.join(' ')} (i32.const 0)))`;
  const sandbox = await loadSandbox({ id: 'acme', version: '1.0.0', wasm: await compileWatText(wat), limits: { ...TEST_LIMITS, instances: 1 }, bridge: recordingBridge(), config: {}, logger: silentLogger() });
  try {
    return sandbox.registrations;
  } finally {
    await sandbox.close();
  }
}

const op = (payload: object): [string, object] => ['extension.register_operation', { export_fn: 'h', ...payload }];
const job = (payload: object): [string, object] => ['extension.register_job', { export_fn: 'h', ...payload }];

describe('registration payloads', () => {
  it("takes the design's payloads: the name and version from method, the name from job_name", async () => {
    const regs = await registering(
      op({ method: 'query:acme:classify_receipt.v1', operation_type: 'query' }),
      op({ method: 'query:acme:classify_receipt.v2', operation_type: 'query' }),
      op({ method: 'action:acme:receipts.import.input.v1', operation_type: 'action', library_scoped: true }),
      op({ method: 'query:acme:summary.v3' }),
      job({ job_name: 'acme:email_scan', resumable: true }),
      job({ job_name: 'backfill' }),
    );
    expect(regs.map((r) => (r.kind === 'operation' ? [r.method, r.name, r.version ?? 1, r.libraryScoped ?? false] : [r.jobType, r.name]))).toEqual([
      ['query:acme:classify_receipt.v1', 'classify_receipt', 1, false],
      ['query:acme:classify_receipt.v2', 'classify_receipt', 2, false],
      ['action:acme:receipts.import.input.v1', 'receipts.import', 1, true],
      ['query:acme:summary.v3', 'summary', 3, false],
      ['acme:email_scan', 'email_scan'],
      ['acme:backfill', 'backfill'],
    ]);
  });

  it('takes a version beside a name, and a dotted name', async () => {
    const regs = await registering(op({ name: 'receipts.list', operation_type: 'query', version: 2 }));
    expect(regs).toEqual([expect.objectContaining({ method: 'query:acme:receipts.list.v2', version: 2 })]);
  });

  const refusals: Array<[string, [string, object], RegExp]> = [
    ['a method in another namespace', op({ method: 'query:other:x.v1', operation_type: 'query' }), /"query:other:x\.v1" is outside this extension's namespace 'acme:'/],
    ["a method in core's form", op({ method: 'query:core.status.v1', operation_type: 'query' }), /"query:core\.status\.v1" is outside this extension's namespace \(that is core's form\)/],
    ['a method of the other kind', op({ method: 'action:acme:x.input.v1', operation_type: 'query' }), /operation_type "query" does not match method/],
    ['a name that disagrees with the method', op({ name: 'y', method: 'query:acme:x.v1', operation_type: 'query' }), /name "y" does not match method/],
    ['version 0', op({ method: 'query:acme:x.v0', operation_type: 'query' }), /versions start at 1/],
    ['a name part that looks like a version', op({ name: 'x.v2', operation_type: 'query' }), /invalid name "x\.v2"/],
    ['the same version twice', op({ name: 'x', operation_type: 'query', version: 2 }), /'x' is already registered in version 2/],
    ['a job in another namespace', job({ job_name: 'other:scan' }), /job_name "other:scan" is outside this extension's namespace/],
    ['library_scoped on a job', job({ name: 'scan', library_scoped: true }), /only operations have it/],
  ];
  for (const [what, call, message] of refusals) {
    it(`refuses ${what} (REGISTRATION_REJECTED, the load fails)`, async () => {
      const calls: Array<[string, object]> = what === 'the same version twice' ? [call, call] : [call];
      const err = await rejectionOf(registering(...calls));
      expect(err.code).toBe('REGISTRATION_REJECTED');
      expect(err.message).toMatch(message);
    });
  }
});
