/**
 * The spacedrive-sdk compiler transform: JSON Schemas from `@json` classes.
 *
 * asc runs it (`--transform spacedrive-sdk/transform`, beside `--transform json-as`) after
 * parsing. To every class decorated `@json` it adds a method `__SD_SCHEMA(depth: i32): string`
 * returning the JSON Schema of the class as the JSON text json-as reads and writes:
 *
 * - a field's type gives its schema: `string`; `bool`; `i8`…`u64` an `integer` within the type's
 *   range; `f32`/`f64` a `number`; `Array<T>`/`T[]`/`StaticArray<T>` an `array` of `T` (`Set<T>`
 *   with `uniqueItems`); `Map<string, T>` an object of `T`; `JSON.Raw`/`JSON.Value` anything;
 *   another `@json` class its own schema (asked at run time, so it may live in another file);
 *   `T | null` admits `null`;
 * - a field is required unless it is nullable, `@optional`, `@omitnull`, `@omitif(…)`, or its
 *   schema has a `default`; `@alias("name")` renames it, `@omit` leaves it out;
 * - `@describe("…")` on a field or the class is the `description`; `@schema('{…}')` (JSON text)
 *   adds keywords the type cannot say (`minLength`, `enum`, `contentEncoding`, `anyOf`, …) or
 *   replaces derived ones;
 * - objects are closed (`additionalProperties: false`) unless the class's `@schema` says otherwise.
 *
 * The SDK's `schemaOf<T>()` (assembly/schema.ts) calls it; `OperationOptions.typed<I, O>()` and
 * `JobOptions.typed<P>()` register what it returns, so the host validates what the types say and
 * `spacedrive types generate` types the methods for TypeScript clients.
 */
import { NodeKind, Parser, Source, Tokenizer } from 'assemblyscript/dist/assemblyscript.js';
import { Transform } from 'assemblyscript/dist/transform.js';

const METHOD = '__SD_SCHEMA';
/** Nesting deeper than this (a class that contains itself) ends in `{}` rather than recursing forever. */
const MAX_DEPTH = 16;

const INTEGER_RANGES = {
  i8: [-128, 127],
  u8: [0, 255],
  i16: [-32768, 32767],
  u16: [0, 65535],
  i32: [-2147483648, 2147483647],
  u32: [0, 4294967295],
  i64: [null, null],
  isize: [null, null],
  u64: [0, null],
  usize: [0, null],
};

/** A nested class's schema, filled in at run time: `{"$sd_nested": "<type text>"}` in the template. */
const NESTED = '$sd_nested';

function typeName(named) {
  let text = named.name.identifier.text;
  for (let next = named.name.next; next; next = next.next) text += '.' + next.identifier.text;
  return text;
}

function typeText(node) {
  if (node.kind !== NodeKind.NamedType) return null;
  let text = typeName(node);
  if (node.typeArguments && node.typeArguments.length > 0) {
    const args = node.typeArguments.map(typeText);
    if (args.some((a) => a === null)) return null;
    text += '<' + args.join(', ') + '>';
  }
  return text;
}

function decorator(node, name) {
  return (node.decorators || []).find((d) => d.name.kind === NodeKind.Identifier && d.name.text === name) || null;
}

/** The string literal argument of a decorator, or throws naming where it is. */
function stringArgument(dec, where) {
  const arg = dec.args && dec.args[0];
  if (!arg || arg.kind !== NodeKind.Literal || typeof arg.value !== 'string') {
    throw new Error(`${where}: @${dec.name.text} takes one string literal`);
  }
  return arg.value;
}

function location(node) {
  const src = node.range.source;
  return `${src.normalizedPath}:${src.lineAt(node.range.start)}`;
}

class SchemaBuilder {
  constructor(source) {
    this.enums = new Set(source.statements.filter((s) => s.kind === NodeKind.EnumDeclaration).map((s) => s.name.text));
  }

  /** The schema (a JS object, with NESTED markers) of a type node. */
  ofType(node, where) {
    if (node.kind !== NodeKind.NamedType) throw new Error(`${where}: function types have no JSON Schema`);
    const schema = this.ofNonNull(node, where);
    return node.isNullable ? nullable(schema) : schema;
  }

