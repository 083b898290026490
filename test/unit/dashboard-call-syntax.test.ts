/**
 * The methods explorer's "same call as a CLI command / as GraphQL" (web/src/call-syntax.ts) is
 * checked against the parts that read them: the CLI's method names and flag parser
 * (src/cli/commands/call.ts, src/cli/flags.ts) and the GraphQL server's field names
 * (src/http-server/graphql.ts), for every core method and extension-style names.
 */
import { describe, expect, it } from 'vitest';
import { cliName, cliWords, graphqlDocument, graphqlField, shellQuote } from '../../web/src/call-syntax.js';
import { shortMethodName } from '../../src/cli/commands/call.js';
import { flagsToPayload } from '../../src/cli/flags.js';
import { CORE_OPERATIONS } from '../../src/core/index.js';
import { graphqlFieldName } from '../../src/http-server/graphql.js';
import type { JsonSchema } from '../../src/schema/index.js';

const EXTENSION_METHODS = ['query:finance:classify_receipt.v1', 'action:finance:import_receipt.input.v1', 'query:my-ext:do_thing.v3', 'action:hello:greet_all_people.input.v2'];
const METHODS = [...CORE_OPERATIONS.map((o) => o.method), ...EXTENSION_METHODS];

describe('the explorer names methods as the CLI and GraphQL do', () => {
  it.each(METHODS)('%s', (method) => {
    expect(cliName(method)).toBe(shortMethodName(method));
    expect(graphqlField(method)).toBe(graphqlFieldName(method));
  });
});

describe('the CLI command it shows gives the CLI the same payload', () => {
  const copy = CORE_OPERATIONS.find((o) => o.method === 'action:files.copy.input.v1')!;
  const argsOf = (words: string[]) => words.slice(3);

  it('scalars, lists and booleans as flags', () => {
    const payload = { sources: ['a.txt', 'b c.txt'], destination: 'out dir', overwrite: true };
    const words = cliWords({ method: copy.method, kind: 'action' }, payload);
    expect(words.slice(0, 3)).toEqual(['spacedrive', 'action', 'files.copy']);
    expect(flagsToPayload(copy.input as JsonSchema, argsOf(words))).toEqual(payload);
    expect(flagsToPayload(copy.input as JsonSchema, argsOf(cliWords({ method: copy.method, kind: 'action' }, { ...payload, overwrite: false })))).toEqual({ ...payload, overwrite: false });
  });

  it('a value that starts with a dash stays a value', () => {
    const payload = { sources: ['a.txt'], destination: '-odd' };
    expect(flagsToPayload(copy.input as JsonSchema, argsOf(cliWords({ method: copy.method, kind: 'action' }, payload)))).toEqual(payload);
  });

  it('a binary field as the file chosen for it, which the CLI reads', () => {
    const schema = { type: 'object', properties: { pdf: { type: 'string', contentEncoding: 'base64' }, use_model: { type: 'boolean' } } } as JsonSchema;
    const bytes = Buffer.from('%PDF-1.4 receipt');
    const words = cliWords({ method: 'query:finance:classify_receipt.v1', kind: 'query' }, { pdf: bytes.toString('base64'), use_model: false }, { pdf: 'receipt.pdf' });
    expect(words).toEqual(['spacedrive', 'query', 'finance:classify_receipt', '--pdf', 'receipt.pdf', '--use-model', 'false']);
    const read: string[] = [];
    const payload = flagsToPayload(schema, argsOf(words), { cwd: '/x', readFile: (p) => (read.push(p), bytes) });
    expect(read).toEqual(['/x/receipt.pdf']);
    expect(payload).toEqual({ pdf: bytes.toString('base64'), use_model: false });
  });

  it('nested values as --json-input, quoted for a POSIX shell', () => {
    const payload = { job_type: 'hello:countdown', params: { from: 3 } };
    const words = cliWords({ method: 'action:jobs.dispatch.input.v1', kind: 'action' }, payload, {}, 'lib-1');
    expect(words).toEqual(['spacedrive', 'action', 'jobs.dispatch', '--json-input', JSON.stringify(payload), '--library', 'lib-1']);
    expect(shellQuote(`it's`)).toBe(`'it'\\''s'`);
  });
});

describe('the GraphQL document it shows', () => {
  it('passes the input properties as arguments and reads an object output as _json', () => {
    const method = { method: 'query:jobs.get_status.v1', kind: 'query' as const, input_schema: { type: 'object', properties: { job_id: { type: 'string' } } }, output_schema: { type: 'object', properties: { status: {} } } };
    expect(graphqlDocument(method, { job_id: 'abc' })).toBe('query {\n  jobs_getStatus(job_id: "abc") { _json }\n}');
    expect(graphqlDocument({ ...method, method: 'action:jobs.dispatch.input.v1', kind: 'action' }, { job_id: 'x' }, {}, 'lib')).toBe('mutation {\n  jobs_dispatch(job_id: "x", _library_id: "lib") { _json }\n}');
  });
});
