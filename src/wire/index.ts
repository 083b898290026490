/**
 * The wire protocol: message types (./protocol.ts), framing with limits (./framing.ts) and the
 * daemon-side server (./server.ts). docs/wire-protocol.md is the normative description.
 */
export * from './protocol.js';
export { FrameSplitter, jsonDepth, parseFrame, type FrameSink } from './framing.js';
export {
  WireServer,
  bindUnixSocket,
  type BoundUnixSocket,
  Connection,
  MAX_ID_LENGTH,
  MAX_SUBSCRIPTIONS_PER_CONNECTION,
  MAX_EVENT_BACKLOG_BYTES,
  AUTH_TIMEOUT_MS,
  type WireServerOptions,
  type ListenTcpOptions,
} from './server.js';
