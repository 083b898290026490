/**
 * The host side of an extension's imports that the sandbox's worker cannot answer itself:
 * `sd_call` for wire methods (permission-checked, then run through `execute` with the call chain),
 * `sd_log`, and the job imports.
 */
import type { BaseServices } from '../modules/index.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { ManifestPermissions } from './manifest.js';
import { RateLimiter, checkCallPermission } from './permissions.js';
import type { HostBridge } from './sandbox/types.js';
import type { RunningJobs } from './wasm-job.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

export interface ExtensionBridgeOptions {
  id: string;
  permissions: ManifestPermissions;
  core: Pick<BaseServices, 'executor' | 'execute'>;
  logger: Logger;
  running: RunningJobs;
  /** `limits.requests_per_minute`: host calls allowed per minute (token bucket); default unlimited. */
  requestsPerMinute?: number;
}

export function createHostBridge(o: ExtensionBridgeOptions): HostBridge {
  const limiter = o.requestsPerMinute !== undefined ? new RateLimiter(o.id, o.requestsPerMinute) : undefined;
  return {
    call(method, payload, chain) {
      // The sandbox passes the chain including the calling extension, which must be this one.
      if (chain[chain.length - 1] !== o.id) {
        return Promise.reject(
          new SpacedriveError(ErrorCode.INTERNAL, `call chain ${JSON.stringify(chain)} does not end with the calling extension '${o.id}'`),
        );
      }
      try {
        checkCallPermission(o.id, o.permissions, method, payload, o.core.executor.lookup(method)?.scope);
        limiter?.take(method);
      } catch (err) {
        return Promise.reject(err);
      }
      const libraryId = typeof payload === 'object' && payload !== null ? (payload as { library_id?: unknown }).library_id : undefined;
      return o.core.execute(method, payload, {
        caller: { kind: 'extension', extensionId: o.id, chain: [...chain] },
        ...(typeof libraryId === 'string' ? { libraryId } : {}),
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
