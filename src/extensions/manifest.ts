/**
 * Extension packages: a directory holding `manifest.json` and the module it names. This file
 * reads and checks one (schema, id, ABI version, module present and matching its SHA-256,
 * limits within the host's ceilings, config against the config schema) and works out the limits
 * in effect.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { ExtensionHostOptions, ExtensionLimitOptions } from '../config/index.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { compileSchema, type JsonSchema } from '../schema/index.js';
import type { SandboxLimits } from './sandbox/types.js';

/** ABI versions this host can load (docs/extension-abi.md). */
export const SUPPORTED_ABI_VERSIONS: readonly number[] = [1];

export const MANIFEST_FILE = 'manifest.json';

/** One directory (or file) of the machine an extension may have core read or write for it. */
export interface FilesystemGrant {
  /** Absolute path; everything under it is covered. Compared after resolving `..` and symlinks. */
  path: string;
  /** `read` or `write`; each grants only itself (list the path twice for both). */
  access: 'read' | 'write';
}

export interface ManifestPermissions {
  /** Method prefixes the extension may call (`query:core.`, `query:hello:`); its own are always allowed. */
  call: string[];
  /**
   * Job types of others it may dispatch: exact (`files.copy`) or a prefix ending in `*`
   * (`finance:*`, `files.*`). Its own job types need no grant.
   */
  dispatch: string[];
  /**
   * Job types whose jobs it may observe and control (status, logs, list, pause, resume, cancel,
   * retry) whoever dispatched them; same patterns as `dispatch`. Jobs of its own types and jobs
   * it dispatched need no grant.
   */
  manage_jobs: string[];
  /** Paths core may read or write on its behalf (copy, hash, locations, Maildir accounts …). None by default. */
  filesystem: FilesystemGrant[];
  /** Library ids it may pass as `library_id`, or `*`. */
  libraries: string[];
  /** Hosts the HTTP capability may reach. */
  network: string[];
}

/** What an extension is granted when its manifest says nothing. */
export function noPermissions(): ManifestPermissions {
  return { call: [], dispatch: [], manage_jobs: [], filesystem: [], libraries: [], network: [] };
}

/** Limits as a manifest writes them (all optional; the host fills in its defaults). */
export interface ManifestLimits {
  memory_mb?: number;
  call_timeout_ms?: number;
  instances?: number;
  max_input_bytes?: number;
  max_output_bytes?: number;
  concurrent_jobs?: number;
  /** Host calls per minute (token bucket). */
  requests_per_minute?: number;
  /** Time limit (and default) of one HTTP request. */
  http_timeout_ms?: number;
  /** Largest HTTP response body (and default). */
  http_max_response_bytes?: number;
  /** What plugin_init may register: queries and actions, job types, one schema's JSON bytes, all registrations' JSON bytes. */
  max_operations?: number;
  max_job_types?: number;
  max_schema_bytes?: number;
  max_registration_bytes?: number;
  /** Longest a job handler may run between two progress reports. */
  job_progress_timeout_ms?: number;
  /** Largest checkpoint (`state` of a progress report or an interrupted answer, as JSON bytes). */
  max_state_bytes?: number;
}

export interface ExtensionManifest {
  id: string;
  name: string;
  version: string;
  description: string;
  author: string;
  module: string;
  sha256: string;
  abi_version: number;
  permissions: ManifestPermissions;
  limits: ManifestLimits;
  config_schema: JsonSchema;
  config: unknown;
}

const SEMVER = '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?$';
const positiveInt = { type: 'integer', minimum: 1 } as const;
/** A job type (`files.copy`, `finance:email_scan`), a prefix of them ending in `*` (`finance:*`, `files.*`), or `*`. */
const JOB_TYPE_PATTERN = '^(\\*|[a-z][a-z0-9_-]*(:|\\.)(\\*|[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*(\\.\\*)?))$';

