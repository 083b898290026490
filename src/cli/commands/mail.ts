/**
 * `spacedrive mail add-account|accounts|remove-account|test|fetch`: a thin layer over the
 * `mail.*` operations. The password of an IMAP account is read from standard input
 * (`--password-stdin`) or asked for without echo on a terminal; it is never a flag, so it stays
 * out of the shell history and the process list.
 */
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { AddAccountInput, FetchSinceResult, MailAccount, MailboxStatus } from '../../mail/types.js';
import type { Cli, CommandContext } from '../context.js';
import { formatTable, type Colors } from '../output.js';

interface AddAccountFlags {
  kind?: string;
  host?: string;
  port?: string;
  secure?: boolean;
  username?: string;
  passwordStdin?: boolean;
  mailbox?: string;
  path?: string;
  replace?: boolean;
  verify?: boolean;
}

function usage(message: string, details?: Record<string, unknown>): SpacedriveError {
  return new SpacedriveError(ErrorCode.USAGE, message, details);
}

function parseIntFlag(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw usage(`${flag}: expected an integer from ${min} to ${max}, got '${value}'`, { flag });
  return Number(value);
}

/** Reads the whole of standard input; one trailing line break is not part of the password. */
async function readPasswordFromStdin(ctx: CommandContext): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  const text = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (text === '') throw usage('--password-stdin: standard input was empty');
  return text;
}

/** Asks on the terminal with echo off (the typed characters are not shown). */
async function promptPassword(ctx: CommandContext, question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _enc, cb) {
      if (!muted) ctx.io.stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: ctx.io.stdin, output, terminal: true });
  try {
    const answer = await new Promise<string>((resolveAnswer, reject) => {
      rl.question(question, resolveAnswer);
      rl.once('close', () => reject(usage('no password given')));
      muted = true;
    });
    ctx.io.stderr.write('\n');
    if (answer === '') throw usage('no password given');
    return answer;
  } finally {
    rl.close();
  }
}

function describeAccount(a: MailAccount): string {
  if (a.kind === 'maildir') return `Maildir ${a.path}${a.mailbox !== 'INBOX' ? ` (folder ${a.mailbox})` : ''}`;
  return `${a.username} at ${a.host}:${a.port} (${a.secure ? 'TLS' : 'STARTTLS; plain text only on this machine'}), mailbox ${a.mailbox}`;
}

function humanStatus(s: MailboxStatus, c: Colors): string {
  return `${c.green('ok')}: ${s.account} (${s.kind}) mailbox ${s.mailbox}: ${s.messages} message(s), uidvalidity ${s.uidvalidity}, uidnext ${s.uidnext} (${s.elapsed_ms} ms)`;
}

