/**
 * The job system's wire operations (core, collected into CORE_OPERATIONS): dispatch, list,
 * status, logs, types, and the pause/resume/cancel/retry controls. Field names on the wire are
 * snake_case; times are ISO 8601 strings.
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { checkDispatchPermission, checkLibraryPermission, checkManageJob, mayManageJob } from '../extensions/permissions.js';
import { noPermissions, type ManifestPermissions } from '../extensions/manifest.js';
import { actorOf, defineOperation, type OperationContext } from '../registry/index.js';
import type { JsonSchema } from '../schema/index.js';
import type { JobLogEntry } from './store/index.js';
import type { JobView } from './system.js';
import type { JobStatus } from './types.js';

const STATUSES: JobStatus[] = ['queued', 'running', 'paused', 'waiting_retry', 'completed', 'failed', 'cancelled'];

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export interface WireJobProgress {
  fraction: number | null;
  message: string | null;
  items_done: number | null;
  items_total: number | null;
  bytes_done: number | null;
  bytes_total: number | null;
}

/** A job in list form (no params, state or output, which may be large). */
export interface WireJobSummary {
  job_id: string;
  job_type: string;
  status: JobStatus;
  priority: number;
  progress: WireJobProgress;
  attempts: number;
  max_attempts: number;
  error: { code: string; message: string } | null;
  waiting_for: string | null;
  requested: 'pause' | 'cancel' | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  run_at: string;
}

/** Everything about one job. */
export interface WireJobStatus extends WireJobSummary {
  params: unknown;
  state: unknown;
  output: unknown;
  errors: Array<{ attempt: number; code: string; message: string; time: string }>;
  warnings: string[];
  runs: number;
  dedupe_key: string | null;
  library_id: string | null;
  dispatched_by: string;
  checkpoint_at: string | null;
}

export function toWireSummary(j: JobView): WireJobSummary {
  return {
    job_id: j.id,
    job_type: j.type,
    status: j.status,
    priority: j.priority,
    progress: {
      fraction: j.progress.fraction,
      message: j.progress.message,
      items_done: j.progress.itemsDone,
      items_total: j.progress.itemsTotal,
      bytes_done: j.progress.bytesDone,
      bytes_total: j.progress.bytesTotal,
    },
    attempts: j.attempts,
    max_attempts: j.maxAttempts,
    error: j.lastError,
    waiting_for: j.waitingFor,
    requested: j.requested,
    created_at: iso(j.createdAt)!,
    updated_at: iso(j.updatedAt)!,
    started_at: iso(j.startedAt),
    finished_at: iso(j.finishedAt),
    run_at: iso(j.runAt)!,
  };
}

export function toWireStatus(j: JobView): WireJobStatus {
  return {
    ...toWireSummary(j),
    params: j.params,
    state: j.state,
    output: j.output,
    errors: j.errors.map((e) => ({ attempt: e.attempt, code: e.code, message: e.message, time: iso(e.time)! })),
    warnings: j.warnings,
    runs: j.runs,
    dedupe_key: j.dedupeKey,
    library_id: j.libraryId,
    dispatched_by: j.dispatchedBy,
    checkpoint_at: iso(j.checkpointAt),
  };
}

/**
 * The calling extension and its grants; undefined for people and core, whom the job system does
 * not restrict. Jobs are granted to extensions per job type, not per method (docs/extension-abi.md).
 */
async function callingExtension(ctx: OperationContext): Promise<{ id: string; permissions: ManifestPermissions } | undefined> {
  if (ctx.caller.kind !== 'extension') return undefined;
  const id = ctx.caller.extensionId ?? 'unknown';
  return { id, permissions: (await ctx.core.extensions.permissionsOf(id)) ?? noPermissions() };
}

/** Throws PERMISSION_DENIED when an extension calls about a job it may not observe or control. */
async function checkJobAccess(ctx: OperationContext, jobId: string, what: string): Promise<void> {
  const ext = await callingExtension(ctx);
  if (!ext) return;
  const job = await ctx.core.jobs.get(jobId);
  checkManageJob(ext.id, ext.permissions, job, what);
}

