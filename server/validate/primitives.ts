import type { Definitions, TypeInfo, TypeRef } from './definitions.js';
import { isDotSegment } from '../fhir/ids.js';
import { CONTROL_CHARACTERS } from '../fhir/strings.js';

/**
 * Checkers for the R4 primitive data types, compiled from the `value` element of each
 * primitive's StructureDefinition: its `regex` extension, its `maxLength`, and the FHIRPath
 * system type of the root primitive, which fixes the JSON representation (JSON boolean for
 * `boolean`, JSON number for `integer`/`decimal` and their descendants, a string otherwise).
 *
 * See: https://hl7.org/fhir/R4/datatypes.html#primitive and
 * https://hl7.org/fhir/R4/json.html#primitive
 */

/** What is wrong with a primitive value: a wrong JSON type (`structure`) or a bad lexical form (`value`). */
export interface Problem {
  readonly code: 'structure' | 'value';
  readonly message: string;
}

/** A compiled primitive type. */
export interface PrimitiveType {
  readonly name: string;
  readonly json: 'string' | 'number' | 'boolean';
  /** Returns what is wrong with a (non-null) JSON value of this type, or `undefined`. */
  check(value: unknown): Problem | undefined;
}

/** The 32-bit range of `integer` (https://hl7.org/fhir/R4/datatypes.html#integer). */
const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

/**
 * XML Schema's `\s` (the definitions' regexes are XSD regexes): only space, tab, CR and
 * LF. Its `\S` is read without the control characters below U+0020, which no FHIR string
 * may hold (https://hl7.org/fhir/R4/datatypes.html#string), so every primitive whose
 * definition has a regex refuses them in the same test.
 */
const XSD_SPACE = '\\t\\n\\r ';
const XSD_NON_SPACE = '\\x21-\\uFFFF';

/**
 * Compiles an XSD regex as a JavaScript one: anchored, with `\s`/`\S` narrowed to XSD
 * whitespace so that e.g. a no-break space is an ordinary character, as in the spec.
 */
export function compileXsdRegex(source: string): RegExp {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\' && (source[i + 1] === 's' || source[i + 1] === 'S')) {
      const set = source[i + 1] === 's' ? XSD_SPACE : XSD_NON_SPACE;
      out += inClass ? set : `[${set}]`;
      i++;
    } else if (ch === '\\') {
      out += ch + (source[i + 1] ?? '');
      i++;
    } else {
      if (ch === '[') inClass = true;
      else if (ch === ']') inClass = false;
      out += ch;
    }
  }
  return new RegExp(`^(?:${out})$`);
}

/**
 * `base64Binary`: the definition's regex, `(\s*([0-9a-zA-Z\+/=]){4}\s*)+`, backtracks
 * exponentially (and overflows the regex stack on large attachments), so this linear scan
 * accepts exactly the same language: runs of 4n alphabet characters separated by whitespace.
 */
export function isBase64(s: string): boolean {
  let run = 0;
  let chars = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const alpha = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 47 && c <= 57) || c === 43 || c === 61;
    if (alpha) {
      run++;
      chars++;
    } else if (c === 32 || c === 9 || c === 10 || c === 13) {
      if (run % 4 !== 0) return false;
      run = 0;
    } else {
      return false;
    }
  }
  return run % 4 === 0 && chars > 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** True when a `YYYY-MM-DD…` value names a real calendar day ("Dates SHALL be valid dates"). */
function isRealDay(s: string): boolean {
  if (s.length < 10) return true;
  const year = Number(s.slice(0, 4));
  const month = Number(s.slice(5, 7));
  const day = Number(s.slice(8, 10));
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= DAYS_IN_MONTH[month - 1] || (month === 2 && day === 29 && leap);
}

