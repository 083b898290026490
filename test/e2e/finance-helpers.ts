/**
 * Shared by the finance end-to-end tests: the sample data's expectations, installing the
 * extensions the build compiled into a test daemon, and waiting for jobs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { REPO_ROOT, type CliResult, type TestDaemon } from '../helpers/daemon.js';

export const SAMPLES = join(REPO_ROOT, 'samples');

/**
 * The finance extensions the end-to-end tests run against: the AssemblyScript one and the
 * design's example in Rust (extensions/finance-rs, sdk/rust), which must behave the same.
 */
export const FINANCE_EXTENSIONS = ['finance', 'finance-rs'] as const;
export type FinanceExtension = (typeof FINANCE_EXTENSIONS)[number];

export interface SampleReceipt {
  id: string;
  file: string;
  format: string;
  mime_type: string;
  merchant: string;
  date: string;
  currency: string;
  total: number;
  items: Array<{ description: string; quantity: number; unit_price: number; amount: number }>;
}

export interface SampleMessage {
  file: string;
  message_id: string;
  subject: string;
  receipts: Array<{ id: string; source: 'attachment' | 'body'; merchant: string; total: number; currency: string; date: string }>;
}

export const sampleReceipts = (JSON.parse(readFileSync(join(SAMPLES, 'receipts', 'index.json'), 'utf8')) as { receipts: SampleReceipt[] }).receipts;
export const sampleMessages = (JSON.parse(readFileSync(join(SAMPLES, 'mail', 'index.json'), 'utf8')) as { messages: SampleMessage[] }).messages;
/** Paths of the sample messages in mailbox order (the first gets UID 1). */
export const sampleMessageFiles = sampleMessages.map((m) => join(SAMPLES, 'mail', m.file));
/**
 * The sample receipts a test classifies with `ext`: all of them with finance; one of each format
 * with finance-rs (the same parser rules; the OCR of the rest would only add minutes).
 */
export function receiptsFor(ext: FinanceExtension): SampleReceipt[] {
  if (ext === 'finance') return sampleReceipts;
  return sampleReceipts.filter((r, i) => sampleReceipts.findIndex((x) => x.format === r.format) === i);
}
/** Messages that carry a receipt: what a scan must import. */
export const receiptMessages = sampleMessages.filter((m) => m.receipts.length > 0);

/** Runs the CLI and parses its --json output; fails the test with the CLI's stderr otherwise. */
export async function cliJson<T = any>(d: TestDaemon, args: string[], opts?: { input?: string }): Promise<T> {
  const r = await d.cli(['--json', ...args], opts);
  if (r.code !== 0) throw new Error(`spacedrive ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

/** The error a failing `--json` CLI call printed on stderr. */
export function cliError(r: CliResult): { code: string; message: string } {
  const parsed = JSON.parse(r.stderr) as { error?: { code: string; message: string }; code?: string; message?: string };
  return (parsed.error ?? parsed) as { code: string; message: string };
}

/** Installs (and enables) build/extensions/<id> for each id through the CLI. */
export async function installExtensions(d: TestDaemon, ids: string[]): Promise<void> {
  for (const id of ids) {
    const dir = join(REPO_ROOT, 'build', 'extensions', id);
    expect(existsSync(join(dir, 'manifest.json')), `build/extensions/${id} is built by npm run build`).toBe(true);
    const r = await d.cli(['extensions', 'install', dir, '--yes']);
    expect(r.code, r.stderr).toBe(0);
  }
}

export interface JobStatus {
  job_id: string;
  status: string;
  state: { last_uid: number; processed: number; imported: number; already_imported: number } | null;
  output: { processed: number; imported: number; already_imported: number; last_uid: number } | null;
  error: { code: string; message: string } | null;
  progress: { items_done: number | null; items_total: number | null; message: string | null } | null;
}

export function jobStatus(client: SpacedriveClient, jobId: string): Promise<JobStatus> {
  return client.query('query:jobs.get_status.v1', { job_id: jobId } as never) as Promise<JobStatus>;
}

/** Polls the job until `done(status)` holds; fails after `timeoutMs` with the last status. */
export async function waitForJob(client: SpacedriveClient, jobId: string, done: (s: JobStatus) => boolean, timeoutMs = 120_000): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: JobStatus | undefined;
  while (Date.now() < deadline) {
    last = await jobStatus(client, jobId);
    if (done(last)) return last;
    if (['failed', 'cancelled'].includes(last.status) && !done(last)) throw new Error(`job ${jobId} ended ${last.status}: ${JSON.stringify(last.error)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${jobId} did not get there in ${timeoutMs} ms; last status ${JSON.stringify(last)}`);
}

export interface WireEntry {
  id: string;
  name: string;
  path: string;
  entry_type: string;
  metadata: Record<string, any>;
  size: number | null;
}

/** Every FinancialDocument entry of a library, through the CLI. */
export async function financialEntries(d: TestDaemon, libraryId?: string): Promise<WireEntry[]> {
  const args = ['query', 'vdfs.list_entries', '--entry-type', 'FinancialDocument', '--limit', '1000'];
  if (libraryId) args.push('--library-id', libraryId);
  return (await cliJson<{ entries: WireEntry[] }>(d, args)).entries;
}

/**
 * What a finished scan must have left in the library: one entry per receipt message (no more,
 * none twice), named and placed as the design says, with the right merchant and total, and a
 * finance.receipt sidecar holding the parsed receipt.
 */
export async function expectReceiptsImported(d: TestDaemon, libraryId?: string): Promise<void> {
  const entries = await financialEntries(d, libraryId);
  expect(entries.map((e) => e.path).sort()).toEqual(receiptMessages.map((m) => `receipts/${m.message_id.slice(1, -1)}.eml`).sort());
  for (const m of receiptMessages) {
    const e = entries.find((x) => x.path === `receipts/${m.message_id.slice(1, -1)}.eml`)!;
    const expected = m.receipts[0]!;
    expect(e.name).toBe(`Receipt: ${m.subject}`);
    expect(e.metadata.total, m.subject).toBe(expected.total);
    expect(e.metadata.merchant, m.subject).toBe(expected.merchant);
    expect(e.metadata.currency, m.subject).toBe(expected.currency);
    expect(e.metadata.date, m.subject).toBe(expected.date);
    // The raw message is the content (an IMAP server may turn bare LFs into CRLFs, never shorten it).
    expect(e.size, 'the raw message is the content').toBeGreaterThanOrEqual(readFileSync(join(SAMPLES, 'mail', m.file)).length);
    const args = ['query', 'vdfs.read_sidecar', '--entry-id', e.id, '--kind', 'finance.receipt'];
    if (libraryId) args.push('--library-id', libraryId);
    const sidecar = await cliJson<{ json: { total: number; merchant: string } }>(d, args);
    expect(sidecar.json.total).toBe(expected.total);
    expect(sidecar.json.merchant).toBe(expected.merchant);
  }
}
