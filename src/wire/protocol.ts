/**
 * Wire protocol message shapes (newline-delimited JSON). docs/wire-protocol.md is the
 * normative description; keep the two in step.
 *
 * Client → daemon, one JSON object per line, each with a client-chosen `id` (string or number):
 *   {"id":1,"type":"query","method":"query:core.status.v1","library_id":null,"payload":{}}
 *   {"id":2,"type":"action","method":"action:files.copy.input.v1","library_id":null,"payload":{…}}
 *   {"id":3,"type":"ping"}
 *   {"id":4,"type":"subscribe","event_types":["job:progress"],"filter":{"job_id":"…"}}
 *   {"id":5,"type":"unsubscribe","subscription":"s1"}
 *   {"id":6,"type":"shutdown"}
 *   {"id":0,"type":"auth","token":"…"}            (TCP: the first frame; a wrong token closes)
 * Daemon → client:
 *   {"id":1,"ok":true,"result":…}
 *   {"id":1,"ok":false,"error":{"code":"INVALID_INPUT","message":"…","details":{…}}}
 *   {"event":{"type":"job:progress","time":…,"payload":{…}},"subscription":"s1"}   (no id)
 *   {"id":null,"ok":false,"error":{…}}             (a frame whose id could not be read)
 */
import type { WireError } from '../errors/index.js';
import type { CoreEvent, EventFilter } from '../events/index.js';

export const PROTOCOL_VERSION = 1;

/**
 * Chosen by the client and echoed in its responses. The daemon echoes a number that is not a
 * safe integer as the characters sent (docs/wire-protocol.md, "Ids and pipelining").
 */
export type RequestId = string | number;

export interface QueryRequest {
  id: RequestId;
  type: 'query';
  method: string;
  library_id?: string | null;
  payload?: unknown;
}

export interface ActionRequest {
  id: RequestId;
  type: 'action';
  method: string;
  library_id?: string | null;
  payload?: unknown;
}

export interface PingRequest {
  id: RequestId;
  type: 'ping';
}

export interface SubscribeRequest {
  id: RequestId;
  type: 'subscribe';
  /** Event types (`job:progress`, `job:*`); empty or absent means all. */
  event_types?: string[];
  filter?: EventFilter;
}

export interface UnsubscribeRequest {
  id: RequestId;
  type: 'unsubscribe';
  subscription: string;
}

export interface ShutdownRequest {
  id: RequestId;
  type: 'shutdown';
}

export interface AuthRequest {
  id: RequestId;
  type: 'auth';
  token: string;
}

export type WireRequest = QueryRequest | ActionRequest | PingRequest | SubscribeRequest | UnsubscribeRequest | ShutdownRequest | AuthRequest;

export interface PingResult {
  pong: true;
  version: string;
  protocol: number;
}

export interface SubscribeResult {
  subscription: string;
}

export type WireResponse =
  | { id: RequestId | null; ok: true; result: unknown }
  | { id: RequestId | null; ok: false; error: WireError };

export interface WireEventFrame {
  event: CoreEvent;
  subscription: string;
}

export type WireServerFrame = WireResponse | WireEventFrame;
