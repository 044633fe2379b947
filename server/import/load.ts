import { basename } from 'node:path';
import type { Knex } from 'knex';
import type { Core } from '../core.js';
import { FhirError } from '../errors.js';
import { loadResources } from '../service/load.js';
import { recordProvenance, SERVER_ACTOR, SERVER_DEVICE } from '../service/provenance.js';
import { WriteSession, type AnyResource, type ProvenanceRequest } from '../service/types.js';
import { validateResource } from '../validate/index.js';
import type { ReferenceResolver } from './resolve.js';
import type { ImportIndex } from './scan.js';
import { ImportFailure, type ImportEntry, type ImportFile } from './types.js';

/**
 * Loading one batch of entries (a whole Bundle file, or a chunk of an NDJSON file) in
 * the transaction (a savepoint) the importer gives it: references rewritten and every
 * resource validated before anything is written; then the resources, their search
 * index rows and one Provenance naming all of them.
 *
 * See: https://hl7.org/fhir/R4/bundle.html and https://hl7.org/fhir/R4/provenance.html
 */

/** What the loading of one import needs at hand. */
export interface LoadContext {
  app: Core;
  index: ImportIndex;
  resolver: ReferenceResolver;
  /** Record one Provenance per transaction (`KILN_AUTO_PROVENANCE`). */
  autoProvenance: boolean;
}

export interface BatchResult {
  /** New versions written. */
  written: number;
  /** Resources already stored with this content (or superseded later in the import). */
  unchanged: number;
}

/** Issues quoted in a failure message; the rest are counted. */
const MAX_ISSUES = 3;

/**
 * Rewrites the references of `entries` and validates each resource as the server
 * validates any write. Throws `ImportFailure` naming the first entry at fault.
 */
export async function prepareBatch(ctx: LoadContext, trx: Knex.Transaction, entries: ImportEntry[]): Promise<void> {
  await ctx.resolver.rewrite(trx, entries);
  for (const e of entries) validateEntry(e);
}

function validateEntry(e: ImportEntry): void {
  try {
    validateResource(e.resource, { requireId: true });
  } catch (err) {
    if (!(err instanceof FhirError)) throw err;
    const errors = err.issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    const issues = errors.length > 0 ? errors : err.issues;
    const paths = [...new Set(issues.flatMap((i) => i.expression ?? []))];
    const texts = issues.slice(0, MAX_ISSUES).map((i) => i.diagnostics ?? i.details?.text ?? i.code);
    const more = issues.length > MAX_ISSUES ? ` (and ${issues.length - MAX_ISSUES} more)` : '';
    throw new ImportFailure(`invalid ${e.resource.resourceType}: ${texts.join('; ')}${more}`, e.label, paths.join(', ') || undefined);
  }
}

/**
 * Stores a prepared batch in `trx`: all of it, its index rows and its Provenance, which
 * commit (or roll back) together with that transaction.
 */
export async function loadBatch(ctx: LoadContext, trx: Knex.Transaction, file: ImportFile, entries: ImportEntry[]): Promise<BatchResult> {
  const session = new WriteSession(trx, new Date().toISOString());
  const resources = await withoutSuperseded(ctx, session, entries);
  const { written } = await loadResources(ctx.app.resources, session, resources);
  if (ctx.autoProvenance) await recordProvenance(ctx.app.resources, session, importProvenance(file), true);
  return { written, unchanged: entries.length - written };
}

/**
 * Synthea repeats an Organization or Practitioner in many files, not always with the
 * same content (its `*Information` bundles add utilization extensions). Writing every
 * copy would add a version per copy on each run, so a re-run would never be a no-op.
 * Instead the last copy in the import decides the content; an earlier copy is stored
 * only when the resource does not exist yet, so its own file's references resolve even
 * if the file of the last copy fails.
 */
async function withoutSuperseded(ctx: LoadContext, s: WriteSession, entries: ImportEntry[]): Promise<AnyResource[]> {
  const early = entries.filter((e) => ctx.index.supersededLater(e));
  if (early.length === 0) return entries.map((e) => e.resource);
  const keys = early.map((e) => ({ resourceType: e.resource.resourceType, id: e.resource.id as string }));
  const stored = await ctx.app.resources.store.readMany(s.trx, keys);
  const skip = new Set(early.filter((e) => stored.get(`${e.resource.resourceType}/${e.resource.id}`)?.deleted === false));
  return entries.filter((e) => !skip.has(e)).map((e) => e.resource);
}

/**
 * The Provenance of one imported file (or NDJSON chunk): the server's Device as author,
 * the file (by name only: a local path says nothing to a reader of the data) as source.
 * `recordProvenance` sets `target` to every version the transaction wrote.
 */
function importProvenance(file: ImportFile): ProvenanceRequest {
  return {
    actor: SERVER_ACTOR,
    header: {
      resourceType: 'Provenance',
      agent: [
        {
          type: {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author', display: 'Author' },
            ],
          },
          who: SERVER_DEVICE,
        },
      ],
      entity: [{ role: 'source', what: { display: `kiln import of ${basename(file.path)}` } }],
    },
  };
}
