/** The mail capability's public shapes (the JSON the operations take and return). */

export type MailAccountKind = 'imap' | 'maildir';

/** An account as stored and as `query:mail.list_accounts.v1` returns it: never the password. */
export interface MailAccount {
  name: string;
  kind: MailAccountKind;
  /** IMAP server (imap only). */
  host?: string;
  /** IMAP port (imap only): 993 with TLS, 143 without. */
  port?: number;
  /** TLS from the first byte (imap only). Without it, STARTTLS: required unless the server is this machine. */
  secure?: boolean;
  /** IMAP login (imap only). */
  username?: string;
  /** `INBOX` by default; for a Maildir another name is the Maildir++ folder `<path>/.<name>`. */
  mailbox: string;
  /** Maildir directory, absolute (maildir only). */
  path?: string;
  /** Whether a password is stored in the credentials store (imap only). */
  has_password: boolean;
  /** ISO 8601. */
  created_at: string;
  updated_at: string;
}

/** Input of `action:mail.add_account.input.v1`. */
export interface AddAccountInput {
  name: string;
  kind: MailAccountKind;
  host?: string;
  port?: number;
  secure?: boolean;
  username?: string;
  password?: string;
  mailbox?: string;
  path?: string;
  /** Replace an account of the same name instead of failing with ALREADY_EXISTS. */
  replace?: boolean;
  /** Connect and open the mailbox before saving; nothing is saved when that fails. */
  verify?: boolean;
}

/** What `query:mail.test_account.v1` returns. */
export interface MailboxStatus {
  account: string;
  kind: MailAccountKind;
  mailbox: string;
  uidvalidity: number;
  /** The UID the next message will get. */
  uidnext: number;
  /** Messages in the mailbox. */
  messages: number;
  /** How long connecting (or scanning) and reading the status took. */
  elapsed_ms: number;
}

export interface MailAttachment {
  /** The part's file name, or `attachment-<n>` when it has none. */
  filename: string;
  content_type: string;
  /** Decoded size in bytes. */
  size: number;
  /** An image embedded in the HTML (Content-ID in multipart/related) or an inline part. */
  inline: boolean;
  /** The decoded content, base64. */
  data: string;
}

export interface MailMessage {
  uid: number;
  /** The Message-ID header with its angle brackets; empty when the message has none. */
  message_id: string;
  subject: string;
  /** `Name <address>` list as written in the header. */
  from: string;
  to: string;
  /** ISO 8601: the Date header, else the server's internal date (IMAP) or the delivery time (Maildir). */
  date: string;
  /** Size of the raw message in bytes. */
  size: number;
  /** Plain text body (converted from HTML when the message has only HTML); empty when none. */
  text: string;
  /** HTML body, when the message has one. */
  html?: string;
  attachments: MailAttachment[];
  /** The raw RFC 822 message, base64, when `include_raw` was asked for. */
  raw?: string;
  /** Set when the message could not be parsed: the other fields are then empty. */
  parse_error?: string;
}

/** Input of `query:mail.fetch_since.v1`. */
export interface FetchSinceInput {
  account: string;
  /** Only messages with a UID strictly above this; 0, "0" or absent: from the start. */
  last_uid?: number | string;
  /** Most messages returned; default 10, at most 100. */
  limit?: number;
  /**
   * Stop adding messages once their raw sizes add up to this many bytes (default 8 MiB); the
   * first message is always returned, whatever its size, so a caller always makes progress.
   */
  max_bytes?: number;
  include_raw?: boolean;
}

export interface FetchSinceResult {
  account: string;
  mailbox: string;
  /** Ascending UID order, every UID strictly above `last_uid`. */
  messages: MailMessage[];
  /** When it changes, UIDs from before mean nothing: start again from 0. */
  uidvalidity: number;
  /** Highest UID in the mailbox now (0 when empty). */
  highest_uid: number;
  /** Messages with a UID above `last_uid` in the mailbox, those returned included. */
  available: number;
  /** More messages above the last one returned: call again with its UID. */
  has_more: boolean;
}
