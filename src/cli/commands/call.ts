/**
 * `spacedrive query <method> …` and `spacedrive action <method> …`: call any registered method,
 * core or extension, with its input given as flags (converted by the method's input schema),
 * as JSON (`--json-input`), or from a file (`--input FILE`, `-` for standard input).
 */
import type { Command } from 'commander';
import type { KnownQueries } from '../../client/types.js';
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import { expandMethodName, parseMethod, type OperationKind } from '../../registry/index.js';
import type { JsonSchema } from '../../schema/index.js';
import type { Cli, CommandContext } from '../context.js';
import { describeFlags } from '../flags.js';
import { buildPayload, INPUT_FLAGS_HELP, withInputOptions, type InputOptions } from '../input.js';
import { formatTable } from '../output.js';

type MethodInfo = KnownQueries['query:core.methods.v1']['output']['methods'][number];

interface CallOptions extends InputOptions {
  wide?: boolean;
  library?: string;
  timeout?: string;
  help?: boolean;
}

/** `query:finance:classify_receipt.v1` → `finance:classify_receipt`; `action:files.copy.input.v2` → `files.copy.v2`. */
export function shortMethodName(method: string): string {
  const parsed = parseMethod(method);
  if (!parsed) return method;
  const base = parsed.namespace === 'core' ? parsed.name : `${parsed.namespace}:${parsed.name}`;
  return parsed.version === 1 ? base : `${base}.v${parsed.version}`;
}

/** Expands a short name and checks it names a method of this kind. Throws USAGE otherwise. */
export function resolveMethodName(kind: OperationKind, name: string): string {
  const method = expandMethodName(kind, name);
  const parsed = parseMethod(method);
  if (!parsed) {
    throw new SpacedriveError(
      ErrorCode.USAGE,
      `'${name}' is not a method name; expected a core name like files.copy, an extension name like finance:classify_receipt, or a full name like ${kind}:…`,
      { method: name },
    );
  }
  if (parsed.kind !== kind) {
    const other = kind === 'query' ? 'action' : 'query';
    throw new SpacedriveError(ErrorCode.USAGE, `${method} is ${other === 'action' ? 'an action' : 'a query'}; call it with 'spacedrive ${other}'`, { method });
  }
  return method;
}

/**
 * Columns shown first (and, when present, alone) for the records a method lists, where the
 * generic choice would not pick the ones people look for. `--wide` shows every field.
 */
const PREFERRED_COLUMNS: Record<string, readonly string[]> = {
  'query:vdfs.list_entries.v1': ['id', 'name', 'entry_type', 'size', 'created_at', 'metadata'],
};

function parseTimeout(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new SpacedriveError(ErrorCode.USAGE, `--timeout: expected a positive number of milliseconds, got '${value}'`);
  return n;
}

async function findMethod(ctx: CommandContext, method: string): Promise<MethodInfo | undefined> {
  const { methods } = await ctx.query<{ methods: MethodInfo[] }>('query:core.methods.v1', { filter: method });
  return methods.find((m) => m.method === method);
}

function methodHelp(cmd: Command, kind: OperationKind, info: MethodInfo, ctx: CommandContext): string {
  const c = ctx.colors;
  const rows = describeFlags(info.input_schema as JsonSchema).map((f) => [f.flag, f.type, f.required ? 'yes' : '', f.description]);
  const lines = [
    `Usage: spacedrive ${kind} ${shortMethodName(info.method)} [--field value …] [--json-input JSON | --input FILE]`,
    '',
    `${c.bold(info.method)}  (owner: ${info.owner}, scope: ${info.scope})`,
    info.description,
    '',
    rows.length > 0 ? formatTable(['FLAG', 'TYPE', 'REQUIRED', 'DESCRIPTION'], rows, c) : c.dim('This method takes no input fields.'),
    '',
    c.dim(`Options of '${cmd.name()}' itself: spacedrive ${kind} --help`),
  ];
  return lines.join('\n');
}

