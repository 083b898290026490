/**
 * Libraries, entries and locations over the wire and from the CLI, against a real daemon process
 * on a temporary data directory.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import type { CoreEvent } from '../../src/events/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

type Entry = { id: string; name: string; path: string; entry_type: string; metadata: Record<string, unknown>; content_hash: string | null; size: number | null; content?: string; location_id: string | null; library_id: string };
type Job = { status: string; output: Record<string, number> | null };

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('libraries, entries and locations over the wire and the CLI', () => {
  let d: TestDaemon;
  let client: SpacedriveClient;
  const q = <T = any>(method: string, payload: unknown = {}, libraryId?: string) => client.query(method, payload, libraryId ? { libraryId } : {}) as Promise<T>;
  const a = <T = any>(method: string, payload: unknown = {}, libraryId?: string) => client.action(method, payload, libraryId ? { libraryId } : {}) as Promise<T>;
  const waitJob = (id: string): Promise<Job> =>
    waitFor(async () => {
      const j = await q<Job>('query:jobs.get_status.v1', { job_id: id });
      return ['completed', 'failed', 'cancelled'].includes(j.status) ? j : null;
    }, `job ${id} to finish`, 40_000);

  beforeAll(async () => {
    d = await startTestDaemon();
    client = await d.client();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('a default library exists after the first start; library create/list/info from the CLI', async () => {
    const list = await q<{ libraries: Array<{ id: string; name: string; is_default: boolean }>; default_library_id: string }>('query:libraries.list.v1');
    expect(list.libraries).toEqual([expect.objectContaining({ name: 'Default', is_default: true, id: list.default_library_id })]);

    const created = await d.cli(['library', 'create', 'Receipts', '--json']);
    expect(created.code).toBe(0);
    const lib = JSON.parse(created.stdout) as { id: string; name: string; is_default: boolean };
    expect(lib).toMatchObject({ name: 'Receipts', is_default: false });
    const dup = await d.cli(['library', 'create', 'receipts']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('ALREADY_EXISTS');

    const human = await d.cli(['library', 'list']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('Receipts');
    expect(human.stdout).toContain('Default');

    const info = await d.cli(['library', 'info', lib.id, '--json']);
    expect(JSON.parse(info.stdout)).toMatchObject({ id: lib.id, name: 'Receipts', entries: 0, locations: 0, sidecars: 0 });
    const defInfo = await d.cli(['library', 'info']);
    expect(defInfo.stdout).toContain('Default');
    const missing = await d.cli(['library', 'info', 'no-such-library']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NOT_FOUND');
  });

  it('entries over the wire: create with content, get, search, page, update, delete, events', async () => {
    const lib = await a<{ id: string }>('action:libraries.create.input.v1', { name: 'Wire' });
    const events: CoreEvent[] = [];
    const sub = client.subscribe(['entry:*'], { library_id: lib.id });
    const collecting = (async () => {
      for await (const e of sub) events.push(e);
    })();
    await sub.ready;

    const eml = Buffer.from('From: a@example.com\r\nSubject: Receipt 1\r\n\r\nTotal 9.99\r\n');
    const e1 = await a<Entry>('action:vdfs.create_entry.input.v1', { name: '1.eml', path: 'receipts/1.eml', entry_type: 'FinancialDocument', metadata: { vendor: 'Acme', total: 9.99 }, content: eml.toString('base64') }, lib.id);
    expect(e1).toMatchObject({ library_id: lib.id, content_hash: sha(eml), size: eml.length });
    // Importing the same email twice creates one entry.
    const again = await a<Entry & { created: boolean }>('action:vdfs.create_entry.input.v1', { name: '1.eml', path: 'receipts/1.eml', entry_type: 'FinancialDocument', if_exists: 'return' }, lib.id);
    expect(again).toMatchObject({ id: e1.id, created: false });
    const err = await a('action:vdfs.create_entry.input.v1', { name: '1.eml', path: 'receipts/1.eml', entry_type: 'FinancialDocument' }, lib.id).catch((x) => x);
    expect(err.code).toBe('ALREADY_EXISTS');

    for (let i = 2; i <= 12; i++) {
      await a('action:vdfs.create_entry.input.v1', { name: `${i}.eml`, path: `receipts/${i}.eml`, entry_type: 'FinancialDocument', metadata: { vendor: i % 2 ? 'Acme' : 'Shop', total: i } }, lib.id);
    }
    const got = await q<Entry>('query:vdfs.get_entry.v1', { entry_id: e1.id, include_content: true }, lib.id);
    expect(Buffer.from(got.content!, 'base64')).toEqual(eml);
    // Not in the default library.
    expect((await q<Entry>('query:vdfs.get_entry.v1', { entry_id: e1.id }).catch((x) => x)).code).toBe('NOT_FOUND');
    // library_id in the payload works as well as on the request.
    expect((await q<Entry>('query:vdfs.get_entry.v1', { entry_id: e1.id, library_id: lib.id })).id).toBe(e1.id);

    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { entries: Entry[]; next_cursor: string | null } = await q('query:vdfs.list_entries.v1', { limit: 5, path_prefix: 'receipts/', ...(cursor ? { cursor } : {}) }, lib.id);
      names.push(...page.entries.map((e) => e.name));
      cursor = page.next_cursor;
    } while (cursor);
    expect(names).toEqual(Array.from({ length: 12 }, (_, i) => `${i + 1}.eml`));
    const acme = await q<{ entries: Entry[] }>('query:vdfs.list_entries.v1', { metadata: { vendor: 'Acme' }, entry_type: 'FinancialDocument' }, lib.id);
    expect(acme.entries.map((e) => e.name)).toEqual(['1.eml', '3.eml', '5.eml', '7.eml', '9.eml', '11.eml']);

    const upd = await a<Entry>('action:vdfs.update_metadata.input.v1', { entry_id: e1.id, metadata: { paid: true } }, lib.id);
    expect(upd.metadata).toEqual({ vendor: 'Acme', total: 9.99, paid: true });
    await a('action:vdfs.delete_entry.input.v1', { entry_id: e1.id }, lib.id);
    expect((await q('query:vdfs.get_entry.v1', { entry_id: e1.id }, lib.id).catch((x) => x)).code).toBe('NOT_FOUND');
    // Its stored content went with it.
    expect(() => readFileSync(join(d.dataDir, 'libraries', lib.id, 'objects', sha(eml).slice(0, 2), sha(eml)))).toThrow();

    // The delete's event is the last one sent.
    await waitFor(() => events.some((e) => e.type === 'entry:deleted'), 'the entry:deleted event');
    await sub.return?.();
    await collecting;
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'entry:created')).toHaveLength(12);
    expect(types).toContain('entry:updated');
    expect(types).toContain('entry:deleted');

    // Bad input: typed errors naming the field.
    const bad = await a('action:vdfs.create_entry.input.v1', { name: 'x', path: 'x' }, lib.id).catch((x) => x);
    expect(bad).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('entry_type') });
    expect((await q('query:vdfs.list_entries.v1', {}, 'no-such-library').catch((x) => x)).code).toBe('NOT_FOUND');
  });

  it('entries from the CLI: content from a file, metadata as JSON, --library, search', async () => {
    const file = join(d.dataDir, 'receipt.eml');
    writeFileSync(file, 'Subject: CLI receipt\r\n\r\nTotal 5.00\r\n');
    const lib = JSON.parse((await d.cli(['library', 'create', 'Cli', '--json'])).stdout) as { id: string };
    const r = await d.cli(['action', 'vdfs.create_entry', '--library', lib.id, '--name', 'cli.eml', '--path', 'receipts/cli.eml', '--entry-type', 'FinancialDocument', '--metadata', '{"vendor":"Corner Shop"}', '--content', file, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const entry = JSON.parse(r.stdout) as Entry;
    expect(entry).toMatchObject({ library_id: lib.id, content_hash: sha(readFileSync(file)), metadata: { vendor: 'Corner Shop' } });
    const found = await d.cli(['query', 'vdfs.list_entries', '--library', lib.id, '--json-input', '{"metadata":{"vendor":"Corner Shop"}}', '--json']);
    expect(found.code).toBe(0);
    expect((JSON.parse(found.stdout) as { entries: Entry[] }).entries.map((e) => e.id)).toEqual([entry.id]);
    const dup = await d.cli(['action', 'vdfs.create_entry', '--library', lib.id, '--name', 'cli.eml', '--path', 'receipts/cli.eml', '--entry-type', 'FinancialDocument']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('ALREADY_EXISTS');
  });

  it('locations: add from the CLI, index, then modify / move / delete files and rescan', async () => {
    const root = join(d.dataDir, 'photos');
    for (let i = 0; i < 60; i++) {
      mkdirSync(join(root, `y${i % 3}`, `m${i % 5}`), { recursive: true });
      writeFileSync(join(root, `y${i % 3}`, `m${i % 5}`, `p${i}.txt`), `photo ${i} `.repeat(i + 1));
    }
    const added = await d.cli(['location', 'add', root, '--json']);
    expect(added.code).toBe(0);
    const { location, job_id } = JSON.parse(added.stdout) as { location: { id: string }; job_id: string };
    const first = await waitJob(job_id);
    expect(first).toMatchObject({ status: 'completed', output: expect.objectContaining({ added: 60, files: 60 }) });
    const inside = await d.cli(['location', 'add', join(root, 'y1')]);
    expect(inside.code).toBe(1);
    expect(inside.stderr).toMatch(/inside location/);
    const notDir = await a('action:locations.add.input.v1', { path: join(root, 'y0', 'm0', 'p0.txt') }).catch((x) => x);
    expect(notDir.code).toBe('INVALID_INPUT');

    const list = async () => (await q<{ entries: Entry[] }>('query:vdfs.list_entries.v1', { location_id: location.id, limit: 1000 })).entries;
    const before = new Map((await list()).map((e) => [e.path, e]));
    expect(before.size).toBe(60);
    const keep = before.get(join(root, 'y1/m1/p1.txt'))!;
    await a('action:vdfs.update_metadata.input.v1', { entry_id: keep.id, metadata: { album: 'summer' } });

    writeFileSync(join(root, 'y0/m0/p0.txt'), 'edited, now longer than it was');
    renameSync(join(root, 'y1/m1/p1.txt'), join(root, 'y2/moved.txt'));
    unlinkSync(join(root, 'y2/m2/p2.txt'));
    writeFileSync(join(root, 'y0/new.txt'), 'new file');
    const rescan = await d.cli(['location', 'rescan', location.id, '--json']);
    expect(rescan.code).toBe(0);
    const second = await waitJob((JSON.parse(rescan.stdout) as { job_id: string }).job_id);
    expect(second.output).toMatchObject({ added: 1, updated: 1, moved: 1, removed: 1, unchanged: 57 });
    const after = new Map((await list()).map((e) => [e.path, e]));
    expect(after.size).toBe(60);
    expect(after.get(join(root, 'y2/moved.txt'))).toMatchObject({ id: keep.id, metadata: { album: 'summer' } });
    expect(after.get(join(root, 'y0/m0/p0.txt'))!.content_hash).toBe(sha('edited, now longer than it was'));
    expect(after.has(join(root, 'y2/m2/p2.txt'))).toBe(false);

    const locs = await d.cli(['location', 'list']);
    expect(locs.stdout).toContain(root);
    const removed = await d.cli(['location', 'remove', location.id, '--json']);
    expect(JSON.parse(removed.stdout)).toMatchObject({ removed_entries: 60 });
    expect(await list()).toHaveLength(0);
  });
});
