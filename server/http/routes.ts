import type { Controller } from '../context.js';
import { bundle } from '../controllers/bundle.js';
import { capabilityStatement } from '../controllers/capabilities.js';
import { conditionalDelete, conditionalUpdate } from '../controllers/conditional.js';
import { history } from '../controllers/history.js';
import { read, vread } from '../controllers/read.js';
import { search } from '../controllers/search.js';
import { create, patch, remove, update } from '../controllers/write.js';

/** CapabilityStatement interaction codes: `TypeRestfulInteraction` and `SystemRestfulInteraction`. */
export type Interaction =
  | 'read' | 'vread' | 'update' | 'patch' | 'delete' | 'history-instance' | 'history-type' | 'create' | 'search-type'
  | 'transaction' | 'batch' | 'search-system' | 'history-system' | 'capabilities';

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Segments after the FHIR base; `:type`, `:id`, `:vid` are parameters. */
  path: string;
  /** What the CapabilityStatement calls this route (batch and transaction share one). */
  interaction: Interaction | Interaction[];
  controller: Controller;
}

/**
 * capabilities: the CapabilityStatement, built from this table.
 * See: https://hl7.org/fhir/R4/http.html#capabilities
 */
const capabilities: Controller = async (_req, ctx) => ({
  status: 200,
  body: capabilityStatement(ROUTES, ctx.config),
});

/**
 * The route table: every FHIR interaction the server answers, and the interaction
 * code the CapabilityStatement advertises for it, so `/metadata` cannot claim what is
 * not routed. Order matters: literal segments before parameters.
 * See: https://hl7.org/fhir/R4/http.html
 */
export const ROUTES: Route[] = [
  { method: 'GET', path: 'metadata', interaction: 'capabilities', controller: capabilities },
  { method: 'POST', path: '', interaction: ['transaction', 'batch'], controller: bundle },
  { method: 'GET', path: '', interaction: 'search-system', controller: search },
  { method: 'POST', path: '_search', interaction: 'search-system', controller: search },
  { method: 'GET', path: '_history', interaction: 'history-system', controller: history },
  { method: 'GET', path: ':type/_history', interaction: 'history-type', controller: history },
  { method: 'GET', path: ':type/:id/_history/:vid', interaction: 'vread', controller: vread },
  { method: 'GET', path: ':type/:id/_history', interaction: 'history-instance', controller: history },
  { method: 'GET', path: ':type/:id', interaction: 'read', controller: read },
  { method: 'PUT', path: ':type/:id', interaction: 'update', controller: update },
  { method: 'PATCH', path: ':type/:id', interaction: 'patch', controller: patch },
  { method: 'DELETE', path: ':type/:id', interaction: 'delete', controller: remove },
  { method: 'POST', path: ':type', interaction: 'create', controller: create },
  { method: 'PUT', path: ':type', interaction: 'update', controller: conditionalUpdate },
  { method: 'DELETE', path: ':type', interaction: 'delete', controller: conditionalDelete },
  { method: 'GET', path: ':type', interaction: 'search-type', controller: search },
  { method: 'POST', path: ':type/_search', interaction: 'search-type', controller: search },
  // Compartment search (Patient/1/Observation); last, so literal routes of the same shape win.
  { method: 'GET', path: ':type/:id/:compartment', interaction: 'search-type', controller: search },
];

export interface RouteMatch {
  route: Route;
  params: { type?: string; id?: string; vid?: string };
}

const compiled = () => ROUTES.map((r) => ({ route: r, segments: r.path === '' ? [] : r.path.split('/') }));
let table: ReturnType<typeof compiled> | undefined;

/**
 * Finds the route for a method and path (segments after the base). Returns the
 * methods allowed on the path instead when only the method is wrong (`isType` tells
 * which `:type` segments name a resource type).
 */
export function matchRoute(method: string, segments: string[], isType: (type: string) => boolean = () => true): RouteMatch | { allowed: string[] } | undefined {
  table ??= compiled();
  const allowed = new Set<string>();
  for (const { route, segments: pattern } of table) {
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const ok = pattern.every((p, i) => {
      if (p.startsWith(':')) {
        if (segments[i] === '' || (p === ':type' && segments[i].startsWith('_')) || segments[i] === '_history') return false;
        params[p.slice(1)] = segments[i];
        return true;
      }
      return p === segments[i];
    });
    if (!ok) continue;
    if (route.method === method) return { route, params };
    // `metadata` fits `:type` too, but POST metadata is no interaction of this path.
    if (params.type !== undefined && !isType(params.type)) continue;
    allowed.add(route.method);
    // HEAD is GET without the body (https://www.rfc-editor.org/rfc/rfc9110#section-9.3.2).
    if (route.method === 'GET') allowed.add('HEAD');
  }
  return allowed.size ? { allowed: [...allowed] } : undefined;
}
