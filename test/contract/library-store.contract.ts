/**
 * The library storage contract: every LibraryBackend (SQLite files, PostgreSQL tables) must pass
 * this suite unchanged — the catalog, entries, locations and the sidecar index of a library.
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LibraryBackend, LibraryStore, NewEntry, SidecarRecord } from '../../src/library/store.js';

export interface LibraryBackendFactory {
  /** A fresh, empty backend. */
  create(): Promise<LibraryBackend>;
  /** The same storage opened again after `close()` (durability). */
  reopen(): Promise<LibraryBackend>;
  destroy?(): Promise<void>;
}

function entry(over: Partial<NewEntry> = {}): NewEntry {
  const id = randomUUID();
  return { id, name: `${id}.txt`, path: `docs/${id}.txt`, entryType: 'File', kind: null, metadata: {}, contentHash: null, size: null, mtime: null, locationId: null, contentStored: false, dedupeKey: null, ...over };
}

function sidecar(over: Partial<SidecarRecord> = {}): SidecarRecord {
  return { id: randomUUID(), contentKey: 'k1', kind: 'ocr', variant: 'default', format: 'txt', path: 'sidecars/k1/ocr/default.txt', checksum: 'c1', size: 10, createdAt: 1, updatedAt: 1, ...over };
}

export function libraryBackendContract(name: string, factory: LibraryBackendFactory): void {
  describe(`LibraryBackend contract: ${name}`, () => {
    let backend: LibraryBackend;
    let store: LibraryStore;
    let libraryId: string;
    beforeEach(async () => {
      backend = await factory.create();
      libraryId = randomUUID();
      await backend.addLibrary({ id: libraryId, name: 'Main', createdAt: 1000 }, false);
      store = await backend.openStore(libraryId);
    });
    afterEach(async () => {
      await backend.close();
      await factory.destroy?.();
    });

    it('keeps a catalog: the first library is the default, names are unique in any case, the default can move; durable', async () => {
      expect(await backend.readCatalog()).toEqual({ libraries: [{ id: libraryId, name: 'Main', createdAt: 1000 }], defaultId: libraryId });
      await expect(backend.addLibrary({ id: randomUUID(), name: 'MAIN', createdAt: 2000 }, false)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      const other = randomUUID();
      let catalog = await backend.addLibrary({ id: other, name: 'Other', createdAt: 2000 }, false);
      expect(catalog.defaultId).toBe(libraryId);
      expect(catalog.libraries.map((l) => l.name)).toEqual(['Main', 'Other']);
      catalog = await backend.setDefaultLibrary(other);
      expect(catalog.defaultId).toBe(other);
      const third = randomUUID();
      catalog = await backend.addLibrary({ id: third, name: 'Third', createdAt: 3000 }, true);
      expect(catalog.defaultId).toBe(third);
      await backend.close();
      backend = await factory.reopen();
      expect(await backend.readCatalog()).toMatchObject({ defaultId: third, libraries: [{ id: libraryId }, { id: other }, { id: third }] });
    });

    it('inserts, reads by id, path and dedupe key, and keeps libraries apart', async () => {
      const e = await store.insertEntry(entry({ path: 'a/b.txt', dedupeKey: 'dk', metadata: { n: 1, s: 'x', nested: { a: [1, 2] } }, size: 5, contentHash: 'h1' }));
      expect(e).toMatchObject({ path: 'a/b.txt', dedupeKey: 'dk', metadata: { n: 1, s: 'x', nested: { a: [1, 2] } }, size: 5, contentHash: 'h1', scanId: null, contentStored: false });
      expect(e.seq).toBeGreaterThan(0);
      expect(e.createdAt).toBeGreaterThan(0);
      expect(await store.getEntry(e.id)).toEqual(e);
      expect(await store.getEntryByPath('a/b.txt')).toEqual(e);
      expect(await store.getEntryByDedupeKey('dk')).toEqual(e);
      expect(await store.getEntry('nope')).toBeUndefined();
      await expect(store.insertEntry(entry({ path: 'a/b.txt' }))).rejects.toBeTruthy();
      const otherId = randomUUID();
      await backend.addLibrary({ id: otherId, name: 'Second', createdAt: 2 }, false);
      const other = await backend.openStore(otherId);
      expect(await other.getEntryByPath('a/b.txt')).toBeUndefined();
      await other.insertEntry(entry({ path: 'a/b.txt' }));
      expect((await other.stats()).entries).toBe(1);
      expect((await store.stats()).entries).toBe(1);
    });

    it('lists in insertion order with filters and pages (one more than the limit)', async () => {
      const made = [];
      for (let i = 0; i < 5; i++) {
        made.push(await store.insertEntry(entry({ name: i % 2 ? `Report_${i}.PDF` : `photo ${i}.jpg`, path: `p/${i}`, entryType: i % 2 ? 'Doc' : 'File', metadata: { i, even: i % 2 === 0, tag: i < 2 ? 'a' : null } })));
      }
      const page1 = await store.listEntries({ limit: 2 });
      expect(page1.map((e) => e.path)).toEqual(['p/0', 'p/1', 'p/2']);
      const page2 = await store.listEntries({ limit: 2, afterSeq: page1[1]!.seq });
      expect(page2.map((e) => e.path)).toEqual(['p/2', 'p/3', 'p/4']);
      expect((await store.listEntries({ limit: 10, entryType: 'Doc' })).map((e) => e.path)).toEqual(['p/1', 'p/3']);
      expect((await store.listEntries({ limit: 10, nameContains: 'report_' })).map((e) => e.path)).toEqual(['p/1', 'p/3']);
      // `_` and `%` are literal, not wildcards.
      expect(await store.listEntries({ limit: 10, nameContains: 'report%' })).toEqual([]);
      expect((await store.listEntries({ limit: 10, pathPrefix: 'p/3' })).map((e) => e.path)).toEqual(['p/3']);
      expect((await store.listEntries({ limit: 10, metadata: { i: 2 } })).map((e) => e.path)).toEqual(['p/2']);
      expect((await store.listEntries({ limit: 10, metadata: { even: true } })).map((e) => e.path)).toEqual(['p/0', 'p/2', 'p/4']);
      expect((await store.listEntries({ limit: 10, metadata: { i: '2' } })).map((e) => e.path)).toEqual([]);
      expect((await store.listEntries({ limit: 10, metadata: { tag: null } })).map((e) => e.path)).toEqual(['p/2', 'p/3', 'p/4']);
      expect(made).toHaveLength(5);
    });

    it('updates fields (only scan_id does not touch updated_at), merges or replaces metadata, deletes', async () => {
      const e = await store.insertEntry(entry({ metadata: { a: 1, b: 2 } }));
      const seen = await store.updateEntry(e.id, { scanId: 'scan-1' });
      expect(seen).toMatchObject({ scanId: 'scan-1', updatedAt: e.updatedAt });
      await new Promise((r) => setTimeout(r, 5));
      const renamed = await store.updateEntry(e.id, { name: 'n', size: 7, contentHash: 'h', contentStored: true });
      expect(renamed).toMatchObject({ name: 'n', size: 7, contentHash: 'h', contentStored: true });
      expect(renamed!.updatedAt).toBeGreaterThan(e.updatedAt);
      expect(await store.updateEntry('nope', { name: 'x' })).toBeUndefined();
      expect((await store.updateEntryMetadata(e.id, { b: null, c: 3 }, false))!.metadata).toEqual({ a: 1, c: 3 });
      expect((await store.updateEntryMetadata(e.id, { z: true }, true))!.metadata).toEqual({ z: true });
      expect(await store.updateEntryMetadata('nope', {}, false)).toBeUndefined();
      // Concurrent merges lose nothing.
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.updateEntryMetadata(e.id, { [`k${i}`]: i }, false)));
      expect(Object.keys((await store.getEntry(e.id))!.metadata).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9', 'z']);
      expect(await store.deleteEntry(e.id)).toBe(true);
      expect(await store.deleteEntry(e.id)).toBe(false);
    });

    it('counts content keys and answers the indexing queries of a location', async () => {
      const loc = await store.insertLocation({ id: 'loc1', path: '/data/photos', name: 'photos', createdAt: 5, lastIndexedAt: null, lastJobId: null });
      expect(loc).toEqual({ id: 'loc1', path: '/data/photos', name: 'photos', createdAt: 5, lastIndexedAt: null, lastJobId: null });
      const a = await store.insertEntry(entry({ path: '/data/photos/a', contentHash: 'hh', locationId: 'loc1', scanId: 's1' }));
      const b = await store.insertEntry(entry({ path: '/data/photos/b', contentHash: 'hh', locationId: 'loc1', scanId: 's2' }));
      const c = await store.insertEntry(entry({ path: 'loose' }));
      expect(await store.countEntriesWithContentKey('hh')).toBe(2);
      expect(await store.countEntriesWithContentKey('hh', a.id)).toBe(1);
      expect(await store.countEntriesWithContentKey(c.id)).toBe(1);
      expect((await store.entriesWithHash('loc1', 'hh')).map((e) => e.id)).toEqual([a.id, b.id]);
      expect((await store.entriesNotSeen('loc1', 's2')).map((e) => e.id)).toEqual([a.id]);
      expect(await store.countLocationEntries('loc1')).toBe(2);
      expect(await store.updateLocation('loc1', { lastIndexedAt: 99, lastJobId: 'job' })).toMatchObject({ lastIndexedAt: 99, lastJobId: 'job', name: 'photos' });
      expect(await store.listLocations()).toHaveLength(1);
      expect(await store.deleteLocation('loc1')).toBe(true);
      expect(await store.getLocation('loc1')).toBeUndefined();
      expect(await store.updateLocation('loc1', { name: 'x' })).toBeUndefined();
    });

    it('upserts a sidecar with its file move in the same step, and does neither when the move fails', async () => {
      const moves: string[] = [];
      const first = await store.upsertSidecar(sidecar({ checksum: 'c1' }), () => moves.push('first'));
      expect(first.previous).toBeUndefined();
      expect(first.current).toMatchObject({ contentKey: 'k1', kind: 'ocr', checksum: 'c1' });
      const second = await store.upsertSidecar(sidecar({ checksum: 'c2', size: 20, updatedAt: 2 }), () => moves.push('second'));
      expect(second.previous).toMatchObject({ checksum: 'c1' });
      expect(second.current).toMatchObject({ id: first.current.id, checksum: 'c2', size: 20, createdAt: 1, updatedAt: 2 });
      await expect(
        store.upsertSidecar(sidecar({ checksum: 'c3' }), () => {
          throw new Error('disk full');
        }),
      ).rejects.toThrow('disk full');
      expect(await store.getSidecar('k1', 'ocr', 'default')).toMatchObject({ checksum: 'c2' });
      expect(moves).toEqual(['first', 'second']);
      expect(await store.getSidecarById(first.current.id)).toMatchObject({ checksum: 'c2' });
    });

    it('lists, refreshes, counts and deletes sidecars', async () => {
      await store.upsertSidecar(sidecar({ contentKey: 'k2', kind: 'thumb', variant: 'small', path: 'p/shared' }), () => undefined);
      await store.upsertSidecar(sidecar({ contentKey: 'k2', kind: 'ocr', path: 'p/ocr' }), () => undefined);
      await store.upsertSidecar(sidecar({ contentKey: 'k1', kind: 'ocr', path: 'p/shared' }), () => undefined);
      expect((await store.listSidecars({})).map((s) => `${s.contentKey}/${s.kind}`)).toEqual(['k1/ocr', 'k2/ocr', 'k2/thumb']);
      expect((await store.listSidecars({ kind: 'ocr' })).map((s) => s.contentKey)).toEqual(['k1', 'k2']);
      expect(await store.countSidecarPath('p/shared')).toBe(2);
      expect(await store.refreshSidecarFile('p/shared', 'new', 3, 50)).toBe(2);
      expect((await store.getSidecar('k1', 'ocr', 'default'))!).toMatchObject({ checksum: 'new', size: 3, updatedAt: 50 });
      const removed = await store.deleteSidecarsOfContent('k2');
      expect(removed.map((s) => s.kind)).toEqual(['ocr', 'thumb']);
      expect(await store.listSidecars({ contentKey: 'k2' })).toEqual([]);
      const [left] = await store.listSidecars({});
      expect(await store.deleteSidecar(left!.id)).toBe(true);
      expect(await store.deleteSidecar(left!.id)).toBe(false);
      const stats = await store.stats();
      expect(stats).toMatchObject({ sidecars: 0, entries: 0, locations: 0 });
      expect(stats.databaseBytes).toBeGreaterThan(0);
    });

    it('keeps entry content by SHA-256: idempotent put, get, delete', async () => {
      const bytes = Buffer.from('receipt bytes');
      const hash = createHash('sha256').update(bytes).digest('hex');
      expect(await store.getObject(hash)).toBeUndefined();
      await store.putObject(hash, bytes);
      await store.putObject(hash, bytes);
      expect((await store.getObject(hash))!.equals(bytes)).toBe(true);
      await store.deleteObject(hash);
      await store.deleteObject(hash);
      expect(await store.getObject(hash)).toBeUndefined();
    });

    it('keeps what it wrote across a reopen', async () => {
      const e = await store.insertEntry(entry({ metadata: { kept: true } }));
      await store.upsertSidecar(sidecar(), () => undefined);
      await backend.close();
      backend = await factory.reopen();
      store = await backend.openStore(libraryId);
      expect(await store.getEntry(e.id)).toEqual(e);
      expect(await store.listSidecars({})).toHaveLength(1);
    });
  });
}
