#!/usr/bin/env node
/**
 * `npm start`: the daemon in the foreground on the default data directory (or `--data-dir`,
 * or SPACEDRIVE_DATA_DIR), with the product extensions (extensions/product.json: finance,
 * expenses, hello) installed and enabled, then the commands to try.
 *
 * The daemon runs as a child process with this terminal's output; as soon as it answers, each
 * product extension built into build/extensions/<id>/ (by the prestart set-up,
 * scripts/prepare.mjs) is installed through the daemon when missing, upgraded
 * (`extensions reload --from`) when the installed module differs from the built one, and
 * enabled when disabled.
 *
 * - A daemon already running on the data directory is used as it is: the extensions are put in
 *   place through it, the commands are printed with a note that it runs elsewhere, and this
 *   exits 0 without starting a second one (which could only fail with DAEMON_ALREADY_RUNNING).
 * - Ctrl-C (or SIGTERM, SIGHUP) stops the daemon gracefully, and the exit code is the daemon's.
 *   The daemon runs in a process group of its own, so that it is told once, by this script,
 *   rather than once by the terminal and again here (a second signal makes it exit at once).
 * - A daemon that dies from a signal (kill -9, the OOM killer) is reported as such, and this
 *   exits 128 + the signal's number, as a shell does.
 *
 *   npm start                      # default data directory
 *   npm start -- --data-dir /tmp/sd
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'spacedrive.js');
const EXTENSIONS = JSON.parse(readFileSync(join(ROOT, 'extensions', 'product.json'), 'utf8')).product;
const READY_TIMEOUT_MS = 30_000;

const { loadOptions } = await import(join(ROOT, 'dist', 'config', 'index.js'));
const { SpacedriveClient } = await import(join(ROOT, 'dist', 'client', 'index.js'));

/** `--data-dir <dir>` / `--data-dir=<dir>` from our arguments; everything is also passed on to the daemon. */
function dataDirArg(args) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--data-dir') return args[i + 1];
    if (args[i].startsWith('--data-dir=')) return args[i].slice('--data-dir='.length);
  }
  return undefined;
}

const args = process.argv.slice(2);
const dataDir = dataDirArg(args);
const options = loadOptions({ overrides: dataDir ? { dataDir } : {} });
const say = (line = '') => process.stderr.write(`${line}\n`);

/** A client of the daemon answering on the data directory's socket and its pid, or null when none answers. */
async function daemonAnswering() {
  let client;
  try {
    client = await SpacedriveClient.fromOptions(options, { reconnect: false, connectTimeoutMs: 2_000 });
  } catch {
    return null;
  }
  try {
    const status = await client.query('query:core.status.v1', {});
    return { client, pid: status.pid };
  } catch {
    await client.close().catch(() => undefined);
    return null;
  }
}

/** Installs, upgrades or enables each product extension through `client`; false when one failed. */
async function ensureExtensions(client) {
  let ok = true;
  for (const id of EXTENSIONS) {
    try {
      say(`[start] ${await ensureExtension(client, id)}`);
    } catch (err) {
      say(`[start] ${id}: ${err.code ? `${err.code}: ` : ''}${err.message}`);
      ok = false;
    }
  }
  return ok;
}

/** Installs, upgrades or enables one extension so that the built version runs. Returns what it did. */
async function ensureExtension(client, id) {
  const pkg = join(ROOT, 'build', 'extensions', id);
  const manifestPath = join(pkg, 'manifest.json');
  if (!existsSync(manifestPath)) {
    // A Rust extension is skipped by the build when Debian's Rust toolchain is missing.
    if (existsSync(join(ROOT, 'extensions', id, 'Cargo.toml'))) return `${id}: not built (a Rust extension: it needs Debian's Rust toolchain, see sdk/rust/README.md)`;
    return `${id}: not built (run npm run build)`;
  }
  const built = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const { extensions } = await client.query('query:extensions.list.v1', {});
  const listed = extensions.find((e) => e.id === id);
  if (!listed) {
    await client.action('action:extensions.install.input.v1', { path: pkg, enabled: true });
    return `${id} ${built.version}: installed`;
  }
  const info = await client.query('query:extensions.info.v1', { id });
  const done = [];
  if (info.sha256 !== built.sha256 || info.version !== built.version) {
    if (!info.enabled) await client.action('action:extensions.enable.input.v1', { id });
    await client.action('action:extensions.reload.input.v1', { id, from: pkg });
    done.push(`upgraded from ${info.version} (${String(info.sha256).slice(0, 8)}) to ${built.version} (${built.sha256.slice(0, 8)})`);
  } else if (!info.enabled) {
    await client.action('action:extensions.enable.input.v1', { id });
    done.push('enabled');
  }
  return `${id} ${built.version}: ${done.length > 0 ? done.join(', ') : 'up to date'}`;
}

