/**
 * `files.copy`: copies files and directory trees, resumable mid-way.
 *
 * The plan (src/files/copy.ts) is made again on every run — it is deterministic (sorted walk) —
 * and the checkpoint records how many of its files are done, so a resumed run skips them. The
 * first checkpoint also records the layout the first run decided (copy into the destination, or
 * as the destination) before any directory is made: a destination that did not exist is created
 * by the first run, and a resumed run that looked again would copy the rest into
 * `<destination>/<source name>`.
 * Each file is copied to a temporary name beside its target and then moved into place, so a
 * target is never left half-written by a crash. Targets after the checkpoint that exist on a
 * resumed run were written by the interrupted run (the first run's plan refused existing
 * targets unless `overwrite`), so they are replaced.
 */
import { constants as fsConstants } from 'node:fs';
import { copyFile, link, rename, unlink } from 'node:fs/promises';
import { ErrorCode, SpacedriveError, storageFailure } from '../../errors/index.js';
import { copyInputSchema } from '../../files/operations.js';
import { makeDirectories, planCopy, type CopyLayout, type CopyRequest, type PlannedFile } from '../../files/copy.js';
import type { JobTypeDefinition } from '../types.js';

interface CopyState {
  files_done: number;
  bytes_done: number;
  files_total: number;
  bytes_total: number;
  /** Absent in checkpoints written before the layout was recorded: decided again then. */
  layout?: CopyLayout;
}

function fsError(err: unknown, path: string): SpacedriveError {
  const code = (err as NodeJS.ErrnoException).code;
  const storage = storageFailure(err, path);
  if (storage) return storage;
  if (code === 'ENOENT') return new SpacedriveError(ErrorCode.NOT_FOUND, `copy: ${path} does not exist`, { path });
  if (code === 'EACCES' || code === 'EPERM') return new SpacedriveError(ErrorCode.PERMISSION_DENIED, `copy: no permission for ${path}`, { path });
  if (code === 'EEXIST') return new SpacedriveError(ErrorCode.ALREADY_EXISTS, `copy: ${path} already exists (pass overwrite to replace it)`, { path });
  return new SpacedriveError(ErrorCode.OPERATION_FAILED, `copy: ${path}: ${(err as Error).message}`, { path, errno: code });
}

/** Copies through a temporary file, then moves it into place (exclusively unless `replace`). */
async function copyAtomically(file: PlannedFile, tmpSuffix: string, replace: boolean): Promise<void> {
  const tmp = `${file.to}.${tmpSuffix}`;
  // A crash between link() and unlink() below leaves the temporary name as a second link to the
  // target. Copying into it would then write through to the target, and rename() between two
  // links of one file does nothing (POSIX), leaving it behind: start from a fresh file instead.
  await unlink(tmp).catch(() => undefined);
  try {
    await copyFile(file.from, tmp, fsConstants.COPYFILE_EXCL);
  } catch (err) {
    throw fsError(err, (err as NodeJS.ErrnoException).path ?? file.to);
  }
  try {
    if (replace) {
      await rename(tmp, file.to);
    } else {
      // link() fails if the target exists: an atomic "create only if absent".
      await link(tmp, file.to);
      await unlink(tmp);
    }
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw fsError(err, file.to);
  }
}

export const filesCopyJob: JobTypeDefinition = {
  type: 'files.copy',
  version: 1,
  resumable: true,
  description: 'Copies files and directories; resumes where it stopped after a pause, a crash or a restart.',
  paramsSchema: copyInputSchema as unknown as Record<string, unknown>,
  // One large file is copied without progress in between; give it time before calling it stalled.
  stallTimeoutMs: 3_600_000,
  touches: (params) => {
    const { sources, destination } = params as CopyRequest;
    return [
      ...sources.map((path) => ({ path, access: 'read' as const, what: 'files.copy source' })),
      { path: destination, access: 'write' as const, what: 'files.copy destination' },
    ];
  },
  async run(ctx) {
    const params = ctx.params as CopyRequest;
    const previous = ctx.state as CopyState | null;
    const overwrite = params.overwrite ?? false;
    // On a resumed run our own earlier targets exist; the existence check was done by the first run.
    const plan = await planCopy({ ...params, overwrite: previous ? true : overwrite }, previous?.layout);
    if (previous && (plan.files.length !== previous.files_total || plan.totalBytes !== previous.bytes_total)) {
      ctx.log('warn', `the sources changed since the copy started (${previous.files_total} files planned then, ${plan.files.length} now)`);
    }
    const state: CopyState = previous
      ? { ...previous, files_total: plan.files.length, bytes_total: plan.totalBytes, layout: plan.layout }
      : { files_done: 0, bytes_done: 0, files_total: plan.files.length, bytes_total: plan.totalBytes, layout: plan.layout };
    if (!previous) {
      // Durable before the first directory is made (see the comment at the top).
      const r = await ctx.progress({ state, fraction: 0, itemsDone: 0, itemsTotal: plan.files.length, bytesDone: 0, bytesTotal: plan.totalBytes, message: `copying ${plan.files.length} files` });
      if (r !== 'continue') return { status: 'interrupted', state };
    }
    await makeDirectories(plan);
    const tmpSuffix = `sdcopy-${ctx.jobId.slice(0, 8)}.tmp`;
    for (let i = state.files_done; i < plan.files.length; i++) {
      const file = plan.files[i]!;
      await copyAtomically(file, tmpSuffix, overwrite || previous !== null);
      state.files_done = i + 1;
      state.bytes_done += file.size;
      const r = await ctx.progress({
        state,
        fraction: plan.totalBytes > 0 ? state.bytes_done / plan.totalBytes : state.files_done / plan.files.length,
        itemsDone: state.files_done,
        itemsTotal: plan.files.length,
        bytesDone: state.bytes_done,
        bytesTotal: plan.totalBytes,
        message: file.to,
      });
      if (r !== 'continue') return { status: 'interrupted', state };
    }
    return { status: 'completed', output: { copied_files: state.files_done, copied_bytes: state.bytes_done, destination: params.destination } };
  },
};

