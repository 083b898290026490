/**
 * Structured logging with pino: readable lines in a terminal (pino-pretty, honouring NO_COLOR),
 * one JSON object per line when asked (`log.format: json`) or when writing to a file.
 */
import { fstatSync, ftruncateSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import type { SpacedriveOptions } from '../config/index.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: SpacedriveOptions['log']['level'];
  format: SpacedriveOptions['log']['format'];
  /** Where lines go; default stderr (through a {@link LogFileStream}). */
  destination?: DestinationStream | NodeJS.WritableStream;
  name?: string;
}

/** Milliseconds a log line waits for a full pipe before it is dropped. */
const MAX_BUSY_WAITS = 2000;
const busyWaitCell = new Int32Array(new SharedArrayBuffer(4));
let droppedInProcess = 0;

/** Log lines this process could not write, in all (core.status shows it as `log_lines_dropped`). */
export function logLinesDropped(): number {
  return droppedInProcess;
}

/**
 * Log lines written synchronously to a file descriptor (stderr: the background daemon's
 * `daemon.log`), such that a failed write never takes the process down. pino's own destination
 * emits 'error' on a failed write, and an 'error' nobody listens to ends the process: a full
 * disk under the log file killed the daemon within seconds. Here a line that cannot be written
 * (ENOSPC, EIO, EPIPE, anything) is dropped and counted, and the first line written after that
 * says how many were lost.
 */
export class LogFileStream extends Writable {
  readonly #fd: number;
  /** Lines dropped since the last one that was written. */
  dropped = 0;
  /** Whether a dropped line was cut short, so the next write must start on a new line. */
  #midLine = false;

  constructor(fd: number) {
    super({ decodeStrings: true });
    this.#fd = fd;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.dropped > 0) {
      const notice = `${this.#midLine ? '\n' : ''}${JSON.stringify({ level: 40, time: Date.now(), msg: `${this.dropped} log line(s) were dropped: the log could not be written (disk full?)` })}\n`;
      if (!this.#writeAll(Buffer.from(notice))) {
        this.#drop();
        callback();
        return;
      }
      this.dropped = 0;
      this.#midLine = false;
    }
    if (!this.#writeAll(chunk)) this.#drop();
    // Never an error: the caller (pino) must not see one, see the class comment.
    callback();
  }

  /** Cuts the `written` bytes of a line cut short off a log file again, so that no half line stays. */
  #takeBack(written: number): boolean {
    try {
      const info = fstatSync(this.#fd);
      if (!info.isFile()) return false;
      const size = info.size;
      ftruncateSync(this.#fd, size - written);
      return true;
    } catch {
      return false;
    }
  }

  #drop(): void {
    this.dropped++;
    droppedInProcess++;
  }

  /** Writes all of `data`, or as much as the disk takes; false when some of it was lost. */
  #writeAll(data: Buffer): boolean {
    let off = 0;
    let busyWaits = 0;
    while (off < data.length) {
      try {
        off += writeSync(this.#fd, data.subarray(off));
      } catch (err) {
        // A non-blocking pipe that is full for now (the reader is slow): wait for it, a while.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && busyWaits++ < MAX_BUSY_WAITS) {
          Atomics.wait(busyWaitCell, 0, 0, 1);
          continue;
        }
        if (off > 0 && !this.#takeBack(off)) this.#midLine = true;
        return false;
      }
    }
    return true;
  }
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = { level: opts.level, name: opts.name ?? 'spacedrive' };
  const destination = opts.destination ?? new LogFileStream(2);
  if (opts.format === 'json') {
    return pino(base, destination as DestinationStream);
  }
  const stream = pretty({
    colorize: !process.env.NO_COLOR && (opts.destination === undefined ? process.stderr.isTTY : false),
    destination,
    sync: true,
    ignore: 'pid,hostname',
    translateTime: 'SYS:HH:MM:ss.l',
  });
  return pino(base, stream);
}

/** A logger that drops everything (tests, in-process benches). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
