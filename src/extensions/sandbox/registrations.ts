/**
 * What plugin_init registers (`extension.register_operation`, `extension.register_job`),
 * checked as the guest registers it: names in the extension's namespace, handler exports that
 * exist, schemas that are schemas, and the extension's registration limits. Runs on the guest
 * side (guest-runtime.ts), in each instance; the main thread counts again what arrives
 * (limits.ts).
 */
import { envelopeError, fault } from './guest-faults.js';
import type { GuestRegistration, RegistrationLimits } from './types.js';

/** A registration's description, at most (characters), as a manifest's. */
const MAX_DESCRIPTION = 2000;
/** Exports with a meaning in the ABI, which cannot be handlers. */
const RESERVED_EXPORTS = new Set(['memory', 'sd_abi_version', 'sd_alloc', 'sd_free', 'plugin_init', 'plugin_cleanup']);
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

const enc = new TextEncoder();

function isSchema(v: unknown): boolean {
  return v === undefined || typeof v === 'boolean' || (typeof v === 'object' && v !== null && !Array.isArray(v));
}

/**
 * Refuses a registration past one of the extension's registration limits. It stops
 * plugin_init right there (the fault ends the guest's call) rather than answering: a guest
 * registering in a loop would otherwise go on to its last iteration, and loading fails anyway.
 */
function overLimit(limit: string, value: number, why: string): never {
  throw fault('REGISTRATION_REJECTED', why, { limit, value });
}

/**
 * Whether a schema's JSON text is over `max` bytes. Measured only when the payload holding it
 * is over `max` too: a payload that fits cannot hold a schema that does not.
 */
function schemaOver(schema: unknown, payloadBytes: number, max: number): boolean {
  return schema !== undefined && payloadBytes > max && enc.encode(JSON.stringify(schema)).length > max;
}

/** One instance's registrations during its plugin_init. */
export class Registrar {
  readonly registrations: GuestRegistration[] = [];
  /** Why registrations were refused: plugin_init then fails with REGISTRATION_REJECTED, naming them all. */
  readonly rejected: string[] = [];
  /** JSON bytes of every registration payload so far (limits.max_registration_bytes). */
  #registeredBytes = 0;
  /** Registration calls so far, refused ones included (limits.max_operations, limits.max_job_types). */
  #operationCalls = 0;
  #jobCalls = 0;
  readonly #operationNames = new Set<string>();
  readonly #jobNames = new Set<string>();

  /** @param isFunction whether the module exports a function of that name */
  constructor(
    private readonly id: string,
    private readonly limits: RegistrationLimits,
    private readonly isFunction: (exportName: string) => boolean,
  ) {}

