/**
 * Wire operations of libraries, entries and locations. Library-scoped operations run against
 * `library_id` (the request's, or the payload's — extensions pass it in the payload), else the
 * default library.
 */
import { actorOf, type OperationContext as CallContext } from '../registry/index.js';
import { operationsWith } from '../modules/index.js';
import type { JobSystem } from '../jobs/index.js';
import type { ExtensionManager } from '../extensions/index.js';
import type { LibraryService } from './libraries.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { decodeBase64Field } from '../schema/index.js';
import { MAX_INLINE_CONTENT_BYTES } from './libraries.js';
import { addLocation, dispatchIndex, getLocation, removeLocation } from './locations.js';
import type { EntryRecord, LocationRecord } from './store.js';

/** The services library handlers see as `ctx.core` (the library module declares them). */
export interface LibraryHandlerServices {
  libraries: LibraryService;
  jobs: JobSystem;
  extensions: Pick<ExtensionManager, 'checkPaths'>;
}
type OperationContext = CallContext<LibraryHandlerServices>;
const defineOperation = operationsWith<LibraryHandlerServices>();

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** An entry as the wire shows it. */
export interface WireEntry {
  id: string;
  library_id: string;
  name: string;
  path: string;
  entry_type: string;
  kind: string | null;
  metadata: Record<string, unknown>;
  content_hash: string | null;
  size: number | null;
  modified_at: string | null;
  location_id: string | null;
  dedupe_key: string | null;
  created_at: string;
  updated_at: string;
  /** Base64, only with `include_content`. */
  content?: string;
}

export function toWireEntry(libraryId: string, e: EntryRecord): WireEntry {
  return {
    id: e.id,
    library_id: libraryId,
    name: e.name,
    path: e.path,
    entry_type: e.entryType,
    kind: e.kind,
    metadata: e.metadata,
    content_hash: e.contentHash,
    size: e.size,
    modified_at: iso(e.mtime),
    location_id: e.locationId,
    dedupe_key: e.dedupeKey,
    created_at: iso(e.createdAt)!,
    updated_at: iso(e.updatedAt)!,
  };
}

export interface WireLocation {
  id: string;
  library_id: string;
  path: string;
  name: string;
  created_at: string;
  last_indexed_at: string | null;
  last_job_id: string | null;
  entries: number;
}

function toWireLocation(libraryId: string, l: LocationRecord, entries: number): WireLocation {
  return { id: l.id, library_id: libraryId, path: l.path, name: l.name, created_at: iso(l.createdAt)!, last_indexed_at: iso(l.lastIndexedAt), last_job_id: l.lastJobId, entries };
}

/** The library of a call: the payload's `library_id` when given, else the context's (already the default when none was named). */
export function libraryOf(input: { library_id?: string }, ctx: CallContext<{ libraries: Pick<LibraryService, 'resolve'> }>): Promise<string> {
  return ctx.core.libraries.resolve(input.library_id ?? ctx.libraryId);
}

function dispatchedBy(ctx: OperationContext): string {
  return actorOf(ctx.caller);
}

export const libraryIdProperty = { type: 'string', minLength: 1, description: 'Library to use (default: the default library).' } as const;

const entrySchema = {
  type: 'object',
  required: ['id', 'library_id', 'name', 'path', 'entry_type', 'metadata', 'content_hash', 'size', 'created_at', 'updated_at'],
  properties: {
    id: { type: 'string' },
    library_id: { type: 'string' },
    name: { type: 'string' },
    path: { type: 'string' },
    entry_type: { type: 'string' },
    kind: { type: ['string', 'null'] },
    metadata: { type: 'object' },
    content_hash: { type: ['string', 'null'] },
    size: { type: ['integer', 'null'] },
    modified_at: { type: ['string', 'null'] },
    location_id: { type: ['string', 'null'] },
    dedupe_key: { type: ['string', 'null'] },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
    content: { type: 'string', contentEncoding: 'base64' },
  },
} as const;

