/**
 * The mail capability's operations: plain JSON in and out (attachments and raw messages as
 * base64), so clients, the CLI and extensions in the sandbox call them the same way.
 */
import { actorOf } from '../registry/index.js';
import { operationsWith } from '../modules/index.js';
import type { ExtensionManager } from '../extensions/manager.js';
import type { MailService } from './service.js';
import { ACCOUNT_NAME_PATTERN, DEFAULT_FETCH_LIMIT, DEFAULT_MAX_BYTES, MAX_FETCH_LIMIT, MAX_UID } from './service.js';
import type { AddAccountInput, FetchSinceInput, FetchSinceResult, MailAccount, MailboxStatus } from './types.js';

/** The services mail handlers see as `ctx.core` (the mail module declares them). */
export interface MailHandlerServices {
  mail: MailService;
  extensions: Pick<ExtensionManager, 'checkPaths'>;
}
const defineOperation = operationsWith<MailHandlerServices>();

const accountName = { type: 'string', pattern: ACCOUNT_NAME_PATTERN, description: 'The account\'s name (e.g. `gmail`, `work`, an address).' };
const time = { type: 'string', format: 'date-time' };

const accountSchema = {
  type: 'object',
  required: ['name', 'kind', 'mailbox', 'has_password', 'created_at', 'updated_at'],
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    kind: { enum: ['imap', 'maildir'] },
    host: { type: 'string' },
    port: { type: 'integer' },
    secure: { type: 'boolean' },
    username: { type: 'string' },
    mailbox: { type: 'string' },
    path: { type: 'string' },
    has_password: { type: 'boolean' },
    created_at: time,
    updated_at: time,
  },
};

export const mailAddAccount = defineOperation<AddAccountInput, MailAccount>({
  method: 'action:mail.add_account.input.v1',
  kind: 'action',
  scope: 'core',
  description:
    'Adds a mail account by name: IMAP (host, port, secure, username, password; the password goes to the credentials store) or a local Maildir (path). ' +
    'Gmail: kind imap, host imap.gmail.com, port 993, secure true, your address as username and an app password.',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'kind'],
    properties: {
      name: accountName,
      kind: { enum: ['imap', 'maildir'] },
      host: { type: 'string', minLength: 1, maxLength: 253, description: 'IMAP server host name (imap).' },
      port: { type: 'integer', minimum: 1, maximum: 65535, description: 'IMAP port (imap); default 993 with TLS, 143 without.' },
      secure: { type: 'boolean', description: 'TLS from the start (imap); default true unless port is 143. Without it the connection is upgraded with STARTTLS, required unless the server is this machine.' },
      username: { type: 'string', minLength: 1, maxLength: 320, description: 'IMAP login (imap).' },
      password: { type: 'string', minLength: 1, maxLength: 4096, description: 'IMAP password or app password (imap); kept encrypted in the credentials store, never returned.' },
      mailbox: { type: 'string', minLength: 1, maxLength: 512, default: 'INBOX', description: 'Mailbox to read; default INBOX. For a Maildir another name is the Maildir++ folder .<name>.' },
      path: { type: 'string', minLength: 1, maxLength: 4096, description: 'Absolute path of the Maildir directory (maildir).' },
      replace: { type: 'boolean', description: 'Replace an account of the same name instead of failing with ALREADY_EXISTS.' },
      verify: { type: 'boolean', description: 'Connect and open the mailbox first; nothing is saved if that fails.' },
    },
  },
  output: accountSchema,
  handler: async (input, ctx) => {
    // A Maildir is read from disk: whoever names it needs read access to it.
    if (input.kind === 'maildir' && input.path !== undefined) {
      await ctx.core.extensions.checkPaths(actorOf(ctx.caller), [{ path: input.path, access: 'read', what: 'mail.add_account maildir path' }]);
    }
    return ctx.core.mail.addAccount(input, ctx.signal);
  },
});

export const mailListAccounts = defineOperation<Record<string, never>, { accounts: MailAccount[] }>({
  method: 'query:mail.list_accounts.v1',
  kind: 'query',
  scope: 'core',
  description: 'The configured mail accounts, by name. Passwords are never returned (has_password says whether one is stored).',
  input: { type: 'object', additionalProperties: false, properties: {} },
  output: { type: 'object', required: ['accounts'], additionalProperties: false, properties: { accounts: { type: 'array', items: accountSchema } } },
  handler: async (_input, ctx) => ({ accounts: await ctx.core.mail.listAccounts() }),
});

