/**
 * Crash tests for extension jobs: the real daemon process, with test-ext installed, is killed
 * with SIGKILL at random moments while several `test-ext:counter` jobs (WebAssembly, in the
 * extension sandbox) and a `core.count` job run side by side, six times, and restarted on the
 * same data directory each time. Asserted:
 *  - no acknowledged checkpoint is lost: `test-ext:counter` logs `acked <job_id> <n>` through the
 *    SDK's log only after its progress report returned Continue (the checkpoint was durable), so
 *    the daemon's log is a lower bound of what was acknowledged; after every restart each job's
 *    stored state is at least the highest value logged for it before the kill, and across all
 *    processes the logged values of a job strictly increase (a lost checkpoint would make it
 *    count some values again). `core.count` is checked the same way through its ack file;
 *  - a job's state never goes backwards between any two observations;
 *  - every job finishes with the right output (the counter reached its target exactly);
 *  - nothing runs after it completed or was cancelled: status, state, runs and logged acks of a
 *    finished or cancelled job never change afterwards, across the remaining kills.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { REPO_ROOT, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const TEST_EXT = join(REPO_ROOT, 'build', 'extensions', 'test-ext');
const KILLS = 6;

type Status = {
  job_id: string;
  status: string;
  state: { n: number } | null;
  output: unknown;
  runs: number;
  attempts: number;
};

/** `acked` values per job id, in the order the daemons logged them (JSON log lines). */
function ackedFromLogs(logs: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of logs.split('\n')) {
    if (!line.includes('acked ')) continue;
    let msg: unknown;
    try {
      msg = (JSON.parse(line) as { msg?: unknown }).msg;
    } catch {
      continue; // a partial line of a killed process
    }
    const m = typeof msg === 'string' ? /^acked (\S+) (\d+)$/.exec(msg) : null;
    if (!m) continue;
    const list = out.get(m[1]!) ?? [];
    list.push(Number(m[2]));
    out.set(m[1]!, list);
  }
  return out;
}

