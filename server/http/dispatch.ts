import type { FhirRequest, FhirResponse, RequestContext } from '../context.js';
import { methodNotAllowed, notFound } from '../errors.js';
import { isResourceType } from '../validate/index.js';
import { matchRoute } from './routes.js';

/**
 * Routes a FHIR request to its controller: the HTTP adapter and each entry of a batch
 * or transaction Bundle come through here, so both get the same interactions.
 */
export async function dispatch(req: FhirRequest, segments: string[], ctx: RequestContext): Promise<FhirResponse> {
  const match = matchRoute(req.method, segments, isResourceType);
  const where = segments.join('/');
  if (!match) throw notFound(`No FHIR interaction at ${req.method} ${where || '[base]'}`);
  if ('allowed' in match) {
    const err = methodNotAllowed(`${req.method} is not supported at ${where || '[base]'}; allowed: ${match.allowed.join(', ')}`);
    Object.assign(err.headers, { Allow: match.allowed.join(', ') });
    throw err;
  }
  const { type } = match.params;
  if (type !== undefined && !isResourceType(type)) throw notFound(`Unknown resource type "${type}"`);
  req.params = match.params;
  return match.route.controller(req, ctx);
}

/** Splits a path relative to the FHIR base into decoded segments. */
export function pathSegments(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return [];
  return trimmed.split('/').map((s) => decodeURIComponent(s));
}
