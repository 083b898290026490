/**
 * Ctrl-C of the real daemon (SIGINT) with a job running: the daemon stops its runner, records the
 * job's interruption line, then closes the job store — so no warning about a closed store is
 * logged — and after a restart the job continues from its checkpoint.
 */
import { afterAll, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

let d: TestDaemon | undefined;
afterAll(async () => {
  await d?.stop();
});

it('records the running job\'s interruption line on SIGINT and logs no warning', { timeout: 120_000 }, async () => {
  d = await startTestDaemon();
  const daemon = d;
  let client = await daemon.client();
  const { job_id } = await client.action('action:jobs.dispatch.input.v1', { job_type: 'core.count', params: { to: 1_000_000, delay_ms: 5 } });
  await waitFor(async () => ((await client.query('query:jobs.get_status.v1', { job_id })) as { state: { n: number } | null }).state?.n, 'a checkpoint');
  await daemon.kill('SIGINT');
  const warnings = daemon
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{') && (JSON.parse(l) as { level: number }).level >= 40);
  expect(warnings).toEqual([]);
  await daemon.restart();
  client = await daemon.client();
  const { logs } = (await client.query('query:jobs.logs.v1', { job_id })) as { logs: Array<{ message: string }> };
  const messages = logs.map((l) => l.message);
  expect(messages).toContain('stopped with the daemon; it continues from its checkpoint at the next start');
  expect(messages.join('\n')).not.toMatch(/the daemon stopped while this job was running/);
});