const librarySchema = {
  type: 'object',
  required: ['id', 'name', 'created_at', 'is_default'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, created_at: { type: 'string' }, is_default: { type: 'boolean' } },
} as const;

const locationSchema = {
  type: 'object',
  required: ['id', 'library_id', 'path', 'name', 'created_at', 'last_indexed_at', 'entries'],
  properties: {
    id: { type: 'string' },
    library_id: { type: 'string' },
    path: { type: 'string' },
    name: { type: 'string' },
    created_at: { type: 'string' },
    last_indexed_at: { type: ['string', 'null'] },
    last_job_id: { type: ['string', 'null'] },
    entries: { type: 'integer' },
  },
} as const;

interface WireLibrary {
  id: string;
  name: string;
  created_at: string;
  is_default: boolean;
}

export const librariesCreate = defineOperation<{ name: string; make_default?: boolean }, WireLibrary>({
  method: 'action:libraries.create.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Creates a library (its own database of entries, locations and sidecars).',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 200, description: 'Name, unique (case-insensitively).' },
      make_default: { type: 'boolean', default: false, description: 'Use it when a call names no library.' },
    },
  },
  output: librarySchema,
  handler: async (input, { core }) => {
    const lib = await core.libraries.create(input.name, { makeDefault: input.make_default ?? false });
    return { id: lib.id, name: lib.name, created_at: iso(lib.createdAt)!, is_default: core.libraries.defaultId === lib.id };
  },
});

export const librariesList = defineOperation<Record<string, never>, { libraries: WireLibrary[]; default_library_id: string | null }>({
  method: 'query:libraries.list.v1',
  kind: 'query',
  scope: 'core',
  description: 'Every library, and which one is the default.',
  input: { type: 'object', additionalProperties: false, properties: {} },
  output: {
    type: 'object',
    required: ['libraries', 'default_library_id'],
    properties: { libraries: { type: 'array', items: librarySchema }, default_library_id: { type: ['string', 'null'] } },
  },
  handler: async (_input, { core }) => ({
    libraries: (await core.libraries.list()).map((l) => ({ id: l.id, name: l.name, created_at: iso(l.createdAt)!, is_default: l.isDefault })),
    default_library_id: core.libraries.defaultId,
  }),
});

export const librariesInfo = defineOperation<{ library_id?: string }, Record<string, unknown>>({
  method: 'query:libraries.info.v1',
  kind: 'query',
  scope: 'core',
  description: 'A library (default: the default library) with its counts of entries, locations and sidecars and their sizes.',
  input: { type: 'object', additionalProperties: false, properties: { library_id: libraryIdProperty } },
  output: {
    type: 'object',
    required: ['id', 'name', 'is_default', 'entries', 'locations', 'sidecars', 'size_bytes', 'sidecar_bytes', 'database_bytes'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      created_at: { type: 'string' },
      is_default: { type: 'boolean' },
      entries: { type: 'integer' },
      locations: { type: 'integer' },
      sidecars: { type: 'integer' },
      size_bytes: { type: 'integer', description: 'Sum of the entries’ sizes.' },
      sidecar_bytes: { type: 'integer' },
      database_bytes: { type: 'integer' },
    },
  },
  handler: async (input, ctx) => {
    const id = await ctx.core.libraries.resolve(input.library_id ?? ctx.libraryId);
    const lib = (await ctx.core.libraries.get(id))!;
    const s = await ctx.core.libraries.stats(id);
    return {
      id,
      name: lib.name,
      created_at: iso(lib.createdAt),
      is_default: ctx.core.libraries.defaultId === id,
      entries: s.entries,
      locations: s.locations,
      sidecars: s.sidecars,
      size_bytes: s.entryBytes,
      sidecar_bytes: s.sidecarBytes,
      database_bytes: s.databaseBytes,
    };
  },
});

export interface CreateEntryInput {
  library_id?: string;
  name: string;
  path: string;
  entry_type: string;
  metadata?: Record<string, unknown>;
  content?: string;
  dedupe_key?: string;
  if_exists?: 'error' | 'return' | 'replace';
}

