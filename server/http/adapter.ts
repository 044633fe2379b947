import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authorization, FhirRequest, RequestContext } from '../context.js';
import type { Actor } from '../service/types.js';
import { badRequest, normalizeError, payloadTooLarge } from '../errors.js';
import { dispatch, pathSegments } from './dispatch.js';
import { FHIR_JSON, checkAccept, checkContentType, parseJsonBody } from './negotiate.js';
import { render, type WireResponse } from './respond.js';

/** Builds the per-request context (the caller, the request id, the logger). */
export type ContextFactory = (req: IncomingMessage, res: ServerResponse) => RequestContext;

/** The token check: what the request's `Authorization` header grants, and who that is; throws a 401 FhirError. */
export interface Authenticator {
  authenticate(header: string | undefined): Promise<Authorization>;
  /**
   * For a request that writes nothing: may answer before the check is complete, with a
   * `confirm` to await after the work and before anything is sent; it throws the 401.
   */
  provisional?(header: string | undefined, reportsVersion: boolean): Promise<{ auth: Authorization; confirm?: () => Promise<void> }>;
  actorOf(auth: Authorization): Actor;
}

/** Interactions anyone may call without a token: the CapabilityStatement (SMART apps read it before they have one). */
function isPublic(method: string, path: string[]): boolean {
  return (method === 'GET' || method === 'HEAD') && path.length === 1 && path[0] === 'metadata';
}

/** GET and HEAD, except operations (`$export` starts a job even when called with GET). */
function writesNothing(method: string, path: string[]): boolean {
  return (method === 'GET' || method === 'HEAD') && !path.some((segment) => segment.startsWith('$'));
}

/**
 * Reads by id and searches (type, system, compartment): the GETs whose main statement
 * also reports the authorization state's version on PostgreSQL (db/auth-version.ts), so
 * that a remembered token answer needs no statement of its own. Not a search that
 * counts a `_total`: it runs in a transaction of its own, whose statements cannot report.
 */
export function reportsVersion(path: string[], query: Record<string, string[]>): boolean {
  const total = query._total?.[0];
  return path.length <= 3 && !path.some((segment) => segment.startsWith('_')) && (total === undefined || total === 'none');
}

/** The methods whose FHIR interactions take a body; any other request's body is not read. */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * The only HTTP-aware part of the FHIR API: turns a node request under the FHIR base
 * into a `FhirRequest`, runs the matched controller, and writes its answer. Every error
 * leaves as an OperationOutcome.
 *
 * It is a plain `node:http` handler rather than express middleware: the FHIR API needs
 * none of express's features, and express's router alone cost more than everything
 * else on the read path (see docs/benchmarks.md).
 */
export function fhirApi(contextFor: ContextFactory, basePath: string, maxBodyBytes: number, auth: Authenticator) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (cors(req, res)) return;
    const ctx = contextFor(req, res);
    try {
      const fhirReq = toFhirRequest(req, basePath);
      const path = segments(fhirReq.url.split('?')[0]);
      // The token is checked first: nothing about the request is answered to a caller
      // without one. A request that writes nothing may finish the check after its work
      // (`confirm`), but always before anything is sent, errors included.
      let confirm: (() => Promise<void>) | undefined;
      if (!isPublic(fhirReq.method, path)) {
        if (auth.provisional && writesNothing(fhirReq.method, path)) {
          ({ auth: ctx.auth, confirm } = await auth.provisional(req.headers.authorization, reportsVersion(path, fhirReq.query)));
        } else {
          ctx.auth = await auth.authenticate(req.headers.authorization);
        }
        ctx.actor = auth.actorOf(ctx.auth);
      }
      let out;
      try {
        checkAccept(req.headers.accept, fhirReq.query._format?.[0]);
        fhirReq.body = await readBody(req, path, maxBodyBytes);
        out = await dispatch(fhirReq, path, ctx);
      } finally {
        if (confirm) await confirm();
      }
      send(res, render(fhirReq, out, ctx.config));
    } catch (err) {
      sendError(res, err, ctx);
    }
  };
}

/**
 * CORS for browser apps (SMART apps run in the browser: https://hl7.org/fhir/smart-app-launch/app-launch.html).
 * Any origin may call: access rides on the Bearer token, never on cookies, so no
 * credentials are allowed. Answers preflight requests itself (returns true then).
 */
function cors(req: IncomingMessage, res: ServerResponse): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Expose-Headers', 'Location, Content-Location, ETag, Last-Modified, WWW-Authenticate, X-Request-Id');
  if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return false;
  res.statusCode = 204;
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, PUT, PATCH, DELETE');
  res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? 'Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, X-Provenance');
  res.setHeader('Access-Control-Max-Age', '600');
  res.end();
  return true;
}

function segments(path: string): string[] {
  try {
    return pathSegments(path);
  } catch {
    throw badRequest(`The URL path "${path}" is not valid percent-encoding`);
  }
}

function toFhirRequest(req: IncomingMessage, basePath: string): FhirRequest {
  const url = (req.url ?? '/').slice(basePath.length);
  const q = url.indexOf('?');
  const query: Record<string, string[]> = {};
  const search = q >= 0 ? url.slice(q + 1) : '';
  if (search) for (const [k, v] of new URLSearchParams(search)) (query[k] ??= []).push(v);
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  const path = (q >= 0 ? url.slice(0, q) : url).replace(/^\/+/, '');
  // HEAD runs the GET; node:http leaves the body out of the answer to a HEAD request.
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  return { method, params: {}, query, headers, url: search ? `${path}?${search}` : path };
}

/**
 * Reads and parses the body: JSON (FHIR or JSON Patch), or a form for `_search`.
 * The size limit is checked against Content-Length before reading and while reading.
 */
async function readBody(req: IncomingMessage, path: string[], limit: number): Promise<unknown> {
  const method = req.method ?? 'GET';
  if (!WITH_BODY.has(method)) return undefined;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(limit);
  const raw = await readStream(req, limit);
  const isSearch = method === 'POST' && path[path.length - 1] === '_search';
  if (raw.length === 0) {
    if (isSearch) return undefined;
    throw badRequest(`${method} needs a request body`, undefined, 'required');
  }
  // POST …/_search carries search parameters as a form (https://hl7.org/fhir/R4/http.html#search).
  if (isSearch && /^application\/x-www-form-urlencoded\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
    return new URLSearchParams(raw.toString('utf8'));
  }
  checkContentType(req.headers['content-type'], method === 'PATCH');
  return parseJsonBody(raw.toString('utf8'));
}

function readStream(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading; the 413 goes out with `Connection: close`, which ends the upload.
        req.pause();
        req.removeAllListeners('data');
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => reject(badRequest('The request body could not be read')));
  });
}

function tooLarge(limit: number) {
  return payloadTooLarge(`The request body is larger than the limit of ${limit} bytes (KILN_MAX_BODY_BYTES)`);
}

function send(res: ServerResponse, wire: WireResponse): void {
  res.statusCode = wire.status;
  for (const [k, v] of Object.entries(wire.headers)) res.setHeader(k, v);
  if (wire.body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', FHIR_JSON);
  res.end(wire.body);
}

function sendError(res: ServerResponse, err: unknown, ctx: RequestContext): void {
  const { status, outcome, headers } = normalizeError(err);
  if (status >= 500) ctx.log.error({ err }, 'request failed');
  if (res.headersSent) {
    res.end();
    return;
  }
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', FHIR_JSON);
  // A refused upload may still be arriving: close the connection rather than drain it.
  if (status === 413) res.setHeader('Connection', 'close');
  res.end(JSON.stringify(outcome));
}