const JOB_ID_DESCRIPTION = 'The job id, or a prefix of it that only this job has (JOB_ID_AMBIGUOUS lists the candidates otherwise).';

const jobIdInput = {
  type: 'object',
  additionalProperties: false,
  required: ['job_id'],
  properties: { job_id: { type: 'string', minLength: 1, description: JOB_ID_DESCRIPTION } },
} as const;

const statusOutput = {
  type: 'object',
  required: ['job_id', 'job_type', 'status', 'progress', 'attempts'],
  properties: { job_id: { type: 'string' }, job_type: { type: 'string' }, status: { enum: STATUSES } },
} as const;

export const jobsDispatch = defineOperation<
  { job_type: string; params?: unknown; priority?: number; run_at?: string | number; max_attempts?: number; dedupe_key?: string; idempotency_key?: string },
  { job_id: string; deduplicated: boolean; replayed?: boolean }
>({
  method: 'action:jobs.dispatch.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Adds a job of a registered type (core or extension). Unknown types and invalid params are refused here.',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['job_type'],
    properties: {
      job_type: { type: 'string', minLength: 1, description: '`files.copy`, `<ext-id>:<name>` …' },
      params: { description: "Checked against the job type's params schema (see query:jobs.types.v1)." },
      priority: { type: 'integer', minimum: -1000, maximum: 1000, description: 'Higher runs first. Default 0.' },
      run_at: {
        anyOf: [{ type: 'string', format: 'date-time' }, { type: 'integer', minimum: 0 }],
        description: 'Do not start before this time (ISO 8601, or ms since the epoch).',
      },
      max_attempts: { type: 'integer', minimum: 1, maximum: 1000 },
      dedupe_key: { type: 'string', minLength: 1, maxLength: 500, description: 'While a live job of this type has this key, return it instead.' },
      idempotency_key: {
        type: 'string',
        minLength: 1,
        maxLength: 200,
        description:
          'Makes a retried dispatch safe: a dispatch repeating a key this caller used before returns the job it added (`replayed: true`), never a second one; the same key with other input is IDEMPOTENCY_KEY_CONFLICT. Kept as long as the job is.',
      },
    },
  },
  output: {
    type: 'object',
    required: ['job_id', 'deduplicated'],
    properties: { job_id: { type: 'string' }, deduplicated: { type: 'boolean' }, replayed: { type: 'boolean' } },
  },
  handler: async (input, ctx) => {
    const { core, caller, libraryId } = ctx;
    const ext = await callingExtension(ctx);
    if (ext) {
      checkDispatchPermission(ext.id, ext.permissions, input.job_type);
      // A job's params may name a library (locations.index): the same grant as a call's library_id.
      const paramsLibrary = typeof input.params === 'object' && input.params !== null ? (input.params as { library_id?: unknown }).library_id : undefined;
      if (typeof paramsLibrary === 'string') checkLibraryPermission(ext.id, ext.permissions, input.job_type, paramsLibrary);
    }
    const runAt = input.run_at === undefined ? undefined : typeof input.run_at === 'number' ? input.run_at : Date.parse(input.run_at);
    const r = await core.jobs.dispatch(input.job_type, input.params ?? {}, {
      ...(input.priority !== undefined ? { priority: input.priority } : {}),
      ...(runAt !== undefined ? { runAt } : {}),
      ...(input.max_attempts !== undefined ? { maxAttempts: input.max_attempts } : {}),
      ...(input.dedupe_key !== undefined ? { dedupeKey: input.dedupe_key } : {}),
      ...(input.idempotency_key !== undefined ? { idempotencyKey: input.idempotency_key } : {}),
      libraryId,
      dispatchedBy: actorOf(caller),
    });
    // `replayed` only when true: a first dispatch's answer stays as it was.
    return { job_id: r.jobId, deduplicated: r.deduplicated, ...(r.replayed ? { replayed: true } : {}) };
  },
});

