import type { FhirRequest, FhirResponse, RequestContext } from '../context.js';
import { badRequest, methodNotAllowed, notFound } from '../errors.js';
import { isDotSegment, isResourceId } from '../fhir/ids.js';
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
  const { type, id, vid } = match.params;
  if (type !== undefined && !isResourceType(type)) throw notFound(`Unknown resource type "${type}"`);
  // Checked before any statement sees them: PostgreSQL refuses a NUL in text and a version past int4.
  if (id !== undefined && !isResourceId(id)) {
    const why = isDotSegment(id) ? '"." and ".." are dot segments, which a URL cannot carry as an id' : '1 to 64 of A-Z a-z 0-9 - .';
    const message = `"${clip(id)}" is not a resource id (${why})`;
    throw req.method === 'PUT' ? badRequest(message, undefined, 'value') : notFound(message);
  }
  if (vid !== undefined && !isVersionId(vid)) throw notFound(`${type}/${id} has no version "${clip(vid)}"`);
  req.params = match.params;
  return match.route.controller(req, ctx);
}

/** Version ids are whole numbers from 1, stored as 32-bit integers. */
function isVersionId(vid: string): boolean {
  return /^[1-9]\d{0,9}$/.test(vid) && Number(vid) <= 2147483647;
}

/** A segment shown in a message, with control characters escaped and cut short. */
function clip(segment: string): string {
  const shown = JSON.stringify(segment).slice(1, -1);
  return shown.length > 70 ? `${shown.slice(0, 67)}...` : shown;
}

/** Splits a path relative to the FHIR base into decoded segments. */
export function pathSegments(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return [];
  return trimmed.split('/').map((s) => decodeURIComponent(s));
}
