/**
 * `spacedrive jobs list|info|logs|watch|types|dispatch|pause|resume|cancel|retry`: a thin layer
 * over the `jobs.*` operations and the `job:*` event stream. `dispatch` turns flags into params
 * with the job type's params schema (from `query:jobs.types.v1`); `watch` and `dispatch --follow`
 * draw progress bars on a terminal and print a plain line per update otherwise.
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { CoreEvent } from '../../events/index.js';
import type { WireJobStatus, WireJobSummary, WireJobType } from '../../jobs/operations.js';
import { closestNames } from '../../registry/closest-names.js';
import type { Cli, CommandContext } from '../context.js';
import { describeFlags, flagsToPayload, validatePayload } from '../flags.js';
import { formatTable, formatValue, type Colors } from '../output.js';

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const STATUSES = ['queued', 'running', 'paused', 'waiting_retry', 'completed', 'failed', 'cancelled'];

function statusColor(status: string, c: Colors): string {
  switch (status) {
    case 'completed':
      return c.green(status);
    case 'failed':
      return c.red(status);
    case 'running':
      return c.cyan(status);
    case 'paused':
    case 'waiting_retry':
      return c.yellow(status);
    case 'cancelled':
      return c.dim(status);
    default:
      return status;
  }
}

function percent(fraction: number | null): string {
  return fraction === null ? '-' : `${Math.floor(fraction * 100)}%`;
}

function bytes(n: number | null): string {
  if (n === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** A counter as reported: events and old records may leave it out (undefined) or say it is unknown (null). */
function known(n: number | null | undefined): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/**
 * "3/10 items, 1.2 MiB/4.0 MiB" from whatever counters the job reports; a part it does not know
 * is left out ("3 items" without a total, nothing without a count), never shown as "?".
 */
function counters(p: Partial<WireJobSummary['progress']>): string {
  const parts: string[] = [];
  if (known(p.items_done) && known(p.items_total)) parts.push(`${p.items_done}/${p.items_total} items`);
  else if (known(p.items_done)) parts.push(`${p.items_done} items`);
  else if (known(p.items_total)) parts.push(`${p.items_total} items to do`);
  if (known(p.bytes_done) && known(p.bytes_total)) parts.push(`${bytes(p.bytes_done)}/${bytes(p.bytes_total)}`);
  else if (known(p.bytes_done)) parts.push(bytes(p.bytes_done));
  else if (known(p.bytes_total)) parts.push(`${bytes(p.bytes_total)} to do`);
  return parts.join(', ');
}

/** The shortest prefix of a job id people type: 8 characters at least, never ending on a '-'. */
const SHORT_ID_MIN = 8;

/**
 * Each id's shortest prefix (of at least {@link SHORT_ID_MIN} characters) that no other id in
 * `ids` starts with. Job ids are UUIDv7, whose first 8 characters change only once a minute,
 * so jobs dispatched together need more. The daemon accepts any prefix only one job has.
 */
export function shortIds(ids: Iterable<string>): Map<string, string> {
  const sorted = [...new Set(ids)].sort();
  const common = (a: string | undefined, b: string | undefined): number => {
    if (a === undefined || b === undefined) return 0;
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return i;
  };
  const out = new Map<string, string>();
  sorted.forEach((id, i) => {
    let len = Math.max(SHORT_ID_MIN, common(id, sorted[i - 1]) + 1, common(id, sorted[i + 1]) + 1);
    if (id[len - 1] === '-') len++;
    out.set(id, id.slice(0, Math.min(len, id.length)));
  });
  return out;
}

function humanList(r: { jobs: WireJobSummary[]; next_cursor: string | null }, c: Colors): string {
  if (r.jobs.length === 0) return c.dim('no jobs');
  const short = shortIds(r.jobs.map((j) => j.job_id));
  const rows = r.jobs.map((j) => [
    short.get(j.job_id)!,
    j.job_type,
    statusColor(j.status, c),
    percent(j.progress.fraction),
    `${j.attempts}/${j.max_attempts}`,
    j.created_at,
    j.waiting_for ?? j.error?.message ?? j.progress.message ?? '',
  ]);
  const table = formatTable(['ID', 'TYPE', 'STATUS', 'PROGRESS', 'ATTEMPTS', 'CREATED', 'NOTE'], rows, c);
  return r.next_cursor ? `${table}\n${c.dim(`more: --cursor ${r.next_cursor}`)}` : table;
}