/** A word for a POSIX shell: quoted when it has characters the shell would interpret. */
function sh(word) {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The commands to try; `elsewhere` is the pid of a daemon this script did not start. */
function banner(elsewhere) {
  const rel = (p) => sh(relative(process.cwd(), join(ROOT, p)) || '.');
  const sd = `node ${rel('bin/spacedrive.js')}${dataDir ? ` --data-dir ${sh(dataDir)}` : ''}`;
  const receipt = rel('samples/receipts/blue-bottle-2025-03-14.pdf');
  const scanned = rel('samples/receipts/hardware-haven-2025-02-03.pdf');
  const maildir = sh(join(ROOT, 'samples', 'mail', 'Maildir'));
  return [
    '',
    `Spacedrive is running with the ${EXTENSIONS.join(', ').replace(/, ([^,]*)$/, ' and $1')} extensions${elsewhere ? ` (the daemon that was already running, pid ${elsewhere})` : ''}.`,
    `Data directory: ${options.dataDir}`,
    '',
    'Try, in another terminal (`spacedrive` is bin/spacedrive.js; `npm link` puts it on your PATH):',
    '',
    '  # classify a receipt (a text PDF; then a scanned one, read by OCR)',
    `  ${sd} query finance:classify_receipt --pdf ${receipt}`,
    `  ${sd} query finance:classify_receipt --pdf ${scanned}`,
    '',
    '  # add a mail account named gmail: the sample Maildir (or your IMAP server, see `mail add-account --help`)',
    `  ${sd} mail add-account gmail --kind maildir --path ${maildir}`,
    '',
    '  # scan it for receipts, with a live progress bar',
    `  ${sd} jobs dispatch finance:email_scan --provider gmail --follow`,
    '',
    '  # the imported receipts',
    `  ${sd} query vdfs.list_entries --entry-type FinancialDocument`,
    '',
    '  # another extension calling finance:classify_receipt',
    `  ${sd} query expenses:total --receipts ${receipt} --receipts ${scanned}`,
    '',
    `  ${sd} methods finance          # what the extension registered`,
    `  ${sd} query hello:greet --name Ada`,
    '',
    elsewhere
      ? `This command did not start that daemon and leaves it running; \`${sd} daemon stop\` stops it. \`npm run demo\` runs the whole story unattended.`
      : 'Ctrl-C stops the daemon. `npm run demo` runs the whole story unattended.',
    '',
  ].join('\n');
}


/** Uses a daemon that is already running: puts the extensions in place, prints the commands, exits. */
async function useRunningDaemon({ client, pid }) {
  say(`[start] a daemon is already running on ${options.dataDir} (pid ${pid}); using it rather than starting another`);
  const ok = await ensureExtensions(client);
  await client.close();
  say(banner(pid));
  process.exit(ok ? 0 : 1);
}

const running = await daemonAnswering();
if (running) await useRunningDaemon(running);

// A process group of its own: only this script signals the daemon (see the header).
const daemon = spawn(process.execPath, [BIN, ...args, 'daemon'], { stdio: ['ignore', 'inherit', 'inherit'], cwd: ROOT, detached: true });
let daemonExit = null;
const exited = new Promise((resolveExit) => {
  daemon.on('exit', (code, signal) => {
    daemonExit = { code, signal };
    resolveExit(daemonExit);
  });
});
let stopAsked = null;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  // Forwarded once: a terminal's Ctrl-C can reach this script twice (from the terminal and from npm).
  process.on(signal, () => {
    if (daemonExit || stopAsked) return;
    stopAsked = signal;
    daemon.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal);
  });
}

/**
 * Waits until the daemon this script started answers. Resolves null when it exited first (its
 * error is on the terminal), or, when another daemon took the data directory between the check
 * above and the spawn, that daemon.
 */
async function ourDaemonAnswering() {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (daemonExit) return null;
    const answering = await daemonAnswering();
    if (answering && answering.pid === daemon.pid) return answering;
    if (answering) {
      // Another daemon: ours fails with DAEMON_ALREADY_RUNNING; use that one once ours has gone.
      await exited;
      return { ...answering, elsewhere: true };
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 150))]);
  }
  throw new Error(`the daemon did not answer within ${READY_TIMEOUT_MS / 1000} s`);
}

/** What to print and the exit code when the daemon has exited: the daemon's, or 128 + signal. */
function describeExit({ code, signal }) {
  const forwarded = stopAsked === 'SIGHUP' ? 'SIGTERM' : stopAsked;
  // The signal this script forwarded, arriving before the daemon could handle it: what was asked for.
  if (signal && signal === forwarded) return 128 + (osConstants.signals[signal] ?? 0);
  if (signal) {
    const how = signal === 'SIGKILL' ? ' (kill -9, or the system when out of memory)' : '';
    say(`[start] the daemon (pid ${daemon.pid}) was killed by ${signal}${how}; jobs it was running resume from their last checkpoint when it starts again (npm start)`);
    return 128 + (osConstants.signals[signal] ?? 0);
  }
  if (code !== 0) say(`[start] the daemon exited with code ${code}; its message is above`);
  else if (!stopAsked) say('[start] the daemon stopped (it was asked to shut down)');
  return code;
}

try {
  const answering = await ourDaemonAnswering();
  if (answering?.elsewhere) {
    say(`[start] another daemon took ${options.dataDir} while this one was starting`);
    await useRunningDaemon(answering);
  }
  if (answering) {
    if (!(await ensureExtensions(answering.client))) process.exitCode = 1;
    await answering.client.close();
    say(banner());
  }
} catch (err) {
  say(`[start] ${err.message}; stopping it`);
  if (!daemonExit && !stopAsked) {
    stopAsked = 'SIGTERM';
    daemon.kill('SIGTERM');
  }
}

const exitCode = describeExit(await exited);
process.exit(process.exitCode || exitCode);
