/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the registries at request time: one
 * path per registered query and action (its input schema as the request body, its output schema
 * as the answer), plus the fixed routes of docs/http-api.md.
 */
import type { RegisteredOperation } from '../registry/index.js';

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string', description: 'A stable code of src/errors (INVALID_INPUT, UNKNOWN_METHOD, …).' }, message: { type: 'string' }, details: { type: 'object' } },
    },
  },
};

const errorResponse = { description: 'A typed error; the HTTP status follows its code (docs/http-api.md, "Errors").', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };

function jsonOk(description: string, schema: unknown = {}): Record<string, unknown> {
  return { '200': { description, content: { 'application/json': { schema } } }, default: errorResponse };
}

const libraryParam = { name: 'X-Library-Id', in: 'header', required: false, schema: { type: 'string' }, description: 'The library the call runs against (library-scoped operations; default library when absent).' };

function fixedRoute(method: 'get' | 'post' | 'delete', summary: string, operation: string | null, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { [method]: { summary, ...(operation ? { description: `Calls \`${operation}\`.` } : {}), responses: jsonOk(summary), ...extra } };
}

export function buildOpenApi(operations: readonly RegisteredOperation[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of [...operations].sort((a, b) => a.method.localeCompare(b.method))) {
    paths[`/v1/${op.kind}/${op.method}`] = {
      post: {
        operationId: op.method,
        summary: op.description.split(/(?<=\.)\s/)[0],
        description: `${op.description}\n\nOwner: \`${op.owner}\`; scope: ${op.scope}.`,
        tags: [op.owner],
        ...(op.scope === 'library' ? { parameters: [libraryParam] } : {}),
        requestBody: { required: false, content: { 'application/json': { schema: op.input } } },
        responses: jsonOk('The operation\'s result.', op.output),
      },
    };
  }
  const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
  Object.assign(paths, {
    '/v1/login': fixedRoute('post', 'Starts a browser session: sets the sd_session cookie and returns the CSRF token.', null, {
      security: [],
      requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['token'], properties: { token: { type: 'string' } } } } } },
    }),
    '/v1/logout': fixedRoute('post', 'Ends the browser session.', null),
    '/v1/session': fixedRoute('get', 'Whether the request is authenticated, and the session\'s CSRF token.', null, { security: [] }),
    '/v1/methods': fixedRoute('get', 'Every registered method with its schemas.', 'query:core.methods.v1'),
    '/v1/status': fixedRoute('get', 'Daemon status.', 'query:core.status.v1'),
    '/v1/libraries': fixedRoute('get', 'Libraries.', 'query:libraries.list.v1'),
    '/v1/jobs': {
      ...fixedRoute('get', 'Jobs, newest first.', 'query:jobs.list.v1', {
        parameters: ['status', 'type', 'owner', 'limit', 'cursor'].map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })),
      }),
      ...fixedRoute('post', 'Dispatches a job.', 'action:jobs.dispatch.input.v1', {
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['type'], properties: { type: { type: 'string' }, params: {}, library_id: { type: 'string' } } } } } },
      }),
    },
    '/v1/jobs/{id}': fixedRoute('get', 'One job.', 'query:jobs.get_status.v1', { parameters: [idParam('id')] }),
    '/v1/jobs/{id}/logs': fixedRoute('get', "A job's log.", 'query:jobs.logs.v1', { parameters: [idParam('id')] }),
    ...Object.fromEntries(['pause', 'resume', 'cancel', 'retry'].map((v) => [`/v1/jobs/{id}/${v}`, fixedRoute('post', `${v[0]!.toUpperCase()}${v.slice(1)}s a job.`, `action:jobs.${v}.input.v1`, { parameters: [idParam('id')] })])),
    '/v1/job-types': fixedRoute('get', 'Registered job types with their params schemas.', 'query:jobs.types.v1'),
    '/v1/extensions': fixedRoute('get', 'Installed extensions with their info.', 'query:extensions.list.v1'),
    '/v1/extensions/install': fixedRoute('post', 'Installs an uploaded extension package (multipart, or JSON with base64 files).', 'action:extensions.install.input.v1'),
    '/v1/extensions/{id}': {
      ...fixedRoute('get', 'One extension.', 'query:extensions.info.v1', { parameters: [idParam('id')] }),
      ...fixedRoute('delete', 'Uninstalls an extension.', 'action:extensions.uninstall.input.v1', { parameters: [idParam('id')] }),
    },
    ...Object.fromEntries(['enable', 'disable', 'reload'].map((v) => [`/v1/extensions/{id}/${v}`, fixedRoute('post', `${v[0]!.toUpperCase()}${v.slice(1)}s an extension.`, `action:extensions.${v}.input.v1`, { parameters: [idParam('id')] })])),
    '/v1/events': { get: { summary: 'Server-Sent Events: job and extension events as the wire\'s Subscribe sends them.', responses: { '200': { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, default: errorResponse } } },
  });
  return {
    openapi: '3.1.0',
    info: { title: 'Spacedrive daemon HTTP API', version, description: 'Generated from the registered operations at request time; see docs/http-api.md.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { session: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'The token printed by `spacedrive daemon token`.' },
        session: { type: 'apiKey', in: 'cookie', name: 'sd_session', description: 'Set by POST /v1/login; writes also need the X-CSRF-Token header.' },
      },
      schemas: { Error: errorSchema },
    },
    paths,
  };
}
