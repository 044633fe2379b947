import { randomUUID } from 'node:crypto';
import type { FhirRequest } from '../context.js';
import { badRequest } from '../errors.js';
import { pathSegments } from '../http/dispatch.js';
import type { AnyResource } from '../service/types.js';

/** One Bundle entry's request, ready to dispatch. */
export interface EntryRequest {
  index: number;
  fullUrl?: string;
  request: FhirRequest;
  segments: string[];
}

interface RawEntry {
  fullUrl?: string;
  resource?: AnyResource;
  request?: { method?: string; url?: string; ifNoneMatch?: string; ifModifiedSince?: string; ifMatch?: string; ifNoneExist?: string };
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Turns each entry's `request` into a FHIR request as if it had come over HTTP, with
 * `ifMatch` and friends as headers. A URL may be relative to the base or absolute on it.
 * `first` is the index in the Bundle of `entries[0]` (a batch parses its entries one at a time).
 * See: https://hl7.org/fhir/R4/bundle.html#transaction
 */
export function entryRequests(entries: RawEntry[], baseUrl: string, outerHeaders: FhirRequest['headers'], first = 0): EntryRequest[] {
  return entries.map((entry, i) => {
    const index = first + i;
    const at = `Bundle.entry[${index}]`;
    const req = entry.request;
    if (!req || typeof req !== 'object') throw badRequest(`${at} has no request`, `${at}.request`, 'required');
    if (!req.method || !METHODS.has(req.method)) throw badRequest(`${at}.request.method must be GET, POST, PUT, PATCH or DELETE`, `${at}.request.method`);
    if (typeof req.url !== 'string' || req.url === '') throw badRequest(`${at}.request.url is required`, `${at}.request.url`, 'required');
    let url = req.url.startsWith(baseUrl + '/') ? req.url.slice(baseUrl.length + 1) : req.url;
    if (/^[a-z]+:/i.test(url)) throw badRequest(`${at}.request.url must be relative to this server's base`, `${at}.request.url`);
    url = url.replace(/^\/+/, '');
    const [path, search = ''] = url.split('?');
    const query: Record<string, string[]> = {};
    for (const [k, v] of new URLSearchParams(search)) (query[k] ??= []).push(v);
    let segments: string[];
    try {
      segments = pathSegments(path);
    } catch {
      throw badRequest(`${at}.request.url is not valid percent-encoding`, `${at}.request.url`);
    }
    if (segments.length === 0) throw badRequest(`${at}: a Bundle may not contain batch or transaction entries`, `${at}.request.url`);
    const headers: FhirRequest['headers'] = {
      prefer: outerHeaders.prefer,
      'if-match': req.ifMatch,
      'if-none-match': req.ifNoneMatch,
      'if-modified-since': req.ifModifiedSince,
      'if-none-exist': req.ifNoneExist,
      'x-provenance': undefined,
    };
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    return { index, fullUrl: entry.fullUrl, segments, request: { method, params: {}, query, headers, body: entryBody(entry, method, at), url } };
  });
}

function entryBody(entry: RawEntry, method: string, at: string): unknown {
  if (method === 'GET' || method === 'DELETE') return undefined;
  if (method === 'PATCH') return patchOperations(entry.resource, at);
  if (!entry.resource) throw badRequest(`${at} needs a resource for ${method}`, `${at}.resource`, 'required');
  return entry.resource;
}

/** In a Bundle, a JSON Patch travels as a Binary whose data is the patch document. */
function patchOperations(resource: AnyResource | undefined, at: string): unknown {
  if (!resource || resource.resourceType !== 'Binary' || typeof resource.data !== 'string') {
    throw badRequest(`${at}: PATCH entries carry a Binary resource holding a JSON Patch`, `${at}.resource`);
  }
  try {
    return JSON.parse(Buffer.from(resource.data, 'base64').toString('utf8'));
  } catch {
    throw badRequest(`${at}: the Binary's data is not a JSON Patch document`, `${at}.resource.data`);
  }
}

/** Transaction processing order: DELETE, then POST, then PUT and PATCH, then GET. */
export function transactionOrder(entries: EntryRequest[]): EntryRequest[] {
  const rank: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3 };
  return [...entries].sort((a, b) => rank[a.request.method] - rank[b.request.method] || a.index - b.index);
}

/**
 * Assigns the ids of resources created in a transaction up front, so that every
 * reference to an entry's `fullUrl` (usually `urn:uuid:...`) can be rewritten to
 * `Type/id` before anything is written. `map` already holds the fullUrls that
 * conditional creates resolved to existing resources.
 * See: https://hl7.org/fhir/R4/bundle.html#references
 */
export function plannedIds(entries: EntryRequest[], map: Map<string, string>): Map<string, string> {
  for (const e of entries) {
    if (!e.fullUrl || map.has(e.fullUrl)) continue;
    const { method } = e.request;
    const [type, id] = e.segments;
    if (method === 'POST' && e.segments.length === 1) {
      const newId = randomUUID();
      map.set(e.fullUrl, `${type}/${newId}`);
      e.request.assignedId = newId;
    } else if ((method === 'PUT' || method === 'PATCH') && e.segments.length === 2) {
      map.set(e.fullUrl, `${type}/${id}`);
    }
  }
  return map;
}

/** Rewrites every `reference` that names a mapped fullUrl, anywhere in a resource. */
export function rewriteReferences(node: unknown, map: Map<string, string>): void {
  if (Array.isArray(node)) {
    for (const item of node) rewriteReferences(item, map);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const obj = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'reference' && typeof value === 'string') {
      const [target, fragment] = splitFragment(value);
      const mapped = map.get(target);
      if (mapped) obj[key] = fragment === undefined ? mapped : `${mapped}#${fragment}`;
    } else if (typeof value === 'object') {
      rewriteReferences(value, map);
    }
  }
}

/** Every `reference` string anywhere in a resource, in document order. */
export function collectReferences(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) collectReferences(item, out);
  } else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'reference' && typeof value === 'string') out.push(value);
      else if (typeof value === 'object') collectReferences(value, out);
    }
  }
  return out;
}

function splitFragment(ref: string): [string, string | undefined] {
  const i = ref.indexOf('#');
  return i > 0 ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, undefined];
}
