import { describe, expect, it } from 'vitest';
import { errorAsJson, exitCodeFor, formatError, markFromDaemon } from '../../src/cli/exit-codes.js';
import { rewriteJsonInputShorthand } from '../../src/cli/index.js';
import { shortIds } from '../../src/cli/commands/jobs.js';
import { colorEnabled, formatDuration, formatRecords, formatTable, formatValue, makeColors } from '../../src/cli/output.js';
import { ErrorCode, SpacedriveError, toWireError } from '../../src/errors/index.js';

const plain = makeColors(false);

describe('human output', () => {
  it('renders objects as aligned key: value blocks and lists of records as tables', () => {
    expect(formatValue({ copied_files: 2, copied_bytes: 11 }, plain)).toBe('copied_files: 2\ncopied_bytes: 11');
    expect(formatValue({ a: 1, nested: { long_key: 'x', k: null }, tags: ['p', 'q'] }, plain)).toBe(
      'a:    1\nnested:\n  long_key: x\n  k:        -\ntags: p, q',
    );
    expect(formatValue([{ id: 1, name: 'one' }, { id: 22, name: 'two' }], plain)).toBe('ID  NAME\n1   one\n22  two');
    expect(formatValue([], plain)).toBe('(none)');
  });

  it('shows records with nested fields as one row each, leaving out what is long, nested or never set', () => {
    const hash = 'ab'.repeat(32);
    const records = [
      { id: 'e1', name: 'one.pdf', size: 10, meta: { total: 1 }, hash, gone: null },
      { id: 'e2', name: 'two.pdf', size: 20, meta: { total: 2 }, hash, gone: null },
    ];
    expect(formatValue(records, plain)).toBe(
      'ID  NAME     SIZE\ne1  one.pdf  10\ne2  two.pdf  20\n(3 more fields: meta, hash, gone; --wide or --json shows them)',
    );
    expect(formatValue(records, plain, 0, { wide: true }).split('\n')[1]).toBe(`e1  one.pdf  10    {"total":1}  ${hash}  -`);
    // A method's preferred columns come first, and may be nested values.
    expect(formatValue(records, plain, 0, { columns: ['name', 'meta'] }).split('\n')[1]).toBe('one.pdf  {"total":1}');
    // Fitted to a width: what is the same in every row goes first, then from the right.
    expect(formatRecords([{ id: 'e1', kind: 'receipt', name: 'one.pdf' }, { id: 'e2', kind: 'receipt', name: 'two.pdf' }], plain, { width: 12 }).split('\n')[0]).toBe('ID  NAME');
  });

  it('shortens job ids to the shortest prefix no other shown id has, 8 characters at least', () => {
    const a = '01a24ed2-698e-7435-8815-188883f3f3bb';
    const b = '01a24ed2-698f-7000-8000-000000000000';
    const c = '01a30000-0000-7000-8000-000000000000';
    const short = shortIds([a, b, c]);
    expect(short.get(a)).toBe('01a24ed2-698e');
    expect(short.get(b)).toBe('01a24ed2-698f');
    expect(short.get(c)).toBe('01a30000');
    // Never ending on the '-' between groups.
    expect(shortIds([a, '01a24ed2-798e-7435-8815-188883f3f3bb']).get(a)).toBe('01a24ed2-6');
    expect(shortIds([a]).get(a)).toBe('01a24ed2');
  });

  it('aligns table columns and cuts lines to a width', () => {
    const t = formatTable(['A', 'B'], [['long cell', 'x'], ['s', 'a very long description indeed']], plain, { width: 24 });
    expect(t.split('\n')).toEqual(['A          B', 'long cell  x', 's          a very long …']);
  });

  it('formats durations', () => {
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(93_784_000)).toBe('1d 2h 3m 4s');
  });

  it('colours only a terminal without NO_COLOR or --no-color, unless FORCE_COLOR', () => {
    expect(colorEnabled({ isTTY: true }, {}, false)).toBe(true);
    expect(colorEnabled({ isTTY: false }, {}, false)).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' }, false)).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '' }, false)).toBe(true);
    expect(colorEnabled({ isTTY: true }, {}, true)).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' }, false)).toBe(true);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '' }, false)).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '0' }, false)).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1', NO_COLOR: 'x' }, false)).toBe(false);
  });
});

