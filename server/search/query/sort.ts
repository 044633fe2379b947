import type { Knex } from 'knex';
import { badRequest } from '../../errors.js';
import { getSearchParam } from '../registry.js';
import { SEARCH_TABLES } from '../schema.js';
import { RESOURCE_LEVEL } from './compile.js';
import { MAX_CHAR, type QB } from './sql.js';

/**
 * `_sort` and the keyset cursor that pages through its order
 * (https://hl7.org/fhir/R4/search.html#sort, https://hl7.org/fhir/R4/http.html#paging).
 * A page is "the next `count` rows after the last row's sort key", so a deep page costs
 * what the first does, and rows written between pages neither repeat nor hide rows
 * that were there before. The resource key `rid` (db/keys.ts) breaks ties, so the order
 * is total; without `_sort` it is the whole order: resources in the order they were
 * first stored. That order costs nothing: the matches are found by key, so a page is
 * the first `count` of them in the order they are found, where any other order must
 * find and sort them all first (search.html leaves the order to the server).
 */

/** One key of the page order (https://hl7.org/fhir/R4/search.html#sort). */
export interface SortKey {
  /** The `_sort` item, `-` included, for the self link (tie-breakers have none). */
  name: string | undefined;
  desc: boolean;
  /** SQL of the key on the row `r`; only bound values come from the request. */
  sql: string;
  bindings: Knex.Value[];
  /** `key`: the resource key, an integer (a cursor with anything else is refused). */
  kind: 'text' | 'number' | 'key';
}

const MAX_KEYS = 5;
/** Rows without a value sort last both ways: these stand in for them. */
const TEXT_LAST = { asc: MAX_CHAR, desc: '' };
const NUMBER_LAST = { asc: Number.MAX_VALUE, desc: -Number.MAX_VALUE };

/** Which column of which table orders each parameter type (lowest value ascending, highest descending). */
const SORT_COLUMN: Record<string, { table: string; asc: string; desc: string; kind: SortKey['kind'] }> = {
  string: { table: SEARCH_TABLES.string, asc: 'value', desc: 'value', kind: 'text' },
  token: { table: SEARCH_TABLES.token, asc: 'value', desc: 'value', kind: 'text' },
  uri: { table: SEARCH_TABLES.uri, asc: 'value', desc: 'value', kind: 'text' },
  date: { table: SEARCH_TABLES.date, asc: 'start', desc: 'end', kind: 'text' },
  number: { table: SEARCH_TABLES.number, asc: 'value', desc: 'value', kind: 'number' },
  quantity: { table: SEARCH_TABLES.quantity, asc: 'value', desc: 'value', kind: 'number' },
};

/** The parameter type of `code` on every searched type (all must agree). */
function sortType(types: readonly string[] | undefined, code: string): string {
  const defs = (types ?? [RESOURCE_LEVEL]).map((t) => getSearchParam(t, code));
  if (defs.some((d) => d === undefined)) throw badRequest(`_sort: unknown search parameter "${code}"`, '_sort', 'not-supported');
  const type = defs[0]!.type;
  if (defs.some((d) => d!.type !== type)) throw badRequest(`_sort: "${code}" has different types on the searched types`, '_sort', 'not-supported');
  if (!SORT_COLUMN[type] || defs[0]!.expression === undefined) throw badRequest(`_sort: cannot sort by the ${type} parameter "${code}"`, '_sort', 'not-supported');
  return type;
}

/**
 * A parameter's key: its lowest value (highest, descending) among the resource's own
 * index rows, as a subquery correlated to the row `r`, so only matching rows pay for
 * it (a derived table grouped over every row of the type cost seconds at a million
 * resources). On SQLite the subquery names its index: without statistics SQLite would
 * otherwise seek through the (type, code) lookup index for every row.
 */
function paramKey(item: string, code: string, desc: boolean, types: readonly string[] | undefined, alias: string, pg: boolean): SortKey {
  const col = SORT_COLUMN[sortType(types, code)];
  const rows = rowCodes(types, code, alias);
  const agg = desc ? `max("${alias}"."${col.desc}")` : `min("${alias}"."${col.asc}")`;
  const last = col.kind === 'text' ? TEXT_LAST[desc ? 'desc' : 'asc'] : NUMBER_LAST[desc ? 'desc' : 'asc'];
  const indexed = pg ? '' : ` indexed by "${col.table}_resource"`;
  const value =
    `(select ${agg} from "${col.table}" as "${alias}"${indexed} ` +
    `where "${alias}"."rid" = "r"."rid" and ${rows.sql})`;
  // PostgreSQL: compare as bytes, as the index columns do ("C"), whatever the database default.
  const collate = pg && col.kind === 'text' ? ' collate "C"' : '';
  return { name: item, desc, sql: `coalesce(${value}, ?)${collate}`, bindings: [...rows.bindings, last], kind: col.kind };
}

/**
 * Which of a resource's index rows hold its values of `code`: those under the code itself,
 * or, on a type where the parameter is a union of others (search/union-params.ts), those
 * of its members.
 */
