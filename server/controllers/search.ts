import { randomUUID } from 'node:crypto';
import type { Bundle, BundleLink, OperationOutcomeIssue } from 'fhir/r4';
import type { Knex } from 'knex';
import type { Controller, FhirRequest, RequestContext } from '../context.js';
import { badRequest, issue, notFound, operationOutcome } from '../errors.js';
import { shapeResource } from '../http/shape.js';
import { preferLenient } from '../parse/headers.js';
import { MAX_INCLUDED } from '../search/query/include.js';
import { encodeCursor } from '../search/query/sort.js';
import { planSearch, runSearch, type ResourceRow, type SearchPlan, type SearchResult } from '../search/query/index.js';
import type { AnyResource } from '../service/types.js';
import { isResourceType } from '../validate/index.js';
import { accessFor, asWhere, includeFilter, searchRows } from '../../smart/access/index.js';
import { isResourceId } from '../fhir/ids.js';

/**
 * search: `GET [base]/[type]?…`, `POST [base]/[type]/_search` (form-encoded parameters,
 * merged with those in the URL), system search `GET [base]?_type=…`, and compartment
 * search `GET [base]/Patient/[id]/[type]?…`. Answers a `searchset` Bundle paged by a
 * keyset cursor, with self/next/previous links.
 * See: https://hl7.org/fhir/R4/http.html#search and https://hl7.org/fhir/R4/search.html
 *
 * The access token's row rules are part of the query: a compartment search of a patient
 * outside the token's reach therefore answers an empty Bundle, as any search that matches
 * nothing the token may see. Included resources must be readable by the token.
 */
export const search: Controller = async (req, ctx) => {
  const query = mergedQuery(req);
  const { types, compartment, path } = target(req, query);
  const access = accessFor(ctx);
  const rows = searchRows(access, types, compartment ? 'search-compartment' : path === '' ? 'search-system' : 'search-type');
  const plan = planSearch({
    types,
    query,
    baseUrl: ctx.config.baseUrl,
    lenient: preferLenient(req),
    postgres: ctx.db.engine === 'postgres',
    compartment,
    defaultCount: ctx.config.defaultPageSize,
    maxCount: ctx.config.maxPageSize,
    visible: (type) => access.rows(type, 's'),
  });
  // In the plan's own conditions, so that paging, _total and _count count only what the token may see.
  const allowed = asWhere(rows);
  if (allowed) plan.filters.wheres.push(allowed);
  plan.includeFilter = includeFilter(access);
  // Only a statement outside any transaction may report the authorization version (db/auth-version.ts).
  const result = await inReadTransaction(ctx, needsSnapshot(plan), (exec) => runSearch(exec, plan, ctx.config.baseUrl, exec === ctx.db.knex ? ctx.db.authVersion : undefined));
  return { status: 200, body: bundleText(plan, result, ctx.config.baseUrl, path, types) };
};

/** URL parameters plus, on `POST …/_search`, the form-encoded body (https://hl7.org/fhir/R4/http.html#search). */
function mergedQuery(req: FhirRequest): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(req.query)) query[k] = [...v];
  if (req.method !== 'POST' || req.body === undefined) return query;
  if (!(req.body instanceof URLSearchParams)) {
    throw badRequest('POST _search takes its parameters as application/x-www-form-urlencoded', undefined, 'not-supported');
  }
  for (const [k, v] of req.body) (query[k] ??= []).push(v);
  return query;
}

