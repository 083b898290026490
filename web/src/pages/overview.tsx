/**
 * Overview: the daemon's status, job throughput, a chart of completions and failures per minute
 * over the last hour (from the job store, kept live by the event stream), and the libraries with
 * their entry counts.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, callMethod, type DaemonStatus, type Library, type LibraryInfo } from '../api.js';
import { onEvent } from '../events.js';
import { formatBytes, formatDuration } from '../format.js';
import { jobsStore } from '../jobs-store.js';
import { linkClick } from '../router.js';
import { useStore } from '../use-store.js';

interface Cluster {
  store: string;
  nodes: Array<{ node_id: string; host: string; pid: number; version: string; started_at: string; heartbeat_at: string; jobs_running: number; draining: boolean; self: boolean; lost: boolean }>;
}

const MINUTE = 60_000;
const BUCKETS = 60;

export function buckets(finished: Array<{ at: number; ok: boolean }>, now: number): Array<{ ok: number; failed: number }> {
  const out = Array.from({ length: BUCKETS }, () => ({ ok: 0, failed: 0 }));
  const start = now - BUCKETS * MINUTE;
  for (const f of finished) {
    if (f.at < start || f.at > now) continue;
    const i = Math.min(BUCKETS - 1, Math.floor((f.at - start) / MINUTE));
    if (f.ok) out[i]!.ok++;
    else out[i]!.failed++;
  }
  return out;
}

function Chart({ data }: { data: Array<{ ok: number; failed: number }> }) {
  const width = 600;
  const height = 120;
  const max = Math.max(1, ...data.map((d) => d.ok + d.failed));
  const bw = width / data.length;
  const y = (v: number) => (height * v) / max;
  const total = data.reduce((s, d) => s + d.ok, 0);
  const failed = data.reduce((s, d) => s + d.failed, 0);
  return (
    <figure class="chart">
      <div class="chart-plot">
        <span class="tick tick-max" aria-hidden="true">
          {max}
        </span>
        <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="chart-title chart-desc" preserveAspectRatio="none">
          <title id="chart-title">Jobs finished per minute, last hour</title>
          <desc id="chart-desc">
            {total} completed and {failed} failed in the last hour; the busiest minute had {max} finished.
          </desc>
          <line x1={0} y1={height} x2={width} y2={height} class="axis" vector-effect="non-scaling-stroke" />
          {data.map((d, i) => {
            const x = i * bw;
            const hOk = y(d.ok);
            const hFail = y(d.failed);
            return (
              <g key={i}>
                {d.ok > 0 ? <rect class="ok" x={x + 0.5} width={Math.max(1, bw - 1)} y={height - hOk} height={hOk} /> : null}
                {d.failed > 0 ? <rect class="failed" x={x + 0.5} width={Math.max(1, bw - 1)} y={height - hOk - hFail} height={hFail} /> : null}
              </g>
            );
          })}
        </svg>
      </div>
      <div class="chart-axis" aria-hidden="true">
        <span>−60 min</span>
        <span>−30 min</span>
        <span>now</span>
      </div>
      <figcaption>
        <span class="legend ok">completed</span> <span class="legend failed">failed</span> per minute
      </figcaption>
    </figure>
  );
}

export function OverviewPage() {
  useStore(jobsStore);
  const [status, setStatus] = useState<DaemonStatus | null>(null);
  const [libraries, setLibraries] = useState<Array<Library & Partial<LibraryInfo>> | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const [cluster, setCluster] = useState<Cluster | null>(null);

  useEffect(() => {
    const loadStatus = () =>
      api<DaemonStatus>('/v1/status')
        .then((s) => {
          setStatus(s);
          setNow(Date.now());
        })
        .catch((err) => setProblem((err as Error).message));
    const loadLibraries = async () => {
      try {
        const r = await api<{ libraries: Library[] }>('/v1/libraries');
        const infos = await Promise.all(
          r.libraries.map((l) => callMethod<LibraryInfo>('query:libraries.info.v1', 'query', { library_id: l.id }).then((i) => ({ ...l, ...i })).catch(() => l)),
        );
        setLibraries(infos);
      } catch (err) {
        setProblem((err as Error).message);
      }
    };
    // The daemons sharing this one's job store (query:cluster.nodes.v1); a daemon without the
    // method has no cluster view.
    const loadCluster = () =>
      callMethod<Cluster>('query:cluster.nodes.v1', 'query', {})
        .then(setCluster)
        .catch((err) => {
          if (!(err instanceof ApiError && err.code === 'UNKNOWN_METHOD')) setProblem((err as Error).message);
          setCluster(null);
        });
    void loadStatus();
    void loadLibraries();
    void loadCluster();
    // Counts follow the events (a job finishing, a library or extension changing), read at most once a second.
    let timer: ReturnType<typeof setTimeout> | null = null;
    const off = onEvent((e) => {
      if (timer || e.type === 'job:progress') return;
      timer = setTimeout(() => {
        timer = null;
        void loadStatus();
        if (e.type.startsWith('library:') || e.type.startsWith('location:') || e.type.startsWith('entry:')) void loadLibraries();
      }, 1000);
    });
    // The clock moves the chart's window and the uptime. Nodes' heartbeats have no event, so the
    // cluster's list is the one thing read again on a timer.
    let ticks = 0;
    const tick = setInterval(() => {
      setNow(Date.now());
      if (++ticks % 3 === 0) void loadCluster();
    }, 5_000);
    return () => {
      off();
      clearInterval(tick);
      if (timer) clearTimeout(timer);
    };
  }, []);

  const data = useMemo(() => buckets(jobsStore.finished, now), [jobsStore.version, now]);
  const lastMinute = data[data.length - 1]!;
  const hour = data.reduce((s, d) => ({ ok: s.ok + d.ok, failed: s.failed + d.failed }), { ok: 0, failed: 0 });
  const running = [...jobsStore.rows.values()].filter((j) => j.status === 'running').length;
  const queued = [...jobsStore.rows.values()].filter((j) => j.status === 'queued' || j.status === 'waiting_retry').length;

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      {problem ? (
        <p class="error" role="alert">
          {problem}
        </p>
      ) : null}
      <div class="stats">
        <div class="stat">
          <span class="stat-label">Daemon</span>
          <span class="stat-value" data-testid="daemon-version">{status ? `v${status.version}` : '…'}</span>
          <span class="dim">{status ? `pid ${status.pid}, up ${formatDuration((now - Date.parse(status.started_at)) / 1000)}` : ''}</span>
        </div>
        <div class="stat">
          <span class="stat-label">Running</span>
          <span class="stat-value">{running}</span>
          <span class="dim">{queued} waiting</span>
        </div>
        <div class="stat">
          <span class="stat-label">Throughput</span>
          <span class="stat-value">{hour.ok >= 60 ? `${(hour.ok / 60).toFixed(1)}/min` : `${hour.ok}/hour`}</span>
          <span class="dim">
            {lastMinute.ok} in the last minute, {hour.ok} in the hour
          </span>
        </div>
        <div class="stat">
          <span class="stat-label">Failed (hour)</span>
          <span class="stat-value">{hour.failed}</span>
          <span class="dim">
            <a href="/jobs" onClick={linkClick}>
              see jobs
            </a>
          </span>
        </div>
      </div>
      <h2>Jobs finished, last hour</h2>
      <Chart data={data} />
      {cluster && (cluster.nodes.length > 1 || cluster.store !== 'sqlite') ? (
        <>
          <h2>Cluster ({cluster.store})</h2>
          <table class="table" aria-label="Cluster nodes">
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Host</th>
                <th scope="col">Version</th>
                <th scope="col">State</th>
                <th scope="col">Jobs running</th>
                <th scope="col">Last heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {cluster.nodes.map((n) => (
                <tr key={n.node_id} data-node={n.node_id}>
                  <td class="mono">
                    {n.node_id}
                    {n.self ? <span class="dim"> (this one)</span> : null}
                  </td>
                  <td>
                    {n.host} <span class="dim">pid {n.pid}</span>
                  </td>
                  <td>{n.version}</td>
                  <td>
                    <span class={`badge ${n.lost ? 'status-failed' : n.draining ? 'status-paused' : 'status-completed'}`}>{n.lost ? 'lost' : n.draining ? 'draining' : 'up'}</span>
                  </td>
                  <td>{n.jobs_running}</td>
                  <td>{formatDuration((now - Date.parse(n.heartbeat_at)) / 1000)} ago</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      <div class="columns">
        <div>
          <h2>Libraries</h2>
          {libraries === null ? (
            <p>Loading…</p>
          ) : libraries.length === 0 ? (
            <p class="dim">No libraries.</p>
          ) : (
            <table class="table" aria-label="Libraries">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Entries</th>
                  <th scope="col">Locations</th>
                  <th scope="col">Size</th>
                </tr>
              </thead>
              <tbody>
                {libraries.map((l) => (
                  <tr key={l.id} data-library={l.id}>
                    <td>
                      {l.name}
                      {l.is_default ? <span class="dim"> (default)</span> : null}
                    </td>
                    <td>{l.entries?.toLocaleString() ?? '—'}</td>
                    <td>{l.locations ?? '—'}</td>
                    <td>{l.size_bytes !== undefined ? formatBytes(l.size_bytes) : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div>
          <h2>Daemon counters</h2>
          {status ? (
            <details>
              <summary>{Object.keys(status.counts).length} counters: calls, jobs, extensions, libraries, mail …</summary>
              <table class="table counters" aria-label="Daemon counters">
                <tbody>
                  {Object.entries(status.counts)
                    .sort(([a], [b]) => a.localeCompare(b))
                    .map(([k, v]) => (
                      <tr key={k}>
                        <th scope="row">{k.replace(/_/g, ' ')}</th>
                        <td>{v.toLocaleString()}</td>
                      </tr>
                    ))}
                </tbody>
              </table>
            </details>
          ) : (
            <p>Loading…</p>
          )}
        </div>
      </div>
    </section>
  );
}
