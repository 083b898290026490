import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeFlags, flagsToPayload, validatePayload } from '../../src/cli/flags.js';
import { copyInputSchema } from '../../src/files/operations.js';

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string' },
    max_results: { type: 'integer', minimum: 1 },
    ratio: { type: 'number' },
    dry_run: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' } },
    ids: { type: 'array', items: { type: 'integer' } },
    filters: { type: 'array', items: { type: 'object' } },
    meta: { type: 'object' },
    mode: { enum: ['fast', 'slow'] },
    parent: { type: ['string', 'null'] },
    pdf: { type: 'string', contentEncoding: 'base64' },
    options: { type: 'object', properties: { depth: { type: 'integer' }, follow_links: { type: 'boolean' } } },
  },
};

function problemsOf(fn: () => unknown): Array<{ flag: string; expected: string; got?: string }> {
  try {
    fn();
  } catch (err) {
    expect((err as { code: string }).code).toBe('INVALID_INPUT');
    return (err as { details: { problems: Array<{ flag: string; expected: string; got?: string }> } }).details.problems;
  }
  throw new Error('expected an INVALID_INPUT error');
}

describe('flagsToPayload', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sd-flags-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('maps kebab-case flags to snake_case fields and exact names too', () => {
    expect(flagsToPayload(schema, ['--name', 'x', '--max-results', '5'])).toEqual({ name: 'x', max_results: 5 });
    expect(flagsToPayload(schema, ['--max_results=7'])).toEqual({ max_results: 7 });
  });

  it('converts numbers and integers, and rejects what is not one', () => {
    expect(flagsToPayload(schema, ['--ratio', '0.25', '--max-results', '-3'])).toEqual({ ratio: 0.25, max_results: -3 });
    expect(problemsOf(() => flagsToPayload(schema, ['--max-results', '2.5']))).toEqual([
      { flag: '--max-results', field: 'max_results', expected: 'an integer', got: '2.5' },
    ]);
    expect(problemsOf(() => flagsToPayload(schema, ['--ratio', 'lots']))[0]).toMatchObject({ flag: '--ratio', expected: 'a number', got: 'lots' });
  });

  it('takes booleans as --flag, --no-flag and --flag true/false', () => {
    expect(flagsToPayload(schema, ['--dry-run'])).toEqual({ dry_run: true });
    expect(flagsToPayload(schema, ['--no-dry-run'])).toEqual({ dry_run: false });
    expect(flagsToPayload(schema, ['--dry-run', 'false', '--name', 'n'])).toEqual({ dry_run: false, name: 'n' });
    expect(flagsToPayload(schema, ['--dry-run=yes'])).toEqual({ dry_run: true });
    expect(problemsOf(() => flagsToPayload(schema, ['--dry-run=maybe']))[0]).toMatchObject({ flag: '--dry-run', expected: 'a boolean' });
  });

  it('builds arrays from repeated flags, comma lists and JSON arrays, converting each item', () => {
    expect(flagsToPayload(schema, ['--tags', 'a', '--tags', 'b,c'])).toEqual({ tags: ['a', 'b', 'c'] });
    expect(flagsToPayload(schema, ['--ids', '1,2', '--ids', '3'])).toEqual({ ids: [1, 2, 3] });
    expect(flagsToPayload(schema, ['--ids', '[4,5]'])).toEqual({ ids: [4, 5] });
    expect(flagsToPayload(schema, ['--filters', '{"a":1}', '--filters', '{"b":2}'])).toEqual({ filters: [{ a: 1 }, { b: 2 }] });
    expect(problemsOf(() => flagsToPayload(schema, ['--ids', '1,x']))[0]).toMatchObject({ flag: '--ids', expected: 'an integer (each item)' });
  });

  it('parses objects as JSON and nested fields with dots', () => {
    expect(flagsToPayload(schema, ['--meta', '{"k":[1,2]}'])).toEqual({ meta: { k: [1, 2] } });
    expect(flagsToPayload(schema, ['--options.depth', '3', '--options.follow-links'])).toEqual({ options: { depth: 3, follow_links: true } });
    expect(problemsOf(() => flagsToPayload(schema, ['--meta', 'not json']))[0]).toMatchObject({ flag: '--meta', expected: 'a JSON object' });
  });

  it('checks enums and accepts null for nullable fields', () => {
    expect(flagsToPayload(schema, ['--mode', 'fast', '--parent', 'null'])).toEqual({ mode: 'fast', parent: null });
    expect(problemsOf(() => flagsToPayload(schema, ['--mode', 'medium']))[0]).toMatchObject({ flag: '--mode', expected: 'one of "fast", "slow"' });
  });

  it('reads a file given for a binary field and sends it base64-encoded', () => {
    const file = join(dir, 'receipt.pdf');
    const bytes = Buffer.from([0x25, 0x50, 0x44, 0x46, 0x00, 0xff, 0x10]);
    writeFileSync(file, bytes);
    expect(flagsToPayload(schema, ['--pdf', file])).toEqual({ pdf: bytes.toString('base64') });
    expect(flagsToPayload(schema, ['--pdf', 'receipt.pdf'], { cwd: dir })).toEqual({ pdf: bytes.toString('base64') });
    const [problem] = problemsOf(() => flagsToPayload(schema, ['--pdf', join(dir, 'missing.pdf')]));
    expect(problem).toMatchObject({ flag: '--pdf' });
    expect(problem!.expected).toContain('no such file');
  });

  it('names unknown flags with the known ones, and rejects stray arguments and repeated scalars', () => {
    const problems = problemsOf(() => flagsToPayload(schema, ['--nmae', 'x', 'stray', '--name', 'a', '--name', 'b']));
    expect(problems.map((p) => p.flag)).toEqual(['--nmae', 'stray', '--name']);
    expect(problems[0]!.expected).toContain('--max-results');
    expect(problems[2]!.expected).toContain('once');
  });

  it('reports a missing value, and names every problem in the message', () => {
    try {
      flagsToPayload(schema, ['--ratio', 'x', '--name']);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain("--ratio: expected a number, got 'x'");
      expect((err as Error).message).toContain('--name: expected a value');
    }
  });

  it('lets flags override a base payload without changing it', () => {
    const base = { name: 'from-json', tags: ['x'] };
    expect(flagsToPayload(schema, ['--name', 'flag'], { base })).toEqual({ name: 'flag', tags: ['x'] });
    expect(base).toEqual({ name: 'from-json', tags: ['x'] });
  });

  it('accepts any flag for a method without an input schema, values as JSON when they parse', () => {
    expect(flagsToPayload(undefined, ['--some-thing', '3', '--label', 'hi', '--verbose'])).toEqual({ some_thing: 3, label: 'hi', verbose: true });
  });

  it('works with the files.copy schema', () => {
    expect(flagsToPayload(copyInputSchema, ['--sources', 'a,b', '--destination', 'out', '--overwrite'])).toEqual({
      sources: ['a', 'b'],
      destination: 'out',
      overwrite: true,
    });
  });
});

