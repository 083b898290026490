/**
 * `spacedrive extensions install|list|info|enable|disable|uninstall|reload`: a thin layer over the
 * `extensions.*` operations. `install` first asks the daemon for a dry run, shows the permissions
 * and limits the package asks for, and asks to confirm (on a terminal; `--yes` for scripts).
 */
import { createInterface } from 'node:readline/promises';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { ExtensionInfo, ExtensionSummary } from '../../extensions/manager.js';
import type { InstallPreview } from '../../extensions/operations.js';
import type { CommandContext, Cli } from '../context.js';
import { formatTable, formatValue, type Colors } from '../output.js';

function stateColor(state: string, c: Colors): string {
  if (state === 'loaded') return c.green(state);
  if (state === 'failed') return c.red(state);
  if (state === 'disabled') return c.dim(state);
  return c.yellow(state);
}

/** The permissions and limits a package asks for, as the install prompt shows them. */
export function describeRequest(p: Pick<InstallPreview, 'permissions' | 'limits'>, c: Colors): string {
  const perms = p.permissions;
  const lines = [c.bold('permissions:')];
  lines.push(`  call:           ${perms.call.length > 0 ? perms.call.join(', ') : c.dim('(none: only its own methods)')}`);
  lines.push(`  dispatch jobs:  ${perms.dispatch.length > 0 ? c.yellow(perms.dispatch.join(', ')) : c.dim('(none: only its own job types)')}`);
  lines.push(`  manage jobs:    ${perms.manage_jobs.length > 0 ? c.yellow(perms.manage_jobs.join(', ')) : c.dim('(none: only its own job types and jobs it dispatched)')}`);
  // Paths on this machine are the grant a person most needs to see: each on a line of its own.
  if (perms.filesystem.length === 0) lines.push(`  filesystem:     ${c.dim('(none)')}`);
  else perms.filesystem.forEach((g, i) => lines.push(`  ${i === 0 ? 'filesystem:   ' : '              '}  ${c.yellow(g.access.padEnd(5))} ${g.path}`));
  lines.push(`  libraries:      ${perms.libraries.length > 0 ? perms.libraries.join(', ') : c.dim('(none)')}`);
  lines.push(`  network:        ${perms.network.length > 0 ? perms.network.join(', ') : c.dim('(none)')}`);
  lines.push(c.bold('limits:'));
  const l = p.limits;
  lines.push(`  memory ${l.memory_mb} MiB, ${l.call_timeout_ms} ms per call, ${l.instances} instance(s), input ≤ ${l.max_input_bytes} B, output ≤ ${l.max_output_bytes} B, ${l.concurrent_jobs} concurrent job(s), ${l.requests_per_minute} host calls/min, HTTP ≤ ${l.http_timeout_ms} ms and ≤ ${l.http_max_response_bytes} B per response`);
  return lines.join('\n');
}

function humanInfo(i: ExtensionInfo, c: Colors): string {
  const lines = [
    `${c.bold(i.name)} (${i.id}) ${i.version} — ${stateColor(i.state, c)}${i.enabled ? '' : c.dim(' (disabled)')}`,
  ];
  if (i.description) lines.push(`  ${i.description}`);
  if (i.error) lines.push(`  ${c.red('error')} [${i.error.code}]: ${i.error.message}`);
  lines.push(
    formatValue(
      { author: i.author || '-', installed_at: i.installed_at, path: i.path, module: i.module, sha256: i.sha256, abi_version: i.abi_version, load_ms: i.load_ms, running_jobs: i.running_jobs },
      c,
      2,
    ),
  );
  lines.push(
    describeRequest(i, c)
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n')
      .replace('permissions:', 'permissions granted:')
      .replace('limits:', 'limits in effect:'),
  );
  lines.push(`  ${c.bold('operations:')}`);
  lines.push(i.operations.length === 0 ? `    ${c.dim('(none)')}` : formatTable(['METHOD', 'EXPORT', 'DESCRIPTION'], i.operations.map((o) => [o.method, o.export_fn, o.description]), c).split('\n').map((l) => `    ${l}`).join('\n'));
  lines.push(`  ${c.bold('job types:')}`);
  lines.push(
    i.job_types.length === 0
      ? `    ${c.dim('(none)')}`
      : formatTable(['JOB TYPE', 'EXPORT', 'RESUMABLE', 'DESCRIPTION'], i.job_types.map((j) => [j.job_type, j.export_fn, j.resumable ? 'yes' : 'no', j.description]), c)
          .split('\n')
          .map((l) => `    ${l}`)
          .join('\n'),
  );
  if (i.stats) lines.push(`  ${c.bold('sandbox:')} ${i.stats.instances} instance(s), ${i.stats.busy} busy, ${i.stats.queued} queued, ${i.stats.calls} calls (${i.stats.inline ?? 0} on the main thread), ${i.stats.replaced} replaced`);
  return lines.join('\n');
}

