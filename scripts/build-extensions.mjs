#!/usr/bin/env node
/**
 * Builds the repo's WebAssembly extensions from source (run by `npm run build`).
 *
 *   extensions/<id>/assembly/index.ts + extensions/<id>/manifest.json
 *     -> build/extensions/<id>/<id>.wasm + build/extensions/<id>/manifest.json (module + sha256 filled in)
 *   extensions/bench-extism/assembly/index.ts
 *     -> build/bench/extism-noop.wasm (the Extism peer of the benchmark; no manifest)
 *   extensions/<id>/Cargo.toml (a Rust extension, sdk/rust) + extensions/<id>/manifest.json
 *     -> build/extensions/<id>/<id>.wasm + build/extensions/<id>/manifest.json, built by Debian's
 *        cargo and rustc (/usr/bin, with libstd-rust-dev-wasm32 and lld) offline from the crates
 *        Debian packages in /usr/share/cargo/registry; skipped, with a message saying what to
 *        install, when that toolchain is missing (scripts/test-env.sh installs it for npm test)
 *
 * Each module is compiled by asc with the incremental runtime (the stub runtime never frees
 * memory), the json-as transform, and the SDK's abort handler, then checked: it must import only
 * the `spacedrive` functions, with their signatures, and export what ABI v1 requires.
 *
 * Incremental by content: a target is skipped when a SHA-256 over everything it is built from
 * (its own folder, the SDK for SDK extensions, this script, the compiler's and json-as's
 * versions) equals the one recorded when it was last built (build/.stamps/<id>.sha256) and the
 * built module still has the SHA-256 its manifest names. Content rather than modification
 * times, because a git checkout, a copy or an archive changes times without changing sources
 * (and can leave sources older than stale outputs).
 *
 *   node scripts/build-extensions.mjs             every folder under extensions/ (tests, benchmarks)
 *   node scripts/build-extensions.mjs --product   only the ones extensions/product.json lists (npm start)
 *   --only <id> builds one extension; --force rebuilds even what is up to date.
 *
 * Exit code 1 with the compiler's diagnostics when any module fails.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, lstatSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const THIS_SCRIPT = fileURLToPath(import.meta.url);
const EXTENSIONS_DIR = join(ROOT, 'extensions');
const SDK_DIR = join(ROOT, 'sdk', 'assemblyscript');
const BUILD_DIR = join(ROOT, 'build');
const PACKAGES_DIR = join(BUILD_DIR, 'as-packages');
const STAMPS_DIR = join(BUILD_DIR, '.stamps');
const ASC = join(ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
const ABI_VERSION = 1;
/**
 * The host's imports and their signatures come from the one table the daemon checks modules
 * against (src/extensions/sandbox/host-imports.ts), as compiled into dist by `tsc`.
 */
const DIST_SANDBOX = join(ROOT, 'dist', 'extensions', 'sandbox');

/**
 * Loads the ABI check from dist. Only a compiled module needs it, so a caller that runs `tsc`
 * at the same time as this build (scripts/prepare.mjs) passes `abiReady`, a promise that settles
 * when dist is written: compiling starts at once and only the check waits.
 */
export async function loadAbiCheck(abiReady = Promise.resolve()) {
  await abiReady;
  if (!existsSync(join(DIST_SANDBOX, 'host-imports.js'))) {
    throw new Error(`${relative(ROOT, DIST_SANDBOX)} is missing: compile the TypeScript first ('npm run build' runs tsc, then this script)`);
  }
  const { HOST_MODULE, hostImportProblem } = await import(pathToFileURL(join(DIST_SANDBOX, 'host-imports.js')).href);
  const { functionImports } = await import(pathToFileURL(join(DIST_SANDBOX, 'wasm-binary.js')).href);
  return (bytes) => checkAbi(bytes, { HOST_MODULE, hostImportProblem, functionImports });
}
const REQUIRED_EXPORTS = ['memory', 'sd_abi_version', 'sd_alloc', 'sd_free', 'plugin_init'];
const EXTENSION_ID = /^[a-z][a-z0-9_-]{0,63}$/;

