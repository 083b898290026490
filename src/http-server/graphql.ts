/**
 * GraphQL generated from the registries (docs/http-api.md, "GraphQL"): each query a `Query` field,
 * each action a `Mutation` field, job and extension events a `Subscription`. The schema is built
 * again when an extension loads, unloads or reloads (its `extension:*` events), so the next request
 * sees the new operations without a restart. Every field resolves through the dispatcher, and
 * input is checked by the operation's own JSON Schema, so errors are the wire's, with their code in
 * `extensions.code`.
 */
import {
  execute,
  parse,
  validate,
  type DocumentNode,
  getOperationAST,
  GraphQLBoolean,
  GraphQLError,
  GraphQLFloat,
  GraphQLInputObjectType,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLScalarType,
  GraphQLSchema,
  GraphQLString,
  Kind,
  type GraphQLFieldConfig,
  type GraphQLFieldConfigArgumentMap,
  type GraphQLInputType,
  type GraphQLOutputType,
  type ValueNode,
} from 'graphql';
import type { Dispatcher } from '../dispatch/index.js';
import { toWireError } from '../errors/index.js';
import type { CoreEvent, EventBus, EventFilter } from '../events/index.js';
import type { Logger } from '../logging/index.js';
import { parseMethod, type OperationKind, type RegisteredOperation } from '../registry/index.js';
/** A JSON Schema object as the registries hold it (a boolean schema is treated as untyped). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type JsonSchema = Record<string, any>;

const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** Deepest nesting turned into GraphQL types; deeper values are JSON. */
const MAX_TYPE_DEPTH = 6;
/** Events a subscription may have waiting before it ends with OVERLOADED. */
const MAX_SUBSCRIPTION_BACKLOG = 10_000;
/** The argument carrying a library-scoped call's library (named so that it cannot clash with an input property). */
export const LIBRARY_ARG = '_library_id';

function camel(part: string): string {
  return part.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
}

/**
 * The GraphQL field of a method: `query:jobs.list.v1` → `jobs_list`, `query:jobs.get_status.v1` →
 * `jobs_getStatus`, `query:finance:classify_receipt.v1` → `finance_classifyReceipt`, version N > 1
 * → `_vN` suffix. undefined for a name that does not parse.
 */
export function graphqlFieldName(method: string): string | undefined {
  const parsed = parseMethod(method);
  if (!parsed) return undefined;
  const base = parsed.namespace === 'core' ? parsed.name.split('.').map(camel).join('_') : `${parsed.namespace.replace(/-/g, '_')}_${camel(parsed.name)}`;
  return parsed.version > 1 ? `${base}_v${parsed.version}` : base;
}

function jsonLiteral(ast: ValueNode, variables: Record<string, unknown> | null | undefined): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.ENUM:
      return ast.value;
    case Kind.LIST:
      return ast.values.map((v) => jsonLiteral(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, jsonLiteral(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
  }
}

/** Any JSON value, for what a schema leaves open or GraphQL cannot express. */
export const GraphQLJSON = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value (where the operation\'s JSON Schema has no GraphQL form: unions, maps, untyped values).',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: (ast, variables) => jsonLiteral(ast, variables),
});

const EventType = new GraphQLObjectType({
  name: 'Event',
  description: 'A daemon event, as the wire\'s Subscribe sends it.',
  fields: {
    type: { type: new GraphQLNonNull(GraphQLString), description: '`job:progress`, `job:completed`, `extension:loaded`, …' },
    time: { type: new GraphQLNonNull(GraphQLFloat), description: 'Milliseconds since the epoch.' },
    payload: { type: new GraphQLNonNull(GraphQLJSON) },
  },
});

function schemaType(schema: JsonSchema): string | undefined {
  const t = schema.type;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const others = t.filter((x) => x !== 'null');
    return others.length === 1 ? (others[0] as string) : undefined;
  }
  if (Array.isArray(schema.enum) || schema.const !== undefined) {
    const values = Array.isArray(schema.enum) ? schema.enum : [schema.const];
    if (values.every((v) => typeof v === 'string')) return 'string';
    if (values.every((v) => typeof v === 'number')) return 'number';
    return undefined;
  }
  if (schema.properties && typeof schema.properties === 'object') return 'object';
  return undefined;
}

