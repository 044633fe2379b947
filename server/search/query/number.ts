import { badRequest } from '../../errors.js';
import { clip } from '../normalize.js';
import { MAX_INDEXED_TEXT } from '../types.js';
import { splitPipes, unescapeValue } from './params.js';
import { splitPrefix, type Prefix } from './date.js';
import { anyOf, hasIndexRow, type Owner, type QB, type QueryEnv, type RowMatch, type Where } from './sql.js';

/**
 * Number and quantity search: https://hl7.org/fhir/R4/search.html#number and
 * https://hl7.org/fhir/R4/search.html#quantity.
 *
 * The search value carries the precision it is written with: `5.4` asks for
 * [5.35, 5.45), `100` for [99.5, 100.5), `1e2` for [50, 150). A stored value is a point;
 * a stored Range, or a Quantity with a comparator (`<5`), is an interval `[tl, th]`,
 * open where the row's `low`/`high` is null (see ../normalize.ts). The point value
 * wins over `low`/`high` because trailing zeros are lost when JSON is parsed, so the
 * stored precision cannot be trusted.
 */

interface NumberValue {
  prefix: Prefix;
  n: number;
  /** The implicit precision range of the text. */
  lo: number;
  hi: number;
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$/;

function round(x: number, places: number): number {
  return places >= 0 && places <= 100 ? Number(x.toFixed(places)) : x;
}

/** Decimal places of the text's last significant digit (negative for `1e2`). */
function placesOf(text: string): number {
  const [mantissa, exp = '0'] = text.toLowerCase().split('e');
  const dot = mantissa.indexOf('.');
  return (dot < 0 ? 0 : mantissa.length - dot - 1) - Number(exp);
}

/** Parses `[prefix]number` with its precision range. */
export function parseNumber(raw: string, comparators: readonly string[], param: string): NumberValue {
  const [prefix, text] = splitPrefix(raw, comparators, param);
  const n = Number(text);
  if (!DECIMAL.test(text) || !Number.isFinite(n)) throw badRequest(`${param}: "${raw}" is not a number`, param, 'value');
  const places = placesOf(text);
  const half = 0.5 * 10 ** -places;
  return { prefix, n, lo: round(n - half, places + 1), hi: round(n + half, places + 1) };
}

/** `th op x`: the row's upper end (a point's value, else `high`; null is +∞). */
function upper(qb: QB, t: string, op: '<' | '<=' | '>' | '>=', x: number): void {
  const cmp = [`coalesce(??, ??) ${op} ?`, [`${t}.value`, `${t}.high`, x]] as const;
  if (op === '>' || op === '>=') qb.where((w: QB) => w.whereNull(`${t}.high`).orWhereRaw(cmp[0], [...cmp[1]]));
  else qb.whereNotNull(`${t}.high`).whereRaw(cmp[0], [...cmp[1]]);
}

/** `tl op x`: the row's lower end (a point's value, else `low`; null is −∞). */
function lower(qb: QB, t: string, op: '<' | '<=' | '>' | '>=', x: number): void {
  const cmp = [`coalesce(??, ??) ${op} ?`, [`${t}.value`, `${t}.low`, x]] as const;
  if (op === '<' || op === '<=') qb.where((w: QB) => w.whereNull(`${t}.low`).orWhereRaw(cmp[0], [...cmp[1]]));
  else qb.whereNotNull(`${t}.low`).whereRaw(cmp[0], [...cmp[1]]);
}

/** The prefix's relation between the row `t` and the search value, per search.html#prefix. */
function numberCondition(qb: QB, t: string, v: NumberValue): void {
  const { n, lo, hi } = v;
  switch (v.prefix) {
    case 'eq':
      return void qb.where((w: QB) => { lower(w, t, '>=', lo); upper(w, t, '<', hi); });
    case 'ne':
      return void qb.where((w: QB) => w.where((a: QB) => lower(a, t, '<', lo)).orWhere((b: QB) => upper(b, t, '>=', hi)));
    case 'gt':
      return upper(qb, t, '>', n);
    case 'ge':
      return upper(qb, t, '>=', n);
    case 'lt':
      return lower(qb, t, '<', n);
    case 'le':
      return lower(qb, t, '<=', n);
    case 'sa':
      return lower(qb, t, '>', n);
    case 'eb':
      return upper(qb, t, '<', n);
    case 'ap': {
      // 10% of the value, as the spec recommends, and never less than its precision.
      const tol = Math.max(Math.abs(n) * 0.1, (hi - lo) / 2);
      return void qb.where((w: QB) => { lower(w, t, '<=', n + tol); upper(w, t, '>=', n - tol); });
    }
  }
}

/** The row condition of one `[prefix]number` value (a composite's number component). */
export function numberMatch(raw: string, comparators: readonly string[], param: string): RowMatch {
  const v = parseNumber(unescapeValue(raw), comparators, param);
  return (qb, t) => numberCondition(qb, t, v);
}

/** The condition of one number parameter occurrence on `search_number`. */
export function numberWhere(env: QueryEnv, owner: Owner, code: string, modifier: string | undefined, raws: string[], comparators: readonly string[], param: string): Where {
  if (modifier !== undefined) throw badRequest(`${param}: unknown modifier ":${modifier}" for a number parameter (known: missing)`, param, 'not-supported');
  const matches = raws.map((r) => numberMatch(r, comparators, param));
  return hasIndexRow(env, owner, 'number', code, (qb, t) => anyOf(qb, matches, (w, m) => m(w, t)));
}

interface QuantityValue extends NumberValue {
  system: string | undefined;
  unit: string | undefined;
}

/** `[prefix]number|system|code`, `number||code`, `number` (https://hl7.org/fhir/R4/search.html#quantity). */
function parseQuantity(raw: string, comparators: readonly string[], param: string): QuantityValue {
  const parts = splitPipes(raw);
  if (parts.length !== 1 && parts.length !== 3) throw badRequest(`${param}: "${raw}" is not number, number|system|code or number||code`, param, 'value');
  const cut = (s: string | undefined) => (s ? clip(s, MAX_INDEXED_TEXT) : undefined);
  return { ...parseNumber(parts[0], comparators, param), system: cut(parts[1]), unit: cut(parts[2]) };
}

/** A code without a system matches the coded unit or the human-readable one. */
function unitCondition(qb: QB, t: string, v: QuantityValue): void {
  if (v.system !== undefined) qb.where(`${t}.system`, v.system);
  if (v.unit === undefined) return;
  if (v.system !== undefined) qb.where(`${t}.unit_code`, v.unit);
  else qb.where((w: QB) => w.where(`${t}.unit_code`, v.unit as string).orWhere(`${t}.unit`, v.unit as string));
}

/** The row condition of one quantity value on `search_quantity` row `t` (a composite's quantity component). */
export function quantityMatch(raw: string, comparators: readonly string[], param: string): RowMatch {
  const v = parseQuantity(raw, comparators, param);
  return (qb, t) => {
    numberCondition(qb, t, v);
    unitCondition(qb, t, v);
  };
}

/** The condition of one quantity parameter occurrence on `search_quantity`. Units are compared as written (no UCUM conversion). */
export function quantityWhere(env: QueryEnv, owner: Owner, code: string, modifier: string | undefined, raws: string[], comparators: readonly string[], param: string): Where {
  if (modifier !== undefined) throw badRequest(`${param}: unknown modifier ":${modifier}" for a quantity parameter (known: missing)`, param, 'not-supported');
  const matches = raws.map((r) => quantityMatch(r, comparators, param));
  return hasIndexRow(env, owner, 'quantity', code, (qb, t) => anyOf(qb, matches, (w, m) => m(w, t)));
}
