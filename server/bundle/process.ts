import type { Bundle, BundleEntry, BundleEntryResponse } from 'fhir/r4';
import type { FhirResponse, RequestContext } from '../context.js';
import { FhirError, badRequest, normalizeError, preconditionFailed } from '../errors.js';
import { conditionalUpdateTarget, findExisting, ifNoneExistCriteria } from '../controllers/conditional.js';
import { dispatch } from '../http/dispatch.js';
import type { WriteSession } from '../service/types.js';
import { preferReturn } from '../parse/headers.js';
import type { FhirRequest } from '../context.js';
import { collectReferences, entryRequests, plannedIds, rewriteReferences, transactionOrder, type EntryRequest } from './entries.js';
import { findMatchingIds } from '../search/query/index.js';
import { isResourceType } from '../validate/index.js';
import { accessFor, matchRestriction, provenanceHeader } from '../../smart/access/index.js';

type RawEntry = Parameters<typeof entryRequests>[0][number];

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 204: '204 No Content', 304: '304 Not Modified',
  400: '400 Bad Request', 403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed',
  409: '409 Conflict', 410: '410 Gone', 412: '412 Precondition Failed', 422: '422 Unprocessable Entity',
};

/**
 * transaction: every entry in one database transaction, in the spec's order, with
 * `fullUrl` references rewritten to the ids assigned; one failure undoes everything and
 * answers with that entry's status and an OperationOutcome naming the entry.
 * See: https://hl7.org/fhir/R4/http.html#transaction
 */
export async function processTransaction(bundle: { entry?: RawEntry[] }, req: FhirRequest, ctx: RequestContext): Promise<Bundle> {
  const entries = entryRequests(bundle.entry ?? [], ctx.config.baseUrl, req.headers);
  const provenance = { header: provenanceHeader(req, ctx), actor: ctx.actor };
  const results = new Array<BundleEntry>(entries.length);
  await ctx.resources.write(provenance, async (session) => {
    const inner = { ...ctx, session };
    const ids = await conditionalCreates(entries, inner);
    await conditionalUpdates(entries, inner, ids);
    plannedIds(entries, ids);
    await conditionalReferences(entries, inner, ids);
    for (const e of entries) if (e.request.body !== undefined) rewriteReferences(e.request.body, ids);
    for (const e of transactionOrder(entries)) {
      try {
        results[e.index] = toEntry(await dispatch(e.request, e.segments, inner), e, ctx, req);
      } catch (err) {
        throw atEntry(err, e.index);
      }
    }
  });
  return { resourceType: 'Bundle', type: 'transaction-response', entry: results };
}

/**
 * batch: entries run independently, each in its own savepoint of one database
 * transaction, so a failing entry undoes only itself and reports its own outcome, while
 * one Provenance names everything the batch wrote.
 * See: https://hl7.org/fhir/R4/http.html#transaction
 */
export async function processBatch(bundle: { entry?: RawEntry[] }, req: FhirRequest, ctx: RequestContext): Promise<Bundle> {
  const raw = bundle.entry ?? [];
  const results: BundleEntry[] = [];
  const provenance = { header: provenanceHeader(req, ctx), actor: ctx.actor };
  await ctx.resources.write(provenance, async (session) => {
    for (let i = 0; i < raw.length; i++) {
      const before = session.targets.length;
      try {
        const [e] = entryRequests([raw[i]], ctx.config.baseUrl, req.headers);
        e.index = i;
        const out = await session.trx.transaction(async (trx) =>
          dispatch(e.request, e.segments, { ...ctx, session: session.nested(trx) }),
        );
        results.push(toEntry(out, e, ctx, req));
      } catch (err) {
        session.targets.length = before;
        results.push(failedEntry(atEntry(err, i)));
      }
    }
  });
  return { resourceType: 'Bundle', type: 'batch-response', entry: results };
}

/**
 * Conditional creates (`ifNoneExist`) that match an existing resource create nothing:
 * references to their fullUrl point at the match instead.
 * See: https://hl7.org/fhir/R4/bundle.html#references
 */
