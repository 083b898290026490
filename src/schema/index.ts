/**
 * JSON Schema validation (Ajv, draft 2020-12 subset used by Ajv's default build) with messages
 * a person can act on: which field, and what was expected.
 *
 * Custom keyword: `"contentEncoding": "base64"` on a string marks a binary field. The CLI reads
 * a file path given for such a field and sends its bytes base64-encoded (see src/cli).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ErrorCode, SpacedriveError } from '../errors/index.js';

export type JsonSchema = Record<string, unknown> | boolean;

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext resolution.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true, coerceTypes: false });
addFormats(ajv);

export interface Validator<T = unknown> {
  /** Throws INVALID_INPUT (or the given code) describing every problem; returns the value, defaults applied. */
  (value: unknown): T;
  readonly schema: JsonSchema;
}

const cache = new WeakMap<object, ValidateFunction>();

/** Compiles a schema once. Throws CONFIG_INVALID-style errors for a schema that does not compile. */
export function compileSchema<T = unknown>(
  schema: JsonSchema,
  opts: { code?: ErrorCode | string; what?: string } = {},
): Validator<T> {
  const code = opts.code ?? ErrorCode.INVALID_INPUT;
  const what = opts.what ?? 'input';
  if (schema === true || (typeof schema === 'object' && Object.keys(schema).length === 0)) {
    const pass = ((value: unknown) => value as T) as Validator<T>;
    Object.defineProperty(pass, 'schema', { value: schema });
    return pass;
  }
  let fn: ValidateFunction | undefined = typeof schema === 'object' ? cache.get(schema) : undefined;
  if (!fn) {
    try {
      fn = ajv.compile(schema as object);
    } catch (err) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `schema for ${what} does not compile: ${(err as Error).message}`);
    }
    if (typeof schema === 'object') cache.set(schema, fn);
  }
  const compiled = fn;
  const validate = ((value: unknown) => {
    if (compiled(value)) return value as T;
    const problems = describeErrors(compiled.errors ?? []);
    throw new SpacedriveError(code, `invalid ${what}: ${problems.map((p) => p.text).join('; ')}`, {
      problems: problems.map(({ field, expected }) => ({ field, expected })),
    });
  }) as Validator<T>;
  Object.defineProperty(validate, 'schema', { value: schema });
  return validate;
}

interface Problem {
  field: string;
  expected: string;
  text: string;
}

/** Turns Ajv errors into "field `a.b`: expected …" sentences, one per field. */
export function describeErrors(errs: ErrorObject[]): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const e of errs) {
    let field = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    let expected: string;
    switch (e.keyword) {
      case 'required':
        field = field ? `${field}.${(e.params as { missingProperty: string }).missingProperty}` : (e.params as { missingProperty: string }).missingProperty;
        expected = 'a value (it is required)';
        break;
      case 'additionalProperties': {
        const extra = (e.params as { additionalProperty: string }).additionalProperty;
        field = field ? `${field}.${extra}` : extra;
        expected = 'no such field (it is not part of the schema)';
        break;
      }
      case 'type':
        expected = `type ${(e.params as { type: string }).type}`;
        break;
      case 'enum':
        expected = `one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map((v) => JSON.stringify(v)).join(', ')}`;
        break;
      default:
        // Ajv words the rest as "must …" ("must be >= 1", "must match format \"email\"").
        expected = e.message ?? e.keyword;
    }
    const key = `${field}|${expected}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const label = field === '' ? 'the payload' : `field '${field}'`;
    const text = expected.startsWith('must ') ? `${label} ${expected}` : `${label}: expected ${expected}`;
    out.push({ field: field || '(root)', expected, text });
  }
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes a binary field (a base64 string) strictly: Node's decoder silently skips characters it
 * does not know, which would hand on different bytes than the caller meant. Whitespace
 * (line-wrapped base64) is allowed. With `limit`, a field decoding to more than `maxBytes` bytes
 * is refused before it is decoded; `option` names the setting that holds the limit.
 */
export function decodeBase64Field(field: string, text: string, limit?: { maxBytes: number; option: string }): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (limit) {
    const approxBytes = Math.floor((compact.length * 3) / 4);
    if (approxBytes > limit.maxBytes) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `field '${field}' holds ${approxBytes} bytes; the limit is ${limit.maxBytes} bytes (${limit.option})`, {
        field,
        bytes: approxBytes,
        limit: limit.maxBytes,
      });
    }
  }
  if (!BASE64.test(compact)) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field '${field}' is not valid base64 (expected A-Z, a-z, 0-9, +, /, padded with =)`, {
      field,
      problems: [{ field, expected: 'base64' }],
    });
  }
  return Buffer.from(compact, 'base64');
}
