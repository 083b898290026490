/**
 * `locations.index`: walks a location's directory into entries of its library — one entry per
 * regular file, with its SHA-256, size, kind and modification time — resumably.
 *
 * The walk is sorted (by relative path, compared as strings), and the checkpoint holds the last
 * path finished and the counters, so a run resumed after a pause, a crash or `kill -9` skips
 * everything up to that path. Every file's database write is idempotent — an entry is looked up
 * by its path before one is added — so the files done after the last checkpoint and before the
 * crash are seen again as "unchanged", never added twice.
 *
 * Re-indexing: a known path whose size or modification time changed is hashed again; a new path
 * whose content hash matches an entry of this location whose file is gone is a move (the entry
 * keeps its id and metadata and takes the new path); after the walk, entries this run did not see
 * and whose files are gone are deleted. Every entry seen is stamped with the run's id (the job id,
 * stable across resumes), which is how the last step knows what it did not see.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, existsSync, realpathSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { JobRunContext, JobTypeDefinition } from '../jobs/types.js';
import { detectKind } from './kind.js';
import type { LibraryService } from './libraries.js';
import { INDEX_JOB_TYPE } from './locations.js';

interface IndexParams {
  library_id: string;
  location_id: string;
}

export interface IndexCounters {
  files: number;
  added: number;
  updated: number;
  moved: number;
  unchanged: number;
  removed: number;
  skipped: number;
  bytes_hashed: number;
}

interface IndexState {
  phase: 'walk' | 'prune';
  /** Relative path of the last file finished; null before the first. */
  last_path: string | null;
  done: number;
  counters: IndexCounters;
}

/** Checkpoint at most this often (and at least every {@link CHECKPOINT_EVERY_FILES} files). */
const CHECKPOINT_EVERY_MS = 250;
const CHECKPOINT_EVERY_FILES = 500;

/**
 * Every regular file under `root`, as paths relative to it, sorted. Symlinks are not followed;
 * directories in `exclude` (absolute) are skipped.
 */
async function listFiles(root: string, exclude: ReadonlySet<string>, onUnreadable: (dir: string, err: unknown) => void): Promise<string[]> {
  const out: string[] = [];
  const dirs = [''];
  while (dirs.length > 0) {
    const rel = dirs.pop()!;
    let entries;
    try {
      entries = await readdir(join(root, rel), { withFileTypes: true });
    } catch (err) {
      if (rel === '') throw err;
      onUnreadable(rel, err);
      continue;
    }
    for (const e of entries) {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (!exclude.has(join(root, child))) dirs.push(child);
      } else if (e.isFile()) out.push(child);
    }
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Files up to this size are read in one call; larger ones are streamed (bounded memory). */
const READ_WHOLE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * SHA-256 of a file and its first 16 bytes (for the kind). Small files — most of a typical tree —
 * are read with one `readFile`: a stream costs several thread-pool round trips per file, which
 * made indexing a tree of small files several times slower.
 */
async function hashFile(path: string, knownSize: number, signal: AbortSignal): Promise<{ hash: string; head: Uint8Array; size: number }> {
  if (knownSize <= READ_WHOLE_MAX_BYTES) {
    const data = await readFile(path, { signal });
    return { hash: createHash('sha256').update(data).digest('hex'), head: data.subarray(0, 16), size: data.length };
  }
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    let head: Buffer = Buffer.alloc(0);
    let size = 0;
    const stream = createReadStream(path, { signal });
    stream.on('data', (chunk) => {
      const b = chunk as Buffer;
      if (head.length < 16) head = Buffer.concat([head, b.subarray(0, 16 - head.length)]);
      size += b.length;
      hash.update(b);
    });
    stream.on('error', reject);
    stream.on('end', () => resolvePromise({ hash: hash.digest('hex'), head, size }));
  });
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function emptyCounters(): IndexCounters {
  return { files: 0, added: 0, updated: 0, moved: 0, unchanged: 0, removed: 0, skipped: 0, bytes_hashed: 0 };
}

