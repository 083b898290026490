/** `spacedrive cluster nodes`: the daemons sharing this daemon's store (query:cluster.nodes.v1). */
import type { Command } from 'commander';
import type { KnownQueries } from '../../client/types.js';
import type { Cli } from '../context.js';
import { formatDuration, formatTable, type Colors } from '../output.js';

type Nodes = KnownQueries['query:cluster.nodes.v1']['output'];

function humanNodes(r: Nodes, c: Colors): string {
  const now = Date.now();
  const rows = r.nodes.map((n) => [
    `${n.node_id}${n.self ? c.dim(' (this)') : ''}`,
    n.host,
    n.version,
    n.started_at,
    `${formatDuration(Math.max(0, now - Date.parse(n.heartbeat_at)))} ago`,
    String(n.jobs_running),
    n.lost ? c.red('lost') : n.draining ? c.yellow('draining') : c.green('up'),
  ]);
  const table = formatTable(['NODE', 'HOST', 'VERSION', 'STARTED', 'HEARTBEAT', 'RUNNING', 'STATE'], rows, c);
  return r.store === 'sqlite' ? `${table}\n${c.dim('store: sqlite (one daemon); start daemons with --store postgres://… to form a cluster')}` : table;
}

export function registerClusterCommands(program: Command, cli: Cli): void {
  const cluster = program.command('cluster').description('Inspect the cluster of daemons sharing one PostgreSQL store.');
  cluster
    .command('nodes')
    .description('List the nodes: id, host, version, started, last heartbeat, jobs running, draining (or lost: no heartbeat for a lease).')
    .action(
      cli.action(async (ctx) => {
        const r = await ctx.query<Nodes>('query:cluster.nodes.v1', {});
        ctx.print(r, humanNodes);
      }),
    );
}
