import { randomUUID } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { RequestContext } from './context.js';
import { connect, type Database } from './db/connect.js';
import { migrate, migrationsDone } from './db/migrations.js';
import { ResourceStore } from './db/store.js';
import { inTransaction } from './db/transaction.js';
import { notFound, normalizeError } from './errors.js';
import { fhirApi } from './http/adapter.js';
import { FHIR_JSON } from './http/negotiate.js';
import { createLogger } from './log.js';
import { SERVER_ACTOR, SERVER_DEVICE_RESOURCE } from './service/provenance.js';
import { ResourceService } from './service/resources.js';
import { WriteSession } from './service/types.js';

export interface App {
  app: express.Express;
  db: Database;
  resources: ResourceService;
  log: Logger;
  close(): Promise<void>;
}

export interface AppOptions {
  /** An open database to use instead of connecting to `config.databaseUrl`. */
  db?: Database;
  log?: Logger;
}

/**
 * Builds the application: database (migrated), services and the express app. Never
 * listens: `main.ts` does that in production and tests do it on port 0.
 */
export async function createApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const log = opts.log ?? createLogger(config.logLevel);
  const db = opts.db ?? connect(config.databaseUrl);
  await migrate(db.knex);
  const resources = new ResourceService(db, new ResourceStore(db.engine), { autoProvenance: config.autoProvenance });
  await ensureServerDevice(resources);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestLog(log));
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', (_req, res) => void readiness(db).then((ok) => res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready' })));
  const contextFor = (_req: Request, res: Response): RequestContext => ({
    config,
    db,
    resources,
    // A child logger only when a controller logs: most requests never do.
    get log() {
      return log.child({ reqId: res.locals.requestId as string });
    },
    requestId: res.locals.requestId as string,
    actor: SERVER_ACTOR,
  });
  app.use(config.basePath || '/', fhirApi(contextFor, config.maxBodyBytes));
  app.use((req, res) => {
    const { status, outcome } = normalizeError(notFound(`Nothing at ${req.method} ${req.path}; the FHIR API is at ${config.basePath}`));
    res.status(status).type(FHIR_JSON).send(JSON.stringify(outcome));
  });
  return { app, db, resources, log, close: () => (opts.db ? Promise.resolve() : db.close()) };
}

function requestLog(log: Logger) {
  return (req: Request, res: Response, next: () => void) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    const started = process.hrtime.bigint();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The path only: query values and bodies may carry health data.
      log.info({ reqId: requestId, method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  };
}

async function readiness(db: Database): Promise<boolean> {
  try {
    await db.knex.raw('select 1');
    return await migrationsDone(db.knex);
  } catch {
    return false;
  }
}

/** Creates the server's own Device (the Provenance agent of unauthenticated writes) once. */
async function ensureServerDevice(resources: ResourceService): Promise<void> {
  const id = SERVER_DEVICE_RESOURCE.id as string;
  if (await resources.store.read(resources.db.knex, 'Device', id)) return;
  try {
    await inTransaction(resources.db, (trx) => resources.create(new WriteSession(trx, new Date().toISOString()), SERVER_DEVICE_RESOURCE, id));
  } catch (err) {
    // Another process starting at the same moment created it first.
    if (!(await resources.store.read(resources.db.knex, 'Device', id))) throw err;
  }
}
