/** Core's job types, declared statically (like core operations) and registered with owner `core` at start. */
import type { JobTypeDefinition } from '../types.js';
import { countJob, noopJob } from './core.js';
import { filesCopyJob } from './files-copy.js';
import { hashTreeJob } from './hash-tree.js';

export const CORE_JOB_TYPES: readonly JobTypeDefinition[] = [filesCopyJob, hashTreeJob, noopJob, countJob];

export { filesCopyJob, hashTreeJob, noopJob, countJob };
