/**
 * The host's HTTP fetch, on Node's fetch (undici). Redirects are followed by hand so that every
 * hop is checked against the caller's allowed hosts; the whole exchange (redirects and body) has
 * one time limit; the response body is read as a stream and refused, not truncated, past its
 * size limit.
 *
 * Non-public addresses (loopback, private networks, link-local, …) are reached by a restricted
 * caller only through entries that name them: an IP literal (`127.0.0.1`, `192.168.1.10:8080`,
 * `::1`) or `localhost`. A host name allowed by a name or wildcard entry is resolved once per
 * connection, the connection goes to the addresses checked, and if any of them is not public the
 * request is refused: DNS (a rebinding attack, a stale record) cannot turn an allowed public name
 * into a way into this machine or its network.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent } from 'undici';
import type { HttpOptions } from '../config/index.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { decodeBase64Field } from '../schema/index.js';

/** `action:http.fetch.input.v1`'s input. */
export interface HttpFetchRequest {
  url: string;
  /** Default GET. */
  method?: string;
  headers?: Record<string, string>;
  /** Request body, base64. */
  body?: string;
  /** Request body as UTF-8 text (instead of `body`). */
  body_text?: string;
  timeout_ms?: number;
  max_response_bytes?: number;
}

/** `action:http.fetch.input.v1`'s output. */
export interface HttpFetchResponse {
  status: number;
  status_text: string;
  /** The URL that answered, after redirects. */
  url: string;
  redirects: number;
  /** Lower-case names; repeated headers joined with ", " (set-cookie with "\n"). */
  headers: Record<string, string>;
  /** Response body, base64. */
  body: string;
  /** The body decoded as UTF-8, for text, JSON and XML content types. */
  body_text?: string;
  /** Always false: a body over the limit is an HTTP_TOO_LARGE error instead. */
  truncated: false;
}

export interface HostFetchOptions {
  /** Hosts the caller may reach (`example.com`, `*.example.com`, `127.0.0.1:8080`); `undefined` = anywhere. */
  allowedHosts?: readonly string[] | undefined;
  /** Who is calling, for messages (`extension 'x'`). */
  who?: string;
  limits: HttpOptions;
  /** How errors name the limits (default the host options `http.maxTimeoutMs`, `http.maxResponseBytes`). */
  limitNames?: { timeout: string; maxResponse: string };
  /** The caller went away. */
  signal?: AbortSignal | undefined;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const TEXT_TYPE = /^(text\/|application\/([a-z0-9.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded)\b)/i;

/** The host part of a URL as permission entries write it: lower case, IPv6 without brackets. */
function hostOf(url: URL): string {
  const h = url.hostname.toLowerCase();
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

function defaultPort(url: URL): string {
  return url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
}

/**
 * True when `url` is covered by one of `allowed`: an exact host (any port), `host:port`, or a
 * wildcard `*.example.com` covering every subdomain of example.com (not example.com itself).
 */
export function hostAllowed(url: URL, allowed: readonly string[]): boolean {
  const host = hostOf(url);
  const port = defaultPort(url);
  for (const raw of allowed) {
    let entry = raw.trim().toLowerCase();
    let entryPort: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      entry = bracketed[1]!;
      entryPort = bracketed[2];
    } else {
      const m = /^([^:]+):(\d+)$/.exec(entry);
      if (m) {
        entry = m[1]!;
        entryPort = m[2];
      }
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    if (entry === '*') return true;
    if (entry.startsWith('*.')) {
      if (host.endsWith(entry.slice(1)) && host.length > entry.length - 1) return true;
    } else if (entry === host) {
      return true;
    }
  }
  return false;
}

/** Addresses that are not on the public internet (RFC 6890 special-purpose ranges, among others). */
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24],
  ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['2001:db8::', 32], ['64:ff9b::', 96], ['100::', 64]] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');
}

/** True when `address` (an IP literal) is loopback, private, link-local or otherwise not public. */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return NON_PUBLIC.check(address, 'ipv4');
  if (family !== 6) return false;
  // IPv4-mapped IPv6 (::ffff:127.0.0.1) is the IPv4 address it carries.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return NON_PUBLIC.check(mapped[1]!, 'ipv4');
  return NON_PUBLIC.check(address, 'ipv6');
}

/** Whether an entry of `allowed` names `url`'s host itself (an IP literal or `localhost`), not through a name or wildcard. */
function namesAddress(url: URL, allowed: readonly string[]): boolean {
  const host = hostOf(url);
  return (host === 'localhost' || isIP(host) !== 0) && hostAllowed(url, allowed.filter((entry) => !entry.includes('*')));
}

