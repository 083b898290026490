/**
 * Crash test: the daemon is killed with SIGKILL right after a burst of job dispatches was sent,
 * before their answers came back, and restarted. The TypeScript client sends every dispatch with
 * an idempotency key and sends it again (same key) until it gets an answer; asserted: every
 * dispatch is answered, each with its own job, and the store holds exactly one job per dispatch
 * — none lost, none added twice — whichever of them the daemon had committed before it died.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SpacedriveClient } from '../../src/client/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

const KILLS = 5;
const BURST = 40;

describe('job dispatches survive kill -9 of the daemon without duplicates', () => {
  let d: TestDaemon | undefined;
  let client: SpacedriveClient | undefined;
  afterAll(async () => {
    await client?.close();
    await d?.stop();
  });

  it(`${KILLS} kills amid bursts of ${BURST} dispatches: every dispatch answered, one job each`, { timeout: 300_000 }, async () => {
    d = await startTestDaemon();
    const daemon = d;
    // Retries outlast the restart of a daemon on a loaded machine.
    client = await SpacedriveClient.connect({ socketPath: daemon.socketPath, dispatchRetryMs: 120_000 });
    const c = client;
    const answered: string[] = [];
    // Delayed jobs: none of them runs, so the store's count is the dispatches' count.
    const payload = (round: number, i: number, extra: { idempotency_key?: string } = {}) => ({
      job_type: 'core.count',
      params: { to: 1 },
      run_at: Date.now() + 3_600_000 + round * BURST + i,
      ...extra,
    });
    const dispatch = (p: ReturnType<typeof payload>) => c.action('action:jobs.dispatch.input.v1', p);

    for (let round = 0; round < KILLS; round++) {
      // The client's own retries: the daemon dies with the burst in flight — right after it was
      // sent, or once the first answers came back — so that it has committed some dispatches
      // and answered fewer. Each is sent again until answered.
      const burst = Array.from({ length: BURST }, (_, i) => dispatch(payload(round, i)));
      if (round % 2 === 0) await new Promise((r) => setImmediate(r));
      else await Promise.race(burst);
      await daemon.kill('SIGKILL');
      await daemon.restart();
      answered.push(...(await Promise.all(burst)).map((r) => r.job_id));
    }

    // A dispatch the daemon committed and answered, sent again with its key after a kill (as a
    // client that never read the answer would): the same job, not a second one.
    const keyed = Array.from({ length: BURST }, (_, i) => payload(KILLS, i, { idempotency_key: `crash-${i}` }));
    const first = await Promise.all(keyed.map(dispatch));
    await daemon.kill('SIGKILL');
    await daemon.restart();
    const again = await Promise.all(keyed.map(dispatch));
    expect(again.map((r) => r.job_id)).toEqual(first.map((r) => r.job_id));
    expect(again.every((r) => r.replayed === true)).toBe(true);
    answered.push(...first.map((r) => r.job_id));

    expect(new Set(answered).size).toBe((KILLS + 1) * BURST);
    const { jobs } = (await c.query('query:jobs.list.v1', { limit: 1000 })) as { jobs: Array<{ job_id: string }> };
    expect(jobs.map((j) => j.job_id).sort()).toEqual([...answered].sort());
  });
});
