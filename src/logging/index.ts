/**
 * Structured logging with pino: readable lines in a terminal (pino-pretty, honouring NO_COLOR),
 * one JSON object per line when asked (`log.format: json`) or when writing to a file.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import type { SpacedriveOptions } from '../config/index.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: SpacedriveOptions['log']['level'];
  format: SpacedriveOptions['log']['format'];
  /** Where lines go; default stderr. */
  destination?: DestinationStream | NodeJS.WritableStream;
  name?: string;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = { level: opts.level, name: opts.name ?? 'spacedrive' };
  if (opts.format === 'json') {
    return pino(base, (opts.destination as DestinationStream | undefined) ?? pino.destination({ fd: 2, sync: true }));
  }
  const stream = pretty({
    colorize: !process.env.NO_COLOR && (opts.destination === undefined ? process.stderr.isTTY : false),
    destination: opts.destination ?? 2,
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
