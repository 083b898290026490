/**
 * Sidecars over the wire and from the CLI, against a real daemon process: formats, layout on
 * disk, atomic replace under concurrent readers (through the daemon and straight from the file),
 * corruption detected, lifetime tied to the entries that share the content.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync, unlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

type Sidecar = { sidecar_id: string; path: string; checksum: string; size: number; format: string; kind: string; variant: string; content_key: string };
type Read = Sidecar & { encoding: string; json?: unknown; text?: string; data?: string };

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('sidecars over the wire and the CLI', () => {
  let d: TestDaemon;
  let client: SpacedriveClient;
  const q = <T = any>(method: string, payload: unknown = {}) => client.query(method, payload) as Promise<T>;
  const a = <T = any>(method: string, payload: unknown = {}) => client.action(method, payload) as Promise<T>;
  const entry = async (path: string, content?: Buffer) =>
    (await a<{ id: string; content_hash: string | null }>('action:vdfs.create_entry.input.v1', { name: path, path, entry_type: 'File', ...(content ? { content: content.toString('base64') } : {}) }));

  beforeAll(async () => {
    d = await startTestDaemon();
    client = await d.client();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('writes, reads, lists and deletes json, text and binary sidecars in sharded content-addressed paths', async () => {
    const content = Buffer.from('%PDF-1.4 a receipt');
    const e = await entry('receipts/a.pdf', content);
    const hash = sha(content);
    const j = await a<Sidecar>('action:vdfs.write_sidecar.input.v1', { entry_id: e.id, kind: 'finance.receipt', format: 'json', json: { total: 12.5, vendor: 'Acme' } });
    expect(j.path).toBe(join(d.dataDir, 'sidecars', hash.slice(0, 2), hash, 'finance.receipt', 'default.json'));
    expect(j.checksum).toBe(sha(readFileSync(j.path)));
    const t = await a<Sidecar>('action:vdfs.write_sidecar.input.v1', { entry_id: e.id, kind: 'ocr', format: 'txt', text: 'TOTAL 12.50 — ünïcode' });
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);
    const b = await a<Sidecar>('action:vdfs.write_sidecar.input.v1', { entry_id: e.id, kind: 'thumb', variant: 'w256', format: 'png', data: png.toString('base64') });
    expect(b.path).toBe(join(d.dataDir, 'sidecars', hash.slice(0, 2), hash, 'thumb', 'w256.png'));

    expect(await q<Read>('query:vdfs.read_sidecar.v1', { entry_id: e.id, kind: 'finance.receipt' })).toMatchObject({ encoding: 'json', json: { total: 12.5, vendor: 'Acme' }, checksum: j.checksum });
    expect(await q<Read>('query:vdfs.read_sidecar.v1', { entry_id: e.id, kind: 'ocr' })).toMatchObject({ encoding: 'text', text: 'TOTAL 12.50 — ünïcode', checksum: t.checksum });
    const rb = await q<Read>('query:vdfs.read_sidecar.v1', { entry_id: e.id, kind: 'thumb', variant: 'w256' });
    expect(Buffer.from(rb.data!, 'base64')).toEqual(png);

    const listed = await q<{ sidecars: Sidecar[] }>('query:vdfs.list_sidecars.v1', { entry_id: e.id });
    expect(listed.sidecars.map((s) => `${s.kind}/${s.variant}.${s.format}`)).toEqual(['finance.receipt/default.json', 'ocr/default.txt', 'thumb/w256.png']);
    expect((await q<{ sidecars: Sidecar[] }>('query:vdfs.list_sidecars.v1', { kind: 'ocr' })).sidecars).toHaveLength(1);
    const info = await q<{ sidecars: number }>('query:libraries.info.v1');
    expect(info.sidecars).toBe(3);

    await a('action:vdfs.delete_sidecar.input.v1', { entry_id: e.id, kind: 'thumb', variant: 'w256' });
    expect(existsSync(b.path)).toBe(false);
    expect((await q('query:vdfs.read_sidecar.v1', { entry_id: e.id, kind: 'thumb', variant: 'w256' }).catch((x) => x)).code).toBe('NOT_FOUND');

    // Changing the format replaces the sidecar and removes the old file.
    const t2 = await a<Sidecar>('action:vdfs.write_sidecar.input.v1', { entry_id: e.id, kind: 'ocr', format: 'json', json: { text: 'TOTAL 12.50', confidence: 91 } });
    expect(t2.sidecar_id).toBe(t.sidecar_id);
    expect(existsSync(t.path)).toBe(false);

    // An entry without content: sidecars are keyed by its id.
    const bare = await entry('notes/n1');
    const s = await a<Sidecar>('action:vdfs.write_sidecar.input.v1', { entry_id: bare.id, kind: 'embeddings', format: 'json', json: [0.1, 0.2] });
    expect(s.path).toBe(join(d.dataDir, 'sidecars', bare.id.slice(0, 2), bare.id, 'embeddings', 'default.json'));
  });

  it('refuses bad input with typed errors', async () => {
    const e = await entry('bad/input', Buffer.from('x'));
    const err = (p: Record<string, unknown>) => a('action:vdfs.write_sidecar.input.v1', { entry_id: e.id, kind: 'ocr', format: 'txt', ...p }).catch((x) => x);
    expect(await err({ text: 'a', data: 'YQ==' })).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('exactly one') });
    expect(await err({})).toMatchObject({ code: 'INVALID_INPUT' });
    expect(await err({ data: '***' })).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining("'data'") });
    expect(await err({ format: 'json', text: 'not json' })).toMatchObject({ code: 'INVALID_INPUT' });
    expect(await err({ kind: '../escape', text: 'a' })).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining("'kind'") });
    expect(await err({ format: 't/xt', text: 'a' })).toMatchObject({ code: 'INVALID_INPUT' });
    expect(await err({ entry_id: 'no-such-entry', text: 'a' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(walk(join(d.dataDir, 'sidecars')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a sidecar replaced while readers read: every read is the old or the new content, whole and verified', { timeout: 120_000 }, async () => {
    const e = await entry('big/scan.png', Buffer.from('scan'));
    // Versions of 512 KiB, each a different byte pattern: a torn read would mix two.
    const versions = Array.from({ length: 6 }, (_, v) => Buffer.alloc(512 * 1024, v + 65));
    const sums = new Set(versions.map((v) => sha(v)));
    const first = await a<Sidecar>('action:vdfs.write_sidecar.input.v1', { entry_id: e.id, kind: 'thumb', format: 'bin', data: versions[0]!.toString('base64') });
    const readers = Array.from({ length: 3 }, () => d.client());
    const readerClients = await Promise.all(readers);
    let stop = false;
    let wireReads = 0;
    let fileReads = 0;
    const seen = new Set<string>();
    const wireReader = async (c: SpacedriveClient) => {
      while (!stop) {
        const r = (await c.query('query:vdfs.read_sidecar.v1', { entry_id: e.id, kind: 'thumb' })) as Read;
        const bytes = Buffer.from(r.data!, 'base64');
        expect(bytes.length).toBe(512 * 1024);
        expect(sha(bytes)).toBe(r.checksum);
        expect(sums.has(r.checksum)).toBe(true);
        seen.add(r.checksum);
        wireReads++;
      }
    };
    // Another process's view: the file itself is never half-written.
    const fileReader = async () => {
      while (!stop) {
        const bytes = await readFile(first.path);
        expect(sums.has(sha(bytes))).toBe(true);
        fileReads++;
      }
    };
    const reading = [...readerClients.map(wireReader), fileReader()];
    for (let i = 1; i <= 40; i++) {
      await a('action:vdfs.write_sidecar.input.v1', { entry_id: e.id, kind: 'thumb', format: 'bin', data: versions[i % versions.length]!.toString('base64') });
    }
    stop = true;
    await Promise.all(reading);
    await Promise.all(readerClients.map((c) => c.close()));
    expect(wireReads).toBeGreaterThan(10);
    expect(fileReads).toBeGreaterThan(10);
    expect(seen.size).toBeGreaterThan(1);
    const last = await q<Read>('query:vdfs.read_sidecar.v1', { entry_id: e.id, kind: 'thumb' });
    expect(last.checksum).toBe(sha(versions[40 % versions.length]!));
    expect(walk(join(d.dataDir, 'sidecars')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('detects corruption and a missing file with CHECKSUM_MISMATCH', async () => {
    const e = await entry('corrupt/me', Buffer.from('corrupt me'));
    const s = await a<Sidecar>('action:vdfs.write_sidecar.input.v1', { entry_id: e.id, kind: 'ocr', format: 'txt', text: 'the original text' });
    writeFileSync(s.path, 'the 0riginal text');
    const err = await q('query:vdfs.read_sidecar.v1', { entry_id: e.id, kind: 'ocr' }).catch((x) => x);
    expect(err).toMatchObject({ code: 'CHECKSUM_MISMATCH', details: expect.objectContaining({ expected: s.checksum, actual: sha('the 0riginal text') }) });
    unlinkSync(s.path);
    expect((await q('query:vdfs.read_sidecar.v1', { entry_id: e.id, kind: 'ocr' }).catch((x) => x)).code).toBe('CHECKSUM_MISMATCH');
    // Writing it again repairs it.
    await a('action:vdfs.write_sidecar.input.v1', { entry_id: e.id, kind: 'ocr', format: 'txt', text: 'the original text' });
    expect((await q<Read>('query:vdfs.read_sidecar.v1', { entry_id: e.id, kind: 'ocr' })).text).toBe('the original text');
  });

  it('sidecars follow the content: shared by entries with the same bytes, removed with the last of them', async () => {
    const bytes = Buffer.from('same bytes in two entries');
    const e1 = await entry('shared/1', bytes);
    const e2 = await entry('shared/2', bytes);
    const s = await a<Sidecar>('action:vdfs.write_sidecar.input.v1', { entry_id: e1.id, kind: 'ocr', format: 'txt', text: 'shared' });
    expect((await q<Read>('query:vdfs.read_sidecar.v1', { entry_id: e2.id, kind: 'ocr' })).text).toBe('shared');
    await a('action:vdfs.delete_entry.input.v1', { entry_id: e1.id });
    expect(existsSync(s.path)).toBe(true);
    expect((await q<{ sidecars: Sidecar[] }>('query:vdfs.list_sidecars.v1', { entry_id: e2.id })).sidecars).toHaveLength(1);
    await a('action:vdfs.delete_entry.input.v1', { entry_id: e2.id });
    expect(existsSync(s.path)).toBe(false);
    expect(existsSync(join(d.dataDir, 'sidecars', sha(bytes).slice(0, 2), sha(bytes)))).toBe(false);

    // Shared across libraries too: deleting in one library keeps the other's file.
    const other = await a<{ id: string }>('action:libraries.create.input.v1', { name: 'Other' });
    const x1 = await entry('cross/1', bytes);
    const x2 = (await client.action('action:vdfs.create_entry.input.v1', { name: 'c', path: 'cross/2', entry_type: 'File', content: bytes.toString('base64') }, { libraryId: other.id })) as { id: string };
    const w1 = await a<Sidecar>('action:vdfs.write_sidecar.input.v1', { entry_id: x1.id, kind: 'ocr', format: 'txt', text: 'one' });
    await client.action('action:vdfs.write_sidecar.input.v1', { entry_id: x2.id, kind: 'ocr', format: 'txt', text: 'two' }, { libraryId: other.id });
    // Same content, same derived-data file: both libraries read the latest, verified.
    expect((await q<Read>('query:vdfs.read_sidecar.v1', { entry_id: x1.id, kind: 'ocr' })).text).toBe('two');
    await a('action:vdfs.delete_entry.input.v1', { entry_id: x1.id });
    expect(existsSync(w1.path)).toBe(true);
    const r2 = (await client.query('query:vdfs.read_sidecar.v1', { entry_id: x2.id, kind: 'ocr' }, { libraryId: other.id })) as Read;
    expect(r2.text).toBe('two');
  });

  it('from the CLI: write text, read it back, list', async () => {
    const e = await entry('cli/doc.txt', Buffer.from('cli doc'));
    const w = await d.cli(['action', 'vdfs.write_sidecar', '--entry-id', e.id, '--kind', 'ocr', '--format', 'txt', '--text', 'hello from the CLI', '--json']);
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    expect(JSON.parse(w.stdout)).toMatchObject({ kind: 'ocr', checksum: sha('hello from the CLI') });
    const file = join(d.dataDir, 'thumb.webp');
    writeFileSync(file, Buffer.from([1, 2, 3, 4]));
    const wb = await d.cli(['action', 'vdfs.write_sidecar', '--entry-id', e.id, '--kind', 'thumb', '--format', 'webp', '--data', file, '--json']);
    expect(JSON.parse(wb.stdout)).toMatchObject({ size: 4 });
    const r = await d.cli(['query', 'vdfs.read_sidecar', '--entry-id', e.id, '--kind', 'ocr', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ text: 'hello from the CLI' });
    const l = await d.cli(['query', 'vdfs.list_sidecars', '--entry-id', e.id, '--json']);
    expect((JSON.parse(l.stdout) as { sidecars: Sidecar[] }).sidecars.map((s) => s.kind)).toEqual(['ocr', 'thumb']);
  });
});
