/**
 * Mail (issue 6 item 2): named accounts — IMAP (imapflow; Gmail works with an app password) or a
 * local Maildir — and UID-based fetching of their messages, parsed with mailparser, attachments
 * as base64. Passwords are kept in the credentials store (owner `mail`, name = account name).
 *
 * Core capabilities use the service (`core.mail`); clients, the CLI (`spacedrive mail …`) and
 * extensions use the operations `action:mail.add_account.input.v1`, `query:mail.list_accounts.v1`,
 * `action:mail.remove_account.input.v1`, `query:mail.test_account.v1` and
 * `query:mail.fetch_since.v1`.
 */
import type { CredentialStore } from '../credentials/index.js';
import type { Logger } from '../logging/index.js';
import { defineModule, type BaseServices } from '../modules/index.js';
import { MailService } from './service.js';
import type { MailStore } from './store.js';
import { mailOperations, type MailHandlerServices } from './operations.js';

export {
  MailService,
  CREDENTIALS_OWNER,
  ACCOUNT_NAME_PATTERN,
  DEFAULT_FETCH_LIMIT,
  DEFAULT_MAX_BYTES,
  MAX_FETCH_LIMIT,
  MAX_UID,
  parseLastUid,
  type MailServiceOptions,
} from './service.js';
export { mailOperations, type MailHandlerServices } from './operations.js';
export type * from './types.js';
export { SqliteMailStore, type MailStore, type StoredAccount, type MaildirUids } from './store.js';
export { PostgresMailStore, MAIL_PG_MIGRATIONS } from './postgres-store.js';

/** The mail service of a core: `<dataDir>/mail.db` for accounts, passwords in `credentials`. */
export function makeMailService(o: { dataDir: string; credentials: CredentialStore; logger: Logger }): MailService {
  return new MailService(o);
}

/** The mail module (`mail`): accounts and UID-based fetching; mail.db opens on first use. */
export const mailModule = defineModule<Pick<BaseServices, 'options' | 'logger'> & { credentials: CredentialStore; storage: { mail(): MailStore } }, MailService, Omit<MailHandlerServices, 'mail'>>()({
  name: 'mail',
  dependsOn: ['options', 'logger', 'credentials', 'storage'],
  operationsUse: ['extensions'],
  create: ({ options, credentials, logger, storage }) => new MailService({ dataDir: options.dataDir, credentials, logger: logger.child({ capability: 'mail' }), store: storage.mail() }),
  operations: mailOperations,
  counters: { read: (mail) => mail.counters() },
  stop: (mail) => mail.close(),
});
