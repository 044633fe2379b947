import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { RequestContext } from './context.js';
import { openCore, type Core, type CoreOptions } from './core.js';
import type { Database } from './db/connect.js';
import { migrationsDone } from './db/migrations.js';
import { notFound, normalizeError } from './errors.js';
import { fhirApi } from './http/adapter.js';
import { FHIR_JSON } from './http/negotiate.js';
import { SERVER_ACTOR } from './service/provenance.js';
import { actorOf } from '../smart/bearer.js';
import { createSmart, type Smart } from '../smart/index.js';

export interface App extends Core {
  /** Serves everything outside the FHIR base (health checks, and later OAuth and admin). */
  app: express.Express;
  /** The node:http request listener: the FHIR API under the base path, express elsewhere. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** The SMART authorization server and the FHIR API's token check. */
  smart: Smart;
}

export type AppOptions = CoreOptions;

/**
 * Builds the application: database (migrated), services and the express app. Never
 * listens: `main.ts` does that in production and tests do it on port 0.
 */
export async function createApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const core = await openCore(config, opts);
  const { db, log, resources } = core;
  // A server that cannot start (a KILN_SECRET_KEY that does not fit) must not stay alive on the open database.
  const smart = await createSmart(config, db).catch(async (err: unknown) => {
    await core.close();
    throw err;
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', (_req, res) => void readiness(db).then((ok) => res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready' })));
  smart.mount(app);
  app.use((req, res) => {
    const { status, outcome } = normalizeError(notFound(`Nothing at ${req.method} ${req.path}; the FHIR API is at ${config.basePath}`));
    res.status(status).type(FHIR_JSON).send(JSON.stringify(outcome));
  });
  app.use(expressErrors(log));
  const contextFor = (_req: IncomingMessage, res: ServerResponse): RequestContext => {
    const requestId = res.getHeader('X-Request-Id') as string;
    return {
      config,
      db,
      resources,
      // A child logger only when a controller logs: most requests never do.
      get log() {
        return log.child({ reqId: requestId });
      },
      requestId,
      actor: SERVER_ACTOR,
    };
  };
  const fhir = fhirApi(contextFor, config.basePath, config.maxBodyBytes, {
    authenticate: (header) => smart.bearer.authenticate(header),
    provisional: (header, reportsVersion) => smart.bearer.provisional(header, reportsVersion),
    actorOf: (auth) => actorOf(auth, config.issuer),
  });
  const wellKnown = `${config.basePath}/.well-known/smart-configuration`;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    logRequest(log, req, res);
    if ((req.url ?? '/').split('?')[0] === wellKnown) sendWellKnown(req, res, smart.wellKnown);
    else if (underBase(req.url ?? '/', config.basePath)) void fhir(req, res);
    else app(req, res);
  };
  return { app, handler, db, resources, smart, log, close: core.close };
}

/** `[base]/.well-known/smart-configuration` (https://hl7.org/fhir/smart-app-launch/conformance.html#using-well-known): public, and readable by browser apps from any origin. */
function sendWellKnown(req: IncomingMessage, res: ServerResponse, body: string): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.statusCode = 405;
    res.setHeader('Allow', 'GET, HEAD');
    res.end();
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'public, max-age=3600');
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** True when `url` is the FHIR base or below it (`/fhir/r4`, `/fhir/r4/`, `/fhir/r4?x`, `/fhir/r4/Patient`). */
function underBase(url: string, basePath: string): boolean {
  if (basePath === '') return true;
  if (!url.startsWith(basePath)) return false;
  const next = url.charAt(basePath.length);
  return next === '' || next === '/' || next === '?';
}

/**
 * One log line per request, with its id, also sent back as `X-Request-Id` (a
 * well-formed incoming one is kept, so a proxy's id follows the request).
 */
function logRequest(log: Logger, req: IncomingMessage, res: ServerResponse): void {
  const incoming = req.headers['x-request-id'];
  const requestId = typeof incoming === 'string' && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
  const started = process.hrtime.bigint();
  res.setHeader('X-Request-Id', requestId);
  res.on('finish', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // The path only: query values and bodies may carry health data.
    const path = (req.url ?? '/').split('?')[0];
    log.info({ reqId: requestId, method: req.method, path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
  });
}

async function readiness(db: Database): Promise<boolean> {
  try {
    await db.knex.raw('select 1');
    return await migrationsDone(db.knex);
  } catch {
    return false;
  }
}

/**
 * The last word on an error no route answered (a body express could not parse, a path
 * it could not decode): RFC 6749's error form, with the message only when it is meant
 * for the client (`expose`, as http-errors sets for 4xx), never a stack trace, which
 * express's default handler would send outside production.
 */
function expressErrors(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const e = (err ?? {}) as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown };
    const code = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
    const status = code >= 400 && code < 600 ? code : 500;
    if (status >= 500) {
      log.error({ err, method: req.method, path: req.path }, 'request failed');
      return void res.status(status).set('Cache-Control', 'no-store').json({ error: 'server_error', error_description: 'Internal server error' });
    }
    const description = e.expose === true && typeof e.message === 'string' ? e.message : 'The request could not be read';
    res.status(status).set('Cache-Control', 'no-store').json({ error: 'invalid_request', error_description: description });
  };
}