/** The extism peer: built with the Extism PDK instead of the SDK. */
const EXTISM_PEER = 'bench-extism';

/** Compiler flags shared by every SDK extension (documented in sdk/assemblyscript/README.md). */
const SDK_FLAGS = [
  '-O3',
  '--runtime', 'incremental',
  '--transform', 'json-as',
  '--use', 'abort=~lib/spacedrive-sdk/assembly/abort/sdkAbort',
  '--disableWarning', // json-as's own sources raise portability warnings (AS201) we cannot fix
];

/**
 * json-as reads its options from the environment. Its default string serialiser (SWAR, 4 code
 * units at a time) emits a broken surrogate pair when an emoji straddles an 8-byte block
 * ("Hello, 😀" serialises to a lone high surrogate plus "\ude00", i.e. invalid UTF-8); the
 * NAIVE serialiser is correct.
 */
const ASC_ENV = { JSON_MODE: 'NAIVE' };

/** The ids extensions/product.json lists: what `npm start` builds and installs. */
export function productExtensionIds(extensionsDir = EXTENSIONS_DIR) {
  const path = join(extensionsDir, 'product.json');
  let list;
  try {
    list = JSON.parse(readFileSync(path, 'utf8')).product;
  } catch (err) {
    throw new Error(`${relative(ROOT, path)}: ${err.message}`);
  }
  if (!Array.isArray(list) || !list.every((id) => typeof id === 'string')) {
    throw new Error(`${relative(ROOT, path)}: "product" must be a list of extension ids`);
  }
  return list;
}

/** Every file under `dir` (recursively, sorted), skipping node_modules and build output (Rust's too). */
function filesUnder(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name === 'node_modules' || entry.name === 'build' || entry.name === 'target' || entry.name === 'Cargo.lock') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...filesUnder(path));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'missing';
  }
}

/** SHA-256 over the named files and folders (paths and contents) and the compiler versions. */
function inputsHash(sources) {
  const hash = createHash('sha256');
  hash.update(`assemblyscript@${packageVersion('assemblyscript')} json-as@${packageVersion('json-as')} abi-v${ABI_VERSION}\n`);
  for (const source of sources) {
    for (const file of statSync(source).isDirectory() ? filesUnder(source) : [source]) {
      hash.update(`${relative(ROOT, file)}\0`);
      hash.update(readFileSync(file));
      hash.update('\0');
    }
  }
  return hash.digest('hex');
}

function stampPath(id) {
  return join(STAMPS_DIR, `${id}.sha256`);
}

function sha256OfFile(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * Up to date when the recorded inputs hash matches and the module is the one built then (its
 * manifest's sha256, or for the Extism peer the hash recorded next to the inputs).
 */
function upToDate(id, inputs, wasmPath, manifestPath) {
  if (!existsSync(wasmPath) || !existsSync(stampPath(id))) return false;
  const [recordedInputs, recordedModule] = readFileSync(stampPath(id), 'utf8').trim().split(/\s+/);
  if (recordedInputs !== inputs) return false;
  const moduleHash = sha256OfFile(wasmPath);
  if (manifestPath) {
    if (!existsSync(manifestPath)) return false;
    try {
      if (JSON.parse(readFileSync(manifestPath, 'utf8')).sha256 !== moduleHash) return false;
    } catch {
      return false;
    }
  }
  return recordedModule === moduleHash;
}

function recordBuilt(id, inputs, moduleHash) {
  mkdirSync(STAMPS_DIR, { recursive: true });
  writeAtomic(stampPath(id), `${inputs} ${moduleHash}\n`);
}

/** asc resolves `import … from "spacedrive-sdk"` through `--path build/as-packages`. */
function linkSdkPackage() {
  mkdirSync(PACKAGES_DIR, { recursive: true });
  const link = join(PACKAGES_DIR, 'spacedrive-sdk');
  try {
    lstatSync(link);
    return;
  } catch {
    // not there yet
  }
  try {
    symlinkSync(relative(PACKAGES_DIR, SDK_DIR), link, 'dir');
  } catch (err) {
    // Another build running at the same time (parallel test runs) made it first.
    if (err.code !== 'EEXIST') throw err;
  }
}

function runAsc(flags) {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [ASC, ...flags], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...ASC_ENV } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolvePromise({ code, output }));
  });
}

