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

/** Renders any JSON value for a person: objects as aligned `key: value` blocks, lists of records as tables. */
export function formatValue(value: unknown, c: Colors, indent = 0): string {
  const pad = ' '.repeat(indent);
  if (isScalar(value)) return pad + scalar(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}${c.dim('(none)')}`;
    if (value.every(isScalar)) return value.map((v) => pad + scalar(v)).join('\n');
    if (value.every((v) => isPlainObject(v) && Object.values(v).every((x) => isScalar(x) || (Array.isArray(x) && x.every(isScalar))))) {
      const keys = [...new Set(value.flatMap((v) => Object.keys(v as object)))];
      const rows = value.map((v) =>
        keys.map((k) => {
          const x = (v as Record<string, unknown>)[k];
          return Array.isArray(x) ? x.map(scalar).join(', ') : scalar(x);
        }),
      );
      return formatTable(keys, rows, c)
        .split('\n')
        .map((l) => pad + l)
        .join('\n');
    }
    return value.map((v, i) => `${pad}${c.dim(`[${i}]`)}\n${formatValue(v, c, indent + 2)}`).join('\n');
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
      return `${pad}${c.bold(`${k}:`)}\n${formatValue(v, c, indent + 2)}`;
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
