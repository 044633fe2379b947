import { getSearchParam } from '../registry.js';
import { singleValued } from '../single-valued.js';
import { dateBranches, dateMatch, occurrenceFloor, parseDates } from './date.js';
import { alternatives, type Occurrence } from './params.js';
import { hasIndexRow, type Owner, type QB, type QueryEnv, type Where } from './sql.js';

/**
 * How selective a merged date range is taken to be: a range bounded on both sides beats
 * one bound (3), a token still drives before it (1; see `RANK` in sql.ts).
 */
const MERGED_RANK = 2.5;

/** One condition standing for several occurrences of a parameter. */
export interface MergedRange {
  where: Where;
  /** The occurrences it checks, each of which needs no condition of its own. */
  replaces: readonly Occurrence[];
}

/**
 * One condition for the repeated occurrences of a date parameter of one value per
 * resource (`Observation?date=ge2019-05-01&date=lt2019-05-02`): every occurrence on one
 * and the same `search_date` row, which such a parameter has at most one of (a Period
 * or Timing is one row, its range). With one row, "some row meets each occurrence" and
 * "one row meets them all" select the same resources, so it replaces the occurrences'
 * own conditions: the search is driven from the `_lookup` index bounded on both sides
 * instead of from either open-ended half, and checks one subquery instead of three
 * (https://hl7.org/fhir/R4/search.html#date).
 *
 * Before date rows had classes of length (migration 0011), PostgreSQL estimated such a
 * condition to match far more rows than it does and walked every Observation in key
 * order unless the occurrences' own conditions were there to lower the estimate. Its
 * seek on short rows is bounded on both sides now, and the estimate with it.
 */
export function mergedDateRanges(env: QueryEnv, owner: Owner, types: string[] | undefined, used: readonly Occurrence[]): MergedRange[] {
  if (types?.length !== 1) return [];
  const type = types[0];
  const byName = new Map<string, Occurrence[]>();
  for (const occ of used) if (!occ.name.includes(':')) byName.set(occ.name, [...(byName.get(occ.name) ?? []), occ]);
  const out: MergedRange[] = [];
  for (const [name, occurrences] of byName) {
    if (occurrences.length < 2) continue;
    const def = getSearchParam(type, name);
    // A union (search/union-params.ts) has no rows of its own to merge on.
    if (!def || def.type !== 'date' || def.unionOf || !singleValued(def, type)) continue;
    const values = occurrences.map((occ) => parseDates(alternatives(occ), def.comparators, name));
    const matches = values.map(dateMatch);
    const match = (qb: QB, t: string) => matches.forEach((m) => m(qb, t));
    const where = hasIndexRow(env, owner, 'date', def.code, match, false, dateBranches(values.map(occurrenceFloor)));
    where.rank = MERGED_RANK;
    out.push({ where, replaces: occurrences });
  }
  return out;
}
