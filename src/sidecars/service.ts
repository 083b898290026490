/**
 * Sidecars (`core.sidecars`): derived data attached to an entry's content — OCR text, thumbnails,
 * embeddings, an extension's own results — stored as files under the data directory and indexed
 * in the library's database with their SHA-256.
 *
 * Files are content-addressed and sharded: `sidecars/<hh>/<key>/<kind>/<variant>.<format>`,
 * where `<key>` is the entry's content hash (entries with the same bytes share derived data,
 * across libraries too) or the entry id for entries without content, and `<hh>` its first two
 * characters.
 *
 * Replacing a sidecar is atomic: the new bytes go to a fsynced temporary file in the same
 * directory, then the index row is updated and the file renamed over the old one inside one
 * database transaction (the store's `upsertSidecar` runs the rename before it commits). A reader
 * that opened the old file keeps reading the old complete bytes; readers check what they read
 * against the row's checksum read *after* the bytes, and read again if a replace landed
 * in between, so they return either the old or the new content, whole and verified. Bytes that
 * match no checksum are corruption: CHECKSUM_MISMATCH.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { rmdirSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { EventBus } from '../events/index.js';
import { stageFile } from '../atomic-file/index.js';
import type { EntryRecord, LibraryService, SidecarBlobStore, SidecarRecord } from '../library/index.js';

/** Formats read back as text (`text`), as JSON (`json`); anything else comes back as base64 `data`. */
export const TEXT_FORMATS: ReadonlySet<string> = new Set(['txt', 'md', 'csv', 'tsv', 'html', 'xml', 'svg', 'yaml', 'yml', 'log']);

export type SidecarEncoding = 'json' | 'text' | 'base64';

export function encodingOf(format: string): SidecarEncoding {
  return format === 'json' ? 'json' : TEXT_FORMATS.has(format) ? 'text' : 'base64';
}

/** The key sidecars of an entry are filed under. */
export function contentKeyOf(entry: EntryRecord): string {
  return entry.contentHash ?? entry.id;
}

export interface WriteSidecarRequest {
  kind: string;
  variant: string;
  format: string;
  bytes: Uint8Array;
}

export interface ReadSidecarResult {
  sidecar: SidecarRecord;
  bytes: Buffer;
}

/** Attempts of a read that raced with replaces before it gives up and calls the data corrupt. */
const READ_ATTEMPTS = 8;

export class SidecarService {
  readonly #dataDir: string;
  readonly #libraries: LibraryService;
  readonly #events: EventBus;
  /** Where the bytes are when they are not files in the data directory (the PostgreSQL backend). */
  readonly #blobs: SidecarBlobStore | undefined;
  #written = 0;
  #read = 0;
  #corrupt = 0;

  constructor(opts: { dataDir: string; libraries: LibraryService; events: EventBus; blobs?: SidecarBlobStore }) {
    this.#dataDir = opts.dataDir;
    this.#blobs = opts.blobs;
    this.#libraries = opts.libraries;
    this.#events = opts.events;
    // An entry's derived data goes with the last entry that used its content.
    this.#libraries.onContentReleased((libraryId, key) => this.removeForContent(libraryId, key));
  }

  /** `sidecars/<hh>/<key>/<kind>/<variant>.<format>`, relative to the data directory. */
  relativePath(key: string, kind: string, variant: string, format: string): string {
    return join('sidecars', key.slice(0, 2), key, kind, `${variant}.${format}`);
  }

