/**
 * The sandbox's limits checked where they enter: SandboxLimits when an extension is loaded, and
 * what plugin_init registered when it reaches the main thread. (Memory limits are applied to the
 * module's bytes in wasm-limits.ts; time and size limits are enforced per call.)
 */
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { GuestRegistration, RegistrationLimits, SandboxLimits } from './types.js';

/** What plugin_init may register when SandboxLimits.registrations leaves a limit out. */
export const DEFAULT_REGISTRATION_LIMITS: Readonly<RegistrationLimits> = Object.freeze({
  maxOperations: 1000,
  maxJobTypes: 1000,
  maxSchemaBytes: 64 * 1024,
  maxRegistrationBytes: 4 * 1024 * 1024,
});

export function registrationLimits(l: SandboxLimits): RegistrationLimits {
  return { ...DEFAULT_REGISTRATION_LIMITS, ...l.registrations };
}

/** @throws SpacedriveError CONFIG_INVALID naming the limit (`details.field`). */
export function checkLimits(l: SandboxLimits): void {
  const positive = ['callTimeoutMs', 'initTimeoutMs', 'memoryMaxBytes', 'maxInputBytes', 'maxOutputBytes', 'instances'] as const;
  for (const k of positive) {
    if (!Number.isFinite(l[k]) || l[k] <= 0) {
      throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `sandbox limit '${k}' must be a positive number (got ${String(l[k])})`, { field: k });
    }
  }
  if (!Number.isInteger(l.instances)) throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `sandbox limit 'instances' must be an integer`, { field: 'instances' });
  if (!Number.isInteger(l.maxQueue) || l.maxQueue < 0) {
    throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `sandbox limit 'maxQueue' must be an integer >= 0`, { field: 'maxQueue' });
  }
  for (const [k, v] of Object.entries(registrationLimits(l))) {
    if (!Number.isInteger(v) || v < 0) {
      throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `sandbox limit 'registrations.${k}' must be an integer >= 0 (got ${String(v)})`, { field: `registrations.${k}` });
    }
  }
}

/**
 * The main thread's own count of what an instance reports it registered, before anything is
 * built from it: the instance counted too (and stopped plugin_init at the limit), but what
 * crosses a thread boundary is checked where it arrives.
 *
 * @throws SpacedriveError REGISTRATION_REJECTED naming the limit (`details.limit`).
 */
export function checkRegistrationCounts(id: string, regs: readonly GuestRegistration[], limits: RegistrationLimits): void {
  const operations = regs.filter((r) => r.kind === 'operation').length;
  const jobTypes = regs.length - operations;
  const refuse = (limit: string, value: number, what: string): never => {
    const cause = `plugin_init registered ${what}, more than limits.${limit} (${value})`;
    throw new SpacedriveError(ErrorCode.REGISTRATION_REJECTED, `extension '${id}', export 'plugin_init': ${cause}`, { extension: id, export: 'plugin_init', cause, limit, value });
  };
  if (operations > limits.maxOperations) refuse('max_operations', limits.maxOperations, `${operations} operations`);
  if (jobTypes > limits.maxJobTypes) refuse('max_job_types', limits.maxJobTypes, `${jobTypes} job types`);
}
