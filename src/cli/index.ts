/**
 * The `spacedrive` command line: a thin layer that turns arguments into the options object and
 * client calls, prints results, and maps errors to exit codes (see ./exit-codes.ts). Each
 * command group lives in ./commands and is listed in ./commands/index.ts. docs/cli.md is the
 * reference for users.
 */
import { Command, CommanderError, Option } from 'commander';
import { VERSION } from '../core/version.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { COMMAND_GROUPS } from './commands/index.js';
import { Cli, type CliIo } from './context.js';
import { EXIT_CODES_HELP, ExitCode, errorAsJson, exitCodeFor, formatError } from './exit-codes.js';
import { colorEnabled, makeColors } from './output.js';

export { Cli, CommandContext, flagsToOverrides, type CliIo, type GlobalFlags } from './context.js';
export type { CommandGroup } from './commands/index.js';
export { ExitCode } from './exit-codes.js';
export { buildPayload, INPUT_FLAGS_HELP, readInputDocument, withInputOptions, type InputOptions } from './input.js';
export { describeFlags, fieldToFlag, flagsToPayload, validatePayload, type FlagProblem, type FlagsToPayloadOptions } from './flags.js';

/**
 * `--json '{…}'` means: JSON output, and this object is the input. Rewritten before parsing to
 * `--json --json-input '{…}'` so that `--json` itself stays a plain switch everywhere.
 */
export function rewriteJsonInputShorthand(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    out.push(arg);
    const next = args[i + 1];
    if (arg === '--json' && next !== undefined && next.trimStart().startsWith('{')) {
      out.push('--json-input', next);
      i++;
    }
  }
  return out;
}

/** Builds the program with its global options and every command group. */
export function buildProgram(cli: Cli, onCommanderError: (message: string) => void): Command {
  const program = new Command('spacedrive');
  program
    .description('Control the spacedrive daemon: run it, call its queries and actions (core and extension-defined), inspect it.')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--data-dir <dir>', 'data directory (env SPACEDRIVE_DATA_DIR; default $XDG_DATA_HOME/spacedrive or ~/.local/share/spacedrive)')
    .option('--json', 'machine output: results as JSON on stdout, errors as JSON on stderr')
    .addOption(new Option('--log-level <level>', 'log level (env SPACEDRIVE_LOG_LEVEL)').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']))
    .addOption(new Option('--log-format <format>', 'log format (env SPACEDRIVE_LOG_FORMAT)').choices(['pretty', 'json']))
    .option('--no-color', 'no colours in output (also when NO_COLOR is set or output is not a terminal)')
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => cli.io.stdout.write(s),
      writeErr: (s) => cli.io.stderr.write(s),
      outputError: (s) => onCommanderError(s),
    })
    .addHelpText(
      'after',
      `
Options come from, later winning: defaults, SPACEDRIVE_* environment variables,
<data-dir>/config.json, then these flags ('spacedrive config show' prints the result).
${EXIT_CODES_HELP}

Examples:
  spacedrive daemon start
  spacedrive status
  spacedrive methods files
  spacedrive action files.copy --sources a.txt --destination b.txt
  spacedrive query finance:classify_receipt --pdf receipt.pdf --json`,
    );
  for (const register of COMMAND_GROUPS) register(program, cli);
  return program;
}

/**
 * Runs the CLI. `argv` is `process.argv` (node, script, then the arguments); `io` replaces the
 * process streams, environment or working directory (tests, embedding). Resolves to the exit code.
 */
export async function main(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const fullIo: CliIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    stdin: io.stdin ?? process.stdin,
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
  };
  // `spacedrive methods | head -1`: a reader that goes away is not an error worth a stack trace.
  for (const stream of [fullIo.stdout, fullIo.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  const args = rewriteJsonInputShorthand(argv.slice(2));
  const cli = new Cli(fullIo);
  let commanderMessage: string | undefined;
  const program = buildProgram(cli, (message) => {
    commanderMessage = message;
  });
  // Decided from the raw arguments: an error may come before commander has parsed anything.
  const wantsJson = args.includes('--json');
  try {
    await program.parseAsync(args, { from: 'user' });
    return cli.exitCode;
  } catch (caught) {
    let err: unknown = caught;
    if (caught instanceof CommanderError) {
      if (caught.code === 'commander.helpDisplayed' || caught.code === 'commander.version') return ExitCode.OK;
      // Help shown because no subcommand was given is a usage error; commander already printed it.
      if (caught.code === 'commander.help') return caught.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
      const message = (commanderMessage ?? caught.message).replace(/^error:\s*/, '').trim().replace(/\n+/g, ' ');
      err = new SpacedriveError(ErrorCode.USAGE, message);
    }
    if (wantsJson) {
      fullIo.stderr.write(`${errorAsJson(err)}\n`);
    } else {
      const colors = makeColors(colorEnabled(fullIo.stderr, fullIo.env, args.includes('--no-color')));
      fullIo.stderr.write(`${formatError(err, colors)}\n`);
      if (exitCodeFor(err) === ExitCode.INTERNAL && err instanceof Error && err.stack && fullIo.env.SPACEDRIVE_DEBUG) {
        fullIo.stderr.write(`${err.stack}\n`);
      }
    }
    return exitCodeFor(err);
  } finally {
    await cli.closeAll();
  }
}
