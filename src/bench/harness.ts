/**
 * Benchmark helpers. Every figure is printed beside a baseline measured in the same run, as a
 * ratio, because absolute numbers on a shared 2-core machine mean little.
 */
import { performance } from 'node:perf_hooks';

export interface Measurement {
  name: string;
  ops: number;
  seconds: number;
  opsPerSec: number;
  /** Microseconds per operation (latency of one op, measured one at a time or per in-flight op). */
  p50Us: number;
  p99Us: number;
  note?: string;
}

export interface BenchSection {
  title: string;
  rows: Measurement[];
  /** Ratios and targets: `{ name, value, target, pass }` */
  checks: BenchCheck[];
}

export interface BenchCheck {
  name: string;
  value: number;
  /** e.g. '<= 1.5' or '>= 0.6' */
  target: string;
  pass: boolean;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** A {@link Measurement} from per-op latencies in µs (any order; not modified) and the time they took. */
export function summarise(name: string, latUs: Float64Array, seconds: number, note?: string): Measurement {
  const sorted = Float64Array.from(latUs).sort();
  const m: Measurement = { name, ops: latUs.length, seconds, opsPerSec: latUs.length / seconds, p50Us: percentile(sorted, 50), p99Us: percentile(sorted, 99) };
  if (note !== undefined) m.note = note;
  return m;
}

/**
 * Runs `op` `ops` times with `concurrency` in flight (1 = strictly one after another), after
 * `warmup` untimed runs. Latency is per op from its start to its completion.
 */
export async function measure(
  name: string,
  op: () => unknown | Promise<unknown>,
  opts: { ops: number; concurrency?: number; warmup?: number; note?: string },
): Promise<Measurement> {
  const concurrency = opts.concurrency ?? 1;
  const warmup = opts.warmup ?? Math.min(1000, Math.ceil(opts.ops / 10));
  for (let i = 0; i < warmup; i++) await op();
  const lat = new Float64Array(opts.ops);
  let next = 0;
  const start = performance.now();
  async function lane(): Promise<void> {
    while (true) {
      const i = next++;
      if (i >= opts.ops) return;
      const t0 = performance.now();
      await op();
      lat[i] = (performance.now() - t0) * 1000;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return summarise(name, lat, (performance.now() - start) / 1000, opts.note);
}

/**
 * The best of several rounds of one measurement (lowest p50, or highest ops/s), noted as such. On
 * a small shared machine other processes preempt a run at random; keeping each side's best round
 * compares both under the least disturbed conditions.
 */
export function bestRound(rounds: Measurement[], by: 'latency' | 'throughput' = 'latency'): Measurement {
  const sorted = [...rounds].sort((a, b) => (by === 'latency' ? a.p50Us - b.p50Us : b.opsPerSec - a.opsPerSec));
  return { ...sorted[0]!, note: [sorted[0]!.note, `best of ${rounds.length} rounds`].filter(Boolean).join('; ') };
}

/** Same as {@link measure} for synchronous work, without the promise overhead in the loop. */
export function measureSync(name: string, op: () => unknown, opts: { ops: number; warmup?: number }): Measurement {
  const warmup = opts.warmup ?? Math.min(10_000, Math.ceil(opts.ops / 10));
  for (let i = 0; i < warmup; i++) op();
  const lat = new Float64Array(opts.ops);
  const start = performance.now();
  for (let i = 0; i < opts.ops; i++) {
    const t0 = performance.now();
    op();
    lat[i] = (performance.now() - t0) * 1000;
  }
  return summarise(name, lat, (performance.now() - start) / 1000);
}

export function check(name: string, value: number, op: '<=' | '>=', bound: number): BenchCheck {
  return { name, value, target: `${op} ${bound}`, pass: op === '<=' ? value <= bound : value >= bound };
}

export function formatSection(section: BenchSection): string {
  const lines: string[] = [];
  lines.push(`\n## ${section.title}`);
  const header = ['measurement', 'ops/s', 'p50 µs', 'p99 µs', 'ops', 'note'];
  const rows = section.rows.map((r) => [r.name, r.opsPerSec.toFixed(0), r.p50Us.toFixed(1), r.p99Us.toFixed(1), String(r.ops), r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  lines.push(fmt(header));
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) lines.push(fmt(r));
  if (section.checks.length > 0) {
    lines.push('');
    for (const c of section.checks) lines.push(`${c.pass ? 'PASS' : 'MISS'}  ${c.name} = ${c.value.toFixed(3)} (target ${c.target})`);
  }
  return lines.join('\n');
}