function numberType(schema: JsonSchema, kind: string): GraphQLScalarType {
  if (kind !== 'integer') return GraphQLFloat;
  const min = typeof schema.minimum === 'number' ? schema.minimum : undefined;
  const max = typeof schema.maximum === 'number' ? schema.maximum : undefined;
  // GraphQL's Int is 32-bit; larger integers (times in ms, byte counts) are Float.
  return min !== undefined && max !== undefined && min >= INT32_MIN && max <= INT32_MAX ? GraphQLInt : GraphQLFloat;
}

function describe(schema: JsonSchema): string | undefined {
  const parts: string[] = [];
  if (typeof schema.description === 'string') parts.push(schema.description);
  if (Array.isArray(schema.enum)) parts.push(`One of: ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}.`);
  return parts.length > 0 ? parts.join(' ') : undefined;
}

function propertiesOf(schema: JsonSchema): Array<[string, JsonSchema]> | undefined {
  const props = schema.properties;
  if (!props || typeof props !== 'object') return undefined;
  const entries = Object.entries(props as Record<string, JsonSchema>);
  if (entries.length === 0 || !entries.every(([name]) => GRAPHQL_NAME.test(name) && !name.startsWith('__'))) return undefined;
  return entries;
}

/** Builds one schema; type names are made unique within it. */
class SchemaBuilder {
  readonly #names = new Set<string>(['Query', 'Mutation', 'Subscription', 'JSON', 'Event']);

  #typeName(hint: string): string {
    let name = hint;
    for (let i = 2; this.#names.has(name); i++) name = `${hint}_${i}`;
    this.#names.add(name);
    return name;
  }

  inputType(schema: JsonSchema, hint: string, depth = 0): GraphQLInputType {
    if (typeof schema !== 'object' || schema === null) return GraphQLJSON;
    const kind = schemaType(schema);
    switch (kind) {
      case 'string':
        return GraphQLString;
      case 'boolean':
        return GraphQLBoolean;
      case 'integer':
      case 'number':
        return numberType(schema, kind);
      case 'array': {
        const items = schema.items;
        return new GraphQLList(items && typeof items === 'object' && !Array.isArray(items) ? this.inputType(items as JsonSchema, `${hint}_item`, depth + 1) : GraphQLJSON);
      }
      case 'object': {
        const props = depth < MAX_TYPE_DEPTH ? propertiesOf(schema) : undefined;
        if (!props) return GraphQLJSON;
        const name = this.#typeName(`${hint}_Input`);
        return new GraphQLInputObjectType({
          name,
          ...(describe(schema) ? { description: describe(schema)! } : {}),
          fields: () => Object.fromEntries(props.map(([p, s]) => [p, { type: this.inputType(s, `${name}_${p}`, depth + 1), ...(describe(s) ? { description: describe(s)! } : {}) }])),
        });
      }
      default:
        return GraphQLJSON;
    }
  }

  outputType(schema: JsonSchema, hint: string, depth = 0): GraphQLOutputType {
    if (typeof schema !== 'object' || schema === null) return GraphQLJSON;
    const kind = schemaType(schema);
    switch (kind) {
      case 'string':
        return GraphQLString;
      case 'boolean':
        return GraphQLBoolean;
      case 'integer':
      case 'number':
        return numberType(schema, kind);
      case 'array': {
        const items = schema.items;
        return new GraphQLList(items && typeof items === 'object' && !Array.isArray(items) ? this.outputType(items as JsonSchema, `${hint}_item`, depth + 1) : GraphQLJSON);
      }
      case 'object': {
        const props = depth < MAX_TYPE_DEPTH ? propertiesOf(schema) : undefined;
        if (!props || props.some(([p]) => p === '_json')) return GraphQLJSON;
        const name = this.#typeName(hint);
        return new GraphQLObjectType({
          name,
          ...(describe(schema) ? { description: describe(schema)! } : {}),
          fields: () => ({
            ...Object.fromEntries(props.map(([p, s]) => [p, { type: this.outputType(s, `${name}_${p}`, depth + 1), ...(describe(s) ? { description: describe(s)! } : {}) }])),
            _json: { type: GraphQLJSON, description: 'The whole value as JSON, with any field the schema does not declare.', resolve: (parent: unknown) => parent },
          }),
        });
      }
      default:
        return GraphQLJSON;
    }
  }
}

export interface GraphQLContext {
  /** Aborted when the client goes away (the HTTP request's signal). */
  signal?: AbortSignal | undefined;
}