class NonPublicAddressError extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`'${host}' resolves to ${address}, which is not a public address`);
  }
}

/**
 * The connections of restricted callers to hosts allowed by name: resolved here, refused when any
 * address is not public, and connected to the addresses checked (no second lookup to rebind).
 */
let publicOnly: Agent | undefined;
function publicOnlyAgent(): Agent {
  publicOnly ??= new Agent({
    connect: {
      lookup: (hostname, options, callback) => {
        dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
          if (err) return callback(err, []);
          const bad = addresses.find((a) => isNonPublicAddress(a.address));
          if (bad) return callback(new NonPublicAddressError(hostname, bad.address), []);
          // net.connect asks for every address when it races IPv4 and IPv6, else for one.
          if ((options as { all?: boolean }).all) return callback(null, addresses);
          (callback as unknown as (e: null, address: string, family: number) => void)(null, addresses[0]!.address, addresses[0]!.family);
        });
      },
    },
  });
  return publicOnly;
}

function nonPublicDenied(o: HostFetchOptions, host: string, address: string, redirected: boolean): SpacedriveError {
  const via = host === address ? `'${host}' is` : `'${host}' resolves to ${address}, which is`;
  return new SpacedriveError(
    ErrorCode.PERMISSION_DENIED,
    `${o.who ?? 'the caller'} may not reach ${via} a loopback, private or otherwise non-public address${redirected ? ' (a redirect led there)' : ''}: only an entry naming that address (or localhost) in permissions.network allows it`,
    { host, address, missing: `permissions.network: ${address}`, redirected },
  );
}

function parseUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `${what} '${text}' is not a valid absolute URL`, { field: 'url', url: text });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `${what} '${text}' uses ${url.protocol.replace(/:$/, '')}; only http and https are supported`, { field: 'url', url: text });
  }
  if (url.username !== '' || url.password !== '') {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `${what} must not carry a user name or password; send an Authorization header instead`, { field: 'url' });
  }
  return url;
}

/**
 * Checks `url` against the caller's allowed hosts. Returns the dispatcher to fetch it with: the
 * public-only one for a restricted caller reaching a host by name (see the file comment).
 */
function checkHost(url: URL, o: HostFetchOptions, redirected: boolean): Agent | undefined {
  if (o.allowedHosts === undefined) return undefined;
  const host = hostOf(url);
  if (hostAllowed(url, o.allowedHosts)) {
    if (namesAddress(url, o.allowedHosts)) return undefined;
    if (isIP(host) !== 0) {
      if (isNonPublicAddress(host)) throw nonPublicDenied(o, host, host, redirected);
      return undefined;
    }
    return publicOnlyAgent();
  }
  throw new SpacedriveError(
    ErrorCode.PERMISSION_DENIED,
    `${o.who ?? 'the caller'} may not reach '${host}'${redirected ? ' (a redirect led there)' : ''}: add it to permissions.network in the manifest`,
    { host, url: url.href, missing: `permissions.network: ${host}`, redirected },
  );
}

function requestBody(req: HttpFetchRequest, limits: HttpOptions): Buffer | undefined {
  if (req.body !== undefined && req.body_text !== undefined) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, 'give either body (base64) or body_text, not both', { field: 'body' });
  }
  let body: Buffer | undefined;
  if (req.body !== undefined) body = decodeBase64Field('body', req.body);
  else if (req.body_text !== undefined) body = Buffer.from(req.body_text, 'utf8');
  if (body && body.length > limits.maxRequestBytes) {
    throw new SpacedriveError(ErrorCode.HTTP_TOO_LARGE, `the request body is ${body.length} bytes, more than the limit of ${limits.maxRequestBytes} (http.maxRequestBytes)`, {
      limit: limits.maxRequestBytes,
      size: body.length,
    });
  }
  return body;
}

function bounded(asked: number | undefined, fallback: number, ceiling: number, field: string, limitName: string): number {
  const value = asked ?? fallback;
  if (value > ceiling) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `${field} ${value} is above the limit of ${ceiling} (${limitName})`, { field, ceiling, limit: limitName });
  }
  return value;
}

