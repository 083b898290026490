#!/usr/bin/env node
/**
 * Installs dependencies (`npm ci`) when node_modules does not hold what package-lock.json pins,
 * so that `npm start` and `npm test` work on a fresh clone with nothing else run first.
 *
 * "Holds what it pins" is decided by content, not modification times: every package the lockfile
 * pins (optional ones, such as other platforms' binaries, may be absent) must be in npm's record
 * of what it installed (node_modules/.package-lock.json) with the same version and integrity, and
 * nothing else may be there. A git checkout that rewrites package-lock.json unchanged then costs
 * nothing, and an `npm install` that added a package leaves both files in agreement.
 *
 * When `npm ci` fails, this says which package failed and what to do about it, then exits with
 * npm's exit code; npm's own output stays on the terminal above it. The npm that runs is the one
 * that ran this script (`npm_execpath`, set by npm for its scripts), else `npm` from the PATH.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const THIS_SCRIPT = fileURLToPath(import.meta.url);
const ROOT = resolve(dirname(THIS_SCRIPT), '..');

/** Why node_modules does not match the lockfile, or null when it does. */
export function installNeeded(root = ROOT) {
  const installedRecord = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installedRecord)) return 'node_modules is missing';
  let wanted;
  let installed;
  try {
    wanted = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages ?? {};
    installed = JSON.parse(readFileSync(installedRecord, 'utf8')).packages ?? {};
  } catch (err) {
    return `cannot compare node_modules with package-lock.json (${err.message})`;
  }
  for (const [path, pinned] of Object.entries(wanted)) {
    if (path === '') continue; // the project itself
    const have = installed[path];
    if (!have) {
      if (pinned.optional) continue;
      return `${path.replace(/^node_modules\//, '')} is not installed`;
    }
    // A workspace package is a link npm makes in node_modules; the record alone does not prove it is there.
    if (pinned.link && !existsSync(join(root, path))) return `${path.replace(/^node_modules\//, '')} (a workspace link) is missing`;
    if (have.version !== pinned.version || have.integrity !== pinned.integrity) {
      return `${path.replace(/^node_modules\//, '')} is ${have.version}, package-lock.json pins ${pinned.version}`;
    }
  }
  for (const path of Object.keys(installed)) {
    if (!(path in wanted)) return `${path.replace(/^node_modules\//, '')} is installed but not in package-lock.json`;
  }
  return null;
}

/** The npm that ran us (as node + its script), else `npm` on the PATH. */
function npmCommand() {
  const execPath = process.env.npm_execpath;
  if (execPath && /\.[cm]?js$/.test(execPath)) return [process.execPath, [execPath]];
  return ['npm', []];
}

/**
 * What failed and what to do, from npm's error output. npm names the package whose install
 * script failed on an `npm error path …/node_modules/<pkg>` line, and the command on
 * `npm error command …`.
 */
