/**
 * Copying files and directory trees on disk, in two steps so a job can resume mid-way:
 * {@link planCopy} checks every source and target up front and lists the files to copy;
 * {@link copyOne} copies one planned file.
 */
import { constants as fsConstants } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, stat, access } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCode, SpacedriveError, storageFailure } from '../errors/index.js';

export interface CopyRequest {
  /** Files or directories to copy. */
  sources: string[];
  /** Target path (one source) or an existing directory to copy into. */
  destination: string;
  /** Replace files that already exist at the target. Default false. */
  overwrite?: boolean;
}

export interface PlannedFile {
  from: string;
  to: string;
  size: number;
}

/**
 * How the destination is used: `into` copies each source to `<destination>/<source name>` (the
 * destination is an existing directory); `as` copies the one source to `<destination>` itself.
 */
export type CopyLayout = 'into' | 'as';

export interface CopyPlan {
  /** Decided from the destination as it was when the plan was made; a resumed job passes it back. */
  layout: CopyLayout;
  files: PlannedFile[];
  /** Directories to create (targets of copied directories, including empty ones). */
  directories: string[];
  totalBytes: number;
}

function fsError(err: unknown, path: string, action: string): SpacedriveError {
  const code = (err as NodeJS.ErrnoException).code;
  const storage = storageFailure(err, path);
  if (storage) return storage;
  if (code === 'ENOENT') return new SpacedriveError(ErrorCode.NOT_FOUND, `${action}: ${path} does not exist`, { path });
  if (code === 'EACCES' || code === 'EPERM') {
    return new SpacedriveError(ErrorCode.PERMISSION_DENIED, `${action}: no permission for ${path}`, { path });
  }
  if (code === 'EEXIST') return new SpacedriveError(ErrorCode.ALREADY_EXISTS, `${action}: ${path} already exists (pass overwrite to replace it)`, { path });
  return new SpacedriveError(ErrorCode.OPERATION_FAILED, `${action}: ${path}: ${(err as Error).message}`, { path, errno: code });
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Plans a copy. Without `layout` it is decided from the destination now: an existing directory
 * is copied into, anything else is the target itself. A resumed copy passes the layout its first
 * run decided, because that run may have created the destination directory itself: deciding
 * again would then copy the rest into `<destination>/<source name>`.
 */
export async function planCopy(req: CopyRequest, layout?: CopyLayout): Promise<CopyPlan> {
  if (req.sources.length === 0) throw new SpacedriveError(ErrorCode.INVALID_INPUT, 'invalid input: field \'sources\': expected at least one path');
  const destination = resolve(req.destination);
  let destIsDir = false;
  try {
    destIsDir = (await stat(destination)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, destination, 'copy');
    if (req.sources.length > 1) {
      throw new SpacedriveError(ErrorCode.NOT_FOUND, `copy: destination directory ${destination} does not exist (needed for several sources)`, {
        path: destination,
      });
    }
  }
  const into = layout === undefined ? destIsDir : layout === 'into';
  const plan: CopyPlan = { layout: into ? 'into' : 'as', files: [], directories: [], totalBytes: 0 };
  for (const raw of req.sources) {
    const source = resolve(raw);
    let info;
    try {
      info = await stat(source);
      await access(source, fsConstants.R_OK);
    } catch (err) {
      throw fsError(err, source, 'copy');
    }
    const target = into ? join(destination, basename(source)) : destination;
    if (target === source || target.startsWith(source + '/')) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `copy: cannot copy ${source} into itself`, { path: source });
    }
    if (info.isDirectory()) await walk(source, target, plan, req.overwrite ?? false);
    else await addFile(source, target, info.size, plan, req.overwrite ?? false);
  }
  const parent = into ? destination : dirname(destination);
  try {
    await access(parent, fsConstants.W_OK);
  } catch (err) {
    if (await exists(parent)) throw fsError(err, parent, 'copy');
    throw new SpacedriveError(ErrorCode.NOT_FOUND, `copy: target directory ${parent} does not exist`, { path: parent });
  }
  return plan;
}

async function addFile(from: string, to: string, size: number, plan: CopyPlan, overwrite: boolean): Promise<void> {
  if (!overwrite && (await exists(to))) {
    throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `copy: ${to} already exists (pass overwrite to replace it)`, { path: to });
  }
  plan.files.push({ from, to, size });
  plan.totalBytes += size;
}

async function walk(fromDir: string, toDir: string, plan: CopyPlan, overwrite: boolean): Promise<void> {
  plan.directories.push(toDir);
  let entries;
  try {
    entries = await readdir(fromDir, { withFileTypes: true });
  } catch (err) {
    throw fsError(err, fromDir, 'copy');
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const from = join(fromDir, entry.name);
    const to = join(toDir, entry.name);
    if (entry.isDirectory()) await walk(from, to, plan, overwrite);
    else if (entry.isFile()) await addFile(from, to, (await stat(from)).size, plan, overwrite);
    // Symlinks, sockets and devices are skipped on purpose: copying them is rarely what a person means.
  }
}

export async function makeDirectories(plan: CopyPlan): Promise<void> {
  for (const dir of plan.directories) {
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw fsError(err, dir, 'copy');
    }
  }
}

/** Copies one planned file; `overwrite` false fails on an existing target (checked atomically). */
export async function copyOne(file: PlannedFile, overwrite: boolean): Promise<void> {
  try {
    await mkdir(dirname(file.to), { recursive: true });
    await copyFile(file.from, file.to, overwrite ? 0 : fsConstants.COPYFILE_EXCL);
  } catch (err) {
    throw fsError(err, (err as NodeJS.ErrnoException).path ?? file.to, 'copy');
  }
}