  ofNonNull(node, where) {
    const name = typeName(node);
    const args = node.typeArguments || [];
    if (name === 'string' || name === 'String') return { type: 'string' };
    if (name === 'bool' || name === 'boolean') return { type: 'boolean' };
    if (name in INTEGER_RANGES) {
      const [min, max] = INTEGER_RANGES[name];
      const s = { type: 'integer' };
      if (min !== null) s.minimum = min;
      if (max !== null) s.maximum = max;
      return s;
    }
    if (name === 'f32' || name === 'f64' || name === 'number') return { type: 'number' };
    if ((name === 'Array' || name === 'StaticArray') && args.length === 1) return { type: 'array', items: this.ofType(args[0], where) };
    if (name === 'Set' && args.length === 1) return { type: 'array', uniqueItems: true, items: this.ofType(args[0], where) };
    if (name === 'Map' && args.length === 2) return { type: 'object', additionalProperties: this.ofType(args[1], where) };
    if (name === 'JSON.Raw' || name === 'JSON.Value') return {};
    if (name === 'JSON.Obj') return { type: 'object' };
    if (name === 'JSON.Box' && args.length === 1) return nullable(this.ofType(args[0], where));
    if (name === 'Date') return { type: 'string', format: 'date-time' };
    if (this.enums.has(name)) return { type: 'integer' };
    const text = typeText(node);
    if (text === null) throw new Error(`${where}: no JSON Schema for this type`);
    return { [NESTED]: text };
  }

  /** The schema of a `@json` class declaration. */
  ofClass(cls) {
    const properties = {};
    const required = [];
    for (const member of cls.members) {
      if (member.kind !== NodeKind.FieldDeclaration || !member.type) continue;
      // static fields are not serialised
      if (member.is && member.is(32 /* CommonFlags.Static */)) continue;
      if (decorator(member, 'omit')) continue;
      const where = `${location(member)} (${cls.name.text}.${member.name.text})`;
      let schema = this.ofType(member.type, where);
      const describe = decorator(member, 'describe');
      if (describe) schema = { ...schema, description: stringArgument(describe, where) };
      const extra = decorator(member, 'schema');
      if (extra) schema = { ...schema, ...parseKeywords(stringArgument(extra, where), where) };
      const alias = decorator(member, 'alias');
      const name = alias ? String(alias.args[0].value) : member.name.text;
      properties[name] = schema;
      const optional =
        member.type.isNullable || decorator(member, 'optional') || decorator(member, 'omitnull') || decorator(member, 'omitif') || 'default' in schema;
      if (!optional) required.push(name);
    }
    let schema = { type: 'object' };
    const describe = decorator(cls, 'describe');
    if (describe) schema.description = stringArgument(describe, location(cls));
    if (required.length > 0) schema.required = required;
    schema.properties = properties;
    schema.additionalProperties = false;
    const extra = decorator(cls, 'schema');
    if (extra) schema = { ...schema, ...parseKeywords(stringArgument(extra, location(cls)), location(cls)) };
    return schema;
  }
}

function nullable(schema) {
  // Anything (`{}`) and a type list that has null already admit null.
  if (Object.keys(schema).length === 0 || (Array.isArray(schema.type) && schema.type.includes('null'))) return schema;
  if (typeof schema.type === 'string' && !(NESTED in schema)) return { ...schema, type: [schema.type, 'null'] };
  return { anyOf: [schema, { type: 'null' }] };
}

function parseKeywords(text, where) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: @schema is not valid JSON: ${err.message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${where}: @schema must be a JSON object of schema keywords`);
  return parsed;
}

/**
 * The AssemblyScript expression building the schema's JSON text: string literals, and for each
 * nested class a call of its own `__SD_SCHEMA`.
 */
function templateExpression(schema) {
  const json = JSON.stringify(schema);
  const parts = [];
  const marker = /\{"\$sd_nested":("(?:[^"\\]|\\.)*")\}/g;
  let last = 0;
  for (let m; (m = marker.exec(json)); ) {
    parts.push(JSON.stringify(json.slice(last, m.index)));
    parts.push(`changetype<${JSON.parse(m[1])}>(0).${METHOD}(depth + 1)`);
    last = m.index + m[0].length;
  }
  parts.push(JSON.stringify(json.slice(last)));
  return parts.filter((p) => p !== '""').join(' + ') || '""';
}

function isJsonClass(node) {
  return node.kind === NodeKind.ClassDeclaration && (decorator(node, 'json') || decorator(node, 'serializable'));
}

function* classesIn(statements) {
  for (const s of statements) {
    if (isJsonClass(s)) yield s;
    else if (s.kind === NodeKind.NamespaceDeclaration) yield* classesIn(s.members);
  }
}

export default class SpacedriveSchemaTransform extends Transform {
  afterParse(parser) {
    for (const source of parser.sources) {
      if (source.internalPath.startsWith('~lib/') && !source.internalPath.startsWith('~lib/spacedrive-sdk/')) continue;
      const builder = new SchemaBuilder(source);
      for (const cls of classesIn(source.statements)) {
        if (cls.members.some((m) => m.name && m.name.text === METHOD)) continue;
        const body = `${METHOD}(depth: i32): string { if (depth > ${MAX_DEPTH}) return "{}"; return ${templateExpression(builder.ofClass(cls))}; }`;
        const member = new Parser().parseClassMember(new Tokenizer(new Source(source.sourceKind, source.normalizedPath, body)), cls);
        if (!member) throw new Error(`${location(cls)}: could not add ${METHOD} to ${cls.name.text}`);
        cls.members.push(member);
      }
    }
  }
}

