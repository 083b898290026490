/**
 * Credentials (issue 5 item 6): named secrets per owner, encrypted at rest with a key kept
 * outside the database. Core capabilities use the service (`core.credentials`); extensions and
 * clients use the operations `action:credentials.store.input.v1`, `query:credentials.get.v1`,
 * `action:credentials.delete.input.v1`, `query:credentials.list.v1`.
 */
import type { SpacedriveOptions } from '../config/index.js';
import type { EventBus, Subscription } from '../events/index.js';
import type { Logger } from '../logging/index.js';
import { defineModule, type BaseServices } from '../modules/index.js';
import { CredentialVault, SqliteCredentialStore, extensionOwner, type CredentialRows, type CredentialStore } from './store.js';
import { credentialsOperations } from './operations.js';

export { PostgresCredentialRows, CREDENTIALS_PG_MIGRATIONS } from './postgres-rows.js';
export {
  CredentialVault,
  SqliteCredentialRows,
  type CredentialRow,
  type CredentialRows,
  SqliteCredentialStore,
  extensionOwner,
  MAX_SECRET_BYTES,
  type Credential,
  type CredentialStore,
  type CredentialStoreOptions,
  type CredentialSummary,
} from './store.js';
export { credentialsOperations, resolveOwner, DEFAULT_OWNER, type CredentialHandlerServices } from './operations.js';

/**
 * Deletes an extension's credentials when it is uninstalled (its secrets go with it, as its files
 * do). Returns the subscription to end at shutdown.
 */
export function purgeOnUninstall(store: CredentialStore, events: EventBus, logger: Logger): Subscription {
  return events.subscribe(['extension:uninstalled'], undefined, (event) => {
    const id = String((event.payload as { id?: unknown }).id ?? '');
    store.deleteOwner(extensionOwner(id)).then(
      (removed) => {
        if (removed > 0) logger.info({ extension: id, removed }, `deleted ${removed} credential(s) of uninstalled extension '${id}'`);
      },
      (err: unknown) => logger.warn({ err, extension: id }, `could not delete the credentials of uninstalled extension '${id}'`),
    );
  });
}

/** The store for a core: `<dataDir>/credentials.db`, key from SPACEDRIVE_CREDENTIALS_KEY or the key file. */
export function makeCredentialStore(options: Pick<SpacedriveOptions, 'dataDir' | 'credentials'>, env: NodeJS.ProcessEnv = process.env): SqliteCredentialStore {
  return new SqliteCredentialStore({ dataDir: options.dataDir, keyFile: options.credentials.keyFile, key: env.SPACEDRIVE_CREDENTIALS_KEY });
}

/** Each store's subscription deleting an uninstalled extension's credentials (ended at stop). */
const purges = new WeakMap<CredentialStore, Subscription>();

/**
 * The credentials module (`credentials`): opened on first use, it deletes an extension's secrets
 * when the extension is uninstalled, and closes last of the capabilities (extensions and jobs may
 * use credentials while they stop).
 */
export const credentialsModule = defineModule<Pick<BaseServices, 'options' | 'events' | 'logger'> & { storage: { credentialRows(): CredentialRows } }, CredentialStore>()({
  name: 'credentials',
  dependsOn: ['options', 'events', 'logger', 'storage'],
  // The key comes from the key file or the environment, never from the rows' store.
  create: ({ options, storage }) => new CredentialVault(storage.credentialRows(), { dataDir: options.dataDir, keyFile: options.credentials.keyFile, key: process.env.SPACEDRIVE_CREDENTIALS_KEY }),
  operations: credentialsOperations,
  start: (store, { events, logger }) => {
    purges.set(store, purgeOnUninstall(store, events, logger.child({ capability: 'credentials' })));
  },
  stop: (store) => {
    purges.get(store)?.unsubscribe();
    store.close();
  },
});
