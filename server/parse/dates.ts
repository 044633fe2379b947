import { badRequest } from '../errors.js';

const DATE_TIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The range of instants a FHIR date, dateTime or instant stands for, as UTC ISO text:
 * `2020` is the whole year, `2020-03-01T10:00Z` that minute. A dateTime without a
 * zone is read as UTC.
 * See: https://hl7.org/fhir/R4/search.html#date
 */
export function dateRange(value: string, param: string): { start: string; end: string } {
  const m = DATE_TIME.exec(value);
  if (!m) throw badRequest(`${param}: "${value}" is not a valid FHIR date or dateTime`, undefined, 'value');
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  if (h !== undefined && mi === undefined) throw badRequest(`${param}: "${value}" needs minutes`, undefined, 'value');
  const start = [Number(y), Number(mo ?? 1) - 1, Number(d ?? 1), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0)];
  const ms = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  const base = Date.UTC(start[0], start[1], start[2], start[3], start[4], start[5], ms);
  const check = new Date(base);
  if (check.getUTCMonth() !== start[1] || check.getUTCDate() !== start[2] || Number(h ?? 0) > 23) {
    throw badRequest(`${param}: "${value}" is not a real date`, undefined, 'value');
  }
  const offset = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) : 0;
  const startMs = base - offset * 60_000;
  const endMs = nextBoundary(start, { mo, d, h, s, frac }) - offset * 60_000 - 1;
  return { start: new Date(startMs).toISOString(), end: new Date(endMs).toISOString() };
}

function nextBoundary(p: number[], present: Record<string, string | undefined>): number {
  const [y, mo, d, h, mi, s] = p;
  if (present.mo === undefined) return Date.UTC(y + 1, 0, 1);
  if (present.d === undefined) return Date.UTC(y, mo + 1, 1);
  if (present.h === undefined) return Date.UTC(y, mo, d + 1);
  if (present.s === undefined) return Date.UTC(y, mo, d, h, mi + 1);
  if (present.frac === undefined) return Date.UTC(y, mo, d, h, mi, s + 1);
  return Date.UTC(y, mo, d, h, mi, s) + Math.floor(Number(`0${present.frac}`) * 1000) + 1;
}
