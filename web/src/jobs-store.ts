/**
 * Every job the dashboard knows, kept current by the event stream (no polling): loaded once in
 * pages of 1,000 (`GET /v1/jobs`), then each `job:*` event updates its row in place. Rate and ETA
 * are derived here from successive progress events; the overview's chart reads the finish times.
 * Views subscribe and re-render at most once per animation frame, however many events arrive.
 */
import { api, type JobProgress, type JobStatus, type JobSummary } from './api.js';
import { onEvent, onReady, type DaemonEvent } from './events.js';

export interface JobRow extends JobSummary {
  /** Units per second of the job's own measure (items, else bytes, else fraction), smoothed. */
  rate: number | null;
  rateUnit: 'items' | 'bytes' | 'fraction' | null;
  /** Seconds left at the current rate. */
  etaSeconds: number | null;
}

interface Sample {
  at: number;
  done: number;
  unit: 'items' | 'bytes' | 'fraction';
}

/** Most jobs loaded at first; beyond that the list shows the newest and says how many it left out. */
export const MAX_LOADED_JOBS = 50_000;
const PAGE = 1000;

const TERMINAL: JobStatus[] = ['completed', 'failed', 'cancelled'];

export class JobsStore {
  readonly rows = new Map<string, JobRow>();
  /** Ids, newest first (the order `GET /v1/jobs` returns). */
  order: string[] = [];
  loading = false;
  loaded = false;
  truncated = false;
  error: string | null = null;
  /** Bumped on every change, so views can memoise on it. */
  version = 0;
  /** Completions and failures seen (time ms), for the overview chart. */
  finished: Array<{ at: number; ok: boolean }> = [];

  #listeners = new Set<() => void>();
  #samples = new Map<string, Sample>();
  #frame: number | null = null;
  #missing = new Set<string>();
  #missingTimer: ReturnType<typeof setTimeout> | null = null;
  #started = false;
  #touchedDuringLoad = false;

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    this.version++;
    if (this.#frame !== null) return;
    const flush = () => {
      this.#frame = null;
      for (const l of this.#listeners) l();
    };
    // Outside a browser (the unit test) a timer stands in for the frame.
    const raf = (globalThis as { requestAnimationFrame?: (cb: () => void) => number }).requestAnimationFrame;
    this.#frame = raf ? raf.call(globalThis, flush) : (setTimeout(flush, 16) as unknown as number);
  }

  /**
   * Subscribes first, then reads: each time the event stream says its subscription is in place
   * (at first, and after a reconnection or a new login) the jobs are read, and events arriving
   * meanwhile are applied to the rows read (the newer of the two wins).
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    onEvent((e) => this.apply(e));
    onReady(() => void this.reload());
  }

  #again = false;

  async reload(): Promise<void> {
    if (this.loading) {
      this.#again = true;
      return;
    }
    this.loading = true;
    this.#touchedDuringLoad = false;
    this.error = null;
    this.#changed();
    try {
      const rows: JobSummary[] = [];
      let cursor: string | null = null;
      do {
        const q: string = `/v1/jobs?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page: { jobs: JobSummary[]; next_cursor: string | null } = await api(q);
        rows.push(...page.jobs);
        cursor = page.next_cursor;
        // The first load shows each page as it arrives: the newest jobs are on screen at once.
        if (!this.loaded) {
          if (rows.length === page.jobs.length) performance.mark('jobs:first-page');
          for (const j of page.jobs) {
            if (this.rows.has(j.job_id)) continue;
            this.rows.set(j.job_id, { ...j, rate: null, rateUnit: null, etaSeconds: null });
            this.order.push(j.job_id);
          }
          this.#changed();
        }
      } while (cursor && rows.length < MAX_LOADED_JOBS);
      this.truncated = cursor !== null;
      if (!this.loaded && !this.#touchedDuringLoad) {
        // The first load put every row in place as it came and no event changed one meanwhile.
        this.#finishedFromRows();
        performance.mark('jobs:loaded');
        this.loaded = true;
        return;
      }
      // Rows changed by events during the load keep the newer of the two.
      const next = new Map<string, JobRow>();
      for (const j of rows) {
        const known = this.rows.get(j.job_id);
        next.set(j.job_id, known && known.updated_at > j.updated_at ? known : { ...j, rate: known?.rate ?? null, rateUnit: known?.rateUnit ?? null, etaSeconds: known?.etaSeconds ?? null });
      }
      const seen = new Set(rows.map((j) => j.job_id));
      const added = this.order.filter((id) => !seen.has(id) && this.rows.has(id));
      for (const id of added) next.set(id, this.rows.get(id)!);
      this.rows.clear();
      for (const [k, v] of next) this.rows.set(k, v);
      this.order = [...added, ...rows.map((j) => j.job_id)];
      this.#finishedFromRows();
      if (!this.loaded) performance.mark('jobs:loaded');
      this.loaded = true;
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      this.loading = false;
      this.#changed();
      if (this.#again) {
        this.#again = false;
        void this.reload();
      }
    }
  }

  #finishedFromRows(): void {
    this.finished = [];
    for (const j of this.rows.values()) {
      if (j.finished_at && (j.status === 'completed' || j.status === 'failed')) this.finished.push({ at: Date.parse(j.finished_at), ok: j.status === 'completed' });
    }
  }

  /** One job fetched again (an event about a job this page has not seen, or after an action). */
  async refresh(jobId: string): Promise<void> {
    try {
      const j = await api<JobSummary>(`/v1/jobs/${encodeURIComponent(jobId)}`);
      this.#upsert(j);
    } catch {
      // Gone (or not visible): nothing to show.
    }
  }

  #upsert(j: JobSummary): void {
    if (this.loading) this.#touchedDuringLoad = true;
    const known = this.rows.get(j.job_id);
    if (!known) this.order.unshift(j.job_id);
    const summary: JobSummary = {
      job_id: j.job_id,
      job_type: j.job_type,
      status: j.status,
      priority: j.priority,
      progress: j.progress,
      attempts: j.attempts,
      max_attempts: j.max_attempts,
      error: j.error,
      waiting_for: j.waiting_for,
      requested: j.requested,
      created_at: j.created_at,
      updated_at: j.updated_at,
      started_at: j.started_at,
      finished_at: j.finished_at,
      run_at: j.run_at,
    };
    this.rows.set(j.job_id, { ...summary, rate: known?.rate ?? null, rateUnit: known?.rateUnit ?? null, etaSeconds: known?.etaSeconds ?? null });
    this.#changed();
  }