/** JSON Schema of manifest.json. */
export const manifestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'version', 'module', 'sha256', 'abi_version'],
  properties: {
    id: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,63}$', description: 'Namespace of its methods and job types.' },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    version: { type: 'string', pattern: SEMVER, description: 'Semantic version.' },
    description: { type: 'string', maxLength: 2000, default: '' },
    author: { type: 'string', maxLength: 200, default: '' },
    module: { type: 'string', pattern: '^[A-Za-z0-9._-]+\\.wasm$', description: 'File name of the module, next to the manifest.' },
    sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
    abi_version: { type: 'integer', minimum: 1 },
    permissions: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        call: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
        dispatch: { type: 'array', items: { type: 'string', pattern: JOB_TYPE_PATTERN }, default: [] },
        manage_jobs: { type: 'array', items: { type: 'string', pattern: JOB_TYPE_PATTERN }, default: [] },
        filesystem: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['path', 'access'],
            properties: { path: { type: 'string', minLength: 1, maxLength: 4096 }, access: { enum: ['read', 'write'] } },
          },
        },
        // Replaced by `dispatch` (job types) and `filesystem`: `true` is refused with what to write
        // instead, `false` (the old default, in many manifests) is accepted and means nothing.
        dispatch_jobs: { type: 'boolean' },
        libraries: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
        network: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        memory_mb: positiveInt,
        call_timeout_ms: positiveInt,
        instances: positiveInt,
        max_input_bytes: positiveInt,
        max_output_bytes: positiveInt,
        concurrent_jobs: positiveInt,
        requests_per_minute: positiveInt,
        http_timeout_ms: positiveInt,
        http_max_response_bytes: positiveInt,
        max_operations: positiveInt,
        max_job_types: positiveInt,
        max_schema_bytes: positiveInt,
        max_registration_bytes: positiveInt,
        job_progress_timeout_ms: positiveInt,
        max_state_bytes: positiveInt,
      },
    },
    config_schema: { type: ['object', 'boolean'], default: true },
    config: { default: {} },
  },
} as const;

const validateManifestShape = compileSchema<ExtensionManifest>(manifestSchema as unknown as JsonSchema, {
  code: ErrorCode.EXTENSION_INVALID,
  what: 'manifest',
});

/** Manifest field name → options field name. */
const LIMIT_FIELDS: ReadonlyArray<[keyof ManifestLimits, keyof ExtensionLimitOptions]> = [
  ['memory_mb', 'memoryMb'],
  ['call_timeout_ms', 'callTimeoutMs'],
  ['instances', 'instances'],
  ['max_input_bytes', 'maxInputBytes'],
  ['max_output_bytes', 'maxOutputBytes'],
  ['concurrent_jobs', 'concurrentJobs'],
  ['requests_per_minute', 'requestsPerMinute'],
  ['http_timeout_ms', 'httpTimeoutMs'],
  ['http_max_response_bytes', 'httpMaxResponseBytes'],
  ['max_operations', 'maxOperations'],
  ['max_job_types', 'maxJobTypes'],
  ['max_schema_bytes', 'maxSchemaBytes'],
  ['max_registration_bytes', 'maxRegistrationBytes'],
  ['job_progress_timeout_ms', 'jobProgressTimeoutMs'],
  ['max_state_bytes', 'maxStateBytes'],
];

/** Limits in effect, in the manifest's units and names (what `info` shows). */
export type EffectiveLimits = Required<ManifestLimits>;

/**
 * The manifest's limits, filled from the host defaults and bounded by the host ceilings.
 * `strict` (install) refuses a value above a ceiling; otherwise (loading an extension installed
 * before the ceilings were lowered) it is clamped and reported in `clamped`.
 */
