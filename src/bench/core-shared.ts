/** Pieces the `core` bench section shares between its in-process and separate-process runs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { defineOperation } from '../registry/index.js';

export const NOOP = 'query:bench.noop.v1';

/** A query that does nothing, so the figures are the cost of the path around it. */
export const noopQuery = defineOperation<Record<string, never>, Record<string, never>>({
  method: NOOP,
  kind: 'query',
  scope: 'core',
  description: 'Does nothing (benchmarks).',
  input: { type: 'object' },
  output: { type: 'object' },
  handler: () => ({}),
});

/** The floor: reads lines, parses each, answers `{"id":…,"ok":true,"result":{}}`. */
export function startEchoServer(path: string): Promise<Server> {
  const server = createServer((socket: Socket) => {
    let partial = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const text = partial + chunk;
      let start = 0;
      let out = '';
      let nl = text.indexOf('\n');
      while (nl !== -1) {
        const msg = JSON.parse(text.slice(start, nl)) as { id: number };
        out += JSON.stringify({ id: msg.id, ok: true, result: {} }) + '\n';
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      partial = text.slice(start);
      if (out) socket.write(out);
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

const DAEMON_SCRIPT = fileURLToPath(new URL('./core-server.js', import.meta.url));

/** Starts the bench's daemon (src/bench/core-server.ts) in its own process; resolves once it listens. */
export function startDaemonProcess(socketPath: string, dataDir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DAEMON_SCRIPT, 'daemon', socketPath, dataDir], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdout!.setEncoding('utf8').once('data', (d: string) => (d.startsWith('ready') ? resolve(child) : reject(new Error(d))));
    child.once('exit', (code) => reject(new Error(`bench daemon exited with code ${code}`)));
  });
}

/** Stops a daemon from startDaemonProcess (closing its stdin asks it to shut down). */
export function stopDaemonProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.stdin!.end();
  });
}
