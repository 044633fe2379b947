import type { Knex } from 'knex';
import { badRequest } from '../../errors.js';
import { isResourceType } from '../../validate/index.js';
import { MAX_INDEXED_TEXT } from '../types.js';
import { parseQueryString } from './params.js';
import { compileFilters, ROOT } from './plan.js';
import { checkSize, matchQuery } from './run.js';
import { QueryEnv, type Where } from './sql.js';

/**
 * The query side of FHIR search (https://hl7.org/fhir/R4/search.html): parameters
 * compiled against the registry into EXISTS subqueries on the `search_*` index tables.
 */

export { planSearch, type SearchInput, type SearchPlan } from './plan.js';
export { runSearch, countMatches, type SearchResult } from './run.js';
export type { IncludeFilter, ResourceRow } from './include.js';

/**
 * The index keeps the first `MAX_INDEXED_TEXT` characters of most values (search/types.ts),
 * so two values that differ only after that both match
 * either. A search may answer with such a near miss; a conditional write must not act on
 * one (it would update or delete another resource), so criteria with a longer value, or
 * a longer part of one (`system|code`, a composite's components), are a 400.
 */
function refuseInexactValues(query: Record<string, string[]>): void {
  for (const [name, values] of Object.entries(query)) {
    for (const value of values) {
      for (const part of value.split(/(?<!\\)[|$,]/)) {
        if (part.length <= MAX_INDEXED_TEXT) continue;
        throw badRequest(
          `${name}: a value of ${part.length} characters is longer than the ${MAX_INDEXED_TEXT} the search index compares, so it cannot select exactly one resource for a conditional interaction`,
          name,
          'too-long',
        );
      }
    }
  }
}

/** Options of `findMatchingIds`. */
export interface MatchOptions {
  /**
   * The server's public base URL, so that absolute references to it
   * (`subject=https://kiln.example/fhir/Patient/1`) match local ones. Without it only
   * relative references and the exact URL match.
   */
  baseUrl?: string;
  /** An extra condition on the matching rows (alias `r`), such as what an access token may search. */
  restrict?: Where;
}

/**
 * The ids of current `resourceType` resources matching a search query string such as
 * `identifier=http://x|1&active=true`, at most `limit` of them, ordered by id — for the
 * conditional interactions (`If-None-Exist`, conditional references, conditional
 * update and delete: https://hl7.org/fhir/R4/http.html#ccreate).
 *
 * Parsing is strict: an unknown parameter, modifier or bad value throws a 400
 * `FhirError` naming it. Result parameters (`_count`, `_sort`, `_format`, …) and
 * parameters without a value select nothing, and criteria with nothing else are a 400:
 * "match every resource" is never what a conditional write means, and a stray `_count`
 * must not delete or overwrite an arbitrary resource.
 *
 * Pass the caller's transaction as `exec` when there is one: on SQLite there is one
 * connection, and a query outside the open transaction would wait for it forever.
 */
export async function findMatchingIds(
  exec: Knex | Knex.Transaction,
  resourceType: string,
  query: string,
  limit: number,
  options: MatchOptions = {},
): Promise<string[]> {
  if (!isResourceType(resourceType)) throw badRequest(`Unknown resource type "${resourceType}"`);
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`findMatchingIds: limit must be a whole number, got ${limit}`);
  const types = [resourceType];
  const parsed = parseQueryString(query);
  refuseInexactValues(parsed);
  const filters = compileFilters(new QueryEnv(options.baseUrl ?? ''), types, parsed, false);
  if (filters.used.length === 0) {
    const shown = query.length > 200 ? `${query.slice(0, 200)}…` : query;
    throw badRequest(
      `The criteria "${shown}" select nothing: a conditional interaction needs at least one search parameter with a value (result parameters such as _count, _sort, _summary and _elements select nothing)`,
      undefined,
      'required',
    );
  }
  if (limit === 0) return [];
  if (options.restrict) filters.wheres.push(options.restrict);
  const rows = (await checkSize(matchQuery(exec, { types, filters }).select(`${ROOT}.id`).orderBy(`${ROOT}.id`).limit(limit))) as { id: string }[];
  return rows.map((r) => r.id);
}