/** Exit code 1 when the command's extension ended up failed to load (the install/enable still happened). */
function printInfo(ctx: CommandContext, info: ExtensionInfo, done: string): number {
  ctx.print(info, (i: ExtensionInfo, c) => `${done}\n${humanInfo(i, c)}`);
  if (info.state === 'failed') {
    if (!ctx.json) ctx.note(`${ctx.colors.red('error')}: extension '${info.id}' is installed but failed to load`);
    return 1;
  }
  return 0;
}

/**
 * Shows what a package asks for and asks to confirm (on a terminal; false without asking
 * otherwise, with a USAGE error telling to pass --yes).
 */
export async function confirmInstall(ctx: CommandContext, preview: InstallPreview): Promise<boolean> {
  const interactive = (ctx.io.stdin as { isTTY?: boolean }).isTTY === true;
  if (!interactive) {
    throw new SpacedriveError(
      ErrorCode.USAGE,
      `not installing '${preview.id}' without confirmation: standard input is not a terminal; review its permissions and pass --yes`,
      { id: preview.id, permissions: preview.permissions },
    );
  }
  const c = ctx.colors;
  ctx.note(`${c.bold(preview.name)} (${preview.id}) ${preview.version}${preview.author ? ` by ${preview.author}` : ''}`);
  if (preview.description) ctx.note(`  ${preview.description}`);
  ctx.note(describeRequest(preview, c));
  return confirm(ctx, `Install '${preview.id}' with these permissions? [y/N] `);
}


/**
 * The package `source` names, as a directory the daemon can install from: a directory as is; a
 * .sdext file (or one downloaded from an https URL) unpacked into a temporary directory after
 * its checksums were verified. `cleanup` removes what was unpacked.
 */
