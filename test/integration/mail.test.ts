/**
 * The mail capability in-process against a real dovecot (test/helpers/dovecot.ts) holding the
 * sample mailbox (samples/mail), and against Maildir folders on disk.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { silentLogger } from '../../src/logging/index.js';
import type { FetchSinceResult, MailAccount, MailboxStatus, MailMessage } from '../../src/mail/index.js';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.js';
import { rejectionOf } from '../helpers/errors.js';

const SAMPLES = join(import.meta.dirname, '..', '..', 'samples');
interface SampleMessage {
  file: string;
  message_id: string;
  subject: string;
  receipts: Array<{ id: string; source: string; attachment?: string }>;
}
const mailIndex = JSON.parse(readFileSync(join(SAMPLES, 'mail', 'index.json'), 'utf8')) as { messages: SampleMessage[] };
const receiptSha = new Map(
  (JSON.parse(readFileSync(join(SAMPLES, 'receipts', 'index.json'), 'utf8')) as { receipts: Array<{ file: string; sha256: string }> }).receipts.map((r) => [r.file, r.sha256]),
);
const sampleFiles = mailIndex.messages.map((m) => join(SAMPLES, 'mail', m.file));
const N = sampleFiles.length;

const sha256 = (b64: string): string => createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex');

/** A message as a comparable summary (what must be equal whichever source it came from). */
function summary(m: MailMessage): Record<string, unknown> {
  return {
    uid: m.uid,
    message_id: m.message_id,
    subject: m.subject,
    from: m.from,
    to: m.to,
    date: m.date,
    text: m.text,
    html: m.html,
    attachments: m.attachments.map((a) => ({ filename: a.filename, content_type: a.content_type, size: a.size, sha: sha256(a.data) })),
  };
}

