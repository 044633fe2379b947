import { randomUUID } from 'node:crypto';
import type { Controller, FhirRequest, RequestContext } from '../context.js';
import type { StoredVersion } from '../db/store.js';
import { lockCriteria } from '../db/transaction.js';
import { allOk, badRequest, preconditionFailed } from '../errors.js';
import { parseIfMatch } from '../parse/headers.js';
import { findMatchingIds } from '../search/query/index.js';
import type { AnyResource, WriteSession } from '../service/types.js';
import { validateResource } from '../validate/index.js';
import { accessFor, assertExisting, assertWritten, matchRestriction, provenanceHeader } from '../../smart/access/index.js';

/** Deletes at most this many resources in one conditional delete (`multiple` mode). */
const MAX_CONDITIONAL_DELETE = 1000;

/** The search criteria of a conditional interaction: the URL's query, which must not be empty. */
function criteria(req: FhirRequest): string {
  const q = req.url.indexOf('?');
  const params = new URLSearchParams(q >= 0 ? req.url.slice(q + 1) : '');
  for (const name of ['_format', '_pretty']) params.delete(name);
  const text = params.toString();
  if (text === '') throw badRequest(`A conditional ${req.method} needs search criteria in the URL`, undefined, 'required');
  return text;
}

/**
 * Serialises the conditional writes of one resource type, until the transaction ends.
 * Keyed on the type, not on the criteria' text: `PUT Patient?identifier=x|1`, an
 * `If-None-Exist: identifier=x%7C1` and `identifier=x|1&gender=male` are other texts that
 * may select the same resource, and two of them deciding at once left two resources.
 * A transaction takes the locks of all its types first, in one order (bundle/process.ts),
 * so that two transactions never wait on each other's.
 */
export async function lockConditional(ctx: RequestContext, trx: WriteSession['trx'], type: string): Promise<void> {
  await lockCriteria(ctx.db, trx, `kiln:conditional:${type}`);
}

/**
 * Ids matching the criteria, after the lock above, so that concurrent conditional writes
 * serialise: exactly one of 20 simultaneous conditional creates creates.
 * See: https://hl7.org/fhir/R4/http.html#ccreate
 *
 * Only rows the access token may search can match: what lies outside its reach is, for a
 * conditional interaction, as if it did not exist.
 */
async function matches(ctx: RequestContext, s: WriteSession, type: string, query: string, limit: number): Promise<string[]> {
  await lockConditional(ctx, s.trx, type);
  return findMatchingIds(s.trx, type, query, limit, { baseUrl: ctx.config.baseUrl, restrict: matchRestriction(accessFor(ctx), type) });
}

/** The `If-None-Exist` criteria of a conditional create, without a leading `?` or `Type?`. */
export function ifNoneExistCriteria(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw.trim().replace(/^[A-Za-z]*\?/, '');
}

/**
 * Conditional create: the one resource matching the criteria, none, or 412 for several.
 * Runs inside the write transaction.
 */
export async function findExisting(ctx: RequestContext, s: WriteSession, type: string, criteria: string): Promise<StoredVersion | undefined> {
  // Also reached from a transaction's first pass, before its entries are dispatched.
  accessFor(ctx).require(type, 'conditional-create');
  const ids = await matches(ctx, s, type, criteria, 2);
  if (ids.length > 1) throw preconditionFailed(`If-None-Exist: more than one ${type} matches "${criteria}"`);
  return ids.length ? ctx.resources.store.read(s.trx, type, ids[0]) : undefined;
}

/**
 * Where a conditional update (`PUT [type]?criteria`) will write: the one match, or
 * (none) the body's id or a new one; several are a 412. A transaction resolves its
 * conditional updates this way before anything is written, so that references to their
 * `fullUrl` can point at the resource they will write.
 * See: https://hl7.org/fhir/R4/bundle.html#references
 */
export async function conditionalUpdateTarget(ctx: RequestContext, s: WriteSession, req: FhirRequest): Promise<string> {
  const type = req.params.type as string;
  accessFor(ctx).require(type, 'conditional-update');
  const query = criteria(req);
  const ids = await matches(ctx, s, type, query, 2);
  if (ids.length > 1) throw preconditionFailed(`Conditional update: more than one ${type} matches "${query}"`);
  const bodyId = (req.body as AnyResource | undefined)?.id;
  return ids[0] ?? bodyId ?? randomUUID();
}

