/**
 * The library store: everything one library's database holds (entries, locations, the sidecar
 * index), behind an interface with no driver types. {@link SqliteLibraryStore} implements it on
 * `<dataDir>/libraries/<id>/library.db`.
 *
 * Trade-off: the interface is synchronous. A sidecar replace must move its file into place and
 * update its index row in one step that no reader can split ({@link LibraryStore.upsertSidecar}
 * runs the file move inside the row's transaction), and the move detection of the indexing job
 * reads and writes in one transaction; an embedded synchronous driver gives both directly. A
 * networked implementation would wrap these in its own transactions behind the same shapes.
 */

/** An entry as stored. Times are ms since the epoch. */
export interface EntryRecord {
  /** Insertion order; the paging cursor. */
  seq: number;
  id: string;
  name: string;
  /** Unique in the library: a logical path (`receipts/abc.eml`) or, for indexed files, the absolute path on disk. */
  path: string;
  entryType: string;
  /** `image`, `document`, `email`, … (see ./kind.ts); null when unknown or not a file. */
  kind: string | null;
  metadata: Record<string, unknown>;
  contentHash: string | null;
  size: number | null;
  /** Modification time of the file on disk (indexed entries). */
  mtime: number | null;
  /** Set for entries indexed from a location. */
  locationId: string | null;
  /** True when the content bytes are kept in the library's object store. */
  contentStored: boolean;
  dedupeKey: string | null;
  /** The indexing run (job id) that last saw this entry's file. */
  scanId: string | null;
  createdAt: number;
  updatedAt: number;
}

export type NewEntry = Omit<EntryRecord, 'seq' | 'createdAt' | 'updatedAt' | 'scanId'> & { scanId?: string | null; createdAt?: number };

/** Fields that may change; `undefined` leaves a field as it is. */
export type EntryPatch = Partial<Omit<EntryRecord, 'seq' | 'id' | 'createdAt' | 'updatedAt'>>;

export interface EntryFilter {
  entryType?: string;
  /** Case-insensitive substring of the name. */
  nameContains?: string;
  pathPrefix?: string;
  locationId?: string;
  /** Equality on top-level metadata fields. */
  metadata?: Record<string, unknown>;
  /** Entries with seq greater than this. */
  afterSeq?: number;
  limit: number;
}

export interface LocationRecord {
  id: string;
  /** Absolute, resolved path of the directory. */
  path: string;
  name: string;
  createdAt: number;
  lastIndexedAt: number | null;
  lastJobId: string | null;
}

export interface SidecarRecord {
  id: string;
  /** The content hash of the entry, or the entry id for entries without content. */
  contentKey: string;
  kind: string;
  variant: string;
  format: string;
  /** Relative to the data directory: `sidecars/<hh>/<key>/<kind>/<variant>.<format>`. */
  path: string;
  checksum: string;
  size: number;
  createdAt: number;
  updatedAt: number;
}

export interface SidecarFilter {
  contentKey?: string;
  kind?: string;
}

export interface LibraryStats {
  entries: number;
  locations: number;
  sidecars: number;
  /** Sum of the entries' sizes. */
  entryBytes: number;
  sidecarBytes: number;
  /** Size of the database files (main + WAL). */
  databaseBytes: number;
}

export interface LibraryStore {
  insertEntry(entry: NewEntry): EntryRecord;
  getEntry(id: string): EntryRecord | undefined;
  getEntryByPath(path: string): EntryRecord | undefined;
  getEntryByDedupeKey(key: string): EntryRecord | undefined;
  /** Entries in insertion order after `afterSeq`; one more than `limit` tells whether a next page exists. */
  listEntries(filter: EntryFilter): EntryRecord[];
  updateEntry(id: string, patch: EntryPatch): EntryRecord | undefined;
  deleteEntry(id: string): boolean;
  /** Entries (other than `exceptId`) whose content key — content hash, else id — is `key`. */
  countEntriesWithContentKey(key: string, exceptId?: string): number;
  /** Entries of a location with this content hash (candidates for a move). */
  entriesWithHash(locationId: string, contentHash: string): EntryRecord[];
  /** Entries of a location that the indexing run `scanId` has not seen. */
  entriesNotSeen(locationId: string, scanId: string): EntryRecord[];
  countLocationEntries(locationId: string): number;

  insertLocation(location: LocationRecord): LocationRecord;
  getLocation(id: string): LocationRecord | undefined;
  listLocations(): LocationRecord[];
  updateLocation(id: string, patch: Partial<Omit<LocationRecord, 'id'>>): LocationRecord | undefined;
  deleteLocation(id: string): boolean;

  getSidecar(contentKey: string, kind: string, variant: string): SidecarRecord | undefined;
  getSidecarById(id: string): SidecarRecord | undefined;
  listSidecars(filter: SidecarFilter): SidecarRecord[];
  /**
   * Inserts or replaces the sidecar row for (contentKey, kind, variant) and, inside the same
   * transaction, runs `commitFile` (which moves the new file into place): either both happen or
   * neither. Returns the row it replaced, if any.
   */
  upsertSidecar(row: SidecarRecord, commitFile: () => void): { previous: SidecarRecord | undefined; current: SidecarRecord };
  /** Updates checksum/size of every row pointing at `path` (another library replaced the shared file). */
  refreshSidecarFile(path: string, checksum: string, size: number, updatedAt: number): number;
  countSidecarPath(path: string): number;
  deleteSidecar(id: string): boolean;
  /** Deletes the sidecar rows of a content key; returns them. */
  deleteSidecarsOfContent(contentKey: string): SidecarRecord[];

  stats(): LibraryStats;
  /** Runs `fn` in one transaction. */
  transaction<T>(fn: () => T): T;
  close(): void;
}
