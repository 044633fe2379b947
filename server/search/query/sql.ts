import type { Knex } from 'knex';
import { SEARCH_TABLES } from '../schema.js';
import type { IndexKind } from '../types.js';

/**
 * The SQL building blocks of search, in knex's builder so SQLite and PostgreSQL run the
 * same statements. Every parameter becomes a subquery on its index table that a row of
 * `resources` must (or, for `:not` and `:missing=true`, must not) be in, matched on
 * (resource_type, resource_id) (https://hl7.org/fhir/R4/search.html#ptypes). User
 * values are always bound, never spliced: only aliases and column names this module
 * makes appear in SQL text.
 */

/** knex's query builder, short. */
export type QB = Knex.QueryBuilder;
/** Adds one condition (or a group of them) to a query's WHERE clause. */
export type Where = (qb: QB) => void;

/**
 * Which rows of `resources r` some caller may see: every row (`'all'`, no SQL at all), none
 * (`'none'`, the query need not run), or those meeting a condition on alias `r`. The
 * access layer hands these to search so that its restrictions live in the same SQL
 * as the search itself (paging, totals and includes then agree with them).
 */
export type RowCondition = Where | 'all' | 'none';

/** A row of `resources` the conditions talk about: its alias, and its type when fixed. */
export interface Owner {
  alias: string;
  type?: string;
}

/**
 * What compiling a search needs besides the parameters: the server's base URL (to
 * recognise absolute references to itself) and fresh aliases for nested subqueries.
 */
export class QueryEnv {
  private n = 0;
  constructor(
    readonly baseUrl: string,
    /**
     * Which rows of a type the caller may see, for the rows a chain or `_has` walks to:
     * without it, a search could select by resources the caller may not read.
     */
    readonly visible?: (type: string) => RowCondition,
  ) {}

  alias(prefix: string): string {
    return `${prefix}${++this.n}`;
  }
}

/**
 * The highest code point: `p <= v < p + MAX_CHAR` is "v starts with p" under a bytewise
 * collation (SQLite BINARY, PostgreSQL "C"), and U+10FFFF also sorts after 4-byte UTF-8.
 */
export const MAX_CHAR = '\u{10FFFF}';

/** `owner.id`, or `(owner.resource_type, owner.id)` when its type is not fixed. */
export function ownerKey(owner: Owner): string | string[] {
  return owner.type !== undefined ? `${owner.alias}.id` : [`${owner.alias}.resource_type`, `${owner.alias}.id`];
}

/**
 * `owner [NOT] IN (select resource_id from search_<kind> t where t.code = ? and <match>)`:
 * "the owner has a row matching `match`" (leave `match` out to test mere presence, for
 * `:missing`).
 *
 * Written as an uncorrelated IN rather than a correlated EXISTS on purpose: both
 * engines then build the matching set once, from the `_lookup` index, whatever their
 * statistics say. Correlated, SQLite without ANALYZE statistics (and a freshly loaded
 * PostgreSQL) picked the `_lookup` index for every outer row, and a search over 40,000
 * Observations took seconds to minutes instead of milliseconds.
 */
export function hasIndexRow(
  env: QueryEnv,
  owner: Owner,
  kind: IndexKind,
  code: string,
  match?: (qb: QB, t: string) => void,
  negate = false,
): Where {
  const t = env.alias('s');
  const sub = function (this: QB): void {
    if (owner.type !== undefined) this.select(`${t}.resource_id`).from(`${SEARCH_TABLES[kind]} as ${t}`).where(`${t}.resource_type`, owner.type);
    else this.select(`${t}.resource_type`, `${t}.resource_id`).from(`${SEARCH_TABLES[kind]} as ${t}`);
    this.where(`${t}.code`, code);
    if (match) this.where((w: QB) => match(w, t));
  };
  const key = ownerKey(owner) as string;
  return (qb) => void (negate ? qb.whereNotIn(key, sub) : qb.whereIn(key, sub));
}

/** OR of one condition per value, in a group of its own. */
export function anyOf<T>(qb: QB, values: readonly T[], one: (w: QB, v: T) => void): void {
  qb.where((group: QB) => {
    for (const v of values) group.orWhere((w: QB) => one(w, v));
  });
}

/** `col` starts with `prefix` as an index range (bytewise), not as LIKE, so the index serves it. */
export function startsWith(qb: QB, col: string, prefix: string): void {
  qb.where(col, '>=', prefix).where(col, '<', prefix + MAX_CHAR);
}

/** `col LIKE %text%` with LIKE's own wildcards in `text` escaped. */
export function contains(qb: QB, col: string, text: string): void {
  const escaped = text.replace(/[\\%_]/g, (c) => `\\${c}`);
  qb.whereRaw(`?? like ? escape '\\'`, [col, `%${escaped}%`]);
}

/**
 * The referenced row `t` is local: a relative reference (no URL), or an absolute one
 * on this server's base. `http://elsewhere/Patient/1` also stores type Patient, id 1,
 * but is not our Patient/1.
 */
export function localTarget(qb: QB, t: string, baseUrl: string): void {
  qb.where((w: QB) => {
    w.whereNull(`${t}.url`).orWhereRaw(`?? = ? || ?? || '/' || ??`, [`${t}.url`, `${baseUrl}/`, `${t}.target_type`, `${t}.target_id`]);
  });
}

/** A condition that never holds (a compartment the type is not in). */
export function never(qb: QB): void {
  qb.whereRaw('1 = 0');
}
