/**
 * The host side of an extension's imports that the sandbox's worker cannot answer itself:
 * `sd_call` for wire methods (permission-checked, then run through `execute` with the call chain),
 * `sd_log`, and the job imports.
 */
import type { CoreServices } from '../core/services.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { ManifestPermissions } from './manifest.js';
import { RateLimiter, checkCallPermission } from './permissions.js';
import type { HostBridge } from './sandbox/types.js';
import type { RunningJobs } from './wasm-job.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
const DISPATCH = 'action:jobs.dispatch.input.v1';

export interface ExtensionBridgeOptions {
  id: string;
  permissions: ManifestPermissions;
  core: CoreServices;
  logger: Logger;
  running: RunningJobs;
  /** `limits.requests_per_minute`: host calls allowed per minute (token bucket); default unlimited. */
  requestsPerMinute?: number;
}

export function createHostBridge(o: ExtensionBridgeOptions): HostBridge {
  const limiter = o.requestsPerMinute !== undefined ? new RateLimiter(o.id, o.requestsPerMinute) : undefined;
  return {
    call(method, payload, chain, context) {
      // The sandbox passes the chain including the calling extension, which must be this one.
      if (chain[chain.length - 1] !== o.id) {
        return Promise.reject(
          new SpacedriveError(ErrorCode.INTERNAL, `call chain ${JSON.stringify(chain)} does not end with the calling extension '${o.id}'`),
        );
      }
      if (method === 'extension.context') {
        return Promise.resolve({ library_id: context?.libraryId ?? null, method: context?.method ?? null, job_id: context?.jobId ?? null });
      }
      const scope = o.core.executor.lookup(method)?.scope;
      const named = typeof payload === 'object' && payload !== null ? (payload as { library_id?: unknown }).library_id : undefined;
      // Without a library of its own, a call takes the library of the call making it (docs/extension-abi.md,
      // "Library context"), where it has a use for one: a library-scoped method (vdfs.*, a library-scoped
      // extension method) and a job dispatch (the job keeps it). permissions.libraries must grant it
      // like a library the guest names itself.
      const inherited = typeof named !== 'string' && context?.libraryId != null && (scope === 'library' || method === DISPATCH) ? context.libraryId : undefined;
      try {
        if (inherited === undefined) checkCallPermission(o.id, o.permissions, method, payload, scope);
        else checkCallPermission(o.id, o.permissions, method, { ...(payload as object), library_id: inherited }, scope);
        limiter?.take(method);
      } catch (err) {
        return Promise.reject(err);
      }
      const libraryId = typeof named === 'string' ? named : inherited;
      return o.core.execute(method, payload, {
        caller: { kind: 'extension', extensionId: o.id, chain: [...chain] },
        ...(libraryId !== undefined ? { libraryId } : {}),
      });
    },
    log(level, message, jobId) {
      const name = LOG_LEVELS[Math.min(Math.max(Math.trunc(level), 0), LOG_LEVELS.length - 1)] ?? 'info';
      if (jobId === undefined) {
        o.logger[name](message);
        return;
      }
      o.logger[name]({ job_id: jobId }, message);
      // Also in the job's own log (`spacedrive jobs logs <id>`), which has no trace level.
      o.running.log(jobId, name === 'trace' ? 'debug' : name, message);
    },
    jobProgress(jobId, report) {
      return o.running.progress(jobId, report);
    },
    jobInterrupt(jobId) {
      return o.running.interrupt(jobId);
    },
  };
}
