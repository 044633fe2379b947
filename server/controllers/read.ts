import type { Controller, FhirRequest } from '../context.js';
import type { StoredVersion } from '../db/store.js';
import { parseEtag } from '../parse/headers.js';
import { accessFor, assertRow } from '../../smart/access/index.js';

/**
 * read: the current version, served from its stored JSON text. Answers 304 when the
 * client's `If-None-Match` or `If-Modified-Since` shows it already has this version.
 * See: https://hl7.org/fhir/R4/http.html#read and https://hl7.org/fhir/R4/http.html#cread
 */
export const read: Controller = async (req, ctx) => {
  const { type, id } = req.params as { type: string; id: string };
  const access = accessFor(ctx);
  access.require(type, 'read');
  const version = await ctx.resources.read(type, id, ctx.session?.trx);
  // After the read, so that an unknown or deleted resource stays a 404 or 410.
  await assertRow(access, ctx.session?.trx ?? ctx.db.knex, type, id, ['r'], { action: 'read' });
  if (notModified(req, version)) return { status: 304, version };
  return { status: 200, body: version.content, version };
};

/**
 * vread: one version by its version id.
 * See: https://hl7.org/fhir/R4/http.html#vread
 *
 * Access is decided on the resource's current row, not on the old version: the index rows
 * that compartment and filter rules are evaluated on exist for the current version only. So
 * under such rules, versions of a resource that has since left the token's reach (or was
 * deleted) are refused too.
 */
export const vread: Controller = async (req, ctx) => {
  const { type, id, vid } = req.params as { type: string; id: string; vid: string };
  const access = accessFor(ctx);
  access.require(type, 'vread');
  const version = await ctx.resources.vread(type, id, vid, ctx.session?.trx);
  await assertRow(access, ctx.session?.trx ?? ctx.db.knex, type, id, ['r'], { action: 'read' });
  if (notModified(req, version)) return { status: 304, version };
  return { status: 200, body: version.content, version };
};

function notModified(req: FhirRequest, version: StoredVersion): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    if (inm.trim() === '*') return true;
    return inm.split(',').some((tag) => {
      try {
        return parseEtag(tag, 'If-None-Match') === version.versionId;
      } catch {
        return false;
      }
    });
  }
  const ims = req.headers['if-modified-since'];
  if (ims !== undefined) {
    const since = Date.parse(ims);
    // HTTP dates have whole seconds: compare at that precision.
    return !Number.isNaN(since) && Math.floor(Date.parse(version.lastUpdated) / 1000) * 1000 <= since;
  }
  return false;
}
