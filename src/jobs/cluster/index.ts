/**
 * One daemon's membership in a cluster: daemons (nodes) sharing one PostgreSQL job store.
 *
 * - **Nodes table.** Each node keeps a row (`id`, `worker_id` = this process's lease owner,
 *   host, pid, version, started_at, heartbeat_at, draining), rewritten at start and touched every
 *   `jobs.heartbeatMs`; a clean stop deletes it.
 * - **Leases.** The runner renews its running jobs' leases on the same beat; every beat also
 *   recovers jobs whose lease expired on any node (their node died or lost the database), which
 *   go back to the queue and resume from their last checkpoint on whichever node claims them.
 * - **Notifications** (LISTEN/NOTIFY, one channel per topic, payloads are ids):
 *   `sd_jobs_runnable` (a job became queued: a trigger on the jobs table sends its type) wakes
 *   the runner; `sd_jobs_control` (`pause:<id>` / `cancel:<id>`) reaches the node running the job
 *   at once; `sd_job_events` relays job events (progress etc.) so that a subscriber on any node
 *   sees every job; `sd_extensions` carries extension install/enable/disable/reload. Polling
 *   (`jobs.pollIntervalMs`, and a checkpoint's answer for pause/cancel) is the fallback for
 *   notifications lost while the listening connection was down.
 */
import { hostname } from 'node:os';
import type { CoreEvent, EventBus, Subscription } from '../../events/index.js';
import type { Logger } from '../../logging/index.js';
import type { PostgresDatabase } from '../../storage/postgres/index.js';
import type { JobsOptions } from '../../config/index.js';
import type { Runner } from '../runner.js';
import { RUNNABLE_CHANNEL, type ControlRequest, type JobStore } from '../store/index.js';

import type { ClusterClock } from './clock.js';

export { nodeIdentity } from './node-id.js';
export { ClusterClock } from './clock.js';

export const CONTROL_CHANNEL = 'sd_jobs_control';
export const EVENTS_CHANNEL = 'sd_job_events';
export const EXTENSIONS_CHANNEL = 'sd_extensions';
/** A node started or stopped having job-event subscribers (payload: its id). */
export const LISTENERS_CHANNEL = 'sd_event_listeners';
/** Every job event type (a subscriber to any of them makes a node listen). */
const JOB_EVENTS = ['job:queued', 'job:started', 'job:progress', 'job:retrying', 'job:paused', 'job:resumed', 'job:completed', 'job:failed', 'job:cancelled'];
/** Job events that end a run: relayed whether or not another node is known to listen. */
const ENDING_EVENTS = new Set(['job:completed', 'job:failed', 'job:cancelled', 'job:paused']);
/** How long job events wait to be relayed together (invisible to a person watching; see #queueRelay). */
const RELAY_WINDOW_MS = 5;
/** A clock this far from the database's is worth a warning (the job runtime corrects it either way). */
const NOTABLE_CLOCK_OFFSET_MS = 1_000;
/** PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more. */
const MAX_PAYLOAD = 7_900;

/** A node as `spacedrive cluster nodes` shows it. */
export interface ClusterNodeInfo {
  id: string;
  host: string;
  pid: number;
  version: string;
  startedAt: number;
  heartbeatAt: number;
  draining: boolean;
  /** Jobs this node holds a lease on now. */
  jobsRunning: number;
  /** This node (the one answering). */
  self: boolean;
  /** No heartbeat for longer than a lease: the node is gone (killed, cut off); its jobs move. */
  lost: boolean;
}

export type ExtensionChangeKind = 'installed' | 'enabled' | 'disabled' | 'reloaded' | 'uninstalled';
const EXTENSION_EVENTS: readonly ExtensionChangeKind[] = ['installed', 'enabled', 'disabled', 'reloaded', 'uninstalled'];

export interface ExtensionChange {
  extensionId: string;
  change: ExtensionChangeKind;
  /** The node the change happened on. */
  node: string;
}