  /** Registers what the payload describes; returns the envelope the guest reads (its method or job type, or why not). */
  register(kind: 'operation' | 'job', payloadText: string, payloadBytes: number): string {
    const { id, limits } = this;
    const fn = kind === 'operation' ? 'extension.register_operation' : 'extension.register_job';
    const reject = (why: string): string => {
      const message = `${fn}: ${why}`;
      this.rejected.push(message);
      return envelopeError('REGISTRATION_REJECTED', message);
    };
    // Counted as they arrive, refused or not, before anything is parsed: a guest registering in
    // a loop is stopped at the first registration past a limit (see overLimit).
    this.#registeredBytes += payloadBytes;
    if (this.#registeredBytes > limits.maxRegistrationBytes) {
      overLimit('max_registration_bytes', limits.maxRegistrationBytes, `${fn}: registrations take more than ${limits.maxRegistrationBytes} bytes of JSON (limits.max_registration_bytes)`);
    }
    const count = kind === 'operation' ? this.#operationCalls++ : this.#jobCalls++;
    const most = kind === 'operation' ? limits.maxOperations : limits.maxJobTypes;
    if (count >= most) {
      const limit = kind === 'operation' ? 'max_operations' : 'max_job_types';
      overLimit(limit, most, `${fn}: more than ${most} ${kind === 'operation' ? 'operations' : 'job types'} registered (limits.${limit})`);
    }
    let p: unknown;
    try {
      p = JSON.parse(payloadText);
    } catch (e) {
      return reject(`the payload is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof p !== 'object' || p === null || Array.isArray(p)) return reject('expects a JSON object');
    const o = p as Record<string, unknown>;
    const name = o.name;
    if (typeof name !== 'string' || name.length === 0 || name.length > 128 || !NAME_RE.test(name)) {
      return reject(
        `invalid name ${JSON.stringify(name)}: use letters, digits, '_', '-' and '.' (no ':'; the host adds the '${id}:' namespace)`,
      );
    }
    const exportFn = o.export_fn;
    if (typeof exportFn !== 'string' || RESERVED_EXPORTS.has(exportFn) || !this.isFunction(exportFn)) {
      return reject(`'${name}': export_fn ${JSON.stringify(exportFn)} is not a handler function exported by the module`);
    }
    if (o.description !== undefined && typeof o.description !== 'string') return reject(`'${name}': description must be a string`);
    const description = (o.description as string | undefined) ?? '';
    if (description.length > MAX_DESCRIPTION) return reject(`'${name}': description is ${description.length} characters, over the limit of ${MAX_DESCRIPTION}`);
    for (const field of ['input_schema', 'output_schema', 'params_schema', 'state_schema']) {
      if (schemaOver(o[field], payloadBytes, limits.maxSchemaBytes)) {
        return reject(`'${name}': ${field} is over the limit of ${limits.maxSchemaBytes} bytes of JSON (limits.max_schema_bytes)`);
      }
    }
    if (kind === 'operation') {
      const type = o.operation_type;
      if (type !== 'query' && type !== 'action') return reject(`'${name}': operation_type must be "query" or "action"`);
      const method = type === 'query' ? `query:${id}:${name}.v1` : `action:${id}:${name}.input.v1`;
      if (o.method !== undefined && o.method !== method) {
        return reject(`'${name}': method ${JSON.stringify(o.method)} is outside this extension's namespace (it would be '${method}')`);
      }
      if (this.#operationNames.has(name)) return reject(`'${name}' is already registered`);
      if (!isSchema(o.input_schema) || !isSchema(o.output_schema)) return reject(`'${name}': input_schema and output_schema must be JSON Schemas`);
      this.#operationNames.add(name);
      const reg: GuestRegistration = { kind: 'operation', operationType: type, name, method, exportFn, description };
      if (o.input_schema !== undefined) reg.inputSchema = o.input_schema;
      if (o.output_schema !== undefined) reg.outputSchema = o.output_schema;
      this.registrations.push(reg);
      return JSON.stringify({ ok: true, result: { method } });
    }
    const jobType = `${id}:${name}`;
    if (o.job_name !== undefined && o.job_name !== jobType) {
      return reject(`'${name}': job_name ${JSON.stringify(o.job_name)} is outside this extension's namespace (it would be '${jobType}')`);
    }
    if (this.#jobNames.has(name)) return reject(`job '${name}' is already registered`);
    if (o.resumable !== undefined && typeof o.resumable !== 'boolean') return reject(`'${name}': resumable must be a boolean`);
    if (!isSchema(o.params_schema) || !isSchema(o.state_schema) || !isSchema(o.output_schema)) {
      return reject(`'${name}': params_schema, state_schema and output_schema must be JSON Schemas`);
    }
    this.#jobNames.add(name);
    const reg: GuestRegistration = { kind: 'job', name, jobType, exportFn, resumable: (o.resumable as boolean | undefined) ?? true, description };
    if (o.params_schema !== undefined) reg.paramsSchema = o.params_schema;
    if (o.state_schema !== undefined) reg.stateSchema = o.state_schema;
    if (o.output_schema !== undefined) reg.outputSchema = o.output_schema;
    this.registrations.push(reg);
    return JSON.stringify({ ok: true, result: { job_type: jobType } });
  }
}
