import type { BundleEntry, BundleEntryResponse } from 'fhir/r4';
import type { FhirRequest, FhirResponse, RequestContext } from '../context.js';
import { FhirError, normalizeError } from '../errors.js';
import { preferReturn } from '../parse/headers.js';
import type { EntryRequest } from './entries.js';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 204: '204 No Content', 304: '304 Not Modified',
  400: '400 Bad Request', 403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed',
  409: '409 Conflict', 410: '410 Gone', 412: '412 Precondition Failed', 422: '422 Unprocessable Entity',
};

/**
 * One entry of a batch-response or transaction-response: status, version headers and,
 * unless `Prefer: return=minimal` asked otherwise, the resource.
 * See: https://hl7.org/fhir/R4/bundle.html#transaction-response
 */
export function toEntry(out: FhirResponse, e: EntryRequest, ctx: RequestContext, req: FhirRequest): BundleEntry {
  const response: BundleEntryResponse = { status: STATUS_TEXT[out.status] ?? String(out.status) };
  const v = out.version;
  if (v) {
    response.etag = `W/"${v.versionId}"`;
    response.lastModified = v.lastUpdated;
    if (out.location || e.request.method === 'POST' || e.request.method === 'PUT') {
      response.location = `${v.resourceType}/${v.id}/_history/${v.versionId}`;
    }
  }
  const entry: BundleEntry = { response };
  const minimal = e.request.method !== 'GET' && preferReturn(req) === 'minimal';
  if (out.body !== undefined && !minimal && out.status !== 304) {
    const body = typeof out.body === 'string' ? JSON.parse(out.body) : out.body;
    if (body.resourceType === 'OperationOutcome' && e.request.method === 'DELETE') response.outcome = body;
    else entry.resource = body;
  }
  if (v && entry.resource) entry.fullUrl = `${ctx.config.baseUrl}/${v.resourceType}/${v.id}`;
  return entry;
}

/** A batch entry that failed: its status and OperationOutcome. */
export function failedEntry(err: unknown): BundleEntry {
  const { status, outcome } = normalizeError(err);
  return { response: { status: STATUS_TEXT[status] ?? String(status), outcome } };
}

/**
 * Points an entry's error at the entry: diagnostics gain `Bundle.entry[i]`, and each
 * expression becomes a path in the Bundle. An expression about the resource
 * (`Patient.name[0]`) points into `entry[i].resource`; one about the request's search
 * criteria (a query parameter's name), or any of an entry that has no resource (GET,
 * DELETE) or whose resource is a patch (PATCH), points at `entry[i].request.url`, or at `field` when given (such as
 * `request.ifNoneExist`, whose criteria are not in the URL). Diagnostics keep the
 * parameter's name.
 */
export function atEntry(err: unknown, index: number, e?: EntryRequest, field?: string): unknown {
  if (!(err instanceof FhirError)) return err;
  const prefix = `Bundle.entry[${index}]`;
  const issues = err.issues.map((i) => {
    let diagnostics = i.diagnostics ?? '';
    const expression = i.expression?.map((x) => {
      if (x.startsWith('Bundle.entry[')) return x;
      const onRequest = field ?? (e !== undefined && aboutRequest(e, x) ? 'request.url' : undefined);
      if (onRequest === undefined) return resourceExpression(prefix, x);
      if (!diagnostics.includes(x)) diagnostics = `${diagnostics} (${x})`;
      return `${prefix}.${onRequest}`;
    });
    if (!diagnostics.startsWith(prefix)) diagnostics = `${prefix}: ${diagnostics}`;
    return { ...i, diagnostics, ...(expression ? { expression } : {}) };
  });
  return new FhirError(err.status, issues, err.headers);
}

/**
 * Whether expression `x` of an entry's error is about its request rather than its
 * resource. A PATCH entry's resource is the Binary holding the patch: the elements its
 * errors name are in the resource the URL names, so they point at the request.
 */
function aboutRequest(e: EntryRequest, x: string): boolean {
  return e.request.body === undefined || e.request.method === 'PATCH' || Object.hasOwn(e.request.query, x);
}

/** `Patient.name[0]` in an entry is `Bundle.entry[i].resource.name[0]`. */
function resourceExpression(prefix: string, x: string): string {
  if (/^[A-Z][A-Za-z]*(\.|$)/.test(x)) return `${prefix}.resource${x.replace(/^[A-Z][A-Za-z]*/, '')}`;
  return `${prefix}.resource.${x}`;
}
