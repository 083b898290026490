/**
 * `vdfs()`: library entries and sidecars (`action:vdfs.create_entry.input.v1`,
 * `query:vdfs.get_entry.v1`, `query:vdfs.list_entries.v1`, `action:vdfs.update_metadata.input.v1`,
 * `action:vdfs.delete_entry.input.v1`, `action:vdfs.write_sidecar.input.v1`,
 * `query:vdfs.read_sidecar.v1`, `query:vdfs.list_sidecars.v1`, `action:vdfs.delete_sidecar.input.v1`).
 * Needs `permissions.call` prefixes `action:vdfs.` / `query:vdfs.` and `permissions.libraries`.
 */
import { JSON } from "json-as";
import { CallError, CallResult } from "../call";
import { RawFields, rawFields } from "../raw-json";
import { E_BAD_ENVELOPE, E_HOST } from "../messages";
import { ObjectBuilder, boolOr, bytesOrNull, callFields, intOr, rawItems, strOrNull } from "./common";

const M_CREATE_ENTRY = "action:vdfs.create_entry.input.v1";
const M_GET_ENTRY = "query:vdfs.get_entry.v1";
const M_LIST_ENTRIES = "query:vdfs.list_entries.v1";
const M_UPDATE_METADATA = "action:vdfs.update_metadata.input.v1";
const M_DELETE_ENTRY = "action:vdfs.delete_entry.input.v1";
const M_WRITE_SIDECAR = "action:vdfs.write_sidecar.input.v1";
const M_READ_SIDECAR = "query:vdfs.read_sidecar.v1";
const M_LIST_SIDECARS = "query:vdfs.list_sidecars.v1";
const M_DELETE_SIDECAR = "action:vdfs.delete_sidecar.input.v1";

/** An entry of a library. */
export class Entry {
  id: string = "";
  libraryId: string = "";
  name: string = "";
  path: string = "";
  /** `FinancialDocument`, `File`, … */
  entryType: string = "";
  /** File kind for indexed files (`image`, `pdf`, …), else null. */
  kind: string | null = null;
  /** The metadata object as raw JSON (parse it with {@link metadataAs}). */
  metadataJson: string = "{}";
  contentHash: string | null = null;
  /** Content size in bytes; -1 when the entry has no content. */
  size: i64 = -1;
  modifiedAt: string | null = null;
  locationId: string | null = null;
  dedupeKey: string | null = null;
  createdAt: string = "";
  updatedAt: string = "";
  /** The content, when asked for with `getEntry(id, true)`. */
  content: Uint8Array | null = null;
  /** createEntry only: a new entry was made (false: an existing one was returned or replaced). */
  created: bool = false;
  /** createEntry only: an existing entry was replaced. */
  replaced: bool = false;

  /** The metadata parsed into `T` (a `@json` class). */
  metadataAs<T>(): T {
    return JSON.parse<T>(this.metadataJson);
  }

  /** Reads an entry from the host's JSON. */
  static fromFields(f: RawFields): Entry {
    const e = new Entry();
    e.id = f.string("id");
    e.libraryId = f.string("library_id");
    e.name = f.string("name");
    e.path = f.string("path");
    e.entryType = f.string("entry_type");
    e.kind = strOrNull(f, "kind");
    e.metadataJson = f.getOr("metadata", "{}");
    e.contentHash = strOrNull(f, "content_hash");
    e.size = intOr(f, "size", -1);
    e.modifiedAt = strOrNull(f, "modified_at");
    e.locationId = strOrNull(f, "location_id");
    e.dedupeKey = strOrNull(f, "dedupe_key");
    e.createdAt = f.string("created_at");
    e.updatedAt = f.string("updated_at");
    e.content = bytesOrNull(f, "content");
    e.created = boolOr(f, "created", false);
    e.replaced = boolOr(f, "replaced", false);
    return e;
  }
}

