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
import { MailService } from './service.js';

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
export { mailOperations } from './operations.js';
export type * from './types.js';

/** The mail service of a core: `<dataDir>/mail.db` for accounts, passwords in `credentials`. */
export function makeMailService(o: { dataDir: string; credentials: CredentialStore; logger: Logger }): MailService {
  return new MailService(o);
}
