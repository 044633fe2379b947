import type { Knex } from 'knex';
import { SEARCH_TABLES } from '../schema.js';
import type { IndexKind } from '../types.js';
import { isPostgres } from '../../db/dialect.js';

/**
 * The SQL building blocks of search, in knex's builder so SQLite and PostgreSQL run the
 * same statements. Every parameter becomes a subquery on its index table that a row of
 * `resources` must (or, for `:not` and `:missing=true`, must not) be in, matched on the
 * resource key `rid` (https://hl7.org/fhir/R4/search.html#ptypes, db/keys.ts). User
 * values are always bound, never spliced: only aliases and column names this module
 * makes appear in SQL text.
 */

/** knex's query builder, short. */
export type QB = Knex.QueryBuilder;
/** Adds one condition (or a group of them) to a query's WHERE clause. */
export type Where = (qb: QB) => void;
/** Adds the conditions of one search value on the index row aliased `t`. */
export type RowMatch = (qb: QB, t: string) => void;

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

/**
 * `owner.id`, or `(owner.resource_type, owner.id)` when its type is not fixed: what a
 * reference's `(target_type, target_id)` is compared with. Index rows are matched on
 * `owner.rid` instead.
 */
export function ownerKey(owner: Owner): string | string[] {
  return owner.type !== undefined ? `${owner.alias}.id` : [`${owner.alias}.resource_type`, `${owner.alias}.id`];
}

/**
 * A condition on an index table that can be checked two ways: as an uncorrelated
 * `owner IN (subquery)` (the Where itself), which builds the matching set once from the
 * table's `_lookup` index and can drive the search, or as a correlated `EXISTS` probe
 * (`probe`), which looks at the rows of one candidate resource through the `_resource`
 * index. `rank` says how selective the condition usually is (lower: fewer rows).
 */
export interface IndexCondition extends Where {
  probe: Where;
  rank: number;
}

/**
 * How selective a condition on each table usually is, lower first: a reference names one
 * target; a token one code of a code system; a string a prefix; a date, number or
 * quantity often a range over much of the table.
 */
const RANK: Record<IndexKind, number> = { reference: 0, token: 1, uri: 1, string: 2, number: 3, quantity: 3, date: 3 };

/**
 * `select 1 from search_<kind> as <t>` for a probe that finds its rows by owner through the
 * `_resource` index. On SQLite the index is named (`INDEXED BY`): without ANALYZE
 * statistics SQLite may pick the `_lookup` index, which starts with the same columns
 * `(resource_type, code)` and would read every row of the code instead of the owner's few.
 */
export function selectOneByResource(qb: QB, kind: IndexKind, t: string): void {
  const table = SEARCH_TABLES[kind];
  if (isPostgres(qb as unknown as { client: { dialect: string } })) qb.select(qb.client.raw('1')).from(`${table} as ${t}`);
  else qb.select(qb.client.raw('1')).fromRaw(`"${table}" as "${t}" indexed by "${table}_resource"`);
}

/**
 * "The owner has a row in search_<kind> with this code matching `match`" (leave `match`
 * out to test mere presence, for `:missing`), or with `negate`, "has none".
 *
 * As the Where itself it is an uncorrelated `owner.rid [NOT] IN (select rid …)`: both
 * engines build the matching set once from the `_lookup` index, whatever their
 * statistics say. That is the right plan for the condition that drives a search, but a
 * bad one for the others: `code=8867-4` alone matches about a tenth of a big database's
 * Observations, all materialised to be intersected with one patient's few hundred. So
 * `matchQuery` lets the most selective condition drive and checks every other one with
 * its `probe`, a correlated `EXISTS` on the candidate's own rows. On SQLite the probe
 * names the `_resource` index (`INDEXED BY`): without ANALYZE statistics, SQLite would
 * otherwise pick the `_lookup` index for every candidate, which is the slow plan again.
 */
export function hasIndexRow(
  env: QueryEnv,
  owner: Owner,
  kind: IndexKind,
  code: string,
  match?: RowMatch,
  negate = false,
  branches?: readonly RowMatch[],
): IndexCondition {
  const t = env.alias('s');
  const table = SEARCH_TABLES[kind];
  const matching = (qb: QB): void => {
    qb.where(`${t}.code`, code);
    if (match) qb.where((w: QB) => match(w, t));
  };
  const select = (q: QB, branch?: RowMatch): void => {
    q.select(`${t}.rid`).from(`${table} as ${t}`);
    // The type leads every query index; a search over several types has none to give.
    if (owner.type !== undefined) q.where(`${t}.resource_type`, owner.type);
    matching(q);
    if (branch) branch(q, t);
  };
  // With `branches`, each the conditions of one class of rows, the set is the union of
  // one seek per class: the date table's index puts the class of a row's range before
  // its start (query/date.ts). The probe needs none of them.
  const sub = function (this: QB): void {
    if (!branches?.length) return select(this);
    select(this, branches[0]);
    this.unionAll(branches.slice(1).map((b) => (q: QB) => select(q, b)));
  };
  const correlated = function (this: QB): void {
    selectOneByResource(this, kind, t);
    this.whereRaw('?? = ??', [`${t}.rid`, `${owner.alias}.rid`]);
    matching(this);
  };
  const key = `${owner.alias}.rid`;
  const where: Where = (qb) => void (negate ? qb.whereNotIn(key, sub) : qb.whereIn(key, sub));
  const probe: Where = (qb) => void (negate ? qb.whereNotExists(correlated) : qb.whereExists(correlated));
  // A negated condition matches most rows: it never drives.
  return Object.assign(where, { probe, rank: negate ? Number.POSITIVE_INFINITY : RANK[kind] });
}

/** True for a condition `hasIndexRow` made. */
export function isIndexCondition(where: Where): where is IndexCondition {
  return typeof (where as Partial<IndexCondition>).probe === 'function';
}

/**
 * Applies `wheres` (all must hold) to `qb`: the most selective index condition as a set
 * the search is driven from, every other index condition as a per-row probe (see
 * `hasIndexRow`), other conditions as they are.
 */
export function applyAll(qb: QB, wheres: readonly Where[]): void {
  let driver: IndexCondition | undefined;
  for (const w of wheres) if (isIndexCondition(w) && w.rank < (driver?.rank ?? Number.POSITIVE_INFINITY)) driver = w;
  // Without a condition to drive from, the sets are the better plan for all of them.
  for (const w of wheres) (driver === undefined || w === driver || !isIndexCondition(w) ? w : w.probe)(qb);
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