/** Checks the module's imports and exports against ABI v1; returns the problems found. */
function checkAbi(bytes, { HOST_MODULE, hostImportProblem, functionImports }) {
  const mod = new WebAssembly.Module(bytes);
  const problems = [];
  for (const imp of functionImports(bytes)) {
    const why = hostImportProblem(imp.module, imp.name, imp.signature);
    if (why === undefined) continue;
    problems.push(imp.module === HOST_MODULE ? why : `${why}; avoid Date, Math.random and trace, or wire them to a host call`);
  }
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.kind !== 'function' && imp.kind !== 'memory') problems.push(`imports ${imp.kind} ${imp.module}.${imp.name}, which the host does not provide`);
  }
  const exports = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
  for (const name of REQUIRED_EXPORTS) {
    if (!exports.has(name)) problems.push(`does not export ${name} (re-export sd_abi_version, sd_alloc, sd_free from "spacedrive-sdk" and define plugin_init)`);
  }
  return problems;
}

function readManifestTemplate(id) {
  const path = join(EXTENSIONS_DIR, id, 'manifest.json');
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`extensions/${id}/manifest.json: ${err.message}`);
  }
  if (manifest.id !== id) throw new Error(`extensions/${id}/manifest.json: id "${manifest.id}" must equal the folder name "${id}"`);
  if (manifest.abi_version !== undefined && manifest.abi_version !== ABI_VERSION) {
    throw new Error(`extensions/${id}/manifest.json: abi_version ${manifest.abi_version}, but the SDK builds ABI v${ABI_VERSION}`);
  }
  return manifest;
}

/** Writes `data` to `path` through a temporary file and a rename, so readers never see half a file. */
function writeAtomic(path, data) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Compiles asc's output to `wasmPath` through a temporary file; throws with the diagnostics. */
async function compile(id, wasmPath, flags) {
  const tmpWasm = `${wasmPath}.tmp-${process.pid}`;
  const { code, output } = await runAsc([...flags, '--outFile', relative(ROOT, tmpWasm)]);
  if (code !== 0 || !existsSync(tmpWasm)) {
    rmSync(tmpWasm, { force: true });
    throw new Error(`extensions/${id}: asc failed\n${output}`);
  }
  return tmpWasm;
}

/** `abiCheck()` resolves to the ABI check, loaded on first use. */
async function buildExtension(id, force, abiCheck) {
  const outDir = join(BUILD_DIR, 'extensions', id);
  const wasmPath = join(outDir, `${id}.wasm`);
  const manifestPath = join(outDir, 'manifest.json');
  const inputs = inputsHash([join(EXTENSIONS_DIR, id), join(SDK_DIR, 'assembly'), THIS_SCRIPT]);
  if (!force && upToDate(id, inputs, wasmPath, manifestPath)) return { id, skipped: true };
  const template = readManifestTemplate(id);
  mkdirSync(outDir, { recursive: true });
  const tmpWasm = await compile(id, wasmPath, [
    relative(ROOT, join(EXTENSIONS_DIR, id, 'assembly', 'index.ts')),
    ...SDK_FLAGS,
    '--path', relative(ROOT, PACKAGES_DIR),
  ]);
  const bytes = readFileSync(tmpWasm);
  const problems = (await abiCheck())(bytes);
  if (problems.length > 0) {
    rmSync(tmpWasm, { force: true });
    throw new Error(`extensions/${id}: the module ${problems.join('; ')}`);
  }
  renameSync(tmpWasm, wasmPath);
  const moduleHash = createHash('sha256').update(bytes).digest('hex');
  const manifest = { ...template, module: `${id}.wasm`, sha256: moduleHash, abi_version: ABI_VERSION };
  writeAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  recordBuilt(id, inputs, moduleHash);
  return { id, skipped: false, bytes: bytes.length };
}

