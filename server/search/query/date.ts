import { badRequest } from '../../errors.js';
import { DAY_MS, SPAN_LONG, SPAN_SHORT, dateRange } from '../ranges.js';
import { DATE_MAX, DATE_MIN } from '../types.js';
import { unescapeValue } from './params.js';
import { anyOf, hasIndexRow, type Owner, type QB, type QueryEnv, type RowMatch, type Where } from './sql.js';

/**
 * Date search: https://hl7.org/fhir/R4/search.html#date with the prefixes of
 * https://hl7.org/fhir/R4/search.html#prefix. Both sides are ranges: the search value
 * covers its precision (`2020` is the whole year), the stored row `[start, end]` its own
 * (see ../ranges.ts), all as UTC ISO text, which sorts chronologically.
 */

/** The comparison prefixes of https://hl7.org/fhir/R4/search.html#prefix. */
export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
const PREFIX = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)/;

/** Splits `ge2020` into its prefix (default `eq`) and value; 400 for a prefix the parameter does not allow. */
export function splitPrefix(raw: string, allowed: readonly string[], param: string): [Prefix, string] {
  const m = PREFIX.exec(raw);
  const prefix = (m?.[1] ?? 'eq') as Prefix;
  if (m && allowed.length > 0 && !allowed.includes(prefix)) throw badRequest(`${param}: the prefix "${prefix}" is not allowed here`, param, 'value');
  return [prefix, m ? raw.slice(2) : raw];
}

// https://hl7.org/fhir/R4/datatypes.html#dateTime; seconds and zone optional in search.
const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))?)?)?)?$/;

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(2000 + (year % 400), month, 0)).getUTCDate();
}

/** True when every field of a matched date is in range (no 2020-02-30, no 25:00). */
function realDate(m: RegExpExecArray): boolean {
  const [y, mo, d, h, mi, s, , zh, zm] = m.slice(1).map((x) => (x === undefined ? undefined : Number(x)));
  if (y === 0) return false;
  if (mo !== undefined && (mo < 1 || mo > 12)) return false;
  if (d !== undefined && (d < 1 || d > daysIn(y as number, mo as number))) return false;
  // A leap second (23:59:60) is a valid R4 dateTime; it is indexed as the next second.
  if (h !== undefined && (h > 23 || (mi as number) > 59 || (s ?? 0) > 60)) return false;
  return zh === undefined || (zh <= 14 && (zm as number) <= 59);
}

/**
 * The UTC range `[start, end]` a search date covers. A `+` in an offset that arrived as
 * a space (an unencoded `+` in the URL) is read as the `+` it was.
 */
export function searchDateRange(raw: string, param: string): [string, string] {
  const text = unescapeValue(raw).replace(/ (\d{2}:\d{2})$/, '+$1');
  const m = DATE.exec(text);
  const range = m && realDate(m) ? dateRange(text) : null;
  if (!range) throw badRequest(`${param}: "${raw}" is not a valid date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][zone])`, param, 'value');
  return range;
}

function iso(ms: number): string {
  return ms > Date.parse(DATE_MAX) ? DATE_MAX : ms < Date.parse(DATE_MIN) ? DATE_MIN : new Date(ms).toISOString();
}

/** `ap`: the range widened by 10% of the gap between now and the date, as the spec recommends. */
function approximate([start, end]: [string, string]): [string, string] {
  const s = Date.parse(start);
  const e = Date.parse(end);
  const gap = Math.abs(Date.now() - s) * 0.1;
  return [iso(s - gap), iso(e + gap)];
}

/**
 * Adds the condition "stored range `[s, e]` relates to search range `[ps, pe]` as the
 * prefix says", in the wording of https://hl7.org/fhir/R4/search.html#prefix.
 */