function ackFile(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map(Number);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('extension jobs survive kill -9 of the daemon', () => {
  let d: TestDaemon | undefined;
  afterAll(async () => {
    await d?.stop();
  });

  it(`${KILLS} random kills mid-job: no acknowledged checkpoint lost, state never goes back, every job finishes, nothing runs after completion or cancellation`, { timeout: 240_000 }, async () => {
    d = await startTestDaemon({ env: { SPACEDRIVE_JOBS_MAX_CONCURRENT: '8' } });
    const daemon = d;
    let client: SpacedriveClient = await daemon.client();
    const installed = (await client.action('action:extensions.install.input.v1', { path: TEST_EXT })) as { id: string; state: string };
    expect(installed).toMatchObject({ id: 'test-ext', state: 'loaded' });

    const status = (id: string) => client.query('query:jobs.get_status.v1', { job_id: id }) as Promise<Status>;
    const dispatch = async (job_type: string, params: unknown) =>
      ((await client.action('action:jobs.dispatch.input.v1', { job_type, params })) as { job_id: string }).job_id;
    const until = async (id: string, ok: (s: Status) => boolean, what: string, timeoutMs = 60_000): Promise<Status> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await status(id);
        if (ok(s)) return s;
        if (Date.now() > deadline) throw new Error(`job ${id}: gave up waiting for ${what}; last ${JSON.stringify(s)}`);
        await sleep(20);
      }
    };
    const acked = (id: string) => ackedFromLogs(daemon.logs()).get(id) ?? [];

    // Every observation of a job's state, in order: it must never go backwards.
    const seen = new Map<string, number>();
    const observe = (s: Status) => {
      const n = s.state?.n ?? 0;
      const before = seen.get(s.job_id) ?? 0;
      expect(n, `state of ${s.job_id} went back from ${before} to ${n}`).toBeGreaterThanOrEqual(before);
      seen.set(s.job_id, n);
    };

    // A finished extension job and a cancelled one, before any kill: they must never run again.
    const done = await dispatch('test-ext:counter', { to: 5 });
    const doneStatus = await until(done, (s) => s.status === 'completed', 'completion');
    expect(doneStatus.output).toEqual({ n: 5, to: 5, resumed: false });
    const cancelled = await dispatch('test-ext:counter', { to: 1_000_000, delay_ms: 5 });
    await until(cancelled, (s) => (s.state?.n ?? 0) >= 3, 'three checkpoints');
    await client.action('action:jobs.cancel.input.v1', { job_id: cancelled });
    const cancelledStatus = await until(cancelled, (s) => s.status === 'cancelled', 'cancellation');
    const cancelledState = cancelledStatus.state!.n;
    const cancelledAcks = acked(cancelled);
    expect(cancelledAcks.length).toBeGreaterThanOrEqual(1);
    // Nothing was acknowledged past the state the cancelled job was left in.
    expect(Math.max(...cancelledAcks)).toBeLessThanOrEqual(cancelledState);
    expect(acked(done)).toEqual([1, 2, 3, 4, 5]);

    // Extension counters of different speeds, and a core job beside them. test-ext runs two
    // sandbox instances, so two counters run while the others wait for an instance: the short
    // ones finish part-way through the kills (and must then stay finished), the later ones are
    // killed mid-run in turn. Each run logs fewer lines than the sandbox's per-call cap (1,000),
    // so the log is complete up to the kill.
    const counters = [
      { to: 250, delay_ms: 5 },
      { to: 200, delay_ms: 6 },
      { to: 300, delay_ms: 5 },
      { to: 250, delay_ms: 6 },
    ];
    const extIds: string[] = [];
    for (const p of counters) extIds.push(await dispatch('test-ext:counter', p));
    const coreAcks = join(daemon.dataDir, 'core-count.acks');
    const coreTo = 2500;
    const coreId = await dispatch('core.count', { to: coreTo, delay_ms: 2, ack_file: coreAcks });
    const allIds = [...extIds, coreId];

    // Jobs seen finished during the kill phase: what they looked like then, which must not change.
    const finishedAt = new Map<string, { runs: number; acks: number[]; output: unknown }>();
    const watch = async () => {
      const all = await Promise.all(allIds.map(status));
      for (const s of all) {
        observe(s);
        if (s.status === 'completed' && !finishedAt.has(s.job_id)) {
          finishedAt.set(s.job_id, { runs: s.runs, acks: acked(s.job_id), output: s.output });
        }
      }
      return all;
    };
    const frozen = async () => {
      const doneNow = await status(done);
      expect(doneNow).toMatchObject({ status: 'completed', runs: doneStatus.runs, output: doneStatus.output });
      expect(acked(done)).toEqual([1, 2, 3, 4, 5]);
      const cancelledNow = await status(cancelled);
      expect(cancelledNow).toMatchObject({ status: 'cancelled', runs: cancelledStatus.runs });
      expect(cancelledNow.state!.n).toBe(cancelledState);
      expect(acked(cancelled)).toEqual(cancelledAcks);
    };

    let killsMidRun = 0;
    for (let round = 0; round < KILLS; round++) {
      // A random moment: watch the jobs for 100..900 ms, then kill at once.
      const killAt = Date.now() + 100 + Math.floor(Math.random() * 800);
      let last: Status[] = [];
      while (Date.now() < killAt) {
        last = await watch();
        await sleep(Math.floor(Math.random() * 60));
      }
      if (last.slice(0, extIds.length).some((s, i) => s.status === 'running' && (s.state?.n ?? 0) > 0 && s.state!.n < counters[i]!.to)) {
        killsMidRun++;
      }
      await daemon.kill('SIGKILL');
      // What had been acknowledged when the process died (the log is a lower bound of it).
      const lastAcked = extIds.map((id) => Math.max(0, ...acked(id)));
      const lastCoreAck = ackFile(coreAcks).at(-1) ?? 0;
      await daemon.restart();
      client = await daemon.client();
      const after = await Promise.all(allIds.map(status));
      for (let i = 0; i < extIds.length; i++) {
        expect(after[i]!.state?.n ?? 0, `job ${extIds[i]} resumed below an acknowledged checkpoint`).toBeGreaterThanOrEqual(lastAcked[i]!);
      }
      expect(after[extIds.length]!.state?.n ?? 0).toBeGreaterThanOrEqual(lastCoreAck);
      for (const s of after) observe(s);
      await frozen();
    }
    expect(killsMidRun).toBeGreaterThanOrEqual(1);

    // Every job finishes.
    const finals = await waitFor(async () => {
      const all = await watch();
      return all.every((s) => s.status === 'completed' || s.status === 'failed') ? all : null;
    }, 'every job to finish', 120_000);
    expect(finals.map((s) => s.status)).toEqual(allIds.map(() => 'completed'));

    for (let i = 0; i < extIds.length; i++) {
      const s = finals[i]!;
      const to = counters[i]!.to;
      expect(s.output).toMatchObject({ n: to, to });
      expect(s.state?.n ?? to).toBe(to);
      const values = acked(extIds[i]!);
      // Strictly increasing across all the daemons' logs: no value acknowledged twice.
      for (let k = 1; k < values.length; k++) expect(values[k]!).toBeGreaterThan(values[k - 1]!);
      // The last line is `to`, unless a kill fell between the last checkpoint's commit and its
      // log line: then the run that resumed from `to` had nothing left to count (the log is a
      // lower bound of what was acknowledged, and the state above says `to` was).
      if (values.at(-1) !== to) {
        expect(values.at(-1)).toBe(to - 1);
        expect(s.runs).toBeGreaterThanOrEqual(2);
      }
      // A crash is not a failed attempt.
      expect(s.attempts).toBe(0);
    }
    // The kills really interrupted extension jobs, which resumed from their checkpoints.
    expect(finals.slice(0, extIds.length).some((s) => s.runs >= 2 && (s.output as { resumed: boolean }).resumed)).toBe(true);

    const core = finals[extIds.length]!;
    expect(core.output).toEqual({ n: coreTo });
    const coreValues = ackFile(coreAcks);
    for (let k = 1; k < coreValues.length; k++) expect(coreValues[k]!).toBeGreaterThan(coreValues[k - 1]!);
    // As above: a kill between the last checkpoint's commit and its ack line leaves `to - 1` last.
    if (coreValues.at(-1) !== coreTo) {
      expect(coreValues.at(-1)).toBe(coreTo - 1);
      expect(core.runs).toBeGreaterThanOrEqual(2);
    }
    expect(core.attempts).toBe(0);

    // Nothing ran after completion or cancellation.
    await frozen();
    for (const [id, then] of finishedAt) {
      const now = await status(id);
      expect(now.status).toBe('completed');
      expect(now.runs).toBe(then.runs);
      expect(now.output).toEqual(then.output);
      if (id !== coreId) {
        // The daemon's log is written after the state it reports (lines can trail a completion
        // that was already visible), so lines may have been added since, but only up to the
        // job's final count: nothing acknowledged after it finished.
        const now = acked(id);
        expect(now.slice(0, then.acks.length)).toEqual(then.acks);
        expect(Math.max(0, ...now)).toBe((then.output as { n: number }).n);
      }
    }
    if (finishedAt.has(coreId)) expect(ackFile(coreAcks).at(-1)).toBe(coreTo);
  });
});