async function buildExtismPeer(force) {
  const src = join(EXTENSIONS_DIR, EXTISM_PEER);
  const outDir = join(BUILD_DIR, 'bench');
  const wasmPath = join(outDir, 'extism-noop.wasm');
  const inputs = inputsHash([src, THIS_SCRIPT]);
  if (!force && upToDate(EXTISM_PEER, inputs, wasmPath, null)) return { id: EXTISM_PEER, skipped: true };
  mkdirSync(outDir, { recursive: true });
  const tmpWasm = await compile(EXTISM_PEER, wasmPath, [
    relative(ROOT, join(src, 'assembly', 'index.ts')),
    '-O3',
    '--runtime', 'incremental',
    '--use', `abort=${relative(ROOT, join(src, 'assembly', 'abort'))}/peerAbort`,
  ]);
  renameSync(tmpWasm, wasmPath);
  recordBuilt(EXTISM_PEER, inputs, sha256OfFile(wasmPath));
  return { id: EXTISM_PEER, skipped: false, bytes: statSync(wasmPath).size };
}

// ---------------------------------------------------------------------------------------------
// Rust extensions (sdk/rust)

const RUST_SDK_DIR = join(ROOT, 'sdk', 'rust');
const RUST_TARGET_DIR = join(BUILD_DIR, 'rust-target');
/** Debian's toolchain, not a rustup one earlier on PATH (which has no wasm32 standard library here). */
const CARGO = process.env.SPACEDRIVE_CARGO ?? '/usr/bin/cargo';
const RUSTC = process.env.SPACEDRIVE_RUSTC ?? '/usr/bin/rustc';
const CRATE_REGISTRY = process.env.SPACEDRIVE_CRATE_REGISTRY ?? '/usr/share/cargo/registry';
/** The Debian packages a Rust extension builds with (scripts/test-env.sh installs them). */
export const RUST_PACKAGES = [
  'rustc', 'cargo', 'libstd-rust-dev-wasm32', 'lld',
  'librust-serde-dev', 'librust-serde-derive-dev', 'librust-serde-json-dev', 'librust-syn-dev', 'librust-quote-dev', 'librust-proc-macro2-dev',
];
/** Offline, from Debian's crates: nothing comes from crates.io (the same as sdk/rust/.cargo/config.toml). */
const CARGO_CONFIG = [
  '--config', 'source.crates-io.replace-with="debian"',
  '--config', `source.debian.directory="${CRATE_REGISTRY}"`,
  '--config', 'net.offline=true',
  // Small modules whatever the crate's own profile says (a crate's Cargo.toml need not repeat it).
  '--config', 'profile.release.opt-level="s"',
  '--config', 'profile.release.lto=true',
  '--config', 'profile.release.codegen-units=1',
  '--config', 'profile.release.panic="abort"',
  '--config', 'profile.release.strip="debuginfo"',
];

function isRustExtension(id) {
  return existsSync(join(EXTENSIONS_DIR, id, 'Cargo.toml'));
}

let rustToolchain;
/**
 * `{version}` of the toolchain, or `{missing}` saying what is not there. Checked once: cargo,
 * rustc, the wasm32 standard library, the linker and the crates the SDK needs.
 */
