/**
 * Input for commands that send a schema-described payload (`query`, `action`, and later
 * `jobs dispatch`): `--json-input JSON`, `--input FILE|-`, and field flags converted by the
 * schema. Reuse: `withInputOptions(cmd)` when declaring the command, `buildPayload(…)` in its
 * handler, `INPUT_FLAGS_HELP` in its help text.
 */
import type { Command } from 'commander';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import type { JsonSchema } from '../schema/index.js';
import type { CommandContext } from './context.js';
import { flagsToPayload, validatePayload } from './flags.js';

/** The options {@link withInputOptions} declares, as commander parses them. */
export interface InputOptions {
  jsonInput?: string;
  input?: string;
}

/** How field flags work, for a command's `--help`. */
export const INPUT_FLAGS_HELP = `Input fields as flags (converted by the input schema):
  --some-field v        sets some_field (kebab-case → snake_case; --a.b v sets a nested field)
  numbers, integers     parsed and checked: --limit 10
  booleans              --flag, --no-flag, --flag false
  lists                 repeat the flag (--tag a --tag b), or a,b, or a JSON array
  objects               a JSON object: --meta '{"k":1}'
  binary fields         a file path; the file is read and sent base64-encoded (- = stdin)
Flags override fields of --json-input / --input. An unknown flag, a wrong type or a missing
required field is a usage error (exit code 2) naming the flag. Global options and this
command's own options win over input fields of the same name; pass those in --json-input.`;

/**
 * Declares `--json-input` and `--input` and lets unknown `--flags` through to the command's
 * variadic argument (declare one, e.g. `.argument('[fields...]')`), where {@link buildPayload}
 * converts them.
 */
export function withInputOptions(cmd: Command): Command {
  return cmd
    .option('--json-input <json>', "the input as a JSON object; '--json {…}' does the same and also selects JSON output")
    .option('--input <file>', "read the input JSON from a file ('-' for standard input)")
    .allowUnknownOption()
    .allowExcessArguments();
}

/** Reads `--json-input` / `--input`; undefined when neither was given. */
export async function readInputDocument(ctx: CommandContext, opts: InputOptions): Promise<unknown> {
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

/**
 * The payload from the JSON document (if any) with the field flags applied over it, checked
 * against the schema before it is sent. The schema may be given as a loader (called after the
 * document is read). An undefined schema means "not known here": flags are taken as given and
 * nothing is checked (the daemon still validates).
 */
export async function buildPayload(
  ctx: CommandContext,
  schemaOrLoader: JsonSchema | undefined | (() => Promise<JsonSchema | undefined>),
  fields: readonly string[],
  opts: InputOptions,
): Promise<unknown> {
  // The document is read (and its JSON checked) before the schema is fetched from the daemon, so
  // a broken input is a usage error even when no daemon runs.
  const base = await readInputDocument(ctx, opts);
  const schema = typeof schemaOrLoader === 'function' ? await schemaOrLoader() : schemaOrLoader;
  if (base !== undefined && fields.length > 0 && (base === null || typeof base !== 'object' || Array.isArray(base))) {
    throw new SpacedriveError(ErrorCode.USAGE, 'flags can only be combined with a JSON object input');
  }
  const payload =
    fields.length > 0 || base === undefined
      ? flagsToPayload(schema, fields, { base: (base ?? {}) as Record<string, unknown>, cwd: ctx.io.cwd })
      : base;
  if (schema !== undefined) validatePayload(schema, payload);
  return payload;
}
