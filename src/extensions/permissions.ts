/**
 * What an extension may do when it calls into the host, and the rules for call chains.
 * Deny by default: a method is callable only when a `permissions.call` prefix covers it (or it
 * is the extension's own); dispatching jobs needs `dispatch_jobs` (which also covers reading the
 * status of and cancelling jobs); HTTP needs `permissions.network` (the host itself is checked by
 * the HTTP capability, redirects included); a `library_id` must be one the manifest lists (or
 * `*`), and a library-scoped method needs one. Host calls are also rate-limited per extension
 * (`limits.requests_per_minute`, {@link RateLimiter}).
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { parseMethod, type OperationScope } from '../registry/index.js';
import type { ManifestPermissions } from './manifest.js';

export const JOBS_DISPATCH_METHOD = 'action:jobs.dispatch.input.v1';
/** Covered by `dispatch_jobs` as well as by a `permissions.call` prefix. */
export const JOB_CONTROL_METHODS: readonly string[] = ['query:jobs.get_status.v1', 'action:jobs.cancel.input.v1'];
/** Granted by `permissions.network` rather than by a call prefix. */
export const HTTP_FETCH_METHOD = 'action:http.fetch.input.v1';

/** A prefix to suggest for `method` (`query:core.`, `action:hello:`). */
export function suggestedPrefix(method: string): string {
  const parsed = parseMethod(method);
  if (!parsed) return method;
  if (parsed.namespace === 'core') return `${parsed.kind}:${parsed.name.split('.')[0]}.`;
  return `${parsed.kind}:${parsed.namespace}:`;
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
  } else if (JOB_CONTROL_METHODS.includes(method) && !byPrefix) {
    if (!permissions.dispatch_jobs) {
      throw new SpacedriveError(
        ErrorCode.PERMISSION_DENIED,
        `extension '${id}' may not call '${method}': set permissions.dispatch_jobs to true (or add a permissions.call prefix such as '${suggestedPrefix(method)}')`,
        { extension: id, method, missing: 'permissions.dispatch_jobs' },
      );
    }
  } else if (method === JOBS_DISPATCH_METHOD) {
    if (!permissions.dispatch_jobs) {
      throw new SpacedriveError(
        ErrorCode.PERMISSION_DENIED,
        `extension '${id}' may not dispatch jobs ('${method}'): set permissions.dispatch_jobs to true in its manifest`,
        { extension: id, method, missing: 'permissions.dispatch_jobs' },
      );
    }
  } else if (!own && !byPrefix) {
    const prefix = suggestedPrefix(method);
    throw new SpacedriveError(
      ErrorCode.PERMISSION_DENIED,
      `extension '${id}' may not call '${method}': add a permissions.call prefix such as '${prefix}'`,
      { extension: id, method, missing: `permissions.call: ${prefix}` },
    );
  }
  const libraryId = typeof payload === 'object' && payload !== null ? (payload as { library_id?: unknown }).library_id : undefined;
  if (typeof libraryId === 'string' && !permissions.libraries.includes('*') && !permissions.libraries.includes(libraryId)) {
    throw new SpacedriveError(
      ErrorCode.PERMISSION_DENIED,
      `extension '${id}' may not use library '${libraryId}': add it (or '*') to permissions.libraries`,
      { extension: id, method, missing: `permissions.libraries: ${libraryId}` },
    );
  }
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
