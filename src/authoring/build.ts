/**
 * `spacedrive extension build`: compiles a project (asc with the SDK's settings, or cargo for
 * Rust), checks the module against ABI v1, writes `build/<id>.wasm` and `build/manifest.json`
 * with `module` and `sha256` filled in, validates that manifest with the host's own validator,
 * and runs `plugin_init` in the real sandbox to report what the module registers.
 */
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadOptions, type ExtensionHostOptions } from '../config/index.js';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { effectiveLimits, sandboxLimits, validateManifest, type ExtensionManifest } from '../extensions/manifest.js';
import { loadSandbox } from '../extensions/sandbox/index.js';
import type { GuestRegistration } from '../extensions/sandbox/types.js';
import { silentLogger } from '../logging/index.js';
import { abiProblems } from './abi-check.js';
import { readProject, type ExtensionProject } from './project.js';
import { asPackagesDir, ascModule, jsonAsTransform, sdkSchemaTransform } from './toolchain.js';

/** The ABI version this host builds and loads. */
export const ABI_VERSION = 1;

/**
 * asc flags of every SDK extension (sdk/assemblyscript/README.md explains each). `dev` builds
 * trade speed of the module for speed of the compiler (`extension dev` rebuilds on every save).
 */
export function ascFlags(optimize: 'release' | 'dev'): string[] {
  return [
    ...(optimize === 'release' ? ['-O3'] : ['-O0']),
    '--runtime', 'incremental',
    '--transform', jsonAsTransform(),
    // After json-as, as scripts/build-extensions.mjs runs them: schemas of the @json classes.
    '--transform', sdkSchemaTransform(),
    '--use', 'abort=~lib/spacedrive-sdk/assembly/abort/sdkAbort',
    '--disableWarning',
  ];
}

/** json-as's default string serialiser breaks surrogate pairs; the naive one is correct. */
const ASC_ENV = { JSON_MODE: 'NAIVE' };

export interface BuildOptions {
  /** `release` (default) optimises; `dev` compiles fastest. */
  optimize?: 'release' | 'dev';
  /** Run plugin_init in the sandbox and report the registrations (default true). */
  listRegistrations?: boolean;
  /** Host options the manifest is validated against (default: this machine's defaults). */
  host?: ExtensionHostOptions;
}

export interface BuildResult {
  id: string;
  version: string;
  language: ExtensionProject['language'];
  /** The installable package folder (`<project>/build`). */
  packageDir: string;
  wasmPath: string;
  manifestPath: string;
  bytes: number;
  sha256: string;
  manifest: ExtensionManifest;
  registrations: GuestRegistration[];
  compileMs: number;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, output }));
  });
}

function compileFailed(project: ExtensionProject, tool: string, output: string): SpacedriveError {
  return new SpacedriveError(ErrorCode.EXTENSION_INVALID, `${tool} failed for ${project.manifest.id}:\n${output.trim()}`, { project: project.dir, stage: 'compile', output });
}

interface AscApi {
  main(argv: string[], options: { stdout: { write(s: string): void }; stderr: { write(s: string): void } }): Promise<{ error: Error | null }>;
}
let ascApi: Promise<AscApi> | undefined;

/**
 * asc runs in this process (its JavaScript API), not as a child: the compiler and the json-as
 * transform stay loaded and warm between builds, which is most of a rebuild's time in
 * `extension dev` (measured in src/bench/authoring.bench.ts).
 */
async function compileAssemblyScript(project: ExtensionProject, optimize: 'release' | 'dev', outFile: string): Promise<void> {
  const packages = asPackagesDir(project.dir);
  // json-as reads its mode from the environment.
  for (const [k, v] of Object.entries(ASC_ENV)) process.env[k] = v;
  ascApi ??= import(pathToFileURL(ascModule()).href) as Promise<AscApi>;
  const asc = await ascApi;
  let output = '';
  const sink = { write: (s: string) => void (output += s) };
  const args = ['src/index.ts', '--baseDir', project.dir, ...ascFlags(optimize), '--path', packages, '--outFile', relative(project.dir, outFile)];
  const { error } = await asc.main(args, { stdout: sink, stderr: sink });
  if (error || !existsSync(outFile)) throw compileFailed(project, 'asc', output || String(error?.message));
}

/** The crate name cargo names its output after (`[package] name`, dashes as underscores). */
function crateName(project: ExtensionProject): string {
  const toml = readFileSync(join(project.dir, 'Cargo.toml'), 'utf8');
  const pkg = /\[package\][^[]*?\bname\s*=\s*"([^"]+)"/s.exec(toml);
  if (!pkg) throw new SpacedriveError(ErrorCode.EXTENSION_INVALID, `Cargo.toml has no [package] name (project ${project.dir})`, { project: project.dir });
  return pkg[1]!.replace(/-/g, '_');
}

/**
 * Debian's toolchain when it is installed (it has the wasm32 standard library; a rustup cargo
 * earlier on PATH may not), as scripts/build-extensions.mjs builds the repository's Rust
 * extensions; SPACEDRIVE_CARGO / SPACEDRIVE_RUSTC choose others.
 */
