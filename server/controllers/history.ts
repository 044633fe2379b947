import type { Bundle, BundleEntry, BundleLink } from 'fhir/r4';
import type { Controller, FhirRequest, RequestContext } from '../context.js';
import type { Executor, HistoryQuery, HistoryVersion } from '../db/store.js';
import { badRequest, notFound } from '../errors.js';
import { searchDateRange } from '../search/query/date.js';
import { pageSize, single } from '../parse/params.js';
import { accessFor, assertRow, historyRestriction } from '../../smart/access/index.js';

const KNOWN = new Set(['_since', '_at', '_count', '_cursor', '_format', '_pretty', '_summary', '_elements']);

/**
 * history (instance, type and system): versions newest first, paged by a keyset
 * cursor so that deep pages cost what the first does and stay right under writes.
 * See: https://hl7.org/fhir/R4/http.html#history
 */
export const history: Controller = async (req, ctx) => {
  for (const name of Object.keys(req.query)) {
    if (!KNOWN.has(name)) throw badRequest(`Unknown history parameter "${name}"`, name, 'not-supported');
  }
  const { type, id } = req.params;
  const q = historyQuery(req, ctx);
  const exec = ctx.session?.trx ?? ctx.db.knex;
  const restrict = await restriction(ctx, exec, type, id);
  const rows = await ctx.resources.store.history(exec, { ...q, resourceType: type, id, count: q.count + 1, restrict });
  const page = rows.slice(0, q.count);
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    link: links(req, ctx, rows.length > q.count && page.length > 0 ? page[page.length - 1].seq : undefined),
    entry: page.map((v) => entry(ctx.config.baseUrl, v)),
  };
  return { status: 200, body: bundle };
};

/**
 * What the access token may see of this history: instance history reads one resource (`r`,
 * decided on its current row: a deleted resource's history is refused under compartment or
 * filter rules); type and system history search (`s`) and show only versions of resources
 * whose current row the token may search.
 */
async function restriction(ctx: RequestContext, exec: Executor, type: string | undefined, id: string | undefined): Promise<HistoryQuery['restrict']> {
  const access = accessFor(ctx);
  if (type !== undefined && id !== undefined) {
    access.require(type, 'history-instance');
    if (!(await ctx.resources.store.read(exec, type, id))) throw notFound(`${type}/${id} is not known`);
    await assertRow(access, exec, type, id, ['r'], { action: 'read' });
    return undefined;
  }
  if (type !== undefined) access.require(type, 'history-type');
  else access.requireAny('history-system');
  return historyRestriction(access, type);
}

function historyQuery(req: FhirRequest, ctx: RequestContext): HistoryQuery {
  const since = single(req, '_since');
  const at = single(req, '_at');
  const cursor = single(req, '_cursor');
  if (cursor !== undefined && !/^\d{1,15}$/.test(cursor)) throw badRequest('_cursor is not a valid page cursor', '_cursor');
  return {
    since: since === undefined ? undefined : searchDateRange(since, '_since')[0],
    at: at === undefined ? undefined : atRange(searchDateRange(at, '_at')),
    beforeSeq: cursor === undefined ? undefined : Number(cursor),
    count: pageSize(req, ctx.config),
  };
}

function atRange([start, end]: [string, string]): { start: string; end: string } {
  return { start, end };
}

function links(req: FhirRequest, ctx: RequestContext, nextSeq: number | undefined): BundleLink[] {
  const base = ctx.config.baseUrl;
  const out: BundleLink[] = [{ relation: 'self', url: `${base}/${req.url}` }];
  if (nextSeq !== undefined) {
    const [path, qs = ''] = req.url.split('?');
    const params = new URLSearchParams(qs);
    params.set('_cursor', String(nextSeq));
    out.push({ relation: 'next', url: `${base}/${path}?${params}` });
  }
  return out;
}

function entry(base: string, v: HistoryVersion): BundleEntry {
  const url = `${v.resourceType}/${v.id}`;
  const e: BundleEntry = {
    fullUrl: `${base}/${url}`,
    request: { method: v.method as 'PUT', url: v.method === 'POST' ? v.resourceType : url },
    response: {
      status: v.deleted ? '204' : v.versionId === 1 ? '201' : '200',
      etag: `W/"${v.versionId}"`,
      lastModified: v.lastUpdated,
    },
  };
  if (!v.deleted) e.resource = JSON.parse(v.content);
  return e;
}
