/**
 * What every command gets: the global flags turned into the options object, output helpers that
 * honour `--json` and colour settings, and a client connected on first use and closed when the
 * command ends. Command groups (src/cli/commands/*) use only this and the client.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SpacedriveClient } from '../client/index.js';
import type { CallOptions, SpacedriveClientApi } from '../client/types.js';
import { loadOptions, type LogLevel, type PartialOptions, type SpacedriveOptions } from '../config/index.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { markFromDaemon } from './exit-codes.js';
import { SPINNER_DELAY_MS, startSpinner } from './spinner.js';
import { colorEnabled, formatValue, makeColors, type Colors, type FormatOptions } from './output.js';

/** Where the CLI reads and writes; the real process streams unless a caller passes others. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** The global flags every command takes. */
export interface GlobalFlags {
  dataDir?: string;
  json?: boolean;
  logLevel?: LogLevel;
  logFormat?: 'pretty' | 'json';
  /** `false` when `--no-color` was given. */
  color?: boolean;
}

/** Turns the global flags into the top layer of the options object (defaults → env → config file → these). */
export function flagsToOverrides(flags: GlobalFlags): PartialOptions {
  const overrides: PartialOptions = {};
  if (flags.dataDir !== undefined) overrides.dataDir = flags.dataDir;
  if (flags.logLevel !== undefined || flags.logFormat !== undefined) {
    overrides.log = {
      ...(flags.logLevel !== undefined ? { level: flags.logLevel } : {}),
      ...(flags.logFormat !== undefined ? { format: flags.logFormat } : {}),
    };
  }
  return overrides;
}

/** Per-command helpers, built by {@link Cli.context} inside an action handler. */
export class CommandContext {
  readonly flags: GlobalFlags;
  /** `--json`: results as JSON on stdout, errors as JSON on stderr. */
  readonly json: boolean;
  /** Colours for stdout (off when not a terminal, NO_COLOR or --no-color). */
  readonly colors: Colors;
  readonly io: CliIo;
  #options: SpacedriveOptions | undefined;
  #client: SpacedriveClientApi | undefined;

  constructor(io: CliIo, flags: GlobalFlags) {
    this.io = io;
    this.flags = flags;
    this.json = flags.json === true;
    this.colors = makeColors(colorEnabled(io.stdout, io.env, flags.color === false));
  }

  /** The effective options (loaded once). Throws CONFIG_INVALID for a bad config file or flag. */
  options(): SpacedriveOptions {
    this.#options ??= loadOptions({ overrides: flagsToOverrides(this.flags), env: this.io.env });
    return this.#options;
  }

  /** A client connected to the daemon of these options; DAEMON_NOT_RUNNING when none answers. */
  async client(): Promise<SpacedriveClientApi> {
    if (!this.#client) {
      // One-shot commands must not wait for a daemon to come back: no reconnect.
      const client = await SpacedriveClient.connect({ socketPath: this.options().socketPath, reconnect: false });
      this.#client = client;
    }
    return this.#client;
  }

  /** Runs a query on the daemon; its error answers are marked so they exit with code 1. */
  async query<T = unknown>(method: string, payload: unknown = {}, call: CallOptions | string | null = {}): Promise<T> {
    const client = await this.client();
    // A bare string (or null) is the library id, as before call options existed.
    const opts: CallOptions = typeof call === 'string' || call === null ? { libraryId: call } : call;
    const stopSpinner = this.#spinner(method);
    try {
      return (await client.query(method, payload as never, opts)) as T;
    } catch (err) {
      throw markFromDaemon(err);
    } finally {
      stopSpinner();
    }
  }

  /** Runs an action on the daemon; its error answers are marked so they exit with code 1. */
  async action<T = unknown>(method: string, payload: unknown = {}, call: CallOptions | string | null = {}): Promise<T> {
    const client = await this.client();
    // A bare string (or null) is the library id, as before call options existed.
    const opts: CallOptions = typeof call === 'string' || call === null ? { libraryId: call } : call;
    const stopSpinner = this.#spinner(method);
    try {
      return (await client.action(method, payload as never, opts)) as T;
    } catch (err) {
      throw markFromDaemon(err);
    } finally {
      stopSpinner();
    }
  }

