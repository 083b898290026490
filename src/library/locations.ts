/**
 * Locations: directories on disk whose files a library indexes into entries (with the
 * `locations.index` job, ./index-job.ts).
 */
import { randomUUID } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import { basename, resolve, sep } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { JobSystem } from '../jobs/index.js';
import type { LibraryService } from './libraries.js';
import type { LocationRecord } from './store.js';

export const INDEX_JOB_TYPE = 'locations.index';

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

/** Checks the directory and records it (not yet indexed). */
export async function addLocation(libraries: LibraryService, libraryId: string, rawPath: string, name?: string): Promise<LocationRecord> {
  const requested = resolve(rawPath);
  let path: string;
  try {
    path = await realpath(requested);
  } catch {
    throw new SpacedriveError(ErrorCode.NOT_FOUND, `location: ${requested} does not exist`, { path: requested });
  }
  const info = await stat(path);
  if (!info.isDirectory()) throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field 'path': ${path} is not a directory`, { path });
  const store = await libraries.store(libraryId);
  for (const other of await store.listLocations()) {
    if (other.path === path) throw new SpacedriveError(ErrorCode.ALREADY_EXISTS, `${path} is already location '${other.name}' (${other.id})`, { location_id: other.id, path });
    if (inside(path, other.path)) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `${path} is inside location '${other.name}' (${other.path}), which already indexes it`, { location_id: other.id, path });
    }
    if (inside(other.path, path)) {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `${path} contains location '${other.name}' (${other.path}); remove that location first`, { location_id: other.id, path });
    }
  }
  return store.insertLocation({ id: randomUUID(), path, name: name?.trim() || basename(path) || path, createdAt: Date.now(), lastIndexedAt: null, lastJobId: null });
}

export async function getLocation(libraries: LibraryService, libraryId: string, locationId: string): Promise<LocationRecord> {
  const location = await (await libraries.store(libraryId)).getLocation(locationId);
  if (!location) throw new SpacedriveError(ErrorCode.NOT_FOUND, `location '${locationId}' not found in library '${libraryId}'`, { location_id: locationId, library_id: libraryId });
  return location;
}

/** Dispatches the indexing job (one live job per location: a second request returns the running one). */
export async function dispatchIndex(jobs: JobSystem, libraries: LibraryService, libraryId: string, locationId: string, dispatchedBy: string): Promise<{ jobId: string; deduplicated: boolean }> {
  const r = await jobs.dispatch(INDEX_JOB_TYPE, { library_id: libraryId, location_id: locationId }, { libraryId, dispatchedBy, dedupeKey: `${libraryId}:${locationId}` });
  await (await libraries.store(libraryId)).updateLocation(locationId, { lastJobId: r.jobId });
  return r;
}

/**
 * Removes a location: stops its indexing job, then removes its entries (and their sidecars, when
 * no other entry shares the content) unless `keepEntries`, in which case they stay as entries
 * without a location.
 */
export async function removeLocation(jobs: JobSystem, libraries: LibraryService, libraryId: string, locationId: string, keepEntries: boolean): Promise<{ location: LocationRecord; removedEntries: number }> {
  const location = await getLocation(libraries, libraryId, locationId);
  const store = await libraries.store(libraryId);
  // Deleted first, so a running index job that checks its location stops adding entries.
  await store.deleteLocation(locationId);
  if (location.lastJobId) {
    try {
      const job = await jobs.get(location.lastJobId);
      if (['queued', 'running', 'paused', 'waiting_retry'].includes(job.status)) await jobs.cancel(location.lastJobId);
    } catch {
      // The job is gone or already finished.
    }
  }
  let removed = 0;
  const batch = 500;
  for (;;) {
    const rows = await store.listEntries({ locationId, limit: batch });
    if (rows.length === 0) break;
    for (const entry of rows.slice(0, batch)) {
      if (keepEntries) await store.updateEntry(entry.id, { locationId: null, scanId: null });
      else {
        await libraries.deleteEntry(libraryId, entry.id, 'location_removed');
        removed++;
      }
    }
  }
  return { location, removedEntries: removed };
}
