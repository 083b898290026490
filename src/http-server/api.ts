/**
 * The `/v1` routes (docs/http-api.md, "Endpoints"). Each one is a call of a core operation through
 * the dispatcher; the routes only translate HTTP (path, query, body) into the operation's payload.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Dispatcher } from '../dispatch/index.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { CoreEvent, EventFilter } from '../events/index.js';
import { expandMethodName, type OperationKind } from '../registry/index.js';
import { connectionSignal, incomingOf, readJson, type BodyLimits } from './node-request.js';
import { buildOpenApi } from './openapi.js';

/** Most files, and bytes in all, of a package uploaded to `POST /v1/extensions/install`. */
export const MAX_PACKAGE_FILES = 64;
export const MAX_PACKAGE_BYTES = 64 * 1024 * 1024;
/** Events an SSE stream may have waiting to be written before it is closed as too slow. */
const MAX_SSE_BACKLOG = 10_000;
const SSE_PING_MS = 15_000;

export interface ApiDeps {
  dispatcher: Dispatcher;
  /** The wire's frame size and JSON depth limits, applied to request bodies too. */
  limits: BodyLimits;
}

type Env = { Variables: { libraryId: string | null } };

/** The library a request names: the `X-Library-Id` header, else the `library_id` query parameter. */
function libraryOf(c: Context): string | null {
  return c.req.header('x-library-id') ?? c.req.query('library_id') ?? null;
}