/** The `locations.index` job type, bound to the library service it writes to. */
export function makeLocationsIndexJob(libraries: LibraryService): JobTypeDefinition {
  return {
    type: INDEX_JOB_TYPE,
    version: 1,
    resumable: true,
    description: "Indexes a location's files into entries (content hash, size, kind, modification time); picks up changes, moves and deletions; resumes where it stopped.",
    paramsSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['library_id', 'location_id'],
      properties: {
        library_id: { type: 'string', minLength: 1, description: 'Library of the location.' },
        location_id: { type: 'string', minLength: 1, description: 'Location to index.' },
      },
    },
    // Indexing is disk-bound: more walks at once would only compete for the same disk.
    maxConcurrency: 2,
    // A single large file is hashed without progress in between.
    stallTimeoutMs: 3_600_000,
    // Reads the location's directory: its dispatcher needs read access to it.
    touches: async (params) => {
      const { library_id, location_id } = params as IndexParams;
      let location;
      try {
        location = await (await libraries.store(await libraries.resolve(library_id))).getLocation(location_id);
      } catch {
        // No such library: nothing is read, and the run fails saying so.
        return [];
      }
      return location ? [{ path: location.path, access: 'read' as const, what: `locations.index of location '${location.name}'` }] : [];
    },
    run: (ctx) => runIndex(libraries, ctx),
  };
}

async function runIndex(libraries: LibraryService, ctx: JobRunContext) {
  const params = ctx.params as IndexParams;
  const libraryId = await libraries.resolve(params.library_id);
  const store = await libraries.store(libraryId);
  const location = await store.getLocation(params.location_id);
  if (!location) {
    return { status: 'failed' as const, error: { code: ErrorCode.NOT_FOUND, message: `location '${params.location_id}' no longer exists` }, retryable: false };
  }
  const root = location.path;
  try {
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    // Unmounted or removed: keep every entry (nothing is lost), fail so the person can see why.
    throw new SpacedriveError(ErrorCode.NOT_FOUND, `location ${root} is not reachable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); its entries are kept`, {
      location_id: location.id,
      path: root,
    });
  }
  const scanId = ctx.jobId;
  const state: IndexState = (ctx.state as IndexState | null) ?? { phase: 'walk', last_path: null, done: 0, counters: emptyCounters() };
  const c = state.counters;

  // Core's own stores, when the location contains the data directory: indexing them would feed
  // back (a sidecar written is a new file to index).
  const exclude = new Set([join(libraries.dataDir, 'libraries'), join(libraries.dataDir, 'sidecars')].map(realpathOr));
  const files = await listFiles(root, exclude, (dir, err) => {
    c.skipped++;
    ctx.log('warn', `cannot read directory ${dir}: ${(err as Error).message}`);
  });
  c.files = files.length;
  let start = 0;
  if (state.last_path !== null) {
    const last = state.last_path;
    while (start < files.length && files[start]! <= last) start++;
  }
  const checkpoint = (message?: string) =>
    ctx.progress({
      state,
      fraction: files.length === 0 ? 1 : Math.min(1, state.done / files.length),
      itemsDone: state.done,
      itemsTotal: files.length,
      ...(message ? { message } : {}),
    });
  if (ctx.state === null) {
    if ((await checkpoint(`indexing ${files.length} files in ${root}`)) !== 'continue') return { status: 'interrupted' as const, state };
  }

  let lastCheckpoint = Date.now();
  let sinceCheckpoint = 0;
  if (state.phase === 'walk') {
    for (let i = start; i < files.length; i++) {
      const rel = files[i]!;
      const abs = join(root, rel);
      try {
        await indexFile(libraries, libraryId, location.id, scanId, abs, c, ctx.signal);
      } catch (err) {
        if (ctx.interrupt() !== 'continue' || ctx.signal.aborted) return { status: 'interrupted' as const, state };
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' || code === 'EISDIR') {
          c.skipped++;
          ctx.log('warn', `skipped ${rel}: ${code === 'ENOENT' ? 'it disappeared during the walk' : (err as Error).message}`);
        } else {
          throw err;
        }
      }
      state.last_path = rel;
      state.done = i + 1;
      sinceCheckpoint++;
      const now = Date.now();
      if (now - lastCheckpoint >= CHECKPOINT_EVERY_MS || sinceCheckpoint >= CHECKPOINT_EVERY_FILES) {
        lastCheckpoint = now;
        sinceCheckpoint = 0;
        if (!(await store.getLocation(location.id))) {
          return { status: 'failed' as const, error: { code: ErrorCode.NOT_FOUND, message: `location '${location.id}' was removed while it was being indexed` }, retryable: false };
        }
        if ((await checkpoint(rel)) !== 'continue') return { status: 'interrupted' as const, state };
      } else if (ctx.interrupt() !== 'continue') {
        return { status: 'interrupted' as const, state };
      }
    }
    state.phase = 'prune';
    if ((await checkpoint('removing entries of deleted files')) !== 'continue') return { status: 'interrupted' as const, state };
  }

  // Entries this run did not see: deleted files (checked on disk, so a file added after the
  // listing is not taken for a deleted one).
  for (const entry of await store.entriesNotSeen(location.id, scanId)) {
    if (existsSync(entry.path)) continue;
    await libraries.deleteEntry(libraryId, entry.id, 'file_removed');
    c.removed++;
  }
  await store.updateLocation(location.id, { lastIndexedAt: Date.now() });
  const output = { library_id: libraryId, location_id: location.id, path: root, ...c };
  libraries.emit('location:indexed', { ...output, job_id: ctx.jobId });
  return { status: 'completed' as const, output };
}

