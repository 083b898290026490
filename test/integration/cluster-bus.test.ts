/**
 * The cluster bus between job systems on one PostgreSQL database, in process: extension changes
 * announced on one node reach the others (not itself), job events are relayed once and never
 * echoed back, and a node alone (SQLite) has a bus that goes nowhere.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultOptions } from '../../src/config/index.js';
import { EventBus, type CoreEvent } from '../../src/events/index.js';
import { JobSystem } from '../../src/jobs/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

describe('cluster bus', () => {
  let db: TestDatabase;
  const dirs: string[] = [];
  const nodes: Array<{ jobs: JobSystem; events: EventBus }> = [];
  beforeAll(async () => {
    db = await createTestDatabase('bus');
    for (let i = 0; i < 2; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'sd-bus-'));
      dirs.push(dir);
      const events = new EventBus();
      const jobs = new JobSystem({ dataDir: dir, options: { ...defaultOptions(dir).jobs, heartbeatMs: 200, leaseMs: 2000, pollIntervalMs: 200 }, events, logger: silentLogger(), storeUrl: db.url });
      await jobs.start();
      nodes.push({ jobs, events });
    }
  });
  afterAll(async () => {
    for (const n of nodes) await n.jobs.close();
    await db?.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('tells the other nodes about an extension change, not the node that made it', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const heardByA: string[] = [];
    const heardByB: string[] = [];
    a.jobs.bus.onExtensionChange((c) => heardByA.push(`${c.extensionId}:${c.change}:${c.node}`));
    b.jobs.bus.onExtensionChange((c) => heardByB.push(`${c.extensionId}:${c.change}:${c.node}`));
    // The extension manager emits these; the cluster node announces them.
    a.events.emit('extension:enabled', { id: 'finance', version: '1.0.0' });
    await waitFor(() => heardByB.length > 0, 'B to hear of the change');
    expect(heardByB).toEqual([`finance:enabled:${a.jobs.nodeId}`]);
    await new Promise((r) => setTimeout(r, 200));
    expect(heardByA).toEqual([]);
  });

  it('relays job events to the other node once, marked with their node, and never back', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const onA: CoreEvent[] = [];
    const onB: CoreEvent[] = [];
    a.events.subscribe(['job:*'], undefined, (e) => onA.push(e));
    b.events.subscribe(['job:*'], undefined, (e) => onB.push(e));
    // B's first subscriber is announced; from then on A relays its job events (not before: a
    // node without subscribers costs the others nothing).
    await waitFor(() => a.jobs.cluster!.relaysEvents, 'A to learn that B has a subscriber');
    // As the runner emits it; an output too large for a notification is read from the store on
    // the receiving node (this job has no row: null).
    a.events.emit('job:progress', { job_id: 'j1', job_type: 't.x', status: 'running', fraction: 0.5, output: 'x'.repeat(10_000) });
    await waitFor(() => onB.some((e) => e.payload.job_id === 'j1'), 'the event on B');
    await new Promise((r) => setTimeout(r, 300));
    expect(onB.filter((e) => e.payload.job_id === 'j1')).toHaveLength(1);
    expect(onB.find((e) => e.payload.job_id === 'j1')!.payload).toMatchObject({ node: a.jobs.nodeId, fraction: 0.5, output: null });
    expect(onA.filter((e) => e.payload.job_id === 'j1')).toHaveLength(1);
  });

  it('lists both nodes; a node alone on SQLite lists itself and its bus goes nowhere', async () => {
    expect((await nodes[0]!.jobs.nodes()).map((n) => n.id).sort()).toEqual(nodes.map((n) => n.jobs.nodeId).sort());
    const dir = mkdtempSync(join(tmpdir(), 'sd-bus-'));
    const alone = new JobSystem({ dataDir: dir, options: defaultOptions(dir).jobs, events: new EventBus(), logger: silentLogger() });
    await alone.start();
    try {
      expect(alone.cluster).toBeNull();
      const list = await alone.nodes();
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ id: alone.nodeId, self: true, lost: false });
      await alone.bus.announceExtensionChange('x', 'enabled');
    } finally {
      await alone.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
