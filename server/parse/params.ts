import type { Config } from '../config.js';
import type { FhirRequest } from '../context.js';
import { badRequest } from '../errors.js';

/** The one value of a parameter that may appear at most once; 400 when repeated. */
export function single(req: FhirRequest, name: string): string | undefined {
  const values = req.query[name];
  if (values === undefined) return undefined;
  if (values.length > 1) throw badRequest(`${name} may appear only once`, name);
  return values[0];
}

/**
 * `_count`: the page size, default and maximum from the configuration.
 * See: https://hl7.org/fhir/R4/search.html#count
 */
export function pageSize(req: FhirRequest, config: Config): number {
  const raw = single(req, '_count');
  if (raw === undefined) return config.defaultPageSize;
  if (!/^\d{1,9}$/.test(raw)) throw badRequest(`_count must be a whole number from 0 to ${config.maxPageSize}, got "${raw}"`, '_count');
  const n = Number(raw);
  if (n > config.maxPageSize) throw badRequest(`_count may be at most ${config.maxPageSize}, got ${n}`, '_count');
  return n;
}
