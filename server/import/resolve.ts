import type { Knex } from 'knex';
import { IDENTIFIER_CODE } from '../search/deferred-indexes.js';
import { isUrnReference, parseConditional, referenceSites, type ConditionalReference, type ReferenceSite } from './references.js';
import type { ImportIndex } from './scan.js';
import { ImportFailure, type ImportEntry } from './types.js';

/**
 * Resolving the references of an import to `Type/id`, from the import itself (its first
 * pass, `ImportIndex`) or, for what the import does not hold, from the database:
 * - `urn:uuid:X` → the entry whose fullUrl it is, else the entry of the import with id X
 *   (whatever its fullUrl, so that file order does not matter), else the stored resource
 *   with id X (the `resources_id` index exists for this lookup);
 * - `Type?identifier=system|value` → the one resource of that type with that identifier,
 *   in the import or in the `search_token` rows of the `identifier` parameter;
 * - an absolute URL that is an entry's fullUrl → that entry; other URLs stay as written.
 *
 * See: https://hl7.org/fhir/R4/bundle.html#references and
 * https://hl7.org/fhir/R4/http.html#trules (conditional references)
 */

/** How one reference string resolves: to `Type/id`, not at all (why), or stays as written. */
type Resolution = { target: string } | { error: string } | null;

/** Ids per IN list: well under both engines' bind-parameter limits. */
const LOOKUP_CHUNK = 500;

export class ReferenceResolver {
  constructor(private readonly index: ImportIndex) {}

  /**
   * Rewrites, in place, every reference of `entries` that names an entry of the import
   * or a stored resource. Throws `ImportFailure` naming the entry and element of the
   * first reference that cannot be resolved. Stored resources are looked up through
   * `knex`, the preparing thread's own connection: what is committed (entries of the
   * import itself resolve from its index, whether they are written yet or not).
   */
  async rewrite(knex: Knex, entries: ImportEntry[]): Promise<void> {
    const sites: ReferenceSite[] = [];
    for (const e of entries) referenceSites(e, sites);
    if (sites.length === 0) return;
    const resolved = await this.resolveAll(knex, new Set(sites.map((s) => s.value)));
    for (const site of sites) {
      const r = resolved.get(site.value) ?? null;
      if (r === null) continue;
      if ('error' in r) throw new ImportFailure(r.error, site.entry.label, site.path);
      site.holder.reference = r.target;
    }
  }

  private async resolveAll(knex: Knex, values: Set<string>): Promise<Map<string, Resolution>> {
    const out = new Map<string, Resolution>();
    const byId = new Map<string, string>();
    const conditionals = new Map<string, ConditionalReference>();
    for (const v of values) {
      const cond = parseConditional(v);
      if (typeof cond === 'string') out.set(v, { error: `${v}: ${cond}` });
      else if (cond) conditionals.set(v, cond);
      else out.set(v, this.fromIndex(v, byId));
    }
    await this.fromStoredIds(knex, byId, out);
    for (const [v, cond] of conditionals) out.set(v, await this.conditional(knex, v, cond));
    return out;
  }

  /** Resolves from the import's fullUrls, then its ids; a `urn:` not found there is queued for the database. */
  private fromIndex(value: string, byId: Map<string, string>): Resolution {
    const target = this.index.target(value);
    if (target === '') return { error: `${value} is the fullUrl of several different resources in this import` };
    if (target !== undefined) return { target };
    if (!isUrnReference(value)) return null;
    const id = value.slice(value.indexOf(':', 4) + 1);
    const entry = this.index.byId(id);
    if (entry === '') return { error: `${value} is ambiguous: entries of several types in this import have the id ${id}` };
    if (entry !== undefined) return { target: entry };
    byId.set(id, value);
    return { error: `${value} is neither the fullUrl of an entry of this import nor the id of a stored resource` };
  }

  /** `urn:uuid:X` of a resource loaded before this import: the stored resource with id X, of whatever type. */
  private async fromStoredIds(knex: Knex, byId: Map<string, string>, out: Map<string, Resolution>): Promise<void> {
    const ids = [...byId.keys()];
    const types = new Map<string, string[]>();
    for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
      const rows: { resource_type: string; id: string }[] = await knex('resources')
        .select('resource_type', 'id')
        .whereIn('id', ids.slice(i, i + LOOKUP_CHUNK))
        .where('deleted', false);
      for (const r of rows) types.set(r.id, [...(types.get(r.id) ?? []), r.resource_type]);
    }
    for (const [id, found] of types) {
      const value = byId.get(id) as string;
      if (found.length === 1) out.set(value, { target: `${found[0]}/${id}` });
      else out.set(value, { error: `${value} is ambiguous: stored resources ${found.map((t) => `${t}/${id}`).join(', ')} share its id` });
    }
  }

  /** The one resource with the identifier, among this import's entries and the stored resources. */
  private async conditional(knex: Knex, value: string, c: ConditionalReference): Promise<Resolution> {
    const ids = new Set(this.index.byIdentifier(c.type, c.system, c.value));
    for (const id of await this.storedWithIdentifier(knex, c)) ids.add(id);
    if (ids.size === 1) return { target: `${c.type}/${[...ids][0]}` };
    if (ids.size === 0) return { error: `${value} matches no ${c.type} in this import or the database` };
    const some = [...ids].slice(0, 5).map((id) => `${c.type}/${id}`);
    return { error: `${value} matches ${ids.size} resources (${some.join(', ')}${ids.size > 5 ? ', …' : ''}); it must match one` };
  }

  /** Ids from the search index rows of the `identifier` parameter (written with every stored version). */
  private async storedWithIdentifier(knex: Knex, c: ConditionalReference): Promise<string[]> {
    const rows: { id: string }[] = await identifierQuery(knex, c);
    return rows.map((r) => r.id);
  }
}

/**
 * The ids of the stored resources of `c.type` with the identifier of `c`. The parameter
 * code is a constant of the statement, not a bound value, so that SQLite can use the
 * partial index of identifier rows while a bulk load has the query indexes away
 * (search/deferred-indexes.ts); otherwise the token table's query index serves it.
 */
export function identifierQuery(knex: Knex, c: ConditionalReference): Knex.QueryBuilder {
  const q = knex('search_token as t')
    .join('resources as r', 'r.rid', 't.rid')
    .distinct('r.id')
    .where({ 't.resource_type': c.type, 't.value': c.value })
    .whereRaw(`?? = '${IDENTIFIER_CODE}'`, ['t.code']);
  if (c.system === '') q.whereNull('t.system');
  else if (c.system !== undefined) q.where('t.system', c.system);
  return q;
}
