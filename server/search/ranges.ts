import { DATE_MAX, DATE_MIN } from './types.js';

/**
 * Values that search compares as ranges: dates cover the whole interval their precision
 * implies, numbers the interval their significant digits imply.
 *
 * See: https://hl7.org/fhir/R4/search.html#date and https://hl7.org/fhir/R4/search.html#number
 */

// https://hl7.org/fhir/R4/datatypes.html#dateTime (date and instant are restrictions of it).
const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** Date.UTC, but without its mapping of years 0–99 onto 1900–1999. */
function utc(y: number, mo: number, d = 1, h = 0, mi = 0, s = 0, ms = 0): number {
  const t = Date.UTC(y, mo, d, h, mi, s, ms);
  if (y >= 100) return t;
  const date = new Date(t);
  date.setUTCFullYear(y);
  return date.getTime();
}

/** The instant as sortable text, clamped to the years FHIR dates can have (0001–9999). */
function iso(ms: number): string {
  // Past year 9999 toISOString switches to the signed 6-digit form, which sorts wrongly.
  return ms > 253402300799999 ? DATE_MAX : ms < -62135596800000 ? DATE_MIN : new Date(ms).toISOString();
}

/** How many ms past its start a time of this precision still covers (minutes, seconds, fractions). */
function fractionWidth(seconds: string | undefined, fraction: string | undefined): number {
  if (seconds === undefined) return 59_999;
  if (fraction === undefined) return 999;
  return fraction.length >= 3 ? 0 : fraction.length === 2 ? 9 : 99;
}

/** Offset of a `Z` / `±hh:mm` zone in ms; a missing zone is taken as UTC. */
function zoneOffset(zone: string | undefined): number {
  if (zone === undefined || zone === 'Z') return 0;
  const sign = zone.charCodeAt(0) === 45 /* - */ ? -1 : 1;
  return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
}

/**
 * The UTC interval `[start, end]` a date, dateTime or instant covers: `2020` is the whole
 * year, `2020-03-04T10:00:00+01:00` one second. Null when the text is not a date.
 */
export function dateRange(text: string): [string, string] | null {
  const m = DATE_TIME.exec(text);
  if (!m) return null;
  const y = Number(m[1]);
  if (m[2] === undefined) return [iso(utc(y, 0)), iso(utc(y + 1, 0) - 1)];
  const mo = Number(m[2]) - 1;
  if (m[3] === undefined) return [iso(utc(y, mo)), iso(utc(y, mo + 1) - 1)];
  if (m[4] === undefined) {
    const start = iso(utc(y, mo, Number(m[3])));
    // The end of a day is textual: saves a second Date round trip on a hot path.
    return [start, start.length === 24 ? `${start.slice(0, 11)}23:59:59.999Z` : iso(utc(y, mo, Number(m[3]) + 1) - 1)];
  }
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  const startMs = utc(y, mo, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0), ms) - zoneOffset(m[8]);
  const start = iso(startMs);
  const width = fractionWidth(m[6], m[7]);
  if (width === 0) return [start, start];
  if (width === 999 && start.length === 24) return [start, `${start.slice(0, 20)}999Z`];
  return [start, iso(startMs + width)];
}

/** A day in milliseconds: a short range is shorter. */
export const DAY_MS = 86_400_000;
/** Date index row classes (`search_date.span`): shorter than a day, and the rest. */
export const SPAN_SHORT = 0;
export const SPAN_LONG = 1;

/**
 * The class of a stored date range: `SPAN_SHORT` for instants, times and whole days (the
 * bulk of clinical dates), `SPAN_LONG` for months, years and periods. A short row that
 * ends at or after some instant starts less than a day before it, which bounds a range
 * search on `start` from both sides (query/date.ts). Migration `0011_date_spans`
 * computes the same in SQL for rows written before it.
 */
export function spanOf(start: string, end: string): number {
  // The same calendar day: shorter than a day without parsing either.
  if (start.slice(0, 10) === end.slice(0, 10)) return SPAN_SHORT;
  return Date.parse(end) - Date.parse(start) < DAY_MS ? SPAN_SHORT : SPAN_LONG;
}

/** https://hl7.org/fhir/R4/datatypes.html#Period — a missing bound is open. */
export function periodRange(period: { start?: unknown; end?: unknown }): [string, string] | null {
  const start = typeof period.start === 'string' ? dateRange(period.start) : null;
  const end = typeof period.end === 'string' ? dateRange(period.end) : null;
  if (!start && !end) return null;
  return [start ? start[0] : DATE_MIN, end ? end[1] : DATE_MAX];
}

/**
 * https://hl7.org/fhir/R4/search.html#date: for a Timing "only the outer limits matter" —
 * the span from the earliest event (or bounds start) to the latest.
 */
export function timingRange(timing: { event?: unknown; repeat?: { boundsPeriod?: unknown } }): [string, string] | null {
  const ranges: [string, string][] = [];
  if (Array.isArray(timing.event)) {
    for (const e of timing.event) {
      const r = typeof e === 'string' ? dateRange(e) : null;
      if (r) ranges.push(r);
    }
  }
  const bounds = timing.repeat?.boundsPeriod;
  const b = bounds && typeof bounds === 'object' ? periodRange(bounds) : null;
  if (b) ranges.push(b);
  if (ranges.length === 0) return null;
  let [start, end] = ranges[0];
  for (const [s, e] of ranges) {
    if (s < start) start = s;
    if (e > end) end = e;
  }
  return [start, end];
}

/** Decimal places a JSON number was written with (JSON.parse keeps the shortest form). */
function decimalPlaces(n: number): number {
  const s = String(n);
  const e = s.indexOf('e');
  const mantissa = e < 0 ? s : s.slice(0, e);
  const dot = mantissa.indexOf('.');
  const places = dot < 0 ? 0 : mantissa.length - dot - 1;
  return e < 0 ? places : places - Number(s.slice(e + 1));
}

function roundTo(x: number, places: number): number {
  return places >= 0 && places <= 100 ? Number(x.toFixed(places)) : x;
}

/**
 * The interval of the value's implied precision: https://hl7.org/fhir/R4/search.html#number
 * (`100` → 99.5..100.5, `5.4` → 5.35..5.45). Trailing zeros of the original JSON text are
 * already lost when it is parsed, so `5.40` counts as `5.4`.
 */
export function numberRange(n: number): [number, number] {
  const places = decimalPlaces(n);
  const half = 0.5 * 10 ** -places;
  return [roundTo(n - half, places + 1), roundTo(n + half, places + 1)];
}
