/** Numbers, sizes, durations and times as the pages show them. */

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 1) return '< 1 s';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function formatTime(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** For narrow columns: the time alone today, else the date and the time to the minute. */
export function formatShortTime(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString();
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}`;
}

export function formatRate(rate: number | null, unit: 'items' | 'bytes' | 'fraction' | null): string {
  if (rate === null || unit === null) return '—';
  if (unit === 'bytes') return `${formatBytes(Math.round(rate))}/s`;
  if (unit === 'fraction') return `${(rate * 100).toFixed(1)} %/s`;
  return `${rate >= 10 ? Math.round(rate) : rate.toFixed(1)} items/s`;
}

export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

/**
 * Each id's shortest prefix (at least 8 characters, never ending on '-') that no other id starts
 * with, as `spacedrive jobs list` prints them: job ids are UUIDv7, whose first 8 characters change
 * once a minute, so jobs dispatched together need more. The daemon accepts any such prefix.
 */
export function shortIds(ids: string[]): Map<string, string> {
  const sorted = [...new Set(ids)].sort();
  const common = (a: string | undefined, b: string | undefined): number => {
    if (a === undefined || b === undefined) return 0;
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return i;
  };
  const out = new Map<string, string>();
  sorted.forEach((id, i) => {
    let len = Math.max(8, common(id, sorted[i - 1]) + 1, common(id, sorted[i + 1]) + 1);
    if (id[len - 1] === '-') len++;
    out.set(id, id.slice(0, Math.min(len, id.length)));
  });
  return out;
}

export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null';
}
