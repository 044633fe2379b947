import type { Bundle, BundleEntry } from 'fhir/r4';
import type { FhirRequest, FhirResponse, RequestContext } from '../context.js';
import { badRequest, normalizeError, preconditionFailed } from '../errors.js';
import { conditionalUpdateTarget, findExisting, ifNoneExistCriteria, lockConditional } from '../controllers/conditional.js';
import { dispatch } from '../http/dispatch.js';
import type { WriteSession } from '../service/types.js';
import { collectReferences, entryRequests, plannedIds, rewriteReferences, transactionOrder, type EntryRequest } from './entries.js';
import { ResultBudget, returnedResources } from './budget.js';
import { TransactionIdentities } from './identities.js';
import { atEntry, failedEntry, toEntry } from './response.js';
import { CONDITIONAL_REFERENCE } from '../fhir/references.js';
import { findMatchingIds } from '../search/query/index.js';
import { isResourceType } from '../validate/index.js';
import { accessFor, matchRestriction, provenanceHeader } from '../../smart/access/index.js';

type RawEntry = Parameters<typeof entryRequests>[0][number];

/**
 * transaction: every entry in one database transaction, in the spec's order, with
 * `fullUrl` references rewritten to the ids assigned; one failure undoes everything and
 * answers with that entry's status and an OperationOutcome naming the entry. Two entries
 * acting on one resource fail it (400), as does a GET entry whose results pass the
 * budget of resources in the response (400, `too-costly`; see budget.ts).
 * See: https://hl7.org/fhir/R4/http.html#transaction
 */
export async function processTransaction(bundle: { entry?: RawEntry[] }, req: FhirRequest, ctx: RequestContext): Promise<Bundle> {
  const entries = entryRequests(bundle.entry ?? [], ctx.config.baseUrl, req.headers);
  const identities = TransactionIdentities.fromUrls(entries);
  const budget = new ResultBudget(ctx.config.maxBundleResults, entries.length);
  const provenance = { header: provenanceHeader(req, ctx), actor: ctx.actor };
  const results = new Array<BundleEntry>(entries.length);
  await ctx.resources.write(provenance, async (session) => {
    const inner = { ...ctx, session };
    for (const type of conditionalTypes(entries)) await lockConditional(ctx, session.trx, type);
    const ids = await conditionalCreates(entries, inner);
    await conditionalUpdates(entries, inner, ids);
    plannedIds(entries, ids);
    await conditionalReferences(entries, inner, ids);
    for (const e of entries) if (e.request.body !== undefined) rewriteReferences(e.request.body, ids);
    for (const e of transactionOrder(entries)) {
      const get = e.request.method === 'GET';
      if (get) budget.open(e.index);
      const before = session.targets.length;
      let out: FhirResponse;
      try {
        out = await dispatch(e.request, e.segments, inner);
      } catch (err) {
        throw atEntry(err, e.index, e);
      }
      if (!get) identities.claimWritten(e, session.targets.slice(before));
      results[e.index] = toEntry(out, e, ctx, req);
      if (get) budget.close(e.index, returnedResources(results[e.index].resource));
    }
  });
  return { resourceType: 'Bundle', type: 'transaction-response', entry: results };
}

/**
 * batch: entries run independently, each in its own savepoint of one database
 * transaction, so a failing entry undoes only itself and reports its own outcome, while
 * one Provenance names everything the batch wrote. The GET entry whose results would
 * pass the budget of resources in the response, and every GET entry after it, get a 400
 * (`too-costly`) each; earlier ones keep theirs (see budget.ts).
 * See: https://hl7.org/fhir/R4/http.html#transaction
 */
export async function processBatch(bundle: { entry?: RawEntry[] }, req: FhirRequest, ctx: RequestContext): Promise<Bundle> {
  const raw = bundle.entry ?? [];
  const results: BundleEntry[] = [];
  const budget = new ResultBudget(ctx.config.maxBundleResults, raw.length);
  const provenance = { header: provenanceHeader(req, ctx), actor: ctx.actor };
  await ctx.resources.write(provenance, async (session) => {
    for (let i = 0; i < raw.length; i++) {
      const before = session.targets.length;
      let e: EntryRequest | undefined;
      try {
        [e] = entryRequests([raw[i]], ctx.config.baseUrl, req.headers, i);
        const { request, segments } = e;
        const get = request.method === 'GET';
        if (get) budget.open(i);
        const out = await session.trx.transaction(async (trx) => dispatch(request, segments, { ...ctx, session: session.nested(trx) }));
        const entry = toEntry(out, e, ctx, req);
        if (get) budget.close(i, returnedResources(entry.resource));
        results.push(entry);
      } catch (err) {
        session.targets.length = before;
        results.push(failedEntry(logInternal(atEntry(err, i, e), i, ctx)));
      }
    }
  });
  return { resourceType: 'Bundle', type: 'batch-response', entry: results };
}

/**
 * An unexpected error in a batch entry becomes that entry's 500 rather than the
 * request's, so the HTTP layer never sees it: log it here as it would have, with the
 * request id (the context's logger carries it) and the entry, never the resource.
 */
function logInternal(err: unknown, index: number, ctx: RequestContext): unknown {
  if (normalizeError(err).status >= 500) ctx.log.error({ err, entry: `Bundle.entry[${index}]` }, 'batch entry failed');
  return err;
}

/**
 * The types of a transaction's conditional creates, updates and deletes, sorted: their
 * locks are taken in this one order before any entry runs (controllers/conditional.ts).
 */
function conditionalTypes(entries: EntryRequest[]): string[] {
  const types = new Set<string>();
  for (const e of entries) {
    const [type] = e.segments;
    if (e.segments.length !== 1 || !isResourceType(type)) continue;
    const conditionalWrite = (e.request.method === 'PUT' || e.request.method === 'DELETE') && e.request.url.includes('?');
    if (conditionalWrite || (e.request.method === 'POST' && ifNoneExistCriteria(e.request.headers['if-none-exist']))) types.add(type);
  }
  return [...types].sort();
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
      throw atEntry(err, e.index, e, 'request.ifNoneExist');
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
      throw atEntry(err, e.index, e);
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
