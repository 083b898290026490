/**
 * `spacedrive types generate` against a running daemon with finance and hello installed: the
 * declaration file it writes, beside a client program that imports the package's `./client`
 * entry, type-checks with `tsc --noEmit` when the program uses the methods as their schemas say,
 * and fails to when it misuses them.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, makeTempDir, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { installExtensions } from './finance-helpers.js';

const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const GOOD = `import { SpacedriveClient, type JobOutput, type JobParams } from 'spacedrive-extensions/client';

export async function main(socketPath: string): Promise<string> {
  const client = await SpacedriveClient.connect({ socketPath });
  const receipt = await client.query('query:finance:classify_receipt.v1', { text: 'Total 4.20', use_model: false });
  const total: number | null = receipt.total;
  const source: 'parser' | 'model' = receipt.source;
  const items: Array<{ description: string; quantity: number }> = receipt.items;
  const imported = await client.action('action:finance:import_receipts.input.v1', { emails: [{ id: 'm1', subject: 'Receipt' }] });
  const ids: string[] = imported.imported_ids;
  const greeting: string = (await client.query('query:hello:greet.v1', { name: 'Ada' })).greeting;
  // Core methods come typed with the client entry itself.
  const status = await client.query('query:jobs.get_status.v1', { job_id: 'x' });
  const state: string = status.status;
  // Job types too: params, state and output from their schemas.
  const params: JobParams<'finance:email_scan'> = { provider: 'gmail', batch_size: 20 };
  await client.action('action:jobs.dispatch.input.v1', { job_type: 'finance:email_scan', params });
  const scanned = status.output as JobOutput<'finance:email_scan'>;
  const found: number = scanned.imported;
  await client.close();
  return [total, source, items.length, ids.join(','), greeting, state, found].join(' ');
}
`;

/** Each line misuses one method; the test expects an error on every one of them. */
const BAD_LINES = [
  "await client.query('query:finance:classify_receipt.v1', { text: 42 });",
  "await client.query('query:finance:classify_receipt.v1', { mime_type: 'text/csv' });",
  "const merchant: number = (await client.query('query:finance:classify_receipt.v1', {})).merchant;",
  "await client.action('action:finance:import_receipts.input.v1', { emails: 'all of them' });",
  "await client.action('action:finance:import_receipts.input.v1', { account: 'x' });",
  "await client.query('query:hello:greet.v1', { nom: 'Ada' });",
  "const params: JobParams<'finance:email_scan'> = { provider: 'gmail', batch_size: 'many' };",
  "const countdown: JobParams<'hello:countdown'> = { delay_ms: 10 };",
];
const BAD = `import { SpacedriveClient, type JobParams } from 'spacedrive-extensions/client';

export async function main(socketPath: string): Promise<void> {
  const client = await SpacedriveClient.connect({ socketPath });
${BAD_LINES.map((l) => `  ${l}`).join('\n')}
}
`;
const FIRST_BAD_LINE = 5;

function project(dir: string, files: Record<string, string>): void {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(REPO_ROOT, join(dir, 'node_modules', 'spacedrive-extensions'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: [] };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'] }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** `tsc --noEmit -p dir`: its diagnostics, one per line (`file(line,col): error TS…`). */
async function typeCheck(dir: string): Promise<string[]> {
  const r = await promisify(execFile)(process.execPath, [TSC, '-p', dir, '--pretty', 'false']).then(
    (ok) => ok.stdout,
    (err: { stdout?: string }) => err.stdout ?? String(err),
  );
  return r.split('\n').filter((l) => /error TS\d+/.test(l));
}

describe('spacedrive types generate', { timeout: 120_000 }, () => {
  let d: TestDaemon;
  let dir: string;
  beforeAll(async () => {
    d = await startTestDaemon();
    await installExtensions(d, ['finance', 'hello']);
    dir = makeTempDir('sd-types-');
  });
  afterAll(async () => {
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes declarations from the live registry that type a client program, and reject its misuse', async () => {
    const out = join(dir, 'gen', 'spacedrive-methods.d.ts');
    const r = await d.cli(['--json', 'types', 'generate', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ out, methods: expect.any(Number), job_types: expect.any(Number) });
    const generated = readFileSync(out, 'utf8');
    expect(generated).toContain("declare module \"spacedrive-extensions/client\"");
    expect(generated).toContain('"query:finance:classify_receipt.v1": {');
    expect(generated).toContain('"query:core.status.v1": {');
    expect(generated).toContain('interface JobTypes {');
    expect(generated).toContain('"finance:email_scan": {');

    const good = join(dir, 'good');
    project(good, { 'main.ts': GOOD, 'spacedrive-methods.d.ts': generated });
    const bad = join(dir, 'bad');
    project(bad, { 'main.ts': BAD, 'spacedrive-methods.d.ts': generated });
    const [goodErrors, badErrors] = await Promise.all([typeCheck(good), typeCheck(bad)]);
    expect(goodErrors, goodErrors.join('\n')).toEqual([]);
    const badLines = new Set(badErrors.map((e) => Number(/main\.ts\((\d+),/.exec(e)?.[1])));
    expect([...badLines].sort((a, b) => a - b), badErrors.join('\n')).toEqual(BAD_LINES.map((_, i) => FIRST_BAD_LINE + i));
  });

  it('prints to stdout without --out, and only one owner with --owner', async () => {
    const r = await d.cli(['types', 'generate', '--owner', 'hello']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"query:hello:greet.v1": {');
    expect(r.stdout).not.toContain('query:core.status.v1');
  });
});