function registerCall(program: Command, cli: Cli, kind: OperationKind): void {
  const example =
    kind === 'query'
      ? [
          '  spacedrive query core.status',
          '  spacedrive query core.methods --kind action --json',
          '  spacedrive query finance:classify_receipt --pdf receipt.pdf',
        ]
      : [
          '  spacedrive action files.copy --sources a.txt,b.txt --destination out/ --overwrite',
          '  spacedrive action files.copy --json-input \'{"sources":["a.txt"],"destination":"b.txt"}\'',
          '  spacedrive action files.copy --input copy.json',
          '  echo \'{"sources":["a"],"destination":"b"}\' | spacedrive action files.copy --input -',
        ];
  const command = program
    .command(kind)
    .description(
      kind === 'query'
        ? 'Run a query (read-only method) on the daemon and print its result.'
        : 'Run an action (a method that changes something) on the daemon and print its result.',
    )
    .usage('[options] <method> [--field value …] [--json-input JSON | --input FILE]')
    .argument('[method]', `method name, short (${kind === 'query' ? 'core.status, finance:classify_receipt' : 'files.copy, finance:import_receipts'}) or full`)
    .argument('[fields...]', 'input fields as flags: --some-field value (see below)');
  withInputOptions(command)
    .option('--wide', 'lists of records: every field as a column (by default only the useful ones, fitted to the terminal)')
    .option('--library <id>', 'library to run a library-scoped method against (default: the default library)')
    .option('--timeout <ms>', 'give up (error TIMEOUT, exit code 1) when no answer comes within this many milliseconds')
    .option('-h, --help', "show this help; after a method name, that method's input flags")
    .helpOption(false)
    .addHelpText('after', `\n${INPUT_FLAGS_HELP}\n\nExamples:\n${example.join('\n')}`)
    .action(
      cli.action(async (ctx, name: string | undefined, fields: string[], opts: CallOptions) => {
        if (name === undefined || name.startsWith('-')) {
          if (opts.help) {
            command.outputHelp();
            return;
          }
          throw new SpacedriveError(ErrorCode.USAGE, `missing the method name: spacedrive ${kind} <method> [--field value …]`);
        }
        const method = resolveMethodName(kind, name);
        if (opts.help) {
          const info = await findMethod(ctx, method);
          if (!info) throw new SpacedriveError(ErrorCode.UNKNOWN_METHOD, `unknown method '${method}'`, { method });
          ctx.out(methodHelp(command, kind, info, ctx));
          return;
        }
        const payload = await buildPayload(
          ctx,
          async () => {
            const info = await findMethod(ctx, method);
            if (info) return info.input_schema as JsonSchema;
            const other: OperationKind = kind === 'query' ? 'action' : 'query';
            if (!/^(query|action):/.test(name) && (await findMethod(ctx, expandMethodName(other, name)))) {
              throw new SpacedriveError(ErrorCode.USAGE, `'${name}' is ${other === 'action' ? 'an action' : 'a query'}; run: spacedrive ${other} ${name} …`, {
                method: expandMethodName(other, name),
              });
            }
            // Not in the catalogue: sent anyway, so the daemon's own UNKNOWN_METHOD answer (with
            // its hints: which extension is missing or disabled, the names a few keystrokes away)
            // reaches the user.
            return undefined;
          },
          fields,
          opts,
        );
        const call = { ...(opts.library !== undefined ? { libraryId: opts.library } : {}), ...(opts.timeout !== undefined ? { timeoutMs: parseTimeout(opts.timeout) } : {}) };
        const result = kind === 'query' ? await ctx.query(method, payload, call) : await ctx.action(method, payload, call);
        ctx.print(result, null, { wide: opts.wide === true, ...(PREFERRED_COLUMNS[method] ? { columns: PREFERRED_COLUMNS[method] } : {}) });
      }),
    );
}

export function registerCallCommands(program: Command, cli: Cli): void {
  registerCall(program, cli, 'query');
  registerCall(program, cli, 'action');
}
