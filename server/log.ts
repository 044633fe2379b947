import { pino, type Logger } from 'pino';

/**
 * Structured JSON logs. Lines carry ids, paths, statuses and timings, never a token,
 * a password, a query value or a resource body: those may hold secrets or health data.
 * Every call site names the fields it logs (no request or header objects are passed
 * in), which is what keeps them out; pino's path redaction is not used because it
 * costs more on every line than the whole rest of the logging.
 */
export function createLogger(level: string): Logger {
  const log = pino(
    {
      level,
      base: { service: 'kiln', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Buffered: one write per 4 KiB of log lines rather than one system call per request;
    // flushed every second and by `flushLogs` on shutdown.
    pino.destination({ dest: 1, sync: false, minLength: 4096 }),
  );
  // A quiet server still shows its lines within a second.
  setInterval(() => log.flush(), 1000).unref();
  return log;
}

/** Writes out buffered log lines (before the process exits). */
export function flushLogs(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}
