/**
 * Two small core job types that exist for operators, benchmarks and tests, and are honest jobs:
 *  - `core.noop` does nothing and completes (measures the job system's own overhead);
 *  - `core.count` counts to `to`, checkpointing every step (shows durability: with `ack_file`
 *    it appends each value to that file *after* its checkpoint was acknowledged, so the file can
 *    be compared with the job's state after a crash; with `hold_file` it waits before each step
 *    while that file exists, so that a test can hold it part-way, however fast the machine, and
 *    pause or kill it there).
 */
import { appendFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobTypeDefinition } from '../types.js';

export const noopJob: JobTypeDefinition = {
  type: 'core.noop',
  version: 1,
  resumable: true,
  description: 'Does nothing and completes; measures the job system itself.',
  paramsSchema: { type: 'object', additionalProperties: false, properties: {} },
  run: () => Promise.resolve({ status: 'completed' }),
};

interface CountParams {
  to: number;
  delay_ms?: number;
  ack_file?: string;
  hold_file?: string;
}

/** How often a held count looks for its hold file again. */
const HOLD_POLL_MS = 10;

export const countJob: JobTypeDefinition = {
  type: 'core.count',
  version: 1,
  resumable: true,
  description: 'Counts to `to`, one durable checkpoint per step (optionally waiting `delay_ms` between steps and recording acknowledged values in `ack_file`).',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['to'],
    properties: {
      to: { type: 'integer', minimum: 0, maximum: 100_000_000, description: 'Number to count to.' },
      delay_ms: { type: 'integer', minimum: 0, maximum: 60_000, default: 0, description: 'Wait between steps.' },
      ack_file: { type: 'string', minLength: 1, description: 'Append each acknowledged value to this file.' },
      hold_file: { type: 'string', minLength: 1, description: 'Wait before each step while this file exists (pause and cancel still work).' },
    },
  },
  touches: (params) => {
    const ackFile = (params as CountParams).ack_file;
    return ackFile ? [{ path: ackFile, access: 'write', what: 'core.count ack_file' }] : [];
  },
  async run(ctx) {
    const params = ctx.params as CountParams;
    let n = (ctx.state as { n: number } | null)?.n ?? 0;
    while (n < params.to) {
      while (params.hold_file && existsSync(params.hold_file)) {
        // Held: still answering pause and cancel, and not taken for stalled.
        if ((await ctx.progress({ message: `held by ${params.hold_file}` })) !== 'continue') return { status: 'interrupted', state: { n } };
        try {
          await sleep(HOLD_POLL_MS, undefined, { signal: ctx.signal });
        } catch {
          return { status: 'interrupted', state: { n } };
        }
      }
      n++;
      const r = await ctx.progress({ state: { n }, fraction: n / params.to, itemsDone: n, itemsTotal: params.to });
      if (params.ack_file) appendFileSync(params.ack_file, `${n}\n`);
      if (r !== 'continue') return { status: 'interrupted', state: { n } };
      if (params.delay_ms) {
        try {
          await sleep(params.delay_ms, undefined, { signal: ctx.signal });
        } catch {
          return { status: 'interrupted', state: { n } };
        }
      }
    }
    return { status: 'completed', output: { n } };
  },
};
