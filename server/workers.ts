import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { createApp, type App } from './app.js';
import type { Config } from './config.js';
import { createLogger, flushLogs } from './log.js';

/**
 * `KILN_WORKERS`: `kiln serve` as several processes sharing one listening socket
 * (node:cluster), so a machine's cores all answer requests. Each worker is an ordinary
 * `kiln serve` process: Kiln keeps nothing in a process that another must see (tokens,
 * sessions, login throttles and search-parameter readiness all live in the database),
 * which is also what lets several machines serve one PostgreSQL database.
 *
 * The primary process serves nothing. It prepares the database once (migrations,
 * signing keys, sample data) so that the workers do not race to do it, then starts
 * the workers, replaces one that dies, and on SIGTERM/SIGINT stops them all, each
 * finishing its in-flight requests, before it exits.
 *
 * Connections are handed to the workers in turn (node:cluster's round-robin policy), so
 * a client's keep-alive connections spread evenly. On SQLite, writers in different
 * workers wait for each other's transactions (see `inTransaction`); reads never wait.
 *
 * See: https://nodejs.org/api/cluster.html
 */

/** A worker that dies sooner than this after starting counts as failing to start. */
const MIN_UPTIME_MS = 10_000;
/** Failed starts in a row after which the primary gives up (exits with an error). */
const MAX_FAILED_STARTS = 5;

/** True in a process that `runWorkers` started. */
export const isWorker = cluster.isWorker;

/**
 * Runs the primary: prepares the database with `prepare`, starts `config.workers`
 * workers (running the same command line as this process) and supervises them.
 * Resolves once every worker has stopped after a signal, with the exit code to use.
 */
export async function runWorkers(config: Config, prepare: (app: App) => Promise<void>): Promise<number> {
  const log = createLogger(config.logLevel).child({ role: 'primary' });
  const app = await createApp(config, { log });
  try {
    await prepare(app);
  } finally {
    await app.close();
  }
  cluster.schedulingPolicy = cluster.SCHED_RR;
  return supervise(config.workers, log);
}

function supervise(count: number, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    const started = new Map<Worker, number>();
    let stopping = false;
    let failedStarts = 0;
    let exitCode = 0;
    const start = () => {
      const worker = cluster.fork();
      started.set(worker, Date.now());
      worker.once('listening', () => log.info({ worker: worker.process.pid }, 'worker listening'));
    };
    const finish = () => {
      if (Object.keys(cluster.workers ?? {}).length > 0) return;
      log.info({ code: exitCode }, 'all workers stopped');
      void flushLogs(log).then(() => resolve(exitCode));
    };
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping workers');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
      finish();
    };
    cluster.on('exit', (worker, code, signal) => {
      const uptime = Date.now() - (started.get(worker) ?? 0);
      started.delete(worker);
      if (stopping) {
        if (code !== 0) exitCode = 1;
        finish();
        return;
      }
      log.error({ worker: worker.process.pid, code, signal, uptimeMs: uptime }, 'worker exited; starting another');
      failedStarts = uptime < MIN_UPTIME_MS ? failedStarts + 1 : 0;
      if (failedStarts >= MAX_FAILED_STARTS) {
        log.fatal({ failedStarts }, 'workers keep failing to start; stopping');
        exitCode = 1;
        stop('SIGTERM');
        return;
      }
      start();
    });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop(signal));
    log.info({ workers: count }, 'starting workers');
    for (let i = 0; i < count; i++) start();
  });
}
