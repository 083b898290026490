/**
 * Reading a request the cheap way on @hono/node-server: from Node's IncomingMessage rather than
 * through `c.req.raw`, which builds a whole WHATWG Request (body stream and abort signal) on first
 * use and costs more than the rest of a no-op call (src/bench/http.bench.ts measured it).
 */
import { setMaxListeners } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Context } from 'hono';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { parseFrame } from '../wire/framing.js';

interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

function bindings(c: Context): NodeBindings {
  return (c.env ?? {}) as NodeBindings;
}

/** The body's bytes, refused with FRAME_TOO_LARGE past `maxBytes` (the wire's frame limit). */
export function readBody(c: Context, maxBytes: number): Promise<Buffer> {
  const incoming = bindings(c).incoming;
  const tooLarge = (): SpacedriveError =>
    new SpacedriveError(ErrorCode.FRAME_TOO_LARGE, `the request body is larger than the limit of ${maxBytes} bytes`, { limit: maxBytes });
  if (!incoming) {
    return c.req.arrayBuffer().then((ab) => {
      if (ab.byteLength > maxBytes) throw tooLarge();
      return Buffer.from(ab);
    });
  }
  const declared = Number(incoming.headers['content-length']);
  if (declared > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    incoming.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        incoming.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    incoming.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    incoming.once('error', reject);
  });
}

/** The JSON body (empty: undefined), read with the wire's depth limit so that both refuse the same. */
export async function readJson(c: Context, limits: { maxBytes: number; maxDepth: number }): Promise<unknown> {
  const bytes = await readBody(c, limits.maxBytes);
  if (bytes.length === 0) return undefined;
  return parseFrame(bytes, limits.maxDepth);
}

const connectionSignals = new WeakMap<Socket, AbortSignal>();

/**
 * Aborted when the client's connection closes, as the wire's per-connection signal: one per
 * keep-alive connection, not per request, since a client that goes away closes its connection.
 */
export function clientGone(c: Context): AbortSignal | undefined {
  const socket = bindings(c).incoming?.socket;
  if (!socket) return undefined;
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
