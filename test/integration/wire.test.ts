/**
 * The wire protocol against a real daemon child process: the client's calls, typed errors, and
 * every kind of bad input a client can send, while the daemon keeps answering other clients.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpacedriveClient } from '../../src/client/index.js';
import type { SpacedriveError } from '../../src/errors/index.js';
import { startTestDaemon, makeTempDir, type TestDaemon } from '../helpers/daemon.js';
import { RawConnection } from '../helpers/raw-socket.js';
import { waitFor } from '../helpers/wait.js';

describe('wire: calls through the client against a real daemon process', () => {
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

  it('creates the socket owner-only (0600) and writes a pid file', async () => {
    expect(statSync(daemon.socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(join(daemon.dataDir, 'daemon.pid')).isFile()).toBe(true);
  });

  it('lists methods and runs an action (files.copy) end to end', async () => {
    const { methods } = await client.query('query:core.methods.v1', { filter: 'files.' });
    expect(methods.map((m) => m.method)).toContain('action:files.copy.input.v1');
    const src = join(daemon.dataDir, 'src.txt');
    writeFileSync(src, 'hello');
    const dest = join(daemon.dataDir, 'out');
    mkdirSync(dest);
    const { job_id } = (await client.action('action:files.copy.input.v1', { sources: [src], destination: dest })) as { job_id: string };
    // The copy runs as a job after the action returns.
    const done = await waitFor(async () => {
      const st = (await client.query('query:jobs.get_status.v1', { job_id })) as { status: string };
      return ['completed', 'failed', 'cancelled'].includes(st.status) ? st : null;
    }, 'the copy job to finish');
    expect(done.status).toBe('completed');
    expect(readFileSync(join(dest, 'src.txt'), 'utf8')).toBe('hello');
  });

  it('rejects an unknown method with UNKNOWN_METHOD and a hint', async () => {
    const err = await client.query('query:nope.nothing.v1', {}).catch((e: SpacedriveError) => e) as SpacedriveError;
    expect(err).toMatchObject({ name: 'SpacedriveError', code: 'UNKNOWN_METHOD' });
    expect(err.message).toContain("unknown method 'query:nope.nothing.v1'");
    expect(err.message).toContain('spacedrive methods');
  });

  it('rejects a query sent as an action (kind mismatch)', async () => {
    const err = await client.action('query:core.status.v1', {}).catch((e: SpacedriveError) => e) as SpacedriveError;
    expect(err.code).toBe('UNKNOWN_METHOD');
    expect(err.message).toMatch(/is a query; send it as Query/);
  });

  it('names the field and what was expected on a schema violation', async () => {
    const err = await client.action('action:files.copy.input.v1', { sources: 'a' } as never).catch((e: SpacedriveError) => e) as SpacedriveError;
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toContain("field 'sources': expected type array");
    expect(err.message).toContain("field 'destination'");
  });

  it('reports a failing operation with its own typed code', async () => {
    const err = await client
      .action('action:files.copy.input.v1', { sources: [join(daemon.dataDir, 'missing')], destination: daemon.dataDir })
      .catch((e: SpacedriveError) => e) as SpacedriveError;
    expect(err.code).toBe('NOT_FOUND');
  });

  it('answers 1,000 pipelined requests on one connection, each with its own id', async () => {
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? client.ping().then(() => i) : client.query('query:core.status.v1', {}).then((s) => s.pid + i))),
    );
    expect(results.filter((_, i) => i % 2 === 0)).toEqual(Array.from({ length: 500 }, (_, i) => i * 2));
    expect(results.filter((_, i) => i % 2 === 1)).toEqual(Array.from({ length: 500 }, (_, i) => daemon.pid + i * 2 + 1));
  });

  it('answers 1,000 requests written in one burst on a raw connection (ids echoed, none lost)', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    const burst = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ id: `r${i}`, type: 'query', method: 'query:core.status.v1' }) + '\n').join('');
    raw.write(burst);
    const frames = await raw.waitFrames(1000);
    expect(new Set(frames.map((f) => f.id)).size).toBe(1000);
    expect(frames.every((f) => f.ok === true)).toBe(true);
    raw.close();
  });

  it('serves 50 concurrent connections', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => SpacedriveClient.connect({ socketPath: daemon.socketPath })));
    try {
      const counts = await Promise.all(
        clients.map(async (c) => {
          let ok = 0;
          await Promise.all(Array.from({ length: 20 }, () => c.query('query:core.status.v1', {}).then(() => ok++)));
          return ok;
        }),
      );
      expect(counts.reduce((a, b) => a + b, 0)).toBe(1000);
      const status = await client.query('query:core.status.v1', {});
      expect(status.counts.wire_connections).toBeGreaterThanOrEqual(51);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('fails with DAEMON_NOT_RUNNING and a hint when nothing listens', async () => {
    const dir = makeTempDir();
    const err = await SpacedriveClient.connect({ socketPath: join(dir, 'daemon.sock') }).catch((e: SpacedriveError) => e) as SpacedriveError;
    expect(err.code).toBe('DAEMON_NOT_RUNNING');
    expect(err.message).toContain('spacedrive daemon start');
  });
});

describe('wire: malformed and hostile frames never crash or stall the daemon', () => {
  let daemon: TestDaemon;
  let watchdog: SpacedriveClient;
  const MAX_FRAME = 64 * 1024;
  beforeAll(async () => {
    daemon = await startTestDaemon({
      setup: (dir) =>
        writeFileSync(
          join(dir, 'config.json'),
          JSON.stringify({ wire: { maxFrameBytes: MAX_FRAME, maxJsonDepth: 32, idleTimeoutMs: 1_500, maxInFlightPerConnection: 8 } }),
        ),
    });
    watchdog = await daemon.client();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  async function stillAnswers(): Promise<void> {
    await expect(watchdog.query('query:core.status.v1', {})).resolves.toMatchObject({ pid: daemon.pid });
  }

  it('replies PROTOCOL_ERROR with id null to a truncated frame, and the connection goes on', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    raw.write('{"id":1,"type":"pi\n');
    const f = await raw.frame(0);
    expect(f).toMatchObject({ id: null, ok: false, error: { code: 'PROTOCOL_ERROR' } });
    expect(f.error!.message).toMatch(/not valid JSON/);
    expect(await raw.request({ id: 2, type: 'ping' })).toMatchObject({ id: 2, ok: true });
    raw.close();
    await stillAnswers();
  });

  it('reassembles a frame split across writes, and drops a frame cut off by the client closing', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    raw.write('{"id":"split","ty');
    await new Promise((r) => setTimeout(r, 50));
    raw.write('pe":"ping"}\n{"id":"cut","type":"pi');
    expect(await raw.frame(0)).toMatchObject({ id: 'split', ok: true });
    raw.socket.end();
    await raw.closedPromise;
    expect(raw.frames).toHaveLength(1);
    await stillAnswers();
  });

  it('discards an oversized frame with FRAME_TOO_LARGE and resynchronises on the next line', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    // One frame arriving whole, one streamed without a newline for a while.
    raw.write(JSON.stringify({ id: 'big', type: 'ping', pad: 'x'.repeat(MAX_FRAME * 2) }) + '\n');
    const f0 = await raw.frame(0);
    expect(f0).toMatchObject({ id: null, ok: false, error: { code: 'FRAME_TOO_LARGE', details: { limit: MAX_FRAME } } });
    raw.write('{"id":"stream","pad":"');
    for (let i = 0; i < 8; i++) raw.write('y'.repeat(32 * 1024));
    const f1 = await raw.frame(1);
    expect(f1.error!.code).toBe('FRAME_TOO_LARGE');
    raw.write('"}\n{"id":"after","type":"ping"}\n');
    expect(await raw.frame(2)).toMatchObject({ id: 'after', ok: true });
    expect(raw.frames).toHaveLength(3);
    raw.close();
    await stillAnswers();
  });

  it('refuses deeply nested JSON before parsing it, but not brackets inside strings', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    raw.write('['.repeat(20_000) + ']'.repeat(20_000) + '\n');
    const f = await raw.frame(0);
    expect(f).toMatchObject({ id: null, error: { code: 'PROTOCOL_ERROR' } });
    expect(f.error!.message).toMatch(/deeper than the limit of 32/);
    const nested = { id: 'deep', type: 'query', method: 'query:core.status.v1', payload: {} as unknown };
    let p: unknown = 1;
    for (let i = 0; i < 40; i++) p = { a: p };
    nested.payload = p;
    raw.send(nested);
    // Refused before parsing, so the id is unknown: id null.
    const f2 = await raw.frame(1);
    expect(f2).toMatchObject({ id: null, error: { code: 'PROTOCOL_ERROR' } });
    expect(f2.error!.message).toMatch(/deeper than the limit/);
    const okWithBrackets = await raw.request({ id: 'str', type: 'ping', note: '[[[[{{{{'.repeat(100) + '\\"' });
    expect(okWithBrackets).toMatchObject({ ok: true });
    raw.close();
    await stillAnswers();
  });

  it('rejects invalid UTF-8 with PROTOCOL_ERROR', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    raw.write(Buffer.concat([Buffer.from('{"id":1,"type":"ping","x":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}\n')]));
    const f = await raw.frame(0);
    expect(f).toMatchObject({ id: null, ok: false, error: { code: 'PROTOCOL_ERROR', message: 'frame is not valid UTF-8' } });
    // Multi-byte characters split across writes are fine.
    const bytes = Buffer.from(JSON.stringify({ id: 'ü', type: 'ping', x: 'größe 🚀' }) + '\n');
    raw.write(bytes.subarray(0, 10));
    raw.write(bytes.subarray(10));
    expect(await raw.frame(1)).toMatchObject({ id: 'ü', ok: true });
    raw.close();
  });

  it('answers wrong shapes with PROTOCOL_ERROR, keeping the id when it can be read', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    const cases: Array<[string, string | number | null, RegExp]> = [
      ['[]', null, /must be a JSON object/],
      ['42', null, /must be a JSON object/],
      ['null', null, /must be a JSON object/],
      ['{"type":"ping"}', null, /has no "id"/],
      ['{"id":{},"type":"ping"}', null, /"id" must be a string/],
      [`{"id":"${'i'.repeat(300)}","type":"ping"}`, null, /at most 256/],
      ['{"id":7}', 7, /unknown request type undefined/],
      ['{"id":8,"type":"frobnicate"}', 8, /unknown request type "frobnicate"/],
      ['{"id":9,"type":"query"}', 9, /needs a "method" string/],
      ['{"id":10,"type":"action","method":"action:files.copy.input.v1","library_id":5}', 10, /"library_id" must be a string or null/],
      ['{"id":11,"type":"subscribe","event_types":"job:*"}', 11, /"event_types" must be an array of strings/],
      ['{"id":12,"type":"subscribe","filter":{"a":{"b":1}}}', 12, /"filter" must be an object/],
    ];
    for (const [line] of cases) raw.write(line + '\n');
    const frames = await raw.waitFrames(cases.length);
    cases.forEach(([, id, message], i) => {
      expect(frames[i]).toMatchObject({ id, ok: false, error: { code: 'PROTOCOL_ERROR' } });
      expect(frames[i]!.error!.message).toMatch(message);
    });
    expect(await raw.request({ id: 13, type: 'unsubscribe', subscription: 'nope' })).toMatchObject({ error: { code: 'NOT_FOUND' } });
    raw.close();
    await stillAnswers();
  });

  it('keeps serving past the in-flight limit (reads pause and resume)', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    raw.write(Array.from({ length: 300 }, (_, i) => JSON.stringify({ id: i, type: 'query', method: 'query:core.methods.v1' }) + '\n').join(''));
    const frames = await raw.waitFrames(300);
    expect(frames.filter((f) => f.ok).length).toBe(300);
    raw.close();
  });

  it('survives clients that disconnect mid-request', async () => {
    for (let i = 0; i < 20; i++) {
      const raw = await RawConnection.open({ path: daemon.socketPath });
      raw.write(Array.from({ length: 50 }, (_, j) => JSON.stringify({ id: j, type: 'query', method: 'query:core.methods.v1' }) + '\n').join(''));
      raw.write('{"id":"half","type":"qu');
      raw.close();
    }
    await stillAnswers();
  });

  it('keeps answering a well-behaved client while others abuse it', async () => {
    let answered = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        await watchdog.query('query:core.status.v1', {});
        answered++;
      }
    })();
    const abusers = await Promise.all(Array.from({ length: 10 }, () => RawConnection.open({ path: daemon.socketPath })));
    for (const [i, raw] of abusers.entries()) {
      raw.write(Buffer.from([0xff, 0x0a]));
      raw.write('['.repeat(10_000) + '\n');
      raw.write('z'.repeat(MAX_FRAME + 10) + '\n');
      raw.write(`{"id":${i},"type":"ping"}\n`);
    }
    await Promise.all(abusers.map((r) => r.waitFrames(4)));
    for (const r of abusers) {
      expect(r.frames.map((f) => f.error?.code ?? 'ok')).toEqual(['PROTOCOL_ERROR', 'PROTOCOL_ERROR', 'FRAME_TOO_LARGE', 'ok']);
      r.close();
    }
    stop = true;
    await loop;
    expect(answered).toBeGreaterThan(0);
    expect(daemon.logs()).not.toMatch(/"level":(50|60)/);
  });

  it('closes an idle connection with a TIMEOUT reason frame', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    await raw.closedPromise;
    expect(raw.frames[0]).toMatchObject({ id: null, ok: false, error: { code: 'TIMEOUT', details: { closing: true } } });
  });
});
