/**
 * Bench section `capabilities`: what the credentials store, the host HTTP fetch and the
 * permission layer cost, each beside the bare operation it wraps, measured in the same run.
 *  - credentials get (SQLite read + AES-256-GCM decrypt) vs a plain SQLite point read of the same
 *    row; put (encrypt + upsert, WAL) vs a plain upsert of the same bytes;
 *  - `action:http.fetch.input.v1` through `execute` vs Node's fetch of the same URL (a local
 *    server on 127.0.0.1), and the same from an extension (cap-test, through the sandbox and the
 *    SDK's wrapper) when the build has compiled it;
 *  - the permission check and the rate limiter that every extension host call passes.
 * Checks: get ≤ 1.5× (a plain read and a bare AES-GCM decrypt of it), put ≤ 1.5× (a bare encrypt
 * and a plain upsert of its output): the store's own overhead over the floor of any encrypted
 * store, each floor measured as one operation after the other, as a store must do them (run apart,
 * each in its own hot loop, they flatter the floor: the cipher's work right before an upsert makes
 * the upsert a third slower); fetch through execute ≤ 1.5× Node's fetch; the checks on a host
 * call ≤ 2 µs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { loadOptions } from '../config/index.js';
import { decrypt, encrypt } from '../credentials/store.js';
import { Core } from '../core/index.js';
import { RateLimiter, checkCallPermission } from '../extensions/permissions.js';
import { silentLogger } from '../logging/index.js';
import { check, measure, measureSync, type BenchSection, type Measurement } from './harness.js';

const CAP_TEST = fileURLToPath(new URL('../../build/extensions/cap-test/', import.meta.url));

export async function run(): Promise<BenchSection> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-caps-'));
  const core = await Core.create(loadOptions({ overrides: { dataDir: dir }, env: {} }), { logger: silentLogger() });
  const body = JSON.stringify({ ok: true, items: Array.from({ length: 20 }, (_, i) => ({ i, name: `item ${i}` })) });
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/data`;
  const rows: Measurement[] = [];
  const checks = [];
  try {
    // Credentials.
    const secret = 'x'.repeat(64);
    await core.credentials.put('user', 'bench', secret, { host: 'example.com' });
    // The store is a port answering promises: the floors below are awaited too, so both sides pay the same.
    const get = await measure('credentials get (read + decrypt)', () => core.credentials.get('user', 'bench'), { ops: 20_000 });
    const plainDb = new Database(join(dir, 'plain.db'));
    plainDb.pragma('journal_mode = WAL');
    plainDb.exec('CREATE TABLE t (owner TEXT, name TEXT, nonce BLOB, ciphertext BLOB, tag BLOB, metadata TEXT, created_at INTEGER, updated_at INTEGER, PRIMARY KEY (owner, name)) WITHOUT ROWID');
    // The store's own statement, with fresh random bytes each time as encryption produces (SQLite
    // writes much less when a row's bytes do not change, which would flatter the baseline).
    const blobs = Array.from({ length: 1024 }, () => [randomBytes(12), randomBytes(64), randomBytes(16)] as const);
    let next = 0;
    const upsert = plainDb.prepare(
      `INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner, name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext,
         tag = excluded.tag, metadata = excluded.metadata, updated_at = excluded.updated_at RETURNING owner, name, metadata, created_at, updated_at`,
    );
    const plainUpsert = () => {
      const [n, c, t] = blobs[next++ % blobs.length]!;
      return upsert.get('user', 'bench', n, c, t, '{"host":"example.com"}', 1, Date.now());
    };
    plainUpsert();
    const select = plainDb.prepare('SELECT * FROM t WHERE owner = ? AND name = ?');
    const read = measureSync('plain SQLite point read (reference)', () => select.get('user', 'bench'), { ops: 20_000 });
    const put = await measure('credentials put (encrypt + upsert)', () => core.credentials.put('user', 'bench', secret, { host: 'example.com' }), { ops: 5_000 });
    const plainPut = measureSync('plain SQLite upsert of fresh bytes (reference)', plainUpsert, { ops: 5_000 });
    // The floor of an encrypted store: the same SQLite statement and one AES-256-GCM operation.
    const key = randomBytes(32);
    const aad = Buffer.from('["user","bench"]');
    const plaintext = Buffer.from(secret);
    const sealed = encrypt(key, plaintext, aad);
    const floorPut = await measure(
      'bare encrypt, then the plain upsert of its output (floor)',
      async () => {
        const s = encrypt(key, plaintext, aad);
        return upsert.get('user', 'bench', s.nonce, s.ciphertext, s.tag, '{"host":"example.com"}', 1, Date.now());
      },
      { ops: 5_000 },
    );
    // The row now holds a real ciphertext under `key`.
    const floorGet = await measure(
      'plain point read, then a bare decrypt of it (floor)',
      async () => {
        const r = select.get('user', 'bench') as { nonce: Buffer; ciphertext: Buffer; tag: Buffer };
        return decrypt(key, r.nonce, r.ciphertext, r.tag, aad);
      },
      { ops: 20_000 },
    );
    plainDb.close();
    const enc = measureSync('bare AES-256-GCM encrypt, 64 B (reference)', () => encrypt(key, plaintext, aad), { ops: 20_000 });
    const dec = measureSync('bare AES-256-GCM decrypt, 64 B (reference)', () => decrypt(key, sealed.nonce, sealed.ciphertext, sealed.tag, aad), { ops: 20_000 });
    rows.push(get, floorGet, read, dec, put, floorPut, plainPut, enc);
    checks.push(check('credentials get p50 / (plain read, then decrypt) p50', get.p50Us / floorGet.p50Us, '<=', 1.5));
    checks.push(check('credentials put p50 / (encrypt, then plain upsert) p50', put.p50Us / floorPut.p50Us, '<=', 1.5));

    // HTTP.
    const direct = await measure('Node fetch of a local URL (baseline)', async () => (await fetch(url)).arrayBuffer(), { ops: 1_000, warmup: 100 });
    const viaExecute = await measure('http.fetch through execute', () => core.execute('action:http.fetch.input.v1', { url }), { ops: 1_000, warmup: 100 });
    rows.push(direct, viaExecute);
    checks.push(check('http.fetch p50 / Node fetch p50', viaExecute.p50Us / direct.p50Us, '<=', 1.5));
    if (existsSync(join(CAP_TEST, 'manifest.json'))) {
      await core.extensions.install(CAP_TEST);
      const fromExt = await measure('http.fetch from an extension (sandbox + SDK)', () => core.execute('action:cap-test:http_fetch.input.v1', { url }), {
        ops: 500,
        warmup: 50,
        note: 'cap-test http_fetch',
      });
      rows.push(fromExt);
    }

    // Permission layer.
    const perms = { call: ['query:core.', 'query:vdfs.', 'action:vdfs.'], dispatch: [], manage_jobs: [], filesystem: [], libraries: ['*'], network: ['127.0.0.1'] };
    const limiter = new RateLimiter('bench', Number.MAX_SAFE_INTEGER);
    const gate = measureSync(
      'permission check + rate limiter per host call',
      () => {
        checkCallPermission('bench', perms, 'query:vdfs.list_entries.v1', { library_id: 'L' }, 'library');
        limiter.take('query:vdfs.list_entries.v1');
      },
      { ops: 200_000 },
    );
    rows.push(gate);
    checks.push(check('permission check + limiter p50 µs', gate.p50Us, '<=', 2));
    return { title: 'Capabilities: credentials, host HTTP fetch, permission checks', rows, checks };
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