/** What `createEntry` makes. Chain the `with…` setters for the optional parts. */
export class NewEntry {
  metadataJson: string | null = null;
  content: Uint8Array | null = null;
  /** The content as base64 text (`withContentBase64`); used when `content` is null. */
  contentBase64: string | null = null;
  dedupeKey: string | null = null;
  /** `error` (default), `return` or `replace`: what to do when the path or dedupe key exists. */
  ifExists: string | null = null;

  constructor(
    public name: string,
    /** Unique in the library, e.g. `receipts/<id>.eml`. */
    public path: string,
    public entryType: string,
  ) {}

  /** Metadata from a `@json` object. */
  withMetadata<T>(metadata: T): NewEntry {
    this.metadataJson = JSON.stringify<T>(metadata);
    return this;
  }

  /** Metadata as raw JSON object text. */
  withMetadataJson(json: string): NewEntry {
    this.metadataJson = json;
    return this;
  }

  /** The entry's bytes (stored content-addressed). */
  withContent(bytes: Uint8Array): NewEntry {
    this.content = bytes;
    return this;
  }

  /**
   * The entry's bytes as base64 text, as received in an input: handed to the host as they are,
   * without a decode and re-encode in the guest.
   */
  withContentBase64(base64: string): NewEntry {
    this.contentBase64 = base64;
    return this;
  }

  /** Another unique key (e.g. a Message-ID): creating again with it finds the first entry. */
  withDedupeKey(key: string): NewEntry {
    this.dedupeKey = key;
    return this;
  }

  /** `return` the existing entry or `replace` it instead of failing with ALREADY_EXISTS. */
  onExisting(mode: string): NewEntry {
    this.ifExists = mode;
    return this;
  }
}

/** Filters of `listEntries`; all optional. */
export class EntryFilter {
  entryType: string | null = null;
  nameContains: string | null = null;
  pathPrefix: string | null = null;
  locationId: string | null = null;
  /** Top-level metadata fields that must equal these values (raw JSON object). */
  metadataJson: string | null = null;
  /** Page size, 1..1000; 0 keeps the host's default (100). */
  limit: i32 = 0;
  /** `nextCursor` of the previous page. */
  cursor: string | null = null;
}

/** One page of entries. */
export class EntryPage {
  entries: Entry[] = [];
  /** Pass as `EntryFilter.cursor` for the next page; null on the last page. */
  nextCursor: string | null = null;
}

/** A sidecar: derived data of an entry's content. */
export class Sidecar {
  sidecarId: string = "";
  contentKey: string = "";
  kind: string = "";
  variant: string = "";
  format: string = "";
  /** The file's path on the host (for information; extensions read sidecars through readSidecar). */
  path: string = "";
  checksum: string = "";
  size: i64 = 0;
  createdAt: string = "";
  updatedAt: string = "";

  static fromFields(f: RawFields): Sidecar {
    const s = new Sidecar();
    s.sidecarId = f.string("sidecar_id");
    s.contentKey = f.string("content_key");
    s.kind = f.string("kind");
    s.variant = f.string("variant");
    s.format = f.string("format");
    s.path = f.string("path");
    s.checksum = f.string("checksum");
    s.size = intOr(f, "size", 0);
    s.createdAt = f.string("created_at");
    s.updatedAt = f.string("updated_at");
    return s;
  }
}

/** A sidecar read back, checksum verified by the host. */
export class SidecarContent extends Sidecar {
  /** `json`, `text` or `base64`: which of the fields below is set. */
  encoding: string = "";
  /** Raw JSON text (encoding `json`). */
  json: string | null = null;
  /** Text (encoding `text`). */
  text: string | null = null;
  /** Bytes (encoding `base64`). */
  data: Uint8Array | null = null;

  /** The JSON content parsed into `T`. */
  jsonAs<T>(): T {
    return JSON.parse<T>(this.json !== null ? this.json! : "null");
  }
}

function entryResult(method: string, payload: string): CallResult<Entry> {
  const r = callFields(method, payload);
  if (!r.ok) return r.mapError<Entry>();
  return CallResult.success<Entry>(Entry.fromFields(r.value));
}

