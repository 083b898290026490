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
export { jobsOperations, type JobHandlerServices, type JobAccess, type JobAccessPolicy, toWireStatus, toWireSummary, type WireJobStatus, type WireJobSummary, type WireJobProgress } from './operations.js';
import './client-types.js';
import type { PathGuard } from '../files/access.js';
import { defineModule, type BaseServices } from '../modules/index.js';
import { CORE_JOB_TYPES } from './core-jobs/index.js';
import { jobsOperations, type JobAccessPolicy } from './operations.js';
import { JobTypeRegistry } from './registry.js';
import { JobSystem } from './system.js';
import type { JobTypeDefinition } from './types.js';
import type { JobStore } from './store/index.js';

type JobsDeps = Pick<BaseServices, 'options' | 'events' | 'logger'> & {
  jobTypes: JobTypeRegistry;
  /** The storage backend's job store, when it has one (else SQLite `<dataDir>/jobs.db`). */
  storage: { jobStore(): JobStore | undefined };
  /** Checks a job's paths and an extension caller's job grants (src/extensions). */
  extensions: PathGuard & JobAccessPolicy;
};

/**
 * The jobs module (`jobs`): the store and the runner over the shared job-type registry. It
 * depends on the extensions (a job's paths are checked with its dispatcher's grants) and comes
 * after the libraries in core's list, so the runner stops before the sandboxes and the library
 * databases it uses close.
 */
export const jobsModule = defineModule<JobsDeps, JobSystem, {}, JobTypeDefinition>()({
  name: 'jobs',
  dependsOn: ['options', 'events', 'logger', 'jobTypes', 'extensions', 'storage'],
  create: ({ options, events, logger, jobTypes, extensions, storage }) => {
    const store = storage.jobStore();
    return new JobSystem({
      dataDir: options.dataDir,
      options: options.jobs,
      events,
      logger: logger.child({ capability: 'jobs' }),
      types: jobTypes,
      checkPaths: (actor, requests) => extensions.checkPaths(actor, requests),
      ...(store ? { store } : {}),
    });
  },
  operations: jobsOperations,
  jobTypes: () => CORE_JOB_TYPES,
  counters: { read: (jobs) => jobs.counters() },
  start: (jobs) => jobs.start(),
  stop: (jobs) => jobs.close(),
});