async function objectBody(c: Context, limits: BodyLimits): Promise<Record<string, unknown>> {
  const body = await readJson(incomingOf(c), limits);
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new SpacedriveError(ErrorCode.INVALID_INPUT, 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

function json(c: Context, value: unknown, status = 200): Response {
  return c.body(JSON.stringify(value ?? null), status as 200, { 'content-type': 'application/json; charset=utf-8' });
}

/** A query parameter that is a whole number becomes one; anything else is passed on for the operation's schema to refuse. */
function intParam(value: string | undefined): number | string | undefined {
  if (value === undefined) return undefined;
  return /^\d{1,15}$/.test(value) ? Number(value) : value;
}

export function mountApi(app: Hono<Env>, deps: ApiDeps): void {
  const { dispatcher } = deps;
  const core = dispatcher.core;
  const call = (c: Context, method: string, payload: unknown, kind?: OperationKind, libraryId: string | null = libraryOf(c)): Promise<unknown> =>
    dispatcher.dispatch({ method, kind, payload, libraryId, transport: 'http', signal: connectionSignal(incomingOf(c)) });

  for (const kind of ['query', 'action'] as const) {
    app.post(`/v1/${kind}/:method`, async (c) => {
      const method = expandMethodName(kind, c.req.param('method'));
      const payload = await readJson(incomingOf(c), deps.limits);
      return json(c, await call(c, method, payload, kind));
    });
  }

  app.get('/v1/methods', async (c) =>
    json(
      c,
      await call(c, 'query:core.methods.v1', {
        ...(c.req.query('owner') !== undefined ? { owner: c.req.query('owner') } : {}),
        ...(c.req.query('kind') !== undefined ? { kind: c.req.query('kind') } : {}),
        ...(c.req.query('filter') !== undefined ? { filter: c.req.query('filter') } : {}),
      }),
    ),
  );
  app.get('/v1/status', async (c) => json(c, await call(c, 'query:core.status.v1', {})));
  app.get('/v1/libraries', async (c) => json(c, await call(c, 'query:libraries.list.v1', {})));
  app.get('/v1/openapi.json', (c) => json(c, buildOpenApi(core.executor.list(), core.version)));

  // --- jobs ---
  app.get('/v1/jobs', async (c) => {
    const statuses = c.req.queries('status')?.flatMap((s) => s.split(',')).filter((s) => s.length > 0);
    const payload: Record<string, unknown> = {
      ...(statuses && statuses.length > 0 ? { status: statuses.length === 1 ? statuses[0] : statuses } : {}),
      ...(c.req.query('type') ? { job_type: c.req.query('type') } : {}),
      ...(c.req.query('owner') ? { owner: c.req.query('owner') } : {}),
      ...(c.req.query('limit') !== undefined ? { limit: intParam(c.req.query('limit')) } : {}),
      ...(c.req.query('cursor') ? { cursor: c.req.query('cursor') } : {}),
    };
    return json(c, await call(c, 'query:jobs.list.v1', payload));
  });
  app.get('/v1/jobs/:id', async (c) => json(c, await call(c, 'query:jobs.get_status.v1', { job_id: c.req.param('id') })));
  app.get('/v1/jobs/:id/logs', async (c) =>
    json(
      c,
      await call(c, 'query:jobs.logs.v1', {
        job_id: c.req.param('id'),
        ...(c.req.query('after_seq') !== undefined ? { after_seq: intParam(c.req.query('after_seq')) } : {}),
        ...(c.req.query('limit') !== undefined ? { limit: intParam(c.req.query('limit')) } : {}),
      }),
    ),
  );
  app.post('/v1/jobs', async (c) => {
    const { type, library_id: bodyLibrary, ...rest } = await objectBody(c, deps.limits);
    if (bodyLibrary !== undefined && bodyLibrary !== null && typeof bodyLibrary !== 'string') {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, "invalid input: field 'library_id': expected a string");
    }
    const payload = { ...(type !== undefined ? { job_type: type } : {}), ...rest };
    return json(c, await call(c, 'action:jobs.dispatch.input.v1', payload, 'action', (bodyLibrary as string | null | undefined) ?? libraryOf(c)), 201);
  });
  for (const control of ['pause', 'resume', 'cancel', 'retry'] as const) {
    app.post(`/v1/jobs/:id/${control}`, async (c) => {
      const body = await objectBody(c, deps.limits);
      return json(c, await call(c, `action:jobs.${control}.input.v1`, { ...body, job_id: c.req.param('id') }, 'action'));
    });
  }
  app.get('/v1/job-types', async (c) => json(c, await call(c, 'query:jobs.types.v1', c.req.query('owner') ? { owner: c.req.query('owner') } : {})));

  // --- extensions ---
  app.get('/v1/extensions', async (c) => {
    const { extensions } = (await call(c, 'query:extensions.list.v1', {})) as { extensions: Array<{ id: string }> };
    const infos = await Promise.all(
      extensions.map(async (e) => {
        try {
          return { ...e, info: await call(c, 'query:extensions.info.v1', { id: e.id }) };
        } catch {
          // Uninstalled between the two calls: listed without its info.
          return { ...e, info: null };
        }
      }),
    );
    return json(c, { extensions: infos });
  });
  app.get('/v1/extensions/:id', async (c) => json(c, await call(c, 'query:extensions.info.v1', { id: c.req.param('id') })));
  app.post('/v1/extensions/install', async (c) => {
    const upload = await readPackageUpload(c, deps.limits);
    const dir = await mkdtemp(join(tmpdir(), 'sd-upload-'));
    try {
      for (const [path, bytes] of upload.files) {
        const target = join(dir, path);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, bytes, { mode: 0o600 });
      }
      const payload = { path: dir, ...(upload.enabled !== undefined ? { enabled: upload.enabled } : {}), ...(upload.dryRun !== undefined ? { dry_run: upload.dryRun } : {}) };
      return json(c, await call(c, 'action:extensions.install.input.v1', payload, 'action'), upload.dryRun ? 200 : 201);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  for (const verb of ['enable', 'disable', 'reload'] as const) {
    app.post(`/v1/extensions/:id/${verb}`, async (c) => json(c, await call(c, `action:extensions.${verb}.input.v1`, { id: c.req.param('id') }, 'action')));
  }
  app.delete('/v1/extensions/:id', async (c) => json(c, await call(c, 'action:extensions.uninstall.input.v1', { id: c.req.param('id') }, 'action')));

  // --- events (Server-Sent Events) ---
  app.get('/v1/events', (c) => {
    const types = (c.req.query('types') ?? 'job:*,extension:*').split(',').map((t) => t.trim()).filter((t) => t.length > 0);
    const filter: EventFilter = {};
    for (const [k, v] of Object.entries(c.req.query())) if (k !== 'types') filter[k] = v;
    return streamSSE(c, async (stream) => {
      const queue: CoreEvent[] = [];
      let wake: (() => void) | null = null;
      let overflow = false;
      const sub = core.events.subscribe(types, Object.keys(filter).length > 0 ? filter : undefined, (event) => {
        if (queue.length >= MAX_SSE_BACKLOG) overflow = true;
        else queue.push(event);
        wake?.();
      });
      let seq = 0;
      // A client that goes away ends the wait at once, and with it the subscription.
      stream.onAbort(() => wake?.());
      try {
        await stream.writeSSE({ event: 'ready', data: JSON.stringify({ types }) });
        while (!stream.aborted && !stream.closed) {
          if (overflow) {
            await stream.writeSSE({ event: 'error', data: JSON.stringify({ code: ErrorCode.OVERLOADED, message: 'events are produced faster than this stream is read; closing' }) });
            break;
          }
          const event = queue.shift();
          if (event) {
            await stream.writeSSE({ event: event.type, id: String(++seq), data: JSON.stringify(event) });
            continue;
          }
          const woke = await new Promise<boolean>((resolve) => {
            wake = () => resolve(true);
            setTimeout(() => resolve(false), SSE_PING_MS).unref();
          });
          wake = null;
          if (!woke || queue.length === 0) await stream.write(': ping\n\n');
        }
      } finally {
        sub.unsubscribe();
      }
    });
  });
}

interface PackageUpload {
  files: Array<[string, Uint8Array]>;
  enabled: boolean | undefined;
  dryRun: boolean | undefined;
}

/** A relative path inside the package, or INVALID_INPUT. */
function packagePath(name: string): string {
  const path = normalize(name.replace(/\\/g, '/'));
  if (name.length === 0 || isAbsolute(path) || path === '..' || path.startsWith(`..${sep}`) || path.includes('\0')) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: package file name '${name}' must be a relative path inside the package`);
  }
  return path;
}

function flag(value: unknown, name: string): boolean | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field '${name}': expected true or false`);
}

/** The package files of an install request, multipart (one `file` part per file) or JSON (`files` as base64). */
async function readPackageUpload(c: Context, limits: BodyLimits): Promise<PackageUpload> {
  const files: Array<[string, Uint8Array]> = [];
  let total = 0;
  const add = (name: string, bytes: Uint8Array): void => {
    total += bytes.length;
    if (files.length >= MAX_PACKAGE_FILES) throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: a package has at most ${MAX_PACKAGE_FILES} files`);
    if (total > MAX_PACKAGE_BYTES) throw new SpacedriveError(ErrorCode.HTTP_TOO_LARGE, `a package is at most ${MAX_PACKAGE_BYTES} bytes`, { limit: MAX_PACKAGE_BYTES });
    files.push([packagePath(name), bytes]);
  };
  const type = c.req.header('content-type') ?? '';
  let enabled: unknown;
  let dryRun: unknown;
  if (type.startsWith('multipart/form-data')) {
    if (Number(c.req.header('content-length')) > MAX_PACKAGE_BYTES + 1024 * 1024) {
      throw new SpacedriveError(ErrorCode.HTTP_TOO_LARGE, `a package is at most ${MAX_PACKAGE_BYTES} bytes`, { limit: MAX_PACKAGE_BYTES });
    }
    const form = await c.req.formData();
    for (const [field, value] of form.entries()) {
      if (field === 'file' && typeof value !== 'string') add(value.name, new Uint8Array(await value.arrayBuffer()));
      else if (field === 'enabled') enabled = value;
      else if (field === 'dry_run') dryRun = value;
      else throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: unexpected form field '${field}' (expected file, enabled, dry_run)`);
    }
  } else {
    const body = await objectBody(c, { ...limits, maxBytes: Math.ceil((MAX_PACKAGE_BYTES * 4) / 3) + 64 * 1024 });
    const given = body.files;
    if (typeof given !== 'object' || given === null || Array.isArray(given)) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, "invalid input: field 'files': expected an object of file name → base64 contents");
    }
    for (const [name, b64] of Object.entries(given)) {
      if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/=_-]*$/.test(b64)) {
        throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field 'files.${name}': expected base64`);
      }
      add(name, Buffer.from(b64, 'base64'));
    }
    enabled = body.enabled;
    dryRun = body.dry_run;
  }
  if (files.length === 0) throw new SpacedriveError(ErrorCode.INVALID_INPUT, 'invalid input: the package has no files (expected manifest.json and its module)');
  return { files, enabled: flag(enabled, 'enabled'), dryRun: flag(dryRun, 'dry_run') };
}