  /**
   * A spinner on stderr while waiting for `method`, drawn only on a terminal (not for `--json`,
   * nor TERM=dumb) and only once the call has taken SPINNER_DELAY_MS (SPACEDRIVE_SPINNER_DELAY_MS
   * changes that, for tests). Returns the function that erases it.
   */
  #spinner(method: string): () => void {
    const stderr = this.io.stderr;
    const enabled = stderr.isTTY === true && !this.json && this.io.env.TERM !== 'dumb';
    const delay = Number(this.io.env.SPACEDRIVE_SPINNER_DELAY_MS);
    return startSpinner(stderr, `waiting for ${method}`, { enabled, delayMs: Number.isFinite(delay) && this.io.env.SPACEDRIVE_SPINNER_DELAY_MS !== '' ? delay : SPINNER_DELAY_MS });
  }

  /** Writes a line (or lines) to stdout. */
  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Writes a line to stderr (progress notes, warnings: never results). */
  note(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /**
   * Prints a result: with `--json` exactly as returned, pretty-printed JSON; otherwise through
   * `human` (or the generic rendering: `key: value` blocks, lists of records as tables of their
   * useful columns fitted to the terminal, every column with `table.wide`).
   */
  print(result: unknown, human?: ((result: any, colors: Colors) => string) | null, table: Pick<FormatOptions, 'wide' | 'columns'> = {}): void {
    if (this.json) this.out(JSON.stringify(result ?? null, null, 2));
    else if (human) this.out(human(result, this.colors));
    else {
      const width = this.width;
      this.out(formatValue(result, this.colors, 0, { ...table, ...(width !== undefined ? { width } : {}) }));
    }
  }

  /** Width to fit tables into, when stdout is a terminal. */
  get width(): number | undefined {
    return this.io.stdout.isTTY ? (this.io.stdout.columns ?? 100) : undefined;
  }

  /** Reads a file (or standard input for `-`) as UTF-8 text, relative to the working directory. */
  async readText(path: string): Promise<string> {
    if (path === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of this.io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      return Buffer.concat(chunks).toString('utf8');
    }
    try {
      return await readFile(resolve(this.io.cwd, path), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SpacedriveError(ErrorCode.USAGE, `cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { path });
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client) await client.close().catch(() => undefined);
  }
}

/** Builds contexts for commands and closes what they opened. */
export class Cli {
  readonly io: CliIo;
  readonly #open = new Set<CommandContext>();
  /** Set by commands that finish with a code other than 0 without an error (e.g. `daemon status` when stopped). */
  exitCode = 0;

  constructor(io: CliIo) {
    this.io = io;
  }

  /** The context of the running command, from its (and its parents') parsed options. */
  context(cmd: Command): CommandContext {
    const ctx = new CommandContext(this.io, cmd.optsWithGlobals() as GlobalFlags);
    this.#open.add(ctx);
    return ctx;
  }

  /**
   * Wraps a command handler for commander's `.action()`: the handler gets the command's context
   * followed by commander's arguments (positional arguments, then the command's own options);
   * a number it returns becomes the exit code.
   *
   * @example
   * program.command('status').action(cli.action(async (ctx) => { ctx.print(await ctx.query('query:core.status.v1')); }));
   */
  action(handler: (ctx: CommandContext, ...args: any[]) => Promise<number | void> | number | void): (...args: any[]) => Promise<void> {
    return async (...args: any[]) => {
      const cmd = args[args.length - 1] as Command;
      const ctx = this.context(cmd);
      const code = await handler(ctx, ...args.slice(0, -1));
      if (typeof code === 'number') this.exitCode = code;
    };
  }

  async closeAll(): Promise<void> {
    for (const ctx of this.#open) await ctx.close();
    this.#open.clear();
  }
}