/** What every node of a cluster offers the rest of the daemon (and what a single node offers too). */
export interface ClusterBus {
  readonly nodeId: string;
  /** Calls `listener` for every extension change made on another node. */
  onExtensionChange(listener: (change: ExtensionChange) => void): () => void;
  /** Tells every other node about an extension change made here. */
  announceExtensionChange(extensionId: string, change: ExtensionChangeKind): Promise<void>;
}

export interface ClusterNodeOptions {
  db: PostgresDatabase;
  /** The job runtime's clock, which this node keeps in step with the database's (measured at start and every heartbeat). */
  clock: ClusterClock;
  store: JobStore;
  runner: Runner;
  events: EventBus;
  logger: Logger;
  nodeId: string;
  version: string;
  options: JobsOptions;
  /** Recovers jobs whose lease expired (the job system's, which also logs them). */
  recoverExpired: () => Promise<void>;
}

/** The database server's clock in milliseconds since the epoch (clock_timestamp: the moment it is read, not the transaction's start). */
const SERVER_TIME = 'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS t';

export class ClusterNode implements ClusterBus {
  readonly nodeId: string;
  /** When this incarnation started, on the cluster's clock (set by {@link start}). */
  #startedAt = 0;
  readonly clock: ClusterClock;
  /** The clock offset last warned about (warned again when it moves by another NOTABLE_CLOCK_OFFSET_MS). */
  #warnedOffset = 0;
  readonly #db: PostgresDatabase;
  readonly #runner: Runner;
  readonly #events: EventBus;
  readonly #logger: Logger;
  readonly #opts: ClusterNodeOptions;
  readonly #unlisten: Array<() => Promise<void>> = [];
  readonly #extensionListeners = new Set<(change: ExtensionChange) => void>();
  #relay: Subscription | null = null;
  #extensionRelay: Subscription | null = null;
  /** Set while re-emitting an event from another node, so that it is not relayed back. */
  #relaying = false;
  #outbox: Array<[string, Record<string, unknown>]> = [];
  #flushScheduled = false;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #beating = false;
  #draining = false;
  #stopped = false;
  /** Whether the last heartbeat reached the database (logged on change only). */
  #reachable = true;
  /** Whether a client here subscribes to job events (then this node LISTENs for the others'). */
  #listening = false;
  /** Whether any other node has such a subscriber (then this node relays its job events). */
  #othersListening = false;
  #unlistenEvents: (() => Promise<void>) | null = null;
  #stopWatchingSubscriptions: (() => void) | null = null;

  constructor(opts: ClusterNodeOptions) {
    this.#opts = opts;
    this.nodeId = opts.nodeId;
    this.clock = opts.clock;
    this.#db = opts.db;
    this.#runner = opts.runner;
    this.#events = opts.events;
    this.#logger = opts.logger;
  }

