/**
 * The library tables' rows as both backends read them (the SQLite file and PostgreSQL have the
 * same columns), and the records they become. The entry row differs only in how the driver
 * hands back two columns — `metadata` (JSON text or JSONB) and `content_stored` (0/1 or a
 * boolean) — so each backend decodes those two and the rest is mapped here once.
 */
import type { EntryRecord, LocationRecord, SidecarRecord } from './store.js';

export interface EntryRow<Metadata, Stored> {
  seq: number;
  id: string;
  name: string;
  path: string;
  entry_type: string;
  kind: string | null;
  metadata: Metadata;
  content_hash: string | null;
  size: number | null;
  mtime: number | null;
  location_id: string | null;
  content_stored: Stored;
  dedupe_key: string | null;
  scan_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface LocationRow {
  id: string;
  path: string;
  name: string;
  created_at: number;
  last_indexed_at: number | null;
  last_job_id: string | null;
}

export interface SidecarRow {
  id: string;
  content_key: string;
  kind: string;
  variant: string;
  format: string;
  path: string;
  checksum: string;
  size: number;
  created_at: number;
  updated_at: number;
}

/** An entry row with its two driver-specific columns already decoded by the backend. */
export function entryFromRow(r: EntryRow<unknown, unknown>, metadata: Record<string, unknown>, contentStored: boolean): EntryRecord {
  return {
    seq: r.seq,
    id: r.id,
    name: r.name,
    path: r.path,
    entryType: r.entry_type,
    kind: r.kind,
    metadata,
    contentHash: r.content_hash,
    size: r.size,
    mtime: r.mtime,
    locationId: r.location_id,
    contentStored,
    dedupeKey: r.dedupe_key,
    scanId: r.scan_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toLocation(r: LocationRow): LocationRecord {
  return { id: r.id, path: r.path, name: r.name, createdAt: r.created_at, lastIndexedAt: r.last_indexed_at, lastJobId: r.last_job_id };
}

export function toSidecar(r: SidecarRow): SidecarRecord {
  return {
    id: r.id,
    contentKey: r.content_key,
    kind: r.kind,
    variant: r.variant,
    format: r.format,
    path: r.path,
    checksum: r.checksum,
    size: r.size,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
