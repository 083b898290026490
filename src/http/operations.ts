/**
 * `action:http.fetch.input.v1`. From an extension only the hosts in its manifest's
 * `permissions.network` are reachable (redirects included), and non-public addresses only through
 * entries that name them (see fetch.ts); clients and core code are not restricted.
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { OperationContext } from '../registry/index.js';
import { operationsWith, type BaseServices } from '../modules/index.js';
import type { ExtensionManager } from '../extensions/manager.js';
import { hostFetch, type HostFetchOptions, type HttpFetchRequest, type HttpFetchResponse } from './fetch.js';

/** The services the HTTP handler sees as `ctx.core` (the http module declares them). */
export interface HttpHandlerServices {
  options: BaseServices['options'];
  extensions: Pick<ExtensionManager, 'grants'>;
}
const defineOperation = operationsWith<HttpHandlerServices>();

/**
 * What `ctx`'s caller may do: for an extension, the hosts of its `permissions.network`, its
 * manifest's `limits.http_timeout_ms` / `limits.http_max_response_bytes` as defaults and ceilings,
 * and a default time limit that ends before its own call does (so it gets a TIMEOUT it can handle
 * rather than being stopped); clients and core code may reach any host, within the host's `http`
 * options.
 */
export function fetchOptionsOf(ctx: Pick<OperationContext<HttpHandlerServices>, 'caller' | 'core' | 'signal'>): HostFetchOptions {
  const limits = ctx.core.options.http;
  if (ctx.caller.kind !== 'extension') return { limits, signal: ctx.signal };
  const id = ctx.caller.extensionId ?? '';
  const grants = ctx.core.extensions.grants(id);
  if (!grants) {
    throw new SpacedriveError(ErrorCode.PERMISSION_DENIED, `extension '${id}' is not loaded, so it is granted nothing`, { extension: id, missing: 'permissions.network' });
  }
  const g = grants.limits;
  const callMs = g.call_timeout_ms;
  const defaultTimeoutMs = Math.max(1, Math.min(g.http_timeout_ms, callMs - Math.min(500, Math.floor(callMs / 10))));
  return {
    allowedHosts: grants.permissions.network,
    who: `extension '${id}'`,
    limits: { ...limits, defaultTimeoutMs, maxTimeoutMs: g.http_timeout_ms, defaultMaxResponseBytes: g.http_max_response_bytes, maxResponseBytes: g.http_max_response_bytes },
    limitNames: { timeout: 'limits.http_timeout_ms', maxResponse: 'limits.http_max_response_bytes' },
    signal: ctx.signal,
  };
}

export const httpFetch = defineOperation<HttpFetchRequest, HttpFetchResponse>({
  method: 'action:http.fetch.input.v1',
  kind: 'action',
  scope: 'core',
  description:
    "HTTP(S) request through the host. Extensions reach only the hosts in their manifest's permissions.network (redirects are checked too); a response over max_response_bytes is an HTTP_TOO_LARGE error, never truncated.",
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      url: { type: 'string', minLength: 1, maxLength: 8192, description: 'Absolute http:// or https:// URL.' },
      method: { type: 'string', pattern: '^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|get|head|post|put|patch|delete|options)$', default: 'GET' },
      headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'Request headers.' },
      body: { type: 'string', contentEncoding: 'base64', description: 'Request body (base64).' },
      body_text: { type: 'string', description: 'Request body as text (UTF-8), instead of body.' },
      timeout_ms: { type: 'integer', minimum: 1, description: 'Time limit of the whole exchange (default http.defaultTimeoutMs, at most http.maxTimeoutMs).' },
      max_response_bytes: { type: 'integer', minimum: 0, description: 'Largest response body accepted (default http.defaultMaxResponseBytes, at most http.maxResponseBytes).' },
    },
  },
  output: {
    type: 'object',
    required: ['status', 'status_text', 'url', 'redirects', 'headers', 'body', 'truncated'],
    properties: {
      status: { type: 'integer' },
      status_text: { type: 'string' },
      url: { type: 'string' },
      redirects: { type: 'integer', minimum: 0 },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      body: { type: 'string', contentEncoding: 'base64' },
      body_text: { type: 'string' },
      truncated: { const: false },
    },
  },
  handler: (input, ctx) => hostFetch(input, fetchOptionsOf(ctx)),
});

export const httpOperations = [httpFetch];

// Typed client calls (`client.action('action:http.fetch.input.v1', …)`), by declaration merging.
declare module '../client/types.js' {
  interface KnownActions {
    'action:http.fetch.input.v1': { input: HttpFetchRequest; output: HttpFetchResponse };
  }
}
