/**
 * Sidecars (`core.sidecars`): derived data attached to an entry's content, as checksummed,
 * content-addressed files under `<dataDir>/sidecars`, indexed in the library's database.
 * See ./service.ts for the layout and the atomic-replace guarantee.
 */
import type { EventBus } from '../events/index.js';
import type { LibraryService, SidecarBlobStore } from '../library/index.js';
import { defineModule, type BaseServices } from '../modules/index.js';
import { SidecarService } from './service.js';
import { sidecarOperations } from './operations.js';
import './client-types.js';

export { SidecarService, TEXT_FORMATS, contentKeyOf, encodingOf, type SidecarEncoding, type WriteSidecarRequest, type ReadSidecarResult } from './service.js';
export { sidecarOperations, type WireSidecar, type SidecarHandlerServices } from './operations.js';

export function makeSidecarService(opts: { dataDir: string; libraries: LibraryService; events: EventBus; blobs?: SidecarBlobStore }): SidecarService {
  return new SidecarService(opts);
}

/** The sidecars module (`sidecars`): derived data of entries' content, indexed in each library. */
export const sidecarsModule = defineModule<Pick<BaseServices, 'options' | 'events'> & { libraries: LibraryService; storage: { sidecarBlobs(): SidecarBlobStore | undefined } }, SidecarService>()({
  name: 'sidecars',
  dependsOn: ['options', 'events', 'libraries', 'storage'],
  create: ({ options, libraries, events, storage }) => {
    const blobs = storage.sidecarBlobs();
    return makeSidecarService({ dataDir: options.dataDir, libraries, events, ...(blobs ? { blobs } : {}) });
  },
  operations: sidecarOperations,
  // Shown with the libraries' counts as `libraries_sidecars_*`.
  counters: { group: 'libraries_sidecars', read: (sidecars) => sidecars.counters() },
});