function humanInfo(j: WireJobStatus, c: Colors): string {
  const lines = [`${c.bold(j.job_type)} ${j.job_id} — ${statusColor(j.status, c)}${j.requested ? c.yellow(` (${j.requested} requested)`) : ''}`];
  if (j.waiting_for) lines.push(`  waiting for: ${j.waiting_for}`);
  lines.push(
    formatValue(
      {
        progress: `${percent(j.progress.fraction)}${counters(j.progress) ? ` (${counters(j.progress)})` : ''}${j.progress.message ? ` — ${j.progress.message}` : ''}`,
        attempts: `${j.attempts} failed of ${j.max_attempts} allowed, ${j.runs} run(s)`,
        priority: j.priority,
        dispatched_by: j.dispatched_by,
        created_at: j.created_at,
        run_at: j.run_at,
        started_at: j.started_at ?? '-',
        finished_at: j.finished_at ?? '-',
        checkpoint_at: j.checkpoint_at ?? '-',
        ...(j.dedupe_key ? { dedupe_key: j.dedupe_key } : {}),
        ...(j.library_id ? { library_id: j.library_id } : {}),
        ...(j.affinity_node ? { runs_on_node: `${j.affinity_node} (it names that node's local paths)` } : {}),
        ...(j.lease_owner ? { running_on: j.lease_owner } : {}),
      },
      c,
      2,
    ),
  );
  lines.push(`  ${c.bold('params:')} ${JSON.stringify(j.params)}`);
  if (j.state !== null) lines.push(`  ${c.bold('state:')} ${truncate(JSON.stringify(j.state), 500)}`);
  if (j.output !== null) lines.push(`  ${c.bold('output:')} ${truncate(JSON.stringify(j.output), 2000)}`);
  if (j.error) lines.push(`  ${c.red('error')} [${j.error.code}]: ${j.error.message}`);
  if (j.errors.length > 0) {
    lines.push(`  ${c.bold('failed attempts:')}`);
    for (const e of j.errors) lines.push(`    #${e.attempt} ${e.time} [${e.code}] ${e.message}`);
  }
  if (j.warnings.length > 0) {
    lines.push(`  ${c.bold('warnings:')}`);
    for (const w of j.warnings) lines.push(`    ${c.yellow('!')} ${w}`);
  }
  return lines.join('\n');
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s;
}

/** One line for a job event (non-terminal output). */
function eventLine(e: CoreEvent): string {
  const p = e.payload as Record<string, any>;
  const head = `${new Date(e.time).toISOString()} ${p.job_id} ${p.job_type} ${e.type.slice(4)}`;
  if (e.type === 'job:progress') {
    const extra = counters(p as WireJobSummary['progress']);
    return `${head} ${percent(p.fraction ?? null)}${extra ? ` ${extra}` : ''}${p.message ? ` ${p.message}` : ''}`;
  }
  if (e.type === 'job:failed' || e.type === 'job:retrying') return `${head} [${p.error?.code}] ${p.error?.message}${p.retry_at ? ` (retry at ${p.retry_at})` : ''}`;
  if (e.type === 'job:started') return `${head} attempt ${p.attempt}${p.resumed_from_checkpoint ? ' (from checkpoint)' : ''}`;
  return head;
}

/**
 * Follows job events until the job `jobId` ends (or forever for all jobs). Returns the exit
 * code: 0 completed, 1 failed or cancelled; for a paused job it keeps watching.
 */
