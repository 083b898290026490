/** `spacedrive status`: a summary of the running daemon (query:core.status.v1). */
import type { Command } from 'commander';
import type { KnownQueries } from '../../client/types.js';
import type { Cli } from '../context.js';
import { formatDuration, formatValue, type Colors } from '../output.js';

type Status = KnownQueries['query:core.status.v1']['output'];

function humanStatus(s: Status, c: Colors, socketPath: string): string {
  return [
    `${c.green('●')} spacedrive ${s.version} is running (pid ${s.pid})`,
    formatValue({ uptime: formatDuration(s.uptime_ms), started_at: s.started_at, data_dir: s.data_dir, socket: socketPath }, c, 2),
    `  ${c.bold('counts:')}`,
    formatValue(s.counts, c, 4),
  ].join('\n');
}

export function registerStatusCommand(program: Command, cli: Cli): void {
  program
    .command('status')
    .description('Show the running daemon: version, uptime, data directory and counters (exit code 3 when no daemon runs).')
    .action(
      cli.action(async (ctx) => {
        const status = await ctx.query<Status>('query:core.status.v1', {});
        ctx.print(status, (s, c) => humanStatus(s, c, ctx.options().socketPath));
      }),
    );
}