export function explainInstallFailure(stderr, exitCode) {
  const lines = [`npm ci failed (exit code ${exitCode}).`];
  const failedPath = /npm (?:error|ERR!) path (\S*node_modules\/((?:@[^/\s]+\/)?[^/\s]+))\s*$/m.exec(stderr);
  const failedCommand = /npm (?:error|ERR!) command (?!failed$)(?:sh -c )?(.+)$/m.exec(stderr);
  const log = /A complete log of this run can be found in:?\s*(\S+)/.exec(stderr);
  const network = /\b(ENOTFOUND|ETIMEDOUT|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ENETUNREACH|CERT_[A-Z_]+|SELF_SIGNED_CERT[A-Z_]*)\b/.exec(stderr);
  const nativeBuild = /gyp (?:ERR!|info)|node-gyp|prebuild-install|make: \*\*\*|g\+\+|cc1plus|not found: make|python/i.test(stderr);
  if (failedPath) {
    const pkg = failedPath[2];
    lines.push(`What failed: the install script of ${pkg}${failedCommand ? ` (\`${failedCommand[1].trim()}\`)` : ''}.`);
    if (nativeBuild) {
      const otherNode = process.versions.node.split('.')[0] !== '20';
      lines.push(
        `${pkg} is a native module and had to be compiled here (no prebuilt binary fitted Node ${process.versions.node} on ${process.platform}-${process.arch}); ` +
          'compiling needs a C/C++ toolchain and Python.',
        `What to do: ${otherNode ? 'use Node 20 LTS, for which prebuilt binaries exist, or ' : ''}install the build tools ` +
          '(Debian/Ubuntu: `sudo apt-get install -y build-essential python3`; macOS: `xcode-select --install`), then run `npm ci` again.',
      );
    } else {
      lines.push(`What to do: read ${pkg}'s error above, fix its cause, then run \`npm ci\` again.`);
    }
  } else if (network) {
    lines.push(
      `What failed: npm could not reach the registry (${network[1]}).`,
      'What to do: check the network, a proxy (`npm config get proxy`) and the registry (`npm config get registry`), then run `npm ci` again.',
    );
  } else if (/\bEACCES\b|\bEPERM\b/.test(stderr)) {
    lines.push(
      'What failed: npm was not allowed to write a file (EACCES/EPERM).',
      'What to do: make the project folder and ~/.npm writable by you (do not run npm with sudo in a folder you own), then run `npm ci` again.',
    );
  } else if (/\bEBADENGINE\b|Unsupported engine/.test(stderr)) {
    lines.push('What failed: this Node.js is not one the dependencies support.', 'What to do: use Node 20 LTS, then run `npm ci` again.');
  } else {
    lines.push('What failed: see npm\'s output above.', 'What to do: fix what it names, then run `npm ci` again.');
  }
  if (log) lines.push(`npm's full log: ${log[1]}`);
  return lines.join('\n');
}

/** Thrown when `npm ci` fails; its message says what failed and what to do. */
export class InstallFailedError extends Error {
  constructor(message, exitCode) {
    super(message);
    this.name = 'InstallFailedError';
    this.code = 'INSTALL_FAILED';
    this.exitCode = exitCode;
  }
}

/**
 * Runs `npm ci` when node_modules does not match the lockfile. npm's output goes to the terminal
 * as it runs (stderr is also kept, to explain a failure). Resolves to what was done.
 */
export async function ensureInstalled({ root = ROOT, write = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const reason = installNeeded(root);
  if (reason === null) return { installed: false };
  write(`[setup] installing dependencies with npm ci: ${reason}`);
  const [command, prefix] = npmCommand();
  const { code, stderr } = await new Promise((resolveRun) => {
    // JOBS: node-gyp compiles a native module that has no prebuilt binary here (better-sqlite3
    // without access to its binary downloads) with one make job unless told otherwise.
    const env = { ...process.env, JOBS: process.env.JOBS ?? 'max' };
    const child = spawn(command, [...prefix, 'ci', '--no-audit', '--no-fund'], { cwd: root, env, stdio: ['ignore', 'inherit', 'pipe'] });
    let errText = '';
    child.stderr.on('data', (chunk) => {
      errText += chunk;
      process.stderr.write(chunk);
    });
    child.on('error', (err) => resolveRun({ code: 127, stderr: `${errText}\n${err.message}` }));
    child.on('close', (exitCode, signal) => resolveRun({ code: exitCode ?? (signal ? 1 : 0), stderr: errText }));
  });
  if (code !== 0) throw new InstallFailedError(explainInstallFailure(stderr, code), code);
  return { installed: true, reason };
}

if (process.argv[1] && resolve(process.argv[1]) === THIS_SCRIPT) {
  try {
    await ensureInstalled();
  } catch (err) {
    if (err.code !== 'INSTALL_FAILED') throw err;
    process.stderr.write(`\n[setup] ${err.message.replace(/\n/g, '\n[setup] ')}\n`);
    process.exit(err.exitCode || 1);
  }
}
