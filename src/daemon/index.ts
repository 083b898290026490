/**
 * The daemon: core behind the wire server, on a Unix socket in the data directory (and
 * optionally loopback TCP). Started in the foreground by `spacedrive daemon`, in the background
 * by `spacedrive daemon start`, stopped by `spacedrive daemon stop`; the CLI calls these.
 */
import { spawn } from 'node:child_process';
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SpacedriveClient } from '../client/index.js';
import type { SpacedriveOptions } from '../config/index.js';
import { Core, type CreateCoreOptions } from '../core/index.js';
import { ErrorCode, SpacedriveError, hasErrorCode } from '../errors/index.js';
import { createLogger, type Logger } from '../logging/index.js';
import { Dispatcher } from '../dispatch/index.js';
import type { RunningHttpServer } from '../http-server/index.js';
import { WireServer, bindUnixSocket, type BoundUnixSocket } from '../wire/index.js';
import { readOrCreateApiToken } from './api-token.js';
import { isAlive, isDaemonProcess, livePid, logFilePath, readPidFile, removePidFile, waitForExit, writePidFile } from './pid-file.js';

export { pidFilePath, logFilePath, readPidFile } from './pid-file.js';

/** How long calls in flight may run on after a shutdown starts, by default. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;

/** The launcher the background daemon runs (resolves from src/daemon and dist/daemon alike). */
const BIN_PATH = fileURLToPath(new URL('../../bin/spacedrive.js', import.meta.url));

export interface RunningDaemon {
  core: Core;
  socketPath: string;
  /** The TCP port actually bound (options.tcp.port 0 picks a free one), or null. */
  tcpPort: number | null;
  /** The HTTP API's base URL (`http://127.0.0.1:7780`) when `http.listen` is set, else null. */
  httpUrl: string | null;
  /** Graceful shutdown; idempotent; resolves when everything is released. */
  close(): Promise<void>;
  /** Resolves once the daemon has shut down, whoever asked (close(), a Shutdown request, a signal). */
  closed: Promise<void>;
}

export interface StartDaemonOptions {
  logger?: Logger;
  /** Extra core operations (benchmarks, tests). */
  extraOperations?: CreateCoreOptions['extraOperations'];
  /** Bound on how long calls in flight may finish during shutdown. Default 5000 ms. */
  shutdownGraceMs?: number;
}

/**
 * Checks the socket path before listening: refuses when a daemon answers there, removes a
 * stale socket file (left by kill -9) otherwise.
 */
