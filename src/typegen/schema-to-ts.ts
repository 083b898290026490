/**
 * JSON Schema → TypeScript type expressions, for the schemas methods register (draft-07 and
 * 2020-12 keywords the registry's schemas use). No JSON-Schema-to-TypeScript library is a
 * dependency, and the subset here is small: what the type of a value can say. Keywords that
 * only narrow a value within its type (`minLength`, `pattern`, `format`, `minimum`, …) have no
 * TypeScript counterpart and are left to the daemon's validation.
 *
 * | schema | type |
 * | --- | --- |
 * | `true`, `{}`, absent | `unknown` |
 * | `false` | `never` |
 * | `type` (one or a list) | `string`, `number` (`integer` too), `boolean`, `null`, object or array type |
 * | `enum`, `const` | a union of literals |
 * | `properties` + `required` | an object type, optional members for the rest; `description` as a doc comment |
 * | `additionalProperties` | `false`: no index signature; a schema: `[key: string]: T`; otherwise `[key: string]: unknown` |
 * | `items` (schema), `prefixItems` / `items` (list) | `T[]`, a tuple |
 * | `anyOf`, `oneOf` / `allOf` | a union / an intersection with the sibling keywords |
 * | `$ref` to `#/$defs/…` or `#/definitions/…` | the referenced schema, inline (`unknown` on a cycle) |
 */

export type JsonSchema = boolean | { [keyword: string]: unknown };

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A property name as written in a type: bare when it is an identifier, else quoted. */
export function propertyKey(name: string): string {
  return IDENTIFIER.test(name) ? name : JSON.stringify(name);
}

/** `text` as the body of a `/** … *\/` comment (no comment terminator inside). */
function docText(text: string): string {
  return text.replace(/\*\//g, '*\\/').replace(/\s*\n\s*/g, ' ').trim();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function literal(v: unknown): string {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  // An object or array constant: its JSON type is as precise as TypeScript literals get here.
  return Array.isArray(v) ? 'unknown[]' : 'Record<string, unknown>';
}

function union(parts: string[]): string {
  const unique = [...new Set(parts)];
  if (unique.includes('unknown')) return 'unknown';
  const kept = unique.filter((p) => p !== 'never');
  if (kept.length === 0) return 'never';
  return kept.length === 1 ? kept[0]! : kept.map((p) => (needsParens(p) ? `(${p})` : p)).join(' | ');
}

function intersection(parts: string[]): string {
  const kept = [...new Set(parts)].filter((p) => p !== 'unknown');
  if (kept.length === 0) return 'unknown';
  if (kept.includes('never')) return 'never';
  return kept.length === 1 ? kept[0]! : kept.map((p) => (needsParens(p) ? `(${p})` : p)).join(' & ');
}

function needsParens(t: string): boolean {
  // A top-level | or & (outside braces, brackets, parentheses and strings) binds looser.
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '{' || c === '[' || c === '(' || c === '<') depth++;
    else if (c === '}' || c === ']' || c === ')' || c === '>') depth--;
    else if (depth === 0 && (c === '|' || c === '&')) return true;
  }
  return false;
}

function indent(level: number): string {
  return '  '.repeat(level);
}

/** Converts one schema; `root` resolves local `$ref`s. */
class Converter {
  private readonly resolving = new Set<string>();

  constructor(private readonly root: JsonSchema) {}

  convert(schema: unknown, level: number): string {
    if (schema === undefined || schema === true) return 'unknown';
    if (schema === false) return 'never';
    if (!isObject(schema)) return 'unknown';
    const parts: string[] = [];
    if (typeof schema.$ref === 'string') parts.push(this.ref(schema.$ref, level));
    if ('const' in schema) parts.push(literal(schema.const));
    else if (Array.isArray(schema.enum)) parts.push(union(schema.enum.map(literal)));
    else {
      const own = this.byType(schema, level);
      if (own !== null) parts.push(own);
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      const list = schema[key];
      if (Array.isArray(list) && list.length > 0) {
        // A branch that only adds `required` to the sibling properties names which of them are
        // present; as a type that is the sibling object, already in `parts`.
        const branches = list.filter((b) => !(isObject(b) && Object.keys(b).every((k) => k === 'required' || k === 'description')));
        if (branches.length > 0) parts.push(union(branches.map((b) => this.convert(b, level))));
      }
    }
    if (Array.isArray(schema.allOf)) for (const b of schema.allOf) parts.push(this.convert(b, level));
    return intersection(parts);
  }

