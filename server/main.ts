import cluster from 'node:cluster';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createApp, type App } from './app.js';
import { loadConfig, type Config } from './config.js';
import { flushLogs } from './log.js';
import { httpsOptions } from './tls.js';

export interface Running {
  server: HttpServer | HttpsServer;
  app: App;
  /** Where this process listens, `https://` when it serves TLS itself. */
  url: string;
  /** Stops accepting, lets in-flight requests finish, then closes the database. */
  stop(): Promise<void>;
}

/**
 * `kiln serve`: configuration → app → listen, with graceful shutdown on SIGTERM/SIGINT.
 * `onReady` runs before listening (sample data on an empty database).
 * Serves HTTPS (TLS 1.2+) when `KILN_TLS_CERT` and `KILN_TLS_KEY` are set, plain HTTP
 * otherwise (for loopback use or behind a TLS-terminating proxy).
 * See: https://hl7.org/fhir/smart-app-launch/app-launch.html#security-and-privacy-considerations
 */
export async function serve(config: Config = loadConfig(), onReady?: (app: App) => Promise<void>): Promise<Running> {
  // Before the database opens: a bad certificate path should stop start-up at once.
  const tls = httpsOptions(config);
  const app = await createApp(config);
  // Lets express see the client's scheme and address through X-Forwarded-* (req.protocol, req.ip).
  app.app.set('trust proxy', config.trustProxy);
  if (onReady) await onReady(app);
  const server = tls ? createHttpsServer(tls, app.handler) : createHttpServer(app.handler);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  app.log.info({ port, tls: tls !== undefined, baseUrl: config.baseUrl, engine: app.db.engine }, 'listening');
  await flushLogs(app.log);
  const sweeper = sweepEvery(app, SWEEP_INTERVAL_MS);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(sweeper);
      app.log.info('shutting down');
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 10_000).unref();
      });
      await app.close();
      await flushLogs(app.log);
    })());
  return { server, app, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, stop };
}

/** How often expired tokens, codes, sessions and replay records are deleted. */
const SWEEP_INTERVAL_MS = 10 * 60_000;

/** Deletes expired authorization rows now and then; a failure is logged and retried next time. */
function sweepEvery(app: App, ms: number): NodeJS.Timeout {
  const timer = setInterval(() => {
    app.smart.sweep().then(
      (n) => n > 0 && app.log.info({ deleted: n }, 'expired authorization rows deleted'),
      (err: unknown) => app.log.warn({ err }, 'sweeping expired authorization rows failed'),
    );
  }, ms);
  timer.unref();
  return timer;
}

/**
 * Wires SIGTERM and SIGINT to a graceful stop, then exit. A second signal to a process of
 * its own stops it at once (exit 1). A worker of `KILN_WORKERS` instead lets a second
 * signal join the stop under way: Ctrl-C reaches it and its primary, which passes it on.
 */
export function stopOnSignals(running: Running): void {
  let signalled = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (signalled && !cluster.isWorker) process.exit(1);
      signalled = true;
      running.stop().then(
        () => process.exit(0),
        (err) => {
          running.app.log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}
