/**
 * What the host tells about an extension while it runs, for authors: every call into it
 * (`guest:call`), every host call it makes (`guest:host_call`) and every line it logs
 * (`guest:log`), as events on the bus (`spacedrive extension dev` subscribes to them over the
 * wire), and hooks an in-process host can set around the bridge (the test harness in
 * src/testing records host calls, answers faked methods and holds or "crashes" jobs at their
 * checkpoints through them). Nothing is emitted unless someone subscribed.
 */
import type { EventBus } from '../events/index.js';
import { toWireError } from '../errors/index.js';
import type { HostBridge } from './sandbox/types.js';

/** Around-hooks on an extension's host bridge; each gets the call and `next`, the real host side. */
export interface ExtensionHostHooks {
  /** `sd_call` (after the bridge's permission check, which `next` performs). */
  call?(extensionId: string, method: string, payload: unknown, next: (payload: unknown) => Promise<unknown>): Promise<unknown>;
  /** `sd_job_progress`: `next` writes the checkpoint (durable when it resolves) and gives the answer (0 continue, 1 pause, 2 cancel). */
  jobProgress?(extensionId: string, jobId: string, report: Record<string, unknown>, next: (report: Record<string, unknown>) => Promise<number>): Promise<number>;
  /** A line the guest logged (after it went to the logs). */
  log?(extensionId: string, level: string, message: string, jobId: string | undefined): void;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

function levelName(level: number): string {
  return LOG_LEVELS[Math.min(Math.max(Math.trunc(level), 0), LOG_LEVELS.length - 1)] ?? 'info';
}

/** The bridge with events and hooks around it (the bridge itself when neither can apply). */
export function instrumentBridge(id: string, bridge: HostBridge, events: EventBus, hooks: () => ExtensionHostHooks | undefined): HostBridge {
  return {
    call(method, payload, chain, context) {
      const h = hooks();
      const started = performance.now();
      // The call's context (its library, method and job) goes through untouched: extension.context answers from it.
      const result = h?.call ? h.call(id, method, payload, (p) => bridge.call(method, p, chain, context)) : bridge.call(method, payload, chain, context);
      if (!events.wants('guest:host_call')) return result;
      return result.then(
        (value) => {
          events.emit('guest:host_call', { id, method, ms: Math.round((performance.now() - started) * 10) / 10, ok: true });
          return value;
        },
        (err: unknown) => {
          events.emit('guest:host_call', { id, method, ms: Math.round((performance.now() - started) * 10) / 10, ok: false, error: toWireError(err).code });
          throw err;
        },
      );
    },
    log(level, message, jobId) {
      bridge.log(level, message, jobId);
      hooks()?.log?.(id, levelName(level), message, jobId);
      if (events.wants('guest:log')) events.emit('guest:log', { id, level: levelName(level), message, job_id: jobId ?? null });
    },
    jobProgress(jobId, report) {
      const h = hooks();
      return h?.jobProgress ? h.jobProgress(id, jobId, report, (r) => bridge.jobProgress(jobId, r)) : bridge.jobProgress(jobId, report);
    },
    jobInterrupt(jobId) {
      return bridge.jobInterrupt(jobId);
    },
  };
}

/** Emits `guest:call` when `call` settles: a call into the extension (an operation or a job handler run). */
export function observeCall<T>(events: EventBus, fields: { id: string; export: string; method?: string; job_id?: string }, call: () => Promise<T>): Promise<T> {
  if (!events.wants('guest:call')) return call();
  const started = performance.now();
  const done = (ok: boolean, err?: unknown) =>
    events.emit('guest:call', { ...fields, ms: Math.round((performance.now() - started) * 10) / 10, ok, ...(ok ? {} : { error: toWireError(err).code, message: toWireError(err).message }) });
  return call().then(
    (value) => {
      done(true);
      return value;
    },
    (err: unknown) => {
      done(false, err);
      throw err;
    },
  );
}
