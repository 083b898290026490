/**
 * Libraries, entries and locations (`core.libraries`): each library is its own SQLite database
 * of entries, locations and the sidecar index; entries are created by callers or indexed from
 * locations by the resumable `locations.index` job.
 *
 * Entry points: {@link LibraryService}, {@link makeLibraryService}, the store interface
 * ({@link LibraryStore}) and its SQLite implementation, the job ({@link makeLocationsIndexJob})
 * and the wire operations ({@link libraryOperations}).
 */
import type { EventBus } from '../events/index.js';
import type { Logger } from '../logging/index.js';
import type { JobTypeDefinition } from '../jobs/types.js';
import { defineModule, type BaseServices } from '../modules/index.js';
import { makeLocationsIndexJob } from './index-job.js';
import { LibraryService } from './libraries.js';
import type { LibraryBackend } from './store.js';
import { libraryOperations, type LibraryHandlerServices } from './operations.js';
import './client-types.js';

export * from './store.js';
export { SqliteLibraryStore } from './sqlite-store.js';
export { SqliteLibraryBackend } from './sqlite-backend.js';
export { PostgresLibraryBackend, PostgresLibraryStore, PostgresSidecarBlobs, LIBRARY_PG_MIGRATIONS } from './postgres-backend.js';
export { LibraryService, mergeMetadata, MAX_INLINE_CONTENT_BYTES, type CreateEntryRequest, type CreateEntryResult, type LibraryInfo, type ContentReleasedListener } from './libraries.js';
export { stageFile, writeFileAtomic, type StagedFile } from '../atomic-file/index.js';
export { detectKind } from './kind.js';
export { INDEX_JOB_TYPE } from './locations.js';
export { makeLocationsIndexJob, type IndexCounters } from './index-job.js';
export { libraryOperations, type LibraryHandlerServices, libraryOf, libraryIdProperty, toWireEntry, type WireEntry, type WireLocation } from './operations.js';

/** Opens the library index under `<dataDir>/libraries` (the default library is made by {@link LibraryService.ensureDefault}). */
export function makeLibraryService(opts: { dataDir: string; events: EventBus; logger: Logger; backend?: LibraryBackend }): LibraryService {
  return new LibraryService(opts);
}

/**
 * The library module (`libraries`): opens libraries on demand, creates the default one at start,
 * runs location indexing as a core job type, closes the databases after the job runner stopped
 * (the jobs module comes later in core's list, so it stops first).
 */
export const libraryModule = defineModule<Pick<BaseServices, 'options' | 'events' | 'logger'> & { storage: { libraries(): LibraryBackend } }, LibraryService, Omit<LibraryHandlerServices, 'libraries'>, JobTypeDefinition>()({
  name: 'libraries',
  dependsOn: ['options', 'events', 'logger', 'storage'],
  operationsUse: ['jobs', 'extensions'],
  create: ({ options, events, logger, storage }) => makeLibraryService({ dataDir: options.dataDir, events, logger: logger.child({ capability: 'library' }), backend: storage.libraries() }),
  operations: libraryOperations,
  jobTypes: (libraries) => [makeLocationsIndexJob(libraries)],
  counters: { read: (libraries) => libraries.counters() },
  start: async (libraries) => {
    await libraries.ensureDefault();
  },
  stop: (libraries) => libraries.close(),
});