  /** Registers this node, listens to the cluster's channels, starts the heartbeat. */
  async start(): Promise<void> {
    // Before anything is written or compared: the node's row, then the start's recovery.
    await this.#syncClock();
    this.#startedAt = this.clock.now();
    await this.#register();
    const repoll = () => this.#runner.schedulePump();
    this.#unlisten.push(await this.#db.listen(RUNNABLE_CHANNEL, () => this.#runner.schedulePump(), repoll));
    this.#unlisten.push(await this.#db.listen(CONTROL_CHANNEL, (payload) => this.#onControl(payload)));
    this.#unlisten.push(await this.#db.listen(EXTENSIONS_CHANNEL, (payload) => this.#onExtension(payload)));
    this.#unlisten.push(await this.#db.listen(LISTENERS_CHANNEL, (payload) => {
      if (payload !== this.nodeId) void this.#refreshOthersListening();
    }));
    this.#relay = this.#events.subscribe(['job:*'], undefined, (event) => this.#queueRelay(event));
    // Job events cross the cluster only towards nodes with a subscriber: most nodes have none,
    // and relaying every job's events to every node would cost each node the cluster's events.
    this.#stopWatchingSubscriptions = this.#events.onSubscriptionsChange(() => void this.#updateListening());
    await this.#updateListening();
    await this.#refreshOthersListening();
    // Extension changes made here are announced to the other nodes (whose managers reload from
    // the shared store); changes heard from elsewhere are applied without an event, so no echo.
    this.#extensionRelay = this.#events.subscribe(EXTENSION_EVENTS.map((c) => `extension:${c}`), undefined, (event) => {
      const id = (event.payload as { id?: unknown }).id;
      if (typeof id === 'string') void this.announceExtensionChange(id, event.type.slice('extension:'.length) as ExtensionChangeKind).catch(() => undefined);
    });
    this.#heartbeatTimer = setInterval(() => void this.heartbeat(), this.#opts.options.heartbeatMs);
    this.#heartbeatTimer.unref();
  }

  /** Whether a subscription other than the relay receives job events here; LISTEN/UNLISTEN and tell the others on a change. */
  async #updateListening(): Promise<void> {
    if (this.#stopped) return;
    const own = this.#relay ? 1 : 0;
    const listening = JOB_EVENTS.some((type) => this.#events.subscribers(type) > own);
    if (listening === this.#listening) return;
    this.#listening = listening;
    try {
      if (listening && !this.#unlistenEvents) this.#unlistenEvents = await this.#db.listen(EVENTS_CHANNEL, (payload) => this.#onEvents(payload));
      if (!listening && this.#unlistenEvents) {
        const stop = this.#unlistenEvents;
        this.#unlistenEvents = null;
        await stop();
      }
      await this.#db.execute('UPDATE nodes SET listening = $2 WHERE id = $1', [this.nodeId, listening]);
      await this.#db.notify(LISTENERS_CHANNEL, this.nodeId);
    } catch (err) {
      // The next heartbeat writes the flag again.
      this.#logger.debug({ err }, 'could not record whether this node listens to job events');
    }
  }

  async #refreshOthersListening(): Promise<void> {
    try {
      const [r] = await this.#db.query<{ any: boolean | null }>('SELECT bool_or(listening) AS any FROM nodes WHERE id <> $1 AND heartbeat_at > $2', [this.nodeId, this.clock.now() - this.#opts.options.leaseMs]);
      this.#othersListening = r?.any === true;
    } catch {
      // Kept as it was until the next heartbeat.
    }
  }

  /** Measures this node's clock against the database's (see ClusterClock); warns when it is far off. */
  async #syncClock(): Promise<void> {
    const offset = await this.clock.measure(async () => {
      const [r] = await this.#db.query<{ t: number }>(SERVER_TIME);
      return r!.t;
    });
    if (Math.abs(offset - this.#warnedOffset) >= NOTABLE_CLOCK_OFFSET_MS) {
      this.#warnedOffset = offset;
      this.#logger.warn(
        { node: this.nodeId, clock_offset_ms: offset },
        `this machine's clock is ${Math.abs(offset)} ms ${offset > 0 ? 'behind' : 'ahead of'} the database's; the job runtime uses the database's time (leases, run_at), but keep clocks in sync (NTP)`,
      );
    }
  }

  async #register(): Promise<void> {
    const now = this.clock.now();
    await this.#db.execute(
      `INSERT INTO nodes (id, worker_id, host, pid, version, started_at, heartbeat_at, draining) VALUES ($1, $2, $3, $4, $5, $6, $7, false)
       ON CONFLICT (id) DO UPDATE SET worker_id = $2, host = $3, pid = $4, version = $5, started_at = $6, heartbeat_at = $7, draining = false`,
      [this.nodeId, this.#runner.workerId, hostname(), process.pid, this.#opts.version, this.#startedAt, now],
    );
  }

  /**
   * One beat: the node's row, its leases (the runner's heartbeat), and recovery of expired
   * leases anywhere. While the database is unreachable this fails (logged once); the runner
   * meanwhile stops claiming (its claims fail) and gives up its runs as their leases lapse.
   */
  async heartbeat(): Promise<void> {
    if (this.#beating || this.#stopped) return;
    this.#beating = true;
    try {
      await this.#syncClock();
      const n = await this.#db.execute('UPDATE nodes SET heartbeat_at = $2, draining = $3, listening = $5 WHERE id = $1 AND worker_id = $4', [this.nodeId, this.clock.now(), this.#draining, this.#runner.workerId, this.#listening]);
      // Our row was replaced by another process with the same node id, or deleted: take it back.
      if (n === 0 && !this.#draining) await this.#register();
      await this.#runner.heartbeat();
      if (!this.#draining) await this.#opts.recoverExpired();
      await this.#refreshOthersListening();
      if (!this.#reachable) {
        this.#reachable = true;
        this.#logger.info({ node: this.nodeId }, 'the shared store is reachable again; claiming jobs');
        this.#runner.schedulePump();
      }
    } catch (err) {
      if (this.#reachable) {
        this.#reachable = false;
        this.#logger.warn({ err, node: this.nodeId }, 'cluster heartbeat failed: the shared store is unreachable; running jobs stop when their leases lapse');
      }
    } finally {
      this.#beating = false;
    }
  }

  /** Asks the node running `jobId` (whichever it is) to pause or cancel it now. */
  async announceControl(jobId: string, request: ControlRequest): Promise<void> {
    await this.#db.notify(CONTROL_CHANNEL, `${request}:${jobId}`).catch((err: unknown) => {
      // Not fatal: the running job learns of the request at its next checkpoint.
      this.#logger.debug({ err, job_id: jobId }, 'could not announce a job control request');
    });
  }

  #onControl(payload: string): void {
    const colon = payload.indexOf(':');
    const request = payload.slice(0, colon);
    if (request !== 'pause' && request !== 'cancel') return;
    for (const id of payload.slice(colon + 1).split(',')) if (this.#runner.isRunningHere(id)) this.#runner.notifyRequest(id, request);
  }

  #queueRelay(event: CoreEvent): void {
    if (this.#relaying || this.#stopped) return;
    // A job's end goes out always: a client that subscribed on another node a moment ago (before
    // this node heard of it) and waits for the end must get it. The rest only while heard.
    if (!this.#othersListening && !ENDING_EVENTS.has(event.type)) return;
    this.#outbox.push([event.type, event.payload as Record<string, unknown>]);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // Events of a short window go out together: one NOTIFY (one transaction, one wake-up of every
    // listening node) for all of them rather than one per turn of the event loop, which under load
    // was nearly one per job.
    setTimeout(() => this.#flushRelay(), RELAY_WINDOW_MS).unref();
  }

  #flushRelay(): void {
    this.#flushScheduled = false;
    const events = this.#outbox;
    this.#outbox = [];
    const head = `{"n":${JSON.stringify(this.nodeId)},"e":[`;
    let batch: string[] = [];
    let size = head.length + 2;
    const send = () => {
      if (batch.length === 0) return;
      const payload = `${head}${batch.join(',')}]}`;
      batch = [];
      size = head.length + 2;
      void this.#db.notify(EVENTS_CHANNEL, payload).catch((err: unknown) => this.#logger.debug({ err }, 'relaying job events failed'));
    };
    for (const [type, payload] of events) {
      let text = JSON.stringify([type, payload]);
      if (Buffer.byteLength(text) > MAX_PAYLOAD - head.length - 2) {
        // Too large for a notification (a big output): the receiving node reads it from the store.
        const { output: _output, ...rest } = payload;
        text = JSON.stringify([type, { ...rest, output_omitted: true }]);
        if (Buffer.byteLength(text) > MAX_PAYLOAD - head.length - 2) continue;
      }
      if (size + text.length + 1 > MAX_PAYLOAD) send();
      batch.push(text);
      size += Buffer.byteLength(text) + 1;
    }
    send();
  }

  #onEvents(payload: string): void {
    let parsed: { n: string; e: Array<[string, Record<string, unknown>]> };
    try {
      parsed = JSON.parse(payload);
    } catch {
      return;
    }
    if (parsed.n === this.nodeId) return;
    for (const [type, body] of parsed.e) {
      if (body.output_omitted === true && typeof body.job_id === 'string') {
        void this.#opts.store.get(body.job_id).then(
          (job) => {
            const { output_omitted: _omitted, ...rest } = body;
            this.#emitRemote(type, { ...rest, output: job?.output ?? null, node: parsed.n });
          },
          () => this.#emitRemote(type, { ...body, node: parsed.n }),
        );
        continue;
      }
      this.#emitRemote(type, { ...body, node: parsed.n });
    }
  }

  #emitRemote(type: string, payload: Record<string, unknown>): void {
    this.#relaying = true;
    try {
      this.#events.emit(type, payload);
    } finally {
      this.#relaying = false;
    }
  }

  onExtensionChange(listener: (change: ExtensionChange) => void): () => void {
    this.#extensionListeners.add(listener);
    return () => this.#extensionListeners.delete(listener);
  }

  async announceExtensionChange(extensionId: string, change: ExtensionChangeKind): Promise<void> {
    await this.#db.notify(EXTENSIONS_CHANNEL, JSON.stringify({ n: this.nodeId, x: extensionId, c: change }));
  }

  #onExtension(payload: string): void {
    let msg: { n: string; x: string; c: ExtensionChangeKind };
    try {
      msg = JSON.parse(payload);
    } catch {
      return;
    }
    if (msg.n === this.nodeId) return;
    for (const l of this.#extensionListeners) {
      try {
        l({ extensionId: msg.x, change: msg.c, node: msg.n });
      } catch (err) {
        this.#logger.warn({ err, extension: msg.x }, 'an extension change listener failed');
      }
    }
  }

  /** Every node of the cluster, this one first. */
  async nodes(): Promise<ClusterNodeInfo[]> {
    const rows = await this.#db.query<{ id: string; worker_id: string; host: string; pid: number; version: string; started_at: number; heartbeat_at: number; draining: boolean; running: number }>(
      `SELECT n.*, (SELECT count(*)::int FROM jobs j WHERE j.status = 'running' AND j.lease_owner = n.worker_id) AS running FROM nodes n ORDER BY n.started_at`,
    );
    const now = this.clock.now();
    const out = rows.map((r) => ({
      id: r.id,
      host: r.host,
      pid: r.pid,
      version: r.version,
      startedAt: r.started_at,
      heartbeatAt: r.heartbeat_at,
      draining: r.draining,
      jobsRunning: r.running,
      self: r.id === this.nodeId,
      lost: now - r.heartbeat_at > this.#opts.options.leaseMs,
    }));
    return [...out.filter((n) => n.self), ...out.filter((n) => !n.self)];
  }

  /** `daemon stop`: shown as draining; the runner stops claiming and hands back its jobs (JobSystem.close). */
  async drain(): Promise<void> {
    this.#draining = true;
    await this.#db.execute('UPDATE nodes SET draining = true WHERE id = $1 AND worker_id = $2', [this.nodeId, this.#runner.workerId]).catch((err: unknown) => {
      this.#logger.debug({ err }, 'could not mark this node draining');
    });
  }

  /** Whether this node relays its job events (another node has a subscriber to them). */
  get relaysEvents(): boolean {
    return this.#othersListening;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** After the runner stopped: leaves the cluster (row deleted, channels closed). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    if (this.#outbox.length > 0) this.#flushRelay();
    this.#stopped = true;
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    this.#stopWatchingSubscriptions?.();
    this.#relay?.unsubscribe();
    this.#extensionRelay?.unsubscribe();
    if (this.#unlistenEvents) await this.#unlistenEvents().catch(() => undefined);
    for (const u of this.#unlisten.splice(0)) await u().catch(() => undefined);
    await this.#db.execute('DELETE FROM nodes WHERE id = $1 AND worker_id = $2', [this.nodeId, this.#runner.workerId]).catch(() => undefined);
  }
}

/** The bus of a daemon that is alone (SQLite): no other node to hear from or tell. */
export class SingleNodeBus implements ClusterBus {
  constructor(readonly nodeId: string) {}
  onExtensionChange(): () => void {
    return () => undefined;
  }
  announceExtensionChange(): Promise<void> {
    return Promise.resolve();
  }
}