function show(value: unknown): string {
  const s = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function jsonTypeOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** The primitive's chain of definitions, itself first, down to the child of `Element`. */
function chain(defs: Definitions, name: string): TypeInfo[] {
  const out: TypeInfo[] = [];
  for (let t = defs.types.get(name); t !== undefined && t.kind === 'primitive-type'; t = defs.types.get(t.base ?? '')) {
    out.push(t);
  }
  return out;
}

function valueType(t: TypeInfo): { ref?: TypeRef; maxLength?: number } {
  const value = t.elements.find((e) => e.rel === 'value');
  return { ref: value?.types?.[0], maxLength: value?.maxLength };
}

function wrongType(name: string, json: string, value: unknown): Problem {
  return { code: 'structure', message: `A ${name} must be a JSON ${json}, not ${jsonTypeOf(value)}` };
}

function invalid(name: string, value: unknown, why = ''): Problem {
  return { code: 'value', message: `${show(value)} is not a valid ${name}${why}` };
}

interface Facets {
  name: string;
  json: PrimitiveType['json'];
  integer: boolean;
  dates: boolean;
  regex?: RegExp;
  maxLength?: number;
}

function checkNumber(f: Facets, v: unknown): Problem | undefined {
  if (typeof v !== 'number') return wrongType(f.name, 'number', v);
  if (!Number.isFinite(v)) return invalid(f.name, v);
  if (!f.integer) return undefined;
  if (!Number.isInteger(v)) return invalid(f.name, v, ' (not a whole number)');
  if (v < INT_MIN || v > INT_MAX) return invalid(f.name, v, ' (outside the 32-bit range)');
  return f.regex && !f.regex.test(String(v)) ? invalid(f.name, v) : undefined;
}

/**
 * Control characters (`CONTROL_CHARACTERS`) are tested on their own only for the
 * primitives without a regex; the others' regexes exclude them (`XSD_NON_SPACE`).
 */
function controlCharacters(f: Facets, v: string): Problem {
  return invalid(f.name, v, ' (control characters other than tab, carriage return and line feed are not allowed)');
}

function checkString(f: Facets, v: unknown): Problem | undefined {
  if (typeof v !== 'string') return wrongType(f.name, 'string', v);
  if (v.length === 0) return { code: 'value', message: `A ${f.name} must not be an empty string` };
  if (!f.regex && CONTROL_CHARACTERS.test(v)) return controlCharacters(f, v);
  // `.` and `..` match the id pattern, but as a URL path segment they mean "here" and "up" (RFC 3986 section 5.2.4).
  if (f.name === 'id' && isDotSegment(v)) return invalid(f.name, v, ' (a URL cannot carry it: "." and ".." are dot segments)');
  if (f.maxLength !== undefined && v.length > f.maxLength) {
    return invalid(f.name, v, ` (longer than ${f.maxLength} characters)`);
  }
  if (f.name === 'base64Binary') return isBase64(v) ? undefined : invalid(f.name, v);
  if (f.name === 'xhtml') return /^\s*<div[\s>/]/.test(v) ? undefined : invalid(f.name, v, ' (must be an XHTML <div> element)');
  if (f.regex && !f.regex.test(v)) return CONTROL_CHARACTERS.test(v) ? controlCharacters(f, v) : invalid(f.name, v);
  return f.dates && !isRealDay(v) ? invalid(f.name, v, ' (no such day)') : undefined;
}

function facets(defs: Definitions, name: string): Facets {
  const types = chain(defs, name);
  const root = valueType(types[types.length - 1]).ref?.system;
  const own = types.map(valueType);
  const regex = own.find((v) => v.ref?.regex !== undefined)?.ref?.regex;
  const json = root === 'Boolean' ? 'boolean' : root === 'Integer' || root === 'Decimal' ? 'number' : 'string';
  return {
    name,
    json,
    integer: root === 'Integer',
    dates: root === 'Date' || root === 'DateTime',
    regex: regex === undefined ? undefined : compileXsdRegex(regex),
    maxLength: own.find((v) => v.maxLength !== undefined)?.maxLength,
  };
}

/** Compiles the checker of one R4 primitive type (e.g. `date`, `positiveInt`, `id`). */
export function compilePrimitive(defs: Definitions, name: string): PrimitiveType {
  const f = facets(defs, name);
  let check: (v: unknown) => Problem | undefined;
  if (f.json === 'boolean') check = (v) => (typeof v === 'boolean' ? undefined : wrongType(name, 'boolean', v));
  else if (f.json === 'number') check = (v) => checkNumber(f, v);
  else check = (v) => checkString(f, v);
  return { name, json: f.json, check };
}
