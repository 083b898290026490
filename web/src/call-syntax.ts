/**
 * A call as the other clients spell it, for the methods explorer to show and copy: the
 * `spacedrive query|action` command line (docs/cli.md) and the GraphQL document (docs/http-api.md).
 * No DOM here: test/unit/dashboard-call-syntax.test.ts checks these against the CLI's own flag
 * parser and the GraphQL server's own name mapping.
 */
import type { JsonSchema, MethodInfo } from './api.js';

const METHOD = /^(query|action):(?:([a-z][a-z0-9_-]*):)?([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*?)(\.input)?\.v(\d+)$/;

/** `query:finance:classify_receipt.v1` → `finance:classify_receipt`; `action:files.copy.input.v2` → `files.copy.v2` (what the CLI takes). */
export function cliName(method: string): string {
  const m = METHOD.exec(method);
  if (!m) return method;
  const base = m[2] ? `${m[2]}:${m[3]}` : m[3]!;
  return m[5] === '1' ? base : `${base}.v${m[5]}`;
}

const camel = (part: string) => part.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** The GraphQL field of a method: `finance_classifyReceipt`, `jobs_getStatus`, `core_status_v2`. */
export function graphqlField(method: string): string {
  const m = METHOD.exec(method);
  if (!m) return method;
  const base = m[2] ? `${m[2].replace(/-/g, '_')}_${camel(m[3]!)}` : m[3]!.split('.').map(camel).join('_');
  return m[5] === '1' ? base : `${base}_v${m[5]}`;
}

/** The argument of a library-scoped GraphQL field that carries the library (docs/http-api.md). */
export const GRAPHQL_LIBRARY_ARG = '_library_id';

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const isScalar = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/**
 * The call's command line as words: scalars and lists of scalars as `--field value` (a list as one
 * comma-separated value), a binary field as the file chosen for it (the CLI reads a path there),
 * and, when some value is nested, the whole payload as `--json-input`.
 */
export function cliWords(m: Pick<MethodInfo, 'method' | 'kind'>, payload: Record<string, unknown>, files: Record<string, string> = {}, libraryId = ''): string[] {
  const words = ['spacedrive', m.kind, cliName(m.method)];
  const entries = Object.entries(payload);
  const flat = entries.every(([k, v]) => files[k] !== undefined || isScalar(v) || (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number') && v.every((x) => !String(x).includes(','))));
  if (!flat) {
    const shown = Object.fromEntries(entries.map(([k, v]) => [k, files[k] !== undefined ? `<base64 of ${files[k]}>` : v]));
    words.push('--json-input', JSON.stringify(shown));
  } else {
    for (const [k, v] of entries) {
      const flag = `--${k.replace(/_/g, '-')}`;
      if (files[k] !== undefined) words.push(flag, files[k]!);
      else if (v === true) words.push(flag);
      else if (Array.isArray(v)) words.push(flag, v.join(','));
      // `--flag=value` where the value would read as a flag of its own.
      else if (String(v).startsWith('-')) words.push(`${flag}=${String(v)}`);
      else words.push(flag, String(v));
    }
  }
  if (libraryId) words.push('--library', libraryId);
  return words;
}

export function cliCommand(m: Pick<MethodInfo, 'method' | 'kind'>, payload: Record<string, unknown>, files: Record<string, string> = {}, libraryId = ''): string {
  return cliWords(m, payload, files, libraryId).map(shellQuote).join(' ');
}

function graphqlValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(graphqlValue).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}: ${graphqlValue(x)}`).join(', ')}}`;
  return JSON.stringify(v);
}

function hasProperties(schema: JsonSchema): boolean {
  return Object.keys(schema.properties ?? {}).length > 0;
}

/**
 * The call as a GraphQL document: the input's properties are the field's arguments (an input
 * without properties is one `input: JSON` argument), an object output is read whole as `_json`.
 */
export function graphqlDocument(m: Pick<MethodInfo, 'method' | 'kind' | 'input_schema' | 'output_schema'>, payload: Record<string, unknown>, files: Record<string, string> = {}, libraryId = ''): string {
  const op = m.kind === 'query' ? 'query' : 'mutation';
  const value = (k: string, v: unknown) => (files[k] !== undefined ? `"<base64 of ${files[k]}>"` : graphqlValue(v));
  const args = hasProperties(m.input_schema)
    ? Object.entries(payload).map(([k, v]) => `${k}: ${value(k, v)}`)
    : Object.keys(payload).length > 0
      ? [`input: ${graphqlValue(payload)}`]
      : [];
  if (libraryId) args.push(`${GRAPHQL_LIBRARY_ARG}: ${JSON.stringify(libraryId)}`);
  const selection = hasProperties(m.output_schema) ? ' { _json }' : '';
  return `${op} {\n  ${graphqlField(m.method)}${args.length ? `(${args.join(', ')})` : ''}${selection}\n}`;
}
