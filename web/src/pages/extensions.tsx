/**
 * Extensions: each installed extension with its version, state, permissions (each grant said in
 * words), limits and counters; enable, disable, reload and uninstall; and install from a package
 * (its files, or its folder), which first asks the daemon for a dry run and shows what the
 * package asks for — the same confirmation as `spacedrive extensions install`.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type ExtensionInfo, type ExtensionLimits, type InstallPreview, type ManifestPermissions } from '../api.js';
import { onEvent } from '../events.js';
import { formatBytes, formatTime } from '../format.js';
import { linkClick } from '../router.js';
import { jobsStore, ownerOf } from '../jobs-store.js';
import { useStore } from '../use-store.js';
import { toBase64 } from '../schema-form.js';

type Listed = ExtensionInfo & { info?: ExtensionInfo };

/** Each grant as a sentence a person can judge before saying yes. */
export function describePermissions(p: ManifestPermissions): Array<{ grant: string; words: string; wide: boolean }> {
  const list = (xs: string[]) => xs.join(', ');
  return [
    {
      grant: 'call',
      words: p.call.length ? `May call these methods of core or other extensions: ${list(p.call)}.` : 'Calls only its own methods.',
      wide: p.call.length > 0,
    },
    {
      grant: 'dispatch',
      words: p.dispatch.length ? `May start jobs of these types that are not its own: ${list(p.dispatch)}.` : 'Starts only jobs of its own types.',
      wide: p.dispatch.length > 0,
    },
    {
      grant: 'manage_jobs',
      words: p.manage_jobs.length
        ? `May see, pause, resume, cancel and retry anyone's jobs of these types: ${list(p.manage_jobs)}.`
        : 'Sees and controls only its own jobs and jobs it started.',
      wide: p.manage_jobs.length > 0,
    },
    {
      grant: 'filesystem',
      words: p.filesystem.length
        ? `May have core ${p.filesystem.map((g) => `${g.access === 'write' ? 'read and write' : g.access === 'read' ? 'read' : g.access} files under ${g.path}`).join('; ')}.`
        : 'No access to files on this machine.',
      wide: p.filesystem.length > 0,
    },
    {
      grant: 'libraries',
      words: p.libraries.length ? (p.libraries.includes('*') ? 'May read and change every library.' : `May read and change these libraries: ${list(p.libraries)}.`) : 'No access to libraries.',
      wide: p.libraries.length > 0,
    },
    {
      grant: 'network',
      words: p.network.length ? `May make HTTP requests to: ${list(p.network)}.` : 'No network access.',
      wide: p.network.length > 0,
    },
  ];
}

const LIMIT_WORDS: Record<string, (v: number) => string> = {
  memory_mb: (v) => `${v} MiB of memory per instance`,
  call_timeout_ms: (v) => `${v} ms per call`,
  instances: (v) => `${v} instance${v === 1 ? '' : 's'} at once`,
  max_input_bytes: (v) => `input ≤ ${formatBytes(v)}`,
  max_output_bytes: (v) => `output ≤ ${formatBytes(v)}`,
  concurrent_jobs: (v) => `${v} job${v === 1 ? '' : 's'} at once`,
  requests_per_minute: (v) => `${v} host calls per minute`,
  http_timeout_ms: (v) => `HTTP requests ≤ ${v} ms`,
  http_max_response_bytes: (v) => `HTTP responses ≤ ${formatBytes(v)}`,
  max_operations: (v) => `up to ${v} methods`,
  max_job_types: (v) => `up to ${v} job types`,
  max_schema_bytes: (v) => `schemas ≤ ${formatBytes(v)}`,
  max_registration_bytes: (v) => `registrations ≤ ${formatBytes(v)}`,
  job_progress_timeout_ms: (v) => `a job silent for ${v} ms is stalled`,
  max_state_bytes: (v) => `job checkpoints ≤ ${formatBytes(v)}`,
};