/**
 * Conditional update (`PUT [type]?criteria`): no match creates (with the body's id if it
 * has one), one match is updated (a differing body id is a 400), several are a 412.
 * In a transaction, `assignedId` is where the first pass found it would write; if the
 * transaction's own earlier entries changed what matches, the entry fails (412) rather
 * than leave references to its `fullUrl` pointing at another resource.
 * See: https://hl7.org/fhir/R4/http.html#cond-update
 */
export const conditionalUpdate: Controller = async (req, ctx) => {
  const type = req.params.type as string;
  const access = accessFor(ctx);
  access.require(type, 'conditional-update');
  const query = criteria(req);
  validateResource(req.body, { expectedType: type });
  const body = req.body as AnyResource;
  const ifMatch = parseIfMatch(req);
  const prov = { header: provenanceHeader(req, ctx), actor: ctx.actor, activity: 'UPDATE' };
  const result = await ctx.resources.write(
    prov,
    async (s) => {
      const ids = await matches(ctx, s, type, query, 2);
      if (ids.length > 1) throw preconditionFailed(`Conditional update: more than one ${type} matches "${query}"`);
      if (ids.length === 1 && body.id !== undefined && body.id !== ids[0]) {
        throw badRequest(`The body's id "${body.id}" is not the id of the matching ${type} (${ids[0]})`, `${type}.id`);
      }
      const id = ids[0] ?? body.id ?? req.assignedId ?? randomUUID();
      if (req.assignedId !== undefined && id !== req.assignedId) {
        throw preconditionFailed(`Conditional update: what matches "${query}" changed within the transaction (now ${type}/${id})`);
      }
      // No match may still name an existing resource by the body's id: it must be one the token may update.
      await assertExisting(access, s.trx, type, id, 'u', 'update');
      const out = await ctx.resources.update(s, { ...body, id }, ifMatch);
      await assertWritten(access, s.trx, type, id, out.created ? 'conditional-update-create' : 'conditional-update');
      return out;
    },
    ctx.session,
  );
  return { status: result.created ? 201 : 200, body: result.version.content, version: result.version, location: true };
};

/**
 * Conditional delete (`DELETE [type]?criteria`): deletes the one match; several matches
 * are a 412 unless `KILN_CONDITIONAL_DELETE=multiple`, which deletes them all.
 * See: https://hl7.org/fhir/R4/http.html#cdelete
 */
export const conditionalDelete: Controller = async (req, ctx) => {
  const type = req.params.type as string;
  const access = accessFor(ctx);
  access.require(type, 'conditional-delete');
  const query = criteria(req);
  const multiple = ctx.config.conditionalDelete === 'multiple';
  const prov = { header: provenanceHeader(req, ctx), actor: ctx.actor, activity: 'DELETE' };
  const deleted = await ctx.resources.write(
    prov,
    async (s) => {
      const ids = await matches(ctx, s, type, query, multiple ? MAX_CONDITIONAL_DELETE + 1 : 2);
      if (ids.length > (multiple ? MAX_CONDITIONAL_DELETE : 1)) {
        throw preconditionFailed(
          multiple
            ? `Conditional delete: more than ${MAX_CONDITIONAL_DELETE} ${type} resources match "${query}"; narrow the criteria`
            : `Conditional delete: more than one ${type} matches "${query}" (the server deletes a single match)`,
        );
      }
      const out: StoredVersion[] = [];
      for (const id of ids) {
        await assertExisting(access, s.trx, type, id, 'd', 'delete');
        const v = await ctx.resources.delete(s, type, id);
        if (v) out.push(v);
      }
      return out;
    },
    ctx.session,
  );
  if (deleted.length === 0) return { status: 204 };
  const names = deleted.map((v) => `${v.resourceType}/${v.id}`).join(', ');
  return { status: 200, body: allOk(`Deleted ${names}`), version: deleted.length === 1 ? deleted[0] : undefined };
};
