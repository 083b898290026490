import { actorOf } from '../registry/index.js';
import { operationsWith } from '../modules/index.js';
import type { PathGuard } from './access.js';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { CopyRequest } from './copy.js';

/** The services the files handlers see as `ctx.core` (the files module declares them). */
export interface FilesHandlerServices {
  /** The job system (src/jobs), which runs the `files.copy` job. */
  jobs: { dispatch(type: string, params: unknown, opts: { libraryId: string | null; dispatchedBy: string }): Promise<{ jobId: string }> };
  extensions: PathGuard;
}
const defineOperation = operationsWith<FilesHandlerServices>();

export const copyInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sources', 'destination'],
  properties: {
    sources: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, description: 'Files or directories to copy.' },
    destination: { type: 'string', minLength: 1, description: 'Target path, or an existing directory to copy into.' },
    overwrite: { type: 'boolean', default: false, description: 'Replace files that exist at the target.' },
  },
} as const;

/**
 * Dispatches the resumable `files.copy` job (src/jobs/core-jobs/files-copy.ts) and returns its id;
 * follow it with query:jobs.get_status.v1 or the `job:*` events. Sources that do not exist are
 * refused here, at once, rather than as a failed job later.
 */
export const filesCopy = defineOperation<CopyRequest, { job_id: string }>({
  method: 'action:files.copy.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Copies files and directories on disk, as a resumable job; returns the job id.',
  input: copyInputSchema,
  output: {
    type: 'object',
    required: ['job_id'],
    properties: { job_id: { type: 'string' } },
  },
  handler: async (input, { core, caller, libraryId }) => {
    const dispatchedBy = actorOf(caller);
    // Before looking at the sources: whether a file exists is not an extension's to learn
    // outside its grants. The job system checks again at dispatch and before every run.
    await core.extensions.checkPaths(dispatchedBy, [
      ...input.sources.map((path) => ({ path, access: 'read' as const, what: 'files.copy source' })),
      { path: input.destination, access: 'write', what: 'files.copy destination' },
    ]);
    for (const source of input.sources) {
      try {
        await stat(resolve(source));
      } catch {
        throw new SpacedriveError(ErrorCode.NOT_FOUND, `copy: ${resolve(source)} does not exist`, { path: resolve(source) });
      }
    }
    const { jobId } = await core.jobs.dispatch('files.copy', input, { libraryId, dispatchedBy });
    return { job_id: jobId };
  },
});

export const filesOperations = [filesCopy];
