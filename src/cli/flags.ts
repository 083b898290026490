/**
 * Turning command-line flags into a JSON payload, guided by the method's (or job's) input
 * schema. Used by `spacedrive query`, `spacedrive action` and `spacedrive jobs dispatch`.
 *
 * Rules (docs/cli.md repeats them for users):
 * - `--some-field v` fills `some_field` (kebab-case becomes snake_case; the exact name works
 *   too). `--a.b v` fills the nested field `a.b`. `--field=v` is the same as `--field v`.
 * - integers and numbers are parsed and checked; booleans are `--flag`, `--no-flag`,
 *   `--flag true|false` (also yes/no, 1/0, on/off).
 * - arrays: repeat the flag, or give a comma-separated list (arrays of scalars), or a JSON array.
 * - objects: a JSON object (`--meta '{"a":1}'`).
 * - a string field marked binary (`"contentEncoding": "base64"`) takes a file path; the file is
 *   read and sent base64-encoded (`-` reads standard input).
 * - a field typed `null` (or nullable) takes the literal `null`.
 * - an unknown flag, a value of the wrong type, a flag given twice for a single-valued field,
 *   or a stray positional argument is an INVALID_INPUT error naming the flag and what was
 *   expected; {@link validatePayload} then reports missing required fields by flag name.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { compileSchema, type JsonSchema } from '../schema/index.js';

type Schema = Record<string, unknown>;

/** One problem with a flag: which flag, which payload field, what was expected. */
export interface FlagProblem {
  flag: string;
  field: string;
  expected: string;
  got?: string;
  /** Said instead of "expected …, got …" where that reads better (an empty file). */
  message?: string;
}

export interface FlagsToPayloadOptions {
  /** Payload to start from (from `--json-input` or `--input`); flags override its fields. */
  base?: Record<string, unknown>;
  /** Directory relative file paths (binary fields) are resolved against. Default `process.cwd()`. */
  cwd?: string;
  /** Reads a binary field's file; default `fs.readFileSync` (`-` means standard input). */
  readFile?: (path: string) => Buffer;
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

/** `--some-field` → the schema's `some_field` (or `some-field` when that is the name). */
function resolveProperty(properties: Record<string, Schema>, name: string): string | undefined {
  if (Object.hasOwn(properties, name)) return name;
  const snake = name.replace(/-/g, '_');
  if (Object.hasOwn(properties, snake)) return snake;
  return undefined;
}

function propertiesOf(schema: Schema): Record<string, Schema> {
  const props = schema.properties;
  return props && typeof props === 'object' ? (props as Record<string, Schema>) : {};
}

/** True when the schema constrains nothing (no schema given, `{}` or `true`). */
function isOpenSchema(schema: JsonSchema | undefined): boolean {
  if (schema === undefined || schema === true) return true;
  if (typeof schema !== 'object') return false;
  return Object.keys(schema).filter((k) => !['description', 'title', '$schema', '$id'].includes(k)).length === 0;
}

/** The JSON types a schema accepts, looking through `anyOf`/`oneOf` and `enum`/`const`. */
function typesOf(schema: Schema): Set<string> {
  const out = new Set<string>();
  const t = schema.type;
  if (typeof t === 'string') out.add(t);
  else if (Array.isArray(t)) for (const x of t) out.add(String(x));
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches)) for (const b of branches) if (b && typeof b === 'object') for (const x of typesOf(b as Schema)) out.add(x);
  }
  const values = Array.isArray(schema.enum) ? schema.enum : 'const' in schema ? [schema.const] : undefined;
  if (out.size === 0 && values) {
    for (const v of values) out.add(v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? 'number' : typeof v);
  }
  if (out.has('integer') && out.has('number')) out.delete('integer');
  return out;
}

/** The items schema of an array schema (looking through `anyOf`/`oneOf`). */
function itemsOf(schema: Schema): Schema {
  if (schema.items && typeof schema.items === 'object' && !Array.isArray(schema.items)) return schema.items as Schema;
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches)) {
      for (const b of branches) {
        const branch = b as Schema;
        if (branch && typeof branch === 'object' && typesOf(branch).has('array')) return itemsOf(branch);
      }
    }
  }
  return {};
}

function isBinary(schema: Schema): boolean {
  if (schema.contentEncoding === 'base64') return true;
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.some((b) => b && typeof b === 'object' && isBinary(b as Schema))) return true;
  }
  return false;
}

