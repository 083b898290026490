/**
 * A full disk, for real: small tmpfs file systems mounted by the test (root only; CI runs as
 * root) hold the job database, the background daemon's data directory and log, and a copy's
 * destination. Asserted: a full disk is STORAGE_FULL (exit code 74), never INTERNAL; the daemon
 * keeps running when its log cannot be written and says afterwards how many lines it dropped; a
 * copy that runs into the full disk waits without spending attempts and finishes by itself once
 * space is freed, with nothing acknowledged lost.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteJobStore } from '../../src/jobs/store/index.js';
import { loadOptions, type PartialOptions } from '../../src/config/index.js';
import { Core } from '../../src/core/index.js';
import { createLogger, LogFileStream } from '../../src/logging/index.js';
import { makeTempDir, runCli } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import { treeDigest } from '../helpers/files.js';

const isRoot = process.getuid?.() === 0;

/** Writes a filler file until the disk under `dir` has at most `leaveBytes` free; returns its path. */
function fill(dir: string, leaveBytes = 0): string {
  const path = join(dir, `filler-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(path, 'w');
  try {
    for (const chunk of [1 << 20, 1 << 16, 4096, 512]) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        const { bavail, bsize } = statfsSync(dir);
        if (bavail * bsize - chunk < leaveBytes) break;
        try {
          writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

describe.skipIf(!isRoot)('a full disk (tmpfs mounted by the test)', () => {
  let base = '';
  const mounts: string[] = [];
  const mountTmpfs = (name: string, mib: number) => {
    const dir = join(base, name);
    mkdirSync(dir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'tmpfs', dir]);
    mounts.push(dir);
    return dir;
  };

  beforeEach(() => {
    base = makeTempDir('sd-full-');
  });
  afterEach(() => {
    for (const dir of mounts.splice(0)) {
      // Lazy: a daemon that failed the test may still hold a file open there.
      execFileSync('umount', ['-l', dir]);
    }
    rmSync(base, { recursive: true, force: true });
  });

  it('the job store answers STORAGE_FULL, loses nothing it acknowledged, and writes again once space returns', async () => {
    const disk = mountTmpfs('jobs', 8);
    const path = join(disk, 'jobs.db');
    let store = new SqliteJobStore({ path });
    const acked: string[] = [];
    for (let i = 0; i < 3; i++) acked.push((await store.enqueue({ type: 'core.noop', params: { i }, maxAttempts: 1 })).job.id);
    const filler = fill(disk);
    // A fresh WAL grows with every commit: this one needs space the disk no longer has.
    const err = await store.enqueue({ type: 'core.noop', params: { i: 3, pad: 'x'.repeat(20_000) }, maxAttempts: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STORAGE_FULL' });
    expect((err as Error).message).toMatch(/no space left/);
    rmSync(filler);
    acked.push((await store.enqueue({ type: 'core.noop', params: { i: 4 }, maxAttempts: 1 })).job.id);
    await store.close();
    store = new SqliteJobStore({ path });
    expect((await store.list({ limit: 100 })).jobs.map((j) => j.id).sort()).toEqual([...acked].sort());
    await store.close();
  });

  it('a job whose end cannot be recorded on a full disk is recorded once space returns, without a restart', { timeout: 120_000 }, async () => {
    const dataDir = mountTmpfs('core', 24);
    // The daemon's log lines, kept in memory (the disk is full).
    const logLines: string[] = [];
    const logger = createLogger({ level: 'warn', format: 'json', destination: { write: (line: string) => void logLines.push(line) } });
    const core = await Core.create(loadOptions({ overrides: { dataDir, extensions: { autoload: false } } as PartialOptions, env: {} }), { logger });
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      core.jobs.types.register('test', {
        type: 'test:until_released',
        version: 1,
        resumable: true,
        description: 'runs until the test releases it',
        paramsSchema: { type: 'object' },
        run: async () => {
          await released;
          return { status: 'completed', output: { done: true } };
        },
      });
      const { jobId } = await core.jobs.dispatch('test:until_released', {});
      await waitFor(async () => (await core.jobs.get(jobId)).status === 'running', 'the job to run');
      // The job database's WAL is young (it only grows until its first checkpoint): recording
      // the job's end needs space the disk no longer has.
      const filler = fill(dataDir);
      release();
      // (Worded "recording the end of a job failed" before, "could not record the end of a job" now.)
      const finishFailed = await waitFor(() => logLines.find((l) => /record(ing)? the end of a job/.test(l)), 'the end of the job to fail to be recorded', 30_000);
      expect(finishFailed).toContain('STORAGE_FULL');
      expect((await core.jobs.get(jobId)).status).toBe('running');
      rmSync(filler);
      // Before: the job stayed `running` until the daemon was restarted.
      await waitFor(async () => (await core.jobs.get(jobId)).status === 'completed', 'the job to be recorded completed', 30_000);
      expect((await core.jobs.get(jobId)).output).toEqual({ done: true });
    } finally {
      await core.close();
    }
  });

  it('the logger drops the lines it cannot write, never throws, and says how many once it can write again', () => {
    const disk = mountTmpfs('log', 1);
    for (const format of ['json', 'pretty'] as const) {
      const file = join(disk, `${format}.log`);
      const fd = openSync(file, 'a');
      try {
        const stream = new LogFileStream(fd);
        const logger = createLogger({ level: 'info', format, destination: stream });
        logger.info('before');
        const filler = fill(disk);
        // Before: pino's destination emitted 'error' with nobody listening, and the process died.
        // (The first of them may still fit in the last page the file already has.)
        for (let i = 0; i < 40; i++) logger.info({ i, pad: 'x'.repeat(300) }, 'while full');
        const dropped = stream.dropped;
        expect(dropped).toBeGreaterThan(0);
        rmSync(filler);
        logger.info('after');
        expect(stream.dropped).toBe(0);
        const text = readFileSync(file, 'utf8');
        expect(text).toContain('before');
        expect(text).toMatch(new RegExp(`\\b${dropped} log line\\(s\\) were dropped[\\s\\S]*after`));
        // Every line that was written is whole: no half line glued to the next.
        for (const line of text.trim().split('\n')) if (format === 'json') expect(() => JSON.parse(line)).not.toThrow();
      } finally {
        closeSync(fd);
      }
    }
  });

  it('a background daemon survives its log disk filling up, answers STORAGE_FULL, and a copy into a full disk finishes once space is freed', { timeout: 180_000 }, async () => {
    const dataDir = mountTmpfs('data', 24);
    const target = mountTmpfs('target', 32);
    const src = join(base, 'src');
    mkdirSync(src);
    for (let i = 0; i < 12; i++) writeFileSync(join(src, `f${String(i).padStart(2, '0')}.bin`), createHash('sha512').update(String(i)).digest().toString('hex').repeat(8192));
    const cli = (args: string[]) => runCli(args, { dataDir });
    const status = async (jobId: string) => JSON.parse((await cli(['jobs', 'info', jobId, '--json'])).stdout) as { status: string; attempts: number; error: { code: string } | null; state: { files_done: number } | null };

    const started = await cli(['daemon', 'start', '--json']);
    expect(started.code, started.stderr).toBe(0);
    try {
      // The copy's destination fills up part-way: 12 files of 1 MiB, 4 MiB free.
      const targetFiller = fill(target, 4 << 20);
      const dst = join(target, 'copy');
      const dispatched = await cli(['action', 'files.copy', '--sources', src, '--destination', dst, '--json']);
      expect(dispatched.code, dispatched.stderr).toBe(0);
      const jobId = (JSON.parse(dispatched.stdout) as { job_id: string }).job_id;
      const waiting = await waitFor(async () => {
        const st = await status(jobId);
        return st.status === 'waiting_retry' && st.error?.code === 'STORAGE_FULL' ? st : null;
      }, 'the copy to wait for space with STORAGE_FULL', 60_000);
      // Waiting for space spends no attempt: it never fails for good on its own.
      expect(waiting.attempts).toBe(0);
      expect(waiting.state!.files_done).toBeGreaterThan(0);
      expect(waiting.state!.files_done).toBeLessThan(12);

      // Now the daemon's own disk fills: its log (each retry of the copy logs a line) and its databases.
      const dataFiller = fill(dataDir);
      const dropped = await waitFor(async () => {
        const r = await cli(['status', '--json']);
        const n = r.code === 0 ? (JSON.parse(r.stdout) as { counts: Record<string, number> }).counts.log_lines_dropped ?? 0 : 0;
        return n > 0 ? n : null;
      }, 'the daemon to drop a log line it could not write', 60_000);
      expect(dropped).toBeGreaterThan(0);
      // A write that needs space is refused with a typed error and exit code 74, not INTERNAL / 70.
      const refused = await cli(['action', 'libraries.create', '--name', 'full', '--json']);
      expect(refused.code, refused.stderr).toBe(74);
      expect(JSON.parse(refused.stderr)).toMatchObject({ error: { code: 'STORAGE_FULL' }, exit_code: 74 });

      // Space returns on both disks: no restart.
      rmSync(dataFiller);
      await waitFor(() => readFileSync(join(dataDir, 'daemon.log'), 'utf8').match(/(\d+) log line\(s\) were dropped/), 'the log to say how many lines it dropped', 60_000);
      rmSync(targetFiller);
      const done = await waitFor(async () => {
        const st = await status(jobId);
        return st.status === 'completed' || st.status === 'failed' ? st : null;
      }, 'the copy to finish', 60_000);
      expect(done.status).toBe('completed');
      expect(done.attempts).toBe(0);
      expect(treeDigest(dst)).toEqual(treeDigest(src));
      const alive = await cli(['daemon', 'status', '--json']);
      expect(JSON.parse(alive.stdout)).toMatchObject({ running: true, pid: (JSON.parse(started.stdout) as { pid: number }).pid });
    } finally {
      const stopped = await cli(['daemon', 'stop']);
      expect(stopped.code, stopped.stderr).toBe(0);
    }
    expect(existsSync(join(dataDir, 'daemon.pid'))).toBe(false);
  });
});
