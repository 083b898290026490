/**
 * What an extension may do when it calls into the host, and the rules for call chains.
 * Deny by default: a method is callable only when a `permissions.call` prefix covers it (or it
 * is the extension's own); HTTP needs `permissions.network` (the host itself is checked by the
 * HTTP capability, redirects included); a `library_id` must be one the manifest lists (or `*`),
 * and a library-scoped method needs one. Jobs are granted per job type, not per method: the job
 * system's methods are open to every extension, and their handlers check the job type
 * ({@link checkDispatchPermission}, {@link checkManageJob}). Paths on the machine are checked by
 * whatever core code touches them on an extension's behalf ({@link checkFilesystemAccess}),
 * against `permissions.filesystem`. Host calls are also rate-limited per extension
 * (`limits.requests_per_minute`, {@link RateLimiter}).
 */
import { readlink, realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { parseMethod, type OperationScope } from '../registry/index.js';
import type { FilesystemGrant, ManifestPermissions } from './manifest.js';
import type { PathAccess } from '../files/access.js';

/** Granted by `permissions.network` rather than by a call prefix. */
export const HTTP_FETCH_METHOD = 'action:http.fetch.input.v1';

/** A prefix to suggest for `method` (`query:core.`, `action:hello:`). */
export function suggestedPrefix(method: string): string {
  const parsed = parseMethod(method);
  if (!parsed) return method;
  if (parsed.namespace === 'core') return `${parsed.kind}:${parsed.name.split('.')[0]}.`;
  return `${parsed.kind}:${parsed.namespace}:`;
}

/** The job system's own methods (`query:jobs.get_status.v1` …), whose handlers check each job. */
function isJobsMethod(method: string): boolean {
  const parsed = parseMethod(method);
  return parsed !== undefined && parsed.namespace === 'core' && parsed.name.startsWith('jobs.');
}

/**
 * Throws PERMISSION_DENIED, naming the missing permission, unless extension `id` with
 * `permissions` may call `method` with `payload`.
 */
export function checkCallPermission(id: string, permissions: ManifestPermissions, method: string, payload: unknown, scope?: OperationScope): void {
  const parsed = parseMethod(method);
  const own = parsed !== undefined && parsed.namespace === id;
  const byPrefix = permissions.call.some((prefix) => method.startsWith(prefix));
  if (method === HTTP_FETCH_METHOD) {
    if (permissions.network.length === 0) {
      throw new SpacedriveError(
        ErrorCode.PERMISSION_DENIED,
        `extension '${id}' may not make HTTP requests ('${method}'): list the hosts it may reach in permissions.network in its manifest`,
        { extension: id, method, missing: 'permissions.network' },
      );
    }
  } else if (!own && !byPrefix && !isJobsMethod(method)) {
    const prefix = suggestedPrefix(method);
    throw new SpacedriveError(
      ErrorCode.PERMISSION_DENIED,
      `extension '${id}' may not call '${method}': add a permissions.call prefix such as '${prefix}'`,
      { extension: id, method, missing: `permissions.call: ${prefix}` },
    );
  }
  const libraryId = typeof payload === 'object' && payload !== null ? (payload as { library_id?: unknown }).library_id : undefined;
  if (typeof libraryId === 'string') checkLibraryPermission(id, permissions, method, libraryId);
  if (scope === 'library' && typeof libraryId !== 'string' && !permissions.libraries.includes('*')) {
    // Without library_id the call would run against the default library, which this extension
    // may not have been granted: make it say which one.
    throw new SpacedriveError(
      ErrorCode.PERMISSION_DENIED,
      permissions.libraries.length === 0
        ? `extension '${id}' may not use libraries ('${method}' runs against one): add the library id (or '*') to permissions.libraries`
        : `extension '${id}' must pass library_id to '${method}' (one of: ${permissions.libraries.join(', ')}); only permissions.libraries '*' may use the default library`,
      { extension: id, method, missing: 'permissions.libraries' },
    );
  }
}

/** Throws PERMISSION_DENIED unless `permissions.libraries` lists `libraryId` (or `*`); `method` is what used it. */
export function checkLibraryPermission(id: string, permissions: ManifestPermissions, method: string, libraryId: string): void {
  if (permissions.libraries.includes('*') || permissions.libraries.includes(libraryId)) return;
  throw new SpacedriveError(
    ErrorCode.PERMISSION_DENIED,
    `extension '${id}' may not use library '${libraryId}': add it (or '*') to permissions.libraries`,
    { extension: id, method, missing: `permissions.libraries: ${libraryId}` },
  );
}

// --- Who did it --------------------------------------------------------------------------------

/**
 * The extension behind an actor as the job store records it (`dispatched_by`: `client`, `core`
 * or `extension:<id>`); undefined for people (clients) and core, who are not restricted.
 */
export function extensionOfActor(actor: string): string | undefined {
  return actor.startsWith('extension:') ? actor.slice('extension:'.length) : undefined;
}

// --- Jobs --------------------------------------------------------------------------------------

/** Whether `type` is one of the extension's own job types (`<id>:<name>`). */
export function isOwnJobType(id: string, type: string): boolean {
  return type.startsWith(`${id}:`);
}

/** Whether a `permissions.dispatch` / `manage_jobs` list covers `type` (exact, `prefix*`, or `*`). */
export function jobTypeGranted(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? type.startsWith(p.slice(0, -1)) : p === type));
}

