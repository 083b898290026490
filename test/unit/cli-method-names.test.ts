import { describe, expect, it } from 'vitest';
import { resolveMethodName, shortMethodName } from '../../src/cli/commands/call.js';
import { closestNames } from '../../src/registry/closest-names.js';
import { EXTENSION_NAME_PATTERN, parseMethod } from '../../src/registry/method-names.js';

describe('method names on the command line', () => {
  it('expands short names for their kind', () => {
    expect(resolveMethodName('query', 'finance:classify_receipt')).toBe('query:finance:classify_receipt.v1');
    expect(resolveMethodName('action', 'files.copy')).toBe('action:files.copy.input.v1');
    expect(resolveMethodName('action', 'files.copy.v2')).toBe('action:files.copy.input.v2');
    expect(resolveMethodName('query', 'query:core.status.v1')).toBe('query:core.status.v1');
  });

  it('refuses what is not a method name, or a method of the other kind', () => {
    expect(() => resolveMethodName('query', 'status')).toThrow(/not a method name/);
    expect(() => resolveMethodName('query', 'action:files.copy.input.v1')).toThrow(/is an action; call it with 'spacedrive action'/);
    try {
      resolveMethodName('query', 'Bad Name');
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe('USAGE');
    }
  });

  it('shortens full names back', () => {
    expect(shortMethodName('query:finance:classify_receipt.v1')).toBe('finance:classify_receipt');
    expect(shortMethodName('action:files.copy.input.v2')).toBe('files.copy.v2');
  });

  it('suggests the nearest registered names', () => {
    const known = ['query:core.status.v1', 'query:core.methods.v1', 'action:files.copy.input.v1', 'query:ai.ocr.v1'];
    expect(closestNames('query:core.stauts.v1', known, { key: shortMethodName })).toEqual(['query:core.status.v1']);
    expect(closestNames('action:file.copy.input.v1', known, { key: shortMethodName })).toEqual(['action:files.copy.input.v1']);
    expect(closestNames('query:totally.different.v1', known, { key: shortMethodName })).toEqual([]);
    expect(closestNames('files.hash_tre', ['files.copy', 'files.hash_tree', 'core.count'])).toEqual(['files.hash_tree']);
  });

  it('parses dotted extension names and any version (docs/extension-abi.md)', () => {
    expect(parseMethod('query:finance:classify_receipt.v2')).toEqual({ kind: 'query', namespace: 'finance', name: 'classify_receipt', version: 2 });
    expect(parseMethod('action:finance:receipts.import.input.v1')).toEqual({ kind: 'action', namespace: 'finance', name: 'receipts.import', version: 1 });
    expect(parseMethod('action:x:foo.input.input.v3')).toEqual({ kind: 'action', namespace: 'x', name: 'foo.input', version: 3 });
    expect(parseMethod('query:x:Foo-bar.baz_2.v1')).toEqual({ kind: 'query', namespace: 'x', name: 'Foo-bar.baz_2', version: 1 });
    // A part that looks like a version is never part of a name: `x:foo.v2` is version 2 of `foo`.
    expect(parseMethod('query:x:foo.v2.v1')).toBeUndefined();
    expect(resolveMethodName('query', 'finance:receipts.summary.v2')).toBe('query:finance:receipts.summary.v2');
    expect(shortMethodName('action:finance:receipts.import.input.v3')).toBe('finance:receipts.import.v3');
    for (const good of ['a', 'receipts.import', 'vx', 'v2x', 'a.b-c.d_e', 'x'.repeat(128)]) expect(EXTENSION_NAME_PATTERN.test(good), good).toBe(true);
    for (const bad of ['', 'v2', 'foo.v2', 'x:y', 'a..b', '.a', 'a.', 'a b', 'x'.repeat(129)]) expect(EXTENSION_NAME_PATTERN.test(bad), bad).toBe(false);
  });
});
