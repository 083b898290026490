#!/usr/bin/env node
/**
 * `npm run demo`: the finance story, unattended, through the CLI, on a temporary data directory.
 *
 *  1. start a daemon in the background and install the finance and expenses extensions;
 *  2. classify a scanned receipt (`spacedrive query finance:classify_receipt --pdf …`);
 *  3. add a mail account `gmail`: a real IMAP server (dovecot, started here on a loopback port
 *     with the sample mailbox) when dovecot is installed, else the sample Maildir folder;
 *  4. scan it (`spacedrive jobs dispatch finance:email_scan --provider gmail --follow`, a live
 *     progress bar on a terminal), and kill -9 the daemon in the middle of the scan;
 *  5. start the daemon again and watch the same job resume after the last message it reported
 *     and finish (`spacedrive jobs watch <id>`);
 *  6. list the imported entries and check them against samples/mail/index.json: every receipt
 *     imported once, none lost, none twice.
 *
 * Exits non-zero when any step fails. `--keep` keeps the data directory; `--maildir` skips dovecot.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { loadOptions } = await import(join(ROOT, 'dist', 'config', 'index.js'));
const { SpacedriveClient } = await import(join(ROOT, 'dist', 'client', 'index.js'));
const BIN = join(ROOT, 'bin', 'spacedrive.js');
const DOVECOT = '/usr/sbin/dovecot';
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const forceMaildir = args.includes('--maildir');

const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[22m` : s);
const dim = (s) => (tty ? `\x1b[2m${s}\x1b[22m` : s);
const rel = (p) => relative(ROOT, p);

const base = tmpdir().length <= 40 ? tmpdir() : '/tmp';
const dataDir = mkdtempSync(join(base, 'sd-demo-'));
const cleanups = [];

function step(n, title) {
  process.stdout.write(`\n${bold(`── ${n}. ${title}`)}\n`);
}

/** Runs the CLI with the terminal's output (progress bars stay live); resolves with its exit code. */
function sdLive(cliArgs, opts = {}) {
  process.stdout.write(dim(`$ spacedrive ${cliArgs.join(' ')}\n`));
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, ...cliArgs], { cwd: ROOT, stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'inherit', 'inherit'] });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    if (opts.onSpawn) opts.onSpawn(child);
    child.on('error', reject);
    child.on('exit', (code, signal) => resolveRun(code ?? (signal ? 128 : 1)));
  });
}

/** Runs the CLI with --json and returns the parsed output; throws with its error otherwise. */
function sdJson(cliArgs) {
  try {
    const out = execFileSync(process.execPath, [BIN, '--data-dir', dataDir, '--json', ...cliArgs], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out);
  } catch (err) {
    throw new Error(`spacedrive ${cliArgs.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  process.stdout.write(`  ✔ ${message}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// A real IMAP server for the demo (the same setup as test/helpers/dovecot.ts, kept short).

function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

function greets(port) {
  return new Promise((resolveGreeting) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok) => {
      sock.destroy();
      resolveGreeting(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('* OK'));
    });
  });
}

