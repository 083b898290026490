/**
 * Typed client surface for the job operations, added to the client's known methods by
 * declaration merging (see src/client/types.ts).
 */
import type { WireJobStatus, WireJobSummary, WireJobType } from './operations.js';
import type { JobStatus } from './types.js';
import type { WireClusterNode } from './cluster/operations.js';

declare module '../client/types.js' {
  interface KnownQueries {
    'query:jobs.list.v1': {
      input: { status?: JobStatus | JobStatus[]; job_type?: string; limit?: number; cursor?: string };
      output: { jobs: WireJobSummary[]; next_cursor: string | null };
    };
    'query:jobs.get_status.v1': { input: { job_id: string }; output: WireJobStatus };
    'query:jobs.logs.v1': {
      input: { job_id: string; after_seq?: number; limit?: number };
      output: { logs: Array<{ seq: number; time: string; level: 'debug' | 'info' | 'warn' | 'error'; message: string }> };
    };
    'query:jobs.types.v1': {
      input: { owner?: string };
      output: { types: WireJobType[] };
    };
    'query:cluster.nodes.v1': { input: Record<string, never>; output: { nodes: WireClusterNode[]; store: 'sqlite' | 'postgres' } };
  }
  interface KnownActions {
    'action:jobs.dispatch.input.v1': {
      input: { job_type: string; params?: unknown; priority?: number; run_at?: string | number; max_attempts?: number; dedupe_key?: string; idempotency_key?: string };
      output: { job_id: string; deduplicated: boolean; replayed?: boolean };
    };
    'action:jobs.pause.input.v1': { input: { job_id: string }; output: WireJobStatus };
    'action:jobs.resume.input.v1': { input: { job_id: string }; output: WireJobStatus };
    'action:jobs.cancel.input.v1': { input: { job_id: string }; output: WireJobStatus };
    'action:jobs.retry.input.v1': { input: { job_id: string; from_scratch?: boolean }; output: WireJobStatus };
  }
}

export {};
