import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpacedriveClient } from '../../src/client/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

describe('wire: queries and actions through the client against a real daemon process', () => {
  let daemon: TestDaemon;
  let client: SpacedriveClient;
  beforeAll(async () => {
    daemon = await startTestDaemon();
    client = await daemon.client();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('answers ping and core.status over the socket', async () => {
    const pong = await client.ping();
    expect(pong).toMatchObject({ pong: true, protocol: 1 });
    const status = await client.query('query:core.status.v1', {});
    expect(status.data_dir).toBe(daemon.dataDir);
    expect(status.pid).toBe(daemon.pid);
    expect(status.counts.wire_connections).toBeGreaterThanOrEqual(1);
  });

  it('creates the socket owner-only (0600)', () => {
    expect(statSync(daemon.socketPath).mode & 0o777).toBe(0o600);
  });
});
