import { badRequest } from '../errors.js';
import type { FhirRequest } from '../context.js';
import type { AnyResource } from '../service/types.js';

/**
 * The version in an `If-Match` header (`W/"3"`, or `"3"`), or undefined when absent.
 * See: https://hl7.org/fhir/R4/http.html#concurrency
 */
export function parseIfMatch(req: FhirRequest): number | undefined {
  return parseEtag(req.headers['if-match'], 'If-Match');
}

/** `If-None-Match` on a write: `*`, or the version of one ETag (https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2). */
export function parseIfNoneMatch(req: FhirRequest): '*' | number | undefined {
  const raw = req.headers['if-none-match'];
  if (raw !== undefined && raw.trim() === '*') return '*';
  return parseEtag(raw, 'If-None-Match');
}

/** Parses one weak or strong ETag holding a FHIR version id. */
export function parseEtag(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const m = /^\s*(?:W\/)?"([1-9]\d{0,9})"\s*$/.exec(raw);
  if (!m) throw badRequest(`${name} must be a version ETag such as W/"1", got ${JSON.stringify(raw)}`, undefined, 'value');
  return Number(m[1]);
}

/**
 * The Provenance sent in an `X-Provenance` header, parsed but not yet validated
 * (its target is filled in by the server first).
 * See: https://hl7.org/fhir/R4/http.html#provenance
 */
export function parseProvenanceHeader(req: FhirRequest): AnyResource | undefined {
  const raw = req.headers['x-provenance'];
  if (raw === undefined || raw.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw badRequest('X-Provenance must hold a Provenance resource as JSON', undefined, 'structure');
  }
  if (typeof value !== 'object' || value === null || (value as AnyResource).resourceType !== 'Provenance') {
    throw badRequest('X-Provenance must hold a resource whose resourceType is Provenance', undefined, 'structure');
  }
  return value as AnyResource;
}

/** `Prefer: return=...`, defaulting to the representation. */
export function preferReturn(req: FhirRequest): 'minimal' | 'representation' | 'OperationOutcome' {
  const m = /(?:^|[;,\s])return\s*=\s*"?(minimal|representation|OperationOutcome)"?/.exec(req.headers.prefer ?? '');
  return (m?.[1] as 'minimal' | 'representation' | 'OperationOutcome' | undefined) ?? 'representation';
}

/** `Prefer: handling=lenient|strict`, defaulting to strict. */
export function preferLenient(req: FhirRequest): boolean {
  return /(?:^|[;,\s])handling\s*=\s*"?lenient"?/.test(req.headers.prefer ?? '');
}
