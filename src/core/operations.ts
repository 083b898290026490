/** Core's own queries: status and the method catalogue. */
import { defineModule, operationsWith, type BaseServices } from '../modules/index.js';

/** The services core's own handlers see as `ctx.core` (the core module declares them). */
export type CoreHandlerServices = Pick<BaseServices, 'version' | 'startedAt' | 'options' | 'coreRegistry' | 'runtimeRegistry' | 'executor' | 'counters'>;
const defineOperation = operationsWith<CoreHandlerServices>();

export const coreStatus = defineOperation<Record<string, never>, {
  version: string;
  uptime_ms: number;
  started_at: string;
  data_dir: string;
  pid: number;
  counts: Record<string, number>;
}>({
  method: 'query:core.status.v1',
  kind: 'query',
  scope: 'core',
  description: 'Version, uptime, data directory and counters of the running core.',
  input: { type: 'object', additionalProperties: false, properties: {} },
  output: {
    type: 'object',
    required: ['version', 'uptime_ms', 'started_at', 'data_dir', 'pid', 'counts'],
    properties: {
      version: { type: 'string' },
      uptime_ms: { type: 'integer' },
      started_at: { type: 'string' },
      data_dir: { type: 'string' },
      pid: { type: 'integer' },
      counts: { type: 'object', additionalProperties: { type: 'number' } },
    },
  },
  handler: async (_input, { core }) => {
    const counts: Record<string, number> = {
      core_methods: core.coreRegistry.list().length,
      extension_methods: core.runtimeRegistry.list().length,
    };
    // Read together: a capability whose counts are a query does not hold up the others.
    const groups = [...core.counters];
    const read = await Promise.all(groups.map(([, readCounts]) => readCounts()));
    groups.forEach(([prefix], i) => {
      for (const [k, v] of Object.entries(read[i]!)) counts[`${prefix}_${k}`] = v;
    });
    return {
      version: core.version,
      uptime_ms: Date.now() - core.startedAt,
      started_at: new Date(core.startedAt).toISOString(),
      data_dir: core.options.dataDir,
      pid: process.pid,
      counts,
    };
  },
});

export interface MethodInfo {
  method: string;
  kind: 'query' | 'action';
  scope: 'core' | 'library';
  owner: string;
  description: string;
  input_schema: unknown;
  output_schema: unknown;
}

export const coreMethods = defineOperation<{ filter?: string; owner?: string; kind?: 'query' | 'action' }, { methods: MethodInfo[] }>({
  method: 'query:core.methods.v1',
  kind: 'query',
  scope: 'core',
  description: 'Every registered method (core and extensions) with its kind, owner, schemas and description.',
  input: {
    type: 'object',
    additionalProperties: false,
    properties: {
      filter: { type: 'string', description: 'Keep methods whose name contains this text.' },
      owner: { type: 'string', description: '`core` or an extension id.' },
      kind: { enum: ['query', 'action'] },
    },
  },
  output: {
    type: 'object',
    required: ['methods'],
    properties: { methods: { type: 'array', items: { type: 'object', required: ['method', 'kind', 'owner'] } } },
  },
  handler: (input, { core }) => {
    const methods = core.executor
      .list()
      .filter((op) => (input.filter ? op.method.includes(input.filter) : true))
      .filter((op) => (input.owner ? op.owner === input.owner : true))
      .filter((op) => (input.kind ? op.kind === input.kind : true))
      .map((op) => ({
        method: op.method,
        kind: op.kind,
        scope: op.scope,
        owner: op.owner,
        description: op.description,
        input_schema: op.input,
        output_schema: op.output,
      }))
      .sort((a, b) => a.method.localeCompare(b.method));
    return { methods };
  },
});

export const coreOperations = [coreStatus, coreMethods];

/** Core's own module (`core`): status and the method catalogue, over the base services. */
export const coreModule = defineModule<{}, undefined, CoreHandlerServices>()({
  name: 'core',
  dependsOn: [],
  operationsUse: ['version', 'startedAt', 'options', 'coreRegistry', 'runtimeRegistry', 'executor', 'counters'],
  operations: coreOperations,
});
