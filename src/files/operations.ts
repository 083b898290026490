import { defineOperation } from '../registry/index.js';
import { copyOne, makeDirectories, planCopy, type CopyRequest } from './copy.js';

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

// Synchronous for now: the job issue turns this into a dispatch of the resumable files.copy job.
export const filesCopy = defineOperation<CopyRequest, { copied_files: number; copied_bytes: number }>({
  method: 'action:files.copy.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Copies files and directories on disk.',
  input: copyInputSchema,
  output: {
    type: 'object',
    required: ['copied_files', 'copied_bytes'],
    properties: { copied_files: { type: 'integer' }, copied_bytes: { type: 'integer' } },
  },
  handler: async (input) => {
    const plan = await planCopy(input);
    await makeDirectories(plan);
    for (const file of plan.files) await copyOne(file, input.overwrite ?? false);
    return { copied_files: plan.files.length, copied_bytes: plan.totalBytes };
  },
});

export const filesOperations = [filesCopy];
