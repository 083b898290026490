/** `spacedrive methods [filter]`: every registered query and action, core and extensions. */
import { Option, type Command } from 'commander';
import type { KnownQueries } from '../../client/types.js';
import type { Cli } from '../context.js';
import { formatTable } from '../output.js';

type Methods = KnownQueries['query:core.methods.v1']['output'];

export function registerMethodsCommand(program: Command, cli: Cli): void {
  program
    .command('methods')
    .description('List the registered methods (core and extensions) with kind, owner and description; --json adds their input and output schemas.')
    .argument('[filter]', 'keep methods whose name contains this text (e.g. files, finance:)')
    .option('--owner <owner>', "only methods of this owner: 'core' or an extension id")
    .addOption(new Option('--kind <kind>', 'only queries or only actions').choices(['query', 'action']))
    .action(
      cli.action(async (ctx, filter: string | undefined, opts: { owner?: string; kind?: 'query' | 'action' }) => {
        const input: Record<string, string> = {};
        if (filter) input.filter = filter;
        if (opts.owner) input.owner = opts.owner;
        if (opts.kind) input.kind = opts.kind;
        const result = await ctx.query<Methods>('query:core.methods.v1', input);
        ctx.print(result, (r: Methods, c) => {
          if (r.methods.length === 0) return c.dim('no methods match');
          const rows = r.methods.map((m) => [m.method, m.kind, m.owner, m.description]);
          const width = ctx.width;
          return formatTable(['METHOD', 'KIND', 'OWNER', 'DESCRIPTION'], rows, c, width !== undefined ? { width } : {});
        });
      }),
    );
}
