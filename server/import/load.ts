import { basename } from 'node:path';
import type { Knex } from 'knex';
import type { Core } from '../core.js';
import { withoutControlCharacters } from '../fhir/strings.js';
import { recordProvenance, SERVER_ACTOR, SERVER_DEVICE } from '../service/provenance.js';
import { sameContent } from '../service/load.js';
import type { NewVersion } from '../db/store.js';
import { deleteIndexRowsBatch, insertIndexBindings, setRowKeys } from '../search/write.js';
import { renumber } from '../service/resources.js';
import { WriteSession, type AnyResource, type ProvenanceRequest } from '../service/types.js';
import type { PreparedItem, PreparedUnit } from './prepare.js';
import type { ImportFile } from './types.js';

/**
 * Writing one prepared unit (a whole Bundle file, or a chunk of an NDJSON file; see
 * prepare.ts) in the transaction the importer gives it: the resources, their search
 * index rows and one Provenance naming all of them.
 *
 * See: https://hl7.org/fhir/R4/bundle.html and https://hl7.org/fhir/R4/provenance.html
 */

/** What the loading of one import needs at hand. */
export interface LoadContext {
  app: Core;
  /** Record one Provenance per transaction (`KILN_AUTO_PROVENANCE`). */
  autoProvenance: boolean;
}

export interface BatchResult {
  /** New versions written. */
  written: number;
  /** Resources already stored with this content (or superseded later in the import). */
  unchanged: number;
}

/**
 * Stores a prepared unit in `trx`: its resources, their index rows and its Provenance,
 * which commit (or roll back) together with that transaction.
 *
 * Each resource was staged as new (prepare.ts); what the database holds decides here:
 * - not stored (or deleted): written as prepared, version 1 or the next one;
 * - stored with the same content (`meta.versionId`/`lastUpdated` aside): left as it is,
 *   so a repeated import adds no versions;
 * - stored otherwise: written as the next version.
 * Of several copies of one resource in a unit, the last counts. Synthea repeats an
 * Organization or Practitioner in many files, not always with the same content: the
 * copy of the last file decides (`supersededLater`), an earlier copy is stored only when
 * the resource is not stored yet, so its own file's references resolve even if the file
 * of the last copy fails.
 */
export async function loadPrepared(ctx: LoadContext, trx: Knex.Transaction, file: ImportFile, unit: PreparedUnit): Promise<BatchResult> {
  const session = new WriteSession(trx, unit.now);
  const service = ctx.app.resources;
  const last = new Map<string, number>();
  unit.items.forEach((item, i) => last.set(keyOf(item), i));
  const current = await service.store.readMany(
    trx,
    [...last.values()].map((i) => ({ resourceType: unit.items[i].version.resourceType, id: unit.items[i].version.id })),
  );
  const versions: NewVersion[] = [];
  const positions: number[] = [];
  const replaced: number[] = [];
  for (const i of last.values()) {
    const item = unit.items[i];
    const previous = current.get(keyOf(item));
    if (previous && !previous.deleted && (item.supersededLater || sameContent(previous.content, JSON.parse(item.version.content) as AnyResource))) continue;
    versions.push(previous ? renumber(item.version, previous.versionId + 1, 'PUT') : item.version);
    positions.push(i);
    if (previous) replaced.push(versions.length - 1);
  }
  const rids = await service.writeVersions(session, versions);
  const byPosition = new Array<number | undefined>(unit.items.length);
  positions.forEach((p, k) => (byPosition[p] = rids[k]));
  await deleteIndexRowsBatch(trx, replaced.map((k) => rids[k]));
  await insertIndexBindings(trx, setRowKeys(unit.bindings, byPosition));
  if (ctx.autoProvenance) await recordProvenance(service, session, importProvenance(file), true);
  return { written: versions.length, unchanged: unit.items.length - versions.length };
}

function keyOf(item: PreparedItem): string {
  return `${item.version.resourceType}/${item.version.id}`;
}

/**
 * The Provenance of one imported file (or NDJSON chunk): the server's Device as author,
 * the file (by name only: a local path says nothing to a reader of the data) as source.
 * `recordProvenance` sets `target` to every version the transaction wrote.
 */
function importProvenance(file: ImportFile): ProvenanceRequest {
  return {
    actor: SERVER_ACTOR,
    own: {
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
      // A FHIR string holds no control characters; a file name may.
      entity: [{ role: 'source', what: { display: `kiln import of ${withoutControlCharacters(basename(file.path))}` } }],
    },
  };
}
