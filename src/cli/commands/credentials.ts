/**
 * `spacedrive credentials set|get|list|delete`: a thin layer over the `credentials.*` operations.
 * `set` never takes the secret from the command line (it would end up in the shell history and
 * in `ps`): it reads it from standard input, or asks for it with a hidden prompt on a terminal.
 */
import type { Command } from 'commander';
import type { Credential, CredentialSummary } from '../../credentials/index.js';
import { ErrorCode, SpacedriveError } from '../../errors/index.js';
import type { Cli, CommandContext } from '../context.js';
import { formatTable } from '../output.js';

type TtyIn = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (on: boolean) => unknown };

/** Reads a line from the terminal without echoing it. */
function hiddenPrompt(ctx: CommandContext, question: string): Promise<string> {
  const input = ctx.io.stdin as TtyIn;
  return new Promise((resolve, reject) => {
    let value = '';
    ctx.io.stderr.write(question);
    input.setRawMode?.(true);
    input.setEncoding?.('utf8');
    input.resume();
    const done = (err?: Error) => {
      input.setRawMode?.(false);
      input.pause();
      input.removeListener('data', onData);
      ctx.io.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new SpacedriveError(ErrorCode.CANCELLED, 'cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}

/** The whole of standard input, less one trailing newline (what `echo secret |` adds). */
async function readStdin(ctx: CommandContext): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.io.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function parseMetadata(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SpacedriveError(ErrorCode.USAGE, `--metadata is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SpacedriveError(ErrorCode.USAGE, '--metadata must be a JSON object');
  return value as Record<string, unknown>;
}

export function registerCredentialsCommand(program: Command, cli: Cli): void {
  const group = program.command('credentials').description('Store, read and delete secrets (encrypted at rest; per owner: you, a core capability, or an extension).');
  const ownerHelp = "whose credential: 'user' (default), 'mail', or 'ext:<extension-id>'";

  group
    .command('set')
    .description('Store a secret under <name>, replacing any with that name. The secret is read from standard input, or asked for without echo on a terminal; never from the command line.')
    .argument('<name>', 'credential name (an account, a service)')
    .option('--owner <owner>', ownerHelp)
    .option('--metadata <json>', 'non-secret details as a JSON object (shown by list)')
    .action(
      cli.action(async (ctx, name: string, opts: { owner?: string; metadata?: string }) => {
        const metadata = parseMetadata(opts.metadata);
        const tty = (ctx.io.stdin as TtyIn).isTTY === true;
        const secret = tty ? await hiddenPrompt(ctx, `secret for '${name}': `) : await readStdin(ctx);
        if (secret.length === 0) throw new SpacedriveError(ErrorCode.USAGE, 'the secret is empty: pipe it on standard input or type it at the prompt');
        const payload: Record<string, unknown> = { name, secret };
        if (opts.owner) payload.owner = opts.owner;
        if (metadata) payload.metadata = metadata;
        const result = await ctx.action<CredentialSummary>('action:credentials.store.input.v1', payload);
        ctx.print(result, (r: CredentialSummary) => `stored credential '${r.name}' for '${r.owner}'`);
      }),
    );

  group
    .command('get')
    .description('Show a credential; the secret itself only with --reveal.')
    .argument('<name>', 'credential name')
    .option('--owner <owner>', ownerHelp)
    .option('--reveal', 'print the secret')
    .action(
      cli.action(async (ctx, name: string, opts: { owner?: string; reveal?: boolean }) => {
        const result = await ctx.query<Credential>('query:credentials.get.v1', opts.owner ? { name, owner: opts.owner } : { name });
        const shown = opts.reveal ? result : { ...result, secret: '********' };
        ctx.print(shown, (r: Credential) => (opts.reveal && !ctx.json ? r.secret : `${r.owner}/${r.name} (updated ${r.updated_at})\nmetadata: ${JSON.stringify(r.metadata)}\nsecret: ******** (--reveal to print it)`));
      }),
    );

  group
    .command('list')
    .description('Names and metadata of the stored credentials (never the secrets).')
    .option('--owner <owner>', ownerHelp)
    .action(
      cli.action(async (ctx, opts: { owner?: string }) => {
        const result = await ctx.query<{ owner: string; credentials: CredentialSummary[] }>('query:credentials.list.v1', opts.owner ? { owner: opts.owner } : {});
        ctx.print(result, (r: { owner: string; credentials: CredentialSummary[] }, c) =>
          r.credentials.length === 0
            ? c.dim(`no credentials for '${r.owner}'`)
            : formatTable(['NAME', 'METADATA', 'UPDATED'], r.credentials.map((x) => [x.name, JSON.stringify(x.metadata), x.updated_at]), c),
        );
      }),
    );

  group
    .command('delete')
    .description('Delete a stored credential.')
    .argument('<name>', 'credential name')
    .option('--owner <owner>', ownerHelp)
    .action(
      cli.action(async (ctx, name: string, opts: { owner?: string }) => {
        const result = await ctx.action<{ owner: string; name: string }>('action:credentials.delete.input.v1', opts.owner ? { name, owner: opts.owner } : { name });
        ctx.print(result, (r: { owner: string; name: string }) => `deleted credential '${r.name}' of '${r.owner}'`);
      }),
    );
}