/** The types `_type` names, in its values' order (repeated and comma-separated alike). */
function namedTypes(query: Record<string, string[]>): string[] {
  return (query._type ?? []).flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

/**
 * `_type` on a search of one type: naming that type is harmless, any other cannot be
 * honoured (https://hl7.org/fhir/R4/search.html#type names it for searches across types).
 */
function onlyType(query: Record<string, string[]>, type: string): void {
  const other = namedTypes(query).find((t) => t !== type);
  if (other !== undefined) throw badRequest(`_type: a search of ${type} cannot also search "${other.slice(0, 64)}"; search across types at [base]?_type=…`, '_type');
}

/** What is searched: one type, a compartment of one type, or (system search) `_type`'s types. */
function target(req: FhirRequest, query: Record<string, string[]>): { types: string[] | undefined; compartment?: { type: string; id: string }; path: string } {
  const { type, id } = req.params;
  const inner = (req.params as Record<string, string | undefined>).compartment;
  if (type !== undefined && id !== undefined && inner !== undefined) {
    if (!isResourceType(inner)) throw notFound(`Unknown resource type "${inner}"`);
    if (!isResourceId(id)) throw notFound(`"${id.slice(0, 64)}" is not a resource id`);
    onlyType(query, inner);
    return { types: [inner], compartment: { type, id }, path: `${type}/${id}/${inner}` };
  }
  if (type !== undefined) {
    onlyType(query, type);
    return { types: [type], path: type };
  }
  if (query._type === undefined) return { types: undefined, path: '' };
  const types = [...new Set(namedTypes(query))];
  for (const t of types) if (!isResourceType(t)) throw badRequest(`_type: "${t.slice(0, 64)}" is not a resource type`, '_type');
  return { types: types.length > 0 ? types : undefined, path: '' };
}

/**
 * Whether the search's statements must see one snapshot: a page and a total, which must
 * agree. Included resources are read after the page as they are then, like a client's
 * own reads that follow a search; a resource changed in between comes back in its newer
 * version, one deleted in between is left out.
 */
function needsSnapshot(plan: SearchPlan): boolean {
  return plan.count > 0 && plan.total !== 'none';
}

/**
 * Runs `fn` in one read transaction when `snapshot` asks for it; in a transaction
 * Bundle, in its transaction (SQLite has one connection: a query outside it would wait
 * for it forever). Otherwise each statement sees its own snapshot, and PostgreSQL is
 * spared the BEGIN and COMMIT round trips.
 */
async function inReadTransaction<T>(ctx: RequestContext, snapshot: boolean, fn: (exec: Knex | Knex.Transaction) => Promise<T>): Promise<T> {
  if (ctx.session) return fn(ctx.session.trx);
  if (!snapshot) return fn(ctx.db.knex);
  if (ctx.db.engine === 'postgres') return ctx.db.knex.transaction(fn, { isolationLevel: 'repeatable read', readOnly: true });
  return ctx.db.knex.transaction(fn);
}

/** The parameters of this search as a query string, with `cursor` for the page linked to. */
function linkQuery(plan: SearchPlan, types: string[] | undefined, path: string, cursor: string | undefined): string {
  const p = new URLSearchParams();
  if (path === '' && types) p.append('_type', types.join(','));
  for (const occ of plan.filters.used) p.append(occ.name, occ.value);
  if (plan.sort !== undefined) p.append('_sort', plan.sort);
  for (const inc of plan.includes) p.append(...inc.param);
  p.append('_count', String(plan.count));
  if (plan.total !== 'none') p.append('_total', plan.total);
  if (plan.summary !== undefined) p.append('_summary', plan.summary);
  if (plan.elements !== undefined) p.append('_elements', plan.elements.join(','));
  if (cursor !== undefined) p.append('_cursor', cursor);
  return p.toString();
}

function links(plan: SearchPlan, result: SearchResult, base: string, path: string, types: string[] | undefined): BundleLink[] {
  const url = (cursor: string | undefined) => `${base}${path ? `/${path}` : ''}?${linkQuery(plan, types, path, cursor)}`;
  const out: BundleLink[] = [{ relation: 'self', url: url(plan.cursor ? encodeCursor(plan.cursor) : undefined) }];
  if (result.next) out.push({ relation: 'next', url: url(result.next) });
  if (result.previous) out.push({ relation: 'previous', url: url(result.previous) });
  return out;
}

/** One entry's JSON text. Unshaped resources are spliced in as stored, unparsed. */
function entryText(row: ResourceRow, mode: 'match' | 'include', base: string, plan: SearchPlan): string {
  const shaped = (plan.summary !== undefined && plan.summary !== 'false') || plan.elements !== undefined;
  const resource = shaped ? JSON.stringify(shapeResource(JSON.parse(row.content) as AnyResource, plan.summary, plan.elements)) : row.content;
  return `{"fullUrl":${JSON.stringify(`${base}/${row.resource_type}/${row.id}`)},"resource":${resource},"search":{"mode":"${mode}"}}`;
}

function outcomeText(issues: OperationOutcomeIssue[]): string {
  return `{"resource":${JSON.stringify(operationOutcome(issues))},"search":{"mode":"outcome"}}`;
}

/** The searchset Bundle as JSON text (https://hl7.org/fhir/R4/bundle.html#searchset). */
function bundleText(plan: SearchPlan, result: SearchResult, base: string, path: string, types: string[] | undefined): string {
  const head: Bundle = {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: 'searchset',
    ...(result.total !== undefined ? { total: result.total } : {}),
    link: links(plan, result, base, path, types),
  };
  const issues = [...plan.filters.issues];
  if (result.includesTruncated) issues.push(issue('too-costly', `Included resources were cut at ${MAX_INCLUDED}`, undefined, 'warning'));
  const entries = [
    ...result.matches.map((r) => entryText(r, 'match', base, plan)),
    ...result.included.map((r) => entryText(r, 'include', base, plan)),
    ...(issues.length > 0 ? [outcomeText(issues)] : []),
  ];
  const text = JSON.stringify(head);
  return entries.length === 0 ? text : `${text.slice(0, -1)},"entry":[${entries.join(',')}]}`;
}
