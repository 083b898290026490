/**
 * The peer of the `extensions` bench section: the Extism JavaScript host (`@extism/extism`) in
 * worker mode (`runInWorker: true`, the only mode in which a call can be stopped from outside),
 * running build/bench/extism-noop.wasm — the same no-op logic as test-ext's `noop`, written with
 * `@extism/as-pdk` (extensions/bench-extism, built by scripts/build-extensions.mjs).
 *
 * Two properties of that host shape the measurement:
 *  - a plugin is not reentrant (a second call while one runs throws "plugin is not reentrant"),
 *    so calls with many in flight go to a small pool of plugins, each taking one call at a time
 *    from a shared FIFO queue — the same shape as our sandbox's instance pool;
 *  - the JS host fails after 16,383 calls on one plugin unless `plugin.reset()` is called now and
 *    then: every plugin is reset after at most {@link RESET_EVERY} calls, between timed segments,
 *    so the resets are not in the figures (this flatters the peer slightly, never us).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { summarise, type Measurement } from './harness.js';

const EXTISM_WASM = fileURLToPath(new URL('../../build/bench/extism-noop.wasm', import.meta.url));

/** Calls per plugin between two resets; below the host's 16,383-call failure. */
export const RESET_EVERY = 10_000;

type ExtismPlugin = Awaited<ReturnType<typeof import('@extism/extism').default>>;

/** A pool of Extism worker-mode plugins with a FIFO queue in front of them. */
export class ExtismPool {
  readonly #plugins: ExtismPlugin[];
  readonly #idle: ExtismPlugin[];
  readonly #waiting: Array<(p: ExtismPlugin) => void> = [];

  private constructor(plugins: ExtismPlugin[]) {
    this.#plugins = plugins;
    this.#idle = [...plugins];
  }

  /** Starts `size` plugins (one worker thread each) on the peer module. */
  static async start(size: number): Promise<ExtismPool> {
    const { default: createPlugin } = await import('@extism/extism');
    const data = readFileSync(EXTISM_WASM);
    const plugins = await Promise.all(
      Array.from({ length: size }, () => createPlugin({ wasm: [{ data }] }, { useWasi: false, runInWorker: true })),
    );
    return new ExtismPool(plugins);
  }

  get size(): number {
    return this.#plugins.length;
  }

  /** Calls `fn` with `input` (JSON in) on the next free plugin and parses its output (JSON out). */
  async call(fn: string, input: unknown): Promise<unknown> {
    const plugin = this.#idle.pop() ?? (await new Promise<ExtismPlugin>((resolve) => this.#waiting.push(resolve)));
    try {
      const out = await plugin.call(fn, JSON.stringify(input));
      return out === null ? null : (JSON.parse(out.text()) as unknown);
    } finally {
      const next = this.#waiting.shift();
      if (next) next(plugin);
      else this.#idle.push(plugin);
    }
  }

  /** Resets every plugin's memory (call only when no call is in flight). */
  async reset(): Promise<void> {
    const results = await Promise.all(this.#plugins.map((p) => p.reset()));
    if (results.some((ok) => !ok)) throw new Error('an Extism plugin refused reset() (a call was still in flight)');
  }

  async close(): Promise<void> {
    await Promise.all(this.#plugins.map((p) => p.close()));
  }
}

/**
 * Like the harness's `measure`, in segments of at most {@link RESET_EVERY} calls with a reset of
 * every plugin between segments; the clock runs only inside segments.
 */
export async function measureExtism(
  name: string,
  pool: ExtismPool,
  fn: string,
  input: unknown,
  opts: { ops: number; concurrency?: number; warmup?: number },
): Promise<Measurement> {
  const concurrency = opts.concurrency ?? 1;
  const warmup = opts.warmup ?? 500;
  for (let i = 0; i < warmup; i++) await pool.call(fn, input);
  await pool.reset();
  const lat = new Float64Array(opts.ops);
  let seconds = 0;
  for (let segStart = 0; segStart < opts.ops; segStart += RESET_EVERY) {
    const segEnd = Math.min(opts.ops, segStart + RESET_EVERY);
    let next = segStart;
    const lane = async (): Promise<void> => {
      while (true) {
        const i = next++;
        if (i >= segEnd) return;
        const t0 = performance.now();
        await pool.call(fn, input);
        lat[i] = (performance.now() - t0) * 1000;
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, lane));
    seconds += (performance.now() - t0) / 1000;
    await pool.reset();
  }
  return summarise(
    name,
    lat,
    seconds,
    `peer; ${pool.size} plugin${pool.size === 1 ? '' : 's'}; reset() every ${RESET_EVERY} calls, outside the clock`,
  );
}