/** Who registered a job type: `core` for `<domain>.<name>`, the extension id for `<ext-id>:<name>` (also once it is uninstalled). */
export function jobTypeOwner(jobType: string): string {
  const colon = jobType.indexOf(':');
  return colon < 0 ? 'core' : jobType.slice(0, colon);
}

/** Pages `owner` reads at most to fill one answer. */
const MAX_OWNER_PAGES = 20;

export const jobsList = defineOperation<
  { status?: JobStatus | JobStatus[]; job_type?: string; owner?: string; limit?: number; cursor?: string },
  { jobs: WireJobSummary[]; next_cursor: string | null }
>({
  method: 'query:jobs.list.v1',
  kind: 'query',
  scope: 'core',
  description: 'Jobs, newest first, optionally by status, type and owner; pages with `cursor`.',
  input: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status: { anyOf: [{ enum: STATUSES }, { type: 'array', items: { enum: STATUSES } }] },
      job_type: { type: 'string', minLength: 1 },
      owner: {
        type: 'string',
        minLength: 1,
        description:
          '`core` or an extension id: only jobs of the types it registers. Pages are read until `limit` such jobs are found (at most 20 pages), so an answer may hold more or fewer than `limit`; `next_cursor` goes on after them.',
      },
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
      cursor: { type: 'string', description: '`next_cursor` of the previous page.' },
    },
  },
  output: {
    type: 'object',
    required: ['jobs', 'next_cursor'],
    properties: { jobs: { type: 'array' }, next_cursor: { type: ['string', 'null'] } },
  },
  handler: async (input, ctx) => {
    const { core } = ctx;
    const filter = {
      ...(input.status !== undefined ? { status: input.status } : {}),
      ...(input.job_type !== undefined ? { type: input.job_type } : {}),
      ...(input.limit !== undefined ? { limit: input.limit } : {}),
    };
    let page = await core.jobs.list({ ...filter, ...(input.cursor !== undefined ? { cursor: input.cursor } : {}) });
    let jobs = page.jobs;
    if (input.owner !== undefined) {
      // The store filters by one type, not by owner: keep the owner's jobs of whole pages.
      const limit = input.limit ?? 50;
      jobs = page.jobs.filter((j) => jobTypeOwner(j.type) === input.owner);
      for (let read = 1; jobs.length < limit && page.nextCursor !== null && read < MAX_OWNER_PAGES; read++) {
        page = await core.jobs.list({ ...filter, cursor: page.nextCursor });
        jobs.push(...page.jobs.filter((j) => jobTypeOwner(j.type) === input.owner));
      }
    }
    // An extension sees only the jobs it may observe; a page may then hold fewer than `limit`.
    const ext = await callingExtension(ctx);
    const visible = ext ? jobs.filter((j) => mayManageJob(ext.id, ext.permissions, j)) : jobs;
    return { jobs: visible.map(toWireSummary), next_cursor: page.nextCursor };
  },
});

export const jobsGetStatus = defineOperation<{ job_id: string }, WireJobStatus>({
  method: 'query:jobs.get_status.v1',
  kind: 'query',
  scope: 'core',
  description: 'Everything about one job: status, progress, state, attempts, errors, warnings, counters, times, and what a queued job waits for (or a running one, for a free instance of its extension).',
  input: jobIdInput,
  output: statusOutput,
  handler: async (input, ctx) => {
    await checkJobAccess(ctx, input.job_id, 'read the status of');
    return toWireStatus(await ctx.core.jobs.get(input.job_id));
  },
});

