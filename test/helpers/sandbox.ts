/**
 * Helpers for the sandbox tests: default limits, a recording HostBridge, and a steady stream
 * of calls to a healthy sandbox that must keep succeeding while a hostile one misbehaves.
 */
import { loadSandbox, type ExtensionSandbox, type HostBridge, type SandboxLimits } from '../../src/extensions/sandbox/index.js';
import { silentLogger } from '../../src/logging/index.js';
import { compileWat } from './wat.js';

export const TEST_LIMITS: SandboxLimits = {
  callTimeoutMs: 500,
  initTimeoutMs: 2_000,
  memoryMaxBytes: 16 * 1024 * 1024,
  maxInputBytes: 64 * 1024,
  maxOutputBytes: 64 * 1024,
  instances: 2,
  maxQueue: 100,
};

export interface RecordingBridge extends HostBridge {
  calls: { method: string; payload: unknown; chain: readonly string[] }[];
  logs: { level: number; message: string }[];
  progress: { jobId: string; report: Record<string, unknown> }[];
  interrupts: string[];
}

/** A HostBridge that records what reaches it; `onCall` decides what a wire call returns. */
export function recordingBridge(
  onCall: (method: string, payload: unknown, chain: readonly string[]) => Promise<unknown> = async (method, payload) => ({ method, payload }),
  answers: { progress?: (jobId: string, report: Record<string, unknown>) => Promise<number>; interrupt?: number } = {},
): RecordingBridge {
  const b: RecordingBridge = {
    calls: [],
    logs: [],
    progress: [],
    interrupts: [],
    call(method, payload, chain) {
      b.calls.push({ method, payload, chain });
      return onCall(method, payload, chain);
    },
    log(level, message) {
      b.logs.push({ level, message });
    },
    async jobProgress(jobId, report) {
      b.progress.push({ jobId, report });
      return answers.progress ? answers.progress(jobId, report) : 0;
    },
    jobInterrupt(jobId) {
      b.interrupts.push(jobId);
      return answers.interrupt ?? 0;
    },
  };
  return b;
}

/** Loads a .wat fixture (by name) into a sandbox. */
export async function loadFixture(
  name: string,
  opts: { id?: string; limits?: Partial<SandboxLimits>; bridge?: HostBridge; config?: unknown; inline?: boolean } = {},
): Promise<ExtensionSandbox> {
  return loadSandbox({
    id: opts.id ?? name,
    version: '1.0.0',
    wasm: await compileWat(name),
    limits: { ...TEST_LIMITS, ...opts.limits },
    bridge: opts.bridge ?? recordingBridge(),
    config: opts.config ?? {},
    logger: silentLogger(),
    inline: opts.inline ?? true,
  });
}

/** Keeps `inFlight` echo calls running against `sandbox` until stopped; counts outcomes. */
export function healthyStream(sandbox: ExtensionSandbox, inFlight = 2) {
  let stop = false;
  const result = { ok: 0, failed: [] as unknown[] };
  const lanes = Array.from({ length: inFlight }, async (_, lane) => {
    for (let i = 0; !stop; i++) {
      const input = { lane, i, text: 'grüße' };
      try {
        const out = await sandbox.call('echo', input, { chain: [] });
        if (JSON.stringify(out) === JSON.stringify(input)) result.ok++;
        else result.failed.push(new Error(`echo returned ${JSON.stringify(out)}`));
      } catch (e) {
        result.failed.push(e);
      }
    }
  });
  return {
    result,
    async stop() {
      stop = true;
      await Promise.all(lanes);
      return result;
    },
  };
}
