/**
 * The loop behind `spacedrive extension dev`: watch the project's sources, rebuild (a dev build,
 * the compiler kept warm in this process), and hand the new package to `deploy` (the CLI reloads
 * it into the running daemon with `extensions.reload --from`, which lets running jobs of the
 * extension continue from their checkpoint on the new version). Edits arriving during a build
 * are coalesced into one more build.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, relative } from 'node:path';
import { buildProject, type BuildResult } from './build.js';
import { readProject, type ExtensionProject } from './project.js';

export interface DevCycle {
  /** What triggered it: the changed paths (relative to the project), or `start`. */
  reason: string[];
  ok: boolean;
  build?: BuildResult;
  error?: unknown;
  /** From the first change seen to the deploy finishing (or failing). */
  editToReadyMs: number;
  buildMs: number;
  deployMs: number;
}

export interface DevSessionOptions {
  dir: string;
  /** Installs or reloads the built package (build.packageDir) into the daemon. */
  deploy(build: BuildResult): Promise<void>;
  /** Called after each cycle (print it). */
  onCycle(cycle: DevCycle): void;
  /** Called when a change is seen and a build starts. */
  onChange?(paths: string[]): void;
  /** Quiet period after a change before building (editors write in several steps). Default 30 ms. */
  debounceMs?: number;
}

/** Paths that never need a rebuild: build output, tool state, editors' temporary files. */
function ignored(rel: string): boolean {
  const name = basename(rel);
  return (
    rel.startsWith('build') ||
    rel.startsWith('.spacedrive') ||
    rel.startsWith('node_modules') ||
    rel.startsWith('target') ||
    rel.startsWith('.git') ||
    rel.startsWith('test') ||
    name.endsWith('.sdext') ||
    name.startsWith('.#') ||
    name.endsWith('~') ||
    name.endsWith('.swp') ||
    name.endsWith('.tmp')
  );
}

export class DevSession {
  readonly project: ExtensionProject;
  readonly #o: DevSessionOptions;
  #watcher: FSWatcher | undefined;
  #pending: string[] = [];
  #firstChangeAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #closed = false;

  constructor(o: DevSessionOptions) {
    this.#o = o;
    this.project = readProject(o.dir);
  }

  /** Builds and deploys once, then watches. Resolves with the first cycle. */
  async start(): Promise<DevCycle> {
    // Watching first: an edit made during the first build triggers the next one.
    this.#watcher = watch(this.project.dir, { recursive: true }, (_event, file) => {
      if (this.#closed || !file) return;
      const rel = relative(this.project.dir, `${this.project.dir}/${file.toString()}`);
      if (ignored(rel)) return;
      if (this.#pending.length === 0) this.#firstChangeAt = performance.now();
      if (!this.#pending.includes(rel)) this.#pending.push(rel);
      this.#schedule();
    });
    const first = this.#cycle(['start'], performance.now());
    this.#running = first.then(() => undefined);
    const cycle = await first;
    this.#running = null;
    if (this.#pending.length > 0) this.#schedule();
    return cycle;
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#drain(), this.#o.debounceMs ?? 30);
  }

  async #drain(): Promise<void> {
    if (this.#running || this.#pending.length === 0 || this.#closed) return;
    const paths = this.#pending.splice(0);
    const since = this.#firstChangeAt;
    this.#o.onChange?.(paths);
    this.#running = this.#cycle(paths, since).then(() => undefined);
    await this.#running;
    this.#running = null;
    // Changes seen while building: one more build for all of them.
    if (this.#pending.length > 0) this.#schedule();
  }

  async #cycle(reason: string[], since: number): Promise<DevCycle> {
    const started = performance.now();
    let build: BuildResult | undefined;
    let buildMs = 0;
    try {
      build = await buildProject(this.project.dir, { optimize: 'dev', listRegistrations: false });
      buildMs = performance.now() - started;
      const deployStarted = performance.now();
      await this.#o.deploy(build);
      const cycle: DevCycle = { reason, ok: true, build, editToReadyMs: performance.now() - since, buildMs, deployMs: performance.now() - deployStarted };
      this.#o.onCycle(cycle);
      return cycle;
    } catch (error) {
      const cycle: DevCycle = { reason, ok: false, error, editToReadyMs: performance.now() - since, buildMs: buildMs || performance.now() - started, deployMs: 0, ...(build ? { build } : {}) };
      this.#o.onCycle(cycle);
      return cycle;
    }
  }

  /** Stops watching (a build in progress finishes). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#watcher?.close();
    if (this.#running) await this.#running;
  }
}