/** Throws PERMISSION_DENIED unless extension `id` may dispatch jobs of `type`. */
export function checkDispatchPermission(id: string, permissions: ManifestPermissions, type: string): void {
  if (isOwnJobType(id, type) || jobTypeGranted(permissions.dispatch, type)) return;
  throw new SpacedriveError(
    ErrorCode.PERMISSION_DENIED,
    `extension '${id}' may not dispatch jobs of type '${type}': add '${type}' to permissions.dispatch in its manifest (its own job types '${id}:*' need no grant)`,
    { extension: id, job_type: type, missing: `permissions.dispatch: ${type}` },
  );
}

/** Whether extension `id` may observe and control `job`: its own type, dispatched by it, or granted by `manage_jobs`. */
export function mayManageJob(id: string, permissions: ManifestPermissions, job: { type: string; dispatchedBy: string }): boolean {
  return isOwnJobType(id, job.type) || extensionOfActor(job.dispatchedBy) === id || jobTypeGranted(permissions.manage_jobs, job.type);
}

/** Throws PERMISSION_DENIED unless {@link mayManageJob}. `what` names the attempt (`read the status of`, `cancel`). */
export function checkManageJob(id: string, permissions: ManifestPermissions, job: { id: string; type: string; dispatchedBy: string }, what: string): void {
  if (mayManageJob(id, permissions, job)) return;
  throw new SpacedriveError(
    ErrorCode.PERMISSION_DENIED,
    `extension '${id}' may not ${what} job '${job.id}' (type '${job.type}', dispatched by ${job.dispatchedBy}): add '${job.type}' to permissions.manage_jobs in its manifest`,
    { extension: id, job_id: job.id, job_type: job.type, missing: `permissions.manage_jobs: ${job.type}` },
  );
}

// --- Paths -------------------------------------------------------------------------------------

export type { PathAccess } from '../files/access.js';

const MAX_SYMLINK_HOPS = 40;

/**
 * Where `path` really is: `..` and every symlink resolved. A path that does not exist yet (a
 * write target) is resolved through its nearest existing ancestor, and a dangling symlink on the
 * way is followed to where it points, since writing through it would land there.
 */
export async function resolveRealPath(path: string): Promise<string> {
  let current = resolve(path);
  const rest: string[] = [];
  for (let hops = 0; hops < MAX_SYMLINK_HOPS; ) {
    try {
      const real = await realpath(current);
      return rest.length === 0 ? real : join(real, ...[...rest].reverse());
    } catch {
      // Missing (or unreadable): a dangling symlink is followed, anything else resolved from its parent.
    }
    const target = await readlink(current).catch(() => undefined);
    if (target !== undefined) {
      current = resolve(dirname(current), target);
      hops++;
      continue;
    }
    const parent = dirname(current);
    if (parent === current) return resolve(path);
    rest.push(basename(current));
    current = parent;
  }
  throw new SpacedriveError(ErrorCode.INVALID_INPUT, `${path}: too many levels of symbolic links`, { path });
}

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

/**
 * Throws PERMISSION_DENIED unless every request is inside a `permissions.filesystem` grant of
 * its access, both compared after resolving `..` and symlinks (so a symlink inside a granted
 * directory that points out of it does not count as inside).
 */