async function conditionalCreates(entries: EntryRequest[], ctx: RequestContext & { session: WriteSession }): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const e of entries) {
    const criteria = ifNoneExistCriteria(e.request.headers['if-none-exist']);
    if (e.request.method !== 'POST' || !e.fullUrl || !criteria || e.segments.length !== 1) continue;
    try {
      const existing = await findExisting(ctx, ctx.session, e.segments[0], criteria);
      if (existing) ids.set(e.fullUrl, `${existing.resourceType}/${existing.id}`);
    } catch (err) {
      throw atEntry(err, e.index);
    }
  }
  return ids;
}

/**
 * Conditional updates (`PUT Patient?identifier=…`) with a `fullUrl`: references to it
 * point at the resource the update will write, the match or the new one.
 * See: https://hl7.org/fhir/R4/bundle.html#references
 */
async function conditionalUpdates(entries: EntryRequest[], ctx: RequestContext & { session: WriteSession }, ids: Map<string, string>): Promise<void> {
  for (const e of entries) {
    if (e.request.method !== 'PUT' || !e.fullUrl || ids.has(e.fullUrl) || e.segments.length !== 1 || !e.request.url.includes('?')) continue;
    try {
      const type = e.segments[0];
      if (!isResourceType(type)) continue; // dispatch answers the unknown type
      const id = await conditionalUpdateTarget(ctx, ctx.session, { ...e.request, params: { type } });
      e.request.assignedId = id;
      ids.set(e.fullUrl, `${type}/${id}`);
    } catch (err) {
      throw atEntry(err, e.index);
    }
  }
}

/**
 * Conditional references (`Patient?identifier=http://x|1`) in a transaction resolve to
 * the one resource matching the search; none or several fail the transaction (412).
 * See: https://hl7.org/fhir/R4/bundle.html#references (conditional references)
 */
async function conditionalReferences(entries: EntryRequest[], ctx: RequestContext & { session: WriteSession }, ids: Map<string, string>): Promise<void> {
  for (const e of entries) {
    if (e.request.body === undefined || e.request.method === 'PATCH') continue;
    for (const ref of collectReferences(e.request.body)) {
      const m = CONDITIONAL_REFERENCE.exec(ref);
      if (!m || ids.has(ref)) continue;
      const [, type, query] = m;
      try {
        if (!isResourceType(type)) throw badRequest(`Conditional reference ${ref}: unknown resource type ${type}`);
        // A conditional reference is a search: it needs `s`, and sees only what the token may search.
        const access = accessFor(ctx);
        access.require(type, 'conditional-reference');
        const restrict = matchRestriction(access, type);
        const found = await findMatchingIds(ctx.session.trx, type, query, 2, { baseUrl: ctx.config.baseUrl, restrict });
        if (found.length !== 1) {
          throw preconditionFailed(`Conditional reference ${ref} matches ${found.length === 0 ? 'no' : 'more than one'} ${type}`);
        }
        ids.set(ref, `${type}/${found[0]}`);
      } catch (err) {
        throw atEntry(err, e.index);
      }
    }
  }
}

const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]+)\?(.+)$/;

function toEntry(out: FhirResponse, e: EntryRequest, ctx: RequestContext, req: FhirRequest): BundleEntry {
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

/** `Patient.name[0]` in an entry is `Bundle.entry[i].resource.name[0]`. */
function entryExpression(prefix: string, x: string): string {
  if (x.startsWith('Bundle.entry[')) return x;
  if (/^[A-Z][A-Za-z]*(\.|$)/.test(x)) return `${prefix}.resource${x.replace(/^[A-Z][A-Za-z]*/, '')}`;
  return `${prefix}.resource.${x}`;
}

function failedEntry(err: FhirError | unknown): BundleEntry {
  const { status, outcome } = normalizeError(err);
  return { response: { status: STATUS_TEXT[status] ?? String(status), outcome } };
}

/** Points an entry's error at the entry: diagnostics and expressions gain `Bundle.entry[i]`. */
function atEntry(err: unknown, index: number): unknown {
  if (!(err instanceof FhirError)) return err;
  const prefix = `Bundle.entry[${index}]`;
  const issues = err.issues.map((i) => ({
    ...i,
    diagnostics: `${prefix}: ${i.diagnostics ?? ''}`,
    expression: i.expression?.map((x) => entryExpression(prefix, x)),
  }));
  return new FhirError(err.status, issues, err.headers);
}
