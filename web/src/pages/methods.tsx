/**
 * Methods explorer: every registered method (core and extensions) with its owner and schemas; a
 * form generated from the chosen method's input schema that calls it (`POST /v1/query|action/…`)
 * and shows the result; and the same call as a `spacedrive` command and as a GraphQL document,
 * to copy.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, callMethod, type JsonSchema, type MethodInfo } from '../api.js';
import { onEvent } from '../events.js';
import { pretty } from '../format.js';
import { linkClick, navigate } from '../router.js';
import { hasFields, isBinaryField, SchemaForm, type Payload } from '../schema-form.js';

/** `query:finance:classify_receipt.v1` → `finance:classify_receipt`; a version above 1 stays (`files.copy.v2`). */
export function cliName(method: string): string {
  const m = /^(query|action):(.+?)(\.input)?\.v(\d+)$/.exec(method);
  if (!m) return method;
  return m[4] === '1' ? m[2]! : `${m[2]}.v${m[4]}`;
}

/** The GraphQL field of a method (docs/http-api.md#graphql): `finance_classifyReceipt`, `jobs_getStatus`, `core_status_v2`. */
export function graphqlField(method: string): string {
  const m = /^(query|action):(.+?)(\.input)?\.v(\d+)$/.exec(method);
  if (!m) return method;
  const body = m[2]!;
  const colon = body.indexOf(':');
  const [ext, rest] = colon >= 0 ? [body.slice(0, colon).replace(/-/g, '_'), body.slice(colon + 1)] : [null, body];
  const parts = rest.split('.');
  const name = parts.pop()!;
  const camel = name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  const prefix = [ext, ...parts].filter((p): p is string => p !== null && p !== '').join('_');
  return `${prefix ? `${prefix}_` : ''}${camel}${m[4] === '1' ? '' : `_v${m[4]}`}`;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The call as a command line: scalars and lists of scalars as `--field value`, binary fields as
 * the chosen file (the CLI reads a path for them), anything nested as `--json-input`.
 */
export function cliCommand(m: MethodInfo, payload: Payload, files: Record<string, string>, libraryId: string): string {
  const head = `spacedrive ${m.kind} ${cliName(m.method)}`;
  const lib = libraryId ? ` --library ${shellQuote(libraryId)}` : '';
  const props = m.input_schema.properties ?? {};
  const entries = Object.entries(payload);
  const flat = entries.every(([k, v]) => files[k] !== undefined || ['string', 'number', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every((x) => ['string', 'number'].includes(typeof x))));
  if (!flat) {
    const shown = Object.fromEntries(entries.map(([k, v]) => [k, files[k] !== undefined ? `<base64 of ${files[k]}>` : v]));
    return `${head} --json-input ${shellQuote(JSON.stringify(shown))}${lib}`;
  }
  const flags = entries.map(([k, v]) => {
    const flag = `--${k.replace(/_/g, '-')}`;
    if (files[k] !== undefined || (props[k] && isBinaryField(k, props[k]!) && typeof v === 'string' && files[k])) return `${flag} ${shellQuote(files[k]!)}`;
    if (typeof v === 'boolean') return v ? flag : `${flag}=false`;
    if (Array.isArray(v)) return `${flag} ${shellQuote(v.join(','))}`;
    return `${flag} ${shellQuote(String(v))}`;
  });
  return [head, ...flags].join(' ') + lib;
}

function graphqlValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(graphqlValue).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${k}: ${graphqlValue(x)}`).join(', ')}}`;
  return JSON.stringify(v);
}

function representableArgs(schema: JsonSchema): boolean {
  return (schema.type === 'object' || schema.properties !== undefined) && Object.keys(schema.properties ?? {}).length > 0;
}

/** The call as a GraphQL document: arguments are the input's properties, the result its `_json`. */
export function graphqlDocument(m: MethodInfo, payload: Payload, files: Record<string, string>): string {
  const op = m.kind === 'query' ? 'query' : 'mutation';
  const value = (k: string, v: unknown) => (files[k] !== undefined ? `"<base64 of ${files[k]}>"` : graphqlValue(v));
  const args = representableArgs(m.input_schema)
    ? Object.entries(payload).map(([k, v]) => `${k}: ${value(k, v)}`)
    : Object.keys(payload).length > 0
      ? [`input: ${graphqlValue(payload)}`]
      : [];
  const out = m.output_schema;
  const selection = (out.type === 'object' || out.properties) && Object.keys(out.properties ?? {}).length > 0 ? ' { _json }' : '';
  return `${op} {\n  ${graphqlField(m.method)}${args.length ? `(${args.join(', ')})` : ''}${selection}\n}`;
}

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
                    <a href={`/methods/${encodeURIComponent(m.method)}`} onClick={linkClick} aria-current={m.method === selected ? 'page' : undefined} class="mono">
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
      <CopyBox label="GraphQL" text={graphqlDocument(method, payload, files)} />
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