/** Reads `res`'s body, refusing it (and cancelling the transfer) past `max` bytes. */
async function readBody(res: Response, max: number, url: string): Promise<Buffer> {
  const tooLarge = (size: string) =>
    new SpacedriveError(ErrorCode.HTTP_TOO_LARGE, `the response from ${url} is ${size}, more than the limit of ${max} bytes (max_response_bytes)`, { limit: max, url });
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(`${declared} bytes`);
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(`over ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

function headersOf(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((value, name) => {
    out[name] = value;
  });
  const cookies = h.getSetCookie();
  if (cookies.length > 0) out['set-cookie'] = cookies.join('\n');
  return out;
}

/**
 * Performs the request. Throws PERMISSION_DENIED (host not allowed, also after a redirect),
 * INVALID_INPUT (bad URL, method, limits), HTTP_TOO_LARGE, TIMEOUT, CANCELLED or HTTP_FAILED;
 * an HTTP error status is a normal response.
 */
export async function hostFetch(req: HttpFetchRequest, o: HostFetchOptions): Promise<HttpFetchResponse> {
  const limits = o.limits;
  let url = parseUrl(req.url, 'url');
  let dispatcher = checkHost(url, o, false);
  const names = o.limitNames ?? { timeout: 'http.maxTimeoutMs', maxResponse: 'http.maxResponseBytes' };
  const timeoutMs = bounded(req.timeout_ms, limits.defaultTimeoutMs, limits.maxTimeoutMs, 'timeout_ms', names.timeout);
  const maxBytes = bounded(req.max_response_bytes, limits.defaultMaxResponseBytes, limits.maxResponseBytes, 'max_response_bytes', names.maxResponse);
  let method = (req.method ?? 'GET').toUpperCase();
  let body = requestBody(req, limits);
  if (body && (method === 'GET' || method === 'HEAD')) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `a ${method} request cannot have a body`, { field: 'body' });
  }
  const headers = new Headers();
  try {
    for (const [k, v] of Object.entries(req.headers ?? {})) headers.append(k, v);
  } catch (err) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `bad request header: ${(err as Error).message}`, { field: 'headers' });
  }

  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = o.signal ? AbortSignal.any([timeout, o.signal]) : timeout;
  const failed = (err: unknown): SpacedriveError => {
    if (timeout.aborted) {
      return new SpacedriveError(ErrorCode.TIMEOUT, `the request to ${url.href} did not complete within ${timeoutMs} ms (timeout_ms)`, { url: url.href, timeout_ms: timeoutMs });
    }
    if (o.signal?.aborted) return new SpacedriveError(ErrorCode.CANCELLED, `the request to ${url.href} was cancelled: the caller went away`, { url: url.href });
    if (err instanceof SpacedriveError) return err;
    const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
    if (cause instanceof NonPublicAddressError) return nonPublicDenied(o, cause.host, cause.address, redirects > 0);
    const reason = cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
    return new SpacedriveError(ErrorCode.HTTP_FAILED, `the request to ${url.href} failed: ${reason}`, { url: url.href, reason });
  };

  let redirects = 0;
  try {
    for (;;) {
      const res = await fetch(url, {
        method,
        headers,
        ...(body ? { body } : {}),
        redirect: 'manual',
        signal,
        // Node's fetch takes an undici dispatcher; its own types do not declare the option.
        ...(dispatcher ? ({ dispatcher } as object) : {}),
      });
      const location = res.headers.get('location');
      if (REDIRECT_STATUSES.has(res.status) && location !== null) {
        await res.body?.cancel().catch(() => undefined);
        if (redirects >= limits.maxRedirects) {
          throw new SpacedriveError(ErrorCode.HTTP_FAILED, `too many redirects from ${req.url} (more than ${limits.maxRedirects}, http.maxRedirects)`, {
            url: req.url,
            limit: limits.maxRedirects,
          });
        }
        const next = parseUrl(new URL(location, url).href, 'redirect target');
        dispatcher = checkHost(next, o, true);
        // Credentials are not carried to another origin (what browsers and curl do).
        if (next.origin !== url.origin) {
          headers.delete('authorization');
          headers.delete('cookie');
        }
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          if (method !== 'HEAD') method = 'GET';
          body = undefined;
          headers.delete('content-type');
          headers.delete('content-length');
        }
        url = next;
        redirects++;
        continue;
      }
      const data = await readBody(res, maxBytes, url.href);
      const out: HttpFetchResponse = {
        status: res.status,
        status_text: res.statusText,
        url: url.href,
        redirects,
        headers: headersOf(res.headers),
        body: data.toString('base64'),
        truncated: false,
      };
      const type = res.headers.get('content-type');
      if (type !== null && TEXT_TYPE.test(type)) out.body_text = new TextDecoder('utf-8').decode(data);
      return out;
    }
  } catch (err) {
    throw failed(err);
  }
}