export function PermissionList({ permissions }: { permissions: ManifestPermissions }) {
  return (
    <ul class="grants">
      {describePermissions(permissions).map((g) => (
        <li key={g.grant} class={g.wide ? 'grant-wide' : 'grant-none'} data-grant={g.grant}>
          <span class="mono grant-name">{g.grant}</span> {g.words}
        </li>
      ))}
    </ul>
  );
}

export function LimitList({ limits }: { limits: ExtensionLimits }) {
  return (
    <ul class="limits">
      {Object.entries(limits).map(([k, v]) => (
        <li key={k}>{LIMIT_WORDS[k] ? LIMIT_WORDS[k]!(v) : `${k}: ${v}`}</li>
      ))}
    </ul>
  );
}

/** A modal question (a native <dialog>: focus stays inside, Escape cancels). */
function Confirm({ title, children, confirmLabel, onAnswer }: { title: string; children: preact.ComponentChildren; confirmLabel: string; onAnswer: (yes: boolean) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onCancel={() => onAnswer(false)}>
      <h2 id="confirm-title">{title}</h2>
      {children}
      <div class="actions">
        <button type="button" class="ghost" onClick={() => onAnswer(false)}>
          Cancel
        </button>
        <button type="button" class="primary" onClick={() => onAnswer(true)} autofocus>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** The package's files as the install endpoint takes them: path inside the package → base64. */
async function packageFiles(files: FileList): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of Array.from(files)) {
    // A folder pick names files `<folder>/manifest.json`: the package is the folder's content.
    const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath;
    const path = rel ? rel.split('/').slice(1).join('/') : f.name;
    out[path] = await toBase64(f);
  }
  return out;
}

