/**
 * WAL checkpoints on a thread of their own, for a database that one busy connection writes.
 *
 * Why: in WAL mode SQLite appends each commit to the `-wal` file and, by default, the committing
 * connection copies the WAL back into the database file whenever it has grown past 1,000 pages
 * (`wal_autocheckpoint`). That copy, with its two fsyncs, runs inside whichever commit crossed the
 * line: on the daemon's event loop, one commit in a few hundred stalled for milliseconds, and under
 * a stream of small job transactions those stalls were a fifth of all the time spent committing.
 *
 * Here a worker thread with its own connection runs `PRAGMA wal_checkpoint(PASSIVE)` after
 * commits, at most once per `intervalMs`. A passive checkpoint never blocks the writer, and once it
 * has copied every frame the writer starts the WAL over from the beginning, so the file stays
 * small. The writer's own automatic checkpoint stays on as a safety net with a higher threshold
 * (`fallbackPages`): if the thread falls behind or dies, the WAL still cannot grow without bound.
 * Durability is unchanged: a commit is as durable as the connection's `synchronous` makes it
 * before it returns; checkpoints only move committed pages.
 *
 * The thread starts after `startAfterCommits` commits, so that short-lived databases (tests, a
 * CLI opening a store for one read) never pay for a thread. While it is idle it sleeps in
 * `Atomics.wait` and costs nothing; a commit costs the writer one atomic add and a notify.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

export interface BackgroundCheckpointOptions {
  /** Commits after which the thread starts. Default 256. */
  startAfterCommits?: number;
  /** Least time between two checkpoints, in ms. Default 20. */
  intervalMs?: number;
  /** The writer's own automatic checkpoint threshold while the thread runs, in pages. Default 10,000 (about 40 MiB). */
  fallbackPages?: number;
}

/** Slots of the shared control array. */
const COMMITS = 0;
const STOP = 1;
const CHECKPOINTS = 2;
const SLOTS = 3;

/** SQLite's default `wal_autocheckpoint`, restored if the thread stops on its own. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

interface WorkerData {
  driver: string;
  path: string;
  ctrl: Int32Array;
  intervalMs: number;
}

/**
 * The thread's body, handed to `new Worker(source, { eval: true })` as source text: it must not
 * refer to anything outside itself.
 */
function checkpointerMain(): void {
  const wt = require('node:worker_threads') as typeof import('node:worker_threads');
  const data = wt.workerData as WorkerData;
  const Driver = require(data.driver) as typeof Database;
  const { ctrl } = data;
  const db = new Driver(data.path, { fileMustExist: true });
  // A checkpoint waits for the writer's short transactions rather than failing on them.
  db.pragma('busy_timeout = 5000');
  wt.parentPort!.postMessage('ready');
  // From 0, not the count now: commits made while this thread was starting count too (with
  // none after them it would otherwise wait for the next commit before its first checkpoint).
  let seen = 0;
  for (;;) {
    while (Atomics.load(ctrl, 1 /* STOP */) === 0 && Atomics.load(ctrl, 0) === seen) Atomics.wait(ctrl, 0, seen);
    if (Atomics.load(ctrl, 1) !== 0) break;
    seen = Atomics.load(ctrl, 0);
    db.pragma('wal_checkpoint(PASSIVE)');
    Atomics.add(ctrl, 2 /* CHECKPOINTS */, 1);
    // At most one checkpoint per interval: commits in the meantime are picked up by the next.
    Atomics.wait(ctrl, 1, 0, data.intervalMs);
  }
  db.close();
}

const WORKER_SOURCE = `(${checkpointerMain.toString()})();`;
const DRIVER_PATH = createRequire(import.meta.url).resolve('better-sqlite3');

/**
 * Checkpoints `db` (a WAL database at `path`, opened by this process) from a worker thread.
 * Call {@link committed} after each commit and {@link close} before closing `db`.
 */
export class BackgroundCheckpoints {
  readonly #db: Database.Database;
  readonly #path: string;
  readonly #ctrl = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
  readonly #startAfter: number;
  readonly #intervalMs: number;
  readonly #fallbackPages: number;
  #commits = 0;
  #worker: Worker | null = null;
  #exited: Promise<void> | null = null;
  #closed = false;
  /** Why the thread stopped on its own, if it did (the writer checkpoints by itself again). */
  failure: Error | null = null;

  constructor(db: Database.Database, path: string, opts: BackgroundCheckpointOptions = {}) {
    this.#db = db;
    this.#path = path;
    this.#startAfter = opts.startAfterCommits ?? 256;
    this.#intervalMs = opts.intervalMs ?? 20;
    this.#fallbackPages = opts.fallbackPages ?? 10_000;
  }

  /** Checkpoints the thread has run so far. */
  get checkpoints(): number {
    return Atomics.load(this.#ctrl, CHECKPOINTS);
  }

  /** Whether the thread is running (it starts after `startAfterCommits` commits). */
  get running(): boolean {
    return this.#worker !== null && this.failure === null;
  }

  /** Tells the thread that a transaction committed. */
  committed(): void {
    if (this.#worker !== null) {
      Atomics.add(this.#ctrl, COMMITS, 1);
      Atomics.notify(this.#ctrl, COMMITS);
    } else if (++this.#commits >= this.#startAfter && !this.#closed && this.failure === null) {
      this.#start();
    }
  }

  #start(): void {
    const data: WorkerData = { driver: DRIVER_PATH, path: this.#path, ctrl: this.#ctrl, intervalMs: this.#intervalMs };
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: data, stdout: false, stderr: false });
    worker.unref();
    this.#worker = worker;
    worker.once('message', () => {
      // Running: the writer only checkpoints by itself past the safety net.
      if (!this.#closed && this.failure === null) this.#db.pragma(`wal_autocheckpoint = ${this.#fallbackPages}`);
    });
    this.#exited = new Promise<void>((resolve) => {
      worker.once('error', (err) => this.#stoppedOnItsOwn(err));
      worker.once('exit', (code) => {
        if (!this.#closed && this.failure === null) this.#stoppedOnItsOwn(new Error(`the checkpoint thread exited with code ${code}`));
        resolve();
      });
    });
  }

  #stoppedOnItsOwn(err: Error): void {
    if (this.#closed || this.failure !== null) return;
    this.failure = err;
    this.#db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
  }

  /** Stops the thread and waits until its connection is closed (call before closing the writer). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#worker === null) return;
    Atomics.store(this.#ctrl, STOP, 1);
    Atomics.notify(this.#ctrl, COMMITS);
    Atomics.notify(this.#ctrl, STOP);
    // Hold the process open until the thread has closed its connection.
    this.#worker.ref();
    await this.#exited;
  }
}
