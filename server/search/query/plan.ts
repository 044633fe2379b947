import type { OperationOutcomeIssue } from 'fhir/r4';
import { badRequest, FhirError } from '../../errors.js';
import { parseElements, parseSummary, type Summary } from '../../http/shape.js';
import { includeReady, requireCompartmentReady, requireParamReady, sortReady } from '../readiness-check.js';
import { compileName } from './compile.js';
import { compartmentWhere } from './compartment.js';
import { mergedDateRanges } from './merge.js';
import { parseIncludes, type IncludeFilter, type IncludeSpec } from './include.js';
import { alternatives, selectingParams, type Occurrence } from './params.js';
import { decodeCursor, parseSort, type Cursor, type SortKey } from './sort.js';
import { QueryEnv, type Owner, type RowCondition, type Where } from './sql.js';

/**
 * A search request made ready to run: its conditions compiled, its result parameters
 * read and checked (https://hl7.org/fhir/R4/search.html). Nothing here touches the
 * database; a bad request fails before any SQL runs.
 */

/** A search request as the controller hands it over (https://hl7.org/fhir/R4/http.html#search). */
export interface SearchInput {
  /** The types searched; undefined: every type (system search without `_type`). */
  types: string[] | undefined;
  query: Record<string, string[]>;
  baseUrl: string;
  /** `Prefer: handling=lenient`: bad parameters are reported, not refused. */
  lenient: boolean;
  postgres: boolean;
  /** Compartment search: `Patient/123/Observation` (types is then the one type searched). */
  compartment?: { type: string; id: string };
  defaultCount: number;
  maxCount: number;
  /** The rows of a type the caller may see, applied where chains and `_has` walk (see QueryEnv). */
  visible?: (type: string) => RowCondition;
}

/** The compiled selecting parameters (https://hl7.org/fhir/R4/search.html#combining). */
export interface Filters {
  wheres: Where[];
  /** The occurrences that took part, for the self link. */
  used: Occurrence[];
  /** Warnings for what lenient handling left out. */
  issues: OperationOutcomeIssue[];
}

/** `_total` (https://hl7.org/fhir/R4/search.html#total). */
export type TotalMode = 'none' | 'estimate' | 'accurate';

/** A search ready to run: conditions, order, page, total and includes. */
export interface SearchPlan {
  types: string[] | undefined;
  filters: Filters;
  keys: SortKey[];
  cursor: Cursor | undefined;
  count: number;
  total: TotalMode;
  includes: IncludeSpec[];
  summary: Summary | undefined;
  elements: string[] | undefined;
  /** The `_sort` text as asked, for the links. */
  sort: string | undefined;
  /** Restricts the rows `_include`/`_revinclude` may add (set by the caller, e.g. for access control). */
  includeFilter?: IncludeFilter;
}

/** The row of `resources` every top-level condition is about. */
export const ROOT = 'r';

/** Turns a 400 into warnings under lenient handling; anything else goes on up. */
function leniently<T>(lenient: boolean, issues: OperationOutcomeIssue[], fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (!lenient || !(err instanceof FhirError) || err.status !== 400) throw err;
    issues.push(...err.issues.map((i) => ({ ...i, severity: 'warning' as const })));
    return undefined;
  }
}

/**
 * Compiles every selecting parameter: one condition per occurrence (AND), each an OR
 * of its comma-separated values (https://hl7.org/fhir/R4/search.html#combining).
 */
export function compileFilters(env: QueryEnv, types: string[] | undefined, query: Record<string, string[]>, lenient: boolean): Filters {
  const owner: Owner = { alias: ROOT, type: types?.length === 1 ? types[0] : undefined };
  const filters: Filters = { wheres: [], used: [], issues: [] };
  for (const occ of selectingParams(query)) {
    const where = leniently(lenient, filters.issues, () => {
      requireParamReady(types, occ.name);
      const raws = alternatives(occ);
      return raws.length === 0 ? undefined : compileName(env, owner, types, occ.name, raws);
    });
    if (where) {
      filters.wheres.push(where);
      filters.used.push(occ);
    }
  }
  // `wheres[i]` is the condition of `used[i]` until the merged ranges come in.
  const merged = mergedDateRanges(env, owner, types, filters.used);
  const replaced = new Set(merged.flatMap((m) => m.replaces));
  filters.wheres = filters.wheres.filter((_, i) => !replaced.has(filters.used[i]));
  filters.wheres.push(...merged.map((m) => m.where));
  return filters;
}

function single(query: Record<string, string[]>, name: string): string | undefined {
  const values = query[name];
  if (values !== undefined && values.length > 1) throw badRequest(`${name} may appear only once`, name);
  return values?.[0];
}

/** `_count`: https://hl7.org/fhir/R4/search.html#count — 0 asks for no entries. */
function parseCount(raw: string | undefined, input: SearchInput): number {
  if (raw === undefined) return input.defaultCount;
  if (!/^\d{1,9}$/.test(raw)) throw badRequest(`_count must be a whole number from 0 to ${input.maxCount}, got "${raw.slice(0, 50)}"`, '_count');
  const n = Number(raw);
  if (n > input.maxCount) throw badRequest(`_count may be at most ${input.maxCount}, got ${n}`, '_count');
  return n;
}

/** `_total`: https://hl7.org/fhir/R4/search.html#total */
function parseTotal(raw: string | undefined): TotalMode {
  if (raw === undefined) return 'none';
  if (raw !== 'none' && raw !== 'estimate' && raw !== 'accurate') throw badRequest(`_total must be none, estimate or accurate, got "${raw.slice(0, 50)}"`, '_total');
  return raw;
}

/** `_contained` other than the default `false` is not supported. */
function checkContained(query: Record<string, string[]>): void {
  const contained = single(query, '_contained');
  if (contained !== undefined && contained !== 'false') throw badRequest('_contained is not supported (only _contained=false)', '_contained', 'not-supported');
  if (query._containedType) throw badRequest('_containedType is not supported', '_containedType', 'not-supported');
}

/** Reads and compiles a whole search request; throws the 400s strict handling calls for. */
export function planSearch(input: SearchInput): SearchPlan {
  const { query, types, lenient } = input;
  const env = new QueryEnv(input.baseUrl, input.visible);
  const filters = compileFilters(env, types, query, lenient);
  if (input.compartment && types?.length === 1) {
    requireCompartmentReady(types[0], input.compartment.type);
    filters.wheres.push(compartmentWhere(env, { alias: ROOT, type: types[0] }, input.compartment.type, input.compartment.id));
  }
  checkContained(query);
  const sort = single(query, '_sort');
  const keys = leniently(lenient, filters.issues, () => parseSort(sortReady(types, query._sort), types, input.postgres)) ?? parseSort(undefined, types, input.postgres);
  const cursorText = single(query, '_cursor');
  const summary = parseSummary(query._summary);
  return {
    types,
    filters,
    keys,
    cursor: cursorText === undefined ? undefined : decodeCursor(cursorText, keys),
    count: summary === 'count' ? 0 : parseCount(single(query, '_count'), input),
    total: summary === 'count' ? 'accurate' : parseTotal(single(query, '_total')),
    includes: (leniently(lenient, filters.issues, () => parseIncludes(query)) ?? []).filter((spec) => leniently(lenient, filters.issues, () => includeReady(types, spec))),
    summary,
    elements: parseElements(query._elements),
    sort: keys.some((k) => k.name !== undefined) ? sort : undefined,
  };
}
