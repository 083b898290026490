#!/usr/bin/env node
/**
 * Builds the repo's WebAssembly extensions from source (run by `npm run build`).
 *
 *   extensions/<id>/assembly/index.ts + extensions/<id>/manifest.json
 *     -> build/extensions/<id>/<id>.wasm + build/extensions/<id>/manifest.json (module + sha256 filled in)
 *   extensions/bench-extism/assembly/index.ts
 *     -> build/bench/extism-noop.wasm (the Extism peer of the benchmark; no manifest)
 *
 * Each module is compiled by asc with the incremental runtime (the stub runtime never frees
 * memory), the json-as transform, and the SDK's abort handler, then checked: it must import only
 * the `spacedrive` functions, with their signatures, and export what ABI v1 requires.
 * Incremental: a target is skipped when its outputs are newer than every source it depends on
 * (its own folder, the SDK, this script). `--force` rebuilds everything; `--only <id>` builds one
 * extension.
 *
 * Exit code 1 with the compiler's diagnostics when any module fails.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, lstatSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXTENSIONS_DIR = join(ROOT, 'extensions');
const SDK_DIR = join(ROOT, 'sdk', 'assemblyscript');
const BUILD_DIR = join(ROOT, 'build');
const PACKAGES_DIR = join(BUILD_DIR, 'as-packages');
const ASC = join(ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
const ABI_VERSION = 1;
/**
 * The host's imports and their signatures come from the one table the daemon checks modules
 * against (src/extensions/sandbox/host-imports.ts), as compiled into dist by the `tsc` step that
 * `npm run build` runs before this script.
 */
const DIST_SANDBOX = join(ROOT, 'dist', 'extensions', 'sandbox');
if (!existsSync(join(DIST_SANDBOX, 'host-imports.js'))) {
  console.error(`build-extensions: ${relative(ROOT, DIST_SANDBOX)} is missing; run 'npm run build' (tsc first, then this script)`);
  process.exit(1);
}
const { HOST_MODULE, hostImportProblem } = await import(pathToFileURL(join(DIST_SANDBOX, 'host-imports.js')).href);
const { functionImports } = await import(pathToFileURL(join(DIST_SANDBOX, 'wasm-binary.js')).href);
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

const args = process.argv.slice(2);
const force = args.includes('--force');
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? args[onlyIndex + 1] : undefined;

/** Newest modification time of the files under `path` (recursively). */
function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) {
    if (name === 'node_modules' || name === 'build') continue;
    newest = Math.max(newest, newestMtime(join(path, name)));
  }
  return newest;
}

function upToDate(outputs, sources) {
  if (force) return false;
  if (!outputs.every((o) => existsSync(o))) return false;
  const built = Math.min(...outputs.map((o) => statSync(o).mtimeMs));
  return Math.max(...sources.map(newestMtime)) < built;
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
function checkAbi(bytes) {
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

async function buildExtension(id) {
  const outDir = join(BUILD_DIR, 'extensions', id);
  const wasmPath = join(outDir, `${id}.wasm`);
  const manifestPath = join(outDir, 'manifest.json');
  if (upToDate([wasmPath, manifestPath], [join(EXTENSIONS_DIR, id), join(SDK_DIR, 'assembly'), fileURLToPath(import.meta.url)])) {
    return { id, skipped: true };
  }
  const template = readManifestTemplate(id);
  mkdirSync(outDir, { recursive: true });
  const tmpWasm = `${wasmPath}.tmp-${process.pid}`;
  const { code, output } = await runAsc([
    relative(ROOT, join(EXTENSIONS_DIR, id, 'assembly', 'index.ts')),
    ...SDK_FLAGS,
    '--path', relative(ROOT, PACKAGES_DIR),
    '--outFile', relative(ROOT, tmpWasm),
  ]);
  if (code !== 0 || !existsSync(tmpWasm)) {
    rmSync(tmpWasm, { force: true });
    throw new Error(`extensions/${id}: asc failed\n${output}`);
  }
  const bytes = readFileSync(tmpWasm);
  const problems = checkAbi(bytes);
  if (problems.length > 0) {
    rmSync(tmpWasm, { force: true });
    throw new Error(`extensions/${id}: the module ${problems.join('; ')}`);
  }
  renameSync(tmpWasm, wasmPath);
  const manifest = {
    ...template,
    module: `${id}.wasm`,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    abi_version: ABI_VERSION,
  };
  writeAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { id, skipped: false, bytes: bytes.length };
}

async function buildExtismPeer() {
  const src = join(EXTENSIONS_DIR, EXTISM_PEER);
  const outDir = join(BUILD_DIR, 'bench');
  const wasmPath = join(outDir, 'extism-noop.wasm');
  if (upToDate([wasmPath], [src, fileURLToPath(import.meta.url)])) return { id: EXTISM_PEER, skipped: true };
  mkdirSync(outDir, { recursive: true });
  const tmpWasm = `${wasmPath}.tmp-${process.pid}`;
  const { code, output } = await runAsc([
    relative(ROOT, join(src, 'assembly', 'index.ts')),
    '-O3',
    '--runtime', 'incremental',
    '--use', `abort=${relative(ROOT, join(src, 'assembly', 'abort'))}/peerAbort`,
    '--outFile', relative(ROOT, tmpWasm),
  ]);
  if (code !== 0 || !existsSync(tmpWasm)) {
    rmSync(tmpWasm, { force: true });
    throw new Error(`extensions/${EXTISM_PEER}: asc failed\n${output}`);
  }
  renameSync(tmpWasm, wasmPath);
  return { id: EXTISM_PEER, skipped: false, bytes: statSync(wasmPath).size };
}

/** Runs `tasks` with at most `limit` at a time (the machine's cores are shared). */
async function runLimited(tasks, limit) {
  const results = [];
  let next = 0;
  async function worker() {
    while (next < tasks.length) {
      const task = tasks[next++];
      try {
        results.push({ ok: true, ...(await task.run()) });
      } catch (err) {
        results.push({ ok: false, id: task.id, error: err.message });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

async function main() {
  if (!existsSync(ASC)) {
    console.error('build-extensions: assemblyscript is not installed (run npm install)');
    process.exit(1);
  }
  linkSdkPackage();
  const ids = readdirSync(EXTENSIONS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(EXTENSIONS_DIR, d.name, 'assembly', 'index.ts')))
    .map((d) => d.name)
    .filter((id) => !only || id === only)
    .sort();
  const tasks = [];
  for (const id of ids) {
    if (id === EXTISM_PEER) {
      tasks.push({ id, run: buildExtismPeer });
      continue;
    }
    if (!EXTENSION_ID.test(id)) {
      tasks.push({ id, run: async () => { throw new Error(`extensions/${id}: folder name is not a valid extension id (${EXTENSION_ID})`); } });
      continue;
    }
    tasks.push({ id, run: () => buildExtension(id) });
  }
  const started = Date.now();
  const results = await runLimited(tasks, 2);
  let failed = 0;
  for (const r of results.sort((a, b) => a.id.localeCompare(b.id))) {
    if (!r.ok) {
      failed++;
      console.error(`build-extensions: ${r.error}`);
    } else if (!r.skipped) {
      console.log(`build-extensions: built ${r.id} (${r.bytes} bytes)`);
    }
  }
  const built = results.filter((r) => r.ok && !r.skipped).length;
  console.log(`build-extensions: ${built} built, ${results.length - built - failed} up to date, ${failed} failed (${Date.now() - started} ms)`);
  process.exit(failed > 0 ? 1 : 0);
}

await main();