export const jobsLogs = defineOperation<{ job_id: string; after_seq?: number; limit?: number }, { logs: Array<Omit<JobLogEntry, 'time'> & { time: string }> }>({
  method: 'query:jobs.logs.v1',
  kind: 'query',
  scope: 'core',
  description: "A job's log, oldest first; `after_seq` continues from a previous read.",
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['job_id'],
    properties: {
      job_id: { type: 'string', minLength: 1, description: JOB_ID_DESCRIPTION },
      after_seq: { type: 'integer', minimum: 0 },
      limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 },
    },
  },
  output: { type: 'object', required: ['logs'], properties: { logs: { type: 'array' } } },
  handler: async (input, ctx) => {
    const { core } = ctx;
    await checkJobAccess(ctx, input.job_id, 'read the log of');
    const logs = await core.jobs.logs(input.job_id, {
      ...(input.after_seq !== undefined ? { afterSeq: input.after_seq } : {}),
      ...(input.limit !== undefined ? { limit: input.limit } : {}),
    });
    return { logs: logs.map((l) => ({ ...l, time: iso(l.time)! })) };
  },
});

/** A registered job type as `query:jobs.types.v1` shows it. */
export interface WireJobType {
  job_type: string;
  owner: string;
  version: number;
  resumable: boolean;
  description: string;
  params_schema: JsonSchema;
  max_concurrency: number | null;
  max_attempts: number | null;
  stall_timeout_ms: number | null;
}

export const jobsTypes = defineOperation<{ owner?: string }, { types: WireJobType[] }>({
  method: 'query:jobs.types.v1',
  kind: 'query',
  scope: 'core',
  description: 'Registered job types (core and extensions) with their params schemas.',
  input: { type: 'object', additionalProperties: false, properties: { owner: { type: 'string', description: '`core` or an extension id.' } } },
  output: { type: 'object', required: ['types'], properties: { types: { type: 'array' } } },
  handler: (input, { core }) => ({
    types: core.jobs.types
      .list()
      .filter((t) => (input.owner ? t.owner === input.owner : true))
      .map((t) => ({
        job_type: t.type,
        owner: t.owner,
        version: t.version,
        resumable: t.resumable,
        description: t.description,
        params_schema: t.paramsSchema,
        max_concurrency: t.maxConcurrency ?? null,
        max_attempts: t.maxAttempts ?? null,
        stall_timeout_ms: t.stallTimeoutMs ?? null,
      })),
  }),
});

function control(name: 'pause' | 'resume' | 'cancel', description: string) {
  return defineOperation<{ job_id: string }, WireJobStatus>({
    method: `action:jobs.${name}.input.v1`,
    kind: 'action',
    scope: 'core',
    description,
    input: jobIdInput,
    output: statusOutput,
    handler: async (input, ctx) => {
      await checkJobAccess(ctx, input.job_id, name);
      return toWireStatus(await ctx.core.jobs[name](input.job_id));
    },
  });
}

export const jobsPause = control('pause', 'Pauses a job: a queued one at once, a running one when it next checks in (it keeps its checkpoint).');
export const jobsResume = control('resume', 'Resumes a paused job from its last checkpoint.');
export const jobsCancel = control('cancel', 'Cancels a job: a queued or paused one at once, a running one when it next checks in.');

export const jobsRetry = defineOperation<{ job_id: string; from_scratch?: boolean }, WireJobStatus>({
  method: 'action:jobs.retry.input.v1',
  kind: 'action',
  scope: 'core',
  description: 'Queues a failed or cancelled job again, from its last checkpoint (or from scratch).',
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['job_id'],
    properties: {
      job_id: { type: 'string', minLength: 1, description: JOB_ID_DESCRIPTION },
      from_scratch: { type: 'boolean', default: false, description: 'Forget the checkpoint and start over.' },
    },
  },
  output: statusOutput,
  handler: async (input, ctx) => {
    await checkJobAccess(ctx, input.job_id, 'retry');
    return toWireStatus(await ctx.core.jobs.retry(input.job_id, { fromScratch: input.from_scratch ?? false }));
  },
});

export const jobsOperations = [jobsDispatch, jobsList, jobsGetStatus, jobsLogs, jobsTypes, jobsPause, jobsResume, jobsCancel, jobsRetry];

/** Kept for callers that want to refuse a bad status name before calling list. */
export function parseStatus(value: string): JobStatus {
  if ((STATUSES as string[]).includes(value)) return value as JobStatus;
  throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field 'status': expected one of ${STATUSES.join(', ')}`);
}
