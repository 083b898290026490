/**
 * `query:cluster.nodes.v1`: the daemons sharing this daemon's store (collected into
 * jobsOperations). A daemon alone (SQLite) lists itself.
 */
import { operationsWith } from '../../modules/index.js';
import type { JobHandlerServices } from '../operations.js';

const defineOperation = operationsWith<JobHandlerServices>();

export interface WireClusterNode {
  node_id: string;
  host: string;
  pid: number;
  version: string;
  started_at: string;
  heartbeat_at: string;
  jobs_running: number;
  draining: boolean;
  /** The node answering this query. */
  self: boolean;
  /** No heartbeat for longer than a lease: killed or cut off from the store; its jobs move to other nodes. */
  lost: boolean;
}

export const clusterNodes = defineOperation<Record<string, never>, { nodes: WireClusterNode[]; store: 'sqlite' | 'postgres' }>({
  method: 'query:cluster.nodes.v1',
  kind: 'query',
  scope: 'core',
  description: 'The nodes (daemons) of the cluster sharing this store: id, host, version, start, last heartbeat, jobs running, draining.',
  input: { type: 'object', additionalProperties: false, properties: {} },
  output: { type: 'object', required: ['nodes', 'store'], properties: { nodes: { type: 'array' }, store: { enum: ['sqlite', 'postgres'] } } },
  handler: async (_input, { core }) => ({
    store: core.jobs.store.shared ? 'postgres' : 'sqlite',
    nodes: (await core.jobs.nodes()).map((n) => ({
      node_id: n.id,
      host: n.host,
      pid: n.pid,
      version: n.version,
      started_at: new Date(n.startedAt).toISOString(),
      heartbeat_at: new Date(n.heartbeatAt).toISOString(),
      jobs_running: n.jobsRunning,
      draining: n.draining,
      self: n.self,
      lost: n.lost,
    })),
  }),
});