export function effectiveLimits(
  manifest: Pick<ExtensionManifest, 'id' | 'limits'>,
  host: ExtensionHostOptions,
  strict: boolean,
): { limits: EffectiveLimits; clamped: string[] } {
  const out = {} as EffectiveLimits;
  const clamped: string[] = [];
  for (const [field, option] of LIMIT_FIELDS) {
    const asked = manifest.limits?.[field];
    const ceiling = host.ceilings[option];
    const value = asked ?? Math.min(host.defaults[option], ceiling);
    if (value > ceiling) {
      if (strict) {
        throw new SpacedriveError(
          ErrorCode.EXTENSION_INVALID,
          `extension '${manifest.id}' asks for limits.${field} = ${value}, above this host's ceiling of ${ceiling} (raise extensions.ceilings.${option} in config.json to allow it)`,
          { id: manifest.id, field: `limits.${field}`, asked: value, ceiling },
        );
      }
      clamped.push(`limits.${field} ${value} → ${ceiling}`);
      out[field] = ceiling;
    } else {
      out[field] = value;
    }
  }
  return { limits: out, clamped };
}

/** Limits in the sandbox's terms. */
export function sandboxLimits(limits: EffectiveLimits, host: ExtensionHostOptions): SandboxLimits {
  return {
    callTimeoutMs: limits.call_timeout_ms,
    initTimeoutMs: host.initTimeoutMs,
    memoryMaxBytes: limits.memory_mb * 1024 * 1024,
    maxInputBytes: limits.max_input_bytes,
    maxOutputBytes: limits.max_output_bytes,
    instances: limits.instances,
    maxQueue: host.maxQueue,
    registrations: {
      maxOperations: limits.max_operations,
      maxJobTypes: limits.max_job_types,
      maxSchemaBytes: limits.max_schema_bytes,
      maxRegistrationBytes: limits.max_registration_bytes,
    },
  };
}

function invalid(dir: string, message: string, details?: Record<string, unknown>): SpacedriveError {
  return new SpacedriveError(ErrorCode.EXTENSION_INVALID, `${message} (package ${dir})`, { package: dir, ...details });
}

/**
 * Checks a parsed manifest (without touching the module). Returns it with defaults applied.
 * Throws EXTENSION_INVALID / ABI_UNSUPPORTED naming what is wrong.
 */
export function validateManifest(raw: unknown, host: ExtensionHostOptions, where = 'manifest.json'): ExtensionManifest {
  // Ajv applies defaults in place: work on a copy so the caller's object is left alone.
  const manifest = validateManifestShape(structuredClone(raw));
  if (!SUPPORTED_ABI_VERSIONS.includes(manifest.abi_version)) {
    throw new SpacedriveError(
      ErrorCode.ABI_UNSUPPORTED,
      `extension '${manifest.id}' (${where}) targets ABI version ${manifest.abi_version}; this host supports ABI version ${SUPPORTED_ABI_VERSIONS.join(', ')}`,
      { id: manifest.id, abi_version: manifest.abi_version, supported: [...SUPPORTED_ABI_VERSIONS] },
    );
  }
  effectiveLimits(manifest, host, true);
  const permissions = manifest.permissions as ManifestPermissions & { dispatch_jobs?: boolean };
  if (permissions.dispatch_jobs === true) {
    throw new SpacedriveError(
      ErrorCode.EXTENSION_INVALID,
      `extension '${manifest.id}': permissions.dispatch_jobs is no longer supported; list the job types it may dispatch in permissions.dispatch (e.g. ["files.copy", "other-ext:*"]) and the paths core may touch for it in permissions.filesystem; its own job types need no grant`,
      { id: manifest.id, field: 'permissions.dispatch_jobs' },
    );
  }
  delete permissions.dispatch_jobs;
  for (const grant of manifest.permissions.filesystem) {
    if (!isAbsolute(grant.path)) {
      throw new SpacedriveError(
        ErrorCode.EXTENSION_INVALID,
        `extension '${manifest.id}': permissions.filesystem path '${grant.path}' must be absolute`,
        { id: manifest.id, field: 'permissions.filesystem' },
      );
    }
  }
  for (const prefix of manifest.permissions.call) {
    if (!/^(query|action):/.test(prefix)) {
      throw new SpacedriveError(
        ErrorCode.EXTENSION_INVALID,
        `extension '${manifest.id}': permissions.call entry '${prefix}' must start with 'query:' or 'action:' (e.g. 'query:core.')`,
        { id: manifest.id, field: 'permissions.call' },
      );
    }
  }
  const validateConfig = compileSchema(manifest.config_schema, { code: ErrorCode.EXTENSION_INVALID, what: `config of extension '${manifest.id}'` });
  manifest.config = validateConfig(manifest.config ?? {});
  return manifest;
}