function sidecarResult(method: string, payload: string): CallResult<Sidecar> {
  const r = callFields(method, payload);
  if (!r.ok) return r.mapError<Sidecar>();
  return CallResult.success<Sidecar>(Sidecar.fromFields(r.value));
}

function malformed<T>(method: string): CallResult<T> {
  return CallResult.failure<T>(new CallError(E_HOST, E_BAD_ENVELOPE + method));
}

/** Entries and sidecars of one library (the default library when none is named). */
export class Vdfs {
  constructor(
    /** The library to use; `null` for the default library (needs `permissions.libraries: ["*"]`). */
    public libraryId: string | null = null,
  ) {}

  private base(): ObjectBuilder {
    return new ObjectBuilder().str("library_id", this.libraryId);
  }

  /**
   * Creates an entry.
   *
   * @example
   * ```ts
   * const r = vdfs(libraryId).createEntry(
   *   new NewEntry("Receipt", "receipts/" + id + ".eml", "FinancialDocument").withMetadata<ReceiptMeta>(meta),
   * );
   * if (!r.ok) return ctx.fail(r.error!.message, r.error!.code);
   * ```
   */
  createEntry(entry: NewEntry): CallResult<Entry> {
    const b = this.base()
      .str("name", entry.name)
      .str("path", entry.path)
      .str("entry_type", entry.entryType)
      .raw("metadata", entry.metadataJson)
      .bytes("content", entry.content)
      .str("content", entry.content === null ? entry.contentBase64 : null)
      .str("dedupe_key", entry.dedupeKey)
      .str("if_exists", entry.ifExists);
    return entryResult(M_CREATE_ENTRY, b.toString());
  }

  /** An entry by id; with `includeContent`, its bytes too. */
  getEntry(entryId: string, includeContent: bool = false): CallResult<Entry> {
    const b = this.base().str("entry_id", entryId);
    if (includeContent) b.bool("include_content", true);
    return entryResult(M_GET_ENTRY, b.toString());
  }

  /** Lists and searches entries, paged. */
  listEntries(filter: EntryFilter | null = null): CallResult<EntryPage> {
    const b = this.base();
    if (filter !== null) {
      b.str("entry_type", filter.entryType)
        .str("name_contains", filter.nameContains)
        .str("path_prefix", filter.pathPrefix)
        .str("location_id", filter.locationId)
        .raw("metadata", filter.metadataJson)
        .str("cursor", filter.cursor);
      if (filter.limit > 0) b.int("limit", filter.limit);
    }
    const r = callFields(M_LIST_ENTRIES, b.toString());
    if (!r.ok) return r.mapError<EntryPage>();
    const items = rawItems(r.value.getOr("entries", "[]"));
    if (items === null) return malformed<EntryPage>(M_LIST_ENTRIES);
    const page = new EntryPage();
    for (let i = 0; i < items!.length; i++) {
      const f = rawFields(unchecked(items![i]));
      if (f === null) return malformed<EntryPage>(M_LIST_ENTRIES);
      page.entries.push(Entry.fromFields(f!));
    }
    page.nextCursor = strOrNull(r.value, "next_cursor");
    return CallResult.success<EntryPage>(page);
  }

  /** Merges `metadata` into the entry's (a field set to null is removed), or replaces it with `replace`. */
  updateMetadata<T>(entryId: string, metadata: T, replace: bool = false): CallResult<Entry> {
    return this.updateMetadataJson(entryId, JSON.stringify<T>(metadata), replace);
  }

  /** Like {@link updateMetadata}, with raw JSON object text. */
  updateMetadataJson(entryId: string, metadataJson: string, replace: bool = false): CallResult<Entry> {
    const b = this.base().str("entry_id", entryId).raw("metadata", metadataJson);
    if (replace) b.bool("replace", true);
    return entryResult(M_UPDATE_METADATA, b.toString());
  }

  /** Deletes an entry (with its content and sidecars when nothing else shares them). */
  deleteEntry(entryId: string): CallResult<bool> {
    const r = callFields(M_DELETE_ENTRY, this.base().str("entry_id", entryId).toString());
    if (!r.ok) return r.mapError<bool>();
    return CallResult.success<bool>(true);
  }

