/**
 * The AssemblyScript SDK's schema transform (sdk/assemblyscript/transform): a small module with
 * `@json` classes is compiled by asc with json-as and the transform, and the schemas its
 * `__SD_SCHEMA` methods return are checked against what each field type and decorator should
 * give; each schema also accepts what json-as writes for the class. A malformed `@schema` fails
 * the build naming the field.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import asc from 'assemblyscript/asc';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileSchema } from '../../src/schema/index.js';
import { REPO_ROOT } from '../helpers/daemon.js';

const TRANSFORM = join(REPO_ROOT, 'sdk', 'assemblyscript', 'transform', 'index.js');

const SOURCE = `
import { JSON } from "json-as";

enum Level { Low, High }

@json
class Inner {
  @describe("a label")
  label: string = "";
  @alias("n") count: u8 = 0;
}

@json
@describe("Everything at once")
class Outer {
  name: string = "";
  ratio: f64 = 0;
  big: i64 = 0;
  flag: bool = false;
  maybe: string | null = null;
  boxed: JSON.Box<f64> | null = null;
  tags: string[] = [];
  unique: Set<i32> = new Set<i32>();
  inner: Inner = new Inner();
  inners: Array<Inner> = [];
  nested: Inner | null = null;
  byName: Map<string, i32> = new Map<string, i32>();
  anything: JSON.Raw | null = null;
  level: Level = Level.Low;
  @optional later: i32 = 0;
  @schema('{"minLength":1,"default":"x"}') defaulted: string = "x";
  @omit hidden: string = "";
}

@json
@schema('{"additionalProperties":true}')
class Open { a: i32 = 0; }

@json
class Node { next: Node | null = null; }

export function outer(): string { return changetype<Outer>(0).__SD_SCHEMA(0); }
export function open(): string { return changetype<Open>(0).__SD_SCHEMA(0); }
export function node(): string { return changetype<Node>(0).__SD_SCHEMA(0); }
export function sample(): string {
  const o = new Outer();
  o.name = "n"; o.tags = ["a"]; o.inners.push(new Inner()); o.byName.set("k", 1);
  o.boxed = new JSON.Box<f64>(1.5);
  return JSON.stringify(o);
}
`;

async function compile(source: string): Promise<{ ok: boolean; wasm: Uint8Array | null; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-schema-'));
  try {
    writeFileSync(join(dir, 'module.ts'), source);
    let wasm: Uint8Array | null = null;
    const stderr = asc.createMemoryStream();
    const previous = process.env.JSON_MODE;
    process.env.JSON_MODE = 'NAIVE';
    try {
      const { error } = await asc.main(
        [join(dir, 'module.ts'), '--transform', 'json-as', '--transform', TRANSFORM, '--runtime', 'incremental', '--disableWarning', '--outFile', join(dir, 'module.wasm')],
        { stderr, writeFile: (name, contents) => void (name.endsWith('.wasm') ? (wasm = contents as Uint8Array) : undefined) },
      );
      return { ok: !error, wasm, stderr: stderr.toString() + (error ? String(error) : '') };
    } finally {
      if (previous === undefined) delete process.env.JSON_MODE;
      else process.env.JSON_MODE = previous;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Calls an export that returns a string, reading the UTF-16 string out of the module's memory. */
function stringExports(wasm: Uint8Array): (name: string) => string {
  const env = new Proxy({}, { get: () => () => undefined });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env } as WebAssembly.Imports);
  const memory = instance.exports.memory as WebAssembly.Memory;
  return (name) => {
    const ptr = (instance.exports[name] as () => number)() >>> 0;
    const bytes = new Uint32Array(memory.buffer)[(ptr - 4) >>> 2]!;
    return Buffer.from(memory.buffer, ptr, bytes).toString('utf16le');
  };
}

describe('the SDK schema transform', { timeout: 120_000 }, () => {
  let call: (name: string) => string;
  beforeAll(async () => {
    const r = await compile(SOURCE);
    expect(r.ok, r.stderr).toBe(true);
    call = stringExports(r.wasm!);
  });

  it('derives each field type, nested class and decorator', () => {
    const inner = {
      type: 'object',
      required: ['label', 'n'],
      properties: { label: { type: 'string', description: 'a label' }, n: { type: 'integer', minimum: 0, maximum: 255 } },
      additionalProperties: false,
    };
    expect(JSON.parse(call('outer'))).toEqual({
      type: 'object',
      description: 'Everything at once',
      required: ['name', 'ratio', 'big', 'flag', 'tags', 'unique', 'inner', 'inners', 'byName', 'level'],
      properties: {
        name: { type: 'string' },
        ratio: { type: 'number' },
        big: { type: 'integer' },
        flag: { type: 'boolean' },
        maybe: { type: ['string', 'null'] },
        boxed: { type: ['number', 'null'] },
        tags: { type: 'array', items: { type: 'string' } },
        unique: { type: 'array', uniqueItems: true, items: { type: 'integer', minimum: -2147483648, maximum: 2147483647 } },
        inner,
        inners: { type: 'array', items: inner },
        nested: { anyOf: [inner, { type: 'null' }] },
        byName: { type: 'object', additionalProperties: { type: 'integer', minimum: -2147483648, maximum: 2147483647 } },
        anything: {},
        level: { type: 'integer' },
        later: { type: 'integer', minimum: -2147483648, maximum: 2147483647 },
        defaulted: { type: 'string', minLength: 1, default: 'x' },
      },
      additionalProperties: false,
    });
  });

  it('lets a class @schema open the object, and ends a self-referencing class instead of recursing forever', () => {
    expect(JSON.parse(call('open'))).toMatchObject({ additionalProperties: true, required: ['a'] });
    let depth = 0;
    for (let s = JSON.parse(call('node')); s && s.properties; s = s.properties.next.anyOf[0]) depth++;
    expect(depth).toBe(17);
  });

  it('accepts what json-as writes for the class', () => {
    const validate = compileSchema(JSON.parse(call('outer')));
    expect(() => validate(JSON.parse(call('sample')))).not.toThrow();
  });

  it('fails the build on a malformed @schema, naming the field', async () => {
    const r = await compile(`@json class Bad { @schema('{"minLength":') name: string = ""; }\nexport function f(): i32 { return 0; }`);
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/Bad\.name.*@schema is not valid JSON/);
  });
});
