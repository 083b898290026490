/**
 * Logging through `sd_log`. Lines land in the daemon's log, tagged with the extension and, for
 * jobs, in the job's log.
 */
import { sd_log } from "./host";

/** Log levels of `sd_log`. */
export enum LogLevel {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
}

/** Writes log lines to the host. Use the shared instance `log`. */
export class Logger {
  /** Writes `message` at `level`. */
  write(level: LogLevel, message: string): void {
    const buf = String.UTF8.encode(message);
    sd_log(<i32>level, changetype<usize>(buf), buf.byteLength);
  }
  /** Very detailed diagnostics. */
  trace(message: string): void {
    this.write(LogLevel.Trace, message);
  }
  /** Diagnostics. */
  debug(message: string): void {
    this.write(LogLevel.Debug, message);
  }
  /** Normal operation. */
  info(message: string): void {
    this.write(LogLevel.Info, message);
  }
  /** Something unexpected that the extension handled. */
  warn(message: string): void {
    this.write(LogLevel.Warn, message);
  }
  /** Something failed. */
  error(message: string): void {
    this.write(LogLevel.Error, message);
  }
}

/**
 * The extension's logger.
 *
 * @example
 * ```ts
 * log.info("scanned " + count.toString() + " receipts");
 * ```
 */
export const log = new Logger();
