/**
 * Jobs: every job in a windowed table (status, type, owner, progress, rate, ETA, what it waits
 * for), filtered by status, type and extension, kept live by the event stream; and the dispatch
 * form, generated from the chosen job type's params schema.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, JOB_STATUSES, type JobStatus, type JobType } from '../api.js';
import { formatDuration, formatRate, formatShortTime, formatTime, shortId, shortIds } from '../format.js';
import { jobsStore, ownerOf, type JobRow } from '../jobs-store.js';
import { linkClick, navigate } from '../router.js';
import { hasFields, SchemaForm, type Payload } from '../schema-form.js';
import { useStore } from '../use-store.js';
import { VirtualTable, type Column } from '../virtual-table.js';

/** Filters survive a visit to a job's page and back. */
const filters = { status: '' as '' | JobStatus, type: '', owner: '' };

export function ProgressBar({ row }: { row: Pick<JobRow, 'progress' | 'status' | 'job_id'> }) {
  const f = row.status === 'completed' ? 1 : row.progress.fraction;
  const pct = f === null ? null : Math.round(f * 100);
  return (
    <div class="bar-wrap">
      <progress
        class={`bar bar-${row.status}`}
        max={100}
        value={pct ?? undefined}
        aria-label={`progress of job ${shortId(row.job_id)}`}
        aria-valuetext={pct === null ? 'not reported' : `${pct}%`}
        data-fraction={f ?? ''}
      />
      <span class="bar-text">{pct === null ? '—' : `${pct}%`}</span>
    </div>
  );
}

export function StatusBadge({ status, requested }: { status: string; requested?: string | null }) {
  return (
    <span class={`badge status-${status}`} data-status={status}>
      {status.replace('_', ' ')}
      {requested ? ` (${requested} requested)` : ''}
    </span>
  );
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** The daemon's `run_at <ISO time>` / `retry <ISO time>` in the reader's time; other reasons as they are. */
export function waitingWords(waitingFor: string): string {
  const m = /^(run_at|retry) (\d{4}-\d\d-\d\dT[\d:.]+Z)$/.exec(waitingFor);
  if (!m) return waitingFor;
  return `${m[1] === 'retry' ? 'retry at' : 'start at'} ${formatShortTime(m[2]!)}`;
}

const columns = (short: Map<string, string>): Column<JobRow>[] => [
  {
    key: 'id',
    header: 'Job',
    width: '10.5rem',
    cell: (j) => (
      <a href={`/jobs/${j.job_id}`} onClick={linkClick} class="mono" title={j.job_id} aria-label={`job ${j.job_id}, ${j.job_type}, ${j.status}`}>
        {short.get(j.job_id) ?? shortId(j.job_id)}
      </a>
    ),
  },
  { key: 'type', header: 'Type', width: 'minmax(8rem, 1.4fr)', cell: (j) => <span class="mono">{j.job_type}</span> },
  { key: 'owner', header: 'Owner', width: '6rem', cell: (j) => ownerOf(j.job_type) },
  { key: 'status', header: 'Status', width: '8.5rem', cell: (j) => <StatusBadge status={j.status} requested={j.requested} /> },
  { key: 'progress', header: 'Progress', width: 'minmax(8rem, 1fr)', cell: (j) => <ProgressBar row={j} /> },
  { key: 'rate', header: 'Rate', width: '6.5rem', cell: (j) => formatRate(j.rate, j.rateUnit) },
  { key: 'eta', header: 'ETA', width: '5.5rem', cell: (j) => (j.etaSeconds === null || TERMINAL.has(j.status) ? '—' : formatDuration(j.etaSeconds)) },
  {
    key: 'waiting',
    header: 'Waiting for',
    width: 'minmax(9rem, 1.3fr)',
    cell: (j) => <span title={j.waiting_for ?? j.error?.message ?? ''}>{j.waiting_for ? waitingWords(j.waiting_for) : j.error ? `${j.error.code}` : '—'}</span>,
  },
  { key: 'created', header: 'Created', width: '8.5rem', cell: (j) => <span class="dim" title={formatTime(j.created_at)}>{formatShortTime(j.created_at)}</span> },
];

export function JobsPage() {
  useStore(jobsStore);
  // An address with filters (`/jobs?status=failed&owner=finance`) sets them; else the last ones.
  const query = new URLSearchParams(location.search);
  const [status, setStatus] = useState(query.has('status') ? ((query.get('status') ?? '') as JobStatus | '') : filters.status);
  const [type, setType] = useState(query.has('type') ? (query.get('type') ?? '') : filters.type);
  const [owner, setOwner] = useState(query.has('owner') ? (query.get('owner') ?? '') : filters.owner);
  // The address follows the filters, so a filtered list can be bookmarked or shared.
  useEffect(() => {
    const q = new URLSearchParams();
    if (status) q.set('status', status);
    if (type) q.set('type', type);
    if (owner) q.set('owner', owner);
    const next = `/jobs${q.size > 0 ? `?${q}` : ''}`;
    if (next !== location.pathname + location.search) history.replaceState(null, '', next);
  }, [status, type, owner]);
  const [dispatchOpen, setDispatchOpen] = useState(false);
  Object.assign(filters, { status, type, owner });

  const version = jobsStore.version;
  const all = useMemo(() => jobsStore.order.map((id) => jobsStore.rows.get(id)!).filter(Boolean), [version]);
  const short = useMemo(() => shortIds(jobsStore.order), [jobsStore.order.length]);
  const cols = useMemo(() => columns(short), [short]);
  const types = useMemo(() => [...new Set(all.map((j) => j.job_type))].sort(), [all.length, version]);
  const owners = useMemo(() => [...new Set(all.map((j) => ownerOf(j.job_type)))].sort(), [types]);
  const rows = useMemo(
    () => all.filter((j) => (!status || j.status === status) && (!type || j.job_type === type) && (!owner || ownerOf(j.job_type) === owner)),
    [all, status, type, owner],
  );
  // The bench (src/bench/dashboard.bench.ts) times the first render of every job by this mark.
  const fullyShown = jobsStore.loaded && !jobsStore.loading;
  useEffect(() => {
    if (fullyShown && performance.getEntriesByName('jobs:rendered').length === 0) performance.mark('jobs:rendered');
  }, [fullyShown]);
  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    for (const j of all) c[j.status] = (c[j.status] ?? 0) + 1;
    return c;
  }, [all]);

  return (
    <section aria-labelledby="jobs-title">
      <div class="page-head">
        <h1 id="jobs-title">Jobs</h1>
        <button type="button" onClick={() => setDispatchOpen(!dispatchOpen)} aria-expanded={dispatchOpen} aria-controls="dispatch">
          {dispatchOpen ? 'Close dispatch form' : 'Dispatch a job'}
        </button>
      </div>
      {dispatchOpen ? <DispatchForm /> : null}
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter jobs">
        <label>
          Status{' '}
          <select value={status} onChange={(e) => setStatus((e.currentTarget as HTMLSelectElement).value as JobStatus | '')} name="status">
            <option value="">all ({all.length})</option>
            {JOB_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ')} ({counts[s] ?? 0})
              </option>
            ))}
          </select>
        </label>
        <label>
          Type{' '}
          <select value={type} onChange={(e) => setType((e.currentTarget as HTMLSelectElement).value)} name="type">
            <option value="">all</option>
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Extension{' '}
          <select value={owner} onChange={(e) => setOwner((e.currentTarget as HTMLSelectElement).value)} name="owner">
            <option value="">all</option>
            {owners.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </label>
        <span class="count" role="status" aria-live="polite" data-count={rows.length} data-loaded={jobsStore.loaded && !jobsStore.loading}>
          {jobsStore.loading && !jobsStore.loaded ? 'loading…' : `${rows.length.toLocaleString()} job${rows.length === 1 ? '' : 's'}`}
          {jobsStore.truncated ? ' (the newest only)' : ''}
        </span>
      </form>
      {jobsStore.error ? (
        <p class="error" role="alert">
          Could not load the jobs: {jobsStore.error}
        </p>
      ) : null}
      <VirtualTable label="Jobs" rows={rows} rowKey={(j) => j.job_id} columns={cols} empty={jobsStore.loaded ? 'No jobs match.' : 'Loading…'} />
    </section>
  );
}

