/** Every storage port's contract against its embedded implementation (SQLite files, JSON). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteCredentialRows } from '../../src/credentials/store.js';
import { JsonFileExtensionStore } from '../../src/extensions/store.js';
import { SqliteLibraryBackend } from '../../src/library/sqlite-backend.js';
import { SqliteMailStore } from '../../src/mail/store.js';
import { credentialRowsContract } from '../contract/credential-rows.contract.js';
import { extensionStoreContract } from '../contract/extension-store.contract.js';
import { libraryBackendContract } from '../contract/library-store.contract.js';
import { mailStoreContract } from '../contract/mail-store.contract.js';

let dir = '';
const fresh = () => (dir = mkdtempSync(join(tmpdir(), 'sd-ports-')));
const destroy = async () => rmSync(dir, { recursive: true, force: true });

libraryBackendContract('SQLite', {
  create: async () => new SqliteLibraryBackend(join(fresh(), 'libraries')),
  reopen: async () => new SqliteLibraryBackend(join(dir, 'libraries')),
  destroy,
});

credentialRowsContract(
  'SQLite',
  {
    create: async () => new SqliteCredentialRows(join(fresh(), 'credentials.db')),
    reopen: async () => new SqliteCredentialRows(join(dir, 'credentials.db')),
    raw: async (owner, name) => {
      const db = new Database(join(dir, 'credentials.db'), { readonly: true });
      try {
        return db.prepare('SELECT ciphertext, metadata FROM credentials WHERE owner = ? AND name = ?').get(owner, name) as { ciphertext: Buffer; metadata: string } | undefined;
      } finally {
        db.close();
      }
    },
    destroy,
  },
  () => dir,
);

extensionStoreContract('JSON file', {
  create: async () => new JsonFileExtensionStore(join(fresh(), 'extensions', 'installed.json')),
  reopen: async () => new JsonFileExtensionStore(join(dir, 'extensions', 'installed.json')),
  destroy,
  keepsPackages: false,
});

mailStoreContract('SQLite', {
  create: async () => new SqliteMailStore(fresh()),
  reopen: async () => new SqliteMailStore(dir),
  destroy,
});
