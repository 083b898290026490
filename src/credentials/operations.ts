/**
 * The credentials capability's operations. Who owns a credential follows from the caller: an
 * extension's calls are scoped to its own id (`ext:<id>`) and may not name another owner; clients
 * and core code pass `owner` (default `user`).
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { OperationContext } from '../registry/index.js';
import { operationsWith } from '../modules/index.js';
import { MAX_SECRET_BYTES, NAME_PATTERN, OWNER_PATTERN, extensionOwner, type Credential, type CredentialStore, type CredentialSummary } from './store.js';

/** The services credential handlers see as `ctx.core` (the credentials module declares them). */
export interface CredentialHandlerServices {
  credentials: CredentialStore;
}
const defineOperation = operationsWith<CredentialHandlerServices>();

/** Owner used when a client or core code names none. */
export const DEFAULT_OWNER = 'user';

/** The owner a call acts for; PERMISSION_DENIED when an extension names someone else's. */
export function resolveOwner(ctx: Pick<OperationContext, 'caller'>, asked: string | undefined): string {
  const { caller } = ctx;
  if (caller.kind === 'extension') {
    const own = extensionOwner(caller.extensionId ?? '');
    if (asked !== undefined && asked !== own) {
      throw new SpacedriveError(
        ErrorCode.PERMISSION_DENIED,
        `extension '${caller.extensionId}' may use only its own credentials (owner '${own}'), not those of '${asked}'`,
        { extension: caller.extensionId, owner: asked, missing: `credentials of '${asked}' (an extension reads only its own)` },
      );
    }
    return own;
  }
  return asked ?? DEFAULT_OWNER;
}

const name = { type: 'string', pattern: NAME_PATTERN, description: 'The credential\'s name (an account, a service).' };
const owner = {
  type: 'string',
  pattern: OWNER_PATTERN,
  description: "Whose credential: 'user' (default), a core capability ('mail'), or 'ext:<extension-id>'. Extensions always act for themselves.",
};
const metadata = { type: 'object', description: 'Not secret: stored in clear and shown by list (host, user name, scopes…).' };
const time = { type: 'string', format: 'date-time' };
const summaryProps = { owner: { type: 'string' }, name: { type: 'string' }, metadata, created_at: time, updated_at: time };
const summarySchema = { type: 'object', required: ['owner', 'name', 'metadata', 'created_at', 'updated_at'], properties: summaryProps };

export const credentialsStore = defineOperation<{ name: string; secret: string; metadata?: Record<string, unknown>; owner?: string }, CredentialSummary>({
  method: 'action:credentials.store.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Stores a secret (replacing one of the same name), encrypted at rest with AES-256-GCM. The secret is never returned by list.',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'secret'],
    properties: {
      name,
      secret: { type: 'string', maxLength: MAX_SECRET_BYTES, description: `The secret (at most ${MAX_SECRET_BYTES} bytes of UTF-8).` },
      metadata,
      owner,
    },
  },
  output: summarySchema,
  handler: (input, ctx) => ctx.core.credentials.put(resolveOwner(ctx, input.owner), input.name, input.secret, input.metadata ?? {}),
});

export const credentialsGet = defineOperation<{ name: string; owner?: string }, Credential>({
  method: 'query:credentials.get.v1',
  kind: 'query',
  scope: 'core',
  description: 'A stored secret, decrypted, with its metadata and times. NOT_FOUND when there is none.',
  input: { type: 'object', additionalProperties: false, required: ['name'], properties: { name, owner } },
  output: { type: 'object', required: ['owner', 'name', 'secret', 'metadata', 'created_at', 'updated_at'], properties: { ...summaryProps, secret: { type: 'string' } } },
  handler: (input, ctx) => ctx.core.credentials.get(resolveOwner(ctx, input.owner), input.name),
});

export const credentialsDelete = defineOperation<{ name: string; owner?: string }, { owner: string; name: string; deleted: true }>({
  method: 'action:credentials.delete.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Deletes a stored secret. NOT_FOUND when there is none.',
  input: { type: 'object', additionalProperties: false, required: ['name'], properties: { name, owner } },
  output: { type: 'object', required: ['owner', 'name', 'deleted'], properties: { owner: { type: 'string' }, name: { type: 'string' }, deleted: { const: true } } },
  handler: (input, ctx) => ctx.core.credentials.delete(resolveOwner(ctx, input.owner), input.name),
});

export const credentialsList = defineOperation<{ owner?: string }, { owner: string; credentials: CredentialSummary[] }>({
  method: 'query:credentials.list.v1',
  kind: 'query',
  scope: 'core',
  description: 'Names and metadata of an owner\'s credentials (never the secrets).',
  input: { type: 'object', additionalProperties: false, properties: { owner } },
  output: { type: 'object', required: ['owner', 'credentials'], properties: { owner: { type: 'string' }, credentials: { type: 'array', items: summarySchema } } },
  handler: async (input, ctx) => {
    const o = resolveOwner(ctx, input.owner);
    return { owner: o, credentials: await ctx.core.credentials.list(o) };
  },
});

export const credentialsOperations = [credentialsStore, credentialsGet, credentialsDelete, credentialsList];

// Typed client calls, by declaration merging.
declare module '../client/types.js' {
  interface KnownQueries {
    'query:credentials.get.v1': { input: { name: string; owner?: string }; output: Credential };
    'query:credentials.list.v1': { input: { owner?: string }; output: { owner: string; credentials: CredentialSummary[] } };
  }
  interface KnownActions {
    'action:credentials.store.input.v1': { input: { name: string; secret: string; metadata?: Record<string, unknown>; owner?: string }; output: CredentialSummary };
    'action:credentials.delete.input.v1': { input: { name: string; owner?: string }; output: { owner: string; name: string; deleted: true } };
  }
}