async function claimSocketPath(socketPath: string, dataDir: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(socketPath).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) {
    throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `${socketPath} exists and is not a socket; move it away or choose another socket path`, { socketPath });
  }
  const answers = await new Promise<boolean>((resolve) => {
    const probe = createConnection({ path: socketPath });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (answers) {
    const pid = readPidFile(dataDir);
    throw new SpacedriveError(
      ErrorCode.DAEMON_ALREADY_RUNNING,
      `a daemon is already running on ${socketPath}${pid ? ` (pid ${pid})` : ''}; stop it with 'spacedrive daemon stop' or use another --data-dir`,
      { socketPath, ...(pid ? { pid } : {}) },
    );
  }
  rmSync(socketPath, { force: true });
}

/**
 * Starts core and the wire server in this process. Throws DAEMON_ALREADY_RUNNING when another
 * daemon answers on the socket.
 */
export async function startDaemon(options: SpacedriveOptions, opts: StartDaemonOptions = {}): Promise<RunningDaemon> {
  const logger = opts.logger ?? createLogger({ level: options.log.level, format: options.log.format });
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  // A bad `http.listen` is refused before anything starts.
  const httpModule = options.http.listen ? await import('../http-server/index.js') : null;
  httpModule?.checkListen(options);
  await claimSocketPath(options.socketPath, options.dataDir);

  // Bind before core starts: the bind is the atomic claim on this data directory, so a second
  // daemon fails here and never opens (or "recovers") the first one's stores.
  let bound: BoundUnixSocket;
  try {
    bound = await bindUnixSocket(options.socketPath);
  } catch (err) {
    if (hasErrorCode(err, 'EADDRINUSE')) {
      throw new SpacedriveError(ErrorCode.DAEMON_ALREADY_RUNNING, `another daemon took ${options.socketPath} while this one was starting`, {
        socketPath: options.socketPath,
      });
    }
    throw err;
  }

  let core: Core;
  try {
    core = await Core.create(options, { logger, ...(opts.extraOperations ? { extraOperations: opts.extraOperations } : {}) });
  } catch (err) {
    await bound.close();
    rmSync(options.socketPath, { force: true });
    throw err;
  }
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let closing: Promise<void> | null = null;

  const close = (): Promise<void> => {
    if (!closing) {
      closing = (async () => {
        logger.info('daemon shutting down');
        try {
          dispatcher.close();
          await http?.close();
          await server.close(opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
        } finally {
          await core.close();
          rmSync(options.socketPath, { force: true });
          removePidFile(options.dataDir);
          logger.info('daemon stopped');
          resolveClosed();
        }
      })();
    }
    return closing;
  };

  // One dispatcher for every transport (src/dispatch): the wire and HTTP/GraphQL alike.
  const dispatcher = new Dispatcher({ core, logger });
  core.counters.set('dispatch', () => dispatcher.counters());
  let http: RunningHttpServer | null = null;
  const server = new WireServer({
    core,
    logger,
    dispatcher,
    // After the reply has been flushed; setImmediate lets the write go out first.
    onShutdownRequest: () => setImmediate(() => void close()),
  });
  core.counters.set('wire', () => ({ connections: server.connections.size, requests: server.requestsServed }));
  server.adopt(bound);

  let tcpPort: number | null = null;
  if (options.tcp) {
    try {
      tcpPort = await server.listenTcp(options.tcp);
    } catch (err) {
      await server.close(0);
      await core.close();
      rmSync(options.socketPath, { force: true });
      throw err;
    }
  }
  if (httpModule) {
    try {
      http = await httpModule.startHttpServer({ dispatcher, logger, options, token: readOrCreateApiToken(options).token });
    } catch (err) {
      await server.close(0);
      await core.close();
      rmSync(options.socketPath, { force: true });
      throw err;
    }
  }
  writePidFile(options.dataDir);
  logger.info(
    { socket: options.socketPath, tcpPort, httpUrl: http?.url ?? null, version: core.version, dataDir: options.dataDir },
    'daemon listening',
  );
  return { core, socketPath: options.socketPath, tcpPort, httpUrl: http?.url ?? null, close, closed };
}

/**
 * `spacedrive daemon`: runs until SIGTERM/SIGINT or a Shutdown request, then shuts down
 * gracefully (a second signal exits at once). Returns the process exit code. Start-up failures
 * (DAEMON_ALREADY_RUNNING, CONFIG_INVALID, …) are thrown for the CLI to report.
 */
export async function runDaemonForeground(options: SpacedriveOptions, opts: StartDaemonOptions = {}): Promise<number> {
  const daemon = await startDaemon(options, opts);
  const logger = daemon.core.logger;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      rmSync(options.socketPath, { force: true });
      removePidFile(options.dataDir);
      process.exit(130);
    }
    logger.info({ signal }, 'signal received');
    void daemon.close();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await daemon.closed;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  return 0;
}

/** Answers ping on the socket? Returns a connected client or null. */
async function probe(socketPath: string, timeoutMs = 2_000): Promise<SpacedriveClient | null> {
  try {
    const client = await SpacedriveClient.connect({ socketPath, reconnect: false, connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs });
    try {
      await client.ping();
      return client;
    } catch {
      await client.close();
      return null;
    }
  } catch {
    return null;
  }
}

/** The environment a background daemon gets, so it resolves the same options as the caller. */
function backgroundEnv(options: SpacedriveOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SPACEDRIVE_DATA_DIR: options.dataDir,
    SPACEDRIVE_SOCKET: options.socketPath,
    SPACEDRIVE_LOG_LEVEL: options.log.level,
    // A log file is read by tools, not people at a terminal.
    SPACEDRIVE_LOG_FORMAT: 'json',
    SPACEDRIVE_MAX_FRAME_BYTES: String(options.wire.maxFrameBytes),
  };
  if (options.http.listen) env.SPACEDRIVE_HTTP_LISTEN = options.http.listen;
  if (options.tcp) {
    env.SPACEDRIVE_TCP_HOST = options.tcp.host;
    env.SPACEDRIVE_TCP_PORT = String(options.tcp.port);
    env.SPACEDRIVE_TCP_TOKEN = options.tcp.token;
  }
  return env;
}