function chownTree(path, uid, gid) {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

async function startDovecot(messageFiles) {
  const root = userInfo().uid === 0;
  const id = (flag, who) => execFileSync('id', who ? [flag, who] : [flag], { encoding: 'utf8' }).trim();
  const as = root
    ? { name: 'nobody', group: id('-gn', 'nobody'), uid: Number(id('-u', 'nobody')), gid: Number(id('-g', 'nobody')) }
    : { name: userInfo().username, group: id('-gn'), uid: userInfo().uid, gid: userInfo().gid };
  const dir = mkdtempSync(join(base, 'sd-demo-imap-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const maildir = join(dir, 'Maildir');
  for (const sub of ['run', 'state', 'home', 'Maildir/cur', 'Maildir/new', 'Maildir/tmp']) mkdirSync(join(dir, sub), { recursive: true });
  const user = 'alex';
  const password = 'demo-imap-password';
  writeFileSync(join(dir, 'passwd'), `${user}:{PLAIN}${password}::::::\n`, { mode: 0o600 });
  // Delivery times in the file names give the UIDs: the i-th sample message gets UID i+1.
  messageFiles.forEach((file, i) => {
    const raw = readFileSync(file);
    const name = `${1_600_000_000 + i}.M${i + 1}P${process.pid}.demo,S=${raw.length}`;
    writeFileSync(join(maildir, 'tmp', name), raw, { mode: 0o600 });
    renameSync(join(maildir, 'tmp', name), join(maildir, 'new', name));
  });
  const port = await freePort();
  writeFileSync(
    join(dir, 'dovecot.conf'),
    `base_dir = ${dir}/run\nstate_dir = ${dir}/state\nlog_path = ${dir}/dovecot.log\nprotocols = imap\nlisten = 127.0.0.1\nssl = no\n` +
      `disable_plaintext_auth = no\nauth_mechanisms = plain login\ndefault_login_user = ${as.name}\ndefault_internal_user = ${as.name}\n` +
      `default_internal_group = ${as.group}\nmail_location = maildir:${maildir}\n` +
      `passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u ${dir}/passwd\n}\n` +
      `userdb {\n  driver = static\n  args = uid=${as.uid} gid=${as.gid} home=${dir}/home\n}\n` +
      `service imap-login {\n  chroot =\n  inet_listener imap {\n    address = 127.0.0.1\n    port = ${port}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}\n` +
      `service anvil {\n  chroot =\n}\n`,
  );
  chownTree(dir, as.uid, as.gid);
  const proc = spawn(DOVECOT, ['-F', '-c', join(dir, 'dovecot.conf')], {
    ...(root ? { uid: as.uid, gid: as.gid } : {}),
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: join(dir, 'home') },
    stdio: 'ignore',
  });
  cleanups.unshift(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && proc.exitCode === null) {
    if (await greets(port)) return { host: '127.0.0.1', port, user, password };
    await sleep(20);
  }
  const log = existsSync(join(dir, 'dovecot.log')) ? readFileSync(join(dir, 'dovecot.log'), 'utf8') : '';
  throw new Error(`dovecot did not start on 127.0.0.1:${port}: ${log}`);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const samples = JSON.parse(readFileSync(join(ROOT, 'samples', 'mail', 'index.json'), 'utf8')).messages;
  const receiptMessages = samples.filter((m) => m.receipts.length > 0);
  for (const id of ['finance', 'expenses']) {
    if (!existsSync(join(ROOT, 'build', 'extensions', id, 'manifest.json'))) throw new Error(`build/extensions/${id} is missing: run npm run build`);
  }

  step(1, `Start a daemon on a temporary data directory (${dataDir}) and install the extensions`);
  let daemon = sdJson(['daemon', 'start']);
  cleanups.unshift(() => {
    try {
      execFileSync(process.execPath, [BIN, '--data-dir', dataDir, 'daemon', 'stop'], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  });
  process.stdout.write(`  daemon pid ${daemon.pid}\n`);
  for (const id of ['finance', 'expenses']) {
    const pkg = rel(join(ROOT, 'build', 'extensions', id));
    process.stdout.write(dim(`$ spacedrive extensions install ${pkg} --yes\n`));
    const info = sdJson(['extensions', 'install', pkg, '--yes']);
    const ops = info.operations.map((o) => o.method).concat(info.job_types.map((j) => `job ${j.job_type}`));
    process.stdout.write(`  installed ${id} ${info.version} (${info.state}): ${ops.join(', ')}\n`);
  }

  step(2, 'Classify a scanned receipt (OCR by the host, parsing in the extension)');
  const pdf = join(ROOT, 'samples', 'receipts', 'hardware-haven-2025-02-03.pdf');
  if ((await sdLive(['query', 'finance:classify_receipt', '--pdf', rel(pdf)])) !== 0) throw new Error('classify_receipt failed');
  const classified = sdJson(['query', 'finance:classify_receipt', '--pdf', pdf]);
  check(classified.total === 51.23 && classified.merchant === 'Hardware Haven', `classified: ${classified.merchant}, ${classified.total} ${classified.currency}`);

  step(3, 'Add the mail account "gmail"');
  const mailFiles = samples.map((m) => join(ROOT, 'samples', 'mail', m.file));
  let addArgs;
  let addInput;
  if (!forceMaildir && existsSync(DOVECOT)) {
    const imap = await startDovecot(mailFiles);
    process.stdout.write(`  using a real IMAP server: dovecot on ${imap.host}:${imap.port} serving the ${mailFiles.length} sample messages\n`);
    addArgs = ['mail', 'add-account', 'gmail', '--kind', 'imap', '--host', imap.host, '--port', String(imap.port), '--no-secure', '--username', imap.user, '--password-stdin', '--verify'];
    addInput = `${imap.password}\n`;
  } else {
    process.stdout.write(`  ${forceMaildir ? '--maildir given' : `dovecot is not installed (${DOVECOT})`}: using the sample Maildir folder instead of IMAP\n`);
    addArgs = ['mail', 'add-account', 'gmail', '--kind', 'maildir', '--path', join(ROOT, 'samples', 'mail', 'Maildir')];
  }
  if ((await sdLive(addArgs, { input: addInput })) !== 0) throw new Error('adding the mail account failed');

  step(4, 'Scan the mailbox for receipts, and kill -9 the daemon in the middle of it');
  let jobId;
  let killedAt;
  let follower;
  const scan = sdLive(['jobs', 'dispatch', 'finance:email_scan', '--provider', 'gmail', '--batch-size', '1', '--follow'], { onSpawn: (c) => (follower = c) });
  // Find the job, wait until a few messages are checkpointed, then pull the plug. Polled with a
  // client rather than the CLI: a CLI process per poll is too slow to catch a fast scan mid-way.
  const client = await SpacedriveClient.fromOptions(loadOptions({ overrides: { dataDir } }), { reconnect: false });
  try {
    for (let i = 0; i < 3000 && killedAt === undefined; i++) {
      await sleep(20);
      const { jobs } = await client.query('query:jobs.list.v1', { job_type: 'finance:email_scan', limit: 1 });
      if (!jobs[0]) continue;
      jobId = jobs[0].job_id;
      const info = await client.query('query:jobs.get_status.v1', { job_id: jobId });
      if (info.status === 'completed') throw new Error('the scan finished before the demo could kill the daemon');
      if ((info.state?.processed ?? 0) >= 4) {
        killedAt = info.state;
        process.kill(daemon.pid, 'SIGKILL');
      }
    }
  } finally {
    await client.close().catch(() => undefined);
  }
  if (killedAt === undefined) throw new Error('the scan did not get going');
  const followCode = await Promise.race([scan, sleep(10_000).then(() => follower.kill('SIGTERM'))]);
  process.stdout.write(`\n  ${bold('kill -9')} of the daemon (pid ${daemon.pid}) after message UID ${killedAt.last_uid} (${killedAt.processed} processed, ${killedAt.imported} imported); --follow ended with exit code ${followCode}\n`);

  step(5, 'Start the daemon again: the job resumes after the last message it reported');
  daemon = sdJson(['daemon', 'start']);
  process.stdout.write(`  daemon pid ${daemon.pid}\n`);
  if ((await sdLive(['jobs', 'watch', jobId])) !== 0) throw new Error('the resumed scan did not complete');
  const finished = sdJson(['jobs', 'info', jobId]);
  check(finished.status === 'completed', `job ${jobId} completed after ${finished.runs} runs`);
  check(finished.output.processed === samples.length, `${finished.output.processed} messages processed, each once`);
  check(finished.output.imported === receiptMessages.length, `${finished.output.imported} receipts imported`);

  step(6, 'The imported receipts');
  process.stdout.write(dim('$ spacedrive query vdfs.list_entries --entry-type FinancialDocument --json\n'));
  const entries = sdJson(['query', 'vdfs.list_entries', '--entry-type', 'FinancialDocument', '--limit', '1000']).entries;
  // A table rather than the full records (metadata, hashes, dates): one line per entry.
  for (const e of entries) {
    const m = e.metadata;
    process.stdout.write(`  ${e.name.padEnd(52)} ${String(m.merchant).padEnd(20)} ${String(m.total).padStart(7)} ${m.currency}  ${m.date}  ${e.path}\n`);
  }
  check(entries.length === receiptMessages.length, `${entries.length} FinancialDocument entries for ${receiptMessages.length} receipt mails (none lost, none twice)`);
  for (const m of receiptMessages) {
    const e = entries.find((x) => x.path === `receipts/${m.message_id.slice(1, -1)}.eml`);
    const want = m.receipts[0];
    check(e !== undefined && e.metadata.total === want.total && e.metadata.merchant === want.merchant, `${e?.name}: ${want.merchant} ${want.total} ${want.currency}`);
  }
  const again = sdJson(['jobs', 'dispatch', 'finance:email_scan', '--provider', 'gmail']);
  if ((await sdLive(['jobs', 'watch', again.job_id])) !== 0) throw new Error('the second scan failed');
  const second = sdJson(['jobs', 'info', again.job_id]);
  check(second.output.imported === 0, 'a second scan imports nothing new');

  process.stdout.write(`\n${bold('The demo ran to the end.')}${keep ? ` Data directory kept: ${dataDir}` : ''}\n`);
}

/** Stops what the demo started and removes its directories; runs once, however the demo ends. */
let cleanedUp = false;
function cleanUp() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const f of cleanups) {
    try {
      f();
    } catch {
      // best effort
    }
  }
  if (!keep) rmSync(dataDir, { recursive: true, force: true });
}
// Ctrl-C, a closed terminal, or output piped into `head`: still stop the daemon and dovecot.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    cleanUp();
    process.exit(130);
  });
}
process.stdout.on('error', () => {
  cleanUp();
  process.exit(1);
});
process.on('exit', cleanUp);

let code = 0;
try {
  await main();
} catch (err) {
  process.stderr.write(`\ndemo failed: ${err.message}\n`);
  code = 1;
} finally {
  cleanUp();
}
process.exit(code);