export interface ExtensionPackage {
  /** Absolute path of the package directory. */
  dir: string;
  manifest: ExtensionManifest;
  /** The module's bytes, checked against `manifest.sha256`. */
  wasm: Uint8Array;
}

/**
 * An extension's source folder (extensions/<id> in this repository) has a manifest without
 * `module` and `sha256`: the build writes those, with the module, into build/extensions/<id>.
 * Installing the source folder is refused with that step, rather than as two missing fields.
 */
async function refuseSourceFolder(dir: string, raw: unknown): Promise<void> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || 'module' in raw) return;
  const id = typeof (raw as { id?: unknown }).id === 'string' ? (raw as { id: string }).id : undefined;
  const entries = await readdir(dir).catch(() => [] as string[]);
  if (entries.some((name) => name.endsWith('.wasm'))) return;
  // <repo>/extensions/<id> is built into <repo>/build/extensions/<id>.
  const built = id === undefined ? undefined : resolve(dir, '..', '..', 'build', 'extensions', id);
  const builtExists = built !== undefined && (await stat(join(built, MANIFEST_FILE)).catch(() => undefined)) !== undefined;
  const target = builtExists ? built : `build/extensions/${id ?? '<id>'}`;
  throw invalid(
    dir,
    `this is an extension's source folder: its manifest names no built module ('module' and 'sha256' are written by the build); run 'npm run build' in the repository and install ${target}`,
    { ...(id !== undefined ? { id } : {}), built: target },
  );
}

/**
 * Reads and checks the package in `dir` (a directory, or the path of its manifest.json).
 */
export async function readPackage(path: string, host: ExtensionHostOptions): Promise<ExtensionPackage> {
  let dir = resolve(path);
  const st = await stat(dir).catch(() => undefined);
  if (!st) throw new SpacedriveError(ErrorCode.NOT_FOUND, `no extension package at ${dir}`, { package: dir });
  if (st.isFile() && basename(dir) === MANIFEST_FILE) dir = resolve(dir, '..');
  else if (!st.isDirectory()) throw invalid(dir, `an extension package is a directory holding ${MANIFEST_FILE} and its module`);

  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    throw invalid(dir, `no ${MANIFEST_FILE} in the package`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid(dir, `${MANIFEST_FILE} is not valid JSON: ${(err as Error).message}`);
  }
  await refuseSourceFolder(dir, raw);
  let manifest: ExtensionManifest;
  try {
    manifest = validateManifest(raw, host, join(dir, MANIFEST_FILE));
  } catch (err) {
    if (err instanceof SpacedriveError) {
      throw new SpacedriveError(err.code, `${err.message} (package ${dir})`, { package: dir, ...err.details });
    }
    throw err;
  }
  let wasm: Buffer;
  try {
    wasm = await readFile(join(dir, manifest.module));
  } catch {
    throw invalid(dir, `the module '${manifest.module}' named by the manifest is missing`, { id: manifest.id, module: manifest.module });
  }
  const actual = createHash('sha256').update(wasm).digest('hex');
  if (actual !== manifest.sha256.toLowerCase()) {
    throw invalid(dir, `SHA-256 of '${manifest.module}' is ${actual} but the manifest says ${manifest.sha256}: the module was changed or the manifest is stale`, {
      id: manifest.id,
      expected: manifest.sha256,
      actual,
    });
  }
  return { dir, manifest, wasm: new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength) };
}
