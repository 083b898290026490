/**
 * IMAP as a mail source, with imapflow: one connection per call, the mailbox opened read-only
 * (EXAMINE, so fetching never marks anything \Seen), everything by UID.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ImapFlow } from 'imapflow';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';

export interface ImapTarget {
  account: string;
  host: string;
  port: number;
  secure: boolean;
  username: string;
  password: string;
}

export interface ImapTimeouts {
  /** TCP (and TLS) connection. */
  connectMs: number;
  /** Server greeting after connecting. */
  greetingMs: number;
  /** Silence on an open connection before the call fails. */
  socketMs: number;
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'GREETING_TIMEOUT',
  'UPGRADE_TIMEOUT',
  'NoConnection',
  'EConnectionClosed',
  'ClosedAfterConnectText',
  'ClosedAfterConnectTLS',
]);

function isTlsError(code: string | undefined, message: string): boolean {
  return (
    code !== undefined &&
    (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.startsWith('CERT_') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  ) || /wrong version number|ssl3_get_record|certificate/i.test(message);
}

/** Turns anything imapflow (or the socket under it) throws into a typed error naming the account and server. */
export function imapError(err: unknown, t: Pick<ImapTarget, 'account' | 'host' | 'port' | 'username' | 'secure'>, during: string, signal?: AbortSignal): SpacedriveError {
  if (err instanceof SpacedriveError) return err;
  const e = err as { code?: string; message?: string; authenticationFailed?: boolean; responseText?: string; responseStatus?: string; serverResponseCode?: string };
  const server = `${t.host}:${t.port}`;
  const details = { account: t.account, host: t.host, port: t.port };
  const message = e.message ?? String(err);
  if (signal?.aborted) return new SpacedriveError(ErrorCode.CANCELLED, `mail account '${t.account}': cancelled while ${during}`, details);
  if (e.authenticationFailed || e.serverResponseCode === 'AUTHENTICATIONFAILED') {
    return new SpacedriveError(
      ErrorCode.MAIL_AUTH_FAILED,
      `mail account '${t.account}': ${server} refused the login of '${t.username}'${e.responseText ? ` (${e.responseText})` : ''}; check the user name and password (Gmail needs an app password)`,
      details,
    );
  }
  if ((e as { tlsFailed?: boolean }).tlsFailed && !t.secure) {
    return new SpacedriveError(
      ErrorCode.MAIL_UNREACHABLE,
      `mail account '${t.account}': ${server} offers no STARTTLS (${message}); the password is not sent unencrypted to a server other than this machine: use secure true (port 993) if the server has TLS`,
      { ...details, cause: 'STARTTLS_UNAVAILABLE' },
    );
  }
  if (e.code === 'ETIMEOUT') {
    return new SpacedriveError(ErrorCode.TIMEOUT, `mail account '${t.account}': ${server} stopped answering while ${during}`, details);
  }
  if ((e.code !== undefined && UNREACHABLE_CODES.has(e.code)) || isTlsError(e.code, message)) {
    const hint = isTlsError(e.code, message)
      ? t.secure
        ? ' (TLS failed: is this a plain-text port? use secure false for port 143)'
        : ' (TLS failed)'
      : e.code === 'GREETING_TIMEOUT' && !t.secure
        ? ' (no greeting: does this port expect TLS? use secure true)'
        : '';
    return new SpacedriveError(ErrorCode.MAIL_UNREACHABLE, `mail account '${t.account}': cannot reach ${server}: ${e.code ?? ''}${e.code ? ' ' : ''}${message}${hint}`, {
      ...details,
      ...(e.code ? { cause: e.code } : {}),
    });
  }
  if (e.responseStatus) {
    return new SpacedriveError(
      ErrorCode.MAIL_SERVER_ERROR,
      `mail account '${t.account}': ${server} answered ${e.responseStatus} while ${during}: ${e.responseText ?? message}`,
      { ...details, status: e.responseStatus, ...(e.serverResponseCode ? { server_code: e.serverResponseCode } : {}) },
    );
  }
  return new SpacedriveError(ErrorCode.MAIL_SERVER_ERROR, `mail account '${t.account}': ${during} failed: ${message}`, details, { cause: err });
}

/** This machine: the one place a password may travel without TLS (a test or local server). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  return isIPv6(h) && /^::ffff:127\./.test(h);
}

/**
 * Connects, logs in, runs `fn`, logs out. The connection is closed whatever happens, and at once
 * when `signal` aborts.
 */
export async function withImap<T>(
  t: ImapTarget,
  timeouts: ImapTimeouts,
  logger: Logger,
  signal: AbortSignal | undefined,
  fn: (client: ImapFlow, step: (what: string) => void) => Promise<T>,
): Promise<T> {
  if (signal?.aborted) throw new SpacedriveError(ErrorCode.CANCELLED, `mail account '${t.account}': cancelled`, { account: t.account });
  const client = new ImapFlow({
    host: t.host,
    port: t.port,
    secure: t.secure,
    auth: { user: t.username, pass: t.password },
    logger: false,
    disableAutoIdle: true,
    // Without TLS from the start, STARTTLS is required for any server but this machine: the
    // password must not cross a network in clear text (and a capability list without STARTTLS
    // may be an attacker's downgrade). On loopback, plain text is allowed (test servers).
    ...(!t.secure && !isLoopbackHost(t.host) ? { doSTARTTLS: true } : {}),
    connectionTimeout: timeouts.connectMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.socketMs,
    // SNI and certificate checks against the configured host name.
    tls: { servername: t.host, rejectUnauthorized: true },
  });
  // imapflow also reports failures as 'error' events; without a listener one would crash the daemon.
  client.on('error', (err: Error) => logger.debug({ err, account: t.account }, 'imap connection error'));
  let during = 'connecting';
  const step = (what: string): void => {
    during = what;
  };
  const onAbort = (): void => client.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
    during = 'working';
    const result = await fn(client, step);
    during = 'logging out';
    // The result is in hand: a server slow to confirm LOGOUT must not hold it back (the
    // connection is closed below either way).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.logout().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, 2_000)))]);
    clearTimeout(timer);
    return result;
  } catch (err) {
    throw imapError(err, t, during, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    client.close();
  }
}
