/**
 * Durable, resumable jobs: core's job types and extensions' (through the generic WASM job
 * wrapper) run by one runner over one store.
 *
 * Entry points: {@link JobSystem} (`core.jobs`), the store interface and its SQLite
 * implementation (./store), the statically declared core job types ({@link CORE_JOB_TYPES}) and
 * the wire operations ({@link jobsOperations}).
 */
export * from './types.js';
export { JobSystem, type DispatchOptions, type DispatchResult, type JobView, type JobSystemOptions } from './system.js';
export { JobTypeRegistry, type RegisteredJobType } from './registry.js';
export { Runner, jobEventBase } from './runner.js';
export * from './store/index.js';
export { CORE_JOB_TYPES } from './core-jobs/index.js';
export { jobsOperations, toWireStatus, toWireSummary, type WireJobStatus, type WireJobSummary, type WireJobProgress } from './operations.js';
import './client-types.js';