function describeType(schema: Schema): string {
  if (isBinary(schema)) return 'a file path (its content is sent base64-encoded)';
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  const types = [...typesOf(schema)];
  if (types.length === 0) return 'a value';
  return types
    .map((t) =>
      t === 'integer' ? 'an integer' : t === 'array' ? 'a list' : t === 'object' ? 'a JSON object' : t === 'null' ? 'null' : `a ${t}`,
    )
    .join(' or ');
}

class ConversionProblem extends Error {
  constructor(
    readonly expected: string,
    /** The whole problem in plain words, when "expected …, got …" would not read well. */
    readonly plain?: string,
  ) {
    super(plain ?? expected);
  }
}

/** Converts one textual value to what `schema` expects. Throws ConversionProblem. */
function convertScalar(schema: Schema, raw: string, opts: Required<Pick<FlagsToPayloadOptions, 'cwd' | 'readFile'>>): unknown {
  if (isBinary(schema)) {
    let bytes: Buffer;
    try {
      bytes = opts.readFile(raw === '-' ? '-' : resolve(opts.cwd, raw));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'no permission' : (err as Error).message;
      throw new ConversionProblem(`a readable file path (cannot read '${raw}': ${why})`);
    }
    // Said here: the schema's "expected not fewer than 1 characters" is about the base64 text.
    if (bytes.length === 0 && typeof schema.minLength === 'number' && schema.minLength > 0) {
      throw new ConversionProblem('a file with content', `file '${raw}' is empty`);
    }
    return bytes.toString('base64');
  }
  const types = typesOf(schema);
  const enumValues = Array.isArray(schema.enum) ? (schema.enum as unknown[]) : undefined;
  const candidates: unknown[] = [];
  // Try the types in an order that never loses information: the literal null, booleans and
  // numbers first, JSON for structured values, the plain string last.
  if (types.has('null') && raw === 'null') candidates.push(null);
  if (types.has('boolean')) {
    const lower = raw.toLowerCase();
    if (TRUE_WORDS.has(lower)) candidates.push(true);
    else if (FALSE_WORDS.has(lower)) candidates.push(false);
  }
  if ((types.has('integer') || types.has('number')) && raw.trim() !== '' && Number.isFinite(Number(raw))) {
    const n = Number(raw);
    if (types.has('number') || Number.isInteger(n)) candidates.push(n);
  }
  if (types.has('object') || types.has('array')) {
    try {
      const parsed: unknown = JSON.parse(raw);
      const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'array' : typeof parsed;
      if (types.has(kind)) candidates.push(parsed);
    } catch {
      // not JSON; falls through to the error below unless a string is also accepted
    }
  }
  if (types.size === 0) {
    // An untyped field: a JSON value when the text is one (3, true, [1,2]), else the text.
    try {
      candidates.push(JSON.parse(raw));
    } catch {
      candidates.push(raw);
    }
  }
  if (types.has('string')) candidates.push(raw);
  for (const c of candidates) {
    if (!enumValues || enumValues.some((v) => v === c)) return c;
  }
  throw new ConversionProblem(describeType(schema));
}

interface ResolvedFlag {
  /** Path in the payload: `['a', 'b']` for `--a.b`. */
  path: string[];
  schema: Schema;
  /** `--no-flag` of a boolean. */
  negated: boolean;
}

/** Finds the schema field for a flag name (without the leading dashes). */
function resolveFlag(root: Schema, name: string): ResolvedFlag | undefined {
  const lookup = (negated: boolean, parts: string[]): ResolvedFlag | undefined => {
    let schema = root;
    const path: string[] = [];
    for (const part of parts) {
      if (isOpenSchema(schema)) {
        path.push(part.replace(/-/g, '_'));
        schema = {};
        continue;
      }
      const props = propertiesOf(schema);
      const key = resolveProperty(props, part);
      if (key !== undefined) {
        path.push(key);
        schema = props[key] ?? {};
        continue;
      }
      const extra = schema.additionalProperties;
      if (extra && typeof extra === 'object') {
        path.push(part);
        schema = extra as Schema;
        continue;
      }
      return undefined;
    }
    return { path, schema, negated };
  };
  const parts = name.split('.');
  const direct = lookup(false, parts);
  if (direct) return direct;
  if (name.startsWith('no-')) {
    const negated = lookup(true, name.slice(3).split('.'));
    if (negated && typesOf(negated.schema).has('boolean')) return negated;
  }
  return undefined;
}

function knownFlags(schema: Schema): string[] {
  return Object.keys(propertiesOf(schema)).map((k) => `--${k.replace(/_/g, '-')}`);
}

