/**
 * The machine-readable description of extension ABI v1 (docs/extension-abi.json, written by
 * `npm run abi`), for authors of SDKs in other languages. Built from the host's own tables: the
 * imports and their signatures (src/extensions/sandbox/host-imports.ts), the required exports
 * (./abi-check.ts), the manifest schema (src/extensions/manifest.ts), the host's default limits
 * and ceilings (src/config), the wire methods an extension may call with their input and output
 * schemas (core's registry), and the host methods below. test/unit/extension-abi.test.ts checks
 * that the file is current and agrees with docs/extension-abi.md.
 */
import { loadOptions } from '../config/index.js';
import { CORE_OPERATIONS } from '../core/index.js';
import { SUPPORTED_ABI_VERSIONS, manifestSchema } from '../extensions/manifest.js';
import { HOST_IMPORT_SIGNATURES, HOST_MODULE } from '../extensions/sandbox/host-imports.js';
import { REQUIRED_EXPORTS } from './abi-check.js';

const obj = (properties: Record<string, unknown>, required: string[] = [], extra: Record<string, unknown> = {}) => ({ type: 'object', properties, required, ...extra });
const jsonSchema = { description: 'a JSON Schema (object or boolean)', type: ['object', 'boolean'] };
const NAME = { type: 'string', pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$', maxLength: 128, description: "no ':'; the host adds the '<extension id>:' namespace" };

/** What each host import does (its signature comes from the host's table). */
const IMPORT_DOCS: Record<string, { params: string[]; summary: string }> = {
  sd_call: { params: ['method_ptr', 'method_len', 'payload_ptr', 'payload_len'], summary: 'Calls a wire method or a host method with a JSON payload; returns the packed (ptr << 32 | len) JSON envelope {"ok":true,"result":…} | {"ok":false,"error":{"code","message"}}, allocated with the guest\'s sd_alloc (the guest frees it).' },
  sd_log: { params: ['level', 'ptr', 'len'], summary: 'A UTF-8 log line: level 0 trace, 1 debug, 2 info, 3 warn, 4 error.' },
  sd_error: { params: ['ptr', 'len'], summary: "Sets the current call's error: JSON {\"code\",\"message\",\"details\"} or plain text (≤ 64 KiB); the handler then returns 0." },
  sd_job_progress: { params: ['ptr', 'len'], summary: 'Inside a job: a progress report (see host_methods["sd_job_progress report"]), durable before it returns. Returns 0 continue, 1 pause requested, 2 cancel requested, -1 not inside a job.' },
  sd_job_interrupt: { params: [], summary: 'Inside a job: 0 continue, 1 pause requested, 2 cancel requested, -1 not inside a job.' },
};

/** Exports: the required ones and their signatures, and the optional ones. */
const EXPORT_DOCS: Record<string, { kind: 'memory' | 'function'; signature?: { params: string[]; results: string[] }; required: boolean; summary: string }> = {
  memory: { kind: 'memory', required: true, summary: "The guest's linear memory." },
  sd_abi_version: { kind: 'function', signature: { params: [], results: ['i32'] }, required: true, summary: 'Returns the ABI version (1).' },
  sd_alloc: { kind: 'function', signature: { params: ['i32'], results: ['i32'] }, required: true, summary: 'Returns a pointer to len writable bytes, valid until sd_free; 0 on failure.' },
  sd_free: { kind: 'function', signature: { params: ['i32', 'i32'], results: [] }, required: true, summary: 'Releases a buffer from sd_alloc or a handler result.' },
  plugin_init: { kind: 'function', signature: { params: [], results: ['i32'] }, required: true, summary: 'Called once per instance; registers operations and job types; 0 = success.' },
  plugin_cleanup: { kind: 'function', signature: { params: [], results: ['i32'] }, required: false, summary: 'Called before an instance is discarded.' },
};

/** Host methods, answered by the host itself through sd_call (not wire methods). */
export const HOST_METHODS: Record<string, { when: string; input: unknown; output: unknown; summary: string }> = {
  'extension.register_operation': {
    when: 'plugin_init only',
    input: {
      ...obj(
        {
          name: NAME,
          method: { type: 'string', description: "the design's form instead of name: query:<id>:<name>.vN or action:<id>:<name>.input.vN, in the extension's own namespace; with name, they must agree" },
          version: { type: 'integer', minimum: 1, default: 1, description: 'the version (.vN) when given by name' },
          export_fn: { type: 'string' },
          operation_type: { enum: ['query', 'action'] },
          description: { type: 'string', maxLength: 2000 },
          input_schema: jsonSchema,
          output_schema: jsonSchema,
          library_scoped: { type: 'boolean', default: false, description: "the call's library is validated and passed to the extension (see extension.context)" },
        },
        ['export_fn', 'operation_type'],
      ),
      anyOf: [{ required: ['name'] }, { required: ['method'] }],
    },
    output: obj({ method: { type: 'string', description: 'query:<id>:<name>.vN or action:<id>:<name>.input.vN' } }, ['method']),
    summary: 'Registers a query or an action served by export_fn.',
  },
  'extension.register_job': {
    when: 'plugin_init only',
    input: {
      ...obj(
        {
          name: NAME,
          job_name: { type: 'string', description: "the design's form instead of name: <id>:<name> or <name>" },
          export_fn: { type: 'string' },
          resumable: { type: 'boolean', default: true },
          description: { type: 'string', maxLength: 2000 },
          params_schema: jsonSchema,
        },
        ['export_fn'],
      ),
      anyOf: [{ required: ['name'] }, { required: ['job_name'] }],
    },
    output: obj({ job_type: { type: 'string', description: '<id>:<name>' } }, ['job_type']),
    summary: 'Registers a job type run by export_fn.',
  },
  'extension.config': { when: 'any time', input: obj({}), output: { description: "the extension's configuration, valid against its manifest's config_schema" }, summary: "The extension's configuration." },
  'extension.info': { when: 'any time', input: obj({}), output: obj({ id: { type: 'string' }, version: { type: 'string' }, abi_version: { type: 'integer' } }, ['id', 'version', 'abi_version']), summary: 'Who the extension is.' },
  'extension.sleep': { when: 'any time', input: obj({ ms: { type: 'integer', minimum: 0 } }, ['ms']), output: obj({}), summary: "Blocks this instance (never the daemon) for ms milliseconds; past the call's deadline it fails at once with EXTENSION_TIMEOUT." },
  'extension.context': {
    when: 'in a handler',
    input: obj({}),
    output: obj({ library_id: { type: ['string', 'null'] }, method: { type: ['string', 'null'] }, job_id: { type: ['string', 'null'] } }, ['library_id', 'method', 'job_id']),
    summary: "The running call's context: its library (library-scoped operations and jobs dispatched with one), the method called, the job run.",
  },
};

/** Payload shapes at the ABI boundary that are not host methods. */
const MESSAGES = {
  handler_input: { description: 'The input a query or action handler receives: the caller\'s payload, validated against the registered input_schema.' },
  job_input: obj({ job_id: { type: 'string' }, job_type: { type: 'string' }, params: {}, state: { description: 'the last checkpoint, null on a first run' }, attempt: { type: 'integer', minimum: 1 } }, ['job_id', 'job_type', 'params', 'state', 'attempt']),
  job_result: {
    oneOf: [
      obj({ status: { const: 'completed' }, output: {} }, ['status']),
      obj({ status: { const: 'interrupted' }, state: {} }, ['status']),
      obj({ status: { const: 'failed' }, error: obj({ code: { type: 'string' }, message: { type: 'string' } }, ['message']), retryable: { type: 'boolean', default: true } }, ['status', 'error']),
    ],
  },
  progress_report: obj({ fraction: { type: 'number', minimum: 0, maximum: 1 }, message: { type: 'string' }, state: {}, items_done: { type: 'number' }, items_total: { type: 'number' }, bytes_done: { type: 'number' }, bytes_total: { type: 'number' }, warning: { type: 'string' } }),
  error: obj({ code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } }, ['message']),
  call_envelope: { oneOf: [obj({ ok: { const: true }, result: {} }, ['ok', 'result']), obj({ ok: { const: false }, error: obj({ code: { type: 'string' }, message: { type: 'string' } }, ['code', 'message']) }, ['ok', 'error'])] },
};