function logTail(file: string, fromByte: number, lines = 20): string {
  try {
    const text = readFileSync(file).subarray(fromByte).toString('utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * `spacedrive daemon start`: spawns a detached daemon (output to `<dataDir>/daemon.log`, JSON
 * logs) and returns once it answers ping. When one already answers, returns it with
 * `alreadyRunning: true`. Fails with DAEMON_START_FAILED and the log tail if it exits or does
 * not answer in time.
 */
export async function startDaemonInBackground(
  options: SpacedriveOptions,
  opts: { timeoutMs?: number } = {},
): Promise<{ pid: number; logFile: string; alreadyRunning: boolean }> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const logFile = logFilePath(options.dataDir);
  const existing = await probe(options.socketPath);
  if (existing) {
    let pid = readPidFile(options.dataDir);
    try {
      const status = (await existing.query('query:core.status.v1', {})) as { pid: number };
      pid = status.pid;
    } finally {
      await existing.close();
    }
    return { pid: pid ?? 0, logFile, alreadyRunning: true };
  }

  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const fd = openSync(logFile, 'a', 0o600);
  const logStart = statSync(logFile).size;
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let pid: number;
  try {
    const child = spawn(process.execPath, [BIN_PATH, 'daemon', '--data-dir', options.dataDir], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: backgroundEnv(options),
    });
    if (child.pid === undefined) throw new SpacedriveError(ErrorCode.DAEMON_START_FAILED, `could not spawn ${process.execPath}`);
    pid = child.pid;
    child.once('exit', (code, signal) => (exited = { code, signal }));
    child.unref();
  } finally {
    closeSync(fd);
  }

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) {
      const e = exited as { code: number | null; signal: NodeJS.Signals | null };
      throw new SpacedriveError(
        ErrorCode.DAEMON_START_FAILED,
        `the daemon exited during start-up (${e.signal ? `signal ${e.signal}` : `code ${e.code}`}); last lines of ${logFile}:\n${logTail(logFile, logStart)}`,
        { logFile, pid },
      );
    }
    const client = await probe(options.socketPath, 500);
    if (client) {
      await client.close();
      return { pid, logFile, alreadyRunning: false };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  throw new SpacedriveError(
    ErrorCode.DAEMON_START_FAILED,
    `the daemon did not answer within ${timeoutMs} ms; last lines of ${logFile}:\n${logTail(logFile, logStart)}`,
    { logFile, pid },
  );
}

/**
 * `spacedrive daemon stop`: sends a Shutdown request and waits for the daemon to go away; falls
 * back to SIGTERM, then SIGKILL, when it does not answer or does not exit in time.
 */
export async function stopDaemon(options: SpacedriveOptions, opts: { timeoutMs?: number } = {}): Promise<{ wasRunning: boolean; pid?: number }> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let pid = livePid(options.dataDir);
  const client = await probe(options.socketPath);
  if (client) {
    try {
      const status = (await client.query('query:core.status.v1', {})) as { pid: number };
      pid = status.pid;
      await client.shutdown();
    } catch (err) {
      if (!hasErrorCode(err, ErrorCode.CONNECTION_CLOSED)) throw err;
    } finally {
      await client.close();
    }
  } else if (pid === undefined) {
    return { wasRunning: false };
  }
  const result = pid !== undefined ? { wasRunning: true, pid } : { wasRunning: true };
  if (pid === undefined) {
    // Answered but named no pid: wait for the socket to go quiet.
    await waitUntil(async () => !(await answers(options.socketPath)), timeoutMs);
    return result;
  }
  if (pid === process.pid) {
    // An in-process daemon (tests): never signal ourselves; wait for it to close.
    await waitUntil(async () => !(await answers(options.socketPath)), timeoutMs);
    return result;
  }
  if (await waitForExit(pid, client ? timeoutMs : 0)) return result;
  if (isDaemonProcess(pid)) process.kill(pid, 'SIGTERM');
  if (await waitForExit(pid, timeoutMs)) return result;
  if (isDaemonProcess(pid)) process.kill(pid, 'SIGKILL');
  await waitForExit(pid, 5_000);
  // A killed daemon leaves its socket and pid file behind.
  rmSync(options.socketPath, { force: true });
  removePidFile(options.dataDir, pid);
  return result;
}

/** `spacedrive daemon status`: whether a daemon answers, its pid and its core.status result. */
export async function daemonStatus(options: SpacedriveOptions): Promise<{ running: boolean; pid?: number; socketPath: string; status?: unknown }> {
  const client = await probe(options.socketPath);
  if (!client) {
    // A live pid without an answering socket: starting up or hung; report it, not running.
    const pid = livePid(options.dataDir);
    return pid !== undefined ? { running: false, pid, socketPath: options.socketPath } : { running: false, socketPath: options.socketPath };
  }
  try {
    const status = (await client.query('query:core.status.v1', {})) as { pid: number };
    return { running: true, pid: status.pid, socketPath: options.socketPath, status };
  } finally {
    await client.close();
  }
}

async function answers(socketPath: string): Promise<boolean> {
  const c = await probe(socketPath, 500);
  if (c) await c.close();
  return c !== null;
}

async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