export const createEntry = defineOperation<CreateEntryInput, WireEntry & { created: boolean; replaced: boolean }>({
  method: 'action:vdfs.create_entry.input.v1',
  kind: 'action',
  scope: 'library',
  description:
    'Creates an entry (name, path unique in the library, entry type, metadata, optional content bytes stored content-addressed). An existing path or dedupe_key is ALREADY_EXISTS unless if_exists is "return" or "replace".',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'path', 'entry_type'],
    properties: {
      library_id: libraryIdProperty,
      name: { type: 'string', minLength: 1, maxLength: 1024, description: 'Display name.' },
      path: { type: 'string', minLength: 1, maxLength: 4096, description: 'Path in the library (unique), e.g. receipts/<id>.eml.' },
      entry_type: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_.:-]+$', description: 'FinancialDocument, File, Directory, …' },
      metadata: { type: 'object', description: 'Free-form JSON object (searchable by top-level field).' },
      content: { type: 'string', contentEncoding: 'base64', description: 'The entry’s bytes (a file path from the CLI).' },
      dedupe_key: { type: 'string', minLength: 1, maxLength: 1024, description: 'Another unique key (e.g. a Message-ID): a second create with it finds the first entry.' },
      if_exists: { enum: ['error', 'return', 'replace'], default: 'error', description: 'When the path or dedupe key exists: fail, return the existing entry, or replace it (keeping its id).' },
    },
  },
  output: { ...entrySchema, required: [...entrySchema.required, 'created', 'replaced'], properties: { ...entrySchema.properties, created: { type: 'boolean' }, replaced: { type: 'boolean' } } },
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    const result = await ctx.core.libraries.createEntry(libraryId, {
      name: input.name,
      path: input.path,
      entryType: input.entry_type,
      ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
      ...(input.content !== undefined ? { content: decodeBase64Field('content', input.content) } : {}),
      ...(input.dedupe_key !== undefined ? { dedupeKey: input.dedupe_key } : {}),
      ifExists: input.if_exists ?? 'error',
    });
    return { ...toWireEntry(libraryId, result.entry), created: result.created, replaced: result.replaced };
  },
});

export const getEntry = defineOperation<{ library_id?: string; entry_id: string; include_content?: boolean }, WireEntry>({
  method: 'query:vdfs.get_entry.v1',
  kind: 'query',
  scope: 'library',
  description: `An entry by id; with include_content, its bytes (base64, verified against its hash; up to ${MAX_INLINE_CONTENT_BYTES} bytes).`,
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['entry_id'],
    properties: {
      library_id: libraryIdProperty,
      entry_id: { type: 'string', minLength: 1 },
      include_content: { type: 'boolean', default: false, description: 'Also return the content bytes.' },
    },
  },
  output: entrySchema,
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    const entry = await ctx.core.libraries.getEntry(libraryId, input.entry_id);
    const wire = toWireEntry(libraryId, entry);
    if (input.include_content) {
      const data = await ctx.core.libraries.readContent(libraryId, entry);
      if (data) wire.content = data.toString('base64');
    }
    return wire;
  },
});

interface ListEntriesInput {
  library_id?: string;
  entry_type?: string;
  name_contains?: string;
  path_prefix?: string;
  location_id?: string;
  metadata?: Record<string, unknown>;
  limit?: number;
  cursor?: string;
}

function encodeCursor(seq: number): string {
  return Buffer.from(JSON.stringify({ after: seq })).toString('base64url');
}

function decodeCursor(cursor: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'number' && Number.isInteger(parsed.after) && parsed.after >= 0) return parsed.after;
  } catch {
    // fall through
  }
  throw new SpacedriveError(ErrorCode.INVALID_INPUT, "invalid input: field 'cursor': expected a next_cursor returned by an earlier call", {
    problems: [{ field: 'cursor', expected: 'a next_cursor from an earlier call' }],
  });
}

