/**
 * The library store: everything one library's database holds (entries, locations, the sidecar
 * index), behind an interface with no driver types. {@link SqliteLibraryStore} implements it on
 * `<dataDir>/libraries/<id>/library.db`.
 *
 * The interface is asynchronous (a port): the SQLite implementation answers from an embedded
 * driver, the PostgreSQL one (./postgres-store.ts) over the network. Nothing takes a callback
 * that runs store calls inside a transaction; what must be atomic is one operation
 * ({@link LibraryStore.updateEntryMetadata}, {@link LibraryStore.upsertSidecar} with its file
 * move, {@link LibraryStore.deleteSidecarsOfContent}).
 */

/** A library as the catalog holds it. */
export interface LibraryRecord {
  id: string;
  name: string;
  /** ms since the epoch. */
  createdAt: number;
}

export interface LibraryCatalog {
  libraries: LibraryRecord[];
  defaultId: string | null;
}

/**
 * Where libraries live: the catalog (which libraries exist, which is the default) and one
 * {@link LibraryStore} per library. SQLite: `libraries/index.json` and a database file per
 * library; PostgreSQL: tables shared by every node, rows keyed by library id.
 */
export interface LibraryBackend {
  readCatalog(): Promise<LibraryCatalog>;
  /**
   * Adds a library (its store is ready before it is listed); the default when `makeDefault` or
   * when there is none. ALREADY_EXISTS when another library has this name (any case).
   */
  addLibrary(library: LibraryRecord, makeDefault: boolean): Promise<LibraryCatalog>;
  setDefaultLibrary(id: string): Promise<LibraryCatalog>;
  /** The store of a library in the catalog (opened once; closed by {@link close}). */
  openStore(libraryId: string): Promise<LibraryStore>;
  close(): Promise<void>;
}

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
  insertEntry(entry: NewEntry): Promise<EntryRecord>;
  getEntry(id: string): Promise<EntryRecord | undefined>;
  getEntryByPath(path: string): Promise<EntryRecord | undefined>;
  getEntryByDedupeKey(key: string): Promise<EntryRecord | undefined>;
  /** Entries in insertion order after `afterSeq`; one more than `limit` tells whether a next page exists. */
  listEntries(filter: EntryFilter): Promise<EntryRecord[]>;
  updateEntry(id: string, patch: EntryPatch): Promise<EntryRecord | undefined>;
  /**
   * Replaces an entry's metadata (`replace`) or merges `metadata` into it ({@link mergeMetadata}:
   * a field set to null is removed), reading and writing in one transaction so that two merges
   * never lose each other's fields. Undefined when there is no such entry.
   */
  updateEntryMetadata(id: string, metadata: Record<string, unknown>, replace: boolean): Promise<EntryRecord | undefined>;
  deleteEntry(id: string): Promise<boolean>;
  /** Entries (other than `exceptId`) whose content key — content hash, else id — is `key`. */
  countEntriesWithContentKey(key: string, exceptId?: string): Promise<number>;
  /** Entries of a location with this content hash (candidates for a move). */
  entriesWithHash(locationId: string, contentHash: string): Promise<EntryRecord[]>;
  /** Entries of a location that the indexing run `scanId` has not seen. */
  entriesNotSeen(locationId: string, scanId: string): Promise<EntryRecord[]>;
  countLocationEntries(locationId: string): Promise<number>;

  insertLocation(location: LocationRecord): Promise<LocationRecord>;
  getLocation(id: string): Promise<LocationRecord | undefined>;
  listLocations(): Promise<LocationRecord[]>;
  updateLocation(id: string, patch: Partial<Omit<LocationRecord, 'id'>>): Promise<LocationRecord | undefined>;
  deleteLocation(id: string): Promise<boolean>;

  getSidecar(contentKey: string, kind: string, variant: string): Promise<SidecarRecord | undefined>;
  getSidecarById(id: string): Promise<SidecarRecord | undefined>;
  listSidecars(filter: SidecarFilter): Promise<SidecarRecord[]>;
  /**
   * Inserts or replaces the sidecar row for (contentKey, kind, variant) and, inside the same
   * transaction, runs `commitFile` (which moves the new file into place: a rename, no store
   * call): either both happen or neither. Returns the row it replaced, if any.
   */
  upsertSidecar(row: SidecarRecord, commitFile: () => void): Promise<{ previous: SidecarRecord | undefined; current: SidecarRecord }>;
  /** Updates checksum/size of every row pointing at `path` (another library replaced the shared file). */
  refreshSidecarFile(path: string, checksum: string, size: number, updatedAt: number): Promise<number>;
  countSidecarPath(path: string): Promise<number>;
  deleteSidecar(id: string): Promise<boolean>;
  /** Deletes the sidecar rows of a content key (in one transaction); returns them. */
  deleteSidecarsOfContent(contentKey: string): Promise<SidecarRecord[]>;

  /** Keeps entry content under its SHA-256 (`hash`); a second put of the same hash changes nothing. */
  putObject(hash: string, bytes: Uint8Array): Promise<void>;
  /** The content stored under `hash`, or undefined. */
  getObject(hash: string): Promise<Buffer | undefined>;
  deleteObject(hash: string): Promise<void>;

  stats(): Promise<LibraryStats>;
  close(): Promise<void>;
}

/**
 * Sidecar bytes by SHA-256, shared by every library (PostgreSQL backend; the embedded backend
 * keeps sidecars as files in the data directory instead).
 */
export interface SidecarBlobStore {
  /** Stores bytes under their SHA-256; a second put of the same bytes changes nothing. */
  put(sha256: string, bytes: Uint8Array): Promise<void>;
  get(sha256: string): Promise<Buffer | undefined>;
  /** Deletes the bytes unless a sidecar row of some library still refers to them. */
  release(sha256: string): Promise<void>;
}

/** Top-level merge: fields in `patch` replace those in `base`; a field set to null is removed. */
export function mergeMetadata(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}
