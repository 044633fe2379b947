import type { Controller, FhirRequest, FhirResponse, RequestContext } from '../context.js';
import type { StoredVersion } from '../db/store.js';
import { allOk, badRequest } from '../errors.js';
import { parseIfMatch, parseIfNoneMatch } from '../parse/headers.js';
import type { AnyResource, ProvenanceRequest } from '../service/types.js';
import { findExisting, ifNoneExistCriteria } from './conditional.js';
import { validateResource } from '../validate/index.js';
import { accessFor, assertExisting, assertWritten, provenanceHeader } from '../../smart/access/index.js';

function provenance(req: FhirRequest, ctx: RequestContext, activity: string): ProvenanceRequest {
  return { header: provenanceHeader(req, ctx), actor: ctx.actor, activity };
}

function written(status: number, version: StoredVersion, location: boolean): FhirResponse {
  return { status, body: version.content, version, location };
}

/**
 * create: a new resource with a server-assigned id (an id in the body is ignored, as
 * the spec requires). With `If-None-Exist`, the one existing match is answered instead.
 * See: https://hl7.org/fhir/R4/http.html#create and https://hl7.org/fhir/R4/http.html#ccreate
 */
export const create: Controller = async (req, ctx) => {
  const type = req.params.type as string;
  const criteria = ifNoneExistCriteria(req.headers['if-none-exist']);
  const access = accessFor(ctx);
  access.require(type, criteria === undefined ? 'create' : 'conditional-create');
  const body = withoutId(req.body);
  validateResource(body, { expectedType: type });
  const prov = provenance(req, ctx, 'CREATE');
  const result = await ctx.resources.write(
    prov,
    async (s) => {
      const existing = criteria === undefined ? undefined : await findExisting(ctx, s, type, criteria);
      if (existing) return { existing };
      const created = await ctx.resources.create(s, body as AnyResource, req.assignedId);
      await assertWritten(access, s.trx, type, created.id, 'create');
      return { created };
    },
    ctx.session,
  );
  if (result.existing) return { status: 200, body: result.existing.content, version: result.existing };
  return written(201, result.created as StoredVersion, true);
};

/**
 * update: a new version, or update-as-create with the client's id. The body's id must
 * equal the URL's. `If-Match` makes it version-aware; `If-None-Match: *` create-only.
 * See: https://hl7.org/fhir/R4/http.html#update
 */
export const update: Controller = async (req, ctx) => {
  const { type, id } = req.params as { type: string; id: string };
  const access = accessFor(ctx);
  access.require(type, 'update');
  validateResource(req.body, { expectedType: type, expectedId: id, requireId: true });
  const ifMatch = parseIfMatch(req);
  const ifNoneMatch = parseIfNoneMatch(req);
  const prov = provenance(req, ctx, 'UPDATE');
  const result = await ctx.resources.write(
    prov,
    async (s) => {
      await assertExisting(access, s.trx, type, id, 'u', 'update');
      const out = await ctx.resources.update(s, req.body as AnyResource, ifMatch, ifNoneMatch);
      await assertWritten(access, s.trx, type, id, out.created ? 'update-create' : 'update');
      return out;
    },
    ctx.session,
  );
  return written(result.created ? 201 : 200, result.version, true);
};

/**
 * patch: JSON Patch (`application/json-patch+json`) on the current version.
 * See: https://hl7.org/fhir/R4/http.html#patch
 */
export const patch: Controller = async (req, ctx) => {
  const { type, id } = req.params as { type: string; id: string };
  const access = accessFor(ctx);
  access.require(type, 'patch');
  if (!Array.isArray(req.body)) throw badRequest('PATCH needs a JSON Patch document: an array of operations');
  const ifMatch = parseIfMatch(req);
  const prov = provenance(req, ctx, 'UPDATE');
  const version = await ctx.resources.write(
    prov,
    async (s) => {
      await assertExisting(access, s.trx, type, id, 'u', 'patch');
      const v = await ctx.resources.patch(s, type, id, req.body, ifMatch);
      await assertWritten(access, s.trx, type, id, 'patch');
      return v;
    },
    ctx.session,
  );
  return written(200, version, false);
};

/**
 * delete: marks the resource deleted (a new version); later reads answer 410 Gone.
 * `If-Match` makes it version-aware (412 when the version is not current).
 * See: https://hl7.org/fhir/R4/http.html#delete
 */
export const remove: Controller = async (req, ctx) => {
  const { type, id } = req.params as { type: string; id: string };
  const access = accessFor(ctx);
  access.require(type, 'delete');
  const ifMatch = parseIfMatch(req);
  const prov = provenance(req, ctx, 'DELETE');
  const version = await ctx.resources.write(
    prov,
    async (s) => {
      await assertExisting(access, s.trx, type, id, 'd', 'delete');
      return ctx.resources.delete(s, type, id, ifMatch);
    },
    ctx.session,
  );
  if (!version) return { status: 204 };
  return { status: 200, body: allOk(`Deleted ${type}/${id}`), version };
};

function withoutId(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const { id: _ignored, ...rest } = body as AnyResource;
  return rest;
}
