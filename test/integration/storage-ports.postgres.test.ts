/**
 * Every storage port's contract against its PostgreSQL implementation, each test with a database
 * of its own (created and dropped here).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresCredentialRows } from '../../src/credentials/postgres-rows.js';
import { PostgresExtensionStore } from '../../src/extensions/postgres-store.js';
import { PostgresLibraryBackend } from '../../src/library/postgres-backend.js';
import { PostgresMailStore } from '../../src/mail/postgres-store.js';
import { openPostgres, type PostgresDatabase } from '../../src/storage/postgres/index.js';
import { credentialRowsContract } from '../contract/credential-rows.contract.js';
import { extensionStoreContract } from '../contract/extension-store.contract.js';
import { libraryBackendContract } from '../contract/library-store.contract.js';
import { mailStoreContract } from '../contract/mail-store.contract.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

/** One database per test; every connection opened on it is closed before it is dropped. */
function perTest<T extends { migrate(): Promise<void> }>(label: string, make: (db: PostgresDatabase) => T) {
  let testDb: TestDatabase | undefined;
  const open: PostgresDatabase[] = [];
  const connect = async (): Promise<T> => {
    const db = openPostgres({ url: testDb!.url, poolSize: 4 });
    open.push(db);
    const store = make(db);
    await store.migrate();
    return store;
  };
  return {
    create: async () => {
      testDb = await createTestDatabase(label);
      return connect();
    },
    reopen: connect,
    lastDb: () => open[open.length - 1]!,
    destroy: async () => {
      for (const db of open.splice(0)) await db.close();
      await testDb?.drop();
    },
  };
}

const libraries = perTest('ports_library', (db) => new PostgresLibraryBackend(db));
libraryBackendContract('PostgreSQL', libraries);

let keyDir = '';
const credentials = perTest('ports_credentials', (db) => new PostgresCredentialRows(db));
credentialRowsContract(
  'PostgreSQL',
  {
    create: async () => {
      keyDir = mkdtempSync(join(tmpdir(), 'sd-pgcred-'));
      return credentials.create();
    },
    reopen: credentials.reopen,
    raw: async (owner, name) => {
      const [row] = await credentials.lastDb().query<{ ciphertext: Buffer; metadata: string }>('SELECT ciphertext, metadata FROM credentials WHERE owner = $1 AND name = $2', [owner, name]);
      return row;
    },
    destroy: async () => {
      await credentials.destroy();
      rmSync(keyDir, { recursive: true, force: true });
    },
  },
  () => keyDir,
);

const extensions = perTest('ports_extensions', (db) => new PostgresExtensionStore(db));
extensionStoreContract('PostgreSQL', { ...extensions, keepsPackages: true });

const mail = perTest('ports_mail', (db) => new PostgresMailStore(db));
mailStoreContract('PostgreSQL', mail);
