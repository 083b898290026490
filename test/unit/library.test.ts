/**
 * Libraries, entries and locations in-process, against a real core, real SQLite files and real
 * directories: the operations called as core code and as an extension would call them.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import type { CoreEvent } from '../../src/events/index.js';
import { silentLogger } from '../../src/logging/index.js';
import type { Caller } from '../../src/registry/index.js';
import { rejectionOf } from '../helpers/errors.js';
import { waitFor } from '../helpers/wait.js';

type Entry = { id: string; name: string; path: string; entry_type: string; metadata: Record<string, unknown>; content_hash: string | null; size: number | null; content?: string; created: boolean; replaced: boolean; kind: string | null; location_id: string | null };

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('libraries, entries, locations (in-process core)', () => {
  let dir: string;
  let core: Core;
  let events: CoreEvent[];

  async function open(): Promise<Core> {
    core = await Core.create(loadOptions({ overrides: { dataDir: join(dir, 'data'), extensions: { autoload: false } }, env: {} }), { logger: silentLogger() });
    core.events.subscribe(['entry:*', 'location:*', 'library:*'], undefined, (e) => events.push(e));
    return core;
  }
  const run = <T = any>(method: string, payload: unknown, opts: { libraryId?: string; caller?: Caller } = {}) => core.execute(method, payload, opts) as Promise<T>;
  const create = (p: Record<string, unknown>, opts = {}) => run<Entry>('action:vdfs.create_entry.input.v1', p, opts);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-lib-'));
    events = [];
    await open();
  });
  afterEach(async () => {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has a default library after the first start, kept across restarts', async () => {
    const list = await run<{ libraries: Array<{ id: string; is_default: boolean; name: string }>; default_library_id: string }>('query:libraries.list.v1', {});
    expect(list.libraries).toHaveLength(1);
    expect(list.libraries[0]!.is_default).toBe(true);
    expect(existsSync(join(dir, 'data', 'libraries', list.default_library_id, 'library.db'))).toBe(true);
    await core.close();
    await open();
    const again = await run<{ default_library_id: string; libraries: unknown[] }>('query:libraries.list.v1', {});
    expect(again.default_library_id).toBe(list.default_library_id);
    expect(again.libraries).toHaveLength(1);
  });

  it('creates libraries; entries are scoped by library; unknown libraries are NOT_FOUND', async () => {
    const work = await run<{ id: string; is_default: boolean }>('action:libraries.create.input.v1', { name: 'Work' });
    expect(work.is_default).toBe(false);
    await expect(run('action:libraries.create.input.v1', { name: 'work' })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await create({ name: 'a', path: 'a.txt', entry_type: 'File' });
    await create({ name: 'b', path: 'a.txt', entry_type: 'File' }, { libraryId: work.id });
    await create({ name: 'c', path: 'c.txt', entry_type: 'File', library_id: work.id });
    const inDefault = await run<{ entries: Entry[] }>('query:vdfs.list_entries.v1', {});
    const inWork = await run<{ entries: Entry[] }>('query:vdfs.list_entries.v1', { library_id: work.id });
    expect(inDefault.entries.map((e) => e.name)).toEqual(['a']);
    expect(inWork.entries.map((e) => e.name)).toEqual(['b', 'c']);
    await expect(run('query:vdfs.list_entries.v1', {}, { libraryId: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(run('query:vdfs.list_entries.v1', { library_id: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const info = await run<{ entries: number; name: string; size_bytes: number }>('query:libraries.info.v1', { library_id: work.id });
    expect(info).toMatchObject({ name: 'Work', entries: 2, locations: 0, sidecars: 0 });
    // A new default: calls that name no library now go there, across a restart too.
    const home = await run<{ id: string; is_default: boolean }>('action:libraries.create.input.v1', { name: 'Home', make_default: true });
    expect(home.is_default).toBe(true);
    await create({ name: 'h', path: 'h.txt', entry_type: 'File' });
    await core.close();
    await open();
    expect((await run<{ default_library_id: string }>('query:libraries.list.v1', {})).default_library_id).toBe(home.id);
    expect((await run<{ entries: Entry[] }>('query:vdfs.list_entries.v1', {})).entries.map((e) => e.name)).toEqual(['h']);
  });

  it('stores content content-addressed and returns it verified; refuses bad base64', async () => {
    const bytes = Buffer.from('From: shop@example.com\r\nSubject: Receipt\r\n\r\nTotal: 12.50 EUR\r\n');
    const e = await create({ name: 'r1.eml', path: 'receipts/r1.eml', entry_type: 'FinancialDocument', metadata: { vendor: 'Shop' }, content: bytes.toString('base64') });
    expect(e).toMatchObject({ created: true, content_hash: sha(bytes), size: bytes.length, metadata: { vendor: 'Shop' } });
    const lib = core.libraries.defaultId!;
    const object = join(dir, 'data', 'libraries', lib, 'objects', sha(bytes).slice(0, 2), sha(bytes));
    expect(readFileSync(object)).toEqual(bytes);
    const got = await run<Entry>('query:vdfs.get_entry.v1', { entry_id: e.id, include_content: true });
    expect(Buffer.from(got.content!, 'base64')).toEqual(bytes);
    // Corrupt the stored object: reading it is a typed error, not wrong bytes.
    writeFileSync(object, 'tampered');
    await expect(run('query:vdfs.get_entry.v1', { entry_id: e.id, include_content: true })).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    await expect(create({ name: 'x', path: 'x', entry_type: 'File', content: 'not base64!' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining("field 'content'") });
    await expect(create({ name: 'x', path: 'x', entry_type: 'File', metadata: [] })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(run('query:vdfs.get_entry.v1', { entry_id: 'missing' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('same path or dedupe key: ALREADY_EXISTS, or return / replace keeping the id', async () => {
    const first = await create({ name: 'm.eml', path: 'receipts/m.eml', entry_type: 'FinancialDocument', dedupe_key: '<msg-1@example.com>', metadata: { a: 1 } });
    const dup = await rejectionOf(create({ name: 'm.eml', path: 'receipts/m.eml', entry_type: 'FinancialDocument' }));
    expect(dup).toMatchObject({ code: 'ALREADY_EXISTS', details: { entry_id: first.id } });
    const byKey = await rejectionOf(create({ name: 'other', path: 'receipts/other.eml', entry_type: 'FinancialDocument', dedupe_key: '<msg-1@example.com>' }));
    expect(byKey.code).toBe('ALREADY_EXISTS');
    const returned = await create({ name: 'm.eml', path: 'receipts/m.eml', entry_type: 'FinancialDocument', if_exists: 'return', metadata: { a: 2 } });
    expect(returned).toMatchObject({ id: first.id, created: false, replaced: false, metadata: { a: 1 } });
    const replaced = await create({ name: 'm2.eml', path: 'receipts/m.eml', entry_type: 'FinancialDocument', if_exists: 'replace', metadata: { b: 1 }, content: Buffer.from('x').toString('base64') });
    expect(replaced).toMatchObject({ id: first.id, replaced: true, name: 'm2.eml', metadata: { b: 1 }, size: 1 });
    const all = await run<{ entries: Entry[] }>('query:vdfs.list_entries.v1', {});
    expect(all.entries).toHaveLength(1);
  });

  it('lists with stable paging and searches by type, name, path prefix and metadata fields', async () => {
    for (let i = 0; i < 25; i++) {
      await create({
        name: `Receipt ${i}.eml`,
        path: `${i % 2 ? 'receipts' : 'invoices'}/${i}.eml`,
        entry_type: i % 5 === 0 ? 'File' : 'FinancialDocument',
        metadata: { vendor: i % 3 === 0 ? 'Acme' : 'Shop', total: i, paid: i % 2 === 0, tags: ['a'], note: null, 'dotted.key': 'x' },
      });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { entries: Entry[]; next_cursor: string | null } = await run('query:vdfs.list_entries.v1', { limit: 7, ...(cursor ? { cursor } : {}) });
      seen.push(...page.entries.map((e) => e.name));
      cursor = page.next_cursor;
      pages++;
      // Entries added while paging appear at the end, never shift a page.
      if (pages === 2) await create({ name: 'late', path: 'late', entry_type: 'File' });
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen).toEqual([...Array.from({ length: 25 }, (_, i) => `Receipt ${i}.eml`), 'late']);
    const q = async (p: Record<string, unknown>) => (await run<{ entries: Entry[] }>('query:vdfs.list_entries.v1', p)).entries.map((e) => e.metadata.total);
    expect(await q({ entry_type: 'File' })).toEqual([0, 5, 10, 15, 20, undefined]);
    expect(await q({ metadata: { vendor: 'Acme', paid: true } })).toEqual([0, 6, 12, 18, 24]);
    expect(await q({ metadata: { total: 7 } })).toEqual([7]);
    expect(await q({ metadata: { total: '7' } })).toEqual([]);
    expect(await q({ metadata: { tags: ['a'], 'dotted.key': 'x', note: null }, path_prefix: 'receipts/', name_contains: 'RECEIPT 1' })).toEqual([1, 11, 13, 15, 17, 19]);
    expect(await q({ name_contains: '%' })).toEqual([]);
    await expect(run('query:vdfs.list_entries.v1', { cursor: 'garbage' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('merges or replaces metadata and deletes entries, with events', async () => {
    const e = await create({ name: 'a', path: 'a', entry_type: 'File', metadata: { x: 1, y: 2 } });
    const merged = await run<Entry>('action:vdfs.update_metadata.input.v1', { entry_id: e.id, metadata: { y: null, z: { deep: true } } });
    expect(merged.metadata).toEqual({ x: 1, z: { deep: true } });
    const replaced = await run<Entry>('action:vdfs.update_metadata.input.v1', { entry_id: e.id, metadata: { only: 'this' }, replace: true });
    expect(replaced.metadata).toEqual({ only: 'this' });
    await run('action:vdfs.delete_entry.input.v1', { entry_id: e.id });
    await expect(run('query:vdfs.get_entry.v1', { entry_id: e.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(run('action:vdfs.delete_entry.input.v1', { entry_id: e.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(events.filter((ev) => ev.type.startsWith('entry:')).map((ev) => ev.type)).toEqual(['entry:created', 'entry:updated', 'entry:updated', 'entry:deleted']);
  });

  it('works for an extension caller naming its library in the payload', async () => {
    const other = await run<{ id: string }>('action:libraries.create.input.v1', { name: 'Finance' });
    const caller: Caller = { kind: 'extension', extensionId: 'finance', chain: ['finance'] };
    // As the extension bridge does: library_id from the payload into the call's context.
    const e = await create({ name: 'r.eml', path: 'r.eml', entry_type: 'FinancialDocument', library_id: other.id }, { caller, libraryId: other.id });
    const found = await run<{ entries: Entry[] }>('query:vdfs.list_entries.v1', { entry_type: 'FinancialDocument', library_id: other.id }, { caller, libraryId: other.id });
    expect(found.entries.map((x) => x.id)).toEqual([e.id]);
    const sc = await run<{ checksum: string }>('action:vdfs.write_sidecar.input.v1', { entry_id: e.id, kind: 'finance.receipt', format: 'json', json: { total: 12.5 }, library_id: other.id }, { caller });
    expect(sc.checksum).toBe(sha(JSON.stringify({ total: 12.5 })));
    const read = await run<{ json: unknown }>('query:vdfs.read_sidecar.v1', { entry_id: e.id, kind: 'finance.receipt', library_id: other.id }, { caller });
    expect(read.json).toEqual({ total: 12.5 });
  });

  it('indexes a location; picks up changes, moves and deletions on rescan; refuses bad locations', async () => {
    const root = join(dir, 'tree');
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`d${i % 4}/sub${i % 3}/f${i}.txt`] = `file ${i} ${'x'.repeat(i * 10)}`;
    files['img.png'] = '\x89PNG\r\n\x1a\n....';
    files['empty.bin'] = '';
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(join(root, rel, '..'), { recursive: true });
      writeFileSync(join(root, rel), text, 'latin1');
    }
    await expect(run('action:locations.add.input.v1', { path: join(dir, 'missing') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(run('action:locations.add.input.v1', { path: join(root, 'img.png') })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const added = await run<{ location: { id: string }; job_id: string }>('action:locations.add.input.v1', { path: root, name: 'Tree' });
    await expect(run('action:locations.add.input.v1', { path: join(root, 'd1') })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('inside location') });
    await expect(run('action:locations.add.input.v1', { path: root })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    const job = await waitFor(async () => {
      const j = await core.jobs.get(added.job_id);
      return j.status === 'completed' || j.status === 'failed' ? j : undefined;
    }, 'index job');
    expect(job.status).toBe('completed');
    expect(job.output).toMatchObject({ added: 42, files: 42 });
    const all = async () => (await run<{ entries: Entry[] }>('query:vdfs.list_entries.v1', { location_id: added.location.id, limit: 1000 })).entries;
    let entries = await all();
    expect(entries).toHaveLength(42);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    const png = byPath.get(join(root, 'img.png'))!;
    expect(png.kind).toBe('image');
    expect(byPath.get(join(root, 'd0/sub0/f0.txt'))).toMatchObject({ kind: 'text', content_hash: sha(files['d0/sub0/f0.txt']!), size: 7 });
    expect(events.some((e) => e.type === 'location:indexed')).toBe(true);

    // Metadata on an entry that will move; then change, move and delete files.
    const moving = byPath.get(join(root, 'd1/sub1/f1.txt'))!;
    await run('action:vdfs.update_metadata.input.v1', { entry_id: moving.id, metadata: { starred: true } });
    writeFileSync(join(root, 'd2/sub2/f2.txt'), 'changed content, longer than before');
    writeFileSync(join(root, 'd0/sub0/f0.txt'), 'FILE 0');
    utimesSync(join(root, 'd0/sub0/f0.txt'), new Date(), new Date(Date.now() + 5000));
    mkdirSync(join(root, 'moved'));
    renameSync(join(root, 'd1/sub1/f1.txt'), join(root, 'moved/renamed.txt'));
    unlinkSync(join(root, 'd3/sub0/f3.txt'));
    writeFileSync(join(root, 'new.md'), '# new');
    const rescan = await run<{ job_id: string }>('action:locations.rescan.input.v1', { location_id: added.location.id });
    const job2 = await waitFor(async () => {
      const j = await core.jobs.get(rescan.job_id);
      return j.status === 'completed' || j.status === 'failed' ? j : undefined;
    }, 'rescan');
    expect(job2.output).toMatchObject({ added: 1, updated: 2, moved: 1, removed: 1, unchanged: 38 });
    entries = await all();
    expect(entries).toHaveLength(42);
    const after = new Map(entries.map((e) => [e.path, e]));
    expect(after.get(join(root, 'moved/renamed.txt'))).toMatchObject({ id: moving.id, name: 'renamed.txt', metadata: { starred: true } });
    expect(after.has(join(root, 'd1/sub1/f1.txt'))).toBe(false);
    expect(after.has(join(root, 'd3/sub0/f3.txt'))).toBe(false);
    expect(after.get(join(root, 'd2/sub2/f2.txt'))!.content_hash).toBe(sha('changed content, longer than before'));
    expect(after.get(join(root, 'd0/sub0/f0.txt'))!.content_hash).toBe(sha('FILE 0'));
    const listed = await run<{ locations: Array<{ entries: number; last_indexed_at: string | null }> }>('query:locations.list.v1', {});
    expect(listed.locations[0]).toMatchObject({ entries: 42 });
    expect(listed.locations[0]!.last_indexed_at).not.toBeNull();

    const removed = await run<{ removed_entries: number }>('action:locations.remove.input.v1', { location_id: added.location.id });
    expect(removed.removed_entries).toBe(42);
    expect(await all()).toHaveLength(0);
    expect(existsSync(join(root, 'new.md'))).toBe(true);
  });

  it('an indexing job paused mid-way resumes from its checkpoint; the data directory is not indexed', async () => {
    const root = join(dir, 'data', 'inbox');
    for (let i = 0; i < 3000; i++) {
      mkdirSync(join(root, `d${i % 10}`), { recursive: true });
      writeFileSync(join(root, `d${i % 10}`, `f${i}.txt`), `content ${i}`);
    }
    // A location that contains the data directory: core's own stores are skipped.
    const added = await run<{ location: { id: string }; job_id: string }>('action:locations.add.input.v1', { path: join(dir, 'data') });
    const job = await waitFor(async () => {
      const j = await core.jobs.get(added.job_id);
      if (j.status === 'completed') throw new Error('finished before it could be paused: make the tree bigger');
      return ((j.state as { done?: number } | null)?.done ?? 0) > 0 ? j : undefined;
    }, 'a first checkpoint');
    expect(job.status).toBe('running');
    await core.jobs.pause(added.job_id);
    const paused = await waitFor(async () => {
      const j = await core.jobs.get(added.job_id);
      return j.status === 'paused' ? j : undefined;
    }, 'paused');
    const doneAtPause = (paused.state as { done: number }).done;
    expect(doneAtPause).toBeGreaterThan(0);
    expect(doneAtPause).toBeLessThan(3000);
    await core.jobs.resume(added.job_id);
    const finished = await waitFor(async () => {
      const j = await core.jobs.get(added.job_id);
      return j.status === 'completed' ? j : undefined;
    }, 'completed');
    const out = finished.output as { added: number; unchanged: number; files: number };
    // Only the inbox's files: nothing from libraries/ or sidecars/ (jobs.db and other files of the data directory's top level count as files).
    const entries: Entry[] = [];
    let cursor: string | null = null;
    do {
      const page: { entries: Entry[]; next_cursor: string | null } = await run('query:vdfs.list_entries.v1', { location_id: added.location.id, limit: 1000, ...(cursor ? { cursor } : {}) });
      entries.push(...page.entries);
      cursor = page.next_cursor;
    } while (cursor);
    expect(entries.filter((e) => e.path.includes('/libraries/') || e.path.includes('/sidecars/'))).toEqual([]);
    expect(entries.filter((e) => e.path.startsWith(root))).toHaveLength(3000);
    expect(new Set(entries.map((e) => e.path)).size).toBe(entries.length);
    expect(out.added + out.unchanged).toBe(out.files);
    // Resumed after the files the pause checkpointed: none of them was looked at again.
    expect(out.unchanged).toBe(0);
  });

  it('removing a location while it is being indexed stops the job and leaves no entries behind', async () => {
    const root = join(dir, 'big');
    for (let i = 0; i < 3000; i++) {
      mkdirSync(join(root, `d${i % 10}`), { recursive: true });
      writeFileSync(join(root, `d${i % 10}`, `f${i}.txt`), `content ${i}`);
    }
    const added = await run<{ location: { id: string }; job_id: string }>('action:locations.add.input.v1', { path: root });
    await waitFor(async () => {
      const j = await core.jobs.get(added.job_id);
      if (j.status === 'completed') throw new Error('finished before the removal: make the tree bigger');
      return ((j.state as { done?: number } | null)?.done ?? 0) > 0;
    }, 'a first checkpoint');
    const removed = await run<{ removed_entries: number }>('action:locations.remove.input.v1', { location_id: added.location.id });
    expect(removed.removed_entries).toBeGreaterThan(0);
    const end = await waitFor(async () => {
      const j = await core.jobs.get(added.job_id);
      return ['cancelled', 'failed', 'completed'].includes(j.status) ? j : undefined;
    }, 'the job to stop');
    expect(end.status).toBe('cancelled');
    // Its run is over (nothing left to add entries), rather than a pause to see none come.
    expect(core.jobs.runner.isRunningHere(added.job_id)).toBe(false);
    expect((await run<{ entries: unknown[] }>('query:vdfs.list_entries.v1', { limit: 1000 })).entries).toEqual([]);
    expect((await run<{ locations: unknown[] }>('query:locations.list.v1', {})).locations).toEqual([]);
  });

  it('an unreachable location fails its job and keeps its entries', async () => {
    const root = join(dir, 'usb');
    mkdirSync(root);
    writeFileSync(join(root, 'a.txt'), 'a');
    const added = await run<{ location: { id: string }; job_id: string }>('action:locations.add.input.v1', { path: root });
    await waitFor(async () => (await core.jobs.get(added.job_id)).status === 'completed', 'index');
    rmSync(root, { recursive: true });
    const rescan = await run<{ job_id: string }>('action:locations.rescan.input.v1', { location_id: added.location.id });
    const j = await waitFor(async () => {
      const x = await core.jobs.get(rescan.job_id);
      return ['failed', 'waiting_retry'].includes(x.status) ? x : undefined;
    }, 'rescan to fail');
    expect(j.lastError?.code).toBe('NOT_FOUND');
    expect((await run<{ entries: unknown[] }>('query:vdfs.list_entries.v1', {})).entries).toHaveLength(1);
    await core.jobs.cancel(rescan.job_id).catch(() => undefined);
  });
});
