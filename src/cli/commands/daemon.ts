/**
 * `spacedrive daemon` (foreground, the default) and `spacedrive daemon start|stop|status`
 * (a background daemon with a pid file and a log file in the data directory).
 */
import type { Command } from 'commander';
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import { loadOptions, type SpacedriveOptions } from '../../config/index.js';
import { flagsToOverrides, type Cli, type CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatDuration, formatValue } from '../output.js';

/** Loaded on use: the daemon pulls in core and every capability, which other commands never need. */
const daemonModule = () => import('../../daemon/index.js');

function parseTimeout(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new SpacedriveError(ErrorCode.USAGE, `--timeout: expected a positive number of milliseconds, got '${value}'`);
  return n;
}

/** The options with `--http` applied (it wins over the config file and the environment). */
function withHttp(options: SpacedriveOptions, listen: string | undefined): SpacedriveOptions {
  if (listen === undefined) return options;
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(listen)) {
    throw new SpacedriveError(ErrorCode.USAGE, `--http: expected HOST:PORT such as 127.0.0.1:7780, got '${listen}'`);
  }
  return { ...options, http: { ...options.http, listen } };
}

const STORE_FLAG = ['--store <store>', "where shared state lives: 'sqlite' (default, this data directory) or a postgres://… URL (a cluster: every daemon started on that database is a node)"] as const;

/** The options with `--store` on top (validated like the config field `store`). */
function withStore(ctx: CommandContext, store: string | undefined): SpacedriveOptions {
  if (store === undefined) return ctx.options();
  return loadOptions({ overrides: { ...flagsToOverrides(ctx.flags), store }, env: ctx.io.env });
}

export function registerDaemonCommands(program: Command, cli: Cli): void {
  const daemon = program
    .command('daemon')
    .description('Run the daemon in the foreground (the default), or start, stop and inspect a background one.');

  daemon
    .command('run', { isDefault: true })
    .description('Run the daemon in the foreground until SIGTERM or SIGINT (what `spacedrive daemon` and `npm start` do).')
    .option(...STORE_FLAG)
    .option('--http <host:port>', 'also serve the HTTP API, GraphQL and the dashboard there (loopback, e.g. 127.0.0.1:7780; see `spacedrive daemon token`)')
    .action(
      cli.action(async (ctx, opts: { store?: string; http?: string }) => (await daemonModule()).runDaemonForeground(withHttp(withStore(ctx, opts.store), opts.http))),
    );

  daemon
    .command('start')
    .description('Start the daemon in the background; returns once it answers (log: <data-dir>/daemon.log).')
    .option('--timeout <ms>', 'how long to wait for it to answer', '15000')
    .option(...STORE_FLAG)
    .option('--http <host:port>', 'also serve the HTTP API, GraphQL and the dashboard there')
    .action(
      cli.action(async (ctx, opts: { timeout: string; store?: string; http?: string }) => {
        const started = await (await daemonModule()).startDaemonInBackground(withHttp(withStore(ctx, opts.store), opts.http), { timeoutMs: parseTimeout(opts.timeout) });
        const result = { ...started, socketPath: ctx.options().socketPath, dataDir: ctx.options().dataDir };
        ctx.print(result, (r: typeof result, c) =>
          r.alreadyRunning
            ? `${c.yellow('●')} the daemon is already running (pid ${r.pid}) on ${r.socketPath}`
            : `${c.green('●')} daemon started (pid ${r.pid})\n${formatValue({ socket: r.socketPath, log: r.logFile }, c, 2)}`,
        );
      }),
    );

  daemon
    .command('stop')
    .description('Stop the background daemon gracefully (SIGKILL after --timeout); succeeds also when none runs.')
    .option('--timeout <ms>', 'how long to wait for a graceful shutdown', '10000')
    .action(
      cli.action(async (ctx, opts: { timeout: string }) => {
        const stopped = await (await daemonModule()).stopDaemon(ctx.options(), { timeoutMs: parseTimeout(opts.timeout) });
        ctx.print(stopped, (r: typeof stopped, c) =>
          r.wasRunning ? `${c.dim('●')} daemon stopped${r.pid !== undefined ? ` (pid ${r.pid})` : ''}` : `${c.dim('●')} no daemon was running`,
        );
      }),
    );

  daemon
    .command('token')
    .description('Print the token of the TCP and HTTP listeners (tcp.token, else <data-dir>/keys/api.token, created when missing).')
    .action(
      cli.action(async (ctx) => {
        const { readOrCreateApiToken } = await import('../../daemon/api-token.js');
        const t = readOrCreateApiToken(ctx.options());
        const result = { token: t.token, source: t.source };
        ctx.print(result, (r: typeof result) => r.token);
      }),
    );

  daemon
    .command('status')
    .description('Say whether a daemon answers on the data directory\'s socket (exit code 0 running, 3 not running).')
    .action(
      cli.action(async (ctx) => {
        const status = await (await daemonModule()).daemonStatus(ctx.options());
        ctx.print(status, (s: typeof status, c) => {
          if (!s.running) {
            return `${c.red('●')} not running${s.pid !== undefined ? ` (pid ${s.pid} is alive but does not answer on ${s.socketPath})` : ` (no daemon answers on ${s.socketPath})`}`;
          }
          const st = s.status as { version?: string; uptime_ms?: number } | undefined;
          const extra = st?.uptime_ms !== undefined ? `, up ${formatDuration(st.uptime_ms)}` : '';
          return `${c.green('●')} running (pid ${s.pid}${extra}) on ${s.socketPath}`;
        });
        return status.running ? ExitCode.OK : ExitCode.DAEMON_NOT_RUNNING;
      }),
    );
}
