/**
 * What a client can rely on about its own requests, against a real daemon over a real socket
 * and loopback TCP: ids come back exactly as sent, a TCP connection is served only after an
 * auth with the right token (whatever else its first frame is), blank lines and `payload: null`
 * are treated as docs/wire-protocol.md says.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpacedriveClient } from '../../src/client/index.js';
import { loadOptions } from '../../src/config/index.js';
import { startDaemon } from '../../src/daemon/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { makeTempDir, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { RawConnection } from '../helpers/raw-socket.js';

const TOKEN = 'test-token-0123456789abcdef';
const MAX_FRAME = 4096;

let daemon: TestDaemon;
let tcpPort: number;

beforeAll(async () => {
  daemon = await startTestDaemon({
    env: { SPACEDRIVE_TCP_PORT: '0', SPACEDRIVE_TCP_TOKEN: TOKEN },
    setup: (dir) => writeFileSync(join(dir, 'config.json'), JSON.stringify({ wire: { maxFrameBytes: MAX_FRAME } })),
  });
  const line = daemon
    .logs()
    .split('\n')
    .find((l) => l.includes('"msg":"daemon listening"'));
  tcpPort = (JSON.parse(line!) as { tcpPort: number }).tcpPort;
});

afterAll(async () => {
  await daemon?.stop();
});

/** The `"id":…` member of a response line, as written (JSON.parse would round a large number). */
function idTextOf(line: string): string {
  const match = /^\{"id":(.*?),"ok":/.exec(line);
  if (!match) throw new Error(`not a response line: ${line}`);
  return match[1]!;
}

describe('request ids come back exactly as sent', () => {
  it('echoes numeric ids that JSON.parse would round, as the characters sent', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    const ids = [
      '9007199254740993', // 2^53 + 1: a float reads it as …992
      '-9007199254740993',
      '123456789012345678901234567890',
      '0.1000000000000000055511151231257827',
      '1.5',
      '-42.25',
      '1e300',
      '2E-5',
      '9007199254740991', // the largest safe integer: written as itself
      '-7',
      '0',
    ];
    for (const id of ids) raw.write(`{"id":${id},"type":"ping"}\n`);
    await raw.waitFrames(ids.length);
    // Pings are answered in order; every one echoes its own id.
    expect(raw.lines.map(idTextOf)).toEqual(ids);
    raw.close();
  });

  it('takes the id member JSON.parse takes: the last of duplicates, an escaped name, never one nested in the payload', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    raw.write('{"id":1,"type":"ping","id":9007199254740995}\n');
    raw.write('{"\\u0069d":18014398509481985,"type":"ping"}\n');
    raw.write('{"meta":{"id":1.25,"list":[{"id":2}]},"type":"ping","id" : 36028797018963971}\n');
    raw.write('{"type":"ping","note":"\\"id\\":5","id":72057594037927941}\n');
    await raw.waitFrames(4);
    expect(raw.lines.map(idTextOf).sort()).toEqual(['18014398509481985', '36028797018963971', '72057594037927941', '9007199254740995']);
    expect(raw.frames.every((f) => f.ok)).toBe(true);
    raw.close();
  });

  it('echoes an exact id on errors too, refuses a number too long to echo, and writes numbers that read as safe integers plainly', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    raw.write('{"id":9007199254740993,"type":"query","method":"query:nope.v1"}\n');
    raw.write(`{"id":1${'0'.repeat(300)},"type":"ping"}\n`); // beyond 2^1023: Infinity
    raw.write(`{"id":1.${'3'.repeat(300)},"type":"ping"}\n`); // finite, but 302 characters
    // A number that reads as a safe integer comes back in plain integer form.
    raw.write(`{"id":1.${'0'.repeat(300)}1,"type":"ping"}\n`);
    raw.write('{"id":1.0e2,"type":"ping"}\n');
    await raw.waitFrames(5);
    // The query is answered after the pings (its answer comes from the executor).
    const unknown = raw.lines.findIndex((l) => l.includes('UNKNOWN_METHOD'));
    expect(idTextOf(raw.lines[unknown]!)).toBe('9007199254740993');
    expect(raw.lines.filter((l) => l.includes('"ok":true')).map(idTextOf)).toEqual(['1', '100']);
    const refused = raw.frames.filter((f) => f.id === null);
    expect(refused).toHaveLength(2);
    for (const f of refused) {
      expect(f).toMatchObject({ id: null, ok: false, error: { code: 'PROTOCOL_ERROR' } });
      expect(f.error!.message).toMatch(/finite number \(written in at most 256 characters\)/);
    }
    raw.close();
  });
});

describe('blank lines and null payloads', () => {
  it('ignores lines holding only whitespace, like empty lines', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    raw.write('   \n\t\n \t \r\n\r\n\n{"id":"after","type":"ping"}\n');
    expect(await raw.frame(0)).toMatchObject({ id: 'after', ok: true });
    expect(raw.frames).toHaveLength(1);
    raw.close();
  });

  it('treats "payload": null as no payload (the method gets {})', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    const reply = await raw.request({ id: 'null-payload', type: 'query', method: 'query:core.status.v1', library_id: null, payload: null });
    expect(reply).toMatchObject({ ok: true, result: { pid: daemon.pid } });
    raw.close();
  });
});

