/** pino everywhere, and pino as the Temporal Runtime logger so workflow and SDK logs reach it too. */
import pino from 'pino';
import type { Logger as PinoLogger } from 'pino';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/worker';
import type { Config } from './config';

/** Paths always redacted: payloads never reach the logs, nor do credentials in headers. */
export const DEFAULT_REDACT_PATHS = [
  'payload',
  '*.payload',
  'envelope.payload',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  'apiKey',
];

/** Creates the project's pino logger. JSON by default, pretty on a TTY (`LOG_FORMAT=auto`). */
export function createLogger(
  config: Pick<Config, 'LOG_LEVEL' | 'LOG_FORMAT' | 'LOG_REDACT'>,
  destination?: pino.DestinationStream,
): PinoLogger {
  const pretty =
    !destination &&
    (config.LOG_FORMAT === 'pretty' || (config.LOG_FORMAT === 'auto' && process.stdout.isTTY));
  const options: pino.LoggerOptions = {
    level: config.LOG_LEVEL,
    base: { service: 'temporal-dlq' },
    redact: { paths: [...DEFAULT_REDACT_PATHS, ...config.LOG_REDACT], censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}

const LEVEL_MAP: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Adapts pino to the SDK's `Logger` interface, for `Runtime.install({ logger })`. */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly pino: PinoLogger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.pino[LEVEL_MAP[level]]({ ...meta, origin: 'temporal' }, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
