/** `spacedrive config show|path`: the effective options and where the config file lives. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { SpacedriveOptions } from '../../config/index.js';
import type { Cli } from '../context.js';
import { formatValue } from '../output.js';

/** Option names whose values are secrets (token, api_key, password, secret, key…); `config show` prints them as `***`. */
const SECRET_NAME = /^(key|.*(token|password|passphrase|secret|api_?key|private_?key))$/i;

/** A copy of the options with every secret replaced by `***`. */
export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_NAME.test(k) && v !== null && v !== undefined && v !== '' ? '***' : redactSecrets(v);
  return out as T;
}

export function configFilePath(options: SpacedriveOptions): string {
  return join(options.dataDir, 'config.json');
}

export function registerConfigCommands(program: Command, cli: Cli): void {
  const config = program
    .command('config')
    .description('Show the effective configuration (defaults, then SPACEDRIVE_* environment, then <data-dir>/config.json, then flags).');

  config
    .command('show')
    .description('Print the effective options, secrets redacted (--json for the options object).')
    .action(
      cli.action((ctx) => {
        const options = ctx.options();
        ctx.print(redactSecrets(options), (o, c) => {
          const file = configFilePath(options);
          return `${formatValue(o, c)}\n${c.dim(`# config file: ${file}${existsSync(file) ? '' : ' (absent)'}`)}`;
        });
      }),
    );

  config
    .command('path')
    .description('Print the path of the config file (<data-dir>/config.json), whether or not it exists.')
    .action(
      cli.action((ctx) => {
        const file = configFilePath(ctx.options());
        if (ctx.json) ctx.print({ path: file, exists: existsSync(file) });
        else ctx.out(file);
      }),
    );
}