describe('mail (in-process, real dovecot)', () => {
  let dovecot: TestDovecot;
  let dataDir: string;
  let core: Core;
  const fetch = (payload: Record<string, unknown>): Promise<FetchSinceResult> => core.execute('query:mail.fetch_since.v1', payload) as Promise<FetchSinceResult>;
  const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'resolved', (e: { code?: string }) => e.code ?? String(e));

  beforeAll(async () => {
    dovecot = await startDovecot({ messages: sampleFiles });
    dataDir = mkdtempSync(join(tmpdir(), 'sd-mail-'));
    core = await Core.create(loadOptions({ overrides: { dataDir }, env: {} }), { logger: silentLogger() });
    await core.execute('action:mail.add_account.input.v1', {
      name: 'dove',
      kind: 'imap',
      host: dovecot.host,
      port: dovecot.port,
      secure: false,
      username: dovecot.user,
      password: dovecot.password,
      verify: true,
    });
  });

  afterAll(async () => {
    await core?.close();
    await dovecot?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('fetches every message in ascending UID order, parsed, as the sample index describes', async () => {
    const r = await fetch({ account: 'dove', limit: 100 });
    expect(r.messages.map((m) => m.uid)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(r.messages.map((m) => m.message_id)).toEqual(mailIndex.messages.map((m) => m.message_id));
    expect(r.messages.map((m) => m.subject)).toEqual(mailIndex.messages.map((m) => m.subject));
    expect(r).toMatchObject({ account: 'dove', mailbox: 'INBOX', highest_uid: N, available: N, has_more: false });
    const status = (await core.execute('query:mail.test_account.v1', { name: 'dove' })) as MailboxStatus;
    expect(status).toMatchObject({ account: 'dove', kind: 'imap', messages: N, uidnext: N + 1, uidvalidity: r.uidvalidity });
    expect(r.uidvalidity).toBeGreaterThan(0);
  });

  it('decodes attachments byte for byte (sha256 of the sample receipts) and keeps body receipts in text and html', async () => {
    const r = await fetch({ account: 'dove', limit: 100 });
    let checked = 0;
    for (const [i, sample] of mailIndex.messages.entries()) {
      const m = r.messages[i]!;
      for (const receipt of sample.receipts) {
        if (receipt.source === 'attachment') {
          const a = m.attachments.find((x) => x.filename === receipt.attachment);
          expect(a, `${receipt.attachment} in ${sample.subject}`).toBeDefined();
          expect(sha256(a!.data)).toBe(receiptSha.get(receipt.attachment!));
          expect(a!.size).toBe(Buffer.from(a!.data, 'base64').length);
          checked++;
        } else {
          expect(m.attachments).toEqual([]);
          expect(m.text).toContain('TOTAL USD');
          expect(m.html).toContain('<table>');
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('returns only UIDs strictly above last_uid, including at and above the highest UID (the `N:*` quirk)', async () => {
    const r5 = await fetch({ account: 'dove', last_uid: 5, limit: 100 });
    expect(r5.messages.map((m) => m.uid)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(r5.available).toBe(N - 5);
    // The server answers `UID SEARCH 12:*` with UID 11 (the highest); it must not come back.
    for (const last of [N, N + 1, 1000, '4294967295']) {
      const r = await fetch({ account: 'dove', last_uid: last });
      expect(r.messages, `last_uid ${last}`).toEqual([]);
      expect(r).toMatchObject({ highest_uid: N, available: 0, has_more: false });
    }
    const asString = await fetch({ account: 'dove', last_uid: '9' });
    expect(asString.messages.map((m) => m.uid)).toEqual([10, 11]);
    expect((await fetch({ account: 'dove', last_uid: '0' })).messages[0]!.uid).toBe(1);
  });

  it('pages with limit and has_more, each message exactly once', async () => {
    const seen: number[] = [];
    let last = 0;
    let calls = 0;
    for (;;) {
      const r = await fetch({ account: 'dove', last_uid: last, limit: 4 });
      calls++;
      expect(r.messages.length).toBeLessThanOrEqual(4);
      seen.push(...r.messages.map((m) => m.uid));
      if (!r.has_more) break;
      last = r.messages[r.messages.length - 1]!.uid;
    }
    expect(calls).toBe(3);
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    // Default limit is 10.
    const d = await fetch({ account: 'dove' });
    expect(d.messages).toHaveLength(10);
    expect(d.has_more).toBe(true);
  });

  it('stops at max_bytes but always returns at least one message', async () => {
    const r = await fetch({ account: 'dove', max_bytes: 1, limit: 100 });
    expect(r.messages.map((m) => m.uid)).toEqual([1]);
    expect(r.has_more).toBe(true);
    const sizes = (await fetch({ account: 'dove', limit: 100 })).messages.map((m) => m.size);
    const budget = sizes[0]! + sizes[1]!;
    const two = await fetch({ account: 'dove', max_bytes: budget, limit: 100 });
    expect(two.messages.map((m) => m.uid)).toEqual([1, 2]);
  });

  it('returns the raw RFC 822 message on request, identical to the delivered file', async () => {
    const r = await fetch({ account: 'dove', last_uid: 1, limit: 2, include_raw: true });
    expect(Buffer.from(r.messages[0]!.raw!, 'base64').equals(readFileSync(sampleFiles[1]!))).toBe(true);
    expect(Buffer.from(r.messages[1]!.raw!, 'base64').equals(readFileSync(sampleFiles[2]!))).toBe(true);
    expect((await fetch({ account: 'dove', limit: 1 })).messages[0]!.raw).toBeUndefined();
  });

  it('a message delivered while running appears with a higher UID', async () => {
    const before = await fetch({ account: 'dove', last_uid: N });
    expect(before.messages).toEqual([]);
    await dovecot.addMessage(
      [
        'From: Late Shop <shop@late.example>',
        'To: Alex Doe <alex@example.test>',
        'Subject: Late receipt',
        'Date: Wed, 02 Jul 2025 09:00:00 +0000',
        'Message-ID: <late-1@samples.spacedrive.test>',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'TOTAL USD 12.00',
        '',
      ].join('\n'),
    );
    const after = await fetch({ account: 'dove', last_uid: N });
    expect(after.messages.map((m) => [m.uid, m.message_id, m.subject])).toEqual([[N + 1, '<late-1@samples.spacedrive.test>', 'Late receipt']]);
    expect(after.messages[0]!.text.trim()).toBe('TOTAL USD 12.00');
    expect(after).toMatchObject({ highest_uid: N + 1, uidvalidity: before.uidvalidity, has_more: false });
  });

  it('a Maildir account on the same mailbox gives the same messages with the same UIDs', async () => {
    await core.execute('action:mail.add_account.input.v1', { name: 'local', kind: 'maildir', path: dovecot.maildir });
    const imap = await fetch({ account: 'dove', limit: 100 });
    const local = await fetch({ account: 'local', limit: 100 });
    expect(local.messages.length).toBe(N + 1);
    expect(local.messages.map(summary)).toEqual(imap.messages.map(summary));
    expect(local).toMatchObject({ highest_uid: N + 1, available: N + 1, has_more: false });
    const since = await fetch({ account: 'local', last_uid: N - 1 });
    expect(since.messages.map((m) => m.uid)).toEqual([N, N + 1]);
  });

  it('never returns secrets: list_accounts, and the password only in the credentials store', async () => {
    const { accounts } = (await core.execute('query:mail.list_accounts.v1', {})) as { accounts: MailAccount[] };
    expect(accounts.map((a) => a.name)).toEqual(['dove', 'local']);
    expect(accounts[0]).toMatchObject({ name: 'dove', kind: 'imap', host: dovecot.host, port: dovecot.port, secure: false, username: dovecot.user, mailbox: 'INBOX', has_password: true });
    expect(accounts[1]).toMatchObject({ name: 'local', kind: 'maildir', path: dovecot.maildir, has_password: false });
    expect(JSON.stringify(accounts)).not.toContain(dovecot.password);
    expect(readFileSync(join(dataDir, 'mail.db')).includes(Buffer.from(dovecot.password))).toBe(false);
    expect((await core.credentials.get('mail', 'dove')).secret).toBe(dovecot.password);
  });

  it('a wrong password is MAIL_AUTH_FAILED; with verify nothing is saved', async () => {
    const bad = { name: 'bad', kind: 'imap', host: dovecot.host, port: dovecot.port, secure: false, username: dovecot.user, password: 'wrong' };
    const err = (await rejectionOf(core.execute('action:mail.add_account.input.v1', { ...bad, verify: true }))) as { code: string; message: string };
    expect(err.code).toBe('MAIL_AUTH_FAILED');
    expect(err.message).toContain(`refused the login of '${dovecot.user}'`);
    expect(await codeOf(core.execute('query:mail.test_account.v1', { name: 'bad' }))).toBe('NOT_FOUND');
    expect((await core.credentials.list('mail')).map((c) => c.name)).not.toContain('bad');
    await core.execute('action:mail.add_account.input.v1', bad);
    expect(await codeOf(fetch({ account: 'bad' }))).toBe('MAIL_AUTH_FAILED');
    expect(await codeOf(core.execute('query:mail.test_account.v1', { name: 'bad' }))).toBe('MAIL_AUTH_FAILED');
    // Fixed by replacing the account; the old (wrong) password is overwritten.
    await core.execute('action:mail.add_account.input.v1', { ...bad, password: dovecot.password, replace: true });
    expect((await fetch({ account: 'bad', limit: 1 })).messages).toHaveLength(1);
    await core.execute('action:mail.remove_account.input.v1', { name: 'bad' });
    expect((await core.credentials.list('mail')).map((c) => c.name)).not.toContain('bad');
  });

  it('typed errors: unknown account, unreachable server, missing mailbox, duplicate name, bad input', async () => {
    const unknown = (await rejectionOf(fetch({ account: 'nope' }))) as { code: string; message: string };
    expect(unknown.code).toBe('NOT_FOUND');
    expect(unknown.message).toMatch(/mail account 'nope' not found; configured: dove, local/);
    expect(await codeOf(core.execute('action:mail.remove_account.input.v1', { name: 'nope' }))).toBe('NOT_FOUND');

    // A loopback port nobody listens on (dovecot's own port after it would be too racy).
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    await core.execute('action:mail.add_account.input.v1', { name: 'down', kind: 'imap', host: '127.0.0.1', port: closed, secure: false, username: 'x', password: 'y' });
    const down = (await rejectionOf(fetch({ account: 'down' }))) as { code: string; message: string };
    expect(down.code).toBe('MAIL_UNREACHABLE');
    expect(down.message).toContain(`cannot reach 127.0.0.1:${closed}`);
    // TLS spoken to a plain-text port fails clearly too.
    await core.execute('action:mail.add_account.input.v1', { name: 'tls', kind: 'imap', host: '127.0.0.1', port: dovecot.port, secure: true, username: 'x', password: 'y' });
    expect(await codeOf(fetch({ account: 'tls' }))).toBe('MAIL_UNREACHABLE');

    await core.execute('action:mail.add_account.input.v1', {
      name: 'nobox',
      kind: 'imap',
      host: dovecot.host,
      port: dovecot.port,
      secure: false,
      username: dovecot.user,
      password: dovecot.password,
      mailbox: 'Receipts',
    });
    const nobox = (await rejectionOf(fetch({ account: 'nobox' }))) as { code: string; message: string };
    expect(nobox.code).toBe('NOT_FOUND');
    expect(nobox.message).toContain("mailbox 'Receipts' not found");
    expect(await codeOf(core.execute('query:mail.test_account.v1', { name: 'nobox' }))).toBe('NOT_FOUND');

    expect(await codeOf(core.execute('action:mail.add_account.input.v1', { name: 'local', kind: 'maildir', path: dovecot.maildir }))).toBe('ALREADY_EXISTS');
    expect(await codeOf(fetch({ account: 'dove', last_uid: 'abc' }))).toBe('INVALID_INPUT');
    expect(await codeOf(fetch({ account: 'dove', last_uid: -1 }))).toBe('INVALID_INPUT');
    expect(await codeOf(fetch({ account: 'dove', limit: 101 }))).toBe('INVALID_INPUT');
    expect(await codeOf(core.execute('action:mail.add_account.input.v1', { name: 'x', kind: 'imap', host: 'h', username: 'u' }))).toBe('INVALID_INPUT');
    expect(await codeOf(core.execute('action:mail.add_account.input.v1', { name: 'x', kind: 'maildir', path: 'relative/dir' }))).toBe('INVALID_INPUT');
    expect(await codeOf(core.execute('action:mail.add_account.input.v1', { name: 'x', kind: 'maildir', path: '/', host: 'h' }))).toBe('INVALID_INPUT');
    expect(await codeOf(core.execute('action:mail.add_account.input.v1', { name: 'bad name!', kind: 'maildir', path: '/x' }))).toBe('INVALID_INPUT');
    expect(await codeOf(core.execute('action:mail.add_account.input.v1', { name: 'x', kind: 'maildir', path: '/nonexistent-maildir', verify: true }))).toBe('NOT_FOUND');
    for (const name of ['down', 'tls', 'nobox']) await core.execute('action:mail.remove_account.input.v1', { name });
  });

  it('never sends a password in clear text to a server other than this machine', async () => {
    // A server on this machine's network address (not loopback) that offers no STARTTLS.
    const address = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    expect(address, 'this test needs a non-loopback IPv4 address on the machine').toBeDefined();
    const received: string[] = [];
    let connections = 0;
    const fake = createServer((sock) => {
      connections++;
      sock.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n');
      sock.on('data', (d) => {
        for (const line of d.toString('latin1').split('\r\n').filter(Boolean)) {
          received.push(line);
          const tag = line.split(' ')[0];
          if (/ CAPABILITY$/i.test(line)) sock.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n${tag} OK done\r\n`);
          else if (/ ID /i.test(line)) sock.write(`* ID NIL\r\n${tag} OK done\r\n`);
          else sock.write(`${tag} OK done\r\n`);
        }
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => fake.listen(0, address, () => resolve()));
    const port = (fake.address() as AddressInfo).port;
    try {
      await core.execute('action:mail.add_account.input.v1', { name: 'cleartext', kind: 'imap', host: address, port, secure: false, username: 'u', password: 'must-not-leak' });
      const err = (await rejectionOf(fetch({ account: 'cleartext' }))) as { code: string; message: string };
      expect(err.code).toBe('MAIL_UNREACHABLE');
      expect(err.message).toContain('offers no STARTTLS');
      expect(connections).toBe(1);
      expect(received.join('\n')).not.toMatch(/LOGIN|AUTHENTICATE|must-not-leak|bXVzdC1ub3QtbGVhaw/);
    } finally {
      fake.close();
      await core.execute('action:mail.remove_account.input.v1', { name: 'cleartext' });
    }
  });

  it('a cancelled call closes its connection at once (a server that never greets)', async () => {
    const sockets: Array<import('node:net').Socket> = [];
    const silent = createServer((sock) => sockets.push(sock));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const port = (silent.address() as AddressInfo).port;
    try {
      await core.execute('action:mail.add_account.input.v1', { name: 'silent', kind: 'imap', host: '127.0.0.1', port, secure: false, username: 'x', password: 'y' });
      const ac = new AbortController();
      const pending = rejectionOf(core.execute('query:mail.fetch_since.v1', { account: 'silent' }, { signal: ac.signal }));
      while (sockets.length === 0) await new Promise((r) => setTimeout(r, 10));
      ac.abort();
      expect(await pending).toMatchObject({ code: 'CANCELLED' });
      // The daemon's side of the connection is gone.
      await new Promise<void>((resolve) => (sockets[0]!.destroyed ? resolve() : sockets[0]!.once('close', () => resolve())));
      expect(core.mail.counters().imap_connections).toBe(0);

      // At most 4 connections per account: a fifth call waits, and leaves the queue when cancelled.
      sockets.length = 0;
      const controllers = Array.from({ length: 5 }, () => new AbortController());
      const calls = controllers.map((c) => rejectionOf(core.execute('query:mail.fetch_since.v1', { account: 'silent' }, { signal: c.signal })));
      while (sockets.length < 4) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 200));
      expect(sockets.length).toBe(4);
      expect(core.mail.counters().imap_connections).toBe(4);
      controllers[4]!.abort();
      expect(await calls[4]).toMatchObject({ code: 'CANCELLED', message: expect.stringContaining('waiting for a connection') });
      for (const c of controllers.slice(0, 4)) c.abort();
      for (const call of calls.slice(0, 4)) expect(await call).toMatchObject({ code: 'CANCELLED' });
      expect(sockets.length).toBe(4);
      expect(core.mail.counters().imap_connections).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
      await core.execute('action:mail.remove_account.input.v1', { name: 'silent' });
    }
  });
});

describe('mail (Maildir UIDs)', () => {
  let dataDir: string;
  let maildir: string;
  let core: Core;
  const fetch = async (last_uid = 0): Promise<FetchSinceResult> =>
    (await core.execute('query:mail.fetch_since.v1', { account: 'md', last_uid, limit: 100 })) as FetchSinceResult;
  const uidsBySubject = (r: FetchSinceResult): Record<string, number> => Object.fromEntries(r.messages.map((m) => [m.subject, m.uid]));

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sd-mail-md-'));
    maildir = join(dataDir, 'Maildir');
    cpSync(join(SAMPLES, 'mail', 'Maildir'), maildir, { recursive: true });
    core = await Core.create(loadOptions({ overrides: { dataDir: join(dataDir, 'data') }, env: {} }), { logger: silentLogger() });
    await core.execute('action:mail.add_account.input.v1', { name: 'md', kind: 'maildir', path: maildir, verify: true });
  });

  afterAll(async () => {
    await core?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('gives UIDs in delivery order and keeps them when files move, change flags or disappear, across restarts', async () => {
    const first = await fetch();
    expect(first.messages.map((m) => m.message_id)).toEqual(mailIndex.messages.map((m) => m.message_id));
    expect(first.messages.map((m) => m.uid)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    const uids = uidsBySubject(first);

    // A mail client reads the new messages (new/ → cur/ with flags) and flags an old one.
    for (const name of readdirSync(join(maildir, 'new')).filter((n) => !n.startsWith('.'))) renameSync(join(maildir, 'new', name), join(maildir, 'cur', `${name}:2,S`));
    const flagged = readdirSync(join(maildir, 'cur')).find((n) => n.startsWith('1751367600'))!;
    renameSync(join(maildir, 'cur', flagged), join(maildir, 'cur', flagged.replace(/:2,.*$/, ':2,FS')));
    // One is deleted, one is delivered (with an earlier time than some: delivery order is only for new files).
    unlinkSync(join(maildir, 'cur', readdirSync(join(maildir, 'cur')).find((n) => n.startsWith('1751378400'))!));
    writeFileSync(join(maildir, 'new', '1700000000.M99P1.test'), 'Subject: newest\r\nMessage-ID: <n@x>\r\n\r\nhello\r\n');

    // And the daemon restarts in between.
    await core.close();
    core = await Core.create(loadOptions({ overrides: { dataDir: join(dataDir, 'data') }, env: {} }), { logger: silentLogger() });
    const second = await fetch();
    const expected: Record<string, number> = { ...uids, newest: N + 1 };
    delete expected['Lunch on Friday?'];
    expect(uidsBySubject(second)).toEqual(expected);
    expect(second.uidvalidity).toBe(first.uidvalidity);
    expect(second.highest_uid).toBe(N + 1);
    expect((await fetch(N)).messages.map((m) => m.subject)).toEqual(['newest']);
    const status = (await core.execute('query:mail.test_account.v1', { name: 'md' })) as MailboxStatus;
    expect(status).toMatchObject({ kind: 'maildir', messages: N, uidnext: N + 2, uidvalidity: first.uidvalidity });
    // A message without a Date header gets the file's delivery time.
    expect(Number.isNaN(Date.parse(second.messages.at(-1)!.date))).toBe(false);
  });

  it('reuses a settled listing between calls and sees every delivery and move', async () => {
    // Directories last changed a minute ago: their listing may be reused until they change.
    const past = new Date(Date.now() - 60_000);
    for (const sub of ['cur', 'new']) utimesSync(join(maildir, sub), past, past);
    const scans = (): number => core.mail.counters().maildir_scans!;
    const before = await fetch();
    const s0 = scans();
    expect((await fetch()).messages.map((m) => m.uid)).toEqual(before.messages.map((m) => m.uid));
    expect((await fetch(N - 1)).messages.length).toBeGreaterThan(0);
    expect(scans()).toBe(s0);
    // A delivery changes new/'s mtime: listed again, and seen.
    writeFileSync(join(maildir, 'new', `${Math.floor(Date.now() / 1000)}.M1P2.test`), 'Subject: fresh\r\n\r\nx\r\n');
    const after = await fetch(before.highest_uid);
    expect(after.messages.map((m) => [m.uid, m.subject])).toEqual([[before.highest_uid + 1, 'fresh']]);
    expect(scans()).toBe(s0 + 1);
    // Within 2 s of a change the listing is not trusted: a second delivery in the same tick is seen too.
    writeFileSync(join(maildir, 'new', `${Math.floor(Date.now() / 1000)}.M2P2.test`), 'Subject: fresher\r\n\r\nx\r\n');
    expect((await fetch(before.highest_uid + 1)).messages.map((m) => m.subject)).toEqual(['fresher']);
  });

  it('re-adding the account with another folder starts a new uidvalidity', async () => {
    const before = await fetch();
    const other = join(dataDir, 'Other');
    cpSync(join(SAMPLES, 'mail', 'Maildir'), other, { recursive: true });
    await core.execute('action:mail.add_account.input.v1', { name: 'md', kind: 'maildir', path: other, replace: true });
    const after = await fetch();
    expect(after.uidvalidity).toBeGreaterThan(before.uidvalidity);
    expect(after.messages.map((m) => m.uid)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  });

  it('a message that cannot be parsed comes back with parse_error, and the ones after it still do', async () => {
    const broken = join(dataDir, 'Broken');
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(broken, sub), { recursive: true });
    writeFileSync(join(broken, 'new', '1700000001.M1P1.t'), `Subject: huge header\r\nX-Junk: ${'a'.repeat(1_100_000)}\r\n\r\nbody\r\n`);
    writeFileSync(join(broken, 'new', '1700000002.M2P1.t'), 'Subject: fine\r\nMessage-ID: <fine@x>\r\n\r\nok\r\n');
    await core.execute('action:mail.add_account.input.v1', { name: 'broken', kind: 'maildir', path: broken });
    const r = (await core.execute('query:mail.fetch_since.v1', { account: 'broken' })) as FetchSinceResult;
    expect(r.messages.map((m) => m.uid)).toEqual([1, 2]);
    expect(r.messages[0]).toMatchObject({ uid: 1, subject: '', attachments: [], parse_error: expect.stringContaining('Max header size') });
    expect(r.messages[0]!.size).toBeGreaterThan(1_100_000);
    expect(r.messages[1]).toMatchObject({ uid: 2, subject: 'fine', message_id: '<fine@x>' });
    expect(r.messages[1]!.parse_error).toBeUndefined();
  });

  it('a folder that is not a Maildir is a clear error', async () => {
    const notMaildir = join(dataDir, 'plain');
    cpSync(join(SAMPLES, 'receipts'), notMaildir, { recursive: true });
    const err = (await rejectionOf(core.execute('action:mail.add_account.input.v1', { name: 'plain', kind: 'maildir', path: notMaildir, verify: true }))) as { code: string; message: string };
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toContain('is not a Maildir (it has no cur/ directory)');
  });
});

describe('mail (sparse UIDs, real dovecot)', () => {
  let dovecot: TestDovecot;
  let dataDir: string;
  let core: Core;
  const TOTAL = 400;
  // Kept after expunging the rest: long gaps (as in Gmail's INBOX, whose UIDs are shared with
  // All Mail), runs of neighbours, the first and the last.
  const kept = [1, 2, 3, ...Array.from({ length: TOTAL }, (_, i) => i + 1).filter((u) => u % 97 === 0), 250, 251, 252, 253, 254, 255, 256, 257, TOTAL].filter((u, i, a) => a.indexOf(u) === i).sort((a, b) => a - b);

  beforeAll(async () => {
    dovecot = await startDovecot();
    for (let i = 1; i <= TOTAL; i++) await dovecot.addMessage(`Subject: m${i}\r\nMessage-ID: <m${i}@sparse>\r\n\r\nbody ${i}\r\n`);
    const { ImapFlow } = await import('imapflow');
    const client = new ImapFlow({ host: dovecot.host, port: dovecot.port, secure: false, auth: { user: dovecot.user, pass: dovecot.password }, logger: false });
    await client.connect();
    await client.mailboxOpen('INBOX');
    const gone = Array.from({ length: TOTAL }, (_, i) => i + 1).filter((u) => !kept.includes(u));
    await client.messageDelete(gone.join(','), { uid: true });
    await client.logout();
    dataDir = mkdtempSync(join(tmpdir(), 'sd-mail-sparse-'));
    core = await Core.create(loadOptions({ overrides: { dataDir }, env: {} }), { logger: silentLogger() });
    await core.execute('action:mail.add_account.input.v1', { name: 'sparse', kind: 'imap', host: dovecot.host, port: dovecot.port, secure: false, username: dovecot.user, password: dovecot.password });
  });

  afterAll(async () => {
    await core?.close();
    await dovecot?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('pages through gaps in the UIDs: every remaining message once, in order, with exact counts', async () => {
    for (const limit of [1, 3, 10, 100]) {
      const seen: number[] = [];
      let last = 0;
      for (;;) {
        const r = (await core.execute('query:mail.fetch_since.v1', { account: 'sparse', last_uid: last, limit })) as FetchSinceResult;
        expect(r.highest_uid).toBe(TOTAL);
        expect(r.available, `available above ${last}`).toBe(kept.filter((u) => u > last).length);
        expect(r.messages.map((m) => m.subject)).toEqual(r.messages.map((m) => `m${m.uid}`));
        seen.push(...r.messages.map((m) => m.uid));
        if (r.messages.length > 0) last = r.messages.at(-1)!.uid;
        expect(r.has_more).toBe(kept.some((u) => u > last));
        if (!r.has_more) break;
      }
      expect(seen, `limit ${limit}`).toEqual(kept);
    }
    // From inside a gap, and past the end.
    const mid = (await core.execute('query:mail.fetch_since.v1', { account: 'sparse', last_uid: 100, limit: 2 })) as FetchSinceResult;
    expect(mid.messages.map((m) => m.uid)).toEqual(kept.filter((u) => u > 100).slice(0, 2));
    const end = (await core.execute('query:mail.fetch_since.v1', { account: 'sparse', last_uid: TOTAL })) as FetchSinceResult;
    expect(end).toMatchObject({ messages: [], available: 0, has_more: false, highest_uid: TOTAL });
  });
});
