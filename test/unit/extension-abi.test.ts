/**
 * docs/extension-abi.json (written by `npm run abi`) is current with the host's code and agrees
 * with docs/extension-abi.md: the imports and their signatures, the required exports, the host
 * methods, and the wire methods.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { abiDescription, abiDescriptionJson } from '../../src/authoring/abi-description.js';
import { CORE_OPERATIONS } from '../../src/core/index.js';
import { HOST_IMPORT_SIGNATURES } from '../../src/extensions/sandbox/host-imports.js';
import { REPO_ROOT } from '../helpers/daemon.js';

const md = readFileSync(join(REPO_ROOT, 'docs', 'extension-abi.md'), 'utf8');
const json = JSON.parse(readFileSync(join(REPO_ROOT, 'docs', 'extension-abi.json'), 'utf8')) as ReturnType<typeof abiDescription> & {
  imports: Array<{ name: string; params: string[]; results: string[] }>;
  exports: Array<{ name: string; required: boolean }>;
  host_methods: Array<{ method: string; input: unknown; output: unknown }>;
  wire_methods: Array<{ method: string; input: unknown; output: unknown }>;
};

/** The markdown between a heading and the next heading of the same or a higher level. */
function section(title: string): string {
  const start = md.indexOf(title);
  expect(start, `docs/extension-abi.md has a section '${title}'`).toBeGreaterThanOrEqual(0);
  const level = /^#+/.exec(title)![0].length;
  const rest = md.slice(start + title.length);
  const next = rest.search(new RegExp(`\\n#{1,${level}} `));
  return next < 0 ? rest : rest.slice(0, next);
}

/** `(method_ptr, method_len: i32, n: i64) -> ()` → { params: [i32, i32, i64], results: [] } */
function parseSignature(text: string): { params: string[]; results: string[] } {
  const m = /^\((.*)\)\s*->\s*(.+)$/.exec(text.trim());
  if (!m) throw new Error(`cannot read the signature ${text}`);
  const names = m[1]!.trim() === '' ? [] : m[1]!.split(',').map((p) => p.trim());
  const params: string[] = [];
  let pending = 0;
  for (const p of names) {
    const typed = /:\s*(\w+)$/.exec(p);
    if (!typed) {
      pending++;
      continue;
    }
    // `a, b: i32` types every name before it too; a bare type (`i32`) is its own parameter.
    for (let i = 0; i <= pending; i++) params.push(typed[1]!);
    pending = 0;
  }
  for (let i = 0; i < pending; i++) params.push(names[params.length]!);
  const r = m[2]!.trim();
  const results = r === '()' ? [] : r.replace(/[()]/g, '').split(',').map((t) => t.trim());
  return { params, results };
}

describe('docs/extension-abi.json', () => {
  it('is current: generated from the code as it is (npm run abi writes it)', () => {
    expect(readFileSync(join(REPO_ROOT, 'docs', 'extension-abi.json'), 'utf8'), 'docs/extension-abi.json is stale: run npm run abi').toBe(abiDescriptionJson());
  });

  it('lists exactly the host imports of the ABI document, with the same signatures', () => {
    const rows = [...section('## Host imports').matchAll(/^\| `(sd_\w+)` \| `([^`]+)` \|/gm)].map((m) => ({ name: m[1]!, ...parseSignature(m[2]!) }));
    expect(rows.length).toBeGreaterThan(0);
    expect(json.imports.map((i) => ({ name: i.name, params: i.params, results: i.results }))).toEqual(rows);
    expect(json.imports.map((i) => i.name)).toEqual(Object.keys(HOST_IMPORT_SIGNATURES));
  });

  it('requires exactly the exports the ABI document marks required, with their signatures', () => {
    const rows = [...section('## Guest exports').matchAll(/^\| `(\w+)` \| ([^|]+) \| (yes|no) \|/gm)];
    const required = rows.filter((r) => r[3] === 'yes').map((r) => r[1]);
    expect(json.exports.filter((e) => e.required).map((e) => e.name)).toEqual(required);
    for (const row of rows) {
      const described = json.exports.find((e) => e.name === row[1]) as { name: string; signature?: { params: string[]; results: string[] } } | undefined;
      expect(described, `export ${row[1]} is described`).toBeDefined();
      if (row[2]!.includes('->')) expect(described!.signature).toEqual(parseSignature(row[2]!.trim().replace(/`/g, '')));
    }
  });

  it('describes every host method the ABI document lists, each with input and output schemas', () => {
    const documented = [...section('### Host methods').matchAll(/^\| `(extension\.\w+)` \|/gm)].map((m) => m[1]!);
    expect(documented.length).toBeGreaterThan(0);
    const described = json.host_methods.map((h) => h.method);
    for (const name of documented) expect(described).toContain(name);
    for (const h of json.host_methods) {
      expect(h.input).toBeTypeOf('object');
      expect(h.output).toBeTypeOf('object');
    }
  });

  it('lists every core wire method with its input and output schemas', () => {
    expect(json.wire_methods.map((w) => w.method)).toEqual(CORE_OPERATIONS.map((o) => o.method).sort((a, b) => a.localeCompare(b)));
  });
});
