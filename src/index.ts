/**
 * The package's public entry (`import … from 'spacedrive-extensions'`): the library API for
 * embedding core, running the daemon, and talking to it. The typed client is also available
 * alone as `spacedrive-extensions/client`.
 */
export * from './errors/index.js';
export * from './config/index.js';
export { createLogger, silentLogger, type Logger, type LoggerOptions } from './logging/index.js';
export * from './events/index.js';
export * from './schema/index.js';
export * from './registry/index.js';
export * from './execute/index.js';
export { Core, CORE_OPERATIONS, VERSION, type CoreServices, type CreateCoreOptions, type ExecuteOptions } from './core/index.js';
export * from './wire/protocol.js';
export { SpacedriveClient } from './client/index.js';
export type * from './client/types.js';
export {
  startDaemon,
  runDaemonForeground,
  startDaemonInBackground,
  stopDaemon,
  daemonStatus,
  pidFilePath,
  logFilePath,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type RunningDaemon,
  type StartDaemonOptions,
} from './daemon/index.js';
