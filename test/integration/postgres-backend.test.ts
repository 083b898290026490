/**
 * Two in-process cores (two data directories, as two nodes) on one PostgreSQL database: what one
 * writes through the storage ports — libraries and entries, credentials, an installed extension
 * with its module, mail accounts — the other reads, through the same operations clients call.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const HELLO = join(ROOT, 'build', 'extensions', 'hello');

describe('PostgreSQL storage backend shared by two cores', () => {
  let pgdb: TestDatabase;
  let root: string;
  let a: Core;
  let b: Core;
  const open = (name: string) =>
    Core.create(loadOptions({ overrides: { dataDir: join(root, name), store: pgdb.url, credentials: { keyFile: join(root, 'shared.key') } }, env: {} }), { logger: silentLogger() });

  beforeAll(async () => {
    expect(existsSync(join(HELLO, 'manifest.json')), 'npm run build compiles build/extensions').toBe(true);
    pgdb = await createTestDatabase('backend');
    root = mkdtempSync(join(tmpdir(), 'sd-pgcore-'));
    // Both start at once: migrations run once under the advisory lock, one default library.
    [a, b] = await Promise.all([open('node-a'), open('node-b')]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await pgdb?.drop();
    rmSync(root, { recursive: true, force: true });
  });

  it('uses the PostgreSQL backend and agrees on one default library', async () => {
    expect(a.storage?.kind).toBe('postgres');
    expect(a.storage?.location).not.toContain('@127.0.0.1:5432/test');
    const la = (await a.execute('query:libraries.list.v1', {})) as { libraries: Array<{ id: string }>; default_library_id: string };
    const lb = (await b.execute('query:libraries.list.v1', {})) as { libraries: Array<{ id: string }>; default_library_id: string };
    expect(la.libraries).toHaveLength(1);
    expect(lb).toEqual(la);
    // Nothing of the library lands in the data directory's library databases.
    expect(existsSync(join(root, 'node-a', 'libraries', la.default_library_id, 'library.db'))).toBe(false);
  });

  it('a library and entry created on one node are read, searched and updated on the other', async () => {
    const lib = (await a.execute('action:libraries.create.input.v1', { name: 'Shared' })) as { id: string };
    const created = (await a.execute('action:vdfs.create_entry.input.v1', { library_id: lib.id, name: 'r.txt', path: 'receipts/r.txt', entry_type: 'File', metadata: { total: 12 } })) as {
      id: string;
    };
    const got = (await b.execute('query:vdfs.get_entry.v1', { library_id: lib.id, entry_id: created.id })) as { metadata: unknown };
    expect(got.metadata).toEqual({ total: 12 });
    await b.execute('action:vdfs.update_metadata.input.v1', { library_id: lib.id, entry_id: created.id, metadata: { paid: true } });
    const listed = (await a.execute('query:vdfs.list_entries.v1', { library_id: lib.id, metadata: { paid: true } })) as { entries: Array<{ metadata: unknown }> };
    expect(listed.entries.map((e) => e.metadata)).toEqual([{ total: 12, paid: true }]);
  });

  it('entry content and sidecars written on one node are read, verified, on the other (bytes in the database)', async () => {
    const { id: entryId } = (await a.execute('action:vdfs.create_entry.input.v1', { name: 'scan.txt', path: 'scans/scan.txt', entry_type: 'File', content: Buffer.from('scanned').toString('base64') })) as { id: string };
    const got = (await b.execute('query:vdfs.get_entry.v1', { entry_id: entryId, include_content: true })) as { content: string };
    expect(Buffer.from(got.content, 'base64').toString()).toBe('scanned');
    await a.execute('action:vdfs.write_sidecar.input.v1', { entry_id: entryId, kind: 'ocr', format: 'txt', text: 'first' });
    await b.execute('action:vdfs.write_sidecar.input.v1', { entry_id: entryId, kind: 'ocr', format: 'txt', text: 'second' });
    await expect(a.execute('query:vdfs.read_sidecar.v1', { entry_id: entryId, kind: 'ocr' })).resolves.toMatchObject({ text: 'second' });
    await a.execute('action:vdfs.delete_sidecar.input.v1', { entry_id: entryId, kind: 'ocr' });
    await expect(b.execute('query:vdfs.read_sidecar.v1', { entry_id: entryId, kind: 'ocr' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // No sidecar file in either data directory: the bytes were in the database, and are gone with the row.
    expect(existsSync(join(root, 'node-a', 'sidecars'))).toBe(false);
    expect(existsSync(join(root, 'node-b', 'sidecars'))).toBe(false);
    const db = (a.storage as unknown as { db: { query(sql: string): Promise<unknown[]> } }).db;
    await expect(db.query('SELECT sha256 FROM sidecar_blobs')).resolves.toEqual([]);
    await expect(db.query('SELECT sha256 FROM library_objects')).resolves.toHaveLength(1);
  });

  it('a credential stored on one node is decrypted on the other (shared key, ciphertext in the database)', async () => {
    await a.execute('action:credentials.store.input.v1', { name: 'api', secret: 's3cret' });
    await expect(b.execute('query:credentials.get.v1', { name: 'api' })).resolves.toMatchObject({ secret: 's3cret' });
  });

  it('an extension installed on one node loads on the other from the module stored by SHA-256', async () => {
    await a.extensions.install(HELLO);
    // Node B learns of it when it reads the installed list (at start, or as here on reopen).
    await b.close();
    b = await open('node-b');
    await expect(b.execute('query:hello:greet.v1', { name: 'Ada' })).resolves.toEqual({ greeting: 'Hello, Ada!' });
    const manifest = JSON.parse(readFileSync(join(HELLO, 'manifest.json'), 'utf8')) as { version: string; module: string };
    const written = readFileSync(join(root, 'node-b', 'extensions', 'hello', manifest.version, manifest.module));
    expect(written.equals(readFileSync(join(HELLO, manifest.module)))).toBe(true);
  });

  it('a mail account added on one node is listed on the other', async () => {
    const maildir = join(root, 'Maildir');
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
    await a.execute('action:mail.add_account.input.v1', { name: 'local', kind: 'maildir', path: maildir });
    const accounts = (await b.execute('query:mail.list_accounts.v1', {})) as { accounts: Array<{ name: string; kind: string }> };
    expect(accounts.accounts).toEqual([expect.objectContaining({ name: 'local', kind: 'maildir' })]);
  });
});
