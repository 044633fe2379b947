import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type App } from './app.js';
import { loadConfig, type Config } from './config.js';
import { flushLogs } from './log.js';

export interface Running {
  server: Server;
  app: App;
  url: string;
  /** Stops accepting, lets in-flight requests finish, then closes the database. */
  stop(): Promise<void>;
}

/**
 * `kiln serve`: configuration → app → listen, with graceful shutdown on SIGTERM/SIGINT.
 * `onReady` runs before listening (sample data on an empty database).
 */
export async function serve(config: Config = loadConfig(), onReady?: (app: App) => Promise<void>): Promise<Running> {
  const app = await createApp(config);
  if (onReady) await onReady(app);
  const server = createServer(app.handler);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  app.log.info({ port, baseUrl: config.baseUrl, engine: app.db.engine }, 'listening');
  await flushLogs(app.log);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      app.log.info('shutting down');
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 10_000).unref();
      });
      await app.close();
      await flushLogs(app.log);
    })());
  return { server, app, url: `http://127.0.0.1:${port}`, stop };
}

/** Wires SIGTERM and SIGINT to a graceful stop, then exit. */
export function stopOnSignals(running: Running): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
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
