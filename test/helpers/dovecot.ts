/**
 * Test harness: a real IMAP server (Debian's dovecot-imapd) as an ordinary child process on a
 * free loopback port, with its own configuration, base_dir, state and log in a temporary
 * directory, passwd-file authentication, plain-text login and no TLS, and a temporary Maildir
 * holding the messages the test asks for.
 *
 * Run as root (CI), dovecot runs as `nobody`, the way it is meant to run unprivileged; run as an
 * ordinary user, it runs as that user. `scripts/test-env.sh` installs dovecot when it is missing;
 * without it, {@link startDovecot} throws (tests fail, they do not skip).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export const DOVECOT_BIN = '/usr/sbin/dovecot';
const START_TIMEOUT_MS = 10_000;

export interface TestDovecot {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The Maildir dovecot serves as INBOX (owned by the user dovecot runs as). */
  maildir: string;
  /** Delivers a message (RFC 822 text or bytes) into new/, as a mail delivery agent would; it gets the next UID. */
  addMessage(raw: string | Buffer): Promise<void>;
  /** The server's log so far. */
  logs(): string;
  /** Stops dovecot and removes the temporary directory. */
  stop(): Promise<void>;
}

export interface StartDovecotOptions {
  /** Paths of RFC 822 files to put in the Maildir, in this order (the first gets UID 1). */
  messages?: string[];
  user?: string;
  password?: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once the server greets with `* OK` on the port. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1_000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('* OK'));
    });
  });
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

/** Who dovecot runs as: `nobody` when we are root, else ourselves. */
function runAs(): { name: string; group: string; uid: number; gid: number } {
  const me = userInfo();
  if (me.uid !== 0) {
    const group = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
    return { name: me.username, group, uid: me.uid, gid: me.gid };
  }
  const id = (flag: string): string => execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim();
  return { name: 'nobody', group: id('-gn'), uid: Number(id('-u')), gid: Number(id('-g')) };
}

function config(o: { dir: string; port: number; maildir: string; user: { name: string; group: string; uid: number; gid: number } }): string {
  return `# Written by test/helpers/dovecot.ts for one test run.
base_dir = ${o.dir}/run
state_dir = ${o.dir}/state
log_path = ${o.dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = ${o.user.name}
default_internal_user = ${o.user.name}
default_internal_group = ${o.user.group}
mail_location = maildir:${o.maildir}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${o.dir}/passwd
}
userdb {
  driver = static
  args = uid=${o.user.uid} gid=${o.user.gid} home=${o.dir}/home
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${o.port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
  # No growing penalty (2, 4, 8, 15 s) for repeated failed logins from 127.0.0.1: tests log in
  # with wrong passwords on purpose. The first failure is still answered after 2 s.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Starts dovecot; see {@link TestDovecot}. */
export async function startDovecot(opts: StartDovecotOptions = {}): Promise<TestDovecot> {
  if (!existsSync(DOVECOT_BIN)) {
    throw new Error(`dovecot is not installed (${DOVECOT_BIN} is missing): the mail tests need a real IMAP server; run scripts/test-env.sh or apt-get install dovecot-imapd`);
  }
  const user = opts.user ?? 'alice';
  const password = opts.password ?? 'imap-secret-1';
  const as = runAs();
  const base = tmpdir().length <= 40 ? tmpdir() : '/tmp';
  const dir = mkdtempSync(join(base, 'sd-dovecot-'));
  const maildir = join(dir, 'Maildir');
  for (const sub of ['run', 'state', 'home', 'Maildir/cur', 'Maildir/new', 'Maildir/tmp']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'passwd'), `${user}:{PLAIN}${password}::::::\n`, { mode: 0o600 });

  // File names start with a delivery time; dovecot gives UIDs to new files in that order, so
  // the i-th message gets UID i+1. Messages added later get later times.
  let nextTime = 1_600_000_000;
  let seq = 0;
  const deliver = (raw: Buffer, into: 'new'): string => {
    const name = `${nextTime++}.M${++seq}P${process.pid}.sdtest,S=${raw.length}`;
    const tmp = join(maildir, 'tmp', name);
    writeFileSync(tmp, raw, { mode: 0o600 });
    chownSync(tmp, as.uid, as.gid);
    // Maildir delivery: write in tmp/, then rename into new/ (atomic for the reader).
    renameSync(tmp, join(maildir, into, name));
    return name;
  };
  for (const path of opts.messages ?? []) deliver(readFileSync(path), 'new');
  nextTime = Math.max(nextTime, Math.floor(Date.now() / 1000));
  chownTree(dir, as.uid, as.gid);

  let child: ChildProcess | undefined;
  let output = '';
  let port = 0;
  const logs = (): string => {
    const file = join(dir, 'dovecot.log');
    return `${output}${existsSync(file) ? readFileSync(file, 'utf8') : ''}`;
  };
  const killOnExit = (): void => {
    if (child && !exited(child)) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  try {
    // A free port can be taken between probing and binding: try a few.
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      writeFileSync(join(dir, 'dovecot.conf'), config({ dir, port, maildir, user: as }));
      chownSync(join(dir, 'dovecot.conf'), as.uid, as.gid);
      const proc = spawn(DOVECOT_BIN, ['-F', '-c', join(dir, 'dovecot.conf')], {
        // Node drops root's supplementary groups when uid/gid are set, like runuser does.
        ...(userInfo().uid === 0 ? { uid: as.uid, gid: as.gid } : {}),
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: join(dir, 'home') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      proc.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
      proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
      const deadline = Date.now() + START_TIMEOUT_MS;
      let up = false;
      while (!exited(proc) && Date.now() < deadline) {
        if (await greets(port)) {
          up = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      if (up) break;
      if (!exited(proc)) proc.kill('SIGKILL');
      if (attempt >= 2 || !/bind|address already in use/i.test(logs())) {
        throw new Error(`dovecot did not start on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms:\n${logs()}`);
      }
    }
  } catch (err) {
    killOnExit();
    process.removeListener('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    maildir,
    logs,
    async addMessage(raw) {
      nextTime = Math.max(nextTime, Math.floor(Date.now() / 1000));
      deliver(typeof raw === 'string' ? Buffer.from(raw.replace(/\r?\n/g, '\r\n'), 'utf8') : raw, 'new');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const proc = child!;
      if (!exited(proc)) {
        const gone = new Promise<void>((r) => proc.once('exit', () => r()));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await gone;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
