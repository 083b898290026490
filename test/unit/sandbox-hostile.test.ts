/**
 * Each hostile .wat fixture (test/fixtures/wat) gets its typed error, naming the extension, the
 * export and the cause, while a concurrent stream of calls to a healthy extension keeps
 * succeeding; instances that failed are replaced and serve again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSandbox, type ExtensionSandbox } from '../../src/extensions/sandbox/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { healthyStream, loadFixture, recordingBridge, TEST_LIMITS } from '../helpers/sandbox.js';
import { rejectionOf } from '../helpers/errors.js';
import { waitFor } from '../helpers/wait.js';

let healthy: ExtensionSandbox;
beforeAll(async () => {
  healthy = await loadFixture('echo', { id: 'healthy' });
});
afterAll(async () => {
  await healthy.close();
});

/** Runs `hostile` while the healthy stream runs; the stream must not see a single failure. */
async function alongsideHealthy<T>(hostile: () => Promise<T>): Promise<T> {
  const stream = healthyStream(healthy, 2);
  try {
    return await hostile();
  } finally {
    const r = await stream.stop();
    expect(r.failed).toEqual([]);
    expect(r.ok).toBeGreaterThan(0);
  }
}

describe('sandbox: hostile handlers', () => {
  const cases: { fixture: string; exportFn: string; code: string; cause: RegExp; limits?: Partial<typeof TEST_LIMITS> }[] = [
    { fixture: 'loop-handler', exportFn: 'spin', code: 'EXTENSION_TIMEOUT', cause: /ran longer than 300 ms/, limits: { callTimeoutMs: 300 } },
    { fixture: 'grow-bomb', exportFn: 'bomb', code: 'EXTENSION_OUT_OF_MEMORY', cause: /memory at its maximum of 2097152 bytes/, limits: { memoryMaxBytes: 2 * 1024 * 1024 } },
    { fixture: 'oob-result', exportFn: 'oob', code: 'EXTENSION_BAD_RESULT', cause: /outside linear memory/ },
    { fixture: 'huge-result', exportFn: 'huge', code: 'EXTENSION_BAD_RESULT', cause: /2147483647 bytes, over the output limit of 65536 bytes/ },
    { fixture: 'trap', exportFn: 'boom', code: 'EXTENSION_TRAPPED', cause: /trapped: unreachable/ },
    { fixture: 'recursion', exportFn: 'recurse', code: 'EXTENSION_TRAPPED', cause: /stack overflow/ },
    { fixture: 'bad-output', exportFn: 'bad_json', code: 'EXTENSION_BAD_RESULT', cause: /invalid JSON/ },
    { fixture: 'bad-output', exportFn: 'bad_utf8', code: 'EXTENSION_BAD_RESULT', cause: /not valid UTF-8/ },
  ];

  for (const c of cases) {
    it(`${c.fixture}: ${c.exportFn} fails with ${c.code}, the instance is replaced and serves again`, async () => {
      const s = await loadFixture(c.fixture, { limits: { instances: 1, ...c.limits } });
      try {
        const err = await alongsideHealthy(() => rejectionOf(s.call(c.exportFn, { x: 1 }, { chain: [] })));
        expect(err.code).toBe(c.code);
        expect(err.message).toContain(`extension '${c.fixture}', export '${c.exportFn}'`);
        expect(err.details).toMatchObject({ extension: c.fixture, export: c.exportFn });
        expect(err.details?.cause).toMatch(c.cause);
        expect(s.stats().replaced).toBe(1);
        // The replacement instance is a fresh one: the same call fails the same way (not a dead pool).
        await waitFor(() => s.stats().instances === 1);
        const again = await rejectionOf(s.call(c.exportFn, { x: 2 }, { chain: [] }));
        expect(again.code).toBe(c.code);
        expect(s.stats().replaced).toBe(2);
      } finally {
        await s.close();
      }
    });
  }

  it('trap: the error carries the wasm stack, naming the function that trapped', async () => {
    const s = await loadFixture('trap', { limits: { instances: 1 } });
    try {
      const err = await rejectionOf(s.call('boom', {}, { chain: [] }));
      expect((err.details?.wasmStack as string[]).join('\n')).toMatch(/explode/);
    } finally {
      await s.close();
    }
  });

  it("a guest's infinite loop never blocks the host's event loop", async () => {
    const s = await loadFixture('loop-handler', { limits: { instances: 2, callTimeoutMs: 400 } });
    let turns = 0;
    const ticker = setInterval(() => turns++, 1);
    try {
      const err = await alongsideHealthy(() => rejectionOf(s.call('spin', {}, { chain: [] })));
      expect(err.code).toBe('EXTENSION_TIMEOUT');
      expect(turns).toBeGreaterThan(10);
      await waitFor(() => s.stats().instances === 2);
    } finally {
      clearInterval(ticker);
      await s.close();
    }
  });

  it('calls posted behind a failing one on the same instance are retried on its replacement', async () => {
    for (const [fixture, exportFn, code] of [
      ['trap', 'boom', 'EXTENSION_TRAPPED'],
      ['loop-handler', 'spin', 'EXTENSION_TIMEOUT'],
    ] as const) {
      // Workers only: on the main thread's instance 'ok' would not be posted behind the failing call.
      const s = await loadFixture(fixture, { limits: { instances: 1, callTimeoutMs: 300 }, inline: false });
      try {
        const bad = rejectionOf(s.call(exportFn, {}, { chain: [] }));
        // Posted to the same (only) instance right behind the failing call.
        const good = s.call('ok', {}, { chain: [] });
        expect(s.stats().queued).toBe(1);
        expect((await bad).code).toBe(code);
        expect(await good).toBe(true);
        expect(s.stats().replaced).toBe(1);
      } finally {
        await s.close();
      }
    }
  });

  it('a trap after sd_error leads with the reason the guest gave', async () => {
    const s = await loadFixture('abort-reason', { limits: { instances: 1 } });
    try {
      const err = await rejectionOf(s.call('assert', {}, { chain: [] }));
      expect(err.code).toBe('EXTENSION_TRAPPED');
      expect(err.message).toBe(
        "extension 'abort-reason', export 'assert': abort: index out of range (assembly/index.ts:42:7) (trapped: unreachable)",
      );
    } finally {
      await s.close();
    }
  });

  it('extension.sleep blocks only the instance, never past the call deadline', async () => {
    const s = await loadFixture('abort-reason', { limits: { instances: 1, callTimeoutMs: 300 } });
    try {
      expect(await s.call('nap', { ms: 20 }, { chain: [] })).toEqual({ ok: true, result: {} });
      expect(await s.call('nap', { ms: -1 }, { chain: [] })).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
      // Asked to sleep past its limit, the call fails with EXTENSION_TIMEOUT right away.
      const err = await alongsideHealthy(() => rejectionOf(s.call('nap', { ms: 60_000 }, { chain: [] })));
      expect(err.code).toBe('EXTENSION_TIMEOUT');
      expect(err.details?.cause).toMatch(/extension\.sleep\(60000 ms\) would run past the call's deadline/);
    } finally {
      await s.close();
    }
  });

  it('log-flood: at most 1000 lines per call reach the host, long lines are cut, the rest are counted', async () => {
    const bridge = recordingBridge();
    const s = await loadFixture('log-flood', { bridge, limits: { instances: 1 } });
    try {
      expect(await alongsideHealthy(() => s.call('flood', {}, { chain: [] }))).toBeNull();
      expect(bridge.logs).toHaveLength(1001);
      expect(bridge.logs[0]!.message).toMatch(/… \(83616 more bytes cut\)$/);
      expect(bridge.logs[0]!.message.length).toBeLessThan(17_000);
      expect(bridge.logs[1000]).toEqual({ level: 3, message: '4001 more log line(s) dropped (at most 1000 per call)' });
      // The budget is per call.
      await s.call('flood', {}, { chain: [] });
      expect(bridge.logs).toHaveLength(2002);
    } finally {
      await s.close();
    }
  });

  it('register-late: registering after plugin_init is refused with REGISTRATION_REJECTED', async () => {
    const s = await loadFixture('register-late', { limits: { instances: 1 } });
    try {
      const envelope = await s.call('late', {}, { chain: [] });
      expect(envelope).toMatchObject({ ok: false, error: { code: 'REGISTRATION_REJECTED' } });
      expect((envelope as { error: { message: string } }).error.message).toMatch(/only during plugin_init/);
      expect(s.registrations.map((r) => r.name)).toEqual(['late']);
    } finally {
      await s.close();
    }
  });
});

describe('sandbox: hostile or broken modules at load', () => {
  const cases: { fixture: string; code: string; message: RegExp; limits?: Partial<typeof TEST_LIMITS> }[] = [
    { fixture: 'loop-init', code: 'EXTENSION_TIMEOUT', message: /plugin_init ran longer than 300 ms/, limits: { initTimeoutMs: 300 } },
    { fixture: 'hijack', code: 'REGISTRATION_REJECTED', message: /"query:core\.status\.v1" is outside this extension's namespace/ },
    { fixture: 'hijack-other', code: 'REGISTRATION_REJECTED', message: /invalid name "finance:classify_receipt".*no ':'/ },
    { fixture: 'duplicate', code: 'REGISTRATION_REJECTED', message: /'dup' is already registered/ },
    { fixture: 'wrong-abi', code: 'ABI_UNSUPPORTED', message: /declares ABI version 2; this host supports ABI version 1/ },
    { fixture: 'no-abi', code: 'EXTENSION_INVALID', message: /does not export sd_abi_version/ },
    { fixture: 'unknown-import', code: 'EXTENSION_INVALID', message: /imports env\.abort, which the host does not provide/ },
  ];
  for (const c of cases) {
    it(`${c.fixture}: loading fails with ${c.code}`, async () => {
      const err = await alongsideHealthy(() => rejectionOf(loadFixture(c.fixture, { limits: c.limits ?? {} })));
      expect(err.code).toBe(c.code);
      expect(err.message).toContain(`extension '${c.fixture}'`);
      expect(err.message).toMatch(c.message);
      expect(err.details?.extension).toBe(c.fixture);
    });
  }

  it('bytes that are not a WebAssembly module fail with EXTENSION_INVALID', async () => {
    const err = await rejectionOf(loadSandbox({
      id: 'junk',
      version: '1.0.0',
      wasm: new TextEncoder().encode('definitely not wasm'),
      limits: TEST_LIMITS,
      bridge: recordingBridge(),
      config: {},
      logger: silentLogger(),
    }));
    expect(err.code).toBe('EXTENSION_INVALID');
    expect(err.message).toMatch(/magic number/);
  });
});
