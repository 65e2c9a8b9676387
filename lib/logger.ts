/**
 * pino logging. One root logger per process; one child per request or workflow. Secrets are redacted
 * by path so that a careless `log.info({ headers })` cannot leak them.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["webhook-signature"]',
  'headers.authorization',
  'headers["webhook-signature"]',
  '*.password',
  '*.secret',
  '*.token',
  '*.clientSecret',
  '*.bindPassword',
  'password',
  'secret',
  'token',
];

/** Creates the process's root logger. */
export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'offboard',
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
