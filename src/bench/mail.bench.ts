/**
 * Bench section `mail`: query:mail.fetch_since.v1 in-process on a Maildir account of 20,000
 * messages (the small sample messages, copied under new names):
 *  - one message from the middle, with the directory listing reused (cur/ and new/ unchanged),
 *    and the same when every call must list the folder again (new/ just changed);
 *  - pages of 10 and 100 small messages (mostly mailparser's cost, 2-3 ms a message);
 *  - one message with a 220 KB PDF attachment (parse + base64).
 * Check: a call with the listing reused ≤ 0.5 × one that lists again (the point of keeping it,
 * for a scan that walks a large Maildir a few messages at a time).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOptions } from '../config/index.js';
import { Core } from '../core/index.js';
import { silentLogger } from '../logging/index.js';
import { check, measure, type BenchSection, type Measurement } from './harness.js';

const SAMPLES = fileURLToPath(new URL('../../samples/mail/', import.meta.url));
const MESSAGES = 20_000;

export async function run(): Promise<BenchSection> {
  const index = JSON.parse(readFileSync(join(SAMPLES, 'index.json'), 'utf8')) as { messages: Array<{ file: string; subject: string }> };
  const small = index.messages.map((m) => readFileSync(join(SAMPLES, m.file))).filter((b) => b.length < 8_192);
  const withPdf = index.messages.map((m) => readFileSync(join(SAMPLES, m.file))).find((b) => b.length > 200_000)!;

  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-mail-'));
  const maildir = join(dir, 'Maildir');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
  for (let i = 0; i < MESSAGES; i++) writeFileSync(join(maildir, 'cur', `${1_700_000_000 + i}.M${i}P1.bench:2,S`), small[i % small.length]!);
  writeFileSync(join(maildir, 'cur', `${1_700_000_000 + MESSAGES}.MpdfP1.bench:2,S`), withPdf);
  const settle = (): void => {
    const past = new Date(Date.now() - 60_000);
    for (const sub of ['cur', 'new']) utimesSync(join(maildir, sub), past, past);
  };
  settle();

  const core = await Core.create(loadOptions({ overrides: { dataDir: join(dir, 'data') }, env: {} }), { logger: silentLogger() });
  const fetch = (payload: Record<string, unknown>) => core.execute('query:mail.fetch_since.v1', { account: 'bench', ...payload });
  const rows: Measurement[] = [];
  try {
    await core.execute('action:mail.add_account.input.v1', { name: 'bench', kind: 'maildir', path: maildir });
    rows.push(await measure(`first call: assign ${MESSAGES + 1} UIDs, page of 10`, () => fetch({ limit: 10 }), { ops: 1, warmup: 0 }));
    settle();
    const cached = await measure('1 message, listing reused', () => fetch({ last_uid: 10_000, limit: 1 }), { ops: 100, warmup: 5 });
    rows.push(cached);
    let tick = 0;
    const relisted = await measure(
      '1 message, folder listed again',
      () => {
        // A fresh mtime on new/ (as a delivery would leave) makes the listing untrusted.
        const now = new Date(Date.now() + tick++);
        utimesSync(join(maildir, 'new'), now, now);
        return fetch({ last_uid: 10_000, limit: 1 });
      },
      { ops: 30, warmup: 2 },
    );
    rows.push(relisted);
    settle();
    rows.push(await measure('page of 10 small messages, listing reused', () => fetch({ last_uid: 10_000, limit: 10 }), { ops: 50, warmup: 2 }));
    rows.push(await measure('page of 100 small messages, listing reused', () => fetch({ last_uid: 10_000, limit: 100 }), { ops: 10, warmup: 1 }));
    rows.push(await measure('1 message with a 220 KB PDF attachment', () => fetch({ last_uid: MESSAGES, limit: 1 }), { ops: 20, warmup: 2 }));
    return {
      title: `Mail: fetch_since on a Maildir of ${MESSAGES + 1} messages (in-process)`,
      rows,
      checks: [check('1 message: listing reused p50 / listed again p50', cached.p50Us / relisted.p50Us, '<=', 0.5)],
    };
  } finally {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
