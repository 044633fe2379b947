import type { Knex } from 'knex';
import { AUTH_VERSION_COLUMN, AUTH_VERSION_SQL, type AuthVersionWatch } from '../../db/auth-version.js';
import { badRequest } from '../../errors.js';
import { resolveIncludes, type ResourceRow } from './include.js';
import { ROOT, type SearchPlan } from './plan.js';
import { afterKeys, encodeCursor, orderByKeys, selectKeys, type SortKey } from './sort.js';
import { applyAll, type QB } from './sql.js';

/**
 * Runs a planned search: the page by keyset, the total when asked, the includes.
 * Pass one transaction as `exec` so that all three see the same data
 * (https://hl7.org/fhir/R4/search.html#total asks for a total that fits the page).
 */

type Exec = Knex | Knex.Transaction;

/** One page of a search, with what goes around it in the searchset Bundle. */
export interface SearchResult {
  matches: ResourceRow[];
  included: ResourceRow[];
  /** Set when the includes were cut at MAX_INCLUDED. */
  includesTruncated: boolean;
  total: number | undefined;
  /** Cursors of the neighbouring pages, when there are any. */
  next: string | undefined;
  previous: string | undefined;
}

/** Bound values one statement may carry: SQLite refuses more than 32,766. */
const MAX_BINDINGS = 30_000;

/** `resources r` restricted to the searched types, current versions and every condition. */
export function matchQuery(exec: Exec, plan: Pick<SearchPlan, 'types' | 'filters'>): QB {
  const q = exec(`resources as ${ROOT}`).where(`${ROOT}.deleted`, false);
  if (plan.types?.length === 1) q.where(`${ROOT}.resource_type`, plan.types[0]);
  else if (plan.types) q.whereIn(`${ROOT}.resource_type`, plan.types);
  applyAll(q, plan.filters.wheres);
  return q;
}

/** A 400 rather than the driver's error when a search has more values than a statement can bind. */
export function checkSize(q: QB): QB {
  if (q.toSQL().bindings.length > MAX_BINDINGS) throw badRequest('The search has too many values; split it into several searches', undefined, 'too-costly');
  return q;
}

type KeyedRow = ResourceRow & Record<string, unknown>;

/** The row's sort key values; numbers as numbers (PostgreSQL returns a bigint as text). */
function keyValues(row: KeyedRow, keys: SortKey[]): (string | number)[] {
  return keys.map((k, i) => (k.kind === 'text' ? (row[`k${i}`] as string) : Number(row[`k${i}`])));
}

/** The statement of one page: the matches in sort order after the cursor, one more than the page holds. */
export function pageQuery(exec: Exec, plan: SearchPlan): QB {
  const backwards = plan.cursor?.backwards ?? false;
  const q = matchQuery(exec, plan).select(`${ROOT}.rid`, `${ROOT}.resource_type`, `${ROOT}.id`, `${ROOT}.content`);
  selectKeys(q, exec, plan.keys);
  if (plan.cursor) afterKeys(q, plan.keys, plan.cursor.values, backwards);
  orderByKeys(q, plan.keys, backwards);
  return checkSize(q.limit(plan.count + 1));
}

/**
 * One page in sort order, with whether more rows lie beyond it in the reading direction.
 * With `watch` (PostgreSQL, `exec` outside any transaction) its rows also carry the
 * authorization state's version, for the token check (db/auth-version.ts).
 */
async function page(exec: Exec, plan: SearchPlan, watch?: AuthVersionWatch): Promise<{ rows: KeyedRow[]; more: boolean }> {
  const backwards = plan.cursor?.backwards ?? false;
  const q = pageQuery(exec, plan);
  if (watch) q.select(exec.raw(`${AUTH_VERSION_SQL} as ${AUTH_VERSION_COLUMN}`));
  const rows = (watch ? await watch.rows(() => q) : await q) as KeyedRow[];
  const more = rows.length > plan.count;
  const kept = rows.slice(0, plan.count);
  return { rows: backwards ? kept.reverse() : kept, more };
}

/** Next/previous cursors: the side read towards has more when the query said so; the side come from has, by construction. */
function neighbours(plan: SearchPlan, rows: KeyedRow[], more: boolean): Pick<SearchResult, 'next' | 'previous'> {
  if (rows.length === 0) return { next: undefined, previous: undefined };
  const backwards = plan.cursor?.backwards ?? false;
  const first = encodeCursor({ values: keyValues(rows[0], plan.keys), backwards: true });
  const last = encodeCursor({ values: keyValues(rows[rows.length - 1], plan.keys), backwards: false });
  const hasNext = backwards ? plan.cursor !== undefined : more;
  const hasPrevious = backwards ? more : plan.cursor !== undefined;
  return { next: hasNext ? last : undefined, previous: hasPrevious ? first : undefined };
}

/** How many resources match, with no paging (https://hl7.org/fhir/R4/search.html#total). */
export async function countMatches(exec: Exec, plan: Pick<SearchPlan, 'types' | 'filters'>): Promise<number> {
  const [row] = (await checkSize(matchQuery(exec, plan).count({ n: '*' }))) as { n: number | string }[];
  return Number(row?.n ?? 0);
}

/** Runs the search; see the module comment for `exec`, and `page` for `watch`. */
export async function runSearch(exec: Exec, plan: SearchPlan, baseUrl: string, watch?: AuthVersionWatch): Promise<SearchResult> {
  const { rows, more } = plan.count > 0 ? await page(exec, plan, watch) : { rows: [], more: false };
  const total = plan.total === 'none' ? undefined : await countMatches(exec, plan);
  const included = plan.includes.length > 0 && rows.length > 0 ? await resolveIncludes(exec, plan.includes, rows, baseUrl, plan.includeFilter) : { rows: [], truncated: false };
  return {
    matches: rows,
    included: included.rows,
    includesTruncated: included.truncated,
    total,
    ...neighbours(plan, rows, more),
  };
}