function DispatchForm() {
  const [types, setTypes] = useState<JobType[] | null>(null);
  const [chosen, setChosen] = useState('');
  const [params, setParams] = useState<Payload>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api<{ types: JobType[] }>('/v1/job-types')
      .then((r) => setTypes(r.types.sort((a, b) => a.job_type.localeCompare(b.job_type))))
      .catch((err) => setProblem((err as Error).message));
  }, []);

  const type = types?.find((t) => t.job_type === chosen);
  return (
    <form
      id="dispatch"
      class="panel"
      aria-label="Dispatch a job"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!type) return;
        setBusy(true);
        setProblem(null);
        try {
          const r = await api<{ job_id: string }>('/v1/jobs', { body: { type: type.job_type, params } });
          await jobsStore.refresh(r.job_id);
          navigate(`/jobs/${r.job_id}`);
        } catch (err) {
          setProblem(err instanceof ApiError ? `[${err.code}] ${err.message}` : String(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <div class="field">
        <label for="dispatch-type">Job type</label>
        <select
          id="dispatch-type"
          required
          value={chosen}
          onChange={(e) => {
            setChosen((e.currentTarget as HTMLSelectElement).value);
            setParams({});
          }}
        >
          <option value="">{types ? '(choose)' : 'loading…'}</option>
          {(types ?? []).map((t) => (
            <option key={t.job_type} value={t.job_type}>
              {t.job_type}
            </option>
          ))}
        </select>
        {type ? <small class="help">{type.description}</small> : null}
      </div>
      {type ? (
        <fieldset>
          <legend>Params{hasFields(type.params_schema) ? '' : ' (JSON)'}</legend>
          <SchemaForm key={type.job_type} schema={type.params_schema} value={params} onChange={setParams} idPrefix="param" />
        </fieldset>
      ) : null}
      {problem ? (
        <p class="error" role="alert">
          {problem}
        </p>
      ) : null}
      <button type="submit" disabled={!type || busy}>
        {busy ? 'Dispatching…' : 'Dispatch'}
      </button>
    </form>
  );
}