function rowCodes(types: readonly string[] | undefined, code: string, alias: string): { sql: string; bindings: string[] } {
  const unions = (types ?? []).map((t) => getSearchParam(t, code)!).filter((d) => d.unionOf);
  const col = `"${alias}"."code"`;
  const members = (codes: string[]) => `${col} in (${codes.map(() => '?').join(', ')})`;
  if (unions.length === 0) return { sql: `${col} = ?`, bindings: [code] };
  if (unions.length === types!.length && unions.every((d) => d.unionOf!.join() === unions[0].unionOf!.join())) {
    return { sql: members(unions[0].unionOf!), bindings: unions[0].unionOf! };
  }
  // Types disagree: each union type its members, every other type the code itself.
  const branches = unions.map((d) => ({ sql: `("r"."resource_type" = ? and ${members(d.unionOf!)})`, bindings: [d.resourceType, ...d.unionOf!] }));
  const others = { sql: `(${col} = ? and "r"."resource_type" not in (${unions.map(() => '?').join(', ')}))`, bindings: [code, ...unions.map((d) => d.resourceType)] };
  const all = [others, ...branches];
  return { sql: `(${all.map((b) => b.sql).join(' or ')})`, bindings: all.flatMap((b) => b.bindings) };
}

/** One `_sort` item as a key on `r`. */
function sortKey(item: string, index: number, types: readonly string[] | undefined, pg: boolean): SortKey {
  const desc = item.startsWith('-');
  const code = desc ? item.slice(1) : item;
  if (code === '_id') return { name: item, desc, sql: '"r"."id"', bindings: [], kind: 'text' };
  if (code === '_lastUpdated') return { name: item, desc, sql: '"r"."last_updated"', bindings: [], kind: 'text' };
  return paramKey(item, code, desc, types, `sort${index}`, pg);
}

/** The keys of `_sort` (https://hl7.org/fhir/R4/search.html#sort), then the tie-breakers. */
export function parseSort(values: string[] | undefined, types: readonly string[] | undefined, pg: boolean): SortKey[] {
  if (values !== undefined && values.length > 1) throw badRequest('_sort may appear only once; list keys with commas', '_sort');
  const items = values?.[0] ? values[0].split(',').map((s) => s.trim()).filter(Boolean) : [];
  if (items.length > MAX_KEYS) throw badRequest(`_sort may have at most ${MAX_KEYS} keys`, '_sort');
  const keys = items.map((item, i) => sortKey(item, i, types, pg));
  keys.push({ name: undefined, desc: false, sql: '"r"."rid"', bindings: [], kind: 'key' });
  return keys;
}

/** Selects every key as `k0`, `k1`, … so the last row of a page gives the next cursor. */
export function selectKeys(qb: QB, knex: Knex | Knex.Transaction, keys: SortKey[]): void {
  keys.forEach((k, i) => qb.select(knex.raw(`${k.sql} as "k${i}"`, k.bindings)));
}

/**
 * Orders by the keys `selectKeys` selected, by their names (`k0`, `k1`, …): each key's
 * subquery then runs once per row, not once for the select list and again for the
 * order. `backwards` reverses every direction (a previous page is read in reverse).
 */
export function orderByKeys(qb: QB, keys: SortKey[], backwards: boolean): void {
  keys.forEach((k, i) => qb.orderByRaw(`"k${i}" ${k.desc !== backwards ? 'desc' : 'asc'}`));
}

/** Rows strictly after (or, `backwards`, before) the row whose keys are `values`, in key order. */
export function afterKeys(qb: QB, keys: SortKey[], values: (string | number)[], backwards: boolean): void {
  qb.where((any: QB) => {
    keys.forEach((key, i) => {
      any.orWhere((w: QB) => {
        for (let j = 0; j < i; j++) w.whereRaw(`${keys[j].sql} = ?`, [...keys[j].bindings, values[j]]);
        w.whereRaw(`${key.sql} ${key.desc !== backwards ? '<' : '>'} ?`, [...key.bindings, values[i]]);
      });
    });
  });
}

/** A page cursor: the sort key values of a boundary row, and which way to read. */
export interface Cursor {
  values: (string | number)[];
  backwards: boolean;
}

/** The `_cursor` text of a cursor: base64url JSON, opaque to clients. */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c.backwards ? { v: c.values, b: 1 } : { v: c.values })).toString('base64url');
}

/** Reads `_cursor`, checking it fits the keys (a forged cursor is a 400, never a SQL error). */
export function decodeCursor(raw: string, keys: SortKey[]): Cursor {
  const bad = () => badRequest('_cursor is not a page cursor of this search (follow the next/previous links as given)', '_cursor');
  let parsed: { v?: unknown; b?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { v?: unknown; b?: unknown };
  } catch {
    throw bad();
  }
  const v = parsed?.v;
  if (!Array.isArray(v) || v.length !== keys.length) throw bad();
  const ok = v.every((x, i) => {
    if (keys[i].kind === 'key') return Number.isSafeInteger(x);
    if (keys[i].kind === 'number') return typeof x === 'number' && Number.isFinite(x);
    return typeof x === 'string' && !x.includes('\u0000');
  });
  if (!ok) throw bad();
  return { values: v as (string | number)[], backwards: parsed.b === 1 };
}