export function ExtensionsPage() {
  const [extensions, setExtensions] = useState<ExtensionInfo[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [preview, setPreview] = useState<{ preview: InstallPreview; files: Record<string, string> } | null>(null);
  const [uninstalling, setUninstalling] = useState<ExtensionInfo | null>(null);
  const [enableOnInstall, setEnableOnInstall] = useState(true);

  const load = async () => {
    try {
      const r = await api<{ extensions: Listed[] }>('/v1/extensions');
      setExtensions(r.extensions.map((e) => (e.info ? { ...e, ...e.info } : e)).sort((a, b) => a.id.localeCompare(b.id)));
    } catch (err) {
      setProblem((err as Error).message);
    }
  };

  useEffect(() => {
    void load();
    let timer: ReturnType<typeof setTimeout> | null = null;
    // Extension events (installed, loaded, failed, reloaded, unloaded…) change the list: read it again.
    return onEvent((e) => {
      if (!e.type.startsWith('extension:') || timer) return;
      timer = setTimeout(() => {
        timer = null;
        void load();
      }, 100);
    });
  }, []);

  const run = async (label: string, what: () => Promise<unknown>, done: string) => {
    setBusy(label);
    setProblem(null);
    setNotice(null);
    try {
      await what();
      setNotice(done);
      await load();
    } catch (err) {
      setProblem(err instanceof ApiError ? `[${err.code}] ${err.message}` : String(err));
    } finally {
      setBusy(null);
    }
  };

  const choose = async (input: HTMLInputElement) => {
    if (!input.files || input.files.length === 0) return;
    setProblem(null);
    setNotice(null);
    try {
      const files = await packageFiles(input.files);
      const p = await api<InstallPreview>('/v1/extensions/install', { body: { files, dry_run: true } });
      setPreview({ preview: p, files });
    } catch (err) {
      setProblem(err instanceof ApiError ? `[${err.code}] ${err.message}` : String(err));
    } finally {
      input.value = '';
    }
  };

  return (
    <section aria-labelledby="ext-title">
      <div class="page-head">
        <h1 id="ext-title">Extensions</h1>
      </div>
      <form class="panel install" aria-label="Install an extension" onSubmit={(e) => e.preventDefault()}>
        <h2>Install from a package</h2>
        <p class="help">A package is a folder with manifest.json and its WebAssembly module (for example build/extensions/&lt;id&gt; after npm run build). You will see what it asks for before anything is installed.</p>
        <div class="row">
          <div class="field">
            <label for="package-files">Package files</label>
            <input id="package-files" type="file" multiple accept=".json,.wasm,application/json,application/wasm" onChange={(e) => void choose(e.currentTarget as HTMLInputElement)} />
          </div>
          <div class="field">
            <label for="package-folder">or its folder</label>
            <input id="package-folder" type="file" {...({ webkitdirectory: true } as Record<string, boolean>)} onChange={(e) => void choose(e.currentTarget as HTMLInputElement)} />
          </div>
          <label class="check">
            <input type="checkbox" checked={enableOnInstall} onChange={(e) => setEnableOnInstall((e.currentTarget as HTMLInputElement).checked)} /> enable it now
          </label>
        </div>
      </form>
      {problem ? (
        <p class="error" role="alert">
          {problem}
        </p>
      ) : null}
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      {preview ? (
        <Confirm
          title={`Install ${preview.preview.name} (${preview.preview.id}) ${preview.preview.version}?`}
          confirmLabel="Install with these permissions"
          onAnswer={(yes) => {
            const p = preview;
            setPreview(null);
            if (!yes) {
              setNotice('Not installed.');
              return;
            }
            void run(
              'install',
              () => api('/v1/extensions/install', { body: { files: p.files, enabled: enableOnInstall } }),
              `Installed ${p.preview.id} ${p.preview.version}.`,
            );
          }}
        >
          {preview.preview.author ? <p class="dim">by {preview.preview.author}</p> : null}
          {preview.preview.description ? <p>{preview.preview.description}</p> : null}
          {preview.preview.installed_version ? (
            <p class="warn">Version {preview.preview.installed_version} is installed; this replaces it.</p>
          ) : null}
          <h3>It asks for these permissions</h3>
          <PermissionList permissions={preview.preview.permissions} />
          <h3>Limits</h3>
          <LimitList limits={preview.preview.limits} />
        </Confirm>
      ) : null}
      {uninstalling ? (
        <Confirm
          title={`Uninstall ${uninstalling.id}?`}
          confirmLabel="Uninstall"
          onAnswer={(yes) => {
            const ext = uninstalling;
            setUninstalling(null);
            if (yes) void run(`uninstall:${ext.id}`, () => api(`/v1/extensions/${encodeURIComponent(ext.id)}`, { method: 'DELETE' }), `Uninstalled ${ext.id}.`);
          }}
        >
          <p>Its methods and job types go away and its files are removed from the data directory.</p>
        </Confirm>
      ) : null}
      {extensions === null ? <p>Loading extensions…</p> : null}
      {extensions?.length === 0 ? <p class="dim">No extensions installed.</p> : null}
      <div class="cards">
        {(extensions ?? []).map((x) => (
          <article class="card" key={x.id} aria-labelledby={`ext-${x.id}`} data-extension={x.id} data-state={x.state}>
            <header class="card-head">
              <h2 id={`ext-${x.id}`}>
                {x.name} <span class="mono dim">{x.id}</span> <span class="version">{x.version}</span>
              </h2>
              <span class={`badge state-${x.state}`} data-state={x.state}>
                {x.state}
              </span>
            </header>
            {x.description ? <p>{x.description}</p> : null}
            {x.error ? (
              <p class="error">
                [{x.error.code}] {x.error.message}
              </p>
            ) : null}
            <div class="actions" role="group" aria-label={`${x.id} controls`}>
              {x.enabled ? (
                <button type="button" disabled={busy !== null} onClick={() => void run(`disable:${x.id}`, () => api(`/v1/extensions/${x.id}/disable`, { method: 'POST', body: {} }), `Disabled ${x.id}.`)}>
                  Disable
                </button>
              ) : (
                <button type="button" disabled={busy !== null} onClick={() => void run(`enable:${x.id}`, () => api(`/v1/extensions/${x.id}/enable`, { method: 'POST', body: {} }), `Enabled ${x.id}.`)}>
                  Enable
                </button>
              )}
              <button type="button" disabled={busy !== null || !x.enabled} onClick={() => void run(`reload:${x.id}`, () => api(`/v1/extensions/${x.id}/reload`, { method: 'POST', body: {} }), `Reloaded ${x.id}.`)}>
                Reload
              </button>
              <button type="button" class="danger" disabled={busy !== null} onClick={() => setUninstalling(x)}>
                Uninstall
              </button>
            </div>
            <details>
              <summary>Permissions</summary>
              {x.permissions ? <PermissionList permissions={x.permissions} /> : <p class="dim">unknown</p>}
            </details>
            <details>
              <summary>Limits</summary>
              {x.limits ? <LimitList limits={x.limits} /> : <p class="dim">unknown</p>}
            </details>
            {Array.isArray(x.operations) && Array.isArray(x.job_types) ? (
              <details>
                <summary>
                  Methods and job types ({x.operations.length} / {x.job_types.length})
                </summary>
                <ul class="plain">
                  {x.operations.map((o) => (
                    <li key={o.method}>
                      <a href={`/methods?method=${encodeURIComponent(o.method)}`} onClick={linkClick} class="mono">
                        {o.method}
                      </a>{' '}
                      <span class="dim">{o.description}</span>
                    </li>
                  ))}
                  {x.job_types.map((j) => (
                    <li key={j.job_type}>
                      <span class="mono">{j.job_type}</span> <span class="badge">job{j.resumable ? ', resumable' : ''}</span> <span class="dim">{j.description}</span>
                    </li>
                  ))}
                </ul>
              </details>
            ) : null}
            <Counters x={x} />
          </article>
        ))}
      </div>
    </section>
  );
}

/** Its jobs by outcome, from the jobs this page has (the job store, kept by the event stream). */
function jobOutcomes(id: string): { completed: number; failed: number; running: number } {
  const out = { completed: 0, failed: 0, running: 0 };
  for (const j of jobsStore.rows.values()) {
    if (ownerOf(j.job_type) !== id) continue;
    if (j.status === 'completed') out.completed++;
    else if (j.status === 'failed') out.failed++;
    else if (j.status === 'running') out.running++;
  }
  return out;
}

function Counters({ x }: { x: ExtensionInfo }) {
  useStore(jobsStore);
  const jobs = jobOutcomes(x.id);
  const s = x.stats;
  const extra = (x.counters ?? x.metrics) as Record<string, unknown> | undefined;
  const rows: Array<[string, string]> = [
    ['calls', s ? String(s.calls) : '—'],
    ['on the main thread', s ? String(s.inline ?? 0) : '—'],
    ['instances (busy / queued)', s ? `${s.instances} (${s.busy} / ${s.queued})` : '—'],
    ['instances replaced after a trap or timeout', s ? String(s.replaced) : '—'],
    ['running jobs', String(x.running_jobs ?? 0)],
    ['jobs completed / failed', `${jobs.completed} / ${jobs.failed}`],
    ['memory limit', x.limits ? `${x.limits.memory_mb} MiB per instance` : '—'],
    ['operations / job types', `${Array.isArray(x.operations) ? x.operations.length : x.operations} / ${Array.isArray(x.job_types) ? x.job_types.length : x.job_types}`],
    ['loaded', x.loaded_at ? `${formatTime(x.loaded_at)}${x.load_ms !== null ? ` in ${x.load_ms} ms` : ''}` : '—'],
  ];
  // Counters the daemon adds later (errors, memory in use …) show up without a change here.
  const known = new Set(['calls', 'inline', 'instances', 'busy', 'queued', 'replaced']);
  for (const [k, v] of Object.entries((s ?? {}) as Record<string, unknown>)) if (!known.has(k) && typeof v === 'number') rows.push([k.replace(/_/g, ' '), /bytes$/.test(k) ? formatBytes(v) : String(v)]);
  if (extra && typeof extra === 'object') for (const [k, v] of Object.entries(extra)) if (typeof v === 'number' || typeof v === 'string') rows.push([k.replace(/_/g, ' '), String(v)]);
  return (
    <table class="table counters" aria-label={`${x.id} counters`}>
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
