/**
 * One job: status and progress (live), params, the last checkpoint (`state`), output, attempts
 * and errors, its log (new lines follow each event of the job, read with `after_seq`), and the
 * pause / resume / cancel / retry controls the job's status allows.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type JobDetail, type JobLogLine } from '../api.js';
import { onEvent } from '../events.js';
import { formatDuration, formatRate, formatTime, pretty } from '../format.js';
import { jobsStore, ownerOf } from '../jobs-store.js';
import { linkClick } from '../router.js';
import { useStore } from '../use-store.js';
import { ProgressBar, StatusBadge, waitingWords } from './jobs.js';

type Control = 'pause' | 'resume' | 'cancel' | 'retry';

function allowed(job: JobDetail): Control[] {
  switch (job.status) {
    case 'queued':
    case 'waiting_retry':
      return ['pause', 'cancel'];
    case 'running':
      return job.requested ? ['cancel'] : ['pause', 'cancel'];
    case 'paused':
      return ['resume', 'cancel'];
    case 'failed':
    case 'cancelled':
      return ['retry'];
    default:
      return [];
  }
}

export function JobPage({ jobId }: { jobId: string }) {
  useStore(jobsStore);
  const [job, setJob] = useState<JobDetail | null>(null);
  const [logs, setLogs] = useState<JobLogLine[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState<Control | null>(null);
  const [fromScratch, setFromScratch] = useState(false);
  const lastSeq = useRef(0);
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    let alive = true;
    lastSeq.current = 0;
    setJob(null);
    setLogs([]);
    const load = async () => {
      try {
        const j = await api<JobDetail>(`/v1/jobs/${encodeURIComponent(jobId)}`);
        if (!alive) return;
        setJob(j);
        setProblem(null);
        const r = await api<{ logs: JobLogLine[] }>(`/v1/jobs/${encodeURIComponent(j.job_id)}/logs?after_seq=${lastSeq.current}`);
        if (!alive || r.logs.length === 0) return;
        lastSeq.current = r.logs[r.logs.length - 1]!.seq;
        setLogs((prev) => [...prev, ...r.logs].slice(-5000));
      } catch (err) {
        if (alive) setProblem(err instanceof ApiError ? `[${err.code}] ${err.message}` : String(err));
      }
    };
    void load();
    // Each event of this job brings its row and new log lines; bursts are read once.
    const off = onEvent((e) => {
      const id = e.payload.job_id;
      if (typeof id !== 'string' || !(id === jobId || id.startsWith(jobId))) return;
      if (pending.current) return;
      pending.current = setTimeout(() => {
        pending.current = null;
        void load();
      }, 100);
    });
    return () => {
      alive = false;
      off();
      if (pending.current) clearTimeout(pending.current);
      pending.current = null;
    };
  }, [jobId]);

  if (problem && !job) {
    return (
      <section>
        <h1>Job {jobId}</h1>
        <p class="error" role="alert">
          {problem}
        </p>
        <a href="/jobs" onClick={linkClick}>
          All jobs
        </a>
      </section>
    );
  }
  if (!job) return <p>Loading job…</p>;

  // The live row (progress events) is newer than the last full read between reads.
  const live = jobsStore.rows.get(job.job_id);
  const status = live && live.updated_at >= job.updated_at ? live.status : job.status;
  const progress = live && live.updated_at >= job.updated_at ? live.progress : job.progress;
  const view = { ...job, status, progress };

  const act = async (c: Control) => {
    setBusy(c);
    setProblem(null);
    try {
      const body = c === 'retry' && fromScratch ? { from_scratch: true } : {};
      const j = await api<JobDetail>(`/v1/jobs/${encodeURIComponent(job.job_id)}/${c}`, { method: 'POST', body });
      setJob(j);
      await jobsStore.refresh(j.job_id);
    } catch (err) {
      setProblem(err instanceof ApiError ? `[${err.code}] ${err.message}` : String(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <section aria-labelledby="job-title" data-job-id={job.job_id}>
      <p>
        <a href="/jobs" onClick={linkClick}>
          ← All jobs
        </a>
      </p>
      <div class="page-head">
        <h1 id="job-title">
          <span class="mono">{job.job_type}</span> <StatusBadge status={status} requested={job.requested} />
        </h1>
        <div class="actions" role="group" aria-label="Job controls">
          {allowed(view).includes('retry') ? (
            <label class="check" title="Forget the last checkpoint and start over">
              <input type="checkbox" checked={fromScratch} onChange={(e) => setFromScratch((e.currentTarget as HTMLInputElement).checked)} /> from scratch
            </label>
          ) : null}
          {(['pause', 'resume', 'cancel', 'retry'] as Control[]).map((c) => (
            <button key={c} type="button" class={c === 'cancel' ? 'danger' : ''} disabled={!allowed(view).includes(c) || busy !== null} onClick={() => void act(c)}>
              {busy === c ? `${c}…` : c[0]!.toUpperCase() + c.slice(1)}
            </button>
          ))}
        </div>
      </div>
      {problem ? (
        <p class="error" role="alert">
          {problem}
        </p>
      ) : null}
      <ProgressBar row={view} />
      <p class="dim">{status === 'completed' ? '' : (progress.message ?? '')}</p>
      <dl class="facts">
        <dt>Id</dt>
        <dd class="mono">{job.job_id}</dd>
        <dt>Owner</dt>
        <dd>{ownerOf(job.job_type)}</dd>
        <dt>Attempts</dt>
        <dd>
          {job.attempts} of {job.max_attempts} ({job.runs} run{job.runs === 1 ? '' : 's'})
        </dd>
        <dt>Rate / ETA</dt>
        <dd>
          {formatRate(live?.rate ?? null, live?.rateUnit ?? null)} / {live?.etaSeconds != null && !['completed', 'failed', 'cancelled'].includes(status) ? formatDuration(live.etaSeconds) : '—'}
        </dd>
        <dt>Items</dt>
        <dd>{progress.items_total !== null ? `${progress.items_done ?? 0} of ${progress.items_total}` : '—'}</dd>
        <dt>Waiting for</dt>
        <dd title={job.waiting_for ?? ''}>{job.waiting_for ? waitingWords(job.waiting_for) : '—'}</dd>
        <dt>Priority</dt>
        <dd>{job.priority}</dd>
        <dt>Library</dt>
        <dd class="mono">{job.library_id ?? '—'}</dd>
        <dt>Dispatched by</dt>
        <dd>{job.dispatched_by}</dd>
        <dt>Created</dt>
        <dd>{formatTime(job.created_at)}</dd>
        <dt>Started</dt>
        <dd>{formatTime(job.started_at)}</dd>
        <dt>Finished</dt>
        <dd>{formatTime(job.finished_at)}</dd>
        <dt>Last checkpoint</dt>
        <dd>{formatTime(job.checkpoint_at)}</dd>
      </dl>
      <div class="columns">
        <div>
          <h2>Params</h2>
          <pre class="code" tabIndex={0} aria-label="params">
            {pretty(job.params)}
          </pre>
          <h2>Last checkpoint</h2>
          <pre class="code" tabIndex={0} aria-label="last checkpoint">
            {job.state === null || job.state === undefined ? 'none' : pretty(job.state)}
          </pre>
          {job.output !== null && job.output !== undefined ? (
            <>
              <h2>Output</h2>
              <pre class="code" tabIndex={0} aria-label="output">
                {pretty(job.output)}
              </pre>
            </>
          ) : null}
        </div>
        <div>
          <h2>Attempts and errors</h2>
          {job.errors.length === 0 ? (
            <p class="dim">No errors.</p>
          ) : (
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Attempt</th>
                  <th scope="col">Code</th>
                  <th scope="col">Message</th>
                  <th scope="col">Time</th>
                </tr>
              </thead>
              <tbody>
                {job.errors.map((e, i) => (
                  <tr key={i}>
                    <td>{e.attempt}</td>
                    <td class="mono">{e.code}</td>
                    <td>{e.message}</td>
                    <td>{formatTime(e.time)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {job.warnings.length > 0 ? (
            <>
              <h3>Warnings</h3>
              <ul>
                {job.warnings.map((w, i) => (
                  <li key={i}>{w}</li>
                ))}
              </ul>
            </>
          ) : null}
          <h2>Log</h2>
          <ol class="log" aria-label="job log" aria-live="polite" tabIndex={0}>
            {logs.length === 0 ? <li class="dim">No log lines yet.</li> : null}
            {logs.map((l) => (
              <li key={l.seq} class={`log-${l.level}`}>
                <time dateTime={l.time}>{new Date(l.time).toLocaleTimeString()}</time> <span class="level">{l.level}</span> {l.message}
              </li>
            ))}
          </ol>
        </div>
      </div>
    </section>
  );
}