async function openPackage(ctx: CommandContext, source: string): Promise<{ dir: string; cleanup: () => void }> {
  // Loaded here: only installs of a .sdext need the archive code.
  const { MAX_SDEXT_BYTES: MAX_DOWNLOAD_BYTES, unpackSdext } = await import('../../authoring/sdext.js');
  if (/^https?:\/\//i.test(source)) {
    if (!/^https:\/\//i.test(source) && !ctx.io.env.SPACEDRIVE_ALLOW_HTTP_PACKAGES) {
      throw new SpacedriveError(ErrorCode.USAGE, `refusing to download an extension over plain http: ${source} (use https)`, { url: source });
    }
    let response: Response;
    try {
      response = await fetch(source, { redirect: 'follow', signal: AbortSignal.timeout(120_000) });
    } catch (err) {
      throw new SpacedriveError(ErrorCode.HTTP_FAILED, `cannot download ${source}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, { url: source });
    }
    if (!response.ok) throw new SpacedriveError(ErrorCode.HTTP_FAILED, `cannot download ${source}: HTTP ${response.status}`, { url: source, status: response.status });
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > MAX_DOWNLOAD_BYTES) throw new SpacedriveError(ErrorCode.HTTP_TOO_LARGE, `${source} is ${declared} bytes, over the ${MAX_DOWNLOAD_BYTES}-byte limit`, { url: source });
    const bytes = Buffer.from(await response.arrayBuffer());
    if (bytes.length > MAX_DOWNLOAD_BYTES) throw new SpacedriveError(ErrorCode.HTTP_TOO_LARGE, `${source} is over the ${MAX_DOWNLOAD_BYTES}-byte limit`, { url: source });
    return unpackSdext(new URL(source).pathname.split('/').pop() || source, bytes);
  }
  const abs = resolve(ctx.io.cwd, source);
  const st = await stat(abs).catch(() => undefined);
  if (st?.isFile() && !abs.endsWith('manifest.json')) return unpackSdext(abs);
  return { dir: abs, cleanup: () => undefined };
}

async function confirm(ctx: CommandContext, question: string): Promise<boolean> {
  const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr });
  try {
    const answer = await rl.question(question);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export function registerExtensionsCommand(program: Command, cli: Cli): void {
  const group = program.command('extensions').description("Install and manage WebAssembly extensions. (Write one with 'spacedrive extension new|build|test|dev|pack'.)");

  group
    .command('install')
    .description('Validate an extension package (a .sdext file, an https URL of one, or a directory with manifest.json and its module), show the permissions and limits it asks for, and install it.')
    .argument('<package>', 'a .sdext file, an https:// URL of one, or a package directory')
    .option('-y, --yes', 'do not ask for confirmation (scripts)')
    .option('--disabled', 'install without enabling or loading it')
    .action(
      cli.action(async (ctx, source: string, opts: { yes?: boolean; disabled?: boolean }) => {
        const pkg = await openPackage(ctx, source);
        try {
          const preview = await ctx.action<InstallPreview>('action:extensions.install.input.v1', { path: pkg.dir, dry_run: true });
          if (!opts.yes && !(await confirmInstall(ctx, preview))) {
            ctx.note('not installed');
            return 1;
          }
          const info = await ctx.action<ExtensionInfo>('action:extensions.install.input.v1', { path: pkg.dir, enabled: !opts.disabled });
          return printInfo(ctx, info, `installed ${info.id} ${info.version}`);
        } finally {
          pkg.cleanup();
        }
      }),
    );

  group
    .command('list')
    .description('List installed extensions with their version and state.')
    .action(
      cli.action(async (ctx) => {
        const result = await ctx.query<{ extensions: ExtensionSummary[] }>('query:extensions.list.v1', {});
        ctx.print(result, (r: { extensions: ExtensionSummary[] }, c) => {
          if (r.extensions.length === 0) return c.dim("no extensions installed; install one with 'spacedrive extensions install <path>'");
          return formatTable(
            ['ID', 'VERSION', 'STATE', 'OPERATIONS', 'JOB TYPES', 'ERROR'],
            r.extensions.map((e) => [e.id, e.version, e.state, String(e.operations), String(e.job_types), e.error ? `[${e.error.code}] ${e.error.message}` : '']),
            c,
            ctx.width !== undefined ? { width: ctx.width } : {},
          );
        });
      }),
    );

  group
    .command('info')
    .description('Show an extension: permissions granted, limits in effect, state, registered operations and job types, sandbox statistics.')
    .argument('<id>', 'extension id')
    .action(
      cli.action(async (ctx, id: string) => {
        const info = await ctx.query<ExtensionInfo>('query:extensions.info.v1', { id });
        ctx.print(info, humanInfo);
      }),
    );

  for (const [name, description, done] of [
    ['enable', 'Enable an extension and load it (it then loads at every daemon start).', 'enabled'],
    ['disable', 'Disable an extension and unload it.', 'disabled'],
  ] as const) {
    group
      .command(name)
      .description(description)
      .argument('<id>', 'extension id')
      .action(
        cli.action(async (ctx, id: string) => {
          const info = await ctx.action<ExtensionInfo>(`action:extensions.${name}.input.v1`, { id });
          return printInfo(ctx, info, `${done} ${id}`);
        }),
      );
  }

  group
    .command('uninstall')
    .description('Unload an extension and remove its files.')
    .argument('<id>', 'extension id')
    .action(
      cli.action(async (ctx, id: string) => {
        const result = await ctx.action<{ id: string; version: string }>('action:extensions.uninstall.input.v1', { id });
        ctx.print(result, (r: { id: string; version: string }) => `uninstalled ${r.id} ${r.version}`);
      }),
    );

  group
    .command('reload')
    .description('Load an extension again and swap to it without failing running calls; --from installs a new version from a package.')
    .argument('<id>', 'extension id')
    .option('--from <path>', 'package directory of the new version')
    .action(
      cli.action(async (ctx, id: string, opts: { from?: string }) => {
        const payload: Record<string, string> = { id };
        if (opts.from) payload.from = resolve(ctx.io.cwd, opts.from);
        const info = await ctx.action<ExtensionInfo>('action:extensions.reload.input.v1', payload);
        return printInfo(ctx, info, `reloaded ${id} ${info.version}`);
      }),
    );
}