export const mailRemoveAccount = defineOperation<{ name: string }, { name: string; removed: true }>({
  method: 'action:mail.remove_account.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Removes a mail account with its stored password and Maildir UIDs. NOT_FOUND when there is none.',
  input: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: accountName } },
  output: { type: 'object', required: ['name', 'removed'], properties: { name: { type: 'string' }, removed: { const: true } } },
  handler: (input, ctx) => ctx.core.mail.removeAccount(input.name),
});

export const mailTestAccount = defineOperation<{ name: string }, MailboxStatus>({
  method: 'query:mail.test_account.v1',
  kind: 'query',
  scope: 'core',
  description: "Connects to the account (or scans its Maildir) and returns its mailbox's uidvalidity, uidnext and message count.",
  input: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: accountName } },
  output: {
    type: 'object',
    required: ['account', 'kind', 'mailbox', 'uidvalidity', 'uidnext', 'messages', 'elapsed_ms'],
    properties: {
      account: { type: 'string' },
      kind: { enum: ['imap', 'maildir'] },
      mailbox: { type: 'string' },
      uidvalidity: { type: 'integer', minimum: 0 },
      uidnext: { type: 'integer', minimum: 0 },
      messages: { type: 'integer', minimum: 0 },
      elapsed_ms: { type: 'integer', minimum: 0 },
    },
  },
  handler: (input, ctx) => ctx.core.mail.testAccount(input.name, ctx.signal),
});

const attachmentSchema = {
  type: 'object',
  required: ['filename', 'content_type', 'size', 'inline', 'data'],
  properties: {
    filename: { type: 'string' },
    content_type: { type: 'string' },
    size: { type: 'integer', minimum: 0 },
    inline: { type: 'boolean' },
    data: { type: 'string', contentEncoding: 'base64' },
  },
};

const messageSchema = {
  type: 'object',
  required: ['uid', 'message_id', 'subject', 'from', 'to', 'date', 'size', 'text', 'attachments'],
  properties: {
    uid: { type: 'integer', minimum: 1 },
    message_id: { type: 'string' },
    subject: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    date: time,
    size: { type: 'integer', minimum: 0 },
    text: { type: 'string' },
    html: { type: 'string' },
    attachments: { type: 'array', items: attachmentSchema },
    raw: { type: 'string', contentEncoding: 'base64' },
    parse_error: { type: 'string', description: 'Why the message could not be parsed (its other fields are then empty).' },
  },
};

export const mailFetchSince = defineOperation<FetchSinceInput, FetchSinceResult>({
  method: 'query:mail.fetch_since.v1',
  kind: 'query',
  scope: 'core',
  description:
    'Messages of an account with a UID strictly above last_uid, in ascending UID order, parsed (text, html, attachments as base64). ' +
    'Call again with the last UID returned while has_more is true; when uidvalidity changes, start again from 0.',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['account'],
    properties: {
      account: accountName,
      last_uid: {
        description: 'Only UIDs strictly above this; 0 or absent: from the start. A number or a string of digits.',
        oneOf: [
          { type: 'integer', minimum: 0, maximum: MAX_UID },
          { type: 'string', pattern: '^\\s*\\d{1,10}\\s*$' },
        ],
      },
      limit: { type: 'integer', minimum: 1, maximum: MAX_FETCH_LIMIT, default: DEFAULT_FETCH_LIMIT, description: `Most messages returned (default ${DEFAULT_FETCH_LIMIT}, at most ${MAX_FETCH_LIMIT}).` },
      max_bytes: {
        type: 'integer',
        minimum: 1,
        default: DEFAULT_MAX_BYTES,
        description: 'Stop adding messages once their raw sizes reach this (default 8 MiB); the first message is always returned.',
      },
      include_raw: { type: 'boolean', description: 'Also return each raw RFC 822 message, base64.' },
    },
  },
  output: {
    type: 'object',
    required: ['account', 'mailbox', 'messages', 'uidvalidity', 'highest_uid', 'available', 'has_more'],
    properties: {
      account: { type: 'string' },
      mailbox: { type: 'string' },
      messages: { type: 'array', items: messageSchema },
      uidvalidity: { type: 'integer', minimum: 0 },
      highest_uid: { type: 'integer', minimum: 0 },
      available: { type: 'integer', minimum: 0 },
      has_more: { type: 'boolean' },
    },
  },
  handler: (input, ctx) => ctx.core.mail.fetchSince(input, ctx.signal),
});

export const mailOperations = [mailAddAccount, mailListAccounts, mailRemoveAccount, mailTestAccount, mailFetchSince];
