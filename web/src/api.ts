/**
 * The daemon's HTTP API (docs/http-api.md) as the dashboard uses it: the session cookie set by
 * `POST /v1/login` authenticates every request; writes carry the CSRF token the login (or
 * `GET /v1/session`) returned. Errors arrive as `{error:{code,message,details}}` and are thrown
 * as {@link ApiError} with that code.
 */

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
const unauthorizedListeners = new Set<() => void>();

/** Called when any request answers 401: the session expired or the daemon restarted with a new token. */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError('DAEMON_UNREACHABLE', `the daemon did not answer (${(err as Error).message}); is it still running with --http?`, 0);
  }
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
    if (res.status === 401 && !path.startsWith('/v1/login')) for (const l of unauthorizedListeners) l();
    throw new ApiError(e?.code ?? `HTTP_${res.status}`, e?.message ?? (typeof data === 'string' && data ? data : res.statusText), res.status, e?.details);
  }
  return data as T;
}

export interface Session {
  authenticated: boolean;
  csrf_token: string | null;
}

export async function getSession(): Promise<Session> {
  const s = await api<Session>('/v1/session');
  csrfToken = s.csrf_token ?? null;
  return s;
}

export async function login(token: string): Promise<void> {
  const r = await api<{ csrf_token: string }>('/v1/login', { body: { token } });
  csrfToken = r.csrf_token;
}

export async function logout(): Promise<void> {
  try {
    await api('/v1/logout', { method: 'POST', body: {} });
  } finally {
    csrfToken = null;
  }
}

/** Runs any registered method through the same dispatcher as the CLI (`POST /v1/query|action/:method`). */
export function callMethod<T = unknown>(method: string, kind: 'query' | 'action', payload: unknown, libraryId?: string): Promise<T> {
  const q = libraryId ? `?library_id=${encodeURIComponent(libraryId)}` : '';
  return api<T>(`/v1/${kind}/${encodeURIComponent(method)}${q}`, { method: 'POST', body: payload ?? {} });
}

// ---- Shapes of the answers (the core operations' outputs; see docs/wire-protocol.md) ----

export type JobStatus = 'queued' | 'running' | 'paused' | 'waiting_retry' | 'completed' | 'failed' | 'cancelled';
export const JOB_STATUSES: JobStatus[] = ['queued', 'running', 'paused', 'waiting_retry', 'completed', 'failed', 'cancelled'];

export interface JobProgress {
  fraction: number | null;
  message: string | null;
  items_done: number | null;
  items_total: number | null;
  bytes_done: number | null;
  bytes_total: number | null;
}

export interface JobSummary {
  job_id: string;
  job_type: string;
  status: JobStatus;
  priority: number;
  progress: JobProgress;
  attempts: number;
  max_attempts: number;
  error: { code: string; message: string } | null;
  waiting_for: string | null;
  requested: 'pause' | 'cancel' | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  run_at: string;
}

export interface JobDetail extends JobSummary {
  params: unknown;
  state: unknown;
  output: unknown;
  errors: Array<{ attempt: number; code: string; message: string; time: string }>;
  warnings: string[];
  runs: number;
  dedupe_key: string | null;
  library_id: string | null;
  dispatched_by: string;
  checkpoint_at: string | null;
}

export interface JobLogLine {
  seq: number;
  time: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  description?: string;
  default?: unknown;
  format?: string;
  contentEncoding?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  additionalProperties?: boolean | JsonSchema;
  [key: string]: unknown;
};

export interface JobType {
  job_type: string;
  owner: string;
  version: number;
  resumable: boolean;
  description: string;
  params_schema: JsonSchema;
}

export interface MethodInfo {
  method: string;
  kind: 'query' | 'action';
  scope?: 'core' | 'library';
  owner: string;
  description: string;
  input_schema: JsonSchema;
  output_schema: JsonSchema;
}

export interface ManifestPermissions {
  call: string[];
  dispatch: string[];
  manage_jobs: string[];
  filesystem: Array<{ path: string; access: string }>;
  libraries: string[];
  network: string[];
}

export interface ExtensionLimits {
  memory_mb: number;
  call_timeout_ms: number;
  instances: number;
  max_input_bytes: number;
  max_output_bytes: number;
  concurrent_jobs: number;
  requests_per_minute: number;
  http_timeout_ms: number;
  http_max_response_bytes: number;
  [key: string]: number;
}

/** An extension as `GET /v1/extensions` lists it: its summary (counts) with its info (lists) merged in. */
export interface ExtensionInfo {
  id: string;
  name: string;
  version: string;
  state: 'disabled' | 'enabled' | 'loading' | 'loaded' | 'failed';
  enabled: boolean;
  error?: { code: string; message: string };
  /** The summary's counts, or the info's lists. */
  operations: number | Array<{ method: string; kind: string; description: string }>;
  job_types: number | Array<{ job_type: string; resumable: boolean; description: string }>;
  description: string;
  author: string;
  installed_at: string;
  permissions: ManifestPermissions;
  limits: ExtensionLimits;
  stats: { instances: number; busy: number; queued: number; replaced: number; calls: number; inline?: number } | null;
  load_ms: number | null;
  loaded_at: string | null;
  running_jobs: number;
  [key: string]: unknown;
}

export interface InstallPreview {
  dry_run: true;
  id: string;
  name: string;
  version: string;
  description: string;
  author: string;
  permissions: ManifestPermissions;
  limits: ExtensionLimits;
  installed_version: string | null;
}

export interface DaemonStatus {
  version: string;
  uptime_ms: number;
  started_at: string;
  data_dir: string;
  pid: number;
  counts: Record<string, number>;
}

export interface Library {
  id: string;
  name: string;
  created_at: string;
  is_default: boolean;
}

export interface LibraryInfo extends Library {
  entries: number;
  locations: number;
  sidecars: number;
  size_bytes: number;
}