/** A dispatcher error as a GraphQL error: the wire's code and details in `extensions`. */
function toGraphQLError(err: unknown): GraphQLError {
  const wire = toWireError(err);
  return new GraphQLError(wire.message, { extensions: { code: wire.code, ...(wire.details !== undefined ? { details: wire.details } : {}) } });
}

function plain(value: unknown): unknown {
  // graphql-js builds input objects without a prototype; operations get ordinary JSON.
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** Events of `types` matching `filter`, as an async iterator that unsubscribes when the client stops. */
function eventIterator(bus: EventBus, types: readonly string[], filter: EventFilter | undefined): AsyncIterableIterator<{ [field: string]: CoreEvent }> & { field: string } {
  const queue: CoreEvent[] = [];
  let waiting: ((r: IteratorResult<CoreEvent>) => void) | null = null;
  let failed: Error | null = null;
  let done = false;
  const sub = bus.subscribe(types, filter, (event) => {
    if (done) return;
    if (waiting) {
      const w = waiting;
      waiting = null;
      w({ value: event, done: false });
    } else if (queue.length >= MAX_SUBSCRIPTION_BACKLOG) {
      failed = new GraphQLError('events are produced faster than this subscription reads them; ended', { extensions: { code: 'OVERLOADED' } });
      sub.unsubscribe();
    } else {
      queue.push(event);
    }
  });
  const finish = (): Promise<IteratorResult<never>> => {
    done = true;
    sub.unsubscribe();
    queue.length = 0;
    if (waiting) waiting({ value: undefined, done: true });
    waiting = null;
    return Promise.resolve({ value: undefined, done: true });
  };
  const iterator = {
    field: '',
    next(): Promise<IteratorResult<{ [field: string]: CoreEvent }>> {
      const event = queue.shift();
      if (event) return Promise.resolve({ value: { [iterator.field]: event }, done: false });
      if (failed) return Promise.reject(failed);
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise<IteratorResult<CoreEvent>>((resolve) => (waiting = resolve)).then((r) => (r.done ? r : { value: { [iterator.field]: r.value }, done: false }));
    },
    return: finish,
    throw: (err: unknown) => finish().then(() => Promise.reject(err)),
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator as AsyncIterableIterator<{ [field: string]: CoreEvent }> & { field: string };
}

function eventSubscription(bus: EventBus, field: string, typesOf: (args: Record<string, unknown>) => string[], filterOf: (args: Record<string, unknown>) => EventFilter | undefined, description: string, args: GraphQLFieldConfigArgumentMap): GraphQLFieldConfig<unknown, GraphQLContext> {
  return {
    type: new GraphQLNonNull(EventType),
    description,
    args,
    subscribe: (_root, a: Record<string, unknown>) => {
      const it = eventIterator(bus, typesOf(a), filterOf(a));
      it.field = field;
      return it;
    },
  };
}

/** The schema of the operations registered now. */
export function buildGraphQLSchema(operations: readonly RegisteredOperation[], dispatcher: Dispatcher, bus: EventBus, logger: Logger): GraphQLSchema {
  const builder = new SchemaBuilder();
  const roots: Record<OperationKind, Record<string, GraphQLFieldConfig<unknown, GraphQLContext>>> = { query: {}, action: {} };
  const genericCall = (kind: OperationKind): GraphQLFieldConfig<unknown, GraphQLContext> => ({
    type: GraphQLJSON,
    description: `Calls any ${kind} by its full method name (\`${kind === 'query' ? 'query:jobs.list.v1' : 'action:jobs.dispatch.input.v1'}\`), for methods registered after the schema was fetched or whose field name clashes.`,
    args: { method: { type: new GraphQLNonNull(GraphQLString) }, payload: { type: GraphQLJSON }, [LIBRARY_ARG]: { type: GraphQLString } },
    resolve: async (_root, args: Record<string, unknown>, ctx) => {
      try {
        return await dispatcher.dispatch({ method: args.method as string, kind, payload: plain(args.payload ?? undefined), libraryId: (args[LIBRARY_ARG] as string | null | undefined) ?? null, transport: 'graphql', signal: ctx?.signal });
      } catch (err) {
        throw toGraphQLError(err);
      }
    },
  });
  roots.query.call = genericCall('query');
  roots.action.call = genericCall('action');

  for (const op of [...operations].sort((a, b) => a.method.localeCompare(b.method))) {
    const field = graphqlFieldName(op.method);
    if (!field) continue;
    const root = roots[op.kind];
    if (root[field]) {
      logger.warn({ method: op.method, field }, 'GraphQL field name taken by another method; call it through `call`');
      continue;
    }
    const input = (typeof op.input === 'object' && op.input !== null ? op.input : {}) as JsonSchema;
    const props = propertiesOf(input);
    const args: GraphQLFieldConfigArgumentMap = {};
    // An input that is not an object of GraphQL-named properties is one JSON argument.
    const whole = !props && !(input.type === 'object' && (!input.properties || Object.keys(input.properties as object).length === 0) && input.additionalProperties === false);
    if (props) {
      for (const [p, s] of props) {
        const required = Array.isArray(input.required) && input.required.includes(p);
        const d = [describe(s), required ? '(required)' : undefined].filter(Boolean).join(' ');
        args[p] = { type: builder.inputType(s, `${field}_${p}`, 1), ...(d ? { description: d } : {}) };
      }
    } else if (whole) {
      args.input = { type: GraphQLJSON, description: 'The payload, as the operation\'s input schema describes it.' };
    }
    if (op.scope === 'library' || op.owner !== 'core') args[LIBRARY_ARG] = { type: GraphQLString, description: 'The library the call runs against (default library when absent).' };
    const method = op.method;
    const kind = op.kind;
    root[field] = {
      type: builder.outputType(op.output as JsonSchema, `${field}_Output`),
      description: `${op.description}\n\nMethod \`${method}\` (owner \`${op.owner}\`).`,
      args,
      resolve: async (_root, a: Record<string, unknown>, ctx) => {
        const { [LIBRARY_ARG]: library, ...rest } = a;
        const payload = whole ? plain(rest.input ?? undefined) : plain(rest);
        try {
          return await dispatcher.dispatch({ method, kind, payload, libraryId: (library as string | null | undefined) ?? null, transport: 'graphql', signal: ctx?.signal });
        } catch (err) {
          throw toGraphQLError(err);
        }
      },
    };
  }

  const typesArg = { type: new GraphQLList(new GraphQLNonNull(GraphQLString)), description: 'Event types (`job:progress`, `job:*`); default all job events.' };
  const subscription = new GraphQLObjectType<unknown, GraphQLContext>({
    name: 'Subscription',
    fields: {
      jobEvents: eventSubscription(
        bus,
        'jobEvents',
        (a) => ((a.types as string[] | null | undefined) ?? ['job:*']),
        (a) => (typeof a.job_id === 'string' ? { job_id: a.job_id } : undefined),
        'Job events (`job:queued`, `job:progress`, `job:completed`, …), of one job when `job_id` is given.',
        { job_id: { type: GraphQLString }, types: typesArg },
      ),
      events: eventSubscription(
        bus,
        'events',
        (a) => ((a.types as string[] | null | undefined) ?? []),
        (a) => (a.filter && typeof a.filter === 'object' ? (a.filter as EventFilter) : undefined),
        'Any daemon events (`job:*`, `extension:*`, `entry:*`, …), filtered by payload fields when `filter` is given.',
        { types: { ...typesArg, description: 'Event types; default every event.' }, filter: { type: GraphQLJSON, description: 'Payload fields that must match, e.g. {"job_id": "…"}.' } },
      ),
    },
  });
  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: roots.query }),
    mutation: new GraphQLObjectType({ name: 'Mutation', fields: roots.action }),
    subscription,
  });
}

