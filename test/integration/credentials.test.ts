/**
 * Credentials over the wire and the CLI against a real daemon, and the store on real SQLite
 * files: per-owner scoping, encryption at rest (the secret's bytes are nowhere in the database
 * files), the key outside the database (0600 key file), a wrong or missing key failing clearly,
 * an altered row detected.
 */
import { existsSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SqliteCredentialStore } from '../../src/credentials/index.js';
import { resolveOwner } from '../../src/credentials/operations.js';
import { makeTempDir, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { rmSync } from 'node:fs';

/** Every file of the store (database, WAL, shared memory) concatenated. */
function storeBytes(dataDir: string): Buffer {
  return Buffer.concat(
    readdirSync(dataDir)
      .filter((f) => f.startsWith('credentials.db'))
      .map((f) => readFileSync(join(dataDir, f))),
  );
}

describe('credentials over the wire (real daemon)', () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await startTestDaemon();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('stores, gets, lists (never the secret), replaces and deletes; owners are separate', async () => {
    const client = await daemon.client();
    const secret = `s3cret-${randomBytes(8).toString('hex')}-ünï`;
    const stored = (await client.action('action:credentials.store.input.v1', { name: 'github', secret, metadata: { user: 'ada' } })) as Record<string, unknown>;
    expect(stored).toMatchObject({ owner: 'user', name: 'github', metadata: { user: 'ada' } });
    expect(stored).not.toHaveProperty('secret');

    await expect(client.query('query:credentials.get.v1', { name: 'github' })).resolves.toMatchObject({ owner: 'user', name: 'github', secret, metadata: { user: 'ada' } });
    // Another owner does not see it.
    await expect(client.query('query:credentials.get.v1', { name: 'github', owner: 'mail' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await client.action('action:credentials.store.input.v1', { name: 'github', secret: 'mail-side', owner: 'mail' });
    await expect(client.query('query:credentials.get.v1', { name: 'github', owner: 'mail' })).resolves.toMatchObject({ owner: 'mail', secret: 'mail-side' });
    await expect(client.query('query:credentials.get.v1', { name: 'github' })).resolves.toMatchObject({ secret });

    const list = (await client.query('query:credentials.list.v1', {})) as { owner: string; credentials: Array<Record<string, unknown>> };
    expect(list.owner).toBe('user');
    expect(list.credentials.map((c) => c.name)).toEqual(['github']);
    expect(JSON.stringify(list)).not.toContain(secret);

    // Replacing keeps created_at and moves updated_at.
    const before = (await client.query('query:credentials.get.v1', { name: 'github' })) as { created_at: string; updated_at: string };
    await new Promise((r) => setTimeout(r, 5));
    await client.action('action:credentials.store.input.v1', { name: 'github', secret: 'rotated' });
    const after = (await client.query('query:credentials.get.v1', { name: 'github' })) as { secret: string; created_at: string; updated_at: string };
    expect(after.secret).toBe('rotated');
    expect(after.created_at).toBe(before.created_at);
    expect(after.updated_at > before.updated_at).toBe(true);

    await expect(client.action('action:credentials.delete.input.v1', { name: 'github' })).resolves.toMatchObject({ deleted: true });
    await expect(client.query('query:credentials.get.v1', { name: 'github' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining("no credential 'github'") });
    await expect(client.action('action:credentials.delete.input.v1', { name: 'github' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // The mail owner's one is still there.
    await expect(client.query('query:credentials.get.v1', { name: 'github', owner: 'mail' })).resolves.toMatchObject({ secret: 'mail-side' });
  });

  it('refuses bad input with typed errors and loses nothing', async () => {
    const client = await daemon.client();
    await client.action('action:credentials.store.input.v1', { name: 'keep', secret: 'kept' });
    await expect(client.action('action:credentials.store.input.v1', { name: 'x' } as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(client.action('action:credentials.store.input.v1', { name: 'x', secret: 42 } as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(client.action('action:credentials.store.input.v1', { name: '', secret: 'a' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(client.action('action:credentials.store.input.v1', { name: 'a\nb', secret: 'a' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(client.action('action:credentials.store.input.v1', { name: 'x', secret: 'a', owner: 'Not An Owner' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(client.action('action:credentials.store.input.v1', { name: 'x', secret: 'a'.repeat(64 * 1024 + 1) })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(client.query('query:credentials.get.v1', { name: 'keep' })).resolves.toMatchObject({ secret: 'kept' });
  });

  it('keeps secrets encrypted at rest, with the key in a 0600 file outside the database', async () => {
    const client = await daemon.client();
    const secret = `needle-${randomBytes(12).toString('hex')}`;
    await client.action('action:credentials.store.input.v1', { name: 'needle', secret, metadata: { note: 'plain' } });
    const bytes = storeBytes(daemon.dataDir);
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.includes(Buffer.from(secret))).toBe(false);
    // Metadata is not secret (it is what list shows), so it is there in clear: the check above is meaningful.
    expect(bytes.includes(Buffer.from('"note":"plain"'))).toBe(true);

    const keyFile = join(daemon.dataDir, 'keys', 'credentials.key');
    expect(existsSync(keyFile)).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, 'utf8').trim();
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    expect(bytes.includes(Buffer.from(key))).toBe(false);
    expect(bytes.includes(Buffer.from(key, 'base64'))).toBe(false);
  });

  it('CLI: set reads the secret from stdin (not argv), list never shows it, get --reveal, delete', async () => {
    const set = await daemon.cli(['credentials', 'set', 'imap', '--owner', 'mail', '--metadata', '{"host":"imap.example.com"}'], { input: 'pa55word\n' });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain("stored credential 'imap' for 'mail'");
    const list = await daemon.cli(['credentials', 'list', '--owner', 'mail']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('imap');
    expect(list.stdout).toContain('imap.example.com');
    expect(list.stdout).not.toContain('pa55word');
    const hidden = await daemon.cli(['credentials', 'get', 'imap', '--owner', 'mail']);
    expect(hidden.stdout).not.toContain('pa55word');
    const reveal = await daemon.cli(['--json', 'credentials', 'get', 'imap', '--owner', 'mail', '--reveal']);
    expect(JSON.parse(reveal.stdout)).toMatchObject({ owner: 'mail', name: 'imap', secret: 'pa55word' });
    const empty = await daemon.cli(['credentials', 'set', 'x'], { input: '' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('the secret is empty');
    const del = await daemon.cli(['credentials', 'delete', 'imap', '--owner', 'mail']);
    expect(del.code, del.stderr).toBe(0);
    const gone = await daemon.cli(['credentials', 'get', 'imap', '--owner', 'mail']);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('NOT_FOUND');
  });
});

describe('credentials key handling (real SQLite files)', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('sd-cred-');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a wrong key fails clearly and changes nothing; the right key reads again', async () => {
    const a = new SqliteCredentialStore({ dataDir: dir });
    await a.put('user', 'k', 'v1');
    await a.close();
    const keyFile = join(dir, 'keys', 'credentials.key');
    const original = readFileSync(keyFile, 'utf8');

    const wrong = new SqliteCredentialStore({ dataDir: dir, key: randomBytes(32).toString('base64') });
    await expect(wrong.get('user', 'k')).rejects.toMatchObject({ code: 'CREDENTIALS_KEY_INVALID', message: expect.stringContaining('is not the key') });
    // Writing with the wrong key is refused too, so the store never mixes two keys.
    await expect(wrong.put('user', 'k2', 'x')).rejects.toMatchObject({ code: 'CREDENTIALS_KEY_INVALID' });
    await wrong.close();

    // A malformed key file.
    writeFileSync(keyFile, 'not a key\n');
    const malformed = new SqliteCredentialStore({ dataDir: dir });
    await expect(malformed.list('user')).rejects.toMatchObject({ code: 'CREDENTIALS_KEY_INVALID', message: expect.stringContaining('not a 256-bit key') });
    await malformed.close();

    // A missing key file is not silently replaced for a store that holds secrets.
    unlinkSync(keyFile);
    const missing = new SqliteCredentialStore({ dataDir: dir });
    await expect(missing.get('user', 'k')).rejects.toMatchObject({ code: 'CREDENTIALS_KEY_INVALID', message: expect.stringContaining('is missing') });
    await missing.close();
    expect(existsSync(keyFile)).toBe(false);

    writeFileSync(keyFile, original, { mode: 0o600 });
    const right = new SqliteCredentialStore({ dataDir: dir });
    expect((await right.get('user', 'k')).secret).toBe('v1');
    expect((await right.list('user')).map((c) => c.name)).toEqual(['k']);
    await right.close();
  });

  it('a key given in the environment (hex) or in another key file works and is never written to the data dir', async () => {
    const hex = randomBytes(32).toString('hex');
    const s = new SqliteCredentialStore({ dataDir: dir, key: hex });
    await s.put('user', 'k', 'v');
    await s.close();
    expect(existsSync(join(dir, 'keys'))).toBe(false);
    const again = new SqliteCredentialStore({ dataDir: dir, key: hex });
    expect((await again.get('user', 'k')).secret).toBe('v');
    await again.close();

    const elsewhere = makeTempDir('sd-key-');
    try {
      const keyFile = join(elsewhere, 'my.key');
      const dir2 = join(dir, 'second');
      const t = new SqliteCredentialStore({ dataDir: dir2, keyFile });
      await t.put('user', 'k', 'v');
      await t.close();
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dir2, 'keys'))).toBe(false);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('detects a ciphertext moved to another name (owner and name are authenticated)', async () => {
    const s = new SqliteCredentialStore({ dataDir: dir });
    await s.put('user', 'a', 'secret-a');
    await s.put('user', 'b', 'secret-b');
    await s.close();
    const db = new Database(join(dir, 'credentials.db'));
    const rowA = db.prepare("SELECT nonce, ciphertext, tag FROM credentials WHERE name = 'a'").get() as { nonce: Buffer; ciphertext: Buffer; tag: Buffer };
    db.prepare("UPDATE credentials SET nonce = ?, ciphertext = ?, tag = ? WHERE name = 'b'").run(rowA.nonce, rowA.ciphertext, rowA.tag);
    await db.close();
    const t = new SqliteCredentialStore({ dataDir: dir });
    expect((await t.get('user', 'a')).secret).toBe('secret-a');
    await expect(t.get('user', 'b')).rejects.toMatchObject({ code: 'CREDENTIALS_CORRUPT' });
    await t.close();
  });

  it('scopes an extension caller to its own owner and refuses another', () => {
    const ext = { caller: { kind: 'extension' as const, extensionId: 'finance', chain: ['finance'] } };
    expect(resolveOwner(ext, undefined)).toBe('ext:finance');
    expect(resolveOwner(ext, 'ext:finance')).toBe('ext:finance');
    expect(() => resolveOwner(ext, 'user')).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    expect(() => resolveOwner(ext, 'ext:other')).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    expect(resolveOwner({ caller: { kind: 'client', chain: [] } }, undefined)).toBe('user');
    expect(resolveOwner({ caller: { kind: 'internal', chain: [] } }, 'mail')).toBe('mail');
  });
});
