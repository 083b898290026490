/**
 * The CLI in someone's first hour, against a real daemon: the final render of progress bars,
 * short job ids (shown unique, accepted everywhere a job id is), lists of records as tables,
 * errors that say what to do (and what was meant), a spinner for slow calls on a terminal, and
 * status counters that are current. Terminal behaviour is checked on a real pseudo-terminal
 * (`script`), where stdout and stderr both go to the terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, REPO_ROOT, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

interface Terminal {
  child: ChildProcess;
  /** Everything written so far, escape sequences removed. */
  text(): string;
  /** Resolves once the output contains `needle`. */
  sees(needle: string): Promise<void>;
  /** Resolves with the exit code and the whole output. */
  done: Promise<{ code: number; out: string }>;
}

/** Runs the CLI on a pseudo-terminal (`script`), as a person at a terminal would. */
function onTerminal(d: TestDaemon, args: string[], env: Record<string, string> = {}): Terminal {
  const cmd = [process.execPath, BIN, '--data-dir', d.dataDir, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qefc', `stty cols 200; ${cmd}`, '/dev/null'], { cwd: REPO_ROOT, env: { ...d.env, NO_COLOR: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let raw = '';
  const waiters: Array<{ needle: string; resolve: () => void }> = [];
  const text = () => raw.replace(ANSI, '');
  const onData = (t: string) => {
    raw += t;
    for (const w of [...waiters]) {
      if (text().includes(w.needle)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', onData);
  child.stderr!.setEncoding('utf8').on('data', onData);
  const done = new Promise<{ code: number; out: string }>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      for (const w of waiters.splice(0)) w.resolve();
      resolve({ code: code ?? 1, out: text() });
    });
  });
  return {
    child,
    text,
    sees: (needle) => (text().includes(needle) ? Promise.resolve() : new Promise((resolve) => waiters.push({ needle, resolve }))),
    done,
  };
}

/** The last render of each progress bar line (cli-progress redraws lines in place). */
function barLines(out: string): string[] {
  return out
    .split(/\r|\n/)
    .map((l) => l.trim())
    .filter((l) => /^[█░]+ \d+%/.test(l));
}

