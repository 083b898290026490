/**
 * What an extension may do when it calls into the host, and the rules for call chains.
 * Deny by default: a method is callable only when a `permissions.call` prefix covers it (or it
 * is the extension's own), dispatching jobs needs `dispatch_jobs`, a `library_id` must be one the
 * manifest lists (or `*`).
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { parseMethod } from '../registry/index.js';
import type { ManifestPermissions } from './manifest.js';

export const JOBS_DISPATCH_METHOD = 'action:jobs.dispatch.input.v1';

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
export function checkCallPermission(id: string, permissions: ManifestPermissions, method: string, payload: unknown): void {
  const parsed = parseMethod(method);
  const own = parsed !== undefined && parsed.namespace === id;
  if (method === JOBS_DISPATCH_METHOD) {
    if (!permissions.dispatch_jobs) {
      throw new SpacedriveError(
        ErrorCode.PERMISSION_DENIED,
        `extension '${id}' may not dispatch jobs ('${method}'): set permissions.dispatch_jobs to true in its manifest`,
        { extension: id, method, missing: 'permissions.dispatch_jobs' },
      );
    }
  } else if (!own && !permissions.call.some((prefix) => method.startsWith(prefix))) {
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
