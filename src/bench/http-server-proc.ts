/**
 * Server side of the `http` bench section, each in its own process (the way the daemon runs):
 *   node dist/bench/http-server-proc.js echo|hono|fastify|daemon <dataDir>
 * Prints `ready <port> <token>` on stdout once listening on 127.0.0.1, and exits when stdin closes.
 *  - echo: a bare node:http server that reads the body, parses it and answers `{}` (the floor);
 *  - hono / fastify: the two frameworks considered, each with one no-op JSON route (the choice);
 *  - daemon: the real daemon with `http.listen` and the bench's no-op query.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadOptions } from '../config/index.js';
import { readOrCreateApiToken } from '../daemon/api-token.js';
import { startDaemon } from '../daemon/index.js';
import { silentLogger } from '../logging/index.js';
import { noopQuery } from './core-shared.js';

function listening(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function main(): Promise<void> {
  const [mode, dataDir] = process.argv.slice(2);
  let port: number;
  let token = '-';
  let stop: () => Promise<void>;
  if (mode === 'echo') {
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        JSON.parse(body || '{}');
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    port = await listening(server);
    stop = () => new Promise((r) => server.close(() => r()));
  } else if (mode === 'hono') {
    const { Hono } = await import('hono');
    const { serve } = await import('@hono/node-server');
    const app = new Hono();
    app.post('/noop', async (c) => c.json(((await c.req.json()) as object) && {}));
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }) as Server;
    await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
    port = (server.address() as AddressInfo).port;
    stop = () => new Promise((r) => server.close(() => r()));
  } else if (mode === 'fastify') {
    const { default: Fastify } = await import('fastify');
    const app = Fastify({ logger: false });
    app.post('/noop', async () => ({}));
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
    stop = () => app.close();
  } else if (mode === 'daemon' && dataDir) {
    const options = loadOptions({ overrides: { dataDir, http: { listen: '127.0.0.1:0' } }, env: {} });
    const daemon = await startDaemon(options, { logger: silentLogger(), extraOperations: [noopQuery] });
    port = Number(new URL(daemon.httpUrl!).port);
    token = readOrCreateApiToken(options).token;
    stop = () => daemon.close();
  } else {
    process.stderr.write('usage: http-server-proc echo|hono|fastify|daemon <dataDir>\n');
    process.exitCode = 2;
    return;
  }
  process.stdout.write(`ready ${port} ${token}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    void stop().then(() => process.exit(0));
  });
}

void main();
