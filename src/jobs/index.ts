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
import { jobsOperations, type JobAccessPolicy, type JobHandlerServices } from './operations.js';
import { JobTypeRegistry } from './registry.js';
import { JobSystem } from './system.js';
import type { JobTypeDefinition } from './types.js';
import type { JobStore } from './store/index.js';

type JobsDeps = Pick<BaseServices, 'options' | 'events' | 'logger' | 'version'> & {
  jobTypes: JobTypeRegistry;
  /**
   * Checks a job's paths and an extension caller's job grants (src/extensions), and loads an
   * extension again from the shared store when another node of the cluster changed it.
   */
  extensions: PathGuard & JobAccessPolicy & { refreshFromStore(id: string): Promise<void> };
};

/**
 * The jobs module (`jobs`): the store and the runner over the shared job-type registry. It
 * depends on the extensions (a job's paths are checked with its dispatcher's grants) and comes
 * after the libraries in core's list, so the runner stops before the sandboxes and the library
 * databases it uses close.
 */
export const jobsModule = defineModule<JobsDeps, JobSystem, Pick<JobHandlerServices, 'libraries'>, JobTypeDefinition>()({
  name: 'jobs',
  dependsOn: ['options', 'events', 'logger', 'version', 'jobTypes', 'extensions'],
  operationsUse: ['libraries'],
  create: ({ options, events, logger, version, jobTypes, extensions }) =>
    new JobSystem({
      dataDir: options.dataDir,
      options: options.jobs,
      storeUrl: options.store,
      version,
      events,
      logger: logger.child({ capability: 'jobs' }),
      types: jobTypes,
      checkPaths: (actor, requests) => extensions.checkPaths(actor, requests),
      // In a cluster, an extension installed, enabled, disabled, reloaded or uninstalled on
      // another node is loaded or unloaded here from the shared store.
      onExtensionChange: (change) => void extensions.refreshFromStore(change.extensionId),
    }),
  operations: jobsOperations,
  jobTypes: () => CORE_JOB_TYPES,
  counters: { read: (jobs) => jobs.counters() },
  start: (jobs) => jobs.start(),
  stop: (jobs) => jobs.close(),
});
