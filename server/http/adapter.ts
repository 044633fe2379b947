import express, { type NextFunction, type Request, type Response } from 'express';
import type { FhirRequest, RequestContext } from '../context.js';
import { FhirError, badRequest, issue, normalizeError, payloadTooLarge } from '../errors.js';
import { dispatch, pathSegments } from './dispatch.js';
import { FHIR_JSON, checkAccept, checkContentType, parseJsonBody } from './negotiate.js';
import { render } from './respond.js';

/** Builds the per-request context (the caller, the logger with the request id). */
export type ContextFactory = (req: Request, res: Response) => RequestContext;

/**
 * The only express-aware part of the FHIR API: turns an express request into a
 * `FhirRequest`, runs the matched controller, and writes its answer. Every error
 * leaves as an OperationOutcome.
 */
export function fhirApi(contextFor: ContextFactory, maxBodyBytes: number): express.Router {
  const router = express.Router();
  router.use(express.raw({ type: () => true, limit: maxBodyBytes }));
  router.use(async (req: Request, res: Response) => {
    const ctx = contextFor(req, res);
    try {
      const fhirReq = toFhirRequest(req);
      checkAccept(req.headers.accept, fhirReq.query._format?.[0]);
      const path = segments(req.path);
      fhirReq.body = readBody(req);
      const out = await dispatch(fhirReq, path, ctx);
      send(res, render(fhirReq, out, ctx.config));
    } catch (err) {
      sendError(res, err, ctx);
    }
  });
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    sendError(res, bodyError(err), contextFor(req, res));
  });
  return router;
}

function segments(path: string): string[] {
  const parts = path.replace(/^\/+|\/+$/g, '');
  if (parts === '') return [];
  try {
    return pathSegments(parts);
  } catch {
    throw badRequest(`The URL path "${path}" is not valid percent-encoding`);
  }
}

function toFhirRequest(req: Request): FhirRequest {
  const url = req.originalUrl;
  const q = url.indexOf('?');
  const query: Record<string, string[]> = {};
  const search = q >= 0 ? url.slice(q + 1) : '';
  for (const [k, v] of new URLSearchParams(search)) (query[k] ??= []).push(v);
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  const path = req.path.replace(/^\/+/, '');
  return { method: req.method, params: {}, query, headers, url: search ? `${path}?${search}` : path };
}

function readBody(req: Request): unknown {
  const raw = Buffer.isBuffer(req.body) ? req.body : undefined;
  const hasBody = raw !== undefined && raw.length > 0;
  if (req.method === 'GET' || req.method === 'DELETE' || req.method === 'HEAD') return undefined;
  if (!hasBody) {
    if (req.method === 'POST' && req.path.endsWith('/_search')) return undefined;
    throw badRequest(`${req.method} needs a request body`, undefined, 'required');
  }
  checkContentType(req.headers['content-type'], req.method === 'PATCH');
  return parseJsonBody(raw.toString('utf8'));
}

function bodyError(err: unknown): unknown {
  const e = err as { type?: string; status?: number; message?: string };
  if (e?.type === 'entity.too.large') return payloadTooLarge(`The request body is larger than the limit of ${(e as { limit?: number }).limit} bytes`);
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
    return new FhirError(415, [issue('not-supported', e.message ?? 'Unsupported body encoding')]);
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return badRequest(`The request body could not be read: ${e.message}`);
  return err;
}

function send(res: Response, wire: ReturnType<typeof render>): void {
  res.status(wire.status);
  for (const [k, v] of Object.entries(wire.headers)) res.setHeader(k, v);
  if (wire.body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', FHIR_JSON);
  res.end(wire.body);
}

function sendError(res: Response, err: unknown, ctx: RequestContext): void {
  const { status, outcome, headers } = normalizeError(err);
  if (status >= 500) ctx.log.error({ err }, 'request failed');
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(status);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', FHIR_JSON);
  res.end(JSON.stringify(outcome));
}
