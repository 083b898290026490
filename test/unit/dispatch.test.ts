/**
 * The dispatcher's middleware (src/dispatch) with a real core, and the pure mappings of the HTTP
 * transports: GraphQL field names and HTTP statuses from error codes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { Dispatcher, type Middleware } from '../../src/dispatch/index.js';
import { ErrorCode, httpStatusOf } from '../../src/errors/index.js';
import { graphqlFieldName } from '../../src/http-server/graphql.js';
import { silentLogger } from '../../src/logging/index.js';
import { defineOperation, type Caller } from '../../src/registry/index.js';

describe('Dispatcher', () => {
  let dir: string;
  let core: Core;
  let release: (() => void) | null = null;
  const seen: Caller[] = [];
  const whoami = defineOperation<Record<string, never>, { kind: string }>({
    method: 'query:test.whoami.v1',
    kind: 'query',
    scope: 'core',
    description: 'The caller kind, as the operation sees it.',
    input: { type: 'object' },
    output: { type: 'object' },
    handler: (_i, ctx) => {
      seen.push(ctx.caller);
      return { kind: ctx.caller.kind };
    },
  });
  const block = defineOperation<Record<string, never>, null>({
    method: 'query:test.block.v1',
    kind: 'query',
    scope: 'core',
    description: 'Waits until the test releases it.',
    input: { type: 'object' },
    output: {},
    handler: () => new Promise<null>((resolve) => (release = () => resolve(null))),
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-dispatch-'));
    core = await Core.create(loadOptions({ overrides: { dataDir: dir }, env: {} }), { logger: silentLogger(), extraOperations: [whoami, block] });
  });
  afterEach(async () => {
    release?.();
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes every transport call as a client, whatever caller it names', async () => {
    const dispatcher = new Dispatcher({ core, logger: silentLogger() });
    const pretend: Caller = { kind: 'extension', extensionId: 'finance', chain: ['finance'] };
    for (const transport of ['wire', 'http', 'graphql'] as const) {
      await expect(dispatcher.dispatch({ method: 'query:test.whoami.v1', payload: {}, libraryId: null, transport, caller: pretend })).resolves.toEqual({ kind: 'client' });
    }
    await expect(dispatcher.dispatch({ method: 'query:test.whoami.v1', payload: {}, libraryId: null, transport: 'internal', caller: pretend })).resolves.toEqual({ kind: 'extension' });
    await expect(dispatcher.dispatch({ method: 'query:test.whoami.v1', payload: {}, libraryId: null, transport: 'internal' })).resolves.toEqual({ kind: 'internal' });
  });

  it('counts calls and failures per transport, refuses past the in-flight limit and after close', async () => {
    const dispatcher = new Dispatcher({ core, logger: silentLogger(), maxInFlight: 1 });
    const blocked = dispatcher.dispatch({ method: 'query:test.block.v1', payload: {}, libraryId: null, transport: 'http' });
    await expect(dispatcher.dispatch({ method: 'query:test.whoami.v1', payload: {}, libraryId: null, transport: 'wire' })).rejects.toMatchObject({ code: ErrorCode.OVERLOADED });
    release!();
    await blocked;
    await expect(dispatcher.dispatch({ method: 'query:test.nope.v1', payload: {}, libraryId: null, transport: 'graphql' })).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_METHOD });
    await expect(dispatcher.dispatch({ method: 'query:test.whoami.v1', payload: {}, libraryId: null, transport: 'graphql', kind: 'action' })).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_METHOD });
    expect(dispatcher.counters()).toMatchObject({ in_flight: 0, http_calls: 1, http_errors: 0, wire_calls: 1, wire_errors: 1, graphql_calls: 2, graphql_errors: 2 });
    dispatcher.close();
    await expect(dispatcher.dispatch({ method: 'query:test.whoami.v1', payload: {}, libraryId: null, transport: 'http' })).rejects.toMatchObject({ code: ErrorCode.SHUTTING_DOWN });
  });

  it('runs extra middleware around every call, which may refuse it', async () => {
    const log: string[] = [];
    const audit: Middleware = async (call, next) => {
      log.push(`${call.transport}:${call.method}`);
      if (call.method.includes('block')) throw Object.assign(new Error('no'), { code: ErrorCode.PERMISSION_DENIED });
      return next(call);
    };
    const dispatcher = new Dispatcher({ core, logger: silentLogger(), middleware: [audit] });
    await dispatcher.dispatch({ method: 'query:test.whoami.v1', payload: {}, libraryId: null, transport: 'wire' });
    await expect(dispatcher.dispatch({ method: 'query:test.block.v1', payload: {}, libraryId: null, transport: 'http' })).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    expect(log).toEqual(['wire:query:test.whoami.v1', 'http:query:test.block.v1']);
  });
});

describe('transport mappings', () => {
  it('names GraphQL fields predictably', () => {
    expect(graphqlFieldName('query:jobs.list.v1')).toBe('jobs_list');
    expect(graphqlFieldName('query:jobs.get_status.v1')).toBe('jobs_getStatus');
    expect(graphqlFieldName('action:jobs.dispatch.input.v1')).toBe('jobs_dispatch');
    expect(graphqlFieldName('query:finance:classify_receipt.v1')).toBe('finance_classifyReceipt');
    expect(graphqlFieldName('action:finance-rs:import_csv.input.v3')).toBe('finance_rs_importCsv_v3');
    expect(graphqlFieldName('query:core.status.v2')).toBe('core_status_v2');
    expect(graphqlFieldName('not a method')).toBeUndefined();
  });

  it('maps error codes to HTTP statuses in one place', () => {
    expect(httpStatusOf(ErrorCode.INVALID_INPUT)).toBe(400);
    expect(httpStatusOf(ErrorCode.UNAUTHENTICATED)).toBe(401);
    expect(httpStatusOf(ErrorCode.PERMISSION_DENIED)).toBe(403);
    expect(httpStatusOf(ErrorCode.UNKNOWN_METHOD)).toBe(404);
    expect(httpStatusOf(ErrorCode.JOB_NOT_FOUND)).toBe(404);
    expect(httpStatusOf(ErrorCode.INVALID_JOB_STATE)).toBe(409);
    expect(httpStatusOf(ErrorCode.OVERLOADED)).toBe(503);
    expect(httpStatusOf(ErrorCode.STORAGE_FULL)).toBe(507);
    expect(httpStatusOf(ErrorCode.OPERATION_FAILED)).toBe(500);
    expect(httpStatusOf('SOMETHING_NEW')).toBe(500);
  });
});
