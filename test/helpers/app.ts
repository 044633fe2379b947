import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type App } from '../../server/app.js';
import { loadConfig, type Config } from '../../server/config.js';
import type { Engine } from '../../server/db/connect.js';
import { backendToken } from './auth.js';
import { freshDatabase, type TestDatabase } from './db.js';

/** Key material for the secret box of test apps (PostgreSQL requires one). */
export const TEST_SECRET_KEY = 'kiln-test-secret-key-material-0123456789';

export interface TestApp {
  app: App;
  /** The FHIR base URL, e.g. http://127.0.0.1:40123/fhir/r4 */
  base: string;
  origin: string;
  database: TestDatabase;
  config: Config;
  /** A backend-services access token with `system/*.*`, sent by `fhirFetch` unless told otherwise. */
  token: string;
  stop(): Promise<void>;
}

/**
 * Starts the real application, built by the same factory production uses, on an
 * ephemeral port (or `opts.port`, to come back where a stopped app was) over a fresh
 * database of the given engine, or over `opts.database`, which `stop()` then leaves to
 * the caller so that another app can open it after.
 */
export async function startTestApp(engine: Engine, env: Record<string, string> = {}, opts: { database?: TestDatabase; port?: number } = {}): Promise<TestApp> {
  const database = opts.database ?? (await freshDatabase(engine));
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const config = loadConfig({ KILN_BASE_URL: `${origin}/fhir/r4`, KILN_LOG_LEVEL: 'silent', KILN_SECRET_KEY: TEST_SECRET_KEY, ...env });
  const app = await createApp(config, { db: database.db });
  server.on('request', app.handler);
  return {
    app,
    base: config.baseUrl,
    origin,
    database,
    config,
    token: await backendToken(app),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close();
      if (!opts.database) await database.drop();
    },
  };
}

/** A port the OS just handed out and released, for a child process to listen on. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** fetch against the FHIR base, JSON in and out. */
export async function fhirFetch(
  t: TestApp,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; token?: string | null } = {},
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const headers: Record<string, string> = { accept: 'application/fhir+json', ...init.headers };
  // `token: null` sends none; the default is the test app's full-access backend token.
  const token = init.token === undefined ? t.token : init.token;
  if (token !== null && headers.authorization === undefined) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    headers['content-type'] ??= 'application/fhir+json';
  }
  const res = await fetch(`${t.base}/${path}`, { method: init.method ?? 'GET', headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed as any, text };
}

/** How many current and historical versions the test app's database holds, as `current/history`: unchanged means nothing was written. */
export async function storedCounts(t: TestApp): Promise<string> {
  const k = t.app.db.knex;
  const [r] = await k('resources').count({ n: '*' });
  const [h] = await k('resource_history').count({ n: '*' });
  return `${r.n}/${h.n}`;
}