async function watch(ctx: CommandContext, jobIdOrPrefix: string | undefined): Promise<number> {
  const client = await ctx.client();
  // A short id is resolved by the daemon first: events name jobs by their full id.
  const jobId = jobIdOrPrefix === undefined ? undefined : (await ctx.query<WireJobStatus>('query:jobs.get_status.v1', { job_id: jobIdOrPrefix })).job_id;
  const sub = client.subscribe(['job:*'], jobId ? { job_id: jobId } : undefined);
  await sub.ready;
  const tty = ctx.io.stderr.isTTY === true && !ctx.json;
  const bars = tty
    ? new cliProgress.MultiBar(
        { format: ' {bar} {percentage}% | {type} {id} {status} {detail}', hideCursor: true, clearOnComplete: false, stream: ctx.io.stderr as NodeJS.WriteStream },
        cliProgress.Presets.shades_classic,
      )
    : null;
  interface Shown {
    bar: cliProgress.SingleBar;
    payload: { id: string; type: string; status: string; detail: string };
  }
  const shown = new Map<string, Shown>();
  /**
   * Draws a job's bar. Events other than progress carry no counters: the detail last shown is
   * kept then, and the final render of an ended job comes from its status (real counts).
   */
  const update = (id: string, type: string, status: string, fraction: number | null, detail: string | null) => {
    if (!bars) return;
    let entry = shown.get(id);
    if (!entry) {
      const payload = { id, type, status, detail: detail ?? '' };
      entry = { bar: bars.create(100, Math.floor((fraction ?? 0) * 100), payload), payload };
      shown.set(id, entry);
      // A new job can make other jobs' short ids ambiguous: redraw them all.
      const short = shortIds(shown.keys());
      for (const [jid, e] of shown) {
        e.payload.id = short.get(jid)!;
        e.bar.update(e.payload);
      }
      return;
    }
    entry.payload.type = type;
    entry.payload.status = status;
    if (detail !== null) entry.payload.detail = detail;
    entry.bar.update(fraction === null ? entry.bar.getProgress() * 100 : Math.floor(fraction * 100), entry.payload);
  };
  const finalRender = (st: WireJobStatus) => {
    const fraction = st.status === 'completed' ? 1 : st.progress.fraction;
    update(st.job_id, st.job_type, st.status, fraction, counters(st.progress));
  };
  const emit = (e: CoreEvent) => {
    if (ctx.json) ctx.out(JSON.stringify(e));
    else if (!bars) ctx.out(eventLine(e));
  };
  try {
    if (jobId) {
      const st = await ctx.query<WireJobStatus>('query:jobs.get_status.v1', { job_id: jobId });
      update(st.job_id, st.job_type, st.status, st.progress.fraction, counters(st.progress));
      if (!bars && !ctx.json) ctx.out(`${st.job_id} ${st.job_type} ${st.status} ${percent(st.progress.fraction)}`);
      if (TERMINAL.has(st.status)) {
        finalRender(st);
        bars?.stop();
        return finalCode(ctx, st);
      }
    } else {
      const running = await ctx.query<{ jobs: WireJobSummary[] }>('query:jobs.list.v1', { status: ['running', 'queued', 'paused', 'waiting_retry'], limit: 100 });
      for (const j of running.jobs) update(j.job_id, j.job_type, j.status, j.progress.fraction, counters(j.progress));
    }
    for await (const e of sub) {
      const p = e.payload as Record<string, any>;
      emit(e);
      const ended = ['job:completed', 'job:failed', 'job:cancelled'].includes(e.type);
      if (ended && bars) {
        // The event carries no counters; the job's status has the real ones.
        finalRender(await ctx.query<WireJobStatus>('query:jobs.get_status.v1', { job_id: p.job_id }));
      } else {
        const progress = e.type === 'job:progress' ? counters(p as WireJobSummary['progress']) : null;
        update(p.job_id, p.job_type, e.type === 'job:progress' ? 'running' : e.type.slice(4), typeof p.fraction === 'number' ? p.fraction : null, progress);
      }
      if (jobId && ended) {
        bars?.stop();
        const st = await ctx.query<WireJobStatus>('query:jobs.get_status.v1', { job_id: jobId });
        return finalCode(ctx, st);
      }
    }
    return 0;
  } finally {
    bars?.stop();
    await sub.return?.();
  }
}

function finalCode(ctx: CommandContext, st: WireJobStatus): number {
  if (!ctx.json) {
    const c = ctx.colors;
    ctx.note(`${st.job_id} ${statusColor(st.status, c)}${st.error ? `: [${st.error.code}] ${st.error.message}` : ''}`);
    if (st.status === 'completed' && st.output !== null) ctx.out(truncate(JSON.stringify(st.output, null, 2), 10_000));
  }
  return st.status === 'completed' ? 0 : 1;
}

interface DispatchFlags {
  jsonInput?: string;
  priority?: string;
  runAt?: string;
  maxAttempts?: string;
  dedupeKey?: string;
  idempotencyKey?: string;
  follow?: boolean;
  help?: boolean;
}

function intFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new SpacedriveError(ErrorCode.USAGE, `${flag} expects an integer, got '${value}'`, { flag });
  return n;
}