export function registerMailCommands(program: Command, cli: Cli): void {
  const group = program
    .command('mail')
    .description('Mail accounts (IMAP or a local Maildir) that jobs such as finance:email_scan read from.')
    .addHelpText(
      'after',
      `
Gmail: create an app password (Google Account → Security → App passwords), then
  spacedrive mail add-account gmail --kind imap --host imap.gmail.com --port 993 --username you@gmail.com
and type the app password when asked (or pipe it with --password-stdin).`,
    );

  group
    .command('add-account')
    .description('Add a mail account by name. IMAP passwords are stored encrypted in the credentials store.')
    .argument('<name>', 'account name (e.g. gmail, work)')
    .requiredOption('--kind <kind>', 'imap or maildir')
    .option('--host <host>', 'IMAP server (imap)')
    .option('--port <port>', 'IMAP port (imap); default 993 with TLS, 143 without')
    .option('--secure', 'TLS from the first byte (imap; default unless --port 143)')
    .option('--no-secure', 'no TLS from the start; upgrade with STARTTLS (required unless the server is this machine) (imap)')
    .option('--username <user>', 'IMAP login (imap)')
    .option('--password-stdin', 'read the password from standard input instead of asking (imap)')
    .option('--mailbox <name>', 'mailbox to read (default INBOX)')
    .option('--path <dir>', 'the Maildir directory (maildir)')
    .option('--replace', 'replace an account of the same name')
    .option('--verify', 'connect and open the mailbox first; save nothing if that fails')
    .action(
      cli.action(async (ctx, name: string, opts: AddAccountFlags) => {
        if (opts.kind !== 'imap' && opts.kind !== 'maildir') throw usage(`--kind: expected imap or maildir, got '${opts.kind}'`, { flag: '--kind' });
        const input: AddAccountInput = { name, kind: opts.kind };
        if (opts.mailbox !== undefined) input.mailbox = opts.mailbox;
        if (opts.replace) input.replace = true;
        if (opts.verify) input.verify = true;
        if (opts.kind === 'imap') {
          if (opts.path !== undefined) throw usage('--path is for maildir accounts');
          if (!opts.host) throw usage('an imap account needs --host');
          if (!opts.username) throw usage('an imap account needs --username');
          input.host = opts.host;
          input.username = opts.username;
          const port = parseIntFlag(opts.port, '--port', 1, 65535);
          if (port !== undefined) input.port = port;
          if (opts.secure !== undefined) input.secure = opts.secure;
          if (opts.passwordStdin) input.password = await readPasswordFromStdin(ctx);
          else if ((ctx.io.stdin as { isTTY?: boolean }).isTTY === true) input.password = await promptPassword(ctx, `Password for ${opts.username} at ${opts.host}: `);
          else throw usage('standard input is not a terminal: pass the password on standard input with --password-stdin');
        } else {
          for (const [flag, v] of [['--host', opts.host], ['--port', opts.port], ['--username', opts.username], ['--password-stdin', opts.passwordStdin]] as const) {
            if (v !== undefined) throw usage(`${flag} is for imap accounts`);
          }
          if (opts.secure !== undefined) throw usage('--secure/--no-secure are for imap accounts');
          if (!opts.path) throw usage('a maildir account needs --path');
          input.path = resolve(ctx.io.cwd, opts.path);
        }
        const account = await ctx.action<MailAccount>('action:mail.add_account.input.v1', input);
        ctx.print(account, (a: MailAccount, c) => `${c.green(opts.replace ? 'saved' : 'added')} ${a.kind} account ${c.bold(a.name)}: ${describeAccount(a)}`);
      }),
    );

  group
    .command('accounts')
    .description('List mail accounts (never their passwords).')
    .action(
      cli.action(async (ctx) => {
        const result = await ctx.query<{ accounts: MailAccount[] }>('query:mail.list_accounts.v1', {});
        ctx.print(result, (r: { accounts: MailAccount[] }, c) => {
          if (r.accounts.length === 0) return c.dim("no mail accounts; add one with 'spacedrive mail add-account <name> --kind imap|maildir …'");
          return formatTable(
            ['NAME', 'KIND', 'ACCOUNT', 'PASSWORD'],
            r.accounts.map((a) => [a.name, a.kind, describeAccount(a), a.kind === 'imap' ? (a.has_password ? 'stored' : c.red('missing')) : '-']),
            c,
            ctx.width !== undefined ? { width: ctx.width } : {},
          );
        });
      }),
    );

  group
    .command('remove-account')
    .description('Remove a mail account with its stored password.')
    .argument('<name>', 'account name')
    .action(
      cli.action(async (ctx, name: string) => {
        const result = await ctx.action<{ name: string; removed: true }>('action:mail.remove_account.input.v1', { name });
        ctx.print(result, (r: { name: string }, c) => `${c.green('removed')} mail account ${r.name}`);
      }),
    );

  group
    .command('test')
    .description('Connect to an account (or scan its Maildir) and show its mailbox status.')
    .argument('<name>', 'account name')
    .action(
      cli.action(async (ctx, name: string) => {
        const status = await ctx.query<MailboxStatus>('query:mail.test_account.v1', { name }, { timeoutMs: 120_000 });
        ctx.print(status, humanStatus);
      }),
    );

  group
    .command('fetch')
    .description('List messages with a UID above --since (attachments and bodies with --json).')
    .argument('<name>', 'account name')
    .option('--since <uid>', 'only UIDs strictly above this (default 0: from the start)', '0')
    .option('--limit <n>', 'most messages (1 to 100, default 10)')
    .option('--raw', 'include each raw message (base64) in --json output')
    .action(
      cli.action(async (ctx, name: string, opts: { since: string; limit?: string; raw?: boolean }) => {
        const since = parseIntFlag(opts.since, '--since', 0, 0xffff_ffff)!;
        const limit = parseIntFlag(opts.limit, '--limit', 1, 100);
        const payload = { account: name, last_uid: since, ...(limit !== undefined ? { limit } : {}), ...(opts.raw ? { include_raw: true } : {}) };
        const result = await ctx.query<FetchSinceResult>('query:mail.fetch_since.v1', payload, { timeoutMs: 300_000 });
        ctx.print(result, (r: FetchSinceResult, c) => {
          const head = `${r.account} ${r.mailbox}: uidvalidity ${r.uidvalidity}, highest UID ${r.highest_uid}, ${r.available} above ${since}`;
          if (r.messages.length === 0) return `${head}\n${c.dim('no messages')}`;
          const table = formatTable(
            ['UID', 'DATE', 'FROM', 'SUBJECT', 'ATTACHMENTS'],
            r.messages.map((m) => [String(m.uid), m.date.slice(0, 16).replace('T', ' '), m.from, m.subject, m.attachments.map((a) => a.filename).join(', ')]),
            c,
            ctx.width !== undefined ? { width: ctx.width } : {},
          );
          const last = r.messages[r.messages.length - 1]!.uid;
          return `${head}\n${table}${r.has_more ? `\n${c.dim(`more: spacedrive mail fetch ${r.account} --since ${last}`)}` : ''}`;
        });
      }),
    );
}
