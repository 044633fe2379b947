import { badRequest } from '../../errors.js';

/**
 * Reading search parameters as they arrive: `name[:modifier]=value`, a comma between
 * values meaning OR, a repeated parameter meaning AND, and backslash escapes.
 *
 * See: https://hl7.org/fhir/R4/search.html#combining and https://hl7.org/fhir/R4/search.html#escaping
 */

/**
 * Parameters that shape the result rather than select resources
 * (https://hl7.org/fhir/R4/search.html#return). `_cursor` is this server's page cursor.
 */
export const RESULT_PARAMS: ReadonlySet<string> = new Set([
  '_count', '_sort', '_total', '_summary', '_elements', '_include', '_revinclude',
  '_format', '_pretty', '_cursor', '_contained', '_containedType', '_type',
]);

/** Search features this server answers with a clear 400 rather than a wrong result. */
export const UNSUPPORTED_PARAMS: ReadonlySet<string> = new Set(['_text', '_content', '_query', '_filter', 'near']);

/** Upper bounds that keep one request from building an unbounded statement. */
export const LIMITS = { orValues: 200, occurrences: 50, params: 100, valueLength: 4096 };

/** One occurrence of a parameter: its full name and its raw (still escaped) value. */
export interface Occurrence {
  name: string;
  value: string;
}

/** `code:modifier` → ["code", "modifier"]; the modifier is undefined when absent. */
export function splitModifier(name: string): [string, string | undefined] {
  const colon = name.indexOf(':');
  return colon < 0 ? [name, undefined] : [name.slice(0, colon), name.slice(colon + 1)];
}

/** Splits `value` at every separator not preceded by an escaping backslash; the parts keep their escapes. */
export function splitUnescaped(value: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\') i++;
    else if (c === separator) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}

/**
 * The OR-alternatives of one value, split on unescaped commas. Escapes stay in place
 * for the type parsers, which may split further on `|` or `$`.
 */
export function splitOr(value: string): string[] {
  return splitUnescaped(value, ',');
}

/** Removes search escapes: `\,` `\|` `\$` `\\` stand for the character itself. */
export function unescapeValue(value: string): string {
  if (!value.includes('\\')) return value;
  return value.replace(/\\([,|$\\])/g, '$1');
}

/** Splits on unescaped `|` (token `system|code`, quantity `value|system|code`) and unescapes the parts. */
export function splitPipes(value: string): string[] {
  return splitUnescaped(value, '|').map(unescapeValue);
}

/**
 * The occurrences of every selecting parameter, in the order they came, with empty
 * values dropped: an empty parameter selects nothing and is ignored, as servers do
 * (https://hl7.org/fhir/R4/search.html#errors leaves it to the server).
 */
export function selectingParams(query: Record<string, string[]>): Occurrence[] {
  const out: Occurrence[] = [];
  for (const [name, values] of Object.entries(query)) {
    if (RESULT_PARAMS.has(name) || /^_(rev)?include:/.test(name)) continue;
    if (values.length > LIMITS.occurrences) throw badRequest(`${name} is repeated more than ${LIMITS.occurrences} times`, name);
    for (const value of values) if (value !== '') out.push({ name, value });
  }
  if (out.length > LIMITS.params) throw badRequest(`A search may have at most ${LIMITS.params} parameters`);
  return out;
}

/** The OR-alternatives of an occurrence, checked against the limits; empty alternatives are dropped. */
export function alternatives(occ: Occurrence): string[] {
  if (occ.value.length > LIMITS.valueLength) {
    throw badRequest(`${occ.name}: the value is longer than ${LIMITS.valueLength} characters`, occ.name, 'too-long');
  }
  // PostgreSQL text cannot hold NUL: refuse it here rather than fail in the driver.
  if (occ.value.includes('\u0000')) throw badRequest(`${occ.name}: the value contains a NUL character`, occ.name, 'value');
  const parts = splitOr(occ.value).filter((p) => p !== '');
  if (parts.length > LIMITS.orValues) throw badRequest(`${occ.name} has more than ${LIMITS.orValues} values`, occ.name, 'too-long');
  return parts;
}

/** Parses `name=value&…` (a conditional operation's criteria) into the query form the adapter builds. */
export function parseQueryString(query: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const text = query.startsWith('?') ? query.slice(1) : query;
  for (const [k, v] of new URLSearchParams(text)) (out[k] ??= []).push(v);
  return out;
}