async function findRustToolchain() {
  return (rustToolchain ??= (async () => {
    const install = `install them with: apt-get install ${RUST_PACKAGES.join(' ')} (npm test does, through scripts/test-env.sh)`;
    if (!existsSync(CARGO) || !existsSync(RUSTC)) return { missing: `the Rust toolchain (${CARGO}, ${RUSTC}) is not installed; ${install}` };
    const version = await runCommand(RUSTC, ['--version', '--print', 'sysroot']);
    if (version.code !== 0) return { missing: `${RUSTC} does not run: ${version.output.trim()}` };
    const [rustcVersion, sysroot] = version.output.trim().split('\n');
    if (!existsSync(join(sysroot ?? '/usr', 'lib', 'rustlib', 'wasm32-unknown-unknown', 'lib'))) return { missing: `the wasm32 standard library for ${rustcVersion} is not installed (libstd-rust-dev-wasm32); ${install}` };
    if (!existsSync('/usr/bin/rust-lld') && !existsSync('/usr/bin/lld')) return { missing: `the linker rust-lld is not installed (lld); ${install}` };
    const crates = ['serde', 'serde_derive', 'serde_json', 'syn', 'quote', 'proc-macro2'];
    const present = existsSync(CRATE_REGISTRY) ? readdirSync(CRATE_REGISTRY) : [];
    const absent = crates.filter((c) => !present.some((d) => d.startsWith(`${c}-`) && /^\d/.test(d.slice(c.length + 1))));
    if (absent.length > 0) return { missing: `the crates ${absent.join(', ')} are not in ${CRATE_REGISTRY}; ${install}` };
    return { version: rustcVersion };
  })());
}

function runCommand(command, args, opts = {}) {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) => resolvePromise({ code: 127, output: `${output}${err.message}\n` }));
    child.on('close', (code) => resolvePromise({ code, output }));
  });
}

async function buildRustExtension(id, force, abiCheck) {
  const toolchain = await findRustToolchain();
  if (toolchain.missing) return { id, skipped: true, notBuilt: `skipped ${id} (Rust): ${toolchain.missing}` };
  const outDir = join(BUILD_DIR, 'extensions', id);
  const wasmPath = join(outDir, `${id}.wasm`);
  const manifestPath = join(outDir, 'manifest.json');
  // The SDK's crates and cargo settings, not its README.
  const sdk = ['spacedrive-sdk', 'spacedrive-sdk-macros', 'Cargo.toml', '.cargo'].map((p) => join(RUST_SDK_DIR, p));
  const inputs = inputsHash([join(EXTENSIONS_DIR, id), ...sdk, THIS_SCRIPT]) + `-${toolchain.version.replace(/\s+/g, '_')}`;
  if (!force && upToDate(id, inputs, wasmPath, manifestPath)) return { id, skipped: true };
  const template = readManifestTemplate(id);
  mkdirSync(outDir, { recursive: true });
  const env = { ...process.env, PATH: `/usr/bin:${process.env.PATH ?? ''}`, RUSTC, CARGO_TARGET_DIR: RUST_TARGET_DIR, CARGO_TERM_COLOR: 'never' };
  delete env.RUSTUP_TOOLCHAIN;
  const { code, output } = await runCommand(CARGO, ['build', '--release', '--target', 'wasm32-unknown-unknown', '--quiet', ...CARGO_CONFIG], { cwd: join(EXTENSIONS_DIR, id), env });
  // The crate's name is the id with '-' as '_' (cargo's rule for the library's file name).
  const built = join(RUST_TARGET_DIR, 'wasm32-unknown-unknown', 'release', `${id.replace(/-/g, '_')}.wasm`);
  if (code !== 0 || !existsSync(built)) throw new Error(`extensions/${id}: cargo build failed\n${output}`);
  const bytes = readFileSync(built);
  const problems = (await abiCheck())(bytes);
  if (problems.length > 0) throw new Error(`extensions/${id}: the module ${problems.join('; ')}`);
  writeAtomic(wasmPath, bytes);
  const moduleHash = createHash('sha256').update(bytes).digest('hex');
  const manifest = { ...template, module: `${id}.wasm`, sha256: moduleHash, abi_version: ABI_VERSION };
  writeAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  recordBuilt(id, inputs, moduleHash);
  return { id, skipped: false, bytes: bytes.length };
}