/**
 * The schema served now: rebuilt on the first request after an extension's operations changed.
 * A failed build keeps serving the previous schema (and is logged).
 */
export class LiveSchema {
  readonly #build: () => GraphQLSchema;
  readonly #logger: Logger;
  #schema: GraphQLSchema | null = null;
  #dirty = true;
  /** Builds so far (status, tests). */
  builds = 0;
  readonly #unsubscribe: () => void;

  constructor(build: () => GraphQLSchema, bus: EventBus, logger: Logger) {
    this.#build = build;
    this.#logger = logger;
    const sub = bus.subscribe(['extension:*'], undefined, () => (this.#dirty = true));
    this.#unsubscribe = () => sub.unsubscribe();
  }

  get(): GraphQLSchema {
    if (this.#dirty || this.#schema === null) {
      this.#dirty = false;
      try {
        this.#schema = this.#build();
        this.builds++;
      } catch (err) {
        this.#logger.error({ err }, 'GraphQL schema could not be rebuilt; serving the previous one');
        if (this.#schema === null) throw err;
      }
    }
    return this.#schema;
  }

  close(): void {
    this.#unsubscribe();
  }
}

/** Parsed and validated documents kept per schema (most recent queries; a client repeats the same few). */
const MAX_CACHED_DOCUMENTS = 500;

export interface GraphQLHttpRequest {
  method: string;
  /** `query`, `variables`, `operationName` of a GET (variables as JSON text). */
  searchParams: URLSearchParams;
  /** The parsed JSON body of a POST. */
  body: unknown;
  signal?: AbortSignal | undefined;
}

export interface GraphQLHttpResponse {
  status: number;
  body: string;
}

/**
 * GraphQL over HTTP (the GraphQL-over-HTTP spec's `application/json` form): a POST with
 * `{query, variables?, operationName?}` or a GET with them as query parameters (queries only),
 * executed by graphql-js against the live schema. Parsing and validation are cached per schema by
 * query text, so a repeated query costs only its execution.
 */
export class GraphQLOverHttp {
  readonly #schema: LiveSchema;
  #cacheFor: GraphQLSchema | null = null;
  readonly #documents = new Map<string, DocumentNode | readonly GraphQLError[]>();

  constructor(schema: LiveSchema) {
    this.#schema = schema;
  }

  #document(schema: GraphQLSchema, query: string): DocumentNode | readonly GraphQLError[] {
    if (this.#cacheFor !== schema) {
      this.#documents.clear();
      this.#cacheFor = schema;
    }
    let doc = this.#documents.get(query);
    if (doc === undefined) {
      try {
        const parsed = parse(query, { maxTokens: 10_000 });
        const problems = validate(schema, parsed);
        doc = problems.length > 0 ? problems : parsed;
      } catch (err) {
        doc = [err instanceof GraphQLError ? err : new GraphQLError(String(err))];
      }
      if (this.#documents.size >= MAX_CACHED_DOCUMENTS) this.#documents.delete(this.#documents.keys().next().value!);
      this.#documents.set(query, doc);
    }
    return doc;
  }

  async handle(req: GraphQLHttpRequest): Promise<GraphQLHttpResponse> {
    const fail = (status: number, message: string, code = 'INVALID_INPUT'): GraphQLHttpResponse => ({ status, body: JSON.stringify({ errors: [{ message, extensions: { code } }] }) });
    let query: unknown;
    let variables: unknown;
    let operationName: unknown;
    if (req.method === 'GET') {
      query = req.searchParams.get('query');
      operationName = req.searchParams.get('operationName');
      const v = req.searchParams.get('variables');
      try {
        variables = v ? JSON.parse(v) : undefined;
      } catch {
        return fail(400, 'the `variables` parameter is not JSON');
      }
    } else {
      if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) return fail(400, 'the body must be a JSON object {"query": …, "variables": …}');
      ({ query, variables, operationName } = req.body as Record<string, unknown>);
    }
    if (typeof query !== 'string' || query.length === 0) return fail(400, 'the request has no `query` string');
    if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) return fail(400, '`variables` must be an object');
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return fail(400, '`operationName` must be a string');
    const schema = this.#schema.get();
    const doc = this.#document(schema, query);
    if (Array.isArray(doc)) return { status: 400, body: JSON.stringify({ errors: doc }) };
    const document = doc as DocumentNode;
    const operation = getOperationAST(document, (operationName as string | null | undefined) ?? undefined);
    if (!operation) return fail(400, operationName ? `no operation named '${operationName}'` : 'the document has several operations: give `operationName`');
    if (operation.operation === 'subscription') return fail(400, 'subscriptions are served over the WebSocket at /graphql (graphql-transport-ws)');
    if (operation.operation === 'mutation' && req.method === 'GET') return fail(405, 'a mutation must be sent with POST', 'PROTOCOL_ERROR');
    const context: GraphQLContext = { signal: req.signal };
    const result = await execute({ schema, document, variableValues: (variables as Record<string, unknown> | null | undefined) ?? undefined, operationName: (operationName as string | null | undefined) ?? undefined, contextValue: context });
    return { status: 200, body: JSON.stringify(result) };
  }
}