/** The description, as docs/extension-abi.json holds it (stable key order). */
export function abiDescription(): Record<string, unknown> {
  const host = loadOptions({ env: {}, overrides: { dataDir: '/nonexistent' } }).extensions;
  return {
    $comment: 'Generated by `npm run abi` from the host code (src/authoring/abi-description.ts); docs/extension-abi.md is the human document. Do not edit.',
    abi_version: SUPPORTED_ABI_VERSIONS[SUPPORTED_ABI_VERSIONS.length - 1],
    supported_abi_versions: [...SUPPORTED_ABI_VERSIONS],
    packed_result: 'i64 = (len << 32) | ptr, both unsigned 32-bit; 0 means "no bytes" (JSON null; with sd_error, a failure)',
    handler_signature: { params: ['i32', 'i32'], results: ['i64'], summary: 'Handlers (queries, actions, jobs) take (input_ptr, input_len) and return a packed result.' },
    imports: Object.entries(HOST_IMPORT_SIGNATURES).map(([name, sig]) => ({
      module: HOST_MODULE,
      name,
      params: [...sig.params],
      results: [...sig.results],
      param_names: IMPORT_DOCS[name]?.params ?? [],
      summary: IMPORT_DOCS[name]?.summary ?? '',
    })),
    exports: Object.entries(EXPORT_DOCS).map(([name, e]) => ({ name, ...e, required: REQUIRED_EXPORTS.includes(name) })),
    host_methods: Object.entries(HOST_METHODS).map(([method, m]) => ({ method, ...m })),
    messages: MESSAGES,
    wire_methods: CORE_OPERATIONS.map((op) => ({ method: op.method, kind: op.kind, description: op.description, input: op.input ?? true, output: op.output ?? true })).sort((a, b) => a.method.localeCompare(b.method)),
    manifest_schema: manifestSchema,
    limits: { defaults: host.defaults, ceilings: host.ceilings, init_timeout_ms: host.initTimeoutMs, max_call_depth: host.maxCallDepth, job_interrupt_grace_ms: host.jobInterruptGraceMs },
  };
}

/** The file's text. */
export function abiDescriptionJson(): string {
  return `${JSON.stringify(abiDescription(), null, 2)}\n`;
}
