/**
 * Requests read from Node's IncomingMessage rather than through Hono's `c.req.raw`, which builds a
 * whole WHATWG Request (body stream, abort signal) on first use and costs more than the rest of a
 * no-op call (src/bench/http.bench.ts measured it).
 */
import { setMaxListeners } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Context } from 'hono';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { parseFrame } from '../wire/framing.js';

export interface BodyLimits {
  /** Largest body in bytes (the wire's frame limit). */
  maxBytes: number;
  /** Deepest JSON nesting (the wire's). */
  maxDepth: number;
}

/** Node's request behind a Hono context (@hono/node-server puts it in `c.env.incoming`). */
export function incomingOf(c: Context): IncomingMessage {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming) throw new SpacedriveError(ErrorCode.INTERNAL, 'the HTTP API runs on @hono/node-server only');
  return incoming;
}

/** The body's bytes, refused with FRAME_TOO_LARGE past `maxBytes`. */
export function readBody(incoming: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = (): SpacedriveError =>
    new SpacedriveError(ErrorCode.FRAME_TOO_LARGE, `the request body is larger than the limit of ${maxBytes} bytes`, { limit: maxBytes });
  if (Number(incoming.headers['content-length']) > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    incoming.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        // Refused; the rest is read and dropped (Node drains it after the answer), so that the
        // client, still sending, gets the 413 rather than a broken pipe.
        if (chunks.length > 0) chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    incoming.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    incoming.once('error', reject);
  });
}

/** The JSON body (empty: undefined), read with the wire's limits so that both refuse the same. */
export async function readJson(incoming: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  const bytes = await readBody(incoming, limits.maxBytes);
  if (bytes.length === 0) return undefined;
  return parseFrame(bytes, limits.maxDepth);
}

const connectionSignals = new WeakMap<Socket, AbortSignal>();

/**
 * Aborted when the client's connection closes, as the wire's per-connection signal: one per
 * keep-alive connection, not per request, since a client that goes away closes its connection.
 */
export function connectionSignal(incoming: IncomingMessage): AbortSignal {
  const socket = incoming.socket;
  let signal = connectionSignals.get(socket);
  if (!signal) {
    const controller = new AbortController();
    // Every call in flight on this connection listens to it: not a leak.
    setMaxListeners(0, controller.signal);
    socket.once('close', () => controller.abort(new SpacedriveError(ErrorCode.CANCELLED, 'the client disconnected')));
    signal = controller.signal;
    connectionSignals.set(socket, signal);
  }
  return signal;
}