/** Runs `tasks` with at most `limit` at a time (the machine's cores are shared). */
async function runLimited(tasks, limit) {
  const results = [];
  let next = 0;
  async function worker() {
    while (next < tasks.length) {
      const task = tasks[next++];
      const started = performance.now();
      try {
        results.push({ ok: true, ...(await task.run()), ms: performance.now() - started });
      } catch (err) {
        results.push({ ok: false, id: task.id, error: err.message, ms: performance.now() - started });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results.sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Builds the extensions that need it. `product`: only those extensions/product.json lists;
 * `only`: one id; `force`: even those up to date. Returns one result per extension
 * ({id, ok, skipped, bytes, error, ms}); never throws for a module that fails to build.
 */
export async function buildExtensions({ product = false, only, force = false, abiReady } = {}) {
  if (!existsSync(ASC)) {
    return [{ id: 'assemblyscript', ok: false, error: 'assemblyscript is not installed (run npm install)', ms: 0 }];
  }
  linkSdkPackage();
  let ids = readdirSync(EXTENSIONS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && (existsSync(join(EXTENSIONS_DIR, d.name, 'assembly', 'index.ts')) || isRustExtension(d.name)))
    .map((d) => d.name);
  if (product) {
    const listed = productExtensionIds();
    const unknown = listed.filter((id) => !ids.includes(id));
    if (unknown.length > 0) {
      return unknown.map((id) => ({ id, ok: false, error: `extensions/product.json lists ${id}, but neither extensions/${id}/assembly/index.ts nor extensions/${id}/Cargo.toml exists`, ms: 0 }));
    }
    ids = listed;
  }
  if (only) ids = ids.filter((id) => id === only);
  // Loaded once, on first use; a failure to load fails each module that needed it.
  let abiCheck;
  const check = () => (abiCheck ??= loadAbiCheck(abiReady));
  const tasks = [];
  for (const id of ids.sort()) {
    if (id === EXTISM_PEER) {
      tasks.push({ id, run: () => buildExtismPeer(force) });
    } else if (!EXTENSION_ID.test(id)) {
      tasks.push({ id, run: async () => { throw new Error(`extensions/${id}: folder name is not a valid extension id (${EXTENSION_ID})`); } });
    } else if (isRustExtension(id)) {
      tasks.push({ id, run: () => buildRustExtension(id, force, check) });
    } else {
      tasks.push({ id, run: () => buildExtension(id, force, check) });
    }
  }
  return runLimited(tasks, 2);
}

/** One line per built or failed extension and a summary; returns the number that failed. */
export function reportBuild(results, ms, write = (line) => console.log(line)) {
  let failed = 0;
  for (const r of results) {
    if (!r.ok) {
      failed++;
      write(`build-extensions: ${r.error}`);
    } else if (r.notBuilt) {
      write(`build-extensions: ${r.notBuilt}`);
    } else if (!r.skipped) {
      write(`build-extensions: built ${r.id} (${r.bytes} bytes, ${(r.ms / 1000).toFixed(1)} s)`);
    }
  }
  const built = results.filter((r) => r.ok && !r.skipped).length;
  const upToDateIds = results.filter((r) => r.ok && r.skipped && !r.notBuilt).map((r) => r.id);
  write(`build-extensions: ${built} built, ${upToDateIds.length} up to date${upToDateIds.length > 0 ? ` (${upToDateIds.join(', ')})` : ''}, ${failed} failed (${Math.round(ms)} ms)`);
  return failed;
}

async function main() {
  const args = process.argv.slice(2);
  const onlyIndex = args.indexOf('--only');
  const started = performance.now();
  const results = await buildExtensions({
    product: args.includes('--product'),
    force: args.includes('--force'),
    ...(onlyIndex >= 0 ? { only: args[onlyIndex + 1] } : {}),
  });
  const failed = reportBuild(results, performance.now() - started);
  process.exit(failed > 0 ? 1 : 0);
}

if (process.argv[1] && resolve(process.argv[1]) === THIS_SCRIPT) await main();
