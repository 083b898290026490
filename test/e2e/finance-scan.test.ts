/**
 * finance:email_scan end to end: the CLI binary, a real daemon process and a real IMAP server
 * (dovecot, test/helpers/dovecot.ts) serving the sample mailbox. The mailbox scanned (the right
 * receipts imported, sidecars present); kill -9 of the daemon mid-scan and resume with no
 * receipt lost or imported twice; a second scan imports nothing new; pause/resume and
 * cancel+retry resume where they stopped; new mail is picked up by the next scan.
 *
 * Each scenario imports into its own library, so they share one daemon and one mailbox. The
 * scenarios run against both finance extensions, AssemblyScript (`finance`) and Rust
 * (`finance-rs`): kill -9 mid-scan and resume, imports by reference and a missing account for
 * both; the --follow scan with its rescans, pause, cancel and new mail (the same job system
 * paths, and minutes of OCR) for finance.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.js';
import {
  FINANCE_EXTENSIONS,
  type FinanceExtension,
  cliJson,
  expectReceiptsImported,
  financialEntries,
  installExtensions,
  jobStatus,
  receiptMessages,
  sampleMessageFiles,
  sampleMessages,
  waitForJob,
} from './finance-helpers.js';

const ACCOUNT = 'gmail';
const TOTAL_MESSAGES = sampleMessages.length;

describe('finance:email_scan against a real IMAP server', { timeout: 180_000 }, () => {
  let d: TestDaemon;
  let client: SpacedriveClient;
  let imap: TestDovecot;

  beforeAll(async () => {
    // Fails (does not skip) when dovecot is missing: scripts/test-env.sh installs it.
    imap = await startDovecot({ messages: sampleMessageFiles });
    d = await startTestDaemon();
    await installExtensions(d, [...FINANCE_EXTENSIONS]);
    const added = await d.cli(
      ['mail', 'add-account', ACCOUNT, '--kind', 'imap', '--host', imap.host, '--port', String(imap.port), '--no-secure', '--username', imap.user, '--password-stdin', '--verify'],
      { input: `${imap.password}\n` },
    );
    expect(added.code, added.stderr).toBe(0);
    client = await d.client();
  });

  afterAll(async () => {
    await d?.stop();
    await imap?.stop();
  });

  let libraries = 0;
  async function newLibrary(name: string): Promise<string> {
    return (await cliJson<{ id: string }>(d, ['library', 'create', `${name}-${++libraries}`])).id;
  }

  async function dispatch(ext: FinanceExtension, libraryId: string, extra: string[] = []): Promise<string> {
    const out = await cliJson<{ job_id: string }>(d, ['jobs', 'dispatch', `${ext}:email_scan`, '--provider', ACCOUNT, '--library-id', libraryId, ...extra]);
    return out.job_id;
  }

  // finance-rs first: the new-mail scenario (finance only) adds a message to the shared mailbox.
  for (const ext of [...FINANCE_EXTENSIONS].reverse()) {
  describe(ext, () => {

  // finance-rs's full scan is the kill -9 scenario's; this one (two more full scans) runs for finance.
  it.skipIf(ext !== 'finance')('scans the mailbox with --follow: every receipt imported once, with its sidecar; then a second scan imports nothing new', async () => {
    const lib = await newLibrary('scan');
    const r = await d.cli(['jobs', 'dispatch', `${ext}:email_scan`, '--provider', ACCOUNT, '--library-id', lib, '--follow']);
    expect(r.code, r.stderr).toBe(0);
    // Without a terminal --follow prints one line per progress event, then the output.
    expect(r.stdout).toContain('completed');
    expect(r.stdout).toMatch(/UID \d+: imported/);
    const output = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    expect(output).toMatchObject({ processed: TOTAL_MESSAGES, imported: receiptMessages.length, already_imported: 0, last_uid: TOTAL_MESSAGES });
    await expectReceiptsImported(d, lib);

    // The next scan of the account starts where this one ended.
    const again = await dispatch(ext, lib);
    const second = await waitForJob(client, again, (s) => s.status === 'completed');
    expect(second.output).toMatchObject({ processed: 0, imported: 0, last_uid: TOTAL_MESSAGES });
    // Even a full rescan finds every receipt already there.
    const rescanId = await dispatch(ext, lib, ['--rescan']);
    const rescan = await waitForJob(client, rescanId, (s) => s.status === 'completed');
    expect(rescan.output).toMatchObject({ processed: TOTAL_MESSAGES, imported: 0, already_imported: receiptMessages.length });
    expect(await financialEntries(d, lib)).toHaveLength(receiptMessages.length);
  });

  it('survives kill -9 mid-scan: the restarted daemon resumes after the last message reported; nothing lost, nothing twice', async () => {
    const lib = await newLibrary('kill');
    const jobId = await dispatch(ext, lib, ['--batch-size', '1']);
    const before = await waitForJob(client, jobId, (s) => (s.state?.processed ?? 0) >= 3);
    expect(before.status).toBe('running');
    await d.kill('SIGKILL');
    await d.restart();
    client = await d.client();
    const after = await waitForJob(client, jobId, (s) => {
      // The checkpoint never goes back: the resumed run continues after it rather than starting over.
      expect(s.state?.processed ?? 0).toBeGreaterThanOrEqual(before.state!.processed);
      return s.status === 'completed';
    });
    expect(after.output).toMatchObject({ processed: TOTAL_MESSAGES, imported: receiptMessages.length, last_uid: TOTAL_MESSAGES });
    // It ran again after the restart (a second run of the same job, not a new job).
    expect((after as unknown as { runs: number }).runs).toBeGreaterThanOrEqual(2);
    await expectReceiptsImported(d, lib);
  });

  it.skipIf(ext !== 'finance')('pause and resume: the job stops after a message and resumes after it', async () => {
    const lib = await newLibrary('pause');
    const jobId = await dispatch(ext, lib, ['--batch-size', '2']);
    await waitForJob(client, jobId, (s) => (s.state?.processed ?? 0) >= 2);
    expect((await d.cli(['jobs', 'pause', jobId])).code).toBe(0);
    const paused = await waitForJob(client, jobId, (s) => s.status === 'paused');
    const stoppedAt = paused.state!.last_uid;
    expect(paused.state!.processed).toBe(stoppedAt);
    expect(stoppedAt).toBeLessThan(TOTAL_MESSAGES);
    // Paused means paused: nothing more happens.
    await new Promise((r) => setTimeout(r, 500));
    expect((await jobStatus(client, jobId)).state!.last_uid).toBe(stoppedAt);
    const importedWhilePaused = (await financialEntries(d, lib)).length;
    expect(importedWhilePaused).toBe(paused.state!.imported);

    expect((await d.cli(['jobs', 'resume', jobId])).code).toBe(0);
    const done = await waitForJob(client, jobId, (s) => {
      expect(s.state!.processed).toBeGreaterThanOrEqual(stoppedAt);
      return s.status === 'completed';
    });
    expect(done.output).toMatchObject({ processed: TOTAL_MESSAGES, imported: receiptMessages.length });
    await expectReceiptsImported(d, lib);
  });

  it.skipIf(ext !== 'finance')('cancel and retry: the retry resumes from the cancelled run’s last checkpoint', async () => {
    const lib = await newLibrary('cancel');
    const jobId = await dispatch(ext, lib, ['--batch-size', '1']);
    await waitForJob(client, jobId, (s) => (s.state?.processed ?? 0) >= 3);
    expect((await d.cli(['jobs', 'cancel', jobId])).code).toBe(0);
    const cancelled = await waitForJob(client, jobId, (s) => s.status === 'cancelled');
    const stoppedAt = cancelled.state!.last_uid;
    expect(stoppedAt).toBeGreaterThanOrEqual(3);

    const retried = await d.cli(['--json', 'jobs', 'retry', jobId]);
    expect(retried.code, retried.stderr).toBe(0);
    const retryId = (JSON.parse(retried.stdout) as { job_id: string }).job_id;
    const done = await waitForJob(client, retryId, (s) => {
      if (s.state) expect(s.state.processed).toBeGreaterThanOrEqual(stoppedAt);
      return s.status === 'completed';
    });
    // Cumulative counters from the checkpoint: the retry did not start over.
    expect(done.output).toMatchObject({ processed: TOTAL_MESSAGES, imported: receiptMessages.length, last_uid: TOTAL_MESSAGES });
    await expectReceiptsImported(d, lib);
  });

  it.skipIf(ext !== 'finance')('new mail delivered after a scan is imported by the next scan, and only it', async () => {
    const lib = await newLibrary('new-mail');
    const first = await waitForJob(client, await dispatch(ext, lib), (s) => s.status === 'completed');
    expect(first.output!.imported).toBe(receiptMessages.length);
    const raw = readFileSync(sampleMessageFiles[0]!, 'utf8')
      .replace('<sample-01@samples.spacedrive.test>', '<late-01@samples.spacedrive.test>')
      .replace('Subject: Your Blue Bottle Coffee receipt', 'Subject: Another Blue Bottle receipt');
    await imap.addMessage(raw);
    const next = await waitForJob(client, await dispatch(ext, lib), (s) => s.status === 'completed');
    expect(next.output).toMatchObject({ processed: 1, imported: 1, last_uid: TOTAL_MESSAGES + 1 });
    const entries = await financialEntries(d, lib);
    expect(entries).toHaveLength(receiptMessages.length + 1);
    expect(entries.find((e) => e.path === 'receipts/late-01@samples.spacedrive.test.eml')?.name).toBe('Receipt: Another Blue Bottle receipt');
  });

  it('import_receipts takes emails by reference (UID of an account) and fetches them itself', async () => {
    const lib = await newLibrary('by-reference');
    const scanned = sampleMessages.findIndex((m) => m.subject.includes('scanned copy'));
    const plain = sampleMessages.findIndex((m) => m.receipts.length === 0);
    const input = JSON.stringify({ library_id: lib, account: ACCOUNT, emails: [{ uid: scanned + 1 }, { uid: plain + 1 }] });
    const out = await cliJson(d, ['action', `${ext}:import_receipts`, '--json-input', input]);
    expect(out.results.map((r: { status: string }) => r.status)).toEqual(['imported', 'no_receipt']);
    expect(out.results[0]).toMatchObject({ id: sampleMessages[scanned]!.message_id, merchant: 'Hardware Haven', total: 51.23 });
    const [entry] = await financialEntries(d, lib);
    expect(entry).toMatchObject({ name: `Receipt: ${sampleMessages[scanned]!.subject}`, metadata: { account: ACCOUNT, uid: scanned + 1 } });

    const missing = await d.cli(['--json', 'action', `${ext}:import_receipts`, '--json-input', JSON.stringify({ library_id: lib, account: ACCOUNT, emails: [{ uid: 999 }] })]);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr).error).toMatchObject({ code: 'NOT_FOUND' });
    const noAccount = await d.cli(['--json', 'action', `${ext}:import_receipts`, '--json-input', JSON.stringify({ library_id: lib, emails: [{ uid: 1 }] })]);
    expect(JSON.parse(noAccount.stderr).error.code).toBe('INVALID_INPUT');
  });

  it('a scan of an account that does not exist fails at once with NOT_FOUND, without retries', async () => {
    const out = await cliJson<{ job_id: string }>(d, ['jobs', 'dispatch', `${ext}:email_scan`, '--provider', 'nope']);
    const s = await waitForJob(client, out.job_id, (x) => x.status === 'failed');
    expect(s.error!.code).toBe('NOT_FOUND');
    expect(s.error!.message).toContain("fetching mail from 'nope' failed");
  });
  });
  }
});