async function json<T = any>(d: TestDaemon, args: string[]): Promise<T> {
  const r = await d.cli(['--json', ...args]);
  if (r.code !== 0) throw new Error(`spacedrive ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe('the CLI in the first hour', () => {
  let d: TestDaemon;
  let files: string;

  beforeAll(async () => {
    d = await startTestDaemon();
    files = join(d.dataDir, 'files');
    mkdirSync(files);
    writeFileSync(join(files, 'empty.pdf'), '');
    writeFileSync(join(files, 'notes.pdf'), 'hi\nthese are notes, not a PDF\n');
    writeFileSync(join(files, 'big.bin'), Buffer.alloc(3000, 1));
    const r = await d.cli(['extensions', 'install', join(REPO_ROOT, 'build', 'extensions', 'finance'), '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const hello = await d.cli(['extensions', 'install', join(REPO_ROOT, 'build', 'extensions', 'hello'), '--yes', '--disabled']);
    expect(hello.code, hello.stderr).toBe(0);
  });
  afterAll(async () => {
    await d?.stop();
  });

  describe('progress bars end on real counters', () => {
    it('shows done/total items of a completed job, never "?" or "undefined"', async () => {
      const t = onTerminal(d, ['jobs', 'dispatch', 'core.count', '--to', '3', '--follow']);
      const { code, out } = await t.done;
      expect(code, out).toBe(0);
      const bars = barLines(out);
      expect(bars.length, out).toBeGreaterThan(0);
      const last = bars[bars.length - 1]!;
      expect(last).toMatch(/100% \| core\.count \S+ completed 3\/3 items$/);
      expect(out).not.toContain('undefined');
      expect(out).not.toMatch(/\/\? items|\?\s*B/);
    });

    it('shows bytes copied for a completed copy', async () => {
      const t = onTerminal(d, ['jobs', 'dispatch', 'files.copy', '--sources', join(files, 'big.bin'), '--destination', join(files, 'copy.bin'), '--follow']);
      const { code, out } = await t.done;
      expect(code, out).toBe(0);
      const last = barLines(out).pop()!;
      expect(last).toContain('completed');
      expect(last).toMatch(/2\.9 KiB\/2\.9 KiB/);
      expect(out).not.toContain('undefined');
    });

    it('ends a failed job on its status, without unknown parts', async () => {
      const t = onTerminal(d, ['jobs', 'dispatch', 'files.copy', '--sources', join(files, 'missing.bin'), '--destination', join(files, 'never.bin'), '--max-attempts', '1', '--follow']);
      const { code, out } = await t.done;
      expect(code, out).toBe(1);
      expect(barLines(out).pop()).toMatch(/files\.copy \S+ failed$/);
      expect(out).toContain('[NOT_FOUND]');
      expect(out).not.toContain('undefined');
      expect(out).not.toMatch(/\/\?|\?\s*B/);
    });

    it('ends a cancelled job on what it knew, without unknown parts', async () => {
      const later = new Date(Date.now() + 3_600_000).toISOString();
      const { job_id: id } = await json<{ job_id: string }>(d, ['jobs', 'dispatch', 'core.count', '--to', '5', '--run-at', later]);
      const t = onTerminal(d, ['jobs', 'watch', id]);
      await t.sees('queued');
      const cancelled = await d.cli(['jobs', 'cancel', id]);
      expect(cancelled.code, cancelled.stderr).toBe(0);
      const { code, out } = await t.done;
      expect(code, out).toBe(1);
      const last = barLines(out).pop()!;
      expect(last).toMatch(/core\.count \S+ cancelled$/);
      expect(out).not.toContain('undefined');
      expect(out).not.toContain('?');
    });
  });

  describe('short job ids', () => {
    let ids: string[];
    let common: string;

    beforeAll(async () => {
      const later = new Date(Date.now() + 3_600_000).toISOString();
      ids = [];
      for (let i = 0; i < 3; i++) ids.push((await json<{ job_id: string }>(d, ['jobs', 'dispatch', 'core.noop', '--run-at', later])).job_id);
      common = ids.reduce((prefix, id) => {
        let n = 0;
        while (n < prefix.length && prefix[n] === id[n]) n++;
        return prefix.slice(0, n);
      });
    });

    it('jobs list shows each job by its shortest unique prefix, 8 characters at least', async () => {
      const r = await d.cli(['jobs', 'list', '--type', 'core.noop']);
      expect(r.code, r.stderr).toBe(0);
      const shown = r.stdout
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]!);
      expect(shown).toHaveLength(3);
      expect(new Set(shown).size).toBe(3);
      for (const short of shown) {
        expect(short.length).toBeGreaterThanOrEqual(8);
        // Shorter than the id: what a person types.
        expect(short.length).toBeLessThan(ids[0]!.length);
        expect(ids.filter((id) => id.startsWith(short))).toHaveLength(1);
      }
    });

    it('every command that takes a job id takes a unique prefix', async () => {
      const id = ids[0]!;
      // What a person does: copy the short id jobs list shows (every job is listed here).
      const list = await d.cli(['jobs', 'list', '--limit', '1000']);
      const short = list.stdout
        .split('\n')
        .map((l) => l.split(/\s+/)[0]!)
        .find((s) => s.length > 0 && id.startsWith(s))!;
      expect(short.length).toBeLessThan(id.length);
      const info = await json<{ job_id: string }>(d, ['jobs', 'info', short]);
      expect(info.job_id).toBe(id);
      expect((await json<{ logs: unknown[] }>(d, ['jobs', 'logs', short])).logs.length).toBeGreaterThan(0);
      expect((await json<{ status: string }>(d, ['jobs', 'pause', short])).status).toBe('paused');
      expect((await json<{ status: string }>(d, ['jobs', 'resume', short])).status).toBe('queued');
      expect((await json<{ status: string }>(d, ['jobs', 'cancel', short])).status).toBe('cancelled');
      expect((await json<{ status: string }>(d, ['jobs', 'retry', short])).status).toBe('queued');
      // Wire clients get the same: the daemon resolves it.
      const client = await d.client();
      expect((await client.query('query:jobs.get_status.v1', { job_id: short.toUpperCase() })).job_id).toBe(id);
    });

    it('a prefix several jobs share is a typed error listing them; an unknown one is JOB_NOT_FOUND', async () => {
      const r = await d.cli(['jobs', 'info', common]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/error \[JOB_ID_AMBIGUOUS\]: job id '.*' is ambiguous: it matches/);
      const asJson = await d.cli(['jobs', 'info', common, '--json']);
      const candidates = (JSON.parse(asJson.stderr) as { error: { details: { candidates: string[] } } }).error.details.candidates;
      expect(candidates.length).toBeGreaterThanOrEqual(2);
      for (const id of candidates) {
        expect(id.startsWith(common)).toBe(true);
        expect(r.stderr).toContain(id);
      }
      const none = await d.cli(['jobs', 'info', 'ffffffff']);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain("error [JOB_NOT_FOUND]: no job with id 'ffffffff'");
    });
  });

  describe('lists of records', () => {
    beforeAll(async () => {
      for (let i = 1; i <= 7; i++) {
        const r = await d.cli(['action', 'vdfs.create_entry', '--name', `receipt-${i}.pdf`, '--path', `/receipts/receipt-${i}.pdf`, '--entry-type', 'FinancialDocument', '--metadata', `{"total":${i}.5}`]);
        expect(r.code, r.stderr).toBe(0);
      }
    });

    it('print as a table of the useful columns, one line per record', async () => {
      const r = await d.cli(['query', 'vdfs.list_entries']);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      // entries:, the header, 7 rows, the note on fields left out, next_cursor.
      expect(lines.length, r.stdout).toBeLessThanOrEqual(11);
      expect(lines[1]).toMatch(/^\s+ID\s+NAME\s+ENTRY_TYPE\s+SIZE\s+CREATED_AT\s+METADATA$/);
      expect(lines.filter((l) => /receipt-\d\.pdf/.test(l))).toHaveLength(7);
      expect(r.stdout).toMatch(/more fields: .*content_hash.*--wide or --json shows them/);
    });

    it('--wide shows every field, --json the result as it came', async () => {
      const wide = await d.cli(['query', 'vdfs.list_entries', '--wide']);
      expect(wide.code, wide.stderr).toBe(0);
      expect(wide.stdout).toMatch(/CONTENT_HASH/);
      expect(wide.stdout).toMatch(/LIBRARY_ID/);
      expect(wide.stdout).not.toContain('more fields');
      const raw = await json<{ entries: Array<{ name: string; metadata: { total: number } }> }>(d, ['query', 'vdfs.list_entries']);
      expect(raw.entries).toHaveLength(7);
      expect(raw.entries[0]!.metadata.total).toBe(1.5);
    });

    it('fit the terminal: columns that say least are left out first', async () => {
      const t = onTerminal(d, ['query', 'vdfs.list_entries']);
      const { code, out } = await t.done;
      expect(code, out).toBe(0);
      for (const line of out.split(/\r?\n/)) expect(line.length).toBeLessThanOrEqual(200);
      expect(out).toMatch(/ID\s+NAME/);
    });
  });

  describe('errors say what is wrong and what to do', () => {
    it('a file that is not a PDF, given as --pdf, is named as such without internals', async () => {
      const r = await d.cli(['query', 'finance:classify_receipt', '--pdf', join(files, 'notes.pdf')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('error [INVALID_INPUT]');
      expect(r.stderr).toContain('is not a PDF (it starts with the text "hi\\nthese are not…")');
      expect(r.stderr).not.toMatch(/export '|_handler|68690a/);
    });

    it('an empty file is called empty', async () => {
      const r = await d.cli(['query', 'finance:classify_receipt', '--pdf', join(files, 'empty.pdf')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--pdf: file '${join(files, 'empty.pdf')}' is empty`);
      expect(r.stderr).not.toContain('characters');
    });

    it("installing an extension's source folder says to build it and install build/extensions/<id>", async () => {
      const r = await d.cli(['extensions', 'install', join(REPO_ROOT, 'extensions', 'hello'), '--yes']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("npm run build");
      expect(r.stderr).toContain(join(REPO_ROOT, 'build', 'extensions', 'hello'));
      expect(r.stderr).not.toContain("field 'module': expected a value");
    });

    it("a disabled extension's method says how to enable it", async () => {
      const r = await d.cli(['query', 'hello:greet', '--name', 'x']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("extension 'hello' is installed but disabled; enable it with 'spacedrive extensions enable hello'");
    });

    it('unknown methods and job types come with the nearest names, for every client', async () => {
      const method = await d.cli(['query', 'finance:classify_reciept']);
      expect(method.code).toBe(1);
      expect(method.stderr).toContain('did you mean query:finance:classify_receipt.v1?');
      const type = await d.cli(['jobs', 'dispatch', 'files.hash_tre']);
      expect(type.code).toBe(1);
      expect(type.stderr).toContain('did you mean files.hash_tree?');
      const help = await d.cli(['jobs', 'dispatch', 'files.hash_tre', '--help']);
      expect(help.stderr).toContain('did you mean files.hash_tree?');
      const client = await d.client();
      const err = await client.query('query:core.stauts.v1', {}).then(
        () => undefined,
        (e: unknown) => e as { code: string; details: { suggestions: string[] } },
      );
      expect(err?.code).toBe('UNKNOWN_METHOD');
      expect(err?.details.suggestions).toEqual(['query:core.status.v1']);
    });
  });

  describe('slow calls on a terminal', () => {
    it('show a spinner on stderr while waiting, erased before the result', async () => {
      // The delay before the spinner shows is set to 0 so that every call draws it.
      const t = onTerminal(d, ['query', 'core.status'], { SPACEDRIVE_SPINNER_DELAY_MS: '0' });
      const { code, out } = await t.done;
      expect(code, out).toBe(0);
      expect(out).toContain('waiting for query:core.status.v1');
      expect(out).toMatch(/version: +\d+\.\d+\.\d+/);
    });

    it('draw nothing when stderr is not a terminal, or with --json', async () => {
      const piped = await d.cli(['query', 'core.status'], { env: { SPACEDRIVE_SPINNER_DELAY_MS: '0' } });
      expect(piped.code, piped.stderr).toBe(0);
      expect(piped.stderr).toBe('');
      const t = onTerminal(d, ['query', 'core.status', '--json'], { SPACEDRIVE_SPINNER_DELAY_MS: '0' });
      const { out } = await t.done;
      expect(out).not.toContain('waiting for');
    });
  });

  describe('status', () => {
    it('counts jobs as they are now, not as they were at the previous call', async () => {
      const before = await json<{ counts: Record<string, number> }>(d, ['status']);
      const follow = await d.cli(['jobs', 'dispatch', 'core.noop', '--follow']);
      expect(follow.code, follow.stderr).toBe(0);
      const after = await json<{ counts: Record<string, number> }>(d, ['status']);
      expect(after.counts.jobs_completed).toBe((before.counts.jobs_completed ?? 0) + 1);
    });
  });
});
