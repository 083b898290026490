/**
 * The cluster's clock: the database server's, as this node estimates it.
 *
 * Lease expiry, `run_at` and heartbeats are written by one node and compared by another, so every
 * node must write and read them on one clock. Nodes' own clocks drift and are sometimes simply
 * wrong: a node ten minutes ahead would see every other node's leases expired and requeue jobs
 * that are running, and one behind would leave new jobs "not yet due". So each node measures the
 * offset of its clock to the database server's at start and at every heartbeat — the server's
 * `clock_timestamp()` against the midpoint of the round trip that read it, good to half that round
 * trip — and the job runtime reads local time plus that offset.
 */

/** A measurement whose round trip took longer than this is too coarse to move the estimate. */
const MAX_USEFUL_ROUND_TRIP_MS = 1_000;

export class ClusterClock {
  #offsetMs = 0;
  #measured = false;

  /** `local` is this machine's clock (Date.now; tests skew it). */
  constructor(private readonly local: () => number = Date.now) {}

  /** Milliseconds since the epoch on the database server's clock, estimated. */
  readonly now = (): number => this.local() + this.#offsetMs;

  /** Server time minus this machine's time, as last measured (0 before the first measurement). */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  /**
   * Measures the offset once: `readServerTime` returns the server's time in milliseconds. Returns
   * the offset in use afterwards (unchanged when the round trip was too slow to be useful, unless
   * nothing better was ever measured).
   */
  async measure(readServerTime: () => Promise<number>): Promise<number> {
    const sentAt = this.local();
    const serverMs = await readServerTime();
    const receivedAt = this.local();
    const roundTrip = receivedAt - sentAt;
    if (roundTrip >= 0 && (roundTrip <= MAX_USEFUL_ROUND_TRIP_MS || !this.#measured)) {
      this.#offsetMs = Math.round(serverMs - (sentAt + receivedAt) / 2);
      this.#measured = true;
    }
    return this.#offsetMs;
  }
}
