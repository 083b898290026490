#!/usr/bin/env node
/**
 * The set-up before `npm start`, `npm test`, `npm run bench` and `npm run demo`: each step does
 * only what is missing or changed, and says what it did and how long it took.
 *
 *   node scripts/prepare.mjs start   dependencies, TypeScript, the product extensions, the web dashboard
 *   node scripts/prepare.mjs demo    the same as start
 *   node scripts/prepare.mjs cluster dependencies, PostgreSQL running, TypeScript (npm run cluster)
 *   node scripts/prepare.mjs bench   dependencies, TypeScript, every extension (fixtures and the Extism peer), the web dashboard
 *   node scripts/prepare.mjs test    dependencies, test services, TypeScript, every extension, the web dashboard, typecheck
 *
 * Steps:
 * - dependencies: `npm ci` when node_modules does not hold what package-lock.json pins
 *   (scripts/ensure-installed.mjs);
 * - test services: dovecot, chromium, clang and Debian's Rust toolchain installed, PostgreSQL and Redis running (scripts/test-env.sh);
 * - typescript: `tsc -b tsconfig.build.json`, incremental (dist/.tsbuildinfo): with nothing
 *   changed it only compares file times and hashes and compiles nothing;
 * - extensions: scripts/build-extensions.mjs, which rebuilds a module only when what it is
 *   built from changed (by content); `start` builds only those extensions/product.json lists;
 * - web: scripts/build-web.mjs, the dashboard (web/) into dist/web/ with Vite, only when web/'s
 *   files changed (by content; a few seconds when they did, a hash of web/ when not);
 * - typecheck: `tsc -b tsconfig.typecheck.json`, incremental as well (build/typecheck.tsbuildinfo),
 *   and the dashboard's sources (`tsc -p web/tsconfig.json`, build/web-typecheck.tsbuildinfo).
 *
 * TypeScript and the extensions are built at the same time: tsc uses one core and the
 * extension builds run two compilers, so on a two-core machine the first build takes about as
 * long as the slower of the two rather than their sum. Only the extensions' ABI check, which
 * reads the host's import table from dist, waits for tsc.
 *
 * Exits 1 after the first failing step, with what it printed.
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureInstalled } from './ensure-installed.mjs';

const THIS_SCRIPT = fileURLToPath(import.meta.url);
const ROOT = resolve(dirname(THIS_SCRIPT), '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The steps each purpose runs, in order; steps in one inner list run at the same time. */
export const STEPS = {
  start: [['dependencies'], ['typescript', 'product extensions', 'web']],
  demo: [['dependencies'], ['typescript', 'product extensions', 'web']],
  cluster: [['dependencies'], ['test services'], ['typescript']],
  bench: [['dependencies'], ['typescript', 'extensions', 'web']],
  test: [['dependencies'], ['test services'], ['typescript', 'extensions', 'web'], ['typecheck']],
};

const say = (line) => process.stderr.write(`${line}\n`);

/** Runs a command with its output kept; resolves {code, output}. */
function run(command, args, { inheritOutput = false } = {}) {
  return new Promise((resolveRun) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', inheritOutput ? 'inherit' : 'pipe', inheritOutput ? 'inherit' : 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    child.on('error', (err) => resolveRun({ code: 127, output: `${output}${err.message}\n` }));
    child.on('close', (code, signal) => resolveRun({ code: code ?? (signal ? 1 : 0), output }));
  });
}

/** `tsc -b --verbose` says whether it found the project up to date; the rest of its output is diagnostics. */
async function typescriptProject(tsconfig) {
  const { code, output } = await run(process.execPath, [TSC, '-b', tsconfig, '--verbose']);
  const diagnostics = output
    .split('\n')
    .filter((line) => !/^\s*(\d{1,2}:\d{2}:\d{2}( [AP]M)? - |\* )/.test(line))
    .join('\n')
    .trim();
  if (code !== 0) throw new StepFailed(diagnostics || output.trim());
  return /is up to date/.test(output) ? 'up to date' : 'compiled';
}

class StepFailed extends Error {}

