/**
 * Crash tests: the real daemon process is killed with SIGKILL at random points in the middle of
 * running core jobs, five times, and restarted each time. Asserted:
 *  - no acknowledged checkpoint is lost: `core.count` appends each value to a side file only
 *    after progress() resolved; after every restart the job's stored state is at least the last
 *    value in that file, and across all runs the file's values strictly increase (a lost
 *    checkpoint would make the job count some values again);
 *  - every job finishes; files.copy resumed mid-way produces exactly the right files and leaves
 *    no temporary files, both into an existing directory and into a destination that did not
 *    exist (which the first run creates: a resumed run must not then copy into it);
 *  - nothing runs after it completed or was cancelled.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import { treeDigest } from '../helpers/files.js';

type Status = { job_id: string; status: string; state: { n: number } | null; output: unknown; runs: number; attempts: number };

function acked(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map(Number);
}

describe('jobs survive kill -9 of the daemon', () => {
  let d: TestDaemon | undefined;
  afterAll(async () => {
    await d?.stop();
  });

  it('five random kills mid-job: no acknowledged checkpoint lost, every job finishes, files.copy exact', { timeout: 240_000 }, async () => {
    d = await startTestDaemon({ env: { SPACEDRIVE_JOBS_MAX_CONCURRENT: '8' } });
    const daemon = d;
    let client: SpacedriveClient = await daemon.client();
    const status = (id: string) => client.query('query:jobs.get_status.v1', { job_id: id }) as Promise<Status>;
    const dispatch = async (job_type: string, params: unknown) =>
      ((await client.action('action:jobs.dispatch.input.v1', { job_type, params })) as { job_id: string }).job_id;

    // A finished job and a cancelled one, before any kill: they must never run again.
    const done = await dispatch('core.count', { to: 5, ack_file: join(daemon.dataDir, 'done.acks') });
    const cancelled = await dispatch('core.count', { to: 1_000_000, delay_ms: 5, ack_file: join(daemon.dataDir, 'cancelled.acks') });
    await waitFor(async () => ((await status(cancelled)).state?.n ?? 0) >= 2, 'the job to be cancelled to have counted to 2');
    await client.action('action:jobs.cancel.input.v1', { job_id: cancelled });
    await waitFor(async () => (await status(done)).status === 'completed' && (await status(cancelled)).status === 'cancelled', 'one job completed, one cancelled');
    expect((await status(done)).status).toBe('completed');
    expect((await status(cancelled)).status).toBe('cancelled');
    const doneRuns = (await status(done)).runs;
    const cancelledState = (await status(cancelled)).state!.n;
    const cancelledAcks = acked(join(daemon.dataDir, 'cancelled.acks')).length;

    // Counting jobs of different speeds, and a copy of many files.
    const counters = [
      { to: 2500, delay_ms: 1 },
      { to: 1500, delay_ms: 2 },
      { to: 40_000, delay_ms: 0 },
    ].map((p, i) => ({ ...p, ack_file: join(daemon.dataDir, `count${i}.acks`) }));
    const countIds: string[] = [];
    for (const p of counters) countIds.push(await dispatch('core.count', p));
    const src = join(daemon.dataDir, 'copy-src');
    for (let i = 0; i < 800; i++) {
      const dir = join(src, `d${i % 7}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `f${i}.bin`), createHash('sha256').update(String(i)).digest().toString('hex').repeat(1 + (i % 300)));
    }
    const dst = join(daemon.dataDir, 'copy-dst');
    mkdirSync(dst);
    const copyId = ((await client.action('action:files.copy.input.v1', { sources: [src], destination: dst })) as { job_id: string }).job_id;
    // Not there at dispatch: the copy's first run creates it, as a copy of copy-src itself.
    const newDst = join(daemon.dataDir, 'copy-new-dst');
    const newCopyId = ((await client.action('action:files.copy.input.v1', { sources: [src], destination: newDst })) as { job_id: string }).job_id;
    const copyIds = [copyId, newCopyId];

    const allIds = [...countIds, ...copyIds];
    let kills = 0;
    let progressedBeforeKill = 0;
    const copyMidway = [0, 0];
    const filesDone = (st: Status) => (st.state as unknown as { files_done: number } | null)?.files_done ?? 0;
    const isMidway = (st: Status) => st.status === 'running' && filesDone(st) > 0 && filesDone(st) < 800;
    // Well short of the end, so that they are still part-way when the kill follows a moment later.
    const copiesAreMidway = async () => (await Promise.all(copyIds.map(status))).every((st) => isMidway(st) && filesDone(st) < 600);
    for (let round = 0; round < 5; round++) {
      if (round === 0) {
        // The first kill lands while both copies are part-way through (an idle machine copies
        // the 800 files in about a second, so a random moment could miss it); the others are random.
        await waitFor(copiesAreMidway, 'both copies to be part-way through', 30_000);
      } else {
        await new Promise((r) => setTimeout(r, 200 + Math.floor(Math.random() * 700)));
      }
      const before = await Promise.all(allIds.map(status));
      if (before.some((s) => s.status === 'running')) progressedBeforeKill++;
      copyIds.forEach((_, k) => {
        if (isMidway(before[countIds.length + k]!)) copyMidway[k]!++;
      });
      await daemon.kill('SIGKILL');
      kills++;
      // What had been acknowledged when the process died.
      const lastAcked = counters.map((p) => acked(p.ack_file).at(-1) ?? 0);
      await daemon.restart();
      client = await daemon.client();
      for (let i = 0; i < countIds.length; i++) {
        const st = await status(countIds[i]!);
        // Never behind an acknowledged checkpoint (it may already be ahead: it resumed).
        expect(st.state?.n ?? 0).toBeGreaterThanOrEqual(lastAcked[i]!);
      }
    }
    expect(kills).toBe(5);
    expect(progressedBeforeKill).toBeGreaterThanOrEqual(1);

    // Every job finishes (a failed one ends the wait at once, and the comparison below shows it).
    const finals = await waitFor(
      async () => {
        const all = await Promise.all(allIds.map(status));
        return all.every((s) => s.status === 'completed') || all.some((s) => s.status === 'failed') ? all : null;
      },
      'every job to finish',
      120_000,
    );
    expect(finals.map((s) => s.status)).toEqual(allIds.map(() => 'completed'));
    // Each copy really was interrupted part-way through at least once.
    expect(copyMidway[0]).toBeGreaterThanOrEqual(1);
    expect(copyMidway[1]).toBeGreaterThanOrEqual(1);
    expect(finals[3]!.runs).toBeGreaterThanOrEqual(2);
    expect(finals[4]!.runs).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < counters.length; i++) {
      expect(finals[i]!.output).toEqual({ n: counters[i]!.to });
      const values = acked(counters[i]!.ack_file);
      // Strictly increasing across all five crashes: no value acknowledged twice.
      for (let k = 1; k < values.length; k++) expect(values[k]!).toBeGreaterThan(values[k - 1]!);
      expect(values.at(-1)).toBe(counters[i]!.to);
      // A crash is not a failed attempt.
      expect(finals[i]!.attempts).toBe(0);
    }

    // The copy resumed mid-way: exactly the source tree, byte for byte, and no temporary files.
    expect(treeDigest(join(dst, 'copy-src'))).toEqual(treeDigest(src));
    expect((finals[3]!.output as { copied_files: number }).copied_files).toBe(800);
    // Into the new destination: the tree is the destination itself, and nothing was split off
    // into <destination>/copy-src by a resumed run.
    expect(existsSync(join(newDst, 'copy-src'))).toBe(false);
    expect(treeDigest(newDst)).toEqual(treeDigest(src));
    expect((finals[4]!.output as { copied_files: number }).copied_files).toBe(800);

    // Nothing ran after completion or cancellation.
    const doneAfter = await status(done);
    expect(doneAfter.status).toBe('completed');
    expect(doneAfter.runs).toBe(doneRuns);
    expect(acked(join(daemon.dataDir, 'done.acks'))).toEqual([1, 2, 3, 4, 5]);
    const cancelledAfter = await status(cancelled);
    expect(cancelledAfter.status).toBe('cancelled');
    expect(cancelledAfter.state!.n).toBe(cancelledState);
    expect(acked(join(daemon.dataDir, 'cancelled.acks')).length).toBe(cancelledAcks);
  });
});