export async function checkFilesystemAccess(id: string, grants: readonly FilesystemGrant[], requests: readonly PathAccess[]): Promise<void> {
  if (requests.length === 0) return;
  const granted = await Promise.all(grants.map(async (g) => ({ access: g.access, real: await resolveRealPath(g.path) })));
  for (const request of requests) {
    const real = await resolveRealPath(request.path);
    if (granted.some((g) => g.access === request.access && inside(real, g.real))) continue;
    const shown = real === resolve(request.path) ? real : `${request.path} (really ${real})`;
    throw new SpacedriveError(
      ErrorCode.PERMISSION_DENIED,
      `extension '${id}' may not ${request.access} ${shown} (${request.what}): add { "path": "<a directory holding it>", "access": "${request.access}" } to permissions.filesystem in its manifest`,
      { extension: id, path: request.path, resolved: real, access: request.access, missing: `permissions.filesystem: ${request.access} ${real}` },
    );
  }
}

// --- Extension ids -----------------------------------------------------------------------------

/** Always reserved besides core's domains: core's own namespace, and the library capability's name. */
const ALWAYS_RESERVED_IDS = ['core', 'library'];

/**
 * Ids no extension may take: `core`, and every domain of core's methods and job types (`files`,
 * `jobs`, `vdfs`, `mail` …), derived from what core registers so the list cannot fall behind.
 */
export function reservedExtensionIds(coreMethods: readonly string[], coreJobTypes: readonly string[]): Set<string> {
  const ids = new Set(ALWAYS_RESERVED_IDS);
  for (const m of coreMethods) {
    const parsed = parseMethod(m);
    if (parsed?.namespace === 'core') ids.add(parsed.name.split('.')[0]!);
  }
  for (const t of coreJobTypes) ids.add(t.split(/[.:]/)[0]!);
  return ids;
}

/** Throws EXTENSION_INVALID when `id` is reserved. */
export function checkExtensionId(id: string, reserved: ReadonlySet<string>): void {
  if (!reserved.has(id)) return;
  throw new SpacedriveError(
    ErrorCode.EXTENSION_INVALID,
    `extension id '${id}' is reserved for core (reserved: ${[...reserved].sort().join(', ')}); choose another id in the manifest`,
    { id, field: 'id' },
  );
}

/**
 * A token bucket: `perMinute` tokens, refilled continuously; each host call takes one. Over the
 * limit, {@link take} throws RATE_LIMITED naming the limit and when to retry.
 */
export class RateLimiter {
  #tokens: number;
  #last: number;

  constructor(
    readonly id: string,
    readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#tokens = perMinute;
    this.#last = now();
  }

  take(method: string): void {
    const t = this.now();
    this.#tokens = Math.min(this.perMinute, this.#tokens + ((t - this.#last) * this.perMinute) / 60_000);
    this.#last = t;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return;
    }
    const retryAfterMs = Math.ceil(((1 - this.#tokens) * 60_000) / this.perMinute);
    throw new SpacedriveError(
      ErrorCode.RATE_LIMITED,
      `extension '${this.id}' is over its limit of ${this.perMinute} host calls per minute (limits.requests_per_minute); '${method}' refused, retry in ${retryAfterMs} ms`,
      { extension: this.id, method, limit: 'limits.requests_per_minute', requests_per_minute: this.perMinute, retry_after_ms: retryAfterMs },
    );
  }
}

/**
 * Checks that a call into extension `target` made along `chain` (the callers' extension ids,
 * outermost first) neither loops back nor goes too deep. A re-entrant call is refused rather than
 * served because the caller's instance is blocked waiting for the answer: with every instance of
 * the target busy up the chain, serving it could wait forever.
 */
export function checkCallChain(target: string, method: string, chain: readonly string[], maxDepth: number): void {
  if (chain.includes(target)) {
    const path = [...chain, target].join(' → ');
    throw new SpacedriveError(
      ErrorCode.CALL_CYCLE,
      `call to '${method}' refused: it would re-enter extension '${target}', which is already on the call chain (${path})`,
      { method, extension: target, chain: [...chain] },
    );
  }
  if (chain.length + 1 > maxDepth) {
    throw new SpacedriveError(
      ErrorCode.CALL_DEPTH_EXCEEDED,
      `call to '${method}' refused: the extension call chain would be ${chain.length + 1} deep, more than the limit of ${maxDepth} (${[...chain, target].join(' → ')}); raise extensions.maxCallDepth to allow it`,
      { method, extension: target, chain: [...chain], limit: maxDepth },
    );
  }
}
