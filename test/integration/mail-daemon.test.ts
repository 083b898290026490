/**
 * The mail capability through a real daemon process: over the wire with the client, and through
 * the CLI binary (password on standard input and on a pseudo-terminal), against a real dovecot.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FetchSinceResult, MailAccount } from '../../src/mail/index.js';
import { REPO_ROOT, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.js';

const SAMPLES = join(REPO_ROOT, 'samples');
const mailIndex = JSON.parse(readFileSync(join(SAMPLES, 'mail', 'index.json'), 'utf8')) as {
  messages: Array<{ file: string; message_id: string; subject: string; receipts: Array<{ source: string; attachment?: string }> }>;
};
const receiptSha = new Map(
  (JSON.parse(readFileSync(join(SAMPLES, 'receipts', 'index.json'), 'utf8')) as { receipts: Array<{ file: string; sha256: string }> }).receipts.map((r) => [r.file, r.sha256]),
);
const N = mailIndex.messages.length;
const sha256 = (b64: string): string => createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex');

describe('mail through the daemon (wire and CLI, real dovecot)', () => {
  let dovecot: TestDovecot;
  let d: TestDaemon;
  const imapFlags = (name: string): string[] => ['mail', 'add-account', name, '--kind', 'imap', '--host', dovecot.host, '--port', String(dovecot.port), '--no-secure', '--username', dovecot.user];

  beforeAll(async () => {
    dovecot = await startDovecot({ messages: mailIndex.messages.map((m) => join(SAMPLES, 'mail', m.file)) });
    d = await startTestDaemon();
  });

  afterAll(async () => {
    await d?.stop();
    await dovecot?.stop();
  });

  it('adds an IMAP account with the password on standard input and lists it without the password', async () => {
    const added = await d.cli([...imapFlags('dove'), '--password-stdin', '--verify'], { input: `${dovecot.password}\n` });
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toContain(`added imap account dove: ${dovecot.user} at ${dovecot.host}:${dovecot.port}`);

    const listed = await d.cli(['--json', 'mail', 'accounts']);
    expect(listed.code).toBe(0);
    const { accounts } = JSON.parse(listed.stdout) as { accounts: MailAccount[] };
    expect(accounts).toEqual([
      expect.objectContaining({ name: 'dove', kind: 'imap', host: dovecot.host, port: dovecot.port, secure: false, username: dovecot.user, mailbox: 'INBOX', has_password: true }),
    ]);
    const table = await d.cli(['mail', 'accounts']);
    expect(table.stdout).toMatch(/dove\s+imap\s+.*stored/);
    for (const out of [listed.stdout, table.stdout, d.logs()]) expect(out).not.toContain(dovecot.password);

    const tested = await d.cli(['mail', 'test', 'dove']);
    expect(tested.code).toBe(0);
    expect(tested.stdout).toMatch(new RegExp(`ok: dove \\(imap\\) mailbox INBOX: ${N} message\\(s\\), uidvalidity \\d+, uidnext ${N + 1}`));
  });

  it('fetches over the wire: UIDs strictly above a string last_uid, attachments intact', async () => {
    const client = await d.client();
    const r = (await client.query('query:mail.fetch_since.v1', { account: 'dove', last_uid: String(N - 3), limit: 100 })) as FetchSinceResult;
    expect(r.messages.map((m) => m.uid)).toEqual([N - 2, N - 1, N]);
    expect(r.messages.map((m) => m.message_id)).toEqual(mailIndex.messages.slice(N - 3).map((m) => m.message_id));
    for (const [i, sample] of mailIndex.messages.slice(N - 3).entries()) {
      for (const receipt of sample.receipts.filter((x) => x.source === 'attachment')) {
        const a = r.messages[i]!.attachments.find((x) => x.filename === receipt.attachment)!;
        expect(sha256(a.data)).toBe(receiptSha.get(receipt.attachment!));
      }
    }
    const none = (await client.query('query:mail.fetch_since.v1', { account: 'dove', last_uid: N })) as FetchSinceResult;
    expect(none).toMatchObject({ messages: [], highest_uid: N, has_more: false });
    await expect(client.query('query:mail.fetch_since.v1', { account: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining("mail account 'nope' not found") });
  });

  it('fetches through the CLI, as a table and as JSON', async () => {
    const json = await d.cli(['--json', 'mail', 'fetch', 'dove', '--since', String(N - 2)]);
    expect(json.code).toBe(0);
    const r = JSON.parse(json.stdout) as FetchSinceResult;
    expect(r.messages.map((m) => m.uid)).toEqual([N - 1, N]);
    const human = await d.cli(['mail', 'fetch', 'dove', '--limit', '2']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(mailIndex.messages[0]!.subject);
    expect(human.stdout).toContain(mailIndex.messages[1]!.subject);
    expect(human.stdout).not.toContain(mailIndex.messages[2]!.subject);
    expect(human.stdout).toContain('more: spacedrive mail fetch dove --since 2');
  });

  it('a message delivered while the daemon runs is fetched with the next UID', async () => {
    await dovecot.addMessage('Subject: arrived later\r\nMessage-ID: <later@x>\r\nDate: Thu, 03 Jul 2025 10:00:00 +0000\r\n\r\nhello\r\n');
    const client = await d.client();
    const r = (await client.query('query:mail.fetch_since.v1', { account: 'dove', last_uid: N })) as FetchSinceResult;
    expect(r.messages.map((m) => [m.uid, m.subject])).toEqual([[N + 1, 'arrived later']]);
  });

  it('typed errors through the CLI: wrong password, unknown account, no password source', async () => {
    const bad = await d.cli([...imapFlags('bad'), '--password-stdin', '--verify'], { input: 'wrong\n' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error [MAIL_AUTH_FAILED]');
    expect(bad.stderr).toContain(`refused the login of '${dovecot.user}'`);
    const unknown = await d.cli(['mail', 'test', 'bad']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("error [NOT_FOUND]: mail account 'bad' not found; configured: dove");
    const noPassword = await d.cli(imapFlags('x'));
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toContain('--password-stdin');
    const emptyPassword = await d.cli([...imapFlags('x'), '--password-stdin'], { input: '' });
    expect(emptyPassword.code).toBe(2);
    const mixed = await d.cli(['mail', 'add-account', 'x', '--kind', 'maildir', '--host', 'h', '--path', '.']);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--host is for imap accounts');
  });

  it('on a terminal, asks for the password without echoing it', async () => {
    const typed = 'typed-on-tty';
    const cmd = [process.execPath, join(REPO_ROOT, 'bin', 'spacedrive.js'), '--data-dir', d.dataDir, ...imapFlags('tty')].map((a) => `'${a}'`).join(' ');
    const out = await new Promise<{ code: number; out: string }>((resolvePromise, reject) => {
      const child = spawn('script', ['-qefc', cmd, '/dev/null'], { env: { ...d.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
      let text = '';
      let answered = false;
      const onData = (t: string): void => {
        text += t;
        if (text.includes('Password for') && !answered) {
          answered = true;
          child.stdin.write(`${typed}\r`);
        }
      };
      child.stdout.setEncoding('utf8').on('data', onData);
      child.stderr.setEncoding('utf8').on('data', onData);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolvePromise({ code: code ?? 1, out: text });
      });
    });
    expect(out.out).toContain(`Password for ${dovecot.user} at ${dovecot.host}: `);
    expect(out.out).toContain('added imap account tty');
    expect(out.out).not.toContain(typed);
    expect(out.code).toBe(0);
    const client = await d.client();
    const { accounts } = (await client.query('query:mail.list_accounts.v1', {})) as { accounts: MailAccount[] };
    expect(accounts.find((a) => a.name === 'tty')).toMatchObject({ has_password: true });
    // The stored password is the one typed: it logs in only if dovecot accepts it, which it does not.
    await expect(client.query('query:mail.test_account.v1', { name: 'tty' })).rejects.toMatchObject({ code: 'MAIL_AUTH_FAILED' });
    expect((await d.cli(['mail', 'remove-account', 'tty'])).stdout).toContain('removed mail account tty');
  });

  it('a Maildir account (relative --path) gives the same messages as IMAP; accounts survive kill -9', async () => {
    const added = await d.cli(['mail', 'add-account', 'samples', '--kind', 'maildir', '--path', 'samples/mail/Maildir']);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain(`Maildir ${join(REPO_ROOT, 'samples', 'mail', 'Maildir')}`);
    const client = await d.client();
    const local = (await client.query('query:mail.fetch_since.v1', { account: 'samples', limit: 100 })) as FetchSinceResult;
    const imap = (await client.query('query:mail.fetch_since.v1', { account: 'dove', limit: N })) as FetchSinceResult;
    const view = (r: FetchSinceResult) => r.messages.map((m) => ({ uid: m.uid, id: m.message_id, subject: m.subject, text: m.text, files: m.attachments.map((a) => sha256(a.data)) }));
    expect(view(local)).toEqual(view(imap));

    await d.kill();
    await d.restart();
    const after = await d.cli(['--json', 'mail', 'accounts']);
    expect((JSON.parse(after.stdout) as { accounts: MailAccount[] }).accounts.map((a) => a.name)).toEqual(['dove', 'samples']);
    const c2 = await d.client();
    const again = (await c2.query('query:mail.fetch_since.v1', { account: 'samples', limit: 100 })) as FetchSinceResult;
    expect(view(again)).toEqual(view(local));
    expect(again.uidvalidity).toBe(local.uidvalidity);
    expect(((await c2.query('query:mail.fetch_since.v1', { account: 'dove', last_uid: N })) as FetchSinceResult).messages).toHaveLength(1);

    const removed = await d.cli(['mail', 'remove-account', 'dove']);
    expect(removed.code).toBe(0);
    const creds = (await c2.query('query:credentials.list.v1', { owner: 'mail' })) as { credentials: Array<{ name: string }> };
    expect(creds.credentials.map((c) => c.name)).not.toContain('dove');
  });
});
