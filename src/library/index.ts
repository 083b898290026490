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
import { LibraryService } from './libraries.js';
import './client-types.js';

export * from './store.js';
export { SqliteLibraryStore } from './sqlite-store.js';
export { LibraryService, mergeMetadata, MAX_INLINE_CONTENT_BYTES, type CreateEntryRequest, type CreateEntryResult, type LibraryInfo, type ContentReleasedListener } from './libraries.js';
export { stageFile, writeFileAtomic, type StagedFile } from '../atomic-file/index.js';
export { detectKind } from './kind.js';
export { INDEX_JOB_TYPE } from './locations.js';
export { makeLocationsIndexJob, type IndexCounters } from './index-job.js';
export { libraryOperations, libraryOf, libraryIdProperty, toWireEntry, type WireEntry, type WireLocation } from './operations.js';

/** Opens the library index under `<dataDir>/libraries` (the default library is made by {@link LibraryService.ensureDefault}). */
export function makeLibraryService(opts: { dataDir: string; events: EventBus; logger: Logger }): LibraryService {
  return new LibraryService(opts);
}
