/**
 * Human-readable output: `key: value` blocks, aligned tables, colours only when the stream is a
 * terminal and neither NO_COLOR nor `--no-color` is set. Scripts use `--json` instead, which
 * prints results exactly as the daemon returned them.
 */
import pc from 'picocolors';

export type Colors = ReturnType<typeof pc.createColors>;

/**
 * Whether to colour a stream: off for `--no-color` or a non-empty NO_COLOR (no-color.org), on for
 * FORCE_COLOR (other than empty, `0` or `false`), else only for a terminal.
 */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv, noColorFlag: boolean): boolean {
  if (noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && !['', '0', 'false'].includes(env.FORCE_COLOR)) return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function makeColors(enabled: boolean): Colors {
  return pc.createColors(enabled);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function scalar(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

function isScalar(v: unknown): boolean {
  return v === null || (typeof v !== 'object' && typeof v !== 'function');
}

export interface TableOptions {
  /** Cut the last column so each line fits this many characters (terminals); undefined = no cut. */
  width?: number;
}

/** An aligned table with a header row. Cells are plain text; the header is dimmed. */
export function formatTable(header: string[], rows: string[][], c: Colors, opts: TableOptions = {}): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[], paint: (s: string) => string): string => {
    const parts = cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)));
    let text = parts.join('  ');
    if (opts.width !== undefined && text.length > opts.width && opts.width > 20) text = `${text.slice(0, opts.width - 1)}…`;
    return paint(text);
  };
  return [line(header, (s) => c.bold(c.dim(s))), ...rows.map((r) => line(r, (s) => s))].join('\n');
}

export interface FormatOptions {
  /** Fit tables of records into this many characters (terminals); undefined = no limit. */
  width?: number;
  /** Every field of records as a column (nested values as compact JSON), none left out. */
  wide?: boolean;
  /** Columns to show first for tables of records (a method's preference), when present. */
  columns?: readonly string[];
}

/** Longest typical value (median over the rows) of a column chosen without `--wide`. */
const SHORT_VALUE = 40;

function cell(v: unknown): string {
  if (Array.isArray(v) && v.every(isScalar)) return v.map(scalar).join(', ');
  return scalar(v);
}

function median(ns: number[]): number {
  const sorted = [...ns].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * Lists of records as a table. Without `wide`, the columns are a method's preferred ones
 * (`columns`) followed by the useful rest: scalar fields that are set in some row and short
 * (hashes and nested objects are left out); to fit `width`, columns that say least go first
 * (a method's preferred ones from the last; otherwise those the same in every row, other records'
 * ids, later times, then from the right). A last dim
 * line names what was left out.
 */
export function formatRecords(records: Array<Record<string, unknown>>, c: Colors, opts: FormatOptions = {}): string {
  const keys = [...new Set(records.flatMap((r) => Object.keys(r)))];
  const render = (keysShown: string[]) => formatTable(keysShown.map((k) => k.toUpperCase()), records.map((r) => keysShown.map((k) => cell(r[k]))), c, { width: opts.width });
  if (opts.wide) return render(keys);
  const preferred = (opts.columns ?? []).filter((k) => keys.includes(k));
  const useful = keys.filter((k) => {
    if (preferred.includes(k)) return false;
    const values = records.map((r) => r[k]);
    if (!values.every((v) => isScalar(v) || (Array.isArray(v) && v.every(isScalar)))) return false;
    if (values.every((v) => v === null || v === undefined || (Array.isArray(v) && v.length === 0))) return false;
    return median(values.map((v) => cell(v).length)) <= SHORT_VALUE;
  });
  let shown = opts.columns && preferred.length > 0 ? preferred : [...useful];
  if (opts.width !== undefined) {
    const widthOf = (ks: string[]) => ks.reduce((sum, k) => sum + Math.max(k.length, ...records.map((r) => cell(r[k]).length)) + 2, -2);
    const constant = (k: string) => records.length > 1 && records.every((r) => cell(r[k]) === cell(records[0]![k]));
    const times = shown.filter((k) => k.endsWith('_at'));
    // A method's preferred columns are in order of importance: the last goes first.
    const dropOrder = preferred.length > 0 ? [...shown].reverse() : [
      ...shown.filter(constant),
      ...shown.filter((k) => k.endsWith('_id')),
      ...times.slice(1).reverse(),
      ...[...shown].reverse(),
    ];
    for (const k of dropOrder) {
      if (widthOf(shown) <= opts.width || shown.length <= 2) break;
      if (shown.includes(k)) shown = shown.filter((x) => x !== k);
    }
  }
  const left = keys.filter((k) => !shown.includes(k));
  const table = render(shown);
  return left.length === 0 ? table : `${table}\n${c.dim(`(${left.length} more field${left.length === 1 ? '' : 's'}: ${left.join(', ')}; --wide or --json shows them)`)}`;
}

function isRecordList(value: unknown[]): value is Array<Record<string, unknown>> {
  return value.length > 0 && value.every(isPlainObject);
}

/** Renders any JSON value for a person: objects as aligned `key: value` blocks, lists of records as tables. */
export function formatValue(value: unknown, c: Colors, indent = 0, opts: FormatOptions = {}): string {
  const pad = ' '.repeat(indent);
  if (isScalar(value)) return pad + scalar(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}${c.dim('(none)')}`;
    if (value.every(isScalar)) return value.map((v) => pad + scalar(v)).join('\n');
    if (isRecordList(value)) {
      const width = opts.width === undefined ? undefined : opts.width - indent;
      return formatRecords(value, c, { ...opts, ...(width !== undefined ? { width } : {}) })
        .split('\n')
        .map((l) => pad + l)
        .join('\n');
    }
    return value.map((v, i) => `${pad}${c.dim(`[${i}]`)}\n${formatValue(v, c, indent + 2, opts)}`).join('\n');
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 0) return `${pad}${c.dim('(empty)')}`;
  const width = Math.max(...keys.filter((k) => isScalar(obj[k]) || (Array.isArray(obj[k]) && (obj[k] as unknown[]).every(isScalar))).map((k) => k.length + 1), 0);
  return keys
    .map((k) => {
      const v = obj[k];
      if (isScalar(v)) return `${pad}${c.bold(`${k}:`.padEnd(width))} ${scalar(v)}`;
      if (Array.isArray(v) && v.every(isScalar)) return `${pad}${c.bold(`${k}:`.padEnd(width))} ${v.length === 0 ? c.dim('(none)') : v.map(scalar).join(', ')}`;
      return `${pad}${c.bold(`${k}:`)}\n${formatValue(v, c, indent + 2, opts)}`;
    })
    .join('\n');
}

/** `93784000` → `1d 2h 3m 4s`; under a minute with tenths of a second. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', `${s}s`].filter(Boolean).join(' ');
}