export function registerJobsCommand(program: Command, cli: Cli): void {
  const group = program.command('jobs').description('Dispatch, watch and control durable jobs (core and extension job types).');

  group
    .command('list')
    .description('List jobs, newest first.')
    .option('--status <status>', `only jobs in this status (${STATUSES.join(', ')}); repeat or comma-separate for several`)
    .option('--type <job_type>', 'only jobs of this type')
    .option('--limit <n>', 'at most this many', '50')
    .option('--cursor <cursor>', 'the next page, from a previous list')
    .action(
      cli.action(async (ctx, opts: { status?: string; type?: string; limit: string; cursor?: string }) => {
        const status = opts.status?.split(',').map((s) => s.trim()).filter(Boolean);
        for (const s of status ?? []) {
          if (!STATUSES.includes(s)) throw new SpacedriveError(ErrorCode.USAGE, `--status: '${s}' is not a status; expected one of ${STATUSES.join(', ')}`);
        }
        const r = await ctx.query<{ jobs: WireJobSummary[]; next_cursor: string | null }>('query:jobs.list.v1', {
          ...(status ? { status } : {}),
          ...(opts.type ? { job_type: opts.type } : {}),
          limit: intFlag('--limit', opts.limit),
          ...(opts.cursor ? { cursor: opts.cursor } : {}),
        });
        ctx.print(r, humanList);
      }),
    );

  group
    .command('info')
    .description('Everything about one job: status, progress, state, attempts, errors, warnings, times.')
    .argument('<job_id>')
    .action(
      cli.action(async (ctx, jobId: string) => {
        ctx.print(await ctx.query<WireJobStatus>('query:jobs.get_status.v1', { job_id: jobId }), humanInfo);
      }),
    );

  group
    .command('logs')
    .description("A job's log.")
    .argument('<job_id>')
    .action(
      cli.action(async (ctx, jobId: string) => {
        const r = await ctx.query<{ logs: Array<{ seq: number; time: string; level: string; message: string }> }>('query:jobs.logs.v1', { job_id: jobId });
        ctx.print(r, (x: typeof r, c) =>
          x.logs.length === 0
            ? c.dim('(empty)')
            : x.logs.map((l) => `${c.dim(l.time)} ${l.level === 'error' ? c.red(l.level) : l.level === 'warn' ? c.yellow(l.level) : l.level} ${l.message}`).join('\n'),
        );
      }),
    );

  group
    .command('types')
    .description('Registered job types with their params.')
    .action(
      cli.action(async (ctx) => {
        const r = await ctx.query<{ types: WireJobType[] }>('query:jobs.types.v1', {});
        ctx.print(r, (x: typeof r, c) =>
          formatTable(['JOB TYPE', 'OWNER', 'RESUMABLE', 'DESCRIPTION'], x.types.map((t) => [t.job_type, t.owner, t.resumable ? 'yes' : 'no', t.description]), c),
        );
      }),
    );

  group
    .command('watch')
    .description('Live progress of one job (until it ends) or of all jobs (until Ctrl-C).')
    .argument('[job_id]')
    .action(cli.action(async (ctx, jobId: string | undefined) => watch(ctx, jobId)));

  const dispatch = group
    .command('dispatch')
    .description("Add a job; its params as flags (converted by the job type's params schema) or as --json-input.")
    .usage('<job_type> [--param value …] [--json-input JSON] [--priority N] [--run-at ISO] [--follow]')
    // Optional here so that `jobs dispatch --help` shows this help; checked in the action.
    .argument('[job_type]', 'files.copy, files.hash_tree, <ext-id>:<name> …')
    .argument('[params...]', 'params as flags: --some-param value')
    .option('--json-input <json>', 'the params as a JSON object (flags override its fields)')
    .option('--priority <n>', 'higher runs first (default 0)')
    .option('--run-at <iso>', 'do not start before this time (ISO 8601)')
    .option('--max-attempts <n>', 'attempts before the job fails for good')
    .option('--dedupe-key <key>', 'return the live job with this key instead of adding another')
    .option('--idempotency-key <key>', 'a key of your own for this dispatch: running the command again with it returns the same job (default: a new key, reused by the client\'s own retries)')
    .option('--follow', 'watch the job until it ends; exit code 0 only if it completed')
    .option('-h, --help', "show this help; after a job type, that type's params")
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', '\nExamples:\n  spacedrive jobs dispatch files.hash_tree --root ~/Photos --follow\n  spacedrive jobs dispatch finance:email_scan --provider gmail\n')
    .action(
      cli.action(async (ctx, jobType: string | undefined, fields: string[], opts: DispatchFlags) => {
        if (jobType === undefined) {
          if (opts.help) {
            ctx.out(dispatch.helpInformation().trimEnd());
            return;
          }
          throw new SpacedriveError(ErrorCode.USAGE, "missing the job type: spacedrive jobs dispatch <job_type> [--param value …] ('spacedrive jobs types' lists them)");
        }
        const { types } = await ctx.query<{ types: WireJobType[] }>('query:jobs.types.v1', {});
        const info = types.find((t) => t.job_type === jobType);
        if (opts.help) {
          if (!info) {
            const suggestions = closestNames(jobType, types.map((t) => t.job_type));
            const didYouMean = suggestions.length > 0 ? `; did you mean ${suggestions.join(' or ')}?` : "; 'spacedrive jobs types' lists them";
            throw new SpacedriveError(ErrorCode.UNKNOWN_JOB_TYPE, `unknown job type '${jobType}'${didYouMean}`, { job_type: jobType, suggestions });
          }
          const rows = describeFlags(info.params_schema).map((f) => [f.flag, f.type, f.required ? 'yes' : '', f.description]);
          ctx.out(`${ctx.colors.bold(info.job_type)} (owner ${info.owner}, ${info.resumable ? 'resumable' : 'not resumable'})\n${info.description}\n\n${formatTable(['FLAG', 'TYPE', 'REQUIRED', 'DESCRIPTION'], rows, ctx.colors)}`);
          return;
        }
        let base: Record<string, unknown> = {};
        if (opts.jsonInput !== undefined) {
          try {
            base = JSON.parse(opts.jsonInput) as Record<string, unknown>;
          } catch (err) {
            throw new SpacedriveError(ErrorCode.INVALID_INPUT, `--json-input is not valid JSON: ${(err as Error).message}`);
          }
          if (base === null || typeof base !== 'object' || Array.isArray(base)) throw new SpacedriveError(ErrorCode.USAGE, '--json-input must be a JSON object');
        }
        // Unknown types go to the daemon as they are, so its UNKNOWN_JOB_TYPE answer (with hints) is shown.
        const params = info ? flagsToPayload(info.params_schema, fields, { base, cwd: ctx.io.cwd }) : flagsToPayload(undefined, fields, { base, cwd: ctx.io.cwd });
        if (info) validatePayload(info.params_schema, params);
        let runAt: string | undefined;
        if (opts.runAt !== undefined) {
          const t = Date.parse(opts.runAt);
          if (Number.isNaN(t)) throw new SpacedriveError(ErrorCode.USAGE, `--run-at expects an ISO 8601 time, got '${opts.runAt}'`);
          runAt = new Date(t).toISOString();
        }
        const priority = intFlag('--priority', opts.priority);
        const maxAttempts = intFlag('--max-attempts', opts.maxAttempts);
        const r = await ctx.action<{ job_id: string; deduplicated: boolean; replayed?: boolean }>('action:jobs.dispatch.input.v1', {
          job_type: jobType,
          params,
          ...(priority !== undefined ? { priority } : {}),
          ...(runAt ? { run_at: runAt } : {}),
          ...(maxAttempts !== undefined ? { max_attempts: maxAttempts } : {}),
          ...(opts.dedupeKey ? { dedupe_key: opts.dedupeKey } : {}),
          ...(opts.idempotencyKey ? { idempotency_key: opts.idempotencyKey } : {}),
        });
        if (!opts.follow) {
          ctx.print(r, (x: typeof r, c) => `${x.deduplicated ? 'already queued (same dedupe key)' : x.replayed ? 'already dispatched (same idempotency key)' : 'queued'}: ${c.bold(x.job_id)}`);
          return;
        }
        if (!ctx.json) ctx.note(`queued: ${r.job_id}`);
        return watch(ctx, r.job_id);
      }),
    );

  const control = (name: 'pause' | 'resume' | 'cancel' | 'retry', description: string) => {
    const cmd = group.command(name).description(description).argument('<job_id>');
    if (name === 'retry') cmd.option('--from-scratch', 'forget the checkpoint and start over');
    cmd.action(
      cli.action(async (ctx, jobId: string, opts: { fromScratch?: boolean }) => {
        const st = await ctx.action<WireJobStatus>(`action:jobs.${name}.input.v1`, { job_id: jobId, ...(opts.fromScratch ? { from_scratch: true } : {}) });
        ctx.print(st, (j: WireJobStatus, c) => `${j.job_id} ${statusColor(j.status, c)}${j.requested ? ` (${j.requested} requested; it stops at its next check)` : ''}`);
      }),
    );
  };
  control('pause', 'Pause a job (a running one stops at its next progress report, keeping its checkpoint).');
  control('resume', 'Resume a paused job from its last checkpoint.');
  control('cancel', 'Cancel a job (a running one stops at its next progress report).');
  control('retry', 'Queue a failed or cancelled job again, from its last checkpoint.');
}