export function dateCondition(qb: QB, s: string, e: string, prefix: Prefix, range: [string, string]): void {
  const [ps, pe] = range;
  // `s <= pe` follows from `s <= e <= pe`; said outright, it bounds the index seek on start.
  const within = (w: QB) => w.where(s, '>=', ps).where(s, '<=', pe).where(e, '<=', pe);
  switch (prefix) {
    case 'eq': // the search range fully contains the target
      return void within(qb);
    case 'ne':
      return void qb.where((w: QB) => w.where(s, '<', ps).orWhere(e, '>', pe));
    case 'gt': // the range above the search value overlaps the target
      return void qb.where(e, '>', pe);
    case 'lt':
      return void qb.where(s, '<', ps);
    case 'ge':
      return void qb.where((w: QB) => w.where(e, '>', pe).orWhere(within));
    case 'le':
      return void qb.where((w: QB) => w.where(s, '<', ps).orWhere(within));
    case 'sa': // starts after the search range ends
      return void qb.where(s, '>', pe);
    case 'eb': // ends before the search range starts
      return void qb.where(e, '<', ps);
    case 'ap': {
      const [lo, hi] = approximate(range);
      return void qb.where(s, '<=', hi).where(e, '>=', lo);
    }
  }
}

/** A parsed date value: its prefix and range. */
export interface DateValue {
  prefix: Prefix;
  range: [string, string];
}

/** Parses each OR-alternative of a date parameter. */
export function parseDates(raws: string[], comparators: readonly string[], param: string): DateValue[] {
  return raws.map((raw) => {
    const [prefix, text] = splitPrefix(raw, comparators, param);
    return { prefix, range: searchDateRange(text, param) };
  });
}

/**
 * An instant that every row matching `v` ends at or after, when its prefix implies one:
 * `eq` and `ge` rows end no earlier than the search range starts (`ge`: they end after
 * it, or lie within it), `gt` and `sa` rows no earlier than it ends. `ap` is left out:
 * its range depends on the moment it is computed.
 */
function endFloor(v: DateValue): string | undefined {
  switch (v.prefix) {
    case 'eq':
    case 'ge':
      return v.range[0];
    case 'gt':
    case 'sa':
      return v.range[1];
    default:
      return undefined;
  }
}

/** The floor of one occurrence: the earliest of its alternatives', if each has one. */
export function occurrenceFloor(values: readonly DateValue[]): string | undefined {
  const floors = values.map(endFloor);
  if (floors.some((f) => f === undefined)) return undefined;
  return (floors as string[]).reduce((a, b) => (b < a ? b : a));
}

/**
 * The set form's branches of a date condition (`hasIndexRow`), one per class of stored
 * range (ranges.ts `spanOf`). A short row, shorter than a day, that ends at or after
 * `floor` starts less than a day before it: its branch seeks `start` from there, so
 * `date=ge2019-05-01&date=lt2019-05-02` reads two days of short rows instead of every
 * row that starts before May 2. Long rows (months, years, periods) keep the condition
 * alone. `floors` are those of AND-ed occurrences; the latest bounds the most.
 */
export function dateBranches(floors: readonly (string | undefined)[]): RowMatch[] {
  const defined = floors.filter((f): f is string => f !== undefined);
  const floor = defined.length ? defined.reduce((a, b) => (b > a ? b : a)) : undefined;
  const short: RowMatch = (qb, t) => {
    qb.where(`${t}.span`, SPAN_SHORT);
    if (floor !== undefined) qb.where(`${t}.start`, '>', iso(Date.parse(floor) - DAY_MS));
  };
  const long: RowMatch = (qb, t) => void qb.where(`${t}.span`, SPAN_LONG);
  return [short, long];
}

/** One occurrence on a `search_date` row: any of its comma-separated values. */
export function dateMatch(values: readonly DateValue[]): RowMatch {
  return (qb, t) => anyOf(qb, values, (w, v) => dateCondition(w, `${t}.start`, `${t}.end`, v.prefix, v.range));
}

/** The condition of one date parameter occurrence on `search_date`. */
export function dateWhere(env: QueryEnv, owner: Owner, code: string, modifier: string | undefined, raws: string[], comparators: readonly string[], param: string): Where {
  if (modifier !== undefined) throw badRequest(`${param}: unknown modifier ":${modifier}" for a date parameter (known: missing)`, param, 'not-supported');
  const values = parseDates(raws, comparators, param);
  return hasIndexRow(env, owner, 'date', code, dateMatch(values), false, dateBranches([occurrenceFloor(values)]));
}