describe('TCP: nothing is served before an auth with the right token', () => {
  async function tcp(): Promise<RawConnection> {
    return RawConnection.open({ host: '127.0.0.1', port: tcpPort });
  }

  /** Writes `data` as the first bytes on a new TCP connection and expects one UNAUTHENTICATED closing frame. */
  async function refusedFirst(data: string, id: string | number | null = null): Promise<string> {
    const raw = await tcp();
    raw.write(data);
    await raw.closedPromise;
    expect(raw.frames).toHaveLength(1);
    expect(raw.frames[0]).toMatchObject({ id, ok: false, error: { code: 'UNAUTHENTICATED', details: { closing: true } } });
    return raw.frames[0]!.error!.message;
  }

  it('closes with UNAUTHENTICATED when the first frame cannot be read, and a later auth is never read', async () => {
    const message = await refusedFirst(`{not json\n{"id":1,"type":"auth","token":"${TOKEN}"}\n{"id":2,"type":"ping"}\n`);
    expect(message).toMatch(/first frame must be an auth request.*not valid JSON/);
  });

  it('closes with UNAUTHENTICATED on a first frame that is no request, too large, or invalid UTF-8', async () => {
    expect(await refusedFirst('[1,2]\n')).toMatch(/must be a JSON object/);
    expect(await refusedFirst('{"type":"auth","token":"x"}\n')).toMatch(/has no "id"/);
    expect(await refusedFirst(JSON.stringify({ id: 1, type: 'auth', token: TOKEN, pad: 'x'.repeat(MAX_FRAME) }) + '\n')).toMatch(/too large/);
    const raw = await tcp();
    raw.write(Buffer.concat([Buffer.from('{"id":1,"type":"auth","token":"'), Buffer.from([0xff]), Buffer.from('"}\n')]));
    await raw.closedPromise;
    expect(raw.frames).toMatchObject([{ id: null, error: { code: 'UNAUTHENTICATED', message: expect.stringMatching(/not valid UTF-8/) } }]);
  });

  it('closes with UNAUTHENTICATED on a first request of another type, a wrong token or no token', async () => {
    expect(await refusedFirst('{"id":1,"type":"ping"}\n', 1)).toMatch(/requires an auth request/);
    expect(await refusedFirst('{"id":"w","type":"auth","token":"wrong-token-0123456789"}\n', 'w')).toBe('wrong token');
    expect(await refusedFirst('{"id":"n","type":"auth"}\n', 'n')).toMatch(/needs a "token" string/);
  });

  it('skips blank lines before the auth', async () => {
    const raw = await tcp();
    raw.write(`\n  \n{"id":1,"type":"auth","token":"${TOKEN}"}\n`);
    expect(await raw.frame(0)).toMatchObject({ id: 1, ok: true, result: { authenticated: true } });
    raw.close();
  });

  it('answers a second auth with the right token, and closes on a second auth with a wrong one', async () => {
    const raw = await tcp();
    expect(await raw.request({ id: 1, type: 'auth', token: TOKEN })).toMatchObject({ ok: true, result: { authenticated: true } });
    expect(await raw.request({ id: 2, type: 'auth', token: TOKEN })).toMatchObject({ ok: true, result: { authenticated: true } });
    expect(await raw.request({ id: 3, type: 'ping' })).toMatchObject({ ok: true });
    raw.send({ id: 4, type: 'auth', token: 'wrong-token-0123456789' });
    raw.send({ id: 5, type: 'ping' });
    await raw.closedPromise;
    expect(raw.frames.slice(3)).toMatchObject([{ id: 4, ok: false, error: { code: 'UNAUTHENTICATED', message: 'wrong token', details: { closing: true } } }]);
  });

  it('keeps an authenticated connection usable after a frame it cannot read', async () => {
    const raw = await tcp();
    expect(await raw.request({ id: 1, type: 'auth', token: TOKEN })).toMatchObject({ ok: true });
    raw.write('{not json\n');
    expect(await raw.frame(1)).toMatchObject({ id: null, error: { code: 'PROTOCOL_ERROR' } });
    expect(await raw.request({ id: 2, type: 'ping' })).toMatchObject({ ok: true });
    raw.close();
  });

  it('answers auth on the Unix socket whatever the token (the file permissions are the check there)', async () => {
    const raw = await RawConnection.open({ path: daemon.socketPath });
    expect(await raw.request({ id: 1, type: 'auth', token: 'anything' })).toMatchObject({ ok: true, result: { authenticated: true } });
    expect(await raw.request({ id: 2, type: 'ping' })).toMatchObject({ ok: true });
    raw.close();
  });
});

describe('the TypeScript client over TCP', () => {
  it('ends its subscriptions with UNAUTHENTICATED when a restarted daemon refuses its token, instead of reconnecting for ever', async () => {
    const dir = makeTempDir();
    const optionsWith = (tcp: { port: number; token: string }) => loadOptions({ overrides: { dataDir: dir, tcp: { host: '127.0.0.1', ...tcp } }, env: {} });
    const first = await startDaemon(optionsWith({ port: 0, token: TOKEN }), { logger: silentLogger() });
    const port = first.tcpPort!;
    const client = await SpacedriveClient.connect({ tcp: { host: '127.0.0.1', port, token: TOKEN } });
    const events = client.subscribe(['job:*']);
    await events.ready;
    await first.close();
    const second = await startDaemon(optionsWith({ port, token: 'another-token-0123456789' }), { logger: silentLogger() });
    try {
      await expect(events.next()).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: 'wrong token' });
    } finally {
      await client.close();
      await second.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