function rustTools(): { cargo: string; env: NodeJS.ProcessEnv } {
  const debian = existsSync('/usr/bin/cargo') && existsSync('/usr/bin/rustc');
  const cargo = process.env.SPACEDRIVE_CARGO ?? (debian ? '/usr/bin/cargo' : 'cargo');
  const env: NodeJS.ProcessEnv = { ...process.env, CARGO_TERM_COLOR: 'never' };
  const rustc = process.env.SPACEDRIVE_RUSTC ?? (debian ? '/usr/bin/rustc' : undefined);
  if (rustc) {
    env.RUSTC = rustc;
    delete env.RUSTUP_TOOLCHAIN;
  }
  return { cargo, env };
}

/** Always a release build: a debug wasm build is many times larger and slower, and compiles little faster. */
async function compileRust(project: ExtensionProject, _optimize: 'release' | 'dev', outFile: string): Promise<void> {
  const target = 'wasm32-unknown-unknown';
  const { cargo, env } = rustTools();
  const args = ['build', '--release', '--target', target, '--manifest-path', join(project.dir, 'Cargo.toml')];
  let result;
  try {
    result = await run(cargo, args, project.dir, env);
  } catch (err) {
    throw new SpacedriveError(ErrorCode.EXTENSION_INVALID, `cannot run ${cargo} (install Rust with the ${target} target; on Debian: apt-get install rustc cargo libstd-rust-dev-wasm32 lld): ${(err as Error).message}`, { project: project.dir, stage: 'compile' });
  }
  if (result.code !== 0) throw compileFailed(project, 'cargo', result.output);
  // CARGO_TARGET_DIR shares compiled dependencies between projects (and with the repository's build).
  const targetDir = env.CARGO_TARGET_DIR ? resolve(project.dir, env.CARGO_TARGET_DIR) : join(project.dir, 'target');
  const built = join(targetDir, target, 'release', `${crateName(project)}.wasm`);
  if (!existsSync(built)) throw compileFailed(project, 'cargo', `${result.output}\n(no ${relative(project.dir, built)})`);
  writeFileSync(outFile, readFileSync(built));
}

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** What `plugin_init` registers, from a real sandbox whose host calls are refused (none are needed to register). */
export async function moduleRegistrations(manifest: ExtensionManifest, wasm: Uint8Array, host: ExtensionHostOptions): Promise<GuestRegistration[]> {
  const { limits } = effectiveLimits(manifest, host, false);
  const sandbox = await loadSandbox({
    id: manifest.id,
    version: manifest.version,
    wasm,
    limits: { ...sandboxLimits(limits, host), instances: 1 },
    bridge: {
      call: (method) => Promise.reject(new SpacedriveError(ErrorCode.PERMISSION_DENIED, `no host calls while listing registrations (${method})`)),
      log: () => undefined,
      jobProgress: () => Promise.resolve(2),
      jobInterrupt: () => 2,
    },
    config: manifest.config,
    logger: silentLogger(),
    inline: false,
  });
  try {
    return [...sandbox.registrations];
  } finally {
    await sandbox.close();
  }
}

/** Builds the project in `dir`; throws EXTENSION_INVALID (compile errors, ABI or manifest problems). */
export async function buildProject(dir: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const project = readProject(dir);
  const optimize = opts.optimize ?? 'release';
  const host = opts.host ?? loadOptions({ env: {}, overrides: { dataDir: join(project.dir, '.spacedrive', 'host') } }).extensions;
  const id = project.manifest.id;
  mkdirSync(project.buildDir, { recursive: true });
  const wasmPath = join(project.buildDir, `${id}.wasm`);
  const tmpWasm = `${wasmPath}.tmp-${process.pid}`;
  const started = performance.now();
  try {
    if (project.language === 'rust') await compileRust(project, optimize, tmpWasm);
    else await compileAssemblyScript(project, optimize, tmpWasm);
    const compileMs = performance.now() - started;
    const bytes = new Uint8Array(readFileSync(tmpWasm));
    const problems = abiProblems(bytes);
    if (problems.length > 0) {
      throw new SpacedriveError(ErrorCode.EXTENSION_INVALID, `the module of ${id} does not follow ABI v${ABI_VERSION}: it ${problems.join('; it ')}`, { project: project.dir, stage: 'abi', problems });
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const raw = { ...project.manifest, module: `${id}.wasm`, sha256, abi_version: project.manifest.abi_version ?? ABI_VERSION };
    const manifest = validateManifest(raw, host, join(project.dir, 'manifest.json'));
    const registrations = opts.listRegistrations === false ? [] : await moduleRegistrations(manifest, bytes, host);
    renameSync(tmpWasm, wasmPath);
    const manifestPath = join(project.buildDir, 'manifest.json');
    writeAtomic(manifestPath, `${JSON.stringify(raw, null, 2)}\n`);
    return { id, version: manifest.version, language: project.language, packageDir: project.buildDir, wasmPath, manifestPath, bytes: bytes.length, sha256, manifest, registrations, compileMs };
  } finally {
    rmSync(tmpWasm, { force: true });
  }
}