export const listEntries = defineOperation<ListEntriesInput, { entries: WireEntry[]; next_cursor: string | null }>({
  method: 'query:vdfs.list_entries.v1',
  kind: 'query',
  scope: 'library',
  description: 'Lists and searches entries (by type, name, path prefix, location, top-level metadata fields), in creation order, paged with next_cursor.',
  input: {
    type: 'object',
    additionalProperties: false,
    properties: {
      library_id: libraryIdProperty,
      entry_type: { type: 'string', minLength: 1, description: 'Only entries of this type.' },
      name_contains: { type: 'string', minLength: 1, description: 'Name contains this text (case-insensitive).' },
      path_prefix: { type: 'string', minLength: 1, description: 'Path starts with this text.' },
      location_id: { type: 'string', minLength: 1, description: 'Only entries indexed from this location.' },
      metadata: { type: 'object', description: 'Top-level metadata fields that must equal these values.' },
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
      cursor: { type: 'string', minLength: 1, description: 'next_cursor of the previous page.' },
    },
  },
  output: {
    type: 'object',
    required: ['entries', 'next_cursor'],
    properties: { entries: { type: 'array', items: entrySchema }, next_cursor: { type: ['string', 'null'] } },
  },
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    const page = await ctx.core.libraries.listEntries(libraryId, {
      limit: input.limit ?? 100,
      ...(input.cursor !== undefined ? { afterSeq: decodeCursor(input.cursor) } : {}),
      ...(input.entry_type !== undefined ? { entryType: input.entry_type } : {}),
      ...(input.name_contains !== undefined ? { nameContains: input.name_contains } : {}),
      ...(input.path_prefix !== undefined ? { pathPrefix: input.path_prefix } : {}),
      ...(input.location_id !== undefined ? { locationId: input.location_id } : {}),
      ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
    });
    return { entries: page.entries.map((e) => toWireEntry(libraryId, e)), next_cursor: page.nextSeq === null ? null : encodeCursor(page.nextSeq) };
  },
});

export const updateMetadata = defineOperation<{ library_id?: string; entry_id: string; metadata: Record<string, unknown>; replace?: boolean }, WireEntry>({
  method: 'action:vdfs.update_metadata.input.v1',
  kind: 'action',
  scope: 'library',
  description: "Updates an entry's metadata: merged into it by top-level field (a field set to null is removed), or replacing it with replace.",
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['entry_id', 'metadata'],
    properties: {
      library_id: libraryIdProperty,
      entry_id: { type: 'string', minLength: 1 },
      metadata: { type: 'object', description: 'Fields to set (null removes a field).' },
      replace: { type: 'boolean', default: false, description: 'Replace the whole metadata object instead of merging.' },
    },
  },
  output: entrySchema,
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    return toWireEntry(libraryId, await ctx.core.libraries.updateMetadata(libraryId, input.entry_id, input.metadata, input.replace ?? false));
  },
});

export const deleteEntry = defineOperation<{ library_id?: string; entry_id: string }, { deleted: true; entry_id: string }>({
  method: 'action:vdfs.delete_entry.input.v1',
  kind: 'action',
  scope: 'library',
  description: 'Deletes an entry, with its stored content and sidecars when no other entry shares them. (An indexed file on disk is not touched.)',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['entry_id'],
    properties: { library_id: libraryIdProperty, entry_id: { type: 'string', minLength: 1 } },
  },
  output: { type: 'object', required: ['deleted', 'entry_id'], properties: { deleted: { const: true }, entry_id: { type: 'string' } } },
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    await ctx.core.libraries.deleteEntry(libraryId, input.entry_id);
    return { deleted: true as const, entry_id: input.entry_id };
  },
});