  private ref(ref: string, level: number): string {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    if (ref === '#') return this.resolving.has('#') ? 'unknown' : this.within('#', () => this.convert(this.root, level));
    if (!m || !isObject(this.root)) return 'unknown';
    const defs = this.root[m[1]!];
    const name = decodeURIComponent(m[2]!).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(defs) || !(name in defs) || this.resolving.has(ref)) return 'unknown';
    return this.within(ref, () => this.convert(defs[name], level));
  }

  private within(key: string, f: () => string): string {
    this.resolving.add(key);
    try {
      return f();
    } finally {
      this.resolving.delete(key);
    }
  }

  /** The type from `type` (or implied by `properties` / `items`); `null` when nothing says. */
  private byType(schema: Record<string, unknown>, level: number): string | null {
    let types: string[];
    if (typeof schema.type === 'string') types = [schema.type];
    else if (Array.isArray(schema.type)) types = schema.type.filter((t): t is string => typeof t === 'string');
    else if (isObject(schema.properties) || 'additionalProperties' in schema || Array.isArray(schema.required)) types = ['object'];
    else if ('items' in schema || 'prefixItems' in schema) types = ['array'];
    else return null;
    return union(
      types.map((t) => {
        switch (t) {
          case 'string':
            return 'string';
          case 'number':
          case 'integer':
            return 'number';
          case 'boolean':
            return 'boolean';
          case 'null':
            return 'null';
          case 'object':
            return this.object(schema, level);
          case 'array':
            return this.array(schema, level);
          default:
            return 'unknown';
        }
      }),
    );
  }

  private object(schema: Record<string, unknown>, level: number): string {
    const properties = isObject(schema.properties) ? schema.properties : {};
    const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : []);
    const lines: string[] = [];
    const memberTypes: string[] = [];
    for (const [name, sub] of Object.entries(properties)) {
      const type = this.convert(sub, level + 1);
      memberTypes.push(type);
      const description = isObject(sub) && typeof sub.description === 'string' ? docText(sub.description) : '';
      if (description) lines.push(`${indent(level + 1)}/** ${description} */`);
      lines.push(`${indent(level + 1)}${propertyKey(name)}${required.has(name) ? '' : '?'}: ${type};`);
    }
    // Required names without a property schema are still members.
    for (const name of required) {
      if (!(name in properties)) {
        lines.push(`${indent(level + 1)}${propertyKey(name)}: unknown;`);
        memberTypes.push('unknown');
      }
    }
    const extra = schema.additionalProperties;
    if (extra !== false) {
      let extraType = extra === undefined || extra === true ? 'unknown' : this.convert(extra, level + 1);
      // An index signature must admit every named member's type.
      if (extraType !== 'unknown' && memberTypes.length > 0) extraType = union([extraType, ...memberTypes, 'undefined']);
      lines.push(`${indent(level + 1)}[key: string]: ${extraType};`);
    }
    if (lines.length === 0) return extra === false ? 'Record<string, never>' : 'Record<string, unknown>';
    return `{\n${lines.join('\n')}\n${indent(level)}}`;
  }

  private array(schema: Record<string, unknown>, level: number): string {
    const tuple = Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : null;
    if (tuple) {
      const rest = Array.isArray(schema.prefixItems) ? schema.items : schema.additionalItems;
      const members = tuple.map((t) => this.convert(t, level));
      if (rest !== false) members.push(`...${wrapArray(this.convert(rest, level))}[]`);
      return `[${members.join(', ')}]`;
    }
    return `${wrapArray(this.convert(schema.items, level))}[]`;
  }
}

function wrapArray(t: string): string {
  return needsParens(t) ? `(${t})` : t;
}

/**
 * The TypeScript type a value valid against `schema` has, as a type expression. Nested object
 * types are indented as if the expression started at `level` levels of two spaces.
 *
 * @example
 * schemaToType({ type: 'object', required: ['name'], properties: { name: { type: 'string' } }, additionalProperties: false })
 * // '{\n  name: string;\n}'
 */
export function schemaToType(schema: unknown, level = 0): string {
  return new Converter(schema as JsonSchema).convert(schema, level);
}
