import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { generateMethodTypes, schemaToType } from '../../src/typegen/index.js';

/** Type-checks `program` with `declarations` beside it, in memory; returns the error messages. */
function typeErrors(files: Record<string, string>): string[] {
  const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, types: [], lib: ['lib.es2022.d.ts'] };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  const exists = host.fileExists.bind(host);
  host.readFile = (f) => files[f] ?? read(f);
  host.fileExists = (f) => f in files || exists(f);
  const dirExists = host.directoryExists?.bind(host);
  host.directoryExists = (d) => Object.keys(files).some((f) => f.startsWith(`${d}/`)) || (dirExists ? dirExists(d) : false);
  const getSource = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang) => (f in files ? ts.createSourceFile(f, files[f]!, lang) : getSource(f, lang));
  const program = ts.createProgram(Object.keys(files).filter((f) => f.endsWith('.ts')), options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('schemaToType', () => {
  it('maps the scalar types, lists of types, enum and const', () => {
    expect(schemaToType({ type: 'string' })).toBe('string');
    expect(schemaToType({ type: 'integer' })).toBe('number');
    expect(schemaToType({ type: ['string', 'null'] })).toBe('string | null');
    expect(schemaToType({ enum: ['a', 'b', 3, null] })).toBe('"a" | "b" | 3 | null');
    expect(schemaToType({ const: 'parser' })).toBe('"parser"');
    expect(schemaToType(true)).toBe('unknown');
    expect(schemaToType(undefined)).toBe('unknown');
    expect(schemaToType({})).toBe('unknown');
    expect(schemaToType(false)).toBe('never');
  });

  it('writes objects with required and optional members, descriptions and the additionalProperties rule', () => {
    const closed = {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: { name: { type: 'string', description: 'Who */ to greet' }, 'dash-ed': { type: 'boolean' } },
    };
    expect(schemaToType(closed)).toBe('{\n  /** Who *\\/ to greet */\n  name: string;\n  "dash-ed"?: boolean;\n}');
    expect(schemaToType({ type: 'object', properties: { a: { type: 'number' } } })).toBe('{\n  a?: number;\n  [key: string]: unknown;\n}');
    expect(schemaToType({ type: 'object', additionalProperties: { type: 'number' } })).toBe('{\n  [key: string]: number;\n}');
    expect(schemaToType({ type: 'object', additionalProperties: false, properties: {} })).toBe('Record<string, never>');
    expect(schemaToType({ type: 'object' })).toBe('{\n  [key: string]: unknown;\n}');
  });

  it('writes arrays, tuples, unions, intersections and local references', () => {
    expect(schemaToType({ type: 'array', items: { type: ['string', 'number'] } })).toBe('(string | number)[]');
    expect(schemaToType({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false })).toBe('[string, number]');
    expect(schemaToType({ anyOf: [{ type: 'string' }, { type: 'number' }] })).toBe('string | number');
    expect(schemaToType({ allOf: [{ type: 'object', required: ['a'], properties: { a: { type: 'string' } }, additionalProperties: false }, { type: 'object', required: ['b'], properties: { b: { type: 'number' } }, additionalProperties: false }] })).toBe(
      '{\n  a: string;\n} & {\n  b: number;\n}',
    );
    const withRef = { $defs: { id: { type: 'string' } }, type: 'object', additionalProperties: false, required: ['x'], properties: { x: { $ref: '#/$defs/id' } } };
    expect(schemaToType(withRef)).toBe('{\n  x: string;\n}');
    // A recursive reference ends as unknown instead of looping.
    const tree = { definitions: { node: { type: 'object', additionalProperties: false, properties: { kids: { type: 'array', items: { $ref: '#/definitions/node' } } } } }, $ref: '#/definitions/node' };
    expect(schemaToType(tree)).toBe('{\n  kids?: unknown[];\n}');
  });

  it('treats anyOf branches that only name required members as the sibling object', () => {
    const schema = { type: 'object', additionalProperties: false, anyOf: [{ required: ['id'] }, { required: ['uid'] }], properties: { id: { type: 'string' }, uid: { type: 'integer' } } };
    expect(schemaToType(schema)).toBe('{\n  id?: string;\n  uid?: number;\n}');
  });
});

describe('generateMethodTypes', () => {
  const methods = [
    {
      method: 'query:hello:greet.v1',
      kind: 'query' as const,
      owner: 'hello',
      description: 'Greets someone by name',
      input_schema: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
      output_schema: { type: 'object', required: ['greeting'], properties: { greeting: { type: 'string' } } },
    },
    { method: 'query:core.status.v1', kind: 'query' as const, owner: 'core', description: 'Status', input_schema: undefined, output_schema: undefined },
  ];

  it('augments MethodTypes of the client module, sorted by method, the same bytes for the same registry', () => {
    const text = generateMethodTypes(methods, { module: 'client' });
    expect(text).toContain("declare module \"client\" {\n  interface MethodTypes {\n    /** Status (query, core) */\n    \"query:core.status.v1\": {\n      input: unknown;");
    expect(text.indexOf('query:core.status.v1')).toBeLessThan(text.indexOf('query:hello:greet.v1'));
    expect(generateMethodTypes([...methods].reverse(), { module: 'client' })).toBe(text);
  });

  it('types job types too: params, state and output', () => {
    const text = generateMethodTypes([], {
      module: 'client',
      jobTypes: [{ job_type: 'hello:countdown', owner: 'hello', params_schema: { type: 'object', additionalProperties: false, required: ['from'], properties: { from: { type: 'integer' } } } }],
    });
    expect(text).toContain('  interface JobTypes {\n    /** (job type, extension hello) */\n    "hello:countdown": {\n      params: {\n        from: number;\n      };\n      state: unknown;\n      output: unknown;\n    };\n  }');
    expect(generateMethodTypes([], { module: 'client' })).not.toContain('JobTypes');
  });

  it('type-checks a program that uses the methods as their schemas say, and rejects one that does not', () => {
    const client = [
      'export interface MethodTypes {}',
      "type Part<M extends string, P extends 'input' | 'output'> = M extends keyof MethodTypes ? (MethodTypes[M] extends { [K in P]: infer T } ? T : unknown) : unknown;",
      "export declare function query<M extends string>(method: M, input: Part<M, 'input'>): Promise<Part<M, 'output'>>;",
    ].join('\n');
    const declarations = generateMethodTypes(methods, { module: './client.js' });
    const good = "import { query } from './client.js';\nconst r = await query('query:hello:greet.v1', { name: 'Ada' });\nexport const g: string = r.greeting;\n";
    expect(typeErrors({ '/p/client.ts': client, '/p/methods.d.ts': declarations, '/p/good.ts': good })).toEqual([]);
    const bad = "import { query } from './client.js';\nconst r = await query('query:hello:greet.v1', { name: 42 });\nexport const g: number = r.greeting;\n";
    const errors = typeErrors({ '/p/client.ts': client, '/p/methods.d.ts': declarations, '/p/bad.ts': bad });
    expect(errors).toHaveLength(2);
    expect(errors.join('\n')).toMatch(/'number' is not assignable to type 'string'/);
    expect(errors.join('\n')).toMatch(/'string' is not assignable to type 'number'/);
  });
});