  /** Writes a JSON sidecar (format `json`); writing the same kind and variant again replaces it atomically. */
  writeSidecarJson<T>(entryId: string, kind: string, value: T, variant: string = "default"): CallResult<Sidecar> {
    return this.writeSidecarRawJson(entryId, kind, JSON.stringify<T>(value), variant);
  }

  /** Writes a JSON sidecar from raw JSON text. */
  writeSidecarRawJson(entryId: string, kind: string, json: string, variant: string = "default"): CallResult<Sidecar> {
    const b = this.base().str("entry_id", entryId).str("kind", kind).str("variant", variant).str("format", "json").raw("json", json);
    return sidecarResult(M_WRITE_SIDECAR, b.toString());
  }

  /** Writes a text sidecar (format such as `txt`, `md`). */
  writeSidecarText(entryId: string, kind: string, format: string, text: string, variant: string = "default"): CallResult<Sidecar> {
    const b = this.base().str("entry_id", entryId).str("kind", kind).str("variant", variant).str("format", format).str("text", text);
    return sidecarResult(M_WRITE_SIDECAR, b.toString());
  }

  /** Writes a binary sidecar (format such as `webp`, `bin`). */
  writeSidecar(entryId: string, kind: string, format: string, data: Uint8Array, variant: string = "default"): CallResult<Sidecar> {
    const b = this.base().str("entry_id", entryId).str("kind", kind).str("variant", variant).str("format", format).bytes("data", data);
    return sidecarResult(M_WRITE_SIDECAR, b.toString());
  }

  /** Reads a sidecar back (the host verifies its checksum). */
  readSidecar(entryId: string, kind: string, variant: string = "default"): CallResult<SidecarContent> {
    const r = callFields(M_READ_SIDECAR, this.base().str("entry_id", entryId).str("kind", kind).str("variant", variant).toString());
    if (!r.ok) return r.mapError<SidecarContent>();
    const f = r.value;
    const s = new SidecarContent();
    s.sidecarId = f.string("sidecar_id");
    s.contentKey = f.string("content_key");
    s.kind = f.string("kind");
    s.variant = f.string("variant");
    s.format = f.string("format");
    s.path = f.string("path");
    s.checksum = f.string("checksum");
    s.size = intOr(f, "size", 0);
    s.createdAt = f.string("created_at");
    s.updatedAt = f.string("updated_at");
    s.encoding = f.string("encoding");
    s.json = f.get("json");
    s.text = strOrNull(f, "text");
    s.data = bytesOrNull(f, "data");
    return CallResult.success<SidecarContent>(s);
  }

  /** Sidecars of one entry (or of the library with `entryId` null), optionally of one kind. */
  listSidecars(entryId: string | null = null, kind: string | null = null): CallResult<Sidecar[]> {
    const r = callFields(M_LIST_SIDECARS, this.base().str("entry_id", entryId).str("kind", kind).toString());
    if (!r.ok) return r.mapError<Sidecar[]>();
    const items = rawItems(r.value.getOr("sidecars", "[]"));
    if (items === null) return malformed<Sidecar[]>(M_LIST_SIDECARS);
    const out = new Array<Sidecar>();
    for (let i = 0; i < items!.length; i++) {
      const f = rawFields(unchecked(items![i]));
      if (f === null) return malformed<Sidecar[]>(M_LIST_SIDECARS);
      out.push(Sidecar.fromFields(f!));
    }
    return CallResult.success<Sidecar[]>(out);
  }

  /** Deletes a sidecar. */
  deleteSidecar(entryId: string, kind: string, variant: string = "default"): CallResult<bool> {
    const r = callFields(M_DELETE_SIDECAR, this.base().str("entry_id", entryId).str("kind", kind).str("variant", variant).toString());
    if (!r.ok) return r.mapError<bool>();
    return CallResult.success<bool>(true);
  }
}

/** Entries and sidecars of `libraryId` (default: the default library). */
export function vdfs(libraryId: string | null = null): Vdfs {
  return new Vdfs(libraryId);
}