describe('errors and exit codes', () => {
  it('maps errors to exit codes', () => {
    expect(exitCodeFor(new SpacedriveError(ErrorCode.DAEMON_NOT_RUNNING, 'x'))).toBe(3);
    expect(exitCodeFor(markFromDaemon(new SpacedriveError(ErrorCode.INVALID_INPUT, 'x')))).toBe(1);
    expect(exitCodeFor(new SpacedriveError(ErrorCode.INVALID_INPUT, 'x'))).toBe(2);
    expect(exitCodeFor(new SpacedriveError(ErrorCode.USAGE, 'x'))).toBe(2);
    expect(exitCodeFor(new SpacedriveError(ErrorCode.CONNECTION_CLOSED, 'x'))).toBe(1);
    expect(exitCodeFor(new TypeError('bug'))).toBe(70);
    // Recognised by code, not class: a plain object that crossed a boundary.
    expect(exitCodeFor({ name: 'SpacedriveError', code: 'DAEMON_NOT_RUNNING', message: 'x' })).toBe(3);
  });

  it('a full or read-only disk is STORAGE_FULL / STORAGE_READ_ONLY and exit code 74, not a bug', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/data/x' });
    const sqliteFull = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    const erofs = Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
    const sqliteReadOnly = Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY_DBMOVED' });
    expect(toWireError(enospc)).toMatchObject({ code: 'STORAGE_FULL', details: { cause: 'ENOSPC', path: '/data/x' } });
    expect(toWireError(sqliteFull).code).toBe('STORAGE_FULL');
    expect(toWireError(erofs).code).toBe('STORAGE_READ_ONLY');
    expect(toWireError(sqliteReadOnly).code).toBe('STORAGE_READ_ONLY');
    // Wrapped as an internal error, the cause still decides.
    expect(toWireError(new SpacedriveError(ErrorCode.INTERNAL, 'write failed', undefined, { cause: sqliteFull })).code).toBe('STORAGE_FULL');
    expect(exitCodeFor(enospc)).toBe(74);
    expect(exitCodeFor(markFromDaemon(new SpacedriveError(ErrorCode.STORAGE_FULL, 'x')))).toBe(74);
    expect(exitCodeFor(markFromDaemon(new SpacedriveError(ErrorCode.STORAGE_READ_ONLY, 'x')))).toBe(74);
    expect(exitCodeFor(Object.assign(new Error('other'), { code: 'EIO' }))).toBe(70);
  });

  it('a storage backend that cannot be reached is exit code 69 whoever hit it, not a bug', () => {
    expect(exitCodeFor(new SpacedriveError(ErrorCode.STORE_UNAVAILABLE, 'connect ECONNREFUSED'))).toBe(69);
    expect(exitCodeFor(markFromDaemon(new SpacedriveError(ErrorCode.STORE_UNAVAILABLE, 'the job store is unavailable')))).toBe(69);
  });

  it('prints the code, the message, each problem and a hint', () => {
    const err = new SpacedriveError(ErrorCode.INVALID_INPUT, 'invalid input: two problems', {
      problems: [
        { flag: '--a', field: 'a', expected: 'an integer', got: 'x' },
        { field: 'b', expected: 'a value (it is required)' },
      ],
    });
    expect(formatError(err, plain)).toBe("error [INVALID_INPUT]: invalid input: two problems\n  --a: expected an integer, got 'x'\n  b: expected a value (it is required)");
    expect(formatError(new SpacedriveError(ErrorCode.DAEMON_NOT_RUNNING, 'no daemon'), plain)).toContain("hint: start it with 'spacedrive daemon start'");
    expect(JSON.parse(errorAsJson(new SpacedriveError(ErrorCode.DAEMON_NOT_RUNNING, 'no daemon')))).toMatchObject({
      error: { code: 'DAEMON_NOT_RUNNING', message: 'no daemon' },
      exit_code: 3,
    });
  });
});

describe('--json {…} shorthand', () => {
  it('adds --json-input only when a JSON object follows --json', () => {
    expect(rewriteJsonInputShorthand(['action', 'm', '--json', '{"a":1}'])).toEqual(['action', 'm', '--json', '--json-input', '{"a":1}']);
    expect(rewriteJsonInputShorthand(['status', '--json'])).toEqual(['status', '--json']);
    expect(rewriteJsonInputShorthand(['query', 'm', '--json', '--x', '1'])).toEqual(['query', 'm', '--json', '--x', '1']);
    expect(rewriteJsonInputShorthand(['query', 'm', '--', '--json', '{}'])).toEqual(['query', 'm', '--', '--json', '{}']);
  });
});

describe('config show redaction', () => {
  it('hides every secret-looking value and keeps the rest', async () => {
    const { redactSecrets } = await import('../../src/cli/commands/config.js');
    const options = { tcp: { host: '127.0.0.1', port: 1, token: 't0k3n' }, ai: { provider: { url: 'http://x', api_key: 'sk-1' } }, credentials: { keyFile: '/k' }, other: { key: 'raw', password: '' } };
    expect(redactSecrets(options)).toEqual({
      tcp: { host: '127.0.0.1', port: 1, token: '***' },
      ai: { provider: { url: 'http://x', api_key: '***' } },
      credentials: { keyFile: '/k' },
      other: { key: '***', password: '' },
    });
  });
});
