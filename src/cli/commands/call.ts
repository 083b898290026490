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
import { describeFlags, flagsToPayload, validatePayload } from '../flags.js';
import { formatTable } from '../output.js';

type MethodInfo = KnownQueries['query:core.methods.v1']['output']['methods'][number];

interface CallOptions {
  jsonInput?: string;
  input?: string;
  library?: string;
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

/** Reads `--json-input` / `--input` into the base payload. */
async function readBasePayload(ctx: CommandContext, opts: CallOptions): Promise<unknown> {
  if (opts.jsonInput !== undefined && opts.input !== undefined) {
    throw new SpacedriveError(ErrorCode.USAGE, 'give the input either as --json-input JSON or as --input FILE, not both');
  }
  const flag = opts.jsonInput !== undefined ? '--json-input' : '--input';
  const text = opts.jsonInput ?? (opts.input !== undefined ? await ctx.readText(opts.input) : undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const where = opts.input !== undefined ? ` (${opts.input === '-' ? 'standard input' : opts.input})` : '';
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `${flag}${where} is not valid JSON: ${(err as Error).message}`, {
      problems: [{ flag, field: '(root)', expected: 'a JSON object' }],
    });
  }
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
  program
    .command(kind)
    .description(
      kind === 'query'
        ? 'Run a query (read-only method) on the daemon and print its result.'
        : 'Run an action (a method that changes something) on the daemon and print its result.',
    )
    .usage('[options] <method> [--field value …] [--json-input JSON | --input FILE]')
    .argument('[method]', `method name, short (${kind === 'query' ? 'core.status, finance:classify_receipt' : 'files.copy, finance:process_email'}) or full`)
    .argument('[fields...]', 'input fields as flags: --some-field value (see below)')
    .option('--json-input <json>', "the input as a JSON object; '--json {…}' does the same and also selects JSON output")
    .option('--input <file>', "read the input JSON from a file ('-' for standard input)")
    .option('--library <id>', 'library to run a library-scoped method against (default: the default library)')
    .option('-h, --help', 'show this help; after a method name, that method\'s input flags')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      'after',
      `
Input fields as flags (converted by the method's input schema):
  --some-field v        sets some_field (kebab-case → snake_case; --a.b v sets a nested field)
  numbers, integers     parsed and checked: --limit 10
  booleans              --flag, --no-flag, --flag false
  lists                 repeat the flag (--tag a --tag b), or a,b, or a JSON array
  objects               a JSON object: --meta '{"k":1}'
  binary fields         a file path; the file is read and sent base64-encoded (- = stdin)
Flags override fields of --json-input / --input. An unknown flag, a wrong type or a missing
required field is a usage error (exit code 2) naming the flag. Global options and this
command's own options win over input fields of the same name; pass those in --json-input.

Examples:
${example.join('\n')}`,
    )
    .action(
      cli.action(async (ctx, name: string | undefined, fields: string[], opts: CallOptions) => {
        if (name === undefined || name.startsWith('-')) {
          if (opts.help) {
            program.commands.find((x) => x.name() === kind)!.outputHelp();
            return;
          }
          throw new SpacedriveError(ErrorCode.USAGE, `missing the method name: spacedrive ${kind} <method> [--field value …]`);
        }
        const method = resolveMethodName(kind, name);
        const self = program.commands.find((x) => x.name() === kind)!;
        if (opts.help) {
          const info = await findMethod(ctx, method);
          if (!info) throw new SpacedriveError(ErrorCode.UNKNOWN_METHOD, `unknown method '${method}'`, { method });
          ctx.out(methodHelp(self, kind, info, ctx));
          return;
        }
        const base = await readBasePayload(ctx, opts);
        if (base !== undefined && fields.length > 0 && (base === null || typeof base !== 'object' || Array.isArray(base))) {
          throw new SpacedriveError(ErrorCode.USAGE, 'flags can only be combined with a JSON object input');
        }
        const info = await findMethod(ctx, method);
        let payload: unknown;
        if (!info) {
          const other: OperationKind = kind === 'query' ? 'action' : 'query';
          if (!/^(query|action):/.test(name) && (await findMethod(ctx, expandMethodName(other, name)))) {
            throw new SpacedriveError(ErrorCode.USAGE, `'${name}' is ${other === 'action' ? 'an action' : 'a query'}; run: spacedrive ${other} ${name} …`, {
              method: expandMethodName(other, name),
            });
          }
          // Not in the catalogue: send it anyway so the daemon's own UNKNOWN_METHOD answer (with
          // its hints, e.g. which extension is missing) reaches the user.
          payload = fields.length > 0 ? flagsToPayload(undefined, fields, { base: (base ?? {}) as Record<string, unknown>, cwd: ctx.io.cwd }) : (base ?? {});
        } else {
          const schema = info.input_schema as JsonSchema;
          payload =
            fields.length > 0 || base === undefined
              ? flagsToPayload(schema, fields, { base: (base ?? {}) as Record<string, unknown>, cwd: ctx.io.cwd })
              : base;
          validatePayload(schema, payload);
        }
        const result = kind === 'query' ? await ctx.query(method, payload, opts.library) : await ctx.action(method, payload, opts.library);
        ctx.print(result);
      }),
    );
}

export function registerCallCommands(program: Command, cli: Cli): void {
  registerCall(program, cli, 'query');
  registerCall(program, cli, 'action');
}
