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
// EXTENSION_NAME_PATTERN of src/registry/method-names.ts: dotted parts of letters, digits, '_'
// and '-', none looking like a version ('v2').
const NAME_RE = /^(?!v\d+(?:\.|$))[A-Za-z_][A-Za-z0-9_-]*(?:\.(?!v\d+(?:\.|$))[A-Za-z0-9_-]+)*$/;
/** A method as the design writes it in a registration: `query:<id>:<name>.vN`, `action:<id>:<name>.input.vN`. */
const METHOD_RE = /^(query|action):([^:]*):(.+?)(\.input)?\.v(\d+)$/;

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
    // The name is `name`, or derived from the design's `method` (operations: the full method,
    // whose `.vN` is the version) or `job_name` (jobs: `<id>:<name>` or the bare name). When both
    // are given they must agree.
    let name: unknown = o.name;
    let version = 1;
    let derivedType: 'query' | 'action' | undefined;
    if (kind === 'operation' && o.method !== undefined) {
      const m = typeof o.method === 'string' ? METHOD_RE.exec(o.method) : null;
      const forms = `query:${id}:<name>.vN or action:${id}:<name>.input.vN`;
      if (m && m[2] !== id) return reject(`method ${JSON.stringify(o.method)} is outside this extension's namespace '${id}:' (its methods are ${forms})`);
      if (!m || (m[1] === 'query') !== (m[4] === undefined)) {
        const coreForm = typeof o.method === 'string' && /^(query|action):[^:]*$/.test(o.method);
        return reject(`method ${JSON.stringify(o.method)} ${coreForm ? "is outside this extension's namespace (that is core's form)" : 'is not a method name'}; its methods are ${forms}`);
      }
      if (name !== undefined && name !== m[3]) return reject(`name ${JSON.stringify(name)} does not match method ${JSON.stringify(o.method)}`);
      name = m[3];
      version = Number(m[5]);
      derivedType = m[1] as 'query' | 'action';
    } else if (kind === 'job' && o.job_name !== undefined) {
      const jn = o.job_name;
      const colon = typeof jn === 'string' ? jn.indexOf(':') : -1;
      if (typeof jn !== 'string') return reject(`job_name ${JSON.stringify(jn)} must be a string`);
      if (colon >= 0 && jn.slice(0, colon) !== id) return reject(`job_name ${JSON.stringify(jn)} is outside this extension's namespace (its job types are '${id}:<name>')`);
      const bare = colon >= 0 ? jn.slice(colon + 1) : jn;
      if (name !== undefined && name !== bare) return reject(`name ${JSON.stringify(name)} does not match job_name ${JSON.stringify(jn)}`);
      name = bare;
    }
    if (typeof name !== 'string' || name.length === 0 || name.length > 128 || !NAME_RE.test(name)) {
      return reject(
        `invalid name ${JSON.stringify(name)}: use letters, digits, '_', '-' and dot-separated parts, none of them a version like 'v2' (no ':'; the host adds the '${id}:' namespace)`,
      );
    }
    if (o.version !== undefined) {
      if (kind !== 'operation' || typeof o.version !== 'number' || !Number.isInteger(o.version) || o.version < 1 || o.version > 1_000_000) {
        return reject(`'${name}': version must be a whole number from 1${kind === 'job' ? ' (and only operations have one)' : ''}`);
      }
      if (o.method !== undefined && o.version !== version) return reject(`'${name}': version ${o.version} does not match method ${JSON.stringify(o.method)}`);
      version = o.version;
    }
    if (version < 1) return reject(`'${name}': versions start at 1 (.v1)`);
    if (o.library_scoped !== undefined && (kind !== 'operation' || typeof o.library_scoped !== 'boolean')) {
      return reject(`'${name}': library_scoped must be a boolean${kind === 'job' ? ' (and only operations have it: a job runs against the library it was dispatched with)' : ''}`);
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
      const type = o.operation_type ?? derivedType;
      if (type !== 'query' && type !== 'action') return reject(`'${name}': operation_type must be "query" or "action"`);
      if (derivedType !== undefined && type !== derivedType) return reject(`'${name}': operation_type "${String(type)}" does not match method ${JSON.stringify(o.method)}`);
      const method = type === 'query' ? `query:${id}:${name}.v${version}` : `action:${id}:${name}.input.v${version}`;
      // Queries and actions share one set of names; each version is its own method.
      const key = `${name}.v${version}`;
      if (this.#operationNames.has(key)) return reject(`'${name}' is already registered${version === 1 ? '' : ` in version ${version}`}`);
      if (!isSchema(o.input_schema) || !isSchema(o.output_schema)) return reject(`'${name}': input_schema and output_schema must be JSON Schemas`);
      this.#operationNames.add(key);
      const reg: GuestRegistration = { kind: 'operation', operationType: type, name, method, exportFn, description };
      if (version !== 1) reg.version = version;
      if (o.library_scoped === true) reg.libraryScoped = true;
      if (o.input_schema !== undefined) reg.inputSchema = o.input_schema;
      if (o.output_schema !== undefined) reg.outputSchema = o.output_schema;
      this.registrations.push(reg);
      return JSON.stringify({ ok: true, result: { method } });
    }
    const jobType = `${id}:${name}`;
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