export const locationsAdd = defineOperation<{ library_id?: string; path: string; name?: string }, { location: WireLocation; job_id: string }>({
  method: 'action:locations.add.input.v1',
  kind: 'action',
  scope: 'library',
  description: 'Adds a directory as a location of the library and dispatches the locations.index job that indexes it; returns the location and the job id.',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: {
      library_id: libraryIdProperty,
      path: { type: 'string', minLength: 1, description: 'An existing directory, not inside (nor containing) another location.' },
      name: { type: 'string', minLength: 1, maxLength: 200, description: 'Display name (default: the directory name).' },
    },
  },
  output: { type: 'object', required: ['location', 'job_id'], properties: { location: locationSchema, job_id: { type: 'string' } } },
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    // Checked before anything is recorded; the index job checks it again when it runs.
    await ctx.core.extensions.checkPaths(actorOf(ctx.caller), [{ path: input.path, access: 'read', what: 'locations.add path' }]);
    const location = await addLocation(ctx.core.libraries, libraryId, input.path, input.name);
    const { jobId } = await dispatchIndex(ctx.core.jobs, ctx.core.libraries, libraryId, location.id, dispatchedBy(ctx));
    return { location: toWireLocation(libraryId, { ...location, lastJobId: jobId }, 0), job_id: jobId };
  },
});

export const locationsList = defineOperation<{ library_id?: string }, { locations: WireLocation[] }>({
  method: 'query:locations.list.v1',
  kind: 'query',
  scope: 'library',
  description: 'The locations of the library, with their entry counts and when they were last indexed.',
  input: { type: 'object', additionalProperties: false, properties: { library_id: libraryIdProperty } },
  output: { type: 'object', required: ['locations'], properties: { locations: { type: 'array', items: locationSchema } } },
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    const store = await ctx.core.libraries.store(libraryId);
    const locations = await store.listLocations();
    return { locations: await Promise.all(locations.map(async (l) => toWireLocation(libraryId, l, await store.countLocationEntries(l.id)))) };
  },
});

export const locationsRescan = defineOperation<{ library_id?: string; location_id: string }, { job_id: string; deduplicated: boolean }>({
  method: 'action:locations.rescan.input.v1',
  kind: 'action',
  scope: 'library',
  description: 'Indexes a location again (changed, moved, new and deleted files); returns the job id (the running one if it is being indexed).',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['location_id'],
    properties: { library_id: libraryIdProperty, location_id: { type: 'string', minLength: 1 } },
  },
  output: { type: 'object', required: ['job_id', 'deduplicated'], properties: { job_id: { type: 'string' }, deduplicated: { type: 'boolean' } } },
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    await getLocation(ctx.core.libraries, libraryId, input.location_id);
    const r = await dispatchIndex(ctx.core.jobs, ctx.core.libraries, libraryId, input.location_id, dispatchedBy(ctx));
    return { job_id: r.jobId, deduplicated: r.deduplicated };
  },
});

export const locationsRemove = defineOperation<{ library_id?: string; location_id: string; keep_entries?: boolean }, { location: WireLocation; removed_entries: number }>({
  method: 'action:locations.remove.input.v1',
  kind: 'action',
  scope: 'library',
  description: 'Removes a location: cancels its indexing job and deletes its entries (files on disk are not touched), or keeps them as entries without a location with keep_entries.',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['location_id'],
    properties: {
      library_id: libraryIdProperty,
      location_id: { type: 'string', minLength: 1 },
      keep_entries: { type: 'boolean', default: false, description: 'Keep the entries (detached from the location).' },
    },
  },
  output: { type: 'object', required: ['location', 'removed_entries'], properties: { location: locationSchema, removed_entries: { type: 'integer' } } },
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    const r = await removeLocation(ctx.core.jobs, ctx.core.libraries, libraryId, input.location_id, input.keep_entries ?? false);
    return { location: toWireLocation(libraryId, r.location, 0), removed_entries: r.removedEntries };
  },
});

export const libraryOperations = [
  librariesCreate,
  librariesList,
  librariesInfo,
  createEntry,
  getEntry,
  listEntries,
  updateMetadata,
  deleteEntry,
  locationsAdd,
  locationsList,
  locationsRescan,
  locationsRemove,
];
