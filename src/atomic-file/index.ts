/**
 * Writing a file so that no reader ever sees it half-written, even across a crash: the bytes go
 * to a temporary file in the same directory, are fsynced, and the temporary file is renamed over
 * the target (rename within one directory is atomic on POSIX file systems).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { storageFailure } from '../errors/index.js';

/** A full or read-only disk as its typed error (STORAGE_FULL, STORAGE_READ_ONLY); anything else as it was. */
function typed(err: unknown, target: string): unknown {
  return storageFailure(err, target) ?? err;
}

/** A written-but-not-yet-visible file: {@link commit} moves it into place, {@link discard} removes it. */
export interface StagedFile {
  readonly tmpPath: string;
  readonly target: string;
  commit(): void;
  discard(): void;
}

/** Writes `data` to a fsynced temporary file beside `target` (directories created as needed). */
export function stageFile(target: string, data: Uint8Array): StagedFile {
  const dir = dirname(target);
  const tmpPath = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  let fd: number;
  try {
    mkdirSync(dir, { recursive: true });
    fd = openSync(tmpPath, 'wx', 0o600);
  } catch (err) {
    throw typed(err, target);
  }
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmpPath);
    } catch {
      // already gone
    }
    throw typed(err, target);
  }
  closeSync(fd);
  return {
    tmpPath,
    target,
    commit() {
      // Trade-off: the directory is not fsynced after the rename. The file's bytes are (so the
      // name never points at unwritten data), and the rename survives a crash or kill -9 of the
      // daemon; only a power loss could undo the rename — as it could the library database's last
      // commits (WAL, synchronous NORMAL), which this file's index row goes with. A second fsync
      // per write would halve the write rate for no guarantee the row keeps.
      try {
        renameSync(tmpPath, target);
      } catch (err) {
        throw typed(err, target);
      }
    },
    discard() {
      try {
        unlinkSync(tmpPath);
      } catch {
        // already gone
      }
    },
  };
}

export interface WriteFileAtomicOptions {
  /**
   * Also fsync the directory after the rename, so that the new name survives a power loss too.
   * For small records written rarely (the installed-extensions list), not for hot paths.
   */
  syncDirectory?: boolean;
  /** Mode of directories created on the way (default: the process umask's). */
  dirMode?: number;
}

/** {@link stageFile} then commit. */
export function writeFileAtomic(target: string, data: Uint8Array | string, opts: WriteFileAtomicOptions = {}): void {
  if (opts.dirMode !== undefined) {
    try {
      mkdirSync(dirname(target), { recursive: true, mode: opts.dirMode });
    } catch (err) {
      throw typed(err, target);
    }
  }
  const staged = stageFile(target, typeof data === 'string' ? Buffer.from(data) : data);
  try {
    staged.commit();
  } catch (err) {
    staged.discard();
    throw err;
  }
  if (opts.syncDirectory) {
    const dirFd = openSync(dirname(target), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}