  absolutePath(relative: string): string {
    return join(this.#dataDir, relative);
  }

  async write(libraryId: string, entryId: string, req: WriteSidecarRequest): Promise<SidecarRecord> {
    const entry = await this.#libraries.getEntry(libraryId, entryId);
    const key = contentKeyOf(entry);
    const rel = this.relativePath(key, req.kind, req.variant, req.format);
    const checksum = createHash('sha256').update(req.bytes).digest('hex');
    const now = Date.now();
    const store = await this.#libraries.store(libraryId);
    const row = { id: randomUUID(), contentKey: key, kind: req.kind, variant: req.variant, format: req.format, path: rel, checksum, size: req.bytes.length, createdAt: now, updatedAt: now };
    let result;
    if (this.#blobs) {
      // The row first, then the bytes by their SHA-256: bytes a row names are never released, and
      // a reader in between finds none for the new checksum and reads again (see read).
      result = await store.upsertSidecar(row, () => undefined);
      await this.#blobs.put(checksum, req.bytes);
    } else {
      const staged = stageFile(this.absolutePath(rel), req.bytes);
      try {
        result = await store.upsertSidecar(row, () => staged.commit());
      } catch (err) {
        staged.discard();
        throw err;
      }
    }
    // Other libraries with the same content share this file: their rows follow it.
    for (const { libraryId: other, store: otherStore } of await this.#libraries.allStores()) {
      if (other !== libraryId) await otherStore.refreshSidecarFile(rel, checksum, req.bytes.length, now);
    }
    if (result.previous && this.#blobs) {
      if (result.previous.checksum !== checksum) await this.#blobs.release(result.previous.checksum);
    } else if (result.previous && result.previous.path !== rel) await this.#unlinkIfUnused(result.previous.path);
    this.#written++;
    this.#events.emit('sidecar:written', { library_id: libraryId, entry_id: entryId, sidecar_id: result.current.id, kind: req.kind, variant: req.variant, format: req.format });
    return result.current;
  }

  async #find(libraryId: string, key: string, kind: string, variant: string, entryId: string): Promise<SidecarRecord> {
    const row = await (await this.#libraries.store(libraryId)).getSidecar(key, kind, variant);
    if (!row) {
      throw new SpacedriveError(ErrorCode.NOT_FOUND, `entry '${entryId}' has no sidecar of kind '${kind}', variant '${variant}'`, { entry_id: entryId, kind, variant });
    }
    return row;
  }

  async read(libraryId: string, entryId: string, kind: string, variant: string): Promise<ReadSidecarResult> {
    const entry = await this.#libraries.getEntry(libraryId, entryId);
    const key = contentKeyOf(entry);
    let row = await this.#find(libraryId, key, kind, variant, entryId);
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      let bytes: Buffer | undefined;
      if (this.#blobs) {
        bytes = await this.#blobs.get(row.checksum);
      } else {
        try {
          bytes = await readFile(this.absolutePath(row.path));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      const current = await this.#find(libraryId, key, kind, variant, entryId);
      if (bytes) {
        const actual = createHash('sha256').update(bytes).digest('hex');
        if (actual === current.checksum) {
          this.#read++;
          return { sidecar: current, bytes };
        }
      }
      if (current.checksum === row.checksum && current.path === row.path && current.updatedAt === row.updatedAt) {
        // Nothing was replaced while we read: what is on disk is not what was written.
        this.#corrupt++;
        if (!bytes) {
          throw new SpacedriveError(ErrorCode.CHECKSUM_MISMATCH, `the file of sidecar ${kind}/${variant} of entry '${entryId}' is missing`, {
            entry_id: entryId,
            sidecar_id: row.id,
            expected: row.checksum,
          });
        }
        throw new SpacedriveError(ErrorCode.CHECKSUM_MISMATCH, `sidecar ${kind}/${variant} of entry '${entryId}' is corrupted: its SHA-256 does not match the one recorded when it was written`, {
          entry_id: entryId,
          sidecar_id: row.id,
          expected: row.checksum,
          actual: createHash('sha256').update(bytes).digest('hex'),
        });
      }
      row = current;
    }
    throw new SpacedriveError(ErrorCode.OVERLOADED, `sidecar ${kind}/${variant} of entry '${entryId}' was replaced ${READ_ATTEMPTS} times while being read; try again`, { entry_id: entryId });
  }

  async list(libraryId: string, filter: { entryId?: string; kind?: string }): Promise<SidecarRecord[]> {
    const contentKey = filter.entryId !== undefined ? contentKeyOf(await this.#libraries.getEntry(libraryId, filter.entryId)) : undefined;
    return (await this.#libraries.store(libraryId)).listSidecars({ ...(contentKey !== undefined ? { contentKey } : {}), ...(filter.kind !== undefined ? { kind: filter.kind } : {}) });
  }

  async delete(libraryId: string, entryId: string, kind: string, variant: string): Promise<SidecarRecord> {
    const entry = await this.#libraries.getEntry(libraryId, entryId);
    const row = await this.#find(libraryId, contentKeyOf(entry), kind, variant, entryId);
    await (await this.#libraries.store(libraryId)).deleteSidecar(row.id);
    await this.#release(row);
    this.#events.emit('sidecar:deleted', { library_id: libraryId, entry_id: entryId, sidecar_id: row.id, kind, variant });
    return row;
  }

  /** Drops a content key's sidecars from a library (its last entry went) and their files when no library uses them. */
  async removeForContent(libraryId: string, key: string): Promise<void> {
    for (const row of await (await this.#libraries.store(libraryId)).deleteSidecarsOfContent(key)) await this.#release(row);
  }

  /** Drops a deleted row's bytes unless another row still uses them. */
  async #release(row: SidecarRecord): Promise<void> {
    if (this.#blobs) await this.#blobs.release(row.checksum);
    else await this.#unlinkIfUnused(row.path);
  }

  async #unlinkIfUnused(rel: string): Promise<void> {
    for (const { store } of await this.#libraries.allStores()) if ((await store.countSidecarPath(rel)) > 0) return;
    const abs = this.absolutePath(rel);
    try {
      unlinkSync(abs);
    } catch {
      // already gone
    }
    // Remove the now-empty <kind>, <key> and <hh> directories; rmdir refuses non-empty ones.
    let dir = dirname(abs);
    const stop = join(this.#dataDir, 'sidecars');
    for (let i = 0; i < 3 && dir.startsWith(stop) && dir !== stop; i++) {
      try {
        rmdirSync(dir);
      } catch {
        break;
      }
      dir = dirname(dir);
    }
  }

  counters(): Record<string, number> {
    return { written: this.#written, read: this.#read, corrupt_detected: this.#corrupt };
  }
}
