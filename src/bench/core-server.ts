/**
 * Server side of the `core` bench section when it runs in its own process (the way the CLI and
 * the daemon run): `node dist/bench/core-server.js echo|daemon <socketPath> <dataDir>`. Prints
 * `ready` on stdout once listening and exits when stdin closes.
 */
import { loadOptions } from '../config/index.js';
import { startDaemon } from '../daemon/index.js';
import { silentLogger } from '../logging/index.js';
import { noopQuery, startEchoServer } from './core-shared.js';

async function main(): Promise<void> {
  const [mode, socketPath, dataDir] = process.argv.slice(2);
  if ((mode !== 'echo' && mode !== 'daemon') || !socketPath || !dataDir) {
    process.stderr.write('usage: core-server echo|daemon <socketPath> <dataDir>\n');
    process.exitCode = 2;
    return;
  }
  let stop: () => Promise<void>;
  if (mode === 'echo') {
    const server = await startEchoServer(socketPath);
    stop = () => new Promise((r) => server.close(() => r()));
  } else {
    const options = loadOptions({ overrides: { dataDir, socketPath }, env: {} });
    const daemon = await startDaemon(options, { logger: silentLogger(), extraOperations: [noopQuery] });
    stop = () => daemon.close();
  }
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    void stop().then(() => process.exit(0));
  });
}

void main();