describe('validatePayload', () => {
  it('reports missing required fields and wrong types by flag name', () => {
    const problems = problemsOf(() => validatePayload(copyInputSchema, { sources: [] }));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ flag: '--destination', expected: 'a value (it is required)' }),
        expect.objectContaining({ flag: '--sources' }),
      ]),
    );
  });

  it('does not add defaults to the payload it checks', () => {
    const payload = { sources: ['a'], destination: 'b' };
    validatePayload(copyInputSchema, payload);
    expect(payload).toEqual({ sources: ['a'], destination: 'b' });
  });
});

describe('describeFlags', () => {
  it('lists each field as a flag with its type', () => {
    const rows = describeFlags(copyInputSchema);
    expect(rows.map((r) => r.flag)).toEqual(['--sources', '--destination', '--overwrite']);
    expect(rows.find((r) => r.flag === '--overwrite')).toMatchObject({ type: 'boolean', required: false });
    expect(describeFlags(schema).find((r) => r.flag === '--pdf')!.type).toBe('FILE');
  });
});

describe('validatePayload messages', () => {
  it('names the list flag and the item for a bad list item, in plain words', () => {
    const schema = { type: 'object', properties: { pages: { type: 'array', items: { type: 'integer', minimum: 1 } } } };
    expect(problemsOf(() => validatePayload(schema, { pages: [2, 0] }))).toEqual([
      { flag: '--pages', field: 'pages.1', expected: 'a value >= 1 (item 2)' },
    ]);
  });
});
