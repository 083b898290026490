/**
 * `spacedrive library create|list|info` and `spacedrive location add|list|rescan|remove`: thin
 * layers over the `libraries.*` and `locations.*` operations. Entries and sidecars are reached
 * with `spacedrive query|action vdfs.*` (and `--library <id>`).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { formatTable, formatValue, type Colors } from '../output.js';

interface Library {
  id: string;
  name: string;
  created_at: string;
  is_default: boolean;
}

interface Location {
  id: string;
  path: string;
  name: string;
  last_indexed_at: string | null;
  last_job_id: string | null;
  entries: number;
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(1)} ${units[u]}`;
}

function libraryTable(libs: Library[], c: Colors): string {
  if (libs.length === 0) return c.dim('no libraries');
  return formatTable(['ID', 'NAME', 'DEFAULT', 'CREATED'], libs.map((l) => [l.id, l.name, l.is_default ? c.green('yes') : '', l.created_at]), c);
}

export function registerLibraryCommands(program: Command, cli: Cli): void {
  const library = program
    .command('library')
    .description('Libraries: each holds its own entries, locations and sidecar index (calls that name no library use the default one).');

  library
    .command('create')
    .description('Create a library.')
    .argument('<name>', 'name (unique)')
    .option('--default', 'make it the default library')
    .action(
      cli.action(async (ctx, name: string, opts: { default?: boolean }) => {
        const lib = await ctx.action<Library>('action:libraries.create.input.v1', { name, make_default: opts.default === true });
        ctx.print(lib, (l: Library, c) => `${c.green('created')} library ${c.bold(l.name)} (${l.id})${l.is_default ? ', the default' : ''}`);
      }),
    );

  library
    .command('list')
    .description('List the libraries.')
    .action(
      cli.action(async (ctx) => {
        const r = await ctx.query<{ libraries: Library[] }>('query:libraries.list.v1', {});
        ctx.print(r, (x: { libraries: Library[] }, c) => libraryTable(x.libraries, c));
      }),
    );

  library
    .command('info')
    .description('Show a library (default: the default library) with its counts and sizes.')
    .argument('[id]', 'library id')
    .action(
      cli.action(async (ctx, id: string | undefined) => {
        const info = await ctx.query<Record<string, unknown>>('query:libraries.info.v1', id ? { library_id: id } : {});
        ctx.print(info, (i: Record<string, number | string | boolean>, c) =>
          [
            `${c.bold(String(i.name))} (${i.id})${i.is_default ? c.dim(' — default') : ''}`,
            formatValue(
              {
                created_at: i.created_at,
                entries: i.entries,
                locations: i.locations,
                sidecars: i.sidecars,
                size: humanBytes(Number(i.size_bytes)),
                sidecar_size: humanBytes(Number(i.sidecar_bytes)),
                database_size: humanBytes(Number(i.database_bytes)),
              },
              c,
              2,
            ),
          ].join('\n'),
        );
      }),
    );

  const location = program
    .command('location')
    .description('Locations: directories a library indexes into entries (with the resumable locations.index job).');
  const libraryOption = ['--library <id>', 'library (default: the default library)'] as const;

  location
    .command('add')
    .description('Add a directory as a location and start indexing it; prints the job id (follow it with `spacedrive jobs watch <id>`).')
    .argument('<path>', 'directory')
    .option('--name <name>', 'display name (default: the directory name)')
    .option(...libraryOption)
    .action(
      cli.action(async (ctx, path: string, opts: { name?: string; library?: string }) => {
        const r = await ctx.action<{ location: Location; job_id: string }>('action:locations.add.input.v1', {
          path: resolve(ctx.io.cwd, path),
          ...(opts.name ? { name: opts.name } : {}),
          ...(opts.library ? { library_id: opts.library } : {}),
        });
        ctx.print(r, (x: { location: Location; job_id: string }, c) => `${c.green('added')} location ${c.bold(x.location.name)} (${x.location.id}) ${x.location.path}\nindexing: job ${x.job_id}`);
      }),
    );

  location
    .command('list')
    .description('List the locations of a library.')
    .option(...libraryOption)
    .action(
      cli.action(async (ctx, opts: { library?: string }) => {
        const r = await ctx.query<{ locations: Location[] }>('query:locations.list.v1', opts.library ? { library_id: opts.library } : {});
        ctx.print(r, (x: { locations: Location[] }, c) =>
          x.locations.length === 0
            ? c.dim('no locations')
            : formatTable(['ID', 'NAME', 'PATH', 'ENTRIES', 'LAST INDEXED'], x.locations.map((l) => [l.id, l.name, l.path, String(l.entries), l.last_indexed_at ?? c.dim('never')]), c),
        );
      }),
    );

  location
    .command('rescan')
    .description('Index a location again (changed, new, moved and deleted files); prints the job id.')
    .argument('<location-id>', 'location id')
    .option(...libraryOption)
    .action(
      cli.action(async (ctx, id: string, opts: { library?: string }) => {
        const r = await ctx.action<{ job_id: string; deduplicated: boolean }>('action:locations.rescan.input.v1', { location_id: id, ...(opts.library ? { library_id: opts.library } : {}) });
        ctx.print(r, (x: { job_id: string; deduplicated: boolean }) => (x.deduplicated ? `already indexing: job ${x.job_id}` : `indexing: job ${x.job_id}`));
      }),
    );

  location
    .command('remove')
    .description('Remove a location and its entries (files on disk are not touched).')
    .argument('<location-id>', 'location id')
    .option('--keep-entries', 'keep its entries, detached from the location')
    .option(...libraryOption)
    .action(
      cli.action(async (ctx, id: string, opts: { keepEntries?: boolean; library?: string }) => {
        const r = await ctx.action<{ location: Location; removed_entries: number }>('action:locations.remove.input.v1', {
          location_id: id,
          keep_entries: opts.keepEntries === true,
          ...(opts.library ? { library_id: opts.library } : {}),
        });
        ctx.print(r, (x: { location: Location; removed_entries: number }, c) => `${c.green('removed')} location ${x.location.name} (${x.removed_entries} entries removed)`);
      }),
    );
}
