/**
 * Methods explorer: every registered method (core and extensions) with its owner and schemas; a
 * form generated from the chosen method's input schema that calls it (`POST /v1/query|action/…`)
 * and shows the result; and the same call as a `spacedrive` command and as a GraphQL document,
 * to copy.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, callMethod, type MethodInfo } from '../api.js';
import { onEvent } from '../events.js';
import { pretty } from '../format.js';
import { linkClick, navigate } from '../router.js';
import { hasFields, SchemaForm, type Payload } from '../schema-form.js';
import { cliCommand, graphqlDocument } from '../call-syntax.js';

function CopyBox({ label, text }: { label: string; text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="copybox">
      <div class="copy-head">
        <h3>{label}</h3>
        <button
          type="button"
          class="ghost"
          aria-label={`Copy the ${label}`}
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(text);
              setCopied(true);
              setTimeout(() => setCopied(false), 1500);
            } catch {
              setCopied(false);
            }
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <pre class="code" tabIndex={0} aria-label={label}>
        {text}
      </pre>
    </div>
  );
}

export function MethodsPage({ selected }: { selected: string | null }) {
  const [methods, setMethods] = useState<MethodInfo[] | null>(null);
  const [filter, setFilter] = useState('');
  const [problem, setProblem] = useState<string | null>(null);

  const load = () =>
    api<{ methods: MethodInfo[] }>('/v1/methods')
      .then((r) => setMethods(r.methods))
      .catch((err) => setProblem((err as Error).message));

  useEffect(() => {
    void load();
    let timer: ReturnType<typeof setTimeout> | null = null;
    return onEvent((e) => {
      if (!e.type.startsWith('extension:') || timer) return;
      timer = setTimeout(() => {
        timer = null;
        void load();
      }, 100);
    });
  }, []);

  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return (methods ?? []).filter((m) => !f || m.method.toLowerCase().includes(f) || m.owner.toLowerCase().includes(f) || m.description.toLowerCase().includes(f));
  }, [methods, filter]);
  const byOwner = useMemo(() => {
    const g = new Map<string, MethodInfo[]>();
    for (const m of shown) g.set(m.owner, [...(g.get(m.owner) ?? []), m]);
    return [...g.entries()].sort(([a], [b]) => (a === 'core' ? -1 : b === 'core' ? 1 : a.localeCompare(b)));
  }, [shown]);
  const method = methods?.find((m) => m.method === selected) ?? null;

  return (
    <section aria-labelledby="methods-title" class="methods">
      <h1 id="methods-title">Methods</h1>
      {problem ? (
        <p class="error" role="alert">
          {problem}
        </p>
      ) : null}
      <div class="split">
        <nav class="method-list" aria-label="Methods">
          <label for="method-filter" class="visually-hidden">
            Filter methods
          </label>
          <input id="method-filter" type="search" placeholder="Filter: name, owner, words" value={filter} onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)} />
          <p class="dim count">{methods ? `${shown.length} of ${methods.length}` : 'loading…'}</p>
          {byOwner.map(([owner, ms]) => (
            <div key={owner}>
              <h2 class="owner">{owner}</h2>
              <ul>
                {ms.map((m) => (
                  <li key={m.method}>
                    <a href={`/methods?method=${encodeURIComponent(m.method)}`} onClick={linkClick} aria-current={m.method === selected ? 'page' : undefined} class="mono">
                      {m.method}
                    </a>
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </nav>
        <div class="method-detail">
          {method ? <MethodCall key={method.method} method={method} /> : selected && methods ? <p class="error">No method {selected}.</p> : <p class="dim">Choose a method to see its schemas and call it.</p>}
        </div>
      </div>
    </section>
  );
}

function MethodCall({ method }: { method: MethodInfo }) {
  const [payload, setPayload] = useState<Payload>({});
  const [files, setFiles] = useState<Record<string, string>>({});
  const [libraryId, setLibraryId] = useState('');
  const [result, setResult] = useState<{ ok: boolean; value: unknown; ms: number } | null>(null);
  const [busy, setBusy] = useState(false);

  return (
    <article aria-labelledby="method-title">
      <h2 id="method-title" class="mono">
        {method.method}
      </h2>
      <p>
        <span class={`badge kind-${method.kind}`}>{method.kind}</span> owner <strong>{method.owner}</strong>
        {method.scope ? <> · scope {method.scope}</> : null}
      </p>
      <p>{method.description}</p>
      <details>
        <summary>Input schema</summary>
        <pre class="code" tabIndex={0}>
          {pretty(method.input_schema)}
        </pre>
      </details>
      <details>
        <summary>Output schema</summary>
        <pre class="code" tabIndex={0}>
          {pretty(method.output_schema)}
        </pre>
      </details>
      <form
        class="panel"
        aria-label={`Call ${method.method}`}
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          const started = performance.now();
          try {
            const value = await callMethod(method.method, method.kind, payload, libraryId || undefined);
            setResult({ ok: true, value, ms: performance.now() - started });
          } catch (err) {
            const value = err instanceof ApiError ? { error: { code: err.code, message: err.message, details: err.details } } : { error: String(err) };
            setResult({ ok: false, value, ms: performance.now() - started });
          } finally {
            setBusy(false);
          }
        }}
      >
        <h3>Call it{hasFields(method.input_schema) ? '' : ' (JSON payload)'}</h3>
        <SchemaForm schema={method.input_schema} value={payload} onChange={setPayload} onFile={(path, name) => setFiles((f) => {
          const next = { ...f };
          if (name === null) delete next[path];
          else next[path] = name;
          return next;
        })} idPrefix="in" />
        {method.scope === 'library' ? (
          <div class="field">
            <label for="call-library">Library id</label>
            <input id="call-library" type="text" placeholder="(the default library)" value={libraryId} onInput={(e) => setLibraryId((e.currentTarget as HTMLInputElement).value.trim())} />
          </div>
        ) : null}
        <button type="submit" disabled={busy}>
          {busy ? 'Calling…' : method.kind === 'query' ? 'Run query' : 'Run action'}
        </button>
      </form>
      {result ? (
        <div class={`result ${result.ok ? 'ok' : 'failed'}`} role="region" aria-label="Result" aria-live="polite" data-ok={result.ok}>
          <h3>
            {result.ok ? 'Result' : 'Error'} <span class="dim">({Math.round(result.ms)} ms)</span>
          </h3>
          <pre class="code" tabIndex={0}>
            {pretty(result.value)}
          </pre>
        </div>
      ) : null}
      <CopyBox label="CLI command" text={cliCommand(method, payload, files, libraryId)} />
      <CopyBox label="GraphQL" text={graphqlDocument(method, payload, files, libraryId)} />
      <p class="dim">
        <a
          href="/methods"
          onClick={(e) => {
            e.preventDefault();
            navigate('/methods');
          }}
        >
          Back to the list
        </a>
      </p>
    </article>
  );
}
