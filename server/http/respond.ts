import type { Config } from '../config.js';
import type { FhirRequest, FhirResponse } from '../context.js';
import { allOk, badRequest } from '../errors.js';
import { preferReturn } from '../parse/headers.js';
import type { AnyResource } from '../service/types.js';
import { parseElements, parseSummary, shapeResource } from './shape.js';

/** A response ready for the wire. */
export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body?: string;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Turns a controller's answer into status, headers and JSON text: version headers,
 * `Prefer: return=`, `_summary`/`_elements` and `_pretty`. Stored JSON text is passed
 * through untouched unless the client asked for it to be reshaped.
 * See: https://hl7.org/fhir/R4/http.html#ops
 */
export function render(req: FhirRequest, res: FhirResponse, config: Config): WireResponse {
  const headers: Record<string, string> = { ...res.headers };
  const v = res.version;
  if (v) {
    headers.ETag = `W/"${v.versionId}"`;
    headers['Last-Modified'] = new Date(v.lastUpdated).toUTCString();
    if (res.location) headers.Location = `${config.baseUrl}/${v.resourceType}/${v.id}/_history/${v.versionId}`;
  }
  if (res.status === 304 || res.body === undefined) return { status: res.status, headers };
  let body = res.body;
  if (WRITES.has(req.method) && res.version) {
    const prefer = preferReturn(req);
    if (prefer === 'minimal') return { status: res.status, headers };
    if (prefer === 'OperationOutcome') body = allOk(`${req.method} ${v?.resourceType}/${v?.id} succeeded`);
  }
  return { status: res.status, headers, body: serialize(req, body) };
}

function serialize(req: FhirRequest, body: { resourceType: string } | string): string {
  const pretty = flag(req, '_pretty');
  const summary = parseSummary(req.query._summary);
  const elements = parseElements(req.query._elements);
  const reshape = req.method === 'GET' && (summary !== undefined || elements !== undefined);
  if (typeof body === 'string' && !pretty && !reshape) return body;
  let resource = (typeof body === 'string' ? JSON.parse(body) : body) as AnyResource;
  if (reshape && resource.resourceType !== 'Bundle' && resource.resourceType !== 'OperationOutcome') {
    if (summary === 'count') throw badRequest('_summary=count applies to searches, not to reads', '_summary');
    resource = shapeResource(resource, summary, elements);
  }
  return pretty ? JSON.stringify(resource, null, 2) : JSON.stringify(resource);
}

function flag(req: FhirRequest, name: string): boolean {
  const v = req.query[name];
  if (!v) return false;
  const last = v[v.length - 1];
  if (last !== 'true' && last !== 'false') throw badRequest(`${name} must be true or false, got "${last}"`, name);
  return last === 'true';
}
