/**
 * What plugin_init registers, checked on the guest side (src/extensions/sandbox/registrations.ts)
 * without a module: the envelopes the guest reads, and the limits that stop plugin_init.
 */
import { describe, expect, it } from 'vitest';
import { isFault } from '../../src/extensions/sandbox/guest-faults.js';
import { DEFAULT_REGISTRATION_LIMITS } from '../../src/extensions/sandbox/index.js';
import { Registrar } from '../../src/extensions/sandbox/registrations.js';
import type { RegistrationLimits } from '../../src/extensions/sandbox/types.js';

const EXPORTS = new Set(['classify', 'scan', 'sd_alloc', 'plugin_init']);

function registrar(limits: Partial<RegistrationLimits> = {}): Registrar {
  return new Registrar('receipts', { ...DEFAULT_REGISTRATION_LIMITS, ...limits }, (name) => EXPORTS.has(name));
}

function register(r: Registrar, kind: 'operation' | 'job', payload: unknown): { ok: boolean; result?: unknown; error?: { code: string; message: string } } {
  const text = JSON.stringify(payload);
  return JSON.parse(r.register(kind, text, Buffer.byteLength(text)));
}

/** The fault that stopped plugin_init, or undefined if it went on. */
function stopped(fn: () => unknown): { code: string; details?: Record<string, unknown> } | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (!isFault(e)) throw e;
    return e;
  }
}

describe('sandbox registrations (guest side)', () => {
  it('registers an operation and a job type in the extension namespace', () => {
    const r = registrar();
    expect(register(r, 'operation', { name: 'classify', export_fn: 'classify', operation_type: 'query', input_schema: { type: 'object' } })).toEqual({
      ok: true,
      result: { method: 'query:receipts:classify.v1' },
    });
    expect(register(r, 'operation', { name: 'tag', export_fn: 'classify', operation_type: 'action' }).result).toEqual({ method: 'action:receipts:tag.input.v1' });
    expect(register(r, 'job', { name: 'scan', export_fn: 'scan', resumable: false })).toEqual({ ok: true, result: { job_type: 'receipts:scan' } });
    expect(r.registrations).toEqual([
      { kind: 'operation', operationType: 'query', name: 'classify', method: 'query:receipts:classify.v1', exportFn: 'classify', description: '', inputSchema: { type: 'object' } },
      { kind: 'operation', operationType: 'action', name: 'tag', method: 'action:receipts:tag.input.v1', exportFn: 'classify', description: '' },
      { kind: 'job', name: 'scan', jobType: 'receipts:scan', exportFn: 'scan', resumable: false, description: '' },
    ]);
    expect(r.rejected).toEqual([]);
  });

  it.each([
    ['a name with a namespace', 'operation', { name: 'other:classify', export_fn: 'classify', operation_type: 'query' }, /invalid name/],
    ['an export the module lacks', 'operation', { name: 'classify', export_fn: 'missing', operation_type: 'query' }, /not a handler function/],
    ['a reserved export', 'job', { name: 'scan', export_fn: 'plugin_init' }, /not a handler function/],
    ['a method outside the namespace', 'operation', { name: 'classify', export_fn: 'classify', operation_type: 'query', method: 'query:core:status.v1' }, /outside this extension's namespace/],
    ['a job name outside the namespace', 'job', { name: 'scan', export_fn: 'scan', job_name: 'other:scan' }, /outside this extension's namespace/],
    ['a schema that is not one', 'operation', { name: 'classify', export_fn: 'classify', operation_type: 'query', output_schema: [1] }, /must be JSON Schemas/],
    ['an unknown operation type', 'operation', { name: 'classify', export_fn: 'classify', operation_type: 'mutation' }, /operation_type/],
    ['a payload that is not an object', 'job', ['scan'], /expects a JSON object/],
  ] as const)('refuses %s, and plugin_init then fails naming it', (_what, kind, payload, why) => {
    const r = registrar();
    const answer = register(r, kind, payload);
    expect(answer.ok).toBe(false);
    expect(answer.error?.code).toBe('REGISTRATION_REJECTED');
    expect(answer.error?.message).toMatch(why);
    expect(r.rejected).toEqual([answer.error?.message]);
    expect(r.registrations).toEqual([]);
  });

  it('refuses a name registered twice', () => {
    const r = registrar();
    expect(register(r, 'job', { name: 'scan', export_fn: 'scan' }).ok).toBe(true);
    expect(register(r, 'job', { name: 'scan', export_fn: 'scan' }).error?.message).toMatch(/already registered/);
  });

  it('stops plugin_init at the first registration past max_operations or max_job_types', () => {
    const r = registrar({ maxOperations: 2, maxJobTypes: 1 });
    for (const name of ['a', 'b']) expect(register(r, 'operation', { name, export_fn: 'classify', operation_type: 'query' }).ok).toBe(true);
    expect(stopped(() => register(r, 'operation', { name: 'c', export_fn: 'classify', operation_type: 'query' }))).toMatchObject({
      code: 'REGISTRATION_REJECTED',
      details: { limit: 'max_operations', value: 2 },
    });
    expect(register(r, 'job', { name: 'scan', export_fn: 'scan' }).ok).toBe(true);
    expect(stopped(() => register(r, 'job', { name: 'scan2', export_fn: 'scan' }))).toMatchObject({ details: { limit: 'max_job_types', value: 1 } });
  });

  it('counts the bytes of every payload, refused ones included, against max_registration_bytes', () => {
    const r = registrar({ maxRegistrationBytes: 200 });
    expect(register(r, 'job', { name: 'bad name', export_fn: 'scan' }).ok).toBe(false);
    expect(stopped(() => register(r, 'job', { name: 'scan', export_fn: 'scan', description: 'x'.repeat(150) }))).toMatchObject({
      details: { limit: 'max_registration_bytes', value: 200 },
    });
  });

  it('refuses a schema over max_schema_bytes', () => {
    const r = registrar({ maxSchemaBytes: 100 });
    const answer = register(r, 'operation', { name: 'classify', export_fn: 'classify', operation_type: 'query', input_schema: { description: 'x'.repeat(200) } });
    expect(answer.error?.message).toMatch(/input_schema is over the limit of 100 bytes/);
    expect(register(r, 'operation', { name: 'small', export_fn: 'classify', operation_type: 'query', input_schema: { type: 'string' } }).ok).toBe(true);
  });
});