/** `abiReady` settles when TypeScript has been compiled: the modules' ABI check is read from dist. */
async function extensions(product, abiReady) {
  const { buildExtensions, reportBuild } = await import('./build-extensions.mjs');
  const started = performance.now();
  const results = await buildExtensions({ product, abiReady });
  const lines = [];
  const failed = reportBuild(results, performance.now() - started, (line) => lines.push(line));
  if (failed > 0) throw new StepFailed(lines.join('\n'));
  const built = results.filter((r) => !r.skipped);
  const upToDate = results.filter((r) => r.skipped && !r.notBuilt).map((r) => r.id);
  // A Rust extension without Debian's Rust toolchain: the message says what to install.
  const notBuilt = results.filter((r) => r.notBuilt).map((r) => r.notBuilt);
  return [
    built.length > 0 ? `built ${built.map((r) => `${r.id} (${(r.ms / 1000).toFixed(1)} s)`).join(', ')}` : '',
    upToDate.length > 0 ? `up to date: ${upToDate.join(', ')}` : '',
    ...notBuilt,
  ]
    .filter(Boolean)
    .join('; ');
}

const RUN_STEP = {
  async dependencies() {
    const { installed } = await ensureInstalled({ root: ROOT, write: say });
    return installed ? 'installed (npm ci)' : 'up to date';
  },
  async 'test services'() {
    const { code } = await run('bash', [join(ROOT, 'scripts', 'test-env.sh')], { inheritOutput: true });
    if (code !== 0) throw new StepFailed('');
    return "dovecot, chromium, clang and Debian's Rust toolchain installed, PostgreSQL and Redis running where installed";
  },
  typescript: () => typescriptProject('tsconfig.build.json'),
  'product extensions': (running) => extensions(true, running.typescript),
  extensions: (running) => extensions(false, running.typescript),
  async web() {
    const { buildWeb } = await import('./build-web.mjs');
    try {
      const { built } = await buildWeb();
      return built ? 'built dist/web' : 'up to date';
    } catch (err) {
      throw new StepFailed(String(err?.message ?? err));
    }
  },
  async typecheck() {
    const results = [await typescriptProject('tsconfig.typecheck.json'), await typescriptProject(join('web', 'tsconfig.json'))];
    return results.every((r) => r === 'up to date') ? 'up to date' : 'compiled';
  },
};

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** `running`: the promises of the steps started so far, by name, for a step that waits on another. */
async function timed(step, running) {
  const started = performance.now();
  try {
    const result = await RUN_STEP[step](running);
    return { step, ok: true, result, ms: performance.now() - started };
  } catch (err) {
    return { step, ok: false, error: err, ms: performance.now() - started };
  }
}

export async function prepare(purpose) {
  const started = performance.now();
  const running = {};
  for (const group of STEPS[purpose]) {
    const outcomes = await Promise.all(group.map((step) => (running[step] = timed(step, running))));
    for (const o of outcomes) {
      if (o.ok) say(`[setup] ${o.step}: ${o.result} (${seconds(o.ms)})`);
    }
    const failures = outcomes.filter((o) => !o.ok);
    for (const o of failures) {
      if (o.error instanceof StepFailed || o.error?.code === 'INSTALL_FAILED') {
        if (o.error.message) say(o.error.message.replace(/^/gm, o.error.code === 'INSTALL_FAILED' ? '[setup] ' : ''));
        say(`[setup] ${o.step} failed after ${seconds(o.ms)}`);
      } else {
        throw o.error;
      }
    }
    if (failures.length > 0) return failures[0].error.exitCode ?? 1;
  }
  say(`[setup] ready for npm ${purpose === 'start' || purpose === 'test' ? purpose : `run ${purpose}`} in ${seconds(performance.now() - started)}`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === THIS_SCRIPT) {
  const purpose = process.argv[2];
  if (!Object.hasOwn(STEPS, purpose)) {
    say(`usage: node scripts/prepare.mjs ${Object.keys(STEPS).join('|')}`);
    process.exit(2);
  }
  process.exit(await prepare(purpose));
}