  #fetchLater(jobId: string): void {
    this.#missing.add(jobId);
    if (this.#missingTimer) return;
    this.#missingTimer = setTimeout(() => {
      this.#missingTimer = null;
      const ids = [...this.#missing];
      this.#missing.clear();
      // A few jobs are read one by one; a burst (a script dispatching hundreds) from the newest
      // pages of the list, which hold them, in a request per 1,000.
      if (ids.length <= 8) for (const id of ids) void this.refresh(id);
      else void this.#refreshNewest(new Set(ids));
    }, 50);
  }

  async #refreshNewest(wanted: Set<string>): Promise<void> {
    let cursor: string | null = null;
    try {
      for (let pages = 0; pages < 10 && wanted.size > 0; pages++) {
        const q: string = `/v1/jobs?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page: { jobs: JobSummary[]; next_cursor: string | null } = await api(q);
        for (const j of [...page.jobs].reverse()) {
          if (!wanted.delete(j.job_id)) continue;
          this.#upsert(j);
        }
        cursor = page.next_cursor;
        if (!cursor) break;
      }
    } catch {
      // The next event or reload brings them.
    }
  }

  /** Applies one event of the stream to the rows (public for the unit test). */
  apply(e: DaemonEvent): void {
    if (!e.type.startsWith('job:')) return;
    if (this.loading) this.#touchedDuringLoad = true;
    const p = e.payload;
    const id = typeof p.job_id === 'string' ? p.job_id : null;
    if (!id) return;
    const now = new Date(e.time).toISOString();
    let row = this.rows.get(id);
    if (!row) {
      if (e.type === 'job:queued') {
        row = {
          job_id: id,
          job_type: String(p.job_type ?? ''),
          status: 'queued',
          priority: typeof p.priority === 'number' ? p.priority : 0,
          progress: { fraction: null, message: null, items_done: null, items_total: null, bytes_done: null, bytes_total: null },
          attempts: 0,
          max_attempts: 0,
          error: null,
          waiting_for: null,
          requested: null,
          created_at: now,
          updated_at: now,
          started_at: null,
          finished_at: null,
          run_at: typeof p.run_at === 'string' ? p.run_at : now,
          rate: null,
          rateUnit: null,
          etaSeconds: null,
        };
        this.rows.set(id, row);
        this.order.unshift(id);
        // The event carries no attempts limit or waiting reason: the full row follows.
        this.#fetchLater(id);
        this.#changed();
      } else {
        this.#fetchLater(id);
      }
      return;
    }
    const next: JobRow = { ...row, updated_at: now };
    if (typeof p.status === 'string') next.status = p.status as JobStatus;
    switch (e.type) {
      case 'job:started':
        next.started_at = next.started_at ?? now;
        next.waiting_for = null;
        next.requested = null;
        if (typeof p.attempt === 'number') next.attempts = p.attempt;
        break;
      case 'job:progress': {
        const progress: JobProgress = {
          fraction: num(p.fraction),
          message: typeof p.message === 'string' ? p.message : null,
          items_done: num(p.items_done),
          items_total: num(p.items_total),
          bytes_done: num(p.bytes_done),
          bytes_total: num(p.bytes_total),
        };
        next.progress = progress;
        this.#rate(next, e.time);
        break;
      }
      case 'job:completed':
        next.finished_at = now;
        next.progress = { ...next.progress, fraction: 1 };
        next.etaSeconds = 0;
        this.finished.push({ at: e.time, ok: true });
        break;
      case 'job:failed':
        next.finished_at = now;
        next.error = (p.error as JobRow['error']) ?? next.error;
        if (typeof p.attempts === 'number') next.attempts = p.attempts;
        this.finished.push({ at: e.time, ok: false });
        break;
      case 'job:retrying':
        next.error = (p.error as JobRow['error']) ?? next.error;
        if (typeof p.attempts === 'number') next.attempts = p.attempts;
        if (typeof p.retry_at === 'string') next.run_at = p.retry_at;
        break;
      case 'job:queued':
        next.finished_at = null;
        next.error = p.retried ? null : next.error;
        if (typeof p.run_at === 'string') next.run_at = p.run_at;
        break;
      case 'job:cancelled':
        next.finished_at = now;
        next.requested = null;
        break;
      case 'job:paused':
      case 'job:resumed':
        next.requested = null;
        break;
    }
    if (TERMINAL.includes(next.status) || next.status === 'paused') {
      next.rate = null;
      next.etaSeconds = next.status === 'completed' ? 0 : null;
      this.#samples.delete(id);
    }
    this.rows.set(id, next);
    this.#changed();
  }

  #rate(row: JobRow, at: number): void {
    const p = row.progress;
    const sample: Sample | null =
      p.items_done !== null && p.items_total !== null
        ? { at, done: p.items_done, unit: 'items' }
        : p.bytes_done !== null && p.bytes_total !== null
          ? { at, done: p.bytes_done, unit: 'bytes' }
          : p.fraction !== null
            ? { at, done: p.fraction, unit: 'fraction' }
            : null;
    if (!sample) return;
    const prev = this.#samples.get(row.job_id);
    this.#samples.set(row.job_id, sample);
    if (!prev || prev.unit !== sample.unit || sample.at <= prev.at) return;
    const instant = (sample.done - prev.done) / ((sample.at - prev.at) / 1000);
    if (!(instant >= 0)) return;
    // Smoothed so one slow file does not swing the ETA wildly.
    row.rate = row.rate !== null && row.rateUnit === sample.unit ? row.rate * 0.7 + instant * 0.3 : instant;
    row.rateUnit = sample.unit;
    const total = sample.unit === 'items' ? p.items_total! : sample.unit === 'bytes' ? p.bytes_total! : 1;
    row.etaSeconds = row.rate > 0 ? Math.max(0, (total - sample.done) / row.rate) : null;
  }
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export const jobsStore = new JobsStore();

/** The extension (or `core`) a job type belongs to: `finance:scan` → `finance`, `files.copy` → `core`. */
export function ownerOf(jobType: string): string {
  const i = jobType.indexOf(':');
  return i > 0 ? jobType.slice(0, i) : 'core';
}