function usage(problems: FlagProblem[]): SpacedriveError {
  const text = problems.map((p) => `${p.flag}: ${p.message ?? `expected ${p.expected}${p.got !== undefined ? `, got '${p.got}'` : ''}`}`).join('; ');
  return new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: ${text}`, { problems });
}

function getPath(obj: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    const next = cur[p];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

/**
 * Converts command-line tokens (`['--sources', 'a', '--sources', 'b', '--overwrite']`) into a
 * payload using the input schema. Throws INVALID_INPUT whose `details.problems` lists each
 * problem as `{ flag, field, expected, got? }`.
 *
 * @example
 * flagsToPayload(schema, ['--destination', 'out', '--sources', 'a,b', '--no-overwrite'])
 * // → { destination: 'out', sources: ['a', 'b'], overwrite: false }
 */
export function flagsToPayload(schema: JsonSchema | undefined, tokens: readonly string[], options: FlagsToPayloadOptions = {}): Record<string, unknown> {
  const root: Schema = schema && typeof schema === 'object' ? schema : {};
  const opts = {
    cwd: options.cwd ?? process.cwd(),
    readFile: options.readFile ?? ((path: string) => readFileSync(path === '-' ? 0 : path)),
  };
  const payload: Record<string, unknown> = structuredClone(options.base ?? {});
  const problems: FlagProblem[] = [];
  // Fields set by a flag in this call: a repeated array flag appends, a repeated scalar is an error.
  const setByFlag = new Set<string>();
  // The last boolean flag given without a value, to explain a stray word right after it.
  let lastSwitch: { index: number; flag: string; field: string } | undefined;

  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '--') continue;
    if (!token.startsWith('--') || token.length === 2) {
      // Right after a boolean switch, a stray word is most likely a mistyped value for it.
      const previous = lastSwitch !== undefined && lastSwitch.index === i - 1 ? lastSwitch : undefined;
      if (previous) problems.push({ flag: previous.flag, field: previous.field, expected: 'no value, or one of true, false, yes, no, on, off, 1, 0', got: token });
      else problems.push({ flag: token, field: '', expected: 'a --flag (positional arguments are not accepted here)', got: token });
      continue;
    }
    const eq = token.indexOf('=');
    const name = eq === -1 ? token.slice(2) : token.slice(2, eq);
    const inline = eq === -1 ? undefined : token.slice(eq + 1);
    const flag = `--${name}`;
    const resolved = name === '' ? undefined : resolveFlag(root, name);
    if (!resolved) {
      const known = knownFlags(root);
      problems.push({ flag, field: name.replace(/-/g, '_'), expected: known.length ? `one of the known flags: ${known.join(', ')}` : 'no flags (this method takes no input fields)' });
      // Skip the value that probably belongs to the unknown flag, so one typo gives one error.
      if (inline === undefined && i + 1 < tokens.length && !tokens[i + 1]!.startsWith('--')) i++;
      continue;
    }
    const field = resolved.path.join('.');
    const types = typesOf(resolved.schema);
    const isBooleanOnly = types.size > 0 && [...types].every((t) => t === 'boolean' || t === 'null') && types.has('boolean');

    // The value: inline, the next token, or none (booleans).
    let raw: string | undefined = inline;
    const untypedSwitch = types.size === 0 && (i + 1 >= tokens.length || tokens[i + 1]!.startsWith('--'));
    if (raw === undefined && !(resolved.negated || isBooleanOnly || untypedSwitch)) {
      if (i + 1 >= tokens.length) {
        problems.push({ flag, field, expected: `a value (${describeType(resolved.schema)})` });
        continue;
      }
      raw = tokens[++i]!;
    } else if (raw === undefined && isBooleanOnly && !resolved.negated && i + 1 < tokens.length) {
      const next = tokens[i + 1]!.toLowerCase();
      if (TRUE_WORDS.has(next) || FALSE_WORDS.has(next)) raw = tokens[++i]!;
    }

    let value: unknown;
    try {
      if (resolved.negated) {
        if (raw !== undefined) throw new ConversionProblem(`no value after ${flag} (use --${name.slice(3)}=${raw})`);
        value = false;
      } else if (raw === undefined) {
        value = true;
        lastSwitch = { index: i, flag, field };
      } else if (types.has('array') && !types.has('string')) {
        const items = itemsOf(resolved.schema);
        const itemTypes = typesOf(items);
        const scalarItems = !itemTypes.has('object') && !itemTypes.has('array');
        let parts: string[] | undefined;
        if (raw.trimStart().startsWith('[')) {
          try {
            const parsed: unknown = JSON.parse(raw);
            if (Array.isArray(parsed)) value = parsed;
          } catch {
            // not a JSON array: treat as one item / a comma-separated list below
          }
        }
        if (value === undefined) {
          parts = scalarItems && !isBinary(items) ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : [raw];
          value = parts.map((p) => convertScalar(items, p, opts));
        }
        const previous = setByFlag.has(field) ? getPath(payload, resolved.path) : undefined;
        if (Array.isArray(previous)) value = [...previous, ...(value as unknown[])];
      } else {
        value = convertScalar(resolved.schema, raw, opts);
      }
    } catch (err) {
      if (!(err instanceof ConversionProblem)) throw err;
      const itemNote = types.has('array') && !types.has('string') ? ' (each item)' : '';
      problems.push({ flag, field, expected: `${err.expected}${itemNote}`, ...(raw !== undefined ? { got: raw } : {}), ...(err.plain ? { message: err.plain } : {}) });
      continue;
    }
    if (setByFlag.has(field) && !Array.isArray(value)) {
      problems.push({ flag, field, expected: 'to be given once (it is not a list)', got: raw ?? String(value) });
      continue;
    }
    setByFlag.add(field);
    setPath(payload, resolved.path, value);
  }
  if (problems.length > 0) throw usage(problems);
  return payload;
}

/** Ajv's "must be >= 1" reads as "expected must be >= 1"; make it "expected a value >= 1". */
function humanizeExpectation(expected: string): string {
  return expected
    .replace(/^must be /, 'a value ')
    .replace(/^must NOT have /, 'not ')
    .replace(/^must NOT be /, 'not ')
    .replace(/^must /, 'to ');
}

/** `sources` → `--sources`, `a.b_c` → `--a.b-c`: how a payload field is spelled as a flag. */
export function fieldToFlag(field: string): string {
  return `--${field.replace(/_/g, '-')}`;
}

/**
 * Checks a payload against the schema before it is sent, so that a missing required field or a
 * wrong type is reported by flag name (exit code 2) instead of by the daemon. Throws
 * INVALID_INPUT with `details.problems` as `{ flag, field, expected }`.
 */
export function validatePayload(schema: JsonSchema | undefined, payload: unknown): void {
  if (schema === undefined || isOpenSchema(schema)) return;
  let validate;
  try {
    validate = compileSchema(schema);
  } catch {
    return; // a schema this side cannot compile is left to the daemon to enforce
  }
  try {
    // Validation fills in defaults; check a copy so exactly what the user gave is sent.
    validate(structuredClone(payload));
  } catch (err) {
    const details = (err as SpacedriveError).details as { problems?: Array<{ field: string; expected: string }> } | undefined;
    if (!details?.problems) throw err;
    throw usage(
      details.problems.map((p) => {
        // `pages.0` is the first item of the list flag --pages.
        const parts = p.field.split('.');
        const index = parts.findIndex((x) => /^\d+$/.test(x));
        const flagPath = index === -1 ? p.field : parts.slice(0, index).join('.');
        const item = index === -1 ? '' : ` (item ${Number(parts[index]) + 1})`;
        return {
          flag: p.field === '(root)' ? 'the input' : fieldToFlag(flagPath),
          field: p.field,
          expected: `${humanizeExpectation(p.expected)}${item}`,
        };
      }),
    );
  }
}

/** One line per input field: how to pass it as a flag, its type and description (for help texts). */
export function describeFlags(schema: JsonSchema | undefined): Array<{ flag: string; type: string; required: boolean; description: string }> {
  if (!schema || typeof schema !== 'object') return [];
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  return Object.entries(propertiesOf(schema)).map(([name, prop]) => {
    const types = typesOf(prop);
    let type = isBinary(prop) ? 'FILE' : Array.isArray(prop.enum) ? prop.enum.map((v) => String(v)).join('|') : [...types].join('|') || 'JSON';
    if (types.has('array')) type = `${typesOf(itemsOf(prop)).values().next().value ?? 'value'}[] (repeat or a,b)`;
    if (types.has('boolean') && types.size === 1) type = 'boolean';
    const defaultNote = 'default' in prop ? ` (default ${JSON.stringify(prop.default)})` : '';
    return {
      flag: fieldToFlag(name),
      type,
      required: required.has(name),
      description: `${typeof prop.description === 'string' ? prop.description : ''}${defaultNote}`.trim(),
    };
  });
}
