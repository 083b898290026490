/**
 * `spacedrive extension new|build|test|dev|pack|conformance`: writing an extension. (Installing
 * and managing them is `spacedrive extensions …`, in ./extensions.ts.) A thin layer over
 * src/authoring and the harness in src/testing; docs/extension-authoring.md is the guide.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { BuildResult, DevCycle } from '../../authoring/index.js';

/**
 * The authoring code (compilers, the in-process host of the harness) loads only when one of these
 * commands runs: every other command of the CLI starts without it.
 */
const authoring = () => import('../../authoring/index.js');
import { ErrorCode, SpacedriveError, asSpacedriveError } from '../../errors/index.js';
import type { ExtensionInfo } from '../../extensions/manager.js';
import type { InstallPreview } from '../../extensions/operations.js';
import type { GuestRegistration } from '../../extensions/sandbox/types.js';
import type { CommandContext, Cli } from '../context.js';
import { formatTable, type Colors } from '../output.js';
import { confirmInstall } from './extensions.js';

function registrationsTable(regs: readonly GuestRegistration[], c: Colors): string {
  if (regs.length === 0) return c.dim('  (registers nothing)');
  const rows = regs.map((r) =>
    r.kind === 'operation' ? [r.operationType, r.method, r.exportFn, r.description] : [`job${r.resumable ? ' (resumable)' : ''}`, r.jobType, r.exportFn, r.description],
  );
  return formatTable(['KIND', 'NAME', 'EXPORT', 'DESCRIPTION'], rows, c)
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

function buildSummary(b: BuildResult) {
  return {
    id: b.id,
    version: b.version,
    language: b.language,
    package: b.packageDir,
    module: b.wasmPath,
    bytes: b.bytes,
    sha256: b.sha256,
    compile_ms: Math.round(b.compileMs),
    registrations: b.registrations.map((r) =>
      r.kind === 'operation' ? { kind: r.operationType, method: r.method, export: r.exportFn, description: r.description } : { kind: 'job', job_type: r.jobType, export: r.exportFn, resumable: r.resumable, description: r.description },
    ),
  };
}

function kib(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** Resolves when the process is asked to stop (Ctrl-C, SIGTERM). */
function untilSignal(): Promise<string> {
  return new Promise((resolvePromise) => {
    const on = (sig: string) => () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolvePromise(sig);
    };
    const onInt = on('SIGINT');
    const onTerm = on('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}

/** One line per event of the extension, as `extension dev` prints them. */
function describeEvent(type: string, p: Record<string, unknown>, c: Colors): string | undefined {
  const ms = typeof p.ms === 'number' ? c.dim(` ${p.ms} ms`) : '';
  switch (type) {
    case 'guest:call': {
      const what = p.method ?? (p.job_id ? `job ${String(p.job_id).slice(0, 8)} (${p.export})` : p.export);
      return `${c.cyan('→')} ${what}${ms} ${p.ok ? c.green('ok') : c.red(`${p.error}: ${p.message}`)}`;
    }
    case 'guest:host_call':
      return `  ${c.magenta('host')} ${p.method}${ms} ${p.ok ? c.green('ok') : c.red(String(p.error))}`;
    case 'guest:log':
      return `  ${c.dim('log')} ${p.level === 'error' ? c.red(String(p.level)) : p.level === 'warn' ? c.yellow(String(p.level)) : String(p.level)} ${p.message}${p.job_id ? c.dim(` [job ${String(p.job_id).slice(0, 8)}]`) : ''}`;
    case 'extension:failed':
      return c.red(`extension failed to load: ${p.code}: ${p.message}`);
    case 'job:started':
      return `${c.blue('job')} ${String(p.job_id).slice(0, 8)} ${p.job_type} started${p.resumed_from_checkpoint ? ' (from its checkpoint)' : ''}`;
    case 'job:progress': {
      const fraction = typeof p.fraction === 'number' ? ` ${Math.round(p.fraction * 100)}%` : '';
      return `${c.blue('job')} ${String(p.job_id).slice(0, 8)} ${p.job_type}${fraction}${p.message ? ` ${p.message}` : ''}`;
    }
    case 'job:completed':
    case 'job:failed':
    case 'job:paused':
    case 'job:cancelled':
    case 'job:retrying':
      return `${c.blue('job')} ${String(p.job_id).slice(0, 8)} ${p.job_type} ${type.slice(4)}${p.error ? ` ${JSON.stringify(p.error)}` : ''}`;
    default:
      return undefined;
  }
}

async function deploy(ctx: CommandContext, build: BuildResult, yes: boolean): Promise<'installed' | 'reloaded'> {
  let installed = true;
  try {
    await ctx.query<ExtensionInfo>('query:extensions.info.v1', { id: build.id });
  } catch (err) {
    const code = asSpacedriveError(err)?.code;
    if (code !== ErrorCode.EXTENSION_NOT_FOUND && code !== ErrorCode.NOT_FOUND) throw err;
    installed = false;
  }
  if (!installed) {
    const preview = await ctx.action<InstallPreview>('action:extensions.install.input.v1', { path: build.packageDir, dry_run: true });
    if (!yes && !(await confirmInstall(ctx, preview))) throw new SpacedriveError(ErrorCode.USAGE, `not installing '${build.id}'`);
    const info = await ctx.action<ExtensionInfo>('action:extensions.install.input.v1', { path: build.packageDir, enabled: true });
    if (info.state === 'failed') throw new SpacedriveError(ErrorCode.EXTENSION_LOAD_FAILED, `'${build.id}' installed but failed to load: ${info.error?.message}`);
    return 'installed';
  }
  const info = await ctx.action<ExtensionInfo>('action:extensions.reload.input.v1', { id: build.id, from: build.packageDir });
  if (info.state === 'failed') throw new SpacedriveError(ErrorCode.EXTENSION_LOAD_FAILED, `'${build.id}' failed to load: ${info.error?.message}`);
  return 'reloaded';
}

export function registerExtensionDevCommand(program: Command, cli: Cli): void {
  const group = program
    .command('extension')
    .description("Write an extension: scaffold, build, test, hot-reload, pack. (Install and manage them with 'spacedrive extensions'.)");

  group
    .command('new')
    .description('Create a working extension project (manifest, a query, an action, a resumable job, a test, README, package.json) that builds and passes its test as generated.')
    .argument('<id>', 'extension id: lowercase letters, digits, - and _')
    .addOption(new Option('--lang <language>', 'source language').choices(['assemblyscript', 'rust']).default('assemblyscript'))
    .option('--dir <dir>', 'where to create it (default ./<id>; must be missing or empty)')
    .action(
      cli.action(async (ctx, id: string, opts: { lang: 'assemblyscript' | 'rust'; dir?: string }) => {
        const { newProject } = await authoring();
        const result = newProject({ id, language: opts.lang, dir: resolve(ctx.io.cwd, opts.dir ?? id) });
        ctx.print(result, (r: typeof result, c) =>
          [`created ${c.bold(id)} in ${r.dir}`, ...r.files.map((f) => `  ${f}`), '', 'next:', `  cd ${r.dir}`, '  spacedrive extension test', '  spacedrive extension dev'].join('\n'),
        );
      }),
    );

  group
    .command('build')
    .description("Compile the project, fill in the module's name and SHA-256 in build/manifest.json, check the manifest and the module's imports against the ABI, and list what it registers.")
    .argument('[dir]', 'project directory', '.')
    .option('--dev', 'fast, unoptimised build')
    .action(
      cli.action(async (ctx, dir: string, opts: { dev?: boolean }) => {
        const { buildProject } = await authoring();
        const b = await buildProject(resolve(ctx.io.cwd, dir), { optimize: opts.dev ? 'dev' : 'release' });
        ctx.print(buildSummary(b), (_s, c) =>
          [
            `built ${c.bold(b.id)} ${b.version}: ${b.wasmPath} (${kib(b.bytes)}, ${(b.compileMs / 1000).toFixed(1)} s)`,
            `  sha256 ${b.sha256}`,
            `  package ${b.packageDir} (install it, or 'spacedrive extension pack' it)`,
            'registers:',
            registrationsTable(b.registrations, c),
          ].join('\n'),
        );
      }),
    );

  group
    .command('test')
    .description('Build the project, then run its tests (test/*.test.ts, vitest) with the harness: the module in an in-process host with the real sandbox and stores.')
    .argument('[dir]', 'project directory', '.')
    .argument('[filters...]', 'only test files whose path contains one of these')
    .action(
      cli.action(async (ctx, dir: string, filters: string[]) => {
        const { buildProject, runProjectTests } = await authoring();
        const projectDir = resolve(ctx.io.cwd, dir);
        const b = await buildProject(projectDir, { optimize: 'dev', listRegistrations: false });
        ctx.note(`built ${b.id} ${b.version} (${kib(b.bytes)}, ${b.language === 'rust' ? 'cargo --release' : 'dev build'})`);
        return runProjectTests(projectDir, { filters, stdout: ctx.io.stdout, stderr: ctx.io.stderr, env: ctx.io.env });
      }),
    );

  group
    .command('dev')
    .description("Watch the sources, rebuild and hot-reload into the running daemon on every save; running jobs of the extension continue from their checkpoint; print each call into the extension, its host calls, logs and jobs as they happen. Ctrl-C stops.")
    .argument('[dir]', 'project directory', '.')
    .option('-y, --yes', 'install without asking when the extension is not installed yet')
    .option('--quiet', 'print only builds and reloads, not calls, logs and jobs')
    .action(
      cli.action(async (ctx, dir: string, opts: { yes?: boolean; quiet?: boolean }) => {
        const { DevSession } = await authoring();
        const c = ctx.colors;
        const client = await ctx.client();
        let id = '';
        const session = new DevSession({
          dir: resolve(ctx.io.cwd, dir),
          deploy: async (build) => {
            id = build.id;
            const how = await deploy(ctx, build, opts.yes === true);
            (build as BuildResult & { deployed?: string }).deployed = how;
          },
          onChange: (paths) => ctx.note(c.dim(`changed ${paths.join(', ')}: rebuilding`)),
          onCycle: (cycle: DevCycle) => {
            if (!cycle.ok) {
              const err = asSpacedriveError(cycle.error);
              ctx.out(`${c.red('build or reload failed')} ${err ? `[${err.code}] ${err.message}` : String(cycle.error)}`);
              ctx.out(c.dim('still watching; fix and save to try again'));
              return;
            }
            const b = cycle.build as BuildResult & { deployed?: string };
            const first = cycle.reason[0] === 'start';
            ctx.out(
              `${c.green(b.deployed ?? 'reloaded')} ${b.id} ${b.version} ${first ? 'in' : 'in'} ${Math.round(cycle.editToReadyMs)} ms${first ? '' : ' after the edit'} ${c.dim(`(build ${Math.round(cycle.buildMs)} ms, reload ${Math.round(cycle.deployMs)} ms, ${kib(b.bytes)})`)}`,
            );
          },
        });
        const first = await session.start();
        if (!first.ok) {
          await session.close();
          throw first.error;
        }
        let stopEvents = () => undefined as void;
        if (!opts.quiet) {
          const extEvents = client.subscribe(['guest:call', 'guest:log', 'guest:host_call', 'extension:failed'], { id });
          const jobEvents = client.subscribe(['job:started', 'job:progress', 'job:completed', 'job:failed', 'job:paused', 'job:cancelled', 'job:retrying']);
          await Promise.all([extEvents.ready, jobEvents.ready]);
          const pump = async (it: AsyncIterableIterator<{ type: string; payload: Record<string, unknown> }>, jobs: boolean) => {
            for await (const ev of it) {
              if (jobs && !String(ev.payload.job_type ?? '').startsWith(`${id}:`)) continue;
              const line = describeEvent(ev.type, ev.payload, c);
              if (line) ctx.out(line);
            }
          };
          void pump(extEvents, false).catch(() => undefined);
          void pump(jobEvents, true).catch(() => undefined);
          stopEvents = () => {
            void extEvents.return?.();
            void jobEvents.return?.();
          };
        }
        ctx.out(c.dim(`watching ${session.project.dir} (src/, manifest.json); Ctrl-C stops`));
        await untilSignal();
        stopEvents();
        await session.close();
        return 0;
      }),
    );

  group
    .command('pack')
    .description('Build the project (release) and write <id>-<version>.sdext: manifest, module, README and their checksums in one file, for spacedrive extensions install.')
    .argument('[dir]', 'project directory', '.')
    .option('-o, --out <file>', 'where to write it (default <dir>/<id>-<version>.sdext)')
    .option('--no-build', 'pack build/ as it is')
    .action(
      cli.action(async (ctx, dir: string, opts: { out?: string; build?: boolean }) => {
        const { packProject } = await authoring();
        const r = await packProject(resolve(ctx.io.cwd, dir), { ...(opts.out ? { out: resolve(ctx.io.cwd, opts.out) } : {}), build: opts.build !== false });
        const { build: _build, ...summary } = r;
        ctx.print(summary, (s: typeof summary, col) => `${col.green('packed')} ${s.id} ${s.version}: ${s.path} (${kib(s.bytes)}: ${s.files.join(', ')})\ninstall it with: spacedrive extensions install ${s.path}`);
      }),
    );

  group
    .command('conformance')
    .description('Check a module built by any SDK (any language) against ABI v1 in the real host: registration, input/output, errors, host calls, logging, job progress, pause and resume, crash and resume. The contract is conformance/README.md; conformance/reference.wat passes it.')
    .argument('<module>', 'the module: a .wasm file (or .wat, compiled with wabt)')
    .action(
      cli.action(async (ctx, modulePath: string) => {
        const { runConformance } = await authoring();
        const report = await runConformance(resolve(ctx.io.cwd, modulePath));
        ctx.print(report, (r: typeof report, c) =>
          [
            ...r.checks.map((ch) => `${ch.ok ? c.green('✓') : c.red('✗')} ${ch.name}${ch.ok ? c.dim(` — ${ch.detail}`) : `\n    ${c.red(ch.detail)}`}`),
            '',
            r.ok ? c.green(`conformant: ${r.checks.length} checks passed`) : c.red(`not conformant: ${r.checks.filter((ch) => !ch.ok).length} of ${r.checks.length} checks failed`),
          ].join('\n'),
        );
        return report.ok ? 0 : 1;
      }),
    );
}
