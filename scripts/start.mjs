#!/usr/bin/env node
/**
 * `npm start`: the daemon in the foreground on the default data directory (or `--data-dir`,
 * or SPACEDRIVE_DATA_DIR), with the repository's extensions — finance, expenses, hello —
 * installed and enabled, then the commands to try.
 *
 * The daemon runs as a child process with this terminal's output; as soon as it answers, each
 * extension built into build/extensions/<id>/ (by `npm run build`, which prestart runs) is
 * installed through the daemon when missing, upgraded (`extensions reload --from`) when the
 * installed module differs from the built one, and enabled when disabled. Ctrl-C (or SIGTERM)
 * stops the daemon gracefully; the exit code is the daemon's.
 *
 *   npm start                      # default data directory
 *   npm start -- --data-dir /tmp/sd
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'spacedrive.js');
const EXTENSIONS = ['finance', 'expenses', 'hello'];
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

const daemon = spawn(process.execPath, [BIN, ...args, 'daemon'], { stdio: 'inherit', cwd: ROOT });
let daemonExited = false;
const exited = new Promise((resolveExit) => {
  daemon.on('exit', (code, signal) => {
    daemonExited = true;
    resolveExit(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1));
  });
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  // Ctrl-C reaches the daemon too (same process group); forwarding covers a plain `kill`.
  process.on(signal, () => {
    if (!daemonExited) daemon.kill(signal);
  });
}

async function connectWhenReady() {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError;
  while (Date.now() < deadline && !daemonExited) {
    try {
      return await SpacedriveClient.fromOptions(options, { reconnect: false });
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  if (daemonExited) return null;
  throw new Error(`the daemon did not answer within ${READY_TIMEOUT_MS / 1000} s: ${lastError?.message ?? 'no answer'}`);
}

/** Installs, upgrades or enables one extension so that the built version runs. Returns what it did. */
async function ensureExtension(client, id) {
  const pkg = join(ROOT, 'build', 'extensions', id);
  const manifestPath = join(pkg, 'manifest.json');
  if (!existsSync(manifestPath)) return `${id}: not built (run npm run build)`;
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

function banner() {
  const rel = (p) => sh(relative(process.cwd(), join(ROOT, p)) || '.');
  const sd = `node ${rel('bin/spacedrive.js')}${dataDir ? ` --data-dir ${sh(dataDir)}` : ''}`;
  const receipt = rel('samples/receipts/blue-bottle-2025-03-14.pdf');
  const scanned = rel('samples/receipts/hardware-haven-2025-02-03.pdf');
  const maildir = sh(join(ROOT, 'samples', 'mail', 'Maildir'));
  return [
    '',
    'Spacedrive is running with the finance, expenses and hello extensions.',
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
    'Ctrl-C stops the daemon. `npm run demo` runs the whole story unattended.',
    '',
  ].join('\n');
}

try {
  const client = await connectWhenReady();
  if (client) {
    for (const id of EXTENSIONS) {
      try {
        say(`[start] ${await ensureExtension(client, id)}`);
      } catch (err) {
        say(`[start] ${id}: ${err.code ? `${err.code}: ` : ''}${err.message}`);
        process.exitCode = 1;
      }
    }
    await client.close();
    say(banner());
  }
} catch (err) {
  say(`[start] ${err.message}`);
  if (!daemonExited) daemon.kill('SIGTERM');
}

process.exit(await exited);
