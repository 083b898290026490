/**
 * `spacedrive types generate [--out file.d.ts]`: TypeScript types for every registered method
 * (core and extensions), from the JSON Schemas of the running daemon's registry
 * (`query:core.methods.v1`), for the typed client (src/typegen, src/client/types.ts).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../../atomic-file/index.js';
import type { KnownQueries } from '../../client/types.js';
import { DEFAULT_CLIENT_MODULE, generateMethodTypes } from '../../typegen/index.js';
import type { Cli } from '../context.js';

type Methods = KnownQueries['query:core.methods.v1']['output'];
type JobTypesResult = KnownQueries['query:jobs.types.v1']['output'];

export function registerTypesCommand(program: Command, cli: Cli): void {
  const types = program.command('types').description('TypeScript types for the typed client, from the schemas of the running daemon.');
  types
    .command('generate')
    .description(
      "Write a declaration file typing every registered method and job type (core and extensions) for the client: with it in your program, client.query('query:finance:classify_receipt.v1', …) checks its input and types its output, and JobParams<'finance:email_scan'> is that job's params.",
    )
    .option('-o, --out <file>', 'write the declarations to this file (default: stdout)')
    .option('--owner <owner>', "only methods of this owner: 'core' or an extension id")
    .option('--module <specifier>', 'the client module the file augments', DEFAULT_CLIENT_MODULE)
    .addHelpText(
      'after',
      `
Examples:
  spacedrive types generate --out src/spacedrive-methods.d.ts
  spacedrive types generate --owner finance > finance.d.ts`,
    )
    .action(
      cli.action(async (ctx, opts: { out?: string; owner?: string; module: string }) => {
        const filter = opts.owner ? { owner: opts.owner } : {};
        const result = await ctx.query<Methods>('query:core.methods.v1', filter);
        const { types: jobTypes } = await ctx.query<JobTypesResult>('query:jobs.types.v1', filter);
        const text = generateMethodTypes(result.methods, { module: opts.module, jobTypes });
        if (!opts.out) {
          ctx.io.stdout.write(text);
          return;
        }
        const target = resolve(ctx.io.cwd, opts.out);
        writeFileAtomic(target, text);
        const summary = { out: target, methods: result.methods.length, job_types: jobTypes.length };
        ctx.print(summary, (s: typeof summary) => `wrote types of ${s.methods} methods and ${s.job_types} job types to ${s.out}`);
      }),
    );
}
