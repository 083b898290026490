/**
 * Files on disk: `action:files.copy.input.v1` dispatches the resumable `files.copy` job (the job
 * type itself is one of the job system's core types, src/jobs/core-jobs).
 */
import { defineModule } from '../modules/index.js';
import { filesOperations, type FilesHandlerServices } from './operations.js';

export { filesOperations, filesCopy, copyInputSchema, type FilesHandlerServices } from './operations.js';
export { planCopy, type CopyRequest } from './copy.js';
export type { PathAccess, PathGuard } from './access.js';

/** The files module (`files`): operations only. */
export const filesModule = defineModule<{}, undefined, FilesHandlerServices>()({
  name: 'files',
  dependsOn: [],
  operationsUse: ['jobs', 'extensions'],
  operations: filesOperations,
});