async function indexFile(libraries: LibraryService, libraryId: string, locationId: string, scanId: string, abs: string, c: IndexCounters, signal: AbortSignal): Promise<void> {
  const store = await libraries.store(libraryId);
  const info = await stat(abs);
  const mtime = Math.trunc(info.mtimeMs);
  const existing = await store.getEntryByPath(abs);
  if (existing && existing.locationId !== locationId) {
    // A path taken by an entry that is not this location's (created with that path by hand).
    c.skipped++;
    return;
  }
  if (existing && existing.size === info.size && existing.mtime === mtime && existing.contentHash !== null) {
    if (existing.scanId !== scanId) await store.updateEntry(existing.id, { scanId });
    c.unchanged++;
    return;
  }
  const { hash, head, size } = await hashFile(abs, info.size, signal);
  c.bytes_hashed += size;
  const kind = detectKind(abs, head);
  // The location may have been removed while the file was read: add nothing to a removed location.
  if (!(await store.getLocation(locationId))) {
    throw new SpacedriveError(ErrorCode.NOT_FOUND, `location '${locationId}' was removed while it was being indexed`, { location_id: locationId });
  }
  if (existing) {
    const oldKey = existing.contentHash ?? existing.id;
    const entry = (await store.updateEntry(existing.id, { contentHash: hash, size, mtime, kind, scanId }))!;
    if (oldKey !== hash) await libraries.releaseContentIfUnused(libraryId, oldKey);
    c.updated++;
    libraries.emit('entry:updated', { library_id: libraryId, entry_id: entry.id, path: entry.path, entry_type: entry.entryType, reason: 'file_changed' });
    return;
  }
  // One indexing run per location at a time (its dedupe key), so no other run takes the candidate
  // between lookup and update; one UPDATE needs no transaction.
  const candidate = (await store.entriesWithHash(locationId, hash)).find((e) => e.scanId !== scanId && !existsSync(e.path));
  const moved = candidate ? { from: candidate.path, entry: (await store.updateEntry(candidate.id, { path: abs, name: basename(abs), size, mtime, kind, scanId }))! } : undefined;
  if (moved) {
    c.moved++;
    libraries.emit('entry:updated', { library_id: libraryId, entry_id: moved.entry.id, path: abs, entry_type: moved.entry.entryType, reason: 'file_moved', moved_from: moved.from });
    return;
  }
  const entry = await store.insertEntry({
    id: randomUUID(),
    name: basename(abs),
    path: abs,
    entryType: 'File',
    kind,
    metadata: {},
    contentHash: hash,
    size,
    mtime,
    locationId,
    contentStored: false,
    dedupeKey: null,
    scanId,
  });
  c.added++;
  libraries.emit('entry:created', { library_id: libraryId, entry_id: entry.id, path: entry.path, entry_type: entry.entryType });
}
