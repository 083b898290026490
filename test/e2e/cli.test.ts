/**
 * The `spacedrive` binary (node bin/spacedrive.js) against a real daemon process: status,
 * methods, query/action with flags, JSON input and input files, short names, type conversion,
 * a binary field read from a file, output formats and exit codes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[/;

describe('spacedrive CLI against a running daemon', () => {
  let daemon: TestDaemon;
  let files: string;

  beforeAll(async () => {
    daemon = await startTestDaemon();
    files = join(daemon.dataDir, 'files');
    mkdirSync(files);
    writeFileSync(join(files, 'a.txt'), 'alpha');
    writeFileSync(join(files, 'b.txt'), 'bravo!');
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  describe('status', () => {
    it('prints a human summary', async () => {
      const r = await daemon.cli(['status']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/spacedrive \d+\.\d+\.\d+ is running \(pid \d+\)/);
      expect(r.stdout).toContain(`data_dir:   ${daemon.dataDir}`);
      expect(r.stdout).toMatch(/uptime: +\d/);
      expect(r.stdout).toContain('core_methods:');
      expect(r.stderr).toBe('');
    });

    it('prints the raw result with --json', async () => {
      const r = await daemon.cli(['status', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const status = JSON.parse(r.stdout);
      expect(status).toMatchObject({ data_dir: daemon.dataDir, pid: daemon.pid });
      expect(status.counts.core_methods).toBeGreaterThanOrEqual(3);
    });
  });

  describe('methods', () => {
    it('lists methods in an aligned table with kind, owner and description', async () => {
      const r = await daemon.cli(['methods']);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^METHOD +KIND +OWNER +DESCRIPTION$/);
      const copy = lines.find((l) => l.startsWith('action:files.copy.input.v1'))!;
      expect(copy).toMatch(/^action:files\.copy\.input\.v1 +action +core +Copies files/);
      // Columns line up: every row has KIND at the header's offset.
      const kindAt = lines[0]!.indexOf('KIND');
      for (const line of lines.slice(1)) expect(['query', 'actio']).toContain(line.slice(kindAt, kindAt + 5));
      expect(r.stdout).toContain('query:core.status.v1');
    });

    it('filters by text, --kind and --owner', async () => {
      const filtered = await daemon.cli(['methods', 'files.']);
      expect(filtered.stdout).toContain('action:files.copy.input.v1');
      expect(filtered.stdout).not.toContain('query:core.status.v1');

      const actions = JSON.parse((await daemon.cli(['methods', '--kind', 'action', '--json'])).stdout) as { methods: Array<{ kind: string }> };
      expect(actions.methods.length).toBeGreaterThan(0);
      expect(actions.methods.every((m) => m.kind === 'action')).toBe(true);

      const none = await daemon.cli(['methods', '--owner', 'no-such-extension']);
      expect(none.code, none.stderr).toBe(0);
      expect(none.stdout).toContain('no methods match');
    });

    it('includes input schemas with --json', async () => {
      const r = JSON.parse((await daemon.cli(['methods', 'files.copy', '--json'])).stdout);
      expect(r.methods[0].input_schema.required).toEqual(['sources', 'destination']);
    });

    it('refuses a bad --kind with a usage error', async () => {
      const r = await daemon.cli(['methods', '--kind', 'job']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/error \[USAGE\]: .*--kind/);
    });
  });

  describe('query and action', () => {
    it('accepts short and full method names', async () => {
      const short = await daemon.cli(['query', 'core.status', '--json']);
      expect(short.code, short.stderr).toBe(0);
      expect(JSON.parse(short.stdout).data_dir).toBe(daemon.dataDir);
      const full = await daemon.cli(['query', 'query:core.status.v1', '--json']);
      expect(JSON.parse(full.stdout).pid).toBe(daemon.pid);
      const timed = await daemon.cli(['query', 'core.status', '--timeout', '10000', '--json']);
      expect(timed.code, timed.stderr).toBe(0);
      const badTimeout = await daemon.cli(['query', 'core.status', '--timeout', 'later']);
      expect(badTimeout.code, badTimeout.stderr).toBe(2);
      expect(badTimeout.stderr).toContain("--timeout: expected a positive number of milliseconds, got 'later'");
      const versioned = await daemon.cli(['query', 'core.methods.v1', '--kind', 'query', '--json']);
      expect(versioned.code, versioned.stderr).toBe(0);
      expect(JSON.parse(versioned.stdout).methods.every((m: { kind: string }) => m.kind === 'query')).toBe(true);
    });

    /** files.copy dispatches a job; waits for it to end and returns its status (params, output). */
    async function copyJob(stdout: string): Promise<{ status: string; params: Record<string, unknown>; output: { copied_files: number; copied_bytes: number } }> {
      const { job_id } = JSON.parse(stdout) as { job_id: string };
      const client = await daemon.client();
      for (;;) {
        const status = (await client.query('query:jobs.get_status.v1', { job_id })) as { status: string; params: Record<string, unknown>; output: { copied_files: number; copied_bytes: number } };
        if (['completed', 'failed', 'cancelled'].includes(status.status)) return status;
        await new Promise((r) => setTimeout(r, 25));
      }
    }

    it('copies with flags: a comma-separated list, a directory target, booleans', async () => {
      const out = join(daemon.dataDir, 'out1');
      mkdirSync(out);
      const r = await daemon.cli(['action', 'files.copy', '--sources', `${join(files, 'a.txt')},${join(files, 'b.txt')}`, '--destination', out, '--no-overwrite', '--json']);
      expect(r.stderr).toBe('');
      expect(r.code, r.stderr).toBe(0);
      const job = await copyJob(r.stdout);
      expect(job.params).toEqual({ sources: [join(files, 'a.txt'), join(files, 'b.txt')], destination: out, overwrite: false });
      expect(job.status).toBe('completed');
      expect(job.output).toMatchObject({ copied_files: 2, copied_bytes: 11 });
      expect(readFileSync(join(out, 'b.txt'), 'utf8')).toBe('bravo!');

      writeFileSync(join(files, 'a.txt'), 'ALPHA');
      const replaced = await daemon.cli(['action', 'files.copy', '--sources', join(files, 'a.txt'), '--destination', out, '--overwrite', 'true', '--json']);
      expect(replaced.code, replaced.stderr).toBe(0);
      const second = await copyJob(replaced.stdout);
      expect(second.params.overwrite).toBe(true);
      expect(second.status).toBe('completed');
      expect(readFileSync(join(out, 'a.txt'), 'utf8')).toBe('ALPHA');
      writeFileSync(join(files, 'a.txt'), 'alpha');
    });

    it('prints a human key: value block by default', async () => {
      const r = await daemon.cli(['action', 'files.copy', '--sources', join(files, 'a.txt'), '--destination', join(daemon.dataDir, 'human.txt')]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^job_id: [0-9a-f-]{36}\n$/);
    });

    it('builds an array from a repeated flag', async () => {
      const out = join(daemon.dataDir, 'out2');
      mkdirSync(out);
      const r = await daemon.cli(['action', 'action:files.copy.input.v1', '--sources', join(files, 'a.txt'), '--sources', join(files, 'b.txt'), '--destination', out, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const job = await copyJob(r.stdout);
      expect(job.params.sources).toEqual([join(files, 'a.txt'), join(files, 'b.txt')]);
      expect(job.output).toMatchObject({ copied_files: 2, copied_bytes: 11 });
    });

    it('takes the input as --json-input, as --json {…}, from a file and from standard input', async () => {
      const input = (name: string) => JSON.stringify({ sources: [join(files, 'a.txt')], destination: join(daemon.dataDir, name) });
      const copied = async (r: { code: number; stdout: string; stderr: string }, name: string) => {
        expect(r.stderr).toBe('');
        expect(r.code, r.stderr).toBe(0);
        expect((await copyJob(r.stdout)).status).toBe('completed');
        expect(readFileSync(join(daemon.dataDir, name), 'utf8')).toBe('alpha');
      };

      await copied(await daemon.cli(['action', 'files.copy', '--json-input', input('j1.txt'), '--json']), 'j1.txt');
      // `--json {…}`: the object is the input, and the output is JSON.
      await copied(await daemon.cli(['action', 'files.copy', '--json', input('j2.txt')]), 'j2.txt');

      const file = join(daemon.dataDir, 'input.json');
      writeFileSync(file, input('j3.txt'));
      await copied(await daemon.cli(['action', 'files.copy', '--input', file, '--json']), 'j3.txt');
      await copied(await daemon.cli(['action', 'files.copy', '--input', '-', '--json'], { input: input('j4.txt') }), 'j4.txt');

      // Flags override fields of the JSON input.
      await copied(await daemon.cli(['action', 'files.copy', '--json-input', input('ignored.txt'), '--destination', join(daemon.dataDir, 'j5.txt'), '--json']), 'j5.txt');
      expect(existsSync(join(daemon.dataDir, 'ignored.txt'))).toBe(false);
    });

    it('reads a file given for a binary field and sends its bytes (query:ai.ocr.v1 --data file.pdf)', async () => {
      const doc = await PDFDocument.create();
      const page = doc.addPage([320, 200]);
      page.drawText('Sent from the CLI as bytes', { x: 20, y: 100, size: 14, font: await doc.embedFont(StandardFonts.Helvetica) });
      const pdf = join(daemon.dataDir, 'note.pdf');
      writeFileSync(pdf, await doc.save());

      const r = await daemon.cli(['query', 'ai.ocr', '--data', pdf, '--pages', '1', '--json']);
      expect(r.stderr).toBe('');
      expect(r.code, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout);
      expect(result.mime_type).toBe('application/pdf');
      expect(result.text).toContain('Sent from the CLI as bytes');

      const missing = await daemon.cli(['query', 'ai.ocr', '--data', join(daemon.dataDir, 'nope.pdf')]);
      expect(missing.code, missing.stderr).toBe(2);
      expect(missing.stderr).toContain('--data: expected a readable file path');
      expect(missing.stderr).toContain('no such file');
    });

    it('shows a method\'s input flags with --help after its name', async () => {
      const r = await daemon.cli(['action', 'files.copy', '--help']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('action:files.copy.input.v1');
      expect(r.stdout).toMatch(/--sources +string\[\] .* yes +Files or directories to copy/);
      expect(r.stdout).toMatch(/--overwrite +boolean/);
    });
  });

  describe('errors and exit codes', () => {
    it('exits 1 with the daemon\'s error for an unknown method', async () => {
      const r = await daemon.cli(['query', 'nothing.here']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^error \[UNKNOWN_METHOD\]: unknown method 'query:nothing\.here\.v1'/);
      const typo = await daemon.cli(['query', 'core.stauts']);
      expect(typo.code, typo.stderr).toBe(1);
      expect(typo.stderr).toContain('did you mean query:core.status.v1?');
      const ext = await daemon.cli(['query', 'ghost:thing', '--x', '1']);
      expect(ext.code, ext.stderr).toBe(1);
      expect(ext.stderr).toContain("no extension 'ghost'");
    });

    it('exits 2 naming the flag for an unknown flag, a wrong type or a missing required field', async () => {
      const unknown = await daemon.cli(['action', 'files.copy', '--sources', 'a', '--destination', 'b', '--recursive']);
      expect(unknown.code, unknown.stderr).toBe(2);
      expect(unknown.stderr).toContain('--recursive: expected one of the known flags: --sources, --destination, --overwrite');

      const wrongType = await daemon.cli(['action', 'files.copy', '--sources', 'a', '--destination', 'b', '--overwrite=perhaps']);
      expect(wrongType.code, wrongType.stderr).toBe(2);
      expect(wrongType.stderr).toContain("--overwrite: expected a boolean, got 'perhaps'");

      const missing = await daemon.cli(['action', 'files.copy', '--sources', 'a']);
      expect(missing.code, missing.stderr).toBe(2);
      expect(missing.stderr).toMatch(/error \[INVALID_INPUT\]: .*--destination: expected a value \(it is required\)/);

      const badInt = await daemon.cli(['query', 'ai.ocr', '--data', join(files, 'a.txt'), '--pages', 'two']);
      expect(badInt.code, badInt.stderr).toBe(2);
      expect(badInt.stderr).toContain("--pages: expected an integer (each item), got 'two'");
    });

    it('exits 2 for an unknown command or option, bad JSON input, and a query named as an action', async () => {
      const cmd = await daemon.cli(['frobnicate']);
      expect(cmd.code, cmd.stderr).toBe(2);
      expect(cmd.stderr).toContain("error [USAGE]: unknown command 'frobnicate'");

      const opt = await daemon.cli(['status', '--verbose']);
      expect(opt.code, opt.stderr).toBe(2);
      expect(opt.stderr).toContain("unknown option '--verbose'");

      const json = await daemon.cli(['action', 'files.copy', '--json-input', '{"sources": [']);
      expect(json.code, json.stderr).toBe(2);
      expect(json.stderr).toContain('--json-input is not valid JSON');

      const kind = await daemon.cli(['query', 'files.copy']);
      expect(kind.code, kind.stderr).toBe(2);
      expect(kind.stderr).toContain("'files.copy' is an action; run: spacedrive action files.copy");

      const name = await daemon.cli(['query', 'Not A Method']);
      expect(name.code, name.stderr).toBe(2);
      expect(name.stderr).toContain('is not a method name');
    });

    it('prints errors as one JSON object on stderr with --json', async () => {
      const r = await daemon.cli(['action', 'files.copy', '--sources', join(files, 'missing.txt'), '--destination', join(daemon.dataDir, 'x'), '--json']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      const err = JSON.parse(r.stderr);
      expect(err).toMatchObject({ error: { code: 'NOT_FOUND' }, exit_code: 1 });
      expect(err.error.message).toContain('does not exist');

      const usage = await daemon.cli(['action', 'files.copy', '--json', '--sources', 'a']);
      expect(usage.code, usage.stderr).toBe(2);
      expect(JSON.parse(usage.stderr).error.details.problems).toEqual([expect.objectContaining({ flag: '--destination', field: 'destination' })]);
    });

    it('lists every field problem, one per line, checked before sending', async () => {
      const r = await daemon.cli(['action', 'files.copy', '--json-input', '{"sources":"a.txt"}']);
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^error \[INVALID_INPUT\]: invalid input: /);
      expect(lines).toContain('  --sources: expected type array');
      expect(lines).toContain('  --destination: expected a value (it is required)');
    });
  });

  describe('colours', () => {
    const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
    /** Runs the CLI on a real pseudo-terminal (util-linux `script`), so stdout is a TTY. */
    const onTerminal = (args: string[], env: Record<string, string>) =>
      spawnSync('script', ['-qec', [process.execPath, BIN, '--data-dir', daemon.dataDir, ...args].join(' '), '/dev/null'], {
        encoding: 'utf8',
        env: { ...daemon.env, NO_COLOR: '', FORCE_COLOR: '', ...env },
      }).stdout;

    it.skipIf(!hasScript)('colours a terminal, unless NO_COLOR or --no-color', () => {
      expect(onTerminal(['methods'], {})).toMatch(ANSI);
      expect(onTerminal(['methods'], { NO_COLOR: '1' })).not.toMatch(ANSI);
      expect(onTerminal(['methods', '--no-color'], {})).not.toMatch(ANSI);
      expect(onTerminal(['methods'], {})).toContain('action:files.copy.input.v1');
    });

    it('uses no colour when NO_COLOR is set, when --no-color is given, or when output is not a terminal', async () => {
      const noColor = await daemon.cli(['methods'], { env: { NO_COLOR: '1', FORCE_COLOR: '1' } });
      expect(noColor.stdout).not.toMatch(ANSI);
      const flag = await daemon.cli(['methods', '--no-color'], { env: { NO_COLOR: '', FORCE_COLOR: '1' } });
      expect(flag.stdout).not.toMatch(ANSI);
      const piped = await daemon.cli(['methods'], { env: { NO_COLOR: '' } });
      expect(piped.stdout).not.toMatch(ANSI);
      // The control: with FORCE_COLOR and nothing turning colour off, the header is coloured.
      const forced = await daemon.cli(['methods'], { env: { NO_COLOR: '', FORCE_COLOR: '1' } });
      expect(forced.stdout).toMatch(ANSI);
    });
  });
});
