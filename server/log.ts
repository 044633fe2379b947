import { pino, type Logger } from 'pino';

/**
 * Structured JSON logs. Lines carry ids, paths, statuses and timings, never a token,
 * a password, a query value or a resource body: those may hold secrets or health data.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'kiln' },
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.token'], remove: true },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
