import { isTypeOf } from './model.js';
import { dateRange, numberRange, periodRange, spanOf, timingRange } from './ranges.js';
import { parseReference, referenceTypeElement, splitCanonical } from './reference.js';
import { MAX_INDEXED_TEXT, MAX_INDEXED_URL, type IndexRows, type TypedValue } from './types.js';

/**
 * Turns the typed values a parameter's expression selects into index rows, following the
 * per-type matching rules of https://hl7.org/fhir/R4/search.html#ptypes.
 */

type Obj = Record<string, unknown>;

const STRING_LIKE = new Set(['string', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid', 'markdown']);
const ASCII = /^[\x00-\x7f]*$/;
const COMBINING = /\p{M}/gu;

/** Cuts to `max` UTF-16 units without leaving half a surrogate pair (invalid in PostgreSQL text). */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  const code = s.charCodeAt(max - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/**
 * The form string search compares: lower case, accents removed
 * (https://hl7.org/fhir/R4/search.html#string). The query side must apply the same.
 */
export function normalizeSearchString(s: string): string {
  const folded = ASCII.test(s) ? s : s.normalize('NFD').replace(COMBINING, '');
  return clip(folded.toLowerCase(), MAX_INDEXED_TEXT);
}

function str(x: unknown): string | null {
  return typeof x === 'string' && x.length > 0 ? x : null;
}

/** A non-empty string, cut to the indexed width, or null. */
function short(x: unknown): string | null {
  const s = str(x);
  return s === null ? null : clip(s, MAX_INDEXED_TEXT);
}

/** A `:text` row, unless `seen` is null (no text rows wanted) or holds the text already. */
function pushText(rows: IndexRows, code: string, text: unknown, seen: Set<string> | null): void {
  const s = seen === null ? null : str(text);
  if (s === null || seen === null) return;
  const value = normalizeSearchString(s);
  if (seen.has(value)) return;
  seen.add(value);
  rows.token.push({ code: `${code}:text`, system: null, value });
}

function pushCoding(rows: IndexRows, code: string, coding: Obj, seen: Set<string> | null): void {
  const system = short(coding.system);
  const value = short(coding.code);
  if (system !== null || value !== null) rows.token.push({ code, system, value });
  pushText(rows, code, coding.display, seen);
}

/** Identifier: system|value, plus (with `extras`) `:of-type` rows per type coding and `:text` from type.text. */
function pushIdentifier(rows: IndexRows, code: string, id: Obj, extras = true): void {
  const system = short(id.system);
  const value = str(id.value);
  if (system === null && value === null) return;
  rows.token.push({ code, system, value: value && clip(value, MAX_INDEXED_TEXT) });
  const type = id.type as Obj | undefined;
  if (!type || !extras) return;
  if (value !== null && Array.isArray(type.coding)) {
    for (const c of type.coding as Obj[]) {
      const typeCode = str(c?.code);
      if (typeCode === null) continue;
      rows.token.push({ code: `${code}:of-type`, system: short(c.system), value: clip(`${typeCode}|${value}`, MAX_INDEXED_TEXT) });
    }
  }
  pushText(rows, code, type.text, new Set());
}

/** https://hl7.org/fhir/R4/search.html#token — one row per code, `:text` rows for the human text. */
export function addToken(rows: IndexRows, code: string, tv: TypedValue): void {
  pushToken(rows, code, tv, true);
}

/** The code rows of a token value alone, without `:text` and `:of-type` rows (a composite's token component). */
export function addTokenCodes(rows: IndexRows, code: string, tv: TypedValue): void {
  pushToken(rows, code, tv, false);
}

function pushToken(rows: IndexRows, code: string, tv: TypedValue, extras: boolean): void {
  const v = tv.v;
  if (tv.t === 'boolean') {
    if (typeof v === 'boolean') rows.token.push({ code, system: null, value: v ? 'true' : 'false' });
  } else if (STRING_LIKE.has(tv.t)) {
    const s = str(v);
    if (s !== null) rows.token.push({ code, system: null, value: clip(s, MAX_INDEXED_TEXT) });
  } else if (v === null || typeof v !== 'object') {
    return;
  } else if (tv.t === 'Coding') {
    pushCoding(rows, code, v as Obj, extras ? new Set() : null);
  } else if (tv.t === 'CodeableConcept') {
    const seen = extras ? new Set<string>() : null;
    const codings = (v as Obj).coding;
    if (Array.isArray(codings)) for (const c of codings) if (c && typeof c === 'object') pushCoding(rows, code, c as Obj, seen);
    pushText(rows, code, (v as Obj).text, seen);
  } else if (tv.t === 'Identifier') {
    pushIdentifier(rows, code, v as Obj, extras);
  } else if (tv.t === 'ContactPoint') {
    // The contact point's system (phone, email, …) plays the part of the token system.
    const value = str((v as Obj).value);
    if (value !== null) rows.token.push({ code, system: short((v as Obj).system), value: clip(value, MAX_INDEXED_TEXT) });
  }
}

const NAME_PARTS = ['family', 'given', 'prefix', 'suffix', 'text'];
const ADDRESS_PARTS = ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'];

function pushString(rows: IndexRows, code: string, x: unknown): void {
  const s = str(x);
  if (s !== null) rows.string.push({ code, value: normalizeSearchString(s), exact: clip(s, MAX_INDEXED_TEXT) });
}

/** https://hl7.org/fhir/R4/search.html#string — HumanName and Address index each of their parts. */
export function addString(rows: IndexRows, code: string, tv: TypedValue): void {
  if (STRING_LIKE.has(tv.t)) return pushString(rows, code, tv.v);
  const parts = tv.t === 'HumanName' ? NAME_PARTS : tv.t === 'Address' ? ADDRESS_PARTS : null;
  if (parts === null || tv.v === null || typeof tv.v !== 'object') return;
  for (const part of parts) {
    const x = (tv.v as Obj)[part];
    if (Array.isArray(x)) for (const e of x) pushString(rows, code, e);
    else pushString(rows, code, x);
  }
}

function pushReference(rows: IndexRows, code: string, ref: Obj): void {
  const literal = str(ref.reference);
  const parsed = literal === null ? null : parseReference(literal);
  if (parsed) {
    rows.reference.push({
      code,
      target_type: parsed.type ?? referenceTypeElement(ref),
      target_id: parsed.id,
      target_version: parsed.version,
      url: parsed.url && clip(parsed.url, MAX_INDEXED_URL),
    });
  }
  const identifier = ref.identifier as Obj | undefined;
  if (identifier && typeof identifier === 'object') {
    pushIdentifier(rows, `${code}:identifier`, { system: identifier.system, value: identifier.value });
  }
}

/** https://hl7.org/fhir/R4/search.html#reference — References, canonicals, URIs, and inline resources. */
export function addReference(rows: IndexRows, code: string, tv: TypedValue): void {
  const v = tv.v;
  if (typeof v === 'string') {
    if (v.length === 0) return;
    const { url, version } = tv.t === 'canonical' ? splitCanonical(v) : { url: v, version: null };
    rows.reference.push({ code, target_type: null, target_id: null, target_version: version && clip(version, 64), url: clip(url, MAX_INDEXED_URL) });
  } else if (v !== null && typeof v === 'object') {
    const o = v as Obj;
    if (typeof o.resourceType === 'string') {
      // An inline resource (Bundle.entry[0].resource): it is found by its own type and id.
      if (typeof o.id === 'string') rows.reference.push({ code, target_type: o.resourceType, target_id: o.id, target_version: null, url: null });
    } else if (tv.t === 'Reference') {
      pushReference(rows, code, o);
    }
  }
}

/** https://hl7.org/fhir/R4/search.html#uri */
export function addUri(rows: IndexRows, code: string, tv: TypedValue): void {
  const s = str(tv.v);
  if (s !== null) rows.uri.push({ code, value: clip(s, MAX_INDEXED_URL) });
}

/** https://hl7.org/fhir/R4/search.html#date — date, dateTime, instant, Period and Timing. */
export function addDate(rows: IndexRows, code: string, tv: TypedValue): void {
  const v = tv.v;
  let range: [string, string] | null = null;
  if (typeof v === 'string') range = dateRange(v);
  else if (v !== null && typeof v === 'object') {
    if (tv.t === 'Period') range = periodRange(v as Obj);
    else if (tv.t === 'Timing') range = timingRange(v as Obj);
  }
  if (range) rows.date.push({ code, start: range[0], end: range[1], span: spanOf(range[0], range[1]) });
}

function num(x: unknown): number | null {
  if (typeof x === 'number') return Number.isFinite(x) ? x : null;
  // FHIRPath decimals arrive wrapped; search only needs a double.
  if (x !== null && typeof x === 'object' && typeof (x as { toNumber?: unknown }).toNumber === 'function') {
    return (x as { toNumber(): number }).toNumber();
  }
  return null;
}

/** https://hl7.org/fhir/R4/search.html#number */
export function addNumber(rows: IndexRows, code: string, tv: TypedValue): void {
  const n = num(tv.v);
  if (n === null) return;
  const [low, high] = numberRange(n);
  rows.number.push({ code, value: n, low, high });
}

/** A Quantity's row; a comparator (`<5`) leaves that side of the range open. */
function quantityRow(code: string, q: Obj): IndexRows['quantity'][number] | null {
  const value = num(q.value);
  if (value === null) return null;
  let [low, high]: [number | null, number | null] = numberRange(value);
  if (q.comparator === '<' || q.comparator === '<=') low = null;
  if (q.comparator === '>' || q.comparator === '>=') high = null;
  return { code, system: short(q.system), unit_code: short(q.code), unit: short(q.unit), value, low, high };
}

/** https://hl7.org/fhir/R4/search.html#quantity — Quantity and its profiles, Money, Range. */
export function addQuantity(rows: IndexRows, code: string, tv: TypedValue): void {
  if (tv.v === null || typeof tv.v !== 'object') return;
  const q = tv.v as Obj;
  let row: IndexRows['quantity'][number] | null = null;
  if (isTypeOf(tv.t, 'Quantity')) row = quantityRow(code, q);
  else if (tv.t === 'Money') row = quantityRow(code, { value: q.value, system: 'urn:iso:std:iso:4217', code: q.currency });
  else if (tv.t === 'Range') {
    const lo = q.low as Obj | undefined;
    const hi = q.high as Obj | undefined;
    const unitOf = lo ?? hi;
    if (!unitOf) return;
    const base = quantityRow(code, { ...unitOf, value: 0, comparator: undefined });
    if (base) row = { ...base, value: null, low: num(lo?.value), high: num(hi?.value) };
  }
  if (row) rows.quantity.push(row);
}
