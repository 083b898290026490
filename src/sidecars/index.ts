/**
 * Sidecars (`core.sidecars`): derived data attached to an entry's content, as checksummed,
 * content-addressed files under `<dataDir>/sidecars`, indexed in the library's database.
 * See ./service.ts for the layout and the atomic-replace guarantee.
 */
import type { EventBus } from '../events/index.js';
import type { LibraryService } from '../library/index.js';
import { SidecarService } from './service.js';
import './client-types.js';

export { SidecarService, TEXT_FORMATS, contentKeyOf, encodingOf, type SidecarEncoding, type WriteSidecarRequest, type ReadSidecarResult } from './service.js';
export { sidecarOperations, type WireSidecar } from './operations.js';

export function makeSidecarService(opts: { dataDir: string; libraries: LibraryService; events: EventBus }): SidecarService {
  return new SidecarService(opts);
}
